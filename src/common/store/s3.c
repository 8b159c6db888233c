/*
 * s3.c - the S3 client: request building and signing, curl multi driven by
 * libevent (hiperfifo pattern), retries with backoff, bounded queue.
 *
 * Life of a request: submit → (queue) → attempt: sign, hand an easy handle to
 * the multi → curl reports it done → finish: retry after a backoff timer, or
 * complete: parse the answer, call done, free.
 */
#include "store/s3.h"

#include "base/curlev.h"
#include "base/errors.h"
#include "base/log.h"
#include "store/sigv4.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ endpoint */

static int copy_str(char *dst, size_t cap, const char *s, size_t len)
{
	if (len >= cap)
		return -EINVAL;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

int sv_s3_endpoint_parse(const char *url, struct sv_s3_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (url == NULL)
		return -EINVAL;
	const char *p;
	if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		ep->https = 1;
		p = url + 8;
	} else {
		return -EINVAL;
	}
	size_t auth_len = strcspn(p, "/?#");
	const char *path = p + auth_len;
	if (*path == '?' || *path == '#' || strpbrk(path, "?#") != NULL)
		return -EINVAL;
	if (memchr(p, '@', auth_len) != NULL || auth_len == 0)
		return -EINVAL;
	const char *host = p, *hend, *port = NULL;
	int v6 = 0;
	if (*p == '[') {
		hend = memchr(p, ']', auth_len);
		if (hend == NULL)
			return -EINVAL;
		host = p + 1;
		v6 = 1;
		const char *after = hend + 1;
		if (after < p + auth_len) {
			if (*after != ':')
				return -EINVAL;
			port = after + 1;
		}
	} else {
		hend = memchr(p, ':', auth_len);
		if (hend != NULL)
			port = hend + 1;
		else
			hend = p + auth_len;
	}
	if (hend == host || copy_str(ep->host, sizeof(ep->host), host, (size_t)(hend - host)) != 0)
		return -EINVAL;
	for (const char *c = ep->host; *c; c++)
		if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == '_' ||
		      (v6 && *c == ':')))
			return -EINVAL;
	ep->port = ep->https ? 443 : 80;
	int explicit_port = 0;
	if (port != NULL) {
		const char *pend = p + auth_len;
		if (port == pend || pend - port > 5)
			return -EINVAL;
		long v = 0;
		for (const char *c = port; c < pend; c++) {
			if (*c < '0' || *c > '9')
				return -EINVAL;
			v = v * 10 + (*c - '0');
		}
		if (v < 1 || v > 65535)
			return -EINVAL;
		ep->port = (int)v;
		explicit_port = ep->port != (ep->https ? 443 : 80);
	}
	const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
	int n;
	if (explicit_port)
		n = snprintf(ep->hostport, sizeof(ep->hostport), "%s%s%s:%d", lb, ep->host, rb,
		             ep->port);
	else
		n = snprintf(ep->hostport, sizeof(ep->hostport), "%s%s%s", lb, ep->host, rb);
	if (n < 0 || (size_t)n >= sizeof(ep->hostport))
		return -EINVAL;
	size_t plen = strlen(path);
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	if (copy_str(ep->prefix, sizeof(ep->prefix), path, plen) != 0)
		return -EINVAL;
	for (const char *c = ep->prefix; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return -EINVAL;
	n = snprintf(ep->base, sizeof(ep->base), "%s://%s", ep->https ? "https" : "http",
	             ep->hostport);
	if (n < 0 || (size_t)n >= sizeof(ep->base))
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------ pure parts */

int sv_s3_retryable(int curl_code, int status, const char *s3_code)
{
	if (curl_code != 0) {
		switch (curl_code) {
		case CURLE_COULDNT_CONNECT:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return 1;
		default:
			return 0;
		}
	}
	if (status >= 500 || status == 429)
		return 1;
	if (s3_code != NULL && strcmp(s3_code, "SlowDown") == 0)
		return 1;
	return 0;
}

unsigned sv_s3_backoff_ms(unsigned attempt, unsigned base_ms, unsigned max_ms, uint32_t rnd)
{
	if (attempt == 0)
		return 0;
	uint64_t cap = base_ms;
	for (unsigned i = 1; i < attempt && cap < max_ms; i++)
		cap *= 2;
	if (cap > max_ms)
		cap = max_ms;
	uint64_t half = cap / 2;
	return (unsigned)(cap - half + rnd % (half + 1));
}

int sv_s3_status_rc(int status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return SV_E_AUTH;
	case 404:
		return SV_E_NOTFOUND;
	case 409:
		return -EEXIST;
	default:
		return -EIO;
	}
}

void sv_s3_content_md5(const void *data, size_t len, char b64[25])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) != 1 || mdlen != 16) {
		b64[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)b64, md, 16);
}

