/*
 * seal: the third audit's tools against a sealed run (t/93-sealed.t), and
 * their controls. Static: it runs from an inherited fd too.
 *
 *   seal sendfd SOCK|FD FILE...   O_PATH fds of FILEs over a unix socket
 *                                 (a path to connect to, or an fd number)
 *   seal recvrun SOCK SECS PRELOAD  on the host: listen, take the fds,
 *                                 execveat each (a directory: its "prog")
 *                                 with LD_PRELOAD=PRELOAD
 *   seal withfd KIND N CMD...     exec CMD with a KIND at fd N: uring,
 *                                 listener (a child's seccomp listener),
 *                                 unix (one end of a socketpair, the other
 *                                 kept by a child that prints what comes),
 *                                 memfd:FILE (a memfd holding FILE)
 *   seal notif FD PROG ARG...     a seccomp listener answers PROG's first
 *                                 openat (the loader's LD_PRELOAD) with
 *                                 NOTIF_ADDFD of FD
 *   seal compat                   socket(AF_UNIX) through the i386 ABI:
 *                                 socketcall and socket
 *   seal memread PID              PID's own mappings through /proc/PID/mem
 *   seal uring                    io_uring_setup
 *   seal asgid CMD...             all gids the effective one (a set-gid
 *                                 copy of this tool gives its group), exec
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif

static int sock_to(const char *where)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	if (where[0] >= '0' && where[0] <= '9')
		return atoi(where);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0)
		return -1;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", where);
	if (connect(s, (struct sockaddr *)&sa, sizeof sa))
		return -1;
	return s;
}

static int send_fds(int s, const int *fds, int n)
{
	char c = 'x', ctl[CMSG_SPACE(sizeof(int) * 16)];
	struct iovec io = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = ctl,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(h), fds, sizeof(int) * n);
	return sendmsg(s, &m, 0) == 1 ? 0 : -1;
}

static int recv_fds(int s, int *fds, int max)
{
	char c, ctl[CMSG_SPACE(sizeof(int) * 16)];
	struct iovec io = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = ctl,
			    .msg_controllen = sizeof ctl };
	struct cmsghdr *h;
	int n;

	if (recvmsg(s, &m, 0) <= 0 || !(h = CMSG_FIRSTHDR(&m)) || h->cmsg_type != SCM_RIGHTS)
		return 0;
	n = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	n = n > max ? max : n;
	memcpy(fds, CMSG_DATA(h), sizeof(int) * n);
	return n;
}

static int sendfd(int argc, char **argv)
{
	int fds[16], n = 0, s;

	for (int i = 3; i < argc && n < 16; i++)
		if ((fds[n] = open(argv[i], O_PATH)) < 0)
			return printf("open %s: %s\n", argv[i], strerror(errno)), 1;
		else
			n++;
	if ((s = sock_to(argv[2])) < 0)
		return printf("socket: %s\n", strerror(errno)), 1;
	if (send_fds(s, fds, n))
		return printf("sendmsg: %s\n", strerror(errno)), 1;
	return printf("sent %d\n", n), 0;
}

/* execveat `fd` (a directory: its "prog") with LD_PRELOAD=preload, waited for. */
static void run_fd(int fd, const char *preload)
{
	char env[4096], *argv[] = { "prog", NULL }, *envp[] = { env, NULL };
	struct stat st;
	pid_t pid;

	if (!fstat(fd, &st) && S_ISDIR(st.st_mode))
		fd = openat(fd, "prog", O_PATH);
	snprintf(env, sizeof env, "LD_PRELOAD=%s", preload);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
		printf("execveat: %s\n", strerror(errno));
		_exit(1);
	}
	waitpid(pid, NULL, 0);
}

