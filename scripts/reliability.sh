#!/usr/bin/env bash
# The long reliability run: kill loops, power-loss simulation, hostile input, floods, full disk.
# Runs the same tests as CI (tests/reliability_*.rs) with long sizes, collects the
# RELIABILITY_RESULT lines and prints a markdown results table.
#
#   scripts/reliability.sh            # the long run (about 20 minutes on 2 cores)
#   scripts/reliability.sh --short    # the CI sizes (about 3 minutes)
#   RELIABILITY_SEED=123 scripts/reliability.sh   # reproduce a run
#
# Any RELIABILITY_* variable set by the caller wins over the defaults below (see
# docs/reliability.md). Everything is bounded: each test has its own timeout here.
# All traffic goes to 127.0.0.1.
set -uo pipefail
cd "$(dirname "$0")/.."

short=0
[[ "${1:-}" == "--short" ]] && short=1

out_dir="${RELIABILITY_OUT:-target/reliability}"
mkdir -p "$out_dir"
results="$out_dir/results.jsonl"
: > "$results"
export RELIABILITY_RESULTS="$PWD/$results"

long() { # name value: default a knob for the long run unless the caller set it
  if [[ $short == 0 && -z "${!1:-}" ]]; then export "$1=$2"; fi
}
long RELIABILITY_KILL_CYCLES_ASYNC 300
long RELIABILITY_KILL_CYCLES_SYNC 100
long RELIABILITY_KILL_CYCLES_PL_SYNC 60
long RELIABILITY_KILL_CYCLES_PL_ASYNC 60
long RELIABILITY_FUZZ_INPUTS 10000000
long RELIABILITY_FUZZ_SECS 420
long RELIABILITY_WIRE_FUZZ_REQUESTS 200000
long RELIABILITY_IDLE_CONNS 10000
long RELIABILITY_SLOW_READER_LIMIT $((16 << 20))
long RELIABILITY_PIPELINE_SENDS 100000
long RELIABILITY_PIPELINE_PULLS 20000
long RELIABILITY_BACKLOG 300000
long RELIABILITY_BACKLOG_READ 100000
long RELIABILITY_DISK_FULL_MIB 64

# 10 000 connections need more than the usual 1024 descriptors (the broker inherits this).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "building test binaries..." >&2
cargo test --no-run --test reliability_killloop --test reliability_fuzz --test reliability_flood \
  --test reliability_disk_full --test reliability_wire_fuzz >&2 || exit 1

failed=()
run() { # label timeout_s test_binary [filter] [extra env...]
  local label=$1 limit=$2 bin=$3 filter=${4:-}
  shift 4 || shift $#
  echo "== $label" >&2
  if ! env "$@" timeout "$limit" cargo test -q --test "$bin" -- --nocapture --test-threads=1 $filter \
      > "$out_dir/$label.log" 2>&1; then
    failed+=("$label")
    echo "   FAILED (see $out_dir/$label.log)" >&2
    grep -E "panicked|assert" "$out_dir/$label.log" | head -5 >&2
  fi
}

started=$(date +%s)
run killloop      1200 reliability_killloop  ""
run fuzz           900 reliability_fuzz      ""
run wire_fuzz      600 reliability_wire_fuzz ""
run flood          900 reliability_flood     ""
# The same backlog without UNIQ_KEY properties (no key-index entries): the store alone.
if [[ $short == 0 ]]; then
  run backlog_10m_nokeys 900 reliability_flood backlog RELIABILITY_NO_UNIQ_KEY=1 \
    RELIABILITY_BACKLOG="${RELIABILITY_BACKLOG_NOKEYS:-10000000}" RELIABILITY_BACKLOG_READ=1000000
fi
run disk_full      300 reliability_disk_full ""
elapsed=$(( $(date +%s) - started ))

python3 - "$results" "$elapsed" <<'EOF'
import json, sys
rows = [json.loads(l.split(" ", 1)[1] if l.startswith("RELIABILITY_RESULT") else l) for l in open(sys.argv[1]) if l.strip()]
def kib(v): return "-" if v is None else f"{v/1024:.0f} MiB"
print(f"| test | figures |\n|---|---|")
for r in rows:
    f = r["figures"]; t = r["test"]
    if t.startswith("killloop"):
        s = (f"{f['cycles']} kills ({f['flush']}{', power loss ' + str(f['damage_modes']) if f['power_loss'] else ''}), "
             f"{f['acknowledged']} acknowledged, lost {f['lost']}, duplicated {f['duplicated']}, reordered {f['reordered']}, "
             f"garbled {f['garbled']}, offset holes {f['offset_holes']}")
        if f['power_loss'] and f['flush'] == 'Async':
            s += f", unsynced acknowledged dropped {f['lost_allowed']} (oldest {f['lost_allowed_max_age_ms']} ms before the crash)"
    elif t == "fuzz_stable":
        s = (f"{f['inputs']} inputs x {f['targets']} targets, {f['panics']} panics, {f['inputs_over_1s']} inputs over 1 s "
             f"(slowest {f['slowest_input_ms']} ms), {f['inputs_per_sec']}/s, peak RSS {kib(f['peak_rss_kib'])}")
    elif t == "wire_fuzz":
        s = (f"{f['requests']} hostile requests to a live broker and name server: answers {f['answers_by_code']}, "
             f"broker alive {f['broker_alive']}, panics in log {f['panics_in_log']}, unanswered (held pulls) {f['timeouts']}, "
             f"files outside the data dir {len(f['files_outside_data_dir'])}, invalid topic dirs {len(f['odd_topic_dirs'])}")
    elif t == "flood_idle_connections":
        s = (f"{f['connections']} idle connections, {f['still_open']} still open, {f['rss_per_connection_kib']} KiB RSS per connection "
             f"({kib(f['rss_before_kib'])} -> {kib(f['rss_after_kib'])}), other client served: {f['healthy_client_served']}")
    elif t == "flood_slow_reader":
        s = (f"non-reading client asked for {f['answer_bytes_requested']>>20} MiB of answers, limit {f['limit_bytes']>>20} MiB: "
             f"closed {f['closed']} ({f['how']}), peak RSS {kib(f['peak_rss_kib'])}, other client served: {f['healthy_client_served']}")
    elif t.startswith("flood_pipelined"):
        s = (f"{f['requests']} pipelined on one connection, cap {f['in_flight_cap']}: answers {f['answers_by_code']}, "
             f"unanswered {f['unanswered']}, SYSTEM_BUSY {f['system_busy']}, peak RSS {kib(f['peak_rss_kib'])}")
    elif t == "flood_backlog_slow_consumer":
        s = (f"backlog {f['backlog']} ({'with' if f.get('uniq_keys', True) else 'without'} UNIQ_KEY), slow consumer read {f['consumed']}: "
             f"RSS after produce {kib(f['rss_after_produce_kib'])}, idle {kib(f.get('rss_after_idle_kib'))}, peak {kib(f['peak_rss_kib'])}")
    elif t == "disk_full":
        if "skipped" in f:
            s = "skipped: " + f["skipped"]
        else:
            s = (f"tmpfs {f['tmpfs_mib']} MiB: answers {f['answers_by_code']} (14 = SERVICE_NOT_AVAILABLE), "
                 f"{f['acknowledged']} acknowledged, readable while full {f['read_while_full']}, sends resumed after "
                 f"{f['sends_resumed_after_attempts']} retries, lost after restart {f['lost']}")
    else:
        s = json.dumps(f)
    print(f"| {t} | {s} |")
print(f"\n{len(rows)} results in {sys.argv[2]} s")
EOF
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
