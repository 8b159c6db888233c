/*
 * sip.c - zero-copy SIP parser and stream framer. See sip.h.
 *
 * Every scan is bounded by an explicit end pointer; nothing here assumes NUL
 * termination, so binary bytes and NULs in the input are harmless.
 */
#include "proto/sip.h"

#include "base/errors.h"

#include <string.h>
#include <strings.h>

/* Longest method token accepted on a start line. */
#define MAX_METHOD_LEN 64

static const char *const method_names[] = {
    [SV_SIP_NONE] = "NONE",         [SV_SIP_INVITE] = "INVITE",       [SV_SIP_ACK] = "ACK",
    [SV_SIP_BYE] = "BYE",           [SV_SIP_CANCEL] = "CANCEL",       [SV_SIP_PRACK] = "PRACK",
    [SV_SIP_UPDATE] = "UPDATE",     [SV_SIP_INFO] = "INFO",           [SV_SIP_REFER] = "REFER",
    [SV_SIP_NOTIFY] = "NOTIFY",     [SV_SIP_SUBSCRIBE] = "SUBSCRIBE", [SV_SIP_OPTIONS] = "OPTIONS",
    [SV_SIP_REGISTER] = "REGISTER", [SV_SIP_MESSAGE] = "MESSAGE",     [SV_SIP_PUBLISH] = "PUBLISH",
    [SV_SIP_OTHER] = "OTHER",
};

/* Header names we know, with their compact forms (RFC 3261 7.3.3 and the
 * IANA registry). */
enum hdr_id {
	H_OTHER = 0,
	H_CALL_ID,
	H_CSEQ,
	H_FROM,
	H_TO,
	H_VIA,
	H_CONTACT,
	H_CONTENT_TYPE,
	H_CONTENT_LENGTH,
	H_MAX_FORWARDS,
	H_USER_AGENT,
	H_SERVER,
	H_SUPPORTED,
	H_SUBJECT,
	H_CONTENT_ENCODING,
	H_EVENT,
	H_REFER_TO,
	H_REFERRED_BY,
	H_ALLOW_EVENTS,
	H_SESSION_EXPIRES,
	H_IDENTITY,
	H_ACCEPT_CONTACT,
	H_REJECT_CONTACT,
	H_REQUEST_DISPOSITION,
};

