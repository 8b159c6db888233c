#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/errors.h"
#include "proto/sdp.h"
#include "proto/sip.h"
#include "testutil.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

#define assert_str(slice, lit)                                                             \
	do {                                                                               \
		struct sv_str s_ = (slice);                                                \
		const char *l_ = (lit);                                                    \
		if (s_.len != strlen(l_) || (s_.len > 0 && memcmp(s_.p, l_, s_.len) != 0)) \
			fail_msg("%s: got \"%.*s\", want \"%s\"", #slice, (int)s_.len,     \
			         s_.p ? s_.p : "", l_);                                    \
	} while (0)

static int parse_str(const char *s, struct sv_sip_msg *m)
{
	return sv_sip_parse((const uint8_t *)s, strlen(s), m);
}

/* Replaces "\r\n" with "\n" into a static buffer. */
static const char *lf_only(const char *s)
{
	static char out[8192];
	size_t o = 0;
	for (; *s != '\0' && o + 1 < sizeof(out); s++)
		if (*s != '\r')
			out[o++] = *s;
	out[o] = '\0';
	return out;
}

static const char invite[] =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5062;branch=z9hG4bK776asdhds;rport\r\n"
    "Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp1, SIP/2.0/UDP "
    "[2001:db8::9]:5070;branch=z9hG4bKp2\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "From: \"Alice \\\"A\\\" Liddell\" "
    "<sip:alice@atlanta.example.com;transport=tcp>;tag=1928301774;x=y\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>;expires=60, <sip:alt@example.com>\r\n"
    "User-Agent: softphone/1.0\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 10\r\n"
    "\r\n"
    "v=0\r\ns=-\r\n";

/* ------------------------------------------------------------ parser */

static void test_parse_request(void **state)
{
	struct sv_sip_msg m;
	assert_int_equal(parse_str(invite, &m), 0);
	assert_true(m.is_request);
	assert_int_equal(m.method, SV_SIP_INVITE);
	assert_str(m.method_name, "INVITE");
	assert_str(m.ruri, "sip:bob@biloxi.example.com");
	assert_str(m.call_id, "a84b4c76e66710@pc33.atlanta.example.com");
	assert_int_equal(m.cseq, 314159);
	assert_int_equal(m.cseq_method, SV_SIP_INVITE);
	assert_str(m.from.display, "Alice \\\"A\\\" Liddell");
	assert_str(m.from.uri, "sip:alice@atlanta.example.com;transport=tcp");
	assert_str(m.from.tag, "1928301774");
	assert_str(m.from.params, "tag=1928301774;x=y");
	assert_str(m.to.display, "Bob");
	assert_str(m.to.uri, "sip:bob@biloxi.example.com");
	assert_null(m.to.tag.p);
	assert_int_equal(m.via_count, 3);
	assert_str(m.via.transport, "UDP");
	assert_str(m.via.host, "pc33.atlanta.example.com");
	assert_int_equal(m.via.port, 5062);
	assert_str(m.via.branch, "z9hG4bK776asdhds");
	assert_str(m.contact.uri, "sip:alice@pc33.atlanta.example.com");
	assert_str(m.contact.params, "expires=60");
	assert_int_equal(m.max_forwards, 70);
	assert_str(m.user_agent, "softphone/1.0");
	assert_str(m.content_type, "application/sdp");
	assert_int_equal(m.content_length, 10);
	assert_str(m.body, "v=0\r\ns=-\r\n");
	assert_int_equal(m.msg_len, strlen(invite));
	assert_int_equal(m.header_len, strlen(invite) - 10);
	assert_int_equal(m.flags, 0);

	struct sv_str sdp;
	assert_int_equal(sv_sip_sdp_body(&m, &sdp), 0);
	assert_str(sdp, "v=0\r\ns=-\r\n");
	struct sv_str v;
	assert_int_equal(sv_sip_header(&m, "cseq", &v), 0);
	assert_str(v, "314159 INVITE");
	assert_int_equal(sv_sip_header(&m, "i", &v), 0);
	assert_str(v, "a84b4c76e66710@pc33.atlanta.example.com");
	assert_int_equal(sv_sip_header(&m, "X-Nope", &v), SV_E_NOTFOUND);
}

static void test_parse_response_lf_only(void **state)
{
	const char *r =
	    lf_only("SIP/2.0 180 Ringing\r\n"
	            "Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx;received=1.2.3.4\r\n"
	            "From: sip:alice@a.example;tag=abc\r\n"
	            "To: <sip:bob@b.example>;tag=def\r\n"
	            "Call-ID: 42@a\r\n"
	            "CSeq: 7 INVITE\r\n"
	            "Server: pbx 2\r\n"
	            "\r\n");
	struct sv_sip_msg m;
	assert_int_equal(parse_str(r, &m), 0);
	assert_false(m.is_request);
	assert_int_equal(m.status, 180);
	assert_str(m.reason, "Ringing");
	assert_int_equal(m.method, SV_SIP_NONE);
	assert_str(m.from.uri, "sip:alice@a.example");
	assert_str(m.from.tag, "abc");
	assert_null(m.from.display.p);
	assert_str(m.to.tag, "def");
	assert_str(m.via.host, "2001:db8::1");
	assert_int_equal(m.via.port, 5060);
	assert_str(m.via.branch, "z9hG4bKx");
	assert_str(m.server, "pbx 2");
	assert_int_equal(m.content_length, -1);
	assert_int_equal(m.body.len, 0);
	assert_int_equal(m.msg_len, strlen(r));

	/* Status line without a reason phrase. */
	assert_int_equal(
	    parse_str("SIP/2.0 200\nCall-ID: x\nCSeq: 1 BYE\nFrom: <sip:a>\nTo: <sip:b>\n\n", &m),
	    0);
	assert_int_equal(m.status, 200);
	assert_int_equal(m.reason.len, 0);
	assert_int_equal(m.cseq_method, SV_SIP_BYE);
}

