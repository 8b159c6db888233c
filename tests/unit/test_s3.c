#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "store/s3.h"
#include "store/sigv4.h"
#include "testutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_endpoint_parse(void **state)
{
	struct sv_s3_endpoint ep;
	assert_int_equal(sv_s3_endpoint_parse("http://127.0.0.1:9000", &ep), 0);
	assert_false(ep.https);
	assert_string_equal(ep.host, "127.0.0.1");
	assert_int_equal(ep.port, 9000);
	assert_string_equal(ep.hostport, "127.0.0.1:9000");
	assert_string_equal(ep.prefix, "");
	assert_string_equal(ep.base, "http://127.0.0.1:9000");

	assert_int_equal(sv_s3_endpoint_parse("https://acct.r2.cloudflarestorage.com/", &ep), 0);
	assert_true(ep.https);
	assert_int_equal(ep.port, 443);
	assert_string_equal(ep.hostport, "acct.r2.cloudflarestorage.com");
	assert_string_equal(ep.prefix, "");

	assert_int_equal(sv_s3_endpoint_parse("HTTPS://s3.example:443/proxy/s3//", &ep), 0);
	assert_string_equal(ep.hostport, "s3.example"); /* default port left out of Host */
	assert_string_equal(ep.prefix, "/proxy/s3");
	assert_string_equal(ep.base, "https://s3.example");

	assert_int_equal(sv_s3_endpoint_parse("http://[::1]:8080/x", &ep), 0);
	assert_string_equal(ep.host, "::1");
	assert_string_equal(ep.hostport, "[::1]:8080");
	assert_string_equal(ep.base, "http://[::1]:8080");
	assert_string_equal(ep.prefix, "/x");

	static const char *const bad[] = {
	    NULL,
	    "",
	    "ftp://host",
	    "http://",
	    "http:///path",
	    "http://user:pw@host",
	    "http://host:0",
	    "http://host:65536",
	    "http://host:12a",
	    "http://host:",
	    "http://host/path?x=1",
	    "http://host/#frag",
	    "http://ho st",
	    "http://[::1",
	    "http://[::1]x",
	    "http://host/pre fix",
	    "//host",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sv_s3_endpoint_parse(bad[i], &ep), -EINVAL);
}

static void test_retry_policy(void **state)
{
	/* Connection-level failures are retried. */
	assert_true(sv_s3_retryable(CURLE_COULDNT_CONNECT, 0, NULL));
	assert_true(sv_s3_retryable(CURLE_OPERATION_TIMEDOUT, 0, NULL));
	assert_true(sv_s3_retryable(CURLE_RECV_ERROR, 0, NULL));
	assert_true(sv_s3_retryable(CURLE_SEND_ERROR, 0, NULL));
	assert_true(sv_s3_retryable(CURLE_GOT_NOTHING, 0, NULL));
	/* Our own mistakes are not. */
	assert_false(sv_s3_retryable(CURLE_URL_MALFORMAT, 0, NULL));
	assert_false(sv_s3_retryable(CURLE_WRITE_ERROR, 0, NULL));
	/* 5xx, 429, SlowDown: yes. */
	assert_true(sv_s3_retryable(0, 500, "InternalError"));
	assert_true(sv_s3_retryable(0, 502, ""));
	assert_true(sv_s3_retryable(0, 503, "SlowDown"));
	assert_true(sv_s3_retryable(0, 504, NULL));
	assert_true(sv_s3_retryable(0, 429, NULL));
	assert_true(sv_s3_retryable(0, 400, "SlowDown"));
	/* Every other 4xx: never. */
	static const int no[] = {400, 401, 403, 404, 405, 409, 411, 412, 416};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_false(sv_s3_retryable(0, no[i], NULL));
		assert_false(sv_s3_retryable(0, no[i], "SignatureDoesNotMatch"));
	}
	assert_false(sv_s3_retryable(0, 200, NULL));
}

