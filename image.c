/*
 * Opening an image as the caller (with the protected fallback), telling
 * its format from magic numbers on the fd, and mounting it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "vial.h"

enum wrap { W_PLAIN, W_SIF, W_LEGACY };	/* what holds the file system */

static const struct {
	enum fmt fmt;
	const char *name, *fstype, *data;
} fmts[] = {
	{ FMT_SQUASHFS, "squashfs", "squashfs", NULL },
	/* noload: never replay a journal; errors=: a crafted superblock
	 * must not be able to ask for a panic. */
	{ FMT_EXT, "ext", "ext4", "noload,errors=remount-ro" },
	{ FMT_EROFS, "erofs", "erofs", NULL },
	{ FMT_DIR, "directory", NULL, NULL },
};

const char *image_fmt_name(enum fmt f)
{
	for (size_t i = 0; i < LEN(fmts); i++)
		if (fmts[i].fmt == f)
			return fmts[i].name;
	return "unknown";
}

/*
 * The caller's own open comes first. Only EACCES may lead to the
 * protected fallback, only in a protected directory, and every refusal
 * there reads like a missing file (elsewhere EACCES is what it is).
 * A directory (a sandbox) is opened as the caller too, and later bound
 * by this fd: the path is never looked up again.
 */
void image_open(struct image *img)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	const struct protected_dir *pd;
	int own;

	img->fd = open(img->path, flags);
	own = img->fd >= 0;
	if (img->fd < 0 && errno == EACCES && (pd = protect_open(img->path, &img->fd))) {
		img->protected = 1;
		img->sealed = pd->kind == SEALED;
	}
	if (img->fd < 0)
		die_errno("cannot open image %s", img->path);
	if (fstat(img->fd, &img->st))
		die_errno("%s: fstat", img->path);
	if (!S_ISREG(img->st.st_mode) && !S_ISDIR(img->st.st_mode))
		die("%s: not a regular file or a directory", img->path);
	if (own)
		protect_readable(img->path, &img->st);
	/* O_NONBLOCK only kept a FIFO from hanging the open. */
	if (fcntl(img->fd, F_SETFL, O_RDONLY))
		die_errno("%s: fcntl", img->path);
}

/* The bytes the loop device will map: a range (SIF) or up to EOF. */
static uint64_t span(const struct image *img)
{
	return img->size ? img->size : (uint64_t)img->st.st_size - img->offset;
}

/* A file system that says it is larger than its bytes is truncated: say
 * so now, not as EIO from inside the container. */
static void need(const struct image *img, const char *fs, uint64_t bytes)
{
	if (bytes == 0)
		die("%s: damaged %s superblock (size 0)", img->path, fs);
	if (bytes > span(img))
		die("%s: truncated %s image (its superblock says %llu bytes, there are %llu)",
		    img->path, fs, (unsigned long long)bytes, (unsigned long long)span(img));
}

static enum fmt probe_squashfs(const struct image *img, const unsigned char *b, size_t n)
{
	uint64_t used = le64(b + 40);
	uint16_t major = (uint16_t)(b[28] | b[29] << 8);

	if (n < 96)
		die("%s: truncated squashfs image (%zu bytes, less than a superblock)",
		    img->path, n);
	if (major != 4)
		die("%s: squashfs version %u is not supported (need 4)",
		    img->path, major);
	if (used < 96)
		die("%s: damaged squashfs superblock (size %llu)", img->path,
		    (unsigned long long)used);
	need(img, "squashfs", used);
	return FMT_SQUASHFS;
}

/* ext2/3/4: block count (64-bit with INCOMPAT_64BIT) times block size. */
static enum fmt probe_ext(const struct image *img, const unsigned char *sb)
{
	uint32_t log = le32(sb + 24);
	uint64_t blocks = le32(sb + 4);

	if (le32(sb + 96) & 0x80)
		blocks |= (uint64_t)le32(sb + 0x150) << 32;
	if (log > 6)	/* 64 KiB blocks at most */
		die("%s: damaged ext superblock (block size)", img->path);
	need(img, "ext", blocks > UINT64_MAX >> (10 + log) ? UINT64_MAX : blocks << (10 + log));
	return FMT_EXT;
}

/* erofs: blocks (the low 32 bits on 48-bit images: a lower bound). */
static enum fmt probe_erofs(const struct image *img, const unsigned char *sb)
{
	unsigned bits = sb[12];

