#!/bin/bash
# Attacks from the outside security audit, each run as the unprivileged
# user. Every assertion passes when the attack FAILED (the secret stayed
# secret, the forged file was refused); the controls pass when vial still
# does what it must outside protected runs. A known gap is a TAP TODO test.
#
#   1. fds of a --pid run's outer vial and init taken with pidfd_getfd
#      (and /proc/PID/fd), for fs.suid_dumpable = 0, 1 and 2; a LOOP_LINGER
#      holder's with suid_dumpable=1;
#   2. execute-only (0711) binaries in a protected image dumped by code of
#      the user's run inside them: loader variables, a bind over the image's
#      libc, preloads from the host's /tmp, home, cwd, a bind, /dev/shm, a
#      memfd, /proc/PID/mem, a tracer from /tmp, an inherited fd, or the
#      host seizing the container's shell, an inherited fd or stdin as
#      the preload; as TODO (a known gap), a tracer attached before the
#      exec of a 0711 program on the host, without vial (README);
#   3. an image's ownership forged through FUSE (bindfs --force-user=root).
. "$(dirname "$0")/lib.sh"
setup
. "$(dirname "$0")/xonly.sh"

BG= DUMP0= FUSECONF= FUSEMODE= FMNT=

# Everything the attacks change on the host comes back, even on failure.
cleanup() {
	[ -n "$BG" ] && kill -KILL "$BG" 2>/dev/null
	[ -n "$DUMP0" ] && sysctl -q -w fs.suid_dumpable="$DUMP0"
	[ -n "$FMNT" ] && { as $TU fusermount3 -u "$FMNT" 2>/dev/null || umount -l "$FMNT"; } 2>/dev/null
	[ -n "$FUSECONF" ] && cp -p "$FUSECONF" /etc/fuse.conf
	[ -n "$FUSEMODE" ] && chmod "$FUSEMODE" /dev/fuse
	rm -rf "${LDIR:-/nonexistent}" "${HX:-/nonexistent}" "${FU:-/nonexistent}"
	xonly_cleanup
	teardown
}
trap cleanup EXIT

install -m 755 "$TOP/t/getfd" "$T/bin/getfd"

LIC=$PDT/lic.sqfs
mksquashfs "$TREE" "$LIC" -noappend -all-root -quiet -comp gzip >/dev/null
chown root:root "$LIC" && chmod 600 "$LIC"

# === 1. pidfd_getfd on the processes a --pid run leaves waiting ============
# With fs.suid_dumpable=1 the permanent drop (a credential change) makes a
# process dumpable again unless vial clears the flag after it: then the
# same user may pidfd_getfd, ptrace or list /proc/PID/fd. The outer vial
# and the init must hold no fd of the image or the host, and be
# non-dumpable, whatever the sysctl says.

