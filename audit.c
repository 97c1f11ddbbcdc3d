/*
 * The lines vial sends to syslog (authpriv) about protected images: the
 * audit line of every protected run, and the admin's line about a refused
 * or unprotected one. Built in a fixed buffer, every field the caller
 * chose escaped, sent by hand so that a failure is seen.
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "vial.h"

/* The audit line, built in a fixed buffer that no field can overrun. */
struct line {
	char s[2048];
	size_t len;
};

enum { RAW = 0, ESC = 1, ESC_SPACE = 2 };

/*
 * Append `s`, at most `max` bytes of it as written. ESC writes control
 * bytes, bytes from 0x7f up, quote and backslash as \ooo (ESC_SPACE the
 * space too, to keep arguments apart), so no field can end the line or
 * forge another, and the line stays ASCII (journald keeps a message with
 * other bytes as a blob that journalctl does not show); '%' is only ever
 * data here. A cut is marked "...". Returns 0 if cut.
 */
static int put(struct line *l, const char *s, size_t max, int how)
{
	size_t end = l->len + max;
	char e[8];
	int n;

	if (end > sizeof l->s - 1)
		end = sizeof l->s - 1;
	if (l->len + 3 > end)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (how && (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' ||
			    (c == ' ' && how == ESC_SPACE))) {
			n = snprintf(e, sizeof e, "\\%03o", c);
		} else {
			e[0] = (char)c;
			n = 1;
		}
		if (l->len + (size_t)n + 3 > end) {
			memcpy(l->s + l->len, "...", 3);
			l->len += 3;
			l->s[l->len] = 0;
			return 0;
		}
		memcpy(l->s + l->len, e, (size_t)n);
		l->len += (size_t)n;
	}
	l->s[l->len] = 0;
	return 1;
}

/* The whole command, each argument escaped, within `max` bytes. */
static void put_argv(struct line *l, char **argv, size_t max)
{
	size_t start = l->len;

	for (int i = 0; argv[i]; i++)
		if ((i && !put(l, " ", max - (l->len - start), RAW)) ||
		    !put(l, argv[i], max - (l->len - start), ESC_SPACE))
			return;
}

/*
 * The start of every line vial sends to authpriv: priority, stamp, and
 * who ran what, up to the image's closing quote. -1 if the clock fails.
 */
static int put_head(struct line *l, int pri, const char *image)
{
	const struct user *u = priv_user();
	char head[96], ts[32], uid[32];
	time_t now = time(NULL);
	struct tm tm;

	/* syslog daemons read the stamp as local time (musl: /etc/localtime) */
	if (!localtime_r(&now, &tm) || !strftime(ts, sizeof ts, "%b %e %H:%M:%S", &tm))
		return -1;
	snprintf(head, sizeof head, "<%d>%s vial[%d]: user=\"", pri, ts, (int)getpid());
	snprintf(uid, sizeof uid, "\" uid=%u image=\"", (unsigned)u->uid);
	put(l, head, sizeof head, RAW);
	put(l, u->name, 128, ESC);
	put(l, uid, sizeof uid, RAW);
	put(l, image, 640, ESC);
	put(l, "\"", 4, RAW);
	return 0;
}

/* One datagram to /dev/log; -1 with errno if it was not taken. */
static int log_send(const struct line *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), e;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) ||
	    send(fd, l->s, l->len, 0) != (ssize_t)l->len) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * A line for the admin about the image `image` (a path in a protected
 * directory, shown by protect.c), e.g.
 *   vial[42]: user="ann" uid=1001 image="/opt/vial/lic/m.sqfs"
 *   refused="user not in group lic"
 * (authpriv.warning). Best effort: the run it speaks of is refused, or
 * ordinary, either way.
 */
void audit_note(const char *image, const char *key, const char *text)
{
	struct line l = { .len = 0 };

	if (put_head(&l, LOG_AUTHPRIV | LOG_WARNING, image))
		return;
	put(&l, " ", 16, RAW);
	put(&l, key, 32, RAW);
	put(&l, "=\"", 16, RAW);
	put(&l, text, 640, ESC);
	put(&l, "\"", 4, RAW);
	log_send(&l);
}

/*
 * One line to authpriv per protected run, e.g.
 *   vial[42]: user="ann" uid=1001 image="/opt/vial/protected/m.sqfs"
 *   command="matlab -batch run" cwd="/home/ann"
 * Sent by hand (not syslog(3)) so that a failure is seen: a protected
 * image does not run unaudited. In the command, a space inside an
 * argument is \040, so arguments stay apart.
 */
void audit_run(const char *path, const char *image, char **argv, const char *cwd)
{
	struct line l = { .len = 0 };

	if (put_head(&l, LOG_AUTHPRIV | LOG_NOTICE, image))
		die("%s: cannot read the clock for the audit log", path);
	put(&l, " command=\"", 16, RAW);
	put_argv(&l, argv, 640);
	put(&l, "\" cwd=\"", 16, RAW);
	put(&l, cwd, 384, ESC);
	put(&l, "\"", 4, RAW);
	if (log_send(&l))
		die("%s: cannot write the audit log to /dev/log (%s): protected images "
		    "do not run unaudited; an admin must run a syslog daemon here",
		    path, strerror(errno));
}
