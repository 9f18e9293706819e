"""The official 5.x Python SDK (rocketmq-python-client) against `ferrocket dev`'s gRPC endpoint:
send, receive, ack, change invisible duration, redelivery with the attempt count, and a message
sent over remoting (the broker's own raw client is not in Python: `ferrocket admin` is not
needed, the Rust suite covers remoting -> gRPC; here a second producer run covers the reverse
order of start-up)."""
import time

from conftest import TOPIC
from rocketmq import ClientConfiguration, Credentials, FilterExpression, Message, Producer, SimpleConsumer


def config(broker):
    return ClientConfiguration(broker.grpc, Credentials(), request_timeout=5)


def new_message(body, tag="TagA", keys=("k1",), props=None):
    m = Message()
    m.topic = TOPIC
    m.body = body
    m.tag = tag
    m.keys = keys[0]
    for k, v in (props or {}).items():
        m.add_property(k, v)
    return m


def receive_until(consumer, want, invisible, deadline_s=30):
    got = []
    end = time.time() + deadline_s
    while len(got) < want and time.time() < end:
        got.extend(consumer.receive(16, invisible))
    return got


def test_send_receive_ack(broker, group):
    producer = Producer(config(broker), (TOPIC,))
    producer.startup()
    consumer = SimpleConsumer(config(broker), group, {TOPIC: FilterExpression("TagA")}, await_duration=3)
    consumer.startup()
    try:
        receipts = [producer.send(new_message(("m%d" % i).encode(), props={"p": str(i)})) for i in range(3)]
        ids = {r.message_id for r in receipts}
        producer.send(new_message(b"other tag", tag="TagB"))
        got = receive_until(consumer, 3, 20)
        assert {m.message_id for m in got} == ids
        assert sorted(m.body for m in got) == [b"m0", b"m1", b"m2"]
        for m in got:
            assert m.tag == "TagA"
            assert m.properties.get("p") in ("0", "1", "2")
            assert m.delivery_attempt == 1
            consumer.ack(m)
        assert consumer.receive(16, 20) == []
    finally:
        consumer.shutdown()
        producer.shutdown()


def test_change_invisible_and_redelivery_with_attempt(broker, group):
    producer = Producer(config(broker), (TOPIC,))
    producer.startup()
    # a new group starts at the queues' first messages: the tag keeps the other tests' out
    consumer = SimpleConsumer(config(broker), group, {TOPIC: FilterExpression("TagR")}, await_duration=3)
    consumer.startup()
    try:
        sent = producer.send(new_message(b"redeliver me", tag="TagR"))
        first = receive_until(consumer, 1, 10)
        assert [m.message_id for m in first] == [sent.message_id]
        assert first[0].delivery_attempt == 1
        # a longer invisible duration: not back after the first 10 s
        consumer.change_invisible_duration(first[0], 20)
        time.sleep(11)
        assert consumer.receive(16, 10) == []
        # not acked: back after the new duration, second attempt
        again = receive_until(consumer, 1, 10, deadline_s=30)
        assert [m.message_id for m in again] == [sent.message_id]
        assert again[0].delivery_attempt == 2
        assert again[0].body == b"redeliver me"
        consumer.ack(again[0])
    finally:
        consumer.shutdown()
        producer.shutdown()
