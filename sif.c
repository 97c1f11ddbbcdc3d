/*
 * SIF (Singularity Image Format, version "01"): find the primary system
 * partition that vial mounts. The parser works on bytes in memory and
 * never trusts a number it read: every offset, size and count is checked
 * against the buffer and the file before use, so it can be fuzzed as it
 * is (sif_parse) and used on an image's fd (sif_read). Layout: FACTS.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "vial.h"

#define HDR_LEN 128
#define DESC_LEN 585
#define T_PARTITION 0x4004
#define PART_PRIMARY 2
#define FS_ENCRYPTED 5

/* The SIF architecture code of the machine vial was built for. */
#if defined(__x86_64__)
const char sif_host_arch[] = "02";
#elif defined(__i386__)
const char sif_host_arch[] = "01";
#elif defined(__aarch64__)
const char sif_host_arch[] = "04";
#elif defined(__arm__)
const char sif_host_arch[] = "03";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
const char sif_host_arch[] = "06";
#elif defined(__powerpc64__)
const char sif_host_arch[] = "05";
#elif defined(__s390x__)
const char sif_host_arch[] = "11";
#elif defined(__riscv) && __riscv_xlen == 64
const char sif_host_arch[] = "12";
#else
const char sif_host_arch[] = "00";	/* unknown: every SIF is refused */
#endif

