"""ACL on the gRPC endpoint with the official 5.x Python SDK: Credentials(ak, sk) sign every call
(`authorization`, HmacSHA1 of x-mq-date-time); a producer and a simple consumer with the right
account are served, a producer without credentials or with a wrong secret is refused."""
import os
import uuid

import pytest
from conftest import DevBroker
from rocketmq import ClientConfiguration, Credentials, FilterExpression, Message, Producer, SimpleConsumer

ACL_TOPIC = "GrpcAclTopic"
ACL = """accounts:
  - accessKey: pyGrpcUser
    secretKey: py-grpc-secret
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - %s=PUB|SUB
""" % ACL_TOPIC


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("ferrocket-acl"))
    with open(os.path.join(work, "plain_acl.yml"), "w") as f:
        f.write(ACL)
    conf = os.path.join(work, "broker.conf")
    with open(conf, "w") as f:
        f.write("aclEnable=true\naclFilePath=plain_acl.yml\n")
    b = DevBroker(work, ["--topic", ACL_TOPIC + ":2", "--config", conf]).start()
    yield b
    b.stop()


def config(b, ak="", sk=""):
    return ClientConfiguration(b.grpc, Credentials(ak, sk), request_timeout=5)


def message(body):
    m = Message()
    m.topic = ACL_TOPIC
    m.body = body
    m.tag = "TagA"
    return m


def test_signed_sdk_clients_are_served(acl_broker):
    producer = Producer(config(acl_broker, "pyGrpcUser", "py-grpc-secret"), (ACL_TOPIC,))
    producer.startup()
    group = "G_" + uuid.uuid4().hex[:10]
    consumer = SimpleConsumer(config(acl_broker, "pyGrpcUser", "py-grpc-secret"), group,
                              {ACL_TOPIC: FilterExpression("TagA")}, await_duration=3)
    consumer.startup()
    try:
        receipt = producer.send(message(b"signed"))
        got = []
        for _ in range(10):
            got.extend(consumer.receive(16, 20))
            if got:
                break
        assert [m.message_id for m in got] == [receipt.message_id]
        consumer.ack(got[0])
    finally:
        consumer.shutdown()
        producer.shutdown()


@pytest.mark.parametrize("ak,sk", [("", ""), ("pyGrpcUser", "wrong-secret")])
def test_unsigned_or_wrong_secret_is_refused(acl_broker, ak, sk):
    producer = Producer(config(acl_broker, ak, sk), (ACL_TOPIC,))
    refused = None
    try:
        producer.startup()
        producer.send(message(b"refused"))
    except Exception as e:  # refused at startup (its route query) or at the send
        refused = e
    finally:
        try:
            producer.shutdown()
        except Exception:
            pass
    assert refused is not None, "an unsigned or wrongly signed producer could send"
    assert "authentication failed" in acl_broker.log_tail(400) or "UNAUTHENTICATED" in str(refused).upper(), str(refused)
