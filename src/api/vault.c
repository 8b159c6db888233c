/*
 * vault.c - finding and reading a call's objects for sipvault-api, local or
 * S3, with a bounded LRU cache of completed calls.
 */
#include "vault.h"

#include "base/errors.h"
#include "base/hash.h"
#include "base/htable.h"
#include "base/log.h"
#include "call/callkey.h"
#include "call/lookup.h"
#include "store/objstore.h"
#include "store/s3.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#define HASH_SEED 0x5e1f4a11u

/* A cache entry: an object's bytes, or a located complete call. */
struct centry {
	struct sv_hnode node;
	TAILQ_ENTRY(centry) lru;
	char *key;
	size_t cost;
	struct sv_buf data;
	struct vault_call *call;
};
TAILQ_HEAD(centry_list, centry);

struct vault {
	char *data_dir;
	struct sv_objstore *local;
	struct sv_s3 *s3;
	struct sv_htable table;
	struct centry_list lru; /* most recently used first */
	size_t cache_max, cache_bytes;
	struct vault_stats st;
};

static void call_free(struct vault_call *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nobjs; i++)
		free(c->objs[i].name);
	free(c->objs);
	sv_buf_release(&c->rendered);
	free(c->bucket);
	free(c->prefix);
	free(c);
}

/* ------------------------------------------------------------------ cache */

static uint64_t key_hash(const char *k)
{
	return sv_hash_bytes(HASH_SEED, k, strlen(k));
}

static struct centry *cache_find(struct vault *v, const char *key)
{
	uint64_t h = key_hash(key);
	struct sv_hnode *n;

	for (n = sv_htable_first(&v->table, h); n != NULL; n = sv_htable_next(n, h)) {
		struct centry *e = sv_container_of(n, struct centry, node);
		if (strcmp(e->key, key) == 0) {
			TAILQ_REMOVE(&v->lru, e, lru);
			TAILQ_INSERT_HEAD(&v->lru, e, lru);
			return e;
		}
	}
	return NULL;
}

static void cache_drop(struct vault *v, struct centry *e)
{
	sv_htable_remove(&v->table, &e->node);
	TAILQ_REMOVE(&v->lru, e, lru);
	v->cache_bytes -= e->cost;
	sv_buf_release(&e->data);
	vault_call_drop(e->call);
	free(e->key);
	free(e);
}

/* Inserts (key must not be there); takes data's memory or holds call. */
static void cache_put(struct vault *v, const char *key, struct sv_buf *data,
                      struct vault_call *call)
{
	struct centry *e;
	size_t cost = strlen(key) + sizeof(*e) + (data != NULL ? data->len : 0);

	if (call != NULL)
		cost += 64 * (call->nobjs + 2);
	if (cost > v->cache_max / 4 || cache_find(v, key) != NULL)
		return;
	if ((e = calloc(1, sizeof(*e))) == NULL || (e->key = strdup(key)) == NULL) {
		free(e);
		return;
	}
	if (sv_htable_insert(&v->table, &e->node, key_hash(key)) != 0) {
		free(e->key);
		free(e);
		return;
	}
	sv_buf_init(&e->data);
	if (data != NULL) {
		e->data = *data;
		sv_buf_init(data);
	}
	if (call != NULL) {
		vault_call_hold(call);
		e->call = call;
	}
	e->cost = cost;
	TAILQ_INSERT_HEAD(&v->lru, e, lru);
	v->cache_bytes += cost;
	while (v->cache_bytes > v->cache_max && !TAILQ_EMPTY(&v->lru))
		cache_drop(v, TAILQ_LAST(&v->lru, centry_list));
}

/* ------------------------------------------------------------------ calls */

struct vault_call_ref {
	struct vault_call call;
	int refs;
};

static struct vault_call *call_new(void)
{
	struct vault_call_ref *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->refs = 1;
	return &r->call;
}

void vault_call_hold(struct vault_call *c)
{
	if (c != NULL)
		((struct vault_call_ref *)(void *)c)->refs++;
}

void vault_call_drop(struct vault_call *c)
{
	struct vault_call_ref *r = (struct vault_call_ref *)(void *)c;
	if (c == NULL || --r->refs > 0)
		return;
	call_free(c);
}

