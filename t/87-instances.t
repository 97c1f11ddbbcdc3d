#!/bin/bash
# Instances, as Apptainer 1.1's: instance start (the startscript, detached,
# its output in logs of the caller's), list (table, --json, --logs), exec,
# run and shell instance://NAME (the instance's namespaces, the caller's
# ids, the usual environment and exit status), stop (signal, wait,
# SIGKILL; --all). Records are root's and per user: another user sees,
# joins and stops nothing; a recycled pid is never joined; a killed
# instance leaves no record, mount, loop device or process; a sealed
# protected image takes none; one in a Slurm step (a slurmstepd above it)
# ends with it. Every bad input: one line, 255, nothing left.
. "$(dirname "$0")/lib.sh"
setup
SR=$TOP/t/seccomp-run
V= LPID= CG= made=()
cleanup() {
	local p
	# instances this file left running (a failed case), by their records
	for p in $(cat /run/vial/instances/{$UID1,$UID2}/* 2>/dev/null | tr '\0' '\n' |
		   awk 'NR % 9 == 2'); do
		kill -KILL "$p" 2>/dev/null
	done
	rm -f /run/vial/instances/{$UID1,$UID2}/* 2>/dev/null
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	[ -n "$CG" ] && rmdir "$CG" 2>/dev/null
	rm -rf "${V:-/nonexistent}" "${PDT:-/nonexistent}" "/home/$TU/.vial" "/home/$TU2/.vial"
	for d in "${made[@]}"; do rmdir "$d"; done
	teardown
}
trap cleanup EXIT

RD=/run/vial/instances	# the default INSTANCE_DIR
LOGD=/home/$TU/.vial/instances/logs/$(uname -n)/$TU
rm -rf "/home/$TU/.vial" "/home/$TU2/.vial"

# The image: a startscript (its arguments choose how it behaves), a
# runscript and an env script, as Apptainer builds them.
INST=$T/inst.sqfs
R=$T/instroot
unsquashfs -q -d "$R" "$IMG" >/dev/null
mkdir -p "$R/.singularity.d/env"
cat > "$R/.singularity.d/startscript" <<'EOF'
#!/bin/sh
echo "start $*"
echo "to err" >&2
case $1 in
stubborn) trap '' TERM; while :; do sleep 1; done ;;
usr1) trap 'echo got USR1; exit 0' USR1; while :; do sleep 1 & wait $!; done ;;
quick) exit 0 ;;
esac
exec sleep 1000
EOF
printf '#!/bin/sh\necho "runscript $*"\n' > "$R/.singularity.d/runscript"
echo 'export FROM_IMAGE=yes' > "$R/.singularity.d/env/90-environment.sh"
chmod 755 "$R/.singularity.d/startscript" "$R/.singularity.d/runscript"
mksquashfs "$R" "$INST" -noappend -all-root -quiet >/dev/null && chmod 644 "$INST"

# ivial ARGS...: vial as the test user, bounded (a start whose init kept
# the caller's stdout would hang the $(...) of `run` for ever)
ivial() { run as $TU timeout 30 "$VIAL" "$@"; }
ipid() {	# ipid NAME [USER]: the PID `instance list` gives NAME (as root: none)
	as "${2:-$TU}" "$VIAL" instance list "$1" 2>/dev/null | awk 'NR == 2 {print $2}'
}
gone() {	# gone PID: wait up to 10 s until PID is no more, or a zombie
	local i s
	[ -n "$1" ] || return 1
	for i in $(seq 100); do
		s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
		[ "$s" = Z ] && return 0
		sleep 0.1
	done
	return 1
}
# iclean NAME [PIDS]: clean NAME, once the test users' zombies are reaped
# (PID 1 here reaps orphans late, and an instance's init becomes one once
# its vial has returned); with PIDS, the case's instances, none ran: not ok
iclean() {
	local i
	if [ $# -gt 1 ] && [ -z "$2" ]; then
		nok "nothing left behind: $1"; diag "(no instance ran)"; return
	fi
	for i in $(seq 100); do
		ps -o stat= -u $TU,$TU2 | grep -q Z || break
		sleep 0.1
	done
	clean "$1"
}
records() { ls -A "$RD/${1:-$UID1}" 2>/dev/null | tr '\n' ' '; }
logs() { ls -A "/home/$TU/.vial/instances/logs/$(uname -n)/$TU" 2>/dev/null | tr '\n' ' '; }

run as $TU "$VIAL" help
like "$OUT" "^  instance start \\[options\\] IMAGE NAME \\[ARG...\\]
  instance list \\[--json \\| --logs\\] \\[NAME\\]
  instance stop \\[-s SIGNAL\\] \\[-t SECONDS\\] \\[-F\\] NAME \\| --all
  exec\\|run\\|shell \\[options\\] instance://NAME" "vial help shows the instance commands"

# --- start, list ---------------------------------------------------------------
OUT=$( (as $TU timeout 30 "$VIAL" instance start "$INST" web a b 7>"$T/fd7") 2>&1); RC=$?
P=$(ipid web)
is "$RC|$OUT" "0|vial: instance web started (PID $P)" \
	"instance start returns once the instance is up, and says so in one line"
check "its init runs" test -n "$P" -a -e "/proc/$P"
is "$(grep NSpid /proc/$P/status 2>&1 | awk '{print $NF}')" 1 \
	"the init is PID 1 of a PID namespace of its own"
like "$(grep -E '^(Uid|CapPrm|CapEff|CapBnd|NoNewPrivs):' /proc/$P/status | tr '\t' ' ')" \
	"^Uid: $UID1 $UID1 $UID1 $UID1
CapPrm: 0+
CapEff: 0+
CapBnd: 0+
NoNewPrivs: 1" "the init is the caller, with no capability and no_new_privs"
run as $TU ls "/proc/$P/root/"
check "the caller cannot look into the init (not dumpable)" test -n "$P" -a "$RC" != 0
is "$(stat -L -c %t:%T /proc/$P/fd/0)|$(readlink /proc/$P/fd/1)|$(readlink /proc/$P/fd/2)" \
	"1:3|$LOGD/web.out|$LOGD/web.err" "its 0 is /dev/null, 1 and 2 the logs"
is "${P:+up}|$(readlink /proc/$P/fd/* | grep -c "$T")" "up|0" \
	"and it holds no fd of the caller's (fd 7)"
is "${P:+up}|$(ps -o sid= -p "$P" | tr -d ' ')" "up|$P" "it is detached: a session of its own"
for i in $(seq 50); do grep -q start "$LOGD/web.out" 2>/dev/null && break; sleep 0.1; done
is "$(cat "$LOGD/web.out")|$(cat "$LOGD/web.err")" "start a b|to err" \
	"the startscript ran with the arguments, its output in the logs"
is "$(stat -c '%U %a' "$LOGD/web.out" "$LOGD/web.err" "$LOGD" | tr '\n' ' ')" \
	"$TU 600 $TU 600 $TU 700 " "the logs and their directory are the caller's own"
is "$(stat -c '%U:%G %a' "$RD" "$RD/$UID1" "$RD/$UID1/web" | tr '\n' ' ')" \
	"root:root 700 root:root 700 root:root 600 " \
	"its record is root's, 0600, in root's 0700 directories"
run as $TU cat "$RD/$UID1/web"
check "the caller cannot read the record" test -f "$RD/$UID1/web" -a "$RC" != 0

ivial instance list
w=$(( ${#P} > 3 ? ${#P} + 4 : 7 ))
is "$OUT" "$(printf '%-17s%-*s%-6s%s\n%-17s%-*s%-6s%s' "INSTANCE NAME" $w PID IP IMAGE \
	web $w "$P" "" "$INST")" "instance list: Apptainer's columns, NAME, PID, IP, IMAGE"
ivial instance list --json
is "$OUT" "{
	\"instances\": [
		{
			\"instance\": \"web\",
			\"pid\": $P,
			\"img\": \"$INST\",
			\"ip\": \"\",
			\"logErrPath\": \"$LOGD/web.err\",
			\"logOutPath\": \"$LOGD/web.out\"
		}
	]
}" "instance list --json: Apptainer's JSON"
ivial instance list --logs
is "$OUT" "$(printf '%-17s%-*s%s\n%-17s%-*s%s\n%*s%s' "INSTANCE NAME" $w PID LOGS \
	web $w "$P" "$LOGD/web.err" $((17 + w)) "" "$LOGD/web.out")" \
	"instance list --logs: the logs' paths"
ivial instance list 'w*'
is "$(echo "$OUT" | awk 'NR == 2 {print $1}')" web "instance list takes a name pattern"
ivial instance list nosuch
is "$RC|$OUT" "0|INSTANCE NAME    PID    IP    IMAGE" "and a name nothing matches lists none"

# --- exec, run, shell instance:// ---------------------------------------------
groups1=$(id -G $TU | tr ' ' '\n' | sort -n | paste -sd,)
ivial exec instance://web probe ids
is "$RC|$OUT" "0|uid=$UID1,$UID1,$UID1 gid=$GID1,$GID1,$GID1 groups=$groups1" \
	"exec instance://: the command has the caller's ids and groups"
ivial exec instance://web probe status
like "$OUT" "CapEff:[[:space:]]+0+
(.*
)*CapBnd:[[:space:]]+0+
(.*
)*NoNewPrivs:[[:space:]]+1" "no capability, no_new_privs"
ivial exec instance://web probe root
like "$OUT|$RC" "setuid=-1 seteuid=-1 setresuid=-1 euid=$UID1\|0" "setuid(0) fails there"
ivial exec instance://web sh -c 'for n in pid mnt ipc uts net; do readlink /proc/self/ns/$n; done'
want=$(for n in pid mnt ipc uts net; do readlink /proc/$P/ns/$n; done)
is "$OUT|$(echo "$want" | grep -c .)" "$want|5" \
	"it runs in the instance's pid, mount, ipc, uts and net namespaces"
ivial exec instance://web ps -o comm
is "$(echo "$OUT" | sort | tr '\n' ' ')" "COMMAND ps sleep vial " \
	"and sees the instance's processes (its init, its startscript's sleep)"
ivial exec instance://web sh -c 'cat /etc/os-release; echo "$FROM_IMAGE $SINGULARITY_CONTAINER"; pwd'
is "$OUT" "NAME=\"vial demo (busybox)\"
yes $INST
$T" "with the image's root, its env scripts, and the caller's working directory"
run as $TU env SINGULARITYENV_X=from-caller timeout 30 "$VIAL" exec instance://web \
	sh -c 'echo "$X"'
is "$OUT" "from-caller" "the usual environment (SINGULARITYENV_X)"
ivial exec instance://web sh -c 'exit 7'
is "$RC" 7 "the command's exit status passes through"
ivial exec instance://web probe kill 15
is "$RC" 143 "death by signal N exits 128+N"
ivial exec instance://web nosuchcommand
is "$RC" 127 "a command not in the image: 127"
ivial exec instance://web probe fds
is "$OUT" "0 1 2" "no fd of vial's reaches the command"
ivial run instance://web x y
is "$RC|$OUT" "0|runscript x y" "run instance:// runs the runscript with the arguments"
OUT=$(echo 'echo "shell $FROM_IMAGE"' | as $TU timeout 30 "$VIAL" shell instance://web 2>&1)
is "$OUT" "shell yes" "shell instance:// runs a shell there"
ivial exec instance://web sleep 60 &
j=$!
for i in $(seq 50); do
	vj=$(pgrep -u $TU -f "^$VIAL exec instance://web sleep 60")
	s=$(pgrep -P "${vj:-0}" -x sleep)
	[ -n "$s" ] && break; sleep 0.1
done
is "${s:+up}|$(readlink /proc/$s/ns/pid)" "up|$(readlink /proc/$P/ns/pid)" \
	"(a joined command runs, the child of the vial that waits for it)"
kill -KILL "$vj" 2>/dev/null
wait $j 2>/dev/null
for i in $(seq 50); do [ -e "/proc/$s" ] || break; sleep 0.1; done
check "a joined command dies with the vial that waits for it" test -n "$s" -a ! -e "/proc/$s"
check "and the instance stays up" test -n "$P" -a -e "/proc/$P"

# exec's options build the instance's container; a join sees them
install -d -o $TU "$T/data" && echo here > "$T/data/f"
ivial instance start --net --hostname inst-host -B "$T/data:/data" "$INST" opts
P3=$(ipid opts)
ivial exec instance://opts sh -c 'hostname; cat /data/f; ls /sys/class/net'
is "$RC|$OUT" "0|inst-host
here
lo" "instance start takes exec's options (--hostname, -B, --net), and a join sees them"
ivial instance stop opts
check "(stopped)" gone "$P3"

# --- another user ---------------------------------------------------------------
run as $TU2 "$VIAL" instance list
is "$RC|$OUT" "0|INSTANCE NAME    PID    IP    IMAGE" "another user's list does not show it"
run as $TU2 "$VIAL" exec instance://web true
is "$RC|$ERR" "255|vial: instance web: no such instance (vial instance list)" \
	"another user cannot join it"
run as $TU2 "$VIAL" instance stop web
is "$RC|$ERR" "255|vial: instance web: no such instance (vial instance list)" \
	"nor stop it"
run as $TU2 "$VIAL" instance stop --all
is "$RC|$ERR" "255|vial: instance stop: no such instance (vial instance list)" \
	"nor stop it with --all"
is "${P:+up}|$(records $UID2)" "up|" "it still runs, and no record of the other user's names it"

# --- a recycled pid is never joined ----------------------------------------------
ivial instance start "$INST" two
P2=$(ipid two)
check "a second instance runs" test -n "$P2"
# forge: web's record with two's pid (a pid now another process's), and
# web's own pid with another start time
python3 - "$RD/$UID1" "$P2" <<'EOF'
import sys
d, pid2 = sys.argv[1], sys.argv[2]
f = open(d + "/web", "rb").read().split(b"\0")
g = list(f); g[1] = pid2.encode()
open(d + "/fake", "wb").write(b"\0".join(g))
h = list(f); h[2] = str(int(f[2]) + 1).encode()
open(d + "/fake2", "wb").write(b"\0".join(h))
k = list(f); k[4] = str(int(f[4]) | 8).encode()
open(d + "/starting", "wb").write(b"\0".join(k))
EOF
chmod 600 "$RD/$UID1/fake" "$RD/$UID1/fake2" "$RD/$UID1/starting"
ivial exec instance://starting true
is "$RC|$ERR" "255|vial: instance starting: not up yet (vial instance list)" \
	"an instance not yet up (its record says so until its startscript runs) is not joined"
rm -f "$RD/$UID1/starting"
ivial exec instance://fake true
is "$RC|$ERR" "255|vial: instance fake: no such instance (vial instance list)" \
	"a record whose pid is now another instance's init (another start time) is not joined"
ivial exec instance://fake2 true
is "$RC|$ERR" "255|vial: instance fake2: no such instance (vial instance list)" \
	"nor one whose start time does not match its pid's"
is "$(records)" "two web " "and both forged records are removed as stale"
ivial instance stop fake2
is "$RC|$ERR" "255|vial: instance fake2: no such instance (vial instance list)" \
	"nor is a stale record stopped"
check "the instances behind those pids are untouched" \
	test -n "$P" -a -n "$P2" -a -e "/proc/$P" -a -e "/proc/$P2"

# --- a start that fails after the launch began ----------------------------------------
B=$T/badstart.sqfs
unsquashfs -q -d "$T/badroot" "$IMG" >/dev/null
mkdir -p "$T/badroot/.singularity.d"
printf '#!/bin/sh\necho never\n' > "$T/badroot/.singularity.d/startscript"	# 0644: no exec
mksquashfs "$T/badroot" "$B" -noappend -all-root -quiet >/dev/null && chmod 644 "$B"
ivial instance start "$B" bad
is "$RC|$ERR|$(records)" "255|vial: instance bad did not start: see $LOGD/bad.err|two web " \
	"a startscript that cannot run: one line pointing to the log, 255, no record"
like "$(cat "$LOGD/bad.err")" "^vial: /.singularity.d/startscript: cannot execute in $B: Permission denied\$" \
	"the log says why"
ivial instance start -B "$T/nonexistent:/x" "$INST" bad2
is "$RC|$ERR|$(records)" "255|vial: bind $T/nonexistent: No such file or directory|two web " \
	"a container that cannot be built: its one line, 255, no record"

# --- stop ---------------------------------------------------------------------------
ivial instance stop web
is "$RC|$ERR" "0|vial: instance web (PID $P) stopped by SIGTERM" \
	"instance stop: SIGTERM, and it says so"
check "its init is gone" gone "$P"
is "$(records)" "two " "its record is gone"
ivial instance stop two
check "(the second stops too)" gone "$P2"
iclean "start, list, join, stop" "$P$P2"

ivial instance start "$INST" tough stubborn
P=$(ipid tough)
s=$SECONDS
ivial instance stop -t 1 tough
is "$RC|$ERR" "0|vial: instance tough (PID $P) did not stop within 1 s of SIGTERM: killed by SIGKILL" \
	"an instance that ignores SIGTERM is killed after -t seconds, and stop says so"
check "(after the timeout, not before)" test $((SECONDS - s)) -ge 1
check "it is gone" gone "$P"
iclean "stop -t" "$P"

ivial instance start "$INST" sig usr1
P=$(ipid sig)
ivial instance stop -s USR1 sig
is "$RC|$ERR" "0|vial: instance sig (PID $P) stopped by SIGUSR1" "-s sends that signal"
check "(gone)" gone "$P"
is "$(tail -1 "$LOGD/sig.out")" "got USR1" "the startscript got it"
ivial instance start "$INST" sig2 usr1
P=$(ipid sig2)
ivial instance stop --signal=sigusr1 sig2
is "$RC|$ERR" "0|vial: instance sig2 (PID $P) stopped by SIGUSR1" "(--signal=sigusr1 too)"
check "(gone)" gone "$P"
ivial instance start "$INST" hup
P=$(ipid hup)
ivial instance stop -s 1 hup
is "$RC|$ERR" "0|vial: instance hup (PID $P) stopped by SIGHUP" "(and -s 1)"
check "(gone)" gone "$P"
ln -s "$VIAL" "$T/bin/singularity"
run as $TU timeout 30 "$T/bin/singularity" instance start "$INST" named
P=$(ipid named)
is "$RC|$ERR" "0|singularity (vial): instance named started (PID $P)" \
	"called singularity, instance start speaks under that name, as every message does"
run as $TU timeout 30 "$T/bin/singularity" instance stop named
is "$RC|$ERR" "0|singularity (vial): instance named (PID $P) stopped by SIGTERM" "(and instance stop)"
check "(gone)" gone "$P"
ivial instance start "$INST" forced stubborn
P=$(ipid forced)
ivial instance stop -F forced
is "$RC|$ERR" "0|vial: instance forced (PID $P) stopped by SIGKILL" "-F: SIGKILL at once"
check "(gone)" gone "$P"
iclean "stop -s, -F" "$P"

ivial instance start "$INST" q quick
P=$(ipid q)
sleep 0.5
check "an instance stays up when its startscript exits, as Apptainer's does" \
	test -n "$P" -a -e "/proc/$P"
ivial instance stop q
check "(and stops)" gone "$P"
iclean "startscript exits" "$P"

for x in a1 a2 a3; do ivial instance start "$INST" $x; done
ps_=$(for x in a1 a2 a3; do ipid $x; done)
check "three instances run" test "$(echo $ps_ | wc -w)" = 3
ivial instance stop --all
is "$RC|$(echo "$ERR" | sed 's/(PID [0-9]*)/(PID N)/' | tr '\n' '|')" \
	"0|vial: instance a1 (PID N) stopped by SIGTERM|vial: instance a2 (PID N) stopped by SIGTERM|vial: instance a3 (PID N) stopped by SIGTERM|" \
	"instance stop --all stops every one, a line each"
for p in $ps_; do gone $p; done
is "$(records)|$(echo $ps_ | wc -w)" "|3" "and their records go"
iclean "stop --all" "$ps_"

# pidfd_send_signal (Linux 5.1) absent: kill(2), after checking the process
ivial instance start "$INST" old
P=$(ipid old)
run "$SR" --enosys 424 -- setpriv --reuid=$TU --regid=$TU --init-groups -- \
	"$VIAL" instance stop old
is "$RC|$ERR" "0|vial: instance old (PID $P) stopped by SIGTERM" \
	"without pidfd_send_signal (ENOSYS) stop still works"
check "(gone)" gone "$P"
iclean "stop without pidfd_send_signal" "$P"

# --- a killed instance leaves nothing ---------------------------------------------
ivial instance start "$INST" k
P=$(ipid k)
kill -KILL "$P"
check "(its init is killed)" gone "$P"
iclean "an instance whose init got SIGKILL leaves no mount, loop device or process" "$P"
ivial instance list
is "$OUT" "INSTANCE NAME    PID    IP    IMAGE" "it is not listed"
is "${P:+ran}|$(records)" "ran|" "and its stale record was removed when the list noticed it"

# as when Slurm (proctrack/cgroup) kills a job's cgroup
CG=/sys/fs/cgroup/unified/vialtest.$$
if mkdir "$CG" 2>/dev/null && [ -e "$CG/cgroup.kill" ]; then
	OUT=$(sh -c 'echo $$ > "$1/cgroup.procs" && exec setpriv --reuid=$2 --regid=$2 \
		--init-groups -- timeout 30 "$3" instance start "$4" cg' sh "$CG" $TU "$VIAL" "$INST" 2>&1)
	P=$(ipid cg)
	is "${P:+ran}|$(sort -n "$CG/cgroup.procs" | tr '\n' ' ')" \
		"ran|$(pgrep -u $TU -s "${P:-0}" | sort -n | tr '\n' ' ')" \
		"the instance's processes stay in the cgroup of the process that started it"
	echo 1 > "$CG/cgroup.kill"
	check "(killing the cgroup kills its init)" gone "$P"
	iclean "an instance killed with its cgroup leaves nothing behind" "$P"
	ivial exec instance://cg true
	is "$RC|$ERR" "255|vial: instance cg: no such instance (vial instance list)" \
		"and is not joined (its stale record is removed)"
	is "${P:+ran}|$(records)" "ran|" "(no record left)"
else
	for i in 1 2 3 4; do ok "cgroup kill # SKIP no cgroup2 with cgroup.kill here"; done
fi

# --- in a Slurm job step: it ends with its slurmstepd --------------------------
cp /bin/bash "$T/bin/slurmstepd"
install -d -o $TU "$T/tu"
bg $TU "$T/bin/slurmstepd" -c "timeout 30 '$VIAL' instance start '$INST' job >/dev/null 2>&1
	echo > '$T/tu/started'; sleep 60; true"
fake=$BGPID
for i in $(seq 100); do [ -e "$T/tu/started" ] && break; sleep 0.1; done
P=$(ipid job)
check "an instance starts below a slurmstepd" test -n "$P"
check "and runs while it does" test -n "$P" -a -e "/proc/$P"
s=$(pgrep -P "$fake")
kill -KILL "$fake" $s; wait "$fake" 2>/dev/null
check "it ends when its slurmstepd is gone (its init watches it)" gone "$P"
iclean "an instance in a Slurm step" "$P"
ivial instance list
is "$OUT" "INSTANCE NAME    PID    IP    IMAGE" "(and is not listed)"
run as $TU sh -c "timeout 30 '$VIAL' instance start '$INST' free >/dev/null 2>&1"
P=$(ipid free)
sleep 1.5
check "one started outside a job outlives the shell that started it" test -n "$P" -a -e "/proc/$P"
ivial instance stop free
check "(stopped)" gone "$P"
iclean "an instance outside Slurm" "$P"

# --- protected images --------------------------------------------------------------
mkdir_root() { [ -d "$1" ] && return; mkdir -m 0755 "$1" && made=("$1" "${made[@]}"); }
mkdir_root /opt/vial
mkdir_root /opt/vial/protected
PDT=$(mktemp -d /opt/vial/protected/inst.XXXXXX) && chmod 755 "$PDT"
cp "$INST" "$PDT/lic.sqfs" && chmod 600 "$PDT/lic.sqfs"
logs0=$(logs)
ivial instance start "$PDT/lic.sqfs" sealed
is "$RC|$ERR|$(records)|$(logs)" \
	"255|vial: $PDT/lic.sqfs: no instances of a sealed protected image (nothing may join its runs)||$logs0" \
	"a sealed protected image refuses instance start in one line, no record, no log"
iclean "sealed protected image"

# An unsealed protected directory (a site build): its instances run, and
# joining one is a protected run: audited.
V=$(mktemp -d /var/lib/vialinst.XXXXXX) && chmod 755 "$V"
sed "s|^\\([[:space:]]*\\){ \"/opt/vial/protected\", NULL, SEALED },|\\1{ \"$V\", NULL, UNSEALED },|" \
	"$TOP/config.h" > "$T/unsealed.h"
flock /tmp/vial-build.lock make -C "$TOP" -s CONFIG="$T/unsealed.h" OUT="$T/vial-unsealed" \
	OBJDIR="$T/obj" >"$T/build.log" 2>&1 || diag "site build failed:" "$(cat "$T/build.log")"
install -o root -g root -m 4755 "$T/vial-unsealed" "$T/bin/vial-unsealed"
cp "$INST" "$V/lic.sqfs" && chmod 600 "$V/lic.sqfs"
log_listen
# withlog USER ARGS...: the unsealed build as USER, /dev/log the listener
withlog() {
	local u=$1; shift
	run nsrun setpriv --reuid=$u --regid=$u --init-groups -- timeout 30 "$T/bin/vial-unsealed" "$@"
}
audit() {
	local f
	for f in "$T/log"/[0-9]*; do cat "$f"; echo; done 2>/dev/null | grep -a "image=\"$V/lic.sqfs\""
}
withlog $TU instance start "$V/lic.sqfs" lic
P=$(ipid lic)
is "$RC|$ERR" "0|vial: instance lic started (PID $P)" "an unsealed protected image takes instances"
withlog $TU exec instance://lic cat /etc/os-release
is "$RC|$OUT" '0|NAME="vial demo (busybox)"' "and they are joined"
for i in $(seq 50); do [ "$(audit | grep -c .)" = 2 ] && break; sleep 0.1; done
like "$(audit)" "user=\"$TU\" uid=$UID1 image=\"$V/lic.sqfs\" command=\"/.singularity.d/startscript\" cwd=\"$T\"
.*user=\"$TU\" uid=$UID1 image=\"$V/lic.sqfs\" command=\"cat /etc/os-release\" cwd=\"$T\"" \
	"its start and each join are audited, as protected runs"
run as $TU "$T/bin/vial-unsealed" instance stop lic
check "(stopped)" gone "$P"
iclean "unsealed protected image" "$P"

# --- bad input: one line, 255, nothing left -------------------------------------
logs0=$(logs)
bad() {	# bad NAME MESSAGE ARGS...
	local name=$1 msg=$2; shift 2
	ivial "$@"
	is "$RC|$ERR|$(records)|$(logs)" "255|$msg||$logs0" "$name: one line, 255, no record, no log"
}
bad "an unknown instance" "vial: instance nosuch: no such instance (vial instance list)" \
	exec instance://nosuch true
bad "stop of an unknown instance" "vial: instance nosuch: no such instance (vial instance list)" \
	instance stop nosuch
bad "a name with /" \
	"vial: instance a/b: not a valid instance name (letters, digits, '.', '_' and '-')" \
	instance start "$INST" a/b
bad "a name .." \
	"vial: instance ..: not a valid instance name (letters, digits, '.', '_' and '-')" \
	instance start "$INST" ..
bad "instance:// with a /" \
	"vial: instance ../x: not a valid instance name (letters, digits, '.', '_' and '-')" \
	exec instance://../x true
bad "a missing image" "vial: cannot open image $T/nosuch.sqfs: No such file or directory" \
	instance start "$T/nosuch.sqfs" x
bad "no name" \
	"vial: instance start: no name given (vial instance start [options] IMAGE NAME [ARG...])" \
	instance start "$INST"
bad "an unknown subcommand" "vial: instance frob: unknown (start, list or stop)" instance frob
bad "a bad signal" "vial: instance stop: --signal NOPE: not a signal (TERM, SIGKILL, 9, ...)" \
	instance stop -s NOPE x
bad "a bad timeout" "vial: instance stop: --timeout soon: not a number of seconds" \
	instance stop -t soon x
bad "stop without a name" \
	"vial: instance stop: one name or --all (vial instance stop [options] NAME|--all)" \
	instance stop
bad "stop --all of none" "vial: instance stop: no such instance (vial instance list)" \
	instance stop --all
iclean "bad input"
ivial instance start "$INST" dup
P=$(ipid dup)
logs0=$(logs)
ivial instance start "$INST" dup
is "$RC|$ERR|$(records)|$(logs)" "255|vial: instance dup already exists (PID $P)|dup |$logs0" \
	"a duplicate name: one line, 255, the first one untouched"
check "(it still runs)" test -n "$P" -a -e "/proc/$P"
ivial instance stop dup
check "(stopped)" gone "$P"
iclean "duplicate name" "$P"
done_testing
