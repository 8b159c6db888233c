/*
 * fuzz_tcpreasm: arbitrary segment sequences through sv_tcpreasm_add().
 *
 * Input: byte 0 selects the mode (bit 0: segment bytes are taken from a
 * fixed stream of two SIP messages repeated, at the segment's position, so
 * every message delivered must be one of the two (or the tail of one after
 * a resync), byte for byte; otherwise
 * from the input). Then records of 7 bytes: flags (bits 0-2 SYN/FIN/RST,
 * bit 3 reverse direction, bit 4 other port, bit 5 truncated), sequence
 * offset (16 bits, signed, relative to a base near 2^32), length (capped),
 * time step. Small bounds make holes, evictions and expiry happen; the held
 * bytes and streams must stay within them.
 */
#include "proto/packet.h"
#include "proto/tcpreasm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char M1[] = "INVITE sip:b@x SIP/2.0\r\nCall-ID: f1\r\nCSeq: 1 INVITE\r\n"
                         "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nContent-Length: 13\r\n\r\n"
                         "v=0\r\ns=-\r\nx\r\n";
static const char M2[] = "SIP/2.0 200 OK\r\nCall-ID: f1\r\nCSeq: 1 INVITE\r\n"
                         "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\n\r\n";

static int patmode;

static void on_msg(void *arg, const struct sv_tcpreasm_msg *m)
{
	(void)arg;
	if (m->len == 0)
		abort();
	if (patmode) {
		/* a whole message, or (after a mid-stream start or a gap, when
		 * the resync lands inside a start line that still parses, e.g.
		 * "E sip:b@x SIP/2.0") its tail: never bytes of two messages */
		const size_t l1 = sizeof(M1) - 1, l2 = sizeof(M2) - 1;
		int ok = (m->len <= l1 && memcmp(m->data, M1 + l1 - m->len, m->len) == 0) ||
		         (m->len <= l2 && memcmp(m->data, M2 + l2 - m->len, m->len) == 0);
		if (!ok)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[4096];
	const size_t l1 = sizeof(M1) - 1, per = sizeof(M1) - 1 + sizeof(M2) - 1;
	struct sv_tcpreasm_config cfg;
	sv_tcpreasm_config_default(&cfg);
	cfg.max_stream_bytes = 1024;
	cfg.max_total_bytes = 3000;
	cfg.max_streams = 3;
	cfg.idle_timeout_ns = 5000;
	cfg.hole_timeout_ns = 500;
	if (size < 1)
		return 0;
	patmode = data[0] & 1;
	const uint32_t base = 0xffffff00u;
	struct sv_tcpreasm *t = sv_tcpreasm_new(&cfg, on_msg, NULL);
	if (t == NULL)
		return 0;
	uint64_t now = 0;
	size_t i = 1;
	while (i + 7 <= size) {
		uint8_t fl = data[i];
		int16_t rel = (int16_t)(data[i + 1] << 8 | data[i + 2]);
		size_t len = (size_t)(data[i + 3] << 8 | data[i + 4]) % sizeof(buf);
		now += (uint64_t)(data[i + 5] << 8 | data[i + 6]) % 1000;
		i += 7;
		struct sv_packet p;
		memset(&p, 0, sizeof(p));
		p.family = AF_INET;
		p.proto = SV_PACKET_PROTO_TCP;
		uint8_t a[2] = {1, 2};
		int rev = (fl & 8) != 0;
		p.src[0] = a[rev];
		p.dst[0] = a[!rev];
		p.sport = rev ? 5060 : (fl & 16) ? 40001 : 40000;
		p.dport = rev ? ((fl & 16) ? 40001 : 40000) : 5060;
		p.tcp_flags = (uint8_t)(((fl & 1) ? SV_PACKET_TCP_SYN : 0) |
		                        ((fl & 2) ? SV_PACKET_TCP_FIN : 0) |
		                        ((fl & 4) ? SV_PACKET_TCP_RST : 0));
		if (fl & 1) {
			p.tcp_seq = base - 1;
			/* SYN data starts at base */
		} else {
			p.tcp_seq = base + (uint32_t)(int32_t)rel;
		}
		uint32_t pos = (fl & 1) ? 0 : (uint32_t)(int32_t)rel;
		if (patmode) {
			/* the stream's bytes at [pos, pos+len); positions before
			 * the base are garbage-free CRLFs */
			for (size_t k = 0; k < len; k++) {
				uint32_t q = pos + (uint32_t)k;
				if ((int32_t)q < 0) {
					buf[k] = (q & 1) ? '\n' : '\r';
					continue;
				}
				size_t r = q % per;
				buf[k] = (uint8_t)(r < l1 ? M1[r] : M2[r - l1]);
			}
			p.payload = buf;
		} else {
			if (len > size - i)
				len = size - i;
			p.payload = data + i;
			i += len;
		}
		p.payload_len = p.l4_len = len;
		if ((fl & 32) && !patmode)
			p.l4_len = len + 10;
		sv_tcpreasm_add(t, &p, now);
		struct sv_tcpreasm_stats st;
		sv_tcpreasm_stats(t, &st);
		if (st.bytes_held > cfg.max_total_bytes || st.streams_held > cfg.max_streams)
			abort();
	}
	sv_tcpreasm_expire(t, now + 1000000);
	sv_tcpreasm_free(t);
	return 0;
}
