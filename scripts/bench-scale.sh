#!/usr/bin/env bash
# Scale scenarios (issue 21): how cost grows as the work grows. Not run in CI; figures go to
# BENCHMARKS.md ("Issue 21: scale scenarios S10-S13") by hand. Release build, broker (and name
# server) pinned to CPU 0, generator to CPU 1, fresh store in a temporary directory that is deleted
# at the end; every step is bounded in count and time.
#
#   scripts/bench-scale.sh                 # S10 S11 S12 S13 at the default sizes
#   scripts/bench-scale.sh s10 s13         # some of them
#   TOPICS=2000 OFFSET_GROUPS=1000 S11_SECS=20s S12_MSGS=200 S13_PER_QUEUE=2000 scripts/bench-scale.sh   # quick
#
# Environment:
#   S10  TOPICS=10000 topics x QUEUES=8; LOOKUPS=200000 route lookups (one in flight), then the
#        same with 4 connections x 16 in flight; COMPRESSED=false|true (the broker's
#        compressedRegister; the register step measures both bodies either way); ROUNDS_REG=20.
#   S11  OFFSET_GROUPS=10000 groups x OFFSET_QUEUES=1 offsets each, committed every INTERVAL=5s for
#        S11_SECS=60s (after an idle baseline of BASELINE=10s).
#   S12  S12_BODY=4194304 (the largest body the default maxMessageSize=4194304 accepts), S12_MSGS=1500
#        messages (6 GiB) from S12_CONNS=1 connection(s) x S12_INFLIGHT=4; the disk measured by dd of the same
#        bytes into the same directory, with and without conv=fdatasync.
#   S13  S13_QUEUES=1000 queues x S13_PER_QUEUE=20000 messages of S13_BODY=32 bytes (SEND_BATCH of
#        64), then one queue x S13_DEEP=1000000; PULLS=2000 single pulls of 32 at the tail, the head
#        and random offsets; again after a restart, and with the store's pages evicted (cold).
#   PERF=1: `perf record -e cpu-clock -g` of the broker during S11, S12 and the S13 fill ($OUT/perf-*.txt).
#   OUT=target/bench-scale (results.jsonl, logs), DIR (store root; default a new temporary directory
#   under OUT, deleted at the end), BROKER_CPU=0 GEN_CPU=1.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=("$@"); [ ${#STEPS[@]} -eq 0 ] && STEPS=(s10 s11 s12 s13)
TOPICS=${TOPICS:-10000}; QUEUES=${QUEUES:-8}; LOOKUPS=${LOOKUPS:-200000}; COMPRESSED=${COMPRESSED:-false}
ROUNDS_REG=${ROUNDS_REG:-20}; OFFSET_GROUPS=${OFFSET_GROUPS:-10000}; OFFSET_QUEUES=${OFFSET_QUEUES:-1}
INTERVAL=${INTERVAL:-5s}; S11_SECS=${S11_SECS:-60s}; BASELINE=${BASELINE:-10s}
S12_BODY=${S12_BODY:-4194304}; S12_MSGS=${S12_MSGS:-1500}; S12_INFLIGHT=${S12_INFLIGHT:-4}; S12_CONNS=${S12_CONNS:-1}
S13_QUEUES=${S13_QUEUES:-1000}; S13_PER_QUEUE=${S13_PER_QUEUE:-20000}; S13_BODY=${S13_BODY:-32}
S13_DEEP=${S13_DEEP:-1000000}; PULLS=${PULLS:-2000}
OUT=${OUT:-target/bench-scale}; BROKER_CPU=${BROKER_CPU:-0}; GEN_CPU=${GEN_CPU:-1}
cargo build --release --bin ferrocket --bin ferrocket-bench 2>&1 | tail -1 >&2
TARGET=${CARGO_TARGET_DIR:-target}
FR=$(realpath "$TARGET/release/ferrocket")
GEN=(taskset -c "$GEN_CPU" "$(realpath "$TARGET/release/ferrocket-bench")")
mkdir -p "$OUT"; RESULTS=$OUT/results.jsonl; : > "$RESULTS"
ROOT=${DIR:-$(mktemp -d "$(realpath "$OUT")/scale.XXXXXX")}; mkdir -p "$ROOT"
BPID=; NSPID=; PERFPID=
cleanup() {
  for p in $PERFPID $BPID $NSPID; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "${DIR:-}" ] && rm -rf "$ROOT"
}
trap cleanup EXIT
log() { echo "[$(date -u +%T)] $*" >&2; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
record() { echo "{\"step\":\"$1\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"r\":$2}" | tee -a "$RESULTS"; }
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); commit $(git rev-parse --short HEAD); store $ROOT"

