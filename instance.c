/*
 * Instances, as Apptainer 1.1's. `vial instance start [options] IMAGE
 * NAME [ARG...]` builds a container as exec does, in a PID namespace of
 * its own whose PID 1, vial's instance init (the caller's, with no
 * privilege, not dumpable), runs the image's /.singularity.d/startscript
 * with the arguments (or nothing), detached, its output appended to
 * ~/.vial/instances/logs/HOST/USER/NAME.{out,err} (made as the caller),
 * until `vial instance stop`. `vial exec|run|shell instance://NAME ...`
 * runs a command inside it.
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
 * - Joining: the init's namespace files, opened as root through that same
 *   descriptor (the init is not dumpable: the caller may not open them),
 *   then one setns per namespace as root, then the usual permanent drop
 *   and its proof, before the command.
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
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vial.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424	/* Linux 5.1, the same number everywhere */
#endif

#define STARTSCRIPT "/.singularity.d/startscript"
#define MAGIC "vial-instance 1"
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
#define NAME_LEN 128		/* a file name, with room to spare */
#define DEFAULT_TIMEOUT 10	/* instance stop -t: Apptainer's default */
#define KILL_WAIT 5		/* seconds SIGKILL may take */

/* F_STARTING: until the instance is up (its container built, its
 * startscript exec'd), no one joins it: its mount namespace still has
 * the host's root. */
enum { F_PROTECTED = 1, F_NV = 2, F_ROCM = 4, F_STARTING = 8 };

/*
 * A record, as written: NUL-separated fields (no path holds a NUL, so no
 * field can forge another): MAGIC, pid, start time, boot id, flags,
 * image, home inside, the two logs.
 */
