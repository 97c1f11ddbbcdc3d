#!/bin/bash
# Protected images: root-only images that users may run but never read,
# copy or attach. Every rule of the fallback, as the unprivileged user.
. "$(dirname "$0")/lib.sh"
setup

PD=/opt/vial/protected		# the default build's protected directory
IG=vialimg			# the site build's IMAGE_GROUP (nobody is a member)
made=()				# directories we created outside $T, removed at exit
LPID= FLIP= BG= cpid=

# --- fixtures --------------------------------------------------------------

mkdir_root() {	# mkdir_root DIR: make DIR (root, 0755) and remember it
	[ -d "$1" ] && return
	mkdir -m 0755 "$1" && chown root:root "$1" && made=("$1" "${made[@]}")
}
cleanup() {
	[ -n "$FLIP" ] && kill "$FLIP" 2>/dev/null
	[ -n "$cpid" ] && kill -KILL "$cpid" 2>/dev/null
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	[ -n "${PD_OWN:-}" ] && chown "$PD_OWN" "$PD" && chmod "$PD_MODE" "$PD"
	[ -n "${PV_MODE:-}" ] && chmod "$PV_MODE" /opt/vial
	rm -rf "${PDT:-/nonexistent}" "${SIB:-/nonexistent}" "${V:-/nonexistent}"
	for d in "${made[@]}"; do rmdir "$d"; done
	[ -n "${IG_MADE:-}" ] && groupdel "$IG"
	teardown
}
trap cleanup EXIT

mkdir_root /opt/vial
mkdir_root "$PD"
PD_OWN=$(stat -c %u:%g "$PD") PD_MODE=$(stat -c %a "$PD") PV_MODE=$(stat -c %a /opt/vial)
PDT=$(mktemp -d "$PD/t.XXXXXX") && chmod 755 "$PDT"
V=$(mktemp -d /var/lib/vialtest.XXXXXX) && chmod 755 "$V"
SIB=$(mktemp -d "$PD.XXXXXX") && chmod 755 "$SIB"	# /opt/vial/protected.XXXXXX
getent group $IG >/dev/null || { groupadd -r $IG && IG_MADE=1; }
IGID=$(getent group $IG | cut -d: -f3)

# Images told apart by /etc/os-release.
TREE=$T/tree
unsquashfs -q -d "$TREE" "$IMG" >/dev/null
mkimg() {	# mkimg NAME OUT [MODE [OWNER]]
	printf 'NAME="%s"\n' "$1" > "$TREE/etc/os-release"
	mksquashfs "$TREE" "$2" -noappend -all-root -quiet -comp gzip >/dev/null
	chown "${4:-root:root}" "$2" && chmod "${3:-600}" "$2"
}
LIC=$PDT/lic.sqfs
mkimg licensed "$LIC"
mkimg mine "$T/mine.sqfs" 644 "$TU:$TU"
mkimg secret "$V/secret.sqfs"
lic_size=$(stat -c %s "$LIC")
pdt() {	# pdt NAME [MODE [OWNER]]: a copy of the licensed image in $PDT
	cp "$LIC" "$PDT/$1" && chown "${3:-root:root}" "$PDT/$1" && chmod "${2:-600}" "$PDT/$1"
}

# The audit listener (lib.sh), and a syslog socket nobody reads (NS_LOG=dead).
log_listen
/usr/bin/python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind(sys.argv[1])' \
	"$T/dead.sock" && chmod 666 "$T/dead.sock"
