/*
 * The command line, as Singularity's and Apptainer's: one table of
 * options (describe), then one loop that applies them (execute), so a job
 * script or workflow engine written for `singularity exec` runs unchanged.
 * Called as singularity, apptainer or run-singularity (a link), vial
 * answers --version as Apptainer does. Everything here runs as the caller
 * (euid = user): an --env-file is read with the caller's rights.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vial.h"

/* before the verb (global), after exec|run|shell (and instance start), inspect,
 * run-help, a verb without options, instance list, instance stop */
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

static int persona;		/* called as singularity, apptainer or run-singularity */

static void *grow(void *p, size_t n, size_t size)
{
	p = realloc(p, (n + 1) * size);
	if (!p)
		die("out of memory");
	return p;
}

/*
 * Memory the launch keeps to its end (vial is short-lived), chained from
 * here: a string stored in a grown array stays reachable for the
 * analyzer, which does not follow realloc's copy.
 */
static char *kept(size_t n)
{
	static struct chunk { struct chunk *next; char s[]; } *chunks;
	struct chunk *c = malloc(sizeof *c + n);

	if (!c)
		die("out of memory");
	c->next = chunks;
	chunks = c;
	return c->s;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		die("out of memory");
	return d;
}

/*
 * Split `s` in place at commas as Go's encoding/csv does (what Apptainer's
 * --env and --mount use): a field in double quotes may hold commas, ""
 * inside quotes is one quote. Returns the number of fields put in f.
 */
static size_t csv_split(char *s, char **f, size_t max)
{
	size_t n = 0;
	char *w = s;
	int q = 0;

	f[n++] = w;
	for (char *r = s; *r; r++) {
		if (*r == '"' && q && r[1] == '"')
			*w++ = *r++;
		else if (*r == '"')
			q = !q;
		else if (*r == ',' && !q) {
			*w++ = 0;
			if (n == max)
				die("too many fields in %s", s);
			f[n++] = w;
		} else
			*w++ = *r;
	}
	*w = 0;
	return n;
}

/*
 * A relative bind source (-B .:/work, -B data:/d), as Singularity and
 * Apptainer take it: from the working directory. Only the name is made
 * absolute here; it is opened later, as every source, with the caller's
 * rights (symlinks and ".." resolved by the kernel, not by vial).
 */
static const char *absolute(const char *src)
{
	char cwd[PATH_MAX], *p;

	if (src[0] == '/')
		return src;
	if (!getcwd(cwd, sizeof cwd))
		die_errno("bind %s: a relative source, and the working directory", src);
	while (src[0] == '.' && src[1] == '/')
		src += 2 + strspn(src + 2, "/");
	if (!strcmp(src, "."))
		src = "";
	p = kept(strlen(cwd) + strlen(src) + 2);
	sprintf(p, "%s%s%s", cwd, *src && strcmp(cwd, "/") ? "/" : "", src);
	return p;
}

static void add_bind(struct launch *l, const char *src, const char *dst, int ro)
{
	struct bind *x;

	if (!*src)
		die("bind :%s: no source", dst);
	if (dst[0] != '/' && dst != src)
		die("bind %s: the destination %s must be absolute", src, dst);
	src = dst == src ? (dst = absolute(src)) : absolute(src);
	l->binds = grow(l->binds, l->nbinds, sizeof *l->binds);
	x = &l->binds[l->nbinds++];
	x->src = src;
	x->dst = dst;
	x->ro = ro;
}

/* -B src[:dst[:ro|rw]][,src2...] as Singularity reads it. */
static void opt_bind(struct launch *l, const struct opt *o, char *arg)
{
	char *save = NULL, *dst, *mode;

	(void)o;
	for (char *b = strtok_r(arg, ",", &save); b; b = strtok_r(NULL, ",", &save)) {
		int ro = 0;
		if ((dst = strchr(b, ':'))) {
			*dst++ = 0;
			if ((mode = strchr(dst, ':'))) {
				*mode++ = 0;
				if (strcmp(mode, "ro") && strcmp(mode, "rw"))
					die("bind %s: unknown mode %s (ro or rw)", b, mode);
				ro = !strcmp(mode, "ro");
			}
		}
		add_bind(l, b, dst && *dst ? dst : b, ro);
	}
}

/* --mount type=bind,source=SRC,target=DST[,readonly]: Docker's syntax. */
static void opt_mount(struct launch *l, const struct opt *o, char *arg)
{
	char *f[16], *src = NULL, *dst = NULL;
	size_t n = csv_split(arg, f, LEN(f));
	int ro = 0, bind = 0;

	(void)o;
	for (size_t i = 0; i < n; i++) {
		char *v = strchr(f[i], '=');
		if (v)
			*v++ = 0;
		if (!strcmp(f[i], "type") && v)
			bind = !strcmp(v, "bind");
		else if ((!strcmp(f[i], "source") || !strcmp(f[i], "src")) && v)
			src = v;
		else if ((!strcmp(f[i], "target") || !strcmp(f[i], "destination") ||
			  !strcmp(f[i], "dst")) && v)
			dst = v;
		else if (!strcmp(f[i], "readonly") || !strcmp(f[i], "ro"))
			ro = !v || !strcmp(v, "true") || !strcmp(v, "1");
		else
			die("--mount: unknown field %s (type=bind,source=,target=,readonly)", f[i]);
	}
	if (!bind || !src || !dst)
		die("--mount: vial needs type=bind, source= and target=");
	add_bind(l, src, dst, ro);
}

