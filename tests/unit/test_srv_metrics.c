/*
 * test_srv_metrics.c - the server's metrics table (src/server/srv_metrics.c,
 * compiled into this test by CMake): the exposition at start-up is exactly
 * what the server has always rendered (family names, help, types, fixed
 * series, in order — integration tests and dashboards scrape them), and
 * values come from the counters where they are kept, with no copy. No
 * sockets: srv_open_sockets is a stub.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "srv.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t srv_now(const struct srv *s)
{
	return 1764151205000000000ull;
}

int srv_open_sockets(const struct sv_conf_addr *addr, int type, int fds[2], char *err,
                     size_t errlen)
{
	return -EINVAL;
}

static void no_log(void *arg, const struct sv_call_ref *call, unsigned chunk, size_t lines,
                   struct sv_buf *gz)
{
}

static void no_complete(void *arg, const struct sv_call_ref *call, struct sv_call_objects *o)
{
	sv_call_objects_release(o);
}

/* What a fresh server rendered before the table (an empty journal and no
 * customer yet): the baseline scrape, every family in order. */
static const char start_text[] =
    "# HELP sipvault_frames_total Agent frames received, by type and customer\n"
    "# TYPE sipvault_frames_total counter\n"
    "# HELP sipvault_frame_bytes_total Agent frame bytes received (header included)\n"
    "# TYPE sipvault_frame_bytes_total counter\n"
    "# HELP sipvault_sessions Calls by state (complete: remembered tombstones)\n"
    "# TYPE sipvault_sessions gauge\n"
    "sipvault_sessions{state=\"pending\"} 0\n"
    "sipvault_sessions{state=\"active\"} 0\n"
    "sipvault_sessions{state=\"closing\"} 0\n"
    "sipvault_sessions{state=\"complete\"} 0\n"
    "# HELP sipvault_calls_completed_total Calls whose objects were all written\n"
    "# TYPE sipvault_calls_completed_total counter\n"
    "# HELP sipvault_objects_written_total Objects written to the object store\n"
    "# TYPE sipvault_objects_written_total counter\n"
    "sipvault_objects_written_total{object=\"sip\"} 0\n"
    "sipvault_objects_written_total{object=\"rtcp\"} 0\n"
    "sipvault_objects_written_total{object=\"quality\"} 0\n"
    "sipvault_objects_written_total{object=\"log\"} 0\n"
    "# HELP sipvault_object_errors_total Object writes that failed (retried)\n"
    "# TYPE sipvault_object_errors_total counter\n"
    "sipvault_object_errors_total{object=\"sip\"} 0\n"
    "sipvault_object_errors_total{object=\"rtcp\"} 0\n"
    "sipvault_object_errors_total{object=\"quality\"} 0\n"
    "sipvault_object_errors_total{object=\"log\"} 0\n"
    "# HELP sipvault_drops_total Frames, packets or reports not attached to a call\n"
    "# TYPE sipvault_drops_total counter\n"
    "sipvault_drops_total{reason=\"not_call\"} 0\n"
    "sipvault_drops_total{reason=\"late\"} 0\n"
    "sipvault_drops_total{reason=\"no_call\"} 0\n"
    "sipvault_drops_total{reason=\"duplicate\"} 0\n"
    "sipvault_drops_total{reason=\"malformed_sip\"} 0\n"
    "sipvault_drops_total{reason=\"malformed_rtcp\"} 0\n"
    "sipvault_drops_total{reason=\"malformed_frame\"} 0\n"
    "sipvault_drops_total{reason=\"hep_unattributed\"} 0\n"
    "sipvault_drops_total{reason=\"hep_malformed\"} 0\n"
    "sipvault_drops_total{reason=\"hep_unsupported_type\"} 0\n"
    "sipvault_drops_total{reason=\"unknown_frame_type\"} 0\n"
    "sipvault_drops_total{reason=\"auth_failed\"} 0\n"
    "sipvault_drops_total{reason=\"protocol_error\"} 0\n"
    "sipvault_drops_total{reason=\"rtcp_unknown_direction\"} 0\n"
    "# HELP sipvault_agents_connected Authenticated agent connections\n"
    "# TYPE sipvault_agents_connected gauge\n"
    "# HELP sipvault_agent_connections Open agent TCP connections (authenticated or not)\n"
    "# TYPE sipvault_agent_connections gauge\n"
    "sipvault_agent_connections 0\n"
    "# HELP sipvault_journal_segments Journal segment files\n"
    "# TYPE sipvault_journal_segments gauge\n"
    "sipvault_journal_segments 0\n"
    "# HELP sipvault_journal_bytes Journal bytes on disk\n"
    "# TYPE sipvault_journal_bytes gauge\n"
    "sipvault_journal_bytes 0\n"
    "# HELP sipvault_hep_packets_total HEP packets by result\n"
    "# TYPE sipvault_hep_packets_total counter\n"
    "sipvault_hep_packets_total{result=\"stored\"} 0\n"
    "sipvault_hep_packets_total{result=\"no_call\"} 0\n"
    "sipvault_hep_packets_total{result=\"duplicate\"} 0\n"
    "sipvault_hep_packets_total{result=\"late\"} 0\n"
    "sipvault_hep_packets_total{result=\"malformed\"} 0\n"
    "sipvault_hep_packets_total{result=\"unattributed\"} 0\n"
    "sipvault_hep_packets_total{result=\"unsupported_type\"} 0\n"
    "# HELP sipvault_sessions_bytes Approximate memory held by live calls\n"
    "# TYPE sipvault_sessions_bytes gauge\n"
    "sipvault_sessions_bytes 0\n"
    "# HELP sipvault_spool_objects Objects in the S3 spool not yet confirmed by S3\n"
    "# TYPE sipvault_spool_objects gauge\n"
    "sipvault_spool_objects 0\n"
    "# HELP sipvault_spool_bytes Payload bytes of the objects in the S3 spool\n"
    "# TYPE sipvault_spool_bytes gauge\n"
    "sipvault_spool_bytes 0\n"
    "# HELP sipvault_spool_oldest_seconds Age of the oldest object in the S3 spool (0: empty)\n"
    "# TYPE sipvault_spool_oldest_seconds gauge\n"
    "sipvault_spool_oldest_seconds 0\n"
    "# HELP sipvault_s3_errors_total Failed S3 upload attempts (each is retried)\n"
    "# TYPE sipvault_s3_errors_total counter\n"
    "# HELP sipvault_s3_uploads_total Objects uploaded to S3 and removed from the spool\n"
    "# TYPE sipvault_s3_uploads_total counter\n"
    "sipvault_s3_uploads_total 0\n"
    "# HELP sipvault_s3_bucket_ok Start-up bucket check: 1 ok, 0 failed (see the log)\n"
    "# TYPE sipvault_s3_bucket_ok gauge\n";

