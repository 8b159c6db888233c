#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "store/diskring.h"
#include "base/errors.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

#define AREA 4096u /* where the data area starts */

static char *dir;
static char path[512];

static int setup(void **state)
{
	dir = tu_tmpdir();
	snprintf(path, sizeof(path), "%s/buffer.dat", dir);
	return 0;
}

static int teardown(void **state)
{
	tu_rmrf(dir);
	free(dir);
	return 0;
}

/* The payload of record seq is a function of seq (and of a length cap). */
static size_t plen(uint64_t seq, size_t maxlen)
{
	return (size_t)((seq * 2654435761u) >> 5) % (maxlen + 1);
}

static void pfill(uint64_t seq, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 31 + i * 7 + (i >> 8));
}

static int pcheck(uint64_t seq, const uint8_t *p, size_t len, size_t maxlen)
{
	if (len != plen(seq, maxlen))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seq * 31 + i * 7 + (i >> 8)))
			return 0;
	return 1;
}

static uint8_t scratch[SV_DISKRING_MAX_RECORD + 16];

static struct sv_diskring *ring_open(uint64_t max_size)
{
	struct sv_diskring_opts o = {path, max_size};
	struct sv_diskring *r = NULL;
	char err[512];
	int rc = sv_diskring_open(&o, &r, err, sizeof(err));
	if (rc != 0)
		fail_msg("open: %s (%s)", err, sv_strerror(rc));
	return r;
}

static uint64_t add(struct sv_diskring *r, uint64_t want_seq, size_t maxlen,
                    struct sv_diskring_drop *drop)
{
	size_t len = plen(want_seq, maxlen);
	pfill(want_seq, scratch, len);
	uint64_t seq = 0;
	assert_int_equal(sv_diskring_append(r, scratch, len, (int64_t)want_seq * 10, &seq, drop),
	                 0);
	assert_int_equal(seq, want_seq);
	return seq;
}

/* Reads every record from the cursor on; checks contiguity and payloads.
 * Returns the count; *first and *last get the range (0 when none). */
static uint64_t drain(struct sv_diskring *r, size_t maxlen, uint64_t *first, uint64_t *last)
{
	const uint8_t *d;
	size_t len;
	uint64_t seq, n = 0, prev = 0;
	int64_t t;
	int rc;
	*first = *last = 0;
	while ((rc = sv_diskring_next(r, &d, &len, &seq, &t)) == 0) {
		if (n == 0)
			*first = seq;
		else
			assert_int_equal(seq, prev + 1);
		if (!pcheck(seq, d, len, maxlen))
			fail_msg("record %llu: bad payload (len %zu)", (unsigned long long)seq,
			         len);
		assert_int_equal(t, (int64_t)seq * 10);
		prev = seq;
		n++;
	}
	assert_int_equal(rc, SV_E_AGAIN);
	*last = prev;
	return n;
}

static off_t fsize(const char *p)
{
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	return st.st_size;
}

static void read_file(const char *p, uint8_t **out, size_t *len)
{
	struct sv_buf b;
	sv_buf_init(&b);
	tu_read_file(p, &b);
	*out = b.data;
	*len = b.len;
}

static void write_file(const char *p, const uint8_t *data, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* ------------------------------------------------------------ tests */

/* Many wraps of a 64 KiB ring: append, read, ack in steps; nothing dropped. */
static void test_roundtrip_wraps(void **state)
{
	struct sv_diskring *r = ring_open(65536);
	uint64_t next = 1, expect = 1;
	size_t maxlen = 3000;
	for (int round = 0; round < 400; round++) {
		int n = 1 + round % 13;
		for (int i = 0; i < n; i++)
			add(r, next++, maxlen, NULL);
		if (round % 3 == 0)
			assert_int_equal(sv_diskring_sync(r), 0);
		uint64_t first, last;
		uint64_t got = drain(r, maxlen, &first, &last);
		assert_int_equal(got, (uint64_t)n);
		assert_int_equal(first, expect);
		expect = last + 1;
		assert_int_equal(sv_diskring_ack(r, last), 0);
		assert_int_equal(sv_diskring_acked(r), last);
	}
	struct sv_diskring_stats st;
	sv_diskring_stats(r, 0, &st);
	assert_int_equal(st.dropped_records, 0);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.bytes, 0);
	assert_true(st.appended * 1500 > 10 * st.capacity); /* wrapped many times */
	assert_int_equal(sv_diskring_close(r), 0);
	assert_int_equal(fsize(path), 65536);

	/* everything was acknowledged and synced at close: nothing comes back */
	r = ring_open(65536);
	uint64_t first, last;
	assert_int_equal(drain(r, maxlen, &first, &last), 0);
	assert_int_equal(sv_diskring_next_seq(r), next);
	assert_int_equal(sv_diskring_ack(r, next), -EINVAL);
	sv_diskring_close(r);
}

