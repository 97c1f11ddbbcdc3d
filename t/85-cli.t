#!/bin/bash
# The Singularity/Apptainer command line that workflow engines and job
# scripts use: the personality, global options, the options' table,
# refusals, --home, the environment, --contain's /dev, site binds, URIs.
. "$(dirname "$0")/lib.sh"
setup
D=$T/data; mkdir -p "$D" && echo data > "$D/f" && chown -R $TU "$D"
for c in singularity apptainer run-singularity; do ln -s "$VIAL" "$T/bin/$c"; done
UPATH=$T/bin:/usr/bin:/bin
DEFPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# an image with Apptainer's metadata: env scripts, a runscript, bash
S=$T/sing; mkdir -p "$S"; unsquashfs -q -d "$S/x" "$IMG" >/dev/null; mv "$S/x"/* "$S"; rmdir "$S/x"
mkdir -p "$S/.singularity.d/env"
printf 'export MYVAR=fromimage\nexport PATH=/img/bin:/bin\n' > "$S/.singularity.d/env/90-environment.sh"
printf '#!/bin/sh\necho "run $*"\n' > "$S/.singularity.d/runscript"
printf '#!/bin/sh\necho bash-here\n' > "$S/bin/bash"
printf '{"org.label-schema.schema-version": "1.0", "maintainer": "lab"}\n' \
	> "$S/.singularity.d/labels.json"
chmod 755 "$S/.singularity.d/runscript" "$S/bin/bash"
mkdir -p "$S/usr/share/zoneinfo/Etc" && echo image-tz > "$S/usr/share/zoneinfo/Etc/UTC"
rm -f "$S/etc/localtime"; ln -s /usr/share/zoneinfo/Etc/UTC "$S/etc/localtime"
SING=$T/sing.sqfs
mksquashfs "$S" "$SING" -quiet -noappend -all-root >/dev/null; chmod 644 "$SING"

# --- the personality: singularity, apptainer, run-singularity
run as $TU "$T/bin/singularity" --version
is "$OUT" "apptainer version $(sed -n 's/.*APPTAINER_VERSION "\(.*\)"/\1/p' "$TOP/vial.h")" \
	"called singularity, --version answers as Apptainer"
V=$OUT
run as $TU "$T/bin/apptainer" --version
is "$OUT" "$V" "called apptainer, the same line"
run as $TU "$T/bin/singularity" version
is "$OUT" "${V##* }" "version prints the bare version, as Apptainer's does"
run as $TU "$VIAL" --version
like "$OUT" "^vial [0-9]" "called vial, --version is vial's own"
CWL=$(python3 -c 'import re,sys; m=re.match(r"(.+) version ([0-9\.]+)", sys.argv[1]); print(m.group(1), m.group(2))' "$V")
is "$CWL" "apptainer ${V##* }" "cwltool's pattern reads flavour apptainer and the version"
SMK=$(python3 -c '
import sys
v = sys.argv[1]
ok = v.startswith("apptainer") and tuple(map(int, v.rsplit(" ", 1)[-1].split("."))) >= (1, 0, 0)
print("ok" if ok else "too old")' "$V")
is "$SMK" "ok" "Snakemake's check (starts with apptainer, >= 1.0.0) passes"
run as $TU "$T/bin/run-singularity" "$SING" a b
is "$OUT|$RC" "run a b|0" "run-singularity IMAGE ARGS runs the runscript"
printf '#!/usr/bin/env run-singularity\n' > "$T/exe.img"; cat "$SING" >> "$T/exe.img"
chmod 755 "$T/exe.img"
run as $TU env PATH="$UPATH" "$T/exe.img" x y
is "$OUT|$RC" "run x y|0" "an image executed directly (#! run-singularity) runs its runscript"
run as $TU env PATH="$UPATH" singularity exec "$IMG" sh -c 'exit 3'
is "$RC" 3 "singularity exec runs like vial exec"
flock /tmp/vial-build.lock make -C "$TOP" -s install PREFIX="$T/inst" LINKS=1 >"$T/inst.log" 2>&1 ||
	diag "make install failed:" "$(cat "$T/inst.log")"
is "$(cd "$T/inst/bin" && for c in singularity apptainer run-singularity; do readlink $c; done | sort -u)" \
	"vial" "make install LINKS=1 links singularity, apptainer and run-singularity to vial"
clean "personality"

# --- global options before the verb
vial -q exec "$IMG" true
is "$RC|$ERR" "0|" "-q before the verb is accepted"
vial --silent exec -c "$IMG" true
is "$RC|$ERR" "0|" "-s/--silent before the verb quiets the warning"
vial exec -c "$IMG" true
like "$ERR" "^vial: warning: $T is not available in the container" "(which is there without it)"
vial -d exec "$IMG" true
like "$ERR" "^vial: (image $IMG on|sharing) /dev/loop" "-d before the verb says what vial does"
vial shell -s /bin/true "$IMG"
is "$RC|$ERR" "0|" "after the verb -s is still --shell"
vial -x exec "$IMG" true
is "$RC|$ERR" "255|vial: unknown option -x (see vial help)" "an unknown global option is refused"
clean "global options"

# --- the table: unknown, refused, --flag=false
vial exec --x "$IMG" true
is "$RC|$ERR" "255|vial: exec: unknown option --x (see vial help)" "an unknown option: one line, 255"
for o in --userns -u --fakeroot; do
	vial exec $o "$IMG" true
	like "$RC|$ERR" "^255\|vial: exec: --(userns|fakeroot): not supported: [^\n]*$" "$o is refused in one line"
done
unlike "$ERR" "No valid /bin/sh|doesn't exist in container|executable file not found" \
	"and cwltool's --userns probe reads it as no"
vial exec --userns=false "$IMG" true
is "$RC" 0 "--userns=false is accepted"
run as $TU env FOO=bar "$VIAL" exec --cleanenv=false "$IMG" sh -c 'echo $FOO'
is "$OUT" "bar" "--cleanenv=false leaves the environment"
run as $TU env FOO=bar "$VIAL" exec --cleanenv=true "$IMG" sh -c 'echo $FOO'
is "$OUT" "" "--cleanenv=true cleans it"
vial exec --contain=maybe "$IMG" true
is "$RC|$ERR" "255|vial: --contain=maybe: expected true or false" "a flag's value must be a boolean"
vial exec -ce "$IMG" sh -c 'ls /dev | grep -c ^pts$'
is "$OUT" "1" "short flags combine (-ce)"
vial exec -B"$D:/data" "$IMG" cat /data/f
is "$OUT" "data" "a short option's value may follow it (-BSRC)"
vial exec --no-eval --no-init --nocolor "$IMG" true
like "$RC|$ERR" "^255\|vial: exec: unknown option --nocolor" "--nocolor is global only"
vial exec --no-eval --no-init --no-privs "$IMG" true
is "$RC|$ERR" "0|" "--no-eval, --no-init and --no-privs are accepted"
clean "option table"

# --- network
vial exec --net --network none "$IMG" ls /sys/class/net
is "$OUT" "lo" "--net --network none: a network namespace with loopback only"
vial exec --network none "$IMG" ls /sys/class/net
is "$OUT" "lo" "--network none alone isolates too"
vial exec --net --network bridge "$IMG" true
is "$RC|$ERR" "255|vial: --network bridge: vial makes only an isolated network namespace (--network none: loopback only)" \
	"--network bridge is refused clearly"
clean "network"

# --- URIs
vial exec docker://ubuntu:22.04 true
is "$RC|$ERR" '255|vial: docker://ubuntu:22.04: vial runs local image files only; build one with `apptainer build ubuntu_22.04.sif docker://ubuntu:22.04` or mksquashfs' \
	"a docker:// image: one line saying how to make a local one"
for u in library://lab/default/tool:1 oras://reg/x:2 shub://a/b https://example.org/x.sif; do
	vial run "$u"
	like "$RC|$ERR" "^255\|vial: ${u//./\\.}: vial runs local image files only" "$u is refused the same way"
done
clean "URIs"

# --- --mount
vial exec --mount type=bind,source="$D",target=/data "$IMG" cat /data/f
is "$OUT" "data" "--mount type=bind,source=,target= binds"
vial exec --mount="type=bind,src=$D,dst=/data,readonly" "$IMG" sh -c 'echo x > /data/x'
like "$RC|$ERR" "^[12]\|.*Read-only file system" "--mount src=,dst=,readonly is read-only"
vial exec --mount type=bind,source="$D",destination=/d,ro "$IMG" grep " /d " /proc/self/mountinfo
like "$OUT" " /d ro,nosuid,nodev" "destination= and ro work too"
vial exec --mount type=volume,source=x,target=/y "$IMG" true
is "$RC|$ERR" "255|vial: --mount: vial needs type=bind, source= and target=" "a --mount other than a bind is refused"
clean "mount"

# --- --env, --env-file
vial exec --env A=1,B=2 "$IMG" sh -c 'echo "$A|$B"'
is "$OUT" "1|2" "--env A=1,B=2 sets both, as Apptainer splits it"
vial exec --env A=1,2 "$IMG" sh -c 'echo "$A"'
is "$OUT" "1,2" "--env with one = keeps its commas"
vial exec --env 'A="x,y",B=z' "$IMG" sh -c 'echo "$A|$B"'
is "$OUT" "x,y|z" "a quoted value keeps its comma"
printf '# comment\nE1=one\nexport E2="two words"\n\nE3=a=b\n' > "$T/envf"; chown $TU "$T/envf"
vial exec --env-file "$T/envf" --env E3=cli "$IMG" sh -c 'echo "$E1|$E2|$E3"'
is "$OUT" "one|two words|cli" "--env-file sets its variables, --env wins over it"
run as $TU env SINGULARITYENV_E1=prefixed "$VIAL" exec --env-file "$T/envf" "$IMG" sh -c 'echo "$E1"'
is "$OUT" "one" "--env-file wins over SINGULARITYENV_"
chmod 600 "$T/envf"; chown root "$T/envf"
vial exec --env-file "$T/envf" "$IMG" true
is "$RC|$ERR" "255|vial: --env-file $T/envf: Permission denied" "--env-file is read with the caller's rights"
clean "env"

# --- --no-mount
vial exec --no-mount home "$IMG" ls "/home/$TU"
is "$RC" 1 "--no-mount home binds no home"
vial exec --no-mount tmp "$IMG" sh -c "ls /tmp/$(basename "$T")"
is "$RC" 1 "--no-mount tmp leaves the image's /tmp"
vial exec --no-mount dev "$IMG" ls /dev
is "$OUT" "" "--no-mount dev leaves the image's (empty) /dev"
vial exec --no-mount bind-paths "$IMG" cat /etc/hosts
is "$RC" 1 "--no-mount bind-paths leaves out the site's binds"
vial exec --no-mount /etc/hosts "$IMG" sh -c 'test ! -e /etc/hosts && test -e /etc/resolv.conf'
is "$RC" 0 "--no-mount DST leaves out that site bind, and only that one"
vial exec --no-mount hostfs,sys "$IMG" ls /sys
is "$RC|$OUT" "0|" "--no-mount hostfs is accepted, sys leaves /sys empty"
vial exec --no-mount proc "$IMG" true
is "$RC|$ERR" "255|vial: --no-mount proc: not supported: vial needs the container's /proc" \
	"--no-mount proc is refused: vial needs /proc"
vial exec --no-mount etc "$IMG" true
like "$RC|$ERR" "^255\|vial: --no-mount etc: unknown" "an unknown --no-mount name is refused"
clean "no-mount"

# --- --writable-tmpfs
vial exec --no-mount tmp "$IMG" sh -c 'echo x > /tmp/w'
is "$RC" 1 "without --writable-tmpfs the image is read-only"
vial exec --no-mount tmp --writable-tmpfs "$IMG" sh -c 'echo x > /tmp/w && cat /tmp/w'
is "$OUT" "x" "--writable-tmpfs makes it writable for the run"
vial exec --writable-tmpfs "$IMG" grep " / / " /proc/self/mountinfo
like "$OUT" " / / rw,nosuid,nodev" "still nosuid,nodev"
clean "writable-tmpfs"

# --- --contain's /tmp, -W, binds under the private /tmp
vial exec -c -B "$D:/tmp/work/in" "$IMG" cat /tmp/work/in/f
is "$OUT" "data" "a bind under --contain's private /tmp is made (miniwdl)"
W=$T/wd; mkdir -p "$W"; chown $TU "$W"
vial exec -c -W "$W" "$IMG" sh -c 'echo t > /tmp/t; echo v > /var/tmp/v; echo h > ~/h'
is "$(cat "$W/tmp/t" "$W/var_tmp/v" "$W/home/h" 2>&1)" "t
v
h" "-c -W DIR: /tmp, /var/tmp and home are DIR/tmp, DIR/var_tmp, DIR/home"
is "$(stat -c %U "$W/tmp")" "$TU" "made as the caller"
vial exec -c -W "$W" -B "$D:/tmp/sub/in" "$IMG" cat /tmp/sub/in/f
is "$OUT|$(stat -c %U "$W/tmp/sub")" "data|$TU" "a bind under -W's /tmp: its mount point made as the caller"
clean "workdir"

# --- mount points in the caller's own binds, made there as the caller (Apptainer's way)
# cwltool binds each staged file into its --home; a file bound below a -B directory
F=$T/f17.txt; echo staged > "$F"; chmod 644 "$F"
H=$T/h17; mkdir -p "$H" "$T/t17"; chown $TU "$H" "$T/t17"
vial exec --contain --ipc --cleanenv --pid --home "$H:/X" --bind "$T/t17:/tmp" \
	--bind "$F:/X/in.txt:ro" --pwd /X "$IMG" cat in.txt
is "$RC|$OUT|$ERR" "0|staged|" "--home H:/X --bind F:/X/in.txt:ro (cwltool's line): runs and reads F"
is "$(stat -c '%U %s' "$H/in.txt" 2>&1)" "$TU 0" "(its mount point: an empty file in H, the caller's, left there)"
D7=$T/d17; mkdir -p "$D7"; chown $TU "$D7"
run as $TU sh -c "umask 027; exec '$VIAL' -v exec -B '$D7:/data' -B '$F:/data/sub/x.txt' '$IMG' cat /data/sub/x.txt"
is "$RC|$OUT" "0|staged" "-B D:/data -B F:/data/sub/x.txt runs and reads F there"
is "$(stat -c '%U %a %F' "$D7/sub" "$D7/sub/x.txt" 2>&1)" "$TU 750 directory
$TU 640 regular empty file" "D/sub and D/sub/x.txt are made, the caller's, with modes from the caller's umask"
like "$ERR" "^vial: made $D7/sub on the host[^\n]*\nvial: made $D7/sub/x.txt on the host" \
	"-v says so, one line per path made on the host"
vial exec -B "$D7:/data" -B "$D:/data/dir/in" "$IMG" cat /data/dir/in/f
is "$RC|$OUT|$(stat -c %F "$D7/dir/in")" "0|data|directory" "a directory's mount point is a directory"
N=$T/n17; mkdir -p "$N"; chmod 755 "$N"
vial exec -B "$N:/data" -B "$F:/data/sub/x.txt" "$IMG" true
is "$RC|$ERR" "255|vial: cannot make mount point /data/sub/x.txt in the container: Permission denied" \
	"a bind into a directory the caller cannot write fails, with one line naming it"
is "$(ls -A "$N")" "" "(and leaves nothing there)"
vial exec -B "$D7:/data:ro" -B "$F:/data/ro/x.txt" "$IMG" true
is "$RC|$ERR" "255|vial: cannot make mount point /data/ro/x.txt in the container: Read-only file system" \
	"nor in a bind the caller made read-only"
ln -s /etc "$D7/etc"; ln -s /dev/shm "$D7/shm"; ln -s ../.. "$D7/up"
vial exec -B "$D7:/data" -B "$F:/data/etc/vial17.txt" -B "$F:/data/up/vial17.txt" "$IMG" \
	cat /etc/vial17.txt /vial17.txt
is "$RC|$OUT" "0|staged
staged" "a symlink in D to /etc, or up out of it, is followed in the container: made in its overlay"
vial exec -B "$D7:/data" -B "$F:/data/shm/vial17.txt" "$IMG" true
is "$RC|$ERR" "255|vial: cannot make mount point /data/shm/vial17.txt in the container: No such file or directory" \
	"a symlink in D to /dev/shm (the host's, writable by all) makes nothing there"
is "$(ls -d /etc/vial17.txt /dev/shm/vial17.txt "$T/vial17.txt" /vial17.txt 2>/dev/null)" "" \
	"(nothing is made outside D through its symlinks)"
mkdir -p "$D7/mnt" && mount -t tmpfs -o mode=1777 vialt17 "$D7/mnt"
vial exec -B "$D7:/data" -B "$F:/data/mnt/x.txt" "$IMG" true
is "$RC|$ERR|$(ls -A "$D7/mnt")" \
	"255|vial: cannot make mount point /data/mnt/x.txt in the container: No such file or directory|" \
	"not in a mount below the caller's bind (another file system, writable by all)"
umount "$D7/mnt"
# -W, the audit's case: not wherever the work directory's file system is
# mounted, only in the caller's own binds (E is bound below D on the host)
E=$T/e17; mkdir -p "$E" "$D7/inner"; chown $TU "$E"; mount --bind "$E" "$D7/inner"
vial exec -c -W "$W" -B "$D7:/data" -B "$F:/data/inner/made/by/vial" "$IMG" true
is "$RC|$ERR|$(ls -A "$E")" \
	"255|vial: cannot make mount point /data/inner/made/by/vial in the container: No such file or directory|" \
	"-W: no mount point made outside the caller's binds on the work directory's file system"
umount "$D7/inner"
vial exec -c -W "$W" -B "$D:/var/tmp/a/b" "$IMG" cat /var/tmp/a/b/f
is "$RC|$OUT|$(stat -c %U "$W/var_tmp/a/b" 2>&1)" "0|data|$TU" "-W's var_tmp: made as the caller, as before"
clean "mount points in the caller's binds"

# --- --home: a directory the caller may use, never another user's home
P=$T/project; mkdir -p "$P"; chown root:$TG "$P"; chmod 2775 "$P"
vial exec --home "$P" "$IMG" sh -c 'echo $HOME; touch ~/x'
is "$RC|$OUT" "0|$P" "--home of a group directory (2775 root:group) the caller can write"
mkdir -p "$T/other"; chown $TU2 "$T/other"; chmod 755 "$T/other"
vial exec --home "$T/other" "$IMG" true
is "$RC|$ERR" "255|vial: home $T/other: not yours, not writable by you, not your working directory" \
	"--home of another user's 0755 home is refused"
mkdir -p "$T/ro"; chmod 755 "$T/ro"
run as $TU sh -c "cd '$T/ro' && '$VIAL' exec --home \$PWD '$IMG' sh -c 'echo \$HOME'"
is "$RC|$OUT" "0|$T/ro" "--home \$PWD of a directory the caller cannot write (Snakemake)"
clean "home"

# --- the environment, as Apptainer sets it
run as $TU env PATH=/host/bin:/usr/bin:/bin LD_LIBRARY_PATH=/host/lib "$VIAL" exec "$IMG" \
	sh -c 'echo "$PATH|$LD_LIBRARY_PATH"'
is "$OUT" "$DEFPATH|" "PATH is the image's default, the host's LD_LIBRARY_PATH stays out"
run as $TU env PATH=/host/bin:/usr/bin:/bin "$VIAL" exec "$SING" sh -c 'echo "$PATH"'
is "$OUT" "/img/bin:/bin" "PATH from the image's env scripts"
run as $TU env SINGULARITYENV_PATH=/mine:/bin "$VIAL" exec "$SING" sh -c 'echo "$PATH"'
is "$OUT" "/mine:/bin" "SINGULARITYENV_PATH sets it"
run as $TU env SINGULARITYENV_PREPEND_PATH=/pre APPTAINERENV_APPEND_PATH=/app \
	"$VIAL" exec "$SING" sh -c 'echo "$PATH"'
is "$OUT" "/pre:/img/bin:/bin:/app" "PREPEND_PATH and APPEND_PATH extend the image's PATH"
run as $TU env APPTAINERENV_PREPEND_PATH=/pre "$VIAL" exec "$IMG" sh -c 'echo "$PATH"'
is "$OUT" "/pre:$DEFPATH" "also without env scripts"
run as $TU env http_proxy=h HTTPS_PROXY=s no_proxy=n FOO=x "$VIAL" exec -e "$IMG" \
	sh -c 'echo "$http_proxy|$HTTPS_PROXY|$no_proxy|$FOO"'
is "$OUT" "h|s|n|" "--cleanenv keeps the proxy variables"
for v in SINGULARITY_BIND SINGULARITY_BINDPATH APPTAINER_BIND APPTAINER_BINDPATH; do
	run as $TU env $v="$D:/envbind" "$VIAL" exec "$IMG" cat /envbind/f
	is "$OUT" "data" "$v binds as -B does"
done
run as $TU sh -c "echo 'echo \$0' | '$VIAL' shell '$SING'"
is "$OUT" "bash-here" "shell starts /bin/bash where the image has it"
run as $TU sh -c "echo 'echo sh-here' | '$VIAL' shell '$IMG'"
is "$OUT" "sh-here" "else /bin/sh"
run as $TU env SINGULARITY_SHELL=/bin/true "$VIAL" shell "$SING"
is "$RC|$OUT" "0|" "SINGULARITY_SHELL chooses the shell"
run as $TU env APPTAINER_SHELL=/bin/true "$VIAL" shell -s /bin/false "$SING"
is "$RC" 1 "-s wins over APPTAINER_SHELL"
N=$T/nosh; mkdir -p "$N/bin" "$N/.singularity.d/env"; cp "$TOP/t/probe" "$N/bin/probe"
echo 'export X=1' > "$N/.singularity.d/env/90-environment.sh"
mksquashfs "$N" "$T/nosh.sqfs" -quiet -noappend -all-root >/dev/null; chmod 644 "$T/nosh.sqfs"
vial exec "$T/nosh.sqfs" /bin/probe exit 0
is "$RC|$ERR" "0|vial: warning: the image has /.singularity.d/env but no /bin/sh: its environment scripts are not sourced" \
	"an image without /bin/sh: its env scripts are not skipped silently"
clean "environment"

# --- --contain's /dev
# (through pipes of the caller's: /proc/self/fd/N reopens the file, with its modes)
OUT=$(as $TU sh -c "'$VIAL' -q exec -c '$IMG' sh -c 'echo e > /dev/stderr; echo o > /dev/stdout' 2>&1 | sort")
is "$OUT" "e
o" "--contain has /dev/stdout and /dev/stderr (cwltool)"
vial exec -c "$IMG" sh -c 'readlink /dev/stdin; readlink /dev/fd'
is "$OUT" "/proc/self/fd/0
/proc/self/fd" "/dev/stdin and /dev/fd"
vial exec -c --no-mount devpts "$IMG" sh -c 'ls /dev/pts | wc -l'
is "$OUT" "0" "--no-mount devpts leaves --contain's devpts out"
clean "contain dev"

# --- a site bind onto an in-image symlink (Debian's /etc/localtime)
vial exec "$SING" md5sum /etc/localtime
is "$OUT" "$(md5sum /etc/localtime)" "the host's /etc/localtime reaches an image whose own is a symlink"
vial exec "$SING" readlink /etc/localtime
is "$OUT" "/usr/share/zoneinfo/Etc/UTC" "and the image's symlink stays"
clean "localtime"
# --- inspect, as Apptainer prints it
vial inspect --labels "$SING"
is "$OUT" "org.label-schema.schema-version: 1.0
maintainer: lab" "inspect --labels prints labels.json as key: value"
vial inspect -r "$SING"
is "$OUT" '#!/bin/sh
echo "run $*"' "inspect --runscript prints the runscript"
vial inspect --environment "$SING"
is "$OUT" "=== /.singularity.d/env/90-environment.sh ===
export MYVAR=fromimage
export PATH=/img/bin:/bin" "inspect --environment prints 90-environment.sh"
vial inspect --json --labels --runscript "$SING"
J=$(python3 -c 'import json,sys; d=json.load(sys.stdin); a=d["data"]["attributes"]
print(d["type"], a["labels"]["maintainer"], a["runscript"].splitlines()[0])' <<<"$OUT" 2>&1)
is "$J" "container lab #!/bin/sh" "inspect --json: Apptainer's JSON, labels and runscript"
vial inspect --json "$IMG"
J=$(python3 -c 'import json,sys; print(json.load(sys.stdin).get("data", {}).get("attributes", {}))' <<<"$OUT" 2>&1)
is "$J" "{'labels': {}}" "inspect --json of an image without labels: what cwltool's sandbox check reads"
vial inspect "$IMG"
like "$OUT" "^$IMG: squashfs" "inspect without a flag is vial's own summary"
clean "inspect"
done_testing
