/*
 * torture_journal: journal recovery. Each journal corpus input is written as
 * segment 0000000001.wal of a scratch directory, which is opened and
 * replayed (torn tails truncated); a record is appended, the journal closed,
 * opened and replayed again.
 */
#include "torture.h"

#include "store/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int on_record(void *arg, uint32_t segment, uint8_t kind, const uint8_t *data, size_t len)
{
	(void)arg;
	torture_output(&segment, sizeof(segment));
	torture_output(&kind, sizeof(kind));
	torture_output(data, len);
	return 0;
}

/* Empties the scratch directory and writes the input as segment 1. */
static int setup(const uint8_t *data, size_t len)
{
	const char *dir = torture_scratch();
	char p[400];
	DIR *d = opendir(dir);
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	snprintf(p, sizeof(p), "%s/0000000001.wal", dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static int op(const uint8_t *data, size_t len)
{
	struct sv_journal_opts o = {torture_scratch(), 4096};
	struct sv_journal *j = NULL;
	char err[256];

	if (setup(data, len) != 0) {
		torture_fail("cannot write the segment");
		return 0;
	}
	if (torture_step(sv_journal_open(&o, &j, err, sizeof(err))) != 0)
		return torture_rc();
	if (torture_step(sv_journal_replay(j, on_record, NULL)) == 0) {
		sv_journal_ref(j, 1);
		torture_step(sv_journal_append(j, 0xee, "new", 3, NULL));
	}
	torture_step(sv_journal_close(j));
	j = NULL;
	if (torture_step(sv_journal_open(&o, &j, err, sizeof(err))) != 0)
		return torture_rc();
	torture_step(sv_journal_replay(j, on_record, NULL));
	torture_step(sv_journal_close(j));
	return torture_rc();
}

int main(void)
{
	torture_init("journal");
	torture_dir("tests/fuzz/corpus/journal", op, 20, 65536);
	return torture_done();
}
