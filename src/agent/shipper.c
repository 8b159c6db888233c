/*
 * shipper.c - the disk ring and the connection to sipvault-server.
 *
 * Frames are appended to the disk ring (shipper_submit) and sent from the
 * ring's cursor, so replayed and live frames go out in one order. With the
 * "ack" capability a frame leaves the ring only when the server's cumulative
 * ACK covers the wire sequence it was sent with; without it (a server that
 * does not know the extension) a frame is released once the socket took it
 * (the output buffer drained).
 *
 * Timers: connect and handshake timeouts, heartbeats every
 * [server] heartbeat_interval (30 s), a receive timeout (rx_timeout, 90 s
 * without a byte from the server: a dead peer or a blackholed path that sends
 * no RST), AGENT_STATS every stats_interval, reconnection with backoff 1 s
 * doubling to 30 s, and a short flush timer (fdatasync of the ring, then
 * as many frames as the window allows are queued into one write).
 */
#include "agent.h"
#include "base/buf.h"
#include "base/errors.h"
#include "base/log.h"
#include "proto/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_S 5
#define BACKOFF_MIN_S     1
#define BACKOFF_MAX_S     30
#define FLUSH_MS          20
#define OUT_HIGH          (1u << 20) /* stop pulling from the ring above this */
#define INFLIGHT_CAP      65536u     /* frames sent, not yet acknowledged */

struct inflight {
	uint32_t wseq;
	uint64_t rseq; /* ring sequence; 0 for heartbeats and stats */
};

struct shipper {
	struct event_base *base;
	const struct sv_agent_conf *conf;
	struct sv_diskring *ring;
	struct evdns_base *dns;
	SSL_CTX *ssl_ctx;

	enum shipper_state state;
	struct bufferevent *bev;
	struct sv_wire_decoder dec;
	unsigned caps;
	uint32_t wseq;    /* last wire sequence used on this connection */
	uint64_t last_rx; /* monotonic ms of the last byte received */
	uint64_t last_hb; /* monotonic ms of the last heartbeat sent */
	uint64_t last_stats;
	unsigned failures;
	unsigned backoff_s;

	struct inflight *infl; /* ring buffer of INFLIGHT_CAP */
	size_t infl_head, infl_n;
	uint64_t sent_rseq; /* highest ring seq queued on this connection */

	bool dirty; /* appended or acknowledged since the last sync */
	struct event *ev_flush;
	bool flush_pending;
	struct event *ev_timer; /* connect/handshake timeout, or backoff */
	struct event *ev_tick;  /* 250 ms: heartbeats, rx timeout, stats */

