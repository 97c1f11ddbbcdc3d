/*
 * Destinations inside the container's root, resolved as RESOLVE_IN_ROOT
 * would on every kernel (a symlink in the image can never lead a mount or
 * a write onto the host), and the mount points they lack, made where
 * they may be: in vial's own file systems (the overlay, a tmpfs of its
 * own) as root, in a bind of the caller's own host directory as the
 * caller, nowhere else.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "vial.h"

static dev_t root_dev;		/* the overlay: where mount points may be made */
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
void resolve_caller_bind(int src, int fd)
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
int resolve(int root, const char *path, char *name, int host)
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
int target_open(int dir, const char *name, int isdir, int host)
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

/* A tmpfs vial just mounted: mount points may be made in it (a bind to
 * /tmp/x with --contain's private /tmp, as miniwdl asks). */
void resolve_own_fs(int dir, const char *name)
{
	struct stat st;
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st))
		die_errno("open %s", name);
	close(fd);
	if (n_own < LEN(own_dev))
		own_dev[n_own++] = st.st_dev;
}

/* Before the stage: room for the caller's binds (-B's, home, cwd, -W's
 * tmp and var_tmp), and their umask, for what is made in them. */
void resolve_begin(const struct launch *l)
{
	caller_max = l->nbinds + 4;
	caller = xcalloc(caller_max, sizeof *caller);
	caller_umask = l->umask;
}

/* The overlay at `root`: mount points may be made in it, as root. */
void resolve_root(int root)
{
	struct stat st;

	if (fstat(root, &st))
		die_errno("open %s/root", policy.stage_dir);
	root_dev = st.st_dev;
}
