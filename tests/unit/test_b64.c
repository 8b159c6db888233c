#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/b64.h"
#include "base/buf.h"
#include "base/errors.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* RFC 4648 section 10 test vectors. */
static const struct {
	const char *plain;
	const char *enc;
} rfc[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_rfc4648_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
		struct sv_buf e, d;
		sv_buf_init(&e);
		sv_buf_init(&d);
		size_t n = strlen(rfc[i].plain);
		assert_int_equal(sv_b64_encoded_len(n), strlen(rfc[i].enc));
		assert_int_equal(sv_b64_encode(rfc[i].plain, n, &e), 0);
		assert_int_equal(e.len, strlen(rfc[i].enc));
		if (e.len > 0)
			assert_string_equal((char *)e.data, rfc[i].enc);
		assert_int_equal(sv_b64_decode(rfc[i].enc, strlen(rfc[i].enc), &d), 0);
		assert_int_equal(d.len, n);
		if (n > 0)
			assert_memory_equal(d.data, rfc[i].plain, n);
		sv_buf_release(&e);
		sv_buf_release(&d);
	}
}

static void test_binary_roundtrip(void **state)
{
	uint8_t in[600];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 131 + 7);
	for (size_t n = 0; n <= sizeof(in); n += (n < 20 ? 1 : 97)) {
		struct sv_buf e, d;
		sv_buf_init(&e);
		sv_buf_init(&d);
		assert_int_equal(sv_b64_encode(in, n, &e), 0);
		assert_int_equal(e.len, (n + 2) / 3 * 4);
		assert_int_equal(sv_b64_decode((char *)e.data, e.len, &d), 0);
		assert_int_equal(d.len, n);
		if (n > 0)
			assert_memory_equal(d.data, in, n);
		sv_buf_release(&e);
		sv_buf_release(&d);
	}
	/* All 64 characters and both specials. */
	static const uint8_t ff[] = {0xfb, 0xff, 0xbf};
	struct sv_buf e;
	sv_buf_init(&e);
	assert_int_equal(sv_b64_encode(ff, 3, &e), 0);
	assert_string_equal((char *)e.data, "+/+/");
	sv_buf_release(&e);
}

static void test_strict_rejects(void **state)
{
	static const char *bad[] = {
	    "Zg",       /* no padding */
	    "Zg=",      /* short padding */
	    "Zg===",    /* length */
	    "Z===",     /* too much padding */
	    "====",     /* only padding */
	    "Zm=v",     /* padding inside */
	    "Zg==Zm9v", /* padding before the end */
	    "Zh==",     /* non-zero unused bits */
	    "Zm9=",     /* non-zero unused bits */
	    "Zm9v\n",   /* whitespace */
	    "Zm 9v",    /* space */
	    "Zm9-",     /* URL-safe alphabet */
	    "Zm9_",     /* URL-safe alphabet */
	    "Zm9\x80",  /* high byte */
	    "A",
	};
	struct sv_buf d;
	sv_buf_init(&d);
	assert_int_equal(sv_buf_append_str(&d, "pre"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = sv_b64_decode(bad[i], strlen(bad[i]), &d);
		if (rc != SV_E_PARSE)
			fail_msg("decode(\"%s\") = %d", bad[i], rc);
		assert_int_equal(d.len, 3);
		assert_string_equal((char *)d.data, "pre");
	}
	/* Appends after what the buffer held. */
	assert_int_equal(sv_b64_decode("Zm9v", 4, &d), 0);
	assert_int_equal(d.len, 6);
	assert_memory_equal(d.data, "prefoo", 6);
	sv_buf_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4648_vectors),
	    cmocka_unit_test(test_binary_roundtrip),
	    cmocka_unit_test(test_strict_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