static const struct {
	const char *name;
	char compact;
	enum hdr_id id;
} hdr_table[] = {
    {"Call-ID", 'i', H_CALL_ID},
    {"CSeq", 0, H_CSEQ},
    {"From", 'f', H_FROM},
    {"To", 't', H_TO},
    {"Via", 'v', H_VIA},
    {"Contact", 'm', H_CONTACT},
    {"Content-Type", 'c', H_CONTENT_TYPE},
    {"Content-Length", 'l', H_CONTENT_LENGTH},
    {"Max-Forwards", 0, H_MAX_FORWARDS},
    {"User-Agent", 0, H_USER_AGENT},
    {"Server", 0, H_SERVER},
    {"Supported", 'k', H_SUPPORTED},
    {"Subject", 's', H_SUBJECT},
    {"Content-Encoding", 'e', H_CONTENT_ENCODING},
    {"Event", 'o', H_EVENT},
    {"Refer-To", 'r', H_REFER_TO},
    {"Referred-By", 'b', H_REFERRED_BY},
    {"Allow-Events", 'u', H_ALLOW_EVENTS},
    {"Session-Expires", 'x', H_SESSION_EXPIRES},
    {"Identity", 'y', H_IDENTITY},
    {"Accept-Contact", 'a', H_ACCEPT_CONTACT},
    {"Reject-Contact", 'j', H_REJECT_CONTACT},
    {"Request-Disposition", 'd', H_REQUEST_DISPOSITION},
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static int is_lws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* RFC 3261 token characters. */
static int is_token(int c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return 1;
	return c != 0 && strchr("-.!%*_+`'~", c) != NULL;
}

/* One past the end of a slice; NULL for an empty one (no NULL + 0). */
static const char *str_end(struct sv_str s)
{
	return s.p != NULL ? s.p + s.len : NULL;
}

static struct sv_str trim(const char *p, const char *e)
{
	while (p < e && is_lws((unsigned char)*p))
		p++;
	while (e > p && is_lws((unsigned char)e[-1]))
		e--;
	return sv_str_span(p, e);
}

static int mem_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

int sv_sip_str_ieq(struct sv_str a, const char *s)
{
	return mem_ieq(a.p, a.len, s, strlen(s));
}

enum sv_sip_method sv_sip_method_parse(const char *p, size_t len)
{
	if (p == NULL || len == 0)
		return SV_SIP_NONE;
	for (int m = SV_SIP_INVITE; m < SV_SIP_OTHER; m++) {
		const char *n = method_names[m];
		if (strlen(n) == len && memcmp(n, p, len) == 0)
			return (enum sv_sip_method)m;
	}
	return SV_SIP_OTHER;
}

const char *sv_sip_method_name(enum sv_sip_method m)
{
	if ((int)m < 0 || (size_t)m >= ARRAY_LEN(method_names))
		return "OTHER";
	return method_names[m];
}

int sv_sip_is_dialog_creating(enum sv_sip_method m)
{
	return m == SV_SIP_INVITE || m == SV_SIP_SUBSCRIBE || m == SV_SIP_REFER;
}

/* Parses "SIP/d.d" at p (case-insensitive "SIP"); returns the end or NULL. */
static const char *parse_version(const char *p, const char *e)
{
	if (e - p < 4 || !mem_ieq(p, 4, "SIP/", 4))
		return NULL;
	p += 4;
	const char *d = p;
	while (p < e && is_digit((unsigned char)*p))
		p++;
	if (p == d || p == e || *p != '.')
		return NULL;
	d = ++p;
	while (p < e && is_digit((unsigned char)*p))
		p++;
	return p == d ? NULL : p;
}

/* Parses a complete start line [p, e) (no CR/LF). 0 or -1. out may be NULL. */
static int parse_start_line(const char *p, const char *e, struct sv_sip_msg *out)
{
	const char *v = parse_version(p, e);
	if (v != NULL) {
		/* Status-Line: SIP-Version SP Status-Code SP Reason-Phrase */
		if (v == e || *v != ' ')
			return -1;
		while (v < e && *v == ' ')
			v++;
		if (e - v < 3 || !is_digit((unsigned char)v[0]) || !is_digit((unsigned char)v[1]) ||
		    !is_digit((unsigned char)v[2]))
			return -1;
		int code = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
		v += 3;
		if (code < 100 || (v < e && *v != ' ' && *v != '\t'))
			return -1;
		if (out != NULL) {
			out->is_request = 0;
			out->status = code;
			out->reason = trim(v, e);
		}
		return 0;
	}
	/* Request-Line: Method SP Request-URI SP SIP-Version */
	const char *m = p;
	while (p < e && is_token((unsigned char)*p))
		p++;
	if (p == m || p - m > MAX_METHOD_LEN || p == e || *p != ' ')
		return -1;
	const char *mend = p;
	while (p < e && *p == ' ')
		p++;
	const char *u = p;
	while (p < e && *p != ' ' && *p != '\t' && (unsigned char)*p > 0x20)
		p++;
	if (p == u || p == e || *p != ' ')
		return -1;
	const char *uend = p;
	while (p < e && *p == ' ')
		p++;
	v = parse_version(p, e);
	if (v == NULL)
		return -1;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	if (v != e)
		return -1;
	if (out != NULL) {
		out->is_request = 1;
		out->method_name = sv_str_span(m, mend);
		out->method = sv_sip_method_parse(m, (size_t)(mend - m));
		out->ruri = sv_str_span(u, uend);
	}
	return 0;
}

/* Finds the end of the header block. from points at the LF ending the start
 * line. Returns the start of the blank line and sets *hend to the first byte
 * after it, or NULL when the blank line is not in [from, end). */
static const char *find_blank_line(const char *from, const char *end, const char **hend)
{
	const char *q = from;
	while (q != NULL && q < end) {
		const char *n = q + 1;
		if (n < end && *n == '\n') {
			*hend = n + 1;
			return n;
		}
		if (n + 1 < end && n[0] == '\r' && n[1] == '\n') {
			*hend = n + 2;
			return n;
		}
		if (n >= end)
			break;
		q = memchr(n, '\n', (size_t)(end - n));
	}
	return NULL;
}

/* Iterates header lines in [p, end): every line ends at LF or at end.
 * Returns 1 with name and (trimmed, possibly folded) value, 0 at the end.
 * Lines without a usable name set *bad and are skipped. */
struct hdr_iter {
	const char *p;
	const char *end;
};

static int next_header(struct hdr_iter *it, struct sv_str *name, struct sv_str *value, int *bad)
{
	while (it->p < it->end) {
		const char *ls = it->p;
		const char *lf = memchr(ls, '\n', (size_t)(it->end - ls));
		const char *next = lf != NULL ? lf + 1 : it->end;
		/* Continuation lines belong to this header. */
		while (next < it->end && (*next == ' ' || *next == '\t')) {
			lf = memchr(next, '\n', (size_t)(it->end - next));
			next = lf != NULL ? lf + 1 : it->end;
		}
		it->p = next;
		const char *c = ls;
		while (c < next && is_token((unsigned char)*c))
			c++;
		const char *nend = c;
		while (c < next && (*c == ' ' || *c == '\t'))
			c++;
		if (nend == ls || c == next || *c != ':') {
			if (bad != NULL)
				*bad = 1;
			continue;
		}
		*name = sv_str_span(ls, nend);
		*value = trim(c + 1, next);
		return 1;
	}
	return 0;
}

static enum hdr_id header_id(struct sv_str name)
{
	if (name.len == 1) {
		int c = lower((unsigned char)name.p[0]);
		for (size_t i = 0; i < ARRAY_LEN(hdr_table); i++)
			if (hdr_table[i].compact == c)
				return hdr_table[i].id;
		return H_OTHER;
	}
	for (size_t i = 0; i < ARRAY_LEN(hdr_table); i++)
		if (sv_sip_str_ieq(name, hdr_table[i].name))
			return hdr_table[i].id;
	return H_OTHER;
}

/* Parses a decimal number of at most 18 digits filling [p, e). -1 if not. */
static int64_t parse_num(struct sv_str s)
{
	if (s.len == 0 || s.len > 18)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < s.len; i++) {
		if (!is_digit((unsigned char)s.p[i]))
			return -1;
		v = v * 10 + (s.p[i] - '0');
	}
	return v;
}

