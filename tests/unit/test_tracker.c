#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "proto/packet.h"
#include "proto/rtcp.h"
#include "call/tracker.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MS  1000000ull
#define SEC 1000000000ull
#define T0  (1764151205ull * SEC)

/* ------------------------------------------------------------ helpers */

struct ctx {
	struct sv_tracker *t;
	uint64_t now;
	struct sv_buf b;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_int_equal(sv_tracker_new(NULL, &c->t), 0);
	c->now = T0;
	sv_buf_init(&c->b);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	sv_tracker_free(c->t);
	sv_buf_release(&c->b);
	free(c);
	return 0;
}

/* An SDP body: c= addr, m=audio port, extra attribute lines (each ending CRLF). */
static const char *sdp(char *out, size_t n, const char *addr, int port, const char *attrs)
{
	snprintf(out, n,
	         "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
	         "m=audio %d RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n%s",
	         addr, addr, port, attrs != NULL ? attrs : "");
	return out;
}

/*
 * Builds a SIP message. start: request method (e.g. "INVITE") or a status
 * ("200 OK"). fromtag/totag: tags (totag may be NULL); cseq / cseqm: CSeq.
 */
static struct sv_tracker_sip_res sipmsg(struct ctx *c, const char *start, const char *callid,
                                        const char *fromtag, const char *totag, int cseq,
                                        const char *cseqm, const char *body)
{
	char msg[4096];
	int req = !(start[0] >= '1' && start[0] <= '6');
	int n = snprintf(msg, sizeof(msg),
	                 "%s%s%s\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK%d\r\n"
	                 "From: <sip:alice@example.com>;tag=%s\r\nTo: <sip:bob@example.com>%s%s\r\n"
	                 "Call-ID: %s\r\nCSeq: %d %s\r\n%sContent-Length: %zu\r\n\r\n%s",
	                 req ? start : "SIP/2.0 ", req ? " sip:bob@192.0.2.2 SIP/2.0" : "",
	                 req ? "" : start, cseq, fromtag, totag ? ";tag=" : "", totag ? totag : "",
	                 callid, cseq, cseqm, body ? "Content-Type: application/sdp\r\n" : "",
	                 body ? strlen(body) : 0, body ? body : "");
	assert_true(n > 0 && (size_t)n < sizeof(msg));
	struct sv_tracker_sip_res r;
	c->now += 10 * MS;
	assert_int_equal(sv_tracker_sip(c->t, c->now, NULL, (const uint8_t *)msg, (size_t)n, &r),
	                 0);
	return r;
}

static void kept(struct sv_tracker_sip_res r, const char *callid)
{
	assert_int_equal(r.drop, SV_TRACKER_KEEP);
	assert_int_equal(r.call_id.len, strlen(callid));
	assert_memory_equal(r.call_id.p, callid, r.call_id.len);
}

static void flow4(struct sv_tracker_flow *f, const char *src, int sport, const char *dst, int dport)
{
	memset(f, 0, sizeof(*f));
	f->family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, src, f->src), 1);
	assert_int_equal(inet_pton(AF_INET, dst, f->dst), 1);
	f->sport = (uint16_t)sport;
	f->dport = (uint16_t)dport;
}

static struct sv_tracker_media_res rtcp(struct ctx *c, const char *src, int sport, const char *dst,
                                        int dport, uint32_t ssrc)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_rtcp_encode_report(&b, ssrc, NULL, NULL, 0), 0);
	assert_int_equal(sv_rtcp_encode_sdes_cname(&b, ssrc, "x@y"), 0);
	struct sv_tracker_flow f;
	flow4(&f, src, sport, dst, dport);
	struct sv_tracker_media_res r;
	c->now += MS;
	assert_int_equal(sv_tracker_media(c->t, c->now, &f, b.data, b.len, &r), 0);
	sv_buf_release(&b);
	return r;
}

static struct sv_tracker_media_res rtp(struct ctx *c, const char *src, int sport, const char *dst,
                                       int dport, uint32_t ssrc, uint16_t seq)
{
	uint8_t p[172] = {0x80, 0};
	sv_put_be16(p + 2, seq);
	sv_put_be32(p + 4, 160u * seq);
	sv_put_be32(p + 8, ssrc);
	struct sv_tracker_flow f;
	flow4(&f, src, sport, dst, dport);
	struct sv_tracker_media_res r;
	c->now += 20 * MS;
	assert_int_equal(sv_tracker_media(c->t, c->now, &f, p, sizeof(p), &r), 0);
	return r;
}

static void matched(struct sv_tracker_media_res r, const char *callid, enum sv_tracker_side sender,
                    enum sv_tracker_match by)
{
	assert_int_equal(r.kind, SV_TRACKER_MEDIA_RTCP);
	assert_int_equal(r.call_id.len, strlen(callid));
	assert_memory_equal(r.call_id.p, callid, r.call_id.len);
	assert_int_equal(r.sender, sender);
	assert_int_equal(r.by, by);
}

static int logm(struct ctx *c, const char *line, const char *want)
{
	struct sv_str id;
	int m = sv_tracker_log(c->t, c->now, line, strlen(line), &id);
	if (want == NULL) {
		assert_int_equal(m, 0);
	} else {
		assert_int_equal(m, 1);
		assert_int_equal(id.len, strlen(want));
		assert_memory_equal(id.p, want, id.len);
	}
	return m;
}

/* Polls everything due at `at`; returns the number of EXPIRED events and
 * appends the QUALITY JSON documents to c->b. */
static int poll_at(struct ctx *c, uint64_t at, const char *expect_id)
{
	struct sv_tracker_event ev;
	int expired = 0;
	while (sv_tracker_poll(c->t, at, &ev) == 1) {
		if (expect_id != NULL) {
			assert_int_equal(ev.call_id.len, strlen(expect_id));
			assert_memory_equal(ev.call_id.p, expect_id, ev.call_id.len);
		}
		if (ev.kind == SV_TRACKER_EV_EXPIRED)
			expired++;
		else
			sv_buf_append(&c->b, ev.json, ev.json_len);
	}
	if (at > c->now)
		c->now = at;
	return expired;
}

