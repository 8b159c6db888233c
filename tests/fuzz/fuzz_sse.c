/*
 * SSE reader invariants: the events do not depend on how the stream is cut
 * into pieces, the limits hold, and what sv_sse_write() writes reads back as
 * the same event (line ends normalised to LF).
 */
#include "base/buf.h"
#include "base/sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
	if (!ok)
		abort();
}

struct trace {
	struct sv_buf log;
	size_t max_event;
};

static int on_event(const struct sv_sse_event *ev, void *arg)
{
	struct trace *t = arg;
	check(ev->data_len <= t->max_event);
	check(ev->event[ev->event_len] == '\0' && ev->data[ev->data_len] == '\0');
	uint64_t n[3] = {ev->event_len, ev->data_len, ev->id_len};
	check(sv_buf_append(&t->log, n, sizeof(n)) == 0);
	check(sv_buf_append(&t->log, ev->event, ev->event_len) == 0);
	check(sv_buf_append(&t->log, ev->data, ev->data_len) == 0);
	check(sv_buf_append(&t->log, ev->id, ev->id_len) == 0);
	return 0;
}

static int run(const uint8_t *data, size_t size, size_t step, struct trace *t)
{
	struct sv_sse p;
	int rc = 0;
	sv_sse_init(&p, 64, t->max_event, on_event, t);
	for (size_t i = 0; i < size && rc == 0; i += step)
		rc = sv_sse_feed(&p, data + i, size - i < step ? size - i : step);
	if (rc == 0)
		rc = sv_sse_finish(&p);
	sv_sse_release(&p);
	return rc;
}

static struct sv_buf *want_log;

static int on_roundtrip(const struct sv_sse_event *ev, void *arg)
{
	struct sv_buf *norm = arg;
	check(ev->event_len == 1 && ev->event[0] == 'x');
	check(ev->data_len == norm->len &&
	      (norm->len == 0 || memcmp(ev->data, norm->data, norm->len) == 0));
	want_log = norm;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace a = {.max_event = 256}, b = {.max_event = 256};
	sv_buf_init(&a.log);
	sv_buf_init(&b.log);
	size_t step = size ? (size_t)(data[0] % 13) + 1 : 1;
	int ra = run(data, size, size ? size : 1, &a);
	int rb = run(data, size, step, &b);
	check(ra == rb);
	if (ra == 0)
		check(a.log.len == b.log.len &&
		      (a.log.len == 0 || memcmp(a.log.data, b.log.data, a.log.len) == 0));
	sv_buf_release(&a.log);
	sv_buf_release(&b.log);

	/* write, then read back */
	struct sv_buf w, norm;
	sv_buf_init(&w);
	sv_buf_init(&norm);
	check(sv_sse_write(&w, "x", (const char *)data, size) == 0);
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\r') {
			if (i + 1 < size && data[i + 1] == '\n')
				i++;
			check(sv_buf_append(&norm, "\n", 1) == 0);
		} else {
			check(sv_buf_append(&norm, &data[i], 1) == 0);
		}
	}
	struct sv_sse p;
	want_log = NULL;
	sv_sse_init(&p, 0, 0, on_roundtrip, &norm);
	check(sv_sse_feed(&p, w.data, w.len) == 0);
	check(want_log == &norm); /* exactly one event came (two would fail the check) */
	sv_sse_release(&p);
	sv_buf_release(&w);
	sv_buf_release(&norm);
	return 0;
}
