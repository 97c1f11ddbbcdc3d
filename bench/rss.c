/*
 * rss: the peak memory of each program a process runs, a launcher first.
 *
 *   rss [-u UID -g GID] CMD [ARG...]     (run as root)
 *
 * The command runs under ptrace. At every syscall entry rss reads the
 * tracee's resident set from /proc/PID/smaps_rollup (a page-table walk, so
 * exact); RSS only shrinks through a syscall (munmap, madvise, exec), so
 * the maximum over syscall entries is the true peak. One line per program
 * image, when the next exec succeeds or the process ends:
 *   image EXE peak_rss_kib
 * and last: rusage maxrss_kib status, from wait4. With -u/-g the child
 * becomes that user (groups: GID only) before it execs CMD, so that no
 * helper image (setpriv) enters the rusage maximum.
 *
 * Why not wait4's ru_maxrss alone: it is the maximum over every image the
 * process ran (setpriv's glibc alone is 2 MB), and since Linux 6.2 the
 * kernel's RSS counters are per-CPU and read approximately (off by up to
 * 32 pages per CPU), as large as what we measure. A root tracer keeps
 * setuid working in the tracee.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "rss: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* The number after `key` in a /proc file of `pid`, in kB; -1 if absent. */
static long proc_kib(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, n)) {
			v = strtol(line + n, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void exe_name(pid_t pid, char *exe, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/exe", pid);
	n = readlink(path, exe, size - 1);
	exe[n > 0 ? n : 0] = 0;
}

int main(int argc, char **argv)
{
	struct __ptrace_syscall_info si;
	struct rusage ru;
	char exe[PATH_MAX] = "";
	long peak = 0, now;
	int st, sig = 0;
	pid_t pid;
	long uid = -1, gid = -1;

	while (argc > 3 && (!strcmp(argv[1], "-u") || !strcmp(argv[1], "-g"))) {
		*(argv[1][1] == 'u' ? &uid : &gid) = strtol(argv[2], NULL, 10);
		argv += 2;
		argc -= 2;
	}
	if (argc < 2 || (uid < 0) != (gid < 0)) {
		fprintf(stderr, "usage: rss [-u UID -g GID] CMD [ARG...]\n");
		return 2;
	}
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		gid_t g = (gid_t)gid;
		/* TRACEME records the tracee's credentials as the tracer's: ask
		 * while still root, or a setuid CMD would not gain root. */
		if (ptrace(PTRACE_TRACEME, 0, 0, 0))
			_exit(126);
		if (uid >= 0 && (setgroups(1, &g) || setresgid(g, g, g) ||
				 setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid)))
			_exit(126);
		if (raise(SIGSTOP))
			_exit(126);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid");
	if (ptrace(PTRACE_SETOPTIONS, pid, 0,
		   PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL))
		die("PTRACE_SETOPTIONS");
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, pid, 0, sig))
			die("PTRACE_SYSCALL");
		sig = 0;
		if (wait4(pid, &st, 0, &ru) != pid)
			die("wait4");
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof si, &si) < 0)
				die("PTRACE_GET_SYSCALL_INFO");
			if (si.op != PTRACE_SYSCALL_INFO_ENTRY)
				continue;
			if (!exe[0])
				exe_name(pid, exe, sizeof exe);
			now = proc_kib(pid, "smaps_rollup", "Rss:");
			if (now > peak)
				peak = now;
		} else if (st >> 8 == (SIGTRAP | PTRACE_EVENT_EXEC << 8)) {
			printf("image %s %ld\n", exe, peak);
			exe[0] = 0;
			peak = 0;
		} else if (WSTOPSIG(st) != SIGTRAP) {
			sig = WSTOPSIG(st);	/* a real signal: deliver it */
		}
	}
	if (exe[0])
		printf("image %s %ld\n", exe, peak);
	printf("rusage %ld %d\n", ru.ru_maxrss,
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}
