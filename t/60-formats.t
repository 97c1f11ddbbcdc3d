#!/bin/bash
# Every image format vial mounts (squashfs, ext, erofs, SIF, Singularity 2.x,
# directories), the site's format policy, `vial inspect`, and damaged or
# crafted images of each: exit 255, one line naming the image, no hang.
. "$(dirname "$0")/lib.sh"
setup

IDS="uid=$UID1,$UID1,$UID1 gid=$GID1,$GID1,$GID1 "

# mk OUT FORMAT: a busybox image with the probe, root-owned, mode 0644.
mk() {
	"$TOP/t/mkimage.sh" "$1" "$TOP/t/probe" "$2" >/dev/null
	chmod 644 "$1" 2>/dev/null || chmod 755 "$1"
}
# runs NAME IMAGE: the unprivileged caller runs `probe ids` in IMAGE.
runs() {
	vial exec "$2" probe ids
	like "$RC $OUT" "^0 $IDS" "$1 runs probe ids as the caller"
	[ "$RC" = 0 ] || diag "$ERR"
	clean "$1"
}
# refused NAME IMAGE REGEX: exit 255, exactly one line, naming the image,
# within 30 s (timeout's 124 would show a hang).
refused() {
	run as $TU timeout 30 "$VIAL" exec "$2" probe ids
	is "$RC" 255 "$1: exit 255"
	is "$(printf '%s\n' "$ERR" | wc -l)" 1 "$1: one line on stderr"
	like "$ERR" "^vial: (cannot open image )?$2: $3" "$1: says why, naming the image"
	clean "$1"
}
# poke FILE OFFSET STRUCT-FORMAT VALUE...: write packed values into FILE.
poke() {
	python3 - "$@" <<'EOF'
import struct, sys
f, off, fmt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
vals = [v.encode() if fmt.endswith('s') else int(v, 0) for v in sys.argv[4:]]
with open(f, 'r+b') as h:
    h.seek(off)
    h.write(struct.pack(fmt, *vals))
EOF
}
# sif OUT FSIMAGE PARTFS [ARCH]: a SIF holding FSIMAGE as primary partition.
sif() {
	rm -f "$1"
	siftool new "$1" >/dev/null &&
	siftool add "$1" "$2" --datatype 4 --parttype 2 --partfs "$3" --partarch "${4:-2}" >/dev/null
	chmod 644 "$1"
}
legacy() { # legacy OUT FSIMAGE
	printf '#!/usr/bin/env run-singularity\n' > "$1"
	cat "$2" >> "$1"
	chmod 644 "$1"
}
mine() { cp "$1" "$2"; chown $TU:$TU "$2"; chmod 644 "$2"; }

SQ=$IMG
EXT=$T/bb.ext4 EROFS=$T/bb.erofs DIR=$T/bb.dir
mk "$EXT" ext4
if ! mk "$EROFS" erofs 2>/dev/null; then
	# mkimage.sh passes -q, which Debian 12's mkfs.erofs (1.5) lacks
	diag "mkimage.sh erofs failed; building the erofs image from its dir tree"
	mk "$T/erofs.d" dir
	mkfs.erofs --all-root --quiet "$EROFS" "$T/erofs.d" >/dev/null
	chmod 644 "$EROFS"; rm -rf "$T/erofs.d"
fi
mk "$DIR" dir
chmod 755 "$DIR"	# mkimage.sh copies mktemp's 0700

# --- squashfs, ext, erofs and the format policy ---------------------------
runs "a squashfs image" "$SQ"
runs "a root-owned 0644 ext4 image" "$EXT"
mine "$EXT" "$T/user.ext4"
refused "an ext4 image the caller owns" "$T/user.ext4" \
	"ext images must be owned by root and not writable by group or other \(site policy USER_FORMATS\)\$"
cp "$EXT" "$T/gw.ext4"; chmod 664 "$T/gw.ext4"
refused "a root-owned but group-writable ext4 image" "$T/gw.ext4" \
	"ext images must be owned by root and not writable by group or other"
runs "a root-owned 0644 erofs image" "$EROFS"
mine "$EROFS" "$T/user.erofs"
refused "an erofs image the caller owns" "$T/user.erofs" \
	"erofs images must be owned by root and not writable by group or other \(site policy USER_FORMATS\)\$"
