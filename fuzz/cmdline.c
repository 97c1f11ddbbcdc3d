/*
 * The caller's bytes that vial parses while setuid: the command line
 * (opts.c's option table, -B/-H/--env/--mount), then the command's environment and
 * the wrapper script of env.c (SINGULARITYENV_X, --env X=Y, re-exported
 * through the image's /bin/sh with sh quoting). What parse accepts must
 * be well formed (absolute binds, NAME=VALUE), every refusal a "vial: "
 * message, and the script must set, for sh, exactly the values the
 * caller forced.
 *
 * Input: NUL-separated strings: the arguments after argv[0], then (after
 * a string "\1") the caller's environment.
 * fuzz-link:
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define FUZZ_VIAL_DIE		/* msg.c's die(), its _exit() caught below */
#define FUZZ_VIAL_MSG		/* msg.c included below */
#include "harness.h"

/* main.c, msg.c, cli.c, opts.c and env.c as they are, with their exits,
 * output, allocations and the container's file tests routed to the harness. */
static __attribute__((noreturn)) void fuzz_exit(int status);
static int fuzz_dprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void *fuzz_malloc(size_t n);
static void *fuzz_calloc(size_t n, size_t size);
static void *fuzz_realloc(void *p, size_t n);
static int fuzz_access(const char *path, int mode);
#define _exit fuzz_exit
#define dprintf fuzz_dprintf
#define malloc fuzz_malloc
#define calloc fuzz_calloc
#define realloc fuzz_realloc
#define access fuzz_access
#define main vial_main
#define CONFIG_H "config.h"
#define BUILD_DATE "fuzz"
#define BUILD_CC "clang"
#define CAPNG_VERSION "none"
#include "../main.c"
#include "../msg.c"
#include "../cli.c"
#include "../opts.c"
#include "../env.c"
#undef _exit
#undef dprintf
#undef malloc
#undef calloc
#undef realloc
#undef access
#undef main

const struct policy policy = { .stage_dir = "/tmp" };
static struct user user = { .uid = 1000, .gid = 1000, .name = "ann", .home = "/home/ann" };

/* Never reached from parse, choose_command or env_*: if they are, abort. */
void priv_init(void) { abort(); }
const struct user *priv_user(void) { return &user; }
int priv_is_root(void) { abort(); }
void priv_drop_forever(const struct image *sealed) { (void)sealed; abort(); }
void priv_mount_ns(int private) { (void)private; abort(); }
int protect_sealed_path(const char *path) { (void)path; abort(); }
void seal_host_check(const char *image) { (void)image; abort(); }
void seal_fds(void) { abort(); }
void seal_landlock(void) { abort(); }
int seal_print_config(void) { abort(); }
void priv_target(uid_t uid, gid_t gid, const gid_t *groups, int n)
{
	(void)uid, (void)gid, (void)groups, (void)n;
	abort();
}
void ns_isolate(const struct launch *l) { (void)l; abort(); }
int linger_hold(const struct image *img, const struct loopdev *ld) { (void)img, (void)ld; abort(); }
void linger_launched(int go, int ok) { (void)go, (void)ok; }
void ns_build(struct launch *l) { (void)l; abort(); }
void image_open(struct image *img) { (void)img; abort(); }
void image_probe(struct image *img) { (void)img; abort(); }
void image_inspect(const struct image *img) { (void)img; abort(); }
void image_check_policy(const struct image *img) { (void)img; abort(); }
void protect_audit(const struct image *img, char **argv, const char *cwd)
{
	(void)img, (void)argv, (void)cwd;
	abort();
}
void loop_attach(const struct image *img, struct loopdev *ld) { (void)img, (void)ld; abort(); }
void init_fork(void) { abort(); }
void init_run(int go) { (void)go; abort(); }
int init_pipe(void) { abort(); }
void fd_close_all(int own, int a, int b, int c) { (void)own, (void)a, (void)b, (void)c; abort(); }
void confine_protected(void) { abort(); }
unsigned inspect_bit(const char *flag) { return flag[0] ? 1 : 0; }
void inspect_print(const struct launch *l) { (void)l; abort(); }
void gpu_print_config(void) { abort(); }
const char *image_fmt_name(enum fmt f) { (void)f; abort(); }
unsigned check_node(void) { abort(); }
void instance_command(struct launch *l) { (void)l; abort(); }
void instance_fork(struct launch *l) { (void)l; abort(); }
void instance_detach(struct launch *l) { (void)l; abort(); }
void instance_init(struct launch *l) { (void)l; abort(); }
void instance_join(struct launch *l) { (void)l; abort(); }
void instance_enter(void) { abort(); }
void instance_joined(const struct launch *l) { (void)l; abort(); }

