/*
 * shipper.c - the disk ring and the protocol with sipvault-server, as a
 * state machine (agent.h draws it). It owns no socket and no timer: it asks
 * struct ag_ship_io to connect, write, close and arm timers, and reads the
 * time from the agent's clock, so tests/unit/test_agent_shipper.c runs it
 * with a fake transport and a fake clock.
 *
 * Frames are appended to the disk ring (ag_shipper_submit) and sent from the
 * ring's cursor, so replayed and live frames go out in one order. With the
 * "ack" capability a frame leaves the ring only when the server's cumulative
 * ACK covers the wire sequence it was sent with; without it (a server that
 * does not know the extension) a frame is released once the socket took it
 * (the transport's output queue drained).
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

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct inflight {
	uint32_t wseq;
	uint64_t rseq; /* ring sequence; 0 for heartbeats and stats */
};

struct ag_shipper {
	const struct sv_agent_conf *conf;
	struct sv_diskring *ring;
	struct ag_ship_io io;
	const struct ag_clock *clock;
	struct ag_counters *ctr;

	enum ag_ship_state state;
	struct sv_wire_decoder dec;
	unsigned caps;
	uint32_t wseq;    /* last wire sequence used on this connection */
	uint64_t last_rx; /* monotonic ms of the last byte received */
	uint64_t last_hb; /* monotonic ms of the last heartbeat sent */
	uint64_t last_stats;
	unsigned failures;
	unsigned backoff_s;

	struct inflight *infl; /* ring buffer of AG_SHIP_WINDOW */
	size_t infl_head, infl_n;
	uint64_t sent_rseq; /* highest ring seq queued on this connection */

	bool dirty; /* appended or acknowledged since the last sync */
	bool flush_pending;

	struct sv_buf scratch;
};

static void pump(struct ag_shipper *s);

static void set_timer(struct ag_shipper *s, enum ag_ship_timer t, uint64_t ms)
{
	s->io.timer_set(s->io.arg, t, ms);
}

static void drop_connection(struct ag_shipper *s)
{
	s->io.close(s->io.arg);
	sv_wire_decoder_release(&s->dec);
	sv_wire_decoder_init(&s->dec);
	s->infl_head = s->infl_n = 0;
	s->sent_rseq = 0;
	s->caps = 0;
	s->wseq = 0;
}

/* The connection failed or timed out: close it and retry after the backoff. */
static void fail(struct ag_shipper *s, const char *why)
{
	enum ag_ship_state was = s->state;
	drop_connection(s);
	s->state = AG_SHIP_IDLE;
	s->failures++;
	if (was != AG_SHIP_READY)
		s->ctr->connect_failures++;
	if (s->backoff_s == 0)
		s->backoff_s = AG_SHIP_BACKOFF_MIN_S;
	if (s->failures == 1 || s->failures % 10 == 0 || s->backoff_s < AG_SHIP_BACKOFF_MAX_S)
		log_warnx("server %s:%u: %s; retrying in %u s (%" PRIu64 " frames buffered)",
		          s->conf->server.host, s->conf->server.port, why, s->backoff_s,
		          ag_shipper_pending(s));
	set_timer(s, AG_SHIP_T_STATE, (uint64_t)s->backoff_s * 1000u);
	s->backoff_s =
	    s->backoff_s * 2 > AG_SHIP_BACKOFF_MAX_S ? AG_SHIP_BACKOFF_MAX_S : s->backoff_s * 2;
}

static void do_connect(struct ag_shipper *s)
{
	char why[256] = "";
	drop_connection(s);
	s->state = AG_SHIP_CONNECTING;
	set_timer(s, AG_SHIP_T_STATE, AG_SHIP_CONNECT_TIMEOUT_MS);
	/* the transport may report the outcome before it returns */
	if (s->io.connect(s->io.arg, why, sizeof(why)) != 0 && s->state == AG_SHIP_CONNECTING)
		fail(s, why[0] ? why : "connect failed");
}

