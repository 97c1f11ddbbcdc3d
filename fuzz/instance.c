/*
 * instance.c's and record.c's byte parsers and writers: /proc/PID/stat, whose comm (field
 * 2) any process of the caller's may set to any bytes (vial reads its
 * ancestors' to find a Slurm step); an instance record (root's, but
 * parsers stay fuzzed); the names and signals a caller types; and the
 * JSON strings `instance list --json` writes of paths the caller chose.
 *
 * - stat: any bytes parse or are refused; a line the kernel would write
 *   around a comm made of the input parses back to that comm, ppid and
 *   start time.
 * - record: what parses formats back to bytes that parse the same.
 * - name: accepted only if 1-128 of [A-Za-z0-9._-], not "." or "..";
 *   signal: accepted only as 1..SIGRTMAX.
 * - JSON: one string of valid UTF-8, no control byte, no raw < > &,
 *   that decodes to the input with each byte that starts no well-formed
 *   UTF-8 sequence (RFC 3629's table, checked here on its own) as U+FFFD.
 *
 * Refusals are one die() each, whose message names the caller's bytes as
 * they are (as vial's other messages do).
 *
 * Input: a selector byte (its value modulo 5), then the bytes.
 * fuzz-link:
 */
#define FUZZ_VIAL_DIE	/* the refusals below echo the caller's own bytes: not checked */
#include "harness.h"
#include "../instance.c"
#include "../record.c"

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fuzz_msg, sizeof fuzz_msg, fmt, ap);
	va_end(ap);
	FUZZ_ASSERT(fuzz_armed && !strncmp(fuzz_msg, "instance ", 9));
	fuzz_armed = 0;
	longjmp(fuzz_jmp, 1);
}

void die_errno(const char *fmt, ...) { (void)fmt; abort(); }

const struct policy policy = { .instance_dir = "/nonexistent" };
int quiet;
static struct user user = { .uid = 1000, .gid = 1000, .name = "ann", .home = "/home/ann" };

const struct user *priv_user(void) { return &user; }
void *xcalloc(size_t n, size_t size) { return fuzz_alloc(calloc(n, size)); }
void *xrealloc(void *p, size_t n) { return fuzz_alloc(realloc(p, n)); }
int priv_proc_open(int dir, const char *name, int f) { (void)dir, (void)name, (void)f; abort(); }
int priv_state_open(int dir, const char *name, int f) { (void)dir, (void)name, (void)f; abort(); }
int priv_state_unlink(int dir, const char *name) { (void)dir, (void)name; abort(); }
int priv_setns(int fd, int type) { (void)fd, (void)type; abort(); }
int protect_dir_make(const char *path, const char *what, mode_t mode)
{
	(void)path, (void)what, (void)mode;
	abort();
}
void fd_close_all(int own, int a, int b, int c) { (void)own, (void)a, (void)b, (void)c; abort(); }
void linger_launched(int go, int ok) { (void)go, (void)ok; abort(); }
int init_pipe(void) { abort(); }
void warn(const char *fmt, ...) { (void)fmt; abort(); }
void inform(const char *fmt, ...) { (void)fmt; abort(); }
ssize_t fd_slurp(int fd, char *buf, size_t size) { (void)fd, (void)buf, (void)size; abort(); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_fds_init();
	return 0;
}

static void fuzz_stat(const char *s, size_t len)
{
	static char line[4096];
	struct pstat p;
	unsigned long long start = len;
	size_t n = strnlen(s, len) < 31 ? strnlen(s, len) : 31;

	if (!stat_parse(s, &p))
		FUZZ_ASSERT(strlen(p.comm) < sizeof p.comm);
	for (size_t i = 0; i < n; i++)
		start = start * 31 + (unsigned char)s[i];
	snprintf(line, sizeof line, "4242 (%.*s) S 17 4242 4242 0 -1 4194560 110 0 0 0 0 0 0 0 "
		 "20 0 1 0 %llu 2580480 229 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 "
		 "0 0 0 0 0\n", (int)n, s, start);
	FUZZ_ASSERT(!stat_parse(line, &p));
	FUZZ_ASSERT(!strncmp(p.comm, s, n) && strlen(p.comm) == n);
	FUZZ_ASSERT(p.state == 'S' && p.ppid == 17 && p.start == start);
}

static void fuzz_record(const char *s, size_t len)
{
	static struct state a, b;
	static char buf[STATE_MAX];
	int n;

	memset(&a, 0, sizeof a);
	if (record_parse(s, len, &a))
		return;
	/* flags: protected, nv, rocm, starting (15 at most) */
	FUZZ_ASSERT(a.pid >= 2 && a.image[0] == '/' && a.home[0] == '/' && a.out[0] == '/' &&
		    a.err[0] == '/' && a.boot[0] && a.flags <= 15);
	n = record_format(&a, buf, sizeof buf);
	FUZZ_ASSERT(n > 0);
	memset(&b, 0, sizeof b);
	FUZZ_ASSERT(!record_parse(buf, (size_t)n, &b));
	FUZZ_ASSERT(a.pid == b.pid && a.start == b.start && a.flags == b.flags &&
		    !strcmp(a.boot, b.boot) && !strcmp(a.image, b.image) &&
		    !strcmp(a.home, b.home) && !strcmp(a.out, b.out) && !strcmp(a.err, b.err));
}

