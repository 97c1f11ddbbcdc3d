#!/bin/bash
# What Singularity's own runtime tests and job scripts expect (issue 21):
# shell's arguments, the environment's rules, relative binds, one line
# under the name typed, -q, --rocm without a driver, run-help, target
# mode for root, archives.
. "$(dirname "$0")/lib.sh"
setup
for c in singularity apptainer; do ln -s "$VIAL" "$T/bin/$c"; done
UPATH=$T/bin:/usr/bin:/bin
# with_cache CACHE CMD...: CMD as the test user, with CACHE as the host's /etc/ld.so.cache
with_cache() {
	local c=$1; shift
	(cd "$T" && exec unshare -m --propagation private -- sh -c \
		'mount --bind "$0" /etc/ld.so.cache && exec "$@"' "$c" \
		setpriv --reuid=$TU --regid=$TU --init-groups -- "$@" 9>&-)
}

# an image with Apptainer's metadata: env scripts, a runscript and its
# help, and a "bash" that says how it was started
S=$T/sing; mkdir -p "$S"; unsquashfs -q -d "$S/x" "$IMG" >/dev/null; mv "$S/x"/* "$S"; rmdir "$S/x"
mkdir -p "$S/.singularity.d/env"
printf 'export PATH=/img/bin:/bin\n' > "$S/.singularity.d/env/90-environment.sh"
printf '#!/bin/sh\necho "run $*"\n' > "$S/.singularity.d/runscript"
printf 'Usage: the tool\n  takes no options\n' > "$S/.singularity.d/runscript.help"
printf '#!/bin/sh\necho "bash $*|$PS1"\n' > "$S/bin/bash"
chmod 755 "$S/.singularity.d/runscript" "$S/bin/bash"
SING=$T/sing.sqfs
mksquashfs "$S" "$SING" -quiet -noappend -all-root >/dev/null; chmod 644 "$SING"

# --- shell hands its arguments to the shell
vial shell "$IMG" -c false
is "$RC" 1 "shell IMAGE -c false exits 1"
vial shell "$IMG" -c 'echo x'
is "$RC|$OUT" "0|x" "shell IMAGE -c 'echo x' prints x"
vial shell "$SING"
is "$OUT" "bash --norc|vial> " "bash starts with --norc, the prompt vial> under vial's name"
vial shell "$SING" -c 'echo x'
is "$OUT" "bash --norc -c echo x|vial> " "and gets the arguments after --norc"
run as $TU "$T/bin/singularity" shell "$SING"
is "$OUT" "bash --norc|Singularity> " "called singularity, the prompt is Singularity> "
run as $TU "$T/bin/apptainer" shell "$SING"
is "$OUT" "bash --norc|Apptainer> " "called apptainer, Apptainer> "
vial shell -s /bin/sh "$SING" -c 'echo "$0 y"'
is "$OUT" "/bin/sh y" "a shell named by -s gets the arguments as they are, no --norc"
clean "shell"

# --- PATH: SINGULARITYENV_PATH wins over PREPEND_PATH and APPEND_PATH
for p in SINGULARITYENV APPTAINERENV; do
	for i in "$SING" "$IMG"; do
		run as $TU env ${p}_PATH=/usr/bin:/bin ${p}_PREPEND_PATH=/foo ${p}_APPEND_PATH=/bar \
			"$VIAL" exec "$i" sh -c 'echo "$PATH"'
		is "$OUT" "/usr/bin:/bin" "${p}_PATH wins over _PREPEND_PATH and _APPEND_PATH ($(basename "$i"))"
	done
done
run as $TU env SINGULARITYENV_PREPEND_PATH=/foo "$VIAL" exec --env PATH=/usr/bin:/bin "$SING" \
	sh -c 'echo "$PATH"'
is "$OUT" "/usr/bin:/bin" "--env PATH= wins as well"
run as $TU "$VIAL" exec "$SING" sh -c 'echo "$PATH"'
base=$OUT
run as $TU "$VIAL" exec --env PREPEND_PATH=/foo --env APPEND_PATH=/bar "$SING" \
	sh -c 'echo "$PATH"; echo "${PREPEND_PATH-unset} ${APPEND_PATH-unset}"'
is "$OUT" "/foo:$base:/bar
unset unset" "--env PREPEND_PATH=, APPEND_PATH= extend PATH, as Apptainer's --env does"
clean "PATH"

# --- the caller's SINGULARITY_* and APPTAINER_* stay outside
run as $TU env SINGULARITY_FOO=1 APPTAINER_BAR=2 SINGULARITY_PATH=/x APPTAINER_SHELL=/bin/sh \
	SINGULARITY_BIND="$T:/b" SINGULARITY_CONTAINER=/fake SINGULARITYENV_SINGULARITY_MINE=m \
	"$VIAL" exec "$IMG" sh -c 'env | grep -E "^(SINGULARITY|APPTAINER)_" | sort'
is "$OUT" "APPTAINER_CONTAINER=$IMG
APPTAINER_NAME=$(basename "$IMG")
SINGULARITY_CONTAINER=$IMG
SINGULARITY_MINE=m
SINGULARITY_NAME=$(basename "$IMG")" \
	"the caller's SINGULARITY_*, APPTAINER_* stay out; vial's own and SINGULARITYENV_'s are there"
clean "environment"

# --- relative bind sources, from the working directory, with the caller's rights
W=$T/work; mkdir -p "$W/data" "$W/hid/data"; echo data > "$W/data/f"; chown -R $TU "$W"
chown root "$W/hid"; chmod 700 "$W/hid"
# in W: vial ARGS...
inw() { run as $TU sh -c 'cd "$0" && exec "$@"' "$W" "$@"; }
inw "$VIAL" exec -B .:/work "$IMG" cat /work/data/f
is "$RC|$OUT" "0|data" "-B .:/work binds the working directory"
for b in data:/d ./data:/d ./data/:/d; do
	inw "$VIAL" exec -B $b "$IMG" cat /d/f
	is "$RC|$OUT" "0|data" "-B $b"
done
inw "$VIAL" exec --bind data:/d:ro "$IMG" sh -c 'cat /d/f; touch /d/x'
like "$RC|$OUT|$ERR" "^1\|data\|.*Read-only file system" "--bind data:/d:ro, read-only"
inw "$VIAL" exec --mount type=bind,source=data,target=/d "$IMG" cat /d/f
is "$RC|$OUT" "0|data" "--mount source=data"
for v in SINGULARITY_BIND APPTAINER_BIND; do
	inw env $v=data:/d "$VIAL" exec "$IMG" cat /d/f
	is "$RC|$OUT" "0|data" "$v=data:/d"
done
inw "$VIAL" exec --no-mount cwd -B data "$IMG" cat "$W/data/f"
is "$RC|$OUT" "0|data" "-B data (no destination): at its absolute path"
inw "$VIAL" exec -B hid/data:/d "$IMG" true
is "$RC|$ERR" "255|vial: bind $W/hid/data: Permission denied" "a relative source is opened with the caller's rights"
inw "$VIAL" exec -B data:d "$IMG" true
is "$RC|$ERR" "255|vial: bind data: the destination d must be absolute" "the destination stays absolute"
clean "relative binds"

# --- one line, under the name typed
vial
like "$RC|$ERR" "^255\|usage: vial \[global options\] VERB" "a bare vial prints the usage"
for v in build pull push cache test sign verify key remote plugin oci overlay apps; do
	vial $v "$IMG"
	like "$RC|$ERR" "^255\|vial: $v: not supported here; [^\n]*\$" "$v: one line, not supported here"
done
vial build x.sif docker://x
is "$ERR" "vial: build: not supported here; build images where Apptainer is installed" \
	"build says where images are built"
run as $TU "$T/bin/singularity" build x.sif x.def
is "$RC|$ERR" "255|singularity (vial): build: not supported here; build images where Apptainer is installed" \
	"called singularity, the line says singularity (vial)"
run as $TU "$T/bin/apptainer" pull docker://x
like "$RC|$ERR" "^255\|apptainer \(vial\): pull: not supported here; [^\n]*\$" "called apptainer, apptainer (vial)"
run as $TU "$T/bin/singularity" exce "$IMG" true
is "$RC|$ERR" "255|singularity (vial): unknown command exce (see singularity help)" "a typo: one line"
run as $TU "$T/bin/singularity" exec --x "$IMG" true
is "$RC|$ERR" "255|singularity (vial): exec: unknown option --x (see singularity help)" \
	"an unknown option, under singularity"
run as $TU "$T/bin/apptainer" -x exec "$IMG" true
is "$RC|$ERR" "255|apptainer (vial): unknown option -x (see apptainer help)" "an unknown global option, under apptainer"
run as $TU "$T/bin/singularity" exec "$T/nosuch.sif" true
is "$RC|$ERR" "255|singularity (vial): cannot open image $T/nosuch.sif: No such file or directory" \
	"vial's other messages too"
run as $TU "$T/bin/singularity" exec docker://ubuntu:22.04 true
is "$RC|$ERR" "255|singularity (vial): docker://ubuntu:22.04: vial runs local image files only, and builds none: build ubuntu_22.04.sif where Apptainer is installed, or make an image with mksquashfs" \
	"docker:// under singularity: no \`apptainer build\` (that would be vial)"
run as $TU env PATH="$UPATH" "$VIAL" exec docker://ubuntu:22.04 true
is "$RC|$(echo "$ERR" | wc -l)|$(grep -c 'apptainer build' <<<"$ERR")" "255|1|0" \
	"nor under vial's name when the apptainer on PATH is vial (one line)"
vial exec --help
like "$RC|$OUT" "^0\|usage: vial exec \[options\] IMAGE COMMAND \[ARG...\]\n[^\n]*\noptions" \
	"exec --help: exec's usage and options"
unlike "$OUT" "inspect" "(exec's only)"
vial help exec
is "${OUT%%$'\n'*}|$OUT" "usage: vial exec [options] IMAGE COMMAND [ARG...]|$(as $TU "$VIAL" exec --help)" \
	"help exec: the same"
run as $TU "$T/bin/singularity" help shell
like "$RC|$OUT" "^0\|usage: singularity shell \[options\] IMAGE \[ARG...\]" "help shell, under singularity"
vial exec "$IMG" nosuchcmd
E="$RC|$ERR"
vial exec "$SING" nosuchcmd
is "$E
$RC|$ERR" "127|vial: nosuchcmd: command not found in $IMG
127|vial: nosuchcmd: command not found in $SING" \
	"command not found: vial's line, in an image without env scripts and in one with them"
vial exec "$SING" ./nosuch
is "$RC|$ERR" "127|vial: ./nosuch: command not found in $SING" "a path that is not there, the same"
run as $TU "$T/bin/singularity" exec "$SING" nosuchcmd
is "$RC|$ERR" "127|singularity (vial): nosuchcmd: command not found in $SING" "under singularity's name"
clean "one line"

# --- -q silences every warning; --rocm without a driver
if ldconfig -p | grep -qE 'libcuda\.so|libhsa-runtime64\.so'; then
	ok "# SKIP a GPU driver is installed"
else
	vial exec --nv "$IMG" true
	E="$RC|$ERR"
	vial -q exec --nv "$IMG" true
	is "$E
$RC|$ERR" "0|vial: warning: --nv: no NVIDIA driver library found in /etc/ld.so.cache on this host
0|" "-q silences the warning of --nv without a driver"
	vial -s exec --nv -c "$IMG" true
	is "$RC|$ERR" "0|" "-s too, with the other warnings"
	# a cache with the general-purpose libdrm, root's, as every Mesa host has it
	mkdir -p "$T/drm"
	echo 'int drmOpen(void) { return 0; }' > "$T/drm.c"
	for l in libdrm.so.2 libdrm_amdgpu.so.1; do
		gcc -shared -fPIC -Wl,-soname,$l -o "$T/drm/$l" "$T/drm.c"
	done
	echo "$T/drm" > "$T/drm.conf"
	ldconfig -f "$T/drm.conf" -C "$T/drm.cache"
	check "(the cache has libdrm)" sh -c "ldconfig -p -C '$T/drm.cache' | grep -q '$T/drm/libdrm.so.2'"
	run with_cache "$T/drm.cache" "$VIAL" exec --rocm "$IMG" sh -c 'ls /.singularity.d/libs 2>&1'
	like "$OUT" "No such file" "--rocm binds no general-purpose library (libdrm) over the image's"
	is "$ERR" "vial: warning: --rocm: no ROCm driver library found in /etc/ld.so.cache on this host" \
		"and warns as --nv does when the node has no ROCm driver"
fi
clean "warnings"

# --- run-help, and 2.x's help IMAGE
vial run-help "$SING"
is "$RC|$OUT" "0|Usage: the tool
  takes no options" "run-help IMAGE prints its runscript help"
run as $TU "$T/bin/singularity" help "$SING"
is "$RC|$OUT" "0|Usage: the tool
  takes no options" "help IMAGE (2.x) does the same"
vial run-help "$IMG"
is "$RC|$OUT" "0|No help sections were defined for this image" "an image without: Apptainer's line"
vial run-help "$T/nosuch.sif"
is "$RC|$ERR" "255|vial: cannot open image $T/nosuch.sif: No such file or directory" "a missing image: one line"
clean "run-help"

# --- archives are not images
tar -C "$S" -cf "$T/img.tar" . && gzip -c "$T/img.tar" > "$T/img.tar.gz"
chmod 644 "$T/img.tar" "$T/img.tar.gz"
vial exec "$T/img.tar" true
is "$RC|$ERR" "255|vial: $T/img.tar: a tar archive, not an image: vial runs no archives; unpack it and run the directory, or make an image of it with mksquashfs" \
	"a tar archive: one line saying what to do"
vial exec "$T/img.tar.gz" true
like "$RC|$ERR" "^255\|vial: $T/img.tar.gz: a gzip file, not an image" "a compressed one too"
clean "archives"

# --- target mode: root runs the command as another user
# root: ARGS... from $T, as root
root() { run sh -c 'cd "$0" && exec "$@"' "$T" "$@"; }
root env SINGULARITY_TARGET_UID=$UID1 SINGULARITY_TARGET_GID=$GID1 "$VIAL" exec "$IMG" \
	sh -c 'id -u; id -g; id -G; grep -c CapEff:.0000000000000000 /proc/self/status'
is "$RC|$OUT" "0|$UID1
$GID1
$GID1
1" "SINGULARITY_TARGET_UID/GID: root's command runs as that user and group, no capability"
root "$VIAL" exec --security uid:$UID1,gid:$GID1:$TGID "$IMG" sh -c 'id -u; id -G'
is "$RC|$OUT" "0|$UID1
$GID1 $TGID" "--security uid:N,gid:N:M: that user, those groups"
root "$VIAL" exec --security uid:$UID1 --security gid:$GID1 "$IMG" \
	sh -c 'echo $HOME; id -un; touch ~/.vial86 && stat -c %U ~/.vial86; grep -c "^$(id -un):" /etc/passwd'
is "$RC|$OUT" "0|/home/$TU
$TU
$TU
1" "the user's home, name and passwd entry, not root's"
rm -f "/home/$TU/.vial86"
mkdir -p "$T/rootonly" && echo secret > "$T/rootonly/s" && chmod 700 "$T/rootonly"
root "$VIAL" exec --security uid:$UID1,gid:$GID1 -B "$T/rootonly/s:/s" "$IMG" cat /s
is "$RC|$ERR" "255|vial: bind $T/rootonly/s: Permission denied" \
	"binds are opened with the target user's rights, not root's"
root env SINGULARITY_TARGET_UID=$UID1 "$VIAL" exec "$IMG" true
is "$RC|$ERR" "255|vial: SINGULARITY_TARGET_UID: a target user needs both a uid and a gid" \
	"a uid without a gid is refused"
root "$VIAL" exec --security seccomp:x.json "$IMG" true
is "$RC|$ERR" "255|vial: exec: --security seccomp:x.json: not supported: vial has no seccomp, AppArmor or SELinux profiles (only uid:N and gid:N[:M...], for root)" \
	"other --security options are refused in one line"
run as $TU env SINGULARITY_TARGET_UID=$UID2 SINGULARITY_TARGET_GID=$UID2 "$VIAL" exec "$IMG" true
is "$RC|$ERR" "255|vial: SINGULARITY_TARGET_UID: only root may run a command as another user" \
	"any other caller is refused (SINGULARITY_TARGET_UID)"
vial exec --security uid:$UID2,gid:$UID2 "$IMG" true
is "$RC|$ERR" "255|vial: --security: only root may run a command as another user" "(--security)"
vial exec --security uid:$UID1,gid:$GID1 "$IMG" true
is "$RC|$ERR" "255|vial: --security: only root may run a command as another user" "even naming themselves"
clean "target mode"
done_testing
