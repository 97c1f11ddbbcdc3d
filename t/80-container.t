#!/bin/bash
# The container a job script expects: binds, home, contain, environment, namespaces.
. "$(dirname "$0")/lib.sh"
setup
D=$T/data; mkdir -p "$D" && echo data > "$D/f" && chown -R $TU "$D"

# --- binds
vial exec -B "$D:/data" "$IMG" sh -c 'cat /data/f && echo w > /data/w && cat /data/w'
is "$OUT" "data
w" "-B src:dst binds a host directory, writable"
vial exec --bind="$D:/data:ro" "$IMG" sh -c 'echo x > /data/x'
like "$RC $ERR" "^[12] .*Read-only file system" "-B src:dst:ro is really read-only"
vial exec -B "$D:/a,$D:/b:ro" "$IMG" sh -c 'cat /a/f /b/f'
is "$OUT" "data
data" "comma-separated binds all apply"
vial exec -B "$D:/scratch/project/x" "$IMG" cat /scratch/project/x/f
is "$OUT" "data" "a destination missing from the image is made (overlay)"
vial exec -B "$D" "$IMG" cat "$D/f"
is "$OUT" "data" "-B src binds at the same path"
vial exec -B "$D:/data" "$IMG" sh -c 'grep " /data " /proc/self/mountinfo'
like "$OUT" " /data rw,nosuid,nodev" "user binds are nosuid,nodev"
clean "binds"

vial exec -B /:/host "$IMG" sh -c 'ls /host/etc/hostname; ls /host/tmp | grep -c "^upper$"'
is "$OUT" "/host/etc/hostname
0" "-B /:/host shows the host, never vial's staging area"
clean "bind of /"

mkdir -p "$T/rootonly" && echo secret > "$T/rootonly/f" && chmod 700 "$T/rootonly"
vial exec -B "$T/rootonly/f:/f" "$IMG" cat /f
like "$RC|$ERR" "^255\|vial: bind $T/rootonly/f: Permission denied\$" \
	"a file inside a 0700 root directory cannot be bound"
clean "unreachable bind"

mkdir -p "$T/ro" && mount -t tmpfs -o ro,mode=755 none "$T/ro"
vial exec -B "$T/ro:/ro" "$IMG" sh -c 'grep " /ro " /proc/self/mountinfo'
umount "$T/ro"
like "$OUT" " /ro ro," "a read-only host mount stays read-only when bound"

