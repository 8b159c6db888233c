#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/errors.h"
#include "store/journal.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

struct rec {
	uint32_t seg;
	uint8_t kind;
	size_t len;
	uint8_t *data;
};

struct recs {
	struct rec *v;
	size_t n, cap;
	int stop_at; /* fn returns 99 when n reaches this (0: never) */
	struct sv_journal *j;
	uint32_t ref_seg; /* when non-zero, fn refs this segment on its records */
};

static void recs_add(struct recs *r, uint32_t seg, uint8_t kind, const void *data, size_t len)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		assert_non_null(r->v);
	}
	struct rec *x = &r->v[r->n++];
	x->seg = seg;
	x->kind = kind;
	x->len = len;
	x->data = malloc(len ? len : 1);
	assert_non_null(x->data);
	if (len)
		memcpy(x->data, data, len);
}

static void recs_free(struct recs *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].data);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static int collect_fn(void *arg, uint32_t seg, uint8_t kind, const uint8_t *data, size_t len)
{
	struct recs *r = arg;
	recs_add(r, seg, kind, data, len);
	if (r->j != NULL && r->ref_seg == seg)
		sv_journal_ref(r->j, seg);
	if (r->stop_at > 0 && (int)r->n == r->stop_at)
		return 99;
	return 0;
}

/* The first n records of got and want are equal. */
static void assert_recs_equal(const struct recs *got, const struct recs *want, size_t n)
{
	assert_true(got->n >= n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(got->v[i].kind, want->v[i].kind);
		assert_int_equal(got->v[i].len, want->v[i].len);
		assert_memory_equal(got->v[i].data, want->v[i].data,
		                    want->v[i].len ? want->v[i].len : 0);
	}
}

static char *seg_path(const char *dir, uint32_t num)
{
	static char p[4200];
	if (strlen(dir) > 4000)
		fail_msg("path too long");
	snprintf(p, sizeof(p), "%.4000s/%010u.wal", dir, (unsigned)num);
	return p;
}

static int seg_exists(const char *dir, uint32_t num)
{
	return access(seg_path(dir, num), F_OK) == 0;
}

static long file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (long)st.st_size;
}

static int count_wal(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".wal") == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Removes every file in dir (not the dir). */
static void clear_dir(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *e;
	char p[4096];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		assert_int_equal(unlink(p), 0);
	}
	closedir(d);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static struct sv_journal *jopen(const char *dir, size_t segment_bytes)
{
	struct sv_journal_opts o = {dir, segment_bytes};
	struct sv_journal *j = NULL;
	char err[512];
	int rc = sv_journal_open(&o, &j, err, sizeof(err));
	if (rc != 0)
		fail_msg("open %s: %d %s", dir, rc, err);
	assert_non_null(j);
	return j;
}

/* Deterministic record content: record i of kind i%7, length lens[i]. */
static void make_payload(uint8_t *p, size_t len, unsigned i)
{
	for (size_t k = 0; k < len; k++)
		p[k] = (uint8_t)(i * 31 + k * 7 + (k >> 8));
}

/* ------------------------------------------------------------ round trip */

