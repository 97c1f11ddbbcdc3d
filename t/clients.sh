#!/bin/bash
# vial as `singularity` under the workflow engines that call it: Snakemake,
# cwltool and Toil for real (Debian's packages), and the command lines of
# Nextflow, miniwdl and Cromwell (not packaged) replayed as they build them.
# Run by `make check-clients` (as root; it installs snakemake cwltool toil
# debootstrap). Prints TAP.
#
# `singularity` on the test user's PATH is a link to the setuid vial. The
# image is a real Debian 12 (t/clients-image.sh: debootstrap minbase plus
# python3 and bash), built once into build/clients/ as squashfs and SIF.
# Nothing is pulled: the clients are given local images (Snakemake a path,
# cwltool and Toil the file name they look for in CWL_SINGULARITY_CACHE).
#
# The workflows run as the test user in a group project directory
# (root:vialproj 2775, outside /tmp), as on a cluster's shared file system.
#
# CLIENTS_TRACE=1 (or =FILE): `singularity` is instead a script that logs
# each call (its arguments, working directory, the names of the variables
# it was given and the SINGULARITY*/APPTAINER* ones with their values), runs
# vial and logs its exit status and stderr; the log is copied to
# build/clients/trace.log (or FILE) at the end.
# CLIENTS_SINGULARITY=PROGRAM: `singularity` is PROGRAM rather than vial
# (a real Singularity or Apptainer, to check the harness's expectations).
. "$(dirname "$0")/lib.sh"

for c in snakemake cwltool toil-cwl-runner debootstrap mksquashfs siftool timeout python3; do
	command -v $c >/dev/null ||
		{ echo "1..0 # SKIP $c is missing (make check-clients installs it)"; exit 0; }
done

IMGDIR=$TOP/build/clients
SIF=$IMGDIR/debian12.sif SQFS=$IMGDIR/debian12.sqfs
PG=vialproj		# the project group; the test user is in it
case ${CLIENTS_TRACE:-} in
''|0) TRACE_OUT= ;;
1) TRACE_OUT=$IMGDIR/trace.log ;;
*) TRACE_OUT=$CLIENTS_TRACE ;;
esac

# timed NAME CMD...: run CMD, say how long it took
timed() {
	local name=$1 s=$SECONDS rc; shift
	"$@"; rc=$?
	diag "time: $name $((SECONDS - s)) s"
	return $rc
}

# The image first, outside the tests' lock: debootstrap takes minutes.
if timed "image (debootstrap, mksquashfs, siftool; 0 when cached)" \
	"$TOP/t/clients-image.sh" "$IMGDIR" 2>"$IMGDIR.err"; then
	ok "a Debian 12 image (debootstrap minbase, python3, bash) as squashfs and SIF"
else
	nok "a Debian 12 image (debootstrap minbase, python3, bash) as squashfs and SIF"
	diag "$(tail -n 20 "$IMGDIR.err")"
	done_testing
fi
rm -f "$IMGDIR.err"

setup
P=				# the project tree, outside /tmp
HOME_BEFORE=$(ls -A /home/$TU 2>/dev/null)

# Stop what we started; remove what the runs made outside $T (the project
# tree, files in the test user's home, in /tmp, /var/tmp, /dev/shm).
clients_down() {
	local f p
	for p in $(pgrep -u $TU); do	# the test user's processes of ours only
		case "$(readlink "/proc/$p/cwd") $(tr '\0' ' ' < "/proc/$p/cmdline")" in
		*"$T"*|*"${P:-$T}"*) kill -KILL "$p" ;;
		esac
	done 2>/dev/null
	if [ -n "$P" ]; then
		awk -v p="$P" '$5 ~ "^"p {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
		rm -rf "$P"
	fi
	for f in $(ls -A /home/$TU 2>/dev/null); do
		grep -qxF -- "$f" <<<"$HOME_BEFORE" || rm -rf "/home/$TU/${f:?}"
	done
	find /tmp /var/tmp /dev/shm -mindepth 1 -maxdepth 1 -user $TU -newer "$T/.start" \
		-exec rm -rf {} + 2>/dev/null
	if [ -n "$TRACE_OUT" ] && [ -f "$T/trace.log" ]; then
		cp "$T/trace.log" "$TRACE_OUT" && echo "# trace of the singularity calls: $TRACE_OUT"
	fi
}
trap 'clients_down; teardown' EXIT
trap 'exit 130' INT TERM HUP
touch "$T/.start"

