/*
 * s3store.c - the S3 back end of the object store: durable spool first, then
 * an upload with the S3 client, retried for ever; the spool file goes only
 * when S3 confirmed it.
 *
 * Data flow: put -> spool file (tmp, fsync, rename, dir fsync) -> done(0) ->
 * the object waits in its bucket's FIFO -> pump() starts up to max_uploads
 * uploads, round-robin over the buckets -> upload_done(): unlink, or back off
 * the bucket and put the object back at the head of its FIFO.
 */
#include "store/s3store.h"

#include "base/errors.h"
#include "base/config.h"
#include "base/crc32c.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAGIC      "SVSP"
#define VERSION    1
#define HEADER_MAX 2048 /* 4+1+1 + 2+63 + 2+1024 + 2+255 + 2+255 + 8+8 = 1627 */
#define SUFFIX     ".obj"
#define TMP_PREFIX ".tmp-"
#define NAME_LEN   (16 + 1 + 8 + 4) /* "%016x-%08x.obj" */

/* ------------------------------------------------------------ format */

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* The header (everything before the data) into out. */
static int encode_header(const char *bucket, const char *key, const char *ctype, const char *cenc,
                         int64_t created_ns, uint64_t len, struct sv_buf *out)
{
	const char *str[4] = {bucket, key, ctype != NULL ? ctype : "", cenc != NULL ? cenc : ""};
	if (!sv_objstore_key_ok(bucket, key))
		return -EINVAL;
	for (int i = 2; i < 4; i++)
		if (strlen(str[i]) > 255 || !printable(str[i], strlen(str[i])))
			return -EINVAL;
	size_t old = out->len;
	int r = sv_buf_append(out, MAGIC, 4);
	r = r != 0 ? r : sv_buf_put_u8(out, VERSION);
	r = r != 0 ? r : sv_buf_put_u8(out, 0);
	for (int i = 0; i < 4 && r == 0; i++) {
		size_t n = strlen(str[i]);
		r = sv_buf_put_u16(out, (uint16_t)n);
		r = r != 0 ? r : sv_buf_append(out, str[i], n);
	}
	r = r != 0 ? r : sv_buf_put_u64(out, (uint64_t)created_ns);
	r = r != 0 ? r : sv_buf_put_u64(out, len);
	if (r != 0) {
		out->len = old;
		return -ENOMEM;
	}
	return 0;
}

int sv_s3store_encode(const char *bucket, const char *key, const char *content_type,
                      const char *content_encoding, int64_t created_ns, const void *data,
                      size_t len, struct sv_buf *out)
{
	size_t old = out->len;
	int r = encode_header(bucket, key, content_type, content_encoding, created_ns, len, out);
	if (r != 0)
		return r;
	if (sv_buf_append(out, data, len) != 0) {
		out->len = old;
		return -ENOMEM;
	}
	uint32_t crc = sv_crc32c(0, out->data + old, out->len - old);
	if (sv_buf_put_u32(out, crc) != 0) {
		out->len = old;
		return -ENOMEM;
	}
	return 0;
}

static int rd_str(struct sv_rd *rd, char *dst, size_t cap)
{
	uint16_t n;
	const uint8_t *p;
	int r = sv_rd_u16(rd, &n);
	if (r != 0)
		return r;
	if (n >= cap)
		return SV_E_PARSE;
	if ((r = sv_rd_bytes(rd, n, &p)) != 0)
		return r;
	memcpy(dst, p, n);
	dst[n] = '\0';
	if (memchr(dst, '\0', n) != NULL)
		return SV_E_PARSE;
	return 0;
}

int sv_s3store_decode_header(const uint8_t *p, size_t n, struct sv_s3store_item *it)
{
	struct sv_rd rd;
	const uint8_t *m;
	uint8_t ver, flags;
	uint64_t created;
	int r;

	memset(it, 0, sizeof(*it));
	sv_rd_init(&rd, p, n);
	if ((r = sv_rd_bytes(&rd, 4, &m)) != 0)
		return r;
	if (memcmp(m, MAGIC, 4) != 0)
		return SV_E_PARSE;
	if ((r = sv_rd_u8(&rd, &ver)) != 0 || (r = sv_rd_u8(&rd, &flags)) != 0)
		return r;
	if (ver != VERSION || flags != 0)
		return SV_E_PARSE;
	if ((r = rd_str(&rd, it->bucket, sizeof(it->bucket))) != 0 ||
	    (r = rd_str(&rd, it->key, sizeof(it->key))) != 0 ||
	    (r = rd_str(&rd, it->content_type, sizeof(it->content_type))) != 0 ||
	    (r = rd_str(&rd, it->content_encoding, sizeof(it->content_encoding))) != 0)
		return r;
	if ((r = sv_rd_u64(&rd, &created)) != 0 || (r = sv_rd_u64(&rd, &it->data_len)) != 0)
		return r;
	if (!sv_objstore_key_ok(it->bucket, it->key) ||
	    !printable(it->content_type, strlen(it->content_type)) ||
	    !printable(it->content_encoding, strlen(it->content_encoding)))
		return SV_E_PARSE;
	/* A length that cannot be a file of ours (u64 wrap below). */
	if (it->data_len > (uint64_t)INT64_MAX - HEADER_MAX)
		return SV_E_PARSE;
	it->created_ns = (int64_t)created;
	it->header_len = rd.off;
	return 0;
}

