#!/usr/bin/env bash
# Broker instructions per message on the send path, counted by valgrind's callgrind: a figure that
# does not move with the machine's load (other builds, other benchmarks), for before/after
# comparisons of send-path changes (issue 21). User-space instructions of every broker thread;
# the kernel's share (socket and file syscalls) is not counted: see BENCHMARKS.md for CPU time.
# Also counts heap allocations (and reallocations) per message.
#
#   scripts/bench-instructions.sh                       # this tree's release build
#   BIN=/path/to/older/ferrocket scripts/bench-instructions.sh
#
# Environment:
#   N=20000        measured sends (after 2000 unmeasured ones)
#   BODY=1024      body bytes; every message carries a UNIQ_KEY, 4 connections x 64 in flight
#   BATCH=1        messages per request (SEND_BATCH_MESSAGE when > 1)
#   OUT=target/bench-instructions   callgrind files (callgrind_annotate --inclusive=yes FILE)
# Needs valgrind (apt-get install valgrind). Takes about 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20000}; BODY=${BODY:-1024}; BATCH=${BATCH:-1}
OUT=${OUT:-target/bench-instructions}; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 2; }
cargo build --release --bin ferrocket --bin ferrocket-bench 2>&1 | tail -1 >&2
BIN=${BIN:-$PWD/target/release/ferrocket}
GEN=$PWD/target/release/ferrocket-bench
rm -f "$OUT"/ready "$OUT"/callgrind.out*
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$BIN" dev --topic bench:8 --ready-file "$OUT/ready" > "$OUT/broker.log" 2>&1 < /dev/null &
VG=$!
trap 'kill $VG 2>/dev/null || true' EXIT
for _ in $(seq 600); do [ -s "$OUT/ready" ] && break; sleep 0.1; done
[ -s "$OUT/ready" ] || { echo "broker did not start under valgrind (see $OUT/broker.log)" >&2; exit 1; }
read -r ADDR PID < <(python3 -c 'import json,sys;j=json.load(open(sys.argv[1]));print(j["brokerAddr"],j["pid"])' "$OUT/ready")
send() { "$GEN" produce --broker "$ADDR" --topic bench --conns 4 --inflight 64 --body "$BODY" --batch "$BATCH" --uniq-key --warmup 0s --duration 300s --total "$1"; }
send 2000 > /dev/null
callgrind_control -z "$PID" > /dev/null
acked=$(send "$N" | python3 -c 'import json,sys;print(json.load(sys.stdin)["produce"]["acked_msgs"])')
callgrind_control -d "$PID" > /dev/null
kill "$VG"; wait "$VG" 2>/dev/null || true
file=$(ls -S "$OUT"/callgrind.out.* | head -1)
total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
python3 - "$total" "$acked" "$file" "$BIN" <<'PY'
import json, re, sys
total, acked, f, b = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
# heap allocations: the calls into the allocator's entry points, from callgrind's call counts
names, callee, allocs = {}, "", 0
for line in open(f):
    m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line)
    if m:
        if m.group(3):
            names[m.group(2)] = m.group(3)
        if m.group(1) == "cfn":
            callee = names.get(m.group(2), "")
        continue
    m = re.match(r"^calls=(\d+)", line)
    if m and re.search(r"__rust_(alloc|realloc|alloc_zeroed)$", callee):
        allocs += int(m.group(1))
n = max(acked, 1)
print(json.dumps({"binary": b, "acked_msgs": acked, "instructions": total, "instructions_per_msg": round(total / n),
                  "allocations_per_msg": round(allocs / n, 1), "callgrind": f}))
PY
