/*
 * torture_diskring: disk-ring recovery. Each diskring corpus input whose
 * first byte is even (the rest is a ring file as is) is written to a scratch
 * file, which is opened (recovered, or migrated to 64 KiB) and replayed; a
 * record is appended, the ring closed, opened and replayed again. (The odd
 * inputs drive the fuzz target's ring builder and are left to it.)
 */
#include "torture.h"

#include "base/errors.h"
#include "store/diskring.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char path[300];

static void replay(struct sv_diskring *r)
{
	const uint8_t *d;
	size_t len;
	uint64_t seq;
	int rc;
	while ((rc = sv_diskring_next(r, &d, &len, &seq, NULL)) == 0) {
		torture_output(&seq, sizeof(seq));
		torture_output(d, len);
	}
	torture_step(rc);
}

static int op(const uint8_t *data, size_t len)
{
	struct sv_diskring_opts o = {path, 65536};
	struct sv_diskring *r = NULL;
	char err[256];
	char tmp[320];

	if (len == 0 || (data[0] & 1))
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data + 1, len - 1) != (ssize_t)(len - 1)) {
		torture_fail("cannot write the ring file");
		if (fd >= 0)
			close(fd);
		return 0;
	}
	close(fd);
	if (torture_step(sv_diskring_open(&o, &r, err, sizeof(err))) != 0)
		return torture_rc();
	replay(r);
	uint64_t seq = 0;
	if (torture_step(sv_diskring_append(r, "new", 3, 1, &seq, NULL)) == 0)
		torture_output(&seq, sizeof(seq));
	torture_step(sv_diskring_close(r));
	r = NULL;
	if (torture_step(sv_diskring_open(&o, &r, err, sizeof(err))) != 0)
		return torture_rc();
	replay(r);
	torture_step(sv_diskring_close(r));
	return torture_rc();
}

int main(void)
{
	torture_init("diskring");
	snprintf(path, sizeof(path), "%s/buffer.dat", torture_scratch());
	torture_dir("tests/fuzz/corpus/diskring", op, 30, 1 << 20);
	return torture_done();
}
