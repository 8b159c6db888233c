/*
 * bench_journal - throughput of the write-ahead journal.
 *
 * Appends records of a few sizes (100, 900 and 4000 bytes; a mix like the
 * agent's frames) into a journal in a temporary directory (under $TMPDIR or
 * /tmp, i.e. on the disk that holds it), with a sync (write + fdatasync)
 * every 1000 records, then replays it. Prints appends/s and MB/s for the
 * appends alone, for appends with syncs, and for the replay; and the CRC-32C
 * speed. Not a test: run by `make bench`.
 */
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/errors.h"
#include "store/journal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORDS    200000
#define SYNC_EVERY 1000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rmdir_all(const char *dir)
{
	DIR *d = opendir(dir);
	if (d != NULL) {
		struct dirent *e;
		char p[4096];
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

struct count {
	uint64_t n, bytes;
};

static int count_fn(void *arg, uint32_t seg, uint8_t kind, const uint8_t *data, size_t len)
{
	struct count *c = arg;
	c->n++;
	c->bytes += len;
	return 0;
}

static size_t rec_len(int i)
{
	switch (i % 10) {
	case 0:
	case 3:
	case 6:
	case 8:
		return 900;
	case 9:
		return 4000;
	default:
		return 100;
	}
}

static void report(const char *what, double secs, uint64_t n, uint64_t bytes)
{
	printf("%-34s %10.0f records/s %9.1f MB/s  (%.3f s)\n", what, (double)n / secs,
	       (double)bytes / secs / 1e6, secs);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/svbench-journal.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	static uint8_t payload[4000];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);

	double t0 = now();
	uint32_t crc = 0;
	for (int i = 0; i < 25000; i++)
		crc = sv_crc32c(crc, payload, sizeof(payload));
	double t1 = now();
	printf("%-34s %31.1f MB/s  (crc %08x)\n", "crc32c (4000-byte blocks)",
	       25000.0 * 4000 / (t1 - t0) / 1e6, (unsigned)crc);

	struct sv_journal_opts o = {dir, 0};
	struct sv_journal *j;
	char err[512];
	int rc = sv_journal_open(&o, &j, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* keep every segment so the replay below reads them all */
	sv_journal_ref(j, sv_journal_current(j));

	double append_secs = 0, sync_secs = 0, sync_max = 0;
	uint64_t bytes = 0;
	int syncs = 0;
	t0 = now();
	for (int i = 0; i < RECORDS && rc == 0; i += SYNC_EVERY) {
		double a = now();
		for (int k = i; k < i + SYNC_EVERY && rc == 0; k++) {
			size_t len = rec_len(k);
			bytes += len;
			rc = sv_journal_append(j, 1, payload, len, NULL);
		}
		double b = now();
		if (rc == 0)
			rc = sv_journal_sync(j);
		double c = now();
		append_secs += b - a;
		sync_secs += c - b;
		if (c - b > sync_max)
			sync_max = c - b;
		syncs++;
	}
	t1 = now();
	if (rc != 0) {
		fprintf(stderr, "journal: %s\n", sv_journal_error(j));
		sv_journal_close(j);
		rmdir_all(dir);
		return 1;
	}
	struct sv_journal_stats st;
	sv_journal_stats(j, &st);
	printf("%d records of 100/900/4000 bytes (avg %.0f), sync every %d, %llu segments of 64 "
	       "MiB\n",
	       RECORDS, (double)bytes / RECORDS, SYNC_EVERY, (unsigned long long)st.segments);
	report("append only (copy + crc)", append_secs, RECORDS, bytes);
	report("append + sync every 1000", t1 - t0, RECORDS, bytes);
	printf("%-34s %10.3f ms avg %9.3f ms max (%.2f MB each)\n", "sync (1 pwrite + fdatasync)",
	       sync_secs / syncs * 1e3, sync_max * 1e3, (double)bytes / syncs / 1e6);
	rc = sv_journal_close(j);

	rc = sv_journal_open(&o, &j, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "%s\n", err);
		rmdir_all(dir);
		return 1;
	}
	struct count cnt = {0, 0};
	t0 = now();
	rc = sv_journal_replay(j, count_fn, &cnt);
	t1 = now();
	if (rc != 0 || cnt.n != RECORDS)
		fprintf(stderr, "replay: %s (%llu records)\n", sv_journal_error(j),
		        (unsigned long long)cnt.n);
	report("replay (read + crc check)", t1 - t0, cnt.n, cnt.bytes);
	sv_journal_close(j);
	rmdir_all(dir);
	return rc != 0;
}
