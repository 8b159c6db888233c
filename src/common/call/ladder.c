/*
 * ladder.c - a call's SIP messages from its pcap, in order, with tshark's
 * retransmission flag.
 */
#include "call/ladder.h"

#include "base/buf.h"
#include "base/errors.h"
#include "call/tracker.h"
#include "proto/packet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

void sv_ladder_init(struct sv_ladder *l)
{
	memset(l, 0, sizeof(*l));
}

void sv_ladder_release(struct sv_ladder *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i].raw);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* One direction of a TCP stream being reassembled. */
struct flow {
	struct sv_tracker_flow key; /* the direction's 5-tuple */
	uint32_t next_seq;
	int have_seq;
	uint64_t first_ts; /* time of the first byte still buffered */
	struct sv_buf data;
};

struct flows {
	struct flow *v;
	size_t n, cap;
};

static struct flow *flow_get(struct flows *fs, const struct sv_packet *p)
{
	size_t i;
	struct flow *f;

	for (i = 0; i < fs->n; i++) {
		f = &fs->v[i];
		if (f->key.family == p->family && f->key.sport == p->sport &&
		    f->key.dport == p->dport && memcmp(f->key.src, p->src, 16) == 0 &&
		    memcmp(f->key.dst, p->dst, 16) == 0)
			return f;
	}
	struct flow *nv = sv_grow(fs->v, fs->n, &fs->cap, sizeof(*nv), 8);
	if (nv == NULL)
		return NULL;
	fs->v = nv;
	f = &fs->v[fs->n++];
	memset(f, 0, sizeof(*f));
	sv_tracker_flow_from_packet(p, &f->key);
	sv_buf_init(&f->data);
	return f;
}

static void flows_release(struct flows *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++)
		sv_buf_release(&fs->v[i].data);
	free(fs->v);
}

static const char *via_transport(const struct sv_sip_msg *m, int tcp)
{
	static const char *const names[] = {"TCP", "TLS", "WS", "WSS", "SCTP"};
	size_t i;

	if (!tcp)
		return "UDP";
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (sv_sip_str_ieq(m->via.transport, names[i]))
			return names[i];
	return "TCP";
}

