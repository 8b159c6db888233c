/*
 * sse.c - Server-Sent Events reader and writer (see sse.h).
 */
#include "base/sse.h"
#include "base/errors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sv_sse_init(struct sv_sse *p, size_t max_line, size_t max_event, sv_sse_event_fn fn, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->max_line = max_line ? max_line : (size_t)64 << 10;
	p->max_event = max_event ? max_event : (size_t)1 << 20;
	p->fn = fn;
	p->arg = arg;
	p->retry_ms = -1;
	sv_buf_init(&p->line);
	sv_buf_init(&p->event);
	sv_buf_init(&p->data);
	sv_buf_init(&p->id);
}

void sv_sse_release(struct sv_sse *p)
{
	if (p == NULL)
		return;
	sv_buf_release(&p->line);
	sv_buf_release(&p->event);
	sv_buf_release(&p->data);
	sv_buf_release(&p->id);
}

/* NUL-terminates b at its length (without counting the NUL). */
static int terminate(struct sv_buf *b)
{
	if (sv_buf_reserve(b, 1) != 0)
		return -ENOMEM;
	b->data[b->len] = '\0';
	return 0;
}

static int dispatch(struct sv_sse *p)
{
	int rc = 0;
	if (p->has_data) {
		if (terminate(&p->data) != 0 || terminate(&p->event) != 0 || terminate(&p->id) != 0)
			return -ENOMEM;
		struct sv_sse_event ev = {
		    .event = p->event.len ? (const char *)p->event.data : "message",
		    .event_len = p->event.len ? p->event.len : 7,
		    .data = (const char *)p->data.data,
		    .data_len = p->data.len,
		    .id = (const char *)p->id.data,
		    .id_len = p->id.len,
		};
		rc = p->fn != NULL ? p->fn(&ev, p->arg) : 0;
	}
	sv_buf_reset(&p->event);
	sv_buf_reset(&p->data);
	p->has_data = 0;
	return rc;
}

static int field(struct sv_sse *p, const char *name, size_t nlen, const char *v, size_t vlen)
{
	if (nlen == 4 && memcmp(name, "data", 4) == 0) {
		size_t need = vlen + (p->has_data ? 1 : 0);
		if (p->data.len + need > p->max_event)
			return SV_E_TOOBIG;
		if (p->has_data && sv_buf_append(&p->data, "\n", 1) != 0)
			return -ENOMEM;
		if (sv_buf_append(&p->data, v, vlen) != 0)
			return -ENOMEM;
		p->has_data = 1;
	} else if (nlen == 5 && memcmp(name, "event", 5) == 0) {
		sv_buf_reset(&p->event);
		return sv_buf_append(&p->event, v, vlen);
	} else if (nlen == 2 && memcmp(name, "id", 2) == 0) {
		if (memchr(v, '\0', vlen) != NULL)
			return 0; /* ignored, as the standard says */
		sv_buf_reset(&p->id);
		return sv_buf_append(&p->id, v, vlen);
	} else if (nlen == 5 && memcmp(name, "retry", 5) == 0) {
		long ms = 0;
		if (vlen == 0 || vlen > 9)
			return 0;
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return 0;
			ms = ms * 10 + (v[i] - '0');
		}
		p->retry_ms = ms;
	}
	return 0;
}

/* One complete line (without its line end). */
static int line(struct sv_sse *p, const char *s, size_t len)
{
	if (len == 0)
		return dispatch(p);
	if (s[0] == ':')
		return 0;
	const char *colon = memchr(s, ':', len);
	if (colon == NULL)
		return field(p, s, len, "", 0);
	size_t nlen = (size_t)(colon - s);
	const char *v = colon + 1;
	size_t vlen = len - nlen - 1;
	if (vlen > 0 && v[0] == ' ') {
		v++;
		vlen--;
	}
	return field(p, s, nlen, v, vlen);
}

int sv_sse_feed(struct sv_sse *p, const void *data, size_t len)
{
	const char *s = data;
	size_t i = 0;
	if (p->err != 0)
		return p->err;
	if (!p->started) {
		/* Skip a UTF-8 BOM, possibly split across chunks. */
		static const char bom[3] = {'\xef', '\xbb', '\xbf'};
		while (i < len && p->line.len < 3 && s[i] == bom[p->line.len]) {
			if (sv_buf_append(&p->line, &s[i], 1) != 0)
				return p->err = -ENOMEM;
			i++;
		}
		if (p->line.len == 3) {
			sv_buf_reset(&p->line);
			p->started = 1;
		} else if (i < len) {
			p->started = 1; /* not a BOM: what was held is line text */
		} else {
			return 0;
		}
	}
	if (p->cr && i < len && s[i] == '\n')
		i++;
	p->cr = 0;
	while (i < len) {
		size_t start = i;
		while (i < len && s[i] != '\n' && s[i] != '\r')
			i++;
		size_t n = i - start;
		if (p->line.len + n > p->max_line)
			return p->err = SV_E_TOOBIG;
		if (i == len) {
			if (sv_buf_append(&p->line, s + start, n) != 0)
				return p->err = -ENOMEM;
			break;
		}
		int rc;
		if (p->line.len > 0) {
			if (sv_buf_append(&p->line, s + start, n) != 0)
				return p->err = -ENOMEM;
			rc = line(p, (const char *)p->line.data, p->line.len);
			sv_buf_reset(&p->line);
		} else {
			rc = line(p, s + start, n);
		}
		if (rc != 0)
			return p->err = rc;
		if (s[i] == '\r') {
			i++;
			if (i == len)
				p->cr = 1;
			else if (s[i] == '\n')
				i++;
		} else {
			i++;
		}
	}
	return 0;
}

int sv_sse_finish(struct sv_sse *p)
{
	sv_buf_reset(&p->line);
	sv_buf_reset(&p->event);
	sv_buf_reset(&p->data);
	p->has_data = 0;
	return p->err;
}

int sv_sse_write(struct sv_buf *out, const char *event, const char *data, size_t len)
{
	size_t len0 = out->len;
	int rc = 0;
	if (data == NULL)
		data = "";
	if (event != NULL) {
		if (strpbrk(event, "\r\n") != NULL)
			return -EINVAL;
		rc = sv_buf_printf(out, "event: %s\n", event);
	}
	size_t i = 0;
	for (;;) {
		size_t start = i;
		while (i < len && data[i] != '\r' && data[i] != '\n')
			i++;
		if (rc == 0)
			rc = sv_buf_append(out, "data: ", 6);
		if (rc == 0)
			rc = sv_buf_append(out, data + start, i - start);
		if (rc == 0)
			rc = sv_buf_append(out, "\n", 1);
		if (i == len)
			break;
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			i += 2;
		else
			i++;
	}
	if (rc == 0)
		rc = sv_buf_append(out, "\n", 1);
	if (rc != 0) {
		out->len = len0;
		return -ENOMEM;
	}
	return 0;
}
