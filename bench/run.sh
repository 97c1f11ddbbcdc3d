#!/bin/bash
# make bench: vial against the kernel-call floor (bench/floor.c) and its
# peers (bubblewrap, Charliecloud), timed with hyperfine as an unprivileged
# user; then 64 and 256 launches at once, the binary's size and its peak
# memory. Prints one table. Timings never fail the run: only a broken
# setup does.
#
# Runs as root (it installs setuid binaries and creates a bench user), holds
# the tests' global lock (it makes mounts and loop devices) and leaves
# nothing behind. Knobs: BENCH_RUNS (default 500), BENCH_WARMUP (20),
# BENCH_LINGER_RUNS (1000), VIAL (default ./vial).
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
VIAL_SRC=${VIAL:-$TOP/vial}
RUNS=${BENCH_RUNS:-500}
WARMUP=${BENCH_WARMUP:-20}
BU=vialbench			# the unprivileged user every launch runs as
HOMEDIR=/home/$BU

say() { printf 'bench: [%3ss] %s\n' "$SECONDS" "$*" >&2; }
fail() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (make bench): it installs setuid binaries"
[ -x "$VIAL_SRC" ] || fail "no vial binary at $VIAL_SRC (make vial)"
[ -d "$TOP/build/kinc" ] || fail "no $TOP/build/kinc: build vial with make first"
for t in hyperfine musl-gcc mksquashfs setpriv python3; do
	command -v $t >/dev/null || fail "$t is missing (make bench installs it)"
done

exec 9>/tmp/vial-tests.lock
say "waiting for the tests' lock (/tmp/vial-tests.lock)"
flock 9

W=$(mktemp -d /tmp/vialbench.XXXXXX)
chmod 755 "$W"			# setuid binaries must not sit under a 0700 path
HOLD= CREATED_USER= FUSE_MODE= CHSTORE_OLD= LDIR= PDIR= LOGD= LOGDIR= MADE=

