/*
 * deeplink.c - parsing and verifying the CDR viewer's signed call links.
 */
#include "call/deeplink.h"

#include "base/errors.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sv_dl_url_decode(const char *s, size_t len, int plus_is_space, struct sv_buf *out)
{
	size_t start = out->len, i;
	int r;

	if ((r = sv_buf_reserve(out, len + 1)) != 0)
		return r;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len)
				goto bad;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (c == 0)
			goto bad;
		out->data[out->len++] = c;
	}
	out->data[out->len] = 0;
	return 0;
bad:
	out->len = start;
	out->data[out->len] = 0;
	return SV_E_PARSE;
}

/* Decodes into a fresh NUL-terminated string of at most max bytes. */
static int decode_dup(const char *s, size_t len, int plus, size_t max, char **out, size_t *olen)
{
	struct sv_buf b;
	int r;

	sv_buf_init(&b);
	if ((r = sv_dl_url_decode(s, len, plus, &b)) != 0)
		goto out;
	if (b.len > max) {
		r = SV_E_PARSE;
		goto out;
	}
	if (b.data == NULL && (r = sv_buf_reserve(&b, 1)) != 0)
		goto out;
	b.data[b.len] = 0;
	if (olen != NULL)
		*olen = b.len;
	*out = (char *)b.data;
	return 0;
out:
	sv_buf_release(&b);
	return r;
}

void sv_dl_request_release(struct sv_dl_request *r)
{
	if (r == NULL)
		return;
	free(r->call_id);
	free(r->artifact);
	free(r->customer);
	free(r->ts);
	free(r->sig);
	free(r->date);
	memset(r, 0, sizeof(*r));
}

