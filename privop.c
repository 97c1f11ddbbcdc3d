/*
 * The privileged room: all that vial does as root, one function per
 * operation (bubblewrap's privileged_op is the model), on file
 * descriptors unprivileged code opened with the caller's rights, or on
 * names vial made. Each checks what it may touch, raises around its
 * kernel call alone and says in one line why that needs root. No other
 * file raises; priv.c keeps the credential changes (the drop, its proof,
 * target mode, the shield). The operations:
 *
 * namespaces  priv_mount_ns: unshare(NEWNS), / slave or private; priv_unshare: PID, IPC,
 *             net, UTS asked for, sethostname, lo up; priv_setns: an instance's, by fd;
 *             priv_userns (sealed, in the drop): unshare(NEWUSER), a mapper's uid_map
 *             and gid_map, user.max_user_namespaces 0
 * mounts      in vial's namespace only, nosuid always: priv_stage (tmpfs on STAGE_DIR, its
 *             four dirs), priv_mount (the image, overlay, tmpfs, proc, sysfs, devpts, on
 *             an fd), priv_bind (recursive, fd on fd; or move_mount), priv_clone
 *             (open_tree), priv_setattr (mount_setattr: ro, nodev, noexec), priv_remount,
 *             priv_detach (a copy of the stage only), priv_pivot (pivot_root, old root out)
 * files       priv_look (openat O_PATH | O_NOFOLLOW), priv_stat (fstatat); in vial's own
 *             file systems: priv_mkdir, priv_create (+ fchown, fchmod), priv_fill_dev
 * state       in LINGER_DIR, INSTANCE_DIR (root's alone): priv_state_mkdir,
 *             priv_state_open (a record, a lock: root:root 0600), priv_state_unlink
 * processes   priv_proc_open: /proc/self/fdinfo/N, /proc/PID, its stat, status, ns files
 * images      priv_open_image (the protected open; IMAGE_GROUP: setfsuid, setfsgid),
 *             priv_loop_open (/dev/loop-control, /dev/loopN), priv_loop_node (mknod,
 *             root:disk 0660), priv_loop_attach (LOOP_CONFIGURE, or LOOP_SET_FD and
 *             LOOP_SET_STATUS64 shielded), priv_loop_status (LOOP_SET_STATUS64)
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <net/if.h>
#include <sched.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vial.h"

#ifndef OPEN_TREE_CLONE		/* linux/mount.h, Linux 5.2 */
#define OPEN_TREE_CLONE 1
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#define MOVE_MOUNT_F_EMPTY_PATH 0x04
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#endif
#define ATTR_RDONLY 0x1		/* linux/mount.h MOUNT_ATTR_*, for mount_setattr */
#define ATTR_NOSUID 0x2
#define ATTR_NODEV 0x4
#define ATTR_NOEXEC 0x8

static int own_ns;		/* priv_mount_ns made the namespace vial mounts in */
static dev_t stage_dev;		/* priv_stage's tmpfs */

/* priv_lower, passing on `rc` (and errno): `return lowered(call)` ran `call` raised. */
static int lowered(int rc)
{
	priv_lower();
	return rc;
}

/* Raised for a mount: in vial's own namespace, never the host's. */
static void raise_to_mount(void)
{
	if (!own_ns)
		die("refusing to mount outside vial's own mount namespace");
	priv_raise();
}

/* Root: a namespace whose mounts never reach the host; a sealed run's gets none either. */
void priv_mount_ns(int private)
{
	priv_raise();
	if (unshare(CLONE_NEWNS))
		die_errno("unshare");
	if (mount(NULL, "/", NULL, MS_REC | (private ? MS_PRIVATE : MS_SLAVE), NULL))
		die_errno("make / a %s mount", private ? "private" : "slave");
	priv_lower();
	own_ns = 1;
}

/* lo, down in a new network namespace, up. */
static void lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr))
		die_errno("loopback interface");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		die_errno("bring up loopback");
	close(fd);
}

