#!/bin/sh
# Build libcap-ng from Debian's source package with musl-gcc into $1.
# usage: build-capng.sh PREFIX KERNEL_INCLUDE_DIR
set -eu
prefix=$1 kinc=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# apt-get source needs a deb-src entry for the archive already configured.
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	# the same archive as the binary packages, in whichever format it is
	src=/etc/apt/sources.list.d/debian.sources
	if [ -f "$src" ]; then
		sed 's/^Types: deb$/Types: deb-src/' "$src" > /etc/apt/sources.list.d/vial-deb-src.sources
	elif grep -qs '^deb ' /etc/apt/sources.list; then
		sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/vial-deb-src.list
	else
		echo "build-capng.sh: no Debian archive configured to add a deb-src entry for" >&2
		exit 1
	fi
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