/* Clean close and reopen, with records across the wrap point. */
static void test_reopen_clean(void **state)
{
	struct sv_diskring *r = ring_open(32768);
	size_t maxlen = 700;
	uint64_t s = 1;
	/* move the ring near its end, then fill across the wrap */
	for (; s <= 60; s++)
		add(r, s, maxlen, NULL);
	assert_int_equal(sv_diskring_ack(r, 60), 0);
	for (; s <= 100; s++)
		add(r, s, maxlen, NULL);
	assert_int_equal(sv_diskring_ack(r, 70), 0);
	assert_int_equal(sv_diskring_close(r), 0);

	for (int k = 0; k < 3; k++) {
		r = ring_open(32768);
		struct sv_diskring_stats st;
		sv_diskring_stats(r, 2000, &st);
		assert_int_equal(st.recovered, 30);
		assert_int_equal(st.records, 30);
		assert_int_equal(st.life, (uint32_t)(2 + k));
		assert_int_equal(st.oldest_age_ms, 2000 - 710);
		assert_int_equal(sv_diskring_next_seq(r), 101);
		assert_int_equal(sv_diskring_acked(r), 70);
		uint64_t first, last;
		assert_int_equal(drain(r, maxlen, &first, &last), 30);
		assert_int_equal(first, 71);
		assert_int_equal(last, 100);
		/* a rewind starts again from the first unacknowledged record */
		sv_diskring_rewind(r);
		assert_int_equal(drain(r, maxlen, &first, &last), 30);
		assert_int_equal(first, 71);
		assert_int_equal(sv_diskring_close(r), 0);
	}
}

/* Live appends interleave with replay: the cursor returns them in order. */
static void test_cursor_interleave(void **state)
{
	struct sv_diskring *r = ring_open(65536);
	size_t maxlen = 200;
	for (uint64_t s = 1; s <= 10; s++)
		add(r, s, maxlen, NULL);
	const uint8_t *d;
	size_t len;
	uint64_t seq;
	for (uint64_t s = 1; s <= 4; s++) {
		assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), 0);
		assert_int_equal(seq, s);
	}
	add(r, 11, maxlen, NULL);
	assert_int_equal(sv_diskring_ack(r, 2), 0);
	sv_diskring_rewind(r); /* a reconnect */
	uint64_t expect = 3;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), 0);
		assert_int_equal(seq, expect++);
		add(r, 12 + (uint64_t)i, maxlen, NULL); /* live frames keep coming */
	}
	uint64_t first, last;
	assert_int_equal(drain(r, maxlen, &first, &last), 15 - 7 + 1);
	assert_int_equal(first, 7);
	assert_int_equal(last, 15);
	assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), SV_E_AGAIN);
	add(r, 16, maxlen, NULL);
	assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), 0);
	assert_int_equal(seq, 16);
	/* acking ahead of the cursor moves it */
	add(r, 17, maxlen, NULL);
	add(r, 18, maxlen, NULL);
	assert_int_equal(sv_diskring_ack(r, 17), 0);
	assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), 0);
	assert_int_equal(seq, 18);
	assert_int_equal(sv_diskring_ack(r, 5), 0); /* below: ignored */
	assert_int_equal(sv_diskring_acked(r), 17);
	sv_diskring_close(r);
}