static void test_compact_and_case(void **state)
{
	const char *msg = "BYE sip:b@h SIP/2.0\r\n"
	                  "v: SIP/2.0/TCP h1;branch=b1,SIP/2.0/UDP h2;branch=b2\r\n"
	                  "V: SIP/2.0/UDP h3;branch=b3\r\n"
	                  "f: A <sip:a@h>;tag=ta\r\n"
	                  "t: sip:b@h;tag=tb\r\n"
	                  "i: cid-1\r\n"
	                  "cseq: 9 BYE\r\n"
	                  "m: sip:a@1.2.3.4\r\n"
	                  "c: text/plain\r\n"
	                  "k: timer\r\n"
	                  "s: hello\r\n"
	                  "e: gzip\r\n"
	                  "l: 3\r\n"
	                  "CALL-ID: second-wins-not\r\n"
	                  "\r\n"
	                  "abcEXTRA";
	struct sv_sip_msg m;
	assert_int_equal(parse_str(msg, &m), 0);
	assert_str(m.call_id, "cid-1");
	assert_int_equal(m.via_count, 3);
	assert_str(m.via.transport, "TCP");
	assert_str(m.via.host, "h1");
	assert_int_equal(m.via.port, 0);
	assert_str(m.via.branch, "b1");
	assert_str(m.from.display, "A");
	assert_str(m.from.tag, "ta");
	assert_str(m.to.uri, "sip:b@h");
	assert_str(m.to.tag, "tb");
	assert_str(m.contact.uri, "sip:a@1.2.3.4");
	assert_str(m.content_type, "text/plain");
	assert_int_equal(m.content_length, 3);
	assert_str(m.body, "abc");
	assert_true(m.flags & SV_SIP_F_TRAILING);
	struct sv_str v;
	assert_int_equal(sv_sip_header(&m, "Supported", &v), 0);
	assert_str(v, "timer");
	assert_int_equal(sv_sip_header(&m, "subject", &v), 0);
	assert_str(v, "hello");
	assert_int_equal(sv_sip_header(&m, "Content-Encoding", &v), 0);
	assert_str(v, "gzip");
	assert_int_equal(sv_sip_sdp_body(&m, &v), SV_E_NOTFOUND);
}

static void test_folding(void **state)
{
	const char *msg = "OPTIONS sip:x SIP/2.0\r\n"
	                  "Call-ID:\r\n   folded-id@host\r\n"
	                  "From: \"Long\r\n\tName\" <sip:a@h>\r\n"
	                  " ;tag=ft\r\n"
	                  "To: <sip:b@h>\r\n"
	                  "CSeq: 1\r\n OPTIONS\r\n"
	                  "Via: SIP/2.0/UDP h;branch=z1,\r\n SIP/2.0/UDP g;branch=z2\r\n"
	                  "\r\n";
	struct sv_sip_msg m;
	assert_int_equal(parse_str(msg, &m), 0);
	assert_int_equal(m.method, SV_SIP_OPTIONS);
	assert_str(m.call_id, "folded-id@host");
	assert_str(m.from.uri, "sip:a@h");
	assert_str(m.from.tag, "ft");
	assert_str(m.from.display, "Long\r\n\tName");
	assert_int_equal(m.cseq, 1);
	assert_int_equal(m.cseq_method, SV_SIP_OPTIONS);
	assert_int_equal(m.via_count, 2);
	assert_int_equal(sv_sip_parse((const uint8_t *)lf_only(msg), strlen(lf_only(msg)), &m), 0);
	assert_str(m.call_id, "folded-id@host");
	assert_str(m.from.tag, "ft");
}

static void test_required_headers(void **state)
{
	struct sv_sip_msg m;
	/* No Call-ID: cannot be attributed. */
	assert_int_equal(parse_str("INVITE sip:a SIP/2.0\r\nCSeq: 1 INVITE\r\nFrom: <sip:a>\r\n"
	                           "To: <sip:b>\r\n\r\n",
	                           &m),
	                 SV_E_PARSE);
	assert_int_equal(parse_str("INVITE sip:a SIP/2.0\r\nCall-ID: x\r\nFrom: <sip:a>\r\n"
	                           "To: <sip:b>\r\n\r\n",
	                           &m),
	                 SV_E_PARSE);
	assert_int_equal(parse_str("INVITE sip:a SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
	                           "To: <sip:b>\r\n\r\n",
	                           &m),
	                 SV_E_PARSE);
	/* Bad CSeq. */
	assert_int_equal(parse_str("INVITE sip:a SIP/2.0\r\nCall-ID: x\r\nCSeq: abc INVITE\r\n"
	                           "From: <sip:a>\r\nTo: <sip:b>\r\n\r\n",
	                           &m),
	                 SV_E_PARSE);
	assert_int_equal(
	    parse_str("INVITE sip:a SIP/2.0\r\nCall-ID: x\r\nCSeq: 4294967296 INVITE\r\n"
	              "From: <sip:a>\r\nTo: <sip:b>\r\n\r\n",
	              &m),
	    SV_E_PARSE);
	assert_int_equal(parse_str("INVITE sip:a SIP/2.0\r\nCall-ID: x\r\nCSeq: 4294967295 FOO\r\n"
	                           "From: <sip:a>\r\nTo: <sip:b>\r\nbroken header line\r\n\r\n",
	                           &m),
	                 0);
	assert_int_equal(m.cseq, 4294967295u);
	assert_int_equal(m.cseq_method, SV_SIP_OTHER);
	assert_true(m.flags & SV_SIP_F_BAD_HEADER);
}