/* Skips a quoted string starting at p (*p == '"'); returns the byte after
 * the closing quote, or e when unterminated. */
static const char *skip_quoted(const char *p, const char *e)
{
	for (p++; p < e; p++) {
		if (*p == '\\') {
			p++;
			continue;
		}
		if (*p == '"')
			return p + 1;
	}
	return e;
}

/* Splits a header value list: returns the end of the first comma-separated
 * element of [p, e), honouring quoted strings and <...>. */
static const char *value_end(const char *p, const char *e)
{
	int angle = 0;
	while (p < e) {
		if (*p == '"') {
			p = skip_quoted(p, e);
			continue;
		}
		if (*p == '<')
			angle = 1;
		else if (*p == '>')
			angle = 0;
		else if (*p == ',' && !angle)
			return p;
		p++;
	}
	return e;
}

/* Finds parameter name in a ';'-separated list [p, e); its value (without
 * quotes) in *val. 1 when found. */
static int find_param(struct sv_str params, const char *name, struct sv_str *val)
{
	const char *p = params.p, *e = str_end(params);
	size_t nlen = strlen(name);
	while (p < e) {
		const char *s = p;
		while (p < e && *p != ';') {
			if (*p == '"')
				p = skip_quoted(p, e);
			else
				p++;
		}
		const char *eq = memchr(s, '=', (size_t)(p - s));
		struct sv_str n = trim(s, eq != NULL ? eq : p);
		if (mem_ieq(n.p, n.len, name, nlen)) {
			*val = eq != NULL ? trim(eq + 1, p) : sv_str_span(p, p);
			if (val->len >= 2 && val->p[0] == '"' && val->p[val->len - 1] == '"')
				*val = sv_str_span(val->p + 1, val->p + val->len - 1);
			return 1;
		}
		if (p < e)
			p++;
	}
	return 0;
}