static int recvrun(char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd p = { .events = POLLIN };
	int s = socket(AF_UNIX, SOCK_STREAM, 0), c, fds[16], n;

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[2]);
	unlink(sa.sun_path);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) || listen(s, 1))
		return printf("recvrun: %s\n", strerror(errno)), 2;
	p.fd = s;
	if (poll(&p, 1, atoi(argv[3]) * 1000) != 1 || (c = accept(s, NULL, NULL)) < 0 ||
	    !(n = recv_fds(c, fds, 16)))
		return printf("recvrun: no fd came\n"), 0;
	printf("recvrun: %d fds came\n", n);
	for (int i = 0; i < n; i++)
		run_fd(fds[i], argv[4]);
	return 1;
}

/* A filter on this process that notifies a listener of system call `nr`:
 * the listener's fd, or -1. */
static int notify_on(unsigned nr)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = f };

	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			    SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

/* A seccomp listener of a child's (its filter notifies on getppid,
 * which nothing calls), passed back over a socketpair. */
static int listener(void)
{
	int sp[2], fd, got;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		return -1;
	if (fork() == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		fd = notify_on(SYS_getppid);
		if (fd < 0 || send_fds(sp[1], &fd, 1))
			_exit(1);
		pause();
		_exit(0);
	}
	fd = recv_fds(sp[0], &got, 1) ? got : -1;
	close(sp[0]);
	close(sp[1]);
	return fd;
}

/* One end of a socketpair; a child holds the other and prints the fds that come. */
static int unix_end(void)
{
	int sp[2], fds[16], n;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		return -1;
	if (fork() == 0) {
		close(sp[0]);
		n = recv_fds(sp[1], fds, 16);
		printf("socketpair: %d fds came out\n", n);
		for (int i = 0; i < n; i++)
			run_fd(fds[i], getenv("SEAL_PRELOAD") ? getenv("SEAL_PRELOAD") : "");
		_exit(0);
	}
	close(sp[1]);
	return sp[0];
}

static int memfd_of(const char *file)
{
	char buf[65536];
	ssize_t r;
	int in = open(file, O_RDONLY), fd = (int)syscall(SYS_memfd_create, "x.so", 0);

	if (in < 0 || fd < 0)
		return -1;
	while ((r = read(in, buf, sizeof buf)) > 0)
		if (write(fd, buf, (size_t)r) != r)
			return -1;
	close(in);
	return fd;
}

static int withfd(char **argv)
{
	struct { unsigned sq, cq, flags, cpu, idle, feat, wq, resv[3]; char off[80]; } p = { 0 };
	const char *k = argv[2];
	int fd = -1, n = atoi(argv[3]);

	if (!strcmp(k, "uring"))
		fd = (int)syscall(SYS_io_uring_setup, 4, &p);
	else if (!strcmp(k, "listener"))
		fd = listener();
	else if (!strcmp(k, "unix"))
		fd = unix_end();
	else if (!strncmp(k, "memfd:", 6))
		fd = memfd_of(k + 6);
	if (fd < 0 || (fd != n && (dup2(fd, n) < 0 || close(fd))))
		return printf("withfd %s: %s\n", k, strerror(errno)), 2;
	execvp(argv[4], argv + 4);
	return printf("exec %s: %s\n", argv[4], strerror(errno)), 2;
}

/* Answer the child's first openat with `fd`, let the others through,
 * until the child is gone (this process is under the filter too). */
static void answer(int l, int fd, pid_t child)
{
	struct seccomp_notif n;
	struct seccomp_notif_resp r;
	struct seccomp_notif_addfd a = { .srcfd = (unsigned)fd,
					 .flags = SECCOMP_ADDFD_FLAG_SEND };
	struct pollfd p = { .fd = l, .events = POLLIN };
	int first = 1, st;

	while (waitpid(child, &st, WNOHANG) == 0) {
		if (poll(&p, 1, 100) != 1)
			continue;
		memset(&n, 0, sizeof n);
		if (ioctl(l, SECCOMP_IOCTL_NOTIF_RECV, &n))
			continue;
		if (first) {
			a.id = n.id;
			first = ioctl(l, SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0;
			if (!first)
				continue;
		}
		r = (struct seccomp_notif_resp){ .id = n.id,
						 .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE };
		ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, &r);
	}
}

