#!/usr/bin/env bash
# S14, sustained load (issue 26): one ferrocket broker under S2 (4 connections x 64 in flight,
# 1 KiB bodies with a UNIQ_KEY, as Java clients send) at full speed until VOLUME bytes are in its
# store, sampled in back-to-back windows of WINDOW: throughput and p99 of the window, bytes
# written, commit-log segments, key index files, the broker's RSS and CPU per message, and the
# machine's dirty page cache, free memory and page cache. Writes samples.jsonl and a chart (chart.svg) to OUT; deletes the
# store afterwards. Broker on CPU 0, generator on CPU 1. Not run in CI.
#
#   scripts/bench-sustained.sh                        # 20 GB
#   VOLUME_GB=2 WINDOW=5 scripts/bench-sustained.sh   # a short look
#   MEMORY_MAX=4G scripts/bench-sustained.sh          # the broker (and its page cache) in a memory
#                                                     # cgroup of that size (v2 or v1; needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
VOLUME_GB=${VOLUME_GB:-20}
WINDOW=${WINDOW:-10}
OUT=${OUT:-target/bench-sustained}
DIR=${DIR:-$OUT/store}
mkdir -p "$OUT"
free_gb=$(df -P -B1G "$OUT" | awk 'NR==2 {print $4}')
if [ "$free_gb" -lt $((2 * VOLUME_GB)) ]; then
  echo "refusing: $OUT's file system has ${free_gb} GB free, S14 needs twice VOLUME_GB=${VOLUME_GB} (${VOLUME_GB} written, room to spare)" >&2
  exit 2
fi
cargo build --release --bins 2>&1 | tail -1 >&2
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET/release/ferrocket}
GEN=${GEN:-$TARGET/release/ferrocket-bench}
rm -rf "$DIR"
BPID=
cleanup() {
  [ -n "$BPID" ] && kill "$BPID" 2>/dev/null || true
  [ -n "$BPID" ] && wait "$BPID" 2>/dev/null || true
  rm -rf "$DIR"
  [ -n "${CG:-}" ] && rmdir "$CG" 2>/dev/null || true
}
trap cleanup EXIT
taskset -c 0 "$BIN" dev --data-dir "$DIR" --topic bench:8 >"$OUT/ready" 2>"$OUT/broker.log" &
BPID=$!
for _ in $(seq 100); do grep -q brokerAddr "$OUT/ready" 2>/dev/null && break; sleep 0.1; done
BROKER=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['brokerAddr'])" "$OUT/ready")
CG=
if [ -n "${MEMORY_MAX:-}" ]; then
  # The page cache the broker's writes fill is charged to its cgroup, so it recycles its own pages
  # instead of growing into all free memory.
  if [ -d /sys/fs/cgroup/memory ]; then        # cgroup v1
    CG=/sys/fs/cgroup/memory/ferrocket-s14.$$
    mkdir "$CG" && echo "$MEMORY_MAX" >"$CG/memory.limit_in_bytes"
  else                                          # cgroup v2 (unified, or under /unified)
    root=/sys/fs/cgroup
    [ -f "$root/cgroup.controllers" ] || root=/sys/fs/cgroup/unified
    CG=$root/ferrocket-s14.$$
    mkdir "$CG" && echo "$MEMORY_MAX" >"$CG/memory.max"
  fi
  echo "$BPID" >"$CG/cgroup.procs"
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD); volume ${VOLUME_GB} GB, windows of ${WINDOW} s${MEMORY_MAX:+, broker in a ${MEMORY_MAX} memory cgroup}" | tee "$OUT/machine.txt"
: >"$OUT/samples.jsonl"
start=$(date +%s.%N)
while :; do
  bytes=$(du -sb "$DIR/commitlog" | cut -f1)
  [ "$bytes" -ge $((VOLUME_GB * 1000000000)) ] && break
  json=$(taskset -c 1 "$GEN" produce --broker "$BROKER" --pid "$BPID" --topic bench --conns 4 --inflight 64 --body 1024 --uniq-key --warmup 0s --duration "${WINDOW}s" 2>/dev/null || echo '{}')
  python3 - "$json" "$start" "$DIR" "$BPID" >>"$OUT/samples.jsonl" <<'PY'
import json, os, sys, time
d = json.loads(sys.argv[1] or "{}")
p = d.get("produce", {})
b = d.get("broker", {})
store = sys.argv[3]
def count(sub, suffix=""):
    try:
        return sum(1 for n in os.listdir(os.path.join(store, sub)) if n.endswith(suffix))
    except OSError:
        return 0
def size(sub):
    t = 0
    for root, _, files in os.walk(os.path.join(store, sub)):
        for f in files:
            try:
                t += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return t
mem = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo")}
try:
    # A virtual machine's free page reporting: KiB of free memory handed back to the host so far
    # (such a page costs a host fault when it is used again).
    reported = int(open("/sys/module/page_reporting/parameters/reported_kib").read())
except (OSError, ValueError):
    reported = None
print(json.dumps({
    "t_s": round(time.time() - float(sys.argv[2]), 1),
    "msgs_per_s": p.get("msgs_per_s"),
    "p99_us": p.get("latency_us", {}).get("p99"),
    "errors": p.get("errors"),
    "broker_cpu_us_per_msg": b.get("cpu_us_per_msg"),
    "rss_kb": b.get("rss_kb"),
    "log_bytes": size("commitlog"),
    "segments": count("commitlog"),
    "index_files": count("index", ".keys"),
    "index_bytes": size("index"),
    "cq_bytes": size("consumequeue"),
    "dirty_kb": mem.get("Dirty", 0),
    "mem_free_kb": mem.get("MemFree", 0),
    "page_cache_kb": mem.get("Cached", 0),
    "host_reported_kib": reported,
    "load": d.get("load"),
}))
PY
  tail -1 "$OUT/samples.jsonl" | python3 -c "import json,sys; s=json.load(sys.stdin); print(f\"{s['t_s']:>7} s  {s['log_bytes']/1e9:6.2f} GB  {s['msgs_per_s'] or 0:>9.0f} msg/s  p99 {s['p99_us']} us  rss {s['rss_kb']} KiB  dirty {s['dirty_kb']} KiB  free {s['mem_free_kb'] // 1024} MiB\")" >&2
done
python3 scripts/sustained_chart.py "$OUT/samples.jsonl" "$OUT/machine.txt" >"$OUT/chart.svg"
echo "samples: $OUT/samples.jsonl  chart: $OUT/chart.svg" >&2