static void test_garbage_and_binary(void **state)
{
	struct sv_sip_msg m;
	static const char *bad[] = {
	    "",
	    "\r\n\r\n",
	    "HTTP/1.1 200 OK\r\n\r\n",
	    "SIP/2.0 99 Low\r\nCall-ID: x\r\n\r\n",
	    "SIP/2.0 2000 OK\r\n\r\n",
	    "INVITE sip:a SIP/2.0 extra\r\n\r\n",
	    "INVITE  SIP/2.0\r\n\r\n",
	    "INV(TE sip:a SIP/2.0\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse_str(bad[i], &m);
		if (rc != SV_E_PARSE && rc != SV_E_TRUNC)
			fail_msg("input %zu parsed (%d)", i, rc);
	}
	assert_int_equal(parse_str("\x16\x03\x01 garbage\r\n", &m), SV_E_PARSE);

	/* NULs and high bytes inside values are just bytes. */
	static const char bin[] =
	    "MESSAGE sip:a SIP/2.0\r\nCall-ID: a\0b\xff\r\nCSeq: 2 MESSAGE\r\n"
	    "From: <sip:a>;tag=\x01\r\nTo: <sip:b>\r\nContent-Length: 4\r\n\r\n\0\1\2\3";
	assert_int_equal(sv_sip_parse((const uint8_t *)bin, sizeof(bin) - 1, &m), 0);
	assert_int_equal(m.call_id.len, 4);
	assert_memory_equal(m.call_id.p, "a\0b\xff", 4);
	assert_int_equal(m.body.len, 4);
	assert_int_equal(m.method, SV_SIP_MESSAGE);

	/* A huge header line (no limit for datagrams, only the input length). */
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_buf_append_str(&b, "NOTIFY sip:a SIP/2.0\r\nX-Big: "), 0);
	for (int i = 0; i < 200000; i++)
		assert_int_equal(sv_buf_put_u8(&b, (uint8_t)('a' + i % 26)), 0);
	assert_int_equal(sv_buf_append_str(&b,
	                                   "\r\nCall-ID: big\r\nCSeq: 1 NOTIFY\r\nFrom: <sip:a>\r\n"
	                                   "To: <sip:b>\r\n\r\n"),
	                 0);
	assert_int_equal(sv_sip_parse(b.data, b.len, &m), 0);
	assert_str(m.call_id, "big");
	assert_int_equal(m.method, SV_SIP_NOTIFY);
	sv_buf_release(&b);
}

/* Every prefix of a message: cut in the headers is TRUNC (never a crash or a
 * bogus success), cut in the body parses with BODY_TRUNC. Exact-size heap
 * copies so ASan catches any read past the end. */
static void test_truncation(void **state)
{
	size_t n = strlen(invite);
	size_t hdr = n - 10;
	for (size_t cut = 0; cut <= n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		assert_non_null(copy);
		memcpy(copy, invite, cut);
		struct sv_sip_msg m;
		int rc = sv_sip_parse(copy, cut, &m);
		if (cut < hdr) {
			if (rc != SV_E_TRUNC)
				fail_msg("cut at %zu: rc %d", cut, rc);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(m.body.len, cut - hdr);
			assert_int_equal(!!(m.flags & SV_SIP_F_BODY_TRUNC), cut < n);
			assert_int_equal(m.content_length, 10);
		}
		free(copy);
	}
}

static void test_methods(void **state)
{
	static const char *names[] = {"INVITE",  "ACK",      "BYE",     "CANCEL", "PRACK",
	                              "UPDATE",  "INFO",     "REFER",   "NOTIFY", "SUBSCRIBE",
	                              "OPTIONS", "REGISTER", "MESSAGE", "PUBLISH"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		enum sv_sip_method m = sv_sip_method_parse(names[i], strlen(names[i]));
		assert_int_equal(m, SV_SIP_INVITE + (int)i);
		assert_string_equal(sv_sip_method_name(m), names[i]);
	}
	assert_int_equal(sv_sip_method_parse("invite", 6), SV_SIP_OTHER);
	assert_int_equal(sv_sip_method_parse("FOO", 3), SV_SIP_OTHER);
	assert_int_equal(sv_sip_method_parse("INVITEX", 6), SV_SIP_INVITE);
	assert_int_equal(sv_sip_method_parse("", 0), SV_SIP_NONE);
	assert_string_equal(sv_sip_method_name(SV_SIP_OTHER), "OTHER");
	assert_string_equal(sv_sip_method_name((enum sv_sip_method)99), "OTHER");
	assert_true(sv_sip_is_dialog_creating(SV_SIP_INVITE));
	assert_true(sv_sip_is_dialog_creating(SV_SIP_SUBSCRIBE));
	assert_true(sv_sip_is_dialog_creating(SV_SIP_REFER));
	assert_false(sv_sip_is_dialog_creating(SV_SIP_BYE));
	assert_false(sv_sip_is_dialog_creating(SV_SIP_REGISTER));
}

static void test_multipart_sdp(void **state)
{
	const char *msg = "INVITE sip:a SIP/2.0\r\n"
	                  "Call-ID: mp\r\nCSeq: 1 INVITE\r\nFrom: <sip:a>;tag=1\r\nTo: <sip:b>\r\n"
	                  "Content-Type: multipart/mixed; boundary=\"unique-boundary-1\"\r\n"
	                  "\r\n"
	                  "--unique-boundary-1\r\n"
	                  "Content-Type: application/isup; version=itu-t92+\r\n"
	                  "\r\n"
	                  "\x01\x02--unique\r\n"
	                  "--unique-boundary-1\r\n"
	                  "content-type: Application/SDP\r\n"
	                  "\r\n"
	                  "v=0\r\nm=audio 1 RTP/AVP 0\r\n"
	                  "\r\n--unique-boundary-1--\r\n";
	struct sv_sip_msg m;
	struct sv_str sdp;
	assert_int_equal(parse_str(msg, &m), 0);
	assert_int_equal(sv_sip_sdp_body(&m, &sdp), 0);
	assert_str(sdp, "v=0\r\nm=audio 1 RTP/AVP 0\r\n");
	/* Without an SDP part. */
	const char *nosdp =
	    "INVITE sip:a SIP/2.0\r\n"
	    "Call-ID: mp\r\nCSeq: 1 INVITE\r\nFrom: <sip:a>;tag=1\r\nTo: <sip:b>\r\n"
	    "Content-Type: multipart/mixed;boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n";
	assert_int_equal(parse_str(nosdp, &m), 0);
	assert_int_equal(sv_sip_sdp_body(&m, &sdp), SV_E_NOTFOUND);
}