/* A full ring drops the oldest whole records, counts and reports them. */
static void test_full_drops_oldest(void **state)
{
	struct sv_diskring *r = ring_open(SV_DISKRING_MIN_SIZE);
	size_t maxlen = 500;
	uint64_t dropped = 0, dbytes = 0, next_drop = 1;
	uint64_t total = 0;
	for (uint64_t s = 1; s <= 2000; s++) {
		struct sv_diskring_drop dr;
		add(r, s, maxlen, &dr);
		if (dr.records > 0) {
			assert_int_equal(dr.first_seq, next_drop);
			assert_int_equal(dr.last_seq, next_drop + dr.records - 1);
			uint64_t b = 0;
			for (uint64_t k = dr.first_seq; k <= dr.last_seq; k++)
				b += plen(k, maxlen);
			assert_int_equal(dr.bytes, b);
			next_drop = dr.last_seq + 1;
			dropped += dr.records;
			dbytes += dr.bytes;
		}
		if (s % 97 == 0)
			assert_int_equal(sv_diskring_sync(r), 0);
		total++;
	}
	assert_true(dropped > 1000);
	struct sv_diskring_stats st;
	sv_diskring_stats(r, 0, &st);
	assert_int_equal(st.dropped_records, dropped);
	assert_int_equal(st.dropped_bytes, dbytes);
	assert_int_equal(st.records, total - dropped);
	assert_true(st.bytes <= st.capacity);
	assert_true(st.bytes + 32 + 504 > st.capacity); /* full, within one record */
	uint64_t first, last;
	assert_int_equal(drain(r, maxlen, &first, &last), total - dropped);
	assert_int_equal(first, next_drop);
	assert_int_equal(last, 2000);
	assert_int_equal(sv_diskring_close(r), 0);
	assert_int_equal(fsize(path), SV_DISKRING_MIN_SIZE);

	/* the same survives a reopen */
	r = ring_open(SV_DISKRING_MIN_SIZE);
	assert_int_equal(drain(r, maxlen, &first, &last), total - dropped);
	assert_int_equal(first, next_drop);
	assert_int_equal(last, 2000);

	/* acknowledged records are reclaimed silently; the cursor behind the
	 * dropped ones skips them */
	sv_diskring_rewind(r);
	assert_int_equal(sv_diskring_ack(r, 1990), 0);
	struct sv_diskring_drop dr;
	for (uint64_t s = 2001; s <= 2012; s++) {
		add(r, s, maxlen, &dr);
		assert_int_equal(dr.records, 0);
	}
	for (uint64_t s = 2013; s <= 2100; s++)
		add(r, s, maxlen, &dr);
	const uint8_t *d;
	size_t len;
	uint64_t seq;
	assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), 0);
	assert_true(seq > 1991);
	sv_diskring_close(r);
}

