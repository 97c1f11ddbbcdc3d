#!/bin/bash
# The second audit: execute-only programs of a protected image copied
# around the walls, each route run as the unprivileged user. Every
# assertion passes when the attack FAILED; the controls on an ordinary
# image pass when nothing changed for it.
#
#   1. inside: a user namespace of the caller's own (unshare -r -m), and in
#      it a tmpfs to preload from, or a private binfmt_misc (Linux 6.7+)
#      whose `O` handler is handed a readable fd of the program; clone,
#      clone3, setns with a namespace fd passed in over a socket;
#   2. from the host, as the same user, while the container runs:
#      /proc/PID/root, cwd, environ and ptrace on each of its processes,
#      and the programs run through /proc/PID/root with a preload or the
#      binfmt trick; signals still reach the run;
#   3. without --pid: a preload from /proc/<a host process>/cwd inside;
#   4. a FUSE mount the caller makes after launch, propagating in.
# (t/93-sealed.t has the third audit's routes and the sealed run's walls.)
. "$(dirname "$0")/lib.sh"
setup
. "$(dirname "$0")/xonly.sh"

BG= HP= NSP= SOCKP=
cleanup() {
	for p in $BG $HP $NSP $SOCKP; do stop $p; done	# (stop with no pid waits for all)
	xonly_cleanup
	teardown
}
trap cleanup EXIT
install -m 755 "$TOP/t/execfd" "$EV/execfd"
install -m 755 "$TOP/t/probe" "$EV/probe"
UM=$T/um			# where the user mounts a tmpfs of their own
SK=$T/sock			# where the user's socket is
mkdir -m 755 "$UM" "$SK" && chown $TU "$UM" "$SK"

no_leak() {	# no_leak NAME: the marker is in neither stdout nor stderr of the last run
	unlike "$OUT
$ERR" "$MARK" "$1"
}
leak() {	# leak NAME: the control: it is
	like "$OUT
$ERR" "^LEAKED $MARK" "$1"
}
# In a user namespace of one's own: a tmpfs, x.so copied there, preloaded.
TMPFS_PRELOAD="unshare -r -m sh -c 'mount -t tmpfs none $UM && cp $EV/x.so $UM/ &&
	LD_PRELOAD=$UM/x.so /secret/prog'"
# binfmt_cmd PROG: a shell line that, in a user namespace, mounts a private
# binfmt_misc with an `O` handler for every ET_DYN ELF (PIE and static-pie
# programs; execfd itself is ET_EXEC), and runs PROG through it.
binfmt_cmd() {
	echo "unshare -r -m sh -c 'mount -t tmpfs none $UM && cp $EV/execfd $UM/i && mkdir $UM/b &&
		mount -t binfmt_misc none $UM/b &&
		echo \":vialx:M:16:\\\\x03::$UM/i:O\" > $UM/b/register && exec $1'"
}
run as $TU sh -c "$(binfmt_cmd "$S/sprog")"
case "$RC|$OUT" in "0|LEAKED $MARK"*) BINFMT=1 ;; *) BINFMT= ;; esac
diag "on the host, as the user (no vial), binfmt_misc in a user namespace: $OUT $ERR"

# === 1. inside: user namespaces of the caller's own ========================
pv exec "$SEC" sh -c "$TMPFS_PRELOAD"
no_leak "in a user namespace of one's own, a preload from a new tmpfs does not run in a protected program"
diag "(tmpfs preload: rc $RC: $(echo "$OUT $ERR" | tr '\n' ';'))"
pv exec --containall -B "$T" "$SEC" sh -c "$TMPFS_PRELOAD"
no_leak "the same with --containall (the user's files bound in)"
run as $TU "$VIAL" exec "$OPEN" sh -c "$TMPFS_PRELOAD"
leak "(control) on an ordinary image the tmpfs preload in a user namespace still runs"

if [ -n "$BINFMT" ]; then
	for p in prog sprog; do
		pv exec "$SEC" sh -c "$(binfmt_cmd /secret/$p)"
		no_leak "a binfmt_misc O handler in a user namespace of one's own is not handed /secret/$p"
		diag "(binfmt, $p: rc $RC: $(echo "$OUT $ERR" | tr '\n' ';'))"
	done
	pv exec --containall -B "$T" "$SEC" sh -c "$(binfmt_cmd /secret/sprog)"
	no_leak "nor with --containall (the user's files bound in)"
	run as $TU "$VIAL" exec "$OPEN" sh -c "$(binfmt_cmd /secret/sprog)"
	leak "(control) on an ordinary image the binfmt_misc handler reads the static program"
