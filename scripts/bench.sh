#!/usr/bin/env bash
# Side-by-side benchmarks (issue 11): ferrocket vs rocketmq-rust (vs Apache RocketMQ when
# ROCKETMQ_HOME is set), scenarios S1-S9, broker pinned to CPU 0 and generator to CPU 1,
# contenders interleaved round by round, median of ROUNDS rounds. Loopback only, bounded.
#
#   scripts/bench.sh                     # everything, 3 rounds
#   SCENARIOS="S1 S2" ROUNDS=1 DUR=3s scripts/bench.sh
#
# Environment:
#   ROUNDS=3  DUR=5s  WARM=1s      rounds, measured time and warm-up per point
#   WARM_APACHE=60s                the Apache broker gets this much discarded S2 load after every
#                                  start, before its first point (its JIT needs it; 15 s was short)
#   WARM_POINT_APACHE=15s          and this warm-up (instead of WARM) before each of its points
#   STOP_WAIT=30                   seconds a broker gets to exit after SIGTERM (a JVM takes ~7 s)
#   SCENARIOS="S1 ... S9"          which scenarios
#   BACKLOG=500000                 S5 backlog (the issue says 2 M; 500 k keeps the run short)
#   RMQ_RUST=auto|1|0              rocketmq-rust: use if installed (auto), install if missing (1), skip (0)
#   BENCH_CACHE=~/.cache/ferrocket-bench   where rocketmq-rust is installed (cargo install --root)
#   ROCKETMQ_HOME=/path            Apache RocketMQ (bin/mqnamesrv, bin/mqbroker) benchmarked too
#                                  (its logs go to OUT/data/apache*/logs: user.home is set there)
#   FR_BASE=/path/to/ferrocket     another ferrocket binary (e.g. a release build of the previous
#                                  commit) benchmarked as contender "ferrocket-base": before/after
#   RMQ_RUST=0 FR_BASE=... SCENARIOS="S1 S2 S3 S4 S5 S6" scripts/bench.sh   # a change's before/after
#   (S7 with 2 GB stored is not automated yet: fill with `ferrocket-bench produce --total N` and restart)
#   FR_CONF="idleSpin=100us"      broker.conf lines (space-separated key=value) for the ferrocket
#                                  contenders, e.g. ferrocket's own tuning keys (a key the other
#                                  binary does not know is a warning there)
#   FR_BASE_CONF=...               the same for ferrocket-base only (default: FR_CONF; empty: none),
#                                  e.g. FR_BASE=target/release/ferrocket FR_CONF="idleSpin=200us"
#                                  FR_BASE_CONF="": one binary with and without a setting, same run
#   UNIQ_KEY=1                     every message carries a UNIQ_KEY property, as Java clients send (0: none)
#   OUT=target/bench               results.jsonl, logs, RESULTS.md
#   BROKER_CPU=0 GEN_CPU=1
#   DROP_CACHES=0                  1: sync and drop the whole machine's page cache before each
#                                  contender's turn (root; BENCHMARKS.md's 2026-12-07 run used it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5s}; WARM=${WARM:-1s}; WARM_APACHE=${WARM_APACHE:-60s}
WARM_POINT_APACHE=${WARM_POINT_APACHE:-15s}; STOP_WAIT=${STOP_WAIT:-30}
SCENARIOS=${SCENARIOS:-"S1 S2 S3 S4 S5 S6 S7 S8 S9"}
BACKLOG=${BACKLOG:-500000}; RMQ_RUST=${RMQ_RUST:-auto}
UNIQ=(); [ "${UNIQ_KEY:-1}" = 1 ] && UNIQ=(--uniq-key)
BENCH_CACHE=${BENCH_CACHE:-$HOME/.cache/ferrocket-bench}
OUT=${OUT:-target/bench}; BROKER_CPU=${BROKER_CPU:-0}; GEN_CPU=${GEN_CPU:-1}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.jsonl; : > "$RESULTS"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }
log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

log "building release"
cargo build --release --bins 2>&1 | tail -1 >&2
FR=$PWD/target/release/ferrocket
GEN=(taskset -c "$GEN_CPU" "$PWD/target/release/ferrocket-bench")

