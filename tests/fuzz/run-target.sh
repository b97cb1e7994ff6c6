#!/bin/bash
# run-target.sh — runs one libFuzzer target for $FUZZ_SECONDS (default 25) from its committed corpus and
# reports the result as TAP; the meson test of the fuzz suite (tests/fuzz/meson.build).
#
# Usage: run-target.sh FUZZER NAME CORPUS
# New inputs go to $G_TEST_BUILDDIR/fuzz/work/NAME (the committed corpus is only read); a crashing input is
# saved in $G_TEST_BUILDDIR/fuzz/crashes/NAME/ and named in the failure, with the sanitizer's report.
set -uo pipefail

fuzzer=$1
name=$2
corpus=$3
seconds=${FUZZ_SECONDS:-25}
out=${G_TEST_BUILDDIR:-.}/fuzz
work=$out/work/$name
crashes=$out/crashes/$name
log=$out/$name.log

mkdir -p "$work" "$crashes"
echo "1..1"
# UBSan reports end the run like ASan's; a leak is a finding too.  -timeout: one input taking 10 s is a hang.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
  "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$crashes/" "$work" "$corpus" >"$log" 2>&1
status=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
if [ $status -eq 0 ]; then
  echo "ok 1 fuzz-$name: ${runs:-?} inputs in $seconds s, ${coverage:-?} coverage points, no crash"
  exit 0
fi
artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
echo "not ok 1 fuzz-$name: the fuzzer failed (exit $status); input: ${artifact:-none saved}, log: $log"
# The report, on stderr, which meson test --print-errorlogs shows: what failed and where.
grep -E -m 1 -B 5 -A 40 'ERROR|runtime error:' "$log" >&2
exit 1
