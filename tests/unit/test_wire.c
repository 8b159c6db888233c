#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/errors.h"
#include "testutil.h"
#include "proto/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S(lit)                                          \
	(struct sv_wire_str)                            \
	{                                               \
		(const uint8_t *)(lit), sizeof(lit) - 1 \
	}

static int str_eq(struct sv_wire_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static struct sv_wire_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct sv_wire_addr x;
	memset(&x, 0, sizeof(x));
	x.family = 4;
	x.ip[0] = a;
	x.ip[1] = b;
	x.ip[2] = c;
	x.ip[3] = d;
	x.port = port;
	return x;
}

static struct sv_wire_addr v6(uint8_t last, uint16_t port)
{
	struct sv_wire_addr x;
	memset(&x, 0, sizeof(x));
	x.family = 6;
	x.ip[0] = 0x20;
	x.ip[1] = 0x01;
	x.ip[2] = 0x0d;
	x.ip[3] = 0xb8;
	x.ip[15] = last;
	x.port = port;
	return x;
}

static void assert_addr_equal(const struct sv_wire_addr *a, const struct sv_wire_addr *b)
{
	assert_int_equal(a->family, b->family);
	assert_int_equal(a->port, b->port);
	assert_memory_equal(a->ip, b->ip, a->family == 6 ? 16 : 4);
}

/* Parses the only frame in b (which must hold exactly one). */
static void one_frame(const struct sv_buf *b, struct sv_wire_frame *f)
{
	size_t used;
	assert_int_equal(sv_wire_frame_parse(b->data, b->len, f, &used), 0);
	assert_int_equal(used, b->len);
}

static void assert_hex(const struct sv_buf *got, const char *hex)
{
	struct sv_buf want;
	sv_buf_init(&want);
	assert_int_equal(tu_unhex(hex, &want), 0);
	assert_int_equal(got->len, want.len);
	assert_memory_equal(got->data, want.data, want.len);
	sv_buf_release(&want);
}

/* ------------------------------------------------------------ exact layouts */

static void test_handshake_bytes(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_wire_handshake hs = {S("acme"), S("s3cr3t"), S("1.0.0"), 0, {NULL, 0}};
	assert_int_equal(sv_wire_encode_handshake(&b, 1, &hs), 0);
	/* What the reference (Go) agent writes for the same handshake. */
	assert_hex(&b, "5356 01 01 00000015 00000001"
	               "0004 61636d65"
	               "0006 733363723374"
	               "0005 312e302e30");
	struct sv_wire_frame f;
	one_frame(&b, &f);
	assert_int_equal(f.type, SV_WIRE_HANDSHAKE);
	assert_int_equal(f.seq, 1);
	struct sv_wire_handshake m;
	assert_int_equal(sv_wire_decode_handshake(&f, &m), 0);
	assert_true(str_eq(m.customer_id, "acme"));
	assert_true(str_eq(m.token, "s3cr3t"));
	assert_true(str_eq(m.agent_version, "1.0.0"));
	assert_int_equal(m.has_caps, 0);
	sv_buf_release(&b);
}

static void test_sip_bytes_ipv4(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_wire_sip m = {
	    .ts_ns = 1764151205250000000ULL,
	    .call_id = S("abc@h"),
	    .direction = SV_WIRE_DIR_INBOUND,
	    .src = v4(192, 0, 2, 1, 5060),
	    .dst = v4(198, 51, 100, 2, 5080),
	    .sip = S("OPTIONS sip:x SIP/2.0\r\n\r\n"),
	};
	assert_int_equal(sv_wire_encode_sip(&b, 42, &m), 0);
	assert_hex(&b, "5356 01 03 00000035 0000002a"
	               "187b862c9f00e480"
	               "0005 6162634068"
	               "00"
	               "c0000201 13c4"
	               "c6336402 13d8"
	               "4f5054494f4e53207369703a78205349502f322e300d0a0d0a");
	struct sv_wire_frame f;
	struct sv_wire_sip d;
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_sip(&f, &d), 0);
	assert_true(d.ts_ns == m.ts_ns);
	assert_true(str_eq(d.call_id, "abc@h"));
	assert_int_equal(d.direction, SV_WIRE_DIR_INBOUND);
	assert_addr_equal(&d.src, &m.src);
	assert_addr_equal(&d.dst, &m.dst);
	assert_true(str_eq(d.sip, "OPTIONS sip:x SIP/2.0\r\n\r\n"));
	sv_buf_release(&b);
}

static void test_heartbeat_bytes(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_wire_encode_heartbeat(&b, SV_WIRE_HEARTBEAT, 7, 0x0102030405060708ULL),
	                 0);
	assert_hex(&b, "5356 01 06 00000008 00000007 0102030405060708");
	sv_buf_reset(&b);
	assert_int_equal(
	    sv_wire_encode_heartbeat(&b, SV_WIRE_HEARTBEAT_ACK, 7, 0x0102030405060708ULL), 0);
	assert_hex(&b, "5356 01 07 00000008 00000007 0102030405060708");
	struct sv_wire_frame f;
	struct sv_wire_heartbeat h;
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_heartbeat(&f, &h), 0);
	assert_true(h.ts_ns == 0x0102030405060708ULL);
	assert_int_equal(sv_wire_encode_heartbeat(&b, SV_WIRE_DATA_SIP, 7, 1), -EINVAL);
	sv_buf_release(&b);
}

static void test_ack_bytes(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_wire_encode_ack(&b, 0, 0xdeadbeef), 0);
	assert_hex(&b, "5356 01 09 00000004 00000000 deadbeef");
	struct sv_wire_frame f;
	struct sv_wire_ack a;
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_ack(&f, &a), 0);
	assert_int_equal(a.seq, 0xdeadbeef);
	sv_buf_release(&b);
}

/* ------------------------------------------------------------ round trips */

