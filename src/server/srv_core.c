/*
 * srv_core.c - the collector's life cycle and everything between the agents,
 * the call engine and the journal.
 *
 *   start:    object store, journal (replayed through the ingest paths, so
 *             every call that was not complete is rebuilt), listeners
 *   run:      one event loop; a timer drives sv_sessions_tick(); a
 *             zero-delay event syncs the journal once per loop iteration
 *             (group commit) and then sends the agents their ACKs
 *   objects:  the engine's hooks hand calls' objects and log chunks to the
 *             object-write queue (srv_writeq.c)
 *   metrics:  srv_metrics.c
 *   signals:  SIGTERM/SIGINT stop (journal synced, incomplete calls resume at
 *             the next start), SIGHUP reloads the customers
 */
#include "server.h"
#include "srv.h"

#include "base/errors.h"
#include "base/hash.h"
#include "base/htable.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define NS_PER_S       1000000000ull
#define TICK_MAX_NS    NS_PER_S
#define SYNC_RETRY_S   1
#define LISTEN_BACKLOG 1024
#define CALLID_LOG_MAX 200

/* ------------------------------------------------------------ small helpers */

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

uint64_t srv_now(const struct srv *s)
{
	return s->clock();
}

const char *srv_callid_str(const uint8_t *id, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0, i;

	for (i = 0; i < len && o + 8 < outlen && i < CALLID_LOG_MAX; i++) {
		uint8_t ch = id[i];
		if (ch > 0x20 && ch < 0x7f && ch != '\\' && ch != '"') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	if (i < len && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (len == 0 && outlen > 2) {
		out[o++] = '"';
		out[o++] = '"';
	}
	out[o] = '\0';
	return out;
}

struct srv_cstats *srv_cstats_get(struct srv *s, const char *customer)
{
	struct srv_cstats *c;

	SLIST_FOREACH(c, &s->cstats, link)
	{
		if (strcmp(c->id, customer) == 0)
			return c;
	}
	if (strlen(customer) >= sizeof(c->id))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	strcpy(c->id, customer);
	SLIST_INSERT_HEAD(&s->cstats, c, link);
	return c;
}

void srv_count_outcome(struct srv *s, const char *customer, uint8_t ftype, enum sv_ingest res,
                       const uint8_t *call_id, size_t call_id_len)
{
	enum srv_drop d;
	char cid[SRV_CALLID_STR];

	switch (res) {
	case SV_INGEST_STORED:
	case SV_INGEST_CREATED:
		return;
	case SV_INGEST_NOT_CALL:
		d = SRV_DROP_NOT_CALL;
		break;
	case SV_INGEST_LATE:
		d = SRV_DROP_LATE;
		break;
	case SV_INGEST_NO_CALL:
		d = SRV_DROP_NO_CALL;
		break;
	case SV_INGEST_DUPLICATE:
		d = SRV_DROP_DUPLICATE;
		break;
	default:
		d = ftype == SV_WIRE_DATA_SIP    ? SRV_DROP_MALFORMED_SIP
		    : ftype == SV_WIRE_DATA_RTCP ? SRV_DROP_MALFORMED_RTCP
		                                 : SRV_DROP_MALFORMED_FRAME;
		break;
	}
	s->drops[d]++;
	log_debug("customer=%s call_id=%s %s not attached to a call: %s", customer,
	          srv_callid_str(call_id, call_id_len, cid, sizeof(cid)), sv_wire_type_name(ftype),
	          sv_ingest_name(res));
}

/* ------------------------------------------------------------ ingest */

int srv_ingest_frame(struct srv *s, const char *customer, const uint8_t *cust_rec,
                     size_t cust_rec_len, const struct sv_wire_frame *f, uint64_t now, char *why,
                     size_t whylen)
{
	union {
		struct sv_wire_sip sip;
		struct sv_wire_rtcp rtcp;
		struct sv_wire_log log;
		struct sv_wire_quality q;
	} m;
	struct sv_rtcp_input in;
	enum sv_ingest res = SV_INGEST_MALFORMED;
	const struct sv_wire_str *id; /* the decoded frame's Call-ID */
	uint8_t ftype = f->type;
	int rc;

	switch (f->type) {
	case SV_WIRE_DATA_SIP:
		rc = sv_wire_decode_sip(f, &m.sip);
		id = &m.sip.call_id;
		break;
	case SV_WIRE_DATA_RTCP:
	case SV_WIRE_DATA_RTCP_ADDR:
		rc = sv_wire_decode_rtcp(f, &m.rtcp);
		id = &m.rtcp.call_id;
		ftype = SV_WIRE_DATA_RTCP;
		break;
	case SV_WIRE_DATA_LOG:
		rc = sv_wire_decode_log(f, &m.log);
		id = &m.log.call_id;
		break;
	case SV_WIRE_DATA_QUALITY:
		rc = sv_wire_decode_quality(f, &m.q);
		id = &m.q.call_id;
		break;
	default:
		return 0;
	}
	if (rc != 0) {
		snprintf(why, whylen, "malformed %s frame (seq %u, %u bytes): %s",
		         sv_wire_type_name(f->type), f->seq, f->len, sv_strerror(rc));
		return rc == -ENOMEM ? SV_E_PARSE : rc;
	}
	if (!s->replaying) {
		uint8_t hdr[SV_WIRE_HDR_LEN];
		struct iovec iov[3];
		sv_wire_header_encode(f, hdr);
		iov[0].iov_base = (void *)cust_rec;
		iov[0].iov_len = cust_rec_len;
		iov[1].iov_base = hdr;
		iov[1].iov_len = sizeof(hdr);
		iov[2].iov_base = (void *)f->payload;
		iov[2].iov_len = f->len;
		rc = sv_journal_appendv(s->journal, SRV_J_AGENT_FRAME, iov, 3, &s->cur_segment);
		if (rc != 0) {
			snprintf(why, whylen, "journal append failed: %s", sv_strerror(rc));
			log_errx("customer=%s %s", customer, why);
			return rc == -ENOMEM ? -ENOMEM : -EIO;
		}
	}
	switch (f->type) {
	case SV_WIRE_DATA_SIP:
		rc = sv_sessions_sip(s->sessions, customer, now, &m.sip, &res);
		break;
	case SV_WIRE_DATA_RTCP:
	case SV_WIRE_DATA_RTCP_ADDR:
		memset(&in, 0, sizeof(in));
		in.ts_ns = m.rtcp.ts_ns;
		in.call_id = m.rtcp.call_id.p;
		in.call_id_len = m.rtcp.call_id.len;
		in.origin = SV_RTCP_FROM_AGENT;
		in.has_addr = m.rtcp.has_addr != 0;
		in.src = m.rtcp.src;
		in.dst = m.rtcp.dst;
		in.ssrc = m.rtcp.ssrc;
		in.raw = m.rtcp.rtcp.p;
		in.raw_len = m.rtcp.rtcp.len;
		rc = sv_sessions_rtcp(s->sessions, customer, now, &in, &res);
		break;
	case SV_WIRE_DATA_LOG:
		rc = sv_sessions_log(s->sessions, customer, now, &m.log, &res);
		break;
	default:
		rc = sv_sessions_quality(s->sessions, customer, now, &m.q, &res);
		break;
	}
	if (rc != 0) {
		snprintf(why, whylen, "call engine: %s", sv_strerror(rc));
		return -ENOMEM;
	}
	if (!s->replaying)
		srv_count_outcome(s, customer, ftype, res, id->p, id->len);
	return 0;
}

/* ------------------------------------------------------------ replay map
 *
 * During the replay, calls re-created by the engine re-ref their journal
 * segment (created hook). When a COMPLETE marker then drops such a call, its
 * reference must go too: this map remembers customer + Call-ID -> segment
 * for the duration of the replay only. */

struct replay_ent {
	struct sv_hnode node;
	uint32_t segment;
	size_t klen;
	uint8_t key[]; /* customer NUL Call-ID */
};

struct srv_replay_map {
	struct sv_htable t;
};

static uint64_t replay_hash(const char *customer, const uint8_t *id, size_t len)
{
	return sv_hash_bytes(sv_hash_bytes(0, customer, strlen(customer) + 1), id, len);
}

static bool ent_match(const struct replay_ent *e, const char *customer, const uint8_t *id,
                      size_t len)
{
	size_t cl = strlen(customer);

	return e->klen == cl + 1 + len && memcmp(e->key, customer, cl + 1) == 0 &&
	       (len == 0 || memcmp(e->key + cl + 1, id, len) == 0);
}

static int replay_map_put(struct srv_replay_map *m, const char *customer, const uint8_t *id,
                          size_t len, uint32_t segment)
{
	size_t cl = strlen(customer);
	struct replay_ent *e = malloc(sizeof(*e) + cl + 1 + len);

	if (e == NULL)
		return -ENOMEM;
	e->segment = segment;
	e->klen = cl + 1 + len;
	memcpy(e->key, customer, cl + 1);
	if (len > 0)
		memcpy(e->key + cl + 1, id, len);
	if (sv_htable_insert(&m->t, &e->node, replay_hash(customer, id, len)) != 0) {
		free(e);
		return -ENOMEM;
	}
	return 0;
}

static int replay_map_take(struct srv_replay_map *m, const char *customer, const uint8_t *id,
                           size_t len, uint32_t *segment)
{
	uint64_t h;

	if (m == NULL)
		return 0;
	h = replay_hash(customer, id, len);
	for (struct sv_hnode *n = sv_htable_first(&m->t, h); n != NULL; n = sv_htable_next(n, h)) {
		struct replay_ent *e = sv_container_of(n, struct replay_ent, node);
		if (ent_match(e, customer, id, len)) {
			sv_htable_remove(&m->t, n);
			*segment = e->segment;
			free(e);
			return 1;
		}
	}
	return 0;
}

static void replay_map_free(struct srv_replay_map *m)
{
	struct sv_hwalk w = {0};
	struct sv_hnode *n;

	if (m == NULL)
		return;
	while ((n = sv_htable_walk(&m->t, &w)) != NULL)
		free(sv_container_of(n, struct replay_ent, node));
	sv_htable_release(&m->t);
	free(m);
}

/* ------------------------------------------------------------ engine hooks */

static void hook_created(void *arg, const struct sv_call_ref *call)
{
	struct srv *s = arg;

	*call->user = (uint64_t)s->cur_segment + 1;
	sv_journal_ref(s->journal, s->cur_segment);
	if (s->replaying && s->replay_map != NULL &&
	    replay_map_put(s->replay_map, call->customer, call->call_id, call->call_id_len,
	                   s->cur_segment) != 0)
		log_warnx("journal replay: out of memory remembering a call");
	if (SV_LOG_DEBUG >= sv_log_threshold) {
		char cid[SRV_CALLID_STR];
		log_debug("customer=%s call_id=%s new call", call->customer,
		          srv_callid_str(call->call_id, call->call_id_len, cid, sizeof(cid)));
	}
}

static void hook_log_chunk(void *arg, const struct sv_call_ref *call, unsigned chunk, size_t lines,
                           struct sv_buf *gz)
{
	srv_writeq_log_chunk(arg, call, chunk, lines, gz);
}

static void hook_complete(void *arg, const struct sv_call_ref *call, struct sv_call_objects *o)
{
	uint64_t seg_plus1 = *call->user;

	*call->user = 0;
	srv_writeq_complete(arg, call, seg_plus1, o);
}

/* ------------------------------------------------------------ timer, sync */

static void arm_tick(struct srv *s, uint64_t now, uint64_t next)
{
	struct timeval tv;
	uint64_t d;

	if (s->stopping)
		return;
	if (next > now + TICK_MAX_NS)
		next = now + TICK_MAX_NS;
	if (next < now)
		next = now;
	if (s->tick_at != 0 && s->tick_at <= next)
		return;
	d = next - now;
	tv.tv_sec = (time_t)(d / NS_PER_S);
	tv.tv_usec = (suseconds_t)((d % NS_PER_S) / 1000);
	if (evtimer_add(s->tick_ev, &tv) == 0)
		s->tick_at = next;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	uint64_t now = srv_now(s), next;

	s->tick_at = 0;
	next = sv_sessions_tick(s->sessions, now);
	arm_tick(s, srv_now(s), next);
}

void srv_kick_timer(struct srv *s, uint64_t now)
{
	if (s->tick_at == 0)
		arm_tick(s, now, now + TICK_MAX_NS);
}

static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	int rc;

	if (sv_journal_pending(s->journal) > 0 || s->sync_failed) {
		rc = sv_journal_sync(s->journal);
		if (rc != 0) {
			struct timeval tv = {SYNC_RETRY_S, 0};
			if (!s->sync_failed)
				log_errx("journal sync failed: %s (acknowledgements held back; "
				         "retrying)",
				         sv_strerror(rc));
			s->sync_failed = true;
			event_add(s->sync_ev, &tv);
			return;
		}
		if (s->sync_failed)
			log_info("journal sync works again");
		s->sync_failed = false;
	}
	srv_agent_send_acks(s);
}

void srv_want_sync(struct srv *s)
{
	if (s->sync_ev == NULL || s->sync_failed)
		return;
	/* Runs after the callbacks already active in this loop iteration:
	 * one sync for every read batch of every connection. */
	event_active(s->sync_ev, EV_TIMEOUT, 0);
}

/* ------------------------------------------------------------ journal replay */

static int replay_fn(void *arg, uint32_t segment, uint8_t kind, const uint8_t *data, size_t len)
{
	struct srv *s = arg;
	struct sv_rd r;
	const uint8_t *p;
	char customer[73], why[160];
	uint16_t clen;
	uint32_t idlen, chunk, lines, seg;
	uint64_t recv_ns, now = srv_now(s);
	struct sv_wire_frame f;
	size_t used;
	int rc;

	s->cur_segment = segment;
	sv_rd_init(&r, data, len);
	if (sv_rd_u16(&r, &clen) != 0 || clen == 0 || clen >= sizeof(customer) ||
	    sv_rd_bytes(&r, clen, &p) != 0 || memchr(p, 0, clen) != NULL)
		goto bad;
	memcpy(customer, p, clen);
	customer[clen] = '\0';
	switch (kind) {
	case SRV_J_AGENT_FRAME:
		if (sv_wire_frame_parse(r.p + r.off, sv_rd_left(&r), &f, &used) != 0)
			goto bad;
		rc = srv_ingest_frame(s, customer, NULL, 0, &f, now, why, sizeof(why));
		if (rc == -ENOMEM)
			return rc;
		return 0;
	case SRV_J_HEP_PACKET:
		if (sv_rd_u64(&r, &recv_ns) != 0)
			goto bad;
		return srv_hep_replay(s, customer, recv_ns, r.p + r.off, sv_rd_left(&r));
	case SRV_J_LOG_FLUSHED:
		if (sv_rd_u32(&r, &idlen) != 0 || sv_rd_bytes(&r, idlen, &p) != 0 ||
		    sv_rd_u32(&r, &chunk) != 0 || sv_rd_u32(&r, &lines) != 0)
			goto bad;
		rc = sv_sessions_mark_log_flushed(s->sessions, customer, p, idlen, chunk, lines);
		return rc == -ENOMEM ? rc : 0;
	case SRV_J_COMPLETE:
		if (sv_rd_u32(&r, &idlen) != 0 || sv_rd_bytes(&r, idlen, &p) != 0)
			goto bad;
		if (replay_map_take(s->replay_map, customer, p, idlen, &seg))
			sv_journal_unref(s->journal, seg);
		rc = sv_sessions_mark_complete(s->sessions, customer, p, idlen);
		return rc == -ENOMEM ? rc : 0;
	default:
		break;
	}
bad:
	log_warnx("journal replay: segment %u: skipped an unreadable record of kind %u (%zu bytes)",
	          segment, kind, len);
	return 0;
}

/* ------------------------------------------------------------ sockets */

void srv_addr_str(const struct sockaddr *sa, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, ip, sizeof(ip));
			snprintf(out, len, "%s:%u", ip, ntohs(in6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
			snprintf(out, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
		}
	} else {
		snprintf(out, len, "?");
	}
}

static int open_one(const struct sockaddr *sa, socklen_t salen, int type, bool dual, int *fd_out,
                    int *err_out)
{
	int fd, one = 1, zero = 0;

	fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err_out = errno;
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual ? &zero : &one, sizeof(int));
	if (bind(fd, sa, salen) != 0 || (type == SOCK_STREAM && listen(fd, LISTEN_BACKLOG) != 0)) {
		*err_out = errno;
		close(fd);
		return -1;
	}
	*fd_out = fd;
	return 0;
}