# audits: the records of protected runs (refusals are logged too, apart)
audits() { logsync; grep -l ' command="' "$T/log"/[0-9]* 2>/dev/null | wc -l; }
# pv USER ARGS...: vial ($VB, default the installed one) as USER under nsrun
pv() {
	local u=$1; shift
	run nsrun setpriv --reuid="$u" --regid="$u" --init-groups -- "${VB:-$VIAL}" "$@"
}
NOENT() { echo "vial: cannot open image $1: No such file or directory"; }
# unreadable USER FILE: USER's own read of FILE (sets RC, ERR)
unreadable() { run as "$1" sh -c 'cat -- "$1" >/dev/null' sh "$2"; }
# narrow NODE: no wider than 0660 root:disk
narrow() {
	local m; m=$(stat -c '%a %U %G' "$1") || return 1
	set -- $m
	[ $((0$1 & ~0660)) = 0 ] && [ "$2" = root ] && [[ $3 =~ ^(root|disk)$ ]] ||
		{ diag "$m"; return 1; }
}
all_narrow() { local f; for f in /dev/loop[0-9]*; do narrow "$f" || return 1; done; }
# refused NAME PATH [USER]: vial refuses PATH exactly as it refuses a missing file
refused() {
	pv "${3:-$TU}" exec "$2" cat /etc/os-release
	is "$RC|$OUT|$ERR" "255||$(NOENT "$2")" "$1"
}
# denied NAME PATH: outside the protected directories EACCES is what it is
denied() {
	pv $TU exec "$2" cat /etc/os-release
	is "$RC|$OUT|$ERR" "255||vial: cannot open image $2: Permission denied" "$1"
}

# --- the licensed image runs, and is never readable -----------------------

unreadable $TU "$LIC"
like "$RC $ERR" "^1 .*Permission denied" "the user cannot read the protected image"
pv $TU exec "$LIC" cat /etc/os-release
is "$RC|$OUT|$ERR" '0|NAME="licensed"|' "vial exec runs the protected image for the user"
pv $TU exec "$LIC" probe fds
is "$OUT" "0 1 2" "no fd of vial's (image, loop device) reaches the command"
pv $TU exec "$LIC" ls -l /proc/self/fd/
like "$OUT" "^total" "(ls -l /proc/self/fd ran)"
is "$(echo "$OUT" | grep -cE 'sqfs|loop|protected')" 0 \
	"no fd in the container points at the image or a loop device"
pv $TU exec "$LIC" xprobe ids
like "$RC $OUT" "^0 uid=$UID1,$UID1,$UID1 " \
	"an execute-only (0711) binary in the protected image runs"
pv $TU exec "$LIC" sh -c 'cat /bin/xprobe >/dev/null'
like "$RC $ERR" "^1 .*Permission denied" "but cat of it inside the container fails"
pv $TU exec "$LIC" sh -c 'for f in /dev/loop[0-9]*; do
	dd if=$f of=/dev/null bs=512 count=1 2>/dev/null && echo "read $f"; done; true'
is "$RC|$OUT" "0|" "inside the container no loop device can be read"
clean "runs of the licensed image"

NS_CWD=$PDT pv $TU exec lic.sqfs cat /etc/os-release
is "$OUT" 'NAME="licensed"' "a path relative to the working directory works"
pv $TU exec "$PD//${PDT##*/}/./lic.sqfs" cat /etc/os-release
is "$OUT" 'NAME="licensed"' "a path with // and /./ works"
mkdir -m 700 "$PDT/sub" && cp -p "$LIC" "$PDT/sub/lic2.sqfs"
pv $TU exec "$PDT/sub/lic2.sqfs" cat /etc/os-release
is "$OUT" 'NAME="licensed"' "an image in a root-only (0700) subdirectory runs"
pdt g640.sqfs 640
pv $TU2 exec "$PDT/g640.sqfs" cat /etc/os-release
is "$OUT" 'NAME="licensed"' "a root:root 0640 image runs for a user outside group root"
# The image's own group is honoured: root:$TG 0640 is for members of $TG.
pdt grp640.sqfs 640 "root:$TG"
refused "a root:$TG 0640 image is refused to a user outside $TG, like a missing file" \
	"$PDT/grp640.sqfs" $TU2
