#!/bin/bash
# --nv and --rocm, with a fake driver (the CI machines have no GPU): small
# libraries named like the real ones, registered with the host's ldconfig,
# a fake nvidia-smi, /dev/nvidia0 and /dev/nvidiactl with the real major.
. "$(dirname "$0")/lib.sh"
setup

CONF=/etc/ld.so.conf.d/zz-vial-test-gpu.conf
MADE=""		# host files and nodes this test made: removed, always
DIRS=""		# directories it made, deepest first
LPID=
gpu_teardown() {
	rm -f "$CONF"
	ldconfig
	for f in $MADE; do rm -rf "$f"; done
	for d in $DIRS; do rmdir "$d"; done
	[ -n "$LPID" ] && kill "$LPID"
}
trap 'gpu_teardown; teardown' EXIT

if ldconfig -p | grep -q 'libcuda\.so\.1 '; then
	echo "1..0 # SKIP a real NVIDIA driver is installed (the fake one would not be found first)"
	exit 0
fi

# made DEV MAJOR MINOR: a device node, unless the host has one
made() { [ -e "$1" ] || { mknod -m 0666 "$1" c "$2" "$3" && MADE="$MADE $1"; }; }

# --- the fake driver
NV=$T/nvidia R=$T/rocm S=$T/src
mkdir -p "$NV" "$R" "$S" "$T/elsewhere"
cat > "$S/cuda.c" <<'EOF'
/* What a CUDA program asks the driver first, with fixed answers. */
int cuInit(unsigned int flags) { return flags ? 1 : 0; }
int cuDeviceGetCount(int *count) { *count = 3; return 0; }
EOF
cat > "$S/count.c" <<'EOF'
#include <stdio.h>
int cuInit(unsigned int flags);
int cuDeviceGetCount(int *count);
int main(void)
{
	int n = -1;

	if (cuInit(0) || cuDeviceGetCount(&n))
		return 1;
	printf("%d\n", n);
	return 0;
}
EOF
echo 'int nvmlInit_v2(void) { return 0; }' > "$S/lib.c"
solib() { gcc -shared -fPIC -Wl,-soname,"$1" -o "$2" "${3:-$S/lib.c}"; }
# the chain: libcuda.so -> libcuda.so.1 -> libcuda.so.550.54
solib libcuda.so.1 "$NV/libcuda.so.550.54" "$S/cuda.c"
ln -s libcuda.so.550.54 "$NV/libcuda.so.1"
ln -s libcuda.so.1 "$NV/libcuda.so"
solib libnvidia-ml.so.1 "$NV/libnvidia-ml.so.1"
solib libnvidia-fbc.so.1 "$NV/libnvidia-fbc.so.1"		# in the cache, then gone
solib libnvidia-encode.so.1 "$T/elsewhere/libnvidia-encode.so.1"
ln -s "$T/elsewhere/libnvidia-encode.so.1" "$NV/libnvidia-encode.so.1"	# leads outside
solib libnvidia-glcore.so.1 "$NV/libnvidia-glcore.so.1"
chown $TU "$NV/libnvidia-glcore.so.1"					# not root's
solib libnvidia-tls.so.1 "$NV/libnvidia-tls.so.1"
chmod g+w "$NV/libnvidia-tls.so.1"					# group-writable
solib libhsa-runtime64.so.1 "$R/libhsa-runtime64.so.1"
gcc -o "$S/cudacount" "$S/count.c" -L"$NV" -lcuda
printf '%s\n' "$NV" "$R" > "$CONF"
ldconfig
rm "$NV/libnvidia-fbc.so.1"
diag "the fake driver in the host's cache:" "$(ldconfig -p | grep -E "$T")"

# nvidia-smi where vial looks (GPU_BIN_DIRS), and one it must refuse
if ! ls /usr/bin/nvidia-smi /usr/sbin/nvidia-smi /usr/local/bin/nvidia-smi >/dev/null 2>&1; then
	printf '#!/bin/sh\necho "NVIDIA-SMI 550.54 (fake)"\n' > /usr/local/bin/nvidia-smi
	chmod 755 /usr/local/bin/nvidia-smi
	MADE="$MADE /usr/local/bin/nvidia-smi"
