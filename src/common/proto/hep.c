#include "proto/hep.h"

#include "base/errors.h"
#include "base/gz.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define CHUNK_HDR   6
#define MAX_GENERIC 0x0013

int sv_hep_frame_len(const uint8_t *data, size_t avail, size_t *len)
{
	if (avail >= 1 && (data[0] == 1 || data[0] == 2))
		return SV_E_UNSUPP;
	size_t cmp = avail < 4 ? avail : 4;
	if (memcmp(data, "HEP3", cmp) != 0)
		return SV_E_PARSE;
	if (avail < SV_HEP_HDR_LEN)
		return SV_E_AGAIN;
	size_t total = sv_be16(data + 4);
	if (total < SV_HEP_HDR_LEN)
		return SV_E_PARSE;
	*len = total;
	return 0;
}

/* Fixed-size generic chunks: value length by type (0 = variable). */
static size_t fixed_len(uint16_t type)
{
	switch (type) {
	case SV_HEP_IP_FAMILY:
	case SV_HEP_IP_PROTO:
	case SV_HEP_PROTO_TYPE:
		return 1;
	case SV_HEP_IPV4_SRC:
	case SV_HEP_IPV4_DST:
		return 4;
	case SV_HEP_IPV6_SRC:
	case SV_HEP_IPV6_DST:
		return 16;
	case SV_HEP_SRC_PORT:
	case SV_HEP_DST_PORT:
	case SV_HEP_KEEPALIVE:
	case SV_HEP_VLAN:
		return 2;
	case SV_HEP_TS_SEC:
	case SV_HEP_TS_USEC:
	case SV_HEP_CAPTURE_ID:
		return 4;
	default:
		return 0;
	}
}

int sv_hep_parse(const uint8_t *data, size_t len, struct sv_hep *out, struct sv_buf *scratch)
{
	memset(out, 0, sizeof(*out));
	if (data == NULL || len == 0)
		return SV_E_TRUNC;
	size_t total;
	int rc = sv_hep_frame_len(data, len, &total);
	if (rc == SV_E_AGAIN)
		return SV_E_TRUNC;
	if (rc != 0)
		return rc;
	if (total > len)
		return SV_E_TRUNC;
	out->total_len = (uint16_t)total;

	const uint8_t *zp = NULL;
	size_t zlen = 0;
	size_t off = SV_HEP_HDR_LEN;
	while (off < total) {
		if (total - off < CHUNK_HDR)
			return SV_E_TRUNC;
		const uint8_t *c = data + off;
		uint16_t vendor = sv_be16(c);
		uint16_t type = sv_be16(c + 2);
		size_t clen = sv_be16(c + 4);
		if (clen < CHUNK_HDR)
			return SV_E_PARSE;
		if (clen > total - off)
			return SV_E_TRUNC;
		const uint8_t *v = c + CHUNK_HDR;
		size_t vlen = clen - CHUNK_HDR;
		off += clen;
		if (vendor != 0 || type == 0 || type > MAX_GENERIC) {
			out->skipped_chunks++;
			continue;
		}
		size_t want = fixed_len(type);
		if (want != 0 && vlen != want)
			return SV_E_PARSE;
		out->chunks |= SV_HEP_HAS(type);
		switch (type) {
		case SV_HEP_IP_FAMILY:
			out->ip_family = v[0];
			break;
		case SV_HEP_IP_PROTO:
			out->ip_proto = v[0];
			break;
		case SV_HEP_IPV4_SRC:
		case SV_HEP_IPV6_SRC:
			memcpy(out->src_ip, v, vlen);
			out->addr_len = (uint8_t)vlen;
			break;
		case SV_HEP_IPV4_DST:
		case SV_HEP_IPV6_DST:
			memcpy(out->dst_ip, v, vlen);
			out->addr_len = (uint8_t)vlen;
			break;
		case SV_HEP_SRC_PORT:
			out->src_port = sv_be16(v);
			break;
		case SV_HEP_DST_PORT:
			out->dst_port = sv_be16(v);
			break;
		case SV_HEP_TS_SEC:
			out->ts_sec = sv_be32(v);
			break;
		case SV_HEP_TS_USEC:
			out->ts_usec = sv_be32(v);
			break;
		case SV_HEP_PROTO_TYPE:
			out->proto_type = v[0];
			break;
		case SV_HEP_CAPTURE_ID:
			out->capture_id = sv_be32(v);
			break;
		case SV_HEP_KEEPALIVE:
			out->keepalive = sv_be16(v);
			break;
		case SV_HEP_VLAN:
			out->vlan = sv_be16(v);
			break;
		case SV_HEP_AUTH_KEY:
			out->auth_key = (const char *)v;
			out->auth_key_len = vlen;
			break;
		case SV_HEP_CORRELATION_ID:
			out->correlation_id = (const char *)v;
			out->correlation_id_len = vlen;
			break;
		case SV_HEP_NODE_NAME:
			out->node_name = (const char *)v;
			out->node_name_len = vlen;
			break;
		case SV_HEP_PAYLOAD:
			out->payload = v;
			out->payload_len = vlen;
			break;
		case SV_HEP_PAYLOAD_Z:
			zp = v;
			zlen = vlen;
			break;
		default:
			/* 0x0001..0x0013 are all handled above. */
			break;
		}
	}
	if (zp != NULL) {
		/* A compressed payload wins over a plain one. */
		if (scratch == NULL)
			return -EINVAL;
		sv_buf_reset(scratch);
		if ((rc = sv_gz_decompress(zp, zlen, SV_HEP_MAX_INFLATE, scratch)) != 0)
			return rc;
		out->payload = scratch->data;
		out->payload_len = scratch->len;
		out->compressed = true;
	}
	return 0;
}

