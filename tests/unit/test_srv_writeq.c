/*
 * test_srv_writeq.c - the server's object-write queue (src/server/srv_writeq.c,
 * compiled into this test by CMake) with the object store, the clock and
 * the rest of the daemon faked: a fake store back end that records every put
 * and completes them only at flush (as the local store does), a clock that
 * moves only when the test (or a put) moves it, and stubs for the few
 * srv_core.c functions the queue calls. The journal is the real one, in a
 * temporary directory, read back to check the markers. No sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "srv.h"
#include "testutil.h"

#include "base/errors.h"
#include "base/log.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS    1000000000ull
#define MAXP  1024
#define MAXJR 256

/* ------------------------------------------------------------ fakes */

static uint64_t fake_now = 1764151205ull * NS;

static uint64_t fake_clock(void)
{
	return fake_now;
}

struct pending {
	struct sv_objstore_op *op;
	size_t bytes;
	char key[256];
};

/* The fake store: puts are staged and completed by flush, in put order. */
static struct fake {
	char put_keys[MAXP][256]; /* every put started, in order */
	int nputs;
	struct pending pend[MAXP];
	int npend;
	int flushes;
	int batch[MAXP]; /* puts completed by each flush */
	char fail_match[64];
	int fail_left;          /* puts whose key contains fail_match that fail */
	bool hold;              /* flush completes nothing (an S3-like back end) */
	uint64_t put_cost_ns;   /* a put moves the clock this much */
	char stored[MAXP][256]; /* completed ok, in completion order */
	int nstored;
} fk;

static void fake_put(void *impl, const char *bucket, const char *key, const char *ctype,
                     const char *cenc, struct sv_buf *data, struct sv_objstore_op *op)
{
	assert_string_equal(bucket, "acme-calls");
	assert_true(fk.nputs < MAXP && fk.npend < MAXP);
	snprintf(fk.put_keys[fk.nputs++], 256, "%s", key);
	fk.pend[fk.npend].op = op;
	fk.pend[fk.npend].bytes = data->len;
	snprintf(fk.pend[fk.npend].key, 256, "%s", key);
	fk.npend++;
	sv_buf_release(data);
	fake_now += fk.put_cost_ns;
}

static int fake_get(void *impl, const char *bucket, const char *key, struct sv_buf *out)
{
	return SV_E_NOTFOUND;
}

static void complete_all(int rc_all)
{
	struct pending p[MAXP];
	int n = fk.npend;

	/* done callbacks may start new puts: those wait for the next flush */
	memcpy(p, fk.pend, sizeof(p[0]) * (size_t)n);
	fk.npend = 0;
	for (int i = 0; i < n; i++) {
		int rc = rc_all;
		if (rc == 0 && fk.fail_left > 0 && fk.fail_match[0] != '\0' &&
		    strstr(p[i].key, fk.fail_match) != NULL) {
			fk.fail_left--;
			rc = -EIO;
		}
		if (rc == 0)
			snprintf(fk.stored[fk.nstored++], 256, "%s", p[i].key);
		sv_objstore_op_done(p[i].op, rc, p[i].bytes);
	}
}

static int fake_flush(void *impl)
{
	if (fk.hold)
		return 0;
	fk.batch[fk.flushes++] = fk.npend;
	complete_all(0);
	return 0;
}

static void fake_free(void *impl)
{
	complete_all(-ECANCELED);
}

static const struct sv_objstore_ops fake_ops = {
    .name = "fake", .put = fake_put, .get = fake_get, .free = fake_free, .flush = fake_flush};

/* srv_core.c stand-ins */
static int syncs_wanted;
static struct srv_cstats acme_stats = {.id = "acme"};

uint64_t srv_now(const struct srv *s)
{
	return s->clock();
}

void srv_want_sync(struct srv *s)
{
	syncs_wanted++;
}

struct srv_cstats *srv_cstats_get(struct srv *s, const char *customer)
{
	return strcmp(customer, "acme") == 0 ? &acme_stats : NULL;
}

const char *srv_callid_str(const uint8_t *id, size_t len, char *out, size_t outlen)
{
	snprintf(out, outlen, "%.*s", (int)len, (const char *)id);
	return out;
}

/* ------------------------------------------------------------ fixture */

static int no_records(void *arg, uint32_t segment, uint8_t kind, const uint8_t *data, size_t len)
{
	fail_msg("a fresh journal has no records");
	return 0;
}

struct fx {
	struct srv s;
	struct sv_customers customers;
	struct sv_customer acme;
	char *dir;
	char jdir[512];
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct sv_journal_opts jo = {0};
	char err[256];