# dev_broker NAME [dev args...]: name server + broker in one process -> BPID, BROKER
dev_broker() {
  local dir=$ROOT/$1; shift; rm -rf "$dir"; mkdir -p "$dir"
  printf 'grpcServerPort=0\nconsolePort=0\n%s' "${EXTRA_CONF:-}" > "$dir/broker.conf"
  taskset -c "$BROKER_CPU" "$FR" dev --data-dir "$dir/store" -c "$dir/broker.conf" --ready-file "$dir/ready" "$@" \
    > "$dir/log" 2>&1 < /dev/null &
  BPID=$!; STORE=$dir/store
  for _ in $(seq 1 1500); do [ -s "$dir/ready" ] && break; sleep 0.02; done
  BROKER=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["brokerAddr"])' "$dir/ready")
}
stop() { for p in $BPID $NSPID; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; BPID=; NSPID=; }
perf_start() { [ -n "${PERF:-}" ] || return 0; perf record -e cpu-clock -g -p "$BPID" -o "$OUT/perf-$1.data" 2>/dev/null & PERFPID=$!; }
perf_stop() {
  [ -n "$PERFPID" ] || return 0; kill -INT "$PERFPID"; wait "$PERFPID" 2>/dev/null || true; PERFPID=
  perf report -i "$OUT/perf-$1.data" --no-children --stdio --percent-limit 1.5 -g none 2>/dev/null | grep -v '^$' | head -40 > "$OUT/perf-$1.txt" || true
}

s10() {
  local dir=$ROOT/s10; mkdir -p "$dir"
  taskset -c "$BROKER_CPU" "$FR" namesrv -p 29876 > "$dir/ns.log" 2>&1 < /dev/null & NSPID=$!
  cat > "$dir/broker.conf" <<CONF
brokerName=scale-a
listenPort=30911
namesrvAddr=127.0.0.1:29876
storePathRootDir=$dir/store
grpcServerPort=0
consolePort=0
compressedRegister=$COMPRESSED
CONF
  sleep 0.5
  kill -0 "$NSPID" || { cat "$dir/ns.log" >&2; return 1; }
  taskset -c "$BROKER_CPU" "$FR" broker -c "$dir/broker.conf" > "$dir/broker.log" 2>&1 < /dev/null & BPID=$!
  for _ in $(seq 1 500); do "${GEN[@]}" create-topic --broker 127.0.0.1:30911 --topic warm --queues 1 2>/dev/null | grep -q created && break; sleep 0.05; done
  kill -0 "$BPID" || { cat "$dir/broker.log" >&2; return 1; }
  local r0 n0; r0=$(rss "$BPID"); n0=$(rss "$NSPID")
  record S10-topics "$("${GEN[@]}" scale topics --broker 127.0.0.1:30911 --count "$TOPICS" --queues "$QUEUES" --pid "$BPID")"
  sleep 2
  record S10-rss "{\"broker_rss_kb_before\":$r0,\"broker_rss_kb\":$(rss "$BPID"),\"namesrv_rss_kb_before\":$n0,\"namesrv_rss_kb\":$(rss "$NSPID"),\"compressedRegister\":$COMPRESSED}"
  record S10-register "$("${GEN[@]}" scale register --broker 127.0.0.1:30911 --namesrv 127.0.0.1:29876 --rounds "$ROUNDS_REG")"
  record S10-routes-1x1 "$("${GEN[@]}" scale routes --namesrv 127.0.0.1:29876 --count "$TOPICS" --lookups "$LOOKUPS" --pid "$NSPID")"
  record S10-routes-4x16 "$("${GEN[@]}" scale routes --namesrv 127.0.0.1:29876 --count "$TOPICS" --lookups "$LOOKUPS" --conns 4 --inflight 16 --pid "$NSPID")"
  record S10-rss-after "{\"broker_rss_kb\":$(rss "$BPID"),\"namesrv_rss_kb\":$(rss "$NSPID")}"
  stop
}

s11() {
  dev_broker s11 --topic scale-offsets:8
  perf_start s11
  record S11-offsets "$("${GEN[@]}" scale offsets --broker "$BROKER" --topic scale-offsets --groups "$OFFSET_GROUPS" \
    --queues "$OFFSET_QUEUES" --interval "$INTERVAL" --duration "$S11_SECS" --baseline "$BASELINE" --pid "$BPID" --store-dir "$STORE")"
  perf_stop s11
  record S11-rss "{\"broker_rss_kb\":$(rss "$BPID")}"
  stop
}

