/*
 * The host's /etc/ld.so.cache, read by vial itself: a static binary has
 * no ldconfig to ask, and vial never runs a host program. Its bytes are
 * root's, but the parser trusts no number in them: every count and
 * offset is checked against the buffer before use, so it is fuzzed as it
 * is (ldcache_parse) and used on the file's fd (ldcache_read).
 *
 * Two layouts, as glibc's sysdeps/generic/dl-cache.h describes them:
 *   old  "ld.so-1.7.0", pad to 12, u32 nlibs, then nlibs entries
 *        { i32 flags; u32 key, value } (12 bytes); string offsets count
 *        from the end of the entries.
 *   new  "glibc-ld.so.cache" "1.1", u32 nlibs, u32 len_strings, u8 flags
 *        (endianness), 3 pad, u32 extension offset, 3 u32 unused (48 bytes),
 *        then entries { i32 flags; u32 key, value, osversion; u64 hwcap }
 *        (24 bytes); string offsets count from the new header.
 * The compat layout is an old one whose string table begins, 8-aligned,
 * with a new one: glibc then reads the new one, and so does vial.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "vial.h"

#define OLD_MAGIC "ld.so-1.7.0"
#define OLD_HDR 16
#define OLD_ENTRY 12
#define NEW_MAGIC "glibc-ld.so.cache1.1"
#define NEW_HDR 48
#define NEW_ENTRY 24
#define MAX_CACHE (64u << 20)	/* far above any real cache (a few 100 KiB) */

/*
 * The flags ldconfig gives this machine's libraries (glibc's elf/ldconfig.h:
 * FLAG_ELF_LIBC6 | the architecture's FLAG_*_LIB*): another ABI's
 * libraries (i386 on x86_64, say) must not be bound into the container.
 */
#if defined(__x86_64__) && defined(__ILP32__)
const int32_t ldcache_host_flags = 0x0803;
#elif defined(__x86_64__)
const int32_t ldcache_host_flags = 0x0303;
#elif defined(__aarch64__) && defined(__LP64__)
const int32_t ldcache_host_flags = 0x0a03;
#elif defined(__powerpc64__)
const int32_t ldcache_host_flags = 0x0503;
#elif defined(__s390x__)
const int32_t ldcache_host_flags = 0x0403;
#elif defined(__riscv) && __riscv_xlen == 64 && defined(__riscv_float_abi_double)
const int32_t ldcache_host_flags = 0x1003;
#elif defined(__i386__) || (defined(__arm__) && !defined(__ARM_PCS_VFP))
const int32_t ldcache_host_flags = 0x0003;
#elif defined(__arm__)
const int32_t ldcache_host_flags = 0x0903;
#else
const int32_t ldcache_host_flags = -1;	/* unknown: no entry matches */
#endif

__attribute__((format(printf, 2, 3))) static int fail(struct ldcache *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* The cache is written in the host's byte order, at any alignment. */
static uint32_t u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t u64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* A new-format cache at `base`; 1 if it is one, 0 if not, -1 if broken. */
static int parse_new(const unsigned char *buf, size_t len, size_t base, struct ldcache *c)
{
	const unsigned char mine = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 2 : 3;
	size_t n, flags;

	if (base > len || len - base < NEW_HDR || memcmp(buf + base, NEW_MAGIC, 20))
		return 0;
	n = u32(buf + base + 20);
	flags = buf[base + 28] & 3;
	/* 0: an old ldconfig that wrote no byte order; 1: marked invalid */
	if (flags == 1)
		return fail(c, "the cache is marked invalid");
	if (flags && flags != mine)
		return fail(c, "the cache is in the other byte order");
	if (n > (len - base - NEW_HDR) / NEW_ENTRY)
		return fail(c, "%zu entries do not fit in %zu bytes", n, len);
	c->entries = base + NEW_HDR;
	c->n = n;
	c->size = NEW_ENTRY;
	c->strings = base;
	return 1;
}

/* An old-format cache, or the compat layout: old entries, then a new cache. */
static int parse_old(const unsigned char *buf, size_t len, struct ldcache *c)
{
	size_t n, end;
	int rc;

	if (len < OLD_HDR)
		return fail(c, "too short for a cache (%zu bytes)", len);
	n = u32(buf + 12);
	if (n > (len - OLD_HDR) / OLD_ENTRY)
		return fail(c, "%zu entries do not fit in %zu bytes", n, len);
	end = OLD_HDR + n * OLD_ENTRY;
	rc = parse_new(buf, len, (end + 7) & ~(size_t)7, c);
	if (rc)
		return rc < 0 ? -1 : 0;
	c->entries = OLD_HDR;
	c->n = n;
	c->size = OLD_ENTRY;
	c->strings = end;
	return 0;
}

/* Take `buf` as a whole ld.so.cache; entries with `flags` are wanted. */
int ldcache_parse(const unsigned char *buf, size_t len, int32_t flags, struct ldcache *c)
{
	int rc;

	memset(c, 0, sizeof *c);
	c->buf = buf;
	c->len = len;
	c->flags = flags;
	if (len >= OLD_HDR && !memcmp(buf, OLD_MAGIC, 11))
		return parse_old(buf, len, c);
	rc = parse_new(buf, len, 0, c);
	if (rc == 0)
		return fail(c, "not an ld.so.cache (no known magic)");
	return rc < 0 ? -1 : 0;
}

/* The NUL-terminated string at `off` from the string base, or NULL. */
static const char *string(const struct ldcache *c, uint32_t off)
{
	size_t at;

	if (off > c->len - c->strings)
		return NULL;
	at = c->strings + off;
	if (at >= c->len || !memchr(c->buf + at, 0, c->len - at))
		return NULL;
	return (const char *)c->buf + at;
}

/*
 * Entry i, if it is one of ours: a library for this machine's ABI, with
 * both strings inside the buffer. Entries for a glibc-hwcaps subdirectory
 * (hwcap set) are skipped: the baseline copy serves every CPU.
 */
int ldcache_entry(const struct ldcache *c, size_t i, const char **name, const char **path)
{
	const unsigned char *p;

	if (i >= c->n)
		return -1;
	p = c->buf + c->entries + i * c->size;
	if ((int32_t)u32(p) != c->flags || (c->size == NEW_ENTRY && u64(p + 16)))
		return -1;
	*name = string(c, u32(p + 4));
	*path = string(c, u32(p + 8));
	return *name && *path && **name && **path == '/' ? 0 : -1;
}

/* The whole file into memory (the caller opened it), then parsed. */
int ldcache_read(int fd, int32_t flags, struct ldcache *c)
{
	unsigned char *buf;
	struct stat st;
	size_t got = 0;
	ssize_t r;

	memset(c, 0, sizeof *c);
	if (fstat(fd, &st))
		return fail(c, "stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > MAX_CACHE)
		return fail(c, "not a regular file of at most %u bytes", MAX_CACHE);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return fail(c, "out of memory");
	while (got < (size_t)st.st_size &&
	       (r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got)) > 0)
		got += (size_t)r;
	if (ldcache_parse(buf, got, flags, c)) {
		ldcache_free(c);	/* c->buf is buf */
		return -1;
	}
	return 0;
}

void ldcache_free(struct ldcache *c)
{
	free((void *)c->buf);
	c->buf = NULL;
	c->n = 0;
}