/* The acknowledgement is persisted by sync; an unsynced one replays again. */
static void test_ack_persistence(void **state)
{
	struct sv_diskring *r = ring_open(65536);
	size_t maxlen = 100;
	for (uint64_t s = 1; s <= 50; s++)
		add(r, s, maxlen, NULL);
	assert_int_equal(sv_diskring_ack(r, 20), 0);
	assert_int_equal(sv_diskring_sync(r), 0);
	/* while it is open, the file is busy */
	struct sv_diskring_opts o = {path, 65536};
	struct sv_diskring *r2;
	char err[256];
	assert_int_equal(sv_diskring_open(&o, &r2, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, path));
	assert_int_equal(sv_diskring_close(r), 0);

	/* a process acknowledges more but is killed before syncing */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (sv_diskring_open(&o, &r2, NULL, 0) != 0 || sv_diskring_ack(r2, 40) != 0)
			_exit(1);
		raise(SIGKILL);
		_exit(1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	r = ring_open(65536);
	uint64_t first, last;
	assert_int_equal(drain(r, maxlen, &first, &last), 30);
	assert_int_equal(first, 21);
	assert_int_equal(sv_diskring_ack(r, 45), 0);
	assert_int_equal(sv_diskring_close(r), 0); /* close syncs the ack */
	r = ring_open(65536);
	assert_int_equal(drain(r, maxlen, &first, &last), 5);
	assert_int_equal(first, 46);
	sv_diskring_close(r);
}

/* A child appends and syncs in a loop (acking as it goes) and is killed at a
 * random moment; every synced record must come back, in order, intact. */
static void test_kill9(void **state)
{
	size_t maxlen = 2000;
	uint64_t max_size = 256 * 1024;
	unsigned seed = (unsigned)time(NULL);
	srand(seed);
	uint64_t prev_next = 1;
	for (int iter = 0; iter < 50; iter++) {
		int pfd[2];
		assert_int_equal(pipe(pfd), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			struct sv_diskring_opts o = {path, max_size};
			struct sv_diskring *r;
			if (sv_diskring_open(&o, &r, NULL, 0) != 0)
				_exit(2);
			uint64_t seq = sv_diskring_next_seq(r);
			for (uint64_t k = 0;; k++, seq++) {
				size_t len = plen(seq, maxlen);
				pfill(seq, scratch, len);
				uint64_t got;
				if (sv_diskring_append(r, scratch, len, (int64_t)seq * 10, &got,
				                       NULL) != 0 ||
				    got != seq)
					_exit(3);
				if (k % 20 == 19 && seq > 60 && sv_diskring_ack(r, seq - 60) != 0)
					_exit(4);
				if (k % 7 == 6) {
					if (sv_diskring_sync(r) != 0)
						_exit(5);
					uint64_t msg[2] = {seq, sv_diskring_acked(r)};
					if (write(pfd[1], msg, sizeof(msg)) != sizeof(msg))
						_exit(6);
				}
			}
		}
		close(pfd[1]);
		usleep((useconds_t)(rand() % 40000));
		kill(pid, SIGKILL);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status))
			fail_msg("child exited with %d (iteration %d)", WEXITSTATUS(status), iter);
		uint64_t msg[2], synced = 0, acked = 0;
		while (read(pfd[0], msg, sizeof(msg)) == sizeof(msg)) {
			synced = msg[0];
			acked = msg[1];
		}
		close(pfd[0]);

		struct sv_diskring *r = ring_open(max_size);
		uint64_t first, last;
		uint64_t n = drain(r, maxlen, &first, &last);
		if (synced > 0) {
			assert_true(n > 0);
			/* the persisted ack is at least the last reported one, and
			 * the child acks 60 behind: nothing unacked is missing */
			if (first < acked + 1 || (first > 1 && first + 59 > last) || last < synced)
				fail_msg(
				    "iteration %d (seed %u): replayed %llu..%llu, child synced "
				    "%llu with %llu acked",
				    iter, seed, (unsigned long long)first, (unsigned long long)last,
				    (unsigned long long)synced, (unsigned long long)acked);
		}
		if (n > 0)
			assert_true(first >= 1 && last >= first);
		assert_true(sv_diskring_next_seq(r) >= prev_next);
		assert_int_equal(sv_diskring_next_seq(r), n ? last + 1 : sv_diskring_next_seq(r));
		struct sv_diskring_stats st;
		sv_diskring_stats(r, 0, &st);
		assert_int_equal(st.dropped_records, 0);
		prev_next = sv_diskring_next_seq(r);
		assert_int_equal(sv_diskring_close(r), 0);
		assert_int_equal(fsize(path), (off_t)max_size);
	}
	print_message("kill9: 50 kills (seed %u), next seq %llu\n", seed,
	              (unsigned long long)prev_next);
}

/* Record k of a simple layout (no wrap) starts at off[k]. */
struct layout {
	uint64_t off[64];
	uint64_t end[64];
	size_t n;
};

static void build_simple(size_t n, size_t *lens, struct layout *lay)
{
	unlink(path);
	struct sv_diskring *r = ring_open(65536);
	uint64_t off = AREA;
	for (size_t k = 0; k < n; k++) {
		pfill(k + 1, scratch, lens[k]);
		uint64_t seq;
		assert_int_equal(
		    sv_diskring_append(r, scratch, lens[k], (int64_t)(k + 1) * 10, &seq, NULL), 0);
		lay->off[k] = off;
		lay->end[k] = off + 32 + lens[k];
		off += 32 + ((lens[k] + 7) & ~(size_t)7);
	}
	lay->n = n;
	assert_int_equal(sv_diskring_close(r), 0);
}

