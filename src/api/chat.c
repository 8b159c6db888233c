/*
 * chat.c - POST /calls/{id}/chat: the AI's answer about one call, streamed to
 * the client as Server-Sent Events while the provider streams it to us.
 *
 * One struct stream per chat request. Its life:
 *
 *   chat_start ── 400 / 503 at once (bad body, no provider, too many streams)
 *       │ upstream request added to the curl multi handle (base/curlev.h)
 *       ▼
 *   WAITING ── upstream bytes are decoded (call/aichat.h); the first piece of
 *       │      text starts the reply: 200 text/event-stream
 *       ▼
 *   STREAMING ── "event: token" per piece of text
 *       │
 *       ▼ one of
 *   provider done        → "event: done", reply ends
 *   provider failed, cut short, HTTP error, unreachable, first-byte or idle
 *                        → "event: error" (or 503 JSON when nothing was sent)
 *   client gone          → upstream transfer removed (the provider sees the
 *                          connection close), request handed back to evhttp
 *   chat_engine_free     → "event: error" / 503, every stream ended
 *
 * A client that goes away is noticed two ways: evhttp's close callback (after
 * a failed write), and a read watch of our own on the client's socket, since
 * evhttp stops reading a connection while its request is being answered.
 *
 * HTTP/1.0 clients (nginx's proxy_pass) get the stream without chunked
 * encoding, ended by closing the connection: the request's "Connection:
 * keep-alive" is dropped (evhttp would otherwise send "Content-Length: 0")
 * and "Connection: close" is sent.
 */
#include "chat.h"

#include "base/buf.h"
#include "base/curlev.h"
#include "base/errors.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "call/aichat.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#define MAX_STREAMS     64   /* concurrent chat streams; beyond: 503 */
#define ERRBODY_MAX     4096 /* bytes of an upstream error answer kept */
#define DEF_SIPPULSE    "https://api.sippulse.ai/v1"
#define DEF_MODEL       "glm-4.7"
#define DEF_ANTHROPIC   "https://api.anthropic.com"
#define DEF_FIRST_BYTE  30000
#define DEF_IDLE        60000
#define CONNECT_TIMEOUT 10000
#define MAX_DURATION    300000 /* a whole answer, like nginx's proxy_read_timeout */

struct stream {
	TAILQ_ENTRY(stream) link;
	struct chat_engine *ce;
	struct evhttp_request *req; /* NULL once evhttp took it back */
	struct evhttp_connection *conn;
	struct event *gone_ev; /* read watch on the client's socket */
	struct event *timer;   /* first-byte, then idle timeout */
	CURL *easy;
	struct curl_slist *hdrs;
	struct sv_buf body; /* upstream request body */
	struct sv_aichat_dec dec;
	struct sv_buf errbody; /* upstream answer when its status is not 2xx */
	struct sv_buf out;     /* SSE text not yet handed to evhttp */
	long status;
	int got_byte; /* upstream sent something */
	int started;  /* our reply's status line is out */
	int failed;   /* a write callback stopped the transfer: why says why */
	uint64_t tokens;
	char why[300];
	char curlerr[CURL_ERROR_SIZE];
};

struct chat_engine {
	struct event_base *base;
	char *sippulse_url, *sippulse_key, *sippulse_model, *anthropic_key, *anthropic_url;
	char *anthropic_model; /* NULL: aichat's default */
	int first_byte_ms, idle_ms;
	struct sv_curlev *cm;
	TAILQ_HEAD(, stream) streams;
	size_t n_streams;
	struct chat_stats stats;
};

/* ------------------------------------------------------------ replies */

static void reply_json_error(struct evhttp_request *req, int code, const char *reason,
                             const char *msg)
{
	struct evbuffer *b = evbuffer_new();
	struct sv_buf j;
	sv_buf_init(&j);
	if (sv_buf_append_str(&j, "{\"error\":") != 0 ||
	    sv_jsonw_string(&j, msg, strlen(msg)) != 0 || sv_buf_append_str(&j, "}\n") != 0)
		sv_buf_reset(&j);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	if (b != NULL && j.len > 0)
		evbuffer_add(b, j.data, j.len);
	evhttp_send_reply(req, code, reason, b);
	if (b != NULL)
		evbuffer_free(b);
	sv_buf_release(&j);
}