else
	for i in 1 2 3 4; do
		ok "# SKIP this kernel ($(uname -r)) has no binfmt_misc in user namespaces (6.7+)"
	done
fi

for how in unshare clone; do
	pv exec "$SEC" probe userns $how
	is "$RC|$OUT" "1|userns $how: Operation not permitted" \
		"$how with CLONE_NEWUSER is refused in a protected run (EPERM)"
done
pv exec "$SEC" probe userns clone3
is "$RC|$OUT" "1|userns clone3: Function not implemented" \
	"clone3 is refused in a protected run (ENOSYS: the C libraries fall back to clone)"
# setns: the fd of a user namespace of the caller's, sent over a socket
bg $TU unshare -U sleep 60
NSP=$BGPID
for i in $(seq 50); do [ "$(readlink /proc/$NSP/ns/user)" != "$(readlink /proc/self/ns/user)" ] && break; sleep 0.05; done
sendfd() {	# sendfd: serve the namespace fd on $SK/ns.sock, as the user, once
	rm -f "$SK/ns.sock"
	as $TU /usr/bin/python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1); s.settimeout(20)
fd = os.open(sys.argv[2], os.O_RDONLY)
c, _ = s.accept()
socket.send_fds(c, [b"x"], [fd])' "$SK/ns.sock" "/proc/$NSP/ns/user" &
	SOCKP=$!
	for i in $(seq 50); do [ -S "$SK/ns.sock" ] && break; sleep 0.05; done
}
sendfd
pv exec "$SEC" probe setns "$SK/ns.sock"
is "$RC|$OUT" "1|setns: no fd from $SK/ns.sock: Permission denied" \
	"a user namespace's fd cannot even come in over a socket in a sealed run (no unix sockets)"
pkill -KILL -u $TU -f socket.send_fds	# (no one came for it)
stop $SOCKP; SOCKP=
pv exec "$SEC" probe setns /proc/self/ns/user
is "$RC|$OUT" "1|setns: Operation not permitted" "setns is refused in a sealed run (EPERM)"
for how in unshare clone clone3; do
	run as $TU "$VIAL" exec "$OPEN" probe userns $how
	is "$RC|$OUT" "0|userns $how: entered" "(control) on an ordinary image $how into a user namespace works"
done
sendfd
run as $TU "$VIAL" exec "$OPEN" probe setns "$SK/ns.sock"
is "$RC|$OUT" "0|setns: entered" "(control) on an ordinary image setns with the fd from the socket works"
run as $TU "$VIAL" exec "$OPEN" probe setns /proc/self/ns/user
is "$RC|$OUT" "1|setns: Invalid argument" "(control) on an ordinary image setns into its own user namespace reaches the kernel (EINVAL)"
stop $SOCKP $NSP; SOCKP= NSP=
run as $TU "$VIAL" exec "$OPEN" unshare -r true
is "$RC" 0 "(control) on an ordinary image unshare -r true exits 0"
clean "user namespaces inside"

