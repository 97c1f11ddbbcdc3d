/*
 * A sealed protected run: walls the kernel keeps, not filters vial
 * watches over (DESIGN.md, "Protected images"; confine.c holds the
 * seccomp filter, the third).
 *
 * - No way in from the host: every process of the run lives in a user
 *   namespace that root creates, mapping only the caller's uid and gids.
 *   The caller's other processes hold no capability there (its owner is
 *   root), so the kernel's cap_ptrace_access_check refuses them
 *   /proc/PID/{root,cwd,fd,environ,mem,ns}, pidfd_getfd, process_vm_readv
 *   and ptrace, whatever the ids; signals (checked by uid) still pass.
 * - No file of the caller's mapped executable: Landlock allows reading
 *   and executing only beneath the container's /, so no magic link to a
 *   host file (/proc/self/fd/N of an inherited fd, another process's cwd)
 *   opens or runs; inherited descriptors pass by allow-list.
 * - No reference out: no unix socket (the filter), and none inherited.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/landlock.h>

#include "vial.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

/* A small sysctl's value (/proc/sys/...), or -1 when it cannot be read. */
long seal_sysctl(const char *path)
{
	char buf[32];

	if (fd_slurp(open(path, O_RDONLY | O_CLOEXEC), buf, sizeof buf) <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

/* The kernel refuses the sealed run's user namespace: say why, once. */
_Noreturn void seal_refused(const char *image, int err)
{
	if (seal_sysctl("/proc/sys/user/max_user_namespaces") < 0)
		die("%s: a sealed protected image needs user namespaces, and this kernel "
		    "has none (CONFIG_USER_NS)", image);
	die("%s: a sealed protected image needs a user namespace made by root, and the "
	    "kernel refuses it (%s; user.max_user_namespaces binds root too: an admin can "
	    "raise it, sysctl user.max_user_namespaces=N)", image, strerror(err));
}

/*
 * What must hold on the host before a sealed run starts. At
 * fs.suid_dumpable 1 every id change makes a process dumpable: a
 * sibling's /proc/PID/mem, or a core file, would give an execute-only
 * program away.
 */
void seal_host_check(const char *image)
{
	if (seal_sysctl("/proc/sys/fs/suid_dumpable") == 1)
		die("%s: a sealed protected image does not run while fs.suid_dumpable is 1 "
		    "(an admin can set it to 0 or 2: sysctl fs.suid_dumpable=0)", image);
	if (seal_sysctl("/proc/sys/user/max_user_namespaces") <= 0)
		seal_refused(image, ENOSPC);
}

/* Why an inherited fd may not pass into a sealed run; NULL: it may. */
static const char *fd_refused(int fd)
{
	char p[32], link[64];
	struct stat st;
	int dom;
	socklen_t len = sizeof dom;
	ssize_t n;

	if (fstat(fd, &st))
		return "cannot be examined";
	if (S_ISFIFO(st.st_mode))
		return NULL;
	if (S_ISCHR(st.st_mode))	/* terminals, /dev/null and its kin */
		return isatty(fd) || major(st.st_rdev) == 1 ? NULL : "a device other than a terminal";
	if (S_ISSOCK(st.st_mode)) {
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len))
			return "a socket that cannot be examined";
		return dom == AF_UNIX ? "a unix socket (it can carry descriptors out)" : NULL;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return "a kernel object (io_uring, seccomp listener, pidfd, eventfd, ...)";
	/* A memfd opens again through /proc/self/fd (an internal mount,
	 * which Landlock lets through) and can be mapped executable. */
	n = readlink(fdpath(p, fd), link, sizeof link - 1);
	if (n <= 0)
		return "a file without a path";
	link[n] = 0;
	if (link[0] != '/' || !strncmp(link, "/memfd:", 7))
		return "a file without a path (a memfd)";
	return NULL;
}

static void seal_fd(int fd, const void *arg)
{
	static const char *names[] = { "stdin", "stdout", "stderr" };
	int flags = fcntl(fd, F_GETFD);
	const char *why;

	(void)arg;
	if (flags < 0 || (fd > 2 && (flags & FD_CLOEXEC)) || !(why = fd_refused(fd)))
		return;
	if (fd <= 2)
		die("%s (fd %d) is %s: it does not pass into a sealed protected run",
		    names[fd], fd, why);
	debug("fd %d is %s: closed, not passed into the sealed run", fd, why);
	if (close(fd))
		die_errno("close fd %d", fd);
}

/*
 * The caller's descriptors, by allow-list: a file with a path, a pipe, a
 * terminal or /dev/null, a socket that is not a unix one. Anything else
 * is closed at 3 and above, and refused at 0-2 (the command would read
 * or write there). vial's own fds (close-on-exec) are not the caller's.
 */
void seal_fds(void)
{
	fd_each(seal_fd, NULL);
}

/* The sealed run's uid_map and gid_map: the caller's uid, their gid and
 * groups, each to itself (privop.c's mapper writes them). */
void seal_maps(char uids[SEAL_MAP], char gids[SEAL_MAP])
{
	const struct user *u = priv_user();
	size_t n;
	int lines = 1;

	snprintf(uids, SEAL_MAP, "%u %u 1\n", (unsigned)u->uid, (unsigned)u->uid);
	n = (size_t)snprintf(gids, SEAL_MAP, "%u %u 1\n", (unsigned)u->gid, (unsigned)u->gid);
	/* Groups beyond what a map holds still grant access, unnamed. */
	for (int i = 0; i < u->ngroups && lines < SEAL_EXTENTS; i++) {
		int dup = u->groups[i] == u->gid;
		for (int j = 0; j < i && !dup; j++)
			dup = u->groups[j] == u->groups[i];
		if (dup)
			continue;
		n += (size_t)snprintf(gids + n, SEAL_MAP - n, "%u %u 1\n",
				      (unsigned)u->groups[i], (unsigned)u->groups[i]);
		lines++;
	}
}

/* Landlock's ABI on this kernel: 0 when there is none (off, or too old). */
static int seal_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
			   LANDLOCK_CREATE_RULESET_VERSION);

	return abi > 0 ? (int)abi : 0;
}