/* Parses name-addr or addr-spec followed by header parameters. */
static void parse_addr(const char *p, const char *e, struct sv_sip_addr *a)
{
	struct sv_str v = trim(p, e);
	p = v.p;
	e = str_end(v);
	memset(a, 0, sizeof(*a));
	if (p == NULL)
		return;
	const char *lt = NULL;
	if (*p == '"') {
		const char *q = skip_quoted(p, e);
		const char *dend = q > p + 1 && q[-1] == '"' ? q - 1 : q;
		a->display = sv_str_span(p + 1, dend);
		while (q < e && is_lws((unsigned char)*q))
			q++;
		if (q < e && *q == '<')
			lt = q;
	} else {
		for (const char *q = p; q < e; q++) {
			if (*q == '<') {
				lt = q;
				break;
			}
			if (*q == ';' || *q == ',')
				break;
		}
		if (lt != NULL)
			a->display = trim(p, lt);
	}
	const char *rest;
	if (lt != NULL) {
		const char *gt = memchr(lt, '>', (size_t)(e - lt));
		if (gt == NULL)
			gt = e;
		a->uri = trim(lt + 1, gt);
		rest = gt < e ? gt + 1 : e;
	} else {
		const char *q = p;
		while (q < e && *q != ';' && !is_lws((unsigned char)*q))
			q++;
		a->uri = sv_str_span(p, q);
		rest = q;
	}
	while (rest < e && is_lws((unsigned char)*rest))
		rest++;
	if (rest < e && *rest == ';')
		a->params = trim(rest + 1, e);
	find_param(a->params, "tag", &a->tag);
}

/* Parses one Via value: sent-protocol LWS sent-by *( ; via-params ). */
static void parse_via(const char *p, const char *e, struct sv_sip_via *v)
{
	memset(v, 0, sizeof(*v));
	/* protocol-name / version / transport, LWS allowed around '/' */
	for (int part = 0; part < 3; part++) {
		while (p < e && is_lws((unsigned char)*p))
			p++;
		const char *s = p;
		while (p < e && is_token((unsigned char)*p))
			p++;
		if (part == 2) {
			v->transport = sv_str_span(s, p);
			break;
		}
		while (p < e && is_lws((unsigned char)*p))
			p++;
		if (p == e || *p != '/')
			return;
		p++;
	}
	while (p < e && is_lws((unsigned char)*p))
		p++;
	const char *h = p;
	if (p < e && *p == '[') {
		const char *rb = memchr(p, ']', (size_t)(e - p));
		if (rb == NULL)
			return;
		v->host = sv_str_span(p + 1, rb);
		p = rb + 1;
	} else {
		while (p < e && *p != ':' && *p != ';' && !is_lws((unsigned char)*p))
			p++;
		v->host = sv_str_span(h, p);
	}
	while (p < e && is_lws((unsigned char)*p))
		p++;
	if (p < e && *p == ':') {
		p++;
		while (p < e && is_lws((unsigned char)*p))
			p++;
		const char *d = p;
		while (p < e && is_digit((unsigned char)*p))
			p++;
		int64_t port = parse_num(sv_str_span(d, p));
		if (port > 0 && port <= 65535)
			v->port = (uint16_t)port;
	}
	while (p < e && is_lws((unsigned char)*p))
		p++;
	if (p < e && *p == ';')
		v->params = trim(p + 1, e);
	find_param(v->params, "branch", &v->branch);
}

