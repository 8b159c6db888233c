#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/metrics.h"
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void render_equal(const struct sv_metrics *m, const char *want)
{
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(sv_metrics_render(m, &out), 0);
	assert_int_equal(out.data != NULL ? out.data[out.len] : 0, 0);
	assert_string_equal(out.data != NULL ? (char *)out.data : "", want);
	sv_buf_release(&out);
}

static void test_render_small_registry(void **state)
{
	(void)state;
	struct sv_metrics *m;
	assert_int_equal(sv_metrics_new(&m), 0);
	struct sv_metric *frames =
	    sv_metrics_counter(m, "sipvault_frames_total", "Frames received", "type", "customer");
	struct sv_metric *sessions =
	    sv_metrics_gauge(m, "sipvault_sessions", "Calls by state", "state", NULL);
	struct sv_metric *segs =
	    sv_metrics_gauge(m, "sipvault_journal_segments", "Journal segments", NULL, NULL);
	struct sv_metric *empty =
	    sv_metrics_counter(m, "sipvault_drops_total", "Dropped input", "reason", NULL);
	assert_non_null(frames);
	assert_non_null(sessions);
	assert_non_null(segs);
	assert_non_null(empty);

	assert_int_equal(sv_metric_add(frames, 1, "DATA_SIP", "acme"), 0);
	assert_int_equal(sv_metric_add(frames, 2, "DATA_RTCP", "acme"), 0);
	assert_int_equal(sv_metric_add(frames, 1, "DATA_SIP", "acme"), 0);
	assert_int_equal(sv_metric_add(frames, 5, "DATA_SIP", "globex"), 0);
	assert_int_equal(sv_metric_set(sessions, 3, "active", "ignored"), 0);
	assert_int_equal(sv_metric_set(sessions, 0.5, "closing", NULL), 0);
	assert_int_equal(sv_metric_add(sessions, -1, "active", NULL), 0);

	render_equal(m, "# HELP sipvault_frames_total Frames received\n"
	                "# TYPE sipvault_frames_total counter\n"
	                "sipvault_frames_total{type=\"DATA_SIP\",customer=\"acme\"} 2\n"
	                "sipvault_frames_total{type=\"DATA_RTCP\",customer=\"acme\"} 2\n"
	                "sipvault_frames_total{type=\"DATA_SIP\",customer=\"globex\"} 5\n"
	                "# HELP sipvault_sessions Calls by state\n"
	                "# TYPE sipvault_sessions gauge\n"
	                "sipvault_sessions{state=\"active\"} 2\n"
	                "sipvault_sessions{state=\"closing\"} 0.5\n"
	                "# HELP sipvault_journal_segments Journal segments\n"
	                "# TYPE sipvault_journal_segments gauge\n"
	                "sipvault_journal_segments 0\n"
	                "# HELP sipvault_drops_total Dropped input\n"
	                "# TYPE sipvault_drops_total counter\n");

	assert_int_equal(sv_metric_set(segs, 7, NULL, NULL), 0);
	assert_int_equal(sv_metric_add(empty, 1, NULL, NULL), 0); /* NULL reads as "" */
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(sv_buf_append_str(&out, "prefix\n"), 0);
	assert_int_equal(sv_metrics_render(m, &out), 0);
	assert_memory_equal(out.data, "prefix\n# HELP", 13);
	assert_non_null(strstr((char *)out.data, "\nsipvault_journal_segments 7\n"));
	assert_non_null(strstr((char *)out.data, "\nsipvault_drops_total{reason=\"\"} 1\n"));
	sv_buf_release(&out);
	sv_metrics_free(m);
}

static void test_escaping(void **state)
{
	(void)state;
	struct sv_metrics *m;
	assert_int_equal(sv_metrics_new(&m), 0);
	struct sv_metric *f =
	    sv_metrics_counter(m, "x_total", "a \\ back\nslash \"quoted\"", "a", "b");
	assert_non_null(f);
	assert_int_equal(sv_metric_add(f, 1, "q\"uo\\te\nnl", "plain{}=,"), 0);
	assert_int_equal(sv_metric_add(f, 1, "\\", "\"\n"), 0);
	render_equal(m, "# HELP x_total a \\\\ back\\nslash \"quoted\"\n"
	                "# TYPE x_total counter\n"
	                "x_total{a=\"q\\\"uo\\\\te\\nnl\",b=\"plain{}=,\"} 1\n"
	                "x_total{a=\"\\\\\",b=\"\\\"\\n\"} 1\n");
	sv_metrics_free(m);

	/* NULL help renders empty */
	assert_int_equal(sv_metrics_new(&m), 0);
	assert_non_null(sv_metrics_gauge(m, "g", NULL, NULL, NULL));
	render_equal(m, "# HELP g \n# TYPE g gauge\ng 0\n");
	sv_metrics_free(m);
}

