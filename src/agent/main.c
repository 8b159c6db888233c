/*
 * sipvault-agent - entry point: flags and configuration, then one run: the
 * agent (struct agent, which owns the counters and the clock) is built part
 * by part, the event loop runs, and one cleanup path takes it all down.
 *
 * Exit status: 0 success, 2 usage or configuration error (one line on
 * stderr naming file, line and key), 1 runtime failure.
 */
#include "agent.h"
#include "base/cli.h"
#include "base/errors.h"
#include "base/log.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The system clock; tests of the parts inject their own. */
static uint64_t system_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t system_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One agent: everything the run owns, counters and clock included. */
struct agent {
	const struct sv_agent_conf *conf;
	const char *read_file;
	struct ag_clock clock;
	struct ag_counters ctr;
	struct event_base *base;
	struct ag_transport *tp;
	struct ag_shipper *ship;
	struct ag_capture *cap;
	struct ag_logtail *tail;
	struct event *ev_read;  /* --read: the next batch */
	struct event *ev_tick;  /* 200 ms: capture/tracker timers, --read completion */
	struct event *ev_stats; /* 60 s: counters at info */
	struct event *ev_sigterm, *ev_sigint;
	bool read_done;
	int exit_code;
};

static void log_counters(struct agent *a, const char *when)
{
	const struct ag_counters *c = &a->ctr;
	struct sv_tracker_stats ts;
	ag_capture_tracker_stats(a->cap, &ts);
	uint64_t dropped_sip = 0;
	for (int i = 1; i < SV_TRACKER_NDROP; i++)
		dropped_sip += ts.sip_dropped[i];
	log_info("%s: packets %" PRIu64 " (decode errors %" PRIu64 ", duplicates %" PRIu64
	         ", capture drops %" PRIu64 "+%" PRIu64 "); calls %" PRIu64 " live %" PRIu64
	         "; sip sent %" PRIu64 " dropped %" PRIu64 " (out-of-dialog %" PRIu64
	         ", no dialog %" PRIu64 ", unparseable %" PRIu64 "); rtcp %" PRIu64
	         " unmatched %" PRIu64 "; log lines %" PRIu64 " shipped %" PRIu64
	         " unmatched %" PRIu64 " cut %" PRIu64 "; quality %" PRIu64
	         "; frames buffered %" PRIu64 ", sent %" PRIu64 ", acknowledged %" PRIu64
	         ", dropped from the full buffer %" PRIu64 ", lost to buffer errors %" PRIu64
	         ", encode errors %" PRIu64 "; connects %" PRIu64 ", failed attempts %" PRIu64
	         ", handshake timeouts %" PRIu64 ", rx timeouts %" PRIu64,
	         when, c->packets, c->decode_errors, c->duplicates, c->pcap_drops, c->pcap_ifdrops,
	         ts.calls_created, ts.calls_live, c->sip_frames, dropped_sip,
	         ts.sip_dropped[SV_TRACKER_DROP_OUT_OF_DIALOG],
	         ts.sip_dropped[SV_TRACKER_DROP_NO_DIALOG], ts.sip_dropped[SV_TRACKER_DROP_PARSE],
	         c->rtcp_frames, ts.rtcp_unmatched, c->log_lines, c->log_frames, c->log_unmatched,
	         c->log_truncated, c->quality_frames, ag_shipper_pending(a->ship), c->frames_sent,
	         c->frames_acked, c->ring_drops, c->ring_errors, c->encode_errors, c->connects,
	         c->connect_failures, c->handshake_timeouts, c->rx_timeouts);
}

static void emit_frame(void *arg, const uint8_t *frame, size_t len)
{
	struct agent *a = arg;
	ag_shipper_submit(a->ship, frame, len);
}

static void on_log_line(void *arg, const char *line, size_t len)
{
	struct agent *a = arg;
	ag_capture_log_line(a->cap, a->clock.wall_ns(), line, len);
}

static void finish(struct agent *a, int code)
{
	a->exit_code = code;
	event_base_loopexit(a->base, NULL);
}

