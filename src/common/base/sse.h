/*
 * sse.h - Server-Sent Events (text/event-stream): an incremental reader and
 * a writer.
 *
 * The reader follows the WHATWG "event stream interpretation": lines end in
 * CRLF, LF or CR (a CR at the end of one chunk and the LF that starts the next
 * are one line end); a leading UTF-8 BOM is skipped; "field: value" lines
 * (one space after the colon removed) set event, data (several data lines
 * are joined with "\n"), id and retry; lines starting with ':' are comments;
 * an empty line dispatches the event when it has data (an event with no data
 * line is dropped, as browsers do). Unknown fields are ignored. At the end of
 * the stream an event without its empty line is discarded.
 *
 * Bounds: one line (without its line end) may hold at most max_line bytes and
 * one event's data at most max_event bytes; beyond them the reader fails with
 * SV_E_TOOBIG. Errors are sticky: once sv_sse_feed() failed it returns the same
 * code again without reading.
 */
#ifndef SV_SSE_H
#define SV_SSE_H

#include "base/buf.h"

#include <stddef.h>

/* One dispatched event. The strings are borrowed from the reader and live
 * until the callback returns; each is NUL-terminated at its length. event is
 * "message" when the stream named none. */
struct sv_sse_event {
	const char *event;
	size_t event_len;
	const char *data;
	size_t data_len;
	const char *id; /* the last event id seen in the stream ("" when none) */
	size_t id_len;
};

/* Called for every dispatched event. Returning non-zero stops the reader:
 * sv_sse_feed() returns that value (and keeps returning it). */
typedef int (*sv_sse_event_fn)(const struct sv_sse_event *ev, void *arg);

struct sv_sse {
	size_t max_line, max_event;
	sv_sse_event_fn fn;
	void *arg;
	struct sv_buf line;  /* the line being read */
	struct sv_buf event; /* event type of the event being built */
	struct sv_buf data;  /* its data lines joined with "\n" */
	struct sv_buf id;    /* last event id */
	int has_data;        /* a data line was seen for this event */
	int cr;              /* the previous chunk ended in CR */
	int started;         /* past the optional BOM */
	int err;             /* sticky error or callback value */
	long retry_ms;       /* last valid "retry:" value, -1 when none */
};

/* Prepares a reader; limits of 0 mean 64 KiB (line) and 1 MiB (event). */
void sv_sse_init(struct sv_sse *p, size_t max_line, size_t max_event, sv_sse_event_fn fn,
                 void *arg);
/* Frees the reader's memory; it may be initialised again. Accepts NULL. */
void sv_sse_release(struct sv_sse *p);
/* Reads len more bytes of the stream, calling fn for each complete event.
 * 0, SV_E_TOOBIG, -ENOMEM or the callback's non-zero value. */
int sv_sse_feed(struct sv_sse *p, const void *data, size_t len);
/* The stream ended: a line without its line end and an event without its
 * empty line are discarded (never dispatched). Returns the sticky error or 0;
 * the reader must be released (or initialised again) afterwards. */
int sv_sse_finish(struct sv_sse *p);

/* Appends one event to out: "event: NAME\n" (omitted when event is NULL),
 * one "data: " line per line of data (CR, LF and CRLF split lines), then the
 * empty line. event must not contain CR or LF (-EINVAL). 0, -EINVAL or
 * -ENOMEM; out is unchanged on error. */
int sv_sse_write(struct sv_buf *out, const char *event, const char *data, size_t len);

#endif
