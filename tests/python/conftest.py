"""Fixtures for the suite that drives ferrocket with the Apache C++ client (PyPI `rocketmq`)."""
import itertools
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READY_TIMEOUT = 30.0


def parse_ready(line):
    """(namesrvAddr, brokerAddr) from the JSON ready line `ferrocket dev` prints, else None."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        info = json.loads(line)
    except ValueError:
        return None
    if not isinstance(info, dict) or "namesrvAddr" not in info or "brokerAddr" not in info:
        return None
    return info["namesrvAddr"], info["brokerAddr"]


class DevBroker:
    """`ferrocket dev` on ephemeral ports with its own data directory."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.log_path = os.path.join(workdir, "ferrocket.stderr.log")
        self.proc = None
        self.namesrv = None
        self.broker = None

    def start(self):
        binary = os.environ.get("FERROCKET_BIN", os.path.join(REPO, "target", "debug", "ferrocket"))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary, "dev", "--data-dir", self.data_dir] + list(getattr(self, "extra_args", [])),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        log.close()
        ready = {}
        got = threading.Event()

        def reader():
            # Keep draining stdout after the ready line so the broker never blocks on a full pipe.
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if not got.is_set():
                    info = parse_ready(line)
                    if info is not None:
                        ready["info"] = info
                        got.set()

        threading.Thread(target=reader, daemon=True).start()
        if not got.wait(READY_TIMEOUT):
            self.stop()
            raise RuntimeError(
                "ferrocket dev printed no JSON ready line with namesrvAddr and brokerAddr in %ss; stderr:\n%s"
                % (READY_TIMEOUT, self.log_tail())
            )
        self.namesrv, self.broker = ready["info"]
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None

    def log_tail(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""


@pytest.fixture
def broker(tmp_path, request):
    b = DevBroker(str(tmp_path)).start()
    yield b
    failed = getattr(request.node, "rep_call", None)
    b.stop()
    if failed is not None and failed.failed:
        print("---- ferrocket stderr (last 60 lines) ----\n" + b.log_tail())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


_seq = itertools.count()


@pytest.fixture
def unique():
    """A name unique in this run (topics, groups, instance names)."""

    def make(prefix):
        return "%s_%s_%d" % (prefix, uuid.uuid4().hex[:8], next(_seq))

    return make


def wait_until(pred, timeout, interval=0.1, what="condition"):
    """Poll `pred` until true or `timeout` seconds pass; returns whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()