static void on_read_batch(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	char err[512] = "";
	(void)fd;
	(void)what;
	/* a connected server that is behind: let it catch up before the ring fills */
	if (ag_shipper_state(a->ship) == AG_SHIP_READY && ag_shipper_backlogged(a->ship)) {
		struct timeval tv = {0, 20000};
		if (event_add(a->ev_read, &tv) != 0) {
			log_errx("%s: cannot schedule the next read", a->read_file);
			finish(a, 1);
		}
		return;
	}
	int rc = ag_capture_read_some(a->cap, 2000, err, sizeof(err));
	if (rc < 0) {
		log_errx("%s: %s", a->read_file, err);
		ag_shipper_sync(a->ship);
		finish(a, 1);
		return;
	}
	if (rc == 0) {
		a->read_done = true;
		ag_shipper_sync(a->ship);
		log_info("%s: read to the end (%" PRIu64 " packets); waiting for the server to "
		         "acknowledge %" PRIu64 " frames",
		         a->read_file, a->ctr.packets, ag_shipper_pending(a->ship));
		return;
	}
	event_active(a->ev_read, EV_TIMEOUT, 0);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	(void)fd;
	(void)what;
	if (!a->read_file) {
		ag_capture_tick(a->cap, a->clock.wall_ns());
		return;
	}
	if (!a->read_done)
		return;
	ag_shipper_sync(a->ship);
	if (ag_shipper_drained(a->ship)) {
		fprintf(stderr,
		        "sipvault-agent: %s: %s every frame "
		        "(%" PRIu64 " SIP, %" PRIu64 " RTCP, %" PRIu64 " quality)\n",
		        a->read_file,
		        ag_shipper_acks(a->ship) ? "the server acknowledged"
		                                 : "the server does not acknowledge frames; sent",
		        a->ctr.sip_frames, a->ctr.rtcp_frames, a->ctr.quality_frames);
		finish(a, 0);
	} else if (ag_shipper_state(a->ship) == AG_SHIP_IDLE && ag_shipper_failures(a->ship) > 0) {
		fprintf(stderr,
		        "sipvault-agent: %s: server %s:%u unreachable; %" PRIu64
		        " frames are kept in the disk buffer %s and are sent when the agent "
		        "runs next\n",
		        a->read_file, a->conf->server.host, a->conf->server.port,
		        ag_shipper_pending(a->ship), a->conf->buffer_path);
		finish(a, 0);
	}
}

static void on_stats(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	log_counters(arg, "counters");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct agent *a = arg;
	(void)what;
	log_info("signal %d: flushing the disk buffer and exiting", (int)sig);
	finish(a, 0);
}

static int mkdir_parent(const char *path)
{
	char *d = strdup(path);
	if (!d)
		return -ENOMEM;
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0700) != 0 && errno != EEXIST) {
			int e = -errno;
			free(d);
			return e;
		}
		*p = '/';
	}
	free(d);
	return 0;
}

/* Arms ev (a timer when tv is set). Returns 0 or -1 with the failure printed. */
static int add_event(struct event *ev, const struct timeval *tv, const char *what)
{
	if (event_add(ev, tv) == 0)
		return 0;
	fprintf(stderr, "sipvault-agent: cannot start the %s\n", what);
	return -1;
}

/* Creates the loop's own events and arms them. 0 or -1 (printed). */
static int start_events(struct agent *a)
{
	struct timeval tick = {0, a->read_file ? 50000 : 200000}, minute = {60, 0};

	if ((a->ev_tick = event_new(a->base, -1, EV_PERSIST, on_tick, a)) == NULL ||
	    (a->ev_stats = event_new(a->base, -1, EV_PERSIST, on_stats, a)) == NULL ||
	    (a->ev_sigterm = evsignal_new(a->base, SIGTERM, on_signal, a)) == NULL ||
	    (a->ev_sigint = evsignal_new(a->base, SIGINT, on_signal, a)) == NULL ||
	    (a->read_file && (a->ev_read = event_new(a->base, -1, 0, on_read_batch, a)) == NULL)) {
		fprintf(stderr, "sipvault-agent: cannot create the event loop's events: out of "
		                "memory\n");
		return -1;
	}
	if (add_event(a->ev_tick, &tick, "tick timer") != 0 ||
	    add_event(a->ev_stats, &minute, "statistics timer") != 0 ||
	    add_event(a->ev_sigterm, NULL, "SIGTERM handler") != 0 ||
	    add_event(a->ev_sigint, NULL, "SIGINT handler") != 0)
		return -1;
	if (a->ev_read)
		event_active(a->ev_read, EV_TIMEOUT, 0);
	return 0;
}

static void free_event(struct event **ev)
{
	if (*ev) {
		event_free(*ev);
		*ev = NULL;
	}
}

