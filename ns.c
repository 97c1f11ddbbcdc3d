/*
 * Namespaces and the container's mount tree.
 *
 * The image is mounted on a private staging tmpfs, under an overlay whose
 * upper layer is on that tmpfs (so missing mount points can be made). The
 * whole tree is assembled there, every destination resolved inside the
 * new root as RESOLVE_IN_ROOT would (a symlink in the image can never lead
 * a mount or a write onto the host), and only then does vial pivot into
 * it. Host paths the user named are opened with the user's rights.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vial.h"

struct host {			/* host directories to bind, opened O_PATH */
	int dev, tmp, vartmp, home, cwd;
};

static dev_t root_dev;		/* the overlay: where mount points may be made */

static int as_root_mount(const char *src, const char *dst, const char *type,
			 unsigned long flags, const void *data)
{
	int rc;

	priv_raise();
	rc = mount(src, dst, type, flags, data);
	priv_lower();
	return rc;
}

static int as_root_openat(int dir, const char *name, int flags)
{
	int fd;

	priv_raise();
	fd = openat(dir, name, flags | O_CLOEXEC, 0755);
	priv_lower();
	return fd;
}

static const char *fdpath(char *buf, int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

void ns_enter(void)
{
	priv_raise();
	if (unshare(CLONE_NEWNS))
		die_errno("unshare(CLONE_NEWNS)");
	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL))
		die_errno("make / a slave mount");
	priv_lower();
}

/* A host directory, opened with the caller's own rights. */
static int user_dir(const char *path, int must_own)
{
	struct stat st;
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (must_own && (fstat(fd, &st) || st.st_uid != priv_user()->uid)) {
		debug("not binding %s: not owned by the caller", path);
		close(fd);
		return -1;
	}
	return fd;
}

static void host_open(struct launch *l, struct host *h)
{
	h->dev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (h->dev < 0)
		die_errno("open /dev");
	h->tmp = user_dir("/tmp", 0);
	h->vartmp = user_dir("/var/tmp", 0);
	h->home = user_dir(priv_user()->home, 1);
	h->cwd = l->cwd[0] ? user_dir(".", 0) : -1;
}