static void test_handshake_caps_roundtrip(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_wire_handshake hs = {S("acme"), S("tok"), S("sipvault-agent 0.1.0"), 1,
	                               S("ack,rtcp-addr,stats")};
	assert_int_equal(sv_wire_encode_handshake(&b, 0, &hs), 0);
	struct sv_wire_frame f;
	struct sv_wire_handshake m;
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_handshake(&f, &m), 0);
	assert_int_equal(m.has_caps, 1);
	assert_int_equal(sv_wire_caps_parse(m.caps.p, m.caps.len), SV_WIRE_CAP_ALL);

	/* An empty capability list is present but offers nothing. */
	sv_buf_reset(&b);
	hs.caps = S("");
	assert_int_equal(sv_wire_encode_handshake(&b, 0, &hs), 0);
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_handshake(&f, &m), 0);
	assert_int_equal(m.has_caps, 1);
	assert_int_equal(m.caps.len, 0);

	/* HANDSHAKE_ACK without and with the accepted list. */
	struct sv_wire_handshake_ack ack = {SV_WIRE_STATUS_OK, S("welcome"), 0, {NULL, 0}};
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_handshake_ack(&b, 3, &ack), 0);
	assert_hex(&b, "5356 01 02 0000000a 00000003 00 0007 77656c636f6d65");
	struct sv_wire_handshake_ack ma;
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_handshake_ack(&f, &ma), 0);
	assert_int_equal(ma.status, 0);
	assert_true(str_eq(ma.message, "welcome"));
	assert_int_equal(ma.has_caps, 0);

	struct sv_buf caps;
	sv_buf_init(&caps);
	assert_int_equal(sv_wire_caps_format(SV_WIRE_CAP_ACK | SV_WIRE_CAP_STATS, &caps), 0);
	assert_string_equal((char *)caps.data, "ack,stats");
	ack.status = SV_WIRE_STATUS_AUTH_FAILED;
	ack.has_caps = 1;
	ack.caps.p = caps.data;
	ack.caps.len = caps.len;
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_handshake_ack(&b, 3, &ack), 0);
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_handshake_ack(&f, &ma), 0);
	assert_int_equal(ma.status, SV_WIRE_STATUS_AUTH_FAILED);
	assert_int_equal(ma.has_caps, 1);
	assert_int_equal(sv_wire_caps_parse(ma.caps.p, ma.caps.len),
	                 SV_WIRE_CAP_ACK | SV_WIRE_CAP_STATS);
	sv_buf_release(&caps);
	sv_buf_release(&b);
}

static void test_caps_parse(void **state)
{
	const char *s = " ack , future-thing,,stats\t,ACK,rtcp-addrx,rtcp-addr";
	assert_int_equal(sv_wire_caps_parse((const uint8_t *)s, strlen(s)), SV_WIRE_CAP_ALL);
	s = "rtcp-add,ac,k";
	assert_int_equal(sv_wire_caps_parse((const uint8_t *)s, strlen(s)), 0);
	assert_int_equal(sv_wire_caps_parse(NULL, 0), 0);
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_wire_caps_format(0, &b), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(sv_wire_caps_format(SV_WIRE_CAP_ALL, &b), 0);
	assert_string_equal((char *)b.data, "ack,rtcp-addr,stats");
	sv_buf_release(&b);
}

static void test_sip_roundtrip_ipv6(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_wire_sip m = {
	    .ts_ns = 1,
	    .call_id = S("v6-call"),
	    .direction = SV_WIRE_DIR_OUTBOUND,
	    .src = v6(1, 5060),
	    .dst = v6(2, 5062),
	    .sip = S("SIP/2.0 200 OK\r\n\r\n"),
	};
	assert_int_equal(sv_wire_encode_sip(&b, 9, &m), 0);
	assert_int_equal(b.len, 12 + 8 + 2 + 7 + 1 + 2 * 18 + m.sip.len);
	assert_int_equal(b.data[12 + 8 + 2 + 7], 0x81); /* outbound | IPv6 */
	struct sv_wire_frame f;
	struct sv_wire_sip d;
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_sip(&f, &d), 0);
	assert_int_equal(d.direction, SV_WIRE_DIR_OUTBOUND);
	assert_int_equal(d.src.family, 6);
	assert_addr_equal(&d.src, &m.src);
	assert_addr_equal(&d.dst, &m.dst);
	assert_true(str_eq(d.sip, "SIP/2.0 200 OK\r\n\r\n"));

	/* Mixed families and bad directions cannot be encoded. */
	size_t len = b.len;
	m.dst = v4(1, 2, 3, 4, 5);
	assert_int_equal(sv_wire_encode_sip(&b, 9, &m), -EINVAL);
	m.dst = v6(2, 5062);
	m.direction = 2;
	assert_int_equal(sv_wire_encode_sip(&b, 9, &m), -EINVAL);
	m.direction = 0;
	m.src.family = 5;
	assert_int_equal(sv_wire_encode_sip(&b, 9, &m), -EINVAL);
	assert_int_equal(b.len, len);
	sv_buf_release(&b);
}

