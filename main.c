/*
 * vial: run a command inside a container image.
 * The command line, the launch sequence as one function, error reporting.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vial.h"

extern char **environ;
int verbose, quiet;

#define STACK_NEED (48 * 1024)	/* past what exec put there */

static void vmsg(const char *fmt, va_list ap, int err, const char *what)
{
	char buf[1024];

	vsnprintf(buf, sizeof buf, fmt, ap);
	if (err)
		dprintf(2, "vial: %s%s: %s\n", what, buf, strerror(err));
	else
		dprintf(2, "vial: %s%s\n", what, buf);
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

/*
 * vial's deepest call chain needs some 40 KiB of stack (measured: a
 * launch with --pid fails at 32 KiB and works at 40); a caller's
 * `ulimit -s` below that would kill it with SIGSEGV half-way through
 * setup. Say so instead. What the kernel put on the stack at exec
 * (arguments, environment) counts against the limit too.
 */
static void limits_check(char **argv, char **envp)
{
	char here;
	uintptr_t top = (uintptr_t)&here, need;
	struct rlimit r, more;

	for (char **v = argv; *v; v++)
		top = (uintptr_t)*v + strlen(*v) > top ? (uintptr_t)*v + strlen(*v) : top;
	for (char **v = envp; *v; v++)
		top = (uintptr_t)*v + strlen(*v) > top ? (uintptr_t)*v + strlen(*v) : top;
	need = top - (uintptr_t)&here + STACK_NEED;
	if (getrlimit(RLIMIT_STACK, &r))
		die_errno("getrlimit");
	if (r.rlim_cur == RLIM_INFINITY || r.rlim_cur >= need)
		return;
	/* Room for the message (vial is root still, and exits): its
	 * formatting alone could overrun what is left. */
	more.rlim_cur = need;
	more.rlim_max = r.rlim_max > need ? r.rlim_max : need;
	setrlimit(RLIMIT_STACK, &more);
	die("the stack limit (ulimit -s %lu) is below the %lu KiB vial needs",
	    (unsigned long)(r.rlim_cur / 1024), (unsigned long)(need + 1023) / 1024);
}

/* Make sure 0-2 are open, so nothing vial opens can land on them. */
static void fds_sanitise(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n != fd)
			_exit(255);
	}
}

/*
 * What the process is before anything else runs. vial itself runs with an
 * empty environment, so nothing can honour LD_*, TZ, TMPDIR, LOCPATH, ...
 * while privileged; the caller's environment is kept aside, untouched,
 * for the command (a job's TMPDIR, Slurm's and MPI's variables).
 */
static void sanitise(int argc, char **argv, char **envp, struct launch *l)
{
	fds_sanitise();
	/* Since Linux 5.18 the kernel turns argc 0 into argc 1 with argv[0] "". */
	if (argc < 1 || !argv[0] || !argv[0][0] || !envp)
		die("refusing to run with an empty argument list (argc 0)");
	l->envp = envp;
	environ = NULL;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		die_errno("prctl(PR_SET_DUMPABLE)");
	l->umask = umask(022);
	limits_check(argv, envp);
	/* `ulimit -f` small: a write fails with EFBIG and vial says so,
	 * instead of dying of SIGXFSZ; the command gets the caller's. */
	if (sigaction(SIGXFSZ, &(struct sigaction){ .sa_handler = SIG_IGN }, &l->xfsz))
		die_errno("sigaction");
}

/* The install mistakes an admin can act on, said plainly. */
static void self_check(void)
{
	struct stat st;
	struct statvfs sv;

	if (stat("/proc/self/exe", &st))
		die_errno("cannot stat /proc/self/exe (is /proc mounted?)");
	if (st.st_uid != 0)
		die("vial is not owned by root (install it with make install)");
	if (st.st_mode & S_ISGID)
		die("vial must not be setgid (chmod g-s)");
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		die("vial is writable by group or other (chmod 4755)");
	if (priv_is_root())
		return;
	if (!(st.st_mode & S_ISUID))
		die("vial is not setuid root (chmod 4755, owner root)");
	if (statvfs("/proc/self/exe", &sv) == 0 && (sv.f_flag & ST_NOSUID))
		die("vial is on a nosuid mount: the kernel ignores its setuid bit; "
		    "install it on a file system mounted without nosuid");
	die("vial did not gain root: setuid ignored (no_new_privs set, "
	    "or in a user namespace)");
}