static void test_round_trip_many_segments(void **state)
{
	char *dir = tu_tmpdir();
	struct sv_journal *j = jopen(dir, 512);
	assert_int_equal(sv_journal_current(j), 1);
	struct recs want = {0};
	uint8_t buf[700];
	uint32_t first_seg = 0, last_seg = 0;
	for (unsigned i = 0; i < 600; i++) {
		size_t len = (i * 37) % 300;
		if (i % 97 == 5)
			len = 650; /* larger than a segment */
		make_payload(buf, len, i);
		uint32_t seg = 0;
		uint8_t kind = (uint8_t)(i % 7);
		if (i % 3 == 0) {
			struct iovec v[4] = {{buf, len / 3},
			                     {NULL, 0},
			                     {buf + len / 3, len - len / 3 - len / 4},
			                     {buf + len - len / 4, len / 4}};
			assert_int_equal(sv_journal_appendv(j, kind, v, 4, &seg), 0);
		} else {
			assert_int_equal(sv_journal_append(j, kind, buf, len, &seg), 0);
		}
		assert_int_equal(seg, sv_journal_current(j));
		recs_add(&want, seg, kind, buf, len);
		if (i == 0) {
			first_seg = seg;
			/* keeps every later segment alive: GC stops at a referenced one */
			sv_journal_ref(j, seg);
		}
		last_seg = seg;
		if (i % 5 == 4) {
			assert_int_equal(sv_journal_sync(j), 0);
			assert_int_equal(sv_journal_pending(j), 0);
		} else {
			assert_true(sv_journal_pending(j) > 0);
		}
	}
	assert_int_equal(first_seg, 1);
	assert_true(last_seg > 20);
	struct sv_journal_stats st;
	sv_journal_stats(j, &st);
	assert_int_equal(st.records_written, 600);
	assert_int_equal(st.segments_deleted, 0);
	assert_int_equal(st.oldest_segment, 1);
	assert_true(st.oldest_mtime > 1600000000);
	assert_int_equal(st.segments, count_wal(dir));
	assert_int_equal(sv_journal_close(j), 0);

	/* a segment rotates at the first sync that takes it to 512 bytes */
	for (uint32_t s = 1; s <= last_seg; s++)
		assert_true(file_size(seg_path(dir, s)) < 512 + 5 * (9 + 650));

	j = jopen(dir, 512);
	uint32_t cur = sv_journal_current(j);
	assert_true(cur > last_seg);
	assert_int_equal(file_size(seg_path(dir, cur)), 0);
	struct recs got = {0};
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 0);
	assert_int_equal(got.n, want.n);
	assert_recs_equal(&got, &want, want.n);
	for (size_t i = 0; i < want.n; i++)
		assert_int_equal(got.v[i].seg, want.v[i].seg);
	sv_journal_stats(j, &st);
	assert_int_equal(st.records_replayed, 600);
	assert_int_equal(st.torn_records, 0);
	assert_int_equal(st.records_written, 0);
	/* a second replay is refused */
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), -EINVAL);
	/* nothing referenced after replay: the first sync collects all old ones */
	assert_int_equal(sv_journal_sync(j), 0);
	assert_int_equal(count_wal(dir), 1);
	assert_true(seg_exists(dir, cur));
	sv_journal_stats(j, &st);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.segments_deleted, cur - 1);
	assert_int_equal(sv_journal_close(j), 0);
	recs_free(&want);
	recs_free(&got);
	tu_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------------ torn tails */

struct orig {
	uint8_t *data;
	size_t len;
	size_t bounds[64]; /* record end offsets; bounds[0] = first record's end */
	size_t n;
	struct recs recs;
};

/* Builds one segment of n small records and reads its bytes back. */
static void build_orig(const char *dir, struct orig *o, unsigned n)
{
	memset(o, 0, sizeof(*o));
	struct sv_journal *j = jopen(dir, 1 << 20);
	uint8_t buf[64];
	size_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t len = 3 + (i * 5) % 17;
		make_payload(buf, len, i);
		assert_int_equal(sv_journal_append(j, (uint8_t)(i + 1), buf, len, NULL), 0);
		recs_add(&o->recs, 1, (uint8_t)(i + 1), buf, len);
		off += 9 + len;
		o->bounds[o->n++] = off;
	}
	assert_int_equal(sv_journal_close(j), 0);
	struct sv_buf b;
	sv_buf_init(&b);
	tu_read_file(seg_path(dir, 1), &b);
	assert_int_equal(b.len, off);
	o->data = b.data;
	o->len = b.len;
}

/* Records complete within the first `upto` bytes. */
static size_t complete_before(const struct orig *o, size_t upto, size_t *boundary)
{
	size_t k = 0, b = 0;
	while (k < o->n && o->bounds[k] <= upto)
		b = o->bounds[k++];
	*boundary = b;
	return k;
}

/* Writes img as segment 1 in an empty dir, replays, checks the replayed
 * records are exactly want_n complete ones, the file was truncated to
 * want_size, and that a new append replays cleanly after them. */
