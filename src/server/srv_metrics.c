/*
 * srv_metrics.c - the collector's metrics, driven by one table, and the
 * /metrics endpoint (SIPVAULT_METRICS_LISTEN).
 *
 * Every family is one row of `table` below: name, type, help, label names,
 * and where its value lives — a uint64_t (or an array of them, one series
 * per index) in struct srv, in struct srv_cstats (one series per customer),
 * or in a snapshot of the library's statistics taken when /metrics is
 * scraped. Counters are kept where things happen (s->drops[...]++) and only
 * copied into the families at scrape time: there is no second, "already
 * reported" copy of any counter. Adding a metric is adding a row (and the
 * counter it reads).
 *
 * Series of fixed label sets (drop reasons, HEP results, object kinds, call
 * states) exist from the start; per-customer counter series appear once
 * non-zero, per-customer gauges with the customer.
 */
#include "srv.h"

#include "base/log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* What library statistics are read into, once per scrape. */
struct snap {
	struct sv_session_stats st;
	struct sv_journal_stats js;
	struct sv_s3store_stats ss; /* zeros with the local store */
	double spool_age;
};

enum src {
	FROM_SRV,      /* a uint64_t at off in struct srv */
	FROM_SNAP,     /* a uint64_t (or a double, f64) at off in struct snap */
	FROM_CUSTOMER, /* a uint64_t at off in struct srv_cstats; last label: customer */
	FROM_BUCKETS,  /* the S3 store's per-bucket error counts; label: bucket */
	FROM_EVENT,    /* set when it happens (srv_metrics_bucket_checked) */
};

struct row {
	const char *name;
	bool counter;
	const char *help;
	const char *label, *label2;
	enum src src;
	size_t off;
	size_t n; /* 0: one value; else an array of n, series label_of(i) */
	const char *(*label_of)(size_t i);
	bool f64;
};

static const char *const drop_label[SRV_DROP_N] = {
    "not_call",
    "late",
    "no_call",
    "duplicate",
    "malformed_sip",
    "malformed_rtcp",
    "malformed_frame",
    "hep_unattributed",
    "hep_malformed",
    "hep_unsupported_type",
    "unknown_frame_type",
    "auth_failed",
    "protocol_error",
    "rtcp_unknown_direction",
};

static const char *const hep_label[SRV_HEP_N] = {
    "stored", "no_call", "duplicate", "late", "malformed", "unattributed", "unsupported_type",
};

static const char *const obj_label[SRV_OBJ_N] = {"sip", "rtcp", "quality", "log"};

static const char *drop_name(size_t i)
{
	return drop_label[i];
}

static const char *hep_name(size_t i)
{
	return hep_label[i];
}

static const char *obj_name(size_t i)
{
	return obj_label[i];
}

static const char *state_name(size_t i)
{
	return sv_call_state_name((enum sv_call_state)i);
}

static const char *ftype_name(size_t t)
{
	return t < SRV_FTYPES - 1 ? sv_wire_type_name((uint8_t)t) : "UNKNOWN";
}

#define SRV(field)  .src = FROM_SRV, .off = offsetof(struct srv, field)
#define SNAP(field) .src = FROM_SNAP, .off = offsetof(struct snap, field)
#define CUST(field) .src = FROM_CUSTOMER, .off = offsetof(struct srv_cstats, field)
#define PER(nn, fn) .n = (nn), .label_of = (fn)

