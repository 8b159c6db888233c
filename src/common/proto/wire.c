#include "proto/wire.h"

#include "base/errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ frames */

static int check_prefix(const uint8_t *p, size_t n)
{
	if (n >= 1 && p[0] != SV_WIRE_MAGIC0)
		return SV_E_PARSE;
	if (n >= 2 && p[1] != SV_WIRE_MAGIC1)
		return SV_E_PARSE;
	if (n >= 3 && p[2] != SV_WIRE_VERSION)
		return SV_E_UNSUPP;
	return 0;
}

int sv_wire_header_parse(const uint8_t hdr[SV_WIRE_HDR_LEN], struct sv_wire_frame *f)
{
	int rc = check_prefix(hdr, SV_WIRE_HDR_LEN);
	f->version = hdr[2];
	f->type = hdr[3];
	f->len = sv_be32(hdr + 4);
	f->seq = sv_be32(hdr + 8);
	f->payload = NULL;
	if (rc != 0)
		return rc;
	if (f->len > SV_WIRE_MAX_PAYLOAD)
		return SV_E_TOOBIG;
	return 0;
}

int sv_wire_frame_parse(const uint8_t *p, size_t len, struct sv_wire_frame *f, size_t *used)
{
	int rc;
	*used = 0;
	if (len < SV_WIRE_HDR_LEN) {
		rc = check_prefix(p, len);
		return rc != 0 ? rc : SV_E_AGAIN;
	}
	if ((rc = sv_wire_header_parse(p, f)) != 0)
		return rc;
	if (len - SV_WIRE_HDR_LEN < f->len)
		return SV_E_AGAIN;
	f->payload = p + SV_WIRE_HDR_LEN;
	*used = SV_WIRE_HDR_LEN + (size_t)f->len;
	return 0;
}

const char *sv_wire_type_name(uint8_t type)
{
	switch (type) {
	case SV_WIRE_HANDSHAKE:
		return "HANDSHAKE";
	case SV_WIRE_HANDSHAKE_ACK:
		return "HANDSHAKE_ACK";
	case SV_WIRE_DATA_SIP:
		return "DATA_SIP";
	case SV_WIRE_DATA_RTCP:
		return "DATA_RTCP";
	case SV_WIRE_DATA_LOG:
		return "DATA_LOG";
	case SV_WIRE_HEARTBEAT:
		return "HEARTBEAT";
	case SV_WIRE_HEARTBEAT_ACK:
		return "HEARTBEAT_ACK";
	case SV_WIRE_DATA_QUALITY:
		return "DATA_QUALITY";
	case SV_WIRE_ACK:
		return "ACK";
	case SV_WIRE_DATA_RTCP_ADDR:
		return "DATA_RTCP_ADDR";
	case SV_WIRE_AGENT_STATS:
		return "AGENT_STATS";
	default:
		return "UNKNOWN";
	}
}

/* ------------------------------------------------------------ encoders */

/* Size of a u16-length string on the wire, or 0 when it cannot be sent. */
static size_t str_size(const struct sv_wire_str *s)
{
	if (s->len > UINT16_MAX || (s->len > 0 && s->p == NULL))
		return 0;
	return 2 + s->len;
}

static size_t ip_size(const struct sv_wire_addr *a)
{
	return a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
}

void sv_wire_header_encode(uint8_t hdr[SV_WIRE_HDR_LEN], uint8_t type, uint32_t payload_len,
                           uint32_t seq)
{
	hdr[0] = SV_WIRE_MAGIC0;
	hdr[1] = SV_WIRE_MAGIC1;
	hdr[2] = SV_WIRE_VERSION;
	hdr[3] = type;
	sv_put_be32(hdr + 4, payload_len);
	sv_put_be32(hdr + 8, seq);
}

/* Reserves room for a frame with a plen-byte payload, writes its header and
 * points *w at the payload. Nothing is committed until frame_close(). */
