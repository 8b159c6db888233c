/*
 * diskring.c - crash-safe ring of records in one file (see diskring.h and
 * docs/internals/diskring.md).
 *
 * In memory the ring is four positions (offset in the file + sequence
 * number): head (the oldest record still occupying room), una (the first
 * unacknowledged record), cur (the cursor) and tail (where the next record
 * goes and the number it gets); head <= cur, una <= tail by sequence. A
 * position whose seq equals tail.seq is "at the end". At most one wrap point
 * lies between head and tail (wrap_pos: where the writer jumped to the start
 * of the area because a record did not fit). Records not yet written sit in
 * one contiguous buffer (pend, for file offsets [pend_off, +len)).
 */
#include "store/diskring.h"

#include "base/buf.h"
#include "base/errors.h"
#include "base/crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HDR_AREA     4096u
#define SLOT_SIZE    512u
#define SLOT_USED    92u /* bytes before the slot's CRC */
#define REC_HDR      32u
#define MAGIC        "SVDRING1"
#define VERSION      1u
#define READ_AHEAD   ((size_t)256 << 10)
#define FLUSH_LIMIT  ((size_t)4 << 20)
#define KEEP_PENDING ((size_t)8 << 20)

struct pos {
	uint64_t off;
	uint64_t seq;
};

struct rec {
	uint32_t len;
	uint64_t seq;
	uint32_t life;
	int64_t time_ms;
};

struct slot {
	uint64_t file_size, start, end, ring_id, counter;
	uint32_t life, una_life;
	uint64_t una_seq, una_off;
};

struct sv_diskring {
	char *path;
	int fd;
	uint64_t file_size, start, end; /* data area [start, end) */
	uint64_t ring_id;
	uint32_t life;
	uint8_t id_be[8];

	/* the newest header known durable, and one written but not yet synced */
	struct slot hdr;
	struct slot hdr_new;
	int hdr_new_written;

	struct pos head, una, cur, tail;
	uint32_t una_life; /* life of the record at una (or ours when at the end) */
	int64_t una_time;
	int wrapped;
	uint64_t wrap_pos;

	struct sv_buf pend;
	uint64_t pend_off;
	int dirty; /* written since the last fdatasync */

	uint8_t *rbuf; /* read cache of file bytes [rb_off, rb_off + rb_len) */
	size_t rb_cap, rb_len;
	uint64_t rb_off;

	uint64_t unsynced;
	uint64_t recovered, appended, dropped_records, dropped_bytes, corrupt, header_writes, syncs;
	int reformatted;
	char errmsg[512];
};

static void put64(uint8_t *p, uint64_t v)
{
	sv_put_be32(p, (uint32_t)(v >> 32));
	sv_put_be32(p + 4, (uint32_t)v);
}

