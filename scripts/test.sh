#!/usr/bin/env bash
# The one test command: builds ferrocket and runs every suite against it.
#
#   bash scripts/test.sh                 # all default stages
#   bash scripts/test.sh rust python     # only these stages
#
# Stages: build, rust (cargo nextest: unit + wire tests), python (C++ client via PyPI rocketmq),
# pygrpc (the official 5.x Python SDK, PyPI rocketmq-python-client, over gRPC), console (the web console
# in headless Chromium from Debian's packages, driven by Selenium; screenshots in target/console-screenshots), node (ali-ons),
# nodegrpc (the official 5.x Node SDK, npm rocketmq-client-nodejs, over gRPC), rustclient (rocketmq-client-rust),
# rustgrpc (the official 5.x Rust SDK, crates.io rocketmq 5.0.0, over gRPC); FERROCKET_TEST_RUST_CLIENT=0 skips
# the last two (separate crates, long first builds).
# Installs what it needs (.venv, .venv-grpc, .venv-console, chromium, node_modules) on a fresh machine. Prints a header per stage, a
# summary per stage and, last, one line "N passed, N failed" (tests; a stage that fails without
# reporting tests counts as one failure). Exits non-zero if anything failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TERM_COLOR=never
# A one-off build needs no incremental cache (it doubles the target directory), and
# the client projects under tests/clients get the broker's debug-info policy too.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
export FERROCKET_BIN="${FERROCKET_BIN:-$ROOT/target/debug/ferrocket}"
LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/ferrocket-test.XXXXXX")"
trap 'rm -rf "$LOGDIR"' EXIT

if [ "$#" -gt 0 ]; then
  STAGES="$*"
else
  STAGES="build rust python pygrpc console node nodegrpc"
  # rocketmq-client-rust builds in ~5 CPU-minutes the first time; FERROCKET_TEST_RUST_CLIENT=0 skips it.
  if [ "${FERROCKET_TEST_RUST_CLIENT:-1}" = "1" ]; then STAGES="$STAGES rustclient rustgrpc"; fi
fi

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()

header() {
  echo
  echo "=================================================================="
  echo "== stage: $1"
  echo "=================================================================="
  # the disk left, so a run that fills it says so before anything fails
  echo "disk: $(df -h . | awk 'NR==2 {print $4 " free of " $2}'), target: $(du -sh target 2>/dev/null | cut -f1)"
}

# record STAGE RC PASSED FAILED: a failing stage with no failed tests counts as one failure.
record() {
  local stage="$1" rc="$2" passed="${3:-0}" failed="${4:-0}"
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  TOTAL_PASSED=$((TOTAL_PASSED + passed))
  TOTAL_FAILED=$((TOTAL_FAILED + failed))
  local status="ok"
  [ "$rc" -ne 0 ] && status="FAILED (exit $rc)"
  SUMMARY+=("$(printf '%-11s %-18s %s passed, %s failed' "$stage" "$status" "$passed" "$failed")")
}

# sum_matches FILE REGEX: sum the numbers of every "<n> <word>" match (ANSI codes stripped).
sum_matches() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -oE "$2" | grep -oE '^[0-9]+' | awk '{s+=$1} END {print s+0}'
}

stage_build() {
  header "build (cargo build --bins)"
  timeout 2400 cargo build --bins
  local rc=$?
  record build "$rc" 0 0
  return "$rc"
}

stage_rust() {
  header "rust (unit tests + through-the-wire tests)"
  local log="$LOGDIR/rust.log" rc passed failed
  if cargo nextest --version >/dev/null 2>&1; then
    timeout 1800 cargo nextest run --profile ci 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    passed=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E 'Summary \[' | grep -oE '[0-9]+ passed' | tail -1 | grep -oE '^[0-9]+')
    failed=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E 'Summary \[' | grep -oE '[0-9]+ (failed|timed out)' | grep -oE '^[0-9]+' | awk '{s+=$1} END {print s+0}')
  else
    echo "(cargo-nextest not found: using cargo test)"
    timeout 1800 cargo test --no-fail-fast 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    passed=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ passed' | grep -oE '^[0-9]+' | awk '{s+=$1} END {print s+0}')
    failed=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ failed' | grep -oE '^[0-9]+' | awk '{s+=$1} END {print s+0}')
  fi
  record rust "$rc" "${passed:-0}" "${failed:-0}"
}

# ensure_venv DIR REQUIREMENTS: a venv with the suite's packages (python3-venv installed if missing).
ensure_venv() {
  local dir="$1" reqs="$2"
  if [ ! -x "$dir/bin/python" ]; then
    echo "creating $dir"
    if ! python3 -m venv "$dir"; then
      echo "python3 -m venv failed; installing python3-venv"
      apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv "$dir" || return 1
    fi
  fi
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs"
}

