#include "proto/packet.h"

#include "base/buf.h"
#include "base/errors.h"
#include "base/gz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_VLAN_TAGS   8  /* more stacked tags than this is garbage */
#define MAX_TUNNEL      4  /* IP-in-IP nesting followed */
#define MAX_EXT_HEADERS 16 /* IPv6 extension headers followed */
#define GZ_MAX          ((size_t)1 << 30)

static int decode_ip(struct sv_packet *out, const uint8_t *p, size_t len, int want_version,
                     int depth);

/* Transport header at q: qlen captured bytes, decl bytes per the IP header. */
static int decode_transport(struct sv_packet *out, uint8_t proto, const uint8_t *q, size_t qlen,
                            size_t decl)
{
	size_t hl;

	out->proto = proto;
	if (qlen < decl)
		out->flags |= SV_PACKET_F_TRUNC;
	switch (proto) {
	case SV_PACKET_PROTO_UDP: {
		if (qlen < 8)
			return SV_E_TRUNC;
		size_t ulen = sv_be16(q + 4);
		if (ulen < 8 || ulen > decl)
			return SV_E_PARSE;
		out->sport = sv_be16(q);
		out->dport = sv_be16(q + 2);
		out->l4_len = ulen - 8;
		out->payload = q + 8;
		out->payload_len = qlen - 8 < ulen - 8 ? qlen - 8 : ulen - 8;
		out->flags &= ~(unsigned)SV_PACKET_F_TRUNC;
		if (out->payload_len < out->l4_len)
			out->flags |= SV_PACKET_F_TRUNC;
		return 0;
	}
	case SV_PACKET_PROTO_TCP:
		if (qlen < 20)
			return SV_E_TRUNC;
		hl = (size_t)(q[12] >> 4) * 4;
		if (hl < 20 || hl > decl)
			return SV_E_PARSE;
		if (qlen < hl)
			return SV_E_TRUNC;
		out->sport = sv_be16(q);
		out->dport = sv_be16(q + 2);
		out->tcp_seq = sv_be32(q + 4);
		out->tcp_ack = sv_be32(q + 8);
		out->tcp_flags = q[13];
		out->payload = q + hl;
		out->payload_len = qlen - hl;
		out->l4_len = decl - hl;
		return 0;
	case SV_PACKET_PROTO_SCTP:
		if (qlen < 12)
			return SV_E_TRUNC;
		if (decl < 12)
			return SV_E_PARSE;
		out->sport = sv_be16(q);
		out->dport = sv_be16(q + 2);
		out->payload = q + 12;
		out->payload_len = qlen - 12;
		out->l4_len = decl - 12;
		return 0;
	default:
		out->payload = q;
		out->payload_len = qlen;
		out->l4_len = decl;
		return 0;
	}
}

/* The IP payload: a tunnelled packet or a transport segment. */
static int decode_next(struct sv_packet *out, uint8_t proto, const uint8_t *q, size_t qlen,
                       size_t decl, int depth)
{
	if (proto == 4 || proto == 41) {
		if (depth >= MAX_TUNNEL)
			return SV_E_UNSUPP;
		out->flags |= SV_PACKET_F_TUNNEL;
		out->flags &= ~(unsigned)SV_PACKET_F_TRUNC;
		if (qlen < decl)
			out->flags |= SV_PACKET_F_TRUNC;
		return decode_ip(out, q, qlen, proto == 4 ? 4 : 6, depth + 1);
	}
	return decode_transport(out, proto, q, qlen, decl);
}

static void set_fragment(struct sv_packet *out, uint8_t proto, const uint8_t *q, size_t qlen,
                         size_t decl)
{
	out->flags |= SV_PACKET_F_FRAG;
	out->proto = proto;
	out->payload = q;
	out->payload_len = qlen;
	out->l4_len = decl;
	if (qlen < decl)
		out->flags |= SV_PACKET_F_TRUNC;
}

