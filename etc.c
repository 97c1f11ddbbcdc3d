/*
 * The container's /etc/passwd and /etc/group: the image's own, with the
 * caller's entries added so that `id`, `whoami` and ls -l work inside.
 * Neither /etc nor the files are followed if they are symlinks in the
 * image (a link /etc/passwd -> /etc/shadow must not copy the host's).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <unistd.h>

#include "vial.h"

#define ETC_MAX (1 << 20)	/* bigger image files are cut at a line end */

static char pw_line[PATH_MAX * 2 + 256];
static struct { gid_t gid; char line[160]; } *gr;	/* the caller's groups */
static size_t ngr;

/* `home`: where the caller's home is inside (the passwd one, or -H's). */
void etc_prepare(const char *home)
{
	const struct user *u = priv_user();
	struct group *g;

	snprintf(pw_line, sizeof pw_line, "%s:x:%u:%u:%s:%s:%s\n", u->name,
		 (unsigned)u->uid, (unsigned)u->gid, u->gecos, home, u->shell);
	gr = xcalloc((size_t)u->ngroups + 2, sizeof *gr);
	setgrent();
	while ((g = getgrent()) && ngr <= (size_t)u->ngroups) {
		if (!priv_in_group(g->gr_gid))
			continue;
		gr[ngr].gid = g->gr_gid;
		snprintf(gr[ngr++].line, sizeof gr->line, "%s:x:%u:%s\n", g->gr_name,
			 (unsigned)g->gr_gid, u->name);
	}
	endgrent();
}

/* Does a line of `buf` have `val` in field `field` (0-based)? */
static int has_field(const char *buf, int field, const char *val)
{
	size_t n = strlen(val);

	for (const char *l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l) {
		const char *f = l;
		for (int i = 0; i < field && f; i++) {
			f = strpbrk(f, ":\n");
			f = (f && *f == ':') ? f + 1 : NULL;
		}
		if (f && !strncmp(f, val, n) && (f[n] == ':' || f[n] == '\n' || !f[n]))
			return 1;
	}
	return 0;
}

/*
 * One file at a time: read, merged, written, before the next is read.
 * Read with the caller's own rights, like every path a user names: a
 * sandbox's etc/passwd of mode 0600 is not the caller's to see (an
 * unreadable one is started from empty). `st` gets its owner and mode
 * (root's look, metadata only), for the copy; none: root's, 0644.
 */
static char *slurp(int dir, const char *name, size_t *len, struct stat *st)
{
	static char buf[ETC_MAX + 2];
	ssize_t n = 0;
	int fd, rc;

	*len = 0;
	buf[0] = 0;
	*st = (struct stat){ .st_mode = S_IFREG | 0644 };
	if (dir < 0)
		return buf;	/* the image has no /etc */
	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	/* root's look at the owner and mode only */
	rc = fd < 0 ? priv_stat(dir, name, st) : fstat(fd, st);
	if (rc || !S_ISREG(st->st_mode)) {	/* missing, a symlink, a FIFO: start empty */
		*st = (struct stat){ .st_mode = S_IFREG | 0644 };
		if (fd >= 0)
			close(fd);
		return buf;
	}
	if (fd < 0)
		return buf;
	while (*len < ETC_MAX && (n = read(fd, buf + *len, ETC_MAX - *len)) > 0)
		*len += (size_t)n;
	close(fd);
	if (n < 0)
		*len = 0;
	if (*len == ETC_MAX)	/* cut at the last whole line */
		while (*len && buf[*len - 1] != '\n')
			(*len)--;
	if (*len && buf[*len - 1] != '\n')
		buf[(*len)++] = '\n';
	buf[*len] = 0;
	return buf;
}

static void write_all(int fd, const char *p, size_t n, const char *name)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0)
			die_errno("write /etc/%s in the container", name);
		p += w;
		n -= (size_t)w;
	}
}

/*
 * Write /etc/NAME in the session's upper layer: the image's lines, then
 * ours, with the image's owner and mode (a protected image's 0600 passwd
 * stays root's 0600).
 */
static void write_new(int dir, const char *name, const char *buf, size_t len,
		      const char *add, size_t addlen, const struct stat *st)
{
	int fd = priv_create(dir, name, 0600, st);

	if (fd < 0)
		die_errno("cannot write /etc/%s in the container", name);
	write_all(fd, buf, len, name);
	write_all(fd, add, addlen, name);
	if (close(fd))
		die_errno("close /etc/%s", name);
}

static void add_groups(int image, int out)
{
	size_t len, alen = 0;
	struct stat st;
	char *buf = slurp(image, "group", &len, &st);
	char *add = xcalloc(ngr + 1, sizeof gr->line);
	char gid[16];

	for (size_t i = 0; i < ngr; i++) {
		snprintf(gid, sizeof gid, "%u", (unsigned)gr[i].gid);
		if (!has_field(buf, 2, gid))
			alen += (size_t)sprintf(add + alen, "%s", gr[i].line);
	}
	write_new(out, "group", buf, len, add, alen, &st);
	free(add);
}

/*
 * `image` is the image's root, `upper` the overlay's upper directory, not
 * yet mounted: the files are written there before the overlay shows them
 * over the image's (no copy-up of /etc, no whiteouts). An /etc that is
 * not a directory in the image is refused, never followed.
 */
void etc_add_user(int image, int upper)
{
	const struct user *u = priv_user();
	struct stat st = { .st_mode = 0755 }, pst;
	size_t len;
	char *buf;
	int dir = priv_look(image, "etc", O_DIRECTORY), out;

	if ((dir < 0 && errno != ENOENT) || (dir >= 0 && fstat(dir, &st)))
		die("/etc in the container is not a directory");
	/* The upper etc/ decides the merged directory's owner and mode:
	 * exactly the image's, or root's 0755 where the image has none. */
	if (priv_mkdir(upper, "etc", 0700, &st))
		die_errno("mkdir /etc in the container");
	if ((out = priv_look(upper, "etc", O_DIRECTORY)) < 0)
		die_errno("open /etc in the container");
	buf = slurp(dir, "passwd", &len, &pst);
	if (!has_field(buf, 0, u->name))
		write_new(out, "passwd", buf, len, pw_line, strlen(pw_line), &pst);
	add_groups(dir, out);
	if (dir >= 0)
		close(dir);
	close(out);
}