static struct sv_tracker_event expire_one(struct ctx *c, uint64_t at)
{
	struct sv_tracker_event ev;
	do {
		assert_int_equal(sv_tracker_poll(c->t, at, &ev), 1);
	} while (ev.kind != SV_TRACKER_EV_EXPIRED);
	c->now = at;
	return ev;
}

/* ------------------------------------------------------------ dialogs */

static void test_answered_bye(void **state)
{
	struct ctx *c = *state;
	char s1[512], s2[512];
	const char *id = "a84b4c76e66710@pc33.example.com";
	struct sv_tracker_sip_res r = sipmsg(c, "INVITE", id, "ft1", NULL, 1, "INVITE",
	                                     sdp(s1, 512, "192.0.2.1", 10000, NULL));
	kept(r, id);
	assert_true(r.created);
	assert_int_equal(r.method, SV_SIP_INVITE);
	kept(sipmsg(c, "100 Trying", id, "ft1", NULL, 1, "INVITE", NULL), id);
	kept(sipmsg(c, "180 Ringing", id, "ft1", "tt1", 1, "INVITE", NULL), id);
	r = sipmsg(c, "200 OK", id, "ft1", "tt1", 1, "INVITE",
	           sdp(s2, 512, "192.0.2.2", 20000, NULL));
	kept(r, id);
	assert_false(r.created);
	kept(sipmsg(c, "ACK", id, "ft1", "tt1", 1, "ACK", NULL), id);
	/* Confirmed calls do not time out while active; nothing is due. */
	assert_int_equal(poll_at(c, c->now + 60 * SEC, NULL), 0);
	kept(sipmsg(c, "BYE", id, "ft1", "tt1", 2, "BYE", NULL), id);
	uint64_t bye = c->now;
	kept(sipmsg(c, "200 OK", id, "ft1", "tt1", 2, "BYE", NULL), id);
	assert_int_equal(sv_tracker_next_deadline(c->t), bye + 5 * SEC);
	assert_int_equal(poll_at(c, bye + 5 * SEC - 1, NULL), 0);
	struct sv_tracker_event ev = expire_one(c, bye + 5 * SEC);
	assert_int_equal(ev.end_reason, SV_TRACKER_END_BYE);
	assert_int_equal(ev.final_status, 200);
	assert_int_equal(ev.end_ns, bye);
	assert_memory_equal(ev.call_id.p, id, ev.call_id.len);
	/* Forgotten: a late retransmission has no dialog. */
	r = sipmsg(c, "200 OK", id, "ft1", "tt1", 2, "BYE", NULL);
	assert_int_equal(r.drop, SV_TRACKER_DROP_NO_DIALOG);
	struct sv_tracker_stats st;
	sv_tracker_stats(c->t, &st);
	assert_int_equal(st.calls_created, 1);
	assert_int_equal(st.calls_expired, 1);
	assert_int_equal(st.calls_live, 0);
	assert_int_equal(st.sip_kept, 7);
	assert_int_equal(st.sip_dropped[SV_TRACKER_DROP_NO_DIALOG], 1);
	assert_int_equal(st.endpoints, 0);
	assert_int_equal(sv_tracker_next_deadline(c->t), UINT64_MAX);
}

static void test_cancel(void **state)
{
	struct ctx *c = *state;
	const char *id = "cancel-1@host";
	kept(sipmsg(c, "INVITE", id, "f", NULL, 1, "INVITE", NULL), id);
	kept(sipmsg(c, "180 Ringing", id, "f", "t", 1, "INVITE", NULL), id);
	kept(sipmsg(c, "CANCEL", id, "f", NULL, 1, "CANCEL", NULL), id);
	uint64_t end = c->now;
	kept(sipmsg(c, "200 OK", id, "f", "t", 1, "CANCEL", NULL), id);
	kept(sipmsg(c, "487 Request Terminated", id, "f", "t", 1, "INVITE", NULL), id);
	kept(sipmsg(c, "ACK", id, "f", "t", 1, "ACK", NULL), id);
	struct sv_tracker_event ev = expire_one(c, end + 5 * SEC);
	assert_int_equal(ev.end_reason, SV_TRACKER_END_CANCEL);
	assert_int_equal(ev.final_status, 0); /* 487 arrived after the end */
	/* A 2xx crossing the CANCEL answers the call after all. */
	const char *id2 = "cancel-2@host";
	kept(sipmsg(c, "INVITE", id2, "f", NULL, 1, "INVITE", NULL), id2);
	kept(sipmsg(c, "CANCEL", id2, "f", NULL, 1, "CANCEL", NULL), id2);
	kept(sipmsg(c, "200 OK", id2, "f", "t", 1, "INVITE", NULL), id2);
	assert_int_equal(poll_at(c, c->now + 60 * SEC, NULL), 0);
	kept(sipmsg(c, "BYE", id2, "t", "f", 1, "BYE", NULL), id2);
	ev = expire_one(c, c->now + 5 * SEC);
	assert_int_equal(ev.end_reason, SV_TRACKER_END_BYE);
}

static void test_failure_4xx(void **state)
{
	struct ctx *c = *state;
	const char *id = "busy@host";
	kept(sipmsg(c, "INVITE", id, "f", NULL, 1, "INVITE", NULL), id);
	kept(sipmsg(c, "486 Busy Here", id, "f", "t", 1, "INVITE", NULL), id);
	uint64_t end = c->now;
	kept(sipmsg(c, "ACK", id, "f", "t", 1, "ACK", NULL), id);
	struct sv_tracker_event ev = expire_one(c, end + 5 * SEC);
	assert_int_equal(ev.end_reason, SV_TRACKER_END_FAILED);
	assert_int_equal(ev.final_status, 486);
}

