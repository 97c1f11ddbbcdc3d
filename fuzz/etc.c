/*
 * etc_add_user over an image's /etc/passwd and /etc/group made of the
 * fuzz input, in a scratch root (root/, and upper/ for what vial writes,
 * as the overlay will show upper/ over root/): what vial writes must be the image's
 * lines (cut at a line end past ETC_MAX, a missing last newline added)
 * followed by the caller's entries that were missing, found by name
 * (passwd) and gid (group) as a plain line/field split finds them. A
 * symlink in the image is never followed, never written through.
 *
 * Input: a flags byte, the user's name up to '\n', then passwd, then
 * a line "%%", then group.
 * fuzz-link:
 */
#include <dirent.h>
#include <sys/stat.h>

#include "harness.h"
#include "../etc.c"
#include "../privop.c"	/* what etc.c does as root, done here as the fuzzer */

enum {
	BIG_PASSWD = 1,		/* passwd repeated to about ETC_MAX bytes */
	LINK_PASSWD = 2,	/* passwd is a symlink out of the image */
	LINK_GROUP = 4,
	NO_ETC = 8,		/* the image has no /etc */
	LINK_ETC = 16,		/* /etc is a symlink out of the image */
	NO_PASSWD = 32,
	NO_GROUP = 64,
	BIG_GROUP = 128,
};

static const char secret[] = "secret:x:0:0:must never be copied:/:/bin/sh\n";
static struct user user = { .uid = 1000, .gid = 1000 };
static const struct { gid_t gid; const char *name; } groups[] = {
	{ 1000, NULL },		/* the user's own group, named after the user */
	{ 100, "users" },
	{ 4242, "proj" },
};
static char basepath[PATH_MAX];
static int base;		/* holds root/ (the image) and outside/ (the host) */

const struct user *priv_user(void) { return &user; }
void *xcalloc(size_t n, size_t size) { return fuzz_alloc(calloc(n, size)); }
void *xrealloc(void *p, size_t n) { return fuzz_alloc(realloc(p, n)); }
void priv_raise(void) {}
void priv_lower(void) {}
int priv_in_group(gid_t gid) { (void)gid; return 1; }
const struct policy policy;
/* What the room needs besides: never reached here. */
void priv_shield(void) { abort(); }
void priv_unshield(void) { abort(); }
void seal_refused(const char *image, int err) { (void)image, (void)err; abort(); }
void seal_maps(char uids[SEAL_MAP], char gids[SEAL_MAP]) { (void)uids, (void)gids; abort(); }

static void remove_image(void);

/* At the fuzzer's exit: the scratch tree goes. */
static void cleanup(void)
{
	remove_image();
	unlinkat(base, "outside/secret", 0);
	unlinkat(base, "outside", AT_REMOVEDIR);
	rmdir(basepath);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *dir = basepath;
	const char *tmp = getenv("TMPDIR");
	int fd;

	(void)argc, (void)argv;
	/* run.sh points TMPDIR at a directory it removes */
	snprintf(dir, sizeof basepath, "%s/vial-fuzz-etc.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir) || (base = open(dir, O_PATH | O_DIRECTORY)) < 0)
		fuzz_setup_failed("scratch directory");
	if (mkdirat(base, "outside", 0755) ||
	    (fd = openat(base, "outside/secret", O_WRONLY | O_CREAT, 0600)) < 0 ||
	    write(fd, secret, sizeof secret - 1) != sizeof secret - 1 || close(fd))
		fuzz_setup_failed("outside/secret");
	atexit(cleanup);
	gr = calloc(LEN(groups), sizeof *gr);
	if (!gr)
		fuzz_setup_failed("calloc");
	fuzz_fds_init();
	return 0;
}

static char *image_bytes(const char *p, size_t n, int big, size_t *len);

static void put_file(int dir, const char *name, const char *p, size_t n, int big)
{
	size_t len;
	char *b = image_bytes(p, n, big, &len);
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0 || write(fd, b, len) != (ssize_t)len || close(fd))
		fuzz_setup_failed(name);
	free(b);
}

/* The image: root/etc with the files the flags ask for. */
static void make_image(int flags, const char *pw, size_t npw, const char *grp, size_t ngrp)
{
	int etc;

	if (mkdirat(base, "root", 0755) || mkdirat(base, "upper", 0755))
		fuzz_setup_failed("root");
	if (flags & LINK_ETC) {
		if (symlinkat("../outside", base, "root/etc"))
			fuzz_setup_failed("root/etc");
		return;
	}
	if (flags & NO_ETC)
		return;
	if (mkdirat(base, "root/etc", 0755) || (etc = openat(base, "root/etc", O_PATH)) < 0)
		fuzz_setup_failed("root/etc");
	if (flags & LINK_PASSWD) {
		if (symlinkat("../../outside/secret", etc, "passwd"))
			fuzz_setup_failed("passwd");
	} else if (!(flags & NO_PASSWD)) {
		put_file(etc, "passwd", pw, npw, flags & BIG_PASSWD);
	}
	if (flags & LINK_GROUP) {
		char abs[PATH_MAX + 16];

		/* absolute: to the very file, were it followed on the host */
		snprintf(abs, sizeof abs, "%s/outside/secret", basepath);
		if (symlinkat(abs, etc, "group"))
			fuzz_setup_failed("group");
	} else if (!(flags & NO_GROUP)) {
		put_file(etc, "group", grp, ngrp, flags & BIG_GROUP);
	}
	close(etc);
}

