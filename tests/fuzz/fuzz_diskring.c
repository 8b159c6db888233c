/*
 * Fuzzes disk-ring recovery: a ring file is made from the input, opened
 * (recovered, possibly migrated to 64 KiB) and replayed. Input byte 0 picks
 * how the file is made:
 *   even: the rest of the input is the file, as is;
 *   odd:  the rest drives a builder that writes a 64 KiB ring with valid
 *         header slots and records whose CRCs are right but whose sequence
 *         numbers, lives, positions and lengths come from the input (and
 *         some records are damaged on purpose), so recovery's chain logic is
 *         reached rather than stopped by checksums.
 * Aborts when
 *  - a replayed record is not, byte for byte, a well-formed record with a
 *    correct CRC-32C somewhere in the file as it was before the open (so a
 *    torn or damaged record is never delivered);
 *  - replayed sequence numbers are not consecutive, or do not end right
 *    before sv_diskring_next_seq();
 *  - a record appended afterwards does not replay, after the same records,
 *    on the next open.
 */
#include "base/buf.h"
#include "store/diskring.h"
#include "base/errors.h"
#include "base/crc32c.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RING  65536u
#define AREA  4096u
#define MAXRP 4096

static void check(int ok)
{
	if (!ok)
		abort();
}

static char scratch[64];
static char path[128];

static void remove_scratch(void)
{
	char p[160];
	unlink(path);
	snprintf(p, sizeof(p), "%s.tmp", path);
	unlink(p);
	rmdir(scratch);
}

static void put64(uint8_t *p, uint64_t v)
{
	sv_put_be32(p, (uint32_t)(v >> 32));
	sv_put_be32(p + 4, (uint32_t)v);
}

/* An input reader that yields zeros once the input is used up. */
struct in {
	const uint8_t *p;
	size_t n, off;
};

static unsigned get8(struct in *in)
{
	return in->off < in->n ? in->p[in->off++] : 0;
}

static unsigned get16(struct in *in)
{
	unsigned hi = get8(in);
	return hi << 8 | get8(in);
}

static void slot(uint8_t *p, uint64_t id, uint64_t counter, uint32_t life, uint32_t una_life,
                 uint64_t una_seq, uint64_t una_off)
{
	memset(p, 0, 512);
	memcpy(p, "SVDRING1", 8);
	sv_put_be32(p + 8, 1);
	sv_put_be32(p + 12, 92);
	put64(p + 16, RING);
	put64(p + 24, AREA);
	put64(p + 32, RING);
	put64(p + 40, id);
	put64(p + 48, counter);
	sv_put_be32(p + 56, life);
	sv_put_be32(p + 60, una_life);
	put64(p + 64, una_seq);
	put64(p + 72, una_off);
	sv_put_be32(p + 92, sv_crc32c(0, p, 92));
}

static uint32_t rcrc(uint64_t id, const uint8_t *h, size_t len)
{
	uint8_t idb[8];
	put64(idb, id);
	uint32_t c = sv_crc32c(0, idb, 8);
	c = sv_crc32c(c, h + 4, 28);
	return sv_crc32c(c, h + 32, len);
}

/* Builds a 64 KiB ring file image from the input. */
static void build(struct in *in, struct sv_buf *img)
{
	check(sv_buf_reserve(img, RING) == 0);
	memset(img->data, 0, RING);
	img->len = RING;
	uint64_t id = 0x0123456789abcdefull ^ get8(in);
	uint32_t life = 1 + get8(in) % 8;
	uint64_t seq = 1 + get16(in) % 50;
	uint64_t off = AREA + 8 * (uint64_t)(get16(in) % ((RING - AREA) / 8));
	uint32_t una_life = 1 + get8(in) % 8;
	slot(img->data, id, 1, life, una_life, seq, off);
	unsigned which = get8(in);
	if (which & 1) /* a second, newer slot (maybe with other values) */
		slot(img->data + 512, id, 2, life, 1 + (which >> 1) % 8, seq + (which >> 5),
		     AREA + 8 * (uint64_t)((which * 37) % 100));
	uint32_t rlife = una_life;
	while (in->off < in->n) {
		unsigned f = get8(in);
		size_t len = get16(in) % 3000;
		if (f & 1)
			rlife += 1 + (f >> 5) % 3; /* a newer life */
		if (f & 2)
			seq += (f >> 2) % 5; /* a jump */
		if (f & 4)                   /* elsewhere */
			off = AREA + 8 * (uint64_t)(get16(in) % ((RING - AREA) / 8));
		uint64_t rs = 32 + ((len + 7) & ~(size_t)7);
		if (off + rs > RING)
			off = AREA;
		if (rs > RING - AREA)
			break;
		uint8_t *h = img->data + off;
		sv_put_be32(h + 4, (uint32_t)len);
		put64(h + 8, seq);
		sv_put_be32(h + 16, rlife);
		sv_put_be32(h + 20, (f & 0x80) && (f & 8) ? 1 : 0); /* bad flags */
		put64(h + 24, seq * 1000);
		for (size_t i = 0; i < len; i++)
			h[32 + i] = (uint8_t)(get8(in) ^ i);
		memset(h + 32 + len, 0, (size_t)(rs - 32 - len));
		sv_put_be32(h, rcrc(id, h, len));
		if ((f & 0x18) == 0x18 && len > 0)
			h[32 + len / 2] ^= 0x5a; /* damaged payload */
		off += rs;
		seq++;
	}
}

