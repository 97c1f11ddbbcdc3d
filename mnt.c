/*
 * The mount table, as the kernel tells it: which mount an fd lies on,
 * what lies below a mount, whose choice a file's owner was, and flags
 * applied to a mount and every mount below it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "vial.h"

struct mount_entry {
	int id, parent;
	char *point, *opts, *type, *super;	/* mount point (unescaped), options, fs type,
						   the file system's own options */
};

/*
 * The mount an fd lies on, from /proc/self/fdinfo (every kernel vial
 * supports): unlike st_dev it also tells a bind mount of the same file
 * system apart. Read as root: a non-dumpable process's fdinfo directory
 * is root's on older kernels.
 */
int mnt_id(int fd)
{
	char path[64], buf[512], *s;
	int id;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	if (fd_slurp(priv_proc_open(AT_FDCWD, path, 0), buf, sizeof buf) <= 0 ||
	    !(s = strstr(buf, "\nmnt_id:")) || sscanf(s + 8, "%d", &id) != 1)
		return -1;
	return id;
}

/* /proc/self/mountinfo, whole, NUL-terminated; the caller frees it. */
static char *table_read(void)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	ssize_t n;
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf)
		die_errno("read /proc/self/mountinfo");
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap)
			buf = xrealloc(buf, cap *= 2);
	}
	if (n < 0)
		die_errno("read /proc/self/mountinfo");
	close(fd);
	buf[len] = 0;
	return buf;
}

/* Undo mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unoctal(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = 0;
}

/*
 * One line: "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - TYPE SRC SUPER".
 * Splits it in place; 0 if it is not of that shape.
 */
static int entry(char *line, struct mount_entry *e)
{
	char *f[6], *save = NULL, *dash;
	int i;

	dash = strstr(line, " - ");
	if (!dash)
		return 0;
	*dash = 0;
	for (i = 0; i < 6 && (f[i] = strtok_r(i ? NULL : line, " ", &save)); i++)
		;
	if (i < 6 || sscanf(f[0], "%d", &e->id) != 1 || sscanf(f[1], "%d", &e->parent) != 1)
		return 0;
	e->point = f[4];
	e->opts = f[5];
	e->type = strtok_r(dash + 3, " ", &save);
	e->super = e->type ? (strtok_r(NULL, " ", &save), strtok_r(NULL, " ", &save)) : NULL;
	if (!e->type || !e->super)
		return 0;
	unoctal(e->point);
	return 1;
}

/* Every mount of this namespace, in the table's order. */
static size_t mnt_table(struct mount_entry **out)
{
	char *buf = table_read(), *line, *save = NULL;
	struct mount_entry *v = NULL, e;
	size_t n = 0;

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!entry(line, &e))
			continue;
		v = xrealloc(v, (n + 1) * sizeof *v);
		v[n++] = e;
	}
	*out = v;	/* its strings point into buf, never freed: vial is short-lived */
	return n;
}

/* Is any mount of this namespace mounted on (a directory of) mount `id`? */
int mnt_has_children(int id)
{
	struct mount_entry *t;
	size_t n = mnt_table(&t);
	int found = 0;

	for (size_t i = 0; i < n && !found; i++)
		found = t[i].parent == id && t[i].id != id;
	free(t);
	return found;
}

/* Does the comma-separated list `opts` hold `opt` whole? */
static int has_opt(const char *opts, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *o = opts; o; o = strchr(o, ','), o = o ? o + 1 : o)
		if (!strncmp(o, opt, n) && (o[n] == ',' || !o[n]))
			return 1;
	return 0;
}

/*
 * Could the caller have chosen the owner that fstat reports for `fd`?
 * On FUSE mounted by a user (fusermount sets user_id to the caller's
 * uid), yes: with user_allow_other, bindfs --force-user=root presents any
 * owner. Root's own FUSE mounts (user_id=0: CVMFS, a site's squashfuse)
 * report what root's daemon says. Through a magic link into another mount
 * namespace (/proc/PID/root/...), where a user namespace of the caller's
 * may have mounted anything, or on an idmapped mount: yes. Only root can
 * mount in this namespace (a copy of the host's), and root-squashed NFS
 * does not let users make root's files.
 */
