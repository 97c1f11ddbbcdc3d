/*
 * sif_parse over arbitrary bytes taken as a whole SIF file, and sif_read
 * over the same bytes in a memfd: the two must agree, and what they accept
 * must hold every rule of FACTS.md (one used primary system partition,
 * squashfs or ext3, the host's architecture, inside the file).
 * fuzz-link: sif.c
 */
#include "harness.h"

#define DESC_LEN 585

static int memfd;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	memfd = fuzz_memfd_open();
	fuzz_fds_init();
	return 0;
}

static uint32_t ref_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ref_le64(const uint8_t *p)
{
	return ref_le32(p) | (uint64_t)ref_le32(p + 4) << 32;
}

/* An accepted file, checked against its raw bytes, not against sif.c. */
static void check_accepted(const uint8_t *data, size_t len, uint64_t filesize,
			   const struct sif *s)
{
	const struct sif_desc *r;
	uint64_t descoff = ref_le64(data + 96), total = ref_le64(data + 88);
	size_t primaries = 0, used = 0;

	FUZZ_ASSERT(!memcmp(data + 32, "SIF_MAGIC", 10) && !memcmp(data + 42, "01", 3));
	FUZZ_ASSERT(total >= 1 && total <= SIF_MAX_DESC && total == s->total);
	FUZZ_ASSERT(descoff >= 128 && descoff == s->descoff);
	FUZZ_ASSERT(descoff <= len && total * DESC_LEN <= len - descoff);
	for (uint64_t i = 0; i < total; i++) {
		const uint8_t *p = data + descoff + i * DESC_LEN;

		if (!p[4])
			continue;
		used++;
		primaries += ref_le32(p) == 0x4004 && ref_le32(p + 205) == 2;
	}
	FUZZ_ASSERT(primaries == 1 && used == s->nused);
	FUZZ_ASSERT(s->root >= 0 && (size_t)s->root < s->nused);
	r = &s->d[s->root];
	FUZZ_ASSERT(r->type == 0x4004 && r->parttype == 2);
	FUZZ_ASSERT(r->fstype == SIF_FS_SQUASHFS || r->fstype == SIF_FS_EXT3);
	FUZZ_ASSERT(!strcmp(r->arch, sif_host_arch));
	FUZZ_ASSERT(r->size > 0 && r->offset < filesize && r->size <= filesize - r->offset);
}

/* Whatever the result: a bounded, printable reason, and printable lines. */
static void check_any(int rc, const struct sif *s)
{
	char line[256];

	FUZZ_ASSERT(rc == 0 || rc == -1);
	FUZZ_ASSERT(memchr(s->err, 0, sizeof s->err));
	fuzz_check_line(s->err);
	FUZZ_ASSERT(rc == 0 ? !s->err[0] : !!s->err[0]);
	if (rc)
		return;
	fuzz_check_line(sif_arch_name(s->arch));
	for (size_t i = 0; i < s->nused; i++) {
		sif_describe(&s->d[i], line, sizeof line);
		fuzz_check_line(line);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct sif a, b, c;
	int ra, rb, rc;

	ra = sif_parse(data, len, len, sif_host_arch, &a);
	check_any(ra, &a);
	if (ra == 0)
		check_accepted(data, len, len, &a);

	/* The fd path reads the same bytes: the same verdict and partition. */
	fuzz_memfd_fill(memfd, data, len);
	rb = sif_read(memfd, len, sif_host_arch, &b);
	check_any(rb, &b);
	FUZZ_ASSERT(ra == rb);
	if (ra == 0)
		FUZZ_ASSERT(a.root == b.root && a.nused == b.nused &&
			    !memcmp(a.d, b.d, a.nused * sizeof a.d[0]));
	FUZZ_ASSERT(fuzz_fds_reset() == 0);

	/* A larger file only relaxes the "inside the file" checks. */
	rc = sif_parse(data, len, UINT64_MAX, sif_host_arch, &c);
	check_any(rc, &c);
	if (ra == 0)
		FUZZ_ASSERT(rc == 0 && c.root == a.root);

	/* Another architecture: never accepted for the host's partition. */
	rc = sif_parse(data, len, len, strcmp(sif_host_arch, "04") ? "04" : "02", &c);
	check_any(rc, &c);
	if (ra == 0)
		FUZZ_ASSERT(rc == -1);
	return 0;
}
