/*
 * The caller's instances, as root keeps them, and the commands that only
 * read them: instance list and instance stop (instance.c starts and
 * joins them).
 *
 * What root does here, and why it is safe:
 * - The record: INSTANCE_DIR/UID/NAME, a root:root 0600 file in root:root
 *   0700 directories below directories only root can write
 *   (protect_dir_make). A caller only ever reads their own uid's
 *   directory, and no user can write, read or list any of it: an
 *   instance is found only by its own user, and what the record says
 *   (which process) is root's word, never the user's. NAME is one
 *   component of [A-Za-z0-9._-], never "." or "..".
 * - An instance is its init process: the pid, that process's start time
 *   (/proc/PID/stat field 22) and the boot's id. Each use opens
 *   /proc/PID once, as a directory, and checks through that descriptor,
 *   which stays bound to that process and never to a later holder of the
 *   pid, that it is the same process, the caller's (real uid), and a PID
 *   namespace's init. A recycled pid fails the start time: it is never
 *   joined nor signalled, and its record is removed.
 * - Stopping needs no root: the caller signals their own process, through
 *   the checked descriptor (pidfd_send_signal).
 * - A record whose init is gone (stopped; killed; killed with its Slurm
 *   job's cgroup) is removed by the first of that user's vials to notice:
 *   instance list, start or stop, or a join. The instance's mounts and
 *   loop device need no one: they go with its namespaces, as any
 *   container's. Every change to a user's records is made under a lock on
 *   their directory, so none is ever read half written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vial.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424	/* Linux 5.1, the same number everywhere */
#endif

#define MAGIC "vial-instance 1"
#define DEFAULT_TIMEOUT 10	/* instance stop -t: Apptainer's default */
#define KILL_WAIT 5		/* seconds SIGKILL may take */
enum { NFIELDS = 9 };

/* --- reading /proc and records ---------------------------------------------- */

/* /proc/PID/stat: comm is field 2, in parentheses, any bytes (even ')'):
 * the fields count from its last ')'. 0, or -1 if not in that form. */
static int stat_parse(const char *buf, struct pstat *p)
{
	const char *open = strchr(buf, '('), *close = strrchr(buf, ')'), *s;
	char *end;
	size_t n;

	if (!open || !close || close < open || (n = (size_t)(close - open - 1)) >= sizeof p->comm)
		return -1;
	memcpy(p->comm, open + 1, n);
	p->comm[n] = 0;
	s = close + 1;
	for (int f = 3; f <= 22; f++) {
		if (*s++ != ' ' || !*s || *s == ' ')
			return -1;
		if (f == 3)
			p->state = *s;
		if (f == 4 || f == 22) {
			errno = 0;
			unsigned long long v = strtoull(s, &end, 10);
			if (errno || end == s || (*end != ' ' && *end != '\n' && *end))
				return -1;
			if (f == 4 && v > 0x7fffffff)
				return -1;
			if (f == 4)
				p->ppid = (pid_t)v;
			else
				p->start = v;
		}
		s += strcspn(s, " ");
	}
	return 0;
}

/* /proc/PID as a directory: the descriptor stays that process's. */
int proc_open(pid_t pid)
{
	char p[32];

	snprintf(p, sizeof p, "/proc/%d", (int)pid);
	return priv_proc_open(AT_FDCWD, p, O_DIRECTORY);
}

/* stat of the process behind `proc`, read as root or as the caller. */
int proc_stat(int proc, int root, struct pstat *p)
{
	char buf[1024];
	int fd = root ? priv_proc_open(proc, "stat", 0)
		      : openat(proc, "stat", O_RDONLY | O_CLOEXEC);

	return fd_slurp(fd, buf, sizeof buf) < 0 ? -1 : stat_parse(buf, p);
}

/* Is the process the caller's (real uid), the init of a PID namespace
 * below ours (NSpid: its pid here, then 1 there)? */
