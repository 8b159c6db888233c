/*
 * objstore.c - the object store front (key validation, stats, in-flight
 * tracking) and its local file-system back end.
 */
#include "store/objstore.h"

#include "base/errors.h"
#include "base/hash.h"
#include "base/htable.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define KEY_MAX 1024

struct sv_objstore {
	const struct sv_objstore_ops *ops;
	void *impl;
	struct sv_objstore_stats stats;
};

struct sv_objstore_op {
	struct sv_objstore *st;
	sv_objstore_done_fn done;
	void *arg;
};

/* ---- validation ---- */

int sv_objstore_bucket_ok(const char *s)
{
	if (s == NULL)
		return 0;
	size_t n = strlen(s);
	struct in_addr a4;
	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '.' && c != '-')
			return false;
	}
	if (s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-')
		return false;
	if (strstr(s, "..") != NULL || inet_pton(AF_INET, s, &a4) == 1)
		return false;
	return true;
}

static bool key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > KEY_MAX || k[0] == '/')
		return false;
	const char *seg = k;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)k[i];
		if (c == '/' || c == '\0') {
			size_t sl = (size_t)(k + i - seg);
			if (sl == 0 || (sl == 1 && seg[0] == '.') ||
			    (sl == 2 && seg[0] == '.' && seg[1] == '.'))
				return false;
			seg = k + i + 1;
		} else if (c < 0x20 || c == 0x7f) {
			return false;
		}
	}
	return true;
}

int sv_objstore_key_ok(const char *bucket, const char *key)
{
	if (bucket == NULL || key == NULL)
		return 0;
	return sv_objstore_bucket_ok(bucket) && key_ok(key);
}

/* ---- front ---- */

int sv_objstore_new_backend(const struct sv_objstore_ops *ops, void *impl, struct sv_objstore **out)
{
	*out = NULL;
	struct sv_objstore *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->ops = ops;
	st->impl = impl;
	*out = st;
	return 0;
}

void sv_objstore_op_done(struct sv_objstore_op *op, int rc, uint64_t bytes)
{
	struct sv_objstore *st = op->st;
	sv_objstore_done_fn done = op->done;
	void *arg = op->arg;
	free(op);
	st->stats.in_flight--;
	if (rc == 0) {
		st->stats.puts_ok++;
		st->stats.bytes_written += bytes;
	} else {
		st->stats.puts_failed++;
	}
	if (done != NULL)
		done(arg, rc);
}

int sv_objstore_put(struct sv_objstore *st, const char *bucket, const char *key,
                    const char *content_type, const char *content_encoding, struct sv_buf *data,
                    sv_objstore_done_fn done, void *arg)
{
	if (st == NULL || data == NULL || !sv_objstore_key_ok(bucket, key))
		return -EINVAL;
	struct sv_objstore_op *op = malloc(sizeof(*op));
	if (op == NULL) {
		sv_buf_release(data);
		st->stats.puts_failed++;
		if (done != NULL)
			done(arg, -ENOMEM);
		return 0;
	}
	op->st = st;
	op->done = done;
	op->arg = arg;
	st->stats.in_flight++;
	/* Hand the payload over: the back end owns it from here. */
	struct sv_buf payload = *data;
	sv_buf_init(data);
	st->ops->put(st->impl, bucket, key, content_type, content_encoding, &payload, op);
	sv_buf_release(&payload);
	return 0;
}

int sv_objstore_flush(struct sv_objstore *st)
{
	if (st == NULL || st->ops->flush == NULL)
		return 0;
	return st->ops->flush(st->impl);
}

int sv_objstore_get(struct sv_objstore *st, const char *bucket, const char *key, struct sv_buf *out)
{
	if (st == NULL || out == NULL || !sv_objstore_key_ok(bucket, key))
		return -EINVAL;
	return st->ops->get(st->impl, bucket, key, out);
}

void sv_objstore_stats(const struct sv_objstore *st, struct sv_objstore_stats *out)
{
	if (st == NULL) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = st->stats;
}

const char *sv_objstore_backend_name(const struct sv_objstore *st)
{
	if (st == NULL || st->ops->name == NULL)
		return "";
	return st->ops->name;
}

void sv_objstore_free(struct sv_objstore *st)
{
	if (st == NULL)
		return;
	if (st->ops->free != NULL)
		st->ops->free(st->impl);
	free(st);
}

/* ---- local back end ---- */

/* Directories known to exist: a cache of at most DIRCACHE_MAX paths in a
 * hash table, the least recently used forgotten first. */
#define DIRCACHE_MAX 1024