static int frame_open(struct sv_buf *out, uint8_t type, uint32_t seq, size_t plen, uint8_t **w)
{
	int rc;
	if (plen > SV_WIRE_MAX_PAYLOAD)
		return SV_E_TOOBIG;
	if ((rc = sv_buf_reserve(out, SV_WIRE_HDR_LEN + plen)) != 0)
		return rc;
	uint8_t *p = out->data + out->len;
	sv_wire_header_encode(p, type, (uint32_t)plen, seq);
	*w = p + SV_WIRE_HDR_LEN;
	return 0;
}

static void frame_close(struct sv_buf *out, size_t plen)
{
	out->len += SV_WIRE_HDR_LEN + plen;
	out->data[out->len] = '\0';
}

static uint8_t *put_u64(uint8_t *w, uint64_t v)
{
	sv_put_be32(w, (uint32_t)(v >> 32));
	sv_put_be32(w + 4, (uint32_t)v);
	return w + 8;
}

static uint8_t *put_bytes(uint8_t *w, const uint8_t *p, size_t n)
{
	if (n > 0)
		memcpy(w, p, n);
	return w + n;
}

static uint8_t *put_str(uint8_t *w, const struct sv_wire_str *s)
{
	sv_put_be16(w, (uint16_t)s->len);
	return put_bytes(w + 2, s->p, s->len);
}

static uint8_t *put_addr(uint8_t *w, const struct sv_wire_addr *a)
{
	w = put_bytes(w, a->ip, ip_size(a));
	sv_put_be16(w, a->port);
	return w + 2;
}

/* A remainder field: any length (bounded by the frame), but not NULL with len. */
static int rest_ok(const struct sv_wire_str *s)
{
	return s->len == 0 || s->p != NULL;
}

static int addrs_ok(const struct sv_wire_addr *src, const struct sv_wire_addr *dst)
{
	return ip_size(src) != 0 && src->family == dst->family;
}

int sv_wire_encode_raw(struct sv_buf *out, uint8_t type, uint32_t seq, const void *payload,
                       size_t len)
{
	uint8_t *w;
	int rc;
	if (len > 0 && payload == NULL)
		return -EINVAL;
	if ((rc = frame_open(out, type, seq, len, &w)) != 0)
		return rc;
	put_bytes(w, payload, len);
	frame_close(out, len);
	return 0;
}

int sv_wire_encode_handshake(struct sv_buf *out, uint32_t seq, const struct sv_wire_handshake *m)
{
	size_t a = str_size(&m->customer_id), b = str_size(&m->token);
	size_t c = str_size(&m->agent_version), d = m->has_caps ? str_size(&m->caps) : 2;
	if (a == 0 || b == 0 || c == 0 || d == 0)
		return -EINVAL;
	size_t plen = a + b + c + (m->has_caps ? d : 0);
	uint8_t *w;
	int rc;
	if ((rc = frame_open(out, SV_WIRE_HANDSHAKE, seq, plen, &w)) != 0)
		return rc;
	w = put_str(w, &m->customer_id);
	w = put_str(w, &m->token);
	w = put_str(w, &m->agent_version);
	if (m->has_caps)
		put_str(w, &m->caps);
	frame_close(out, plen);
	return 0;
}

int sv_wire_encode_handshake_ack(struct sv_buf *out, uint32_t seq,
                                 const struct sv_wire_handshake_ack *m)
{
	size_t a = str_size(&m->message), d = m->has_caps ? str_size(&m->caps) : 2;
	if (a == 0 || d == 0)
		return -EINVAL;
	size_t plen = 1 + a + (m->has_caps ? d : 0);
	uint8_t *w;
	int rc;
	if ((rc = frame_open(out, SV_WIRE_HANDSHAKE_ACK, seq, plen, &w)) != 0)
		return rc;
	*w++ = m->status;
	w = put_str(w, &m->message);
	if (m->has_caps)
		put_str(w, &m->caps);
	frame_close(out, plen);
	return 0;
}

