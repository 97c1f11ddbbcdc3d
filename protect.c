/*
 * Protected images: the privileged open, tried only after the caller's
 * own open failed with EACCES, and only for a path the site's policy
 * names. Every refusal returns -1 and the caller reports ENOENT, so the
 * fallback cannot be used to learn which root-only files exist; the
 * reason goes to authpriv, for the admin. Outside the protected
 * directories there is no fallback: EACCES stands.
 *
 * The path is made absolute and tidied lexically ("." and "//" dropped,
 * any ".." refused), matched against the protected directories (the
 * longest match wins, so a group-restricted subdirectory cannot be
 * reached through a wider entry), and walked one component at a time
 * from "/" with O_NOFOLLOW: no symlink, no mount crossing below the
 * protected directory (bind mounts included), and every directory on the
 * way owned by root and not writable by group or other. This does all
 * that openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) would, plus the ownership
 * checks openat2 cannot make, on every kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "vial.h"

/*
 * Why the last walk refused, for the admin: the authpriv line of a refused
 * open and `vial config`'s check say it; the caller sees a missing file.
 */
static char why[PATH_MAX + 192];

__attribute__((format(printf, 1, 2))) static int refuse(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return -1;
}

const char *protect_why(void)
{
	return why;
}

/* Root-owned and not writable by group or other (only root can change
 * it): 0, or -1 saying why `what` is not. */
static int safe_or_why(const struct stat *st, const char *what)
{
	if (st->st_uid != 0)
		return refuse("%s is not root's (owner uid %u)", what, (unsigned)st->st_uid);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return refuse("%s is writable by %s", what,
			      !(st->st_mode & S_IWOTH) ? "group" :
			      !(st->st_mode & S_IWGRP) ? "others" : "group and others");
	return 0;
}

/* `shown`, the path walked so far, one component longer (for messages). */
static void shown_add(char *shown, size_t n, const char *name)
{
	size_t len = strlen(shown);

	if (len < n)
		snprintf(shown + len, n - len, "%s%s", len && shown[len - 1] == '/' ? "" : "/",
			 name);
}

/*
 * One step down, never through a symlink, as root: the caller may lack
 * search permission on a root-only directory. O_PATH opens nothing, and
 * with O_NOFOLLOW a symlink is opened as itself, so it can be named.
 */
