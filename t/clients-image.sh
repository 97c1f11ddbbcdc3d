#!/bin/bash
# The workflow clients' image: a real Debian 12 (minbase, plus python3, its
# `python` name and bash) from debootstrap, as squashfs and as SIF.
# usage: clients-image.sh DIR   makes DIR/debian12.sqfs and DIR/debian12.sif
# when missing (a rebuild only when one is missing: debootstrap takes minutes).
# The archive is the one apt uses here (deb.debian.org or its mirror in
# /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list).
set -euo pipefail
dir=$1
sqfs=$dir/debian12.sqfs sif=$dir/debian12.sif
[ -s "$sqfs" ] && [ -s "$sif" ] && exit 0
mkdir -p "$dir"
# one build at a time (two checkouts' runs may share nothing else)
exec 8>"$dir/.build.lock"
flock 8
[ -s "$sqfs" ] && [ -s "$sif" ] && exit 0

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' \
	/etc/apt/sources.list 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}

root=
trap 'rm -rf "$root" "$sqfs.tmp" "$sif.tmp"' EXIT
if [ ! -s "$sqfs" ]; then
	root=$(mktemp -d "$dir/root.XXXXXX")
	chmod 755 "$root"
	start=$SECONDS
	debootstrap --variant=minbase --include=python3,python-is-python3,bash \
		bookworm "$root" "$mirror" > "$dir/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$dir/debootstrap.log" >&2; exit 1; }
	echo "debootstrap: $((SECONDS - start)) s" >&2
	# no package cache, lists or logs in the image; a runscript as Singularity's
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
		"$root"/var/log/*.log "$root"/var/cache/debconf/*-old
	mkdir -p "$root/.singularity.d"
	printf '#!/bin/sh\nexec "$@"\n' > "$root/.singularity.d/runscript"
	chmod 755 "$root/.singularity.d/runscript"
	mksquashfs "$root" "$sqfs.tmp" -noappend -all-root -quiet -comp gzip >/dev/null
	chmod 644 "$sqfs.tmp"
	mv "$sqfs.tmp" "$sqfs"
	rm -rf "$root"
fi
# SIF: the squashfs as the primary system partition, for this machine
case $(dpkg --print-architecture) in
amd64) arch=2 ;; i386) arch=1 ;; armhf|armel) arch=3 ;; arm64) arch=4 ;; ppc64el) arch=6 ;;
s390x) arch=8 ;; *) echo "no SIF architecture code for $(dpkg --print-architecture)" >&2; exit 1 ;;
esac
rm -f "$sif.tmp"
siftool new "$sif.tmp" >/dev/null
siftool add "$sif.tmp" "$sqfs" --datatype 4 --parttype 2 --partfs 1 --partarch $arch >/dev/null
chmod 644 "$sif.tmp"
mv "$sif.tmp" "$sif"
