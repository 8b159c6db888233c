#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/dedup.h"
#include "base/errors.h"
#include "proto/ipfrag.h"
#include "proto/packet.h"
#include "proto/sip.h"
#include "proto/tcpreasm.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SEC    1000000000ull
#define MAXMSG 64

/* ------------------------------------------------------------ helpers */

struct coll {
	int n;
	char *msg[MAXMSG];
	size_t len[MAXMSG];
	uint32_t seq[MAXMSG];
	uint64_t ts[MAXMSG];
	uint16_t sport[MAXMSG];
};

static void on_msg(void *arg, const struct sv_tcpreasm_msg *m)
{
	struct coll *c = arg;
	assert_true(c->n < MAXMSG);
	c->msg[c->n] = malloc(m->len + 1);
	assert_non_null(c->msg[c->n]);
	memcpy(c->msg[c->n], m->data, m->len);
	c->msg[c->n][m->len] = '\0';
	c->len[c->n] = m->len;
	c->seq[c->n] = m->seq;
	c->ts[c->n] = m->ts_ns;
	c->sport[c->n] = m->sport;
	c->n++;
}

static void coll_reset(struct coll *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->msg[i]);
	c->n = 0;
}

static const char M1[] = "INVITE sip:bob@example.com SIP/2.0\r\n"
                         "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
                         "From: <sip:alice@example.com>;tag=a1\r\n"
                         "To: <sip:bob@example.com>\r\n"
                         "Call-ID: c1@x\r\n"
                         "CSeq: 1 INVITE\r\n"
                         "Content-Type: application/sdp\r\n"
                         "Content-Length: 100\r\n\r\n"
                         "v=0\r\n"
                         "o=- 1 1 IN IP4 192.0.2.1\r\n"
                         "s=-\r\n"
                         "c=IN IP4 192.0.2.1\r\n"
                         "t=0 0\r\n"
                         "m=audio 4000 RTP/AVP 0\r\n"
                         "a=rtcp:4001\r\n";
static const char M2[] = "BYE sip:bob@example.com SIP/2.0\r\n"
                         "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-2\r\n"
                         "From: <sip:alice@example.com>;tag=a1\r\n"
                         "To: <sip:bob@example.com>;tag=b1\r\n"
                         "Call-ID: c1@x\r\n"
                         "CSeq: 2 BYE\r\n"
                         "Content-Length: 0\r\n\r\n";

static void check_sdp_len(void **state)
{
	(void)state;
	/* the body of M1 is exactly its Content-Length */
	const char *b = strstr(M1, "\r\n\r\n") + 4;
	assert_int_equal(strlen(b), 100);
}

static uint8_t SRC[16] = {192, 0, 2, 1}, DST[16] = {192, 0, 2, 2};

static int seg(struct sv_tcpreasm *t, uint32_t seq, uint8_t flags, const void *data, size_t len,
               uint64_t now)
{
	struct sv_packet p;
	memset(&p, 0, sizeof(p));
	p.family = AF_INET;
	memcpy(p.src, SRC, 16);
	memcpy(p.dst, DST, 16);
	p.proto = SV_PACKET_PROTO_TCP;
	p.sport = 40000;
	p.dport = 5060;
	p.tcp_seq = seq;
	p.tcp_flags = flags | SV_PACKET_TCP_ACK;
	p.payload = data;
	p.payload_len = p.l4_len = len;
	return sv_tcpreasm_add(t, &p, now);
}

/* The reverse direction. */
static int rseg(struct sv_tcpreasm *t, uint32_t seq, uint8_t flags, const void *data, size_t len,
                uint64_t now)
{
	struct sv_packet p;
	memset(&p, 0, sizeof(p));
	p.family = AF_INET;
	memcpy(p.src, DST, 16);
	memcpy(p.dst, SRC, 16);
	p.proto = SV_PACKET_PROTO_TCP;
	p.sport = 5060;
	p.dport = 40000;
	p.tcp_seq = seq;
	p.tcp_flags = flags | SV_PACKET_TCP_ACK;
	p.payload = data;
	p.payload_len = p.l4_len = len;
	return sv_tcpreasm_add(t, &p, now);
}

