/*
 * fuzz_session - drives one call engine with a sequence of small commands
 * read from the input: templated SIP messages (method, status, tags, CSeq,
 * SDP and Call-ID chosen by input bytes), raw SIP / RTCP / log / quality
 * bytes, built RTCP reports, clock ticks and replay markers. At the end every
 * call is completed and the engine freed: no crash, no leak, and the hooks
 * see contiguous log chunks and complete objects.
 */
#include "base/buf.h"
#include "proto/rtcp.h"
#include "call/session.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static const uint8_t *bytes(struct in *in, size_t *len)
{
	size_t n = u8(in);
	if (n > in->n)
		n = in->n;
	const uint8_t *p = in->p;
	in->p += n;
	in->n -= n;
	*len = n;
	return p;
}

static const char *const customers[] = {"acme", "globex"};
static const char *const call_ids[] = {"c1@x", "c2@x", "c3@x"};
static const char *const ips[] = {"10.0.0.1", "10.0.0.2", "10.0.0.9", "192.0.2.7"};

static void on_chunk(void *arg, const struct sv_call_ref *call, unsigned chunk, size_t lines,
                     struct sv_buf *gz)
{
	(void)arg;
	if (chunk == 0 || lines == 0 || gz->len == 0 || call->call_id_len == 0)
		abort();
}

static void on_complete(void *arg, const struct sv_call_ref *call, struct sv_call_objects *o)
{
	(void)arg;
	(void)call;
	if (o->sip_pcap_gz.len == 0 || o->rtcp_json_gz.len == 0 || o->quality_json.len == 0 ||
	    (o->log_chunk > 0) != (o->log_gz.len > 0))
		abort();
}

static void addr(struct sv_wire_addr *a, uint8_t sel)
{
	memset(a, 0, sizeof(*a));
	a->family = 4;
	a->ip[0] = 10;
	a->ip[3] = (uint8_t)(1 + (sel & 3));
	if ((sel & 3) == 2)
		a->ip[3] = 9;
	a->port = (uint16_t)(4000 + (sel >> 2) % 8);
}