static void test_rtcp_roundtrip(void **state)
{
	static const uint8_t rr[] = {0x81, 0xc9, 0x00, 0x07, 0, 0, 0x10, 0};
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_wire_rtcp m;
	memset(&m, 0, sizeof(m));
	m.ts_ns = 123456789;
	m.call_id = S("c1");
	m.ssrc = 4096;
	m.rtcp.p = rr;
	m.rtcp.len = sizeof(rr);
	assert_int_equal(sv_wire_encode_rtcp(&b, 5, &m), 0);
	assert_hex(&b, "5356 01 04 00000018 00000005 00000000075bcd15 0002 6331"
	               "00001000 81c9000700001000");
	assert_int_equal(b.data[11], 5);
	struct sv_wire_frame f;
	struct sv_wire_rtcp d;
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_rtcp(&f, &d), 0);
	assert_int_equal(d.has_addr, 0);
	assert_int_equal(d.ssrc, 4096);
	assert_int_equal(d.rtcp.len, sizeof(rr));
	assert_memory_equal(d.rtcp.p, rr, sizeof(rr));

	for (int fam = 4; fam <= 6; fam += 2) {
		m.has_addr = 1;
		m.flags = 0x01; /* reserved bits go through as given */
		m.src = fam == 4 ? v4(198, 51, 100, 1, 10001) : v6(1, 10001);
		m.dst = fam == 4 ? v4(203, 0, 113, 1, 20001) : v6(2, 20001);
		sv_buf_reset(&b);
		assert_int_equal(sv_wire_encode_rtcp(&b, 6, &m), 0);
		one_frame(&b, &f);
		assert_int_equal(f.type, SV_WIRE_DATA_RTCP_ADDR);
		assert_int_equal(f.len, 8 + 4 + 1 + 2 * (fam == 4 ? 6 : 18) + 4 + sizeof(rr));
		assert_int_equal(sv_wire_decode_rtcp(&f, &d), 0);
		assert_int_equal(d.has_addr, 1);
		assert_int_equal(d.flags, fam == 6 ? 0x81 : 0x01);
		assert_addr_equal(&d.src, &m.src);
		assert_addr_equal(&d.dst, &m.dst);
		assert_int_equal(d.ssrc, 4096);
		assert_true(d.ts_ns == 123456789);
		assert_memory_equal(d.rtcp.p, rr, sizeof(rr));
	}
	sv_buf_release(&b);
}

static void test_log_quality_stats_roundtrip(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_wire_frame f;

	struct sv_wire_log lg = {99, S("call-1"), S("Nov 26 10:00:05 proxy[12]: INVITE routed")};
	assert_int_equal(sv_wire_encode_log(&b, 1, &lg), 0);
	struct sv_wire_log dl;
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_log(&f, &dl), 0);
	assert_true(dl.ts_ns == 99);
	assert_true(str_eq(dl.call_id, "call-1"));
	assert_true(str_eq(dl.line, "Nov 26 10:00:05 proxy[12]: INVITE routed"));

	struct sv_wire_quality q = {100, S("call-1"), S("{\"mos\":4.1}")};
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_quality(&b, 2, &q), 0);
	struct sv_wire_quality dq;
	one_frame(&b, &f);
	assert_int_equal(f.type, SV_WIRE_DATA_QUALITY);
	assert_int_equal(sv_wire_decode_quality(&f, &dq), 0);
	assert_true(dq.ts_ns == 100);
	assert_true(str_eq(dq.json, "{\"mos\":4.1}"));

	struct sv_wire_stats st = {101, S("{\"drops\":3}")};
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_stats(&b, 3, &st), 0);
	struct sv_wire_stats ds;
	one_frame(&b, &f);
	assert_int_equal(f.type, SV_WIRE_AGENT_STATS);
	assert_int_equal(sv_wire_decode_stats(&f, &ds), 0);
	assert_true(ds.ts_ns == 101);
	assert_true(str_eq(ds.json, "{\"drops\":3}"));

	/* Empty Call-ID and empty remainder are valid on the wire. */
	struct sv_wire_log empty = {0, {NULL, 0}, {NULL, 0}};
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_log(&b, 0, &empty), 0);
	assert_hex(&b, "5356 01 05 0000000a 00000000 0000000000000000 0000");
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_log(&f, &dl), 0);
	assert_int_equal(dl.call_id.len, 0);
	assert_int_equal(dl.line.len, 0);

	/* A decoder refuses frames of another type. */
	assert_int_equal(sv_wire_decode_sip(&f, &(struct sv_wire_sip){0}), -EINVAL);
	assert_int_equal(sv_wire_decode_quality(&f, &dq), -EINVAL);
	assert_int_equal(sv_wire_decode_stats(&f, &ds), -EINVAL);
	assert_int_equal(sv_wire_decode_rtcp(&f, &(struct sv_wire_rtcp){0}), -EINVAL);
	assert_int_equal(sv_wire_decode_heartbeat(&f, &(struct sv_wire_heartbeat){0}), -EINVAL);
	assert_int_equal(sv_wire_decode_ack(&f, &(struct sv_wire_ack){0}), -EINVAL);
	assert_int_equal(sv_wire_decode_handshake(&f, &(struct sv_wire_handshake){0}), -EINVAL);
	assert_int_equal(sv_wire_decode_handshake_ack(&f, &(struct sv_wire_handshake_ack){0}),
	                 -EINVAL);
	sv_buf_release(&b);
}

static void test_long_callid(void **state)
{
	/* Longer than the reference agent's 512: still a valid u16 string. */
	size_t n = 65535;
	char *id = malloc(n);
	assert_non_null(id);
	memset(id, 'x', n);
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_wire_log lg = {1, {(const uint8_t *)id, n}, S("l")};
	assert_int_equal(sv_wire_encode_log(&b, 1, &lg), 0);
	struct sv_wire_frame f;
	struct sv_wire_log d;
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_log(&f, &d), 0);
	assert_int_equal(d.call_id.len, n);
	assert_true(str_eq(d.line, "l"));
	size_t len = b.len;
	lg.call_id.len = n + 1;
	assert_int_equal(sv_wire_encode_log(&b, 1, &lg), -EINVAL);
	assert_int_equal(b.len, len);
	free(id);
	sv_buf_release(&b);
}

/* ------------------------------------------------------------ truncation */

/* Feeds every prefix of f's payload to decode(); cuts shorter than `fixed`
 * must give SV_E_TRUNC, longer ones must decode, except cuts strictly inside
 * (opt_from, opt_to) which must give SV_E_TRUNC too. */