static int build_path(const struct sv_s3_endpoint *ep, const char *bucket, const char *key,
                      struct sv_buf *path)
{
	int rc = sv_buf_append_str(path, ep->prefix);
	if (rc == 0)
		rc = sv_buf_append(path, "/", 1);
	if (rc == 0 && bucket != NULL)
		rc = sv_buf_append_str(path, bucket);
	if (rc == 0 && bucket != NULL && key != NULL) {
		rc = sv_buf_append(path, "/", 1);
		if (rc == 0)
			rc = sv_buf_append_str(path, key);
	}
	if (rc == 0)
		rc = sv_buf_append(path, "", 1);
	return rc;
}

int sv_s3_build_request(const struct sv_s3_endpoint *ep, const char *region, const char *access_key,
                        const char *secret_key, const char *session_token, const char *method,
                        const char *bucket, const char *key, const struct sv_sigv4_header *query,
                        size_t n_query, const struct sv_sigv4_header *extra, size_t n_extra,
                        const char *payload_sha256, int64_t now, struct sv_buf *url,
                        struct sv_buf *headers)
{
	if (ep == NULL || method == NULL || url == NULL || headers == NULL)
		return -EINVAL;
	struct sv_buf path;
	sv_buf_init(&path);
	size_t url0 = url->len, hdr0 = headers->len;
	int rc = build_path(ep, bucket, key, &path);
	if (rc != 0)
		goto out;
	struct sv_sigv4_creds creds = {access_key, secret_key, session_token,
	                               region != NULL && region[0] ? region : "auto", "s3"};
	struct sv_sigv4_request req;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.host = ep->hostport;
	req.path = (const char *)path.data;
	req.query = query;
	req.n_query = n_query;
	req.headers = extra;
	req.n_headers = n_extra;
	req.payload_sha256_hex = payload_sha256;
	req.now = now;
	if ((rc = sv_sigv4_sign_headers(&creds, &req, headers, NULL, NULL)) != 0)
		goto out;
	for (size_t i = 0; i < n_extra; i++)
		if ((rc = sv_buf_printf(headers, "%s: %s\r\n", extra[i].name, extra[i].value)) != 0)
			goto out;
	if ((rc = sv_buf_append_str(url, ep->base)) != 0)
		goto out;
	if ((rc = sv_sigv4_request_target(&req, url)) != 0)
		goto out;
	rc = sv_buf_append(url, "", 1);
	if (rc == 0)
		url->len--;
out:
	if (rc != 0) {
		url->len = url0;
		headers->len = hdr0;
	}
	sv_buf_release(&path);
	return rc;
}

/* ------------------------------------------------------------ result */

void sv_s3_result_init(struct sv_s3_result *r)
{
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	sv_buf_init(&r->body);
	sv_s3_list_init(&r->list);
	sv_s3_delete_result_init(&r->del);
}

void sv_s3_result_release(struct sv_s3_result *r)
{
	if (r == NULL)
		return;
	sv_buf_release(&r->body);
	sv_s3_list_release(&r->list);
	sv_s3_delete_result_release(&r->del);
	sv_s3_result_init(r);
}

void sv_s3_result_move(struct sv_s3_result *dst, struct sv_s3_result *src)
{
	if (dst == src)
		return;
	sv_s3_result_release(dst);
	*dst = *src;
	sv_s3_result_init(src);
}

/* ------------------------------------------------------------ client */

enum op {
	OP_PUT,
	OP_GET,
	OP_HEAD,
	OP_DELETE,
	OP_CREATE_BUCKET,
	OP_LIST,
	OP_DELETE_OBJECTS,
};

static const char *const op_method[] = {"PUT", "GET", "HEAD", "DELETE", "PUT", "GET", "POST"};

enum req_state {
	RS_QUEUED,
	RS_RUNNING,
	RS_BACKOFF,
};

#define MAX_QUERY 6
#define MAX_EXTRA 4

struct req {
	struct sv_s3 *s3;
	LIST_ENTRY(req) all;    /* s3->reqs: every unfinished request */
	STAILQ_ENTRY(req) wait; /* s3->waiting, while RS_QUEUED */
	enum op op;
	enum req_state state;
	char *bucket;
	char *key; /* NULL for bucket operations */
	struct sv_sigv4_header query[MAX_QUERY];
	char *qval[MAX_QUERY];
	size_t n_query;
	struct sv_sigv4_header extra[MAX_EXTRA];
	char *xval[MAX_EXTRA];
	size_t n_extra;
	uint8_t *body;
	size_t body_len;
	char payload_sha256[72];
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	int overflow; /* response beyond max_response */
	unsigned attempt;
	struct event *retry_ev;
	sv_s3_done_fn done;
	void *arg;
	struct sv_s3_result res;
};

struct sv_s3 {
	struct event_base *base;
	int own_base;
	struct sv_curlev *cm; /* curl multi on the event loop */
	CURLM *multi;         /* sv_curlev_multi(cm) */
	struct sv_s3_endpoint ep;
	char *region, *access_key, *secret_key, *session_token, *ca_file;
	struct sv_s3_config cfg;    /* limits, with defaults applied; string fields unused */
	LIST_HEAD(, req) reqs;      /* every unfinished request, newest first */
	STAILQ_HEAD(, req) waiting; /* queued for a free slot, oldest first */
	size_t n_pending, n_running;
	size_t body_bytes;
	uint32_t rng;
	int in_free;
	struct sv_s3_stats stats;
};

