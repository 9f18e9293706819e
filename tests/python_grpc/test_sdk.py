"""The official 5.x Python SDK (rocketmq-python-client) against `ferrocket dev`'s gRPC endpoint:
send, receive with a tag filter, ack, change invisible duration, redelivery with the attempt count,
a delay message on a DELAY topic, transaction commit and rollback (topics typed with
`ferrocket admin updateTopic -a +message.type=...`), a PushConsumer with an SQL92 filter and a
retried delivery. Remoting <-> gRPC interop: tests/grpc.rs."""
import threading
import time

from conftest import TOPIC
from rocketmq import (ClientConfiguration, Credentials, FilterExpression, Message, Producer, SimpleConsumer,
                      TransactionChecker, TransactionResolution, PushConsumer, MessageListener, ConsumeResult)
from rocketmq.grpc_protocol import FilterType


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


def typed_topic(broker, topic, message_type):
    broker.admin("updateTopic", "-c", "DefaultCluster", "-t", topic, "-r", "2", "-w", "2", "-a", "+message.type=" + message_type)


def test_delay_message_on_a_delay_topic(broker, group):
    topic = "GrpcDelay"
    typed_topic(broker, topic, "DELAY")
    producer = Producer(config(broker), (topic,))
    producer.startup()
    consumer = SimpleConsumer(config(broker), group, {topic: FilterExpression("*")}, await_duration=2)
    consumer.startup()
    try:
        m = Message()
        m.topic = topic
        m.body = b"later"
        start = time.time()
        m.delivery_timestamp = int(start * 1000) + 4000  # milliseconds, as the SDK documents
        sent = producer.send(m)
        assert consumer.receive(16, 20) == [], "not before its delivery time"
        got = []
        while not got and time.time() < start + 30:
            got = consumer.receive(16, 20)
        assert [x.message_id for x in got] == [sent.message_id]
        assert time.time() - start >= 3.5
        consumer.ack(got[0])
    finally:
        consumer.shutdown()
        producer.shutdown()


class Checker(TransactionChecker):
    """Leaves every check-back undecided: the test decides itself."""

    def check(self, message):
        return TransactionResolution.TRANSACTION_RESOLUTION_UNSPECIFIED


def test_transaction_commit_and_rollback(broker, group):
    topic = "GrpcTx"
    typed_topic(broker, topic, "TRANSACTION")
    producer = Producer(config(broker), (topic,), checker=Checker())
    producer.startup()
    consumer = SimpleConsumer(config(broker), group, {topic: FilterExpression("*")}, await_duration=2)
    consumer.startup()
    try:
        ids, txs = {}, {}
        for body in (b"commit", b"rollback"):
            txs[body] = producer.begin_transaction()
            m = Message()
            m.topic = topic
            m.body = body
            ids[body] = producer.send(m, txs[body]).message_id
        assert consumer.receive(16, 20) == [], "half messages are invisible"
        txs[b"rollback"].rollback()
        txs[b"commit"].commit()
        got = receive_until(consumer, 1, 20, deadline_s=10)
        assert [x.message_id for x in got] == [ids[b"commit"]]
        assert got[0].body == b"commit"
        consumer.ack(got[0])
        assert consumer.receive(16, 20) == []
    finally:
        consumer.shutdown()
        producer.shutdown()


class Recorder(MessageListener):
    """Fails the first delivery of bodies starting with b"retry", accepts everything else."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []

    def consume(self, message):
        with self.lock:
            self.seen.append((message.body, message.delivery_attempt, message.properties.get("n")))
        if message.body.startswith(b"retry") and message.delivery_attempt == 1:
            return ConsumeResult.FAILURE
        return ConsumeResult.SUCCESS


def test_push_consumer_sql_filter_and_retry(broker, group):
    topic = "GrpcPush"
    broker.admin("updateTopic", "-c", "DefaultCluster", "-t", topic, "-r", "2", "-w", "2")
    producer = Producer(config(broker), (topic,))
    producer.startup()
    listener = Recorder()
    consumer = PushConsumer(config(broker), group, listener, {topic: FilterExpression("n >= 5", FilterType.SQL)})
    consumer.startup()
    try:
        for n in range(8):
            m = Message()
            m.topic = topic
            m.body = (b"retry %d" if n == 6 else b"body %d") % n
            m.add_property("n", str(n))
            producer.send(m)
        deadline = time.time() + 60
        while time.time() < deadline:
            with listener.lock:
                if sum(1 for s in listener.seen if s[1] == 2) >= 1 and len(listener.seen) >= 4:
                    break
            time.sleep(0.5)
        with listener.lock:
            seen = list(listener.seen)
        assert sorted({s[2] for s in seen}) == ["5", "6", "7"], seen
        retried = [s for s in seen if s[0] == b"retry 6"]
        assert [s[1] for s in retried] == [1, 2], "redelivered once after FAILURE, attempt 2: %r" % seen
    finally:
        consumer.shutdown()
        producer.shutdown()


class CommitChecker(TransactionChecker):
    def __init__(self):
        self.checked = []

    def check(self, message):
        self.checked.append(message.message_id)
        return TransactionResolution.COMMIT


def test_transaction_check_back_commits(broker, group):
    topic = "GrpcTxCheck"
    typed_topic(broker, topic, "TRANSACTION")
    checker = CommitChecker()
    producer = Producer(config(broker), (topic,), checker=checker)
    producer.startup()
    consumer = SimpleConsumer(config(broker), group, {topic: FilterExpression("*")}, await_duration=2)
    consumer.startup()
    try:
        tx = producer.begin_transaction()
        m = Message()
        m.topic = topic
        m.body = b"decided by the checker"
        sent = producer.send(m, tx)
        # neither committed nor rolled back: the broker asks the producer's checker
        got = receive_until(consumer, 1, 20, deadline_s=30)
        assert [x.message_id for x in got] == [sent.message_id]
        assert sent.message_id in checker.checked
        consumer.ack(got[0])
    finally:
        consumer.shutdown()
        producer.shutdown()


def test_namespace(broker, group):
    broker.admin("updateTopic", "-c", "DefaultCluster", "-t", "nsA%GrpcNs", "-r", "2", "-w", "2")
    cfg = ClientConfiguration(broker.grpc, Credentials(), namespace="nsA", request_timeout=5)
    producer = Producer(cfg, ("GrpcNs",))
    producer.startup()
    consumer = SimpleConsumer(cfg, group, {"GrpcNs": FilterExpression("*")}, await_duration=2)
    consumer.startup()
    try:
        m = Message()
        m.topic = "GrpcNs"
        m.body = b"namespaced"
        sent = producer.send(m)
        got = receive_until(consumer, 1, 20)
        assert [x.message_id for x in got] == [sent.message_id]
        assert got[0].topic == "GrpcNs"
        consumer.ack(got[0])
        assert consumer.receive(16, 20) == []
    finally:
        consumer.shutdown()
        producer.shutdown()
