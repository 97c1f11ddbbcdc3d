/*
 * --nv and --rocm: the host's GPU driver inside the container, as
 * Singularity and Apptainer do it. The driver's user-space half must match
 * the host's kernel module, so it comes from the host: its libraries,
 * found by name in the host's /etc/ld.so.cache, bound read-only into
 * /.singularity.d/libs (on LD_LIBRARY_PATH inside); its tools into
 * /usr/bin where the image has none; its device nodes into a --contain
 * /dev. The names are config.h's.
 *
 * Everything is looked up and opened with the caller's own rights, before
 * the staging tmpfs covers anything, and bound by fd later. Only what
 * root alone controls is bound (a regular file owned by root, not
 * writable by group or other, not on a user's FUSE mount), and a library
 * only from within a directory the cache names: a symlink there that
 * leads elsewhere is not followed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "vial.h"


#define LD_SO_CACHE "/etc/ld.so.cache"
#define LIBDIR "/.singularity.d/libs"
#define MAX_FILES 512		/* both lists in full, with every soname, fit */
#define MAX_DIRS 128		/* distinct library directories in a cache */

enum kind { LIB, BIN, DEV };

struct vendor {
	const char *opt, *name;
	const char *const *libs, *const *bins;
	size_t nlibs, nbins;
	int (*is_dev)(const char *name);	/* its nodes in /dev */
};

struct file {
	int fd;			/* O_PATH, opened as the caller */
	enum kind kind;
	const char *opt;	/* --nv or --rocm, for -v */
	char src[PATH_MAX];	/* the host's file, for -v */
	char dst[PATH_MAX];	/* where it goes in the container */
};

static struct file files[MAX_FILES];
static size_t nfiles;
static struct { dev_t dev; ino_t ino; } dirs[MAX_DIRS];	/* the cache's */
static size_t ndirs;

/* /dev/nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset, nvidiaN, nvidia-caps/ */
static int nv_dev(const char *n)
{
	static const char *const fixed[] = {
		"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset", "nvidia-caps",
	};

	for (size_t i = 0; i < LEN(fixed); i++)
		if (!strcmp(n, fixed[i]))
			return 1;
	return !strncmp(n, "nvidia", 6) && n[6] && strspn(n + 6, "0123456789") == strlen(n + 6);
}

/* /dev/kfd (the compute interface) and /dev/dri/ (card and render nodes) */
static int rocm_dev(const char *n)
{
	return !strcmp(n, "kfd") || !strcmp(n, "dri");
}

/*
 * Only root can have made it or can change it: what vial binds for any
 * user. A device node is writable by all (that is how it is used); a
 * file on a user's FUSE mount has whatever owner that user claims.
 */
static int trusted(int fd, const char *path, enum kind k)
{
	const char *why = NULL;
	struct statfs sf;
	struct stat st;

	if (fstat(fd, &st) || fstatfs(fd, &sf))
		why = strerror(errno);
	else if (k != DEV && !S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (k == DEV && !S_ISCHR(st.st_mode) && !S_ISDIR(st.st_mode))
		why = "not a device or directory";
	else if (st.st_uid != 0)
		why = "not owned by root";
	else if (!S_ISCHR(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)))
		why = "writable by group or other";
	else if (sf.f_type == FUSE_SUPER_MAGIC && mnt_owner_chosen(fd))
		why = "on a FUSE mount whose owners its user chose";
	if (why)
		debug("not binding %s: %s", path, why);
	return !why;
}

static int have(const char *dst)
{
	for (size_t i = 0; i < nfiles; i++)
		if (!strcmp(files[i].dst, dst))
			return 1;
	return 0;
}

/* Keep fd for gpu_bind; 1 if it was kept. */
static int keep(int fd, enum kind k, const char *opt, const char *src, const char *dst)
{
	struct file *f = &files[nfiles];

	if (nfiles == LEN(files)) {
		debug("not binding %s: more than %zu GPU files", src, LEN(files));
		close(fd);
		return 0;
	}
	f->fd = fd;
	f->kind = k;
	f->opt = opt;
	snprintf(f->src, sizeof f->src, "%s", src);
	snprintf(f->dst, sizeof f->dst, "%s", dst);
	nfiles++;
	return 1;
}