static void check_damaged(const char *dir, const struct orig *o, const uint8_t *img, size_t len,
                          size_t want_n, size_t want_size)
{
	clear_dir(dir);
	write_file(seg_path(dir, 1), img, len);
	struct sv_journal *j = jopen(dir, 1 << 20);
	struct recs got = {0};
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 0);
	assert_int_equal(got.n, want_n);
	assert_recs_equal(&got, &o->recs, want_n);
	struct sv_journal_stats st;
	sv_journal_stats(j, &st);
	assert_int_equal(st.torn_records, len != want_size ? 1 : 0);
	assert_int_equal(file_size(seg_path(dir, 1)), (long)want_size);
	sv_journal_ref(j, 1); /* keep segment 1 for the second replay */
	assert_int_equal(sv_journal_append(j, 200, "after", 5, NULL), 0);
	assert_int_equal(sv_journal_close(j), 0);
	recs_free(&got);

	j = jopen(dir, 1 << 20);
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 0);
	assert_int_equal(got.n, want_n + 1);
	assert_recs_equal(&got, &o->recs, want_n);
	assert_int_equal(got.v[want_n].seg, 2);
	assert_int_equal(got.v[want_n].kind, 200);
	assert_memory_equal(got.v[want_n].data, "after", 5);
	sv_journal_stats(j, &st);
	assert_int_equal(st.torn_records, 0);
	assert_int_equal(sv_journal_close(j), 0);
	recs_free(&got);
}

static void test_torn_tail_every_offset(void **state)
{
	char *dir = tu_tmpdir();
	struct orig o;
	build_orig(dir, &o, 12);
	size_t from = o.bounds[o.n - 4]; /* start of the last 3 records */
	size_t checked = 0;
	/* truncation at every byte of the last three records */
	for (size_t t = from; t <= o.len; t++) {
		size_t b;
		size_t k = complete_before(&o, t, &b);
		check_damaged(dir, &o, o.data, t, k, b);
		checked++;
	}
	/* one flipped byte (two patterns) anywhere in the last three records */
	uint8_t *img = malloc(o.len);
	assert_non_null(img);
	for (size_t t = from; t < o.len; t++) {
		for (int pat = 0; pat < 2; pat++) {
			memcpy(img, o.data, o.len);
			img[t] ^= pat ? 0xff : 0x01;
			size_t b;
			size_t k = complete_before(&o, t, &b); /* the record holding t is lost */
			check_damaged(dir, &o, img, o.len, k, b);
			checked++;
		}
	}
	/* a tail of zeros (delayed allocation after a crash) */
	uint8_t *z = calloc(1, o.len + 100);
	assert_non_null(z);
	memcpy(z, o.data, o.len);
	check_damaged(dir, &o, z, o.len + 100, o.n, o.len);
	/* a length beyond the 16 MiB limit */
	memcpy(z, o.data, o.len);
	memcpy(z + o.len, "\xff\xff\xff\xff\x01\0\0\0\0", 9);
	check_damaged(dir, &o, z, o.len + 9, o.n, o.len);
	assert_true(checked > 100);
	free(z);
	free(img);
	free(o.data);
	recs_free(&o.recs);
	tu_rmrf(dir);
	free(dir);
}

