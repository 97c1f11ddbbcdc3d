# Shared by the TAP tests in t/: run as root (CI is), they install the
# setuid vial in a private directory and run it as an unprivileged user.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
TU=vialtest		# the unprivileged test user
TU2=vialother		# a second one, outside the test group
TG=vialgrp		# a group only TU is in
n=0 failed=0

[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP tests must run as root (they create users)"; exit 0; }

# Start from 0-2 only, so "what the caller passed" is exactly what a test
# passes (bash keeps its own script fd close-on-exec).
for fd in $(ls /proc/$$/fd); do
	if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then eval "exec $fd>&-"; fi
done

ok()   { n=$((n+1)); echo "ok $n - $1"; }
nok()  { n=$((n+1)); failed=$((failed+1)); echo "not ok $n - $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else nok "$name"; fi; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
is() {   # is GOT WANT NAME
	if [ "$1" = "$2" ]; then ok "$3"; else nok "$3"; diag "got:  '$1'" "want: '$2'"; fi
}
# like GOT REGEX NAME: REGEX over all of GOT, ^ and $ at every line, and a
# newline in REGEX a newline (grep -E would take each line for a pattern
# of its own, any of which may match).
like() {
	if RE=$2 perl -0777 -ne 'exit !/$ENV{RE}/m' <<<"$1"; then ok "$3"; else nok "$3"; diag "got:  '$1'" "want: /$2/"; fi
}
unlike() { # unlike GOT REGEX NAME
	if RE=$2 perl -0777 -ne 'exit !/$ENV{RE}/m' <<<"$1"; then nok "$3"; diag "got:  '$1'"; else ok "$3"; fi
}
# devices IMG: the loop devices (loopN) bound to IMG, one a line
devices() {
	local f b
	for f in /sys/block/loop*/loop/backing_file; do
		read -r b 2>/dev/null < "$f" && [ "$b" = "$1" ] && { f=${f#/sys/block/}; echo "${f%%/*}"; }
	done
}
# wait_comm PID NAME: until PID runs NAME (the command, after vial's exec)
wait_comm() {
	local i c
	for i in $(seq 100); do
		read -r c 2>/dev/null < "/proc/$1/comm" && [ "$c" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
stop() { kill -KILL "$@" 2>/dev/null; wait "$@" 2>/dev/null; }
done_testing() { echo "1..$n"; [ "$failed" = 0 ]; exit $?; }

users_make() {
	getent group $TG >/dev/null || groupadd $TG
	id $TU >/dev/null 2>&1 || useradd -m -d /home/$TU -s /bin/sh -U -G $TG $TU
	id $TU2 >/dev/null 2>&1 || useradd -m -d /home/$TU2 -s /bin/sh -U $TU2
	UID1=$(id -u $TU) GID1=$(id -g $TU) TGID=$(getent group $TG | cut -d: -f3)
	UID2=$(id -u $TU2)
}

# as USER CMD...: run CMD as USER with their groups, from $T (without the lock fd).
as() { local u=$1; shift; (cd "$T" && exec setpriv --reuid="$u" --regid="$u" --init-groups -- "$@" 9>&-); }

# bg USER CMD...: CMD as USER in the background; BGPID is its pid (vial's own).
bg() { local u=$1; shift; (cd "$T" && exec setpriv --reuid="$u" --regid="$u" --init-groups -- "$@" 9>&-) & BGPID=$!; }

# run [as USER] CMD...: sets OUT, ERR, RC
run() {
	local e=$T/.err
	OUT=$("$@" 2>"$e" </dev/null); RC=$?
	ERR=$(cat "$e")
}
# vial ARGS...: run the setuid vial as the test user
vial() { run as $TU "$VIAL" "$@"; }

# --- the audit listener: a private stand-in for the syslog daemon ----------
# log_listen: each datagram sent to $T/log.sock is stored as $T/log/N; the
# listener's pid is LPID (the test's cleanup kills it).
log_listen() {
	local i
	mkdir "$T/log" || return 1
	/usr/bin/python3 "$TOP/t/syslog-listen.py" "$T/log.sock" "$T/log" 9>&- &
	LPID=$!
	for i in $(seq 50); do [ -e "$T/log/ready" ] && break; sleep 0.1; done
}
# logsync: wait until every datagram sent so far is stored (FIFO socket);
# log_count: how many are stored, once they are.
logsync() {
	local m=vialtest-sync.$RANDOM$RANDOM i f
	logger -u "$T/log.sock" -d -- "$m" || return 1
	for i in $(seq 100); do
		f=$(grep -l -- "$m" "$T/log"/[0-9]* 2>/dev/null) && { rm -f $f; return 0; }
		sleep 0.05
	done
	diag "the audit listener did not answer"
}
log_count() { logsync; ls "$T/log" | grep -c '^[0-9]'; }
last_record() { cat "$T/log/$(ls "$T/log" | grep '^[0-9]' | tail -1)"; }

# nsrun CMD...: run CMD (as root; start it with setpriv) in a private mount
# namespace whose /dev/log is the listener ($NS_LOG=listener, default),
# absent (none) or $T/dead.sock (dead). $NS_SETUP and $NS_DOWN run as root
# in that namespace before and after CMD; $NS_CWD is the working directory.
nsrun() {
	local d rc
	d=$(mktemp -d "$T/ns.XXXXXX") && mkdir "$d/u" "$d/w" || return 99
	case ${NS_LOG:-listener} in
	listener) ln -s "$T/log.sock" "$d/u/log" ;;
	dead) ln -s "$T/dead.sock" "$d/u/log" ;;
	none) mknod "$d/u/log" c 0 0 ;;		# an overlay whiteout: no /dev/log
	esac
	(cd "${NS_CWD:-$T}" && unshare -m -- sh -c '
		d=$1 setup=$2 down=$3; shift 3
		mount -t overlay vialdev -o "lowerdir=/dev,upperdir=$d/u,workdir=$d/w" /dev ||
			exit 99
		eval "$setup" >>"$d/log" 2>&1 || exit 98
		"$@"; rc=$?
		eval "$down" >>"$d/log" 2>&1
		exit $rc' nsrun "$d" "${NS_SETUP:-:}" "${NS_DOWN:-:}" "$@" 9>&-)
	rc=$?
	[ $rc -ge 98 ] && [ $rc -le 99 ] && diag "nsrun: namespace setup failed:" "$(cat "$d/log")"
	rm -rf "$d"
	return $rc
}

snapshot() {
	awk '{print $5, $9, $10}' /proc/self/mountinfo | sort
	for f in /sys/block/loop*/loop/backing_file; do [ -r "$f" ] && echo "loop $(cat "$f")"; done
	pgrep -f "$T/bin/vial" | sed 's/^/process /'
	pgrep -u "$TU,$TU2" | sed 's/^/user process /'
}
# clean NAME: after a case, the host's mounts, loop devices and processes
# are as before. Autoclear and namespace teardown finish a moment after
# the process exits: give them up to 3 s.
clean() {
	local i now
	for i in $(seq 30); do
		now=$(snapshot)
		[ "$now" = "$BASE" ] && { ok "nothing left behind: $1"; return; }
		sleep 0.1
	done
	nok "nothing left behind: $1"
	diff <(echo "$BASE") <(echo "$now") | sed 's/^/# /'
}

teardown() {
	pkill -KILL -f "$T/bin/vial" 2>/dev/null
	for f in /sys/block/loop*/loop/backing_file; do
		[ -r "$f" ] && grep -q "^$T" "$f" && losetup -d "/dev/$(basename "$(dirname "$(dirname "$f")")")"
	done 2>/dev/null
	awk -v t="$T" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
	rm -rf "$T"
}

# setup: users, a private directory with the setuid vial and a busybox image.
# The host's mount table and loop devices are global: test files (and
# benchmarks) take one lock so that "nothing left behind" means ours.
setup() {
	exec 9>/tmp/vial-tests.lock
	flock 9
	users_make
	T=$(mktemp -d /tmp/vialt.XXXXXX)
	chmod 755 "$T"
	trap teardown EXIT
	mkdir -p "$T/bin"
	install -o root -g root -m 4755 "$TOP/vial" "$T/bin/vial"
	VIAL=$T/bin/vial
	install -m 755 "$TOP/t/probe" "$T/bin/probe"
	IMG=$T/bb.sqfs
	"$TOP/t/mkimage.sh" "$IMG" "$TOP/t/probe"
	chmod 644 "$IMG"
	BASE=$(snapshot)
}
