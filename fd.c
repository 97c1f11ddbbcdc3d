/*
 * File descriptors a process of vial's keeps. Every fd vial opens is
 * close-on-exec, but a process that never execs (the --pid init, the
 * waiting outer vial, a LOOP_LINGER holder) would hold them for its whole
 * life, and once its ids are the caller's, the caller could take them
 * with pidfd_getfd: an image the caller may not read, or a host
 * directory the container must not see. So they are closed, not left to
 * O_CLOEXEC.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "vial.h"

/*
 * Every fd of the process in turn (but the one reading the list) to `fn`,
 * however high: from /proc/self/fd, which a process may always read for
 * itself, non-dumpable or not.
 */
void fd_each(void (*fn)(int fd, const void *arg), const void *arg)
{
	_Alignas(struct dirent) char ents[4096];
	struct dirent *d;
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC), len, fd;

	if (dir < 0)
		die_errno("open /proc/self/fd");
	while ((len = getdents(dir, (void *)ents, sizeof ents)) > 0) {
		for (int at = 0; at < len; at += d->d_reclen) {
			d = (struct dirent *)(ents + at);
			fd = atoi(d->d_name);
			if (d->d_name[0] != '.' && fd != dir)
				fn(fd, arg);
		}
	}
	if (len < 0)
		die_errno("read /proc/self/fd");
	close(dir);
}

struct keep { int own, fd[3]; };

static void close_unkept(int fd, const void *arg)
{
	const struct keep *k = arg;

	if (fd <= 2 || fd == k->fd[0] || fd == k->fd[1] || fd == k->fd[2])
		return;
	if (k->own && !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
		return;
	if (close(fd))
		die_errno("close fd %d", fd);
}

/*
 * Close every fd above 2 but the `keep` ones (-1 for none): only vial's own
 * (those marked close-on-exec; the caller's never are, since exec closed
 * theirs) when `own`, else every one.
 */
void fd_close_all(int own, int keep1, int keep2, int keep3)
{
	const struct keep k = { own, { keep1, keep2, keep3 } };

	fd_each(close_unkept, &k);
}

/* Does the directory `dir`/`name` hold anything? Looked at as the caller;
 * one that cannot be read may. */
int fd_has_entries(int dir, const char *name)
{
	_Alignas(struct dirent) char ents[1024];
	struct dirent *d;
	int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), len;
	int found = fd < 0;

	while (!found && (len = getdents(fd, (void *)ents, sizeof ents)) > 0)
		for (int at = 0; at < len && !found; at += d->d_reclen) {
			d = (struct dirent *)(ents + at);
			found = strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
		}
	if (fd >= 0)
		close(fd);
	return found;
}

/* All of `fd` (closed) into buf, NUL-terminated: its length, or -1. */
ssize_t fd_slurp(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r = 0;

	if (fd < 0)
		return -1;
	while (n < size - 1 && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (r < 0 || n == size - 1)
		return -1;
	buf[n] = 0;
	return (ssize_t)n;
}
