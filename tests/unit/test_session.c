#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "base/gz.h"
#include "proto/packet.h"
#include "proto/sip.h"
#include "call/quality.h"
#include "proto/rtcp.h"
#include "call/rtcpjson.h"
#include "call/session.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define S(x)  ((uint64_t)(x)*1000000000ull)
#define MS(x) ((uint64_t)(x)*1000000ull)
#define T0    1764151200000000000ull /* 2025-11-26T10:00:00Z */

/* ------------------------------------------------------------ hook recorder */

#define MAX_DONE 8

struct done {
	char customer[32];
	char call_id[128];
	size_t pcap_records;
	struct sv_buf pcap;     /* decompressed */
	json_t *rtcp;           /* parsed rtcp.json */
	struct sv_buf rtcp_txt; /* decompressed */
	json_t *quality;
	struct sv_buf quality_txt;
	unsigned log_chunk;
	struct sv_buf log_txt;
};

struct rec {
	int created;
	int completed;
	struct done done[MAX_DONE];
	unsigned chunks; /* periodic chunks */
	unsigned last_chunk;
	size_t chunk_lines;
	struct sv_buf logs; /* every log line handed out (periodic and final), in order */
	uint64_t user_seen;
};

static size_t count_pcap(const struct sv_buf *b)
{
	size_t n = 0, off = 24;
	assert_true(b->len >= 24);
	assert_true(b->data[0] == 0xa1 && b->data[1] == 0xb2 && b->data[2] == 0x3c);
	while (off + 16 <= b->len) {
		uint32_t incl = (uint32_t)b->data[off + 8] << 24 |
		                (uint32_t)b->data[off + 9] << 16 |
		                (uint32_t)b->data[off + 10] << 8 | b->data[off + 11];
		off += 16 + incl;
		n++;
	}
	assert_int_equal(off, b->len);
	return n;
}

static void on_created(void *arg, const struct sv_call_ref *call)
{
	struct rec *r = arg;
	r->created++;
	*call->user = 42;
}

static void on_chunk(void *arg, const struct sv_call_ref *call, unsigned chunk, size_t lines,
                     struct sv_buf *gz)
{
	struct rec *r = arg;
	assert_int_equal(chunk, r->last_chunk + 1);
	r->last_chunk = chunk;
	r->chunks++;
	r->chunk_lines += lines;
	assert_true(*call->user == 42 || *call->user == 0);
	assert_int_equal(sv_gz_decompress(gz->data, gz->len, 1 << 20, &r->logs), 0);
}

static void on_complete(void *arg, const struct sv_call_ref *call, struct sv_call_objects *o)
{
	struct rec *r = arg;
	assert_true(r->completed < MAX_DONE);
	struct done *d = &r->done[r->completed++];
	snprintf(d->customer, sizeof(d->customer), "%s", call->customer);
	snprintf(d->call_id, sizeof(d->call_id), "%.*s", (int)call->call_id_len,
	         (const char *)call->call_id);
	sv_buf_init(&d->pcap);
	sv_buf_init(&d->rtcp_txt);
	sv_buf_init(&d->quality_txt);
	sv_buf_init(&d->log_txt);
	assert_int_equal(
	    sv_gz_decompress(o->sip_pcap_gz.data, o->sip_pcap_gz.len, 1 << 24, &d->pcap), 0);
	d->pcap_records = count_pcap(&d->pcap);
	assert_int_equal(
	    sv_gz_decompress(o->rtcp_json_gz.data, o->rtcp_json_gz.len, 1 << 24, &d->rtcp_txt), 0);
	d->rtcp = json_loadb((const char *)d->rtcp_txt.data, d->rtcp_txt.len, 0, NULL);
	assert_non_null(d->rtcp);
	assert_int_equal(sv_buf_append(&d->quality_txt, o->quality_json.data, o->quality_json.len),
	                 0);
	d->quality = json_loadb((const char *)o->quality_json.data, o->quality_json.len, 0, NULL);
	assert_non_null(d->quality);
	d->log_chunk = o->log_chunk;
	if (o->log_chunk > 0) {
		assert_int_equal(o->log_chunk, r->last_chunk + 1);
		r->last_chunk = o->log_chunk;
		assert_int_equal(
		    sv_gz_decompress(o->log_gz.data, o->log_gz.len, 1 << 20, &d->log_txt), 0);
		assert_int_equal(sv_buf_append(&r->logs, d->log_txt.data, d->log_txt.len), 0);
	} else {
		assert_int_equal(o->log_gz.len, 0);
	}
	/* the hook may take buffers */
	size_t n;
	free(sv_buf_take(&o->quality_json, &n));
	r->user_seen = *call->user;
}

static void rec_release(struct rec *r)
{
	for (int i = 0; i < r->completed; i++) {
		struct done *d = &r->done[i];
		sv_buf_release(&d->pcap);
		sv_buf_release(&d->rtcp_txt);
		sv_buf_release(&d->quality_txt);
		sv_buf_release(&d->log_txt);
		json_decref(d->rtcp);
		json_decref(d->quality);
	}
	sv_buf_release(&r->logs);
	memset(r, 0, sizeof(*r));
}

static struct sv_sessions *engine(struct rec *r)
{
	struct sv_session_limits lim = {
	    .pending_timeout_ns = S(300),
	    .active_timeout_ns = S(1800),
	    .closing_grace_ns = S(5),
	    .log_flush_ns = S(60),
	    .tombstone_ns = S(600),
	};
	struct sv_session_hooks h = {
	    .arg = r, .created = on_created, .log_chunk = on_chunk, .complete = on_complete};
	struct sv_sessions *s = NULL;
	memset(r, 0, sizeof(*r));
	sv_buf_init(&r->logs);
	assert_int_equal(sv_sessions_new(&lim, &h, &s), 0);
	return s;
}

/* ------------------------------------------------------------ builders */

static const char *CID = "a84b4c76e66710@pc33.example.com";

static void mkaddr(struct sv_wire_addr *a, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (strchr(ip, ':') != NULL) {
		a->family = 6;
		assert_int_equal(inet_pton(AF_INET6, ip, a->ip), 1);
	} else {
		a->family = 4;
		assert_int_equal(inet_pton(AF_INET, ip, a->ip), 1);
	}
	a->port = port;
}

static char *sdp_body(char *out, size_t cap, const char *ip, unsigned port, const char *extra)
{
	snprintf(out, cap,
	         "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
	         "m=audio %u RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n%s",
	         ip, ip, port, extra != NULL ? extra : "");
	return out;
}

/*
 * A SIP message. start: "INVITE" etc. for a request, or "200 OK" for a
 * response; ftag/ttag: From/To tags (ttag NULL: none); cseq + cmethod; the
 * From is alice (caller) when from_alice, else bob.
 */
static char *sipmsg(char *out, size_t cap, const char *cid, const char *start, int from_alice,
                    const char *ftag, const char *ttag, unsigned cseq, const char *cmethod,
                    const char *sdp, const char *transport)
{
	char sl[128], to[128], body[1024] = "";
	const char *fu = from_alice ? "sip:alice@a.example" : "sip:bob@b.example";
	const char *tu = from_alice ? "sip:bob@b.example" : "sip:alice@a.example";
	if (start[0] >= '0' && start[0] <= '9')
		snprintf(sl, sizeof(sl), "SIP/2.0 %s", start);
	else
		snprintf(sl, sizeof(sl), "%s %s SIP/2.0", start, tu);
	snprintf(to, sizeof(to), "<%s>%s%s", tu, ttag ? ";tag=" : "", ttag ? ttag : "");
	if (sdp != NULL)
		snprintf(body, sizeof(body), "%s", sdp);
	snprintf(out, cap,
	         "%s\r\nVia: SIP/2.0/%s 10.0.0.1:5060;branch=z9hG4bK%u%s\r\nMax-Forwards: 70\r\n"
	         "From: <%s>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %u %s\r\n"
	         "Contact: <sip:x@10.0.0.1>\r\n%sContent-Length: %zu\r\n\r\n%s",
	         sl, transport ? transport : "UDP", cseq, cmethod, fu, ftag, to, cid, cseq, cmethod,
	         sdp ? "Content-Type: application/sdp\r\n" : "", strlen(body), body);
	return out;
}

struct call {
	struct sv_sessions *s;
	const char *customer;
	const char *cid;
	uint64_t now;
};

static enum sv_ingest feed(struct call *c, uint64_t ts, const char *src, unsigned sport,
                           const char *dst, unsigned dport, const char *text)
{
	struct sv_wire_sip w;
	enum sv_ingest res = SV_INGEST_MALFORMED;
	memset(&w, 0, sizeof(w));
	w.ts_ns = ts;
	w.call_id.p = (const uint8_t *)c->cid;
	w.call_id.len = strlen(c->cid);
	mkaddr(&w.src, src, (uint16_t)sport);
	mkaddr(&w.dst, dst, (uint16_t)dport);
	w.sip.p = (const uint8_t *)text;
	w.sip.len = strlen(text);
	c->now = ts > c->now ? ts : c->now;
	assert_int_equal(sv_sessions_sip(c->s, c->customer, c->now, &w, &res), 0);
	return res;
}

