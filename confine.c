/*
 * A protected run's last line against the caller's own code inside the
 * image's programs: a seccomp filter, inherited by every process of the
 * container, that refuses the system calls giving a process executable
 * memory the mount flags cannot reach, the tracer's call, and every way
 * into a user namespace.
 *
 * - memfd_create, memfd_secret: an anonymous file the caller fills and a
 *   loader maps executable (LD_PRELOAD=/proc/self/fd/N): no mount, so no
 *   noexec, stops it. ENOSYS, as on a kernel without them: programs that
 *   use them for shared memory fall back (to /dev/shm, noexec here).
 * - ptrace: a tracer attached before the exec of an execute-only program
 *   keeps control of its registers after it, non-dumpable or not.
 * - unshare and clone with CLONE_NEWUSER, setns: in a user namespace of
 *   their own the caller mounts what they like (a tmpfs without noexec to
 *   preload from; since Linux 6.7 a binfmt_misc whose `O` handler gets a
 *   readable fd of every execute-only program it runs). setns too: a
 *   namespace's fd can be passed in over a socket. EPERM, as where user
 *   namespaces are off. Other clone flags need a capability vial has
 *   dropped, so the kernel refuses them itself.
 * - clone3: its flags are in memory a filter cannot read. ENOSYS: glibc
 *   and musl fall back to clone, which the rule above judges.
 *
 * Installed after no_new_privs, so no privilege is needed or kept.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "vial.h"

/* The compat ABI's numbers, for int 0x80 (or arm32) from any process. */
#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#define X32_BIT 0x40000000u
#define COMPAT_ARCH AUDIT_ARCH_I386
#define COMPAT_MEMFD 356
#define COMPAT_PTRACE 26
#define COMPAT_UNSHARE 310
#define COMPAT_CLONE 120
#define COMPAT_SETNS 346
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#define X32_BIT 0xffffffffu	/* no such ABI: matches no number */
#define COMPAT_ARCH AUDIT_ARCH_ARM
#define COMPAT_MEMFD 385
#define COMPAT_PTRACE 26
#define COMPAT_UNSHARE 337
#define COMPAT_CLONE 120
#define COMPAT_SETNS 375
#else
#error "confine.c: add this architecture's AUDIT_ARCH and compat numbers"
#endif
#define COMPAT_SECRET 447	/* the same number everywhere, */
#define COMPAT_CLONE3 435	/* as are these */
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

#define NR offsetof(struct seccomp_data, nr)
#define ARCH_AT offsetof(struct seccomp_data, arch)
/* the low 32 bits of the first argument (little-endian, both ABIs): the flags */
#define ARG0 offsetof(struct seccomp_data, args[0])
#define LOAD(at) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (at))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
/* jump to instruction `to` (an index) if the value is (JGE: is at least;
 * JSET: has a bit of) `k` */
#define IF(op, k, at, to) BPF_JUMP(BPF_JMP | (op) | BPF_K, (k), (to) - (at) - 1, 0)
#define UNLESS(k, at, to) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), 0, (to) - (at) - 1)

/* instruction indexes below */
enum { COMPAT = 12, FLAGS = 22, NOSYS = 25, PERM = 26 };

void confine_protected(void)
{
	struct sock_filter f[] = {
		/* 0 */ LOAD(ARCH_AT),
		/* 1 */ UNLESS(ARCH, 1, COMPAT),
		/* 2 */ LOAD(NR),
		/* 3 */ IF(BPF_JGE, X32_BIT, 3, NOSYS),
		/* 4 */ IF(BPF_JEQ, SYS_memfd_create, 4, NOSYS),
		/* 5 */ IF(BPF_JEQ, SYS_memfd_secret, 5, NOSYS),
		/* 6 */ IF(BPF_JEQ, SYS_clone3, 6, NOSYS),
		/* 7 */ IF(BPF_JEQ, SYS_ptrace, 7, PERM),
		/* 8 */ IF(BPF_JEQ, SYS_setns, 8, PERM),
		/* 9 */ IF(BPF_JEQ, SYS_unshare, 9, FLAGS),
		/* 10 */ IF(BPF_JEQ, SYS_clone, 10, FLAGS),
		/* 11 */ RET(SECCOMP_RET_ALLOW),
		/* 12: the compat ABI; any other architecture is refused whole */
		/* 12 */ UNLESS(COMPAT_ARCH, 12, NOSYS),
		/* 13 */ LOAD(NR),
		/* 14 */ IF(BPF_JEQ, COMPAT_MEMFD, 14, NOSYS),
		/* 15 */ IF(BPF_JEQ, COMPAT_SECRET, 15, NOSYS),
		/* 16 */ IF(BPF_JEQ, COMPAT_CLONE3, 16, NOSYS),
		/* 17 */ IF(BPF_JEQ, COMPAT_PTRACE, 17, PERM),
		/* 18 */ IF(BPF_JEQ, COMPAT_SETNS, 18, PERM),
		/* 19 */ IF(BPF_JEQ, COMPAT_UNSHARE, 19, FLAGS),
		/* 20 */ IF(BPF_JEQ, COMPAT_CLONE, 20, FLAGS),
		/* 21 */ RET(SECCOMP_RET_ALLOW),
		/* 22: unshare or clone: never into a new user namespace */
		/* 22 */ LOAD(ARG0),
		/* 23 */ IF(BPF_JSET, CLONE_NEWUSER, 23, PERM),
		/* 24 */ RET(SECCOMP_RET_ALLOW),
		/* 25 */ RET(SECCOMP_RET_ERRNO | ENOSYS),
		/* 26 */ RET(SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = { .len = LEN(f), .filter = f };

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0))
		die_errno("install the protected image's seccomp filter");
}