static void setup_srv(struct srv *s)
{
	struct sv_session_limits lim = {300000000000ull, 1800000000000ull, 5000000000ull,
	                                60000000000ull, 0};
	struct sv_session_hooks hooks = {.log_chunk = no_log, .complete = no_complete};

	memset(s, 0, sizeof(*s));
	SLIST_INIT(&s->cstats);
	assert_int_equal(sv_sessions_new(&lim, &hooks, &s->sessions), 0);
	assert_int_equal(srv_metrics_init(s), 0);
}

static void release_srv(struct srv *s)
{
	struct srv_cstats *c;

	while ((c = SLIST_FIRST(&s->cstats)) != NULL) {
		SLIST_REMOVE_HEAD(&s->cstats, link);
		free(c);
	}
	srv_metrics_release(s);
	sv_sessions_free(s->sessions);
}

static void render(struct srv *s, struct sv_buf *out)
{
	sv_buf_reset(out);
	srv_metrics_update(s);
	assert_int_equal(sv_metrics_render(s->metrics, out), 0);
}

static double get(struct srv *s, const char *name, const char *l1, const char *l2)
{
	struct sv_metric *f = sv_metrics_find(s->metrics, name);
	assert_non_null(f);
	return sv_metric_get(f, l1, l2);
}

static void test_start_exposition_unchanged(void **state)
{
	struct srv s;
	struct sv_buf b;

	setup_srv(&s);
	sv_buf_init(&b);
	render(&s, &b);
	assert_string_equal((const char *)b.data, start_text);
	sv_buf_release(&b);
	release_srv(&s);
}