/* Corruption in an older segment ends that segment only; no truncation. */
static void test_corrupt_older_segment(void **state)
{
	char *dir = tu_tmpdir();
	struct sv_journal *j = jopen(dir, 100);
	struct recs want = {0};
	uint8_t buf[40];
	for (unsigned i = 0; i < 12; i++) {
		make_payload(buf, sizeof(buf), i);
		uint32_t seg;
		assert_int_equal(sv_journal_append(j, 1, buf, sizeof(buf), &seg), 0);
		recs_add(&want, seg, 1, buf, sizeof(buf));
		if (i == 0)
			sv_journal_ref(j, seg);
		if (i % 4 == 3)
			assert_int_equal(sv_journal_sync(j), 0);
	}
	assert_int_equal(sv_journal_close(j), 0);
	/* segments 1, 2, 3 hold 4 records each (4 * 49 >= 100) */
	assert_int_equal(want.v[4].seg, 2);
	assert_int_equal(want.v[11].seg, 3);
	long size1 = file_size(seg_path(dir, 1));
	assert_int_equal(size1, 4 * 49);
	/* flip a data byte of segment 1's second record */
	int fd = open(seg_path(dir, 1), O_RDWR);
	assert_true(fd >= 0);
	uint8_t c;
	assert_int_equal(pread(fd, &c, 1, 49 + 20), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, 49 + 20), 1);
	close(fd);

	j = jopen(dir, 100);
	struct recs got = {0};
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 0);
	assert_int_equal(got.n, 1 + 8);
	assert_memory_equal(got.v[0].data, want.v[0].data, 40);
	for (size_t i = 1; i < got.n; i++) {
		assert_int_equal(got.v[i].seg, want.v[i + 3].seg);
		assert_memory_equal(got.v[i].data, want.v[i + 3].data, 40);
	}
	struct sv_journal_stats st;
	sv_journal_stats(j, &st);
	assert_int_equal(st.torn_records, 1);
	assert_int_equal(file_size(seg_path(dir, 1)), size1); /* left as it is */
	assert_non_null(strstr(sv_journal_error(j), "0000000001.wal"));
	assert_int_equal(sv_journal_close(j), 0);
	recs_free(&want);
	recs_free(&got);
	tu_rmrf(dir);
	free(dir);
}

/* The newest segment with data is the one a crash tears, even when empty
 * segments (from restarts that appended nothing) follow it. */
static void test_torn_before_empty_segments(void **state)
{
	char *dir = tu_tmpdir();
	struct sv_journal *j = jopen(dir, 1 << 20);
	assert_int_equal(sv_journal_append(j, 1, "hello", 5, NULL), 0);
	assert_int_equal(sv_journal_append(j, 2, "world", 5, NULL), 0);
	assert_int_equal(sv_journal_close(j), 0);
	assert_int_equal(truncate(seg_path(dir, 1), 14 + 7), 0);
	write_file(seg_path(dir, 2), "", 0);
	write_file(seg_path(dir, 3), "", 0);
	j = jopen(dir, 1 << 20);
	assert_int_equal(sv_journal_current(j), 4);
	struct recs got = {0};
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 0);
	assert_int_equal(got.n, 1);
	assert_memory_equal(got.v[0].data, "hello", 5);
	assert_int_equal(file_size(seg_path(dir, 1)), 14);
	assert_int_equal(sv_journal_close(j), 0);
	recs_free(&got);
	tu_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------------ GC */

static void test_gc_refcounts(void **state)
{
	char *dir = tu_tmpdir();
	/* each 100-byte record fills a 64-byte segment: every sync rotates */
	struct sv_journal *j = jopen(dir, 64);
	uint8_t buf[100] = {0};
	for (uint32_t s = 1; s <= 5; s++) {
		uint32_t seg;
		assert_int_equal(sv_journal_append(j, 1, buf, sizeof(buf), &seg), 0);
		assert_int_equal(seg, s);
		sv_journal_ref(j, seg);
		if (s == 3)
			sv_journal_ref(j, seg); /* twice */
		assert_int_equal(sv_journal_sync(j), 0);
		assert_int_equal(sv_journal_current(j), s + 1);
	}
	assert_int_equal(count_wal(dir), 6);
	struct sv_journal_stats st;

	/* unref a newer one: nothing goes while 1 is held */
	sv_journal_unref(j, 2);
	sv_journal_unref(j, 4);
	assert_int_equal(sv_journal_sync(j), 0);
	assert_int_equal(count_wal(dir), 6);
	/* refs on unknown segments and extra unrefs are ignored */
	sv_journal_ref(j, 999);
	sv_journal_unref(j, 999);
	sv_journal_unref(j, 2);
	sv_journal_unref(j, 0);
	/* release 1: 1 and 2 go, 3 (two refs) stays, and with it 4 */
	sv_journal_unref(j, 1);
	assert_true(seg_exists(dir, 1)); /* collection happens in sync only */
	assert_int_equal(sv_journal_sync(j), 0);
	assert_false(seg_exists(dir, 1));
	assert_false(seg_exists(dir, 2));
	assert_true(seg_exists(dir, 3));
	assert_true(seg_exists(dir, 4));
	sv_journal_stats(j, &st);
	assert_int_equal(st.segments_deleted, 2);
	assert_int_equal(st.segments, 4);
	assert_int_equal(st.oldest_segment, 3);
	assert_int_equal(st.bytes, 3 * 109);
	/* refs on deleted segments are safe and do nothing */
	sv_journal_ref(j, 1);
	sv_journal_unref(j, 2);
	sv_journal_unref(j, 3);
	assert_int_equal(sv_journal_sync(j), 0);
	assert_true(seg_exists(dir, 3));
	sv_journal_unref(j, 3);
	sv_journal_unref(j, 5);
	assert_int_equal(sv_journal_sync(j), 0);
	/* everything but the current segment is gone; it has no refs yet stays */
	assert_int_equal(count_wal(dir), 1);
	assert_true(seg_exists(dir, 6));
	assert_int_equal(sv_journal_sync(j), 0);
	assert_true(seg_exists(dir, 6));
	sv_journal_stats(j, &st);
	assert_int_equal(st.segments_deleted, 5);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.oldest_segment, 6);
	assert_int_equal(sv_journal_close(j), 0);
	tu_rmrf(dir);
	free(dir);
}

