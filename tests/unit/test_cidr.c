#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/cidr.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static bool in4(const struct sv_cidr *c, const char *a)
{
	uint8_t b[4];
	assert_int_equal(inet_pton(AF_INET, a, b), 1);
	return sv_cidr_contains(c, AF_INET, b);
}

static bool in6(const struct sv_cidr *c, const char *a)
{
	uint8_t b[16];
	assert_int_equal(inet_pton(AF_INET6, a, b), 1);
	return sv_cidr_contains(c, AF_INET6, b);
}

static void test_parse_valid(void **state)
{
	struct sv_cidr c;
	char out[64];
	assert_int_equal(sv_cidr_parse("10.0.0.0/8", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	sv_cidr_format(&c, out, sizeof(out));
	assert_string_equal(out, "10.0.0.0/8");
	assert_int_equal(sv_cidr_parse("192.0.2.7", &c), 0);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(sv_cidr_parse("2001:db8::/32", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(sv_cidr_parse("::1", &c), 0);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(sv_cidr_parse("0.0.0.0/0", &c), 0);
	assert_int_equal(sv_cidr_parse("::/0", &c), 0);
	assert_int_equal(sv_cidr_parse("10.128.0.0/9", &c), 0);
}

static void test_parse_invalid(void **state)
{
	static const char *const bad[] = {
	    "",           "/8",          "10.0.0.0/",      "10.0.0.0/33",  "2001:db8::/129",
	    "10.0.0.1/8", "10.0.0.0/08", "10.0.0.0/-1",    "10.0.0.0/8x",  "10.0.0/8",
	    "banana",     "10.0.0.0 /8", "2001:db8::1/32", "10.192.0.0/9", "1.2.3.4/+1",
	};
	struct sv_cidr c;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0x5a, sizeof(c));
		assert_int_equal(sv_cidr_parse(bad[i], &c), -EINVAL);
		assert_int_equal(c.prefix, 0x5a5a5a5a); /* untouched */
	}
	assert_int_equal(sv_cidr_parse(NULL, &c), -EINVAL);
}

static void test_contains_v4(void **state)
{
	struct sv_cidr c;
	assert_int_equal(sv_cidr_parse("10.0.0.0/8", &c), 0);
	assert_true(in4(&c, "10.0.0.0"));
	assert_true(in4(&c, "10.255.255.255"));
	assert_false(in4(&c, "11.0.0.0"));
	assert_false(in4(&c, "9.255.255.255"));
	assert_false(in6(&c, "2001:db8::1"));
	/* IPv4-mapped IPv6 (a dual-stack socket) matches the IPv4 prefix. */
	assert_true(in6(&c, "::ffff:10.1.2.3"));
	assert_false(in6(&c, "::ffff:11.1.2.3"));

	assert_int_equal(sv_cidr_parse("192.0.2.7/32", &c), 0);
	assert_true(in4(&c, "192.0.2.7"));
	assert_false(in4(&c, "192.0.2.6"));
	assert_false(in4(&c, "192.0.2.8"));

	assert_int_equal(sv_cidr_parse("10.128.0.0/9", &c), 0);
	assert_true(in4(&c, "10.128.0.0"));
	assert_true(in4(&c, "10.255.0.1"));
	assert_false(in4(&c, "10.127.255.255"));

	assert_int_equal(sv_cidr_parse("0.0.0.0/0", &c), 0);
	assert_true(in4(&c, "0.0.0.0"));
	assert_true(in4(&c, "255.255.255.255"));
	assert_false(in6(&c, "::1"));
}

static void test_contains_v6(void **state)
{
	struct sv_cidr c;
	assert_int_equal(sv_cidr_parse("2001:db8::/32", &c), 0);
	assert_true(in6(&c, "2001:db8::"));
	assert_true(in6(&c, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(in6(&c, "2001:db9::"));
	assert_false(in6(&c, "2001:db7:ffff::"));
	assert_false(in4(&c, "10.0.0.1"));

	assert_int_equal(sv_cidr_parse("::1/128", &c), 0);
	assert_true(in6(&c, "::1"));
	assert_false(in6(&c, "::2"));
	assert_false(in6(&c, "::"));

	assert_int_equal(sv_cidr_parse("2001:db8:8000::/33", &c), 0);
	assert_true(in6(&c, "2001:db8:8000::1"));
	assert_false(in6(&c, "2001:db8:7fff::1"));

	assert_int_equal(sv_cidr_parse("::/0", &c), 0);
	assert_true(in6(&c, "fe80::1"));
	assert_true(in6(&c, "::"));
	assert_false(in4(&c, "10.0.0.1"));
}

static void test_contains_sockaddr(void **state)
{
	struct sv_cidr c;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	struct sockaddr sa = {.sa_family = AF_UNIX};
	assert_int_equal(sv_cidr_parse("198.51.100.0/24", &c), 0);
	inet_pton(AF_INET, "198.51.100.200", &sin.sin_addr);
	assert_true(sv_cidr_contains_sa(&c, (struct sockaddr *)&sin));
	inet_pton(AF_INET6, "::ffff:198.51.100.1", &sin6.sin6_addr);
	assert_true(sv_cidr_contains_sa(&c, (struct sockaddr *)&sin6));
	assert_false(sv_cidr_contains_sa(&c, &sa));
	assert_false(sv_cidr_contains_sa(&c, NULL));
	assert_false(sv_cidr_contains(NULL, AF_INET, &sin.sin_addr));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_valid),       cmocka_unit_test(test_parse_invalid),
	    cmocka_unit_test(test_contains_v4),       cmocka_unit_test(test_contains_v6),
	    cmocka_unit_test(test_contains_sockaddr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
