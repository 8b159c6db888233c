/*
 * SigV4 invariants on arbitrary bytes.
 *
 * Input: one flag byte, then fields separated by 0x00: path, then
 * (name, value) pairs; pairs before a 0x01 field are query parameters, after
 * it headers.
 *
 * - sv_sigv4_uri_encode: only unreserved bytes, '/' (keep_slash) and %XX
 *   upper-case escapes come out, and decoding gives the input back.
 * - sv_sigv4_canonical_query: n "name=value" entries, sorted by (name, value),
 *   that decode back to the input parameters (as a multiset).
 * - signing and pre-signing never crash, return 0 or -EINVAL, are
 *   deterministic, and with normalize_path the canonical URI has no empty,
 *   "." or ".." segment.
 */
#include "base/buf.h"
#include "store/sigv4.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAXF 32

static void check(int ok)
{
	if (!ok)
		abort();
}

static int hexv(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int unreserved(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Decodes a strict encoding (as produced by the encoder) into out; -1 if it
 * is not one. */
static int decode(const uint8_t *s, size_t n, int keep_slash, struct sv_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (unreserved(s[i]) || (keep_slash && s[i] == '/')) {
			check(sv_buf_append(out, &s[i], 1) == 0);
		} else if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
			uint8_t c = (uint8_t)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
			/* An escaped unreserved byte is not the canonical form. */
			if (unreserved(c) || (keep_slash && c == '/'))
				return -1;
			check(sv_buf_append(out, &c, 1) == 0);
			i += 2;
		} else {
			return -1;
		}
	}
	return 0;
}

static void check_encode(const uint8_t *data, size_t size, int keep_slash)
{
	struct sv_buf e, d;
	sv_buf_init(&e);
	sv_buf_init(&d);
	check(sv_sigv4_uri_encode((const char *)data, size, keep_slash, &e) == 0);
	check(e.len >= size && e.len <= 3 * size);
	check(decode(e.data, e.len, keep_slash, &d) == 0);
	check(d.len == size && (size == 0 || memcmp(d.data, data, size) == 0));
	sv_buf_release(&e);
	sv_buf_release(&d);
}

static int pair_cmp(const struct sv_buf *a, const struct sv_buf *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n > 0 ? memcmp(a->data, b->data, n) : 0;
	return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

static void check_query(const struct sv_sigv4_header *q, size_t n)
{
	struct sv_buf out;
	sv_buf_init(&out);
	check(sv_sigv4_canonical_query(q, n, &out) == 0);
	if (n == 0) {
		check(out.len == 0);
		return;
	}
	/* Split on '&' ('&' and '=' are always escaped inside names/values). */
	struct sv_buf names[MAXF], vals[MAXF];
	int used[MAXF] = {0};
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= out.len; i++) {
		if (i < out.len && out.data[i] != '&')
			continue;
		check(k < n);
		const uint8_t *ent = out.data + start;
		size_t el = i - start;
		const uint8_t *eq = memchr(ent, '=', el);
		check(eq != NULL);
		check(memchr(eq + 1, '=', el - (size_t)(eq + 1 - ent)) == NULL);
		sv_buf_init(&names[k]);
		sv_buf_init(&vals[k]);
		check(decode(ent, (size_t)(eq - ent), 0, &names[k]) == 0);
		check(decode(eq + 1, el - (size_t)(eq + 1 - ent), 0, &vals[k]) == 0);
		/* Sorted by encoded name then encoded value: compare encoded. */
		if (k > 0) {
			struct sv_buf a, b, c, d;
			sv_buf_init(&a);
			sv_buf_init(&b);
			sv_buf_init(&c);
			sv_buf_init(&d);
			check(sv_sigv4_uri_encode((const char *)names[k - 1].data, names[k - 1].len,
			                          0, &a) == 0);
			check(sv_sigv4_uri_encode((const char *)names[k].data, names[k].len, 0,
			                          &b) == 0);
			int cmp = pair_cmp(&a, &b);
			if (cmp == 0) {
				check(sv_sigv4_uri_encode((const char *)vals[k - 1].data,
				                          vals[k - 1].len, 0, &c) == 0);
				check(sv_sigv4_uri_encode((const char *)vals[k].data, vals[k].len,
				                          0, &d) == 0);
				cmp = pair_cmp(&c, &d);
			}
			check(cmp <= 0);
			sv_buf_release(&a);
			sv_buf_release(&b);
			sv_buf_release(&c);
			sv_buf_release(&d);
		}
		k++;
		start = i + 1;
	}
	check(k == n);
	/* Every input parameter is matched by one output entry. */
	for (size_t i = 0; i < n; i++) {
		const char *v = q[i].value != NULL ? q[i].value : "";
		size_t nl = strlen(q[i].name), vl = strlen(v);
		int found = 0;
		for (size_t j = 0; j < n && !found; j++) {
			if (used[j] || names[j].len != nl || vals[j].len != vl)
				continue;
			if ((nl == 0 || memcmp(names[j].data, q[i].name, nl) == 0) &&
			    (vl == 0 || memcmp(vals[j].data, v, vl) == 0))
				used[j] = found = 1;
		}
		check(found);
	}
	for (size_t j = 0; j < n; j++) {
		sv_buf_release(&names[j]);
		sv_buf_release(&vals[j]);
	}
	sv_buf_release(&out);
}

