/*
 * image_probe (and image_inspect) over arbitrary bytes as the image file:
 * the SIF and Singularity 2.x wrappers, the squashfs, ext and erofs
 * superblock checks. The bytes sit in a memfd, read as vial reads an
 * image's fd. An accepted image must have its file system's magic number
 * at the offset vial will map, and the mapped range inside the file.
 * fuzz-link: image.c sif.c
 */
#include <sys/stat.h>

#include "harness.h"

/* What image.c needs from the rest of vial, for the probes. */
const struct policy policy = { .user_formats = FMT_SQUASHFS,
			       .root_formats = FMT_SQUASHFS | FMT_EXT | FMT_EROFS | FMT_DIR };
const struct protected_dir *protect_open(const char *path, int *fd)
{
	(void)path;
	*fd = -1;
	return NULL;
}
void protect_readable(const char *path, const struct stat *st) { (void)path, (void)st; }
/* The room and the mount table: never reached from the probes. */
int priv_look(int dir, const char *name, int flags) { (void)dir, (void)name, (void)flags; abort(); }
int priv_bind(int src, int at, int moved) { (void)src, (void)at, (void)moved; abort(); }
int priv_mount(const char *src, const char *type, int at, unsigned long f, const char *data)
{
	(void)src, (void)type, (void)at, (void)f, (void)data;
	abort();
}
int mnt_owner_chosen(int fd) { (void)fd; abort(); }
int mnt_id(int fd) { (void)fd; abort(); }
int mnt_has_children(int id) { (void)id; abort(); }
void mnt_set_tree(int fd, unsigned long f, const char *w) { (void)fd, (void)f, (void)w; abort(); }
unsigned long ns_host_flags(int fd)
{
	(void)fd;
	return 0;
}

static int memfd;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	memfd = fuzz_memfd_open();
	/* image_inspect prints; its output is not what is checked here */
	if (!freopen("/dev/null", "w", stdout))
		abort();
	fuzz_fds_init();
	return 0;
}

static uint32_t ref_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* `n` bytes at `off` lie in the range the loop device maps. */
static int mapped(const struct image *img, uint64_t off, uint64_t n)
{
	uint64_t end = img->size ? img->offset + img->size : (uint64_t)img->st.st_size;

	return off >= img->offset && off <= end && n <= end - off;
}

static void check_accepted(const uint8_t *data, size_t len, const struct image *img)
{
	const uint8_t *fs = data + img->offset;
	static struct sif s;

	FUZZ_ASSERT(img->offset < len);
	FUZZ_ASSERT(img->size <= len - img->offset);
	if (len >= 42 && !memcmp(data + 32, "SIF_MAGIC", 10)) {
		/* a SIF maps exactly its primary partition */
		FUZZ_ASSERT(sif_parse(data, len, len, sif_host_arch, &s) == 0);
		FUZZ_ASSERT(img->offset == s.d[s.root].offset && img->size == s.d[s.root].size);
	} else {
		FUZZ_ASSERT(img->size == 0);
		FUZZ_ASSERT(img->offset == 0 || (data[0] == '#' && data[1] == '!' &&
						 img->offset <= 64 && data[img->offset - 1] == '\n'));
	}
	/* the superblock vial read is in what the kernel will be given */
	switch (img->fmt) {
	case FMT_SQUASHFS:
		FUZZ_ASSERT(mapped(img, img->offset, 96) && !memcmp(fs, "hsqs", 4));
		break;
	case FMT_EXT:
		FUZZ_ASSERT(mapped(img, img->offset, 1082) && fs[1080] == 0x53 && fs[1081] == 0xEF);
		break;
	case FMT_EROFS:
		FUZZ_ASSERT(mapped(img, img->offset, 1028) && ref_le32(fs + 1024) == 0xE0F5E1E2);
		break;
	default:
		FUZZ_ASSERT(!"an image format");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct image img;

	fuzz_memfd_fill(memfd, data, len);
	memset(&img, 0, sizeof img);
	img.path = "fuzz.img";
	img.fd = memfd;
	if (fstat(memfd, &img.st))
		abort();
	fuzz_arm();
	if (setjmp(fuzz_jmp)) {
		fuzz_fds_reset();
		return 0;	/* refused, with a checked message */
	}
	image_probe(&img);
	fuzz_disarm();
	FUZZ_ASSERT(fuzz_fds_reset() == 0);
	check_accepted(data, len, &img);

	/* What inspect shows of an accepted image, whole or protected. */
	for (img.protected = 0; img.protected < 2; img.protected++) {
		fuzz_arm();
		if (setjmp(fuzz_jmp))
			FUZZ_ASSERT(!"inspect dies on an image probe accepted");
		image_inspect(&img);
		fuzz_disarm();
	}
	fflush(stdout);
	return 0;
}
