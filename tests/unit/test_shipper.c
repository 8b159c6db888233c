/*
 * test_agent_shipper.c - the agent's shipper state machine (src/agent/shipper.c)
 * with a fake transport and a fake clock: no socket, no event loop, no sleep.
 * The disk ring is the real one, in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent.h"
#include "base/buf.h"
#include "base/errors.h"
#include "base/log.h"
#include "proto/wire.h"
#include "store/diskring.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ fakes */

static uint64_t fake_wall_ns = 1700000000ull * 1000000000u;
static uint64_t fake_mono_ms = 1000;

static uint64_t wall_ns(void)
{
	return fake_wall_ns;
}

static uint64_t mono_ms(void)
{
	return fake_mono_ms;
}

static const struct ag_clock fake_clock = {wall_ns, mono_ms};

struct fake_io {
	struct sv_buf out; /* bytes written since the last take_frames() */
	size_t queued;     /* what queued() reports */
	int connect_rc;    /* what connect() returns */
	int connects, closes;
	bool armed[AG_SHIP_NTIMERS];
	uint64_t ms[AG_SHIP_NTIMERS];
};

static int fk_connect(void *arg, char *why, size_t whylen)
{
	struct fake_io *io = arg;
	io->connects++;
	if (io->connect_rc != 0)
		snprintf(why, whylen, "fake connect failure");
	return io->connect_rc;
}

static void fk_close(void *arg)
{
	struct fake_io *io = arg;
	io->closes++;
	sv_buf_reset(&io->out);
}

static int fk_write(void *arg, const void *data, size_t len)
{
	struct fake_io *io = arg;
	return sv_buf_append(&io->out, data, len);
}

static size_t fk_queued(void *arg)
{
	struct fake_io *io = arg;
	return io->queued;
}

static void fk_timer_set(void *arg, enum ag_ship_timer t, uint64_t ms)
{
	struct fake_io *io = arg;
	io->armed[t] = true;
	io->ms[t] = ms;
}

static void fk_timer_cancel(void *arg, enum ag_ship_timer t)
{
	struct fake_io *io = arg;
	io->armed[t] = false;
}

/* One test's world. */
struct fx {
	char *dir;
	struct sv_agent_conf conf;
	struct fake_io io;
	struct ag_counters ctr;
	struct ag_shipper *s;
};

/* A frame the shipper wrote, copied out. */
struct sent {
	uint8_t type;
	uint32_t seq;
	char text[128]; /* DATA_LOG: the line */
	struct sv_wire_frame f;
	uint8_t raw[2048];
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct sv_diskring *ring = NULL;
	struct ag_ship_io io = {.connect = fk_connect,
	                        .close = fk_close,
	                        .write = fk_write,
	                        .queued = fk_queued,
	                        .timer_set = fk_timer_set,
	                        .timer_cancel = fk_timer_cancel};
	char path[4096], err[256];