static void remove_image(void)
{
	unlinkat(base, "upper/etc/passwd", 0);
	unlinkat(base, "upper/etc/group", 0);
	unlinkat(base, "upper/etc", AT_REMOVEDIR);
	if (unlinkat(base, "upper", AT_REMOVEDIR) && errno != ENOENT)
		fuzz_setup_failed("remove upper");
	unlinkat(base, "root/etc/passwd", 0);
	unlinkat(base, "root/etc/group", 0);
	if (unlinkat(base, "root/etc", AT_REMOVEDIR) && errno != ENOENT)
		unlinkat(base, "root/etc", 0);
	if (unlinkat(base, "root", AT_REMOVEDIR) && errno != ENOENT)
		fuzz_setup_failed("remove root");
}

/* A whole file, or NULL (with *n = 0) if it cannot be opened. */
static char *read_file(int dir, const char *name, size_t *n)
{
	struct stat st;
	char *p;
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW);

	*n = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || !(p = malloc((size_t)st.st_size + 1)) ||
	    read(fd, p, (size_t)st.st_size) != st.st_size)
		fuzz_setup_failed(name);
	close(fd);
	*n = (size_t)st.st_size;
	return p;
}

/* The image file as the image holds it: `p` (or repeated, if big). */
static char *image_bytes(const char *p, size_t n, int big, size_t *len)
{
	size_t want = big && n ? ETC_MAX - 2 + n % 5 : n;
	char *b = malloc(want + 1);

	if (!b)
		fuzz_setup_failed("malloc");
	/* doubling copies: a loop per byte is slow under the sanitizers */
	if (want)
		memcpy(b, p, n < want ? n : want);
	for (size_t have = n; have < want; have *= 2)
		memcpy(b + have, b, have < want - have ? have : want - have);
	*len = want;
	return b;
}

/* What vial copies of an image file: at most ETC_MAX bytes, and then
 * only whole lines; a missing last newline added. */
static size_t kept(char *b, size_t n)
{
	if (n >= ETC_MAX) {
		n = ETC_MAX;
		while (n && b[n - 1] != '\n')
			n--;
	}
	if (n && b[n - 1] != '\n')
		b[n++] = '\n';
	return n;
}

/* The reference: a line of `b` (up to its first NUL, as C strings end)
 * whose field `field` (':'-separated) is exactly `val`. */
static int has(const char *b, size_t n, int field, const char *val)
{
	const char *end = memchr(b, 0, n) ? memchr(b, 0, n) : b + n, *l = b;

	while (l < end) {
		const char *nl = memchr(l, '\n', (size_t)(end - l)), *f = l;
		const char *le = nl ? nl : end;
		int i = 0;

		while (i < field && f < le) {
			const char *c = memchr(f, ':', (size_t)(le - f));
			f = c ? c + 1 : le;
			i += c != NULL;
			if (!c)
				break;
		}
		if (i == field) {
			const char *fe = memchr(f, ':', (size_t)(le - f));
			size_t fl = (size_t)((fe ? fe : le) - f);
			if (fl == strlen(val) && !memcmp(f, val, fl))
				return 1;
		}
		l = le + 1;
	}
	return 0;
}

/* /etc/NAME as the overlay shows it: vial's copy in upper/, else the image's. */
static void expect_file(int etc, const char *name, const char *want, size_t nwant)
{
	struct stat st;
	size_t n;
	int up = openat(base, "upper/etc", O_PATH | O_DIRECTORY | O_NOFOLLOW);
	char *got;

	FUZZ_ASSERT(up >= 0);
	if (!fstatat(up, name, &st, AT_SYMLINK_NOFOLLOW))
		etc = up;
	got = read_file(etc, name, &n);

	FUZZ_ASSERT(got);
	FUZZ_ASSERT(!fstatat(etc, name, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode));
	if (n != nwant || memcmp(got, want, n)) {
		fprintf(stderr, "==FUZZ== /etc/%s: %zu bytes written, %zu expected\n", name,
			n, nwant);
		for (size_t i = 0; i < n && i < nwant; i++)
			if (got[i] != want[i]) {
				fprintf(stderr, "==FUZZ== first difference at byte %zu\n", i);
				break;
			}
		FUZZ_ASSERT(!"the file vial wrote");
	}
	free(got);
	close(up);
}