static int infl_push(struct ag_shipper *s, uint32_t wseq, uint64_t rseq)
{
	if (s->infl_n >= AG_SHIP_WINDOW)
		return -1;
	struct inflight *e = &s->infl[(s->infl_head + s->infl_n) % AG_SHIP_WINDOW];
	e->wseq = wseq;
	e->rseq = rseq;
	s->infl_n++;
	return 0;
}

static uint32_t next_wseq(struct ag_shipper *s)
{
	s->wseq = sv_wire_seq_next(s->wseq);
	return s->wseq;
}

static void ring_ack(struct ag_shipper *s, uint64_t rseq)
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
	s->ctr->frames_acked += sv_diskring_acked(s->ring) - before;
	s->dirty = true;
}

/* Takes the next wire sequence for a control frame (HEARTBEAT, AGENT_STATS),
 * which is sent directly, not buffered. Returns 0 when it cannot be sent now
 * (not READY, or the window is full: skipped this time). */
static uint32_t control_seq(struct ag_shipper *s)
{
	if (s->state != AG_SHIP_READY)
		return 0;
	if ((s->caps & SV_WIRE_CAP_ACK) && s->infl_n >= AG_SHIP_WINDOW)
		return 0;
	uint32_t w = next_wseq(s);
	if (s->caps & SV_WIRE_CAP_ACK)
		infl_push(s, w, 0);
	return w;
}

static void send_control(struct ag_shipper *s, const struct sv_buf *frame)
{
	s->io.write(s->io.arg, frame->data, frame->len);
	s->ctr->bytes_sent += frame->len;
}

static void send_heartbeat(struct ag_shipper *s)
{
	uint32_t w = control_seq(s);
	sv_buf_reset(&s->scratch);
	if (w != 0 &&
	    sv_wire_encode_heartbeat(&s->scratch, SV_WIRE_HEARTBEAT, w, s->clock->wall_ns()) == 0)
		send_control(s, &s->scratch);
	s->ctr->heartbeats++; /* due, even when a full window made it skip this one */
	s->last_hb = s->clock->mono_ms();
}

static void send_stats(struct ag_shipper *s)
{
	struct sv_buf json;
	struct sv_wire_stats m;
	sv_buf_init(&json);
	ag_shipper_stats_json(s, &json);
	m.ts_ns = s->clock->wall_ns();
	m.json.p = json.data;
	m.json.len = json.len;
	if (json.len > 0) {
		uint32_t w = control_seq(s);
		sv_buf_reset(&s->scratch);
		if (w != 0 && sv_wire_encode_stats(&s->scratch, w, &m) == 0)
			send_control(s, &s->scratch);
	}
	sv_buf_release(&json);
	s->last_stats = s->clock->mono_ms();
}

/* Queues frames from the ring's cursor while the window has room. */
static void pump(struct ag_shipper *s)
{
	if (s->state != AG_SHIP_READY)
		return;
	while (s->io.queued(s->io.arg) < AG_SHIP_OUT_HIGH && s->infl_n < AG_SHIP_WINDOW - 16) {
		const uint8_t *data;
		size_t len;
		uint64_t rseq;
		int rc = sv_diskring_next(s->ring, &data, &len, &rseq, NULL);
		if (rc == SV_E_AGAIN)
			break;
		if (rc != 0) {
			s->ctr->ring_errors++;
			log_errx("disk buffer: %s (%s)", sv_strerror(rc),
			         sv_diskring_error(s->ring));
			break;
		}
		struct sv_wire_frame f;
		size_t used;
		if (sv_wire_frame_parse(data, len, &f, &used) != 0 || used != len) {
			s->ctr->ring_errors++;
			log_errx("disk buffer: record %" PRIu64 " is not a frame; skipped", rseq);
			continue;
		}
		uint32_t w = next_wseq(s);
		if (f.type == SV_WIRE_DATA_RTCP_ADDR && !(s->caps & SV_WIRE_CAP_RTCP_ADDR)) {
			/* the server does not take addresses: plain DATA_RTCP */
			struct sv_wire_rtcp m;
			sv_buf_reset(&s->scratch);
			if (sv_wire_decode_rtcp(&f, &m) == 0) {
				m.has_addr = 0;
				if (sv_wire_encode_rtcp(&s->scratch, w, &m) == 0)
					s->io.write(s->io.arg, s->scratch.data, s->scratch.len);
			}
			s->ctr->bytes_sent += s->scratch.len;
		} else {
			/* the stored frame with this connection's sequence */
			uint8_t hdr[SV_WIRE_HDR_LEN];
			f.seq = w;
			sv_wire_header_encode(&f, hdr);
			s->io.write(s->io.arg, hdr, sizeof(hdr));
			s->io.write(s->io.arg, f.payload, f.len);
			s->ctr->bytes_sent += len;
		}
		s->ctr->frames_sent++;
		s->sent_rseq = rseq;
		if (s->caps & SV_WIRE_CAP_ACK)
			infl_push(s, w, rseq);
	}
}