int sv_wire_encode_sip(struct sv_buf *out, uint32_t seq, const struct sv_wire_sip *m)
{
	size_t cid = str_size(&m->call_id);
	if (cid == 0 || !addrs_ok(&m->src, &m->dst) || m->direction > 1 || !rest_ok(&m->sip))
		return -EINVAL;
	size_t ipn = ip_size(&m->src);
	if (m->sip.len > SV_WIRE_MAX_PAYLOAD)
		return SV_E_TOOBIG;
	size_t plen = 8 + cid + 1 + 2 * (ipn + 2) + m->sip.len;
	uint8_t *w;
	int rc;
	if ((rc = frame_open(out, SV_WIRE_DATA_SIP, seq, plen, &w)) != 0)
		return rc;
	w = put_u64(w, m->ts_ns);
	w = put_str(w, &m->call_id);
	*w++ = (uint8_t)(m->direction | (ipn == 16 ? SV_WIRE_FLAG_IPV6 : 0));
	w = put_addr(w, &m->src);
	w = put_addr(w, &m->dst);
	put_bytes(w, m->sip.p, m->sip.len);
	frame_close(out, plen);
	return 0;
}

int sv_wire_encode_rtcp(struct sv_buf *out, uint32_t seq, const struct sv_wire_rtcp *m)
{
	size_t cid = str_size(&m->call_id);
	if (cid == 0 || !rest_ok(&m->rtcp))
		return -EINVAL;
	size_t addr = 0;
	if (m->has_addr) {
		if (!addrs_ok(&m->src, &m->dst))
			return -EINVAL;
		addr = 1 + 2 * (ip_size(&m->src) + 2);
	}
	if (m->rtcp.len > SV_WIRE_MAX_PAYLOAD)
		return SV_E_TOOBIG;
	size_t plen = 8 + cid + addr + 4 + m->rtcp.len;
	uint8_t type = m->has_addr ? SV_WIRE_DATA_RTCP_ADDR : SV_WIRE_DATA_RTCP;
	uint8_t *w;
	int rc;
	if ((rc = frame_open(out, type, seq, plen, &w)) != 0)
		return rc;
	w = put_u64(w, m->ts_ns);
	w = put_str(w, &m->call_id);
	if (m->has_addr) {
		uint8_t flags = m->flags & (uint8_t)~SV_WIRE_FLAG_IPV6;
		if (m->src.family == 6)
			flags |= SV_WIRE_FLAG_IPV6;
		*w++ = flags;
		w = put_addr(w, &m->src);
		w = put_addr(w, &m->dst);
	}
	sv_put_be32(w, m->ssrc);
	put_bytes(w + 4, m->rtcp.p, m->rtcp.len);
	frame_close(out, plen);
	return 0;
}

/* ts + u16 Call-ID + remainder: DATA_LOG and DATA_QUALITY. */
static int encode_ts_cid_rest(struct sv_buf *out, uint8_t type, uint32_t seq, uint64_t ts,
                              const struct sv_wire_str *cid, const struct sv_wire_str *rest)
{
	size_t c = str_size(cid);
	if (c == 0 || !rest_ok(rest))
		return -EINVAL;
	if (rest->len > SV_WIRE_MAX_PAYLOAD)
		return SV_E_TOOBIG;
	size_t plen = 8 + c + rest->len;
	uint8_t *w;
	int rc;
	if ((rc = frame_open(out, type, seq, plen, &w)) != 0)
		return rc;
	w = put_u64(w, ts);
	w = put_str(w, cid);
	put_bytes(w, rest->p, rest->len);
	frame_close(out, plen);
	return 0;
}

int sv_wire_encode_log(struct sv_buf *out, uint32_t seq, const struct sv_wire_log *m)
{
	return encode_ts_cid_rest(out, SV_WIRE_DATA_LOG, seq, m->ts_ns, &m->call_id, &m->line);
}

int sv_wire_encode_quality(struct sv_buf *out, uint32_t seq, const struct sv_wire_quality *m)
{
	return encode_ts_cid_rest(out, SV_WIRE_DATA_QUALITY, seq, m->ts_ns, &m->call_id, &m->json);
}