/* Caller (alice, 10.0.0.1) -> proxy-free direct dialog with bob (10.0.0.2). */
static enum sv_ingest a2b(struct call *c, uint64_t ts, const char *text)
{
	return feed(c, ts, "10.0.0.1", 5060, "10.0.0.2", 5060, text);
}

static enum sv_ingest b2a(struct call *c, uint64_t ts, const char *text)
{
	return feed(c, ts, "10.0.0.2", 5060, "10.0.0.1", 5060, text);
}

static enum sv_ingest rtcp_in(struct call *c, uint64_t ts, const char *src, unsigned sport,
                              const char *dst, unsigned dport, uint32_t ssrc,
                              const struct sv_buf *raw)
{
	struct sv_rtcp_input in;
	enum sv_ingest res = SV_INGEST_MALFORMED;
	memset(&in, 0, sizeof(in));
	in.ts_ns = ts;
	in.call_id = (const uint8_t *)c->cid;
	in.call_id_len = strlen(c->cid);
	in.origin = SV_RTCP_FROM_AGENT;
	if (src != NULL) {
		in.has_addr = true;
		mkaddr(&in.src, src, (uint16_t)sport);
		mkaddr(&in.dst, dst, (uint16_t)dport);
	}
	in.ssrc = ssrc;
	in.raw = raw->data;
	in.raw_len = raw->len;
	c->now = ts > c->now ? ts : c->now;
	assert_int_equal(sv_sessions_rtcp(c->s, c->customer, c->now, &in, &res), 0);
	return res;
}

static enum sv_ingest log_in(struct call *c, uint64_t ts, const char *line)
{
	struct sv_wire_log l;
	enum sv_ingest res = SV_INGEST_MALFORMED;
	l.ts_ns = ts;
	l.call_id.p = (const uint8_t *)c->cid;
	l.call_id.len = strlen(c->cid);
	l.line.p = (const uint8_t *)line;
	l.line.len = strlen(line);
	c->now = ts > c->now ? ts : c->now;
	assert_int_equal(sv_sessions_log(c->s, c->customer, c->now, &l, &res), 0);
	return res;
}

/* RR from ssrc with one block about `about`. */
static void mk_rr(struct sv_buf *b, uint32_t ssrc, uint32_t about, uint8_t fl, uint32_t jitter,
                  uint32_t lsr, uint32_t dlsr)
{
	struct sv_rtcp_report_block blk = {.ssrc = about,
	                                   .fraction_lost = fl,
	                                   .cumulative_lost = 3,
	                                   .ext_highest_seq = 1000,
	                                   .jitter = jitter,
	                                   .lsr = lsr,
	                                   .dlsr = dlsr};
	sv_buf_reset(b);
	assert_int_equal(sv_rtcp_encode_report(b, ssrc, NULL, &blk, 1), 0);
}

static void mk_sr(struct sv_buf *b, uint32_t ssrc, uint64_t ntp, uint32_t about, uint8_t fl,
                  uint32_t jitter)
{
	struct sv_rtcp_sender_info si = {.ntp_sec = (uint32_t)(ntp >> 32),
	                                 .ntp_frac = (uint32_t)ntp,
	                                 .rtp_ts = 1,
	                                 .packet_count = 10,
	                                 .octet_count = 1600};
	struct sv_rtcp_report_block blk = {
	    .ssrc = about, .fraction_lost = fl, .ext_highest_seq = 500, .jitter = jitter};
	sv_buf_reset(b);
	assert_int_equal(sv_rtcp_encode_report(b, ssrc, &si, &blk, 1), 0);
}

static enum sv_call_state state_of(struct sv_sessions *s)
{
	struct sv_session_stats st;
	sv_sessions_stats(s, &st);
	for (int i = 0; i < SV_CALL_NSTATES - 1; i++)
		if (st.calls[i] == 1)
			return (enum sv_call_state)i;
	return SV_CALL_COMPLETE;
}

