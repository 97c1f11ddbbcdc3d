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
 * Root's part (record.c says why it is safe): the record, the checks of
 * the init through /proc/PID; for a join, the init's namespace files,
 * opened as root through that checked descriptor (the init is not
 * dumpable: the caller may not open them), one setns per namespace, then
 * the usual permanent drop and its proof, before the command.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vial.h"

#define STARTSCRIPT "/.singularity.d/startscript"

/* instance start's, in the caller's process and the init */
static int log_out = -1, log_err = -1, devnull = -1;
static char out_path[PATH_MAX], err_path[PATH_MAX];
static int anchor = -1;		/* /proc/PID of the Slurm step's slurmstepd, or -1 */
/* a join's namespaces, opened from the checked init, and joined in this
 * order (the PID namespace first, though: instance_join) */
static const struct { const char *file; int type; } nss[] = {
	{ "ns/ipc", CLONE_NEWIPC }, { "ns/uts", CLONE_NEWUTS }, { "ns/net", CLONE_NEWNET },
	{ "ns/pid", CLONE_NEWPID }, { "ns/mnt", CLONE_NEWNS },
};
static int ns_fd[LEN(nss)];

/* Apptainer's names: [a-zA-Z0-9._-]+; with `pattern` also fnmatch's *?[]! */
void check_name(const char *s, int pattern)
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

	errno = 0;	/* a stat that does not parse proves nothing */
	if (proc_stat(anchor, 0, &p))
		return errno == ENOENT || errno == ESRCH;
	return p.state == 'Z' || p.state == 'X';
}

/* instance start IMAGE NAME [ARG...]: checked before anything is mounted. */
static void start_prepare(struct launch *l)
{
	struct state *s = xcalloc(1, sizeof *s);
	int dir, found;

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

	if (proc < 0 || proc_stat(proc, 1, &p))
		die_errno("instance %s: its init", l->inst.name);
	close(proc);
	snprintf(s->name, sizeof s->name, "%s", l->inst.name);
	s->pid = pid;
	s->start = p.start;
	s->flags = (l->img.protected ? F_PROTECTED : 0) | (l->nv ? F_NV : 0) |
		   (l->rocm ? F_ROCM : 0) | F_STARTING;
	if (l->img.path[0] == '/' || !l->cwd[0])
		len = snprintf(s->image, sizeof s->image, "%s", l->img.path);
	else
		len = snprintf(s->image, sizeof s->image, "%s/%s", l->cwd, l->img.path);
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
	struct state *now = xcalloc(1, sizeof *now);
	int dir = records_lock(), fd = -1, len, rc = -1;

	s->flags &= ~(unsigned)F_STARTING;
	len = record_format(s, buf, sizeof buf);
	if (len > 0 && record_read(dir, s->name, now) == 1 && now->pid == s->pid &&
	    now->start == s->start &&
	    (fd = priv_state_open(dir, s->name, O_WRONLY | O_TRUNC)) >= 0)
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
	struct state *s = xcalloc(1, sizeof *s);
	char buf[8];
	size_t n = 0;
	int status = 0;

	record_write(l, pid, s);
	if (send(sock, "S", 1, MSG_NOSIGNAL) == 1)
		n = read_to_eof(sock, buf, sizeof buf);
	if (n == 2 && !memcmp(buf, "D1", 2) && !record_up(s)) {
		inform("instance %s started (PID %d)", l->inst.name, (int)pid);
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
	fd_close_all(1, sv[0], records_fd(), -1);
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

/* The instance's namespace nss[i], joined as root through its checked fd. */
static void join(size_t i)
{
	if (priv_setns(ns_fd[i], nss[i].type))
		die_errno("instance %s: join its namespace (%s)", joined, nss[i].file);
	close(ns_fd[i]);
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
	struct state *s = xcalloc(1, sizeof *s);
	const char *name = l->img.path + strlen(INSTANCE_URI);
	int dir, found;

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
	/* s is kept: the launch's image and home are its strings */
	l->img.path = s->image;
	l->home_src = l->home_dst = s->home;
	l->img.protected = !!(s->flags & F_PROTECTED);
	l->nv |= !!(s->flags & F_NV);
	l->rocm |= !!(s->flags & F_ROCM);
	l->inst.name = joined = name;
	for (size_t i = 0; i < LEN(nss); i++)
		if (nss[i].type == CLONE_NEWPID)
			join(i);
}

/* In init_fork's child, in the instance's PID namespace: the others, the
 * mount namespace last (its root and cwd become the container's). */
void instance_enter(void)
{
	for (size_t i = 0; i < LEN(nss); i++)
		if (nss[i].type != CLONE_NEWPID)
			join(i);
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
		instance_list(l);
	instance_stop(l);
}
