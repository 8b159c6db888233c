/* src/api/chat.h - AI chat about one call, streamed as SSE (implemented in chat.c). */
#include <event2/event.h>
#include <event2/http.h>
#include <stddef.h>
#include <stdint.h>
struct chat_conf {
	const char *sippulse_url;    /* SIPPULSE_API_URL */
	const char *sippulse_key;    /* SIPPULSE_API_KEY, NULL/"" = unset */
	const char *sippulse_model;  /* SIPPULSE_AI_MODEL */
	const char *anthropic_key;   /* ANTHROPIC_API_KEY, NULL/"" = unset */
	const char *anthropic_url;   /* ANTHROPIC_BASE_URL */
	const char *anthropic_model; /* ANTHROPIC_MODEL, NULL/"" = the built-in default */
	int first_byte_timeout_ms;   /* upstream silent this long before first byte -> error */
	int idle_timeout_ms;         /* upstream silent this long mid-stream -> error */
};
struct chat_stats {
	uint64_t streams, completed, upstream_errors, client_gone, no_provider;
};
struct chat_evidence { /* borrowed for the duration of chat_start() only */
	const char *customer, *call_id;
	const char *quality_json;
	size_t quality_len;
	const char *ladder_text;
	size_t ladder_len; /* one line per SIP message, in order */
	const char *log_text;
	size_t log_len; /* the call's log lines, in order */
};
struct chat_engine;
/* NULL on allocation failure. conf strings are copied. */
struct chat_engine *chat_engine_new(struct event_base *base, const struct chat_conf *conf);
void chat_engine_free(struct chat_engine *ce); /* cancels every stream */
const struct chat_stats *chat_engine_stats(const struct chat_engine *ce);
/* Takes over req: answers 400 (bad body JSON), 503 (no provider / unreachable before the
 * stream starts) or streams text/event-stream (works for HTTP/1.0 clients without chunked
 * encoding) until done; a client that goes away cancels the upstream request. body is the
 * conversation so far: {"messages":[{"role":"user|assistant","content":"..."}]}. */
void chat_start(struct chat_engine *ce, struct evhttp_request *req, const struct chat_evidence *ev,
                const char *body, size_t body_len);