static int digits(const char *s, int n)
{
	int v = 0, i;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int parse_date(const char *s, int *y, int *m, int *d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int dim;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return SV_E_PARSE;
	*y = digits(s, 4);
	*m = digits(s + 5, 2);
	*d = digits(s + 8, 2);
	if (*y < 1970 || *m < 1 || *m > 12 || *d < 1)
		return SV_E_PARSE;
	dim = mdays[*m - 1];
	if (*m == 2 && ((*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0))
		dim = 29;
	return *d <= dim ? 0 : SV_E_PARSE;
}

/* A Call-ID that reads like a path escaping its folder. */
static int escapes(const char *s, size_t len)
{
	size_t i = 0;

	while (i <= len) {
		size_t j = i;
		while (j < len && s[j] != '/')
			j++;
		if ((j - i == 1 && s[i] == '.') || (j - i == 2 && s[i] == '.' && s[i + 1] == '.'))
			return 1;
		i = j + 1;
	}
	return 0;
}

/* Stores one query parameter; a repeated one is malformed. */
static int set_param(char **slot, const char *v, size_t vlen, size_t max)
{
	if (*slot != NULL)
		return SV_E_PARSE;
	return decode_dup(v, vlen, 1, max, slot, NULL);
}

static int parse_query(const char *q, size_t len, struct sv_dl_request *out)
{
	size_t i = 0;
	int r;

	while (i < len) {
		size_t j = i, eq;
		const char *k, *v;
		size_t klen, vlen;

		while (j < len && q[j] != '&')
			j++;
		for (eq = i; eq < j && q[eq] != '='; eq++)
			;
		k = q + i;
		klen = eq - i;
		v = eq < j ? q + eq + 1 : q + j;
		vlen = eq < j ? j - eq - 1 : 0;
		r = 0;
#define KEY_IS(lit) (klen == sizeof(lit) - 1 && memcmp(k, lit, klen) == 0)
		if (KEY_IS("customer"))
			r = set_param(&out->customer, v, vlen, SV_DL_MAX_CUSTOMER);
		else if (KEY_IS("ts"))
			r = set_param(&out->ts, v, vlen, 32);
		else if (KEY_IS("sig"))
			r = set_param(&out->sig, v, vlen, 128);
		else if (KEY_IS("date"))
			r = set_param(&out->date, v, vlen, 16);
		else if (KEY_IS("call_id")) {
			if (out->call_id != NULL)
				return SV_E_PARSE;
			r = decode_dup(v, vlen, 1, SV_DL_MAX_CALLID, &out->call_id,
			               &out->call_id_len);
			out->call_id_in_query = 1;
		}
#undef KEY_IS
		if (r != 0)
			return r;
		i = j + 1;
	}
	return 0;
}

/* The endpoint a suffix names ("", "sip", "logs", "chat", "artifacts/x"). */
static int parse_suffix(const char *s, size_t len, struct sv_dl_request *out)
{
	if (len == 0) {
		out->endpoint = SV_DL_SUMMARY;
		return 0;
	}
	if (len == 3 && memcmp(s, "sip", 3) == 0)
		out->endpoint = SV_DL_SIP;
	else if (len == 4 && memcmp(s, "logs", 4) == 0)
		out->endpoint = SV_DL_LOGS;
	else if (len == 4 && memcmp(s, "chat", 4) == 0)
		out->endpoint = SV_DL_CHAT;
	else if (len > 10 && memcmp(s, "artifacts/", 10) == 0) {
		const char *n = s + 10;
		size_t nlen = len - 10;
		int r;
		if (memchr(n, '/', nlen) != NULL)
			return SV_E_NOTFOUND;
		if ((r = decode_dup(n, nlen, 0, SV_DL_MAX_NAME, &out->artifact, NULL)) != 0)
			return r;
		if (out->artifact[0] == 0 || strchr(out->artifact, '/') != NULL ||
		    strcmp(out->artifact, ".") == 0 || strcmp(out->artifact, "..") == 0)
			return SV_E_PARSE;
		out->endpoint = SV_DL_ARTIFACT;
	} else
		return SV_E_NOTFOUND;
	return 0;
}

int sv_dl_parse(const char *target, size_t len, struct sv_dl_request *out)
{
	const char *q, *path = target, *rest;
	size_t plen, qlen = 0, rlen, i;
	int r;

	memset(out, 0, sizeof(*out));
	q = memchr(target, '?', len);
	plen = q != NULL ? (size_t)(q - target) : len;
	if (q != NULL) {
		qlen = len - plen - 1;
		q++;
	}
	if (memchr(target, 0, len) != NULL)
		return SV_E_PARSE;
	/* A raw "." or ".." segment anywhere is refused before routing. */
	for (i = 0; i < plen;) {
		size_t j = i + 1;
		while (j < plen && path[j] != '/')
			j++;
		if (path[i] == '/' && ((j - i == 2 && path[i + 1] == '.') ||
		                       (j - i == 3 && path[i + 1] == '.' && path[i + 2] == '.')))
			return SV_E_PARSE;
		i = j;
	}
	if (plen < 6 || memcmp(path, "/calls", 6) != 0 || (plen > 6 && path[6] != '/'))
		return SV_E_NOTFOUND;
	rest = path + 7;
	rlen = plen > 7 ? plen - 7 : 0;
	if ((r = parse_query(q != NULL ? q : "", qlen, out)) != 0)
		goto fail;
	if (out->call_id_in_query) {
		/* the path names the endpoint only */
		if ((r = parse_suffix(rest, rlen, out)) != 0)
			goto fail;
	} else {
		const char *slash = memchr(rest, '/', rlen);
		size_t idlen = slash != NULL ? (size_t)(slash - rest) : rlen;
		if (idlen == 0) {
			r = plen <= 7 ? SV_E_PARSE : SV_E_NOTFOUND;
			goto fail;
		}
		if (slash != NULL && (r = parse_suffix(slash + 1, rlen - idlen - 1, out)) != 0)
			goto fail;
		if (slash != NULL && rlen - idlen - 1 == 0) {
			r = SV_E_NOTFOUND;
			goto fail;
		}
		if ((r = decode_dup(rest, idlen, 0, SV_DL_MAX_CALLID, &out->call_id,
		                    &out->call_id_len)) != 0)
			goto fail;
	}
	if (out->call_id_len == 0 || escapes(out->call_id, out->call_id_len)) {
		r = SV_E_PARSE;
		goto fail;
	}
	if (out->date != NULL &&
	    (r = parse_date(out->date, &out->year, &out->month, &out->day)) != 0)
		goto fail;
	return 0;
fail:
	sv_dl_request_release(out);
	return r;
}

const char *sv_dl_verdict_name(int v)
{
	static const char *const names[] = {
	    "ok", "missing", "malformed", "unknown_customer", "bad_signature", "expired", "future"};
	if (v < 0 || v >= SV_DL_NVERDICTS)
		return "unknown";
	return names[v];
}

static int mac(const void *secret, size_t secret_len, const char *customer, const char *call_id,
               size_t call_id_len, const char *ts, unsigned char md[32])
{
	struct sv_buf m;
	unsigned int mdlen = 0;
	int r;

	if (secret == NULL || customer == NULL || call_id == NULL || ts == NULL ||
	    secret_len > 0x7fffffff)
		return -EINVAL;
	sv_buf_init(&m);
	if ((r = sv_buf_append_str(&m, customer)) != 0 || (r = sv_buf_append(&m, "\n", 1)) != 0 ||
	    (r = sv_buf_append(&m, call_id, call_id_len)) != 0 ||
	    (r = sv_buf_append(&m, "\n", 1)) != 0 || (r = sv_buf_append_str(&m, ts)) != 0)
		goto out;
	if (HMAC(EVP_sha256(), secret_len > 0 ? secret : "", (int)secret_len, m.data, m.len, md,
	         &mdlen) == NULL ||
	    mdlen != 32)
		r = -EINVAL;
out:
	sv_buf_release(&m);
	return r;
}

int sv_dl_sign(const void *secret, size_t secret_len, const char *customer, const char *call_id,
               size_t call_id_len, const char *ts, char hex[65])
{
	static const char xd[] = "0123456789abcdef";
	unsigned char md[32];
	int r, i;

	if (hex == NULL)
		return -EINVAL;
	if ((r = mac(secret, secret_len, customer, call_id, call_id_len, ts, md)) != 0)
		return r;
	for (i = 0; i < 32; i++) {
		hex[2 * i] = xd[md[i] >> 4];
		hex[2 * i + 1] = xd[md[i] & 15];
	}
	hex[64] = 0;
	return 0;
}

enum sv_dl_verdict sv_dl_verify(const void *secret, size_t secret_len, const char *customer,
                                int customer_known, const char *call_id, size_t call_id_len,
                                const char *ts, const char *sig, int64_t now, int64_t max_age)
{
	unsigned char want[32], got[32];
	int64_t t = 0;
	size_t i, n;
	int diff;

	if (customer == NULL || ts == NULL || sig == NULL || call_id == NULL)
		return SV_DL_MISSING;
	n = strlen(ts);
	if (n == 0 || n > 18 || strlen(sig) != 64)
		return SV_DL_MALFORMED;
	for (i = 0; i < n; i++) {
		if (ts[i] < '0' || ts[i] > '9')
			return SV_DL_MALFORMED;
		t = t * 10 + (ts[i] - '0');
	}
	for (i = 0; i < 32; i++) {
		int hi = hexval((unsigned char)sig[2 * i]),
		    lo = hexval((unsigned char)sig[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return SV_DL_MALFORMED;
		got[i] = (unsigned char)(hi * 16 + lo);
	}
	if (mac(secret, secret_len, customer, call_id, call_id_len, ts, want) != 0)
		return SV_DL_BAD_SIGNATURE;
	diff = CRYPTO_memcmp(want, got, sizeof(want));
	OPENSSL_cleanse(want, sizeof(want));
	if (!customer_known)
		return SV_DL_UNKNOWN_CUSTOMER;
	if (diff != 0)
		return SV_DL_BAD_SIGNATURE;
	if (t > now && t - now > SV_DL_MAX_FUTURE)
		return SV_DL_FUTURE;
	if (now > t && now - t > max_age)
		return SV_DL_EXPIRED;
	return SV_DL_OK;
}
