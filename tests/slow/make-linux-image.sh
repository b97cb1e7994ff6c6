#!/bin/sh
# make-linux-image.sh — builds the slow suite's Linux test image from Debian packages: the stock kernel's
# bzImage, the uncompressed ELF vmlinux inside it (booted through its PVH note) and a busybox initramfs.
# needs: apt dpkg tar coreutils findutils lz4 xz-utils gzip cpio busybox-static binutils
#
# The kernel is Debian's cloud flavour (linux-image-cloud-amd64): the same 6.1 kernel as the generic one,
# with fewer drivers built in and an LZ4-compressed bzImage.  Where guest ring 0 is emulated (about 1-2
# million instructions per second) the generic kernel's xz payload takes over 15 minutes to unpack itself
# (measured with QEMU here); the cloud kernel's LZ4 payload about 3 minutes.
#
# Usage: make-linux-image.sh [--status FILE] OUTDIR
#
# Writes OUTDIR/bzImage, OUTDIR/vmlinux, OUTDIR/initramfs.cpio.gz and OUTDIR/kernel-package. Work whose
# outputs exist and are newer than this script (and, for the kernel, come from the package apt would pick
# now) is skipped, so running it again is cheap. Nothing is installed into the system: the package is
# fetched with `apt-get download` and unpacked inside OUTDIR.
#
# With --status FILE the script records "ok" or "error: <why>" in FILE and exits 0 even on failure: the
# build then goes on and the slow tests skip themselves showing that reason. Without it a failure exits 1.
#
# VIREO_SLOW_KERNEL_PACKAGE=linux-image-X-amd64 picks another kernel package than the one
# linux-image-cloud-amd64 depends on.

set -eu

