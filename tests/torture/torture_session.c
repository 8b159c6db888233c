/*
 * torture_session: the call engine. Each input is a scenario: a fixed
 * sequence of frames (SIP dialog, RTCP reports with and without addresses,
 * proxy log lines, the agent's quality report), clock ticks that flush log
 * chunks and complete calls, then every call completed and its objects built
 * (sip.pcap.gz, rtcp.json.gz, quality.json, log chunks). Real captures feed
 * their SIP messages. With an allocation failing, an ingest may return
 * -ENOMEM (that frame is lost) and building the objects is retried at the
 * next tick: a run whose every ingest succeeded must hand out exactly the
 * objects of the run without failures.
 */
#include "torture.h"

#include "base/buf.h"
#include "base/gz.h"
#include "proto/packet.h"
#include "proto/rtcp.h"
#include "proto/sip.h"
#include "call/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) ((uint64_t)(x)*1000000000ull)
static const uint64_t T0 = 1764151200000000000ull;

struct ctx {
	struct sv_sessions *s;
	const char *cust;
	const char *cid;
	uint64_t now;
	struct sv_buf b;
	unsigned completed;
};

/*
 * What the hooks hand out, per call: a hash over its log text and objects.
 * When building a call's objects fails it is retried at a later tick, after
 * calls that completed in the meantime, and lines whose chunk could not be
 * made stay with the call for a later chunk or the last one: so what must
 * match the run without failures is, per call, the lines and the objects,
 * not the order of the calls or where chunks split the lines.
 */
struct seen {
	char key[160];
	uint64_t h;
};
static struct seen calls[64];
static size_t n_calls;

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t *call_hash(const struct sv_call_ref *call)
{
	char key[160];
	snprintf(key, sizeof(key), "%s/%.*s", call->customer, (int)call->call_id_len,
	         (const char *)call->call_id);
	for (size_t i = 0; i < n_calls; i++)
		if (strcmp(calls[i].key, key) == 0)
			return &calls[i].h;
	if (n_calls == sizeof(calls) / sizeof(calls[0]))
		abort();
	snprintf(calls[n_calls].key, sizeof(calls[n_calls].key), "%s", key);
	calls[n_calls].h = 0xcbf29ce484222325ull;
	return &calls[n_calls++].h;
}

static void log_text(uint64_t *h, const struct sv_buf *gz)
{
	struct sv_buf text;
	int st = torture_pause();
	sv_buf_init(&text);
	if (sv_gz_decompress(gz->data, gz->len, 1 << 20, &text) == 0)
		*h = fnv(*h, text.data, text.len);
	sv_buf_release(&text);
	torture_resume(st);
}

static void on_chunk(void *arg, const struct sv_call_ref *call, unsigned chunk, size_t lines,
                     struct sv_buf *gz)
{
	(void)arg;
	(void)chunk;
	(void)lines;
	log_text(call_hash(call), gz);
}

static void on_complete(void *arg, const struct sv_call_ref *call, struct sv_call_objects *o)
{
	struct ctx *c = arg;
	uint64_t *h = call_hash(call);
	c->completed++;
	if (o->log_chunk > 0)
		log_text(h, &o->log_gz);
	*h = fnv(*h, "|", 1);
	*h = fnv(*h, o->sip_pcap_gz.data, o->sip_pcap_gz.len);
	*h = fnv(*h, o->rtcp_json_gz.data, o->rtcp_json_gz.len);
	*h = fnv(*h, o->quality_json.data, o->quality_json.len);
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->key, ((const struct seen *)b)->key);
}

static void mkaddr(struct sv_wire_addr *a, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = 4;
	inet_pton(AF_INET, ip, a->ip);
	a->port = port;
}

static void ingest(int rc, enum sv_ingest res)
{
	if (torture_step(rc) == 0)
		torture_output(&res, sizeof(res));
}