mine "$SQ" "$T/user.sqfs"
runs "a squashfs image the caller owns" "$T/user.sqfs"

# --- ext mount options: a superblock cannot ask for a panic ---------------
cp "$EXT" "$T/panic.ext4"; tune2fs -e panic "$T/panic.ext4" >/dev/null
like "$(dumpe2fs -h "$T/panic.ext4" 2>/dev/null | grep '^Errors behavior')" "Panic" \
	"(the test image's superblock asks for errors=panic)"
# The options of the ext4 mount on our loop device, read from inside.
vial exec "$T/panic.ext4" sh -c 'for f in /sys/block/loop*/loop/backing_file; do
	if [ "$(cat $f)" = "$1" ]; then d=${f#/sys/block/}; cat /proc/fs/ext4/${d%%/*}/options; fi
	done' sh "$T/panic.ext4"
is "$RC" 0 "an ext4 image with errors=panic in its superblock runs"
like "$(echo "$OUT" | head -1)" "^ro\$" "it is mounted read-only"
like "$OUT" "errors=remount-ro" "with vial's errors=remount-ro, not the superblock's panic"
is "$(grep -c 'errors=panic' <<<"$OUT")" 0 "and without errors=panic"
clean "errors=panic superblock"

# --- SIF --------------------------------------------------------------------
sif "$T/sq.sif" "$SQ" 1
mine "$T/sq.sif" "$T/user.sif"
runs "a SIF image (squashfs partition) the caller owns" "$T/user.sif"
cp "$T/sq.sif" "$T/launch.sif"
poke "$T/launch.sif" 0 31s '#!/usr/bin/env run-singularity
'
is "$(head -c 31 "$T/launch.sif")" "#!/usr/bin/env run-singularity" \
	"(the next SIF starts with Apptainer's launch line)"
runs "a SIF image with a launch line (not taken for a Singularity 2.x image)" "$T/launch.sif"
sif "$T/ext.sif" "$EXT" 2
runs "a root-owned SIF image with an ext3 partition" "$T/ext.sif"
mine "$T/ext.sif" "$T/userext.sif"
refused "a SIF image with an ext3 partition the caller owns" "$T/userext.sif" \
	"ext images must be owned by root"

# --- Singularity 2.x legacy images ------------------------------------------
legacy "$T/sq.img" "$SQ"
mine "$T/sq.img" "$T/user.img"
runs "a Singularity 2.x squashfs image the caller owns" "$T/user.img"
legacy "$T/ext.img" "$EXT"
runs "a root-owned Singularity 2.x ext3 image" "$T/ext.img"
{ printf '#!'; printf 'x%.0s' $(seq 61); printf '\n'; cat "$SQ"; } > "$T/nl63.img"
chmod 644 "$T/nl63.img"
is "$(head -c 64 "$T/nl63.img" | tail -c 1 | od -An -c | tr -d ' ')" '\n' \
	"(the launch line of the next image ends at its 64th byte)"
runs "a Singularity 2.x image whose launch line is 64 bytes" "$T/nl63.img"
{ printf '#!'; printf 'x%.0s' $(seq 62); printf '\n'; cat "$SQ"; } > "$T/nl64.img"
chmod 644 "$T/nl64.img"
refused "a Singularity 2.x image with no newline in its first 64 bytes" "$T/nl64.img" \
	"Singularity 2.x image without a newline in its first 64 bytes"
printf '#!/bin/sh\necho hello\n' > "$T/script.sh"; chmod 644 "$T/script.sh"
refused "a shell script" "$T/script.sh" "no squashfs, ext or erofs file system at offset 10\$"

# --- directories (sandboxes) ------------------------------------------------
runs "a root-owned sandbox directory" "$DIR"
cp -a "$DIR" "$T/user.dir"; chown -R $TU:$TU "$T/user.dir"
runs "a sandbox directory the caller owns" "$T/user.dir"
# Whether the container's root takes writes (in memory) is ns.c's choice;
# the sandbox on the host must not change either way.
vial exec "$T/user.dir" sh -c 'echo x > /usr/bin/made-inside'
check "writes inside do not reach the sandbox directory" test ! -e "$T/user.dir/usr/bin/made-inside"
vial exec "$DIR" probe open /devnode/null
like "$RC|$OUT" "^1\|open /devnode/null: Permission denied" \
	"a device node in a sandbox directory cannot be opened"
mkdir "$T/nx" && mount -t tmpfs -o noexec,mode=755 none "$T/nx" && cp -a "$DIR" "$T/nx/dir"
vial exec "$T/nx/dir" probe ids
umount -l "$T/nx"
like "$RC|$ERR" "^126\|.*Permission denied" "a sandbox on a noexec host mount stays noexec"
clean "sandbox directory"
chmod 700 "$T/user.dir"; chown root "$T/user.dir"
refused "a directory the caller cannot open, outside the protected directories (Permission denied)" \
	"$T/user.dir" "Permission denied\$"

# --- vial inspect --------------------------------------------------------------
inspect() { run as $TU "$VIAL" inspect "$1"; }
size() { stat -c %s "$1"; }
inspect "$SQ"
is "$OUT" "$SQ: squashfs, $(size "$SQ") bytes
mounts: offset 0, size $(size "$SQ")" "inspect: a squashfs image, mounted whole"
inspect "$EXT"
is "$OUT" "$EXT: ext, 8388608 bytes
mounts: offset 0, size 8388608" "inspect: an ext4 image"
inspect "$EROFS"
is "$OUT" "$EROFS: erofs, $(size "$EROFS") bytes
mounts: offset 0, size $(size "$EROFS")" "inspect: an erofs image"
inspect "$T/sq.img"
is "$OUT" "$T/sq.img: squashfs in a Singularity 2.x image, $(size "$T/sq.img") bytes
mounts: offset 31, size $(size "$SQ")" "inspect: a Singularity 2.x image, mounted after its launch line"
inspect "$T/sq.sif"
is "$OUT" "$T/sq.sif: squashfs in a SIF image, $(size "$T/sq.sif") bytes
mounts: offset 32768, size $(size "$SQ")
SIF version 01, arch amd64, 48 descriptors, 1 used
  id 1: partition, squashfs, primary system, arch amd64, offset 32768, size $(size "$SQ")" \
	"inspect: a SIF image, its primary partition"
cp "$T/sq.sif" "$T/two.sif"
printf 'A=1\n' > "$T/env"
siftool add "$T/two.sif" "$T/env" --datatype 2 >/dev/null
siftool add "$T/two.sif" "$EXT" --datatype 4 --parttype 3 --partfs 2 --partarch 2 >/dev/null
e=$(( $(size "$T/sq.sif") )) x=$(( ($(size "$T/sq.sif") + 4 + 4095) / 4096 * 4096 ))
inspect "$T/two.sif"
is "$OUT" "$T/two.sif: squashfs in a SIF image, $(size "$T/two.sif") bytes
mounts: offset 32768, size $(size "$SQ")
SIF version 01, arch amd64, 48 descriptors, 3 used
  id 1: partition, squashfs, primary system, arch amd64, offset 32768, size $(size "$SQ")
  id 2: environment, offset $e, size 4
  id 3: partition, ext3, data, arch amd64, offset $x, size 8388608" \
	"inspect: a SIF image with three descriptors lists each"
runs "a SIF image with a data partition besides the primary one" "$T/two.sif"
inspect "$DIR"
is "$OUT" "$DIR: directory, bound read-only" "inspect: a directory"
clean "inspect"

# A protected image: format and size, nothing of its layout.
PD=/opt/vial/protected made=
[ -d /opt/vial ] || made=/opt/vial
[ -d "$PD" ] || { made=${made:-$PD}; mkdir -p "$PD"; }
PSIF=$PD/vialt-formats.$$.sif
cp "$T/sq.sif" "$PSIF"; chmod 600 "$PSIF"
inspect "$PSIF"
is "$RC|$OUT" "0|$PSIF: squashfs in a SIF image, $(stat -c %s "$PSIF") bytes" \
	"inspect: a protected SIF image shows its format and size only"
rm -f "$PSIF"; [ -n "$made" ] && rm -r "$made"	# only what this test made
clean "inspect protected"

# --- crafted SIF images --------------------------------------------------------
S=$T/sq.sif D=4096	# siftool: descriptors at 4096, ours is the first
SZ=$(stat -c %s "$S")
bad() { # bad NAME REGEX OFFSET FORMAT VALUE...: a copy of $S, patched
	local f=$T/bad.sif
	cp "$S" "$f"
	poke "$f" "${@:3}"
	refused "SIF: $1" "$f" "SIF: $2"
}
bad "partition offset beyond the end of the file" "primary partition .* lies outside the file" \
	$((D + 17)) '<Q' $((SZ + 4096))
bad "partition size past the end of the file" "primary partition .* lies outside the file" \
	$((D + 25)) '<Q' $SZ
bad "partition offset + size overflowing 64 bits" "primary partition .* lies outside the file" \
	$((D + 25)) '<Q' 0xfffffffffffff000
bad "partition offset near 2^64" "primary partition .* lies outside the file" \
	$((D + 17)) '<Q' 0xffffffffffffffff
bad "a partition of size 0" "primary partition .* lies outside the file" $((D + 25)) '<Q' 0
bad "2^40 descriptors" "1099511627776 descriptors \(vial reads 1 to 1024\)" 88 '<Q' $((1 << 40))
bad "1025 descriptors" "1025 descriptors" 88 '<Q' 1025
bad "no descriptors" "0 descriptors" 88 '<Q' 0
bad "descriptors beyond the end of the file" "descriptors at offset .* outside the file" \
	96 '<Q' $((SZ - 100))
bad "descriptors offset near 2^64" "descriptors at offset .* outside the file" \
	96 '<Q' 0xffffffffffffff00
bad "descriptors inside the header" "descriptors at offset 64 lie outside" 96 '<Q' 64
bad "no primary partition (a system partition only)" "no primary system partition\$" \
	$((D + 205)) '<i' 1
bad "the primary partition descriptor unused" "no primary system partition\$" $((D + 4)) B 0
bad "a partition for another architecture" "built for architecture arm64, this machine is amd64\$" \
	$((D + 209)) 3s 04
bad "a garbage architecture code" "bad architecture code in the primary partition\$" \
	$((D + 209)) 3s 'x?'
bad "an encrypted partition" "the primary partition is encrypted" $((D + 201)) '<i' 5
bad "a raw partition" "primary partition file system type 4 is not" $((D + 201)) '<i' 4
bad "version 02" "SIF version is not 01\$" 42 3s 02
cp "$S" "$T/dup.sif"
python3 - "$T/dup.sif" <<'EOF'
import sys
with open(sys.argv[1], 'r+b') as h:
    h.seek(4096); d = bytearray(h.read(585)); d[5] = 2
    h.seek(4096 + 585); h.write(d)
EOF
refused "SIF: two primary partitions" "$T/dup.sif" "SIF: more than one primary partition\$"
sif "$T/lie.sif" "$SQ" 2
refused "SIF: a partition that says ext3 but holds squashfs" "$T/lie.sif" \
	"SIF: the primary partition says ext but holds squashfs\$"
sif "$T/arm.sif" "$SQ" 1 4
refused "SIF: made by siftool for arm64" "$T/arm.sif" "SIF: built for architecture arm64"
head -c 3000 "$S" > "$T/hdr.sif"; chmod 644 "$T/hdr.sif"
refused "SIF: truncated inside the descriptors" "$T/hdr.sif" "SIF: descriptors at offset 4096"
head -c 100 "$S" > "$T/tiny.sif"; chmod 644 "$T/tiny.sif"
refused "SIF: truncated inside the header" "$T/tiny.sif" "SIF: cannot read the SIF header"

# --- truncated images of every format --------------------------------------------
half() { head -c $(( $(stat -c %s "$1") / 2 )) "$1" > "$2"; chmod 644 "$2"; }
half "$SQ" "$T/half.sqfs"
refused "a truncated squashfs image" "$T/half.sqfs" "truncated squashfs image"
half "$EXT" "$T/half.ext4"
refused "a truncated ext4 image" "$T/half.ext4" "truncated ext image"
half "$EROFS" "$T/half.erofs"
refused "a truncated erofs image" "$T/half.erofs" "truncated erofs image"
half "$T/sq.sif" "$T/half.sif"
refused "a truncated SIF image" "$T/half.sif" "SIF: primary partition .* outside the file"
half "$T/sq.img" "$T/half.img"
refused "a truncated Singularity 2.x image" "$T/half.img" "truncated squashfs image"
head -c 1000 "$EXT" > "$T/head.ext4"; chmod 644 "$T/head.ext4"
refused "an ext4 image cut before its superblock" "$T/head.ext4" "not a squashfs, ext or erofs image"
done_testing
