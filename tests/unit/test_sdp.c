#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/errors.h"
#include "proto/sdp.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* SDP vs tshark on every capture is checked in test_sip.c's oracle test
 * (the SDP bodies come out of the SIP messages there). */

#define assert_str(slice, lit)                                                             \
	do {                                                                               \
		struct sv_str s_ = (slice);                                                \
		const char *l_ = (lit);                                                    \
		if (s_.len != strlen(l_) || (s_.len > 0 && memcmp(s_.p, l_, s_.len) != 0)) \
			fail_msg("%s: got \"%.*s\", want \"%s\"", #slice, (int)s_.len,     \
			         s_.p ? s_.p : "", l_);                                    \
	} while (0)

static int parse(const char *s, struct sv_sdp *out)
{
	return sv_sdp_parse((const uint8_t *)s, strlen(s), out);
}

static const char offer[] = "v=0\r\n"
                            "o=alice 2890844526 2890844526 IN IP4 198.51.100.7\r\n"
                            "s=call\r\n"
                            "c=IN IP4 198.51.100.1\r\n"
                            "t=0 0\r\n"
                            "a=sendonly\r\n"
                            "m=video 0 RTP/AVP 31\r\n"
                            "m=audio 49170 RTP/AVP 0 8 97 101\r\n"
                            "c=IN IP6 2001:db8::5\r\n"
                            "a=rtpmap:97 opus/48000/2\r\n"
                            "a=rtpmap:101 telephone-event/8000\r\n"
                            "a=rtcp:53020 IN IP4 192.0.2.9\r\n"
                            "a=ssrc:12345 cname:x\r\n"
                            "a=ssrc:12345 msid:y\r\n"
                            "a=ssrc:777 cname:z\r\n"
                            "a=recvonly\r\n"
                            "z=unknown line\r\n"
                            "m=audio 50000 RTP/AVP 8\r\n";

static void test_parse_offer(void **state)
{
	struct sv_sdp s;
	assert_int_equal(parse(offer, &s), 0);
	assert_true(s.has_origin);
	assert_str(s.origin.text, "198.51.100.7");
	assert_int_equal(s.origin.family, AF_INET);
	assert_str(s.session_name, "call");
	assert_true(s.has_conn);
	assert_str(s.conn.text, "198.51.100.1");
	assert_int_equal(s.conn.family, AF_INET);
	uint8_t v4[4];
	inet_pton(AF_INET, "198.51.100.1", v4);
	assert_memory_equal(s.conn.addr, v4, 4);
	assert_int_equal(s.dir, SV_SDP_SENDONLY);
	assert_int_equal(s.n_media, 3);
	assert_int_equal(s.bad_lines, 0);

	const struct sv_sdp_media *v = &s.media[0];
	assert_str(v->type, "video");
	assert_int_equal(v->port, 0);

	const struct sv_sdp_media *a = sv_sdp_audio(&s);
	assert_ptr_equal(a, &s.media[1]);
	assert_int_equal(a->port, 49170);
	assert_int_equal(a->port_count, 1);
	assert_str(a->proto, "RTP/AVP");
	assert_str(a->fmts, "0 8 97 101");
	assert_int_equal(a->n_pt, 4);
	assert_int_equal(a->pt[2], 97);
	assert_int_equal(a->n_rtpmap, 2);
	assert_int_equal(a->rtpmap[0].pt, 97);
	assert_str(a->rtpmap[0].name, "opus");
	assert_int_equal(a->rtpmap[0].clock_rate, 48000);
	assert_int_equal(a->rtpmap[0].channels, 2);
	assert_int_equal(a->rtpmap[1].channels, 0);
	assert_int_equal(a->n_ssrc, 2);
	assert_int_equal(a->ssrc[0], 12345);
	assert_int_equal(a->ssrc[1], 777);
	/* Media c= wins over session c=. */
	const struct sv_sdp_addr *ad = sv_sdp_media_addr(&s, a);
	assert_int_equal(ad->family, AF_INET6);
	assert_str(ad->text, "2001:db8::5");
	uint8_t v6[16];
	inet_pton(AF_INET6, "2001:db8::5", v6);
	assert_memory_equal(ad->addr, v6, 16);
	/* Media direction overrides the session's; otherwise the session's. */
	assert_int_equal(sv_sdp_media_dir(&s, a), SV_SDP_RECVONLY);
	assert_int_equal(sv_sdp_media_dir(&s, &s.media[2]), SV_SDP_SENDONLY);
	assert_string_equal(sv_sdp_dir_name(SV_SDP_RECVONLY), "recvonly");
	/* a=rtcp with its own address (RFC 3605). */
	struct sv_sdp_endpoint ep;
	assert_int_equal(sv_sdp_rtcp(&s, a, &ep), 0);
	assert_int_equal(ep.port, 53020);
	assert_str(ep.addr->text, "192.0.2.9");
	/* The third m= has no c=: the session address; RTCP on port + 1. */
	assert_ptr_equal(sv_sdp_media_addr(&s, &s.media[2]), &s.conn);
	assert_int_equal(sv_sdp_rtcp(&s, &s.media[2], &ep), 0);
	assert_int_equal(ep.port, 50001);
	assert_ptr_equal(ep.addr, &s.conn);
	/* Disabled media: no RTCP. */
	assert_int_equal(sv_sdp_rtcp(&s, v, &ep), SV_E_NOTFOUND);

	struct sv_str name;
	uint32_t clock;
	assert_int_equal(sv_sdp_codec(&s, &name, &clock), 0);
	assert_str(name, "PCMU");
	assert_int_equal(clock, 8000);
}

