/*
 * itest_chat - a harness serving the AI chat engine (src/api/chat.c) alone,
 * without the rest of sipvault-api, for tests/integration/chat.py.
 *
 *   itest_chat --sippulse URL --anthropic URL [--first-byte MS] [--idle MS]
 *
 * Listens on 127.0.0.1 (a free port, printed as "PORT=N" on stdout) with
 * libevent's evhttp and four chat engines:
 *   POST /sippulse/chat   SIPPULSE_API_KEY set (OpenAI-compatible provider at URL)
 *   POST /anthropic/chat  only ANTHROPIC_API_KEY set (Anthropic provider at URL)
 *   POST /both/chat       both keys set: SipPulse must be chosen
 *   POST /none/chat       no key: 503
 * with a fixed call as evidence ("?big=1": a call of 3000 SIP messages and
 * 5000 log lines, to see the context cut). GET /stats answers the engines'
 * counters as JSON. SIGTERM or SIGINT: every engine is freed, exit 0.
 */
#include "../../src/api/chat.h"

#include "base/buf.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { E_SIPPULSE, E_ANTHROPIC, E_BOTH, E_NONE, E_COUNT };
static const char *const names[E_COUNT] = {"sippulse", "anthropic", "both", "none"};
static struct chat_engine *engines[E_COUNT];

static const char quality[] = "{\n  \"verdict\": \"good\",\n  \"mos\": 4.31\n}\n";
static const char ladder[] =
    "0.000 10.0.0.1:5060 -> 10.0.0.2:5060 UDP INVITE sip:bob@example.com CSeq 1 INVITE\n"
    "0.020 10.0.0.2:5060 -> 10.0.0.1:5060 UDP 100 Trying CSeq 1 INVITE\n"
    "0.950 10.0.0.2:5060 -> 10.0.0.1:5060 UDP 180 Ringing CSeq 1 INVITE\n"
    "3.100 10.0.0.2:5060 -> 10.0.0.1:5060 UDP 200 OK CSeq 1 INVITE\n"
    "3.110 10.0.0.1:5060 -> 10.0.0.2:5060 UDP ACK CSeq 1 ACK\n"
    "63.40 10.0.0.1:5060 -> 10.0.0.2:5060 UDP BYE CSeq 2 BYE\n"
    "63.42 10.0.0.2:5060 -> 10.0.0.1:5060 UDP 200 OK CSeq 2 BYE\n";
static const char logs[] = "2026-12-04T10:00:00Z pbx: call from 1001 to 1002\n"
                           "2026-12-04T10:01:03Z pbx: call ended normally\n";

static void on_request(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *reply = evbuffer_new();
	if (strcmp(uri, "/stats") == 0) {
		evbuffer_add_printf(reply, "{");
		for (int i = 0; i < E_COUNT; i++) {
			const struct chat_stats *st = chat_engine_stats(engines[i]);
			evbuffer_add_printf(reply,
			                    "%s\"%s\":{\"streams\":%llu,\"completed\":%llu,"
			                    "\"upstream_errors\":%llu,\"client_gone\":%llu,"
			                    "\"no_provider\":%llu}",
			                    i ? "," : "", names[i], (unsigned long long)st->streams,
			                    (unsigned long long)st->completed,
			                    (unsigned long long)st->upstream_errors,
			                    (unsigned long long)st->client_gone,
			                    (unsigned long long)st->no_provider);
		}
		evbuffer_add_printf(reply, "}\n");
		evhttp_send_reply(req, 200, "OK", reply);
		evbuffer_free(reply);
		return;
	}
	for (int i = 0; i < E_COUNT; i++) {
		char path[64];
		size_t n = (size_t)snprintf(path, sizeof(path), "/%s/chat", names[i]);
		if (strncmp(uri, path, n) != 0 || (uri[n] != '\0' && uri[n] != '?'))
			continue;
		if (evhttp_request_get_command(req) != EVHTTP_REQ_POST)
			break;
		int big = strstr(uri + n, "big=1") != NULL;
		struct sv_buf bl, bg;
		sv_buf_init(&bl);
		sv_buf_init(&bg);
		if (big) {
			for (int k = 0; k < 3000; k++)
				sv_buf_printf(
				    &bl, "%d.000 10.0.0.1:5060 -> 10.0.0.2:5060 UDP OPTIONS\n", k);
			for (int k = 0; k < 5000; k++)
				sv_buf_printf(&bg, "log line %d %0300d\n", k, k);
		}
		struct chat_evidence ev = {
		    .customer = "acme",
		    .call_id = "a84b4c76e66710@pc33.example.com",
		    .quality_json = quality,
		    .quality_len = sizeof(quality) - 1,
		    .ladder_text = big ? (const char *)bl.data : ladder,
		    .ladder_len = big ? bl.len : sizeof(ladder) - 1,
		    .log_text = big ? (const char *)bg.data : logs,
		    .log_len = big ? bg.len : sizeof(logs) - 1,
		};
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		const char *body = (const char *)evbuffer_pullup(in, -1);
		chat_start(engines[i], req, &ev, body, len);
		sv_buf_release(&bl);
		sv_buf_release(&bg);
		evbuffer_free(reply);
		return;
	}
	evbuffer_add_printf(reply, "{\"error\":\"not found\"}\n");
	evhttp_send_reply(req, 404, "Not Found", reply);
	evbuffer_free(reply);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"sippulse", required_argument, NULL, 's'},
	    {"anthropic", required_argument, NULL, 'a'},
	    {"first-byte", required_argument, NULL, 'f'},
	    {"idle", required_argument, NULL, 'i'},
	    {NULL, 0, NULL, 0},
	};
	const char *sp_url = NULL, *an_url = NULL;
	int first_byte = 2000, idle = 2000, c;
	while ((c = getopt_long(argc, argv, "s:a:f:i:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sp_url = optarg;
			break;
		case 'a':
			an_url = optarg;
			break;
		case 'f':
			first_byte = atoi(optarg);
			break;
		case 'i':
			idle = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (sp_url == NULL || an_url == NULL) {
		fprintf(stderr, "usage: itest_chat --sippulse URL --anthropic URL\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct event_base *base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	if (base == NULL || http == NULL)
		return 1;
	for (int i = 0; i < E_COUNT; i++) {
		struct chat_conf conf = {
		    .sippulse_url = sp_url,
		    .sippulse_key = (i == E_SIPPULSE || i == E_BOTH) ? "test-sippulse-key" : NULL,
		    .sippulse_model = "test-model",
		    .anthropic_key = (i == E_ANTHROPIC || i == E_BOTH) ? "test-anthropic-key" : "",
		    .anthropic_url = an_url,
		    .anthropic_model = "test-claude",
		    .first_byte_timeout_ms = first_byte,
		    .idle_timeout_ms = idle,
		};
		engines[i] = chat_engine_new(base, &conf);
		if (engines[i] == NULL)
			return 1;
	}
	evhttp_set_gencb(http, on_request, NULL);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (bs == NULL)
		return 1;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &sl) != 0)
		return 1;
	printf("PORT=%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	struct event *st = evsignal_new(base, SIGTERM, on_signal, base);
	struct event *si = evsignal_new(base, SIGINT, on_signal, base);
	event_add(st, NULL);
	event_add(si, NULL);
	event_base_dispatch(base);
	for (int i = 0; i < E_COUNT; i++)
		chat_engine_free(engines[i]);
	evhttp_free(http);
	event_free(st);
	event_free(si);
	event_base_free(base);
	fprintf(stderr, "itest_chat: stopped\n");
	return 0;
}
