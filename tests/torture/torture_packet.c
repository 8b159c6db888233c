/*
 * torture_packet: the capture path of the agent. Real captures are read with
 * the pcap reader (plain and pcapng), decoded, fragments reassembled by ipfrag
 * and TCP segments by tcpreasm; the ipfrag and tcpreasm corpora (records of
 * the fuzz targets' format: flags, id/seq, offset, length, time step) drive
 * those two directly; the packet corpus frames go through sv_packet_decode.
 * libpcap's own allocations are not seen (shared library).
 */
#include "torture.h"

#include "proto/ipfrag.h"
#include "proto/packet.h"
#include "proto/tcpreasm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_FRAMES 300

static void on_msg(void *arg, const struct sv_tcpreasm_msg *m)
{
	(void)arg;
	torture_output(m->data, m->len);
}

static void frag(struct sv_ipfrag *f, const struct sv_packet *p, uint64_t now)
{
	const uint8_t *out;
	size_t olen;
	if (torture_step(sv_ipfrag_add(f, p, now, &out, &olen)) == 1) {
		struct sv_packet whole = *p;
		if (torture_step(sv_packet_decode_l4(&whole, p->proto, out, olen)) == 0)
			torture_output(whole.payload, whole.payload_len);
	}
}

static struct sv_tcpreasm *tcp_new(void)
{
	struct sv_tcpreasm_config cfg;
	sv_tcpreasm_config_default(&cfg);
	cfg.max_stream_bytes = 1024;
	cfg.max_total_bytes = 3000;
	cfg.max_streams = 3;
	cfg.idle_timeout_ns = 5000;
	cfg.hole_timeout_ns = 500;
	return sv_tcpreasm_new(&cfg, on_msg, NULL);
}

static struct sv_ipfrag *frag_new(void)
{
	struct sv_ipfrag_config cfg;
	sv_ipfrag_config_default(&cfg);
	cfg.max_bytes = 16384;
	cfg.max_datagrams = 8;
	cfg.max_fragments = 16;
	cfg.timeout_ns = 1000;
	return sv_ipfrag_new(&cfg);
}

/* data is the capture's path. */
static int op_capture(const uint8_t *data, size_t len)
{
	struct sv_packet_reader *r = NULL;
	struct sv_ipfrag *f = NULL;
	struct sv_tcpreasm *t = NULL;
	struct sv_tcpreasm_config tc;
	char err[256];
	uint64_t ts = 0;
	int rc;

	(void)len;
	if (torture_step(sv_packet_reader_open((const char *)data, &r, err, sizeof(err))) != 0)
		return torture_rc();
	sv_tcpreasm_config_default(&tc);
	if ((f = sv_ipfrag_new(NULL)) == NULL || (t = sv_tcpreasm_new(&tc, on_msg, NULL)) == NULL) {
		torture_step(-ENOMEM);
		goto out;
	}
	struct sv_packet p;
	for (int n = 0;
	     n < MAX_FRAMES && (rc = torture_step(sv_packet_reader_next(r, &p, &ts))) == 1; n++) {
		if (p.decode_rc != 0)
			continue;
		if (p.flags & SV_PACKET_F_FRAG)
			frag(f, &p, ts);
		else if (p.proto == SV_PACKET_PROTO_TCP)
			torture_step(sv_tcpreasm_add(t, &p, ts));
		else
			torture_output(p.payload, p.payload_len);
	}
	sv_tcpreasm_expire(t, ts + 3600000000000ull);
out:
	sv_tcpreasm_free(t);
	sv_ipfrag_free(f);
	sv_packet_reader_close(r);
	return torture_rc();
}

/* The ipfrag corpus: byte 0 a mode (ignored), then 7-byte records: flags
 * (bit 0 IPv6, 1 more fragments, 2 truncated, 3 other source, 4 offset in
 * 8-byte units), id, offset (16 bits), length (16 bits), time step; the
 * fragment's bytes follow the record. */
