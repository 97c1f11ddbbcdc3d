#!/bin/bash
# LOOP_LINGER: a site build keeps an image mounted, by a holder process in
# a namespace of its own, for L seconds after the last launch that used it.
# The holder is the caller's, powerless and alone with the image; the next
# launch shares the device; the holder goes when it expires or is killed,
# and a container still running keeps its image; a launch that fails
# leaves none; one holder per device however many launch at once; a
# LINGER_DIR others could write is refused.
. "$(dirname "$0")/lib.sh"
setup
L=2
# LINGER_DIR below directories only root can write (not /tmp, 1777)
LP=$(mktemp -d /var/lib/vial-linger.XXXXXX) && chmod 755 "$LP"
LD=$LP/linger
trap 'teardown; rm -rf "$LP"' EXIT

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
isnt() { if [ "$1" != "$2" ]; then ok "$3"; else nok "$3"; fi; }
holders() { pgrep -u "$TU" -x vial-linger; }
# gone: wait (up to 5 s past the linger time) until no holder is left
gone() { local i; for i in $(seq $((L * 10 + 50))); do [ -z "$(holders)" ] && return 0; sleep 0.1; done; return 1; }

like "$(as $TU "$VL" config)" "^loop devices linger: $L s after their last use \(state in $LD\)\$" \
	"vial config shows the linger time and the state directory"
like "$(as $TU "$VIAL" config)" "^loop devices linger: no\$" "the default build does not linger"

# --- the holder --------------------------------------------------------------
# (with two fds of the caller's open, one above 1023)
OUT=$( (ulimit -n 4096; as $TU "$VL" exec "$IMG" echo hi 7>"$T/fd7" 1500>"$T/fd1500") 2>&1)
is "$OUT" "hi" "a launch works, and its output ends when it does"
h=$(holders)
is "$(echo "$h" | grep -c .)" 1 "a holder keeps the image, not the caller's output"
is "$(ls /proc/$h/fd | grep -cx -e 7 -e 1500)|$(readlink /proc/$h/fd/* | grep -c "$T/fd")" "0|0" \
	"nor any fd of the caller's"
check "only 0-2 (/dev/null), its lock and, until its launch execs, its socket" \
	test "$(ls /proc/$h/fd | grep -c .)" -le 5
d=$(devices "$IMG")
is "$(echo "$d" | grep -c .)" 1 "the device stays bound after the container exits"
TUID=$(id -u $TU)
is "$(awk '{print $5, $8, $9}' /proc/$h/mountinfo 2>&1)" "/ squashfs /dev/$d" \
	"the holder's namespace holds the image alone"
like "$(grep -E '^(Uid|Gid|CapPrm|CapEff|CapBnd|NoNewPrivs):' /proc/$h/status | tr '\t' ' ')" \
	"^Uid: $TUID $TUID $TUID $TUID
Gid: [0-9]+ [0-9]+ [0-9]+ [0-9]+
CapPrm: 0+
CapEff: 0+
CapBnd: 0+
NoNewPrivs: 1" "the holder is the caller, with no capability and no_new_privs"
run as $TU ls "/proc/$h/root/"
isnt "$RC" 0 "the caller cannot look into the holder (not dumpable)"
is "$(stat -c '%U:%G %a' "$LD" 2>&1)|$(stat -c '%U:%G %a' "$LD/$d" 2>&1)" "root:root 755|root:root 600" \
	"its state file is root:root 0600, in a directory of root's"

lvial -v exec "$IMG" probe exit 0
is "$RC" 0 "the next launch works"
like "$ERR" "^vial: sharing /dev/$d\$" "and shares the device"
is "$(holders)" "$h" "and no second holder starts"
check "once unused for $L s the holder goes" gone
run as $TU flock -n "$LD/$d" true
like "$RC|$ERR" "^[1-9][0-9]*\|.*Permission denied" "no user can take a state file's lock (and keep holders away)"
clean "holder expired"

# --- a container outlives the holder ----------------------------------------
bg $TU "$VL" exec "$IMG" sleep 60; p=$BGPID
check "a container of the image is running" wait_comm $p sleep
check "its holder goes after $L s" gone
check "the container still runs" wait_comm $p sleep
is "$(devices "$IMG" | grep -c .)" 1 "and keeps its image"
stop $p
clean "container outlived the holder"

# --- a killed holder ---------------------------------------------------------
lvial exec "$IMG" true
h=$(holders)
check "a holder runs" test -n "$h"
kill -KILL $h
clean "holder killed: the device goes with it"

# --- a launch that fails leaves no holder ------------------------------------
lvial exec -B "$T/nonexistent:/x" "$IMG" true
like "$RC|$ERR" "^255\|vial: bind $T/nonexistent: No such file or directory\$" \
	"a launch that fails says why in one line"
clean "a failed launch leaves no holder"
lvial exec "$IMG" no-such-command
is "$RC" 127 "a launch whose command is not found exits 127"
sleep 0.5
# (a holder that exited may stay a zombie here: PID 1 of these VMs reaps none)
is "$(for h in $(holders); do grep -q '^State:.*Z' /proc/$h/status 2>/dev/null || echo $h; done)" "" \
	"and leaves no holder (gone at once, not after $L s)"
clean "command not found leaves no holder"

# --- -p: the holder stays out of the container's namespaces ------------------
lvial exec -p "$IMG" probe exit 0
is "$RC" 0 "a launch with -p works"
h=$(holders)
is "$(readlink /proc/$h/ns/pid 2>&1)" "$(readlink /proc/self/ns/pid)" \
	"its holder is in the host's PID namespace"
check "and goes after $L s" gone
clean "-p with a holder"

# --- at once -----------------------------------------------------------------
for i in $(seq 32); do as $TU "$VL" exec "$IMG" probe exit 0 >/dev/null 2>&1 & done
fails=0
for j in $(jobs -p); do wait $j || fails=$((fails + 1)); done
is "$fails" 0 "32 launches at once all work"
is "$(holders | grep -c .)" 1 "with one holder"
check "which goes after $L s" gone
clean "launches at once"

# --- LINGER_DIR must be root's -----------------------------------------------
chown $TU "$LD"
lvial exec "$IMG" true
like "$RC|$ERR" "^255\|vial: $LD \(LINGER_DIR\) must be root's own directory, not writable by others\$" \
	"a LINGER_DIR owned by a user is refused in one line"
chown root "$LD" && chmod 777 "$LD"
lvial exec "$IMG" true
like "$RC|$ERR" "^255\|vial: $LD \(LINGER_DIR\) must be root's own directory" \
	"so is one others can write"
chmod 755 "$LD"
chown $TU "$LP"
lvial exec "$IMG" true
like "$RC|$ERR" "^255\|vial: $LD \(LINGER_DIR\) must lie below directories only root can write\$" \
	"so is one below a directory the user owns (a symlink there would steer root)"
chown root "$LP" && chmod 777 "$LP"
lvial exec "$IMG" true
like "$RC|$ERR" "^255\|vial: $LD \(LINGER_DIR\) must lie below directories only root can write" \
	"or one anyone can write"
chmod 755 "$LP"
lvial exec "$IMG" probe exit 3
is "$RC" 3 "(root's all the way down, it works again)"
check "(its holder goes)" gone
clean "LINGER_DIR refused"
done_testing
