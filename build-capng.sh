#!/bin/sh
# libcap-ng for vial's static musl build, in two steps:
#
#   build-capng.sh fetch SRC_DIR
#       (make deps, needs the network and root) Debian's source package
#       into SRC_DIR with apt-get source, adding a deb-src entry for the
#       archive already configured when there is none.
#   build-capng.sh build SRC_DIR PREFIX KERNEL_INCLUDE_DIR
#       (make, offline) build it with musl-gcc and install the static
#       library and header into PREFIX. SRC_DIR holds Debian's source
#       package (libcap-ng_*.dsc with its tarballs) or an upstream release
#       tarball (libcap-ng-*.tar.gz, https://people.redhat.com/sgrubb/libcap-ng/).
set -eu

fetch() {
	dir=$1
	# apt-get source needs a deb-src entry for the archive.
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
	mkdir -p "$dir"
	(cd "$dir" && apt-get source -q --download-only libcap-ng)
}

build() {
	dir=$(cd "$1" && pwd) prefix=$2 kinc=$3
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	cd "$work"
	if ls "$dir"/libcap-ng_*.dsc >/dev/null 2>&1; then
		dpkg-source -x "$(ls "$dir"/libcap-ng_*.dsc | tail -1)" src >/dev/null
	else
		mkdir src
		tar -xzf "$(ls "$dir"/libcap-ng-*.tar.gz | tail -1)" -C src --strip-components=1
	fi
	cd src
	[ -x configure ] || { echo "build-capng.sh: no configure script in the source" >&2; exit 1; }
	CC=musl-gcc CFLAGS="-Os -ffunction-sections -fdata-sections" CPPFLAGS="-isystem $kinc" \
		./configure -q --prefix="$prefix" --disable-shared --enable-static \
		--without-python --without-python3 >/dev/null
	make -s -C src >/dev/null
	make -s -C src install >/dev/null
	echo "libcap-ng built for musl in $prefix"
}

case ${1:-}/$# in
fetch/2) fetch "$2" ;;
build/4) build "$2" "$3" "$4" ;;
*)
	echo "usage: build-capng.sh fetch SRC_DIR | build SRC_DIR PREFIX KERNEL_INCLUDE_DIR" >&2
	exit 2
	;;
esac