static struct srv_cstats *customer(struct srv *s, const char *id)
{
	struct srv_cstats *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	snprintf(c->id, sizeof(c->id), "%s", id);
	SLIST_INSERT_HEAD(&s->cstats, c, link);
	return c;
}

static void test_values_read_from_counters(void **state)
{
	struct srv s;
	struct sv_buf b;

	setup_srv(&s);
	sv_buf_init(&b);
	struct srv_cstats *acme = customer(&s, "acme");
	acme->frames[SV_WIRE_DATA_SIP] = 5;
	acme->bytes[SV_WIRE_DATA_SIP] = 1234;
	acme->frames[SRV_FTYPES - 1] = 1;
	acme->agents = 2;
	s.drops[SRV_DROP_LATE] = 3;
	s.hep[SRV_HEP_STORED] = 7;
	s.obj_ok[SRV_OBJ_QUALITY] = 9;
	s.obj_err[SRV_OBJ_LOG] = 1;
	s.nconns = 4;
	render(&s, &b);
	assert_true(get(&s, "sipvault_frames_total", "DATA_SIP", "acme") == 5);
	assert_true(get(&s, "sipvault_frames_total", "UNKNOWN", "acme") == 1);
	assert_true(get(&s, "sipvault_frame_bytes_total", "DATA_SIP", "acme") == 1234);
	assert_true(get(&s, "sipvault_agents_connected", "acme", NULL) == 2);
	assert_true(get(&s, "sipvault_drops_total", "late", NULL) == 3);
	assert_true(get(&s, "sipvault_hep_packets_total", "stored", NULL) == 7);
	assert_true(get(&s, "sipvault_objects_written_total", "quality", NULL) == 9);
	assert_true(get(&s, "sipvault_object_errors_total", "log", NULL) == 1);
	assert_true(get(&s, "sipvault_agent_connections", NULL, NULL) == 4);
	/* a customer's counter series appear once non-zero, its gauges at once */
	assert_non_null(strstr((const char *)b.data,
	                       "sipvault_frames_total{type=\"DATA_SIP\",customer=\"acme\"} 5\n"));
	assert_null(strstr((const char *)b.data, "{type=\"DATA_LOG\",customer=\"acme\"}"));
	assert_null(strstr((const char *)b.data, "sipvault_calls_completed_total{"));
	assert_non_null(
	    strstr((const char *)b.data, "sipvault_agents_connected{customer=\"acme\"} 2\n"));
	/* counters only grow where they are kept; the next scrape follows */
	acme->completed = 1;
	s.drops[SRV_DROP_LATE] = 10;
	acme->agents = 0;
	render(&s, &b);
	assert_non_null(
	    strstr((const char *)b.data, "sipvault_calls_completed_total{customer=\"acme\"} 1\n"));
	assert_true(get(&s, "sipvault_drops_total", "late", NULL) == 10);
	assert_true(get(&s, "sipvault_agents_connected", "acme", NULL) == 0);
	/* set when it happens */
	srv_metrics_bucket_checked(&s, "acme", "acme-calls", true);
	render(&s, &b);
	assert_non_null(
	    strstr((const char *)b.data,
	           "sipvault_s3_bucket_ok{customer=\"acme\",bucket=\"acme-calls\"} 1\n"));
	sv_buf_release(&b);
	release_srv(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_exposition_unchanged),
	    cmocka_unit_test(test_values_read_from_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
