#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "proto/ipfrag.h"
#include "proto/packet.h"
#include "proto/sip.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SEC 1000000000ull

static const uint8_t SRC4[4] = {192, 0, 2, 1};
static const uint8_t DST4[4] = {198, 51, 100, 2};
static uint8_t SRC6[16], DST6[16];

/* ------------------------------------------------------------ builders */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)(p[n - 1] << 8);
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A UDP datagram (header + SIP text) with a correct checksum. */
static void make_udp(struct sv_buf *out, int v6, const char *sip)
{
	size_t n = strlen(sip);
	uint8_t h[8];
	sv_put_be16(h, 5060);
	sv_put_be16(h + 2, 5080);
	sv_put_be16(h + 4, (uint16_t)(8 + n));
	sv_put_be16(h + 6, 0);
	uint32_t sum = 0;
	if (v6) {
		sum = csum_add(sum, SRC6, 16);
		sum = csum_add(sum, DST6, 16);
	} else {
		sum = csum_add(sum, SRC4, 4);
		sum = csum_add(sum, DST4, 4);
	}
	sum += 17 + (uint32_t)(8 + n);
	sum = csum_add(sum, h, 8);
	sum = csum_add(sum, (const uint8_t *)sip, n);
	uint16_t c = csum_fold(sum);
	sv_put_be16(h + 6, c ? c : 0xffff);
	sv_buf_reset(out);
	assert_int_equal(sv_buf_append(out, h, 8), 0);
	assert_int_equal(sv_buf_append(out, sip, n), 0);
}

/* An IPv4 (or IPv6 with a fragment header) packet carrying data[off, off+len)
 * of a datagram as one fragment. */
static void make_frag(struct sv_buf *out, int v6, uint32_t id, uint32_t off, int more,
                      const uint8_t *data, size_t len)
{
	uint8_t h[48];
	sv_buf_reset(out);
	if (!v6) {
		memset(h, 0, 20);
		h[0] = 0x45;
		sv_put_be16(h + 2, (uint16_t)(20 + len));
		sv_put_be16(h + 4, (uint16_t)id);
		sv_put_be16(h + 6, (uint16_t)((more ? 0x2000 : 0) | (off / 8)));
		h[8] = 64;
		h[9] = 17;
		memcpy(h + 12, SRC4, 4);
		memcpy(h + 16, DST4, 4);
		sv_put_be16(h + 10, csum_fold(csum_add(0, h, 20)));
		assert_int_equal(sv_buf_append(out, h, 20), 0);
	} else {
		memset(h, 0, 48);
		h[0] = 0x60;
		sv_put_be16(h + 4, (uint16_t)(8 + len));
		h[6] = 44;
		h[7] = 64;
		memcpy(h + 8, SRC6, 16);
		memcpy(h + 24, DST6, 16);
		h[40] = 17;
		sv_put_be16(h + 42, (uint16_t)((off & 0xfff8) | (more ? 1 : 0)));
		sv_put_be32(h + 44, id);
		assert_int_equal(sv_buf_append(out, h, 48), 0);
	}
	assert_int_equal(sv_buf_append(out, data, len), 0);
}

/* Builds and decodes one fragment into *p (frame kept in fb). */
static void frag_pkt(struct sv_buf *fb, struct sv_packet *p, int v6, uint32_t id, uint32_t off,
                     int more, const uint8_t *data, size_t len)
{
	make_frag(fb, v6, id, off, more, data, len);
	assert_int_equal(sv_packet_decode(SV_PACKET_LINK_RAW, fb->data, fb->len, p), 0);
	assert_true(p->flags & SV_PACKET_F_FRAG);
}

