#!/usr/bin/env bash
# gRPC SendMessage beside remoting SEND_MESSAGE_V2 (issue 18): the same release `ferrocket dev`,
# the broker pinned to CPU 0 and `ferrocket-bench` to CPU 1, one 1 KiB message per call, rounds
# interleaved. Besides throughput and p99 it reads the broker's CPU time over the measured window
# from /proc, so a generator that saturates its own core before the broker does is visible: the
# `per_broker_cpu_s` column is what one broker core carries per second of its CPU.
# Not run in CI; figures go to BENCHMARKS.md by hand.
#
#   scripts/bench-grpc.sh                       # 3 rounds of 4 connections x 64 in flight, then 1 x 1
#   ROUNDS=5 POINTS="4x64" scripts/bench-grpc.sh
#   BASE=/path/to/older/ferrocket scripts/bench-grpc.sh   # the same points against an older build too
# Every (point, round, build) gets a fresh broker on an empty store.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
POINTS=${POINTS:-"4x64 1x1"}
WARMUP=${WARMUP:-1}
DURATION=${DURATION:-5}
cargo build --release --bins 2>&1 | tail -1 >&2
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET/release/ferrocket}
GEN=${GEN:-$TARGET/release/ferrocket-bench}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferrocket-bench-grpc.XXXXXX")
BPID=
cleanup() {
  [ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD)"

field() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])" "$WORK/ready" "$1"; }
# start BIN: a fresh broker on CPU 0
start() {
  rm -rf "$WORK/data" "$WORK/ready"
  taskset -c 0 "$1" dev --data-dir "$WORK/data" --topic bench:8 >"$WORK/ready" 2>"$WORK/broker.log" &
  BPID=$!
  for _ in $(seq 100); do grep -q grpcAddr "$WORK/ready" 2>/dev/null && break; sleep 0.1; done
  BROKER=$(field brokerAddr)
  GRPC=$(field grpcAddr)
}
stop() {
  kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null || true
  BPID=
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$BPID/stat"; }
HZ=$(getconf CLK_TCK)

# run PROTO CONNS INFLIGHT: one measured window; prints msgs/s p99_us broker_cpu_s
run() {
  local proto=$1 conns=$2 inflight=$3 out="$WORK/out"
  local common=(--topic bench --conns "$conns" --inflight "$inflight" --body 1024 --warmup "${WARMUP}s" --duration "${DURATION}s")
  if [ "$proto" = grpc ]; then
    taskset -c 1 "$GEN" grpc-send --grpc "$GRPC" "${common[@]}" >"$out" 2>&1 &
  else
    taskset -c 1 "$GEN" produce --broker "$BROKER" --uniq-key "${common[@]}" >"$out" 2>&1 &
  fi
  local gen=$!
  sleep "$WARMUP"
  local c0; c0=$(cpu_ticks)
  wait "$gen"
  local c1; c1=$(cpu_ticks)
  python3 - "$out" "$c0" "$c1" "$HZ" "$DURATION" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
d = json.loads(text[text.index("{"):])
d = d.get("produce") or d.get("grpcSend") or d
cpu = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
rate = d["msgs_per_s"] or 0
print(f"{rate:.0f} {d['latency_us']['p99']} {cpu:.2f} {rate * float(sys.argv[5]) / max(cpu, 0.01):.0f}")
EOF
}

BUILDS="new"
[ -n "${BASE:-}" ] && BUILDS="new base"
printf '%-6s %-5s %-9s %-5s %10s %9s %13s %17s\n' point build proto round msgs_per_s p99_us broker_cpu_s per_broker_cpu_s
for point in $POINTS; do
  conns=${point%x*}
  inflight=${point#*x}
  for r in $(seq "$ROUNDS"); do
    for build in $BUILDS; do
      if [ "$build" = base ]; then start "$BASE"; else start "$BIN"; fi
      for proto in remoting grpc; do
        read -r rate p99 cpu per < <(run "$proto" "$conns" "$inflight")
        printf '%-6s %-5s %-9s %-5s %10s %9s %13s %17s\n' "$point" "$build" "$proto" "$r" "$rate" "$p99" "$cpu" "$per"
      done
      stop
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
