#!/usr/bin/env bash
# Two ferrocket builds measured at the same time, for before/after comparisons of small changes
# (issue 21). On a shared virtual machine single runs of one broker spread by 10-15 % within
# minutes (the host's other tenants), more than most send-path changes are worth. Here both
# brokers are pinned to CPU 0 at once, each with its own `ferrocket-bench produce` on CPU 1: they
# share the core and whatever the host does to it, and each one's CPU time per message (its
# `/proc/PID/stat` ticks over the run) is compared round by round. Same-build runs give ratios of
# 0.99-1.03 (BENCHMARKS.md). Throughput here is half of a broker's alone: they share one core.
#
#   scripts/bench-paired.sh OLD_BINARY NEW_BINARY
#
# Environment:
#   ROUNDS=3     rounds; the order of the two alternates each round
#   BODY=128     body bytes (every message carries a UNIQ_KEY, as Java clients send)
#   BATCH=1      messages per request (SEND_BATCH_MESSAGE when > 1)
#   CONNS=4 INFLIGHT=64 DUR=4   per generator; 1 s of warm-up first
# Prints one line per round and the median ratio NEW/OLD of CPU per message (< 1: NEW is cheaper).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
OLD=$1; NEW=$2
ROUNDS=${ROUNDS:-3}; BODY=${BODY:-128}; BATCH=${BATCH:-1}; CONNS=${CONNS:-4}; INFLIGHT=${INFLIGHT:-64}; DUR=${DUR:-4}
cargo build --release --bin ferrocket-bench 2>&1 | tail -1 >&2
GEN=$PWD/target/release/ferrocket-bench
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # binary dir -> "addr pid"
  mkdir -p "$2"
  taskset -c 0 "$1" dev --topic bench:8 --data-dir "$2/store" --ready-file "$2/ready" > "$2/log" 2>&1 < /dev/null &
  PIDS+=($!)
  for _ in $(seq 200); do [ -s "$2/ready" ] && break; sleep 0.05; done
  [ -s "$2/ready" ] || { echo "broker $1 did not start (see $2/log)" >&2; exit 1; }
  python3 -c 'import json,sys;j=json.load(open(sys.argv[1]));print(j["brokerAddr"],j["pid"])' "$2/ready"
}
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
produce() { taskset -c 1 "$GEN" produce --broker "$1" --topic bench --conns "$CONNS" --inflight "$INFLIGHT" --body "$BODY" --batch "$BATCH" --uniq-key --warmup 1s --duration "${DUR}s" > "$2"; }
acked() { python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["produce"]["acked_msgs"])' "$1"; }

ratios=()
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then first=$OLD; second=$NEW; else first=$NEW; second=$OLD; fi
  read -r A1 P1 < <(start "$first" "$WORK/r$r-1")
  read -r A2 P2 < <(start "$second" "$WORK/r$r-2")
  t1=$(ticks "$P1"); t2=$(ticks "$P2")
  produce "$A1" "$WORK/r$r-1/out" & G=$!
  produce "$A2" "$WORK/r$r-2/out"
  wait "$G"
  d1=$(( $(ticks "$P1") - t1 )); d2=$(( $(ticks "$P2") - t2 ))
  n1=$(acked "$WORK/r$r-1/out"); n2=$(acked "$WORK/r$r-2/out")
  kill "$P1" "$P2"; wait "$P1" "$P2" 2>/dev/null || true
  # the stores go at once: rounds that leave gigabytes behind each cost the next more CPU per
  # message (memory reclaim)
  rm -rf "$WORK/r$r-1/store" "$WORK/r$r-2/store"
  if [ "$first" = "$OLD" ]; then old=($n1 $d1); new=($n2 $d2); else old=($n2 $d2); new=($n1 $d1); fi
  line=$(python3 -c 'import sys
no, to, nn, tn = map(float, sys.argv[1:5])
co, cn = to * 1e4 / max(no, 1), tn * 1e4 / max(nn, 1)
print(f"{cn / co:.3f} round {sys.argv[5]}: old {no:.0f} msgs, {co:.3f} us CPU/msg; new {nn:.0f} msgs, {cn:.3f} us CPU/msg; new/old {cn / co:.3f}")' "${old[0]}" "${old[1]}" "${new[0]}" "${new[1]}" "$r")
  echo "${line#* }"
  ratios+=("${line%% *}")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print "median new/old CPU per message: " a[int((NR+1)/2)]}'
