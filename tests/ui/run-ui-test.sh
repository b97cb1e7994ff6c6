#!/bin/sh
# run-ui-test.sh — runs one GTK test program on a private X server (xvfb-run) with the renderer named first
# (gl: GTK's default, what users get, here through Mesa; cairo: GTK's software renderer),
# in a temporary folder of its own: whatever way the program ends, the machines it started (their workers
# outlive vireod by design) are ended and the folder removed.  Without xvfb-run the test is reported
# skipped (TAP), never passed.
set -u
export GDK_BACKEND=x11 NO_AT_BRIDGE=1 GTK_A11Y=none
case "${1:-}" in
  # GTK chooses, as it does for users; the tests check that it chose GL (a silent fallback to cairo
  # would test the wrong thing).
  gl) unset GSK_RENDERER; export VIREO_UI_RENDERER=GskGLRenderer ;;
  cairo) export GSK_RENDERER=cairo VIREO_UI_RENDERER=GskCairoRenderer ;;
  *) echo "usage: $0 gl|cairo TEST-PROGRAM [ARGS...]" >&2; exit 2 ;;
esac
shift
if [ -n "${VIREO_UI_SCREENSHOTS:-}" ]; then
  export VIREO_UI_SCREENSHOTS=$VIREO_UI_SCREENSHOTS/${VIREO_UI_RENDERER#Gsk}
  mkdir -p "$VIREO_UI_SCREENSHOTS"
fi
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "1..0 # SKIP no display for GTK: install xvfb (it provides xvfb-run)"
  exit 0
fi
# Short: unix socket paths under it (the workers' sockets) must stay within 107 bytes.
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/vu-XXXXXX")
export TMPDIR
xvfb-run -a -s "-screen 0 1600x1200x24 -nolisten tcp" "$@"
status=$?
if [ "$status" -ne 0 ]; then
  # What the service and its workers said: the test's own log shows only the app's side.
  for log in "$TMPDIR"/*/vireod.log; do
    [ -f "$log" ] && { echo "--- $log (last lines)" >&2; tail -n 60 "$log" >&2; }
  done
fi
pkill -TERM -f -- "$TMPDIR" 2>/dev/null
sleep 1
pkill -KILL -f -- "$TMPDIR" 2>/dev/null
rm -rf "$TMPDIR"
exit $status
