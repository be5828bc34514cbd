#!/usr/bin/env bash
# Installs what building and testing CyBorgBackup needs, and skips whatever is already there:
#   Debian: borgbackup, openssh-server, openssh-client, procps (ps, pkill), socat (pull mode: the
#           client's end of the forwarded socket), chromium, ca-certificates, postgresql-client and
#           mariadb-client (pg_dump, psql, mysqldump, mysql: the dump tests)
#   rustup: the wasm32-unknown-unknown target
#   cargo:  cargo-leptos 0.3.10 (--locked), wasm-bindgen-cli at exactly Cargo.lock's wasm-bindgen
#   npm:    binaryen 123 (wasm-opt >= 116) into .tools/binaryen; end2end/'s packages
# Nothing is exported globally: scripts/env.sh puts the tools on PATH for the scripts that source it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"

CARGO_LEPTOS_VERSION=0.3.10
BINARYEN_VERSION=123
WASM_OPT_MIN=116
APT_PACKAGES=(borgbackup openssh-server openssh-client procps socat chromium ca-certificates
  postgresql-client mariadb-client)

say() { printf '[setup] %s\n' "$*"; }
SECONDS=0

# --- Debian packages -------------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
  say "apt: installing ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq
  # Recommends included: Chromium's fonts come that way, and that is the set the e2e tests were run with.
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
  say "apt: ${APT_PACKAGES[*]} already installed"
fi

# --- Rust target -----------------------------------------------------------------------------
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rustup: wasm32-unknown-unknown already installed"
else
  say "rustup: adding wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# --- cargo-leptos ----------------------------------------------------------------------------
have="$(cargo leptos --version 2>/dev/null || true)"
if [ "$have" = "cargo-leptos $CARGO_LEPTOS_VERSION" ]; then
  say "cargo-leptos $CARGO_LEPTOS_VERSION already installed"
else
  # Newer versions and unlocked installs need a newer rustc than 1.95 (see shared/TOOLCHAIN.md).
  say "cargo: installing cargo-leptos $CARGO_LEPTOS_VERSION (found: ${have:-none}; ~12 min on 2 cores)"
  cargo install "cargo-leptos@$CARGO_LEPTOS_VERSION" --locked
fi

# --- wasm-bindgen-cli, exactly the lockfile's version ---------------------------------------
wb_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if [ -z "$wb_version" ]; then
  echo "[setup] cannot read the wasm-bindgen version from Cargo.lock" >&2
  exit 1
fi
have="$(wasm-bindgen --version 2>/dev/null || true)"
if [ "$have" = "wasm-bindgen $wb_version" ]; then
  say "wasm-bindgen-cli $wb_version already installed"
else
  # Without --locked: a dependency locked by that release was yanked from crates.io.
  say "cargo: installing wasm-bindgen-cli $wb_version (found: ${have:-none}; ~2 min)"
  cargo install wasm-bindgen-cli --version "$wb_version" --force
fi

# --- wasm-opt (binaryen from npm; never Debian's 108) ----------------------------------------
wasm_opt="$ROOT/.tools/binaryen/node_modules/.bin/wasm-opt"
wasm_opt_version() { "$wasm_opt" --version 2>/dev/null | sed -n 's/^wasm-opt version \([0-9]*\).*/\1/p'; }
have="$(wasm_opt_version || true)"
if [ -n "$have" ] && [ "$have" -ge "$WASM_OPT_MIN" ]; then
  say "wasm-opt $have already installed in .tools/binaryen"
else
  say "npm: installing binaryen@$BINARYEN_VERSION into .tools/binaryen (found: ${have:-none})"
  mkdir -p .tools/binaryen
  npm install --prefix .tools/binaryen --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION"
  have="$(wasm_opt_version || true)"
  if [ -z "$have" ] || [ "$have" -lt "$WASM_OPT_MIN" ]; then
    echo "[setup] wasm-opt in .tools/binaryen is not >= $WASM_OPT_MIN (got: ${have:-nothing})" >&2
    exit 1
  fi
fi
found="$(command -v wasm-opt || true)"
if [ "$found" != "$wasm_opt" ]; then
  echo "[setup] the first wasm-opt on PATH is '$found', not $wasm_opt" >&2
  exit 1
fi

# --- end2end packages ------------------------------------------------------------------------
# npm ci is skipped when node_modules was installed from this very lockfile.
stamp=end2end/node_modules/.cyborg-lock.sha256
want="$(sha256sum end2end/package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "end2end: node packages up to date"
else
  say "end2end: npm ci"
  npm ci --prefix end2end --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

say "ready in ${SECONDS}s: $(cargo leptos --version), $(wasm-bindgen --version), wasm-opt $(wasm_opt_version), $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium ?')"
