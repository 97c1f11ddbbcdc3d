/*
 * A sealed run's filter: a seccomp program, inherited by every process of
 * the container, that refuses the system calls giving a process executable
 * memory the mount flags and Landlock cannot reach, the tracer's calls,
 * every way into a user namespace, and every channel a file descriptor
 * could leave by. One wall of three (seal.c has the others): it keeps
 * what the kernel walls would miss.
 *
 * - memfd_create, memfd_secret: an anonymous file the caller fills and a
 *   loader maps executable (LD_PRELOAD=/proc/self/fd/N): no mount, so no
 *   noexec, stops it, and Landlock lets internal mounts through. ENOSYS,
 *   as on a kernel without them: programs fall back (to /dev/shm, noexec).
 * - ptrace: a tracer attached before the exec of an execute-only program
 *   keeps control of its registers after it, non-dumpable or not.
 * - unshare and clone with CLONE_NEWUSER, setns: in a user namespace of
 *   their own the caller mounts what they like (a tmpfs without noexec to
 *   preload from; since Linux 6.7 a binfmt_misc whose `O` handler gets a
 *   readable fd of every execute-only program it runs). EPERM, as where
 *   user namespaces are off (user.max_user_namespaces is 0 inside too).
 * - clone3: its flags are in memory a filter cannot read. ENOSYS: glibc
 *   and musl fall back to clone, which the rule above judges.
 * - seccomp with SECCOMP_FILTER_FLAG_NEW_LISTENER, and every ioctl of the
 *   listener's type '!': a listener answers a program's openat with
 *   SECCOMP_IOCTL_NOTIF_ADDFD of any fd, so the loader of an execute-only
 *   program maps the caller's library without Landlock seeing an open.
 *   EPERM.
 * - io_uring_setup, _enter, _register: IORING_OP_FIXED_FD_INSTALL (6.8)
 *   and registered files move descriptors between processes that share a
 *   ring. ENOSYS, as on a kernel without it.
 * - prctl(PR_SET_DUMPABLE, 1): an execute-only program that re-enables
 *   its dumps (crash reporters do) would be readable by its siblings.
 *   EPERM.
 * - socket(AF_UNIX, ...): SCM_RIGHTS is the way a descriptor leaves a
 *   process; unix sockets are its only carrier. EACCES. socketpair stays
 *   (both ends are inside); inherited unix sockets never get in (seal.c).
 *   On the compat ABI socketcall, the multiplexer whose arguments are in
 *   memory, is ENOSYS: every C library has used the direct calls since
 *   Linux 4.3.
 *
 * Review at each kernel release: every new object that can carry a
 * descriptor (io_uring's FIXED_FD_INSTALL came in 6.8, per-namespace
 * binfmt_misc in 6.7) is a question for this filter and for the
 * inherited-descriptor allow-list in seal.c.
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
#include <sys/socket.h>
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
#define COMPAT_SOCKET 359
#define COMPAT_SECCOMP 354
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#define X32_BIT 0xffffffffu	/* no such ABI: matches no number */
#define COMPAT_ARCH AUDIT_ARCH_ARM
#define COMPAT_MEMFD 385
#define COMPAT_PTRACE 26
#define COMPAT_UNSHARE 337
#define COMPAT_CLONE 120
#define COMPAT_SETNS 375
#define COMPAT_SOCKET 281
#define COMPAT_SECCOMP 383
#else
#error "confine.c: add this architecture's AUDIT_ARCH and compat numbers"
#endif
#define COMPAT_IOCTL 54		/* the same on i386 and arm, */
#define COMPAT_PRCTL 172
#define COMPAT_SOCKETCALL 102	/* (arm: OABI only, so never seen) */
#define COMPAT_SECRET 447	/* and the same everywhere, */
#define COMPAT_CLONE3 435	/* as are these */
#define IO_URING_SETUP 425
#define IO_URING_ENTER 426
#define IO_URING_REGISTER 427
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#define LISTENER_IOCTL ('!' << 8)	/* SECCOMP_IOCTL_NOTIF_*: _IOWR('!', ...) */

#define NR offsetof(struct seccomp_data, nr)
#define ARCH_AT offsetof(struct seccomp_data, arch)
/* the low 32 bits of an argument (little-endian, both ABIs): every value
 * judged here is an int or flags within them */
#define ARG(n) offsetof(struct seccomp_data, args[n])
#define LOAD(at) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (at))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
/* jump to instruction `to` (an index) if the value is (JGE: is at least;
 * JSET: has a bit of) `k` */
#define IF(op, k, at, to) BPF_JUMP(BPF_JMP | (op) | BPF_K, (k), (to) - (at) - 1, 0)
#define UNLESS(k, at, to) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), 0, (to) - (at) - 1)