static void test_backoff(void **state)
{
	assert_int_equal(sv_s3_backoff_ms(0, 200, 10000, 12345), 0);
	/* attempt 1: cap 200 → [100, 200]; attempt 2: [200, 400]; ... */
	for (uint32_t rnd = 0; rnd < 5000; rnd += 7) {
		unsigned prev_cap = 0;
		for (unsigned a = 1; a <= 12; a++) {
			unsigned cap = 200u << (a - 1);
			if (cap > 10000)
				cap = 10000;
			unsigned d = sv_s3_backoff_ms(a, 200, 10000, rnd * 2654435761u);
			assert_true(d >= cap - cap / 2);
			assert_true(d <= cap);
			assert_true(cap >= prev_cap);
			prev_cap = cap;
		}
	}
	/* Jitter: different random draws give different delays. */
	assert_int_not_equal(sv_s3_backoff_ms(3, 200, 10000, 1),
	                     sv_s3_backoff_ms(3, 200, 10000, 2));
	/* Huge attempt numbers do not overflow. */
	assert_true(sv_s3_backoff_ms(1000, 200, 10000, 0xffffffffu) <= 10000);
	assert_true(sv_s3_backoff_ms(1000, 200, 10000, 0) >= 5000);
}

static void test_status_and_md5(void **state)
{
	assert_int_equal(sv_s3_status_rc(200), 0);
	assert_int_equal(sv_s3_status_rc(204), 0);
	assert_int_equal(sv_s3_status_rc(400), -EINVAL);
	assert_int_equal(sv_s3_status_rc(403), SV_E_AUTH);
	assert_int_equal(sv_s3_status_rc(404), SV_E_NOTFOUND);
	assert_int_equal(sv_s3_status_rc(409), -EEXIST);
	assert_int_equal(sv_s3_status_rc(503), -EIO);
	char md5[25];
	sv_s3_content_md5("", 0, md5);
	assert_string_equal(md5, "1B2M2Y8AsgTpgAmY7PhCfg==");
	sv_s3_content_md5("The quick brown fox jumps over the lazy dog", 43, md5);
	assert_string_equal(md5, "nhB9nTcrtoJr2B01QqQZ1g==");
}

/* botocore (Debian's python3-botocore) signs the same request at the same
 * instant; its Authorization header must equal ours. */
static const char *const boto_sign =
    "/usr/bin/python3 -c '\n"
    "import sys, datetime\n"
    "from unittest import mock\n"
    "from botocore.auth import S3SigV4Auth\n"
    "from botocore.awsrequest import AWSRequest\n"
    "from botocore.credentials import Credentials\n"
    "method, url, when, region, body = sys.argv[1:6]\n"
    "hdrs = dict(h.split(\": \", 1) for h in sys.argv[6:])\n"
    "r = AWSRequest(method=method, url=url, headers=hdrs, data=body.encode())\n"
    "with mock.patch(\"botocore.auth.datetime\") as dt:\n"
    "    dt.datetime.utcnow.return_value = datetime.datetime.strptime(when, \"%Y%m%dT%H%M%SZ\")\n"
    "    S3SigV4Auth(Credentials(\"AKIDEXAMPLE\", \"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\"),\n"
    "                \"s3\", region).add_auth(r)\n"
    "sys.stdout.write(r.headers[\"Authorization\"])\n' ";

static void shell_quote(struct sv_buf *cmd, const char *s)
{
	sv_buf_append_str(cmd, " '");
	for (; *s; s++) {
		if (*s == '\'')
			sv_buf_append_str(cmd, "'\\''");
		else
			sv_buf_append(cmd, s, 1);
	}
	sv_buf_append_str(cmd, "'");
}