/* One SIP message; from_a: alice (10.0.0.1) to bob (10.0.0.2), else back. */
static void sip(struct ctx *c, uint64_t at, int from_a, const char *start, const char *ttag,
                unsigned cseq, const char *method, const char *sdp_ip, unsigned sdp_port)
{
	char sl[96], body[512] = "", msg[2048];
	const char *fu = from_a ? "alice@a.example" : "bob@b.example";
	const char *tu = from_a ? "bob@b.example" : "alice@a.example";
	if (start[0] >= '0' && start[0] <= '9')
		snprintf(sl, sizeof(sl), "SIP/2.0 %s", start);
	else
		snprintf(sl, sizeof(sl), "%s sip:%s SIP/2.0", start, tu);
	if (sdp_ip != NULL)
		snprintf(body, sizeof(body),
		         "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
		         "m=audio %u RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
		         sdp_ip, sdp_ip, sdp_port);
	snprintf(msg, sizeof(msg),
	         "%s\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK%u%s\r\n"
	         "From: <sip:%s>;tag=%s\r\nTo: <sip:%s>%s%s\r\nCall-ID: %s\r\nCSeq: %u %s\r\n"
	         "Contact: <sip:x@10.0.0.1>\r\n%sContent-Length: %zu\r\n\r\n%s",
	         sl, cseq, method, from_a ? fu : tu, "a1", from_a ? tu : fu, ttag ? ";tag=" : "",
	         ttag ? ttag : "", c->cid, cseq, method,
	         sdp_ip ? "Content-Type: application/sdp\r\n" : "", strlen(body), body);
	struct sv_wire_sip w;
	enum sv_ingest res = SV_INGEST_MALFORMED;
	memset(&w, 0, sizeof(w));
	c->now = T0 + at;
	w.ts_ns = c->now;
	w.call_id.p = (const uint8_t *)c->cid;
	w.call_id.len = strlen(c->cid);
	mkaddr(&w.src, from_a ? "10.0.0.1" : "10.0.0.2", 5060);
	mkaddr(&w.dst, from_a ? "10.0.0.2" : "10.0.0.1", 5060);
	w.sip.p = (const uint8_t *)msg;
	w.sip.len = strlen(msg);
	int rc = sv_sessions_sip(c->s, c->cust, c->now, &w, &res);
	ingest(rc, res);
}

/* An RTCP report from the alice (4000/4001) or bob (6000/6001) side; sr: a
 * sender report; addr: DATA_RTCP_ADDR rather than DATA_RTCP. */
static void rtcp(struct ctx *c, uint64_t at, int from_a, int sr, int addr)
{
	uint32_t me = from_a ? 0x1111 : 0x2222, peer = from_a ? 0x2222 : 0x1111;
	struct sv_rtcp_report_block blk = {.ssrc = peer,
	                                   .fraction_lost = 12,
	                                   .cumulative_lost = 3,
	                                   .ext_highest_seq = 1000,
	                                   .jitter = 80,
	                                   .lsr = sr ? 0 : 0x12345678,
	                                   .dlsr = sr ? 0 : 0x10000};
	struct sv_rtcp_sender_info si = {
	    .ntp_sec = 3973140000u, .rtp_ts = 1, .packet_count = 10, .octet_count = 1600};
	struct sv_rtcp_input in;
	enum sv_ingest res = SV_INGEST_MALFORMED;

	int st = torture_pause(); /* the report itself is set-up */
	sv_buf_reset(&c->b);
	sv_rtcp_encode_report(&c->b, me, sr ? &si : NULL, &blk, 1);
	torture_resume(st);
	memset(&in, 0, sizeof(in));
	c->now = T0 + at;
	in.ts_ns = c->now;
	in.call_id = (const uint8_t *)c->cid;
	in.call_id_len = strlen(c->cid);
	in.origin = SV_RTCP_FROM_AGENT;
	in.has_addr = addr != 0;
	mkaddr(&in.src, from_a ? "10.0.0.1" : "10.0.0.2", from_a ? 4001 : 6001);
	mkaddr(&in.dst, from_a ? "10.0.0.2" : "10.0.0.1", from_a ? 6001 : 4001);
	in.ssrc = me;
	in.raw = c->b.data;
	in.raw_len = c->b.len;
	int rc = sv_sessions_rtcp(c->s, c->cust, c->now, &in, &res);
	ingest(rc, res);
}