/* Parses "number LWS method". 0 or -1. */
static int parse_cseq(struct sv_str val, struct sv_sip_msg *out)
{
	const char *p = val.p, *e = str_end(val);
	const char *d = p;
	while (p < e && is_digit((unsigned char)*p))
		p++;
	int64_t n = parse_num(sv_str_span(d, p));
	if (n < 0 || n > UINT32_MAX)
		return -1;
	while (p < e && is_lws((unsigned char)*p))
		p++;
	const char *m = p;
	while (p < e && is_token((unsigned char)*p))
		p++;
	if (p == m || trim(p, e).len != 0)
		return -1;
	out->cseq = (uint32_t)n;
	out->cseq_method_name = sv_str_span(m, p);
	out->cseq_method = sv_sip_method_parse(m, (size_t)(p - m));
	return 0;
}

/* Could [p, p+n) (no LF in it) be the beginning of a start line? */
static int start_prefix_ok(const char *p, size_t n)
{
	static const char sip[] = "SIP/";
	size_t k = n < 4 ? n : 4;
	if (mem_ieq(p, k, sip, k))
		return 1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == ' ')
			return i > 0;
		if (!is_token((unsigned char)p[i]) || i >= MAX_METHOD_LEN)
			return 0;
	}
	return 1;
}

int sv_sip_parse(const uint8_t *data, size_t len, struct sv_sip_msg *out)
{
	memset(out, 0, sizeof(*out));
	out->content_length = -1;
	out->max_forwards = -1;
	if (data == NULL || len == 0)
		return SV_E_TRUNC;
	const char *p = (const char *)data, *end = p + len;
	const char *lf = memchr(p, '\n', len);
	if (lf == NULL) /* incomplete start line: TRUNC only if it could be one */
		return start_prefix_ok(p, len) ? SV_E_TRUNC : SV_E_PARSE;
	const char *le = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
	if (parse_start_line(p, le, out) != 0)
		return SV_E_PARSE;
	const char *hend;
	const char *blank = find_blank_line(lf, end, &hend);
	if (blank == NULL)
		return SV_E_TRUNC;
	out->headers = sv_str_span(lf + 1, blank);

	int have_cseq = 0, have_from = 0, have_to = 0, bad = 0;
	struct hdr_iter it = {lf + 1, blank};
	struct sv_str name, val;
	while (next_header(&it, &name, &val, &bad)) {
		switch (header_id(name)) {
		case H_CALL_ID:
			if (out->call_id.p == NULL)
				out->call_id = val;
			break;
		case H_CSEQ:
			if (!have_cseq) {
				if (parse_cseq(val, out) != 0)
					return SV_E_PARSE;
				have_cseq = 1;
			}
			break;
		case H_FROM:
			if (!have_from) {
				parse_addr(val.p, str_end(val), &out->from);
				have_from = 1;
			}
			break;
		case H_TO:
			if (!have_to) {
				parse_addr(val.p, str_end(val), &out->to);
				have_to = 1;
			}
			break;
		case H_VIA: {
			const char *vp = val.p, *ve = str_end(val);
			while (vp < ve) {
				const char *x = value_end(vp, ve);
				if (trim(vp, x).len > 0) {
					if (out->via_count == 0)
						parse_via(vp, x, &out->via);
					out->via_count++;
				}
				vp = x < ve ? x + 1 : ve;
			}
			break;
		}
		case H_CONTACT:
			if (out->contact.uri.p == NULL && val.len > 0) {
				const char *x = value_end(val.p, str_end(val));
				parse_addr(val.p, x, &out->contact);
			}
			break;
		case H_CONTENT_TYPE:
			if (out->content_type.p == NULL)
				out->content_type = val;
			break;
		case H_CONTENT_LENGTH:
			if (out->content_length < 0 && !(out->flags & SV_SIP_F_BAD_CLEN)) {
				int64_t n = parse_num(val);
				if (n < 0)
					out->flags |= SV_SIP_F_BAD_CLEN;
				else
					out->content_length = n;
			}
			break;
		case H_MAX_FORWARDS:
			if (out->max_forwards < 0) {
				int64_t n = parse_num(val);
				if (n >= 0 && n <= 255)
					out->max_forwards = (int)n;
			}
			break;
		case H_USER_AGENT:
			if (out->user_agent.p == NULL)
				out->user_agent = val;
			break;
		case H_SERVER:
			if (out->server.p == NULL)
				out->server = val;
			break;
		default:
			break;
		}
	}
	if (bad)
		out->flags |= SV_SIP_F_BAD_HEADER;
	if (out->call_id.len == 0 || !have_cseq || !have_from || !have_to)
		return SV_E_PARSE;

	out->header_len = (size_t)(hend - p);
	size_t avail = len - out->header_len;
	size_t blen = avail;
	if (out->content_length >= 0) {
		if ((uint64_t)out->content_length > avail) {
			out->flags |= SV_SIP_F_BODY_TRUNC;
		} else {
			blen = (size_t)out->content_length;
			if (blen < avail)
				out->flags |= SV_SIP_F_TRAILING;
		}
	}
	out->body = sv_str_span(hend, hend + blen);
	out->msg_len = out->header_len + blen;
	return 0;
}