/* The host side never changes, whatever the image holds. */
static void check_outside(void)
{
	size_t n;
	char *s = read_file(base, "outside/secret", &n);
	DIR *d;
	struct dirent *e;
	int fd, entries = 0;

	FUZZ_ASSERT(s && n == sizeof secret - 1 && !memcmp(s, secret, n));
	free(s);
	fd = openat(base, "outside", O_RDONLY | O_DIRECTORY);
	FUZZ_ASSERT(fd >= 0 && (d = fdopendir(fd)));
	while ((e = readdir(d)))
		entries++;
	closedir(d);
	FUZZ_ASSERT(entries == 3);	/* ., .., secret */
}

static void check(int flags, const char *pw, size_t npw, const char *grp, size_t ngrp)
{
	size_t n, m;
	char *want;
	int etc = openat(base, "root/etc", O_PATH | O_DIRECTORY | O_NOFOLLOW);

	FUZZ_ASSERT(etc >= 0 || (flags & NO_ETC));
	/* passwd: untouched if the user is in it, else the kept lines + ours */
	want = image_bytes(pw, npw, flags & BIG_PASSWD, &n);
	if (flags & (LINK_PASSWD | NO_PASSWD | NO_ETC))
		n = 0;
	want = realloc(want, n + 2 + strlen(pw_line));
	FUZZ_ASSERT(want);
	m = kept(want, n);
	if (has(want, m, 0, user.name)) {
		expect_file(etc, "passwd", want, n);
	} else {
		memcpy(want + m, pw_line, strlen(pw_line));
		expect_file(etc, "passwd", want, m + strlen(pw_line));
	}
	free(want);
	/* group: the kept lines + our groups whose gid is missing */
	want = image_bytes(grp, ngrp, flags & BIG_GROUP, &n);
	if (flags & (LINK_GROUP | NO_GROUP | NO_ETC))
		n = 0;
	want = realloc(want, n + 2 + ngr * sizeof gr->line);
	FUZZ_ASSERT(want);
	m = n = kept(want, n);
	for (size_t i = 0; i < ngr; i++) {
		char gid[16];

		snprintf(gid, sizeof gid, "%u", (unsigned)gr[i].gid);
		if (!has(want, n, 2, gid)) {
			memcpy(want + m, gr[i].line, strlen(gr[i].line));
			m += strlen(gr[i].line);
		}
	}
	expect_file(etc, "group", want, m);
	free(want);
	close(etc);
}

/* The user: a name from the input (as a host passwd could hold it). */
static void set_user(const char *name, size_t n)
{
	if (!n || n >= sizeof user.name || memchr(name, ':', n) || memchr(name, 0, n))
		name = "alice", n = 5;
	memcpy(user.name, name, n);
	user.name[n] = 0;
	snprintf(pw_line, sizeof pw_line, "%s:x:%u:%u:%s:%s:%s\n", user.name,
		 (unsigned)user.uid, (unsigned)user.gid, "Alice", "/home/alice", "/bin/sh");
	for (ngr = 0; ngr < LEN(groups); ngr++) {
		gr[ngr].gid = groups[ngr].gid;
		snprintf(gr[ngr].line, sizeof gr->line, "%s:x:%u:%s\n",
			 groups[ngr].name ? groups[ngr].name : user.name,
			 (unsigned)groups[ngr].gid, user.name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char *p = (const char *)data + 1, *end = (const char *)data + len;
	const char *nl, *sep, *grp;
	size_t npw;
	int flags, died;

	if (len < 1)
		return 0;
	flags = data[0];
	nl = memchr(p, '\n', (size_t)(end - p));
	set_user(p, nl ? (size_t)(nl - p) : 0);
	p = nl ? nl + 1 : p;
	sep = memmem(p, (size_t)(end - p), "\n%%\n", 4);
	npw = sep ? (size_t)(sep - p) + 1 : (size_t)(end - p);
	grp = sep ? sep + 4 : end;

	make_image(flags, p, npw, grp, (size_t)(end - grp));
	fuzz_arm();
	if (setjmp(fuzz_jmp)) {
		died = 1;
		fuzz_fds_reset();
	} else {
		int root = openat(base, "root", O_PATH | O_DIRECTORY);
		int upper = openat(base, "upper", O_PATH | O_DIRECTORY);

		FUZZ_ASSERT(root >= 0 && upper >= 0);
		etc_add_user(root, upper);
		fuzz_disarm();
		died = 0;
		close(root);
		close(upper);
		FUZZ_ASSERT(fuzz_fds_reset() == 0);
	}
	/* Only an /etc that is not a directory stops vial, and says so. */
	FUZZ_ASSERT(died == !!(flags & LINK_ETC));
	if (!died)
		check(flags, p, npw, grp, (size_t)(end - grp));
	check_outside();
	remove_image();
	return 0;
}