static void seterr(struct sv_diskring *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void seterr(struct sv_diskring *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
	va_end(ap);
}

static uint64_t rec_size(uint64_t len)
{
	return REC_HDR + ((len + 7) & ~(uint64_t)7);
}

/* ------------------------------------------------------------ raw I/O */

static int pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = pwrite(fd, b, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Reads n bytes at off; bytes past the end of the file read as zeros. */
static int pread_all(int fd, void *p, size_t n, uint64_t off)
{
	uint8_t *b = p;
	while (n > 0) {
		ssize_t got = pread(fd, b, n, (off_t)off);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0) {
			memset(b, 0, n);
			return 0;
		}
		b += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

static int do_datasync(struct sv_diskring *r)
{
	r->syncs++;
	if (fdatasync(r->fd) != 0) {
		int e = -errno;
		seterr(r, "%s: fdatasync: %s", r->path, strerror(errno));
		return e;
	}
	r->dirty = 0;
	return 0;
}

/* ------------------------------------------------------------ header */

static void slot_encode(const struct slot *s, uint8_t *p)
{
	memset(p, 0, SLOT_SIZE);
	memcpy(p, MAGIC, 8);
	sv_put_be32(p + 8, VERSION);
	sv_put_be32(p + 12, SLOT_USED);
	put64(p + 16, s->file_size);
	put64(p + 24, s->start);
	put64(p + 32, s->end);
	put64(p + 40, s->ring_id);
	put64(p + 48, s->counter);
	sv_put_be32(p + 56, s->life);
	sv_put_be32(p + 60, s->una_life);
	put64(p + 64, s->una_seq);
	put64(p + 72, s->una_off);
	/* 80..91 reserved, zero */
	sv_put_be32(p + SLOT_USED, sv_crc32c(0, p, SLOT_USED));
}

/* 1 when p holds a valid slot (decoded into s), 0 otherwise. */
static int slot_decode(const uint8_t *p, struct slot *s)
{
	if (memcmp(p, MAGIC, 8) != 0 || sv_be32(p + 8) != VERSION || sv_be32(p + 12) != SLOT_USED)
		return 0;
	if (sv_crc32c(0, p, SLOT_USED) != sv_be32(p + SLOT_USED))
		return 0;
	s->file_size = sv_be64(p + 16);
	s->start = sv_be64(p + 24);
	s->end = sv_be64(p + 32);
	s->ring_id = sv_be64(p + 40);
	s->counter = sv_be64(p + 48);
	s->life = sv_be32(p + 56);
	s->una_life = sv_be32(p + 60);
	s->una_seq = sv_be64(p + 64);
	s->una_off = sv_be64(p + 72);
	if (s->file_size < SV_DISKRING_MIN_SIZE || s->file_size > SV_DISKRING_MAX_SIZE ||
	    s->start != HDR_AREA || s->end != (s->file_size & ~(uint64_t)7) || s->una_seq == 0 ||
	    s->life == 0)
		return 0;
	return 1;
}

/* Writes the next header slot (no fdatasync): geometry, our life, una. */
static int hdr_write(struct sv_diskring *r)
{
	struct slot s = r->hdr;
	s.counter = r->hdr.counter + 1;
	s.life = r->life;
	s.una_seq = r->una.seq;
	s.una_off = r->una.off;
	s.una_life = r->una_life;
	uint8_t b[SLOT_SIZE];
	slot_encode(&s, b);
	int rc = pwrite_all(r->fd, b, sizeof(b), (s.counter & 1) * SLOT_SIZE);
	if (rc != 0) {
		seterr(r, "%s: writing header: %s", r->path, strerror(-rc));
		return rc;
	}
	r->header_writes++;
	r->hdr_new = s;
	r->hdr_new_written = 1;
	r->dirty = 1;
	return 0;
}

/* After a successful fdatasync: the header written last is the durable one. */
static void hdr_commit(struct sv_diskring *r)
{
	if (r->hdr_new_written) {
		r->hdr = r->hdr_new;
		r->hdr_new_written = 0;
	}
}

/* ------------------------------------------------------------ reading */

static int flush_pending(struct sv_diskring *r);

/* Points *p at n bytes of the data area at off (from the unwritten buffer or
 * the file); valid until the next call on r. */
static int read_at(struct sv_diskring *r, uint64_t off, size_t n, const uint8_t **p)
{
	if (off < r->start || off > r->end || n > r->end - off)
		return -EIO;
	uint64_t pe = r->pend_off + r->pend.len;
	if (r->pend.len > 0 && off < pe && off + n > r->pend_off) {
		if (off >= r->pend_off && off + n <= pe) {
			*p = r->pend.data + (off - r->pend_off);
			return 0;
		}
		int rc = flush_pending(r); /* straddles: read it back from the file */
		if (rc != 0)
			return rc;
	}
	if (r->rb_len > 0 && off >= r->rb_off && off + n <= r->rb_off + r->rb_len) {
		*p = r->rbuf + (off - r->rb_off);
		return 0;
	}
	size_t want = n > READ_AHEAD ? n : READ_AHEAD;
	if (want > r->end - off)
		want = (size_t)(r->end - off);
	if (want > r->rb_cap) {
		uint8_t *nb = realloc(r->rbuf, want);
		if (nb == NULL)
			return -ENOMEM;
		r->rbuf = nb;
		r->rb_cap = want;
	}
	r->rb_len = 0;
	int rc = pread_all(r->fd, r->rbuf, want, off);
	if (rc != 0) {
		seterr(r, "%s: read: %s", r->path, strerror(-rc));
		return rc;
	}
	r->rb_off = off;
	r->rb_len = want;
	*p = r->rbuf;
	return 0;
}

static void rec_decode(const uint8_t *h, struct rec *out)
{
	out->len = sv_be32(h + 4);
	out->seq = sv_be64(h + 8);
	out->life = sv_be32(h + 16);
	out->time_ms = (int64_t)sv_be64(h + 24);
}

static uint32_t rec_crc(const struct sv_diskring *r, const uint8_t *h, const uint8_t *payload,
                        size_t len)
{
	uint32_t c = sv_crc32c(0, r->id_be, 8);
	c = sv_crc32c(c, h + 4, REC_HDR - 4);
	return sv_crc32c(c, payload, len);
}

/*
 * Reads and checks the whole record at off: 1 when it is a well-formed record
 * of this ring (bounds, flags, life <= ours, CRC) with *out and *payload set,
 * 0 when not, or a negative error.
 */
static int rec_read(struct sv_diskring *r, uint64_t off, struct rec *out, const uint8_t **payload)
{
	const uint8_t *h;
	if (off < r->start || off + REC_HDR > r->end || (off & 7) != 0)
		return 0;
	int rc = read_at(r, off, REC_HDR, &h);
	if (rc != 0)
		return rc;
	struct rec x;
	rec_decode(h, &x);
	if (x.len > SV_DISKRING_MAX_RECORD || sv_be32(h + 20) != 0 || x.life == 0 ||
	    x.life > r->life || rec_size(x.len) > r->end - off)
		return 0;
	rc = read_at(r, off, (size_t)rec_size(x.len), &h);
	if (rc != 0)
		return rc;
	if (rec_crc(r, h, h + REC_HDR, x.len) != sv_be32(h))
		return 0;
	*out = x;
	*payload = h + REC_HDR;
	return 1;
}

/* Reads the header of the live record expected at off with sequence seq. */
static int hdr_at(struct sv_diskring *r, uint64_t off, uint64_t seq, struct rec *out)
{
	const uint8_t *h;
	if (off < r->start || off + REC_HDR > r->end)
		return -EIO;
	int rc = read_at(r, off, REC_HDR, &h);
	if (rc != 0)
		return rc;
	rec_decode(h, out);
	if (out->seq != seq || out->len > SV_DISKRING_MAX_RECORD ||
	    rec_size(out->len) > r->end - off) {
		seterr(r, "%s: record %llu at offset %llu is not what was written", r->path,
		       (unsigned long long)seq, (unsigned long long)off);
		return -EIO;
	}
	return 0;
}

/* The offset following a record of rsize bytes at off, for in-memory walks. */
static uint64_t next_off(const struct sv_diskring *r, uint64_t off, uint64_t rsize)
{
	uint64_t q = off + rsize;
	if (q >= r->end || (r->wrapped && q == r->wrap_pos))
		q = r->start;
	return q;
}

/* Offset of the record at position p (p->seq < tail.seq). */
static uint64_t live_off(const struct sv_diskring *r, const struct pos *p)
{
	if (r->wrapped && p->off == r->wrap_pos)
		return r->start;
	return p->off;
}

/* Advances p past its record; fills *x with that record's header. */
static int step(struct sv_diskring *r, struct pos *p, struct rec *x)
{
	uint64_t off = live_off(r, p);
	int rc = hdr_at(r, off, p->seq, x);
	if (rc != 0)
		return rc;
	p->off = next_off(r, off, rec_size(x->len));
	p->seq++;
	if (p->seq == r->tail.seq)
		p->off = r->tail.off;
	return 0;
}

/* The file lost what we wrote: drop everything held, count it, report. */
static int lose_all(struct sv_diskring *r)
{
	uint64_t lost = r->tail.seq - r->una.seq;
	r->dropped_records += lost;
	r->corrupt++;
	r->head = r->una = r->cur = r->tail;
	r->una_life = r->life;
	r->wrapped = 0;
	r->rb_len = 0;
	return -EIO;
}

static void load_una_time(struct sv_diskring *r)
{
	struct rec x;
	r->una_time = 0;
	r->una_life = r->life;
	if (r->una.seq == r->tail.seq)
		return;
	r->una.off = live_off(r, &r->una);
	if (hdr_at(r, r->una.off, r->una.seq, &x) == 0) {
		r->una_time = x.time_ms;
		r->una_life = x.life;
	}
}

/* ------------------------------------------------------------ writing */

/* Writes the buffered records. Before data may overwrite the record the
 * durable header names as first unacknowledged (it is no longer held), a new
 * header naming the current one is made durable. */
static int flush_pending(struct sv_diskring *r)
{
	if (r->pend.len == 0)
		return 0;
	int rc;
	if (r->hdr.una_seq < r->head.seq) {
		if ((rc = hdr_write(r)) != 0 || (rc = do_datasync(r)) != 0)
			return rc;
		hdr_commit(r);
	}
	rc = pwrite_all(r->fd, r->pend.data, r->pend.len, r->pend_off);
	r->rb_len = 0;
	if (rc != 0) {
		seterr(r, "%s: write at %llu: %s", r->path, (unsigned long long)r->pend_off,
		       strerror(-rc));
		return rc;
	}
	r->dirty = 1;
	r->pend_off += r->pend.len;
	sv_buf_reset(&r->pend);
	if (r->pend.cap > KEEP_PENDING)
		sv_buf_release(&r->pend);
	return 0;
}

/* Removes the oldest record (counting it when it was not acknowledged). */
static int drop_head(struct sv_diskring *r, struct sv_diskring_drop *drop)
{
	struct rec x;
	uint64_t seq = r->head.seq;
	int rc = step(r, &r->head, &x);
	if (rc != 0)
		return rc;
	if (r->wrapped && r->head.off == r->start)
		r->wrapped = 0; /* the head went past the wrap point */
	if (seq >= r->una.seq) {
		r->dropped_records++;
		r->dropped_bytes += x.len;
		if (drop != NULL) {
			if (drop->records == 0)
				drop->first_seq = seq;
			drop->records++;
			drop->bytes += x.len;
			drop->last_seq = seq;
		}
	}
	if (r->una.seq < r->head.seq) {
		r->una = r->head;
		load_una_time(r);
	}
	if (r->cur.seq < r->head.seq)
		r->cur = r->head;
	if (r->head.seq == r->tail.seq)
		r->wrapped = 0;
	return 0;
}

int sv_diskring_appendv(struct sv_diskring *r, const struct iovec *iov, int iovcnt, int64_t now_ms,
                        uint64_t *seq, struct sv_diskring_drop *drop)
{
	if (drop != NULL)
		memset(drop, 0, sizeof(*drop));
	if (iovcnt < 0 || (iovcnt > 0 && iov == NULL))
		return -EINVAL;
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SV_DISKRING_MAX_RECORD - len)
			return -EFBIG;
		len += iov[i].iov_len;
	}
	uint64_t rsize = rec_size(len);
	if (rsize > r->end - r->start)
		return -EFBIG;

	uint64_t place;
	int rc;
	for (;;) {
		int wrap = r->tail.off + rsize > r->end;
		place = wrap ? r->start : r->tail.off;
		if (r->head.seq == r->tail.seq)
			break; /* empty: anything up to the area fits */
		uint64_t h = live_off(r, &r->head);
		if (!wrap && (h < r->tail.off || r->tail.off + rsize <= h))
			break;
		if (wrap && h < r->tail.off && r->start + rsize <= h)
			break;
		rc = drop_head(r, drop);
		if (rc == -EIO)
			(void)lose_all(r); /* counted; the ring is empty now */
		else if (rc != 0)
			return rc;
	}
	if (r->pend.len > 0 &&
	    (place != r->pend_off + r->pend.len || r->pend.len + rsize > FLUSH_LIMIT)) {
		if ((rc = flush_pending(r)) != 0)
			return rc;
	}
	if (r->pend.len == 0)
		r->pend_off = place;
	if ((rc = sv_buf_reserve(&r->pend, (size_t)rsize)) != 0)
		return rc;

	uint8_t *h = r->pend.data + r->pend.len;
	uint64_t s = r->tail.seq;
	sv_put_be32(h + 4, (uint32_t)len);
	put64(h + 8, s);
	sv_put_be32(h + 16, r->life);
	sv_put_be32(h + 20, 0);
	put64(h + 24, (uint64_t)now_ms);
	uint8_t *d = h + REC_HDR;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > 0)
			memcpy(d, iov[i].iov_base, iov[i].iov_len);
		d += iov[i].iov_len;
	}
	memset(d, 0, (size_t)(rsize - REC_HDR - len));
	sv_put_be32(h, rec_crc(r, h, h + REC_HDR, len));
	r->pend.len += (size_t)rsize;

	if (place != r->tail.off && r->head.seq != r->tail.seq) {
		r->wrapped = 1;
		r->wrap_pos = r->tail.off;
	}
	if (r->head.seq == s)
		r->head.off = place;
	if (r->cur.seq == s)
		r->cur.off = place;
	if (r->una.seq == s) {
		r->una.off = place;
		r->una_time = now_ms;
		r->una_life = r->life;
	}
	r->tail.off = place + rsize;
	if (r->tail.off >= r->end)
		r->tail.off = r->start;
	r->tail.seq = s + 1;
	r->appended++;
	r->unsynced += rsize;
	if (seq != NULL)
		*seq = s;
	return 0;
}

