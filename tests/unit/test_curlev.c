#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/curlev.h"
#include "testutil.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A local evhttp server on the same loop answers "hello PATH"; curl
 * transfers run through curlev beside it, so a blocking call anywhere would
 * deadlock the test. */

struct xfer {
	CURL *easy;
	struct sv_buf body;
	CURLcode result;
	int done;
};

struct ctx {
	struct event_base *base;
	struct sv_curlev *cm;
	struct xfer x[4];
	int n_done, n_drained;
};

static void on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "hello %s", evhttp_request_get_uri(req));
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	sv_buf_append(&x->body, data, size * n);
	return size * n;
}

static void on_done(CURL *easy, CURLcode result, void *arg)
{
	struct ctx *c = arg;
	struct xfer *x = NULL;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	assert_non_null(x);
	assert_ptr_equal(x->easy, easy);
	assert_int_equal(x->done, 0);
	x->done = 1;
	x->result = result;
	curl_multi_remove_handle(sv_curlev_multi(c->cm), easy);
	if (++c->n_done == 4)
		event_base_loopbreak(c->base);
}

static void on_drained(void *arg)
{
	struct ctx *c = arg;
	c->n_drained++;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &sl), 0);
	close(s);
	return ntohs(sin.sin_port);
}

static void test_transfers(void **state)
{
	struct ctx c;
	memset(&c, 0, sizeof(c));
	c.base = event_base_new();
	assert_non_null(c.base);
	struct evhttp *http = evhttp_new(c.base);
	evhttp_set_gencb(http, on_request, NULL);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	assert_non_null(bs);
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &sl),
	                 0);
	int dead = free_port();
	assert_int_equal(sv_curlev_new(c.base, on_done, on_drained, &c, &c.cm), 0);
	for (int i = 0; i < 4; i++) {
		char url[128];
		if (i < 3)
			snprintf(url, sizeof(url), "http://127.0.0.1:%d/x%d", ntohs(sin.sin_port),
			         i);
		else
			snprintf(url, sizeof(url), "http://127.0.0.1:%d/", dead);
		struct xfer *x = &c.x[i];
		sv_buf_init(&x->body);
		x->easy = curl_easy_init();
		curl_easy_setopt(x->easy, CURLOPT_URL, url);
		curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write);
		curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
		curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x);
		curl_easy_setopt(x->easy, CURLOPT_NOPROXY, "*");
		assert_int_equal(curl_multi_add_handle(sv_curlev_multi(c.cm), x->easy), CURLM_OK);
	}
	struct timeval tv = {10, 0};
	struct event *deadline = evtimer_new(c.base, on_deadline, c.base);
	evtimer_add(deadline, &tv);
	event_base_dispatch(c.base);
	assert_int_equal(c.n_done, 4);
	assert_true(c.n_drained >= 1);
	for (int i = 0; i < 3; i++) {
		char want[32];
		snprintf(want, sizeof(want), "hello /x%d", i);
		assert_int_equal(c.x[i].result, CURLE_OK);
		sv_buf_append(&c.x[i].body, "", 1);
		assert_string_equal((char *)c.x[i].body.data, want);
	}
	assert_int_equal(c.x[3].result, CURLE_COULDNT_CONNECT);
	for (int i = 0; i < 4; i++) {
		curl_easy_cleanup(c.x[i].easy);
		sv_buf_release(&c.x[i].body);
	}
	sv_curlev_free(c.cm);
	sv_curlev_free(NULL);
	event_free(deadline);
	evhttp_free(http);
	event_base_free(c.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_transfers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