static int step(int dir, const char *name, int want_dir, struct stat *st, const char *shown)
{
	struct statfs sf;
	int fd, e = 0;

	if ((fd = priv_look(dir, name, 0)) < 0)
		return refuse("%s: %s", shown, strerror(errno));
	if (fstat(fd, st) || fstatfs(fd, &sf))
		e = refuse("%s: %s", shown, strerror(errno));
	else if (S_ISLNK(st->st_mode))
		e = refuse("a symlink in the path: %s", shown);
	else if (want_dir && !S_ISDIR(st->st_mode))
		e = refuse("%s is not a directory", shown);
	/* On FUSE the owner is whatever the file system's daemon says: with
	 * user_allow_other, a user's bindfs says root. */
	else if (sf.f_type == FUSE_SUPER_MAGIC && mnt_owner_chosen(fd))
		e = refuse("%s is on a FUSE mount whose owner a user chooses", shown);
	if (e) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * From `dir` down the directories of `path` (a/b/c, split in place),
 * each root-owned and not writable by group or other, and with mnt >= 0
 * each on that mount. `shown` is dir's path, and grows with the walk.
 * Takes `dir` over; returns the last one or -1.
 */
static int descend(int dir, char *path, int mnt, char *shown, size_t n)
{
	char *p, *save = NULL;
	struct stat st;
	int next;

	for (p = strtok_r(path, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		shown_add(shown, n, p);
		next = strcmp(p, ".") && strcmp(p, "..") ? step(dir, p, 1, &st, shown)
							: refuse("a .. in the path");
		close(dir);
		if (next < 0)
			return -1;
		if (safe_or_why(&st, shown) ||
		    (mnt >= 0 && mnt_id(next) != mnt &&
		     refuse("%s is another mount, below the protected directory", shown))) {
			close(next);
			return -1;
		}
		dir = next;
	}
	return dir;
}

/*
 * Tidy an absolute path in place, lexically: no "//", no "." component,
 * no trailing "/". A ".." is refused rather than interpreted.
 */
static int canon(char *s)
{
	char *r = s, *w = s;
	size_t n;

	while (*r) {
		while (*r == '/')
			r++;
		n = strcspn(r, "/");
		if (!n || (n == 1 && r[0] == '.')) {
			r += n;
			continue;
		}
		if (n == 2 && r[0] == '.' && r[1] == '.')
			return -1;
		*w++ = '/';
		memmove(w, r, n);	/* w < r: at least one '/' was skipped */
		w += n;
		r += n;
	}
	if (w == s)
		*w++ = '/';
	*w = 0;
	return 0;
}

/* `path` made absolute (a relative one from our cwd, as the open saw it). */
static int joined(const char *path, char *buf, size_t n)
{
	char cwd[PATH_MAX];
	int w;

	if (path[0] == '/')
		w = snprintf(buf, n, "%s", path);
	else if (getcwd(cwd, sizeof cwd) && cwd[0] == '/')
		w = snprintf(buf, n, "%s/%s", cwd, path);
	else
		return -1;
	return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* `path` absolute and tidied. */
static int absolute(const char *path, char *buf, size_t n)
{
	return joined(path, buf, n) || canon(buf);
}

/*
 * `path` absolute and tidied up to its first ".." (*dotdot set where it
 * has one, and cut there): enough to tell whether it starts in a
 * protected directory, never to walk.
 */
static int absolute_cut(const char *path, char *buf, size_t n, int *dotdot)
{
	char *c;

	*dotdot = 0;
	if (joined(path, buf, n))
		return -1;
	for (c = buf; *c; c += strcspn(c, "/")) {
		c += strspn(c, "/");
		if (c[0] == '.' && c[1] == '.' && (!c[2] || c[2] == '/')) {
			*c = 0;
			*dotdot = 1;
			break;
		}
	}
	return canon(buf);
}

/* A line for the admin (audit.c) about `path`, shown tidied, or at least
 * absolute (a ".." is kept as written). */
static void note(const char *path, const char *key, const char *text)
{
	char abs[PATH_MAX];

	if (!absolute(path, abs, sizeof abs) || !joined(path, abs, sizeof abs))
		path = abs;
	audit_note(path, key, text);
}

/*
 * The protected directory `abs` lies in, and the rest of the path below
 * it. The longest match wins: /p/licensed with a group is never reached
 * through an entry /p open to everyone.
 */
static const struct protected_dir *pdir_for(const char *abs, const char **rel)
{
	const struct protected_dir *best = NULL;
	char d[PATH_MAX];
	size_t len, bestlen = 0;

	for (size_t i = 0; i < policy.nprotected; i++) {
		const char *p = policy.protected[i].path;

		if (!p || p[0] != '/' || snprintf(d, sizeof d, "%s", p) >= (int)sizeof d ||
		    canon(d))
			continue;
		len = strlen(d);
		if (len > 1 && len > bestlen && !strncmp(abs, d, len) && abs[len] == '/') {
			best = &policy.protected[i];
			bestlen = len;
		}
	}
	if (best)
		*rel = abs + bestlen + 1;
	return best;
}

/* Membership from the kernel's groups recorded at start, never the environment. */
static int group_allows(const char *group)
{
	struct group *g;

	if (!group)
		return 1;
	g = getgrnam(group);
	if (!g)
		return !refuse("group %s is unknown on this node", group);
	return priv_in_group(g->gr_gid) || !refuse("user not in group %s", group);
}

/*
 * The image's own group: root:lic 0640 says members of lic may read it,
 * so only they may run it (a member whose own open failed on a root-only
 * directory above it comes here too). Group root names no one in
 * particular, and the IMAGE_GROUP is for the NFS mode, whose members are
 * no users.
 */
static int file_group_allows(const struct stat *st, const char *shown)
{
	struct group *g = policy.image_group ? getgrnam(policy.image_group) : NULL;

	if (!(st->st_mode & S_IRGRP) || st->st_gid == 0 || (g && st->st_gid == g->gr_gid))
		return 1;
	if (priv_in_group(st->st_gid))
		return 1;
	g = getgrgid(st->st_gid);
	if (g)
		return !refuse("user not in group %s, which may read %s", g->gr_name, shown);
	return !refuse("user not in gid %u, which may read %s", (unsigned)st->st_gid, shown);
}

/* The protected directory itself: it and every directory above it safe. */
static int open_pdir(const char *pdir)
{
	char buf[PATH_MAX], shown[PATH_MAX] = "";
	struct stat st;
	int root = step(AT_FDCWD, "/", 1, &st, "/");

	if (root < 0)
		return -1;
	if (safe_or_why(&st, "/") ||
	    (snprintf(buf, sizeof buf, "%s", pdir) >= (int)sizeof buf &&
	     refuse("%.64s...: too long", pdir))) {
		close(root);
		return -1;
	}
	/* Mounts above the protected directory are fine (NFS, /opt). */
	return descend(root, buf, -1, shown, sizeof shown);
}

/*
 * A directory vial mounts on or writes in as root (STAGE_DIR, LINGER_DIR),
 * walked from / as a protected one is: every directory above it root's and
 * writable by root alone, so no one can swap a component for a symlink
 * while root works there; the directory itself root's, and when
 * `writable` it may be writable by others (/tmp: the stage covers it).
 * Returns an O_PATH fd, or -1 (protect_why() says why).
 */
int protect_dir_open(const char *path, int writable)
{
	char buf[PATH_MAX], *last;
	struct stat st;
	int dir, fd;

	if (path[0] != '/' || snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf ||
	    canon(buf))
		return refuse("%s is not an absolute path without \"..\"", path);
	last = strrchr(buf, '/');
	*last++ = 0;
	dir = open_pdir(buf);
	if (dir < 0 || !*last)
		return dir;
	fd = step(dir, last, 1, &st, path);
	close(dir);
	if (fd >= 0 && (writable ? st.st_uid != 0 && refuse("%s is not root's (owner uid %u)",
							     path, (unsigned)st.st_uid)
				 : safe_or_why(&st, path))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * The directory `path`, made 0755 if missing, with any missing one above
 * it; each checked as protect_dir_open checks it (root's all the way,
 * writable by root alone) before root makes anything in it: a user who
 * could swap a component for a symlink would steer root's mkdirat.
 * Returns an O_PATH fd, or -1.
 */
static int dir_make(const char *path)
{
	char parent[PATH_MAX], *name;
	int fd = protect_dir_open(path, 0), up, rc;

	if (fd >= 0 || snprintf(parent, sizeof parent, "%s", path) >= (int)sizeof parent)
		return fd;
	name = strrchr(parent, '/');
	if (!name || !name[1])
		return -1;
	*name++ = 0;
	up = dir_make(*parent ? parent : "/");
	if (up < 0)
		return -1;
	rc = priv_state_mkdir(up, name, 0755) && errno != EEXIST;
	close(up);
	return rc ? -1 : protect_dir_open(path, 0);
}

/*
 * A directory where vial keeps state as root (LINGER_DIR, INSTANCE_DIR:
 * config option `what`), made root's with `mode` if missing, below
 * directories only root can write (dir_make makes those that are missing).
 * One line and exit 255 if it cannot be root's alone. Returns an O_PATH fd.
 */
int protect_dir_make(const char *path, const char *what, mode_t mode)
{
	char parent[PATH_MAX], *name;
	int fd = protect_dir_open(path, 0), up;

	if (fd >= 0)
		return fd;
	snprintf(parent, sizeof parent, "%s", path);
	name = strrchr(parent, '/');
	if (path[0] != '/' || !name || !name[1])
		die("%s (%s) must be an absolute path", path, what);
	*name++ = 0;
	up = dir_make(*parent ? parent : "/");
	if (up < 0)
		die("%s (%s) must lie below directories only root can write", path, what);
	if (priv_state_mkdir(up, name, mode) && errno != EEXIST)
		die_errno("make %s (%s)", path, what);
	close(up);
	fd = protect_dir_open(path, 0);
	if (fd < 0)
		die("%s (%s) must be root's own directory, not writable by others", path, what);
	return fd;
}

/*
 * The open itself: root's, or on root-squashed NFS the caller's with the
 * image group as fsgid (the server squashes root, not that group). The
 * result must be the very file the walk checked.
 */
static int final_open(int dir, const char *name, const struct stat *want, const char *shown)
{
	struct group *g = policy.image_group ? getgrnam(policy.image_group) : NULL;
	struct stat st;
	int fd = priv_open_image(dir, name, g && want->st_gid == g->gr_gid &&
				 (want->st_mode & S_IRGRP) ? g : NULL);

	if (fd < 0)
		return refuse("%s: the privileged open failed: %s", shown, strerror(errno));
	/* (safe_or_why's reason, if any, gives way to this one) */
	if (fstat(fd, &st) || st.st_dev != want->st_dev || st.st_ino != want->st_ino ||
	    !S_ISREG(st.st_mode) || safe_or_why(&st, shown)) {
		close(fd);
		return refuse("%s changed while it was opened", shown);
	}
	return fd;
}

/* `rel` (a/b/img) below protected directory `pdir`, every rule checked. */
static int open_below(const char *pdir, const char *rel)
{
	char buf[PATH_MAX], shown[PATH_MAX], *name;
	struct stat st;
	int dir, fd, mnt, bad;

	if (snprintf(buf, sizeof buf, "%s", rel) >= (int)sizeof buf)
		return refuse("the path is too long");
	dir = open_pdir(pdir);
	if (dir < 0)
		return -1;
	mnt = mnt_id(dir);
	if (mnt < 0) {
		close(dir);
		return refuse("%s: cannot find its mount", pdir);
	}
	snprintf(shown, sizeof shown, "%s", pdir);
	name = strrchr(buf, '/');
	if (name) {
		*name++ = 0;
		dir = descend(dir, buf, mnt, shown, sizeof shown);
		if (dir < 0)
			return -1;
	} else {
		name = buf;
	}
	shown_add(shown, sizeof shown, name);
	/* The step's fd is for the checks; the open itself is final_open's. */
	fd = step(dir, name, 0, &st, shown);
	if (fd >= 0) {
		bad = (!S_ISREG(st.st_mode) && refuse("%s is not a regular file", shown)) ||
		      safe_or_why(&st, shown) ||
		      (mnt_id(fd) != mnt &&
		       refuse("%s is on another mount, below the protected directory", shown)) ||
		      !file_group_allows(&st, shown);
		close(fd);
		fd = bad ? -1 : final_open(dir, name, &st, shown);
	}
	close(dir);
	return fd;
}

/* Would `path` be opened through a SEALED directory, if its own open
 * failed? Decided on the name alone, as protect_open decides. */
int protect_sealed_path(const char *path)
{
	const struct protected_dir *pd;
	const char *rel;
	char abs[PATH_MAX];

	return !absolute(path, abs, sizeof abs) && (pd = pdir_for(abs, &rel)) &&
	       pd->kind == SEALED;
}

/*
 * After the caller's own open of `path` failed with EACCES: the protected
 * directory it was opened through, with *fd. Else NULL, and errno says
 * what the caller is told: EACCES where the path lies in no protected
 * directory (there is no fallback, their own error stands), ENOENT where
 * the fallback refused. Each refusal goes to authpriv with its reason,
 * for the admin; the caller cannot tell it from a missing file, so the
 * fallback cannot be used to learn which root-only files exist.
 */
const struct protected_dir *protect_open(const char *path, int *fd)
{
	const struct protected_dir *pd;
	const char *rel;
	char abs[PATH_MAX];
	int dotdot;

	*fd = -1;
	if (absolute_cut(path, abs, sizeof abs, &dotdot)) {
		errno = ENOENT;		/* where it lies is unknown: the old rule */
		return NULL;
	}
	if (!(pd = pdir_for(abs, &rel))) {
		errno = EACCES;
		return NULL;
	}
	if (dotdot)
		refuse("a .. in the path");
	else if (group_allows(pd->group) && (*fd = open_below(pd->path, rel)) >= 0) {
		debug("%s: opened through protected directory %s (%s)", path, pd->path,
		      pd->kind == SEALED ? "sealed" : "unsealed");
		return pd;
	}
	note(path, "refused", why);
	errno = ENOENT;
	return NULL;
}

/*
 * The caller's own open of `path` worked: an image in a protected
 * directory that its caller can read runs as an ordinary image, without
 * a seal or an audit line. Say so to them (it tells them nothing: they
 * can read it) and to the admin, who meant it to be protected.
 */
void protect_readable(const char *path, const struct stat *st)
{
	const char *rel;
	char abs[PATH_MAX], what[160];
	int dotdot;

	if (absolute_cut(path, abs, sizeof abs, &dotdot) || !pdir_for(abs, &rel))
		return;
	warn("%s is readable by you, so it runs unprotected (as an ordinary image, "
	     "unaudited)", path);
	snprintf(what, sizeof what, "readable by the caller (uid %u gid %u mode %04o): "
		 "runs unprotected", (unsigned)st->st_uid, (unsigned)st->st_gid,
		 (unsigned)(st->st_mode & 07777));
	note(path, "unprotected", what);
}

/* The audit line of a protected run (audit.c), its image shown tidied. */
void protect_audit(const struct image *img, char **argv, const char *cwd)
{
	char abs[PATH_MAX];

	audit_run(img->path, absolute(img->path, abs, sizeof abs) ? img->path : abs, argv, cwd);
}
