#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/gz.h"
#include "call/evidence.h"
#include "call/quality.h"
#include "call/rtcpjson.h"
#include "proto/pcapfile.h"
#include "proto/rtcp.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0    1764151200000000000ull /* 2025-11-26T10:00:00Z */
#define MS(x) ((uint64_t)(x)*1000000ull)
#define CID   "ev-1@test.example"

/* ------------------------------------------------------------ building evidence */

static void add_sip(struct sv_evidence *ev, uint64_t ts, uint64_t seq, const char *src,
                    uint16_t sport, const char *dst, uint16_t dport, const char *msg)
{
	size_t len = strlen(msg);
	struct sv_ev_sip *r = calloc(1, sizeof(*r) + len);
	assert_non_null(r);
	r->ts_ns = ts;
	r->seq = seq;
	r->family = 4;
	r->transport = SV_PCAP_UDP;
	r->sport = sport;
	r->dport = dport;
	assert_int_equal(inet_pton(AF_INET, src, r->src), 1);
	assert_int_equal(inet_pton(AF_INET, dst, r->dst), 1);
	r->len = (uint32_t)len;
	memcpy(r->data, msg, len);
	STAILQ_INSERT_TAIL(&ev->sip, r, link);
}

/* An RR from ssrc with one block; addressed when src is not NULL. */
static void add_rr(struct sv_evidence *ev, uint64_t ts, uint32_t ssrc, const char *src,
                   uint16_t sport, uint8_t fraction_lost, uint32_t jitter, float rtt_ms)
{
	struct sv_ev_rtcp *r = calloc(1, sizeof(*r) + sizeof(struct sv_ev_block));
	assert_non_null(r);
	r->ts_ns = ts;
	r->ssrc = ssrc;
	r->pt = SV_RTCP_RR;
	r->origin = SV_RTCP_FROM_AGENT;
	r->n_blocks = 1;
	r->blocks[0].ssrc = ssrc ^ 1;
	r->blocks[0].fraction_lost = fraction_lost;
	r->blocks[0].jitter = jitter;
	r->blocks[0].rtt_ms = rtt_ms;
	if (src != NULL) {
		r->has_addr = 1;
		r->src.family = 4;
		r->src.port = sport;
		assert_int_equal(inet_pton(AF_INET, src, r->src.ip), 1);
		r->dst.family = 4;
		r->dst.port = 9;
		assert_int_equal(inet_pton(AF_INET, "192.0.2.99", r->dst.ip), 1);
	}
	SLIST_INSERT_HEAD(&ev->rtcp, r, link); /* newest first */
}

static void add_log(struct sv_evidence *ev, const char *line)
{
	size_t len = strlen(line);
	struct sv_ev_log *r = malloc(sizeof(*r) + len);
	assert_non_null(r);
	r->len = (uint32_t)len;
	memcpy(r->data, line, len);
	STAILQ_INSERT_TAIL(&ev->log, r, link);
	ev->n_log++;
}

static const char *sdp(char *buf, size_t cap, const char *ip, unsigned port, const char *rtpmap)
{
	snprintf(buf, cap,
	         "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
	         "m=audio %u RTP/AVP 96\r\na=rtpmap:96 %s\r\n",
	         ip, ip, port, rtpmap);
	return buf;
}

static const char *sipmsg(char *buf, size_t cap, const char *first, const char *method,
                          const char *to_tag, const char *body)
{
	snprintf(buf, cap,
	         "%s\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
	         "From: <sip:alice@a.example>;tag=caller\r\nTo: <sip:bob@b.example>%s%s\r\n"
	         "Call-ID: " CID "\r\nCSeq: 1 %s\r\nContent-Type: application/sdp\r\n"
	         "Content-Length: %zu\r\n\r\n%s",
	         first, to_tag ? ";tag=" : "", to_tag ? to_tag : "", method,
	         body ? strlen(body) : 0, body ? body : "");
	return buf;
}

