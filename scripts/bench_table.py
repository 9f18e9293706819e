#!/usr/bin/env python3
"""Median-of-rounds markdown table from scripts/bench.sh's results.jsonl (issue 11)."""
import json, statistics, sys
from collections import OrderedDict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
embedded = None
if len(sys.argv) > 2:
    try:
        embedded = json.load(open(sys.argv[2]))
    except Exception:
        pass

contenders = list(OrderedDict.fromkeys(r["contender"] for r in rows))
ids = list(OrderedDict.fromkeys(r["id"] for r in rows))

def get(d, path):
    for k in path:
        if not isinstance(d, dict) or k not in d or d[k] is None:
            return None
        d = d[k]
    return d

def med(id_, who, path):
    vals = [get(r["r"], path) for r in rows if r["id"] == id_ and r["contender"] == who]
    vals = [v for v in vals if isinstance(v, (int, float))]
    return (statistics.median(vals), len(vals)) if vals else (None, 0)

TARGETS = {
    "S1 sync send 1c 1024B": ("msg/s", ">= 25 k, p99 <= 100 us"),
    "S1 sync send 64c 1024B": ("msg/s", ">= 50 k"),
    "S2 async send 1024B": ("msg/s", ">= 300 k"),
    "S2 async send 128B": ("msg/s", ">= 600 k"),
    "S3 batch 64x128B": ("msg/s", ">= 1.5 M"),
    "S4 SYNC_FLUSH 1c 1KiB": ("msg/s", ">= 5 k"),
    "S4 SYNC_FLUSH 64c 1KiB": ("msg/s", ">= 35 k"),
    "S5 catch-up": ("msg/s", ">= 400 k"),
    "S6 e2e 10000/s": ("", "p99 <= 1 ms"),
}

def target(id_):
    for k, v in TARGETS.items():
        if id_.startswith(k):
            return v[1]
    return ""

def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float) and v >= 100:
        v = round(v)
    if isinstance(v, (int, float)) and v >= 10000:
        return f"{v/1000:.1f} k{unit}"
    return f"{v}{unit}"

def ratio(a, b):
    if a is None or b in (None, 0):
        return ""
    return f"{a/b:.2f}x"

hdr = "| scenario | metric | " + " | ".join(contenders)
if len(contenders) > 1:
    hdr += " | " + " | ".join(f"ferrocket / {c}" for c in contenders[1:])
hdr += " | target |"
print(hdr)
print("|" + "---|" * (hdr.count("|") - 1))

def line(id_, metric, path, unit=""):
    vals = [med(id_, c, path) for c in contenders]
    if all(v is None for v, _ in vals):
        return
    cells = [fmt(v, unit) for v, _ in vals]
    out = f"| {id_} | {metric} | " + " | ".join(cells)
    if len(contenders) > 1:
        out += " | " + " | ".join(ratio(vals[0][0], v) for v, _ in vals[1:])
    out += f" | {target(id_) if metric in ('msg/s', 'e2e p99 us') else ''} |"
    print(out)

for id_ in ids:
    if id_.startswith("S7"):
        line(id_, "ms", ["first_send_ok_ms"])
        line(id_, "S8 idle RSS KiB", ["idle_rss_kb"])
        line(id_, "S8 idle anon KiB", ["idle_rss_anon_kb"])
    elif id_.startswith("S5 catch-up"):
        line(id_, "msg/s", ["consume", "msgs_per_s"])
        line(id_, "S9 broker CPU us/msg", ["broker", "cpu_us_per_msg"])
    elif id_.startswith("S6"):
        line(id_, "e2e p50 us", ["consume", "e2e_latency_us", "p50"])
        line(id_, "e2e p99 us", ["consume", "e2e_latency_us", "p99"])
        line(id_, "send p99 us", ["produce", "latency_us", "p99"])
    else:
        line(id_, "msg/s", ["produce", "msgs_per_s"])
        line(id_, "p50 us", ["produce", "latency_us", "p50"])
        line(id_, "p99 us", ["produce", "latency_us", "p99"])
        if id_.startswith("S2") or id_.startswith("S1 sync send 64c") or id_.startswith("S4") or id_.startswith("S3"):
            line(id_, "S9 broker CPU us/msg", ["broker", "cpu_us_per_msg"])
            line(id_, "S8 RSS KiB (peak)", ["broker", "rss_kb"])
            line(id_, "S8 anon KiB (peak)", ["broker", "rss_anon_kb"])
        errs = [r for r in rows if r["id"] == id_ and (get(r["r"], ["produce", "errors"]) or get(r["r"], ["produce", "io_errors"]) or get(r["r"], ["error"]))]
        for r in errs:
            print(f"| {id_} | errors ({r['contender']} r{r['round']}) | {get(r['r'], ['produce','errors']) or ''} {get(r['r'], ['produce','io_errors']) or ''} {get(r['r'], ['error']) or ''} |")

loads = sorted({get(r["r"], ["load"]) for r in rows if get(r["r"], ["load"])})
rounds = max((r["round"] for r in rows), default=0)
print()
print(f"Median of {rounds} round(s); load averages seen during the runs: {loads[0] if loads else '?'} .. {loads[-1] if loads else '?'}.")
if embedded:
    print(f"Embedded API (`TestBroker::builder().topic(\"bench\", 8).start()`): start to ready "
          f"{embedded.get('start_to_ready_ms')} ms, RSS growth {embedded.get('rss_growth_kb')} KiB "
          f"(anon {embedded.get('anon_growth_kb')} KiB), process RSS idle {embedded.get('rss_idle_kb')} KiB.")