pv $TU exec "$PDT/grp640.sqfs" cat /etc/os-release
is "$RC|$OUT" '0|NAME="licensed"' "and runs for a member (who may read it anyway)"
pdt sub/grp640.sqfs 640 "root:$TG"
pv $TU exec "$PDT/sub/grp640.sqfs" cat /etc/os-release
is "$RC|$OUT" '0|NAME="licensed"' "a member runs it through the fallback below a root-only directory"
refused "a non-member is refused there too" "$PDT/sub/grp640.sqfs" $TU2
pdt grp600.sqfs 600 "root:$TG"
pv $TU2 exec "$PDT/grp600.sqfs" cat /etc/os-release
is "$RC|$OUT" '0|NAME="licensed"' "a root:$TG 0600 image (no group read) runs for anyone the directory allows"
pv $TU inspect "$LIC"
is "$RC|$OUT" "0|$LIC: squashfs, $lic_size bytes" \
	"vial inspect of a protected image says its format and size, nothing more"
pv $TU inspect --labels --runscript --environment --json "$LIC"
is "$RC|$OUT" "0|$LIC: squashfs, $lic_size bytes" \
	"inspect --labels --runscript --environment --json of it: format and size only"
pv $TU exec --writable-tmpfs "$LIC" true
is "$RC|$ERR" "255|vial: $LIC: --writable-tmpfs: not with a sealed protected image" \
	"--writable-tmpfs is refused for a protected image"
clean "paths and inspect"

# --- the loop device, while attached --------------------------------------

nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" exec "$LIC" sleep 60 \
	>"$T/bg.out" 2>&1 </dev/null &
BG=$!
loopdev=
for i in $(seq 100); do
	for f in /sys/block/loop*/loop/backing_file; do
		[ -r "$f" ] && [ "$(cat "$f")" = "$LIC" ] &&
			loopdev=/dev/$(basename "$(dirname "$(dirname "$f")")")
	done
	[ -n "$loopdev" ] && pgrep -u $TU -x sleep >/dev/null && break
	sleep 0.1
done
like "$loopdev" "^/dev/loop[0-9]+$" "the running protected image is on a loop device"
check "its node is no wider than 0660 root:disk ($(stat -c '%a %U %G' "$loopdev"))" narrow "$loopdev"
is "$(cat /sys/block/${loopdev#/dev/}/ro)" 1 "it is attached read-only"
run as $TU dd if="$loopdev" of=/dev/null bs=512 count=1
like "$RC $ERR" "^1 .*Permission denied" "the user cannot read it while it is attached"
run as $TU2 dd if="$loopdev" of=/dev/null bs=512 count=1
like "$RC $ERR" "^1 .*Permission denied" "nor can another user"
denied "nor hand it to vial as an image (Permission denied: no fallback there)" "$loopdev"
cpid=$(pgrep -u $TU -x sleep)
fds=$(ls -l /proc/${cpid:-0}/fd 2>&1)
is "$(grep -c -- '->' <<<"$fds")|$(grep -cE 'sqfs|/dev/loop|protected' <<<"$fds")" "3|0" \
	"the container's process holds 0-2 only: no fd to the image or the loop device"
kill "$cpid"; wait "$BG"; BG= cpid=
clean "loop device while attached"
check "every loop device node is no wider than 0660 root:disk" all_narrow

# --- refusals: all read exactly like a missing file -----------------------

n0=$(audits)
pv $TU exec "$PDT/no-such.sqfs" true
is "$RC|$ERR" "255|$(NOENT "$PDT/no-such.sqfs")" \
	"a missing image: exit 255, 'No such file or directory'"
denied "a root-only image outside the protected directories: Permission denied" \
	"$V/secret.sqfs"
mkimg sib "$SIB/x.sqfs"
denied "one in a directory that only begins with the protected one's name: Permission denied" \
	"$SIB/x.sqfs"