static void check_against_botocore(const char *endpoint, const char *method, const char *bucket,
                                   const char *key, const struct sv_sigv4_header *q, size_t nq,
                                   const struct sv_sigv4_header *x, size_t nx, const char *body,
                                   const char *want_url)
{
	struct sv_s3_endpoint ep;
	assert_int_equal(sv_s3_endpoint_parse(endpoint, &ep), 0);
	char sha[65];
	sv_sha256_hex(body, strlen(body), sha);
	struct sv_buf url, hdrs;
	sv_buf_init(&url);
	sv_buf_init(&hdrs);
	const int64_t now = 1795000000; /* 2026-11-18T11:06:40Z */
	assert_int_equal(sv_s3_build_request(
	                     &ep, "auto", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	                     NULL, method, bucket, key, q, nq, x, nx, sha, now, &url, &hdrs),
	                 0);
	assert_int_equal(sv_buf_append(&url, "", 1), 0);
	assert_int_equal(sv_buf_append(&hdrs, "", 1), 0);
	if (want_url != NULL)
		assert_string_equal((const char *)url.data, want_url);

	/* Our header lines, minus Authorization, go to botocore as they are. */
	struct sv_buf cmd;
	sv_buf_init(&cmd);
	sv_buf_append_str(&cmd, boto_sign);
	shell_quote(&cmd, method);
	shell_quote(&cmd, (const char *)url.data);
	shell_quote(&cmd, "20261118T110640Z");
	shell_quote(&cmd, "auto");
	shell_quote(&cmd, body);
	char *ours = NULL;
	char *lines = strdup((const char *)hdrs.data);
	char *save = NULL;
	int saw_sha = 0, saw_date = 0;
	for (char *l = strtok_r(lines, "\r\n", &save); l != NULL;
	     l = strtok_r(NULL, "\r\n", &save)) {
		if (strncmp(l, "Authorization: ", 15) == 0) {
			ours = strdup(l + 15);
			continue;
		}
		saw_sha |= strncmp(l, "X-Amz-Content-Sha256: ", 22) == 0 && strstr(l, sha) != NULL;
		saw_date |= strcmp(l, "X-Amz-Date: 20261118T110640Z") == 0;
		shell_quote(&cmd, l);
	}
	free(lines);
	assert_true(saw_sha);
	assert_true(saw_date);
	assert_non_null(ours);
	assert_int_equal(sv_buf_append(&cmd, "", 1), 0);
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(tu_run((const char *)cmd.data, &out), 0);
	assert_int_equal(sv_buf_append(&out, "", 1), 0);
	assert_string_equal((const char *)out.data, ours);
	assert_non_null(strstr(ours, "Credential=AKIDEXAMPLE/20261118/auto/s3/aws4_request"));
	free(ours);
	sv_buf_release(&out);
	sv_buf_release(&cmd);
	sv_buf_release(&url);
	sv_buf_release(&hdrs);
}

static void test_build_request_matches_botocore(void **state)
{
	char md5[25];
	const char *body = "{\"calls\": 1}";
	sv_s3_content_md5(body, strlen(body), md5);
	struct sv_sigv4_header put_x[] = {{"Content-Type", "application/json"},
	                                  {"Content-Encoding", "gzip"},
	                                  {"Content-MD5", md5}};
	check_against_botocore("http://127.0.0.1:9000", "PUT", "acme-calls",
	                       "calls/2026/11/19/a b@c+d=e%f~g\xc3\xa9/quality.json", NULL, 0,
	                       put_x, 3, body,
	                       "http://127.0.0.1:9000/acme-calls/calls/2026/11/19/"
	                       "a%20b%40c%2Bd%3De%25f~g%C3%A9/quality.json");

	struct sv_sigv4_header list_q[] = {{"list-type", "2"},
	                                   {"prefix", "calls/2026/ x+y"},
	                                   {"delimiter", "/"},
	                                   {"continuation-token", "YS8yICYgPHg+LnR4dA=="},
	                                   {"max-keys", "1000"}};
	check_against_botocore("https://s3.example.com/prefix", "GET", "bkt", NULL, list_q, 5, NULL,
	                       0, "",
	                       "https://s3.example.com/prefix/bkt?continuation-token="
	                       "YS8yICYgPHg%2BLnR4dA%3D%3D&delimiter=%2F&list-type=2&max-keys=1000"
	                       "&prefix=calls%2F2026%2F%20x%2By");

	struct sv_sigv4_header del_q[] = {{"delete", ""}};
	struct sv_sigv4_header del_x[] = {{"Content-Type", "application/xml"},
	                                  {"Content-MD5", md5}};
	check_against_botocore("http://[::1]:8080", "POST", "bkt", NULL, del_q, 1, del_x, 2, body,
	                       "http://[::1]:8080/bkt?delete=");
	check_against_botocore("http://localhost", "HEAD", "bkt", "k", NULL, 0, NULL, 0, "",
	                       "http://localhost/bkt/k");
}

