"""TLS on the gRPC endpoint with the official 5.x Python SDK: `tls_enable=True` makes the SDK open
a secure channel with grpc's default trust roots, pointed at the broker's throwaway certificate
(`ferrocket dev --tls`, named in the ready line as tlsCertPath) through grpc's
GRPC_DEFAULT_SSL_ROOTS_FILE_PATH. Each client runs in a process of its own so that the variable is
read before grpc loads its roots. The broker runs `tls.server.mode=enforcing`: the TLS client sends
and receives; a plaintext client, and a TLS client that does not trust the certificate, fail."""
import os
import subprocess
import sys
import uuid

import pytest
from conftest import DevBroker

TLS_TOPIC = "GrpcTlsTopic"

CLIENT = r'''
import os, sys, uuid
from rocketmq import ClientConfiguration, Credentials, FilterExpression, Message, Producer, SimpleConsumer
endpoint, topic, tls = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
config = ClientConfiguration(endpoint, Credentials(), request_timeout=5)
try:
    producer = Producer(config, (topic,), tls_enable=tls)
    producer.startup()
    m = Message()
    m.topic = topic
    m.body = uuid.uuid4().hex.encode()
    m.tag = "T"
    receipt = producer.send(m)
    consumer = SimpleConsumer(config, "G_" + uuid.uuid4().hex[:10], {topic: FilterExpression("T")},
                              await_duration=3, tls_enable=tls)
    consumer.startup()
    got = []
    for _ in range(10):
        got = [x for x in consumer.receive(16, 20) if x.message_id == receipt.message_id]
        if got:
            break
    if not got or got[0].body != m.body:
        print("RECEIVED NOTHING", flush=True)
        os._exit(2)
    consumer.ack(got[0])
    print("ROUND TRIP", receipt.message_id, flush=True)
    os._exit(0)
except Exception as e:
    print("FAILED", type(e).__name__, e, flush=True)
    os._exit(1)
'''


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("ferrocket-tls"))
    conf = os.path.join(work, "broker.conf")
    with open(conf, "w") as f:
        f.write("tls.server.mode=enforcing\n")
    b = DevBroker(work, ["--tls", "--topic", TLS_TOPIC + ":2", "--config", conf]).start()
    assert os.path.isfile(b.info["tlsCertPath"]), b.info
    yield b
    b.stop()


def run_client(b, tls, trust):
    env = dict(os.environ)
    env.pop("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", None)
    if trust:
        env["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = b.info["tlsCertPath"]
    out = subprocess.run([sys.executable, "-c", CLIENT, b.grpc, TLS_TOPIC, "1" if tls else "0"],
                         capture_output=True, text=True, timeout=120, env=env)
    return out.returncode, out.stdout + out.stderr[-2000:]


def test_tls_sdk_client_sends_and_receives(tls_broker):
    rc, out = run_client(tls_broker, tls=True, trust=True)
    assert rc == 0 and "ROUND TRIP" in out, out


def test_plaintext_sdk_client_is_refused_by_enforcing_mode(tls_broker):
    rc, out = run_client(tls_broker, tls=False, trust=False)
    assert rc != 0 and "ROUND TRIP" not in out, out


def test_tls_client_checks_the_certificate(tls_broker):
    # without the broker's certificate among its roots the SDK must not connect: TLS is real
    rc, out = run_client(tls_broker, tls=True, trust=False)
    assert rc != 0 and "ROUND TRIP" not in out, out
