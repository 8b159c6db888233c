/*
 * bench_server - load generator for sipvault-server (not a test: `make bench`).
 *
 * Starts build/bin/sipvault-server (found as ../bin/sipvault-server next to
 * this program) on free loopback ports with a temporary data directory
 * (local object store) and SIPVAULT_CLOSING_GRACE=1, opens several agent
 * connections, and measures:
 *
 *  1. throughput: calls offered at increasing rates, each call being 7 SIP
 *     messages (INVITE/100/180/200 with SDP/ACK/BYE/200), 4 RTCP reports
 *     (DATA_RTCP_ADDR) and 10 log lines. Per step: the rate actually sent, the
 *     server's CPU (utime+stime from /proc/PID/stat) per call, and whether
 *     every call was completed (calls_completed_total from /metrics) within
 *     the grace + 2 s after the step. The sustained rate is the highest step
 *     that kept up. BYE -> quality.json latency (p50/p99) is measured by
 *     polling for the quality.json of every Nth call.
 *  2. memory: a fresh server holds N calls in ACTIVE (everything but the BYE
 *     and its 200); VmRSS before and after, divided by N.
 *
 * usage: bench_server [-c conns] [-r rate,rate,...] [-d seconds per step]
 *                     [-n concurrent calls] [-s sample every Nth call]
 *                     [-t tmp parent dir] [-S server binary]
 */
#include "base/buf.h"
#include "call/callkey.h"
#include "base/errors.h"
#include "proto/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS   64
#define MAX_STEPS   16
#define CUSTOMER    "bench"
#define TOKEN       "bench-token-0123456789abcdef"
#define BUCKET      "bench-calls"
#define FLUSH_BYTES (256 * 1024)

struct server {
	pid_t pid;
	char dir[PATH_MAX];
	int tcp_port, hep_port, metrics_port;
};

struct opts {
	int conns;
	long rates[MAX_STEPS];
	int nrates;
	double step_secs;
	long concurrent;
	long sample_every;
	const char *tmp_parent;
	char server_bin[PATH_MAX];
};

struct sample {
	char path[512];
	double t_bye;
};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_server: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int free_port(int type)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, type, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		die("free port");
	close(fd);
	return ntohs(a.sin_port);
}

static int tcp_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write to the server");
		b += w;
		n -= (size_t)w;
	}
}

/* GET /metrics and sum the values of the series whose line starts with
 * prefix (e.g. "sipvault_calls_completed_total{"). -1 on failure. */
