/*
 * curlev.h - a libcurl multi handle driven by a libevent event_base (the
 * "hiperfifo" pattern): curl tells which sockets to watch and when to time
 * out, libevent watches them, and nothing ever blocks the loop.
 *
 * The owner adds and removes easy handles on sv_curlev_multi() itself
 * (curl_multi_add_handle / curl_multi_remove_handle) and sets any multi
 * options it wants. When a transfer ends, `done` is called from the event
 * loop with the easy handle and its result; the handle is still added to the
 * multi handle, and `done` normally removes it (it may also add new ones).
 * After each batch of finished transfers `drained` (may be NULL) is called.
 * Never remove a handle from inside one of its own curl callbacks
 * (write, header...): make the callback fail the transfer instead.
 */
#ifndef SV_CURLEV_H
#define SV_CURLEV_H

#include <curl/curl.h>

struct event_base;
struct sv_curlev;

typedef void (*sv_curlev_done_fn)(CURL *easy, CURLcode result, void *arg);
typedef void (*sv_curlev_drained_fn)(void *arg);

/* Creates the multi handle on base (borrowed, must outlive it). Calls
 * curl_global_init() once per process (not thread-safe). 0 or -ENOMEM. */
int sv_curlev_new(struct event_base *base, sv_curlev_done_fn done, sv_curlev_drained_fn drained,
                  void *arg, struct sv_curlev **out);
/* Frees the multi handle and every socket watch. The owner removes (and
 * frees) its easy handles first; `done` is not called. Accepts NULL. */
void sv_curlev_free(struct sv_curlev *cm);
CURLM *sv_curlev_multi(struct sv_curlev *cm);
/* Reports finished transfers now (done, then drained); for owners that
 * changed the multi handle outside a curl event. */
void sv_curlev_check(struct sv_curlev *cm);

#endif