/* Appends one message (copies raw). */
static int add_msg(struct sv_ladder *l, uint64_t ts, const struct sv_packet *p, const uint8_t *raw,
                   size_t len, int tcp)
{
	struct sv_ladder_msg *m;

	if (l->n >= SV_LADDER_MAX_MSGS || len == 0)
		return 0;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 32;
		struct sv_ladder_msg *nv = realloc(l->v, nc * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	m = &l->v[l->n];
	memset(m, 0, sizeof(*m));
	if ((m->raw = malloc(len)) == NULL)
		return -ENOMEM;
	memcpy(m->raw, raw, len);
	m->len = len;
	m->ts_ns = ts;
	m->family = p->family;
	memcpy(m->src, p->src, 16);
	memcpy(m->dst, p->dst, 16);
	m->sport = p->sport;
	m->dport = p->dport;
	m->parsed = sv_sip_parse(m->raw, len, &m->sip) == 0;
	m->transport = m->parsed ? via_transport(&m->sip, tcp) : (tcp ? "TCP" : "UDP");
	l->n++;
	return 0;
}

/* Frames whole messages out of a flow's buffer. */
static int flow_drain(struct sv_ladder *l, struct flow *f, const struct sv_packet *p, uint64_t ts)
{
	for (;;) {
		size_t mlen = 0, skip = 0;
		int r = sv_sip_frame(f->data.data, f->data.len, &mlen, &skip);
		if (r == SV_E_AGAIN) {
			if (skip > 0 && skip <= f->data.len)
				sv_buf_consume(&f->data, skip);
			return 0;
		}
		if (r == SV_E_PARSE || r == SV_E_TOOBIG) {
			size_t drop = sv_sip_resync(f->data.data, f->data.len);
			if (drop == 0)
				drop = f->data.len;
			sv_buf_consume(&f->data, drop);
			if (f->data.len == 0)
				return 0;
			continue;
		}
		if (r != 0)
			return r;
		if ((r = add_msg(l, f->first_ts ? f->first_ts : ts, p, f->data.data + skip, mlen,
		                 1)) != 0)
			return r;
		sv_buf_consume(&f->data, skip + mlen);
		f->first_ts = f->data.len > 0 ? ts : 0;
		if (f->data.len == 0)
			return 0;
	}
}

static int tcp_segment(struct sv_ladder *l, struct flows *fs, const struct sv_packet *p,
                       uint64_t ts)
{
	const uint8_t *d = p->payload;
	size_t n = p->payload_len;
	struct flow *f;

	if (n == 0)
		return 0;
	if ((f = flow_get(fs, p)) == NULL)
		return -ENOMEM;
	if (f->have_seq) {
		uint32_t behind = f->next_seq - p->tcp_seq;
		/* a segment (partly) repeating bytes already taken: keep only the new part */
		if (behind != 0 && behind < 0x80000000u) {
			if (behind >= n)
				return 0;
			d += behind;
			n -= behind;
		}
	}
	f->have_seq = 1;
	f->next_seq = p->tcp_seq + (uint32_t)p->payload_len;
	if (f->data.len == 0)
		f->first_ts = ts;
	if (sv_buf_append(&f->data, d, n) != 0)
		return -ENOMEM;
	return flow_drain(l, f, p, ts);
}

/* tshark's sip.resend: the same as the last message of this Call-ID in this direction. */
static void mark_retransmissions(struct sv_ladder *l, size_t from)
{
	size_t i, j;

	for (i = from; i < l->n; i++) {
		struct sv_ladder_msg *m = &l->v[i];
		if (!m->parsed || strcmp(m->transport, "UDP") != 0)
			continue;
		for (j = i; j-- > 0;) {
			const struct sv_ladder_msg *o = &l->v[j];
			if (!o->parsed || o->family != m->family || o->sport != m->sport ||
			    o->dport != m->dport || memcmp(o->src, m->src, 16) != 0 ||
			    memcmp(o->dst, m->dst, 16) != 0 ||
			    o->sip.call_id.len != m->sip.call_id.len ||
			    (m->sip.call_id.len > 0 &&
			     memcmp(o->sip.call_id.p, m->sip.call_id.p, m->sip.call_id.len) != 0))
				continue;
			m->retransmission =
			    o->sip.cseq == m->sip.cseq && o->sip.is_request == m->sip.is_request &&
			    o->sip.cseq_method_name.len == m->sip.cseq_method_name.len &&
			    (m->sip.cseq_method_name.len == 0 ||
			     memcmp(o->sip.cseq_method_name.p, m->sip.cseq_method_name.p,
			            m->sip.cseq_method_name.len) == 0) &&
			    (m->sip.is_request || o->sip.status == m->sip.status);
			break;
		}
	}
}

static uint32_t rd32(const uint8_t *p, int swap)
{
	return swap ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	                  (uint32_t)p[3] << 24
	            : sv_be32(p);
}

int sv_ladder_read_pcap(struct sv_ladder *l, const uint8_t *data, size_t len)
{
	struct flows fs = {NULL, 0, 0};
	size_t off = 24, from = l->n;
	uint32_t magic;
	int swap, nano, linktype, r = 0;

	if (len < 24)
		return SV_E_PARSE;
	magic = sv_be32(data);
	if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du)
		swap = 0;
	else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u)
		swap = 1;
	else
		return SV_E_PARSE;
	nano = magic == 0xa1b23c4du || magic == 0x4d3cb2a1u;
	linktype = (int)(rd32(data + 20, swap) & 0x0fffffff);
	while (off < len) {
		struct sv_packet p;
		uint32_t sec, frac, incl;
		uint64_t ts;

		if (len - off < 16) {
			r = SV_E_PARSE;
			break;
		}
		sec = rd32(data + off, swap);
		frac = rd32(data + off + 4, swap);
		incl = rd32(data + off + 8, swap);
		off += 16;
		if (incl > len - off) {
			r = SV_E_PARSE;
			break;
		}
		ts = (uint64_t)sec * 1000000000u + (nano ? frac : (uint64_t)frac * 1000u);
		if (sv_packet_decode(linktype, data + off, incl, &p) == 0 &&
		    !(p.flags & SV_PACKET_F_FRAG)) {
			if (p.proto == SV_PACKET_PROTO_UDP)
				r = add_msg(l, ts, &p, p.payload, p.payload_len, 0);
			else if (p.proto == SV_PACKET_PROTO_TCP)
				r = tcp_segment(l, &fs, &p, ts);
			if (r != 0)
				break;
		}
		off += incl;
	}
	flows_release(&fs);
	mark_retransmissions(l, from);
	return r;
}

