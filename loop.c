/*
 * Loop devices, as util-linux and systemd attach them: under a lock on
 * /dev/loop-control, GET_FREE, LOOP_CONFIGURE (or the legacy pair), read
 * only and autoclear, so the device goes with the last mount of it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "vial.h"

#define TRIES 64

static void nap(long usec)
{
	struct timespec ts = { 0, usec * 1000 };

	nanosleep(&ts, NULL);
}

static int ctl_open_locked(void)
{
	int fd;

	priv_raise();
	fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	priv_lower();
	if (fd < 0)
		die_errno("cannot open /dev/loop-control (loop module missing?)");
	if (flock(fd, LOCK_EX))
		die_errno("flock /dev/loop-control");
	return fd;
}

/* devtmpfs makes the node on GET_FREE/ADD; on a static /dev we do, 0660 root:disk. */
static void node_make(int ctl, unsigned n, const char *path)
{
	struct group *g = getgrnam("disk");
	int rc;

	if (ioctl(ctl, LOOP_CTL_ADD, n) < 0 && errno != EEXIST)
		die_errno("LOOP_CTL_ADD %u", n);
	if (access(path, F_OK) == 0)
		return;
	priv_raise();
	rc = mknod(path, S_IFBLK | 0660, makedev(7, n));
	if (rc == 0 || errno == EEXIST)
		rc = chown(path, 0, g ? g->gr_gid : 0);
	priv_lower();
	if (rc)
		die_errno("cannot create %s", path);
}

static int dev_open(int ctl, struct loopdev *ld, unsigned n)
{
	snprintf(ld->path, sizeof ld->path, "/dev/loop%u", n);
	priv_raise();
	ld->fd = open(ld->path, O_RDONLY | O_CLOEXEC);
	priv_lower();
	if (ld->fd < 0 && errno == ENOENT && ctl >= 0) {
		node_make(ctl, n, ld->path);
		return dev_open(-1, ld, n);
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

/* Legacy attach for kernels before 5.8 (no LOOP_CONFIGURE). */
static int configure_legacy(int fd, const struct image *img)
{
	struct loop_info64 i = { 0 };

	i.lo_offset = img->offset;
	i.lo_sizelimit = img->size;
	i.lo_flags = LO_FLAGS_AUTOCLEAR;
	if (ioctl(fd, LOOP_SET_FD, img->fd))
		return -1;
	for (int t = 0; ioctl(fd, LOOP_SET_STATUS64, &i); t++) {
		if (errno != EAGAIN || t == TRIES) {
			int e = errno;
			ioctl(fd, LOOP_CLR_FD, 0);
			errno = e;
			return -1;
		}
		nap(1000);
	}
	if (img->offset && ioctl(fd, BLKFLSBUF, 0))
		return -1;
	return 0;
}

static int configure(int fd, const struct image *img)
{
	static int legacy;
	struct loop_config c = { 0 };
	int rc;

	c.fd = (uint32_t)img->fd;
	c.info.lo_offset = img->offset;
	c.info.lo_sizelimit = img->size;
	c.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	priv_raise();
	if (!legacy) {
		rc = ioctl(fd, LOOP_CONFIGURE, &c);
		if (rc && (errno == EINVAL || errno == ENOTTY))
			legacy = 1;
	}
	if (legacy)
		rc = configure_legacy(fd, img);
	priv_lower();
	/* Linux 5.8 ignored lo_sizelimit in LOOP_CONFIGURE: check it took. */
	if (rc == 0 && !bound_to(fd, img))
		die("%s: loop device %d did not take the image's offset and size",
		    img->path, fd);
	return rc;
}

/* A device some other job already bound to this image: share it. */
static int find_shared(const struct image *img, struct loopdev *ld)
{
	char want[PATH_MAX], path[64], have[PATH_MAX + 16];
	ssize_t n;
	struct dirent *d;
	DIR *dir;
	int fd, found = 0;

	snprintf(path, sizeof path, "/proc/self/fd/%d", img->fd);
	n = readlink(path, want, sizeof want - 1);
	if (n <= 0 || !(dir = opendir("/sys/block")))
		return 0;
	want[n] = 0;
	while (!found && (d = readdir(dir))) {
		unsigned u;
		if (sscanf(d->d_name, "loop%u", &u) != 1 || u >= policy.max_loops)
			continue;
		snprintf(path, sizeof path, "/sys/block/loop%u/loop/backing_file", u);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;	/* not bound */
		n = read(fd, have, sizeof have - 1);
		close(fd);
		if (n <= 1 || (size_t)n - 1 != strlen(want) || memcmp(have, want, (size_t)n - 1))
			continue;
		if (dev_open(-1, ld, u) < 0)
			continue;
		found = bound_to(ld->fd, img);	/* status read fails (EIO): skip */
		if (!found)
			close(ld->fd);
	}
	closedir(dir);
	return found;
}

static void attach_new(int ctl, const struct image *img, struct loopdev *ld)
{
	unsigned seed = (unsigned)getpid();

	for (int t = 0; t < TRIES; t++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			die_errno("no free loop device (LOOP_CTL_GET_FREE)");
		if ((unsigned)n >= policy.max_loops)
			die("no free loop device (MAX_LOOP_DEVICES=%u)", policy.max_loops);
		if (dev_open(ctl, ld, (unsigned)n) < 0)
			die_errno("cannot open %s", ld->path);
		if (configure(ld->fd, img) == 0)
			return;
		if (errno != EBUSY && errno != ENODEV && errno != EAGAIN)
			die_errno("%s: cannot attach to %s", img->path, ld->path);
		close(ld->fd);
		/* Someone else (losetup, udisks) took it: back off and retry. */
		nap(200 + (long)(rand_r(&seed) % 2000));
	}
	die("%s: no loop device could be attached after %d tries", img->path, TRIES);
}

void loop_attach(const struct image *img, struct loopdev *ld)
{
	int ctl = ctl_open_locked();

	if (policy.share_loops && find_shared(img, ld))
		debug("sharing %s", ld->path);
	else
		attach_new(ctl, img, ld);
	close(ctl);	/* the lock: held until our device is bound */
	debug("image %s on %s", img->path, ld->path);
}

void loop_release(struct loopdev *ld)
{
	if (ld->fd >= 0 && close(ld->fd))
		die_errno("close %s", ld->path);
	ld->fd = -1;
}
