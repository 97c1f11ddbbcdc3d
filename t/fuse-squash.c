/*
 * fuse-squash: a read-only FUSE view of a directory that treats requests
 * the way a root-squashing NFS server does, for vial's IMAGE_GROUP tests.
 *
 *   fuse-squash BACKING MOUNTPOINT LOG
 *
 * Every open is judged by the file's owner, group and mode against the
 * requester's uid and fsgid (what FUSE passes, like AUTH_SYS), except that
 * uid 0 is squashed to nobody (65534:65534): root's own open of a
 * root:group 0640 file is refused, the group's is not. Reads go through
 * the handle the open returned, as NFS reads use the opener's credential
 * (the loop device reads from a kernel thread running as root).
 * Each open is appended to LOG as "open NAME uid=U gid=G ok|refused".
 * A file whose name ends in ".eperm" answers EPERM to every open from a
 * uid other than 0, to test that only EACCES leads vial to its fallback.
 */
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *backing;
static FILE *logf;

static int real(char *buf, const char *path)
{
	if (snprintf(buf, PATH_MAX, "%s%s", backing, path) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static void *sq_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;
	return NULL;
}

static int sq_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	char p[PATH_MAX];

	(void)fi;
	if (real(p, path))
		return -ENAMETOOLONG;
	return lstat(p, st) ? -errno : 0;
}

static int sq_readlink(const char *path, char *buf, size_t size)
{
	char p[PATH_MAX];
	ssize_t n;

	if (real(p, path) || size == 0)
		return -EINVAL;
	n = readlink(p, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static int sq_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	char p[PATH_MAX];
	struct dirent *d;
	DIR *dir;

	(void)off, (void)fi, (void)flags;
	if (real(p, path) || !(dir = opendir(p)))
		return -EACCES;
	while ((d = readdir(dir)))
		fill(buf, d->d_name, NULL, 0, 0);
	closedir(dir);
	return 0;
}

/* The server's own check, root squashed to nobody. */
static int allowed(const struct stat *st, uid_t uid, gid_t gid)
{
	mode_t m;

	if (uid == 0)
		uid = gid = 65534;
	if (uid == st->st_uid)
		m = st->st_mode >> 6;
	else if (gid == st->st_gid)
		m = st->st_mode >> 3;
	else
		m = st->st_mode;
	return (m & 4) != 0;
}

static int sq_open(const char *path, struct fuse_file_info *fi)
{
	const struct fuse_context *c = fuse_get_context();
	size_t len = strlen(path);
	char p[PATH_MAX];
	struct stat st;
	int fd, rc = 0;

	if (real(p, path) || lstat(p, &st))
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		rc = -EROFS;
	else if (c->uid != 0 && len > 6 && !strcmp(path + len - 6, ".eperm"))
		rc = -EPERM;
	else if (!allowed(&st, c->uid, c->gid))
		rc = -EACCES;
	fprintf(logf, "open %s uid=%u gid=%u %s\n", path, (unsigned)c->uid,
		(unsigned)c->gid, rc ? "refused" : "ok");
	fflush(logf);
	if (rc)
		return rc;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int sq_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	ssize_t n = pread((int)fi->fh, buf, size, off);

	(void)path;
	return n < 0 ? -errno : (int)n;
}

static int sq_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close((int)fi->fh);
	return 0;
}

static const struct fuse_operations ops = {
	.init = sq_init,
	.getattr = sq_getattr,
	.readlink = sq_readlink,
	.readdir = sq_readdir,
	.open = sq_open,
	.read = sq_read,
	.release = sq_release,
};

int main(int argc, char **argv)
{
	char *fargv[] = { argv[0], "-f", "-s", "-o",
			  "allow_other,default_permissions,fsname=fuse-squash",
			  argc > 2 ? argv[2] : NULL, NULL };

	if (argc != 4) {
		fprintf(stderr, "usage: fuse-squash BACKING MOUNTPOINT LOG\n");
		return 2;
	}
	backing = argv[1];
	logf = fopen(argv[3], "a");
	if (!logf) {
		perror(argv[3]);
		return 1;
	}
	return fuse_main(6, fargv, &ops, NULL);
}