static struct sv_buf stream2(void)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_buf_append_str(&b, M1), 0);
	assert_int_equal(sv_buf_append_str(&b, M2), 0);
	return b;
}

static void expect_m1m2(const struct coll *c, uint32_t base)
{
	assert_int_equal(c->n, 2);
	assert_string_equal(c->msg[0], M1);
	assert_string_equal(c->msg[1], M2);
	assert_int_equal(c->seq[0], base);
	assert_int_equal(c->seq[1], (uint32_t)(base + strlen(M1)));
}

static void expect_clean(struct sv_tcpreasm *t)
{
	struct sv_tcpreasm_stats st;
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.gaps, 0);
	assert_int_equal(st.resync_bytes, 0);
	assert_int_equal(st.drop_incomplete, 0);
	assert_int_equal(st.drop_oversize, 0);
}

/* ---------------------------------------------------------------- tests */

/* Every split point of a two-message stream, in order and reversed, and with
 * the ISN just before the 2^32 wrap. */
static void test_every_split(void **state)
{
	(void)state;
	struct sv_buf s = stream2();
	struct coll c = {0};
	const uint32_t isns[] = {1000, 0xffffff00u, 0xfffffffeu};
	for (size_t w = 0; w < sizeof(isns) / sizeof(isns[0]); w++) {
		uint32_t isn = isns[w];
		for (size_t i = 1; i < s.len; i++) {
			for (int rev = 0; rev <= 1; rev++) {
				struct sv_tcpreasm *t = sv_tcpreasm_new(NULL, on_msg, &c);
				assert_non_null(t);
				assert_int_equal(seg(t, isn - 1, SV_PACKET_TCP_SYN, NULL, 0, SEC),
				                 0);
				if (!rev) {
					seg(t, isn, 0, s.data, i, SEC);
					assert_int_equal(c.n, i >= strlen(M1) ? 1 : 0);
					seg(t, isn + (uint32_t)i, 0, s.data + i, s.len - i,
					    SEC + 1);
				} else {
					seg(t, isn + (uint32_t)i, 0, s.data + i, s.len - i, SEC);
					assert_int_equal(c.n, 0);
					seg(t, isn, 0, s.data, i, SEC + 1);
				}
				expect_m1m2(&c, isn);
				assert_int_equal(c.ts[1], SEC + 1);
				expect_clean(t);
				struct sv_tcpreasm_stats st;
				sv_tcpreasm_stats(t, &st);
				assert_int_equal(st.ooo_segments, rev);
				assert_int_equal(st.bytes, s.len);
				assert_int_equal(st.bytes_held, 0);
				coll_reset(&c);
				sv_tcpreasm_free(t);
			}
		}
	}
	sv_buf_release(&s);
}