/* Opens the damaged file, checks it yields exactly records 1..want, then that
 * an append after the damage replays after them on the next open. */
static void check_prefix(size_t want, size_t *lens)
{
	struct sv_diskring *r = ring_open(65536);
	const uint8_t *d;
	size_t len;
	uint64_t seq;
	size_t got = 0;
	int rc;
	while ((rc = sv_diskring_next(r, &d, &len, &seq, NULL)) == 0) {
		assert_int_equal(seq, got + 1);
		assert_int_equal(len, lens[got]);
		for (size_t i = 0; i < len; i++)
			if (d[i] != (uint8_t)(seq * 31 + i * 7 + (i >> 8)))
				fail_msg("garbage replayed in record %llu",
				         (unsigned long long)seq);
		got++;
	}
	assert_int_equal(rc, SV_E_AGAIN);
	if (got != want)
		fail_msg("got %zu records, want %zu", got, want);
	assert_int_equal(sv_diskring_next_seq(r), want + 1);
	assert_int_equal(sv_diskring_append(r, "new", 3, 5, &seq, NULL), 0);
	assert_int_equal(seq, want + 1);
	assert_int_equal(sv_diskring_close(r), 0);
	r = ring_open(65536);
	got = 0;
	while ((rc = sv_diskring_next(r, &d, &len, &seq, NULL)) == 0) {
		got++;
		if (got == want + 1)
			assert_true(len == 3 && memcmp(d, "new", 3) == 0);
	}
	assert_int_equal(got, want + 1);
	sv_diskring_close(r);
}

/* Truncation at, and byte flips of, every offset of the last three records. */
static void test_truncate_and_flip(void **state)
{
	size_t lens[8] = {40, 0, 77, 128, 61, 33, 90, 13};
	struct layout lay;
	build_simple(8, lens, &lay);
	uint8_t *pristine;
	size_t plen_file;
	read_file(path, &pristine, &plen_file);
	assert_int_equal(plen_file, 65536);
	int checks = 0;
	for (size_t k = 5; k < 8; k++) {
		for (uint64_t off = lay.off[k]; off < lay.off[k] + 32 + ((lens[k] + 7) & ~7u);
		     off++) {
			int in_pad = off >= lay.end[k];
			/* truncation: everything from off on is gone */
			write_file(path, pristine, (size_t)off);
			check_prefix(off == lay.off[k] || !in_pad ? k : k + 1, lens);
			/* a flipped byte */
			uint8_t *copy = malloc(plen_file);
			assert_non_null(copy);
			memcpy(copy, pristine, plen_file);
			copy[off] ^= (uint8_t)(1u << (off % 8));
			write_file(path, copy, plen_file);
			check_prefix(in_pad ? 8 : k, lens);
			copy[off] = (uint8_t)~pristine[off];
			write_file(path, copy, plen_file);
			check_prefix(in_pad ? 8 : k, lens);
			free(copy);
			checks += 3;
		}
	}
	/* a zero-filled or garbage tail after the last record changes nothing */
	uint8_t *copy = malloc(plen_file);
	assert_non_null(copy);
	memcpy(copy, pristine, plen_file);
	for (size_t i = (size_t)lay.off[7] + 48; i < plen_file; i++)
		copy[i] = (uint8_t)(i * 13);
	write_file(path, copy, plen_file);
	check_prefix(8, lens);
	free(copy);
	free(pristine);
	print_message("truncate/flip: %d damaged files\n", checks);
}