static int run(const struct sv_agent_conf *conf, const char *read_file)
{
	struct agent a;
	struct sv_diskring *ring = NULL;
	struct sv_diskring_opts ro = {.path = conf->buffer_path,
	                              .max_size = (uint64_t)conf->buffer_max_size};
	struct sv_diskring_stats rs;
	struct ag_ship_io io;
	char err[1024] = "";
	int rc, code = 1;

	memset(&a, 0, sizeof(a));
	a.conf = conf;
	a.read_file = read_file;
	a.clock.wall_ns = system_wall_ns;
	a.clock.mono_ms = system_mono_ms;
	signal(SIGPIPE, SIG_IGN);
	sv_log_route_libs();
	if ((a.base = event_base_new()) == NULL) {
		fprintf(stderr, "sipvault-agent: cannot create the event loop\n");
		goto out;
	}
	if ((rc = ag_capture_new(conf, &a.ctr, emit_frame, &a, &a.cap)) != 0) {
		fprintf(stderr, "sipvault-agent: capture: %s\n", sv_strerror(rc));
		goto out;
	}
	rc = read_file ? ag_capture_open_file(a.cap, read_file, err, sizeof(err))
	               : ag_capture_open_live(a.cap, a.base, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "sipvault-agent: %s%s%s\n", read_file ? read_file : "",
		        read_file ? ": " : "", err[0] ? err : sv_strerror(rc));
		goto out;
	}
	mkdir_parent(conf->buffer_path); /* a failure shows in the open below */
	if ((rc = sv_diskring_open(&ro, &ring, err, sizeof(err))) != 0) {
		fprintf(stderr, "sipvault-agent: [buffer] path: %s\n",
		        err[0] ? err : sv_strerror(rc));
		goto out;
	}
	sv_diskring_stats(ring, ag_wall_ms(&a.clock), &rs);
	log_info("disk buffer %s: %" PRIu64 " bytes, %" PRIu64 " unacknowledged frames recovered",
	         conf->buffer_path, rs.file_size, rs.recovered);
	if ((rc = ag_transport_new(a.base, conf, &a.tp, err, sizeof(err))) != 0) {
		fprintf(stderr, "sipvault-agent: %s\n", err[0] ? err : sv_strerror(rc));
		if (rc == SV_E_CONFIG)
			code = 2;
		goto out;
	}
	ag_transport_io(a.tp, &io);
	if ((rc = ag_shipper_new(conf, ring, &io, &a.clock, &a.ctr, &a.ship)) != 0) {
		fprintf(stderr, "sipvault-agent: shipper: %s\n", sv_strerror(rc));
		goto out;
	}
	ring = NULL; /* transferred */
	ag_transport_attach(a.tp, a.ship);
	if (!read_file && conf->log_file) {
		rc = ag_logtail_new(a.base, conf->log_file, &a.clock, &a.ctr, on_log_line, &a,
		                    &a.tail);
		if (rc == 0)
			log_info("tailing %s", conf->log_file);
		else
			log_errx("cannot tail %s: %s", conf->log_file, sv_strerror(rc));
	}
	if (start_events(&a) != 0)
		goto out;
	ag_shipper_start(a.ship);
	if (event_base_dispatch(a.base) < 0) {
		fprintf(stderr, "sipvault-agent: the event loop failed\n");
		a.exit_code = 1;
	}

	/* stop: lines already written are read, everything goes to disk */
	ag_capture_stop(a.cap);
	if (a.tail) {
		ag_logtail_poll(a.tail);
		ag_logtail_free(a.tail);
		a.tail = NULL;
	}
	ag_shipper_sync(a.ship);
	log_counters(&a, "exit");
	code = a.exit_code;
out:
	free_event(&a.ev_read);
	free_event(&a.ev_tick);
	free_event(&a.ev_stats);
	free_event(&a.ev_sigterm);
	free_event(&a.ev_sigint);
	ag_logtail_free(a.tail);
	ag_capture_free(a.cap);
	if ((rc = ag_shipper_free(a.ship)) != 0 && code == 0) {
		fprintf(stderr, "sipvault-agent: disk buffer: final sync failed: %s\n",
		        sv_strerror(rc));
		code = 1;
	}
	if (ring)
		sv_diskring_close(ring);
	ag_transport_free(a.tp);
	if (a.base)
		event_base_free(a.base);
	return code;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sipvault-agent [--config PATH] [--read FILE.pcap] [--check]\n"
	        "                      [--help] [--version]\n"
	        "\n"
	        "  -c, --config PATH   INI configuration (default %s)\n"
	        "  -r, --read FILE     capture from a pcap/pcapng file instead of the network\n"
	        "  -n, --check         validate the configuration and exit\n"
	        "  -h, --help          this text\n"
	        "  -V, --version       print the version\n"
	        "\n"
	        "configuration keys:\n",
	        SV_AGENT_CONF_PATH);
	sv_conf_print_help(f, sv_agent_conf_keys, sv_agent_conf_nkeys);
}

static int agent_opt(void *arg, int c, const char *val)
{
	const char **read_file = arg;
	if (c == 'r')
		*read_file = val;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option extra[] = {
	    {"read", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	const char *read_file = NULL;
	struct sv_cli cli = {.prog = "sipvault-agent",
	                     .usage = usage,
	                     .extra = extra,
	                     .on_opt = agent_opt,
	                     .arg = &read_file,
	                     .config = SV_AGENT_CONF_PATH};
	struct sv_agent_conf conf;
	char err[1024];
	int c;

	if ((c = sv_cli_parse(&cli, argc, argv)) != SV_CLI_RUN)
		return c;
	if (sv_agent_conf_load(&conf, cli.config, err, sizeof(err)) != 0) {
		fprintf(stderr, "sipvault-agent: %s\n", err);
		return 2;
	}
	if (cli.check) {
		printf("sipvault-agent: %s: configuration OK\n", cli.config);
		sv_agent_conf_release(&conf);
		return 0;
	}
	sv_log_set_level(conf.log_level);
	int rc = run(&conf, read_file);
	sv_agent_conf_release(&conf);
	return rc;
}