/* Three segments: every (i, j) with j in steps, all six orders. */
static void test_three_way_splits(void **state)
{
	(void)state;
	struct sv_buf s = stream2();
	struct coll c = {0};
	static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
	                                 {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
	struct sv_tcpreasm *t = sv_tcpreasm_new(NULL, on_msg, &c);
	uint32_t isn = 0xfffffe00u;
	for (size_t i = 1; i < s.len; i += 3) {
		for (size_t j = i + 1; j < s.len; j += 11) {
			size_t cut[4] = {0, i, j, s.len};
			for (int o = 0; o < 6; o++) {
				/* a fresh connection on the same addresses: a new SYN */
				isn += 0x10000;
				seg(t, isn - 1, SV_PACKET_TCP_SYN, NULL, 0, SEC);
				for (int k = 0; k < 3; k++) {
					int q = orders[o][k];
					seg(t, isn + (uint32_t)cut[q], 0, s.data + cut[q],
					    cut[q + 1] - cut[q], SEC);
				}
				expect_m1m2(&c, isn);
				coll_reset(&c);
			}
		}
	}
	expect_clean(t);
	sv_tcpreasm_free(t);
	sv_buf_release(&s);
}

/* Retransmissions, whole and partial, before and after delivery. */
static void test_retransmission_overlap(void **state)
{
	(void)state;
	struct sv_buf s = stream2();
	struct coll c = {0};
	struct sv_tcpreasm *t = sv_tcpreasm_new(NULL, on_msg, &c);
	uint32_t b = 5000;
	seg(t, b - 1, SV_PACKET_TCP_SYN, NULL, 0, SEC);
	seg(t, b - 1, SV_PACKET_TCP_SYN, NULL, 0, SEC); /* SYN retransmitted */
	seg(t, b, 0, s.data, 100, SEC);
	seg(t, b, 0, s.data, 100, SEC);             /* whole retransmission */
	seg(t, b + 300, 0, s.data + 300, 100, SEC); /* ahead */
	seg(t, b + 250, 0, s.data + 250, 100, SEC); /* ahead, overlapping */
	seg(t, b + 50, 0, s.data + 50, 250, SEC);   /* overlaps old and queued */
	seg(t, b + 380, 0, s.data + 380, s.len - 380, SEC);
	expect_m1m2(&c, b);
	seg(t, b, 0, s.data, s.len, SEC); /* all again, after delivery */
	assert_int_equal(c.n, 2);
	struct sv_tcpreasm_stats st;
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.retrans_segments, 2);
	/* 100 + 50 + (300..350 queued twice: 50) + (250..350 in 50+250: 100) +
	 * (380..400: 20) + whole */
	assert_int_equal(st.retrans_bytes, 100 + 50 + 50 + 50 + 20 + s.len);
	assert_int_equal(st.bytes, s.len);
	assert_int_equal(st.streams_opened, 1);
	expect_clean(t);
	coll_reset(&c);
	sv_tcpreasm_free(t);
	sv_buf_release(&s);
}

static uint32_t rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Random segmentation, random overlapping retransmissions, shuffled. */
static void test_random_chaos(void **state)
{
	(void)state;
	struct sv_buf s;
	sv_buf_init(&s);
	for (int k = 0; k < 4; k++) {
		assert_int_equal(sv_buf_append_str(&s, M1), 0);
		assert_int_equal(sv_buf_append_str(&s, "\r\n\r\n"), 0); /* keep-alives */
		assert_int_equal(sv_buf_append_str(&s, M2), 0);
	}
	struct coll c = {0};
	struct seglist {
		uint32_t off, len;
	} sl[512];
	for (uint32_t seed = 1; seed <= 300; seed++) {
		uint32_t x = seed * 2654435761u;
		int n = 0;
		for (uint32_t off = 0; off < s.len;) {
			uint32_t len = 1 + rnd(&x) % 200;
			if (off + len > s.len)
				len = (uint32_t)s.len - off;
			sl[n].off = off;
			sl[n].len = len;
			n++;
			off += len;
		}
		int extra = (int)(rnd(&x) % 30);
		for (int e = 0; e < extra; e++) {
			uint32_t off = rnd(&x) % (uint32_t)s.len;
			uint32_t len = 1 + rnd(&x) % 300;
			if (off + len > s.len)
				len = (uint32_t)s.len - off;
			sl[n].off = off;
			sl[n].len = len;
			n++;
		}
		for (int i = n - 1; i > 0; i--) {
			int j = (int)(rnd(&x) % (uint32_t)(i + 1));
			struct seglist tmp = sl[i];
			sl[i] = sl[j];
			sl[j] = tmp;
		}
		uint32_t isn = rnd(&x);
		struct sv_tcpreasm *t = sv_tcpreasm_new(NULL, on_msg, &c);
		seg(t, isn - 1, SV_PACKET_TCP_SYN, NULL, 0, SEC);
		for (int i = 0; i < n; i++)
			seg(t, isn + sl[i].off, 0, s.data + sl[i].off, sl[i].len, SEC);
		assert_int_equal(c.n, 8);
		for (int k = 0; k < 8; k++)
			assert_string_equal(c.msg[k], k % 2 ? M2 : M1);
		expect_clean(t);
		struct sv_tcpreasm_stats st;
		sv_tcpreasm_stats(t, &st);
		assert_int_equal(st.bytes, s.len);
		assert_int_equal(st.bytes_held, 0);
		coll_reset(&c);
		sv_tcpreasm_free(t);
	}
	sv_buf_release(&s);
}

