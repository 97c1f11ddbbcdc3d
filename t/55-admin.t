#!/bin/bash
# What the admin learns, and the user does not: each refused open in a
# protected directory writes one authpriv line with its reason while the
# user sees a missing file; EACCES elsewhere is "Permission denied"; an
# image a user can read in a protected directory runs, unprotected, with a
# warning and a line for the admin; `vial config` run as root checks the
# node against the policy, one line a problem, and exits non-zero.
. "$(dirname "$0")/lib.sh"
setup

V=$(mktemp -d /var/lib/vialadmin.XXXXXX) && chmod 755 "$V"	# root's from / down
LPID=
cleanup() { [ -n "$LPID" ] && kill "$LPID" 2>/dev/null; rm -rf "$V"; teardown; }
trap cleanup EXIT

# --- a site build: three protected directories, one with a group typo ------
sitecfg() {	# sitecfg OUT ENTRIES [DEFINES...]: config.h with these PROTECTED_DIRS
	local out=$1 entries=$2; shift 2
	sed "s|^\\([[:space:]]*\\){ \"/opt/vial/protected\", NULL, SEALED },|\\1$entries|" \
		"$TOP/config.h" > "$out"
	printf '%s\n' "$@" >> "$out"
}
build() {	# build CONFIG OUT: as t/50 does, beside the main build
	flock /tmp/vial-build.lock make -C "$TOP" -s CONFIG="$1" OUT="$T/$2" OBJDIR="$T/obj-$2" \
		>"$T/$2.log" 2>&1 || diag "build of $2 failed:" "$(cat "$T/$2.log")"
	install -o root -g root -m 4755 "$T/$2" "$T/bin/$2"
}
sitecfg "$T/site.h" "{ \"$V/open\", NULL, SEALED }, { \"$V/grp\", \"$TG\", SEALED }, \\
	{ \"$V/typo\", \"vialnosuchgrp\", SEALED },"
build "$T/site.h" vial-site
VB=$T/bin/vial-site
mkdir -m 755 "$V/open" "$V/grp" "$V/typo" "$V/open/sub" "$V/open/gw" "$V/open/ow"
mkdir -m 700 "$V/open/sub700"
chmod 775 "$V/open/gw"; chmod 757 "$V/open/ow"

TREE=$T/tree
unsquashfs -q -d "$TREE" "$IMG" >/dev/null
mkimg() {	# mkimg NAME OUT [MODE [OWNER]]
	printf 'NAME="%s"\n' "$1" > "$TREE/etc/os-release"
	mksquashfs "$TREE" "$2" -noappend -all-root -quiet -comp gzip >/dev/null
	chown "${4:-root:root}" "$2" && chmod "${3:-600}" "$2"
}
LIC=$V/open/lic.sqfs
mkimg licensed "$LIC"
cpimg() { cp "$LIC" "$1" && chown "${3:-root:root}" "$1" && chmod "${2:-600}" "$1"; }

# --- the audit listener and a private /dev/log (lib.sh's nsrun) -----------
log_listen
pv() { local u=$1; shift; run nsrun setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; }
NOENT() { echo "vial: cannot open image $1: No such file or directory"; }
RE_HEAD='^<84>[A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} vial\[[0-9]+\]: '

# told NAME USER PATH REASON: the user sees a missing file; the admin one
# authpriv.warning line naming user, image and reason.
told() {
	local n0 rec
	n0=$(log_count)
	pv "$2" "$VB" exec "$3" cat /etc/os-release
	is "$RC|$OUT|$ERR" "255||$(NOENT "$3")" "$1: the user sees a missing file"
	rec=$(last_record)
	f=$T/log/$(ls "$T/log" | grep '^[0-9]' | tail -1)
	is "$(($(log_count) - n0))|$(tr -dc '\n' < "$f" | wc -c)" "1|0" \
		"$1: one line to authpriv"
	like "$rec" "${RE_HEAD}user=\"$2\" uid=$(id -u "$2") image=\"$3\" refused=\"$4\"\$" \
		"$1: it says why"
}

# --- each reason -------------------------------------------------------------
cpimg "$V/grp/g.sqfs"
told "a user not in the directory's group" $TU2 "$V/grp/g.sqfs" "user not in group $TG"
cpimg "$V/typo/t.sqfs"
told "a directory whose group does not exist" $TU "$V/typo/t.sqfs" \
	"group vialnosuchgrp is unknown on this node"
cpimg "$V/open/gw/x.sqfs"
told "a group-writable directory" $TU "$V/open/gw/x.sqfs" "$V/open/gw is writable by group"
cpimg "$V/open/ow/x.sqfs"
told "a directory writable by others" $TU "$V/open/ow/x.sqfs" "$V/open/ow is writable by others"
chmod 775 "$V/open"
told "the protected directory itself group-writable" $TU "$LIC" "$V/open is writable by group"
chmod 755 "$V/open"
ln -s lic.sqfs "$V/open/current.sqfs"
told "a symlink to an image" $TU "$V/open/current.sqfs" \
	"a symlink in the path: $V/open/current.sqfs"
cpimg "$V/open/sub700/x.sqfs"
ln -s sub700 "$V/open/link"
told "a symlinked directory" $TU "$V/open/link/x.sqfs" "a symlink in the path: $V/open/link"
cpimg "$V/open/theirs.sqfs" 600 "$TU2:$TU2"
told "an image not root's" $TU "$V/open/theirs.sqfs" \
	"$V/open/theirs.sqfs is not root's \\(owner uid $UID2\\)"
cpimg "$V/open/gwimg.sqfs" 620
told "an image writable by its group" $TU "$V/open/gwimg.sqfs" \
	"$V/open/gwimg.sqfs is writable by group"
cpimg "$V/open/owimg.sqfs" 602
told "an image writable by others" $TU "$V/open/owimg.sqfs" \
	"$V/open/owimg.sqfs is writable by others"
told "a missing image in a root-only subdirectory" $TU "$V/open/sub700/none.sqfs" \
	"$V/open/sub700/none.sqfs: No such file or directory"
told "a .. in the path" $TU "$V/open/sub700/../lic.sqfs" "a \\.\\. in the path"
mkfifo -m 600 "$V/open/fifo.sqfs"
told "a FIFO" $TU "$V/open/fifo.sqfs" "$V/open/fifo.sqfs is not a regular file"
cpimg "$V/open/lic640.sqfs" 640 "root:$TG"
told "a root:$TG 0640 image and a user outside $TG" $TU2 "$V/open/lic640.sqfs" \
	"user not in group $TG, which may read $V/open/lic640.sqfs"
n0=$(log_count)
pv $TU "$VB" exec "$V/open/none.sqfs" true
is "$RC|$ERR|$(($(log_count) - n0))" "255|$(NOENT "$V/open/none.sqfs")|0" \
	"a missing image in a searchable protected directory: the user's own ENOENT, no line"
pv $TU "$VB" exec "$LIC" cat /etc/os-release
is "$RC|$OUT" '0|NAME="licensed"' "(with all this, the good image still runs)"
clean "refusals, told to the admin"

NS_LOG=none pv $TU "$VB" exec "$LIC" true
is "$RC|$ERR" "255|vial: $LIC: cannot write the audit log to /dev/log (No such file or directory): protected images do not run unaudited; an admin must run a syslog daemon here" \
	"without /dev/log a protected image does not run, and the user learns an admin must act"
clean "no syslog"

# --- EACCES outside the protected directories --------------------------------
mkimg secret "$T/secret.sqfs"
n0=$(log_count)
pv $TU "$VB" exec "$T/secret.sqfs" true
is "$RC|$ERR" "255|vial: cannot open image $T/secret.sqfs: Permission denied" \
	"a root-only image outside the protected directories: Permission denied"
mkimg colleague "/home/$TU2/vialt-colleague.sqfs" 600 "$TU2:$TU2"
pv $TU "$VB" exec "/home/$TU2/vialt-colleague.sqfs" true
rm -f "/home/$TU2/vialt-colleague.sqfs"
is "$RC|$ERR" "255|vial: cannot open image /home/$TU2/vialt-colleague.sqfs: Permission denied" \
	"a colleague's 0600 image in their home: Permission denied"
is "$(($(log_count) - n0))" 0 "and nothing is logged for either"
clean "EACCES outside"

# --- a readable image in a protected directory -------------------------------
cpimg "$V/open/open.sqfs" 644
n0=$(log_count)
pv $TU "$VB" exec "$V/open/open.sqfs" cat /etc/os-release
is "$RC|$OUT|$ERR" "0|NAME=\"licensed\"|vial: warning: $V/open/open.sqfs is readable by you, so it runs unprotected (as an ordinary image, unaudited)" \
	"a readable image in a protected directory runs, with one warning line"
rec=$(last_record)
is "$(($(log_count) - n0))" 1 "and one line for the admin (no audit line: it ran unprotected)"
like "$rec" "${RE_HEAD}user=\"$TU\" uid=$UID1 image=\"$V/open/open.sqfs\" unprotected=\"readable by the caller \\(uid 0 gid 0 mode 0644\\): runs unprotected\"\$" \
	"which says it is readable and ran unprotected"
n0=$(log_count)
pv $TU "$VB" -q exec "$V/open/open.sqfs" true
is "$RC|$ERR|$(($(log_count) - n0))" "0||1" "-q quiets the warning, not the admin's line"
pv $TU "$VB" exec "$IMG" true
is "$RC|$ERR" "0|" "an ordinary image elsewhere runs without it"
clean "readable image"

# --- vial config, as root: the node against the policy -----------------------
mkdir -m 755 "$V/stage-user" && chown $TU "$V/stage-user"
mkdir -m 777 "$V/lgw"
mkdir -m 775 "$V/pgw"
sitecfg "$T/bad.h" "{ \"$V/missing\", NULL, SEALED }, { \"$V/pgw\", NULL, SEALED }, \\
	{ \"$V/open\", \"vialnosuchgrp\", SEALED }," \
	"#undef IMAGE_GROUP" "#define IMAGE_GROUP \"$TG\"" \
	"#undef STAGE_DIR" "#define STAGE_DIR \"$V/stage-user\"" \
	"#undef LOOP_LINGER" "#define LOOP_LINGER 5" \
	"#undef LINGER_DIR" "#define LINGER_DIR \"$V/lgw/linger\""
build "$T/bad.h" vial-bad
sitecfg "$T/sound.h" "{ \"$V/open\", NULL, SEALED }, { \"$V/grp\", \"$TG\", SEALED }," \
	"#undef LOOP_LINGER" "#define LOOP_LINGER 5" \
	"#undef LINGER_DIR" "#define LINGER_DIR \"$V/linger\""
build "$T/sound.h" vial-sound

NS_LOG=none run nsrun "$T/bin/vial-bad" config
is "$RC" 1 "vial config as root exits 1 where the node does not fit the policy"
like "$OUT" "^protected directories:" "and prints the policy first"
prob() { like "$ERR" "^vial: config: $1\$" "it says: $2"; }
prob "protected directory $V/missing: $V/missing: No such file or directory \\(its images run for no one\\)" \
	"a protected directory is missing"
prob "protected directory $V/pgw: $V/pgw is writable by group \\(its images run for no one\\)" \
	"a protected directory is group-writable"
prob "protected directory $V/open: group vialnosuchgrp is unknown on this node \\(its images run for no one\\)" \
	"a protected directory's group does not exist"
prob "IMAGE_GROUP $TG has members \\($TU\\): they can read and copy its images" \
	"the NFS image group has members"
prob "/dev/log takes no datagram \\(No such file or directory\\): protected images do not run here, .*" \
	"nothing takes the audit line"
prob "STAGE_DIR $V/stage-user: $V/stage-user is not root's \\(owner uid $UID1\\) \\(no container starts here\\)" \
	"STAGE_DIR is a user's"
prob "LINGER_DIR $V/lgw/linger: $V/lgw is writable by group and others" \
	"LINGER_DIR lies in a directory others can write"
is "$(grep -c . <<<"$ERR")" 7 "one line each, nothing else"
run as $TU "$T/bin/vial-bad" config
is "$RC|$ERR" "0|" "as a user, vial config prints the policy only (the check is root's)"

run nsrun "$T/bin/vial-sound" config
is "$RC|$ERR" "0|" "on a node that fits, vial config as root is silent and exits 0"
like "$OUT" "^loop devices linger: 5 s" "(and prints the policy)"
NS_LOG=none run nsrun "$T/bin/vial-sound" config
like "$RC|$ERR" "^1\|vial: config: /dev/log takes no datagram [^\n]*\$" \
	"without /dev/log it says so, one line, exit 1"
chmod 775 "$V/grp"
run nsrun "$T/bin/vial-sound" config
chmod 755 "$V/grp"
is "$RC|$ERR" "1|vial: config: protected directory $V/grp: $V/grp is writable by group (its images run for no one)" \
	"a protected directory made group-writable: one line, exit 1"
mkdir -m 777 "$V/linger"
run nsrun "$T/bin/vial-sound" config
rmdir "$V/linger"
is "$RC|$ERR" "1|vial: config: LINGER_DIR $V/linger: $V/linger is writable by group and others" \
	"a LINGER_DIR others can write: one line, exit 1"
clean "vial config"

done_testing