struct dir_entry {
	struct sv_hnode node;       /* l->dirs, under the path's hash */
	TAILQ_ENTRY(dir_entry) lru; /* l->dir_lru, least recently used first */
	size_t len;
	char path[]; /* len bytes and a NUL */
};

struct pending {
	char *tmp;   /* temporary file, written and closed, not yet durable */
	char *final; /* where it goes at the next flush */
	struct sv_objstore_op *op;
	uint64_t bytes;
};

struct local {
	char *root;                 /* DATA_DIR/objects, no trailing '/' */
	int root_fd;                /* for syncfs() */
	bool chmod;                 /* the umask would take bits off 0644: fchmod each file */
	uint64_t tmp_seq, tmp_salt; /* temporary file names */
	struct pending *pend;
	size_t n_pend, cap_pend;
	struct sv_htable dirs;
	TAILQ_HEAD(, dir_entry) dir_lru;
};

static uint64_t str_hash(const char *p, size_t n)
{
	return sv_hash_bytes(0x44495243ull, p, n);
}

static struct dir_entry *dir_find(const struct local *l, const char *dir, size_t n, uint64_t h)
{
	for (struct sv_hnode *x = sv_htable_first(&l->dirs, h); x != NULL;
	     x = sv_htable_next(x, h)) {
		struct dir_entry *e = sv_container_of(x, struct dir_entry, node);
		if (e->len == n && memcmp(e->path, dir, n) == 0)
			return e;
	}
	return NULL;
}

static void dir_drop(struct local *l, struct dir_entry *e)
{
	sv_htable_remove(&l->dirs, &e->node);
	TAILQ_REMOVE(&l->dir_lru, e, lru);
	free(e);
}

static bool dir_known(struct local *l, const char *dir, size_t n, uint64_t h)
{
	struct dir_entry *e = dir_find(l, dir, n, h);
	if (e == NULL)
		return false;
	TAILQ_REMOVE(&l->dir_lru, e, lru);
	TAILQ_INSERT_TAIL(&l->dir_lru, e, lru);
	return true;
}

static void dir_remember(struct local *l, const char *dir, size_t n, uint64_t h)
{
	if (dir_known(l, dir, n, h))
		return;
	struct dir_entry *e = malloc(sizeof(*e) + n + 1);
	if (e == NULL)
		return; /* only a cache */
	memcpy(e->path, dir, n);
	e->path[n] = '\0';
	e->len = n;
	if (sv_htable_insert(&l->dirs, &e->node, h) != 0) {
		free(e);
		return;
	}
	TAILQ_INSERT_TAIL(&l->dir_lru, e, lru);
	if (sv_htable_count(&l->dirs) > DIRCACHE_MAX)
		dir_drop(l, TAILQ_FIRST(&l->dir_lru));
}

static void dir_forget(struct local *l, const char *dir, size_t n, uint64_t h)
{
	struct dir_entry *e = dir_find(l, dir, n, h);
	if (e != NULL)
		dir_drop(l, e);
}

/* mkdir -p for every directory of path strictly after its first `skip`
 * bytes (those are known to exist). path is modified temporarily. */
static int mkdirs(char *path, size_t skip)
{
	for (char *p = path + skip; *p != '\0'; p++) {
		if (*p != '/' || p == path)
			continue;
		*p = '\0';
		int r = mkdir(path, 0755);
		int e = errno;
		*p = '/';
		if (r != 0 && e != EEXIST)
			return -e;
	}
	return 0;
}

/* Makes sure the directory of path (everything before its last '/')
 * exists: nothing when the cache knows it, else mkdir of that directory
 * alone, and mkdir -p below the root when its parent is missing too. */