fi
if ! ls /usr/bin/nvidia-debugdump /usr/sbin/nvidia-debugdump \
	/usr/local/bin/nvidia-debugdump >/dev/null 2>&1; then
	printf '#!/bin/sh\necho debugdump\n' > /usr/local/bin/nvidia-debugdump
	chmod 775 /usr/local/bin/nvidia-debugdump
	MADE="$MADE /usr/local/bin/nvidia-debugdump"
fi
made /dev/nvidia0 195 0
made /dev/nvidiactl 195 255
made /dev/kfd 240 0		# kfd's major is dynamic: one from the local range

# A glibc image: busybox, the host's loader and libc, the program, its own
# nvidia-smi, and an env script that sets LD_LIBRARY_PATH.
G=$T/glibc; rm -rf "$G"
"$TOP/t/mkimage.sh" "$G" "" dir
interp=$(readelf -l "$S/cudacount" | sed -n 's/.*interpreter: \(.*\)]/\1/p')
libc=$(gcc -print-file-name=libc.so.6)
mkdir -p "$G$(dirname "$interp")" "$G/lib/$(gcc -print-multiarch)" "$G/.singularity.d/env"
cp -L "$interp" "$G$interp"
cp -L "$libc" "$G/lib/$(gcc -print-multiarch)/libc.so.6"
cp "$S/cudacount" "$G/bin/cudacount"
printf '#!/bin/sh\necho "the image'"'"'s own nvidia-smi"\n' > "$G/usr/bin/nvidia-smi"
chmod 755 "$G/usr/bin/nvidia-smi"
echo 'export LD_LIBRARY_PATH=/opt/imagelib' > "$G/.singularity.d/env/90-environment.sh"
GIMG=$T/glibc.sqfs
mksquashfs "$G" "$GIMG" -quiet -noappend -all-root >/dev/null; chmod 644 "$GIMG"

# --- vial config
vial config
like "$OUT" "^--nv libraries: libcuda.so libnvidia-ml.so .*libvdpau_nvidia.so\$" \
	"vial config prints the --nv library list"
like "$OUT" "^--nv binaries: nvidia-smi .*nvidia-cuda-mps-server\$" "and its binaries"
like "$OUT" "^--rocm libraries: libamd_comgr.so .*\n--rocm binaries: rocm-smi rocminfo\$" \
	"and the --rocm lists"

# --- the driver's libraries
vial exec --nv "$GIMG" cudacount
is "$OUT|$RC" "3|0" "a program linked with -lcuda runs on the host's driver with --nv"
vial exec --nv -c "$GIMG" cudacount
is "$OUT|$RC" "3|0" "and with --contain"
vial exec "$GIMG" cudacount
like "$RC|$ERR" "^127\|.*libcuda.so.1" "without --nv the image has no driver"
vial exec -v --nv "$GIMG" true
like "$ERR" "^vial: --nv: bound $NV/libcuda.so.550.54 on /.singularity.d/libs/libcuda.so.1\$" \
	"a symlinked library (libcuda.so.1 -> libcuda.so.550.54) binds its file"
like "$ERR" "^vial: --nv: bound $NV/libnvidia-ml.so.1 on /.singularity.d/libs/libnvidia-ml.so.1\$" \
	"-v says what was bound"
vial exec --nv "$IMG" sh -c 'grep " /.singularity.d/libs/" /proc/self/mountinfo | cut -d" " -f5,6'
like "$OUT" "^/.singularity.d/libs/libcuda.so.1 ro,nosuid,nodev" \
	"the libraries are bound read-only, nosuid, nodev"
vial exec --nv "$IMG" sh -c 'ls /.singularity.d/libs | tr "\n" " "'
is "$OUT" "libcuda.so libcuda.so.1 libnvidia-ml.so.1 " \
	"only the driver's root-owned libraries are bound"
run as $TU env LD_LIBRARY_PATH=/host SINGULARITYENV_LD_LIBRARY_PATH=/opt/mine "$VIAL" exec --nv \
	"$IMG" sh -c 'echo $LD_LIBRARY_PATH'
is "$OUT" "/opt/mine:/.singularity.d/libs" "/.singularity.d/libs is appended to LD_LIBRARY_PATH"
run as $TU env LD_LIBRARY_PATH=/host "$VIAL" exec --nv "$IMG" sh -c 'echo $LD_LIBRARY_PATH'
is "$OUT" "/.singularity.d/libs" "the host's own LD_LIBRARY_PATH stays outside, as without --nv"
vial exec --nv "$GIMG" sh -c 'echo $LD_LIBRARY_PATH'
is "$OUT" "/opt/imagelib:/.singularity.d/libs" "also after an image's env script sets it"
run as $TU env CUDA_VISIBLE_DEVICES=1,2 NVIDIA_VISIBLE_DEVICES=GPU-1 "$VIAL" exec --nv -e \
	"$IMG" sh -c 'echo $CUDA_VISIBLE_DEVICES $NVIDIA_VISIBLE_DEVICES'
