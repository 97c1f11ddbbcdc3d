#!/bin/bash
# vial refuses to run when it is installed wrong, and says what to fix.
. "$(dirname "$0")/lib.sh"
setup
V=$T/bin/vial-x

try() { # try MODE OWNER: install a copy so, run it as the user
	install -o "$2" -g root -m "$1" "$TOP/vial" "$V"
	run as $TU "$V" exec "$IMG" true
}
try 0755 root
like "$RC $ERR" "^255 vial: vial is not setuid root" "not setuid: refused with a clear message"
run as $TU "$V" version
is "$RC" 0 "version, help and config work without setuid (an admin can audit a copy)"
try 4755 $TU
like "$RC $ERR" "^255 vial: vial is not owned by root" "owned by a user: refused"
try 6755 root
like "$RC $ERR" "^255 vial: vial must not be setgid" "setgid: refused"
try 4775 root
like "$RC $ERR" "^255 vial: vial is writable by group or other" "group-writable: refused"
try 4757 root
like "$RC $ERR" "^255 vial: vial is writable by group or other" "world-writable: refused"
is "$(echo "$ERR" | wc -l)" 1 "the refusal is one line"
clean "bad installs"

mkdir "$T/nosuid"
mount -t tmpfs -o nosuid,mode=755 none "$T/nosuid"
install -o root -g root -m 4755 "$TOP/vial" "$T/nosuid/vial"
run as $TU "$T/nosuid/vial" exec "$IMG" true
umount "$T/nosuid"
like "$RC $ERR" "^255 vial: vial is on a nosuid mount" "on a nosuid mount: says so plainly"

run as $TU setpriv --no-new-privs "$VIAL" exec "$IMG" true
like "$RC $ERR" "^255 vial: vial did not gain root: setuid ignored \(no_new_privs" \
	"under no_new_privs: says setuid was ignored"
run as $TU "$T/bin/probe" argc0 "$VIAL"
like "$RC $ERR" "^255 vial: refusing to run with an empty argument list" "argc 0: refused"
clean "refusals"
done_testing