static void handle_ack(struct ag_shipper *s, uint32_t acked)
{
	uint64_t best = 0;
	while (s->infl_n > 0) {
		struct inflight *e = &s->infl[s->infl_head];
		if (!sv_wire_seq_le(e->wseq, acked))
			break;
		if (e->rseq > best)
			best = e->rseq;
		s->infl_head = (s->infl_head + 1) % AG_SHIP_WINDOW;
		s->infl_n--;
	}
	ring_ack(s, best);
}

static void on_handshake_ack(struct ag_shipper *s, const struct sv_wire_frame *f)
{
	struct sv_wire_handshake_ack a;
	if (sv_wire_decode_handshake_ack(f, &a) != 0) {
		fail(s, "malformed HANDSHAKE_ACK");
		return;
	}
	if (a.status != SV_WIRE_STATUS_OK) {
		char why[300];
		if (a.status == SV_WIRE_STATUS_AUTH_FAILED)
			s->ctr->auth_failures++;
		snprintf(why, sizeof(why), "handshake refused (status %u: %.*s)", a.status,
		         (int)(a.message.len > 200 ? 200 : a.message.len),
		         (const char *)a.message.p);
		fail(s, why);
		return;
	}
	s->caps = a.has_caps ? sv_wire_caps_parse(a.caps.p, a.caps.len) & SV_WIRE_CAP_ALL : 0;
	s->state = AG_SHIP_READY;
	s->failures = 0;
	s->backoff_s = 0;
	s->wseq = 0;
	s->infl_head = s->infl_n = 0;
	s->io.timer_cancel(s->io.arg, AG_SHIP_T_STATE);
	s->last_hb = s->last_stats = s->clock->mono_ms();
	s->ctr->connects++;
	log_info("connected to %s:%u%s (capabilities:%s%s%s%s); %" PRIu64 " frames to (re)send",
	         s->conf->server.host, s->conf->server.port, s->conf->tls ? " over TLS" : "",
	         s->caps ? "" : " none", s->caps & SV_WIRE_CAP_ACK ? " ack" : "",
	         s->caps & SV_WIRE_CAP_RTCP_ADDR ? " rtcp-addr" : "",
	         s->caps & SV_WIRE_CAP_STATS ? " stats" : "", ag_shipper_pending(s));
	if (!(s->caps & SV_WIRE_CAP_ACK))
		log_warnx("server did not accept \"ack\": frames are released once written to the "
		          "socket");
	sv_diskring_rewind(s->ring);
	pump(s);
	if (s->caps & SV_WIRE_CAP_STATS)
		send_stats(s);
}