/* A hole that never fills: after hole_timeout the data behind it is
 * delivered from the next start line; the broken message is counted. */
static void test_hole_never_fills(void **state)
{
	(void)state;
	struct sv_buf s = stream2();
	struct coll c = {0};
	struct sv_tcpreasm_config cfg;
	sv_tcpreasm_config_default(&cfg);
	cfg.hole_timeout_ns = 2 * SEC;
	struct sv_tcpreasm *t = sv_tcpreasm_new(&cfg, on_msg, &c);
	uint32_t b = 0xfffffff0u;
	seg(t, b - 1, SV_PACKET_TCP_SYN, NULL, 0, 10 * SEC);
	seg(t, b, 0, s.data, 100, 10 * SEC);
	seg(t, b + 200, 0, s.data + 200, s.len - 200, 10 * SEC);
	assert_int_equal(c.n, 0);
	sv_tcpreasm_expire(t, 12 * SEC - 1);
	assert_int_equal(c.n, 0);
	sv_tcpreasm_expire(t, 12 * SEC);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.msg[0], M2);
	assert_int_equal(c.seq[0], (uint32_t)(b + strlen(M1)));
	struct sv_tcpreasm_stats st;
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.gaps, 1);
	assert_int_equal(st.gap_bytes, 100);
	assert_int_equal(st.drop_incomplete, 1);
	assert_int_equal(st.resync_bytes, strlen(M1) - 200);
	assert_int_equal(st.bytes_held, 0);
	/* the late segment is now old */
	seg(t, b + 100, 0, s.data + 100, 100, 13 * SEC);
	assert_int_equal(c.n, 1);
	/* the stream goes on */
	seg(t, b + (uint32_t)s.len, 0, M1, strlen(M1), 13 * SEC);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.msg[1], M1);
	coll_reset(&c);
	sv_tcpreasm_free(t);

	/* the same hole given up because the queue is full, at once */
	cfg.max_stream_bytes = 256;
	t = sv_tcpreasm_new(&cfg, on_msg, &c);
	seg(t, b - 1, SV_PACKET_TCP_SYN, NULL, 0, 10 * SEC);
	seg(t, b, 0, s.data, 100, 10 * SEC);
	size_t off = 200;
	while (off < s.len) {
		size_t n = s.len - off < 60 ? s.len - off : 60;
		seg(t, b + (uint32_t)off, 0, s.data + off, n, 10 * SEC);
		off += n;
	}
	assert_int_equal(c.n, 1);
	assert_string_equal(c.msg[0], M2);
	sv_tcpreasm_stats(t, &st);
	assert_true(st.gaps >= 1);
	assert_true(st.bytes_held <= 256);
	coll_reset(&c);
	sv_tcpreasm_free(t);
	sv_buf_release(&s);
}