static double metric(const struct server *s, const char *prefix)
{
	static char resp[1 << 20];
	int fd = tcp_connect(s->metrics_port);
	if (fd < 0)
		return -1;
	const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	write_all(fd, req, sizeof(req) - 1);
	size_t len = 0;
	ssize_t r;
	while (len < sizeof(resp) - 1 && (r = read(fd, resp + len, sizeof(resp) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	resp[len] = '\0';
	double sum = 0;
	size_t pl = strlen(prefix);
	int found = 0;
	for (char *line = resp; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, prefix, pl) == 0) {
			char *sp = strchr(line, ' ');
			char *nl = strchr(line, '\n');
			if (sp && (!nl || sp < nl)) {
				sum += strtod(sp + 1, NULL);
				found = 1;
			}
		}
	}
	return found ? sum : 0;
}

/* utime+stime of pid in seconds. */
static double cpu_secs(pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long ut = 0, st = 0;
	/* after ") ": state(3) ... utime is field 14, stime 15 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static void server_start(struct server *s, const struct opts *o)
{
	char tmpl[PATH_MAX];
	snprintf(tmpl, sizeof(tmpl), "%s/sv-bench.XXXXXX", o->tmp_parent);
	if (!mkdtemp(tmpl))
		die("mkdtemp");
	snprintf(s->dir, sizeof(s->dir), "%s", tmpl);
	s->tcp_port = free_port(SOCK_STREAM);
	s->hep_port = free_port(SOCK_DGRAM);
	s->metrics_port = free_port(SOCK_STREAM);
	char conf[PATH_MAX + 16], data[PATH_MAX + 16], logp[PATH_MAX + 16];
	snprintf(conf, sizeof(conf), "%s/server.conf", s->dir);
	snprintf(data, sizeof(data), "%s/data", s->dir);
	snprintf(logp, sizeof(logp), "%s/server.log", s->dir);
	FILE *f = fopen(conf, "w");
	if (!f)
		die("server.conf");
	fputs("{}\n", f);
	fclose(f);
	mkdir(data, 0700);
	s->pid = fork();
	if (s->pid < 0)
		die("fork");
	if (s->pid == 0) {
		char v[5][128];
		snprintf(v[0], sizeof(v[0]), "127.0.0.1:%d", s->tcp_port);
		snprintf(v[1], sizeof(v[1]), "127.0.0.1:%d", s->hep_port);
		snprintf(v[2], sizeof(v[2]), "127.0.0.1:%d", s->metrics_port);
		setenv("SIPVAULT_LISTEN_TCP", v[0], 1);
		setenv("SIPVAULT_LISTEN_HEP", v[1], 1);
		setenv("SIPVAULT_METRICS_LISTEN", v[2], 1);
		setenv("SIPVAULT_DATA_DIR", data, 1);
		setenv("SIPVAULT_CUSTOMERS",
		       "[{\"id\":\"" CUSTOMER "\",\"token\":\"" TOKEN "\",\"bucket\":\"" BUCKET
		       "\"}]",
		       1);
		setenv("SIPVAULT_CLOSING_GRACE", "1", 1);
		setenv("SIPVAULT_LOG_LEVEL", "warn", 1);
		setenv("SIPVAULT_ACTIVE_TIMEOUT", "3600", 1);
		setenv("SIPVAULT_PENDING_TIMEOUT", "3600", 1);
		int lfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (lfd >= 0) {
			dup2(lfd, 1);
			dup2(lfd, 2);
		}
		execl(o->server_bin, o->server_bin, "--config", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		int st;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			fprintf(stderr, "bench_server: sipvault-server exited at start (see %s)\n",
			        logp);
			exit(1);
		}
		int fd = tcp_connect(s->tcp_port);
		if (fd >= 0) {
			close(fd);
			if (metric(s, "sipvault_") >= 0)
				return;
		}
		usleep(50000);
	}
	fprintf(stderr, "bench_server: sipvault-server not listening after 10 s (see %s)\n", logp);
	kill(s->pid, SIGKILL);
	exit(1);
}

static void server_stop(struct server *s, int keep)
{
	int st;
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid)
			goto reaped;
		usleep(100000);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
reaped:
	if (!keep) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_server: could not remove %s\n", s->dir);
	}
}

static int agent_connect(const struct server *s)
{
	int fd = tcp_connect(s->tcp_port);
	if (fd < 0)
		die("connect");
	struct sv_buf b;
	sv_buf_init(&b);
	struct sv_wire_handshake h = {{(const uint8_t *)CUSTOMER, strlen(CUSTOMER)},
	                              {(const uint8_t *)TOKEN, strlen(TOKEN)},
	                              {(const uint8_t *)"1.0.0", 5},
	                              1,
	                              {(const uint8_t *)"rtcp-addr", 9}};
	if (sv_wire_encode_handshake(&b, 1, &h) != 0)
		die("encode");
	write_all(fd, b.data, b.len);
	sv_buf_release(&b);
	uint8_t resp[256];
	size_t got = 0;
	while (got < SV_WIRE_HDR_LEN + 3) {
		ssize_t r = read(fd, resp + got, sizeof(resp) - got);
		if (r <= 0)
			die("handshake ack");
		got += (size_t)r;
	}
	if (resp[3] != SV_WIRE_HANDSHAKE_ACK || resp[SV_WIRE_HDR_LEN] != 0) {
		fprintf(stderr, "bench_server: handshake refused\n");
		exit(1);
	}
	return fd;
}

/* ------------------------------------------------------------ one call */

struct callgen {
	char sip[7][1400];
	size_t sip_len[7];
	uint8_t rtcp[4][64];
	size_t rtcp_len[4];
	char cid[96];
};

static size_t sdp_body(char *out, size_t cap, const char *ip, int port)
{
	return (size_t)snprintf(out, cap,
	                        "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
	                        "m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
	                        "a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n",
	                        ip, ip, port);
}

static size_t sip_msg(char *out, size_t cap, const char *start, const char *cid, int cseq,
                      const char *method, int to_tag, int bye_from_callee, const char *body,
                      size_t body_len)
{
	const char *via = bye_from_callee ? "198.51.100.20" : "192.0.2.10";
	int n =
	    snprintf(out, cap,
	             "%s\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK-%s-%d%s\r\n"
	             "Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@example.com>;tag=a1b2c3\r\n"
	             "To: <sip:+15551234567@example.net>%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
	             "Contact: <sip:alice@192.0.2.10:5060>\r\nUser-Agent: sv-bench\r\n"
	             "%sContent-Length: %zu\r\n\r\n%.*s",
	             start, via, method, cseq, cid, to_tag ? ";tag=x9y8z7" : "", cid, cseq, method,
	             body_len ? "Content-Type: application/sdp\r\n" : "", body_len, (int)body_len,
	             body ? body : "");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static size_t rtcp_pkt(uint8_t *p, int sr, uint32_t ssrc, uint32_t peer, uint64_t ts_ns)
{
	size_t off = 0;
	p[off++] = 0x81;
	p[off++] = sr ? 200 : 201;
	sv_put_be16(p + off, sr ? 12 : 7);
	off += 2;
	sv_put_be32(p + off, ssrc);
	off += 4;
	if (sr) {
		uint64_t sec = ts_ns / 1000000000ull + 2208988800ull;
		uint64_t frac = ((ts_ns % 1000000000ull) << 32) / 1000000000ull;
		sv_put_be32(p + off, (uint32_t)sec);
		sv_put_be32(p + off + 4, (uint32_t)frac);
		sv_put_be32(p + off + 8, 8000);
		sv_put_be32(p + off + 12, 50);
		sv_put_be32(p + off + 16, 8000);
		off += 20;
	}
	sv_put_be32(p + off, peer);
	p[off + 4] = 0;
	p[off + 5] = p[off + 6] = p[off + 7] = 0;
	sv_put_be32(p + off + 8, 300);
	sv_put_be32(p + off + 12, 80);
	sv_put_be32(p + off + 16, 0);
	sv_put_be32(p + off + 20, 0);
	return off + 24;
}

static void callgen_make(struct callgen *g, const char *cid, uint64_t ts)
{
	char offer[400], answer[400];
	size_t ol = sdp_body(offer, sizeof(offer), "192.0.2.10", 40000);
	size_t al = sdp_body(answer, sizeof(answer), "198.51.100.20", 30000);
	char inv[160];
	snprintf(g->cid, sizeof(g->cid), "%s", cid);
	snprintf(inv, sizeof(inv), "INVITE sip:+15551234567@example.net SIP/2.0");
	g->sip_len[0] =
	    sip_msg(g->sip[0], sizeof(g->sip[0]), inv, cid, 1, "INVITE", 0, 0, offer, ol);
	g->sip_len[1] = sip_msg(g->sip[1], sizeof(g->sip[1]), "SIP/2.0 100 Trying", cid, 1,
	                        "INVITE", 0, 0, NULL, 0);
	g->sip_len[2] = sip_msg(g->sip[2], sizeof(g->sip[2]), "SIP/2.0 180 Ringing", cid, 1,
	                        "INVITE", 1, 0, NULL, 0);
	g->sip_len[3] = sip_msg(g->sip[3], sizeof(g->sip[3]), "SIP/2.0 200 OK", cid, 1, "INVITE", 1,
	                        0, answer, al);
	g->sip_len[4] =
	    sip_msg(g->sip[4], sizeof(g->sip[4]), "ACK sip:+15551234567@198.51.100.20 SIP/2.0", cid,
	            1, "ACK", 1, 0, NULL, 0);
	g->sip_len[5] =
	    sip_msg(g->sip[5], sizeof(g->sip[5]), "BYE sip:+15551234567@198.51.100.20 SIP/2.0", cid,
	            2, "BYE", 1, 0, NULL, 0);
	g->sip_len[6] =
	    sip_msg(g->sip[6], sizeof(g->sip[6]), "SIP/2.0 200 OK", cid, 2, "BYE", 1, 0, NULL, 0);
	g->rtcp_len[0] = rtcp_pkt(g->rtcp[0], 1, 0x1001, 0x2002, ts + 1500000000ull);
	g->rtcp_len[1] = rtcp_pkt(g->rtcp[1], 1, 0x2002, 0x1001, ts + 1600000000ull);
	g->rtcp_len[2] = rtcp_pkt(g->rtcp[2], 0, 0x1001, 0x2002, ts + 2500000000ull);
	g->rtcp_len[3] = rtcp_pkt(g->rtcp[3], 0, 0x2002, 0x1001, ts + 2600000000ull);
}

/* Appends the frames of one call to out: everything, or (with_bye = 0) all
 * but the BYE and its 200 (the call stays ACTIVE). */
static void encode_call(struct sv_buf *out, const char *cid, uint64_t ts, int with_bye)
{
	static struct callgen g;
	static const uint64_t sip_off_ms[7] = {0, 20, 500, 1000, 1050, 3000, 3030};
	callgen_make(&g, cid, ts);
	struct sv_wire_str c = {(const uint8_t *)cid, strlen(cid)};
	struct sv_wire_addr uac = {4, {192, 0, 2, 10}, 5060}, uas = {4, {198, 51, 100, 20}, 5060};
	struct sv_wire_addr uac_m = {4, {192, 0, 2, 10}, 40001},
	                    uas_m = {4, {198, 51, 100, 20}, 30001};
	int rc = 0;
	for (int i = 0; i < 5 && rc == 0; i++) {
		int from_uac = (i == 0 || i == 4);
		struct sv_wire_sip m = {ts + sip_off_ms[i] * 1000000ull,
		                        c,
		                        SV_WIRE_DIR_INBOUND,
		                        from_uac ? uac : uas,
		                        from_uac ? uas : uac,
		                        {(const uint8_t *)g.sip[i], g.sip_len[i]}};
		rc = sv_wire_encode_sip(out, 0, &m);
	}
	for (int i = 0; i < 4 && rc == 0; i++) {
		int from_uac = (i == 0 || i == 2);
		struct sv_wire_rtcp r = {ts + (1500 + (uint64_t)i * 100) * 1000000ull,
		                         c,
		                         1,
		                         0,
		                         from_uac ? uac_m : uas_m,
		                         from_uac ? uas_m : uac_m,
		                         from_uac ? 0x1001u : 0x2002u,
		                         {g.rtcp[i], g.rtcp_len[i]}};
		rc = sv_wire_encode_rtcp(out, 0, &r);
	}
	for (int i = 0; i < 10 && rc == 0; i++) {
		char line[160];
		int n =
		    snprintf(line, sizeof(line),
		             "Nov 26 10:00:01 proxy opensips[1234]: INFO:call %s step %d routed to "
		             "gw-01 (load 0.%d)",
		             cid, i, i);
		struct sv_wire_log l = {
		    ts + (1100 + (uint64_t)i) * 1000000ull, c, {(const uint8_t *)line, (size_t)n}};
		rc = sv_wire_encode_log(out, 0, &l);
	}
	for (int i = 5; with_bye && i < 7 && rc == 0; i++) {
		struct sv_wire_sip m = {
		    ts + sip_off_ms[i] * 1000000ull,          c, SV_WIRE_DIR_INBOUND, uac, uas,
		    {(const uint8_t *)g.sip[i], g.sip_len[i]}};
		if (i == 6) {
			m.src = uas;
			m.dst = uac;
		}
		rc = sv_wire_encode_sip(out, 0, &m);
	}
	if (rc != 0) {
		fprintf(stderr, "bench_server: encode failed: %d\n", rc);
		exit(1);
	}
}

/* ------------------------------------------------------------ phases */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	double rank = p / 100.0 * (double)(n - 1);
	size_t lo = (size_t)rank;
	size_t hi = lo + 1 < n ? lo + 1 : lo;
	return v[lo] + (v[hi] - v[lo]) * (rank - (double)lo);
}

struct conns {
	int fd[MAX_CONNS];
	struct sv_buf out[MAX_CONNS];
	int n;
};

static void flush_all(struct conns *c, int force)
{
	for (int i = 0; i < c->n; i++)
		if (c->out[i].len > 0 && (force || c->out[i].len >= FLUSH_BYTES)) {
			write_all(c->fd[i], c->out[i].data, c->out[i].len);
			sv_buf_reset(&c->out[i]);
		}
}

static void poll_samples(struct sample *smp, size_t nsmp, double *lat, size_t *nlat, size_t *next)
{
	struct stat st;
	double now = mono();
	for (size_t i = *next; i < nsmp; i++) {
		if (smp[i].t_bye == 0)
			continue;
		if (stat(smp[i].path, &st) == 0) {
			lat[(*nlat)++] = now - smp[i].t_bye;
			smp[i].t_bye = 0;
		}
	}
	while (*next < nsmp && smp[*next].t_bye == 0)
		(*next)++;
}

static void throughput(const struct opts *o)
{
	struct server s;
	server_start(&s, o);
	struct conns c = {.n = o->conns};
	for (int i = 0; i < c.n; i++) {
		c.fd[i] = agent_connect(&s);
		sv_buf_init(&c.out[i]);
	}
	printf("throughput: %d agent connections, %.0f s per step, grace 1 s, local store in %s\n",
	       o->conns, o->step_secs, s.dir);
	printf("  %8s %9s %9s %9s %11s %9s %9s %9s\n", "offered", "sent/s", "done", "server%",
	       "cpu us/call", "drain s", "p50 ms", "p99 ms");
	long best = 0, serial = 0;
	double best_cpu_us = 0;
	for (int step = 0; step < o->nrates; step++) {
		long rate = o->rates[step];
		size_t cap = (size_t)((double)rate * o->step_secs / (double)o->sample_every) + 16;
		struct sample *smp = calloc(cap, sizeof(*smp));
		double *lat = calloc(cap, sizeof(*lat));
		size_t nsmp = 0, nlat = 0, next = 0;
		if (!smp || !lat)
			die("calloc");
		double done0 = metric(&s, "sipvault_calls_completed_total{");
		double cpu0 = cpu_secs(s.pid);
		double t0 = mono(), t_end = t0 + o->step_secs, last_poll = 0;
		long sent = 0;
		while (mono() < t_end) {
			long target = (long)((mono() - t0) * (double)rate);
			if (sent >= target) {
				flush_all(&c, 1);
				if (mono() - last_poll > 0.02) {
					poll_samples(smp, nsmp, lat, &nlat, &next);
					last_poll = mono();
				}
				usleep(500);
				continue;
			}
			while (sent < target) {
				char cid[96];
				uint64_t ts = wall_ns();
				snprintf(cid, sizeof(cid), "b%d-%ld-%d@bench.example", step,
				         serial++, (int)getpid());
				int k = (int)(sent % c.n);
				encode_call(&c.out[k], cid, ts, 1);
				if (sent % o->sample_every == 0 && nsmp < cap) {
					struct sv_buf p;
					sv_buf_init(&p);
					sv_buf_printf(&p, "%s/data/objects/" BUCKET "/", s.dir);
					if (sv_callkey_object_path(&p, ts, cid, strlen(cid),
					                           "quality.json") == 0 &&
					    p.len < sizeof(smp[nsmp].path)) {
						memcpy(smp[nsmp].path, p.data, p.len);
						smp[nsmp].path[p.len] = '\0';
						/* written now or at the next flush (< 1 ms away) */
						write_all(c.fd[k], c.out[k].data, c.out[k].len);
						sv_buf_reset(&c.out[k]);
						smp[nsmp++].t_bye = mono();
					}
					sv_buf_release(&p);
				}
				sent++;
				flush_all(&c, 0);
			}
		}
		flush_all(&c, 1);
		double t_sent = mono();
		double send_rate = (double)sent / (t_sent - t0);
		/* drain: wait until every call of the step has completed */
		double want = done0 + (double)sent, done = done0;
		while (mono() - t_sent < 1.0 + 10.0) {
			done = metric(&s, "sipvault_calls_completed_total{");
			poll_samples(smp, nsmp, lat, &nlat, &next);
			if (done >= want && next >= nsmp)
				break;
			usleep(20000);
		}
		double drain = mono() - t_sent;
		double cpu = cpu_secs(s.pid) - cpu0;
		double wall = mono() - t0;
		qsort(lat, nlat, sizeof(*lat), cmp_d);
		double cpu_us = sent > 0 ? cpu * 1e6 / (double)sent : 0;
		printf("  %8ld %9.0f %9.0f %8.0f%% %11.1f %9.2f %9.0f %9.0f%s\n", rate, send_rate,
		       done - done0, 100.0 * cpu / wall, cpu_us, drain, pct(lat, nlat, 50) * 1e3,
		       pct(lat, nlat, 99) * 1e3, done >= want ? "" : "  (not all completed)");
		fflush(stdout);
		int kept_up =
		    done >= want && drain <= 1.0 + 2.0 && send_rate >= 0.95 * (double)rate;
		if (kept_up && rate > best) {
			best = rate;
			best_cpu_us = cpu_us;
		}
		free(smp);
		free(lat);
		if (!kept_up)
			break;
	}
	printf("sustained: %ld calls/s (highest step completed within grace + 2 s)", best);
	if (best_cpu_us > 0)
		printf(
		    "; server CPU %.1f us/call at that step => ~%.0f calls/s per fully used core",
		    best_cpu_us, 1e6 / best_cpu_us);
	printf("\n");
	long rss = rss_kb(s.pid);
	printf("server RSS after the throughput steps: %ld MB\n", rss / 1024);
	for (int i = 0; i < c.n; i++) {
		close(c.fd[i]);
		sv_buf_release(&c.out[i]);
	}
	server_stop(&s, getenv("SV_BENCH_KEEP") != NULL);
}

static void memory(const struct opts *o)
{
	struct server s;
	server_start(&s, o);
	struct conns c = {.n = o->conns};
	for (int i = 0; i < c.n; i++) {
		c.fd[i] = agent_connect(&s);
		sv_buf_init(&c.out[i]);
	}
	usleep(200000);
	long base = rss_kb(s.pid);
	double cpu0 = cpu_secs(s.pid);
	double t0 = mono();
	for (long i = 0; i < o->concurrent; i++) {
		char cid[96];
		snprintf(cid, sizeof(cid), "m-%ld-%d@bench.example", i, (int)getpid());
		encode_call(&c.out[i % c.n], cid, wall_ns(), 0);
		flush_all(&c, 0);
	}
	flush_all(&c, 1);
	double active = 0;
	while (mono() - t0 < 300) {
		active = metric(&s, "sipvault_sessions{state=\"active\"");
		if (active >= (double)o->concurrent)
			break;
		usleep(100000);
	}
	double secs = mono() - t0;
	double cpu = cpu_secs(s.pid) - cpu0;
	usleep(500000);
	long rss = rss_kb(s.pid);
	printf("memory: %ld calls held ACTIVE (5 SIP incl. SDP offer/answer, 4 RTCP, 10 log lines "
	       "each) in %.1f s (server CPU %.1f us/call)\n",
	       o->concurrent, secs, cpu * 1e6 / (double)o->concurrent);
	printf("  active sessions reported: %.0f\n", active);
	printf("  VmRSS %ld MB (idle %ld MB): %.0f bytes per concurrent call (%.0f incl. idle)\n",
	       rss / 1024, base / 1024, (double)(rss - base) * 1024.0 / (double)o->concurrent,
	       (double)rss * 1024.0 / (double)o->concurrent);
	for (int i = 0; i < c.n; i++) {
		close(c.fd[i]);
		sv_buf_release(&c.out[i]);
	}
	server_stop(&s, getenv("SV_BENCH_KEEP") != NULL);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_server [-c conns] [-r rate,rate,...] [-d step seconds]\n"
	                "                    [-n concurrent calls] [-s sample every Nth call]\n"
	                "                    [-t tmp parent] [-S sipvault-server]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {.conns = 8,
	                 .rates = {1000, 2500, 5000, 7500, 10000, 15000, 20000},
	                 .nrates = 7,
	                 .step_secs = 4,
	                 .concurrent = 100000,
	                 .sample_every = 50,
	                 .tmp_parent = "/tmp"};
	int opt;
	o.server_bin[0] = '\0';
	while ((opt = getopt(argc, argv, "c:r:d:n:s:t:S:h")) != -1) {
		switch (opt) {
		case 'c':
			o.conns = atoi(optarg);
			if (o.conns < 1 || o.conns > MAX_CONNS)
				usage();
			break;
		case 'r': {
			o.nrates = 0;
			for (char *t = strtok(optarg, ","); t && o.nrates < MAX_STEPS;
			     t = strtok(NULL, ","))
				o.rates[o.nrates++] = atol(t);
			break;
		}
		case 'd':
			o.step_secs = atof(optarg);
			break;
		case 'n':
			o.concurrent = atol(optarg);
			break;
		case 's':
			o.sample_every = atol(optarg) > 0 ? atol(optarg) : 1;
			break;
		case 't':
			o.tmp_parent = optarg;
			break;
		case 'S':
			snprintf(o.server_bin, sizeof(o.server_bin), "%s", optarg);
			break;
		default:
			usage();
		}
	}
	if (!o.server_bin[0]) {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			die("/proc/self/exe");
		self[n] = '\0';
		snprintf(o.server_bin, sizeof(o.server_bin), "%s/../bin/sipvault-server",
		         dirname(self));
	}
	if (access(o.server_bin, X_OK) != 0) {
		fprintf(stderr, "bench_server: %s: not found (build the server first)\n",
		        o.server_bin);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (o.nrates > 0)
		throughput(&o);
	if (o.concurrent > 0)
		memory(&o);
	return 0;
}