/* --------------------------------------------------- client without a server */

static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

struct tally {
	int calls;
	int cancelled;
	int refused;
	unsigned attempts;
};

static void count_done(struct sv_s3_result *res, void *arg)
{
	struct tally *t = arg;
	t->calls++;
	t->cancelled += res->rc == -ECANCELED;
	t->refused += res->rc == -ECONNREFUSED;
	t->attempts += res->attempts;
}

static void test_bounded_queue_and_cancel(void **state)
{
	char ep[64];
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", closed_port());
	struct sv_s3_config c = {.endpoint = ep,
	                         .access_key = "ak",
	                         .secret_key = "sk",
	                         .max_inflight = 2,
	                         .max_queued = 3,
	                         .max_queued_bytes = 100,
	                         .max_attempts = 50,
	                         .backoff_base_ms = 1000};
	struct event_base *base = event_base_new();
	struct sv_s3 *s3 = NULL;
	assert_int_equal(sv_s3_new(base, &c, &s3), 0);
	assert_ptr_equal(sv_s3_base(s3), base);
	struct tally t = {0};
	char big[60] = {0};
	for (int i = 0; i < 5; i++)
		assert_int_equal(
		    sv_s3_put(s3, "b", "k", big, i == 0 ? 60 : 1, NULL, count_done, &t), 0);
	assert_int_equal(sv_s3_pending(s3), 5);
	assert_int_equal(sv_s3_inflight(s3), 2);
	/* Over the request count, and (separately) over the body bytes. */
	assert_int_equal(sv_s3_get(s3, "b", "k", count_done, &t), -ENOBUFS);
	assert_int_equal(t.calls, 0); /* never called for a refused submit, nor synchronously */
	/* Bad arguments. */
	assert_int_equal(sv_s3_get(s3, "b/c", "k", count_done, &t), -EINVAL);
	assert_int_equal(sv_s3_get(s3, "", "k", count_done, &t), -EINVAL);
	assert_int_equal(sv_s3_get(s3, "b", "", count_done, &t), -EINVAL);
	assert_int_equal(sv_s3_get(s3, "b", "k", NULL, NULL), -EINVAL);
	/* Run the loop a little: the first attempts fail, backoffs start. */
	struct timeval tv = {0, 200000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	assert_int_equal(t.calls, 0);
	assert_int_equal(sv_s3_pending(s3), 5);
	sv_s3_free(s3); /* every unfinished request is reported, once */
	assert_int_equal(t.calls, 5);
	assert_int_equal(t.cancelled, 5);
	event_base_free(base);
}

static void test_sync_connection_refused(void **state)
{
	char ep[64];
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", closed_port());
	struct sv_s3_config c = {.endpoint = ep,
	                         .access_key = "ak",
	                         .secret_key = "sk",
	                         .max_attempts = 3,
	                         .backoff_base_ms = 10};
	struct sv_s3 *s3 = NULL;
	assert_int_equal(sv_s3_new(NULL, &c, &s3), 0);
	struct sv_s3_result res;
	assert_int_equal(sv_s3_sync_get(s3, "bkt", "a b", &res), -ECONNREFUSED);
	assert_int_equal(res.attempts, 3);
	assert_non_null(strstr(res.error, "GET bkt/a b: cannot connect to 127.0.0.1:"));
	sv_s3_result_release(&res);
	/* Asynchronous requests on the private base, drained. */
	struct tally t = {0};
	for (int i = 0; i < 4; i++)
		assert_int_equal(sv_s3_head(s3, "bkt", NULL, count_done, &t), 0);
	assert_int_equal(sv_s3_sync_drain(s3), 0);
	assert_int_equal(t.calls, 4);
	assert_int_equal(t.refused, 4);
	assert_int_equal(t.attempts, 12);
	struct sv_s3_stats st;
	sv_s3_get_stats(s3, &st);
	assert_int_equal(st.requests, 5);
	assert_int_equal(st.failures, 5);
	assert_int_equal(st.attempts, 15);
	assert_int_equal(st.retries, 10);
	sv_s3_free(s3);
	sv_s3_free(NULL);
}

/* --------------------------------------------- a scripted loopback HTTP server */

struct fake {
	int lfd;
	int port;
	pthread_t th;
	const char *const *answers; /* one per request, the last one repeats */
	size_t n_answers;
	int served;
	char last_request[4096];
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	for (;;) {
		int c = accept(f->lfd, NULL, NULL);
		if (c < 0)
			return NULL;
		char buf[8192];
		size_t len = 0;
		char *end = NULL;
		while (len < sizeof(buf) - 1 && end == NULL) {
			ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = '\0';
			end = strstr(buf, "\r\n\r\n");
		}
		if (end == NULL) {
			close(c);
			continue;
		}
		/* Swallow a body announced by Content-Length. */
		const char *cl = strcasestr(buf, "\r\nContent-Length:");
		size_t want = cl != NULL ? (size_t)atol(cl + 17) : 0;
		size_t have = len - (size_t)(end + 4 - buf);
		while (have < want) {
			char junk[1024];
			ssize_t n = read(c, junk, sizeof(junk));
			if (n <= 0)
				break;
			have += (size_t)n;
		}
		snprintf(f->last_request, sizeof(f->last_request), "%.*s", (int)(end - buf), buf);
		size_t i = (size_t)f->served < f->n_answers ? (size_t)f->served : f->n_answers - 1;
		f->served++;
		const char *a = f->answers[i];
		ssize_t w = write(c, a, strlen(a));
		(void)w;
		close(c);
	}
}

static void fake_start(struct fake *f, const char *const *answers, size_t n)
{
	memset(f, 0, sizeof(*f));
	f->answers = answers;
	f->n_answers = n;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->lfd, 16), 0);
	socklen_t al = sizeof(a);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	close(f->lfd);
	pthread_join(f->th, NULL);
}