cleanup() {
	set +e
	[ -n "$HOLD" ] && kill "$HOLD" 2>/dev/null && wait "$HOLD" 2>/dev/null
	sleep 0.2
	for f in /sys/block/loop*/loop/backing_file; do
		[ -r "$f" ] && grep -q "^$W/" "$f" &&
			losetup -d "/dev/$(basename "$(dirname "$(dirname "$f")")")"
	done 2>/dev/null
	awk -v w="$W" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
	[ -n "$FUSE_MODE" ] && chmod "$FUSE_MODE" /dev/fuse
	[ -n "$LDIR" ] && rm -rf "$LDIR"
	[ -n "$PDIR" ] && rm -rf "$PDIR"
	for d in $MADE; do rmdir "$d"; done
	[ -n "$LOGD" ] && kill "$LOGD" 2>/dev/null && rm -rf /dev/log "$LOGDIR"
	[ -z "$CHSTORE_OLD" ] && rm -rf "/var/tmp/$BU.ch"
	[ -n "$CREATED_USER" ] && userdel -r "$BU" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# What must be unchanged afterwards: mounts and loop devices bound.
snapshot() {
	awk '{print $5, $9, $10}' /proc/self/mountinfo | sort
	for f in /sys/block/loop*/loop/backing_file; do [ -r "$f" ] && echo "loop $(cat "$f")"; done
	pgrep -af "$W/" | sed 's/^/process /'
	true
}
BASE=$(snapshot)
[ -e "/var/tmp/$BU.ch" ] && CHSTORE_OLD=1	# ch-run's default storage: ours to remove?
LOOPNODES0=$(ls -d /sys/block/loop* 2>/dev/null | wc -l)

# --- the bench user, binaries, image ------------------------------------
say "building the helpers and the image"
if ! id "$BU" >/dev/null 2>&1; then
	useradd -m -d "$HOMEDIR" -s /bin/sh -U "$BU"
	CREATED_USER=1
fi
BUID=$(id -u "$BU")

mkdir -p "$W/bin" "$W/build" "$W/out" "$W/chmnt" "$W/chstore"
chown "$BU:" "$W/out" "$W/chmnt" "$W/chstore"
cc() { musl-gcc -O2 -static -Wall -Wextra -Werror -isystem "$TOP/build/kinc" -o "$@"; }
cc "$W/build/floor" "$TOP/bench/floor.c"
cc "$W/build/burst" "$TOP/bench/burst.c"
cc "$W/build/rss" "$TOP/bench/rss.c"
cc "$W/build/probe" "$TOP/t/probe.c"
install -o root -g root -m 4755 "$VIAL_SRC" "$W/bin/vial"
install -o root -g root -m 4755 "$W/build/floor" "$W/bin/floor"
install -m 755 "$W/build/burst" "$W/build/rss" "$W/bin/"
VIAL=$W/bin/vial FLOOR=$W/bin/floor

# One tree, two forms: the directory (for the peers) and a gzip squashfs.
# mkimage.sh's root directory is mktemp's 0700: open it up, or no user can
# enter the directory form.
"$TOP/t/mkimage.sh" "$W/root" "$W/build/probe" dir
chmod 755 "$W/root"
IMG=$W/img.sqfs
mksquashfs "$W/root" "$IMG" -noappend -all-root -quiet -comp gzip >/dev/null
chmod 644 "$IMG"
# The same image protected (root's 0600 in the default build's protected
# directory): its runs are audited, so /dev/log must take a record; where
# no syslog daemon listens, a stand-in does for the bench's length.
PD=/opt/vial/protected
for d in /opt/vial "$PD"; do	# made here where missing (root's, 0755), removed at exit
	[ -d "$d" ] || { mkdir -m 0755 "$d" && MADE="$d $MADE"; } || fail "cannot make $d"
done
PDIR=$(mktemp -d "$PD/bench.XXXXXX") && chmod 755 "$PDIR"
PIMG=$PDIR/img.sqfs
install -o root -g root -m 0600 "$IMG" "$PIMG"
if [ ! -S /dev/log ]; then
	LOGDIR=$(mktemp -d /tmp/vialbench-log.XXXXXX)	# (outside $W: not "left behind")
	python3 "$TOP/t/syslog-listen.py" /dev/log "$LOGDIR" 9>&- &
	LOGD=$!
	for _ in $(seq 50); do [ -e "$LOGDIR/ready" ] && break; sleep 0.1; done
fi

# as_user CMD...: run CMD as the bench user from its home, with a small
# clean environment (ch-run wants USER), never holding the lock fd.
ENVV=(env -i "HOME=$HOMEDIR" "USER=$BU" "LOGNAME=$BU" "PATH=/usr/local/bin:/usr/bin:/bin")
as_user() {
	(cd "$HOMEDIR" && setpriv --reuid="$BU" --regid="$BU" --init-groups -- "${ENVV[@]}" "$@" 9>&-)
}

# image_loops: the loop devices bound to our image now.
image_loops() {
	for f in /sys/block/loop*/loop/backing_file; do
		[ -r "$f" ] && [ "$(cat "$f" 2>/dev/null)" = "$IMG" ] &&
			echo "/dev/$(basename "$(dirname "$(dirname "$f")")")"
	done
	true
}

# --- timing ---------------------------------------------------------------
# Each case runs in BLOCKS blocks of RUNS/BLOCKS; a launcher and its floor
# alternate block by block, so a drift of the machine (page cache, CPU
# frequency, a neighbour) falls on both alike. A case's median is over all
# its runs.
declare -A MED SD CPU NOTE
BLOCKS=${BENCH_BLOCKS:-5}
PER=$(( (RUNS + BLOCKS - 1) / BLOCKS ))
NB=0
# measure NAME CMD...: one block of runs with hyperfine as the bench user.
measure() {
	local name=$1; shift
	NB=$((NB + 1))
	if ! as_user hyperfine -N --style basic --warmup "$WARMUP" --runs "$PER" \
		--export-json "$W/out/$name.$NB.json" -- "$*" >"$W/$name.log" 2>&1; then
		NOTE[$name]="failed: $(grep -v '^\s*$' "$W/$name.log" | tail -1)"
		return 1
	fi
}
# summarise NAME: median and sd over every run of NAME, mean user+system.
summarise() {
	local name=$1
	[ -z "${NOTE[$name]:-}" ] || return 0
	read -r MED[$name] SD[$name] CPU[$name] < <(python3 -c '
import json, statistics, sys
t, cpu = [], 0.0
for f in sys.argv[1:]:
    r = json.load(open(f))["results"][0]
    t += r["times"]
    cpu += (r["user"] + r["system"]) * len(r["times"])
ms = lambda x: "%.3f" % (x * 1e3)
print(ms(statistics.median(t)), ms(statistics.stdev(t)), ms(cpu / len(t)))
' "$W/out/$name".*.json)
}
# bench_cases NAME CMD [:: NAME CMD]...: BLOCKS alternating blocks.
bench_cases() {
	local -a names=() cmds=()
	local c
	while [ $# -gt 0 ]; do
		names+=("$1"); shift
		c=
		while [ $# -gt 0 ] && [ "$1" != "::" ]; do c="$c $1"; shift; done
		[ $# -gt 0 ] && shift
		cmds+=("${c# }")
	done
	for ((b = 1; b <= BLOCKS; b++)); do
		for i in "${!names[@]}"; do
			[ -z "${NOTE[${names[$i]}]:-}" ] || continue
			say "timing ${names[$i]} (block $b/$BLOCKS): ${cmds[$i]}"
			measure "${names[$i]}" ${cmds[$i]} || true
		done
	done
	for n in "${names[@]}"; do summarise "$n"; done
}

# A case that cannot run says why, in the table, instead of a time.
try_once() {
	local name=$1 out; shift
	if ! out=$(as_user "$@" 2>&1 </dev/null); then
		NOTE[$name]="n/a: $(printf '%s\n' "$out" | grep -v '^\s*$' | tail -1)"
		return 1
	fi
}

# Cold means no loop device left bound between runs: autoclear must have
# finished by the time the launcher's parent sees it exit. Check it.
cold_check() {
	local left=0
	for _ in $(seq 20); do
		as_user "$@" >/dev/null 2>&1 </dev/null || true
		[ -n "$(image_loops)" ] && left=$((left + 1))
	done
	echo "$left"
}

[ -z "$(image_loops)" ] || fail "the image is bound before we start"
say "checking that a cold launch leaves no device bound"
COLD_LEFT_FLOOR=$(cold_check "$FLOOR" "$IMG" true)
COLD_LEFT_VIAL=$(cold_check "$VIAL" exec "$IMG" true)
try_once vial_prot_cold "$VIAL" exec "$PIMG" true
bench_cases floor_cold "$FLOOR" "$IMG" true :: vial_cold "$VIAL" exec "$IMG" true \
	:: vial_prot_cold "$VIAL" exec "$PIMG" true

say "starting a container that keeps the image bound"
(cd "$HOMEDIR" && exec setpriv --reuid="$BU" --regid="$BU" --init-groups -- "${ENVV[@]}" \
	"$VIAL" exec "$IMG" sleep 1000) </dev/null >/dev/null 2>&1 9>&- &
HOLD=$!
DEV=
for _ in $(seq 50); do
	DEV=$(image_loops | head -1)
	[ -n "$DEV" ] && break
	sleep 0.1
done
[ -n "$DEV" ] || fail "the background container did not bind the image"
bench_cases floor_warm "$FLOOR" -w "$DEV" "$IMG" true :: vial_warm "$VIAL" exec "$IMG" true
WARM_LOOPS=$(image_loops | wc -l)
# 256 at once with the image in use: the floor with reuse (all mount the
# bound device), and vial the same way.
declare -A BWALL BFAIL BPEAK BDIST BERR
burst() {	# burst KEY N CMD...: BWALL/BFAIL/BPEAK/BDIST/BERR[KEY]
	local key=$1 n=$2; shift 2
	say "launching $n at once: $key"
	: >"$W/burst.$key.err"
	chmod 666 "$W/burst.$key.err"
	read -r BWALL[$key] BFAIL[$key] BPEAK[$key] BDIST[$key] < <(as_user "$W/bin/burst" "$n" \
		"$IMG" "$W/burst.$key.err" "$@")
	BERR[$key]=$(sort "$W/burst.$key.err" | uniq -c | sort -rn | head -3)
	sleep 0.5
}
burst floor256 256 "$FLOOR" -w "$DEV" "$IMG" true
burst warm256 256 "$VIAL" exec "$IMG" true
kill "$HOLD"
wait "$HOLD" 2>/dev/null || true
HOLD=

# --- sequential launches, LOOP_LINGER -------------------------------------
# A site build that keeps the image mounted 60 s after its last use: launch
# after launch (the workflow case) the first is cold, the rest warm.
say "building a LOOP_LINGER=60 vial"
# LINGER_DIR must lie below directories only root can write: not /tmp
LDIR=$(mktemp -d /var/lib/vialbench-linger.XXXXXX) && chmod 755 "$LDIR"
printf '#include "%s/config.h"\n#undef LOOP_LINGER\n#define LOOP_LINGER 60\n#undef LINGER_DIR\n#define LINGER_DIR "%s/linger"\n' \
	"$TOP" "$LDIR" >"$W/linger.h"
make -C "$TOP" -s CONFIG="$W/linger.h" OUT="$W/build/vial-linger" OBJDIR="$W/build/obj" \
	>"$W/linger.log" 2>&1 || fail "the LOOP_LINGER build failed: $(tail -3 "$W/linger.log")"
install -o root -g root -m 4755 "$W/build/vial-linger" "$W/bin/vial-linger"
for _ in $(seq 50); do [ -z "$(image_loops)" ] && break; sleep 0.1; done
[ -z "$(image_loops)" ] || fail "the image is still bound before the LOOP_LINGER case"
LRUNS=${BENCH_LINGER_RUNS:-1000}
say "timing $LRUNS sequential launches with LOOP_LINGER=60"
if as_user hyperfine -N --style basic --runs "$LRUNS" --export-json "$W/out/vial_linger.1.json" \
	-- "$W/bin/vial-linger exec $IMG true" >"$W/vial_linger.log" 2>&1; then
	summarise vial_linger
	read -r LFIRST LMAX < <(python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["results"][0]["times"]
print("%.3f %.3f" % (t[0] * 1e3, max(t[1:]) * 1e3))' "$W/out/vial_linger.1.json")
else
	NOTE[vial_linger]="failed: $(grep -v '^\s*$' "$W/vial_linger.log" | tail -1)"
fi
LINGER_LOOPS=$(image_loops | wc -l)
pkill -KILL -f "$W/bin/vial-linger"	# the holder: its device goes with it
for _ in $(seq 50); do [ -z "$(image_loops)" ] && break; sleep 0.1; done

if command -v bwrap >/dev/null; then
	try_once bwrap_dir bwrap --ro-bind "$W/root" / --proc /proc --dev /dev true &&
		bench_cases bwrap_dir bwrap --ro-bind "$W/root" / --proc /proc --dev /dev true
else
	NOTE[bwrap_dir]="n/a: bwrap not installed"
fi
if command -v ch-run >/dev/null; then
	try_once chrun_dir ch-run -s "$W/chstore" "$W/root" -- true &&
		bench_cases chrun_dir ch-run -s "$W/chstore" "$W/root" -- true
	# ch-run mounts squashfs with its linked-in squashfuse, as the user: that
	# needs /dev/fuse 0666 (Debian's udev rule; some VMs have 0600).
	FUSE_MODE=$(stat -c %a /dev/fuse 2>/dev/null || true)
	[ -n "$FUSE_MODE" ] && chmod 666 /dev/fuse
	try_once chrun_sqfs ch-run -s "$W/chstore" -m "$W/chmnt" "$IMG" -- true &&
		bench_cases chrun_sqfs ch-run -s "$W/chstore" -m "$W/chmnt" "$IMG" -- true
	[ -n "$FUSE_MODE" ] && chmod "$FUSE_MODE" /dev/fuse
	[ -n "$LDIR" ] && rm -rf "$LDIR"
	FUSE_MODE=
else
	NOTE[chrun_dir]="n/a: ch-run not installed"
	NOTE[chrun_sqfs]="n/a: ch-run not installed"
fi
# vial on the same directory, where it supports directories.
try_once vial_dir "$VIAL" exec "$W/root" true &&
	bench_cases vial_dir "$VIAL" exec "$W/root" true

# --- many at once, from cold -------------------------------------------------
for n in 64 256; do burst $n $n "$VIAL" exec "$IMG" true; done
LOOPNODES1=$(ls -d /sys/block/loop* 2>/dev/null | wc -l)

# --- size and memory ---------------------------------------------------------
say "measuring peak memory"
SIZE=$(stat -c %s "$VIAL_SRC")
BGID=$(id -g "$BU")
# rss_run CMD...: the peak RSS of each image CMD runs (see bench/rss.c); the
# tracer's child becomes the bench user itself, so no setpriv is measured.
rss_run() {
	(cd "$HOMEDIR" && "${ENVV[@]}" "$W/bin/rss" -u "$BUID" -g "$BGID" "$@" 9>&-)
}
rss_run "$VIAL" exec "$IMG" probe exit 0 >"$W/rss.vial"
rss_run "$FLOOR" "$IMG" probe exit 0 >"$W/rss.floor"
RSS_VIAL=$(awk -v e="$VIAL" '$1 == "image" && $2 == e {print $3}' "$W/rss.vial")
RSS_PROBE=$(awk '$1 == "image" && $2 == "/bin/probe" {print $3}' "$W/rss.vial")
MAXRSS_VIAL=$(awk '$1 == "rusage" {print $2}' "$W/rss.vial")
RSS_FLOOR=$(awk -v e="$FLOOR" '$1 == "image" && $2 == e {print $3}' "$W/rss.floor")

# --- where vial's time goes --------------------------------------------------
# Per-process counters stop at a setuid exec, so: syscall counts from strace
# (-u keeps setuid working under a root tracer), and CPU per launch from
# system-wide perf samples, split by process name.
syscalls() {	# syscalls CMD...: "total top-calls" for one launch
	(cd "$HOMEDIR" && "${ENVV[@]}" strace -f -c -U calls,name -S calls -u "$BU" \
		-o "$W/strace.out" "$@" >/dev/null 2>&1 9>&-) || true
	awk '$NF == "total" {t = $1} $1 ~ /^[0-9]+$/ && $NF != "total" && n < 5 {s = s " " $2 ":" $1; n++}
	     END {print t, s}' "$W/strace.out"
}
cpu_split() {	# cpu_split LAUNCHER_NAME CMD...: ms of CPU per launch, by process
	local name=$1 n=200; shift
	cat >"$W/loop.sh" <<-'EOF'
	#!/bin/sh
	n=$1; shift; i=0
	while [ $i -lt $n ]; do "$@" >/dev/null; i=$((i + 1)); done
	EOF
	chmod 755 "$W/loop.sh"
	perf record -q -a -e cpu-clock -F 10000 -o "$W/perf.data" -- \
		setpriv --reuid="$BU" --regid="$BU" --init-groups -- "${ENVV[@]}" \
		"$W/loop.sh" "$n" "$@" >/dev/null 2>&1 9>&- || return 0
	perf report -i "$W/perf.data" --sort comm -F period,comm --stdio 2>/dev/null |
		awk -v l="$name" -v n="$n" '
		$1 ~ /^[0-9]+$/ { if ($2 == l) a += $1; else if ($2 == "true") b += $1;
			else if ($2 ~ /^(kworker|ksoftirqd|rcu|migration|kthreadd|loop[0-9])/) c += $1 }
		END { printf "%.3f %.3f %.3f\n", a / n / 1e6, b / n / 1e6, c / n / 1e6 }'
}
ratio() {	# ratio A B [PLACES]: A/B to two places (or PLACES), - when either is missing
	awk -v a="$1" -v b="$2" -v p="${3:-2}" 'BEGIN {
		if (a == "" || b == "" || b == 0) print "-"; else printf "%." p "f", a / b }'
}
verdict() {	# verdict VALUE LIMIT: PASS when VALUE <= LIMIT
	awk -v v="$1" -v t="$2" 'BEGIN {
		if (v == "-" || v == "") print "-"; else print (v <= t ? "PASS" : "MISS") }'
}
ANALYSE=
[ "$(verdict "$(ratio "${MED[vial_cold]:-}" "${MED[floor_cold]:-}" 4)" 1.10)" = MISS ] && ANALYSE=1
[ "$(verdict "$(ratio "${MED[vial_warm]:-}" "${MED[floor_warm]:-}" 4)" 1.30)" = MISS ] && ANALYSE=1
if [ -n "$ANALYSE" ] && command -v strace >/dev/null; then
	say "a timing target was missed: looking at where the time goes"
	SC_FLOOR_COLD=$(syscalls "$FLOOR" "$IMG" true)
	SC_VIAL_COLD=$(syscalls "$VIAL" exec "$IMG" true)
	(cd "$HOMEDIR" && exec setpriv --reuid="$BU" --regid="$BU" --init-groups -- "${ENVV[@]}" \
		"$VIAL" exec "$IMG" sleep 1000) </dev/null >/dev/null 2>&1 9>&- &
	HOLD=$!
	for _ in $(seq 50); do DEV=$(image_loops | head -1); [ -n "$DEV" ] && break; sleep 0.1; done
	SC_FLOOR_WARM=$(syscalls "$FLOOR" -w "$DEV" "$IMG" true)
	SC_VIAL_WARM=$(syscalls "$VIAL" exec "$IMG" true)
	if command -v perf >/dev/null; then
		CPU_FLOOR_WARM=$(cpu_split floor "$FLOOR" -w "$DEV" "$IMG" true)
		CPU_VIAL_WARM=$(cpu_split vial "$VIAL" exec "$IMG" true)
	fi
	kill "$HOLD"
	wait "$HOLD" 2>/dev/null || true
	HOLD=
	if command -v perf >/dev/null; then
		CPU_FLOOR_COLD=$(cpu_split floor "$FLOOR" "$IMG" true)
		CPU_VIAL_COLD=$(cpu_split vial "$VIAL" exec "$IMG" true)
	fi
fi

# Nothing of ours may outlive the bench (autoclear takes a moment).
say "done measuring"
for _ in $(seq 30); do [ "$(snapshot)" = "$BASE" ] && break; sleep 0.1; done
LEFT=$(diff <(echo "$BASE") <(snapshot) | grep '^>' || true)

# --- the table ---------------------------------------------------------------
row() {		# row NAME LABEL TARGET-RATIO-OF(cold|warm|) TARGET
	local name=$1 label=$2 of=$3 target=$4 rc rw res=""
	if [ -z "${MED[$name]:-}" ]; then
		printf '%-34s %s\n' "$label" "${NOTE[$name]:-n/a}"
		return
	fi
	rc=$(ratio "${MED[$name]}" "${MED[floor_cold]:-}")
	rw=$(ratio "${MED[$name]}" "${MED[floor_warm]:-}")
	case $of in
	cold) res="<= ${target}x cold floor  $(verdict "$(ratio "${MED[$name]}" "${MED[floor_cold]:-}" 4)" "$target")" ;;
	warm) res="<= ${target}x warm floor  $(verdict "$(ratio "${MED[$name]}" "${MED[floor_warm]:-}" 4)" "$target")" ;;
	esac
	printf '%-34s %9s %7s %8s %8s %8s  %s\n' "$label" "${MED[$name]}" "${SD[$name]}" \
		"${CPU[$name]}" "$rc" "$rw" "$res"
}

CPUMODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
HV=$(hyperfine --version | awk '{print $2}')
BV=$(bwrap --version 2>/dev/null | awk '{print $2}' || true)
CV=$(USER=root ch-run --version 2>&1 || true)
echo
echo "vial bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, $CPUMODEL, Linux $(uname -r)"
VV=$("$VIAL" version | awk 'NR == 1 {print $2}')
BBV=$(busybox 2>/dev/null | awk 'NR == 1 {print $2}' || true)
echo "vial $VV ($VIAL_SRC), hyperfine $HV, bwrap ${BV:-none}, ch-run ${CV:-none}"
echo "image: busybox $BBV static, gzip squashfs, $(stat -c %s "$IMG") bytes; payload: true"
echo "each case: $((PER * BLOCKS)) runs in $BLOCKS blocks alternating with its floor,"
echo "$WARMUP warm-up runs per block, as $BU (uid $BUID) from its home;"
echo "floor = bench/floor.c installed setuid root like vial, dropping to the user"
echo
T1='%-34s %9s %7s %8s %8s %8s  %s\n'
printf "$T1" "launch of true" "median ms" "sd ms" "cpu ms" "x cold" "x warm" "target"
printf "$T1" "" "" "" "" "floor" "floor" ""
row floor_cold "floor, cold (attach + mount)" "" ""
row vial_cold "vial, cold" cold 1.10
row vial_prot_cold "vial, cold, protected image" "" ""
row floor_warm "floor, warm (mount bound device)" "" ""
row vial_warm "vial, warm (image in use)" warm 1.30
row bwrap_dir "bwrap --ro-bind DIR /, dir" "" ""
row chrun_dir "ch-run, directory" "" ""
row chrun_sqfs "ch-run, squashfs (squashfuse)" "" ""
row vial_dir "vial, directory" "" ""
row vial_linger "vial LOOP_LINGER=60, sequential" "" ""
echo "(cpu ms: user+system of the launch, from rusage; cold check: image still bound after"
echo " exit in $COLD_LEFT_FLOOR/20 floor and $COLD_LEFT_VIAL/20 vial launches;" \
	"warm: $WARM_LOOPS device bound)"
if [ -n "${MED[vial_linger]:-}" ]; then
	echo "LOOP_LINGER=60: $LRUNS launches one after another, ${LINGER_LOOPS} device bound at the end;"
	echo " median $(ratio "${MED[vial_linger]}" "${MED[vial_cold]:-}")x vial cold, first launch" \
		"${LFIRST} ms (cold), slowest of the rest ${LMAX} ms"
fi
echo
T2='%-30s %9s %9s %11s %15s  %s\n'
printf "$T2" "N at once" "wall ms" "failures" "peak loops" "distinct loops" "target"
for key in 64 256 floor256 warm256; do
	res=
	case $key in
	64) label="vial, 64, image not bound" ;;
	256) label="vial, 256, image not bound"
	     ok=MISS
	     [ "${BFAIL[$key]:-}" = 0 ] && [ "${BPEAK[$key]:-9}" -le 8 ] && ok=PASS
	     res="0 failures, <= 8 loops  $ok" ;;
	floor256) label="floor -w, 256, device bound" ;;
	warm256) label="vial, 256, image in use"
	     r=$(ratio "${BWALL[warm256]:-}" "${BWALL[floor256]:-}")
	     res="${r}x floor -w, <= 1.20  $(verdict "$(ratio "${BWALL[warm256]:-}" "${BWALL[floor256]:-}" 4)" 1.20)" ;;
	esac
	printf "$T2" "$label" "${BWALL[$key]:-?}" "${BFAIL[$key]:-?}" \
		"${BPEAK[$key]:-?}" "${BDIST[$key]:-?}" "$res"
	[ -n "${BERR[$key]:-}" ] && printf '%s\n' "${BERR[$key]}" | sed 's/^/    stderr: /'