static void test_auth_retry(void **state)
{
	struct ctx *c = *state;
	const char *id = "auth@host";
	kept(sipmsg(c, "INVITE", id, "f", NULL, 1, "INVITE", NULL), id);
	kept(sipmsg(c, "407 Proxy Authentication Required", id, "f", "x", 1, "INVITE", NULL), id);
	kept(sipmsg(c, "ACK", id, "f", "x", 1, "ACK", NULL), id);
	c->now += 2 * SEC; /* within the grace */
	assert_int_equal(poll_at(c, c->now, NULL), 0);
	struct sv_tracker_sip_res r = sipmsg(c, "INVITE", id, "f", NULL, 2, "INVITE", NULL);
	kept(r, id);
	assert_false(r.created);
	/* The retry is a live call again: well past the old grace it is kept. */
	c->now += 10 * SEC;
	assert_int_equal(poll_at(c, c->now, NULL), 0);
	kept(sipmsg(c, "401 Unauthorized", id, "f", "y", 2, "INVITE", NULL), id);
	kept(sipmsg(c, "INVITE", id, "f", NULL, 3, "INVITE", NULL), id);
	kept(sipmsg(c, "200 OK", id, "f", "t", 3, "INVITE", NULL), id);
	kept(sipmsg(c, "ACK", id, "f", "t", 3, "ACK", NULL), id);
	kept(sipmsg(c, "BYE", id, "f", "t", 4, "BYE", NULL), id);
	kept(sipmsg(c, "200 OK", id, "f", "t", 4, "BYE", NULL), id);
	struct sv_tracker_stats st;
	sv_tracker_stats(c->t, &st);
	assert_int_equal(st.calls_created, 1);
	assert_int_equal(st.calls_revived, 2);
	assert_int_equal(poll_at(c, c->now + 5 * SEC, id), 1);
}

static void test_early_media_prack_update_info_refer_notify(void **state)
{
	struct ctx *c = *state;
	char s1[512], s2[512], s3[512];
	const char *id = "em@host";
	kept(
	    sipmsg(c, "INVITE", id, "f", NULL, 1, "INVITE", sdp(s1, 512, "192.0.2.1", 10000, NULL)),
	    id);
	kept(sipmsg(c, "183 Session Progress", id, "f", "t", 1, "INVITE",
	            sdp(s2, 512, "192.0.2.2", 20000, NULL)),
	     id);
	/* Early-media RTCP from the callee's RTP+1 is already matched. */
	matched(rtcp(c, "192.0.2.2", 20001, "192.0.2.1", 10001, 0x1111), id, SV_TRACKER_SIDE_UAS,
	        SV_TRACKER_BY_SRC);
	kept(sipmsg(c, "PRACK", id, "f", "t", 2, "PRACK", NULL), id);
	kept(sipmsg(c, "200 OK", id, "f", "t", 2, "PRACK", NULL), id);
	kept(sipmsg(c, "UPDATE", id, "f", "t", 3, "UPDATE", sdp(s3, 512, "192.0.2.1", 10010, NULL)),
	     id);
	kept(sipmsg(c, "200 OK", id, "f", "t", 3, "UPDATE", NULL), id);
	kept(sipmsg(c, "200 OK", id, "f", "t", 1, "INVITE", NULL), id);
	kept(sipmsg(c, "ACK", id, "f", "t", 1, "ACK", NULL), id);
	kept(sipmsg(c, "INFO", id, "f", "t", 4, "INFO", NULL), id);
	kept(sipmsg(c, "200 OK", id, "f", "t", 4, "INFO", NULL), id);
	kept(sipmsg(c, "REFER", id, "t", "f", 1, "REFER", NULL), id);
	kept(sipmsg(c, "202 Accepted", id, "t", "f", 1, "REFER", NULL), id);
	kept(sipmsg(c, "NOTIFY", id, "f", "t", 5, "NOTIFY", NULL), id);
	kept(sipmsg(c, "200 OK", id, "f", "t", 5, "NOTIFY", NULL), id);
	kept(sipmsg(c, "OPTIONS", id, "t", "f", 2, "OPTIONS", NULL), id);
	kept(sipmsg(c, "BYE", id, "t", "f", 3, "BYE", NULL), id);
	kept(sipmsg(c, "200 OK", id, "t", "f", 3, "BYE", NULL), id);
	/* The UPDATE's new port counts; RTCP to the caller's new RTP+1. */
	matched(rtcp(c, "192.0.2.2", 20001, "192.0.2.1", 10011, 0x1111), id, SV_TRACKER_SIDE_UAS,
	        SV_TRACKER_BY_SRC);
	matched(rtcp(c, "198.51.100.9", 4000, "192.0.2.1", 10011, 0x2222), id, SV_TRACKER_SIDE_UAS,
	        SV_TRACKER_BY_DST);
	struct sv_tracker_stats st;
	sv_tracker_stats(c->t, &st);
	assert_int_equal(st.sip_kept, 17);
	assert_int_equal(st.sdp_seen, 3);
}

static void test_out_of_dialog(void **state)
{
	struct ctx *c = *state;
	static const char *const m[] = {"OPTIONS", "REGISTER", "SUBSCRIBE", "NOTIFY", "MESSAGE",
	                                "PUBLISH", "BYE",      "ACK",       "FOO"};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		char id[32];
		snprintf(id, sizeof(id), "ood-%zu@h", i);
		struct sv_tracker_sip_res r = sipmsg(c, m[i], id, "f", NULL, 1, m[i], NULL);
		assert_int_equal(r.drop, SV_TRACKER_DROP_OUT_OF_DIALOG);
		assert_null(r.call_id.p);
		r = sipmsg(c, "200 OK", id, "f", "t", 1, m[i], NULL);
		assert_int_equal(r.drop, SV_TRACKER_DROP_NO_DIALOG);
	}
	/* A SUBSCRIBE dialog's in-dialog NOTIFY stays out too. */
	assert_int_equal(sipmsg(c, "SUBSCRIBE", "sub@h", "f", NULL, 1, "SUBSCRIBE", NULL).drop,
	                 SV_TRACKER_DROP_OUT_OF_DIALOG);
	assert_int_equal(sipmsg(c, "NOTIFY", "sub@h", "t", "f", 1, "NOTIFY", NULL).drop,
	                 SV_TRACKER_DROP_OUT_OF_DIALOG);
	struct sv_tracker_sip_res r;
	assert_int_equal(
	    sv_tracker_sip(c->t, c->now, NULL, (const uint8_t *)"garbage\r\n\r\n", 11, &r), 0);
	assert_int_equal(r.drop, SV_TRACKER_DROP_PARSE);
	struct sv_tracker_stats st;
	sv_tracker_stats(c->t, &st);
	assert_int_equal(st.out_of_dialog[SV_SIP_OPTIONS], 1);
	assert_int_equal(st.out_of_dialog[SV_SIP_REGISTER], 1);
	assert_int_equal(st.out_of_dialog[SV_SIP_SUBSCRIBE], 2);
	assert_int_equal(st.out_of_dialog[SV_SIP_NOTIFY], 2);
	assert_int_equal(st.out_of_dialog[SV_SIP_MESSAGE], 1);
	assert_int_equal(st.out_of_dialog[SV_SIP_PUBLISH], 1);
	assert_int_equal(st.out_of_dialog[SV_SIP_OTHER], 1);
	assert_int_equal(st.sip_dropped[SV_TRACKER_DROP_OUT_OF_DIALOG], 11);
	assert_int_equal(st.sip_dropped[SV_TRACKER_DROP_NO_DIALOG], 9);
	assert_int_equal(st.sip_dropped[SV_TRACKER_DROP_PARSE], 1);
	assert_int_equal(st.sip_kept, 0);
	assert_int_equal(st.calls_live, 0);
	assert_string_equal(sv_tracker_drop_name(SV_TRACKER_DROP_OUT_OF_DIALOG), "out-of-dialog");
}

