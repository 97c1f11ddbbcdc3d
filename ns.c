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
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vial.h"

#ifndef ST_NOSYMFOLLOW
#define ST_NOSYMFOLLOW 0x2000	/* Linux 5.10 */
#endif
#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

struct host {			/* host paths to bind, opened O_PATH */
	int dev, proc, tmp, vartmp, home, cwd;
	const char *home_dst;
	int *site, *user;	/* policy.binds, l->binds */
};

static dev_t root_dev;		/* the overlay: where mount points may be made */
/* Flags of every place the caller can write: nosuid, nodev, and noexec
 * in a protected run, where nothing of the caller's may be mapped
 * executable into the image's programs (a sealed run). */
static unsigned long wflags = MS_NOSUID | MS_NODEV;
static int image_root = -1;	/* the image alone, below the overlay */

static int clone_tree(int fd);
static dev_t own_dev[8];	/* vial's own tmpfs mounts (/tmp with --contain): also */
static size_t n_own;

/*
 * The binds vial made from the caller's own host directories (home, the
 * working directory, -B, -W's): a mount point missing below one is made
 * in that host directory, as the caller, as Apptainer does (cwltool binds
 * staged files into its --home). Known by the bind's own mount id, not by
 * device: a mount below it on the host, or another bind of the same file
 * system, is not the caller's choice of place.
 */
static struct caller_bind { int id; char *host, *at; } *caller;
static size_t ncaller, caller_max;
static mode_t caller_umask;

/* How bind_fd binds: may the mount point be missing (then no bind), and
 * did the caller ask for this bind (home, cwd, -B, -W's)? */
enum { BIND_OPTIONAL = 1, BIND_CALLER = 2 };

/*
 * The mount namespace, first: every fd vial opens is then in it. Nothing
 * we mount may propagate back to the host. A sealed run's (`private`)
 * receives nothing from the host either, from the moment it exists: a
 * mount the caller makes while vial builds the tree (FUSE in their home)
 * would come in after the binds' noexec was set. Ordinary runs stay
 * slaves (an autofs path mounted later still appears).
 */
void ns_enter(int private)
{
	priv_mount_ns(private);
}

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

