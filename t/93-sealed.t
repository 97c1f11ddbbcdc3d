#!/bin/bash
# The third audit and the sealed run (issue 20): execute-only programs of
# a protected image copied by routes around PROTECTED_GROUP and the
# filter, each run as the unprivileged user, and the walls that replace
# them: a user namespace root owns, Landlock, no unix sockets, inherited
# descriptors by allow-list. Every assertion passes when the attack
# FAILED; the controls on an ordinary image pass when nothing changed.
#
#   1. a set-gid file minted inside, run on the host;
#   2. descriptors passed out: by the image's python3 over a socket in a
#      -B directory, and from an inherited socketpair;
#   3. the caller's own code in: an inherited program as the command, a
#      preload from an inherited memfd;
#   4. two users' sealed runs: what one makes, the other cannot use;
#   5. a FUSE mount made while vial builds the tree;
#   6. found on the prototype: a seccomp listener answering the loader,
#      an inherited io_uring or listener, AF_UNIX through the i386 ABI, a
#      program that makes itself dumpable;
#   7. what a sealed run is: its ids and maps, every process's
#      capabilities, the host's reach, vial config.
. "$(dirname "$0")/lib.sh"
setup
. "$(dirname "$0")/xonly.sh"

BG= SHMKEY=7201 RP=
cleanup() {
	[ -n "$BG" ] && stop $BG
	rm -rf "/home/$TU/.vialt-sg"
	ipcrm -M $SHMKEY 2>/dev/null
	[ -n "${USERNS0:-}" ] && sysctl -q -w user.max_user_namespaces="$USERNS0"
	[ -n "${DUMP0:-}" ] && sysctl -q -w fs.suid_dumpable="$DUMP0"
	[ -e /proc/sys/fs/binfmt_misc/vialt ] && echo -1 > /proc/sys/fs/binfmt_misc/vialt
	[ "${BFM:-}" = mounted ] && umount /proc/sys/fs/binfmt_misc
	pkill -KILL -u "$TU,$TU2" -f "$T/" 2>/dev/null
	xonly_cleanup
	teardown
}
trap cleanup EXIT

no_leak() {	# no_leak NAME: the marker is in neither stdout nor stderr of the last run
	unlike "$OUT
$ERR" "$MARK" "$1"
}
leak() {	# leak NAME: the control: it is
	like "$OUT
$ERR" "LEAKED $MARK" "$1"
}