static const char *jstr(json_t *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *v = o;
	for (char *t = strtok(buf, "."); t != NULL; t = strtok(NULL, "."))
		v = json_object_get(v, t);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

static json_t *jget(json_t *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *v = o;
	for (char *t = strtok(buf, "."); t != NULL; t = strtok(NULL, "."))
		v = json_object_get(v, t);
	return v;
}

static json_t *report(struct done *d, size_t i)
{
	json_t *r = json_array_get(json_object_get(d->rtcp, "reports"), i);
	assert_non_null(r);
	return r;
}

/* --analyze on the stored rtcp.json gives the stored quality.json, byte for byte. */
static void assert_analyze_matches(struct done *d)
{
	struct sv_rtcpjson doc;
	char err[256] = "";
	json_t *q = NULL;
	struct sv_buf out;
	if (sv_rtcpjson_load(d->rtcp_txt.data, d->rtcp_txt.len, &doc, err, sizeof(err)) != 0)
		fail_msg("rtcp.json does not load: %s", err);
	assert_int_equal(
	    sv_quality_build(&doc.call, doc.samples, doc.n_samples, SV_QUALITY_SRC_RTCP, &q), 0);
	sv_buf_init(&out);
	assert_int_equal(sv_quality_dump(q, &out), 0);
	assert_int_equal(out.len, d->quality_txt.len);
	assert_memory_equal(out.data, d->quality_txt.data, out.len);
	sv_buf_release(&out);
	json_decref(q);
	sv_rtcpjson_release(&doc);
}

/* ------------------------------------------------------------ tests */

/* INVITE / 100 / 180 / 200 / ACK / RTCP both ways / BYE / 200, BYE from caller or callee. */
static void run_answered(int bye_from_callee)
{
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096], sdp[512];
	struct sv_buf b;
	sv_buf_init(&b);

	assert_int_equal(a2b(&c, T0 + MS(120),
	                     sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE",
	                            sdp_body(sdp, sizeof(sdp), "10.0.0.1", 4000, NULL), NULL)),
	                 SV_INGEST_CREATED);
	assert_int_equal(r.created, 1);
	assert_int_equal(state_of(c.s), SV_CALL_PENDING);
	assert_int_equal(log_in(&c, T0 + MS(130), "pending line\n"), SV_INGEST_STORED);
	assert_int_equal(
	    b2a(&c, T0 + MS(200),
	        sipmsg(m, sizeof(m), CID, "100 Trying", 1, "a1", NULL, 1, "INVITE", NULL, NULL)),
	    SV_INGEST_STORED);
	assert_int_equal(
	    b2a(&c, T0 + MS(300),
	        sipmsg(m, sizeof(m), CID, "180 Ringing", 1, "a1", "b1", 1, "INVITE", NULL, NULL)),
	    SV_INGEST_STORED);
	assert_int_equal(state_of(c.s), SV_CALL_PENDING);
	assert_int_equal(b2a(&c, T0 + MS(3480),
	                     sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 1, "INVITE",
	                            sdp_body(sdp, sizeof(sdp), "10.0.0.2", 5000, NULL), NULL)),
	                 SV_INGEST_STORED);
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	assert_int_equal(a2b(&c, T0 + MS(3500),
	                     sipmsg(m, sizeof(m), CID, "ACK", 1, "a1", "b1", 1, "ACK", NULL, NULL)),
	                 SV_INGEST_STORED);

	/* bob sends an SR at t=8s; alice's RR at 8.5 s echoes it with DLSR 0.25 s: rtt 250 ms */
	uint64_t ntp = sv_rtcp_unix_ns_to_ntp((int64_t)(T0 + S(8)));
	mk_sr(&b, 0xb0b, ntp, 0xa11ce, 0, 80);
	assert_int_equal(rtcp_in(&c, T0 + S(8), "10.0.0.2", 5001, "10.0.0.1", 4001, 0xb0b, &b),
	                 SV_INGEST_STORED);
	mk_rr(&b, 0xa11ce, 0xb0b, 3, 160, sv_rtcp_ntp_compact(ntp), 16384);
	assert_int_equal(
	    rtcp_in(&c, T0 + S(8) + MS(500), "10.0.0.1", 4001, "10.0.0.2", 5001, 0xa11ce, &b),
	    SV_INGEST_STORED);
	assert_int_equal(log_in(&c, T0 + S(9), "active line"), SV_INGEST_STORED);

	if (bye_from_callee)
		assert_int_equal(
		    b2a(&c, T0 + MS(61910),
		        sipmsg(m, sizeof(m), CID, "BYE", 0, "b1", "a1", 1, "BYE", NULL, NULL)),
		    SV_INGEST_STORED);
	else
		assert_int_equal(
		    a2b(&c, T0 + MS(61910),
		        sipmsg(m, sizeof(m), CID, "BYE", 1, "a1", "b1", 2, "BYE", NULL, NULL)),
		    SV_INGEST_STORED);
	assert_int_equal(state_of(c.s), SV_CALL_CLOSING);
	/* the 200 to the BYE arrives within the grace: stored */
	if (bye_from_callee)
		assert_int_equal(
		    a2b(&c, T0 + MS(62000),
		        sipmsg(m, sizeof(m), CID, "200 OK", 0, "b1", "a1", 1, "BYE", NULL, NULL)),
		    SV_INGEST_STORED);
	else
		assert_int_equal(
		    b2a(&c, T0 + MS(62000),
		        sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 2, "BYE", NULL, NULL)),
		    SV_INGEST_STORED);
	/* grace: nothing before 5 s after the BYE was processed */
	uint64_t next = sv_sessions_tick(c.s, c.now + S(4));
	assert_int_equal(r.completed, 0);
	assert_true(next <= c.now + S(5) + MS(100));
	sv_sessions_tick(c.s, c.now + S(6));
	assert_int_equal(r.completed, 1);
	assert_int_equal(state_of(c.s), SV_CALL_COMPLETE);
	assert_true(r.user_seen == 42);

	struct done *d = &r.done[0];
	assert_string_equal(d->customer, "acme");
	assert_string_equal(d->call_id, CID);
	assert_int_equal(d->pcap_records, 7);
	/* rtcp.json */
	assert_string_equal(jstr(d->rtcp, "call_id"), CID);
	assert_string_equal(jstr(d->rtcp, "customer"), "acme");
	assert_string_equal(jstr(d->rtcp, "codec"), "PCMU");
	assert_int_equal(json_array_size(json_object_get(d->rtcp, "reports")), 2);
	assert_string_equal(jstr(report(d, 0), "direction"), "uas");
	assert_string_equal(jstr(report(d, 0), "packet_type"), "sr");
	assert_string_equal(jstr(report(d, 0), "src"), "10.0.0.2:5001");
	assert_string_equal(jstr(report(d, 1), "direction"), "uac");
	assert_string_equal(jstr(report(d, 1), "source"), "agent");
	assert_non_null(json_object_get(report(d, 1), "raw"));
	json_t *blk = json_array_get(json_object_get(report(d, 1), "blocks"), 0);
	assert_true(fabs(json_number_value(json_object_get(blk, "rtt_ms")) - 250.0) < 0.01);
	assert_int_equal(json_integer_value(json_object_get(blk, "fraction_lost")), 3);
	blk = json_array_get(json_object_get(report(d, 0), "blocks"), 0);
	assert_true(json_is_null(json_object_get(blk, "rtt_ms")));
	/* quality.json */
	assert_string_equal(jstr(d->quality, "source"), "rtcp");
	assert_string_equal(jstr(d->quality, "audio_status"), "normal");
	assert_string_equal(jstr(d->quality, "customer"), "acme");
	assert_string_equal(jstr(d->quality, "summary.from"), "sip:alice@a.example");
	assert_string_equal(jstr(d->quality, "summary.to"), "sip:bob@b.example");
	assert_string_equal(jstr(d->quality, "summary.end_reason"), "bye");
	assert_string_equal(jstr(d->quality, "summary.started_at"), "2025-11-26T10:00:00.120Z");
	assert_string_equal(jstr(d->quality, "summary.answered_at"), "2025-11-26T10:00:03.480Z");
	assert_string_equal(jstr(d->quality, "summary.ended_at"), "2025-11-26T10:01:01.910Z");
	assert_int_equal(json_integer_value(jget(d->quality, "summary.final_status")), 200);
	assert_true(fabs(json_number_value(jget(d->quality, "summary.duration_seconds")) - 58.43) <
	            1e-9);
	assert_int_equal(json_integer_value(jget(d->quality, "summary.sample_count")), 2);
	assert_true(fabs(json_number_value(jget(d->quality, "directions.uac.rtt.avg")) - 250) <
	            0.01);
	assert_non_null(jget(d->quality, "directions.uas"));
	assert_analyze_matches(d);
	/* logs: both lines once, in the final chunk (no periodic flush happened) */
	assert_int_equal(d->log_chunk, 1);
	assert_int_equal(r.logs.len, strlen("pending line\nactive line\n"));
	assert_memory_equal(r.logs.data, "pending line\nactive line\n", r.logs.len);

	/* late: after COMPLETE nothing starts a new call */
	assert_int_equal(a2b(&c, T0 + S(70),
	                     sipmsg(m, sizeof(m), CID, "BYE", 1, "a1", "b1", 2, "BYE", NULL, NULL)),
	                 SV_INGEST_LATE);
	assert_int_equal(rtcp_in(&c, T0 + S(70), NULL, 0, NULL, 0, 0xa11ce, &b), SV_INGEST_LATE);
	assert_int_equal(log_in(&c, T0 + S(70), "late"), SV_INGEST_LATE);
	struct sv_session_stats st;
	sv_sessions_stats(c.s, &st);
	assert_int_equal(st.ingest[SV_INGEST_LATE], 3);
	assert_int_equal(st.completed, 1);
	assert_int_equal(st.calls[SV_CALL_COMPLETE], 1);
	assert_int_equal(st.calls[SV_CALL_PENDING] + st.calls[SV_CALL_ACTIVE], 0);
	assert_int_equal(r.created, 1);
	/* the tombstone expires */
	sv_sessions_tick(c.s, c.now + S(700));
	sv_sessions_stats(c.s, &st);
	assert_int_equal(st.calls[SV_CALL_COMPLETE], 0);
	assert_int_equal(st.bytes_held, 0);
	sv_buf_release(&b);
	sv_sessions_free(c.s);
	rec_release(&r);
}

static void test_answered_bye_caller(void **state)
{
	(void)state;
	run_answered(0);
}

static void test_answered_bye_callee(void **state)
{
	(void)state;
	run_answered(1);
}

static void test_cancel(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096];
	a2b(&c, T0, sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL));
	b2a(&c, T0 + S(1),
	    sipmsg(m, sizeof(m), CID, "180 Ringing", 1, "a1", "b1", 1, "INVITE", NULL, NULL));
	assert_int_equal(
	    a2b(&c, T0 + S(5),
	        sipmsg(m, sizeof(m), CID, "CANCEL", 1, "a1", NULL, 1, "CANCEL", NULL, NULL)),
	    SV_INGEST_STORED);
	assert_int_equal(state_of(c.s), SV_CALL_CLOSING);
	b2a(&c, T0 + S(5) + MS(10),
	    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", NULL, 1, "CANCEL", NULL, NULL));
	b2a(&c, T0 + S(5) + MS(20),
	    sipmsg(m, sizeof(m), CID, "487 Request Terminated", 1, "a1", "b1", 1, "INVITE", NULL,
	           NULL));
	a2b(&c, T0 + S(5) + MS(30),
	    sipmsg(m, sizeof(m), CID, "ACK", 1, "a1", "b1", 1, "ACK", NULL, NULL));
	sv_sessions_tick(c.s, c.now + S(10));
	assert_int_equal(r.completed, 1);
	struct done *d = &r.done[0];
	assert_int_equal(d->pcap_records, 6);
	assert_string_equal(jstr(d->quality, "summary.end_reason"), "cancel");
	assert_int_equal(json_integer_value(jget(d->quality, "summary.final_status")), 487);
	assert_string_equal(jstr(d->quality, "verdict"), "unknown");
	assert_string_equal(jstr(d->quality, "audio_status"), "not_answered");
	assert_string_equal(jstr(d->quality, "source"), "none");
	assert_true(json_is_null(jget(d->quality, "summary.answered_at")));
	assert_string_equal(jstr(d->quality, "summary.ended_at"), "2025-11-26T10:00:05.000Z");
	assert_analyze_matches(d);
	sv_sessions_free(c.s);
	rec_release(&r);
}

static void test_rejected(void **state)
{
	(void)state;
	static const char *const finals[] = {"302 Moved Temporarily", "486 Busy Here",
	                                     "503 Service Unavailable", "603 Decline"};
	for (size_t i = 0; i < 4; i++) {
		struct rec r;
		struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
		char m[4096];
		a2b(&c, T0,
		    sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL));
		b2a(&c, T0 + S(1),
		    sipmsg(m, sizeof(m), CID, finals[i], 1, "a1", "b1", 1, "INVITE", NULL, NULL));
		assert_int_equal(state_of(c.s), SV_CALL_CLOSING);
		a2b(&c, T0 + S(1),
		    sipmsg(m, sizeof(m), CID, "ACK", 1, "a1", "b1", 1, "ACK", NULL, NULL));
		sv_sessions_tick(c.s, c.now + S(5));
		assert_int_equal(r.completed, 1);
		assert_string_equal(jstr(r.done[0].quality, "summary.end_reason"), "failed");
		assert_int_equal(
		    json_integer_value(jget(r.done[0].quality, "summary.final_status")),
		    atoi(finals[i]));
		assert_int_equal(r.done[0].pcap_records, 3);
		assert_int_equal(r.done[0].log_chunk, 0);
		sv_sessions_free(c.s);
		rec_release(&r);
	}
}