/*
 * Read and execute only beneath the container's /: a magic link to a
 * host file resolves outside it and is refused, and so is execveat of an
 * inherited fd. Needs no privilege (no_new_privs is set). Without
 * Landlock (Linux before 5.13, or off) README says what stays open.
 */
void seal_landlock(void)
{
	const __u64 fs = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE |
			 LANDLOCK_ACCESS_FS_READ_DIR;
	struct landlock_ruleset_attr ra = { .handled_access_fs = fs };
	struct landlock_path_beneath_attr pb = { .allowed_access = fs };
	int rs;

	if (!seal_landlock_abi()) {
		debug("no Landlock on this kernel: a sealed run goes without it");
		return;
	}
	rs = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0);
	pb.parent_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rs < 0 || pb.parent_fd < 0 ||
	    syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) ||
	    syscall(SYS_landlock_restrict_self, rs, 0))
		die_errno("Landlock for the sealed run");
	close(pb.parent_fd);
	close(rs);
}

/*
 * The registered binfmt_misc handlers whose flags hold O, C or F (each
 * opens the program it runs, and may hand the fd to code of anyone's),
 * as "name (flags) ..." in `buf`: how many, or -1 where binfmt_misc is
 * not mounted.
 */
int seal_binfmt_risky(char *buf, size_t n)
{
	char line[256];
	struct dirent *d;
	DIR *dir = opendir("/proc/sys/fs/binfmt_misc");
	int found = 0, mounted = 0, fd;
	size_t used = 0;
	FILE *f;

	buf[0] = 0;
	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		mounted |= d->d_name[0] != '.';	/* unmounted, it is an empty directory */
		if (d->d_name[0] == '.' || !strcmp(d->d_name, "register") ||
		    !strcmp(d->d_name, "status") ||
		    (fd = openat(dirfd(dir), d->d_name, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		if (!(f = fdopen(fd, "r"))) {
			close(fd);
			continue;
		}
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "flags: ", 7) && strpbrk(line + 7, "OCF") && used < n)
				used += (size_t)snprintf(buf + used, n - used, "%s%s (%.*s)",
							 found++ ? " " : "", d->d_name,
							 (int)strcspn(line + 7, "\n"), line + 7);
		fclose(f);
	}
	closedir(dir);
	return mounted ? found : -1;
}

static void print_binfmt(void)
{
	char buf[512];
	int n = seal_binfmt_risky(buf, sizeof buf);

	if (n < 0)
		printf("  binfmt_misc handlers with O, C or F: none (binfmt_misc not mounted)\n");
	else if (n == 0)
		printf("  binfmt_misc handlers with O, C or F: none\n");
	else
		printf("  binfmt_misc handlers with O, C or F: %s: they read execute-only "
		       "programs (README)\n", buf);
}

/*
 * What this kernel offers sealed runs, and what each means for the
 * promise (README, "What protection covers"). Returns how many of them
 * keep sealed runs from running at all.
 */
int seal_print_config(void)
{
	long users = seal_sysctl("/proc/sys/user/max_user_namespaces");
	long dump = seal_sysctl("/proc/sys/fs/suid_dumpable");
	long yama = seal_sysctl("/proc/sys/kernel/yama/ptrace_scope");
	long unpriv = seal_sysctl("/proc/sys/kernel/unprivileged_userns_clone");
	int abi = seal_landlock_abi(), bad = 0;

	printf("sealed runs here:\n");
	if (users > 0)
		printf("  user namespaces for root: yes (user.max_user_namespaces %ld)\n", users);
	else
		printf("  user namespaces for root: no (%s): sealed runs are refused\n",
		       users == 0 ? "user.max_user_namespaces is 0" : "no CONFIG_USER_NS"), bad++;
	if (abi)
		printf("  Landlock: ABI %d\n", abi);
	else
		printf("  Landlock: none: an inherited file of the caller's stays runnable "
		       "through /proc/self/fd (README)\n");
	if (dump == 1)
		printf("  fs.suid_dumpable: 1: sealed runs are refused (set 0 or 2)\n"), bad++;
	else
		printf("  fs.suid_dumpable: %ld\n", dump);
	if (yama >= 0)
		printf("  Yama ptrace_scope: %ld%s\n", yama, yama < 2 ?
		       " (below 2: a tracer of a user's may steer a 0711 program they run "
		       "outside vial)" : "");
	else
		printf("  Yama: none (a tracer of a user's may steer a 0711 program they run "
		       "outside vial)\n");
	printf("  unprivileged user namespaces: %s\n", users > 0 && unpriv != 0 ?
	       "on (outside vial, 0711 programs can be read: README)" : "off");
	print_binfmt();
	return bad;
}
