/*
 * torture.c - the allocation shim and the runner of the torture programs
 * (torture.h). The program is linked with --wrap for malloc, calloc,
 * realloc, strdup, strndup and free: the linker sends every call made from
 * libsipvault.a (and from the program) to __wrap_NAME below, which counts it
 * and calls the real allocator through __real_NAME. Allocations made inside
 * shared libraries (zlib, expat, libyaml, inih, libpcap, libc itself) are not
 * seen; jansson's are, through json_set_alloc_funcs().
 */
#include "torture.h"

#include "base/errors.h"
#include "base/log.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <execinfo.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void __wrap_free(void *p);
json_t *__real_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error);
json_t *__wrap_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error);
char *__real_json_dumps(const json_t *json, size_t flags);
char *__wrap_json_dumps(const json_t *json, size_t flags);

/* ------------------------------------------------------------ the shim */

static long fail_at;   /* fail the fail_at-th allocation since arming; 0: never */
static long seen;      /* allocations since arming */
static int injected;   /* the failure happened in this run */
static int paused;     /* torture_pause() */
static long live;      /* blocks allocated through the shim and not freed */
static long allocs;    /* every allocation through the shim */
static void *site[24]; /* the failed allocation's call stack */
static int site_n;

static int in_json; /* inside json_loadb/json_dumps: count, never fail */

static int fail_now(void)
{
	allocs++;
	if (fail_at == 0 || paused || in_json)
		return 0;
	if (++seen != fail_at)
		return 0;
	injected = 1;
	site_n = backtrace(site, 24);
	return 1;
}

void *__wrap_malloc(size_t n)
{
	if (fail_now())
		return NULL;
	void *p = __real_malloc(n);
	if (p != NULL)
		live++;
	return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (fail_now())
		return NULL;
	void *p = __real_calloc(n, size);
	if (p != NULL)
		live++;
	return p;
}

void *__wrap_realloc(void *p, size_t n)
{
	if (p != NULL && n == 0) { /* glibc's meaning, whatever the allocator */
		__wrap_free(p);
		return NULL;
	}
	if (fail_now())
		return NULL;
	void *q = __real_realloc(p, n);
	if (q != NULL && p == NULL)
		live++;
	return q;
}

char *__wrap_strdup(const char *s)
{
	return __wrap_strndup(s, strlen(s));
}

char *__wrap_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = __wrap_malloc(len + 1);
	if (p != NULL) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

void __wrap_free(void *p)
{
	if (p != NULL)
		live--;
	__real_free(p);
}

/*
 * jansson 2.14 is not safe against a failed allocation in two places: its
 * lexer drops the failure (akheron/jansson#362: lex_save() ignores it, the
 * lexer then asserts or writes past its buffer) and so does its dumper
 * (akheron/jansson#655: a key is left out of the text, which is returned as
 * if whole). So the allocations inside json_loadb() and json_dumps() are
 * counted but never failed; instead each call is one "allocation" that can
 * fail, as jansson fails cleanly when its first allocation does.
 */
json_t *__wrap_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error)
{
	if (fail_now()) {
		if (error != NULL) {
			memset(error, 0, sizeof(*error));
			snprintf(error->text, sizeof(error->text), "out of memory");
			error->text[JSON_ERROR_TEXT_LENGTH - 1] = (char)json_error_out_of_memory;
			error->line = error->column = -1;
		}
		return NULL;
	}
	in_json++;
	json_t *j = __real_json_loadb(buf, len, flags, error);
	in_json--;
	return j;
}

char *__wrap_json_dumps(const json_t *json, size_t flags)
{
	if (fail_now())
		return NULL;
	in_json++;
	char *s = __real_json_dumps(json, flags);
	in_json--;
	return s;
}

int torture_pause(void)
{
	int old = paused;
	paused = 1;
	return old;
}

void torture_resume(int state)
{
	paused = state;
}

/* ------------------------------------------------------------ the runner */

static const char *target_name;
static unsigned long n_inputs, n_runs, n_problems, n_skipped;
static int verbose;
static long only; /* TORTURE_ONLY: fail only this allocation */
static const char *failed_why;
static uint64_t digest;
static int step_nomem;
/* The step results of this run and of the run without failures, for the
 * message when they differ. */