static char *big_invite(const char *callid, int cseq, size_t bodylen)
{
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_buf body;
	sv_buf_init(&body);
	assert_int_equal(sv_buf_append_str(&body, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
	                                          "c=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	                                          "m=audio 4000 RTP/AVP 0 8 101\r\n"),
	                 0);
	int i = 0;
	while (body.len < bodylen)
		assert_int_equal(
		    sv_buf_printf(&body, "a=x-filler-%04d:abcdefghijklmnopqrstuvwxyz\r\n", i++), 0);
	assert_int_equal(sv_buf_printf(&b,
	                               "INVITE sip:bob@example.com SIP/2.0\r\n"
	                               "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-%s\r\n"
	                               "From: <sip:alice@example.com>;tag=a1\r\n"
	                               "To: <sip:bob@example.com>\r\n"
	                               "Call-ID: %s\r\n"
	                               "CSeq: %d INVITE\r\n"
	                               "Contact: <sip:alice@192.0.2.1>\r\n"
	                               "Content-Type: application/sdp\r\n"
	                               "Content-Length: %zu\r\n\r\n",
	                               callid, callid, cseq, body.len),
	                 0);
	assert_int_equal(sv_buf_append(&b, body.data, body.len), 0);
	sv_buf_release(&body);
	size_t n;
	char *s = (char *)sv_buf_take(&b, &n);
	assert_non_null(s);
	return s;
}

struct piece {
	uint32_t off;
	uint32_t len;
	int more;
};

/* Splits n bytes into fragments of at most `size` (a multiple of 8). */
static int split(size_t n, size_t size, struct piece *pc, int max)
{
	int k = 0;
	for (size_t off = 0; off < n; off += size) {
		assert_true(k < max);
		pc[k].off = (uint32_t)off;
		pc[k].len = (uint32_t)(n - off < size ? n - off : size);
		pc[k].more = off + size < n;
		k++;
	}
	return k;
}

static void check_datagram(const struct sv_packet *frag, const uint8_t *data, size_t len,
                           const struct sv_buf *want)
{
	assert_int_equal(len, want->len);
	assert_memory_equal(data, want->data, len);
	struct sv_packet whole = *frag;
	assert_int_equal(sv_packet_decode_l4(&whole, frag->proto, data, len), 0);
	assert_int_equal(whole.sport, 5060);
	assert_int_equal(whole.dport, 5080);
	struct sv_sip_msg m;
	assert_int_equal(sv_sip_parse(whole.payload, whole.payload_len, &m), 0);
}

/* ---------------------------------------------------------------- tests */

static int next_perm(int *a, int n)
{
	int i = n - 2;
	while (i >= 0 && a[i] >= a[i + 1])
		i--;
	if (i < 0)
		return 0;
	int j = n - 1;
	while (a[j] <= a[i])
		j--;
	int t = a[i];
	a[i] = a[j];
	a[j] = t;
	for (int l = i + 1, r = n - 1; l < r; l++, r--) {
		t = a[l];
		a[l] = a[r];
		a[r] = t;
	}
	return 1;
}

/* Every order of 5 fragments, IPv4 and IPv6: one datagram each time. */
static void test_every_order(void **state)
{
	(void)state;
	char *sip = big_invite("order@x", 1, 900);
	struct sv_buf dg, fb;
	sv_buf_init(&dg);
	sv_buf_init(&fb);
	for (int v6 = 0; v6 <= 1; v6++) {
		make_udp(&dg, v6, sip);
		struct piece pc[16];
		int np = split(dg.len, 256, pc, 16);
		assert_int_equal(np, 5);
		struct sv_ipfrag *f = sv_ipfrag_new(NULL);
		assert_non_null(f);
		int perm[5] = {0, 1, 2, 3, 4};
		int count = 0;
		uint64_t now = 1000 * SEC;
		uint32_t id = 7;
		do {
			int done = 0;
			for (int i = 0; i < np; i++) {
				const struct piece *q = &pc[perm[i]];
				struct sv_packet p;
				frag_pkt(&fb, &p, v6, id, q->off, q->more, dg.data + q->off,
				         q->len);
				const uint8_t *data;
				size_t len;
				int rc = sv_ipfrag_add(f, &p, now, &data, &len);
				if (i < np - 1) {
					assert_int_equal(rc, 0);
				} else {
					assert_int_equal(rc, 1);
					check_datagram(&p, data, len, &dg);
					done = 1;
				}
			}
			assert_true(done);
			count++;
			id++;
			now += 1000;
		} while (next_perm(perm, np));
		assert_int_equal(count, 120);
		struct sv_ipfrag_stats st;
		sv_ipfrag_stats(f, &st);
		assert_int_equal(st.reassembled, 120);
		assert_int_equal(st.fragments, 600);
		assert_int_equal(st.datagrams_held, 0);
		assert_int_equal(st.bytes_held, 0);
		sv_ipfrag_free(f);
	}
	sv_buf_release(&dg);
	sv_buf_release(&fb);
	free(sip);
}

/* Each fragment twice, interleaved with a second datagram (same addresses,
 * other id) and a third (other source): all complete once, duplicates
 * counted. */
static void test_duplicates_and_interleaving(void **state)
{
	(void)state;
	char *sip1 = big_invite("dup1@x", 1, 600);
	char *sip2 = big_invite("dup2@x", 2, 700);
	struct sv_buf d1, d2, fb;
	sv_buf_init(&d1);
	sv_buf_init(&d2);
	sv_buf_init(&fb);
	for (int v6 = 0; v6 <= 1; v6++) {
		make_udp(&d1, v6, sip1);
		make_udp(&d2, v6, sip2);
		struct piece p1[16], p2[16];
		int n1 = split(d1.len, 200, p1, 16);
		int n2 = split(d2.len, 304, p2, 16);
		struct sv_ipfrag *f = sv_ipfrag_new(NULL);
		int got1 = 0, got2 = 0;
		for (int i = n1 - 1, j = 0; i >= 0 || j < n2; i--, j++) {
			for (int rep = 0; rep < 2; rep++) {
				struct sv_packet p;
				const uint8_t *data;
				size_t len;
				int rc;
				if (i >= 0) {
					frag_pkt(&fb, &p, v6, 100, p1[i].off, p1[i].more,
					         d1.data + p1[i].off, p1[i].len);
					rc = sv_ipfrag_add(f, &p, SEC, &data, &len);
					assert_true(rc >= 0);
					if (rc == 1) {
						check_datagram(&p, data, len, &d1);
						got1++;
					}
				}
				if (j < n2) {
					frag_pkt(&fb, &p, v6, 101, p2[j].off, p2[j].more,
					         d2.data + p2[j].off, p2[j].len);
					rc = sv_ipfrag_add(f, &p, SEC, &data, &len);
					assert_true(rc >= 0);
					if (rc == 1) {
						check_datagram(&p, data, len, &d2);
						got2++;
					}
				}
			}
		}
		/* A complete datagram was returned at the first copy of its last
		 * missing fragment; the second copy of that one starts a new,
		 * never-completed datagram (as a host would): it times out. */
		assert_int_equal(got1, 1);
		assert_int_equal(got2, 1);
		struct sv_ipfrag_stats st;
		sv_ipfrag_stats(f, &st);
		assert_int_equal(st.duplicates, (uint64_t)(n1 - 1 + n2 - 1));
		assert_int_equal(st.datagrams_held, 2);
		sv_ipfrag_expire(f, SEC + 31 * SEC);
		sv_ipfrag_stats(f, &st);
		assert_int_equal(st.drop_timeout, 2);
		assert_int_equal(st.datagrams_held, 0);
		assert_int_equal(st.bytes_held, 0);

		/* the same id from another source is another datagram */
		struct sv_packet p;
		const uint8_t *data;
		size_t len;
		frag_pkt(&fb, &p, v6, 100, p1[0].off, 1, d1.data, p1[0].len);
		assert_int_equal(sv_ipfrag_add(f, &p, 100 * SEC, &data, &len), 0);
		frag_pkt(&fb, &p, v6, 100, p1[0].off, 1, d1.data, p1[0].len);
		p.src[3] ^= 1;
		assert_int_equal(sv_ipfrag_add(f, &p, 100 * SEC, &data, &len), 0);
		sv_ipfrag_stats(f, &st);
		assert_int_equal(st.datagrams_held, 2);
		sv_ipfrag_free(f);
	}
	sv_buf_release(&d1);
	sv_buf_release(&d2);
	sv_buf_release(&fb);
	free(sip1);
	free(sip2);
}

static int add(struct sv_ipfrag *f, struct sv_buf *fb, int v6, uint32_t id, uint32_t off, int more,
               const uint8_t *data, size_t len, uint64_t now, const uint8_t **out, size_t *olen)
{
	struct sv_packet p;
	frag_pkt(fb, &p, v6, id, off, more, data, len);
	return sv_ipfrag_add(f, &p, now, out, olen);
}

/* Overlaps: IPv4 accepts identical overlapping bytes and drops conflicting
 * ones; IPv6 drops any overlap (RFC 5722) and the fragments after it. */
static void test_overlaps(void **state)
{
	(void)state;
	uint8_t d[64];
	for (int i = 0; i < 64; i++)
		d[i] = (uint8_t)(i * 7 + 1);
	struct sv_buf fb;
	sv_buf_init(&fb);
	const uint8_t *out;
	size_t olen;
	struct sv_ipfrag_stats st;

	/* v4, identical overlap: [0,32) [16,48) [40,64) */
	struct sv_ipfrag *f = sv_ipfrag_new(NULL);
	assert_int_equal(add(f, &fb, 0, 1, 0, 1, d, 32, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 0, 1, 16, 1, d + 16, 32, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 0, 1, 40, 0, d + 40, 24, SEC, &out, &olen), 1);
	assert_int_equal(olen, 64);
	assert_memory_equal(out, d, 64);

	/* v4, conflicting overlap */
	uint8_t bad[32];
	memcpy(bad, d + 16, 32);
	bad[5] ^= 0xff;
	assert_int_equal(add(f, &fb, 0, 2, 0, 1, d, 32, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 0, 2, 16, 1, bad, 32, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 0, 2, 48, 0, d + 48, 16, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 0, 2, 32, 1, d + 32, 16, SEC, &out, &olen), 0);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.drop_overlap, 1);
	assert_int_equal(st.drop_late, 2);
	assert_int_equal(st.reassembled, 1);
	assert_int_equal(st.bytes_held, 0);
	sv_ipfrag_free(f);

	/* v6: an identical overlap is still an overlap */
	f = sv_ipfrag_new(NULL);
	assert_int_equal(add(f, &fb, 1, 3, 0, 1, d, 32, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 1, 3, 16, 1, d + 16, 32, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 1, 3, 48, 0, d + 48, 16, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 1, 3, 32, 1, d + 32, 16, SEC, &out, &olen), 0);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.drop_overlap, 1);
	assert_int_equal(st.drop_late, 2);
	assert_int_equal(st.reassembled, 0);
	/* but an exact duplicate is not */
	assert_int_equal(add(f, &fb, 1, 4, 0, 1, d, 32, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 1, 4, 0, 1, d, 32, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 1, 4, 32, 0, d + 32, 32, SEC, &out, &olen), 1);
	assert_memory_equal(out, d, 64);
	/* a tombstone goes away at the timeout; the id can then be reused */
	sv_ipfrag_expire(f, 40 * SEC);
	assert_int_equal(add(f, &fb, 1, 3, 0, 1, d, 32, 41 * SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 1, 3, 32, 0, d + 32, 32, 41 * SEC, &out, &olen), 1);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.drop_timeout, 0); /* tombstones are not counted twice */
	sv_ipfrag_free(f);
	sv_buf_release(&fb);
}

