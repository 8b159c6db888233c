/*
 * test_s3store - the S3 back end's spool: the file format, corrupt and
 * partial files at open, re-enqueueing, retries until an upload succeeds, and
 * the bucket check, against a small fake S3 server (evhttp in a thread: it
 * checks no signature; tests/integration/s3_store.sh runs against Swift).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "base/crc32c.h"
#include "store/objstore.h"
#include "store/s3store.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ format */

static void test_format_roundtrip(void **state)
{
	(void)state;
	struct sv_buf f, big;
	struct sv_s3store_item it;
	const uint8_t *data;
	sv_buf_init(&f);
	sv_buf_init(&big);
	for (size_t i = 0; i < 300000; i++)
		sv_buf_put_u8(&big, (uint8_t)(i * 7 + (i >> 9)));
	struct {
		const char *b, *k, *ct, *ce;
		size_t len;
	} cases[] = {
	    {"acme-calls", "calls/2026/11/26/abc/sip.pcap.gz", "application/gzip", NULL, 300000},
	    {"b.c-d", "quality.json", "application/json", "", 17},
	    {"x12", "utf8/\xc3\xa9t\xc3\xa9 @+=%~.bin", NULL, "gzip", 0},
	    {"x12", "k", "text/plain; charset=utf-8", "identity", 1},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		sv_buf_reset(&f);
		assert_int_equal(sv_s3store_encode(cases[c].b, cases[c].k, cases[c].ct, cases[c].ce,
		                                   1764151200123456789LL + (int64_t)c, big.data,
		                                   cases[c].len, &f),
		                 0);
		assert_int_equal(sv_s3store_decode(f.data, f.len, &it, &data), 0);
		assert_string_equal(it.bucket, cases[c].b);
		assert_string_equal(it.key, cases[c].k);
		assert_string_equal(it.content_type, cases[c].ct ? cases[c].ct : "");
		assert_string_equal(it.content_encoding, cases[c].ce ? cases[c].ce : "");
		assert_int_equal(it.created_ns, 1764151200123456789LL + (int64_t)c);
		assert_int_equal(it.data_len, cases[c].len);
		assert_int_equal(it.header_len + cases[c].len + 4, f.len);
		assert_ptr_equal(data, f.data + it.header_len);
		if (cases[c].len > 0)
			assert_memory_equal(data, big.data, cases[c].len);
		/* The header alone parses; the CRC is over everything before it. */
		struct sv_s3store_item h;
		assert_int_equal(sv_s3store_decode_header(f.data, it.header_len, &h), 0);
		assert_int_equal(h.data_len, cases[c].len);
		assert_int_equal(sv_crc32c(0, f.data, f.len - 4), sv_be32(f.data + f.len - 4));
	}
	/* Exact bytes of a small file (the documented layout). */
	sv_buf_reset(&f);
	assert_int_equal(
	    sv_s3store_encode("abc", "k/1", "t", "", 0x0102030405060708LL, "xy", 2, &f), 0);
	static const uint8_t want[] = {'S', 'V', 'S', 'P', 1, 0,   0, 3, 'a', 'b', 'c', 0,   3,
	                               'k', '/', '1', 0,   1, 't', 0, 0, 1,   2,   3,   4,   5,
	                               6,   7,   8,   0,   0, 0,   0, 0, 0,   0,   2,   'x', 'y'};
	assert_int_equal(f.len, sizeof(want) + 4);
	assert_memory_equal(f.data, want, sizeof(want));
	assert_int_equal(sv_be32(f.data + sizeof(want)), sv_crc32c(0, want, sizeof(want)));
	sv_buf_release(&f);
	sv_buf_release(&big);
}

