#!/bin/bash
# Bad images: one line, exit 255, no hang, nothing left behind.
. "$(dirname "$0")/lib.sh"
setup

bad() { # bad NAME PATH REGEX
	run as $TU timeout 20 "$VIAL" exec "$2" true
	like "$RC|$ERR" "^255\|vial: $3\$" "$1: exit 255 and one line naming the image"
	clean "$1"
}
head -c 1048576 /dev/urandom > "$T/random"
: > "$T/empty"
head -c 8192 "$IMG" > "$T/truncated.sqfs"
# a superblock that claims what the file has, but garbage after it
{ head -c 96 "$IMG"; head -c $(( $(stat -c %s "$IMG") - 96 )) /dev/urandom; } > "$T/garbage.sqfs"
mkfifo "$T/fifo"
printf 'hsqs' > "$T/short.sqfs"
chmod 644 "$T"/random "$T"/empty "$T"/*.sqfs; chmod 666 "$T/fifo"

bad "missing image" "$T/nope.sqfs" "cannot open image $T/nope.sqfs: No such file or directory"
bad "random bytes" "$T/random" "$T/random: not a .*image"
bad "empty file" "$T/empty" "$T/empty: empty file, not an image"
bad "truncated squashfs" "$T/truncated.sqfs" "$T/truncated.sqfs: truncated squashfs image .*"
bad "squashfs with garbage after the superblock" "$T/garbage.sqfs" \
	"$T/garbage.sqfs: cannot mount squashfs image \(damaged\?\): .*"
bad "4-byte file with the squashfs magic" "$T/short.sqfs" "$T/short.sqfs: .*"
bad "a FIFO (must not hang)" "$T/fifo" "$T/fifo: not a regular file( or a directory)?"
bad "/dev/zero" /dev/zero "/dev/zero: not a regular file( or a directory)?"
bad "/proc/self/mem" /proc/self/mem "cannot open image /proc/self/mem: Permission denied"
bad "a root-only file outside the protected directories (Permission denied: nothing to hide)" \
	/etc/shadow "cannot open image /etc/shadow: Permission denied"
done_testing