/* Damage to both header slots, one slot, and foreign files. */
static void test_headers(void **state)
{
	size_t lens[4] = {10, 20, 30, 40};
	struct layout lay;
	build_simple(4, lens, &lay);
	uint8_t *pristine;
	size_t n;
	read_file(path, &pristine, &n);
	/* the newest slot torn: the other one still works (same content) */
	for (int s = 0; s < 2; s++) {
		uint8_t *copy = malloc(n);
		memcpy(copy, pristine, n);
		copy[s * 512 + 70] ^= 0x40;
		write_file(path, copy, n);
		struct sv_diskring *r = ring_open(65536);
		uint64_t first, last;
		struct sv_diskring_stats st;
		sv_diskring_stats(r, 0, &st);
		assert_int_equal(st.reformatted, 0);
		/* whichever slot survived names record 1 */
		const uint8_t *d;
		size_t len;
		uint64_t seq;
		int got = 0;
		while (sv_diskring_next(r, &d, &len, &seq, NULL) == 0) {
			assert_int_equal(seq, (uint64_t)got + 1);
			got++;
		}
		assert_int_equal(got, 4);
		(void)first;
		(void)last;
		sv_diskring_close(r);
		free(copy);
	}
	/* both slots corrupt but ours: reformatted, empty */
	uint8_t *copy = malloc(n);
	memcpy(copy, pristine, n);
	copy[70] ^= 1;
	copy[512 + 70] ^= 1;
	write_file(path, copy, n);
	struct sv_diskring *r = ring_open(65536);
	struct sv_diskring_stats st;
	sv_diskring_stats(r, 0, &st);
	assert_int_equal(st.reformatted, 1);
	assert_int_equal(st.records, 0);
	sv_diskring_close(r);
	free(copy);
	free(pristine);

	/* a foreign file is refused and left alone */
	const char *text = "this is somebody else's file\n";
	write_file(path, (const uint8_t *)text, strlen(text));
	struct sv_diskring_opts o = {path, 65536};
	char err[256];
	assert_int_equal(sv_diskring_open(&o, &r, err, sizeof(err)), SV_E_PARSE);
	assert_non_null(strstr(err, "not a sipvault disk buffer"));
	assert_int_equal(fsize(path), (off_t)strlen(text));
	unlink(path);

	/* bad options */
	o.max_size = SV_DISKRING_MIN_SIZE - 1;
	assert_int_equal(sv_diskring_open(&o, &r, err, sizeof(err)), SV_E_CONFIG);
	assert_non_null(strstr(err, "max_size"));
	o.path = "";
	o.max_size = 0;
	assert_int_equal(sv_diskring_open(&o, &r, err, sizeof(err)), -EINVAL);
	char bad[600];
	snprintf(bad, sizeof(bad), "%s/no/such/dir/buf", dir);
	o.path = bad;
	assert_int_equal(sv_diskring_open(&o, &r, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, bad));
	/* default size */
	o.path = path;
	assert_int_equal(sv_diskring_open(&o, &r, err, sizeof(err)), 0);
	assert_int_equal(fsize(path), SV_DISKRING_DEFAULT_SIZE);
	sv_diskring_close(r);
	unlink(path);
}

/* Record size limits. */
static void test_limits(void **state)
{
	uint64_t size = SV_DISKRING_MAX_RECORD + 4096 + 40;
	struct sv_diskring *r = ring_open(size);
	uint64_t seq;
	uint8_t *big = calloc(1, SV_DISKRING_MAX_RECORD + 1);
	assert_non_null(big);
	big[0] = 1;
	big[SV_DISKRING_MAX_RECORD - 1] = 2;
	assert_int_equal(sv_diskring_append(r, big, SV_DISKRING_MAX_RECORD + 1, 0, &seq, NULL),
	                 -EFBIG);
	assert_int_equal(sv_diskring_append(r, big, SV_DISKRING_MAX_RECORD, 0, &seq, NULL), 0);
	assert_int_equal(seq, 1);
	struct sv_diskring_drop dr;
	assert_int_equal(sv_diskring_append(r, big, SV_DISKRING_MAX_RECORD, 0, &seq, &dr), 0);
	assert_int_equal(dr.records, 1); /* only one fits */
	assert_int_equal(dr.bytes, SV_DISKRING_MAX_RECORD);
	assert_int_equal(sv_diskring_close(r), 0);
	r = ring_open(size);
	const uint8_t *d;
	size_t len;
	assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), 0);
	assert_int_equal(seq, 2);
	assert_int_equal(len, SV_DISKRING_MAX_RECORD);
	assert_true(d[0] == 1 && d[SV_DISKRING_MAX_RECORD - 1] == 2);
	assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), SV_E_AGAIN);
	sv_diskring_close(r);
	assert_int_equal(fsize(path), (off_t)size);
	unlink(path);

	/* a record bigger than the whole area */
	r = ring_open(SV_DISKRING_MIN_SIZE);
	assert_int_equal(
	    sv_diskring_append(r, big, SV_DISKRING_MIN_SIZE - 4096 - 31, 0, &seq, NULL), -EFBIG);
	assert_int_equal(
	    sv_diskring_append(r, big, SV_DISKRING_MIN_SIZE - 4096 - 32, 0, &seq, NULL), 0);
	/* appendv gathers pieces */
	struct iovec v[3] = {{(void *)"ab", 2}, {NULL, 0}, {(void *)"cde", 3}};
	assert_int_equal(sv_diskring_appendv(r, v, 3, 0, &seq, NULL), 0);
	assert_int_equal(sv_diskring_appendv(r, NULL, 1, 0, &seq, NULL), -EINVAL);
	assert_int_equal(sv_diskring_appendv(r, v, -1, 0, &seq, NULL), -EINVAL);
	sv_diskring_rewind(r);
	assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), 0);
	assert_int_equal(seq, 2);
	assert_true(len == 5 && memcmp(d, "abcde", 5) == 0);
	sv_diskring_close(r);
	free(big);
	unlink(path);
}