# A site build with an UNSEALED protected directory (fs.suid_dumpable=1
# refuses sealed runs: their outer vial, init and holder are then an
# unsealed run's) and LOOP_LINGER for the holder.
LDIR=$(mktemp -d /var/lib/vialt-linger.XXXXXX) && chmod 755 "$LDIR"	# root's all the way down
mkdir -m 755 "$PDT/u"
sed -e "s|^\([[:space:]]*\){ \"/opt/vial/protected\", NULL, SEALED },|&\\
\1{ \"$PDT/u\", NULL, UNSEALED },|" \
	-e "s|^#define LOOP_LINGER 0|#define LOOP_LINGER 2|" \
	-e "s|^#define LINGER_DIR .*|#define LINGER_DIR \"$LDIR/linger\"|" "$TOP/config.h" > "$T/linger.h"
flock /tmp/vial-build.lock make -C "$TOP" -s CONFIG="$T/linger.h" OUT="$T/vial-linger" \
	OBJDIR="$T/obj" >"$T/build.log" 2>&1 || diag "linger build failed:" "$(cat "$T/build.log")"
install -o root -g root -m 4755 "$T/vial-linger" "$T/bin/vial-linger"
ULIC=$PDT/u/lic.sqfs
cp -p "$LIC" "$ULIC"

DUMP0=$(sysctl -n fs.suid_dumpable)
for dump in 0 1 2; do
	sysctl -q -w fs.suid_dumpable=$dump
	lic=$LIC v=$VIAL kind=sealed
	if [ $dump = 1 ]; then
		pv exec "$LIC" true
		is "$RC|$ERR" "255|vial: $LIC: a sealed protected image does not run while fs.suid_dumpable is 1 (an admin can set it to 0 or 2: sysctl fs.suid_dumpable=0)" \
			"a sealed run is refused while fs.suid_dumpable is 1"
		clean "sealed run refused, suid_dumpable=1"
		lic=$ULIC v=$T/bin/vial-linger kind=unsealed
	fi
	nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$v" exec -p "$lic" sleep 30 \
		>"$T/bg.out" 2>&1 </dev/null &
	BG=$!
	cmd= init= outer=
	for i in $(seq 100); do
		cmd=$(pgrep -u $TU -x sleep) && break
		sleep 0.05
	done
	init=$(ppid_of "${cmd:-0}") outer=$(ppid_of "${init:-0}")
	check "a --pid run of the $kind protected image is up: outer vial, init, command (suid_dumpable=$dump)" \
		test -n "$cmd" -a "$(comm_of "$init")" = "${v##*/}" -a "$(comm_of "$outer")" = "${v##*/}"
	for who in init outer; do
		p=${!who}
		[ $who = init ] && name="the init of a --pid $kind protected run" ||
			name="the outer vial of a --pid $kind protected run"
		loot=$T/loot.$who.$dump
		mkdir -m 700 "$loot" && chown $TU "$loot"
		got=$(as $TU "$T/bin/getfd" "${p:-0}" 64 "$loot" 2>&1)
		diag "$who (pid $p), suid_dumpable=$dump: $(echo "$got" | tr '\n' ';')"
		copied=no
		for f in "$loot"/fd*; do cmp -s "$f" "$LIC" && copied="yes, $f"; done
		is "$copied" no "no copy of the protected image can be made from fds of $name (suid_dumpable=$dump)"
		unlike "$got" "68737173|$lic|/dev/loop| dir\$" \
			"$name holds no fd of the image, a loop device or a host directory it lets the user take (suid_dumpable=$dump)"
		unlike "$got" "^fd [0-9]+:" \
			"$name lets the user take none of its fds with pidfd_getfd (suid_dumpable=$dump)"
		run as $TU ls -l "/proc/${p:-0}/fd/"
		is "$RC" 2 "$name's /proc/PID/fd cannot be listed by the user (suid_dumpable=$dump)"
		[ "$RC" = 2 ] || diag "$OUT"
	done
	kill "$cmd" 2>/dev/null; wait "$BG" 2>/dev/null; BG=
	# (the unsealed run's build lingers: its holder goes LOOP_LINGER s after)
	for i in $(seq 50); do pgrep -u $TU -x vial-linger >/dev/null || break; sleep 0.1; done
	clean "--pid $kind protected run, suid_dumpable=$dump"
done

# The same for a LOOP_LINGER build's holder, which stays after the run.
sysctl -q -w fs.suid_dumpable=1
run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$T/bin/vial-linger" exec "$ULIC" true
h=$(pgrep -u $TU -x vial-linger)
check "(a LOOP_LINGER run of the unsealed protected image leaves a holder)" test -n "$h"
got=$(as $TU "$T/bin/getfd" "${h:-0}" 64 2>&1)
diag "holder (pid $h), suid_dumpable=1: $(echo "$got" | tr '\n' ';')"
unlike "$got" "^fd [0-9]+:" "a LOOP_LINGER holder of a protected image lets the user take none of its fds (suid_dumpable=1)"
run as $TU ls "/proc/${h:-0}/fd/" "/proc/${h:-0}/root/"
is "$RC" 2 "nor list its fds or root (suid_dumpable=1)"
[ -n "$h" ] && kill "$h"
for i in $(seq 50); do pgrep -u $TU -x vial-linger >/dev/null || break; sleep 0.1; done
sysctl -q -w fs.suid_dumpable="$DUMP0"
clean "LOOP_LINGER holder, suid_dumpable=1"

# === 2. execute-only binaries in a protected image =========================
# The fixtures are in xonly.sh: /secret/prog in $SEC and $OPEN, the
# user's x.so, evil-libc.so.6 and ptdump in $EV, copies in $UH, $CW, $SHM.
# Every route below must leave the marker unseen in a protected run; the
# same routes still work on an ordinary image.

no_leak() {	# no_leak NAME: the marker is in neither stdout nor stderr of the last run
	unlike "$OUT
$ERR" "$MARK" "$1"
}

pv exec "$SEC" /secret/prog
is "$RC|$OUT" "0|hello" "the execute-only program runs from the protected image"

# a. reading the file inside (the kernel refuses: a regression check)
pv exec "$SEC" cat /secret/prog
no_leak "cat of the execute-only program inside a protected run shows nothing of it"
# b. a preload in the caller's environment
pvenv LD_PRELOAD="$EV/x.so" -- exec "$SEC" /secret/prog
no_leak "LD_PRELOAD from the caller's environment does not reach a protected program"
# c. --env
pv exec --env LD_PRELOAD="$EV/x.so" "$SEC" /secret/prog
no_leak "--env LD_PRELOAD=... does not reach a protected program"
# d. the Singularity and Apptainer variables
pvenv SINGULARITYENV_LD_PRELOAD="$EV/x.so" -- exec "$SEC" /secret/prog
no_leak "SINGULARITYENV_LD_PRELOAD does not reach a protected program"
pvenv APPTAINERENV_LD_PRELOAD="$EV/x.so" -- exec "$SEC" /secret/prog
no_leak "APPTAINERENV_LD_PRELOAD does not reach a protected program"
# e. the user's library bound over the image's libc
pv exec -B "$EV/evil-libc.so.6:/lib/x86_64-linux-gnu/libc.so.6" "$SEC" /secret/prog
no_leak "a bind of the user's library over the protected image's libc does not run in the program"
diag "(-B over libc: rc $RC, stderr: $ERR)"
# f. a preload set from a shell inside, the library in the host's /tmp (bound)
pv exec "$SEC" sh -c "LD_PRELOAD=$EV/x.so /secret/prog"
no_leak "a preload from the host's /tmp, set inside, does not run in a protected program"
# g. the same from home, the working directory, a -B bind and /dev/shm
pv exec "$SEC" sh -c "LD_PRELOAD=$UH/x.so /secret/prog"
no_leak "a preload from the user's home does not run in a protected program"
NS_CWD=$CW pv exec "$SEC" sh -c 'LD_PRELOAD=$PWD/x.so /secret/prog'
no_leak "a preload from the working directory does not run in a protected program"
pv exec -B "$CW:/opt/evil" "$SEC" sh -c 'LD_PRELOAD=/opt/evil/x.so /secret/prog'
no_leak "a preload from a -B bind does not run in a protected program"
pv exec "$SEC" sh -c "LD_PRELOAD=$SHM/x.so /secret/prog"
no_leak "a preload from /dev/shm does not run in a protected program"
# h. a preload the loader maps from a memfd
pv exec "$SEC" probe memfd-exec "$EV/x.so" /secret/prog
no_leak "a preload from a memfd does not run in a protected program"
diag "(memfd: $OUT)"
# i. /proc/PID/mem of the running program, from a sibling (the kernel refuses)
pv exec "$SEC" sh -c '/secret/prog sleep >/dev/null & p=$!; sleep 0.3
	a=$(grep -m1 /secret/prog /proc/$p/maps | cut -d- -f1); echo "maps: ${a:-none}"
	dd if=/proc/$p/mem bs=4096 skip=$((0x${a:-0} / 4096)) count=16 | grep -ao "VIAL-SECRET-[0-9a-f]*"
	kill $p'
no_leak "/proc/PID/mem of a running execute-only program cannot be read from beside it"
diag "(/proc/PID/mem: $(echo "$OUT $ERR" | tr '\n' ';'))"
# a tracer of the user's, from the host's /tmp (code of the user's, like f)
pv exec "$SEC" "$EV/ptdump" /secret/prog
no_leak "a tracer from the host's /tmp cannot make a protected program write itself out"
diag "(tracer from /tmp: $(echo "$OUT $ERR" | tr '\n' ';'))"
clean "execute-only program in a protected image"

# The controls: on an ordinary image nothing of this changes.
pvenv LD_PRELOAD="$EV/x.so" -- exec "$OPEN" /secret/prog
like "$OUT" "^LEAKED $MARK" "(control) on an ordinary image the caller's LD_PRELOAD still reaches the program"
run as $TU "$VIAL" exec "$OPEN" sh -c "LD_PRELOAD=$EV/x.so /secret/prog"
like "$OUT" "^LEAKED $MARK" "(control) on an ordinary image a preload from /tmp set inside still runs"
run as $TU "$VIAL" exec -B "$EV/evil-libc.so.6:/lib/x86_64-linux-gnu/libc.so.6" "$OPEN" /secret/prog
like "$OUT" "^LEAKED $MARK" "(control) on an ordinary image a bind over its libc still works"
run as $TU "$VIAL" exec "$OPEN" probe memfd-exec "$EV/x.so" /secret/prog
like "$OUT" "^LEAKED $MARK" "(control) on an ordinary image a memfd preload still works"
clean "controls on an ordinary image"

# (j) an fd of the user's, inherited, on an exec host mount: closed by
# Landlock in a sealed run (the magic link resolves outside the
# container's /). Known gap, reported as TODO: (k) a tracer attached
# before the exec: PTRACE_PEEKTEXT is refused (the mm is not dumpable) but
# PTRACE_SETREGS is not, so the tracee can be made to write(2) its own
# pages out; shown on the host, without vial.
todo() {	# todo NAME CMD...: a known gap; its "not ok" does not fail the file
	local name=$1; shift
	n=$((n+1))
	if "$@"; then echo "ok $n - $name # TODO known gap"; else echo "not ok $n - $name # TODO known gap"; fi
}
unseen() { ! grep -q "$MARK" <<<"$OUT
$ERR"; }
pv exec "$SEC" sh -c 'LD_PRELOAD=/proc/self/fd/5 /secret/prog' 5<"$CW/x.so"
check "a preload through an inherited fd (a file on an exec host mount) does not run in a protected program" unseen
diag "(inherited fd: $(echo "$OUT $ERR" | tr '\n' ';'))"
HX=$(mktemp -d /opt/vialt-x.XXXXXX) && chmod 755 "$HX"
install -o root -g root -m 0711 "$S/prog" "$HX/prog"
run as $TU "$CW/ptdump" "$HX/prog"
todo "on the host (no vial), a tracer attached before exec cannot make a 0711 root program write itself out" unseen
diag "(host ptrace: $(echo "$OUT $ERR" | tr '\n' ';'))"
rm -rf "$HX"
pv exec "$SEC" sh -c '/proc/self/fd/6 /secret/prog' 6<"$CW/ptdump"
check "a tracer run from an inherited fd cannot make a protected program write itself out (seccomp: no ptrace)" unseen
diag "(tracer via inherited fd: $(echo "$OUT $ERR" | tr '\n' ';'))"
# (j') the same preload as stdin, an fd vial cannot close
OUT=$(nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" exec "$SEC" \
	sh -c 'LD_PRELOAD=/proc/self/fd/0 /secret/prog' <"$CW/x.so" 2>"$T/.err"); RC=$?
ERR=$(cat "$T/.err")
check "a preload through stdin (a file on an exec host mount) does not run in a protected program" unseen
diag "(preload as stdin: $(echo "$OUT $ERR" | tr '\n' ';'))"
# (k') a tracer on the host, not in the container at all: it seizes the
# container's shell (the user's, dumpable) before that execs the program.
# No longer a gap: the shell is in the sealed run's user namespace, which
# root owns, and the kernel refuses the attach.
nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" exec "$SEC" \
	sh -c 'sleep 2; exec /secret/prog' >"$CW/out" 2>&1 </dev/null &
BG=$! sh=
for i in $(seq 100); do sh=$(pgrep -u $TU -x sh) && break; sleep 0.02; done
run as $TU "$CW/ptdump" -p "${sh:-0}" "$CW/out"
wait $BG; BG=
check "a tracer on the host that seizes the container's shell cannot make the protected program it execs write itself out (the run's user namespace)" unseen
diag "(host tracer seizing the container's shell: $(echo "$OUT $ERR" | tr '\n' ';'))"
clean "known gaps"

# === 3. an image's ownership forged through FUSE ==========================
# With user_allow_other, a user's bindfs can show their own ext4 image as
# root's and read-only. By default ext is mounted only from images a user
# could not have written: a file on FUSE is the user's, whatever it
# claims. (squashfs is allowed from users' images, so it still runs.)

FUSECONF=$T/fuse.conf.orig FUSEMODE=$(stat -c %a /dev/fuse)
cp -p /etc/fuse.conf "$FUSECONF"
grep -qx user_allow_other /etc/fuse.conf || echo user_allow_other >> /etc/fuse.conf
chmod 666 /dev/fuse
FU=$(mktemp -d /var/lib/vialt-fuse.XXXXXX) && chmod 755 "$FU"
mkdir -m 755 "$FU/src" "$FU/mnt"
"$TOP/t/mkimage.sh" "$FU/src/img.ext4" "" ext4
cp "$IMG" "$FU/src/img.sqfs"
chown -R $TU:$TU "$FU/src" "$FU/mnt" && chmod 644 "$FU/src"/img.*

EXTMSG() { echo "vial: $1: ext images must be owned by root and not writable by group or other (site policy USER_FORMATS)"; }
vial exec "$FU/src/img.ext4" true
is "$RC|$ERR" "255|$(EXTMSG "$FU/src/img.ext4")" "(the user's own ext4 image is refused)"

run as $TU bindfs --force-user=root --force-group=root --perms=a-w -o allow_other "$FU/src" "$FU/mnt"
[ "$RC" = 0 ] && FMNT=$FU/mnt || diag "bindfs: $ERR"
is "$(stat -c '%U:%G %A' "$FU/mnt/img.ext4" 2>&1)" "root:root -r--r--r--" \
	"(through the user's bindfs it looks root's and read-only)"
vial exec "$FU/mnt/img.ext4" true
is "$RC" 255 "the user's ext4 image on a FUSE mount that claims root's ownership is refused"
is "$ERR" "$(EXTMSG "$FU/mnt/img.ext4")" "and vial says ext images must be root's (a file on FUSE is the user's)"
vial exec "$FU/mnt/img.sqfs" cat /etc/os-release
is "$RC|$OUT" '0|NAME="vial demo (busybox)"' "a squashfs image on the same FUSE mount still runs (users' squashfs is allowed)"
run as $TU fusermount3 -u "$FU/mnt"
is "$RC" 0 "(the user unmounts bindfs)" && FMNT=
for i in $(seq 50); do pgrep -u $TU -x bindfs >/dev/null || break; sleep 0.1; done
rm -rf "$FU"
cp -p "$FUSECONF" /etc/fuse.conf && FUSECONF=
chmod "$FUSEMODE" /dev/fuse && FUSEMODE=
clean "images on a FUSE mount"

done_testing
