#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "proto/rtpstats.h"
#include "call/session.h"
#include "testutil.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000ull

static size_t rtp(uint8_t *b, uint16_t seq, uint32_t ts, uint32_t ssrc, uint8_t pt)
{
	memset(b, 0, 172);
	b[0] = 0x80;
	b[1] = pt;
	sv_put_be16(b + 2, seq);
	sv_put_be32(b + 4, ts);
	sv_put_be32(b + 8, ssrc);
	return 172; /* 12 + 160 bytes of G.711 */
}

static void feed(struct sv_rtpstats *s, enum sv_rtpstats_dir d, uint16_t seq, uint32_t ts,
                 uint32_t ssrc, uint64_t at)
{
	uint8_t b[172];
	size_t n = rtp(b, seq, ts, ssrc, 0);
	assert_int_equal(sv_rtpstats_packet(s, d, 8000, at, b, n), 0);
}

static void test_parse(void **state)
{
	struct sv_rtp_hdr h;
	uint8_t b[200];
	size_t n = rtp(b, 7, 1234, 0xdeadbeef, 8 | 0x80);
	assert_int_equal(sv_rtp_parse(b, n, &h), 0);
	assert_int_equal(h.pt, 8);
	assert_int_equal(h.marker, 1);
	assert_int_equal(h.seq, 7);
	assert_int_equal(h.ts, 1234);
	assert_true(h.ssrc == 0xdeadbeef);
	assert_int_equal(h.header_len, 12);
	assert_int_equal(h.payload_len, 160);
	/* Two CSRCs and a one-word extension. */
	b[0] = 0x80 | 0x10 | 2;
	sv_put_be16(b + 20 + 2, 1);
	assert_int_equal(sv_rtp_parse(b, n, &h), 0);
	assert_int_equal(h.header_len, 12 + 8 + 8);
	assert_int_equal(sv_rtp_parse(b, 22, &h), SV_E_TRUNC);
	/* Padding: 4 bytes. */
	b[0] = 0xa0;
	b[n - 1] = 4;
	assert_int_equal(sv_rtp_parse(b, n, &h), 0);
	assert_int_equal(h.payload_len, 156);
	b[n - 1] = 0;
	assert_int_equal(sv_rtp_parse(b, n, &h), SV_E_PARSE);
	b[n - 1] = 200;
	assert_int_equal(sv_rtp_parse(b, n, &h), SV_E_PARSE);
	/* Version, short, RTCP-range payload types. */
	b[0] = 0x40;
	assert_int_equal(sv_rtp_parse(b, n, &h), SV_E_PARSE);
	assert_int_equal(sv_rtp_parse(b, 11, &h), SV_E_TRUNC);
	n = rtp(b, 1, 1, 1, 72);
	assert_int_equal(sv_rtp_parse(b, n, &h), SV_E_PARSE);
	n = rtp(b, 1, 1, 1, 0x80 | 76); /* RR with the marker bit: 0xcc */
	assert_int_equal(sv_rtp_parse(b, n, &h), SV_E_PARSE);
	n = rtp(b, 1, 1, 1, 77);
	assert_int_equal(sv_rtp_parse(b, n, &h), 0);
}

static void test_perfect_stream(void **state)
{
	struct sv_rtpstats *s = sv_rtpstats_new();
	assert_non_null(s);
	for (unsigned i = 0; i < 500; i++)
		feed(s, SV_RTPSTATS_UAC, (uint16_t)(1000 + i), 160 * i, 42,
		     1000 * MS + i * 20 * MS);
	struct sv_rtpstats_summary m;
	sv_rtpstats_summary(s, SV_RTPSTATS_UAC, &m);
	assert_int_equal(m.streams, 1);
	assert_int_equal(m.packets, 500);
	assert_int_equal(m.expected, 500);
	assert_int_equal(m.lost, 0);
	assert_int_equal(m.duplicates, 0);
	assert_int_equal(m.reordered, 0);
	assert_true(m.loss_pct == 0);
	assert_true(m.jitter_last_ms < 1e-9 && m.jitter_max_ms < 1e-9);
	sv_rtpstats_summary(s, SV_RTPSTATS_UAS, &m);
	assert_int_equal(m.packets, 0);
	assert_int_equal(sv_rtpstats_packets(s), 500);
	sv_rtpstats_free(s);
	sv_rtpstats_free(NULL);
}

