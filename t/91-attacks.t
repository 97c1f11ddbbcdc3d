#!/bin/bash
# The outside audit (issue 11), items 2, 3, 4, 8, 11 and 12, as the
# unprivileged user: what host mounts cover stays covered, a read-only bind
# is read-only all the way down, the image's /etc files are read with the
# caller's rights and keep their modes, tiny limits get a one-line error,
# and a STAGE_DIR others could swap is refused. Each failed on the binary
# before the fix (items 1, 5 and 6: t/90-attacks.t; 7 and 10:
# t/50-protected.t; 9 and LINGER_DIR: t/75-linger.t).
. "$(dirname "$0")/lib.sh"
setup
SR=$TOP/t/seccomp-run
# nosetattr ARGS: vial as the user on a kernel without mount_setattr (4.18)
nosetattr() {
	run "$SR" --enosys mount_setattr -- setpriv --reuid=$TU --regid=$TU --init-groups -- \
		"$VIAL" "$@"
}
mounted=()
cleanup() { for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null; done; teardown; }
trap cleanup EXIT
tmpfs() { mount -t tmpfs -o "$1" vialt "$2" && mounted=("$2" "${mounted[@]}"); }
unmount_all() { for m in "${mounted[@]}"; do umount "$m"; done; mounted=(); }

# --- 2: a host mount keeps covering what it covers --------------------------
# Root put a file in $H/x, then mounted a tmpfs over $H/x: users cannot see it.
H=$T/hid
mkdir -p "$H/x" && echo covered > "$H/x/f" && chmod -R a+rX "$H"
tmpfs mode=755 "$H/x"
check "(the host hides the file from the user)" eval "! as $TU cat $H/x/f 2>/dev/null"
vial exec "$H" cat /x/f
unlike "$OUT" covered "a directory image does not show a file a host mount covers"
is "$RC|$ERR" "255|vial: $H: a directory image with mounts below it is not supported (the container would show what they hide on the host)" \
	"a directory image with a mount below it is refused in one line"
vial exec -B "$H:/h" "$IMG" sh -c 'cat /h/x/f; ls -A /h/x | wc -l'
is "$OUT" "0" "-B of its parent shows the covering mount, not the covered file"
vial exec -B /:/host "$IMG" sh -c "cat /host$H/x/f; ls -A /host$H/x | wc -l; ls /host/tmp | grep -c '^upper\$'"
is "$OUT" "0
0" "-B /:/host shows neither the covered file nor vial's staging area"
vial exec -B "$T:/t" "$IMG" sh -c 'cat /t/hid/x/f; ls -A /t/hid/x | wc -l'
is "$OUT" "0" "-B of a directory below the staging one (/tmp/vialt.X) too"
nosetattr exec -B /:/host "$IMG" sh -c "cat /host$H/x/f; ls -A /host$H/x | wc -l"
is "$OUT|$RC" "0|0" "and so on a kernel without mount_setattr"
# Before Linux 5.2 (no open_tree) the bind copies the stage, then detaches it.
run "$SR" --enosys open_tree --enosys move_mount -- setpriv --reuid=$TU --regid=$TU \
	--init-groups -- "$VIAL" exec -B /:/host "$IMG" \
	sh -c "cat /host$H/x/f; ls -A /host$H/x | wc -l; ls /host/tmp | grep -c '^upper\$'"
is "$OUT|$RC" "0
0|1" "and without open_tree: neither the covered file nor the staging area"
unmount_all
clean "covered files"

# --- 8: read-only all the way down, the host's flags kept ------------------
R=$T/rosrc
mkdir -p "$R/sub" "$R/nsf"
tmpfs mode=777 "$R/sub"
tmpfs mode=777,nosymfollow "$R/nsf"
ln -s /etc/os-release "$R/nsf/link"
vial exec -B "$R:/data:ro" "$IMG" sh -c 'echo x > /data/sub/w'
like "$RC|$ERR" "^[12]\|.*Read-only file system" "a writable mount below a read-only bind is read-only too"
check "(nothing was written on the host)" test ! -e "$R/sub/w"
vial exec -B "$R:/data:ro" "$IMG" sh -c 'grep -E " /data/nsf " /proc/self/mountinfo'
like "$OUT" " /data/nsf ro,nosuid,nodev,[^ ]*nosymfollow" "the host's nosymfollow survives the bind"
vial exec -B "$R/nsf:/n" "$IMG" cat /n/link
like "$RC|$ERR" "^1\|.*(Too many|Operation not permitted|link)" "and still refuses to follow symlinks"
nosetattr exec -B "$R:/data:ro" "$IMG" sh -c 'echo x > /data/sub/w'
like "$RC|$ERR" "^[12]\|.*Read-only file system" "without mount_setattr: read-only all the way down"
nosetattr exec -B "$R:/data:ro" "$IMG" sh -c 'grep -E " /data/nsf " /proc/self/mountinfo'
like "$OUT" " /data/nsf ro,nosuid,nodev,[^ ]*nosymfollow" "without mount_setattr: nosymfollow kept"
vial exec -B "$R:/data" "$IMG" sh -c 'echo x > /data/sub/w && cat /data/sub/w'
is "$OUT" "x" "(a read-write bind stays writable below)"
unmount_all
clean "read-only binds"

