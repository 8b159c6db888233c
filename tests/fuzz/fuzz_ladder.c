/*
 * Feeds arbitrary bytes to the ladder reader as a pcap and renders what it
 * read as JSON and text; aborts when an invariant breaks: at most
 * SV_LADDER_MAX_MSGS messages, every message non-empty, a parsed message's
 * slices inside its bytes, the JSON an array.
 */
#include "base/buf.h"
#include "call/ladder.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_ladder l;
	struct sv_buf json, text;
	size_t i;

	sv_ladder_init(&l);
	(void)sv_ladder_read_pcap(&l, data, size);
	check(l.n <= SV_LADDER_MAX_MSGS);
	for (i = 0; i < l.n; i++) {
		const struct sv_ladder_msg *m = &l.v[i];
		check(m->len > 0 && m->raw != NULL);
		if (m->parsed && m->sip.call_id.p != NULL)
			check((const uint8_t *)m->sip.call_id.p >= m->raw &&
			      (const uint8_t *)m->sip.call_id.p + m->sip.call_id.len <=
			          m->raw + m->len);
	}
	sv_buf_init(&json);
	sv_buf_init(&text);
	if (sv_ladder_json(&l, &json) == 0)
		check(json.len >= 2 && json.data[0] == '[' && json.data[json.len - 1] == ']');
	(void)sv_ladder_text(&l, &text);
	sv_buf_release(&json);
	sv_buf_release(&text);
	sv_ladder_release(&l);
	return 0;
}
