#!/bin/bash
# readme-gdbus.sh — the README's "Scripting with gdbus" blocks, pasted whole into a fresh session (no
# vireod yet), then again beside a machine of the user's own called "Demo": both pastes must work, and the
# user's machine must come through untouched.  TAP output.
#   readme-gdbus.sh SOURCE-DIR BUILD-DIR
set -u
src=$1
build=$(cd "$2" && pwd)

echo "1..3"
if ! { exec 3<>/dev/kvm; } 2>/dev/null; then
  echo "ok 1 # SKIP needs /dev/kvm, which cannot be opened"
  echo "ok 2 # SKIP needs /dev/kvm"
  echo "ok 3 # SKIP needs /dev/kvm"
  exit 0
fi
exec 3>&-

# Every sh block of the section (machines, then checkpoints), one after the other.
block=$(awk '/^## / { section = /^## Scripting with gdbus/ } section && /^```sh/ { inside = 1; next }
             inside && /^```/ { inside = 0; next } inside { print }' "$src/README.md")
[ -n "$block" ] || { echo "not ok 1 the README has no gdbus block"; exit 1; }
grep -q "Checkpoint.Apply" <<<"$block" || { echo "not ok 1 the README's gdbus section shows no checkpoints"; exit 1; }

# The block runs where a user would paste it: a checkout whose build folder is "build".
work=$(mktemp -d "${TMPDIR:-/tmp}/vireo-readme-XXXXXX")
trap 'pkill -KILL -f -- "$work" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/checkout" "$work/data" "$work/runtime"
chmod 700 "$work/runtime"
ln -s "$build" "$work/checkout/build"
export XDG_DATA_HOME=$work/data XDG_RUNTIME_DIR=$work/runtime

dbus-run-session -- bash -s "$work" "$block" <<'SESSION'
work=$1 block=$2
cd "$work/checkout"
bus() { gdbus call --session --dest org.vireo.Vireo1 "$@"; }

# -e: a line that fails fails the paste, not only the last one.
if bash -e -c "$block" >"$work/paste1.log" 2>&1; then echo "ok 1 first paste, no service running yet"; sed "s/^/# /" "$work/paste1.log"
else echo "not ok 1 first paste, no service running yet"; sed 's/^/# /' "$work/paste1.log"; fi

demo=$(bus --object-path /org/vireo/Vireo1 --method org.vireo.Vireo1.Manager.CreateMachine \
  "{'name': <'Demo'>, 'kernel': <'$PWD/build/tests/guests/demo.elf'>}" | grep -o "/org/vireo/Vireo1/machines/[0-9a-f_]*")

if bash -e -c "$block" >"$work/paste2.log" 2>&1; then echo "ok 2 second paste"
else echo "not ok 2 second paste"; sed 's/^/# /' "$work/paste2.log"; fi

# The Default Switch (an org.vireo.Vireo1.Switch object) has a Name too; it is always there.
names=$(bus --object-path /org/vireo/Vireo1 --method org.freedesktop.DBus.ObjectManager.GetManagedObjects |
  grep -o "'Name': <'[^']*'>" | grep -vx "'Name': <'Default Switch'>")
if [ -n "$demo" ] && [ "$names" = "'Name': <'Demo'>" ]; then echo "ok 3 the user's own machine is untouched, nothing left behind"
else echo "not ok 3 the user's own machine is untouched, nothing left behind"; echo "# machines now: $names"; fi
# The service the block started outlives it, as it would in a user's session: end it here.
pid=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.GetConnectionUnixProcessID org.vireo.Vireo1 | grep -o '[0-9]\+' | tail -1)
[ -n "$pid" ] && kill -TERM "$pid"
SESSION