# a hostile image: symlinks that point at host paths
R=$T/evil; mkdir -p "$R"; unsquashfs -q -d "$R/x" "$IMG" >/dev/null; mv "$R/x"/* "$R"; rmdir "$R/x"
ln -s /etc "$R/link"; ln -s ../../../../../etc "$R/rel"; ln -s /vial-escape "$R/far"
ln -s "/$(printf 'd%.0s' $(seq 4000))" "$R/long"	# found by fuzz/resolve: overflowed a buffer
mksquashfs "$R" "$T/evil.sqfs" -quiet -noappend -all-root >/dev/null; chmod 644 "$T/evil.sqfs"
vial exec -B "$D:/link/vial-sub" -B "$D:/rel/vial-rel" -B "$D:/far/x" "$T/evil.sqfs" \
	sh -c 'cat /etc/vial-sub/f /etc/vial-rel/f /vial-escape/x/f'
is "$OUT|$RC" "data
data
data|0" "binds through in-image symlinks land inside the container"
vial exec -B "$D:/long/$(printf 'e/%.0s' $(seq 900))x" "$T/evil.sqfs" true
like "$RC|$ERR" "^255\|vial: cannot make mount point .*: Filename too long\$" \
	"a destination that grows past PATH_MAX through a symlink is refused"
check "the host is untouched by binds through in-image symlinks" \
	test ! -e /etc/vial-sub -a ! -e /etc/vial-rel -a ! -e /vial-escape
clean "symlinked destinations"

# a site that forbids user binds (ALLOW_USER_BINDS 0)
sed 's/^#define ALLOW_USER_BINDS 1/#define ALLOW_USER_BINDS 0/' "$TOP/config.h" > "$T/nobind.h"
flock /tmp/vial-build.lock make -C "$TOP" -s CONFIG="$T/nobind.h" OUT="$T/vial-nobind" \
	OBJDIR="$T/obj" >"$T/build.log" 2>&1 || diag "site build failed:" "$(cat "$T/build.log")"
install -o root -g root -m 4755 "$T/vial-nobind" "$T/bin/vial-nobind"
run as $TU "$T/bin/vial-nobind" exec -B "$D:/data" "$IMG" true
like "$RC|$ERR" "^255\|vial: bind $D: user binds are not allowed by the site policy\$" \
	"a site can forbid user binds"
run as $TU "$T/bin/vial-nobind" exec "$IMG" cat /etc/hosts
is "$RC" 0 "and its default binds still apply"
clean "no user binds"

# --- home
mkdir -p "$T/h" && chown $TU "$T/h" && echo mine > "$T/h/f"
vial exec -H "$T/h:/home/other" "$IMG" sh -c 'echo $HOME; cat ~/f'
is "$OUT" "/home/other
mine" "-H src:dst binds that home and sets HOME"
mkdir -p "$T/h2" && chown $TU2 "$T/h2"
vial exec -H "$T/h2" "$IMG" true
like "$RC|$ERR" "^255\|vial: home $T/h2: not yours, not writable by you, not your working directory\$" \
	"a home owned by another user is refused"
vial exec --no-home "$IMG" sh -c "ls /home/$TU"
is "$RC" 1 "--no-home binds no home"
vial exec --pwd /nonexistent "$IMG" true
like "$RC|$ERR" "^255\|vial: --pwd /nonexistent: No such file or directory\$" \
	"--pwd to a missing directory fails with a clear message"
vial exec --pwd /etc "$IMG" pwd
is "$OUT" "/etc" "--pwd sets the working directory"
clean "home and pwd"

# --- contain
echo host > /tmp/vial-hostfile.$$
vial exec -c "$IMG" sh -c "ls /tmp/vial-hostfile.$$"
is "$RC" 1 "--contain hides the host's /tmp"
rm -f /tmp/vial-hostfile.$$
vial exec -c "$IMG" sh -c 'ls /dev | tr "\n" " "; echo x > /dev/null && echo ok'
like "$OUT" "^fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ok" \
	"--contain gives a minimal /dev"
vial exec -c "$IMG" sh -c "cd; pwd; ls -A | wc -l"
is "$OUT" "/home/$TU
0" "--contain gives an empty private home"
clean "contain"

# --- environment
run as $TU env FOO=bar "$VIAL" exec "$IMG" sh -c 'echo $FOO'
is "$OUT" "bar" "the caller's environment passes through"
run as $TU env FOO=bar TERM=xterm "$VIAL" exec -e "$IMG" sh -c 'echo "$FOO|$LANG|$PATH|$TERM|$HOME"'
is "$OUT" "|C|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|xterm|/home/$TU" \
	"--cleanenv keeps only HOME, TERM, USER, LANG=C and a sane PATH"
run as $TU env SINGULARITYENV_A=1 APPTAINERENV_B=2 "$VIAL" exec -e --env C=3 "$IMG" \
	sh -c 'echo "$A$B$C|$SINGULARITYENV_A"'
is "$OUT" "123|" "SINGULARITYENV_X, APPTAINERENV_X and --env set X, also with --cleanenv"

S=$T/sing; mkdir -p "$S"; unsquashfs -q -d "$S/x" "$IMG" >/dev/null; mv "$S/x"/* "$S"; rmdir "$S/x"
mkdir -p "$S/.singularity.d/env"
printf 'export MYVAR=fromimage\nexport OTHER=image\n' > "$S/.singularity.d/env/90-environment.sh"
printf '#!/bin/sh\necho "run $MYVAR $OTHER $*"\n' > "$S/.singularity.d/runscript"
chmod 755 "$S/.singularity.d/runscript"
mksquashfs "$S" "$T/sing.sqfs" -quiet -noappend -all-root >/dev/null; chmod 644 "$T/sing.sqfs"
vial run "$T/sing.sqfs" a b
is "$OUT" "run fromimage image a b" "run sources /.singularity.d/env and runs the runscript"
run as $TU env SINGULARITYENV_MYVAR="it's mine" "$VIAL" exec "$T/sing.sqfs" sh -c 'echo "$MYVAR|$OTHER"'
is "$OUT" "it's mine|image" "SINGULARITYENV_ wins over the image's env scripts"
vial exec "$IMG" sh -c 'echo $SINGULARITY_CONTAINER $APPTAINER_NAME'
is "$OUT" "$IMG bb.sqfs" "SINGULARITY_CONTAINER and APPTAINER_NAME are set"
clean "environment"

# --- /proc
# Without -p the container shares the host's PID namespace: it gets the
# host's own /proc (so a site's hidepid= holds), nosuid,nodev,noexec.
vial exec "$IMG" stat -c %d /proc
is "$OUT" "$(stat -c %d /proc)" "without -p /proc is the host's own"
vial exec "$IMG" grep " /proc " /proc/self/mountinfo
like "$OUT" " /proc [a-z]+,nosuid,nodev,noexec" "bound nosuid,nodev,noexec"
vial exec -p "$IMG" stat -c %d /proc
check "with -p it is a new /proc" test -n "$OUT" -a "$OUT" != "$(stat -c %d /proc)"
vial exec -p "$IMG" grep " /proc " /proc/self/mountinfo
like "$OUT" " /proc [a-z]+,nosuid,nodev,noexec" "nosuid,nodev,noexec too"
clean "/proc"

# --- PID namespace
vial exec -p "$IMG" sh -c 'echo $$; tr "\0" " " < /proc/1/cmdline'
like "$OUT" "^2
$VIAL exec -p" "with -p the command is PID 2 and PID 1 is vial's init"
vial exec -p "$IMG" sh -c '(sh -c "exit 0" &); sleep 0.5; grep -l "^State:.*Z" /proc/[0-9]*/status | wc -l'
is "$OUT" "0" "orphans are reaped"
vial exec -p "$IMG" probe exit 7
is "$RC" 7 "exit status passes through -p"
vial exec -p "$IMG" probe kill 10
is "$RC" 138 "death by a signal gives 128+N through -p"
bg $TU "$VIAL" exec -p "$IMG" sleep 30; pid=$BGPID
sleep 1
st=$(grep -E '^(Uid|Gid|Cap(Inh|Prm|Eff|Bnd|Amb))' /proc/$pid/status)
kill -TERM $pid; wait $pid; rc=$?
is "$rc" 143 "SIGTERM to the outer vial reaches the command, and vial exits 143"
like "$(echo "$st" | grep -E '^(Uid|Gid)' | tr '\n' ' ')" \
	"^Uid:\s+$UID1\s+$UID1\s+$UID1\s+$UID1\s+Gid:\s+$GID1\s+$GID1\s+$GID1\s+$GID1\s*$" \
	"the waiting outer vial holds no root id of any kind"