getent group $PG >/dev/null || groupadd $PG
id -nG $TU | tr ' ' '\n' | grep -qx $PG || usermod -aG $PG $TU

# `singularity`: the setuid vial under that name, or the tracing wrapper
RUNTIME=${CLIENTS_SINGULARITY:-$VIAL}
if [ -n "$TRACE_OUT" ]; then
	install -m 666 /dev/null "$T/trace.log"
	cat > "$T/bin/singularity" <<EOF
#!/bin/bash
# Log the call, run vial as \`singularity\`, log how it ended.
log=$T/trace.log vial=$RUNTIME err=\$(mktemp /tmp/vial-trace.XXXXXX)
# one write per record: parallel calls (Snakemake's jobs) do not interleave
rec=\$(
	printf '=== %s pid %s ppid %s (%s) cwd %s\n' "\$(date +%T.%N)" \$\$ \$PPID \
		"\$(tr '\\0' ' ' < /proc/\$PPID/cmdline | cut -c1-200)" "\$PWD"
	printf 'argv: singularity'; printf ' %q' "\$@"; echo
	printf 'env names: %s\n' "\$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | sort | tr '\n' ' ')"
	env | grep -E '^(SINGULARITY|APPTAINER)' | sort | sed 's/^/env: /'
)
printf '%s\n' "\$rec" >> "\$log"
(exec -a singularity "\$vial" "\$@") 2>"\$err"
rc=\$?
cat "\$err" >&2
rec=\$(echo "rc[\$\$]: \$rc"; sed "s/^/stderr[\$\$]: /" "\$err")
printf '%s\n' "\$rec" >> "\$log"
rm -f "\$err"
exit \$rc
EOF
	chmod 755 "$T/bin/singularity"
else
	ln -s "$RUNTIME" "$T/bin/singularity"
fi

# The project tree: a group project directory (setgid, group-writable) the
# workflows run in, and a data directory Snakemake binds at /data.
P=$(mktemp -d /srv/vial-clients.XXXXXX)
chmod 755 "$P"
PROJ=$P/project D=$P/data
install -d -o root -g $PG -m 2775 "$PROJ"
install -d -m 755 "$D"
printf 'the quick brown fox\njumps over the lazy dog\n' > "$D/input.txt"
chmod 644 "$D/input.txt"
W=$T/work		# the test user's own scratch: TMPDIR, CWL runs
install -d -o $TU -g $TU -m 0755 "$W" "$W/tmp"
UPATH=$T/bin:/usr/local/bin:/usr/bin:/bin

# C SECS DIR [VAR=VALUE...] CMD...: CMD as the test user in DIR, with a
# login-like environment (and VARs), killed after SECS; sets OUT ERR RC
C() {
	local s=$1 d=$2 e=(); shift 2
	while [[ $1 == [A-Za-z_]*=* ]]; do e+=("$1"); shift; done
	OUT=$(cd "$d" && timeout -k 5 "$s" env -i HOME=/home/$TU USER=$TU LOGNAME=$TU \
		PATH="$UPATH" LANG=C.UTF-8 TERM=dumb SHELL=/bin/sh TMPDIR="$W/tmp" "${e[@]}" \
		setpriv --reuid=$TU --regid=$TU --init-groups -- "$@" 2>"$W/.err" </dev/null 9>&-)
	RC=$?
	ERR=$(cat "$W/.err")
}
# the last lines of the run's stderr, when a check fails
why() { diag "rc $RC" "$(tail -n "${1:-15}" <<<"$ERR")"; }
# file_is PATH WANT NAME: the content of a file the run made
file_is() { is "$(cat "$1" 2>/dev/null)" "$2" "$3"; }
# group_is PATH NAME: made in the project directory, it has its group
group_is() { is "$(stat -c %G "$1" 2>/dev/null)" $PG "$2"; }