static void test_malformed(void **state)
{
	(void)state;
	uint8_t d[128];
	memset(d, 'x', sizeof(d));
	struct sv_buf fb;
	sv_buf_init(&fb);
	const uint8_t *out;
	size_t olen;
	struct sv_ipfrag_stats st;
	struct sv_ipfrag *f = sv_ipfrag_new(NULL);

	/* non-last fragment not a multiple of 8 */
	assert_int_equal(add(f, &fb, 0, 1, 0, 1, d, 30, SEC, &out, &olen), 0);
	/* two different ends */
	assert_int_equal(add(f, &fb, 0, 2, 64, 0, d, 16, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 0, 2, 64, 0, d, 24, SEC, &out, &olen), 0);
	/* data past the end */
	assert_int_equal(add(f, &fb, 0, 3, 64, 0, d, 16, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 0, 3, 72, 1, d, 16, SEC, &out, &olen), 0);
	/* a last fragment before data already held */
	assert_int_equal(add(f, &fb, 0, 4, 64, 1, d, 16, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 0, 4, 8, 0, d, 16, SEC, &out, &olen), 0);
	/* beyond 65535 */
	assert_int_equal(add(f, &fb, 1, 5, 65528, 0, d, 16, SEC, &out, &olen), 0);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.drop_malformed, 5);
	assert_int_equal(st.bytes_held, 0);

	/* not a fragment, NULL args */
	struct sv_packet p;
	memset(&p, 0, sizeof(p));
	assert_int_equal(sv_ipfrag_add(f, &p, SEC, &out, &olen), -EINVAL);
	assert_int_equal(sv_ipfrag_add(NULL, &p, SEC, &out, &olen), -EINVAL);
	/* offset 0 without MF: a whole datagram, returned at once */
	frag_pkt(&fb, &p, 0, 9, 0, 1, d, 16);
	p.frag_more = 0;
	assert_int_equal(sv_ipfrag_add(f, &p, SEC, &out, &olen), 1);
	assert_int_equal(olen, 16);

	/* a fragment cut short by the snap length */
	make_frag(&fb, 0, 10, 0, 1, d, 64);
	assert_int_equal(sv_packet_decode(SV_PACKET_LINK_RAW, fb.data, fb.len - 10, &p), 0);
	assert_true(p.flags & SV_PACKET_F_TRUNC);
	assert_int_equal(sv_ipfrag_add(f, &p, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 0, 10, 64, 0, d, 8, SEC, &out, &olen), 0);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.drop_truncated, 1);
	assert_int_equal(st.drop_late, 1);
	sv_ipfrag_free(f);
	sv_ipfrag_free(NULL);
	sv_buf_release(&fb);
}