is "$(echo "$st" | grep -c ':[[:space:]]*0000000000000000$')" 5 "and no capability"
bg $TU "$VIAL" exec -p "$IMG" sh -c "trap 'echo TERM > /tmp/vialterm.$$; exit 0' TERM; sleep 30 & wait"; pid=$BGPID
sleep 1; kill -TERM $pid; wait $pid
is "$?|$(cat /tmp/vialterm.$$ 2>/dev/null)" "0|TERM" "the command can catch the relayed SIGTERM"
rm -f /tmp/vialterm.$$
bg $TU "$VIAL" exec -p "$IMG" sleep 30; pid=$BGPID
sleep 1; kill -KILL $pid; wait $pid 2>/dev/null
clean "SIGKILL of the outer vial (PDEATHSIG ends the container)"

# --- other namespaces
vial exec -i "$IMG" readlink /proc/self/ns/ipc
check "-i gives a new IPC namespace" test -n "$OUT" -a "$OUT" != "$(readlink /proc/self/ns/ipc)"
vial exec -n "$IMG" sh -c 'ls /sys/class/net; cat /sys/class/net/lo/flags'
is "$OUT" "lo
0x9" "-n gives a network namespace with only loopback, up"
vial exec --hostname node42 "$IMG" hostname
is "$OUT" "node42" "--hostname sets the host name in a new UTS namespace"
check "the host's name is unchanged" test "$(hostname)" != node42
clean "namespaces"

# A job script written for singularity, with vial in its place.
ln -s "$VIAL" "$T/bin/singularity"
cat > "$T/job.sh" <<JOB
#!/bin/sh
singularity exec -B $D:/data -p $IMG sh -c 'cat /data/f; exit 5'
JOB
chmod 755 "$T/job.sh"
run as $TU env PATH="$T/bin:/usr/bin:/bin" "$T/job.sh"
is "$OUT|$RC" "data|5" "a job script written for singularity exec -B -p runs with vial"
clean "job script"
done_testing