IN_IMG='$(test -e /usr/bin/snakemake && echo host || echo image) $(cut -d. -f1 /etc/debian_version)'
WANT_IMG="image 12"

# --- singularity --version, as every client asks first -----------------------
C 30 "$W" singularity --version
like "$RC|$OUT" '^0\|(singularity|singularity-ce|apptainer) version [0-9]+\.[0-9]+\.[0-9]+' \
	"singularity --version answers in the form the clients parse"
[ "$RC" = 0 ] || why 5

# --- Snakemake ----------------------------------------------------------------
snakemake_tree() {
	mkdir -p "$PROJ/scripts"
	cat > "$PROJ/Snakefile" <<EOF
# vial check-clients: rules in containers, from a .sif and a .sqfs
SIF = "$SIF"
SQFS = "$SQFS"

rule all:
    input: "results/os.txt", "results/data.txt", "results/count.txt", "results/shadow.txt"

rule os:
    output: "results/os.txt"
    singularity: SIF
    shell: 'echo "$IN_IMG \$(id -u)" > {output}'

rule data:
    output: "results/data.txt"
    singularity: SQFS
    shell: "tr a-z A-Z < /data/input.txt > {output}"

rule count:
    input: "results/data.txt"
    output: "results/count.txt"
    singularity: SQFS
    script: "scripts/count.py"

rule shadow:
    input: "results/os.txt"
    output: "results/shadow.txt"
    shadow: "minimal"
    singularity: SIF
    shell: "echo scratch > scratch.tmp; cat {input} scratch.tmp > {output}"
EOF
	cat > "$PROJ/scripts/count.py" <<'EOF'
import os, sys
with open(snakemake.input[0]) as f:
    words = f.read().split()
where = "host" if os.path.exists("/usr/bin/snakemake") else "image"
with open(snakemake.output[0], "w") as f:
    print(len(words), "words", words[0], "python%d" % sys.version_info[0], where, file=f)
EOF
	chmod -R g+w "$PROJ/Snakefile" "$PROJ/scripts"
}
snakemake_tree
s=$SECONDS
C 900 "$PROJ" snakemake --cores 2 --use-singularity --singularity-args "-B $D:/data"
diag "time: snakemake $((SECONDS - s)) s"
is "$RC" 0 "snakemake --use-singularity runs the workflow (4 rules, .sif and .sqfs images)"
[ "$RC" = 0 ] || why 25
file_is "$PROJ/results/os.txt" "$WANT_IMG $UID1" \
	"a shell rule ran in the SIF image as the user"
file_is "$PROJ/results/data.txt" "$(tr a-z A-Z < "$D/input.txt")" \
	"a shell rule in the squashfs image read /data from --singularity-args '-B $D:/data'"
file_is "$PROJ/results/count.txt" "9 words THE python3 image" \
	"a script: rule ran its Python script with the image's python3"
is "$(cat "$PROJ/results/shadow.txt" 2>/dev/null | tr '\n' '|')" "$WANT_IMG $UID1|scratch|" \
	"a shadow: minimal rule ran in its shadow directory"
check "the shadow rule's scratch file stayed in its shadow directory" \
	test ! -e "$PROJ/scratch.tmp"
group_is "$PROJ/results/os.txt" "outputs in the setgid project directory have its group"
clean "snakemake"