/* The staging tmpfs, the image under it, and the overlay: our new root. */
static int stage(struct launch *l)
{
	char d[PATH_MAX], o[3 * PATH_MAX + 64];
	const char *s = policy.stage_dir;
	static const char *sub[] = { "lower", "upper", "work", "root" };
	struct stat st;
	int root;

	if (as_root_mount("vial", s, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=16m"))
		die_errno("mount staging tmpfs on %s", s);
	for (size_t i = 0; i < LEN(sub); i++) {
		snprintf(d, sizeof d, "%s/%s", s, sub[i]);
		priv_raise();
		if (mkdir(d, 0755))
			die_errno("mkdir %s", d);
		priv_lower();
	}
	snprintf(d, sizeof d, "%s/lower", s);
	image_mount(&l->img, &l->loop, d);
	loop_release(&l->loop);
	snprintf(o, sizeof o, "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", s, s, s);
	snprintf(d, sizeof d, "%s/root", s);
	if (as_root_mount("vial", d, "overlay", MS_NOSUID | MS_NODEV, o))
		die_errno("mount overlay on %s", d);
	root = as_root_openat(AT_FDCWD, d, O_PATH | O_DIRECTORY);
	if (root < 0 || fstat(root, &st))
		die_errno("open %s", d);
	root_dev = st.st_dev;
	return root;
}

static void pivot(int root)
{
	priv_raise();
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

/* Make `name` in `dir`, but only in the overlay: never on the host. */
static int make_in_overlay(int dir, const char *name, int isdir)
{
	struct stat st;
	int rc = -1;

	if (fstat(dir, &st) || st.st_dev != root_dev)
		return -1;
	priv_raise();
	if (isdir)
		rc = mkdirat(dir, name, 0755);
	else if ((rc = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644)) >= 0)
		rc = close(rc);
	priv_lower();
	return rc;
}

/* Re-walk `done` (real directories only) from the root. */
static int rewalk(int root, const char *done)
{
	char buf[PATH_MAX], *save = NULL;
	int dir = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC), next;

	snprintf(buf, sizeof buf, "%s", done);
	for (char *c = strtok_r(buf, "/", &save); c && dir >= 0; c = strtok_r(NULL, "/", &save)) {
		next = openat(dir, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dir);
		dir = next;
	}
	return dir;
}

/*
 * Resolve the parent of `path` inside `root` as RESOLVE_IN_ROOT does, on
 * every kernel: each step O_NOFOLLOW, a symlink's target walked again from
 * the root when absolute, ".." never above the root; missing directories
 * made in the overlay. Lookups are the caller's (fsuid = user). Returns
 * the parent's O_PATH fd; the last component goes in `name`.
 */
static int resolve(int root, const char *path, char *name)
{
	char todo[PATH_MAX], done[PATH_MAX] = "", link[PATH_MAX], tmp[2 * PATH_MAX];
	char *c, *rest;
	struct stat st;
	int dir = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC), fd, hops = 0;
	ssize_t n;

	snprintf(todo, sizeof todo, "%s", path);
	for (c = todo; dir >= 0; c = rest) {
		c += strspn(c, "/");
		rest = c + strcspn(c, "/");
		if (*rest)
			*rest++ = 0;
		if (!*(rest + strspn(rest, "/"))) {
			errno = EINVAL;
			if (!*c || !strcmp(c, ".") || !strcmp(c, "..") || strlen(c) > NAME_MAX)
				break;
			strcpy(name, c);
			return dir;
		}
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			*(strrchr(done, '/') ? strrchr(done, '/') : done) = 0;
			close(dir);
			dir = rewalk(root, done);
			continue;
		}
		fd = openat(dir, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && make_in_overlay(dir, c, 1) == 0)
			fd = openat(dir, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st))
			break;
		if (S_ISLNK(st.st_mode)) {
			n = readlinkat(fd, "", link, sizeof link - 1);
			close(fd);
			errno = ELOOP;
			if (n <= 0 || ++hops > 40)
				break;
			link[n] = 0;
			errno = ENAMETOOLONG;
			if (snprintf(tmp, sizeof tmp, "%s/%s", link, rest) >= (int)sizeof tmp)
				break;
			strcpy(todo, tmp);
			rest = todo;
			if (link[0] == '/') {
				done[0] = 0;
				close(dir);
				dir = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
			}
			continue;
		}
		close(dir);
		dir = fd;
		errno = ENOTDIR;
		if (!S_ISDIR(st.st_mode))
			break;
		snprintf(tmp, sizeof tmp, "%s/%s", done, c);
		strcpy(done, tmp);
	}
	if (dir >= 0) {
		int e = errno;
		close(dir);
		errno = e;
	}
	return -1;
}

/* The mount point itself: not a symlink, made in the overlay if missing. */
static int target_open(int dir, const char *name, int isdir)
{
	struct stat st;
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && make_in_overlay(dir, name, isdir) == 0)
		fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &st) || S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode) != !isdir)) {
		close(fd);
		errno = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
		return -1;
	}
	return fd;
}

/* Flags the host mount already has must survive the bind (a ro host
 * mount must not become writable in the container). */
static unsigned long host_flags(int fd)
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
	return f;
}

/*
 * Bind host fd `src` on `dst` inside `root`, then apply `flags`. A mount
 * point that cannot be made (a symlink in the image, say /var/tmp -> /tmp)
 * is fatal unless `optional`.
 */