done
echo "(vial, 256 from an unbound image: $(ratio "${BWALL[256]:-}" "${BWALL[floor256]:-}")x the floor -w burst)"
echo "(loop device nodes on the host: $LOOPNODES0 before, $LOOPNODES1 after)"
echo
printf '%-36s %12s  %s\n' "size and memory" "value" "target"
printf '%-36s %12s  %s\n' "vial binary (static, stripped)" "$SIZE B" \
	"<= 150 KiB (153600 B)  $(verdict "$SIZE" 153600)"
printf '%-36s %12s  %s\n' "vial peak RSS, until it execs" "${RSS_VIAL:-?} KiB" \
	"<= 600 KiB  $(verdict "${RSS_VIAL:-}" 600)"
printf '%-36s %12s\n' "floor peak RSS, until it execs" "${RSS_FLOOR:-?} KiB"
printf '%-36s %12s\n' "payload (t/probe exit 0) peak RSS" "${RSS_PROBE:-?} KiB"
printf '%-36s %12s\n' "ru_maxrss, vial + payload (wait4)" "${MAXRSS_VIAL:-?} KiB"
echo "(peak RSS: max of /proc/PID/smaps_rollup Rss at every syscall entry, under ptrace;"
echo " ru_maxrss is the max over both images and, since Linux 6.2, read from approximate"
echo " per-CPU counters)"
if [ -n "$ANALYSE" ]; then
	echo
	echo "where the time goes (a timing target was missed)"
	printf '%-12s %-24s %s\n' "" "syscalls per launch" \
		"most frequent (strace -f -c; payload included)"
	for c in "floor cold:${SC_FLOOR_COLD:-}" "vial cold:${SC_VIAL_COLD:-}" \
		 "floor warm:${SC_FLOOR_WARM:-}" "vial warm:${SC_VIAL_WARM:-}"; do
		read -r tot top <<<"${c#*:}"
		printf '%-12s %-24s %s\n' "${c%%:*}" "$tot" "$top"
	done
	if [ -n "${CPU_VIAL_WARM:-}" ]; then
		echo "CPU ms per launch (perf, system-wide samples by process name; 200 launches):"
		printf '%-12s %22s %26s %16s\n' "" "launcher, until exec" \
			"true + exit (ns teardown)" "kernel threads"
		for c in "floor cold:${CPU_FLOOR_COLD:-}" "vial cold:${CPU_VIAL_COLD:-}" \
			 "floor warm:${CPU_FLOOR_WARM:-}" "vial warm:${CPU_VIAL_WARM:-}"; do
			read -r a b k <<<"${c#*:}"
			printf '%-12s %22s %26s %16s\n' "${c%%:*}" "$a" "$b" "$k"
		done
	fi
fi
echo
if [ -z "$LEFT" ]; then
	echo "left behind on the host: nothing (mounts and bound loop devices as before)"
else
	echo "left behind on the host:"
	printf '%s\n' "$LEFT" | sed 's/^/    /'
fi
