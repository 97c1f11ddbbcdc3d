/*
 * burst: start N copies of a command at the same moment and report the
 * wall time until the last one exits, how many failed, and how many loop
 * devices were bound to IMAGE at once (peak) and in all (distinct).
 *
 *   burst N IMAGE ERRFILE CMD [ARG...]
 *   prints: wall_ms failures peak_loops distinct_loops
 *
 * The children are forked first and wait on a pipe; closing its write end
 * releases them together, so fork cost is not in the wall time. Children's
 * stderr goes to ERRFILE so failures can be read afterwards.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXLOOP 4096

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "burst: %s: %s\n", what, strerror(errno));
	exit(2);
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Loop devices whose backing file is `img` now; marks them in `seen`. */
static int loops_on(const char *img, char *seen)
{
	char path[PATH_MAX], have[PATH_MAX];
	struct dirent *d;
	unsigned u;
	int n = 0, fd;
	ssize_t r;
	DIR *dir = opendir("/sys/block");

	if (!dir)
		die("/sys/block");
	while ((d = readdir(dir))) {
		if (sscanf(d->d_name, "loop%u", &u) != 1 || u >= MAXLOOP)
			continue;
		snprintf(path, sizeof path, "/sys/block/%s/loop/backing_file", d->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		r = read(fd, have, sizeof have - 1);
		close(fd);
		if (r > 0 && have[r - 1] == '\n')
			r--;
		if (r > 0 && (size_t)r == strlen(img) && !memcmp(have, img, (size_t)r)) {
			n++;
			seen[u] = 1;
		}
	}
	closedir(dir);
	return n;
}

int main(int argc, char **argv)
{
	static char seen[MAXLOOP];
	struct timespec nap = { 0, 500000 };
	int n, p[2], err, left, fails = 0, peak = 0, distinct = 0, st;
	double t0, t1;
	pid_t pid;

	if (argc < 5 || (n = atoi(argv[1])) < 1) {
		fprintf(stderr, "usage: burst N IMAGE ERRFILE CMD [ARG...]\n");
		return 2;
	}
	err = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (err < 0 || pipe2(p, O_CLOEXEC))
		die(argv[3]);
	for (int i = 0; i < n; i++) {
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			char c;
			close(p[1]);
			if (read(p[0], &c, 1) < 0 || dup2(err, 2) < 0)
				_exit(126);
			execvp(argv[4], argv + 4);
			_exit(127);
		}
	}
	close(p[0]);
	t0 = now_ms();
	close(p[1]);
	for (left = n; left > 0;) {
		int k = loops_on(argv[2], seen);
		if (k > peak)
			peak = k;
		while (left > 0 && (pid = waitpid(-1, &st, WNOHANG)) > 0) {
			left--;
			if (!WIFEXITED(st) || WEXITSTATUS(st))
				fails++;
		}
		if (pid < 0)
			die("waitpid");
		if (left > 0)
			nanosleep(&nap, NULL);
	}
	t1 = now_ms();
	for (int i = 0; i < MAXLOOP; i++)
		distinct += seen[i];
	printf("%.1f %d %d %d\n", t1 - t0, fails, peak, distinct);
	return 0;
}
