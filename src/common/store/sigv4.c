/*
 * sigv4.c - AWS Signature Version 4: canonical request, string to sign,
 * signing key and signature, for the Authorization header and for pre-signed
 * query URLs. See sigv4.h and docs/internals/sigv4.md.
 */
#include "store/sigv4.h"

#include "base/buf.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
/* 9999-12-31T23:59:59Z: the last second an X-Amz-Date can express. */
#define MAX_NOW INT64_C(253402300799)

static const char hexdig_upper[] = "0123456789ABCDEF";
static const char hexdig_lower[] = "0123456789abcdef";

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 7230 tchar: what a header name or a method may contain. */
static int is_tchar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Non-empty and every byte in 0x21..0x7e (or >= 0x80 when high_ok), none
 * of the bytes in `bad`. */
static int valid_atom(const char *s, const char *bad, int high_ok)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= 0x20 || *p == 0x7f || (*p >= 0x80 && !high_ok))
			return 0;
		if (bad != NULL && strchr(bad, *p) != NULL)
			return 0;
	}
	return 1;
}

static int valid_token(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		if (!is_tchar(*p))
			return 0;
	return 1;
}

/* Header values: printable bytes, UTF-8, and white space (folded later). */
static int valid_value(const char *s)
{
	if (s == NULL)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		if ((*p < 0x20 && !is_ws(*p)) || *p == 0x7f)
			return 0;
	return 1;
}

int sv_sigv4_uri_encode(const char *s, size_t len, int keep_slash, struct sv_buf *out)
{
	if (len == 0)
		return 0;
	if (s == NULL)
		return -EINVAL;
	if (len > SIZE_MAX / 3 || sv_buf_reserve(out, len * 3) != 0)
		return -ENOMEM;
	uint8_t *w = out->data + out->len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_unreserved(c) || (keep_slash && c == '/')) {
			*w++ = c;
		} else {
			*w++ = '%';
			*w++ = (uint8_t)hexdig_upper[c >> 4];
			*w++ = (uint8_t)hexdig_upper[c & 15];
		}
	}
	out->len = (size_t)(w - out->data);
	return 0;
}

void sv_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(len > 0 ? data : (const void *)"", len, md);
	for (size_t i = 0; i < sizeof(md); i++) {
		hex[2 * i] = hexdig_lower[md[i] >> 4];
		hex[2 * i + 1] = hexdig_lower[md[i] & 15];
	}
	hex[64] = '\0';
}

/* ------------------------------------------------------------ query string */

/* A name and its value, as encoded into a kv_set's arena. */
struct kv {
	const char *name;
	size_t nlen;
	const char *val;
	size_t vlen;
	size_t idx; /* position given, so repeated names can keep their order */
};

/*
 * The query parameters or headers of one request: each name and value is
 * written into one arena, offs[3 * i .. 3 * i + 2] bounding the i-th pair,
 * and only when all are written (the arena may move while it grows) does
 * kv_set_resolve() point e[] into it.
 */
struct kv_set {
	struct sv_buf arena;
	size_t *offs;
	struct kv *e;
};

static int kv_set_init(struct kv_set *s, size_t n)
{
	sv_buf_init(&s->arena);
	s->offs = calloc(n, 3 * sizeof(*s->offs));
	s->e = calloc(n, sizeof(*s->e));
	return s->offs != NULL && s->e != NULL ? 0 : -ENOMEM;
}

static void kv_set_resolve(struct kv_set *s, size_t n)
{
	const char *base = s->arena.data != NULL ? (const char *)s->arena.data : "";
	const size_t *o = s->offs;
	for (size_t i = 0; i < n; i++) {
		s->e[i].name = base + o[3 * i];
		s->e[i].nlen = o[3 * i + 1] - o[3 * i];
		s->e[i].val = base + o[3 * i + 1];
		s->e[i].vlen = o[3 * i + 2] - o[3 * i + 1];
		s->e[i].idx = i;
	}
}

static void kv_set_release(struct kv_set *s)
{
	free(s->offs);
	free(s->e);
	sv_buf_release(&s->arena);
}

