/*
 * protect.c's and audit.c's byte handling of what the caller names: canon() (the
 * lexical tidying of an image path before the protected-directory match),
 * pdir_for() (that match), and the audit line protect_audit() sends to
 * syslog, whose fields (user name, image path, command, cwd) are the
 * caller's bytes, and the admin's line note() sends about a refusal,
 * whose image path and reason (which names paths) are too. canon must equal a plain split/filter/join; the match
 * must be the longest protected directory on a component boundary, with a
 * tidy relative rest; the audit line must be one line, 8 quotes, every
 * field decoding back to what was given (or a marked cut of it).
 *
 * Input: NUL-separated fields: image path, 4 protected directories,
 * user name, cwd, a refusal's reason, then the command's arguments.
 * fuzz-link:
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include "harness.h"

/* The audit line goes to the harness, not to /dev/log. */
static int fuzz_socket(int, int, int);
static int fuzz_connect(int, const struct sockaddr *, socklen_t);
static ssize_t fuzz_send(int, const void *, size_t, int);
#define socket fuzz_socket
#define connect fuzz_connect
#define send fuzz_send
#include "../protect.c"
#include "../audit.c"
#undef socket
#undef connect
#undef send
#include "../mnt.c"	/* the walk asks which mount each step is on */
#include "../privop.c"	/* and takes each step as root */

#define NDIRS 4

static struct protected_dir dirs[NDIRS];
const struct policy policy = { .protected = dirs, .nprotected = NDIRS };
static struct user user = { .uid = 1000, .gid = 1000 };
static char sent[4096];
static size_t nsent;

const struct user *priv_user(void) { return &user; }
void *xcalloc(size_t n, size_t size) { return fuzz_alloc(calloc(n, size)); }
void *xrealloc(void *p, size_t n) { return fuzz_alloc(realloc(p, n)); }
void priv_raise(void) {}
void priv_lower(void) {}
int priv_in_group(gid_t gid) { (void)gid; return 1; }
unsigned long ns_host_flags(int fd) { (void)fd; abort(); }
/* What the room needs besides: never reached here. */
void priv_shield(void) { abort(); }
void priv_unshield(void) { abort(); }
void seal_refused(const char *image, int err) { (void)image, (void)err; abort(); }
void seal_maps(char uids[SEAL_MAP], char gids[SEAL_MAP]) { (void)uids, (void)gids; abort(); }
ssize_t fd_slurp(int fd, char *buf, size_t size) { (void)fd, (void)buf, (void)size; abort(); }

static int fuzz_socket(int domain, int type, int proto)
{
	(void)domain, (void)type, (void)proto;
	return open("/dev/null", O_WRONLY | O_CLOEXEC);
}

static int fuzz_connect(int fd, const struct sockaddr *sa, socklen_t n)
{
	(void)fd, (void)sa, (void)n;
	return 0;
}

static ssize_t fuzz_send(int fd, const void *buf, size_t n, int flags)
{
	(void)fd, (void)flags;
	FUZZ_ASSERT(n < sizeof sent);
	memcpy(sent, buf, n);
	nsent = n;
	return (ssize_t)n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_fds_init();
	return 0;
}

/* The reference tidy: split on '/', drop "" and ".", refuse "..". */
static int ref_canon(const char *in, char *out)
{
	size_t w = 0;

	for (const char *c = in; *c;) {
		size_t n = strcspn(c, "/");

		if (n == 2 && c[0] == '.' && c[1] == '.')
			return -1;
		if (n && !(n == 1 && c[0] == '.')) {
			out[w++] = '/';
			memcpy(out + w, c, n);
			w += n;
		}
		c += n + (c[n] == '/');
	}
	if (!w)
		out[w++] = '/';
	out[w] = 0;
	return 0;
}