# --- contenders -----------------------------------------------------------------------------
CONTENDERS=(ferrocket)
[ -n "${FR_BASE:-}" ] && [ -x "$FR_BASE" ] && CONTENDERS+=(ferrocket-base)
RMQ_BIN=$BENCH_CACHE/rocketmq-rust/bin
if [ "$RMQ_RUST" != 0 ]; then
  if [ ! -x "$RMQ_BIN/rocketmq-broker-rust" ] && [ "$RMQ_RUST" = 1 ]; then
    log "installing rocketmq-namesrv + rocketmq-broker into $BENCH_CACHE (long: see BENCHMARKS.md)"
    CARGO_TARGET_DIR=$BENCH_CACHE/target cargo install --locked --root "$BENCH_CACHE/rocketmq-rust" \
      rocketmq-namesrv rocketmq-broker >&2
  fi
  [ -x "$RMQ_BIN/rocketmq-broker-rust" ] && CONTENDERS+=(rocketmq-rust) || log "rocketmq-rust not installed: skipped (RMQ_RUST=1 installs it)"
fi
[ -n "${ROCKETMQ_HOME:-}" ] && [ -x "$ROCKETMQ_HOME/bin/mqbroker" ] && CONTENDERS+=(apache)
# rocketmq-rust does not start (readiness fails) when (total - available) / total of the data
# directory's file system passes 0.90; say so instead of failing obscurely.
if [[ " ${CONTENDERS[*]} " == *" rocketmq-rust "* ]]; then
  used=$(python3 -c 'import os,sys;s=os.statvfs(sys.argv[1]);print(round((s.f_blocks-s.f_bavail)/s.f_blocks,3))' "$OUT")
  python3 -c 'import sys;sys.exit(float(sys.argv[1])<0.88)' "$used" &&
    log "warning: $OUT's file system is $used used by rocketmq-rust's measure; it refuses to start above 0.90"
fi