is "$OUT" "1,2 GPU-1" "CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES pass, even with --cleanenv"
clean "--nv libraries"

# --- what is not bound
vial exec -v --nv "$IMG" true
like "$ERR" "^vial: --nv: $NV/libnvidia-fbc.so.1 is in /etc/ld.so.cache but cannot be opened: No such file or directory\$" \
	"a library in the cache but missing is skipped, with a -v note"
is "$RC" 0 "and the command runs"
like "$ERR" "^vial: not following $NV/libnvidia-encode.so.1: it leads outside the directories of /etc/ld.so.cache\$" \
	"a library symlinked outside the cache's directories is not followed"
like "$ERR" "^vial: not binding $NV/libnvidia-glcore.so.1: not owned by root\$" \
	"a library not owned by root is not bound"
like "$ERR" "^vial: not binding $NV/libnvidia-tls.so.1: writable by group or other\$" \
	"a group-writable library is not bound"
clean "refused libraries"

# --- binaries and devices
vial exec --nv "$IMG" nvidia-smi
is "$OUT" "NVIDIA-SMI 550.54 (fake)" "nvidia-smi is bound into /usr/bin"
vial exec --nv "$IMG" sh -c 'grep " /usr/bin/nvidia-smi " /proc/self/mountinfo | cut -d" " -f6'
like "$OUT" "^ro,nosuid,nodev" "read-only, nosuid, nodev"
vial exec -v --nv "$GIMG" nvidia-smi
is "$OUT" "the image's own nvidia-smi" "an image's own nvidia-smi is not covered"
case " $MADE " in *" /usr/local/bin/nvidia-debugdump "*)
	like "$ERR" "^vial: not binding /usr/local/bin/nvidia-debugdump: writable by group or other\$" \
		"a group-writable binary is not bound" ;;
esac
vial exec --nv -c "$IMG" sh -c 'for d in /dev/nvidia0 /dev/nvidiactl; do [ -c $d ] && echo $d; done'
is "$OUT" "/dev/nvidia0
/dev/nvidiactl" "with --contain the /dev/nvidia* nodes are there"
vial exec --nv -c "$IMG" sh -c 'grep " /dev/nvidia0 " /proc/self/mountinfo | cut -d" " -f6'
like "$OUT" "^rw,nosuid,noexec" "bound nosuid,noexec"
vial exec -c "$IMG" sh -c 'ls /dev | grep -c nvidia'
is "$OUT" "0" "without --nv a --contain /dev has none"
vial exec --nv "$IMG" sh -c '[ -c /dev/nvidia0 ] && echo yes'
is "$OUT" "yes" "without --contain they are the host's /dev's"
# A host tmpfs the user binds over the --contain /dev: no place is made
# there for the nodes (root would have created files on the host).
mkdir -p "$T/hostdev" && mount -t tmpfs -o mode=1777 vialt "$T/hostdev"
vial exec --nv -c -B "$T/hostdev:/dev" "$IMG" true
is "$RC|$(ls -A "$T/hostdev" | wc -l)" "0|0" \
	"a host tmpfs bound over a --contain /dev gets no files of root's for the nodes"
umount "$T/hostdev"
clean "binaries and devices"

# --- --rocm
vial exec -v --rocm -c "$IMG" sh -c '[ -c /dev/kfd ] && ls /.singularity.d/libs'
like "$OUT" "^libhsa-runtime64.so.1\$" "--rocm binds the ROCm libraries and, with --contain, /dev/kfd"
like "$ERR" "^vial: --rocm: bound /dev/kfd on /dev/kfd\$" "-v says so"
unlike "$ERR" "--nv" "--rocm alone does nothing of --nv's"
vial exec --rocm --nv "$GIMG" sh -c 'cudacount; ls /.singularity.d/libs | tr "\n" " "'
like "$OUT" "^3\n.*libcuda.so.1 .*libhsa-runtime64.so.1 libnvidia-ml.so.1 " "--nv and --rocm together"
clean "--rocm"