static int obj_rank(const struct vault_obj *o, unsigned *n)
{
	switch (sv_callkey_kind(o->name, strlen(o->name), n)) {
	case SV_CALLKEY_QUALITY:
		return 0;
	case SV_CALLKEY_SIP_PCAP:
		return 1;
	case SV_CALLKEY_RTCP:
		return 2;
	case SV_CALLKEY_LOG:
		return 3;
	default:
		return 4;
	}
}

static int obj_cmp(const void *a, const void *b)
{
	const struct vault_obj *x = a, *y = b;
	unsigned nx = 0, ny = 0;
	int rx = obj_rank(x, &nx), ry = obj_rank(y, &ny);

	if (rx != ry)
		return rx - ry;
	if (nx != ny)
		return nx < ny ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int call_add_obj(struct vault_call *c, const char *name, uint64_t size)
{
	struct vault_obj *nv;

	if (sv_callkey_kind(name, strlen(name), NULL) == SV_CALLKEY_UNKNOWN)
		return 0; /* temporary files and anything not ours */
	if ((nv = realloc(c->objs, (c->nobjs + 1) * sizeof(*nv))) == NULL)
		return -ENOMEM;
	c->objs = nv;
	if ((nv[c->nobjs].name = strdup(name)) == NULL)
		return -ENOMEM;
	nv[c->nobjs].size = size;
	c->nobjs++;
	if (sv_callkey_kind(name, strlen(name), NULL) == SV_CALLKEY_QUALITY)
		c->complete = 1;
	return 0;
}

int64_t vault_obj_size(const struct vault_call *call, const char *name)
{
	size_t i;

	for (i = 0; i < call->nobjs; i++)
		if (strcmp(call->objs[i].name, name) == 0)
			return (int64_t)call->objs[i].size;
	return -1;
}

/* ------------------------------------------------------------------ locate */

#define MAX_PLAN 400

struct locate_op {
	struct vault *v;
	char *bucket;
	char *dir;
	char *cache_key;
	int64_t days[MAX_PLAN];
	size_t ndays, i;
	vault_locate_fn cb;
	void *arg;
	struct sv_buf prefix;
};

static void locate_next(struct locate_op *op);

static void locate_finish(struct locate_op *op, int rc, struct vault_call *call)
{
	if (rc == 0 && call->complete)
		cache_put(op->v, op->cache_key, NULL, call);
	op->cb(op->arg, rc, rc == 0 ? call : NULL);
	vault_call_drop(call);
	free(op->bucket);
	free(op->dir);
	free(op->cache_key);
	sv_buf_release(&op->prefix);
	free(op);
}

static struct vault_call *found_call(struct locate_op *op)
{
	struct vault_call *c = call_new();
	int y, m, d;

	if (c == NULL)
		return NULL;
	sv_lookup_civil_from_days(op->days[op->i], &y, &m, &d);
	c->year = y;
	c->month = m;
	c->day = d;
	if ((c->bucket = strdup(op->bucket)) == NULL ||
	    (c->prefix = strdup((const char *)op->prefix.data)) == NULL) {
		vault_call_drop(c);
		return NULL;
	}
	return c;
}

/* Local store: one directory read is one "request". */
static void locate_local(struct locate_op *op)
{
	struct vault *v = op->v;
	struct sv_buf path;
	struct vault_call *c = NULL;
	struct dirent *de;
	DIR *dir;
	int r = 0;

	v->st.list_requests++;
	sv_buf_init(&path);
	if (sv_buf_printf(&path, "%s/objects/%s/%s", v->data_dir, op->bucket,
	                  (const char *)op->prefix.data) != 0) {
		sv_buf_release(&path);
		locate_finish(op, -ENOMEM, NULL);
		return;
	}
	dir = opendir((const char *)path.data);
	if (dir == NULL) {
		r = errno;
		sv_buf_release(&path);
		if (r == ENOENT || r == ENOTDIR) {
			op->i++;
			locate_next(op);
			return;
		}
		v->st.store_errors++;
		locate_finish(op, -r, NULL);
		return;
	}
	if ((c = found_call(op)) == NULL)
		r = -ENOMEM;
	while (r == 0 && (de = readdir(dir)) != NULL) {
		struct stat sb;
		size_t base = path.len;
		if (de->d_name[0] == '.')
			continue;
		if (sv_buf_append_str(&path, de->d_name) != 0) {
			r = -ENOMEM;
			break;
		}
		if (stat((const char *)path.data, &sb) == 0 && S_ISREG(sb.st_mode))
			r = call_add_obj(c, de->d_name, (uint64_t)sb.st_size);
		path.len = base;
		path.data[base] = 0;
	}
	closedir(dir);
	sv_buf_release(&path);
	if (r == 0 && c->nobjs == 0) {
		vault_call_drop(c);
		op->i++;
		locate_next(op);
		return;
	}
	if (r != 0) {
		vault_call_drop(c);
		locate_finish(op, r, NULL);
		return;
	}
	qsort(c->objs, c->nobjs, sizeof(c->objs[0]), obj_cmp);
	locate_finish(op, 0, c);
}

static void locate_s3_done(struct sv_s3_result *res, void *arg)
{
	struct locate_op *op = arg;
	struct vault_call *c;
	size_t i;
	int r = 0;

	if (res->rc != 0) {
		op->v->st.store_errors++;
		log_warnx("object store: %s", res->error);
		locate_finish(op, res->rc == SV_E_NOTFOUND ? -EIO : res->rc, NULL);
		return;
	}
	if (res->list.n_objects == 0) {
		op->i++;
		locate_next(op);
		return;
	}
	if ((c = found_call(op)) == NULL) {
		locate_finish(op, -ENOMEM, NULL);
		return;
	}
	for (i = 0; i < res->list.n_objects && r == 0; i++) {
		const struct sv_s3_object *o = &res->list.objects[i];
		size_t pl = op->prefix.len;
		if (strncmp(o->key, (const char *)op->prefix.data, pl) != 0 ||
		    strchr(o->key + pl, '/') != NULL)
			continue;
		r = call_add_obj(c, o->key + pl, o->size > 0 ? (uint64_t)o->size : 0);
	}
	if (r != 0 || c->nobjs == 0) {
		vault_call_drop(c);
		if (r != 0) {
			locate_finish(op, r, NULL);
		} else {
			op->i++;
			locate_next(op);
		}
		return;
	}
	qsort(c->objs, c->nobjs, sizeof(c->objs[0]), obj_cmp);
	locate_finish(op, 0, c);
}

static void locate_next(struct locate_op *op)
{
	int r;

	if (op->i >= op->ndays) {
		locate_finish(op, SV_E_NOTFOUND, NULL);
		return;
	}
	sv_buf_reset(&op->prefix);
	if (sv_lookup_prefix(op->days[op->i], op->dir, &op->prefix) != 0) {
		locate_finish(op, -ENOMEM, NULL);
		return;
	}
	if (op->v->s3 == NULL) {
		locate_local(op);
		return;
	}
	{
		struct sv_s3_list_params p;
		memset(&p, 0, sizeof(p));
		p.prefix = (const char *)op->prefix.data;
		p.max_keys = 1000;
		op->v->st.list_requests++;
		r = sv_s3_list(op->v->s3, op->bucket, &p, locate_s3_done, op);
		if (r != 0) {
			op->v->st.store_errors++;
			locate_finish(op, r, NULL);
		}
	}
}

void vault_locate(struct vault *v, const char *bucket, const char *call_id, size_t call_id_len,
                  int64_t ts, int year, int month, int day, int max_days, vault_locate_fn cb,
                  void *arg)
{
	struct locate_op *op = calloc(1, sizeof(*op));
	struct sv_buf dir, ck;
	struct centry *e;

	sv_buf_init(&dir);
	sv_buf_init(&ck);
	if (op == NULL || sv_callkey_dir(call_id, call_id_len, &dir) != 0 ||
	    sv_buf_printf(&ck, "C:%s/%s", bucket, (const char *)dir.data) != 0 ||
	    (op->bucket = strdup(bucket)) == NULL) {
		free(op);
		sv_buf_release(&dir);
		sv_buf_release(&ck);
		cb(arg, -ENOMEM, NULL);
		return;
	}
	e = cache_find(v, (const char *)ck.data);
	if (e != NULL && e->call != NULL) {
		struct vault_call *c = e->call;
		v->st.cache_hits++;
		vault_call_hold(c);
		free(op->bucket);
		free(op);
		sv_buf_release(&dir);
		sv_buf_release(&ck);
		cb(arg, 0, c);
		vault_call_drop(c);
		return;
	}
	v->st.cache_misses++;
	op->v = v;
	op->dir = (char *)sv_buf_take(&dir, NULL);
	op->cache_key = (char *)sv_buf_take(&ck, NULL);
	op->cb = cb;
	op->arg = arg;
	sv_buf_init(&op->prefix);
	if (max_days < 1)
		max_days = 1;
	if (max_days > MAX_PLAN - 8)
		max_days = MAX_PLAN - 8;
	op->ndays = sv_lookup_plan(ts, year, month, day, max_days, op->days, MAX_PLAN);
	locate_next(op);
}

/* ------------------------------------------------------------------ get */

struct get_op {
	struct vault *v;
	char *cache_key; /* NULL: not cacheable */
	vault_get_fn cb;
	void *arg;
};

static void get_s3_done(struct sv_s3_result *res, void *arg)
{
	struct get_op *op = arg;

	if (res->rc != 0 && res->rc != SV_E_NOTFOUND) {
		op->v->st.store_errors++;
		log_warnx("object store: %s", res->error);
	}
	op->cb(op->arg, res->rc, res->body.data, res->body.len);
	if (res->rc == 0 && op->cache_key != NULL)
		cache_put(op->v, op->cache_key, &res->body, NULL);
	free(op->cache_key);
	free(op);
}

void vault_get(struct vault *v, const struct vault_call *call, const char *name, vault_get_fn cb,
               void *arg)
{
	struct sv_buf key, data;
	struct centry *e;
	struct get_op *op;
	int r;

	sv_buf_init(&key);
	if (sv_buf_printf(&key, "O:%s/%s%s", call->bucket, call->prefix, name) != 0) {
		cb(arg, -ENOMEM, NULL, 0);
		return;
	}
	if (call->complete && (e = cache_find(v, (const char *)key.data)) != NULL &&
	    e->call == NULL) {
		v->st.cache_hits++;
		sv_buf_release(&key);
		cb(arg, 0, e->data.data, e->data.len);
		return;
	}
	v->st.cache_misses++;
	v->st.get_requests++;
	if (v->s3 == NULL) {
		sv_buf_init(&data);
		r = sv_objstore_get(v->local, call->bucket,
		                    (const char *)key.data + 2 + strlen(call->bucket) + 1, &data);
		if (r != 0 && r != SV_E_NOTFOUND)
			v->st.store_errors++;
		cb(arg, r, data.data, data.len);
		if (r == 0 && call->complete)
			cache_put(v, (const char *)key.data, &data, NULL);
		sv_buf_release(&data);
		sv_buf_release(&key);
		return;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		sv_buf_release(&key);
		cb(arg, -ENOMEM, NULL, 0);
		return;
	}
	op->v = v;
	op->cb = cb;
	op->arg = arg;
	r = sv_s3_get(v->s3, call->bucket, (const char *)key.data + 2 + strlen(call->bucket) + 1,
	              get_s3_done, op);
	if (r != 0) {
		v->st.store_errors++;
		sv_buf_release(&key);
		free(op);
		cb(arg, r, NULL, 0);
		return;
	}
	op->cache_key = call->complete ? (char *)sv_buf_take(&key, NULL) : NULL;
	sv_buf_release(&key);
}

/* ------------------------------------------------------------------ life */

int vault_new(const char *data_dir, struct sv_s3 *s3, size_t cache_bytes, struct vault **out)
{
	struct vault *v = calloc(1, sizeof(*v));
	char err[256];
	int r;

	*out = NULL;
	if (v == NULL || (v->data_dir = strdup(data_dir != NULL ? data_dir : "")) == NULL) {
		free(v);
		return -ENOMEM;
	}
	TAILQ_INIT(&v->lru);
	v->s3 = s3;
	v->cache_max = cache_bytes;
	if (s3 == NULL && (r = sv_objstore_local_new(data_dir, &v->local, err, sizeof(err))) != 0) {
		log_warnx("local object store %s: %s", data_dir, err);
		free(v->data_dir);
		free(v);
		return r;
	}
	*out = v;
	return 0;
}

void vault_free(struct vault *v)
{
	if (v == NULL)
		return;
	while (!TAILQ_EMPTY(&v->lru))
		cache_drop(v, TAILQ_FIRST(&v->lru));
	sv_htable_release(&v->table);
	sv_objstore_free(v->local);
	free(v->data_dir);
	free(v);
}

void vault_get_stats(const struct vault *v, struct vault_stats *out)
{
	*out = v->st;
	out->cache_entries = sv_htable_count(&v->table);
	out->cache_bytes = v->cache_bytes;
}