/* A different max_size migrates the unacknowledged records. */
static void test_migrate(void **state)
{
	size_t maxlen = 300;
	struct sv_diskring *r = ring_open(65536);
	for (uint64_t s = 1; s <= 300; s++)
		add(r, s, maxlen, NULL);
	assert_int_equal(sv_diskring_ack(r, 100), 0);
	assert_int_equal(sv_diskring_close(r), 0);
	/* smaller: the oldest do not fit */
	r = ring_open(32768);
	assert_int_equal(fsize(path), 32768);
	struct sv_diskring_stats st;
	sv_diskring_stats(r, 0, &st);
	assert_true(st.dropped_records > 0);
	uint64_t first, last;
	uint64_t n = drain(r, maxlen, &first, &last);
	assert_int_equal(n, 200 - st.dropped_records);
	assert_int_equal(first, 101 + st.dropped_records);
	assert_int_equal(last, 300);
	assert_int_equal(sv_diskring_next_seq(r), 301);
	assert_int_equal(sv_diskring_close(r), 0);
	/* bigger: all kept */
	r = ring_open(131072);
	assert_int_equal(fsize(path), 131072);
	assert_int_equal(drain(r, maxlen, &first, &last), n);
	assert_int_equal(last, 300);
	add(r, 301, maxlen, NULL);
	sv_diskring_close(r);
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);
}

/* The file damaged under a live ring: -EIO, nothing garbage, ring usable. */
static void test_damage_under_live_ring(void **state)
{
	unlink(path);
	size_t maxlen = 100;
	struct sv_diskring *r = ring_open(65536);
	for (uint64_t s = 1; s <= 10; s++)
		add(r, s, maxlen, NULL);
	assert_int_equal(sv_diskring_sync(r), 0);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XXXX", 4, AREA + 40), 4);
	close(fd);
	const uint8_t *d;
	size_t len;
	uint64_t seq;
	assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), -EIO);
	assert_non_null(strstr(sv_diskring_error(r), "checksum"));
	struct sv_diskring_stats st;
	sv_diskring_stats(r, 0, &st);
	assert_int_equal(st.corrupt, 1);
	assert_int_equal(st.dropped_records, 10);
	assert_int_equal(st.records, 0);
	assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), SV_E_AGAIN);
	add(r, 11, maxlen, NULL);
	assert_int_equal(sv_diskring_next(r, &d, &len, &seq, NULL), 0);
	assert_int_equal(seq, 11);
	assert_int_equal(sv_diskring_close(r), 0);
	r = ring_open(65536);
	uint64_t first, last;
	assert_int_equal(drain(r, maxlen, &first, &last), 1);
	assert_int_equal(first, 11);
	sv_diskring_close(r);
}

