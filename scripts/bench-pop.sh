#!/usr/bin/env bash
# POP benchmark (issue 17): pop+ack throughput with batches of 32 and broker memory per in-flight
# message. Broker pinned to CPU 0, generator to CPU 1, loopback only, bounded.
#
#   scripts/bench-pop.sh                       # 1 M messages, 4 consumers, 3 rounds
#   TOTAL=200000 ROUNDS=1 scripts/bench-pop.sh
#
# Environment: TOTAL=1000000 (messages popped and acked per round), HOLD=500000 (messages held in
# flight for the memory figure), CONNS=4, ROUNDS=3, OUT=target/bench-pop, BROKER_CPU=0 GEN_CPU=1.
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL=${TOTAL:-1000000}; HOLD=${HOLD:-500000}; CONNS=${CONNS:-4}; ROUNDS=${ROUNDS:-3}
OUT=${OUT:-target/bench-pop}; BROKER_CPU=${BROKER_CPU:-0}; GEN_CPU=${GEN_CPU:-1}
cargo build --release --bins -q
FR=$PWD/target/release/ferrocket
GEN=(taskset -c "$GEN_CPU" "$PWD/target/release/ferrocket-bench")
mkdir -p "$OUT"; : > "$OUT/results.jsonl"
BPID=
cleanup() { [ -n "$BPID" ] && kill "$BPID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

start() {
  local dir=$OUT/data; rm -rf "$dir"; mkdir -p "$dir"
  # In-flight cap raised so that HOLD messages can be held on 8 queues.
  printf 'popInflightMessageThreshold=%s\n' "$HOLD" > "$dir/broker.conf"
  taskset -c "$BROKER_CPU" "$FR" dev --data-dir "$dir/store" --topic bench:8 -c "$dir/broker.conf" \
    --ready-file "$dir/ready" > "$dir/log" 2>&1 < /dev/null &
  BPID=$!
  for _ in $(seq 1 500); do [ -s "$dir/ready" ] && break; sleep 0.02; done
  BROKER=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["brokerAddr"])' "$dir/ready")
}
stop() { kill "$BPID"; wait "$BPID" 2>/dev/null || true; BPID=; }

for r in $(seq 1 "$ROUNDS"); do
  start
  "${GEN[@]}" produce --broker "$BROKER" --topic bench --conns 4 --inflight 8 --batch 64 --body 128 \
    --total $((TOTAL + HOLD)) --warmup 0s --duration 600s > /dev/null
  j=$("${GEN[@]}" pop --broker "$BROKER" --topic bench --pid "$BPID" --conns "$CONNS" --group g_ack --total "$TOTAL")
  echo "{\"round\":$r,\"point\":\"pop+ack 32\",\"result\":$j}" | tee -a "$OUT/results.jsonl"
  j=$("${GEN[@]}" pop --broker "$BROKER" --topic bench --pid "$BPID" --conns "$CONNS" --group g_hold --total "$HOLD" --no-ack)
  echo "{\"round\":$r,\"point\":\"pop-hold\",\"result\":$j}" | tee -a "$OUT/results.jsonl"
  stop
done
python3 - "$OUT/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(point, f):
    v = [f(r["result"]) for r in rows if r["point"] == point]
    return statistics.median(v) if v else None
print("pop+ack msg/s (median):", med("pop+ack 32", lambda x: x["pop"]["msgs_per_s"]))
print("broker CPU us/msg pop+ack (median):", med("pop+ack 32", lambda x: x["broker"]["cpu_us_per_msg"]))
print("RSS growth bytes per in-flight message (median):", med("pop-hold", lambda x: x["broker"]["rss_growth_bytes_per_msg"]))
PY