static void test_replay_refs_start_at_zero(void **state)
{
	char *dir = tu_tmpdir();
	struct sv_journal *j = jopen(dir, 64);
	uint8_t buf[100] = {0};
	sv_journal_ref(j, 1);
	for (int i = 0; i < 4; i++) {
		buf[0] = (uint8_t)i;
		assert_int_equal(sv_journal_append(j, 1, buf, sizeof(buf), NULL), 0);
		assert_int_equal(sv_journal_sync(j), 0);
	}
	assert_int_equal(sv_journal_close(j), 0);
	assert_int_equal(count_wal(dir), 5); /* 1..4 with a record, 5 empty */

	j = jopen(dir, 64);
	assert_int_equal(sv_journal_current(j), 6);
	/* not replayed yet: a sync collects nothing */
	assert_int_equal(sv_journal_sync(j), 0);
	assert_int_equal(count_wal(dir), 6);
	/* the owner re-refs segment 3 while replaying */
	struct recs got = {0};
	got.j = j;
	got.ref_seg = 3;
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 0);
	assert_int_equal(got.n, 4);
	assert_int_equal(count_wal(dir), 6);
	assert_int_equal(sv_journal_sync(j), 0);
	assert_false(seg_exists(dir, 1));
	assert_false(seg_exists(dir, 2));
	assert_true(seg_exists(dir, 3));
	assert_true(seg_exists(dir, 4));
	assert_true(seg_exists(dir, 5));
	assert_true(seg_exists(dir, 6));
	sv_journal_unref(j, 3);
	assert_int_equal(sv_journal_sync(j), 0);
	assert_int_equal(count_wal(dir), 1);
	assert_true(seg_exists(dir, 6));
	assert_int_equal(sv_journal_close(j), 0);
	recs_free(&got);
	tu_rmrf(dir);
	free(dir);
}

/* A replay stopped by fn returns its code and keeps every old segment. */
static void test_replay_stopped(void **state)
{
	char *dir = tu_tmpdir();
	struct sv_journal *j = jopen(dir, 64);
	uint8_t buf[100] = {0};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sv_journal_append(j, 1, buf, sizeof(buf), NULL), 0);
		sv_journal_ref(j, sv_journal_current(j));
		assert_int_equal(sv_journal_sync(j), 0);
	}
	assert_int_equal(sv_journal_close(j), 0);
	j = jopen(dir, 64);
	struct recs got = {0};
	got.stop_at = 2;
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 99);
	assert_int_equal(got.n, 2);
	/* appends during/after a failed replay go to the new segment */
	assert_int_equal(sv_journal_append(j, 1, "x", 1, NULL), 0);
	assert_int_equal(sv_journal_sync(j), 0);
	assert_int_equal(count_wal(dir), 5);
	assert_int_equal(sv_journal_close(j), 0);
	recs_free(&got);
	tu_rmrf(dir);
	free(dir);
}

