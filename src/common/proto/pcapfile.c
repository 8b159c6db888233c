#include "proto/pcapfile.h"

#include "base/errors.h"
#include "base/gz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PCAP_MAGIC_NS  0xa1b23c4du
#define LINKTYPE_RAW   101
#define PCAP_SNAPLEN   262144
#define REC_HDR_LEN    16
#define IP4_HDR_LEN    20
#define IP6_HDR_LEN    40
#define UDP_HDR_LEN    8
#define TCP_HDR_LEN    20
#define IP_MAX_TOTAL   65535
#define TCP_WINDOW     65535
#define TCP_ISN_CLIENT 0x1000u /* initial sequence numbers of a new stream */
#define TCP_ISN_SERVER 0x8000u

struct sv_pcapw_flow {
	int family;
	uint8_t a[16], b[16];
	uint16_t pa, pb;
	uint32_t next_a; /* next sequence number a -> b */
	uint32_t next_b; /* next sequence number b -> a */
};

void sv_pcapw_init(struct sv_pcapw *w)
{
	sv_buf_init(&w->body);
	w->count = 0;
	w->segment = SV_PCAPW_MAX_SEGMENT;
	w->ip_id = 1;
	w->flows = NULL;
	w->nflows = 0;
	w->flows_cap = 0;
}