static void fuzz_name(const char *s)
{
	size_t n = strlen(s);

	fuzz_arm();
	if (setjmp(fuzz_jmp))
		return;
	check_name(s, 0);
	fuzz_disarm();
	FUZZ_ASSERT(n >= 1 && n <= 128 && strcmp(s, ".") && strcmp(s, ".."));
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
			    s[i] == '-');
}

static void fuzz_signal(const char *s)
{
	int sig;

	fuzz_arm();
	if (setjmp(fuzz_jmp))
		return;
	sig = sig_parse(s);
	fuzz_disarm();
	FUZZ_ASSERT(sig >= 1 && sig <= SIGRTMAX);
}

/* RFC 3629's well-formed sequences, by table: the length at p, or 0. */
static size_t well_formed(const unsigned char *p, size_t left)
{
	static const struct { unsigned char lo, hi, b1lo, b1hi; size_t len; } t[] = {
		{ 0x00, 0x7f, 0, 0, 1 }, { 0xc2, 0xdf, 0x80, 0xbf, 2 },
		{ 0xe0, 0xe0, 0xa0, 0xbf, 3 }, { 0xe1, 0xec, 0x80, 0xbf, 3 },
		{ 0xed, 0xed, 0x80, 0x9f, 3 }, { 0xee, 0xef, 0x80, 0xbf, 3 },
		{ 0xf0, 0xf0, 0x90, 0xbf, 4 }, { 0xf1, 0xf3, 0x80, 0xbf, 4 },
		{ 0xf4, 0xf4, 0x80, 0x8f, 4 },
	};

	for (size_t i = 0; i < LEN(t); i++) {
		if (p[0] < t[i].lo || p[0] > t[i].hi)
			continue;
		if (t[i].len > left)
			return 0;
		if (t[i].len > 1 && (p[1] < t[i].b1lo || p[1] > t[i].b1hi))
			return 0;
		for (size_t k = 2; k < t[i].len; k++)
			if (p[k] < 0x80 || p[k] > 0xbf)
				return 0;
		return t[i].len;
	}
	return 0;
}

/* U+0000..U+FFFF as UTF-8 (what a \\uXXXX escape can name) */
static size_t put_utf8(unsigned char *o, unsigned c)
{
	if (c < 0x80) {
		o[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (unsigned char)(0xc0 | c >> 6);
		o[1] = (unsigned char)(0x80 | (c & 0x3f));
		return 2;
	}
	o[0] = (unsigned char)(0xe0 | c >> 12);
	o[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
	o[2] = (unsigned char)(0x80 | (c & 0x3f));
	return 3;
}

static void fuzz_json(const char *s)
{
	static unsigned char want[6 * 4096], got[6 * 4096];
	const unsigned char *in = (const unsigned char *)s;
	size_t n = strlen(s), w = 0, g = 0, len, size = 0;
	char *out = NULL;
	FILE *f = open_memstream(&out, &size), *saved = stdout;
	const unsigned char *o, *end;

	FUZZ_ASSERT(f && n < 4096);
	for (size_t i = 0; i < n; i += len) {
		len = well_formed(in + i, n - i);
		if (!len) {
			w += put_utf8(want + w, 0xfffd);
			len = 1;
		} else {
			memcpy(want + w, in + i, len);
			w += len;
		}
	}
	stdout = f;
	json_string(s);
	stdout = saved;
	FUZZ_ASSERT(!fclose(f) && size >= 2 && out[0] == '"' && out[size - 1] == '"');
	o = (const unsigned char *)out + 1;
	end = (const unsigned char *)out + size - 1;
	while (o < end) {
		FUZZ_ASSERT(*o >= 0x20 && *o != '"' && *o != '<' && *o != '>' &&
			    *o != '&');
		if (*o >= 0x80) {
			len = well_formed(o, (size_t)(end - o));
			FUZZ_ASSERT(len);
			memcpy(got + g, o, len);
			g += len, o += len;
		} else if (*o != '\\') {
			got[g++] = *o++;
		} else if (o + 1 < end && strchr("\"\\nrt", o[1])) {
			got[g++] = o[1] == 'n' ? '\n' : o[1] == 'r' ? '\r' : o[1] == 't' ? '\t' : o[1];
			o += 2;
		} else {
			unsigned c = 0;
			FUZZ_ASSERT(end - o >= 6 && o[1] == 'u');
			for (int k = 2; k < 6; k++) {
				FUZZ_ASSERT(strchr("0123456789abcdef", o[k]) && o[k]);
				c = c << 4 | (unsigned)(strchr("0123456789abcdef", o[k]) -
							"0123456789abcdef");
			}
			FUZZ_ASSERT(c < 0xd800 || c > 0xdfff);
			g += put_utf8(got + g, c);
			o += 6;
		}
	}
	FUZZ_ASSERT(g == w && !memcmp(got, want, w));
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *s;

	if (!len || len > 4096)
		return 0;
	s = malloc(len);
	FUZZ_ASSERT(s);
	memcpy(s, data + 1, len - 1);
	s[len - 1] = 0;
	switch (data[0] % 5) {
	case 0: fuzz_stat(s, len - 1); break;
	case 1: fuzz_record(s, len - 1); break;
	case 2: fuzz_name(s); break;
	case 3: fuzz_signal(s); break;
	default: fuzz_json(s); break;
	}
	free(s);
	FUZZ_ASSERT(fuzz_fds_reset() == 0);
	return 0;
}