static void test_fin_rst(void **state)
{
	(void)state;
	struct sv_buf s = stream2();
	struct coll c = {0};
	struct sv_tcpreasm *t = sv_tcpreasm_new(NULL, on_msg, &c);
	struct sv_tcpreasm_stats st;
	uint32_t b = 100;

	/* FIN with the last data */
	seg(t, b - 1, SV_PACKET_TCP_SYN, NULL, 0, SEC);
	seg(t, b, 0, s.data, 10, SEC);
	seg(t, b + 10, SV_PACKET_TCP_FIN, s.data + 10, s.len - 10, SEC);
	expect_m1m2(&c, b);
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.streams_fin, 1);
	assert_int_equal(st.streams_held, 0);
	coll_reset(&c);

	/* FIN before the data in front of it: waits, then closes */
	seg(t, b - 1, SV_PACKET_TCP_SYN, NULL, 0, SEC);
	seg(t, b + (uint32_t)s.len, SV_PACKET_TCP_FIN, NULL, 0, SEC);
	seg(t, b + 10, 0, s.data + 10, s.len - 10, SEC);
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.streams_held, 1);
	seg(t, b, 0, s.data, 10, SEC);
	expect_m1m2(&c, b);
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.streams_fin, 2);
	assert_int_equal(st.streams_held, 0);
	coll_reset(&c);

	/* FIN in the middle of a message: the partial message is dropped */
	seg(t, b - 1, SV_PACKET_TCP_SYN, NULL, 0, SEC);
	seg(t, b, SV_PACKET_TCP_FIN, s.data, 100, SEC);
	assert_int_equal(c.n, 0);
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.drop_incomplete, 1);
	assert_int_equal(st.streams_held, 0);
	/* a late retransmission of a closed stream starts a new, mid-stream one */
	seg(t, b, 0, s.data, s.len, SEC);
	expect_m1m2(&c, b);
	coll_reset(&c);

	/* RST from the other side removes both directions */
	seg(t, 7000, 0, s.data, 100, 2 * SEC);
	rseg(t, 9000, 0, M2, 30, 2 * SEC);
	sv_tcpreasm_stats(t, &st);
	/* (the first is the mid-stream one above, now holding queued data) */
	assert_int_equal(st.streams_held, 2);
	rseg(t, 9030, SV_PACKET_TCP_RST, NULL, 0, 2 * SEC);
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.streams_held, 0);
	assert_int_equal(st.streams_rst, 2);
	assert_int_equal(st.drop_incomplete, 2); /* queued data is no message */
	assert_int_equal(st.bytes_held, 0);
	/* a pure ACK or FIN of an unknown stream creates nothing */
	seg(t, 1, 0, NULL, 0, 3 * SEC);
	seg(t, 1, SV_PACKET_TCP_FIN, NULL, 0, 3 * SEC);
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.streams_held, 0);
	/* a new SYN on a live stream replaces it */
	seg(t, 10, SV_PACKET_TCP_SYN, NULL, 0, 3 * SEC);
	seg(t, 11, 0, s.data, 50, 3 * SEC);
	seg(t, 500, SV_PACKET_TCP_SYN, NULL, 0, 3 * SEC);
	seg(t, 501, 0, s.data, s.len, 3 * SEC);
	expect_m1m2(&c, 501);
	coll_reset(&c);
	sv_tcpreasm_free(t);
	sv_buf_release(&s);
}

/* A capture that starts mid-message resynchronises to the next start line;
 * keep-alives are skipped. */
static void test_midstream_and_keepalive(void **state)
{
	(void)state;
	struct coll c = {0};
	struct sv_tcpreasm *t = sv_tcpreasm_new(NULL, on_msg, &c);
	struct sv_buf s;
	sv_buf_init(&s);
	sv_buf_append_str(&s, M1 + 57);
	sv_buf_append_str(&s, "\r\n\r\n\r\n");
	sv_buf_append_str(&s, M2);
	sv_buf_append_str(&s, "\r\n");
	sv_buf_append_str(&s, M1);
	seg(t, 777, 0, s.data, 40, SEC);
	seg(t, 817, 0, s.data + 40, s.len - 40, SEC);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.msg[0], M2);
	assert_string_equal(c.msg[1], M1);
	struct sv_tcpreasm_stats st;
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.resync_bytes, strlen(M1) - 57 + 6); /* CRLFs before M2 too */
	assert_int_equal(st.gaps, 0);
	coll_reset(&c);
	sv_tcpreasm_free(t);
	sv_buf_release(&s);
}