int sv_wire_encode_heartbeat(struct sv_buf *out, uint8_t type, uint32_t seq, uint64_t ts_ns)
{
	uint8_t p[8];
	if (type != SV_WIRE_HEARTBEAT && type != SV_WIRE_HEARTBEAT_ACK)
		return -EINVAL;
	put_u64(p, ts_ns);
	return sv_wire_encode_raw(out, type, seq, p, sizeof(p));
}

int sv_wire_encode_ack(struct sv_buf *out, uint32_t seq, uint32_t acked)
{
	uint8_t p[4];
	sv_put_be32(p, acked);
	return sv_wire_encode_raw(out, SV_WIRE_ACK, seq, p, sizeof(p));
}

int sv_wire_encode_stats(struct sv_buf *out, uint32_t seq, const struct sv_wire_stats *m)
{
	if (!rest_ok(&m->json))
		return -EINVAL;
	if (m->json.len > SV_WIRE_MAX_PAYLOAD)
		return SV_E_TOOBIG;
	size_t plen = 8 + m->json.len;
	uint8_t *w;
	int rc;
	if ((rc = frame_open(out, SV_WIRE_AGENT_STATS, seq, plen, &w)) != 0)
		return rc;
	w = put_u64(w, m->ts_ns);
	put_bytes(w, m->json.p, m->json.len);
	frame_close(out, plen);
	return 0;
}

/* ------------------------------------------------------------ payload decoders */

static int rd_str(struct sv_rd *r, struct sv_wire_str *s)
{
	uint16_t n;
	int rc;
	if ((rc = sv_rd_u16(r, &n)) != 0)
		return rc;
	s->len = n;
	return sv_rd_bytes(r, n, &s->p);
}

static void rd_rest(struct sv_rd *r, struct sv_wire_str *s)
{
	s->len = sv_rd_left(r);
	s->p = r->p + r->off;
	r->off = r->len;
}

static int rd_addr(struct sv_rd *r, uint8_t family, struct sv_wire_addr *a)
{
	const uint8_t *p;
	int rc;
	size_t n = family == 6 ? 16 : 4;
	memset(a, 0, sizeof(*a));
	a->family = family;
	if ((rc = sv_rd_bytes(r, n, &p)) != 0)
		return rc;
	memcpy(a->ip, p, n);
	return sv_rd_u16(r, &a->port);
}

static void frame_reader(const struct sv_wire_frame *f, struct sv_rd *r)
{
	sv_rd_init(r, f->payload, f->payload != NULL ? f->len : 0);
}

/* An optional trailing u16-length string (capability lists). */
static int rd_opt_str(struct sv_rd *r, int *has, struct sv_wire_str *s)
{
	s->p = NULL;
	s->len = 0;
	*has = sv_rd_left(r) > 0;
	return *has ? rd_str(r, s) : 0;
}

int sv_wire_decode_handshake(const struct sv_wire_frame *f, struct sv_wire_handshake *m)
{
	struct sv_rd r;
	int rc;
	if (f->type != SV_WIRE_HANDSHAKE)
		return -EINVAL;
	frame_reader(f, &r);
	if ((rc = rd_str(&r, &m->customer_id)) != 0 || (rc = rd_str(&r, &m->token)) != 0 ||
	    (rc = rd_str(&r, &m->agent_version)) != 0)
		return rc;
	return rd_opt_str(&r, &m->has_caps, &m->caps);
}

int sv_wire_decode_handshake_ack(const struct sv_wire_frame *f, struct sv_wire_handshake_ack *m)
{
	struct sv_rd r;
	int rc;
	if (f->type != SV_WIRE_HANDSHAKE_ACK)
		return -EINVAL;
	frame_reader(f, &r);
	if ((rc = sv_rd_u8(&r, &m->status)) != 0 || (rc = rd_str(&r, &m->message)) != 0)
		return rc;
	return rd_opt_str(&r, &m->has_caps, &m->caps);
}