static void test_format_refuses(void **state)
{
	(void)state;
	struct sv_buf f;
	struct sv_s3store_item it;
	const uint8_t *data;
	sv_buf_init(&f);
	/* Bad names and metadata are refused at encoding. */
	assert_int_equal(sv_s3store_encode("AB", "k", NULL, NULL, 1, "x", 1, &f), -EINVAL);
	assert_int_equal(sv_s3store_encode("abc", "../k", NULL, NULL, 1, "x", 1, &f), -EINVAL);
	assert_int_equal(sv_s3store_encode("abc", "k", "a\nb", NULL, 1, "x", 1, &f), -EINVAL);
	char longct[300];
	memset(longct, 'a', sizeof(longct) - 1);
	longct[sizeof(longct) - 1] = '\0';
	assert_int_equal(sv_s3store_encode("abc", "k", longct, NULL, 1, "x", 1, &f), -EINVAL);
	assert_int_equal(f.len, 0);

	assert_int_equal(sv_s3store_encode("abc", "dir/key", "application/json", "gzip", 42,
	                                   "hello world", 11, &f),
	                 0);
	/* Every truncation fails (never a success on a partial file). */
	for (size_t n = 0; n < f.len; n++) {
		int r = sv_s3store_decode(f.data, n, &it, &data);
		assert_true(r == SV_E_TRUNC || r == SV_E_PARSE);
	}
	/* Trailing bytes. */
	struct sv_buf g;
	sv_buf_init(&g);
	sv_buf_append(&g, f.data, f.len);
	sv_buf_put_u8(&g, 0);
	assert_int_equal(sv_s3store_decode(g.data, g.len, &it, &data), SV_E_PARSE);
	/* Every single-bit flip is caught (CRC, or a header check). */
	for (size_t i = 0; i < f.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			sv_buf_reset(&g);
			sv_buf_append(&g, f.data, f.len);
			g.data[i] ^= (uint8_t)(1u << bit);
			int r = sv_s3store_decode(g.data, g.len, &it, &data);
			assert_true(r == SV_E_TRUNC || r == SV_E_PARSE);
		}
	}
	/* A header naming a key outside the rules, with a valid CRC. */
	sv_buf_reset(&g);
	sv_buf_append(&g, "SVSP\1\0\0\3abc\0\4../k\0\0\0\0", 21);
	sv_buf_put_u64(&g, 1);
	sv_buf_put_u64(&g, 0);
	sv_buf_put_u32(&g, sv_crc32c(0, g.data, g.len));
	assert_int_equal(sv_s3store_decode(g.data, g.len, &it, &data), SV_E_PARSE);
	/* Version 2, and a flags byte. */
	sv_buf_reset(&g);
	sv_buf_append(&g, f.data, f.len);
	g.data[4] = 2;
	assert_int_equal(sv_s3store_decode_header(g.data, g.len, &it), SV_E_PARSE);
	g.data[4] = 1;
	g.data[5] = 1;
	assert_int_equal(sv_s3store_decode_header(g.data, g.len, &it), SV_E_PARSE);
	/* A data length near 2^64 is refused, not wrapped. */
	sv_buf_reset(&g);
	sv_buf_append(&g, "SVSP\1\0\0\3abc\0\1k\0\0\0\0", 18);
	sv_buf_put_u64(&g, 1);
	sv_buf_put_u64(&g, UINT64_MAX - 10);
	assert_int_equal(sv_s3store_decode_header(g.data, g.len, &it), SV_E_PARSE);
	sv_buf_release(&g);
	sv_buf_release(&f);
}

/* The fuzz corpus was written by an independent Python implementation of the
 * format: its valid files decode, the others do not. */
static void test_format_corpus(void **state)
{
	(void)state;
	static const char *const good[] = {"valid-quality", "valid-gzip", "valid-empty",
	                                   "valid-utf8-key"};
	static const char *const bad[] = {"bad-magic",      "bad-version",      "bad-flags",
	                                  "bad-key-dotdot", "bad-bucket-upper", "bad-ctype-ctrl",
	                                  "bad-crc",        "truncated",        "huge-len",
	                                  "trailing",       "nul-in-key",       "empty"};
	char rel[128];
	struct sv_s3store_item it;
	const uint8_t *data;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct sv_buf f;
		sv_buf_init(&f);
		snprintf(rel, sizeof(rel), "tests/fuzz/corpus/s3store/%s", good[i]);
		tu_read_file(tu_source(rel), &f);
		assert_int_equal(sv_s3store_decode(f.data, f.len, &it, &data), 0);
		assert_int_equal(it.created_ns, 1764151200000000000LL);
		if (i == 0) {
			assert_string_equal(it.key, "calls/2026/11/26/abc%40host/quality.json");
			assert_string_equal(it.content_type, "application/json");
			assert_int_equal(it.data_len, 12);
			assert_memory_equal(data, "{\"mos\":4.3}\n", 12);
		}
		sv_buf_release(&f);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sv_buf f;
		sv_buf_init(&f);
		snprintf(rel, sizeof(rel), "tests/fuzz/corpus/s3store/%s", bad[i]);
		tu_read_file(tu_source(rel), &f);
		int r = sv_s3store_decode(f.data, f.len, &it, &data);
		if (r != SV_E_PARSE && r != SV_E_TRUNC)
			fail_msg("%s decoded (%d)", bad[i], r);
		sv_buf_release(&f);
	}
}