/* A message beyond max_stream_bytes is dropped; the stream recovers. */
static void test_oversize(void **state)
{
	(void)state;
	struct coll c = {0};
	struct sv_tcpreasm_config cfg;
	sv_tcpreasm_config_default(&cfg);
	cfg.max_stream_bytes = 4096;
	struct sv_tcpreasm *t = sv_tcpreasm_new(&cfg, on_msg, &c);
	struct sv_buf s;
	sv_buf_init(&s);
	sv_buf_printf(&s,
	              "MESSAGE sip:a@b SIP/2.0\r\nCall-ID: big@x\r\nCSeq: 1 MESSAGE\r\n"
	              "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nContent-Length: 20000\r\n\r\n");
	for (int i = 0; i < 20000; i++)
		sv_buf_put_u8(&s, 'x');
	sv_buf_append_str(&s, M2);
	uint32_t b = 1;
	seg(t, b - 1, SV_PACKET_TCP_SYN, NULL, 0, SEC);
	for (size_t off = 0; off < s.len; off += 1000) {
		size_t n = s.len - off < 1000 ? s.len - off : 1000;
		seg(t, b + (uint32_t)off, 0, s.data + off, n, SEC);
		struct sv_tcpreasm_stats st;
		sv_tcpreasm_stats(t, &st);
		assert_true(st.bytes_held <= 4096 + 1000);
	}
	assert_int_equal(c.n, 1);
	assert_string_equal(c.msg[0], M2);
	struct sv_tcpreasm_stats st;
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.drop_oversize, 1);
	coll_reset(&c);
	sv_tcpreasm_free(t);
	sv_buf_release(&s);
}

/* Stream count, total memory and idle bounds. */
static void test_limits(void **state)
{
	(void)state;
	struct coll c = {0};
	struct sv_tcpreasm_config cfg;
	sv_tcpreasm_config_default(&cfg);
	cfg.max_streams = 3;
	cfg.max_total_bytes = 700;
	cfg.idle_timeout_ns = 60 * SEC;
	struct sv_tcpreasm *t = sv_tcpreasm_new(&cfg, on_msg, &c);
	struct sv_tcpreasm_stats st;
	struct sv_packet p;
	memset(&p, 0, sizeof(p));
	p.family = AF_INET;
	memcpy(p.src, SRC, 16);
	memcpy(p.dst, DST, 16);
	p.proto = SV_PACKET_PROTO_TCP;
	p.dport = 5060;
	p.payload = (const uint8_t *)M1;
	p.payload_len = p.l4_len = 200; /* within M1's header block */
	for (int i = 0; i < 4; i++) {
		p.sport = (uint16_t)(1000 + i);
		assert_int_equal(sv_tcpreasm_add(t, &p, (uint64_t)(i + 1) * SEC), 0);
	}
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.streams_held, 3);
	assert_int_equal(st.streams_evicted, 1);
	assert_int_equal(st.bytes_held, 600);
	/* a new stream evicts the least recently active */
	p.sport = 2000;
	sv_tcpreasm_add(t, &p, 5 * SEC);
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.streams_evicted, 2);
	assert_int_equal(st.bytes_held, 600);
	/* 200 more would pass 700 bytes: the memory bound evicts one more */
	static const uint8_t xs[200] = {'x'};
	p.tcp_seq += 200;
	p.payload = xs;
	sv_tcpreasm_add(t, &p, 6 * SEC);
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.streams_evicted, 3);
	assert_int_equal(st.drop_incomplete, 3);
	assert_int_equal(st.streams_held, 2);
	assert_int_equal(st.bytes_held, 600);
	/* idle */
	sv_tcpreasm_expire(t, 200 * SEC);
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.streams_held, 0);
	assert_int_equal(st.bytes_held, 0);
	assert_true(st.streams_expired >= 2);
	/* bad input */
	p.proto = SV_PACKET_PROTO_UDP;
	assert_int_equal(sv_tcpreasm_add(t, &p, SEC), -EINVAL);
	assert_int_equal(sv_tcpreasm_add(NULL, &p, SEC), -EINVAL);
	assert_null(sv_tcpreasm_new(NULL, NULL, NULL));
	sv_tcpreasm_free(t);
	sv_tcpreasm_free(NULL);
}

/* A segment cut by the snap length leaves a hole that never fills: the
 * message is dropped at once and the next one comes through. */