# pytest_stage STAGE VENV SUITE_DIR TIMEOUT: run a pytest suite in its venv and record its counts.
pytest_stage() {
  local stage="$1" venv="$2" dir="$3" limit="$4" log="$LOGDIR/$1.log" rc
  if ! ensure_venv "$venv" "$dir/requirements.txt"; then
    record "$stage" 1 0 0
    return 1
  fi
  (cd "$dir" && timeout "$limit" "$ROOT/$venv/bin/python" -m pytest -v) 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local line passed failed
  line=$(grep -E '^=+ .*(passed|failed|error|no tests ran).* =+$' "$log" | tail -1)
  passed=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '^[0-9]+')
  failed=$(echo "$line" | grep -oE '[0-9]+ (failed|error|errors)' | grep -oE '^[0-9]+' | awk '{s+=$1} END {print s+0}')
  record "$stage" "$rc" "${passed:-0}" "${failed:-0}"
}

stage_python() {
  header "python (Apache C++ client through PyPI rocketmq)"
  pytest_stage python .venv tests/python 1200
}

# The 5.x SDK's import name `rocketmq` is also the 4.x client's: a venv of its own.
stage_pygrpc() {
  header "pygrpc (official 5.x Python SDK rocketmq-python-client over gRPC)"
  pytest_stage pygrpc .venv-grpc tests/python_grpc 900
}

# The web console in a real browser: Debian's chromium and chromium-driver, driven by Selenium.
stage_console() {
  header "console (web console in headless Chromium, Selenium)"
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver (Debian packages)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) || { record console 1 0 0; return 1; }
  fi
  export FERROCKET_CONSOLE_SHOTS="${FERROCKET_CONSOLE_SHOTS:-$ROOT/target/console-screenshots}"
  pytest_stage console .venv-console tests/console 600
  echo "console screenshots: $FERROCKET_CONSOLE_SHOTS"
}

stage_node() {
  header "node (ali-ons)"
  local log="$LOGDIR/node.log" rc
  if ! command -v node >/dev/null 2>&1; then
    echo "node not found; installing nodejs"
    apt-get update -qq && apt-get install -y -qq nodejs npm || { record node 1 0 0; return 1; }
  fi
  (cd tests/clients/node && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund)) || { record node 1 0 0; return 1; }
  (cd tests/clients/node && timeout 600 node --test --test-force-exit --test-concurrency=1 test/) 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local passed failed
  passed=$(grep -E '^# pass [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  failed=$(grep -E '^# (fail|cancelled) [0-9]+' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
  record node "$rc" "${passed:-0}" "${failed:-0}"
}

stage_nodegrpc() {
  header "nodegrpc (official 5.x Node.js SDK rocketmq-client-nodejs over gRPC)"
  local log="$LOGDIR/nodegrpc.log" rc
  if ! command -v node >/dev/null 2>&1; then
    echo "node not found; installing nodejs"
    apt-get update -qq && apt-get install -y -qq nodejs npm || { record nodegrpc 1 0 0; return 1; }
  fi
  (cd tests/clients/node5 && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund)) || { record nodegrpc 1 0 0; return 1; }
  (cd tests/clients/node5 && timeout 600 node --test --test-force-exit --test-concurrency=1 test/) 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local passed failed
  passed=$(grep -E '^# pass [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  failed=$(grep -E '^# (fail|cancelled) [0-9]+' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
  record nodegrpc "$rc" "${passed:-0}" "${failed:-0}"
}

stage_rustclient() {
  header "rustclient (rocketmq-client-rust 1.0.0; separate crate, long first build)"
  local log="$LOGDIR/rustclient.log" rc
  (cd tests/clients/rust && timeout 2400 cargo test --tests) 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local passed failed
  passed=$(sum_matches "$log" '[0-9]+ passed')
  failed=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ failed' | grep -oE '^[0-9]+' | awk '{s+=$1} END {print s+0}')
  record rustclient "$rc" "${passed:-0}" "${failed:-0}"
}

stage_rustgrpc() {
  header "rustgrpc (official 5.x Rust SDK rocketmq 5.0.0 over gRPC; separate crate)"
  local log="$LOGDIR/rustgrpc.log" rc
  (cd tests/clients/rust5 && timeout 2400 cargo test --tests) 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local passed failed
  passed=$(sum_matches "$log" '[0-9]+ passed')
  failed=$(grep -E '^test result:' "$log" | grep -oE '[0-9]+ failed' | grep -oE '^[0-9]+' | awk '{s+=$1} END {print s+0}')
  record rustgrpc "$rc" "${passed:-0}" "${failed:-0}"
}

BUILD_OK=1
for s in $STAGES; do
  case "$s" in
    build) stage_build || BUILD_OK=0 ;;
    rust|python|pygrpc|console|node|nodegrpc|rustclient|rustgrpc)
      if [ "$BUILD_OK" -eq 0 ]; then
        header "$s"
        echo "skipped: the build failed"
        record "$s" 1 0 0
      else
        "stage_$s"
      fi
      ;;
    *) echo "unknown stage: $s (build rust python pygrpc console node nodegrpc rustclient rustgrpc)"; record "$s" 2 0 0 ;;
  esac
done

echo
echo "=================================================================="
echo "== summary"
echo "=================================================================="
for line in "${SUMMARY[@]}"; do echo "$line"; done
echo "${TOTAL_PASSED} passed, ${TOTAL_FAILED} failed"
[ "$TOTAL_FAILED" -eq 0 ]
