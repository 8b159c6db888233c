#include "base/buf.h"

#include "base/errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *sv_grow(void *items, size_t n, size_t *cap, size_t elem, size_t first)
{
	if (n < *cap)
		return items;
	size_t ncap = *cap ? *cap * 2 : first;
	if (ncap < *cap || (elem != 0 && ncap > SIZE_MAX / elem))
		return NULL;
	void *na = realloc(items, ncap * elem);
	if (na == NULL)
		return NULL;
	*cap = ncap;
	return na;
}

void sv_buf_init(struct sv_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void sv_buf_release(struct sv_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	sv_buf_init(b);
}

void sv_buf_reset(struct sv_buf *b)
{
	b->len = 0;
}

int sv_buf_reserve(struct sv_buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len - 1)
		return -ENOMEM;
	size_t need = b->len + extra + 1; /* room for a terminating NUL */
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (p == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int sv_buf_append(struct sv_buf *b, const void *data, size_t len)
{
	int r;
	if ((r = sv_buf_reserve(b, len)) != 0)
		return r;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int sv_buf_append_str(struct sv_buf *b, const char *s)
{
	return sv_buf_append(b, s, strlen(s));
}

int sv_buf_printf(struct sv_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return sv_buf_append(b, small, (size_t)n);
	int r;
	if ((r = sv_buf_reserve(b, (size_t)n)) != 0)
		return r;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int sv_buf_put_u8(struct sv_buf *b, uint8_t v)
{
	return sv_buf_append(b, &v, 1);
}

int sv_buf_put_u16(struct sv_buf *b, uint16_t v)
{
	uint8_t p[2];
	sv_put_be16(p, v);
	return sv_buf_append(b, p, sizeof(p));
}

int sv_buf_put_u32(struct sv_buf *b, uint32_t v)
{
	uint8_t p[4];
	sv_put_be32(p, v);
	return sv_buf_append(b, p, sizeof(p));
}

int sv_buf_put_u64(struct sv_buf *b, uint64_t v)
{
	uint8_t p[8];
	sv_put_be32(p, (uint32_t)(v >> 32));
	sv_put_be32(p + 4, (uint32_t)v);
	return sv_buf_append(b, p, sizeof(p));
}

int sv_buf_read_fd(struct sv_buf *b, int fd)
{
	size_t old = b->len;
	for (;;) {
		if (b->cap - b->len < 4096 && sv_buf_reserve(b, 65536) != 0)
			goto fail_nomem;
		/* reserve keeps one byte past len for the terminating NUL */
		ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int rc = -errno;
			b->len = old;
			b->data[old] = '\0';
			return rc;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
	b->data[b->len] = '\0';
	return 0;
fail_nomem:
	b->len = old;
	if (b->data != NULL)
		b->data[old] = '\0';
	return -ENOMEM;
}

void sv_buf_consume(struct sv_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

uint8_t *sv_buf_take(struct sv_buf *b, size_t *len)
{
	if (b->data == NULL && sv_buf_reserve(b, 0) != 0)
		return NULL;
	b->data[b->len] = '\0';
	uint8_t *p = b->data;
	if (len != NULL)
		*len = b->len;
	sv_buf_init(b);
	return p;
}

int sv_rd_bytes(struct sv_rd *r, size_t n, const uint8_t **p)
{
	if (n > sv_rd_left(r))
		return SV_E_TRUNC;
	*p = r->p + r->off;
	r->off += n;
	return 0;
}

int sv_rd_skip(struct sv_rd *r, size_t n)
{
	const uint8_t *p;
	return sv_rd_bytes(r, n, &p);
}

int sv_rd_u8(struct sv_rd *r, uint8_t *v)
{
	const uint8_t *p;
	int rc = sv_rd_bytes(r, 1, &p);
	if (rc == 0)
		*v = p[0];
	return rc;
}

int sv_rd_u16(struct sv_rd *r, uint16_t *v)
{
	const uint8_t *p;
	int rc = sv_rd_bytes(r, 2, &p);
	if (rc == 0)
		*v = sv_be16(p);
	return rc;
}

int sv_rd_u32(struct sv_rd *r, uint32_t *v)
{
	const uint8_t *p;
	int rc = sv_rd_bytes(r, 4, &p);
	if (rc == 0)
		*v = sv_be32(p);
	return rc;
}

int sv_rd_u64(struct sv_rd *r, uint64_t *v)
{
	const uint8_t *p;
	int rc = sv_rd_bytes(r, 8, &p);
	if (rc == 0)
		*v = sv_be64(p);
	return rc;
}
