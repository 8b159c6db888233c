/*
 * sdp.c - SDP parser. See sdp.h.
 */
#include "proto/sdp.h"

#include "base/errors.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

/* RFC 3551 tables 4 and 5 (static payload types with a fixed encoding). */
static const struct {
	const char *name;
	uint32_t clock;
} static_pt[35] = {
    [0] = {"PCMU", 8000},   [3] = {"GSM", 8000},    [4] = {"G723", 8000},   [5] = {"DVI4", 8000},
    [6] = {"DVI4", 16000},  [7] = {"LPC", 8000},    [8] = {"PCMA", 8000},   [9] = {"G722", 8000},
    [10] = {"L16", 44100},  [11] = {"L16", 44100},  [12] = {"QCELP", 8000}, [13] = {"CN", 8000},
    [14] = {"MPA", 90000},  [15] = {"G728", 8000},  [16] = {"DVI4", 11025}, [17] = {"DVI4", 22050},
    [18] = {"G729", 8000},  [25] = {"CelB", 90000}, [26] = {"JPEG", 90000}, [28] = {"nv", 90000},
    [31] = {"H261", 90000}, [32] = {"MPV", 90000},  [33] = {"MP2T", 90000}, [34] = {"H263", 90000},
};

static int is_sp(int c)
{
	return c == ' ' || c == '\t';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Next run of non-blank bytes in [*p, e); advances *p. Empty at the end. */
static struct sv_str next_tok(const char **p, const char *e)
{
	const char *s = *p;
	while (s < e && is_sp((unsigned char)*s))
		s++;
	const char *t = s;
	while (t < e && !is_sp((unsigned char)*t))
		t++;
	*p = t;
	return sv_str_span(s, t);
}

/* Decimal number in [p, p+len) bounded by max; -1 when not. */
static int64_t num(const char *p, size_t len, int64_t max)
{
	if (len == 0 || len > 12)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v <= max ? v : -1;
}

static int str_eq(struct sv_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.p, lit, n) == 0;
}

/* "IN IP4 addr" from the cursor on; 0 or -1. */
static int parse_addr(const char **p, const char *e, struct sv_sdp_addr *a)
{
	struct sv_str net = next_tok(p, e);
	struct sv_str type = next_tok(p, e);
	struct sv_str addr = next_tok(p, e);
	memset(a, 0, sizeof(*a));
	if (addr.len == 0 || !str_eq(net, "IN"))
		return -1;
	const char *slash = memchr(addr.p, '/', addr.len);
	if (slash != NULL)
		addr.len = (size_t)(slash - addr.p);
	if (addr.len == 0)
		return -1;
	a->text = addr;
	char tmp[64];
	if (addr.len >= sizeof(tmp))
		return 0;
	memcpy(tmp, addr.p, addr.len);
	tmp[addr.len] = '\0';
	if (str_eq(type, "IP4") && inet_pton(AF_INET, tmp, a->addr) == 1)
		a->family = AF_INET;
	else if (str_eq(type, "IP6") && inet_pton(AF_INET6, tmp, a->addr) == 1)
		a->family = AF_INET6;
	return 0;
}

static int parse_media(const char *p, const char *e, struct sv_sdp_media *m)
{
	memset(m, 0, sizeof(*m));
	m->rtcp_port = -1;
	m->port_count = 1;
	m->type = next_tok(&p, e);
	struct sv_str port = next_tok(&p, e);
	m->proto = next_tok(&p, e);
	if (m->type.len == 0 || port.len == 0 || m->proto.len == 0)
		return -1;
	const char *slash = memchr(port.p, '/', port.len);
	size_t plen = slash != NULL ? (size_t)(slash - port.p) : port.len;
	int64_t v = num(port.p, plen, 65535);
	if (v < 0)
		return -1;
	m->port = (uint16_t)v;
	if (slash != NULL) {
		int64_t c = num(slash + 1, port.len - plen - 1, 65535);
		if (c <= 0)
			return -1;
		m->port_count = (uint16_t)c;
	}
	while (p < e && is_sp((unsigned char)*p))
		p++;
	const char *fe = e;
	while (fe > p && is_sp((unsigned char)fe[-1]))
		fe--;
	m->fmts = sv_str_span(p, fe);
	for (;;) {
		struct sv_str f = next_tok(&p, e);
		if (f.len == 0)
			break;
		int64_t pt = num(f.p, f.len, 127);
		if (pt < 0)
			continue;
		if (m->n_pt < SV_SDP_MAX_PT)
			m->pt[m->n_pt++] = (uint8_t)pt;
		else
			m->pt_dropped++;
	}
	return 0;
}