static int notif(char **argv)
{
	int l = notify_on(SYS_openat), fd = atoi(argv[2]);
	pid_t child;

	if (l < 0)
		return printf("listener: %s\n", strerror(errno)), 1;
	fflush(stdout);
	if ((child = fork()) == 0) {
		setenv("LD_PRELOAD", "/etc/hostname", 1);	/* any path: the listener answers */
		execv(argv[3], argv + 3);
		_exit(127);
	}
	answer(l, fd, child);
	return 0;
}

/* socket(AF_UNIX) by int 0x80: the i386 ABI from this process. */
static long int80(long nr, long a, long b, long c)
{
	long rc;

	__asm__ volatile("int $0x80" : "=a"(rc) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return rc;
}

static int compat(void)
{
	unsigned *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	long a, b;

	if (args == MAP_FAILED)
		return printf("mmap: %s\n", strerror(errno)), 2;
	args[0] = AF_UNIX, args[1] = SOCK_STREAM, args[2] = 0;
	a = int80(102, 1, (long)args, 0);	/* socketcall(SYS_SOCKET, args) */
	b = int80(359, AF_UNIX, SOCK_STREAM, 0);	/* socket */
	printf("socketcall: %s; socket: %s\n", a < 0 ? strerror((int)-a) : "a socket",
	       b < 0 ? strerror((int)-b) : "a socket");
	return a < 0 && b < 0 ? 1 : 0;
}

/* The marker in PID's readable mappings of its own file, read through /proc/PID/mem. */
static int memread(const char *pid)
{
	char p[64], line[512], perm[8], path[256], *buf;
	unsigned long a, b;
	FILE *maps;
	int mem;

	snprintf(p, sizeof p, "/proc/%s/maps", pid);
	maps = fopen(p, "r");
	snprintf(p, sizeof p, "/proc/%s/mem", pid);
	mem = open(p, O_RDONLY);
	if (!maps || mem < 0)
		return printf("memread: %s\n", strerror(errno)), 1;
	while (fgets(line, sizeof line, maps)) {
		path[0] = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &a, &b, perm, path) < 4 ||
		    perm[0] != 'r' || !strstr(path, "secret") || !(buf = malloc(b - a)))
			continue;
		if (pread(mem, buf, b - a, (off_t)a) > 0 && memmem(buf, b - a, "VIAL-SECRET-", 12))
			return printf("LEAKED %.16s from %s\n",
				      (char *)memmem(buf, b - a, "VIAL-SECRET-", 12), path), 0;
		printf("memread %s: %s\n", path, strerror(errno));
		free(buf);
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	struct { unsigned sq, cq, flags, cpu, idle, feat, wq, resv[3]; char off[80]; } p = { 0 };

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(c, "sendfd") && argc > 3)
		return sendfd(argc, argv);
	if (!strcmp(c, "recvrun") && argc > 4)
		return recvrun(argv);
	if (!strcmp(c, "withfd") && argc > 4)
		return withfd(argv);
	if (!strcmp(c, "notif") && argc > 3)
		return notif(argv);
	if (!strcmp(c, "compat"))
		return compat();
	if (!strcmp(c, "memread") && argc > 2)
		return memread(argv[2]);
	if (!strcmp(c, "asgid") && argc > 2) {
		gid_t g = getegid();
		if (setresgid(g, g, g))
			return printf("setresgid: %s\n", strerror(errno)), 2;
		execvp(argv[2], argv + 2);
		return printf("exec %s: %s\n", argv[2], strerror(errno)), 2;
	}
	if (!strcmp(c, "uring")) {
		long fd = syscall(SYS_io_uring_setup, 4, &p);
		return printf("io_uring_setup: %s\n", fd < 0 ? strerror(errno) : "a ring"), fd < 0;
	}
	fprintf(stderr, "usage: seal sendfd|recvrun|withfd|notif|compat|memread|uring|asgid ...\n");
	return 2;
}