/* ---- encoder */

static int put_chunk(struct sv_buf *out, uint16_t type, const void *v, size_t vlen)
{
	int rc;
	if (vlen > SV_HEP_MAX_LEN - CHUNK_HDR)
		return SV_E_TOOBIG;
	if ((rc = sv_buf_put_u16(out, 0)) != 0 || (rc = sv_buf_put_u16(out, type)) != 0 ||
	    (rc = sv_buf_put_u16(out, (uint16_t)(vlen + CHUNK_HDR))) != 0)
		return rc;
	return vlen ? sv_buf_append(out, v, vlen) : 0;
}

static int put_u8(struct sv_buf *out, uint16_t type, uint8_t x)
{
	return put_chunk(out, type, &x, 1);
}

static int put_u16(struct sv_buf *out, uint16_t type, uint16_t x)
{
	uint8_t b[2];
	sv_put_be16(b, x);
	return put_chunk(out, type, b, 2);
}

static int put_u32(struct sv_buf *out, uint16_t type, uint32_t x)
{
	uint8_t b[4];
	sv_put_be32(b, x);
	return put_chunk(out, type, b, 4);
}

static int encode_chunks(const struct sv_hep *h, struct sv_buf *out)
{
	int rc;
	if ((rc = put_u8(out, SV_HEP_IP_FAMILY, h->ip_family)) != 0 ||
	    (rc = put_u8(out, SV_HEP_IP_PROTO, h->ip_proto)) != 0)
		return rc;
	if (h->addr_len == 4) {
		if ((rc = put_chunk(out, SV_HEP_IPV4_SRC, h->src_ip, 4)) != 0 ||
		    (rc = put_chunk(out, SV_HEP_IPV4_DST, h->dst_ip, 4)) != 0)
			return rc;
	} else if (h->addr_len == 16) {
		if ((rc = put_chunk(out, SV_HEP_IPV6_SRC, h->src_ip, 16)) != 0 ||
		    (rc = put_chunk(out, SV_HEP_IPV6_DST, h->dst_ip, 16)) != 0)
			return rc;
	} else if (h->addr_len != 0) {
		return -EINVAL;
	}
	if ((rc = put_u16(out, SV_HEP_SRC_PORT, h->src_port)) != 0 ||
	    (rc = put_u16(out, SV_HEP_DST_PORT, h->dst_port)) != 0 ||
	    (rc = put_u32(out, SV_HEP_TS_SEC, h->ts_sec)) != 0 ||
	    (rc = put_u32(out, SV_HEP_TS_USEC, h->ts_usec)) != 0 ||
	    (rc = put_u8(out, SV_HEP_PROTO_TYPE, h->proto_type)) != 0 ||
	    (rc = put_u32(out, SV_HEP_CAPTURE_ID, h->capture_id)) != 0)
		return rc;
	if ((h->chunks & SV_HEP_HAS(SV_HEP_KEEPALIVE)) &&
	    (rc = put_u16(out, SV_HEP_KEEPALIVE, h->keepalive)) != 0)
		return rc;
	if (h->auth_key != NULL &&
	    (rc = put_chunk(out, SV_HEP_AUTH_KEY, h->auth_key, h->auth_key_len)) != 0)
		return rc;
	if (h->correlation_id != NULL &&
	    (rc = put_chunk(out, SV_HEP_CORRELATION_ID, h->correlation_id,
	                    h->correlation_id_len)) != 0)
		return rc;
	if ((h->chunks & SV_HEP_HAS(SV_HEP_VLAN)) && (rc = put_u16(out, SV_HEP_VLAN, h->vlan)) != 0)
		return rc;
	if (h->node_name != NULL &&
	    (rc = put_chunk(out, SV_HEP_NODE_NAME, h->node_name, h->node_name_len)) != 0)
		return rc;
	if (h->payload == NULL)
		return 0;
	if (!h->compressed)
		return put_chunk(out, SV_HEP_PAYLOAD, h->payload, h->payload_len);

	if (h->payload_len > SV_HEP_MAX_INFLATE)
		return SV_E_TOOBIG;
	uLongf zcap = compressBound((uLong)h->payload_len);
	uint8_t *z = malloc(zcap);
	if (z == NULL)
		return -ENOMEM;
	if (compress2(z, &zcap, h->payload, (uLong)h->payload_len, Z_BEST_SPEED) != Z_OK) {
		free(z);
		return -EIO;
	}
	rc = put_chunk(out, SV_HEP_PAYLOAD_Z, z, zcap);
	free(z);
	return rc;
}