static int proc_owned_init(int proc)
{
	char buf[4096], *uid, *ns, *last;
	unsigned long u;

	if (fd_slurp(priv_proc_open(proc, "status", 0), buf, sizeof buf) < 0 ||
	    !(uid = strstr(buf, "\nUid:\t")) || !(ns = strstr(buf, "\nNSpid:\t")))
		return 0;
	u = strtoul(uid + 6, NULL, 10);
	ns += 8;
	ns[strcspn(ns, "\n")] = 0;
	last = strrchr(ns, '\t');
	return u == priv_user()->uid && last && !strcmp(last, "\t1");
}

const char *boot_id(void)
{
	static char id[40];

	if (!id[0] && fd_slurp(open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC),
			    id, sizeof id) < 0)
		die_errno("read /proc/sys/kernel/random/boot_id");
	id[strcspn(id, "\n")] = 0;
	return id;
}

/* Is the process gone (or a zombie, its namespaces gone with it)? */
static int proc_gone(int proc)
{
	struct pstat p;

	return proc_stat(proc, 1, &p) || p.state == 'Z' || p.state == 'X';
}

/* Is the record's process there, the same one, the caller's instance
 * init? Its /proc/PID stays open in s->proc. */
static int verify(struct state *s)
{
	struct pstat p;
	int proc = proc_open(s->pid);

	if (proc < 0 && errno != ENOENT)	/* not known gone: its record stays */
		die_errno("instance %s: /proc/%d", s->name, (int)s->pid);
	if (proc < 0)
		return 0;
	if (strcmp(s->boot, boot_id()) || proc_stat(proc, 1, &p) || p.start != s->start ||
	    p.state == 'Z' || p.state == 'X' || !proc_owned_init(proc)) {
		close(proc);
		return 0;
	}
	s->proc = proc;
	return 1;
}

static int number(const char *s, unsigned long long max, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || !*s || *end || *v > max || (s[0] < '0' || s[0] > '9') ? -1 : 0;
}

static int field_path(char *dst, const char *src)
{
	return src[0] == '/' && snprintf(dst, PATH_MAX, "%s", src) < PATH_MAX ? 0 : -1;
}

/* A record's bytes: exactly NFIELDS NUL-terminated fields. 0, or -1. */
static int record_parse(const char *buf, size_t len, struct state *s)
{
	const char *f[NFIELDS];
	unsigned long long pid, flags;
	size_t n = 0;

	for (size_t at = 0; at < len && n < NFIELDS; n++) {
		f[n] = buf + at;
		at += strnlen(buf + at, len - at) + 1;
		if (at > len)
			return -1;	/* no NUL at the end */
		if (n == NFIELDS - 1 && at != len)
			return -1;
	}
	if (n != NFIELDS || strcmp(f[0], MAGIC) || number(f[1], 0x7fffffff, &pid) || pid < 2 ||
	    number(f[2], ~0ULL, &s->start) || strlen(f[3]) >= sizeof s->boot || !f[3][0] ||
	    number(f[4], 15, &flags) || field_path(s->image, f[5]) || field_path(s->home, f[6]) ||
	    field_path(s->out, f[7]) || field_path(s->err, f[8]))
		return -1;
	s->pid = (pid_t)pid;
	s->flags = (unsigned)flags;
	strcpy(s->boot, f[3]);
	return 0;
}

/* The bytes record_parse reads back as `s`: their length, or -1. */
int record_format(const struct state *s, char *buf, size_t size)
{
	int len = snprintf(buf, size, "%s%c%d%c%llu%c%s%c%u%c%s%c%s%c%s%c%s%c", MAGIC, 0,
			   (int)s->pid, 0, s->start, 0, s->boot, 0, s->flags, 0, s->image, 0,
			   s->home, 0, s->out, 0, s->err, 0);

	return len < 0 || (size_t)len >= size ? -1 : len;
}