static int ensure_dir(struct local *l, char *path, bool force)
{
	char *slash = strrchr(path, '/');
	size_t n = (size_t)(slash - path);
	uint64_t h = str_hash(path, n);
	if (!force && dir_known(l, path, n, h))
		return 0;
	*slash = '\0';
	int r = mkdir(path, 0755) == 0 ? 0 : -errno;
	*slash = '/';
	if (r == -ENOENT)
		r = mkdirs(path, strlen(l->root));
	else if (r == -EEXIST)
		r = 0;
	if (r == 0)
		dir_remember(l, path, n, h);
	else
		dir_forget(l, path, n, h);
	return r;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* root/bucket/key as a NUL-terminated string in *path. */
static int make_path(const struct local *l, const char *bucket, const char *key,
                     struct sv_buf *path)
{
	if (sv_buf_printf(path, "%s/%s/%s", l->root, bucket, key) != 0)
		return -ENOMEM;
	return 0;
}

/* Like mkstemp() (the last 6 bytes of tmp, "XXXXXX", become a name that did
 * not exist), but the file is created with mode 0644 at once (less the
 * umask), which saves the fchmod() mkstemp's 0600 would need. */
static int create_tmp(struct local *l, char *tmp)
{
	static const char digits[] =
	    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	char *x = tmp + strlen(tmp) - 6;
	for (int attempt = 0; attempt < 100; attempt++) {
		uint64_t v = l->tmp_seq++ * 0x9e3779b97f4a7c15ull + l->tmp_salt;
		for (int i = 0; i < 6; i++, v /= 62)
			x[i] = digits[v % 62];
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

/* Whether the process umask takes bits off 0644, read from /proc (umask()
 * cannot be read without changing it, which would race with other
 * threads); true when unknown, so files are then fchmod'ed as before. */
static bool umask_trims_0644(void)
{
	char line[128];
	bool trims = true;
	FILE *f = fopen("/proc/self/status", "re");
	if (f == NULL)
		return true;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned mask;
		if (sscanf(line, "Umask: %o", &mask) == 1) {
			trims = (mask & 0644) != 0;
			break;
		}
	}
	fclose(f);
	return trims;
}

/* A new temporary file in the final directory; a directory the cache
 * believed in but that has gone (removed by retention, say) is made again
 * once. */
static int open_tmp(struct local *l, char *path, char *tmp)
{
	int r = ensure_dir(l, path, false);
	if (r != 0)
		return r;
	int fd = create_tmp(l, tmp);
	if (fd < 0 && errno == ENOENT) {
		if ((r = ensure_dir(l, path, true)) != 0)
			return r;
		fd = create_tmp(l, tmp);
	}
	if (fd < 0) {
		r = -errno;
		char *slash = strrchr(path, '/');
		dir_forget(l, path, (size_t)(slash - path), str_hash(path, (size_t)(slash - path)));
		return r;
	}
	return fd;
}

/* Writes the temporary file of one put (not yet durable, not visible) and
 * queues it for the next flush. */
static int local_stage(struct local *l, const char *bucket, const char *key,
                       const struct sv_buf *data, struct sv_objstore_op *op)
{
	struct sv_buf path, tmp;
	int fd = -1, r;
	sv_buf_init(&path);
	sv_buf_init(&tmp);
	struct pending *p = sv_grow(l->pend, l->n_pend, &l->cap_pend, sizeof(*p), 64);
	if (p == NULL)
		return -ENOMEM;
	l->pend = p;
	if ((r = make_path(l, bucket, key, &path)) != 0)
		goto out;
	if (sv_buf_printf(&tmp, "%s.tmp.XXXXXX", (char *)path.data) != 0) {
		r = -ENOMEM;
		goto out;
	}
	fd = open_tmp(l, (char *)path.data, (char *)tmp.data);
	if (fd < 0) {
		r = fd;
		fd = -1;
		goto out;
	}
	if ((l->chmod && fchmod(fd, 0644) != 0) ||
	    (r = write_all(fd, data->data, data->len)) != 0) {
		if (r == 0)
			r = -errno;
		goto fail;
	}
	r = close(fd);
	fd = -1;
	if (r != 0) {
		r = -errno;
		goto fail;
	}
	p = &l->pend[l->n_pend++];
	p->tmp = (char *)sv_buf_take(&tmp, NULL);
	p->final = (char *)sv_buf_take(&path, NULL);
	p->op = op;
	p->bytes = data->len;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink((char *)tmp.data);
out:
	sv_buf_release(&path);
	sv_buf_release(&tmp);
	return r;
}

static void local_put(void *impl, const char *bucket, const char *key, const char *content_type,
                      const char *content_encoding, struct sv_buf *data, struct sv_objstore_op *op)
{
	(void)content_type;
	(void)content_encoding;
	int r = local_stage(impl, bucket, key, data, op);
	sv_buf_release(data);
	if (r != 0)
		sv_objstore_op_done(op, r, 0);
}

/*
 * Group commit of every staged put: one syncfs() makes the temporary files
 * durable, each is renamed over its final name, a second syncfs() makes the
 * renames (and any new directories) durable, then every put completes. The
 * batch is detached first, so a done callback may put again (it goes to the
 * next flush).
 */
static int local_flush(void *impl)
{
	struct local *l = impl;
	struct pending *batch = l->pend;
	size_t n = l->n_pend;
	int r = 0, first = 0;

	if (n == 0)
		return 0;
	l->pend = NULL;
	l->n_pend = l->cap_pend = 0;
	int *rcs = calloc(n, sizeof(*rcs));
	if (rcs == NULL) {
		/* keep the batch for the next flush */
		l->pend = batch;
		l->n_pend = l->cap_pend = n;
		return -ENOMEM;
	}
	if (syncfs(l->root_fd) != 0)
		r = -errno;
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && rename(batch[i].tmp, batch[i].final) == 0)
			continue;
		rcs[i] = r != 0 ? r : -errno;
		unlink(batch[i].tmp);
		if (first == 0)
			first = rcs[i];
	}
	/* The objects are in place; a failing sync is still reported
	 * (durability unknown), and a retry simply rewrites them. */
	if (r == 0 && syncfs(l->root_fd) != 0) {
		r = -errno;
		for (size_t i = 0; i < n; i++)
			if (rcs[i] == 0)
				rcs[i] = r;
	}
	if (first == 0)
		first = r;
	for (size_t i = 0; i < n; i++) {
		free(batch[i].tmp);
		free(batch[i].final);
		sv_objstore_op_done(batch[i].op, rcs[i], batch[i].bytes);
	}
	free(batch);
	free(rcs);
	return first;
}