static void test_loss_across_wrap(void **state)
{
	struct sv_rtpstats *s = sv_rtpstats_new();
	/* 200 sequence numbers from 65450 through the wrap; 7 never arrive. */
	unsigned sent = 0;
	for (unsigned i = 0; i < 200; i++) {
		uint16_t seq = (uint16_t)(65450 + i);
		if (seq == 65534 || seq == 65535 || seq == 0 || seq == 3 || i == 150 || i == 151 ||
		    i == 160)
			continue;
		feed(s, SV_RTPSTATS_UAS, seq, 160 * i, 7, i * 20 * MS);
		sent++;
	}
	assert_int_equal(sent, 193);
	struct sv_rtpstats_summary m;
	sv_rtpstats_summary(s, SV_RTPSTATS_UAS, &m);
	assert_int_equal(m.expected, 200);
	assert_int_equal(m.packets, 193);
	assert_int_equal(m.lost, 7);
	assert_true(fabs(m.loss_pct - 3.5) < 1e-9);
	sv_rtpstats_free(s);
}

static void test_reorder_duplicates(void **state)
{
	struct sv_rtpstats *s = sv_rtpstats_new();
	static const uint16_t order[] = {65534, 65535, 1, 0, 2, 2, 3, 1, 5, 4, 6, 65533};
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		feed(s, SV_RTPSTATS_UAC, order[i], 160u * (uint16_t)(order[i] + 3), 9, i * 20 * MS);
	struct sv_rtpstats_summary m;
	sv_rtpstats_summary(s, SV_RTPSTATS_UAC, &m);
	/* 65533 .. 6 = 10 numbers, all received once; 2 and 1 repeated;
	 * 0, 4 and 65533 (before the first packet) arrived late. */
	assert_int_equal(m.expected, 10);
	assert_int_equal(m.packets, 10);
	assert_int_equal(m.lost, 0);
	assert_int_equal(m.duplicates, 2);
	assert_int_equal(m.reordered, 3);
	sv_rtpstats_free(s);
}

static void test_restart_jump(void **state)
{
	struct sv_rtpstats *s = sv_rtpstats_new();
	for (unsigned i = 0; i < 10; i++)
		feed(s, SV_RTPSTATS_UAC, (uint16_t)(100 + i), 160 * i, 5, i * 20 * MS);
	/* One stray far jump is discarded... */
	feed(s, SV_RTPSTATS_UAC, 40000, 0, 5, 300 * MS);
	feed(s, SV_RTPSTATS_UAC, 110, 1600, 5, 320 * MS);
	/* ... two in a row are a restart: counting resumes there. */
	for (unsigned i = 0; i < 5; i++)
		feed(s, SV_RTPSTATS_UAC, (uint16_t)(30000 + i), 160 * i, 5, (400 + 20 * i) * MS);
	struct sv_rtpstats_summary m;
	sv_rtpstats_summary(s, SV_RTPSTATS_UAC, &m);
	/* 40000 and 30000 are each discarded (bad_seq 40001, then 30001);
	 * 30001 confirms the jump: 100..110, then 30001..30004. */
	assert_int_equal(m.lost, 0);
	assert_int_equal(m.expected, 11 + 4);
	assert_int_equal(m.packets, 11 + 4);
	sv_rtpstats_free(s);
}

static void test_jitter_a8(void **state)
{
	/* Every other packet 2 ms late: |D| = 16 units (8 kHz) each time, so
	 * J(n) = 16 (1 - (15/16)^n). */
	struct sv_rtpstats *s = sv_rtpstats_new();
	unsigned n = 60;
	for (unsigned i = 0; i < n; i++)
		feed(s, SV_RTPSTATS_UAC, (uint16_t)i, 160 * i, 1, i * 20 * MS + (i % 2) * 2 * MS);
	struct sv_rtpstats_summary m;
	sv_rtpstats_summary(s, SV_RTPSTATS_UAC, &m);
	double j = 16.0 * (1.0 - pow(15.0 / 16.0, n - 1));
	assert_true(fabs(m.jitter_last_ms - j / 8.0) < 1e-6);
	assert_true(fabs(m.jitter_max_ms - j / 8.0) < 1e-6);
	double sum = 0;
	for (unsigned k = 1; k < n; k++)
		sum += 16.0 * (1.0 - pow(15.0 / 16.0, k));
	assert_true(fabs(m.jitter_avg_ms - sum / (n - 1) / 8.0) < 1e-6);
	/* Clock rate matters: same timing at 48 kHz with 960-sample frames. */
	struct sv_rtpstats *o = sv_rtpstats_new();
	uint8_t b[172];
	for (unsigned i = 0; i < n; i++) {
		size_t len = rtp(b, (uint16_t)i, 960 * i, 2, 111);
		assert_int_equal(sv_rtpstats_packet(o, SV_RTPSTATS_UAS, 48000,
		                                    i * 20 * MS + (i % 2) * 2 * MS, b, len),
		                 0);
	}
	sv_rtpstats_summary(o, SV_RTPSTATS_UAS, &m);
	assert_true(fabs(m.jitter_last_ms - j / 8.0) < 1e-6); /* same ms value */
	sv_rtpstats_free(o);
	sv_rtpstats_free(s);
}