ln -s lic.sqfs "$PDT/link.sqfs"
refused "a symlink in a protected directory to a protected image" "$PDT/link.sqfs"
ln -s /etc/shadow "$PDT/shadow.sqfs"
refused "a symlink in a protected directory to /etc/shadow" "$PDT/shadow.sqfs"
ln -s /dev/loop0 "$PDT/blk.sqfs"
refused "a symlink in a protected directory to a block device" "$PDT/blk.sqfs"
ln -s sub "$PDT/ldir"
refused "a path through a symlinked directory" "$PDT/ldir/lic2.sqfs"
refused "a .. escape from the protected directory" "$PDT/../../../..$V/secret.sqfs"
refused "a .. escape from a subdirectory" "$PDT/sub/../../../../..$V/secret.sqfs"
pdt notroot.sqfs 600 "$TU2:$TU2"
refused "an image not owned by root" "$PDT/notroot.sqfs"
pdt gw.sqfs 620
refused "an image writable by its group" "$PDT/gw.sqfs"
pdt ow.sqfs 602
refused "an image writable by others" "$PDT/ow.sqfs"
mkdir -m 755 "$PDT/usub" && chown $TU2 "$PDT/usub" && pdt usub/x.sqfs
refused "an image in a subdirectory owned by a user" "$PDT/usub/x.sqfs"
mkdir -m 775 "$PDT/gwsub" && pdt gwsub/x.sqfs
refused "an image in a group-writable subdirectory" "$PDT/gwsub/x.sqfs"
mkfifo -m 600 "$PDT/fifo.sqfs"
refused "a FIFO in a protected directory" "$PDT/fifo.sqfs"
mknod -m 600 "$PDT/chr.sqfs" c 1 3
refused "a character device in a protected directory" "$PDT/chr.sqfs"
mknod -m 600 "$PDT/bdev.sqfs" b 7 0
refused "a block device in a protected directory" "$PDT/bdev.sqfs"
mkdir -m 700 "$PDT/dir.sqfs"
refused "a root-only directory in a protected directory" "$PDT/dir.sqfs"
clean "refused files"

mkdir -m 755 "$PDT/mnt" "$PDT/bmnt" "$V/bsrc" && mkimg bound "$V/bsrc/x.sqfs"
NS_SETUP="mount -t tmpfs -o mode=755 vialt '$PDT/mnt' && cp -p '$LIC' '$PDT/mnt/x.sqfs'" \
	refused "an image on a file system mounted inside the protected directory" "$PDT/mnt/x.sqfs"
NS_SETUP="mount --bind '$V/bsrc' '$PDT/bmnt'" \
	refused "an image under a bind mount (same file system) inside the protected directory" "$PDT/bmnt/x.sqfs"

chown $TU2 "$PD"
refused "any image when the protected directory is owned by a user" "$LIC"
chown "$PD_OWN" "$PD"; chmod 775 "$PD"
refused "any image when the protected directory is group-writable" "$LIC"
chmod "$PD_MODE" "$PD"; chmod 757 /opt/vial
refused "any image when a directory above it is writable by others" "$LIC"
chmod "$PV_MODE" /opt/vial; chmod 777 "$PDT"
refused "any image when its subdirectory is writable by others" "$LIC"
chmod 755 "$PDT"
pv $TU exec "$LIC" true
is "$RC|$ERR" "0|" "(with the modes restored, it runs again)"
n1=$(audits)
is "$((n1 - n0))" 1 "no refusal was logged as a protected run (only the last, successful one)"
clean "refused directories"

# Only EACCES leads to the fallback: other errors are reported as they are.
pv $TU exec "$LIC/x" true
is "$RC|$ERR" "255|vial: cannot open image $LIC/x: Not a directory" "ENOTDIR is reported as it is"
/usr/bin/python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$PDT/sock.sqfs"
chmod 644 "$PDT/sock.sqfs"
pv $TU exec "$PDT/sock.sqfs" true
is "$RC|$ERR" "255|vial: cannot open image $PDT/sock.sqfs: No such device or address" "ENXIO (a socket) is reported as it is"
clean "errors other than EACCES"

# --- the swap race ---------------------------------------------------------