	if (bits < 9 || bits > 16)
		die("%s: damaged erofs superblock (block size)", img->path);
	need(img, "erofs", (uint64_t)le32(sb + 36) << bits);
	return FMT_EROFS;
}

/*
 * Singularity 2.x ran tar archives (and gzip/bzip2/xz-compressed ones)
 * by unpacking them first; vial mounts file systems only: say so.
 */
static void archive_refuse(const struct image *img, const unsigned char *b, size_t n)
{
	static const struct { const char *magic; size_t len; const char *what; } a[] = {
		{ "\x1f\x8b", 2, "a gzip file" }, { "BZh", 3, "a bzip2 file" },
		{ "\xfd" "7zXZ", 5, "an xz file" }, { "\x28\xb5\x2f\xfd", 4, "a zstd file" },
	};
	const char *what = n >= 262 && !memcmp(b + 257, "ustar", 5) ? "a tar archive" : NULL;

	for (size_t i = 0; !what && i < LEN(a); i++)
		if (n >= a[i].len && !memcmp(b, a[i].magic, a[i].len))
			what = a[i].what;
	if (what)
		die("%s: %s, not an image: vial runs no archives; unpack it and run the "
		    "directory, or make an image of it with mksquashfs", img->path, what);
}

/* The file system at img->offset, from its magic number, read on the fd. */
static enum fmt probe_fs(const struct image *img)
{
	unsigned char b[2048];
	ssize_t n = 0;

	/* Never past the range the loop device maps (a SIF partition). */
	if (img->offset < (uint64_t)img->st.st_size)
		n = pread(img->fd, b, span(img) < sizeof b ? (size_t)span(img) : sizeof b,
			  (off_t)img->offset);
	if (n < 0)
		die_errno("%s: cannot read", img->path);
	memset(b + n, 0, sizeof b - (size_t)n);
	if (!memcmp(b, "hsqs", 4))
		return probe_squashfs(img, b, (size_t)n);
	if (n >= 1082 && b[1080] == 0x53 && b[1081] == 0xEF)
		return probe_ext(img, b + 1024);
	if (n >= 1064 && le32(b + 1024) == 0xE0F5E1E2)
		return probe_erofs(img, b + 1024);
	if (img->offset)
		die("%s: no squashfs, ext or erofs file system at offset %llu",
		    img->path, (unsigned long long)img->offset);
	archive_refuse(img, b, (size_t)n);
	die("%s: not a squashfs, ext or erofs image", img->path);
}

/* SIF or a Singularity 2.x launch line, from the file's first bytes;
 * for W_LEGACY, *start is where the file system begins. */
static enum wrap wrap_of(const struct image *img, uint64_t *start)
{
	unsigned char b[64];
	const unsigned char *nl;
	ssize_t n = pread(img->fd, b, sizeof b, 0);

	if (n < 0)
		die_errno("%s: cannot read", img->path);
	if (n >= 42 && !memcmp(b + 32, "SIF_MAGIC", 10))
		return W_SIF;
	if (n < 2 || b[0] != '#' || b[1] != '!')
		return W_PLAIN;
	/* Singularity 2.x: the launch line ends within 64 bytes. */
	nl = memchr(b, '\n', (size_t)n);
	if (!nl)
		die("%s: Singularity 2.x image without a newline in its first 64 bytes "
		    "(damaged, or not an image)", img->path);
	*start = (uint64_t)(nl - b) + 1;
	return W_LEGACY;
}

/* The primary system partition of a SIF: its range, and its fs type. */
static enum fmt sif_locate(struct image *img)
{
	struct sif s;
	const struct sif_desc *d;

	if (sif_read(img->fd, (uint64_t)img->st.st_size, sif_host_arch, &s))
		die("%s: SIF: %s", img->path, s.err);
	d = &s.d[s.root];
	img->offset = d->offset;
	img->size = d->size;
	return d->fstype == SIF_FS_SQUASHFS ? FMT_SQUASHFS : FMT_EXT;
}

/* The format, read on the fd: what is mounted, and where it lies. */
void image_probe(struct image *img)
{
	enum fmt want = FMT_NONE;

	if (S_ISDIR(img->st.st_mode)) {
		img->fmt = FMT_DIR;
		return;
	}
	if (img->st.st_size == 0)
		die("%s: empty file, not an image", img->path);
	switch (wrap_of(img, &img->offset)) {
	case W_SIF:
		want = sif_locate(img);
		break;
	case W_LEGACY:
		debug("%s: Singularity 2.x image, file system at %llu", img->path,
		      (unsigned long long)img->offset);
		break;
	case W_PLAIN:
		break;
	}
	img->fmt = probe_fs(img);
	if (want && img->fmt != want)
		die("%s: SIF: the primary partition says %s but holds %s", img->path,
		    image_fmt_name(want), image_fmt_name(img->fmt));
}

