/*
 * logtail.c - follows the proxy's log file, line by line, across rotations.
 *
 * Polled every 200 ms on the event loop (no inotify: it works the same on
 * every file system and every kernel the agent runs on).
 *
 * - Start: at the end of the file (a file that does not exist yet is read
 *   from its start when it appears).
 * - Rename + create (logrotate's default): when the path names another
 *   inode, the old file is read to its end, then kept open and drained for
 *   2 more seconds (a writer may still append to it until it reopens), and
 *   the new file is read from its start.
 * - copytruncate: the agent remembers the last 64 bytes it read; when the
 *   file is shorter than the position, or those bytes are no longer where
 *   they were (truncated and written again since the last poll), the file
 *   was truncated. The copy is looked for next to it (a name that starts with
 *   the file's name, modified in the last 5 minutes, holding the remembered
 *   bytes at the same position): what it holds past the position is read
 *   from it, then the file is read from its start. Without such a copy the
 *   lines written between the last poll and the truncation are lost (counted
 *   in log_truncations, logged).
 * - A line longer than 16 KiB is cut there (the rest up to the newline is
 *   skipped, counted).
 */
#include "agent.h"
#include "base/buf.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS      200
#define MAX_LINE     16384
#define FP_LEN       64
#define OLD_DRAIN_MS 2000

struct tailfile {
	int fd;
	dev_t dev;
	ino_t ino;
	off_t off;
	uint8_t fp[FP_LEN]; /* the last bytes read, ending at off */
	size_t fplen;
	struct sv_buf line; /* partial line */
	bool skipping;      /* inside a line cut at MAX_LINE */
};

struct ag_logtail {
	char *path;
	const struct ag_clock *clock; /* borrowed from the agent */
	struct ag_counters *ctr;      /* borrowed from the agent */
	ag_logtail_line_fn fn;
	void *arg;
	struct event *ev;
	struct tailfile cur;
	struct tailfile old; /* the renamed file, drained for a while */
	uint64_t old_until;  /* monotonic ms */
	bool started;
};

static void tf_init(struct tailfile *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	sv_buf_init(&f->line);
}

static void emit_line(struct ag_logtail *t, struct tailfile *f)
{
	size_t n = f->line.len;
	const char *p = (const char *)f->line.data;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n > 0)
		t->fn(t->arg, p, n);
	sv_buf_reset(&f->line);
}

static void tf_close(struct ag_logtail *t, struct tailfile *f)
{
	if (f->line.len > 0 && !f->skipping)
		emit_line(t, f); /* a last line without its newline */
	if (f->fd >= 0)
		close(f->fd);
	sv_buf_release(&f->line);
	tf_init(f);
}

static void remember(struct tailfile *f, const uint8_t *p, size_t n)
{
	if (n >= FP_LEN) {
		memcpy(f->fp, p + n - FP_LEN, FP_LEN);
		f->fplen = FP_LEN;
		return;
	}
	size_t keep = f->fplen + n > FP_LEN ? FP_LEN - n : f->fplen;
	memmove(f->fp, f->fp + f->fplen - keep, keep);
	memcpy(f->fp + keep, p, n);
	f->fplen = keep + n;
}

static void consume(struct ag_logtail *t, struct tailfile *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		const uint8_t *nl = memchr(p + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - p) : n;
		if (!f->skipping) {
			size_t take = end - i;
			if (f->line.len + take > MAX_LINE) {
				take = MAX_LINE - f->line.len;
				sv_buf_append(&f->line, p + i, take);
				emit_line(t, f);
				t->ctr->log_truncated++;
				f->skipping = true;
			} else {
				sv_buf_append(&f->line, p + i, take);
			}
		}
		if (!nl)
			break;
		if (!f->skipping)
			emit_line(t, f);
		f->skipping = false;
		i = end + 1;
	}
}

/* Reads fd from off to its end (or up to limit when limit >= 0). */
static void read_from(struct ag_logtail *t, struct tailfile *f, int fd, off_t limit)
{
	uint8_t buf[65536];
	for (;;) {
		size_t want = sizeof(buf);
		if (limit >= 0) {
			if (f->off >= limit)
				break;
			if ((off_t)want > limit - f->off)
				want = (size_t)(limit - f->off);
		}
		ssize_t n = pread(fd, buf, want, f->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		f->off += n;
		remember(f, buf, (size_t)n);
		consume(t, f, buf, (size_t)n);
	}
}

static int tf_open(struct tailfile *f, const char *path, bool at_end)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->off = 0;
	f->fplen = 0;
	if (at_end && st.st_size > 0) {
		f->off = st.st_size;
		size_t n = st.st_size > FP_LEN ? FP_LEN : (size_t)st.st_size;
		if (pread(fd, f->fp, n, st.st_size - (off_t)n) == (ssize_t)n)
			f->fplen = n;
	}
	return 0;
}

