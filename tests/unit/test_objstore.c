#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/errors.h"
#include "store/objstore.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct done_rec {
	int calls;
	int rc;
};

static void on_done(void *arg, int rc)
{
	struct done_rec *d = arg;
	d->calls++;
	d->rc = rc;
}

struct fixture {
	char *dir;
	char data[512]; /* dir/data */
	char root[600]; /* dir/data/objects */
	struct sv_objstore *st;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char err[256] = "";
	fx->dir = tu_tmpdir();
	snprintf(fx->data, sizeof(fx->data), "%s/data", fx->dir);
	snprintf(fx->root, sizeof(fx->root), "%s/objects", fx->data);
	/* a data directory that does not exist yet (trailing '/' allowed) */
	char data[4200];
	snprintf(data, sizeof(data), "%s/", fx->data);
	assert_int_equal(sv_objstore_local_new(data, &fx->st, err, sizeof(err)), 0);
	assert_non_null(fx->st);
	assert_string_equal(sv_objstore_backend_name(fx->st), "local");
	struct stat sb;
	assert_int_equal(stat(fx->root, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	sv_objstore_free(fx->st);
	tu_rmrf(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

static int put_str(struct sv_objstore *st, const char *bucket, const char *key, const char *s,
                   struct done_rec *d)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_buf_append_str(&b, s), 0);
	int r = sv_objstore_put(st, bucket, key, "application/json", NULL, &b, on_done, d);
	sv_buf_release(&b);
	if (r == 0)
		sv_objstore_flush(st); /* local puts complete at the next flush */
	return r;
}

/* Counts entries whose name contains ".tmp." anywhere under path. */
static int count_temps(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (strstr(e->d_name, ".tmp.") != NULL)
			n++;
		struct stat sb;
		if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
			n += count_temps(sub);
	}
	closedir(d);
	return n;
}

static void test_key_rules(void **state)
{
	(void)state;
	static const char *const good_buckets[] = {
	    "abc",
	    "acme-calls",
	    "a.b.c",
	    "0ab",
	    "b-1.x-2",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaa"};
	static const char *const bad_buckets[] = {
	    "",
	    "ab",
	    "Abc",
	    "a_b",
	    "-abc",
	    "abc-",
	    ".abc",
	    "abc.",
	    "a..b",
	    "a/b",
	    "a b",
	    "..",
	    "../x",
	    "192.168.1.10",
	    "acme\n1",
	    "acme\\x",
	    "ab\x01"
	    "c",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	for (size_t i = 0; i < sizeof(good_buckets) / sizeof(good_buckets[0]); i++)
		assert_int_equal(sv_objstore_key_ok(good_buckets[i], "k"), 1);
	for (size_t i = 0; i < sizeof(bad_buckets) / sizeof(bad_buckets[0]); i++) {
		if (sv_objstore_key_ok(bad_buckets[i], "k") != 0)
			fail_msg("bucket \"%s\" accepted", bad_buckets[i]);
	}

	static const char *const good_keys[] = {"k",          "calls/2024/01/02/abc/log-000001.gz",
	                                        "a.b",        "...",
	                                        "..a/b..",    ".hidden/x",
	                                        "sp ace/ok",  "unicod\xc3\xa9",
	                                        "a/b/c/d/e/f"};
	static const char *const bad_keys[] = {
	    "",     "/abs",   "/",  "a/", "a//b",   "a/./b", "./a",  "a/.",    "../x",
	    "a/..", "a/../b", "..", ".",  "x\x01y", "x\ny",  "x\ry", "tab\tx", "del\x7f"};
	for (size_t i = 0; i < sizeof(good_keys) / sizeof(good_keys[0]); i++) {
		if (sv_objstore_key_ok("acme", good_keys[i]) != 1)
			fail_msg("key \"%s\" refused", good_keys[i]);
	}
	for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		if (sv_objstore_key_ok("acme", bad_keys[i]) != 0)
			fail_msg("key \"%s\" accepted", bad_keys[i]);
	}

	/* length: 1024 bytes is the limit */
	char key[1026];
	memset(key, 'k', sizeof(key));
	key[1024] = '\0';
	assert_int_equal(sv_objstore_key_ok("acme", key), 1);
	key[1024] = 'k';
	key[1025] = '\0';
	assert_int_equal(sv_objstore_key_ok("acme", key), 0);

	assert_int_equal(sv_objstore_key_ok(NULL, "k"), 0);
	assert_int_equal(sv_objstore_key_ok("acme", NULL), 0);
}

static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct done_rec d = {0, 1};
	struct sv_buf b, out;
	sv_buf_init(&b);
	sv_buf_init(&out);
	/* binary payload with NUL bytes, bigger than one read chunk */
	for (int i = 0; i < 200000; i++)
		assert_int_equal(sv_buf_put_u8(&b, (uint8_t)(i * 7)), 0);
	assert_int_equal(
	    sv_objstore_put(fx->st, "acme", "calls/x/sip.pcap.gz", "a/b", "gzip", &b, on_done, &d),
	    0);
	assert_int_equal(d.calls, 0); /* completes at the flush */
	assert_int_equal(sv_objstore_flush(fx->st), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.rc, 0);
	assert_int_equal(b.len, 0); /* memory taken */
	assert_null(b.data);

	assert_int_equal(sv_buf_append_str(&out, "pre"), 0);
	assert_int_equal(sv_objstore_get(fx->st, "acme", "calls/x/sip.pcap.gz", &out), 0);
	assert_int_equal(out.len, 3 + 200000);
	assert_memory_equal(out.data, "pre", 3);
	for (int i = 0; i < 200000; i++)
		if (out.data[3 + i] != (uint8_t)(i * 7))
			fail_msg("byte %d differs", i);
	assert_int_equal(out.data[out.len], 0);

	/* the file is where the design says, readable by others */
	char path[4200];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/acme/calls/x/sip.pcap.gz", fx->root);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 200000);
	assert_int_equal(sb.st_mode & 0777, 0644);
	snprintf(path, sizeof(path), "%s/acme/calls/x", fx->root);
	assert_int_equal(stat(path, &sb), 0);
	mode_t mask = umask(0);
	umask(mask);
	assert_int_equal(sb.st_mode & 0777, 0755 & ~mask);

	/* empty object, no done callback */
	assert_int_equal(sv_objstore_put(fx->st, "acme", "empty", NULL, NULL, &b, NULL, NULL), 0);
	assert_int_equal(sv_objstore_flush(fx->st), 0);
	sv_buf_reset(&out);
	assert_int_equal(sv_objstore_get(fx->st, "acme", "empty", &out), 0);
	assert_int_equal(out.len, 0);

	struct sv_objstore_stats s;
	sv_objstore_stats(fx->st, &s);
	assert_int_equal(s.puts_ok, 2);
	assert_int_equal(s.puts_failed, 0);
	assert_int_equal(s.bytes_written, 200000);
	assert_int_equal(s.in_flight, 0);
	assert_int_equal(count_temps(fx->root), 0);
	sv_buf_release(&out);
}

static void test_get_missing(void **state)
{
	struct fixture *fx = *state;
	struct done_rec d = {0, 1};
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(sv_buf_append_str(&out, "keep"), 0);
	assert_int_equal(sv_objstore_get(fx->st, "acme", "nope", &out), SV_E_NOTFOUND);
	assert_int_equal(put_str(fx->st, "acme", "dir/file", "x", &d), 0);
	/* a "directory" and a path through a file are not objects either */
	assert_int_equal(sv_objstore_get(fx->st, "acme", "dir", &out), SV_E_NOTFOUND);
	assert_int_equal(sv_objstore_get(fx->st, "acme", "dir/file/sub", &out), SV_E_NOTFOUND);
	assert_int_equal(sv_objstore_get(fx->st, "other", "dir/file", &out), SV_E_NOTFOUND);
	assert_int_equal(sv_objstore_get(fx->st, "acme", "../acme/dir/file", &out), -EINVAL);
	assert_int_equal(out.len, 4);
	assert_string_equal((char *)out.data, "keep");
	sv_buf_release(&out);
}

static void test_nested_keys(void **state)
{
	struct fixture *fx = *state;
	struct done_rec d = {0, 1};
	static const char *const keys[] = {
	    "calls/2024/01/02/k1/log-000001.gz", "calls/2024/01/02/k1/log-000002.gz",
	    "calls/2024/01/02/k1/quality.json", "calls/2024/01/03/k2/quality.json", "top"};
	for (size_t i = 0; i < 5; i++) {
		d.calls = 0;
		assert_int_equal(put_str(fx->st, "acme-calls", keys[i], keys[i], &d), 0);
		assert_int_equal(d.calls, 1);
		assert_int_equal(d.rc, 0);
	}
	for (size_t i = 0; i < 5; i++) {
		struct sv_buf out;
		sv_buf_init(&out);
		assert_int_equal(sv_objstore_get(fx->st, "acme-calls", keys[i], &out), 0);
		assert_string_equal((char *)out.data, keys[i]);
		sv_buf_release(&out);
	}
	char path[4200];
	snprintf(path, sizeof(path), "%s/acme-calls/calls/2024/01/03/k2/quality.json", fx->root);
	assert_int_equal(access(path, R_OK), 0);
	assert_int_equal(count_temps(fx->root), 0);
}

static void test_replace(void **state)
{
	struct fixture *fx = *state;
	struct done_rec d = {0, 1};
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(put_str(fx->st, "acme", "a/obj", "old content", &d), 0);
	assert_int_equal(put_str(fx->st, "acme", "a/obj", "new", &d), 0);
	assert_int_equal(d.calls, 2);
	assert_int_equal(d.rc, 0);
	assert_int_equal(sv_objstore_get(fx->st, "acme", "a/obj", &out), 0);
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.data, "new", 3);
	assert_int_equal(count_temps(fx->root), 0);
	sv_buf_release(&out);
}