int sv_diskring_append(struct sv_diskring *r, const void *data, size_t len, int64_t now_ms,
                       uint64_t *seq, struct sv_diskring_drop *drop)
{
	struct iovec v = {(void *)(uintptr_t)data, len};
	return sv_diskring_appendv(r, &v, len > 0 ? 1 : 0, now_ms, seq, drop);
}

int sv_diskring_sync(struct sv_diskring *r)
{
	int rc = flush_pending(r);
	if (rc != 0)
		return rc;
	if (r->una.seq != r->hdr.una_seq || r->hdr.life != r->life) {
		if ((rc = hdr_write(r)) != 0)
			return rc;
	}
	if (!r->dirty)
		return 0;
	if ((rc = do_datasync(r)) != 0)
		return rc;
	hdr_commit(r);
	r->unsynced = 0;
	return 0;
}

int sv_diskring_ack(struct sv_diskring *r, uint64_t seq)
{
	if (seq >= r->tail.seq)
		return -EINVAL;
	if (seq < r->una.seq)
		return 0;
	struct rec x;
	while (r->una.seq <= seq) {
		int rc = step(r, &r->una, &x);
		if (rc != 0)
			return rc == -EIO ? lose_all(r) : rc;
	}
	load_una_time(r);
	if (r->cur.seq < r->una.seq)
		r->cur = r->una;
	return 0;
}