int sv_wire_decode_sip(const struct sv_wire_frame *f, struct sv_wire_sip *m)
{
	struct sv_rd r;
	uint8_t dir;
	int rc;
	if (f->type != SV_WIRE_DATA_SIP)
		return -EINVAL;
	frame_reader(f, &r);
	if ((rc = sv_rd_u64(&r, &m->ts_ns)) != 0 || (rc = rd_str(&r, &m->call_id)) != 0 ||
	    (rc = sv_rd_u8(&r, &dir)) != 0)
		return rc;
	if ((dir & 0x7f) > SV_WIRE_DIR_OUTBOUND)
		return SV_E_PARSE;
	m->direction = dir & 0x7f;
	uint8_t fam = (dir & SV_WIRE_FLAG_IPV6) ? 6 : 4;
	if ((rc = rd_addr(&r, fam, &m->src)) != 0 || (rc = rd_addr(&r, fam, &m->dst)) != 0)
		return rc;
	rd_rest(&r, &m->sip);
	return 0;
}

int sv_wire_decode_rtcp(const struct sv_wire_frame *f, struct sv_wire_rtcp *m)
{
	struct sv_rd r;
	int rc;
	if (f->type != SV_WIRE_DATA_RTCP && f->type != SV_WIRE_DATA_RTCP_ADDR)
		return -EINVAL;
	frame_reader(f, &r);
	memset(&m->src, 0, sizeof(m->src));
	memset(&m->dst, 0, sizeof(m->dst));
	m->has_addr = f->type == SV_WIRE_DATA_RTCP_ADDR;
	m->flags = 0;
	if ((rc = sv_rd_u64(&r, &m->ts_ns)) != 0 || (rc = rd_str(&r, &m->call_id)) != 0)
		return rc;
	if (m->has_addr) {
		if ((rc = sv_rd_u8(&r, &m->flags)) != 0)
			return rc;
		uint8_t fam = (m->flags & SV_WIRE_FLAG_IPV6) ? 6 : 4;
		if ((rc = rd_addr(&r, fam, &m->src)) != 0 || (rc = rd_addr(&r, fam, &m->dst)) != 0)
			return rc;
	}
	if ((rc = sv_rd_u32(&r, &m->ssrc)) != 0)
		return rc;
	rd_rest(&r, &m->rtcp);
	return 0;
}

static int decode_ts_cid_rest(const struct sv_wire_frame *f, uint64_t *ts, struct sv_wire_str *cid,
                              struct sv_wire_str *rest)
{
	struct sv_rd r;
	int rc;
	frame_reader(f, &r);
	if ((rc = sv_rd_u64(&r, ts)) != 0 || (rc = rd_str(&r, cid)) != 0)
		return rc;
	rd_rest(&r, rest);
	return 0;
}

int sv_wire_decode_log(const struct sv_wire_frame *f, struct sv_wire_log *m)
{
	if (f->type != SV_WIRE_DATA_LOG)
		return -EINVAL;
	return decode_ts_cid_rest(f, &m->ts_ns, &m->call_id, &m->line);
}

int sv_wire_decode_quality(const struct sv_wire_frame *f, struct sv_wire_quality *m)
{
	if (f->type != SV_WIRE_DATA_QUALITY)
		return -EINVAL;
	return decode_ts_cid_rest(f, &m->ts_ns, &m->call_id, &m->json);
}

int sv_wire_decode_heartbeat(const struct sv_wire_frame *f, struct sv_wire_heartbeat *m)
{
	struct sv_rd r;
	if (f->type != SV_WIRE_HEARTBEAT && f->type != SV_WIRE_HEARTBEAT_ACK)
		return -EINVAL;
	frame_reader(f, &r);
	return sv_rd_u64(&r, &m->ts_ns);
}

int sv_wire_decode_ack(const struct sv_wire_frame *f, struct sv_wire_ack *m)
{
	struct sv_rd r;
	if (f->type != SV_WIRE_ACK)
		return -EINVAL;
	frame_reader(f, &r);
	return sv_rd_u32(&r, &m->seq);
}

