"""Master/slave replication with the Apache C++ client (PyPI `rocketmq`): a SYNC_MASTER and its
slave (docs/replication.md); the master is killed with SIGKILL and a push consumer reads every
message the master acknowledged from the slave."""
import os
import signal

import pytest
from rocketmq.client import Message, Producer, PushConsumer, SendStatus

from conftest import DevBroker, wait_until

COMMON = "mappedFileSizeCommitLog=65536\nmaxMessageSize=16384\nregisterNameServerPeriod=1000\n" \
         "haSendHeartbeatInterval=200\nhaHousekeepingInterval=3000\n"


@pytest.fixture
def pair(tmp_path):
    # The slave first: its embedded name server outlives the master (both register with it).
    sdir, mdir = tmp_path / "slave", tmp_path / "master"
    os.makedirs(str(sdir))
    os.makedirs(str(mdir))
    (sdir / "broker.conf").write_text(COMMON + "brokerRole=SLAVE\nbrokerId=1\n")
    slave = DevBroker(str(sdir))
    slave.extra_args = ["-c", str(sdir / "broker.conf")]
    slave.start()
    (mdir / "broker.conf").write_text(COMMON + "brokerRole=SYNC_MASTER\nnamesrvAddr=%s\n" % slave.namesrv)
    master = DevBroker(str(mdir))
    master.extra_args = ["-c", str(mdir / "broker.conf")]
    master.start()
    yield master, slave
    for b in (master, slave):
        if b.proc is not None and b.proc.poll() is None:
            b.stop()


def test_consumer_reads_from_the_slave_after_the_master_is_killed(pair, unique):
    master, slave = pair
    topic, group = unique("py_ha"), unique("cg")
    p = Producer(unique("pg"))
    p.set_namesrv_addr(slave.namesrv)
    p.start()

    def send(body):
        m = Message(topic)
        m.set_body(body)
        return p.send_sync(m)

    def probe():
        try:
            return send("probe").status == SendStatus.OK
        except Exception:  # no route yet (the master's first registration)
            return False

    # Until the slave follows, a SYNC_MASTER answers SLAVE_NOT_AVAILABLE (the message is stored).
    assert wait_until(probe, 30, interval=0.2), \
        "a SYNC_MASTER send acknowledged once the slave follows"
    acked = []
    for i in range(50):
        res = send("m%d" % i)
        assert res.status == SendStatus.OK, res.status
        acked.append("m%d" % i)
    p.shutdown()

    master.proc.send_signal(signal.SIGKILL)
    master.proc.wait(timeout=15)
    master.proc = None

    got = set()
    c = PushConsumer(group)
    c.set_namesrv_addr(slave.namesrv)
    c.subscribe(topic, lambda m: got.add(bytes(m.body).decode()))
    c.start()
    try:
        assert wait_until(lambda: set(acked) <= got, 60, interval=0.2), \
            "every acknowledged message read from the slave; missing %s" % sorted(set(acked) - got)[:10]
    finally:
        c.shutdown()
