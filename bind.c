/*
 * The caller's binds and the mount points they need. Host paths the
 * caller names (home, the working directory, -B, -W, the site's binds)
 * are opened with the caller's rights before the stage covers anything,
 * and bound by fd. Every destination is resolved inside the new root as
 * RESOLVE_IN_ROOT would: a symlink in the image can never lead a mount
 * or a write onto the host. A missing mount point is made only in vial's
 * own file systems (as root) or in the caller's own binds (as them).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "vial.h"

static struct host {		/* host paths to bind, opened O_PATH */
	int tmp, vartmp, home, cwd;
	const char *home_dst;
	int *site, *user;	/* policy.binds, l->binds */
} opened;

/* Flags of every place the caller can write: nosuid, nodev, and noexec
 * in a protected run, where nothing of the caller's may be mapped
 * executable into the image's programs (a sealed run). */
static unsigned long wflags = MS_NOSUID | MS_NODEV;
static int image_root = -1;	/* the image alone, below the overlay */

/* How bind_fd binds: may the mount point be missing (then no bind), and
 * did the caller ask for this bind (home, cwd, -B, -W's)? */
enum { BIND_OPTIONAL = 1, BIND_CALLER = 2 };

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

/*
 * -H as Apptainer allows it: the caller's own directory, one they may
 * write (Snakemake passes --home $PWD, often a group's project directory),
 * or their working directory. Never another user's home they can merely
 * read: that would pose it as their own.
 */
static int home_allowed(int fd, const struct stat *st)
{
	struct stat cwd;
	char p[32];

	if (st->st_uid == priv_user()->uid)
		return 1;
	/* As the caller (vial's fsuid is theirs), on the directory opened. */
	if (faccessat(AT_FDCWD, fdpath(p, fd), W_OK, AT_EACCESS) == 0)
		return 1;
	return stat(".", &cwd) == 0 && cwd.st_dev == st->st_dev && cwd.st_ino == st->st_ino;
}