/* The families, in the order they are rendered. */
static const struct row table[] = {
    {.name = "sipvault_frames_total",
     .counter = true,
     .help = "Agent frames received, by type and customer",
     .label = "type",
     .label2 = "customer",
     CUST(frames),
     PER(SRV_FTYPES, ftype_name)},
    {.name = "sipvault_frame_bytes_total",
     .counter = true,
     .help = "Agent frame bytes received (header included)",
     .label = "type",
     .label2 = "customer",
     CUST(bytes),
     PER(SRV_FTYPES, ftype_name)},
    {.name = "sipvault_sessions",
     .help = "Calls by state (complete: remembered tombstones)",
     .label = "state",
     SNAP(st.calls),
     PER(SV_CALL_NSTATES, state_name)},
    {.name = "sipvault_calls_completed_total",
     .counter = true,
     .help = "Calls whose objects were all written",
     .label = "customer",
     CUST(completed)},
    {.name = "sipvault_objects_written_total",
     .counter = true,
     .help = "Objects written to the object store",
     .label = "object",
     SRV(obj_ok),
     PER(SRV_OBJ_N, obj_name)},
    {.name = "sipvault_object_errors_total",
     .counter = true,
     .help = "Object writes that failed (retried)",
     .label = "object",
     SRV(obj_err),
     PER(SRV_OBJ_N, obj_name)},
    {.name = "sipvault_drops_total",
     .counter = true,
     .help = "Frames, packets or reports not attached to a call",
     .label = "reason",
     SRV(drops),
     PER(SRV_DROP_N, drop_name)},
    {.name = "sipvault_agents_connected",
     .help = "Authenticated agent connections",
     .label = "customer",
     CUST(agents)},
    {.name = "sipvault_agent_connections",
     .help = "Open agent TCP connections (authenticated or not)",
     SRV(nconns)},
    {.name = "sipvault_journal_segments", .help = "Journal segment files", SNAP(js.segments)},
    {.name = "sipvault_journal_bytes", .help = "Journal bytes on disk", SNAP(js.bytes)},
    {.name = "sipvault_hep_packets_total",
     .counter = true,
     .help = "HEP packets by result",
     .label = "result",
     SRV(hep),
     PER(SRV_HEP_N, hep_name)},
    {.name = "sipvault_sessions_bytes",
     .help = "Approximate memory held by live calls",
     SNAP(st.bytes_held)},
    {.name = "sipvault_spool_objects",
     .help = "Objects in the S3 spool not yet confirmed by S3",
     SNAP(ss.spool_objects)},
    {.name = "sipvault_spool_bytes",
     .help = "Payload bytes of the objects in the S3 spool",
     SNAP(ss.spool_bytes)},
    {.name = "sipvault_spool_oldest_seconds",
     .help = "Age of the oldest object in the S3 spool (0: empty)",
     SNAP(spool_age),
     .f64 = true},
    {.name = "sipvault_s3_errors_total",
     .counter = true,
     .help = "Failed S3 upload attempts (each is retried)",
     .label = "bucket",
     .src = FROM_BUCKETS},
    {.name = "sipvault_s3_uploads_total",
     .counter = true,
     .help = "Objects uploaded to S3 and removed from the spool",
     SNAP(ss.uploads_ok)},
    {.name = "sipvault_s3_bucket_ok",
     .help = "Start-up bucket check: 1 ok, 0 failed (see the log)",
     .label = "customer",
     .label2 = "bucket",
     .src = FROM_EVENT},
};

#define NROWS (sizeof(table) / sizeof(table[0]))

int srv_metrics_init(struct srv *s)
{
	if (sv_metrics_new(&s->metrics) != 0)
		return -ENOMEM;
	for (size_t r = 0; r < NROWS; r++) {
		const struct row *w = &table[r];
		struct sv_metric *f =
		    w->counter
		        ? sv_metrics_counter(s->metrics, w->name, w->help, w->label, w->label2)
		        : sv_metrics_gauge(s->metrics, w->name, w->help, w->label, w->label2);
		if (f == NULL)
			return -ENOMEM;
		/* Every series that has a fixed label set exists from the start. */
		if (w->src == FROM_SRV || w->src == FROM_SNAP)
			for (size_t i = 0; i < w->n; i++)
				if (sv_metric_set(f, 0, w->label_of(i), NULL) != 0)
					return -ENOMEM;
	}
	return 0;
}

static double read_u64(const void *base, size_t off, size_t i)
{
	const uint64_t *p = (const uint64_t *)(const void *)((const char *)base + off);

	return (double)p[i];
}