mkdir -m 755 "$T/race" && chown $TU "$T/race"
(cd "$T/race" && exec setpriv --reuid=$TU --regid=$TU --init-groups -- /usr/bin/python3 -c '
import os, sys
targets = sys.argv[1:]
i = 0
while True:
    os.symlink(targets[i % 2], "l.new")
    os.replace("l.new", "l")
    i += 1
' "$T/mine.sqfs" "$V/secret.sqfs" 9>&-) &
FLIP=$!
n0=$(log_count) mine=0 refusals=0 other=0
for i in $(seq 200); do
	pv $TU exec "$T/race/l" cat /etc/os-release
	case "$RC|$OUT|$ERR" in
	'0|NAME="mine"|') mine=$((mine+1)) ;;
	"255||vial: cannot open image $T/race/l: Permission denied") refusals=$((refusals+1)) ;;
	*) other=$((other+1)); [ $other -le 3 ] && diag "launch $i: $RC|$OUT|$ERR" ;;
	esac
done
kill $FLIP; wait $FLIP 2>/dev/null; FLIP=
is "$other" 0 "200 launches racing a symlink flip never run the root-only image"
check "the flip was seen from both sides (mine $mine, refused $refusals)" \
	[ "$mine" -gt 0 -a "$refusals" -gt 0 ]
is "$(($(log_count) - n0))" 0 "and no launch of the race went through the fallback"
clean "swap race"

# --- audit -----------------------------------------------------------------

RE_HEAD='^<85>[A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} vial\[[0-9]+\]: '
n0=$(log_count)
pv $TU exec "$LIC" cat /etc/os-release
n1=$(log_count)
is "$((n1 - n0))" 1 "a protected run sends exactly one audit record"
rec=$(last_record)
like "$rec" "${RE_HEAD}user=\"$TU\" uid=$UID1 image=\"$LIC\" command=\"cat /etc/os-release\" cwd=\"$T\"\$" \
	"it is authpriv.notice with user, uid, image, command and cwd"
f=$T/log/$(ls "$T/log" | grep '^[0-9]' | tail -1)
is "$(tr -dc '\n' < "$f" | wc -c)" 0 "it is a single line"

pv $TU exec "$IMG" true
is "$RC|$(($(log_count) - n1))" "0|0" "an ordinary image runs and logs nothing"
NS_LOG=none pv $TU exec "$IMG" true
is "$RC" 0 "an ordinary image runs without /dev/log"

W=$PDT/$'we%sird\nname%n.sqfs'
cp -p "$LIC" "$W"
CW=$T/$'cw%d\nx'
mkdir "$CW" && chown $TU "$CW"
n0=$(log_count)
NS_CWD=$CW pv $TU exec "$W" sh -c 'exit 0' $'a%n\nb' "c d"
is "$RC|$ERR|$(($(log_count) - n0))" "0||1" "an image, command and cwd with newlines and % run, with one record"
rec=$(last_record)
is "${rec#*]: }" "user=\"$TU\" uid=$UID1 image=\"$PDT/we%sird\\012name%n.sqfs\" command=\"sh -c exit\\0400 a%n\\012b c\\040d\" cwd=\"$T/cw%d\\012x\"" \
	"newlines are escaped, % is kept as text, arguments stay apart"
f=$T/log/$(ls "$T/log" | grep '^[0-9]' | tail -1)
is "$(LC_ALL=C tr -d '\040-\176' < "$f" | wc -c)" 0 "the record holds printable ASCII only"
U8=$PDT/$'caf\303\251\377.sqfs'
cp -p "$LIC" "$U8"
n0=$(log_count)
pv $TU exec "$U8" sh -c 'exit 0' $'na\303\257ve'
is "$RC|$(($(log_count) - n0))" "0|1" "an image and command with bytes >= 0x80 run, with one record"
f=$T/log/$(ls "$T/log" | grep '^[0-9]' | tail -1)
is "$(LC_ALL=C tr -d '\040-\176' < "$f" | wc -c)" 0 "that record holds printable ASCII only"
like "$(cat "$f")" 'image="[^"]*/caf\\303\\251\\377\.sqfs" command="sh -c exit\\0400 na\\303\\257ve"' \
	"bytes >= 0x80 are escaped as \\ooo, like control characters"