static void print_config(void)
{
	static const char *fmts[] = { "squashfs", "ext", "erofs", "directory" };

	printf("vial %s site policy (built from %s)\n", VIAL_VERSION, CONFIG_H);
	printf("protected directories:\n");
	for (size_t i = 0; i < policy.nprotected; i++) {
		if (!policy.protected[i].path)
			continue;
		printf("  %s  group: %s  %s\n", policy.protected[i].path,
		       policy.protected[i].group ? policy.protected[i].group
						 : "(any user)",
		       policy.protected[i].kind == SEALED ? "sealed" : "unsealed");
	}
	printf("protected runs' group: %s (new files get it, unless their directory "
	       "is set-gid)\n", policy.protected_group);
	printf("image group (root-squashed NFS): %s\n",
	       policy.image_group ? policy.image_group : "(off)");
	printf("formats from images the user can write:");
	for (unsigned i = 0; i < LEN(fmts); i++)
		if (policy.user_formats & (1u << i))
			printf(" %s", fmts[i]);
	printf("\nformats from root-owned images:");
	for (unsigned i = 0; i < LEN(fmts); i++)
		if (policy.root_formats & (1u << i))
			printf(" %s", fmts[i]);
	printf("\nshare loop devices: %s\n", policy.share_loops ? "yes" : "no");
	printf("max loop devices: %u\n", policy.max_loops);
	printf("staging directory: %s\n", policy.stage_dir);
	printf("default binds:");
	for (size_t i = 0; i < policy.nbinds; i++)
		printf(" %s:%s%s", policy.binds[i].src, policy.binds[i].dst,
		       policy.binds[i].ro ? ":ro" : "");
	printf("\nuser binds (-B): %s\n", policy.user_binds ? "allowed" : "refused");
	printf("writable tmpfs size: %s\n", policy.writable_tmpfs_size);
	if (policy.linger)
		printf("loop devices linger: %u s after their last use (state in %s)\n",
		       policy.linger, policy.linger_dir);
	else
		printf("loop devices linger: no\n");
	printf("instance records: %s\n", policy.instance_dir);
	gpu_print_config();
}

static void print_version(void)
{
	printf("vial %s\n", VIAL_VERSION);
	printf("built %s with %s, static musl, libcap-ng %s\n",
	       BUILD_DATE, BUILD_CC, CAPNG_VERSION);
	printf("config: %s\n", CONFIG_H);
}

static void choose_command(struct launch *l)
{
	static char *shell[] = { "/bin/sh", NULL };
	size_t n = 0;
	char **v;

	if (!strcmp(l->verb, "shell")) {
		if (l->shell)
			shell[0] = (char *)l->shell;
		l->argv = shell;
	} else if (!strcmp(l->verb, "run")) {
		while (l->argv[n])
			n++;
		v = calloc(n + 2, sizeof *v);
		if (!v)
			die("out of memory");
		v[0] = "/.singularity.d/runscript";
		memcpy(v + 1, l->argv, n * sizeof *v);
		l->argv = v;
	} else if (!l->argv[0]) {
		die("exec: no command given (vial exec IMAGE COMMAND [ARG...])");
	}
}

/* Exec in place: the scheduler sees the same PID. */
static _Noreturn void exec_command(struct launch *l)
{
	char *cmd = l->argv[0];

	/* Apptainer's shell: bash where the image has it (-s and
	 * APPTAINER_SHELL/SINGULARITY_SHELL choose otherwise). */
	if (!strcmp(l->verb, "shell") && !l->shell && access("/bin/bash", X_OK) == 0)
		cmd = l->argv[0] = "/bin/bash";
	if (!strcmp(l->verb, "run") && access(cmd, F_OK)) {
		cmd = l->argv[0] = "/singularity";
		if (access(cmd, F_OK))
			die("%s: no runscript in the image "
			    "(/.singularity.d/runscript or /singularity)", l->img.path);
	}
	umask(l->umask);
	if (sigaction(SIGXFSZ, &l->xfsz, NULL))
		die_errno("sigaction");
	environ = env_build(l);
	if (l->img.sealed) {
		env_drop_loader();
		confine_protected();
		/* Every user's protected runs share PROTECTED_GROUP, which
		 * new files get: it may do no more with them than others. */
		umask(l->umask | (l->umask & 07) << 3);
	}
	l->argv = env_wrap(l->argv);
	linger_launched(l->linger_go, 1);
	execvp(l->argv[0], l->argv);
	linger_launched(l->linger_go, 0);
	if (errno == ENOENT) {
		dprintf(2, "vial: %s: command not found in %s\n", cmd, l->img.path);
		_exit(127);
	}
	dprintf(2, "vial: %s: cannot execute in %s: %s\n", cmd, l->img.path,
		strerror(errno));
	_exit(126);
}