static int memcmp_len(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Query order: by name, then value. */
static int query_cmp(const void *pa, const void *pb)
{
	const struct kv *a = pa, *b = pb;
	int c = memcmp_len(a->name, a->nlen, b->name, b->nlen);
	return c != 0 ? c : memcmp_len(a->val, a->vlen, b->val, b->vlen);
}

int sv_sigv4_canonical_query(const struct sv_sigv4_header *params, size_t n, struct sv_buf *out)
{
	if (n == 0)
		return 0;
	if (params == NULL)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (params[i].name == NULL)
			return -EINVAL;

	struct kv_set set;
	struct sv_buf *arena = &set.arena;
	int rc = kv_set_init(&set, n);
	if (rc != 0)
		goto out;
	rc = -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *v = params[i].value != NULL ? params[i].value : "";
		set.offs[3 * i] = arena->len;
		if (sv_sigv4_uri_encode(params[i].name, strlen(params[i].name), 0, arena) != 0)
			goto out;
		set.offs[3 * i + 1] = arena->len;
		if (sv_sigv4_uri_encode(v, strlen(v), 0, arena) != 0)
			goto out;
		set.offs[3 * i + 2] = arena->len;
	}
	kv_set_resolve(&set, n);
	struct kv *e = set.e;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += e[i].nlen + e[i].vlen + 2;
	qsort(e, n, sizeof(*e), query_cmp);
	if (sv_buf_reserve(out, total) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			sv_buf_append(out, "&", 1);
		sv_buf_append(out, e[i].name, e[i].nlen);
		sv_buf_append(out, "=", 1);
		sv_buf_append(out, e[i].val, e[i].vlen);
	}
	rc = 0;
out:
	kv_set_release(&set);
	return rc;
}

/* ------------------------------------------------------------------- path */

/* Removes "." and ".." segments and empty segments; keeps a trailing '/'
 * when the path had one (as botocore and aws-c-auth do). */
static int normalize(const char *path, struct sv_buf *out)
{
	size_t len = strlen(path);
	size_t start = out->len;
	if (sv_buf_reserve(out, len + 2) != 0)
		return -ENOMEM;
	const char *p = path, *end = path + len;
	while (p < end) {
		const char *seg = p;
		while (p < end && *p != '/')
			p++;
		size_t sl = (size_t)(p - seg);
		if (p < end)
			p++;
		if (sl == 0 || (sl == 1 && seg[0] == '.'))
			continue;
		if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out->len > start && out->data[out->len - 1] != '/')
				out->len--;
			if (out->len > start)
				out->len--; /* the '/' before the dropped segment */
			continue;
		}
		sv_buf_append(out, "/", 1);
		sv_buf_append(out, seg, sl);
	}
	if (out->len == start || (len > 0 && path[len - 1] == '/'))
		sv_buf_append(out, "/", 1);
	return 0;
}

static int canonical_uri(const struct sv_sigv4_request *req, struct sv_buf *out)
{
	struct sv_buf norm, once;
	sv_buf_init(&norm);
	sv_buf_init(&once);
	const char *p = req->path;
	size_t plen = strlen(p);
	int rc = 0;
	if (req->normalize_path) {
		if ((rc = normalize(p, &norm)) != 0)
			goto out;
		p = (const char *)norm.data;
		plen = norm.len;
	}
	if (req->double_encode_path) {
		if ((rc = sv_sigv4_uri_encode(p, plen, 1, &once)) != 0)
			goto out;
		p = (const char *)once.data;
		plen = once.len;
	}
	rc = sv_sigv4_uri_encode(p, plen, 1, out);
out:
	sv_buf_release(&norm);
	sv_buf_release(&once);
	return rc;
}

int sv_sigv4_request_target(const struct sv_sigv4_request *req, struct sv_buf *out)
{
	if (req == NULL || req->path == NULL || req->path[0] != '/')
		return -EINVAL;
	int rc = sv_sigv4_uri_encode(req->path, strlen(req->path), 1, out);
	if (rc == 0 && req->n_query > 0) {
		if (sv_buf_append(out, "?", 1) != 0)
			return -ENOMEM;
		rc = sv_sigv4_canonical_query(req->query, req->n_query, out);
	}
	return rc;
}

/* ---------------------------------------------------------------- headers */

