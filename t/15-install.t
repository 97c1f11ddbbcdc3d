#!/bin/bash
# The Makefile, as an admin uses it: `make CONFIG=x.h` builds with x.h and
# remembers it; `make install` installs exactly that binary (never one
# rebuilt from another config) or refuses in one line; `make uninstall`
# leaves DESTDIR as it was; `make` without its tools stops with one line
# naming `make deps` and never touches apt; `make demo` says where its
# setuid binary is. Builds go to $T (OUT, OBJDIR), beside the main build.
. "$(dirname "$0")/lib.sh"
setup
S=$T/mk
mkdir -m 755 "$S"

# M ARGS...: make in the tree, alone (the build lock), as a fresh shell
# would call it ($P: its PATH)
M() {
	local e=$S/.err
	OUT=$(flock /tmp/vial-build.lock env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS PATH="${P:-$PATH}" \
		make -C "$TOP" --no-print-directory "$@" 2>"$e" </dev/null); RC=$?
	ERR=$(cat "$e")
}
site() { sed "s/^#define MAX_LOOP_DEVICES 256\$/#define MAX_LOOP_DEVICES $2/" "$TOP/config.h" > "$1"; }
site "$S/x.h" 7
site "$S/y.h" 9
cfg() { "$1" config 2>/dev/null | sed -n 's/^vial .* site policy (built from \(.*\))$/\1/p; s/^max loop devices: //p' | paste -sd' '; }
tree() { (cd "$1" && find . -printf '%p %M %u %g %s %l\n' | sort); }

# --- build, and which config built it ----------------------------------------
M -s CONFIG="$S/x.h" OUT="$S/vial" OBJDIR="$S/obj-x"
is "$RC|$(cfg "$S/vial")" "0|$S/x.h 7" "make CONFIG=x.h builds with x.h"
M -s CONFIG="$S/y.h" OUT="$S/vial" OBJDIR="$S/obj-y"
is "$(cfg "$S/vial")" "$S/y.h 9" "make CONFIG=y.h into the same OUT builds with y.h"
M -s CONFIG="$S/x.h" OUT="$S/vial" OBJDIR="$S/obj-x"
is "$RC|$(cfg "$S/vial")" "0|$S/x.h 7" \
	"back to x.h, whose objects are older than the binary: relinked with x.h"

# --- install what was built, or refuse ---------------------------------------
mkdir -m 755 "$S/d1"
M install OUT="$S/vial" DESTDIR="$S/d1"
B=$S/d1/usr/local/bin/vial
is "$RC|$(cfg "$B")" "0|$S/x.h 7" "make install (no CONFIG) installs the binary x.h built"
is "$(stat -c '%a %U %G' "$B" 2>&1)" "4755 root root" "setuid root"
like "$OUT" "^installed $B \\(4755 root\\), built from $S/x.h:
vial [^\\n]* site policy \\(built from $S/x.h\\)
protected directories:" "and ends with the installed binary's vial config"
check "the man page goes to share/man/man1, the README to share/doc/vial" eval \
	'cmp -s "$TOP/vial.1" "$S/d1/usr/local/share/man/man1/vial.1" &&
	 cmp -s "$TOP/README" "$S/d1/usr/local/share/doc/vial/README"'
M -s install CONFIG="$S/x.h" OUT="$S/vial" DESTDIR="$S/d4"
is "$RC|$(cfg "$S/d4/usr/local/bin/vial")" "0|$S/x.h 7" "make install CONFIG=x.h installs it too"

M -s install CONFIG=config.h OUT="$S/vial" DESTDIR="$S/d2"
like "$RC|$ERR" "^2\|[^\n]*make install: $S/vial was built from $S/x.h, not $TOP/config.h: run \`make CONFIG=config.h\` first \\(install never builds\\)[^\n]*\$" \
	"make install CONFIG=config.h after make CONFIG=x.h: refused in one line"
