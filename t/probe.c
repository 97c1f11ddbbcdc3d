/* probe: reports what a process inside the container sees. Static, tiny. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

static int ids(void)
{
	uid_t r, e, s;
	gid_t rg, eg, sg, g[256], t;
	int n = getgroups(256, g);

	for (int i = 1; i < n; i++)	/* sorted, to compare with id -G | sort */
		for (int j = i; j > 0 && g[j - 1] > g[j]; j--)
			t = g[j], g[j] = g[j - 1], g[j - 1] = t;

	getresuid(&r, &e, &s);
	getresgid(&rg, &eg, &sg);
	printf("uid=%u,%u,%u gid=%u,%u,%u groups=", r, e, s, rg, eg, sg);
	for (int i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", g[i]);
	printf("\n");
	return 0;
}

static int fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int first = 1;

	if (!d)
		return perror("opendir"), 1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) {
			printf("%s%s", first ? "" : " ", e->d_name);
			first = 0;
		}
	printf("\n");
	return 0;
}

static int status(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return perror("status"), 1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) ||
		    !strncmp(line, "Uid", 3) || !strncmp(line, "Gid", 3))
			fputs(line, stdout);
	return 0;
}

static int try_root(void)
{
	int a = setuid(0), b = seteuid(0), c = setresuid(0, 0, 0);

	printf("setuid=%d seteuid=%d setresuid=%d euid=%u\n", a, b, c, geteuid());
	return (a && b && c) ? 0 : 1;
}

static int try_open(const char *p)
{
	int fd = open(p, O_RDONLY | O_NONBLOCK);

	if (fd < 0) {
		printf("open %s: %s\n", p, strerror(errno));
		return 1;
	}
	printf("open %s: ok\n", p);
	return 0;
}

/* A preload the loader reads from memory: SOFILE copied into a memfd,
 * then PROG exec'd with LD_PRELOAD=/proc/self/fd/N. */
static int memfd_exec(const char *so, char **argv)
{
	char buf[65536], env[64];
	ssize_t r;
	int in = open(so, O_RDONLY), fd = memfd_create("x.so", 0);

	if (fd < 0)
		return printf("memfd_create: %s\n", strerror(errno)), 1;
	if (in < 0)
		return printf("open %s: %s\n", so, strerror(errno)), 1;
	while ((r = read(in, buf, sizeof buf)) > 0)
		if (write(fd, buf, r) != r)
			return printf("write: %s\n", strerror(errno)), 1;
	snprintf(env, sizeof env, "LD_PRELOAD=/proc/self/fd/%d", fd);
	putenv(env);
	execv(argv[0], argv);
	printf("execv %s: %s\n", argv[0], strerror(errno));
	return 1;
}

/* Into a new user namespace by `how` (unshare, clone, clone3): "entered"
 * and 0, or why not and 1. */
static int userns(const char *how)
{
	struct clone_args a = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
	long pid;
	int st;

	if (!strcmp(how, "unshare"))
		pid = unshare(CLONE_NEWUSER) ? -1 : 1;
	else if (!strcmp(how, "clone"))
		pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	else
		pid = syscall(SYS_clone3, &a, sizeof a);
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return printf("userns %s: %s\n", how, strerror(errno)), 1;
	if (pid > 1 && (waitpid((pid_t)pid, &st, 0) != pid || st))
		return printf("userns %s: the child failed\n", how), 1;
	return printf("userns %s: entered\n", how), 0;
}

/* The fd of SOCK's first message (SCM_RIGHTS), from whoever listens there. */
static int recv_fd(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char c, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec io = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = ctl,
			    .msg_controllen = sizeof ctl };
	struct cmsghdr *h;
	int s = socket(AF_UNIX, SOCK_STREAM, 0), fd;

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) || recvmsg(s, &m, 0) <= 0 ||
	    !(h = CMSG_FIRSTHDR(&m)) || h->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(h), sizeof fd);
	return fd;
}

/* setns into the user namespace whose fd comes over the socket SOCK, or
 * that SOCK names (/proc/PID/ns/user). */
static int try_setns(const char *sock)
{
	struct stat st;
	int fd = stat(sock, &st) == 0 && !S_ISSOCK(st.st_mode) ? open(sock, O_RDONLY)
								: recv_fd(sock);

	if (fd < 0)
		return printf("setns: no fd from %s: %s\n", sock, strerror(errno)), 1;
	if (setns(fd, CLONE_NEWUSER))
		return printf("setns: %s\n", strerror(errno)), 1;
	return printf("setns: entered\n"), 0;
}

/* A SysV segment of KEY: made (mode 0660, "secret" in it) or read. */
static int shm(const char *how, const char *key)
{
	int make = !strcmp(how, "make"), id = shmget(atoi(key), 4096, make ? IPC_CREAT | 0660 : 0);
	char *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);

	if (p == (void *)-1)
		return printf("shm %s: %s\n", how, strerror(errno)), 1;
	if (make)
		strcpy(p, "secret");
	return printf("shm %s: %s\n", how, make ? "made" : p), 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (!strcmp(c, "ids"))
		return ids();
	if (!strcmp(c, "fds"))
		return fds();
	if (!strcmp(c, "status"))
		return status();
	if (!strcmp(c, "root"))
		return try_root();
	if (!strcmp(c, "open") && argc > 2)
		return try_open(argv[2]);
	if (!strcmp(c, "argc0") && argc > 2) {	/* exec argv[2] with argc 0 */
		char *none[] = { NULL };
		execve(argv[2], none, none);
		perror("execve");
		return 1;
	}
	if (!strcmp(c, "memfd-exec") && argc > 3)
		return memfd_exec(argv[2], argv + 3);
	if (!strcmp(c, "userns") && argc > 2)
		return userns(argv[2]);
	if (!strcmp(c, "setns") && argc > 2)
		return try_setns(argv[2]);
	if (!strcmp(c, "shm") && argc > 3)
		return shm(argv[2], argv[3]);
	if (!strcmp(c, "exit") && argc > 2)
		return atoi(argv[2]);
	if (!strcmp(c, "kill") && argc > 2) {
		signal(atoi(argv[2]), SIG_DFL);
		raise(atoi(argv[2]));
		return 100;
	}
	fprintf(stderr, "usage: probe ids|fds|status|root|open P|exit N|kill SIG|memfd-exec SO PROG ARG...|\n"
		"       shm make|read KEY|\n"
		"       userns unshare|clone|clone3|setns SOCKET\n");
	return 2;
}