/* ------------------------------------------------------------ framing */

static void build_stream(struct sv_buf *s, size_t *count)
{
	static const char *msgs[] = {
	    invite,
	    "SIP/2.0 100 Trying\r\nVia: SIP/2.0/TCP h;branch=z9\r\nCall-ID: c2\r\nCSeq: 1 "
	    "INVITE\r\n"
	    "From: <sip:a>;tag=1\r\nTo: <sip:b>\r\nContent-Length: 0\r\n\r\n",
	    "SIP/2.0 200 OK\nCall-ID: c3\nCSeq: 1 INVITE\nFrom: <sip:a>;tag=1\nTo: <sip:b>;tag=2\n"
	    "l: 5\n\nhello",
	    "ACK sip:b SIP/2.0\r\nCall-ID: c4\r\nCSeq: 1 ACK\r\nFrom: <sip:a>;tag=1\r\nTo: "
	    "<sip:b>\r\n\r\n",
	};
	sv_buf_init(s);
	assert_int_equal(sv_buf_append_str(s, "\r\n\r\n"), 0);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		assert_int_equal(sv_buf_append_str(s, msgs[i]), 0);
		if (i == 1)
			assert_int_equal(sv_buf_append_str(s, "\r\n\r\n"), 0); /* keep-alive */
	}
	*count = sizeof(msgs) / sizeof(msgs[0]);
}

/* Feeds stream bytes in chunks through a reassembly buffer; returns the
 * number of messages framed, checking each parses. */
static size_t feed(const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts)
{
	struct sv_buf acc;
	sv_buf_init(&acc);
	size_t pos = 0, msgs = 0;
	for (size_t c = 0; c <= ncuts; c++) {
		size_t upto = c < ncuts ? cuts[c] : len;
		assert_int_equal(sv_buf_append(&acc, data + pos, upto - pos), 0);
		pos = upto;
		for (;;) {
			size_t mlen, skip;
			int rc = sv_sip_frame(acc.data, acc.len, &mlen, &skip);
			if (rc == SV_E_AGAIN) {
				sv_buf_consume(&acc, skip);
				break;
			}
			assert_int_equal(rc, 0);
			struct sv_sip_msg m;
			assert_int_equal(sv_sip_parse(acc.data + skip, mlen, &m), 0);
			assert_int_equal(m.msg_len, mlen);
			assert_int_equal(m.flags & (SV_SIP_F_BODY_TRUNC | SV_SIP_F_TRAILING), 0);
			sv_buf_consume(&acc, skip + mlen);
			msgs++;
		}
	}
	assert_int_equal(acc.len, 0);
	sv_buf_release(&acc);
	return msgs;
}

static void test_frame_splits(void **state)
{
	struct sv_buf s;
	size_t count;
	build_stream(&s, &count);
	/* Coalesced: everything at once. */
	assert_int_equal(feed(s.data, s.len, NULL, 0), count);
	/* Every single split point. */
	for (size_t cut = 1; cut < s.len; cut++)
		assert_int_equal(feed(s.data, s.len, &cut, 1), count);
	/* Byte by byte. */
	size_t *cuts = malloc(s.len * sizeof(*cuts));
	assert_non_null(cuts);
	for (size_t i = 0; i + 1 < s.len; i++)
		cuts[i] = i + 1;
	assert_int_equal(feed(s.data, s.len, cuts, s.len - 1), count);
	/* Pseudo-random chunkings. */
	unsigned seed = 12345;
	for (int round = 0; round < 200; round++) {
		size_t n = 0, at = 0;
		for (;;) {
			seed = seed * 1103515245u + 12345u;
			at += 1 + (seed >> 16) % 97;
			if (at >= s.len)
				break;
			cuts[n++] = at;
		}
		assert_int_equal(feed(s.data, s.len, cuts, n), count);
	}
	free(cuts);
	sv_buf_release(&s);
}

static void test_frame_keepalive_and_errors(void **state)
{
	size_t mlen, skip;
	assert_int_equal(sv_sip_frame((const uint8_t *)"", 0, &mlen, &skip), SV_E_AGAIN);
	assert_int_equal(skip, 0);
	assert_int_equal(sv_sip_frame((const uint8_t *)"\r\n\r\n", 4, &mlen, &skip), SV_E_AGAIN);
	assert_int_equal(skip, 4);
	assert_int_equal(sv_sip_frame((const uint8_t *)"\r\n\r\nSIP/2", 10, &mlen, &skip),
	                 SV_E_AGAIN);
	assert_int_equal(skip, 4);
	assert_int_equal(sv_sip_frame((const uint8_t *)"INVI", 4, &mlen, &skip), SV_E_AGAIN);
	assert_int_equal(sv_sip_frame((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &mlen, &skip),
	                 SV_E_PARSE);
	assert_int_equal(sv_sip_frame((const uint8_t *)"\x16\x03\x01", 3, &mlen, &skip),
	                 SV_E_PARSE);
	assert_int_equal(sv_sip_frame((const uint8_t *)"{\"a\":1}", 7, &mlen, &skip), SV_E_PARSE);
	/* Malformed Content-Length. */
	const char *badcl = "BYE sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n";
	assert_int_equal(sv_sip_frame((const uint8_t *)badcl, strlen(badcl), &mlen, &skip),
	                 SV_E_PARSE);
	/* Body too big. */
	const char *bigcl = "BYE sip:a SIP/2.0\r\nContent-Length: 1048577\r\n\r\n";
	assert_int_equal(sv_sip_frame((const uint8_t *)bigcl, strlen(bigcl), &mlen, &skip),
	                 SV_E_TOOBIG);
	const char *hugecl = "BYE sip:a SIP/2.0\r\nl: 99999999999999999999999\r\n\r\n";
	assert_int_equal(sv_sip_frame((const uint8_t *)hugecl, strlen(hugecl), &mlen, &skip),
	                 SV_E_TOOBIG);
	/* Header block too big (never ends). */
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_buf_append_str(&b, "MESSAGE sip:a SIP/2.0\r\n"), 0);
	while (b.len <= SV_SIP_MAX_HEADERS)
		assert_int_equal(sv_buf_append_str(&b, "X-Filler: 0123456789abcdef\r\n"), 0);
	assert_int_equal(sv_sip_frame(b.data, b.len, &mlen, &skip), SV_E_TOOBIG);
	/* A start line that never ends. */
	sv_buf_reset(&b);
	assert_int_equal(sv_buf_append_str(&b, "INVITE sip:"), 0);
	while (b.len <= SV_SIP_MAX_HEADERS)
		assert_int_equal(sv_buf_append_str(&b, "aaaaaaaaaaaaaaaa"), 0);
	assert_int_equal(sv_sip_frame(b.data, b.len, &mlen, &skip), SV_E_TOOBIG);
	sv_buf_release(&b);
	/* Content-Length absent on a stream means no body. */
	const char *nocl =
	    "ACK sip:a SIP/2.0\nCall-ID: x\nCSeq: 1 ACK\nFrom: <sip:a>\nTo: <sip:b>\n\nBYE";
	assert_int_equal(sv_sip_frame((const uint8_t *)nocl, strlen(nocl), &mlen, &skip), 0);
	assert_int_equal(mlen, strlen(nocl) - 3);
}

