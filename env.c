/*
 * The command's environment, built after the final drop (vial reads no
 * variable while privileged), as Apptainer builds it: the caller's (or a
 * minimal one with --cleanenv) but PATH, which is the image's (its env
 * scripts, else a default), and LD_LIBRARY_PATH, which stays outside (the
 * host's libraries are not the image's); then SINGULARITYENV_X /
 * APPTAINERENV_X, --env-file and --env set X, winning over the image's
 * /.singularity.d/env scripts; X = PREPEND_PATH / APPEND_PATH extend PATH.
 */
#include <stdlib.h>
#include <unistd.h>

#include "vial.h"

#define SANE_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define GPU_LIBDIR "/.singularity.d/libs"	/* gpu.c binds the driver there */

static char **env;		/* NAME=VALUE, NULL-terminated */
static size_t nenv;
static const char **forced;	/* NAME=VALUE set by SINGULARITYENV_ and --env */
static size_t nforced;
static const char *prepend, *append;	/* ..._PREPEND_PATH, ..._APPEND_PATH */
static int gpu;			/* --nv or --rocm */
static const char *image;	/* as the user named it: for "command not found" */

static char *set(const char *name, size_t len, const char *value)
{
	size_t i = 0;
	char *e = xrealloc(NULL, len + strlen(value) + 2);

	sprintf(e, "%.*s=%s", (int)len, name, value);
	while (i < nenv && !(strncmp(env[i], e, len + 1) == 0))
		i++;
	if (i == nenv) {
		env = xrealloc(env, (nenv + 2) * sizeof *env);
		env[nenv++] = NULL;
		env[nenv] = NULL;
	}
	env[i] = e;
	return e;
}

static void force(const char *name, size_t len, const char *value)
{
	if (len == 12 && !strncmp(name, "PREPEND_PATH", len)) {
		prepend = value;
		return;
	}
	if (len == 11 && !strncmp(name, "APPEND_PATH", len)) {
		append = value;
		return;
	}
	forced = xrealloc(forced, (nforced + 1) * sizeof *forced);
	forced[nforced++] = set(name, len, value);
}