/* One frame from the server. Returns false when the connection was dropped. */
static bool handle_frame(struct ag_shipper *s, const struct sv_wire_frame *f)
{
	if (s->state == AG_SHIP_HANDSHAKE) {
		if (f->type != SV_WIRE_HANDSHAKE_ACK) {
			fail(s, "unexpected frame before HANDSHAKE_ACK");
			return false;
		}
		on_handshake_ack(s, f);
		return s->state == AG_SHIP_READY;
	}
	if (f->type == SV_WIRE_ACK && (s->caps & SV_WIRE_CAP_ACK)) {
		struct sv_wire_ack a;
		if (sv_wire_decode_ack(f, &a) == 0)
			handle_ack(s, a.seq);
	}
	/* HEARTBEAT_ACK and unknown types: only refresh last_rx */
	return true;
}

void ag_shipper_on_input(struct ag_shipper *s, const uint8_t *data, size_t len)
{
	struct sv_wire_frame f;
	int rc;
	if (s->state != AG_SHIP_HANDSHAKE && s->state != AG_SHIP_READY)
		return;
	s->last_rx = s->clock->mono_ms();
	rc = sv_wire_decoder_feed(&s->dec, data, len);
	while (rc == 0 && (rc = sv_wire_decoder_next(&s->dec, &f)) > 0) {
		rc = 0;
		if (!handle_frame(s, &f))
			return;
	}
	if (rc < 0) {
		char why[160];
		snprintf(why, sizeof(why), "bad stream from server: %s",
		         sv_wire_decoder_fault(&s->dec));
		fail(s, why);
		return;
	}
	pump(s);
}

void ag_shipper_on_sent(struct ag_shipper *s)
{
	if (s->state != AG_SHIP_READY)
		return;
	if (!(s->caps & SV_WIRE_CAP_ACK)) {
		/* no acknowledgements: the socket took everything queued */
		ring_ack(s, s->sent_rseq);
	}
	pump(s);
}

void ag_shipper_on_connected(struct ag_shipper *s)
{
	struct sv_wire_handshake h;
	struct sv_buf caps;
	if (s->state != AG_SHIP_CONNECTING)
		return;
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
	s->io.write(s->io.arg, s->scratch.data, s->scratch.len);
	s->state = AG_SHIP_HANDSHAKE;
	s->last_rx = s->clock->mono_ms();
	set_timer(s, AG_SHIP_T_STATE, (uint64_t)s->conf->handshake_timeout * 1000u);
}

void ag_shipper_on_closed(struct ag_shipper *s, const char *why)
{
	if (s->state == AG_SHIP_IDLE)
		return;
	fail(s, why);
}

static void on_state_timer(struct ag_shipper *s)
{
	char why[96];
	switch (s->state) {
	case AG_SHIP_IDLE:
		do_connect(s);
		break;
	case AG_SHIP_CONNECTING:
		fail(s, "connect timed out");
		break;
	case AG_SHIP_HANDSHAKE:
		s->ctr->handshake_timeouts++;
		snprintf(why, sizeof(why), "no HANDSHAKE_ACK within %lld s",
		         s->conf->handshake_timeout);
		fail(s, why);
		break;
	case AG_SHIP_READY:
		break;
	}
}

