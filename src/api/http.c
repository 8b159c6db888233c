/*
 * http.c - sipvault-api's HTTP server: routing, signed-link checks, the call
 * endpoints, /health and /metrics. Callbacks stay thin: the pure parts live
 * in the library (call/deeplink, call/ladder), object access in vault.c.
 */
#include "api.h"
#include "chat.h"
#include "vault.h"

#include "store/customers.h"
#include "base/errors.h"
#include "base/gz.h"
#include "base/log.h"
#include "base/metrics.h"
#include "call/callkey.h"
#include "call/deeplink.h"
#include "call/ladder.h"
#include "store/s3.h"
#include "store/sigv4.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

/* Latency histogram bounds, seconds. */
static const double lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBOUNDS (sizeof(lat_bounds) / sizeof(lat_bounds[0]))

struct api {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct api_settings set;
	struct sv_metrics *m;
	struct sv_metric *m_requests, *m_refused, *m_cache, *m_store, *m_cache_entries,
	    *m_cache_bytes, *m_chat;
	uint64_t lat_count[NBOUNDS + 1];
	double lat_sum;
	uint64_t lat_n;
	/* chat requests handed to the chat engine, waiting for their answer to
	 * complete (for metrics); a stream whose client vanished never completes,
	 * so what is left is freed with the API */
	TAILQ_HEAD(, chat_wait) chat_waits;
	size_t n_chat_waits;
};

struct chat_wait {
	TAILQ_ENTRY(chat_wait) link;
	struct api *a;
	uint64_t t0;
};
#define MAX_CHAT_WAITS 4096