/*
 * Kernel file-system drivers parse the image's bytes: the site decides
 * which ones may see bytes a user could have written. An image counts as
 * root's only where the user cannot have chosen its owner (not on FUSE,
 * not through another namespace's mounts: mnt_owner_chosen).
 */
void image_check_policy(const struct image *img)
{
	int rootish = img->st.st_uid == 0 && !(img->st.st_mode & (S_IWGRP | S_IWOTH));

	if (policy.user_formats & img->fmt)
		return;
	if (rootish && (policy.root_formats & img->fmt) && !mnt_owner_chosen(img->fd))
		return;
	if (policy.root_formats & img->fmt)
		die("%s: %s images must be owned by root and not writable by "
		    "group or other (site policy USER_FORMATS)",
		    img->path, image_fmt_name(img->fmt));
	die("%s: %s images are not allowed by the site policy",
	    img->path, image_fmt_name(img->fmt));
}

/*
 * A directory (sandbox): bound from the fd the caller opened, read-only,
 * nosuid, nodev, keeping the host mount's own flags (noexec stays).
 * image_open ran after priv_mount_ns, so the fd is in our mount namespace and
 * a plain bind works on every kernel. A directory with mounts below it is
 * refused: the overlay over it would see through them, to what they
 * cover on the host (the kernel refuses users exactly that).
 */
static void dir_check(const struct image *img, int fd)
{
	int id = mnt_id(fd);

	if (id < 0)
		die("%s: cannot find the bound directory's mount", img->path);
	if (mnt_has_children(id))
		die("%s: a directory image with mounts below it is not supported "
		    "(the container would show what they hide on the host)", img->path);
	mnt_set_tree(fd, MS_RDONLY | MS_NOSUID | MS_NODEV, img->path);
}

/* The image mounted on `name` in `at` (vial's own directory): its root, opened. */
int image_mount(const struct image *img, const struct loopdev *ld, int at, const char *name)
{
	const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV;
	int dir = img->fmt == FMT_DIR, fd = priv_look(at, name, O_DIRECTORY);
	size_t i = 0;

	while (fmts[i].fmt != img->fmt)
		i++;
	if (fd < 0 || (dir ? priv_bind(img->fd, fd, 0)
		       : priv_mount(ld->path, fmts[i].fstype, fd, ro, fmts[i].data)))
		die_errno(dir ? "%s: cannot bind the %s" : "%s: cannot mount %s image (damaged?)",
			  img->path, fmts[i].name);
	close(fd);
	if ((fd = priv_look(at, name, O_DIRECTORY)) < 0)
		die_errno("%s: cannot open the bound %s", img->path, fmts[i].name);
	if (dir)
		dir_check(img, fd);
	return fd;
}

static void inspect_sif(const struct image *img)
{
	struct sif s;
	char line[256];

	if (sif_read(img->fd, (uint64_t)img->st.st_size, sif_host_arch, &s))
		die("%s: SIF: %s", img->path, s.err);
	printf("SIF version 01, arch %s, %zu descriptors, %zu used\n",
	       sif_arch_name(s.arch), s.total, s.nused);
	for (size_t i = 0; i < s.nused; i++) {
		sif_describe(&s.d[i], line, sizeof line);
		printf("  %s\n", line);
	}
}

/* What `vial inspect` says. Of a protected image: its format and size only. */
void image_inspect(const struct image *img)
{
	static const char *in[] = { "", " in a SIF image", " in a Singularity 2.x image" };
	uint64_t start = 0;
	enum wrap w;

	if (img->fmt == FMT_DIR) {
		printf("%s: directory, bound read-only\n", img->path);
		return;
	}
	w = wrap_of(img, &start);
	printf("%s: %s%s, %llu bytes\n", img->path, image_fmt_name(img->fmt), in[w],
	       (unsigned long long)img->st.st_size);
	if (img->protected)
		return;
	printf("mounts: offset %llu, size %llu\n", (unsigned long long)img->offset,
	       (unsigned long long)span(img));
	if (w == W_SIF)
		inspect_sif(img);
}