#define MAX_STEPS 4096
static int steps[MAX_STEPS], steps0[MAX_STEPS];
static size_t n_steps, n_steps0;
static char scratch[64];

void torture_output(const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		digest = (digest ^ b[i]) * 0x100000001b3ull;
}

int torture_step(int rc)
{
	if (n_steps < MAX_STEPS)
		steps[n_steps] = rc;
	n_steps++;
	if (rc == -ENOMEM)
		step_nomem = 1;
	else
		torture_output(&rc, sizeof(rc));
	return rc;
}

void torture_fail(const char *why)
{
	if (failed_why == NULL)
		failed_why = why;
}

int torture_rc(void)
{
	return step_nomem ? -ENOMEM : 0;
}

void torture_init(const char *target)
{
	target_name = target;
	verbose = getenv("TORTURE_VERBOSE") != NULL;
	if (getenv("TORTURE_ONLY") != NULL)
		only = atol(getenv("TORTURE_ONLY"));
	json_set_alloc_funcs(__wrap_malloc, __wrap_free);
	/* Errors logged on the failure paths would fill the test log. */
	sv_log_set_level(verbose ? SV_LOG_DEBUG : SV_LOG_ERROR + 1);
}

const char *torture_scratch(void)
{
	if (scratch[0] == '\0') {
		snprintf(scratch, sizeof(scratch), "/tmp/svtorture-%s.XXXXXX", target_name);
		if (mkdtemp(scratch) == NULL) {
			perror("mkdtemp");
			exit(2);
		}
	}
	return scratch;
}