void sv_diskring_rewind(struct sv_diskring *r)
{
	r->cur = r->una;
}

int sv_diskring_next(struct sv_diskring *r, const uint8_t **data, size_t *len, uint64_t *seq,
                     int64_t *time_ms)
{
	if (r->cur.seq < r->una.seq)
		r->cur = r->una;
	if (r->cur.seq >= r->tail.seq)
		return SV_E_AGAIN;
	uint64_t off = live_off(r, &r->cur);
	struct rec x;
	const uint8_t *payload;
	int rc = rec_read(r, off, &x, &payload);
	if (rc < 0)
		return rc;
	if (rc == 0 || x.seq != r->cur.seq) {
		seterr(r,
		       "%s: record %llu at offset %llu fails its checksum; dropping %llu records",
		       r->path, (unsigned long long)r->cur.seq, (unsigned long long)off,
		       (unsigned long long)(r->tail.seq - r->una.seq));
		return lose_all(r);
	}
	r->cur.off = next_off(r, off, rec_size(x.len));
	r->cur.seq++;
	if (r->cur.seq == r->tail.seq)
		r->cur.off = r->tail.off;
	*data = payload;
	*len = x.len;
	if (seq != NULL)
		*seq = x.seq;
	if (time_ms != NULL)
		*time_ms = x.time_ms;
	return 0;
}

