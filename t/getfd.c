/*
 * getfd PID [MAXFD [COPYDIR]]: take every fd 0..MAXFD-1 (default 64) of PID
 * with pidfd_open + pidfd_getfd, as a same-user attacker would, and print,
 * for each fd it got, "fd N: <what it is> <first 4 bytes in hex | dir | type>".
 * With COPYDIR, every readable regular file it got is copied to COPYDIR/fdN.
 * Prints "pidfd_open: <error>" or "getfd: none (<last error>)" when it gets
 * nothing. Exit 0 when no fd was taken, 1 when one was, 2 on misuse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static void copy(int fd, const char *dir, int n)
{
	char path[4096], buf[65536];
	ssize_t r;
	off_t off = 0;
	int out;

	snprintf(path, sizeof path, "%s/fd%d", dir, n);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out < 0)
		return;
	while ((r = pread(fd, buf, sizeof buf, off)) > 0 && write(out, buf, r) == r)
		off += r;
	close(out);
}

int main(int argc, char **argv)
{
	int pid, max, pfd, got = 0, err = 0;

	if (argc < 2)
		return fprintf(stderr, "usage: getfd PID [MAXFD]\n"), 2;
	pid = atoi(argv[1]);
	max = argc > 2 ? atoi(argv[2]) : 64;
	pfd = syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0) {
		printf("pidfd_open: %s\n", strerror(errno));
		return 0;
	}
	for (int n = 0; n < max; n++) {
		char link[64], what[4096] = "?", info[64] = "";
		unsigned char b[4];
		struct stat st;
		ssize_t r;
		int fd = syscall(SYS_pidfd_getfd, pfd, n, 0);

		if (fd < 0) {
			if (errno != EBADF)
				err = errno;
			continue;
		}
		got++;
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		r = readlink(link, what, sizeof what - 1);
		what[r > 0 ? r : 1] = 0;
		if (fstat(fd, &st))
			snprintf(info, sizeof info, "fstat: %s", strerror(errno));
		else if (S_ISDIR(st.st_mode))
			strcpy(info, "dir");
		else if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
			r = pread(fd, b, 4, 0);
			if (r == 4) {
				snprintf(info, sizeof info, "%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
				if (argc > 3 && S_ISREG(st.st_mode))
					copy(fd, argv[3], n);
			}
			else
				snprintf(info, sizeof info, "%s unreadable: %s",
					 S_ISREG(st.st_mode) ? "file" : "block", r < 0 ? strerror(errno) : "short");
		} else
			snprintf(info, sizeof info, "mode %o", (unsigned)(st.st_mode & S_IFMT));
		printf("fd %d: %s %s\n", n, what, info);
		close(fd);
	}
	if (!got)
		printf("getfd: none (%s)\n", err ? strerror(err) : "no fd open");
	return got ? 1 : 0;
}
