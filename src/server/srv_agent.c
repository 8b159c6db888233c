/*
 * srv_agent.c - TCP agent connections: handshake, frame stream, ACKs.
 *
 * One bufferevent per connection. The read callback hands the chunks of the
 * input buffer to the streaming wire decoder without copying them and
 * handles every whole frame; a frame split across reads is assembled by the
 * decoder. Data frames are journaled, then fed to the call engine
 * (srv_ingest_frame). At the end of the callback a journal sync is requested
 * (group commit, srv_core.c), after which connections that negotiated "ack"
 * get one cumulative ACK.
 *
 * Output never blocks and never grows without bound: past OUT_MAX queued
 * bytes, HEARTBEAT_ACKs are not queued and ACKs are coalesced into one sent
 * when the agent has read its backlog. No read timeout: idle agents stay.
 */
#include "srv.h"

#include "base/errors.h"
#include "base/log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT_MAX       (1u << 20) /* queued output beyond which we stop queueing */
#define READ_MAX      (256u * 1024)
#define CLOSE_FLUSH_S 5 /* how long a refused agent gets to read its HANDSHAKE_ACK */
#define PEEK_CHUNKS   16
#define CUST_ID_MAX   64

struct srv_conn {
	struct srv *srv;
	LIST_ENTRY(srv_conn) link;     /* srv.conns */
	LIST_ENTRY(srv_conn) ack_link; /* srv.ack_list, when on_ack_list */
	bool on_ack_list;
	struct bufferevent *bev;
	struct sv_wire_decoder dec;
	char peer[64];
	struct srv_cstats *cs;        /* NULL until authenticated */
	uint8_t rec[2 + CUST_ID_MAX]; /* journal prefix: u16 length + customer id */
	size_t rec_len;
	unsigned caps;
	bool authed;
	bool closing; /* refused: waiting for the HANDSHAKE_ACK to be flushed */
	bool failed;  /* to be freed at the end of the current callback */
	bool in_cb;
	bool have_seq, have_acked, ack_waiting;
	uint32_t last_seq, acked_seq;
};

static void conn_free(struct srv_conn *c)
{
	struct srv *s = c->srv;

	if (c->on_ack_list)
		LIST_REMOVE(c, ack_link);
	LIST_REMOVE(c, link);
	if (c->cs != NULL && c->cs->agents > 0)
		c->cs->agents--;
	s->nconns--;
	bufferevent_free(c->bev);
	sv_wire_decoder_release(&c->dec);
	free(c);
}

static const char *conn_customer(const struct srv_conn *c)
{
	return c->cs != NULL ? c->cs->id : "-";
}

/* Closes a connection because of what it sent. Freed at the end of the
 * running callback (or now, when called from outside one). */
static void conn_fail(struct srv_conn *c, enum srv_drop reason, const char *why)
{
	c->srv->drops[reason]++;
	log_warnx("customer=%s agent %s: closing connection: %s", conn_customer(c), c->peer, why);
	c->failed = true;
	if (!c->in_cb)
		conn_free(c);
}

static int conn_write(struct srv_conn *c, const struct sv_buf *b)
{
	if (bufferevent_write(c->bev, b->data, b->len) != 0)
		return -ENOMEM;
	return 0;
}

static size_t conn_queued(const struct srv_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static void send_handshake_ack(struct srv_conn *c, uint32_t seq, uint8_t status, const char *msg,
                               bool with_caps, unsigned caps)
{
	struct srv *s = c->srv;
	struct sv_wire_handshake_ack a;

	sv_buf_reset(&s->wbuf);
	memset(&a, 0, sizeof(a));
	a.status = status;
	a.message.p = (const uint8_t *)msg;
	a.message.len = strlen(msg);
	if (with_caps) {
		struct sv_buf cb;
		sv_buf_init(&cb);
		if (sv_wire_caps_format(caps, &cb) == 0) {
			a.has_caps = 1;
			a.caps.p = cb.data;
			a.caps.len = cb.len;
		}
		if (sv_wire_encode_handshake_ack(&s->wbuf, seq, &a) == 0)
			(void)conn_write(c, &s->wbuf);
		sv_buf_release(&cb);
		return;
	}
	if (sv_wire_encode_handshake_ack(&s->wbuf, seq, &a) == 0)
		(void)conn_write(c, &s->wbuf);
}

/* Printable copy of an untrusted string for a log line. */
static void printable(const uint8_t *p, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < outlen; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			out[o++] = (char)p[i];
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02X", p[i]);
	}
	out[o] = '\0';
}