/* NAME's value in `envp` (NAME=VALUE strings), or NULL. */
const char *env_get(char **envp, const char *name)
{
	size_t n = strlen(name);

	for (; *envp; envp++)
		if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* SINGULARITYENV_X=V or APPTAINERENV_X=V in the caller's environment: X=V. */
static void prefixed(char **envp, const char *prefix)
{
	size_t n = strlen(prefix);

	for (; *envp; envp++) {
		const char *eq = strchr(*envp, '=');
		if (!strncmp(*envp, prefix, n) && eq && eq > *envp + n)
			force(*envp + n, (size_t)(eq - *envp - n), eq + 1);
	}
}

/*
 * The caller's variables that do not pass into the container: as
 * Apptainer, also its own settings (SINGULARITY_BIND, APPTAINER_SHELL, a
 * job's SINGULARITY_PATH, ...), which are the runtime's, not the
 * command's. Those vial sets inside (SINGULARITY_CONTAINER, ...) and
 * SINGULARITYENV_SINGULARITY_X=Y are set after this.
 */
static int stays_out(const char *e)
{
	return !strncmp(e, "SINGULARITYENV_", 15) || !strncmp(e, "APPTAINERENV_", 13) ||
	       !strncmp(e, "SINGULARITY_", 12) || !strncmp(e, "APPTAINER_", 10) ||
	       !strncmp(e, "PATH=", 5) || !strncmp(e, "LD_LIBRARY_PATH=", 16);
}

static void force_all(const char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		force(v[i], (size_t)(strchr(v[i], '=') - v[i]), strchr(v[i], '=') + 1);
}

/* A PATH the caller set (SINGULARITYENV_PATH, --env PATH=) wins over
 * PREPEND_PATH and APPEND_PATH, as Apptainer's 99-runtimevars.sh has it. */
static void path_forced(void)
{
	for (size_t i = 0; i < nforced; i++)
		if (!strncmp(forced[i], "PATH=", 5))
			prepend = append = NULL;
}

/*
 * --nv, --rocm: the GPUs the batch system gave the job stay visible, also
 * with --cleanenv, and the host's driver libraries come on
 * LD_LIBRARY_PATH, after what SINGULARITYENV_ or --env put there.
 */
static void gpu_env(const struct launch *l)
{
	static const char *keep[] = { "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
				      "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
				      "GPU_DEVICE_ORDINAL" };
	const char *v = env_get(env, "LD_LIBRARY_PATH"), *e;
	char *path = xrealloc(NULL, (v ? strlen(v) : 0) + sizeof GPU_LIBDIR + 1);

	for (size_t i = 0; l->cleanenv && i < LEN(keep); i++)
		if ((e = env_get(l->envp, keep[i])))
			set(keep[i], strlen(keep[i]), e);
	sprintf(path, "%s%s" GPU_LIBDIR, v && *v ? v : "", v && *v ? ":" : "");
	e = set("LD_LIBRARY_PATH", 15, path);
	for (size_t i = 0; i < nforced; i++)	/* re-exported by env_wrap: the new value */
		if (!strncmp(forced[i], "LD_LIBRARY_PATH=", 16))
			forced[i] = e;
	gpu = 1;
}

char **env_build(const struct launch *l)
{
	static const char *keep[] = { "HOME", "TERM", "USER", "http_proxy", "https_proxy",
				      "ftp_proxy", "no_proxy", "all_proxy", "HTTP_PROXY",
				      "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY" };
	const char *name = strrchr(l->img.path, '/');

	prepend = append = NULL;	/* all of env.c's state is this call's */
	image = l->img.path;
	env = xrealloc(NULL, sizeof *env);
	env[0] = NULL;
	for (char **e = l->envp; !l->cleanenv && *e; e++)
		if (strchr(*e, '=') && !stays_out(*e))
			set(*e, (size_t)(strchr(*e, '=') - *e), strchr(*e, '=') + 1);
	for (size_t i = 0; l->cleanenv && i < LEN(keep); i++) {
		const char *v = env_get(l->envp, keep[i]);
		if (v)
			set(keep[i], strlen(keep[i]), v);
	}
	if (l->cleanenv)
		set("LANG", 4, "C");
	set("PATH", 4, SANE_PATH);	/* the image's env scripts may set their own */
	/* HOME is where the home is inside, as Singularity has it. */
	set("HOME", 4, l->home_src ? l->home_dst : priv_user()->home);
	name = name ? name + 1 : l->img.path;
	set("SINGULARITY_CONTAINER", 21, l->img.path);
	set("SINGULARITY_NAME", 16, name);
	set("APPTAINER_CONTAINER", 19, l->img.path);
	set("APPTAINER_NAME", 14, name);
	if (!strcmp(l->verb, "shell"))
		set("PS1", 3, l->prompt ? l->prompt : "vial> ");
	prefixed(l->envp, "SINGULARITYENV_");
	prefixed(l->envp, "APPTAINERENV_");
	force_all(l->fileenv, l->nfileenv);
	force_all(l->setenv, l->nsetenv);
	path_forced();
	gpu = 0;
	if (l->nv || l->rocm)
		gpu_env(l);
	return env;
}

/* Is NAME (of NAME=VALUE) a name sh can assign? */
static int sh_name(const char *e)
{
	size_t n = strcspn(e, "=");

	return n && !(e[0] >= '0' && e[0] <= '9') &&
	       strspn(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* `v` in single quotes for sh. */
static size_t quoted(char *out, const char *v)
{
	size_t n = (size_t)sprintf(out, "'");

	for (; *v; v++)
		n += (size_t)(*v == '\'' ? sprintf(out + n, "'\\''") : sprintf(out + n, "%c", *v));
	return n + (size_t)sprintf(out + n, "'");
}

/* `export NAME='value';` */
static size_t export(char *out, const char *e)
{
	size_t n = (size_t)sprintf(out, "export %.*s=", (int)(strchr(e, '=') - e), e);

	n += quoted(out + n, strchr(e, '=') + 1);
	return n + (size_t)sprintf(out + n, ";");
}

/* PATH with PREPEND_PATH and APPEND_PATH, where no shell will add them. */
static void path_extend(void)
{
	const char *path = env_get(env, "PATH");
	char *p;

	if ((!prepend && !append) || !path)
		return;
	p = xrealloc(NULL, strlen(path) + (prepend ? strlen(prepend) : 0) +
			   (append ? strlen(append) : 0) + 3);
	sprintf(p, "%s%s%s%s%s", prepend ? prepend : "", prepend ? ":" : "", path,
		append ? ":" : "", append ? append : "");
	set("PATH", 4, p);	/* PATH is there: env does not move under environ */
}

/* The same in the wrapper's script, after the image's env scripts. */
static size_t path_script(char *out)
{
	size_t n = 0;

	if (prepend) {
		n += (size_t)sprintf(out + n, "PATH=");
		n += quoted(out + n, prepend);
		n += (size_t)sprintf(out + n, ":\"$PATH\";");
	}
	if (append) {
		n += (size_t)sprintf(out + n, "PATH=\"$PATH\":");
		n += quoted(out + n, append);
		n += (size_t)sprintf(out + n, ";");
	}
	return n + (size_t)sprintf(out + n, "export PATH;");
}

/*
 * "Command not found" in vial's words, as without env scripts: each sh
 * says it its own way (dash: "vial: 1: exec: x: not found"). $0 is
 * vial's name as the user typed it, which sh's own messages start with.
 */
static size_t not_found(char *out)
{
	size_t n = (size_t)sprintf(out, "case $1 in */*) [ -e \"$1\" ];; "
				   "*) command -v \"$1\" >/dev/null;; esac || { printf "
				   "'%%s: %%s: command not found in %%s\\n' \"$0\" \"$1\" ");

	n += quoted(out + n, image);
	return n + (size_t)sprintf(out + n, " >&2; exit 127; }; ");
}

/*
 * Images built by Singularity/Apptainer carry /.singularity.d/env/\*.sh:
 * source them through the image's /bin/sh, re-export what the caller
 * forced, extend PATH, then exec the command. An image without /bin/sh
 * cannot source them: said on stderr (Apptainer has a shell of its own).
 */
char **env_wrap(char **argv)
{
	static const char head[] = "for f in /.singularity.d/env/*.sh; do "
				   "[ -f \"$f\" ] && . \"$f\"; done; ";
	/* an image's env script may have set LD_LIBRARY_PATH: the driver's after it */
	static const char libs[] = "case :$LD_LIBRARY_PATH: in *:" GPU_LIBDIR ":*) ;; "
				   "*) export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}"
				   GPU_LIBDIR ";; esac; ";
	size_t len = sizeof head + sizeof libs + 16, n = 0;
	char **v, *script;

	if (access("/.singularity.d/env", X_OK) == 0 && access("/bin/sh", X_OK))
		warn("the image has /.singularity.d/env but no /bin/sh: "
		     "its environment scripts are not sourced");
	if (access("/.singularity.d/env", X_OK) || access("/bin/sh", X_OK)) {
		path_extend();
		return argv;
	}
	for (size_t i = 0; i < nforced; i++)
		len += strlen(forced[i]) * 4 + 16;
	len += (prepend ? strlen(prepend) * 4 : 0) + (append ? strlen(append) * 4 : 0) + 64;
	len += strlen(image) * 4 + 192;
	script = xrealloc(NULL, len);
	n = (size_t)sprintf(script, "%s", head);
	for (size_t i = 0; i < nforced; i++)
		if (sh_name(forced[i]))	/* sh would stop at FOO-BAR=; it stays in environ */
			n += export(script + n, forced[i]);
	n += path_script(script + n);
	n += (size_t)sprintf(script + n, "%s", gpu ? libs : "");
	n += not_found(script + n);
	sprintf(script + n, "exec \"$@\"");
	for (n = 0; argv[n]; n++)
		;
	v = xrealloc(NULL, (n + 5) * sizeof *v);
	v[0] = "/bin/sh";
	v[1] = "-c";
	v[2] = script;
	v[3] = (char *)progname;	/* $0 */
	memcpy(v + 4, argv, (n + 1) * sizeof *v);
	return v;
}

/*
 * A protected image's execute-only programs (0711) are safe only while
 * nothing of the caller's runs inside them: no variable that makes the
 * dynamic loader (glibc's or musl's) load a library or module, from any
 * source (the caller's environment, SINGULARITYENV_, --env). glibc's own
 * list for setuid programs, but TMPDIR, which loads no code. Variables
 * the image's env scripts set are the image's own, and stay.
 */
static int loader_var(const char *e)
{
	static const char *names[] = { "GCONV_PATH", "GETCONF_DIR", "HOSTALIASES",
		"LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE", "NIS_PATH", "NLSPATH",
		"RESOLV_HOST_CONF", "RES_OPTIONS", "TZDIR", "MUSL_LOCPATH" };
	size_t n = strcspn(e, "=");

	if (!strncmp(e, "LD_", 3))
		return 1;
	for (size_t i = 0; i < LEN(names); i++)
		if (n == strlen(names[i]) && !strncmp(e, names[i], n))
			return 1;
	return 0;
}

static size_t drop(char **v, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		if (!loader_var(v[i]))
			v[w++] = v[i];
	for (size_t i = w; i < n; i++)
		v[i] = NULL;
	return w;
}

void env_drop_loader(void)
{
	nenv = drop(env, nenv);
	nforced = drop((char **)forced, nforced);
	/* --nv, --rocm: the driver's libraries are root's, bound read-only */
	if (gpu)
		set("LD_LIBRARY_PATH", 15, GPU_LIBDIR);
}