/* Root: the namespaces asked for; the name, lo up, only in the UTS, net ones made here. */
void priv_unshare(int flags, const char *hostname)
{
	if (flags & ~(CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS))
		die("unshare: not a namespace vial makes");
	priv_raise();
	if (unshare(flags))
		die_errno("unshare");
	if (hostname && (flags & CLONE_NEWUTS) && sethostname(hostname, strlen(hostname)))
		die_errno("sethostname %s", hostname);
	if (flags & CLONE_NEWNET)
		lo_up();
	priv_lower();
}

/* Root: into an instance's namespace, by its init's fd (instance.c checked the init). */
int priv_setns(int fd, int type)
{
	if (type & ~(CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWNS))
		die("setns: not a namespace vial joins");
	priv_raise();
	return lowered(setns(fd, type));
}

/* Write `s` whole into the file `name` of the directory `dir`. */
static int write_whole(int dir, const char *name, const char *s)
{
	size_t len = strlen(s);
	int fd = openat(dir, name, O_WRONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = write(fd, s, len) == (ssize_t)len ? 0 : -1;
	if (close(fd))
		rc = -1;
	return rc;
}

/*
 * The mapper, a child still root in the parent namespace: only such a
 * process may write another's maps (one that has just unshared may map
 * nothing but its own euid), and a map file opened before the unshare
 * would name the old namespace. All its ids are root's, so the caller can
 * neither signal nor trace it.
 */
static _Noreturn void mapper(pid_t parent, int go, int done, const char *uids, const char *gids)
{
	char p[32], c;
	int proc;

	snprintf(p, sizeof p, "/proc/%d", (int)parent);
	if (setresuid(0, 0, 0) || (proc = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		_exit(1);
	if (read(go, &c, 1) != 1 || write_whole(proc, "uid_map", uids) ||
	    write_whole(proc, "gid_map", gids) || write(done, "1", 1) != 1)
		_exit(1);
	_exit(0);
}

/*
 * Root (so root owns it, and the caller's other processes hold no
 * capability in it): a new user namespace mapping only the caller's ids;
 * 0 stays unmapped: nothing inside can ever be root. Called by the drop,
 * raised, after setgroups (the groups come along unmapped or not: they
 * still grant access), before the ids change. Nothing inside may make a
 * user namespace of its own either (the filter says so too).
 */
void priv_userns(const char *image)
{
	static char uids[SEAL_MAP], gids[SEAL_MAP];
	int go[2], done[2], st;
	pid_t self = getpid(), pid;
	char c;

	seal_maps(uids, gids);
	if (pipe2(go, O_CLOEXEC) || pipe2(done, O_CLOEXEC))
		die_errno("pipe");
	if ((pid = fork()) < 0)
		die_errno("fork");
	if (pid == 0) {
		close(go[1]);
		close(done[0]);
		mapper(self, go[0], done[1], uids, gids);
	}
	close(go[0]);
	close(done[1]);
	if (unshare(CLONE_NEWUSER))
		seal_refused(image, errno);
	if (write(go[1], "1", 1) != 1 || read(done[0], &c, 1) != 1 ||
	    waitpid(pid, &st, 0) != pid || st)
		die("%s: the sealed run's user namespace could not be mapped", image);
	close(go[1]);
	close(done[0]);
	/* Per namespace: 0 here refuses any nested one (ENOSPC). */
	if (write_whole(AT_FDCWD, "/proc/sys/user/max_user_namespaces", "0"))
		die_errno("%s: user.max_user_namespaces=0 in the sealed run", image);
}

/* Root: the staging tmpfs on STAGE_DIR's fd (walked: only root can change the path, opened
 * again to reach the tmpfs) and its lower, upper, work, root. Returns an fd of the tmpfs. */
int priv_stage(int dir, const char *data)
{
	static const char *sub[] = { "lower", "upper", "work", "root" };
	const char *s = policy.stage_dir;
	struct stat st;
	char p[32];
	int fd;

	raise_to_mount();
	if (mount("vial", fdpath(p, dir), "tmpfs", MS_NOSUID | MS_NODEV, data))
		die_errno("mount staging tmpfs on %s", s);
	fd = open(s, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	for (size_t i = 0; fd >= 0 && i < LEN(sub); i++)
		if (mkdirat(fd, sub[i], 0755))
			die_errno("mkdir %s/%s", s, sub[i]);
	priv_lower();
	if (fd < 0 || fstat(fd, &st))
		die_errno("open %s", s);
	stage_dev = st.st_dev;
	return fd;
}

/* Root: a new file system of `type` on `at`, nosuid. */
int priv_mount(const char *src, const char *type, int at, unsigned long flags, const char *data)
{
	char p[32];

	raise_to_mount();
	return lowered(mount(src, fdpath(p, at), type, flags | MS_NOSUID, data));
}

/* Root: `src` on `at`, recursively (nothing a mount hides uncovered), or moved (priv_clone's). */
int priv_bind(int src, int at, int moved)
{
	char a[32], b[32];

	raise_to_mount();
	if (moved)
		return lowered((int)syscall(SYS_move_mount, src, "", at, "",
					    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
	return lowered(mount(fdpath(a, src), fdpath(b, at), NULL, MS_BIND | MS_REC, NULL));
}

/* Root: a detached copy of the mounts at `fd` (open_tree, 5.2), taken before the stage is. */
int priv_clone(int fd)
{
	raise_to_mount();
	return lowered((int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
				    AT_RECURSIVE | AT_EMPTY_PATH));
}

/* Root: ro, nosuid (always), nodev, noexec added to `fd`'s mount and all below (5.12). */
int priv_setattr(int fd, unsigned long flags)
{
	struct { uint64_t set, clr, propagation, userns_fd; } a = { .set = ATTR_NOSUID };

	a.set |= (flags & MS_RDONLY) ? ATTR_RDONLY : 0;
	a.set |= (flags & MS_NODEV) ? ATTR_NODEV : 0;
	a.set |= (flags & MS_NOEXEC) ? ATTR_NOEXEC : 0;
	raise_to_mount();
	return lowered((int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a,
				    sizeof a));
}

/* Root: the mount at `fd` remounted with `flags` (its own among them), nosuid. */
int priv_remount(int fd, unsigned long flags)
{
	char p[32];

	raise_to_mount();
	return lowered(mount(NULL, fdpath(p, fd), NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | flags,
			     NULL));
}

/* Root: a copy of the stage a recursive bind brought along, detached; no other mount (EXDEV). */
int priv_detach(int fd)
{
	struct stat st;
	char p[32];

	if (fstat(fd, &st) || st.st_dev != stage_dev) {
		errno = EXDEV;
		return -1;
	}
	raise_to_mount();
	return lowered(umount2(fdpath(p, fd), MNT_DETACH));
}

/* Root: into `root`, the old root on top of it and then detached. */
void priv_pivot(int root)
{
	raise_to_mount();
	if (fchdir(root))
		die_errno("chdir to the new root");
	/* pivot_root(".", "."): the old root lands on top, then goes. */
	if (syscall(SYS_pivot_root, ".", "."))
		die_errno("pivot_root");
	if (umount2(".", MNT_DETACH))
		die_errno("detach the old root");
	if (chdir("/"))
		die_errno("chdir /");
	priv_lower();
}

/* Root: search rights in the 0700 stage, root-only dirs of protected paths and images. */
int priv_look(int dir, const char *name, int flags)
{
	priv_raise();
	return lowered(openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC | flags));
}

/* Root: the owner and mode of an image's file the caller cannot open, never its contents. */
int priv_stat(int dir, const char *name, struct stat *st)
{
	priv_raise();
	return lowered(fstatat(dir, name, st, AT_SYMLINK_NOFOLLOW));
}

/* Root: a directory in vial's own file systems (make_mount_point's, etc.c's), `own`'s
 * owner and mode given once made (NULL: root's, with the caller's group). */
int priv_mkdir(int dir, const char *name, mode_t mode, const struct stat *own)
{
	int rc;

	priv_raise();
	rc = mkdirat(dir, name, mode);
	if (rc == 0 && own &&
	    (fchownat(dir, name, own->st_uid, own->st_gid, AT_SYMLINK_NOFOLLOW) ||
	     fchmodat(dir, name, own->st_mode & 07777, 0)))
		rc = -1;
	return lowered(rc);
}

/* Root: a new file there, likewise, open for writing. */
int priv_create(int dir, const char *name, mode_t mode, const struct stat *own)
{
	int fd;

	priv_raise();
	fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd >= 0 && own && (fchown(fd, own->st_uid, own->st_gid) ||
			       fchmod(fd, own->st_mode & 07777))) {
		close(fd);
		fd = -1;
	}
	return lowered(fd);
}

/* Root: in --contain's /dev, vial's tmpfs: files to bind nodes on, pts/, shm/, links. */
void priv_fill_dev(int dev)
{
	static const char *nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

	priv_raise();
	for (size_t i = 0; i < LEN(nodes); i++) {
		int fd = openat(dev, nodes[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0 || close(fd))
			die_errno("create /dev/%s", nodes[i]);
	}
	if (mkdirat(dev, "pts", 0755) || mkdirat(dev, "shm", 01777) ||
	    symlinkat("pts/ptmx", dev, "ptmx") || symlinkat("/proc/self/fd", dev, "fd") ||
	    symlinkat("/proc/self/fd/0", dev, "stdin") ||
	    symlinkat("/proc/self/fd/1", dev, "stdout") ||
	    symlinkat("/proc/self/fd/2", dev, "stderr"))
		die_errno("populate /dev in the container");
	priv_lower();
}

/* Is `dir` one root alone can write (protect.c walked it)? 0, or -1 (EPERM). */
static int state_dir(int dir)
{
	struct stat st;

	if (!fstat(dir, &st) && st.st_uid == 0 && !(st.st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	errno = EPERM;
	return -1;
}

/* Root: a missing LINGER_DIR or INSTANCE_DIR, or one above it, root:root. */
int priv_state_mkdir(int dir, const char *name, mode_t mode)
{
	int rc;

	if (state_dir(dir))
		return -1;
	priv_raise();
	rc = mkdirat(dir, name, mode);
	if (rc == 0)	/* root's group too, not our egid */
		rc = fchownat(dir, name, 0, 0, AT_SYMLINK_NOFOLLOW);
	return lowered(rc);
}

/* Root: a record or lock in there (the directory itself: "."); made
 * root:root 0600, which no user may open, with O_CREAT. */
int priv_state_open(int dir, const char *name, int flags)
{
	int fd;

	if (state_dir(dir))
		return -1;
	priv_raise();
	fd = openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0 && (flags & O_CREAT) && (fchown(fd, 0, 0) || fchmod(fd, 0600))) {
		close(fd);
		fd = -1;
	}
	return lowered(fd);
}

/* Root: a record removed. */
int priv_state_unlink(int dir, const char *name)
{
	if (state_dir(dir))
		return -1;
	priv_raise();
	return lowered(unlinkat(dir, name, 0));
}

/* Root: a non-dumpable process's /proc files are root's (vial's fdinfo on old kernels,
 * an instance's init), and hidepid= hides it from its user. Read-only, under /proc. */
int priv_proc_open(int dir, const char *name, int flags)
{
	if (dir == AT_FDCWD && strncmp(name, "/proc/", 6)) {
		errno = EPERM;
		return -1;
	}
	priv_raise();
	return lowered(openat(dir, name, O_RDONLY | O_CLOEXEC | flags));
}

/*
 * Root: the protected open of an image that protect.c's walk checked,
 * read-only. With `group` (IMAGE_GROUP, root-squashed NFS, where root's
 * own open becomes nobody's) the caller's fsuid and `group` as fsgid:
 * raised only to be allowed to set fsgid; a nonzero fsuid clears
 * CAP_DAC_OVERRIDE and friends from the effective set.
 */
int priv_open_image(int dir, const char *name, const struct group *group)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK;
	const struct user *u = priv_user();
	int fd, e;

	priv_raise();
	if (group) {
		setfsuid(u->uid);
		setfsgid(group->gr_gid);
		if ((gid_t)setfsgid(-1) != group->gr_gid || (uid_t)setfsuid(-1) != u->uid)
			die("setfsgid: could not switch to the image group");
	}
	fd = openat(dir, name, flags);
	e = errno;
	if (group)
		setfsgid(u->gid);
	priv_lower();	/* seteuid resets fsuid to the caller's */
	if (group && (gid_t)setfsgid(-1) != u->gid)
		die("setfsgid: could not restore the caller's group");
	errno = e;
	return fd;
}

/* Root: the loop driver's nodes are root's (0660 root:disk); those alone. */
int priv_loop_open(const char *path, int flags)
{
	if (strncmp(path, "/dev/loop", 9)) {
		errno = EPERM;
		return -1;
	}
	priv_raise();
	return lowered(open(path, flags | O_CLOEXEC));
}

/* Root: /dev/loopN on a static /dev, as udev makes it (0660 root:disk); one there is udev's. */
int priv_loop_node(unsigned n)
{
	struct group *g = getgrnam("disk");
	char path[32];
	int rc;

	snprintf(path, sizeof path, "/dev/loop%u", n);
	priv_raise();
	rc = mknod(path, S_IFBLK | 0600, makedev(LOOP_MAJOR, n));
	if (rc == 0 && (chown(path, 0, g ? g->gr_gid : 0) || chmod(path, 0660)))
		rc = -1;
	else if (rc && errno == EEXIST)
		rc = 0;
	return lowered(rc);
}

/* Offset, size limit, autoclear; EAGAIN (Linux >= 5.0): dirty pages, again. */
static int set_status(const struct loopdev *ld, const struct image *img)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	struct loop_info64 i = { 0 };

	i.lo_offset = img->offset;
	i.lo_sizelimit = img->size;
	i.lo_flags = LO_FLAGS_AUTOCLEAR;
	for (int t = 0; ioctl(ld->fd, LOOP_SET_STATUS64, &i); t++) {
		if (errno != EAGAIN || t == LOOP_TRIES)
			return -1;
		debug("%s: EAGAIN from LOOP_SET_STATUS64 (dirty pages): retry", ld->path);
		nanosleep(&ms, NULL);
	}
	return 0;
}

/* Root: the image's offset and size limit set (again) on its device. */
int priv_loop_status(const struct loopdev *ld, const struct image *img)
{
	priv_raise();
	return lowered(set_status(ld, img));
}

/*
 * Kernels before 5.8 (no LOOP_CONFIGURE). Read-only follows from the two
 * O_RDONLY fds. From LOOP_SET_FD until LOOP_SET_STATUS64 has set
 * autoclear, death would leave the device bound for good: signals wait
 * until the pair is done (a Ctrl-C, Slurm's SIGTERM), and all three uids
 * are root's, so the caller cannot SIGKILL it half done. Other SIGKILLs
 * cannot be held off; old kernels offer no atomic call (util-linux has
 * the same gap).
 */
static int configure_legacy(const struct loopdev *ld, const struct image *img)
{
	sigset_t all, old;
	int rc = 0, e;

	sigfillset(&all);
	if (sigprocmask(SIG_BLOCK, &all, &old))
		die_errno("sigprocmask");
	priv_shield();
	if (ioctl(ld->fd, LOOP_SET_FD, img->fd)) {
		rc = -1;
	} else if (set_status(ld, img) ||
		   (img->offset && ioctl(ld->fd, BLKFLSBUF, 0))) {	/* stale blocks */
		e = errno;
		if (ioctl(ld->fd, LOOP_CLR_FD, 0))
			debug("%s: LOOP_CLR_FD: %s", ld->path, strerror(errno));
		errno = e;
		rc = -1;
	}
	e = errno;
	priv_unshield();
	if (sigprocmask(SIG_SETMASK, &old, NULL))
		die_errno("sigprocmask");
	errno = e;
	return rc;
}

/* Root: the image's fd on the loop device vial opened, read-only, autoclear, its range. */
int priv_loop_attach(const struct loopdev *ld, const struct image *img)
{
	static int legacy;
	struct loop_config c = { 0 };
	int rc = -1;

	c.fd = (uint32_t)img->fd;
	c.info.lo_offset = img->offset;
	c.info.lo_sizelimit = img->size;
	c.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	priv_raise();
	if (!legacy) {
		rc = ioctl(ld->fd, LOOP_CONFIGURE, &c);
		if (rc && (errno == EINVAL || errno == ENOTTY)) {
			debug("LOOP_CONFIGURE: %s: using LOOP_SET_FD and LOOP_SET_STATUS64",
			      strerror(errno));
			legacy = 1;
		}
	}
	if (legacy)
		rc = configure_legacy(ld, img);
	return lowered(rc);
}
