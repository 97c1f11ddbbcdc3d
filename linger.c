/*
 * Loop devices that outlive their container (config.h LOOP_LINGER): bound
 * without autoclear, so the next launch of the image finds the device,
 * its superblock and page cache warm. Each lingering device has a state
 * file LINGER_DIR/loopN whose mtime is its last use; any vial run
 * releases the devices it finds idle (an exclusive open succeeds: nothing
 * mounts them) and unused for LOOP_LINGER seconds.
 *
 * Never a device in use: a mount holds its device exclusively, so the
 * exclusive open fails; a launch that holds the device open but has not
 * mounted it yet keeps it bound, as LOOP_CLR_FD only marks a device that
 * others hold open for autoclear. Only devices vial bound for lingering
 * (LINGER_TAG in lo_file_name, no autoclear) are ever released.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vial.h"

/* The state directory, root's and made by vial: an fd, or -1 (none yet). */
static int state_dir(int make)
{
	struct stat st;
	int fd, rc = -1;

	if (make) {
		priv_raise();
		rc = mkdir(policy.linger_dir, 0755);
		priv_lower();
		if (rc && errno != EEXIST)
			die_errno("mkdir %s (LINGER_DIR)", policy.linger_dir);
	}
	if (rc == 0) {		/* ours: root's group too, not our egid */
		priv_raise();
		rc = chown(policy.linger_dir, 0, 0);
		priv_lower();
		if (rc)
			die_errno("chown %s (LINGER_DIR)", policy.linger_dir);
	}
	fd = open(policy.linger_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && !make)
		return -1;
	if (fd < 0 || fstat(fd, &st))
		die_errno("open %s (LINGER_DIR)", policy.linger_dir);
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		die("%s (LINGER_DIR) must be root's own directory, not writable by others",
		    policy.linger_dir);
	return fd;
}

/* Create loopN's state file, or set its mtime to now (O_TRUNC does, on an
 * empty file too): the device was used now. */
void linger_touch(unsigned n)
{
	char name[32];
	int dir = state_dir(1), fd;

	snprintf(name, sizeof name, "loop%u", n);
	priv_raise();
	fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	priv_lower();
	if (fd < 0)
		die_errno("create %s/%s", policy.linger_dir, name);
	close(fd);
	close(dir);
}

/* Under the loop-control lock, or not at all: another vial is attaching. */
static int try_lock(void)
{
	int fd;

	priv_raise();
	fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	priv_lower();
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void forget(int dir, const char *name)
{
	priv_raise();
	if (unlinkat(dir, name, 0) && errno != ENOENT)
		die_errno("remove %s/%s", policy.linger_dir, name);
	priv_lower();
}

/* Release loopN if it is idle and ours; a busy one lingers from now on. */
static void release(int dir, const char *name, unsigned n)
{
	struct loop_info64 i;
	char path[32];
	int fd;

	snprintf(path, sizeof path, "/dev/loop%u", n);
	priv_raise();
	fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	priv_lower();
	if (fd < 0 && errno == EBUSY) {
		linger_touch(n);	/* mounted: in use */
		return;
	}
	if (fd >= 0 && !ioctl(fd, LOOP_GET_STATUS64, &i) && !(i.lo_flags & LO_FLAGS_AUTOCLEAR) &&
	    !strcmp((char *)i.lo_file_name, LINGER_TAG)) {
		priv_raise();
		if (ioctl(fd, LOOP_CLR_FD, 0))
			debug("%s: LOOP_CLR_FD: %s", path, strerror(errno));
		else
			debug("released %s: idle for %u s", path, policy.linger);
		priv_lower();
	}
	forget(dir, name);	/* released, unbound, or not a lingering device */
	if (fd >= 0)
		close(fd);	/* the last close detaches it */
}

/* Release every idle device unused for LOOP_LINGER seconds. */
void linger_sweep(void)
{
	_Alignas(struct dirent) char ents[4096];
	struct stat st;
	struct dirent *d;
	time_t now = time(NULL);
	int dir = state_dir(0), lock = -1, len = 0, at = 0, end;
	unsigned n;

	if (dir < 0)
		return;
	while (lock != -2) {
		if (at >= len && (at = 0, len = getdents(dir, (void *)ents, sizeof ents)) <= 0)
			break;
		d = (struct dirent *)(ents + at);
		at += d->d_reclen;
		end = 0;
		if (sscanf(d->d_name, "loop%u%n", &n, &end) != 1 || d->d_name[end] ||
		    fstatat(dir, d->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    now - st.st_mtime < (time_t)policy.linger)
			continue;
		if (lock < 0 && (lock = try_lock()) < 0) {
			lock = -2;	/* busy: a later run sweeps */
			continue;
		}
		/* Again under the lock: a launch may have just used it. */
		if (!fstatat(dir, d->d_name, &st, AT_SYMLINK_NOFOLLOW) &&
		    now - st.st_mtime >= (time_t)policy.linger)
			release(dir, d->d_name, n);
	}
	if (lock >= 0)
		close(lock);
	close(dir);
}
