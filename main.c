/*
 * vial: run a command inside a container image.
 * The launch sequence as one function, and the verbs that run it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vial.h"

extern char **environ;

#define STACK_NEED (48 * 1024)	/* past what exec put there */

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
	printf("image group (root-squashed NFS): %s\n",
	       policy.image_group ? policy.image_group : "(off)");
	printf("formats from images the user can write:");
	for (unsigned f = FMT_SQUASHFS; f <= FMT_DIR; f <<= 1)
		if (policy.user_formats & f)
			printf(" %s", image_fmt_name(f));
	printf("\nformats from root-owned images:");
	for (unsigned f = FMT_SQUASHFS; f <= FMT_DIR; f <<= 1)
		if (policy.root_formats & f)
			printf(" %s", image_fmt_name(f));
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
	seal_print_config();
}

/* run's runscript, shell's shell, before the arguments (room for one more: --norc) */
static void choose_command(struct launch *l)
{
	size_t n = 0;
	char **v;

	if (strcmp(l->verb, "shell") && strcmp(l->verb, "run")) {
		if (!l->argv[0])
			die("exec: no command given");	/* cli_parse said so first */
		return;
	}
	while (l->argv[n])
		n++;
	v = xcalloc(n + 3, sizeof *v);
	v[0] = !strcmp(l->verb, "run") ? "/.singularity.d/runscript"
		: l->shell ? (char *)l->shell : "/bin/sh";
	memcpy(v + 1, l->argv, n * sizeof *v);
	l->argv = v;
}

/*
 * Apptainer's shell: `/bin/bash --norc ARG...` where the image has bash,
 * else /bin/sh; -s and APPTAINER_SHELL/SINGULARITY_SHELL name another,
 * which gets the arguments as they are.
 */
static void shell_command(struct launch *l)
{
	size_t n = 0;

	if (l->shell || access("/bin/bash", X_OK))
		return;
	while (l->argv[n])
		n++;
	memmove(l->argv + 2, l->argv + 1, n * sizeof *l->argv);	/* with the NULL */
	l->argv[0] = "/bin/bash";
	l->argv[1] = "--norc";
}

/*
 * The last walls of a sealed run, in the command's process: no loader
 * variable of the caller's, no file descriptor named as the command (a
 * host file, run from /proc/self/fd: Landlock refuses it too), Landlock,
 * and the filter.
 */
static void seal_command(const struct launch *l)
{
	static const char *fdlinks[] = { "/proc/", "/dev/fd/", "/dev/std" };

	for (size_t i = 0; i < LEN(fdlinks); i++)
		if (!strncmp(l->argv[0], fdlinks[i], strlen(fdlinks[i])))
			die("%s: %s names a file descriptor or a process: not a command of a "
			    "sealed protected image", l->img.path, l->argv[0]);
	env_drop_loader();
	seal_landlock();
	confine_protected();
}

/* Exec in place: the scheduler sees the same PID. */
static _Noreturn void exec_command(struct launch *l)
{
	char *cmd;

	if (!strcmp(l->verb, "shell"))
		shell_command(l);
	cmd = l->argv[0];
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
	if (l->img.sealed)
		seal_command(l);
	l->argv = env_wrap(l->argv);
	linger_launched(l->linger_go, 1);
	execvp(l->argv[0], l->argv);
	linger_launched(l->linger_go, 0);
	if (errno == ENOENT) {
		dprintf(2, "%s: %s: command not found in %s\n", progname, cmd, l->img.path);
		_exit(127);
	}
	dprintf(2, "%s: %s: cannot execute in %s: %s\n", progname, cmd, l->img.path,
		strerror(errno));
	_exit(126);
}

/* What a sealed run checks before anything is attached or mounted. */
static void seal_start(const struct launch *l)
{
	/* Files written over the image's would run inside it. */
	if (l->writable_tmpfs)
		die("%s: --writable-tmpfs: not with a sealed protected image", l->img.path);
	if (!protect_sealed_path(l->img.path))	/* priv_mount_ns decided on the name */
		die("%s: opened as sealed, but not by its name", l->img.path);
	seal_host_check(l->img.path);
	seal_fds();
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
	priv_drop_forever(NULL);	/* an instance is never sealed */
	instance_joined(l);
	exec_command(l);
}