static void test_limits(void **state)
{
	struct sv_tracker_limits lim = {.max_calls = 2,
	                                .grace_ns = 1 * SEC,
	                                .pending_timeout_ns = 30 * SEC,
	                                .active_timeout_ns = 100 * SEC};
	struct ctx c = {.now = T0};
	assert_int_equal(sv_tracker_new(&lim, &c.t), 0);
	kept(sipmsg(&c, "INVITE", "l1@h", "f", NULL, 1, "INVITE", NULL), "l1@h");
	kept(sipmsg(&c, "INVITE", "l2@h", "f", NULL, 1, "INVITE", NULL), "l2@h");
	assert_int_equal(sipmsg(&c, "INVITE", "l3@h", "f", NULL, 1, "INVITE", NULL).drop,
	                 SV_TRACKER_DROP_FULL);
	/* Call-ID too long. */
	char big[SV_TRACKER_MAX_CALLID + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sipmsg(&c, "INVITE", big, "f", NULL, 1, "INVITE", NULL).drop,
	                 SV_TRACKER_DROP_CALLID);
	/* Pending timeout: l1 without answer; l2 answered then idle. */
	kept(sipmsg(&c, "200 OK", "l2@h", "f", "t", 1, "INVITE", NULL), "l2@h");
	uint64_t t2 = c.now;
	assert_int_equal(poll_at(&c, T0 + 31 * SEC, NULL), 0); /* l1 ends */
	struct sv_tracker_event ev = expire_one(&c, T0 + 32 * SEC);
	assert_memory_equal(ev.call_id.p, "l1@h", 4);
	assert_int_equal(ev.end_reason, SV_TRACKER_END_TIMEOUT);
	kept(sipmsg(&c, "INVITE", "l3@h", "f", NULL, 1, "INVITE", NULL), "l3@h");
	assert_int_equal(sv_tracker_next_deadline(c.t), c.now + 30 * SEC);
	assert_int_equal(poll_at(&c, t2 + 101 * SEC, NULL), 0); /* both end */
	ev = expire_one(&c, t2 + 102 * SEC);
	assert_memory_equal(ev.call_id.p, "l3@h", 4); /* pending timeout came first */
	ev = expire_one(&c, t2 + 102 * SEC);
	assert_memory_equal(ev.call_id.p, "l2@h", 4);
	assert_int_equal(ev.end_reason, SV_TRACKER_END_TIMEOUT);
	sv_tracker_free(c.t);
	sv_tracker_free(NULL);
}

/* ------------------------------------------------------------ RTCP */

static void test_rtcp_endpoints(void **state)
{
	struct ctx *c = *state;
	char s1[512], s2[512], s3[512], s4[512];
	const char *id = "media@h";
	/* Caller: a=rtcp on another port and address; relay rewrites to
	 * 203.0.113.5:40000 (RTP+1); callee answers with rtcp-mux. */
	kept(sipmsg(c, "INVITE", id, "f", NULL, 1, "INVITE",
	            sdp(s1, 512, "192.0.2.1", 10000, "a=rtcp:10501 IN IP4 192.0.2.11\r\n")),
	     id);
	kept(sipmsg(c, "INVITE", id, "f", NULL, 1, "INVITE",
	            sdp(s2, 512, "203.0.113.5", 40000, NULL)),
	     id);
	kept(sipmsg(c, "200 OK", id, "f", "t", 1, "INVITE",
	            sdp(s3, 512, "198.51.100.2", 30000, "a=rtcp-mux\r\n")),
	     id);
	kept(sipmsg(c, "200 OK", id, "f", "t", 1, "INVITE",
	            sdp(s4, 512, "203.0.113.5", 40010, NULL)),
	     id);
	/* By source: the caller's a=rtcp endpoint. */
	matched(rtcp(c, "192.0.2.11", 10501, "203.0.113.5", 40011, 0xa1), id, SV_TRACKER_SIDE_UAC,
	        SV_TRACKER_BY_SRC);
	/* By destination: the relay's rewritten endpoint for the caller. */
	matched(rtcp(c, "198.51.100.77", 5555, "203.0.113.5", 40001, 0xb1), id, SV_TRACKER_SIDE_UAS,
	        SV_TRACKER_BY_DST);
	/* rtcp-mux: RTCP on the callee's RTP port. */
	matched(rtcp(c, "198.51.100.2", 30000, "203.0.113.5", 40001, 0xb2), id, SV_TRACKER_SIDE_UAS,
	        SV_TRACKER_BY_SRC);
	/* Not RTP+1 for the a=rtcp side: 10001 is no endpoint. */
	assert_int_equal(rtcp(c, "192.0.2.1", 10001, "192.0.2.200", 9, 0xc1).kind,
	                 SV_TRACKER_MEDIA_UNMATCHED);
	/* SSRC learned: 0xa1 from a NATed address still matches. */
	matched(rtcp(c, "100.64.0.1", 1234, "192.0.2.200", 9, 0xa1), id, SV_TRACKER_SIDE_UAC,
	        SV_TRACKER_BY_SSRC);
	/* RTP on these endpoints is not analysed (RTCP will come). */
	assert_int_equal(rtp(c, "198.51.100.2", 30000, "203.0.113.5", 40010, 5, 1).kind,
	                 SV_TRACKER_MEDIA_IGNORED);
	/* Neither RTP nor RTCP. */
	struct sv_tracker_flow f;
	struct sv_tracker_media_res r;
	flow4(&f, "192.0.2.1", 1, "192.0.2.2", 2);
	assert_int_equal(sv_tracker_media(c->t, c->now, &f, (const uint8_t *)"hello", 5, &r), 0);
	assert_int_equal(r.kind, SV_TRACKER_MEDIA_IGNORED);
	struct sv_tracker_stats st;
	sv_tracker_stats(c->t, &st);
	assert_int_equal(st.rtcp_kept, 4);
	assert_int_equal(st.rtcp_unmatched, 1);
	assert_int_equal(st.rtcp_by_ssrc, 1);
	assert_int_equal(st.endpoints, 4);
	/* End, grace, forget: endpoints and SSRCs are gone. */
	kept(sipmsg(c, "BYE", id, "f", "t", 2, "BYE", NULL), id);
	matched(rtcp(c, "192.0.2.11", 10501, "203.0.113.5", 40011, 0xa1), id, SV_TRACKER_SIDE_UAC,
	        SV_TRACKER_BY_SRC); /* still in grace */
	assert_int_equal(poll_at(c, c->now + 5 * SEC, id), 1);
	assert_int_equal(rtcp(c, "192.0.2.11", 10501, "203.0.113.5", 40011, 0xa1).kind,
	                 SV_TRACKER_MEDIA_UNMATCHED);
	assert_int_equal(rtcp(c, "100.64.0.1", 1234, "192.0.2.200", 9, 0xa1).kind,
	                 SV_TRACKER_MEDIA_UNMATCHED);
	sv_tracker_stats(c->t, &st);
	assert_int_equal(st.endpoints, 0);
}

