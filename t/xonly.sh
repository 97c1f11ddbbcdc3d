# Shared by the attack tests on protected images (t/90, t/92), sourced
# after lib.sh's setup: the protected directory, the audit listener and
# nsrun/pv, and the execute-only programs with their images. A test's EXIT
# trap calls xonly_cleanup.
#
# /secret/prog (0711 root, dynamically linked, the marker in its rodata)
# and /secret/sprog (the same, static-pie) run for the user but must not
# be read. Any code of the user's that runs inside them can read their
# pages: a preload (x.so scans the program's mappings and prints "LEAKED
# <marker>"), a library bound over the image's libc, a tracer, or a
# binfmt_misc interpreter handed the file. One tree, two images: $SEC
# protected (root 0600 in $PD), $OPEN ordinary (0644).

PD=/opt/vial/protected		# the default build's protected directory
MARK=VIAL-SECRET-7f3a		# in the execute-only binary's rodata only
made=()				# directories we created outside $T, removed at exit
LPID=
mkdir_root() {	# mkdir_root DIR: make DIR (root, 0755) and remember it
	[ -d "$1" ] && return
	mkdir -m 0755 "$1" && chown root:root "$1" && made=("$1" "${made[@]}")
}
FUSEMODE= FMNT=
xonly_cleanup() {	# what this file made outside $T
	[ -n "$FMNT" ] && { as $TU fusermount3 -u "$FMNT" 2>/dev/null || umount -l "$FMNT"; } 2>/dev/null
	[ -n "$FUSEMODE" ] && chmod "$FUSEMODE" /dev/fuse
	mountpoint -q "/home/$TU/.vialt-fuse" && umount -l "/home/$TU/.vialt-fuse"
	rm -rf "/home/$TU/.vialt-fuse"
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	rm -rf "${PDT:-/nonexistent}" "/home/$TU/.vialt-attack" "/dev/shm/vialt-attack" "${CW:-/nonexistent}"
	for d in "${made[@]}"; do rmdir "$d"; done
}
trap 'xonly_cleanup; teardown' EXIT	# until the test sets its own

mkdir_root /opt/vial
mkdir_root "$PD"
PDT=$(mktemp -d "$PD/t.XXXXXX") && chmod 755 "$PDT"

# The audit listener: a protected image runs only when /dev/log takes its
# record. nsrun gives the command a private /dev/log that is the listener.
mkdir "$T/log"
/usr/bin/python3 "$TOP/t/syslog-listen.py" "$T/log.sock" "$T/log" 9>&- &
LPID=$!
for i in $(seq 50); do [ -e "$T/log/ready" ] && break; sleep 0.1; done
nsrun() {	# nsrun CMD...: CMD (as root) in a mount namespace with our /dev/log
	local d rc
	d=$(mktemp -d "$T/ns.XXXXXX") && mkdir "$d/u" "$d/w" || return 99
	ln -s "$T/log.sock" "$d/u/log"
	# (the overlay's lower layer is /dev alone: the host's /dev/shm is
	# moved back on top of it)
	mkdir "$d/shm"
	# (a slave: what the host mounts later still reaches vial, as on a
	# systemd node, where / is shared)
	(cd "${NS_CWD:-$T}" && unshare -m --propagation slave -- sh -c '
		d=$1; shift
		mount --bind /dev/shm "$d/shm" &&
		mount -t overlay vialdev -o "lowerdir=/dev,upperdir=$d/u,workdir=$d/w" /dev &&
		mount --move "$d/shm" /dev/shm || exit 99
		exec "$@"' nsrun "$d" "$@" 9>&-)
	rc=$?
	rm -rf "$d"
	return $rc
}
# pv ARGS...: the installed vial as the test user, with our /dev/log
pv() { run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- "$VIAL" "$@"; }
# pvenv ENV... -- ARGS...: the same with variables set in the caller's environment
pvenv() {
	local e=()
	while [ "$1" != -- ]; do e+=("$1"); shift; done; shift
	run nsrun setpriv --reuid=$TU --regid=$TU --init-groups -- env "${e[@]}" "$VIAL" "$@"
}
ppid_of() { awk '{print $4}' "/proc/$1/stat" 2>/dev/null; }
comm_of() { cat "/proc/$1/comm" 2>/dev/null; }

TREE=$T/tree
unsquashfs -q -d "$TREE" "$IMG" >/dev/null

S=$T/src EV=$T/evil			# sources; the user's libraries, in the host's /tmp
mkdir -m 755 "$S" "$EV"
cat > "$S/prog.c" <<EOF
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
static const char secret[] = "$MARK: licensed code";
int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "sleep"))
		sleep(30);
	if (argc > 1 && !strcmp(argv[1], "dumpable")) {	/* as crash reporters do */
		printf("dumpable: %s\\n", prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) ? "refused" : "set");
		fflush(stdout);
		sleep(5);
	}
	if (argc > 1 && !strcmp(argv[1], "never"))	/* keeps the secret in */
		puts(secret);
	puts("hello");
	return 0;
}
EOF
cat > "$S/x.c" <<'EOF'
/* the user's code: scan the main program's readable mappings */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void leak(void)
{
	char exe[4096], line[8192], path[4096], perm[8];
	unsigned long a, b;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	FILE *f = fopen("/proc/self/maps", "r");
	const char *m;
	int found = 0;

	if (n <= 0 || !f)
		return;
	exe[n] = 0;
	while (fgets(line, sizeof line, f)) {
		path[0] = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %4095s", &a, &b, perm, path) < 3 ||
		    strcmp(path, exe) || perm[0] != 'r')
			continue;
		if ((m = memmem((void *)a, b - a, "VIAL-SECRET-", 12)) && !found++)
			printf("LEAKED %.16s from %s\n", m, exe);
	}
	if (!found)
		printf("x.so ran in %s, found nothing\n", exe);
	fflush(stdout);
}
EOF
# evil-libc.so.6: x.c as "libc.so.6" (the versions the program needs, no
# symbols), which loads the real libc from the user's copy by its path.
echo 'void vial_stub(void) {}' > "$S/stub.c"
printf 'GLIBC_2.2.5 { local: *; };\nGLIBC_2.34 { } GLIBC_2.2.5;\n' > "$S/libc.map"
cp /lib/x86_64-linux-gnu/libc.so.6 "$EV/real-libc.so.6"
(cd "$S" && gcc -O2 -o prog prog.c && gcc -O2 -static-pie -o sprog prog.c &&
	gcc -O2 -shared -fPIC -o "$EV/x.so" x.c &&
	gcc -shared -fPIC -nostdlib -Wl,-soname,"$EV/real-libc.so.6" -o stub.so stub.c &&
	gcc -O2 -shared -fPIC -nostdlib -Wl,-soname,evil-libc.so.6 -Wl,--version-script=libc.map \
		-o "$EV/evil-libc.so.6" x.c -Wl,--no-as-needed ./stub.so) 2>"$S/build.log" ||
	diag "building the attack programs failed:" "$(cat "$S/build.log")"