static void on_tick(struct ag_shipper *s)
{
	set_timer(s, AG_SHIP_T_TICK, AG_SHIP_TICK_MS);
	if (s->state != AG_SHIP_READY)
		return;
	uint64_t now = s->clock->mono_ms();
	if (now - s->last_rx >= (uint64_t)s->conf->rx_timeout * 1000u) {
		char why[96];
		s->ctr->rx_timeouts++;
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

void ag_shipper_on_timer(struct ag_shipper *s, enum ag_ship_timer t)
{
	switch (t) {
	case AG_SHIP_T_STATE:
		on_state_timer(s);
		break;
	case AG_SHIP_T_FLUSH:
		s->flush_pending = false;
		ag_shipper_sync(s);
		pump(s);
		break;
	case AG_SHIP_T_TICK:
		on_tick(s);
		break;
	case AG_SHIP_NTIMERS:
		break;
	}
}

int ag_shipper_new(const struct sv_agent_conf *conf, struct sv_diskring *ring,
                   const struct ag_ship_io *io, const struct ag_clock *clock,
                   struct ag_counters *ctr, struct ag_shipper **out)
{
	struct ag_shipper *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	if ((s->infl = calloc(AG_SHIP_WINDOW, sizeof(*s->infl))) == NULL) {
		free(s);
		return -ENOMEM;
	}
	s->conf = conf;
	s->ring = ring;
	s->io = *io;
	s->clock = clock;
	s->ctr = ctr;
	sv_buf_init(&s->scratch);
	sv_wire_decoder_init(&s->dec);
	*out = s;
	return 0;
}

void ag_shipper_start(struct ag_shipper *s)
{
	set_timer(s, AG_SHIP_T_TICK, AG_SHIP_TICK_MS);
	do_connect(s);
}

int ag_shipper_submit(struct ag_shipper *s, const uint8_t *frame, size_t len)
{
	struct sv_diskring_drop drop;
	uint64_t seq;
	int rc = sv_diskring_append(s->ring, frame, len, ag_wall_ms(s->clock), &seq, &drop);
	if (drop.records > 0) {
		s->ctr->ring_drops += drop.records;
		s->ctr->ring_drop_bytes += drop.bytes;
		log_warnx("disk buffer full: dropped the %" PRIu64 " oldest unacknowledged frames "
		          "(%" PRIu64 " bytes, sequence %" PRIu64 "..%" PRIu64 ")",
		          drop.records, drop.bytes, drop.first_seq, drop.last_seq);
	}
	if (rc != 0) {
		s->ctr->ring_errors++;
		log_errx("disk buffer: cannot append a frame of %zu bytes: %s (%s); frame lost",
		         len, sv_strerror(rc), sv_diskring_error(s->ring));
		return rc;
	}
	s->ctr->ring_appended++;
	s->dirty = true;
	if (!s->flush_pending) {
		s->flush_pending = true;
		set_timer(s, AG_SHIP_T_FLUSH, AG_SHIP_FLUSH_MS);
	}
	return 0;
}

int ag_shipper_sync(struct ag_shipper *s)
{
	if (!s->dirty)
		return 0;
	int rc = sv_diskring_sync(s->ring);
	if (rc != 0) {
		s->ctr->ring_sync_errors++;
		log_errx("disk buffer: sync: %s (%s)", sv_strerror(rc), sv_diskring_error(s->ring));
		return rc;
	}
	s->dirty = false;
	return 0;
}

uint64_t ag_shipper_pending(const struct ag_shipper *s)
{
	struct sv_diskring_stats st;
	sv_diskring_stats(s->ring, 0, &st);
	return st.records;
}

bool ag_shipper_drained(const struct ag_shipper *s)
{
	return ag_shipper_pending(s) == 0;
}

bool ag_shipper_backlogged(const struct ag_shipper *s)
{
	struct sv_diskring_stats st;
	sv_diskring_stats(s->ring, 0, &st);
	return st.bytes > st.capacity / 2;
}

enum ag_ship_state ag_shipper_state(const struct ag_shipper *s)
{
	return s->state;
}

unsigned ag_shipper_failures(const struct ag_shipper *s)
{
	return s->failures;
}

bool ag_shipper_acks(const struct ag_shipper *s)
{
	return (s->caps & SV_WIRE_CAP_ACK) != 0;
}

void ag_shipper_stats_json(const struct ag_shipper *s, struct sv_buf *out)
{
	const struct ag_counters *c = s->ctr;
	struct sv_diskring_stats st;
	sv_diskring_stats(s->ring, ag_wall_ms(s->clock), &st);
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

int ag_shipper_free(struct ag_shipper *s)
{
	int rc = 0;
	if (!s)
		return 0;
	s->io.close(s->io.arg);
	for (int t = 0; t < AG_SHIP_NTIMERS; t++)
		s->io.timer_cancel(s->io.arg, (enum ag_ship_timer)t);
	if (s->ring)
		rc = sv_diskring_close(s->ring);
	sv_wire_decoder_release(&s->dec);
	sv_buf_release(&s->scratch);
	free(s->infl);
	free(s);
	return rc;
}