static void test_rtcp_variants(void **state)
{
	struct sv_sdp s;
	struct sv_sdp_endpoint ep;
	/* rtcp-mux wins over a=rtcp (WebRTC offers both). */
	assert_int_equal(parse("v=0\nc=IN IP4 10.0.0.1\nm=audio 9000 UDP/TLS/RTP/SAVPF 111\n"
	                       "a=rtcp:9 IN IP4 0.0.0.0\na=rtcp-mux\na=rtpmap:111 opus/48000/2\n",
	                       &s),
	                 0);
	assert_true(s.media[0].rtcp_mux);
	assert_int_equal(s.media[0].rtcp_port, 9);
	assert_int_equal(sv_sdp_rtcp(&s, &s.media[0], &ep), 0);
	assert_int_equal(ep.port, 9000);
	assert_str(ep.addr->text, "10.0.0.1");
	/* a=rtcp:0 means no RTCP. */
	assert_int_equal(parse("v=0\nc=IN IP4 10.0.0.1\nm=audio 9000 RTP/AVP 0\na=rtcp:0\n", &s),
	                 0);
	assert_int_equal(sv_sdp_rtcp(&s, &s.media[0], &ep), SV_E_NOTFOUND);
	/* a=rtcp port only: the media address. */
	assert_int_equal(parse("v=0\nc=IN IP4 10.0.0.1\nm=audio 9000 RTP/AVP 0\na=rtcp:9005\n", &s),
	                 0);
	assert_int_equal(sv_sdp_rtcp(&s, &s.media[0], &ep), 0);
	assert_int_equal(ep.port, 9005);
	assert_ptr_equal(ep.addr, &s.conn);
	/* RTP on 65535 cannot have RTCP on +1. */
	assert_int_equal(parse("v=0\nm=audio 65535 RTP/AVP 0\n", &s), 0);
	assert_int_equal(sv_sdp_rtcp(&s, &s.media[0], &ep), SV_E_NOTFOUND);
	assert_null(sv_sdp_media_addr(&s, &s.media[0]));
	/* Malformed a=rtcp is skipped and counted. */
	assert_int_equal(parse("v=0\nm=audio 4000 RTP/AVP 0\na=rtcp:x\n", &s), 0);
	assert_int_equal(s.bad_lines, 1);
	assert_int_equal(s.media[0].rtcp_port, -1);
	assert_int_equal(sv_sdp_rtcp(&s, &s.media[0], &ep), 0);
	assert_int_equal(ep.port, 4001);
}