static void test_timeout(void **state)
{
	(void)state;
	uint8_t d[64];
	memset(d, 'y', sizeof(d));
	struct sv_buf fb;
	sv_buf_init(&fb);
	const uint8_t *out;
	size_t olen;
	struct sv_ipfrag_stats st;
	struct sv_ipfrag_config cfg;
	sv_ipfrag_config_default(&cfg);
	cfg.timeout_ns = 5 * SEC;
	struct sv_ipfrag *f = sv_ipfrag_new(&cfg);

	assert_int_equal(add(f, &fb, 0, 1, 0, 1, d, 32, 10 * SEC, &out, &olen), 0);
	/* just inside the timeout: completes */
	assert_int_equal(add(f, &fb, 0, 1, 32, 0, d, 32, 15 * SEC - 1, &out, &olen), 1);
	/* at the timeout: the first part is gone, the rest waits again */
	assert_int_equal(add(f, &fb, 0, 2, 0, 1, d, 32, 20 * SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 0, 2, 32, 0, d, 32, 25 * SEC, &out, &olen), 0);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.drop_timeout, 1);
	assert_int_equal(st.datagrams_held, 1);
	sv_ipfrag_expire(f, 31 * SEC);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.drop_timeout, 2);
	assert_int_equal(st.datagrams_held, 0);
	assert_int_equal(st.bytes_held, 0);
	sv_ipfrag_free(f);
	sv_buf_release(&fb);
}

