/*
 * bench_diskring - throughput of the agent's disk buffer.
 *
 * A 64 MiB ring in a temporary directory (under $TMPDIR or /tmp, i.e. on
 * the disk that holds it) takes records of 100, 900 and 4000 bytes (a mix
 * like the agent's frames), with a sync (write + fdatasync) every 1000
 * records, acknowledging as it goes (the steady state: the ring wraps and
 * reclaims acknowledged room); then the same with no acknowledgements (the
 * server is away: the ring fills and drops the oldest); then a replay of the
 * whole ring after a reopen. Prints appends/s and MB/s. Not a test: run by
 * `make bench`.
 */
#include "store/diskring.h"
#include "base/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORDS    300000
#define SYNC_EVERY 1000
#define RING_SIZE  ((uint64_t)64 << 20)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
	printf("%-36s %10.0f records/s %9.1f MB/s  (%.3f s)\n", what, (double)n / secs,
	       (double)bytes / secs / 1e6, secs);
}

static int run(struct sv_diskring *r, int ack, const char *label)
{
	static uint8_t payload[4000];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	uint64_t bytes = 0, dropped = 0;
	double sync_secs = 0, sync_max = 0;
	int syncs = 0, rc = 0;
	double t0 = now();
	for (int i = 0; i < RECORDS && rc == 0; i += SYNC_EVERY) {
		uint64_t seq = 0;
		for (int k = i; k < i + SYNC_EVERY && rc == 0; k++) {
			struct sv_diskring_drop d;
			size_t len = rec_len(k);
			bytes += len;
			rc = sv_diskring_append(r, payload, len, k, &seq, &d);
			dropped += d.records;
		}
		if (rc == 0 && ack)
			rc = sv_diskring_ack(r, seq);
		double a = now();
		if (rc == 0)
			rc = sv_diskring_sync(r);
		double b = now();
		sync_secs += b - a;
		if (b - a > sync_max)
			sync_max = b - a;
		syncs++;
	}
	double t1 = now();
	if (rc != 0) {
		fprintf(stderr, "diskring: %s (%s)\n", sv_diskring_error(r), sv_strerror(rc));
		return 1;
	}
	report(label, t1 - t0, RECORDS, bytes);
	printf("%-36s %10.3f ms avg %9.3f ms max; %llu dropped\n", "  sync (writes + fdatasync)",
	       sync_secs / syncs * 1e3, sync_max * 1e3, (unsigned long long)dropped);
	return 0;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], path[4200];
	snprintf(dir, sizeof(dir), "%s/svbench-diskring.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/buffer.dat", dir);
	struct sv_diskring_opts o = {path, RING_SIZE};
	struct sv_diskring *r;
	char err[512];
	int rc = sv_diskring_open(&o, &r, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%d records of 100/900/4000 bytes (avg 1030), 64 MiB ring, sync every %d\n", RECORDS,
	       SYNC_EVERY);
	rc = run(r, 1, "append + sync, acknowledged");
	if (rc == 0)
		rc = run(r, 0, "append + sync, unacked (drops)");
	struct sv_diskring_stats st;
	sv_diskring_stats(r, 0, &st);
	printf("%-36s %llu header writes, %llu fdatasyncs\n", "  header",
	       (unsigned long long)st.header_writes, (unsigned long long)st.syncs);
	sv_diskring_close(r);

	double t0 = now();
	rc = rc ? rc : sv_diskring_open(&o, &r, err, sizeof(err));
	double t1 = now();
	if (rc == 0) {
		const uint8_t *d;
		size_t len;
		uint64_t n = 0, bytes = 0;
		while (sv_diskring_next(r, &d, &len, NULL, NULL) == 0) {
			n++;
			bytes += len;
		}
		double t2 = now();
		report("open (recovery scan)", t1 - t0, n, bytes);
		report("replay (read + crc check)", t2 - t1, n, bytes);
		sv_diskring_close(r);
	}
	unlink(path);
	rmdir(dir);
	return rc != 0;
}