static int decode_ipv4(struct sv_packet *out, const uint8_t *p, size_t len, int depth)
{
	if (len < 20)
		return SV_E_TRUNC;
	size_t ihl = (size_t)(p[0] & 0x0f) * 4;
	if (ihl < 20)
		return SV_E_PARSE;
	if (len < ihl)
		return SV_E_TRUNC;
	size_t tot = sv_be16(p + 2);
	if (tot == 0) /* segmentation offload on the capturing host */
		tot = len;
	if (tot < ihl)
		return SV_E_PARSE;
	out->family = AF_INET;
	memset(out->src, 0, sizeof(out->src));
	memset(out->dst, 0, sizeof(out->dst));
	memcpy(out->src, p + 12, 4);
	memcpy(out->dst, p + 16, 4);
	out->ttl = p[8];
	out->proto = p[9];

	size_t decl = tot - ihl;
	size_t avail = len - ihl;
	size_t qlen = avail < decl ? avail : decl; /* drops link-layer padding */
	uint16_t fo = sv_be16(p + 6);
	if ((fo & 0x2000) != 0 || (fo & 0x1fff) != 0) {
		out->frag_id = sv_be16(p + 4);
		out->frag_offset = (uint32_t)(fo & 0x1fff) * 8;
		out->frag_more = (fo & 0x2000) != 0;
		set_fragment(out, p[9], p + ihl, qlen, decl);
		return 0;
	}
	return decode_next(out, p[9], p + ihl, qlen, decl, depth);
}

static int decode_ipv6(struct sv_packet *out, const uint8_t *p, size_t len, int depth)
{
	if (len < 40)
		return SV_E_TRUNC;
	size_t decl = sv_be16(p + 4);
	size_t avail = len - 40;
	if (decl == 0) /* jumbogram or offload: trust the capture */
		decl = avail;
	size_t qlen = avail < decl ? avail : decl;
	out->family = AF_INET6;
	memcpy(out->src, p + 8, 16);
	memcpy(out->dst, p + 24, 16);
	out->ttl = p[7];

	uint8_t nxt = p[6];
	const uint8_t *q = p + 40;
	for (int i = 0; i < MAX_EXT_HEADERS; i++) {
		size_t hl;
		out->proto = nxt;
		switch (nxt) {
		case 0:  /* hop-by-hop options */
		case 43: /* routing */
		case 60: /* destination options */
		case 51: /* authentication header */
			if (qlen < 2)
				return SV_E_TRUNC;
			hl = nxt == 51 ? ((size_t)q[1] + 2) * 4 : ((size_t)q[1] + 1) * 8;
			break;
		case 44: /* fragment */
			hl = 8;
			break;
		case 59: /* no next header */
			out->payload = q + qlen;
			out->payload_len = 0;
			out->l4_len = 0;
			return 0;
		default:
			return decode_next(out, nxt, q, qlen, decl, depth);
		}
		if (hl > decl)
			return SV_E_PARSE;
		if (hl > qlen)
			return SV_E_TRUNC;
		uint8_t this = nxt;
		nxt = q[0];
		if (this == 44) {
			uint16_t fo = sv_be16(q + 2);
			if ((fo & 0xfff8) != 0 || (fo & 1) != 0) {
				out->frag_id = sv_be32(q + 4);
				out->frag_offset = fo & 0xfff8;
				out->frag_more = fo & 1;
				set_fragment(out, nxt, q + 8, qlen - 8, decl - 8);
				return 0;
			}
			/* an atomic fragment: the whole datagram follows */
		}
		q += hl;
		qlen -= hl;
		decl -= hl;
	}
	return SV_E_UNSUPP;
}

static int decode_ip(struct sv_packet *out, const uint8_t *p, size_t len, int want_version,
                     int depth)
{
	if (len < 1)
		return SV_E_TRUNC;
	int v = p[0] >> 4;
	if (want_version != 0 && v != want_version)
		return SV_E_PARSE;
	if (v == 4)
		return decode_ipv4(out, p, len, depth);
	if (v == 6)
		return decode_ipv6(out, p, len, depth);
	return SV_E_UNSUPP;
}

