/*
 * Loop devices, as util-linux and systemd attach them: under a lock on
 * /dev/loop-control, GET_FREE, LOOP_CONFIGURE (or the legacy pair), read
 * only and autoclear, so the device goes with the last close of it: the
 * last mount, or our fd when vial dies before mounting.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "vial.h"

#define LOCK_WAIT_S 3

static void on_alarm(int sig)
{
	(void)sig;	/* only to interrupt flock */
}

/*
 * The lock keeps other vials (and systemd, util-linux) from taking the
 * device between GET_FREE and LOOP_CONFIGURE, and makes the look for a
 * shared device and the allocation one step. A user can SIGSTOP their own
 * vial while it holds the lock, so the wait is bounded: without the lock
 * everything still works (the kernel answers EBUSY and we retry), vial
 * only shares less.
 */
static int ctl_open_locked(void)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	int fd, rc;

	if ((fd = priv_loop_open("/dev/loop-control", O_RDWR)) < 0)
		die_errno("cannot open /dev/loop-control (is the loop module loaded?)");
	if (sigaction(SIGALRM, &sa, &old))	/* no SA_RESTART: flock gives EINTR */
		die_errno("sigaction");
	alarm(LOCK_WAIT_S);
	rc = flock(fd, LOCK_EX);
	alarm(0);
	if (sigaction(SIGALRM, &old, NULL))
		die_errno("sigaction");
	if (rc && errno != EINTR)
		die_errno("flock /dev/loop-control");
	if (rc)
		debug("/dev/loop-control locked for %d s: going on without the lock",
		      LOCK_WAIT_S);
	return fd;
}

/* devtmpfs makes the node on GET_FREE/ADD; on a static /dev we make it. */
static void node_make(int ctl, unsigned n, const char *path)
{
	if (ioctl(ctl, LOOP_CTL_ADD, n) < 0 && errno != EEXIST)
		die_errno("cannot add loop device %u (LOOP_CTL_ADD)", n);
	if (priv_loop_node(n))
		die_errno("cannot create %s (no devtmpfs on /dev?)", path);
	debug("made %s", path);
}

/* Open /dev/loopN read-only, making the node when /dev lacks it (ctl >= 0). */
static int dev_open(int ctl, struct loopdev *ld, unsigned n)
{
	struct stat st;

	snprintf(ld->path, sizeof ld->path, "/dev/loop%u", n);
	ld->n = n;
	ld->fd = priv_loop_open(ld->path, O_RDONLY);
	if (ld->fd < 0 && errno == ENOENT && ctl >= 0) {
		node_make(ctl, n, ld->path);
		return dev_open(-1, ld, n);
	}
	if (ld->fd < 0)
		return -1;
	/* Only the loop driver's own device may get our image. */
	if (fstat(ld->fd, &st) || !S_ISBLK(st.st_mode) ||
	    st.st_rdev != makedev(LOOP_MAJOR, n)) {
		close(ld->fd);
		ld->fd = -1;
		errno = ENOTBLK;
		return -1;
	}
	return ld->fd;
}

/* Is this device bound read-only to exactly our image and range? */
static int bound_to(int fd, const struct image *img)
{
	struct loop_info64 i;

	if (ioctl(fd, LOOP_GET_STATUS64, &i))
		return 0;
	return i.lo_device == img->st.st_dev && i.lo_inode == img->st.st_ino &&
	       i.lo_offset == img->offset && i.lo_sizelimit == img->size &&
	       (i.lo_flags & LO_FLAGS_READ_ONLY);
}

/* Attached (privop.c) and checked: Linux 5.8 ignored lo_sizelimit in
 * LOOP_CONFIGURE, so it is set once more. */
static int configure(const struct loopdev *ld, const struct image *img)
{
	int rc = priv_loop_attach(ld, img);

	if (rc == 0 && !bound_to(ld->fd, img) &&
	    (priv_loop_status(ld, img) || !bound_to(ld->fd, img)))
		die("%s: %s did not take the image's offset and size", img->path, ld->path);
	return rc;
}