static void test_limits_and_errors(void **state)
{
	struct sv_rtpstats *s = sv_rtpstats_new();
	uint8_t b[172];
	size_t n = rtp(b, 1, 1, 1, 0);
	assert_int_equal(sv_rtpstats_packet(s, (enum sv_rtpstats_dir)5, 8000, 0, b, n), -EINVAL);
	assert_int_equal(sv_rtpstats_packet(s, SV_RTPSTATS_UAC, 8000, 0, b, 5), SV_E_TRUNC);
	for (uint32_t i = 0; i < SV_RTPSTATS_MAX_STREAMS; i++) {
		n = rtp(b, 1, 1, 100 + i, 0);
		assert_int_equal(sv_rtpstats_packet(s, SV_RTPSTATS_UAC, 0, 0, b, n), 0);
	}
	n = rtp(b, 1, 1, 99, 0);
	assert_int_equal(sv_rtpstats_packet(s, SV_RTPSTATS_UAC, 0, 0, b, n), SV_E_TOOBIG);
	sv_rtpstats_free(s);
}

static struct sv_rtpstats *two_way(void)
{
	struct sv_rtpstats *s = sv_rtpstats_new();
	/* uac (what the caller hears): 100 sent, 4 lost; uas: perfect. */
	for (unsigned i = 0; i < 100; i++) {
		if (i % 25 != 3)
			feed(s, SV_RTPSTATS_UAC, (uint16_t)i, 160 * i, 11,
			     i * 20 * MS + (i % 2) * MS);
		feed(s, SV_RTPSTATS_UAS, (uint16_t)(500 + i), 160 * i, 22, i * 20 * MS);
	}
	return s;
}

static void test_json(void **state)
{
	struct sv_rtpstats *s = two_way();
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_rtpstats_json(s, "PC\"MA\x01", 6, 8000, &b), 0);
	json_error_t err;
	json_t *root = json_loadb((const char *)b.data, b.len, 0, &err);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "source")), "rtp");
	assert_string_equal(json_string_value(json_object_get(root, "codec")), "PC\"MA\x01");
	assert_int_equal(json_integer_value(json_object_get(root, "clock_rate")), 8000);
	json_t *uac = json_object_get(json_object_get(root, "directions"), "uac");
	json_t *uas = json_object_get(json_object_get(root, "directions"), "uas");
	assert_int_equal(json_integer_value(json_object_get(uac, "lost")), 4);
	assert_int_equal(json_integer_value(json_object_get(uac, "expected")), 100);
	assert_true(fabs(json_number_value(json_object_get(json_object_get(uac, "loss"), "avg")) -
	                 4.0) < 1e-9);
	assert_true(json_number_value(json_object_get(json_object_get(uac, "jitter"), "avg")) > 0);
	assert_true(json_number_value(json_object_get(json_object_get(uas, "jitter"), "avg")) == 0);
	assert_int_equal(json_integer_value(json_object_get(uas, "packets")), 100);
	json_decref(root);
	/* Only one direction with packets: the other is left out. */
	struct sv_rtpstats *one = sv_rtpstats_new();
	feed(one, SV_RTPSTATS_UAS, 1, 1, 1, 0);
	sv_buf_reset(&b);
	assert_int_equal(sv_rtpstats_json(one, NULL, 0, 0, &b), 0);
	root = json_loadb((const char *)b.data, b.len, 0, &err);
	assert_non_null(root);
	assert_null(json_object_get(root, "codec"));
	assert_null(json_object_get(json_object_get(root, "directions"), "uac"));
	assert_non_null(json_object_get(json_object_get(root, "directions"), "uas"));
	json_decref(root);
	sv_rtpstats_free(one);
	sv_buf_release(&b);
	sv_rtpstats_free(s);
}

/* ---- the server's DATA_QUALITY fallback accepts the document */

struct done {
	int n;
	struct sv_buf q;
};

