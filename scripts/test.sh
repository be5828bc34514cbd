#!/usr/bin/env bash
# README command 2: runs every test of CyBorgBackup, on a fresh machine too.
#   1. scripts/setup.sh (tools; fast when they are there)
#   2. PostgreSQL on 127.0.0.1:5432 (started when down), leftover cyborg_test_% databases dropped;
#      MariaDB on 127.0.0.1:3306 (started when down; the mysql dump test uses it)
#   3. cargo fmt --check, cargo clippy -D warnings (packages `server`, `cyborg-core`, `cyborg-dto`, `app`; all targets)
#   4. cargo test -p server -p cyborg-core -p cyborg-dto -p migrations -p app against SQLite (unit, integration and doc tests)
#   5. the integration tests of `server` again against PostgreSQL
#   6. cargo leptos build --split (debug), then the end-to-end tests in headless Chromium (end2end/)
# Stops at the first failing step, then prints a summary. The closing line counts tests:
# "N passed, N failed", where a failing step that is not a test run (fmt, clippy, a build)
# counts as one failure.
#
# Never a workspace-wide cargo build/test: it would unify the features of `app` and compile it
# with both `ssr` and `hydrate`. Everything goes through `-p server`/`-p migrations` or cargo-leptos.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

LOG_DIR="$ROOT/target/test-logs"
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log
PASSED=0
FAILED=0
SKIPPED=0
STEPS=()
STEP_NO=0
START=$SECONDS

summary() {
  echo
  echo "================ summary ($((SECONDS - START))s) ================"
  local s
  for s in "${STEPS[@]}"; do echo "  $s"; done
  echo "logs: $LOG_DIR"
  # A full disk fails a build with a bare "Failed to build": say how much was left.
  echo "disk: $(df -h --output=avail "$ROOT" | tail -1 | tr -d ' ') free, target $(du -sh "$ROOT/target" 2>/dev/null | cut -f1)"
  if ((SKIPPED)); then
    echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
  else
    echo "$PASSED passed, $FAILED failed"
  fi
}

# Adds the counts of the test runners' result lines in a log to the totals: cargo's
# "test result: ok. 3 passed; 0 failed; 1 ignored; …" and node's TAP "# pass 3" / "# fail 0".
# Sets COUNTS to the log's own "N passed, N failed, N skipped".
count_tests() {
  local log=$1 p f s
  read -r p f s < <(awk '
    /^test result: / {
      for (i = 1; i <= NF; i++) {
        if ($(i) ~ /^passed;?$/)  p += $(i - 1)
        if ($(i) ~ /^failed;?$/)  f += $(i - 1)
        if ($(i) ~ /^ignored;?$/) s += $(i - 1)
      }
    }
    /^# pass [0-9]+$/    { p += $3 }
    /^# fail [0-9]+$/    { f += $3 }
    /^# skipped [0-9]+$/ { s += $3 }
    /^# todo [0-9]+$/    { s += $3 }
    END { printf "%d %d %d\n", p, f, s }' "$log")
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  SKIPPED=$((SKIPPED + s))
  COUNTS="$p passed, $f failed, $s skipped"
}

# step KIND NAME COMMAND…: KIND is "test" (its result lines are counted) or "check".
step() {
  local kind=$1 name=$2
  shift 2
  STEP_NO=$((STEP_NO + 1))
  local log
  log="$LOG_DIR/$(printf '%02d' "$STEP_NO")-${name//[^A-Za-z0-9]/-}.log"
  local t0=$SECONDS rc=0
  echo
  echo "==> [$STEP_NO] $name"
  "$@" 2>&1 | tee "$log" || rc=$?
  local took=$((SECONDS - t0)) counts=""
  if [ "$kind" = test ]; then
    count_tests "$log"
    counts=" ($COUNTS)"
  fi
  if ((rc == 0)); then
    STEPS+=("ok     ${took}s  $name$counts")
  else
    STEPS+=("FAILED ${took}s  $name$counts (exit $rc; log: $log)")
    # A failing step whose runner reported no failed test still counts as one failure.
    if [ "$kind" != test ] || ! grep -qE '^test result: FAILED|^# fail [1-9]' "$log"; then
      FAILED=$((FAILED + 1))
    fi
    summary
    exit "$rc"
  fi
}

ensure_postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "PostgreSQL does not answer on 127.0.0.1:5432: starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    local _
    for _ in $(seq 1 60); do
      pg_isready -q -h 127.0.0.1 -p 5432 && break
      sleep 0.5
    done
  fi
  pg_isready -h 127.0.0.1 -p 5432
  # Databases left behind by killed test runs. One still in use (a test running elsewhere on this
  # machine) refuses DROP without FORCE and is left alone.
  local db
  for db in $(psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'cyborg\_test\_%'"); do
    if psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE \"$db\"" 2>/dev/null; then
      echo "dropped leftover database $db"
    else
      echo "left $db alone (in use)"
    fi
  done
}

ensure_mariadb() {
  if ! mysqladmin -h 127.0.0.1 -u root --connect-timeout=2 ping >/dev/null 2>&1; then
    echo "MariaDB does not answer on 127.0.0.1:3306: starting it"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    local _
    for _ in $(seq 1 60); do
      mysqladmin -h 127.0.0.1 -u root --connect-timeout=2 ping >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  mysqladmin -h 127.0.0.1 -u root --connect-timeout=2 ping
}

step check "setup" bash scripts/setup.sh
step check "postgresql" ensure_postgres
step check "mariadb" ensure_mariadb
step check "cargo fmt --check" cargo fmt --all -- --check --color never
step check "cargo clippy" cargo clippy -p server -p cyborg-core -p cyborg-dto -p app --all-targets -- -D warnings
step test "cargo test (SQLite)" env CYBORG_TEST_DB=sqlite cargo test --no-fail-fast -p server -p cyborg-core -p cyborg-dto -p migrations -p app
# Only the integration tests (server/tests/it/, and download.rs on its own) read CYBORG_TEST_DB, so the second run is limited
# to them (`--test it --test download`): the unit and doc tests do not depend on the backend and ran above.
step test "cargo test (PostgreSQL)" env CYBORG_TEST_DB=postgres cargo test --no-fail-fast -p server --test it --test download
# --split as scripts/run.sh builds it: the end-to-end tests load the pages from their chunks.
step check "cargo leptos build --split" cargo leptos build --split
step test "end-to-end (Chromium)" node --test end2end/tests/*.test.mjs

summary