int sv_hep_encode(const struct sv_hep *h, struct sv_buf *out)
{
	if (h == NULL || out == NULL)
		return -EINVAL;
	size_t start = out->len;
	int rc;
	if ((rc = sv_buf_append(out, "HEP3", 4)) != 0 || (rc = sv_buf_put_u16(out, 0)) != 0 ||
	    (rc = encode_chunks(h, out)) != 0)
		goto fail;
	size_t total = out->len - start;
	if (total > SV_HEP_MAX_LEN) {
		rc = SV_E_TOOBIG;
		goto fail;
	}
	sv_put_be16(out->data + start + 4, (uint16_t)total);
	return 0;
fail:
	out->len = start;
	return rc;
}

/* ---- RTCP as JSON */

/* A number, a numeric string, or a real; false when absent or not numeric. */
static bool jnum(const json_t *v, long long *out)
{
	if (v == NULL)
		return false;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!(d > -9.0e18 && d < 9.0e18))
			return false;
		*out = llround(d);
		return true;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		errno = 0;
		long long x = strtoll(s, &end, 10);
		if (end == s || errno != 0)
			return false;
		while (isspace((unsigned char)*end))
			end++;
		if (*end != '\0')
			return false;
		*out = x;
		return true;
	}
	return false;
}

/* The first of up to three key spellings present as a number. */
static bool jget(const json_t *o, const char *k1, const char *k2, const char *k3, long long *out)
{
	const char *keys[3] = {k1, k2, k3};
	for (int i = 0; i < 3; i++)
		if (keys[i] != NULL && jnum(json_object_get(o, keys[i]), out))
			return true;
	return false;
}