static void opt_home(struct launch *l, const struct opt *o, char *arg)
{
	char *dst = strchr(arg, ':');

	(void)o;
	if (dst)
		*dst++ = 0;
	l->home_src = arg;
	l->home_dst = dst && *dst ? dst : arg;
	if (arg[0] != '/' || l->home_dst[0] != '/')
		die("home %s: paths must be absolute", arg);
}

static void add_env(const char ***v, size_t *n, const char *what, char *e)
{
	if (!strchr(e, '=') || e[0] == '=')
		die("%s %s: expected NAME=VALUE", what, e);
	*v = grow(*v, *n, sizeof **v);
	(*v)[(*n)++] = e;
}

/*
 * --env A=1,B=2 as Apptainer (pflag's StringToString) reads it: one "="
 * is one variable, commas and all; more are comma-separated, CSV-quoted.
 */
static void opt_env(struct launch *l, const struct opt *o, char *arg)
{
	char *f[256];
	size_t n;

	(void)o;
	if (strchr(arg, '=') == strrchr(arg, '=')) {
		arg += *arg == '"';
		if (*arg && arg[strlen(arg) - 1] == '"')
			arg[strlen(arg) - 1] = 0;
		add_env(&l->setenv, &l->nsetenv, "--env", arg);
		return;
	}
	n = csv_split(arg, f, LEN(f));
	for (size_t i = 0; i < n; i++)
		add_env(&l->setenv, &l->nsetenv, "--env", f[i]);
}

/* One line of an --env-file: NAME=VALUE, "export " and one pair of quotes allowed. */
static void env_line(struct launch *l, const char *file, char *s)
{
	char *v;
	size_t n;

	s[strcspn(s, "\r\n")] = 0;
	s += strspn(s, " \t");
	if (!*s || *s == '#')
		return;
	if (!strncmp(s, "export ", 7))
		s += 7 + strspn(s + 7, " \t");
	if (!(v = strchr(s, '=')) || v == s)
		die("--env-file %s: expected NAME=VALUE, got %s", file, s);
	v++;
	n = strlen(v);
	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		memmove(v, v + 1, n - 2);
		v[n - 2] = 0;
	}
	add_env(&l->fileenv, &l->nfileenv, "--env-file", xstrdup(s));
}

/* Read with the caller's own rights: vial's euid is theirs here. */
static void opt_env_file(struct launch *l, const struct opt *o, char *arg)
{
	FILE *f = fopen(arg, "re");
	char *line = NULL;
	size_t cap = 0;

	(void)o;
	if (!f)
		die_errno("--env-file %s", arg);
	errno = 0;
	while (getline(&line, &cap, f) >= 0)
		env_line(l, arg, line);
	if (errno || ferror(f))
		die_errno("--env-file %s", arg);
	fclose(f);
	free(line);
}

static void opt_no_mount(struct launch *l, const struct opt *o, char *arg)
{
	static const struct { const char *name; unsigned bit; } what[] = {
		{ "hostfs", 0 }, { "home", NM_HOME }, { "cwd", NM_CWD }, { "tmp", NM_TMP },
		{ "dev", NM_DEV }, { "devpts", NM_DEVPTS }, { "sys", NM_SYS },
	};
	char *save = NULL;

	(void)o;
	for (char *m = strtok_r(arg, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		size_t i = 0, found = 0;
		/* vial closes its fds through /proc/self/fd after the pivot */
		if (!strcmp(m, "proc"))
			die("--no-mount proc: not supported: vial needs the container's /proc");
		for (; i < LEN(what) && strcmp(m, what[i].name); i++)
			;
		if (i < LEN(what)) {
			l->no_mount |= what[i].bit;
			continue;
		}
		/* bind-paths: the site's default binds; or one of them by destination */
		for (i = 0; i < policy.nbinds && i < 64; i++)
			if (!strcmp(m, "bind-paths") || !strcmp(m, policy.binds[i].dst))
				l->no_site |= (uint64_t)1 << i, found = 1;
		if (!found && strcmp(m, "bind-paths"))
			die("--no-mount %s: unknown (hostfs, home, cwd, tmp, dev, devpts, sys, "
			    "bind-paths or a default bind's destination)", m);
	}
	if (l->no_mount & NM_HOME)
		l->no_home = 1;
}

/* A uid or gid of target mode: digits only, and not -1 (which means "unchanged"). */
static unsigned target_id(const char *what, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || s[0] == '-' || s[0] == '+' || errno || v >= (unsigned long)(uid_t)-1)
		die("%s %s: expected a number", what, s);
	return (unsigned)v;
}