#define SLOWDOWN                                                                            \
	"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: 97\r\n" \
	"Connection: close\r\n\r\n"                                                         \
	"<?xml version=\"1.0\"?>\n<Error><Code>SlowDown</Code><Message>Reduce your rate"    \
	"</Message></Error>    "
#define OK_PUT                                                                                 \
	"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nx-amz-request-id: req-1\r\nContent-Length: 0\r\n" \
	"Connection: close\r\n\r\n"
#define DENIED                                                                               \
	"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: 130\r\n" \
	"Connection: close\r\n\r\n"                                                          \
	"<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"                   \
	"<RequestId>r-403</RequestId></Error>                              "

static struct sv_s3 *fake_client(const struct fake *f, unsigned attempts)
{
	char ep[64];
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/", f->port);
	struct sv_s3_config c = {.endpoint = ep,
	                         .access_key = "ak",
	                         .secret_key = "sk",
	                         .max_attempts = attempts,
	                         .backoff_base_ms = 10,
	                         .backoff_max_ms = 40};
	struct sv_s3 *s3 = NULL;
	assert_int_equal(sv_s3_new(NULL, &c, &s3), 0);
	return s3;
}

static void test_retry_slowdown_then_success(void **state)
{
	static const char *const script[] = {SLOWDOWN, SLOWDOWN, OK_PUT};
	struct fake f;
	fake_start(&f, script, 3);
	struct sv_s3 *s3 = fake_client(&f, 5);
	struct sv_s3_result res;
	struct sv_s3_put_opts po = {.content_type = "text/plain", .content_encoding = "gzip"};
	int rc = sv_s3_sync_put(s3, "bkt", "a b", "hello", 5, &po, &res);
	if (rc != 0)
		fail_msg("%s", res.error);
	assert_int_equal(res.attempts, 3);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.etag, "\"abc\"");
	assert_string_equal(res.request_id, "req-1");
	assert_int_equal(f.served, 3);
	/* What went on the wire, the third time. */
	assert_non_null(strstr(f.last_request, "PUT /bkt/a%20b HTTP/1.1\r\n"));
	assert_non_null(strstr(f.last_request, "\r\nContent-Type: text/plain\r\n"));
	assert_non_null(strstr(f.last_request, "\r\nContent-Encoding: gzip\r\n"));
	assert_non_null(strstr(f.last_request, "\r\nContent-MD5: XUFAKrxLKna5cZ2REBfFkg==\r\n"));
	assert_non_null(strstr(f.last_request,
	                       "\r\nX-Amz-Content-Sha256: "
	                       "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b"
	                       "9824\r\n"));
	assert_non_null(
	    strstr(f.last_request, "\r\nAuthorization: AWS4-HMAC-SHA256 Credential=ak/"));
	assert_non_null(strstr(f.last_request,
	                       "/auto/s3/aws4_request, SignedHeaders=content-encoding;"
	                       "content-md5;content-type;host;x-amz-content-sha256;"
	                       "x-amz-date, Signature="));
	assert_null(strstr(f.last_request, "Expect:"));
	sv_s3_result_release(&res);

	/* Retries run out: the last SlowDown is reported. */
	static const char *const slow[] = {SLOWDOWN};
	f.answers = slow;
	f.n_answers = 1;
	f.served = 0;
	assert_int_equal(sv_s3_sync_get(s3, "bkt", "k", &res), -EIO);
	assert_int_equal(res.attempts, 5);
	assert_int_equal(f.served, 5);
	assert_string_equal(res.err.code, "SlowDown");
	assert_non_null(strstr(res.error, "GET bkt/k: 503 SlowDown: Reduce your rate"));
	sv_s3_result_release(&res);

	/* A 403 is final at once. */
	static const char *const denied[] = {DENIED};
	f.answers = denied;
	f.served = 0;
	assert_int_equal(sv_s3_sync_get(s3, "bkt", "k", &res), SV_E_AUTH);
	assert_int_equal(res.attempts, 1);
	assert_int_equal(f.served, 1);
	assert_string_equal(res.error,
	                    "GET bkt/k: 403 AccessDenied: Access Denied (request id r-403)");
	sv_s3_result_release(&res);
	sv_s3_free(s3);
	fake_stop(&f);
}