/* A 32-bit field printed signed or unsigned; false when out of both ranges. */
static bool as_u32(long long v, uint32_t *out)
{
	if (v < -2147483648LL || v > 4294967295LL)
		return false;
	*out = (uint32_t)(unsigned long long)v;
	return true;
}

static uint32_t get_u32(const json_t *o, const char *k1, const char *k2, const char *k3)
{
	long long v;
	uint32_t u = 0;
	if (jget(o, k1, k2, k3, &v))
		(void)as_u32(v, &u);
	return u;
}

static uint8_t clamp_u8(long long v)
{
	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

static uint16_t clamp_u16(long long v)
{
	return v < 0 ? 0 : v > 65535 ? 65535 : (uint16_t)v;
}

static int parse_type(const json_t *t)
{
	long long v;
	if (jnum(t, &v))
		return (v >= 192 && v <= 223) ? (int)v : 0;
	if (!json_is_string(t))
		return 0;
	static const struct {
		const char *name;
		int pt;
	} names[] = {{"sr", SV_RTCP_SR},       {"rr", SV_RTCP_RR},    {"sdes", SV_RTCP_SDES},
	             {"bye", SV_RTCP_BYE},     {"app", SV_RTCP_APP},  {"xr", SV_RTCP_XR},
	             {"rtpfb", SV_RTCP_RTPFB}, {"psfb", SV_RTCP_PSFB}};
	const char *s = json_string_value(t);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].pt;
	return 0;
}

static struct sv_rtcp_packet *add_packet(struct sv_rtcp_compound *c, uint8_t pt, uint32_t ssrc,
                                         uint8_t *index)
{
	if (c->n_packets >= SV_RTCP_MAX_PACKETS) {
		c->dropped_packets++;
		return NULL;
	}
	struct sv_rtcp_packet *pk = &c->packets[c->n_packets];
	memset(pk, 0, sizeof(*pk));
	pk->pt = pt;
	pk->ssrc = ssrc;
	pk->first_block = (uint8_t)c->n_blocks;
	pk->first_xr = (uint8_t)c->n_xr;
	pk->first_sdes = (uint8_t)c->n_sdes;
	pk->first_bye = (uint8_t)c->n_bye;
	*index = (uint8_t)c->n_packets++;
	return pk;
}

/* sender_information, or the same keys flat on the report object. */
static bool read_sender(const json_t *o, struct sv_rtcp_sender_info *si, bool *nonzero,
                        uint32_t *flags)
{
	const json_t *s = json_object_get(o, "sender_information");
	if (!json_is_object(s)) {
		long long probe;
		if (!jget(o, "ntp_timestamp_sec", "ntp_sec", NULL, &probe))
			return false;
		s = o;
	}
	memset(si, 0, sizeof(*si));
	si->ntp_sec = get_u32(s, "ntp_timestamp_sec", "ntp_sec", NULL);
	long long frac;
	/* rtpengine, rtpproxy, captagent and heplify all put the NTP fraction
	 * (least significant word) under the "usec" name. */
	if (jget(s, "ntp_timestamp_usec", "ntp_timestamp_frac", "ntp_frac", &frac) &&
	    !as_u32(frac, &si->ntp_frac)) {
		si->ntp_frac = 0;
		*flags |= SV_RTCP_F_NTP_FRAC_RANGE;
	}
	si->rtp_ts = get_u32(s, "rtp_timestamp", "rtp_ts", NULL);
	si->packet_count = get_u32(s, "packets", "packet_count", NULL);
	si->octet_count = get_u32(s, "octets", "octet_count", NULL);
	*nonzero = si->ntp_sec || si->ntp_frac || si->rtp_ts || si->packet_count || si->octet_count;
	return true;
}