static void test_resync(void **state)
{
	struct sv_buf s;
	size_t count;
	build_stream(&s, &count);
	struct sv_buf g;
	sv_buf_init(&g);
	assert_int_equal(sv_buf_append_str(&g, "garbage\x01\x02 here\r\nmore junk SIP/2.0 x\r\n"
	                                       "HTTP/1.1 200 OK\r\n"),
	                 0);
	size_t glen = g.len;
	assert_int_equal(sv_buf_append(&g, s.data, s.len), 0);
	size_t mlen, skip, msgs = 0, off = 0;
	int resyncs = 0;
	while (off < g.len) {
		int rc = sv_sip_frame(g.data + off, g.len - off, &mlen, &skip);
		if (rc == SV_E_PARSE) {
			size_t d = sv_sip_resync(g.data + off, g.len - off);
			assert_true(d > 0);
			off += d;
			resyncs++;
			continue;
		}
		assert_int_equal(rc, 0);
		off += skip + mlen;
		msgs++;
	}
	assert_int_equal(msgs, count);
	assert_true(resyncs >= 1);
	/* The keep-alive CRLFs right after the garbage are where it lands. */
	assert_int_equal(sv_sip_resync(g.data, g.len), glen + 4);
	/* Incomplete last line that may become a start line is kept. */
	assert_int_equal(sv_sip_resync((const uint8_t *)"junk\r\nSIP/2.0 2", 15), 6);
	assert_int_equal(sv_sip_resync((const uint8_t *)"junk\r\n\x01\x02", 8), 8);
	assert_int_equal(sv_sip_resync((const uint8_t *)"junk", 4), 4);
	assert_int_equal(sv_sip_resync((const uint8_t *)"", 0), 0);
	sv_buf_release(&g);
	sv_buf_release(&s);
}

/* ------------------------------------------------------------ tshark oracle */

struct oracle_stats {
	size_t files, frames, msgs, sdp_msgs, tcp_streams_framed;
};

/* One tab-separated row of the fields run, split in place. */
#define NFIELDS 24
static int split_row(char *line, char **f)
{
	int n = 0;
	f[n++] = line;
	for (char *p = line; *p != '\0'; p++) {
		if (*p == '\t') {
			*p = '\0';
			if (n == NFIELDS)
				return -1;
			f[n++] = p + 1;
		}
	}
	return n;
}

/* Splits an aggregated field (separator 0x1f) into up to max items. */
static int split_agg(char *s, char **items, int max)
{
	int n = 0;
	if (*s == '\0')
		return 0;
	items[n++] = s;
	for (char *p = s; *p != '\0'; p++) {
		if (*p == '\x1f') {
			*p = '\0';
			if (n == max)
				break;
			items[n++] = p + 1;
		}
	}
	return n;
}

static void join_str(struct sv_buf *b, struct sv_str s)
{
	if (b->len > 0)
		assert_int_equal(sv_buf_put_u8(b, 0x1f), 0);
	assert_int_equal(sv_buf_append(b, s.p ? s.p : "", s.len), 0);
}

static void join_num(struct sv_buf *b, long long v)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%lld", v);
	join_str(b, (struct sv_str){tmp, strlen(tmp)});
}

static void expect_field(const char *file, const char *frame, const char *what, struct sv_buf *mine,
                         const char *theirs)
{
	assert_int_equal(sv_buf_put_u8(mine, 0), 0);
	if (strcmp((const char *)mine->data, theirs) != 0)
		fail_msg("%s frame %s: %s: sv_sip gives \"%s\", tshark \"%s\"", file, frame, what,
		         (const char *)mine->data, theirs);
	sv_buf_reset(mine);
}

/* Raw SIP messages of the frames not carried over UDP, from tshark's JSON
 * (sip_raw is the bytes of each SIP PDU after TCP/SCTP reassembly, WebSocket
 * unmasking, IP-in-IP...). UDP datagrams come from udp.payload instead, which
 * keeps the JSON small for the big UDP captures. */
static json_t *load_raw(const char *file)
{
	char cmd[9000];
	snprintf(cmd, sizeof(cmd),
	         "tshark -r '%s' -Y 'sip && !udp' -T json -x -j 'frame sip' --no-duplicate-keys "
	         "2>/dev/null",
	         file);
	struct sv_buf out;
	sv_buf_init(&out);
	int st = tu_run(cmd, &out);
	if (st != 0)
		fail_msg("tshark failed (%d) on %s", st, file);
	json_error_t err;
	json_t *root = json_loadb((const char *)out.data, out.len, 0, &err);
	sv_buf_release(&out);
	if (root == NULL || !json_is_array(root))
		fail_msg("tshark JSON for %s: %s", file, err.text);
	return root;
}