	memset(&fk, 0, sizeof(fk));
	syncs_wanted = 0;
	acme_stats.completed = 0;
	x->dir = tu_tmpdir();
	snprintf(x->jdir, sizeof(x->jdir), "%s/journal", x->dir);
	x->acme.id = "acme";
	x->acme.bucket = "acme-calls";
	x->customers.v = &x->acme;
	x->customers.n = 1;
	srv_writeq_init(&x->s);
	x->s.clock = fake_clock;
	x->s.customers = &x->customers;
	x->s.base = event_base_new();
	assert_non_null(x->s.base);
	assert_int_equal(sv_objstore_new_backend(&fake_ops, NULL, &x->s.store), 0);
	jo.dir = x->jdir;
	assert_int_equal(sv_journal_open(&jo, &x->s.journal, err, sizeof(err)), 0);
	assert_int_equal(sv_journal_replay(x->s.journal, no_records, NULL), 0);
	assert_int_equal(srv_writeq_start(&x->s), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	srv_writeq_shutdown(&x->s);
	if (x->s.journal != NULL)
		sv_journal_close(x->s.journal);
	event_base_free(x->s.base);
	tu_rmrf(x->dir);
	free(x->dir);
	free(x);
	return 0;
}

/* Runs the loop until nothing is active (no timers wait: retries are driven
 * by srv_writeq_retry_due with the fake clock). */
static void run(struct fx *x)
{
	assert_true(event_base_loop(x->s.base, EVLOOP_NONBLOCK) >= 0);
}

static void put_str(struct sv_buf *b, const char *s)
{
	sv_buf_init(b);
	assert_int_equal(sv_buf_append_str(b, s), 0);
}

static void complete_call(struct fx *x, const char *call_id, unsigned log_chunk)
{
	uint64_t user = 0;
	struct sv_call_ref ref = {"acme", (const uint8_t *)call_id, strlen(call_id), fake_now, 1,
	                          &user};
	struct sv_call_objects o;

	memset(&o, 0, sizeof(o));
	put_str(&o.sip_pcap_gz, "pcap");
	put_str(&o.rtcp_json_gz, "rtcp");
	put_str(&o.quality_json, "{}");
	if (log_chunk > 0) {
		o.log_chunk = log_chunk;
		put_str(&o.log_gz, "log");
	}
	srv_writeq_complete(&x->s, &ref, 0, &o);
}

static void log_chunk(struct fx *x, const char *call_id, unsigned chunk)
{
	uint64_t user = 0;
	struct sv_call_ref ref = {"acme", (const uint8_t *)call_id, strlen(call_id), fake_now, 1,
	                          &user};
	struct sv_buf gz;

	put_str(&gz, "lines");
	srv_writeq_log_chunk(&x->s, &ref, chunk, 10, &gz);
}

/* The journal's records, read back: kind and Call-ID of each marker. */
struct jrec {
	uint8_t kind;
	char call_id[64];
};
static struct jrec jr[MAXJR];
static int njr;

static int jfn(void *arg, uint32_t segment, uint8_t kind, const uint8_t *data, size_t len)
{
	size_t cl = sv_be16(data);
	size_t il = sv_be32(data + 2 + cl);

	assert_true(njr < MAXJR);
	jr[njr].kind = kind;
	snprintf(jr[njr].call_id, sizeof(jr[njr].call_id), "%.*s", (int)il,
	         (const char *)data + 6 + cl);
	njr++;
	return 0;
}

static void read_journal(struct fx *x)
{
	struct sv_journal_opts jo = {.dir = x->jdir};
	char err[256];

	assert_int_equal(sv_journal_close(x->s.journal), 0);
	assert_int_equal(sv_journal_open(&jo, &x->s.journal, err, sizeof(err)), 0);
	njr = 0;
	assert_int_equal(sv_journal_replay(x->s.journal, jfn, NULL), 0);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);
	return a >= b && strcmp(s + a - b, tail) == 0;
}

/* ------------------------------------------------------------ tests */

/* Writes wait in the queue until the loop runs; then every put started in
 * that iteration is completed by ONE flush (group commit). */