/* a=rtpmap:<pt> <name>/<clock>[/<channels>] */
static int parse_rtpmap(const char *p, const char *e, struct sv_sdp_media *m)
{
	struct sv_str pt = next_tok(&p, e);
	struct sv_str enc = next_tok(&p, e);
	int64_t n = num(pt.p, pt.len, 127);
	if (n < 0 || enc.len == 0)
		return -1;
	const char *s1 = memchr(enc.p, '/', enc.len);
	if (s1 == NULL || s1 == enc.p)
		return -1;
	const char *ee = enc.p + enc.len;
	const char *s2 = memchr(s1 + 1, '/', (size_t)(ee - s1 - 1));
	int64_t clock = num(s1 + 1, (size_t)((s2 != NULL ? s2 : ee) - s1 - 1), UINT32_MAX);
	int64_t ch = s2 != NULL ? num(s2 + 1, (size_t)(ee - s2 - 1), 255) : 0;
	if (clock <= 0 || ch < 0)
		return -1;
	if (m->n_rtpmap >= SV_SDP_MAX_RTPMAP) {
		m->rtpmap_dropped++;
		return 0;
	}
	struct sv_sdp_rtpmap *r = &m->rtpmap[m->n_rtpmap++];
	r->pt = (uint8_t)n;
	r->name = sv_str_span(enc.p, s1);
	r->clock_rate = (uint32_t)clock;
	r->channels = (uint8_t)ch;
	return 0;
}

/* a=rtcp:<port> [IN IP4 <addr>] */
static int parse_rtcp(const char *p, const char *e, struct sv_sdp_media *m)
{
	struct sv_str port = next_tok(&p, e);
	int64_t v = num(port.p, port.len, 65535);
	if (v < 0)
		return -1;
	m->rtcp_port = (int)v;
	while (p < e && is_sp((unsigned char)*p))
		p++;
	if (p < e) {
		if (parse_addr(&p, e, &m->rtcp_addr) != 0)
			return -1;
		m->has_rtcp_addr = 1;
	}
	return 0;
}

static int parse_ssrc(const char *p, const char *e, struct sv_sdp_media *m)
{
	const char *s = p;
	while (p < e && is_digit((unsigned char)*p))
		p++;
	int64_t id = num(s, (size_t)(p - s), UINT32_MAX);
	if (id < 0)
		return -1;
	for (unsigned i = 0; i < m->n_ssrc; i++)
		if (m->ssrc[i] == (uint32_t)id)
			return 0;
	if (m->n_ssrc < SV_SDP_MAX_SSRC)
		m->ssrc[m->n_ssrc++] = (uint32_t)id;
	else
		m->ssrc_dropped++;
	return 0;
}

static enum sv_sdp_dir parse_dir(struct sv_str name)
{
	if (str_eq(name, "sendrecv"))
		return SV_SDP_SENDRECV;
	if (str_eq(name, "sendonly"))
		return SV_SDP_SENDONLY;
	if (str_eq(name, "recvonly"))
		return SV_SDP_RECVONLY;
	if (str_eq(name, "inactive"))
		return SV_SDP_INACTIVE;
	return SV_SDP_DIR_NONE;
}

/* One a= line: [p, e) is the text after "a=". m is NULL at session level. */
static int parse_attr(const char *p, const char *e, struct sv_sdp *s, struct sv_sdp_media *m)
{
	const char *colon = memchr(p, ':', (size_t)(e - p));
	struct sv_str name = sv_str_span(p, colon != NULL ? colon : e);
	const char *v = colon != NULL ? colon + 1 : e;
	enum sv_sdp_dir d = parse_dir(name);
	if (d != SV_SDP_DIR_NONE) {
		if (m != NULL)
			m->dir = d;
		else
			s->dir = d;
		return 0;
	}
	if (m == NULL)
		return 0;
	if (str_eq(name, "rtpmap"))
		return parse_rtpmap(v, e, m);
	if (str_eq(name, "rtcp"))
		return parse_rtcp(v, e, m);
	if (str_eq(name, "rtcp-mux"))
		m->rtcp_mux = 1;
	else if (str_eq(name, "ssrc"))
		return parse_ssrc(v, e, m);
	return 0;
}

