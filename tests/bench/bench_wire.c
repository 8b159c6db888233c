/*
 * bench_wire - throughput of the agent protocol codec.
 *
 * Builds a realistic stream (per 10 frames: 4 DATA_SIP of ~900 bytes,
 * 4 DATA_RTCP of ~100 bytes, 2 DATA_LOG of ~150 bytes), then measures:
 *   - encoding it into an sv_buf flushed every 64 KiB;
 *   - the streaming decoder with the stream fed as 64 KiB reads (the typical
 *     socket read), as 1448-byte TCP segments and as 100-byte pieces (most
 *     frames split), each piece first copied into a read buffer like recv();
 *   - the streaming decoder plus the per-type payload decoder.
 * Prints frames/s and MB/s for each. Not a test: run by `make bench`.
 */
#include "base/buf.h"
#include "base/errors.h"
#include "proto/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAMES 200000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char sip_text[900], log_text[150 - 8 - 2 - 32];
static unsigned char rtcp_pkt[100 - 8 - 2 - 32 - 4];
static const char call_id[] = "3c26700b8f9a4c05a1e4b8e1d2f3a4b5"; /* 32 bytes */

/* Encodes the stream into out; with flush_at > 0 the buffer is emptied each
 * time it holds that much (as a sender writing to its socket would). */
static int encode_stream(struct sv_buf *out, size_t flush_at)
{
	struct sv_wire_str cid = {(const uint8_t *)call_id, sizeof(call_id) - 1};
	struct sv_wire_addr a = {4, {192, 0, 2, 10}, 5060}, b = {4, {198, 51, 100, 20}, 5060};
	struct sv_wire_sip sip = {0, cid, SV_WIRE_DIR_INBOUND,
	                          a, b,   {(const uint8_t *)sip_text, 0}};
	struct sv_wire_rtcp rtcp = {0, cid, 0, 0, a, b, 0x1234, {rtcp_pkt, sizeof(rtcp_pkt)}};
	struct sv_wire_log log = {0, cid, {(const uint8_t *)log_text, sizeof(log_text)}};
	uint32_t seq = 0;
	int rc = 0;
	for (int i = 0; i < FRAMES && rc == 0; i++) {
		uint64_t ts = 1764151205000000000ULL + (uint64_t)i * 1000000;
		seq = sv_wire_seq_next(seq);
		switch (i % 10) {
		case 0:
		case 3:
		case 6:
		case 8:
			sip.ts_ns = ts;
			/* 8+2+32+1+12 = 55 bytes of fields, ~845 of SIP: ~900 in all */
			sip.sip.len = 845 - (size_t)(i % 40);
			rc = sv_wire_encode_sip(out, seq, &sip);
			break;
		case 1:
		case 4:
		case 7:
		case 9:
			rtcp.ts_ns = ts;
			rc = sv_wire_encode_rtcp(out, seq, &rtcp);
			break;
		default:
			log.ts_ns = ts;
			rc = sv_wire_encode_log(out, seq, &log);
			break;
		}
		if (flush_at > 0 && out->len >= flush_at)
			sv_buf_reset(out);
	}
	return rc;
}

static void report(const char *what, double secs, size_t frames, size_t bytes)
{
	printf("  %-44s %9.0f frames/s  %8.1f MB/s  (%.3f s)\n", what, (double)frames / secs,
	       (double)bytes / secs / 1e6, secs);
}

/* Returns the number of frames decoded, or -1 on an error. Each chunk is
 * first copied into a read buffer, as recv() would, so the decoder sees
 * cache-warm bytes as it does in the server. */
static long decode_stream(const struct sv_buf *s, size_t chunk, int payloads)
{
	static uint8_t rdbuf[65536];
	struct sv_wire_decoder d;
	struct sv_wire_frame f;
	long n = 0;
	uint64_t sink = 0;
	sv_wire_decoder_init(&d);
	for (size_t off = 0; off < s->len; off += chunk) {
		size_t len = s->len - off < chunk ? s->len - off : chunk;
		memcpy(rdbuf, s->data + off, len);
		if (sv_wire_decoder_feed(&d, rdbuf, len) != 0)
			return -1;
		int rc;
		while ((rc = sv_wire_decoder_next(&d, &f)) == 1) {
			n++;
			if (!payloads) {
				sink += f.len;
				continue;
			}
			union {
				struct sv_wire_sip sip;
				struct sv_wire_rtcp rtcp;
				struct sv_wire_log log;
			} m;
			switch (f.type) {
			case SV_WIRE_DATA_SIP:
				rc = sv_wire_decode_sip(&f, &m.sip);
				sink += m.sip.sip.len;
				break;
			case SV_WIRE_DATA_RTCP:
				rc = sv_wire_decode_rtcp(&f, &m.rtcp);
				sink += m.rtcp.ssrc;
				break;
			default:
				rc = sv_wire_decode_log(&f, &m.log);
				sink += m.log.line.len;
				break;
			}
			if (rc != 0)
				return -1;
		}
		if (rc < 0)
			return -1;
	}
	sv_wire_decoder_release(&d);
	return sink > 0 ? n : -1;
}

int main(void)
{
	memset(sip_text, 'S', sizeof(sip_text));
	memset(log_text, 'L', sizeof(log_text));
	memset(rtcp_pkt, 0x81, sizeof(rtcp_pkt));

	struct sv_buf s;
	sv_buf_init(&s);
	/* The stream the decoders read. */
	if (encode_stream(&s, 0) != 0) {
		fprintf(stderr, "bench_wire: encoding failed\n");
		return 1;
	}
	size_t bytes = s.len;
	struct sv_buf out;
	sv_buf_init(&out);
	double best = 1e9;
	for (int r = 0; r < 5; r++) {
		double t0 = now();
		if (encode_stream(&out, 65536) != 0)
			return 1;
		double t = now() - t0;
		best = t < best ? t : best;
	}
	sv_buf_release(&out);
	printf("wire: %d frames, %zu bytes (avg %.0f B/frame; 40%% SIP ~900 B, 40%% RTCP ~100 B, "
	       "20%% LOG ~150 B), best of 5\n",
	       FRAMES, bytes, (double)bytes / FRAMES);
	report("encode (64 KiB send buffer)", best, FRAMES, bytes);

	static const struct {
		const char *name;
		size_t chunk;
		int payloads;
	} runs[] = {
	    {"stream decode, 64 KiB reads", 65536, 0},
	    {"stream decode, 1448 B segments", 1448, 0},
	    {"stream decode, 100 B pieces", 100, 0},
	    {"stream + payload decode, 64 KiB reads", 65536, 1},
	    {"stream + payload decode, 1448 B segments", 1448, 1},
	};
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		best = 1e9;
		for (int r = 0; r < 5; r++) {
			double t0 = now();
			long n = decode_stream(&s, runs[i].chunk, runs[i].payloads);
			double t = now() - t0;
			if (n != FRAMES) {
				fprintf(stderr, "bench_wire: decoded %ld of %d frames\n", n,
				        FRAMES);
				return 1;
			}
			best = t < best ? t : best;
		}
		report(runs[i].name, best, FRAMES, bytes);
	}
	sv_buf_release(&s);
	return 0;
}