/* Appends the raw messages of one packet to msgs (as sv_buf each). */
static int packet_raw(json_t *pkt, const char **frame_no, struct sv_buf *msgs, int max)
{
	json_t *layers = json_object_get(json_object_get(pkt, "_source"), "layers");
	json_t *frame = json_object_get(layers, "frame");
	*frame_no = json_string_value(json_object_get(frame, "frame.number"));
	json_t *raw = json_object_get(layers, "sip_raw");
	if (*frame_no == NULL || raw == NULL || !json_is_array(raw))
		fail_msg("tshark JSON: packet without frame.number or sip_raw");
	int n = 0;
	if (json_is_string(json_array_get(raw, 0))) {
		assert_int_equal(tu_unhex(json_string_value(json_array_get(raw, 0)), &msgs[n++]),
		                 0);
		return n;
	}
	size_t i;
	json_t *r;
	json_array_foreach(raw, i, r)
	{
		if (n == max)
			fail_msg("frame %s: too many SIP messages", *frame_no);
		assert_int_equal(tu_unhex(json_string_value(json_array_get(r, 0)), &msgs[n++]), 0);
	}
	return n;
}

/* Compares our SDP view of one message with tshark's sdp fields. */
static void check_sdp(const char *file, const char *fno, const struct sv_sip_msg *ms, int n,
                      char **f, struct oracle_stats *st)
{
	struct sv_buf mine;
	sv_buf_init(&mine);
	struct sv_buf media, conn, rtpmap, rtcp;
	sv_buf_init(&media);
	sv_buf_init(&conn);
	sv_buf_init(&rtpmap);
	sv_buf_init(&rtcp);
	int nmux = 0, with_sdp = 0;
	for (int i = 0; i < n; i++) {
		struct sv_str body;
		if (sv_sip_sdp_body(&ms[i], &body) != 0)
			continue;
		struct sv_sdp s;
		int rc = sv_sdp_parse((const uint8_t *)body.p, body.len, &s);
		if (rc != 0)
			fail_msg("%s frame %s: sv_sdp_parse: %s", file, fno, sv_strerror(rc));
		with_sdp++;
		if (s.has_conn)
			join_str(&conn, s.conn.text);
		for (unsigned k = 0; k < s.n_media; k++) {
			const struct sv_sdp_media *m = &s.media[k];
			char line[512], pc[16] = "";
			if (m->port_count > 1)
				snprintf(pc, sizeof(pc), "/%u", m->port_count);
			int l =
			    snprintf(line, sizeof(line), "%.*s %u%s %.*s %.*s", (int)m->type.len,
			             m->type.p, m->port, pc, (int)m->proto.len, m->proto.p,
			             (int)m->fmts.len, m->fmts.p ? m->fmts.p : "");
			join_str(&media, (struct sv_str){line, (size_t)l});
			if (m->has_conn)
				join_str(&conn, m->conn.text);
			for (unsigned r = 0; r < m->n_rtpmap; r++) {
				const struct sv_sdp_rtpmap *rm = &m->rtpmap[r];
				l = snprintf(line, sizeof(line), "%u %.*s/%u", rm->pt,
				             (int)rm->name.len, rm->name.p, rm->clock_rate);
				if (rm->channels)
					l += snprintf(line + l, sizeof(line) - (size_t)l, "/%u",
					              rm->channels);
				join_str(&rtpmap, (struct sv_str){line, (size_t)l});
			}
			if (m->rtcp_port >= 0)
				join_num(&rtcp, m->rtcp_port);
			nmux += m->rtcp_mux;
			/* The derived endpoint is consistent with the fields. */
			struct sv_sdp_endpoint ep;
			if (sv_sdp_rtcp(&s, m, &ep) == 0) {
				assert_true(m->port != 0);
				assert_int_equal(ep.port, m->rtcp_mux        ? m->port
				                          : m->rtcp_port > 0 ? m->rtcp_port
				                                             : m->port + 1);
			}
		}
	}
	st->sdp_msgs += (size_t)with_sdp;
	/* tshark's media lines / connection addresses / rtpmaps, rebuilt. */
	expect_field(file, fno, "sdp.media", &media, f[13]);
	expect_field(file, fno, "sdp.connection_info.address", &conn, f[14]);
	/* sdp.media_attr: pick out rtpmap, rtcp and rtcp-mux (conn is reused for
	 * tshark's a=rtcp ports, mine for its rtpmaps). */
	char *attrs[256];
	int na = split_agg(f[15], attrs, 256);
	for (int a = 0; a < na; a++) {
		if (strncmp(attrs[a], "rtpmap:", 7) == 0) {
			join_str(&mine, (struct sv_str){attrs[a] + 7, strlen(attrs[a] + 7)});
		} else if (strncmp(attrs[a], "rtcp:", 5) == 0) {
			join_num(&conn, atoll(attrs[a] + 5));
		} else if (strcmp(attrs[a], "rtcp-mux") == 0) {
			nmux--;
		}
	}
	assert_int_equal(sv_buf_put_u8(&mine, 0), 0);
	expect_field(file, fno, "rtpmap attributes", &rtpmap, (const char *)mine.data);
	assert_int_equal(sv_buf_put_u8(&conn, 0), 0);
	expect_field(file, fno, "a=rtcp ports", &rtcp, (const char *)conn.data);
	if (nmux != 0)
		fail_msg("%s frame %s: a=rtcp-mux count differs by %d", file, fno, nmux);
	if (with_sdp == 0 && f[13][0] != '\0')
		fail_msg("%s frame %s: tshark sees SDP, sv_sip_sdp_body does not", file, fno);
	sv_buf_release(&mine);
	sv_buf_release(&media);
	sv_buf_release(&conn);
	sv_buf_release(&rtpmap);
	sv_buf_release(&rtcp);
}

#define MAX_PER_FRAME 16

