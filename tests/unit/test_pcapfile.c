#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "base/gz.h"
#include "proto/packet.h"
#include "proto/pcapfile.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CALL_ID  "pcapw-test-1@example.org"
#define T0       1700000000ull
#define NRECS    10
#define BIG_BODY 70000

/* One message of the test call, and what tshark must find in it. */
struct msg {
	uint64_t ts_ns;
	int family;
	const char *src, *dst;
	uint16_t sport, dport;
	enum sv_pcap_transport transport;
	const char *cseqs; /* tshark's sip.CSeq values, '|'-joined */
	struct sv_buf text;
};

static void sip_msg(struct sv_buf *b, const char *first, int cseq, const char *method, size_t body)
{
	assert_int_equal(sv_buf_printf(b,
	                               "%s\r\n"
	                               "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK%d\r\n"
	                               "From: <sip:alice@example.org>;tag=a1\r\n"
	                               "To: <sip:bob@example.org>\r\n"
	                               "Call-ID: " CALL_ID "\r\n"
	                               "CSeq: %d %s\r\n"
	                               "Max-Forwards: 70\r\n"
	                               "Content-Type: text/plain\r\n"
	                               "Content-Length: %zu\r\n\r\n",
	                               first, cseq, cseq, method, body),
	                 0);
	for (size_t i = 0; i < body; i++)
		assert_int_equal(sv_buf_put_u8(b, (uint8_t)('a' + i % 26)), 0);
}

static void build_call(struct msg *m)
{
	static const struct {
		int family;
		const char *src, *dst;
		uint16_t sport, dport;
		enum sv_pcap_transport t;
		const char *cseqs;
	} plan[NRECS] = {
	    {AF_INET, "10.0.0.1", "10.0.0.2", 5060, 5060, SV_PCAP_UDP, "1 INVITE"},
	    {AF_INET, "10.0.0.2", "10.0.0.1", 5060, 5060, SV_PCAP_UDP, "1 INVITE"},
	    {AF_INET6, "2001:db8::1", "2001:db8::2", 5060, 5060, SV_PCAP_UDP, "2 OPTIONS"},
	    {AF_INET6, "2001:db8::2", "2001:db8::1", 5060, 5060, SV_PCAP_UDP, "2 OPTIONS"},
	    {AF_INET, "10.0.0.1", "10.0.0.2", 40001, 5060, SV_PCAP_TCP, "10 NOTIFY|11 NOTIFY"},
	    {AF_INET, "10.0.0.2", "10.0.0.1", 5060, 40001, SV_PCAP_TCP, "10 NOTIFY"},
	    {AF_INET, "10.0.0.1", "10.0.0.2", 40001, 5060, SV_PCAP_TCP, "12 MESSAGE"},
	    {AF_INET, "10.0.0.2", "10.0.0.1", 5060, 40001, SV_PCAP_TLS, "12 MESSAGE"},
	    {AF_INET6, "2001:db8::1", "2001:db8::2", 40002, 5060, SV_PCAP_WS, "20 INFO"},
	    {AF_INET6, "2001:db8::2", "2001:db8::1", 5060, 40002, SV_PCAP_SCTP, "20 INFO"},
	};
	for (int i = 0; i < NRECS; i++) {
		m[i].ts_ns = (T0 + (uint64_t)i) * 1000000000u + 123456789u + (uint64_t)i;
		m[i].family = plan[i].family;
		m[i].src = plan[i].src;
		m[i].dst = plan[i].dst;
		m[i].sport = plan[i].sport;
		m[i].dport = plan[i].dport;
		m[i].transport = plan[i].t;
		m[i].cseqs = plan[i].cseqs;
		sv_buf_init(&m[i].text);
	}
	sip_msg(&m[0].text, "INVITE sip:bob@example.org SIP/2.0", 1, "INVITE", 0);
	sip_msg(&m[1].text, "SIP/2.0 100 Trying", 1, "INVITE", 0);
	sip_msg(&m[2].text, "OPTIONS sip:bob@example.org SIP/2.0", 2, "OPTIONS", 0);
	sip_msg(&m[3].text, "SIP/2.0 200 OK", 2, "OPTIONS", 0);
	/* two messages coalesced in one write on the stream */
	sip_msg(&m[4].text, "NOTIFY sip:bob@example.org SIP/2.0", 10, "NOTIFY", 5);
	sip_msg(&m[4].text, "NOTIFY sip:bob@example.org SIP/2.0", 11, "NOTIFY", 7);
	sip_msg(&m[5].text, "SIP/2.0 200 OK", 10, "NOTIFY", 0);
	/* bigger than an IP packet: split across segments */
	sip_msg(&m[6].text, "MESSAGE sip:bob@example.org SIP/2.0", 12, "MESSAGE", BIG_BODY);
	sip_msg(&m[7].text, "SIP/2.0 200 OK", 12, "MESSAGE", 0);
	sip_msg(&m[8].text, "INFO sip:bob@example.org SIP/2.0", 20, "INFO", 3);
	sip_msg(&m[9].text, "SIP/2.0 200 OK", 20, "INFO", 0);
}