/* The memory and count bounds evict the oldest datagram first. */
static void test_bounds(void **state)
{
	(void)state;
	uint8_t d[1024];
	memset(d, 'z', sizeof(d));
	struct sv_buf fb;
	sv_buf_init(&fb);
	const uint8_t *out;
	size_t olen;
	struct sv_ipfrag_stats st;
	struct sv_ipfrag_config cfg;
	sv_ipfrag_config_default(&cfg);
	cfg.max_bytes = 3 * (512 + SV_IPFRAG_FRAG_OVERHEAD);
	cfg.max_datagrams = 4;
	cfg.max_fragments = 8;
	struct sv_ipfrag *f = sv_ipfrag_new(&cfg);

	/* three half datagrams fill the memory; a fourth evicts the oldest */
	for (uint32_t id = 1; id <= 4; id++)
		assert_int_equal(add(f, &fb, 0, id, 0, 1, d, 512, id * SEC, &out, &olen), 0);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.drop_evicted, 1);
	assert_true(st.bytes_held <= cfg.max_bytes);
	/* id 1 is gone: its second half starts a new datagram (evicting id 2) */
	assert_int_equal(add(f, &fb, 0, 1, 512, 0, d, 512, 5 * SEC, &out, &olen), 0);
	/* id 4 still completes (evicting id 3 to make room) */
	assert_int_equal(add(f, &fb, 0, 4, 512, 0, d, 512, 5 * SEC, &out, &olen), 1);
	assert_int_equal(olen, 1024);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.drop_evicted, 3);
	assert_int_equal(st.datagrams_held, 1);
	assert_int_equal(st.bytes_held, 512 + SV_IPFRAG_FRAG_OVERHEAD);

	/* one datagram larger than max_bytes cannot be held at all */
	sv_ipfrag_free(f);
	f = sv_ipfrag_new(&cfg);
	assert_int_equal(add(f, &fb, 0, 9, 0, 1, d, 1024, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 0, 9, 1024, 1, d, 1024, SEC, &out, &olen), 0);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.drop_evicted, 1);
	assert_int_equal(st.bytes_held, 0);

	/* count bound: five datagrams in progress with max 4 */
	sv_ipfrag_free(f);
	cfg.max_bytes = 1 << 20;
	f = sv_ipfrag_new(&cfg);
	for (uint32_t id = 1; id <= 5; id++)
		assert_int_equal(add(f, &fb, 1, id, 0, 1, d, 64, SEC, &out, &olen), 0);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.datagrams_held, 4);
	assert_int_equal(st.drop_evicted, 1);
	/* the oldest (1) went: 2..5 complete */
	for (uint32_t id = 2; id <= 5; id++)
		assert_int_equal(add(f, &fb, 1, id, 64, 0, d, 8, SEC, &out, &olen), 1);

	/* fragments per datagram */
	for (uint32_t k = 0; k < 8; k++)
		assert_int_equal(add(f, &fb, 1, 77, k * 16, 1, d, 8, SEC, &out, &olen), 0);
	assert_int_equal(add(f, &fb, 1, 77, 200, 1, d, 8, SEC, &out, &olen), 0);
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.drop_too_many, 1);
	sv_ipfrag_free(f);
	sv_buf_release(&fb);
}

