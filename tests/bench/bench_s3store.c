/*
 * bench_s3store - PUT throughput against a real S3 server: our client
 * (s3.h, curl multi on libevent) with 1, 8 and 32 requests in flight, boto3
 * with 1, 8 and 32 threads (tests/bench/s3_put_boto3.py) against the same
 * server in the same run, and the S3 object store (spool with fsyncs, then
 * uploads, max_uploads 32) end to end.
 *
 * The server is OpenStack Swift with s3api on loopback, started here through
 * tests/tools/swiftfixture.py (Debian's python3-swift, python3-boto3 and
 * memcached under /usr/bin/python3). The source tree is $SV_SOURCE_DIR, else
 * two levels above this program (build/bench/). Objects: BENCH_COUNT (300)
 * of BENCH_SIZE (65536) bytes per run. Not a test: run by `make bench`.
 */
#include "base/buf.h"
#include "base/errors.h"
#include "store/objstore.h"
#include "store/s3.h"
#include "store/s3store.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUCKET "sv-bench"

static char g_src[PATH_MAX];
static pid_t g_fixture = -1;
static size_t g_size = 65536;
static unsigned g_count = 300;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int find_source(void)
{
	const char *e = getenv("SV_SOURCE_DIR");
	char exe[PATH_MAX], test[PATH_MAX + 64];
	if (e != NULL && e[0] != '\0') {
		snprintf(g_src, sizeof(g_src), "%s", e);
		return 0;
	}
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	for (int up = 0; up < 3; up++) { /* .../build/bench/bench_s3store */
		char *s = strrchr(exe, '/');
		if (s == NULL)
			return -1;
		*s = '\0';
		snprintf(test, sizeof(test), "%s/tests/tools/swiftfixture.py", exe);
		if (access(test, R_OK) == 0) {
			snprintf(g_src, sizeof(g_src), "%s", exe);
			return 0;
		}
	}
	return -1;
}

