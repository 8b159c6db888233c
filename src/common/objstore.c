/*
 * objstore.c - the object store front (key validation, stats, in-flight
 * tracking) and its local file-system back end.
 */
#include "objstore.h"

#include "errors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
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

static bool bucket_ok(const char *s)
{
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
	return bucket_ok(bucket) && key_ok(key);
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

struct local {
	char *root; /* DATA_DIR/objects, no trailing '/' */
};

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

static int fsync_dir_of(char *path)
{
	char *slash = strrchr(path, '/');
	if (slash == NULL)
		return -EINVAL;
	*slash = '\0';
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e = errno;
	*slash = '/';
	if (fd < 0)
		return -e;
	int r = 0;
	if (fsync(fd) != 0)
		r = -errno;
	close(fd);
	return r;
}

/* root/bucket/key as a NUL-terminated string in *path. */
static int make_path(const struct local *l, const char *bucket, const char *key,
                     struct sv_buf *path)
{
	if (sv_buf_printf(path, "%s/%s/%s", l->root, bucket, key) != 0)
		return -ENOMEM;
	return 0;
}

static int local_put_file(struct local *l, const char *bucket, const char *key,
                          const struct sv_buf *data)
{
	struct sv_buf path, tmp;
	int fd = -1, r;
	sv_buf_init(&path);
	sv_buf_init(&tmp);
	if ((r = make_path(l, bucket, key, &path)) != 0)
		goto out;
	if (sv_buf_printf(&tmp, "%s.tmp.XXXXXX", (char *)path.data) != 0) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = mkdirs((char *)path.data, strlen(l->root))) != 0)
		goto out;
	fd = mkstemp((char *)tmp.data);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fchmod(fd, 0644) != 0 || (r = write_all(fd, data->data, data->len)) != 0 ||
	    fsync(fd) != 0) {
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
	if (rename((char *)tmp.data, (char *)path.data) != 0) {
		r = -errno;
		goto fail;
	}
	/* The object is in place; a failing directory fsync is still reported
	 * (durability unknown), and a retry simply rewrites it. */
	r = fsync_dir_of((char *)path.data);
	goto out;
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
	uint64_t n = data->len;
	int r = local_put_file(impl, bucket, key, data);
	sv_buf_release(data);
	sv_objstore_op_done(op, r, n);
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
	for (;;) {
		if (sv_buf_reserve(out, 65536) != 0) {
			r = -ENOMEM;
			goto out;
		}
		/* reserve keeps one byte past len for the terminating NUL */
		ssize_t n = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
	}
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
	free(l->root);
	free(l);
}

static const struct sv_objstore_ops local_ops = {
    .name = "local",
    .put = local_put,
    .get = local_get,
    .free = local_free,
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
	l->root = (char *)sv_buf_take(&root, NULL);
	if (l->root == NULL) {
		r = -ENOMEM;
		goto nomem;
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
