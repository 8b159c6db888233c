#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/errors.h"
#include "proto/hep.h"
#include "proto/rtcp.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static struct sv_rtcp_compound *new_compound(void)
{
	struct sv_rtcp_compound *c = malloc(sizeof(*c));
	assert_non_null(c);
	return c;
}

/* Value of the first "Call-ID:" header line of a SIP text, into buf. */
static const char *sip_call_id(const uint8_t *p, size_t n, char *buf, size_t cap)
{
	const char *key = "\nCall-ID: ";
	size_t kl = strlen(key);
	for (size_t i = 0; i + kl < n; i++) {
		if (memcmp(p + i, key, kl) != 0)
			continue;
		size_t j = i + kl, k = 0;
		while (j < n && p[j] != '\r' && p[j] != '\n' && k + 1 < cap)
			buf[k++] = (char)p[j++];
		buf[k] = '\0';
		return buf;
	}
	return NULL;
}

/* ---------------------------------------------------------------- real capture */

static void test_hep_pcap(void **state)
{
	if (!tu_have_tshark())
		fail_msg("tshark is required to extract the HEP payloads");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "tshark -r '%s' -Y 'udp.dstport==9060' -T fields -e udp.payload 2>/dev/null",
	         tu_shared("pcap/hep/hep.pcap"));
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(tu_run(cmd, &out), 0);
	assert_int_equal(sv_buf_put_u8(&out, 0), 0);

	static const uint8_t want_types[8] = {1, 1, 1, 1, 100, 1, 1, 5};
	int n = 0, sip = 0;
	char *save = NULL;
	struct sv_buf scratch, enc;
	sv_buf_init(&scratch);
	sv_buf_init(&enc);
	for (char *line = strtok_r((char *)out.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		struct sv_buf pkt;
		sv_buf_init(&pkt);
		assert_int_equal(tu_unhex(line, &pkt), 0);
		struct sv_hep h;
		assert_int_equal(sv_hep_parse(pkt.data, pkt.len, &h, &scratch), 0);
		assert_true(n < 8);
		assert_int_equal(h.total_len, pkt.len);
		assert_int_equal(h.proto_type, want_types[n]);
		assert_int_equal(h.capture_id, 2001);
		assert_int_equal(h.ip_family, SV_HEP_FAMILY_INET);
		assert_int_equal(h.ip_proto, 17);
		assert_int_equal(h.addr_len, 4);
		assert_false(h.compressed);
		assert_int_equal(h.skipped_chunks, 0);
		assert_true(h.ts_sec >= 0x584d365c && h.ts_sec <= 0x584d3662);
		assert_true(h.ts_usec < 1000000);
		assert_int_equal(h.auth_key_len, 5);
		assert_memory_equal(h.auth_key, "myHep", 5);
		assert_non_null(h.correlation_id);
		assert_non_null(h.payload);
		if (n == 0) {
			static const uint8_t a[4] = {192, 168, 1, 1}, b[4] = {192, 168, 1, 2};
			assert_memory_equal(h.src_ip, a, 4);
			assert_memory_equal(h.dst_ip, b, 4);
			assert_int_equal(h.src_port, 5060);
			assert_int_equal(h.dst_port, 5060);
			assert_int_equal(h.ts_sec, 0x584d365c);
			assert_int_equal(h.ts_usec, 100);
		}
		if (h.proto_type == SV_HEP_PROTO_SIP) {
			char cid[256];
			assert_non_null(sip_call_id(h.payload, h.payload_len, cid, sizeof(cid)));
			assert_int_equal(h.correlation_id_len, strlen(cid));
			assert_memory_equal(h.correlation_id, cid, strlen(cid));
			sip++;
		} else if (h.proto_type == SV_HEP_PROTO_LOG) {
			assert_true(h.payload_len > 7);
			assert_memory_equal(h.payload, "SYSLOG:", 7);
			assert_int_equal(h.correlation_id_len, strlen("qgf3dm9rudi@127.0.0.1"));
		} else {
			struct sv_rtcp_compound *c = new_compound();
			assert_int_equal(sv_hep_rtcp(&h, c), 0);
			assert_int_equal(c->source, SV_RTCP_SRC_JSON);
			assert_true(c->compound_ok);
			assert_int_equal(c->n_packets, 1);
			const struct sv_rtcp_packet *p = &c->packets[0];
			assert_int_equal(p->pt, SV_RTCP_SR);
			assert_int_equal(p->ssrc, 451916597u);
			assert_true(p->has_sender_info);
			assert_int_equal(p->si.ntp_sec, 3650797214u);
			/* HEPGEN's sample "fraction" does not fit 32 bits. */
			assert_int_equal(p->si.ntp_frac, 0);
			assert_true(c->flags & SV_RTCP_F_NTP_FRAC_RANGE);
			assert_int_equal(p->si.packet_count, 106);
			assert_int_equal(p->si.octet_count, 16960);
			assert_int_equal(p->si.rtp_ts, 16960);
			assert_int_equal(c->n_blocks, 1);
			assert_int_equal(p->n_blocks, 1);
			const struct sv_rtcp_report_block *b = &c->blocks[0];
			assert_int_equal(b->ssrc, 898343773u);
			assert_int_equal(b->ext_highest_seq, 20881);
			assert_int_equal(b->fraction_lost, 0);
			assert_int_equal(b->jitter, 1);
			assert_int_equal(b->cumulative_lost, 0);
			assert_int_equal(b->lsr, 3197960650u); /* printed as -1097006646 */
			assert_int_equal(b->dlsr, 7733);
			free(c);
		}
		/* Our encoder writes the same chunks in the same order: byte-identical. */
		sv_buf_reset(&enc);
		assert_int_equal(sv_hep_encode(&h, &enc), 0);
		assert_int_equal(enc.len, pkt.len);
		assert_memory_equal(enc.data, pkt.data, pkt.len);
		n++;
		sv_buf_release(&pkt);
	}
	assert_int_equal(n, 8);
	assert_int_equal(sip, 6);
	sv_buf_release(&scratch);
	sv_buf_release(&enc);
	sv_buf_release(&out);
}