/* Refuses the handshake: answer, then close once the answer is flushed. */
static void conn_refuse(struct srv_conn *c, uint32_t seq, uint8_t status, const char *msg)
{
	struct timeval tv = {CLOSE_FLUSH_S, 0};

	send_handshake_ack(c, seq, status, msg, false, 0);
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	if (conn_queued(c) == 0) {
		c->failed = true;
		if (!c->in_cb)
			conn_free(c);
	}
}

static void conn_handshake(struct srv_conn *c, const struct sv_wire_frame *f)
{
	struct srv *s = c->srv;
	struct sv_wire_handshake h;
	char id[CUST_ID_MAX + 1], shown[4 * 64 + 8], ver[64];
	const struct sv_customer *cu = NULL;
	unsigned caps = 0;

	if (sv_wire_decode_handshake(f, &h) != 0) {
		conn_fail(c, SRV_DROP_PROTOCOL_ERROR, "malformed HANDSHAKE");
		return;
	}
	printable(h.customer_id.p, h.customer_id.len < 64 ? h.customer_id.len : 64, shown,
	          sizeof(shown));
	if (h.customer_id.len > 0 && h.customer_id.len <= CUST_ID_MAX) {
		memcpy(id, h.customer_id.p, h.customer_id.len);
		id[h.customer_id.len] = '\0';
		if (strlen(id) == h.customer_id.len)
			cu = sv_customers_find_by_id(s->customers, id);
	}
	/* The token is compared in constant time and never logged. */
	if (cu == NULL || !sv_customer_token_ok(cu, (const char *)h.token.p, h.token.len)) {
		s->drops[SRV_DROP_AUTH_FAILED]++;
		log_warnx("auth failed for customer %s from %s", shown, c->peer);
		conn_refuse(c, f->seq, SV_WIRE_STATUS_AUTH_FAILED, "authentication failed");
		return;
	}
	/* The agent version is the agent's software version (a release tag, a
	 * git hash, "dev", anything): logged, never judged. The protocol is the
	 * header byte, which the stream decoder checked (conn_bad_stream). */
	printable(h.agent_version.p, h.agent_version.len < 32 ? h.agent_version.len : 32, ver,
	          sizeof(ver));
	if (h.has_caps)
		caps = sv_wire_caps_parse(h.caps.p, h.caps.len) & SV_WIRE_CAP_ALL;
	c->caps = caps;
	c->authed = true;
	c->cs = srv_cstats_get(s, cu->id);
	if (c->cs == NULL) {
		conn_fail(c, SRV_DROP_PROTOCOL_ERROR, "out of memory");
		return;
	}
	c->cs->agents++;
	sv_put_be16(c->rec, (uint16_t)h.customer_id.len);
	memcpy(c->rec + 2, cu->id, h.customer_id.len);
	c->rec_len = 2 + h.customer_id.len;
	send_handshake_ack(c, f->seq, SV_WIRE_STATUS_OK, "ok", h.has_caps != 0, caps);
	log_info("customer=%s agent %s connected (version \"%s\", capabilities%s%s%s%s)", cu->id,
	         c->peer, ver, caps == 0 ? " none" : "", caps & SV_WIRE_CAP_ACK ? " ack" : "",
	         caps & SV_WIRE_CAP_RTCP_ADDR ? " rtcp-addr" : "",
	         caps & SV_WIRE_CAP_STATS ? " stats" : "");
}

static void send_ack(struct srv_conn *c)
{
	struct srv *s = c->srv;

	if (!c->have_seq || (c->have_acked && c->acked_seq == c->last_seq))
		return;
	if (conn_queued(c) > OUT_MAX) {
		c->ack_waiting = true; /* sent by the write callback once drained */
		return;
	}
	sv_buf_reset(&s->wbuf);
	if (sv_wire_encode_ack(&s->wbuf, 0, c->last_seq) == 0 && conn_write(c, &s->wbuf) == 0) {
		c->acked_seq = c->last_seq;
		c->have_acked = true;
		c->ack_waiting = false;
	}
}

void srv_agent_send_acks(struct srv *s)
{
	struct srv_conn *c;

	while ((c = LIST_FIRST(&s->ack_list)) != NULL) {
		LIST_REMOVE(c, ack_link);
		c->on_ack_list = false;
		if (!c->failed && !c->closing)
			send_ack(c);
	}
}

static void want_ack(struct srv_conn *c)
{
	struct srv *s = c->srv;

	if (!c->on_ack_list) {
		c->on_ack_list = true;
		LIST_INSERT_HEAD(&s->ack_list, c, ack_link);
	}
	srv_want_sync(s);
}