static int decode_ethertype(struct sv_packet *out, uint16_t type, const uint8_t *p, size_t len)
{
	int tags = 0;
	while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
		if (tags >= MAX_VLAN_TAGS)
			return SV_E_UNSUPP;
		if (len < 4)
			return SV_E_TRUNC;
		if (out->vlan_count < 2)
			out->vlan[out->vlan_count] = sv_be16(p) & 0x0fff;
		out->vlan_count++;
		tags++;
		type = sv_be16(p + 2);
		p += 4;
		len -= 4;
	}
	if (type == 0x8864) { /* PPPoE session: 6-byte header, then a PPP protocol */
		if (len < 8)
			return SV_E_TRUNC;
		uint16_t ppp = sv_be16(p + 6);
		if (ppp == 0x0021)
			return decode_ip(out, p + 8, len - 8, 4, 0);
		if (ppp == 0x0057)
			return decode_ip(out, p + 8, len - 8, 6, 0);
		return SV_E_UNSUPP;
	}
	if (type == 0x8847) { /* MPLS unicast: labels up to bottom of stack */
		for (int i = 0; i < MAX_VLAN_TAGS; i++) {
			if (len < 4)
				return SV_E_TRUNC;
			int bottom = (p[2] & 0x01) != 0;
			p += 4;
			len -= 4;
			if (bottom)
				return decode_ip(out, p, len, 0, 0);
		}
		return SV_E_UNSUPP;
	}
	if (type == 0x0800)
		return decode_ip(out, p, len, 4, 0);
	if (type == 0x86dd)
		return decode_ip(out, p, len, 6, 0);
	return SV_E_UNSUPP;
}

/* The address family field of DLT_NULL / DLT_LOOP. */
static int decode_loopback(struct sv_packet *out, uint32_t fam, const uint8_t *p, size_t len)
{
	if (fam == 2)
		return decode_ip(out, p, len, 4, 0);
	/* AF_INET6 differs by OS: Linux 10, BSDs 24, FreeBSD 28, Darwin 30 */
	if (fam == 10 || fam == 24 || fam == 28 || fam == 30)
		return decode_ip(out, p, len, 6, 0);
	return SV_E_UNSUPP;
}

int sv_packet_decode(int linktype, const uint8_t *frame, size_t caplen, struct sv_packet *out)
{
	memset(out, 0, sizeof(*out));
	out->frame = frame;
	out->caplen = caplen;
	out->wirelen = caplen;
	out->linktype = linktype;
	if (frame == NULL && caplen > 0)
		return -EINVAL;

	switch (linktype) {
	case SV_PACKET_LINK_ETHERNET: {
		if (caplen < 14)
			return SV_E_TRUNC;
		uint16_t type = sv_be16(frame + 12);
		if (type < 0x0600) /* 802.3 length: LLC/SNAP, not IP */
			return SV_E_UNSUPP;
		return decode_ethertype(out, type, frame + 14, caplen - 14);
	}
	case SV_PACKET_LINK_SLL:
		if (caplen < 16)
			return SV_E_TRUNC;
		return decode_ethertype(out, sv_be16(frame + 14), frame + 16, caplen - 16);
	case SV_PACKET_LINK_SLL2:
		if (caplen < 20)
			return SV_E_TRUNC;
		return decode_ethertype(out, sv_be16(frame), frame + 20, caplen - 20);
	case SV_PACKET_LINK_NULL: {
		if (caplen < 4)
			return SV_E_TRUNC;
		/* host byte order of the capturing machine: take the small one */
		uint32_t le = (uint32_t)frame[0] | (uint32_t)frame[1] << 8 |
		              (uint32_t)frame[2] << 16 | (uint32_t)frame[3] << 24;
		uint32_t be = sv_be32(frame);
		return decode_loopback(out, le < be ? le : be, frame + 4, caplen - 4);
	}
	case SV_PACKET_LINK_LOOP:
		if (caplen < 4)
			return SV_E_TRUNC;
		return decode_loopback(out, sv_be32(frame), frame + 4, caplen - 4);
	case SV_PACKET_LINK_RAW12:
	case SV_PACKET_LINK_RAW14:
	case SV_PACKET_LINK_RAW:
		return decode_ip(out, frame, caplen, 0, 0);
	case SV_PACKET_LINK_IPV4:
		return decode_ip(out, frame, caplen, 4, 0);
	case SV_PACKET_LINK_IPV6:
		return decode_ip(out, frame, caplen, 6, 0);
	default:
		return SV_E_UNSUPP;
	}
}

int sv_packet_decode_l4(struct sv_packet *p, uint8_t proto, const uint8_t *data, size_t len)
{
	if (data == NULL && len > 0)
		return -EINVAL;
	p->flags &= ~(unsigned)(SV_PACKET_F_FRAG | SV_PACKET_F_TRUNC);
	p->sport = p->dport = 0;
	p->tcp_seq = p->tcp_ack = 0;
	p->tcp_flags = 0;
	p->payload = NULL;
	p->payload_len = p->l4_len = 0;
	return decode_transport(p, proto, data, len, len);
}