int srv_open_sockets(const struct sv_conf_addr *addr, int type, int fds[2], char *err,
                     size_t errlen)
{
	char shown[SV_CONF_HOST_MAX + 16], port[8];
	int e = 0, n = 0;

	sv_conf_addr_format(addr, shown, sizeof(shown));
	if (addr->host[0] == '\0') {
		struct sockaddr_in6 a6;
		struct sockaddr_in a4;
		memset(&a6, 0, sizeof(a6));
		a6.sin6_family = AF_INET6;
		a6.sin6_addr = in6addr_any;
		a6.sin6_port = htons(addr->port);
		if (open_one((struct sockaddr *)&a6, sizeof(a6), type, true, &fds[0], &e) == 0)
			return 1;
		if (e != EAFNOSUPPORT && e != EADDRNOTAVAIL) {
			snprintf(err, errlen, "cannot listen on %s: %s", shown, strerror(e));
			return -e;
		}
		memset(&a4, 0, sizeof(a4));
		a4.sin_family = AF_INET;
		a4.sin_addr.s_addr = htonl(INADDR_ANY);
		a4.sin_port = htons(addr->port);
		if (open_one((struct sockaddr *)&a4, sizeof(a4), type, false, &fds[0], &e) == 0)
			return 1;
		snprintf(err, errlen, "cannot listen on %s: %s", shown, strerror(e));
		return -e;
	}
	{
		struct addrinfo hints, *res = NULL, *ai;
		int gai;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = type;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		snprintf(port, sizeof(port), "%u", addr->port);
		gai = getaddrinfo(addr->host, port, &hints, &res);
		if (gai != 0) {
			snprintf(err, errlen, "cannot listen on %s: %s", shown, gai_strerror(gai));
			return -EINVAL;
		}
		for (ai = res; ai != NULL && n < 2; ai = ai->ai_next) {
			if (open_one(ai->ai_addr, ai->ai_addrlen, type, false, &fds[n], &e) == 0)
				n++;
		}
		freeaddrinfo(res);
		if (n == 0) {
			snprintf(err, errlen, "cannot listen on %s: %s", shown,
			         strerror(e != 0 ? e : EADDRNOTAVAIL));
			return -(e != 0 ? e : EADDRNOTAVAIL);
		}
	}
	return n;
}