/* ---------------------------------------------------------------- encode/decode */

static void fill_sample(struct sv_hep *h, const char *payload)
{
	memset(h, 0, sizeof(*h));
	h->ip_family = SV_HEP_FAMILY_INET6;
	h->ip_proto = 17;
	h->addr_len = 16;
	for (int i = 0; i < 16; i++) {
		h->src_ip[i] = (uint8_t)(0x20 + i);
		h->dst_ip[i] = (uint8_t)(0xf0 - i);
	}
	h->src_port = 5060;
	h->dst_port = 5080;
	h->ts_sec = 1764151205;
	h->ts_usec = 250000;
	h->proto_type = SV_HEP_PROTO_SIP;
	h->capture_id = 0xdeadbeef;
	h->chunks = SV_HEP_HAS(SV_HEP_KEEPALIVE) | SV_HEP_HAS(SV_HEP_VLAN);
	h->keepalive = 30;
	h->vlan = 42;
	h->auth_key = "s3cret-key";
	h->auth_key_len = 10;
	h->correlation_id = "abc@host";
	h->correlation_id_len = 8;
	h->node_name = "opensips-edge-1";
	h->node_name_len = 15;
	h->payload = (const uint8_t *)payload;
	h->payload_len = strlen(payload);
}

static void assert_same(const struct sv_hep *a, const struct sv_hep *b)
{
	assert_int_equal(a->ip_family, b->ip_family);
	assert_int_equal(a->ip_proto, b->ip_proto);
	assert_int_equal(a->addr_len, b->addr_len);
	assert_memory_equal(a->src_ip, b->src_ip, 16);
	assert_memory_equal(a->dst_ip, b->dst_ip, 16);
	assert_int_equal(a->src_port, b->src_port);
	assert_int_equal(a->dst_port, b->dst_port);
	assert_int_equal(a->ts_sec, b->ts_sec);
	assert_int_equal(a->ts_usec, b->ts_usec);
	assert_int_equal(a->proto_type, b->proto_type);
	assert_int_equal(a->capture_id, b->capture_id);
	assert_int_equal(a->keepalive, b->keepalive);
	assert_int_equal(a->vlan, b->vlan);
	assert_int_equal(a->auth_key_len, b->auth_key_len);
	assert_memory_equal(a->auth_key, b->auth_key, a->auth_key_len);
	assert_int_equal(a->correlation_id_len, b->correlation_id_len);
	assert_memory_equal(a->correlation_id, b->correlation_id, a->correlation_id_len);
	assert_int_equal(a->node_name_len, b->node_name_len);
	assert_memory_equal(a->node_name, b->node_name, a->node_name_len);
	assert_int_equal(a->payload_len, b->payload_len);
	assert_memory_equal(a->payload, b->payload, a->payload_len);
}

