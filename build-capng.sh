#!/bin/sh
# Build libcap-ng from Debian's source package with musl-gcc into $1.
# usage: build-capng.sh PREFIX KERNEL_INCLUDE_DIR
set -eu
prefix=$1 kinc=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# apt-get source needs a deb-src entry for the archive already configured.
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	src=/etc/apt/sources.list.d/debian.sources
	[ -f "$src" ] || { echo "no $src to derive a deb-src entry from" >&2; exit 1; }
	sed 's/^Types: deb$/Types: deb-src/' "$src" > /etc/apt/sources.list.d/vial-deb-src.sources
	apt-get update -q
fi
cd "$work"
apt-get source -q --download-only libcap-ng
dpkg-source -x libcap-ng_*.dsc src >/dev/null
cd src
CC=musl-gcc CFLAGS="-Os -ffunction-sections -fdata-sections" CPPFLAGS="-isystem $kinc" ./configure -q --prefix="$prefix" \
	--disable-shared --enable-static --without-python --without-python3 >/dev/null
make -s -C src >/dev/null
make -s -C src install >/dev/null
echo "libcap-ng built for musl in $prefix"