static void check_canon(const char *path)
{
	char got[PATH_MAX + 2], want[PATH_MAX + 2];
	int rc;

	if (path[0] != '/' || strlen(path) > PATH_MAX)
		return;		/* canon's callers give it absolute paths only */
	strcpy(got, path);
	rc = canon(got);
	FUZZ_ASSERT(rc == ref_canon(path, want));
	if (!rc)
		FUZZ_ASSERT(!strcmp(got, want));
}

/* The longest protected directory holding `abs`, and a rest with no
 * empty, "." or ".." component: what open_below walks. */
static void check_match(const char *abs)
{
	const struct protected_dir *pd;
	const char *rel = NULL;
	char d[PATH_MAX + 2];
	size_t best = 0;

	for (int i = 0; i < NDIRS; i++) {
		const char *p = dirs[i].path;
		size_t n;

		if (!p || p[0] != '/' || strlen(p) >= PATH_MAX || ref_canon(p, d))
			continue;
		n = strlen(d);
		if (n > 1 && n > best && !strncmp(abs, d, n) && abs[n] == '/')
			best = n;
	}
	pd = pdir_for(abs, &rel);
	FUZZ_ASSERT(!pd == !best);
	if (!pd)
		return;
	FUZZ_ASSERT(rel == abs + best + 1 && *rel);
	for (const char *c = rel; *c;) {
		size_t n = strcspn(c, "/");

		FUZZ_ASSERT(n && !(n == 1 && c[0] == '.') && !(n == 2 && c[0] == '.' && c[1] == '.'));
		c += n + (c[n] == '/');
		FUZZ_ASSERT(c[-1] != '/' || *c);	/* no trailing '/' */
	}
}

/* Undo put()'s escapes in [s, e); *cut: the field ended with "...". */
static size_t unescape(const char *s, const char *e, char *out, int *cut)
{
	size_t n = 0;

	while (s < e) {
		if (*s == '\\') {
			FUZZ_ASSERT(e - s >= 4);
			for (int i = 1; i <= 3; i++)
				FUZZ_ASSERT(s[i] >= '0' && s[i] <= '7');
			out[n++] = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			out[n++] = *s++;
		}
	}
	out[n] = 0;
	*cut = n >= 3 && !memcmp(out + n - 3, "...", 3);
	return n;
}

/* A decoded field is `want`, or a cut of it marked "...". */
static int field_is(const char *s, const char *e, const char *want, size_t max, int last)
{
	char out[4096];
	int cut;
	size_t n = unescape(s, e, out, &cut);

	FUZZ_ASSERT((size_t)(e - s) <= max);
	if (!strcmp(out, want))
		return 1;
	/* a cut inside this field, or of what followed it (a separator) */
	FUZZ_ASSERT(last && cut && n - 3 <= strlen(want) && !strncmp(out, want, n - 3));
	return 0;
}

/* The next raw '"' at or after s: fields never hold one unescaped. */
static const char *quote(const char *s, const char *end)
{
	const char *q = memchr(s, '"', (size_t)(end - s));

	FUZZ_ASSERT(q);
	return q;
}

static const char *expect(const char *s, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	FUZZ_ASSERT((size_t)(end - s) >= n && !memcmp(s, lit, n));
	return s + n;
}

/*
 * What both authpriv lines begin with: one line of `quotes` quotes, no
 * terminal codes, priority `pri`, then user="..." uid=N image="image".
 * Returns the quote that closes the image.
 */
static const char *check_head(int quotes, const char *pri, const char *image)
{
	const char *s = sent, *end = sent + nsent, *q;
	char uid[32];

	FUZZ_ASSERT(nsent > 0 && nsent < 2048);
	for (size_t k = 0; k < nsent; k++) {
		unsigned char c = (unsigned char)sent[k];
		FUZZ_ASSERT(c >= 0x20 && c != 0x7f);
		quotes -= c == '"';
	}
	FUZZ_ASSERT(quotes == 0);
	s = expect(s, end, pri);
	s = quote(s, end) + 1;
	FUZZ_ASSERT(!memcmp(s - 6, "user=\"", 6));
	q = quote(s, end);
	field_is(s, q, user.name, 128, 1);
	snprintf(uid, sizeof uid, "\" uid=%u image=\"", (unsigned)user.uid);
	s = expect(q, end, uid);
	q = quote(s, end);
	field_is(s, q, image, 640, 1);
	return q;
}