/* Is (seq, payload) a record with a correct CRC somewhere in img? */
static int in_image(const struct sv_buf *img, uint64_t seq, const uint8_t *d, size_t len)
{
	uint64_t ids[2];
	int nid = 0;
	for (int s = 0; s < 2; s++) {
		if ((size_t)(s + 1) * 512 <= img->len &&
		    memcmp(img->data + s * 512, "SVDRING1", 8) == 0)
			ids[nid++] = sv_be64(img->data + s * 512 + 40);
	}
	for (size_t off = AREA; off + 32 + len <= img->len; off += 8) {
		const uint8_t *h = img->data + off;
		if (sv_be64(h + 8) != seq || sv_be32(h + 4) != len || sv_be32(h + 20) != 0)
			continue;
		if (len > 0 && memcmp(h + 32, d, len) != 0)
			continue;
		for (int i = 0; i < nid; i++)
			if (rcrc(ids[i], h, len) == sv_be32(h))
				return 1;
	}
	return 0;
}

struct got {
	uint64_t seq[MAXRP];
	size_t n;
};

static void replay(struct sv_diskring *r, const struct sv_buf *img, struct got *g, int second)
{
	const uint8_t *d;
	size_t len;
	uint64_t seq, prev = 0;
	int rc;
	size_t n = 0;
	while ((rc = sv_diskring_next(r, &d, &len, &seq, NULL)) == 0) {
		check(n < MAXRP);
		if (n > 0)
			check(seq == prev + 1);
		if (second) {
			if (n < g->n)
				check(seq == g->seq[n]);
			else
				check(n == g->n && len == 3 && memcmp(d, "new", 3) == 0);
			if (n < g->n)
				check(in_image(img, seq, d, len));
		} else {
			check(in_image(img, seq, d, len));
			g->seq[n] = seq;
		}
		prev = seq;
		n++;
	}
	check(rc == SV_E_AGAIN);
	check(n == 0 || sv_diskring_next_seq(r) == seq + 1);
	if (second)
		check(n == g->n + 1);
	else
		g->n = n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (scratch[0] == '\0') {
		snprintf(scratch, sizeof(scratch), "/tmp/svfuzz-diskring.XXXXXX");
		if (mkdtemp(scratch) == NULL)
			abort();
		snprintf(path, sizeof(path), "%s/buffer.dat", scratch);
		atexit(remove_scratch);
	}
	if (size == 0)
		return 0;
	struct sv_buf img;
	sv_buf_init(&img);
	if (data[0] & 1) {
		struct in in = {data + 1, size - 1, 0};
		build(&in, &img);
	} else {
		size_t n = size - 1 > 2 * RING ? 2 * RING : size - 1;
		check(sv_buf_append(&img, data + 1, n) == 0);
	}
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	check(fd >= 0);
	check(write(fd, img.data, img.len) == (ssize_t)img.len);
	close(fd);

	struct sv_diskring_opts o = {path, RING};
	struct sv_diskring *r;
	char err[256];
	int rc = sv_diskring_open(&o, &r, err, sizeof(err));
	if (rc != 0) {
		check(rc == SV_E_PARSE); /* a foreign file */
		sv_buf_release(&img);
		return 0;
	}
	static struct got g;
	g.n = 0;
	replay(r, &img, &g, 0);
	struct sv_diskring_stats st;
	sv_diskring_stats(r, 0, &st);
	check(st.records == g.n);
	check(st.bytes <= st.capacity);
	uint64_t seq;
	check(sv_diskring_append(r, "new", 3, 1, &seq, NULL) == 0);
	check(sv_diskring_close(r) == 0);

	check(sv_diskring_open(&o, &r, err, sizeof(err)) == 0);
	replay(r, &img, &g, 1);
	check(sv_diskring_close(r) == 0);
	struct stat sb;
	check(stat(path, &sb) == 0 && sb.st_size == RING);
	sv_buf_release(&img);
	return 0;
}