int mnt_owner_chosen(int fd)
{
	struct mount_entry *t;
	size_t n;
	int id = mnt_id(fd), chosen = 1;

	if (id < 0)
		return 1;
	n = mnt_table(&t);
	for (size_t i = 0; i < n; i++)
		if (t[i].id == id)
			chosen = has_opt(t[i].opts, "idmapped") ||
				 (!strncmp(t[i].type, "fuse", 4) && !has_opt(t[i].super, "user_id=0"));
	free(t);
	return chosen;
}

/* Mount `id` and every mount below it, by index in `t`: 1 in `in`. */
static void subtree(const struct mount_entry *t, size_t n, int id, char *in)
{
	int grew = 1;

	for (size_t i = 0; i < n; i++)
		in[i] = t[i].id == id;
	while (grew) {
		grew = 0;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < n && !in[i]; j++)
				if (in[j] && t[i].parent == t[j].id)
					in[i] = grew = 1;
	}
}

/*
 * `rel` (a/b/c) below the directory `top`, never through a symlink: the
 * mount points of a user's bind source are names the user can change.
 * Each step as the caller, or as root (`root`: in vial's 0700 stage).
 */
int mnt_walk(int top, const char *rel, int root)
{
	char buf[PATH_MAX], *c, *save = NULL;
	int dir = root ? priv_look(top, ".", 0) : openat(top, ".", O_PATH | O_CLOEXEC), next;

	if (snprintf(buf, sizeof buf, "%s", rel) >= (int)sizeof buf)
		return -1;
	for (c = strtok_r(buf, "/", &save); c && dir >= 0; c = strtok_r(NULL, "/", &save)) {
		next = root ? priv_look(dir, c, 0)
			    : openat(dir, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		close(dir);
		dir = next;
	}
	return dir;
}

/* One mount: its own flags (statvfs) kept, `flags` added. */
static void remount(int fd, unsigned long flags, const char *what)
{
	if (priv_remount(fd, flags | ns_host_flags(fd)))
		die_errno("remount %s", what);
}

/*
 * Before mount_setattr (Linux 5.12): each mount of the tree on its own,
 * found below `fd` by its mount point, checked to be a mount of the tree.
 */
static void set_each(int fd, unsigned long flags, const char *what)
{
	struct mount_entry *t;
	size_t n = mnt_table(&t), top = n, plen;
	int id = mnt_id(fd), sub, subid;
	char *in = xcalloc(n + 1, 1);

	for (size_t i = 0; i < n; i++)
		top = t[i].id == id ? i : top;
	if (top == n)
		die("remount %s: its mount is not in the table", what);
	subtree(t, n, id, in);
	remount(fd, flags, what);
	plen = strcmp(t[top].point, "/") ? strlen(t[top].point) : 0;
	for (size_t i = 0; i < n; i++) {
		if (!in[i] || i == top)
			continue;
		if (strncmp(t[i].point, t[top].point, plen) || t[i].point[plen] != '/')
			die("remount %s: a mount below it lies elsewhere", what);
		sub = mnt_walk(fd, t[i].point + plen + 1, 0);
		subid = sub < 0 ? -1 : mnt_id(sub);
		for (size_t j = 0; j < n && subid >= 0; j++)
			if (t[j].id == subid && !in[j])
				subid = -1;
		if (subid < 0)
			die("remount %s: the tree changed under us", what);
		remount(sub, flags, what);
		close(sub);
	}
	free(in);
	free(t);
}

/*
 * Add `flags` (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC) to the mount at
 * `fd` and every mount below it, keeping each one's own flags (nosymfollow,
 * noatime, ...): a read-only bind must be read-only all the way down.
 */
void mnt_set_tree(int fd, unsigned long flags, const char *what)
{
	int rc = priv_setattr(fd, flags);

	if (rc && errno == ENOSYS)
		set_each(fd, flags, what);
	else if (rc)
		die_errno("set flags on %s", what);
}