/* Everything from the host, opened before the stage covers anything. */
static void host_open(struct launch *l, struct host *h)
{
	h->dev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (h->dev < 0)
		die_errno("open /dev");
	h->proc = l->pid ? -1 : open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (!l->pid && h->proc < 0)
		die_errno("open /proc");
	h->tmp = l->contain ? -1 : user_dir("/tmp", 0);
	h->vartmp = l->contain ? -1 : user_dir("/var/tmp", 0);
	h->cwd = l->cwd[0] && !l->contain ? user_dir(".", 0) : -1;
	home_open(l, h);
	workdir_open(l, h);
	h->site = calloc(policy.nbinds + 1, sizeof *h->site);
	h->user = calloc(l->nbinds + 1, sizeof *h->user);
	caller_max = l->nbinds + 4;	/* -B's, home, cwd, -W's tmp and var_tmp */
	caller = calloc(caller_max, sizeof *caller);
	if (!h->site || !h->user || !caller)
		die("out of memory");
	caller_umask = l->umask;
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

/* The staging tmpfs, the image under it, and the overlay: our new root. */
static int stage(struct launch *l)
{
	static char o[3 * PATH_MAX + 64];
	char size[64];
	const char *s = policy.stage_dir;
	struct stat st;
	int root, upper, at, dir = protect_dir_open(s, 1);

	/* Every directory above it root's and writable by root alone: no
	 * one can swap a component for a symlink while root mounts there. */
	if (dir < 0)
		die("%s (STAGE_DIR) must be root's, below directories only root can write", s);
	/* With --writable-tmpfs what the command writes lands here too. */
	snprintf(size, sizeof size, "mode=0700,size=%s",
		 l->writable_tmpfs ? policy.writable_tmpfs_size : "16m");
	at = priv_stage(dir, size);
	close(dir);
	image_root = image_mount(&l->img, &l->loop, at, "lower");
	loop_release(&l->loop);
	/* The image's /etc/passwd and group with the caller added, in the upper layer. */
	if ((upper = priv_look(at, "upper", O_DIRECTORY)) < 0)
		die_errno("open %s/upper", s);
	etc_add_user(image_root, upper);
	close(upper);
	snprintf(o, sizeof o, "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", s, s, s);
	if ((dir = priv_look(at, "root", O_DIRECTORY)) < 0 ||
	    priv_mount("vial", "overlay", dir, MS_NOSUID | MS_NODEV, o))
		die_errno("mount overlay on %s/root", s);
	close(dir);
	root = priv_look(at, "root", O_DIRECTORY);
	if (root < 0 || fstat(root, &st))
		die_errno("open %s/root", s);
	root_dev = st.st_dev;
	close(at);
	return root;
}

/* The path `fd` has in this mount namespace, for messages; NULL if none. */
static char *fd_link(int fd)
{
	char p[32], *buf = malloc(PATH_MAX);
	ssize_t n = buf ? readlink(fdpath(p, fd), buf, PATH_MAX - 1) : -1;

	if (n <= 0) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

/* `fd`, the bind just made of a caller's host directory `src`: one of
 * theirs (unless its mount id is unknown: then nothing is made in it).
 * Its paths serve vial -v's message alone: read only then. */
static void note_caller(int src, int fd)
{
	int id = mnt_id(fd);

	if (id < 0 || ncaller == caller_max)
		return;
	caller[ncaller].id = id;
	caller[ncaller].host = verbose ? fd_link(src) : NULL;
	caller[ncaller++].at = verbose ? fd_link(fd) : NULL;
}

/* Which of the caller's binds `dir` lies on, itself and not below it. */
static const struct caller_bind *caller_bind_of(int dir)
{
	int id = mnt_id(dir);

	for (size_t i = 0; id >= 0 && i < ncaller; i++)
		if (caller[i].id == id)
			return &caller[i];
	return NULL;
}

/* mkdirat, or an empty file, with `mode` as the process's umask lets it;
 * as root (vial's own file systems) or as the caller. */
static int make_node(int dir, const char *name, int isdir, mode_t mode, int root)
{
	int fd;

	if (isdir)
		return root ? priv_mkdir(dir, name, mode | 0111, NULL)
			    : mkdirat(dir, name, mode | 0111);
	fd = root ? priv_create(dir, name, mode, NULL)
		  : openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
	return fd < 0 ? -1 : close(fd);
}

/*
 * Make the missing mount point `name` in `dir`: in the overlay or in a
 * tmpfs vial mounted, with privilege (vial's own file systems); in one of
 * the caller's binds (`host`: for a bind the caller asked for), with the
 * caller's own rights and umask, never raised, and it stays on the host
 * as with Apptainer; nowhere else (the host's, a site bind, a mount below
 * a bind): ENOENT, as the lookup said.
 */
static int make_mount_point(int dir, const char *name, int isdir, int host)
{
	const struct caller_bind *c;
	struct stat st;
	size_t at;
	mode_t um;
	char *p;
	int rc, own = 0;

	if (fstat(dir, &st))
		return -1;
	for (size_t i = 0; i < n_own; i++)
		own |= own_dev[i] == st.st_dev;
	if (own || st.st_dev == root_dev)
		return make_node(dir, name, isdir, 0644, 1);
	if (!host || !(c = caller_bind_of(dir))) {
		errno = ENOENT;
		return -1;
	}
	um = umask(caller_umask);
	rc = make_node(dir, name, isdir, 0666, 0);
	umask(um);
	if (rc == 0 && verbose) {
		p = fd_link(dir);
		at = c->at ? strlen(c->at) : 0;
		debug("made %s%s/%s on the host (it stays, as with Apptainer)",
		      c->host ? c->host : "?",
		      p && c->at && !strncmp(p, c->at, at) ? p + at : "/...", name);
		free(p);
	}
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
 * made where make_mount_point may (in the caller's binds when `host`).
 * Lookups are the caller's (fsuid = user). Returns the parent's O_PATH
 * fd; the last component goes in `name`.
 */
static int resolve(int root, const char *path, char *name, int host)
{
	static char todo[PATH_MAX], done[PATH_MAX], link[PATH_MAX], tmp[2 * PATH_MAX];
	char *c, *rest;
	struct stat st;
	int dir = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC), fd, hops = 0;
	ssize_t n;

	done[0] = 0;
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
		if (fd < 0 && errno == ENOENT && make_mount_point(dir, c, 1, host) == 0)
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
			if (snprintf(tmp, sizeof tmp, "%s/%s", link, rest) >= (int)sizeof todo)
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
		errno = ENAMETOOLONG;
		if (snprintf(tmp, sizeof tmp, "%s/%s", done, c) >= (int)sizeof done)
			break;
		strcpy(done, tmp);
	}
	if (dir >= 0) {
		int e = errno;
		close(dir);
		errno = e;
	}
	return -1;
}

/* The mount point itself: not a symlink, made if missing (make_mount_point). */
static int target_open(int dir, const char *name, int isdir, int host)
{
	struct stat st;
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && make_mount_point(dir, name, isdir, host) == 0)
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

/*
 * A recursive bind of the staging directory, or of one above it, copied
 * the stage as well: detach that copy, which shows what the host has
 * there (the stage exists only in this namespace).
 */
static void unstage(int dir, const char *name, const char *rel, const char *dst)
{
	int fd, rc = -1;

	/* As root: the stage is 0700, and `rel` names directories that
	 * only root can write (stage() checked them). */
	fd = priv_look(dir, name, 0);
	if (fd >= 0 && *rel) {
		int top = fd;
		fd = mnt_walk(top, rel, 1);
		close(top);
	}
	if (fd < 0 || ((rc = priv_detach(fd)) && errno == EXDEV))
		die("bind %s: cannot find vial's staging area in it to hide it", dst);
	if (rc)
		die_errno("bind %s: hide vial's staging area", dst);
	close(fd);
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

/*
 * Bind host fd `src` on `dst` inside `root`, then add `flags` to it and
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
		note_caller(src, fd);
	close(fd);
	close(dir);
	return 0;
}

/* A tmpfs vial just mounted: mount points may be made in it (a bind to
 * /tmp/x with --contain's private /tmp, as miniwdl asks). */
static void note_own(int dir, const char *name)
{
	struct stat st;
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st))
		die_errno("open %s", name);
	close(fd);
	if (n_own < LEN(own_dev))
		own_dev[n_own++] = st.st_dev;
}

/* For gpu.c: bind_fd, as it is (vial's choice of places, not the caller's:
 * nothing made in the caller's binds). */
int ns_bind(int root, int src, const char *dst, unsigned long flags, int optional)
{
	return bind_fd(root, src, dst, flags, optional ? BIND_OPTIONAL : 0);
}

/* For gpu.c: is there anything at `path` in the container (a symlink too)? */
int ns_exists(int root, const char *path)
{
	char name[NAME_MAX + 1];
	int dir = resolve(root, path, name, 0);
	int fd = dir < 0 ? -1 : openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (dir >= 0)
		close(dir);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

/* A new kernel file system (proc, sysfs, tmpfs) on `dst` inside `root`. */
static void mount_new(int root, const char *type, const char *dst, unsigned long flags,
		      const char *data)
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
		note_own(dir, name);
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

	if (h->cwd < 0 || (l->no_mount & NM_CWD) || !strcmp(c, "/") || under(c, "/tmp") ||
	    under(c, "/var/tmp") || (h->home >= 0 && under(c, h->home_dst)))
		return;
	for (size_t i = 0; i < l->nbinds; i++)
		if (under(c, l->binds[i].dst))
			return;
	dir = resolve(root, c, name, 0);
	fd = dir < 0 ? -1 : openat(dir, name, O_PATH | O_CLOEXEC);
	if (dir >= 0)
		close(dir);
	if (fd >= 0) {
		debug("not binding %s: the image has it", c);
		close(fd);
		return;
	}
	bind_fd(root, h->cwd, c, wflags, BIND_OPTIONAL | BIND_CALLER);
}

/* As the caller: --pwd, else the working directory, else home, else /, said aloud. */
static void chdir_cwd(struct launch *l, struct host *h)
{
	const char *to = h->home_dst;

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

/* --contain: a minimal /dev of our own instead of the host's. */
static void contain_dev(int root, const struct launch *l)
{
	static const char *nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	char path[32];
	int dev, src;

	mount_new(root, "tmpfs", "/dev", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
	dev = openat(root, "dev", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dev < 0)
		die_errno("open /dev in the container");
	priv_fill_dev(dev);
	for (size_t i = 0; i < LEN(nodes); i++) {
		snprintf(path, sizeof path, "/dev/%s", nodes[i]);
		src = open(path, O_PATH | O_CLOEXEC);
		if (src >= 0)
			bind_fd(root, src, path, MS_NOSUID | MS_NOEXEC, 1);
	}
	if (!(l->no_mount & NM_DEVPTS))
		mount_new(root, "devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC,
			  "newinstance,ptmxmode=0666,mode=0620");
	mount_new(root, "tmpfs", "/dev/shm", wflags, "mode=1777");
	close(dev);
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
		mount_new(root, "tmpfs", h->home_dst, wflags, data);
	}
}

static void mount_tmp(int root, struct launch *l, struct host *h)
{
	const unsigned long f = wflags;

	if (l->no_mount & NM_TMP)
		return;
	if (l->contain && !l->workdir) {
		mount_new(root, "tmpfs", "/tmp", f, "mode=1777");
		mount_new(root, "tmpfs", "/var/tmp", f, "mode=1777");
		return;
	}
	/* -W's, the caller's; the host's /tmp and /var/tmp, shared, are not */
	bind_fd(root, h->tmp, "/tmp", f, BIND_OPTIONAL | (l->contain ? BIND_CALLER : 0));
	bind_fd(root, h->vartmp, "/var/tmp", f, BIND_OPTIONAL | (l->contain ? BIND_CALLER : 0));
}

/* /proc, /sys and /dev, each unless --no-mount names it. */
static void mount_system(int root, struct launch *l, struct host *h)
{
	const unsigned long f = MS_NOSUID | MS_NODEV;

	/* The host's /proc (and its hidepid= policy) in the host's PID
	 * namespace; a new one for a new PID namespace. */
	if (l->pid)
		mount_new(root, "proc", "/proc", f | MS_NOEXEC, NULL);
	else
		bind_fd(root, h->proc, "/proc", f | MS_NOEXEC, 0);
	if (!(l->no_mount & NM_SYS))
		mount_new(root, "sysfs", "/sys", f | MS_RDONLY | MS_NOEXEC, NULL);
	if (l->no_mount & NM_DEV)
		;
	else if (l->contain)
		contain_dev(root, l);
	else	/* devices need dev; /dev/shm and /dev/mqueue are writable */
		bind_fd(root, h->dev, "/dev", wflags & ~MS_NODEV, 0);
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

void ns_build(struct launch *l)
{
	unsigned long f = MS_NOSUID | MS_NODEV;
	struct host h;
	int root;

	if (l->img.sealed)
		wflags |= MS_NOEXEC;
	note_above_stage();
	host_open(l, &h);
	gpu_open(l);
	etc_prepare(h.home_dst);
	root = stage(l);
	/* /tmp first: a bind of it copies the stage and all that is mounted
	 * in it so far, only to detach the copy (stage_below). */
	mount_tmp(root, l, &h);
	mount_system(root, l, &h);
	mount_home(root, l, &h);
	bind_site(root, l, &h);
	for (size_t i = 0; i < l->nbinds; i++) {
		if (wflags & MS_NOEXEC)
			refuse_over_image(l->binds[i].dst, l->binds[i].src);
		bind_fd(root, h.user[i], l->binds[i].dst,
			wflags | (l->binds[i].ro ? MS_RDONLY : 0), BIND_CALLER);
	}
	gpu_bind(root);
	bind_cwd(root, l, &h);
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
	chdir_cwd(l, &h);
}