BROKER=""; BPID=""; NSPID=""; LAUNCHERS=""
# jvm_of PID CLASS [TRIES]: the java process at or under PID whose arguments name main class
# CLASS. Apache's launchers run java as a grandchild (mqbroker -> sh runbroker.sh CLASS -> java
# ... CLASS), after a short-lived `java -version`: CPU and RSS must be read, and SIGTERM sent,
# at that JVM. Tries TRIES times 50 ms apart (default 600: 30 s); prints nothing if none appears.
jvm_of() {
  local root=$1 cls=$2 tries=${3:-600} q p
  for _ in $(seq 1 "$tries"); do
    q=("$root")
    while [ ${#q[@]} -gt 0 ]; do
      p=${q[0]}; q=("${q[@]:1}")
      [ "$(cat "/proc/$p/comm" 2>/dev/null)" = java ] && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null |
        grep -q " $cls" && { echo "$p"; return 0; }
      q+=($(pgrep -P "$p" || true))
    done
    kill -0 "$root" 2>/dev/null || break
    sleep 0.05
  done
}
NS_MAIN=org.apache.rocketmq.namesrv.NamesrvStartup; BROKER_MAIN=org.apache.rocketmq.broker.BrokerStartup
# warm_for CONTENDER: the warm-up before each point (a JVM's JIT needs more than 1 s)
warm_for() { if [ "$1" = apache ]; then echo "$WARM_POINT_APACHE"; else echo "$WARM"; fi; }
# wait_port PORT: until something listens on 127.0.0.1:PORT (at most 60 s)
wait_port() { for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# start_apache_namesrv DIR PORT: Apache's name server on PORT (it takes the port from a -c file;
# without one it listens on 9876 whatever broker.conf's namesrvAddr says); sets NSPID (its JVM)
start_apache_namesrv() {
  local dir=$1 ns=$2
  printf 'listenPort=%s\n' "$ns" > "$dir/namesrv.conf"
  JAVA_OPT_EXT="-Duser.home=$dir" taskset -c "$BROKER_CPU" "$ROCKETMQ_HOME/bin/mqnamesrv" -c "$dir/namesrv.conf" \
    > "$dir/ns.log" 2>&1 < /dev/null &
  local sh=$!; LAUNCHERS="$LAUNCHERS $sh"; PIDS+=("$sh")
  NSPID=$(jvm_of "$sh" $NS_MAIN); NSPID=${NSPID:-$sh}; PIDS+=("$NSPID")
  wait_port "$ns" || log "apache: name server not listening on $ns (see $dir/ns.log)"
}
# rmq_conf DIR FLUSH: broker.conf for rocketmq-rust / Apache RocketMQ (same keys, aligned settings)
rmq_conf() {
  local dir=$1 flush=$2 ns=19876 port=20911
  cat > "$dir/broker.conf" <<CONF
brokerClusterName=BenchCluster
brokerName=broker-a
brokerId=0
brokerIP1=127.0.0.1
listenPort=$port
namesrvAddr=127.0.0.1:$ns
storePathRootDir=$dir/store
storePathCommitLog=$dir/store/commitlog
autoCreateTopicEnable=true
flushDiskType=$flush
deleteWhen=04
fileReservedTime=48
CONF
}
# start_broker CONTENDER FLUSH(ASYNC_FLUSH|SYNC_FLUSH) -> sets BROKER (host:port), BPID
start_broker() {
  local who=$1 flush=$2 dir=$OUT/data/$1; rm -rf "$dir"; mkdir -p "$dir"
  case $who in
  ferrocket|ferrocket-base)
    local bin=$FR; [ "$who" = ferrocket-base ] && bin=$FR_BASE
    printf 'flushDiskType=%s\n' "$flush" > "$dir/broker.conf"
    local conf=${FR_CONF:-}; [ "$who" = ferrocket-base ] && conf=${FR_BASE_CONF-$conf}
    [ -n "$conf" ] && printf '%s\n' $conf >> "$dir/broker.conf"
    rm -f "$dir/ready"
    taskset -c "$BROKER_CPU" "$bin" dev --data-dir "$dir/store" --topic bench:8 -c "$dir/broker.conf" \
      --ready-file "$dir/ready" > "$dir/log" 2>&1 < /dev/null &
    BPID=$!; PIDS+=("$BPID")
    for _ in $(seq 1 500); do [ -s "$dir/ready" ] && break; sleep 0.02; done
    BROKER=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["brokerAddr"])' "$dir/ready")
    ;;
  rocketmq-rust|apache)
    local ns=19876 port=20911
    rmq_conf "$dir" "$flush"
    if [ "$who" = rocketmq-rust ]; then
      ROCKETMQ_HOME=$dir taskset -c "$BROKER_CPU" "$RMQ_BIN/rocketmq-namesrv-rust" --listenPort $ns > "$dir/ns.log" 2>&1 < /dev/null &
      NSPID=$!; PIDS+=("$NSPID"); sleep 0.5
      ROCKETMQ_HOME=$dir taskset -c "$BROKER_CPU" "$RMQ_BIN/rocketmq-broker-rust" -c "$dir/broker.conf" -n 127.0.0.1:$ns > "$dir/log" 2>&1 < /dev/null &
      BPID=$!; PIDS+=("$BPID")
    else
      start_apache_namesrv "$dir" $ns
      JAVA_OPT_EXT="-Duser.home=$dir" taskset -c "$BROKER_CPU" "$ROCKETMQ_HOME/bin/mqbroker" -c "$dir/broker.conf" \
        > "$dir/log" 2>&1 < /dev/null &
      BPID=$!; PIDS+=("$BPID"); LAUNCHERS="$LAUNCHERS $BPID"
      BPID=$(jvm_of "$BPID" $BROKER_MAIN); BPID=${BPID:-$!}; PIDS+=("$BPID")
    fi
    BROKER=127.0.0.1:$port
    for _ in $(seq 1 600); do
      "${GEN[@]}" create-topic --broker "$BROKER" --topic bench --queues 8 2>/dev/null | grep -q created && break
      sleep 0.1
    done
    ;;
  esac
}
# jit_warmup CONTENDER: discarded load for a JVM broker just started (nothing recorded)
jit_warmup() {
  [ "$1" = apache ] || return 0
  log "apache: ${WARM_APACHE} of discarded S2 load (JIT warm-up)"
  "${GEN[@]}" produce --broker "$BROKER" --topic bench --conns 4 --inflight 64 --body 1024 --warmup 0s --duration "$WARM_APACHE" >/dev/null 2>>"$OUT/gen.err" || true
}
# stop_broker: SIGTERM to the broker and name server (for Apache, their JVMs), up to STOP_WAIT
# seconds for each to exit (a JVM's shutdown hooks take ~7 s), then SIGKILL; then the launchers
stop_broker() {
  local l; for l in $LAUNCHERS; do  # a JVM not found at start (slow machine): look again
    kill -0 "$l" 2>/dev/null || continue
    BPID="$BPID $(jvm_of "$l" $BROKER_MAIN 1)"; NSPID="$NSPID $(jvm_of "$l" $NS_MAIN 1)"
  done
  [ -n "$BPID" ] && kill $BPID 2>/dev/null || true
  [ -n "$NSPID" ] && kill $NSPID 2>/dev/null || true
  for p in $BPID $NSPID $LAUNCHERS; do
    for _ in $(seq 1 $((STOP_WAIT * 20))); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$p" 2>/dev/null && log "pid $p did not exit within ${STOP_WAIT}s: killed" || true
  done
  BPID=""; NSPID=""; LAUNCHERS=""
}

