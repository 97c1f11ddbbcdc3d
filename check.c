/*
 * `vial config` run as root: is this node fit for the policy compiled in?
 * One line per problem on stderr, and a non-zero exit when there is any,
 * so that a node health check can run it. It changes nothing on the node
 * and runs nothing: it walks what vial will walk, as vial will.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vial.h"

static unsigned problems;

/* One problem, one line. */
__attribute__((format(printf, 1, 2))) static void problem(const char *fmt, ...)
{
	char buf[PATH_MAX + 512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	dprintf(2, "vial: config: %s\n", buf);
	problems++;
}

/* Does vial find `path` a sound directory? If not, protect_why() says why. */
static int dir_sound(const char *path, int writable)
{
	int fd = protect_dir_open(path, writable);

	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

/* Each protected directory is there, root's from / down, its group known. */
static void check_protected(void)
{
	for (size_t i = 0; i < policy.nprotected; i++) {
		const struct protected_dir *pd = &policy.protected[i];

		if (!pd->path)
			continue;
		if (!dir_sound(pd->path, 0))
			problem("protected directory %s: %s (its images run for no one)",
				pd->path, protect_why());
		if (pd->group && !getgrnam(pd->group))
			problem("protected directory %s: group %s is unknown on this node "
				"(its images run for no one)", pd->path, pd->group);
	}
}

/* The NFS image group: there, and no user in it (members read its images). */
static void check_image_group(void)
{
	struct group *g;

	if (!policy.image_group)
		return;
	g = getgrnam(policy.image_group);
	if (!g)
		problem("IMAGE_GROUP %s is unknown on this node", policy.image_group);
	else if (g->gr_mem && g->gr_mem[0])
		problem("IMAGE_GROUP %s has members (%s%s): they can read and copy its images",
			g->gr_name, g->gr_mem[0], g->gr_mem[1] ? ", ..." : "");
}

/* Where the audit line goes: a protected image runs only when it is taken. */
static void check_log(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), any = 0;

	for (size_t i = 0; i < policy.nprotected; i++)
		any |= policy.protected[i].path != NULL;
	if (!any)
		return;
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa))
		problem("/dev/log takes no datagram (%s): protected images do not run "
			"here, their audit line has nowhere to go (a syslog daemon: "
			"systemd-journald, rsyslog)", strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* STAGE_DIR: every launch mounts there, so vial refuses to start without it. */
static void check_stage(void)
{
	if (!dir_sound(policy.stage_dir, 1))
		problem("STAGE_DIR %s: %s (no container starts here)", policy.stage_dir,
			protect_why());
}

/* LINGER_DIR, when images linger: sound, or missing below a sound parent
 * (vial makes it). */
static void check_linger(void)
{
	char parent[PATH_MAX], first[PATH_MAX + 192], *name;
	struct stat st;
	int up;

	if (!policy.linger || dir_sound(policy.linger_dir, 0))
		return;
	snprintf(first, sizeof first, "%s", protect_why());
	snprintf(parent, sizeof parent, "%s", policy.linger_dir);
	name = strrchr(parent, '/');
	if (!name || !name[1]) {
		problem("LINGER_DIR %s: %s", policy.linger_dir, first);
		return;
	}
	*name++ = 0;
	up = protect_dir_open(*parent ? parent : "/", 0);
	if (up < 0) {
		problem("LINGER_DIR %s: %s", policy.linger_dir, protect_why());
		return;
	}
	if (fstatat(up, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
		problem("LINGER_DIR %s: %s", policy.linger_dir, first);
	close(up);
}

/*
 * What the kernel must offer sealed runs, where a sealed directory is
 * configured, and what would read execute-only programs anyway. What an
 * admin cannot change here (Landlock on an old kernel, unprivileged user
 * namespaces' use outside vial) is in the summary, not a problem.
 */
static void check_kernel(void)
{
	long users = seal_sysctl("/proc/sys/user/max_user_namespaces");
	char risky[512];
	int sealed = 0;

	for (size_t i = 0; i < policy.nprotected; i++)
		sealed |= policy.protected[i].path && policy.protected[i].kind == SEALED;
	if (sealed && users <= 0)
		problem("user.max_user_namespaces is %s: root may make no user namespace, so "
			"sealed protected images refuse to run", users == 0 ? "0" :
			"missing (no CONFIG_USER_NS)");
	if (sealed && seal_sysctl("/proc/sys/fs/suid_dumpable") == 1)
		problem("fs.suid_dumpable is 1: sealed protected images refuse to run "
			"(sysctl fs.suid_dumpable=0)");
	if (seal_binfmt_risky(risky, sizeof risky) > 0)
		problem("binfmt_misc handlers with the O, C or F flag read execute-only "
			"programs: %s", risky);
}

/* The whole check; the number of problems found. */
unsigned check_node(void)
{
	fflush(stdout);		/* the summary first, where both go to one file */
	check_protected();
	check_image_group();
	check_log();
	check_stage();
	check_linger();
	check_kernel();
	return problems;
}