static int local_get(void *impl, const char *bucket, const char *key, struct sv_buf *out)
{
	struct sv_buf path;
	size_t old = out->len;
	int fd = -1, r = 0;
	sv_buf_init(&path);
	if ((r = make_path(impl, bucket, key, &path)) != 0)
		goto out;
	fd = open((char *)path.data, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = (errno == ENOENT || errno == ENOTDIR) ? SV_E_NOTFOUND : -errno;
		goto out;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) { /* a "directory" key such as "calls" */
		r = SV_E_NOTFOUND;
		goto out;
	}
	r = sv_buf_read_fd(out, fd);
out:
	if (r != 0 && out->data != NULL) {
		out->len = old;
		out->data[old] = '\0';
	}
	if (fd >= 0)
		close(fd);
	sv_buf_release(&path);
	return r;
}

static void local_free(void *impl)
{
	struct local *l = impl;
	if (l == NULL)
		return;
	/* Staged puts that were never flushed: temporary files removed. */
	for (size_t i = 0; i < l->n_pend; i++) {
		unlink(l->pend[i].tmp);
		free(l->pend[i].tmp);
		free(l->pend[i].final);
		sv_objstore_op_done(l->pend[i].op, -ECANCELED, 0);
	}
	free(l->pend);
	struct dir_entry *e;
	while ((e = TAILQ_FIRST(&l->dir_lru)) != NULL)
		dir_drop(l, e);
	sv_htable_release(&l->dirs);
	if (l->root_fd >= 0)
		close(l->root_fd);
	free(l->root);
	free(l);
}

static const struct sv_objstore_ops local_ops = {
    .name = "local",
    .put = local_put,
    .get = local_get,
    .free = local_free,
    .flush = local_flush,
};

int sv_objstore_local_new(const char *data_dir, struct sv_objstore **out, char *err, size_t errlen)
{
	struct sv_buf root;
	struct local *l = NULL;
	int r;
	*out = NULL;
	sv_buf_init(&root);
	if (data_dir == NULL || data_dir[0] == '\0') {
		r = -EINVAL;
		if (err != NULL)
			snprintf(err, errlen, "object store: empty data directory");
		goto out;
	}
	size_t n = strlen(data_dir);
	while (n > 1 && data_dir[n - 1] == '/')
		n--;
	if (sv_buf_printf(&root, "%.*s/objects/", (int)n, data_dir) != 0) {
		r = -ENOMEM;
		goto nomem;
	}
	if ((r = mkdirs((char *)root.data, 0)) != 0) {
		if (err != NULL)
			snprintf(err, errlen, "object store: cannot create %s: %s",
			         (char *)root.data, sv_strerror(r));
		goto out;
	}
	root.data[--root.len] = '\0'; /* drop the trailing '/' */
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		r = -ENOMEM;
		goto nomem;
	}
	l->root_fd = -1;
	TAILQ_INIT(&l->dir_lru);
	{
		l->chmod = umask_trims_0644();
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		l->tmp_salt =
		    ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
	}
	l->root = (char *)sv_buf_take(&root, NULL);
	if (l->root == NULL) {
		r = -ENOMEM;
		goto nomem;
	}
	l->root_fd = open(l->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->root_fd < 0) {
		r = -errno;
		if (err != NULL)
			snprintf(err, errlen, "object store: cannot open %s: %s", l->root,
			         sv_strerror(r));
		goto out;
	}
	if ((r = sv_objstore_new_backend(&local_ops, l, out)) != 0)
		goto nomem;
	l = NULL; /* transferred */
	goto out;
nomem:
	if (err != NULL)
		snprintf(err, errlen, "object store: out of memory");
out:
	local_free(l);
	sv_buf_release(&root);
	return r;
}