/* The home to bind: -H (see home_allowed), else the passwd one if it is the caller's. */
static void home_open(struct launch *l, struct host *h)
{
	struct stat st;

	h->home = -1;
	h->home_dst = l->home_src ? l->home_dst : priv_user()->home;
	if (l->no_home || (l->contain && !l->home_src))
		return;
	if (!l->home_src) {
		h->home = user_dir(priv_user()->home, 1);
		return;
	}
	h->home = open(l->home_src, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (h->home < 0)
		die_errno("home %s", l->home_src);
	if (fstat(h->home, &st) || !home_allowed(h->home, &st))
		die("home %s: not yours, not writable by you, not your working directory",
		    l->home_src);
}

/* DIR/name, made as the caller if missing: -W's private directories. */
static int workdir_sub(int wd, const char *dir, const char *name)
{
	int fd;

	if (mkdirat(wd, name, 0700) && errno != EEXIST)
		die_errno("--workdir %s: mkdir %s", dir, name);
	fd = openat(wd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		die_errno("--workdir %s: %s", dir, name);
	return fd;
}

/* -W with --contain: /tmp, /var/tmp and home are DIR/tmp, DIR/var_tmp, DIR/home. */
static void workdir_open(struct launch *l, struct host *h)
{
	int wd;

	if (!l->contain || !l->workdir)
		return;
	wd = open(l->workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (wd < 0)
		die_errno("--workdir %s", l->workdir);
	h->tmp = workdir_sub(wd, l->workdir, "tmp");
	h->vartmp = workdir_sub(wd, l->workdir, "var_tmp");
	if (h->home < 0 && !l->no_home && !l->home_src)
		h->home = workdir_sub(wd, l->workdir, "home");
	close(wd);
}

/*
 * The staging directory and each directory above it, as (dev, ino), with
 * the staging directory's path below it; and the staging tmpfs's dev.
 */
static struct { dev_t dev; ino_t ino; const char *rel; } above_stage[32];
static size_t n_above;

static void note_above_stage(void)
{
	char p[PATH_MAX];
	size_t len = strlen(policy.stage_dir);
	struct stat st;
	char *end;

	snprintf(p, sizeof p, "%s", policy.stage_dir);
	for (end = p + strlen(p); n_above < LEN(above_stage); *end = 0) {
		if (stat(*p ? p : "/", &st))
			die_errno("stat %s", *p ? p : "/");
		above_stage[n_above].dev = st.st_dev;
		above_stage[n_above].ino = st.st_ino;
		above_stage[n_above++].rel = policy.stage_dir +
			((size_t)(end - p) < len ? (size_t)(end - p) + 1 : len);
		if (!*p || !(end = strrchr(p, '/')))
			break;
	}
}

/* Where the staging directory lies below `st`, if `st` is it or above it. */
static const char *stage_below(const struct stat *st)
{
	for (size_t i = 0; i < n_above; i++)
		if (above_stage[i].dev == st->st_dev && above_stage[i].ino == st->st_ino)
			return above_stage[i].rel;
	return NULL;
}

/* Detached copies made by clone_tree: bound by move_mount, not mount. */
static int clones[16];
static size_t nclones;

static int is_clone(int fd)
{
	for (size_t i = 0; i < nclones; i++)
		if (clones[i] == fd)
			return 1;
	return 0;
}

/*
 * A bind source that holds the staging directory (/tmp, -B /:/host): a
 * detached recursive copy of it taken now, before the stage is mounted
 * (open_tree, Linux 5.2), never holds the stage, so the bind needs no
 * copy of it detached (an RCU grace period per launch). Before 5.2 the
 * bind copies the stage and unstage() detaches it.
 */
static int clone_tree(int fd)
{
	struct stat st;
	int c;

	if (fd < 0 || fstat(fd, &st) || !stage_below(&st) || nclones == LEN(clones))
		return fd;
	c = priv_clone(fd);
	if (c < 0 && errno == ENOSYS)
		return fd;
	if (c < 0)
		die_errno("copy a bind source (open_tree)");
	close(fd);
	clones[nclones++] = c;
	return c;
}

/* The caller's host paths, opened before the stage covers anything. */
static void host_open(struct launch *l, struct host *h)
{
	h->tmp = l->contain ? -1 : user_dir("/tmp", 0);
	h->vartmp = l->contain ? -1 : user_dir("/var/tmp", 0);
	h->cwd = l->cwd[0] && !l->contain ? user_dir(".", 0) : -1;
	home_open(l, h);
	workdir_open(l, h);
	h->site = xcalloc(policy.nbinds + 1, sizeof *h->site);
	h->user = xcalloc(l->nbinds + 1, sizeof *h->user);
	for (size_t i = 0; i < policy.nbinds; i++)
		h->site[i] = open(policy.binds[i].src, O_PATH | O_CLOEXEC);
	if (l->nbinds && !policy.user_binds)
		die("bind %s: user binds are not allowed by the site policy", l->binds[0].src);
	/* The caller's own rights: no binding what they cannot reach. */
	for (size_t i = 0; i < l->nbinds; i++)
		if ((h->user[i] = open(l->binds[i].src, O_PATH | O_CLOEXEC)) < 0)
			die_errno("bind %s", l->binds[i].src);
	h->tmp = clone_tree(h->tmp);
	h->vartmp = clone_tree(h->vartmp);
	h->home = clone_tree(h->home);
	h->cwd = clone_tree(h->cwd);
	for (size_t i = 0; i < policy.nbinds; i++)
		h->site[i] = clone_tree(h->site[i]);
	for (size_t i = 0; i < l->nbinds; i++)
		h->user[i] = clone_tree(h->user[i]);
}

/*
 * A recursive bind of the staging directory, or of one above it, copied
 * the stage as well: detach that copy, which shows what the host has
 * there (the stage exists only in this namespace).
 */
static void unstage(int dir, const char *name, const char *rel, const char *dst)
{
	int top, fd, rc = -1;

	/*
	 * As root: the stage is 0700, and `rel` names directories that
	 * only root can write (stage() checked them). An empty `rel`: the
	 * bind's own top (mnt_walk opens its ".").
	 */
	top = priv_look(dir, name, 0);
	fd = top < 0 ? -1 : mnt_walk(top, rel, 1);
	if (top >= 0)
		close(top);
	if (fd < 0 || ((rc = priv_detach(fd)) && errno == EXDEV))
		die("bind %s: cannot find vial's staging area in it to hide it", dst);
	if (rc)
		die_errno("bind %s: hide vial's staging area", dst);
	close(fd);
}

/* Bind host fd `src` on `dst` inside `root`, then add `flags` to it and
 * every mount below it. Recursive, as the kernel requires of a user: a
 * file a host mount covers must stay covered. A mount point that cannot
 * be made (a symlink in the image, say /var/tmp -> /tmp) is fatal unless
 * BIND_OPTIONAL. BIND_CALLER: the caller asked for it, so its mount point
 * may be made in their binds, and a directory's bind is one of them.
 */
static int bind_fd(int root, int src, const char *dst, unsigned long flags, int how)
{
	char name[NAME_MAX + 1];
	const char *rel;
	struct stat s, t;
	int dir, fd;

	if (src < 0 || fstat(src, &s))
		return -1;
	dir = resolve(root, dst, name, how & BIND_CALLER);
	fd = dir < 0 ? -1 : target_open(dir, name, S_ISDIR(s.st_mode), how & BIND_CALLER);
	if (fd < 0 && (how & BIND_OPTIONAL)) {
		debug("not binding %s: no mount point in the image", dst);
		if (dir >= 0)
			close(dir);
		return -1;
	}
	if (fd < 0)
		die_errno("cannot make mount point %s in the container", dst);
	if (priv_bind(src, fd, is_clone(src)))
		die_errno("bind %s", dst);
	close(fd);
	if (!is_clone(src) && (rel = stage_below(&s)))
		unstage(dir, name, rel, dst);
	/* The flags must reach the new mount itself: look it up afresh. */
	fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &t) || t.st_dev != s.st_dev || t.st_ino != s.st_ino)
		die("bind %s: the mount point changed under us", dst);
	if (flags)
		mnt_set_tree(fd, flags, dst);
	if ((how & BIND_CALLER) && S_ISDIR(s.st_mode))
		resolve_caller_bind(src, fd);
	close(fd);
	close(dir);
	return 0;
}

/* For ns.c's /proc and /dev and gpu.c: bind_fd, as it is (vial's choice of
 * places, not the caller's: nothing made in the caller's binds). */
int bind_host(int root, int src, const char *dst, unsigned long flags, int optional)
{
	return bind_fd(root, src, dst, flags, optional ? BIND_OPTIONAL : 0);
}

/* Is there anything at `path` in the container? With O_NOFOLLOW in
 * `flags` a symlink counts too (gpu.c), else what it leads to. */
int bind_exists(int root, const char *path, int flags)
{
	char name[NAME_MAX + 1];
	int dir = resolve(root, path, name, 0);
	int fd = dir < 0 ? -1 : openat(dir, name, O_PATH | O_CLOEXEC | flags);

	if (dir >= 0)
		close(dir);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

/* A new kernel file system (proc, sysfs, tmpfs) on `dst` inside `root`. */
void bind_fs(int root, const char *type, const char *dst, unsigned long flags, const char *data)
{
	char name[NAME_MAX + 1];
	int dir = resolve(root, dst, name, 0);
	int fd = dir < 0 ? -1 : target_open(dir, name, 1, 0);

	if (fd < 0)
		die_errno("cannot make mount point %s in the container", dst);
	if (priv_mount(type, type, fd, flags, data))
		die_errno("mount %s on %s", type, dst);
	close(fd);
	if (!strcmp(type, "tmpfs"))
		resolve_own_fs(dir, name);
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

	if (h->cwd < 0 || (l->no_mount & NM_CWD) || !strcmp(c, "/") || under(c, "/tmp") ||
	    under(c, "/var/tmp") || (h->home >= 0 && under(c, h->home_dst)))
		return;
	for (size_t i = 0; i < l->nbinds; i++)
		if (under(c, l->binds[i].dst))
			return;
	if (bind_exists(root, c, 0))
		debug("not binding %s: the image has it", c);
	else
		bind_fd(root, h->cwd, c, wflags, BIND_OPTIONAL | BIND_CALLER);
}

/* As the caller: --pwd, else the working directory, else `home`, else /, said aloud. */
void bind_chdir(const struct launch *l, const char *home)
{
	const char *to = home;

	if (l->pwd) {
		if (chdir(l->pwd))
			die_errno("--pwd %s", l->pwd);
		return;
	}
	if (l->cwd[0] && chdir(l->cwd) == 0)
		return;
	if (chdir(to)) {
		to = "/";
		if (chdir(to))
			die_errno("chdir / in the container");
	}
	warn("%s is not available in the container, using %s",
	     l->cwd[0] ? l->cwd : "the current directory", to);
}

/*
 * In a protected run a bind of the caller's may not cover anything the
 * image has at `dst` (its libc, a file naming a library to load): only a
 * path the image lacks, or an empty directory (a mount point its authors
 * left), looked up in the image alone as the caller.
 */
static void refuse_over_image(const char *dst, const char *what)
{
	char name[NAME_MAX + 1];
	struct stat st;
	int dir = resolve(image_root, dst, name, 0), fd = -1, ok;

	ok = dir < 0 && errno == ENOENT;
	if (dir >= 0) {
		fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		ok = fd < 0 ? errno == ENOENT
			    : !fstat(fd, &st) && S_ISDIR(st.st_mode) && !fd_has_entries(dir, name);
		close(dir);
	}
	if (fd >= 0)
		close(fd);
	if (!ok)
		die("%s: %s is in the protected image: binds over what it has are refused "
		    "(a sealed protected directory)", what, dst);
}

/* Home: bound, or under --contain an empty private one. */
static void mount_home(int root, struct launch *l, struct host *h)
{
	char data[64];

	if (h->home >= 0) {
		if (l->home_src && (wflags & MS_NOEXEC))
			refuse_over_image(h->home_dst, "home");
		bind_fd(root, h->home, h->home_dst, wflags, BIND_CALLER);
	} else if (l->contain && !l->no_home) {
		snprintf(data, sizeof data, "mode=0700,uid=%u,gid=%u",
			 (unsigned)priv_user()->uid, (unsigned)priv_user()->gid);
		bind_fs(root, "tmpfs", h->home_dst, wflags, data);
	}
}

/* /tmp and /var/tmp, first (see ns_build). */
void bind_tmp(int root, struct launch *l)
{
	const unsigned long f = wflags;
	const struct host *h = &opened;

	if (l->no_mount & NM_TMP)
		return;
	if (l->contain && !l->workdir) {
		bind_fs(root, "tmpfs", "/tmp", f, "mode=1777");
		bind_fs(root, "tmpfs", "/var/tmp", f, "mode=1777");
		return;
	}
	/* -W's, the caller's; the host's /tmp and /var/tmp, shared, are not */
	bind_fd(root, h->tmp, "/tmp", f, BIND_OPTIONAL | (l->contain ? BIND_CALLER : 0));
	bind_fd(root, h->vartmp, "/var/tmp", f, BIND_OPTIONAL | (l->contain ? BIND_CALLER : 0));
}

/*
 * A site bind's destination that is a symlink in the image (Debian's
 * /etc/localtime -> /usr/share/zoneinfo/Etc/UTC): the path it names,
 * itself walked inside the root like any other destination.
 */
static const char *follow_in_root(int root, const char *dst, char buf[PATH_MAX])
{
	char name[NAME_MAX + 1], link[PATH_MAX], tmp[2 * PATH_MAX];
	ssize_t n;
	int dir;

	snprintf(buf, PATH_MAX, "%s", dst);
	for (int hops = 0; hops < 8; hops++) {
		if ((dir = resolve(root, buf, name, 0)) < 0)
			break;
		n = readlinkat(dir, name, link, sizeof link - 1);
		close(dir);
		if (n <= 0)
			break;
		link[n] = 0;
		if (link[0] == '/')
			snprintf(tmp, sizeof tmp, "%s", link);
		else
			snprintf(tmp, sizeof tmp, "%.*s/%s",
				 (int)(strrchr(buf, '/') - buf), buf, link);
		if (strlen(tmp) >= PATH_MAX)
			break;
		strcpy(buf, tmp);
		debug("%s: a symlink in the image, binding on %s", dst, buf);
	}
	return buf;
}

/* The site's default binds, but those --no-mount leaves out. */
static void bind_site(int root, struct launch *l, struct host *h)
{
	char buf[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < policy.nbinds; i++) {
		const struct bind *b = &policy.binds[i];
		const char *dst = b->dst;
		if (i < 64 && (l->no_site >> i & 1))
			continue;
		if (h->site[i] >= 0 && fstat(h->site[i], &st) == 0 && !S_ISDIR(st.st_mode))
			dst = follow_in_root(root, b->dst, buf);
		bind_fd(root, h->site[i], dst, wflags | (b->ro ? MS_RDONLY : 0), 1);
	}
}

/* Before the stage: the caller's host paths opened; returns their home inside. */
const char *bind_open(struct launch *l)
{
	if (l->img.sealed)
		wflags |= MS_NOEXEC;
	note_above_stage();
	resolve_begin(l);
	host_open(l, &opened);
	return opened.home_dst;
}

/* The stage is built: `root`, the overlay, and `image`, the image alone
 * (what a sealed run's binds may not cover). */
void bind_stage(int root, int image)
{
	resolve_root(root);
	image_root = image;
}

/* After the system's mounts: home, the site's binds, -B's, the GPU's, the cwd. */
void bind_caller(int root, struct launch *l)
{
	mount_home(root, l, &opened);
	bind_site(root, l, &opened);
	for (size_t i = 0; i < l->nbinds; i++) {
		if (wflags & MS_NOEXEC)
			refuse_over_image(l->binds[i].dst, l->binds[i].src);
		bind_fd(root, opened.user[i], l->binds[i].dst,
			wflags | (l->binds[i].ro ? MS_RDONLY : 0), BIND_CALLER);
	}
	gpu_bind(root);
	bind_cwd(root, l, &opened);
}