static void check_audit(const char *image, char **argv, const char *cwd)
{
	const char *s, *end = sent + nsent, *q, *a;
	char abs[PATH_MAX];
	int i;

	q = check_head(8, "<85>", absolute(image, abs, sizeof abs) ? image : abs);
	s = expect(q, end, "\" command=\"");
	q = quote(s, end);
	/* arguments: escaped (spaces too), separated by raw spaces */
	for (i = 0, a = s; argv[i]; i++) {
		const char *sp = memchr(a, ' ', (size_t)(q - a));

		/* shown whole, or (the last one shown) a marked cut of it */
		field_is(a, sp ? sp : q, argv[i], 640, !sp);
		if (!sp) {
			/* arguments left out only after a "..." (which may
			 * also be an argument's own text: that is ambiguous) */
			FUZZ_ASSERT(!argv[i + 1] || (q - a >= 3 && !memcmp(q - 3, "...", 3)));
			break;
		}
		a = sp + 1;
	}
	/* left by the break: no token beyond the arguments */
	FUZZ_ASSERT(argv[0] ? argv[i] != NULL : q == s);
	FUZZ_ASSERT((size_t)(q - s) <= 640);
	s = expect(q, end, "\" cwd=\"");
	q = quote(s, end);
	field_is(s, q, cwd, 384, 1);
	FUZZ_ASSERT(q + 1 == end);
}

/* The admin's line: user, image (as note() shows it) and reason, each whole or cut. */
static void check_note(const char *image, const char *text)
{
	const char *s, *end = sent + nsent, *q, *want = image;
	char abs[PATH_MAX];

	if (!absolute(image, abs, sizeof abs) || !joined(image, abs, sizeof abs))
		want = abs;
	q = check_head(6, "<84>", want);
	s = expect(q, end, "\" refused=\"");
	q = quote(s, end);
	field_is(s, q, text, 640, 1);
	FUZZ_ASSERT(q + 1 == end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *buf = malloc(len + 1), *f[8], **argv;
	const char *end;
	size_t nf = 0, na = 0;
	struct image img = { .fd = -1 };

	FUZZ_ASSERT(buf);
	memcpy(buf, data, len);
	buf[len] = 0;
	end = buf + len;
	argv = calloc(len + 2, sizeof *argv);
	FUZZ_ASSERT(argv);
	for (char *p = buf; p <= end; p += strlen(p) + 1) {
		if (nf < LEN(f))
			f[nf++] = p;
		else
			argv[na++] = p;
	}
	while (nf < LEN(f))
		f[nf++] = "";
	for (int i = 0; i < NDIRS; i++)
		dirs[i].path = f[1 + i][0] ? f[1 + i] : NULL;

	check_canon(f[0]);
	{
		char abs[PATH_MAX];

		if (f[0][0] == '/' && !absolute(f[0], abs, sizeof abs))
			check_match(abs);
	}

	snprintf(user.name, sizeof user.name, "%s", f[5]);
	img.path = f[0];
	nsent = 0;
	fuzz_arm();
	if (setjmp(fuzz_jmp))
		FUZZ_ASSERT(!"the audit line is always sent");
	protect_audit(&img, argv, f[6]);
	fuzz_disarm();
	check_audit(f[0], argv, f[6]);
	nsent = 0;
	note(f[0], "refused", f[7]);
	check_note(f[0], f[7]);
	FUZZ_ASSERT(fuzz_fds_reset() == 0);
	free(argv);
	free(buf);
	return 0;
}