NS_CWD=$PDT run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- \
	env USER=root LOGNAME=root "$VIAL" exec lic.sqfs true
rec=$(last_record)
like "$rec" "${RE_HEAD}user=\"$TU\" uid=$UID1 image=\"$LIC\" " \
	"the record names the caller from the password file (not \$USER) and the image by its full path"
long=$(printf 'x%.0s' $(seq 3000))
pad=$(printf './%.0s' $(seq 1500))
pv $TU exec "$PD/$pad${PDT##*/}/lic.sqfs" sh -c 'exit 0' "$long"
rec=$(last_record)
is "$RC" 0 "a 3000-byte path and a 3000-byte argument run"
like "$rec" "${RE_HEAD}user=\"$TU\" uid=$UID1 image=\"$LIC\" command=\"sh -c exit\\\\0400 x+\\.\\.\\.\" cwd=\"$T\"\$" \
	"and the record stays one whole line, the command cut and marked ..."
check "and shorter than 2048 bytes (${#rec})" [ "${#rec}" -lt 2048 ]

n0=$(log_count)
NS_LOG=none pv $TU exec "$LIC" echo ran
is "$RC|$OUT" "255|" "without /dev/log a protected image does not run"
like "$ERR" "^vial: $LIC: cannot write the audit log" "and vial says why"
NS_LOG=dead pv $TU exec "$LIC" echo ran
is "$RC|$OUT" "255|" "with nobody reading /dev/log a protected image does not run"
like "$ERR" "cannot write the audit log.*Connection refused" "and vial says why"
is "$(($(log_count) - n0))" 0 "(and nothing reached the listener)"
clean "audit"

# --- a site build: groups, nested directories, root-squashed NFS ----------