static void cut_all(const struct sv_buf *b, size_t fixed, size_t opt_from, size_t opt_to,
                    int (*decode)(const struct sv_wire_frame *, void *), void *out)
{
	struct sv_wire_frame f;
	one_frame(b, &f);
	for (uint32_t cut = 0; cut <= f.len; cut++) {
		/* An exact-size copy so ASan sees any read past the cut. */
		uint8_t *p = malloc(cut ? cut : 1);
		assert_non_null(p);
		memcpy(p, f.payload, cut);
		struct sv_wire_frame g = f;
		g.len = cut;
		g.payload = p;
		int want = cut < fixed ? SV_E_TRUNC : 0;
		if (cut > opt_from && cut < opt_to)
			want = SV_E_TRUNC;
		int rc = decode(&g, out);
		if (rc != want)
			fail_msg("cut %u of %u: got %d want %d", cut, f.len, rc, want);
		free(p);
	}
}

static int dec_hs(const struct sv_wire_frame *f, void *m)
{
	return sv_wire_decode_handshake(f, m);
}
static int dec_hsa(const struct sv_wire_frame *f, void *m)
{
	return sv_wire_decode_handshake_ack(f, m);
}
static int dec_sip(const struct sv_wire_frame *f, void *m)
{
	return sv_wire_decode_sip(f, m);
}
static int dec_rtcp(const struct sv_wire_frame *f, void *m)
{
	return sv_wire_decode_rtcp(f, m);
}
static int dec_log(const struct sv_wire_frame *f, void *m)
{
	return sv_wire_decode_log(f, m);
}
static int dec_q(const struct sv_wire_frame *f, void *m)
{
	return sv_wire_decode_quality(f, m);
}
static int dec_hb(const struct sv_wire_frame *f, void *m)
{
	return sv_wire_decode_heartbeat(f, m);
}
static int dec_ack(const struct sv_wire_frame *f, void *m)
{
	return sv_wire_decode_ack(f, m);
}
static int dec_st(const struct sv_wire_frame *f, void *m)
{
	return sv_wire_decode_stats(f, m);
}

static void test_truncated_fields(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	union {
		struct sv_wire_handshake hs;
		struct sv_wire_handshake_ack ha;
		struct sv_wire_sip sip;
		struct sv_wire_rtcp rtcp;
		struct sv_wire_log log;
		struct sv_wire_quality q;
		struct sv_wire_heartbeat hb;
		struct sv_wire_ack ack;
		struct sv_wire_stats st;
	} out;

	struct sv_wire_handshake hs = {S("acme"), S("tok"), S("1.2"), 1, S("ack")};
	assert_int_equal(sv_wire_encode_handshake(&b, 1, &hs), 0);
	/* 3 strings = 6+5+5 = 16 bytes; caps (2+3) optional: cuts 17..20 truncate it */
	cut_all(&b, 16, 16, 21, dec_hs, &out);

	struct sv_wire_handshake_ack ha = {0, S("ok"), 1, S("ack")};
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_handshake_ack(&b, 1, &ha), 0);
	cut_all(&b, 5, 5, 10, dec_hsa, &out);

	for (int fam = 4; fam <= 6; fam += 2) {
		struct sv_wire_sip sip = {7,
		                          S("cid"),
		                          1,
		                          fam == 4 ? v4(1, 2, 3, 4, 5) : v6(1, 5),
		                          fam == 4 ? v4(5, 6, 7, 8, 9) : v6(2, 9),
		                          S("INVITE")};
		sv_buf_reset(&b);
		assert_int_equal(sv_wire_encode_sip(&b, 1, &sip), 0);
		cut_all(&b, 8 + 5 + 1 + 2 * (fam == 4 ? 6 : 18), 0, 0, dec_sip, &out);

		struct sv_wire_rtcp rtcp = {7,       S("cid"), 1, 0,
		                            sip.src, sip.dst,  1, S("\x80\xc9\x00\x01")};
		sv_buf_reset(&b);
		assert_int_equal(sv_wire_encode_rtcp(&b, 1, &rtcp), 0);
		cut_all(&b, 8 + 5 + 1 + 2 * (fam == 4 ? 6 : 18) + 4, 0, 0, dec_rtcp, &out);
	}
	struct sv_wire_rtcp rtcp = {0};
	rtcp.call_id = S("cid");
	rtcp.rtcp = S("xx");
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_rtcp(&b, 1, &rtcp), 0);
	cut_all(&b, 8 + 5 + 4, 0, 0, dec_rtcp, &out);

	struct sv_wire_log lg = {1, S("cid"), S("line")};
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_log(&b, 1, &lg), 0);
	cut_all(&b, 13, 0, 0, dec_log, &out);

	struct sv_wire_quality q = {1, S("cid"), S("{}")};
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_quality(&b, 1, &q), 0);
	cut_all(&b, 13, 0, 0, dec_q, &out);

	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_heartbeat(&b, SV_WIRE_HEARTBEAT, 1, 5), 0);
	cut_all(&b, 8, 0, 0, dec_hb, &out);

	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_ack(&b, 1, 5), 0);
	cut_all(&b, 4, 0, 0, dec_ack, &out);

	struct sv_wire_stats st = {1, S("{}")};
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_stats(&b, 1, &st), 0);
	cut_all(&b, 8, 0, 0, dec_st, &out);
	sv_buf_release(&b);
}

