/*
 * fuzz_sdp: sv_sdp_parse plus every derived accessor.
 */
#include "proto/sdp.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(struct sv_str s)
{
	volatile unsigned char sink = 0;
	for (size_t i = 0; i < s.len; i++)
		sink ^= (unsigned char)s.p[i];
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_sdp s;
	if (sv_sdp_parse(data, size, &s) != 0)
		return 0;
	if (s.n_media > SV_SDP_MAX_MEDIA)
		abort();
	for (unsigned i = 0; i < s.n_media; i++) {
		const struct sv_sdp_media *m = &s.media[i];
		if (m->n_pt > SV_SDP_MAX_PT || m->n_rtpmap > SV_SDP_MAX_RTPMAP ||
		    m->n_ssrc > SV_SDP_MAX_SSRC)
			abort();
		touch(m->type);
		touch(m->proto);
		touch(m->fmts);
		for (unsigned k = 0; k < m->n_rtpmap; k++)
			touch(m->rtpmap[k].name);
		const struct sv_sdp_addr *a = sv_sdp_media_addr(&s, m);
		if (a != NULL)
			touch(a->text);
		struct sv_sdp_endpoint ep;
		if (sv_sdp_rtcp(&s, m, &ep) == 0 && ep.addr != NULL)
			touch(ep.addr->text);
		(void)sv_sdp_dir_name(sv_sdp_media_dir(&s, m));
	}
	struct sv_str name;
	uint32_t clock;
	if (sv_sdp_codec(&s, &name, &clock) == 0)
		touch(name);
	return 0;
}