s12() {
  dev_broker s12 --topic big:4
  local w0; w0=$(awk '/^write_bytes/ {print $2}' "/proc/$BPID/io")
  perf_start s12
  record S12-produce "$("${GEN[@]}" produce --broker "$BROKER" --topic big --queues 4 --body "$S12_BODY" --conns "$S12_CONNS" \
    --inflight "$S12_INFLIGHT" --total "$S12_MSGS" --warmup 0s --duration 600s --pid "$BPID")"
  perf_stop s12
  record S12-store "{\"store_bytes\":$(du -sb "$STORE" | cut -f1),\"broker_write_bytes\":$(( $(awk '/^write_bytes/ {print $2}' "/proc/$BPID/io") - w0 ))}"
  record S12-too-big "$("${GEN[@]}" produce --broker "$BROKER" --topic big --queues 1 --body $((S12_BODY + 1)) --total 1 --warmup 0s --duration 10s)"
  stop; rm -rf "$ROOT/s12"
  sync
  local mib=$(( S12_BODY * S12_MSGS / 1048576 ))
  local t0 t1
  t0=$(date +%s.%N); taskset -c "$BROKER_CPU" dd if=/dev/zero of="$ROOT/dd" bs=4M count=$((mib / 4)) status=none; t1=$(date +%s.%N)
  record S12-dd-pagecache "{\"mib\":$mib,\"seconds\":$(echo "$t1 - $t0" | bc),\"mb_per_s\":$(echo "$mib * 1.048576 / ($t1 - $t0)" | bc)}"
  rm -f "$ROOT/dd"; sync
  t0=$(date +%s.%N); taskset -c "$BROKER_CPU" dd if=/dev/zero of="$ROOT/dd" bs=4M count=$((mib / 4)) conv=fdatasync status=none; t1=$(date +%s.%N)
  record S12-dd-fdatasync "{\"mib\":$mib,\"seconds\":$(echo "$t1 - $t0" | bc),\"mb_per_s\":$(echo "$mib * 1.048576 / ($t1 - $t0)" | bc)}"
  rm -f "$ROOT/dd"
}

s13() {
  dev_broker s13 --topic deep:"$S13_QUEUES" --topic deep1:1
  local r0 t0 t1; r0=$(rss "$BPID")
  perf_start s13
  t0=$(date +%s.%N)
  record S13-fill "$("${GEN[@]}" produce --broker "$BROKER" --topic deep --queues "$S13_QUEUES" --body "$S13_BODY" --batch 64 \
    --conns 4 --inflight 8 --total $((S13_QUEUES * S13_PER_QUEUE)) --warmup 0s --duration 1800s --pid "$BPID")"
  t1=$(date +%s.%N)
  perf_stop s13
  record S13-fill-deep1 "$("${GEN[@]}" produce --broker "$BROKER" --topic deep1 --queues 1 --body "$S13_BODY" --batch 64 \
    --conns 1 --inflight 8 --total "$S13_DEEP" --warmup 0s --duration 1800s --pid "$BPID")"
  sync
  record S13-store "{\"fill_seconds\":$(echo "$t1 - $t0" | bc),\"store_bytes\":$(du -sb "$STORE" | cut -f1),\"commitlog_bytes\":$(du -sb "$STORE/commitlog" 2>/dev/null | cut -f1),\"consumequeue_bytes\":$(du -sb "$STORE/consumequeue" 2>/dev/null | cut -f1),\"rss_kb_before\":$r0,\"rss_kb\":$(rss "$BPID")}"
  for at in tail head random; do
    record "S13-pull-$at" "$("${GEN[@]}" scale pull-lat --broker "$BROKER" --topic deep --queues "$S13_QUEUES" --at $at --samples "$PULLS" --pid "$BPID")"
  done
  for at in tail head random; do
    record "S13-pull-deep1-$at" "$("${GEN[@]}" scale pull-lat --broker "$BROKER" --topic deep1 --queues 1 --at $at --samples "$PULLS" --pid "$BPID")"
  done
  # cold: the page cache dropped is not possible without root; restart the broker on the same store
  local data=$ROOT/s13; kill "$BPID"; wait "$BPID" 2>/dev/null || true
  rm -f "$data/ready"
  taskset -c "$BROKER_CPU" "$FR" dev --data-dir "$data/store" -c "$data/broker.conf" --ready-file "$data/ready" \
    --topic deep:"$S13_QUEUES" --topic deep1:1 > "$data/log2" 2>&1 < /dev/null &
  BPID=$!; t0=$(date +%s.%N)
  for _ in $(seq 1 6000); do [ -s "$data/ready" ] && break; sleep 0.02; done
  t1=$(date +%s.%N)
  BROKER=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["brokerAddr"])' "$data/ready")
  record S13-restart "{\"ready_seconds\":$(echo "$t1 - $t0" | bc),\"rss_kb\":$(rss "$BPID")}"
  for at in head tail; do
    record "S13-pull-restarted-$at" "$("${GEN[@]}" scale pull-lat --broker "$BROKER" --topic deep --queues "$S13_QUEUES" --at $at --samples "$PULLS" --pid "$BPID")"
  done
  # cold: this store's pages evicted from the page cache (posix_fadvise DONTNEED on its files only;
  # the machine's other caches are left alone), then pulls from the start and at random offsets
  python3 -c 'import os,sys
for d,_,fs in os.walk(sys.argv[1]):
    for f in fs:
        fd=os.open(os.path.join(d,f),os.O_RDONLY); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED); os.close(fd)' "$STORE"
  for at in head random; do
    record "S13-pull-cold-$at" "$("${GEN[@]}" scale pull-lat --broker "$BROKER" --topic deep --queues "$S13_QUEUES" --at $at --samples "$PULLS" --pid "$BPID")"
  done
  record S13-rss-end "{\"broker_rss_kb\":$(rss "$BPID")}"
  stop
}

for s in "${STEPS[@]}"; do
  log "$s"
  "$s"
done
log "done: $RESULTS"
