/*
 * chat_stub.c - TEMPORARY stand-in for chat.c until the chat engine lands:
 * every chat request is answered 503. Removed when branch `chat` is merged.
 */
#include "chat.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>

struct chat_engine {
	struct chat_stats st;
};

struct chat_engine *chat_engine_new(struct event_base *base, const struct chat_conf *conf)
{
	(void)base;
	(void)conf;
	return calloc(1, sizeof(struct chat_engine));
}

void chat_engine_free(struct chat_engine *ce)
{
	free(ce);
}

const struct chat_stats *chat_engine_stats(const struct chat_engine *ce)
{
	return &ce->st;
}

void chat_start(struct chat_engine *ce, struct evhttp_request *req, const struct chat_evidence *ev,
                const char *body, size_t body_len)
{
	struct evbuffer *b = evbuffer_new();

	(void)ev;
	(void)body;
	(void)body_len;
	ce->st.no_provider++;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	if (b != NULL)
		evbuffer_add_printf(b, "{\"error\": \"no AI provider configured\"}\n");
	evhttp_send_reply(req, 503, "Service Unavailable", b);
	if (b != NULL)
		evbuffer_free(b);
}