int sv_sip_frame(const uint8_t *data, size_t len, size_t *msg_len, size_t *skip)
{
	size_t s = 0;
	while (s < len && (data[s] == '\r' || data[s] == '\n'))
		s++;
	*skip = s;
	*msg_len = 0;
	const char *p = (const char *)data + s;
	size_t n = len - s;
	if (n == 0)
		return SV_E_AGAIN;
	size_t lim = n < SV_SIP_MAX_HEADERS ? n : SV_SIP_MAX_HEADERS;
	const char *lf = memchr(p, '\n', lim);
	if (lf == NULL) {
		if (!start_prefix_ok(p, lim))
			return SV_E_PARSE;
		return n >= SV_SIP_MAX_HEADERS ? SV_E_TOOBIG : SV_E_AGAIN;
	}
	const char *le = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
	if (parse_start_line(p, le, NULL) != 0)
		return SV_E_PARSE;
	const char *end = p + n;
	const char *hend;
	const char *blank = find_blank_line(lf, end, &hend);
	if (blank == NULL)
		return n > SV_SIP_MAX_HEADERS ? SV_E_TOOBIG : SV_E_AGAIN;
	size_t hlen = (size_t)(hend - p);
	if (hlen > SV_SIP_MAX_HEADERS)
		return SV_E_TOOBIG;

	int64_t clen = -1;
	struct hdr_iter it = {lf + 1, blank};
	struct sv_str name, val;
	while (next_header(&it, &name, &val, NULL)) {
		if (header_id(name) == H_CONTENT_LENGTH) {
			clen = parse_num(val);
			if (clen < 0)
				return val.len > 18 ? SV_E_TOOBIG : SV_E_PARSE;
			break;
		}
	}
	if (clen < 0)
		clen = 0;
	if (clen > SV_SIP_MAX_BODY)
		return SV_E_TOOBIG;
	if (n - hlen < (size_t)clen)
		return SV_E_AGAIN;
	*msg_len = hlen + (size_t)clen;
	return 0;
}

size_t sv_sip_resync(const uint8_t *data, size_t len)
{
	const char *p = (const char *)data, *end = p + len;
	if (len == 0)
		return 0;
	const char *q = memchr(p, '\n', len);
	while (q != NULL) {
		const char *ls = q + 1;
		if (ls >= end)
			return len;
		const char *lf = memchr(ls, '\n', (size_t)(end - ls));
		if (lf == NULL) {
			/* Last, incomplete line: keep it if it may grow into one. */
			size_t n = (size_t)(end - ls);
			if (n >= SV_SIP_MAX_HEADERS || !start_prefix_ok(ls, n))
				return len;
			return (size_t)(ls - p);
		}
		const char *le = lf > ls && lf[-1] == '\r' ? lf - 1 : lf;
		if (parse_start_line(ls, le, NULL) == 0)
			return (size_t)(ls - p);
		q = lf;
	}
	/* No line break at all: the whole thing is one unusable line. */
	return len;
}