	assert_non_null(x);
	x->dir = tu_tmpdir();
	snprintf(path, sizeof(path), "%s/ring", x->dir);
	struct sv_diskring_opts o = {.path = path, .max_size = 16u << 20};
	assert_int_equal(sv_diskring_open(&o, &ring, err, sizeof(err)), 0);
	snprintf(x->conf.server.host, sizeof(x->conf.server.host), "192.0.2.1");
	x->conf.server.port = 7070;
	x->conf.customer_id = "acme";
	x->conf.token = "s3cret";
	x->conf.heartbeat_interval = 30;
	x->conf.rx_timeout = 90;
	x->conf.handshake_timeout = 5;
	x->conf.stats_interval = 30;
	sv_buf_init(&x->io.out);
	io.arg = &x->io;
	assert_int_equal(ag_shipper_new(&x->conf, ring, &io, &fake_clock, &x->ctr, &x->s), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	assert_int_equal(ag_shipper_free(x->s), 0);
	sv_buf_release(&x->io.out);
	tu_rmrf(x->dir);
	free(x->dir);
	free(x);
	return 0;
}

/* Splits what was written into frames (at most max), then forgets it. */
static size_t take_frames(struct fx *x, struct sent *out, size_t max)
{
	size_t n = 0, off = 0;
	while (off < x->io.out.len) {
		struct sv_wire_frame f;
		size_t used;
		assert_int_equal(
		    sv_wire_frame_parse(x->io.out.data + off, x->io.out.len - off, &f, &used), 0);
		if (n < max) {
			struct sent *e = &out[n];
			memset(e, 0, sizeof(*e));
			e->type = f.type;
			e->seq = f.seq;
			assert_true(used <= sizeof(e->raw));
			memcpy(e->raw, x->io.out.data + off, used);
			assert_int_equal(sv_wire_frame_parse(e->raw, used, &e->f, &used), 0);
			struct sv_wire_log l;
			if (f.type == SV_WIRE_DATA_LOG && sv_wire_decode_log(&e->f, &l) == 0)
				snprintf(e->text, sizeof(e->text), "%.*s", (int)l.line.len,
				         (const char *)l.line.p);
		}
		n++;
		off += used;
	}
	sv_buf_reset(&x->io.out);
	return n;
}

static size_t count_frames(struct fx *x)
{
	return take_frames(x, NULL, 0);
}

/* Puts a DATA_LOG frame with line text into the ring. */
static void submit_log(struct fx *x, const char *text)
{
	struct sv_buf b;
	struct sv_wire_log m = {.ts_ns = fake_wall_ns};
	m.call_id.p = (const uint8_t *)"call-1";
	m.call_id.len = 6;
	m.line.p = (const uint8_t *)text;
	m.line.len = strlen(text);
	sv_buf_init(&b);
	assert_int_equal(sv_wire_encode_log(&b, 0, &m), 0);
	assert_int_equal(ag_shipper_submit(x->s, b.data, b.len), 0);
	sv_buf_release(&b);
}

static void submit_n(struct fx *x, int from, int to)
{
	char line[32];
	for (int i = from; i <= to; i++) {
		snprintf(line, sizeof(line), "line %d", i);
		submit_log(x, line);
	}
}

static void feed(struct fx *x, const struct sv_buf *b)
{
	ag_shipper_on_input(x->s, b->data, b->len);
}

static void server_hs_ack(struct fx *x, uint8_t status, const char *caps)
{
	struct sv_buf b;
	struct sv_wire_handshake_ack a;
	memset(&a, 0, sizeof(a));
	a.status = status;
	a.message.p = (const uint8_t *)(status ? "no" : "ok");
	a.message.len = 2;
	if (caps) {
		a.has_caps = 1;
		a.caps.p = (const uint8_t *)caps;
		a.caps.len = strlen(caps);
	}
	sv_buf_init(&b);
	assert_int_equal(sv_wire_encode_handshake_ack(&b, 0, &a), 0);
	feed(x, &b);
	sv_buf_release(&b);
}

static void server_ack(struct fx *x, uint32_t seq)
{
	struct sv_buf b;
	sv_buf_init(&b);
	assert_int_equal(sv_wire_encode_ack(&b, 0, seq), 0);
	feed(x, &b);
	sv_buf_release(&b);
}

/* From IDLE/CONNECTING: the connection comes up and the server accepts caps. */
static void connect_ok(struct fx *x, const char *caps)
{
	struct sent hs;
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_CONNECTING);
	ag_shipper_on_connected(x->s);
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_HANDSHAKE);
	assert_int_equal(take_frames(x, &hs, 1), 1);
	assert_int_equal(hs.type, SV_WIRE_HANDSHAKE);
	server_hs_ack(x, SV_WIRE_STATUS_OK, caps);
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_READY);
}

static void fire(struct fx *x, enum ag_ship_timer t)
{
	assert_true(x->io.armed[t]);
	x->io.armed[t] = false;
	fake_mono_ms += x->io.ms[t];
	ag_shipper_on_timer(x->s, t);
}

/* ------------------------------------------------------------ tests */