static void free_call(struct msg *m)
{
	for (int i = 0; i < NRECS; i++)
		sv_buf_release(&m[i].text);
}

static void to_rec(const struct msg *m, struct sv_pcap_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->ts_ns = m->ts_ns;
	r->family = m->family;
	assert_int_equal(inet_pton(m->family, m->src, r->src), 1);
	assert_int_equal(inet_pton(m->family, m->dst, r->dst), 1);
	r->sport = m->sport;
	r->dport = m->dport;
	r->transport = m->transport;
	r->payload = m->text.data;
	r->len = m->text.len;
}

/* Segments the writer makes of message m. */
static size_t nsegs(const struct msg *m)
{
	if (m->transport == SV_PCAP_UDP)
		return 1;
	return (m->text.len + SV_PCAPW_MAX_SEGMENT - 1) / SV_PCAPW_MAX_SEGMENT;
}

static void write_file(const char *path, const struct sv_buf *b)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
	assert_int_equal(fclose(f), 0);
}

static int split(char *s, char sep, char **f, int max)
{
	int n = 0;
	f[n++] = s;
	for (char *p = s; *p != '\0' && n < max; p++) {
		if (*p == sep) {
			*p = '\0';
			f[n++] = p + 1;
		}
	}
	return n;
}

static void expect(int frame, const char *what, const char *want, const char *got)
{
	if (strcmp(want, got) != 0)
		fail_msg("frame %d: %s is '%s', expected '%s'", frame, what, got, want);
}