/* Appends one SSE event whose data is {"KEY":"value"} to s->out. */
static int sse_event(struct stream *s, const char *event, const char *key, const char *v,
                     size_t len)
{
	struct sv_buf j;
	int rc;
	sv_buf_init(&j);
	rc = sv_buf_printf(&j, "{\"%s\":", key);
	if (rc == 0)
		rc = sv_jsonw_string(&j, v, len);
	if (rc == -EINVAL) { /* not UTF-8: say so rather than drop the event */
		sv_buf_reset(&j);
		rc = sv_buf_printf(&j, "{\"%s\":\"?\"", key);
	}
	if (rc == 0)
		rc = sv_buf_append(&j, "}", 1);
	if (rc == 0)
		rc = sv_sse_write(&s->out, event, (const char *)j.data, j.len);
	sv_buf_release(&j);
	return rc;
}

static void start_reply(struct stream *s)
{
	struct evhttp_request *req = s->req;
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	if (s->started || req == NULL)
		return;
	s->started = 1;
	evhttp_add_header(oh, "Content-Type", "text/event-stream; charset=utf-8");
	evhttp_add_header(oh, "Cache-Control", "no-cache");
	evhttp_add_header(oh, "X-Accel-Buffering", "no");
	if (req->major == 1 && req->minor == 0) {
		/* No chunked encoding for HTTP/1.0: the end of the stream is the
		 * end of the connection. */
		evhttp_remove_header(evhttp_request_get_input_headers(req), "Connection");
		evhttp_add_header(oh, "Connection", "close");
	}
	evhttp_send_reply_start(req, HTTP_OK, "OK");
}

/* Hands s->out to evhttp. */
static void flush_out(struct stream *s)
{
	if (s->out.len == 0 || s->req == NULL)
		return;
	start_reply(s);
	struct evbuffer *b = evbuffer_new();
	if (b != NULL && evbuffer_add(b, s->out.data, s->out.len) == 0)
		evhttp_send_reply_chunk(s->req, b);
	if (b != NULL)
		evbuffer_free(b);
	sv_buf_reset(&s->out);
}

/* ------------------------------------------------------------ teardown */

static void detach_client(struct stream *s)
{
	if (s->conn != NULL) {
		evhttp_connection_set_closecb(s->conn, NULL, NULL);
		s->conn = NULL;
	}
	if (s->gone_ev != NULL) {
		event_free(s->gone_ev);
		s->gone_ev = NULL;
	}
}

static void stop_upstream(struct stream *s)
{
	if (s->timer != NULL)
		evtimer_del(s->timer);
	if (s->easy != NULL) {
		curl_multi_remove_handle(sv_curlev_multi(s->ce->cm), s->easy);
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
	}
}

static void stream_free(struct stream *s)
{
	struct chat_engine *ce = s->ce;
	detach_client(s);
	stop_upstream(s);
	if (s->timer != NULL)
		event_free(s->timer);
	for (struct curl_slist *h = s->hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data)); /* the API key */
	curl_slist_free_all(s->hdrs);
	sv_buf_release(&s->body);
	sv_buf_release(&s->errbody);
	sv_buf_release(&s->out);
	sv_aichat_dec_release(&s->dec);
	TAILQ_REMOVE(&ce->streams, s, link);
	ce->n_streams--;
	free(s);
}

/* Ends the stream: "done" when why is NULL, else an error event (or a 503
 * when nothing was sent yet). */
static void stream_end(struct stream *s, const char *why)
{
	struct evhttp_request *req = s->req;
	detach_client(s);
	stop_upstream(s);
	s->req = NULL;
	if (why == NULL) {
		s->ce->stats.completed++;
		sse_event(s, "done", "stop", s->dec.stop, strlen(s->dec.stop));
	} else if (s->started || s->out.len > 0) {
		sse_event(s, "error", "error", why, strlen(why));
	}
	log_info("chat: %s after %llu pieces of text%s%s", why == NULL ? "done" : "failed",
	         (unsigned long long)s->tokens, why ? ": " : "", why ? why : "");
	if (req != NULL) {
		if (s->started || s->out.len > 0) {
			s->req = req;
			flush_out(s);
			s->req = NULL;
			evhttp_send_reply_end(req);
		} else {
			reply_json_error(req, 503, "Service Unavailable",
			                 why ? why : "out of memory");
		}
	}
	stream_free(s);
}

static void upstream_failed(struct stream *s, const char *why)
{
	char msg[400];
	s->ce->stats.upstream_errors++;
	snprintf(msg, sizeof(msg), "AI provider: %s", why);
	stream_end(s, msg);
}

