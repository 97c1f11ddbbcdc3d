/*
 * A protected run's last line against the caller's own code inside the
 * image's programs: a seccomp filter, inherited by every process of the
 * container, that refuses the system calls giving a process executable
 * memory the mount flags cannot reach, and the tracer's call.
 *
 * - memfd_create, memfd_secret: an anonymous file the caller fills and a
 *   loader maps executable (LD_PRELOAD=/proc/self/fd/N): no mount, so no
 *   noexec, stops it. ENOSYS, as on a kernel without them: programs that
 *   use them for shared memory fall back (to /dev/shm, noexec here).
 * - ptrace: a tracer attached before the exec of an execute-only program
 *   keeps control of its registers after it, non-dumpable or not.
 *
 * Installed after no_new_privs, so no privilege is needed or kept.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "vial.h"

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#define X32_BIT 0x40000000u
/* i386 numbers, for int 0x80 from any process (a 32-bit program) */
#define COMPAT_ARCH AUDIT_ARCH_I386
#define COMPAT_MEMFD 356
#define COMPAT_SECRET 447
#define COMPAT_PTRACE 26
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#define X32_BIT 0xffffffffu	/* no such ABI: matches no number */
#define COMPAT_ARCH AUDIT_ARCH_ARM
#define COMPAT_MEMFD 385
#define COMPAT_SECRET 447
#define COMPAT_PTRACE 26
#else
#error "confine.c: add this architecture's AUDIT_ARCH and compat numbers"
#endif
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

#define NR offsetof(struct seccomp_data, nr)
#define ARCH_AT offsetof(struct seccomp_data, arch)
#define LOAD(at) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (at))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
/* jump to instruction `to` (an index) if the value is (or, JGE, is at least) `k` */
#define IF(op, k, at, to) BPF_JUMP(BPF_JMP | (op) | BPF_K, (k), (to) - (at) - 1, 0)
#define UNLESS(k, at, to) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), 0, (to) - (at) - 1)

enum { COMPAT = 8, NOSYS = 14, PERM = 15 };	/* instruction indexes below */

void confine_protected(void)
{
	struct sock_filter f[] = {
		/* 0 */ LOAD(ARCH_AT),
		/* 1 */ UNLESS(ARCH, 1, COMPAT),
		/* 2 */ LOAD(NR),
		/* 3 */ IF(BPF_JGE, X32_BIT, 3, NOSYS),
		/* 4 */ IF(BPF_JEQ, SYS_memfd_create, 4, NOSYS),
		/* 5 */ IF(BPF_JEQ, SYS_memfd_secret, 5, NOSYS),
		/* 6 */ IF(BPF_JEQ, SYS_ptrace, 6, PERM),
		/* 7 */ RET(SECCOMP_RET_ALLOW),
		/* 8: the compat ABI; any other architecture is refused whole */
		/* 8 */ UNLESS(COMPAT_ARCH, 8, NOSYS),
		/* 9 */ LOAD(NR),
		/* 10 */ IF(BPF_JEQ, COMPAT_MEMFD, 10, NOSYS),
		/* 11 */ IF(BPF_JEQ, COMPAT_SECRET, 11, NOSYS),
		/* 12 */ IF(BPF_JEQ, COMPAT_PTRACE, 12, PERM),
		/* 13 */ RET(SECCOMP_RET_ALLOW),
		/* 14 */ RET(SECCOMP_RET_ERRNO | ENOSYS),
		/* 15 */ RET(SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = { .len = LEN(f), .filter = f };

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0))
		die_errno("install the protected image's seccomp filter");
}