static void test_group_commit(void **state)
{
	struct fx *x = *state;
	char id[32];
	size_t q, r, u;

	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "call-%02d@x", i);
		complete_call(x, id, 0);
	}
	assert_int_equal(fk.nputs, 0);
	srv_writeq_counts(&x->s, &q, &r, &u);
	assert_int_equal(q, 50);
	assert_int_equal(u, 50);
	run(x);
	assert_int_equal(fk.nputs, 150);
	assert_int_equal(fk.flushes, 1);
	assert_int_equal(fk.batch[0], 150);
	assert_int_equal(x->s.obj_ok[SRV_OBJ_SIP], 50);
	assert_int_equal(x->s.obj_ok[SRV_OBJ_RTCP], 50);
	assert_int_equal(x->s.obj_ok[SRV_OBJ_QUALITY], 50);
	assert_int_equal(acme_stats.completed, 50);
	assert_true(syncs_wanted >= 1);
	srv_writeq_counts(&x->s, &q, &r, &u);
	assert_int_equal(q + r + u, 0);
	read_journal(x);
	assert_int_equal(njr, 50);
	for (int i = 0; i < njr; i++)
		assert_int_equal(jr[i].kind, SRV_J_COMPLETE);
}

/* The writer starts queued groups a time slice (20 ms) at a time; each
 * slice's puts are committed together before the next slice starts. */
static void test_time_slices(void **state)
{
	struct fx *x = *state;
	char id[32];

	fk.put_cost_ns = 1000000; /* 1 ms per put: a call costs 3 ms */
	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "slice-%02d@x", i);
		complete_call(x, id, 0);
	}
	run(x);
	assert_int_equal(fk.nputs, 150);
	/* 7 calls (21 ms) per slice: 7 slices of 21 puts, then 1 call */
	assert_int_equal(fk.flushes, 8);
	for (int i = 0; i < 7; i++)
		assert_int_equal(fk.batch[i], 21);
	assert_int_equal(fk.batch[7], 3);
	assert_int_equal(acme_stats.completed, 50);
}

/* A call's objects are put in the order sip.pcap.gz, rtcp.json.gz, the last
 * log chunk, quality.json: a reader that sees quality.json sees the call. */
static void test_quality_last(void **state)
{
	struct fx *x = *state;

	complete_call(x, "order@x", 3);
	complete_call(x, "order2@x", 0);
	run(x);
	assert_int_equal(fk.nputs, 7);
	assert_true(ends_with(fk.put_keys[0], "/sip.pcap.gz"));
	assert_true(ends_with(fk.put_keys[1], "/rtcp.json.gz"));
	assert_true(ends_with(fk.put_keys[2], "/log-000003.gz"));
	assert_true(ends_with(fk.put_keys[3], "/quality.json"));
	assert_true(ends_with(fk.put_keys[6], "/quality.json"));
	/* the same call directory for all four */
	size_t dir = strlen(fk.put_keys[0]) - strlen("sip.pcap.gz");
	for (int i = 1; i < 4; i++)
		assert_memory_equal(fk.put_keys[i], fk.put_keys[0], dir);
	/* and made visible in that order */
	assert_int_equal(fk.nstored, 7);
	assert_true(ends_with(fk.stored[3], "/quality.json"));
	assert_int_equal(x->s.obj_ok[SRV_OBJ_LOG], 1);
}

/* A failed put is retried after 1 s, then 2 s, ... by the clock; only the
 * objects not written yet are put again; the call is complete (journal
 * marker, counter) only once every object is written. */
static void test_retry_after_failure(void **state)
{
	struct fx *x = *state;
	uint64_t t0 = fake_now;
	size_t q, r, u;

	snprintf(fk.fail_match, sizeof(fk.fail_match), "rtcp.json.gz");
	fk.fail_left = 2;
	complete_call(x, "retry@x", 0);
	run(x);
	assert_int_equal(fk.nputs, 3);
	assert_int_equal(x->s.obj_err[SRV_OBJ_RTCP], 1);
	assert_int_equal(x->s.obj_ok[SRV_OBJ_SIP], 1);
	assert_int_equal(x->s.obj_ok[SRV_OBJ_QUALITY], 1);
	assert_int_equal(acme_stats.completed, 0);
	srv_writeq_counts(&x->s, &q, &r, &u);
	assert_int_equal(r, 1);
	assert_true(event_pending(x->s.wq.retry_ev, EV_TIMEOUT, NULL));

	/* not yet: the first retry comes after 1 s */
	assert_true(srv_writeq_retry_due(&x->s, t0 + NS / 2) == t0 + NS);
	assert_int_equal(fk.nputs, 3);
	fake_now = t0 + NS;
	assert_true(srv_writeq_retry_due(&x->s, fake_now) == 0);
	assert_int_equal(fk.nputs, 4); /* only the missing object */
	assert_true(ends_with(fk.put_keys[3], "/rtcp.json.gz"));
	run(x);
	assert_int_equal(x->s.obj_err[SRV_OBJ_RTCP], 2);

	/* second failure: 2 s */
	uint64_t t1 = fake_now;
	assert_true(srv_writeq_retry_due(&x->s, t1 + 2 * NS - 1) == t1 + 2 * NS);
	assert_int_equal(fk.nputs, 4);
	fake_now = t1 + 2 * NS;
	srv_writeq_retry_due(&x->s, fake_now);
	run(x);
	assert_int_equal(fk.nputs, 5);
	assert_int_equal(x->s.obj_ok[SRV_OBJ_RTCP], 1);
	assert_int_equal(acme_stats.completed, 1);
	srv_writeq_counts(&x->s, &q, &r, &u);
	assert_int_equal(q + r + u, 0);
	read_journal(x);
	assert_int_equal(njr, 1);
	assert_int_equal(jr[0].kind, SRV_J_COMPLETE);
}