static uint32_t next_rand(struct sv_s3 *s3)
{
	uint32_t x = s3->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	s3->rng = x ? x : 0x9e3779b9u;
	return s3->rng;
}

static void wipe_free(char *s)
{
	if (s == NULL)
		return;
	volatile char *v = s;
	while (*v)
		*v++ = 0;
	free(s);
}

static char *dup_or_null(const char *s, int *bad)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*bad = 1;
	return d;
}

static void start_queued(struct sv_s3 *s3);
static void finish(struct req *r, CURLcode cc);

/* sv_curlev: one transfer ended. */
static void on_done(CURL *easy, CURLcode cc, void *arg)
{
	char *priv = NULL;
	(void)arg;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	if (priv != NULL)
		finish((struct req *)priv, cc);
}

/* sv_curlev: after each batch of ended transfers, fill the free slots. */
static void on_drained(void *arg)
{
	start_queued(arg);
}

int sv_s3_new(struct event_base *base, const struct sv_s3_config *cfg, struct sv_s3 **out)
{
	*out = NULL;
	if (cfg == NULL || cfg->access_key == NULL || cfg->secret_key == NULL ||
	    cfg->access_key[0] == '\0' || cfg->secret_key[0] == '\0')
		return -EINVAL;
	struct sv_s3 *s3 = calloc(1, sizeof(*s3));
	if (s3 == NULL)
		return -ENOMEM;
	LIST_INIT(&s3->reqs);
	STAILQ_INIT(&s3->waiting);
	int rc = sv_s3_endpoint_parse(cfg->endpoint, &s3->ep);
	if (rc != 0) {
		free(s3);
		return rc;
	}
	int bad = 0;
	s3->region =
	    dup_or_null(cfg->region != NULL && cfg->region[0] ? cfg->region : "auto", &bad);
	s3->access_key = dup_or_null(cfg->access_key, &bad);
	s3->secret_key = dup_or_null(cfg->secret_key, &bad);
	s3->session_token = dup_or_null(cfg->session_token, &bad);
	s3->ca_file = dup_or_null(cfg->ca_file, &bad);
	s3->cfg = *cfg;
	s3->cfg.endpoint = s3->cfg.region = s3->cfg.access_key = s3->cfg.secret_key = NULL;
	s3->cfg.session_token = s3->cfg.ca_file = NULL;
#define DEF(f, v)           \
	if (s3->cfg.f == 0) \
		s3->cfg.f = (v);
	DEF(max_inflight, 32);
	DEF(max_connections, 8);
	DEF(max_queued, 10000);
	DEF(max_queued_bytes, (size_t)256 << 20);
	DEF(max_response, (size_t)64 << 20);
	DEF(max_attempts, 5);
	DEF(backoff_base_ms, 200);
	DEF(backoff_max_ms, 10000);
	DEF(connect_timeout_ms, 5000);
	DEF(timeout_ms, 60000);
#undef DEF
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s3->rng = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16 ^ (uint32_t)(uintptr_t)s3;
	if (s3->rng == 0)
		s3->rng = 1;
	if (base == NULL) {
		base = event_base_new();
		s3->own_base = 1;
		if (base == NULL)
			bad = 1;
	}
	s3->base = base;
	if (bad || sv_curlev_new(base, on_done, on_drained, s3, &s3->cm) != 0) {
		sv_s3_free(s3);
		return -ENOMEM;
	}
	s3->multi = sv_curlev_multi(s3->cm);
	curl_multi_setopt(s3->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)s3->cfg.max_connections);
	curl_multi_setopt(s3->multi, CURLMOPT_MAXCONNECTS, (long)s3->cfg.max_connections * 2);
	curl_multi_setopt(s3->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	*out = s3;
	return 0;
}

struct event_base *sv_s3_base(struct sv_s3 *s3)
{
	return s3->base;
}

size_t sv_s3_pending(const struct sv_s3 *s3)
{
	return s3->n_pending;
}

size_t sv_s3_inflight(const struct sv_s3 *s3)
{
	return s3->n_running;
}

void sv_s3_get_stats(const struct sv_s3 *s3, struct sv_s3_stats *out)
{
	*out = s3->stats;
}

/* ------------------------------------------------------------ requests */

static void req_free(struct req *r)
{
	free(r->bucket);
	free(r->key);
	for (size_t i = 0; i < r->n_query; i++)
		free(r->qval[i]);
	for (size_t i = 0; i < r->n_extra; i++)
		free(r->xval[i]);
	free(r->body);
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	if (r->retry_ev != NULL)
		event_free(r->retry_ev);
	sv_s3_result_release(&r->res);
	free(r);
}