/* ------------------------------------------------------------ signals */

static void reload(struct srv *s)
{
	struct sv_server_conf nc;
	struct sv_customers *old;
	char err[1024];

	memset(&nc, 0, sizeof(nc));
	if (sv_server_conf_load(&nc, s->config_path, (const char *const *)environ, err,
	                        sizeof(err)) != 0) {
		log_errx("SIGHUP: configuration not reloaded, keeping the current customers: %s",
		         err);
		sv_server_conf_release(&nc);
		return;
	}
	old = s->customers;
	s->customers = nc.customers;
	nc.customers = NULL;
	sv_log_set_level(nc.log_level);
	sv_server_conf_release(&nc);
	srv_agent_rebind(s);
	log_info("SIGHUP: customers reloaded (%zu customers)", s->customers->n);
	sv_customers_free(old);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct srv *s = arg;

	if (sig == SIGHUP) {
		reload(s);
		return;
	}
	log_info("%s received: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	s->stopping = true;
	event_base_loopbreak(s->base);
}

/* ------------------------------------------------------------ run */

static int make_dirs(const char *data_dir, char *path, size_t len)
{
	const char *parts[] = {"", "/spool", "/spool/journal"};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(path, len, "%s%s", data_dir, parts[i]);
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			int e = errno;
			log_errx("cannot create %s: %s", path, strerror(e));
			return -e;
		}
	}
	return 0;
}

