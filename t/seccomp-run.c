/*
 * seccomp-run: run a command under a seccomp filter that makes chosen
 * system calls fail with ENOSYS and chosen ioctl requests with ENOTTY, as
 * a kernel without them would. Root installs it WITHOUT no_new_privs, so
 * it survives the exec of the setuid vial: that is how the tests reach
 * vial's fallbacks for old kernels on a new one.
 *
 *   seccomp-run [--enosys NAME|NR]... [--ioctl-enotty REQ]... [--userns-enospc]
 *               -- CMD [ARG...]
 *       (--userns-enospc: unshare(CLONE_NEWUSER) fails with ENOSPC, as at
 *       user.max_user_namespaces=0, which a sandbox's root may not set)
 *   seccomp-run --try openat2|close_range|loop-configure
 *       (prints the errno the call gets: checks a filter is in force)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "seccomp-run: add this architecture's AUDIT_ARCH"
#endif

#define MAX 16
#define LOOP_CONFIGURE_REQ 0x4C0A

static const struct { const char *name; long nr; } names[] = {
	{ "openat2", SYS_openat2 },
	{ "close_range", SYS_close_range },
	{ "openat", SYS_openat },
	{ "mount_setattr", SYS_mount_setattr },
	{ "fsopen", SYS_fsopen },
	{ "fsconfig", SYS_fsconfig },
	{ "fsmount", SYS_fsmount },
	{ "open_tree", SYS_open_tree },
	{ "move_mount", SYS_move_mount },
};

static void usage(void)
{
	fprintf(stderr, "usage: seccomp-run [--enosys SYSCALL]... "
		"[--ioctl-enotty REQUEST]... [--userns-enospc] -- CMD [ARG...]\n"
		"       seccomp-run --try openat2|close_range|loop-configure\n");
	exit(2);
}

static long number(const char *s)
{
	char *end;
	long v;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(s, names[i].name))
			return names[i].nr;
	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end || v < 0) {
		fprintf(stderr, "seccomp-run: unknown system call or number: %s\n", s);
		exit(2);
	}
	return v;
}

static const char *errname(int e)
{
	static char buf[16];

	switch (e) {
	case ENOSYS: return "ENOSYS";
	case ENOTTY: return "ENOTTY";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	}
	snprintf(buf, sizeof buf, "errno %d", e);
	return buf;
}

/* What a call gets under the current filter, as an errno name. */
static int try(const char *what)
{
	long rc;

	errno = 0;
	if (!strcmp(what, "openat2")) {
		rc = syscall(SYS_openat2, AT_FDCWD, "/", NULL, (size_t)0);
	} else if (!strcmp(what, "close_range")) {
		rc = syscall(SYS_close_range, ~0u, ~0u, 0);
	} else if (!strcmp(what, "loop-configure")) {
		int fd = open("/dev/loop0", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return perror("seccomp-run: /dev/loop0"), 1;
		/* NULL argument: a kernel that knows the request says EFAULT. */
		rc = ioctl(fd, LOOP_CONFIGURE_REQ, NULL);
		close(fd);
	} else {
		usage();
	}
	printf("%s\n", rc == 0 ? "0" : errname(errno));
	return 0;
}

static void add(struct sock_filter *f, int *n, struct sock_filter s)
{
	if (*n >= 4 * MAX + 8) {
		fprintf(stderr, "seccomp-run: too many rules\n");
		exit(2);
	}
	f[(*n)++] = s;
}

static int userns_enospc;

static void install(const long *sys, int nsys, const long *req, int nreq)
{
	struct sock_filter f[4 * MAX + 8];
	struct sock_fprog prog;
	int n = 0;

	/* Other architectures (i386 on x86_64) are let through untouched. */
	add(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						offsetof(struct seccomp_data, arch)));
	add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0));
	add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
	add(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						offsetof(struct seccomp_data, nr)));
	if (userns_enospc) {
		add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							SYS_unshare, 0, 3));
		add(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
							offsetof(struct seccomp_data, args[0])));
		add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K,
							CLONE_NEWUSER, 0, 1));
		add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
							SECCOMP_RET_ERRNO | ENOSPC));
		add(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
							offsetof(struct seccomp_data, nr)));
	}
	for (int i = 0; i < nsys; i++) {
		add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							(unsigned)sys[i], 0, 1));
		add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
							SECCOMP_RET_ERRNO | ENOSYS));
	}
	if (nreq) {
		add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							SYS_ioctl, 1, 0));
		add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
		/* The request is an unsigned int: its low word (little endian). */
		add(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
							offsetof(struct seccomp_data, args[1])));
		for (int i = 0; i < nreq; i++) {
			add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
								(unsigned)req[i], 0, 1));
			add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
								SECCOMP_RET_ERRNO | ENOTTY));
		}
	}
	add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
	prog.len = (unsigned short)n;
	prog.filter = f;
	/* Deliberately no PR_SET_NO_NEW_PRIVS: root may, and setuid must work. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0)) {
		perror("seccomp-run: PR_SET_SECCOMP (run as root)");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	long sys[MAX], req[MAX];
	int nsys = 0, nreq = 0, i = 1;

	if (argc == 3 && !strcmp(argv[1], "--try"))
		return try(argv[2]);
	for (; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--userns-enospc")) {
			userns_enospc = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--enosys") && nsys < MAX)
			sys[nsys++] = number(argv[++i]);
		else if (!strcmp(argv[i], "--ioctl-enotty") && nreq < MAX)
			req[nreq++] = number(argv[++i]);
		else
			usage();
	}
	if (i + 1 >= argc)
		usage();
	install(sys, nsys, req, nreq);
	execvp(argv[i + 1], argv + i + 1);
	fprintf(stderr, "seccomp-run: %s: %s\n", argv[i + 1], strerror(errno));
	return 127;
}