/* Appends name and a copy of value to pairs[] (*n of max used); the copy is
 * also kept in vals[] for req_free(). 0, -EINVAL when full, or -ENOMEM. */
static int add_pair(struct sv_sigv4_header *pairs, char **vals, size_t *n, size_t max,
                    const char *name, const char *value)
{
	if (*n >= max)
		return -EINVAL;
	char *v = strdup(value);
	if (v == NULL)
		return -ENOMEM;
	vals[*n] = v;
	pairs[*n].name = name;
	pairs[*n].value = v;
	(*n)++;
	return 0;
}

static int add_query(struct req *r, const char *name, const char *value)
{
	return add_pair(r->query, r->qval, &r->n_query, MAX_QUERY, name,
	                value != NULL ? value : "");
}

static int add_extra(struct req *r, const char *name, const char *value)
{
	if (r->n_extra >= MAX_EXTRA)
		return -EINVAL;
	for (const char *c = value; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -EINVAL;
	return add_pair(r->extra, r->xval, &r->n_extra, MAX_EXTRA, name, value);
}

static int valid_bucket(const char *b)
{
	size_t n = b != NULL ? strlen(b) : 0;
	if (n == 0 || n > 255)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (b[i] == '/' || (unsigned char)b[i] <= 0x20 || (unsigned char)b[i] >= 0x7f)
			return 0;
	return 1;
}

static int valid_key(const char *k)
{
	size_t n = k != NULL ? strlen(k) : 0;
	return n > 0 && n <= 1024;
}

static struct req *req_new(struct sv_s3 *s3, enum op op, const char *bucket, const char *key)
{
	struct req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->s3 = s3;
	r->op = op;
	sv_s3_result_init(&r->res);
	r->bucket = strdup(bucket);
	if (key != NULL)
		r->key = strdup(key);
	if (r->bucket == NULL || (key != NULL && r->key == NULL)) {
		req_free(r);
		return NULL;
	}
	return r;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct req *r = ud;
	size_t len = size * n;
	if (r->res.body.len + len > r->s3->cfg.max_response) {
		r->overflow = 1;
		return 0;
	}
	return sv_buf_append(&r->res.body, data, len) == 0 ? len : 0;
}

static void header_value(char *dst, size_t cap, const char *v, size_t len)
{
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ' ||
	                   v[len - 1] == '\t'))
		len--;
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

static void reset_headers(struct sv_s3_result *res)
{
	res->request_id[0] = res->content_type[0] = res->content_encoding[0] = '\0';
	res->etag[0] = res->last_modified[0] = '\0';
	res->content_length = -1;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	struct req *r = ud;
	struct sv_s3_result *res = &r->res;
	size_t len = size * n;
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		reset_headers(res);
		return len;
	}
	const char *colon = memchr(data, ':', len);
	if (colon == NULL)
		return len;
	size_t nl = (size_t)(colon - data);
	const char *v = colon + 1;
	size_t vl = len - nl - 1;
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(data, name, nl) == 0)
	if (IS("content-type")) {
		header_value(res->content_type, sizeof(res->content_type), v, vl);
	} else if (IS("content-encoding")) {
		header_value(res->content_encoding, sizeof(res->content_encoding), v, vl);
	} else if (IS("etag")) {
		header_value(res->etag, sizeof(res->etag), v, vl);
	} else if (IS("last-modified")) {
		header_value(res->last_modified, sizeof(res->last_modified), v, vl);
	} else if (IS("x-amz-request-id")) {
		header_value(res->request_id, sizeof(res->request_id), v, vl);
	} else if (IS("content-length")) {
		char tmp[24];
		header_value(tmp, sizeof(tmp), v, vl);
		char *end;
		long long cl = strtoll(tmp, &end, 10);
		if (end != tmp && *end == '\0' && cl >= 0)
			res->content_length = cl;
	}
#undef IS
	return len;
}