static void read_json_block(const json_t *b, uint8_t pkt, struct sv_rtcp_packet *pk,
                            struct sv_rtcp_compound *c)
{
	if (!json_is_object(b))
		return;
	struct sv_rtcp_report_block rb;
	memset(&rb, 0, sizeof(rb));
	long long v;
	rb.pkt = pkt;
	rb.ssrc = get_u32(b, "source_ssrc", "ssrc", NULL);
	if (jget(b, "fraction_lost", NULL, NULL, &v))
		rb.fraction_lost = clamp_u8(v);
	/* Cumulative loss is a signed 24-bit field; the dialects print it signed,
	 * unsigned 24-bit, or as an unsigned 32-bit word: keep the low 24 bits. */
	if (jget(b, "packets_lost", "cumulative_lost", "lost", &v)) {
		uint32_t w = (uint32_t)(unsigned long long)v & 0xffffff;
		rb.cumulative_lost = (w & 0x800000) ? (int32_t)w - 0x1000000 : (int32_t)w;
	}
	rb.ext_highest_seq = get_u32(b, "highest_seq_no", "highest_seq", "ext_highest_seq");
	rb.jitter = get_u32(b, "ia_jitter", "jitter", NULL);
	rb.lsr = get_u32(b, "lsr", NULL, NULL);
	rb.dlsr = get_u32(b, "dlsr", NULL, NULL);
	if (!rb.ssrc && !rb.fraction_lost && !rb.cumulative_lost && !rb.ext_highest_seq &&
	    !rb.jitter && !rb.lsr && !rb.dlsr) {
		/* heplify fills a placeholder block from the header count. */
		c->flags |= SV_RTCP_F_ZERO_BLOCK;
		return;
	}
	if (c->n_blocks >= SV_RTCP_MAX_BLOCKS) {
		c->dropped_blocks++;
		return;
	}
	c->blocks[c->n_blocks++] = rb;
	pk->n_blocks++;
}

/* The fields heplify's "report_blocks_xr" and a full "voip_metrics" share. */
static void xr_fill_common(const json_t *x, struct sv_rtcp_xr_voip *v)
{
	long long n;
	memset(v, 0, sizeof(*v));
	v->ssrc = get_u32(x, "id", "ssrc", NULL);
	if (jget(x, "fraction_lost", "loss_rate", NULL, &n))
		v->loss_rate = clamp_u8(n);
	if (jget(x, "fraction_discard", "discard_rate", NULL, &n))
		v->discard_rate = clamp_u8(n);
	if (jget(x, "burst_density", NULL, NULL, &n))
		v->burst_density = clamp_u8(n);
	if (jget(x, "gap_density", NULL, NULL, &n))
		v->gap_density = clamp_u8(n);
	if (jget(x, "burst_duration", NULL, NULL, &n))
		v->burst_duration = clamp_u16(n);
	if (jget(x, "gap_duration", NULL, NULL, &n))
		v->gap_duration = clamp_u16(n);
	if (jget(x, "round_trip_delay", NULL, NULL, &n))
		v->round_trip_delay = clamp_u16(n);
	if (jget(x, "end_system_delay", NULL, NULL, &n))
		v->end_system_delay = clamp_u16(n);
}

static bool xr_from_summary(const json_t *x, struct sv_rtcp_xr_voip *v)
{
	/* heplify "report_blocks_xr": the first part of a VoIP-metrics block;
	 * type 0 means the datagram had no such block. */
	long long t;
	if (!json_is_object(x) || !jget(x, "type", NULL, NULL, &t) || t != 7)
		return false;
	xr_fill_common(x, v);
	v->partial = true;
	return true;
}

