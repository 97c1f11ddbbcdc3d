/*
 * The options of Singularity's and Apptainer's command line that vial
 * takes, in one table: each one's name, letter, scope, value and what it
 * sets in the launch (cli.c reads the command line against it). Runs as
 * the caller (euid = user): an --env-file is read with their rights.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "vial.h"

/*
 * Memory the launch keeps to its end (vial is short-lived), chained from
 * here: a string stored in a grown array stays reachable for the
 * analyzer, which does not follow realloc's copy.
 */
static char *kept(size_t n)
{
	static struct chunk { struct chunk *next; char s[]; } *chunks;
	struct chunk *c = xrealloc(NULL, sizeof *c + n);

	c->next = chunks;
	chunks = c;
	return c->s;
}

static char *xstrdup(const char *s)
{
	return strcpy(kept(strlen(s) + 1), s);
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
	l->binds = xrealloc(l->binds, (l->nbinds + 1) * sizeof *l->binds);
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
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
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

/* Read with the caller's own rights: vial's euid is theirs here. The
 * line buffer is static: a bad line dies with it still reachable. */
static void opt_env_file(struct launch *l, const struct opt *o, char *arg)
{
	FILE *f = fopen(arg, "re");
	static char *line;
	static size_t cap;

	(void)o;
	if (!f)
		die_errno("--env-file %s", arg);
	errno = 0;
	while (getline(&line, &cap, f) >= 0)
		env_line(l, arg, line);
	if (errno || ferror(f))
		die_errno("--env-file %s", arg);
	fclose(f);
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

void opt_refuse(struct launch *l, const struct opt *o, char *arg)
{
	(void)arg;
	if (l->verb)
		die("%s: --%s: %s", l->verb, o->name, o->help);
	die("--%s: %s", o->name, o->help);
}

#define F(field) offsetof(struct launch, field)
#define ACCEPTED "(accepted; vial has nothing to change)"
const struct opt opt_table[] = {
	/* before the verb: vial -q exec ... */
	{ "debug", 'd', G, NULL, 0, set_verbose, "say what vial does, on stderr" },
	{ "verbose", 'v', G | A, NULL, 0, set_verbose, "say what vial does, on stderr" },
	{ "quiet", 'q', G, NULL, 0, set_quiet, "print no warnings, only errors" },
	{ "silent", 's', G, NULL, 0, set_quiet, "the same as --quiet" },
	{ "nocolor", 0, G, NULL, 0, NULL, ACCEPTED },
	{ "help", 'h', G | A | I | H | N, NULL, 0, set_verb, "this help" },
	{ "version", 0, G, NULL, 0, set_verb, "the version (Apptainer's, called so)" },
	{ "config", 'c', G, "FILE", 0, opt_refuse,
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
	{ "userns", 'u', A, NULL, 0, opt_refuse, "not supported: vial is setuid root and makes "
	  "no user namespace" },
	{ "fakeroot", 'f', A, NULL, 0, opt_refuse, "not supported: vial runs commands as you, "
	  "never as root" },
	{ "writable", 'w', A, NULL, 0, opt_refuse, "not supported: images are mounted read-only "
	  "(see --writable-tmpfs)" },
	{ "overlay", 'o', A, "IMAGE", 0, opt_refuse,
	  "not supported: vial mounts no overlay image" },
	{ "add-caps", 0, A, "CAPS", 0, opt_refuse, "not supported: vial drops every capability" },
	{ "keep-privs", 0, A, NULL, 0, opt_refuse, "not supported: vial drops every privilege" },
	{ "allow-setuid", 0, A, NULL, 0, opt_refuse, "not supported: every mount is nosuid" },
	{ "security", 0, A, "uid:N,gid:N[:M...]", 0, opt_security,
	  "(root only) run as that user and groups" },
	{ "network-args", 0, A, "ARGS", 0, opt_refuse,
	  "not supported: vial's network is loopback only" },
	{ "app", 0, A | H, "NAME", 0, opt_refuse, "not supported: vial runs no SCIF apps" },
	{ "scratch", 'S', A, "DIR", 0, opt_refuse, "not supported: bind a directory with -B" },
};
const size_t opt_count = LEN(opt_table);
#undef F

/* The variables vial honours, from the caller's environment (as the caller). */
void opts_from_env(struct launch *l)
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