uint64_t sv_diskring_next_seq(const struct sv_diskring *r)
{
	return r->tail.seq;
}

uint64_t sv_diskring_acked(const struct sv_diskring *r)
{
	return r->una.seq - 1;
}

void sv_diskring_stats(const struct sv_diskring *r, int64_t now_ms, struct sv_diskring_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->file_size = r->file_size;
	out->capacity = r->end - r->start;
	out->records = r->tail.seq - r->una.seq;
	if (out->records > 0) {
		uint64_t u = live_off(r, &r->una);
		if (r->tail.off > u)
			out->bytes = r->tail.off - u;
		else
			out->bytes = (r->end - u) + (r->tail.off - r->start);
		out->oldest_age_ms = now_ms - r->una_time;
	}
	out->unsynced = r->unsynced;
	out->recovered = r->recovered;
	out->appended = r->appended;
	out->dropped_records = r->dropped_records;
	out->dropped_bytes = r->dropped_bytes;
	out->corrupt = r->corrupt;
	out->header_writes = r->header_writes;
	out->syncs = r->syncs;
	out->life = r->life;
	out->reformatted = r->reformatted;
}

const char *sv_diskring_error(const struct sv_diskring *r)
{
	return r->errmsg;
}

static void ring_free(struct sv_diskring *r)
{
	if (r->fd >= 0)
		close(r->fd); /* releases the flock */
	sv_buf_release(&r->pend);
	free(r->rbuf);
	free(r->path);
	free(r);
}