static void test_roundtrip_auth_ipv6(void **state)
{
	struct sv_hep h, g;
	fill_sample(&h, "OPTIONS sip:x SIP/2.0\r\nCall-ID: abc@host\r\n\r\n");
	struct sv_buf b, scratch;
	sv_buf_init(&b);
	sv_buf_init(&scratch);
	assert_int_equal(sv_hep_encode(&h, &b), 0);
	assert_memory_equal(b.data, "HEP3", 4);
	assert_int_equal(sv_be16(b.data + 4), b.len);
	assert_int_equal(sv_hep_parse(b.data, b.len, &g, &scratch), 0);
	assert_same(&h, &g);
	assert_false(g.compressed);
	assert_true(g.chunks & SV_HEP_HAS(SV_HEP_AUTH_KEY));
	assert_true(g.chunks & SV_HEP_HAS(SV_HEP_IPV6_SRC));
	assert_false(g.chunks & SV_HEP_HAS(SV_HEP_IPV4_SRC));
	/* Slices are borrowed from the input. */
	assert_true((const uint8_t *)g.auth_key > b.data &&
	            (const uint8_t *)g.auth_key < b.data + b.len);

	/* Trailing bytes after the packet (a TCP stream) are left alone. */
	size_t one = b.len;
	assert_int_equal(sv_buf_append(&b, "HEP3", 4), 0);
	assert_int_equal(sv_hep_parse(b.data, b.len, &g, &scratch), 0);
	assert_int_equal(g.total_len, one);
	size_t fl = 0;
	assert_int_equal(sv_hep_frame_len(b.data, b.len, &fl), 0);
	assert_int_equal(fl, one);
	assert_int_equal(sv_hep_frame_len(b.data + one, 4, &fl), SV_E_AGAIN);
	sv_buf_release(&b);
	sv_buf_release(&scratch);
}