/* INVITE with an offer from 10.0.0.1:4000, 200 with an answer from 10.0.0.2:5000. */
static void add_dialog(struct sv_evidence *ev, const char *offer_map, const char *answer_map)
{
	char m[2048], b[512];
	add_sip(ev, T0 + MS(120), 1, "10.0.0.1", 5060, "10.0.0.2", 5060,
	        sipmsg(m, sizeof(m), "INVITE sip:bob@b.example SIP/2.0", "INVITE", NULL,
	               sdp(b, sizeof(b), "10.0.0.1", 4000, offer_map)));
	add_sip(ev, T0 + MS(3480), 2, "10.0.0.2", 5060, "10.0.0.1", 5060,
	        sipmsg(m, sizeof(m), "SIP/2.0 200 OK", "INVITE", "callee",
	               sdp(b, sizeof(b), "10.0.0.2", 5000, answer_map)));
}

static struct sv_evidence_call answered(void)
{
	struct sv_evidence_call c = {
	    .customer = "acme",
	    .call_id = (const uint8_t *)CID,
	    .call_id_len = strlen(CID),
	    .answered = 1,
	    .started_ns = T0 + MS(120),
	    .answered_ns = T0 + MS(3480),
	    .ended_ns = T0 + MS(61910),
	    .final_status = 200,
	    .end_reason = SV_QUALITY_END_BYE,
	    .log_chunk = 3,
	};
	return c;
}

struct built {
	struct sv_call_objects o;
	struct sv_buf rtcp; /* rtcp.json, plain */
	json_t *rj, *qj;
	size_t unknown;
};

static void build(const struct sv_evidence *ev, const struct sv_evidence_call *c, struct built *b)
{
	sv_call_objects_init(&b->o);
	sv_buf_init(&b->rtcp);
	assert_int_equal(sv_evidence_build(ev, c, &b->o, &b->unknown), 0);
	assert_int_equal(
	    sv_gz_decompress(b->o.rtcp_json_gz.data, b->o.rtcp_json_gz.len, 1 << 24, &b->rtcp), 0);
	b->rj = json_loadb((const char *)b->rtcp.data, b->rtcp.len, 0, NULL);
	b->qj = json_loadb((const char *)b->o.quality_json.data, b->o.quality_json.len, 0, NULL);
	assert_non_null(b->rj);
	assert_non_null(b->qj);
}

static void built_release(struct built *b)
{
	sv_call_objects_release(&b->o);
	sv_buf_release(&b->rtcp);
	json_decref(b->rj);
	json_decref(b->qj);
}