/* ------------------------------------------------- synthesised captures */

static void pcap_header(FILE *fp)
{
	uint32_t h[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
	assert_int_equal(fwrite(h, sizeof(h), 1, fp), 1);
}

static void pcap_record(FILE *fp, uint32_t sec, uint32_t usec, int v6, const struct sv_buf *ip)
{
	uint8_t eth[14] = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00};
	if (v6) {
		eth[12] = 0x86;
		eth[13] = 0xdd;
	}
	uint32_t r[4] = {sec, usec, (uint32_t)(ip->len + 14), (uint32_t)(ip->len + 14)};
	assert_int_equal(fwrite(r, sizeof(r), 1, fp), 1);
	assert_int_equal(fwrite(eth, 14, 1, fp), 1);
	assert_int_equal(fwrite(ip->data, ip->len, 1, fp), 1);
}

/* Writes a capture of `n` big INVITEs, each fragmented at a 1500-byte MTU
 * and sent last fragment first for odd ones, with a small unfragmented
 * OPTIONS between them. */
static void write_fragmented_capture(const char *path, int v6, int n)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	pcap_header(fp);
	struct sv_buf dg, fb;
	sv_buf_init(&dg);
	sv_buf_init(&fb);
	uint32_t t = 1700000000;
	for (int i = 0; i < n; i++) {
		char callid[64];
		snprintf(callid, sizeof(callid), "frag-%s-%d@192.0.2.1", v6 ? "v6" : "v4", i);
		char *sip = big_invite(callid, i + 1, 2500 + (size_t)i * 700);
		make_udp(&dg, v6, sip);
		free(sip);
		struct piece pc[16];
		int np = split(dg.len, v6 ? 1448 : 1480, pc, 16);
		assert_true(np >= 2);
		for (int k = 0; k < np; k++) {
			int j = (i & 1) ? np - 1 - k : k;
			make_frag(&fb, v6, 0x1000u + (uint32_t)i, pc[j].off, pc[j].more,
			          dg.data + pc[j].off, pc[j].len);
			pcap_record(fp, t, (uint32_t)(i * 1000 + k), v6, &fb);
		}
		char opt[256];
		snprintf(opt, sizeof(opt),
		         "OPTIONS sip:ping@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1\r\n"
		         "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: opt-%d@x\r\n"
		         "CSeq: %d OPTIONS\r\nContent-Length: 0\r\n\r\n",
		         i, 100 + i);
		make_udp(&dg, v6, opt);
		/* an unfragmented packet: IP header + UDP */
		make_frag(&fb, v6, 0x2000u + (uint32_t)i, 0, 0, dg.data, dg.len);
		if (v6) {
			/* drop the fragment header: next header UDP, 8 bytes less */
			fb.data[6] = 17;
			sv_put_be16(fb.data + 4, (uint16_t)dg.len);
			memmove(fb.data + 40, fb.data + 48, fb.len - 48);
			fb.len -= 8;
		} else {
			sv_put_be16(fb.data + 6, 0);
			sv_put_be16(fb.data + 10, 0);
			sv_put_be16(fb.data + 10, csum_fold(csum_add(0, fb.data, 20)));
		}
		pcap_record(fp, t, (uint32_t)(i * 1000 + 500), v6, &fb);
	}
	sv_buf_release(&dg);
	sv_buf_release(&fb);
	assert_int_equal(fclose(fp), 0);
}

