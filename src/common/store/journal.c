/*
 * journal.c - segmented write-ahead journal (see journal.h).
 *
 * State: the directory (an open fd, flock'ed), the sorted list of segments
 * on disk (the last one is the current segment, open for writing), and one
 * sv_buf of encoded records not yet written. A sync is one pwrite() of that
 * buffer at the current segment's synced size plus one fdatasync(); on
 * failure the buffer is kept and the next sync writes it again at the same
 * offset, so a half-written attempt is simply overwritten.
 */
#include "store/journal.h"

#include "base/buf.h"
#include "base/crc32c.h"
#include "base/errors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR_LEN         9 /* u32 length, u8 kind, u32 crc */
#define DEFAULT_SEGMENT ((size_t)64 << 20)
#define NAME_LEN        14 /* "NNNNNNNNNN.wal" */
#define READ_CHUNK      ((size_t)256 << 10)
#define KEEP_PENDING    ((size_t)8 << 20) /* larger write buffers are freed after a sync */

struct seg {
	uint32_t num;
	uint32_t refs;
	uint64_t size; /* bytes known to be on disk (synced, or found at open) */
};

struct sv_journal {
	char *dir;
	int dirfd;
	int fd; /* current segment (the last of segs) */
	size_t segment_bytes;
	struct seg *segs; /* ascending by num; never empty after open */
	size_t nsegs, cap;
	struct sv_buf pending;
	uint32_t first_new; /* segments below this existed at open */
	int replay_called;  /* sv_journal_replay() was entered */
	int gc_blocked;     /* old segments not yet replayed to the end */
	int in_replay;      /* inside sv_journal_replay() */
	uint64_t records_written, records_replayed, torn_records, segments_deleted, gc_errors;
	char errmsg[1024];
};

/* ------------------------------------------------------------ helpers */