	struct sv_buf scratch;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void do_connect(struct shipper *s);
static void pump(struct shipper *s);

static void arm_timer(struct shipper *s, unsigned secs)
{
	struct timeval tv = {.tv_sec = secs, .tv_usec = 0};
	evtimer_add(s->ev_timer, &tv);
}

static void drop_connection(struct shipper *s)
{
	if (s->bev) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	sv_wire_decoder_release(&s->dec);
	sv_wire_decoder_init(&s->dec);
	s->infl_head = s->infl_n = 0;
	s->sent_rseq = 0;
	s->caps = 0;
	s->wseq = 0;
}

/* The connection failed or timed out: close it and retry after the backoff. */
static void fail(struct shipper *s, const char *why)
{
	enum shipper_state was = s->state;
	drop_connection(s);
	s->state = SHIP_IDLE;
	s->failures++;
	if (was != SHIP_READY)
		agent_ctr.connect_failures++;
	if (s->backoff_s == 0)
		s->backoff_s = BACKOFF_MIN_S;
	if (s->failures == 1 || s->failures % 10 == 0 || s->backoff_s < BACKOFF_MAX_S)
		log_warnx("server %s:%u: %s; retrying in %u s (%" PRIu64 " frames buffered)",
		          s->conf->server.host, s->conf->server.port, why, s->backoff_s,
		          shipper_pending(s));
	evtimer_del(s->ev_timer);
	arm_timer(s, s->backoff_s);
	s->backoff_s = s->backoff_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : s->backoff_s * 2;
}

static int infl_push(struct shipper *s, uint32_t wseq, uint64_t rseq)
{
	if (s->infl_n >= INFLIGHT_CAP)
		return -1;
	struct inflight *e = &s->infl[(s->infl_head + s->infl_n) % INFLIGHT_CAP];
	e->wseq = wseq;
	e->rseq = rseq;
	s->infl_n++;
	return 0;
}

static uint32_t next_wseq(struct shipper *s)
{
	s->wseq = sv_wire_seq_next(s->wseq);
	return s->wseq;
}

static void ring_ack(struct shipper *s, uint64_t rseq)
{
	if (rseq == 0 || rseq <= sv_diskring_acked(s->ring))
		return;
	uint64_t before = sv_diskring_acked(s->ring);
	int rc = sv_diskring_ack(s->ring, rseq);
	if (rc != 0) {
		log_errx("disk buffer: ack %" PRIu64 ": %s (%s)", rseq, sv_strerror(rc),
		         sv_diskring_error(s->ring));
		return;
	}
	agent_ctr.frames_acked += sv_diskring_acked(s->ring) - before;
	s->dirty = true;
}

/* A control frame (HEARTBEAT, AGENT_STATS): sent directly, not buffered. */
static void send_control(struct shipper *s, struct sv_buf *frame)
{
	if (s->state != SHIP_READY || frame->len < SV_WIRE_HDR_LEN)
		return;
	if ((s->caps & SV_WIRE_CAP_ACK) && s->infl_n >= INFLIGHT_CAP)
		return; /* window full: skip it this time */
	uint32_t w = next_wseq(s);
	if (s->caps & SV_WIRE_CAP_ACK)
		infl_push(s, w, 0);
	sv_put_be32(frame->data + 8, w);
	bufferevent_write(s->bev, frame->data, frame->len);
	agent_ctr.bytes_sent += frame->len;
}

static void send_heartbeat(struct shipper *s)
{
	sv_buf_reset(&s->scratch);
	if (sv_wire_encode_heartbeat(&s->scratch, SV_WIRE_HEARTBEAT, 0, agent_now_ns()) == 0) {
		send_control(s, &s->scratch);
		agent_ctr.heartbeats++;
	}
	s->last_hb = mono_ms();
}

static void send_stats(struct shipper *s)
{
	struct sv_buf json;
	struct sv_wire_stats m;
	sv_buf_init(&json);
	shipper_stats_json(s, &json);
	m.ts_ns = agent_now_ns();
	m.json.p = json.data;
	m.json.len = json.len;
	sv_buf_reset(&s->scratch);
	if (json.len > 0 && sv_wire_encode_stats(&s->scratch, 0, &m) == 0)
		send_control(s, &s->scratch);
	sv_buf_release(&json);
	s->last_stats = mono_ms();
}

/* Queues frames from the ring's cursor while the window has room. */
static void pump(struct shipper *s)
{
	if (s->state != SHIP_READY)
		return;
	struct evbuffer *out = bufferevent_get_output(s->bev);
	while (evbuffer_get_length(out) < OUT_HIGH && s->infl_n < INFLIGHT_CAP - 16) {
		const uint8_t *data;
		size_t len;
		uint64_t rseq;
		int rc = sv_diskring_next(s->ring, &data, &len, &rseq, NULL);
		if (rc == SV_E_AGAIN)
			break;
		if (rc != 0) {
			agent_ctr.ring_errors++;
			log_errx("disk buffer: %s (%s)", sv_strerror(rc),
			         sv_diskring_error(s->ring));
			break;
		}
		struct sv_wire_frame f;
		size_t used;
		if (sv_wire_frame_parse(data, len, &f, &used) != 0 || used != len) {
			agent_ctr.ring_errors++;
			log_errx("disk buffer: record %" PRIu64 " is not a frame; skipped", rseq);
			continue;
		}
		uint32_t w = next_wseq(s);
		uint8_t hdr[SV_WIRE_HDR_LEN];
		memcpy(hdr, data, SV_WIRE_HDR_LEN);
		sv_put_be32(hdr + 8, w);
		if (f.type == SV_WIRE_DATA_RTCP_ADDR && !(s->caps & SV_WIRE_CAP_RTCP_ADDR)) {
			/* the server does not take addresses: plain DATA_RTCP */
			struct sv_wire_rtcp m;
			sv_buf_reset(&s->scratch);
			if (sv_wire_decode_rtcp(&f, &m) == 0) {
				m.has_addr = 0;
				if (sv_wire_encode_rtcp(&s->scratch, w, &m) == 0)
					evbuffer_add(out, s->scratch.data, s->scratch.len);
			}
			agent_ctr.bytes_sent += s->scratch.len;
		} else {
			evbuffer_add(out, hdr, sizeof(hdr));
			evbuffer_add(out, data + SV_WIRE_HDR_LEN, len - SV_WIRE_HDR_LEN);
			agent_ctr.bytes_sent += len;
		}
		agent_ctr.frames_sent++;
		s->sent_rseq = rseq;
		if (s->caps & SV_WIRE_CAP_ACK)
			infl_push(s, w, rseq);
	}
}

static void handle_ack(struct shipper *s, uint32_t acked)
{
	uint64_t best = 0;
	while (s->infl_n > 0) {
		struct inflight *e = &s->infl[s->infl_head];
		if (!sv_wire_seq_le(e->wseq, acked))
			break;
		if (e->rseq > best)
			best = e->rseq;
		s->infl_head = (s->infl_head + 1) % INFLIGHT_CAP;
		s->infl_n--;
	}
	ring_ack(s, best);
}

static void on_handshake_ack(struct shipper *s, const struct sv_wire_frame *f)
{
	struct sv_wire_handshake_ack a;
	if (sv_wire_decode_handshake_ack(f, &a) != 0) {
		fail(s, "malformed HANDSHAKE_ACK");
		return;
	}
	if (a.status != SV_WIRE_STATUS_OK) {
		char why[300];
		if (a.status == SV_WIRE_STATUS_AUTH_FAILED)
			agent_ctr.auth_failures++;
		snprintf(why, sizeof(why), "handshake refused (status %u: %.*s)", a.status,
		         (int)(a.message.len > 200 ? 200 : a.message.len),
		         (const char *)a.message.p);
		fail(s, why);
		return;
	}
	s->caps = a.has_caps ? sv_wire_caps_parse(a.caps.p, a.caps.len) & SV_WIRE_CAP_ALL : 0;
	s->state = SHIP_READY;
	s->failures = 0;
	s->backoff_s = 0;
	s->wseq = 0;
	s->infl_head = s->infl_n = 0;
	evtimer_del(s->ev_timer);
	s->last_hb = s->last_stats = mono_ms();
	agent_ctr.connects++;
	log_info("connected to %s:%u%s (capabilities:%s%s%s%s); %" PRIu64 " frames to (re)send",
	         s->conf->server.host, s->conf->server.port, s->conf->tls ? " over TLS" : "",
	         s->caps ? "" : " none", s->caps & SV_WIRE_CAP_ACK ? " ack" : "",
	         s->caps & SV_WIRE_CAP_RTCP_ADDR ? " rtcp-addr" : "",
	         s->caps & SV_WIRE_CAP_STATS ? " stats" : "", shipper_pending(s));
	if (!(s->caps & SV_WIRE_CAP_ACK))
		log_warnx("server did not accept \"ack\": frames are released once written to the "
		          "socket");
	sv_diskring_rewind(s->ring);
	pump(s);
	if (s->caps & SV_WIRE_CAP_STATS)
		send_stats(s);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct shipper *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	s->last_rx = mono_ms();
	while (s->bev == bev && evbuffer_get_length(in) > 0) {
		uint8_t chunk[16384];
		int n = evbuffer_remove(in, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		int rc = sv_wire_decoder_feed(&s->dec, chunk, (size_t)n);
		struct sv_wire_frame f;
		while (rc == 0 && (rc = sv_wire_decoder_next(&s->dec, &f)) > 0) {
			rc = 0;
			if (s->state == SHIP_HANDSHAKE) {
				if (f.type != SV_WIRE_HANDSHAKE_ACK) {
					fail(s, "unexpected frame before HANDSHAKE_ACK");
					return;
				}
				on_handshake_ack(s, &f);
				if (s->state != SHIP_READY)
					return;
				continue;
			}
			if (f.type == SV_WIRE_ACK && (s->caps & SV_WIRE_CAP_ACK)) {
				struct sv_wire_ack a;
				if (sv_wire_decode_ack(&f, &a) == 0)
					handle_ack(s, a.seq);
			}
			/* HEARTBEAT_ACK and unknown types: only refresh last_rx */
		}
		if (rc < 0) {
			char why[160];
			snprintf(why, sizeof(why), "bad stream from server: %s",
			         sv_wire_decoder_fault(&s->dec));
			fail(s, why);
			return;
		}
	}
	if (s->state == SHIP_READY)
		pump(s);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct shipper *s = arg;
	(void)bev;
	if (s->state != SHIP_READY)
		return;
	if (!(s->caps & SV_WIRE_CAP_ACK)) {
		/* no acknowledgements: the socket took everything queued */
		ring_ack(s, s->sent_rseq);
	}
	pump(s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct shipper *s = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		struct sv_wire_handshake h;
		struct sv_buf caps;
		sv_buf_init(&caps);
		sv_wire_caps_format(SV_WIRE_CAP_ALL, &caps);
		memset(&h, 0, sizeof(h));
		h.customer_id.p = (const uint8_t *)s->conf->customer_id;
		h.customer_id.len = strlen(s->conf->customer_id);
		h.token.p = (const uint8_t *)s->conf->token;
		h.token.len = strlen(s->conf->token);
		h.agent_version.p = (const uint8_t *)SV_VERSION;
		h.agent_version.len = strlen(SV_VERSION);
		h.has_caps = 1;
		h.caps.p = caps.data;
		h.caps.len = caps.len;
		sv_buf_reset(&s->scratch);
		sv_wire_encode_handshake(&s->scratch, 0, &h);
		sv_buf_release(&caps);
		bufferevent_write(s->bev, s->scratch.data, s->scratch.len);
		s->state = SHIP_HANDSHAKE;
		s->last_rx = mono_ms();
		evtimer_del(s->ev_timer);
		arm_timer(s, (unsigned)s->conf->handshake_timeout);
		return;
	}
	char why[256];
	if (what & BEV_EVENT_EOF) {
		snprintf(why, sizeof(why), "connection closed by the server");
	} else {
		int err = EVUTIL_SOCKET_ERROR();
		int dnserr = bufferevent_socket_get_dns_error(s->bev);
		unsigned long sslerr = s->ssl_ctx ? bufferevent_get_openssl_error(s->bev) : 0;
		if (dnserr)
			snprintf(why, sizeof(why), "cannot resolve: %s",
			         evutil_gai_strerror(dnserr));
		else if (sslerr) {
			char e[200];
			ERR_error_string_n(sslerr, e, sizeof(e));
			snprintf(why, sizeof(why), "TLS: %s", e);
		} else
			snprintf(why, sizeof(why), "%s",
			         err ? evutil_socket_error_to_string(err) : "connection error");
	}
	fail(s, why);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct shipper *s = arg;
	(void)fd;
	(void)what;
	switch (s->state) {
	case SHIP_IDLE:
		do_connect(s);
		break;
	case SHIP_CONNECTING:
		fail(s, "connect timed out");
		break;
	case SHIP_HANDSHAKE: {
		char why[80];
		agent_ctr.handshake_timeouts++;
		snprintf(why, sizeof(why), "no HANDSHAKE_ACK within %lld s",
		         s->conf->handshake_timeout);
		fail(s, why);
		break;
	}
	case SHIP_READY:
		break;
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct shipper *s = arg;
	(void)fd;
	(void)what;
	if (s->state != SHIP_READY)
		return;
	uint64_t now = mono_ms();
	if (now - s->last_rx >= (uint64_t)s->conf->rx_timeout * 1000u) {
		char why[96];
		agent_ctr.rx_timeouts++;
		snprintf(why, sizeof(why), "nothing received from the server for %lld s",
		         s->conf->rx_timeout);
		fail(s, why);
		return;
	}
	if (now - s->last_hb >= (uint64_t)s->conf->heartbeat_interval * 1000u)
		send_heartbeat(s);
	if ((s->caps & SV_WIRE_CAP_STATS) &&
	    now - s->last_stats >= (uint64_t)s->conf->stats_interval * 1000u)
		send_stats(s);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct shipper *s = arg;
	(void)fd;
	(void)what;
	s->flush_pending = false;
	shipper_sync(s);
	pump(s);
}

static void do_connect(struct shipper *s)
{
	drop_connection(s);
	if (s->ssl_ctx) {
		SSL *ssl = SSL_new(s->ssl_ctx);
		if (!ssl) {
			fail(s, "SSL_new failed");
			return;
		}
		const char *host = s->conf->server.host;
		unsigned char tmp[16];
		if (inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1) {
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
		} else {
			SSL_set_tlsext_host_name(ssl, host);
			SSL_set1_host(ssl, host);
		}
		s->bev = bufferevent_openssl_socket_new(
		    s->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	} else {
		s->bev = bufferevent_socket_new(s->base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!s->bev) {
		fail(s, "cannot create a socket");
		return;
	}
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->state = SHIP_CONNECTING;
	evtimer_del(s->ev_timer);
	arm_timer(s, CONNECT_TIMEOUT_S);
	if (bufferevent_socket_connect_hostname(s->bev, s->dns, AF_UNSPEC, s->conf->server.host,
	                                        s->conf->server.port) != 0) {
		if (s->bev && s->state == SHIP_CONNECTING)
			fail(s, "connect failed");
	}
}

int shipper_new(struct event_base *base, const struct sv_agent_conf *conf, struct sv_diskring *ring,
                struct shipper **out, char *err, size_t errlen)
{
	struct shipper *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base = base;
	s->conf = conf;
	s->ring = ring;
	sv_buf_init(&s->scratch);
	sv_wire_decoder_init(&s->dec);
	s->infl = calloc(INFLIGHT_CAP, sizeof(*s->infl));
	s->ev_flush = evtimer_new(base, on_flush, s);
	s->ev_timer = evtimer_new(base, on_timer, s);
	s->ev_tick = event_new(base, -1, EV_PERSIST, on_tick, s);
	if (!s->infl || !s->ev_flush || !s->ev_timer || !s->ev_tick) {
		s->ring = NULL;
		shipper_free(s);
		return -ENOMEM;
	}
	s->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (conf->tls) {
		s->ssl_ctx = SSL_CTX_new(TLS_client_method());
		int ok = s->ssl_ctx != NULL;
		if (ok) {
			SSL_CTX_set_min_proto_version(s->ssl_ctx, TLS1_2_VERSION);
			SSL_CTX_set_verify(s->ssl_ctx, SSL_VERIFY_PEER, NULL);
			ok = conf->ca_file ? SSL_CTX_load_verify_locations(s->ssl_ctx,
			                                                   conf->ca_file, NULL) == 1
			                   : SSL_CTX_set_default_verify_paths(s->ssl_ctx) == 1;
		}
		if (!ok) {
			char e[200] = "";
			ERR_error_string_n(ERR_get_error(), e, sizeof(e));
			snprintf(err, errlen, "[server] ca_file: cannot load %s: %s",
			         conf->ca_file ? conf->ca_file : "the system trust store", e);
			s->ring = NULL;
			shipper_free(s);
			return SV_E_CONFIG;
		}
	}
	*out = s;
	return 0;
}

void shipper_start(struct shipper *s)
{
	struct timeval tick = {0, 250000};
	event_add(s->ev_tick, &tick);
	do_connect(s);
}

int shipper_submit(struct shipper *s, const uint8_t *frame, size_t len)
{
	struct sv_diskring_drop drop;
	uint64_t seq;
	int rc = sv_diskring_append(s->ring, frame, len, agent_now_ms(), &seq, &drop);
	if (drop.records > 0) {
		agent_ctr.ring_drops += drop.records;
		agent_ctr.ring_drop_bytes += drop.bytes;
		log_warnx("disk buffer full: dropped the %" PRIu64 " oldest unacknowledged frames "
		          "(%" PRIu64 " bytes, sequence %" PRIu64 "..%" PRIu64 ")",
		          drop.records, drop.bytes, drop.first_seq, drop.last_seq);
	}
	if (rc != 0) {
		agent_ctr.ring_errors++;
		log_errx("disk buffer: cannot append a frame of %zu bytes: %s (%s); frame lost",
		         len, sv_strerror(rc), sv_diskring_error(s->ring));
		return rc;
	}
	agent_ctr.ring_appended++;
	s->dirty = true;
	if (!s->flush_pending) {
		struct timeval tv = {0, FLUSH_MS * 1000};
		s->flush_pending = true;
		evtimer_add(s->ev_flush, &tv);
	}
	return 0;
}

int shipper_sync(struct shipper *s)
{
	if (!s->dirty)
		return 0;
	int rc = sv_diskring_sync(s->ring);
	if (rc != 0) {
		agent_ctr.ring_sync_errors++;
		log_errx("disk buffer: sync: %s (%s)", sv_strerror(rc), sv_diskring_error(s->ring));
		return rc;
	}
	s->dirty = false;
	return 0;
}

uint64_t shipper_pending(const struct shipper *s)
{
	struct sv_diskring_stats st;
	sv_diskring_stats(s->ring, 0, &st);
	return st.records;
}

bool shipper_drained(const struct shipper *s)
{
	return shipper_pending(s) == 0;
}

bool shipper_backlogged(const struct shipper *s)
{
	struct sv_diskring_stats st;
	sv_diskring_stats(s->ring, 0, &st);
	return st.bytes > st.capacity / 2;
}

enum shipper_state shipper_state(const struct shipper *s)
{
	return s->state;
}

unsigned shipper_failures(const struct shipper *s)
{
	return s->failures;
}

void shipper_stats_json(const struct shipper *s, struct sv_buf *out)
{
	const struct agent_counters *c = &agent_ctr;
	struct sv_diskring_stats st;
	sv_diskring_stats(s->ring, agent_now_ms(), &st);
	sv_buf_printf(
	    out,
	    "{\"agent_version\":\"%s\",\"packets\":%" PRIu64 ",\"pcap_drops\":%" PRIu64
	    ",\"pcap_ifdrops\":%" PRIu64 ",\"decode_errors\":%" PRIu64 ",\"duplicates\":%" PRIu64
	    ",\"sip_frames\":%" PRIu64 ",\"rtcp_frames\":%" PRIu64 ",\"log_frames\":%" PRIu64
	    ",\"quality_frames\":%" PRIu64 ",\"log_unmatched\":%" PRIu64 ",\"ring_drops\":%" PRIu64
	    ",\"ring_errors\":%" PRIu64 ",\"buffered_frames\":%" PRIu64
	    ",\"buffered_bytes\":%" PRIu64 ",\"oldest_buffered_ms\":%" PRId64
	    ",\"frames_sent\":%" PRIu64 ",\"frames_acked\":%" PRIu64 ",\"reconnects\":%" PRIu64 "}",
	    SV_VERSION, c->packets, c->pcap_drops, c->pcap_ifdrops, c->decode_errors, c->duplicates,
	    c->sip_frames, c->rtcp_frames, c->log_frames, c->quality_frames, c->log_unmatched,
	    c->ring_drops, c->ring_errors, st.records, st.bytes, st.oldest_age_ms, c->frames_sent,
	    c->frames_acked, c->connects > 0 ? c->connects - 1 : 0);
}

int shipper_free(struct shipper *s)
{
	int rc = 0;
	if (!s)
		return 0;
	drop_connection(s);
	if (s->ev_flush)
		event_free(s->ev_flush);
	if (s->ev_timer)
		event_free(s->ev_timer);
	if (s->ev_tick)
		event_free(s->ev_tick);
	if (s->dns)
		evdns_base_free(s->dns, 0);
	if (s->ssl_ctx)
		SSL_CTX_free(s->ssl_ctx);
	if (s->ring)
		rc = sv_diskring_close(s->ring);
	sv_wire_decoder_release(&s->dec);
	sv_buf_release(&s->scratch);
	free(s->infl);
	free(s);
	return rc;
}

bool shipper_acks(const struct shipper *s)
{
	return (s->caps & SV_WIRE_CAP_ACK) != 0;
}