/* A done callback that submits the next request (how a spool drains). */
struct chain {
	struct sv_s3 *s3;
	int left;
	int done;
	int ok;
};

static void chain_done(struct sv_s3_result *res, void *arg)
{
	struct chain *c = arg;
	c->done++;
	c->ok += res->rc == 0;
	if (--c->left > 0)
		assert_int_equal(sv_s3_put(c->s3, "bkt", "next", "x", 1, NULL, chain_done, c), 0);
}

static void test_submit_from_callback(void **state)
{
	static const char *const script[] = {OK_PUT};
	struct fake f;
	fake_start(&f, script, 1);
	struct sv_s3 *s3 = fake_client(&f, 2);
	struct chain c = {s3, 5, 0, 0};
	assert_int_equal(sv_s3_put(s3, "bkt", "first", "x", 1, NULL, chain_done, &c), 0);
	assert_int_equal(sv_s3_sync_drain(s3), 0);
	assert_int_equal(c.done, 5);
	assert_int_equal(c.ok, 5);
	assert_int_equal(f.served, 5);
	sv_s3_free(s3);
	fake_stop(&f);
}

static void test_new_rejects(void **state)
{
	struct sv_s3 *s3 = (struct sv_s3 *)1;
	struct sv_s3_config c = {.endpoint = "http://h", .access_key = "a", .secret_key = ""};
	assert_int_equal(sv_s3_new(NULL, &c, &s3), -EINVAL);
	assert_null(s3);
	c.secret_key = "s";
	c.endpoint = "h:80";
	assert_int_equal(sv_s3_new(NULL, &c, &s3), -EINVAL);
	assert_int_equal(sv_s3_new(NULL, NULL, &s3), -EINVAL);
}