static uint8_t mos_x10(const json_t *o, const char *key)
{
	const json_t *m = json_object_get(o, key);
	if (json_is_real(m)) {
		double d = json_real_value(m) * 10.0;
		return d < 0 ? 0 : d > 255 ? 255 : (uint8_t)lround(d);
	}
	long long n;
	/* An integer MOS of at most 5 is a plain MOS; larger is already x10. */
	if (jnum(m, &n))
		return n <= 5 ? clamp_u8(n * 10) : clamp_u8(n);
	return 0;
}

static bool xr_from_full(const json_t *x, struct sv_rtcp_xr_voip *v)
{
	/* A full RFC 3611 VoIP-metrics object ("voip_metrics"). */
	if (!json_is_object(x))
		return false;
	xr_fill_common(x, v);
	v->partial = false;
	long long n;
	if (jget(x, "signal_level", NULL, NULL, &n))
		v->signal_level = (int8_t)(n < -128 ? -128 : n > 127 ? 127 : n);
	if (jget(x, "noise_level", NULL, NULL, &n))
		v->noise_level = (int8_t)(n < -128 ? -128 : n > 127 ? 127 : n);
	if (jget(x, "rerl", NULL, NULL, &n))
		v->rerl = clamp_u8(n);
	if (jget(x, "gmin", NULL, NULL, &n))
		v->gmin = clamp_u8(n);
	if (jget(x, "r_factor", NULL, NULL, &n))
		v->r_factor = clamp_u8(n);
	if (jget(x, "ext_r_factor", NULL, NULL, &n))
		v->ext_r_factor = clamp_u8(n);
	v->mos_lq = mos_x10(x, "mos_lq");
	v->mos_cq = mos_x10(x, "mos_cq");
	if (jget(x, "rx_config", NULL, NULL, &n))
		v->rx_config = clamp_u8(n);
	if (jget(x, "jb_nominal", "jb_nom", NULL, &n))
		v->jb_nominal = clamp_u16(n);
	if (jget(x, "jb_maximum", "jb_max", NULL, &n))
		v->jb_max = clamp_u16(n);
	if (jget(x, "jb_abs_max", NULL, NULL, &n))
		v->jb_abs_max = clamp_u16(n);
	return true;
}

static void add_sdes_chunk(struct sv_rtcp_compound *c, struct sv_rtcp_packet *pk, uint8_t pkt,
                           uint32_t ssrc, const char *cname)
{
	if (c->n_sdes >= SV_RTCP_MAX_SDES) {
		c->dropped_sdes++;
		return;
	}
	struct sv_rtcp_sdes_chunk *ch = &c->sdes[c->n_sdes++];
	memset(ch, 0, sizeof(*ch));
	ch->pkt = pkt;
	ch->ssrc = ssrc;
	if (cname != NULL) {
		size_t n = strlen(cname);
		if (n > SV_RTCP_CNAME_MAX)
			n = SV_RTCP_CNAME_MAX;
		memcpy(ch->cname, cname, n);
		ch->cname[n] = '\0';
		ch->cname_len = (uint8_t)n;
	}
	if (pk->n_sdes == 0)
		pk->ssrc = ssrc;
	pk->n_sdes++;
}

static int map_sdes(const json_t *o, struct sv_rtcp_compound *c)
{
	const json_t *info = json_object_get(o, "sdes_information");
	long long v;
	uint32_t top = 0;
	bool have_top = jget(o, "sdes_ssrc", "sdes_chunk_ssrc", NULL, &v) && as_u32(v, &top);
	bool have_items = json_is_array(info) && json_array_size(info) > 0;
	if (!have_items && (!have_top || top == 0))
		return 0;
	uint8_t idx;
	struct sv_rtcp_packet *pk = add_packet(c, SV_RTCP_SDES, top, &idx);
	if (pk == NULL)
		return 0;
	size_t i;
	const json_t *it;
	bool any = false;
	if (have_items) {
		json_array_foreach(info, i, it)
		{
			if (!json_is_object(it))
				continue;
			long long type;
			if (!jget(it, "type", NULL, NULL, &type) || type != 1)
				continue;
			uint32_t ssrc = top;
			long long s;
			if (jget(it, "sdes_chunk_ssrc", "ssrc", NULL, &s))
				(void)as_u32(s, &ssrc);
			add_sdes_chunk(c, pk, idx, ssrc,
			               json_string_value(json_object_get(it, "text")));
			any = true;
		}
	}
	if (!any && have_top)
		add_sdes_chunk(c, pk, idx, top, NULL);
	pk->count = pk->n_sdes;
	return 1;
}