status_file=
if [ "${1:-}" = "--status" ]; then
  [ $# -ge 2 ] || { echo "make-linux-image.sh: --status needs a file name" >&2; exit 2; }
  status_file=$2
  shift 2
fi
if [ $# -ne 1 ]; then
  echo "usage: make-linux-image.sh [--status FILE] OUTDIR" >&2
  exit 2
fi
outdir=$1
script=$0

# With --status, a command that fails unexpectedly (set -e) must still leave a reason behind.
on_exit ()
{
  rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$status_file" ] && [ ! -s "$status_file" ]; then
    printf 'error: make-linux-image.sh stopped unexpectedly (exit %s); run it by hand to see why\n' "$rc" \
      > "$status_file"
    exit 0
  fi
}
trap on_exit EXIT

# Every failure goes through here so the message names the step and the fix.
fail ()
{
  echo "make-linux-image.sh: error: $*" >&2
  if [ -n "$status_file" ]; then
    printf 'error: %s\n' "$*" > "$status_file"
    exit 0
  fi
  exit 1
}

need_tool ()
{
  command -v "$1" > /dev/null 2>&1 || fail "'$1' not found; install the Debian package $2"
}

# True when every named file exists and is newer than this script.
up_to_date ()
{
  for f in "$@"; do
    [ -s "$f" ] && [ "$f" -nt "$script" ] || return 1
  done
  return 0
}

# Little-endian unsigned integer of $3 bytes at offset $2 of file $1.
read_le ()
{
  od -An -tu"$3" -j "$2" -N "$3" "$1" | tr -d ' \n'
}

need_tool od coreutils
need_tool tar tar
need_tool cpio cpio
need_tool gzip gzip
need_tool readelf binutils

mkdir -p "$outdir" || fail "cannot create $outdir"
outdir=$(cd "$outdir" && pwd)
[ -n "$status_file" ] && rm -f "$status_file"

# --- the kernel package --------------------------------------------------------------------------------

# apt-cache only reads the local lists, so asking it is cheap; without lists we can still reuse what an
# earlier run fetched.
package=${VIREO_SLOW_KERNEL_PACKAGE:-}
if [ -z "$package" ] && command -v apt-cache > /dev/null 2>&1; then
  package=$(apt-cache depends linux-image-cloud-amd64 2> /dev/null \
              | sed -n 's/^ *Depends: \(linux-image-[^ ]*-amd64\)$/\1/p' | head -n 1) || package=
fi
version=
if [ -n "$package" ]; then
  version=$(apt-cache policy "$package" 2> /dev/null | sed -n 's/^ *Candidate: //p' | head -n 1) || version=
  [ "$version" = "(none)" ] && version=
fi
wanted="$package $version"

have=
[ -f "$outdir/kernel-package" ] && have=$(cat "$outdir/kernel-package")

if up_to_date "$outdir/bzImage" "$outdir/vmlinux" "$outdir/kernel-package" \
   && { [ -z "$version" ] || [ "$have" = "$wanted" ]; }; then
  echo "make-linux-image.sh: kernel up to date ($have)"
else
  [ -z "${VIREO_SLOW_KERNEL_PACKAGE:-}" ] || [ -n "$version" ] || \
    fail "apt has no candidate for VIREO_SLOW_KERNEL_PACKAGE=$package (misspelt, or run 'apt-get update')"
  [ -n "$package" ] && [ -n "$version" ] || \
    fail "cannot tell which linux-image-*-amd64 package to use: 'apt-cache depends linux-image-cloud-amd64' \
found none (run 'apt-get update' first, or set VIREO_SLOW_KERNEL_PACKAGE)"
  need_tool apt-get apt
  need_tool dpkg-deb dpkg
  echo "make-linux-image.sh: fetching $package $version"

  work="$outdir/kernel.tmp"
  rm -rf "$work"
  mkdir -p "$work"
  # apt-get download writes into the current directory; as root it warns that _apt cannot write there,
  # which is harmless.
  (cd "$work" && apt-get download "$package=$version") > "$work/download.log" 2>&1 \
    || fail "'apt-get download $package=$version' failed: $(tail -n 3 "$work/download.log" | tr '\n' ' ')"
  deb=$(ls "$work"/*.deb 2> /dev/null | head -n 1)
  [ -n "$deb" ] || fail "'apt-get download $package' produced no .deb"

  # Only /boot is needed; the modules would be hundreds of megabytes unpacked.
  mkdir -p "$work/root"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/root" --wildcards './boot/vmlinuz-*' \
    || fail "unpacking /boot/vmlinuz-* from $deb failed"
  vmlinuz=$(ls "$work"/root/boot/vmlinuz-* 2> /dev/null | head -n 1)
  [ -n "$vmlinuz" ] || fail "$deb has no /boot/vmlinuz-*"

  # A bzImage says where its compressed kernel is (boot protocol 2.08+): payload_offset (0x248) counts
  # from the start of the protected-mode code, which follows the (setup_sects + 1) * 512 bytes of setup.
  [ "$(read_le "$vmlinuz" 514 4)" = 1400005704 ] || fail "$vmlinuz is not a bzImage (no HdrS signature)"
  protocol=$(read_le "$vmlinuz" 518 2)
  [ "$protocol" -ge 520 ] || fail "$vmlinuz uses boot protocol $protocol, older than 2.08 (no payload fields)"
  setup_sects=$(read_le "$vmlinuz" 497 1)
  [ "$setup_sects" -ne 0 ] || setup_sects=4
  payload_offset=$(read_le "$vmlinuz" 584 4)
  payload_length=$(read_le "$vmlinuz" 588 4)
  start=$(( (setup_sects + 1) * 512 + payload_offset ))
  size=$(wc -c < "$vmlinuz")
  [ "$payload_length" -gt 0 ] && [ $(( start + payload_length )) -le "$size" ] \
    || fail "$vmlinuz: payload ($start + $payload_length) lies outside the file ($size bytes)"

  # The payload's magic names the compressor (the kernel's CONFIG_KERNEL_*: Debian 12's generic kernel
  # uses xz, its cloud kernel lz4). The kernel build appends the uncompressed size after the stream, which
  # some tools call trailing garbage, so their exit status is ignored: the checks below decide.
  magic=$(od -An -tx1 -j "$start" -N 6 "$vmlinuz" | tr -d ' \n')
  case $magic in
    1f8b*)         tool=gzip;  pkg=gzip;      decompress="gzip -dc" ;;
    fd377a585a00)  tool=xz;    pkg=xz-utils;  decompress="xz -dc --single-stream" ;;
    5d0000*)       tool=xz;    pkg=xz-utils;  decompress="xz -dc --format=lzma" ;;
    28b52ffd*)     tool=zstd;  pkg=zstd;      decompress="zstd -dcq" ;;
    425a68*)       tool=bzip2; pkg=bzip2;     decompress="bzip2 -dc" ;;
    02214c18*)     tool=lz4;   pkg=lz4;       decompress="lz4 -dc" ;;
    *)             fail "$vmlinuz: unknown compression (payload starts with $magic)" ;;
  esac
  need_tool "$tool" "$pkg"
  tail -c +$(( start + 1 )) "$vmlinuz" | head -c "$payload_length" | $decompress > "$work/vmlinux" \
    2> "$work/decompress.log" || true
  [ "$(od -An -tx1 -N 4 "$work/vmlinux" | tr -d ' \n')" = 7f454c46 ] \
    || fail "decompressing the $tool payload of $vmlinuz gave no ELF: $(head -n 2 "$work/decompress.log")"
  # Whatever the compressor, the payload ends with the uncompressed size (gzip's own trailer, or the
  # size the kernel build appends to the others): a short read shows up here.
  expected_size=$(read_le "$vmlinuz" $(( start + payload_length - 4 )) 4)
  actual_size=$(wc -c < "$work/vmlinux")
  [ "$actual_size" -eq "$expected_size" ] \
    || fail "decompressing the $tool payload of $vmlinuz gave $actual_size bytes, not $expected_size: \
$(head -n 2 "$work/decompress.log")"
  # XEN_ELFNOTE_PHYS32_ENTRY is note type 18 (0x12) of owner "Xen"; binutils prints it as unknown.
  readelf -nW "$work/vmlinux" | grep -q '^ *Xen .*(0x00000012)' \
    || fail "$vmlinuz's vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY note: it cannot be booted through PVH"

  # The package's timestamps are older than this script; the outputs must look fresh to up_to_date.
  touch "$vmlinuz" "$work/vmlinux"
  mv -f "$vmlinuz" "$outdir/bzImage"
  mv -f "$work/vmlinux" "$outdir/vmlinux"
  echo "$wanted" > "$outdir/kernel-package"
  rm -rf "$work"
  echo "make-linux-image.sh: kernel $wanted: bzImage ($tool payload) and vmlinux written"
fi

# --- the initramfs -------------------------------------------------------------------------------------

busybox=/bin/busybox
[ -x "$busybox" ] || fail "$busybox not found; install the Debian package busybox-static"
# A dynamically linked busybox (Debian's "busybox" package) would need its libraries in the image.
if readelf -lW "$busybox" | grep -q 'INTERP'; then
  fail "$busybox is dynamically linked; install the Debian package busybox-static"
fi

if up_to_date "$outdir/initramfs.cpio.gz" && [ "$outdir/initramfs.cpio.gz" -nt "$busybox" ]; then
  echo "make-linux-image.sh: initramfs up to date"
else
  tree="$outdir/initramfs.tmp"
  rm -rf "$tree"
  mkdir -p "$tree/bin" "$tree/dev" "$tree/proc" "$tree/sys"
  cp "$busybox" "$tree/bin/busybox"
  # The archive holds no device nodes (creating them needs root), so /init mounts devtmpfs and takes
  # its console from there; the kernel may have found no /dev/console to give it.
  cat > "$tree/init" << 'EOF'
#!/bin/busybox sh
/bin/busybox mkdir -p /dev /proc /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec < /dev/console > /dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "vireo-slow: userspace up"
echo "vireo-slow: cpus=$(nproc)"
poweroff -f
EOF
  chmod 755 "$tree/init"
  # Fixed timestamps and owners make the archive the same byte for byte on every run.
  find "$tree" -exec touch -h -d @0 {} +
  (cd "$tree" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --reproducible --quiet) \
    | gzip -9n > "$outdir/initramfs.tmp.gz" || fail "creating the initramfs with cpio and gzip failed"
  mv -f "$outdir/initramfs.tmp.gz" "$outdir/initramfs.cpio.gz"
  rm -rf "$tree"
  echo "make-linux-image.sh: initramfs written"
fi

[ -n "$status_file" ] && echo ok > "$status_file"
exit 0