/* The client went away: drop the upstream request; evhttp gets req back. */
static void client_gone(struct stream *s)
{
	struct evhttp_request *req = s->req;
	s->ce->stats.client_gone++;
	log_info("chat: client went away; upstream request cancelled");
	detach_client(s);
	stop_upstream(s);
	s->req = NULL;
	if (req != NULL) {
		if (evhttp_request_get_connection(req) == NULL)
			evhttp_send_reply_end(req); /* detached by evhttp: frees it */
		else if (s->started)
			evhttp_send_reply_end(req); /* the failed write frees it */
		else
			reply_json_error(req, 503, "Service Unavailable", "client closed");
	}
	stream_free(s);
}

/* ------------------------------------------------------------ events */

static void on_client_close(struct evhttp_connection *conn, void *arg)
{
	struct stream *s = arg;
	/* evhttp frees the connection; a request still on it is freed with it. */
	s->conn = NULL;
	if (s->req != NULL && evhttp_request_get_connection(s->req) != NULL)
		s->req = NULL;
	client_gone(s);
}

static void on_client_readable(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		client_gone(s);
		return;
	}
	if (n > 0) {
		/* A pipelined request: evhttp reads it later. Stop watching (the
		 * close callback still tells a failed write). */
		event_free(s->gone_ev);
		s->gone_ev = NULL;
	}
}

static void arm_timer(struct stream *s)
{
	int ms = s->got_byte ? s->ce->idle_ms : s->ce->first_byte_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(s->timer, &tv);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	char why[128];
	if (s->dec.state == SV_AICHAT_DONE) { /* complete, the server just lingers */
		stream_end(s, NULL);
		return;
	}
	if (s->got_byte)
		snprintf(why, sizeof(why), "stalled: no data for %d ms", s->ce->idle_ms);
	else
		snprintf(why, sizeof(why), "no answer within %d ms", s->ce->first_byte_ms);
	upstream_failed(s, why);
}

static int on_text(const char *text, size_t len, void *arg)
{
	struct stream *s = arg;
	s->tokens++;
	return sse_event(s, "token", "text", text, len);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct stream *s = arg;
	size_t len = size * nmemb;
	if (!s->got_byte) {
		s->got_byte = 1;
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
	}
	arm_timer(s);
	if (s->status < 200 || s->status > 299) {
		size_t room = ERRBODY_MAX - s->errbody.len;
		sv_buf_append(&s->errbody, data, len < room ? len : room);
		return len;
	}
	int rc = sv_aichat_dec_feed(&s->dec, data, len);
	flush_out(s);
	if (rc != 0) {
		snprintf(s->why, sizeof(s->why), "bad stream: %s",
		         s->dec.error[0] ? s->dec.error : "unreadable");
		s->failed = 1;
		return 0; /* curl stops the transfer with CURLE_WRITE_ERROR */
	}
	if (s->dec.state == SV_AICHAT_FAILED) {
		snprintf(s->why, sizeof(s->why), "%s", s->dec.error);
		s->failed = 1;
		return 0;
	}
	return len;
}

/* A transfer ended (called by curlev outside curl's callbacks). */
static void on_done(CURL *easy, CURLcode cc, void *arg)
{
	struct stream *s = NULL;
	char why[300];
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
	if (s == NULL)
		return;
	if (!s->got_byte)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->failed) {
		upstream_failed(s, s->why);
		return;
	}
	if (cc == CURLE_OK && s->status >= 200 && s->status <= 299) {
		int rc = sv_aichat_dec_finish(&s->dec);
		if (rc == 0) {
			stream_end(s, NULL);
			return;
		}
		snprintf(why, sizeof(why), "%s", s->dec.error[0] ? s->dec.error : "bad stream");
	} else if (s->dec.state == SV_AICHAT_DONE) {
		stream_end(s, NULL); /* the answer was complete before the error */
		return;
	} else if (s->status > 299 || (s->status > 0 && s->status < 200)) {
		sv_aichat_http_error((int)s->status, (const char *)s->errbody.data, s->errbody.len,
		                     why, sizeof(why));
	} else if (cc == CURLE_OK) {
		snprintf(why, sizeof(why), "no answer");
	} else {
		snprintf(why, sizeof(why), "%s%s%s",
		         s->got_byte ? "connection lost: " : "unreachable: ",
		         s->curlerr[0] ? s->curlerr : curl_easy_strerror(cc), "");
	}
	upstream_failed(s, why);
}

/* ------------------------------------------------------------ start */

static char *dup_trim(const char *s, const char *def)
{
	if (s == NULL || s[0] == '\0')
		s = def;
	if (s == NULL)
		return NULL;
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '/' && def != NULL && strstr(def, "://") != NULL)
		n--;
	return strndup(s, n);
}