/* fn may append and sync while replaying: nothing is collected meanwhile. */
static int append_during_fn(void *arg, uint32_t seg, uint8_t kind, const uint8_t *data, size_t len)
{
	struct sv_journal *j = arg;
	uint32_t copy;
	assert_int_equal(sv_journal_append(j, 9, data, len, &copy), 0);
	sv_journal_ref(j, copy);
	assert_int_equal(sv_journal_sync(j), 0);
	return 0;
}

static void test_append_during_replay(void **state)
{
	char *dir = tu_tmpdir();
	struct sv_journal *j = jopen(dir, 64);
	uint8_t buf[100] = {0};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sv_journal_append(j, 1, buf, sizeof(buf), NULL), 0);
		sv_journal_ref(j, sv_journal_current(j));
		assert_int_equal(sv_journal_sync(j), 0);
	}
	assert_int_equal(sv_journal_close(j), 0);
	j = jopen(dir, 64);
	assert_int_equal(sv_journal_replay(j, append_during_fn, j), 0);
	struct sv_journal_stats st;
	sv_journal_stats(j, &st);
	assert_int_equal(st.records_replayed, 3);
	assert_int_equal(st.records_written, 3);
	assert_int_equal(st.segments_deleted, 0);
	assert_int_equal(sv_journal_close(j), 0);
	/* the copies (kind 9) replay after the originals; old ones collected */
	j = jopen(dir, 64);
	struct recs got = {0};
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 0);
	assert_int_equal(got.n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(got.v[i].kind, 9);
	assert_int_equal(sv_journal_close(j), 0);
	recs_free(&got);
	tu_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------------ durability */

static void test_synced_record_survives_kill(void **state)
{
	char *dir = tu_tmpdir();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sv_journal_opts o = {dir, 0};
		struct sv_journal *j;
		if (sv_journal_open(&o, &j, NULL, 0) != 0)
			_exit(2);
		if (sv_journal_append(j, 3, "durable", 7, NULL) != 0 || sv_journal_sync(j) != 0)
			_exit(3);
		if (sv_journal_append(j, 4, "volatile", 8, NULL) != 0)
			_exit(4);
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	struct sv_journal *j = jopen(dir, 0);
	struct recs got = {0};
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 0);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.v[0].kind, 3);
	assert_int_equal(got.v[0].len, 7);
	assert_memory_equal(got.v[0].data, "durable", 7);
	assert_int_equal(sv_journal_close(j), 0);
	recs_free(&got);
	tu_rmrf(dir);
	free(dir);
}

/* A sync of 1 MB is one write system call. */
static uint64_t write_syscalls(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	if (f == NULL)
		fail_msg("/proc/self/io is needed to count write calls");
	char line[128];
	uint64_t v = UINT64_MAX;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "syscw: %llu", (unsigned long long *)&v) == 1)
			break;
	fclose(f);
	if (v == UINT64_MAX)
		fail_msg("no syscw in /proc/self/io");
	return v;
}

static void test_sync_is_one_write(void **state)
{
	char *dir = tu_tmpdir();
	struct sv_journal *j = jopen(dir, 0);
	uint8_t rec[1000];
	memset(rec, 0x5a, sizeof(rec));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(sv_journal_append(j, 1, rec, sizeof(rec), NULL), 0);
	assert_int_equal(sv_journal_pending(j), 1000 * 1009);
	uint64_t before = write_syscalls();
	assert_int_equal(sv_journal_sync(j), 0);
	uint64_t after = write_syscalls();
	assert_int_equal(after - before, 1);
	assert_int_equal(file_size(seg_path(dir, 1)), 1000 * 1009);
	assert_int_equal(sv_journal_close(j), 0);
	tu_rmrf(dir);
	free(dir);
}