static void test_rtcp_ipv6_and_takeover(void **state)
{
	struct ctx *c = *state;
	static const char sdp6[] =
	    "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\n"
	    "t=0 0\r\nm=audio 5008 RTP/AVP 0\r\n";
	kept(sipmsg(c, "INVITE", "v6@h", "f", NULL, 1, "INVITE", sdp6), "v6@h");
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_rtcp_encode_report(&b, 77, NULL, NULL, 0), 0);
	struct sv_tracker_flow f = {.family = AF_INET6, .sport = 5009, .dport = 6000};
	inet_pton(AF_INET6, "2001:db8::1", f.src);
	inet_pton(AF_INET6, "2001:db8::2", f.dst);
	struct sv_tracker_media_res r;
	assert_int_equal(sv_tracker_media(c->t, c->now, &f, b.data, b.len, &r), 0);
	matched(r, "v6@h", SV_TRACKER_SIDE_UAC, SV_TRACKER_BY_SRC);
	sv_buf_release(&b);
	/* A second call naming the same endpoint takes it over; when the old
	 * call expires the endpoint stays with the new one. */
	char s1[512];
	kept(sipmsg(c, "INVITE", "old@h", "f", NULL, 1, "INVITE",
	            sdp(s1, 512, "192.0.2.50", 16000, NULL)),
	     "old@h");
	kept(sipmsg(c, "BYE", "old@h", "f", "t", 2, "BYE", NULL), "old@h");
	kept(sipmsg(c, "INVITE", "new@h", "f", NULL, 1, "INVITE",
	            sdp(s1, 512, "192.0.2.50", 16000, NULL)),
	     "new@h");
	matched(rtcp(c, "192.0.2.50", 16001, "192.0.2.9", 9, 0x33), "new@h", SV_TRACKER_SIDE_UAC,
	        SV_TRACKER_BY_SRC);
	assert_int_equal(poll_at(c, c->now + 5 * SEC, "old@h"), 1);
	matched(rtcp(c, "192.0.2.50", 16001, "192.0.2.9", 9, 0x34), "new@h", SV_TRACKER_SIDE_UAC,
	        SV_TRACKER_BY_SRC);
}

static void test_endpoint_ring(void **state)
{
	struct ctx *c = *state;
	char s[512];
	/* More re-INVITEs than endpoint slots: the oldest are forgotten. */
	kept(sipmsg(c, "INVITE", "ring@h", "f", NULL, 1, "INVITE",
	            sdp(s, 512, "192.0.2.1", 10000, NULL)),
	     "ring@h");
	for (int i = 1; i <= SV_TRACKER_MAX_ENDPOINTS; i++)
		kept(sipmsg(c, "INVITE", "ring@h", "f", "t", 1 + i, "INVITE",
		            sdp(s, 512, "192.0.2.1", 10000 + 2 * i, NULL)),
		     "ring@h");
	assert_int_equal(rtcp(c, "192.0.2.1", 10001, "192.0.2.9", 9, 1).kind,
	                 SV_TRACKER_MEDIA_UNMATCHED);
	matched(rtcp(c, "192.0.2.1", 10003, "192.0.2.9", 9, 2), "ring@h", SV_TRACKER_SIDE_UAC,
	        SV_TRACKER_BY_SRC);
	struct sv_tracker_stats st;
	sv_tracker_stats(c->t, &st);
	assert_int_equal(st.endpoints, SV_TRACKER_MAX_ENDPOINTS);
}

/* ------------------------------------------------------------ RTP analysis */

