#!/bin/sh
# vireod-lean.sh — the privileged service holds no guest-facing code: no vCPU, device, boot or display
# symbol of the core and no SPICE library in vireod (it validates with libvireo-hv-limits alone).  TAP.
#   vireod-lean.sh VIREOD
set -u
vireod=$1
echo "1..2"
core=$(nm "$vireod" | grep -E ' [TtDdBb] (hv_(vm|vcpu|virtio|virtqueue|pci|serial|i8042|rtc|bochs|spice|boot|pvh|bzimage|acpi|aml|irq|bus|memory|snapshot|restore|msix|iothread|kvm|xt|input|display)_)' | head -5)
if [ -z "$core" ]; then echo "ok 1 no core code beyond the limits in vireod"
else echo "not ok 1 no core code beyond the limits in vireod"; echo "$core" | sed 's/^/# /'; fi
spice=$(ldd "$vireod" | grep -i spice)
if [ -z "$spice" ]; then echo "ok 2 vireod does not load libspice-server"
else echo "not ok 2 vireod does not load libspice-server"; echo "# $spice"; fi
