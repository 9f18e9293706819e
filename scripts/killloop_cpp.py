#!/usr/bin/env python3
"""Kill loop with a third-party client: the Apache C++ client (PyPI `rocketmq` 0.4.x).

ferrocket runs as name server + broker on fixed 127.0.0.1 ports (chosen free at start) so that
the C++ client, which keeps its name server address, reconnects after each restart. A producer
thread sends synchronously (one in flight) and records every acknowledged sequence number; the
broker is SIGKILLed at random moments and restarted on the same data directory; finally a push
consumer in a fresh group reads the topic from the first offset and the ledger is checked:
lost (acknowledged, never read; goal 0), duplicated (read twice; reported), reordered (within a
queue, sequence numbers of first appearances not increasing; goal 0).

Run from the repository root with the venv that has `rocketmq` (see tests/python/):
  .venv/bin/python scripts/killloop_cpp.py --cycles 30 --flush ASYNC_FLUSH
Prints one `RELIABILITY_RESULT {json}` line; exit status 1 when a goal is missed.
Every wait is bounded; all traffic goes to 127.0.0.1.
"""
import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from rocketmq.client import Message, Producer, PushConsumer, SendStatus

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port_block():
    """A port p with p-2, p, p+1 free (VIP channel, broker, HA), plus a name server port."""
    for _ in range(200):
        p = random.randint(20000, 60000)
        ok = True
        for q in (p - 2, p, p + 1, p + 3):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p + 3, p
    raise RuntimeError("no free ports")


def wait_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Broker:
    def __init__(self, binary, work, flush):
        self.binary, self.work = binary, work
        self.data = os.path.join(work, "data")
        self.ns_port, self.port = free_port_block()
        self.conf = os.path.join(work, "broker.conf")
        with open(self.conf, "w") as f:
            f.write("listenPort=%d\nnamesrvListenPort=%d\nbrokerIP1=127.0.0.1\nnamesrvAddr=127.0.0.1:%d\n"
                    "flushDiskType=%s\nmappedFileSizeCommitLog=8388608\n" % (self.port, self.ns_port, self.ns_port, flush))
        self.proc = None

    def start(self):
        log = open(os.path.join(self.work, "ferrocket.stderr.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf, "--data-dir", self.data, "--bind", "127.0.0.1",
                                      "--log", "warn"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        if not (wait_port(self.ns_port, 30) and wait_port(self.port, 30)):
            raise RuntimeError("ferrocket did not listen on %d/%d" % (self.ns_port, self.port))

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--flush", default="ASYNC_FLUSH", choices=["ASYNC_FLUSH", "SYNC_FLUSH"])
    ap.add_argument("--kill-ms", default="300,1500")
    ap.add_argument("--bin", default=os.environ.get("FERROCKET_BIN", os.path.join(REPO, "target", "debug", "ferrocket")))
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    random.seed(args.seed)
    lo, hi = (int(x) for x in args.kill_ms.split(","))
    work = tempfile.mkdtemp(prefix="ferrocket-killloop-cpp-")
    broker = Broker(args.bin, work, args.flush)
    broker.start()
    ns = "127.0.0.1:%d" % broker.ns_port
    topic = "rel_cpp_%d" % random.randint(0, 1 << 30)
    run = "%08x" % random.randint(0, 1 << 31)

    acked, errors, attempts = {}, {}, [0]
    stop = threading.Event()
    producer = Producer("rel_cpp_pg_" + run, timeout=3000)
    producer.set_namesrv_addr(ns)
    producer.start()

    def produce():
        seq = 0
        while not stop.is_set():
            m = Message(topic)
            m.set_keys("%s-%d" % (run, seq))
            m.set_property("seq", str(seq))
            m.set_body("%s|%d|%s" % (run, seq, "x" * (seq % 200)))
            attempts[0] += 1
            try:
                r = producer.send_sync(m)
                if r.status == SendStatus.OK:
                    acked[seq] = r.offset
                    seq += 1
                else:
                    errors[str(r.status)] = errors.get(str(r.status), 0) + 1
            except Exception as e:  # the C++ client raises on connection errors and timeouts
                key = type(e).__name__
                errors[key] = errors.get(key, 0) + 1
                time.sleep(0.05)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    started = time.monotonic()
    for _ in range(args.cycles):
        time.sleep(random.randint(lo, hi) / 1000.0)
        broker.kill9()
        broker.start()
    time.sleep(2.0)  # let the producer get through after the last restart
    stop.set()
    t.join(timeout=30)
    producer.shutdown()

    # Read everything back with a fresh push consumer group from the first offset.
    seen, order, lock = {}, {}, threading.Lock()

    def on_message(msg):
        try:
            body = bytes(msg.body).decode()
            r, seq = body.split("|")[:2]
            seq = int(seq)
            ok = r == run and body == "%s|%d|%s" % (run, seq, "x" * (seq % 200))
        except Exception:  # noqa: BLE001 - a garbled body is counted below
            ok, seq = False, -1
        with lock:
            if ok:
                seen[seq] = seen.get(seq, 0) + 1
                order.setdefault(msg.queue_id, []).append((msg.queue_offset, seq))
            else:
                seen[-1] = seen.get(-1, 0) + 1

    consumer = PushConsumer("rel_cpp_cg_" + run)
    consumer.set_namesrv_addr(ns)
    consumer.subscribe(topic, on_message)
    consumer.start()
    deadline, last, last_change = time.monotonic() + 120, -1, time.monotonic()
    while time.monotonic() < deadline:
        with lock:
            n = len(seen)
        if all(s in seen for s in acked) and n > 0:
            break
        if n != last:
            last, last_change = n, time.monotonic()
        elif time.monotonic() - last_change > 30:
            break
        time.sleep(0.5)
    consumer.shutdown()
    broker.stop()

    lost = [s for s in acked if s not in seen]
    dup = sum(c - 1 for s, c in seen.items() if s >= 0 and c > 1)
    reordered = 0
    for q, pairs in order.items():
        first, prev = set(), -1
        for _, s in sorted(pairs):
            if s in first:
                continue
            first.add(s)
            if s < prev:
                reordered += 1
            prev = s
    garbled = seen.get(-1, 0)
    figures = {"client": "Apache C++ (PyPI rocketmq)", "flush": args.flush, "cycles": args.cycles, "seed": args.seed,
               "attempts": attempts[0], "acknowledged": len(acked), "read": sum(c for s, c in seen.items() if s >= 0),
               "lost": len(lost), "duplicated": dup, "reordered": reordered, "garbled": garbled,
               "send_errors": errors, "seconds": int(time.monotonic() - started), "lost_sample": lost[:10]}
    line = json.dumps({"test": "killloop_cpp_" + args.flush.split("_")[0].lower(), "figures": figures})
    print("RELIABILITY_RESULT " + line, flush=True)
    if os.environ.get("RELIABILITY_RESULTS"):
        with open(os.environ["RELIABILITY_RESULTS"], "a") as f:
            f.write(line + "\n")
    sys.exit(0 if not lost and not reordered and not garbled and acked else 1)


if __name__ == "__main__":
    main()