__attribute__((format(printf, 2, 3))) static int fail(struct sif *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* Two ASCII digits and a NUL, as every SIF writer stores them. */
static int code_ok(const unsigned char *p)
{
	return p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' && p[2] == 0;
}

/* `off`+`len` lies inside a file of `filesize` bytes, without overflow. */
static int inside(uint64_t off, uint64_t len, uint64_t filesize)
{
	return off <= filesize && len <= filesize - off;
}

/* The 128-byte global header: where the descriptors are, and how many. */
static int header(const unsigned char *h, uint64_t filesize, struct sif *s)
{
	uint64_t total = le64(h + 88);

	memset(s, 0, sizeof *s);
	s->root = -1;
	if (memcmp(h + 32, "SIF_MAGIC", 10))
		return fail(s, "no SIF magic");
	if (memcmp(h + 42, "01", 3))
		return fail(s, "SIF version is not 01");
	if (!code_ok(h + 45))
		return fail(s, "bad architecture code in the header");
	memcpy(s->arch, h + 45, 3);
	s->descoff = le64(h + 96);
	/* A bound, not a format rule: it keeps what vial reads small. */
	if (total == 0 || total > SIF_MAX_DESC)
		return fail(s, "%llu descriptors (vial reads 1 to %d)",
			    (unsigned long long)total, SIF_MAX_DESC);
	s->total = (size_t)total;
	if (s->descoff < HDR_LEN || !inside(s->descoff, s->total * DESC_LEN, filesize))
		return fail(s, "descriptors at offset %llu lie outside the file (truncated?)",
			    (unsigned long long)s->descoff);
	return 0;
}

/* One descriptor, 585 bytes: the fields vial uses or shows. */
static void descriptor(const unsigned char *p, struct sif_desc *d)
{
	d->type = le32(p);
	d->id = le32(p + 5);
	d->offset = le64(p + 17);
	d->size = le64(p + 25);
	d->fstype = (int32_t)le32(p + 201);
	d->parttype = (int32_t)le32(p + 205);
	memcpy(d->arch, p + 209, 3);
	d->arch[2] = code_ok(p + 209) ? 0 : '?';
}

/* The one partition vial may mount, checked against the file and host. */
static int check_root(struct sif *s, const char *arch, uint64_t filesize)
{
	const struct sif_desc *d = &s->d[s->root];

	if (d->fstype == FS_ENCRYPTED)
		return fail(s, "the primary partition is encrypted (not supported)");
	if (d->fstype != SIF_FS_SQUASHFS && d->fstype != SIF_FS_EXT3)
		return fail(s, "primary partition file system type %d is not "
			    "squashfs (1) or ext3 (2)", (int)d->fstype);
	if (d->arch[2] != 0)
		return fail(s, "bad architecture code in the primary partition");
	if (strcmp(d->arch, arch))
		return fail(s, "built for architecture %s, this machine is %s",
			    sif_arch_name(d->arch), sif_arch_name(arch));
	if (d->size == 0 || !inside(d->offset, d->size, filesize))
		return fail(s, "primary partition (offset %llu, size %llu) lies "
			    "outside the file (truncated?)",
			    (unsigned long long)d->offset, (unsigned long long)d->size);
	return 0;
}

/* The descriptor array, `s->total` entries; picks the primary partition. */
static int descriptors(const unsigned char *p, const char *arch, uint64_t filesize,
		       struct sif *s)
{
	for (size_t i = 0; i < s->total; i++, p += DESC_LEN) {
		struct sif_desc *d = &s->d[s->nused];

		if (!p[4])	/* unused slot */
			continue;
		descriptor(p, d);
		if (d->type == T_PARTITION && d->parttype == PART_PRIMARY) {
			if (s->root >= 0)
				return fail(s, "more than one primary partition");
			s->root = (int)s->nused;
		}
		s->nused++;
	}
	if (s->root < 0)
		return fail(s, "no primary system partition");
	return check_root(s, arch, filesize);
}

int sif_parse(const unsigned char *buf, size_t len, uint64_t filesize, const char *arch,
	      struct sif *s)
{
	if (len < HDR_LEN) {
		memset(s, 0, sizeof *s);
		return fail(s, "truncated SIF header");
	}
	if (header(buf, filesize, s))
		return -1;
	if (!inside(s->descoff, s->total * DESC_LEN, len))
		return fail(s, "descriptors lie outside the buffer");
	return descriptors(buf + s->descoff, arch, filesize, s);
}

static int read_at(int fd, unsigned char *buf, size_t n, uint64_t off)
{
	while (n) {
		ssize_t r = pread(fd, buf, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		buf += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int sif_read(int fd, uint64_t filesize, const char *arch, struct sif *s)
{
	unsigned char h[HDR_LEN], *d;
	int rc;

	if (read_at(fd, h, sizeof h, 0)) {
		memset(s, 0, sizeof *s);
		return fail(s, "cannot read the SIF header (truncated?)");
	}
	if (header(h, filesize, s))
		return -1;
	d = calloc(s->total, DESC_LEN);	/* zeroed: the analyzer cannot see read_at fill it */
	if (!d)
		return fail(s, "out of memory");
	rc = read_at(fd, d, s->total * DESC_LEN, s->descoff);
	if (rc)
		fail(s, "cannot read the SIF descriptors (truncated?)");
	else
		rc = descriptors(d, arch, filesize, s);
	free(d);
	return rc;
}

const char *sif_arch_name(const char *code)
{
	static const char *names[] = { "unknown", "386", "amd64", "arm", "arm64",
		"ppc64", "ppc64le", "mips", "mipsle", "mips64", "mips64le", "s390x",
		"riscv64" };
	unsigned n;

	if (!code_ok((const unsigned char *)code))
		return "invalid";
	n = (unsigned)(code[0] - '0') * 10 + (unsigned)(code[1] - '0');
	return n < LEN(names) ? names[n] : "unknown";
}

/* One line for `vial inspect`: what the descriptor holds. */
void sif_describe(const struct sif_desc *d, char *buf, size_t n)
{
	static const char *types[] = { "definition file", "environment", "labels",
		"partition", "signature", "generic JSON", "generic", "crypto message",
		"SBOM" };
	static const char *fs[] = { "?", "squashfs", "ext3", "immutable object", "raw",
		"encrypted squashfs" };
	static const char *parts[] = { "?", "system", "primary system", "data", "overlay" };
	const char *t = d->type >= 0x4001 && d->type <= 0x4009 ? types[d->type - 0x4001]
							       : "unknown type";

	if (d->type != T_PARTITION) {
		snprintf(buf, n, "id %u: %s, offset %llu, size %llu", (unsigned)d->id, t,
			 (unsigned long long)d->offset, (unsigned long long)d->size);
		return;
	}
	snprintf(buf, n, "id %u: partition, %s, %s, arch %s, offset %llu, size %llu",
		 (unsigned)d->id,
		 d->fstype > 0 && d->fstype < (int32_t)LEN(fs) ? fs[d->fstype] : "unknown fs",
		 d->parttype > 0 && d->parttype < (int32_t)LEN(parts) ? parts[d->parttype]
								      : "unknown partition type",
		 d->arch[2] ? "invalid" : sif_arch_name(d->arch),
		 (unsigned long long)d->offset, (unsigned long long)d->size);
}
