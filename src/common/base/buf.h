/*
 * buf.h - a growable byte buffer (writer) and a bounds-checked cursor (reader).
 *
 * struct sv_buf owns its memory: sv_buf_init() gives an empty buffer that
 * allocates on first use, sv_buf_release() frees it and leaves it empty and
 * reusable. Appending functions return 0 or -ENOMEM; after -ENOMEM the buffer
 * still holds what it held before the call.
 *
 * struct sv_rd borrows the bytes it reads; every getter returns 0 or
 * SV_E_TRUNC and never reads past the end. Multi-byte integers are big-endian.
 */
#ifndef SV_BUF_H
#define SV_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct sv_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void sv_buf_init(struct sv_buf *b);
/* Frees the memory; the buffer is empty and usable again. Accepts NULL. */
void sv_buf_release(struct sv_buf *b);
/* Empties the buffer and keeps its memory. */
void sv_buf_reset(struct sv_buf *b);
/* Makes room for at least `extra` more bytes. */
int sv_buf_reserve(struct sv_buf *b, size_t extra);
int sv_buf_append(struct sv_buf *b, const void *data, size_t len);
int sv_buf_append_str(struct sv_buf *b, const char *s);
int sv_buf_printf(struct sv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sv_buf_put_u8(struct sv_buf *b, uint8_t v);
int sv_buf_put_u16(struct sv_buf *b, uint16_t v);
int sv_buf_put_u32(struct sv_buf *b, uint32_t v);
int sv_buf_put_u64(struct sv_buf *b, uint64_t v);
/*
 * Makes room for one more element in an array of n used and *cap allocated
 * elements of elem bytes: when n < *cap returns items as it is, else
 * reallocates it to twice *cap (first when *cap is 0) and updates *cap.
 * Returns the array to use, or NULL on -ENOMEM (items and *cap unchanged).
 *
 *	struct x *nv = sv_grow(v, n, &cap, sizeof(*nv), 8);
 *	if (nv == NULL)
 *		return -ENOMEM;
 *	v = nv;
 */
void *sv_grow(void *items, size_t n, size_t *cap, size_t elem, size_t first);
/* Appends everything readable from fd until end of file (EINTR retried).
 * Returns 0, -errno or -ENOMEM; on error the buffer is as it was. */
int sv_buf_read_fd(struct sv_buf *b, int fd);
/* Removes the first n bytes (n > len empties it). */
void sv_buf_consume(struct sv_buf *b, size_t n);
/* Hands the memory to the caller (who frees it) and empties the buffer. The
 * returned block is NUL-terminated one past len; NULL on -ENOMEM. */
uint8_t *sv_buf_take(struct sv_buf *b, size_t *len);

struct sv_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
};

static inline void sv_rd_init(struct sv_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

static inline size_t sv_rd_left(const struct sv_rd *r)
{
	return r->len - r->off;
}

int sv_rd_u8(struct sv_rd *r, uint8_t *v);
int sv_rd_u16(struct sv_rd *r, uint16_t *v);
int sv_rd_u32(struct sv_rd *r, uint32_t *v);
int sv_rd_u64(struct sv_rd *r, uint64_t *v);
/* Points *p at the next n bytes (borrowed from the reader's input). */
int sv_rd_bytes(struct sv_rd *r, size_t n, const uint8_t **p);
int sv_rd_skip(struct sv_rd *r, size_t n);

/* Big-endian loads and stores on raw memory. */
static inline uint16_t sv_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t sv_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t sv_be64(const uint8_t *p)
{
	return (uint64_t)sv_be32(p) << 32 | sv_be32(p + 4);
}
static inline void sv_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void sv_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
