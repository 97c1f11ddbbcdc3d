/*
 * resolve.c's resolve() and target_open(): a mount destination looked up inside
 * the container root, through the image's own symlinks (bytes the image's
 * author chose), as RESOLVE_IN_ROOT would. The input describes an image
 * tree and a destination; the directory resolve() returns must be inside
 * the root, be the one openat2(RESOLVE_IN_ROOT) finds, and nothing may
 * appear outside the root.
 *
 * Input: lines of
 *   d PATH          a directory (and its parents)
 *   f PATH          a regular file
 *   l PATH TARGET   a symlink
 *   p PATH          the destination to resolve (the last one wins)
 * where "[TEXT]N" stands for TEXT repeated N times (N < 10000), so that
 * short inputs can name long paths and link targets.
 *
 * The tree lives on a tmpfs of a private mount namespace (mounted afresh
 * for every input): root/ is the container, outside/ the host.
 * fuzz-link:
 */
#include <dirent.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "harness.h"
#include "../resolve.c"
#include "../privop.c"	/* mount points made as root, here as the fuzzer */

#define MAX_EXPAND (3 * PATH_MAX)	/* longer than vial's buffers, bounded */
#define MAX_DEPTH 64			/* components a d/f/l line makes */

/* What resolve.c needs from the rest of vial. */
const struct policy policy = { .stage_dir = "/nonexistent" };
static struct user user = { .uid = 0, .gid = 0, .name = "root", .home = "/root" };
const struct user *priv_user(void) { return &user; }
void *xcalloc(size_t n, size_t size) { return fuzz_alloc(calloc(n, size)); }
void *xrealloc(void *p, size_t n) { return fuzz_alloc(realloc(p, n)); }
void priv_raise(void) {}
void priv_lower(void) {}
int mnt_id(int fd) { (void)fd; abort(); }	/* only for the caller's binds */
/* What the room needs besides: never reached here. */
void priv_shield(void) { abort(); }
void priv_unshield(void) { abort(); }
void seal_refused(const char *image, int err) { (void)image, (void)err; abort(); }
void seal_maps(char uids[SEAL_MAP], char gids[SEAL_MAP]) { (void)uids, (void)gids; abort(); }

static char base[PATH_MAX];	/* the tmpfs */
static char rootpath[PATH_MAX];	/* base/root: the container */
static ino_t root_ino;

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s) || close(fd))
		fuzz_setup_failed(path);
}

/* A mount namespace of our own, as root or in a user namespace. */
static void private_ns(void)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (unshare(CLONE_NEWNS)) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS))
			fuzz_setup_failed("unshare (the resolve harness needs root or user namespaces)");
		write_file("/proc/self/setgroups", "deny");
		snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
		write_file("/proc/self/uid_map", map);
		snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
		write_file("/proc/self/gid_map", map);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		fuzz_setup_failed("make / private");
}

static void fresh_tmpfs(void)
{
	struct stat st;

	umount2(base, MNT_DETACH);
	if (mount("fuzz", base, "tmpfs", 0, "mode=0755,size=64m") || mkdir(rootpath, 0755) ||
	    stat(rootpath, &st))
		fuzz_setup_failed("tmpfs");
	root_dev = st.st_dev;	/* the "overlay": mount points may be made */
	root_ino = st.st_ino;
}

/* At the fuzzer's exit: the tmpfs goes with the namespace, its mount
 * point stays on the host (run.sh's TMPDIR goes as a whole anyway). */
