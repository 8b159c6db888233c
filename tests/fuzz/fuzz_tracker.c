/*
 * fuzz_tracker: a sequence of events through one tracker. Each record is
 *   u8 op | u8 time step (x 100 ms) | u16 length | body
 * op % 4: 0 SIP message, 1 media datagram (UDP payload), 2 log line,
 * 3 poll. SIP and media bodies start with a 13-byte flow: u8 flags (bit 0:
 * IPv6), src IPv4 (4), u16 sport, dst IPv4 (4), u16 dport; IPv6 flows put
 * the 4 address bytes first and zeros after. Every returned slice is read
 * so ASan checks it; the tracker is freed with calls still live.
 */
#include "base/buf.h"
#include "base/errors.h"
#include "call/tracker.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(const void *p, size_t n)
{
	volatile unsigned char sink = 0;
	for (size_t i = 0; i < n; i++)
		sink ^= ((const unsigned char *)p)[i];
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_tracker_limits lim = {.grace_ns = 2000000000ull,
	                                .pending_timeout_ns = 10000000000ull,
	                                .active_timeout_ns = 20000000000ull,
	                                .max_calls = 64};
	struct sv_tracker *t;
	if (sv_tracker_new(&lim, &t) != 0)
		return 0;
	uint64_t now = 1764151205000000000ull;
	size_t off = 0;
	while (off + 4 <= size) {
		uint8_t op = data[off] % 4;
		now += (uint64_t)data[off + 1] * 100000000ull;
		size_t len = sv_be16(data + off + 2);
		off += 4;
		if (len > size - off)
			len = size - off;
		const uint8_t *body = data + off;
		off += len;
		struct sv_tracker_flow f;
		memset(&f, 0, sizeof(f));
		if (op <= 1) {
			if (len < 13)
				continue;
			f.family = (body[0] & 1) ? AF_INET6 : AF_INET;
			memcpy(f.src, body + 1, 4);
			f.sport = sv_be16(body + 5);
			memcpy(f.dst, body + 7, 4);
			f.dport = sv_be16(body + 11);
			body += 13;
			len -= 13;
		}
		if (op == 0) {
			struct sv_tracker_sip_res r;
			sv_tracker_sip(t, now, &f, body, len, &r);
			touch(r.call_id.p, r.call_id.len);
		} else if (op == 1) {
			struct sv_tracker_media_res r;
			sv_tracker_media(t, now, &f, body, len, &r);
			touch(r.call_id.p, r.call_id.len);
		} else if (op == 2) {
			struct sv_str id;
			if (sv_tracker_log(t, now, (const char *)body, len, &id) == 1)
				touch(id.p, id.len);
		} else {
			struct sv_tracker_event ev;
			while (sv_tracker_poll(t, now, &ev) == 1) {
				touch(ev.call_id.p, ev.call_id.len);
				touch(ev.json, ev.json_len);
			}
		}
	}
	struct sv_tracker_stats st;
	sv_tracker_stats(t, &st);
	(void)sv_tracker_next_deadline(t);
	sv_tracker_free(t);
	return 0;
}
