/*
 * execfd: the user's binfmt_misc interpreter, registered with the `O`
 * flag: for each program it is run for, the kernel opens the program and
 * hands the fd over (AT_EXECFD) — readable, even when the program is
 * execute-only. Prints "LEAKED <marker>" when a VIAL-SECRET- string is in
 * it, else what it got. Static: it runs from a tmpfs of the user's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(void)
{
	static char buf[16 << 20];
	size_t n = 0;
	ssize_t r;
	const char *m;
	int fd;

	errno = 0;
	fd = (int)getauxval(AT_EXECFD);
	if (errno || fd <= 0)
		return printf("execfd: no AT_EXECFD\n"), 1;
	while (n < sizeof buf && (r = read(fd, buf + n, sizeof buf - n)) > 0)
		n += (size_t)r;
	if ((m = memmem(buf, n, "VIAL-SECRET-", 12)))
		return printf("LEAKED %.16s through binfmt_misc (%zu bytes read)\n", m, n), 0;
	return printf("execfd: read %zu bytes, no marker (%s)\n", n, strerror(errno)), 1;
}
