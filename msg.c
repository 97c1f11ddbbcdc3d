/*
 * Messages: one line on stderr each, starting with the name the caller
 * typed (progname), and the name hints tell them to type (cmdname); and
 * memory, or one line saying there is none. Every file may use these;
 * they use nothing of vial's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "vial.h"

int verbose, quiet;
/* "vial", or "singularity (vial)" ...: cli_parse sets both from argv[0]. */
const char *progname = "vial";
const char *cmdname = "vial";	/* the command to name in hints: vial, singularity, ... */

static void vmsg(const char *fmt, va_list ap, int err, const char *what)
{
	char buf[1024];

	vsnprintf(buf, sizeof buf, fmt, ap);
	dprintf(2, "%s: %s%s%s%s\n", progname, what, buf, err ? ": " : "",
		err ? strerror(err) : "");
}

_Noreturn void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap, 0, "");
	va_end(ap);
	_exit(255);
}

_Noreturn void die_errno(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap, e, "");
	va_end(ap);
	_exit(255);
}

void debug(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vmsg(fmt, ap, 0, "");
	va_end(ap);
}

/* What the caller may want to know, unless -q/-s. */
void warn(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vmsg(fmt, ap, 0, "warning: ");
	va_end(ap);
}

/* What instance start and stop report, unless -q/-s. */
void inform(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vmsg(fmt, ap, 0, "");
	va_end(ap);
}

/* vial is short-lived: what it allocates it mostly keeps. */
void *xrealloc(void *p, size_t n)
{
	if (!(p = p ? realloc(p, n) : malloc(n)))
		die("out of memory");
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		die("out of memory");
	return p;
}