/* ------------------------------------------------------------ fake S3 */

#define MAXOBJ 256

struct fake {
	pthread_t th;
	pthread_mutex_t mu;
	struct event_base *base;
	struct evhttp *http;
	int port;
	int status;    /* answer to PUT: 200, or e.g. 503 */
	int puts_seen; /* PUT requests received (any answer) */
	int nobj;
	char *path[MAXOBJ]; /* "/bucket/key" as sent (URI-encoded) */
	struct sv_buf body[MAXOBJ];
	char ctype[MAXOBJ][128];
	char cenc[MAXOBJ][64];
	int stop;
};

static void fake_reply(struct evhttp_request *req, int code, const char *xml)
{
	struct evbuffer *b = evbuffer_new();
	if (xml != NULL) {
		evbuffer_add(b, xml, strlen(xml));
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                  "application/xml");
	}
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
	evbuffer_free(b);
}

static void fake_cb(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char path[2048];
	snprintf(path, sizeof(path), "%s", uri);
	char *q = strchr(path, '?');
	if (q != NULL)
		*q = '\0';
	pthread_mutex_lock(&f->mu);
	if (strncmp(path, "/missing-bucket", 15) == 0) {
		pthread_mutex_unlock(&f->mu);
		fake_reply(
		    req, 404,
		    cmd == EVHTTP_REQ_HEAD
		        ? NULL
		        : "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The "
		          "specified bucket does not exist.</Message><RequestId>r1</RequestId>"
		          "</Error>");
		return;
	}
	if (strncmp(path, "/denied-bucket", 14) == 0) {
		pthread_mutex_unlock(&f->mu);
		fake_reply(req, 403,
		           cmd == EVHTTP_REQ_HEAD
		               ? NULL
		               : "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
		                 "<Message>The request signature we calculated does not match the "
		                 "signature you provided. AKID-not-secret</Message></Error>");
		return;
	}
	if (cmd == EVHTTP_REQ_HEAD && strchr(path + 1, '/') == NULL) {
		pthread_mutex_unlock(&f->mu);
		fake_reply(req, 200, NULL);
		return;
	}
	if (cmd == EVHTTP_REQ_PUT) {
		f->puts_seen++;
		int st = f->status;
		if (st == 200) {
			int i;
			for (i = 0; i < f->nobj; i++)
				if (strcmp(f->path[i], path) == 0)
					break;
			if (i == f->nobj && f->nobj < MAXOBJ) {
				f->path[i] = strdup(path);
				sv_buf_init(&f->body[i]);
				f->nobj++;
			}
			if (i < MAXOBJ) {
				struct evbuffer *in = evhttp_request_get_input_buffer(req);
				size_t n = evbuffer_get_length(in);
				sv_buf_reset(&f->body[i]);
				sv_buf_reserve(&f->body[i], n + 1);
				evbuffer_remove(in, f->body[i].data, n);
				f->body[i].len = n;
				struct evkeyvalq *h = evhttp_request_get_input_headers(req);
				const char *ct = evhttp_find_header(h, "Content-Type");
				const char *ce = evhttp_find_header(h, "Content-Encoding");
				snprintf(f->ctype[i], sizeof(f->ctype[i]), "%s", ct ? ct : "");
				snprintf(f->cenc[i], sizeof(f->cenc[i]), "%s", ce ? ce : "");
			}
		}
		pthread_mutex_unlock(&f->mu);
		fake_reply(req, st,
		           st == 200
		               ? NULL
		               : "<?xml version=\"1.0\"?><Error><Code>ServiceUnavailable</Code>"
		                 "<Message>Please reduce your request rate.</Message></Error>");
		return;
	}
	if (cmd == EVHTTP_REQ_GET) {
		for (int i = 0; i < f->nobj; i++) {
			if (strcmp(f->path[i], path) == 0) {
				struct evbuffer *b = evbuffer_new();
				evbuffer_add(b, f->body[i].data, f->body[i].len);
				pthread_mutex_unlock(&f->mu);
				evhttp_send_reply(req, 200, "OK", b);
				evbuffer_free(b);
				return;
			}
		}
		pthread_mutex_unlock(&f->mu);
		fake_reply(req, 404,
		           "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>no such "
		           "key</Message></Error>");
		return;
	}
	pthread_mutex_unlock(&f->mu);
	fake_reply(req, 400, NULL);
}