static void cleanup(void)
{
	umount2(base, MNT_DETACH);
	rmdir(base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc, (void)argv;
	private_ns();
	snprintf(base, sizeof base, "%s/vial-fuzz-resolve.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(base))
		fuzz_setup_failed("mkdtemp");
	snprintf(rootpath, sizeof rootpath, "%s/root", base);
	atexit(cleanup);
	fresh_tmpfs();
	fuzz_fds_init();
	return 0;
}

/* "[TEXT]N" expanded; NULL if longer than MAX_EXPAND. */
static char *expand(const char *s, size_t n)
{
	char *out = malloc(MAX_EXPAND + 1);
	size_t len = 0;

	if (!out)
		fuzz_setup_failed("malloc");
	for (size_t i = 0; i < n;) {
		const char *rb = s[i] == '[' ? memchr(s + i, ']', n - i) : NULL;
		size_t reps = 0, k = rb ? (size_t)(rb - s) + 1 : i;

		while (rb && k < n && k - (size_t)(rb - s) <= 4 && s[k] >= '0' && s[k] <= '9')
			reps = reps * 10 + (size_t)(s[k++] - '0');
		if (!rb || k == (size_t)(rb - s) + 1) {
			if (len == MAX_EXPAND)
				goto refuse;
			out[len++] = s[i++];
			continue;
		}
		for (size_t r = 0; r < reps; r++) {
			size_t t = (size_t)(rb - s) - i - 1;
			if (len + t > MAX_EXPAND)
				goto refuse;
			memcpy(out + len, s + i + 1, t);
			len += t;
		}
		i = k;
	}
	out[len] = 0;
	if (strlen(out) != len)	/* a NUL: not a path */
		goto refuse;
	return out;
refuse:
	free(out);
	return NULL;
}

/* The parent of `path`'s last component, made inside root (never through
 * a symlink or out of it); the last component in *last. -1 if it cannot. */
static int make_parents(char *path, char **last)
{
	int dir = open(rootpath, O_PATH | O_DIRECTORY), depth = 0, next;
	char *c, *save = NULL, *prev = NULL;

	for (c = strtok_r(path, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, ".") || !strcmp(c, "..") || ++depth > MAX_DEPTH)
			break;
		if (prev) {
			mkdirat(dir, prev, 0755);
			next = openat(dir, prev, O_PATH | O_DIRECTORY | O_NOFOLLOW);
			close(dir);
			if ((dir = next) < 0)
				return -1;
		}
		prev = c;
	}
	if (c || !prev) {
		close(dir);
		return -1;
	}
	*last = prev;
	return dir;
}

/* Build the image tree from the input; returns the destination path. */
static char *build(const char *s, size_t n)
{
	char *dst = NULL;

	while (n) {
		const char *nl = memchr(s, '\n', n);
		size_t len = nl ? (size_t)(nl - s) : n;
		const char *sp = len > 2 ? memchr(s + 2, ' ', len - 2) : NULL;
		char *a = len >= 2 && s[1] == ' ' ?
			  expand(s + 2, (sp && s[0] == 'l' ? (size_t)(sp - s) : len) - 2) : NULL;
		char *t = a && s[0] == 'l' && sp ? expand(sp + 1, len - (size_t)(sp - s) - 1) : NULL;
		char *last;
		int dir;

		if (a && s[0] == 'p') {
			free(dst);
			dst = a;
			a = NULL;
		} else if (a && (s[0] == 'd' || s[0] == 'f' || (s[0] == 'l' && t)) &&
			   (dir = make_parents(a, &last)) >= 0) {
			if (s[0] == 'd')
				mkdirat(dir, last, 0755);
			else if (s[0] == 'f')
				close(openat(dir, last, O_WRONLY | O_CREAT | O_EXCL, 0644));
			else
				symlinkat(t, dir, last);
			close(dir);
		}
		free(a);
		free(t);
		s += len + !!nl;
		n -= len + !!nl;
	}
	return dst;
}

/* `fd` is the container root or below it: going up from it meets the
 * root before the top of the tree (paths may be too long for readlink). */
static void check_inside(int fd)
{
	struct stat st, up;
	int cur = dup(fd), next;

	FUZZ_ASSERT(cur >= 0 && !fstat(cur, &st));
	while (st.st_dev != root_dev || st.st_ino != root_ino) {
		next = openat(cur, "..", O_PATH | O_DIRECTORY);
		FUZZ_ASSERT(next >= 0 && !fstat(next, &up));
		close(cur);
		cur = next;
		if (up.st_dev == st.st_dev && up.st_ino == st.st_ino) {
			fprintf(stderr, "==FUZZ== resolved outside the root\n");
			FUZZ_ASSERT(!"inside the root");
		}
		st = up;
	}
	close(cur);
}

/* The tmpfs holds root/ and nothing else: nothing was made outside. */
static void check_nothing_outside(void)
{
	DIR *d = opendir(base);
	struct dirent *e;
	int n = 0;

	FUZZ_ASSERT(d);
	while ((e = readdir(d)))
		n++;
	closedir(d);
	FUZZ_ASSERT(n == 3);	/* ., .., root */
}

/* The kernel's RESOLVE_IN_ROOT on the same tree, for the parent of `dst`. */
static int kernel_parent(int root, const char *dst)
{
	char p[PATH_MAX];
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT };
	size_t n;

	if (snprintf(p, sizeof p, "%s", dst) >= (int)sizeof p)
		return -2;
	for (n = strlen(p); n && p[n - 1] == '/'; n--)
		;
	while (n && p[n - 1] != '/')
		n--;
	p[n] = 0;
	return (int)syscall(SYS_openat2, root, n ? p : ".", &how, sizeof how);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char name[NAME_MAX + 1], *dst;
	struct stat a, b;
	int root, dir, fd, k;

	fresh_tmpfs();
	dst = build((const char *)data, len);
	if (!dst)
		return 0;
	root = open(rootpath, O_PATH | O_DIRECTORY);
	FUZZ_ASSERT(root >= 0);
	fuzz_arm();
	if (setjmp(fuzz_jmp))
		FUZZ_ASSERT(!"resolve never dies");
	memset(name, 0x55, sizeof name);
	dir = resolve(root, dst, name, 0);
	if (dir >= 0) {
		check_inside(dir);
		FUZZ_ASSERT(memchr(name, 0, sizeof name) && name[0] && !strchr(name, '/') &&
			    strcmp(name, ".") && strcmp(name, ".."));
		/* the directory RESOLVE_IN_ROOT finds (dst short enough for it) */
		k = kernel_parent(root, dst);
		if (k >= 0) {
			FUZZ_ASSERT(!fstat(k, &a) && !fstat(dir, &b));
			if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
				fprintf(stderr, "==FUZZ== vial and RESOLVE_IN_ROOT disagree on %s\n", dst);
				FUZZ_ASSERT(!"the kernel's directory");
			}
			close(k);
		}
		fd = target_open(dir, name, 1, 0);
		if (fd >= 0) {
			check_inside(fd);
			close(fd);
		}
		close(dir);
	}
	fuzz_disarm();
	close(root);
	free(dst);
	FUZZ_ASSERT(fuzz_fds_reset() == 0);
	check_nothing_outside();
	return 0;
}