static void test_garbage_fields(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_wire_sip sip = {7, S("cid"), 0, v4(1, 2, 3, 4, 5), v4(5, 6, 7, 8, 9), S("x")};
	assert_int_equal(sv_wire_encode_sip(&b, 1, &sip), 0);
	size_t dir_off = 12 + 8 + 5;
	struct sv_wire_frame f;
	struct sv_wire_sip d;
	static const uint8_t bad_dirs[] = {0x02, 0x7f, 0x82, 0x40};
	for (size_t i = 0; i < sizeof(bad_dirs); i++) {
		b.data[dir_off] = bad_dirs[i];
		one_frame(&b, &f);
		assert_int_equal(sv_wire_decode_sip(&f, &d), SV_E_PARSE);
	}
	/* Setting the IPv6 bit on an IPv4 frame makes the addresses run out. */
	b.data[dir_off] = 0x80;
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_sip(&f, &d), SV_E_TRUNC);
	/* A Call-ID length beyond the payload. */
	b.data[dir_off] = 0x00;
	b.data[12 + 8] = 0xff;
	one_frame(&b, &f);
	assert_int_equal(sv_wire_decode_sip(&f, &d), SV_E_TRUNC);

	/* Trailing bytes after fixed-layout frames are ignored. */
	static const uint8_t hb[] = {0, 0, 0, 0, 0, 0, 0, 9, 0xaa, 0xbb};
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_raw(&b, SV_WIRE_HEARTBEAT, 1, hb, sizeof(hb)), 0);
	one_frame(&b, &f);
	struct sv_wire_heartbeat h;
	assert_int_equal(sv_wire_decode_heartbeat(&f, &h), 0);
	assert_true(h.ts_ns == 9);
	sv_buf_release(&b);
}

/* ------------------------------------------------------------ header encoder */

static void test_header_encode_and_set_seq(void **state)
{
	struct sv_wire_frame f = {.version = 0, .type = SV_WIRE_DATA_LOG, .len = 0x0102, .seq = 7};
	uint8_t hdr[SV_WIRE_HDR_LEN];
	struct sv_buf b, want;

	/* version 1 is written whatever f.version holds */
	sv_wire_header_encode(&f, hdr);
	sv_buf_init(&b);
	sv_buf_init(&want);
	assert_int_equal(sv_buf_append(&b, hdr, sizeof(hdr)), 0);
	assert_hex(&b, "5356 01 05 00000102 00000007");
	/* a parsed header re-encodes to the same bytes */
	struct sv_wire_frame g;
	assert_int_equal(sv_wire_header_parse(hdr, &g), 0);
	sv_wire_header_encode(&g, hdr);
	assert_memory_equal(hdr, b.data, sizeof(hdr));
	/* renumbering an encoded frame touches the sequence only */
	sv_buf_reset(&b);
	assert_int_equal(sv_wire_encode_heartbeat(&b, SV_WIRE_HEARTBEAT, 0, 9), 0);
	sv_wire_header_set_seq(b.data, 0xfffffffe);
	assert_hex(&b, "5356 01 06 00000008 fffffffe 0000000000000009");
	/* what the server journals for a received frame: header + payload */
	struct sv_wire_frame h;
	one_frame(&b, &h);
	sv_wire_header_encode(&h, hdr);
	assert_memory_equal(hdr, b.data, sizeof(hdr));
	sv_buf_release(&b);
	sv_buf_release(&want);
}

/* The agent version is the agent's software version, any text: the codec
 * carries it unchanged; only the header's protocol byte is judged. */
static void test_handshake_any_agent_version(void **state)
{
	static const char *const versions[] = {"578bc6f", "2.0.0", "dev", "", "v3-rc1+dirty"};
	struct sv_buf b;
	sv_buf_init(&b);
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct sv_wire_str v = {(const uint8_t *)versions[i], strlen(versions[i])};
		struct sv_wire_handshake hs = {S("acme"), S("t"), v, 0, {NULL, 0}};
		struct sv_wire_handshake m;
		struct sv_wire_frame f;
		sv_buf_reset(&b);
		assert_int_equal(sv_wire_encode_handshake(&b, 1, &hs), 0);
		one_frame(&b, &f);
		assert_int_equal(f.version, SV_WIRE_VERSION);
		assert_int_equal(sv_wire_decode_handshake(&f, &m), 0);
		assert_true(str_eq(m.agent_version, versions[i]));
		/* the same handshake under protocol byte 2 is refused by its header */
		b.data[2] = 0x02;
		size_t used;
		assert_int_equal(sv_wire_frame_parse(b.data, b.len, &f, &used), SV_E_UNSUPP);
		assert_int_equal(sv_wire_frame_parse(b.data, 3, &f, &used), SV_E_UNSUPP);
	}
	sv_buf_release(&b);
}

/* ------------------------------------------------------------ header limits */

