#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "call/callkey.h"
#include "base/errors.h"
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Encodes id, compares with want, decodes back and compares with id. */
static void check_key(const char *id, size_t len, const char *want)
{
	struct sv_buf k, d;
	sv_buf_init(&k);
	sv_buf_init(&d);
	assert_int_equal(sv_callkey_encode(id, len, &k), 0);
	assert_int_equal(k.len, strlen(want));
	assert_string_equal((char *)k.data, want);
	assert_null(memchr(k.data, '/', k.len));
	assert_int_equal(sv_callkey_decode((char *)k.data, k.len, &d), 0);
	assert_int_equal(d.len, len);
	assert_memory_equal(d.data, id, len);
	sv_buf_release(&k);
	sv_buf_release(&d);
}

#define KEY(lit, want) check_key(lit, sizeof(lit) - 1, want)

static void test_encode_examples(void **state)
{
	KEY("a84b4c76e66710@pc33.atlanta.com", "a84b4c76e66710@pc33.atlanta.com");
	KEY("abc/def", "abc%2Fdef");
	KEY("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd");
	KEY(".", "%2E");
	KEY("..", "%2E%2E");
	KEY("...", "%2E%2E%2E");
	KEY(".a.", ".a.");
	KEY("100%", "100%25");
	KEY("%2E", "%252E");
	KEY("a b", "a%20b");
	KEY("x+y=z~", "x%2By%3Dz%7E");
	KEY("caf\xc3\xa9", "caf%C3%A9"); /* UTF-8 é */
	KEY("\xff\x80", "%FF%80");
	KEY("a\0b", "a%00b");
	KEY("\0", "%00");
	KEY("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._-",
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._-");
	KEY("\\:;\"<>?*|", "%5C%3A%3B%22%3C%3E%3F%2A%7C");
}

static void test_every_byte(void **state)
{
	/* Each single byte round-trips and is escaped unless allowed. */
	for (int c = 0; c < 256; c++) {
		char id[1] = {(char)c};
		struct sv_buf k, d;
		sv_buf_init(&k);
		sv_buf_init(&d);
		assert_int_equal(sv_callkey_encode(id, 1, &k), 0);
		int allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		              (c >= '0' && c <= '9') || c == '@' || c == '_' || c == '-';
		assert_int_equal(k.len, allowed ? 1 : 3);
		assert_int_equal(sv_callkey_decode((char *)k.data, k.len, &d), 0);
		assert_int_equal(d.len, 1);
		assert_int_equal(d.data[0], c);
		sv_buf_release(&k);
		sv_buf_release(&d);
	}
}

static void test_long_text(void **state)
{
	size_t n = 2048;
	char *id = malloc(n);
	assert_non_null(id);
	for (size_t i = 0; i < n; i++)
		id[i] = (char)(i * 7 + 3);
	struct sv_buf k, d;
	sv_buf_init(&k);
	sv_buf_init(&d);
	assert_int_equal(sv_callkey_encode(id, n, &k), 0);
	assert_null(memchr(k.data, '/', k.len));
	assert_int_equal(sv_callkey_decode((char *)k.data, k.len, &d), 0);
	assert_int_equal(d.len, n);
	assert_memory_equal(d.data, id, n);
	sv_buf_release(&k);
	sv_buf_release(&d);
	free(id);
}

/* A call_key over SV_CALLKEY_DIR_MAX bytes becomes a short, stable,
 * distinct directory name; shorter ones are the call_key itself. */
static void test_long_dir(void **state)
{
	struct sv_buf a, b, c;
	sv_buf_init(&a);
	sv_buf_init(&b);
	sv_buf_init(&c);
	char id[2048];
	memset(id, 'x', sizeof(id));
	id[158] = '/'; /* its %2F straddles the cut at 160 */
	assert_int_equal(sv_callkey_dir(id, sizeof(id), &a), 0);
	assert_int_equal(a.len, 158 + 1 + 32);
	assert_memory_equal(a.data, id, 158);
	assert_int_equal(a.data[158], '-');
	for (size_t i = 159; i < a.len; i++)
		assert_non_null(strchr("0123456789abcdef", a.data[i]));
	assert_int_equal(sv_callkey_dir(id, sizeof(id), &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len); /* stable */
	id[2000] = 'y';
	sv_buf_reset(&b);
	assert_int_equal(sv_callkey_dir(id, sizeof(id), &b), 0);
	assert_memory_not_equal(a.data, b.data, a.len); /* the hash covers the whole Call-ID */
	/* At the limit (198 bytes, the '/' escaped to 3) the directory is the
	 * call_key itself; one byte more and it is shortened. */
	assert_int_equal(sv_callkey_dir(id, SV_CALLKEY_DIR_MAX - 2, &c), 0);
	assert_int_equal(c.len, SV_CALLKEY_DIR_MAX);
	sv_buf_reset(&c);
	assert_int_equal(sv_callkey_dir(id, SV_CALLKEY_DIR_MAX - 1, &c), 0);
	assert_int_equal(c.len, 158 + 1 + 32);
	sv_buf_reset(&c);
	assert_int_equal(sv_callkey_prefix(&c, 0, id, sizeof(id)), 0);
	assert_int_equal(c.len, strlen("calls/1970/01/01/") + a.len + 1); /* dir + "/" */
	assert_int_equal(sv_callkey_dir("", 0, &c), -EINVAL);
	sv_buf_release(&a);
	sv_buf_release(&b);
	sv_buf_release(&c);
}

static void test_empty_and_bad(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_callkey_encode("", 0, &b), -EINVAL);
	assert_int_equal(sv_callkey_prefix(&b, 0, "", 0), -EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(sv_buf_append_str(&b, "keep"), 0);
	static const char *bad[] = {
	    "",    ".",    "..",    "a/b",  "a%2fb", "a%2Gb", "a%2",        "%",
	    "a b", "a%41", "%2E.",  ".%2E", "%2e",   "%2E%2", "%2D",        "%5F",
	    "%40", "x%30", "a%2Eb", "\xc3", "~",     "a%%20", "%2E%2E%2Ex",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = sv_callkey_decode(bad[i], strlen(bad[i]), &b);
		if (rc != SV_E_PARSE)
			fail_msg("decode(\"%s\") = %d", bad[i], rc);
		assert_int_equal(b.len, 4);
		assert_string_equal((char *)b.data, "keep");
	}
	/* Decoding appends. */
	assert_int_equal(sv_callkey_decode("%2Fx", 4, &b), 0);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "keep/x", 6);
	sv_buf_release(&b);
}

/* 2024-02-29T12:00:00Z and friends, in ns. */
#define NS(sec) ((uint64_t)(sec)*1000000000ULL)

static void check_date(uint64_t ns, int y, int m, int d)
{
	int yy, mm, dd;
	sv_callkey_date(ns, &yy, &mm, &dd);
	if (yy != y || mm != m || dd != d)
		fail_msg("%llu: got %04d-%02d-%02d want %04d-%02d-%02d", (unsigned long long)ns, yy,
		         mm, dd, y, m, d);
}

static void test_dates(void **state)
{
	check_date(0, 1970, 1, 1);
	check_date(NS(86399), 1970, 1, 1);
	check_date(NS(86400), 1970, 1, 2);
	check_date(NS(951782400), 2000, 2, 29);     /* leap day of a /400 year */
	check_date(NS(951868800) - 1, 2000, 2, 29); /* last ns of it */
	check_date(NS(951868800), 2000, 3, 1);
	check_date(NS(1709164800), 2024, 2, 29); /* leap day */
	check_date(NS(1709251200) - 1, 2024, 2, 29);
	check_date(NS(1709251200), 2024, 3, 1);
	check_date(NS(1677542400), 2023, 2, 28); /* not a leap year */
	check_date(NS(1677628800), 2023, 3, 1);
	check_date(NS(1735689600) - 1, 2024, 12, 31); /* year boundary */
	check_date(NS(1735689600), 2025, 1, 1);
	check_date(NS(1714521600) - 1, 2024, 4, 30); /* month boundary */
	check_date(NS(1714521600), 2024, 5, 1);
	check_date(NS(4107542400), 2100, 3, 1); /* 2100 is not a leap year */
	check_date(NS(4107456000), 2100, 2, 28);
	check_date(1764151205250000000ULL, 2025, 11, 26);
	check_date(UINT64_MAX, 2554, 7, 21);
}

static void test_paths(void **state)
{
	struct sv_buf b;
	sv_buf_init(&b);
	uint64_t ts = 1764151205250000000ULL;
	assert_int_equal(sv_callkey_object_path(&b, ts, "a/b", 3, "sip.pcap.gz"), 0);
	assert_string_equal((char *)b.data, "calls/2025/11/26/a%2Fb/sip.pcap.gz");
	sv_buf_reset(&b);
	assert_int_equal(sv_callkey_prefix(&b, NS(1709164800), "..", 2), 0);
	assert_string_equal((char *)b.data, "calls/2024/02/29/%2E%2E/");
	sv_buf_reset(&b);
	char name[16];
	assert_int_equal(sv_callkey_log_name(1, name), 0);
	assert_string_equal(name, "log-000001.gz");
	assert_int_equal(sv_callkey_object_path(&b, 0, "x", 1, name), 0);
	assert_string_equal((char *)b.data, "calls/1970/01/01/x/log-000001.gz");
	assert_int_equal(sv_callkey_log_name(999999, name), 0);
	assert_string_equal(name, "log-999999.gz");
	assert_int_equal(sv_callkey_log_name(1000000, name), 0);
	assert_string_equal(name, "log-1000000.gz");
	assert_int_equal(sv_callkey_log_name(99999999, name), 0);
	assert_string_equal(name, "log-99999999.gz");
	assert_int_equal(sv_callkey_log_name(0, name), -EINVAL);
	assert_int_equal(sv_callkey_log_name(100000000, name), -EINVAL);

	size_t len = b.len;
	assert_int_equal(sv_callkey_object_path(&b, 0, "x", 1, "a/b"), -EINVAL);
	assert_int_equal(sv_callkey_object_path(&b, 0, "x", 1, ""), -EINVAL);
	assert_int_equal(sv_callkey_object_path(&b, 0, "", 0, "quality.json"), -EINVAL);
	assert_int_equal(b.len, len);
	sv_buf_release(&b);
}

static void test_kind(void **state)
{
	unsigned n = 0;
	assert_int_equal(sv_callkey_kind("sip.pcap.gz", 11, NULL), SV_CALLKEY_SIP_PCAP);
	assert_int_equal(sv_callkey_kind("rtcp.json.gz", 12, NULL), SV_CALLKEY_RTCP);
	assert_int_equal(sv_callkey_kind("quality.json", 12, NULL), SV_CALLKEY_QUALITY);
	assert_int_equal(sv_callkey_kind("log-000042.gz", 13, &n), SV_CALLKEY_LOG);
	assert_int_equal(n, 42);
	assert_int_equal(sv_callkey_kind("log-1234567.gz", 14, &n), SV_CALLKEY_LOG);
	assert_int_equal(n, 1234567);
	static const char *unknown[] = {
	    "log-000000.gz",    "log-00001.gz", "log-0000001.gz",  "log-00000a.gz",
	    "log-000001.gzz",   "sip.pcap",     "quality.json.gz", "",
	    "log-123456789.gz", "LOG-000001.gz"};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_int_equal(sv_callkey_kind(unknown[i], strlen(unknown[i]), &n),
		                 SV_CALLKEY_UNKNOWN);
	/* Every name log_name() produces is recognised with its number. */
	static const unsigned ns[] = {1, 9, 10, 999999, 1000000, 12345678, 99999999};
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		char name[16];
		assert_int_equal(sv_callkey_log_name(ns[i], name), 0);
		assert_int_equal(sv_callkey_kind(name, strlen(name), &n), SV_CALLKEY_LOG);
		assert_int_equal(n, ns[i]);
	}
}