/* Starts the fixture; its SIPVAULT_S3_* lines go into the environment. */
static int start_swift(void)
{
	int p[2];
	char script[PATH_MAX + 64];
	snprintf(script, sizeof(script), "%s/tests/tools/swiftfixture.py", g_src);
	if (pipe(p) != 0)
		return -1;
	g_fixture = fork();
	if (g_fixture < 0)
		return -1;
	if (g_fixture == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl("/usr/bin/python3", "python3", script, "run", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	FILE *f = fdopen(p[0], "r");
	char line[1024];
	int ok = 0;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		char *eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		if (strncmp(line, "SIPVAULT_S3_", 12) == 0)
			setenv(line, eq + 1, 1);
		if (strcmp(line, "SWIFTFIXTURE_PID") == 0) {
			ok = 1;
			break;
		}
	}
	if (f != NULL)
		fclose(f);
	return ok ? 0 : -1;
}

static void stop_swift(void)
{
	if (g_fixture > 0) {
		kill(g_fixture, SIGTERM);
		waitpid(g_fixture, NULL, 0);
		g_fixture = -1;
	}
}

static struct sv_s3_config cfg_for(unsigned conc)
{
	struct sv_s3_config c;
	memset(&c, 0, sizeof(c));
	c.endpoint = getenv("SIPVAULT_S3_ENDPOINT");
	c.region = getenv("SIPVAULT_S3_REGION");
	c.access_key = getenv("SIPVAULT_S3_ACCESS_KEY");
	c.secret_key = getenv("SIPVAULT_S3_SECRET_KEY");
	c.max_inflight = conc;
	c.max_connections = conc;
	c.max_attempts = 3;
	return c;
}

struct run {
	struct sv_s3 *s3;
	const uint8_t *body;
	unsigned next, done, count, failed;
	char prefix[64];
};

static void submit(struct run *r);

static void put_done(struct sv_s3_result *res, void *arg)
{
	struct run *r = arg;
	if (res->rc != 0 && r->failed++ == 0)
		fprintf(stderr, "bench_s3store: %s\n", res->error);
	r->done++;
	submit(r);
}

static void submit(struct run *r)
{
	if (r->next >= r->count)
		return;
	char key[128];
	snprintf(key, sizeof(key), "%s/%06u", r->prefix, r->next++);
	struct sv_s3_put_opts po = {.content_type = "application/gzip"};
	if (sv_s3_put(r->s3, BUCKET, key, r->body, g_size, &po, put_done, r) != 0) {
		r->failed++;
		r->done++;
	}
}

/* Our client: count PUTs with conc in flight. Returns PUTs/s, -1 on failure. */
static double bench_ours(struct event_base *base, const uint8_t *body, unsigned conc)
{
	struct sv_s3_config c = cfg_for(conc);
	struct run r;
	memset(&r, 0, sizeof(r));
	if (sv_s3_new(base, &c, &r.s3) != 0)
		return -1;
	r.body = body;
	/* warm-up */
	r.count = 10;
	snprintf(r.prefix, sizeof(r.prefix), "ours-%u-warm", conc);
	for (unsigned i = 0; i < conc && i < r.count; i++)
		submit(&r);
	event_base_dispatch(base);
	memset(&r.next, 0, sizeof(r) - offsetof(struct run, next));
	r.count = g_count;
	snprintf(r.prefix, sizeof(r.prefix), "ours-%u", conc);
	double t0 = now();
	for (unsigned i = 0; i < conc; i++)
		submit(&r);
	event_base_dispatch(base);
	double dt = now() - t0;
	struct sv_s3_stats st;
	sv_s3_get_stats(r.s3, &st);
	sv_s3_free(r.s3);
	if (r.failed > 0 || r.done != g_count)
		return -1;
	(void)st;
	return g_count / dt;
}

static double bench_boto3(unsigned conc)
{
	char cmd[PATH_MAX + 256];
	snprintf(cmd, sizeof(cmd),
	         "/usr/bin/python3 '%s/tests/bench/s3_put_boto3.py' %s %u %u %zu boto3-%u", g_src,
	         BUCKET, conc, g_count, g_size, conc);
	FILE *p = popen(cmd, "r");
	char line[256];
	double rate = -1;
	while (p != NULL && fgets(line, sizeof(line), p) != NULL) {
		char *s = strstr(line, "per_s=");
		if (s != NULL)
			rate = atof(s + 6);
	}
	if (p == NULL || pclose(p) != 0)
		return -1;
	return rate;
}

struct store_run {
	unsigned done, failed;
};

static void store_done(void *arg, int rc)
{
	struct store_run *r = arg;
	r->done++;
	if (rc != 0)
		r->failed++;
}

/* The object store end to end: spool (fsync) + upload, 32 uploads. */
static double bench_store(struct event_base *base, const uint8_t *body, double *spool_rate)
{
	char dir[] = "/tmp/sv-bench-spool.XXXXXX";
	struct sv_s3_config c = cfg_for(32);
	struct sv_s3store_opts o = {.s3 = &c, .spool_dir = dir, .max_uploads = 32};
	struct sv_objstore *st;
	struct sv_s3store *ss;
	struct store_run r = {0, 0};
	char err[256], key[64], cmd[128];
	double rate = -1;
	if (mkdtemp(dir) == NULL)
		return -1;
	if (sv_s3store_open(base, &o, &st, &ss, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_s3store: %s\n", err);
		return -1;
	}
	double t0 = now();
	for (unsigned i = 0; i < g_count; i++) {
		struct sv_buf b;
		sv_buf_init(&b);
		sv_buf_append(&b, body, g_size);
		snprintf(key, sizeof(key), "store/%06u", i);
		sv_objstore_put(st, BUCKET, key, "application/gzip", NULL, &b, store_done, &r);
		sv_buf_release(&b);
		/* let the loop run between puts, as the server's would */
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	*spool_rate = g_count / (now() - t0);
	struct sv_s3store_stats s;
	for (;;) {
		sv_s3store_stats(ss, &s);
		if (s.spool_objects == 0)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	double dt = now() - t0;
	if (r.failed == 0 && s.uploads_ok == g_count)
		rate = g_count / dt;
	sv_objstore_free(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_s3store: cannot remove %s\n", dir);
	return rate;
}

int main(void)
{
	static const unsigned conc[] = {1, 8, 32};
	double ours[3], boto[3], spool_rate = 0, store;
	const char *e;
	if ((e = getenv("BENCH_COUNT")) != NULL)
		g_count = (unsigned)atoi(e);
	if ((e = getenv("BENCH_SIZE")) != NULL)
		g_size = (size_t)atol(e);
	if (find_source() != 0) {
		fprintf(stderr, "bench_s3store: source tree not found (set SV_SOURCE_DIR)\n");
		return 1;
	}
	if (start_swift() != 0) {
		fprintf(stderr, "bench_s3store: Swift did not start\n");
		stop_swift();
		return 1;
	}
	struct event_base *base = event_base_new();
	struct sv_s3 *s3;
	struct sv_s3_config c = cfg_for(1);
	struct sv_s3_result res;
	uint8_t *body = malloc(g_size);
	for (size_t i = 0; i < g_size; i++)
		body[i] = (uint8_t)(i * 7 + (i >> 9));
	if (sv_s3_new(NULL, &c, &s3) != 0 || sv_s3_sync_create_bucket(s3, BUCKET, &res) != 0) {
		fprintf(stderr, "bench_s3store: create bucket: %s\n", res.error);
		stop_swift();
		return 1;
	}
	sv_s3_result_release(&res);
	sv_s3_free(s3);
	int rc = 0;
	for (int i = 0; i < 3; i++) {
		ours[i] = bench_ours(base, body, conc[i]);
		boto[i] = bench_boto3(conc[i]);
		if (ours[i] < 0 || boto[i] < 0)
			rc = 1;
	}
	store = bench_store(base, body, &spool_rate);
	printf("S3 PUT throughput, %u objects of %zu bytes each, Swift s3api on loopback at %s\n",
	       g_count, g_size, getenv("SIPVAULT_S3_ENDPOINT"));
	printf("%-10s %14s %14s %8s\n", "in flight", "ours PUT/s", "boto3 PUT/s", "ratio");
	for (int i = 0; i < 3; i++)
		printf("%-10u %14.1f %14.1f %7.2fx\n", conc[i], ours[i], boto[i],
		       boto[i] > 0 ? ours[i] / boto[i] : 0);
	printf("object store (spool + fsync, then 32 uploads): %.1f objects/s end to end; "
	       "puts durable in the spool at %.1f/s\n",
	       store, spool_rate);
	free(body);
	event_base_free(base);
	stop_swift();
	return rc != 0 || store < 0;
}
