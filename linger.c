/*
 * LOOP_LINGER: an image's file system stays mounted for LOOP_LINGER
 * seconds after the last launch that used it, so the next launch is warm.
 * A bound loop device alone does not do it: the page cache that matters
 * is the file system's, and it goes with the last mount (measured: a
 * launch on a bound but unmounted device is as slow as a cold one).
 *
 * So a holder process keeps one read-only mount of the image in a mount
 * namespace that holds nothing else, with a lock on LINGER_DIR/loopN. Each
 * launch on the device sets that file's mtime (open O_TRUNC); the holder
 * exits once it is LOOP_LINGER seconds old. Its exit drops only its own
 * mount: containers still using the image keep it, and autoclear frees
 * the device after the last one, as always. A holder runs as the caller,
 * with no capability, not dumpable; killing it only costs warmth. It
 * stays only if its launch got as far as the command's exec: a launch that
 * fails leaves nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vial.h"

/* The holder: the mount; then, if its launch executed the command, sleep
 * until the state file is old enough. */
static _Noreturn void hold(const struct image *img, const struct loopdev *ld, int lock,
			   int go)
{
	struct stat st;
	time_t left;
	char c;
	int null = open("/dev/null", O_RDWR), root;

	/* Nothing of the caller's: no terminal, no pipe kept open, no fd. */
	if (setsid() < 0 || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
	    dup2(null, 2) < 0)
		_exit(1);
	fd_close_all(0, lock, ld->fd, go);	/* an MPI peer must not wait on one */
	priv_mount_ns(1);	/* the image alone, in a namespace of its own, made the root */
	root = image_mount(img, ld, AT_FDCWD, policy.stage_dir);
	priv_pivot(root);
	close(root);
	close(ld->fd);		/* the mount holds the device now */
	priv_drop_forever(NULL);
	/* "1": the command is about to be exec'd; then EOF when the exec
	 * closed the socket, or "0" when it failed (command not found). */
	if (read(go, &c, 1) != 1 || c != '1' || read(go, &c, 1) != 0)
		_exit(0);	/* the launch failed: no holder */
	close(go);
	while (!fstat(lock, &st) && (left = st.st_mtime + (time_t)policy.linger - time(NULL)) > 0)
		sleep((unsigned)left);
	_exit(0);
}

/*
 * A launch on /dev/loopN: mark it used now, and when no holder has it
 * (the lock is free), start one - twice forked, so neither this vial nor
 * the caller's shell ever waits for it. Returns our end of the socket
 * that tells it the launch got to the exec (close-on-exec), or -1.
 */
int linger_hold(const struct image *img, const struct loopdev *ld)
{
	char name[32];
	pid_t pid;
	/* LINGER_DIR, made if missing: root's alone, below directories only root can write */
	int dir = protect_dir_make(policy.linger_dir, "LINGER_DIR", 0755), lock, go[2];

	snprintf(name, sizeof name, "loop%u", ld->n);
	/* root:root 0600: nobody else may open it, so nobody else can take
	 * its lock and keep holders from starting. */
	if ((lock = priv_state_open(dir, name, O_WRONLY | O_CREAT | O_TRUNC)) < 0)
		die_errno("%s/%s", policy.linger_dir, name);
	close(dir);
	if (flock(lock, LOCK_EX | LOCK_NB)) {
		close(lock);	/* held: its holder sees the new mtime */
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go)) {
		debug("linger: socketpair: %s", strerror(errno));
		close(lock);
		return -1;
	}
	if ((pid = fork()) == 0) {
		if (fork() == 0)
			hold(img, ld, lock, go[1]);
		_exit(0);
	}
	close(lock);	/* the holder's copy keeps the lock */
	close(go[1]);
	if (pid < 0 || waitpid(pid, NULL, 0) != pid)
		debug("linger: no holder for %s: %s", ld->path, strerror(errno));
	return go[0];
}

/*
 * `ok` 1: the command is about to be exec'd (the socket is close-on-exec:
 * the holder stays if EOF follows); 0: the exec failed, the holder goes.
 */
void linger_launched(int go, int ok)
{
	if (go >= 0 && send(go, ok ? "1" : "0", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
		debug("linger: the holder is gone: %s", strerror(errno));
}