/* The record `name` in `dir`: 1 read, 0 absent, -1 unreadable (not ours). */
int record_read(int dir, const char *name, struct state *s)
{
	static char buf[STATE_MAX];
	struct stat st;
	ssize_t n;
	int fd = priv_state_open(dir, name, O_RDONLY | O_NONBLOCK);

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 07777) != 0600 || st.st_nlink != 1) {
		close(fd);
		return -1;
	}
	n = fd_slurp(fd, buf, sizeof buf);
	snprintf(s->name, sizeof s->name, "%s", name);
	s->proc = -1;
	return n < 0 || record_parse(buf, (size_t)n, s) ? -1 : 1;
}

/*
 * INSTANCE_DIR/UID, made if missing, opened for reading and locked:
 * every reader and writer of the caller's records holds the lock. Found
 * once: instance start's vial shares its mount namespace with the init,
 * whose pivot_root moves its root into the container.
 */
static int records_dir = -1;	/* O_PATH */

int records_fd(void)
{
	return records_dir;
}

int records_lock(void)
{
	char p[PATH_MAX];
	int fd;

	if (records_dir < 0) {
		close(protect_dir_make(policy.instance_dir, "INSTANCE_DIR", 0700));
		if (snprintf(p, sizeof p, "%s/%u", policy.instance_dir,
			     (unsigned)priv_user()->uid) >= (int)sizeof p)
			die("%s (INSTANCE_DIR): too long", policy.instance_dir);
		records_dir = protect_dir_make(p, "INSTANCE_DIR", 0700);
	}
	fd = priv_state_open(records_dir, ".", O_RDONLY | O_DIRECTORY);
	if (fd < 0 || flock(fd, LOCK_EX))
		die_errno("%s (INSTANCE_DIR)", policy.instance_dir);
	return fd;
}

/* The caller's live instance `name` (1), or none (0): a stale record goes. */
int record_get(int dir, const char *name, struct state *s)
{
	int rc = record_read(dir, name, s);

	if (rc == 1 && verify(s))
		return 1;
	if (rc && priv_state_unlink(dir, name) && errno != ENOENT)
		die_errno("instance %s: remove its stale record", name);
	if (rc)
		debug("instance %s: its init is gone; its record removed", name);
	return 0;
}

/* Remove the record of `s` if it still names that process (a later
 * instance of the same name has its own). */
void record_forget(const struct state *s)
{
	struct state *now = xcalloc(1, sizeof *now);
	int dir = records_lock();

	if (record_read(dir, s->name, now) == 1 && now->pid == s->pid && now->start == s->start &&
	    priv_state_unlink(dir, s->name))
		die_errno("instance %s: remove its record", s->name);
	close(dir);
	free(now);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct state *)a)->name, ((const struct state *)b)->name);
}

/* The caller's live instances that `pattern` matches (NULL: all), by name. */
static size_t collect(const char *pattern, struct state **out)
{
	struct state *v = NULL;
	int dir = records_lock(), scan = dup(dir);
	DIR *d = scan < 0 ? NULL : fdopendir(scan);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		die_errno("%s", policy.instance_dir);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, "..")))
			continue;
		if (strlen(e->d_name) > NAME_LEN || strspn(e->d_name, NAME_CHARS) !=
		    strlen(e->d_name) || (pattern && fnmatch(pattern, e->d_name, 0)))
			continue;
		/* room for one more, counted only if it is a live instance */
		v = xrealloc(v, (n + 1) * sizeof *v);
		n += record_get(dir, e->d_name, &v[n]);
	}
	closedir(d);
	close(dir);
	if (n)
		qsort(v, n, sizeof *v, by_name);
	*out = v;
	return n;
}

/* --- instance list ---------------------------------------------------------- */

