/*
 * sipvault-agent - entry point: flags and configuration.
 *
 * Exit status: 0 success, 2 usage or configuration error (one line on
 * stderr naming file, line and key), 1 runtime failure.
 */
#include "agent.h"
#include "base/errors.h"
#include "base/log.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct agent_counters agent_ctr;

uint64_t agent_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t agent_now_ms(void)
{
	return (int64_t)(agent_now_ns() / 1000000u);
}

struct agent {
	const struct sv_agent_conf *conf;
	struct event_base *base;
	struct shipper *ship;
	struct capture *cap;
	struct logtail *tail;
	const char *read_file;
	struct event *ev_read;  /* --read: the next batch */
	struct event *ev_tick;  /* 200 ms: capture/tracker timers, --read completion */
	struct event *ev_stats; /* 60 s: counters at info */
	struct event *ev_sigterm, *ev_sigint;
	bool read_done;
	int exit_code;
};

static void log_counters(struct agent *a, const char *when)
{
	const struct agent_counters *c = &agent_ctr;
	struct sv_tracker_stats ts;
	capture_tracker_stats(a->cap, &ts);
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
	         c->log_truncated, c->quality_frames, shipper_pending(a->ship), c->frames_sent,
	         c->frames_acked, c->ring_drops, c->ring_errors, c->encode_errors, c->connects,
	         c->connect_failures, c->handshake_timeouts, c->rx_timeouts);
}

static void emit_frame(void *arg, const uint8_t *frame, size_t len)
{
	struct agent *a = arg;
	shipper_submit(a->ship, frame, len);
}

