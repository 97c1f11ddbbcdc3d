/* vial: the one launch description and the few functions each file exposes. */
#ifndef VIAL_H
#define VIAL_H

#include <endian.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define VIAL_VERSION "0.1.0"
/* The Apptainer whose command line vial answers for when called as
 * singularity, apptainer or run-singularity (README: "As Singularity"). */
#define APPTAINER_VERSION "1.1.9"
#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FUSE_SUPER_MAGIC 0x65735546	/* statfs f_type */

/* The magic link naming fd: how vial mounts and reads by descriptor. */
static inline const char *fdpath(char buf[32], int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

/* Little-endian fields of on-disk formats, at any alignment. */
static inline uint32_t le32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline uint64_t le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

enum fmt { FMT_NONE = 0, FMT_SQUASHFS = 1, FMT_EXT = 2, FMT_EROFS = 4, FMT_DIR = 8 };

struct bind {
	const char *src, *dst;
	int ro;
};

struct protected_dir {
	const char *path;	/* absolute, no trailing slash */
	const char *group;	/* members may run its images; NULL: anyone */
	int kind;		/* SEALED or UNSEALED: how its images run */
};
/* SEALED is 0: an entry written without a kind (an older site's) is sealed. */
enum { SEALED = 0, UNSEALED = 1 };

struct policy {			/* filled from config.h by config.c */
	const struct protected_dir *protected;
	size_t nprotected;
	const char *image_group;
	unsigned user_formats, root_formats;
	int share_loops;
	unsigned max_loops;
	const char *stage_dir;
	const struct bind *binds;	/* the site's default binds */
	size_t nbinds;
	int user_binds;			/* may users name their own? */
	const char *writable_tmpfs_size;	/* --writable-tmpfs's cap */
	unsigned linger;		/* LOOP_LINGER seconds; 0: off */
	const char *linger_dir;
	const char *instance_dir;	/* INSTANCE_DIR */
	const char *const *nv_libs, *const *nv_bins;	/* --nv: names to find */
	size_t n_nv_libs, n_nv_bins;
	const char *const *rocm_libs, *const *rocm_bins;	/* --rocm */
	size_t n_rocm_libs, n_rocm_bins;
	const char *const *gpu_bin_dirs;	/* where the binaries are looked for */
	size_t n_gpu_bin_dirs;
};
extern const struct policy policy;

struct image {
	const char *path;	/* as the user named it */
	int fd;
	int protected;		/* opened through the protected fallback */
	int sealed;		/* and its directory is SEALED */
	struct stat st;
	enum fmt fmt;
	uint64_t offset, size;	/* what the loop device maps; size 0: to EOF */
};

struct loopdev {
	int fd;			/* held until the mount returns */
	char path[32];
	unsigned n;		/* /dev/loopN */
};

/* --no-mount: what vial mounts by default and may leave out */
enum { NM_HOME = 1, NM_CWD = 2, NM_TMP = 4, NM_DEV = 8, NM_DEVPTS = 16, NM_SYS = 32 };

struct launch {
	const char *verb;	/* exec, run, shell, inspect */
	struct image img;
	struct loopdev loop;
	char **argv;		/* the command to run inside */
	char **envp;		/* the caller's environment, for the command */
	char cwd[PATH_MAX];
	mode_t umask;
	struct bind *binds;	/* -B, in order */
	size_t nbinds;
	const char **setenv;	/* --env X=Y, in order */
	size_t nsetenv;
	const char **fileenv;	/* --env-file's X=Y: over SINGULARITYENV_, under --env */
	size_t nfileenv;
	const char *home_src, *home_dst;	/* -H; NULL: the passwd home */
	const char *pwd, *shell, *hostname;
	const char *workdir;	/* -W: --contain's /tmp, /var/tmp, home in there */
	unsigned no_mount;	/* NM_* */
	uint64_t no_site;	/* site binds (bit = index) left out by --no-mount */
	int no_home, contain, cleanenv, pid, ipc, net, writable_tmpfs;
	unsigned inspect;	/* inspect --labels ...: inspect_bit()s, INSPECT_JSON */
	int nv, rocm;		/* --nv, --rocm: the host's GPU driver inside */
	int linger_go;		/* to a LOOP_LINGER holder, or to `instance start`'s
				   waiting vial: "launched"; or -1 */
	int help;		/* VERB --help: that verb's help */
	const char *prompt;	/* PS1 of shell: "vial> ", or Singularity's, Apptainer's */
	int ntarget;		/* target mode (root only): run as target[0], groups target[1..] */
	uid_t target_uid;
	int target_uid_set;
	gid_t target[64];
	struct {		/* vial instance OP ...; exec instance://NAME */
		const char *op, *name, *signal, *timeout;
		int start;	/* instance start: the launch builds an instance */
		int all, force, json, logs;	/* stop --all, --force; list --json, --logs */
	} inst;
	struct sigaction xfsz;	/* the caller's SIGXFSZ, for the command */
};

/* msg.c: one line on stderr */
/* noreturn and printf-like, for the compiler and for cppcheck alike */
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void die_errno(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void debug(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void inform(const char *fmt, ...);
void *xrealloc(void *p, size_t n);
void *xcalloc(size_t n, size_t size);
extern int verbose, quiet;
extern const char *progname;	/* what messages start with: "vial", or "singularity (vial)" */
extern const char *cmdname;	/* what hints name: vial, singularity or apptainer */

/* check.c: `vial config` as root checks the node */
unsigned check_node(void);

/* opts.c: the options, in one table; G: before the verb (global), A: after
 * exec|run|shell (and instance start), I: inspect, H: run-help, N: a verb
 * without options, L: instance list, S: instance stop */
enum { G = 1, A = 2, I = 4, H = 8, N = 16, L = 32, S = 64 };
struct opt {
	const char *name;	/* --name */
	char letter;		/* -l; 0: none */
	char scope;		/* G, A or both */
	const char *value;	/* what the value looks like; NULL: a flag */
	size_t flag;		/* a flag's int in struct launch (offsetof); 0: none */
	void (*set)(struct launch *l, const struct opt *o, char *value);
	const char *help;	/* or, for a refused option, why */
};
extern const struct opt opt_table[];
extern const size_t opt_count;
void opt_refuse(struct launch *l, const struct opt *o, char *arg);
void opts_from_env(struct launch *l);

/* cli.c: the command line, Singularity's and Apptainer's */
void cli_parse(int argc, char **argv, struct launch *l);
int cli_answer(const struct launch *l);
void cli_usage(FILE *f);
int cli_verb(const char *name);
void cli_help(FILE *f, const char *verb);

/* priv.c */
struct user {
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t *groups;		/* supplementary, as the kernel had them */
	char name[64];
	char home[PATH_MAX];
	char shell[PATH_MAX];
	char gecos[128];
};
void priv_init(void);
const struct user *priv_user(void);
int priv_is_root(void);		/* euid 0 at start: setuid worked */
void priv_raise(void);
void priv_lower(void);
void priv_shield(void);
void priv_unshield(void);
int priv_in_group(gid_t gid);
void priv_drop_forever(const struct image *sealed);
void priv_target(uid_t uid, gid_t gid, const gid_t *groups, int n);

/* privop.c: every act vial does as root, one function each, on fds */
struct group;
void priv_mount_ns(int private);
void priv_unshare(int flags, const char *hostname);
int priv_setns(int fd, int type);
void priv_userns(const char *image);
int priv_stage(int dir, const char *data);
int priv_mount(const char *src, const char *type, int at, unsigned long flags, const char *data);
int priv_bind(int src, int at, int moved);
int priv_clone(int fd);
int priv_setattr(int fd, unsigned long flags);
int priv_remount(int fd, unsigned long flags);
int priv_detach(int fd);
void priv_pivot(int root);
int priv_look(int dir, const char *name, int flags);
int priv_stat(int dir, const char *name, struct stat *st);
int priv_mkdir(int dir, const char *name, mode_t mode, const struct stat *own);
int priv_create(int dir, const char *name, mode_t mode, const struct stat *own);
void priv_fill_dev(int dev);
int priv_state_mkdir(int dir, const char *name, mode_t mode);
int priv_state_open(int dir, const char *name, int flags);
int priv_state_unlink(int dir, const char *name);
int priv_proc_open(int dir, const char *name, int flags);
int priv_open_image(int dir, const char *name, const struct group *group);
int priv_loop_open(const char *path, int flags);
int priv_loop_node(unsigned n);
int priv_loop_attach(const struct loopdev *ld, const struct image *img);
int priv_loop_status(const struct loopdev *ld, const struct image *img);

/* image.c */
void image_open(struct image *img);
void image_probe(struct image *img);
void image_check_policy(const struct image *img);
int image_mount(const struct image *img, const struct loopdev *ld, int at, const char *name);
const char *image_fmt_name(enum fmt f);
void image_inspect(const struct image *img);

/* sif.c */
#define SIF_MAX_DESC 1024	/* descriptors vial reads; siftool makes 48 */
#define SIF_FS_SQUASHFS 1
#define SIF_FS_EXT3 2
struct sif_desc {
	uint32_t type, id;
	uint64_t offset, size;
	int32_t fstype, parttype;	/* partitions only */
	char arch[3];			/* partitions only: "02"; arch[2] != 0: invalid */
};
struct sif {
	char arch[3];			/* the header's primary architecture */
	uint64_t descoff;
	size_t total, nused;
	struct sif_desc d[SIF_MAX_DESC];	/* the used descriptors */
	int root;			/* index in d of the primary partition, or -1 */
	char err[160];			/* why parsing failed */
};
extern const char sif_host_arch[];
int sif_parse(const unsigned char *buf, size_t len, uint64_t filesize, const char *arch,
	      struct sif *s);
int sif_read(int fd, uint64_t filesize, const char *arch, struct sif *s);
const char *sif_arch_name(const char *code);
void sif_describe(const struct sif_desc *d, char *buf, size_t n);

/* protect.c */
const struct protected_dir *protect_open(const char *path, int *fd);
int protect_sealed_path(const char *path);
void protect_readable(const char *path, const struct stat *st);
int protect_dir_open(const char *path, int writable);
const char *protect_why(void);
int protect_dir_make(const char *path, const char *what, mode_t mode);
void protect_audit(const struct image *img, char **argv, const char *cwd);

/* audit.c: the lines to authpriv about protected images */
void audit_note(const char *image, const char *key, const char *text);
void audit_run(const char *path, const char *image, char **argv, const char *cwd);

/* loop.c */
#define LOOP_MAJOR 7
#define LOOP_TRIES 64		/* attaches, and LOOP_SET_STATUS64s on EAGAIN */
void loop_attach(const struct image *img, struct loopdev *ld);
void loop_release(struct loopdev *ld);

/* linger.c: an image kept mounted after its container (LOOP_LINGER) */
int linger_hold(const struct image *img, const struct loopdev *ld);
void linger_launched(int go, int ok);

/* ns.c: namespaces, the stage, /proc, /sys, /dev, pivot_root */
void ns_isolate(const struct launch *l);
void ns_build(struct launch *l);
unsigned long ns_host_flags(int fd);

/* resolve.c: destinations inside the root, and their mount points */
int resolve(int root, const char *path, char *name, int host);
int target_open(int dir, const char *name, int isdir, int host);
void resolve_begin(const struct launch *l);
void resolve_root(int root);
void resolve_caller_bind(int src, int fd);
void resolve_own_fs(int dir, const char *name);

/* bind.c: the caller's binds */
const char *bind_open(struct launch *l);
void bind_stage(int root, int image);
void bind_tmp(int root, struct launch *l);
void bind_caller(int root, struct launch *l);
void bind_chdir(const struct launch *l, const char *home);
int bind_host(int root, int src, const char *dst, unsigned long flags, int optional);
int bind_exists(int root, const char *path, int flags);
void bind_fs(int root, const char *type, const char *dst, unsigned long flags, const char *data);

/* mnt.c */
int mnt_id(int fd);
int mnt_has_children(int id);
int mnt_walk(int top, const char *rel, int root);
int mnt_owner_chosen(int fd);
void mnt_set_tree(int fd, unsigned long flags, const char *what);

/* confine.c */
void confine_protected(void);

/* seal.c: a sealed protected run's walls */
#define SEAL_EXTENTS 340	/* what a uid_map or gid_map may hold (Linux 4.15+) */
#define SEAL_MAP (SEAL_EXTENTS * 24 + 32)
void seal_maps(char uids[SEAL_MAP], char gids[SEAL_MAP]);
long seal_sysctl(const char *path);
void seal_host_check(const char *image);
void seal_fds(void);
__attribute__((noreturn)) void seal_refused(const char *image, int err);
void seal_landlock(void);
int seal_print_config(void);
int seal_binfmt_risky(char *buf, size_t n);

/* fd.c */
void fd_each(void (*fn)(int fd, const void *arg), const void *arg);
void fd_close_all(int own, int keep1, int keep2, int keep3);
int fd_has_entries(int dir, const char *name);
ssize_t fd_slurp(int fd, char *buf, size_t size);

/* ldcache.c: the host's /etc/ld.so.cache, parsed from bytes */
struct ldcache {
	const unsigned char *buf;	/* the whole file */
	size_t len;
	size_t entries, n, size;	/* where the entries are, how many, each's size */
	size_t strings;		/* what the string offsets count from */
	int32_t flags;		/* the entries wanted: this machine's */
	char err[160];		/* why parsing failed */
};
extern const int32_t ldcache_host_flags;
int ldcache_parse(const unsigned char *buf, size_t len, int32_t flags, struct ldcache *c);
int ldcache_entry(const struct ldcache *c, size_t i, const char **name, const char **path);
int ldcache_read(int fd, int32_t flags, struct ldcache *c);
void ldcache_free(struct ldcache *c);

/* gpu.c: --nv, --rocm */
void gpu_open(const struct launch *l);
void gpu_bind(int root);
void gpu_print_config(void);

/* init.c */
void init_fork(void);
int init_pipe(void);
void init_run(int go);

/* instance.c: vial instance start, exec|run|shell instance://NAME */
#define INSTANCE_URI "instance://"
void check_name(const char *s, int pattern);
void instance_command(struct launch *l);
void instance_fork(struct launch *l);
void instance_detach(struct launch *l);
void instance_init(struct launch *l);
void instance_join(struct launch *l);
void instance_enter(void);
void instance_joined(const struct launch *l);

/* record.c: the caller's instances as root keeps them; instance list, stop */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
#define NAME_LEN 128		/* a file name, with room to spare */
/* F_STARTING: until the instance is up (its container built, its
 * startscript exec'd), no one joins it: its mount namespace still has
 * the host's root. */
enum { F_PROTECTED = 1, F_NV = 2, F_ROCM = 4, F_STARTING = 8 };
/* A record, as written: NUL-separated fields (no path holds a NUL, so no
 * field can forge another): MAGIC, pid, start time, boot id, flags,
 * image, home inside, the two logs. */
struct state {
	char name[NAME_LEN + 1];
	pid_t pid;
	unsigned long long start;	/* /proc/PID/stat field 22 */
	char boot[40];			/* /proc/sys/kernel/random/boot_id */
	unsigned flags;			/* F_* */
	char image[PATH_MAX], home[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
	int proc;			/* /proc/PID, open and checked; or -1 */
};
enum { STATE_MAX = 4 * PATH_MAX + 256 };
struct pstat {			/* what /proc/PID/stat says */
	char comm[32];
	char state;
	pid_t ppid;
	unsigned long long start;
};
int proc_open(pid_t pid);
int proc_stat(int proc, int root, struct pstat *p);
const char *boot_id(void);
int record_format(const struct state *s, char *buf, size_t size);
int record_read(int dir, const char *name, struct state *s);
int records_lock(void);
int records_fd(void);
int record_get(int dir, const char *name, struct state *s);
void record_forget(const struct state *s);
__attribute__((noreturn)) void instance_list(const struct launch *l);
__attribute__((noreturn)) void instance_stop(const struct launch *l);

/* env.c */
char **env_build(const struct launch *l);
char **env_wrap(char **argv);
void env_drop_loader(void);
const char *env_get(char **envp, const char *name);

/* inspect.c: Apptainer's inspect, read inside the built container */
#define INSPECT_JSON (1u << 31)
#define INSPECT_RUN_HELP (1u << 30)	/* run-help: the help, or a line saying there is none */
unsigned inspect_bit(const char *flag);
__attribute__((noreturn)) void inspect_print(const struct launch *l);

/* etc.c */
void etc_prepare(const char *home);
void etc_add_user(int image, int upper);
#endif