/* 407, ACK, INVITE with credentials (CSeq 2), 200: one call. */
static void test_auth_challenge_one_call(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096], sdp[512];
	a2b(&c, T0, sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL));
	b2a(&c, T0 + MS(50),
	    sipmsg(m, sizeof(m), CID, "407 Proxy Authentication Required", 1, "a1", "p1", 1,
	           "INVITE", NULL, NULL));
	assert_int_equal(state_of(c.s), SV_CALL_CLOSING);
	a2b(&c, T0 + MS(60), sipmsg(m, sizeof(m), CID, "ACK", 1, "a1", "p1", 1, "ACK", NULL, NULL));
	assert_int_equal(a2b(&c, T0 + MS(100),
	                     sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 2, "INVITE",
	                            sdp_body(sdp, sizeof(sdp), "10.0.0.1", 4000, NULL), NULL)),
	                 SV_INGEST_STORED);
	assert_int_equal(state_of(c.s), SV_CALL_PENDING);
	/* a late retransmitted 407 of the first INVITE does not close it again */
	b2a(&c, T0 + MS(110),
	    sipmsg(m, sizeof(m), CID, "407 Proxy Authentication Required", 1, "a1", "p1", 1,
	           "INVITE", NULL, NULL));
	assert_int_equal(state_of(c.s), SV_CALL_PENDING);
	b2a(&c, T0 + S(2),
	    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 2, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.2", 5000, NULL), NULL));
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	/* the grace of the challenge does not complete the call */
	sv_sessions_tick(c.s, c.now + S(10));
	assert_int_equal(r.completed, 0);
	a2b(&c, T0 + S(30), sipmsg(m, sizeof(m), CID, "BYE", 1, "a1", "b1", 3, "BYE", NULL, NULL));
	sv_sessions_tick(c.s, c.now + S(10));
	assert_int_equal(r.completed, 1);
	assert_int_equal(r.created, 1);
	struct done *d = &r.done[0];
	assert_int_equal(d->pcap_records, 7);
	assert_int_equal(json_integer_value(jget(d->quality, "summary.final_status")), 200);
	assert_string_equal(jstr(d->quality, "summary.end_reason"), "bye");
	assert_string_equal(jstr(d->quality, "summary.started_at"), "2025-11-26T10:00:00.000Z");
	assert_string_equal(jstr(d->quality, "audio_status"), "noa");
	sv_sessions_free(c.s);
	rec_release(&r);
}

/* re-INVITE moves alice's media; UPDATE moves bob's: old and new endpoints both count. */
static void test_reinvite_update_media(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096], sdp[512];
	struct sv_buf b;
	sv_buf_init(&b);
	a2b(&c, T0,
	    sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.1", 4000, NULL), NULL));
	b2a(&c, T0 + S(1),
	    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 1, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.2", 5000, NULL), NULL));
	a2b(&c, T0 + S(1), sipmsg(m, sizeof(m), CID, "ACK", 1, "a1", "b1", 1, "ACK", NULL, NULL));
	a2b(&c, T0 + S(10),
	    sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", "b1", 2, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.11", 6000, NULL), NULL));
	b2a(&c, T0 + S(10),
	    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 2, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.2", 5000, NULL), NULL));
	a2b(&c, T0 + S(10), sipmsg(m, sizeof(m), CID, "ACK", 1, "a1", "b1", 2, "ACK", NULL, NULL));
	/* a failed re-INVITE does not end the call */
	b2a(&c, T0 + S(11),
	    sipmsg(m, sizeof(m), CID, "INVITE", 0, "b1", "a1", 1, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.2", 5000, NULL), NULL));
	a2b(&c, T0 + S(11),
	    sipmsg(m, sizeof(m), CID, "488 Not Acceptable Here", 0, "b1", "a1", 1, "INVITE", NULL,
	           NULL));
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	/* UPDATE from bob with new media (his side: uas endpoint added) */
	b2a(&c, T0 + S(12),
	    sipmsg(m, sizeof(m), CID, "UPDATE", 0, "b1", "a1", 2, "UPDATE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.22", 7000, NULL), NULL));
	a2b(&c, T0 + S(12),
	    sipmsg(m, sizeof(m), CID, "200 OK", 0, "b1", "a1", 2, "UPDATE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.11", 6000, NULL), NULL));
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	mk_rr(&b, 1, 2, 0, 8, 0, 0);
	rtcp_in(&c, T0 + S(20), "10.0.0.11", 6001, "10.0.0.22", 7001, 1, &b); /* new alice */
	mk_rr(&b, 2, 1, 0, 8, 0, 0);
	rtcp_in(&c, T0 + S(21), "10.0.0.2", 5001, "10.0.0.1", 4001, 2, &b); /* old bob */
	mk_rr(&b, 3, 1, 0, 8, 0, 0);
	rtcp_in(&c, T0 + S(22), "10.0.0.22", 7001, "10.0.0.11", 6001, 3, &b); /* new bob */
	mk_rr(&b, 4, 1, 0, 8, 0, 0);
	rtcp_in(&c, T0 + S(23), "192.0.2.9", 9, "10.0.0.2", 5001, 4, &b); /* by destination: uac */
	mk_rr(&b, 5, 1, 0, 8, 0, 0);
	rtcp_in(&c, T0 + S(24), "10.0.0.1", 4999, "192.0.2.9", 9, 5, &b); /* address only: uac */
	a2b(&c, T0 + S(30), sipmsg(m, sizeof(m), CID, "BYE", 1, "a1", "b1", 3, "BYE", NULL, NULL));
	sv_sessions_tick(c.s, c.now + S(6));
	assert_int_equal(r.completed, 1);
	struct done *d = &r.done[0];
	assert_int_equal(d->pcap_records, 11);
	assert_string_equal(jstr(report(d, 0), "direction"), "uac");
	assert_string_equal(jstr(report(d, 1), "direction"), "uas");
	assert_string_equal(jstr(report(d, 2), "direction"), "uas");
	assert_string_equal(jstr(report(d, 3), "direction"), "uac");
	assert_string_equal(jstr(report(d, 4), "direction"), "uac");
	assert_string_equal(jstr(d->quality, "summary.end_reason"), "bye");
	assert_analyze_matches(d);
	sv_buf_release(&b);
	sv_sessions_free(c.s);
	rec_release(&r);
}

/* 183 with SDP, PRACK, RTCP during early media, then 200: answered at the 200. */
static void test_early_media_prack(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096], sdp[512];
	struct sv_buf b;
	sv_buf_init(&b);
	a2b(&c, T0,
	    sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.1", 4000, "a=ssrc:111 cname:a\r\n"), NULL));
	b2a(&c, T0 + S(1),
	    sipmsg(m, sizeof(m), CID, "183 Session Progress", 1, "a1", "b1", 1, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.2", 5000, "a=ssrc:222 cname:b\r\n"), NULL));
	a2b(&c, T0 + S(1),
	    sipmsg(m, sizeof(m), CID, "PRACK", 1, "a1", "b1", 2, "PRACK", NULL, NULL));
	b2a(&c, T0 + S(1),
	    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 2, "PRACK", NULL, NULL));
	assert_int_equal(state_of(c.s), SV_CALL_PENDING);
	/* early media RTCP from bob, then a DATA_RTCP without addresses from alice (SSRC
	 * from a=ssrc) and one from an unknown SSRC */
	mk_rr(&b, 222, 111, 0, 8, 0, 0);
	assert_int_equal(rtcp_in(&c, T0 + S(3), "10.0.0.2", 5001, "10.0.0.1", 4001, 222, &b),
	                 SV_INGEST_STORED);
	assert_int_equal(state_of(c.s), SV_CALL_PENDING);
	b2a(&c, T0 + S(4),
	    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 1, "INVITE", NULL, NULL));
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	mk_rr(&b, 111, 222, 0, 8, 0, 0);
	assert_int_equal(rtcp_in(&c, T0 + S(6), NULL, 0, NULL, 0, 111, &b), SV_INGEST_STORED);
	mk_rr(&b, 999, 222, 0, 8, 0, 0);
	assert_int_equal(rtcp_in(&c, T0 + S(7), NULL, 0, NULL, 0, 999, &b), SV_INGEST_STORED);
	a2b(&c, T0 + S(9), sipmsg(m, sizeof(m), CID, "BYE", 1, "a1", "b1", 3, "BYE", NULL, NULL));
	sv_sessions_tick(c.s, c.now + S(6));
	assert_int_equal(r.completed, 1);
	struct done *d = &r.done[0];
	assert_int_equal(d->pcap_records, 6);
	assert_string_equal(jstr(report(d, 0), "direction"), "uas");
	assert_string_equal(jstr(report(d, 1), "direction"), "uac");
	assert_null(json_object_get(report(d, 1), "src"));
	assert_string_equal(jstr(report(d, 2), "direction"), "unknown");
	assert_string_equal(jstr(d->quality, "summary.answered_at"), "2025-11-26T10:00:04.000Z");
	assert_int_equal(json_integer_value(jget(d->quality, "summary.sample_count")), 2);
	assert_int_equal(json_integer_value(jget(d->quality, "directions.uac.sample_count")), 1);
	struct sv_session_stats st;
	sv_sessions_stats(c.s, &st);
	assert_int_equal(st.rtcp_unknown_direction, 1);
	assert_analyze_matches(d);
	sv_buf_release(&b);
	sv_sessions_free(c.s);
	rec_release(&r);
}