# --- cwltool and Toil: one CommandLineTool with a DockerRequirement ----------
CACHE=$W/cache
install -d -o $TU -g $TU -m 755 "$CACHE"
# cwltool 3.1 (singularity.py, _normalize_sif_id) looks for dockerPull with
# "/" made "_" and ".sif" appended, in CWL_SINGULARITY_CACHE
install -o $TU -g $TU -m 644 "$SIF" "$CACHE/vialtest_debian:12.sif"
cat > "$W/tool.cwl" <<'EOF'
cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement:
    dockerPull: vialtest/debian:12
baseCommand: [python3, -c]
arguments:
  - |
    import os, sys
    words = open(sys.argv[1]).read().split()
    where = "host" if os.path.exists("/usr/bin/snakemake") else "image"
    print(len(words), "words in", os.path.basename(sys.argv[1]), where,
          open("/etc/debian_version").read().split(".")[0],
          "home=cwd" if os.environ.get("HOME") == os.getcwd() else "home!=cwd")
inputs:
  infile:
    type: File
    inputBinding: {position: 1}
stdout: out.txt
outputs:
  out:
    type: stdout
EOF
printf 'infile:\n  class: File\n  path: %s\n' "$D/input.txt" > "$W/job.yml"
chmod 644 "$W/tool.cwl" "$W/job.yml"
CWL_WANT="9 words in input.txt $WANT_IMG home=cwd"

# cwl_out: the content of the output "out" from the runner's JSON on stdout
cwl_out() {
	python3 -c 'import json, sys
o = json.loads(sys.stdin.read())["out"]
print(open(o["path"] if "path" in o else o["location"][7:]).read(), end="")' <<<"$OUT" 2>/dev/null
}

install -d -o $TU -g $TU "$W/cwltool"
s=$SECONDS
C 600 "$W/cwltool" CWL_SINGULARITY_CACHE="$CACHE" \
	cwltool --singularity --outdir "$W/cwltool/out" "$W/tool.cwl" "$W/job.yml"
diag "time: cwltool $((SECONDS - s)) s"
is "$RC" 0 "cwltool --singularity runs the tool with the image from CWL_SINGULARITY_CACHE"
[ "$RC" = 0 ] || why 25
is "$(cwl_out)" "$CWL_WANT" "cwltool: the tool's output (in the image, HOME its working directory)"
clean "cwltool"

install -d -o $TU -g $TU "$W/toil" "$W/toil/work"
s=$SECONDS
C 900 "$W/toil" CWL_SINGULARITY_CACHE="$CACHE" \
	toil-cwl-runner --singularity --jobStore "$W/toil/jobstore" --workDir "$W/toil/work" \
	--outdir "$W/toil/out" "$W/tool.cwl" "$W/job.yml"
diag "time: toil-cwl-runner $((SECONDS - s)) s"
is "$RC" 0 "toil-cwl-runner --singularity runs the tool (local job store)"
[ "$RC" = 0 ] || why 25
is "$(cwl_out)" "$CWL_WANT" "toil-cwl-runner: the tool's output"
clean "toil-cwl-runner"

# --- cwltool: staged files, bound into its --home (issue 17) -----------------
# InitialWorkDirRequirement: the input bound read-only at in/input.txt below
# the output directory, which is the --home bind (vial makes in/ and the
# mount point there, as the caller, as Apptainer does), and a writable copy;
# run with --default-container, as the conformance suite is. Then an
# InplaceUpdateRequirement: the input itself bound read-write into --home.
cat > "$W/stage.cwl" <<'EOF'
cwlVersion: v1.2
class: CommandLineTool
requirements:
  InitialWorkDirRequirement:
    listing:
      - entryname: in/input.txt
        entry: $(inputs.infile)
      - entry: $(inputs.notes)
        writable: true
baseCommand: [sh, -c]
arguments:
  - |
    set -e
    echo appended >> notes.txt
    wc -w < in/input.txt > count.txt
    cut -d. -f1 /etc/debian_version >> count.txt