is "$(ls -A "$S/d2" 2>&1)" "ls: cannot access '$S/d2': No such file or directory" "and nothing installed"
M -s install OUT="$S/none" DESTDIR="$S/d2"
like "$RC|$ERR" "^2\|[^\n]*make install: $S/none is not built: run \`make CONFIG=config.h\` first \\(install never builds\\)[^\n]*\$" \
	"make install with nothing built: refused in one line naming the config"
touch "$S/x.h"
M -s install OUT="$S/vial" DESTDIR="$S/d2"
like "$RC|$ERR" "^2\|[^\n]*make install: $S/x.h or a source changed since $S/vial was built: run \`make CONFIG=$S/x.h\` first[^\n]*\$" \
	"make install after x.h changed: refused in one line"
is "$(ls -A "$S/d2" 2>&1)" "ls: cannot access '$S/d2': No such file or directory" "(nothing installed by either)"
M -s CONFIG="$S/x.h" OUT="$S/vial" OBJDIR="$S/obj-x"

# --- uninstall ---------------------------------------------------------------
M -s uninstall DESTDIR="$S/d1"
is "$RC|$(tree "$S/d1")" "0|. drwxr-xr-x root root 4096 " \
	"make uninstall leaves an empty DESTDIR as it was (empty)"
mkdir -p "$S/d3/usr/local/bin" "$S/d3/usr/local/share/man/man1" "$S/d3/usr/local/share/doc"
echo keep > "$S/d3/usr/local/bin/other"
before=$(tree "$S/d3")
M -s install OUT="$S/vial" DESTDIR="$S/d3" LINKS=1
is "$RC|$(readlink "$S/d3/usr/local/bin/singularity")" "0|vial" "(make install LINKS=1 into a node tree)"
M -s uninstall DESTDIR="$S/d3"
is "$RC|$(tree "$S/d3")" "0|$before" \
	"make uninstall removes binary, links, man page and docs, and leaves the rest as it was"
M -s uninstall DESTDIR="$S/d3"
like "$RC|$ERR" "^2\|[^\n]*make uninstall: no $S/d3/usr/local/share/doc/vial/installed[^\n]*\$" \
	"a second uninstall says there is nothing to remove"

# --- make builds, and never touches apt --------------------------------------
apt_state() { find /etc/apt -printf '%p %s %T@\n' | sort; }
APT=$(apt_state)
mkdir "$S/path"
for f in /usr/bin/* /bin/* /usr/sbin/* /sbin/*; do
	b=${f##*/}
	[ "$b" = musl-gcc ] || [ -e "$S/path/$b" ] || ln -s "$f" "$S/path/$b"
done
P=$S/path M -s OUT="$S/v2" OBJDIR="$S/obj2"
like "$RC|$ERR" "^2\|[^\n]*musl-gcc not found: run \`make deps\` as root[^\n]*\$" \
	"make without musl-gcc on PATH: one line naming make deps"
is "$(ls "$S/v2" "$S/obj2" 2>&1 | wc -l)|$(apt_state)" "2|$APT" \
	"and nothing built, nothing changed under /etc/apt"
M -s OUT="$S/v3" OBJDIR="$S/obj3" DEPS="$S/nodeps" CAPNG_SRC="$S/nosrc"
like "$RC|$ERR" "^2\|[^\n]*libcap-ng is not built and its source is not in $S/nosrc: run \`make deps\` as root[^\n]*\$" \
	"make without libcap-ng or its source: one line naming make deps"
is "$(ls "$S/v3" "$S/nodeps" 2>&1 | wc -l)|$(apt_state)" "2|$APT" \
	"and nothing built, nothing changed under /etc/apt"

# --- the demo ----------------------------------------------------------------
M -s demo DEMO="$S/demo" OUT="$S/dvial" OBJDIR="$S/obj-d"
like "$RC|$OUT" "^0\\|(.|\n)*^NAME=\"vial demo \\(busybox\\)\"\nuid=65534\\(nobody\\)" \
	"make demo runs a command in an image as nobody"
like "$OUT" "make demo: the setuid-root $S/demo/bin/vial stays installed; remove it all with: rm -rf $S/demo\$" \
	"and says where its setuid binary is and how to remove it"
check "(it is there)" [ -u "$S/demo/bin/vial" ]
clean "make"

done_testing