# point ID CONTENDER ROUND generator-args...: one generator run, one JSON line in results.jsonl
# (on topic $TOPIC, default bench)
point() {
  local id=$1 who=$2 round=$3; shift 3
  local extra=(); if [ "$1" = produce ] || [ "$1" = e2e ]; then extra=("${UNIQ[@]}"); fi
  local j; j=$("${GEN[@]}" "$@" "${extra[@]}" --broker "$BROKER" --topic "${TOPIC:-bench}" --pid "$BPID" 2>>"$OUT/gen.err" || echo '{"error":"generator failed"}')
  echo "{\"id\":\"$id\",\"contender\":\"$who\",\"round\":$round,\"r\":$j}" >> "$RESULTS"
  log "$id $who r$round: $(python3 -c 'import json,sys;d=json.loads(sys.argv[1]);p=d.get("produce",{});c=d.get("consume",{});print(p.get("msgs_per_s",c.get("msgs_per_s")),"msg/s p99",p.get("latency_us",{}).get("p99"),"us",("e2e p99 %s us"%c["e2e_latency_us"]["p99"]) if c.get("e2e_latency_us") else "", "errors",p.get("errors"),p.get("io_errors",d.get("error","")))' "$j" 2>/dev/null || echo "$j")"
}

run_async_points() {
  local who=$1 r=$2 T=(--warmup "$(warm_for "$1")" --duration "$DUR")
  if want S1; then for b in 128 1024; do for c in 1 4 16 64; do
    point "S1 sync send ${c}c ${b}B" "$who" "$r" produce --conns $c --inflight 1 --body $b "${T[@]}"; done; done; fi
  if want S2 || want S8 || want S9; then for b in 128 1024; do
    point "S2 async send ${b}B" "$who" "$r" produce --conns 4 --inflight 64 --body $b "${T[@]}"; done; fi
  if want S3; then for n in 16 64; do
    point "S3 batch ${n}x128B" "$who" "$r" produce --conns 4 --inflight 8 --batch $n --body 128 "${T[@]}"; done; fi
  if want S6; then for rate in 1000 10000; do
    point "S6 e2e ${rate}/s" "$who" "$r" e2e --rate $rate --conns 1 --inflight 4096 --body 1024 "${T[@]}"; done; fi
  if want S5; then
    # A topic of its own holding exactly the backlog (the bench topic holds what S1-S3 sent);
    # drained twice: the first drain right after the fill, then again (pages cached, code warm).
    "${GEN[@]}" create-topic --broker "$BROKER" --topic s5 --queues 8 >/dev/null 2>>"$OUT/gen.err" || true
    TOPIC=s5 point "S5 fill ${BACKLOG}" "$who" "$r" produce --conns 4 --inflight 8 --batch 64 --body 1024 --total "$BACKLOG" --warmup 0s --duration 600s
    TOPIC=s5 point "S5 catch-up ${BACKLOG}, first drain" "$who" "$r" consume --conns 2 --timeout 300s --group s5_first
    TOPIC=s5 point "S5 catch-up ${BACKLOG}, warm drain" "$who" "$r" consume --conns 2 --timeout 300s --group s5_warm
  fi
}
run_sync_points() {
  local who=$1 r=$2
  for c in 1 16 64; do
    point "S4 SYNC_FLUSH ${c}c 1KiB" "$who" "$r" produce --conns $c --inflight 1 --body 1024 --warmup "$(warm_for "$who")" --duration "$DUR"
  done
}
startup_point() {
  local who=$1 r=$2 dir=$OUT/data/startup-$1; rm -rf "$dir"; mkdir -p "$dir"
  local j
  case $who in
  ferrocket|ferrocket-base)
    local bin=$FR; [ "$who" = ferrocket-base ] && bin=$FR_BASE
    printf 'listenPort=21911\nnamesrvListenPort=21876\nstorePathRootDir=%s/store\n' "$dir" > "$dir/broker.conf"
    j=$("${GEN[@]}" startup --broker 127.0.0.1:21911 --topic s7 -- taskset -c "$BROKER_CPU" "$bin" -c "$dir/broker.conf" 2>>"$OUT/gen.err") ;;
  rocketmq-rust)
    rmq_conf "$dir" ASYNC_FLUSH
    ROCKETMQ_HOME=$dir taskset -c "$BROKER_CPU" "$RMQ_BIN/rocketmq-namesrv-rust" --listenPort 19876 > "$dir/ns.log" 2>&1 < /dev/null &
    NSPID=$!; PIDS+=("$NSPID"); sleep 1
    j=$(ROCKETMQ_HOME=$dir "${GEN[@]}" startup --broker 127.0.0.1:20911 --topic s7 -- taskset -c "$BROKER_CPU" "$RMQ_BIN/rocketmq-broker-rust" -c "$dir/broker.conf" -n 127.0.0.1:19876 2>>"$OUT/gen.err")
    stop_broker ;;
  apache)
    # The launcher is a shell whose grandchild is the JVM: the generator keeps it running
    # (--keep, no settle) and the RSS is read here from the JVM, at ready and 2 s later.
    rmq_conf "$dir" ASYNC_FLUSH
    start_apache_namesrv "$dir" 19876
    j=$(JAVA_OPT_EXT="-Duser.home=$dir" "${GEN[@]}" startup --keep --settle 0s --broker 127.0.0.1:20911 --topic s7 \
      -- taskset -c "$BROKER_CPU" "$ROCKETMQ_HOME/bin/mqbroker" -c "$dir/broker.conf" 2>>"$OUT/gen.err")
    local sh; sh=$(python3 -c 'import json,sys;print(json.loads(sys.argv[1])["pid"])' "$j" 2>/dev/null || true)
    if [ -z "$sh" ]; then log "S7 apache: no broker started ($j)"; stop_broker; return; fi
    LAUNCHERS="$LAUNCHERS $sh"; BPID=$(jvm_of "$sh" $BROKER_MAIN); BPID=${BPID:-$sh}; PIDS+=("$sh" "$BPID")
    local at_ready; at_ready=$(cat "/proc/$BPID/status" 2>/dev/null || true); sleep 2
    j=$(python3 - "$j" "$BPID" "$at_ready" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); pid = int(sys.argv[2])
