#!/bin/sh
# make-grub-images.sh — bootable media with Debian's GRUB for the slow suite's firmware boots: a disk image
# with GRUB in its MBR and a FAT partition holding the test kernel, and a CD image made by grub-mkrescue.
# needs: grub-pc-bin mtools xorriso coreutils
#
# Usage: make-grub-images.sh LINUXDIR OUTDIR CMDLINE
#
# LINUXDIR holds bzImage and initramfs.cpio.gz (make-linux-image.sh). Writes OUTDIR/grub-disk.img (raw,
# 64 MiB, MBR) and OUTDIR/grub-cd.iso (El Torito, BIOS). GRUB's menu and the kernel's console are on
# COM1; the menu entry boots /boot/bzImage with CMDLINE after a 2 s timeout.
#
# The disk is put together the way grub-install would, without loop devices or root: an MBR partition
# table written byte by byte, a FAT file system made and filled with mtools at the partition's offset,
# GRUB's boot.img in the MBR's code area and a core.img (grub-mkimage) in the gap before the partition.
# boot.img loads sector 1 and core.img's first sector loads the sectors after it: those are the defaults
# the two images are built with, so nothing needs patching.

set -eu

fail ()
{
  echo "make-grub-images.sh: error: $*" >&2
  exit 1
}

[ $# -eq 3 ] || { echo "usage: make-grub-images.sh LINUXDIR OUTDIR CMDLINE" >&2; exit 2; }
linux=$1
outdir=$2
cmdline=$3
grubdir=/usr/lib/grub/i386-pc

for tool in grub-mkimage:grub-pc-bin grub-mkrescue:grub-pc-bin mformat:mtools mcopy:mtools mmd:mtools \
            xorriso:xorriso; do
  command -v "${tool%%:*}" > /dev/null 2>&1 || fail "'${tool%%:*}' not found; install the Debian package ${tool#*:}"
done
[ -f "$grubdir/boot.img" ] || fail "$grubdir/boot.img not found; install the Debian package grub-pc-bin"
for f in bzImage initramfs.cpio.gz; do
  [ -s "$linux/$f" ] || fail "$linux/$f is missing (make-linux-image.sh builds it)"
done
mkdir -p "$outdir"

# Rebuilt when the script, the kernel, the initramfs or the command line changed.
stamp="$outdir/grub-images.stamp"
want="$(cksum < "$0") $(stat -c %Y "$linux/bzImage" "$linux/initramfs.cpio.gz" | tr '\n' ' ') $cmdline"
if [ -s "$outdir/grub-disk.img" ] && [ -s "$outdir/grub-cd.iso" ] && [ -f "$stamp" ] \
   && [ "$(cat "$stamp")" = "$want" ]; then
  echo "make-grub-images.sh: GRUB images up to date"
  exit 0
fi

work="$outdir/grub.tmp"
rm -rf "$work"
mkdir -p "$work/root/boot/grub"
cp "$linux/bzImage" "$linux/initramfs.cpio.gz" "$work/root/boot/"
cat > "$work/root/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=2
menuentry 'Vireo slow-suite kernel' {
  linux /boot/bzImage $cmdline
  initrd /boot/initramfs.cpio.gz
}
EOF

# --- the disk ------------------------------------------------------------------------------------------

disk="$work/grub-disk.img"
truncate -s 64M "$disk"
# One active FAT32 (LBA) partition, type 0x0c, from sector 2048 to the end (129024 sectors); CHS fields
# say "use LBA". Then the boot signature.
printf '\200\376\377\377\014\376\377\377\000\010\000\000\000\370\001\000' \
  | dd of="$disk" bs=1 seek=446 conv=notrunc status=none
printf '\125\252' | dd of="$disk" bs=1 seek=510 conv=notrunc status=none
mformat -i "$disk@@1M" -F -v VIREOGRUB :: || fail "mformat could not make the FAT file system"
mmd -i "$disk@@1M" ::/boot ::/boot/grub
mcopy -i "$disk@@1M" "$work/root/boot/grub/grub.cfg" ::/boot/grub/
mcopy -i "$disk@@1M" "$work/root/boot/bzImage" "$work/root/boot/initramfs.cpio.gz" ::/boot/
grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' \
  biosdisk part_msdos fat normal linux serial terminal configfile echo test \
  || fail "grub-mkimage failed"
core_sectors=$(( ($(wc -c < "$work/core.img") + 511) / 512 ))
[ "$core_sectors" -lt 2047 ] || fail "core.img ($core_sectors sectors) does not fit before the partition"
# The first 440 bytes of boot.img: its code, not the partition table that follows.
dd if="$grubdir/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none

# --- the CD --------------------------------------------------------------------------------------------

grub-mkrescue -o "$work/grub-cd.iso" "$work/root" > "$work/mkrescue.log" 2>&1 \
  || fail "grub-mkrescue failed: $(tail -n 3 "$work/mkrescue.log" | tr '\n' ' ')"

mv -f "$disk" "$outdir/grub-disk.img"
mv -f "$work/grub-cd.iso" "$outdir/grub-cd.iso"
rm -rf "$work"
echo "$want" > "$stamp"
echo "make-grub-images.sh: grub-disk.img and grub-cd.iso written"
