#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/dedup.h"
#include "base/errors.h"
#include "proto/packet.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS  1000000ull
#define SEC 1000000000ull

static const char SIP[] = "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n";

/* An Ethernet frame (optionally 802.1Q tagged) with IPv4 (or IPv6) + UDP. */
static void frame(struct sv_buf *b, int vlan, int v6, uint16_t ipid, uint8_t ttl,
                  const char *payload)
{
	size_t n = strlen(payload);
	uint8_t eth[18] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
	size_t el = 12;
	if (vlan) {
		eth[el++] = 0x81;
		eth[el++] = 0x00;
		eth[el++] = 0x00;
		eth[el++] = 0x64;
	}
	eth[el++] = v6 ? 0x86 : 0x08;
	eth[el++] = v6 ? 0xdd : 0x00;
	sv_buf_reset(b);
	sv_buf_append(b, eth, el);
	if (!v6) {
		uint8_t ip[20] = {0x45, 0, 0,  0, 0, 0, 0x40, 0, ttl, 17,
		                  0,    0, 10, 0, 0, 1, 10,   0, 0,   2};
		sv_put_be16(ip + 2, (uint16_t)(28 + n));
		sv_put_be16(ip + 4, ipid);
		ip[10] = ttl; /* a different checksum per TTL, as forwarding gives */
		sv_buf_append(b, ip, 20);
	} else {
		uint8_t ip[40] = {0x60};
		sv_put_be16(ip + 4, (uint16_t)(8 + n));
		ip[6] = 17;
		ip[7] = ttl;
		ip[8] = 0x20;
		ip[9] = 0x01;
		ip[23] = 1;
		ip[24] = 0x20;
		ip[25] = 0x01;
		ip[39] = 2;
		sv_buf_append(b, ip, 40);
	}
	uint8_t udp[8];
	sv_put_be16(udp, 5060);
	sv_put_be16(udp + 2, 5060);
	sv_put_be16(udp + 4, (uint16_t)(8 + n));
	sv_put_be16(udp + 6, ttl); /* checksum differs too: left out */
	sv_buf_append(b, udp, 8);
	sv_buf_append(b, payload, n);
}

static int check(struct sv_dedup *d, int vlan, int v6, uint16_t ipid, uint8_t ttl,
                 const char *payload, uint64_t now)
{
	struct sv_buf b;
	sv_buf_init(&b);
	frame(&b, vlan, v6, ipid, ttl, payload);
	struct sv_packet p;
	assert_int_equal(sv_packet_decode(SV_PACKET_LINK_ETHERNET, b.data, b.len, &p), 0);
	int rc = sv_dedup_check(d, &p, now);
	sv_buf_release(&b);
	return rc;
}

static void test_twice_within_window(void **state)
{
	(void)state;
	struct sv_dedup *d = sv_dedup_new(NULL);
	assert_non_null(d);
	for (int v6 = 0; v6 <= 1; v6++) {
		uint64_t t = (uint64_t)(v6 + 1) * 100 * SEC;
		/* lo on "any": the same packet out and in */
		assert_int_equal(check(d, 0, v6, 7, 64, SIP, t), 0);
		assert_int_equal(check(d, 0, v6, 7, 64, SIP, t + 5000), 1);
		/* a third sighting (VLAN device and its parent), other TTL */
		assert_int_equal(check(d, 1, v6, 7, 63, SIP, t + 10000), 1);
		/* other payload: kept */
		assert_int_equal(check(d, 0, v6, 7, 64, "INVITE", t + 20000), 0);
		/* after the window: a retransmission, kept */
		assert_int_equal(check(d, 0, v6, 7, 64, SIP, t + 50 * MS + 1), 0);
		/* a retransmission inside the window with a new IPv4 id: kept
		 * (IPv6 has no id: a duplicate) */
		assert_int_equal(check(d, 0, v6, 8, 64, SIP, t + 50 * MS + 2), v6 ? 1 : 0);
	}
	struct sv_dedup_stats st;
	sv_dedup_stats(d, &st);
	assert_int_equal(st.packets, 12);
	assert_int_equal(st.duplicates, 5);
	assert_int_equal(st.evicted, 0);
	assert_int_equal(sv_dedup_check(d, NULL, 0), -EINVAL);
	sv_dedup_free(d);
	sv_dedup_free(NULL);
}