/* A writer process alternates two versions of an object; the reader must
 * only ever see one of them in full. */
static void test_replace_is_atomic(void **state)
{
	struct fixture *fx = *state;
	enum { NA = 70000, NB = 150000, ROUNDS = 40 };
	struct sv_buf a, b;
	sv_buf_init(&a);
	sv_buf_init(&b);
	for (int i = 0; i < NA; i++)
		assert_int_equal(sv_buf_put_u8(&a, 'a'), 0);
	for (int i = 0; i < NB; i++)
		assert_int_equal(sv_buf_put_u8(&b, 'b'), 0);
	struct done_rec d = {0, 1};
	struct sv_buf tmp;
	sv_buf_init(&tmp);
	assert_int_equal(sv_buf_append(&tmp, a.data, a.len), 0);
	assert_int_equal(sv_objstore_put(fx->st, "acme", "race/obj", NULL, NULL, &tmp, on_done, &d),
	                 0);
	assert_int_equal(sv_objstore_flush(fx->st), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.rc, 0);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int bad = 0;
		for (int r = 0; r < ROUNDS; r++) {
			struct sv_buf c;
			sv_buf_init(&c);
			const struct sv_buf *src = (r % 2 == 0) ? &b : &a;
			if (sv_buf_append(&c, src->data, src->len) != 0)
				_exit(3);
			struct done_rec cd = {0, 1};
			if (sv_objstore_put(fx->st, "acme", "race/obj", NULL, NULL, &c, on_done,
			                    &cd) != 0 ||
			    sv_objstore_flush(fx->st) != 0 || cd.calls != 1 || cd.rc != 0)
				bad = 1;
		}
		_exit(bad ? 2 : 0);
	}
	int reads = 0, seen_a = 0, seen_b = 0, status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		struct sv_buf out;
		sv_buf_init(&out);
		assert_int_equal(sv_objstore_get(fx->st, "acme", "race/obj", &out), 0);
		reads++;
		if (out.len == NA && memcmp(out.data, a.data, NA) == 0)
			seen_a++;
		else if (out.len == NB && memcmp(out.data, b.data, NB) == 0)
			seen_b++;
		else
			fail_msg("torn read: %zu bytes", out.len);
		sv_buf_release(&out);
		if (w == pid)
			break;
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(reads > 1);
	assert_true(seen_a + seen_b == reads);
	/* the last version written (round 39, odd) is a */
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(sv_objstore_get(fx->st, "acme", "race/obj", &out), 0);
	assert_int_equal(out.len, NA);
	assert_int_equal(count_temps(fx->root), 0);
	sv_buf_release(&out);
	sv_buf_release(&a);
	sv_buf_release(&b);
}