/* Is /dev/loopN bound to the file at `want`? The sysfs name is a hint. */
static int backed_by(unsigned n, const char *want)
{
	char path[80], have[PATH_MAX + 16];
	ssize_t len;

	snprintf(path, sizeof path, "/sys/devices/virtual/block/loop%u/loop/backing_file", n);
	len = fd_slurp(open(path, O_RDONLY | O_CLOEXEC), have, sizeof have);
	return len > 1 && (size_t)len - 1 == strlen(want) && !memcmp(have, want, (size_t)len - 1);
}

/*
 * A device some other job already bound to this image: share it. The
 * candidates are the loop devices in /proc/partitions (only bound ones
 * have a size), then the sysfs name is a hint. What counts is
 * LOOP_GET_STATUS64 on our own open fd: once we hold it, autoclear cannot
 * free the device, so a device cleared (and perhaps rebound to another
 * file) between the look and the open fails this check instead of being
 * mounted.
 */
static int find_shared(const struct image *img, struct loopdev *ld)
{
	static char parts[1 << 16];
	char want[PATH_MAX], path[32], *line, *save = NULL;
	ssize_t n = 0, len = 0;
	int fd, found = 0, end;
	unsigned major, u;

	n = readlink(fdpath(path, img->fd), want, sizeof want - 1);
	if (n <= 0 || (fd = open("/proc/partitions", O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	want[n] = 0;
	while (len < (ssize_t)sizeof parts - 1 &&
	       (n = read(fd, parts + len, sizeof parts - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	parts[len] = 0;
	for (line = strtok_r(parts, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
		end = 0;
		if (sscanf(line, "%u %*u %*u loop%u%n", &major, &u, &end) != 2 || major != LOOP_MAJOR ||
		    line[end] || u >= policy.max_loops || !backed_by(u, want))
			continue;
		if (dev_open(-1, ld, u) < 0)
			continue;	/* ENXIO: being cleared right now */
		found = bound_to(ld->fd, img);
		if (!found)
			close(ld->fd);
	}
	return found;
}

static void attach_new(int ctl, const struct image *img, struct loopdev *ld)
{
	unsigned seed = (unsigned)getpid();

	for (int t = 0; t < LOOP_TRIES; t++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			die_errno("%s: no free loop device (LOOP_CTL_GET_FREE; "
				  "the loop module's max_loop?)", img->path);
		if ((unsigned)n >= policy.max_loops)
			die("%s: no free loop device below the site limit "
			    "MAX_LOOP_DEVICES=%u (first free: /dev/loop%d)",
			    img->path, policy.max_loops, n);
		if (dev_open(ctl, ld, (unsigned)n) < 0) {
			if (errno != ENXIO)	/* ENXIO: being cleared: retry */
				die_errno("%s: cannot open %s", img->path, ld->path);
		} else if (configure(ld, img) == 0) {
			return;
		} else {
			int e = errno;
			close(ld->fd);
			errno = e;
			if (e != EBUSY && e != ENODEV && e != EAGAIN)
				die_errno("%s: cannot attach to %s", img->path, ld->path);
		}
		/*
		 * Someone who does not take the lock (losetup, udisks, a vial
		 * that gave up waiting for it) took the device, or it is being
		 * cleared: back off with jitter and ask for another.
		 */
		debug("%s: %s, retry %d", ld->path, strerror(errno), t + 1);
		nanosleep(&(struct timespec){ 0, (200 + rand_r(&seed) % 2000) * 1000L }, NULL);
	}
	die("%s: no loop device could be attached after %d tries (busy: try again)",
	    img->path, LOOP_TRIES);
}

/*
 * A device already bound to the image needs no lock: our open fd holds it
 * (see find_shared). Only when there is none do we lock and look again,
 * so that two launches of a cold image end up on one device.
 */
void loop_attach(const struct image *img, struct loopdev *ld)
{
	int ctl;

	if (policy.share_loops && find_shared(img, ld)) {
		debug("sharing %s", ld->path);
	} else {
		ctl = ctl_open_locked();
		if (policy.share_loops && find_shared(img, ld))
			debug("sharing %s", ld->path);
		else
			attach_new(ctl, img, ld);
		close(ctl);	/* the lock: held until our device is bound */
	}
	debug("image %s on %s", img->path, ld->path);
}

void loop_release(struct loopdev *ld)
{
	if (ld->fd >= 0 && close(ld->fd))
		die_errno("close %s", ld->path);
	ld->fd = -1;
}