/* Records of many sizes across the reader's 256 KiB chunks, some split. */
static void test_replay_large_segment(void **state)
{
	char *dir = tu_tmpdir();
	struct sv_journal *j = jopen(dir, 0);
	struct recs want = {0};
	uint8_t buf[5000];
	for (unsigned i = 0; i < 700; i++) {
		size_t len = (i * 7919u) % 5000;
		make_payload(buf, len, i);
		assert_int_equal(sv_journal_append(j, (uint8_t)i, buf, len, NULL), 0);
		recs_add(&want, 1, (uint8_t)i, buf, len);
		if (i % 100 == 99)
			assert_int_equal(sv_journal_sync(j), 0);
	}
	assert_int_equal(sv_journal_close(j), 0);
	assert_true(file_size(seg_path(dir, 1)) > 1000000);
	j = jopen(dir, 0);
	struct recs got = {0};
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 0);
	assert_int_equal(got.n, want.n);
	assert_recs_equal(&got, &want, want.n);
	assert_int_equal(sv_journal_close(j), 0);
	recs_free(&want);
	recs_free(&got);
	tu_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------------ limits */

static void test_big_records(void **state)
{
	char *dir = tu_tmpdir();
	struct sv_journal *j = jopen(dir, 100);
	size_t max = SV_JOURNAL_MAX_RECORD;
	uint8_t *big = malloc(max + 1);
	assert_non_null(big);
	make_payload(big, max + 1, 7);
	uint32_t seg;
	assert_int_equal(sv_journal_append(j, 1, big, max + 1, &seg), -EFBIG);
	struct iovec v[3] = {{big, 10}, {big + 10, max - 10}, {big, 1}};
	assert_int_equal(sv_journal_appendv(j, 1, v, 3, &seg), -EFBIG);
	assert_int_equal(sv_journal_pending(j), 0);
	assert_int_equal(sv_journal_appendv(j, 1, NULL, 1, &seg), -EINVAL);
	assert_int_equal(sv_journal_appendv(j, 1, v, -1, &seg), -EINVAL);
	/* empty records are fine */
	assert_int_equal(sv_journal_appendv(j, 5, NULL, 0, &seg), 0);
	/* exactly the limit, and a 1000-byte record in a 100-byte segment */
	assert_int_equal(sv_journal_appendv(j, 2, v, 2, &seg), 0);
	assert_int_equal(seg, 1);
	sv_journal_ref(j, 1);
	assert_int_equal(sv_journal_sync(j), 0);
	assert_int_equal(sv_journal_current(j), 2);
	assert_int_equal(sv_journal_append(j, 3, big, 1000, &seg), 0);
	assert_int_equal(seg, 2);
	assert_int_equal(sv_journal_close(j), 0);
	assert_int_equal(file_size(seg_path(dir, 1)), 9 + 9 + (long)max);
	assert_int_equal(file_size(seg_path(dir, 2)), 1009);

	j = jopen(dir, 100);
	struct recs got = {0};
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 0);
	assert_int_equal(got.n, 3);
	assert_int_equal(got.v[0].len, 0);
	assert_int_equal(got.v[0].kind, 5);
	assert_int_equal(got.v[1].len, max);
	assert_memory_equal(got.v[1].data, big, max);
	assert_int_equal(got.v[2].seg, 2);
	assert_memory_equal(got.v[2].data, big, 1000);
	assert_int_equal(sv_journal_close(j), 0);
	recs_free(&got);
	free(big);
	tu_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------------ directory */