static void oracle_file(const char *file, struct oracle_stats *st)
{
	char cmd[9000];
	/* Fields 0..16; every multi-valued field is joined with 0x1f. */
	snprintf(cmd, sizeof(cmd),
	         "tshark -r '%s' -Y sip -T fields -E separator=/t -E occurrence=a "
	         "-E aggregator=\"$(printf '\\037')\" -E quote=n "
	         "-e frame.number -e sip.Call-ID -e sip.Method -e sip.Status-Code "
	         "-e sip.CSeq.seq -e sip.CSeq.method -e sip.from.tag -e sip.to.tag "
	         "-e sip.Via.branch -e sip.Via.transport -e sip.from.addr -e sip.to.addr "
	         "-e sip.Content-Length -e sdp.media -e sdp.connection_info.address "
	         "-e sdp.media_attr -e udp.payload 2>/dev/null",
	         file);
	struct sv_buf rows;
	sv_buf_init(&rows);
	int rc = tu_run(cmd, &rows);
	if (rc != 0)
		fail_msg("tshark failed (%d) on %s", rc, file);
	assert_int_equal(sv_buf_put_u8(&rows, 0), 0);
	json_t *raw = NULL; /* loaded at the first frame not carried over UDP */

	struct sv_buf msgs[MAX_PER_FRAME];
	for (int i = 0; i < MAX_PER_FRAME; i++)
		sv_buf_init(&msgs[i]);
	struct sv_buf mine;
	sv_buf_init(&mine);
	size_t pkt = 0, udp = 0;
	char *save = NULL;
	for (char *line = strtok_r((char *)rows.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[NFIELDS];
		if (split_row(line, f) != 17)
			fail_msg("%s: unexpected tshark row", file);
		const char *fno = f[0];
		for (int i = 0; i < MAX_PER_FRAME; i++)
			sv_buf_reset(&msgs[i]);
		int n;
		if (f[16][0] != '\0') {
			/* One datagram, one message; the innermost UDP when tunnelled. */
			char *items[8];
			int ni = split_agg(f[16], items, 8);
			assert_int_equal(tu_unhex(items[ni - 1], &msgs[0]), 0);
			n = 1;
			udp++;
		} else {
			if (raw == NULL)
				raw = load_raw(file);
			if (pkt >= json_array_size(raw))
				fail_msg("%s: tshark runs disagree on the frame count", file);
			n = packet_raw(json_array_get(raw, pkt++), &fno, msgs, MAX_PER_FRAME);
			if (strcmp(fno, f[0]) != 0)
				fail_msg("%s: frame %s vs %s", file, fno, f[0]);
		}

		struct sv_sip_msg ms[MAX_PER_FRAME];
		struct sv_buf via_tr, via_br, meth, stat, cid, cseq, cmeth, ftag, ttag, faddr,
		    taddr, clen;
		struct sv_buf *all[] = {&via_tr, &via_br, &meth, &stat,  &cid,   &cseq,
		                        &cmeth,  &ftag,   &ttag, &faddr, &taddr, &clen};
		for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
			sv_buf_init(all[k]);
		for (int i = 0; i < n; i++) {
			rc = sv_sip_parse(msgs[i].data, msgs[i].len, &ms[i]);
			if (rc != 0)
				fail_msg("%s frame %s: sv_sip_parse: %s", file, fno,
				         sv_strerror(rc));
			const struct sv_sip_msg *m = &ms[i];
			/* A PDU with an exact Content-Length is exactly one framed message. */
			size_t mlen, skip;
			if (m->content_length >= 0 &&
			    !(m->flags & (SV_SIP_F_TRAILING | SV_SIP_F_BODY_TRUNC))) {
				rc = sv_sip_frame(msgs[i].data, msgs[i].len, &mlen, &skip);
				if (rc != 0 || skip != 0 || mlen != msgs[i].len)
					fail_msg("%s frame %s: sv_sip_frame %d, %zu of %zu bytes",
					         file, fno, rc, mlen, msgs[i].len);
			}
			st->msgs++;
			join_str(&cid, m->call_id);
			if (m->is_request)
				join_str(&meth, m->method_name);
			else
				join_num(&stat, m->status);
			join_num(&cseq, m->cseq);
			join_str(&cmeth, m->cseq_method_name);
			if (m->from.tag.len)
				join_str(&ftag, m->from.tag);
			if (m->to.tag.len)
				join_str(&ttag, m->to.tag);
			join_str(&faddr, m->from.uri);
			join_str(&taddr, m->to.uri);
			if (m->content_length >= 0)
				join_num(&clen, m->content_length);
			/* tshark lists every Via value; we count them and keep the first. */
			if (m->via.branch.len)
				join_str(&via_br, m->via.branch);
			join_str(&via_tr, m->via.transport);
		}
		expect_field(file, fno, "Call-ID", &cid, f[1]);
		expect_field(file, fno, "method", &meth, f[2]);
		expect_field(file, fno, "status", &stat, f[3]);
		expect_field(file, fno, "CSeq number", &cseq, f[4]);
		expect_field(file, fno, "CSeq method", &cmeth, f[5]);
		expect_field(file, fno, "From tag", &ftag, f[6]);
		expect_field(file, fno, "To tag", &ttag, f[7]);
		expect_field(file, fno, "From URI", &faddr, f[10]);
		expect_field(file, fno, "To URI", &taddr, f[11]);
		expect_field(file, fno, "Content-Length", &clen, f[12]);
		/* Via: the first branch and transport match; the count matches. */
		char *br[64], *tr[64];
		int nbr = split_agg(f[8], br, 64), ntr = split_agg(f[9], tr, 64);
		if (n == 1) {
			assert_int_equal(ntr, (int)ms[0].via_count);
			assert_true(ntr > 0);
			assert_int_equal(sv_buf_put_u8(&via_tr, 0), 0);
			if (strcmp((const char *)via_tr.data, tr[0]) != 0)
				fail_msg("%s frame %s: Via transport %s vs %s", file, fno,
				         (const char *)via_tr.data, tr[0]);
			assert_int_equal(sv_buf_put_u8(&via_br, 0), 0);
			if (nbr > 0 && strcmp((const char *)via_br.data, br[0]) != 0)
				fail_msg("%s frame %s: Via branch %s vs %s", file, fno,
				         (const char *)via_br.data, br[0]);
		}
		check_sdp(file, fno, ms, n, f, st);
		for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
			sv_buf_release(all[k]);
		st->frames++;
	}
	if (raw != NULL && pkt != json_array_size(raw))
		fail_msg("%s: tshark runs disagree on the frame count", file);
	if (pkt + udp == 0)
		fail_msg("%s: tshark finds no SIP at all", file);
	for (int i = 0; i < MAX_PER_FRAME; i++)
		sv_buf_release(&msgs[i]);
	sv_buf_release(&mine);
	sv_buf_release(&rows);
	json_decref(raw);
	st->files++;
}

/* Plain-TCP captures: rebuild each direction's byte stream from the
 * segments and split it with sv_sip_frame; the messages must be the ones
 * tshark reassembled, in order. */
static void oracle_tcp_stream(const char *file, struct oracle_stats *st)
{
	char cmd[9000];
	snprintf(cmd, sizeof(cmd),
	         "tshark -r '%s' -Y 'tcp.len>0 && !websocket && !http' -T fields -E separator=/t "
	         "-e tcp.stream -e tcp.srcport -e tcp.seq -e tcp.payload 2>/dev/null",
	         file);
	struct sv_buf rows;
	sv_buf_init(&rows);
	assert_int_equal(tu_run(cmd, &rows), 0);
	assert_int_equal(sv_buf_put_u8(&rows, 0), 0);
	/* Up to 8 (stream, port) directions. */
	struct dir {
		long stream, port;
		unsigned long next_seq;
		struct sv_buf data;
	} dirs[8];
	int nd = 0;
	char *save = NULL;
	for (char *line = strtok_r((char *)rows.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[NFIELDS];
		if (split_row(line, f) != 4)
			fail_msg("%s: bad tcp row", file);
		long stream = atol(f[0]), port = atol(f[1]);
		unsigned long seq = strtoul(f[2], NULL, 10);
		int d;
		for (d = 0; d < nd; d++)
			if (dirs[d].stream == stream && dirs[d].port == port)
				break;
		if (d == nd) {
			assert_true(nd < 8);
			dirs[nd].stream = stream;
			dirs[nd].port = port;
			dirs[nd].next_seq = seq;
			sv_buf_init(&dirs[nd].data);
			nd++;
		}
		if (seq != dirs[d].next_seq)
			continue; /* retransmission or gap: not in these captures */
		size_t before = dirs[d].data.len;
		assert_int_equal(tu_unhex(f[3], &dirs[d].data), 0);
		dirs[d].next_seq += dirs[d].data.len - before;
	}
	assert_true(nd > 0);
	size_t total = 0;
	for (int d = 0; d < nd; d++) {
		struct sv_buf *b = &dirs[d].data;
		size_t off = 0;
		while (off < b->len) {
			size_t mlen, skip;
			int rc = sv_sip_frame(b->data + off, b->len - off, &mlen, &skip);
			if (rc != 0)
				fail_msg("%s stream %ld port %ld at %zu: %s", file, dirs[d].stream,
				         dirs[d].port, off, sv_strerror(rc));
			struct sv_sip_msg m;
			assert_int_equal(sv_sip_parse(b->data + off + skip, mlen, &m), 0);
			assert_int_equal(m.msg_len, mlen);
			off += skip + mlen;
			total++;
		}
		sv_buf_release(b);
	}
	/* Same number of messages as tshark decodes over TCP. */
	snprintf(cmd, sizeof(cmd),
	         "tshark -r '%s' -Y 'sip && tcp' -T fields -e sip.CSeq.seq 2>/dev/null", file);
	sv_buf_reset(&rows);
	assert_int_equal(tu_run(cmd, &rows), 0);
	size_t lines = 0;
	for (size_t i = 0; i < rows.len; i++)
		lines += rows.data[i] == '\n';
	assert_int_equal(total, lines);
	st->tcp_streams_framed += (size_t)nd;
	sv_buf_release(&rows);
}

static void test_tshark_oracle(void **state)
{
	if (!tu_have_tshark())
		fail_msg("tshark is required for the oracle test");
	static const char *dirs[] = {"pcap/heplify", "pcap/sipnab", "pcap/sngrep"};
	struct oracle_stats st = {0};
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", tu_shared(dirs[d]));
		DIR *dp = opendir(dir);
		if (dp == NULL)
			fail_msg("cannot open %s", dir);
		struct dirent *e;
		size_t in_dir = 0;
		while ((e = readdir(dp)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			char path[4400];
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			oracle_file(path, &st);
			in_dir++;
		}
		closedir(dp);
		if (in_dir == 0)
			fail_msg("no captures in %s", dir);
	}
	oracle_tcp_stream(tu_shared("pcap/heplify/sip_ipv4_tcp.pcap"), &st);
	oracle_tcp_stream(tu_shared("pcap/sngrep/ipip.pcap"), &st);
	printf("tshark oracle: %zu files, %zu frames, %zu SIP messages, %zu with SDP, "
	       "%zu TCP directions framed\n",
	       st.files, st.frames, st.msgs, st.sdp_msgs, st.tcp_streams_framed);
	assert_true(st.files >= 17);
	assert_true(st.msgs >= 9000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_request),
	    cmocka_unit_test(test_parse_response_lf_only),
	    cmocka_unit_test(test_compact_and_case),
	    cmocka_unit_test(test_folding),
	    cmocka_unit_test(test_required_headers),
	    cmocka_unit_test(test_garbage_and_binary),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_methods),
	    cmocka_unit_test(test_multipart_sdp),
	    cmocka_unit_test(test_frame_splits),
	    cmocka_unit_test(test_frame_keepalive_and_errors),
	    cmocka_unit_test(test_resync),
	    cmocka_unit_test(test_tshark_oracle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