/*
 * Two forks answer: ACTIVE at the first 2xx. The caller BYEs the second fork
 * at once: stored, but the call goes on; the BYE of the answering dialog ends it.
 */
static void test_forked_2xx(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096], sdp[512];
	a2b(&c, T0,
	    sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.1", 4000, NULL), NULL));
	b2a(&c, T0 + S(2),
	    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "f1", 1, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.2", 5000, NULL), NULL));
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	feed(&c, T0 + S(3), "10.0.0.3", 5060, "10.0.0.1", 5060,
	     sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "f2", 1, "INVITE",
	            sdp_body(sdp, sizeof(sdp), "10.0.0.3", 5000, NULL), NULL));
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	/* a losing fork's 487 after the answer changes nothing */
	feed(&c, T0 + S(3), "10.0.0.4", 5060, "10.0.0.1", 5060,
	     sipmsg(m, sizeof(m), CID, "487 Request Terminated", 1, "a1", "f3", 1, "INVITE", NULL,
	            NULL));
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	a2b(&c, T0 + S(3), sipmsg(m, sizeof(m), CID, "ACK", 1, "a1", "f1", 1, "ACK", NULL, NULL));
	a2b(&c, T0 + S(3), sipmsg(m, sizeof(m), CID, "ACK", 1, "a1", "f2", 1, "ACK", NULL, NULL));
	assert_int_equal(a2b(&c, T0 + S(4),
	                     sipmsg(m, sizeof(m), CID, "BYE", 1, "a1", "f2", 2, "BYE", NULL, NULL)),
	                 SV_INGEST_STORED);
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	/* the answering dialog's BYE, from the callee (its From-tag is the answer's tag) */
	b2a(&c, T0 + S(30), sipmsg(m, sizeof(m), CID, "BYE", 0, "f1", "a1", 1, "BYE", NULL, NULL));
	assert_int_equal(state_of(c.s), SV_CALL_CLOSING);
	sv_sessions_tick(c.s, c.now + S(6));
	assert_int_equal(r.completed, 1);
	struct done *d = &r.done[0];
	assert_int_equal(d->pcap_records, 8);
	assert_string_equal(jstr(d->quality, "summary.answered_at"), "2025-11-26T10:00:02.000Z");
	assert_string_equal(jstr(d->quality, "summary.ended_at"), "2025-11-26T10:00:30.000Z");
	assert_int_equal(r.created, 1);
	sv_sessions_free(c.s);
	rec_release(&r);
}

/* 180 and 200 arrive before the INVITE (another agent); the pcap is in time order. */
static void test_out_of_order(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096], sdp[512];
	assert_int_equal(
	    b2a(&c, T0 + S(1),
	        sipmsg(m, sizeof(m), CID, "180 Ringing", 1, "a1", "b1", 1, "INVITE", NULL, NULL)),
	    SV_INGEST_CREATED);
	assert_int_equal(b2a(&c, T0 + S(2),
	                     sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 1, "INVITE",
	                            sdp_body(sdp, sizeof(sdp), "10.0.0.2", 5000, NULL), NULL)),
	                 SV_INGEST_STORED);
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	assert_int_equal(a2b(&c, T0,
	                     sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE",
	                            sdp_body(sdp, sizeof(sdp), "10.0.0.1", 4000, NULL), NULL)),
	                 SV_INGEST_STORED);
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	a2b(&c, T0 + S(9), sipmsg(m, sizeof(m), CID, "BYE", 1, "a1", "b1", 2, "BYE", NULL, NULL));
	sv_sessions_tick(c.s, c.now + S(6));
	assert_int_equal(r.completed, 1);
	struct done *d = &r.done[0];
	assert_int_equal(d->pcap_records, 4);
	/* first record: the INVITE (ts T0) */
	const uint8_t *p = d->pcap.data + 24;
	uint32_t sec = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	assert_int_equal(sec, T0 / 1000000000ull);
	assert_memory_equal(p + 16 + 28, "INVITE", 6);
	assert_string_equal(jstr(d->quality, "summary.started_at"), "2025-11-26T10:00:00.000Z");
	assert_string_equal(jstr(d->quality, "summary.from"), "sip:alice@a.example");
	assert_int_equal(r.created, 1);
	sv_sessions_free(c.s);
	rec_release(&r);
}

/* Only a 180 is ever seen: incomplete call, pending timeout. */
static void test_pending_timeout_incomplete(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096];
	assert_int_equal(
	    b2a(&c, T0 + S(1),
	        sipmsg(m, sizeof(m), CID, "180 Ringing", 1, "a1", "b1", 1, "INVITE", NULL, NULL)),
	    SV_INGEST_CREATED);
	uint64_t next = sv_sessions_tick(c.s, c.now + S(299));
	assert_int_equal(r.completed, 0);
	assert_true(next == c.now + S(300));
	sv_sessions_tick(c.s, next);
	assert_int_equal(r.completed, 1);
	struct done *d = &r.done[0];
	assert_string_equal(jstr(d->quality, "summary.end_reason"), "timeout");
	assert_int_equal(json_integer_value(jget(d->quality, "summary.final_status")), 0);
	assert_string_equal(jstr(d->quality, "summary.started_at"), "2025-11-26T10:00:01.000Z");
	assert_string_equal(jstr(d->quality, "summary.from"), "sip:alice@a.example");
	assert_int_equal(d->pcap_records, 1);
	sv_sessions_free(c.s);
	rec_release(&r);
}

/* ACTIVE ends after active_timeout without any frame; every frame restarts the timer. */
static void test_active_timeout(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096];
	struct sv_buf b;
	sv_buf_init(&b);
	a2b(&c, T0, sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL));
	b2a(&c, T0 + S(1),
	    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 1, "INVITE", NULL, NULL));
	mk_rr(&b, 7, 8, 0, 8, 0, 0);
	rtcp_in(&c, T0 + S(1000), NULL, 0, NULL, 0, 7, &b); /* keeps it alive */
	sv_sessions_tick(c.s, T0 + S(1802));
	assert_int_equal(r.completed, 0);
	assert_int_equal(state_of(c.s), SV_CALL_ACTIVE);
	sv_sessions_tick(c.s, T0 + S(2801));
	assert_int_equal(r.completed, 1);
	assert_string_equal(jstr(r.done[0].quality, "summary.end_reason"), "timeout");
	assert_int_equal(json_integer_value(jget(r.done[0].quality, "summary.final_status")), 200);
	assert_string_equal(jstr(r.done[0].quality, "summary.ended_at"),
	                    "2025-11-26T10:00:01.000Z");
	sv_buf_release(&b);
	sv_sessions_free(c.s);
	rec_release(&r);
}

static void test_log_chunks(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096], line[64];
	struct sv_buf want;
	sv_buf_init(&want);
	a2b(&c, T0, sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL));
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "pending %d", i);
		log_in(&c, T0 + MS(i), line);
		sv_buf_printf(&want, "%s\n", line);
	}
	/* nothing is flushed while PENDING */
	sv_sessions_tick(c.s, T0 + S(120));
	assert_int_equal(r.chunks, 0);
	b2a(&c, T0 + S(121),
	    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 1, "INVITE", NULL, NULL));
	uint64_t t = T0 + S(121);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 4; i++) {
			snprintf(line, sizeof(line), "active %d.%d", round, i);
			log_in(&c, t + S(1) + MS(i), line);
			sv_buf_printf(&want, "%s\n", line);
		}
		t += S(60);
		sv_sessions_tick(c.s, t);
		assert_int_equal(r.chunks, (unsigned)round + 1);
	}
	/* an interval without lines gives no chunk */
	t += S(60);
	sv_sessions_tick(c.s, t);
	assert_int_equal(r.chunks, 3);
	assert_int_equal(r.chunk_lines, 15);
	log_in(&c, t + S(1), "last line\r\n");
	sv_buf_printf(&want, "last line\n");
	a2b(&c, t + S(2), sipmsg(m, sizeof(m), CID, "BYE", 1, "a1", "b1", 2, "BYE", NULL, NULL));
	/* after the BYE no periodic flush: the rest goes with COMPLETE */
	log_in(&c, t + S(3), "after bye");
	sv_buf_printf(&want, "after bye\n");
	sv_sessions_tick(c.s, t + S(8));
	assert_int_equal(r.chunks, 3);
	assert_int_equal(r.completed, 1);
	assert_int_equal(r.done[0].log_chunk, 4);
	assert_int_equal(r.logs.len, want.len);
	assert_memory_equal(r.logs.data, want.data, want.len);
	struct sv_session_stats st;
	sv_sessions_stats(c.s, &st);
	assert_int_equal(st.log_chunks, 3);
	sv_buf_release(&want);
	sv_sessions_free(c.s);
	rec_release(&r);
}