/* One JSON object describes one RTCP datagram (rtpengine, captagent, heplify)
 * or one RTCP packet (rtpproxy); it may yield several packets here. */
static int map_object(const json_t *o, struct sv_rtcp_compound *c)
{
	if (!json_is_object(o))
		return SV_E_PARSE;
	int type = parse_type(json_object_get(o, "type"));
	long long v;
	uint32_t ssrc = 0;
	bool have_ssrc = jget(o, "ssrc", "sender_ssrc", NULL, &v) && as_u32(v, &ssrc);
	struct sv_rtcp_sender_info si;
	bool si_nonzero = false;
	bool have_si = read_sender(o, &si, &si_nonzero, &c->flags);
	const json_t *rb = json_object_get(o, "report_blocks");
	bool have_rb = (json_is_array(rb) && json_array_size(rb) > 0) || json_is_object(rb);
	size_t before = c->n_packets + c->dropped_packets;

	/* The report (SR/RR). heplify writes the type of the LAST packet of the
	 * compound and always emits sender_information (zero for an RR), so the
	 * type field is trusted only when it says SR or RR. */
	int report_pt = 0;
	if (type == SV_RTCP_SR || type == SV_RTCP_RR) {
		report_pt = type;
	} else if (have_si && si_nonzero) {
		report_pt = SV_RTCP_SR;
		c->flags |= SV_RTCP_F_TYPE_GUESSED;
	} else if (have_rb) {
		report_pt = SV_RTCP_RR;
		c->flags |= SV_RTCP_F_TYPE_GUESSED;
	}
	if (report_pt != 0) {
		uint8_t idx;
		struct sv_rtcp_packet *pk = add_packet(c, (uint8_t)report_pt, ssrc, &idx);
		if (pk != NULL) {
			if (report_pt == SV_RTCP_SR && have_si) {
				pk->has_sender_info = true;
				pk->si = si;
			}
			if (json_is_array(rb)) {
				size_t i;
				const json_t *b;
				json_array_foreach(rb, i, b) read_json_block(b, idx, pk, c);
			} else if (json_is_object(rb)) {
				read_json_block(rb, idx, pk, c);
			}
			pk->count = pk->n_blocks;
		}
	}

	/* SDES (rtpengine, captagent: items; heplify: only the SSRC). */
	map_sdes(o, c);

	/* XR VoIP metrics: full object when given, else heplify's summary. */
	struct sv_rtcp_xr_voip xv;
	bool have_xr = xr_from_full(json_object_get(o, "voip_metrics"), &xv);
	if (!have_xr && xr_from_summary(json_object_get(o, "report_blocks_xr"), &xv)) {
		have_xr = true;
		c->flags |= SV_RTCP_F_XR_PARTIAL;
	}
	if (have_xr) {
		uint8_t idx;
		struct sv_rtcp_packet *pk = add_packet(c, SV_RTCP_XR, ssrc, &idx);
		if (pk != NULL) {
			if (c->n_xr < SV_RTCP_MAX_XR_VOIP) {
				xv.pkt = idx;
				c->xr[c->n_xr++] = xv;
				pk->n_xr = 1;
			} else {
				c->dropped_xr++;
			}
		}
	}

	/* BYE, or a bare packet of a stated type nothing above produced. */
	if (c->n_packets + c->dropped_packets == before && type != 0 && have_ssrc) {
		uint8_t idx;
		struct sv_rtcp_packet *pk = add_packet(c, (uint8_t)type, ssrc, &idx);
		if (pk != NULL && type == SV_RTCP_BYE) {
			if (c->n_bye < SV_RTCP_MAX_BYE) {
				c->bye[c->n_bye].pkt = idx;
				c->bye[c->n_bye++].ssrc = ssrc;
				pk->n_bye = 1;
				pk->count = 1;
			} else {
				c->dropped_bye++;
			}
		} else if (pk != NULL && type != SV_RTCP_SDES && type != SV_RTCP_XR) {
			c->unknown_packets++;
		}
	}
	if (c->n_packets + c->dropped_packets == before)
		return SV_E_PARSE;
	return 0;
}