/* Header order: by name (lower case), repeated names in the order given. */
static int header_cmp(const void *pa, const void *pb)
{
	const struct kv *a = pa, *b = pb;
	int c = memcmp_len(a->name, a->nlen, b->name, b->nlen);
	if (c != 0)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static const char *const reserved_headers[] = {
    "host", "authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
};

/*
 * Appends "name:value\n" lines (sorted, merged) to canon and "a;b;c" to
 * signed_list. hdrs[0..n_own) are the signer's own headers, the rest the
 * caller's (checked against the reserved names).
 */
static int canonical_headers(const struct sv_sigv4_header *hdrs, size_t n, size_t n_own,
                             struct sv_buf *canon, struct sv_buf *signed_list)
{
	struct kv_set set;
	struct sv_buf *arena = &set.arena;
	int rc = kv_set_init(&set, n);
	size_t *offs = set.offs;
	if (rc != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const char *nm = hdrs[i].name, *v = hdrs[i].value;
		rc = -EINVAL;
		if (!valid_token(nm) || !valid_value(v))
			goto out;
		size_t nl = strlen(nm), vl = strlen(v);
		rc = -ENOMEM;
		if (sv_buf_reserve(arena, nl + vl) != 0)
			goto out;
		offs[3 * i] = arena->len;
		for (size_t k = 0; k < nl; k++)
			arena->data[arena->len++] = lower((unsigned char)nm[k]);
		offs[3 * i + 1] = arena->len;
		if (i >= n_own) {
			for (size_t r = 0;
			     r < sizeof(reserved_headers) / sizeof(reserved_headers[0]); r++) {
				if (strlen(reserved_headers[r]) == nl &&
				    memcmp(arena->data + offs[3 * i], reserved_headers[r], nl) ==
				        0) {
					rc = -EINVAL;
					goto out;
				}
			}
		}
		/* Trim, and fold each inner run of white space to one space. */
		size_t k = 0;
		while (k < vl && is_ws((unsigned char)v[k]))
			k++;
		int pending = 0;
		for (; k < vl; k++) {
			unsigned char c = (unsigned char)v[k];
			if (is_ws(c)) {
				pending = 1;
				continue;
			}
			if (pending)
				arena->data[arena->len++] = ' ';
			pending = 0;
			arena->data[arena->len++] = c;
		}
		offs[3 * i + 2] = arena->len;
	}
	kv_set_resolve(&set, n);
	struct kv *e = set.e;
	qsort(e, n, sizeof(*e), header_cmp);
	rc = -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int same =
		    i > 0 && memcmp_len(e[i].name, e[i].nlen, e[i - 1].name, e[i - 1].nlen) == 0;
		if (same) {
			if (sv_buf_append(canon, ",", 1) != 0)
				goto out;
		} else {
			if (i > 0 && (sv_buf_append(canon, "\n", 1) != 0 ||
			              sv_buf_append(signed_list, ";", 1) != 0))
				goto out;
			if (sv_buf_append(canon, e[i].name, e[i].nlen) != 0 ||
			    sv_buf_append(canon, ":", 1) != 0 ||
			    sv_buf_append(signed_list, e[i].name, e[i].nlen) != 0)
				goto out;
		}
		if (sv_buf_append(canon, e[i].val, e[i].vlen) != 0)
			goto out;
	}
	if (n > 0 && sv_buf_append(canon, "\n", 1) != 0)
		goto out;
	rc = 0;
out:
	kv_set_release(&set);
	return rc;
}

/* ---------------------------------------------------------------- signing */

struct signctx {
	char amzdate[17];         /* 20150830T123600Z */
	char date[9];             /* 20150830 */
	struct sv_buf scope;      /* date/region/service/aws4_request */
	struct sv_buf creq;       /* canonical request */
	struct sv_buf sts;        /* string to sign */
	struct sv_buf signed_hdr; /* host;x-amz-date */
	char signature[65];
};

static void signctx_init(struct signctx *c)
{
	memset(c, 0, sizeof(*c));
	sv_buf_init(&c->scope);
	sv_buf_init(&c->creq);
	sv_buf_init(&c->sts);
	sv_buf_init(&c->signed_hdr);
}

static void signctx_release(struct signctx *c)
{
	sv_buf_release(&c->scope);
	sv_buf_release(&c->creq);
	sv_buf_release(&c->sts);
	sv_buf_release(&c->signed_hdr);
}

static int check_common(const struct sv_sigv4_creds *creds, const struct sv_sigv4_request *req)
{
	if (creds == NULL || req == NULL)
		return -EINVAL;
	if (!valid_atom(creds->access_key, ",/", 0) || creds->secret_key == NULL ||
	    creds->secret_key[0] == '\0' || !valid_atom(creds->region, ",/", 0) ||
	    !valid_atom(creds->service, ",/", 0))
		return -EINVAL;
	if (creds->session_token != NULL && !valid_atom(creds->session_token, NULL, 0))
		return -EINVAL;
	if (!valid_token(req->method) || !valid_atom(req->host, "/?#", 0) || req->path == NULL ||
	    req->path[0] != '/')
		return -EINVAL;
	if (req->payload_sha256_hex != NULL && !valid_atom(req->payload_sha256_hex, NULL, 0))
		return -EINVAL;
	if ((req->n_query > 0 && req->query == NULL) ||
	    (req->n_headers > 0 && req->headers == NULL))
		return -EINVAL;
	if (req->now < 0 || req->now > MAX_NOW)
		return -EINVAL;
	return 0;
}

