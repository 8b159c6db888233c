#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "call/lookup.h"
#include "testutil.h"

#include <string.h>

#define DAY 86400

static void test_civil(void **state)
{
	int y, m, d;
	int64_t z;
	(void)state;
	assert_int_equal(sv_lookup_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(sv_lookup_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(sv_lookup_days_from_civil(2024, 2, 29), 19782);
	for (z = 0; z < 200000; z += 37) {
		sv_lookup_civil_from_days(z, &y, &m, &d);
		assert_int_equal(sv_lookup_days_from_civil(y, m, d), z);
	}
	sv_lookup_civil_from_days(19782, &y, &m, &d);
	assert_int_equal(y * 10000 + m * 100 + d, 20240229);
}

static void test_plan_without_hint(void **state)
{
	int64_t days[64];
	int64_t ts = 20000 * (int64_t)DAY + 3600; /* 01:00 UTC on day 20000 */
	size_t n;
	(void)state;
	n = sv_lookup_plan(ts, 0, 0, 0, 30, days, 64);
	assert_int_equal(n, 32); /* ts's day, the day after, and 30 days back */
	assert_int_equal(days[0], 20000);
	assert_int_equal(days[1], 19999);
	assert_int_equal(days[2], 20001);
	assert_int_equal(days[3], 19998);
	assert_int_equal(days[31], 20000 - 30);
	/* a call from the last 3 days, when ts is within a day of its start: <= 3 lookups */
	for (int64_t start = 19999; start <= 20001; start++) {
		size_t k;
		for (k = 0; k < n && days[k] != start; k++)
			;
		assert_true(k < 3);
	}
	/* the array bounds the plan */
	assert_int_equal(sv_lookup_plan(ts, 0, 0, 0, 30, days, 2), 2);
	/* max_days below 1 reads as 1 */
	assert_int_equal(sv_lookup_plan(ts, 0, 0, 0, 0, days, 64), 3);
	/* nothing before 1970 */
	assert_int_equal(sv_lookup_plan(3600, 0, 0, 0, 30, days, 64), 2);
	assert_int_equal(days[0], 0);
	assert_int_equal(days[1], 1);
}

static void test_plan_with_hint(void **state)
{
	int64_t days[64];
	int64_t ts = sv_lookup_days_from_civil(2026, 12, 4) * DAY + 100;
	size_t n;
	(void)state;
	n = sv_lookup_plan(ts, 2026, 12, 1, 5, days, 64);
	assert_int_equal(days[0], sv_lookup_days_from_civil(2026, 12, 1));
	assert_int_equal(days[1], sv_lookup_days_from_civil(2026, 12, 4));
	/* the hint's day is not tried twice */
	for (size_t i = 1; i < n; i++)
		assert_true(days[i] != days[0]);
	assert_int_equal(n, 7); /* hint + (4, 3, 5, 2, [1 skipped], 0, 11/29) */
	/* a hint on ts's own day: no duplicate either */
	n = sv_lookup_plan(ts, 2026, 12, 4, 5, days, 64);
	assert_int_equal(n, 7);
	assert_int_equal(days[0], sv_lookup_days_from_civil(2026, 12, 4));
	assert_int_equal(days[1], sv_lookup_days_from_civil(2026, 12, 3));
}

static void test_prefix(void **state)
{
	struct sv_buf b;
	(void)state;
	sv_buf_init(&b);
	assert_int_equal(sv_lookup_prefix(sv_lookup_days_from_civil(2025, 11, 26), "a%2Fb", &b), 0);
	assert_int_equal(sv_buf_append(&b, "", 1), 0);
	assert_string_equal((char *)b.data, "calls/2025/11/26/a%2Fb/");
	sv_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_civil),
	    cmocka_unit_test(test_plan_without_hint),
	    cmocka_unit_test(test_plan_with_hint),
	    cmocka_unit_test(test_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