/* Start, HANDSHAKE fields and timers, then frames sent from the ring in order. */
static void test_handshake_then_frames(void **state)
{
	struct fx *x = *state;
	struct sent f[8];
	struct sv_wire_handshake h;

	ag_shipper_start(x->s);
	assert_int_equal(x->io.connects, 1);
	assert_true(x->io.armed[AG_SHIP_T_TICK]);
	assert_int_equal(x->io.ms[AG_SHIP_T_TICK], AG_SHIP_TICK_MS);
	assert_int_equal(x->io.ms[AG_SHIP_T_STATE], AG_SHIP_CONNECT_TIMEOUT_MS);

	ag_shipper_on_connected(x->s);
	assert_int_equal(x->io.ms[AG_SHIP_T_STATE], 5000); /* handshake_timeout */
	assert_int_equal(take_frames(x, f, 8), 1);
	assert_int_equal(f[0].type, SV_WIRE_HANDSHAKE);
	assert_int_equal(sv_wire_decode_handshake(&f[0].f, &h), 0);
	assert_memory_equal(h.customer_id.p, "acme", 4);
	assert_memory_equal(h.token.p, "s3cret", 6);
	assert_int_equal(h.agent_version.len, strlen(SV_VERSION));
	assert_true(h.has_caps);
	assert_int_equal(sv_wire_caps_parse(h.caps.p, h.caps.len), SV_WIRE_CAP_ALL);

	server_hs_ack(x, SV_WIRE_STATUS_OK, "ack");
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_READY);
	assert_false(x->io.armed[AG_SHIP_T_STATE]);
	assert_true(ag_shipper_acks(x->s));
	assert_int_equal(x->ctr.connects, 1);

	submit_n(x, 1, 3);
	assert_true(x->io.armed[AG_SHIP_T_FLUSH]);
	assert_int_equal(x->io.ms[AG_SHIP_T_FLUSH], AG_SHIP_FLUSH_MS);
	assert_int_equal(count_frames(x), 0); /* nothing before the flush */
	fire(x, AG_SHIP_T_FLUSH);
	assert_int_equal(take_frames(x, f, 8), 3);
	for (int i = 0; i < 3; i++) {
		char want[16];
		snprintf(want, sizeof(want), "line %d", i + 1);
		assert_int_equal(f[i].type, SV_WIRE_DATA_LOG);
		assert_int_equal(f[i].seq, (uint32_t)i + 1);
		assert_string_equal(f[i].text, want);
	}
	assert_int_equal(x->ctr.frames_sent, 3);
	assert_int_equal(ag_shipper_pending(x->s), 3);
}

/* Cumulative ACKs release frames; the window and the output high-water mark
 * stop sending until there is room again. */
static void test_ack_window(void **state)
{
	struct fx *x = *state;
	const uint32_t cap = AG_SHIP_WINDOW - 16;

	ag_shipper_start(x->s);
	connect_ok(x, "ack");
	submit_n(x, 1, 5);
	fire(x, AG_SHIP_T_FLUSH);
	assert_int_equal(count_frames(x), 5);
	server_ack(x, 3);
	assert_int_equal(ag_shipper_pending(x->s), 2);
	assert_int_equal(x->ctr.frames_acked, 3);
	server_ack(x, 3); /* a repeated ACK changes nothing */
	assert_int_equal(x->ctr.frames_acked, 3);
	server_ack(x, 5);
	assert_true(ag_shipper_drained(x->s));
	assert_int_equal(x->ctr.frames_acked, 5);

	/* the window: at most cap frames unacknowledged */
	submit_n(x, 6, 5 + (int)cap + 100);
	fire(x, AG_SHIP_T_FLUSH);
	assert_int_equal(count_frames(x), cap);
	ag_shipper_on_sent(x->s); /* the socket took it all: no room still */
	assert_int_equal(count_frames(x), 0);
	server_ack(x, 5 + 100); /* 100 more acknowledged: 100 more go */
	assert_int_equal(count_frames(x), 100);
	server_ack(x, 5 + cap + 100);
	assert_true(ag_shipper_drained(x->s));

	/* the transport's queue above AG_SHIP_OUT_HIGH: nothing pulled */
	x->io.queued = AG_SHIP_OUT_HIGH;
	submit_n(x, 1, 2);
	fire(x, AG_SHIP_T_FLUSH);
	assert_int_equal(count_frames(x), 0);
	x->io.queued = 0;
	ag_shipper_on_sent(x->s);
	assert_int_equal(count_frames(x), 2);
}

/* After a reconnect the unacknowledged frames are re-sent first, in ring
 * order, with the new connection's sequences, then the new ones. */