int sv_wire_decode_stats(const struct sv_wire_frame *f, struct sv_wire_stats *m)
{
	struct sv_rd r;
	int rc;
	if (f->type != SV_WIRE_AGENT_STATS)
		return -EINVAL;
	frame_reader(f, &r);
	if ((rc = sv_rd_u64(&r, &m->ts_ns)) != 0)
		return rc;
	rd_rest(&r, &m->json);
	return 0;
}

/* ------------------------------------------------------------ capabilities */

static const struct {
	const char *name;
	unsigned bit;
} cap_names[] = {
    {"ack", SV_WIRE_CAP_ACK},
    {"rtcp-addr", SV_WIRE_CAP_RTCP_ADDR},
    {"stats", SV_WIRE_CAP_STATS},
};

unsigned sv_wire_caps_parse(const uint8_t *p, size_t len)
{
	unsigned caps = 0;
	size_t i = 0;
	while (i < len) {
		size_t s = i;
		while (i < len && p[i] != ',')
			i++;
		size_t e = i++; /* skip the comma */
		while (s < e && (p[s] == ' ' || p[s] == '\t'))
			s++;
		while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		for (size_t k = 0; k < sizeof(cap_names) / sizeof(cap_names[0]); k++) {
			size_t n = strlen(cap_names[k].name);
			if (e - s == n && memcmp(p + s, cap_names[k].name, n) == 0)
				caps |= cap_names[k].bit;
		}
	}
	return caps;
}

int sv_wire_caps_format(unsigned caps, struct sv_buf *out)
{
	size_t start = out->len;
	int rc = sv_buf_reserve(out, 0);
	for (size_t k = 0; rc == 0 && k < sizeof(cap_names) / sizeof(cap_names[0]); k++) {
		if (!(caps & cap_names[k].bit))
			continue;
		if (out->len > start)
			rc = sv_buf_put_u8(out, ',');
		if (rc == 0)
			rc = sv_buf_append_str(out, cap_names[k].name);
	}
	if (rc != 0 && out->data != NULL) {
		out->len = start;
		out->data[start] = '\0';
	}
	return rc;
}

/* ------------------------------------------------------------ sequences */

int sv_wire_seq_le(uint32_t a, uint32_t b)
{
	return (uint32_t)(b - a) < 0x80000000u;
}

uint32_t sv_wire_seq_next(uint32_t s)
{
	s++;
	return s == 0 ? 1 : s;
}

/* ------------------------------------------------------------ streaming decoder */

/* The assembly buffer starts this big and is freed between frames when a
 * large frame made it grow beyond SHRINK_ABOVE. */
#define BUF_MIN      4096
#define SHRINK_ABOVE (64 * 1024)