static int set_times(struct signctx *c, const struct sv_sigv4_creds *creds, int64_t now)
{
	time_t t = (time_t)now;
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL)
		return -EINVAL;
	if (strftime(c->amzdate, sizeof(c->amzdate), "%Y%m%dT%H%M%SZ", &tm) != 16)
		return -EINVAL;
	memcpy(c->date, c->amzdate, 8);
	c->date[8] = '\0';
	return sv_buf_printf(&c->scope, "%s/%s/%s/aws4_request", c->date, creds->region,
	                     creds->service);
}

static int hmac(const void *key, size_t klen, const void *msg, size_t mlen,
                unsigned char out[SHA256_DIGEST_LENGTH])
{
	unsigned int olen = 0;
	if (HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen) == NULL ||
	    olen != SHA256_DIGEST_LENGTH)
		return -ENOMEM;
	return 0;
}

/* From the canonical request in c->creq: the string to sign and the
 * signature. */
static int sign(struct signctx *c, const struct sv_sigv4_creds *creds)
{
	char h[65];
	sv_sha256_hex(c->creq.data, c->creq.len, h);
	if (sv_buf_printf(&c->sts, ALGORITHM "\n%s\n", c->amzdate) != 0 ||
	    sv_buf_append(&c->sts, c->scope.data, c->scope.len) != 0 ||
	    sv_buf_printf(&c->sts, "\n%s", h) != 0)
		return -ENOMEM;

	int rc = -ENOMEM;
	size_t slen = strlen(creds->secret_key);
	unsigned char k[SHA256_DIGEST_LENGTH], sig[SHA256_DIGEST_LENGTH];
	char *k0 = malloc(slen + 5);
	if (k0 == NULL)
		return -ENOMEM;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, creds->secret_key, slen + 1);
	if (hmac(k0, slen + 4, c->date, 8, k) != 0 ||
	    hmac(k, sizeof(k), creds->region, strlen(creds->region), k) != 0 ||
	    hmac(k, sizeof(k), creds->service, strlen(creds->service), k) != 0 ||
	    hmac(k, sizeof(k), "aws4_request", 12, k) != 0 ||
	    hmac(k, sizeof(k), c->sts.data, c->sts.len, sig) != 0)
		goto out;
	for (size_t i = 0; i < sizeof(sig); i++) {
		c->signature[2 * i] = hexdig_lower[sig[i] >> 4];
		c->signature[2 * i + 1] = hexdig_lower[sig[i] & 15];
	}
	c->signature[64] = '\0';
	rc = 0;
out:
	OPENSSL_cleanse(k0, slen + 5);
	OPENSSL_cleanse(k, sizeof(k));
	free(k0);
	return rc;
}

/*
 * Canonical request: method, URI, query (the given string), headers (own
 * ones first, then the caller's), signed header list, payload hash.
 */
static int build_creq(struct signctx *c, const struct sv_sigv4_request *req,
                      const struct sv_sigv4_header *own, size_t n_own, const struct sv_buf *query,
                      const char *payload)
{
	size_t n = n_own + req->n_headers;
	struct sv_sigv4_header *all = calloc(n, sizeof(*all));
	struct sv_buf canon;
	sv_buf_init(&canon);
	int rc = -ENOMEM;
	if (all == NULL)
		goto out;
	memcpy(all, own, n_own * sizeof(*own));
	if (req->n_headers > 0)
		memcpy(all + n_own, req->headers, req->n_headers * sizeof(*all));
	if ((rc = canonical_headers(all, n, n_own, &canon, &c->signed_hdr)) != 0)
		goto out;
	rc = -ENOMEM;
	if (sv_buf_append_str(&c->creq, req->method) != 0 || sv_buf_append(&c->creq, "\n", 1) != 0)
		goto out;
	if ((rc = canonical_uri(req, &c->creq)) != 0)
		goto out;
	rc = -ENOMEM;
	if (sv_buf_append(&c->creq, "\n", 1) != 0 ||
	    sv_buf_append(&c->creq, query->data, query->len) != 0 ||
	    sv_buf_append(&c->creq, "\n", 1) != 0 ||
	    sv_buf_append(&c->creq, canon.data, canon.len) != 0 ||
	    sv_buf_append(&c->creq, "\n", 1) != 0 ||
	    sv_buf_append(&c->creq, c->signed_hdr.data, c->signed_hdr.len) != 0 ||
	    sv_buf_append(&c->creq, "\n", 1) != 0 || sv_buf_append_str(&c->creq, payload) != 0)
		goto out;
	rc = 0;
out:
	free(all);
	sv_buf_release(&canon);
	return rc;
}