static void test_header_limits(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	uint8_t *big = calloc(1, SV_WIRE_MAX_PAYLOAD + 1);
	assert_non_null(big);
	assert_int_equal(sv_wire_encode_raw(&b, SV_WIRE_DATA_LOG, 1, big, SV_WIRE_MAX_PAYLOAD + 1),
	                 SV_E_TOOBIG);
	assert_int_equal(b.len, 0);
	assert_int_equal(sv_wire_encode_raw(&b, SV_WIRE_DATA_LOG, 1, big, SV_WIRE_MAX_PAYLOAD), 0);
	assert_int_equal(b.len, SV_WIRE_HDR_LEN + SV_WIRE_MAX_PAYLOAD);
	struct sv_wire_frame f;
	size_t used;
	assert_int_equal(sv_wire_frame_parse(b.data, b.len, &f, &used), 0);
	assert_int_equal(f.len, SV_WIRE_MAX_PAYLOAD);
	assert_int_equal(sv_wire_frame_parse(b.data, b.len - 1, &f, &used), SV_E_AGAIN);
	/* A DATA_SIP whose body would push the payload over the limit. */
	struct sv_wire_sip sip = {7, S("c"), 0, v4(1, 2, 3, 4, 5), v4(5, 6, 7, 8, 9), {big, 0}};
	sip.sip.len = SV_WIRE_MAX_PAYLOAD - (8 + 3 + 1 + 12);
	size_t len = b.len;
	assert_int_equal(sv_wire_encode_sip(&b, 1, &sip), 0);
	sip.sip.len++;
	assert_int_equal(sv_wire_encode_sip(&b, 1, &sip), SV_E_TOOBIG);
	assert_int_equal(b.len, len + SV_WIRE_HDR_LEN + SV_WIRE_MAX_PAYLOAD);

	/* The streaming decoder: exactly 1 MiB passes, split in two feeds. */
	struct sv_wire_decoder d;
	sv_wire_decoder_init(&d);
	assert_int_equal(sv_wire_decoder_feed(&d, b.data, 1000), 0);
	assert_int_equal(sv_wire_decoder_next(&d, &f), 0);
	assert_int_equal(sv_wire_decoder_feed(&d, b.data + 1000, b.len - 1000), 0);
	assert_int_equal(sv_wire_decoder_next(&d, &f), 1);
	assert_int_equal(f.len, SV_WIRE_MAX_PAYLOAD);
	assert_true(d.cap <= SV_WIRE_HDR_LEN + SV_WIRE_MAX_PAYLOAD);
	assert_int_equal(sv_wire_decoder_next(&d, &f), 1);
	assert_int_equal(f.type, SV_WIRE_DATA_SIP);
	assert_int_equal(sv_wire_decoder_next(&d, &f), 0);
	assert_int_equal(sv_wire_decoder_pending(&d), 0);
	assert_null(d.buf); /* the large assembly buffer was dropped */
	assert_int_equal(d.frames, 2);

	/* 1 MiB + 1 is refused from its header alone. */
	struct sv_buf h;
	sv_buf_init(&h);
	assert_int_equal(tu_unhex("5356 01 03 00100001 00000000", &h), 0);
	assert_int_equal(sv_wire_frame_parse(h.data, h.len, &f, &used), SV_E_TOOBIG);
	assert_int_equal(sv_wire_decoder_feed(&d, h.data, h.len), 0);
	assert_int_equal(sv_wire_decoder_next(&d, &f), SV_E_TOOBIG);
	assert_non_null(strstr(sv_wire_decoder_fault(&d), "DATA_SIP"));
	/* The error is sticky. */
	assert_int_equal(sv_wire_decoder_next(&d, &f), SV_E_TOOBIG);
	assert_int_equal(sv_wire_decoder_feed(&d, h.data, h.len), SV_E_TOOBIG);
	sv_wire_decoder_release(&d);

	/* Same header split byte by byte. */
	sv_wire_decoder_init(&d);
	int rc = 0;
	for (size_t i = 0; i < h.len && rc == 0; i++) {
		assert_int_equal(sv_wire_decoder_feed(&d, h.data + i, 1), 0);
		rc = sv_wire_decoder_next(&d, &f);
	}
	assert_int_equal(rc, SV_E_TOOBIG);
	sv_wire_decoder_release(&d);
	sv_buf_release(&h);
	free(big);
	sv_buf_release(&b);
}

static void expect_stream_error(const char *hex, int want, const char *fault_part)
{
	struct sv_buf h;
	struct sv_wire_decoder d;
	struct sv_wire_frame f;
	sv_buf_init(&h);
	assert_int_equal(tu_unhex(hex, &h), 0);
	/* all at once */
	sv_wire_decoder_init(&d);
	assert_int_equal(sv_wire_decoder_feed(&d, h.data, h.len), 0);
	assert_int_equal(sv_wire_decoder_next(&d, &f), want);
	assert_non_null(strstr(sv_wire_decoder_fault(&d), fault_part));
	sv_wire_decoder_release(&d);
	/* byte by byte: detected as soon as the bad byte arrives */
	sv_wire_decoder_init(&d);
	int rc = 0;
	size_t i;
	for (i = 0; i < h.len && rc == 0; i++) {
		assert_int_equal(sv_wire_decoder_feed(&d, h.data + i, 1), 0);
		rc = sv_wire_decoder_next(&d, &f);
	}
	assert_int_equal(rc, want);
	sv_wire_decoder_release(&d);
	sv_buf_release(&h);
}

static void test_bad_magic_and_version(void **state)
{
	expect_stream_error("474554202f20485454502f312e310d0a", SV_E_PARSE, "bad magic 0x4745");
	expect_stream_error("5357 01 06 00000008 00000000", SV_E_PARSE, "bad magic");
	expect_stream_error("5356 02 01 00000000 00000000", SV_E_UNSUPP, "version 2");
	expect_stream_error("5356 00 06 00000008 00000000", SV_E_UNSUPP, "version 0");
	/* A good frame, then garbage: the good frame is still delivered. */
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_wire_encode_heartbeat(&b, SV_WIRE_HEARTBEAT, 1, 1), 0);
	assert_int_equal(sv_buf_append(&b, "\x00\x01", 2), 0);
	struct sv_wire_decoder d;
	struct sv_wire_frame f;
	sv_wire_decoder_init(&d);
	assert_int_equal(sv_wire_decoder_feed(&d, b.data, b.len), 0);
	assert_int_equal(sv_wire_decoder_next(&d, &f), 1);
	assert_int_equal(sv_wire_decoder_next(&d, &f), SV_E_PARSE);
	assert_non_null(strstr(sv_wire_decoder_fault(&d), "offset 20"));
	sv_wire_decoder_release(&d);
	sv_buf_release(&b);
	size_t used;
	const uint8_t one[] = {0x54};
	assert_int_equal(sv_wire_frame_parse(one, 1, &f, &used), SV_E_PARSE);
	assert_int_equal(sv_wire_frame_parse(one, 0, &f, &used), SV_E_AGAIN);
}

/* ------------------------------------------------------------ streaming */

#define NFRAMES 300

struct expect {
	size_t off; /* of the frame in the stream */
	struct sv_wire_frame f;
};

/* Builds a realistic mix (every type, seq 0 and repeats, unknown types) and
 * records each frame as the one-shot parser sees it. */