install -m 755 "$TOP/t/ptdump" "$EV/ptdump"
chmod 644 "$EV"/*.so* && chmod 755 "$EV/ptdump"

# One tree, two images: protected (root 0600 in $PD) and ordinary (0644).
STREE=$T/stree
cp -a "$TREE" "$STREE"
mkdir -p "$STREE/secret" "$STREE/lib64" "$STREE/lib/x86_64-linux-gnu"
install -m 0711 "$S/prog" "$STREE/secret/prog"
install -m 0711 "$S/sprog" "$STREE/secret/sprog"
cp /lib64/ld-linux-x86-64.so.2 "$STREE/lib64/"
cp /lib/x86_64-linux-gnu/libc.so.6 "$STREE/lib/x86_64-linux-gnu/"
SEC=$PDT/secret.sqfs OPEN=$T/secret-open.sqfs
mksquashfs "$STREE" "$SEC" -noappend -all-root -quiet -comp gzip >/dev/null
chown root:root "$SEC" && chmod 600 "$SEC"
cp "$SEC" "$OPEN" && chmod 644 "$OPEN"
check "(the program needs only the loader and libc the images have)" eval \
	'[ "$(ldd "$S/prog" | grep -c "=> /lib/x86_64-linux-gnu/libc.so.6 \|/lib64/ld-linux-x86-64.so.2")" = 2 ]'
check "(and x.so finds the marker in it on the host)" eval \
	'LD_PRELOAD="$EV/x.so" "$S/prog" | grep -q "LEAKED $MARK"'

# User-owned places outside /tmp: home, a working directory, /dev/shm.
UH=/home/$TU/.vialt-attack CW=$(mktemp -d /var/lib/vialt-attack.XXXXXX) SHM=/dev/shm/vialt-attack
mkdir -p "$UH" "$SHM"
for d in "$UH" "$CW" "$SHM"; do
	cp "$EV/x.so" "$EV/ptdump" "$d/" && chown -R $TU:$TU "$d" && chmod 755 "$d"
done

# fuse_home: $FH, a FUSE source (src/f says "fused") and a mount point
# (mnt) in the user's home, under a shared bind: on a systemd node / is
# shared, and what the host mounts later reaches every mount namespace
# made from it; this machine's / is private. /dev/fuse is opened to users
# (no udev here) until fuse_home_done.
fuse_home() {
	FUSEMODE=$(stat -c %a /dev/fuse)
	chmod 666 /dev/fuse
	FH=/home/$TU/.vialt-fuse
	mkdir -p "$FH/src" "$FH/mnt" && echo fused > "$FH/src/f" && chown -R $TU:$TU "$FH"
	mount --bind "$FH" "$FH" && mount --make-shared "$FH"
}
fuse_home_done() { chmod "$FUSEMODE" /dev/fuse && FUSEMODE=; umount "$FH"; }