/* Note the directory that `path`'s first n bytes name (0: "/"), as (dev, ino), once. */
static void dir_note(const char *path, size_t n)
{
	char d[PATH_MAX];
	struct stat st;

	if (n >= sizeof d || ndirs == LEN(dirs))
		return;
	snprintf(d, sizeof d, "%.*s", n ? (int)n : 1, path);
	if (stat(d, &st) || !S_ISDIR(st.st_mode))
		return;
	for (size_t i = 0; i < ndirs; i++)
		if (dirs[i].dev == st.st_dev && dirs[i].ino == st.st_ino)
			return;
	dirs[ndirs].dev = st.st_dev;
	dirs[ndirs++].ino = st.st_ino;
}

/* The directories of every library the cache names for this machine. */
static void dirs_note(const struct ldcache *c)
{
	const char *name, *path, *last = NULL;
	size_t lastn = 0, n;

	for (size_t i = 0; i < c->n; i++) {
		if (ldcache_entry(c, i, &name, &path))
			continue;
		n = (size_t)(strrchr(path, '/') - path);
		/* entries come sorted by name: most neighbours share a directory */
		if (last && n == lastn && !strncmp(path, last, n))
			continue;
		dir_note(path, n);
		last = path;
		lastn = n;
	}
}

/* Does fd's file lie within a directory of the cache (symlinks resolved)? */
static int in_cache_dirs(int fd, char *real, size_t size)
{
	char proc[32];
	struct stat st;
	ssize_t n = readlink(fdpath(proc, fd), real, size - 1);
	char up[PATH_MAX], *slash;

	if (n <= 0 || real[0] != '/')
		return 0;
	real[n] = 0;
	snprintf(up, sizeof up, "%s", real);
	while ((slash = strrchr(up, '/'))) {
		slash[slash == up] = 0;	/* "/a/b" -> "/a", "/a" -> "/" */
		if (stat(up, &st) == 0)
			for (size_t i = 0; i < ndirs; i++)
				if (dirs[i].dev == st.st_dev && dirs[i].ino == st.st_ino)
					return 1;
		if (!strcmp(up, "/"))
			break;
	}
	return 0;
}

/* Is `name` (a soname: libcuda.so.1) one of `list` (libcuda.so)? */
static int listed(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(list[i]);
		if (!strncmp(name, list[i], len) && (!name[len] || name[len] == '.'))
			return 1;
	}
	return 0;
}

/* One library of the cache: opened as the caller, checked, kept. */
static int lib_open(const struct vendor *v, const char *name, const char *path)
{
	char dst[PATH_MAX], real[PATH_MAX];
	int fd;

	snprintf(dst, sizeof dst, LIBDIR "/%s", name);
	if (strchr(name, '/'))
		return 0;
	if (have(dst))
		return 1;	/* the cache's first entry wins, as for ld.so */
	if ((fd = open(path, O_PATH | O_CLOEXEC)) < 0) {
		debug("%s: %s is in %s but cannot be opened: %s", v->opt, path, LD_SO_CACHE,
		      strerror(errno));
		return 0;
	}
	if (!in_cache_dirs(fd, real, sizeof real)) {
		debug("not following %s: it leads outside the directories of %s", path,
		      LD_SO_CACHE);
	} else if (trusted(fd, real, LIB)) {
		return keep(fd, LIB, v->opt, real, dst);
	}
	close(fd);
	return 0;
}

static size_t libs_open(const struct vendor *v, const struct ldcache *c)
{
	const char *name, *path;
	size_t found = 0;

	for (size_t i = 0; i < c->n; i++)
		if (!ldcache_entry(c, i, &name, &path) && listed(name, v->libs, v->nlibs))
			found += (size_t)lib_open(v, name, path);
	return found;
}

/* Each binary from the first of GPU_BIN_DIRS that has it. */
static void bins_open(const struct vendor *v)
{
	char src[PATH_MAX], dst[PATH_MAX];

	for (size_t i = 0; i < v->nbins; i++) {
		int fd = -1;
		snprintf(dst, sizeof dst, "/usr/bin/%s", v->bins[i]);
		for (size_t d = 0; d < policy.n_gpu_bin_dirs && fd < 0; d++) {
			snprintf(src, sizeof src, "%s/%s", policy.gpu_bin_dirs[d], v->bins[i]);
			fd = open(src, O_PATH | O_CLOEXEC);
		}
		if (fd >= 0 && !have(dst) && trusted(fd, src, BIN))
			keep(fd, BIN, v->opt, src, dst);
		else if (fd >= 0)
			close(fd);
	}
}