static int copy_out(struct sv_buf *dst, const struct sv_buf *src)
{
	if (dst == NULL || src->len == 0)
		return 0;
	return sv_buf_append(dst, src->data, src->len);
}

int sv_sigv4_sign_headers(const struct sv_sigv4_creds *creds, const struct sv_sigv4_request *req,
                          struct sv_buf *out, struct sv_buf *canonical, struct sv_buf *sts)
{
	int rc = check_common(creds, req);
	if (rc != 0)
		return rc;
	if (out == NULL)
		return -EINVAL;
	const char *payload =
	    req->payload_sha256_hex != NULL ? req->payload_sha256_hex : SV_SIGV4_EMPTY_SHA256;
	struct signctx c;
	struct sv_buf query;
	signctx_init(&c);
	sv_buf_init(&query);
	if ((rc = set_times(&c, creds, req->now)) != 0)
		goto out;
	if ((rc = sv_sigv4_canonical_query(req->query, req->n_query, &query)) != 0)
		goto out;

	struct sv_sigv4_header own[4];
	size_t n_own = 0;
	own[n_own++] = (struct sv_sigv4_header){"host", req->host};
	own[n_own++] = (struct sv_sigv4_header){"x-amz-date", c.amzdate};
	if (!req->omit_content_sha256)
		own[n_own++] = (struct sv_sigv4_header){"x-amz-content-sha256", payload};
	if (creds->session_token != NULL && !req->unsigned_session_token)
		own[n_own++] =
		    (struct sv_sigv4_header){"x-amz-security-token", creds->session_token};
	if ((rc = build_creq(&c, req, own, n_own, &query, payload)) != 0)
		goto out;
	if ((rc = sign(&c, creds)) != 0)
		goto out;

	rc = -ENOMEM;
	if (sv_buf_printf(out, "Authorization: " ALGORITHM " Credential=%s/", creds->access_key) !=
	        0 ||
	    sv_buf_append(out, c.scope.data, c.scope.len) != 0 ||
	    sv_buf_append_str(out, ", SignedHeaders=") != 0 ||
	    sv_buf_append(out, c.signed_hdr.data, c.signed_hdr.len) != 0 ||
	    sv_buf_printf(out, ", Signature=%s\r\nX-Amz-Date: %s\r\n", c.signature, c.amzdate) != 0)
		goto out;
	if (!req->omit_content_sha256 &&
	    sv_buf_printf(out, "X-Amz-Content-Sha256: %s\r\n", payload) != 0)
		goto out;
	if (creds->session_token != NULL &&
	    sv_buf_printf(out, "X-Amz-Security-Token: %s\r\n", creds->session_token) != 0)
		goto out;
	if (copy_out(canonical, &c.creq) != 0 || copy_out(sts, &c.sts) != 0)
		goto out;
	rc = 0;
out:
	signctx_release(&c);
	sv_buf_release(&query);
	return rc;
}

static const char *const presign_params[] = {
    "X-Amz-Algorithm",     "X-Amz-Credential",     "X-Amz-Date",      "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature",
};

