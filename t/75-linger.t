#!/bin/bash
# LOOP_LINGER: a site build whose loop devices stay bound for L seconds
# after their last use. The next launch shares the device; any later run
# releases devices idle and expired; a device in use, or one vial did not
# bind to linger, is never released; a LINGER_DIR others could write is
# refused; launches racing sweeps all work.
. "$(dirname "$0")/lib.sh"
setup
L=3
LD=$T/linger

cat > "$T/linger.h" <<EOF
#include "$TOP/config.h"
#undef LOOP_LINGER
#define LOOP_LINGER $L
#undef LINGER_DIR
#define LINGER_DIR "$LD"
EOF
flock /tmp/vial-build.lock make -C "$TOP" -s CONFIG="$T/linger.h" OUT="$T/vial-linger" \
	OBJDIR="$T/obj" >"$T/build.log" 2>&1
is "$?" 0 "a site build with LOOP_LINGER=$L builds" || diag "$(cat "$T/build.log")"
install -o root -g root -m 4755 "$T/vial-linger" "$T/bin/vial-linger"
VL=$T/bin/vial-linger
lvial() { run as $TU "$VL" "$@"; }

like "$(as $TU "$VL" config)" "^loop devices linger: $L s after their last use \(state in $LD\)\$" \
	"vial config shows the linger time and the state directory"
like "$(as $TU "$VIAL" config)" "^loop devices linger: no \(autoclear\)\$" \
	"the default build does not linger"

IMG2=$T/other.sqfs
cp "$IMG" "$IMG2"
DIR=$T/dir
mkdir "$DIR" && unsquashfs -q -f -d "$DIR" "$IMG" >/dev/null && chmod 755 "$DIR"
# sweep: a run that attaches nothing (a directory image), so it only sweeps
sweep() { lvial -v exec "$DIR" true; }

# --- the device stays, and the next launch shares it ----------------------
lvial exec "$IMG" probe exit 0
is "$RC" 0 "a launch works"
d=$(devices "$IMG")
is "$(echo "$d" | grep -c .)" 1 "after it exits its device is still bound"
is "$(cat /sys/block/$d/loop/autoclear 2>&1)|$(cat /sys/block/$d/ro 2>&1)" "0|1" \
	"read-only, without autoclear"
is "$(stat -c '%U:%G %a' "$LD" 2>&1)|$(stat -c '%U %a' "$LD/$d" 2>&1)" "root:root 755|root 644" \
	"its state file is root's, in a directory of root's"
lvial -v exec "$IMG" probe exit 0
is "$RC" 0 "the next launch works"
like "$ERR" "^vial: sharing /dev/$d\$" "and shares the lingering device"
is "$(devices "$IMG")" "$d" "and binds no other"

# --- a device in use is never released ------------------------------------
bg $TU "$VL" exec "$IMG" sleep 60; p=$BGPID
check "a container of the image is running" wait_comm $p sleep
sleep $((L + 1))
sweep
is "$RC" 0 "a later run sweeps"
unlike "$ERR" "released /dev/$d:" "but does not release the device in use"
check "the container still runs" wait_comm $p sleep
is "$(devices "$IMG")" "$d" "and its device is still bound"
stop $p

# --- an idle, expired device is released ----------------------------------
sleep 0.5
sweep
unlike "$ERR" "released /dev/$d:" "a device seen in use lingers again from then on"
sleep $((L + 1))
sweep
like "$ERR" "^vial: released /dev/$d: idle for $L s\$" "once idle for $L s a later run releases it"
for i in $(seq 50); do [ -z "$(devices "$IMG")" ] && break; sleep 0.05; done
is "$(devices "$IMG")" "" "the device is unbound"
check "and its state file is gone" test ! -e "$LD/$d"
clean "lingering device released"

# --- only devices vial bound to linger ------------------------------------
dl=$(losetup -r -f --show "$IMG2")
dl=${dl#/dev/}
touch -d '1 hour ago' "$LD/$dl"
sweep
unlike "$ERR" "released /dev/$dl:" "a device losetup bound, with a state file, is not released"
is "$(devices "$IMG2")" "$dl" "it stays bound"
check "and the stale state file is gone" test ! -e "$LD/$dl"
losetup -d "/dev/$dl"
clean "a device vial did not bind"

# --- LINGER_DIR must be root's --------------------------------------------
chown $TU "$LD"
lvial exec "$IMG" true
like "$RC|$ERR" "^255\|vial: $LD \(LINGER_DIR\) must be root's own directory, not writable by others\$" \
	"a LINGER_DIR owned by a user is refused in one line"
chown root "$LD" && chmod 777 "$LD"
lvial exec "$IMG" true
like "$RC|$ERR" "^255\|vial: $LD \(LINGER_DIR\) must be root's own directory" \
	"so is one others can write"
chmod 755 "$LD"
clean "LINGER_DIR refused"

# --- launches racing sweeps -----------------------------------------------
# A build that lingers 1 s. Four workers launch three images in random
# order with random pauses, so devices expire, are released and bound
# again under them, while a fifth keeps sweeping. Every launch must work.
sed "s/^#define LOOP_LINGER $L\$/#define LOOP_LINGER 1/" "$T/linger.h" > "$T/linger1.h"
flock /tmp/vial-build.lock make -C "$TOP" -s CONFIG="$T/linger1.h" OUT="$T/vial-linger1" \
	OBJDIR="$T/obj1" >"$T/build.log" 2>&1 || diag "$(cat "$T/build.log")"
install -o root -g root -m 4755 "$T/vial-linger1" "$T/bin/vial-linger1"
IMG3=$T/third.sqfs
cp "$IMG" "$IMG3"
worker() {	# worker SECONDS: failures in $T/fail.$BASHPID
	local end=$((SECONDS + $1)) f=0 imgs=("$IMG" "$IMG2" "$IMG3")
	while [ $SECONDS -lt $end ]; do
		as $TU "$T/bin/vial-linger1" exec "${imgs[RANDOM % 3]}" probe exit 0 \
			>/dev/null 2>>"$T/race.err" </dev/null || f=$((f + 1))
		sleep 0.$((RANDOM % 15))
	done
	echo $f > "$T/fail.$BASHPID"
}
sweeper() {	# sweeper SECONDS: what the sweeps said in $T/sweeps
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do
		as $TU "$T/bin/vial-linger1" -v exec "$DIR" true 2>&1 </dev/null | grep released
		sleep 0.1
	done > "$T/sweeps"
}
: > "$T/race.err"
for w in 1 2 3 4; do worker 10 & done
sweeper 10 &
wait
fails=$(cat "$T"/fail.* | awk '{s += $1} END {print s}')
is "$fails" 0 "launches racing sweeps all succeed"
[ -s "$T/race.err" ] && diag "$(sort "$T/race.err" | uniq -c | head -5)"
check "and devices were released during the race" grep -q "released /dev/loop" "$T/sweeps"
diag "devices released during the race: $(grep -c released "$T/sweeps")"

# Nothing stays: expired devices go at the next sweep.
sleep $((L + 1))
sweep
for i in $(seq 50); do [ -z "$(devices "$IMG")$(devices "$IMG2")$(devices "$IMG3")" ] && break; sleep 0.05; done
is "$(devices "$IMG")$(devices "$IMG2")$(devices "$IMG3")" "" "after $L s idle every lingering device is released"
clean "linger"
done_testing