static void conn_heartbeat(struct srv_conn *c, const struct sv_wire_frame *f)
{
	struct srv *s = c->srv;
	struct sv_wire_heartbeat hb;

	if (sv_wire_decode_heartbeat(f, &hb) != 0) {
		conn_fail(c, SRV_DROP_PROTOCOL_ERROR, "malformed HEARTBEAT");
		return;
	}
	if (conn_queued(c) > OUT_MAX)
		return; /* the agent is not reading: do not queue more */
	sv_buf_reset(&s->wbuf);
	if (sv_wire_encode_heartbeat(&s->wbuf, SV_WIRE_HEARTBEAT_ACK, f->seq, hb.ts_ns) == 0)
		(void)conn_write(c, &s->wbuf);
}

static void conn_stats(struct srv_conn *c, const struct sv_wire_frame *f)
{
	struct sv_wire_stats st;

	if (sv_wire_decode_stats(f, &st) != 0) {
		conn_fail(c, SRV_DROP_PROTOCOL_ERROR, "malformed AGENT_STATS");
		return;
	}
	log_debug("customer=%s agent %s stats: %.*s", c->cs->id, c->peer,
	          (int)(st.json.len > 512 ? 512 : st.json.len), (const char *)st.json.p);
}

/* Handles one frame; sets *ingested when something was journaled. */
static void conn_frame(struct srv_conn *c, const struct sv_wire_frame *f, uint64_t now,
                       bool *ingested)
{
	struct srv *s = c->srv;
	char why[160];
	unsigned ti;
	bool data = false;
	int rc;

	if (!c->authed) {
		if (f->type != SV_WIRE_HANDSHAKE) {
			snprintf(why, sizeof(why), "%s frame before HANDSHAKE",
			         sv_wire_type_name(f->type));
			conn_fail(c, SRV_DROP_PROTOCOL_ERROR, why);
			return;
		}
		conn_handshake(c, f);
		return;
	}
	ti = f->type < SRV_FTYPES - 1 ? f->type : SRV_FTYPES - 1;
	c->cs->frames[ti]++;
	c->cs->bytes[ti] += SV_WIRE_HDR_LEN + (uint64_t)f->len;
	switch (f->type) {
	case SV_WIRE_DATA_SIP:
	case SV_WIRE_DATA_RTCP:
	case SV_WIRE_DATA_LOG:
	case SV_WIRE_DATA_QUALITY:
		data = true;
		break;
	case SV_WIRE_DATA_RTCP_ADDR:
		if ((c->caps & SV_WIRE_CAP_RTCP_ADDR) == 0)
			goto unknown;
		data = true;
		break;
	case SV_WIRE_HEARTBEAT:
		conn_heartbeat(c, f);
		break;
	case SV_WIRE_AGENT_STATS:
		if (c->caps & SV_WIRE_CAP_STATS)
			conn_stats(c, f);
		else
			goto unknown;
		break;
	case SV_WIRE_HANDSHAKE:
		conn_fail(c, SRV_DROP_PROTOCOL_ERROR, "second HANDSHAKE on the connection");
		return;
	default:
	unknown:
		s->drops[SRV_DROP_UNKNOWN_FRAME]++;
		log_debug("customer=%s agent %s: skipped frame of type 0x%02x (%u bytes)",
		          c->cs->id, c->peer, f->type, f->len);
		break;
	}
	if (c->failed)
		return;
	if (data) {
		rc = srv_ingest_frame(s, c->cs->id, c->rec, c->rec_len, f, now, why, sizeof(why));
		if (rc == -ENOMEM) {
			conn_fail(c, SRV_DROP_PROTOCOL_ERROR, "out of memory");
			return;
		}
		if (rc != 0) {
			conn_fail(c, SRV_DROP_PROTOCOL_ERROR, why);
			return;
		}
		*ingested = true;
	}
	if (c->caps & SV_WIRE_CAP_ACK) {
		c->last_seq = f->seq;
		c->have_seq = true;
		want_ack(c);
	}
}

/*
 * The stream cannot continue (bad magic, a protocol byte this server does not
 * speak, a payload over 1 MiB). A protocol byte other than ours on a
 * connection that has not completed its handshake is an agent of another
 * protocol version: it gets HANDSHAKE_ACK status 2 (in protocol 1, sequence
 * 0: its header was not read) before the connection is closed. Anything else
 * is closed at once.
 */