inputs:
  infile: File
  notes: File
outputs:
  count: {type: File, outputBinding: {glob: count.txt}}
  notes: {type: File, outputBinding: {glob: notes.txt}}
  staged: {type: File, outputBinding: {glob: in/input.txt}}
EOF
cat > "$W/inplace.cwl" <<'EOF'
cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement:
    dockerPull: vialtest/debian:12
  InplaceUpdateRequirement:
    inplaceUpdate: true
  InitialWorkDirRequirement:
    listing:
      - entry: $(inputs.log)
        writable: true
baseCommand: [sh, -c, "echo updated in place >> log.txt"]
inputs:
  log: File
outputs:
  log: {type: File, outputBinding: {glob: log.txt}}
EOF
install -d -o $TU -g $TU "$W/stage" "$W/inplace"
echo original > "$W/notes.txt"; echo before > "$W/inplace/log.txt"
chown $TU:$TU "$W/notes.txt" "$W/inplace/log.txt"
printf 'infile: {class: File, path: %s}\nnotes: {class: File, path: %s}\n' \
	"$D/input.txt" "$W/notes.txt" > "$W/stage.yml"
printf 'log: {class: File, path: %s}\n' "$W/inplace/log.txt" > "$W/inplace.yml"
chmod 644 "$W/stage.cwl" "$W/inplace.cwl" "$W/stage.yml" "$W/inplace.yml"
# cwl_get NAME: the content of the runner's output NAME (its JSON on stdout)
cwl_get() {
	python3 -c 'import json, sys
o = json.loads(sys.stdin.read())[sys.argv[1]]
print(open(o["path"] if "path" in o else o["location"][7:]).read(), end="")' "$1" <<<"$OUT" 2>/dev/null
}

s=$SECONDS
C 600 "$W/stage" CWL_SINGULARITY_CACHE="$CACHE" cwltool --singularity \
	--default-container vialtest/debian:12 --outdir "$W/stage/out" "$W/stage.cwl" "$W/stage.yml"
diag "time: cwltool, staged files $((SECONDS - s)) s"
is "$RC" 0 "cwltool --default-container: InitialWorkDirRequirement's files staged into --home"
[ "$RC" = 0 ] || why 25
is "$(cwl_get count | tr '\n' ' ')" "9 12 " "cwltool: the tool read its staged file, in the image"
is "$(cwl_get staged)" "$(cat "$D/input.txt")" "cwltool: the staged file is an output, as it was bound"
is "$(cwl_get notes | tr '\n' ' ')" "original appended " "cwltool: the writable: true file was written"
is "$(cat "$W/notes.txt")" "original" "(a copy: the input itself is unchanged)"
clean "cwltool, staged files"

s=$SECONDS
C 600 "$W/inplace" CWL_SINGULARITY_CACHE="$CACHE" cwltool --singularity \
	--outdir "$W/inplace/out" "$W/inplace.cwl" "$W/inplace.yml"
diag "time: cwltool, in-place update $((SECONDS - s)) s"
is "$RC" 0 "cwltool --singularity: InplaceUpdateRequirement binds the input read-write into --home"
[ "$RC" = 0 ] || why 25
is "$(tr '\n' ' ' < "$W/inplace/log.txt")" "before updated in place " \
	"cwltool: the input was updated in place"
is "$(cwl_get log | tr '\n' ' ')" "before updated in place " "cwltool: and is the tool's output"
clean "cwltool, in-place update"