static int curl_debug(CURL *h, curl_infotype type, char *data, size_t size, void *userp)
{
	return sv_log_curl_debug(h, (int)type, data, size, userp);
}

static int upstream_start(struct stream *s, enum sv_aichat_provider p,
                          const struct sv_aichat_conv *conv, const struct chat_evidence *ev)
{
	struct chat_engine *ce = s->ce;
	static const struct chat_evidence none;
	if (ev == NULL)
		ev = &none;
	struct sv_aichat_evidence aev = {
	    .customer = ev->customer,
	    .call_id = ev->call_id,
	    .quality_json = ev->quality_json,
	    .quality_len = ev->quality_len,
	    .ladder_text = ev->ladder_text,
	    .ladder_len = ev->ladder_len,
	    .log_text = ev->log_text,
	    .log_len = ev->log_len,
	};
	struct sv_buf sys, url, h;
	int rc;

	sv_buf_init(&sys);
	sv_buf_init(&url);
	sv_buf_init(&h);
	rc = sv_aichat_context(&aev, &sys);
	if (rc == 0)
		rc = sv_aichat_request(
		    p, p == SV_AICHAT_OPENAI ? ce->sippulse_model : ce->anthropic_model,
		    (const char *)sys.data, sys.len, conv, &s->body);
	if (rc == 0)
		rc = p == SV_AICHAT_OPENAI
		         ? sv_buf_printf(&url, "%s/chat/completions", ce->sippulse_url)
		         : sv_buf_printf(&url, "%s/v1/messages", ce->anthropic_url);
	if (rc == 0)
		rc = p == SV_AICHAT_OPENAI
		         ? sv_buf_printf(&h, "Authorization: Bearer %s", ce->sippulse_key)
		         : sv_buf_printf(&h, "x-api-key: %s", ce->anthropic_key);
	const char *fixed[] = {
	    "Content-Type: application/json", "Accept: text/event-stream", "Expect:",
	    p == SV_AICHAT_ANTHROPIC ? "anthropic-version: " SV_AICHAT_ANTHROPIC_VERSION : NULL};
	struct curl_slist *l;
	if (rc == 0 && (l = curl_slist_append(s->hdrs, (const char *)h.data)) == NULL)
		rc = -ENOMEM;
	else if (rc == 0)
		s->hdrs = l;
	for (size_t i = 0; rc == 0 && i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (fixed[i] == NULL)
			continue;
		if ((l = curl_slist_append(s->hdrs, fixed[i])) == NULL)
			rc = -ENOMEM;
		else
			s->hdrs = l;
	}
	if (rc == 0 && (s->easy = curl_easy_init()) == NULL)
		rc = -ENOMEM;
	if (rc == 0) {
		CURL *e = s->easy;
		curl_easy_setopt(e, CURLOPT_URL, (const char *)url.data);
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)s->body.data);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body.len);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->hdrs);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
		curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)s);
		curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curlerr);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
		                 (long)(ce->first_byte_ms < CONNECT_TIMEOUT ? ce->first_byte_ms
		                                                            : CONNECT_TIMEOUT));
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)MAX_DURATION);
		curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		if (sv_log_threshold <= SV_LOG_DEBUG) {
			curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, curl_debug);
			curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
		}
		if (curl_multi_add_handle(sv_curlev_multi(ce->cm), e) != CURLM_OK) {
			curl_easy_cleanup(e);
			s->easy = NULL;
			rc = -ENOMEM;
		}
	}
	if (h.data != NULL)
		explicit_bzero(h.data, h.len);
	sv_buf_release(&h);
	sv_buf_release(&url);
	sv_buf_release(&sys);
	return rc;
}

