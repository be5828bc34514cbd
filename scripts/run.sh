#!/usr/bin/env bash
# README command 1: installs the tools (scripts/setup.sh), builds the release (server binary and
# WASM bundle into target/site) and runs the server from the repository root.
# Configuration passes through: DATABASE_URL, CYBORG_DATA_DIR (./data), LEPTOS_SITE_ADDR
# (127.0.0.1:3000), CYBORG_ADMIN_EMAIL/CYBORG_ADMIN_PASSWORD, CYBORG_SECRET_KEY, RUST_LOG, and
# any command-line arguments (e.g. `bash scripts/run.sh --site-addr 0.0.0.0:8080`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"

bash scripts/setup.sh
# --split: each dashboard page's code becomes its own WASM chunk, fetched when the page is shown
# (app/src/pages.rs); the browser's first download is the shell and the page it opens.
echo "[run] cargo leptos build --release --split"
cargo leptos build --release --split

addr="${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
data_dir="${CYBORG_DATA_DIR:-./data}"
# A --site-addr/--data-dir argument wins over the variables.
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --site-addr) addr="${args[i + 1]:-$addr}" ;;
    --site-addr=*) addr="${args[i]#--site-addr=}" ;;
    --data-dir) data_dir="${args[i + 1]:-$data_dir}" ;;
    --data-dir=*) data_dir="${args[i]#--data-dir=}" ;;
  esac
done
host="${addr%:*}"
port="${addr##*:}"
case "$host" in 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac

cat <<MSG

[run] CyBorgBackup starts on http://$host:$port  (data directory: $data_dir)
[run] Log in at http://$host:$port as ${CYBORG_ADMIN_EMAIL:-admin@cyborg.local}.
MSG
if [ -n "${CYBORG_ADMIN_PASSWORD:-}" ]; then
  echo "[run] Password: the one in CYBORG_ADMIN_PASSWORD (used only when no user exists yet)."
else
  echo "[run] Password: on the first start the server writes a generated one to $data_dir/initial-admin-password"
  echo "[run] (readable by this user only): log in, change it, delete the file. Stop the server with Ctrl-C."
fi
echo
exec ./target/release/cyborgbackup "$@"