/* Line 2 of the canonical request, with normalisation on: no "//", no "."
 * or ".." segment. */
static void check_normalized_uri(const struct sv_buf *creq)
{
	const uint8_t *l = memchr(creq->data, '\n', creq->len);
	check(l != NULL);
	l++;
	const uint8_t *e = memchr(l, '\n', creq->len - (size_t)(l - creq->data));
	check(e != NULL && e > l && l[0] == '/');
	for (const uint8_t *p = l; p < e; p++) {
		if (*p != '/')
			continue;
		const uint8_t *s = p + 1, *t = s;
		while (t < e && *t != '/')
			t++;
		size_t sl = (size_t)(t - s);
		check(!(sl == 0 && t < e));
		check(!(sl == 1 && s[0] == '.'));
		check(!(sl == 2 && s[0] == '.' && s[1] == '.'));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_encode(data, size, 0);
	check_encode(data, size, 1);
	if (size < 1 || size > 4096)
		return 0;
	uint8_t flags = data[0];

	/* NUL-separated fields, copied so each is a C string. */
	char *copy = malloc(size);
	check(copy != NULL);
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	char *fields[2 * MAXF + 2];
	size_t nf = 0;
	for (char *p = copy; p < copy + size && nf < 2 * MAXF + 2;) {
		fields[nf++] = p;
		p += strlen(p) + 1;
	}
	struct sv_sigv4_header q[MAXF], h[MAXF];
	size_t nq = 0, nh = 0;
	int in_headers = 0;
	for (size_t i = 1; i < nf; i++) {
		if (fields[i][0] == '\x01' && fields[i][1] == '\0') {
			in_headers = 1;
			continue;
		}
		if (i + 1 >= nf)
			break;
		if (in_headers && nh < MAXF)
			h[nh++] = (struct sv_sigv4_header){fields[i], fields[i + 1]};
		else if (!in_headers && nq < MAXF)
			q[nq++] = (struct sv_sigv4_header){fields[i],
			                                   (flags & 0x40) ? NULL : fields[i + 1]};
		i++;
	}
	check_query(q, nq);

	const struct sv_sigv4_creds cr = {"AKIDEXAMPLE", "secret", (flags & 1) ? "tok/+=" : NULL,
	                                  "auto", "s3"};
	struct sv_sigv4_request req = {
	    .method = (flags & 0x80) ? "PUT" : "GET",
	    .host = "127.0.0.1:9000",
	    .path = nf > 0 ? fields[0] : "/",
	    .query = q,
	    .n_query = nq,
	    .headers = h,
	    .n_headers = nh,
	    .now = 1700000000 + flags,
	    .normalize_path = (flags & 2) != 0,
	    .double_encode_path = (flags & 4) != 0,
	    .omit_content_sha256 = (flags & 8) != 0,
	    .unsigned_session_token = (flags & 16) != 0,
	    .presign_payload_hash = (flags & 32) != 0,
	};
	struct sv_buf o1, o2, c1, c2, s1;
	sv_buf_init(&o1);
	sv_buf_init(&o2);
	sv_buf_init(&c1);
	sv_buf_init(&c2);
	sv_buf_init(&s1);
	int r1 = sv_sigv4_sign_headers(&cr, &req, &o1, &c1, &s1);
	int r2 = sv_sigv4_sign_headers(&cr, &req, &o2, &c2, NULL);
	check(r1 == 0 || r1 == -EINVAL);
	check(r1 == r2);
	if (r1 == 0) {
		check(o1.len == o2.len && memcmp(o1.data, o2.data, o1.len) == 0);
		check(c1.len == c2.len && memcmp(c1.data, c2.data, c1.len) == 0);
		static const char auth[] = "Authorization: AWS4-HMAC-SHA256 Credential=";
		check(o1.len > sizeof(auth) && memcmp(o1.data, auth, sizeof(auth) - 1) == 0);
		check(s1.len == 17 + 16 + 1 + 29 + 1 + 64); /* 20231114/auto/s3/aws4_request */
		/* No header injection: every line of output ends in CRLF and
		 * holds no other CR or LF. */
		for (size_t i = 0; i < o1.len; i++)
			if (o1.data[i] == '\n')
				check(i > 0 && o1.data[i - 1] == '\r');
			else if (o1.data[i] == '\r')
				check(i + 1 < o1.len && o1.data[i + 1] == '\n');
		if (req.normalize_path)
			check_normalized_uri(&c1);
	}
	sv_buf_reset(&o1);
	sv_buf_reset(&c1);
	int r3 = sv_sigv4_presign(&cr, &req, "https", 1 + flags, &o1, &c1, NULL);
	check(r3 == 0 || r3 == -EINVAL);
	if (r3 == 0) {
		check(o1.len > 8 && memcmp(o1.data, "https://127.0.0.1:9000/", 23) == 0);
		for (size_t i = 0; i < o1.len; i++)
			check(o1.data[i] > 0x20 && o1.data[i] < 0x7f);
		check(o1.len > 81 && memcmp(o1.data + o1.len - 81, "&X-Amz-Signature=", 17) == 0);
		if (req.normalize_path)
			check_normalized_uri(&c1);
	}
	sv_buf_release(&o1);
	sv_buf_release(&o2);
	sv_buf_release(&c1);
	sv_buf_release(&c2);
	sv_buf_release(&s1);
	free(copy);
	return 0;
}
