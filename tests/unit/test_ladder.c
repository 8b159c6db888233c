#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/errors.h"
#include "call/ladder.h"
#include "proto/pcapfile.h"
#include "testutil.h"

#include <string.h>
#include <sys/socket.h>

#define INVITE                                                                                   \
	"INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n" \
	"From: <sip:alice@a.example>;tag=1\r\nTo: <sip:bob@b.example>\r\nCall-ID: c1@x\r\n"      \
	"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
#define TRYING                                                                              \
	"SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"          \
	"From: <sip:alice@a.example>;tag=1\r\nTo: <sip:bob@b.example>\r\nCall-ID: c1@x\r\n" \
	"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
#define BYE_TLS                                                                                   \
	"BYE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bK2\r\n"     \
	"From: <sip:alice@a.example>;tag=1\r\nTo: <sip:bob@b.example>;tag=2\r\nCall-ID: c1@x\r\n" \
	"CSeq: 2 BYE\r\nContent-Length: 5\r\n\r\nhello"

static void add(struct sv_pcapw *w, uint64_t ts, int fwd, enum sv_pcap_transport t, const char *m)
{
	struct sv_pcap_rec r;
	memset(&r, 0, sizeof(r));
	r.ts_ns = ts;
	r.family = AF_INET;
	memcpy(fwd ? r.src : r.dst, "\x0a\x00\x00\x01", 4);
	memcpy(fwd ? r.dst : r.src, "\x0a\x00\x00\x02", 4);
	r.sport = fwd ? 5060 : 5070;
	r.dport = fwd ? 5070 : 5060;
	r.transport = t;
	r.payload = (const uint8_t *)m;
	r.len = strlen(m);
	assert_int_equal(sv_pcapw_add(w, &r), 0);
}

static void test_read(void **state)
{
	struct sv_pcapw w;
	struct sv_buf pcap, json, text;
	struct sv_ladder l;
	(void)state;
	sv_pcapw_init(&w);
	w.segment = 40; /* the TLS message spans several TCP segments */
	add(&w, 1000000000000000001ull, 1, SV_PCAP_UDP, INVITE);
	add(&w, 1000000000500000001ull, 1, SV_PCAP_UDP, INVITE);
	add(&w, 1000000000600000000ull, 0, SV_PCAP_UDP, TRYING);
	add(&w, 1000000000700000000ull, 0, SV_PCAP_UDP, TRYING);
	add(&w, 1000000002000000000ull, 1, SV_PCAP_TLS, BYE_TLS);
	sv_buf_init(&pcap);
	assert_int_equal(sv_pcapw_finish(&w, &pcap), 0);
	sv_ladder_init(&l);
	assert_int_equal(sv_ladder_read_pcap(&l, pcap.data, pcap.len), 0);
	assert_int_equal(l.n, 5);
	assert_int_equal(l.v[0].ts_ns, 1000000000000000001ull);
	assert_true(l.v[0].parsed);
	assert_false(l.v[0].retransmission);
	assert_true(l.v[1].retransmission);
	assert_false(l.v[2].retransmission);
	assert_true(l.v[3].retransmission);
	assert_string_equal(l.v[4].transport, "TLS");
	assert_int_equal(l.v[4].len, strlen(BYE_TLS));
	assert_false(l.v[4].retransmission);
	assert_int_equal(l.v[4].sip.cseq, 2);
	sv_buf_init(&json);
	assert_int_equal(sv_ladder_json(&l, &json), 0);
	assert_int_equal(sv_buf_append(&json, "", 1), 0);
	assert_non_null(
	    strstr((char *)json.data, "\"src\":\"10.0.0.1:5060\",\"dst\":\"10.0.0.2:5070\""));
	assert_non_null(strstr((char *)json.data, "\"time\":\"2001-09-09T01:46:40.000000001Z\""));
	assert_non_null(strstr((char *)json.data, "\"status\":100,\"reason\":\"Trying\""));
	sv_buf_init(&text);
	assert_int_equal(sv_ladder_text(&l, &text), 0);
	assert_int_equal(sv_buf_append(&text, "", 1), 0);
	assert_non_null(strstr((char *)text.data,
	                       "+0.500s 10.0.0.1:5060 -> 10.0.0.2:5070 UDP INVITE "
	                       "(CSeq 1 INVITE) retransmission\n"));
	/* truncated capture: what came before stays */
	sv_ladder_release(&l);
	sv_ladder_init(&l);
	assert_int_equal(sv_ladder_read_pcap(&l, pcap.data, pcap.len - 3), SV_E_PARSE);
	assert_int_equal(l.n, 4);
	assert_int_equal(sv_ladder_read_pcap(&l, (const uint8_t *)"nope", 4), SV_E_PARSE);
	sv_ladder_release(&l);
	sv_buf_release(&pcap);
	sv_buf_release(&json);
	sv_buf_release(&text);
	sv_pcapw_release(&w);
}

static void test_json_string(void **state)
{
	struct sv_buf b;
	(void)state;
	sv_buf_init(&b);
	assert_int_equal(sv_ladder_json_string(&b, "a\"\\\n\x01\xff\xc3\xa9", 8), 0);
	assert_int_equal(sv_buf_append(&b, "", 1), 0);
	assert_string_equal((char *)b.data, "\"a\\\"\\\\\\n\\u0001\xef\xbf\xbd\xc3\xa9\"");
	sv_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read),
	    cmocka_unit_test(test_json_string),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