static void conn_bad_stream(struct srv_conn *c, int rc)
{
	char why[160];

	snprintf(why, sizeof(why), "malformed stream: %s", sv_wire_decoder_fault(&c->dec));
	if (rc == SV_E_UNSUPP && !c->authed) {
		c->srv->drops[SRV_DROP_PROTOCOL_ERROR]++;
		log_warnx("customer=%s agent %s: refused: %s", conn_customer(c), c->peer, why);
		conn_refuse(c, 0, SV_WIRE_STATUS_VERSION_MISMATCH,
		            "unsupported protocol version (this server speaks protocol version 1)");
		return;
	}
	conn_fail(c, SRV_DROP_PROTOCOL_ERROR, why);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct srv_conn *c = arg;
	struct srv *s = c->srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[PEEK_CHUNKS];
	struct sv_wire_frame f;
	uint64_t now = srv_now(s);
	bool ingested = false;
	int n, rc;

	c->in_cb = true;
	while (!c->failed && !c->closing && evbuffer_get_length(in) > 0) {
		size_t used = 0;
		n = evbuffer_peek(in, -1, NULL, v, PEEK_CHUNKS);
		if (n > PEEK_CHUNKS)
			n = PEEK_CHUNKS;
		for (int i = 0; i < n && !c->failed && !c->closing; i++) {
			rc = sv_wire_decoder_feed(&c->dec, v[i].iov_base, v[i].iov_len);
			while (rc == 0 && !c->failed && !c->closing &&
			       (rc = sv_wire_decoder_next(&c->dec, &f)) > 0) {
				conn_frame(c, &f, now, &ingested);
				rc = 0;
			}
			if (rc < 0 && !c->failed && !c->closing)
				conn_bad_stream(c, rc);
			used += v[i].iov_len;
		}
		evbuffer_drain(in, used);
	}
	c->in_cb = false;
	if (ingested)
		srv_kick_timer(s, now);
	if (c->failed)
		conn_free(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct srv_conn *c = arg;

	if (c->closing) {
		conn_free(c);
		return;
	}
	if (c->ack_waiting)
		send_ack(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct srv_conn *c = arg;

	if (what & BEV_EVENT_TIMEOUT) {
		log_info("customer=%s agent %s: refused agent did not read its answer; closed",
		         conn_customer(c), c->peer);
	} else if (what & BEV_EVENT_ERROR) {
		int e = EVUTIL_SOCKET_ERROR();
		log_info("customer=%s agent %s disconnected: %s", conn_customer(c), c->peer,
		         evutil_socket_error_to_string(e));
	} else if (what & BEV_EVENT_EOF) {
		size_t left = sv_wire_decoder_pending(&c->dec);
		if (left > 0)
			log_warnx("customer=%s agent %s disconnected in the middle of a frame "
			          "(%zu bytes discarded)",
			          conn_customer(c), c->peer, left);
		else
			log_info("customer=%s agent %s disconnected", conn_customer(c), c->peer);
	} else {
		return;
	}
	conn_free(c);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int slen,
                      void *arg)
{
	struct srv *s = arg;
	struct srv_conn *c;
	int one = 1;

	if (s->stopping) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		log_errx("agent connection refused: out of memory");
		close(fd);
		return;
	}
	c->srv = s;
	srv_addr_str(sa, c->peer, sizeof(c->peer));
	sv_wire_decoder_init(&c->dec);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_errx("agent %s refused: cannot create a bufferevent", c->peer);
		close(fd);
		free(c);
		return;
	}
	(void)bufferevent_set_max_single_read(c->bev, READ_MAX);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	LIST_INSERT_HEAD(&s->conns, c, link);
	s->nconns++;
	log_debug("agent %s: connection accepted", c->peer);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	log_warnx("accepting an agent connection failed: %s", evutil_socket_error_to_string(e));
}

int srv_agent_listen(struct srv *s, char *err, size_t errlen)
{
	int fds[2], n;

	n = srv_open_sockets(&s->conf->listen_tcp, SOCK_STREAM, fds, err, errlen);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		struct evconnlistener *l =
		    evconnlistener_new(s->base, accept_cb, s,
		                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fds[i]);
		if (l == NULL) {
			snprintf(err, errlen, "cannot create the agent listener");
			for (int j = i; j < n; j++)
				close(fds[j]);
			return -ENOMEM;
		}
		evconnlistener_set_error_cb(l, accept_error_cb);
		s->tcp[s->ntcp++] = l;
	}
	return 0;
}

void srv_agent_stop_listening(struct srv *s)
{
	for (int i = 0; i < s->ntcp; i++)
		evconnlistener_free(s->tcp[i]);
	s->ntcp = 0;
}

void srv_agent_close_all(struct srv *s)
{
	struct srv_conn *c;

	while ((c = LIST_FIRST(&s->conns)) != NULL)
		conn_free(c);
}

void srv_agent_rebind(struct srv *s)
{
	struct srv_conn *c, *next;

	for (c = LIST_FIRST(&s->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		if (!c->authed || c->closing)
			continue;
		if (sv_customers_find_by_id(s->customers, c->cs->id) != NULL)
			continue;
		log_warnx("customer=%s agent %s: customer removed from SIPVAULT_CUSTOMERS; "
		          "closing the connection",
		          c->cs->id, c->peer);
		conn_free(c);
	}
}
