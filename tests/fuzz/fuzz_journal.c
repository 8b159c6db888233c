/*
 * Fuzzes journal replay: the input is written as segment 0000000001.wal into
 * a scratch directory, which is then opened and replayed. Aborts when
 *  - a replayed record is not exactly the next well-formed record of the
 *    input (same header, CRC-32C correct, data identical, contiguous from
 *    offset 0), so a record whose CRC fails is never delivered;
 *  - the file is not truncated to exactly the end of the last good record;
 *  - a record appended afterwards does not replay, after the same prefix, on
 *    the next open.
 */
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/errors.h"
#include "store/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static char scratch[64];

static void cleanup(void)
{
	DIR *d = opendir(scratch);
	if (d == NULL)
		return;
	struct dirent *e;
	char p[384];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", scratch, e->d_name);
		unlink(p);
	}
	closedir(d);
}

static void remove_scratch(void)
{
	cleanup();
	rmdir(scratch);
}

struct walk {
	const uint8_t *in;
	size_t size;
	size_t off; /* where the next replayed record must start */
	size_t n;
	int extra_seen; /* the appended record came back */
};

static int replay_fn(void *arg, uint32_t segment, uint8_t kind, const uint8_t *d, size_t len)
{
	struct walk *w = arg;
	if (segment != 1) {
		/* only the record appended after the first replay lives elsewhere */
		check(segment == 2 && !w->extra_seen && kind == 0xee && len == 3 &&
		      memcmp(d, "new", 3) == 0);
		w->extra_seen = 1;
		return 0;
	}
	check(w->off + 9 <= w->size);
	const uint8_t *h = w->in + w->off;
	check(sv_be32(h) == len && h[4] == kind);
	check(w->off + 9 + len <= w->size);
	check(len == 0 || memcmp(h + 9, d, len) == 0);
	check(sv_crc32c(sv_crc32c(0, &kind, 1), d, len) == sv_be32(h + 5));
	w->off += 9 + len;
	w->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (scratch[0] == '\0') {
		snprintf(scratch, sizeof(scratch), "/tmp/svfuzz-journal.XXXXXX");
		if (mkdtemp(scratch) == NULL)
			abort();
		atexit(remove_scratch);
	}
	cleanup();
	char path[128];
	snprintf(path, sizeof(path), "%s/0000000001.wal", scratch);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	check(fd >= 0);
	check(write(fd, data, size) == (ssize_t)size);
	close(fd);

	struct sv_journal_opts o = {scratch, 4096};
	struct sv_journal *j;
	char err[256];
	check(sv_journal_open(&o, &j, err, sizeof(err)) == 0);
	check(sv_journal_current(j) == 2);
	struct walk w = {data, size, 0, 0, 0};
	check(sv_journal_replay(j, replay_fn, &w) == 0);
	struct sv_journal_stats st;
	sv_journal_stats(j, &st);
	check(st.records_replayed == w.n);
	check(st.torn_records == (w.off != size));
	struct stat sb;
	check(stat(path, &sb) == 0 && (size_t)sb.st_size == w.off);
	/* keep segment 1 and append a record after the damage */
	sv_journal_ref(j, 1);
	check(sv_journal_append(j, 0xee, "new", 3, NULL) == 0);
	check(sv_journal_close(j) == 0);

	check(sv_journal_open(&o, &j, err, sizeof(err)) == 0);
	size_t first_n = w.n;
	w.off = 0;
	w.n = 0;
	check(sv_journal_replay(j, replay_fn, &w) == 0);
	check(w.n == first_n && w.extra_seen);
	sv_journal_stats(j, &st);
	check(st.torn_records == 0);
	check(sv_journal_close(j) == 0);
	return 0;
}