int sv_diskring_close(struct sv_diskring *r)
{
	if (r == NULL)
		return 0;
	int rc = sv_diskring_sync(r);
	ring_free(r);
	return rc;
}

/* ------------------------------------------------------------ open */

/* Looks for the record (seq, life >= min_life, exact life when exact) at off
 * or, failing that, at the start of the area (where the writer goes when a
 * record does not fit before the end). In a history of crashes both cannot
 * hold it: a later life re-issues a sequence number only when the earlier
 * record was not there at its recovery, and nothing makes it appear later.
 * 1 with *where and *x set, 0 when neither holds it, or a negative error. */
static int probe(struct sv_diskring *r, uint64_t off, uint64_t seq, uint32_t min_life, int exact,
                 uint64_t *where, struct rec *x)
{
	uint64_t cand[2] = {off, r->start};
	for (int i = 0; i < 2; i++) {
		if (i == 1 && off == r->start)
			break;
		const uint8_t *p;
		int rc = rec_read(r, cand[i], x, &p);
		if (rc < 0)
			return rc;
		if (rc == 0 || x->seq != seq || x->life < min_life ||
		    (exact && x->life != min_life))
			continue;
		*where = cand[i];
		return 1;
	}
	return 0;
}

/* Rebuilds head/una/cur/tail from the durable header by following the chain
 * of records from the first unacknowledged one. */
static int recover(struct sv_diskring *r)
{
	const struct slot *s = &r->hdr;
	uint64_t off = s->una_off;
	if (off < r->start || off >= r->end || (off & 7) != 0)
		off = r->start;
	struct rec x;
	uint64_t where;
	r->wrapped = 0;
	r->head.seq = r->tail.seq = s->una_seq;
	r->head.off = r->tail.off = off;
	int rc = probe(r, off, s->una_seq, s->una_life, 1, &where, &x);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		uint64_t used = 0, cap = r->end - r->start;
		r->head.off = where;
		uint64_t at = where;
		for (;;) {
			uint64_t rs = rec_size(x.len);
			used += rs;
			r->recovered++;
			uint64_t q = at + rs;
			if (q >= r->end)
				q = r->start;
			struct rec y;
			uint64_t w2;
			rc = probe(r, q, x.seq + 1, x.life, 0, &w2, &y);
			if (rc < 0)
				return rc;
			uint64_t gap = w2 != q ? r->end - q : 0;
			if (rc == 0 || (gap > 0 && r->wrapped) ||
			    used + gap + rec_size(y.len) > cap) {
				r->tail.off = q;
				r->tail.seq = x.seq + 1;
				break;
			}
			if (gap > 0) {
				r->wrapped = 1;
				r->wrap_pos = q;
				used += gap;
			}
			at = w2;
			x = y;
		}
	}
	r->una = r->cur = r->head;
	load_una_time(r);
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char *d = strdup(path);
	if (d == NULL)
		return -ENOMEM;
	char *slash = strrchr(d, '/');
	const char *dir = ".";
	if (slash == d)
		dir = "/";
	else if (slash != NULL) {
		*slash = '\0';
		dir = d;
	}
	int rc = 0;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	free(d);
	return rc;
}