static void remove_scratch(void)
{
	if (scratch[0] == '\0')
		return;
	DIR *d = opendir(scratch);
	if (d != NULL) {
		struct dirent *e;
		char p[400];
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", scratch, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(scratch);
}

static void problem(const char *name, long n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(const char *name, long n, const char *fmt, ...)
{
	va_list ap;
	n_problems++;
	if (n > 0)
		fprintf(stderr, "FAIL %s %s, allocation %ld failing: ", target_name, name, n);
	else
		fprintf(stderr, "FAIL %s %s, without a failure: ", target_name, name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (n > 0 && site_n > 0) {
		fprintf(stderr, "  the failed allocation was made at:\n");
		backtrace_symbols_fd(site + 1, site_n - 1, 2);
	}
}

/* A run that succeeded although an allocation failed, with other results. */
static void swallowed(const char *name, long n, int rc0)
{
	size_t i = 0;
	while (i < n_steps && i < n_steps0 && i < MAX_STEPS && steps[i] == steps0[i])
		i++;
	if (i < n_steps && i < n_steps0 && i < MAX_STEPS)
		problem(name, n, "step %zu returned %d (%s) instead of %d", i + 1, steps[i],
		        sv_strerror(steps[i]), steps0[i]);
	else if (n_steps != n_steps0)
		problem(name, n, "%zu steps instead of %zu", n_steps, n_steps0);
	else
		problem(name, n,
		        "rc 0 (before %d), but the output differs: the failure was "
		        "swallowed",
		        rc0);
}

/* One run of fn with allocation n failing (0: none). */
static int run(torture_fn fn, const uint8_t *data, size_t len, long n, long *leaked, uint64_t *out)
{
	long live0 = live;
	digest = 0xcbf29ce484222325ull;
	step_nomem = 0;
	failed_why = NULL;
	n_steps = 0;
	seen = 0;
	injected = 0;
	site_n = 0;
	fail_at = n;
	int rc = fn(data, len);
	fail_at = 0;
	*leaked = live - live0;
	*out = digest;
	n_runs++;
	return rc;
}

void torture_input(const char *name, torture_fn fn, const uint8_t *data, size_t len)
{
	/* An exact-size copy, so ASan sees reads past the end. */
	uint8_t *copy = malloc(len ? len : 1);
	long leaked, before = allocs;
	uint64_t out0, out;

	if (copy == NULL) {
		perror("malloc");
		exit(2);
	}
	if (len > 0)
		memcpy(copy, data, len);
	n_inputs++;
	/* Twice without failures: the first may set up global state once. */
	(void)run(fn, copy, len, 0, &leaked, &out0);
	before = allocs;
	int rc0 = run(fn, copy, len, 0, &leaked, &out0);
	long count = allocs - before;
	memcpy(steps0, steps, sizeof(steps));
	n_steps0 = n_steps;
	if (leaked != 0)
		problem(name, 0, "%ld blocks not freed", leaked);
	if (failed_why != NULL)
		problem(name, 0, "%s", failed_why);
	if (verbose)
		fprintf(stderr, "%s %s: %ld allocations, rc %d\n", target_name, name, count, rc0);
	for (long n = only > 0 ? only : 1;; n++) {
		int rc = run(fn, copy, len, n, &leaked, &out);
		if (leaked != 0)
			problem(name, n, "%ld blocks not freed (rc %d)", leaked, rc);
		if (failed_why != NULL)
			problem(name, n, "%s", failed_why);
		if (!injected) {
			if (rc != rc0 || out != out0)
				problem(name, n, "without a failure: rc %d (before %d), output %s",
				        rc, rc0, out == out0 ? "same" : "differs");
			break;
		}
		if (rc > 0)
			problem(name, n, "positive rc %d", rc);
		else if (rc == 0 && (rc0 != 0 || out != out0))
			swallowed(name, n, rc0);
		else if (rc < 0 && rc != -ENOMEM && rc != rc0)
			problem(name, n, "rc %d, neither -ENOMEM nor %d", rc, rc0);
		if (only > 0)
			break;
		if (n > 1000000) {
			problem(name, n, "no end in sight");
			break;
		}
	}
	free(copy);
}

static uint8_t *read_all(const char *path, size_t max_len, size_t *len)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max_len)
		return NULL;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	if (buf != NULL)
		*len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	return buf;
}

static void source_path(const char *rel, char *out, size_t len)
{
	const char *src = getenv("SV_SOURCE_DIR");
	if (rel[0] == '/')
		snprintf(out, len, "%s", rel);
	else
		snprintf(out, len, "%s/%s", src != NULL ? src : TORTURE_SOURCE_DIR, rel);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t torture_dir(const char *dir, torture_fn fn, size_t max_inputs, size_t max_len)
{
	char path[1024];
	char *names[512];
	size_t n = 0, ran = 0;

	source_path(dir, path, sizeof(path));
	DIR *d = opendir(path);
	if (d == NULL) {
		fprintf(stderr, "%s: %s: %s\n", target_name, path, strerror(errno));
		n_problems++;
		return 0;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 512)
		if (e->d_name[0] != '.' && (names[n] = strdup(e->d_name)) != NULL)
			n++;
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	for (size_t i = 0; i < n; i++) {
		char file[1400];
		size_t len = 0;
		snprintf(file, sizeof(file), "%s/%s", path, names[i]);
		uint8_t *data = ran < max_inputs ? read_all(file, max_len, &len) : NULL;
		if (data != NULL) {
			torture_input(names[i], fn, data, len);
			free(data);
			ran++;
		} else {
			n_skipped++;
		}
		free(names[i]);
	}
	return ran;
}

size_t torture_file(const char *rel, torture_fn fn, size_t max_len)
{
	char path[1024];
	const char *shared = getenv("SV_SHARED_DATA");
	size_t len = 0;

	if (rel[0] == '/')
		snprintf(path, sizeof(path), "%s", rel);
	else
		snprintf(path, sizeof(path), "%s/%s",
		         shared != NULL ? shared : TORTURE_SOURCE_DIR "/../shared/data", rel);
	uint8_t *data = read_all(path, max_len, &len);
	if (data == NULL) {
		fprintf(stderr, "%s: %s: missing or too big, skipped\n", target_name, path);
		n_skipped++;
		return 0;
	}
	const char *base = strrchr(rel, '/');
	torture_input(base != NULL ? base + 1 : rel, fn, data, len);
	free(data);
	return 1;
}

int torture_done(void)
{
	remove_scratch();
	printf("torture %s: %lu inputs, %lu runs, %lu skipped, %lu problems\n", target_name,
	       n_inputs, n_runs, n_skipped, n_problems);
	if (n_inputs == 0) {
		fprintf(stderr, "torture %s: no input ran\n", target_name);
		return 1;
	}
	return n_problems == 0 ? 0 : 1;
}