int sv_ladder_json_string(struct sv_buf *out, const char *s, size_t len)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t i = 0;
	int r;

	if ((r = sv_buf_reserve(out, len + 2)) != 0)
		return r;
	if ((r = sv_buf_append(out, "\"", 1)) != 0)
		return r;
	while (i < len) {
		uint8_t c = u[i];
		size_t n = 0, run = i;
		uint32_t cp = 0;

		/* plain ASCII needs no escape: copy a run at once */
		while (run < len && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' &&
		       u[run] != '\\')
			run++;
		if (run > i) {
			if ((r = sv_buf_append(out, u + i, run - i)) != 0)
				return r;
			i = run;
			continue;
		}
		if (c < 0x80) {
			if (c == '"' || c == '\\') {
				char e[2] = {'\\', (char)c};
				r = sv_buf_append(out, e, 2);
			} else if (c < 0x20) {
				const char *e = c == '\n'   ? "\\n"
				                : c == '\r' ? "\\r"
				                : c == '\t' ? "\\t"
				                : c == '\b' ? "\\b"
				                : c == '\f' ? "\\f"
				                            : NULL;
				r = e != NULL ? sv_buf_append_str(out, e)
				              : sv_buf_printf(out, "\\u%04X", (unsigned)c);
			} else
				r = sv_buf_append(out, &c, 1);
			if (r != 0)
				return r;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		}
		if (n > 0) {
			size_t k;
			for (k = 1; k <= n; k++) {
				if (i + k >= len || (u[i + k] & 0xc0) != 0x80)
					break;
				cp = cp << 6 | (u[i + k] & 0x3f);
			}
			if (k > n && !(n == 2 && cp < 0x800) && !(n == 3 && cp < 0x10000) &&
			    cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff)) {
				if ((r = sv_buf_append(out, u + i, n + 1)) != 0)
					return r;
				i += n + 1;
				continue;
			}
		}
		if ((r = sv_buf_append(out, "\xef\xbf\xbd", 3)) != 0)
			return r;
		i++;
	}
	return sv_buf_append(out, "\"", 1);
}

void sv_ladder_iso(uint64_t ts_ns, char buf[40])
{
	time_t sec = (time_t)(ts_ns / 1000000000u);
	struct tm tm;
	char tmp[128];

	gmtime_r(&sec, &tm);
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (unsigned)(ts_ns % 1000000000u));
	memcpy(buf, tmp, 39);
	buf[39] = 0;
}

static int str_field(struct sv_buf *out, const char *name, struct sv_str s)
{
	int r;

	if ((r = sv_buf_printf(out, ",\"%s\":", name)) != 0)
		return r;
	if (s.p == NULL)
		return sv_buf_append_str(out, "null");
	return sv_ladder_json_string(out, s.p, s.len);
}