static uint64_t random_id(void)
{
	uint64_t v = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
			v = 0;
		close(fd);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	v ^= (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	return v;
}

static void set_geometry(struct sv_diskring *r, uint64_t file_size, uint64_t ring_id)
{
	r->file_size = file_size;
	r->start = HDR_AREA;
	r->end = file_size & ~(uint64_t)7;
	r->ring_id = ring_id;
	put64(r->id_be, ring_id);
}

/* Formats the open file: size, both slots (slot B invalid), life 1. */
static int format(struct sv_diskring *r, uint64_t file_size, uint64_t first_seq)
{
	if (ftruncate(r->fd, 0) != 0)
		return -errno;
	int e = posix_fallocate(r->fd, 0, (off_t)file_size);
	if (e != 0 && ftruncate(r->fd, (off_t)file_size) != 0)
		return -errno;
	set_geometry(r, file_size, random_id());
	memset(&r->hdr, 0, sizeof(r->hdr));
	r->hdr.file_size = file_size;
	r->hdr.start = r->start;
	r->hdr.end = r->end;
	r->hdr.ring_id = r->ring_id;
	r->hdr.counter = 0;
	r->life = 1;
	r->head.seq = r->una.seq = r->cur.seq = r->tail.seq = first_seq;
	r->head.off = r->una.off = r->cur.off = r->tail.off = r->start;
	r->una_life = 1;
	uint8_t zero[HDR_AREA];
	memset(zero, 0, sizeof(zero));
	int rc = pwrite_all(r->fd, zero, sizeof(zero), 0);
	/* both slots (counters 1 and 2), so either one alone is enough */
	for (int i = 0; i < 2 && rc == 0; i++) {
		if ((rc = hdr_write(r)) == 0)
			hdr_commit(r);
	}
	if (rc == 0)
		rc = do_datasync(r);
	if (rc != 0)
		return rc;
	return fsync_dir_of(r->path);
}

static void err_out(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_out(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Opens the file. want_size 0 keeps the file's geometry (used while
 * migrating); first_seq numbers the first record of a newly formatted ring.
 * *mismatch is set (and the ring returned) when the file's geometry differs
 * from want_size.
 */
static int open_ring(const char *path, uint64_t want_size, uint64_t first_seq,
                     struct sv_diskring **out, int *mismatch, char *err, size_t errlen)
{
	struct sv_diskring *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->fd = -1;
	sv_buf_init(&r->pend);
	int rc = -ENOMEM;
	if ((r->path = strdup(path)) == NULL)
		goto out;
	r->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (r->fd < 0) {
		rc = -errno;
		err_out(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (flock(r->fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		err_out(err, errlen, "%s: locked by another process", path);
		goto out;
	}
	struct stat st;
	if (fstat(r->fd, &st) != 0) {
		rc = -errno;
		err_out(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = SV_E_PARSE;
		err_out(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size == 0) {
		if ((rc = format(r, want_size, first_seq)) != 0) {
			err_out(err, errlen, "%s: formatting: %s", path, sv_strerror(rc));
			goto out;
		}
		*out = r;
		return 0;
	}
	uint8_t slots[2 * SLOT_SIZE];
	if ((rc = pread_all(r->fd, slots, sizeof(slots), 0)) != 0) {
		err_out(err, errlen, "%s: read: %s", path, strerror(-rc));
		goto out;
	}
	struct slot a, b;
	int va = slot_decode(slots, &a), vb = slot_decode(slots + SLOT_SIZE, &b);
	if (!va && !vb) {
		if (memcmp(slots, MAGIC, 7) != 0 && memcmp(slots + SLOT_SIZE, MAGIC, 7) != 0) {
			rc = SV_E_PARSE;
			err_out(err, errlen,
			        "%s: not a sipvault disk buffer (refusing to overwrite it)", path);
			goto out;
		}
		if ((rc = format(r, want_size ? want_size : SV_DISKRING_DEFAULT_SIZE, first_seq)) !=
		    0) {
			err_out(err, errlen, "%s: reformatting: %s", path, sv_strerror(rc));
			goto out;
		}
		r->reformatted = 1;
		*out = r;
		return 0;
	}
	r->hdr = (va && (!vb || a.counter > b.counter)) ? a : b;
	set_geometry(r, r->hdr.file_size, r->hdr.ring_id);
	r->life = r->hdr.life; /* records of our own life do not exist yet */
	if ((uint64_t)st.st_size != r->file_size && ftruncate(r->fd, (off_t)r->file_size) != 0) {
		rc = -errno;
		err_out(err, errlen, "%s: resizing: %s", path, strerror(errno));
		goto out;
	}
	if ((rc = recover(r)) != 0) {
		err_out(err, errlen, "%s: recovering: %s", path, sv_strerror(rc));
		goto out;
	}
	if (r->hdr.life == UINT32_MAX) {
		rc = -EOVERFLOW;
		err_out(err, errlen, "%s: too many opens", path);
		goto out;
	}
	r->life = r->hdr.life + 1;
	if (r->una.seq == r->tail.seq)
		r->una_life = r->life;
	if ((rc = hdr_write(r)) != 0 || (rc = do_datasync(r)) != 0) {
		err_out(err, errlen, "%s", r->errmsg);
		goto out;
	}
	hdr_commit(r);
	*mismatch = want_size != 0 && want_size != r->file_size;
	*out = r;
	return 0;
out:
	ring_free(r);
	return rc;
}

/* Copies the unacknowledged records of old into a new ring of size bytes at
 * PATH.tmp and renames it over PATH. */
static int migrate(struct sv_diskring *old, uint64_t size, uint64_t *dropped, char *err,
                   size_t errlen)
{
	size_t n = strlen(old->path) + 5;
	char *tmp = malloc(n);
	if (tmp == NULL)
		return -ENOMEM;
	snprintf(tmp, n, "%s.tmp", old->path);
	unlink(tmp);
	struct sv_diskring *nr = NULL;
	int mm = 0;
	int rc = open_ring(tmp, size, old->una.seq, &nr, &mm, err, errlen);
	if (rc != 0)
		goto out;
	for (;;) {
		const uint8_t *d;
		size_t len;
		int64_t t;
		struct sv_diskring_drop dr;
		rc = sv_diskring_next(old, &d, &len, NULL, &t);
		if (rc == SV_E_AGAIN)
			break;
		if (rc == 0)
			rc = sv_diskring_append(nr, d, len, t, NULL, &dr);
		if (rc != 0) {
			err_out(err, errlen, "%s: migrating: %s", old->path, sv_strerror(rc));
			goto out;
		}
		*dropped += dr.records;
	}
	if ((rc = sv_diskring_close(nr)) != 0) {
		nr = NULL;
		err_out(err, errlen, "%s: migrating: %s", tmp, sv_strerror(rc));
		goto out;
	}
	nr = NULL;
	if (rename(tmp, old->path) != 0) {
		rc = -errno;
		err_out(err, errlen, "%s: rename: %s", tmp, strerror(errno));
		goto out;
	}
	rc = fsync_dir_of(old->path);
out:
	if (nr != NULL) {
		ring_free(nr);
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

int sv_diskring_open(const struct sv_diskring_opts *opts, struct sv_diskring **out, char *err,
                     size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (opts == NULL || opts->path == NULL || opts->path[0] == '\0' || out == NULL) {
		err_out(err, errlen, "disk buffer: no path");
		return -EINVAL;
	}
	uint64_t size = opts->max_size ? opts->max_size : SV_DISKRING_DEFAULT_SIZE;
	if (size < SV_DISKRING_MIN_SIZE || size > SV_DISKRING_MAX_SIZE) {
		err_out(err, errlen, "%s: max_size %llu out of range", opts->path,
		        (unsigned long long)size);
		return SV_E_CONFIG;
	}
	struct sv_diskring *r = NULL;
	int mismatch = 0;
	int rc = open_ring(opts->path, size, 1, &r, &mismatch, err, errlen);
	if (rc != 0 || !mismatch) {
		if (rc == 0)
			*out = r;
		return rc;
	}
	uint64_t dropped = 0;
	rc = migrate(r, size, &dropped, err, errlen);
	ring_free(r); /* the old file is gone or untouched; no sync needed */
	if (rc != 0)
		return rc;
	rc = open_ring(opts->path, size, 1, &r, &mismatch, err, errlen);
	if (rc != 0)
		return rc;
	r->dropped_records += dropped;
	*out = r;
	return 0;
}
