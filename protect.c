/*
 * Protected images: the privileged open, tried only after the caller's
 * own open failed with EACCES, and only for a path the site's policy
 * names. Every refusal returns -1 and the caller reports ENOENT, so the
 * fallback cannot be used to learn which root-only files exist.
 *
 * The path is walked one component at a time from "/" with O_NOFOLLOW:
 * no symlink, no "..", no mount crossing below the protected directory,
 * and every directory on the way owned by root and not writable by group
 * or other. This walk does all that openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) would,
 * plus the ownership checks openat2 cannot make, on every kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "vial.h"

static int safe(const struct stat *st)
{
	return st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* One step down, as root, never through a symlink. */
static int step(int dir, const char *name, int flags, struct stat *st)
{
	int fd;

	priv_raise();
	fd = openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC);
	priv_lower();
	if (fd >= 0 && fstat(fd, st)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* `path` made absolute (as the kernel has our cwd), split under `dir`. */
static const char *below(const char *path, const char *dir, char *buf, size_t n)
{
	char cwd[PATH_MAX];
	size_t len = strlen(dir);

	int w;

	if (path[0] == '/')
		w = snprintf(buf, n, "%s", path);
	else if (getcwd(cwd, sizeof cwd))
		w = snprintf(buf, n, "%s/%s", cwd, path);
	else
		return NULL;
	if (w < 0 || (size_t)w >= n)
		return NULL;
	if (strncmp(buf, dir, len) || buf[len] != '/')
		return NULL;
	return buf + len + 1;
}

/* Walk `rel` (a/b/c) from `dir`: root-owned directories, one device. */
static int walk(int dir, char *rel, struct stat *st, char **last)
{
	dev_t dev = st->st_dev;
	char *p = rel, *slash;
	int next;

	while ((slash = strchr(p, '/'))) {
		*slash = 0;
		if (!*p || !strcmp(p, ".")) {
			p = slash + 1;
			continue;
		}
		if (!strcmp(p, ".."))
			return close(dir), -1;
		next = step(dir, p, O_PATH | O_DIRECTORY, st);
		close(dir);
		if (next < 0 || !safe(st) || st->st_dev != dev)
			return next >= 0 ? close(next), -1 : -1;
		dir = next;
		p = slash + 1;
	}
	if (!*p || !strcmp(p, ".") || !strcmp(p, ".."))
		return close(dir), -1;
	*last = p;
	return dir;
}

/* Open the protected directory itself: root-owned all the way from "/". */
static int open_pdir(const char *pdir, struct stat *st)
{
	char buf[PATH_MAX], *last;
	int dir = step(AT_FDCWD, "/", O_PATH | O_DIRECTORY, st);

	if (dir < 0 || !safe(st))
		return dir >= 0 ? close(dir), -1 : -1;
	snprintf(buf, sizeof buf, "%s/.", pdir + 1);
	dir = walk(dir, buf, st, &last);
	if (dir < 0)
		return -1;
	/* walk checked one device; above the protected dir mounts are fine */
	return dir;
}

static int group_allows(const char *group)
{
	struct group *g;

	if (!group)
		return 1;
	g = getgrnam(group);
	return g && priv_in_group(g->gr_gid);
}

/* The open itself: root's, or for root-squashed NFS the image group's. */
static int final_open(int dir, const char *name, const struct stat *want)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK;
	struct group *g = policy.image_group ? getgrnam(policy.image_group) : NULL;
	struct stat st;
	int fd;

	if (g && want->st_gid == g->gr_gid && (want->st_mode & 0777) == 0640) {
		fd = priv_open_as_group(dir, name, g->gr_gid, flags);
	} else {
		priv_raise();
		fd = openat(dir, name, flags);
		priv_lower();
	}
	if (fd >= 0 && (fstat(fd, &st) || st.st_dev != want->st_dev ||
			st.st_ino != want->st_ino)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int try_dir(const struct protected_dir *pd, const char *path)
{
	char buf[PATH_MAX], *rel, *name;
	struct stat st;
	int dir, fd;

	if (!pd->path || !(rel = (char *)below(path, pd->path, buf, sizeof buf)))
		return -1;
	if (!group_allows(pd->group))
		return -1;
	dir = open_pdir(pd->path, &st);
	if (dir < 0)
		return -1;
	dir = walk(dir, rel, &st, &name);
	if (dir < 0)
		return -1;
	fd = step(dir, name, O_PATH, &st);
	if (fd >= 0)
		close(fd);
	if (fd < 0 || !S_ISREG(st.st_mode) || !safe(&st))
		return close(dir), -1;
	fd = final_open(dir, name, &st);
	close(dir);
	return fd;
}

int protect_open(const char *path, int *fd)
{
	for (size_t i = 0; i < policy.nprotected; i++) {
		*fd = try_dir(&policy.protected[i], path);
		if (*fd >= 0) {
			debug("%s: opened through protected directory %s", path,
			      policy.protected[i].path);
			return 0;
		}
	}
	*fd = -1;
	return -1;
}

/* Append `s` to the log line, escaped: no newline, no control byte, no quote. */
static void esc(char *out, size_t n, size_t *len, const char *s)
{
	for (; *s && *len + 5 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			*len += (size_t)snprintf(out + *len, n - *len, "\\%03o", c);
		else
			out[(*len)++] = (char)c;
	}
	out[*len] = 0;
}

/*
 * One line to authpriv per protected run. Sent by hand (not syslog(3)) so
 * that a failure is seen: a protected image does not run unaudited.
 */
void protect_audit(const struct image *img, char **argv, const char *cwd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	const struct user *u = priv_user();
	char msg[2048], ts[32];
	size_t len;
	time_t now = time(NULL);
	struct tm tm;
	int fd;

	strftime(ts, sizeof ts, "%b %e %H:%M:%S", gmtime_r(&now, &tm));
	len = (size_t)snprintf(msg, sizeof msg, "<%d>%s vial[%d]: user=\"",
			       LOG_AUTHPRIV | LOG_NOTICE, ts, (int)getpid());
	esc(msg, sizeof msg, &len, u->name);
	len += (size_t)snprintf(msg + len, sizeof msg - len, "\" uid=%u image=\"",
				(unsigned)u->uid);
	esc(msg, sizeof msg, &len, img->path);
	len += (size_t)snprintf(msg + len, sizeof msg - len, "\" command=\"");
	for (int i = 0; argv[i]; i++) {
		if (i)
			esc(msg, sizeof msg - 300, &len, " ");
		esc(msg, sizeof msg - 300, &len, argv[i]);
	}
	len += (size_t)snprintf(msg + len, sizeof msg - len, "\" cwd=\"");
	esc(msg, sizeof msg - 2, &len, cwd);
	len += (size_t)snprintf(msg + len, sizeof msg - len, "\"");
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) ||
	    send(fd, msg, len, 0) != (ssize_t)len)
		die_errno("%s: cannot write the audit log (/dev/log); protected "
			  "images do not run unaudited", img->path);
	close(fd);
}