# --- Nextflow: .command.run's nxf_launch, replayed ----------------------------
# `env -` leaves only PATH and the SINGULARITYENV_ variables (no HOME, USER,
# TERM); autoMounts binds the inputs' directories (-B p, -B p:p:ro with
# readOnlyInputs) and the task directory; inputs are staged as symlinks.
NXW=$PROJ/work/3f/9a1c2e
install -d -o $TU -g $PG -m 2775 "$PROJ/work" "$PROJ/work/3f" "$NXW"
ln -s "$D/input.txt" "$NXW/input.txt"
cat > "$NXW/.command.sh" <<EOF
#!/bin/bash -ue
printf '%s %s %s\n' "\$(wc -w < input.txt)" "$IN_IMG" "\${TMPDIR-notmp}" > result.txt
EOF
cat > "$NXW/.command.run" <<EOF
#!/bin/bash
# NEXTFLOW TASK: count (1) -- as Nextflow writes it, cut to the container launch
set -e
set -u
NXF_DEBUG=\${NXF_DEBUG:=0}; [[ \$NXF_DEBUG > 1 ]] && set -x
export NXF_TASK_WORKDIR="\$PWD"
nxf_launch() {
    set +u; env - PATH="\$PATH" \${TMP:+SINGULARITYENV_TMP="\$TMP"} \${TMPDIR:+SINGULARITYENV_TMPDIR="\$TMPDIR"} SINGULARITYENV_NXF_TASK_WORKDIR="\$NXF_TASK_WORKDIR" SINGULARITYENV_NXF_DEBUG="\${NXF_DEBUG:=0}" singularity exec --no-home --pid -B $PROJ -B $D:$D:ro -B "\$NXF_TASK_WORKDIR" $SIF /bin/bash -c "cd \$NXF_TASK_WORKDIR; /bin/bash -ue $NXW/.command.sh"
}
set +e
nxf_launch > .command.out 2> .command.err
echo \$? > .command.exitcode
EOF
chown $TU:$PG "$NXW/.command.sh" "$NXW/.command.run"
s=$SECONDS
C 120 "$NXW" /bin/bash "$NXW/.command.run"
diag "time: nextflow replay $((SECONDS - s)) s"
is "$(cat "$NXW/.command.exitcode" 2>/dev/null)" 0 \
	"Nextflow's launch line (env -, --no-home --pid, -B p, -B p:p:ro) exits 0"
[ "$(cat "$NXW/.command.exitcode" 2>/dev/null)" = 0 ] || diag "$(tail -n 10 "$NXW/.command.err" 2>/dev/null)"
file_is "$NXW/result.txt" "9 $WANT_IMG $W/tmp" \
	"Nextflow: the task read its staged input in the image (TMPDIR passed)"
group_is "$NXW/result.txt" "Nextflow: its output has the project's group"
clean "nextflow replay"

# --- miniwdl: SingularityContainer._run_invocation, replayed ------------------
# run_options default --containall --no-mount hostfs; file binds for the
# stdout/stderr logs and the command; inputs bound read-only under work/;
# scratch /tmp and /var/tmp from the task directory.
MW=$PROJ/miniwdl/20261130_000000_count/call-count CD=/mnt/miniwdl_task_container
MT=$MW/_singularity_tmpdir_k2x9
install -d -o $TU -g $PG -m 2775 "$PROJ/miniwdl" "$(dirname "$MW")" "$MW" "$MW/work" \
	"$MW/work/_miniwdl_inputs" "$MW/work/_miniwdl_inputs/0" "$MT" "$MT/tmp" "$MT/var_tmp"
install -o $TU -g $PG -m 664 /dev/null "$MW/stdout.txt"
install -o $TU -g $PG -m 664 /dev/null "$MW/stderr.txt"
install -o $TU -g $PG -m 664 /dev/null "$MW/work/_miniwdl_inputs/0/input.txt"
cat > "$MW/command" <<EOF
echo "\$(wc -w < $CD/work/_miniwdl_inputs/0/input.txt) $IN_IMG" > count.txt
mktemp -p /tmp >/dev/null && echo "tmp ok"
EOF
chown $TU:$PG "$MW/command"
s=$SECONDS
C 120 "$MW" singularity exec --pwd $CD/work --containall --no-mount hostfs \
	--bind "$MW/stdout.txt:$CD/stdout.txt" --bind "$MW/stderr.txt:$CD/stderr.txt" \
	--bind "$MW/work:$CD/work" --bind "$MW/command:$CD/command:ro" \
	--bind "$D/input.txt:$CD/work/_miniwdl_inputs/0/input.txt:ro" \
	--bind "$MT/tmp:/tmp" --bind "$MT/var_tmp:/var/tmp" \
	"$SIF" /bin/bash -c "bash ../command >> ../stdout.txt 2>> ../stderr.txt"