static void test_get_add_set(void **state)
{
	(void)state;
	struct sv_metrics *m;
	assert_int_equal(sv_metrics_new(&m), 0);
	struct sv_metric *c = sv_metrics_counter(m, "c_total", "c", "customer", "type");
	struct sv_metric *g = sv_metrics_gauge(m, "g", "g", "k", NULL);
	assert_true(sv_metric_get(c, "acme", "SIP") == 0); /* absent */
	assert_int_equal(sv_metric_add(c, 3, "acme", "SIP"), 0);
	assert_int_equal(sv_metric_add(c, 4, "acme", "SIP"), 0);
	assert_true(sv_metric_get(c, "acme", "SIP") == 7);
	assert_true(sv_metric_get(c, "acme", "RTCP") == 0);
	/* ("a","bc") and ("ab","c") are different series */
	assert_int_equal(sv_metric_add(c, 1, "a", "bc"), 0);
	assert_int_equal(sv_metric_add(c, 2, "ab", "c"), 0);
	assert_true(sv_metric_get(c, "a", "bc") == 1);
	assert_true(sv_metric_get(c, "ab", "c") == 2);
	/* counters only go up */
	assert_int_equal(sv_metric_add(c, -1, "acme", "SIP"), -EINVAL);
	assert_int_equal(sv_metric_add(c, NAN, "acme", "SIP"), -EINVAL);
	assert_true(sv_metric_get(c, "acme", "SIP") == 7);
	/* set mirrors a count kept elsewhere */
	assert_int_equal(sv_metric_set(c, 100, "acme", "SIP"), 0);
	assert_true(sv_metric_get(c, "acme", "SIP") == 100);
	/* gauges go both ways; extra label values are ignored */
	assert_int_equal(sv_metric_add(g, 5, "x", "extra"), 0);
	assert_int_equal(sv_metric_add(g, -7.5, "x", NULL), 0);
	assert_true(sv_metric_get(g, "x", "other") == -2.5);
	assert_int_equal(sv_metric_set(g, 42, "x", NULL), 0);
	assert_true(sv_metric_get(g, "x", NULL) == 42);
	/* NULL family: refused, never a crash */
	assert_int_equal(sv_metric_add(NULL, 1, "a", "b"), -EINVAL);
	assert_int_equal(sv_metric_set(NULL, 1, "a", "b"), -EINVAL);
	assert_true(sv_metric_get(NULL, "a", "b") == 0);

	/* many series: the table grows and every one stays reachable */
	for (int i = 0; i < 3000; i++) {
		char cust[32], type[32];
		snprintf(cust, sizeof(cust), "cust%d", i % 300);
		snprintf(type, sizeof(type), "type%d", i / 300);
		assert_int_equal(sv_metric_add(c, i + 1, cust, type), 0);
	}
	for (int i = 0; i < 3000; i++) {
		char cust[32], type[32];
		snprintf(cust, sizeof(cust), "cust%d", i % 300);
		snprintf(type, sizeof(type), "type%d", i / 300);
		if (sv_metric_get(c, cust, type) != i + 1)
			fail_msg("series %s/%s lost", cust, type);
	}
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(sv_metrics_render(m, &out), 0);
	/* creation order kept */
	const char *first = strstr((char *)out.data, "customer=\"cust0\",type=\"type0\"} 1\n");
	const char *last = strstr((char *)out.data, "customer=\"cust299\",type=\"type9\"} 3000\n");
	assert_non_null(first);
	assert_non_null(last);
	assert_true(first < last);
	sv_buf_release(&out);
	sv_metrics_free(m);
	sv_metrics_free(NULL);
}