/* One request in progress on a call endpoint. */
struct rq {
	struct api *a;
	struct evhttp_request *req;
	struct sv_dl_request dl;
	const struct sv_customer *cust;
	const char *label;
	uint64_t t0;
	struct vault_call *call;
	size_t next_obj;       /* logs, chat: next log chunk to read */
	struct sv_buf out;     /* response being built */
	struct sv_buf body;    /* chat: the request body */
	struct sv_buf quality; /* chat: quality.json */
	struct sv_buf ladder;  /* chat: compact ladder */
	struct sv_buf logs;    /* chat: log lines */
	unsigned line_no;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t now_s(const struct api *a)
{
	return a->set.now != NULL ? a->set.now() : (int64_t)time(NULL);
}

static void observe(struct api *a, const char *label, int code, uint64_t t0)
{
	double s = (double)(mono_ns() - t0) / 1e9;
	char st[16];
	size_t i;

	snprintf(st, sizeof(st), "%d", code);
	sv_metric_add(a->m_requests, 1, label, st);
	for (i = 0; i < NBOUNDS && s > lat_bounds[i]; i++)
		;
	a->lat_count[i]++;
	a->lat_sum += s;
	a->lat_n++;
}

static void send_body(struct evhttp_request *req, int code, const char *ctype, const void *data,
                      size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();
	const char *reason = code == 200   ? "OK"
	                     : code == 400 ? "Bad Request"
	                     : code == 401 ? "Unauthorized"
	                     : code == 404 ? "Not Found"
	                     : code == 405 ? "Method Not Allowed"
	                     : code == 413 ? "Payload Too Large"
	                                   : "Service Unavailable";

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (b == NULL || evbuffer_add(b, data, len) != 0) {
		evbuffer_free(b);
		evhttp_send_reply(req, 503, "Service Unavailable", NULL);
		return;
	}
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void send_error(struct api *a, struct evhttp_request *req, const char *label, uint64_t t0,
                       int code, const char *msg)
{
	char body[160];
	int n = snprintf(body, sizeof(body), "{\"error\": \"%s\"}\n", msg);

	observe(a, label, code, t0);
	send_body(req, code, "application/json", body, (size_t)n);
}

static void rq_free(struct rq *r)
{
	if (r == NULL)
		return;
	sv_dl_request_release(&r->dl);
	vault_call_drop(r->call);
	sv_buf_release(&r->out);
	sv_buf_release(&r->body);
	sv_buf_release(&r->quality);
	sv_buf_release(&r->ladder);
	sv_buf_release(&r->logs);
	free(r);
}

static void rq_error(struct rq *r, int code, const char *msg)
{
	send_error(r->a, r->req, r->label, r->t0, code, msg);
	rq_free(r);
}

/* The store failed: not the client's fault, and never a 500. */
static void rq_store_error(struct rq *r, int rc)
{
	if (rc == SV_E_NOTFOUND)
		rq_error(r, 404, "unknown call");
	else if (rc == -ENOMEM)
		rq_error(r, 503, "out of memory");
	else
		rq_error(r, 503, "object store unavailable");
}

static void rq_send_json(struct rq *r)
{
	observe(r->a, r->label, 200, r->t0);
	send_body(r->req, 200, "application/json", r->out.data, r->out.len);
	rq_free(r);
}

/* ------------------------------------------------------------ summary */

static int append_link_query(struct rq *r, struct sv_buf *out)
{
	int rc;

	if ((rc = sv_buf_append_str(out, "call_id=")) != 0 ||
	    (rc = sv_sigv4_uri_encode(r->dl.call_id, r->dl.call_id_len, 0, out)) != 0 ||
	    (rc = sv_buf_append_str(out, "&customer=")) != 0 ||
	    (rc = sv_sigv4_uri_encode(r->dl.customer, strlen(r->dl.customer), 0, out)) != 0 ||
	    (rc = sv_buf_printf(out, "&ts=%s&sig=%s", r->dl.ts, r->dl.sig)) != 0)
		return rc;
	if (r->dl.date != NULL)
		rc = sv_buf_printf(out, "&date=%s", r->dl.date);
	return rc;
}

/* The prefix of this API's own artifact URLs for this request (local store):
 * "{X-Forwarded-Prefix}/calls/artifacts/" and the link's query, made once. */
struct art_base {
	struct sv_buf prefix, query;
};

static int art_base_make(struct rq *r, struct art_base *ab)
{
	const char *prefix;
	int rc;

	sv_buf_init(&ab->prefix);
	sv_buf_init(&ab->query);
	if (r->a->set.s3 != NULL)
		return 0;
	/* relative to the API's root; behind nginx the dashboard's /api prefix, which
	 * nginx may announce as X-Forwarded-Prefix */
	prefix = evhttp_find_header(evhttp_request_get_input_headers(r->req), "X-Forwarded-Prefix");
	if (prefix == NULL || prefix[0] != '/' || strlen(prefix) > 64 ||
	    strspn(prefix, "/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
	        strlen(prefix))
		prefix = "";
	if ((rc = sv_buf_printf(&ab->prefix, "%s/calls/artifacts/", prefix)) != 0)
		return rc;
	if ((rc = sv_buf_append(&ab->query, "?", 1)) != 0)
		return rc;
	return append_link_query(r, &ab->query);
}

static void art_base_release(struct art_base *ab)
{
	sv_buf_release(&ab->prefix);
	sv_buf_release(&ab->query);
}

/* Where the client fetches an artifact: pre-signed on S3, else this API. */
static int artifact_url(struct rq *r, const struct art_base *ab, const char *name,
                        struct sv_buf *out)
{
	struct sv_buf url, key;
	int rc;

	if (r->a->set.s3 == NULL) {
		/* names are call_key object names: nothing to escape */
		if ((rc = sv_buf_append(out, "\"", 1)) != 0 ||
		    (rc = sv_buf_append(out, ab->prefix.data, ab->prefix.len)) != 0 ||
		    (rc = sv_buf_append_str(out, name)) != 0 ||
		    (rc = sv_buf_append(out, ab->query.data, ab->query.len)) != 0)
			return rc;
		return sv_buf_append(out, "\"", 1);
	}
	sv_buf_init(&url);
	sv_buf_init(&key);
	if ((rc = sv_buf_printf(&key, "%s%s", r->call->prefix, name)) == 0)
		rc = sv_s3_presign_get(r->a->set.s3, r->call->bucket, (const char *)key.data,
		                       now_s(r->a), API_PRESIGN_SECS, &url);
	if (rc == 0)
		rc = sv_ladder_json_string(out, (const char *)url.data, url.len);
	sv_buf_release(&url);
	sv_buf_release(&key);
	return rc;
}

static int summary_fields(struct sv_buf *out, const char *q, size_t qlen)
{
	static const char *const top[] = {"verdict", "audio_status", "degraded_leg", "source"};
	json_t *doc = json_loadb(q, qlen, 0, NULL), *s, *o;
	const char *k;
	json_t *val;
	char *txt;
	size_t i;
	int rc;

	if (doc == NULL || !json_is_object(doc)) {
		json_decref(doc);
		return 1;
	}
	s = json_object();
	if (s == NULL) {
		json_decref(doc);
		return -ENOMEM;
	}
	o = json_object_get(doc, "summary");
	if (json_is_object(o))
		json_object_foreach(o, k, val) json_object_set(s, k, val);
	for (i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		if ((val = json_object_get(doc, top[i])) != NULL)
			json_object_set(s, top[i], val);
	o = json_object_get(doc, "diagnostic");
	if (json_is_object(o) && (val = json_object_get(o, "probable_cause")) != NULL)
		json_object_set(s, "probable_cause", val);
	txt = json_dumps(s, JSON_COMPACT);
	rc = txt != NULL ? sv_buf_append_str(out, txt) : -ENOMEM;
	free(txt);
	json_decref(s);
	json_decref(doc);
	return rc;
}

/* "summary":...,"quality":... of a call: what never changes once it is complete. */
static int summary_body(struct sv_buf *o, const uint8_t *q, size_t qlen)
{
	size_t before;
	int rc, qok = 0;

	rc = sv_buf_append_str(o, ",\"summary\":");
	if (rc == 0 && q != NULL) {
		before = o->len;
		rc = summary_fields(o, (const char *)q, qlen);
		if (rc == 1) {
			o->len = before;
			rc = 0;
		} else if (rc == 0)
			qok = 1;
	}
	if (rc == 0 && !qok)
		rc = sv_buf_append_str(o, "null");
	if (rc == 0)
		rc = sv_buf_append_str(o, ",\"quality\":");
	if (rc == 0)
		rc = qok ? sv_buf_append(o, q, qlen) : sv_buf_append_str(o, "null");
	return rc;
}

static void summary_reply(struct rq *r, const uint8_t *q, size_t qlen)
{
	struct sv_buf *o = &r->out;
	struct vault_call *c = r->call;
	struct art_base ab;
	size_t i;
	int rc;

	rc = art_base_make(r, &ab);
	if (rc == 0)
		rc = sv_buf_reserve(o, 1024 + (c->have_rendered ? c->rendered.len : qlen) +
		                           c->nobjs * (ab.prefix.len + ab.query.len + 96));
	if (rc == 0)
		rc = sv_buf_append_str(o, "{\"call_id\":");
	if (rc == 0)
		rc = sv_ladder_json_string(o, r->dl.call_id, r->dl.call_id_len);
	if (rc == 0)
		rc = sv_buf_append_str(o, ",\"customer\":");
	if (rc == 0)
		rc = sv_ladder_json_string(o, r->dl.customer, strlen(r->dl.customer));
	if (rc == 0)
		rc = sv_buf_printf(o, ",\"date\":\"%04d-%02d-%02d\",\"complete\":%s", c->year,
		                   c->month, c->day, c->complete ? "true" : "false");
	if (rc == 0 && c->have_rendered) {
		rc = sv_buf_append(o, c->rendered.data, c->rendered.len);
	} else if (rc == 0) {
		size_t start = o->len;
		rc = summary_body(o, q, qlen);
		/* a complete call never changes: render this part once */
		if (rc == 0 && c->complete && q != NULL &&
		    sv_buf_append(&c->rendered, o->data + start, o->len - start) == 0)
			c->have_rendered = 1;
	}
	if (rc == 0)
		rc = sv_buf_append_str(o, ",\"artifacts\":[");
	for (i = 0; rc == 0 && i < c->nobjs; i++) {
		const struct vault_obj *ob = &c->objs[i];
		rc = sv_buf_printf(o, "%s{\"name\":\"%s\",\"size\":%llu,\"url\":", i ? "," : "",
		                   ob->name, (unsigned long long)ob->size);
		if (rc == 0)
			rc = artifact_url(r, &ab, ob->name, o);
		if (rc == 0)
			rc = sv_buf_append(o, "}", 1);
	}
	if (rc == 0)
		rc = sv_buf_append_str(o, "]}\n");
	art_base_release(&ab);
	if (rc != 0) {
		rq_error(r, 503, "out of memory");
		return;
	}
	rq_send_json(r);
}

static void summary_got_quality(void *arg, int rc, const uint8_t *data, size_t len)
{
	struct rq *r = arg;

	if (rc != 0 && rc != SV_E_NOTFOUND) {
		rq_store_error(r, rc);
		return;
	}
	summary_reply(r, rc == 0 ? data : NULL, rc == 0 ? len : 0);
}

/* ------------------------------------------------------------ sip */

static int ladder_from_gz(const uint8_t *data, size_t len, struct sv_ladder *l)
{
	struct sv_buf pcap;
	int rc;

	sv_buf_init(&pcap);
	rc = sv_gz_decompress(data, len, API_MAX_PCAP_BYTES, &pcap);
	if (rc == 0) {
		rc = sv_ladder_read_pcap(l, pcap.data, pcap.len);
		if (rc == SV_E_PARSE)
			rc = 0; /* a damaged capture: the messages before the damage */
	}
	sv_buf_release(&pcap);
	return rc;
}

static void sip_got_pcap(void *arg, int rc, const uint8_t *data, size_t len)
{
	struct rq *r = arg;
	struct sv_ladder l;

	if (rc == SV_E_NOTFOUND) {
		sv_buf_append_str(&r->out, "[]\n");
		rq_send_json(r);
		return;
	}
	if (rc != 0) {
		rq_store_error(r, rc);
		return;
	}
	sv_ladder_init(&l);
	rc = ladder_from_gz(data, len, &l);
	if (rc == 0)
		rc = sv_ladder_json(&l, &r->out);
	if (rc == 0)
		rc = sv_buf_append(&r->out, "\n", 1);
	sv_ladder_release(&l);
	if (rc == -ENOMEM) {
		rq_error(r, 503, "out of memory");
		return;
	}
	if (rc != 0) {
		sv_buf_reset(&r->out);
		sv_buf_append_str(&r->out, "[]\n");
	}
	rq_send_json(r);
}

/* ------------------------------------------------------------ logs */

static void logs_next(struct rq *r);

/* Appends the lines of one chunk as JSON objects (to out) or text (chat). */
static int log_lines(struct rq *r, unsigned chunk, const uint8_t *gz, size_t len, int chat)
{
	struct sv_buf txt;
	size_t i = 0, line = 0;
	int rc;

	sv_buf_init(&txt);
	if ((rc = sv_gz_decompress(gz, len, API_MAX_LOG_BYTES, &txt)) != 0) {
		sv_buf_release(&txt);
		return rc == -ENOMEM ? rc : 0; /* a damaged chunk reads as empty */
	}
	while (rc == 0 && i < txt.len) {
		const uint8_t *nl = memchr(txt.data + i, '\n', txt.len - i);
		size_t e = nl != NULL ? (size_t)(nl - txt.data) : txt.len;
		size_t n = e - i;
		if (n > 0 && txt.data[e - 1] == '\r')
			n--;
		line++;
		if (chat) {
			rc = sv_buf_append(&r->logs, txt.data + i, n);
			if (rc == 0)
				rc = sv_buf_append(&r->logs, "\n", 1);
		} else {
			rc = sv_buf_printf(&r->out, "%s{\"chunk\":%u,\"line\":%zu,\"text\":",
			                   r->line_no++ ? "," : "", chunk, line);
			if (rc == 0)
				rc = sv_ladder_json_string(&r->out, (const char *)txt.data + i, n);
			if (rc == 0)
				rc = sv_buf_append(&r->out, "}", 1);
		}
		i = e + 1;
	}
	sv_buf_release(&txt);
	return rc;
}

static void chat_begin(struct rq *r);

static void logs_got_chunk(void *arg, int rc, const uint8_t *data, size_t len)
{
	struct rq *r = arg;
	unsigned n = 0;
	const char *name = r->call->objs[r->next_obj].name;

	sv_callkey_kind(name, strlen(name), &n);
	if (rc != 0 && rc != SV_E_NOTFOUND) {
		rq_store_error(r, rc);
		return;
	}
	if (rc == 0 && (rc = log_lines(r, n, data, len, r->dl.endpoint == SV_DL_CHAT)) != 0) {
		rq_error(r, 503, "out of memory");
		return;
	}
	r->next_obj++;
	logs_next(r);
}

static void logs_next(struct rq *r)
{
	while (r->next_obj < r->call->nobjs) {
		const char *name = r->call->objs[r->next_obj].name;
		if (sv_callkey_kind(name, strlen(name), NULL) == SV_CALLKEY_LOG) {
			vault_get(r->a->set.vault, r->call, name, logs_got_chunk, r);
			return;
		}
		r->next_obj++;
	}
	if (r->dl.endpoint == SV_DL_CHAT) {
		chat_begin(r);
		return;
	}
	if (sv_buf_append_str(&r->out, "]\n") != 0) {
		rq_error(r, 503, "out of memory");
		return;
	}
	rq_send_json(r);
}

/* ------------------------------------------------------------ artifact */

static void artifact_got(void *arg, int rc, const uint8_t *data, size_t len)
{
	struct rq *r = arg;
	const char *name = r->dl.artifact;
	size_t nl = strlen(name);
	struct evkeyvalq *h;
	char disp[128];

	if (rc != 0) {
		rq_store_error(r, rc);
		return;
	}
	h = evhttp_request_get_output_headers(r->req);
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", name);
	evhttp_add_header(h, "Content-Disposition", disp);
	observe(r->a, r->label, 200, r->t0);
	send_body(r->req, 200,
	          nl > 3 && strcmp(name + nl - 3, ".gz") == 0 ? "application/gzip"
	                                                      : "application/json",
	          data, len);
	rq_free(r);
}

/* ------------------------------------------------------------ chat */

/* Cuts text to max bytes: the head and the tail, with a marker between. */
static void cut_middle(struct sv_buf *b, size_t max)
{
	static const char mark[] = "\n[... cut: the middle of this evidence is left out ...]\n";
	size_t head, tail;

	if (b->len <= max)
		return;
	head = max * 2 / 3;
	tail = max - head - (sizeof(mark) - 1);
	memcpy(b->data + head, mark, sizeof(mark) - 1);
	memmove(b->data + head + sizeof(mark) - 1, b->data + b->len - tail, tail);
	b->len = max;
	b->data[b->len] = 0;
}

static void chat_complete(struct evhttp_request *req, void *arg)
{
	struct chat_wait *w = arg;
	int code = evhttp_request_get_response_code(req);

	observe(w->a, "chat", code > 0 ? code : 200, w->t0);
	TAILQ_REMOVE(&w->a->chat_waits, w, link);
	w->a->n_chat_waits--;
	free(w);
}

static void chat_begin(struct rq *r)
{
	struct chat_evidence ev;
	struct chat_wait *w;

	cut_middle(&r->quality, API_CHAT_MAX_QUALITY);
	cut_middle(&r->ladder, API_CHAT_MAX_LADDER);
	cut_middle(&r->logs, API_CHAT_MAX_LOGS);
	memset(&ev, 0, sizeof(ev));
	ev.customer = r->dl.customer;
	ev.call_id = r->dl.call_id;
	ev.quality_json = (const char *)r->quality.data;
	ev.quality_len = r->quality.len;
	ev.ladder_text = (const char *)r->ladder.data;
	ev.ladder_len = r->ladder.len;
	ev.log_text = (const char *)r->logs.data;
	ev.log_len = r->logs.len;
	/* the request's metrics are taken when the chat engine's answer completes */
	if (r->a->n_chat_waits < MAX_CHAT_WAITS && (w = calloc(1, sizeof(*w))) != NULL) {
		w->a = r->a;
		w->t0 = r->t0;
		TAILQ_INSERT_TAIL(&r->a->chat_waits, w, link);
		r->a->n_chat_waits++;
		evhttp_request_set_on_complete_cb(r->req, chat_complete, w);
	}
	chat_start(r->a->set.chat, r->req, &ev, (const char *)r->body.data, r->body.len);
	rq_free(r);
}

static void chat_got_pcap(void *arg, int rc, const uint8_t *data, size_t len)
{
	struct rq *r = arg;
	struct sv_ladder l;

	if (rc != 0 && rc != SV_E_NOTFOUND) {
		rq_store_error(r, rc);
		return;
	}
	if (rc == 0) {
		sv_ladder_init(&l);
		rc = ladder_from_gz(data, len, &l);
		if (rc == 0)
			rc = sv_ladder_text(&l, &r->ladder);
		sv_ladder_release(&l);
		if (rc == -ENOMEM) {
			rq_error(r, 503, "out of memory");
			return;
		}
	}
	r->next_obj = 0;
	logs_next(r);
}

static void chat_got_quality(void *arg, int rc, const uint8_t *data, size_t len)
{
	struct rq *r = arg;

	if (rc != 0 && rc != SV_E_NOTFOUND) {
		rq_store_error(r, rc);
		return;
	}
	if (rc == 0 && sv_buf_append(&r->quality, data, len) != 0) {
		rq_error(r, 503, "out of memory");
		return;
	}
	vault_get(r->a->set.vault, r->call, "sip.pcap.gz", chat_got_pcap, r);
}

/* ------------------------------------------------------------ dispatch */

static void located(void *arg, int rc, const struct vault_call *call)
{
	struct rq *r = arg;

	if (rc != 0) {
		rq_store_error(r, rc);
		return;
	}
	vault_call_hold((struct vault_call *)call);
	r->call = (struct vault_call *)call;
	switch (r->dl.endpoint) {
	case SV_DL_SUMMARY:
		if (call->have_rendered)
			summary_reply(r, NULL, 0);
		else if (vault_obj_size(call, "quality.json") >= 0)
			vault_get(r->a->set.vault, call, "quality.json", summary_got_quality, r);
		else
			summary_reply(r, NULL, 0);
		break;
	case SV_DL_SIP:
		vault_get(r->a->set.vault, call, "sip.pcap.gz", sip_got_pcap, r);
		break;
	case SV_DL_LOGS:
		sv_buf_append(&r->out, "[", 1);
		logs_next(r);
		break;
	case SV_DL_ARTIFACT:
		if (vault_obj_size(call, r->dl.artifact) < 0) {
			rq_error(r, 404, "unknown artifact");
			return;
		}
		vault_get(r->a->set.vault, call, r->dl.artifact, artifact_got, r);
		break;
	case SV_DL_CHAT:
		vault_get(r->a->set.vault, call, "quality.json", chat_got_quality, r);
		break;
	}
}

static const char *const ep_label[] = {"summary", "sip", "logs", "chat", "artifact"};

static void handle_call(struct api *a, struct evhttp_request *req, const char *uri, uint64_t t0)
{
	struct rq *r = calloc(1, sizeof(*r));
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const struct sv_customer *c;
	enum sv_dl_verdict v;
	int rc;

	if (r == NULL) {
		send_error(a, req, "other", t0, 503, "out of memory");
		return;
	}
	r->a = a;
	r->req = req;
	r->t0 = t0;
	r->label = "other";
	rc = sv_dl_parse(uri, strlen(uri), &r->dl);
	if (rc == SV_E_NOTFOUND) {
		rq_error(r, 404, "not found");
		return;
	}
	if (rc == -ENOMEM) {
		rq_error(r, 503, "out of memory");
		return;
	}
	if (rc != 0) {
		rq_error(r, 400, "malformed request");
		return;
	}
	r->label = ep_label[r->dl.endpoint];
	if ((r->dl.endpoint == SV_DL_CHAT) != (method == EVHTTP_REQ_POST)) {
		rq_error(r, 405, "method not allowed");
		return;
	}
	c = r->dl.customer != NULL ? sv_customers_find_by_id(a->set.customers, r->dl.customer)
	                           : NULL;
	v = sv_dl_verify(a->set.hmac_secret, strlen(a->set.hmac_secret), r->dl.customer, c != NULL,
	                 r->dl.call_id, r->dl.call_id_len, r->dl.ts, r->dl.sig, now_s(a),
	                 a->set.hmac_max_age);
	if (v != SV_DL_OK) {
		sv_metric_add(a->m_refused, 1, sv_dl_verdict_name(v), NULL);
		rq_error(r, 401, "invalid or expired link");
		return;
	}
	r->cust = c;
	if (r->dl.endpoint == SV_DL_CHAT) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		if (n > API_MAX_BODY) {
			rq_error(r, 413, "request body too large");
			return;
		}
		if (sv_buf_reserve(&r->body, n + 1) != 0) {
			rq_error(r, 503, "out of memory");
			return;
		}
		evbuffer_remove(in, r->body.data, n);
		r->body.len = n;
		r->body.data[n] = 0;
	}
	vault_locate(a->set.vault, c->bucket, r->dl.call_id, r->dl.call_id_len,
	             strtoll(r->dl.ts, NULL, 10), r->dl.year, r->dl.month, r->dl.day,
	             a->set.lookback_days, located, r);
}

/* ------------------------------------------------------------ metrics */

static void mirror_stats(struct api *a)
{
	struct vault_stats vs;

	vault_get_stats(a->set.vault, &vs);
	sv_metric_set(a->m_cache, (double)vs.cache_hits, "hit", NULL);
	sv_metric_set(a->m_cache, (double)vs.cache_misses, "miss", NULL);
	sv_metric_set(a->m_cache_entries, (double)vs.cache_entries, NULL, NULL);
	sv_metric_set(a->m_cache_bytes, (double)vs.cache_bytes, NULL, NULL);
	sv_metric_set(a->m_store, (double)vs.list_requests, "list", NULL);
	sv_metric_set(a->m_store, (double)vs.get_requests, "get", NULL);
	sv_metric_set(a->m_store, (double)vs.store_errors, "error", NULL);
	if (a->set.chat != NULL) {
		const struct chat_stats *cs = chat_engine_stats(a->set.chat);
		if (cs != NULL) {
			sv_metric_set(a->m_chat, (double)cs->streams, "streams", NULL);
			sv_metric_set(a->m_chat, (double)cs->completed, "completed", NULL);
			sv_metric_set(a->m_chat, (double)cs->upstream_errors, "upstream_errors",
			              NULL);
			sv_metric_set(a->m_chat, (double)cs->client_gone, "client_gone", NULL);
			sv_metric_set(a->m_chat, (double)cs->no_provider, "no_provider", NULL);
		}
	}
}

static int render_metrics(struct api *a, struct sv_buf *out)
{
	uint64_t cum = 0;
	size_t i;
	int rc;

	mirror_stats(a);
	if ((rc = sv_metrics_render(a->m, out)) != 0)
		return rc;
	rc =
	    sv_buf_append_str(out, "# HELP sipvault_api_request_duration_seconds Time from request "
	                           "to response (chat: to the end of the stream)\n"
	                           "# TYPE sipvault_api_request_duration_seconds histogram\n");
	for (i = 0; rc == 0 && i < NBOUNDS; i++) {
		cum += a->lat_count[i];
		rc = sv_buf_printf(out,
		                   "sipvault_api_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
		                   lat_bounds[i], (unsigned long long)cum);
	}
	cum += a->lat_count[NBOUNDS];
	if (rc == 0)
		rc = sv_buf_printf(
		    out,
		    "sipvault_api_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		    "sipvault_api_request_duration_seconds_sum %.9f\n"
		    "sipvault_api_request_duration_seconds_count %llu\n",
		    (unsigned long long)cum, a->lat_sum, (unsigned long long)a->lat_n);
	return rc;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct api *a = arg;
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	uint64_t t0 = mono_ns();
	size_t plen;

	if (uri == NULL) {
		send_error(a, req, "other", t0, 400, "malformed request");
		return;
	}
	plen = strcspn(uri, "?");
	if ((plen == 7 && strncmp(uri, "/health", 7) == 0) ||
	    (plen == 8 && strncmp(uri, "/metrics", 8) == 0)) {
		const char *label = uri[1] == 'h' ? "health" : "metrics";
		struct sv_buf b;
		if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
			send_error(a, req, label, t0, 405, "method not allowed");
			return;
		}
		if (uri[1] == 'h') {
			observe(a, label, 200, t0);
			send_body(req, 200, "application/json", "{\"status\": \"ok\"}\n", 17);
			return;
		}
		observe(a, label, 200, t0);
		sv_buf_init(&b);
		if (render_metrics(a, &b) != 0) {
			sv_buf_release(&b);
			send_error(a, req, label, t0, 503, "out of memory");
			return;
		}
		send_body(req, 200, "text/plain; version=0.0.4", b.data, b.len);
		sv_buf_release(&b);
		return;
	}
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_POST && method != EVHTTP_REQ_HEAD) {
		send_error(a, req, "other", t0, 405, "method not allowed");
		return;
	}
	handle_call(a, req, uri, t0);
}

int api_new(struct event_base *base, const struct api_settings *set, struct api **out)
{
	struct api *a = calloc(1, sizeof(*a));
	int rc = -ENOMEM;

	*out = NULL;
	if (a == NULL)
		return -ENOMEM;
	a->base = base;
	a->set = *set;
	TAILQ_INIT(&a->chat_waits);
	if (sv_metrics_new(&a->m) != 0)
		goto fail;
	a->m_requests = sv_metrics_counter(a->m, "sipvault_api_requests_total",
	                                   "HTTP requests answered, by endpoint and status",
	                                   "endpoint", "status");
	a->m_refused = sv_metrics_counter(a->m, "sipvault_api_links_refused_total",
	                                  "Signed links refused (401), by reason", "reason", NULL);
	a->m_cache =
	    sv_metrics_counter(a->m, "sipvault_api_cache_lookups_total",
	                       "Cache lookups of calls and objects, hit or miss", "result", NULL);
	a->m_cache_entries = sv_metrics_gauge(a->m, "sipvault_api_cache_entries",
	                                      "Entries in the cache", NULL, NULL);
	a->m_cache_bytes = sv_metrics_gauge(a->m, "sipvault_api_cache_bytes",
	                                    "Bytes held by the cache", NULL, NULL);
	a->m_store =
	    sv_metrics_counter(a->m, "sipvault_api_objstore_requests_total",
	                       "Object-store requests (list, get) and failures", "op", NULL);
	a->m_chat = sv_metrics_counter(a->m, "sipvault_api_chat_total",
	                               "AI chat streams: started, completed, upstream errors, "
	                               "clients gone, refused for lack of a provider",
	                               "event", NULL);
	if (a->m_requests == NULL || a->m_refused == NULL || a->m_cache == NULL ||
	    a->m_store == NULL || a->m_chat == NULL || a->m_cache_entries == NULL ||
	    a->m_cache_bytes == NULL)
		goto fail;
	for (int i = 0; i < SV_DL_NVERDICTS; i++)
		if (i != SV_DL_OK)
			sv_metric_add(a->m_refused, 0, sv_dl_verdict_name(i), NULL);
	if ((a->http = evhttp_new(base)) == NULL)
		goto fail;
	evhttp_set_max_headers_size(a->http, API_MAX_HEADERS);
	evhttp_set_max_body_size(a->http, API_HTTP_MAX_BODY);
	evhttp_set_timeout(a->http, 60);
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(a->http, on_request, a);
	a->sock = evhttp_bind_socket_with_handle(
	    a->http, set->listen_host ? set->listen_host : "::", (uint16_t)set->listen_port);
	if (a->sock == NULL) {
		log_errx("cannot listen on %s:%d: %s", set->listen_host ? set->listen_host : "*",
		         set->listen_port, strerror(errno));
		rc = -EADDRINUSE;
		goto fail;
	}
	*out = a;
	return 0;
fail:
	api_free(a);
	return rc;
}

int api_port(const struct api *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(a->sock);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

void api_free(struct api *a)
{
	if (a == NULL)
		return;
	if (a->http != NULL)
		evhttp_free(a->http);
	while (!TAILQ_EMPTY(&a->chat_waits)) {
		struct chat_wait *w = TAILQ_FIRST(&a->chat_waits);
		TAILQ_REMOVE(&a->chat_waits, w, link);
		free(w);
	}
	sv_metrics_free(a->m);
	free(a);
}