char *sv_packet_addr_str(int family, const uint8_t addr[16], uint16_t port, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	if (family == AF_INET && inet_ntop(AF_INET, addr, ip, sizeof(ip)) != NULL)
		snprintf(buf, len, "%s:%u", ip, (unsigned)port);
	else if (family == AF_INET6 && inet_ntop(AF_INET6, addr, ip, sizeof(ip)) != NULL)
		snprintf(buf, len, "[%s]:%u", ip, (unsigned)port);
	else
		snprintf(buf, len, "?");
	return buf;
}

/* ---------------------------------------------------------------- reader */

struct sv_packet_reader {
	pcap_t *pc;
	struct sv_buf mem; /* the decompressed capture, for .gz files */
	int linktype;
	char err[PCAP_ERRBUF_SIZE];
};

static void set_err(char *err, size_t errlen, const char *path, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "cannot read %s: %s", path, why);
}

int sv_packet_reader_open(const char *path, struct sv_packet_reader **out, char *err, size_t errlen)
{
	struct sv_packet_reader *r = NULL;
	FILE *f = NULL;
	uint8_t magic[2] = {0, 0};
	int rc;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rc = -ENOMEM;
		set_err(err, errlen, path, sv_strerror(rc));
		goto out;
	}
	sv_buf_init(&r->mem);
	if ((f = fopen(path, "rb")) == NULL) {
		rc = -errno;
		set_err(err, errlen, path, sv_strerror(rc));
		goto out;
	}
	size_t n = fread(magic, 1, 2, f);
	if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		fclose(f);
		f = NULL;
		if ((rc = sv_gz_read_file(path, GZ_MAX, &r->mem)) != 0) {
			set_err(err, errlen, path, sv_strerror(rc));
			goto out;
		}
		if (r->mem.len == 0 || (f = fmemopen(r->mem.data, r->mem.len, "rb")) == NULL) {
			rc = SV_E_PARSE;
			set_err(err, errlen, path, "empty capture");
			goto out;
		}
	} else {
		rewind(f);
	}
	r->pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, r->err);
	if (r->pc == NULL) {
		rc = SV_E_PARSE;
		set_err(err, errlen, path, r->err);
		goto out;
	}
	f = NULL; /* transferred: pcap_close() closes it */
	r->linktype = pcap_datalink(r->pc);
	*out = r;
	r = NULL;
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	sv_packet_reader_close(r);
	return rc;
}

int sv_packet_reader_next(struct sv_packet_reader *r, struct sv_packet *out, uint64_t *ts_ns)
{
	struct pcap_pkthdr *h;
	const u_char *d;

	int rc = pcap_next_ex(r->pc, &h, &d);
	if (rc == PCAP_ERROR_BREAK)
		return 0;
	if (rc != 1) {
		snprintf(r->err, sizeof(r->err), "%s", pcap_geterr(r->pc));
		return SV_E_PARSE;
	}
	int drc = sv_packet_decode(r->linktype, d, h->caplen, out);
	out->decode_rc = drc;
	out->wirelen = h->len;
	/* with nanosecond precision libpcap keeps nanoseconds in tv_usec */
	/* classic pcap seconds are unsigned 32-bit; libpcap sign-extends them */
	uint64_t sec =
	    h->ts.tv_sec >= 0 ? (uint64_t)h->ts.tv_sec : (uint64_t)(uint32_t)(int64_t)h->ts.tv_sec;
	uint64_t ns = h->ts.tv_usec < 0 ? 0 : (uint64_t)h->ts.tv_usec;
	*ts_ns = sec * 1000000000u + ns;
	return 1;
}

int sv_packet_reader_linktype(const struct sv_packet_reader *r)
{
	return r->linktype;
}

const char *sv_packet_reader_error(const struct sv_packet_reader *r)
{
	return r->err;
}

void sv_packet_reader_close(struct sv_packet_reader *r)
{
	if (r == NULL)
		return;
	if (r->pc != NULL)
		pcap_close(r->pc);
	sv_buf_release(&r->mem);
	free(r);
}