static void test_window_and_bounds(void **state)
{
	(void)state;
	struct sv_dedup_config cfg;
	sv_dedup_config_default(&cfg);
	assert_int_equal(cfg.window_ns, 50 * MS);
	cfg.window_ns = 10 * MS;
	cfg.max_entries = 16;
	struct sv_dedup *d = sv_dedup_new(&cfg);
	/* 20 different packets at once: the 4 oldest are forgotten early */
	for (uint16_t id = 0; id < 20; id++)
		assert_int_equal(check(d, 0, 0, id, 64, SIP, SEC), 0);
	struct sv_dedup_stats st;
	sv_dedup_stats(d, &st);
	assert_int_equal(st.evicted, 4);
	assert_int_equal(st.held, 16);
	assert_int_equal(check(d, 0, 0, 0, 64, SIP, SEC), 0); /* forgotten */
	assert_int_equal(check(d, 0, 0, 19, 64, SIP, SEC), 1);
	/* exactly at the window edge: still a duplicate; 1 ns later: not */
	assert_int_equal(check(d, 0, 0, 500, 64, SIP, 2 * SEC), 0);
	assert_int_equal(check(d, 0, 0, 500, 64, SIP, 2 * SEC + 10 * MS), 1);
	assert_int_equal(check(d, 0, 0, 500, 64, SIP, 2 * SEC + 10 * MS + 1), 0);
	/* a clock that steps back a little still matches */
	assert_int_equal(check(d, 0, 0, 600, 64, SIP, 3 * SEC), 0);
	assert_int_equal(check(d, 0, 0, 600, 64, SIP, 3 * SEC - 1000), 1);
	sv_dedup_stats(d, &st);
	assert_true(st.held <= 16);
	sv_dedup_free(d);
}

/* The fingerprint: same for the same packet however it was framed, different
 * when any field that matters differs. */
static void test_fingerprint(void **state)
{
	(void)state;
	struct sv_packet p;
	memset(&p, 0, sizeof(p));
	p.family = 2;
	p.proto = SV_PACKET_PROTO_TCP;
	p.payload = (const uint8_t *)SIP;
	p.payload_len = p.l4_len = sizeof(SIP) - 1;
	uint64_t base = sv_dedup_fingerprint(&p);
	struct sv_packet q = p;
	q.ttl = 3;
	q.vlan_count = 1;
	assert_true(sv_dedup_fingerprint(&q) == base);
	q = p;
	q.tcp_seq = 1;
	assert_true(sv_dedup_fingerprint(&q) != base);
	q = p;
	q.tcp_ack = 1;
	assert_true(sv_dedup_fingerprint(&q) != base);
	q = p;
	q.sport = 1;
	assert_true(sv_dedup_fingerprint(&q) != base);
	q = p;
	q.dst[15] = 1;
	assert_true(sv_dedup_fingerprint(&q) != base);
	q = p;
	q.payload_len--;
	assert_true(sv_dedup_fingerprint(&q) != base);
	q = p;
	q.flags = SV_PACKET_F_FRAG;
	q.frag_offset = 8;
	assert_true(sv_dedup_fingerprint(&q) != base);
}

/* Real captures: nothing in them is a duplicate; fed twice (as "any" shows
 * loopback traffic), exactly the copies are dropped. */
static void test_real_captures(void **state)
{
	(void)state;
	static const char *files[] = {
	    "pcap/heplify/sip_ipv4_tcp.pcap",
	    "pcap/heplify/rtp_rtcp_sip_ipv4_udp.pcap",
	    "pcap/heplify/sip_ipv6_udp.pcap",
	    "pcap/sipnab/sip-rtp-g711.pcap",
	    "pcap/sipnab/register-invite-reinvite-bye.pcap",
	    "pcap/sipnab/sipp-branch-scenario.pcapng",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct sv_packet_reader *r;
		char err[256];
		assert_int_equal(sv_packet_reader_open(tu_shared(files[i]), &r, err, sizeof(err)),
		                 0);
		struct sv_dedup *once = sv_dedup_new(NULL);
		struct sv_dedup *twice = sv_dedup_new(NULL);
		struct sv_packet p;
		uint64_t ts;
		uint64_t n = 0, kept = 0;
		while (sv_packet_reader_next(r, &p, &ts) == 1) {
			if (p.decode_rc != 0)
				continue;
			n++;
			assert_int_equal(sv_dedup_check(once, &p, ts), 0);
			int a = sv_dedup_check(twice, &p, ts);
			int b = sv_dedup_check(twice, &p, ts + 20000);
			assert_int_equal(b, 1);
			kept += a == 0;
		}
		assert_true(n > 0);
		assert_int_equal(kept, n);
		struct sv_dedup_stats st;
		sv_dedup_stats(twice, &st);
		assert_int_equal(st.duplicates, n);
		sv_dedup_free(once);
		sv_dedup_free(twice);
		sv_packet_reader_close(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_twice_within_window),
	    cmocka_unit_test(test_window_and_bounds),
	    cmocka_unit_test(test_fingerprint),
	    cmocka_unit_test(test_real_captures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
