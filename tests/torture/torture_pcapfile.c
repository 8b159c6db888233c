/*
 * torture_pcapfile: the sip.pcap writer. Each sip corpus input is the
 * payload of records over every transport (UDP, TCP, TLS, SCTP, WS, WSS)
 * and both families, written as a pcap file and as pcap.gz.
 */
#include "torture.h"

#include "base/buf.h"
#include "proto/pcapfile.h"

#include <string.h>
#include <sys/socket.h>

static int op(const uint8_t *data, size_t len)
{
	struct sv_pcapw w;
	struct sv_buf out, gz;

	sv_pcapw_init(&w);
	sv_buf_init(&out);
	sv_buf_init(&gz);
	for (int t = SV_PCAP_UDP; t <= SV_PCAP_WSS; t++) {
		struct sv_pcap_rec r;
		memset(&r, 0, sizeof(r));
		r.ts_ns = 1764151200000000000ull + (uint64_t)t * 1000;
		r.family = (t & 1) ? AF_INET6 : AF_INET;
		r.src[0] = 10;
		r.dst[0] = 10;
		r.dst[3] = 2;
		r.sport = 5060;
		r.dport = (uint16_t)(5060 + t);
		r.transport = (enum sv_pcap_transport)t;
		r.payload = data;
		r.len = len;
		torture_step(sv_pcapw_add(&w, &r));
	}
	if (torture_step(sv_pcapw_finish(&w, &out)) == 0)
		torture_output(out.data, out.len);
	if (torture_step(sv_pcapw_finish_gz(&w, &gz)) == 0)
		torture_output(gz.data, gz.len);
	sv_pcapw_release(&w);
	sv_buf_release(&out);
	sv_buf_release(&gz);
	return torture_rc();
}

int main(void)
{
	torture_init("pcapfile");
	torture_dir("tests/fuzz/corpus/sip", op, 10, 65536);
	return torture_done();
}