/* rtpproxy: the proxy sees original and rewritten SDPs and each report on both sides. */
static void test_relay_dedupe(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096], sdp[512];
	struct sv_buf b;
	sv_buf_init(&b);
	/* alice -> proxy (10.0.0.9) -> bob; the proxy's relay ports 30000 (alice side) and
	 * 30002 (bob side) */
	feed(&c, T0, "10.0.0.1", 5060, "10.0.0.9", 5060,
	     sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE",
	            sdp_body(sdp, sizeof(sdp), "10.0.0.1", 4000, NULL), NULL));
	feed(&c, T0 + MS(1), "10.0.0.9", 5060, "10.0.0.2", 5060,
	     sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE",
	            sdp_body(sdp, sizeof(sdp), "10.0.0.9", 30002, NULL), NULL));
	feed(&c, T0 + S(1), "10.0.0.2", 5060, "10.0.0.9", 5060,
	     sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 1, "INVITE",
	            sdp_body(sdp, sizeof(sdp), "10.0.0.2", 5000, NULL), NULL));
	feed(&c, T0 + S(1) + MS(1), "10.0.0.9", 5060, "10.0.0.1", 5060,
	     sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 1, "INVITE",
	            sdp_body(sdp, sizeof(sdp), "10.0.0.9", 30000, NULL), NULL));
	/* alice's RR: alice -> relay, then relay -> bob */
	mk_rr(&b, 0xa, 0xb, 10, 40, 0, 0);
	assert_int_equal(rtcp_in(&c, T0 + S(5), "10.0.0.1", 4001, "10.0.0.9", 30001, 0xa, &b),
	                 SV_INGEST_STORED);
	assert_int_equal(
	    rtcp_in(&c, T0 + S(5) + MS(1), "10.0.0.9", 30003, "10.0.0.2", 5001, 0xa, &b),
	    SV_INGEST_DUPLICATE);
	/* bob's RR, seen only on the relay -> alice leg */
	mk_rr(&b, 0xb, 0xa, 0, 16, 0, 0);
	assert_int_equal(rtcp_in(&c, T0 + S(6), "10.0.0.9", 30001, "10.0.0.1", 4001, 0xb, &b),
	                 SV_INGEST_STORED);
	/* the same bytes much later are a new report */
	mk_rr(&b, 0xa, 0xb, 10, 40, 0, 0);
	assert_int_equal(rtcp_in(&c, T0 + S(30), "10.0.0.1", 4001, "10.0.0.9", 30001, 0xa, &b),
	                 SV_INGEST_STORED);
	feed(&c, T0 + S(40), "10.0.0.1", 5060, "10.0.0.9", 5060,
	     sipmsg(m, sizeof(m), CID, "BYE", 1, "a1", "b1", 2, "BYE", NULL, NULL));
	sv_sessions_tick(c.s, c.now + S(6));
	assert_int_equal(r.completed, 1);
	struct done *d = &r.done[0];
	assert_int_equal(json_array_size(json_object_get(d->rtcp, "reports")), 3);
	assert_string_equal(jstr(report(d, 0), "direction"), "uac");
	assert_string_equal(jstr(report(d, 1), "direction"), "uas");
	assert_string_equal(jstr(report(d, 2), "direction"), "uac");
	assert_string_equal(jstr(d->quality, "audio_status"), "normal");
	struct sv_session_stats st;
	sv_sessions_stats(c.s, &st);
	assert_int_equal(st.ingest[SV_INGEST_DUPLICATE], 1);
	assert_analyze_matches(d);
	sv_buf_release(&b);
	sv_sessions_free(c.s);
	rec_release(&r);
}

/* XR VoIP metrics round-trip delay gives rtt when LSR is 0. */
static void test_xr_rtt_and_malformed(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096], sdp[512];
	struct sv_buf b;
	sv_buf_init(&b);
	a2b(&c, T0,
	    sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.1", 4000, NULL), NULL));
	b2a(&c, T0 + S(1),
	    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 1, "INVITE",
	           sdp_body(sdp, sizeof(sdp), "10.0.0.2", 5000, NULL), NULL));
	mk_rr(&b, 0xa, 0xb, 0, 8, 0, 0);
	struct sv_rtcp_xr_voip vm;
	memset(&vm, 0, sizeof(vm));
	vm.ssrc = 0xb;
	vm.round_trip_delay = 120;
	vm.mos_lq = 127;
	assert_int_equal(sv_rtcp_encode_xr_voip(&b, 0xa, &vm, 1), 0);
	assert_int_equal(rtcp_in(&c, T0 + S(5), "10.0.0.1", 4001, "10.0.0.2", 5001, 0xa, &b),
	                 SV_INGEST_STORED);
	sv_buf_reset(&b);
	sv_buf_append(&b, "\x81\xc9\x00\x09garbage", 11);
	assert_int_equal(rtcp_in(&c, T0 + S(6), "10.0.0.1", 4001, "10.0.0.2", 5001, 0xa, &b),
	                 SV_INGEST_MALFORMED);
	/* unparseable SIP */
	assert_int_equal(a2b(&c, T0 + S(7), "NOT SIP AT ALL\r\n\r\n"), SV_INGEST_MALFORMED);
	a2b(&c, T0 + S(9), sipmsg(m, sizeof(m), CID, "BYE", 1, "a1", "b1", 2, "BYE", NULL, NULL));
	sv_sessions_complete_all(c.s, c.now);
	assert_int_equal(r.completed, 1);
	struct done *d = &r.done[0];
	assert_int_equal(json_array_size(json_object_get(d->rtcp, "reports")), 2);
	assert_string_equal(jstr(report(d, 1), "packet_type"), "xr");
	json_t *blk = json_array_get(json_object_get(report(d, 0), "blocks"), 0);
	assert_true(fabs(json_number_value(json_object_get(blk, "rtt_ms")) - 120) < 1e-9);
	assert_string_equal(jstr(d->quality, "summary.end_reason"), "bye");
	sv_buf_release(&b);
	sv_sessions_free(c.s);
	rec_release(&r);
}

static void test_not_call_sip(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = "oodl@x"};
	char m[4096];
	const char *methods[] = {"OPTIONS", "REGISTER", "SUBSCRIBE",
	                         "NOTIFY",  "MESSAGE",  "PUBLISH"};
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(a2b(&c, T0,
		                     sipmsg(m, sizeof(m), c.cid, methods[i], 1, "a1", NULL, 1,
		                            methods[i], NULL, NULL)),
		                 SV_INGEST_NOT_CALL);
		assert_int_equal(b2a(&c, T0,
		                     sipmsg(m, sizeof(m), c.cid, "200 OK", 1, "a1", "b1", 1,
		                            methods[i], NULL, NULL)),
		                 SV_INGEST_NOT_CALL);
	}
	/* RTCP and logs for an unknown Call-ID */
	struct sv_buf b;
	sv_buf_init(&b);
	mk_rr(&b, 1, 2, 0, 0, 0, 0);
	assert_int_equal(rtcp_in(&c, T0, NULL, 0, NULL, 0, 1, &b), SV_INGEST_NO_CALL);
	assert_int_equal(log_in(&c, T0, "x"), SV_INGEST_NO_CALL);
	struct sv_session_stats st;
	sv_sessions_stats(c.s, &st);
	assert_int_equal(st.ingest[SV_INGEST_NOT_CALL], 12);
	assert_int_equal(st.ingest[SV_INGEST_NO_CALL], 2);
	for (int i = 0; i < SV_CALL_NSTATES; i++)
		assert_int_equal(st.calls[i], 0);
	assert_int_equal(r.created, 0);
	assert_int_equal(sv_sessions_tick(c.s, T0 + S(10000)), UINT64_MAX);
	assert_int_equal(r.completed, 0);
	sv_buf_release(&b);
	sv_sessions_free(c.s);
	rec_release(&r);
}