/* A call completed while one of its log chunks waits for a retry is marked
 * complete only after that chunk is durable: LOG_FLUSHED before COMPLETE. */
static void test_complete_waits_for_log_chunk(void **state)
{
	struct fx *x = *state;
	size_t q, r, u;

	snprintf(fk.fail_match, sizeof(fk.fail_match), "log-000001.gz");
	fk.fail_left = 1;
	log_chunk(x, "wait@x", 1);
	complete_call(x, "wait@x", 2);
	run(x);
	assert_int_equal(fk.nputs, 5);
	assert_int_equal(x->s.obj_err[SRV_OBJ_LOG], 1);
	assert_int_equal(acme_stats.completed, 0); /* objects written, call waits */
	srv_writeq_counts(&x->s, &q, &r, &u);
	assert_int_equal(r, 1);
	assert_int_equal(u, 2);
	fake_now += NS;
	srv_writeq_retry_due(&x->s, fake_now);
	run(x);
	assert_int_equal(acme_stats.completed, 1);
	srv_writeq_counts(&x->s, &q, &r, &u);
	assert_int_equal(q + r + u, 0);
	read_journal(x);
	assert_int_equal(njr, 2);
	assert_int_equal(jr[0].kind, SRV_J_LOG_FLUSHED);
	assert_int_equal(jr[1].kind, SRV_J_COMPLETE);
	assert_string_equal(jr[1].call_id, "wait@x");
}

/* Shutdown: puts already started are completed and journaled; groups never
 * started are dropped (they stay in the journal for the next start). */
static void test_shutdown_flush(void **state)
{
	struct fx *x = *state;

	fk.hold = true; /* started puts stay staged */
	complete_call(x, "started@x", 0);
	run(x);
	assert_int_equal(fk.nputs, 3);
	assert_int_equal(fk.npend, 3);
	complete_call(x, "queued@x", 0); /* the loop never runs again */
	fk.hold = false;
	srv_writeq_shutdown(&x->s);
	assert_null(x->s.store);
	assert_int_equal(fk.nputs, 3); /* the queued call was not started */
	assert_int_equal(fk.nstored, 3);
	assert_int_equal(acme_stats.completed, 1);
	read_journal(x);
	assert_int_equal(njr, 1);
	assert_string_equal(jr[0].call_id, "started@x");
}

/* A back end that still holds puts at shutdown (S3) has them cancelled:
 * no marker, nothing leaked. */
static void test_shutdown_cancels_held_puts(void **state)
{
	struct fx *x = *state;

	fk.hold = true;
	complete_call(x, "held@x", 1);
	log_chunk(x, "held@x", 2);
	run(x);
	assert_int_equal(fk.npend, 5);
	srv_writeq_shutdown(&x->s);
	assert_int_equal(fk.npend, 0);
	assert_int_equal(fk.nstored, 0);
	assert_int_equal(acme_stats.completed, 0);
	assert_int_equal(x->s.obj_err[SRV_OBJ_QUALITY], 1);
	read_journal(x);
	assert_int_equal(njr, 0);
}

/* Before srv_writeq_start (the journal replay) writes start at once; the
 * flush they want happens once the loop runs. */
static void test_before_start_writes_at_once(void **state)
{
	struct fx *x = *state;

	srv_writeq_shutdown(&x->s); /* a fresh queue, not started */
	assert_int_equal(sv_objstore_new_backend(&fake_ops, NULL, &x->s.store), 0);
	srv_writeq_init(&x->s);
	fk.flushes = 0;
	complete_call(x, "replayed@x", 0);
	assert_int_equal(fk.nputs, 3);
	assert_int_equal(fk.flushes, 0);
	assert_int_equal(srv_writeq_start(&x->s), 0);
	run(x);
	assert_int_equal(fk.flushes, 1);
	assert_int_equal(acme_stats.completed, 1);
}

int main(void)
{
	sv_log_init("test_srv_writeq", SV_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_time_slices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quality_last, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retry_after_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_complete_waits_for_log_chunk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_cancels_held_puts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_before_start_writes_at_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
