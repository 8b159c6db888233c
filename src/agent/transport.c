/*
 * transport.c - the shipper's connection to sipvault-server on the event
 * loop: the host name resolved with evdns, TCP, optionally TLS (OpenSSL
 * bufferevent, peer verified against ca_file or the system trust store, host
 * name or IP address checked), and the shipper's three timers.
 *
 * It holds no protocol logic: it implements struct ag_ship_io and turns
 * libevent callbacks into ag_shipper_on_*() calls.
 */
#include "agent.h"
#include "base/errors.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ag_transport;

/* One timer: the event and what it tells the shipper. */
struct tp_timer {
	struct ag_transport *t;
	enum ag_ship_timer which;
	struct event *ev;
};

struct ag_transport {
	struct event_base *base;
	const struct sv_agent_conf *conf;
	struct ag_shipper *ship; /* borrowed; NULL until attached */
	struct evdns_base *dns;
	SSL_CTX *ssl_ctx;
	struct bufferevent *bev;
	struct tp_timer timers[AG_SHIP_NTIMERS];
};

static void on_read(struct bufferevent *bev, void *arg)
{
	struct ag_transport *t = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	/* the shipper may close the connection (t->bev changes) on any chunk */
	while (t->bev == bev && evbuffer_get_length(in) > 0) {
		uint8_t chunk[16384];
		int n = evbuffer_remove(in, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		ag_shipper_on_input(t->ship, chunk, (size_t)n);
	}
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct ag_transport *t = arg;
	(void)bev;
	ag_shipper_on_sent(t->ship);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct ag_transport *t = arg;
	char why[256];
	if (what & BEV_EVENT_CONNECTED) {
		ag_shipper_on_connected(t->ship);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		snprintf(why, sizeof(why), "connection closed by the server");
	} else {
		int err = EVUTIL_SOCKET_ERROR();
		int dnserr = bufferevent_socket_get_dns_error(bev);
		unsigned long sslerr = t->ssl_ctx ? bufferevent_get_openssl_error(bev) : 0;
		if (dnserr) {
			snprintf(why, sizeof(why), "cannot resolve: %s",
			         evutil_gai_strerror(dnserr));
		} else if (sslerr) {
			char e[200];
			ERR_error_string_n(sslerr, e, sizeof(e));
			snprintf(why, sizeof(why), "TLS: %s", e);
		} else {
			snprintf(why, sizeof(why), "%s",
			         err ? evutil_socket_error_to_string(err) : "connection error");
		}
	}
	ag_shipper_on_closed(t->ship, why);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct tp_timer *tm = arg;
	(void)fd;
	(void)what;
	ag_shipper_on_timer(tm->t->ship, tm->which);
}

/* ------------------------------------------------------------ struct ag_ship_io */

static void tp_close(void *arg)
{
	struct ag_transport *t = arg;
	if (t->bev) {
		bufferevent_free(t->bev);
		t->bev = NULL;
	}
}

/* A new SSL for one connection, checking the server's name or address. */
static SSL *new_ssl(struct ag_transport *t)
{
	SSL *ssl = SSL_new(t->ssl_ctx);
	if (!ssl)
		return NULL;
	const char *host = t->conf->server.host;
	unsigned char tmp[16];
	if (inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
	}
	return ssl;
}

static int tp_connect(void *arg, char *why, size_t whylen)
{
	struct ag_transport *t = arg;
	tp_close(t);
	if (t->ssl_ctx) {
		SSL *ssl = new_ssl(t);
		if (!ssl) {
			snprintf(why, whylen, "SSL_new failed");
			return -ENOMEM;
		}
		t->bev = bufferevent_openssl_socket_new(
		    t->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	} else {
		t->bev = bufferevent_socket_new(t->base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!t->bev) {
		snprintf(why, whylen, "cannot create a socket");
		return -ENOMEM;
	}
	bufferevent_setcb(t->bev, on_read, on_write, on_event, t);
	bufferevent_enable(t->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect_hostname(t->bev, t->dns, AF_UNSPEC, t->conf->server.host,
	                                        t->conf->server.port) != 0) {
		snprintf(why, whylen, "connect failed");
		return -EIO;
	}
	return 0;
}

static int tp_write(void *arg, const void *data, size_t len)
{
	struct ag_transport *t = arg;
	if (!t->bev)
		return -ENOTCONN;
	return bufferevent_write(t->bev, data, len) == 0 ? 0 : -ENOMEM;
}

static size_t tp_queued(void *arg)
{
	struct ag_transport *t = arg;
	return t->bev ? evbuffer_get_length(bufferevent_get_output(t->bev)) : 0;
}

static void tp_timer_set(void *arg, enum ag_ship_timer which, uint64_t ms)
{
	struct ag_transport *t = arg;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000u),
	                     .tv_usec = (suseconds_t)(ms % 1000u) * 1000};
	evtimer_add(t->timers[which].ev, &tv);
}

static void tp_timer_cancel(void *arg, enum ag_ship_timer which)
{
	struct ag_transport *t = arg;
	evtimer_del(t->timers[which].ev);
}

void ag_transport_io(struct ag_transport *t, struct ag_ship_io *io)
{
	memset(io, 0, sizeof(*io));
	io->arg = t;
	io->connect = tp_connect;
	io->close = tp_close;
	io->write = tp_write;
	io->queued = tp_queued;
	io->timer_set = tp_timer_set;
	io->timer_cancel = tp_timer_cancel;
}

void ag_transport_attach(struct ag_transport *t, struct ag_shipper *ship)
{
	t->ship = ship;
}

/* ------------------------------------------------------------ lifecycle */

/* The client TLS context: TLS 1.2 or later, the peer verified. */
static int tls_setup(struct ag_transport *t, char *err, size_t errlen)
{
	const struct sv_agent_conf *conf = t->conf;
	int ok;

	t->ssl_ctx = SSL_CTX_new(TLS_client_method());
	ok = t->ssl_ctx != NULL;
	if (ok) {
		SSL_CTX_set_min_proto_version(t->ssl_ctx, TLS1_2_VERSION);
		SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER, NULL);
		ok = conf->ca_file
		         ? SSL_CTX_load_verify_locations(t->ssl_ctx, conf->ca_file, NULL) == 1
		         : SSL_CTX_set_default_verify_paths(t->ssl_ctx) == 1;
	}
	if (!ok) {
		char e[200] = "";
		ERR_error_string_n(ERR_get_error(), e, sizeof(e));
		snprintf(err, errlen, "[server] ca_file: cannot load %s: %s",
		         conf->ca_file ? conf->ca_file : "the system trust store", e);
		return SV_E_CONFIG;
	}
	return 0;
}

