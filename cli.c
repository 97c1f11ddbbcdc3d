/*
 * The command line, as Singularity's and Apptainer's: one table of
 * options (describe: opts.c), then one loop that applies them (execute),
 * and the verbs, so a job script or workflow engine written for
 * `singularity exec` runs unchanged.
 * Called as singularity, apptainer or run-singularity (a link), vial
 * answers --version as Apptainer does. Everything here runs as the caller
 * (euid = user): an --env-file is read with the caller's rights.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "vial.h"

static int persona;		/* called as singularity, apptainer or run-singularity */

static const struct opt *find(int scope, const char *name, size_t n, char letter)
{
	for (size_t i = 0; i < opt_count; i++) {
		const struct opt *o = &opt_table[i];
		if (!(o->scope & scope))
			continue;
		if (letter ? o->letter == letter : !strncmp(o->name, name, n) && !o->name[n])
			return o;
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

static void apply(struct launch *l, const struct opt *o, char *value)
{
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
	/* A flag is set, or with =false left as it was (off: every flag's default). */
	if (!o->value) {
		if (!eq || boolean(o->name, eq + 1))
			apply(l, o, NULL);
		return 1;
	}
	apply(l, o, eq ? eq + 1 : need(o, argv[1]));
	return eq ? 1 : 2;
}

/* One option: --name[=value]; or -abc, -Bsrc, -B src, -B=src, as Go's
 * pflag reads short options. How many arguments it took. */
static int opt_one(struct launch *l, int scope, char **argv)
{
	char bad[3] = "-";

	if (argv[0][1] == '-')
		return opt_long(l, scope, argv);
	for (char *c = argv[0] + 1; *c; c++) {
		const struct opt *o = find(scope, NULL, 0, *c);
		if (!o) {
			bad[1] = *c;
			unknown(l, c == argv[0] + 1 ? argv[0] : bad);
		}
		if (!o->value) {
			apply(l, o, NULL);
			continue;
		}
		if (c[1]) {
			apply(l, o, c + 1 + (c[1] == '='));
			return 1;
		}
		apply(l, o, need(o, argv[1]));
		return 2;
	}
	return 1;
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
	{ "instance", A | L | S, "start [options] IMAGE NAME [ARG...]\n"
	  "  instance list [--json | --logs] [NAME]\n"
	  "  instance stop [-s SIGNAL] [-t SECONDS] [-F] NAME | --all\n"
	  "  exec|run|shell [options] instance://NAME [ARG...]",
	  "instances, as Apptainer's: start, list, stop, and run in one" },
	{ "config", N, "", "the compiled-in site policy" },
	{ "version", N, "", "version and build facts" },
	{ "help", N, "[VERB | IMAGE]", "this help, a verb's, or (as 2.x) an image's run-help" },
};

/* Singularity's and Apptainer's other verbs: one line each, saying why not. */
#define BUILD_ELSEWHERE "build images where Apptainer is installed"
#define LOCAL_ONLY "vial runs local image files only; pull images where Apptainer is installed"
#define NO_SIGNING "vial neither signs nor verifies images"
static const struct { const char *name, *why; } not_here[] = {
	{ "build", BUILD_ELSEWHERE }, { "bootstrap", BUILD_ELSEWHERE },
	{ "create", BUILD_ELSEWHERE }, { "import", BUILD_ELSEWHERE },
	{ "export", "unpack images with unsquashfs" }, { "image.create", BUILD_ELSEWHERE },
	{ "image.import", BUILD_ELSEWHERE }, { "image.export", "unpack images with unsquashfs" },
	{ "image.expand", BUILD_ELSEWHERE }, { "pull", LOCAL_ONLY }, { "push", LOCAL_ONLY },
	{ "search", LOCAL_ONLY }, { "delete", LOCAL_ONLY }, { "remote", LOCAL_ONLY },
	{ "cache", "vial keeps no image cache" },
	{ "sign", NO_SIGNING }, { "verify", NO_SIGNING }, { "key", NO_SIGNING },
	{ "keys", NO_SIGNING },
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

/*
 * [global options] VERB [options] IMAGE [command...]; run-singularity IMAGE
 * [args]. No verb: l->verb stays NULL (main prints the usage).
 */
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
	opts_from_env(l);
}

static void usage_opts(FILE *f, int scope)
{
	char left[64];

	for (size_t i = 0; i < opt_count; i++) {
		const struct opt *o = &opt_table[i];
		if (!(o->scope & scope) || o->set == opt_refuse)
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
	const char *list[128];
	size_t n = 0;

	for (size_t i = 0; i < opt_count; i++)
		if (opt_table[i].set == opt_refuse && (opt_table[i].scope & A))
			list[n++] = opt_table[i].name;
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
		v->scope & (A | I) && !strstr(v->args, "[options]") ? " [options] " : " ",
		v->args, v->what);
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