diag "time: miniwdl replay $((SECONDS - s)) s"
is "$RC" 0 "miniwdl's invocation (--pwd, --containall, --no-mount hostfs, file binds) exits 0"
[ "$RC" = 0 ] || why 10
file_is "$MW/work/count.txt" "9 $WANT_IMG" "miniwdl: the command read its read-only input bind"
file_is "$MW/stdout.txt" "tmp ok" "miniwdl: stdout.txt (a file bind) has the command's stdout"
check "miniwdl: the container's /tmp was the task's scratch" \
	test -n "$(ls -A "$MT/tmp" 2>/dev/null)"
clean "miniwdl replay"

# --- Cromwell: the documented Singularity backend's submit-docker ------------
#   singularity exec --containall --bind ${cwd}:${docker_cwd} IMAGE ${job_shell} ${docker_script}
CW=$PROJ/cromwell-executions/count/6f1b2a8e-3c4d-4e5f-8a9b-0c1d2e3f4a5b/call-count
CWD_IN=/cromwell-executions/count/6f1b2a8e-3c4d-4e5f-8a9b-0c1d2e3f4a5b/call-count
install -d -o $TU -g $PG -m 2775 "$PROJ/cromwell-executions" "$PROJ/cromwell-executions/count" \
	"$(dirname "$CW")" "$CW" "$CW/execution" "$CW/inputs" "$CW/inputs/-1329581240"
install -o $TU -g $PG -m 664 "$D/input.txt" "$CW/inputs/-1329581240/input.txt"
cat > "$CW/execution/script" <<EOF
#!/bin/bash

cd $CWD_IN/execution
tmpDir=\$(mkdir -p "$CWD_IN/tmp.8c1e2f" && echo "$CWD_IN/tmp.8c1e2f")
chmod 777 "\$tmpDir"
export _JAVA_OPTIONS=-Djava.io.tmpdir="\$tmpDir"
export TMPDIR="\$tmpDir"
(
cd $CWD_IN/execution
echo "\$(wc -w < $CWD_IN/inputs/-1329581240/input.txt) $IN_IMG"
) > "$CWD_IN/execution/stdout" 2> "$CWD_IN/execution/stderr"
echo \$? > $CWD_IN/execution/rc.tmp
mv $CWD_IN/execution/rc.tmp $CWD_IN/execution/rc
EOF
chown $TU:$PG "$CW/execution/script"
s=$SECONDS
C 120 "$CW/execution" singularity exec --containall --bind "$CW:$CWD_IN" "$SIF" \
	/bin/bash "$CWD_IN/execution/script"
diag "time: cromwell replay $((SECONDS - s)) s"
is "$RC|$(cat "$CW/execution/rc" 2>/dev/null)" "0|0" \
	"Cromwell's submit-docker (--containall, --bind cwd:docker_cwd) exits 0, rc file 0"
[ "$RC" = 0 ] || why 10
file_is "$CW/execution/stdout" "9 $WANT_IMG" "Cromwell: the task's stdout"
clean "cromwell replay"

# --- nothing of the runs' is left in the shared temporary directories -------
left=$(find /tmp /var/tmp /dev/shm -mindepth 1 -maxdepth 1 -user $TU -newer "$T/.start" 2>/dev/null)
is "$left" "" "no files of the test user's left in /tmp, /var/tmp, /dev/shm"

done_testing