/* The length of the UTF-8 sequence at `p`, its code point in *cp; 0 if it
 * is none, as Go's utf8 has it (no overlong form, no surrogate, nothing
 * past U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, unsigned *cp)
{
	static const unsigned least[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 :
		     (p[0] & 0xf8) == 0xf0 ? 4 : 0;
	unsigned c = len == 1 ? p[0] : p[0] & (0x7fu >> len);

	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)	/* the NUL at the end too */
			return 0;
		c = c << 6 | (p[i] & 0x3fu);
	}
	if (!len || c < least[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* A JSON string as Go's encoding/json writes it (Apptainer's --json):
 * <, >, &, U+2028 and U+2029 escaped too; each byte that starts no UTF-8
 * sequence becomes U+FFFD. */
static void json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned c;
	size_t len;

	putchar('"');
	for (; *p; p += len) {
		if (!(len = utf8_seq(p, &c))) {
			fputs("\\ufffd", stdout);
			len = 1;
		} else if (c == '"' || c == '\\') {
			printf("\\%c", (int)c);
		} else if (c == '\n' || c == '\r' || c == '\t') {
			printf("\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		} else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x2028 ||
			   c == 0x2029) {
			printf("\\u%04x", c);
		} else {
			fwrite(p, 1, len, stdout);
		}
	}
	putchar('"');
}

static void list_json(struct state *v, size_t n)
{
	printf("{\n\t\"instances\": [");
	for (size_t i = 0; i < n; i++) {
		printf("%s\n\t\t{\n\t\t\t\"instance\": ", i ? "," : "");
		json_string(v[i].name);
		printf(",\n\t\t\t\"pid\": %d,\n\t\t\t\"img\": ", (int)v[i].pid);
		json_string(v[i].image);
		printf(",\n\t\t\t\"ip\": \"\",\n\t\t\t\"logErrPath\": ");
		json_string(v[i].err);
		printf(",\n\t\t\t\"logOutPath\": ");
		json_string(v[i].out);
		printf("\n\t\t}");
	}
	printf("%s]\n}\n", n ? "\n\t" : "");
}

/* Apptainer's table: Go's tabwriter, cells padded by 4 past the widest. */
static void list_text(struct state *v, size_t n, int logs)
{
	int w0 = 13, w1 = 3, w;
	char pid[16];

	for (size_t i = 0; i < n; i++) {
		w = (int)strlen(v[i].name);
		w0 = w > w0 ? w : w0;
		w = snprintf(pid, sizeof pid, "%d", (int)v[i].pid);
		w1 = w > w1 ? w : w1;
	}
	w0 += 4, w1 += 4;
	if (logs)
		printf("%-*s%-*s%s\n", w0, "INSTANCE NAME", w1, "PID", "LOGS");
	else
		printf("%-*s%-*s%-6s%s\n", w0, "INSTANCE NAME", w1, "PID", "IP", "IMAGE");
	for (size_t i = 0; i < n; i++) {
		if (logs)
			printf("%-*s%-*d%s\n%*s%s\n", w0, v[i].name, w1, (int)v[i].pid,
			       v[i].err, w0 + w1, "", v[i].out);
		else
			printf("%-*s%-*d%-6s%s\n", w0, v[i].name, w1, (int)v[i].pid, "",
			       v[i].image);
	}
}

_Noreturn void instance_list(const struct launch *l)
{
	struct state *v;
	size_t n;

	if (l->argv[0])
		die("instance list: one name at most (vial instance list [NAME])");
	if (l->inst.json && l->inst.logs)
		die("instance list: --json or --logs, not both");
	if (l->inst.name)
		check_name(l->inst.name, 1);
	n = collect(l->inst.name, &v);
	if (l->inst.json)
		list_json(v, n);
	else
		list_text(v, n, l->inst.logs);
	if (fflush(stdout))
		die_errno("write");
	exit(0);
}

/* --- instance stop ------------------------------------------------------------ */

static const struct { const char *name; int sig; } signals[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "BUS", SIGBUS }, { "FPE", SIGFPE },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "CHLD", SIGCHLD },
	{ "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
	{ "TTOU", SIGTTOU }, { "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
	{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
	{ "PWR", SIGPWR }, { "SYS", SIGSYS },
};

static const char *sig_name(int sig)
{
	static char buf[16];

	for (size_t i = 0; i < LEN(signals); i++)
		if (signals[i].sig == sig) {
			snprintf(buf, sizeof buf, "SIG%s", signals[i].name);
			return buf;
		}
	snprintf(buf, sizeof buf, "signal %d", sig);
	return buf;
}

/* -s TERM, SIGTERM, sigterm or 15, as Apptainer takes it. */
static int sig_parse(const char *s)
{
	const char *n = strncasecmp(s, "SIG", 3) ? s : s + 3;
	unsigned long long v;

	if (!number(s, (unsigned long long)SIGRTMAX, &v) && v)
		return (int)v;
	for (size_t i = 0; i < LEN(signals); i++)
		if (!strcasecmp(n, signals[i].name))
			return signals[i].sig;
	die("instance stop: --signal %s: not a signal (TERM, SIGKILL, 9, ...)", s);
}

/*
 * As the caller, through the checked /proc/PID descriptor: never a later
 * holder of the pid. Before Linux 5.1 (ENOSYS) kill(2), just after
 * checking the process is still there: the pid could then be reused in
 * between only by another process of the caller's (their signal to
 * send; vial adds no right). A process already gone is no error.
 */
static void sig_send(const struct state *s, int sig)
{
	int rc = (int)syscall(SYS_pidfd_send_signal, s->proc, sig, NULL, 0);

	if (rc && errno == ENOSYS)
		rc = proc_gone(s->proc) ? 0 : kill(s->pid, sig);
	if (rc && errno != ESRCH)
		die_errno("instance %s: send %s", s->name, sig_name(sig));
}

static double now(void)
{
	struct timespec t;

	if (clock_gettime(CLOCK_MONOTONIC, &t))
		die_errno("clock_gettime");
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Wait until every init in v is gone, or `secs` have passed. */
static void wait_gone(struct state *v, size_t n, double secs)
{
	const struct timespec tick = { 0, 20 * 1000 * 1000 };
	double end = now() + secs;
	size_t left;

	do {
		left = 0;
		for (size_t i = 0; i < n; i++)
			left += !proc_gone(v[i].proc);
		if (left)
			nanosleep(&tick, NULL);
	} while (left && now() < end);
}

_Noreturn void instance_stop(const struct launch *l)
{
	int sig = l->inst.force ? SIGKILL : sig_parse(l->inst.signal ? l->inst.signal : "TERM");
	unsigned long long t = DEFAULT_TIMEOUT;
	const char *name = l->inst.name;
	struct state *v;
	size_t n;
	int rc = 0;

	if (l->argv[0] || (!name == !l->inst.all))
		die("instance stop: one name or --all (vial instance stop [options] NAME|--all)");
	if (l->inst.timeout && number(l->inst.timeout, 86400, &t))
		die("instance stop: --timeout %s: not a number of seconds", l->inst.timeout);
	if (name)
		check_name(name, 1);
	n = collect(name, &v);
	if (!n)
		die("instance %s: no such instance (vial instance list)", name ? name : "stop");
	for (size_t i = 0; i < n; i++)
		sig_send(&v[i], sig);
	wait_gone(v, n, sig == SIGKILL ? KILL_WAIT : (double)t);
	for (size_t i = 0; i < n; i++) {
		const struct state *s = &v[i];
		if (proc_gone(s->proc)) {
			inform("instance %s (PID %d) stopped by %s", s->name, (int)s->pid,
			     sig_name(sig));
			record_forget(s);
			continue;
		}
		sig_send(s, SIGKILL);
		wait_gone(v + i, 1, KILL_WAIT);
		if (!proc_gone(s->proc)) {
			dprintf(2, "vial: instance %s (PID %d): still there after SIGKILL\n",
				s->name, (int)s->pid);
			rc = 255;
			continue;
		}
		inform("instance %s (PID %d) did not stop within %llu s of %s: killed by SIGKILL",
		     s->name, (int)s->pid, t, sig_name(sig));
		record_forget(s);
	}
	exit(rc);
}