static int bind(int root, int src, const char *dst, unsigned long flags, int optional)
{
	/* Recursive, so the host's submounts come along; but never for the
	 * staging directory's own path, or the stage would show through. */
	unsigned long rec = strcmp(dst, policy.stage_dir) ? MS_REC : 0;
	char name[NAME_MAX + 1], a[32], b[32];
	struct stat s, t;
	int dir, fd;

	if (src < 0 || fstat(src, &s))
		return -1;
	dir = resolve(root, dst, name);
	fd = dir < 0 ? -1 : target_open(dir, name, S_ISDIR(s.st_mode));
	if (fd < 0 && optional) {
		debug("not binding %s: no mount point in the image", dst);
		if (dir >= 0)
			close(dir);
		return -1;
	}
	if (fd < 0)
		die_errno("cannot make mount point %s in the container", dst);
	if (as_root_mount(fdpath(a, src), fdpath(b, fd), NULL, MS_BIND | rec, NULL))
		die_errno("bind %s", dst);
	close(fd);
	/* The remount must name the new mount itself: look it up afresh. */
	fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &t) || t.st_dev != s.st_dev || t.st_ino != s.st_ino)
		die("bind %s: the mount point changed under us", dst);
	flags |= host_flags(src) | MS_REMOUNT | MS_BIND;
	if (as_root_mount(NULL, fdpath(b, fd), NULL, flags, NULL))
		die_errno("remount %s", dst);
	close(fd);
	close(dir);
	return 0;
}

/* A new kernel file system (proc, sysfs) on `dst` inside `root`. */
static void mount_new(int root, const char *type, const char *dst, unsigned long flags)
{
	char name[NAME_MAX + 1], b[32];
	int dir = resolve(root, dst, name);
	int fd = dir < 0 ? -1 : target_open(dir, name, 1);

	if (fd < 0)
		die_errno("cannot make mount point %s in the container", dst);
	if (as_root_mount(type, fdpath(b, fd), type, flags, NULL))
		die_errno("mount %s on %s", type, dst);
	close(fd);
	close(dir);
}

static int under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == 0);
}

/* The working directory: bound at its own path when the image has none. */
static void bind_cwd(int root, struct launch *l, struct host *h)
{
	const char *c = l->cwd;
	char name[NAME_MAX + 1];
	int dir, fd;

	if (h->cwd < 0 || !strcmp(c, "/") || under(c, "/tmp") || under(c, "/var/tmp") ||
	    (h->home >= 0 && under(c, priv_user()->home)))
		return;
	dir = resolve(root, c, name);
	fd = dir < 0 ? -1 : openat(dir, name, O_PATH | O_CLOEXEC);
	if (dir >= 0)
		close(dir);
	if (fd >= 0) {
		debug("not binding %s: the image has it", c);
		close(fd);
		return;
	}
	bind(root, h->cwd, c, MS_NOSUID | MS_NODEV, 1);
}

/* As the caller: the working directory, else home, else /, said aloud. */
static void chdir_cwd(struct launch *l, struct host *h)
{
	const char *to = priv_user()->home;

	if (l->cwd[0] && chdir(l->cwd) == 0)
		return;
	if (h->home < 0 || chdir(to)) {
		to = "/";
		if (chdir(to))
			die_errno("chdir / in the container");
	}
	dprintf(2, "vial: warning: %s is not available in the container, using %s\n",
		l->cwd[0] ? l->cwd : "the current directory", to);
}

void ns_build(struct launch *l)
{
	struct host h;
	int root;

	host_open(l, &h);
	etc_prepare();
	root = stage(l);
	etc_add_user(root);
	mount_new(root, "proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	mount_new(root, "sysfs", "/sys", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
	bind(root, h.dev, "/dev", MS_NOSUID, 0);
	bind(root, h.tmp, "/tmp", MS_NOSUID | MS_NODEV, 1);
	bind(root, h.vartmp, "/var/tmp", MS_NOSUID | MS_NODEV, 1);
	bind(root, h.home, priv_user()->home, MS_NOSUID | MS_NODEV, 0);
	bind_cwd(root, l, &h);
	if (as_root_mount(NULL, fdpath((char[32]){ 0 }, root), NULL,
			  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL))
		die_errno("remount the container root read-only");
	pivot(root);
	chdir_cwd(l, &h);
}
