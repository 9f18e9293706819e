"""ACL 1.0 with the Apache C++ client (PyPI `rocketmq`): a producer and a push consumer with
session credentials are served; without them, or with a wrong secret, sends fail."""
import threading
import time

import pytest
from rocketmq.client import Message, Producer, PushConsumer, SendStatus

from conftest import DevBroker, wait_until

ACL = """globalWhiteRemoteAddresses:
accounts:
  - accessKey: pyUserKey1
    secretKey: py-user-secret
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - {topic}=PUB|SUB
    groupPerms:
      - {group}=SUB
  - accessKey: pyOtherKey
    secretKey: py-other-secret
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
"""


@pytest.fixture
def acl_broker(tmp_path, unique):
    topic, group = unique("acl_py"), unique("acl_pyg")
    (tmp_path / "plain_acl.yml").write_text(ACL.format(topic=topic, group=group))
    conf = tmp_path / "broker.conf"
    conf.write_text("aclEnable=true\naclFilePath=plain_acl.yml\n")
    b = DevBroker(str(tmp_path))
    b.extra_args = ["-c", str(conf)]
    b.start()
    b.topic, b.group = topic, group
    yield b
    b.stop()


def producer(b, group, creds=None):
    p = Producer(group)
    p.set_namesrv_addr(b.namesrv)
    if creds:
        p.set_session_credentials(creds[0], creds[1], "ALIYUN")
    p.start()
    return p


def msg(topic, body):
    m = Message(topic)
    m.set_body(body)
    return m


def test_signed_clients_are_served_and_unsigned_ones_refused(acl_broker, unique):
    b = acl_broker
    good = producer(b, unique("pg"), ("pyUserKey1", "py-user-secret"))
    try:
        res = good.send_sync(msg(b.topic, "first"))
        assert res.status == SendStatus.OK

        got = []
        lock = threading.Lock()

        def on_msg(m):
            with lock:
                got.append(bytes(m.body))

        c = PushConsumer(b.group)
        c.set_namesrv_addr(b.namesrv)
        c.set_session_credentials("pyUserKey1", "py-user-secret", "ALIYUN")
        c.subscribe(b.topic, on_msg, "*")
        c.start()
        try:
            deadline = time.monotonic() + 60
            n = 0
            while time.monotonic() < deadline and not got:
                assert good.send_sync(msg(b.topic, "probe %d" % n)).status == SendStatus.OK
                n += 1
                time.sleep(0.5)
            assert got, "the signed consumer received nothing"
        finally:
            c.shutdown()
    finally:
        good.shutdown()

    for creds in (None, ("pyUserKey1", "not-the-secret"), ("pyOtherKey", "py-other-secret")):
        p = producer(b, unique("pg"), creds)
        try:
            # the C++ client retries, then reports the last failure as "No route info"
            with pytest.raises(Exception):
                p.send_sync(msg(b.topic, "refused"))
        finally:
            p.shutdown()
    log = b.log_tail(200)
    assert "authentication failed" in log, log
    assert "accessKey=pyOtherKey has no PUB permission on topic %s" % b.topic in log, log
