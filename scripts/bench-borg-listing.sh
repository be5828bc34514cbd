#!/usr/bin/env bash
# Times a real `borg list --json-lines` of a real archive beside the catalog's ingestion of the
# same listing. A tree of FILES small files (default 200,000) is archived twice with borg, 1 % of
# the files changed in between; both listings are timed as borg writes them to a file (borg
# 1.2, local repository, no encryption: the fastest borg gets), then ingested as a lineage of
# two archives by the catalog_ingest benchmark (CYBORG_BENCH_LISTINGS), on SQLite, and on
# PostgreSQL too when CYBORG_BENCH_PG is set.
# Usage: bash scripts/bench-borg-listing.sh   (Debian's borgbackup; ~5 min on 2 cores)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES="${FILES:-200000}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export BORG_PASSPHRASE="" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes TZ=UTC
export BORG_BASE_DIR="$WORK/base"
mkdir -p "$WORK/src" "$WORK/base"
python3 - "$WORK/src" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"site{i // 10000:03}", f"dir{i // 100 % 100:02}")
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file-{i:07}.txt"), "w") as f:
        f.write(str(i))
PY
borg init -e none "$WORK/repo"
(cd "$WORK/src" && borg create "$WORK/repo::one" .)
python3 - "$WORK/src" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(0, n, 100):  # 1 %: one file in a hundred grows
    p = os.path.join(root, f"site{i // 10000:03}", f"dir{i // 100 % 100:02}", f"file-{i:07}.txt")
    with open(p, "a") as f:
        f.write(" changed")
PY
(cd "$WORK/src" && borg create "$WORK/repo::two" .)
for a in one two; do
  start=$(date +%s.%N)
  borg list --json-lines "$WORK/repo::$a" > "$WORK/$a.jsonl"
  end=$(date +%s.%N)
  lines=$(wc -l < "$WORK/$a.jsonl")
  python3 -c 'import sys; s = float(sys.argv[2]) - float(sys.argv[1]); n = int(sys.argv[4]); print(f"borg list --json-lines ::{sys.argv[3]}: {n} lines in {s:.2f} s = {n / s:.0f} lines/s")' \
    "$start" "$end" "$a" "$lines"
done
cd "$ROOT"
CYBORG_BENCH_LISTINGS="$WORK/one.jsonl,$WORK/two.jsonl" cargo bench -p server --bench catalog_ingest 2>/dev/null \
  | grep -E "archive [12]:"