/* rtpproxy prints ",\n}" after the last RR member; drop commas that precede
 * a closing brace or bracket (outside strings) so jansson accepts it. */
static size_t drop_trailing_commas(const char *in, size_t len, char *out)
{
	size_t n = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < len; i++) {
		char ch = in[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == ',') {
			size_t j = i + 1;
			while (j < len && isspace((unsigned char)in[j]))
				j++;
			if (j < len && (in[j] == '}' || in[j] == ']'))
				continue;
		}
		out[n++] = ch;
	}
	return n;
}

int sv_hep_rtcp_json_parse(const char *json, size_t len, struct sv_rtcp_compound *out)
{
	sv_rtcp_compound_init(out);
	out->source = SV_RTCP_SRC_JSON;
	if (json == NULL || len == 0)
		return SV_E_PARSE;
	char *buf = malloc(len);
	if (buf == NULL)
		return -ENOMEM;
	size_t n = drop_trailing_commas(json, len, buf);
	size_t off = 0;
	int rc = 0, objects = 0;
	while (rc == 0) {
		while (off < n && (isspace((unsigned char)buf[off]) || buf[off] == '\0'))
			off++;
		if (off >= n)
			break;
		json_error_t err;
		json_t *root = json_loadb(buf + off, n - off, JSON_DISABLE_EOF_CHECK, &err);
		if (root == NULL) {
			rc = json_error_code(&err) == json_error_out_of_memory ? -ENOMEM
			                                                       : SV_E_PARSE;
			break;
		}
		if (err.position <= 0) {
			json_decref(root);
			rc = SV_E_PARSE;
			break;
		}
		off += (size_t)err.position;
		if (json_is_array(root)) {
			size_t i;
			json_t *o;
			json_array_foreach(root, i, o)
			{
				if ((rc = map_object(o, out)) != 0)
					break;
				objects++;
			}
		} else {
			rc = map_object(root, out);
			objects++;
		}
		json_decref(root);
		if (objects > 4 * SV_RTCP_MAX_PACKETS)
			break; /* enough; the rest could only be dropped */
	}
	free(buf);
	if (rc == 0 && out->n_packets == 0)
		rc = SV_E_PARSE;
	if (rc == 0)
		out->compound_ok =
		    out->packets[0].pt == SV_RTCP_SR || out->packets[0].pt == SV_RTCP_RR;
	return rc;
}

int sv_hep_rtcp(const struct sv_hep *h, struct sv_rtcp_compound *out)
{
	sv_rtcp_compound_init(out);
	if (h == NULL || h->proto_type != SV_HEP_PROTO_RTCP || h->payload == NULL ||
	    h->payload_len == 0)
		return SV_E_UNSUPP;
	const uint8_t *p = h->payload;
	size_t n = h->payload_len;
	size_t i = 0;
	while (i < n && isspace(p[i]))
		i++;
	if (i < n && (p[i] == '{' || p[i] == '['))
		return sv_hep_rtcp_json_parse((const char *)p + i, n - i, out);
	if ((p[0] >> 6) == 2)
		return sv_rtcp_parse(p, n, out);
	return SV_E_UNSUPP;
}
