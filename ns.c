/*
 * Namespaces (the mount namespace comes first, from main.c: privop.c's
 * priv_mount_ns) and the container's root. The image is mounted on a private
 * staging tmpfs, under an overlay whose upper layer is on that tmpfs (so
 * missing mount points can be made); the system's file systems (/proc,
 * /sys, /dev) and the caller's binds (bind.c) are mounted there, every
 * destination resolved inside the new root, and only then does vial
 * pivot into it.
 */
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vial.h"

#ifndef ST_NOSYMFOLLOW
#define ST_NOSYMFOLLOW 0x2000	/* Linux 5.10 */
#endif
#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

/* The others asked for, just before the container is built: a process
 * vial starts before (a LOOP_LINGER holder) stays out of them. */
void ns_isolate(const struct launch *l)
{
	int flags = 0;

	flags |= l->pid ? CLONE_NEWPID : 0;
	flags |= l->ipc ? CLONE_NEWIPC : 0;
	flags |= l->net ? CLONE_NEWNET : 0;
	flags |= l->hostname ? CLONE_NEWUTS : 0;
	if (flags)
		priv_unshare(flags, l->hostname);
}

/* The staging tmpfs, the image under it, and the overlay: our new root. */
static int stage(struct launch *l)
{
	static char o[3 * PATH_MAX + 64];
	char size[64];
	const char *s = policy.stage_dir;
	int root, image, upper, at, dir = protect_dir_open(s, 1);

	/* Every directory above it root's and writable by root alone: no
	 * one can swap a component for a symlink while root mounts there. */
	if (dir < 0)
		die("%s (STAGE_DIR) must be root's, below directories only root can write", s);
	/* With --writable-tmpfs what the command writes lands here too. */
	snprintf(size, sizeof size, "mode=0700,size=%s",
		 l->writable_tmpfs ? policy.writable_tmpfs_size : "16m");
	at = priv_stage(dir, size);
	close(dir);
	image = image_mount(&l->img, &l->loop, at, "lower");
	loop_release(&l->loop);
	/* The image's /etc/passwd and group with the caller added, in the upper layer. */
	if ((upper = priv_look(at, "upper", O_DIRECTORY)) < 0)
		die_errno("open %s/upper", s);
	etc_add_user(image, upper);
	close(upper);
	snprintf(o, sizeof o, "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", s, s, s);
	if ((dir = priv_look(at, "root", O_DIRECTORY)) < 0 ||
	    priv_mount("vial", "overlay", dir, MS_NOSUID | MS_NODEV, o))
		die_errno("mount overlay on %s/root", s);
	close(dir);
	if ((root = priv_look(at, "root", O_DIRECTORY)) < 0)
		die_errno("open %s/root", s);
	bind_stage(root, image);
	close(at);
	return root;
}

/* Flags the host mount already has must survive the bind (a ro host
 * mount must not become writable in the container). */
unsigned long ns_host_flags(int fd)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (fstatvfs(fd, &sv))
		die_errno("statvfs");
	f |= (sv.f_flag & ST_RDONLY) ? MS_RDONLY : 0;
	f |= (sv.f_flag & ST_NOSUID) ? MS_NOSUID : 0;
	f |= (sv.f_flag & ST_NODEV) ? MS_NODEV : 0;
	f |= (sv.f_flag & ST_NOEXEC) ? MS_NOEXEC : 0;
	f |= (sv.f_flag & ST_NOATIME) ? MS_NOATIME : 0;
	f |= (sv.f_flag & ST_NODIRATIME) ? MS_NODIRATIME : 0;
	f |= (sv.f_flag & ST_RELATIME) ? MS_RELATIME : 0;
	f |= (sv.f_flag & ST_NOSYMFOLLOW) ? MS_NOSYMFOLLOW : 0;
	return f;
}

/* --contain: a minimal /dev of our own instead of the host's. */
static void contain_dev(int root, const struct launch *l, unsigned long w)
{
	static const char *nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	char path[32];
	int dev, src;

	bind_fs(root, "tmpfs", "/dev", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
	dev = openat(root, "dev", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dev < 0)
		die_errno("open /dev in the container");
	priv_fill_dev(dev);
	for (size_t i = 0; i < LEN(nodes); i++) {
		snprintf(path, sizeof path, "/dev/%s", nodes[i]);
		src = open(path, O_PATH | O_CLOEXEC);
		if (src >= 0)
			bind_host(root, src, path, MS_NOSUID | MS_NOEXEC, 1);
	}
	if (!(l->no_mount & NM_DEVPTS))
		bind_fs(root, "devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC,
			  "newinstance,ptmxmode=0666,mode=0620");
	bind_fs(root, "tmpfs", "/dev/shm", w, "mode=1777");
	close(dev);
}

/* /proc, /sys and /dev, each unless --no-mount names it. */
static void mount_system(int root, struct launch *l, int dev, int proc, unsigned long w)
{
	const unsigned long f = MS_NOSUID | MS_NODEV;

	/* The host's /proc (and its hidepid= policy) in the host's PID
	 * namespace; a new one for a new PID namespace. */
	if (l->pid)
		bind_fs(root, "proc", "/proc", f | MS_NOEXEC, NULL);
	else
		bind_host(root, proc, "/proc", f | MS_NOEXEC, 0);
	if (!(l->no_mount & NM_SYS))
		bind_fs(root, "sysfs", "/sys", f | MS_RDONLY | MS_NOEXEC, NULL);
	if (l->no_mount & NM_DEV)
		;
	else if (l->contain)
		contain_dev(root, l, w);
	else	/* devices need dev; /dev/shm and /dev/mqueue are writable */
		bind_host(root, dev, "/dev", w & ~MS_NODEV, 0);
}

void ns_build(struct launch *l)
{
	unsigned long f = MS_NOSUID | MS_NODEV, w = f | (l->img.sealed ? MS_NOEXEC : 0);
	int root, dev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC), proc = -1;
	const char *home;

	/* Everything from the host, opened before the stage covers anything. */
	if (dev < 0)
		die_errno("open /dev");
	if (!l->pid && (proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		die_errno("open /proc");
	home = bind_open(l);
	gpu_open(l);
	etc_prepare(home);
	root = stage(l);
	/* /tmp first: a bind of it copies the stage and all that is mounted
	 * in it so far, only to detach the copy (bind.c's stage_below). */
	bind_tmp(root, l);
	mount_system(root, l, dev, proc, w);
	bind_caller(root, l);
	/* The overlay is a mount of its own: a sandbox on a noexec host
	 * mount must stay noexec through it. */
	if (l->img.fmt == FMT_DIR)
		f |= ns_host_flags(l->img.fd) & MS_NOEXEC;
	/* --writable-tmpfs: writable, still nosuid,nodev; the upper layer is
	 * the staging tmpfs, capped at WRITABLE_TMPFS_SIZE. */
	f |= l->writable_tmpfs ? 0 : MS_RDONLY;
	if (priv_remount(root, f))
		die_errno("remount the container root");
	priv_pivot(root);
	bind_chdir(l, home);
}