int sv_sip_header(const struct sv_sip_msg *m, const char *name, struct sv_str *value)
{
	struct sv_str want = {name, strlen(name)};
	enum hdr_id wid = header_id(want);
	struct hdr_iter it = {m->headers.p, str_end(m->headers)};
	struct sv_str n, v;
	*value = (struct sv_str){NULL, 0};
	if (m->headers.p == NULL)
		return SV_E_NOTFOUND;
	while (next_header(&it, &n, &v, NULL)) {
		if (wid != H_OTHER ? header_id(n) == wid : mem_ieq(n.p, n.len, want.p, want.len)) {
			*value = v;
			return 0;
		}
	}
	return SV_E_NOTFOUND;
}

/* The media type of a Content-Type value, without parameters. */
static struct sv_str media_type(struct sv_str ct)
{
	const char *semi = ct.p != NULL ? memchr(ct.p, ';', ct.len) : NULL;
	return trim(ct.p, semi != NULL ? semi : str_end(ct));
}

/* Finds "--boundary" at a line start in [p, e); returns it or NULL. */
static const char *find_delim(const char *p, const char *e, const char *d, size_t dlen,
                              const char *start)
{
	while (p < e) {
		const char *hit = memmem(p, (size_t)(e - p), d, dlen);
		if (hit == NULL)
			return NULL;
		if (hit == start || hit[-1] == '\n')
			return hit;
		p = hit + 1;
	}
	return NULL;
}

int sv_sip_sdp_body(const struct sv_sip_msg *m, struct sv_str *sdp)
{
	*sdp = (struct sv_str){NULL, 0};
	struct sv_str mt = media_type(m->content_type);
	if (m->body.len == 0)
		return SV_E_NOTFOUND;
	if (sv_sip_str_ieq(mt, "application/sdp")) {
		*sdp = m->body;
		return 0;
	}
	if (mt.len < 10 || !mem_ieq(mt.p, 10, "multipart/", 10))
		return SV_E_NOTFOUND;
	struct sv_str params = {mt.p + mt.len,
	                        m->content_type.len - (size_t)(mt.p - m->content_type.p) - mt.len};
	if (params.len > 0 && params.p[0] == ';') {
		params.p++;
		params.len--;
	}
	struct sv_str bnd;
	char delim[80];
	if (!find_param(params, "boundary", &bnd) || bnd.len == 0 || bnd.len > 70)
		return SV_E_NOTFOUND;
	delim[0] = delim[1] = '-';
	memcpy(delim + 2, bnd.p, bnd.len);
	size_t dlen = bnd.len + 2;

	const char *b = m->body.p, *e = b + m->body.len;
	const char *d = find_delim(b, e, delim, dlen, b);
	while (d != NULL) {
		const char *q = d + dlen;
		if (e - q >= 2 && q[0] == '-' && q[1] == '-')
			break; /* close delimiter */
		const char *lf = memchr(q, '\n', (size_t)(e - q));
		if (lf == NULL)
			break;
		const char *ps = lf + 1;
		const char *nd = find_delim(ps, e, delim, dlen, b);
		const char *pe = nd != NULL ? nd : e;
		/* The line break before a delimiter belongs to the delimiter. */
		if (nd != NULL && pe > ps && pe[-1] == '\n')
			pe--;
		if (nd != NULL && pe > ps && pe[-1] == '\r')
			pe--;
		/* Part headers end at the first empty line (lf ends the delimiter line). */
		const char *cs;
		const char *hb = find_blank_line(lf, pe, &cs);
		if (hb != NULL) {
			struct hdr_iter it = {ps, hb};
			struct sv_str n, v;
			while (next_header(&it, &n, &v, NULL)) {
				if (header_id(n) == H_CONTENT_TYPE &&
				    sv_sip_str_ieq(media_type(v), "application/sdp")) {
					*sdp = sv_str_span(cs, pe);
					return sdp->len > 0 ? 0 : SV_E_NOTFOUND;
				}
			}
		}
		d = nd;
	}
	return SV_E_NOTFOUND;
}