static const char *jstr(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	if (b != NULL)
		v = json_object_get(v, b);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

/* --analyze of the stored rtcp.json gives the stored quality.json, byte for byte. */
static void assert_analyze_matches(struct built *b)
{
	struct sv_rtcpjson doc;
	struct sv_buf out;
	json_t *q = NULL;
	char err[256] = "";
	if (sv_rtcpjson_load(b->rtcp.data, b->rtcp.len, &doc, err, sizeof(err)) != 0)
		fail_msg("rtcp.json does not load: %s", err);
	assert_int_equal(
	    sv_quality_build(&doc.call, doc.samples, doc.n_samples,
	                     doc.n_samples > 0 ? SV_QUALITY_SRC_RTCP : SV_QUALITY_SRC_RTP, &q),
	    0);
	sv_buf_init(&out);
	assert_int_equal(sv_quality_dump(q, &out), 0);
	assert_int_equal(out.len, b->o.quality_json.len);
	assert_memory_equal(out.data, b->o.quality_json.data, out.len);
	sv_buf_release(&out);
	json_decref(q);
	sv_rtcpjson_release(&doc);
}

/* ------------------------------------------------------------ tests */

/* No records at all: an empty capture, no reports, quality "none", no log chunk. */
static void test_empty(void **state)
{
	struct sv_evidence ev;
	struct sv_evidence_call c = answered();
	struct built b;
	sv_evidence_init(&ev);
	build(&ev, &c, &b);
	assert_int_equal(json_array_size(json_object_get(b.rj, "reports")), 0);
	assert_string_equal(jstr(b.rj, "codec", NULL), "PCMU"); /* the default */
	assert_string_equal(jstr(b.qj, "source", NULL), "none");
	assert_int_equal(b.o.log_chunk, 0);
	assert_int_equal(b.o.log_gz.len, 0);
	struct sv_buf pcap;
	sv_buf_init(&pcap);
	assert_int_equal(
	    sv_gz_decompress(b.o.sip_pcap_gz.data, b.o.sip_pcap_gz.len, 1 << 20, &pcap), 0);
	assert_int_equal(pcap.len, 24); /* the global header only */
	sv_buf_release(&pcap);
	built_release(&b);
	sv_evidence_release(&ev);
}

/* SIP stored out of order comes out of sip.pcap.gz in capture order (ties by arrival). */
static void test_pcap_order(void **state)
{
	struct sv_evidence ev;
	struct sv_evidence_call c = answered();
	struct built b;
	struct sv_buf pcap;
	char m[2048];
	sv_evidence_init(&ev);
	add_sip(&ev, T0 + MS(300), 1, "10.0.0.1", 5060, "10.0.0.2", 5060,
	        sipmsg(m, sizeof(m), "ACK sip:bob@b.example SIP/2.0", "ACK", "callee", NULL));
	add_sip(&ev, T0 + MS(100), 2, "10.0.0.1", 5060, "10.0.0.2", 5060,
	        sipmsg(m, sizeof(m), "INVITE sip:bob@b.example SIP/2.0", "INVITE", NULL, NULL));
	add_sip(&ev, T0 + MS(200), 4, "10.0.0.2", 5060, "10.0.0.1", 5060,
	        sipmsg(m, sizeof(m), "SIP/2.0 200 OK", "INVITE", "callee", NULL));
	add_sip(&ev, T0 + MS(200), 3, "10.0.0.2", 5060, "10.0.0.1", 5060,
	        sipmsg(m, sizeof(m), "SIP/2.0 180 Ringing", "INVITE", "callee", NULL));
	build(&ev, &c, &b);
	sv_buf_init(&pcap);
	assert_int_equal(
	    sv_gz_decompress(b.o.sip_pcap_gz.data, b.o.sip_pcap_gz.len, 1 << 20, &pcap), 0);
	static const char *const want[] = {"INVITE sip:", "SIP/2.0 180", "SIP/2.0 200", "ACK sip:"};
	const char *p = (const char *)pcap.data;
	size_t at = 0;
	for (size_t i = 0; i < 4; i++) {
		const char *hit = NULL;
		for (size_t k = at; k + strlen(want[i]) <= pcap.len; k++)
			if (memcmp(p + k, want[i], strlen(want[i])) == 0) {
				hit = p + k;
				break;
			}
		if (hit == NULL)
			fail_msg("%s missing or out of order", want[i]);
		at = (size_t)(hit - p) + 1;
	}
	/* The caller and callee come from the INVITE. */
	assert_string_equal(jstr(b.qj, "summary", "from"), "sip:alice@a.example");
	assert_string_equal(jstr(b.qj, "summary", "to"), "sip:bob@b.example");
	sv_buf_release(&pcap);
	built_release(&b);
	sv_evidence_release(&ev);
}

/* RTCP: direction from the SDP endpoints (by address, then by the SSRC the
 * addressed reports taught), the answer's codec, reports oldest first, and
 * quality.json equal to --analyze of rtcp.json. */
static void test_rtcp_directions(void **state)
{
	struct sv_evidence ev;
	struct sv_evidence_call c = answered();
	struct built b;
	sv_evidence_init(&ev);
	add_dialog(&ev, "PCMU/8000", "G729/8000");
	add_rr(&ev, T0 + MS(5000), 0x1111, "10.0.0.1", 4001, 5, 80, 40.5f); /* uac by address */
	add_rr(&ev, T0 + MS(5100), 0x2222, "10.0.0.2", 5001, 0, 16, -1);    /* uas by address */
	add_rr(&ev, T0 + MS(10000), 0x1111, NULL, 0, 10, 160, -1);          /* uac by SSRC */
	add_rr(&ev, T0 + MS(10100), 0x9999, NULL, 0, 0, 8, -1);             /* unknown */
	build(&ev, &c, &b);
	json_t *reps = json_object_get(b.rj, "reports");
	assert_int_equal(json_array_size(reps), 4);
	static const char *const dirs[] = {"uac", "uas", "uac", "unknown"};
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(jstr(json_array_get(reps, i), "direction", NULL), dirs[i]);
	assert_int_equal(b.unknown, 1);
	assert_string_equal(jstr(b.rj, "codec", NULL), "G729");
	assert_string_equal(jstr(b.qj, "summary", "codec"), "G729");
	assert_string_equal(jstr(b.qj, "source", NULL), "rtcp");
	assert_string_equal(jstr(b.rj, "customer", NULL), "acme");
	assert_analyze_matches(&b);
	built_release(&b);
	sv_evidence_release(&ev);
}

/* A clock rate rtcp.json cannot carry is not taken from the SDP: the answer's
 * codec (or the default) is used and the stored document still loads. */
static void test_clock_rate_limit(void **state)
{
	struct sv_evidence ev;
	struct sv_evidence_call c = answered();
	struct built b;
	char map[64];
	sv_evidence_init(&ev);
	snprintf(map, sizeof(map), "L16/%u", SV_RTCPJSON_CLOCK_MAX + 1);
	add_dialog(&ev, map, map);
	add_rr(&ev, T0 + MS(5000), 0x1111, "10.0.0.1", 4001, 5, 80, -1);
	build(&ev, &c, &b);
	assert_string_equal(jstr(b.rj, "codec", NULL), "PCMU");
	assert_int_equal(json_integer_value(json_object_get(b.rj, "clock_rate")), 8000);
	assert_analyze_matches(&b);
	built_release(&b);
	sv_evidence_release(&ev);

	/* At the limit it is kept. */
	sv_evidence_init(&ev);
	snprintf(map, sizeof(map), "L16/%u", SV_RTCPJSON_CLOCK_MAX);
	add_dialog(&ev, "PCMU/8000", map);
	add_rr(&ev, T0 + MS(5000), 0x1111, "10.0.0.1", 4001, 5, 80, -1);
	build(&ev, &c, &b);
	assert_string_equal(jstr(b.rj, "codec", NULL), "L16");
	assert_int_equal(json_integer_value(json_object_get(b.rj, "clock_rate")),
	                 SV_RTCPJSON_CLOCK_MAX);
	assert_analyze_matches(&b);
	built_release(&b);
	sv_evidence_release(&ev);
}

/* Odd call facts (status out of range, times off the millisecond, a huge
 * report time, an rtt rtcp.json cannot carry) normalise as the reader does. */
static void test_normalisation_matches_reader(void **state)
{
	struct sv_evidence ev;
	struct sv_evidence_call c = answered();
	struct built b;
	sv_evidence_init(&ev);
	add_dialog(&ev, "PCMA/8000", "PCMA/8000");
	c.final_status = 1234;
	c.answered = 0;
	c.started_ns += 123456;
	c.ended_ns += 999999;
	c.end_reason = SV_QUALITY_END_TIMEOUT;
	add_rr(&ev, T0 + MS(5000) + 7, 0x1111, "10.0.0.1", 4001, 255, 4000000000u, 2e7f);
	add_rr(&ev, UINT64_MAX, 0x2222, "10.0.0.2", 5001, 1, 0, 0.0f);
	build(&ev, &c, &b);
	assert_analyze_matches(&b);
	assert_true(json_is_null(json_object_get(json_object_get(b.rj, "summary"), "answered_at")));
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(b.rj, "summary"), "final_status")),
	    0);
	built_release(&b);
	sv_evidence_release(&ev);
}