static void test_directory_handling(void **state)
{
	char *dir = tu_tmpdir();
	char p[4096], err[512];
	struct sv_journal_opts o = {p, 0};
	struct sv_journal *j, *j2;

	/* missing parents are created, mode 0700 */
	snprintf(p, sizeof(p), "%s/spool/journal", dir);
	j = jopen(p, 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(sv_journal_current(j), 1);
	/* a second opener is refused */
	assert_int_equal(sv_journal_open(&o, &j2, err, sizeof(err)), -EBUSY);
	assert_null(j2);
	assert_non_null(strstr(err, p));
	assert_int_equal(sv_journal_close(j), 0);

	/* foreign files are ignored; numbering continues; zero-length segments */
	write_file(seg_path(p, 7), "", 0);
	snprintf(p + strlen(p), sizeof(p) - strlen(p), "/README");
	write_file(p, "x", 1);
	*strrchr(p, '/') = '\0';
	snprintf(p + strlen(p), sizeof(p) - strlen(p), "/0000000009.wal.tmp");
	write_file(p, "x", 1);
	*strrchr(p, '/') = '\0';
	snprintf(p + strlen(p), sizeof(p) - strlen(p), "/.0000000010.wal");
	write_file(p, "x", 1);
	*strrchr(p, '/') = '\0';
	j = jopen(p, 0);
	assert_int_equal(sv_journal_current(j), 8);
	struct recs got = {0};
	assert_int_equal(sv_journal_replay(j, collect_fn, &got), 0);
	assert_int_equal(got.n, 0);
	struct sv_journal_stats s;
	sv_journal_stats(j, &s);
	assert_int_equal(s.torn_records, 0);
	assert_int_equal(s.segments, 3); /* 1, 7 and 8 */
	assert_int_equal(s.oldest_segment, 1);
	assert_int_equal(sv_journal_close(j), 0);

	/* a *.wal with a bad name, or a directory named like a segment */
	const char *bad[] = {"123.wal", "00000000001.wal", "000000000x.wal", "9999999999.wal",
	                     ".wal"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char f[4200];
		snprintf(f, sizeof(f), "%s/%s", p, bad[i]);
		write_file(f, "", 0);
		int rc = sv_journal_open(&o, &j, err, sizeof(err));
		if (strcmp(bad[i], ".wal") == 0) {
			assert_int_equal(rc, 0); /* hidden: ignored */
			assert_int_equal(sv_journal_close(j), 0);
		} else {
			assert_int_equal(rc, SV_E_PARSE);
			assert_null(j);
			assert_non_null(strstr(err, bad[i]));
		}
		assert_int_equal(unlink(f), 0);
	}
	char f[4200];
	snprintf(f, sizeof(f), "%s/0000000020.wal", p);
	assert_int_equal(mkdir(f, 0700), 0);
	assert_int_equal(sv_journal_open(&o, &j, err, sizeof(err)), SV_E_PARSE);
	assert_non_null(strstr(err, "0000000020.wal"));
	assert_int_equal(rmdir(f), 0);

	/* a path through a regular file */
	snprintf(f, sizeof(f), "%s/README/journal", p);
	o.dir = f;
	assert_int_equal(sv_journal_open(&o, &j, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, f));
	/* nothing to open */
	o.dir = "";
	assert_int_equal(sv_journal_open(&o, &j, err, sizeof(err)), -EINVAL);
	assert_int_equal(sv_journal_open(NULL, &j, err, sizeof(err)), -EINVAL);
	recs_free(&got);
	tu_rmrf(dir);
	free(dir);
}

static void test_unwritable_directory(void **state)
{
	char err[512];
	struct sv_journal *j;
	struct sv_journal_opts o = {NULL, 0};
	char *dir = tu_tmpdir();
	if (geteuid() != 0) {
		assert_int_equal(chmod(dir, 0500), 0);
		o.dir = dir;
		assert_int_equal(sv_journal_open(&o, &j, err, sizeof(err)), -EACCES);
		assert_non_null(strstr(err, dir));
		assert_non_null(strstr(err, "0000000001.wal"));
		assert_int_equal(chmod(dir, 0700), 0);
	}
	/* root writes anywhere: a directory nobody can create files in */
	o.dir = "/proc/self";
	int rc = sv_journal_open(&o, &j, err, sizeof(err));
	assert_true(rc < 0);
	assert_null(j);
	assert_non_null(strstr(err, "/proc/self"));
	assert_non_null(strstr(err, "cannot"));
	tu_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_many_segments),
	    cmocka_unit_test(test_torn_tail_every_offset),
	    cmocka_unit_test(test_corrupt_older_segment),
	    cmocka_unit_test(test_torn_before_empty_segments),
	    cmocka_unit_test(test_gc_refcounts),
	    cmocka_unit_test(test_replay_refs_start_at_zero),
	    cmocka_unit_test(test_replay_stopped),
	    cmocka_unit_test(test_append_during_replay),
	    cmocka_unit_test(test_synced_record_survives_kill),
	    cmocka_unit_test(test_sync_is_one_write),
	    cmocka_unit_test(test_replay_large_segment),
	    cmocka_unit_test(test_big_records),
	    cmocka_unit_test(test_directory_handling),
	    cmocka_unit_test(test_unwritable_directory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
