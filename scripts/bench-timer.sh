#!/usr/bin/env bash
# Timer wheel benchmarks (issue 22): pending timers (RSS, insert rate, disk), delivery lateness at
# 10 k due/s, a burst due in the same second. Not run in CI; figures go to BENCHMARKS.md by hand.
#
#   scripts/bench-timer.sh                                   # everything, default sizes
#   PENDING=20000000 scripts/bench-timer.sh pending          # one mode
#   RATE=10000 SECS=300 PRECISION=100 scripts/bench-timer.sh lateness
#   BURST=1000000 scripts/bench-timer.sh burst
#   PENDING=100000000 RUNS=3 DIR=/work/bench scripts/bench-timer.sh fill   # written into the store, not sent
#   CONNS=4 INFLIGHT=8 BATCH=64 SECS=20 scripts/bench-timer.sh wire        # through the wire (ferrocket-bench)
#   PREFILL=45000000 WIRE_TOTAL=10000000 DIR=/work/bench scripts/bench-timer.sh wire   # on top of a filled wheel
#   PIN=1 ...                                                # broker on CPU 0, generator on CPU 1
#
# Environment: PENDING (10 M), RATE (10000/s), SECS (60), PRECISION (100 ms), BURST (1 M),
# DIR (data directory root; default a temporary directory, deleted at the end),
# FERROCKET_BIN (default target/release/ferrocket); wire: CONNS (4), INFLIGHT (8 per connection),
# BATCH (64 timers per SEND_BATCH_MESSAGE; 1 = SEND_MESSAGE_V2), SECS (60) or WIRE_TOTAL (timers),
# PREFILL (timers written into the store and indexed first; 0). Disk: about 390 MiB per million
# pending timers (16-byte bodies with UNIQ_KEY).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-all}
cargo build --release --bin ferrocket --bin ferrocket-bench --example timer_bench 2>&1 | tail -1 >&2
TARGET=${CARGO_TARGET_DIR:-target}
export FERROCKET_BIN=${FERROCKET_BIN:-$TARGET/release/ferrocket}
export FERROCKET_BENCH_BIN=${FERROCKET_BENCH_BIN:-$TARGET/release/ferrocket-bench}
export TIMER_BENCH_MODE=$MODE TIMER_BENCH_PENDING=${PENDING:-10000000} TIMER_BENCH_RATE=${RATE:-10000} \
  TIMER_BENCH_SECS=${SECS:-60} TIMER_BENCH_PRECISION=${PRECISION:-100} TIMER_BENCH_BURST=${BURST:-1000000} \
  TIMER_BENCH_INSERT_RUNS=${RUNS:-1} TIMER_BENCH_CONNS=${CONNS:-4} TIMER_BENCH_INFLIGHT=${INFLIGHT:-8} \
  TIMER_BENCH_BATCH=${BATCH:-64} TIMER_BENCH_PREFILL=${PREFILL:-0}
[ -n "${WIRE_TOTAL:-}" ] && export TIMER_BENCH_WIRE_TOTAL=$WIRE_TOTAL
[ -n "${DIR:-}" ] && export TIMER_BENCH_DIR=$DIR
RUN=()
if [ -n "${PIN:-}" ]; then
  printf '#!/bin/sh\nexec taskset -c 0 %s "$@"\n' "$(realpath "$FERROCKET_BIN")" > "$TARGET/pinned-ferrocket"
  chmod +x "$TARGET/pinned-ferrocket"
  export FERROCKET_BIN=$TARGET/pinned-ferrocket
  RUN=(taskset -c 1)
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD)" >&2
"${RUN[@]}" "$TARGET/release/examples/timer_bench" | tee /dev/stderr | grep '^TIMER_BENCH'
