#!/bin/bash
# run.sh — builds the fuzz targets with clang and libFuzzer (in build-fuzz/, or $FUZZ_BUILD_DIR) and runs
# each for SECONDS (default 25) from its corpus in tests/fuzz/corpus/.  Prints one TAP line per target and
# exits non-zero when any found a crash, whose input is kept under build-fuzz/tests/fuzz/crashes/.
#
# Usage: tests/fuzz/run.sh [SECONDS [TARGET...]]     e.g. tests/fuzz/run.sh 3600 loader
set -uo pipefail

seconds=${1:-25}
shift $(( $# > 0 ? 1 : 0 ))
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$src/build-fuzz}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for dir in "$src"/tests/fuzz/corpus/*/; do
    targets+=("$(basename "$dir")")
  done
fi

# -fsanitize=fuzzer-no-link: the code under test reports coverage to libFuzzer, which only the targets link.
if [ ! -f "$build/build.ninja" ]; then
  setup_log=$(mktemp)
  CC=${FUZZ_CC:-clang-14} meson setup "$build" "$src" -Dfuzzing=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link >"$setup_log" 2>&1 \
    || { cat "$setup_log"; rm -f "$setup_log"; rm -rf "$build"; exit 1; }
  rm -f "$setup_log"
fi
meson compile -C "$build" "${targets[@]/#/fuzz-}" || exit 1

FUZZ_SECONDS=$seconds meson test -C "$build" --suite fuzz --no-rebuild --print-errorlogs "${targets[@]/#/fuzz-}"