int ag_transport_new(struct event_base *base, const struct sv_agent_conf *conf,
                     struct ag_transport **out, char *err, size_t errlen)
{
	struct ag_transport *t;
	int rc = -ENOMEM;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "transport: out of memory");
		return -ENOMEM;
	}
	t->base = base;
	t->conf = conf;
	for (int i = 0; i < AG_SHIP_NTIMERS; i++) {
		struct tp_timer *tm = &t->timers[i];
		tm->t = t;
		tm->which = (enum ag_ship_timer)i;
		if ((tm->ev = evtimer_new(base, on_timer, tm)) == NULL) {
			snprintf(err, errlen, "transport: cannot create a timer");
			goto out;
		}
	}
	/* without evdns, libevent resolves with a blocking getaddrinfo() */
	if ((t->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL)
		log_warnx("cannot set up asynchronous name resolution (evdns); using the "
		          "system resolver");
	if (conf->tls && (rc = tls_setup(t, err, errlen)) != 0)
		goto out;
	*out = t;
	t = NULL; /* transferred */
	rc = 0;
out:
	ag_transport_free(t);
	return rc;
}

void ag_transport_free(struct ag_transport *t)
{
	if (!t)
		return;
	tp_close(t);
	for (int i = 0; i < AG_SHIP_NTIMERS; i++)
		if (t->timers[i].ev)
			event_free(t->timers[i].ev);
	if (t->dns)
		evdns_base_free(t->dns, 0);
	if (t->ssl_ctx)
		SSL_CTX_free(t->ssl_ctx);
	free(t);
}