static void logline(struct ctx *c, uint64_t at, const char *text)
{
	struct sv_wire_log l;
	enum sv_ingest res = SV_INGEST_MALFORMED;
	c->now = T0 + at;
	l.ts_ns = c->now;
	l.call_id.p = (const uint8_t *)c->cid;
	l.call_id.len = strlen(c->cid);
	l.line.p = (const uint8_t *)text;
	l.line.len = strlen(text);
	int rc = sv_sessions_log(c->s, c->cust, c->now, &l, &res);
	ingest(rc, res);
}

static void quality(struct ctx *c, uint64_t at, const char *json)
{
	struct sv_wire_quality q;
	enum sv_ingest res = SV_INGEST_MALFORMED;
	c->now = T0 + at;
	q.ts_ns = c->now;
	q.call_id.p = (const uint8_t *)c->cid;
	q.call_id.len = strlen(c->cid);
	q.json.p = (const uint8_t *)json;
	q.json.len = strlen(json);
	int rc = sv_sessions_quality(c->s, c->cust, c->now, &q, &res);
	ingest(rc, res);
}

static void tick(struct ctx *c, uint64_t at)
{
	c->now = T0 + at;
	sv_sessions_tick(c->s, c->now);
}

/* An answered call with RTCP both ways, a periodic log chunk, BYE. */
static void sc_call(struct ctx *c)
{
	sip(c, S(0), 1, "INVITE", NULL, 1, "INVITE", "10.0.0.1", 4000);
	sip(c, S(0), 0, "100 Trying", NULL, 1, "INVITE", NULL, 0);
	logline(c, S(0), "INFO: new call from alice");
	sip(c, S(1), 0, "180 Ringing", "b1", 1, "INVITE", NULL, 0);
	sip(c, S(3), 0, "200 OK", "b1", 1, "INVITE", "10.0.0.2", 6000);
	sip(c, S(3), 1, "ACK", "b1", 1, "ACK", NULL, 0);
	rtcp(c, S(8), 1, 1, 1);
	rtcp(c, S(9), 0, 0, 1);
	rtcp(c, S(9), 0, 0, 1); /* the same report again: a duplicate */
	rtcp(c, S(13), 0, 1, 0);
	rtcp(c, S(14), 1, 0, 0);
	logline(c, S(20), "INFO: relayed");
	tick(c, S(70)); /* a periodic log chunk */
	logline(c, S(75), "INFO: bye from bob");
	sip(c, S(80), 0, "BYE", "a1", 2, "BYE", NULL, 0);
	sip(c, S(80), 1, "200 OK", "a1", 2, "BYE", NULL, 0);
	tick(c, S(90));
	tick(c, S(92)); /* a retry, when the objects could not be built */
}

/* No RTCP: the agent's RTP quality report stands in. */
static void sc_rtp_quality(struct ctx *c)
{
	sip(c, S(0), 1, "INVITE", NULL, 1, "INVITE", "10.0.0.1", 4000);
	sip(c, S(2), 0, "200 OK", "b1", 1, "INVITE", "10.0.0.2", 6000);
	sip(c, S(2), 1, "ACK", "b1", 1, "ACK", NULL, 0);
	quality(c, S(30),
	        "{\"call_id\":\"x\",\"verdict\":\"good\",\"summary\":{\"codec\":\"PCMU\","
	        "\"sample_count\":40},\"directions\":{\"uac\":{\"mos\":{\"avg\":4.3},"
	        "\"jitter\":{\"avg\":12.5},\"loss\":{\"avg\":0.5}},\"uas\":{\"mos\":{\"avg\":4.1},"
	        "\"jitter\":{\"avg\":30},\"loss\":{\"avg\":2}}},\"source\":\"rtp\"}");
	sip(c, S(40), 1, "BYE", "b1", 2, "BYE", NULL, 0);
	sip(c, S(40), 0, "200 OK", "b1", 2, "BYE", NULL, 0);
}

