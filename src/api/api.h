/*
 * api.h - the HTTP side of sipvault-api: one evhttp server on the process's
 * event loop, the call endpoints behind signed links, /health and /metrics.
 */
#ifndef SV_API_API_H
#define SV_API_API_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sv_customers;
struct sv_s3;
struct chat_engine;
struct vault;

/* Limits on what a client may send. */
#define API_MAX_HEADERS    (16 * 1024)  /* request line + header block */
#define API_MAX_BODY       (256 * 1024) /* a chat conversation */
#define API_HTTP_MAX_BODY  (1024 * 1024)
#define API_PRESIGN_SECS   900 /* pre-signed artifact URLs: 15 minutes */
#define API_CACHE_BYTES    (64u * 1024 * 1024)
#define API_MAX_LOG_BYTES  (64u * 1024 * 1024) /* decompressed log chunk */
#define API_MAX_PCAP_BYTES (256u * 1024 * 1024)
/* Evidence handed to the chat engine is cut (head and tail kept) beyond these
 * sizes, a memory bound only: the chat engine cuts by lines far below them. */
#define API_CHAT_MAX_LADDER  (4 * 1024 * 1024)
#define API_CHAT_MAX_LOGS    (4 * 1024 * 1024)
#define API_CHAT_MAX_QUALITY (1024 * 1024)

struct api_settings {
	const char *listen_host; /* NULL: all addresses */
	int listen_port;
	const struct sv_customers *customers;
	const char *hmac_secret;
	int64_t hmac_max_age;
	int lookback_days; /* how far back from ts a call is searched */
	struct vault *vault;
	struct sv_s3 *s3; /* NULL: local store (artifact URLs point at this API) */
	struct chat_engine *chat;
	int64_t (*now)(void); /* Unix seconds; NULL: time() */
};

struct api;

/* Binds and starts serving on base. 0 or a negative code (message logged). */
int api_new(struct event_base *base, const struct api_settings *set, struct api **out);
/* The port bound (useful with port 0). */
int api_port(const struct api *a);
void api_free(struct api *a);

#endif