static void test_parse_path(void **state)
{
	struct sv_callkey_path p;
	const char *k = "calls/2024/02/29/a%2Fb@host/log-000003.gz";
	assert_int_equal(sv_callkey_parse_path(k, strlen(k), &p), 0);
	assert_int_equal(p.year, 2024);
	assert_int_equal(p.month, 2);
	assert_int_equal(p.day, 29);
	assert_int_equal(p.call_key_len, strlen("a%2Fb@host"));
	assert_memory_equal(p.call_key, "a%2Fb@host", p.call_key_len);
	assert_int_equal(p.name_len, strlen("log-000003.gz"));
	assert_memory_equal(p.name, "log-000003.gz", p.name_len);

	k = "calls/2025/11/26/%2E%2E/";
	assert_int_equal(sv_callkey_parse_path(k, strlen(k), &p), 0);
	assert_int_equal(p.call_key_len, 6);
	assert_int_equal(p.name_len, 0);

	static const char *bad[] = {
	    "calls/2023/02/29/x/sip.pcap.gz", /* not a leap year */
	    "calls/2024/13/01/x/sip.pcap.gz",
	    "calls/2024/00/01/x/sip.pcap.gz",
	    "calls/2024/04/31/x/sip.pcap.gz",
	    "calls/2024/4/30/x/sip.pcap.gz",
	    "calls/2024/04/3a/x/sip.pcap.gz",
	    "calls/1969/12/31/x/sip.pcap.gz",
	    "calls/2024/04/30//sip.pcap.gz",
	    "calls/2024/04/30/x",
	    "calls/2024/04/30/x/a/b",
	    "calls/2024/04/30/../sip.pcap.gz",
	    "calls/2024/04/30/a%2fb/x",
	    "call/2024/04/30/x/sip.pcap.gz",
	    "calls/2024-04-30/x/sip.pcap.gz",
	    "calls/2024/04/30/a b/x",
	    "",
	    "calls/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = sv_callkey_parse_path(bad[i], strlen(bad[i]), &p);
		if (rc != SV_E_PARSE)
			fail_msg("parse(\"%s\") = %d", bad[i], rc);
	}

	/* What object_path builds, parse_path takes apart. */
	struct sv_buf b, id;
	sv_buf_init(&b);
	sv_buf_init(&id);
	assert_int_equal(sv_callkey_object_path(&b, NS(1735689600) - 1, "x/y z", 5, "rtcp.json.gz"),
	                 0);
	assert_int_equal(sv_callkey_parse_path((char *)b.data, b.len, &p), 0);
	assert_int_equal(p.year, 2024);
	assert_int_equal(p.month, 12);
	assert_int_equal(p.day, 31);
	assert_int_equal(sv_callkey_decode(p.call_key, p.call_key_len, &id), 0);
	assert_string_equal((char *)id.data, "x/y z");
	assert_int_equal(sv_callkey_kind(p.name, p.name_len, NULL), SV_CALLKEY_RTCP);
	sv_buf_release(&b);
	sv_buf_release(&id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode_examples), cmocka_unit_test(test_every_byte),
	    cmocka_unit_test(test_long_text),       cmocka_unit_test(test_long_dir),
	    cmocka_unit_test(test_empty_and_bad),   cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_paths),           cmocka_unit_test(test_kind),
	    cmocka_unit_test(test_parse_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
