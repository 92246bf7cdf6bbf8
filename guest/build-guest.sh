#!/usr/bin/env bash
# Builds the tiny test guest from Debian packages: the kernel of Debian's linux-image package
# (extracted with dpkg -x, nothing installed) and a busybox initramfs whose init runs `dirtier`,
# a workload that keeps rewriting guest RAM and checks it (see dirtier.c).
#
# Usage: guest/build-guest.sh OUTDIR   ->  OUTDIR/vmlinuz, OUTDIR/vmlinux (the same kernel
# unpacked for a PVH boot, when it has the entry point), OUTDIR/initrd.img
# Kernel arguments the init understands: dwcp.mib=N (region size), dwcp.rate=MIB_PER_S,
# dwcp.write=page|line (rewrite whole pages, or one 64-byte line of a stable page),
# dwcp.sweep=SECONDS (how long the workload takes to check its whole region once; default 2.5).
set -euo pipefail
out=${1:?usage: build-guest.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -s "$out/vmlinuz" ]; then
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$pkg" ] || { echo "build-guest: cannot resolve the linux-image-amd64 kernel package" >&2; exit 1; }
  (cd "$work" && apt-get download "$pkg" >/dev/null)
  dpkg -x "$work"/linux-image-*.deb "$work/kernel"
  cp "$work"/kernel/boot/vmlinuz-* "$out/vmlinuz.tmp"
  mv "$out/vmlinuz.tmp" "$out/vmlinuz"
  rm -f "$out/vmlinux"
fi
# The same kernel unpacked, which QEMU boots through PVH without decompressing it (about 5 s
# sooner under TCG); guest/trial.py boots the bzImage when there is none.
if [ ! -s "$out/vmlinux" ] && python3 "$here/pvh-kernel.py" "$out/vmlinuz" "$out/vmlinux.tmp"; then
  mv "$out/vmlinux.tmp" "$out/vmlinux"
fi
rm -f "$out/vmlinux.tmp"

root="$work/root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp}
cp /bin/busybox "$root/bin/busybox"
gcc -O2 -static -o "$root/bin/dirtier" "$here/dirtier.c"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mib=64; rate=8; write=page; sweep=2.5
for a in $(cat /proc/cmdline); do
  case $a in dwcp.mib=*) mib=${a#dwcp.mib=};; dwcp.rate=*) rate=${a#dwcp.rate=};; dwcp.write=*) write=${a#dwcp.write=};; dwcp.sweep=*) sweep=${a#dwcp.sweep=};; esac
done
echo 0 > /proc/sys/kernel/printk
exec /bin/dirtier "$mib" "$rate" "$write" "$sweep" > /dev/console 2>&1
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.img.tmp"
mv "$out/initrd.img.tmp" "$out/initrd.img"
echo "$out/vmlinuz $out/initrd.img"
