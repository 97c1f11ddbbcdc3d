/*
 * Every change of uid, gid, groups and capabilities. Nothing else in vial
 * touches credentials, but for two of privop.c's operations, which change
 * them around their one act: the IMAGE_GROUP open (fsuid, fsgid) and the
 * sealed run's mapper (all its uids 0).
 *
 * After priv_init: real uid = the caller, effective uid = the caller,
 * saved uid = 0. priv_raise/priv_lower flip the effective uid around the
 * single syscall that needs root, in privop.c alone; the file-system uid
 * follows it, so every path lookup between them is the caller's own.
 */
#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vial.h"

static struct user user;
static int root_at_start;

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/* The caller's passwd entry, from the host's files, read as the caller. */
static void user_lookup(void)
{
	struct passwd *pw = getpwuid(user.uid);

	if (!pw) {
		snprintf(user.name, sizeof user.name, "uid%u", (unsigned)user.uid);
		copy(user.home, sizeof user.home, "/");
		copy(user.shell, sizeof user.shell, "/bin/sh");
		return;
	}
	copy(user.name, sizeof user.name, pw->pw_name);
	copy(user.home, sizeof user.home, pw->pw_dir);
	copy(user.shell, sizeof user.shell, pw->pw_shell);
	copy(user.gecos, sizeof user.gecos, pw->pw_gecos);
}

void priv_init(void)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (getresuid(&r, &e, &s) || getresgid(&rg, &eg, &sg))
		die_errno("getresuid");
	if (eg != rg || sg != rg)
		die("vial must not be setgid (chmod g-s)");
	user.uid = r;
	user.gid = rg;
	user.ngroups = getgroups(0, NULL);
	if (user.ngroups < 0)
		die_errno("getgroups");
	/* musl's NGROUPS_MAX is 32; Linux allows 65536: ask the kernel. */
	user.groups = xcalloc((size_t)user.ngroups + 1, sizeof *user.groups);
	user.ngroups = getgroups(user.ngroups, user.groups);
	if (user.ngroups < 0)
		die_errno("getgroups");
	root_at_start = (e == 0);
	/* From here on the effective uid is the caller's; saved uid stays 0. */
	if (root_at_start && setresuid(-1, r, 0))
		die_errno("setresuid");
	user_lookup();
}

const struct user *priv_user(void)
{
	return &user;
}

int priv_is_root(void)
{
	return root_at_start;
}

/*
 * The raw system call: musl's seteuid runs it on every thread of the
 * process under a fully blocked signal mask (three more system calls each
 * time); vial has one thread and flips its euid some 40 times a launch.
 */
static void set_euid(uid_t uid)
{
	int e = errno;

	if (syscall(SYS_setresuid, -1, uid, -1))
		die_errno("seteuid(%u)", (unsigned)uid);
	errno = e;
}

void priv_raise(void)
{
	set_euid(0);
}

void priv_lower(void)
{
	set_euid(user.uid);
}

/*
 * Raised, with the real uid 0 as well: the caller can no longer signal
 * vial (kill(2) matches the sender against the target's real and saved
 * uid). For the legacy loop attach only, where a SIGKILL between
 * LOOP_SET_FD and LOOP_SET_STATUS64 would leave a device bound without
 * autoclear. priv_unshield returns to the raised state.
 */
void priv_shield(void)
{
	if (setresuid(0, 0, 0))
		die_errno("setresuid(0)");
}

void priv_unshield(void)
{
	if (setresuid(user.uid, 0, 0))
		die_errno("setresuid(%u)", (unsigned)user.uid);
}

/* Is `gid` the caller's group, or one of their supplementary groups? */
int priv_in_group(gid_t gid)
{
	if (gid == user.gid)
		return 1;
	for (int i = 0; i < user.ngroups; i++)
		if (user.groups[i] == gid)
			return 1;
	return 0;
}

/*
 * Ask the kernel, call by call: every uid and gid (real, effective, saved,
 * file system) the caller's, the effective, permitted and inheritable sets
 * empty (ambient is a subset of permitted and inheritable: empty with
 * them), no capability left in the bounding set, no_new_privs set, not
 * dumpable; then
 * setuid(0) must fail. (Not /proc/self/status: its first read in the new
 * /proc costs more than all of these calls.)
 */