/*
 * exec|run|shell instance://NAME: into a running instance (instance.c
 * checks it is the caller's and the same process, and joins its PID
 * namespace); the command forked into it, the rest as any launch with
 * --pid: the outer vial waits, unprivileged; the command's process joins
 * the other namespaces as root, then drops every privilege for good.
 */
static _Noreturn void launch_join(struct launch *l)
{
	instance_join(l);
	choose_command(l);
	if (l->img.protected)	/* a protected run, however it is entered */
		protect_audit(&l->img, l->argv, l->cwd);
	init_fork();
	instance_enter();
	fd_close_all(1, init_pipe(), -1, -1);
	priv_drop_forever();
	instance_joined(l);
	exec_command(l);
}

static void launch(struct launch *l)
{
	/* inspect with a flag reads files in the image: it mounts it */
	int inspect = !strcmp(l->verb, "inspect"), mounts = !inspect || l->inspect;

	if (!l->img.path)
		die("%s: no image given (see vial help)", l->verb);
	self_check();
	if (!getcwd(l->cwd, sizeof l->cwd))
		l->cwd[0] = 0;	/* deleted or unreachable: fall back later */
	if (!strncmp(l->img.path, INSTANCE_URI, strlen(INSTANCE_URI)))
		launch_join(l);
	/* Namespaces first, so every fd vial opens (the image too) is in
	 * the mount namespace it will mount in. */
	if (mounts)
		ns_enter();
	image_open(&l->img);
	image_probe(&l->img);
	if (inspect && (!l->inspect || l->img.protected)) {
		image_inspect(&l->img);
		exit(0);
	}
	/* A sealed run has no way in from the host: no setns into it either. */
	if (l->inst.start && l->img.sealed)
		die("%s: no instances of a sealed protected image (nothing may join its runs)",
		    l->img.path);
	if (!inspect && !l->inst.start)	/* an instance runs its startscript */
		choose_command(l);
	image_check_policy(&l->img);
	if (l->img.sealed)
		priv_run_group();
	/* Files written over a protected image's would run inside it. */
	if (l->img.sealed && l->writable_tmpfs)
		die("%s: --writable-tmpfs: not with a protected image", l->img.path);
	if (l->img.protected)
		protect_audit(&l->img, l->argv, l->cwd);
	if (l->img.fmt != FMT_DIR)	/* a directory is bound, not attached */
		loop_attach(&l->img, &l->loop);
	/* An instance holds its image as long as it runs: no holder. */
	if (policy.linger && policy.share_loops && l->img.fmt != FMT_DIR && !l->inst.start)
		l->linger_go = linger_hold(&l->img, &l->loop);
	ns_isolate(l);
	if (l->inst.start)
		instance_fork(l);	/* the caller's vial waits until it is up */
	else if (l->pid)
		init_fork();	/* the outer vial waits there, unprivileged */
	ns_build(l);
	/* The tree is built: vial's own fds (the image, host directories)
	 * go before the ids become the caller's. */
	if (l->inst.start)
		instance_detach(l);	/* an instance keeps none of the caller's either */
	else
		fd_close_all(1, l->linger_go, init_pipe(), -1);
	priv_drop_forever();
	if (inspect)
		inspect_print(l);
	if (l->inst.start)
		instance_init(l);	/* its PID 1; returns in the startscript's process */
	else if (l->pid)
		init_run(l->linger_go);	/* PID 1 reaps and relays there */
	exec_command(l);
}

int main(int argc, char **argv, char **envp)
{
	/* static: main's frame stays small while limits_check has not yet
	 * looked at the stack limit (struct launch holds a PATH_MAX cwd) */
	static struct launch l = { .img = { .fd = -1 }, .loop = { .fd = -1 }, .linger_go = -1 };

	sanitise(argc, argv, envp, &l);
	priv_init();
	cli_parse(argc, argv, &l);
	if (!strcmp(l.verb, "help")) {
		cli_usage(stdout);
		return 0;
	}
	if (cli_answer(&l))
		return 0;
	if (!strcmp(l.verb, "version") || !strcmp(l.verb, "--version")) {
		print_version();
		return 0;
	}
	if (!strcmp(l.verb, "config")) {
		print_config();
		return 0;
	}
	if (!strcmp(l.verb, "instance")) {
		self_check();
		instance_command(&l);	/* list and stop end there */
	}
	if (strcmp(l.verb, "exec") && strcmp(l.verb, "run") && strcmp(l.verb, "shell") &&
	    strcmp(l.verb, "inspect") && strcmp(l.verb, "instance")) {
		cli_usage(stderr);
		die("unknown command %s", l.verb);
	}
	launch(&l);
	return 255;
}