# The user's static tool (t/seal.c), in an exec-capable host place of
# theirs; and one tree more, with python3 (licensed images often carry
# an interpreter) and the tool as one of the image's own programs (so
# the filter can be tried from inside, as the caller's native code run
# through an interpreter would).
install -m 755 "$TOP/t/seal" "$EV/seal"
install -m 755 "$TOP/t/getfd" "$T/bin/getfd"
cp "$EV/seal" "$CW/seal" && chown $TU "$CW/seal"
PTREE=$T/ptree
cp -a "$STREE" "$PTREE"
mkdir -p "$PTREE/usr/lib/python3.11/lib-dynload"
cp /usr/bin/python3.11 "$PTREE/usr/bin/python3"
for l in $(ldd /usr/bin/python3.11 | grep -o '/lib[^ ]*'); do cp -n "$l" "$PTREE$l"; done
cp /usr/lib/python3.11/*.py "$PTREE/usr/lib/python3.11/"
cp -r /usr/lib/python3.11/encodings /usr/lib/python3.11/collections \
	/usr/lib/python3.11/importlib /usr/lib/python3.11/re "$PTREE/usr/lib/python3.11/"
install -m 755 "$TOP/t/seal" "$PTREE/usr/bin/seal"
PSEC=$PDT/py.sqfs POPEN=$T/py-open.sqfs
mksquashfs "$PTREE" "$PSEC" -noappend -all-root -quiet -comp gzip >/dev/null
chown root:root "$PSEC" && chmod 600 "$PSEC"
cp "$PSEC" "$POPEN" && chmod 644 "$POPEN"
SK=$T/sock			# a directory of the user's, bound with -B
mkdir -m 755 "$SK" && chown $TU "$SK"
PY="python3 -S -I -c"

# === 1. a set-gid file minted inside ======================================
# With PROTECTED_GROUP a file made inside got the run's group, and its
# set-gid bit gave that group on the host: /proc/PID/root of the user's
# protected runs opened again. Files now keep the caller's own group.
SG=/home/$TU/.vialt-sg
mkdir -m 755 "$SG" && chown $TU:$TU "$SG"
pv exec "$SEC" sh -c "cp $EV/seal $SG/sg && chmod 2755 $SG/sg && id -g"
is "$RC|$OUT|$(stat -c '%G %a' "$SG/sg" 2>&1)" "0|$GID1|$TU 2755" \
	"a set-gid file made in a sealed run carries the caller's own group, and id -g inside is theirs"
nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" exec "$SEC" \
	sh -c 'sh -c "sleep 20; :" & /secret/prog sleep; wait; :' >"$T/bg.out" 2>&1 </dev/null &
BG=$!
sh=
for i in $(seq 100); do sh=$(pgrep -u $TU -f '^sh -c sleep 20') && break; sleep 0.05; done
run as $TU "$SG/sg" asgid ls "/proc/${sh:-0}/root/secret/"
is "$RC" 2 "the minted set-gid program gives no way into a sealed run's /proc/PID/root"
run as $TU "$SG/sg" asgid cat "/proc/${sh:-0}/environ"
is "$RC" 1 "nor its environ"
run as $TU "$SG/sg" asgid env LD_PRELOAD="$UH/x.so" "/proc/${sh:-0}/root/secret/prog"
no_leak "nor runs its execute-only program with a preload of the user's"
run as $TU "$SG/sg" asgid timeout 5 strace -qq -e trace=none -p "${sh:-0}" -o /dev/null
is "$RC" 1 "nor traces its shell"
pkill -KILL -u $TU; wait $BG; BG=
clean "the set-gid route"

# === 2. descriptors passed out ============================================
# O_PATH needs no read right: an fd of the program (or its directory),
# sent over a unix socket to a host process of the user's, is execveat'd
# there with a preload.
recv_start() {	# a host process of the user's takes fds on $SK/out.sock, runs them preloaded
	rm -f "$SK/out.sock"
	as $TU "$EV/seal" recvrun "$SK/out.sock" 10 "$UH/x.so" >"$T/recv.out" 2>&1 &
	RP=$!
	for i in $(seq 50); do [ -S "$SK/out.sock" ] && break; sleep 0.05; done
}
recv_end() { pkill -KILL -u $TU -f "recvrun $SK" 2>/dev/null; wait $RP; ROUT=$(cat "$T/recv.out"); }
SENDPY="
import os, socket
s = socket.socket(socket.AF_UNIX)
s.connect('$SK/out.sock')
socket.send_fds(s, [b'x'], [os.open(p, os.O_PATH) for p in ('/secret/prog', '/secret/sprog', '/secret')])
print('sent')"
recv_start
pv exec -C -B "$SK" "$PSEC" $PY "$SENDPY"
sleep 0.5
recv_end
like "$ERR" "PermissionError" "the image's python3 cannot make a unix socket in a sealed run (-C, a -B directory)"
unlike "$ROUT" "fds came" "no descriptor reached the user's host process"
OUT="$OUT$ROUT"
no_leak "nothing of the execute-only programs leaked through it"
recv_start
run as $TU "$VIAL" exec -C -B "$SK" "$POPEN" $PY "$SENDPY"
sleep 0.5
recv_end
like "$ROUT" "^recvrun: 3 fds came
LEAKED $MARK" "(control) from an ordinary run they do, and the host runs the program preloaded"
clean "descriptors out over a socket"

# From an inherited socketpair, with no interpreter: the user's own
# static program as the command, from an inherited fd.
run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- env SEAL_PRELOAD="$UH/x.so" \
	"$EV/seal" withfd unix 4 "$VIAL" -q exec -C --net "$SEC" /proc/self/fd/3 sendfd 4 \
	/secret/prog /secret 3<"$EV/seal"
is "$RC|$ERR" "255|vial: $SEC: /proc/self/fd/3 names a file descriptor or a process: not a command of a sealed protected image" \
	"an inherited program as the command of a sealed run is refused in one line"
no_leak "and nothing leaked"
run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- env SEAL_PRELOAD="$UH/x.so" \
	"$EV/seal" withfd unix 4 "$VIAL" exec -C --net "$SEC" sh -c \
	'/proc/self/fd/3 sendfd 4 /secret/prog /secret; probe fds' 3<"$EV/seal"
like "$OUT$ERR" "Permission denied" "the image's shell cannot run it either (Landlock: a host file)"
unlike "$OUT" "(^| )4( |\$)" "the inherited unix socket is not there"
no_leak "and nothing leaked"
run as $TU env SEAL_PRELOAD="$UH/x.so" "$EV/seal" withfd unix 4 "$VIAL" exec -C --net "$OPEN" \
	/proc/self/fd/3 sendfd 4 /secret/prog 3<"$EV/seal"
like "$OUT" "sent 1" "(control) an ordinary run still runs an inherited program and passes an fd on"
leak "(control) which the host side runs preloaded"
clean "descriptors out over an inherited socketpair"

# === 3. the caller's own code in ==========================================
run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$EV/seal" withfd "memfd:$EV/x.so" 5 \
	"$VIAL" exec "$SEC" sh -c 'LD_PRELOAD=/proc/self/fd/5 /secret/prog; probe fds'
no_leak "a preload from an inherited memfd does not run in a sealed run's program"
unlike "$OUT" "(^| )5( |\$)" "(the memfd is not passed in)"
run as $TU "$EV/seal" withfd "memfd:$EV/x.so" 5 "$VIAL" exec "$OPEN" \
	sh -c 'LD_PRELOAD=/proc/self/fd/5 /secret/prog'
leak "(control) on an ordinary image it does"
run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" exec "$SEC" sh -c \
	'LD_PRELOAD=/proc/self/fd/5 /secret/prog' 5<"$CW/x.so"
no_leak "nor from an inherited file on an exec-capable host mount (Landlock)"
for c in /dev/fd/3 /dev/stdin /proc/1/root/bin/sh; do
	pv exec "$SEC" "$c" 3<"$EV/seal"
	is "$RC|$ERR" "255|vial: $SEC: $c names a file descriptor or a process: not a command of a sealed protected image" \
		"$c as the command of a sealed run is refused"
done
clean "own code in"

# === 4. two users' sealed runs ============================================
# With one group for every protected run, what user A's run made for its
# group (0640, 0750, a default ACL, a 0660 SysV segment) was user B's.
SH=$T/share
mkdir -m 1777 "$SH" && mkdir -m 0770 "$SH/acl" && chown $TU:$TU "$SH/acl" &&
	setfacl -d -m g::rwx -m o::--- "$SH/acl" && chmod 0777 "$SH/acl"
pv exec "$SEC" sh -c "echo a > $SH/f && chmod 0640 $SH/f && mkdir -m 0750 $SH/d &&
	echo a > $SH/d/g && echo a > $SH/acl/h && probe shm make $SHMKEY"
is "$RC|$OUT" "0|shm make: made" "(user A's sealed run made its files and a 0660 segment)"
is "$(stat -c '%G' "$SH/f" "$SH/d" "$SH/acl/h" | sort -u)" "$TU" "they carry A's own group"
pvb() { run nsrun setpriv --reuid=$TU2 --regid=$TU2 --init-groups -- "$VIAL" "$@"; }
tries() {	# what B's sealed run could do with PATH: read, list, write
	pvb exec "$SEC" sh -c "cat $1 >/dev/null 2>&1 && echo read;
		[ -d $1 ] && ls $1 >/dev/null 2>&1 && echo listed;
		[ -f $1 ] && echo b 2>/dev/null >>$1 && echo wrote; echo done"
}
tries "$SH/f"
is "$OUT" "done" "user B's sealed run can neither read nor write A's 0640 file"
tries "$SH/d"
is "$OUT" "done" "nor list A's 0750 directory"
tries "$SH/acl/h"
is "$OUT" "done" "nor read or write A's file under a default ACL g::rwx"
pvb exec "$SEC" probe shm read $SHMKEY
is "$RC|$OUT" "1|shm read: Permission denied" "nor attach A's 0660 SysV segment"
ipcrm -M $SHMKEY
clean "two users"

# === 5. a FUSE mount made while vial builds the tree =======================
# vial -v with its stderr a full pipe stops at its first line; the user
# mounts FUSE in their home meanwhile.
fuse_home
stalled() {	# stalled RUNNER...: RUNNER... -v exec IMAGE, its stderr a full pipe while the user mounts
	rm -f "$T/stall" && mkfifo "$T/stall"
	exec 7<>"$T/stall"
	/usr/bin/python3 -c '
import fcntl, os
fcntl.fcntl(7, 1031, 4096)	# F_SETPIPE_SZ: one page
os.set_blocking(7, False)
try:
	while True:
		os.write(7, b"." * 256)
except BlockingIOError:
	pass
os.set_blocking(7, True)'
	"$@" sh -c "grep -c ' $FH/mnt ' /proc/self/mountinfo; cat $FH/mnt/f" \
		>"$T/late.out" 2>&7 7>&- </dev/null &
	local p=$!
	sleep 1
	as $TU bindfs --no-allow-other "$FH/src" "$FH/mnt" && FMNT=$FH/mnt
	while kill -0 $p 2>/dev/null; do
		dd if=/dev/fd/7 iflag=nonblock bs=64k count=1 of=/dev/null 2>/dev/null
		sleep 0.05
	done
	wait $p
	exec 7>&-
	OUT=$(cat "$T/late.out")
	as $TU fusermount3 -u "$FH/mnt" && FMNT=
	for i in $(seq 50); do pgrep -u $TU -x bindfs >/dev/null || break; sleep 0.1; done
}
stalled nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" -v exec "$SEC"
like "$OUT" "^0" "a FUSE mount made while vial builds a sealed run's tree does not appear inside"
unlike "$OUT" "fused" "(and nothing of it can be read)"
stalled setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" -v exec "$OPEN"
like "$OUT" "^1
fused" "(control) in an ordinary run it does (mounts still propagate)"
fuse_home_done
clean "FUSE while the tree is built"

# === 6. found on the prototype ============================================
# A seccomp listener answers the loader's openat of LD_PRELOAD with
# NOTIF_ADDFD of an inherited library of the user's: no path is opened,
# so Landlock never sees it.
run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" exec "$PSEC" \
	seal notif 5 /secret/prog 5<"$CW/x.so"
is "$OUT" "listener: Operation not permitted" "a sealed run cannot make a seccomp listener"
no_leak "so no listener puts the user's library into the execute-only program"
run as $TU "$VIAL" exec "$POPEN" seal notif 5 /secret/prog 5<"$CW/x.so"
leak "(control) on an ordinary image the listener does"
for k in uring listener; do
	run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$EV/seal" withfd $k 5 \
		"$VIAL" exec "$SEC" probe fds
	is "$RC|$OUT" "0|0 1 2" "an inherited $k (fd 5) is closed before a sealed run's command"
	run as $TU "$EV/seal" withfd $k 5 "$VIAL" exec "$OPEN" probe fds
	is "$RC|$OUT" "0|0 1 2 5" "(control) an ordinary run keeps it"
	run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$EV/seal" withfd $k 0 \
		"$VIAL" exec "$SEC" true
	like "$RC|$ERR" "^255\|vial: stdin \(fd 0\) is a kernel object .*: it does not pass into a sealed protected run\$" \
		"as stdin, an inherited $k refuses a sealed run in one line"
done
run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$EV/seal" withfd unix 1 \
	"$VIAL" exec "$SEC" true
is "$RC|$ERR" "255|vial: stdout (fd 1) is a unix socket (it can carry descriptors out): it does not pass into a sealed protected run" \
	"as stdout, an inherited unix socket refuses a sealed run in one line"
pv exec "$PSEC" seal uring
is "$RC|$OUT" "1|io_uring_setup: Function not implemented" "a sealed run has no io_uring (ENOSYS)"
run as $TU "$VIAL" exec "$POPEN" seal uring
is "$RC|$OUT" "0|io_uring_setup: a ring" "(control) an ordinary run has"
pv exec "$PSEC" seal compat
is "$RC|$OUT" "1|socketcall: Function not implemented; socket: Permission denied" \
	"AF_UNIX through the i386 ABI: socketcall ENOSYS, socket EACCES"
run as $TU "$VIAL" exec "$POPEN" seal compat
is "$RC|$OUT" "0|socketcall: a socket; socket: a socket" "(control) an ordinary run makes both"
pv exec "$PSEC" sh -c '/secret/prog dumpable & sleep 1; seal memread $!; wait'
like "$OUT" "^dumpable: refused" "an execute-only program cannot make itself dumpable in a sealed run"
no_leak "so its sibling cannot read its pages through /proc/PID/mem"
run as $TU "$VIAL" exec "$POPEN" sh -c '/secret/prog dumpable & sleep 1; seal memread $!; wait'
leak "(control) on an ordinary image the sibling does"
clean "found on the prototype"

# === 7. what a sealed run is ==============================================
pv exec "$SEC" sh -c 'cat /proc/self/uid_map /proc/self/gid_map | tr -s " " | sed "s/^ //";
	cat /proc/sys/user/max_user_namespaces; probe root'
like "$OUT" "^$UID1 $UID1 1
$GID1 $GID1 1
" "a sealed run's user namespace maps the caller's uid and gid to themselves, 0 not at all"
like "$OUT" "^0
setuid=-1 seteuid=-1 setresuid=-1 euid=$UID1\$" "user.max_user_namespaces is 0 inside, and root cannot come back"
# every process of a --pid run: the outer vial, the init, the command
nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" exec -p "$SEC" \
	sh -c 'sleep 20; :' >"$T/bg.out" 2>&1 </dev/null &
BG=$!
cmd=
for i in $(seq 100); do cmd=$(pgrep -u $TU -f '^sh -c sleep 20') && break; sleep 0.05; done
init=$(ppid_of "${cmd:-0}") outer=$(ppid_of "$(ppid_of "${cmd:-0}")")
for p in "$outer" "$init" "$cmd"; do
	caps=$(grep '^Cap' "/proc/${p:-0}/status" | awk '{print $2}' | sort -u | tr '\n' ' ')
	is "$(cat /proc/${p:-0}/comm 2>&1): $caps" "$(cat /proc/${p:-0}/comm 2>&1): 0000000000000000 " \
		"every capability set of the sealed run's $(cat /proc/${p:-0}/comm 2>&1) ($p) is empty"
done
is "$(readlink /proc/${init:-0}/ns/user)" "$(readlink /proc/${cmd:-0}/ns/user)" \
	"the init and the command share the run's user namespace"
isnt_host=$([ "$(readlink /proc/${cmd:-0}/ns/user)" != "$(readlink /proc/self/ns/user)" ] && echo yes)
is "$isnt_host" yes "which is not the host's"
for p in "$init" "$cmd"; do
	run as $TU readlink "/proc/${p:-0}/fd/0" "/proc/${p:-0}/fd/1" "/proc/${p:-0}/fd/2"
	fds="$RC|$OUT"
	run as $TU "$T/bin/getfd" "${p:-0}" 64
	like "$fds|$OUT" "^1\|\|getfd: none \(Operation not permitted\)" \
		"the user's host process can neither follow nor take the fds of the sealed run's $(cat /proc/${p:-0}/comm 2>/dev/null)"
done
as $TU kill -TERM "${outer:-0}"
wait $BG; rc=$?; BG=
is "$rc" 143 "a signal still ends the run (kill -TERM: 143)"
clean "what a sealed run is"

# The kernel refuses the namespace: user.max_user_namespaces=0 binds root
# too. Checked before anything is mounted; and when the unshare itself
# fails (a filter answers ENOSPC, as the sysctl would: a sandbox's root
# may lack CAP_SYS_RESOURCE to set it).
NOUSERNS="vial: $SEC: a sealed protected image needs a user namespace made by root, and the kernel refuses it (No space left on device; user.max_user_namespaces binds root too: an admin can raise it, sysctl user.max_user_namespaces=N)"
USERNS0=$(sysctl -n user.max_user_namespaces)
if sysctl -q -w user.max_user_namespaces=0 2>/dev/null; then
	pv exec "$SEC" true
	sysctl -q -w user.max_user_namespaces="$USERNS0"
	is "$RC|$ERR" "255|$NOUSERNS" "at user.max_user_namespaces=0 a sealed run says why in one line"
else
	ok "# SKIP this root may not set user.max_user_namespaces (no CAP_SYS_RESOURCE)"
fi
USERNS0=
run nsrun "$TOP/t/seccomp-run" --userns-enospc -- setpriv --reuid=$TU --regid=$TU --init-groups -- \
	"$VIAL" exec "$SEC" true
is "$RC|$ERR" "255|$NOUSERNS" "where the kernel refuses the user namespace, a sealed run says why in one line"
run "$TOP/t/seccomp-run" --userns-enospc -- setpriv --reuid=$TU --regid=$TU --init-groups -- \
	"$VIAL" exec "$OPEN" true
is "$RC" 0 "(control) an ordinary run needs none"
clean "no user namespaces"

# vial config as root: a node health check, sealed runs' needs included
run nsrun "$VIAL" config
is "$RC|$ERR" "0|" "(vial config as root on this node: no problem)"
DUMP0=$(sysctl -n fs.suid_dumpable)
sysctl -q -w fs.suid_dumpable=1
run nsrun "$VIAL" config
sysctl -q -w fs.suid_dumpable="$DUMP0"
is "$RC|$ERR" "1|vial: config: fs.suid_dumpable is 1: sealed protected images refuse to run (sysctl fs.suid_dumpable=0)" \
	"at fs.suid_dumpable=1 vial config as root says sealed runs are refused, exit 1"
BFM=
if [ ! -e /proc/sys/fs/binfmt_misc/register ] &&
	mount -t binfmt_misc vialt-binfmt /proc/sys/fs/binfmt_misc 2>/dev/null; then BFM=mounted; fi
if [ -e /proc/sys/fs/binfmt_misc/register ] &&
	echo ':vialt:M::VIALT-NO-SUCH-MAGIC::/bin/true:OC' > /proc/sys/fs/binfmt_misc/register 2>/dev/null; then
	run nsrun "$VIAL" config
	bfout=$OUT
	echo -1 > /proc/sys/fs/binfmt_misc/vialt
	is "$RC|$ERR" "1|vial: config: binfmt_misc handlers with the O, C or F flag read execute-only programs: vialt (OC)" \
		"a binfmt_misc handler with O or C is a problem vial config as root names"
	like "$bfout" "^  binfmt_misc handlers with O, C or F: vialt \(OC\): they read execute-only programs \(README\)\$" \
		"(and the summary lists it)"
else
	ok "# SKIP no binfmt_misc to register a handler in here"
	ok "# SKIP no binfmt_misc to register a handler in here"
fi
[ "$BFM" = mounted ] && umount /proc/sys/fs/binfmt_misc && BFM=

run as $TU "$VIAL" config
like "$OUT" "^  /opt/vial/protected  group: \(any user\)  sealed\$" "vial config says the protected directory is sealed"
like "$OUT" "^sealed runs here:
  user namespaces for root: yes .*
  Landlock: ABI [0-9]+$" "and what this kernel offers sealed runs"

done_testing