static void build_stream(struct sv_buf *b, struct expect *ex, size_t *n)
{
	static char body[1500];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)('a' + i % 26);
	sv_buf_init(b);
	for (int i = 0; i < NFRAMES; i++) {
		uint32_t seq = i % 7 == 0 ? 0 : (uint32_t)(i / 2); /* zeros and repeats */
		struct sv_wire_str cid = {(const uint8_t *)body, (size_t)(5 + i % 40)};
		struct sv_wire_str rest = {(const uint8_t *)body, (size_t)(i * 37 % 1400)};
		int rc = 0;
		switch (i % 10) {
		case 0: {
			struct sv_wire_handshake hs = {cid, cid, S("1.0"), i % 20 == 0, S("ack")};
			rc = sv_wire_encode_handshake(b, seq, &hs);
			break;
		}
		case 1:
		case 2: {
			struct sv_wire_sip m = {(uint64_t)i,
			                        cid,
			                        (uint8_t)(i & 1),
			                        i % 3 ? v4(10, 0, 0, 1, 5060) : v6(1, 5060),
			                        i % 3 ? v4(10, 0, 0, 2, 5060) : v6(2, 5060),
			                        rest};
			rc = sv_wire_encode_sip(b, seq, &m);
			break;
		}
		case 3: {
			struct sv_wire_rtcp m = {
			    (uint64_t)i,       cid, i % 2, 0, v4(1, 1, 1, 1, 1),
			    v4(2, 2, 2, 2, 2), 77,  rest};
			rc = sv_wire_encode_rtcp(b, seq, &m);
			break;
		}
		case 4: {
			struct sv_wire_log m = {(uint64_t)i, cid, rest};
			rc = sv_wire_encode_log(b, seq, &m);
			break;
		}
		case 5:
			rc = sv_wire_encode_heartbeat(b, SV_WIRE_HEARTBEAT, seq, (uint64_t)i);
			break;
		case 6: {
			struct sv_wire_quality m = {(uint64_t)i, cid, rest};
			rc = sv_wire_encode_quality(b, seq, &m);
			break;
		}
		case 7:
			/* unknown types: skipped by length */
			rc = sv_wire_encode_raw(b, (uint8_t)(0x40 + i % 50), seq, body, rest.len);
			break;
		case 8:
			rc = sv_wire_encode_raw(b, 0xff, seq, NULL, 0);
			break;
		default: {
			struct sv_wire_stats m = {(uint64_t)i, rest};
			rc = sv_wire_encode_stats(b, seq, &m);
			break;
		}
		}
		assert_int_equal(rc, 0);
	}
	size_t off = 0, used;
	*n = 0;
	while (off < b->len) {
		ex[*n].off = off;
		assert_int_equal(sv_wire_frame_parse(b->data + off, b->len - off, &ex[*n].f, &used),
		                 0);
		off += used;
		(*n)++;
	}
	assert_int_equal(*n, NFRAMES);
}

static void check_frame(const struct sv_wire_frame *got, const struct expect *ex)
{
	assert_int_equal(got->type, ex->f.type);
	assert_int_equal(got->seq, ex->f.seq);
	assert_int_equal(got->len, ex->f.len);
	assert_int_equal(got->version, 1);
	if (got->len > 0)
		assert_memory_equal(got->payload, ex->f.payload, got->len);
}

/* Feeds the stream in pieces whose sizes come from next_size(). Each piece
 * is an exact-size heap copy, freed as soon as next() returned 0, so ASan
 * catches any use of a chunk after the decoder said it was done with it. */
static void run_stream(const struct sv_buf *b, const struct expect *ex, size_t n,
                       size_t (*next_size)(size_t left))
{
	struct sv_wire_decoder d;
	struct sv_wire_frame f;
	sv_wire_decoder_init(&d);
	size_t off = 0, got = 0;
	while (off < b->len) {
		size_t len = next_size(b->len - off);
		if (len > b->len - off)
			len = b->len - off;
		uint8_t *chunk = malloc(len ? len : 1);
		assert_non_null(chunk);
		memcpy(chunk, b->data + off, len);
		assert_int_equal(sv_wire_decoder_feed(&d, chunk, len), 0);
		int rc;
		while ((rc = sv_wire_decoder_next(&d, &f)) == 1) {
			assert_true(got < n);
			check_frame(&f, &ex[got]);
			got++;
		}
		assert_int_equal(rc, 0);
		free(chunk);
		off += len;
		assert_true(d.cap <= SV_WIRE_HDR_LEN + SV_WIRE_MAX_PAYLOAD);
	}
	assert_int_equal(got, n);
	assert_int_equal(sv_wire_decoder_pending(&d), 0);
	assert_true(d.bytes == b->len);
	sv_wire_decoder_release(&d);
}

static size_t size_one(size_t left)
{
	return 1;
}

static size_t size_all(size_t left)
{
	return left;
}

static size_t size_random(size_t left)
{
	int r = rand();
	switch (r % 4) {
	case 0:
		return (size_t)(r / 4 % 13); /* tiny, including 0 */
	case 1:
		return (size_t)(r / 4 % 200);
	case 2:
		return (size_t)(r / 4 % 3000);
	default:
		return (size_t)(r / 4 % 70000);
	}
}

static void test_stream_byte_by_byte(void **state)
{
	struct sv_buf b;
	static struct expect ex[NFRAMES];
	size_t n;
	build_stream(&b, ex, &n);
	run_stream(&b, ex, n, size_one);
	sv_buf_release(&b);
}

static void test_stream_coalesced(void **state)
{
	struct sv_buf b;
	static struct expect ex[NFRAMES];
	size_t n;
	build_stream(&b, ex, &n);
	run_stream(&b, ex, n, size_all);
	sv_buf_release(&b);
}

