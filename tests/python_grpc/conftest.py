"""Fixtures for the suite that drives ferrocket's gRPC endpoint with the official 5.x Python SDK
(PyPI `rocketmq-python-client`). It lives in its own venv (.venv-grpc): the SDK's import name
`rocketmq` is also the 4.x client's (tests/python)."""
import json
import os
import signal
import subprocess
import threading
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READY_TIMEOUT = 30.0


class DevBroker:
    """`ferrocket dev` on ephemeral ports (remoting and gRPC) with its own data directory."""

    def __init__(self, workdir, args):
        self.workdir = workdir
        self.args = args
        self.log_path = os.path.join(workdir, "ferrocket.stderr.log")
        self.proc = None
        self.info = None

    def start(self):
        binary = os.environ.get("FERROCKET_BIN", os.path.join(REPO, "target", "debug", "ferrocket"))
        data = os.path.join(self.workdir, "data")
        os.makedirs(data, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [binary, "dev", "--data-dir", data] + self.args,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            )
        ready = {}
        got = threading.Event()

        def reader():
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if not got.is_set() and line.startswith("{"):
                    try:
                        info = json.loads(line)
                    except ValueError:
                        continue
                    if "grpcAddr" in info:
                        ready.update(info)
                        got.set()

        threading.Thread(target=reader, daemon=True).start()
        if not got.wait(READY_TIMEOUT):
            self.stop()
            raise RuntimeError("ferrocket dev printed no ready line with grpcAddr; stderr:\n" + self.log_tail())
        self.info = ready
        return self

    @property
    def grpc(self):
        return self.info["grpcAddr"]

    @property
    def broker(self):
        return self.info["brokerAddr"]

    @property
    def namesrv(self):
        return self.info["namesrvAddr"]

    def admin(self, *args):
        """`ferrocket admin ARGS -n <this name server>`; returns its stdout."""
        binary = os.environ.get("FERROCKET_BIN", os.path.join(REPO, "target", "debug", "ferrocket"))
        out = subprocess.run([binary, "admin"] + list(args) + ["-n", self.namesrv], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n=60):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


TOPIC = "GrpcTopic"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("ferrocket"))
    conf = os.path.join(work, "broker.conf")
    with open(conf, "w") as f:
        f.write("enablePropertyFilter=true\n")  # SQL92 filters
        f.write("transactionCheckInterval=1000\ntransactionTimeOut=1000\n")  # quick check-backs
    b = DevBroker(work, ["--topic", TOPIC + ":4", "--config", conf]).start()
    yield b
    b.stop()


@pytest.fixture
def group():
    return "G_" + uuid.uuid4().hex[:10]