static void test_number_format(void **state)
{
	(void)state;
	struct sv_metrics *m;
	assert_int_equal(sv_metrics_new(&m), 0);
	struct sv_metric *g = sv_metrics_gauge(m, "v", "h", "n", NULL);
	struct sv_metric *c = sv_metrics_counter(m, "bytes_total", "h", NULL, NULL);
	assert_int_equal(sv_metric_set(g, 12345678901.0, "big", NULL), 0);
	assert_int_equal(sv_metric_set(g, -42, "neg", NULL), 0);
	assert_int_equal(sv_metric_set(g, -0.0, "negzero", NULL), 0);
	assert_int_equal(sv_metric_set(g, 0.1, "tenth", NULL), 0);
	assert_int_equal(sv_metric_set(g, 1e20, "huge", NULL), 0);
	assert_int_equal(sv_metric_set(g, 9007199254740992.0, "p53", NULL), 0);
	assert_int_equal(sv_metric_set(g, NAN, "nan", NULL), 0);
	assert_int_equal(sv_metric_set(g, INFINITY, "inf", NULL), 0);
	assert_int_equal(sv_metric_set(g, -INFINITY, "minf", NULL), 0);
	assert_int_equal(sv_metric_set(g, 1.5e-7, "small", NULL), 0);
	/* a byte counter past 2^32 by adding */
	for (int i = 0; i < 5; i++)
		assert_int_equal(sv_metric_add(c, 4294967296.0, NULL, NULL), 0);
	render_equal(m, "# HELP v h\n# TYPE v gauge\n"
	                "v{n=\"big\"} 12345678901\n"
	                "v{n=\"neg\"} -42\n"
	                "v{n=\"negzero\"} 0\n"
	                "v{n=\"tenth\"} 0.10000000000000001\n"
	                "v{n=\"huge\"} 1e+20\n"
	                "v{n=\"p53\"} 9007199254740992\n"
	                "v{n=\"nan\"} NaN\n"
	                "v{n=\"inf\"} +Inf\n"
	                "v{n=\"minf\"} -Inf\n"
	                "v{n=\"small\"} 1.4999999999999999e-07\n"
	                "# HELP bytes_total h\n# TYPE bytes_total counter\n"
	                "bytes_total 21474836480\n");
	sv_metrics_free(m);
}

static void test_invalid_names(void **state)
{
	(void)state;
	struct sv_metrics *m;
	assert_int_equal(sv_metrics_new(&m), 0);
	static const char *const bad[] = {"", "1abc", "a-b", "a b", "a.b", "é", "a\nb", "a{b}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sv_metrics_counter(m, bad[i], "h", NULL, NULL) != NULL)
			fail_msg("name \"%s\" accepted", bad[i]);
	}
	assert_null(sv_metrics_counter(m, NULL, "h", NULL, NULL));
	assert_null(sv_metrics_gauge(NULL, "ok", "h", NULL, NULL));
	static const char *const good[] = {"a",      "_a", ":a",
	                                   "a:b_c9", "Z0", "sipvault_frames_total"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_non_null(sv_metrics_gauge(m, good[i], "h", NULL, NULL));
	/* labels: no colon, no reserved "__" prefix, no duplicates, no gap */
	assert_null(sv_metrics_counter(m, "l1", "h", "a:b", NULL));
	assert_null(sv_metrics_counter(m, "l2", "h", "__name", NULL));
	assert_null(sv_metrics_counter(m, "l3", "h", "9x", NULL));
	assert_null(sv_metrics_counter(m, "l4", "h", "x", "x"));
	assert_null(sv_metrics_counter(m, "l5", "h", NULL, "x"));
	assert_null(sv_metrics_counter(m, "l6", "h", "", NULL));
	assert_non_null(sv_metrics_counter(m, "l7", "h", "_x", "y9"));
	/* a name declared twice */
	assert_null(sv_metrics_counter(m, "a", "again", NULL, NULL));
	assert_null(sv_metrics_gauge(m, "l7", "again", NULL, NULL));
	/* the refused declarations left nothing behind */
	struct sv_buf out;
	sv_buf_init(&out);
	assert_int_equal(sv_metrics_render(m, &out), 0);
	assert_null(strstr((char *)out.data, "l1"));
	assert_null(strstr((char *)out.data, "again"));
	assert_non_null(strstr((char *)out.data, "# TYPE l7 counter\n"));
	sv_buf_release(&out);
	assert_int_equal(sv_metrics_render(NULL, &out), -EINVAL);
	sv_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_small_registry), cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_get_add_set),           cmocka_unit_test(test_number_format),
	    cmocka_unit_test(test_invalid_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