static void test_replay_after_reconnect(void **state)
{
	struct fx *x = *state;
	struct sent f[16];

	ag_shipper_start(x->s);
	connect_ok(x, "ack");
	submit_n(x, 1, 5);
	fire(x, AG_SHIP_T_FLUSH);
	assert_int_equal(count_frames(x), 5);
	server_ack(x, 2);

	ag_shipper_on_closed(x->s, "connection reset");
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_IDLE);
	assert_int_equal(x->ctr.connect_failures, 0); /* it was connected */
	assert_int_equal(ag_shipper_failures(x->s), 1);
	assert_int_equal(x->io.ms[AG_SHIP_T_STATE], 1000);
	submit_n(x, 6, 6); /* captured while away */
	fire(x, AG_SHIP_T_FLUSH);
	assert_int_equal(count_frames(x), 0);

	fire(x, AG_SHIP_T_STATE);
	assert_int_equal(x->io.connects, 2);
	connect_ok(x, "ack");
	assert_int_equal(take_frames(x, f, 16), 4);
	for (int i = 0; i < 4; i++) {
		char want[16];
		snprintf(want, sizeof(want), "line %d", i + 3);
		assert_int_equal(f[i].seq, (uint32_t)i + 1);
		assert_string_equal(f[i].text, want);
	}
	server_ack(x, 4);
	assert_true(ag_shipper_drained(x->s));
	assert_int_equal(x->ctr.frames_acked, 6);
	assert_int_equal(x->ctr.connects, 2);
}

/* Failed attempts back off 1, 2, 4 ... 30 s; a handshake resets it. */
static void test_backoff(void **state)
{
	struct fx *x = *state;
	static const uint64_t want[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};

	ag_shipper_start(x->s);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ag_shipper_on_closed(x->s, "connection refused");
		assert_int_equal(ag_shipper_state(x->s), AG_SHIP_IDLE);
		assert_int_equal(x->io.ms[AG_SHIP_T_STATE], want[i]);
		fire(x, AG_SHIP_T_STATE);
		assert_int_equal(ag_shipper_state(x->s), AG_SHIP_CONNECTING);
	}
	assert_int_equal(x->ctr.connect_failures, 7);
	assert_int_equal(ag_shipper_failures(x->s), 7);

	/* an attempt that cannot even start fails at once */
	x->io.connect_rc = -ENOMEM;
	fire(x, AG_SHIP_T_STATE); /* the attempt in progress times out */
	assert_int_equal(x->io.ms[AG_SHIP_T_STATE], 30000);
	fire(x, AG_SHIP_T_STATE);
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_IDLE);
	assert_int_equal(x->ctr.connect_failures, 9);
	x->io.connect_rc = 0;

	fire(x, AG_SHIP_T_STATE);
	connect_ok(x, "ack");
	assert_int_equal(ag_shipper_failures(x->s), 0);
	ag_shipper_on_closed(x->s, "connection closed by the server");
	assert_int_equal(x->io.ms[AG_SHIP_T_STATE], 1000);
}

/* Connect and handshake timeouts, refusals. */
static void test_connect_handshake_timeouts(void **state)
{
	struct fx *x = *state;

	ag_shipper_start(x->s);
	fire(x, AG_SHIP_T_STATE); /* no TCP connection within 5 s */
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_IDLE);
	assert_int_equal(x->ctr.connect_failures, 1);

	fire(x, AG_SHIP_T_STATE);
	ag_shipper_on_connected(x->s);
	fire(x, AG_SHIP_T_STATE); /* no HANDSHAKE_ACK within handshake_timeout */
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_IDLE);
	assert_int_equal(x->ctr.handshake_timeouts, 1);
	assert_int_equal(x->ctr.connect_failures, 2);

	fire(x, AG_SHIP_T_STATE);
	ag_shipper_on_connected(x->s);
	server_hs_ack(x, SV_WIRE_STATUS_AUTH_FAILED, NULL);
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_IDLE);
	assert_int_equal(x->ctr.auth_failures, 1);
	assert_int_equal(x->ctr.connect_failures, 3);

	/* anything but HANDSHAKE_ACK first is a protocol error */
	fire(x, AG_SHIP_T_STATE);
	ag_shipper_on_connected(x->s);
	server_ack(x, 1);
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_IDLE);
	assert_int_equal(x->ctr.connect_failures, 4);
	assert_int_equal(x->ctr.connects, 0);
}

/* Heartbeats every heartbeat_interval; a silent server for rx_timeout is
 * dropped; garbage from the server drops the connection. */