static void test_presign_url(void **state)
{
	struct sv_s3_config c = {.endpoint = "https://acct.r2.example/pfx",
	                         .access_key = "AKIDEXAMPLE",
	                         .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
	struct sv_s3 *s3 = NULL;
	assert_int_equal(sv_s3_new(NULL, &c, &s3), 0);
	struct sv_buf u;
	sv_buf_init(&u);
	assert_int_equal(sv_s3_presign_get(s3, "bkt", "calls/a b+c.pcap.gz", 1795000000, 3600, &u),
	                 0);
	assert_int_equal(sv_buf_append(&u, "", 1), 0);
	const char *s = (const char *)u.data;
	assert_true(strncmp(s, "https://acct.r2.example/pfx/bkt/calls/a%20b%2Bc.pcap.gz?", 56) ==
	            0);
	assert_non_null(
	    strstr(s, "X-Amz-Credential=AKIDEXAMPLE%2F20261118%2Fauto%2Fs3%2Faws4_request"));
	assert_non_null(strstr(s, "X-Amz-Expires=3600"));
	assert_non_null(strstr(s, "X-Amz-SignedHeaders=host"));
	assert_non_null(strstr(s, "X-Amz-Signature="));
	sv_buf_reset(&u);
	assert_int_equal(sv_s3_presign_get(s3, "bkt", "k", 1795000000, 0, &u), -EINVAL);
	assert_int_equal(sv_s3_presign_get(s3, "bkt", "k", 1795000000, 604801, &u), -EINVAL);
	assert_int_equal(u.len, 0);
	sv_buf_release(&u);
	sv_s3_free(s3);
}

static void test_result_move(void **state)
{
	struct sv_s3_result a, b;
	sv_s3_result_init(&a);
	sv_s3_result_init(&b);
	assert_int_equal(sv_buf_append_str(&a.body, "payload"), 0);
	a.rc = 7;
	snprintf(a.content_type, sizeof(a.content_type), "text/plain");
	assert_int_equal(sv_buf_append_str(&b.body, "old"), 0);
	sv_s3_result_move(&b, &a);
	assert_int_equal(b.rc, 7);
	assert_int_equal(b.body.len, 7);
	assert_string_equal(b.content_type, "text/plain");
	assert_null(a.body.data);
	assert_int_equal(a.content_length, -1);
	sv_s3_result_release(&b);
	sv_s3_result_release(&a);
	sv_s3_result_release(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_endpoint_parse),
	    cmocka_unit_test(test_retry_policy),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_status_and_md5),
	    cmocka_unit_test(test_build_request_matches_botocore),
	    cmocka_unit_test(test_bounded_queue_and_cancel),
	    cmocka_unit_test(test_sync_connection_refused),
	    cmocka_unit_test(test_retry_slowdown_then_success),
	    cmocka_unit_test(test_submit_from_callback),
	    cmocka_unit_test(test_new_rejects),
	    cmocka_unit_test(test_presign_url),
	    cmocka_unit_test(test_result_move),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