int sv_sdp_parse(const uint8_t *body, size_t len, struct sv_sdp *out)
{
	memset(out, 0, sizeof(*out));
	if (body == NULL || len == 0)
		return SV_E_PARSE;
	const char *p = (const char *)body, *end = p + len;
	struct sv_sdp_media *m = NULL;
	int skipping = 0, first = 1;
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *le = lf != NULL ? lf : end;
		const char *next = lf != NULL ? lf + 1 : end;
		while (le > p && (le[-1] == '\r' || is_sp((unsigned char)le[-1])))
			le--;
		const char *ls = p;
		p = next;
		if (le == ls)
			continue;
		if (le - ls < 2 || ls[1] != '=' || ls[0] < 'a' || ls[0] > 'z')
			return SV_E_PARSE;
		if (first && ls[0] != 'v')
			return SV_E_PARSE;
		first = 0;
		char type = ls[0];
		const char *v = ls + 2;
		if (type == 'm') {
			if (out->n_media >= SV_SDP_MAX_MEDIA) {
				out->media_dropped++;
				skipping = 1;
				continue;
			}
			m = &out->media[out->n_media];
			if (parse_media(v, le, m) != 0)
				return SV_E_PARSE;
			out->n_media++;
			continue;
		}
		if (skipping)
			continue;
		int rc = 0;
		switch (type) {
		case 'o': {
			const char *q = v;
			for (int i = 0; i < 3; i++)
				if (next_tok(&q, le).len == 0)
					rc = -1;
			if (rc == 0 && parse_addr(&q, le, &out->origin) == 0)
				out->has_origin = 1;
			else
				rc = -1;
			break;
		}
		case 's':
			out->session_name = sv_str_span(v, le);
			break;
		case 'c': {
			const char *q = v;
			struct sv_sdp_addr a;
			if (parse_addr(&q, le, &a) != 0) {
				rc = -1;
			} else if (m != NULL && !m->has_conn) {
				m->conn = a;
				m->has_conn = 1;
			} else if (m == NULL && !out->has_conn) {
				out->conn = a;
				out->has_conn = 1;
			}
			break;
		}
		case 'a':
			rc = parse_attr(v, le, out, m);
			break;
		default:
			break;
		}
		if (rc != 0)
			out->bad_lines++;
	}
	return first ? SV_E_PARSE : 0;
}

const struct sv_sdp_media *sv_sdp_audio(const struct sv_sdp *s)
{
	for (unsigned i = 0; i < s->n_media; i++)
		if (str_eq(s->media[i].type, "audio") && s->media[i].port != 0)
			return &s->media[i];
	return NULL;
}

int sv_sdp_static_codec(unsigned pt, const char **name, uint32_t *clock_rate)
{
	if (pt >= sizeof(static_pt) / sizeof(static_pt[0]) || static_pt[pt].name == NULL)
		return SV_E_NOTFOUND;
	*name = static_pt[pt].name;
	*clock_rate = static_pt[pt].clock;
	return 0;
}

int sv_sdp_pt_codec(const struct sv_sdp_media *m, unsigned pt, struct sv_str *name,
                    uint32_t *clock_rate)
{
	for (unsigned i = 0; i < m->n_rtpmap; i++) {
		if (m->rtpmap[i].pt == pt) {
			*name = m->rtpmap[i].name;
			*clock_rate = m->rtpmap[i].clock_rate;
			return 0;
		}
	}
	const char *n;
	if (sv_sdp_static_codec(pt, &n, clock_rate) != 0)
		return SV_E_NOTFOUND;
	name->p = n;
	name->len = strlen(n);
	return 0;
}

int sv_sdp_codec(const struct sv_sdp *s, struct sv_str *name, uint32_t *clock_rate)
{
	const struct sv_sdp_media *m = sv_sdp_audio(s);
	*name = (struct sv_str){NULL, 0};
	*clock_rate = 0;
	if (m == NULL || m->n_pt == 0)
		return SV_E_NOTFOUND;
	return sv_sdp_pt_codec(m, m->pt[0], name, clock_rate);
}

const struct sv_sdp_addr *sv_sdp_media_addr(const struct sv_sdp *s, const struct sv_sdp_media *m)
{
	if (m != NULL && m->has_conn)
		return &m->conn;
	return s->has_conn ? &s->conn : NULL;
}

enum sv_sdp_dir sv_sdp_media_dir(const struct sv_sdp *s, const struct sv_sdp_media *m)
{
	if (m != NULL && m->dir != SV_SDP_DIR_NONE)
		return m->dir;
	return s->dir != SV_SDP_DIR_NONE ? s->dir : SV_SDP_SENDRECV;
}

int sv_sdp_rtcp(const struct sv_sdp *s, const struct sv_sdp_media *m, struct sv_sdp_endpoint *ep)
{
	ep->addr = NULL;
	ep->port = 0;
	if (m == NULL || m->port == 0)
		return SV_E_NOTFOUND;
	ep->addr = sv_sdp_media_addr(s, m);
	if (m->rtcp_mux) {
		ep->port = m->port;
		return 0;
	}
	if (m->rtcp_port == 0)
		return SV_E_NOTFOUND;
	if (m->rtcp_port > 0) {
		ep->port = (uint16_t)m->rtcp_port;
		if (m->has_rtcp_addr)
			ep->addr = &m->rtcp_addr;
		return 0;
	}
	if (m->port == 65535)
		return SV_E_NOTFOUND;
	ep->port = (uint16_t)(m->port + 1);
	return 0;
}

const char *sv_sdp_dir_name(enum sv_sdp_dir d)
{
	switch (d) {
	case SV_SDP_SENDRECV:
		return "sendrecv";
	case SV_SDP_SENDONLY:
		return "sendonly";
	case SV_SDP_RECVONLY:
		return "recvonly";
	case SV_SDP_INACTIVE:
		return "inactive";
	default:
		return "";
	}
}