/* tshark is the oracle: timestamps, addresses, ports, checksums, SIP. */
static void check_with_tshark(const char *path, struct msg *m)
{
	struct sv_buf out;
	char cmd[2048];
	sv_buf_init(&out);
	snprintf(cmd, sizeof(cmd),
	         "tshark -n -r '%s' -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE "
	         "-o tcp.check_checksum:TRUE -T fields -E occurrence=a -E aggregator='|' "
	         "-e frame.number -e frame.time_epoch -e ip.src -e ip.dst -e ipv6.src "
	         "-e ipv6.dst -e udp.srcport -e udp.dstport -e tcp.srcport -e tcp.dstport "
	         "-e sip.CSeq -e sip.Call-ID -e _ws.expert.severity -e _ws.malformed "
	         "-e ip.checksum.status -e udp.checksum.status -e tcp.checksum.status "
	         "-e tcp.analysis.flags 2>/dev/null",
	         path);
	assert_int_equal(tu_run(cmd, &out), 0);

	int frame = 0, sipmsgs = 0, wrote = 0;
	char *save = NULL;
	char *line = strtok_r((char *)out.data, "\n", &save);
	for (int i = 0; i < NRECS; i++) {
		size_t n = nsegs(&m[i]);
		for (size_t s = 0; s < n; s++) {
			if (line == NULL)
				fail_msg("tshark shows only %d frames", frame);
			char *f[18], want[128];
			frame++;
			if (split(line, '\t', f, 18) != 18)
				fail_msg("unexpected tshark line '%s'", line);
			snprintf(want, sizeof(want), "%d", frame);
			expect(frame, "number", want, f[0]);
			snprintf(want, sizeof(want), "%" PRIu64 ".%09" PRIu64,
			         m[i].ts_ns / 1000000000u, m[i].ts_ns % 1000000000u);
			expect(frame, "time", want, f[1]);
			int v4 = m[i].family == AF_INET;
			expect(frame, "src", m[i].src, v4 ? f[2] : f[4]);
			expect(frame, "dst", m[i].dst, v4 ? f[3] : f[5]);
			expect(frame, "other family src", "", v4 ? f[4] : f[2]);
			int udp = m[i].transport == SV_PCAP_UDP;
			snprintf(want, sizeof(want), "%u", m[i].sport);
			expect(frame, "sport", want, udp ? f[6] : f[8]);
			snprintf(want, sizeof(want), "%u", m[i].dport);
			expect(frame, "dport", want, udp ? f[7] : f[9]);
			/* SIP shows on the frame that completes the message */
			if (s + 1 == n) {
				expect(frame, "sip.CSeq", m[i].cseqs, f[10]);
				for (char *c = f[11]; c != NULL; c = strchr(c, '|')) {
					if (*c == '|')
						c++;
					assert_int_equal(strncmp(c, CALL_ID, strlen(CALL_ID)), 0);
					sipmsgs++;
				}
			} else {
				expect(frame, "sip.CSeq (not yet complete)", "", f[10]);
			}
			expect(frame, "expert", "", f[12]);
			expect(frame, "malformed", "", f[13]);
			/* checksum status 1 = good */
			expect(frame, "ip checksum", v4 ? "1" : "", f[14]);
			expect(frame, "udp checksum", udp ? "1" : "", f[15]);
			expect(frame, "tcp checksum", udp ? "" : "1", f[16]);
			expect(frame, "tcp analysis", "", f[17]);
			line = strtok_r(NULL, "\n", &save);
		}
		wrote += (int)(strchr(m[i].cseqs, '|') ? 2 : 1);
	}
	if (line != NULL)
		fail_msg("tshark shows more frames than written: '%s'", line);
	assert_int_equal(sipmsgs, wrote);
	sv_buf_release(&out);
}