/* "Call-ID\tCSeq" lines for every SIP message our pipeline finds. */
static void ours(const char *path, struct sv_buf *out)
{
	struct sv_packet_reader *r;
	char err[256];
	assert_int_equal(sv_packet_reader_open(path, &r, err, sizeof(err)), 0);
	struct sv_ipfrag *f = sv_ipfrag_new(NULL);
	struct sv_packet p;
	uint64_t ts;
	int rc;
	while ((rc = sv_packet_reader_next(r, &p, &ts)) == 1) {
		assert_int_equal(p.decode_rc, 0);
		struct sv_packet whole = p;
		if (p.flags & SV_PACKET_F_FRAG) {
			const uint8_t *data;
			size_t len;
			int k = sv_ipfrag_add(f, &p, ts, &data, &len);
			assert_true(k >= 0);
			if (k == 0)
				continue;
			assert_int_equal(sv_packet_decode_l4(&whole, p.proto, data, len), 0);
		}
		assert_int_equal(whole.proto, SV_PACKET_PROTO_UDP);
		struct sv_sip_msg m;
		assert_int_equal(sv_sip_parse(whole.payload, whole.payload_len, &m), 0);
		sv_buf_printf(out, "%.*s\t%u %.*s\n", (int)m.call_id.len, m.call_id.p, m.cseq,
		              (int)m.cseq_method_name.len, m.cseq_method_name.p);
	}
	assert_int_equal(rc, 0);
	struct sv_ipfrag_stats st;
	sv_ipfrag_stats(f, &st);
	assert_int_equal(st.datagrams_held, 0);
	sv_ipfrag_free(f);
	sv_packet_reader_close(r);
}

static void test_fragmented_captures_against_tshark(void **state)
{
	(void)state;
	assert_true(tu_have_tshark());
	char *dir = tu_tmpdir();
	for (int v6 = 0; v6 <= 1; v6++) {
		char path[512], cmd[1024];
		snprintf(path, sizeof(path), "%s/frag%d.pcap", dir, v6 ? 6 : 4);
		write_fragmented_capture(path, v6, 6);
		struct sv_buf a, b;
		sv_buf_init(&a);
		sv_buf_init(&b);
		ours(path, &a);
		snprintf(cmd, sizeof(cmd),
		         "tshark -r '%s' -Y sip -T fields -e sip.Call-ID -e sip.CSeq 2>/dev/null",
		         path);
		assert_int_equal(tu_run(cmd, &b), 0);
		assert_int_equal(sv_buf_append(&a, "", 1), 0);
		assert_int_equal(sv_buf_append(&b, "", 1), 0);
		/* 6 INVITEs and 6 OPTIONS */
		int lines = 0;
		for (size_t i = 0; i < a.len; i++)
			lines += a.data[i] == '\n';
		assert_int_equal(lines, 12);
		assert_string_equal((char *)a.data, (char *)b.data);
		sv_buf_release(&a);
		sv_buf_release(&b);
	}
	tu_rmrf(dir);
	free(dir);
}

int main(void)
{
	inet_pton(AF_INET6, "2001:db8::1", SRC6);
	inet_pton(AF_INET6, "2001:db8::2", DST6);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_order),
	    cmocka_unit_test(test_duplicates_and_interleaving),
	    cmocka_unit_test(test_overlaps),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_fragmented_captures_against_tshark),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
