/*
 * What every harness shares. vial's die()/die_errno() end the process;
 * here they longjmp back to the harness instead, after checking that the
 * message is one printable line (an image's bytes must never reach the
 * user's terminal raw). Include this once, in the harness's only file.
 */
#ifndef FUZZ_HARNESS_H
#define FUZZ_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vial.h"

#define FUZZ_UNUSED __attribute__((unused))	/* not every harness uses each helper */

/* Why a harness aborts: libFuzzer saves the input and run.sh reports it. */
#define FUZZ_ASSERT(c) \
	((c) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #c))

static __attribute__((noreturn)) void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "==FUZZ== %s:%d: check failed: %s\n", file, line, what);
	abort();
}

/* The harness itself could not do its part (scratch files, memfd). */
static FUZZ_UNUSED __attribute__((noreturn)) void fuzz_setup_failed(const char *what)
{
	fprintf(stderr, "==FUZZ== harness setup: %s: %s\n", what, strerror(errno));
	abort();
}

/* msg.c's xcalloc and xrealloc, for a harness that does not link msg.c:
 * memory, or the harness stops. */
static FUZZ_UNUSED void *fuzz_alloc(void *p)
{
	if (!p)
		fuzz_setup_failed("out of memory");
	return p;
}

static jmp_buf fuzz_jmp;
static int fuzz_armed;		/* die() may be called: between fuzz_arm and fuzz_disarm */
static char fuzz_msg[2048];	/* the last die() message: vial's own buffer is 1024 */

/* Before code that may die(): `fuzz_arm(); if (setjmp(fuzz_jmp)) {died}
 * else {...; fuzz_disarm();}` (setjmp only ever as a whole condition). */
static FUZZ_UNUSED void fuzz_arm(void)
{
	fuzz_armed = 1;
	fuzz_msg[0] = 0;
}

static FUZZ_UNUSED void fuzz_disarm(void)
{
	fuzz_armed = 0;
}

/* One line, no control bytes: what vial would print after "vial: ". */
static FUZZ_UNUSED void fuzz_check_line(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "==FUZZ== message with byte 0x%02x: %s\n", *p, s);
			abort();
		}
}

static FUZZ_UNUSED __attribute__((noreturn)) void fuzz_died(int err)
{
	fuzz_check_line(fuzz_msg);
	if (err)
		fuzz_check_line(strerror(err));
	if (!fuzz_armed)
		fuzz_fail(__FILE__, __LINE__, "die() while not armed");
	fuzz_armed = 0;
	longjmp(fuzz_jmp, 1);
}

#ifndef FUZZ_VIAL_DIE	/* else msg.c's die(), or the harness's own */
void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fuzz_msg, sizeof fuzz_msg, fmt, ap);
	va_end(ap);
	fuzz_died(0);
}

void die_errno(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fuzz_msg, sizeof fuzz_msg, fmt, ap);
	va_end(ap);
	fuzz_died(e);
}
#endif

#ifndef FUZZ_VIAL_MSG	/* else the harness includes msg.c */
int verbose = 1;		/* format every debug() message, and check it */

void debug(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fuzz_check_line(buf);
}
#endif

/*
 * File descriptors: those open after LLVMFuzzerInitialize are the
 * harness's; any other file or directory still open after a call leaked
 * (or a die() skipped its close, which the harness forgives and tidies).
 * Pipes and sockets are the fuzzer's own (its symbolizer), never vial's
 * here.
 */
#define FUZZ_FDS 128
static unsigned char fuzz_fd_init[FUZZ_FDS];

static FUZZ_UNUSED void fuzz_fds_init(void)
{
	for (int fd = 0; fd < FUZZ_FDS; fd++)
		fuzz_fd_init[fd] = fcntl(fd, F_GETFD) != -1;
}

/* Close what the code under test left open; how many there were. */
static FUZZ_UNUSED int fuzz_fds_reset(void)
{
	int n = 0;

	struct stat st;

	for (int fd = 0; fd < FUZZ_FDS; fd++)
		if (!fuzz_fd_init[fd] && !fstat(fd, &st) && !S_ISFIFO(st.st_mode) &&
		    !S_ISSOCK(st.st_mode)) {
			close(fd);
			n++;
		}
	return n;
}

/* The harness's one memfd, made in LLVMFuzzerInitialize, refilled per input. */
static FUZZ_UNUSED int fuzz_memfd_open(void)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		fuzz_setup_failed("memfd_create");
	return fd;
}

static FUZZ_UNUSED void fuzz_memfd_fill(int fd, const uint8_t *data, size_t len)
{
	if (ftruncate(fd, 0) || (len && pwrite(fd, data, len, 0) != (ssize_t)len))
		fuzz_setup_failed("memfd write");
}

#endif