static void test_truncated_segment(void **state)
{
	(void)state;
	struct sv_buf s = stream2();
	struct coll c = {0};
	struct sv_tcpreasm *t = sv_tcpreasm_new(NULL, on_msg, &c);
	struct sv_packet p;
	memset(&p, 0, sizeof(p));
	p.family = AF_INET;
	p.proto = SV_PACKET_PROTO_TCP;
	p.tcp_seq = 50;
	p.payload = s.data;
	p.payload_len = 200;
	p.l4_len = strlen(M1);
	p.flags = SV_PACKET_F_TRUNC;
	sv_tcpreasm_add(t, &p, SEC);
	p.flags = 0;
	p.tcp_seq = 50 + (uint32_t)strlen(M1);
	p.payload = (const uint8_t *)M2;
	p.payload_len = p.l4_len = strlen(M2);
	sv_tcpreasm_add(t, &p, SEC);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.msg[0], M2);
	struct sv_tcpreasm_stats st;
	sv_tcpreasm_stats(t, &st);
	assert_int_equal(st.drop_truncated, 1);
	assert_int_equal(st.drop_incomplete, 1);
	coll_reset(&c);
	sv_tcpreasm_free(t);
	sv_buf_release(&s);
}

/* ------------------------------------------------ real captures vs tshark */

struct pipe {
	struct sv_buf out; /* "Call-ID\tCSeq\n" per message */
};

static void print_msg(struct sv_buf *out, const uint8_t *data, size_t len)
{
	struct sv_sip_msg m;
	if (sv_sip_parse(data, len, &m) != 0)
		return;
	sv_buf_printf(out, "%.*s\t%u %.*s\n", (int)m.call_id.len, m.call_id.p, m.cseq,
	              (int)m.cseq_method_name.len, m.cseq_method_name.p);
}

static void on_pipe_msg(void *arg, const struct sv_tcpreasm_msg *m)
{
	struct pipe *pp = arg;
	print_msg(&pp->out, m->data, m->len);
}

/* reader -> ipfrag -> UDP: parse / TCP: tcpreasm -> parse */
static void run_pipeline(const char *path, struct sv_buf *out)
{
	struct sv_packet_reader *r;
	char err[256];
	assert_int_equal(sv_packet_reader_open(path, &r, err, sizeof(err)), 0);
	struct pipe pp;
	sv_buf_init(&pp.out);
	struct sv_ipfrag *f = sv_ipfrag_new(NULL);
	struct sv_tcpreasm *t = sv_tcpreasm_new(NULL, on_pipe_msg, &pp);
	struct sv_packet p;
	uint64_t ts;
	int rc;
	while ((rc = sv_packet_reader_next(r, &p, &ts)) == 1) {
		if (p.decode_rc != 0)
			continue;
		struct sv_packet whole = p;
		if (p.flags & SV_PACKET_F_FRAG) {
			const uint8_t *data;
			size_t len;
			if (sv_ipfrag_add(f, &p, ts, &data, &len) != 1)
				continue;
			if (sv_packet_decode_l4(&whole, p.proto, data, len) != 0)
				continue;
		}
		if (whole.proto == SV_PACKET_PROTO_TCP)
			assert_int_equal(sv_tcpreasm_add(t, &whole, ts), 0);
		else if (whole.proto == SV_PACKET_PROTO_UDP)
			print_msg(&pp.out, whole.payload, whole.payload_len);
	}
	assert_int_equal(rc, 0);
	sv_tcpreasm_free(t);
	sv_ipfrag_free(f);
	sv_packet_reader_close(r);
	assert_int_equal(sv_buf_append(out, pp.out.data, pp.out.len), 0);
	sv_buf_release(&pp.out);
}

/* tshark's view: one line per SIP message (a frame with several messages
 * gives comma-separated fields, split here). */