/* Our own reader sees the same packets, and the TCP streams are consistent. */
static void check_with_reader(const char *path, struct msg *m)
{
	struct sv_packet_reader *r;
	struct sv_packet p;
	char err[256];
	uint64_t ts;
	uint32_t next_seq[2][2] = {{0}}; /* [stream v4/v6][direction] */
	int seen[2][2] = {{0}};

	if (sv_packet_reader_open(path, &r, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(sv_packet_reader_linktype(r), 12); /* LINKTYPE_RAW as DLT_RAW */
	for (int i = 0; i < NRECS; i++) {
		struct sv_pcap_rec want;
		struct sv_buf got;
		to_rec(&m[i], &want);
		sv_buf_init(&got);
		size_t n = nsegs(&m[i]);
		for (size_t s = 0; s < n; s++) {
			assert_int_equal(sv_packet_reader_next(r, &p, &ts), 1);
			assert_int_equal(p.decode_rc, 0);
			assert_int_equal(ts, m[i].ts_ns);
			assert_int_equal(p.family, m[i].family);
			assert_memory_equal(p.src, want.src, 16);
			assert_memory_equal(p.dst, want.dst, 16);
			assert_int_equal(p.sport, m[i].sport);
			assert_int_equal(p.dport, m[i].dport);
			assert_int_equal(p.flags, 0);
			assert_int_equal(p.ttl, 64);
			if (m[i].transport == SV_PCAP_UDP) {
				assert_int_equal(p.proto, SV_PACKET_PROTO_UDP);
			} else {
				assert_int_equal(p.proto, SV_PACKET_PROTO_TCP);
				assert_int_equal(p.tcp_flags,
				                 SV_PACKET_TCP_PSH | SV_PACKET_TCP_ACK);
				assert_true(p.payload_len <= SV_PCAPW_MAX_SEGMENT);
				int st = m[i].family == AF_INET6;
				int dir = m[i].sport == 5060;
				if (seen[st][dir])
					assert_int_equal(p.tcp_seq, next_seq[st][dir]);
				/* the ACK is the peer's next sequence number */
				if (seen[st][!dir])
					assert_int_equal(p.tcp_ack, next_seq[st][!dir]);
				seen[st][dir] = 1;
				next_seq[st][dir] = p.tcp_seq + (uint32_t)p.payload_len;
			}
			assert_int_equal(sv_buf_append(&got, p.payload, p.payload_len), 0);
		}
		assert_int_equal(got.len, m[i].text.len);
		assert_memory_equal(got.data, m[i].text.data, got.len);
		sv_buf_release(&got);
	}
	assert_int_equal(sv_packet_reader_next(r, &p, &ts), 0);
	sv_packet_reader_close(r);
}

static void test_call_against_tshark(void **state)
{
	struct msg m[NRECS];
	struct sv_pcapw w;
	struct sv_buf pcap, gz, plain;
	if (!tu_have_tshark())
		fail_msg("tshark is needed as the oracle");
	build_call(m);
	assert_true(m[6].text.len > 70000);
	sv_pcapw_init(&w);
	sv_buf_init(&pcap);
	sv_buf_init(&gz);
	sv_buf_init(&plain);
	size_t frames = 0;
	for (int i = 0; i < NRECS; i++) {
		struct sv_pcap_rec r;
		to_rec(&m[i], &r);
		assert_int_equal(sv_pcapw_add(&w, &r), 0);
		frames += nsegs(&m[i]);
	}
	assert_int_equal(w.count, frames);
	assert_int_equal(frames, NRECS + 1); /* the big MESSAGE takes two segments */
	assert_int_equal(sv_pcapw_finish(&w, &pcap), 0);
	assert_int_equal(sv_pcapw_finish_gz(&w, &gz), 0);
	/* the nanosecond magic, big-endian */
	static const uint8_t magic[4] = {0xa1, 0xb2, 0x3c, 0x4d};
	assert_memory_equal(pcap.data, magic, 4);
	assert_int_equal(sv_be32(pcap.data + 20), 101);
	assert_int_equal(sv_gz_decompress(gz.data, gz.len, 1 << 24, &plain), 0);
	assert_int_equal(plain.len, pcap.len);
	assert_memory_equal(plain.data, pcap.data, pcap.len);

	char *dir = tu_tmpdir();
	char p1[512], p2[512];
	snprintf(p1, sizeof(p1), "%s/sip.pcap", dir);
	snprintf(p2, sizeof(p2), "%s/sip.pcap.gz", dir);
	write_file(p1, &pcap);
	write_file(p2, &gz);
	check_with_tshark(p1, m);
	check_with_tshark(p2, m);
	check_with_reader(p1, m);
	check_with_reader(p2, m);
	tu_rmrf(dir);
	free(dir);
	sv_pcapw_release(&w);
	sv_buf_release(&pcap);
	sv_buf_release(&gz);
	sv_buf_release(&plain);
	free_call(m);
}

/* Small segments: every piece carries the right sequence number and tshark
 * still reassembles the one message. */
static void test_small_segments(void **state)
{
	struct msg m[NRECS];
	struct sv_pcapw w;
	struct sv_buf pcap;
	build_call(m);
	sv_pcapw_init(&w);
	sv_buf_init(&pcap);
	w.segment = 1000;
	struct sv_pcap_rec r;
	to_rec(&m[6], &r);
	assert_int_equal(sv_pcapw_add(&w, &r), 0);
	size_t n = (m[6].text.len + 999) / 1000;
	assert_int_equal(w.count, n);
	assert_int_equal(sv_pcapw_finish(&w, &pcap), 0);

	char *dir = tu_tmpdir();
	char path[512], cmd[1024];
	snprintf(path, sizeof(path), "%s/small.pcap", dir);
	write_file(path, &pcap);
	struct sv_packet_reader *rd;
	struct sv_packet p;
	uint64_t ts;
	char err[256];
	assert_int_equal(sv_packet_reader_open(path, &rd, err, sizeof(err)), 0);
	uint32_t seq = 0;
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sv_packet_reader_next(rd, &p, &ts), 1);
		if (i > 0)
			assert_int_equal(p.tcp_seq, seq);
		seq = p.tcp_seq + (uint32_t)p.payload_len;
		assert_memory_equal(p.payload, m[6].text.data + total, p.payload_len);
		total += p.payload_len;
	}
	assert_int_equal(total, m[6].text.len);
	assert_int_equal(sv_packet_reader_next(rd, &p, &ts), 0);
	sv_packet_reader_close(rd);

	struct sv_buf out;
	sv_buf_init(&out);
	snprintf(cmd, sizeof(cmd),
	         "tshark -n -r '%s' -o tcp.check_checksum:TRUE -Y 'sip && !_ws.expert' "
	         "-T fields -e sip.CSeq 2>/dev/null",
	         path);
	assert_int_equal(tu_run(cmd, &out), 0);
	assert_string_equal((char *)out.data, "12 MESSAGE\n");
	sv_buf_release(&out);
	tu_rmrf(dir);
	free(dir);
	sv_pcapw_release(&w);
	sv_buf_release(&pcap);
	free_call(m);
}