__attribute__((format(printf, 3, 4))) static int fail(struct sv_journal *j, int rc, const char *fmt,
                                                      ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(j->errmsg, sizeof(j->errmsg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(j->errmsg))
		snprintf(j->errmsg + n, sizeof(j->errmsg) - (size_t)n, ": %s", sv_strerror(rc));
	return rc;
}

static void seg_name(char out[NAME_LEN + 1], uint32_t num)
{
	snprintf(out, NAME_LEN + 1, "%010u.wal", (unsigned)num);
}

static struct seg *seg_find(const struct sv_journal *j, uint32_t num)
{
	size_t lo = 0, hi = j->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (j->segs[mid].num == num)
			return &j->segs[mid];
		if (j->segs[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int seg_push(struct sv_journal *j, uint32_t num, uint64_t size)
{
	struct seg *n = sv_grow(j->segs, j->nsegs, &j->cap, sizeof(*n), 16);
	if (n == NULL)
		return -ENOMEM;
	j->segs = n;
	j->segs[j->nsegs++] = (struct seg){num, 0, size};
	return 0;
}

static int seg_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct seg *)a)->num, y = ((const struct seg *)b)->num;
	return x < y ? -1 : x > y;
}

static struct seg *current(const struct sv_journal *j)
{
	return &j->segs[j->nsegs - 1];
}

/* mkdir -p with mode 0700 for every component created. */
static int make_dirs(const char *path)
{
	char *p = strdup(path);
	int rc = 0;
	if (p == NULL)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			rc = -errno;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

/* Creates segment num (empty) and makes it current. The old current file
 * stays open until the new one exists. */
static int create_segment(struct sv_journal *j, uint32_t num)
{
	char name[NAME_LEN + 1];
	seg_name(name, num);
	int fd = openat(j->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(j, -errno, "cannot create journal segment %s/%s", j->dir, name);
	if (fsync(j->dirfd) != 0) {
		int rc = fail(j, -errno, "cannot fsync journal directory %s", j->dir);
		unlinkat(j->dirfd, name, 0);
		close(fd);
		return rc;
	}
	int rc = seg_push(j, num, 0);
	if (rc != 0) {
		unlinkat(j->dirfd, name, 0);
		close(fd);
		return fail(j, rc, "journal %s", j->dir);
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	return 0;
}

/* Fills j->segs from the directory listing. */
static int list_segments(struct sv_journal *j)
{
	int fd = dup(j->dirfd);
	if (fd < 0)
		return fail(j, -errno, "cannot read journal directory %s", j->dir);
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		int rc = -errno;
		close(fd);
		return fail(j, rc, "cannot read journal directory %s", j->dir);
	}
	rewinddir(d);
	int rc = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		size_t len = strlen(name);
		if (name[0] == '.' || len < 4 || strcmp(name + len - 4, ".wal") != 0)
			continue; /* not ours */
		uint64_t num = 0;
		int ok = len == NAME_LEN;
		for (size_t i = 0; ok && i < NAME_LEN - 4; i++) {
			if (name[i] < '0' || name[i] > '9')
				ok = 0;
			else
				num = num * 10 + (uint64_t)(name[i] - '0');
		}
		if (!ok || num > UINT32_MAX) {
			rc = fail(j, SV_E_PARSE, "unexpected journal segment name %s/%s", j->dir,
			          name);
			break;
		}
		struct stat st;
		if (fstatat(j->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = fail(j, -errno, "cannot stat journal segment %s/%s", j->dir, name);
			break;
		}
		if (!S_ISREG(st.st_mode)) {
			rc = fail(j, SV_E_PARSE, "journal segment %s/%s is not a regular file",
			          j->dir, name);
			break;
		}
		if ((rc = seg_push(j, (uint32_t)num, (uint64_t)st.st_size)) != 0) {
			fail(j, rc, "journal %s", j->dir);
			break;
		}
		errno = 0;
	}
	if (rc == 0 && e == NULL && errno != 0)
		rc = fail(j, -errno, "cannot read journal directory %s", j->dir);
	closedir(d);
	if (rc == 0 && j->nsegs > 1)
		qsort(j->segs, j->nsegs, sizeof(*j->segs), seg_cmp);
	return rc;
}

static void journal_free(struct sv_journal *j)
{
	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd); /* also drops the flock */
	sv_buf_release(&j->pending);
	free(j->segs);
	free(j->dir);
	free(j);
}

/* ------------------------------------------------------------ open */

int sv_journal_open(const struct sv_journal_opts *opts, struct sv_journal **out, char *err,
                    size_t errlen)
{
	struct sv_journal *j = NULL;
	int rc;
	if (out != NULL)
		*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (opts == NULL || out == NULL || opts->dir == NULL || opts->dir[0] == '\0') {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "journal: no directory given");
		return -EINVAL;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL || (j->dir = strdup(opts->dir)) == NULL) {
		rc = -ENOMEM;
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "journal %s: %s", opts->dir, sv_strerror(rc));
		if (j != NULL)
			free(j);
		return rc;
	}
	j->fd = -1;
	j->dirfd = -1;
	j->segment_bytes = opts->segment_bytes ? opts->segment_bytes : DEFAULT_SEGMENT;
	sv_buf_init(&j->pending);

	if ((rc = make_dirs(j->dir)) != 0) {
		fail(j, rc, "cannot create journal directory %s", j->dir);
		goto out;
	}
	if ((j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = fail(j, -errno, "cannot open journal directory %s", j->dir);
		goto out;
	}
	if (flock(j->dirfd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		fail(j, rc, "cannot lock journal directory %s (another server using it?)", j->dir);
		goto out;
	}
	if ((rc = list_segments(j)) != 0)
		goto out;
	uint32_t next = 1;
	if (j->nsegs > 0) {
		if (current(j)->num == UINT32_MAX) {
			rc = fail(j, -EOVERFLOW, "journal %s: segment numbers exhausted", j->dir);
			goto out;
		}
		next = current(j)->num + 1;
	}
	j->first_new = next;
	j->gc_blocked = j->nsegs > 0;
	if ((rc = create_segment(j, next)) != 0)
		goto out;
	*out = j;
	j = NULL; /* transferred */
	rc = 0;
out:
	if (rc != 0 && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", j->errmsg);
	journal_free(j);
	return rc;
}

/* ------------------------------------------------------------ replay */

/* Makes rb hold at least `need` bytes from *pos on (fewer only at EOF). */
static int fill(int fd, struct sv_buf *rb, size_t *pos, size_t need)
{
	if (rb->len - *pos >= need)
		return 0;
	if (*pos > 0) {
		memmove(rb->data, rb->data + *pos, rb->len - *pos);
		rb->len -= *pos;
		*pos = 0;
	}
	size_t want = need > READ_CHUNK ? need : READ_CHUNK;
	if (rb->cap < want) {
		int rc = sv_buf_reserve(rb, want - rb->len);
		if (rc != 0)
			return rc;
	}
	while (rb->len < need) {
		ssize_t n = read(fd, rb->data + rb->len, rb->cap - rb->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		rb->len += (size_t)n;
	}
	return 0;
}

static int replay_segment(struct sv_journal *j, size_t idx, int newest, struct sv_buf *rb,
                          int (*fn)(void *, uint32_t, uint8_t, const uint8_t *, size_t), void *arg)
{
	char name[NAME_LEN + 1];
	uint32_t num = j->segs[idx].num;
	seg_name(name, num);
	int fd = openat(j->dirfd, name, (newest ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return fail(j, -errno, "cannot open journal segment %s/%s", j->dir, name);
	uint64_t off = 0; /* file offset of rb->data[pos] */
	size_t pos = 0;
	int rc = 0, torn = 0;
	sv_buf_reset(rb);
	for (;;) {
		if ((rc = fill(fd, rb, &pos, HDR_LEN)) != 0)
			break;
		size_t avail = rb->len - pos;
		if (avail == 0)
			break; /* clean end */
		if (avail < HDR_LEN) {
			torn = 1;
			break;
		}
		const uint8_t *h = rb->data + pos;
		uint32_t len = sv_be32(h);
		uint8_t kind = h[4];
		uint32_t crc = sv_be32(h + 5);
		if (len > SV_JOURNAL_MAX_RECORD) {
			torn = 1;
			break;
		}
		if ((rc = fill(fd, rb, &pos, HDR_LEN + (size_t)len)) != 0)
			break;
		if (rb->len - pos < HDR_LEN + (size_t)len) {
			torn = 1;
			break;
		}
		h = rb->data + pos;
		if (sv_crc32c(sv_crc32c(0, &kind, 1), h + HDR_LEN, len) != crc) {
			torn = 1;
			break;
		}
		j->records_replayed++;
		if ((rc = fn(arg, num, kind, h + HDR_LEN, len)) != 0) {
			close(fd);
			return rc;
		}
		pos += HDR_LEN + (size_t)len;
		off += HDR_LEN + (uint64_t)len;
	}
	if (rc != 0) {
		close(fd);
		return fail(j, rc, "cannot read journal segment %s/%s", j->dir, name);
	}
	if (torn) {
		j->torn_records++;
		fail(j, SV_E_PARSE,
		     "journal segment %s/%s: torn or corrupt record at offset %llu%s", j->dir, name,
		     (unsigned long long)off, newest ? " (truncated there)" : "");
		if (newest) {
			if (ftruncate(fd, (off_t)off) != 0 || fsync(fd) != 0) {
				rc = fail(j, -errno, "cannot truncate journal segment %s/%s",
				          j->dir, name);
				close(fd);
				return rc;
			}
			/* the index is stable: fn cannot add or remove old segments */
			j->segs[idx].size = off;
		}
	}
	close(fd);
	return 0;
}

int sv_journal_replay(struct sv_journal *j,
                      int (*fn)(void *arg, uint32_t segment, uint8_t kind, const uint8_t *data,
                                size_t len),
                      void *arg)
{
	if (j == NULL || fn == NULL)
		return -EINVAL;
	if (j->replay_called)
		return fail(j, -EINVAL, "journal %s: replayed twice", j->dir);
	j->replay_called = 1;
	/* Old segments: every segment numbered below first_new. Nothing can
	 * collect them while in_replay is set, so indexes stay valid. */
	size_t nold = 0;
	while (nold < j->nsegs && j->segs[nold].num < j->first_new)
		nold++;
	size_t newest = nold;
	for (size_t i = nold; i-- > 0;) {
		if (j->segs[i].size > 0) {
			newest = i;
			break;
		}
	}
	struct sv_buf rb;
	sv_buf_init(&rb);
	int rc = 0;
	j->in_replay = 1;
	for (size_t i = 0; i < nold && rc == 0; i++)
		rc = replay_segment(j, i, i == newest, &rb, fn, arg);
	j->in_replay = 0;
	sv_buf_release(&rb);
	if (rc == 0)
		j->gc_blocked = 0;
	return rc;
}

/* ------------------------------------------------------------ append */

int sv_journal_appendv(struct sv_journal *j, uint8_t kind, const struct iovec *iov, int iovcnt,
                       uint32_t *segment)
{
	if (j == NULL || iovcnt < 0 || (iov == NULL && iovcnt > 0))
		return -EINVAL;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SV_JOURNAL_MAX_RECORD - total)
			return -EFBIG;
		if (iov[i].iov_base == NULL && iov[i].iov_len > 0)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	int rc = sv_buf_reserve(&j->pending, HDR_LEN + total);
	if (rc != 0)
		return rc;
	uint8_t *h = j->pending.data + j->pending.len;
	uint8_t *p = h + HDR_LEN;
	uint32_t crc = sv_crc32c(0, &kind, 1);
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		/* checksum the copy: it is hot in the cache and what will be written */
		crc = sv_crc32c(crc, p, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	sv_put_be32(h, (uint32_t)total);
	h[4] = kind;
	sv_put_be32(h + 5, crc);
	j->pending.len += HDR_LEN + total;
	j->records_written++;
	if (segment != NULL)
		*segment = current(j)->num;
	return 0;
}

int sv_journal_append(struct sv_journal *j, uint8_t kind, const void *data, size_t len,
                      uint32_t *segment)
{
	struct iovec v = {(void *)(uintptr_t)data, len};
	return sv_journal_appendv(j, kind, &v, 1, segment);
}

/* ------------------------------------------------------------ sync, GC */

static void collect(struct sv_journal *j)
{
	size_t n = 0;
	char name[NAME_LEN + 1];
	while (n + 1 < j->nsegs && j->segs[n].refs == 0) {
		seg_name(name, j->segs[n].num);
		if (unlinkat(j->dirfd, name, 0) != 0 && errno != ENOENT) {
			fail(j, -errno, "cannot delete journal segment %s/%s", j->dir, name);
			j->gc_errors++;
			break;
		}
		n++;
	}
	if (n == 0)
		return;
	memmove(j->segs, j->segs + n, (j->nsegs - n) * sizeof(*j->segs));
	j->nsegs -= n;
	j->segments_deleted += n;
	if (fsync(j->dirfd) != 0) {
		fail(j, -errno, "cannot fsync journal directory %s", j->dir);
		j->gc_errors++;
	}
}

int sv_journal_sync(struct sv_journal *j)
{
	if (j == NULL)
		return -EINVAL;
	struct seg *cur = current(j);
	char name[NAME_LEN + 1];
	if (j->pending.len > 0) {
		const uint8_t *p = j->pending.data;
		size_t left = j->pending.len;
		uint64_t off = cur->size;
		while (left > 0) {
			ssize_t n = pwrite(j->fd, p, left, (off_t)off);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				int rc = -errno;
				seg_name(name, cur->num);
				/* drop the partial write; the retry rewrites it anyway */
				if (ftruncate(j->fd, (off_t)cur->size) != 0) {
					/* harmless: the next attempt overwrites the same range */
				}
				return fail(j, rc, "cannot write journal segment %s/%s", j->dir,
				            name);
			}
			p += n;
			left -= (size_t)n;
			off += (uint64_t)n;
		}
		if (fdatasync(j->fd) != 0) {
			int rc = -errno;
			seg_name(name, cur->num);
			return fail(j, rc, "cannot fdatasync journal segment %s/%s", j->dir, name);
		}
		cur->size += j->pending.len;
		if (j->pending.cap > KEEP_PENDING)
			sv_buf_release(&j->pending);
		else
			sv_buf_reset(&j->pending);
	}
	if (cur->size >= j->segment_bytes) {
		if (cur->num == UINT32_MAX)
			return fail(j, -EOVERFLOW, "journal %s: segment numbers exhausted", j->dir);
		int rc = create_segment(j, cur->num + 1);
		if (rc != 0)
			return rc;
	}
	if (!j->in_replay && !j->gc_blocked)
		collect(j);
	return 0;
}

size_t sv_journal_pending(const struct sv_journal *j)
{
	return j != NULL ? j->pending.len : 0;
}

uint32_t sv_journal_current(const struct sv_journal *j)
{
	return j != NULL ? current(j)->num : 0;
}

void sv_journal_ref(struct sv_journal *j, uint32_t segment)
{
	struct seg *s = j != NULL ? seg_find(j, segment) : NULL;
	if (s != NULL && s->refs < UINT32_MAX)
		s->refs++;
}

void sv_journal_unref(struct sv_journal *j, uint32_t segment)
{
	struct seg *s = j != NULL ? seg_find(j, segment) : NULL;
	if (s != NULL && s->refs > 0)
		s->refs--;
}

const char *sv_journal_error(const struct sv_journal *j)
{
	return j != NULL ? j->errmsg : "";
}

void sv_journal_stats(const struct sv_journal *j, struct sv_journal_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (j == NULL)
		return;
	out->segments = j->nsegs;
	for (size_t i = 0; i < j->nsegs; i++)
		out->bytes += j->segs[i].size;
	out->oldest_segment = j->segs[0].num;
	char name[NAME_LEN + 1];
	struct stat st;
	seg_name(name, j->segs[0].num);
	if (fstatat(j->dirfd, name, &st, 0) == 0)
		out->oldest_mtime = (int64_t)st.st_mtime;
	out->records_written = j->records_written;
	out->records_replayed = j->records_replayed;
	out->torn_records = j->torn_records;
	out->segments_deleted = j->segments_deleted;
	out->gc_errors = j->gc_errors;
}

int sv_journal_close(struct sv_journal *j)
{
	if (j == NULL)
		return 0;
	int rc = sv_journal_sync(j);
	journal_free(j);
	return rc;
}