/* gid:N[:M...]: the primary group, then supplementary ones. */
static void target_gids(struct launch *l, const char *what, char *list)
{
	char *save = NULL;

	l->ntarget = 0;
	for (char *g = strtok_r(list, ":", &save); g; g = strtok_r(NULL, ":", &save)) {
		if (l->ntarget == (int)LEN(l->target))
			die("%s: more than %zu groups", what, LEN(l->target));
		l->target[l->ntarget++] = target_id(what, g);
	}
	if (!l->ntarget)
		die("%s: no group given", what);
}

/*
 * Target mode (root only): run as uid N with groups G... The uid and gid
 * come together (as in 2.x): vial runs no one's command with root's
 * group by default. Checked once the whole command line is read.
 */
static void target_check(struct launch *l, const char *what)
{
	if (!l->target_uid_set && !l->ntarget)
		return;
	if (priv_user()->uid != 0)
		die("%s: only root may run a command as another user", what);
	if (!l->target_uid_set || !l->ntarget)
		die("%s: a target user needs both a uid and a gid", what);
}

/* Apptainer's --security uid:N,gid:N[:M...]; no seccomp, AppArmor or SELinux profiles. */
static void opt_security(struct launch *l, const struct opt *o, char *arg)
{
	char *save = NULL;

	for (char *f = strtok_r(arg, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		if (!strncmp(f, "uid:", 4)) {
			l->target_uid = target_id("--security uid:", f + 4);
			l->target_uid_set = 1;
		} else if (!strncmp(f, "gid:", 4)) {
			target_gids(l, "--security gid:", f + 4);
		} else {
			die("%s: --%s %s: not supported: vial has no seccomp, AppArmor or "
			    "SELinux profiles (only uid:N and gid:N[:M...], for root)", l->verb,
			    o->name, f);
		}
	}
}

/* 2.x's SINGULARITY_TARGET_UID and _GID, where no --security named a user. */
static void target_from_env(struct launch *l)
{
	const char *u = env_get(l->envp, "SINGULARITY_TARGET_UID");
	const char *g = env_get(l->envp, "SINGULARITY_TARGET_GID");

	if (l->target_uid_set || l->ntarget) {
		target_check(l, "--security");
		return;
	}
	if (u) {
		l->target_uid = target_id("SINGULARITY_TARGET_UID", u);
		l->target_uid_set = 1;
	}
	if (g)
		target_gids(l, "SINGULARITY_TARGET_GID", xstrdup(g));
	target_check(l, u ? "SINGULARITY_TARGET_UID" : "SINGULARITY_TARGET_GID");
}

static void opt_network(struct launch *l, const struct opt *o, char *arg)
{
	(void)o;
	if (strcmp(arg, "none"))
		die("--network %s: vial makes only an isolated network namespace "
		    "(--network none: loopback only)", arg);
	l->net = 1;
}

static void opt_string(struct launch *l, const struct opt *o, char *arg)
{
	*(const char **)((char *)l + o->flag) = arg;
}

static void set_verbose(struct launch *l, const struct opt *o, char *arg)
{
	(void)l, (void)o, (void)arg;
	verbose = 1;
}

static void set_quiet(struct launch *l, const struct opt *o, char *arg)
{
	(void)l, (void)o, (void)arg;
	quiet = 1;
}

/* --version, --help before a verb; VERB --help: that verb's help. */
static void set_verb(struct launch *l, const struct opt *o, char *arg)
{
	(void)arg;
	if (l->verb)
		l->help = 1;
	else
		l->verb = !strcmp(o->name, "version") ? "--version" : "help";
}

static void set_containall(struct launch *l, const struct opt *o, char *arg)
{
	(void)o, (void)arg;
	l->contain = l->pid = l->ipc = l->cleanenv = 1;
}

static void set_compat(struct launch *l, const struct opt *o, char *arg)
{
	set_containall(l, o, arg);
	l->writable_tmpfs = 1;
	l->umask = 022;
}

static void set_no_umask(struct launch *l, const struct opt *o, char *arg)
{
	(void)o, (void)arg;
	l->umask = 022;
}

static void set_inspect(struct launch *l, const struct opt *o, char *arg)
{
	(void)arg;
	l->inspect |= strcmp(o->name, "json") ? inspect_bit(o->name) : INSPECT_JSON;
}

static void refuse(struct launch *l, const struct opt *o, char *arg)
{
	(void)arg;
	if (l->verb)
		die("%s: --%s: %s", l->verb, o->name, o->help);
	die("--%s: %s", o->name, o->help);
}

#define F(field) offsetof(struct launch, field)
#define ACCEPTED "(accepted; vial has nothing to change)"
static const struct opt opts[] = {
	/* before the verb: vial -q exec ... */
	{ "debug", 'd', G, NULL, 0, set_verbose, "say what vial does, on stderr" },
	{ "verbose", 'v', G | A, NULL, 0, set_verbose, "say what vial does, on stderr" },
	{ "quiet", 'q', G, NULL, 0, set_quiet, "print no warnings, only errors" },
	{ "silent", 's', G, NULL, 0, set_quiet, "the same as --quiet" },
	{ "nocolor", 0, G, NULL, 0, NULL, ACCEPTED },
	{ "help", 'h', G | A | I | H | N, NULL, 0, set_verb, "this help" },
	{ "version", 0, G, NULL, 0, set_verb, "the version (Apptainer's, called so)" },
	{ "config", 'c', G, "FILE", 0, refuse,
	  "vial has no configuration file: its policy is compiled in (vial config)" },
	/* after exec, run, shell */
	{ "bind", 'B', A, "SRC[:DST[:ro|rw]],...", 0, opt_bind,
	  "bind a host path (also SINGULARITY_BIND ...)" },
	{ "mount", 0, A, "type=bind,src=S,dst=D[,ro]", 0, opt_mount, "a bind in Docker's syntax" },
	{ "home", 'H', A, "SRC[:DST]", 0, opt_home, "yours, or one you can write, or the cwd" },
	{ "no-home", 0, A, NULL, F(no_home), NULL, "bind no home" },
	{ "contain", 'c', A, NULL, F(contain), NULL,
	  "minimal /dev, private /tmp, /var/tmp, home" },
	{ "containall", 'C', A, NULL, 0, set_containall, "--contain --pid --ipc --cleanenv" },
	{ "workdir", 'W', A, "DIR", F(workdir), opt_string,
	  "--contain's /tmp, /var/tmp and home in DIR" },
	{ "no-mount", 0, A, "LIST", 0, opt_no_mount,
	  "leave out home,cwd,tmp,dev,devpts,sys,\n"
	  "                               bind-paths (the site's binds) or one DST" },
	{ "writable-tmpfs", 0, A, NULL, F(writable_tmpfs), NULL,
	  "the root writable, in memory, for this run" },
	{ "cleanenv", 'e', A, NULL, F(cleanenv), NULL,
	  "only HOME TERM USER, proxies, LANG=C, PATH" },
	{ "env", 0, A, "X=Y,...", 0, opt_env, "set X inside (also SINGULARITYENV_X=Y)" },
	{ "env-file", 0, A, "FILE", 0, opt_env_file, "set X=Y lines of FILE inside" },
	{ "no-eval", 0, A, NULL, 0, NULL, "(accepted: vial never evaluates a value)" },
	{ "pid", 'p', A, NULL, F(pid), NULL, "new PID namespace: vial's init is PID 1" },
	{ "no-init", 0, A, NULL, 0, NULL, ACCEPTED },
	{ "ipc", 'i', A, NULL, F(ipc), NULL, "new IPC namespace" },
	{ "net", 'n', A, NULL, F(net), NULL, "new network namespace with only loopback" },
	{ "network", 0, A, "none", 0, opt_network, "the same as --net; no other type" },
	{ "hostname", 0, A, "NAME", F(hostname), opt_string, "new UTS namespace with this name" },
	{ "pwd", 0, A, "DIR", F(pwd), opt_string, "working directory inside" },
	{ "shell", 's', A, "SHELL", F(shell), opt_string,
	  "for shell (also APPTAINER_SHELL)" },
	{ "nv", 0, A, NULL, F(nv), NULL, "the host's NVIDIA driver inside" },
	{ "rocm", 0, A, NULL, F(rocm), NULL, "the host's AMD ROCm driver inside" },
	{ "no-umask", 0, A, NULL, 0, set_no_umask, "umask 0022 inside, not yours" },
	{ "compat", 0, A, NULL, 0, set_compat, "--containall --writable-tmpfs --no-umask" },
	{ "no-privs", 0, A, NULL, 0, NULL, "(accepted: vial always drops every privilege)" },
	{ "drop-caps", 0, A, "CAPS", 0, NULL, "(accepted: vial always drops every capability)" },
	/* after inspect: the image's metadata, as Apptainer prints it */
	{ "labels", 'l', I, NULL, 0, set_inspect, "labels (/.singularity.d/labels.json)" },
	{ "runscript", 'r', I, NULL, 0, set_inspect, "the runscript" },
	{ "environment", 'e', I, NULL, 0, set_inspect, "/.singularity.d/env/90-environment.sh" },
	{ "deffile", 'd', I, NULL, 0, set_inspect, "the definition file it was built from" },
	{ "helpfile", 'H', I, NULL, 0, set_inspect, "the runscript's help" },
	{ "test", 't', I, NULL, 0, set_inspect, "the test script" },
	{ "json", 'j', I, NULL, 0, set_inspect, "as Apptainer's JSON" },
	/* after instance list, instance stop */
	{ "json", 'j', L, NULL, F(inst.json), NULL, "list: as Apptainer's JSON" },
	{ "logs", 'l', L, NULL, F(inst.logs), NULL, "list: the paths of the logs" },
	{ "all", 'a', S, NULL, F(inst.all), NULL, "stop: every instance of yours" },
	{ "signal", 's', S, "SIGNAL", F(inst.signal), opt_string,
	  "stop: send SIGNAL (default TERM), wait" },
	{ "timeout", 't', S, "SECONDS", F(inst.timeout), opt_string,
	  "stop: then SIGKILL (default 10)" },
	{ "force", 'F', S, NULL, F(inst.force), NULL, "stop: SIGKILL at once" },
	/* what vial cannot honour: one line saying why */
	{ "userns", 'u', A, NULL, 0, refuse, "not supported: vial is setuid root and makes "
	  "no user namespace" },
	{ "fakeroot", 'f', A, NULL, 0, refuse, "not supported: vial runs commands as you, "
	  "never as root" },
	{ "writable", 'w', A, NULL, 0, refuse, "not supported: images are mounted read-only "
	  "(see --writable-tmpfs)" },
	{ "overlay", 'o', A, "IMAGE", 0, refuse, "not supported: vial mounts no overlay image" },
	{ "add-caps", 0, A, "CAPS", 0, refuse, "not supported: vial drops every capability" },
	{ "keep-privs", 0, A, NULL, 0, refuse, "not supported: vial drops every privilege" },
	{ "allow-setuid", 0, A, NULL, 0, refuse, "not supported: every mount is nosuid" },
	{ "security", 0, A, "uid:N,gid:N[:M...]", 0, opt_security,
	  "(root only) run as that user and groups" },
	{ "network-args", 0, A, "ARGS", 0, refuse, "not supported: vial's network is loopback only" },
	{ "app", 0, A | H, "NAME", 0, refuse, "not supported: vial runs no SCIF apps" },
	{ "scratch", 'S', A, "DIR", 0, refuse, "not supported: bind a directory with -B" },
};
#undef F

static const struct opt *find(int scope, const char *name, size_t n, char letter)
{
	for (size_t i = 0; i < LEN(opts); i++) {
		if (!(opts[i].scope & scope))
			continue;
		if (letter ? opts[i].letter == letter
			   : strlen(opts[i].name) == n && !strncmp(opts[i].name, name, n))
			return &opts[i];
	}
	return NULL;
}

/* --flag=VALUE: Go's strconv.ParseBool, as Apptainer's flags take it. */
static int boolean(const char *name, const char *v)
{
	static const char *yes[] = { "1", "t", "T", "true", "TRUE", "True" };
	static const char *no[] = { "0", "f", "F", "false", "FALSE", "False" };

	for (size_t i = 0; i < LEN(yes); i++) {
		if (!strcmp(v, yes[i]))
			return 1;
		if (!strcmp(v, no[i]))
			return 0;
	}
	die("--%s=%s: expected true or false", name, v);
}

/* A flag is set, or with =false left as it was (off: every flag's default). */
static void apply(struct launch *l, const struct opt *o, char *value, int on)
{
	if (!on)
		return;
	if (o->flag && !o->value)
		*(int *)((char *)l + o->flag) = 1;
	if (o->set)
		o->set(l, o, value);
}

static _Noreturn void unknown(const struct launch *l, const char *arg)
{
	if (l->verb)
		die("%s: unknown option %s (see %s help)", l->verb, arg, cmdname);
	die("unknown option %s (see %s help)", arg, cmdname);
}

static char *need(const struct opt *o, char *arg)
{
	if (!arg)
		die("--%s needs an argument (%s)", o->name, o->value);
	return arg;
}

/* --name[=value] */
static int opt_long(struct launch *l, int scope, char **argv)
{
	char *eq = strchr(argv[0], '=');
	size_t n = eq ? (size_t)(eq - argv[0] - 2) : strlen(argv[0] + 2);
	const struct opt *o = find(scope, argv[0] + 2, n, 0);

	if (!o)
		unknown(l, argv[0]);
	if (!o->value) {
		apply(l, o, NULL, eq ? boolean(o->name, eq + 1) : 1);
		return 1;
	}
	apply(l, o, eq ? eq + 1 : need(o, argv[1]), 1);
	return eq ? 1 : 2;
}

/* -abc, -Bsrc, -B src, -B=src: as Go's pflag reads short options */
static int opt_short(struct launch *l, int scope, char **argv)
{
	char bad[3] = "-";

	for (char *c = argv[0] + 1; *c; c++) {
		const struct opt *o = find(scope, NULL, 0, *c);
		if (!o) {
			bad[1] = *c;
			unknown(l, c == argv[0] + 1 ? argv[0] : bad);
		}
		if (!o->value) {
			apply(l, o, NULL, 1);
			continue;
		}
		if (c[1]) {
			apply(l, o, c + 1 + (c[1] == '='), 1);
			return 1;
		}
		apply(l, o, need(o, argv[1]), 1);
		return 2;
	}
	return 1;
}

static int opt_one(struct launch *l, int scope, char **argv)
{
	if (argv[0][1] == '-')
		return opt_long(l, scope, argv);
	return opt_short(l, scope, argv);
}

/*
 * Would `apptainer` here run vial itself? Called as singularity or
 * apptainer, or the first apptainer on the caller's PATH is this very
 * file (make install LINKS=1). Looked up as the caller.
 */
static int apptainer_is_vial(char **envp)
{
	const char *path = env_get(envp, "PATH");
	char buf[PATH_MAX];
	struct stat me, st;

	if (persona)
		return 1;
	if (!path || stat("/proc/self/exe", &me))
		return 0;
	for (const char *p = path;; p++) {
		size_t n = strcspn(p, ":");
		int len = snprintf(buf, sizeof buf, "%.*s/apptainer", (int)n, p);
		if (n && (size_t)len < sizeof buf && stat(buf, &st) == 0)
			return st.st_dev == me.st_dev && st.st_ino == me.st_ino;
		p += n;
		if (!*p)
			return 0;
	}
}

/* docker://, library://, oras://, shub://, http(s)://: not vial's business. */
static void refuse_uri(const char *path, char **envp)
{
	const char *p = strstr(path, "://"), *name;
	char sif[NAME_MAX + 1];

	if (!p || p == path || strspn(path, "abcdefghijklmnopqrstuvwxyz0123456789+.-") !=
	    (size_t)(p - path))
		return;
	name = strrchr(p + 3, '/') ? strrchr(p + 3, '/') + 1 : p + 3;
	snprintf(sif, sizeof sif, "%.*s.sif", (int)strcspn(name, "@"), *name ? name : "image");
	if (strlen(sif) > 8 && !strcmp(sif + strlen(sif) - 8, ".sif.sif"))
		sif[strlen(sif) - 4] = 0;	/* https://host/x.sif: x.sif */
	for (char *c = sif; *c; c++)
		*c = *c == ':' ? '_' : *c;
	/* `apptainer build` would be vial again, which builds nothing */
	if (apptainer_is_vial(envp))
		die("%s: vial runs local image files only, and builds none: build %s "
		    "where Apptainer is installed, or make an image with mksquashfs", path, sif);
	die("%s: vial runs local image files only; build one with "
	    "`apptainer build %s %s` or mksquashfs", path, sif, path);
}

/* The variables vial honours, from the caller's environment (as the caller). */
static void from_env(struct launch *l)
{
	static const char *binds[] = { "SINGULARITY_BIND", "SINGULARITY_BINDPATH",
				       "APPTAINER_BIND", "APPTAINER_BINDPATH" };
	const char *v;

	for (size_t i = 0; i < LEN(binds); i++)
		if ((v = env_get(l->envp, binds[i])) && *v)
			opt_bind(l, NULL, xstrdup(v));
	if (!l->shell && (v = env_get(l->envp, "APPTAINER_SHELL")) && *v)
		l->shell = v;
	if (!l->shell && (v = env_get(l->envp, "SINGULARITY_SHELL")) && *v)
		l->shell = v;
	target_from_env(l);
}

/*
 * The verbs, for parsing and help; main.c's table runs them. A verb is
 * one line here and one there.
 */
static const struct verb {
	const char *name;
	int scope;		/* its options */
	const char *args;	/* after [options] */
	const char *what;
} verbs[] = {
	{ "exec", A, "IMAGE COMMAND [ARG...]", "run COMMAND (found in the image's PATH)" },
	{ "run", A, "IMAGE [ARG...]",
	  "run /.singularity.d/runscript (else /singularity) with ARGs" },
	{ "shell", A, "IMAGE [ARG...]",
	  "run SHELL, else /bin/bash --norc, else /bin/sh, with ARGs" },
	{ "inspect", I, "IMAGE", "no options: its format (never mounted); else its metadata" },
	{ "run-help", H, "IMAGE", "the runscript's help (/.singularity.d/runscript.help)" },
	{ "instance", A | L | S, "start [options] IMAGE NAME [ARG...] | list [--json | --logs] "
	  "[NAME] | stop [-s SIGNAL] [-t SECONDS] [-F] NAME | --all",
	  "instances, as Apptainer's (then exec|run|shell instance://NAME [ARG...])" },
	{ "config", N, "", "the compiled-in site policy" },
	{ "version", N, "", "version and build facts" },
	{ "help", N, "[VERB | IMAGE]", "this help, a verb's, or (as 2.x) an image's run-help" },
};

/* Singularity's and Apptainer's other verbs: one line each, saying why not. */
#define BUILD_ELSEWHERE "build images where Apptainer is installed"
#define LOCAL_ONLY "vial runs local image files only; pull images where Apptainer is installed"
static const struct { const char *name, *why; } not_here[] = {
	{ "build", BUILD_ELSEWHERE }, { "bootstrap", BUILD_ELSEWHERE },
	{ "create", BUILD_ELSEWHERE }, { "import", BUILD_ELSEWHERE },
	{ "export", "unpack images with unsquashfs" }, { "image.create", BUILD_ELSEWHERE },
	{ "image.import", BUILD_ELSEWHERE }, { "image.export", "unpack images with unsquashfs" },
	{ "image.expand", BUILD_ELSEWHERE }, { "pull", LOCAL_ONLY }, { "push", LOCAL_ONLY },
	{ "search", LOCAL_ONLY }, { "delete", LOCAL_ONLY }, { "remote", LOCAL_ONLY },
	{ "cache", "vial keeps no image cache" },
	{ "sign", "vial neither signs nor verifies images" },
	{ "verify", "vial neither signs nor verifies images" },
	{ "key", "vial neither signs nor verifies images" },
	{ "keys", "vial neither signs nor verifies images" },
	{ "test", "run the image's test script with exec IMAGE /.singularity.d/test" },
	{ "apps", "vial runs no SCIF apps" }, { "oci", "vial runs no OCI bundles" },
	{ "overlay", "vial mounts no overlay images (see --writable-tmpfs)" },
	{ "sif", "use siftool" }, { "plugin", "vial has no plugins" },
	{ "capability", "vial gives no capabilities" },
	{ "checkpoint", "vial makes no checkpoints" },
	{ "mount", "vial mounts images only for a run" },
	{ "check", "vial has no checks of that kind" },
	{ "selftest", "vial's tests are its source tree's make check" },
	{ "completion", "vial has no shell completion" },
};

static const struct verb *verb_find(const char *name)
{
	for (size_t i = 0; i < LEN(verbs); i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

/* Is `name` a verb vial runs? */
int cli_verb(const char *name)
{
	return name && verb_find(name);
}

/* Not a verb vial runs: one line, before any of its options is read. */
static _Noreturn void verb_refuse(const char *name)
{
	for (size_t i = 0; i < LEN(not_here); i++)
		if (!strcmp(not_here[i].name, name))
			die("%s: not supported here; %s", name, not_here[i].why);
	die("unknown command %s (see %s help)", name, cmdname);
}

static int called_as(const char *argv0, const char *name)
{
	const char *b = strrchr(argv0, '/');

	return !strcmp(b ? b + 1 : argv0, name);
}

/*
 * Linked as singularity, apptainer or run-singularity, vial answers as
 * Apptainer: its messages start "singularity (vial): ", shell's prompt
 * is Singularity's or Apptainer's. Only these fixed names are used: the
 * caller chooses argv[0].
 */
static void persona_set(const char *argv0, struct launch *l)
{
	static const char *const names[] = { "singularity", "apptainer", "run-singularity" };
	static char prefix[32];

	for (size_t i = 0; i < LEN(names); i++) {
		if (!called_as(argv0, names[i]))
			continue;
		persona = 1;
		snprintf(prefix, sizeof prefix, "%s (vial)", names[i]);
		progname = prefix;
		cmdname = i == 1 ? "apptainer" : "singularity";
	}
	l->prompt = !persona ? "vial> " : !strcmp(cmdname, "apptainer") ? "Apptainer> "
								     : "Singularity> ";
}

/*
 * [global options] VERB [options] IMAGE [command...]; run-singularity IMAGE
 * [args]. No verb: l->verb stays NULL (main prints the usage).
 */
/* instance start|list|stop: what it does (instance.c judges it); the
 * arguments it took. */
static int instance_op(struct launch *l, int argc, char **argv)
{
	if (strcmp(l->verb, "instance") || !argc || argv[0][0] == '-')
		return 0;
	l->inst.op = argv[0];
	return 1;
}

/* Which options follow the verb: instance's depend on what it does. */
static int scope(const struct launch *l, const struct verb *v)
{
	if (!l->inst.op)
		return v->scope;
	return !strcmp(l->inst.op, "list") ? L : !strcmp(l->inst.op, "stop") ? S : A;
}

void cli_parse(int argc, char **argv, struct launch *l)
{
	const struct verb *v;
	int i = 1;

	persona_set(argv[0], l);
	if (called_as(argv[0], "run-singularity") && i < argc && strcmp(argv[i], "--version"))
		l->verb = "run";
	while (!l->verb && i < argc && argv[i][0] == '-' && argv[i][1])
		i += opt_one(l, G, argv + i);
	if (!l->verb && i < argc)
		l->verb = argv[i++];
	if (!l->verb || !strcmp(l->verb, "--version"))
		return;
	if (!(v = verb_find(l->verb)))
		verb_refuse(l->verb);
	i += instance_op(l, argc - i, argv + i);
	while (i < argc && argv[i][0] == '-' && argv[i][1]) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		i += opt_one(l, scope(l, v), argv + i);
	}
	if (i < argc)
		l->img.path = argv[i++];
	l->argv = argv + i;
	if (l->img.path && !l->help && strncmp(l->img.path, INSTANCE_URI, strlen(INSTANCE_URI)))
		refuse_uri(l->img.path, l->envp);
	if (!l->help && !l->img.path && !strncmp(v->args, "IMAGE", 5))
		die("%s: no image given (see %s help %s)", l->verb, cmdname, l->verb);
	if (!l->help && !strcmp(l->verb, "exec") && !l->argv[0])
		die("exec: no command given (%s exec IMAGE COMMAND [ARG...])", cmdname);
	from_env(l);
}

static void usage_opts(FILE *f, int scope)
{
	char left[64];

	for (size_t i = 0; i < LEN(opts); i++) {
		const struct opt *o = &opts[i];
		if (!(o->scope & scope) || o->set == refuse)
			continue;
		snprintf(left, sizeof left, "--%s%s%s", o->name, o->value ? " " : "",
			 o->value ? o->value : "");
		fprintf(f, "  %c%c%c %s", o->letter ? '-' : ' ', o->letter ? o->letter : ' ',
			o->letter ? ',' : ' ', left);
		if (strlen(left) > 24)
			fprintf(f, "\n%31s%s\n", "", o->help);
		else
			fprintf(f, "%*s%s\n", 25 - (int)strlen(left), "", o->help);
	}
}

/* The names of a list, wrapped under 80 columns. */
static void names(FILE *f, const char *const *name, size_t n, size_t stride, const char *pre)
{
	size_t col = 1;

	fputs(" ", f);
	for (size_t i = 0; i < n; i++) {
		const char *s = *(const char *const *)((const char *)name + i * stride);
		if ((col += strlen(s) + strlen(pre) + 1) > 76)
			fputs("\n ", f), col = strlen(s) + strlen(pre) + 2;
		fprintf(f, " %s%s", pre, s);
	}
	fputs("\n", f);
}

static void refused_opts(FILE *f)
{
	const char *list[LEN(opts)];
	size_t n = 0;

	for (size_t i = 0; i < LEN(opts); i++)
		if (opts[i].set == refuse && (opts[i].scope & A))
			list[n++] = opts[i].name;
	names(f, list, n, sizeof *list, "--");
}

void cli_usage(FILE *f)
{
	fprintf(f, "usage: %s [global options] VERB [options] IMAGE [ARG...]\n", cmdname);
	for (size_t i = 0; i < LEN(verbs); i++)
		fprintf(f, "  %s%s%s\n      %s\n", verbs[i].name, *verbs[i].args ? " " : "",
			verbs[i].args, verbs[i].what);
	fputs("  run-singularity [options] IMAGE [ARG...]\n      vial linked so: run\n"
	      "global options:\n", f);
	usage_opts(f, G);
	fputs("options of exec, run, shell and instance start (--flag=false: off):\n", f);
	usage_opts(f, A);
	fputs("options of inspect (none: vial's own summary, never mounted):\n", f);
	usage_opts(f, I);
	fputs("options of instance list and instance stop:\n", f);
	usage_opts(f, L | S);
	fputs("      --                       end of options\n"
	      "refused, with a line saying why:\n", f);
	refused_opts(f);
	fputs("not supported here, with a line saying why:\n", f);
	names(f, &not_here[0].name, LEN(not_here), sizeof not_here[0], "");
	fputs("different from Singularity and Apptainer, on purpose (README):\n"
	      "  no SCIF apps (--app, apps); no tar archives as images; root gets no\n"
	      "  capabilities inside; --home takes any directory you may write; no\n"
	      "  configuration file to own (the site policy is compiled in: vial config)\n", f);
}

/* help VERB, VERB --help: its usage line, what it does, its options. */
void cli_help(FILE *f, const char *name)
{
	const struct verb *v = name ? verb_find(name) : NULL;

	if (!v) {
		cli_usage(f);
		return;
	}
	fprintf(f, "usage: %s %s%s%s\n       %s\n", cmdname, v->name,
		v->scope & (A | I) ? " [options] " : " ", v->args, v->what);
	if (v->scope & (A | I)) {
		fputs("options (--flag=false: off):\n", f);
		usage_opts(f, v->scope);
	}
	if (v->scope & A) {
		fputs("refused, with a line saying why:\n", f);
		refused_opts(f);
	}
}

/* --version and version as the clients parse them; 0: not answered here. */
int cli_answer(const struct launch *l)
{
	if (!persona || (strcmp(l->verb, "--version") && strcmp(l->verb, "version")))
		return 0;
	/* Apptainer's own two answers; cwltool and Snakemake read the first. */
	if (!strcmp(l->verb, "--version"))
		printf("apptainer version %s\n", APPTAINER_VERSION);
	else
		printf("%s\n", APPTAINER_VERSION);
	return 1;
}