static void on_complete(void *arg, const struct sv_call_ref *call, struct sv_call_objects *o)
{
	struct done *d = arg;
	d->n++;
	sv_buf_append(&d->q, o->quality_json.data, o->quality_json.len);
}

static void sip_frame(struct sv_sessions *ss, uint64_t ts, const char *text, int from_caller)
{
	struct sv_wire_sip m;
	memset(&m, 0, sizeof(m));
	m.ts_ns = ts;
	m.call_id.p = (const uint8_t *)"q1@test";
	m.call_id.len = 7;
	m.src.family = m.dst.family = 4;
	uint8_t a[4] = {192, 0, 2, 1}, b[4] = {192, 0, 2, 2};
	memcpy(m.src.ip, from_caller ? a : b, 4);
	memcpy(m.dst.ip, from_caller ? b : a, 4);
	m.src.port = m.dst.port = 5060;
	m.sip.p = (const uint8_t *)text;
	m.sip.len = strlen(text);
	enum sv_ingest res;
	assert_int_equal(sv_sessions_sip(ss, "acme", ts, &m, &res), 0);
	assert_true(res == SV_INGEST_STORED || res == SV_INGEST_CREATED);
}

static void test_server_accepts(void **state)
{
	static const char invite[] =
	    "INVITE sip:b@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
	    "From: <sip:a@192.0.2.1>;tag=a1\r\nTo: <sip:b@192.0.2.2>\r\nCall-ID: q1@test\r\n"
	    "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
	static const char ok[] =
	    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
	    "From: <sip:a@192.0.2.1>;tag=a1\r\nTo: <sip:b@192.0.2.2>;tag=b1\r\nCall-ID: q1@test\r\n"
	    "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
	static const char bye[] =
	    "BYE sip:b@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2\r\n"
	    "From: <sip:a@192.0.2.1>;tag=a1\r\nTo: <sip:b@192.0.2.2>;tag=b1\r\nCall-ID: q1@test\r\n"
	    "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
	struct done d = {0};
	sv_buf_init(&d.q);
	struct sv_session_limits lim = {
	    .pending_timeout_ns = 60000 * MS,
	    .active_timeout_ns = 60000 * MS,
	    .closing_grace_ns = 5000 * MS,
	    .log_flush_ns = 60000 * MS,
	};
	struct sv_session_hooks hooks = {.arg = &d, .complete = on_complete};
	struct sv_sessions *ss;
	assert_int_equal(sv_sessions_new(&lim, &hooks, &ss), 0);
	uint64_t t0 = 1764151205000000000ull;
	sip_frame(ss, t0, invite, 1);
	sip_frame(ss, t0 + 1000 * MS, ok, 0);
	sip_frame(ss, t0 + 3000 * MS, bye, 1);

	struct sv_rtpstats *s = two_way();
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_rtpstats_json(s, "PCMU", 4, 8000, &b), 0);
	struct sv_wire_quality q = {.ts_ns = t0 + 3500 * MS};
	q.call_id.p = (const uint8_t *)"q1@test";
	q.call_id.len = 7;
	q.json.p = b.data;
	q.json.len = b.len;
	enum sv_ingest res;
	assert_int_equal(sv_sessions_quality(ss, "acme", t0 + 3500 * MS, &q, &res), 0);
	assert_int_equal(res, SV_INGEST_STORED);
	sv_sessions_tick(ss, t0 + 60000 * MS);
	assert_int_equal(d.n, 1);
	json_error_t err;
	json_t *root = json_loadb((const char *)d.q.data, d.q.len, 0, &err);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "source")), "rtp");
	json_t *uac = json_object_get(json_object_get(root, "directions"), "uac");
	json_t *uas = json_object_get(json_object_get(root, "directions"), "uas");
	assert_int_equal(json_integer_value(json_object_get(uac, "sample_count")), 1);
	assert_int_equal(json_integer_value(json_object_get(uas, "sample_count")), 1);
	assert_true(fabs(json_number_value(json_object_get(json_object_get(uac, "loss"), "avg")) -
	                 4.0) < 1e-6);
	json_decref(root);
	sv_buf_release(&b);
	sv_buf_release(&d.q);
	sv_rtpstats_free(s);
	sv_sessions_free(ss);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_perfect_stream),
	    cmocka_unit_test(test_loss_across_wrap),
	    cmocka_unit_test(test_reorder_duplicates),
	    cmocka_unit_test(test_restart_jump),
	    cmocka_unit_test(test_jitter_a8),
	    cmocka_unit_test(test_limits_and_errors),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_server_accepts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