/* Random operations against a model, with reopens; small ring, tiny syncs. */
static void test_random_model(void **state)
{
	unlink(path);
	srand(12345);
	size_t maxlen = 1500;
	uint64_t size = 24576;
	struct sv_diskring *r = ring_open(size);
	uint64_t lo = 1, next = 1, cursor = 1; /* live = [lo, next) */
	for (int op = 0; op < 20000; op++) {
		int k = rand() % 100;
		if (k < 50) {
			struct sv_diskring_drop dr;
			add(r, next, maxlen, &dr);
			if (dr.records > 0) {
				assert_int_equal(dr.first_seq, lo);
				lo = dr.last_seq + 1;
			}
			next++;
			assert_true(lo < next);
		} else if (k < 75) {
			const uint8_t *d;
			size_t len;
			uint64_t seq;
			int rc = sv_diskring_next(r, &d, &len, &seq, NULL);
			if (cursor < lo)
				cursor = lo;
			if (cursor == next) {
				assert_int_equal(rc, SV_E_AGAIN);
			} else {
				assert_int_equal(rc, 0);
				assert_int_equal(seq, cursor);
				assert_true(pcheck(seq, d, len, maxlen));
				cursor++;
			}
		} else if (k < 88) {
			if (next > lo) {
				uint64_t a = lo + (uint64_t)rand() % (next - lo);
				assert_int_equal(sv_diskring_ack(r, a), 0);
				lo = a + 1;
				if (cursor < lo)
					cursor = lo;
			}
		} else if (k < 95) {
			assert_int_equal(sv_diskring_sync(r), 0);
		} else if (k < 97) {
			sv_diskring_rewind(r);
			cursor = lo;
		} else {
			assert_int_equal(sv_diskring_close(r), 0);
			r = ring_open(size);
			assert_int_equal(sv_diskring_acked(r), lo - 1);
			assert_int_equal(sv_diskring_next_seq(r), next);
			cursor = lo;
		}
		struct sv_diskring_stats st;
		sv_diskring_stats(r, 0, &st);
		assert_int_equal(st.records, next - lo);
		assert_true(st.bytes <= st.capacity);
	}
	sv_diskring_close(r);
	assert_int_equal(fsize(path), (off_t)size);
}

/* Files written by an independent (Python) implementation of the format,
 * the fuzz seeds: the records each must yield. */
static void test_independent_files(void **state)
{
	static const struct {
		const char *name;
		uint64_t size;
		uint64_t n, first;
	} cases[] = {
	    {"raw_ten_records", 16384, 10, 1},      {"raw_empty_ring", 16384, 0, 0},
	    {"raw_torn_tail", 16384, 9, 1},         {"raw_bad_crc_middle", 16384, 4, 1},
	    {"raw_newest_slot_torn", 16384, 10, 1}, {"raw_wrapped", 16384, 8, 50},
	    {"raw_stale_old_life", 16384, 5, 1},    {"raw_other_ring_id", 16384, 0, 0},
	    {"raw_64k_ring", 65536, 3, 7},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char rel[256];
		snprintf(rel, sizeof(rel), "tests/fuzz/corpus/diskring/%s", cases[i].name);
		struct sv_buf b;
		sv_buf_init(&b);
		tu_read_file(tu_source(rel), &b);
		assert_true(b.len > 1);
		write_file(path, b.data + 1, b.len - 1); /* byte 0 is the fuzz mode */
		sv_buf_release(&b);
		struct sv_diskring *r = ring_open(cases[i].size);
		const uint8_t *d;
		size_t len;
		uint64_t seq, n = 0, first = 0;
		while (sv_diskring_next(r, &d, &len, &seq, NULL) == 0) {
			if (n++ == 0)
				first = seq;
		}
		if (n != cases[i].n || first != cases[i].first)
			fail_msg("%s: %llu records from %llu, want %llu from %llu", cases[i].name,
			         (unsigned long long)n, (unsigned long long)first,
			         (unsigned long long)cases[i].n,
			         (unsigned long long)cases[i].first);
		sv_diskring_close(r);
		unlink(path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip_wraps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_clean, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cursor_interleave, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_drops_oldest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ack_persistence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncate_and_flip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damage_under_live_ring, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random_model, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_independent_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