/* Without RTCP the agent's RTP quality document is the source. */
static void test_rtp_quality(void **state)
{
	static const char doc[] = "{\"directions\":{\"uac\":{\"jitter\":{\"avg\":3.5},"
	                          "\"loss\":{\"avg\":0.5},\"rtt\":{\"avg\":40}},"
	                          "\"uas\":{\"jitter\":{\"avg\":2},\"loss\":{\"avg\":0}}}}";
	struct sv_evidence ev;
	struct sv_evidence_call c = answered();
	struct built b;
	sv_evidence_init(&ev);
	add_dialog(&ev, "PCMU/8000", "PCMU/8000");
	ev.quality = (uint8_t *)strdup(doc);
	ev.quality_len = strlen(doc);
	ev.quality_ts = T0 + MS(60000);
	build(&ev, &c, &b);
	assert_string_equal(jstr(b.qj, "source", NULL), "rtp");
	json_t *uac = json_object_get(json_object_get(b.qj, "directions"), "uac");
	assert_int_equal(json_integer_value(json_object_get(uac, "sample_count")), 1);
	built_release(&b);
	sv_evidence_release(&ev);

	/* A document out of range gives no sample. */
	static const char bad[] = "{\"directions\":{\"uac\":{\"jitter\":{\"avg\":-1},"
	                          "\"loss\":{\"avg\":0.5}}}}";
	sv_evidence_init(&ev);
	ev.quality = (uint8_t *)strdup(bad);
	ev.quality_len = strlen(bad);
	build(&ev, &c, &b);
	assert_string_equal(jstr(b.qj, "source", NULL), "none");
	built_release(&b);
	sv_evidence_release(&ev);
}

