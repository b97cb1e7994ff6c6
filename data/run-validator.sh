#!/bin/sh
# Runs one validator on the app's data files and reports it as a one-test TAP stream.  A validator that
# is not installed is a skip with the reason, never a pass.
# Usage: run-validator.sh NAME TOOL [ARGS...]   (TOOL: a path or a command name)
name=$1
tool=$2
shift 2

if [ -z "$tool" ] || ! command -v "$tool" >/dev/null 2>&1; then
  echo "1..0 # SKIP $name: ${tool:-the validator} is not installed"
  exit 0
fi

echo "1..1"
# Keep the tool's output out of the TAP stream: show it as diagnostics instead.
output=$("$tool" "$@" 2>&1)
status=$?
if [ -n "$output" ]; then
  printf '%s\n' "$output" | sed 's/^/# /'
fi
if [ $status -eq 0 ]; then
  echo "ok 1 - $name"
else
  echo "not ok 1 - $name (exit status $status)"
fi
exit 0