static void test_stream_random_splits(void **state)
{
	struct sv_buf b;
	static struct expect ex[NFRAMES];
	size_t n;
	build_stream(&b, ex, &n);
	srand(12345);
	for (int round = 0; round < 200; round++)
		run_stream(&b, ex, n, size_random);
	sv_buf_release(&b);
}

static void test_stream_busy_and_pending(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_wire_encode_heartbeat(&b, SV_WIRE_HEARTBEAT, 0, 1), 0);
	assert_int_equal(sv_wire_encode_heartbeat(&b, SV_WIRE_HEARTBEAT, 0, 2), 0);
	struct sv_wire_decoder d;
	struct sv_wire_frame f;
	struct sv_wire_heartbeat h;
	sv_wire_decoder_init(&d);
	assert_int_equal(sv_wire_decoder_feed(&d, b.data, b.len - 3), 0);
	assert_int_equal(sv_wire_decoder_feed(&d, b.data, 1), -EBUSY);
	assert_int_equal(sv_wire_decoder_next(&d, &f), 1);
	assert_int_equal(sv_wire_decode_heartbeat(&f, &h), 0);
	assert_true(h.ts_ns == 1);
	assert_int_equal(f.seq, 0);
	assert_int_equal(sv_wire_decoder_feed(&d, b.data, 1), -EBUSY);
	assert_int_equal(sv_wire_decoder_next(&d, &f), 0);
	/* Connection closed here: 17 bytes of a frame were never completed. */
	assert_int_equal(sv_wire_decoder_pending(&d), 17);
	assert_int_equal(sv_wire_decoder_feed(&d, b.data + b.len - 3, 3), 0);
	assert_int_equal(sv_wire_decoder_next(&d, &f), 1);
	assert_int_equal(sv_wire_decode_heartbeat(&f, &h), 0);
	assert_true(h.ts_ns == 2);
	assert_int_equal(f.seq, 0); /* a repeated sequence is fine */
	assert_int_equal(sv_wire_decoder_next(&d, &f), 0);
	assert_int_equal(sv_wire_decoder_pending(&d), 0);
	assert_int_equal(sv_wire_decoder_feed(&d, NULL, 0), 0);
	assert_int_equal(sv_wire_decoder_next(&d, &f), 0);
	sv_wire_decoder_release(&d);
	sv_wire_decoder_release(NULL);
	sv_buf_release(&b);
}

/* sv_wire_header_encode: the same 12 bytes an encoder writes, and they parse back. */
static void test_header_bytes(void **state)
{
	(void)state;
	struct sv_buf b;
	struct sv_wire_frame f;
	uint8_t hdr[SV_WIRE_HDR_LEN];
	static const uint8_t want[SV_WIRE_HDR_LEN] = {0x53, 0x56, 0x01, 0x05, 0x00, 0x01,
	                                              0x02, 0x03, 0xde, 0xad, 0xbe, 0xef};
	struct sv_wire_frame in = {.type = SV_WIRE_DATA_LOG, .len = 0x010203, .seq = 0xdeadbeef};
	sv_wire_header_encode(&in, hdr);
	assert_memory_equal(hdr, want, sizeof(want));
	assert_int_equal(sv_wire_header_parse(hdr, &f), 0);
	assert_int_equal(f.type, SV_WIRE_DATA_LOG);
	assert_int_equal(f.len, 0x010203);
	assert_int_equal(f.seq, 0xdeadbeef);

	sv_buf_init(&b);
	assert_int_equal(sv_wire_encode_ack(&b, 7, 42), 0);
	struct sv_wire_frame ack = {.type = SV_WIRE_ACK, .len = 4, .seq = 7};
	sv_wire_header_encode(&ack, hdr);
	assert_memory_equal(b.data, hdr, SV_WIRE_HDR_LEN);
	sv_buf_release(&b);
}

static void test_seq_serial(void **state)
{
	assert_true(sv_wire_seq_le(1, 1));
	assert_true(sv_wire_seq_le(1, 2));
	assert_false(sv_wire_seq_le(2, 1));
	assert_true(sv_wire_seq_le(0xfffffffe, 3)); /* across the wrap */
	assert_false(sv_wire_seq_le(3, 0xfffffffe));
	assert_int_equal(sv_wire_seq_next(1), 2);
	assert_int_equal(sv_wire_seq_next(0xffffffff), 1);
	assert_int_equal(sv_wire_seq_next(0), 1);
	assert_string_equal(sv_wire_type_name(SV_WIRE_DATA_RTCP_ADDR), "DATA_RTCP_ADDR");
	assert_string_equal(sv_wire_type_name(0x77), "UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_bytes),
	    cmocka_unit_test(test_sip_bytes_ipv4),
	    cmocka_unit_test(test_heartbeat_bytes),
	    cmocka_unit_test(test_ack_bytes),
	    cmocka_unit_test(test_handshake_caps_roundtrip),
	    cmocka_unit_test(test_caps_parse),
	    cmocka_unit_test(test_sip_roundtrip_ipv6),
	    cmocka_unit_test(test_rtcp_roundtrip),
	    cmocka_unit_test(test_log_quality_stats_roundtrip),
	    cmocka_unit_test(test_long_callid),
	    cmocka_unit_test(test_truncated_fields),
	    cmocka_unit_test(test_garbage_fields),
	    cmocka_unit_test(test_header_encode_and_set_seq),
	    cmocka_unit_test(test_handshake_any_agent_version),
	    cmocka_unit_test(test_header_limits),
	    cmocka_unit_test(test_bad_magic_and_version),
	    cmocka_unit_test(test_stream_byte_by_byte),
	    cmocka_unit_test(test_stream_coalesced),
	    cmocka_unit_test(test_stream_random_splits),
	    cmocka_unit_test(test_stream_busy_and_pending),
	    cmocka_unit_test(test_header_bytes),
	    cmocka_unit_test(test_seq_serial),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
