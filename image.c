/*
 * Opening an image as the caller (with the protected fallback), telling
 * its format from magic numbers on the fd, and mounting it.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "vial.h"

static const struct {
	enum fmt fmt;
	const char *name, *fstype, *data;
} fmts[] = {
	{ FMT_SQUASHFS, "squashfs", "squashfs", NULL },
	/* noload: never replay a journal; errors=: a crafted superblock
	 * must not be able to ask for a panic. */
	{ FMT_EXT, "ext", "ext4", "noload,errors=remount-ro" },
	{ FMT_EROFS, "erofs", "erofs", NULL },
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
 * protected fallback, and every refusal there reads like a missing file.
 */
void image_open(struct image *img)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

	img->fd = open(img->path, flags);
	if (img->fd < 0 && errno == EACCES) {
		if (protect_open(img->path, &img->fd))
			errno = ENOENT;
		else
			img->protected = 1;
	}
	if (img->fd < 0)
		die_errno("cannot open image %s", img->path);
	if (fstat(img->fd, &img->st))
		die_errno("%s: fstat", img->path);
	if (S_ISDIR(img->st.st_mode))
		die("%s: is a directory, not an image file", img->path);
	if (!S_ISREG(img->st.st_mode))
		die("%s: not a regular file", img->path);
	/* O_NONBLOCK only kept a FIFO from hanging the open. */
	if (fcntl(img->fd, F_SETFL, O_RDONLY))
		die_errno("%s: fcntl", img->path);
}

static uint32_t le32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static void probe_squashfs(struct image *img, const unsigned char *b, size_t n)
{
	uint64_t used = le64(b + 40);
	uint16_t major = (uint16_t)(b[28] | b[29] << 8);

	if (n < 96 || major != 4)
		die("%s: squashfs version %u is not supported (need 4)",
		    img->path, major);
	if (used < 96 || used > (uint64_t)img->st.st_size - img->offset)
		die("%s: truncated squashfs image (superblock says %llu bytes, "
		    "file has %llu)", img->path, (unsigned long long)used,
		    (unsigned long long)(img->st.st_size - img->offset));
	img->fmt = FMT_SQUASHFS;
}

/* The format from its magic number, read on the fd, at img->offset. */
void image_probe(struct image *img)
{
	unsigned char b[2048];
	ssize_t n;

	if (img->st.st_size == 0)
		die("%s: empty file, not an image", img->path);
	n = pread(img->fd, b, sizeof b, (off_t)img->offset);
	if (n < 0)
		die_errno("%s: cannot read", img->path);
	memset(b + n, 0, sizeof b - (size_t)n);
	if (!memcmp(b, "hsqs", 4))
		probe_squashfs(img, b, (size_t)n);
	else if (n >= 1082 && b[1080] == 0x53 && b[1081] == 0xEF)
		img->fmt = FMT_EXT;
	else if (n >= 1028 && le32(b + 1024) == 0xE0F5E1E2)
		img->fmt = FMT_EROFS;
	else
		die("%s: not a squashfs, ext or erofs image", img->path);
}

/*
 * Kernel file-system drivers parse the image's bytes: the site decides
 * which ones may see bytes a user could have written.
 */
void image_check_policy(const struct image *img)
{
	int trusted = img->st.st_uid == 0 && !(img->st.st_mode & (S_IWGRP | S_IWOTH));

	if (trusted && (policy.root_formats & img->fmt))
		return;
	if (policy.user_formats & img->fmt)
		return;
	if (!trusted && (policy.root_formats & img->fmt))
		die("%s: %s images must be owned by root and not writable by "
		    "group or other (site policy USER_FORMATS)",
		    img->path, image_fmt_name(img->fmt));
	die("%s: %s images are not allowed by the site policy",
	    img->path, image_fmt_name(img->fmt));
}

void image_mount(const struct image *img, const struct loopdev *ld, const char *dir)
{
	size_t i = 0;
	int rc;

	while (fmts[i].fmt != img->fmt)
		i++;
	priv_raise();
	rc = mount(ld->path, dir, fmts[i].fstype, MS_RDONLY | MS_NOSUID | MS_NODEV,
		   fmts[i].data);
	priv_lower();
	if (rc)
		die_errno("%s: cannot mount %s image (damaged?)", img->path, fmts[i].name);
}

/* What `vial inspect` says. Of a protected image: its format and size only. */
void image_inspect(const struct image *img)
{
	printf("%s: %s, %llu bytes\n", img->path, image_fmt_name(img->fmt),
	       (unsigned long long)img->st.st_size);
	if (img->protected)
		return;
	printf("mounts: offset %llu, size %llu\n", (unsigned long long)img->offset,
	       (unsigned long long)(img->size ? img->size : (uint64_t)img->st.st_size - img->offset));
}