/* Journal replay: frames fed again, markers restore what already left. */
static void test_replay_markers(void **state)
{
	(void)state;
	struct rec r;
	struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
	char m[4096];
	a2b(&c, T0, sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL));
	b2a(&c, T0 + S(1),
	    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 1, "INVITE", NULL, NULL));
	log_in(&c, T0 + S(2), "one");
	log_in(&c, T0 + S(3), "two");
	log_in(&c, T0 + S(4), "three");
	/* chunks 1 and 2 had been written with "one" and "two" */
	assert_int_equal(
	    sv_sessions_mark_log_flushed(c.s, "acme", (const uint8_t *)CID, strlen(CID), 1, 1), 0);
	assert_int_equal(
	    sv_sessions_mark_log_flushed(c.s, "acme", (const uint8_t *)CID, strlen(CID), 2, 1), 0);
	assert_int_equal(
	    sv_sessions_mark_log_flushed(c.s, "other", (const uint8_t *)CID, strlen(CID), 1, 1),
	    SV_E_NOTFOUND);
	r.last_chunk = 2;
	sv_sessions_tick(c.s, c.now + S(61));
	assert_int_equal(r.chunks, 1);
	assert_int_equal(r.last_chunk, 3);
	assert_int_equal(r.logs.len, 6);
	assert_memory_equal(r.logs.data, "three\n", 6);
	/* a second call already completed before the restart */
	struct call c2 = {.s = c.s, .customer = "acme", .cid = "done@x"};
	a2b(&c2, T0,
	    sipmsg(m, sizeof(m), c2.cid, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL));
	assert_int_equal(sv_sessions_mark_complete(c.s, "acme", (const uint8_t *)"done@x", 6), 0);
	assert_int_equal(
	    a2b(&c2, T0 + S(1),
	        sipmsg(m, sizeof(m), c2.cid, "BYE", 1, "a1", "b1", 2, "BYE", NULL, NULL)),
	    SV_INGEST_LATE);
	/* marking a call never seen makes later frames late too */
	assert_int_equal(sv_sessions_mark_complete(c.s, "acme", (const uint8_t *)"gone@x", 6), 0);
	struct call c3 = {.s = c.s, .customer = "acme", .cid = "gone@x"};
	assert_int_equal(
	    a2b(&c3, T0,
	        sipmsg(m, sizeof(m), c3.cid, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL)),
	    SV_INGEST_LATE);
	sv_sessions_complete_all(c.s, c.now + S(100));
	assert_int_equal(r.completed, 1); /* only the first call */
	assert_int_equal(r.done[0].log_chunk, 0);
	sv_sessions_free(c.s);
	rec_release(&r);
}

/* Two customers with the same Call-ID: two calls, never mixed. */
static void test_customers_of(void **state)
{
	(void)state;
	struct rec r;
	struct sv_sessions *s = engine(&r);
	struct call a = {.s = s, .customer = "acme", .cid = CID};
	struct call b = {.s = s, .customer = "globex", .cid = CID};
	char m[4096];
	const char *who = NULL;
	const uint8_t *id = (const uint8_t *)CID;
	assert_int_equal(sv_sessions_customers_of(s, id, strlen(CID), &who), 0);
	assert_null(who);
	a2b(&a, T0, sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL));
	assert_int_equal(sv_sessions_customers_of(s, id, strlen(CID), &who), 1);
	assert_string_equal(who, "acme");
	assert_int_equal(
	    a2b(&b, T0,
	        sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL)),
	    SV_INGEST_CREATED);
	b2a(&b, T0 + S(1),
	    sipmsg(m, sizeof(m), CID, "180 Ringing", 1, "a1", "b1", 1, "INVITE", NULL, NULL));
	assert_int_equal(sv_sessions_customers_of(s, id, strlen(CID), &who), 2);
	assert_null(who);
	assert_int_equal(sv_sessions_customers_of(s, (const uint8_t *)"zz", 2, &who), 0);
	log_in(&a, T0 + S(1), "acme line");
	log_in(&b, T0 + S(1), "globex line");
	a2b(&a, T0 + S(2),
	    sipmsg(m, sizeof(m), CID, "CANCEL", 1, "a1", NULL, 1, "CANCEL", NULL, NULL));
	sv_sessions_tick(s, T0 + S(8));
	assert_int_equal(r.completed, 1);
	assert_string_equal(r.done[0].customer, "acme");
	assert_int_equal(r.done[0].pcap_records, 2);
	assert_int_equal(r.done[0].log_txt.len, strlen("acme line\n"));
	assert_memory_equal(r.done[0].log_txt.data, "acme line\n", r.done[0].log_txt.len);
	assert_string_equal(jstr(r.done[0].rtcp, "customer"), "acme");
	assert_int_equal(sv_sessions_customers_of(s, id, strlen(CID), &who), 1);
	assert_string_equal(who, "globex");
	r.last_chunk = 0;
	sv_sessions_complete_all(s, T0 + S(9));
	assert_int_equal(r.completed, 2);
	assert_string_equal(r.done[1].customer, "globex");
	assert_int_equal(r.done[1].pcap_records, 2);
	assert_memory_equal(r.done[1].log_txt.data, "globex line\n", r.done[1].log_txt.len);
	assert_string_equal(jstr(r.done[1].quality, "customer"), "globex");
	assert_string_equal(jstr(r.done[1].quality, "summary.end_reason"), "timeout");
	assert_int_equal(sv_sessions_customers_of(s, id, strlen(CID), &who), 0);
	sv_sessions_free(s);
	rec_release(&r);
}

/* DATA_QUALITY when there is no RTCP. */
static void test_rtp_quality_fallback(void **state)
{
	(void)state;
	static const char *const docs[] = {
	    "{\"call_id\":\"x\",\"verdict\":\"good\",\"summary\":{\"codec\":\"PCMU\",\"sample_"
	    "count\":"
	    "40},\"directions\":{\"uac\":{\"mos\":{\"avg\":4.3},\"jitter\":{\"avg\":12.5},"
	    "\"loss\":{\"avg\":0.5}},\"uas\":{\"mos\":{\"avg\":4.1},\"jitter\":{\"avg\":30},"
	    "\"loss\":{\"avg\":2}}},\"source\":\"rtp\"}",
	    "{\"directions\":{\"uac\":{\"jitter\":{\"avg\":\"x\"}}}}",
	    "not json",
	};
	for (size_t i = 0; i < 3; i++) {
		struct rec r;
		struct call c = {.s = engine(&r), .customer = "acme", .cid = CID};
		char m[4096];
		a2b(&c, T0,
		    sipmsg(m, sizeof(m), CID, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL));
		b2a(&c, T0 + S(1),
		    sipmsg(m, sizeof(m), CID, "200 OK", 1, "a1", "b1", 1, "INVITE", NULL, NULL));
		struct sv_wire_quality q = {.ts_ns = T0 + S(20)};
		q.call_id.p = (const uint8_t *)CID;
		q.call_id.len = strlen(CID);
		q.json.p = (const uint8_t *)"{}";
		q.json.len = 2;
		enum sv_ingest res;
		assert_int_equal(sv_sessions_quality(c.s, "acme", T0 + S(20), &q, &res), 0);
		assert_int_equal(res, SV_INGEST_STORED);
		q.json.p = (const uint8_t *)docs[i]; /* the latest wins */
		q.json.len = strlen(docs[i]);
		assert_int_equal(sv_sessions_quality(c.s, "acme", T0 + S(21), &q, &res), 0);
		a2b(&c, T0 + S(30),
		    sipmsg(m, sizeof(m), CID, "BYE", 1, "a1", "b1", 2, "BYE", NULL, NULL));
		sv_sessions_tick(c.s, c.now + S(6));
		assert_int_equal(r.completed, 1);
		struct done *d = &r.done[0];
		if (i == 0) {
			assert_string_equal(jstr(d->quality, "source"), "rtp");
			assert_string_equal(jstr(d->quality, "audio_status"), "normal");
			assert_true(
			    fabs(json_number_value(jget(d->quality, "directions.uas.jitter.avg")) -
			         30) < 1e-9);
			assert_true(
			    fabs(json_number_value(jget(d->quality, "directions.uac.loss.avg")) -
			         0.5) < 1e-9);
			assert_string_equal(jstr(d->quality, "verdict"), "fair");
		} else {
			assert_string_equal(jstr(d->quality, "source"), "none");
			assert_string_equal(jstr(d->quality, "audio_status"), "noa");
		}
		sv_sessions_free(c.s);
		rec_release(&r);
	}
}

