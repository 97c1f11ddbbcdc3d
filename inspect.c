/*
 * inspect --labels --runscript --environment ... [--json], as Apptainer
 * prints them. The files are the image's /.singularity.d files, read in the
 * container vial built, after the final drop, with the caller's rights
 * (a protected image never gets here: it says its format and size only).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "vial.h"

#define META_MAX (1 << 20)	/* bigger metadata files are cut */

static const struct {
	const char *flag;	/* the option, and its name in --json's attributes */
	const char *path;	/* the file in the image */
} what[] = {
	{ "labels", "/.singularity.d/labels.json" },
	{ "deffile", "/.singularity.d/Singularity" },
	{ "runscript", "/.singularity.d/runscript" },
	{ "test", "/.singularity.d/test" },
	{ "environment", "/.singularity.d/env/90-environment.sh" },
	{ "helpfile", "/.singularity.d/runscript.help" },
};

unsigned inspect_bit(const char *flag)
{
	for (unsigned i = 0; i < LEN(what); i++)
		if (!strcmp(flag, what[i].flag))
			return 1u << i;
	return 0;
}

/* The whole file, or NULL when the image has none. */
static char *slurp(const char *path)
{
	size_t n = 0;
	ssize_t r = 1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char *buf;

	if (fd < 0)
		return NULL;
	buf = xrealloc(NULL, META_MAX + 1);
	while (n < META_MAX && (r = read(fd, buf + n, META_MAX - n)) > 0)
		n += (size_t)r;
	if (r < 0)
		die_errno("read %s in the image", path);
	close(fd);
	buf[n] = 0;
	return buf;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* One JSON string of a flat labels object, its escapes kept; NULL: not one. */
static const char *label_token(const char *p, const char **start, size_t *len)
{
	p += strspn(p, " \t\r\n");
	if (*p != '"')
		return NULL;
	*start = ++p;
	while (*p && *p != '"')
		p += *p == '\\' && p[1] ? 2 : 1;
	if (*p != '"')
		return NULL;
	*len = (size_t)(p - *start);
	return p + 1;
}

/* labels.json's {"key": "value", ...} as Apptainer prints it: key: value. */
static void labels_text(const char *json)
{
	const char *p = json + strspn(json, " \t\r\n"), *k, *v;
	size_t kn, vn;

	if (*p++ != '{') {
		fputs(json, stdout);
		return;
	}
	while ((p = label_token(p, &k, &kn))) {
		p += strspn(p, " \t\r\n");
		if (*p++ != ':' || !(p = label_token(p, &v, &vn)))
			break;
		printf("%.*s: %.*s\n", (int)kn, k, (int)vn, v);
		p += strspn(p, " \t\r\n");
		if (*p++ != ',')
			break;
	}
}

static void print_text(unsigned i, const char *text)
{
	if (!strcmp(what[i].flag, "labels"))
		labels_text(text);
	else if (!strcmp(what[i].flag, "environment"))
		printf("=== %s ===\n%s", what[i].path, text);
	else
		fputs(text, stdout);
	if (*text && text[strlen(text) - 1] != '\n')
		putchar('\n');
}

/* Apptainer's --json: {"data": {"attributes": {...}}, "type": "container"} */
static void print_json(unsigned bits)
{
	const char *sep = "";

	printf("{\n    \"data\": {\n        \"attributes\": {");
	for (unsigned i = 0; i < LEN(what); i++) {
		char *text;
		if (!(bits & (1u << i)))
			continue;
		text = slurp(what[i].path);
		printf("%s\n            \"%s\": ", sep, what[i].flag);
		if (!strcmp(what[i].flag, "labels") && text && strchr(text, '{'))
			printf("%.*s", (int)(strrchr(text, '}') + 1 - text), text); /* JSON already */
		else if (!strcmp(what[i].flag, "labels"))
			fputs("{}", stdout);
		else
			json_string(text ? text : "");
		free(text);
		sep = ",";
	}
	printf("\n        }\n    },\n    \"type\": \"container\"\n}\n");
}

/* run-help, as Apptainer's: the help, or a line saying there is none */
static void run_help(void)
{
	char *text = slurp("/.singularity.d/runscript.help");

	if (text && *text)
		printf("%s%s", text, text[strlen(text) - 1] == '\n' ? "" : "\n");
	else
		puts("No help sections were defined for this image");
	free(text);
}

void inspect_print(const struct launch *l)
{
	unsigned bits = l->inspect & ~(INSPECT_JSON | INSPECT_RUN_HELP);

	if (!bits)
		bits = inspect_bit("labels");	/* Apptainer's default */
	if (l->inspect & INSPECT_RUN_HELP) {
		run_help();
	} else if (l->inspect & INSPECT_JSON) {
		print_json(bits);
	} else {
		for (unsigned i = 0; i < LEN(what); i++) {
			char *text = (bits & (1u << i)) ? slurp(what[i].path) : NULL;
			if (text)
				print_text(i, text);
			free(text);
		}
	}
	if (fflush(stdout) || ferror(stdout))
		die_errno("write");
	exit(0);
}