# --- 3, 4: the image's /etc/passwd and /etc/group ---------------------------
# Another user's sandbox whose etc/passwd only that user may read.
SB=$T/sandbox
"$TOP/t/mkimage.sh" "$SB" "$TOP/t/probe" dir >/dev/null
chmod 755 "$SB"
echo "secretuser:x:4242:4242:s3cr3t:/:/bin/sh" >> "$SB/etc/passwd"
echo "secretgroup:x:4243:" >> "$SB/etc/group"
chown "$TU2" "$SB/etc/passwd" "$SB/etc/group" && chmod 600 "$SB/etc/passwd" "$SB/etc/group"
vial exec "$SB" sh -c 'cat /etc/passwd /etc/group 2>&1; stat -c "%a %u" /etc/passwd /etc/group'
unlike "$OUT" "secret" "a sandbox's 0600 passwd and group are not read with root's rights"
like "$OUT" "^600 $UID2
600 $UID2\$" "and their copies keep the owner and mode"
chmod 644 "$SB/etc/passwd" && chown root:root "$SB/etc/passwd"
vial exec "$SB" sh -c 'grep -c secretuser /etc/passwd; id -un'
is "$OUT" "1
$TU" "(a readable one is merged, with the caller added)"

# An image whose passwd is root's 0600 and group root:shadow 0640 (the
# protected image's case: the same code reads it).
M=$T/modes
unsquashfs -q -d "$M" "$IMG" >/dev/null
chmod 600 "$M/etc/passwd" && chmod 640 "$M/etc/group" && chmod 711 "$M/etc"
mksquashfs "$M" "$T/modes.sqfs" -quiet -noappend -all-root >/dev/null && chmod 644 "$T/modes.sqfs"
vial exec "$T/modes.sqfs" stat -c '%a %u:%g %n' /etc /etc/passwd /etc/group
is "$OUT" "711 0:0 /etc
600 0:0 /etc/passwd
640 0:0 /etc/group" "the merged /etc, passwd and group keep the image's owner and mode"
vial exec "$IMG" stat -c '%a %U:%G %n' /etc/passwd /etc/group
is "$OUT" "644 root:root /etc/passwd
644 root:root /etc/group" "(an ordinary image's stay 0644 root:root, not the caller's group)"
clean "passwd and group"

# --- 11: tiny limits ---------------------------------------------------------
# (stderr a pipe: the limit would stop vial's message to a file too)
ERR=$(as $TU sh -c "ulimit -f 0; exec '$VIAL' exec '$IMG' true" 2>&1); RC=$?
is "$RC|$ERR" "255|vial: write /etc/passwd in the container: File too large" \
	"ulimit -f 0: exit 255 with one line saying what failed, not SIGXFSZ"
clean "ulimit -f 0"
for p in "" -p; do
	run as $TU sh -c "ulimit -s 16; exec '$VIAL' exec $p '$IMG' true"
	like "$RC|$ERR" "^255\|vial: the stack limit \(ulimit -s 16\) is below the [0-9]+ KiB vial needs\$" \
		"ulimit -s 16${p:+ with $p}: exit 255 with one line, not SIGSEGV"
	clean "ulimit -s 16 $p"
done
run as $TU sh -c "ulimit -s 64; exec '$VIAL' exec -p '$IMG' probe exit 4"
is "$RC|$ERR" "4|" "with ulimit -s 64 a -p launch works"
run as $TU env BIG="$(head -c 40000 /dev/zero | tr '\0' x)" sh -c "ulimit -s 64; exec '$VIAL' exec -p '$IMG' true"
like "$RC|$ERR" "^255\|vial: the stack limit \(ulimit -s 64\) is below the [0-9]+ KiB vial needs\$" \
	"a large environment counts against the limit: a clear line, not SIGSEGV"
clean "ulimit -s 64"

# --- 12: a STAGE_DIR below a directory the user can write -------------------
SP=$(mktemp -d /var/lib/vialt-stage.XXXXXX) && chmod 755 "$SP"	# not /tmp: others write there
trap 'cleanup; rm -rf "$SP"' EXIT
U=$SP/ustage
mkdir -p "$U/stage" && chown $TU "$U"
cat > "$T/stage.h" <<EOF
#include "$TOP/config.h"
#undef STAGE_DIR
#define STAGE_DIR "$U/stage"
EOF
flock /tmp/vial-build.lock make -C "$TOP" -s CONFIG="$T/stage.h" OUT="$T/vial-stage" \
	OBJDIR="$T/obj-stage" >"$T/build.log" 2>&1 || diag "site build failed:" "$(cat "$T/build.log")"
install -o root -g root -m 4755 "$T/vial-stage" "$T/bin/vial-stage"
run as $TU "$T/bin/vial-stage" exec "$IMG" true
is "$RC|$ERR" "255|vial: $U/stage (STAGE_DIR) must be root's, below directories only root can write" \
	"a STAGE_DIR below a directory the user owns is refused"
chown root "$U" && chmod 777 "$U"
run as $TU "$T/bin/vial-stage" exec "$IMG" true
is "$RC" 255 "so is one below a directory anyone can write"
chmod 755 "$U" && chown $TU "$U/stage"
run as $TU "$T/bin/vial-stage" exec "$IMG" true
is "$RC" 255 "and one the user owns"
chown root "$U/stage"
run as $TU "$T/bin/vial-stage" exec "$IMG" probe exit 5
is "$RC|$ERR" "5|" "a STAGE_DIR root's all the way down works"
run as $TU "$VIAL" config
like "$OUT" "^staging directory: /tmp\$" "(the default, /tmp, is root's below /: 1777 itself is fine, the stage covers it)"
clean "STAGE_DIR"
done_testing