static int valid_scheme(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '+' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

/* Appends "&name=encoded(value)" (no '&' when the URL has no query yet). */
static int url_param(struct sv_buf *out, int *first, const char *name, const char *value)
{
	if (sv_buf_append(out, *first ? "?" : "&", 1) != 0)
		return -ENOMEM;
	*first = 0;
	if (sv_sigv4_uri_encode(name, strlen(name), 0, out) != 0 || sv_buf_append(out, "=", 1) != 0)
		return -ENOMEM;
	return sv_sigv4_uri_encode(value, strlen(value), 0, out);
}

int sv_sigv4_presign(const struct sv_sigv4_creds *creds, const struct sv_sigv4_request *req,
                     const char *scheme, int64_t expires, struct sv_buf *out,
                     struct sv_buf *canonical, struct sv_buf *sts)
{
	int rc = check_common(creds, req);
	if (rc != 0)
		return rc;
	if (out == NULL || !valid_scheme(scheme) || expires < 1 || expires > SV_SIGV4_MAX_EXPIRES)
		return -EINVAL;
	for (size_t i = 0; i < req->n_query; i++) {
		if (req->query[i].name == NULL)
			return -EINVAL;
		for (size_t k = 0; k < sizeof(presign_params) / sizeof(presign_params[0]); k++)
			if (strcmp(req->query[i].name, presign_params[k]) == 0)
				return -EINVAL;
	}
	const char *payload = SV_SIGV4_UNSIGNED_PAYLOAD;
	if (req->presign_payload_hash)
		payload = req->payload_sha256_hex != NULL ? req->payload_sha256_hex
		                                          : SV_SIGV4_EMPTY_SHA256;

	struct signctx c;
	struct sv_buf query, cred, hdrs;
	struct sv_sigv4_header *params = NULL;
	signctx_init(&c);
	sv_buf_init(&query);
	sv_buf_init(&cred);
	sv_buf_init(&hdrs);
	if ((rc = set_times(&c, creds, req->now)) != 0)
		goto out;
	rc = -ENOMEM;
	if (sv_buf_printf(&cred, "%s/", creds->access_key) != 0 ||
	    sv_buf_append(&cred, c.scope.data, c.scope.len) != 0 ||
	    sv_buf_append(&cred, "", 1) != 0)
		goto out;

	/* The signed header list goes into the query, so work it out first
	 * (canonical_headers also validates the caller's headers). */
	struct sv_sigv4_header host = {"host", req->host};
	struct signctx probe;
	signctx_init(&probe);
	struct sv_buf empty;
	sv_buf_init(&empty);
	rc = build_creq(&probe, req, &host, 1, &empty, payload);
	if (rc == 0 && sv_buf_append(&probe.signed_hdr, "", 1) != 0)
		rc = -ENOMEM;
	if (rc == 0 && sv_buf_append(&hdrs, probe.signed_hdr.data, probe.signed_hdr.len) != 0)
		rc = -ENOMEM;
	signctx_release(&probe);
	if (rc != 0)
		goto out;

	char exp[24];
	snprintf(exp, sizeof(exp), "%" PRId64, expires);
	const char *token = creds->session_token;
	struct sv_sigv4_header auth[6] = {
	    {"X-Amz-Algorithm", ALGORITHM},
	    {"X-Amz-Credential", (const char *)cred.data},
	    {"X-Amz-Date", c.amzdate},
	    {"X-Amz-Expires", exp},
	    {"X-Amz-SignedHeaders", (const char *)hdrs.data},
	    {"X-Amz-Security-Token", token},
	};
	size_t n_auth = token != NULL ? 6 : 5;
	size_t n_signed_auth = token != NULL && !req->unsigned_session_token ? 6 : 5;

	rc = -ENOMEM;
	params = calloc(req->n_query + 6, sizeof(*params));
	if (params == NULL)
		goto out;
	if (req->n_query > 0)
		memcpy(params, req->query, req->n_query * sizeof(*params));
	memcpy(params + req->n_query, auth, sizeof(auth));
	if ((rc = sv_sigv4_canonical_query(params, req->n_query + n_signed_auth, &query)) != 0)
		goto out;
	if ((rc = build_creq(&c, req, &host, 1, &query, payload)) != 0)
		goto out;
	if ((rc = sign(&c, creds)) != 0)
		goto out;

	rc = -ENOMEM;
	if (sv_buf_printf(out, "%s://%s", scheme, req->host) != 0 ||
	    sv_sigv4_uri_encode(req->path, strlen(req->path), 1, out) != 0)
		goto out;
	int first = 1;
	for (size_t i = 0; i < req->n_query + n_auth; i++)
		if (url_param(out, &first, params[i].name,
		              params[i].value != NULL ? params[i].value : "") != 0)
			goto out;
	if (url_param(out, &first, "X-Amz-Signature", c.signature) != 0)
		goto out;
	if (copy_out(canonical, &c.creq) != 0 || copy_out(sts, &c.sts) != 0)
		goto out;
	rc = 0;
out:
	free(params);
	signctx_release(&c);
	sv_buf_release(&query);
	sv_buf_release(&cred);
	sv_buf_release(&hdrs);
	return rc;
}