static void test_heartbeat_rx_timeout(void **state)
{
	struct fx *x = *state;
	struct sent f[4];
	struct sv_buf b;

	ag_shipper_start(x->s);
	connect_ok(x, "ack");
	for (int i = 0; i < 119; i++) /* 29.75 s */
		fire(x, AG_SHIP_T_TICK);
	assert_int_equal(count_frames(x), 0);
	fire(x, AG_SHIP_T_TICK); /* 30 s */
	assert_int_equal(take_frames(x, f, 4), 1);
	assert_int_equal(f[0].type, SV_WIRE_HEARTBEAT);
	assert_int_equal(f[0].seq, 1);
	assert_int_equal(x->ctr.heartbeats, 1);

	/* the server answers: the receive clock restarts */
	sv_buf_init(&b);
	assert_int_equal(sv_wire_encode_heartbeat(&b, SV_WIRE_HEARTBEAT_ACK, 0, 1), 0);
	feed(x, &b);
	sv_buf_reset(&b);
	for (int i = 0; i < 359; i++) /* 89.75 s of silence */
		fire(x, AG_SHIP_T_TICK);
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_READY);
	assert_int_equal(x->ctr.heartbeats, 3);
	fire(x, AG_SHIP_T_TICK); /* 90 s */
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_IDLE);
	assert_int_equal(x->ctr.rx_timeouts, 1);
	assert_true(x->io.armed[AG_SHIP_T_TICK]);

	/* bad magic from the server */
	fire(x, AG_SHIP_T_STATE);
	connect_ok(x, "ack");
	sv_buf_append(&b, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
	feed(x, &b);
	assert_int_equal(ag_shipper_state(x->s), AG_SHIP_IDLE);
	sv_buf_release(&b);
}

/* A server without "ack": frames leave the ring once the socket took them. */
static void test_no_ack_server(void **state)
{
	struct fx *x = *state;

	ag_shipper_start(x->s);
	connect_ok(x, NULL);
	assert_false(ag_shipper_acks(x->s));
	submit_n(x, 1, 4);
	fire(x, AG_SHIP_T_FLUSH);
	assert_int_equal(count_frames(x), 4);
	assert_int_equal(ag_shipper_pending(x->s), 4);
	ag_shipper_on_sent(x->s);
	assert_true(ag_shipper_drained(x->s));
	assert_int_equal(x->ctr.frames_acked, 4);
}

/* DATA_RTCP_ADDR goes out as DATA_RTCP unless the server took "rtcp-addr";
 * AGENT_STATS follows the handshake when "stats" was accepted. */
static void test_rtcp_addr_and_stats(void **state)
{
	struct fx *x = *state;
	struct sent f[4];
	struct sv_buf b;
	struct sv_wire_rtcp m, d;
	struct sv_wire_stats st;
	static const uint8_t rtcp[8] = {0x80, 0xc8, 0, 1, 1, 2, 3, 4};

	memset(&m, 0, sizeof(m));
	m.ts_ns = 5;
	m.call_id.p = (const uint8_t *)"c";
	m.call_id.len = 1;
	m.has_addr = 1;
	m.src.family = m.dst.family = 4;
	m.src.ip[0] = 10;
	m.dst.ip[0] = 11;
	m.src.port = 10000;
	m.dst.port = 20000;
	m.ssrc = 0x01020304;
	m.rtcp.p = rtcp;
	m.rtcp.len = sizeof(rtcp);
	sv_buf_init(&b);
	assert_int_equal(sv_wire_encode_rtcp(&b, 0, &m), 0);
	assert_int_equal(ag_shipper_submit(x->s, b.data, b.len), 0);

	ag_shipper_start(x->s);
	connect_ok(x, "ack");
	assert_int_equal(take_frames(x, f, 4), 1);
	assert_int_equal(f[0].type, SV_WIRE_DATA_RTCP);
	assert_int_equal(sv_wire_decode_rtcp(&f[0].f, &d), 0);
	assert_int_equal(d.ssrc, 0x01020304);
	assert_int_equal(d.rtcp.len, sizeof(rtcp));

	ag_shipper_on_closed(x->s, "reset");
	fire(x, AG_SHIP_T_STATE);
	connect_ok(x, "ack,rtcp-addr,stats");
	assert_int_equal(take_frames(x, f, 4), 2);
	assert_int_equal(f[0].type, SV_WIRE_DATA_RTCP_ADDR);
	assert_int_equal(f[0].seq, 1);
	assert_int_equal(f[1].type, SV_WIRE_AGENT_STATS);
	assert_int_equal(f[1].seq, 2);
	assert_int_equal(sv_wire_decode_stats(&f[1].f, &st), 0);
	assert_true(st.json.len > 0 && st.json.p[0] == '{');
	sv_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_handshake_then_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ack_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replay_after_reconnect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backoff, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_handshake_timeouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_heartbeat_rx_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_ack_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rtcp_addr_and_stats, setup, teardown),
	};
	sv_log_init("test_agent_shipper", SV_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
