/*
 * ldcache_parse over arbitrary bytes taken as a whole /etc/ld.so.cache,
 * and ldcache_read over the same bytes in a memfd: the two must agree.
 * What is accepted must have its entries inside the buffer, and every
 * entry ldcache_entry hands out two NUL-terminated strings inside it
 * (a name, and an absolute path), whatever flags are asked for.
 * fuzz-link: ldcache.c
 */
#include "harness.h"

static int memfd;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	memfd = fuzz_memfd_open();
	fuzz_fds_init();
	return 0;
}

/* Whatever the result: a bounded, printable reason. */
static void check_any(int rc, const struct ldcache *c)
{
	FUZZ_ASSERT(rc == 0 || rc == -1);
	FUZZ_ASSERT(memchr(c->err, 0, sizeof c->err));
	fuzz_check_line(c->err);
	FUZZ_ASSERT(rc == 0 ? !c->err[0] : !!c->err[0]);
}

/* A string ldcache_entry returned: inside the buffer, ending there. */
static void check_string(const struct ldcache *c, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	FUZZ_ASSERT(p >= c->buf && p < c->buf + c->len);
	FUZZ_ASSERT(memchr(p, 0, (size_t)(c->buf + c->len - p)));
}

/* Every entry, once with each entry's own flags (so each is looked at). */
static size_t check_entries(struct ldcache *c)
{
	const char *name, *path;
	size_t ok = 0;
	int32_t want = c->flags, f;

	FUZZ_ASSERT(c->size == 12 || c->size == 24);
	FUZZ_ASSERT(c->entries <= c->len && c->n <= (c->len - c->entries) / c->size);
	FUZZ_ASSERT(c->strings <= c->len);
	for (size_t i = 0; i < c->n; i++) {
		memcpy(&f, c->buf + c->entries + i * c->size, 4);
		c->flags = f;
		if (ldcache_entry(c, i, &name, &path) == 0) {
			check_string(c, name);
			check_string(c, path);
			FUZZ_ASSERT(name[0] && path[0] == '/');
			ok += f == want;
		}
	}
	c->flags = want;
	FUZZ_ASSERT(ldcache_entry(c, c->n, &name, &path) == -1);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct ldcache a, b;
	int ra, rb;
	size_t na = 0;

	ra = ldcache_parse(data, len, ldcache_host_flags, &a);
	check_any(ra, &a);
	if (ra == 0) {
		FUZZ_ASSERT(len >= 16 && (!memcmp(data, "ld.so-1.7.0", 11) ||
					  !memcmp(data, "glibc-ld.so.cache1.1", 20)));
		na = check_entries(&a);
	}

	/* The fd path reads the same bytes: the same verdict and entries. */
	fuzz_memfd_fill(memfd, data, len);
	rb = ldcache_read(memfd, ldcache_host_flags, &b);
	check_any(rb, &b);
	FUZZ_ASSERT(ra == rb);
	if (rb == 0) {
		FUZZ_ASSERT(a.n == b.n && a.entries == b.entries && a.size == b.size &&
			    a.strings == b.strings && b.buf != data);
		FUZZ_ASSERT(check_entries(&b) == na);
		ldcache_free(&b);
	}
	FUZZ_ASSERT(fuzz_fds_reset() == 0);
	return 0;
}