int sv_s3store_decode(const uint8_t *p, size_t n, struct sv_s3store_item *it, const uint8_t **data)
{
	int r = sv_s3store_decode_header(p, n, it);
	if (r != 0)
		return r;
	uint64_t need = (uint64_t)it->header_len + it->data_len + 4;
	if ((uint64_t)n < need)
		return SV_E_TRUNC;
	if ((uint64_t)n > need)
		return SV_E_PARSE;
	size_t body = n - 4;
	if (sv_crc32c(0, p, body) != sv_be32(p + body))
		return SV_E_PARSE;
	*data = p + it->header_len;
	return 0;
}

/* ------------------------------------------------------------ state */

struct item;
TAILQ_HEAD(item_q, item);

struct bucket {
	char name[64];
	struct item_q waiting;
	uint64_t nwaiting;
	unsigned active;
	unsigned fails;        /* consecutive failed attempts */
	int64_t blocked_until; /* monotonic ms */
	uint64_t errors;
	uint64_t since_warn; /* failures since the last warning */
	int64_t last_warn;   /* monotonic ms, 0: never */
	char last_error[1024];
	int64_t last_error_ns;
	int check_rc;
	char check_error[1024];
};

struct item {
	TAILQ_ENTRY(item) q;   /* bucket's waiting queue (when not active) */
	TAILQ_ENTRY(item) all; /* every spooled item, oldest first */
	struct bucket *b;
	char name[NAME_LEN + 1];
	char *key;
	char *ctype;
	char *cenc;
	int64_t created_ns;
	uint64_t len;
	struct sv_s3store *ss;
	int active;
};

