#!/bin/sh
# Build a small busybox root file system image.
# usage: mkimage.sh OUT.sqfs [PROBE] [FORMAT]   FORMAT: squashfs (default), ext4, erofs, dir
set -eu
out=$1 probe=${2:-} fmt=${3:-squashfs}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"
mkdir -p "$root/bin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" \
	"$root/var/tmp" "$root/home" "$root/usr/bin" "$root/root"
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
done
if [ -n "$probe" ]; then
	cp "$probe" "$root/bin/probe"
	# a setuid-root copy (must not escalate) and a device node (must not open)
	cp "$probe" "$root/bin/suprobe" && chmod 4755 "$root/bin/suprobe"
	mkdir -p "$root/devnode" && mknod -m 0666 "$root/devnode/null" c 1 3
	cp "$probe" "$root/bin/xprobe" && chmod 0711 "$root/bin/xprobe"
fi
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
printf 'NAME="vial demo (busybox)"\n' > "$root/etc/os-release"
chmod 1777 "$root/tmp" "$root/var/tmp"
case $fmt in
squashfs) mksquashfs "$root" "$out" -noappend -all-root -quiet -comp gzip >/dev/null ;;
ext4) mkfs.ext4 -q -F -d "$root" -E root_owner=0:0 "$out" 8M >/dev/null ;;
erofs) mkfs.erofs --all-root --quiet "$out" "$root" >/dev/null ;;
dir) rm -rf "$out"; cp -a "$root" "$out"; chown -R 0:0 "$out" ;;
*) echo "unknown format $fmt" >&2; exit 1 ;;
esac