/* Odd Call-IDs and TCP transport: objects still valid. */
static void test_binary_callid_tcp(void **state)
{
	(void)state;
	struct rec r;
	const char cid[] = "bad\xff\xfe/../%20 id";
	struct call c = {.s = engine(&r), .customer = "acme", .cid = cid};
	char m[4096];
	a2b(&c, T0, sipmsg(m, sizeof(m), cid, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, "TCP"));
	b2a(&c, T0 + S(1),
	    sipmsg(m, sizeof(m), cid, "200 OK", 1, "a1", "b1", 1, "INVITE", NULL, "TCP"));
	feed(&c, T0 + S(2), "2001:db8::1", 5061, "2001:db8::2", 5061,
	     sipmsg(m, sizeof(m), cid, "BYE", 1, "a1", "b1", 2, "BYE", NULL, "TLS"));
	sv_sessions_tick(c.s, c.now + S(6));
	assert_int_equal(r.completed, 1);
	assert_int_equal(r.done[0].pcap_records, 3);
	assert_string_equal(jstr(r.done[0].rtcp, "call_id"),
	                    "bad\xef\xbf\xbd\xef\xbf\xbd/../%20 id");
	assert_analyze_matches(&r.done[0]);
	sv_sessions_free(c.s);
	rec_release(&r);
}

/* Many calls: the table grows, timers expire them all, memory is given back. */
static void test_many_calls(void **state)
{
	(void)state;
	struct rec r;
	struct sv_sessions *s = engine(&r);
	char m[2048], cid[64];
	struct sv_session_stats st;
	for (int i = 0; i < 5000; i++) {
		snprintf(cid, sizeof(cid), "call-%d@x", i);
		struct call c = {.s = s, .customer = i % 2 ? "acme" : "globex", .cid = cid};
		a2b(&c, T0 + MS(i),
		    sipmsg(m, sizeof(m), cid, "INVITE", 1, "a1", NULL, 1, "INVITE", NULL, NULL));
	}
	sv_sessions_stats(s, &st);
	assert_int_equal(st.calls[SV_CALL_PENDING], 5000);
	assert_true(st.bytes_held > 5000 * 300);
	sv_sessions_free(s); /* frees live calls without completing them */
	rec_release(&r);
	assert_int_equal(r.completed, 0);
}

/* SIP and RTCP from real captures through the engine; tshark reads the pcap back. */
static void run_capture(const char *rel, size_t want_calls)
{
	struct rec r;
	struct sv_sessions *s = engine(&r);
	struct sv_packet_reader *rd = NULL;
	struct sv_packet p;
	uint64_t ts;
	char err[256], last_cid[256] = "";
	size_t sip_fed = 0, rtcp_fed = 0;
	assert_true(tu_have_tshark());
	if (sv_packet_reader_open(tu_shared(rel), &rd, err, sizeof(err)) != 0)
		fail_msg("%s: %s", rel, err);
	while (sv_packet_reader_next(rd, &p, &ts) == 1) {
		if (p.decode_rc != 0 || p.proto != 17 || p.payload_len == 0)
			continue;
		struct sv_wire_addr src = {.family = p.family == AF_INET6 ? 6 : 4, .port = p.sport};
		struct sv_wire_addr dst = {.family = src.family, .port = p.dport};
		memcpy(src.ip, p.src, 16);
		memcpy(dst.ip, p.dst, 16);
		enum sv_ingest res;
		struct sv_sip_msg m;
		if (sv_sip_parse(p.payload, p.payload_len, &m) == 0) {
			struct sv_wire_sip w = {.ts_ns = ts, .src = src, .dst = dst};
			w.call_id.p = (const uint8_t *)m.call_id.p;
			w.call_id.len = m.call_id.len;
			w.sip.p = p.payload;
			w.sip.len = p.payload_len;
			assert_int_equal(sv_sessions_sip(s, "acme", ts, &w, &res), 0);
			if (res == SV_INGEST_CREATED || res == SV_INGEST_STORED) {
				sip_fed++;
				snprintf(last_cid, sizeof(last_cid), "%.*s", (int)m.call_id.len,
				         m.call_id.p);
			} else {
				assert_int_equal(res, SV_INGEST_NOT_CALL);
			}
		} else if (last_cid[0] != '\0' && sv_rtcp_looks_like(p.payload, p.payload_len)) {
			struct sv_rtcp_input in = {
			    .ts_ns = ts, .has_addr = true, .src = src, .dst = dst};
			in.call_id = (const uint8_t *)last_cid;
			in.call_id_len = strlen(last_cid);
			in.raw = p.payload;
			in.raw_len = p.payload_len;
			assert_int_equal(sv_sessions_rtcp(s, "acme", ts, &in, &res), 0);
			if (res == SV_INGEST_STORED)
				rtcp_fed++;
		}
	}
	sv_packet_reader_close(rd);
	sv_sessions_complete_all(s, UINT64_MAX / 2);
	assert_int_equal(r.completed, want_calls);
	assert_true(rtcp_fed > 0);
	size_t total = 0, reports = 0, directed = 0;
	char *dir = tu_tmpdir();
	for (int i = 0; i < r.completed; i++) {
		struct done *d = &r.done[i];
		char path[512], cmd[1024], want_cmd[1024];
		snprintf(path, sizeof(path), "%s/call%d.pcap", dir, i);
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(d->pcap.data, 1, d->pcap.len, f), d->pcap.len);
		fclose(f);
		struct sv_buf out, want;
		sv_buf_init(&out);
		sv_buf_init(&want);
		snprintf(cmd, sizeof(cmd),
		         "tshark -r '%s' -Y sip -T fields -e sip.CSeq 2>/dev/null", path);
		assert_int_equal(tu_run(cmd, &out), 0);
		snprintf(
		    want_cmd, sizeof(want_cmd),
		    "tshark -r '%s' -Y 'sip.Call-ID == \"%s\"' -T fields -e sip.CSeq 2>/dev/null",
		    tu_shared(rel), d->call_id);
		assert_int_equal(tu_run(want_cmd, &want), 0);
		assert_true(out.len > 0);
		assert_int_equal(out.len, want.len);
		assert_memory_equal(out.data, want.data, out.len);
		size_t lines = 0;
		for (size_t k = 0; k < out.len; k++)
			lines += out.data[k] == '\n';
		assert_int_equal(lines, d->pcap_records);
		total += lines;
		json_t *reps = json_object_get(d->rtcp, "reports");
		for (size_t k = 0; k < json_array_size(reps); k++) {
			reports++;
			if (strcmp(jstr(json_array_get(reps, k), "direction"), "unknown") != 0)
				directed++;
		}
		assert_analyze_matches(d);
		sv_buf_release(&out);
		sv_buf_release(&want);
	}
	assert_int_equal(total, sip_fed);
	assert_true(reports > 0);
	assert_int_equal(directed, reports);
	tu_rmrf(dir);
	free(dir);
	sv_sessions_free(s);
	rec_release(&r);
}

static void test_capture_sipnab(void **state)
{
	(void)state;
	run_capture("pcap/sipnab/rtp-protocol.pcap", 1);
}

static void test_capture_heplify(void **state)
{
	(void)state;
	run_capture("pcap/heplify/rtp_rtcp_sip_ipv4_udp.pcap", 2);
}

static void test_names_and_args(void **state)
{
	(void)state;
	struct sv_sessions *s = NULL;
	struct sv_session_limits lim = {0};
	assert_int_equal(sv_sessions_new(NULL, NULL, &s), -EINVAL);
	assert_int_equal(sv_sessions_new(&lim, NULL, NULL), -EINVAL);
	assert_int_equal(sv_sessions_new(&lim, NULL, &s), 0);
	assert_string_equal(sv_call_state_name(SV_CALL_CLOSING), "closing");
	assert_string_equal(sv_ingest_name(SV_INGEST_DUPLICATE), "duplicate");
	assert_string_equal(sv_ingest_name((enum sv_ingest)99), "unknown");
	assert_int_equal(sv_sessions_mark_complete(s, "a", NULL, 0), -EINVAL);
	sv_sessions_free(s);
	sv_sessions_free(NULL);
	sv_call_objects_release(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_answered_bye_caller),
	    cmocka_unit_test(test_answered_bye_callee),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_rejected),
	    cmocka_unit_test(test_auth_challenge_one_call),
	    cmocka_unit_test(test_reinvite_update_media),
	    cmocka_unit_test(test_early_media_prack),
	    cmocka_unit_test(test_forked_2xx),
	    cmocka_unit_test(test_out_of_order),
	    cmocka_unit_test(test_pending_timeout_incomplete),
	    cmocka_unit_test(test_active_timeout),
	    cmocka_unit_test(test_log_chunks),
	    cmocka_unit_test(test_relay_dedupe),
	    cmocka_unit_test(test_xr_rtt_and_malformed),
	    cmocka_unit_test(test_not_call_sip),
	    cmocka_unit_test(test_replay_markers),
	    cmocka_unit_test(test_customers_of),
	    cmocka_unit_test(test_rtp_quality_fallback),
	    cmocka_unit_test(test_binary_callid_tcp),
	    cmocka_unit_test(test_many_calls),
	    cmocka_unit_test(test_capture_sipnab),
	    cmocka_unit_test(test_capture_heplify),
	    cmocka_unit_test(test_names_and_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