/* A challenge, the INVITE again, a rejection; frames of no call. */
static void sc_rejected(struct ctx *c)
{
	sip(c, S(0), 1, "OPTIONS", NULL, 1, "OPTIONS", NULL, 0);
	sip(c, S(0), 1, "INVITE", NULL, 1, "INVITE", "10.0.0.1", 4000);
	sip(c, S(0), 0, "407 Proxy Authentication Required", "p1", 1, "INVITE", NULL, 0);
	sip(c, S(0), 1, "ACK", "p1", 1, "ACK", NULL, 0);
	sip(c, S(1), 1, "INVITE", NULL, 2, "INVITE", "10.0.0.1", 4000);
	sip(c, S(2), 0, "486 Busy Here", "b2", 2, "INVITE", NULL, 0);
	sip(c, S(2), 1, "ACK", "b2", 2, "ACK", NULL, 0);
	tick(c, S(10));
	tick(c, S(12));                 /* a retry, when the objects could not be built */
	logline(c, S(13), "late line"); /* the call is COMPLETE: late */
	c->cid = "other@x";
	rtcp(c, S(12), 1, 1, 1); /* no such call */
}

/* Unanswered calls of two customers with one Call-ID, restart markers, and
 * calls left to complete_all. */
static void sc_pending(struct ctx *c)
{
	const char *who = NULL;
	sip(c, S(0), 1, "INVITE", NULL, 1, "INVITE", "10.0.0.1", 4000);
	sip(c, S(1), 0, "180 Ringing", "b1", 1, "INVITE", NULL, 0);
	logline(c, S(1), "ringing");
	c->cust = "globex";
	sip(c, S(2), 1, "INVITE", NULL, 1, "INVITE", "10.0.0.1", 4000);
	size_t n = sv_sessions_customers_of(c->s, (const uint8_t *)c->cid, strlen(c->cid), &who);
	torture_output(&n, sizeof(n));
	torture_step(sv_sessions_mark_log_flushed(c->s, "acme", (const uint8_t *)c->cid,
	                                          strlen(c->cid), 1, 1));
	c->cid = "done@x";
	torture_step(
	    sv_sessions_mark_complete(c->s, "acme", (const uint8_t *)c->cid, strlen(c->cid)));
	sip(c, S(3), 1, "INVITE", NULL, 1, "INVITE", "10.0.0.1", 4000); /* late */
}

static void (*const scenarios[])(struct ctx *) = {sc_call, sc_rtp_quality, sc_rejected, sc_pending};
static const char *const names[] = {"call", "rtp_quality", "rejected", "pending"};
#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* The SIP messages of a capture (UDP to or from port 5060), set-up. */
struct frame {
	uint64_t ts;
	struct sv_wire_sip w;
	uint8_t *data;
};
static struct frame frames[120];
static size_t n_frames;

static void sc_capture(struct ctx *c)
{
	for (size_t i = 0; i < n_frames; i++) {
		enum sv_ingest res = SV_INGEST_MALFORMED;
		c->now = frames[i].ts;
		int rc = sv_sessions_sip(c->s, c->cust, c->now, &frames[i].w, &res);
		ingest(rc, res);
	}
}