S=$T/site
mkdir -p "$S"
mkdir -m 755 "$V/open" "$V/open/grp" "$V/grp" "$V/nfs" "$V/back"
sed -e "s|^\\([[:space:]]*\\){ \"/opt/vial/protected\", NULL, SEALED },|\\1{ \"$V/open\", NULL, SEALED }, { \"$V/open/grp\", \"$TG\", SEALED },\\
\\1{ \"$V/grp\", \"$TG\", SEALED }, { \"$V/nfs\", NULL, SEALED },|" \
	-e "s|^#define IMAGE_GROUP NULL|#define IMAGE_GROUP \"$IG\"|" "$TOP/config.h" > "$S/site.h"
flock /tmp/vial-build.lock make -C "$TOP" -s CONFIG="$S/site.h" OUT="$S/vial" OBJDIR="$S/obj" \
	>"$S/build.log" 2>&1 || diag "site build failed:" "$(cat "$S/build.log")"
install -o root -g root -m 4755 "$S/vial" "$T/bin/vial-site" 2>/dev/null
VB=$T/bin/vial-site
conf=$(as $TU "$VB" config 2>&1)
check "the site build carries the test policy" eval \
	'grep -q "$V/grp  group: $TG" <<<"$conf" && grep -q "image group.*: $IG" <<<"$conf"'

cp -p "$LIC" "$V/grp/g.sqfs"
pv $TU exec "$V/grp/g.sqfs" cat /etc/os-release
is "$RC|$OUT" '0|NAME="licensed"' "a member of the directory's group runs its image"
refused "a user outside the directory's group is refused like a missing file" "$V/grp/g.sqfs" $TU2
run nsrun setpriv --reuid=$TU2 --regid=$TU2 --init-groups -- \
	env USER=$TU LOGNAME=$TU GROUPS=$TGID SUDO_GID=$TGID "$VB" exec "$V/grp/g.sqfs" true
is "$RC|$ERR" "255|$(NOENT "$V/grp/g.sqfs")" "membership is never taken from the environment"
run nsrun setpriv --reuid=$TU --regid=$TU --clear-groups -- "$VB" exec "$V/grp/g.sqfs" true
is "$RC|$ERR" "255|$(NOENT "$V/grp/g.sqfs")" "nor from /etc/group: a member who dropped the group is refused"
run nsrun setpriv --reuid=$TU2 --regid=$TG --clear-groups -- "$VB" exec "$V/grp/g.sqfs" true
is "$RC" 0 "a caller whose real gid is the group gets in (newgrp)"
cp -p "$LIC" "$V/open/o.sqfs"; cp -p "$LIC" "$V/open/grp/g.sqfs"
pv $TU2 exec "$V/open/o.sqfs" true
is "$RC" 0 "an image in a directory without a group runs for anyone"
refused "a group-restricted directory inside an open one keeps its group" "$V/open/grp/g.sqfs" $TU2
pv $TU exec "$V/open/grp/g.sqfs" true
is "$RC" 0 "(and lets its members in)"
clean "groups"

# Root-squashed NFS, played by a FUSE file system that squashes uid 0 to
# nobody and honours the group vial opens with.
cp "$LIC" "$V/back/sq.sqfs" && chown root:$IG "$V/back/sq.sqfs" && chmod 640 "$V/back/sq.sqfs"
cp -p "$LIC" "$V/back/rootonly.sqfs"
cp "$LIC" "$V/back/x.eperm" && chmod 644 "$V/back/x.eperm"
FL=$T/fuse.log
export NS_SETUP="'$TOP/t/fuse-squash' '$V/back' '$V/nfs' '$FL' & echo \$! > \$d/fpid
	i=0; until grep -q ' $V/nfs ' /proc/self/mountinfo; do
		i=\$((i+1)); [ \$i -gt 50 ] && exit 1; sleep 0.1; done"
export NS_DOWN="i=0; until umount '$V/nfs'; do i=\$((i+1));
		[ \$i -gt 50 ] && { umount -l '$V/nfs'; kill \$(cat \$d/fpid); break; }; sleep 0.1; done
	wait \$(cat \$d/fpid)"
run nsrun sh -c 'cat -- "$1" >/dev/null' sh "$V/nfs/sq.sqfs"
like "$RC $ERR" "^1 .*Permission denied" "the squashing server refuses root's own read of a root:$IG 0640 image"
run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- sh -c 'cat -- "$1" >/dev/null' sh "$V/nfs/sq.sqfs"
like "$RC $ERR" "^1 .*Permission denied" "and the user's"
: > "$FL"
n0=$(log_count)
pv $TU exec "$V/nfs/sq.sqfs" cat /etc/os-release
is "$RC|$OUT|$ERR" '0|NAME="licensed"|' "vial runs it through the image group"
is "$(grep -c ' ok$' "$FL")|$(grep ' ok$' "$FL")" "1|open /sq.sqfs uid=$UID1 gid=$IGID ok" \
	"the server saw one open, with the caller's uid and the image group: no root credential"
is "$(($(log_count) - n0))" 1 "and the run was audited"
refused "a root:root 0600 image there is refused like a missing file (root's open is squashed)" \
	"$V/nfs/rootonly.sqfs"
like "$(cat "$FL")" "open /rootonly.sqfs uid=0 gid=$GID1 refused" "(the server refused vial's root open)"
: > "$FL"
pv $TU exec "$V/nfs/x.eperm" true
is "$RC|$ERR" "255|vial: cannot open image $V/nfs/x.eperm: Operation not permitted" \
	"EPERM from the user's own open is reported as it is"
is "$(cat "$FL")" "open /x.eperm uid=$UID1 gid=$GID1 refused" "and no privileged open is tried after it"
unset NS_SETUP NS_DOWN
clean "root-squashed NFS"

done_testing