static void run_tshark(const char *path, struct sv_buf *out)
{
	char cmd[1024];
	struct sv_buf raw;
	sv_buf_init(&raw);
	snprintf(cmd, sizeof(cmd),
	         "tshark -r '%s' -Y sip -T fields -E occurrence=a -e sip.Call-ID -e sip.CSeq "
	         "2>/dev/null",
	         path);
	assert_int_equal(tu_run(cmd, &raw), 0);
	sv_buf_put_u8(&raw, 0);
	char *save = NULL;
	for (char *line = strtok_r((char *)raw.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');
		assert_non_null(tab);
		*tab = '\0';
		char *ids = line, *cseqs = tab + 1;
		char *s1 = NULL, *s2 = NULL;
		char *id = strtok_r(ids, ",", &s1);
		char *cs = strtok_r(cseqs, ",", &s2);
		while (id != NULL && cs != NULL) {
			sv_buf_printf(out, "%s\t%s\n", id, cs);
			id = strtok_r(NULL, ",", &s1);
			cs = strtok_r(NULL, ",", &s2);
		}
		assert_null(id);
		assert_null(cs);
	}
	sv_buf_release(&raw);
}

static void test_captures_against_tshark(void **state)
{
	(void)state;
	assert_true(tu_have_tshark());
	static const char *files[] = {
	    "pcap/heplify/sip_ipv4_tcp.pcap",
	    "pcap/sngrep/ipip.pcap",
	    "pcap/heplify/sip_ipv6_udp.pcap",
	    "pcap/heplify/rtp_rtcp_sip_ipv4_udp.pcap",
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
	};
	size_t total = 0;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *path = tu_shared(files[i]);
		struct sv_buf a, b;
		sv_buf_init(&a);
		sv_buf_init(&b);
		run_pipeline(path, &a);
		run_tshark(path, &b);
		sv_buf_put_u8(&a, 0);
		sv_buf_put_u8(&b, 0);
		if (strcmp((char *)a.data, (char *)b.data) != 0)
			fail_msg("%s: ours\n%s\ntshark\n%s", files[i], (char *)a.data,
			         (char *)b.data);
		assert_true(a.len > 1);
		for (size_t k = 0; k < a.len; k++)
			total += a.data[k] == '\n';
		sv_buf_release(&a);
		sv_buf_release(&b);
	}
	assert_true(total > 9000);
}

/* The TCP capture cut into every possible segment boundary pattern by
 * re-feeding its payload bytes one at a time: the same 7 messages. */
static void test_real_tcp_bytewise(void **state)
{
	(void)state;
	struct sv_packet_reader *r;
	char err[256];
	assert_int_equal(sv_packet_reader_open(tu_shared("pcap/heplify/sip_ipv4_tcp.pcap"), &r, err,
	                                       sizeof(err)),
	                 0);
	struct coll c = {0};
	struct sv_tcpreasm *t = sv_tcpreasm_new(NULL, on_msg, &c);
	struct sv_packet p;
	uint64_t ts;
	while (sv_packet_reader_next(r, &p, &ts) == 1) {
		if (p.decode_rc != 0 || p.proto != SV_PACKET_PROTO_TCP)
			continue;
		if (p.payload_len == 0) {
			assert_int_equal(sv_tcpreasm_add(t, &p, ts), 0);
			continue;
		}
		struct sv_packet q = p;
		for (size_t k = 0; k < p.payload_len; k++) {
			q.tcp_seq = p.tcp_seq + (uint32_t)k;
			q.payload = p.payload + k;
			q.payload_len = q.l4_len = 1;
			assert_int_equal(sv_tcpreasm_add(t, &q, ts), 0);
		}
	}
	assert_int_equal(c.n, 7);
	for (int i = 0; i < c.n; i++)
		assert_non_null(strstr(c.msg[i], "158936656982201062716@10.33.6.100"));
	coll_reset(&c);
	sv_tcpreasm_free(t);
	sv_packet_reader_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(check_sdp_len),
	    cmocka_unit_test(test_every_split),
	    cmocka_unit_test(test_three_way_splits),
	    cmocka_unit_test(test_retransmission_overlap),
	    cmocka_unit_test(test_random_chaos),
	    cmocka_unit_test(test_hole_never_fills),
	    cmocka_unit_test(test_fin_rst),
	    cmocka_unit_test(test_midstream_and_keepalive),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_truncated_segment),
	    cmocka_unit_test(test_captures_against_tshark),
	    cmocka_unit_test(test_real_tcp_bytewise),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