/* The engine around a scenario: data[0] picks it (0xff: the capture). */
static int op(const uint8_t *data, size_t len)
{
	const struct sv_session_limits lim = {
	    .pending_timeout_ns = S(300),
	    .active_timeout_ns = S(1800),
	    .closing_grace_ns = S(5),
	    .log_flush_ns = S(60),
	    .tombstone_ns = S(600),
	};
	struct ctx c = {.cust = "acme", .cid = "a84b4c76e66710@pc33.example.com"};
	struct sv_session_hooks h = {.arg = &c, .log_chunk = on_chunk, .complete = on_complete};
	struct sv_session_stats st;

	(void)len;
	if (torture_step(sv_sessions_new(&lim, &h, &c.s)) != 0)
		return torture_rc();
	sv_buf_init(&c.b);
	if (data[0] < N_SCENARIOS)
		scenarios[data[0]](&c);
	else
		sc_capture(&c);
	sv_sessions_complete_all(c.s, c.now);
	/* Objects that could not be built are retried at the next tick. */
	for (int i = 0; i < 5; i++) {
		sv_sessions_stats(c.s, &st);
		if (st.calls[SV_CALL_PENDING] + st.calls[SV_CALL_ACTIVE] +
		        st.calls[SV_CALL_CLOSING] ==
		    0)
			break;
		c.now += S(1);
		sv_sessions_tick(c.s, c.now);
	}
	sv_sessions_stats(c.s, &st);
	if (st.calls[SV_CALL_PENDING] + st.calls[SV_CALL_ACTIVE] + st.calls[SV_CALL_CLOSING] != 0)
		torture_fail("a call did not complete");
	torture_output(st.calls, sizeof(st.calls));
	torture_output(&c.completed, sizeof(c.completed));
	qsort(calls, n_calls, sizeof(calls[0]), by_key);
	for (size_t i = 0; i < n_calls; i++) {
		torture_output(calls[i].key, strlen(calls[i].key));
		torture_output(&calls[i].h, sizeof(calls[i].h));
	}
	n_calls = 0;
	sv_buf_release(&c.b);
	sv_sessions_free(c.s);
	return torture_rc();
}

static void capture(const char *rel)
{
	const char *shared = getenv("SV_SHARED_DATA");
	char path[1024], err[256];
	struct sv_packet_reader *r = NULL;
	struct sv_packet p;
	uint64_t ts;

	snprintf(path, sizeof(path), "%s/%s",
	         shared != NULL ? shared : TORTURE_SOURCE_DIR "/../shared/data", rel);
	if (sv_packet_reader_open(path, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "session: %s: %s, skipped\n", path, err);
		return;
	}
	n_frames = 0;
	while (n_frames < sizeof(frames) / sizeof(frames[0]) &&
	       sv_packet_reader_next(r, &p, &ts) == 1) {
		struct sv_sip_msg m;
		if (p.decode_rc != 0 || p.proto != SV_PACKET_PROTO_UDP || p.family != AF_INET ||
		    sv_sip_parse(p.payload, p.payload_len, &m) != 0)
			continue;
		struct frame *f = &frames[n_frames++];
		memset(f, 0, sizeof(*f));
		f->ts = ts;
		f->data = malloc(p.payload_len);
		if (f->data == NULL)
			exit(2);
		memcpy(f->data, p.payload, p.payload_len);
		f->w.ts_ns = ts;
		f->w.src.family = f->w.dst.family = 4;
		memcpy(f->w.src.ip, p.src, 4);
		memcpy(f->w.dst.ip, p.dst, 4);
		f->w.src.port = p.sport;
		f->w.dst.port = p.dport;
		f->w.sip.p = f->data;
		f->w.sip.len = p.payload_len;
	}
	sv_packet_reader_close(r);
	const uint8_t sel = 0xff;
	torture_input(rel, op, &sel, 1);
	for (size_t i = 0; i < n_frames; i++)
		free(frames[i].data);
}

int main(void)
{
	torture_init("session");
	for (uint8_t i = 0; i < N_SCENARIOS; i++)
		torture_input(names[i], op, &i, 1);
	capture("pcap/sipnab/invite-opus-bye.pcap");
	capture("pcap/sipnab/register-invite-reinvite-bye.pcap");
	capture("pcap/sipnab/sip-rtp-g711.pcap");
	capture("pcap/sipnab/DTMFsipinfo.pcap");
	capture("pcap/sipnab/sip-488-codec-reject.pcapng");
	return torture_done();
}