/* Log lines: the final chunk at COMPLETE, numbered by the caller; periodic
 * chunks take the first n lines, and dropping them returns their bytes. */
static void test_log_chunks(void **state)
{
	struct sv_evidence ev;
	struct sv_evidence_call c = answered();
	struct built b;
	struct sv_buf text, gz;
	sv_evidence_init(&ev);
	add_log(&ev, "one");
	add_log(&ev, "two");
	add_log(&ev, "three");

	sv_buf_init(&gz);
	sv_buf_init(&text);
	assert_int_equal(sv_evidence_log_gz(&ev, 2, &gz), 0);
	assert_int_equal(sv_gz_decompress(gz.data, gz.len, 1 << 20, &text), 0);
	assert_int_equal(text.len, 8);
	assert_memory_equal(text.data, "one\ntwo\n", 8);
	assert_int_equal(ev.n_log, 3); /* making a chunk keeps the lines */
	assert_int_equal(sv_evidence_drop_log(&ev, 2), 2 * sizeof(struct sv_ev_log) + 6);
	assert_int_equal(ev.n_log, 1);
	sv_buf_release(&gz);
	sv_buf_release(&text);

	build(&ev, &c, &b);
	assert_int_equal(b.o.log_chunk, 3);
	sv_buf_init(&text);
	assert_int_equal(sv_gz_decompress(b.o.log_gz.data, b.o.log_gz.len, 1 << 20, &text), 0);
	assert_int_equal(text.len, 6);
	assert_memory_equal(text.data, "three\n", 6);
	assert_int_equal(ev.n_log, 1); /* the engine drops them */
	assert_int_equal(sv_evidence_drop_log(&ev, 5), sizeof(struct sv_ev_log) + 5);
	assert_int_equal(ev.n_log, 0);
	assert_true(STAILQ_EMPTY(&ev.log));
	sv_buf_release(&text);
	built_release(&b);
	sv_evidence_release(&ev);
}

/* A Call-ID that is not UTF-8 is made valid in the documents. */
static void test_call_id_utf8(void **state)
{
	static const uint8_t id[] = {'a', 0xff, 'b', 0x00, 'c'};
	struct sv_evidence ev;
	struct sv_evidence_call c = answered();
	struct built b;
	sv_evidence_init(&ev);
	c.call_id = id;
	c.call_id_len = sizeof(id);
	build(&ev, &c, &b);
	assert_string_equal(jstr(b.rj, "call_id", NULL), "a\xef\xbf\xbd"
	                                                 "b\xef\xbf\xbd"
	                                                 "c");
	assert_string_equal(jstr(b.qj, "call_id", NULL), jstr(b.rj, "call_id", NULL));
	built_release(&b);
	sv_evidence_release(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_pcap_order),
	    cmocka_unit_test(test_rtcp_directions),
	    cmocka_unit_test(test_clock_rate_limit),
	    cmocka_unit_test(test_normalisation_matches_reader),
	    cmocka_unit_test(test_rtp_quality),
	    cmocka_unit_test(test_log_chunks),
	    cmocka_unit_test(test_call_id_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