static void test_rtp_analysis_quality(void **state)
{
	struct ctx *c = *state;
	char s1[512], s2[512];
	const char *id = "norctcp@h";
	kept(sipmsg(c, "INVITE", id, "f", NULL, 1, "INVITE",
	            sdp(s1, 512, "192.0.2.1", 10000, "a=rtcp:0\r\n")),
	     id);
	kept(sipmsg(c, "200 OK", id, "f", "t", 1, "INVITE",
	            sdp(s2, 512, "192.0.2.2", 20000, "a=rtcp:0\r\n")),
	     id);
	/* Callee -> caller: 50 packets, seq 1..50 minus 2 lost; caller -> callee
	 * from its RTP port (matched by the destination 20000). */
	for (uint16_t i = 1; i <= 50; i++) {
		if (i != 10 && i != 11) {
			struct sv_tracker_media_res r =
			    rtp(c, "192.0.2.2", 20000, "192.0.2.1", 10000, 0xabc, i);
			assert_int_equal(r.kind, SV_TRACKER_MEDIA_RTP);
			assert_int_equal(r.sender, SV_TRACKER_SIDE_UAS);
			assert_int_equal(r.by, SV_TRACKER_BY_DST);
		}
		struct sv_tracker_media_res r =
		    rtp(c, "100.64.1.1", 7000, "192.0.2.2", 20000, 0xdef, i);
		assert_int_equal(r.kind, SV_TRACKER_MEDIA_RTP);
		assert_int_equal(r.sender, SV_TRACKER_SIDE_UAC);
	}
	/* RTCP anyway (a misbehaving UA) toward the caller's RTP port still
	 * belongs to the call. */
	matched(rtcp(c, "192.0.2.2", 20001, "192.0.2.1", 10000, 0xabc), id, SV_TRACKER_SIDE_UAS,
	        SV_TRACKER_BY_DST);
	kept(sipmsg(c, "BYE", id, "f", "t", 2, "BYE", NULL), id);
	uint64_t end = c->now;
	/* Quality one second after the end, expiry after the grace. */
	assert_int_equal(sv_tracker_next_deadline(c->t), end + 1 * SEC);
	assert_int_equal(poll_at(c, end + 1 * SEC, id), 0);
	assert_true(c->b.len > 0);
	json_error_t err;
	json_t *root = json_loadb((const char *)c->b.data, c->b.len, 0, &err);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "source")), "rtp");
	assert_string_equal(json_string_value(json_object_get(root, "codec")), "PCMU");
	json_t *uac = json_object_get(json_object_get(root, "directions"), "uac");
	json_t *uas = json_object_get(json_object_get(root, "directions"), "uas");
	assert_int_equal(json_integer_value(json_object_get(uac, "lost")), 2);
	assert_int_equal(json_integer_value(json_object_get(uac, "packets")), 48);
	assert_int_equal(json_integer_value(json_object_get(uas, "lost")), 0);
	assert_int_equal(json_integer_value(json_object_get(uas, "packets")), 50);
	assert_true(fabs(json_number_value(json_object_get(json_object_get(uac, "loss"), "avg")) -
	                 4.0) < 1e-9);
	json_decref(root);
	assert_int_equal(poll_at(c, end + 5 * SEC, id), 1);
	struct sv_tracker_stats st;
	sv_tracker_stats(c->t, &st);
	assert_int_equal(st.quality_emitted, 1);
	assert_int_equal(st.rtp_analysed, 98);
	/* A call with a=rtcp:0 but no RTP captured sends no document. */
	sv_buf_reset(&c->b);
	kept(sipmsg(c, "INVITE", "silent@h", "f", NULL, 1, "INVITE",
	            sdp(s1, 512, "192.0.2.1", 10000, "a=rtcp:0\r\n")),
	     "silent@h");
	kept(sipmsg(c, "CANCEL", "silent@h", "f", NULL, 1, "CANCEL", NULL), "silent@h");
	assert_int_equal(poll_at(c, c->now + 6 * SEC, "silent@h"), 1);
	assert_int_equal(c->b.len, 0);
}

/* ------------------------------------------------------------ logs */

static void test_log_slicing(void **state)
{
	struct ctx *c = *state;
	const char *id = "8f3a-77c2@10.0.0.1";
	kept(sipmsg(c, "INVITE", id, "f", NULL, 1, "INVITE", NULL), id);
	kept(sipmsg(c, "INVITE", "other-call-42@10.0.0.1", "f", NULL, 1, "INVITE", NULL),
	     "other-call-42@10.0.0.1");
	kept(sipmsg(c, "INVITE", "abc", "f", NULL, 1, "INVITE", NULL),
	     "abc"); /* too short for logs */
	logm(c, "Jun 1 12:00:00 opensips[123]: INFO: Call-ID: 8f3a-77c2@10.0.0.1 routed", id);
	logm(c, "ERROR:b2b_logic:[B2B::8f3a-77c2@10.0.0.1] entity gone", id);
	logm(c, "DBG:dialog:dlg:8f3a-77c2@10.0.0.1", id);
	logm(c, "8f3a-77c2@10.0.0.1", id);
	logm(c, "ci=other-call-42@10.0.0.1;x", "other-call-42@10.0.0.1");
	logm(c, "8f3a-77c2@10.0.0.2 is another call", NULL);
	logm(c, "8f3a-77c2@10.0.0.", NULL);
	logm(c, "abc abc abc", NULL);
	logm(c, "", NULL);
	logm(c, "short", NULL);
	/* Binary junk with NULs. */
	struct sv_str out;
	assert_int_equal(sv_tracker_log(c->t, c->now, "\0\0\0\0\0\0\0\0\0", 9, &out), 0);
	/* Grace after the end, then never again. */
	kept(sipmsg(c, "BYE", id, "f", "t", 2, "BYE", NULL), id);
	c->now += 4 * SEC;
	logm(c, "late line for 8f3a-77c2@10.0.0.1", id);
	assert_int_equal(poll_at(c, c->now + 1 * SEC, id), 1);
	logm(c, "after expiry 8f3a-77c2@10.0.0.1", NULL);
	logm(c, "ci=other-call-42@10.0.0.1;x", "other-call-42@10.0.0.1");
	struct sv_tracker_stats st;
	sv_tracker_stats(c->t, &st);
	assert_int_equal(st.log_matched, 7);
	assert_int_equal(st.log_unmatched, 7);
	/* Call-IDs that contain one another: the leftmost, longest wins. */
	kept(sipmsg(c, "INVITE", "1-4242@h.example", "f", NULL, 1, "INVITE", NULL),
	     "1-4242@h.example");
	kept(sipmsg(c, "INVITE", "11-4242@h.example", "f", NULL, 1, "INVITE", NULL),
	     "11-4242@h.example");
	kept(sipmsg(c, "INVITE", "11-4242@h.example.org", "f", NULL, 1, "INVITE", NULL),
	     "11-4242@h.example.org");
	logm(c, "x 1-4242@h.example y", "1-4242@h.example");
	logm(c, "x 11-4242@h.example y", "11-4242@h.example");
	logm(c, "x 11-4242@h.example.org y", "11-4242@h.example.org");
	logm(c, "x 211-4242@h.example.org y", "11-4242@h.example.org");
}

