/*
 * vault.h - where sipvault-api finds a call's objects: the local object store
 * or S3 (curl multi on the API's event loop), behind one asynchronous
 * interface, with a bounded LRU cache of what completed calls hold.
 *
 * Callbacks: every function taking a callback calls it exactly once, either
 * before it returns (local store, cache hit) or later from the event loop
 * (S3). Data handed to a callback is borrowed for the duration of the call.
 */
#ifndef SV_API_VAULT_H
#define SV_API_VAULT_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sv_s3;

/* One object of a call directory. */
struct vault_obj {
	char *name;
	uint64_t size;
};

/* A located call: its directory and the objects in it, in a fixed order
 * (quality.json, sip.pcap.gz, rtcp.json.gz, log chunks by number, others). */
struct vault_call {
	char *bucket;
	char *prefix; /* "calls/YYYY/MM/DD/{dir}/" */
	int year, month, day;
	int complete; /* quality.json is there: the call is finished and never changes */
	struct vault_obj *objs;
	size_t nobjs;
	/* For the HTTP side: a rendered part of an answer about this complete call,
	 * kept as long as the call stays cached (freed with the call). */
	struct sv_buf rendered;
	int have_rendered;
};

struct vault_stats {
	uint64_t cache_hits, cache_misses;
	uint64_t cache_entries, cache_bytes;
	uint64_t list_requests, get_requests; /* object-store requests made */
	uint64_t store_errors;
};

struct vault;

/* A located call handed to a callback is borrowed; hold it to keep it
 * across later callbacks, drop it when done. Both accept NULL. */
void vault_call_hold(struct vault_call *c);
void vault_call_drop(struct vault_call *c);

/* s3 NULL: local store under data_dir/objects. s3 is borrowed. cache_bytes
 * bounds the cache (objects larger than a quarter of it are not cached). */
int vault_new(const char *data_dir, struct sv_s3 *s3, size_t cache_bytes, struct vault **out);
void vault_free(struct vault *v);
void vault_get_stats(const struct vault *v, struct vault_stats *out);

/* rc: 0 (call found), SV_E_NOTFOUND, or a store error (negative). */
typedef void (*vault_locate_fn)(void *arg, int rc, const struct vault_call *call);
/*
 * Finds the call's directory, trying the days of sv_lookup_plan() (the date
 * hint, ts's day, the day before, the day after, then further back up to
 * max_days) with one list request per day; a complete call, once found, is
 * remembered (no request at all next time).
 */
void vault_locate(struct vault *v, const char *bucket, const char *call_id, size_t call_id_len,
                  int64_t ts, int year, int month, int day, int max_days, vault_locate_fn cb,
                  void *arg);

typedef void (*vault_get_fn)(void *arg, int rc, const uint8_t *data, size_t len);
/* Reads one object of a located call (cached when the call is complete). */
void vault_get(struct vault *v, const struct vault_call *call, const char *name, vault_get_fn cb,
               void *arg);

/* The object's size in the listing, or -1. */
int64_t vault_obj_size(const struct vault_call *call, const char *name);

#endif