static void update_row(struct srv *s, const struct row *w, struct sv_metric *f,
                       const struct snap *sn)
{
	const void *base = w->src == FROM_SRV ? (const void *)s : (const void *)sn;
	struct srv_cstats *c;

	switch (w->src) {
	case FROM_SRV:
	case FROM_SNAP:
		if (w->f64)
			(void)sv_metric_set(
			    f, *(const double *)(const void *)((const char *)base + w->off), NULL,
			    NULL);
		else if (w->n == 0)
			(void)sv_metric_set(f, read_u64(base, w->off, 0), NULL, NULL);
		for (size_t i = 0; i < w->n; i++)
			(void)sv_metric_set(f, read_u64(base, w->off, i), w->label_of(i), NULL);
		break;
	case FROM_CUSTOMER:
		SLIST_FOREACH(c, &s->cstats, link)
		{
			for (size_t i = 0; i < (w->n ? w->n : 1); i++) {
				double v = read_u64(c, w->off, i);
				/* a customer's counter series appears once non-zero */
				if (w->counter && v == 0)
					continue;
				if (w->n == 0)
					(void)sv_metric_set(f, v, c->id, NULL);
				else
					(void)sv_metric_set(f, v, w->label_of(i), c->id);
			}
		}
		break;
	case FROM_BUCKETS:
		if (s->s3store != NULL) {
			struct sv_s3store_bucket_stats bs;
			for (size_t i = 0; i < sv_s3store_bucket_count(s->s3store); i++)
				if (sv_s3store_bucket(s->s3store, i, &bs) == 0)
					(void)sv_metric_set(f, (double)bs.errors, bs.bucket, NULL);
		}
		break;
	case FROM_EVENT:
		break;
	}
}

void srv_metrics_update(struct srv *s)
{
	struct snap sn;

	memset(&sn, 0, sizeof(sn));
	sv_sessions_stats(s->sessions, &sn.st);
	sv_journal_stats(s->journal, &sn.js);
	if (s->s3store != NULL) {
		sv_s3store_stats(s->s3store, &sn.ss);
		sn.spool_age = sv_s3store_oldest_age(s->s3store, (int64_t)srv_now(s));
	}
	/* the engine counts these; they are one of the drop reasons */
	s->drops[SRV_DROP_RTCP_UNKNOWN_DIR] = sn.st.rtcp_unknown_direction;
	for (size_t r = 0; r < NROWS; r++)
		update_row(s, &table[r], sv_metrics_find(s->metrics, table[r].name), &sn);
}

void srv_metrics_bucket_checked(struct srv *s, const char *customer, const char *bucket, bool ok)
{
	(void)sv_metric_set(sv_metrics_find(s->metrics, "sipvault_s3_bucket_ok"), ok ? 1 : 0,
	                    customer, bucket);
}

/* ------------------------------------------------------------ endpoint */

static void http_cb(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *out;
	struct sv_buf text;

	if (uri == NULL || (strcmp(uri, "/metrics") != 0 && strncmp(uri, "/metrics?", 9) != 0)) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	srv_metrics_update(s);
	sv_buf_init(&text);
	out = evbuffer_new();
	if (out == NULL || sv_metrics_render(s->metrics, &text) != 0 ||
	    evbuffer_add(out, text.data, text.len) != 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
	} else {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                  "text/plain; version=0.0.4; charset=utf-8");
		evhttp_send_reply(req, HTTP_OK, "OK", out);
	}
	if (out != NULL)
		evbuffer_free(out);
	sv_buf_release(&text);
}

int srv_metrics_listen(struct srv *s, char *err, size_t errlen)
{
	int fds[2], n;

	if (!s->conf->metrics_listen.enabled)
		return 0;
	s->http = evhttp_new(s->base);
	if (s->http == NULL) {
		snprintf(err, errlen, "cannot create the metrics HTTP server");
		return -ENOMEM;
	}
	evhttp_set_gencb(s->http, http_cb, s);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_timeout(s->http, 30);
	n = srv_open_sockets(&s->conf->metrics_listen, SOCK_STREAM, fds, err, errlen);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if (evhttp_accept_socket_with_handle(s->http, fds[i]) == NULL) {
			snprintf(err, errlen, "cannot serve metrics");
			for (int j = i; j < n; j++)
				close(fds[j]);
			return -ENOMEM;
		}
	}
	return 0;
}

void srv_metrics_release(struct srv *s)
{
	if (s->http != NULL)
		evhttp_free(s->http);
	s->http = NULL;
	sv_metrics_free(s->metrics);
	s->metrics = NULL;
}
