#!/bin/bash
# The launch as a job script sees it: exit status, signals, stdio, commands.
. "$(dirname "$0")/lib.sh"
setup

vial exec "$IMG" true
is "$RC" 0 "exit status 0 passes through"
clean "exit 0"
vial exec "$IMG" false
is "$RC" 1 "exit status 1 passes through"
vial exec "$IMG" probe exit 42
is "$RC" 42 "exit status 42 passes through"
is "$ERR" "" "vial says nothing on success"
vial exec "$IMG" probe kill 15
is "$RC" 143 "death by SIGTERM gives 128+15"
vial exec "$IMG" probe kill 9
is "$RC" 137 "death by SIGKILL gives 128+9"
clean "signal deaths"

vial exec "$IMG" no-such-command
is "$RC" 127 "a command missing in the image gives 127"
like "$ERR" "^vial: no-such-command: command not found in $IMG\$" "and says so in one line"
vial exec "$IMG" /etc/passwd
is "$RC" 126 "a command that is not executable gives 126"
clean "missing command"

vial exec "$IMG" sh -c 'echo "$0 $1"' a b
is "$OUT" "a b" "arguments reach the command unchanged"
vial exec "$IMG" sh -c 'echo "$VIAL_T"'
is "$OUT" "" "(no variable set yet)"
run as $TU env VIAL_T='x y' TMPDIR=/tmp/job LD_LIBRARY_PATH=/l "$VIAL" exec "$IMG" \
	sh -c 'echo "$VIAL_T|$TMPDIR|$LD_LIBRARY_PATH"'
is "$OUT" "x y|/tmp/job|" "the caller's environment reaches the command, but LD_LIBRARY_PATH"

OUT=$(echo piped | as $TU "$VIAL" exec "$IMG" cat)
is "$OUT" "piped" "stdin reaches the command"
run as $TU "$VIAL" exec "$IMG" sh -c 'echo out; echo err >&2'
is "$OUT|$ERR" "out|err" "stdout and stderr are the caller's"

# stdio closed: vial must neither fail nor put its own files on 0-2
OUT=$(as $TU sh -c "exec 0<&- 2>&-; '$VIAL' exec '$IMG' probe fds")
is "$OUT" "0 1 2" "with stdin and stderr closed, the command gets 0-2 (on /dev/null)"
as $TU sh -c "exec 0<&- 1>&- 2>&-; '$VIAL' exec '$IMG' sh -c 'echo x > /tmp/closed.\$\$; ls /tmp/closed.* >/dev/null'"
is "$?" 0 "with all of 0-2 closed it still runs"
rm -f /tmp/closed.*
clean "closed stdio"
OUT=$(as $TU sh -c "'$VIAL' exec '$IMG' probe fds 7</etc/hostname")
is "$OUT" "0 1 2 7" "the command gets 0-2 and the fd the caller passed, nothing of vial's"

vial shell "$IMG" < /dev/null
is "$RC" 0 "shell runs /bin/sh"
OUT=$(echo 'echo in-shell' | as $TU "$VIAL" shell "$IMG")
is "$OUT" "in-shell" "shell reads commands from stdin"
vial run "$IMG"
is "$RC" 255 "run without a runscript fails"
like "$ERR" "^vial: .*no runscript in the image" "and says there is no runscript"

RS=$T/rs.sqfs R=$T/rsroot
mkdir -p "$R/.singularity.d"
unsquashfs -q -d "$R/x" "$IMG" >/dev/null && mv "$R/x"/* "$R/" && rmdir "$R/x"
printf '#!/bin/sh\necho "runscript $*"\nexit 3\n' > "$R/.singularity.d/runscript"
chmod 755 "$R/.singularity.d/runscript"
mksquashfs "$R" "$RS" -quiet -noappend -all-root >/dev/null; chmod 644 "$RS"
vial run "$RS" one two
is "$OUT|$RC" "runscript one two|3" "run executes /.singularity.d/runscript with the arguments"
clean "run"

vial exec "$IMG" sh -c 'pwd'
is "$OUT" "$T" "the working directory is kept"
run as $TU sh -c "cd /home/$TU && '$VIAL' exec '$IMG' pwd"
is "$OUT" "/home/$TU" "home is bound and the working directory kept there"
vial exec "$IMG" id -un
is "$OUT" "$TU" "the caller's name resolves inside (passwd entry added)"
vial exec "$IMG" id -gn
is "$OUT" "$TU" "the caller's group resolves inside"

for v in help version config; do
	vial $v
	is "$RC" 0 "vial $v exits 0"
done
like "$(as $TU "$VIAL" version)" "^vial [0-9]" "version prints the version"
like "$(as $TU "$VIAL" config)" "protected directories:" "config prints the policy"
like "$(as $TU "$VIAL" config)" "default binds: /etc/localtime:/etc/localtime:ro.*
user binds \(-B\): allowed" "config prints the default binds and whether -B is allowed"
vial frobnicate
is "$RC" 255 "an unknown command exits 255"
like "$ERR" "unknown command frobnicate" "and names it"
vial exec --bogus "$IMG" true
is "$RC|$(echo "$ERR" | wc -l)" "255|1" "an unknown option exits 255 with one line"
vial exec
like "$RC $ERR" "^255 vial: exec: no image given" "a missing image is a usage error"
vial exec "$IMG"
like "$RC $ERR" "^255 vial: exec: no command given" "a missing command is a usage error"
clean "usage errors"
done_testing