static void test_invalid_refused(void **state)
{
	struct fixture *fx = *state;
	static const char *const bad[][2] = {
	    {"acme", "../escape"}, {"acme", "/abs"},    {"acme", "a//b"},   {"acme", "a/./b"},
	    {"acme", "a/../../x"}, {"acme", "ctl\x02"}, {"acme", ""},       {"..", "x"},
	    {"ACME", "x"},         {"a/b", "x"},        {"objects", "../x"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct done_rec d = {0, 1};
		struct sv_buf b;
		sv_buf_init(&b);
		assert_int_equal(sv_buf_append_str(&b, "payload"), 0);
		assert_int_equal(
		    sv_objstore_put(fx->st, bad[i][0], bad[i][1], NULL, NULL, &b, on_done, &d),
		    -EINVAL);
		assert_int_equal(d.calls, 0);
		assert_int_equal(b.len, 7); /* left to the caller */
		sv_buf_release(&b);
	}
	char longkey[1100];
	memset(longkey, 'x', sizeof(longkey));
	longkey[1025] = '\0';
	struct done_rec d = {0, 1};
	assert_int_equal(put_str(fx->st, "acme", longkey, "p", &d), -EINVAL);
	assert_int_equal(d.calls, 0);
	assert_int_equal(put_str(NULL, "acme", "k", "p", &d), -EINVAL);
	assert_int_equal(d.calls, 0);
	assert_int_equal(sv_objstore_put(fx->st, "acme", "k", NULL, NULL, NULL, on_done, &d),
	                 -EINVAL);
	assert_int_equal(d.calls, 0);

	/* nothing was created, neither in objects/ nor next to it */
	DIR *dir = opendir(fx->root);
	assert_non_null(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(dir)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(dir);
	assert_int_equal(n, 0);
	dir = opendir(fx->data);
	assert_non_null(dir);
	n = 0;
	while ((e = readdir(dir)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(dir);
	assert_int_equal(n, 1); /* objects */

	struct sv_objstore_stats s;
	sv_objstore_stats(fx->st, &s);
	assert_int_equal(s.puts_ok + s.puts_failed + s.in_flight, 0);

	/* A C string ends at its NUL: "a\0../../x" is the key "a", stored
	 * inside the bucket. The HTTP layer must refuse %00 before this. */
	static const char nul_key[] = "a\0../../x";
	assert_int_equal(put_str(fx->st, "acme", nul_key, "n", &d), 0);
	assert_int_equal(d.rc, 0);
	char path[4200];
	snprintf(path, sizeof(path), "%s/acme/a", fx->root);
	assert_int_equal(access(path, F_OK), 0);
}

static void test_write_errors_through_done(void **state)
{
	struct fixture *fx = *state;
	struct done_rec d = {0, 1};
	/* a key below an existing object: ENOTDIR, as root too */
	assert_int_equal(put_str(fx->st, "acme", "f", "file", &d), 0);
	assert_int_equal(d.rc, 0);
	d.calls = 0;
	assert_int_equal(put_str(fx->st, "acme", "f/sub", "x", &d), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.rc, -ENOTDIR);
	d.calls = 0;
	assert_int_equal(put_str(fx->st, "acme", "f/deeper/sub", "x", &d), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.rc, -ENOTDIR);

	/* read-only directory: EACCES (root bypasses permissions, so only
	 * this assertion depends on the user) */
	char ro[4200];
	snprintf(ro, sizeof(ro), "%s/acme/ro", fx->root);
	assert_int_equal(mkdir(ro, 0555), 0);
	assert_int_equal(chmod(ro, 0555), 0);
	d.calls = 0;
	assert_int_equal(put_str(fx->st, "acme", "ro/obj", "x", &d), 0);
	assert_int_equal(d.calls, 1);
	if (geteuid() != 0)
		assert_int_equal(d.rc, -EACCES);
	else
		print_message("running as root: EACCES check replaced by the ENOTDIR ones\n");
	chmod(ro, 0755);

	/* a failing write after the temp file exists (file size limit): EFBIG,
	 * temp file removed, old object intact */
	assert_int_equal(put_str(fx->st, "acme", "big", "old", &d), 0);
	assert_int_equal(d.rc, 0);
	struct rlimit old;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	struct rlimit lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	struct sv_buf b;
	sv_buf_init(&b);
	for (int i = 0; i < 10000; i++)
		sv_buf_put_u8(&b, 'z');
	d.calls = 0;
	int r = sv_objstore_put(fx->st, "acme", "big", NULL, NULL, &b, on_done, &d);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_int_equal(r, 0);
	assert_int_equal(d.calls, 1); /* an early failure completes before put returns */
	assert_int_equal(d.rc, -EFBIG);
	assert_int_equal(b.len, 0);
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(sv_objstore_get(fx->st, "acme", "big", &out), 0);
	assert_string_equal((char *)out.data, "old");
	sv_buf_release(&out);

	assert_int_equal(count_temps(fx->root), 0);
	struct sv_objstore_stats s;
	sv_objstore_stats(fx->st, &s);
	assert_int_equal(s.puts_failed, geteuid() != 0 ? 4 : 3);
	assert_int_equal(s.puts_ok, geteuid() != 0 ? 2 : 3);
	assert_int_equal(s.in_flight, 0);
}

/* Group commit: staged puts are invisible until the flush, which completes
 * them all; a done callback may put again (next flush); the same key twice
 * in one batch keeps the last; a rename failing in the flush is reported to
 * that put alone and leaves no temp file. */
struct chain {
	struct sv_objstore *st;
	int calls, rc;
	struct done_rec next;
};

static void on_done_chain(void *arg, int rc)
{
	struct chain *c = arg;
	c->calls++;
	c->rc = rc;
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_buf_append_str(&b, "chained"), 0);
	assert_int_equal(sv_objstore_put(c->st, "acme", "calls/2024/01/02/k/next", NULL, NULL, &b,
	                                 on_done, &c->next),
	                 0);
	sv_buf_release(&b);
}

static void test_group_commit(void **state)
{
	struct fixture *fx = *state;
	struct done_rec d[6];
	struct chain ch = {fx->st, 0, 1, {0, 1}};
	static const char *const keys[] = {"calls/2024/01/02/k/sip.pcap.gz",
	                                   "calls/2024/01/02/k/rtcp.json.gz",
	                                   "calls/2024/01/02/k/quality.json",
	                                   "calls/2024/01/02/j/quality.json",
	                                   "same",
	                                   "same"};
	for (int i = 0; i < 6; i++) {
		struct sv_buf b;
		d[i].calls = 0;
		d[i].rc = 1;
		sv_buf_init(&b);
		assert_int_equal(sv_buf_printf(&b, "v%d", i), 0);
		assert_int_equal(
		    sv_objstore_put(fx->st, "acme", keys[i], NULL, NULL, &b, on_done, &d[i]), 0);
		sv_buf_release(&b);
	}
	struct sv_buf b, out;
	sv_buf_init(&b);
	sv_buf_init(&out);
	assert_int_equal(sv_buf_append_str(&b, "c"), 0);
	assert_int_equal(sv_objstore_put(fx->st, "acme", "calls/2024/01/02/k/chain", NULL, NULL, &b,
	                                 on_done_chain, &ch),
	                 0);
	/* staged: nothing visible, nothing completed, temp files present */
	for (int i = 0; i < 6; i++)
		assert_int_equal(d[i].calls, 0);
	assert_int_equal(ch.calls, 0);
	assert_int_equal(sv_objstore_get(fx->st, "acme", keys[0], &out), SV_E_NOTFOUND);
	assert_int_equal(sv_objstore_get(fx->st, "acme", "same", &out), SV_E_NOTFOUND);
	assert_int_equal(count_temps(fx->root), 7);
	struct sv_objstore_stats s;
	sv_objstore_stats(fx->st, &s);
	assert_int_equal(s.in_flight, 7);
	assert_int_equal(s.puts_ok, 0);

	assert_int_equal(sv_objstore_flush(fx->st), 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(d[i].calls, 1);
		assert_int_equal(d[i].rc, 0);
	}
	assert_int_equal(ch.calls, 1);
	assert_int_equal(ch.rc, 0);
	assert_int_equal(ch.next.calls, 0); /* put from a callback: the next flush */
	for (int i = 0; i < 5; i++) {
		char want[8];
		snprintf(want, sizeof(want), "v%d", i == 4 ? 5 : i);
		sv_buf_reset(&out);
		assert_int_equal(sv_objstore_get(fx->st, "acme", keys[i], &out), 0);
		assert_string_equal((char *)out.data, want);
	}
	assert_int_equal(count_temps(fx->root), 1);
	assert_int_equal(sv_objstore_flush(fx->st), 0);
	assert_int_equal(ch.next.calls, 1);
	assert_int_equal(ch.next.rc, 0);
	assert_int_equal(count_temps(fx->root), 0);
	assert_int_equal(sv_objstore_flush(fx->st), 0); /* nothing pending */
	sv_objstore_stats(fx->st, &s);
	assert_int_equal(s.in_flight, 0);
	assert_int_equal(s.puts_ok, 8);

	/* a rename that fails in the flush ("calls" is a directory): only that
	 * put fails, its temp file is gone, the other put of the batch works */
	struct done_rec bad = {0, 1}, good = {0, 1};
	sv_buf_reset(&b);
	assert_int_equal(sv_buf_append_str(&b, "x"), 0);
	assert_int_equal(sv_objstore_put(fx->st, "acme", "calls", NULL, NULL, &b, on_done, &bad),
	                 0);
	assert_int_equal(sv_buf_append_str(&b, "y"), 0);
	assert_int_equal(sv_objstore_put(fx->st, "acme", "other", NULL, NULL, &b, on_done, &good),
	                 0);
	assert_int_equal(bad.calls, 0);
	int r = sv_objstore_flush(fx->st);
	assert_true(r == -EISDIR || r == -ENOTEMPTY || r == -EEXIST);
	assert_int_equal(bad.calls, 1);
	assert_int_equal(bad.rc, r);
	assert_int_equal(good.calls, 1);
	assert_int_equal(good.rc, 0);
	assert_int_equal(count_temps(fx->root), 0);
	sv_objstore_stats(fx->st, &s);
	assert_int_equal(s.puts_failed, 1);
	assert_int_equal(s.in_flight, 0);

	assert_int_equal(sv_objstore_flush(NULL), 0);
	sv_buf_release(&b);
	sv_buf_release(&out);
}

/* Directories are remembered, but one removed behind the store's back
 * (retention deleting a day) is made again: the call's own directory, and
 * the whole chain when its parents are gone too. */
static void test_dir_cache(void **state)
{
	struct fixture *fx = *state;
	struct done_rec d = {0, 1};
	char path[4200];
	assert_int_equal(put_str(fx->st, "acme", "calls/2024/01/02/k1/a", "1", &d), 0);
	assert_int_equal(d.rc, 0);
	/* the call's directory goes */
	snprintf(path, sizeof(path), "%s/acme/calls/2024/01/02/k1", fx->root);
	tu_rmrf(path);
	d.calls = 0;
	assert_int_equal(put_str(fx->st, "acme", "calls/2024/01/02/k1/b", "2", &d), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.rc, 0);
	/* the whole day (and month) goes: mkdir -p again */
	snprintf(path, sizeof(path), "%s/acme/calls/2024/01", fx->root);
	tu_rmrf(path);
	d.calls = 0;
	assert_int_equal(put_str(fx->st, "acme", "calls/2024/01/02/k1/c", "3", &d), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.rc, 0);
	d.calls = 0;
	assert_int_equal(put_str(fx->st, "acme", "calls/2024/01/02/k2/c", "4", &d), 0);
	assert_int_equal(d.rc, 0);
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(sv_objstore_get(fx->st, "acme", "calls/2024/01/02/k1/c", &out), 0);
	assert_string_equal((char *)out.data, "3");
	assert_int_equal(sv_objstore_get(fx->st, "acme", "calls/2024/01/02/k1/b", &out),
	                 SV_E_NOTFOUND);
	/* many directories (more than the cache holds) */
	for (int i = 0; i < 1500; i++) {
		char key[64];
		snprintf(key, sizeof(key), "calls/2024/02/%02d/k%d/q", i % 28 + 1, i);
		struct sv_buf b;
		sv_buf_init(&b);
		assert_int_equal(sv_buf_append_str(&b, key), 0);
		assert_int_equal(sv_objstore_put(fx->st, "acme", key, NULL, NULL, &b, NULL, NULL),
		                 0);
		sv_buf_release(&b);
	}
	assert_int_equal(sv_objstore_flush(fx->st), 0);
	sv_buf_reset(&out);
	assert_int_equal(sv_objstore_get(fx->st, "acme", "calls/2024/02/10/k1493/q", &out), 0);
	assert_string_equal((char *)out.data, "calls/2024/02/10/k1493/q");
	struct sv_objstore_stats s;
	sv_objstore_stats(fx->st, &s);
	assert_int_equal(s.puts_ok, 1504);
	assert_int_equal(s.puts_failed, 0);
	assert_int_equal(count_temps(fx->root), 0);
	sv_buf_release(&out);
}

/* Freeing the store with staged puts: -ECANCELED, temp files removed, no
 * object appears. */
static void test_free_cancels_staged(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	char err[256] = "";
	struct sv_objstore *st;
	struct done_rec d = {0, 1};
	assert_int_equal(sv_objstore_local_new(dir, &st, err, sizeof(err)), 0);
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_buf_append_str(&b, "never"), 0);
	assert_int_equal(sv_objstore_put(st, "acme", "a/b", NULL, NULL, &b, on_done, &d), 0);
	char root[4200];
	snprintf(root, sizeof(root), "%s/objects", dir);
	assert_int_equal(count_temps(root), 1);
	sv_objstore_free(st);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.rc, -ECANCELED);
	assert_int_equal(count_temps(root), 0);
	char path[4300];
	snprintf(path, sizeof(path), "%s/acme/a/b", root);
	assert_int_equal(access(path, F_OK), -1);
	tu_rmrf(dir);
	free(dir);
}

static void test_open_errors(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	char path[4200], err[512] = "";
	struct sv_objstore *st = (struct sv_objstore *)1;
	snprintf(path, sizeof(path), "%s/file", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(sv_objstore_local_new(path, &st, err, sizeof(err)), -ENOTDIR);
	assert_null(st);
	assert_non_null(strstr(err, "cannot create"));
	assert_int_equal(sv_objstore_local_new("", &st, err, sizeof(err)), -EINVAL);
	assert_null(st);
	assert_int_equal(sv_objstore_local_new(path, &st, NULL, 0), -ENOTDIR);
	/* reopening an existing store works */
	assert_int_equal(sv_objstore_local_new(dir, &st, err, sizeof(err)), 0);
	sv_objstore_free(st);
	assert_int_equal(sv_objstore_local_new(dir, &st, err, sizeof(err)), 0);
	sv_objstore_free(st);
	sv_objstore_free(NULL);
	struct sv_objstore_stats s = {1, 1, 1, 1};
	sv_objstore_stats(NULL, &s);
	assert_int_equal(s.puts_ok + s.puts_failed + s.bytes_written + s.in_flight, 0);
	assert_string_equal(sv_objstore_backend_name(NULL), "");
	tu_rmrf(dir);
	free(dir);
}

/* ---- a deferred back end, as the S3 one will be ---- */

struct pending {
	struct sv_objstore_op *op[4];
	size_t len[4];
	int n;
	int freed;
};

static void fake_put(void *impl, const char *bucket, const char *key, const char *ct,
                     const char *ce, struct sv_buf *data, struct sv_objstore_op *op)
{
	struct pending *p = impl;
	assert_string_equal(bucket, "acme");
	assert_string_equal(ct, "application/json");
	(void)key;
	(void)ce;
	p->len[p->n] = data->len;
	p->op[p->n++] = op;
	sv_buf_release(data);
}

static int fake_get(void *impl, const char *bucket, const char *key, struct sv_buf *out)
{
	(void)impl;
	(void)bucket;
	(void)key;
	return sv_buf_append_str(out, "fake");
}

static void fake_free(void *impl)
{
	struct pending *p = impl;
	for (int i = 0; i < p->n; i++)
		if (p->op[i] != NULL)
			sv_objstore_op_done(p->op[i], -ECANCELED, 0);
	p->freed = 1;
}

static void test_backend_interface(void **state)
{
	(void)state;
	static const struct sv_objstore_ops ops = {
	    .name = "fake", .put = fake_put, .get = fake_get, .free = fake_free};
	struct pending p = {0};
	struct sv_objstore *st;
	assert_int_equal(sv_objstore_new_backend(&ops, &p, &st), 0);
	assert_string_equal(sv_objstore_backend_name(st), "fake");
	struct done_rec d1 = {0, 1}, d2 = {0, 1};
	assert_int_equal(put_str(st, "acme", "k1", "12345", &d1), 0);
	assert_int_equal(put_str(st, "acme", "k2", "xy", &d2), 0);
	assert_int_equal(put_str(st, "acme", "../k", "xy", &d2), -EINVAL);
	assert_int_equal(d1.calls + d2.calls, 0); /* deferred */
	struct sv_objstore_stats s;
	sv_objstore_stats(st, &s);
	assert_int_equal(s.in_flight, 2);
	sv_objstore_op_done(p.op[0], 0, p.len[0]);
	p.op[0] = NULL;
	assert_int_equal(d1.calls, 1);
	assert_int_equal(d1.rc, 0);
	sv_objstore_stats(st, &s);
	assert_int_equal(s.in_flight, 1);
	assert_int_equal(s.puts_ok, 1);
	assert_int_equal(s.bytes_written, 5);
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(sv_objstore_get(st, "acme", "k1", &out), 0);
	assert_string_equal((char *)out.data, "fake");
	sv_buf_release(&out);
	assert_int_equal(sv_objstore_flush(st), 0); /* no flush op: nothing happens */
	assert_int_equal(d2.calls, 0);
	sv_objstore_free(st); /* cancels k2 */
	assert_int_equal(p.freed, 1);
	assert_int_equal(d2.calls, 1);
	assert_int_equal(d2.rc, -ECANCELED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_rules),
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nested_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_is_atomic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_errors_through_done, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dir_cache, setup, teardown),
	    cmocka_unit_test(test_free_cancels_staged),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_backend_interface),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