# --- other caches, in a mount namespace of the test's own (the host's stays)
with_cache() {
	local c=$1; shift
	(cd "$T" && exec unshare -m --propagation private -- sh -c \
		'mount --bind "$0" /etc/ld.so.cache && exec "$@"' "$c" \
		setpriv --reuid=$TU --regid=$TU --init-groups -- "$@" 9>&-)
}
ldconfig -c old -C "$T/old.cache"
ldconfig -c compat -C "$T/compat.cache"
mkdir -p "$T/empty/etc"; : > "$T/empty/etc/ld.so.conf"
ldconfig -r "$T/empty" -C /ld.so.cache 2>/dev/null
check "ldconfig wrote the old format (ld.so-1.7.0 only)" \
	sh -c "head -c 11 '$T/old.cache' | grep -q ld.so-1.7.0 && ! grep -q glibc-ld.so.cache '$T/old.cache'"
run with_cache "$T/old.cache" "$VIAL" exec --nv "$GIMG" cudacount
is "$OUT|$RC" "3|0" "a cache in the old format (ld.so-1.7.0) is read"
run with_cache "$T/compat.cache" "$VIAL" exec --nv "$GIMG" cudacount
is "$OUT|$RC" "3|0" "and in the compat format (old, then new)"
run with_cache "$T/empty/ld.so.cache" "$VIAL" exec --nv "$IMG" echo ran
is "$OUT|$RC|$ERR" "ran|0|vial: warning: --nv: no NVIDIA driver library found in /etc/ld.so.cache on this host" \
	"no driver on the node: one warning line, and the command runs"
printf 'garbage' > "$T/bad.cache"
run with_cache "$T/bad.cache" "$VIAL" exec -v --nv "$IMG" echo ran
like "$OUT|$RC|$ERR" "^ran\|0\|(.*\n)*vial: /etc/ld.so.cache: not an ld.so.cache.*\nvial: warning: --nv: no NVIDIA" \
	"a cache vial cannot parse is a missing driver, said with -v"
chown $TU "$T/old.cache"
run with_cache "$T/old.cache" "$VIAL" exec -v --nv "$IMG" true
like "$ERR" "^vial: not binding /etc/ld.so.cache: not owned by root\$" \
	"a cache that is not root's is not read"
clean "other caches"

# --- a protected image (run, not read): no LD_* of the caller's, but the driver's
PD=/opt/vial/protected
for d in /opt/vial $PD; do [ -d $d ] || { mkdir -m 0755 $d && DIRS="$d $DIRS"; }; done
PG=$PD/vialtest-gpu.$$.sqfs PB=$PD/vialtest-gpubb.$$.sqfs
MADE="$MADE $PG $PB"
install -o root -g root -m 0600 "$GIMG" "$PG"
install -o root -g root -m 0600 "$IMG" "$PB"
mkdir "$T/log" "$T/dev" "$T/dev/u" "$T/dev/w"
/usr/bin/python3 "$TOP/t/syslog-listen.py" "$T/log.sock" "$T/log" 9>&- &
LPID=$!
for i in $(seq 50); do [ -e "$T/log/ready" ] && break; sleep 0.1; done
ln -s "$T/log.sock" "$T/dev/u/log"
# audited: a private /dev whose log is the listener (the host may have no syslog)
audited() {
	(cd "$T" && exec unshare -m --propagation private -- sh -c \
		'mount -t overlay vialdev -o "lowerdir=/dev,upperdir=$0/u,workdir=$0/w" /dev &&
		exec "$@"' "$T/dev" setpriv --reuid=$TU --regid=$TU --init-groups -- "$@" 9>&-)
}
run audited "$VIAL" exec --nv "$PG" cudacount
is "$OUT|$RC" "3|0" "--nv works for a protected image"
run audited env LD_LIBRARY_PATH=/opt/mine "$VIAL" exec --nv "$PB" sh -c 'echo $LD_LIBRARY_PATH'
is "$OUT" "/.singularity.d/libs" "there LD_LIBRARY_PATH is the driver's directory alone"
run audited env LD_LIBRARY_PATH=/opt/mine "$VIAL" exec --nv "$PG" sh -c 'echo $LD_LIBRARY_PATH'
is "$OUT" "/opt/imagelib:/.singularity.d/libs" "after what the image's own env scripts set"
clean "protected image"

check "nothing was made on the host" test ! -e /.singularity.d
done_testing
