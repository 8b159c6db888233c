/*
 * fuzz_packet: sv_packet_decode() over arbitrary bytes. The first byte picks
 * the link type, the rest is the frame. A decoded packet's payload must lie
 * inside the frame.
 */
#include "proto/packet.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int lts[] = {
	    SV_PACKET_LINK_ETHERNET,
	    SV_PACKET_LINK_SLL,
	    SV_PACKET_LINK_SLL2,
	    SV_PACKET_LINK_NULL,
	    SV_PACKET_LINK_LOOP,
	    SV_PACKET_LINK_RAW12,
	    SV_PACKET_LINK_RAW14,
	    SV_PACKET_LINK_RAW,
	    SV_PACKET_LINK_IPV4,
	    SV_PACKET_LINK_IPV6,
	    9999,
	};
	struct sv_packet p;
	char buf[SV_PACKET_ADDRSTRLEN];

	if (size < 1)
		return 0;
	int lt = lts[data[0] % (sizeof(lts) / sizeof(lts[0]))];
	const uint8_t *frame = data + 1;
	size_t len = size - 1;
	if (sv_packet_decode(lt, frame, len, &p) == 0) {
		if (p.payload_len > 0 &&
		    (p.payload < frame || p.payload + p.payload_len > frame + len))
			abort();
		if (p.payload_len > p.l4_len)
			abort();
		sv_packet_addr_str(p.family, p.src, p.sport, buf, sizeof(buf));
		sv_packet_addr_str(p.family, p.dst, p.dport, buf, sizeof(buf));
		/* what the agent does after reassembling a fragment */
		if (p.flags & SV_PACKET_F_FRAG)
			sv_packet_decode_l4(&p, p.proto, p.payload, p.payload_len);
	}
	return 0;
}