/* Were the remembered bytes overwritten (a truncation, maybe refilled)? */
static bool truncated(const struct tailfile *f, off_t size)
{
	if (size < f->off)
		return true;
	if (f->fplen == 0)
		return false;
	uint8_t buf[FP_LEN];
	ssize_t n = pread(f->fd, buf, f->fplen, f->off - (off_t)f->fplen);
	return n != (ssize_t)f->fplen || memcmp(buf, f->fp, f->fplen) != 0;
}

/* copytruncate: find the copy and read what it holds past our position. */
static bool read_copy(struct ag_logtail *t)
{
	char *d1 = strdup(t->path), *d2 = strdup(t->path);
	bool found = false;
	if (!d1 || !d2)
		goto out;
	const char *dir = dirname(d1), *base = basename(d2);
	size_t blen = strlen(base);
	DIR *dp = opendir(dir);
	if (!dp)
		goto out;
	struct dirent *de;
	time_t now = (time_t)(t->clock->wall_ns() / 1000000000u);
	while (!found && (de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, base, blen) != 0 || de->d_name[blen] == '\0')
			continue;
		char p[4096];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < t->cur.off ||
		    now - st.st_mtime > 300 || (st.st_ino == t->cur.ino && st.st_dev == t->cur.dev))
			continue;
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		uint8_t buf[FP_LEN];
		size_t n = t->cur.fplen;
		if (n == 0 || (pread(fd, buf, n, t->cur.off - (off_t)n) == (ssize_t)n &&
		               memcmp(buf, t->cur.fp, n) == 0)) {
			read_from(t, &t->cur, fd, -1);
			found = true;
			log_info("log %s was truncated (copytruncate): read the rest from %s",
			         t->path, p);
		}
		close(fd);
	}
	closedir(dp);
out:
	free(d1);
	free(d2);
	return found;
}

void ag_logtail_poll(struct ag_logtail *t)
{
	struct stat st;
	if (t->old.fd >= 0) {
		read_from(t, &t->old, t->old.fd, -1);
		if (t->clock->mono_ms() >= t->old_until)
			tf_close(t, &t->old);
	}
	if (t->cur.fd < 0) {
		if (tf_open(&t->cur, t->path, !t->started) != 0)
			return;
		t->started = true;
	}
	int rc = stat(t->path, &st);
	if (rc == 0 && (st.st_ino != t->cur.ino || st.st_dev != t->cur.dev)) {
		/* renamed and recreated: finish the old one, switch */
		read_from(t, &t->cur, t->cur.fd, -1);
		if (t->old.fd >= 0)
			tf_close(t, &t->old);
		t->old = t->cur;
		t->old_until = t->clock->mono_ms() + OLD_DRAIN_MS;
		tf_init(&t->cur);
		t->ctr->log_rotations++;
		log_info("log %s was rotated (new file): following the new one", t->path);
		if (tf_open(&t->cur, t->path, false) != 0)
			return;
	}
	struct stat fst;
	if (fstat(t->cur.fd, &fst) != 0)
		return;
	if (truncated(&t->cur, fst.st_size)) {
		t->ctr->log_truncations++;
		if (!read_copy(t))
			log_warnx(
			    "log %s was truncated and no copy holding the lines after position "
			    "%lld was found; lines written since the last read may be lost",
			    t->path, (long long)t->cur.off);
		if (t->cur.line.len > 0 && !t->cur.skipping)
			emit_line(t, &t->cur);
		sv_buf_reset(&t->cur.line);
		t->cur.skipping = false;
		t->cur.off = 0;
		t->cur.fplen = 0;
	}
	read_from(t, &t->cur, t->cur.fd, -1);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ag_logtail_poll(arg);
}

int ag_logtail_new(struct event_base *base, const char *path, const struct ag_clock *clock,
                   struct ag_counters *ctr, ag_logtail_line_fn fn, void *arg,
                   struct ag_logtail **out)
{
	struct ag_logtail *t = calloc(1, sizeof(*t));
	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->path = strdup(path);
	t->clock = clock;
	t->ctr = ctr;
	t->fn = fn;
	t->arg = arg;
	tf_init(&t->cur);
	tf_init(&t->old);
	t->ev = event_new(base, -1, EV_PERSIST, on_poll, t);
	if (!t->path || !t->ev) {
		ag_logtail_free(t);
		return -ENOMEM;
	}
	if (tf_open(&t->cur, path, true) == 0)
		t->started = true;
	else
		t->started = true; /* appears later: read it from its start */
	struct timeval tv = {0, POLL_MS * 1000};
	if (event_add(t->ev, &tv) != 0) {
		ag_logtail_free(t);
		return -EIO;
	}
	*out = t;
	return 0;
}

void ag_logtail_free(struct ag_logtail *t)
{
	if (!t)
		return;
	if (t->ev)
		event_free(t->ev);
	if (t->cur.fd >= 0)
		ag_logtail_poll(t);
	tf_close(t, &t->old);
	tf_close(t, &t->cur);
	free(t->path);
	free(t);
}
