/*
 * floor: the least a setuid launcher must do to run a command in a
 * squashfs image, and nothing else. It is the yardstick for vial: same
 * privilege model (installed setuid root, drops to the caller), same
 * kernel calls for the image, none of vial's checks or container dressing.
 *
 *   floor IMAGE CMD [ARG...]           cold: attach a free loop device
 *   floor -w /dev/loopN IMAGE CMD ...  warm: mount a device already bound
 *
 * Not a launcher anyone should install: no policy, no checks beyond the
 * syscall results. Mount point: /mnt, hidden in our own mount namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/loop.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#define MNT "/mnt"

static _Noreturn void die(const char *what)
{
	dprintf(2, "floor: %s: %s\n", what, strerror(errno));
	_exit(255);
}

/* LOOP_CTL_GET_FREE, then LOOP_CONFIGURE read-only and autoclear. */
static int attach(int img, char dev[32])
{
	struct loop_config c = { 0 };
	int ctl, n, fd;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		die("open /dev/loop-control");
	n = ioctl(ctl, LOOP_CTL_GET_FREE);
	if (n < 0)
		die("LOOP_CTL_GET_FREE");
	snprintf(dev, 32, "/dev/loop%d", n);
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(dev);
	c.fd = (unsigned)img;
	c.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	if (ioctl(fd, LOOP_CONFIGURE, &c))
		die("LOOP_CONFIGURE");
	close(ctl);
	return fd;
}

int main(int argc, char **argv)
{
	const char *warm = NULL;
	uid_t uid = getuid();
	gid_t gid = getgid(), groups[256];
	int ngroups = getgroups(256, groups);
	char dev[32];
	int img, loop;

	if (argc > 2 && !strcmp(argv[1], "-w")) {
		warm = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 3) {
		dprintf(2, "usage: floor [-w /dev/loopN] IMAGE CMD [ARG...]\n");
		return 255;
	}
	img = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (img < 0)
		die(argv[1]);
	if (warm) {
		loop = open(warm, O_RDONLY | O_CLOEXEC);
		if (loop < 0)
			die(warm);
		snprintf(dev, sizeof dev, "%s", warm);
	} else {
		loop = attach(img, dev);
	}
	if (unshare(CLONE_NEWNS))
		die("unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL))
		die("make / slave");
	if (mount(dev, MNT, "squashfs", MS_RDONLY | MS_NOSUID | MS_NODEV, NULL))
		die("mount");
	close(loop);	/* the mount holds the device now; autoclear follows it */
	close(img);
	if (chroot(MNT) || chdir("/"))
		die("chroot");
	if (ngroups < 0 || setgroups((size_t)ngroups, groups) ||
	    setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		die("drop privileges");
	execvp(argv[2], argv + 2);
	die(argv[2]);
}