void sv_wire_decoder_init(struct sv_wire_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void sv_wire_decoder_release(struct sv_wire_decoder *d)
{
	if (d == NULL)
		return;
	free(d->buf);
	sv_wire_decoder_init(d);
}

int sv_wire_decoder_feed(struct sv_wire_decoder *d, const void *data, size_t len)
{
	if (d->err != 0)
		return d->err;
	if (d->in_off < d->in_len)
		return -EBUSY;
	if (len > 0 && data == NULL)
		return -EINVAL;
	d->in = data;
	d->in_len = len;
	d->in_off = 0;
	return 0;
}

static int fail(struct sv_wire_decoder *d, int rc, const uint8_t *hdr, size_t n)
{
	d->err = rc;
	switch (rc) {
	case SV_E_PARSE:
		snprintf(d->fault, sizeof(d->fault),
		         "bad magic 0x%02x%02x at stream offset %llu (expected 0x5356)", hdr[0],
		         n >= 2 ? hdr[1] : 0, (unsigned long long)d->bytes);
		break;
	case SV_E_UNSUPP:
		snprintf(d->fault, sizeof(d->fault), "unsupported protocol version %u", hdr[2]);
		break;
	case SV_E_TOOBIG:
		snprintf(d->fault, sizeof(d->fault),
		         "%s frame with payload length %lu over the 1 MiB limit",
		         sv_wire_type_name(hdr[3]), (unsigned long)sv_be32(hdr + 4));
		break;
	default:
		snprintf(d->fault, sizeof(d->fault), "%s", sv_strerror(rc));
		break;
	}
	return rc;
}

static int grow(struct sv_wire_decoder *d, size_t need)
{
	if (need <= d->cap)
		return 0;
	size_t cap = d->cap ? d->cap : BUF_MIN;
	while (cap < need)
		cap *= 2;
	if (cap > SV_WIRE_HDR_LEN + SV_WIRE_MAX_PAYLOAD)
		cap = SV_WIRE_HDR_LEN + SV_WIRE_MAX_PAYLOAD;
	uint8_t *p = realloc(d->buf, cap);
	if (p == NULL)
		return -ENOMEM;
	d->buf = p;
	d->cap = cap;
	return 0;
}

/* Moves up to `upto - have` bytes of the fed chunk into the assembly buffer. */
static void take_input(struct sv_wire_decoder *d, size_t upto)
{
	size_t n = d->in_len - d->in_off;
	if (n > upto - d->have)
		n = upto - d->have;
	if (n == 0)
		return;
	memcpy(d->buf + d->have, d->in + d->in_off, n);
	d->have += n;
	d->in_off += n;
}

/* Continues a frame that began in an earlier chunk. */
static int assemble(struct sv_wire_decoder *d, struct sv_wire_frame *f)
{
	int rc;
	if (d->want == 0) {
		take_input(d, SV_WIRE_HDR_LEN);
		if ((rc = check_prefix(d->buf, d->have)) != 0)
			return fail(d, rc, d->buf, d->have);
		if (d->have < SV_WIRE_HDR_LEN)
			return 0;
		if ((rc = sv_wire_header_parse(d->buf, f)) != 0)
			return fail(d, rc, d->buf, d->have);
		d->want = SV_WIRE_HDR_LEN + (size_t)f->len;
		if ((rc = grow(d, d->want)) != 0)
			return fail(d, rc, d->buf, d->have);
	}
	take_input(d, d->want);
	if (d->have < d->want)
		return 0;
	sv_wire_header_parse(d->buf, f); /* checked above */
	f->payload = d->buf + SV_WIRE_HDR_LEN;
	d->frames++;
	d->bytes += d->want;
	d->have = 0;
	d->want = 0;
	return 1;
}

int sv_wire_decoder_next(struct sv_wire_decoder *d, struct sv_wire_frame *f)
{
	int rc;
	if (d->err != 0)
		return d->err;
	if (d->have > 0)
		return assemble(d, f);
	/* No frame in progress: the buffer is free (the frame returned by the
	 * previous call is no longer valid), so drop it if it grew large. */
	if (d->cap > SHRINK_ABOVE) {
		free(d->buf);
		d->buf = NULL;
		d->cap = 0;
	}
	size_t left = d->in_len - d->in_off;
	if (left == 0) {
		d->in = NULL;
		d->in_len = d->in_off = 0;
		return 0;
	}
	const uint8_t *p = d->in + d->in_off;
	if (left >= SV_WIRE_HDR_LEN) {
		if ((rc = sv_wire_header_parse(p, f)) != 0)
			return fail(d, rc, p, left);
		size_t total = SV_WIRE_HDR_LEN + (size_t)f->len;
		if (left >= total) {
			f->payload = p + SV_WIRE_HDR_LEN;
			d->in_off += total;
			d->frames++;
			d->bytes += total;
			return 1;
		}
		d->want = total;
	} else if ((rc = check_prefix(p, left)) != 0) {
		return fail(d, rc, p, left);
	}
	/* A partial frame ends the chunk: keep it. */
	if ((rc = grow(d, d->want > 0 ? d->want : SV_WIRE_HDR_LEN)) != 0)
		return fail(d, rc, p, left);
	memcpy(d->buf, p, left);
	d->have = left;
	d->in_off = d->in_len;
	return 0;
}

size_t sv_wire_decoder_pending(const struct sv_wire_decoder *d)
{
	return d->have + (d->in_len - d->in_off);
}

const char *sv_wire_decoder_fault(const struct sv_wire_decoder *d)
{
	return d->fault;
}