static void test_compressed_payload(void **state)
{
	/* A SIP message long enough to compress well. */
	struct sv_buf sip;
	sv_buf_init(&sip);
	assert_int_equal(sv_buf_append_str(&sip, "INVITE sip:bob@example.com SIP/2.0\r\n"), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(
		    sv_buf_printf(&sip, "X-Header-%d: some repeated value here\r\n", i), 0);
	assert_int_equal(sv_buf_append_str(&sip, "\r\n"), 0);
	struct sv_hep h, g;
	fill_sample(&h, (const char *)sip.data);
	h.compressed = true;
	struct sv_buf b, scratch;
	sv_buf_init(&b);
	sv_buf_init(&scratch);
	assert_int_equal(sv_hep_encode(&h, &b), 0);
	assert_true(b.len < sip.len); /* really compressed */
	/* The payload travels in chunk 0x0010 and no 0x000f is present. */
	struct sv_hep raw;
	assert_int_equal(sv_hep_parse(b.data, b.len, &raw, &scratch), 0);
	assert_true(raw.chunks & SV_HEP_HAS(SV_HEP_PAYLOAD_Z));
	assert_false(raw.chunks & SV_HEP_HAS(SV_HEP_PAYLOAD));
	assert_true(raw.compressed);
	assert_ptr_equal(raw.payload, scratch.data);
	g = raw;
	assert_same(&h, &g);
	/* Without a scratch buffer it cannot be decoded. */
	assert_int_equal(sv_hep_parse(b.data, b.len, &g, NULL), -EINVAL);
	/* Corrupt the zlib stream (its last bytes are the Adler-32). */
	b.data[b.len - 1] ^= 0xff;
	assert_true(sv_hep_parse(b.data, b.len, &g, &scratch) < 0);

	/* A decompression bomb: 2 MiB of zeros in ~2 KiB. */
	size_t big = 2u << 20;
	uint8_t *zeros = calloc(1, big);
	assert_non_null(zeros);
	uLongf zl = compressBound(big);
	uint8_t *z = malloc(zl);
	assert_non_null(z);
	assert_int_equal(compress2(z, &zl, zeros, big, 9), Z_OK);
	assert_true(zl < 60000);
	struct sv_buf bomb;
	sv_buf_init(&bomb);
	assert_int_equal(sv_buf_append(&bomb, "HEP3", 4), 0);
	assert_int_equal(sv_buf_put_u16(&bomb, (uint16_t)(6 + 6 + zl)), 0);
	assert_int_equal(sv_buf_put_u16(&bomb, 0), 0);
	assert_int_equal(sv_buf_put_u16(&bomb, SV_HEP_PAYLOAD_Z), 0);
	assert_int_equal(sv_buf_put_u16(&bomb, (uint16_t)(6 + zl)), 0);
	assert_int_equal(sv_buf_append(&bomb, z, zl), 0);
	assert_int_equal(sv_hep_parse(bomb.data, bomb.len, &g, &scratch), SV_E_TOOBIG);
	free(zeros);
	free(z);
	sv_buf_release(&bomb);
	sv_buf_release(&b);
	sv_buf_release(&scratch);
	sv_buf_release(&sip);
}

static void test_malformed(void **state)
{
	struct sv_hep h;
	fill_sample(&h, "x");
	struct sv_buf b, scratch;
	sv_buf_init(&b);
	sv_buf_init(&scratch);
	assert_int_equal(sv_hep_encode(&h, &b), 0);
	uint8_t *p = malloc(b.len + 16);
	assert_non_null(p);
	struct sv_hep g;

	assert_int_equal(sv_hep_parse(NULL, 0, &g, &scratch), SV_E_TRUNC);
	assert_int_equal(sv_hep_parse(b.data, 5, &g, &scratch), SV_E_TRUNC);
	assert_int_equal(sv_hep_parse(b.data, b.len - 1, &g, &scratch), SV_E_TRUNC);
	memcpy(p, b.data, b.len);
	p[0] = 'X';
	assert_int_equal(sv_hep_parse(p, b.len, &g, &scratch), SV_E_PARSE);
	p[0] = 2; /* HEP v2 starts with its version byte */
	assert_int_equal(sv_hep_parse(p, b.len, &g, &scratch), SV_E_UNSUPP);
	/* Total length below the header size. */
	memcpy(p, b.data, b.len);
	sv_put_be16(p + 4, 5);
	assert_int_equal(sv_hep_parse(p, b.len, &g, &scratch), SV_E_PARSE);
	/* First chunk (IP family) with a length below the chunk header. */
	memcpy(p, b.data, b.len);
	sv_put_be16(p + 6 + 4, 5);
	assert_int_equal(sv_hep_parse(p, b.len, &g, &scratch), SV_E_PARSE);
	/* ... with a length running past the packet. */
	sv_put_be16(p + 6 + 4, 0xfff0);
	assert_int_equal(sv_hep_parse(p, b.len, &g, &scratch), SV_E_TRUNC);
	/* A fixed-size chunk of the wrong size: family as 2 bytes, total fixed up. */
	struct sv_buf q;
	sv_buf_init(&q);
	static const uint8_t odd[] = {'H', 'E', 'P', '3', 0, 14, 0, 0, 0, 1, 0, 8, 0, 2};
	assert_int_equal(sv_hep_parse(odd, sizeof(odd), &g, &scratch), SV_E_PARSE);
	/* A packet shorter than its chunk header. */
	static const uint8_t cut[] = {'H', 'E', 'P', '3', 0, 9, 0, 0, 0};
	assert_int_equal(sv_hep_parse(cut, sizeof(cut), &g, &scratch), SV_E_TRUNC);
	/* Vendor chunks and unknown generic types are skipped. */
	assert_int_equal(sv_buf_append(&q, b.data, b.len), 0);
	static const uint8_t extra[] = {0x00, 0x08, 0x00, 0x01, 0,    8, 0xaa,
	                                0xbb, 0x00, 0x00, 0x00, 0x99, 0, 6};
	assert_int_equal(sv_buf_append(&q, extra, sizeof(extra)), 0);
	sv_put_be16(q.data + 4, (uint16_t)q.len);
	assert_int_equal(sv_hep_parse(q.data, q.len, &g, &scratch), 0);
	assert_int_equal(g.skipped_chunks, 2);
	assert_int_equal(g.capture_id, 0xdeadbeef);
	/* Every truncation of a valid packet is an error, never a crash. */
	for (size_t i = 0; i < b.len; i++)
		assert_true(sv_hep_parse(b.data, i, &g, &scratch) < 0);
	/* Encoder limits. */
	h.addr_len = 5;
	sv_buf_reset(&q);
	assert_int_equal(sv_hep_encode(&h, &q), -EINVAL);
	assert_int_equal(q.len, 0);
	fill_sample(&h, "x");
	uint8_t *huge = calloc(1, 70000);
	assert_non_null(huge);
	h.payload = huge;
	h.payload_len = 70000;
	assert_int_equal(sv_hep_encode(&h, &q), SV_E_TOOBIG);
	assert_int_equal(q.len, 0);
	free(huge);
	free(p);
	sv_buf_release(&q);
	sv_buf_release(&b);
	sv_buf_release(&scratch);
}

static void test_binary_rtcp_over_hep(void **state)
{
	struct sv_buf rtcp, b, scratch;
	sv_buf_init(&rtcp);
	sv_buf_init(&b);
	sv_buf_init(&scratch);
	struct sv_rtcp_report_block blk;
	memset(&blk, 0, sizeof(blk));
	blk.ssrc = 0xabcdef01;
	blk.fraction_lost = 7;
	blk.cumulative_lost = -3;
	blk.jitter = 99;
	assert_int_equal(sv_rtcp_encode_report(&rtcp, 0x1234, NULL, &blk, 1), 0);
	struct sv_hep h, g;
	fill_sample(&h, "");
	h.proto_type = SV_HEP_PROTO_RTCP;
	h.payload = rtcp.data;
	h.payload_len = rtcp.len;
	assert_int_equal(sv_hep_encode(&h, &b), 0);
	assert_int_equal(sv_hep_parse(b.data, b.len, &g, &scratch), 0);
	struct sv_rtcp_compound *c = new_compound();
	assert_int_equal(sv_hep_rtcp(&g, c), 0);
	assert_int_equal(c->source, SV_RTCP_SRC_BINARY);
	assert_int_equal(c->packets[0].pt, SV_RTCP_RR);
	assert_int_equal(c->blocks[0].cumulative_lost, -3);
	assert_int_equal(c->blocks[0].jitter, 99);
	g.proto_type = SV_HEP_PROTO_SIP;
	assert_int_equal(sv_hep_rtcp(&g, c), SV_E_UNSUPP);
	free(c);
	sv_buf_release(&rtcp);
	sv_buf_release(&b);
	sv_buf_release(&scratch);
}

/* ---------------------------------------------------------------- JSON dialects */

static struct sv_rtcp_compound *json(const char *s, int want_rc)
{
	struct sv_rtcp_compound *c = new_compound();
	int rc = sv_hep_rtcp_json_parse(s, strlen(s), c);
	if (rc != want_rc)
		fail_msg("json parse: got %d (%s), want %d", rc, sv_strerror(rc), want_rc);
	if (rc == 0)
		assert_int_equal(c->source, SV_RTCP_SRC_JSON);
	return c;
}

/* rtpengine daemon/rtcp.c homer_* handlers: one object per compound, sender
 * info nested, unsigned 24-bit packets_lost, SDES items with chunk SSRC. */
static void test_json_rtpengine(void **state)
{
	struct sv_rtcp_compound *c = json(
	    "{ \"sender_information\":{\"ntp_timestamp_sec\":3953699806,\"ntp_timestamp_usec\":"
	    "2147483648,\"octets\":5600,\"rtp_timestamp\":3613598720, \"packets\":35},"
	    "\"ssrc\":1723189040,\"type\":200,\"report_count\":1,\"report_blocks\":[{"
	    "\"source_ssrc\":620378479,\"highest_seq_no\":3543,\"fraction_lost\":3,\"ia_jitter\":"
	    "12,"
	    "\"packets_lost\":16777215,\"lsr\":2843738112,\"dlsr\":65536}],\"sdes_report_count\":1,"
	    "\"sdes_information\": [ {\"sdes_chunk_ssrc\":1723189040,\"type\":1,\"text\":"
	    "\"rtpengine-01\"} ] }",
	    0);
	assert_true(c->compound_ok);
	assert_int_equal(c->n_packets, 2);
	assert_int_equal(c->packets[0].pt, SV_RTCP_SR);
	assert_int_equal(c->packets[0].ssrc, 1723189040u);
	assert_int_equal(c->packets[0].si.ntp_sec, 3953699806u);
	assert_int_equal(c->packets[0].si.ntp_frac, 2147483648u); /* the fraction, not µs */
	assert_int_equal(c->packets[0].si.rtp_ts, 3613598720u);
	assert_int_equal(c->packets[0].si.packet_count, 35);
	assert_int_equal(c->packets[0].si.octet_count, 5600);
	assert_int_equal(c->n_blocks, 1);
	assert_int_equal(c->blocks[0].ssrc, 620378479u);
	assert_int_equal(c->blocks[0].ext_highest_seq, 3543);
	assert_int_equal(c->blocks[0].fraction_lost, 3);
	assert_int_equal(c->blocks[0].jitter, 12);
	assert_int_equal(c->blocks[0].cumulative_lost, -1);
	assert_int_equal(c->blocks[0].lsr, 2843738112u);
	assert_int_equal(c->blocks[0].dlsr, 65536);
	assert_int_equal(c->packets[1].pt, SV_RTCP_SDES);
	assert_int_equal(c->n_sdes, 1);
	assert_int_equal(c->sdes[0].ssrc, 1723189040u);
	assert_string_equal(c->sdes[0].cname, "rtpengine-01");
	assert_int_equal(c->flags, 0);
	free(c);
}

/* rtpproxy modules/acct_rtcp_hep/rtcp2json.c: one pretty-printed object per
 * RTCP packet, concatenated; the RR object ends in ",\n}". */
static void test_json_rtpproxy(void **state)
{
	struct sv_rtcp_compound *c = json(
	    "{\n \"ssrc\": 305419896,\n \"sender_information\": {\n  \"ntp_timestamp_sec\": "
	    "3953699806,\n  \"ntp_timestamp_usec\": 1288490188,\n  \"rtp_timestamp\": 160,\n  "
	    "\"packets\": 50,\n  \"octets\": 8000\n },\n \"type\": 200,\n \"report_blocks\": "
	    "[\n  {\n   \"source_ssrc\": 2271560481,\n   \"fraction_lost\": 12,\n   "
	    "\"packets_lost\": 4,\n   \"highest_seq_no\": 70000,\n   \"ia_jitter\": 33,\n   "
	    "\"lsr\": 1234567,\n   \"dlsr\": 6553\n  }\n ],\n \"report_count\": 1\n}\n"
	    "{\n \"ssrc\": 305419897,\n \"type\": 201,\n \"report_blocks\": [\n  {\n   "
	    "\"source_ssrc\": 2271560482,\n   \"fraction_lost\": 0,\n   \"packets_lost\": -2,\n   "
	    "\"highest_seq_no\": 100,\n   \"ia_jitter\": 7,\n   \"lsr\": 0,\n   \"dlsr\": 0\n  "
	    "}\n ],\n \"report_count\": 1,\n}\n",
	    0);
	assert_true(c->compound_ok);
	assert_int_equal(c->n_packets, 2);
	assert_int_equal(c->packets[0].pt, SV_RTCP_SR);
	assert_int_equal(c->packets[0].si.ntp_frac, 1288490188u);
	assert_int_equal(c->packets[1].pt, SV_RTCP_RR);
	assert_int_equal(c->packets[1].ssrc, 305419897u);
	assert_false(c->packets[1].has_sender_info);
	assert_int_equal(c->n_blocks, 2);
	assert_int_equal(c->blocks[0].ext_highest_seq, 70000);
	assert_int_equal(c->blocks[0].cumulative_lost, 4);
	assert_int_equal(c->blocks[1].pkt, 1);
	assert_int_equal(c->blocks[1].cumulative_lost, -2);
	assert_int_equal(c->blocks[1].ssrc, 2271560482u);
	free(c);
}

/* captagent src/modules/protocol/rtcp/parser_rtcp.[ch]: one object per
 * compound, a single report block, packets_lost printed with %u of a signed
 * value, SDES as sdes_ssrc + items without SSRC; an SR without blocks has no
 * "type" at all. */
static void test_json_captagent(void **state)
{
	struct sv_rtcp_compound *c = json(
	    "{ \"sender_information\":{\"ntp_timestamp_sec\":3953699806,\"ntp_timestamp_usec\":"
	    "429496729,\"octets\":16000,\"rtp_timestamp\":16000, \"packets\":100},\"ssrc\":"
	    "3735928559,\"type\":200, \"report_blocks\":[{\"source_ssrc\":1111,\"highest_seq_no\":"
	    "65600,\"fraction_lost\":26,\"ia_jitter\":80,\"packets_lost\":4294967294,\"lsr\":"
	    "3197960650,\"dlsr\":13107}],\"report_count\":1,\"sdes_ssrc\":3735928559,"
	    "\"sdes_chunk_ssrc\":16909060,\"sdes_information\": [ {\"type\":1,\"text\":"
	    "\"agent@10.0.0.5\"},{\"type\":6,\"text\":\"captagent\"}],\"sdes_report_count\":2}",
	    0);
	assert_int_equal(c->n_packets, 2);
	assert_int_equal(c->packets[0].pt, SV_RTCP_SR);
	assert_int_equal(c->packets[0].ssrc, 3735928559u);
	assert_int_equal(c->blocks[0].cumulative_lost, -2);
	assert_int_equal(c->blocks[0].fraction_lost, 26);
	assert_int_equal(c->blocks[0].lsr, 3197960650u);
	assert_int_equal(c->n_sdes, 1);
	assert_int_equal(c->sdes[0].ssrc, 3735928559u); /* sdes_ssrc, not the bogus chunk one */
	assert_string_equal(c->sdes[0].cname, "agent@10.0.0.5");
	free(c);

	c = json(
	    "{ \"sender_information\":{\"ntp_timestamp_sec\":3953699806,\"ntp_timestamp_usec\":"
	    "1,\"octets\":160,\"rtp_timestamp\":160, \"packets\":1}}",
	    0);
	assert_int_equal(c->n_packets, 1);
	assert_int_equal(c->packets[0].pt, SV_RTCP_SR);
	assert_true(c->flags & SV_RTCP_F_TYPE_GUESSED);
	assert_int_equal(c->packets[0].si.packet_count, 1);
	assert_int_equal(c->n_blocks, 0);
	free(c);
}

/* heplify protos/rtcp.go: every key always present; "type" is the type of the
 * LAST packet in the compound; sender_information is all zero for an RR;
 * report_blocks_xr carries the head of a VoIP-metrics block (type 7) or
 * zeros (type 0); sdes_ssrc only. */
static void test_json_heplify(void **state)
{
	/* SR + SDES compound: type says 202. */
	struct sv_rtcp_compound *c = json(
	    "{\"sender_information\":{\"ntp_timestamp_sec\":3953771345,\"ntp_timestamp_usec\":"
	    "858993459,\"rtp_timestamp\":2944344000,\"packets\":250,\"octets\":40000},\"ssrc\":"
	    "3571175962,\"type\":202,\"report_count\":1,\"report_blocks\":[{\"source_ssrc\":"
	    "1897498117,\"fraction_lost\":5,\"packets_lost\":12,\"highest_seq_no\":8812,"
	    "\"ia_jitter\":44,\"lsr\":2610032640,\"dlsr\":32768}],\"report_blocks_xr\":{\"type\":0,"
	    "\"id\":0,\"fraction_lost\":0,\"fraction_discard\":0,\"burst_density\":0,"
	    "\"gap_density\":0,\"burst_duration\":0,\"gap_duration\":0,\"round_trip_delay\":0,"
	    "\"end_system_delay\":0},\"sdes_ssrc\":3571175962}",
	    0);
	assert_true(c->compound_ok);
	assert_int_equal(c->n_packets, 2);
	assert_int_equal(c->packets[0].pt, SV_RTCP_SR);
	assert_true(c->flags & SV_RTCP_F_TYPE_GUESSED);
	assert_int_equal(c->packets[0].si.packet_count, 250);
	assert_int_equal(c->blocks[0].ssrc, 1897498117u);
	assert_int_equal(c->blocks[0].cumulative_lost, 12);
	assert_int_equal(c->packets[1].pt, SV_RTCP_SDES);
	assert_int_equal(c->sdes[0].ssrc, 3571175962u);
	assert_int_equal(c->sdes[0].cname_len, 0);
	assert_int_equal(c->n_xr, 0);
	free(c);

	/* RR: zero sender_information must not turn it into an SR; a zero
	 * placeholder block (report_count from the header) is dropped. */
	c = json(
	    "{\"sender_information\":{\"ntp_timestamp_sec\":0,\"ntp_timestamp_usec\":0,"
	    "\"rtp_timestamp\":0,\"packets\":0,\"octets\":0},\"ssrc\":111,\"type\":201,"
	    "\"report_count\":2,\"report_blocks\":[{\"source_ssrc\":222,\"fraction_lost\":1,"
	    "\"packets_lost\":2,\"highest_seq_no\":3,\"ia_jitter\":4,\"lsr\":5,\"dlsr\":6},"
	    "{\"source_ssrc\":0,\"fraction_lost\":0,\"packets_lost\":0,\"highest_seq_no\":0,"
	    "\"ia_jitter\":0,\"lsr\":0,\"dlsr\":0}],\"report_blocks_xr\":{\"type\":0,\"id\":0},"
	    "\"sdes_ssrc\":0}",
	    0);
	assert_int_equal(c->n_packets, 1);
	assert_int_equal(c->packets[0].pt, SV_RTCP_RR);
	assert_false(c->packets[0].has_sender_info);
	assert_int_equal(c->n_blocks, 1);
	assert_int_equal(c->blocks[0].dlsr, 6);
	assert_true(c->flags & SV_RTCP_F_ZERO_BLOCK);
	free(c);

	/* XR with a VoIP-metrics block. */
	c = json(
	    "{\"sender_information\":{\"ntp_timestamp_sec\":0,\"ntp_timestamp_usec\":0,"
	    "\"rtp_timestamp\":0,\"packets\":0,\"octets\":0},\"ssrc\":333,\"type\":207,"
	    "\"report_count\":0,\"report_blocks\":null,\"report_blocks_xr\":{\"type\":7,\"id\":"
	    "444,\"fraction_lost\":20,\"fraction_discard\":3,\"burst_density\":60,"
	    "\"gap_density\":4,\"burst_duration\":200,\"gap_duration\":9000,"
	    "\"round_trip_delay\":120,\"end_system_delay\":60},\"sdes_ssrc\":0}",
	    0);
	assert_false(c->compound_ok);
	assert_int_equal(c->n_packets, 1);
	assert_int_equal(c->packets[0].pt, SV_RTCP_XR);
	assert_int_equal(c->packets[0].ssrc, 333);
	assert_int_equal(c->n_xr, 1);
	assert_true(c->xr[0].partial);
	assert_true(c->flags & SV_RTCP_F_XR_PARTIAL);
	assert_int_equal(c->xr[0].ssrc, 444);
	assert_int_equal(c->xr[0].loss_rate, 20);
	assert_int_equal(c->xr[0].discard_rate, 3);
	assert_int_equal(c->xr[0].burst_density, 60);
	assert_int_equal(c->xr[0].gap_density, 4);
	assert_int_equal(c->xr[0].burst_duration, 200);
	assert_int_equal(c->xr[0].gap_duration, 9000);
	assert_int_equal(c->xr[0].round_trip_delay, 120);
	assert_int_equal(c->xr[0].end_system_delay, 60);
	free(c);
}

/* A heplify rewrite ("mirrors heplify v1.67.1") adds "voip_metrics" with the
 * whole RFC 3611 block, MOS as floats. */
static void test_json_heplify_ng_voip_metrics(void **state)
{
	struct sv_rtcp_compound *c = json(
	    "{\"sender_information\":{\"ntp_timestamp_sec\":0,\"ntp_timestamp_usec\":0,"
	    "\"rtp_timestamp\":0,\"packets\":0,\"octets\":0},\"ssrc\":555,\"type\":207,"
	    "\"report_count\":0,\"report_blocks\":null,\"report_blocks_xr\":{\"type\":7,\"id\":666,"
	    "\"fraction_lost\":2,\"fraction_discard\":1,\"burst_density\":0,\"gap_density\":0,"
	    "\"burst_duration\":0,\"gap_duration\":0,\"round_trip_delay\":30,\"end_system_delay\":"
	    "20},\"voip_metrics\":{\"ssrc\":666,\"loss_rate\":2,\"discard_rate\":1,"
	    "\"burst_density\":0,\"gap_density\":0,\"burst_duration\":0,\"gap_duration\":0,"
	    "\"round_trip_delay\":30,\"end_system_delay\":20,\"signal_level\":-20,\"noise_level\":"
	    "-70,\"rerl\":127,\"gmin\":16,\"r_factor\":90,\"ext_r_factor\":127,\"mos_cq\":4.2,"
	    "\"mos_lq\":4.3,\"rx_config\":128,\"jb_nominal\":40,\"jb_maximum\":80,\"jb_abs_max\":"
	    "200},\"sdes_ssrc\":0}",
	    0);
	assert_int_equal(c->n_xr, 1);
	const struct sv_rtcp_xr_voip *v = &c->xr[0];
	assert_false(v->partial);
	assert_false(c->flags & SV_RTCP_F_XR_PARTIAL);
	assert_int_equal(v->ssrc, 666);
	assert_int_equal(v->loss_rate, 2);
	assert_int_equal(v->round_trip_delay, 30);
	assert_int_equal(v->signal_level, -20);
	assert_int_equal(v->noise_level, -70);
	assert_int_equal(v->gmin, 16);
	assert_int_equal(v->r_factor, 90);
	assert_int_equal(v->mos_cq, 42);
	assert_int_equal(v->mos_lq, 43);
	assert_int_equal(v->rx_config, 128);
	assert_int_equal(v->jb_nominal, 40);
	assert_int_equal(v->jb_max, 80);
	assert_int_equal(v->jb_abs_max, 200);
	free(c);
}

/* Variants: type as a string, numbers as strings (homer's stored form),
 * flat sender keys, a top-level array, and rejects. */
static void test_json_variants_and_errors(void **state)
{
	struct sv_rtcp_compound *c = json(
	    "[{\"type\":\"RR\",\"ssrc\":\"42\",\"report_blocks\":[{\"source_ssrc\":\"43\","
	    "\"fraction_lost\":\"9\",\"packets_lost\":\"-7\",\"highest_seq_no\":\"100\","
	    "\"ia_jitter\":\"5\",\"lsr\":\"-1\",\"dlsr\":\"10\"}]},{\"type\":\"200\",\"ssrc\":44,"
	    "\"ntp_timestamp_sec\":3953699806,\"ntp_timestamp_usec\":5,\"rtp_timestamp\":6,"
	    "\"packets\":7,\"octets\":8}]",
	    0);
	assert_int_equal(c->n_packets, 2);
	assert_int_equal(c->packets[0].pt, SV_RTCP_RR);
	assert_int_equal(c->packets[0].ssrc, 42);
	assert_int_equal(c->blocks[0].ssrc, 43);
	assert_int_equal(c->blocks[0].fraction_lost, 9);
	assert_int_equal(c->blocks[0].cumulative_lost, -7);
	assert_int_equal(c->blocks[0].lsr, 0xffffffffu);
	assert_int_equal(c->packets[1].pt, SV_RTCP_SR);
	assert_true(c->packets[1].has_sender_info);
	assert_int_equal(c->packets[1].si.octet_count, 8);
	free(c);

	c = json("{\"type\":203,\"ssrc\":99}", 0);
	assert_int_equal(c->packets[0].pt, SV_RTCP_BYE);
	assert_int_equal(c->n_bye, 1);
	assert_int_equal(c->bye[0].ssrc, 99);
	free(c);

	free(json("", SV_E_PARSE));
	free(json("not json", SV_E_PARSE));
	free(json("{\"foo\":1}", SV_E_PARSE));
	free(json("{\"type\":200", SV_E_PARSE));
	free(json("[1,2]", SV_E_PARSE));
	free(json("{\"type\":201,\"ssrc\":1,\"report_blocks\":[]} garbage", SV_E_PARSE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hep_pcap),
	    cmocka_unit_test(test_roundtrip_auth_ipv6),
	    cmocka_unit_test(test_compressed_payload),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_binary_rtcp_over_hep),
	    cmocka_unit_test(test_json_rtpengine),
	    cmocka_unit_test(test_json_rtpproxy),
	    cmocka_unit_test(test_json_captagent),
	    cmocka_unit_test(test_json_heplify),
	    cmocka_unit_test(test_json_heplify_ng_voip_metrics),
	    cmocka_unit_test(test_json_variants_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
