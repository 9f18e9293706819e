"""ferrocket through the Apache RocketMQ C++ client (PyPI `rocketmq`, librocketmq bundled).

Tests assert what a user of the client sees. Every wait is a bounded poll.
"""
import threading
import time

import pytest
from rocketmq.client import Message, Producer, PushConsumer, SendStatus
from rocketmq.ffi import MessageModel

from conftest import wait_until

READY = 60.0  # a fresh consumer's first rebalance
DELIVERY = 30.0  # messages sent after readiness


def text(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


class Inbox:
    """Messages received by one consumer, recorded from the client's callback threads."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.msgs = []

    def __call__(self, msg):
        rec = {
            "id": text(msg.id),
            "topic": text(msg.topic),
            "body": bytes(msg.body),
            "tags": text(msg.tags),
            "keys": text(msg.keys),
            "seq": text(msg.get_property("seq")),
            "uniq": text(msg.get_property("UNIQ_KEY")),
            "queue_id": msg.queue_id,
            "queue_offset": msg.queue_offset,
        }
        with self.lock:
            self.msgs.append(rec)

    def real(self):
        with self.lock:
            return [m for m in self.msgs if m["tags"] != "probe"]

    def probes(self):
        with self.lock:
            return [m for m in self.msgs if m["tags"] == "probe"]


def producer(broker, group):
    p = Producer(group)
    p.set_namesrv_addr(broker.namesrv)
    p.start()
    return p


def consumer(broker, group, topic, inbox, instance, expression="*", orderly=False,
             model=MessageModel.CLUSTERING):
    c = PushConsumer(group, orderly=orderly, message_model=model)
    c.set_namesrv_addr(broker.namesrv)
    c.set_instance_name(instance)
    c.subscribe(topic, inbox, expression)
    c.start()
    return c


def msg(topic, body, tags=None, keys=None, props=None):
    m = Message(topic)
    m.set_body(body)
    if tags:
        m.set_tags(tags)
    if keys:
        m.set_keys(keys)
    for k, v in (props or {}).items():
        m.set_property(k, v)
    return m


def wait_ready(p, topic, inboxes, timeout=READY):
    """Send probe messages until every inbox has received one: the consumers have rebalanced."""
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        if all(ib.probes() for ib in inboxes):
            return
        res = p.send_sync(msg(topic, "probe %d" % n, tags="probe"))
        assert res.status == SendStatus.OK
        n += 1
        time.sleep(0.3)
    pytest.fail("consumers %s received no probe within %ss" % ([ib.name for ib in inboxes if not ib.probes()], timeout))


def wait_converged(p, topic, inboxes, timeout=READY):
    """Send rounds of 8 probes until one round reaches every inbox and no probe is seen twice:
    the group agrees on one assignment."""
    deadline = time.monotonic() + timeout
    rnd = 0
    while time.monotonic() < deadline:
        rnd += 1
        bodies = {("round %d probe %d" % (rnd, i)).encode() for i in range(8)}
        for body in sorted(bodies):
            assert p.send_sync(msg(topic, body, tags="probe")).status == SendStatus.OK

        def seen():
            return [[m["body"] for m in ib.probes() if m["body"] in bodies] for ib in inboxes]

        wait_until(lambda: sum(len(s) for s in seen()) >= len(bodies), 10.0)
        time.sleep(0.5)  # settle: let duplicates of this round show up
        per = seen()
        flat = [b for s in per for b in s]
        if len(flat) == len(bodies) and set(flat) == bodies and all(per):
            return
    pytest.fail("consumer group did not converge within %ss" % timeout)


def create_topic(p, topic):
    """The first send auto-creates the topic (TBW102, 4 queues)."""
    res = p.send_sync(msg(topic, "create", tags="probe"))
    assert res.status == SendStatus.OK


def test_sync_send_returns_ok_and_distinct_ids(broker, unique):
    topic = unique("py_sync")
    p = producer(broker, unique("pg"))
    ids = set()
    for i in range(8):
        res = p.send_sync(msg(topic, "body %d" % i, tags="TagA", keys="key%d" % i, props={"seq": str(i)}))
        assert res.status == SendStatus.OK
        assert res.msg_id
        assert res.offset >= 0
        ids.add(res.msg_id)
    assert len(ids) == 8
    p.shutdown()


def test_push_consumer_receives_every_message_once_with_its_fields(broker, unique):
    topic, group = unique("py_push"), unique("cg")
    p = producer(broker, unique("pg"))
    create_topic(p, topic)
    inbox = Inbox("c1")
    c = consumer(broker, group, topic, inbox, unique("inst"))
    wait_ready(p, topic, [inbox])
    sent = {}
    for i in range(20):
        res = p.send_sync(msg(topic, "payload %d" % i, tags="TagA", keys="key%d" % i, props={"seq": str(i)}))
        assert res.status == SendStatus.OK
        sent[str(i)] = res.msg_id
    assert wait_until(lambda: len(inbox.real()) >= 20, DELIVERY), "received %d of 20" % len(inbox.real())
    time.sleep(2)  # settle: catch late duplicates (not a timing assertion)
    got = inbox.real()
    assert len(got) == 20, "duplicates: %s" % sorted(m["seq"] for m in got)
    for m in got:
        i = m["seq"]
        assert m["topic"] == topic
        assert m["body"] == ("payload %s" % i).encode()
        assert m["tags"] == "TagA"
        assert m["keys"] == "key%s" % i
        assert m["id"] == sent[i] or m["uniq"] == sent[i], "id %r/%r != sent %r" % (m["id"], m["uniq"], sent[i])
    c.shutdown()
    p.shutdown()


def test_message_id_seen_by_consumer_is_send_result_id(broker, unique):
    topic, group = unique("py_id"), unique("cg")
    p = producer(broker, unique("pg"))
    create_topic(p, topic)
    inbox = Inbox("c1")
    c = consumer(broker, group, topic, inbox, unique("inst"))
    wait_ready(p, topic, [inbox])
    res = p.send_sync(msg(topic, "id check", tags="TagI", props={"seq": "0"}))
    assert wait_until(lambda: inbox.real(), DELIVERY)
    assert inbox.real()[0]["id"] == res.msg_id
    c.shutdown()
    p.shutdown()


def test_oneway_send_is_delivered(broker, unique):
    topic, group = unique("py_oneway"), unique("cg")
    p = producer(broker, unique("pg"))
    create_topic(p, topic)
    inbox = Inbox("c1")
    c = consumer(broker, group, topic, inbox, unique("inst"))
    wait_ready(p, topic, [inbox])
    for i in range(5):
        p.send_oneway(msg(topic, "oneway %d" % i, tags="TagO", props={"seq": str(i)}))
    assert wait_until(lambda: len(inbox.real()) >= 5, DELIVERY), "received %d of 5" % len(inbox.real())
    assert sorted(m["body"] for m in inbox.real()) == sorted(("oneway %d" % i).encode() for i in range(5))
    c.shutdown()
    p.shutdown()


def test_tag_filter_delivers_only_matching_tags(broker, unique):
    topic, group = unique("py_tags"), unique("cg")
    p = producer(broker, unique("pg"))
    create_topic(p, topic)
    inbox = Inbox("c1")
    c = consumer(broker, group, topic, inbox, unique("inst"), expression="TagA || probe")
    wait_ready(p, topic, [inbox])
    for i in range(10):
        p.send_sync(msg(topic, "m%d" % i, tags="TagA" if i % 2 == 0 else "TagB", props={"seq": str(i)}))
    assert wait_until(lambda: len(inbox.real()) >= 5, DELIVERY)
    time.sleep(2)  # settle
    assert sorted(m["seq"] for m in inbox.real()) == ["0", "2", "4", "6", "8"]
    assert {m["tags"] for m in inbox.real()} == {"TagA"}
    c.shutdown()
    p.shutdown()


def test_orderly_send_keeps_order_per_sharding_key(broker, unique):
    topic, group = unique("py_order"), unique("cg")
    p = producer(broker, unique("pg"))
    create_topic(p, topic)
    inbox = Inbox("c1")
    c = consumer(broker, group, topic, inbox, unique("inst"), orderly=True)
    wait_ready(p, topic, [inbox])
    for i in range(10):
        for key in range(3):
            res = p.send_orderly(msg(topic, "%d-%d" % (key, i), tags="TagOrd", props={"seq": "%d-%d" % (key, i)}), key)
            assert res.status == SendStatus.OK
    assert wait_until(lambda: len(inbox.real()) >= 30, DELIVERY), "received %d of 30" % len(inbox.real())
    by_key = {}
    for m in inbox.real():
        key, i = m["seq"].split("-")
        by_key.setdefault(key, []).append((m["queue_id"], int(i)))
    for key, seen in by_key.items():
        assert len({q for q, _ in seen}) == 1, "key %s spread over queues %s" % (key, seen)
        assert [i for _, i in seen] == list(range(10)), "key %s out of order: %s" % (key, seen)
    c.shutdown()
    p.shutdown()


def test_two_clustering_consumers_split_then_one_takes_over(broker, unique):
    topic, group = unique("py_split"), unique("cg")
    p = producer(broker, unique("pg"))
    create_topic(p, topic)
    a, b = Inbox("a"), Inbox("b")
    ca = consumer(broker, group, topic, a, unique("inst_a"))
    cb = consumer(broker, group, topic, b, unique("inst_b"))
    wait_ready(p, topic, [a, b])
    wait_converged(p, topic, [a, b])
    for i in range(40):
        assert p.send_sync(msg(topic, "split %d" % i, tags="TagS", props={"seq": "s%d" % i})).status == SendStatus.OK
    assert wait_until(lambda: len(a.real()) + len(b.real()) >= 40, DELIVERY), \
        "received %d + %d of 40" % (len(a.real()), len(b.real()))
    time.sleep(2)  # settle
    sa = {m["seq"] for m in a.real()}
    sb = {m["seq"] for m in b.real()}
    assert sa | sb == {"s%d" % i for i in range(40)}
    assert not (sa & sb), "both consumers received %s" % sorted(sa & sb)
    assert sa and sb, "one consumer got everything: a=%d b=%d" % (len(sa), len(sb))
    qa = {m["queue_id"] for m in a.real()}
    qb = {m["queue_id"] for m in b.real()}
    assert not (qa & qb), "queues read by both: %s" % (qa & qb)

    ca.shutdown()
    for i in range(20):
        assert p.send_sync(msg(topic, "rest %d" % i, tags="TagS", props={"seq": "r%d" % i})).status == SendStatus.OK
    rest = {"r%d" % i for i in range(20)}
    assert wait_until(lambda: rest <= {m["seq"] for m in b.real()}, 60.0), \
        "after a left, b is missing %s" % sorted(rest - {m["seq"] for m in b.real()})
    cb.shutdown()
    p.shutdown()


def test_broadcasting_consumers_each_receive_every_message(broker, unique):
    topic, group = unique("py_bcast"), unique("cg")
    p = producer(broker, unique("pg"))
    create_topic(p, topic)
    a, b = Inbox("a"), Inbox("b")
    ca = consumer(broker, group, topic, a, unique("inst_a"), model=MessageModel.BROADCASTING)
    cb = consumer(broker, group, topic, b, unique("inst_b"), model=MessageModel.BROADCASTING)
    wait_ready(p, topic, [a, b])
    for i in range(12):
        assert p.send_sync(msg(topic, "bc %d" % i, tags="TagBc", props={"seq": str(i)})).status == SendStatus.OK
    want = {str(i) for i in range(12)}
    for ib in (a, b):
        assert wait_until(lambda: want <= {m["seq"] for m in ib.real()}, DELIVERY), \
            "%s is missing %s" % (ib.name, sorted(want - {m["seq"] for m in ib.real()}))
    ca.shutdown()
    cb.shutdown()
    p.shutdown()