static void test_static_codecs(void **state)
{
	static const struct {
		unsigned pt;
		const char *name;
		uint32_t clock;
	} want[] = {{0, "PCMU", 8000},  {3, "GSM", 8000},   {4, "G723", 8000},
	            {8, "PCMA", 8000},  {9, "G722", 8000},  {13, "CN", 8000},
	            {18, "G729", 8000}, {15, "G728", 8000}, {34, "H263", 90000}};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char body[128];
		snprintf(body, sizeof(body), "v=0\r\nm=audio 1000 RTP/AVP %u 101\r\n", want[i].pt);
		struct sv_sdp s;
		assert_int_equal(parse(body, &s), 0);
		struct sv_str name;
		uint32_t clock;
		assert_int_equal(sv_sdp_codec(&s, &name, &clock), 0);
		assert_str(name, want[i].name);
		assert_int_equal(clock, want[i].clock);
	}
	const char *n;
	uint32_t c;
	assert_int_equal(sv_sdp_static_codec(2, &n, &c), SV_E_NOTFOUND);
	assert_int_equal(sv_sdp_static_codec(96, &n, &c), SV_E_NOTFOUND);
	assert_int_equal(sv_sdp_static_codec(1000, &n, &c), SV_E_NOTFOUND);
	/* rtpmap overrides the table; a dynamic type without rtpmap is unknown. */
	struct sv_sdp s;
	struct sv_str name;
	uint32_t clock;
	assert_int_equal(parse("v=0\nm=audio 1 RTP/AVP 9\na=rtpmap:9 G722/8000\n", &s), 0);
	assert_int_equal(sv_sdp_codec(&s, &name, &clock), 0);
	assert_str(name, "G722");
	assert_int_equal(clock, 8000);
	assert_int_equal(parse("v=0\nm=audio 1 RTP/AVP 96\n", &s), 0);
	assert_int_equal(sv_sdp_codec(&s, &name, &clock), SV_E_NOTFOUND);
	/* No audio at all / audio disabled. */
	assert_int_equal(parse("v=0\nm=audio 0 RTP/AVP 0\nm=video 5000 RTP/AVP 31\n", &s), 0);
	assert_null(sv_sdp_audio(&s));
	assert_int_equal(sv_sdp_codec(&s, &name, &clock), SV_E_NOTFOUND);
	/* Non-RTP formats are not payload types. */
	assert_int_equal(parse("v=0\nm=image 6000 udptl t38\nm=application 9 UDP/DTLS/SCTP "
	                       "webrtc-datachannel\n",
	                       &s),
	                 0);
	assert_int_equal(s.media[0].n_pt, 0);
	assert_str(s.media[0].fmts, "t38");
	assert_int_equal(s.media[1].n_pt, 0);
}