struct state {
	char name[NAME_LEN + 1];
	pid_t pid;
	unsigned long long start;	/* /proc/PID/stat field 22 */
	char boot[40];			/* /proc/sys/kernel/random/boot_id */
	unsigned flags;			/* F_* */
	char image[PATH_MAX], home[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
	int proc;			/* /proc/PID, open and checked; or -1 */
};
enum { NFIELDS = 9, STATE_MAX = 4 * PATH_MAX + 256 };

/* What /proc/PID/stat says. */
struct pstat {
	char comm[32];
	char state;
	pid_t ppid;
	unsigned long long start;
};

/* instance start's, in the caller's process and the init */
static int log_out = -1, log_err = -1, devnull = -1;
static char out_path[PATH_MAX], err_path[PATH_MAX];
static int anchor = -1;		/* /proc/PID of the Slurm step's slurmstepd, or -1 */
/* a join's namespaces, opened from the checked init */
static const struct { const char *file; int type; } nss[] = {
	{ "ns/ipc", CLONE_NEWIPC }, { "ns/uts", CLONE_NEWUTS }, { "ns/net", CLONE_NEWNET },
	{ "ns/pid", CLONE_NEWPID }, { "ns/mnt", CLONE_NEWNS },
};
static int ns_fd[LEN(nss)];

static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void info(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	dprintf(2, "vial: %s\n", buf);
}

/* Apptainer's names: [a-zA-Z0-9._-]+; with `pattern` also fnmatch's *?[]! */
static void check_name(const char *s, int pattern)
{
	size_t n = strlen(s);
	size_t ok = strspn(s, NAME_CHARS);

	if (pattern)
		while (s[ok] && strchr("*?[]!", s[ok]))
			ok += 1 + strspn(s + ok + 1, NAME_CHARS);
	if (!n || n > NAME_LEN || ok != n || !strcmp(s, ".") || !strcmp(s, ".."))
		die("instance %s: not a valid instance name (letters, digits, '.', '_' and '-')",
		    s);
}

/* --- reading /proc and records ---------------------------------------------- */

/* All of `fd` (closed) into buf, NUL-terminated: its length, or -1. */
static ssize_t slurp(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r = 0;

	if (fd < 0)
		return -1;
	while (n < size - 1 && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (r < 0 || n == size - 1)
		return -1;
	buf[n] = 0;
	return (ssize_t)n;
}

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
static int proc_open(pid_t pid)
{
	char p[32];

	snprintf(p, sizeof p, "/proc/%d", (int)pid);
	return priv_proc_open(AT_FDCWD, p, O_DIRECTORY);
}

/* stat of the process behind `proc`, read as root or as the caller. */
static int proc_stat(int proc, int root, struct pstat *p)
{
	char buf[1024];
	int fd = root ? priv_proc_open(proc, "stat", 0) : openat(proc, "stat", O_RDONLY | O_CLOEXEC);

	return slurp(fd, buf, sizeof buf) < 0 ? -1 : stat_parse(buf, p);
}

/* Is the process the caller's (real uid), the init of a PID namespace
 * below ours (NSpid: its pid here, then 1 there)? */
static int proc_owned_init(int proc)
{
	char buf[4096], *uid, *ns, *last;
	unsigned long u;

	if (slurp(priv_proc_open(proc, "status", 0), buf, sizeof buf) < 0 ||
	    !(uid = strstr(buf, "\nUid:\t")) || !(ns = strstr(buf, "\nNSpid:\t")))
		return 0;
	u = strtoul(uid + 6, NULL, 10);
	ns += 8;
	ns[strcspn(ns, "\n")] = 0;
	last = strrchr(ns, '\t');
	return u == priv_user()->uid && last && !strcmp(last, "\t1");
}

static const char *boot_id(void)
{
	static char id[40];

	if (!id[0] && slurp(open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC),
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
static int record_format(const struct state *s, char *buf, size_t size)
{
	int len = snprintf(buf, size, "%s%c%d%c%llu%c%s%c%u%c%s%c%s%c%s%c%s%c", MAGIC, 0,
			   (int)s->pid, 0, s->start, 0, s->boot, 0, s->flags, 0, s->image, 0,
			   s->home, 0, s->out, 0, s->err, 0);

	return len < 0 || (size_t)len >= size ? -1 : len;
}

/* The record `name` in `dir`: 1 read, 0 absent, -1 unreadable (not ours). */
static int record_read(int dir, const char *name, struct state *s)
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
	n = slurp(fd, buf, sizeof buf);
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

static int records_lock(void)
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
static int record_get(int dir, const char *name, struct state *s)
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
static void record_forget(const struct state *s)
{
	struct state *now = calloc(1, sizeof *now);
	int dir = records_lock();

	if (!now)
		die("out of memory");
	if (record_read(dir, s->name, now) == 1 && now->pid == s->pid && now->start == s->start &&
	    priv_state_unlink(dir, s->name))
		die_errno("instance %s: remove its record", s->name);
	close(dir);
	free(now);
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(struct state *const *)a)->name, (*(struct state *const *)b)->name);
}

/* The caller's live instances that `pattern` matches (NULL: all), by name. */
static size_t collect(const char *pattern, struct state ***out)
{
	struct state **v = NULL, **more, *s = NULL;
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
		if (!s && !(s = calloc(1, sizeof *s)))
			die("out of memory");
		if (!record_get(dir, e->d_name, s))
			continue;
		if (!(more = realloc(v, (n + 1) * sizeof *v)))
			die("out of memory");
		v = more;
		v[n++] = s;
		s = NULL;
	}
	closedir(d);
	close(dir);
	free(s);
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

static void list_json(struct state **v, size_t n)
{
	printf("{\n\t\"instances\": [");
	for (size_t i = 0; i < n; i++) {
		printf("%s\n\t\t{\n\t\t\t\"instance\": ", i ? "," : "");
		json_string(v[i]->name);
		printf(",\n\t\t\t\"pid\": %d,\n\t\t\t\"img\": ", (int)v[i]->pid);
		json_string(v[i]->image);
		printf(",\n\t\t\t\"ip\": \"\",\n\t\t\t\"logErrPath\": ");
		json_string(v[i]->err);
		printf(",\n\t\t\t\"logOutPath\": ");
		json_string(v[i]->out);
		printf("\n\t\t}");
	}
	printf("%s]\n}\n", n ? "\n\t" : "");
}

/* Apptainer's table: Go's tabwriter, cells padded by 4 past the widest. */
static void list_text(struct state **v, size_t n, int logs)
{
	int w0 = 13, w1 = 3, w;
	char pid[16];

	for (size_t i = 0; i < n; i++) {
		w = (int)strlen(v[i]->name);
		w0 = w > w0 ? w : w0;
		w = snprintf(pid, sizeof pid, "%d", (int)v[i]->pid);
		w1 = w > w1 ? w : w1;
	}
	w0 += 4, w1 += 4;
	if (logs)
		printf("%-*s%-*s%s\n", w0, "INSTANCE NAME", w1, "PID", "LOGS");
	else
		printf("%-*s%-*s%-6s%s\n", w0, "INSTANCE NAME", w1, "PID", "IP", "IMAGE");
	for (size_t i = 0; i < n; i++) {
		if (logs)
			printf("%-*s%-*d%s\n%*s%s\n", w0, v[i]->name, w1, (int)v[i]->pid,
			       v[i]->err, w0 + w1, "", v[i]->out);
		else
			printf("%-*s%-*d%-6s%s\n", w0, v[i]->name, w1, (int)v[i]->pid, "",
			       v[i]->image);
	}
}

static _Noreturn void list(const struct launch *l)
{
	struct state **v;
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
 * send; vial adds no right).
 */
static int sig_send(const struct state *s, int sig)
{
	if (syscall(SYS_pidfd_send_signal, s->proc, sig, NULL, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	if (proc_gone(s->proc)) {
		errno = ESRCH;
		return -1;
	}
	return kill(s->pid, sig);
}

static double now(void)
{
	struct timespec t;

	if (clock_gettime(CLOCK_MONOTONIC, &t))
		die_errno("clock_gettime");
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Wait until every init in v is gone, or `secs` have passed. */
static void wait_gone(struct state **v, size_t n, double secs)
{
	const struct timespec tick = { 0, 20 * 1000 * 1000 };
	double end = now() + secs;
	size_t left;

	do {
		left = 0;
		for (size_t i = 0; i < n; i++)
			left += !proc_gone(v[i]->proc);
		if (left)
			nanosleep(&tick, NULL);
	} while (left && now() < end);
}

static _Noreturn void stop(const struct launch *l)
{
	int sig = l->inst.force ? SIGKILL : sig_parse(l->inst.signal ? l->inst.signal : "TERM");
	unsigned long long t = DEFAULT_TIMEOUT;
	const char *name = l->inst.name;
	struct state **v;
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
		if (sig_send(v[i], sig) && errno != ESRCH)
			die_errno("instance %s: send %s", v[i]->name, sig_name(sig));
	wait_gone(v, n, sig == SIGKILL ? KILL_WAIT : (double)t);
	for (size_t i = 0; i < n; i++) {
		const struct state *s = v[i];
		if (proc_gone(s->proc)) {
			info("instance %s (PID %d) stopped by %s", s->name, (int)s->pid,
			     sig_name(sig));
			record_forget(s);
			continue;
		}
		if (sig_send(s, SIGKILL) && errno != ESRCH)
			die_errno("instance %s: send SIGKILL", s->name);
		wait_gone(v + i, 1, KILL_WAIT);
		if (!proc_gone(s->proc)) {
			dprintf(2, "vial: instance %s (PID %d): still there after SIGKILL\n",
				s->name, (int)s->pid);
			rc = 255;
			continue;
		}
		info("instance %s (PID %d) did not stop within %llu s of %s: killed by SIGKILL",
		     s->name, (int)s->pid, t, sig_name(sig));
		record_forget(s);
	}
	exit(rc);
}

/* --- instance start ---------------------------------------------------------- */

/* DIR/name as the caller (vial's fsuid is theirs), made if missing. */
static int user_subdir(int dir, const char *name)
{
	int fd;

	if (mkdirat(dir, name, 0700) && errno != EEXIST)
		return -1;
	fd = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(dir);
	return fd;
}

/* ~/.vial/instances/logs/HOST/USER/NAME.out and .err, opened (appended to,
 * as Apptainer's are) with the caller's own rights, never root's. */
static void logs_open(const char *name)
{
	const struct user *u = priv_user();
	struct utsname un;
	char *host = un.nodename, file[NAME_LEN + 8];
	const char *sub[] = { ".vial", "instances", "logs", host, u->name };
	int dir = open(u->home, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (uname(&un) || !un.nodename[0] || !strcmp(host, ".") || !strcmp(host, ".."))
		snprintf(un.nodename, sizeof un.nodename, "localhost");
	for (char *c = host; *c; c++)
		*c = *c == '/' ? '_' : *c;
	for (size_t i = 0; i < LEN(sub) && dir >= 0; i++)
		dir = user_subdir(dir, sub[i]);
	if (snprintf(out_path, sizeof out_path, "%s/.vial/instances/logs/%s/%s/%s.out", u->home,
		     host, u->name, name) >= (int)sizeof out_path)
		die("instance %s: the path of its log is too long", name);
	snprintf(err_path, sizeof err_path, "%.*s.err", (int)strlen(out_path) - 4, out_path);
	if (dir < 0)
		die_errno("instance %s: cannot make its log directory %.*s", name,
			  (int)(strrchr(out_path, '/') - out_path), out_path);
	for (int i = 0; i < 2; i++) {
		int *fd = i ? &log_err : &log_out;
		snprintf(file, sizeof file, "%s.%s", name, i ? "err" : "out");
		*fd = openat(dir, file, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NOCTTY |
			     O_CLOEXEC, 0600);
		if (*fd < 0)
			die_errno("instance %s: its log %s", name, i ? err_path : out_path);
	}
	close(dir);
}

/*
 * A Slurm job step's processes end with the step: proctrack/cgroup kills
 * its cgroup, and the instance's processes stay in it (vial moves no
 * process between cgroups). proctrack/linuxproc and /pgid follow parent
 * pids or process groups, which a detached instance leaves: so its init
 * also watches the step's slurmstepd (the nearest ancestor of that name,
 * read as the caller) and ends the instance when it is gone.
 */
static void anchor_find(void)
{
	struct pstat p;
	pid_t pid = getppid();
	char path[32];
	int fd;

	for (int hops = 0; pid > 1 && hops < 64; hops++) {
		snprintf(path, sizeof path, "/proc/%d", (int)pid);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || proc_stat(fd, 0, &p)) {
			if (fd >= 0)
				close(fd);
			return;
		}
		if (!strcmp(p.comm, "slurmstepd")) {
			anchor = fd;
			debug("instance: it ends with this Slurm job step (slurmstepd, PID %d)",
			      (int)pid);
			return;
		}
		close(fd);
		pid = p.ppid;
	}
}

/* Is the Slurm step gone? (Only a gone process counts, not a refusal.) */
static int anchor_gone(void)
{
	struct pstat p;
	char buf[1024];
	int fd = openat(anchor, "stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == ESRCH;
	if (slurp(fd, buf, sizeof buf) < 0)
		return errno == ESRCH;
	return !stat_parse(buf, &p) && (p.state == 'Z' || p.state == 'X');
}

/* instance start IMAGE NAME [ARG...]: checked before anything is mounted. */
static void start_prepare(struct launch *l)
{
	struct state *s = calloc(1, sizeof *s);
	int dir, found;

	if (!s)
		die("out of memory");
	if (!l->img.path || !l->argv[0])
		die("instance start: no %s given (vial instance start [options] IMAGE NAME "
		    "[ARG...])", l->img.path ? "name" : "image");
	l->inst.name = l->argv[0];
	check_name(l->inst.name, 0);
	dir = records_lock();
	found = record_get(dir, l->inst.name, s);
	close(dir);
	if (found)
		die("instance %s already exists (PID %d)", l->inst.name, (int)s->pid);
	free(s);
	l->argv[0] = STARTSCRIPT;	/* with its arguments, as Apptainer runs it */
	l->pid = 1;
	l->inst.start = 1;
}

/* The record of the instance whose init is `pid`: written before the init
 * may do anything, so no instance ever runs that no record names. */
static void record_write(const struct launch *l, pid_t pid, struct state *s)
{
	static char buf[STATE_MAX];
	struct pstat p;
	int dir, fd, len, proc = proc_open(pid);
	char cwd[PATH_MAX];

	if (proc < 0 || proc_stat(proc, 1, &p))
		die_errno("instance %s: its init", l->inst.name);
	close(proc);
	snprintf(s->name, sizeof s->name, "%s", l->inst.name);
	s->pid = pid;
	s->start = p.start;
	s->flags = (l->img.protected ? F_PROTECTED : 0) | (l->nv ? F_NV : 0) |
		   (l->rocm ? F_ROCM : 0) | F_STARTING;
	if (l->img.path[0] == '/' || !getcwd(cwd, sizeof cwd))
		len = snprintf(s->image, sizeof s->image, "%s", l->img.path);
	else
		len = snprintf(s->image, sizeof s->image, "%s/%s", cwd, l->img.path);
	if (len < 0 || len >= (int)sizeof s->image || s->image[0] != '/')
		die("instance %s: %s: the image's path is too long", l->inst.name, l->img.path);
	snprintf(s->home, sizeof s->home, "%s", l->home_src ? l->home_dst : priv_user()->home);
	snprintf(s->boot, sizeof s->boot, "%s", boot_id());
	snprintf(s->out, sizeof s->out, "%s", out_path);
	snprintf(s->err, sizeof s->err, "%s", err_path);
	len = record_format(s, buf, sizeof buf);
	if (len < 0)
		die("instance %s: its record is too long", l->inst.name);
	dir = records_lock();
	fd = priv_state_open(dir, l->inst.name, O_WRONLY | O_CREAT | O_EXCL);
	if (fd < 0 && errno == EEXIST)	/* started meanwhile by another vial */
		die("instance %s already exists", l->inst.name);
	if (fd < 0 || write(fd, buf, (size_t)len) != len || close(fd))
		die_errno("instance %s: write its record in %s", l->inst.name,
			  policy.instance_dir);
	close(dir);
}

/* What `fd` says until EOF (or an error, or `size` bytes): its length. */
static size_t read_to_eof(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n < size && (r = read(fd, buf + n, size - n)) != 0) {
		if (r > 0)
			n += (size_t)r;
		else if (errno != EINTR)
			break;
	}
	return n;
}

/* The instance is up: its record, if still its own, loses F_STARTING. */
static int record_up(struct state *s)
{
	static char buf[STATE_MAX];
	struct state *now = calloc(1, sizeof *now);
	int dir = records_lock(), fd = -1, len, rc = -1;

	if (!now)
		die("out of memory");
	s->flags &= ~(unsigned)F_STARTING;
	len = record_format(s, buf, sizeof buf);
	if (len > 0 && record_read(dir, s->name, now) == 1 && now->pid == s->pid &&
	    now->start == s->start && (fd = priv_state_open(dir, s->name, O_WRONLY | O_TRUNC)) >= 0)
		rc = write(fd, buf, (size_t)len) == len ? 0 : -1;
	if (fd >= 0 && close(fd))
		rc = -1;
	close(dir);
	free(now);
	return rc;
}

/*
 * The caller's vial, once the init is forked: write the record, let the
 * init go, and wait for it on the socket: "D" once its output goes to
 * the logs, then "1" as the startscript is exec'd (or the init, without
 * one, settles), then EOF from the exec. Anything else: the instance is
 * killed, its record removed, and the caller told why, in one line.
 */
static _Noreturn void starting(const struct launch *l, pid_t pid, int sock)
{
	struct state *s = calloc(1, sizeof *s);
	char buf[8];
	size_t n = 0;
	int status = 0;

	if (!s)
		die("out of memory");
	record_write(l, pid, s);
	if (send(sock, "S", 1, MSG_NOSIGNAL) == 1)
		n = read_to_eof(sock, buf, sizeof buf);
	if (n == 2 && !memcmp(buf, "D1", 2) && !record_up(s)) {
		info("instance %s started (PID %d)", l->inst.name, (int)pid);
		exit(0);
	}
	kill(pid, SIGKILL);	/* our child, not yet reaped: the pid is its own */
	waitpid(pid, &status, 0);
	record_forget(s);
	if (n == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 255)
		_exit(255);	/* it said why, on the caller's stderr */
	if (n == 0)
		die("instance %s: its init died while setting up", l->inst.name);
	die("instance %s did not start: see %s", l->inst.name, err_path);
}

/*
 * After ns_isolate: fork the instance's init (PID 1 of the new PID
 * namespace). Returns in the init, once its record is written; the
 * caller's vial never returns (starting). `l->linger_go` becomes the
 * socket that tells the caller's vial how the start went.
 */
void instance_fork(struct launch *l)
{
	int sv[2];
	pid_t pid;
	char c;

	/* Made only now that the image opened: a refused start leaves none. */
	logs_open(l->inst.name);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		die_errno("open /dev/null");
	anchor_find();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		die_errno("socketpair");
	pid = fork();
	if (pid < 0)
		die_errno("fork into the PID namespace");
	if (pid == 0) {
		close(sv[0]);
		if (read(sv[1], &c, 1) != 1)
			_exit(255);	/* no record: no instance */
		l->linger_go = sv[1];
		return;
	}
	close(sv[1]);
	/* the image, the loop device, the logs: the init's, not ours */
	fd_close_all(1, sv[0], records_dir, -1);
	starting(l, pid, sv[0]);
}

/*
 * The init, its container built: detached from the caller (a session of
 * its own; 0 from /dev/null, 1 and 2 to the logs), holding no other fd
 * but its socket and its Slurm step's /proc entry: none of the caller's
 * (a pipe held open would keep `$(vial instance start ...)` or srun
 * waiting for ever).
 */
void instance_detach(struct launch *l)
{
	if (dup2(devnull, 0) < 0 || dup2(log_out, 1) < 0 || dup2(log_err, 2) < 0)
		die_errno("instance %s: its logs", l->inst.name);
	if (setsid() < 0)
		die_errno("setsid");
	fd_close_all(0, l->linger_go, anchor, -1);
	if (send(l->linger_go, "D", 1, MSG_NOSIGNAL) != 1)
		_exit(255);
}

/* Signals that stop an instance: all but those that cannot end a process. */
static int ends(int sig)
{
	return sig != SIGCHLD && sig != SIGCONT && sig != SIGTSTP && sig != SIGTTIN &&
	       sig != SIGTTOU && sig != SIGURG && sig != SIGWINCH;
}

/*
 * The instance's PID 1, privileges dropped: start the startscript (if the
 * image has one), then reap every orphan and pass every signal to every
 * process of the instance. The instance stays up when the startscript
 * exits, as Apptainer's does; after a signal that ends processes (from
 * instance stop) it exits once its children are gone, and the kernel
 * kills what remains (joined commands). With a Slurm step (anchor_find),
 * it exits when the step is gone. Returns only in the startscript's
 * process.
 */
void instance_init(struct launch *l)
{
	struct signalfd_siginfo si;
	struct pollfd p = { .events = POLLIN };
	sigset_t all, old;
	int stopping = 0, status;
	pid_t w;

	sigfillset(&all);
	if (sigprocmask(SIG_BLOCK, &all, &old) || (p.fd = signalfd(-1, &all, SFD_CLOEXEC)) < 0)
		die_errno("instance %s: its signals", l->inst.name);
	if (access(STARTSCRIPT, F_OK) == 0) {
		if ((w = fork()) < 0)
			die_errno("instance %s: fork its startscript", l->inst.name);
		if (w == 0) {
			close(p.fd);
			if (anchor >= 0)
				close(anchor);
			if (sigprocmask(SIG_SETMASK, &old, NULL))
				die_errno("sigprocmask");
			return;
		}
	} else {
		linger_launched(l->linger_go, 1);
	}
	close(l->linger_go);
	l->linger_go = -1;
	for (;;) {
		int n = poll(&p, 1, anchor >= 0 ? 1000 : -1);
		if (anchor >= 0 && anchor_gone())
			_exit(0);	/* the kernel kills the rest of the namespace */
		if (n <= 0 || read(p.fd, &si, sizeof si) != sizeof si)
			continue;
		if (si.ssi_signo != SIGCHLD) {
			kill(-1, (int)si.ssi_signo);	/* every process here but us */
			stopping |= ends((int)si.ssi_signo);
		}
		while ((w = waitpid(-1, &status, WNOHANG)) > 0)
			;
		if (stopping && w < 0 && errno == ECHILD)
			_exit(0);
	}
}

/* --- instance://NAME --------------------------------------------------------- */

static const char *joined;	/* the instance's name, for messages */

/* One of the instance's namespaces, joined as root through its checked fd. */
static void join(int type)
{
	for (size_t i = 0; i < LEN(nss); i++) {
		if (nss[i].type != type)
			continue;
		if (priv_setns(ns_fd[i], type))
			die_errno("instance %s: join its namespace (%s)", joined, nss[i].file);
		close(ns_fd[i]);
		ns_fd[i] = -1;
	}
}

/*
 * exec|run|shell instance://NAME: the caller's instance, checked, its
 * namespaces opened from its checked init, and its PID namespace joined
 * (for the children: init_fork's comes next). The command then runs with
 * what the instance was started with: its image (for the environment and
 * the audit line of a protected one), home, --nv, --rocm.
 */
void instance_join(struct launch *l)
{
	struct state *s = calloc(1, sizeof *s);
	const char *name = l->img.path + strlen(INSTANCE_URI);
	int dir, found;

	if (!s)
		die("out of memory");
	if (!strcmp(l->verb, "inspect"))
		die("inspect: %s: not an image (vial instance list)", l->img.path);
	check_name(name, 0);
	dir = records_lock();
	found = record_get(dir, name, s);
	close(dir);
	if (!found)
		die("instance %s: no such instance (vial instance list)", name);
	if (s->flags & F_STARTING)
		die("instance %s: not up yet (vial instance list)", name);
	for (size_t i = 0; i < LEN(nss); i++)
		if ((ns_fd[i] = priv_proc_open(s->proc, nss[i].file, 0)) < 0)
			die_errno("instance %s: open its %s", name, nss[i].file);
	close(s->proc);
	l->img.path = strdup(s->image);
	l->home_src = l->home_dst = strdup(s->home);
	if (!l->img.path || !l->home_src)
		die("out of memory");
	l->img.protected = !!(s->flags & F_PROTECTED);
	l->nv |= !!(s->flags & F_NV);
	l->rocm |= !!(s->flags & F_ROCM);
	l->inst.name = joined = name;
	free(s);
	join(CLONE_NEWPID);
}

/* In init_fork's child, in the instance's PID namespace: the others, the
 * mount namespace last (its root and cwd become the container's). */
void instance_enter(void)
{
	join(CLONE_NEWIPC);
	join(CLONE_NEWUTS);
	join(CLONE_NEWNET);
	join(CLONE_NEWNS);
}

/*
 * The joined command's process, after the permanent drop: it dies with
 * the vial that waits for it, as a --pid container does (set after the
 * drop, which clears it), and starts where exec would: --pwd, else the
 * caller's working directory, else the instance's home, else /, as the
 * caller.
 */
void instance_joined(const struct launch *l)
{
	struct pollfd p = { .fd = init_pipe(), .events = POLLIN };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
		die_errno("prctl(PR_SET_PDEATHSIG)");
	if (poll(&p, 1, 0) != 0)
		_exit(255);	/* the waiting vial died before we could notice */
	close(p.fd);
	bind_chdir(l, l->home_dst);
}

/* vial instance start|list|stop: list and stop end here; start returns
 * with the launch described (main.c's launch builds the instance). */
void instance_command(struct launch *l)
{
	const char *op = l->inst.op;

	if (!op)
		die("instance: start, list or stop? (see vial help)");
	if (!strcmp(op, "start")) {
		start_prepare(l);
		return;
	}
	if (strcmp(op, "list") && strcmp(op, "stop"))
		die("instance %s: unknown (start, list or stop)", op);
	/* the first word after the options: the name */
	l->inst.name = l->img.path;
	l->img.path = NULL;
	if (!strcmp(op, "list"))
		list(l);
	stop(l);
}