static void fake_tick(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&f->mu);
	int stop = f->stop;
	pthread_mutex_unlock(&f->mu);
	if (stop)
		event_base_loopbreak(f->base);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct timeval tv = {0, 20000};
	struct event *t = event_new(f->base, -1, EV_PERSIST, fake_tick, f);
	event_add(t, &tv);
	event_base_dispatch(f->base);
	event_free(t);
	return NULL;
}

static struct fake *fake_start(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	pthread_mutex_init(&f->mu, NULL);
	f->status = 200;
	f->base = event_base_new();
	f->http = evhttp_new(f->base);
	evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD |
	                                        EVHTTP_REQ_POST | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(f->http, fake_cb, f);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
	assert_non_null(bs);
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &sl);
	f->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
	return f;
}

static void fake_stop(struct fake *f)
{
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->th, NULL);
	evhttp_free(f->http);
	event_base_free(f->base);
	for (int i = 0; i < f->nobj; i++) {
		free(f->path[i]);
		sv_buf_release(&f->body[i]);
	}
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static void fake_set_status(struct fake *f, int st)
{
	pthread_mutex_lock(&f->mu);
	f->status = st;
	pthread_mutex_unlock(&f->mu);
}

static int fake_count(struct fake *f, int *puts_seen)
{
	pthread_mutex_lock(&f->mu);
	int n = f->nobj;
	if (puts_seen != NULL)
		*puts_seen = f->puts_seen;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* Copies the body stored for path into out; 0 or -1. */
static int fake_body(struct fake *f, const char *path, struct sv_buf *out, char *ct, char *ce)
{
	int r = -1;
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nobj; i++) {
		if (strcmp(f->path[i], path) == 0) {
			sv_buf_append(out, f->body[i].data, f->body[i].len);
			if (ct)
				strcpy(ct, f->ctype[i]);
			if (ce)
				strcpy(ce, f->cenc[i]);
			r = 0;
		}
	}
	pthread_mutex_unlock(&f->mu);
	return r;
}

/* ------------------------------------------------------------ store helpers */

struct env {
	char *dir;
	char spool[600];
	char endpoint[64];
	struct sv_s3_config cfg;
	struct sv_s3store_opts opts;
	struct event_base *base;
	struct fake *fake;
};