void sv_pcapw_release(struct sv_pcapw *w)
{
	if (w == NULL)
		return;
	sv_buf_release(&w->body);
	free(w->flows);
	sv_pcapw_init(w);
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* One's-complement sum of p[0..len) added to sum (len even except at the end). */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;
	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < len)
		sum += (uint32_t)p[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Finds (or adds) the TCP stream of rec; *dir is 0 when rec goes a -> b. */
static int flow_get(struct sv_pcapw *w, const struct sv_pcap_rec *rec, struct sv_pcapw_flow **fp,
                    int *dir)
{
	size_t al = addr_len(rec->family);
	for (size_t i = 0; i < w->nflows; i++) {
		struct sv_pcapw_flow *f = &w->flows[i];
		if (f->family != rec->family)
			continue;
		if (f->pa == rec->sport && f->pb == rec->dport && memcmp(f->a, rec->src, al) == 0 &&
		    memcmp(f->b, rec->dst, al) == 0) {
			*fp = f;
			*dir = 0;
			return 0;
		}
		if (f->pa == rec->dport && f->pb == rec->sport && memcmp(f->a, rec->dst, al) == 0 &&
		    memcmp(f->b, rec->src, al) == 0) {
			*fp = f;
			*dir = 1;
			return 0;
		}
	}
	struct sv_pcapw_flow *nf = sv_grow(w->flows, w->nflows, &w->flows_cap, sizeof(*nf), 4);
	if (nf == NULL)
		return -ENOMEM;
	w->flows = nf;
	struct sv_pcapw_flow *f = &w->flows[w->nflows++];
	memset(f, 0, sizeof(*f));
	f->family = rec->family;
	memcpy(f->a, rec->src, al);
	memcpy(f->b, rec->dst, al);
	f->pa = rec->sport;
	f->pb = rec->dport;
	f->next_a = TCP_ISN_CLIENT;
	f->next_b = TCP_ISN_SERVER;
	*fp = f;
	*dir = 0;
	return 0;
}

/*
 * Writes one record: IP header, the L4 header l4 (its checksum field at
 * csum_off is filled in here) and data. Room must have been reserved.
 */
static void emit(struct sv_pcapw *w, const struct sv_pcap_rec *rec, uint8_t proto, uint8_t *l4,
                 size_t l4len, size_t csum_off, const uint8_t *data, size_t dlen)
{
	int v4 = rec->family == AF_INET;
	size_t iphl = v4 ? IP4_HDR_LEN : IP6_HDR_LEN;
	size_t seglen = l4len + dlen;
	size_t pktlen = iphl + seglen;
	uint8_t *p = w->body.data + w->body.len;

	/* record header: the writer's byte order is big-endian throughout */
	sv_put_be32(p, (uint32_t)(rec->ts_ns / 1000000000u));
	sv_put_be32(p + 4, (uint32_t)(rec->ts_ns % 1000000000u));
	sv_put_be32(p + 8, (uint32_t)pktlen);
	sv_put_be32(p + 12, (uint32_t)pktlen);
	p += REC_HDR_LEN;

	uint32_t sum;
	memset(p, 0, iphl);
	if (v4) {
		p[0] = 0x45;
		sv_put_be16(p + 2, (uint16_t)pktlen);
		sv_put_be16(p + 4, w->ip_id++);
		sv_put_be16(p + 6, 0x4000); /* DF: never fragmented */
		p[8] = 64;
		p[9] = proto;
		memcpy(p + 12, rec->src, 4);
		memcpy(p + 16, rec->dst, 4);
		sv_put_be16(p + 10, csum_fold(csum_add(0, p, IP4_HDR_LEN)));
		sum = csum_add(0, p + 12, 8);
	} else {
		p[0] = 0x60;
		sv_put_be16(p + 4, (uint16_t)seglen);
		p[6] = proto;
		p[7] = 64;
		memcpy(p + 8, rec->src, 16);
		memcpy(p + 24, rec->dst, 16);
		sum = csum_add(0, p + 8, 32);
	}
	/* rest of the pseudo-header: protocol and L4 length */
	uint8_t ph[8] = {0, 0, 0, 0, 0, 0, 0, proto};
	sv_put_be32(ph, (uint32_t)seglen);
	sum = csum_add(sum, ph, 8);
	p += iphl;

	l4[csum_off] = l4[csum_off + 1] = 0;
	sum = csum_add(sum, l4, l4len);
	sum = csum_add(sum, data, dlen);
	uint16_t c = csum_fold(sum);
	if (c == 0 && proto == 17)
		c = 0xffff; /* zero means "no checksum" in UDP */
	sv_put_be16(l4 + csum_off, c);
	memcpy(p, l4, l4len);
	if (dlen > 0)
		memcpy(p + l4len, data, dlen);
	w->body.len += REC_HDR_LEN + pktlen;
	w->count++;
}

static int add_udp(struct sv_pcapw *w, const struct sv_pcap_rec *rec)
{
	size_t iphl = rec->family == AF_INET ? IP4_HDR_LEN : 0;
	if (rec->len > IP_MAX_TOTAL - iphl - UDP_HDR_LEN)
		return SV_E_TOOBIG;
	size_t need = REC_HDR_LEN + IP6_HDR_LEN + UDP_HDR_LEN + rec->len;
	int rc = sv_buf_reserve(&w->body, need);
	if (rc != 0)
		return rc;
	uint8_t h[UDP_HDR_LEN];
	sv_put_be16(h, rec->sport);
	sv_put_be16(h + 2, rec->dport);
	sv_put_be16(h + 4, (uint16_t)(UDP_HDR_LEN + rec->len));
	emit(w, rec, 17, h, sizeof(h), 6, rec->payload, rec->len);
	return 0;
}

static int add_tcp(struct sv_pcapw *w, const struct sv_pcap_rec *rec)
{
	struct sv_pcapw_flow *f;
	int dir, rc;
	size_t seg = w->segment;

	if (seg == 0 || seg > SV_PCAPW_MAX_SEGMENT)
		return -EINVAL;
	size_t nseg = rec->len == 0 ? 1 : (rec->len + seg - 1) / seg;
	if (nseg > (SIZE_MAX - rec->len) / (REC_HDR_LEN + IP6_HDR_LEN + TCP_HDR_LEN))
		return -ENOMEM;
	size_t need = nseg * (REC_HDR_LEN + IP6_HDR_LEN + TCP_HDR_LEN) + rec->len;
	if ((rc = flow_get(w, rec, &f, &dir)) != 0)
		return rc;
	if ((rc = sv_buf_reserve(&w->body, need)) != 0)
		return rc;

	uint32_t *mine = dir == 0 ? &f->next_a : &f->next_b;
	uint32_t peer = dir == 0 ? f->next_b : f->next_a;
	size_t off = 0;
	do {
		size_t n = rec->len - off < seg ? rec->len - off : seg;
		uint8_t h[TCP_HDR_LEN];
		memset(h, 0, sizeof(h));
		sv_put_be16(h, rec->sport);
		sv_put_be16(h + 2, rec->dport);
		sv_put_be32(h + 4, *mine);
		sv_put_be32(h + 8, peer);
		h[12] = (TCP_HDR_LEN / 4) << 4;
		h[13] = 0x18; /* PSH | ACK */
		sv_put_be16(h + 14, TCP_WINDOW);
		emit(w, rec, 6, h, sizeof(h), 16, n > 0 ? rec->payload + off : NULL, n);
		*mine += (uint32_t)n;
		off += n;
	} while (off < rec->len);
	return 0;
}

int sv_pcapw_add(struct sv_pcapw *w, const struct sv_pcap_rec *rec)
{
	if (rec->family != AF_INET && rec->family != AF_INET6)
		return -EINVAL;
	if (rec->payload == NULL && rec->len > 0)
		return -EINVAL;
	switch (rec->transport) {
	case SV_PCAP_UDP:
		return add_udp(w, rec);
	case SV_PCAP_TCP:
	case SV_PCAP_TLS:
	case SV_PCAP_SCTP:
	case SV_PCAP_WS:
	case SV_PCAP_WSS:
		return add_tcp(w, rec);
	default:
		return -EINVAL;
	}
}

int sv_pcapw_finish(struct sv_pcapw *w, struct sv_buf *out)
{
	uint8_t h[24];
	int rc;

	sv_put_be32(h, PCAP_MAGIC_NS);
	sv_put_be16(h + 4, 2); /* version 2.4 */
	sv_put_be16(h + 6, 4);
	sv_put_be32(h + 8, 0);  /* thiszone */
	sv_put_be32(h + 12, 0); /* sigfigs */
	sv_put_be32(h + 16, PCAP_SNAPLEN);
	sv_put_be32(h + 20, LINKTYPE_RAW);
	if ((rc = sv_buf_reserve(out, sizeof(h) + w->body.len)) != 0)
		return rc;
	sv_buf_append(out, h, sizeof(h));
	return sv_buf_append(out, w->body.data, w->body.len);
}

int sv_pcapw_finish_gz(struct sv_pcapw *w, struct sv_buf *out)
{
	struct sv_buf plain;
	int rc;

	sv_buf_init(&plain);
	if ((rc = sv_pcapw_finish(w, &plain)) == 0)
		rc = sv_gz_compress(plain.data, plain.len, out);
	sv_buf_release(&plain);
	return rc;
}