static void on_log_line(void *arg, const char *line, size_t len)
{
	struct agent *a = arg;
	capture_log_line(a->cap, agent_now_ns(), line, len);
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
	if (shipper_state(a->ship) == SHIP_READY && shipper_backlogged(a->ship)) {
		struct timeval tv = {0, 20000};
		event_add(a->ev_read, &tv);
		return;
	}
	int rc = capture_read_some(a->cap, 2000, err, sizeof(err));
	if (rc < 0) {
		log_errx("%s: %s", a->read_file, err);
		shipper_sync(a->ship);
		finish(a, 1);
		return;
	}
	if (rc == 0) {
		a->read_done = true;
		shipper_sync(a->ship);
		log_info("%s: read to the end (%" PRIu64 " packets); waiting for the server to "
		         "acknowledge %" PRIu64 " frames",
		         a->read_file, agent_ctr.packets, shipper_pending(a->ship));
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
		capture_tick(a->cap, agent_now_ns());
		return;
	}
	if (!a->read_done)
		return;
	shipper_sync(a->ship);
	if (shipper_drained(a->ship)) {
		fprintf(stderr,
		        "sipvault-agent: %s: %s every frame "
		        "(%" PRIu64 " SIP, %" PRIu64 " RTCP, %" PRIu64 " quality)\n",
		        a->read_file,
		        shipper_acks(a->ship) ? "the server acknowledged"
		                              : "the server does not acknowledge frames; sent",
		        agent_ctr.sip_frames, agent_ctr.rtcp_frames, agent_ctr.quality_frames);
		finish(a, 0);
	} else if (shipper_state(a->ship) == SHIP_IDLE && shipper_failures(a->ship) > 0) {
		fprintf(stderr,
		        "sipvault-agent: %s: server %s:%u unreachable; %" PRIu64
		        " frames are kept in the disk buffer %s and are sent when the agent "
		        "runs next\n",
		        a->read_file, a->conf->server.host, a->conf->server.port,
		        shipper_pending(a->ship), a->conf->buffer_path);
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

static int run(const struct sv_agent_conf *conf, const char *read_file)
{
	struct agent a;
	struct sv_diskring *ring = NULL;
	char err[1024] = "";
	int rc;

	memset(&a, 0, sizeof(a));
	a.conf = conf;
	a.read_file = read_file;
	signal(SIGPIPE, SIG_IGN);
	sv_log_route_libs();
	a.base = event_base_new();
	if (!a.base) {
		fprintf(stderr, "sipvault-agent: cannot create the event loop\n");
		return 1;
	}
	rc = capture_new(conf, emit_frame, &a, &a.cap);
	if (rc == 0) {
		rc = read_file ? capture_open_file(a.cap, read_file, err, sizeof(err))
		               : capture_open_live(a.cap, a.base, err, sizeof(err));
		if (rc != 0)
			fprintf(stderr, "sipvault-agent: %s%s%s\n", read_file ? read_file : "",
			        read_file ? ": " : "", err[0] ? err : sv_strerror(rc));
	} else {
		fprintf(stderr, "sipvault-agent: %s\n", sv_strerror(rc));
	}
	if (rc != 0) {
		capture_free(a.cap);
		event_base_free(a.base);
		return 1;
	}
	mkdir_parent(conf->buffer_path);
	struct sv_diskring_opts ro = {.path = conf->buffer_path,
	                              .max_size = (uint64_t)conf->buffer_max_size};
	rc = sv_diskring_open(&ro, &ring, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "sipvault-agent: [buffer] path: %s\n",
		        err[0] ? err : sv_strerror(rc));
		capture_free(a.cap);
		event_base_free(a.base);
		return 1;
	}
	struct sv_diskring_stats rs;
	sv_diskring_stats(ring, agent_now_ms(), &rs);
	log_info("disk buffer %s: %" PRIu64 " bytes, %" PRIu64 " unacknowledged frames recovered",
	         conf->buffer_path, rs.file_size, rs.recovered);
	rc = shipper_new(a.base, conf, ring, &a.ship, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "sipvault-agent: %s\n", err[0] ? err : sv_strerror(rc));
		sv_diskring_close(ring);
		capture_free(a.cap);
		event_base_free(a.base);
		return rc == SV_E_CONFIG ? 2 : 1;
	}
	if (!read_file && conf->log_file) {
		if (logtail_new(a.base, conf->log_file, on_log_line, &a, &a.tail) == 0)
			log_info("tailing %s", conf->log_file);
		else
			log_errx("cannot tail %s: out of memory", conf->log_file);
	}
	a.ev_tick = event_new(a.base, -1, EV_PERSIST, on_tick, &a);
	a.ev_stats = event_new(a.base, -1, EV_PERSIST, on_stats, &a);
	a.ev_sigterm = evsignal_new(a.base, SIGTERM, on_signal, &a);
	a.ev_sigint = evsignal_new(a.base, SIGINT, on_signal, &a);
	struct timeval tick = {0, read_file ? 50000 : 200000}, minute = {60, 0};
	event_add(a.ev_tick, &tick);
	event_add(a.ev_stats, &minute);
	event_add(a.ev_sigterm, NULL);
	event_add(a.ev_sigint, NULL);
	if (read_file) {
		a.ev_read = event_new(a.base, -1, 0, on_read_batch, &a);
		event_active(a.ev_read, EV_TIMEOUT, 0);
	}
	shipper_start(a.ship);
	event_base_dispatch(a.base);

	/* stop: lines already written are read, everything goes to disk */
	capture_stop(a.cap);
	if (a.tail) {
		logtail_poll(a.tail);
		logtail_free(a.tail);
	}
	shipper_sync(a.ship);
	log_counters(&a, "exit");
	if (a.ev_read)
		event_free(a.ev_read);
	event_free(a.ev_tick);
	event_free(a.ev_stats);
	event_free(a.ev_sigterm);
	event_free(a.ev_sigint);
	capture_free(a.cap);
	rc = shipper_free(a.ship);
	if (rc != 0 && a.exit_code == 0) {
		fprintf(stderr, "sipvault-agent: disk buffer: final sync failed: %s\n",
		        sv_strerror(rc));
		a.exit_code = 1;
	}
	event_base_free(a.base);
	return a.exit_code;
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"read", required_argument, NULL, 'r'},
	    {"check", no_argument, NULL, 'n'},        {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
	};
	const char *config = SV_AGENT_CONF_PATH, *read_file = NULL;
	struct sv_agent_conf conf;
	char err[1024];
	int c, check = 0;

	sv_log_init("sipvault-agent", SV_LOG_INFO);
	while ((c = getopt_long(argc, argv, "c:r:nhV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sipvault-agent %s\n", SV_VERSION);
			return 0;
		case 'c':
			config = optarg;
			break;
		case 'r':
			read_file = optarg;
			break;
		case 'n':
			check = 1;
			break;
		default:
			fprintf(stderr, "sipvault-agent: try --help\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sipvault-agent: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (sv_agent_conf_load(&conf, config, err, sizeof(err)) != 0) {
		fprintf(stderr, "sipvault-agent: %s\n", err);
		return 2;
	}
	if (check) {
		printf("sipvault-agent: %s: configuration OK\n", config);
		sv_agent_conf_release(&conf);
		return 0;
	}
	sv_log_set_level(conf.log_level);
	int rc = run(&conf, read_file);
	sv_agent_conf_release(&conf);
	return rc;
}
