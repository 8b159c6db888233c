/*
 * Fuzzes the wire module three ways and aborts on any broken invariant:
 *  1. the input as a byte stream, fed to the streaming decoder in chunks
 *     whose sizes derive from the first byte, must yield exactly the frames
 *     (and the error) the one-shot parser finds;
 *  2. every frame that decodes must re-encode to the same bytes (or to a
 *     prefix, for fixed-layout frames whose trailing bytes are ignored);
 *  3. the input as a raw payload of every frame type.
 */
#include "base/buf.h"
#include "base/errors.h"
#include "proto/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
	if (!ok)
		abort();
}

/* Re-encodes what a decoder accepted and compares it with the original. */
static void roundtrip(const struct sv_wire_frame *f)
{
	struct sv_buf b;
	int rc, dec = -1, exact = 1;
	sv_buf_init(&b);
	switch (f->type) {
	case SV_WIRE_HANDSHAKE: {
		struct sv_wire_handshake m;
		if ((dec = sv_wire_decode_handshake(f, &m)) == 0) {
			rc = sv_wire_encode_handshake(&b, f->seq, &m);
			check(rc == 0);
			exact = 0;
		}
		break;
	}
	case SV_WIRE_HANDSHAKE_ACK: {
		struct sv_wire_handshake_ack m;
		if ((dec = sv_wire_decode_handshake_ack(f, &m)) == 0) {
			check(sv_wire_encode_handshake_ack(&b, f->seq, &m) == 0);
			exact = 0;
		}
		break;
	}
	case SV_WIRE_DATA_SIP: {
		struct sv_wire_sip m;
		if ((dec = sv_wire_decode_sip(f, &m)) == 0)
			check(sv_wire_encode_sip(&b, f->seq, &m) == 0);
		break;
	}
	case SV_WIRE_DATA_RTCP:
	case SV_WIRE_DATA_RTCP_ADDR: {
		struct sv_wire_rtcp m;
		if ((dec = sv_wire_decode_rtcp(f, &m)) == 0)
			check(sv_wire_encode_rtcp(&b, f->seq, &m) == 0);
		break;
	}
	case SV_WIRE_DATA_LOG: {
		struct sv_wire_log m;
		if ((dec = sv_wire_decode_log(f, &m)) == 0)
			check(sv_wire_encode_log(&b, f->seq, &m) == 0);
		break;
	}
	case SV_WIRE_DATA_QUALITY: {
		struct sv_wire_quality m;
		if ((dec = sv_wire_decode_quality(f, &m)) == 0)
			check(sv_wire_encode_quality(&b, f->seq, &m) == 0);
		break;
	}
	case SV_WIRE_HEARTBEAT:
	case SV_WIRE_HEARTBEAT_ACK: {
		struct sv_wire_heartbeat m;
		if ((dec = sv_wire_decode_heartbeat(f, &m)) == 0)
			check(sv_wire_encode_heartbeat(&b, f->type, f->seq, m.ts_ns) == 0);
		exact = 0;
		break;
	}
	case SV_WIRE_ACK: {
		struct sv_wire_ack m;
		if ((dec = sv_wire_decode_ack(f, &m)) == 0)
			check(sv_wire_encode_ack(&b, f->seq, m.seq) == 0);
		exact = 0;
		break;
	}
	case SV_WIRE_AGENT_STATS: {
		struct sv_wire_stats m;
		if ((dec = sv_wire_decode_stats(f, &m)) == 0)
			check(sv_wire_encode_stats(&b, f->seq, &m) == 0);
		break;
	}
	default:
		break;
	}
	check(dec == 0 || dec == -1 || dec == SV_E_TRUNC || dec == SV_E_PARSE);
	if (dec == 0) {
		struct sv_wire_frame g;
		size_t used;
		check(sv_wire_frame_parse(b.data, b.len, &g, &used) == 0 && used == b.len);
		check(g.type == f->type && g.seq == f->seq);
		check(exact ? g.len == f->len : g.len <= f->len);
		check(g.len == 0 || memcmp(g.payload, f->payload, g.len) == 0);
	}
	sv_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned seed = data[0];
	data++;
	size--;

	/* The one-shot parser's view of the stream. */
	size_t off = 0, nframes = 0, used;
	int final = 0;
	struct sv_wire_frame f;
	while (off < size) {
		int rc = sv_wire_frame_parse(data + off, size - off, &f, &used);
		if (rc != 0) {
			final = rc;
			break;
		}
		roundtrip(&f);
		off += used;
		nframes++;
	}

	/* The streaming decoder must agree, whatever the chunking. */
	struct sv_wire_decoder d;
	sv_wire_decoder_init(&d);
	size_t pos = 0, got = 0, soff = 0;
	int rc = 0;
	while (pos < size && rc >= 0) {
		seed = seed * 1103515245u + 12345u;
		size_t chunk = (seed >> 16) % (data[pos] & 1 ? 7 : 300) + 1;
		if (chunk > size - pos)
			chunk = size - pos;
		/* An exact-size copy, freed once the decoder is done with it. */
		uint8_t *c = malloc(chunk);
		check(c != NULL);
		memcpy(c, data + pos, chunk);
		check(sv_wire_decoder_feed(&d, c, chunk) == 0);
		while ((rc = sv_wire_decoder_next(&d, &f)) == 1) {
			struct sv_wire_frame g;
			check(sv_wire_frame_parse(data + soff, size - soff, &g, &used) == 0);
			check(f.type == g.type && f.seq == g.seq && f.len == g.len);
			check(f.len == 0 || memcmp(f.payload, g.payload, f.len) == 0);
			soff += used;
			got++;
		}
		free(c);
		pos += chunk;
	}
	check(got == nframes);
	if (rc < 0)
		check(rc == final && sv_wire_decoder_fault(&d)[0] != '\0');
	else
		check(final == 0 || final == SV_E_AGAIN);
	if (rc == 0)
		check(sv_wire_decoder_pending(&d) == size - soff);
	check(d.cap <= SV_WIRE_HDR_LEN + SV_WIRE_MAX_PAYLOAD);
	sv_wire_decoder_release(&d);

	/* The input as the payload of every type. */
	if (size <= SV_WIRE_MAX_PAYLOAD) {
		for (unsigned t = 0; t <= 0x0c; t++) {
			f.version = 1;
			f.type = (uint8_t)t;
			f.len = (uint32_t)size;
			f.seq = seed;
			f.payload = data;
			roundtrip(&f);
		}
	}
	return 0;
}
