/*
 * fuzz_ipfrag: arbitrary fragment sequences through sv_ipfrag_add().
 *
 * Input: byte 0 selects the mode (bit 0: fragment bytes come from a pattern
 * that is a function of (datagram id, position), so every completed datagram
 * can be checked byte by byte; otherwise from the input). Then records of 7
 * bytes: flags (bit 0 IPv6, bit 1 more, bit 2 truncated, bit 3 other source),
 * id, offset (16 bits, in 8-byte units when bit 4 is set), length (16 bits,
 * capped), time step. Small bounds make eviction and timeouts happen; the
 * held bytes and datagrams must stay within them.
 */
#include "proto/ipfrag.h"
#include "proto/packet.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pattern(uint32_t id, int v6, uint32_t pos)
{
	return (uint8_t)(id * 31u + (uint32_t)v6 * 7u + pos * 13u + (pos >> 8));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[65536 + 8];
	struct sv_ipfrag_config cfg;
	sv_ipfrag_config_default(&cfg);
	cfg.max_bytes = 16384;
	cfg.max_datagrams = 8;
	cfg.max_fragments = 16;
	cfg.timeout_ns = 1000;
	if (size < 1)
		return 0;
	int patmode = data[0] & 1;
	size_t i = 1;
	struct sv_ipfrag *f = sv_ipfrag_new(&cfg);
	if (f == NULL)
		return 0;
	uint64_t now = 0;
	while (i + 7 <= size) {
		uint8_t fl = data[i];
		uint32_t id = data[i + 1] & 7;
		uint32_t off = (uint32_t)(data[i + 2] << 8 | data[i + 3]);
		size_t len = (size_t)(data[i + 4] << 8 | data[i + 5]) % 3000;
		now += data[i + 6];
		i += 7;
		if (fl & 0x10)
			off = (off & 0x1fff) * 8;
		int v6 = fl & 1;
		struct sv_packet p;
		memset(&p, 0, sizeof(p));
		p.family = v6 ? AF_INET6 : AF_INET;
		p.src[0] = 10;
		p.src[1] = (fl & 8) ? 1 : 0;
		p.dst[0] = 10;
		p.dst[3] = 2;
		p.proto = 17;
		p.flags = SV_PACKET_F_FRAG;
		p.frag_id = id;
		p.frag_offset = off;
		p.frag_more = (fl & 2) != 0;
		if (patmode) {
			for (size_t k = 0; k < len && k < sizeof(buf); k++)
				buf[k] =
				    pattern(id + ((fl & 8) ? 100u : 0u), v6, off + (uint32_t)k);
			p.payload = buf;
		} else {
			if (len > size - i)
				len = size - i;
			p.payload = data + i;
			i += len;
		}
		p.payload_len = p.l4_len = len;
		if ((fl & 4) && len > 0) {
			p.flags |= SV_PACKET_F_TRUNC;
			p.l4_len = len + 1;
		}
		const uint8_t *out;
		size_t olen;
		int rc = sv_ipfrag_add(f, &p, now, &out, &olen);
		if (rc == 1) {
			if (olen > 65535)
				abort();
			if (patmode && !(off == 0 && !p.frag_more))
				for (size_t k = 0; k < olen; k++)
					if (out[k] !=
					    pattern(id + ((fl & 8) ? 100u : 0u), v6, (uint32_t)k))
						abort();
			struct sv_packet whole = p;
			sv_packet_decode_l4(&whole, 17, out, olen);
		}
		struct sv_ipfrag_stats st;
		sv_ipfrag_stats(f, &st);
		if (st.bytes_held > cfg.max_bytes || st.datagrams_held > cfg.max_datagrams)
			abort();
	}
	sv_ipfrag_free(f);
	return 0;
}