static void launch(struct launch *l)
{
	/* inspect with a flag reads files in the image: it mounts it */
	int inspect = !strcmp(l->verb, "inspect") || !strcmp(l->verb, "run-help");
	int mounts = !inspect || l->inspect;

	self_check();
	if (!getcwd(l->cwd, sizeof l->cwd))
		l->cwd[0] = 0;	/* deleted or unreachable: fall back later */
	if (!strncmp(l->img.path, INSTANCE_URI, strlen(INSTANCE_URI)))
		launch_join(l);
	/* Namespaces first, so every fd vial opens (the image too) is in the
	 * mount namespace it will mount in. A sealed run's receives nothing
	 * from the host from then on (a FUSE mount the caller makes meanwhile
	 * would come in after the binds' noexec was set); others stay slaves
	 * (an autofs path mounted later still appears). */
	if (mounts)
		priv_mount_ns(protect_sealed_path(l->img.path));
	image_open(&l->img);
	image_probe(&l->img);
	if (l->img.protected && (l->inspect & INSPECT_RUN_HELP))
		die("%s: a protected image: vial reads nothing from it (run-help)", l->img.path);
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
		seal_start(l);
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
	priv_drop_forever(l->img.sealed ? &l->img : NULL);
	if (inspect)
		inspect_print(l);
	if (l->inst.start)
		instance_init(l);	/* its PID 1; returns in the startscript's process */
	else if (l->pid)
		init_run(l->linger_go);	/* PID 1 reaps and relays there */
	exec_command(l);
}

static void run_help(struct launch *l)
{
	l->inspect = inspect_bit("helpfile") | INSPECT_RUN_HELP;
	launch(l);
}

/* help [VERB]; 2.x's help IMAGE is run-help */
static void help(struct launch *l)
{
	if (l->img.path && !cli_verb(l->img.path)) {
		l->verb = "run-help";
		run_help(l);
	}
	cli_help(stdout, l->img.path);
}

/* Apptainer's answer where vial is called as it, else vial's own. */
static void version(struct launch *l)
{
	if (cli_answer(l))
		return;
	printf("vial %s\n", VIAL_VERSION);
	printf("built %s with %s, static musl, libcap-ng %s\n",
	       BUILD_DATE, BUILD_CC, CAPNG_VERSION);
	printf("config: %s\n", CONFIG_H);
}

static void config(struct launch *l)
{
	(void)l;
	print_config();
	/* root's: also a node health check (exit 1 on a problem) */
	if (priv_user()->uid == 0 && check_node())
		exit(1);
}

/* instance start|list|stop: list and stop end in instance.c; start
 * builds its container as a launch does. */
static void instance(struct launch *l)
{
	self_check();
	instance_command(l);
	launch(l);
}

/* What each verb does (cli.c's table says what it takes). */
static const struct {
	const char *name;
	void (*run)(struct launch *l);
} verb_run[] = {
	{ "exec", launch }, { "run", launch }, { "shell", launch }, { "inspect", launch },
	{ "run-help", run_help }, { "help", help }, { "version", version },
	{ "--version", version }, { "config", config }, { "instance", instance },
};

int main(int argc, char **argv, char **envp)
{
	/* static: main's frame stays small while limits_check has not yet
	 * looked at the stack limit (struct launch holds a PATH_MAX cwd) */
	static struct launch l = { .img = { .fd = -1 }, .loop = { .fd = -1 }, .linger_go = -1 };

	sanitise(argc, argv, envp, &l);
	priv_init();
	cli_parse(argc, argv, &l);
	if (!l.verb) {		/* a bare `vial`: what it can do */
		cli_usage(stderr);
		return 255;
	}
	if (l.help) {
		cli_help(stdout, l.verb);
		return 0;
	}
	/* target mode: root runs the command as another user (cli_parse
	 * refused it to anyone else) */
	if (l.ntarget)
		priv_target(l.target_uid, l.target[0], l.target + 1, l.ntarget - 1);
	for (size_t i = 0; i < LEN(verb_run); i++)
		if (!strcmp(l.verb, verb_run[i].name)) {
			verb_run[i].run(&l);
			if (fflush(stdout) || ferror(stdout))
				die_errno("write");
			return 0;
		}
	die("unknown command %s", l.verb);	/* cli_parse refused it first */
}
