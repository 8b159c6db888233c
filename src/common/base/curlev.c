/*
 * curlev.c - libcurl multi on a libevent loop (see curlev.h).
 */
#include "base/curlev.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/queue.h>

struct sockev {
	LIST_ENTRY(sockev) link;
	struct sv_curlev *cm;
	curl_socket_t fd;
	struct event *ev;
};

struct sv_curlev {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	sv_curlev_done_fn done;
	sv_curlev_drained_fn drained;
	void *arg;
	LIST_HEAD(, sockev) socks;
};

static int curl_ready;

void sv_curlev_check(struct sv_curlev *cm)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(cm->multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE && cm->done != NULL)
			cm->done(msg->easy_handle, msg->data.result, cm->arg);
	}
	if (cm->drained != NULL)
		cm->drained(cm->arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_curlev *cm = arg;
	int running;
	curl_multi_socket_action(cm->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	sv_curlev_check(cm);
}

static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct sv_curlev *cm = userp;
	if (timeout_ms < 0) {
		evtimer_del(cm->timer);
		return 0;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	return evtimer_add(cm->timer, &tv) == 0 ? 0 : -1;
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct sockev *se = arg;
	struct sv_curlev *cm = se->cm;
	int action =
	    ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;
	curl_multi_socket_action(cm->multi, fd, action, &running);
	/* Unlike hiperfifo, the timer is left alone when nothing runs: a done
	 * callback may just have added a transfer, and curl's TIMERFUNCTION
	 * clears the timer itself when it has nothing to time. */
	sv_curlev_check(cm);
}

static void sockev_free(struct sockev *se)
{
	LIST_REMOVE(se, link);
	if (se->ev != NULL)
		event_free(se->ev);
	free(se);
}

static int socket_fn(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct sv_curlev *cm = userp;
	struct sockev *se = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (se != NULL) {
			curl_multi_assign(cm->multi, fd, NULL);
			sockev_free(se);
		}
		return 0;
	}
	if (se == NULL) {
		se = calloc(1, sizeof(*se));
		if (se == NULL)
			return -1;
		se->cm = cm;
		se->fd = fd;
		LIST_INSERT_HEAD(&cm->socks, se, link);
		curl_multi_assign(cm->multi, fd, se);
	}
	short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	             ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (se->ev != NULL) {
		event_free(se->ev);
		se->ev = NULL;
	}
	se->ev = event_new(cm->base, fd, kind, on_socket, se);
	if (se->ev == NULL || event_add(se->ev, NULL) != 0)
		return -1;
	return 0;
}

int sv_curlev_new(struct event_base *base, sv_curlev_done_fn done, sv_curlev_drained_fn drained,
                  void *arg, struct sv_curlev **out)
{
	*out = NULL;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -ENOMEM;
		curl_ready = 1;
	}
	struct sv_curlev *cm = calloc(1, sizeof(*cm));
	if (cm == NULL)
		return -ENOMEM;
	cm->base = base;
	cm->done = done;
	cm->drained = drained;
	cm->arg = arg;
	LIST_INIT(&cm->socks);
	cm->timer = evtimer_new(base, on_timer, cm);
	cm->multi = curl_multi_init();
	if (cm->timer == NULL || cm->multi == NULL) {
		sv_curlev_free(cm);
		return -ENOMEM;
	}
	curl_multi_setopt(cm->multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
	curl_multi_setopt(cm->multi, CURLMOPT_SOCKETDATA, cm);
	curl_multi_setopt(cm->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
	curl_multi_setopt(cm->multi, CURLMOPT_TIMERDATA, cm);
	*out = cm;
	return 0;
}

void sv_curlev_free(struct sv_curlev *cm)
{
	if (cm == NULL)
		return;
	if (cm->multi != NULL)
		curl_multi_cleanup(cm->multi);
	while (!LIST_EMPTY(&cm->socks))
		sockev_free(LIST_FIRST(&cm->socks));
	if (cm->timer != NULL)
		event_free(cm->timer);
	free(cm);
}

CURLM *sv_curlev_multi(struct sv_curlev *cm)
{
	return cm->multi;
}