/* ---- S3 back end ---- */

static void s3check_cb(void *arg, size_t i, int rc, const char *line)
{
	struct srv *s = arg;
	const char *id = i < s->s3check_n ? s->s3check_ids[i] : "?";
	const struct sv_customer *cu = sv_customers_find_by_id(s->customers, id);
	const char *bucket = cu != NULL ? cu->bucket : "";

	if (rc == 0)
		log_info("customer=%s S3 bucket %s: ok", id, bucket);
	else
		log_errx("customer=%s S3 bucket check failed: %s", id, line);
	srv_metrics_bucket_checked(s, id, bucket, rc == 0);
}

/*
 * The S3 back end: objects are spooled in DATA_DIR/spool/objects, then
 * uploaded; one HEAD per customer's bucket at start-up reports wrong keys
 * or missing buckets (one error line per customer; the server keeps
 * running and keeps retrying). Never logs the keys.
 */
static int open_s3_store(struct srv *s, char *err, size_t errlen)
{
	const struct sv_server_conf *conf = s->conf;
	struct sv_s3_config c;
	struct sv_s3store_opts o;
	char spool[4096];
	const char **buckets = NULL;
	int rc;

	memset(&c, 0, sizeof(c));
	c.endpoint = conf->s3_endpoint;
	c.region = conf->s3_region;
	c.access_key = conf->s3_access_key;
	c.secret_key = conf->s3_secret_key;
	snprintf(spool, sizeof(spool), "%s/spool/objects", conf->data_dir);
	memset(&o, 0, sizeof(o));
	o.s3 = &c;
	o.spool_dir = spool;
	rc = sv_s3store_open(s->base, &o, &s->store, &s->s3store, err, errlen);
	if (rc != 0)
		return rc;
	log_info("objects go to S3 at %s (region %s), through the spool %s", conf->s3_endpoint,
	         conf->s3_region != NULL && conf->s3_region[0] != '\0' ? conf->s3_region : "auto",
	         spool);
	size_t n = s->customers->n;
	s->s3check_ids = calloc(n ? n : 1, sizeof(*s->s3check_ids));
	buckets = calloc(n ? n : 1, sizeof(*buckets));
	if (s->s3check_ids == NULL || buckets == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		const struct sv_customer *cu = &s->customers->v[i];
		if ((s->s3check_ids[i] = strdup(cu->id)) == NULL)
			goto nomem;
		s->s3check_n = i + 1;
		buckets[i] = cu->bucket;
	}
	rc = sv_s3store_check_buckets(s->s3store, buckets, n, s3check_cb, s);
	if (rc != 0)
		log_warnx("S3 bucket check not started: %s", sv_strerror(rc));
	free(buckets);
	return 0;
nomem:
	free(buckets);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

static void release(struct srv *s)
{
	struct srv_cstats *c;

	srv_agent_stop_listening(s);
	srv_hep_close(s);
	srv_metrics_release(s);
	srv_agent_close_all(s);
	srv_writeq_shutdown(s);
	if (s->journal != NULL) {
		int rc = sv_journal_close(s->journal);
		if (rc != 0)
			log_errx("journal: final sync failed: %s", sv_strerror(rc));
	}
	sv_sessions_free(s->sessions);
	s->s3store = NULL;
	for (size_t i = 0; i < s->s3check_n; i++)
		free(s->s3check_ids[i]);
	free(s->s3check_ids);
	sv_customers_free(s->customers);
	replay_map_free(s->replay_map);
	while ((c = SLIST_FIRST(&s->cstats)) != NULL) {
		SLIST_REMOVE_HEAD(&s->cstats, link);
		free(c);
	}
	for (int i = 0; i < 3; i++)
		if (s->sig_ev[i] != NULL)
			event_free(s->sig_ev[i]);
	if (s->tick_ev != NULL)
		event_free(s->tick_ev);
	if (s->sync_ev != NULL)
		event_free(s->sync_ev);
	sv_buf_release(&s->hep_scratch);
	sv_buf_release(&s->wbuf);
	if (s->base != NULL)
		event_base_free(s->base);
}

int srv_run(struct sv_server_conf *conf, const char *config_path)
{
	struct srv srv, *s = &srv;
	struct sv_session_limits lim;
	struct sv_session_hooks hooks;
	struct sv_journal_opts jo;
	struct sv_journal_stats js;
	struct sv_session_stats st;
	char err[1024], jdir[4096], shown[SV_CONF_HOST_MAX + 16];
	int rc, status = 1;
	uint64_t t0;

	memset(s, 0, sizeof(*s));
	SLIST_INIT(&s->cstats);
	LIST_INIT(&s->conns);
	LIST_INIT(&s->ack_list);
	srv_writeq_init(s);
	s->conf = conf;
	s->config_path = config_path;
	s->clock = realtime_ns;
	s->customers = conf->customers;
	conf->customers = NULL;
	sv_buf_init(&s->hep_scratch);
	sv_buf_init(&s->wbuf);
	sv_log_route_libs();
	signal(SIGPIPE, SIG_IGN);

	s->base = event_base_new();
	if (s->base == NULL) {
		log_errx("cannot create the event loop");
		goto out;
	}
	if (make_dirs(conf->data_dir, jdir, sizeof(jdir)) != 0)
		goto out;
	if (conf->s3_endpoint != NULL)
		rc = open_s3_store(s, err, sizeof(err));
	else
		rc = sv_objstore_local_new(conf->data_dir, &s->store, err, sizeof(err));
	if (rc != 0) {
		log_errx("%s", err);
		goto out;
	}
	memset(&jo, 0, sizeof(jo));
	jo.dir = jdir;
	rc = sv_journal_open(&jo, &s->journal, err, sizeof(err));
	if (rc != 0) {
		log_errx("journal: %s", err);
		goto out;
	}
	memset(&lim, 0, sizeof(lim));
	lim.pending_timeout_ns = (uint64_t)conf->pending_timeout * NS_PER_S;
	lim.active_timeout_ns = (uint64_t)conf->active_timeout * NS_PER_S;
	lim.closing_grace_ns = (uint64_t)conf->closing_grace * NS_PER_S;
	lim.log_flush_ns = (uint64_t)conf->log_flush * NS_PER_S;
	memset(&hooks, 0, sizeof(hooks));
	hooks.arg = s;
	hooks.created = hook_created;
	hooks.log_chunk = hook_log_chunk;
	hooks.complete = hook_complete;
	if (sv_sessions_new(&lim, &hooks, &s->sessions) != 0 || srv_metrics_init(s) != 0) {
		log_errx("out of memory");
		goto out;
	}
	s->rc = malloc(sizeof(*s->rc));
	s->replay_map = calloc(1, sizeof(*s->replay_map));
	if (s->rc == NULL || s->replay_map == NULL) {
		log_errx("out of memory");
		goto out;
	}

	/* Rebuild every call that was not complete at the last stop. */
	t0 = realtime_ns();
	s->replaying = true;
	rc = sv_journal_replay(s->journal, replay_fn, s);
	s->replaying = false;
	replay_map_free(s->replay_map);
	s->replay_map = NULL;
	if (rc != 0) {
		log_errx("journal replay failed: %s", sv_strerror(rc));
		goto out;
	}
	sv_journal_stats(s->journal, &js);
	sv_sessions_stats(s->sessions, &st);
	if (js.records_replayed > 0 || js.torn_records > 0)
		log_info("journal replayed: %llu records in %.1f s, %llu torn record(s) dropped; "
		         "%llu calls resumed",
		         (unsigned long long)js.records_replayed,
		         (double)(realtime_ns() - t0) / 1e9, (unsigned long long)js.torn_records,
		         (unsigned long long)(st.calls[SV_CALL_PENDING] + st.calls[SV_CALL_ACTIVE] +
		                              st.calls[SV_CALL_CLOSING]));
	rc = sv_journal_sync(s->journal);
	if (rc != 0) {
		log_errx("journal sync failed: %s", sv_strerror(rc));
		goto out;
	}

	s->tick_ev = evtimer_new(s->base, tick_cb, s);
	s->sync_ev = event_new(s->base, -1, 0, sync_cb, s);
	s->sig_ev[0] = evsignal_new(s->base, SIGTERM, signal_cb, s);
	s->sig_ev[1] = evsignal_new(s->base, SIGINT, signal_cb, s);
	s->sig_ev[2] = evsignal_new(s->base, SIGHUP, signal_cb, s);
	if (s->tick_ev == NULL || s->sync_ev == NULL || srv_writeq_start(s) != 0 ||
	    s->sig_ev[0] == NULL || s->sig_ev[1] == NULL || s->sig_ev[2] == NULL ||
	    event_add(s->sig_ev[0], NULL) != 0 || event_add(s->sig_ev[1], NULL) != 0 ||
	    event_add(s->sig_ev[2], NULL) != 0) {
		log_errx("cannot set up the event loop");
		goto out;
	}
	if (srv_agent_listen(s, err, sizeof(err)) != 0 ||
	    srv_hep_listen(s, err, sizeof(err)) != 0 ||
	    srv_metrics_listen(s, err, sizeof(err)) != 0) {
		log_errx("%s", err);
		goto out;
	}
	arm_tick(s, srv_now(s), 0);
	sv_conf_addr_format(&conf->listen_tcp, shown, sizeof(shown));
	log_info("listening for agents on %s (TCP)", shown);
	sv_conf_addr_format(&conf->listen_hep, shown, sizeof(shown));
	log_info("listening for HEP on %s (UDP)", shown);
	if (conf->metrics_listen.enabled) {
		sv_conf_addr_format(&conf->metrics_listen, shown, sizeof(shown));
		log_info("metrics at http://%s/metrics", shown);
	}
	log_info("%zu customers, data in %s", s->customers->n, conf->data_dir);

	if (event_base_dispatch(s->base) < 0) {
		log_errx("event loop failed");
		goto out;
	}
	status = 0;
	sv_sessions_stats(s->sessions, &st);
	log_info("stopped; %llu incomplete calls kept in the journal for the next start",
	         (unsigned long long)(st.calls[SV_CALL_PENDING] + st.calls[SV_CALL_ACTIVE] +
	                              st.calls[SV_CALL_CLOSING]));
out:
	release(s);
	libevent_global_shutdown();
	return status;
}