void chat_start(struct chat_engine *ce, struct evhttp_request *req, const struct chat_evidence *ev,
                const char *body, size_t body_len)
{
	struct sv_aichat_conv conv;
	enum sv_aichat_provider p;
	char why[128];

	if (ce->sippulse_key != NULL) {
		p = SV_AICHAT_OPENAI;
	} else if (ce->anthropic_key != NULL) {
		p = SV_AICHAT_ANTHROPIC;
	} else {
		ce->stats.no_provider++;
		reply_json_error(req, 503, "Service Unavailable", "no AI provider configured");
		return;
	}
	int rc = sv_aichat_conv_parse(body, body_len, &conv, why, sizeof(why));
	if (rc == SV_E_PARSE) {
		reply_json_error(req, 400, "Bad Request", why);
		return;
	}
	if (rc != 0) {
		reply_json_error(req, 503, "Service Unavailable", "out of memory");
		return;
	}
	if (ce->n_streams >= MAX_STREAMS) {
		sv_aichat_conv_release(&conv);
		reply_json_error(req, 503, "Service Unavailable", "too many chat streams");
		return;
	}
	struct stream *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		sv_aichat_conv_release(&conv);
		reply_json_error(req, 503, "Service Unavailable", "out of memory");
		return;
	}
	s->ce = ce;
	sv_buf_init(&s->body);
	sv_buf_init(&s->errbody);
	sv_buf_init(&s->out);
	sv_aichat_dec_init(&s->dec, p, on_text, s);
	TAILQ_INSERT_TAIL(&ce->streams, s, link);
	ce->n_streams++;
	s->timer = evtimer_new(ce->base, on_timeout, s);
	rc = s->timer != NULL ? upstream_start(s, p, &conv, ev) : -ENOMEM;
	sv_aichat_conv_release(&conv);
	if (rc != 0) {
		stream_free(s);
		reply_json_error(req, 503, "Service Unavailable",
		                 rc == -EINVAL ? "bad AI configuration" : "out of memory");
		return;
	}
	ce->stats.streams++;
	s->req = req;
	s->conn = evhttp_request_get_connection(req);
	if (s->conn != NULL) {
		evhttp_connection_set_closecb(s->conn, on_client_close, s);
		struct bufferevent *bev = evhttp_connection_get_bufferevent(s->conn);
		evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
		if (fd >= 0) {
			s->gone_ev =
			    event_new(ce->base, fd, EV_READ | EV_PERSIST, on_client_readable, s);
			if (s->gone_ev != NULL)
				event_add(s->gone_ev, NULL);
		}
	}
	arm_timer(s);
	log_debug("chat: stream started (%s)", p == SV_AICHAT_OPENAI ? "sippulse" : "anthropic");
}

/* ------------------------------------------------------------ engine */

struct chat_engine *chat_engine_new(struct event_base *base, const struct chat_conf *conf)
{
	struct chat_engine *ce = calloc(1, sizeof(*ce));
	if (ce == NULL)
		return NULL;
	ce->base = base;
	TAILQ_INIT(&ce->streams);
	ce->sippulse_url = dup_trim(conf->sippulse_url, DEF_SIPPULSE);
	ce->sippulse_model = dup_trim(conf->sippulse_model, DEF_MODEL);
	ce->anthropic_url = dup_trim(conf->anthropic_url, DEF_ANTHROPIC);
	ce->sippulse_key = dup_trim(conf->sippulse_key, NULL);
	ce->anthropic_key = dup_trim(conf->anthropic_key, NULL);
	ce->anthropic_model = dup_trim(conf->anthropic_model, NULL);
	ce->first_byte_ms =
	    conf->first_byte_timeout_ms > 0 ? conf->first_byte_timeout_ms : DEF_FIRST_BYTE;
	ce->idle_ms = conf->idle_timeout_ms > 0 ? conf->idle_timeout_ms : DEF_IDLE;
	int bad =
	    ce->sippulse_url == NULL || ce->sippulse_model == NULL || ce->anthropic_url == NULL ||
	    (conf->sippulse_key != NULL && conf->sippulse_key[0] && ce->sippulse_key == NULL) ||
	    (conf->anthropic_key != NULL && conf->anthropic_key[0] && ce->anthropic_key == NULL) ||
	    (conf->anthropic_model != NULL && conf->anthropic_model[0] &&
	     ce->anthropic_model == NULL);
	if (bad || sv_curlev_new(base, on_done, NULL, ce, &ce->cm) != 0) {
		chat_engine_free(ce);
		return NULL;
	}
	return ce;
}

static void free_secret(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
	free(s);
}

void chat_engine_free(struct chat_engine *ce)
{
	if (ce == NULL)
		return;
	while (!TAILQ_EMPTY(&ce->streams))
		stream_end(TAILQ_FIRST(&ce->streams), "server shutting down");
	sv_curlev_free(ce->cm);
	free(ce->sippulse_url);
	free(ce->sippulse_model);
	free(ce->anthropic_url);
	free(ce->anthropic_model);
	free_secret(ce->sippulse_key);
	free_secret(ce->anthropic_key);
	free(ce);
}

const struct chat_stats *chat_engine_stats(const struct chat_engine *ce)
{
	return &ce->stats;
}