struct sv_s3store {
	struct event_base *base;
	struct sv_s3 *s3;     /* uploads and checks, on base */
	struct sv_s3 *getter; /* blocking gets, on a private base */
	char *dir;
	int dirfd;
	struct item_q all;
	struct bucket **buckets;
	size_t nbuckets, capbuckets;
	size_t rr;
	unsigned max_uploads, retry_base_ms, retry_max_ms, warn_interval_s;
	unsigned active;
	uint32_t seq;
	uint32_t rnd;
	struct event *timer;
	int64_t timer_at;              /* monotonic ms the timer is armed for, 0: not armed */
	char *access_key, *secret_key; /* for masking error texts; wiped on free */
	struct item *fresh;            /* pump(): this item's data is in memory */
	const struct sv_buf *fresh_data;
	int freeing;
	struct sv_s3store_stats st;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t next_rnd(struct sv_s3store *ss)
{
	uint32_t x = ss->rnd;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return ss->rnd = x != 0 ? x : 0x9e3779b9u;
}

/* Overwrites every occurrence of secret in s with '*' (same length). */
static void mask(char *s, const char *secret)
{
	size_t n = secret != NULL ? strlen(secret) : 0;
	if (n == 0)
		return;
	for (char *p = strstr(s, secret); p != NULL; p = strstr(p + n, secret))
		memset(p, '*', n);
}

static void mask_creds(const struct sv_s3store *ss, char *s)
{
	mask(s, ss->secret_key);
	mask(s, ss->access_key);
}

static struct bucket *bucket_get(struct sv_s3store *ss, const char *name)
{
	for (size_t i = 0; i < ss->nbuckets; i++)
		if (strcmp(ss->buckets[i]->name, name) == 0)
			return ss->buckets[i];
	if (strlen(name) >= sizeof(ss->buckets[0]->name))
		return NULL;
	struct bucket **nb = sv_grow(ss->buckets, ss->nbuckets, &ss->capbuckets, sizeof(*nb), 8);
	if (nb == NULL)
		return NULL;
	ss->buckets = nb;
	struct bucket *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	snprintf(b->name, sizeof(b->name), "%s", name);
	TAILQ_INIT(&b->waiting);
	b->check_rc = 1;
	ss->buckets[ss->nbuckets++] = b;
	return b;
}

static void item_free(struct item *it)
{
	if (it == NULL)
		return;
	free(it->key);
	free(it->ctype);
	free(it->cenc);
	free(it);
}

static struct item *item_new(struct sv_s3store *ss, const char *name, const char *bucket,
                             const char *key, const char *ctype, const char *cenc,
                             int64_t created_ns, uint64_t len)
{
	struct item *it = calloc(1, sizeof(*it));
	if (it == NULL)
		return NULL;
	it->ss = ss;
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->key = strdup(key);
	it->ctype = (ctype != NULL && ctype[0] != '\0') ? strdup(ctype) : NULL;
	it->cenc = (cenc != NULL && cenc[0] != '\0') ? strdup(cenc) : NULL;
	it->b = bucket_get(ss, bucket);
	if (it->key == NULL || it->b == NULL || (ctype != NULL && ctype[0] != '\0' && !it->ctype) ||
	    (cenc != NULL && cenc[0] != '\0' && !it->cenc)) {
		item_free(it);
		return NULL;
	}
	it->created_ns = created_ns;
	it->len = len;
	return it;
}

/* Adds a new item at the tails of its bucket's queue and of the spool. */
static void item_enqueue(struct sv_s3store *ss, struct item *it)
{
	TAILQ_INSERT_TAIL(&it->b->waiting, it, q);
	it->b->nwaiting++;
	TAILQ_INSERT_TAIL(&ss->all, it, all);
	ss->st.spool_objects++;
	ss->st.spool_bytes += it->len;
}

/* Removes an item (not active, i.e. not in its bucket queue) from the spool. */
static void item_forget(struct sv_s3store *ss, struct item *it)
{
	TAILQ_REMOVE(&ss->all, it, all);
	ss->st.spool_objects--;
	ss->st.spool_bytes -= it->len;
	item_free(it);
}

/* ------------------------------------------------------------ files */

static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		size_t left = (size_t)w;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* Writes the spool file `name` durably. 0 or -errno. */
static int spool_write(struct sv_s3store *ss, const char *name, const struct sv_buf *hdr,
                       const struct sv_buf *data)
{
	char tmp[sizeof(TMP_PREFIX) + NAME_LEN + 1];
	uint8_t crcb[4];
	uint32_t crc = sv_crc32c(0, hdr->data, hdr->len);
	int fd, r = 0;

	crc = sv_crc32c(crc, data->data, data->len);
	sv_put_be32(crcb, crc);
	snprintf(tmp, sizeof(tmp), TMP_PREFIX "%s", name);
	fd = openat(ss->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	struct iovec iov[3] = {
	    {hdr->data, hdr->len},
	    {data->data, data->len},
	    {crcb, 4},
	};
	if ((r = write_all(fd, iov, 3)) != 0)
		goto fail;
	if (fsync(fd) != 0) {
		r = -errno;
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		r = -errno;
		goto fail;
	}
	fd = -1;
	if (renameat(ss->dirfd, tmp, ss->dirfd, name) != 0) {
		r = -errno;
		goto fail;
	}
	if (fsync(ss->dirfd) != 0) {
		/* Durability of the name unknown: do not claim it. */
		r = -errno;
		unlinkat(ss->dirfd, name, 0);
		return r;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(ss->dirfd, tmp, 0);
	return r;
}

/* Reads a whole spool file into out. 0 or -errno. */
static int read_file(int dirfd, const char *name, struct sv_buf *out)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		r = -errno;
		goto out;
	}
	if (sv_buf_reserve(out, (size_t)sb.st_size + 1) != 0) {
		r = -ENOMEM;
		goto out;
	}
	r = sv_buf_read_fd(out, fd);
out:
	close(fd);
	return r;
}

/* Moves an unusable file aside ("name.corrupt"), counted and logged. */
static void set_aside(struct sv_s3store *ss, const char *name, const char *why)
{
	char dst[512];
	snprintf(dst, sizeof(dst), "%s.corrupt", name);
	ss->st.corrupt++;
	if (renameat(ss->dirfd, name, ss->dirfd, dst) != 0)
		log_err("s3 store: spool file %s/%s is unusable (%s) and cannot be renamed",
		        ss->dir, name, why);
	else
		log_errx("s3 store: spool file %s/%s is unusable (%s); kept as %s, not uploaded",
		         ss->dir, name, why, dst);
}

/* ------------------------------------------------------------ uploads */

static void pump(struct sv_s3store *ss);

/* Counts a failed attempt of one object (not queued at this moment) and
 * backs its bucket off. */
static void record_error(struct sv_s3store *ss, struct bucket *b, const char *line)
{
	int64_t now = mono_ms();
	b->errors++;
	b->since_warn++;
	b->fails++;
	snprintf(b->last_error, sizeof(b->last_error), "%s", line);
	mask_creds(ss, b->last_error);
	b->last_error_ns = real_ns();
	unsigned fails = b->fails > 30 ? 30 : b->fails;
	b->blocked_until =
	    now + sv_s3_backoff_ms(fails, ss->retry_base_ms, ss->retry_max_ms, next_rnd(ss));
	if (b->last_warn == 0 || now - b->last_warn >= (int64_t)ss->warn_interval_s * 1000) {
		log_warnx("s3 store: upload to bucket %s failed: %s (%" PRIu64
		          " failed attempts since the last warning; %" PRIu64
		          " objects of this bucket waiting in the spool; retrying in %" PRId64
		          " ms)",
		          b->name, b->last_error, b->since_warn, b->nwaiting + b->active + 1,
		          b->blocked_until - now);
		b->last_warn = now;
		b->since_warn = 0;
	}
}

/*
 * Puts a failed item back. To the tail, so that one object S3 keeps refusing
 * cannot block its bucket's probes for ever; but to the head when a newer
 * version of the same key waits, which must stay the last one written.
 */
static void requeue_failed(struct bucket *b, struct item *it)
{
	struct item *o;
	TAILQ_FOREACH(o, &b->waiting, q)
	{
		if (strcmp(o->key, it->key) == 0) {
			TAILQ_INSERT_HEAD(&b->waiting, it, q);
			b->nwaiting++;
			return;
		}
	}
	TAILQ_INSERT_TAIL(&b->waiting, it, q);
	b->nwaiting++;
}

static void upload_done(struct sv_s3_result *res, void *arg)
{
	struct item *it = arg;
	struct sv_s3store *ss = it->ss;
	struct bucket *b = it->b;

	it->active = 0;
	b->active--;
	ss->active--;
	ss->st.uploads_active--;
	if (ss->freeing) {
		/* Cancelled at shutdown: the file stays for the next start. */
		TAILQ_REMOVE(&ss->all, it, all);
		item_free(it);
		return;
	}
	if (res->rc == 0) {
		if (unlinkat(ss->dirfd, it->name, 0) != 0 && errno != ENOENT)
			log_warn("s3 store: cannot remove spool file %s/%s (it will be uploaded "
			         "again after a restart)",
			         ss->dir, it->name);
		ss->st.uploads_ok++;
		if (b->fails > 0) {
			log_info("s3 store: uploads to bucket %s work again (%" PRIu64
			         " objects of this bucket waiting in the spool)",
			         b->name, b->nwaiting);
			b->fails = 0;
			b->since_warn = 0;
			b->last_warn = 0;
		}
		item_forget(ss, it);
	} else {
		ss->st.uploads_failed++;
		record_error(ss, b, res->error[0] != '\0' ? res->error : sv_strerror(res->rc));
		requeue_failed(b, it);
	}
	pump(ss);
}

/* Starts one upload of it (already off its bucket queue). */
static void upload_start(struct sv_s3store *ss, struct item *it)
{
	struct sv_buf file;
	const uint8_t *data;
	size_t len;
	struct sv_s3store_item hdr;
	int r;

	sv_buf_init(&file);
	if (it == ss->fresh) {
		data = ss->fresh_data->data;
		len = ss->fresh_data->len;
	} else {
		if ((r = read_file(ss->dirfd, it->name, &file)) != 0) {
			char why[128];
			snprintf(why, sizeof(why), "read: %s", strerror(-r));
			if (r == -ENOENT) {
				log_errx("s3 store: spool file %s/%s vanished; %s/%s is lost",
				         ss->dir, it->name, it->b->name, it->key);
				ss->st.corrupt++;
			} else if (r == -ENOMEM) {
				/* Try again later. */
				TAILQ_INSERT_HEAD(&it->b->waiting, it, q);
				it->b->nwaiting++;
				record_error(ss, it->b, "out of memory reading the spool");
				return;
			} else {
				set_aside(ss, it->name, why);
			}
			item_forget(ss, it);
			return;
		}
		if ((r = sv_s3store_decode(file.data, file.len, &hdr, &data)) != 0 ||
		    strcmp(hdr.bucket, it->b->name) != 0 || strcmp(hdr.key, it->key) != 0) {
			set_aside(ss, it->name, r != 0 ? "bad CRC or size" : "header changed");
			sv_buf_release(&file);
			item_forget(ss, it);
			return;
		}
		len = (size_t)hdr.data_len;
	}
	struct sv_s3_put_opts po = {.content_type = it->ctype, .content_encoding = it->cenc};
	r = sv_s3_put(ss->s3, it->b->name, it->key, data, len, &po, upload_done, it);
	sv_buf_release(&file);
	if (r != 0) {
		char line[256];
		snprintf(line, sizeof(line), "PUT %s/%.150s: not accepted by the client: %s",
		         it->b->name, it->key, sv_strerror(r));
		ss->st.uploads_failed++;
		record_error(ss, it->b, line);
		TAILQ_INSERT_HEAD(&it->b->waiting, it, q);
		it->b->nwaiting++;
		return;
	}
	it->active = 1;
	it->b->active++;
	ss->active++;
	ss->st.uploads_active++;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_s3store *ss = arg;
	(void)fd;
	(void)what;
	ss->timer_at = 0;
	pump(ss);
}

static bool eligible(const struct bucket *b, int64_t now)
{
	if (b->nwaiting == 0)
		return false;
	if (b->fails == 0)
		return true;
	/* Failing: one probe at a time, after the back-off. */
	return b->active == 0 && now >= b->blocked_until;
}

static void pump(struct sv_s3store *ss)
{
	int64_t now = mono_ms();
	if (ss->freeing)
		return;
	while (ss->active < ss->max_uploads && ss->nbuckets > 0) {
		struct bucket *b = NULL;
		for (size_t k = 0; k < ss->nbuckets; k++) {
			struct bucket *c = ss->buckets[(ss->rr + k) % ss->nbuckets];
			if (eligible(c, now)) {
				b = c;
				ss->rr = (ss->rr + k + 1) % ss->nbuckets;
				break;
			}
		}
		if (b == NULL)
			break;
		struct item *it = TAILQ_FIRST(&b->waiting);
		TAILQ_REMOVE(&b->waiting, it, q);
		b->nwaiting--;
		upload_start(ss, it);
	}
	/* Wake up when the first backed-off bucket may be probed again. */
	int64_t at = 0;
	for (size_t k = 0; k < ss->nbuckets; k++) {
		struct bucket *c = ss->buckets[k];
		if (c->nwaiting > 0 && c->fails > 0 && c->active == 0 &&
		    (at == 0 || c->blocked_until < at))
			at = c->blocked_until;
	}
	if (at != 0 && (ss->timer_at == 0 || at < ss->timer_at)) {
		int64_t d = at - now;
		if (d < 1)
			d = 1;
		struct timeval tv = {(time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000};
		if (evtimer_add(ss->timer, &tv) == 0)
			ss->timer_at = at;
	}
}

/* ------------------------------------------------------------ objstore ops */

static void s3_put(void *impl, const char *bucket, const char *key, const char *content_type,
                   const char *content_encoding, struct sv_buf *data, struct sv_objstore_op *op)
{
	struct sv_s3store *ss = impl;
	struct sv_buf hdr;
	char name[NAME_LEN + 1];
	int64_t created = real_ns();
	uint64_t n = data->len;
	struct item *it = NULL;
	int r;

	sv_buf_init(&hdr);
	snprintf(name, sizeof(name), "%016" PRIx64 "-%08" PRIx32 SUFFIX, (uint64_t)created,
	         ss->seq++);
	if ((r = encode_header(bucket, key, content_type, content_encoding, created, n, &hdr)) != 0)
		goto fail;
	it = item_new(ss, name, bucket, key, content_type, content_encoding, created, n);
	if (it == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = spool_write(ss, name, &hdr, data)) != 0)
		goto fail;
	sv_buf_release(&hdr);
	ss->st.spooled++;
	item_enqueue(ss, it);
	/* Start at once when there is room, from the bytes in memory. */
	ss->fresh = it;
	ss->fresh_data = data;
	pump(ss);
	ss->fresh = NULL;
	ss->fresh_data = NULL;
	sv_buf_release(data);
	sv_objstore_op_done(op, 0, n);
	return;
fail:
	log_warnx("s3 store: cannot spool %s/%.200s in %s: %s", bucket, key, ss->dir,
	          sv_strerror(r));
	ss->st.spool_errors++;
	item_free(it);
	sv_buf_release(&hdr);
	sv_buf_release(data);
	sv_objstore_op_done(op, r, n);
}

static int s3_get(void *impl, const char *bucket, const char *key, struct sv_buf *out)
{
	struct sv_s3store *ss = impl;
	struct item *it;
	int r;

	/* Newest spooled version first: it is what S3 will hold. */
	TAILQ_FOREACH_REVERSE(it, &ss->all, item_q, all)
	{
		if (strcmp(it->b->name, bucket) != 0 || strcmp(it->key, key) != 0)
			continue;
		struct sv_buf file;
		struct sv_s3store_item hdr;
		const uint8_t *data;
		sv_buf_init(&file);
		if ((r = read_file(ss->dirfd, it->name, &file)) == 0 &&
		    (r = sv_s3store_decode(file.data, file.len, &hdr, &data)) == 0 &&
		    sv_buf_append(out, data, (size_t)hdr.data_len) != 0)
			r = -ENOMEM;
		sv_buf_release(&file);
		if (r == -ENOENT) /* uploaded and removed meanwhile: ask S3 */
			break;
		return r;
	}
	struct sv_s3_result res;
	r = sv_s3_sync_get(ss->getter, bucket, key, &res);
	if (r == 0 && sv_buf_append(out, res.body.data, res.body.len) != 0)
		r = -ENOMEM;
	if (r != 0 && r != SV_E_NOTFOUND) {
		mask_creds(ss, res.error);
		log_warnx("s3 store: %s", res.error);
	}
	sv_s3_result_release(&res);
	return r;
}

static void s3_free(void *impl)
{
	struct sv_s3store *ss = impl;
	struct item *it;
	if (ss == NULL)
		return;
	ss->freeing = 1;
	sv_s3_free(ss->s3); /* cancels uploads and checks: their callbacks free them */
	sv_s3_free(ss->getter);
	while ((it = TAILQ_FIRST(&ss->all)) != NULL) {
		TAILQ_REMOVE(&ss->all, it, all);
		item_free(it);
	}
	for (size_t i = 0; i < ss->nbuckets; i++)
		free(ss->buckets[i]);
	free(ss->buckets);
	if (ss->timer != NULL)
		event_free(ss->timer);
	if (ss->dirfd >= 0)
		close(ss->dirfd); /* also drops the flock */
	sv_conf_free_secret(ss->access_key);
	sv_conf_free_secret(ss->secret_key);
	free(ss->dir);
	free(ss);
}

static const struct sv_objstore_ops s3_ops = {
    .name = "s3",
    .put = s3_put,
    .get = s3_get,
    .free = s3_free,
};

/* ------------------------------------------------------------ open */

static int mkdirs(const char *path)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			break;
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool spool_name(const char *n)
{
	size_t l = strlen(n);
	if (l != NAME_LEN || strcmp(n + l - strlen(SUFFIX), SUFFIX) != 0 || n[16] != '-')
		return false;
	for (size_t i = 0; i < l - strlen(SUFFIX); i++)
		if (i != 16 && !((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
			return false;
	return true;
}

/* Lists the spool, removes temporary leftovers, enqueues valid files. */
static int scan(struct sv_s3store *ss, char *err, size_t errlen)
{
	int fd = dup(ss->dirfd);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
			/* A put that never reached done(0): never acknowledged. */
			unlinkat(ss->dirfd, de->d_name, 0);
			continue;
		}
		if (!spool_name(de->d_name))
			continue;
		char **nn = sv_grow(names, n, &cap, sizeof(*nn), 64);
		if (nn == NULL) {
			r = -ENOMEM;
			goto out;
		}
		names = nn;
		if ((names[n] = strdup(de->d_name)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		uint8_t head[HEADER_MAX];
		struct sv_s3store_item hdr;
		struct stat sb;
		int f = openat(ss->dirfd, names[i], O_RDONLY | O_CLOEXEC);
		if (f < 0) {
			set_aside(ss, names[i], strerror(errno));
			continue;
		}
		ssize_t got = fstat(f, &sb) == 0 ? pread(f, head, sizeof(head), 0) : -1;
		close(f);
		if (got < 0) {
			set_aside(ss, names[i], strerror(errno));
			continue;
		}
		if (sv_s3store_decode_header(head, (size_t)got, &hdr) != 0 ||
		    (uint64_t)sb.st_size != hdr.header_len + hdr.data_len + 4) {
			set_aside(ss, names[i], "bad header or size");
			continue;
		}
		struct item *it = item_new(ss, names[i], hdr.bucket, hdr.key, hdr.content_type,
		                           hdr.content_encoding, hdr.created_ns, hdr.data_len);
		if (it == NULL) {
			r = -ENOMEM;
			goto out;
		}
		item_enqueue(ss, it);
		ss->st.recovered++;
	}
	if (n > 0)
		log_info("s3 store: %" PRIu64 " objects (%" PRIu64 " bytes) waiting in %s from "
		         "before; uploading them",
		         ss->st.spool_objects, ss->st.spool_bytes, ss->dir);
out:
	if (r != 0 && err != NULL)
		snprintf(err, errlen, "s3 store: scanning %s: %s", ss->dir, sv_strerror(r));
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

int sv_s3store_open(struct event_base *base, const struct sv_s3store_opts *o,
                    struct sv_objstore **out, struct sv_s3store **handle, char *err, size_t errlen)
{
	struct sv_s3store *ss = NULL;
	int r;

	*out = NULL;
	if (handle != NULL)
		*handle = NULL;
	if (base == NULL || o == NULL || o->s3 == NULL || o->spool_dir == NULL ||
	    o->spool_dir[0] == '\0') {
		if (err != NULL)
			snprintf(err, errlen, "s3 store: missing event base, S3 settings or spool");
		return -EINVAL;
	}
	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		goto nomem;
	ss->dirfd = -1;
	ss->base = base;
	TAILQ_INIT(&ss->all);
	ss->max_uploads = o->max_uploads ? o->max_uploads : 16;
	ss->retry_base_ms = o->retry_base_ms ? o->retry_base_ms : 1000;
	ss->retry_max_ms = o->retry_max_ms ? o->retry_max_ms : 60000;
	if (ss->retry_max_ms < ss->retry_base_ms)
		ss->retry_max_ms = ss->retry_base_ms;
	ss->warn_interval_s = o->warn_interval_s ? o->warn_interval_s : 30;
	ss->rnd = (uint32_t)real_ns() ^ ((uint32_t)getpid() << 16) ^ 0x5bd1e995u;
	if ((ss->dir = strdup(o->spool_dir)) == NULL)
		goto nomem;
	if (o->s3->access_key != NULL && (ss->access_key = strdup(o->s3->access_key)) == NULL)
		goto nomem;
	if (o->s3->secret_key != NULL && (ss->secret_key = strdup(o->s3->secret_key)) == NULL)
		goto nomem;
	if ((r = sv_s3_new(base, o->s3, &ss->s3)) != 0 ||
	    (r = sv_s3_new(NULL, o->s3, &ss->getter)) != 0) {
		if (err != NULL)
			snprintf(err, errlen, "s3 store: bad S3 settings (endpoint %s): %s",
			         o->s3->endpoint != NULL ? o->s3->endpoint : "(none)",
			         sv_strerror(r));
		goto fail;
	}
	if ((ss->timer = evtimer_new(base, on_timer, ss)) == NULL)
		goto nomem;
	if ((r = mkdirs(ss->dir)) != 0) {
		if (err != NULL)
			snprintf(err, errlen, "s3 store: cannot create spool %s: %s", ss->dir,
			         sv_strerror(r));
		goto fail;
	}
	ss->dirfd = open(ss->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ss->dirfd < 0) {
		r = -errno;
		if (err != NULL)
			snprintf(err, errlen, "s3 store: cannot open spool %s: %s", ss->dir,
			         strerror(errno));
		goto fail;
	}
	if (flock(ss->dirfd, LOCK_EX | LOCK_NB) != 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err != NULL)
			snprintf(err, errlen, "s3 store: spool %s is in use by another process",
			         ss->dir);
		goto fail;
	}
	if ((r = scan(ss, err, errlen)) != 0)
		goto fail;
	if ((r = sv_objstore_new_backend(&s3_ops, ss, out)) != 0)
		goto nomem;
	if (handle != NULL)
		*handle = ss;
	pump(ss);
	return 0;
nomem:
	r = -ENOMEM;
	if (err != NULL)
		snprintf(err, errlen, "s3 store: out of memory");
fail:
	s3_free(ss);
	return r;
}

int sv_objstore_s3_new(struct event_base *base, const struct sv_s3_config *cfg,
                       const char *spool_dir, struct sv_objstore **out, char *err, size_t errlen)
{
	struct sv_s3store_opts o = {.s3 = cfg, .spool_dir = spool_dir};
	return sv_s3store_open(base, &o, out, NULL, err, errlen);
}

/* ------------------------------------------------------------ stats */

void sv_s3store_stats(const struct sv_s3store *ss, struct sv_s3store_stats *out)
{
	if (ss == NULL) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = ss->st;
	const struct item *first = TAILQ_FIRST(&ss->all);
	out->oldest_created_ns = first != NULL ? first->created_ns : 0;
}

double sv_s3store_oldest_age(const struct sv_s3store *ss, int64_t now_ns)
{
	const struct item *first = ss != NULL ? TAILQ_FIRST(&ss->all) : NULL;
	if (first == NULL || now_ns <= first->created_ns)
		return 0;
	return (double)(now_ns - first->created_ns) / 1e9;
}

size_t sv_s3store_bucket_count(const struct sv_s3store *ss)
{
	return ss != NULL ? ss->nbuckets : 0;
}

int sv_s3store_bucket(const struct sv_s3store *ss, size_t i, struct sv_s3store_bucket_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (ss == NULL || i >= ss->nbuckets)
		return -ERANGE;
	const struct bucket *b = ss->buckets[i];
	snprintf(out->bucket, sizeof(out->bucket), "%s", b->name);
	out->waiting = b->nwaiting + b->active;
	out->errors = b->errors;
	snprintf(out->last_error, sizeof(out->last_error), "%s", b->last_error);
	out->last_error_ns = b->last_error_ns;
	out->failing = b->fails > 0;
	out->check_rc = b->check_rc;
	snprintf(out->check_error, sizeof(out->check_error), "%s", b->check_error);
	return 0;
}

struct sv_s3 *sv_s3store_client(struct sv_s3store *ss)
{
	return ss != NULL ? ss->s3 : NULL;
}

/* ------------------------------------------------------------ bucket check */

struct check {
	struct sv_s3store *ss;
	size_t idx;
	char bucket[64];
	int listing; /* the second step: ListObjectsV2 for the error code */
	int head_rc;
	char head_error[1024];
	sv_s3store_check_fn fn;
	void *arg;
};

static const char *hint(int rc, int status, const char *code)
{
	if (strcmp(code, "InvalidAccessKeyId") == 0)
		return "wrong access key";
	if (strcmp(code, "SignatureDoesNotMatch") == 0) /* Swift says so for unknown keys too */
		return "signature refused: wrong secret key (or access key)";
	if (strcmp(code, "NoSuchBucket") == 0 || status == 404)
		return "bucket does not exist";
	if (strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
	    strcmp(code, "AuthorizationQueryParametersError") == 0)
		return "credentials refused (wrong region or malformed access key?)";
	if (strcmp(code, "AccessDenied") == 0 || status == 403 || status == 401)
		return "access denied (wrong access key or secret key, or no permission on the "
		       "bucket?)";
	if (status >= 500)
		return "S3 server error";
	if (status == 0 && rc != 0)
		return "S3 unreachable";
	return "bucket check failed";
}

static void check_report(struct check *c, int rc, int status, const char *code, const char *detail)
{
	struct sv_s3store *ss = c->ss;
	struct bucket *b = bucket_get(ss, c->bucket);
	char line[1024];
	if (rc == 0)
		line[0] = '\0';
	else
		snprintf(line, sizeof(line), "bucket %s: %s (%s)", c->bucket,
		         hint(rc, status, code), detail);
	mask_creds(ss, line);
	if (b != NULL) {
		b->check_rc = rc;
		snprintf(b->check_error, sizeof(b->check_error), "%s", line);
	}
	if (c->fn != NULL)
		c->fn(c->arg, c->idx, rc, line);
	free(c);
}

static void check_done(struct sv_s3_result *res, void *arg)
{
	struct check *c = arg;
	struct sv_s3store *ss = c->ss;
	if (ss->freeing) {
		free(c);
		return;
	}
	if (!c->listing) {
		if (res->rc != 0 && res->status >= 400 && res->status < 500) {
			/* HEAD answers have no body: ask again for the error document. */
			struct sv_s3_list_params lp = {.max_keys = 1};
			c->listing = 1;
			c->head_rc = res->rc;
			snprintf(c->head_error, sizeof(c->head_error), "%s", res->error);
			if (sv_s3_list(ss->s3, c->bucket, &lp, check_done, c) == 0)
				return;
			check_report(c, res->rc, res->status, "", res->error);
			return;
		}
		check_report(c, res->rc, res->status, res->err.code, res->error);
		return;
	}
	if (res->rc == 0) /* listing allowed though HEAD was not: report HEAD's answer */
		check_report(c, c->head_rc, 403, "", c->head_error);
	else
		check_report(c, res->rc, res->status, res->err.code, res->error);
}

int sv_s3store_check_buckets(struct sv_s3store *ss, const char *const *buckets, size_t n,
                             sv_s3store_check_fn fn, void *arg)
{
	struct check **cs;
	if (ss == NULL || (buckets == NULL && n > 0))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (buckets[i] == NULL || !sv_objstore_key_ok(buckets[i], "x"))
			return -EINVAL;
	if (n == 0)
		return 0;
	if ((cs = calloc(n, sizeof(*cs))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((cs[i] = calloc(1, sizeof(*cs[i]))) == NULL) {
			for (size_t k = 0; k < i; k++)
				free(cs[k]);
			free(cs);
			return -ENOMEM;
		}
	}
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		struct check *c = cs[i];
		if (rc != 0) {
			free(c);
			continue;
		}
		c->ss = ss;
		c->idx = i;
		c->fn = fn;
		c->arg = arg;
		snprintf(c->bucket, sizeof(c->bucket), "%s", buckets[i]);
		struct bucket *b = bucket_get(ss, c->bucket);
		if (b != NULL) {
			b->check_rc = 1;
			b->check_error[0] = '\0';
		}
		if ((rc = sv_s3_head(ss->s3, c->bucket, NULL, check_done, c)) != 0)
			free(c);
	}
	free(cs);
	return rc;
}
