#!/bin/bash
# What the command inside holds: the caller's ids, no capability, no way back to root.
. "$(dirname "$0")/lib.sh"
setup
groups1=$(id -G $TU | tr ' ' '\n' | sort -n | paste -sd,)	# as setpriv --init-groups set them

vial exec "$IMG" probe ids
is "$OUT" "uid=$UID1,$UID1,$UID1 gid=$GID1,$GID1,$GID1 groups=$groups1" \
	"real, effective and saved ids and the groups are the caller's"
vial exec "$IMG" probe status
for set in CapInh CapPrm CapEff CapBnd CapAmb; do
	like "$OUT" "$set:[[:space:]]+0000000000000000" "$set is empty"
done
like "$OUT" "NoNewPrivs:[[:space:]]+1" "NoNewPrivs is 1"
vial exec "$IMG" probe root
like "$OUT|$RC" "setuid=-1 seteuid=-1 setresuid=-1 euid=$UID1\|0" "setuid(0) fails inside"
vial exec "$IMG" suprobe ids
is "$OUT" "uid=$UID1,$UID1,$UID1 gid=$GID1,$GID1,$GID1 groups=$groups1" \
	"a setuid-root binary in the image does not escalate"
vial exec "$IMG" probe open /devnode/null
like "$OUT" "open /devnode/null: Permission denied" "a device node in the image cannot be opened"
vial exec "$IMG" sh -c 'grep " / / " /proc/self/mountinfo'
like "$OUT" " / / ro,nosuid,nodev" "the container root is ro,nosuid,nodev"
vial exec "$IMG" sh -c 'touch /newfile'
like "$RC $ERR" "^1 .*Read-only file system" "the image cannot be written"
vial exec "$IMG" sh -c 'grep -E " /(tmp|var/tmp|home/[^ ]*) " /proc/self/mountinfo | grep -vc nosuid,nodev'
is "$OUT" "0" "binds from the host are nosuid,nodev"
clean "privilege checks"

# The host is not there: only what vial binds.
mkdir -p /srv/vial-hidden && echo x > /srv/vial-hidden/f
vial exec "$IMG" ls /srv/vial-hidden/f
like "$RC $ERR" "^1 .*No such file" "host paths that are not bound are invisible"
rm -rf /srv/vial-hidden
vial exec "$IMG" cat /etc/os-release
is "$OUT" 'NAME="vial demo (busybox)"' "the image's /etc is what the command sees"
vial exec "$IMG" sh -c 'cat /proc/1/status >/dev/null && echo visible'
is "$OUT" "visible" "without --pid the host's processes are visible (as in Singularity)"

# vial itself: not dumpable while privileged, so the caller cannot ptrace or read it.
run as $TU sh -c "'$VIAL' exec '$IMG' sleep 5 & sleep 0.5; cat /proc/\$!/status | grep -E '^(Uid|CapEff)'; kill \$!; wait"
like "$OUT" "Uid:[[:space:]]+$UID1[[:space:]]+$UID1[[:space:]]+$UID1[[:space:]]+$UID1" \
	"while the command runs, vial's pid is the command's, with all four uids the caller's"
clean "sleeping container"

# The environment is never read while privileged: a hostile one changes nothing.
run as $TU env LD_PRELOAD=/nonexistent.so LD_LIBRARY_PATH=/x TZ=/etc/shadow \
	MALLOC_CHECK_=3 LOCPATH=/x GCONV_PATH=/x HOME=/root PATH=/x:/bin \
	"$VIAL" exec "$IMG" probe ids
is "$OUT|$RC" "uid=$UID1,$UID1,$UID1 gid=$GID1,$GID1,$GID1 groups=$groups1|0" \
	"loader, locale and tmp variables do not affect vial"
vial exec "$IMG" sh -c "ls -d /home/$TU"
is "$OUT" "/home/$TU" "home comes from the passwd entry, not \$HOME"
clean "hostile environment"
done_testing
