"""Delay levels and consume retry with the Apache C++ client (PyPI `rocketmq`), on a broker whose
delay levels are short (a test-mode broker.conf)."""
import os
import threading
import time

import pytest
from rocketmq.client import Message, Producer, PushConsumer

from conftest import DevBroker, wait_until

LEVELS = "1s 2s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s"


@pytest.fixture
def short_delay_broker(tmp_path):
    conf = tmp_path / "broker.conf"
    conf.write_text("messageDelayLevel=%s\n" % LEVELS)
    b = DevBroker(str(tmp_path))
    b.extra_args = ["-c", str(conf)]
    b.start()
    yield b
    b.stop()


def producer(b, group):
    p = Producer(group)
    p.set_namesrv_addr(b.namesrv)
    p.start()
    return p


def test_delay_level_is_honoured_never_early(short_delay_broker, unique):
    b = short_delay_broker
    topic, group = unique("delay"), unique("cg")
    p = producer(b, unique("pg"))
    got = []
    c = PushConsumer(group)
    c.set_namesrv_addr(b.namesrv)
    c.subscribe(topic, lambda m: got.append((time.monotonic(), m.id, m.body)))
    # a first message creates the topic and lets the consumer settle on its queues
    p.send_sync(_msg(topic, b"warm-up"))
    c.start()
    try:
        assert wait_until(lambda: len(got) >= 1, 40), "warm-up message consumed"
        m = _msg(topic, b"level 2")
        m.set_delay_time_level(2)  # 2 s in this config
        sent_at = time.monotonic()
        r = p.send_sync(m)
        assert wait_until(lambda: len(got) >= 2, 30), "delayed message consumed"
        arrived, msg_id, body = got[1]
        assert body == b"level 2"
        assert msg_id == r.msg_id, "the unique id survives the delay"
        assert arrived - sent_at >= 1.8, "delivered early: %.3f s" % (arrived - sent_at)
    finally:
        c.shutdown()
        p.shutdown()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_reconsume_later_retries_with_incrementing_reconsume_times(short_delay_broker, unique):
    b = short_delay_broker
    topic, group = unique("retry"), unique("cg")
    p = producer(b, unique("pg"))
    r = p.send_sync(_msg(topic, b"flaky"))
    seen = []
    lock = threading.Lock()

    def on_message(m):
        with lock:
            seen.append((m.id, m.reconsume_times, m.body))
            n = len(seen)
        if n <= 2:
            raise RuntimeError("not yet")  # RECONSUME_LATER

    c = PushConsumer(group)
    c.set_namesrv_addr(b.namesrv)
    c.subscribe(topic, on_message)
    c.start()
    try:
        assert wait_until(lambda: len(seen) >= 3, 60), "retried twice, then consumed: %r" % seen
        time.sleep(2)
        with lock:
            ids = [s[0] for s in seen]
            times = [s[1] for s in seen]
        assert all(i == r.msg_id for i in ids), ids
        assert times == [0, 1, 2], times
        assert len(seen) == 3, "consumed once after success: %r" % seen
    finally:
        c.shutdown()
        p.shutdown()


def _msg(topic, body):
    m = Message(topic)
    m.set_tags("T")
    m.set_body(body)
    return m