static void sip_template(struct sv_buf *b, struct in *in, const char *cid)
{
	static const char *const methods[] = {"INVITE",  "ACK",      "BYE",   "CANCEL",
	                                      "PRACK",   "UPDATE",   "INFO",  "NOTIFY",
	                                      "OPTIONS", "REGISTER", "REFER", "MESSAGE"};
	static const int statuses[] = {100, 180, 183, 200, 202, 302, 401, 407, 486, 487, 500, 603};
	static const char *const tags[] = {"a1", "b1", "b2", ""};
	uint8_t kind = u8(in), st = u8(in), ft = u8(in), tt = u8(in), cseq = u8(in), sdp = u8(in);
	const char *method = methods[(kind >> 1) % 12];
	char start[64], to[64], body[256] = "";
	if (kind & 1)
		snprintf(start, sizeof(start), "SIP/2.0 %d X", statuses[st % 12]);
	else
		snprintf(start, sizeof(start), "%s sip:b@x SIP/2.0", method);
	const char *ttag = tags[tt % 4];
	snprintf(to, sizeof(to), "<sip:b@x>%s%s", ttag[0] ? ";tag=" : "", ttag);
	if (sdp % 5 != 0)
		snprintf(body, sizeof(body),
		         "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
		         "m=audio %u RTP/AVP %u\r\n%s",
		         ips[sdp % 4], ips[sdp % 4], 4000u + (sdp >> 3) % 8 * 2,
		         (sdp >> 2) % 3 * 4u,
		         sdp & 0x80 ? "a=ssrc:7 cname:x\r\na=rtcp-mux\r\n" : "");
	sv_buf_printf(b,
	              "%s\r\nVia: SIP/2.0/%s 10.0.0.1\r\nFrom: <sip:a@x>;tag=%s\r\nTo: %s\r\n"
	              "Call-ID: %s\r\nCSeq: %u %s\r\n%sContent-Length: %zu\r\n\r\n%s",
	              start, st & 0x80 ? "TCP" : "UDP", tags[ft % 3], to, cid, cseq % 4 + 1u,
	              method, body[0] ? "Content-Type: application/sdp\r\n" : "", strlen(body),
	              body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_session_limits lim = {
	    .pending_timeout_ns = 30000000000ull,
	    .active_timeout_ns = 60000000000ull,
	    .closing_grace_ns = 2000000000ull,
	    .log_flush_ns = 10000000000ull,
	    .tombstone_ns = 100000000000ull,
	};
	struct sv_session_hooks hooks = {.log_chunk = on_chunk, .complete = on_complete};
	struct sv_sessions *s = NULL;
	struct in in = {data, size};
	uint64_t now = 1764151200000000000ull;
	struct sv_buf b;
	enum sv_ingest res;

	if (sv_sessions_new(&lim, &hooks, &s) != 0)
		return 0;
	sv_buf_init(&b);
	while (in.n > 0) {
		uint8_t op = u8(&in), sel = u8(&in);
		const char *cust = customers[sel & 1];
		const char *cid = call_ids[(sel >> 1) % 3];
		size_t len;
		const uint8_t *p;
		sv_buf_reset(&b);
		now += (uint64_t)(sel >> 4) * 1000000ull;
		switch (op % 8) {
		case 0:
		case 1: {
			struct sv_wire_sip w = {.ts_ns = now};
			if (op % 8 == 0) {
				sip_template(&b, &in, cid);
				p = b.data;
				len = b.len;
			} else {
				p = bytes(&in, &len);
			}
			w.call_id.p = (const uint8_t *)cid;
			w.call_id.len = (sel & 0x80) ? 0 : strlen(cid);
			addr(&w.src, u8(&in));
			addr(&w.dst, u8(&in));
			w.sip.p = p;
			w.sip.len = len;
			sv_sessions_sip(s, cust, now, &w, &res);
			break;
		}
		case 2:
		case 3: {
			struct sv_rtcp_input ri = {.ts_ns = now,
			                           .origin = (enum sv_rtcp_origin)(sel >> 7)};
			uint8_t a = u8(&in);
			ri.call_id = (const uint8_t *)cid;
			ri.call_id_len = strlen(cid);
			ri.has_addr = a & 1;
			addr(&ri.src, a >> 1);
			addr(&ri.dst, u8(&in));
			if (op % 8 == 2) {
				ri.raw = bytes(&in, &ri.raw_len);
			} else {
				struct sv_rtcp_report_block blk = {.ssrc = u8(&in) % 8,
				                                   .fraction_lost = u8(&in),
				                                   .jitter = u8(&in),
				                                   .lsr = u8(&in) % 3,
				                                   .dlsr = u8(&in)};
				struct sv_rtcp_sender_info si = {
				    .ntp_sec = 0, .ntp_frac = (uint32_t)u8(&in) << 16};
				uint8_t who = u8(&in);
				sv_rtcp_encode_report(&b, who % 8, (who & 8) ? &si : NULL, &blk,
				                      (who >> 6) & 1u);
				ri.raw = b.data;
				ri.raw_len = b.len;
			}
			ri.ssrc = u8(&in) % 8;
			sv_sessions_rtcp(s, cust, now, &ri, &res);
			break;
		}
		case 4: {
			struct sv_wire_log l = {.ts_ns = now};
			l.call_id.p = (const uint8_t *)cid;
			l.call_id.len = strlen(cid);
			l.line.p = bytes(&in, &l.line.len);
			sv_sessions_log(s, cust, now, &l, &res);
			break;
		}
		case 5: {
			struct sv_wire_quality q = {.ts_ns = now};
			q.call_id.p = (const uint8_t *)cid;
			q.call_id.len = strlen(cid);
			q.json.p = bytes(&in, &q.json.len);
			sv_sessions_quality(s, cust, now, &q, &res);
			break;
		}
		case 6:
			now += (uint64_t)u8(&in) * 1000000000ull;
			sv_sessions_tick(s, now);
			break;
		default: {
			const char *who = NULL;
			uint8_t k = u8(&in);
			if (k % 3 == 0)
				sv_sessions_mark_log_flushed(s, cust, (const uint8_t *)cid,
				                             strlen(cid), k / 3 % 4, k / 12 % 4);
			else if (k % 3 == 1)
				sv_sessions_mark_complete(s, cust, (const uint8_t *)cid,
				                          strlen(cid));
			else if (sv_sessions_customers_of(s, (const uint8_t *)cid, strlen(cid),
			                                  &who) == 1 &&
			         who == NULL)
				abort();
			break;
		}
		}
	}
	struct sv_session_stats st;
	sv_sessions_complete_all(s, now);
	sv_sessions_stats(s, &st);
	if (st.calls[SV_CALL_PENDING] + st.calls[SV_CALL_ACTIVE] + st.calls[SV_CALL_CLOSING] != 0)
		abort();
	sv_sessions_tick(s, now + 200000000000ull);
	sv_sessions_stats(s, &st);
	if (st.calls[SV_CALL_COMPLETE] != 0 || st.bytes_held != 0)
		abort();
	sv_buf_release(&b);
	sv_sessions_free(s);
	return 0;
}