static void fuzz_exit(int status)
{
	FUZZ_ASSERT(status == 255 && fuzz_armed);
	fuzz_armed = 0;
	longjmp(fuzz_jmp, 1);
}

/* What vial prints on stderr, ending in its newline. Bytes of the
 * caller's own arguments may show in it as they are: not checked. */
static int fuzz_dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	FUZZ_ASSERT(fd == 2);
	va_start(ap, fmt);
	vsnprintf(fuzz_msg, sizeof fuzz_msg, fmt, ap);
	va_end(ap);
	n = strlen(fuzz_msg);
	FUZZ_ASSERT(n && fuzz_msg[n - 1] == '\n' && !strncmp(fuzz_msg, "vial: ", 6));
	return (int)n;
}

/* vial frees little (a short-lived process); the harness frees it all
 * after each input. */
static void **blocks;
static size_t nblocks, maxblocks;

static void *track(void *p)
{
	if (!p)
		return NULL;
	if (nblocks == maxblocks) {
		maxblocks = maxblocks ? 2 * maxblocks : 256;
		blocks = realloc(blocks, maxblocks * sizeof *blocks);
		FUZZ_ASSERT(blocks);
	}
	blocks[nblocks++] = p;
	return p;
}

static void *fuzz_malloc(size_t n) { return track(malloc(n)); }
static void *fuzz_calloc(size_t n, size_t size) { return track(calloc(n, size)); }
static void *fuzz_realloc(void *p, size_t n)
{
	void *q;
	size_t i = 0;

	if (!p)
		return fuzz_malloc(n);
	while (i < nblocks && blocks[i] != p)
		i++;
	FUZZ_ASSERT(i < nblocks);
	q = realloc(p, n);
	if (q)
		blocks[i] = q;
	return q;
}

static void free_all(void)
{
	while (nblocks)
		free(blocks[--nblocks]);
}

/* The image is a Singularity one: env scripts and /bin/sh are there. */
static int fuzz_access(const char *path, int mode)
{
	(void)path, (void)mode;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_fds_init();
	return 0;
}