static void env_init(struct env *e, int with_fake)
{
	memset(e, 0, sizeof(*e));
	e->dir = tu_tmpdir();
	snprintf(e->spool, sizeof(e->spool), "%s/spool/objects", e->dir);
	if (with_fake) {
		e->fake = fake_start();
		snprintf(e->endpoint, sizeof(e->endpoint), "http://127.0.0.1:%d", e->fake->port);
	} else {
		/* A port nobody listens on. */
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sin = {.sin_family = AF_INET,
		                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t sl = sizeof(sin);
		bind(s, (struct sockaddr *)&sin, sizeof(sin));
		getsockname(s, (struct sockaddr *)&sin, &sl);
		snprintf(e->endpoint, sizeof(e->endpoint), "http://127.0.0.1:%d",
		         ntohs(sin.sin_port));
		close(s);
	}
	e->cfg.endpoint = e->endpoint;
	e->cfg.access_key = "AKID-not-secret";
	e->cfg.secret_key = "s3cr3t-value";
	e->cfg.max_attempts = 1;
	e->cfg.timeout_ms = 5000;
	e->opts.s3 = &e->cfg;
	e->opts.spool_dir = e->spool;
	e->opts.max_uploads = 4;
	e->opts.retry_base_ms = 20;
	e->opts.retry_max_ms = 100;
	e->base = event_base_new();
	assert_non_null(e->base);
}

static void env_release(struct env *e)
{
	if (e->fake != NULL)
		fake_stop(e->fake);
	event_base_free(e->base);
	tu_rmrf(e->dir);
	free(e->dir);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs the loop until cond(arg) or the time limit; returns cond's value. */
static int run_until(struct event_base *base, int (*cond)(void *), void *arg, double limit_s)
{
	double end = mono() + limit_s;
	struct timeval tv = {0, 10000};
	while (!cond(arg) && mono() < end) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return cond(arg);
}

static void run_for(struct event_base *base, double s)
{
	double end = mono() + s;
	struct timeval tv = {0, 10000};
	while (mono() < end) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static struct sv_s3store *g_ss; /* for the cond callbacks */

static int spool_empty(void *arg)
{
	(void)arg;
	struct sv_s3store_stats st;
	sv_s3store_stats(g_ss, &st);
	return st.spool_objects == 0;
}

/* Files in dir with the given suffix. */
static int count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (d == NULL)
		return -1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		if (de->d_name[0] != '.' && l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

struct done_rec {
	int calls;
	int rc;
};

static void on_done(void *arg, int rc)
{
	struct done_rec *d = arg;
	d->calls++;
	d->rc = rc;
}

static void put_str(struct sv_objstore *st, const char *bucket, const char *key, const char *body,
                    const char *ct, const char *ce, struct done_rec *d)
{
	struct sv_buf b;
	sv_buf_init(&b);
	sv_buf_append_str(&b, body);
	assert_int_equal(sv_objstore_put(st, bucket, key, ct, ce, &b, on_done, d), 0);
	sv_buf_release(&b);
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, n, fp), n);
	fclose(fp);
}

/* ------------------------------------------------------------ store tests */

static void test_put_durable_then_uploaded(void **state)
{
	(void)state;
	struct env e;
	struct sv_objstore *st;
	struct sv_s3store *ss;
	char err[256];
	env_init(&e, 1);
	assert_int_equal(sv_s3store_open(e.base, &e.opts, &st, &ss, err, sizeof(err)), 0);
	assert_string_equal(sv_objstore_backend_name(st), "s3");
	g_ss = ss;
	struct stat sb;
	assert_int_equal(stat(e.spool, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);

	struct done_rec d[10] = {{0, 0}};
	char key[64], body[128];
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "calls/2026/11/26/c%d/quality.json", i);
		snprintf(body, sizeof(body), "{\"n\":%d}", i);
		put_str(st, "acme-calls", key, body, "application/json", i == 3 ? "gzip" : NULL,
		        &d[i]);
		/* Durable before done: done was called, the file is there. */
		assert_int_equal(d[i].calls, 1);
		assert_int_equal(d[i].rc, 0);
	}
	assert_int_equal(count_files(e.spool, ".obj"), 10);
	struct sv_s3store_stats s;
	sv_s3store_stats(ss, &s);
	assert_int_equal(s.spool_objects, 10);
	assert_int_equal(s.spooled, 10);
	assert_true(s.oldest_created_ns > 0);
	assert_true(s.uploads_active <= 4);

	/* Reads are served from the spool while waiting. */
	struct sv_buf got;
	sv_buf_init(&got);
	assert_int_equal(
	    sv_objstore_get(st, "acme-calls", "calls/2026/11/26/c7/quality.json", &got), 0);
	assert_int_equal(got.len, 7);
	assert_memory_equal(got.data, "{\"n\":7}", 7);
	sv_buf_reset(&got);

	assert_true(run_until(e.base, spool_empty, NULL, 10));
	assert_int_equal(count_files(e.spool, ".obj"), 0);
	sv_s3store_stats(ss, &s);
	assert_int_equal(s.uploads_ok, 10);
	assert_int_equal(s.uploads_failed, 0);
	assert_int_equal(s.spool_bytes, 0);
	assert_int_equal(s.oldest_created_ns, 0);
	assert_true(sv_s3store_oldest_age(ss, 0) == 0);
	assert_int_equal(fake_count(e.fake, NULL), 10);
	char ct[128], ce[64];
	assert_int_equal(
	    fake_body(e.fake, "/acme-calls/calls/2026/11/26/c3/quality.json", &got, ct, ce), 0);
	assert_int_equal(got.len, 7);
	assert_memory_equal(got.data, "{\"n\":3}", 7);
	assert_string_equal(ct, "application/json");
	assert_string_equal(ce, "gzip");
	sv_buf_reset(&got);
	/* After the upload, reads go to S3. */
	assert_int_equal(
	    sv_objstore_get(st, "acme-calls", "calls/2026/11/26/c3/quality.json", &got), 0);
	assert_memory_equal(got.data, "{\"n\":3}", 7);
	assert_int_equal(sv_objstore_get(st, "acme-calls", "nope", &got), SV_E_NOTFOUND);
	sv_buf_release(&got);

	struct sv_objstore_stats os;
	sv_objstore_stats(st, &os);
	assert_int_equal(os.puts_ok, 10);
	assert_int_equal(os.in_flight, 0);
	sv_objstore_free(st);
	env_release(&e);
}

static void test_retry_until_s3_answers(void **state)
{
	(void)state;
	struct env e;
	struct sv_objstore *st;
	struct sv_s3store *ss;
	char err[256];
	env_init(&e, 1);
	fake_set_status(e.fake, 503);
	assert_int_equal(sv_s3store_open(e.base, &e.opts, &st, &ss, err, sizeof(err)), 0);
	g_ss = ss;
	struct done_rec d[12] = {{0, 0}};
	for (int i = 0; i < 12; i++) {
		char key[32], body[32];
		snprintf(key, sizeof(key), "k/%02d", i);
		snprintf(body, sizeof(body), "body %d", i);
		put_str(st, i % 2 ? "bucket-one" : "bucket-two", key, body, NULL, NULL, &d[i]);
		assert_int_equal(d[i].rc, 0);
	}
	/* Failing for a while: retried, bounded, nothing lost. */
	run_for(e.base, 0.6);
	struct sv_s3store_stats s;
	sv_s3store_stats(ss, &s);
	assert_int_equal(s.spool_objects, 12);
	assert_true(s.uploads_failed >= 4);
	assert_true(s.uploads_active <= 4);
	int seen;
	assert_int_equal(fake_count(e.fake, &seen), 0);
	/* Probing: one request per bucket per back-off, not a storm (~0.6 s at
	 * 20..100 ms back-off: well under 100 requests). */
	assert_true(seen < 100);
	assert_int_equal(sv_s3store_bucket_count(ss), 2);
	struct sv_s3store_bucket_stats bs;
	assert_int_equal(sv_s3store_bucket(ss, 0, &bs), 0);
	assert_true(bs.failing);
	assert_true(bs.errors > 0);
	assert_int_equal(bs.waiting, 6);
	assert_non_null(strstr(bs.last_error, "503"));
	assert_non_null(strstr(bs.last_error, "ServiceUnavailable"));
	assert_true(bs.last_error_ns > 0);
	assert_true(sv_s3store_oldest_age(ss, s.oldest_created_ns + 2500000000LL) == 2.5);
	assert_int_equal(sv_s3store_bucket(ss, 2, &bs), -ERANGE);

	fake_set_status(e.fake, 200);
	assert_true(run_until(e.base, spool_empty, NULL, 10));
	assert_int_equal(fake_count(e.fake, NULL), 12);
	assert_int_equal(count_files(e.spool, ".obj"), 0);
	assert_int_equal(sv_s3store_bucket(ss, 0, &bs), 0);
	assert_false(bs.failing);
	assert_int_equal(bs.waiting, 0);
	struct sv_buf got;
	sv_buf_init(&got);
	assert_int_equal(fake_body(e.fake, "/bucket-one/k/11", &got, NULL, NULL), 0);
	assert_int_equal(got.len, 7);
	assert_memory_equal(got.data, "body 11", 7);
	sv_buf_release(&got);
	sv_objstore_free(st);
	env_release(&e);
}

static void test_reopen_drains_and_skips_corrupt(void **state)
{
	(void)state;
	struct env e;
	struct sv_objstore *st;
	struct sv_s3store *ss;
	char err[256];
	env_init(&e, 0); /* S3 unreachable first */
	assert_int_equal(sv_s3store_open(e.base, &e.opts, &st, &ss, err, sizeof(err)), 0);
	g_ss = ss;
	struct done_rec d[5] = {{0, 0}};
	for (int i = 0; i < 5; i++) {
		char key[32], body[32];
		snprintf(key, sizeof(key), "obj-%d", i);
		snprintf(body, sizeof(body), "payload %d", i);
		put_str(st, "acme-calls", key, body, "text/plain", NULL, &d[i]);
		assert_int_equal(d[i].rc, 0);
	}
	/* A newer version of obj-0 must win over the older one. */
	struct done_rec d2 = {0, 0};
	put_str(st, "acme-calls", "obj-0", "payload 0 v2", "text/plain", NULL, &d2);
	run_for(e.base, 0.2);
	sv_objstore_free(st);
	assert_int_equal(count_files(e.spool, ".obj"), 6);

	/* A second process cannot use the same spool. */
	/* (checked below while the new store holds it) */

	/* Damage: a truncated copy, a bit-flipped copy (same size: passes the
	 * open-time check, caught by the CRC before upload), garbage, a leftover
	 * temporary file, a foreign file. */
	struct sv_buf f;
	sv_buf_init(&f);
	assert_int_equal(
	    sv_s3store_encode("acme-calls", "evil-truncated", NULL, NULL, 5, "abcdef", 6, &f), 0);
	write_file(e.spool, "0000000000000001-00000000.obj", f.data, f.len - 3);
	sv_buf_reset(&f);
	assert_int_equal(sv_s3store_encode("acme-calls", "evil-flipped", NULL, NULL, 6,
	                                   "garbage must not be uploaded", 28, &f),
	                 0);
	f.data[f.len - 10] ^= 0x20;
	write_file(e.spool, "0000000000000002-00000000.obj", f.data, f.len);
	write_file(e.spool, "0000000000000003-00000000.obj", "not a spool file", 16);
	write_file(e.spool, ".tmp-0000000000000004-00000000.obj", "half", 4);
	write_file(e.spool, "README", "foreign", 7);
	sv_buf_release(&f);

	/* Reopen with S3 up: the five objects (six versions) drain. */
	e.fake = fake_start();
	snprintf(e.endpoint, sizeof(e.endpoint), "http://127.0.0.1:%d", e.fake->port);
	assert_int_equal(sv_s3store_open(e.base, &e.opts, &st, &ss, err, sizeof(err)), 0);
	g_ss = ss;
	struct sv_s3store_stats s;
	sv_s3store_stats(ss, &s);
	assert_int_equal(s.recovered, 7); /* 6 good + the bit-flipped one */
	/* truncated and garbage at the scan; the bit-flipped one as soon as its
	 * upload is attempted (uploads start during open) */
	assert_true(s.corrupt >= 2);
	/* The spool is locked against a second store. */
	struct sv_objstore *st2 = NULL;
	struct event_base *b2 = event_base_new();
	assert_int_equal(sv_s3store_open(b2, &e.opts, &st2, NULL, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "in use"));
	assert_null(st2);
	event_base_free(b2);

	assert_true(run_until(e.base, spool_empty, NULL, 10));
	sv_s3store_stats(ss, &s);
	assert_int_equal(s.uploads_ok, 6);
	assert_int_equal(s.corrupt, 3);
	assert_int_equal(count_files(e.spool, ".obj"), 0);
	assert_int_equal(count_files(e.spool, ".corrupt"), 3);
	/* The leftover temporary file is gone, the foreign file is not. */
	char p[1200];
	snprintf(p, sizeof(p), "%s/.tmp-0000000000000004-00000000.obj", e.spool);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/README", e.spool);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(fake_count(e.fake, NULL), 5);
	struct sv_buf got;
	sv_buf_init(&got);
	assert_int_equal(fake_body(e.fake, "/acme-calls/evil-flipped", &got, NULL, NULL), -1);
	assert_int_equal(fake_body(e.fake, "/acme-calls/evil-truncated", &got, NULL, NULL), -1);
	assert_int_equal(fake_body(e.fake, "/acme-calls/obj-0", &got, NULL, NULL), 0);
	assert_int_equal(got.len, 12);
	assert_memory_equal(got.data, "payload 0 v2", 12);
	sv_buf_release(&got);
	sv_objstore_free(st);
	env_release(&e);
}

struct check_rec {
	int calls;
	int rc[4];
	char line[4][1024];
};

static void on_check(void *arg, size_t i, int rc, const char *line)
{
	struct check_rec *c = arg;
	c->calls++;
	c->rc[i] = rc;
	snprintf(c->line[i], sizeof(c->line[i]), "%s", line);
}

static int checks_done(void *arg)
{
	return ((struct check_rec *)arg)->calls == 3;
}

static void test_check_buckets(void **state)
{
	(void)state;
	struct env e;
	struct sv_objstore *st;
	struct sv_s3store *ss;
	char err[256];
	env_init(&e, 1);
	assert_int_equal(sv_s3store_open(e.base, &e.opts, &st, &ss, err, sizeof(err)), 0);
	struct check_rec c;
	memset(&c, 0, sizeof(c));
	const char *buckets[] = {"good-bucket", "missing-bucket", "denied-bucket"};
	const char *bad[] = {"good-bucket", "Bad_Name"};
	assert_int_equal(sv_s3store_check_buckets(ss, bad, 2, on_check, &c), -EINVAL);
	assert_int_equal(sv_s3store_check_buckets(ss, buckets, 3, on_check, &c), 0);
	assert_int_equal(c.calls, 0); /* never from inside the call */
	assert_true(run_until(e.base, checks_done, &c, 10));
	assert_int_equal(c.rc[0], 0);
	assert_string_equal(c.line[0], "");
	assert_int_equal(c.rc[1], SV_E_NOTFOUND);
	assert_non_null(strstr(c.line[1], "bucket missing-bucket: bucket does not exist"));
	assert_non_null(strstr(c.line[1], "NoSuchBucket"));
	assert_int_equal(c.rc[2], SV_E_AUTH);
	assert_non_null(
	    strstr(c.line[2], "bucket denied-bucket: signature refused: wrong secret key"));
	assert_non_null(strstr(c.line[2], "SignatureDoesNotMatch"));
	/* Credentials never appear, even when the server echoes them. */
	assert_null(strstr(c.line[2], "AKID-not-secret"));
	assert_null(strstr(c.line[2], "s3cr3t"));
	/* Kept in the bucket stats. */
	struct sv_s3store_bucket_stats bs;
	int found = 0;
	for (size_t i = 0; i < sv_s3store_bucket_count(ss); i++) {
		assert_int_equal(sv_s3store_bucket(ss, i, &bs), 0);
		if (strcmp(bs.bucket, "denied-bucket") == 0) {
			found++;
			assert_int_equal(bs.check_rc, SV_E_AUTH);
			assert_string_equal(bs.check_error, c.line[2]);
		} else if (strcmp(bs.bucket, "good-bucket") == 0) {
			found++;
			assert_int_equal(bs.check_rc, 0);
		}
	}
	assert_int_equal(found, 2);

	/* Uploads to a refused bucket: retried (never dropped), error kept. */
	g_ss = ss;
	struct done_rec d = {0, 0};
	put_str(st, "denied-bucket", "k", "v", NULL, NULL, &d);
	assert_int_equal(d.rc, 0);
	run_for(e.base, 0.3);
	struct sv_s3store_stats s;
	sv_s3store_stats(ss, &s);
	assert_int_equal(s.spool_objects, 1);
	assert_true(s.uploads_failed >= 2);
	sv_objstore_free(st); /* the file stays for the next start */
	assert_int_equal(count_files(e.spool, ".obj"), 1);
	env_release(&e);
}

static void test_open_errors(void **state)
{
	(void)state;
	struct env e;
	struct sv_objstore *st = (struct sv_objstore *)1;
	char err[256];
	env_init(&e, 0);
	struct sv_s3store_opts o = e.opts;
	o.spool_dir = NULL;
	assert_int_equal(sv_s3store_open(e.base, &o, &st, NULL, err, sizeof(err)), -EINVAL);
	assert_null(st);
	struct sv_s3_config c = e.cfg;
	c.endpoint = "ftp://x";
	o = e.opts;
	o.s3 = &c;
	assert_int_equal(sv_s3store_open(e.base, &o, &st, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad S3 settings"));
	assert_null(strstr(err, "s3cr3t"));
	/* A spool path through a regular file. */
	write_file(e.dir, "file", "x", 1);
	snprintf(e.spool, sizeof(e.spool), "%s/file/sub", e.dir);
	assert_int_equal(sv_s3store_open(e.base, &e.opts, &st, NULL, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, "cannot create spool"));
	/* The short form works. */
	snprintf(e.spool, sizeof(e.spool), "%s/ok", e.dir);
	assert_int_equal(sv_objstore_s3_new(e.base, &e.cfg, e.spool, &st, err, sizeof(err)), 0);
	/* A put that cannot reach the spool fails through done. */
	chmod(e.spool, 0500);
	if (geteuid() != 0) {
		struct done_rec d = {0, 0};
		put_str(st, "abc", "k", "v", NULL, NULL, &d);
		assert_int_equal(d.calls, 1);
		assert_int_equal(d.rc, -EACCES);
	}
	chmod(e.spool, 0700);
	sv_objstore_free(st);
	sv_objstore_free(NULL);
	struct sv_s3store_stats s;
	sv_s3store_stats(NULL, &s);
	assert_int_equal(s.spool_objects, 0);
	env_release(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_roundtrip),
	    cmocka_unit_test(test_format_refuses),
	    cmocka_unit_test(test_format_corpus),
	    cmocka_unit_test(test_put_durable_then_uploaded),
	    cmocka_unit_test(test_retry_until_s3_answers),
	    cmocka_unit_test(test_reopen_drains_and_skips_corrupt),
	    cmocka_unit_test(test_check_buckets),
	    cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