int sv_ladder_json(const struct sv_ladder *l, struct sv_buf *out)
{
	size_t i;
	int r;

	if ((r = sv_buf_append(out, "[", 1)) != 0)
		return r;
	for (i = 0; i < l->n; i++) {
		const struct sv_ladder_msg *m = &l->v[i];
		char src[SV_PACKET_ADDRSTRLEN], dst[SV_PACKET_ADDRSTRLEN], iso[40];
		struct sv_str none = {NULL, 0};

		sv_packet_addr_str(m->family, m->src, m->sport, src, sizeof(src));
		sv_packet_addr_str(m->family, m->dst, m->dport, dst, sizeof(dst));
		sv_ladder_iso(m->ts_ns, iso);
		if ((r = sv_buf_printf(
		         out,
		         "%s{\"index\":%zu,\"ts_ns\":%llu,\"time\":\"%s\",\"src\":\"%s\","
		         "\"dst\":\"%s\",\"transport\":\"%s\",\"kind\":\"%s\"",
		         i ? "," : "", i, (unsigned long long)m->ts_ns, iso, src, dst, m->transport,
		         !m->parsed          ? "unparsed"
		         : m->sip.is_request ? "request"
		                             : "response")) != 0)
			return r;
		if (m->parsed) {
			if ((r = str_field(out, "method",
			                   m->sip.is_request ? m->sip.method_name : none)) != 0)
				return r;
			if (m->sip.is_request)
				r = sv_buf_append_str(out, ",\"status\":null");
			else
				r = sv_buf_printf(out, ",\"status\":%d", m->sip.status);
			if (r != 0 ||
			    (r = str_field(out, "reason",
			                   m->sip.is_request ? none : m->sip.reason)) != 0 ||
			    (r = sv_buf_printf(out, ",\"cseq\":%u", (unsigned)m->sip.cseq)) != 0 ||
			    (r = str_field(out, "cseq_method", m->sip.cseq_method_name)) != 0 ||
			    (r = str_field(out, "call_id", m->sip.call_id)) != 0)
				return r;
		} else if ((r = sv_buf_append_str(out, ",\"method\":null,\"status\":null,"
		                                       "\"reason\":null,\"cseq\":null,"
		                                       "\"cseq_method\":null,\"call_id\":null")) !=
		           0)
			return r;
		if ((r = sv_buf_printf(out, ",\"retransmission\":%s,\"raw\":",
		                       m->retransmission ? "true" : "false")) != 0 ||
		    (r = sv_ladder_json_string(out, (const char *)m->raw, m->len)) != 0 ||
		    (r = sv_buf_append(out, "}", 1)) != 0)
			return r;
	}
	return sv_buf_append(out, "]", 1);
}

int sv_ladder_text(const struct sv_ladder *l, struct sv_buf *out)
{
	size_t i;
	int r;

	for (i = 0; i < l->n; i++) {
		const struct sv_ladder_msg *m = &l->v[i];
		char src[SV_PACKET_ADDRSTRLEN], dst[SV_PACKET_ADDRSTRLEN];
		uint64_t rel = m->ts_ns - l->v[0].ts_ns;

		sv_packet_addr_str(m->family, m->src, m->sport, src, sizeof(src));
		sv_packet_addr_str(m->family, m->dst, m->dport, dst, sizeof(dst));
		if ((r = sv_buf_printf(
		         out, "+%llu.%03us %s -> %s %s ", (unsigned long long)(rel / 1000000000u),
		         (unsigned)(rel % 1000000000u / 1000000u), src, dst, m->transport)) != 0)
			return r;
		if (!m->parsed)
			r = sv_buf_printf(out, "(unparsed, %zu bytes)", m->len);
		else if (m->sip.is_request)
			r = sv_buf_printf(out, "%.*s", (int)m->sip.method_name.len,
			                  m->sip.method_name.p ? m->sip.method_name.p : "");
		else
			r = sv_buf_printf(out, "%d %.*s", m->sip.status, (int)m->sip.reason.len,
			                  m->sip.reason.p ? m->sip.reason.p : "");
		if (r == 0 && m->parsed)
			r = sv_buf_printf(out, " (CSeq %u %.*s)", (unsigned)m->sip.cseq,
			                  (int)m->sip.cseq_method_name.len,
			                  m->sip.cseq_method_name.p ? m->sip.cseq_method_name.p
			                                            : "");
		if (r == 0 && m->retransmission)
			r = sv_buf_append_str(out, " retransmission");
		if (r == 0)
			r = sv_buf_append(out, "\n", 1);
		if (r != 0)
			return r;
	}
	return 0;
}