static void test_limits_and_errors(void **state)
{
	struct sv_pcapw w;
	struct sv_pcap_rec r;
	struct sv_buf out;
	uint8_t *big = calloc(1, 70000);
	assert_non_null(big);
	sv_pcapw_init(&w);
	sv_buf_init(&out);
	memset(&r, 0, sizeof(r));
	r.family = AF_INET;
	r.payload = big;

	/* the largest UDP payload in one IPv4 packet, and one byte more */
	r.len = 65507;
	assert_int_equal(sv_pcapw_add(&w, &r), 0);
	r.len = 65508;
	assert_int_equal(sv_pcapw_add(&w, &r), SV_E_TOOBIG);
	r.family = AF_INET6;
	r.len = 65527;
	assert_int_equal(sv_pcapw_add(&w, &r), 0);
	r.len = 65528;
	assert_int_equal(sv_pcapw_add(&w, &r), SV_E_TOOBIG);
	assert_int_equal(w.count, 2);

	/* bad arguments add nothing */
	size_t before = w.body.len;
	r.len = 10;
	r.family = 99;
	assert_int_equal(sv_pcapw_add(&w, &r), -EINVAL);
	r.family = AF_INET;
	r.transport = (enum sv_pcap_transport)42;
	assert_int_equal(sv_pcapw_add(&w, &r), -EINVAL);
	r.transport = SV_PCAP_TCP;
	r.payload = NULL;
	assert_int_equal(sv_pcapw_add(&w, &r), -EINVAL);
	r.payload = big;
	w.segment = 0;
	assert_int_equal(sv_pcapw_add(&w, &r), -EINVAL);
	w.segment = SV_PCAPW_MAX_SEGMENT + 1;
	assert_int_equal(sv_pcapw_add(&w, &r), -EINVAL);
	assert_int_equal(w.body.len, before);
	w.segment = SV_PCAPW_MAX_SEGMENT;

	/* an empty TCP message is one empty segment; the largest segment fits IPv4 */
	r.len = 0;
	r.payload = NULL;
	assert_int_equal(sv_pcapw_add(&w, &r), 0);
	r.payload = big;
	r.len = SV_PCAPW_MAX_SEGMENT;
	assert_int_equal(sv_pcapw_add(&w, &r), 0);
	assert_int_equal(w.count, 4);
	assert_int_equal(sv_pcapw_finish(&w, &out), 0);

	/* every packet decodes */
	size_t off = 24;
	int n = 0;
	while (off < out.len) {
		uint32_t incl = sv_be32(out.data + off + 8);
		/* IPv4 total length, or IPv6 payload length, at most 65535 */
		if ((out.data[off + 16] >> 4) == 4)
			assert_true(incl <= 65535);
		else
			assert_true(incl - 40 <= 65535);
		struct sv_packet p;
		assert_int_equal(
		    sv_packet_decode(SV_PACKET_LINK_RAW, out.data + off + 16, incl, &p), 0);
		assert_int_equal(p.flags, 0);
		off += 16 + incl;
		n++;
	}
	assert_int_equal(off, out.len);
	assert_int_equal(n, 4);

	/* an empty writer gives a header-only file; release makes it reusable */
	sv_pcapw_release(&w);
	sv_pcapw_release(NULL);
	sv_buf_reset(&out);
	assert_int_equal(sv_pcapw_finish(&w, &out), 0);
	assert_int_equal(out.len, 24);
	sv_buf_release(&out);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_call_against_tshark),
	    cmocka_unit_test(test_small_segments),
	    cmocka_unit_test(test_limits_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