static void prove_dropped(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };
	uid_t r, e, s;
	gid_t rg, eg, sg;
	int cap, rc;

	if (getresuid(&r, &e, &s) || getresgid(&rg, &eg, &sg))
		die_errno("getresuid");
	if (r != user.uid || e != user.uid || s != user.uid || (uid_t)setfsuid(-1) != user.uid ||
	    rg != user.gid || eg != user.gid || sg != user.gid || (gid_t)setfsgid(-1) != user.gid)
		die("privilege drop did not take: ids still differ");
	if (syscall(SYS_capget, &h, d))
		die_errno("capget");
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			die("privilege drop did not take: capabilities remain");
	for (cap = 0; (rc = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) == 0; cap++)
		;
	if (rc > 0 || errno != EINVAL || cap < 32)
		die("privilege drop did not take: capability %d is in the bounding set", cap);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		die("privilege drop did not take: no_new_privs is not set");
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		die("privilege drop did not take: the process is dumpable");
	if (user.uid != 0 && (setuid(0) != -1 || seteuid(0) != -1))
		die("privilege drop did not take: setuid(0) succeeded");
}

/*
 * Every capability out of the bounding set, while euid 0 still has
 * CAP_SETPCAP: the kernel answers EINVAL past its last capability.
 * (libcap-ng's CAPNG_CLEAR_BOUNDING does the same loop, but around it
 * parses /proc/PID/status three times through stdio: a tenth of a warm
 * launch. prove_dropped checks CapBnd either way.)
 */
static void drop_bounding_set(void)
{
	int cap = 0;

	while (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
		cap++;
	if (errno != EINVAL || cap < 32)
		die_errno("prctl(PR_CAPBSET_DROP, %d)", cap);
}

/*
 * The permanent drop: the caller's groups, gids and uids (real, effective,
 * saved), every capability set empty including bounding and ambient,
 * no_new_privs, not dumpable, and then proof that root cannot come back.
 * A `sealed` run first enters a user namespace that root makes (privop.c):
 * its ids change there, where 0 is unmapped, so setuid does not clear the
 * capability sets by itself (only an exec would): capng clears them, and
 * capget proves it.
 * The id change set the dumpable flag to fs.suid_dumpable: at 1, the
 * caller could ptrace this process, or pidfd_getfd its fds, until it
 * execs (the --pid init and the outer vial never do). An exec sets the
 * flag anew for the command, from its own file.
 */
void priv_drop_forever(const struct image *sealed)
{
	int rc;

	priv_raise();
	if (setgroups(user.ngroups, user.groups))
		die_errno("setgroups");
	if (sealed)
		priv_userns(sealed->path);
	drop_bounding_set();
	capng_clear(CAPNG_SELECT_ALL);
	rc = capng_change_id(user.uid, user.gid, CAPNG_CLEAR_AMBIENT);
	if (rc)
		die("capng_change_id failed (%d)", rc);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die_errno("prctl(PR_SET_NO_NEW_PRIVS)");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		die_errno("prctl(PR_SET_DUMPABLE)");
	prove_dropped();
}

/*
 * Target mode: root (the real caller) runs the command as another user
 * and groups, as Singularity 2.x's SINGULARITY_TARGET_UID/GID and
 * Apptainer's --security uid:N,gid:N:M do. The recorded caller becomes
 * that user, and so do the process's ids, as if the user had called the
 * setuid vial: real and effective ids the user's, saved uid 0. From here
 * on everything vial does "as the caller" is done as the user: the
 * passwd entry (home, shell, the container's /etc/passwd line) is theirs,
 * and binds, home, working directory and image are opened with their
 * rights, so root's run hands the user nothing they could not open
 * themselves. The permanent drop then drops to them.
 */
void priv_target(uid_t uid, gid_t gid, const gid_t *groups, int n)
{
	gid_t *g = xcalloc((size_t)n + 1, sizeof *g);	/* one more: priv_drop_forever's */

	if (user.uid != 0 || !root_at_start)
		die("only root may run a command as another user");
	memcpy(g, groups, (size_t)n * sizeof *g);
	if (setgroups((size_t)n, g) || setresgid(gid, gid, gid) || setresuid(uid, uid, 0))
		die_errno("cannot become uid %u gid %u", (unsigned)uid, (unsigned)gid);
	/* the id change set the dumpable flag to fs.suid_dumpable */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		die_errno("prctl(PR_SET_DUMPABLE)");
	free(user.groups);
	user.uid = uid;
	user.gid = gid;
	user.groups = g;
	user.ngroups = n;
	memset(user.gecos, 0, sizeof user.gecos);
	user_lookup();
}