# === 2. from the host, while the container runs ============================
# The run: its command (a shell), a child shell, sleep, the execute-only
# program, and with --pid the init. As the same user on the host, none of
# them may be reached, and no program of the image run through them.
procs_of() {	# procs_of PID: PID and its descendants
	echo "$1"
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do procs_of "$c"; done
}
reach() {	# reach PID: what the user's host process gets of PID (one word each)
	local w=
	as $TU ls "/proc/$1/root/" >/dev/null 2>&1 && w="$w root"
	as $TU ls "/proc/$1/cwd/" >/dev/null 2>&1 && w="$w cwd"
	as $TU cat "/proc/$1/environ" >/dev/null 2>&1 && w="$w environ"
	as $TU timeout 5 strace -qq -e trace=none -p "$1" -o /dev/null 2>/dev/null &
	local s=$!
	sleep 0.5
	if kill -0 $s 2>/dev/null; then w="$w ptrace"; kill $s; fi
	wait $s 2>/dev/null
	echo "${w:- none}"
}
for mode in --pid none; do
	opt=; [ $mode = --pid ] && opt=-p
	nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" exec $opt "$SEC" \
		sh -c 'sh -c "sleep 40; :" & /secret/prog sleep; wait; :' >"$T/bg.out" 2>&1 </dev/null &
	BG=$!
	top=
	for i in $(seq 100); do
		top=$(pgrep -u $TU -f '^sleep 40') && break
		sleep 0.05
	done
	top=$(ppid_of "$(ppid_of "${top:-0}")")	# the command, sh
	[ $mode = --pid ] && top=$(ppid_of "$top")	# the init
	all=$(procs_of "${top:-0}")
	names=$(for p in $all; do comm_of "$p"; done | sort | tr '\n' ' ')
	want="prog sh sh sleep "; [ $mode = --pid ] && want="prog sh sh sleep vial "
	is "$names" "$want" "(a protected run is up, $mode: $want)"
	for p in $all; do
		c=$(comm_of "$p")
		[ "$c" = prog ] && continue	# non-dumpable: the kernel refused it before
		is "$(reach "$p")" " none" "from the host the user reaches none of /proc/PID/root, cwd, environ, ptrace of the run's $c ($mode)"
	done
	sh=$(pgrep -u $TU -f '^sh -c sleep 40' | head -1)
	run as $TU env LD_PRELOAD="$UH/x.so" "/proc/${sh:-0}/root/secret/prog"
	no_leak "from the host, a preload into /proc/PID/root/secret/prog of the run's shell does not leak it ($mode)"
	diag "(host preload: rc $RC: $(echo "$OUT $ERR" | tr '\n' ';'))"
	if [ -n "$BINFMT" ]; then
		# (the directory opened before unshare: from a user namespace of
		# its own the user's /proc/PID/root of the run is refused anyway)
		run as $TU sh -c "exec 3</proc/${sh:-0}/root/secret; $(binfmt_cmd /proc/self/fd/3/sprog)"
		no_leak "from the host, the binfmt trick in the user's own namespace does not copy the static program through /proc/PID/root ($mode)"
		diag "(host binfmt: rc $RC: $(echo "$OUT $ERR" | tr '\n' ';'))"
	else
		ok "# SKIP no binfmt_misc in user namespaces on $(uname -r)"
	fi
	vpid=$top	# vial is the command, or with --pid the init's parent
	[ $mode = --pid ] && vpid=$(ppid_of "$top")
	run as $TU kill -TERM "${vpid:-0}"
	is "$RC" 0 "the user can still signal the run ($mode)"
	wait $BG; rc=$?; BG=
	is "$rc" 143 "kill -TERM ends the run with 143 ($mode)"
	# (without --pid the command's children outlive it, as on the host)
	[ $mode = none ] && as $TU kill -TERM $all 2>/dev/null
	clean "from the host, $mode"
done

# === 3. without --pid: the caller's host processes from inside ============
bg $TU sh -c "cd $CW && exec sleep 60"
HP=$BGPID
wait_comm $HP sleep
diag "(a host process of the user's, $HP, in $(readlink /proc/$HP/cwd): $(ls /proc/$HP/cwd | tr '\n' ' '))"
pv exec "$SEC" sh -c "LD_PRELOAD=/proc/$HP/cwd/x.so /secret/prog"
no_leak "without --pid, a preload from /proc/<the caller's host process>/cwd does not run in a protected program"
diag "(host cwd preload: rc $RC: $(echo "$OUT $ERR" | tr '\n' ';'))"
pv exec "$SEC" ls /proc/$HP/root/
is "$RC" 1 "nor can the run list /proc/<the caller's host process>/root"
run as $TU "$VIAL" exec "$OPEN" sh -c "LD_PRELOAD=/proc/$HP/cwd/x.so /secret/prog"
leak "(control) on an ordinary image the preload from /proc/PID/cwd still runs"
stop $HP; HP=
clean "the caller's host processes from inside"

# === 4. a FUSE mount made after launch ====================================
fuse_home
late() {	# late VIAL-RUNNER IMAGE: what the run sees of $FH/mnt once the user mounts there
	"$@" sh -c "sleep 1.5; grep -c ' $FH/mnt ' /proc/self/mountinfo; cat $FH/mnt/f" \
		>"$T/late.out" 2>&1 </dev/null &
	BG=$!
	sleep 0.5
	as $TU bindfs --no-allow-other "$FH/src" "$FH/mnt" && FMNT=$FH/mnt
	wait $BG; BG=
	OUT=$(cat "$T/late.out")
	as $TU fusermount3 -u "$FH/mnt" && FMNT=
	for i in $(seq 50); do pgrep -u $TU -x bindfs >/dev/null || break; sleep 0.1; done
}
late nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" exec "$SEC"
unlike "$OUT" "fused" "a FUSE mount the caller makes in their home after launch does not appear in a protected run"
like "$OUT" "^0" "(its mount table has no such mount)"
late setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" exec "$OPEN"
like "$OUT" "^1
fused" "(control) in an ordinary run it does (mounts still propagate)"
fuse_home_done
clean "FUSE after launch"

done_testing
