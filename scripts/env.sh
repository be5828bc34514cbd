# shellcheck shell=bash
# Source this file (`. scripts/env.sh`); it changes nothing outside the current shell.
# Puts the project's tools first on PATH:
#   - cargo's bin directory (cargo-leptos, wasm-bindgen), and
#   - .tools/binaryen/node_modules/.bin (wasm-opt 123 from npm), ahead of /usr/bin so that Debian's
#     binaryen 108 wasm-opt, if installed, is never used: its output breaks hydration.
CYBORG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CYBORG_ROOT
_cyborg_cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
_cyborg_binaryen_bin="$CYBORG_ROOT/.tools/binaryen/node_modules/.bin"
case ":$PATH:" in
  "$_cyborg_binaryen_bin:$_cyborg_cargo_bin:"*) ;;
  *) PATH="$_cyborg_binaryen_bin:$_cyborg_cargo_bin:$PATH" ;;
esac
export PATH
unset _cyborg_cargo_bin _cyborg_binaryen_bin