static void test_caps(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_buf_append_str(&b, "v=0\r\nm=audio 2000/2 RTP/AVP"), 0);
	for (int pt = 0; pt < 40; pt++)
		assert_int_equal(sv_buf_printf(&b, " %d", 96 + pt % 32), 0);
	assert_int_equal(sv_buf_append_str(&b, "\r\n"), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(sv_buf_printf(&b, "a=rtpmap:%d X%d/8000\r\n", 96 + i, i), 0);
	for (int i = 0; i < 12; i++)
		assert_int_equal(sv_buf_printf(&b, "a=ssrc:%d cname:c\r\n", 1000 + i), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(
		    sv_buf_printf(&b, "m=video %d RTP/AVP 31\r\na=ssrc:1 x\r\n", 3000 + i), 0);
	struct sv_sdp s;
	assert_int_equal(sv_sdp_parse(b.data, b.len, &s), 0);
	assert_int_equal(s.n_media, SV_SDP_MAX_MEDIA);
	assert_int_equal(s.media_dropped, 11 - SV_SDP_MAX_MEDIA);
	const struct sv_sdp_media *m = &s.media[0];
	assert_int_equal(m->port, 2000);
	assert_int_equal(m->port_count, 2);
	assert_int_equal(m->n_pt, SV_SDP_MAX_PT);
	assert_int_equal(m->pt_dropped, 8);
	assert_int_equal(m->n_rtpmap, SV_SDP_MAX_RTPMAP);
	assert_int_equal(m->rtpmap_dropped, 4);
	assert_int_equal(m->n_ssrc, SV_SDP_MAX_SSRC);
	assert_int_equal(m->ssrc_dropped, 4);
	assert_int_equal(s.media[7].n_ssrc, 1);
	sv_buf_release(&b);
}

static void test_garbage(void **state)
{
	struct sv_sdp s;
	static const char *bad[] = {
	    "",
	    "\r\n\r\n",
	    "hello world",
	    "s=no version first\r\nv=0\r\n",
	    "v=0\r\nthis is not sdp\r\n",
	    "v=0\r\nm=audio\r\n",
	    "v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
	    "v=0\r\nm=audio x RTP/AVP 0\r\n",
	    "v=0\r\nm=audio 5/0 RTP/AVP 0\r\n",
	    "v=0\r\nX=upper\r\n",
	    "v=0\r\n\x01=\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &s) != SV_E_PARSE)
			fail_msg("input %zu accepted", i);
	/* Unparseable but recognised lines are skipped and counted. */
	assert_int_equal(parse("v=0\nc=IN\no=x\nc=IN IP4 not-an-ip.example\na=rtpmap:x\n"
	                       "m=audio 1 RTP/AVP 0\na=rtpmap:0 PCMU\na=ssrc:abc\n",
	                       &s),
	                 0);
	assert_int_equal(s.bad_lines, 4); /* session-level rtpmap is ignored, not counted */
	assert_true(s.has_conn);
	assert_str(s.conn.text, "not-an-ip.example");
	assert_int_equal(s.conn.family, 0);
	/* Multicast address with TTL. */
	assert_int_equal(parse("v=0\nc=IN IP4 233.252.0.1/127\n", &s), 0);
	assert_str(s.conn.text, "233.252.0.1");
	assert_int_equal(s.conn.family, AF_INET);
}

/* Every prefix and every single-byte corruption of a real-looking body:
 * never a crash, never a read past the end (exact-size copies for ASan). */
static void test_prefixes_and_flips(void **state)
{
	size_t n = strlen(offer);
	for (size_t cut = 0; cut <= n; cut++) {
		uint8_t *c = malloc(cut ? cut : 1);
		assert_non_null(c);
		memcpy(c, offer, cut);
		struct sv_sdp s;
		int rc = sv_sdp_parse(c, cut, &s);
		/* A cut inside an m= line may make it malformed; else it parses. */
		assert_true(rc == 0 || rc == SV_E_PARSE);
		if (cut == n || (cut >= 3 && offer[cut - 1] == '\n'))
			assert_int_equal(rc, 0);
		free(c);
	}
	uint8_t *c = malloc(n);
	assert_non_null(c);
	static const uint8_t bytes[] = {0, ' ', '\n', '\r', '/', ':', '=', '9', 0xff};
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < sizeof(bytes); k++) {
			memcpy(c, offer, n);
			c[i] = bytes[k];
			struct sv_sdp s;
			int rc = sv_sdp_parse(c, n, &s);
			assert_true(rc == 0 || rc == SV_E_PARSE);
		}
	}
	free(c);
}

static void test_lf_only_and_whitespace(void **state)
{
	struct sv_sdp s;
	assert_int_equal(
	    parse("v=0\n\no=- 1 1 IN IP6 ::1\nc=IN IP6 ::1 \nm=audio 1234 RTP/AVP 0  \n"
	          "a=inactive\n",
	          &s),
	    0);
	assert_int_equal(s.origin.family, AF_INET6);
	assert_str(s.conn.text, "::1");
	assert_int_equal(s.media[0].port, 1234);
	assert_str(s.media[0].fmts, "0");
	assert_int_equal(sv_sdp_media_dir(&s, &s.media[0]), SV_SDP_INACTIVE);
	assert_int_equal(parse("v=0\n", &s), 0);
	assert_int_equal(sv_sdp_media_dir(&s, NULL), SV_SDP_SENDRECV);
	assert_int_equal(s.n_media, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_offer),
	    cmocka_unit_test(test_rtcp_variants),
	    cmocka_unit_test(test_static_codecs),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_prefixes_and_flips),
	    cmocka_unit_test(test_lf_only_and_whitespace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