static int op_ipfrag(const uint8_t *data, size_t len)
{
	struct sv_ipfrag *f = frag_new();
	uint64_t now = 0;
	if (f == NULL)
		return torture_step(-ENOMEM);
	for (size_t i = 1; i + 7 <= len;) {
		uint8_t fl = data[i];
		uint32_t off = (uint32_t)(data[i + 2] << 8 | data[i + 3]);
		size_t n = (size_t)(data[i + 4] << 8 | data[i + 5]) % 3000;
		struct sv_packet p;
		memset(&p, 0, sizeof(p));
		p.family = (fl & 1) ? AF_INET6 : AF_INET;
		p.src[0] = 10;
		p.src[1] = (fl & 8) ? 1 : 0;
		p.dst[0] = 10;
		p.proto = SV_PACKET_PROTO_UDP;
		p.flags = SV_PACKET_F_FRAG;
		p.frag_id = data[i + 1] & 7;
		p.frag_offset = (fl & 0x10) ? (off & 0x1fff) * 8 : off;
		p.frag_more = (fl & 2) != 0;
		now += data[i + 6];
		i += 7;
		if (n > len - i)
			n = len - i;
		p.payload = data + i;
		p.payload_len = p.l4_len = n;
		if ((fl & 4) && n > 0) {
			p.flags |= SV_PACKET_F_TRUNC;
			p.l4_len = n + 1;
		}
		i += n;
		frag(f, &p, now);
	}
	sv_ipfrag_expire(f, now + 1000000);
	sv_ipfrag_free(f);
	return torture_rc();
}

/* The tcpreasm corpus: byte 0 a mode (ignored), then 7-byte records: flags
 * (bits 0-2 SYN/FIN/RST, 3 reverse direction, 4 other port), sequence offset
 * (signed 16 bits), length, time step; the segment's bytes follow. */
static int op_tcpreasm(const uint8_t *data, size_t len)
{
	struct sv_tcpreasm *t = tcp_new();
	uint64_t now = 0;
	if (t == NULL)
		return torture_step(-ENOMEM);
	for (size_t i = 1; i + 7 <= len;) {
		uint8_t fl = data[i];
		int16_t rel = (int16_t)(data[i + 1] << 8 | data[i + 2]);
		size_t n = (size_t)(data[i + 3] << 8 | data[i + 4]) % 4096;
		now += (uint64_t)(data[i + 5] << 8 | data[i + 6]) % 1000;
		i += 7;
		struct sv_packet p;
		memset(&p, 0, sizeof(p));
		p.family = AF_INET;
		p.proto = SV_PACKET_PROTO_TCP;
		int rev = (fl & 8) != 0;
		p.src[0] = rev ? 2 : 1;
		p.dst[0] = rev ? 1 : 2;
		p.sport = rev ? 5060 : (fl & 16) ? 40001 : 40000;
		p.dport = rev ? ((fl & 16) ? 40001 : 40000) : 5060;
		p.tcp_flags = (uint8_t)(((fl & 1) ? SV_PACKET_TCP_SYN : 0) |
		                        ((fl & 2) ? SV_PACKET_TCP_FIN : 0) |
		                        ((fl & 4) ? SV_PACKET_TCP_RST : 0));
		p.tcp_seq = (fl & 1) ? 0xfffffeffu : 0xffffff00u + (uint32_t)(int32_t)rel;
		if (n > len - i)
			n = len - i;
		p.payload = data + i;
		p.payload_len = p.l4_len = n;
		i += n;
		torture_step(sv_tcpreasm_add(t, &p, now));
	}
	sv_tcpreasm_expire(t, now + 1000000);
	sv_tcpreasm_free(t);
	return torture_rc();
}

static int op_frame(const uint8_t *data, size_t len)
{
	struct sv_packet p;
	if (len > 0 && torture_step(sv_packet_decode(data[0], data + 1, len - 1, &p)) == 0)
		torture_output(p.payload, p.payload_len);
	return torture_rc();
}

static void capture(const char *rel)
{
	const char *shared = getenv("SV_SHARED_DATA");
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s",
	         shared != NULL ? shared : TORTURE_SOURCE_DIR "/../shared/data", rel);
	FILE *fp = fopen(path, "rb");
	if (fp == NULL) {
		fprintf(stderr, "packet: %s: missing, skipped\n", path);
		return;
	}
	fclose(fp);
	torture_input(rel, op_capture, (const uint8_t *)path, strlen(path) + 1);
}

int main(void)
{
	torture_init("packet");
	torture_dir("tests/fuzz/corpus/packet", op_frame, 30, 65536);
	torture_dir("tests/fuzz/corpus/ipfrag", op_ipfrag, 20, 65536);
	torture_dir("tests/fuzz/corpus/tcpreasm", op_tcpreasm, 20, 65536);
	capture("pcap/heplify/sip_ipv4_tcp.pcap");
	capture("pcap/heplify/sip_tcp_websocket.pcap");
	capture("pcap/heplify/sip_ipv6_udp.pcap");
	capture("pcap/sngrep/ipip.pcap");
	capture("pcap/sipnab/sip-488-codec-reject.pcapng");
	return torture_done();
}