/* Sets up and hands one attempt to curl. 0 or a negative code. */
static int attempt_start(struct req *r)
{
	struct sv_s3 *s3 = r->s3;
	struct sv_buf url, hdrs;
	sv_buf_init(&url);
	sv_buf_init(&hdrs);
	int rc;
	r->attempt++;
	r->res.attempts = r->attempt;
	r->overflow = 0;
	r->errbuf[0] = '\0';
	sv_buf_reset(&r->res.body);
	reset_headers(&r->res);
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;

	rc = sv_s3_build_request(&s3->ep, s3->region, s3->access_key, s3->secret_key,
	                         s3->session_token, op_method[r->op], r->bucket, r->key, r->query,
	                         r->n_query, r->extra, r->n_extra, r->payload_sha256,
	                         (int64_t)time(NULL), &url, &hdrs);
	if (rc != 0)
		goto out;
	if (sv_buf_append(&hdrs, "", 1) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	/* One slist entry per "Name: value\r\n" line. */
	char *line = (char *)hdrs.data;
	while (*line) {
		char *eol = strstr(line, "\r\n");
		if (eol == NULL)
			break;
		*eol = '\0';
		struct curl_slist *n = curl_slist_append(r->hdrs, line);
		if (n == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		r->hdrs = n;
		line = eol + 2;
	}
	static const char *const fixed[] = {"Expect:", "Accept:"};
	for (size_t i = 0; i < 2; i++) {
		struct curl_slist *n = curl_slist_append(r->hdrs, fixed[i]);
		if (n == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		r->hdrs = n;
	}
	if ((r->op == OP_CREATE_BUCKET || r->op == OP_PUT) && r->body_len == 0) {
		/* No body: keep curl from inventing a form Content-Type. */
		int has_ct = 0;
		for (size_t i = 0; i < r->n_extra; i++)
			has_ct |= strcasecmp(r->extra[i].name, "Content-Type") == 0;
		if (!has_ct) {
			struct curl_slist *n = curl_slist_append(r->hdrs, "Content-Type:");
			if (n == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			r->hdrs = n;
		}
	}

	if (r->easy == NULL) {
		r->easy = curl_easy_init();
		if (r->easy == NULL) {
			rc = -ENOMEM;
			goto out;
		}
	} else {
		curl_easy_reset(r->easy);
	}
	CURL *e = r->easy;
	curl_easy_setopt(e, CURLOPT_URL, (const char *)url.data);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)s3->cfg.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s3->cfg.timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, sv_log_curl_debug);
	curl_easy_setopt(e, CURLOPT_VERBOSE, s3->cfg.verbose ? 1L : 0L);
	if (s3->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, s3->ca_file);
	if (s3->cfg.insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	switch (r->op) {
	case OP_GET:
	case OP_LIST:
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		break;
	case OP_HEAD:
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		break;
	case OP_DELETE:
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
		break;
	case OP_PUT:
	case OP_CREATE_BUCKET:
	case OP_DELETE_OBJECTS:
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, op_method[r->op]);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		                 r->body != NULL ? (const char *)r->body : "");
		break;
	}
	if (curl_multi_add_handle(s3->multi, e) != CURLM_OK) {
		rc = -ENOMEM;
		goto out;
	}
	r->state = RS_RUNNING;
	s3->n_running++;
out:
	sv_buf_release(&url);
	sv_buf_release(&hdrs);
	return rc;
}

static void unlink_req(struct sv_s3 *s3, struct req *r)
{
	LIST_REMOVE(r, all);
	s3->n_pending--;
	s3->body_bytes -= r->body_len;
}

static void describe(struct req *r, const char *what)
{
	struct sv_s3_result *res = &r->res;
	char target[300];
	snprintf(target, sizeof(target), "%s%s%.200s", r->bucket, r->key != NULL ? "/" : "",
	         r->key != NULL ? r->key : "");
	snprintf(res->error, sizeof(res->error), "%s %s: %s", op_method[r->op], target, what);
}

/* Calls done and frees the request. */
static void complete(struct req *r)
{
	struct sv_s3 *s3 = r->s3;
	unlink_req(s3, r);
	s3->stats.requests++;
	if (r->res.rc != 0)
		s3->stats.failures++;
	if (r->res.rc != 0 && r->res.error[0] == '\0')
		describe(r, sv_strerror(r->res.rc));
	r->done(&r->res, r->arg);
	req_free(r);
}

static void fail_now(struct req *r, int rc)
{
	r->res.rc = rc;
	describe(r, sv_strerror(rc));
	complete(r);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct req *r = arg;
	struct sv_s3 *s3 = r->s3;
	int rc = attempt_start(r);
	if (rc != 0)
		fail_now(r, rc);
	start_queued(s3);
}

static int curl_rc(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* Reads the outcome of an attempt into r->res. Returns whether to retry. */
static int judge(struct req *r, CURLcode cc)
{
	struct sv_s3_result *res = &r->res;
	long status = 0;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	res->status = (int)status;
	memset(&res->err, 0, sizeof(res->err));
	res->error[0] = '\0';
	if (r->overflow) {
		res->rc = -EFBIG;
		describe(r, "response larger than max_response");
		return 0;
	}
	if (cc != CURLE_OK) {
		res->rc = curl_rc(cc);
		char what[700];
		snprintf(what, sizeof(what), "%s to %s after %u attempt%s (curl: %s%s%s)",
		         res->rc == -ECONNREFUSED ? "cannot connect"
		         : res->rc == -ETIMEDOUT  ? "timed out"
		                                  : "transfer failed",
		         r->s3->ep.hostport, r->attempt, r->attempt == 1 ? "" : "s",
		         curl_easy_strerror(cc), r->errbuf[0] ? ": " : "", r->errbuf);
		describe(r, what);
		return sv_s3_retryable((int)cc, 0, NULL);
	}
	res->rc = sv_s3_status_rc(res->status);
	if (res->rc != 0) {
		if (res->body.len > 0)
			(void)sv_s3xml_parse_error(res->body.data, res->body.len, &res->err);
		const char *rid = res->err.request_id[0] ? res->err.request_id : res->request_id;
		char what[900];
		if (res->err.code[0])
			snprintf(what, sizeof(what), "%d %s: %s%s%s%s", res->status, res->err.code,
			         res->err.message[0] ? res->err.message : "(no message)",
			         rid[0] ? " (request id " : "", rid, rid[0] ? ")" : "");
		else
			snprintf(what, sizeof(what), "%d %s%s%s%s", res->status,
			         res->status == 404 ? "not found" : "error (no S3 error document)",
			         rid[0] ? " (request id " : "", rid, rid[0] ? ")" : "");
		describe(r, what);
		return sv_s3_retryable(0, res->status, res->err.code);
	}
	int prc = 0;
	if (r->op == OP_LIST) {
		prc = sv_s3xml_parse_list(res->body.data, res->body.len, &res->list);
		sv_buf_release(&res->body);
	} else if (r->op == OP_DELETE_OBJECTS) {
		prc = sv_s3xml_parse_delete(res->body.data, res->body.len, &res->del);
		sv_buf_release(&res->body);
	}
	if (prc != 0) {
		res->rc = prc;
		describe(r, "unreadable XML answer");
	}
	return 0;
}

static void finish(struct req *r, CURLcode cc)
{
	struct sv_s3 *s3 = r->s3;
	long conns = 0;
	if (curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK && conns > 0)
		s3->stats.connections += (uint64_t)conns;
	curl_multi_remove_handle(s3->multi, r->easy);
	s3->n_running--;
	s3->stats.attempts++;
	int retry = judge(r, cc);
	if (retry && r->attempt < s3->cfg.max_attempts && !s3->in_free) {
		unsigned ms = sv_s3_backoff_ms(r->attempt, s3->cfg.backoff_base_ms,
		                               s3->cfg.backoff_max_ms, next_rand(s3));
		log_debug("s3: %s; retry in %u ms", r->res.error, ms);
		if (r->retry_ev == NULL)
			r->retry_ev = evtimer_new(s3->base, on_retry, r);
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		if (r->retry_ev != NULL && evtimer_add(r->retry_ev, &tv) == 0) {
			r->state = RS_BACKOFF;
			s3->stats.retries++;
			return;
		}
	}
	complete(r);
}

static void start_queued(struct sv_s3 *s3)
{
	struct req *r;
	while ((r = STAILQ_FIRST(&s3->waiting)) != NULL && s3->n_running < s3->cfg.max_inflight &&
	       !s3->in_free) {
		STAILQ_REMOVE_HEAD(&s3->waiting, wait);
		int rc = attempt_start(r);
		if (rc != 0)
			fail_now(r, rc);
	}
}

/* Takes r: starts or queues it, or frees it and returns an error. */
static int submit(struct sv_s3 *s3, struct req *r, sv_s3_done_fn done, void *arg)
{
	if (done == NULL || s3->in_free) {
		req_free(r);
		return -EINVAL;
	}
	if (s3->n_pending >= (size_t)s3->cfg.max_inflight + s3->cfg.max_queued ||
	    s3->body_bytes + r->body_len > s3->cfg.max_queued_bytes) {
		req_free(r);
		return -ENOBUFS;
	}
	r->done = done;
	r->arg = arg;
	if (r->payload_sha256[0] == '\0')
		sv_sha256_hex(r->body != NULL ? r->body : (const uint8_t *)"", r->body_len,
		              r->payload_sha256);
	LIST_INSERT_HEAD(&s3->reqs, r, all);
	s3->n_pending++;
	s3->body_bytes += r->body_len;
	if (s3->n_running < s3->cfg.max_inflight && STAILQ_EMPTY(&s3->waiting)) {
		int rc = attempt_start(r);
		if (rc != 0) {
			unlink_req(s3, r);
			req_free(r);
			return rc;
		}
	} else {
		r->state = RS_QUEUED;
		STAILQ_INSERT_TAIL(&s3->waiting, r, wait);
	}
	return 0;
}

int sv_s3_put(struct sv_s3 *s3, const char *bucket, const char *key, const void *data, size_t len,
              const struct sv_s3_put_opts *opts, sv_s3_done_fn done, void *arg)
{
	if (s3 == NULL || !valid_bucket(bucket) || !valid_key(key) || (data == NULL && len > 0))
		return -EINVAL;
	struct req *r = req_new(s3, OP_PUT, bucket, key);
	if (r == NULL)
		return -ENOMEM;
	int rc = 0;
	if (len > 0) {
		r->body = malloc(len);
		if (r->body == NULL) {
			req_free(r);
			return -ENOMEM;
		}
		memcpy(r->body, data, len);
		r->body_len = len;
	}
	const char *ct = opts != NULL && opts->content_type != NULL ? opts->content_type
	                                                            : "application/octet-stream";
	rc = add_extra(r, "Content-Type", ct);
	if (rc == 0 && opts != NULL && opts->content_encoding != NULL)
		rc = add_extra(r, "Content-Encoding", opts->content_encoding);
	if (rc == 0 && (opts == NULL || !opts->no_content_md5)) {
		char md5[25];
		sv_s3_content_md5(r->body != NULL ? r->body : (const uint8_t *)"", len, md5);
		rc = add_extra(r, "Content-MD5", md5);
	}
	if (rc == 0 && opts != NULL && opts->payload_sha256 != NULL) {
		if (strlen(opts->payload_sha256) >= sizeof(r->payload_sha256))
			rc = -EINVAL;
		else
			strcpy(r->payload_sha256, opts->payload_sha256);
	}
	if (rc != 0) {
		req_free(r);
		return rc;
	}
	return submit(s3, r, done, arg);
}

static int simple(struct sv_s3 *s3, enum op op, const char *bucket, const char *key,
                  sv_s3_done_fn done, void *arg)
{
	if (s3 == NULL || !valid_bucket(bucket) || (key != NULL && !valid_key(key)))
		return -EINVAL;
	struct req *r = req_new(s3, op, bucket, key);
	if (r == NULL)
		return -ENOMEM;
	return submit(s3, r, done, arg);
}

int sv_s3_get(struct sv_s3 *s3, const char *bucket, const char *key, sv_s3_done_fn done, void *arg)
{
	if (key == NULL)
		return -EINVAL;
	return simple(s3, OP_GET, bucket, key, done, arg);
}

int sv_s3_head(struct sv_s3 *s3, const char *bucket, const char *key, sv_s3_done_fn done, void *arg)
{
	return simple(s3, OP_HEAD, bucket, key, done, arg);
}

int sv_s3_delete(struct sv_s3 *s3, const char *bucket, const char *key, sv_s3_done_fn done,
                 void *arg)
{
	if (key == NULL)
		return -EINVAL;
	return simple(s3, OP_DELETE, bucket, key, done, arg);
}

int sv_s3_create_bucket(struct sv_s3 *s3, const char *bucket, sv_s3_done_fn done, void *arg)
{
	return simple(s3, OP_CREATE_BUCKET, bucket, NULL, done, arg);
}

int sv_s3_list(struct sv_s3 *s3, const char *bucket, const struct sv_s3_list_params *p,
               sv_s3_done_fn done, void *arg)
{
	if (s3 == NULL || !valid_bucket(bucket))
		return -EINVAL;
	struct req *r = req_new(s3, OP_LIST, bucket, NULL);
	if (r == NULL)
		return -ENOMEM;
	int rc = add_query(r, "list-type", "2");
	if (rc == 0 && p != NULL && p->prefix != NULL)
		rc = add_query(r, "prefix", p->prefix);
	if (rc == 0 && p != NULL && p->delimiter != NULL)
		rc = add_query(r, "delimiter", p->delimiter);
	if (rc == 0 && p != NULL && p->continuation_token != NULL)
		rc = add_query(r, "continuation-token", p->continuation_token);
	if (rc == 0 && p != NULL && p->start_after != NULL)
		rc = add_query(r, "start-after", p->start_after);
	if (rc == 0 && p != NULL && p->max_keys > 0) {
		char mk[16];
		snprintf(mk, sizeof(mk), "%u", p->max_keys);
		rc = add_query(r, "max-keys", mk);
	}
	if (rc != 0) {
		req_free(r);
		return rc;
	}
	return submit(s3, r, done, arg);
}

int sv_s3_delete_objects(struct sv_s3 *s3, const char *bucket, const char *const *keys, size_t n,
                         int quiet, sv_s3_done_fn done, void *arg)
{
	if (s3 == NULL || !valid_bucket(bucket) || keys == NULL || n == 0 || n > 1000)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!valid_key(keys[i]))
			return -EINVAL;
	struct req *r = req_new(s3, OP_DELETE_OBJECTS, bucket, NULL);
	if (r == NULL)
		return -ENOMEM;
	struct sv_buf body;
	sv_buf_init(&body);
	int rc = sv_s3xml_build_delete(keys, n, quiet, &body);
	if (rc == 0)
		rc = add_query(r, "delete", "");
	if (rc == 0)
		rc = add_extra(r, "Content-Type", "application/xml");
	if (rc == 0) {
		char md5[25];
		sv_s3_content_md5(body.data, body.len, md5);
		rc = add_extra(r, "Content-MD5", md5);
	}
	if (rc != 0) {
		sv_buf_release(&body);
		req_free(r);
		return rc;
	}
	r->body = sv_buf_take(&body, &r->body_len);
	if (r->body == NULL) {
		req_free(r);
		return -ENOMEM;
	}
	return submit(s3, r, done, arg);
}

int sv_s3_presign_get(struct sv_s3 *s3, const char *bucket, const char *key, int64_t now,
                      int64_t expires, struct sv_buf *out)
{
	if (s3 == NULL || !valid_bucket(bucket) || !valid_key(key) || out == NULL)
		return -EINVAL;
	struct sv_buf path;
	sv_buf_init(&path);
	int rc = build_path(&s3->ep, bucket, key, &path);
	if (rc == 0) {
		struct sv_sigv4_creds creds = {s3->access_key, s3->secret_key, s3->session_token,
		                               s3->region, "s3"};
		struct sv_sigv4_request req;
		memset(&req, 0, sizeof(req));
		req.method = "GET";
		req.host = s3->ep.hostport;
		req.path = (const char *)path.data;
		req.payload_sha256_hex = SV_SIGV4_UNSIGNED_PAYLOAD;
		req.now = now;
		size_t len0 = out->len;
		rc = sv_sigv4_presign(&creds, &req, s3->ep.https ? "https" : "http", expires, out,
		                      NULL, NULL);
		if (rc != 0)
			out->len = len0;
	}
	sv_buf_release(&path);
	return rc;
}

void sv_s3_free(struct sv_s3 *s3)
{
	if (s3 == NULL)
		return;
	s3->in_free = 1;
	struct req *r;
	while ((r = LIST_FIRST(&s3->reqs)) != NULL) {
		if (r->state == RS_RUNNING && r->easy != NULL) {
			curl_multi_remove_handle(s3->multi, r->easy);
			s3->n_running--;
		}
		r->res.rc = -ECANCELED;
		describe(r, "cancelled (client shut down)");
		complete(r);
	}
	STAILQ_INIT(&s3->waiting);
	sv_curlev_free(s3->cm);
	if (s3->own_base && s3->base != NULL)
		event_base_free(s3->base);
	free(s3->region);
	wipe_free(s3->access_key);
	wipe_free(s3->secret_key);
	wipe_free(s3->session_token);
	free(s3->ca_file);
	free(s3);
}

/* ------------------------------------------------------------ blocking */

struct sync_wait {
	int done;
	struct sv_s3_result *res;
};

static void sync_done(struct sv_s3_result *res, void *arg)
{
	struct sync_wait *w = arg;
	sv_s3_result_move(w->res, res);
	w->done = 1;
}

static int sync_run(struct sv_s3 *s3, struct sync_wait *w, int rc)
{
	if (rc != 0) {
		w->res->rc = rc;
		snprintf(w->res->error, sizeof(w->res->error), "request not accepted: %s",
		         sv_strerror(rc));
		return rc;
	}
	while (!w->done) {
		if (event_base_loop(s3->base, EVLOOP_ONCE) != 0 && !w->done) {
			/* Nothing left to wait for: cannot happen while a request is live. */
			w->res->rc = -EIO;
			snprintf(w->res->error, sizeof(w->res->error), "event loop stopped");
			return -EIO;
		}
	}
	return w->res->rc;
}

#define SYNC_BEGIN              \
	sv_s3_result_init(res); \
	struct sync_wait w = {0, res};

int sv_s3_sync_put(struct sv_s3 *s3, const char *bucket, const char *key, const void *data,
                   size_t len, const struct sv_s3_put_opts *opts, struct sv_s3_result *res)
{
	SYNC_BEGIN
	return sync_run(s3, &w, sv_s3_put(s3, bucket, key, data, len, opts, sync_done, &w));
}

int sv_s3_sync_get(struct sv_s3 *s3, const char *bucket, const char *key, struct sv_s3_result *res)
{
	SYNC_BEGIN
	return sync_run(s3, &w, sv_s3_get(s3, bucket, key, sync_done, &w));
}

int sv_s3_sync_head(struct sv_s3 *s3, const char *bucket, const char *key, struct sv_s3_result *res)
{
	SYNC_BEGIN
	return sync_run(s3, &w, sv_s3_head(s3, bucket, key, sync_done, &w));
}

int sv_s3_sync_delete(struct sv_s3 *s3, const char *bucket, const char *key,
                      struct sv_s3_result *res)
{
	SYNC_BEGIN
	return sync_run(s3, &w, sv_s3_delete(s3, bucket, key, sync_done, &w));
}

int sv_s3_sync_create_bucket(struct sv_s3 *s3, const char *bucket, struct sv_s3_result *res)
{
	SYNC_BEGIN
	return sync_run(s3, &w, sv_s3_create_bucket(s3, bucket, sync_done, &w));
}

int sv_s3_sync_list(struct sv_s3 *s3, const char *bucket, const struct sv_s3_list_params *p,
                    struct sv_s3_result *res)
{
	SYNC_BEGIN
	return sync_run(s3, &w, sv_s3_list(s3, bucket, p, sync_done, &w));
}

int sv_s3_sync_delete_objects(struct sv_s3 *s3, const char *bucket, const char *const *keys,
                              size_t n, int quiet, struct sv_s3_result *res)
{
	SYNC_BEGIN
	return sync_run(s3, &w, sv_s3_delete_objects(s3, bucket, keys, n, quiet, sync_done, &w));
}

int sv_s3_sync_drain(struct sv_s3 *s3)
{
	while (s3->n_pending > 0)
		if (event_base_loop(s3->base, EVLOOP_ONCE) != 0 && s3->n_pending > 0)
			return -EIO;
	return 0;
}