def kb(text, key):
    for l in text.splitlines():
        if l.startswith(key + ":"): return int(l.split()[1])
    return None
try: idle = open(f"/proc/{pid}/status").read()
except OSError: idle = ""
d.update(launcher_pid=d.get("pid"), pid=pid, rss_at_ready_kb=kb(sys.argv[3], "VmRSS"),
         idle_rss_kb=kb(idle, "VmRSS"), idle_rss_anon_kb=kb(idle, "RssAnon"))
print(json.dumps(d))
PY
)
    stop_broker ;;
  *) return ;;
  esac
  echo "{\"id\":\"S7 start to first SEND_OK (empty)\",\"contender\":\"$who\",\"round\":$r,\"r\":$j}" >> "$RESULTS"
  log "S7 $who r$r: $j"
}

for r in $(seq 1 "$ROUNDS"); do
  for who in "${CONTENDERS[@]}"; do
    log "round $r: $who"
    # on request, every contender starts with the page cache emptied of earlier runs' files
    # (root only; it affects the whole machine, and made no clear difference: BENCHMARKS.md)
    if [ "${DROP_CACHES:-0}" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi
    if want S7 || want S8; then startup_point "$who" "$r"; fi
    if want S1 || want S2 || want S3 || want S5 || want S6 || want S8 || want S9; then
      start_broker "$who" ASYNC_FLUSH; jit_warmup "$who"; run_async_points "$who" "$r"; stop_broker; fi
    if want S4; then start_broker "$who" SYNC_FLUSH; jit_warmup "$who"; run_sync_points "$who" "$r"; stop_broker; fi
    rm -rf "$OUT/data/$who"
  done
done
if want S7; then
  "$PWD/target/release/ferrocket-bench" embedded > "$OUT/embedded.json" 2>>"$OUT/gen.err" || true
fi
python3 scripts/bench_table.py "$RESULTS" "$OUT/embedded.json" > "$OUT/RESULTS.md"
log "table: $OUT/RESULTS.md"
cat "$OUT/RESULTS.md"
