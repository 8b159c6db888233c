/*
 * torture_hep: every hep corpus packet parsed (compressed payloads inflate
 * into a scratch buffer), its RTCP payload decoded (binary, or JSON through
 * jansson), the packet re-encoded; inputs that look like JSON also go to the
 * HEP RTCP JSON reader directly. Plus the packets of a real HEP capture.
 */
#include "torture.h"

#include "base/buf.h"
#include "proto/hep.h"
#include "proto/packet.h"
#include "proto/rtcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sv_rtcp_compound c;

static void rtcp_out(void)
{
	torture_output(&c.n_packets, sizeof(c.n_packets));
	torture_output(&c.n_blocks, sizeof(c.n_blocks));
	for (size_t i = 0; i < c.n_blocks; i++) {
		torture_output(&c.blocks[i].ssrc, sizeof(c.blocks[i].ssrc));
		torture_output(&c.blocks[i].jitter, sizeof(c.blocks[i].jitter));
	}
}

static int op(const uint8_t *data, size_t len)
{
	struct sv_buf scratch, enc;
	struct sv_hep h;
	size_t flen = 0;

	sv_buf_init(&scratch);
	sv_buf_init(&enc);
	if (len > 0 && (data[0] == '{' || data[0] == '[') &&
	    torture_step(sv_hep_rtcp_json_parse((const char *)data, len, &c)) == 0)
		rtcp_out();
	if (torture_step(sv_hep_frame_len(data, len, &flen)) == 0)
		torture_output(&flen, sizeof(flen));
	if (torture_step(sv_hep_parse(data, len, &h, &scratch)) == 0) {
		torture_output(h.payload, h.payload_len);
		torture_output(h.correlation_id, h.correlation_id_len);
		if (torture_step(sv_hep_rtcp(&h, &c)) == 0)
			rtcp_out();
		if (torture_step(sv_hep_encode(&h, &enc)) == 0)
			torture_output(enc.data, enc.len);
	}
	sv_buf_release(&scratch);
	sv_buf_release(&enc);
	return torture_rc();
}

/* The UDP payloads of a capture, as HEP packets (set-up, not tortured). */
static void capture(const char *rel, size_t max_packets)
{
	const char *shared = getenv("SV_SHARED_DATA");
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s",
	         shared != NULL ? shared : TORTURE_SOURCE_DIR "/../shared/data", rel);
	struct sv_packet_reader *r = NULL;
	char err[256];
	if (sv_packet_reader_open(path, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "hep: %s: %s, skipped\n", path, err);
		return;
	}
	struct sv_packet p;
	uint64_t ts;
	size_t n = 0;
	int rc;
	while (n < max_packets && (rc = sv_packet_reader_next(r, &p, &ts)) == 1) {
		if (p.decode_rc != 0 || p.proto != SV_PACKET_PROTO_UDP || p.payload_len == 0)
			continue;
		char name[64];
		snprintf(name, sizeof(name), "hep.pcap#%zu", n++);
		torture_input(name, op, p.payload, p.payload_len);
	}
	sv_packet_reader_close(r);
}

int main(void)
{
	torture_init("hep");
	torture_dir("tests/fuzz/corpus/hep", op, 20, 65536);
	capture("pcap/hep/hep.pcap", 20);
	return torture_done();
}