static void test_log_shared_prefixes_10k(void **state)
{
	/* 10,000 live calls whose Call-IDs share long prefixes and suffixes
	 * (sipp style "N-PID@host"): every line is still matched to the right
	 * call, fast. */
	struct ctx c = {.now = T0};
	struct sv_tracker_limits lim = {.max_calls = 20000};
	assert_int_equal(sv_tracker_new(&lim, &c.t), 0);
	enum { N = 10000 };
	char id[64];
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "%d-4242@192.168.100.200", i + 1);
		kept(sipmsg(&c, "INVITE", id, "f", NULL, 1, "INVITE", NULL), id);
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	char line[256];
	int hits = 0;
	for (int k = 0; k < 100000; k++) {
		int i = (k * 7919) % N;
		struct sv_str out;
		snprintf(line, sizeof(line),
		         "Jun  1 12:00:00 host /usr/sbin/opensips[999]: DBG:tm:t_lookup_request: "
		         "start searching: hash=%d, isACK=0 [B2B::%d-4242@192.168.100.200] dlg",
		         k, i + 1);
		if (sv_tracker_log(c.t, c.now, line, strlen(line), &out) == 1) {
			snprintf(id, sizeof(id), "%d-4242@192.168.100.200", i + 1);
			if (out.len == strlen(id) && memcmp(out.p, id, out.len) == 0)
				hits++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	assert_int_equal(hits, 100000);
	/* Lines naming no call cost the same scan and match nothing. */
	for (int k = 0; k < 1000; k++) {
		snprintf(line, sizeof(line), "OPTIONS ping %d-4243@192.168.100.200 done", k);
		logm(&c, line, NULL);
	}
	print_message("100k log lines over 10k calls: %.3f s\n", secs);
	assert_true(secs < 3.0); /* typically ~0.05 s; generous for sanitizers */
	sv_tracker_free(c.t);
}

/* ------------------------------------------------------------ real captures */

struct tsh {
	unsigned frame;
	char callid[256];
	char method[32]; /* request method, empty for responses */
	char cseqm[32];
};

static size_t tshark_sip(const char *path, struct tsh *out, size_t max)
{
	char cmd[1024];
	struct sv_buf b;
	sv_buf_init(&b);
	snprintf(cmd, sizeof(cmd),
	         "tshark -r '%s' -Y 'sip && udp' -T fields -E separator=/t -e frame.number "
	         "-e sip.Call-ID -e sip.Method -e sip.CSeq.method 2>/dev/null",
	         path);
	assert_int_equal(tu_run(cmd, &b), 0);
	assert_int_equal(sv_buf_put_u8(&b, 0), 0);
	size_t n = 0;
	char *save = NULL;
	for (char *l = strtok_r((char *)b.data, "\n", &save); l != NULL && n < max;
	     l = strtok_r(NULL, "\n", &save)) {
		struct tsh *t = &out[n];
		memset(t, 0, sizeof(*t));
		char *f[4] = {0};
		int k = 0;
		for (char *p = l; k < 4; k++) {
			f[k] = p;
			char *tab = strchr(p, '\t');
			if (tab == NULL) {
				k++;
				break;
			}
			*tab = '\0';
			p = tab + 1;
		}
		t->frame = (unsigned)atoi(f[0]);
		snprintf(t->callid, sizeof(t->callid), "%s", f[1] ? f[1] : "");
		snprintf(t->method, sizeof(t->method), "%s", f[2] ? f[2] : "");
		snprintf(t->cseqm, sizeof(t->cseqm), "%s", f[3] ? f[3] : "");
		n++;
	}
	sv_buf_release(&b);
	return n;
}

/* RTCP frame numbers tshark finds (it follows the SDP like we do). */
static size_t tshark_rtcp(const char *path, unsigned *out, size_t max)
{
	char cmd[1024];
	struct sv_buf b;
	sv_buf_init(&b);
	snprintf(cmd, sizeof(cmd), "tshark -r '%s' -Y rtcp -T fields -e frame.number 2>/dev/null",
	         path);
	assert_int_equal(tu_run(cmd, &b), 0);
	assert_int_equal(sv_buf_put_u8(&b, 0), 0);
	size_t n = 0;
	char *save = NULL;
	for (char *l = strtok_r((char *)b.data, "\n", &save); l != NULL && n < max;
	     l = strtok_r(NULL, "\n", &save))
		out[n++] = (unsigned)atoi(l);
	sv_buf_release(&b);
	return n;
}

struct verdict {
	int sip; /* 0 none, 1 kept, 2 dropped */
	char callid[256];
	int rtcp; /* 0 none, 1 matched, 2 unmatched */
	char rtcp_call[256];
};

static void run_capture(const char *rel, unsigned *rtcp_total, unsigned *rtcp_matched,
                        const char *rtcp_call)
{
	const char *path = tu_shared(rel);
	enum { MAXF = 40000 };
	struct tsh *ts = calloc(MAXF, sizeof(*ts));
	struct verdict *v = calloc(MAXF + 1, sizeof(*v));
	assert_non_null(ts);
	assert_non_null(v);
	size_t nts = tshark_sip(path, ts, MAXF);
	assert_true(nts > 0);

	struct sv_packet_reader *rd;
	char err[256];
	assert_int_equal(sv_packet_reader_open(path, &rd, err, sizeof(err)), 0);
	struct sv_tracker *t;
	assert_int_equal(sv_tracker_new(NULL, &t), 0);
	struct sv_packet p;
	uint64_t ts_ns;
	unsigned frame = 0;
	int rc;
	/* Time as captured, except that gaps over 1 s are shortened to 1 s:
	 * heplify's sip_ipv6_udp.pcap has years between its frames, and the
	 * oracle (tshark) is about dialogs, not timeouts. */
	uint64_t last_raw = 0, now = 0;
	while ((rc = sv_packet_reader_next(rd, &p, &ts_ns)) == 1) {
		frame++;
		uint64_t gap = frame == 1 || ts_ns < last_raw ? 0 : ts_ns - last_raw;
		last_raw = ts_ns;
		now = frame == 1 ? ts_ns : now + (gap > SEC ? SEC : gap);
		ts_ns = now;
		struct sv_tracker_event ev;
		while (sv_tracker_poll(t, ts_ns, &ev) == 1)
			;
		if (frame > MAXF || p.decode_rc != 0 || p.proto != SV_PACKET_PROTO_UDP ||
		    (p.flags & SV_PACKET_F_FRAG) || p.payload_len == 0)
			continue;
		struct sv_tracker_flow f;
		sv_tracker_flow_from_packet(&p, &f);
		struct sv_sip_msg m;
		if (sv_sip_parse(p.payload, p.payload_len, &m) == 0) {
			struct sv_tracker_sip_res r;
			assert_int_equal(sv_tracker_sip(t, ts_ns, &f, p.payload, p.payload_len, &r),
			                 0);
			v[frame].sip = r.drop == SV_TRACKER_KEEP ? 1 : 2;
			if (r.drop == SV_TRACKER_KEEP)
				snprintf(v[frame].callid, sizeof(v[frame].callid), "%.*s",
				         (int)r.call_id.len, r.call_id.p);
			continue;
		}
		struct sv_tracker_media_res mr;
		assert_int_equal(sv_tracker_media(t, ts_ns, &f, p.payload, p.payload_len, &mr), 0);
		if (mr.kind == SV_TRACKER_MEDIA_RTCP) {
			v[frame].rtcp = 1;
			snprintf(v[frame].rtcp_call, sizeof(v[frame].rtcp_call), "%.*s",
			         (int)mr.call_id.len, mr.call_id.p);
		} else if (mr.kind == SV_TRACKER_MEDIA_UNMATCHED) {
			v[frame].rtcp = 2;
		}
	}
	assert_int_equal(rc, 0);
	sv_packet_reader_close(rd);

	/* INVITE dialogs per tshark: a message belongs to one when an INVITE
	 * with its Call-ID came first (sipp reuses a REGISTER's Call-ID for the
	 * INVITE that follows; the REGISTER is not part of the dialog). */
	size_t kept_n = 0, dropped_n = 0;
	for (size_t i = 0; i < nts; i++) {
		int invite_dialog = 0;
		for (size_t j = 0; j <= i && !invite_dialog; j++)
			invite_dialog = strcmp(ts[j].callid, ts[i].callid) == 0 &&
			                strcmp(ts[j].method, "INVITE") == 0;
		unsigned fr = ts[i].frame;
		assert_true(fr <= MAXF);
		if (invite_dialog) {
			if (v[fr].sip != 1 || strcmp(v[fr].callid, ts[i].callid) != 0)
				fail_msg("%s frame %u (%s %s): not kept for its INVITE dialog", rel,
				         fr, ts[i].method, ts[i].callid);
			kept_n++;
		} else {
			if (v[fr].sip != 2)
				fail_msg(
				    "%s frame %u (%s / CSeq %s): shipped outside an INVITE dialog",
				    rel, fr, ts[i].method, ts[i].cseqm);
			dropped_n++;
		}
	}
	print_message("%s: %zu SIP kept, %zu dropped\n", rel, kept_n, dropped_n);
	if (rtcp_total != NULL) {
		unsigned fr[4096];
		size_t n = tshark_rtcp(path, fr, 4096);
		*rtcp_total = (unsigned)n;
		*rtcp_matched = 0;
		for (size_t i = 0; i < n; i++)
			if (fr[i] <= MAXF && v[fr[i]].rtcp == 1) {
				assert_string_equal(v[fr[i]].rtcp_call, rtcp_call);
				(*rtcp_matched)++;
			}
	}
	struct sv_tracker_stats st;
	sv_tracker_stats(t, &st);
	print_message("%s: rtcp kept %llu unmatched %llu (by ssrc %llu)\n", rel,
	              (unsigned long long)st.rtcp_kept, (unsigned long long)st.rtcp_unmatched,
	              (unsigned long long)st.rtcp_by_ssrc);
	sv_tracker_free(t);
	free(ts);
	free(v);
}

static void test_real_captures_sip(void **state)
{
	assert_true(tu_have_tshark());
	static const char *const files[] = {
	    "pcap/sipnab/DTMFsipinfo.pcap",
	    "pcap/sipnab/SIP_DTMF2.cap",
	    "pcap/sipnab/invite-opus-bye.pcap",
	    "pcap/sipnab/register-invite-reinvite-bye.pcap",
	    "pcap/sipnab/rtp-protocol.pcap",
	    "pcap/sipnab/sip-488-codec-reject.pcapng",
	    "pcap/sipnab/sip-routing-error.pcapng",
	    "pcap/sipnab/sip-rtp-g711.pcap",
	    "pcap/sipnab/sip-rtp-g722.pcap",
	    "pcap/sipnab/sip-rtp-g729a.pcap",
	    "pcap/sipnab/sipp-branch-scenario.pcapng",
	    "pcap/heplify/rtp_rtcp_sip_ipv4_udp.pcap",
	    "pcap/heplify/sip_ipv6_udp.pcap",
	    "pcap/heplify/sip_tcp_websocket.pcap",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		run_capture(files[i], NULL, NULL, NULL);
}

static void test_real_captures_rtcp(void **state)
{
	assert_true(tu_have_tshark());
	unsigned total, ok;
	run_capture("pcap/sipnab/rtp-protocol.pcap", &total, &ok,
	            "1907983263271201083544@10.33.6.101");
	assert_int_equal(total, 2);
	assert_int_equal(ok, 2);
	run_capture("pcap/heplify/rtp_rtcp_sip_ipv4_udp.pcap", &total, &ok,
	            "12013223@200.57.7.195");
	print_message("heplify rtcp: %u of %u matched\n", ok, total);
	/* 14 reports on the SDP endpoints (40377 <-> 8001) match by address;
	 * 12 between 40379 and 4801, which no SDP names, carry the same SSRCs
	 * and match once the SSRC was learned, except the very first one
	 * (frame 521), sent before its SSRC was seen on an SDP endpoint. */
	assert_int_equal(total, 26);
	assert_int_equal(ok, 25);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_answered_bye, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failure_4xx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_retry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_early_media_prack_update_info_refer_notify, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_dialog, setup, teardown),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test_setup_teardown(test_rtcp_endpoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rtcp_ipv6_and_takeover, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoint_ring, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rtp_analysis_quality, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_slicing, setup, teardown),
	    cmocka_unit_test(test_log_shared_prefixes_10k),
	    cmocka_unit_test(test_real_captures_sip),
	    cmocka_unit_test(test_real_captures_rtcp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