/* The vendor's nodes in the host's /dev, for a --contain /dev. */
static void devs_open(const struct vendor *v)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir("/dev");
	int fd;

	if (!d) {
		debug("%s: cannot list /dev: %s", v->opt, strerror(errno));
		return;
	}
	while ((e = readdir(d))) {
		snprintf(path, sizeof path, "/dev/%s", e->d_name);
		if (!v->is_dev(e->d_name) || have(path))
			continue;
		if ((fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0)
			continue;
		if (trusted(fd, path, DEV))
			keep(fd, DEV, v->opt, path, path);
		else
			close(fd);
	}
	closedir(d);
}

/* The host's cache, if root's; else one without entries (why said with -v). */
static void cache_open(struct ldcache *c)
{
	int fd = open(LD_SO_CACHE, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	*c = (struct ldcache){ .buf = NULL };
	if (fd < 0) {
		debug("cannot open %s: %s", LD_SO_CACHE, strerror(errno));
		return;
	}
	/* a cache ldcache_read refuses is left without entries */
	if (trusted(fd, LD_SO_CACHE, LIB) && ldcache_read(fd, ldcache_host_flags, c))
		debug("%s: %s", LD_SO_CACHE, c->err);
	close(fd);
}

static void vendor_open(const struct vendor *v, const struct ldcache *c, const struct launch *l)
{
	size_t libs = libs_open(v, c);

	/* As Apptainer: the command still runs, the missing driver said
	 * once (unless -q: a job that asks for --nv everywhere). */
	if (!libs)
		warn("%s: no %s driver library found in %s on this host", v->opt, v->name,
		     LD_SO_CACHE);
	bins_open(v);
	if (l->contain)		/* else the host's whole /dev is there */
		devs_open(v);
}

/* Before the stage covers anything: every GPU file the launch needs, opened. */
void gpu_open(const struct launch *l)
{
	const struct vendor nv = {
		"--nv", "NVIDIA", policy.nv_libs, policy.nv_bins,
		policy.n_nv_libs, policy.n_nv_bins, nv_dev,
	};
	const struct vendor rocm = {
		"--rocm", "ROCm", policy.rocm_libs, policy.rocm_bins,
		policy.n_rocm_libs, policy.n_rocm_bins, rocm_dev,
	};
	struct ldcache c;

	if (!l->nv && !l->rocm)
		return;
	cache_open(&c);
	dirs_note(&c);
	if (l->nv)
		vendor_open(&nv, &c, l);
	if (l->rocm)
		vendor_open(&rocm, &c, l);
	ldcache_free(&c);
}

/* After the user's binds: what gpu_open found, bound by fd. */
void gpu_bind(int root)
{
	const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV;

	for (size_t i = 0; i < nfiles; i++) {
		const struct file *f = &files[i];
		if (f->kind == BIN && bind_exists(root, f->dst, O_NOFOLLOW))
			debug("%s: not binding %s: the image has %s", f->opt, f->src, f->dst);
		/* a device's place in a --contain /dev is made as for any
		 * mount point: only in vial's own tmpfs (not in a tmpfs of the
		 * host's that a -B put over /dev) */
		else if (bind_host(root, f->fd, f->dst,
				   f->kind == DEV ? MS_NOSUID | MS_NOEXEC : ro, 1) == 0)
			debug("%s: bound %s on %s", f->opt, f->src, f->dst);
		close(f->fd);
	}
	nfiles = 0;
}

static void print_list(const char *what, const char *const *list, size_t n)
{
	printf("%s:", what);
	for (size_t i = 0; i < n; i++)
		printf(" %s", list[i]);
	printf("\n");
}

/* For vial config. */
void gpu_print_config(void)
{
	print_list("--nv libraries", policy.nv_libs, policy.n_nv_libs);
	print_list("--nv binaries", policy.nv_bins, policy.n_nv_bins);
	print_list("--rocm libraries", policy.rocm_libs, policy.n_rocm_libs);
	print_list("--rocm binaries", policy.rocm_bins, policy.n_rocm_bins);
	print_list("GPU binaries looked for in", policy.gpu_bin_dirs, policy.n_gpu_bin_dirs);
}