/* instruction indexes below */
enum { COMPAT = 19, FLAGS = 37, SOCKET = 40, SECCOMP = 43, IOCTL = 46, PRCTL = 50,
       ALLOW = 54, NOSYS = 55, PERM = 56, ACCES = 57 };

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
		/* 7 */ IF(BPF_JEQ, IO_URING_SETUP, 7, NOSYS),
		/* 8 */ IF(BPF_JEQ, IO_URING_ENTER, 8, NOSYS),
		/* 9 */ IF(BPF_JEQ, IO_URING_REGISTER, 9, NOSYS),
		/* 10 */ IF(BPF_JEQ, SYS_ptrace, 10, PERM),
		/* 11 */ IF(BPF_JEQ, SYS_setns, 11, PERM),
		/* 12 */ IF(BPF_JEQ, SYS_unshare, 12, FLAGS),
		/* 13 */ IF(BPF_JEQ, SYS_clone, 13, FLAGS),
		/* 14 */ IF(BPF_JEQ, SYS_socket, 14, SOCKET),
		/* 15 */ IF(BPF_JEQ, SYS_seccomp, 15, SECCOMP),
		/* 16 */ IF(BPF_JEQ, SYS_ioctl, 16, IOCTL),
		/* 17 */ IF(BPF_JEQ, SYS_prctl, 17, PRCTL),
		/* 18 */ RET(SECCOMP_RET_ALLOW),
		/* 19: the compat ABI; any other architecture is refused whole */
		/* 19 */ UNLESS(COMPAT_ARCH, 19, NOSYS),
		/* 20 */ LOAD(NR),
		/* 21 */ IF(BPF_JEQ, COMPAT_MEMFD, 21, NOSYS),
		/* 22 */ IF(BPF_JEQ, COMPAT_SECRET, 22, NOSYS),
		/* 23 */ IF(BPF_JEQ, COMPAT_CLONE3, 23, NOSYS),
		/* 24 */ IF(BPF_JEQ, IO_URING_SETUP, 24, NOSYS),
		/* 25 */ IF(BPF_JEQ, IO_URING_ENTER, 25, NOSYS),
		/* 26 */ IF(BPF_JEQ, IO_URING_REGISTER, 26, NOSYS),
		/* 27 */ IF(BPF_JEQ, COMPAT_SOCKETCALL, 27, NOSYS),
		/* 28 */ IF(BPF_JEQ, COMPAT_PTRACE, 28, PERM),
		/* 29 */ IF(BPF_JEQ, COMPAT_SETNS, 29, PERM),
		/* 30 */ IF(BPF_JEQ, COMPAT_UNSHARE, 30, FLAGS),
		/* 31 */ IF(BPF_JEQ, COMPAT_CLONE, 31, FLAGS),
		/* 32 */ IF(BPF_JEQ, COMPAT_SOCKET, 32, SOCKET),
		/* 33 */ IF(BPF_JEQ, COMPAT_SECCOMP, 33, SECCOMP),
		/* 34 */ IF(BPF_JEQ, COMPAT_IOCTL, 34, IOCTL),
		/* 35 */ IF(BPF_JEQ, COMPAT_PRCTL, 35, PRCTL),
		/* 36 */ RET(SECCOMP_RET_ALLOW),
		/* 37: unshare or clone: never into a new user namespace */
		/* 37 */ LOAD(ARG(0)),
		/* 38 */ IF(BPF_JSET, CLONE_NEWUSER, 38, PERM),
		/* 39 */ RET(SECCOMP_RET_ALLOW),
		/* 40: socket: no unix one */
		/* 40 */ LOAD(ARG(0)),
		/* 41 */ IF(BPF_JEQ, AF_UNIX, 41, ACCES),
		/* 42 */ RET(SECCOMP_RET_ALLOW),
		/* 43: seccomp: no listener */
		/* 43 */ LOAD(ARG(1)),
		/* 44 */ IF(BPF_JSET, SECCOMP_FILTER_FLAG_NEW_LISTENER, 44, PERM),
		/* 45 */ RET(SECCOMP_RET_ALLOW),
		/* 46: ioctl: none of a listener's */
		/* 46 */ LOAD(ARG(1)),
		/* 47 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff00),
		/* 48 */ IF(BPF_JEQ, LISTENER_IOCTL, 48, PERM),
		/* 49 */ RET(SECCOMP_RET_ALLOW),
		/* 50: prctl: PR_SET_DUMPABLE only to 0 */
		/* 50 */ LOAD(ARG(0)),
		/* 51 */ UNLESS(PR_SET_DUMPABLE, 51, ALLOW),
		/* 52 */ LOAD(ARG(1)),
		/* 53 */ UNLESS(0, 53, PERM),
		/* 54 */ RET(SECCOMP_RET_ALLOW),
		/* 55 */ RET(SECCOMP_RET_ERRNO | ENOSYS),
		/* 56 */ RET(SECCOMP_RET_ERRNO | EPERM),
		/* 57 */ RET(SECCOMP_RET_ERRNO | EACCES),
	};
	struct sock_fprog prog = { .len = LEN(f), .filter = f };

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0))
		die_errno("install the sealed run's seccomp filter");
}
