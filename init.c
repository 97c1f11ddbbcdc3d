/*
 * --pid: vial forks into the new PID namespace. Its child is PID 1 there,
 * a tiny init that reaps orphans and relays signals to the command (PID
 * 2). The outer vial drops every privilege at once (no root id of any
 * kind, no capability: Singularity 2.x kept saved uid 0 here), forwards
 * the signals a scheduler sends, and exits with the command's status.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vial.h"

static const int relayed[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
			       SIGUSR2, SIGCONT, SIGTSTP };
static volatile pid_t target;
static int alive[2] = { -1, -1 };	/* the outer vial holds [1]: EOF when it is gone */

static void relay(int sig)
{
	if (target > 0)
		kill(target, sig);
}

static void relay_signals(void)
{
	struct sigaction sa = { .sa_handler = relay, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < LEN(relayed); i++)
		if (sigaction(relayed[i], &sa, NULL))
			die_errno("sigaction");
}

/* The relayed signals and SIGCHLD: what init waits for. */
static void relay_set(sigset_t *s)
{
	sigemptyset(s);
	for (size_t i = 0; i < LEN(relayed); i++)
		sigaddset(s, relayed[i]);
	sigaddset(s, SIGCHLD);
}

static void block(int how)
{
	sigset_t s;

	relay_set(&s);
	if (sigprocmask(how, &s, NULL))
		die_errno("sigprocmask");
}

/* exit with what `status` says: the code, or 128+N for death by signal N */
static _Noreturn void exit_as(int status)
{
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static _Noreturn void outer_wait(pid_t child)
{
	int status;

	target = child;
	relay_signals();
	block(SIG_UNBLOCK);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			die_errno("waitpid");
	exit_as(status);
}

/* fork with the relayed signals blocked; the child closes `fd` (its copy
 * of the other side's end) and unblocks them. */
static pid_t fork_blocked(int fd, const char *what)
{
	pid_t pid;

	block(SIG_BLOCK);
	pid = fork();
	if (pid < 0)
		die_errno("%s", what);
	if (pid == 0) {
		close(fd);
		block(SIG_UNBLOCK);
	}
	return pid;
}

/* Called after unshare(CLONE_NEWPID): returns in the child, PID 1 to be. */
void init_fork(void)
{
	pid_t child;

	if (pipe2(alive, O_CLOEXEC))
		die_errno("pipe");
	child = fork_blocked(alive[1], "fork into the PID namespace");
	if (child == 0)
		return;
	/* The outer vial keeps only its end of the pipe: not the image, the
	 * loop device, nor a LOOP_LINGER holder's socket. */
	fd_close_all(1, alive[1], -1, -1);
	priv_drop_forever(NULL);
	outer_wait(child);
}

/* The end of the pipe PID 1 keeps, or -1 without --pid. */
int init_pipe(void)
{
	return alive[0];
}

/*
 * PID 1, privileges already dropped: start the command, then reap and
 * relay until it exits. Returns only in the command's process; `go` (a
 * LOOP_LINGER holder's socket, or -1) is the command's alone.
 */
void init_run(int go)
{
	struct pollfd p = { .events = POLLIN };
	sigset_t s;
	pid_t cmd;
	int sig, status;

	/* Set after the last credential change, which would clear it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
		die_errno("prctl(PR_SET_PDEATHSIG)");
	p.fd = alive[0];
	if (poll(&p, 1, 0) != 0)
		_exit(255);	/* the outer vial died before we could notice */
	cmd = fork_blocked(alive[0], "fork the command");
	if (cmd == 0)
		return;
	if (go >= 0)
		close(go);
	relay_set(&s);
	for (;;) {
		sig = sigwaitinfo(&s, NULL);
		if (sig > 0 && sig != SIGCHLD) {
			kill(cmd, sig);
			continue;
		}
		for (pid_t w; (w = waitpid(-1, &status, WNOHANG)) > 0;)
			if (w == cmd)
				exit_as(status);	/* PID 1 exits: the kernel ends the rest */
	}
}