static int fuzz_sh_name(const char *s, size_t n)
{
	if (!n || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

/* The value `NAME` ends with in `env` (NAME=VALUE strings), or NULL. */
static const char *lookup(char **env, const char *name, size_t n)
{
	const char *v = NULL;

	for (; *env; env++)
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			v = *env + n + 1;
	return v;
}

/* `v` in sh's single quotes, as the script must have it */
static char *sh_quoted(const char *v)
{
	char *q = malloc(strlen(v) * 4 + 3), *w = q;

	FUZZ_ASSERT(q);
	*w++ = '\'';
	for (; *v; v++)
		if (*v == '\'')
			w = stpcpy(w, "'\\''");
		else
			*w++ = *v;
	*w++ = '\'';
	*w = 0;
	return q;
}

/*
 * The wrapper: head, then `export NAME='...';` per forced variable, then
 * PATH's additions, `export PATH;`, vial's own "command not found" (with
 * the image's name quoted for sh) and `exec "$@"`. Read as sh reads it:
 * names sh accepts (dash and busybox sh stop the whole script at one they
 * refuse), values that come back exactly, and the same values as the
 * command's environment.
 */
static void check_script(const char *s, char **env, int gpu_libs, const char *image)
{
	static const char libs[] = "case :$LD_LIBRARY_PATH: in *:/.singularity.d/libs:*) ;; "
				   "*) export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}"
				   "/.singularity.d/libs;; esac; ";
	static const char head[] = "for f in /.singularity.d/env/*.sh; do "
				   "[ -f \"$f\" ] && . \"$f\"; done; ";
	size_t max = strlen(s) + 1, k = 0;
	char **names = malloc(max * sizeof *names), **vals = malloc(max * sizeof *vals);

	FUZZ_ASSERT(names && vals && !strncmp(s, head, sizeof head - 1));
	s += sizeof head - 1;
	for (; !strncmp(s, "export ", 7) && strncmp(s, "export PATH;", 12); k++) {
		const char *name = s + 7, *eq = strchr(name, '=');
		char *v = malloc(max);
		size_t n = 0;

		FUZZ_ASSERT(v && eq && eq[1] == '\'');
		if (!fuzz_sh_name(name, (size_t)(eq - name))) {
			fprintf(stderr, "==FUZZ== the script exports \"%.*s\", a name sh "
				"refuses (dash, busybox sh: the command never runs)\n",
				(int)(eq - name), name);
			FUZZ_ASSERT(!"a valid sh name");
		}
		for (s = eq + 2;;) {
			if (!strncmp(s, "'\\''", 4)) {
				v[n++] = '\'';
				s += 4;
			} else if (*s == '\'') {
				s++;
				break;
			} else {
				FUZZ_ASSERT(*s);
				v[n++] = *s++;
			}
		}
		v[n] = 0;
		FUZZ_ASSERT(*s++ == ';');
		names[k] = strndup(name, (size_t)(eq - name));
		vals[k] = v;
		FUZZ_ASSERT(names[k]);
	}
	/* then PREPEND_PATH and APPEND_PATH (quoted the same way), PATH, and
	 * with --nv, --rocm the driver's libraries after what the image's
	 * scripts set */
	{
		static const char path[] = "export PATH;", exec[] = "exec \"$@\"";
		static const char nf[] = "case $1 in */*) [ -e \"$1\" ];; *) command -v \"$1\" "
			">/dev/null;; esac || { printf '%s: %s: command not found in %s\\n' "
			"\"$0\" \"$1\" ";
		static const char nf_end[] = " >&2; exit 127; }; ";
		char *img = sh_quoted(image);
		size_t sl = strlen(s), tl = sizeof path - 1 + (gpu_libs ? sizeof libs - 1 : 0) +
					  sizeof nf - 1 + strlen(img) + sizeof nf_end - 1 +
					  sizeof exec - 1;
		const char *t = s + sl - tl;

		FUZZ_ASSERT(sl >= tl && !strncmp(t, path, sizeof path - 1));
		t += sizeof path - 1;
		if (gpu_libs) {
			FUZZ_ASSERT(!strncmp(t, libs, sizeof libs - 1));
			t += sizeof libs - 1;
		}
		FUZZ_ASSERT(!strncmp(t, nf, sizeof nf - 1));
		t += sizeof nf - 1;
		FUZZ_ASSERT(!strncmp(t, img, strlen(img)));
		t += strlen(img);
		FUZZ_ASSERT(!strncmp(t, nf_end, sizeof nf_end - 1));
		t += sizeof nf_end - 1;
		FUZZ_ASSERT(!strcmp(t, exec));
		free(img);
	}
	/* sh ends with the last value exported for each name: the env's */
	for (size_t i = 0; i < k; i++) {
		int later = 0;

		for (size_t j = i + 1; j < k; j++)
			later |= !strcmp(names[i], names[j]);
		if (!later) {
			const char *e = lookup(env, names[i], strlen(names[i]));
			FUZZ_ASSERT(e && !strcmp(e, vals[i]));
		}
	}
	while (k--) {
		free(names[k]);
		free(vals[k]);
	}
	free(names);
	free(vals);
}

/* What parse and choose_command accepted. */
static void check_launch(const struct launch *l, char **argv, int argc)
{
	int mount = 0;	/* --mount's paths may hold ':' and (CSV-quoted) ',', as Apptainer's */

	for (int i = 1; i < argc; i++)
		mount |= !strncmp(argv[i], "--mount", 7);
	for (size_t i = 0; i < l->nbinds; i++) {
		const struct bind *b = &l->binds[i];
		FUZZ_ASSERT(b->src[0] == '/' && b->dst[0] == '/' && (b->ro == 0 || b->ro == 1));
		FUZZ_ASSERT(mount || (!strchr(b->src, ',') && !strchr(b->dst, ',')));
		FUZZ_ASSERT(mount || (!strchr(b->src, ':') && !strchr(b->dst, ':')));
	}
	if (l->home_src)
		FUZZ_ASSERT(l->home_src[0] == '/' && l->home_dst[0] == '/');
	for (size_t i = 0; i < l->nsetenv; i++)
		FUZZ_ASSERT(l->setenv[i][0] != '=' && strchr(l->setenv[i], '='));
	if (l->img.path) {
		int found = 0;
		for (int i = 1; i < argc; i++)
			found |= l->img.path == argv[i];
		FUZZ_ASSERT(found);
	}
}

/* The command's environment: NAME=VALUE, each name once, forced values. */
static void check_env(const struct launch *l, char **env)
{
	for (size_t i = 0; env[i]; i++) {
		const char *eq = strchr(env[i], '=');
		FUZZ_ASSERT(eq);	/* "=x" from the caller passes as it came */
		for (size_t j = 0; j < i; j++)
			FUZZ_ASSERT(strncmp(env[j], env[i], (size_t)(eq - env[i]) + 1));
	}
	FUZZ_ASSERT(lookup(env, "HOME", 4));
	for (size_t i = 0; i < l->nsetenv; i++) {
		const char *eq = strchr(l->setenv[i], '=');
		size_t n = (size_t)(eq - l->setenv[i]);
		int later = 0;

		for (size_t j = i + 1; j < l->nsetenv; j++)
			later |= !strncmp(l->setenv[j], l->setenv[i], n + 1);
		if (later)
			continue;
		/* --env PREPEND_PATH=, APPEND_PATH= extend PATH, as Apptainer's
		 * do: no variable of that name is set */
		if ((n == 12 && !strncmp(l->setenv[i], "PREPEND_PATH", n)) ||
		    (n == 11 && !strncmp(l->setenv[i], "APPEND_PATH", n)))
			continue;
		/* --env X=Y is the last word on X; with --nv/--rocm the driver's
		 * libraries come after the caller's LD_LIBRARY_PATH */
		if ((l->nv || l->rocm) && n == 15 && !strncmp(l->setenv[i], "LD_LIBRARY_PATH", n)) {
			const char *v = lookup(env, "LD_LIBRARY_PATH", 15);
			size_t m = strlen(eq + 1);
			FUZZ_ASSERT(v && !strncmp(v, eq + 1, m) &&
				    !strcmp(v + m, m ? ":/.singularity.d/libs" : "/.singularity.d/libs"));
			continue;
		}
		FUZZ_ASSERT(!strcmp(lookup(env, l->setenv[i], n), eq + 1));
	}
	if (l->nv || l->rocm) {
		const char *v = lookup(env, "LD_LIBRARY_PATH", 15);
		size_t m = v ? strlen(v) : 0;
		FUZZ_ASSERT(m >= 20 && !strcmp(v + m - 20, "/.singularity.d/libs"));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct launch l;
	static char *buf, **argv, **envp;
	static int argc;
	char **wrapped, **cmdenv;
	size_t nenvp = 0;
	int in_env = 0;

	buf = malloc(len + 1);
	argv = malloc((len + 3) * sizeof *argv);
	envp = malloc((len + 2) * sizeof *envp);
	FUZZ_ASSERT(buf && argv && envp);
	memcpy(buf, data, len);
	buf[len] = 0;
	argv[0] = "vial";
	argc = 1;
	/* the arguments, then after a "\1" the environment */
	for (char *p = buf, *end = buf + len; p < end; p += strlen(p) + 1) {
		if (!in_env && !strcmp(p, "\1"))
			in_env = 1;
		else if (in_env)
			envp[nenvp++] = p;
		else
			argv[argc++] = p;
	}
	argv[argc] = NULL;
	envp[nenvp] = NULL;
	memset(&l, 0, sizeof l);
	env = NULL, nenv = 0, forced = NULL, nforced = 0;	/* env.c's */
	l.img.fd = l.loop.fd = -1;
	l.envp = envp;
	verbose = 0;
	fuzz_arm();
	if (setjmp(fuzz_jmp)) {
		fuzz_fds_reset();	/* a die() skips closes: vial exits there */
		goto done;	/* refused, with a checked message */
	}
	cli_parse(argc, argv, &l);
	if (!l.verb || l.help ||
	    (strcmp(l.verb, "exec") && strcmp(l.verb, "run") && strcmp(l.verb, "shell")))
		goto done;	/* no verb (the usage), --help, verbs that run nothing */
	if (!l.img.path)
		goto done;	/* cli_parse refuses it first */
	choose_command(&l);
	fuzz_disarm();
	check_launch(&l, argv, argc);

	cmdenv = env_build(&l);
	check_env(&l, cmdenv);
	wrapped = env_wrap(l.argv);
	FUZZ_ASSERT(!strcmp(wrapped[0], "/bin/sh") && !strcmp(wrapped[1], "-c"));
	FUZZ_ASSERT(!strcmp(wrapped[3], progname));
	check_script(wrapped[2], cmdenv, l.nv || l.rocm, l.img.path);
done:
	fuzz_disarm();
	free_all();
	FUZZ_ASSERT(fuzz_fds_reset() == 0);
	free(buf);
	free(argv);
	free(envp);
	return 0;
}
