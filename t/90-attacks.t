#!/bin/bash
# Attacks from the outside security audit, each run as the unprivileged
# user. Every assertion passes when the attack FAILED (the secret stayed
# secret, the forged file was refused); the controls pass when vial still
# does what it must outside protected runs. Known gaps are TAP TODO tests.
#
#   1. fds of a --pid run's outer vial and init taken with pidfd_getfd
#      (and /proc/PID/fd), for fs.suid_dumpable = 0, 1 and 2;
#   2. execute-only (0711) binaries in a protected image dumped by code of
#      the user's run inside them: loader variables, binds over the image's
#      libraries, preloads from the host's /tmp, home, cwd, binds, /dev/shm,
#      a memfd, /proc/PID/mem; an inherited fd and ptrace as TODO;
#   3. an image's ownership forged through FUSE (bindfs --force-user=root).
. "$(dirname "$0")/lib.sh"
setup

PD=/opt/vial/protected		# the default build's protected directory
MARK=VIAL-SECRET-7f3a		# in the execute-only binary's rodata only
made=()				# directories we created outside $T, removed at exit
LPID= BG= DUMP0= FUSECONF= FUSEMODE= FMNT=

# --- fixtures --------------------------------------------------------------

mkdir_root() {	# mkdir_root DIR: make DIR (root, 0755) and remember it
	[ -d "$1" ] && return
	mkdir -m 0755 "$1" && chown root:root "$1" && made=("$1" "${made[@]}")
}
# Everything the attacks change on the host comes back, even on failure.
cleanup() {
	[ -n "$BG" ] && kill -KILL "$BG" 2>/dev/null
	[ -n "$DUMP0" ] && sysctl -q -w fs.suid_dumpable="$DUMP0"
	[ -n "$FMNT" ] && { as $TU fusermount3 -u "$FMNT" 2>/dev/null || umount -l "$FMNT"; } 2>/dev/null
	[ -n "$FUSECONF" ] && cp -p "$FUSECONF" /etc/fuse.conf
	[ -n "$FUSEMODE" ] && chmod "$FUSEMODE" /dev/fuse
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	rm -rf "${PDT:-/nonexistent}" "/home/$TU/.vialt-attack" "/dev/shm/vialt-attack"
	for d in "${made[@]}"; do rmdir "$d"; done
	teardown
}
trap cleanup EXIT

mkdir_root /opt/vial
mkdir_root "$PD"
PDT=$(mktemp -d "$PD/t.XXXXXX") && chmod 755 "$PDT"
install -m 755 "$TOP/t/getfd" "$T/bin/getfd"

# The audit listener: a protected image runs only when /dev/log takes its
# record. nsrun gives the command a private /dev/log that is the listener.
mkdir "$T/log"
/usr/bin/python3 "$TOP/t/syslog-listen.py" "$T/log.sock" "$T/log" 9>&- &
LPID=$!
for i in $(seq 50); do [ -e "$T/log/ready" ] && break; sleep 0.1; done
nsrun() {	# nsrun CMD...: CMD (as root) in a mount namespace with our /dev/log
	local d rc
	d=$(mktemp -d "$T/ns.XXXXXX") && mkdir "$d/u" "$d/w" || return 99
	ln -s "$T/log.sock" "$d/u/log"
	(cd "${NS_CWD:-$T}" && unshare -m -- sh -c '
		d=$1; shift
		mount -t overlay vialdev -o "lowerdir=/dev,upperdir=$d/u,workdir=$d/w" /dev || exit 99
		exec "$@"' nsrun "$d" "$@" 9>&-)
	rc=$?
	rm -rf "$d"
	return $rc
}
# pv ARGS...: the installed vial as the test user, with our /dev/log
pv() { run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" "$@"; }
# pvenv ENV... -- ARGS...: the same with variables set in the caller's environment
pvenv() {
	local e=()
	while [ "$1" != -- ]; do e+=("$1"); shift; done; shift
	run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- env "${e[@]}" "$VIAL" "$@"
}
ppid_of() { awk '{print $4}' "/proc/$1/stat" 2>/dev/null; }
comm_of() { cat "/proc/$1/comm" 2>/dev/null; }

TREE=$T/tree
unsquashfs -q -d "$TREE" "$IMG" >/dev/null
LIC=$PDT/lic.sqfs
mksquashfs "$TREE" "$LIC" -noappend -all-root -quiet -comp gzip >/dev/null
chown root:root "$LIC" && chmod 600 "$LIC"

# === 1. pidfd_getfd on the processes a --pid run leaves waiting ============
# With fs.suid_dumpable=1 the permanent drop (a credential change) makes a
# process dumpable again unless vial clears the flag after it: then the
# same user may pidfd_getfd, ptrace or list /proc/PID/fd. The outer vial
# and the init must hold no fd of the image or the host, and be
# non-dumpable, whatever the sysctl says.

DUMP0=$(sysctl -n fs.suid_dumpable)
for dump in 0 1 2; do
	sysctl -q -w fs.suid_dumpable=$dump
	nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" exec -p "$LIC" sleep 30 \
		>"$T/bg.out" 2>&1 </dev/null &
	BG=$!
	cmd= init= outer=
	for i in $(seq 100); do
		cmd=$(pgrep -u $TU -x sleep) && break
		sleep 0.05
	done
	init=$(ppid_of "${cmd:-0}") outer=$(ppid_of "${init:-0}")
	check "a --pid run of the protected image is up: outer vial, init, command (suid_dumpable=$dump)" \
		test -n "$cmd" -a "$(comm_of "$init")" = vial -a "$(comm_of "$outer")" = vial
	for who in init outer; do
		p=${!who}
		[ $who = init ] && name="the init of a --pid protected run" ||
			name="the outer vial of a --pid protected run"
		loot=$T/loot.$who.$dump
		mkdir -m 700 "$loot" && chown $TU "$loot"
		got=$(as $TU "$T/bin/getfd" "${p:-0}" 64 "$loot" 2>&1)
		diag "$who (pid $p), suid_dumpable=$dump: $(echo "$got" | tr '\n' ';')"
		copied=no
		for f in "$loot"/fd*; do cmp -s "$f" "$LIC" && copied="yes, $f"; done
		is "$copied" no "no copy of the protected image can be made from fds of $name (suid_dumpable=$dump)"
		unlike "$got" "68737173|$LIC|/dev/loop| dir\$" \
			"$name holds no fd of the image, a loop device or a host directory it lets the user take (suid_dumpable=$dump)"
		unlike "$got" "^fd [0-9]+:" \
			"$name lets the user take none of its fds with pidfd_getfd (suid_dumpable=$dump)"
		run as $TU ls -l "/proc/${p:-0}/fd/"
		is "$RC" 2 "$name's /proc/PID/fd cannot be listed by the user (suid_dumpable=$dump)"
		[ "$RC" = 2 ] || diag "$OUT"
	done
	kill "$cmd" 2>/dev/null; wait "$BG" 2>/dev/null; BG=
	clean "--pid protected run, suid_dumpable=$dump"
done
sysctl -q -w fs.suid_dumpable="$DUMP0"

done_testing
