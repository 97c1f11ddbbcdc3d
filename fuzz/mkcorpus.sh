#!/bin/sh
# Regenerate the binary seed corpora, fuzz/corpus/sif, fuzz/corpus/image and
# fuzz/corpus/ldcache (kept in the tree; run.sh fuzzes copies). Needs
# mksquashfs, mkfs.erofs, mkfs.ext2, siftool, python3, gcc and glibc's ldconfig. Each seed is a small, real instance of what
# the parser reads. The other corpora are short text inputs in the formats
# their harnesses describe, edited by hand.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Tiny real file systems, and a real SIF made by siftool around one.
mkdir -p "$tmp/root/etc"
echo hello >"$tmp/root/etc/hello"
mksquashfs "$tmp/root" "$tmp/fs.sqfs" -noappend -all-root -quiet -comp gzip >/dev/null
mkfs.erofs --all-root --quiet "$tmp/fs.erofs" "$tmp/root" >/dev/null
mkfs.ext2 -q -F -b 1024 -N 16 -d "$tmp/root" "$tmp/fs.ext" 64 >/dev/null
siftool new "$tmp/real.sif" >/dev/null
siftool add "$tmp/real.sif" "$tmp/fs.sqfs" --datatype 4 --parttype 2 --partfs 1 \
	--partarch 2 >/dev/null

# Compact SIFs (descriptors right after the header) for what siftool
# does not write: several descriptors, other architectures, encryption.
python3 - "$tmp" <<'EOF'
import struct, sys
tmp = sys.argv[1]
fs = open(f"{tmp}/fs.sqfs", "rb").read()
# The first 2 KiB of the ext2 image, its block count cut to match them.
ext = bytearray(open(f"{tmp}/fs.ext", "rb").read()[:2048])
ext[1028:1032] = struct.pack("<I", 2)
open(f"{tmp}/ext-head", "wb").write(ext)

def desc(dtype, did, off, size, fstype=0, parttype=0, arch=b"02\0", used=1):
    d = struct.pack("<IBIIIQQQqqQQ", dtype, used, did, 0xF0000000, 0, off, size, size,
                    0, 0, 0, 0)
    d += b"name".ljust(128, b"\0")
    extra = struct.pack("<ii", fstype, parttype) + arch if dtype == 0x4004 else b""
    d += extra.ljust(384, b"\0")
    assert len(d) == 585
    return d

def sif(descs, payloads, arch=b"02\0", script=b"#!/usr/bin/env run-singularity\n"):
    n = len(descs)
    data_off = 128 + n * 585
    out, blobs, off = [], b"", data_off
    for d, p in zip(descs, payloads):
        out.append(d(off, len(p)))
        blobs += p
        off += len(p)
    hdr = script.ljust(32, b"\0") + b"SIF_MAGIC\0" + b"01\0" + arch + bytes(16)
    hdr += struct.pack("<qqqqqqqq", 0, 0, 0, n, 128, n * 585, data_off, len(blobs))
    assert len(hdr) == 128
    return hdr + b"".join(out) + blobs

def part(fstype=1, parttype=2, arch=b"02\0", did=2):
    return lambda off, size: desc(0x4004, did, off, size, fstype, parttype, arch)

def other(dtype, did):
    return lambda off, size: desc(dtype, did, off, size)

seeds = {
    "squashfs.sif": sif([part()], [fs]),
    "three.sif": sif([other(0x4001, 1), part(), other(0x4005, 3)],
                     [b"Bootstrap: scratch\n", fs, b"sig"]),
    "ext3.sif": sif([part(fstype=2)], [bytes(ext)]),
    "arm64.sif": sif([part(arch=b"04\0")], [fs], arch=b"04\0"),
    "encrypted.sif": sif([part(fstype=5)], [fs]),
    "twoprimary.sif": sif([part(), part(did=3)], [fs, fs]),
    "system-only.sif": sif([part(parttype=1)], [fs]),
}
for name, data in seeds.items():
    open(f"{tmp}/{name}", "wb").write(data)
EOF

# ld.so.caches as glibc's ldconfig writes them, in its three formats, for a
# small tree (a chroot: none of the host's libraries) with a soname chain.
mkdir -p "$tmp/ld/etc" "$tmp/ld/opt/nv" "$tmp/ld/lib" "$tmp/ld/usr/lib"
echo 'int f(void) { return 0; }' >"$tmp/e.c"
for lib in libcuda.so.1 libnvidia-ml.so.1 libz.so.1; do
	gcc -shared -fPIC -Wl,-soname,$lib -o "$tmp/ld/opt/nv/$lib.550" "$tmp/e.c"
done
ln -s libcuda.so.1 "$tmp/ld/opt/nv/libcuda.so"
echo /opt/nv >"$tmp/ld/etc/ld.so.conf"
for f in new old compat; do
	ldconfig -r "$tmp/ld" -c $f -C /cache.$f -f /etc/ld.so.conf
done

mkdir -p corpus/sif corpus/image corpus/ldcache
rm -f corpus/sif/* corpus/image/* corpus/ldcache/*
cp "$tmp/ld/cache.new" corpus/ldcache/new
cp "$tmp/ld/cache.old" corpus/ldcache/old
cp "$tmp/ld/cache.compat" corpus/ldcache/compat
cp "$tmp"/*.sif corpus/sif/

cp "$tmp/fs.sqfs" corpus/image/squashfs
cp "$tmp/fs.erofs" corpus/image/erofs
cp "$tmp/fs.ext" corpus/image/ext2
cp "$tmp/real.sif" corpus/image/real.sif
cp "$tmp/squashfs.sif" "$tmp/ext3.sif" corpus/image/
{ printf '#!/usr/bin/env run-singularity\n'; cat "$tmp/fs.sqfs"; } >corpus/image/legacy-squashfs
cp "$tmp/ext-head" corpus/image/ext2-head
head -c 2048 "$tmp/fs.ext" >corpus/image/ext2-truncated
chmod 644 corpus/*/*
