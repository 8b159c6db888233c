/*
 * srv_core.c - the collector's life cycle and everything between the call
 * engine, the journal and the object store.
 *
 *   start:    object store, journal (replayed through the ingest paths, so
 *             every call that was not complete is rebuilt), listeners
 *   run:      one event loop; a timer drives sv_sessions_tick(); a
 *             zero-delay event syncs the journal once per loop iteration
 *             (group commit) and then sends the agents their ACKs
 *   objects:  engine hooks -> sv_objstore_put() (staged) -> once per loop
 *             iteration sv_objstore_flush() (group commit) -> put_done ->
 *             journal marker (log chunk flushed / call complete) -> the call's
 *             journal segment unref'd; a failed write is retried with backoff
 *   signals:  SIGTERM/SIGINT stop (journal synced, incomplete calls resume at
 *             the next start), SIGHUP reloads the customers
 */
#include "server.h"
#include "srv.h"

#include "call/callkey.h"
#include "base/errors.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
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
#define RETRY_MAX_S    60
#define SYNC_RETRY_S   1
#define LISTEN_BACKLOG 1024
#define CALLID_LOG_MAX 200
#define WRITE_SLICE_NS (20ull * 1000000) /* object writes per loop iteration, at most */
#define WQ_MAX_BYTES   (64u << 20)       /* queued object bytes before writing at once */

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

	for (c = s->cstats; c != NULL; c = c->next)
		if (strcmp(c->id, customer) == 0)
			return c;
	if (strlen(customer) >= sizeof(c->id))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	strcpy(c->id, customer);
	c->next = s->cstats;
	s->cstats = c;
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
	const uint8_t *cid = NULL;
	size_t cidlen = 0;
	uint8_t ftype = f->type;
	int rc;

	switch (f->type) {
	case SV_WIRE_DATA_SIP:
		rc = sv_wire_decode_sip(f, &m.sip);
		cid = m.sip.call_id.p;
		cidlen = m.sip.call_id.len;
		break;
	case SV_WIRE_DATA_RTCP:
	case SV_WIRE_DATA_RTCP_ADDR:
		rc = sv_wire_decode_rtcp(f, &m.rtcp);
		cid = m.rtcp.call_id.p;
		cidlen = m.rtcp.call_id.len;
		ftype = SV_WIRE_DATA_RTCP;
		break;
	case SV_WIRE_DATA_LOG:
		rc = sv_wire_decode_log(f, &m.log);
		cid = m.log.call_id.p;
		cidlen = m.log.call_id.len;
		break;
	case SV_WIRE_DATA_QUALITY:
		rc = sv_wire_decode_quality(f, &m.q);
		cid = m.q.call_id.p;
		cidlen = m.q.call_id.len;
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
		srv_count_outcome(s, customer, ftype, res, cid, cidlen);
	return 0;
}

/* ------------------------------------------------------------ replay map
 *
 * During the replay, calls re-created by the engine re-ref their journal
 * segment (created hook). When a COMPLETE marker then drops such a call, its
 * reference must go too: this map remembers customer + Call-ID -> segment
 * for the duration of the replay only. */

struct replay_ent {
	struct replay_ent *next;
	uint64_t hash;
	uint32_t segment;
	size_t klen;
	uint8_t key[]; /* customer NUL Call-ID */
};

struct srv_replay_map {
	struct replay_ent **b;
	size_t nb, n;
};

static uint64_t fnv1a(const char *customer, const uint8_t *id, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = customer; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	h = (h ^ 0) * 1099511628211ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ id[i]) * 1099511628211ull;
	return h;
}

static bool ent_match(const struct replay_ent *e, uint64_t h, const char *customer,
                      const uint8_t *id, size_t len)
{
	size_t cl = strlen(customer);

	return e->hash == h && e->klen == cl + 1 + len && memcmp(e->key, customer, cl + 1) == 0 &&
	       (len == 0 || memcmp(e->key + cl + 1, id, len) == 0);
}

static int replay_map_put(struct srv_replay_map *m, const char *customer, const uint8_t *id,
                          size_t len, uint32_t segment)
{
	uint64_t h = fnv1a(customer, id, len);
	size_t cl = strlen(customer);
	struct replay_ent *e;

	if (m->n >= m->nb * 2) {
		size_t nb = m->nb == 0 ? 1024 : m->nb * 2;
		struct replay_ent **b = calloc(nb, sizeof(*b));
		if (b == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < m->nb; i++) {
			while (m->b[i] != NULL) {
				e = m->b[i];
				m->b[i] = e->next;
				e->next = b[e->hash % nb];
				b[e->hash % nb] = e;
			}
		}
		free(m->b);
		m->b = b;
		m->nb = nb;
	}
	e = malloc(sizeof(*e) + cl + 1 + len);
	if (e == NULL)
		return -ENOMEM;
	e->hash = h;
	e->segment = segment;
	e->klen = cl + 1 + len;
	memcpy(e->key, customer, cl + 1);
	if (len > 0)
		memcpy(e->key + cl + 1, id, len);
	e->next = m->b[h % m->nb];
	m->b[h % m->nb] = e;
	m->n++;
	return 0;
}

static int replay_map_take(struct srv_replay_map *m, const char *customer, const uint8_t *id,
                           size_t len, uint32_t *segment)
{
	uint64_t h;
	struct replay_ent **pp, *e;

	if (m == NULL || m->nb == 0)
		return 0;
	h = fnv1a(customer, id, len);
	for (pp = &m->b[h % m->nb]; (e = *pp) != NULL; pp = &e->next) {
		if (ent_match(e, h, customer, id, len)) {
			*pp = e->next;
			*segment = e->segment;
			free(e);
			m->n--;
			return 1;
		}
	}
	return 0;
}

static void replay_map_free(struct srv_replay_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nb; i++) {
		while (m->b[i] != NULL) {
			struct replay_ent *e = m->b[i];
			m->b[i] = e->next;
			free(e);
		}
	}
	free(m->b);
	free(m);
}

/* ------------------------------------------------------------ object writes */

enum { GROUP_LOG, GROUP_COMPLETE };

struct srv_put {
	struct srv_group *g;
	enum srv_obj kind;
	char name[24];
	const char *ctype;
	struct sv_buf data;
	bool done;
};

struct srv_group {
	struct srv *s;
	struct srv_group *prev, *next; /* s->groups or s->log_groups */
	struct srv_group *qnext;       /* s->wq_head FIFO, until started */
	bool queued;
	size_t bytes;
	int type;
	char customer[72];
	uint8_t *call_id;
	size_t call_id_len;
	uint64_t first_ts_ns;
	uint64_t seg_plus1; /* GROUP_COMPLETE: the call's journal segment + 1 */
	unsigned chunk;     /* GROUP_LOG */
	size_t lines;
	struct srv_put objs[4];
	int nobjs;
	int outstanding;
	bool failed, waiting;
	unsigned attempts;
	struct event *retry;
};

static const char *const obj_label[SRV_OBJ_N] = {"sip", "rtcp", "quality", "log"};

static void group_start(struct srv_group *g);
static void want_flush(struct srv *s);

static struct srv_group **group_list(struct srv *s, int type)
{
	return type == GROUP_LOG ? &s->log_groups : &s->groups;
}

static void group_free(struct srv_group *g)
{
	struct srv *s = g->s;

	if (g->prev != NULL)
		g->prev->next = g->next;
	else
		*group_list(s, g->type) = g->next;
	if (g->next != NULL)
		g->next->prev = g->prev;
	for (int i = 0; i < g->nobjs; i++)
		sv_buf_release(&g->objs[i].data);
	if (g->retry != NULL)
		event_free(g->retry);
	if (g->waiting)
		s->nwaiting--;
	free(g->call_id);
	free(g);
}

static struct srv_group *group_new(struct srv *s, int type, const struct sv_call_ref *call)
{
	struct srv_group *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->call_id = malloc(call->call_id_len + 1);
	if (g->call_id == NULL) {
		free(g);
		return NULL;
	}
	memcpy(g->call_id, call->call_id, call->call_id_len);
	g->call_id_len = call->call_id_len;
	snprintf(g->customer, sizeof(g->customer), "%s", call->customer);
	g->s = s;
	g->type = type;
	g->first_ts_ns = call->first_ts_ns;
	g->next = *group_list(s, type);
	if (g->next != NULL)
		g->next->prev = g;
	*group_list(s, type) = g;
	return g;
}

/* Moves *data into the group as object `name`. */
static void group_add(struct srv_group *g, enum srv_obj kind, const char *name, const char *ctype,
                      struct sv_buf *data)
{
	struct srv_put *p = &g->objs[g->nobjs++];

	p->g = g;
	p->kind = kind;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->ctype = ctype;
	p->data = *data;
	g->bytes += data->cap + sizeof(*p);
	sv_buf_init(data);
}

static bool same_call(const struct srv_group *a, const struct srv_group *b)
{
	return a->call_id_len == b->call_id_len && strcmp(a->customer, b->customer) == 0 &&
	       memcmp(a->call_id, b->call_id, a->call_id_len) == 0;
}

static void journal_marker(struct srv *s, const struct srv_group *g)
{
	uint8_t pre[2 + 72 + 4], post[8];
	struct iovec iov[3];
	size_t cl = strlen(g->customer);
	int rc, n = 2;

	sv_put_be16(pre, (uint16_t)cl);
	memcpy(pre + 2, g->customer, cl);
	sv_put_be32(pre + 2 + cl, (uint32_t)g->call_id_len);
	iov[0].iov_base = pre;
	iov[0].iov_len = 6 + cl;
	iov[1].iov_base = g->call_id;
	iov[1].iov_len = g->call_id_len;
	if (g->type == GROUP_LOG) {
		sv_put_be32(post, g->chunk);
		sv_put_be32(post + 4, (uint32_t)g->lines);
		iov[2].iov_base = post;
		iov[2].iov_len = 8;
		n = 3;
	}
	rc = sv_journal_appendv(
	    s->journal, g->type == GROUP_LOG ? SRV_J_LOG_FLUSHED : SRV_J_COMPLETE, iov, n, NULL);
	if (rc != 0) {
		char cid[SRV_CALLID_STR];
		log_errx("customer=%s call_id=%s journal marker not written: %s", g->customer,
		         srv_callid_str(g->call_id, g->call_id_len, cid, sizeof(cid)),
		         sv_strerror(rc));
		return;
	}
	if (g->type == GROUP_COMPLETE && g->seg_plus1 != 0)
		sv_journal_unref(s->journal, (uint32_t)(g->seg_plus1 - 1));
	srv_want_sync(s);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	group_start(arg);
}

static void group_done(struct srv_group *g)
{
	struct srv *s = g->s;
	char cid[SRV_CALLID_STR];

	if (g->failed) {
		unsigned delay = g->attempts < 6 ? 1u << g->attempts : RETRY_MAX_S;
		struct timeval tv;
		if (delay > RETRY_MAX_S)
			delay = RETRY_MAX_S;
		tv.tv_sec = delay;
		tv.tv_usec = 0;
		g->attempts++;
		if (g->retry == NULL)
			g->retry = evtimer_new(s->base, retry_cb, g);
		if (g->retry == NULL || evtimer_add(g->retry, &tv) != 0)
			log_errx(
			    "customer=%s call_id=%s cannot schedule the retry of a failed write",
			    g->customer,
			    srv_callid_str(g->call_id, g->call_id_len, cid, sizeof(cid)));
		else
			log_warnx("customer=%s call_id=%s retrying the failed write(s) in %u s",
			          g->customer,
			          srv_callid_str(g->call_id, g->call_id_len, cid, sizeof(cid)),
			          delay);
		return;
	}
	if (g->type == GROUP_COMPLETE) {
		/* A log chunk of this call still waiting for its retry must be
		 * durable before the call is marked complete. */
		for (struct srv_group *o = s->log_groups; o != NULL; o = o->next) {
			if (same_call(o, g)) {
				g->waiting = true;
				s->nwaiting++;
				return;
			}
		}
		journal_marker(s, g);
		struct srv_cstats *cs = srv_cstats_get(s, g->customer);
		if (cs != NULL)
			cs->completed++;
		log_info("customer=%s call_id=%s complete: %d objects written", g->customer,
		         srv_callid_str(g->call_id, g->call_id_len, cid, sizeof(cid)), g->nobjs);
		group_free(g);
		return;
	}
	journal_marker(s, g);
	log_debug("customer=%s call_id=%s log chunk %u written (%zu lines)", g->customer,
	          srv_callid_str(g->call_id, g->call_id_len, cid, sizeof(cid)), g->chunk, g->lines);
	if (s->nwaiting > 0) {
		struct srv_group *w = NULL;
		bool more = false;
		for (struct srv_group *o = s->groups; o != NULL && w == NULL; o = o->next)
			if (o->waiting && same_call(o, g))
				w = o;
		for (struct srv_group *o = s->log_groups; o != NULL; o = o->next)
			if (o != g && same_call(o, g))
				more = true;
		group_free(g);
		if (w != NULL && !more) {
			w->waiting = false;
			s->nwaiting--;
			group_done(w);
		}
		return;
	}
	group_free(g);
}

static void put_done(void *arg, int rc)
{
	struct srv_put *p = arg;
	struct srv_group *g = p->g;
	struct srv *s = g->s;

	if (rc == 0) {
		p->done = true;
		s->obj_ok[p->kind]++;
		sv_buf_release(&p->data);
	} else {
		char cid[SRV_CALLID_STR];
		s->obj_err[p->kind]++;
		g->failed = true;
		log_warnx("customer=%s call_id=%s object %s not written: %s", g->customer,
		          srv_callid_str(g->call_id, g->call_id_len, cid, sizeof(cid)), p->name,
		          sv_strerror(rc));
	}
	if (--g->outstanding == 0)
		group_done(g);
}

static void group_start(struct srv_group *g)
{
	struct srv *s = g->s;
	const struct sv_customer *cu = sv_customers_find_by_id(s->customers, g->customer);
	char cid[SRV_CALLID_STR];
	struct sv_buf key, tmp;
	size_t dirlen;
	int rc, drc;

	g->failed = false;
	if (cu == NULL) {
		log_errx("customer=%s call_id=%s customer no longer configured: objects kept in "
		         "memory until it is",
		         g->customer, srv_callid_str(g->call_id, g->call_id_len, cid, sizeof(cid)));
		for (int i = 0; i < g->nobjs; i++)
			if (!g->objs[i].done)
				s->obj_err[g->objs[i].kind]++;
		g->failed = true;
		group_done(g);
		return;
	}
	sv_buf_init(&key);
	drc = sv_callkey_prefix(&key, g->first_ts_ns, (const char *)g->call_id, g->call_id_len);
	dirlen = key.len;
	g->outstanding = 1; /* held until every put is started */
	for (int i = 0; i < g->nobjs; i++) {
		struct srv_put *p = &g->objs[i];
		if (p->done)
			continue;
		key.len = dirlen;
		sv_buf_init(&tmp);
		rc = drc;
		if (rc == 0)
			rc = sv_buf_append_str(&key, p->name);
		if (rc == 0)
			rc = sv_buf_put_u8(&key, 0);
		if (rc == 0)
			rc = sv_buf_append(&tmp, p->data.data, p->data.len);
		if (rc == 0 && tmp.data == NULL)
			rc = sv_buf_reserve(&tmp, 1); /* an empty object is still an object */
		if (rc != 0) {
			s->obj_err[p->kind]++;
			g->failed = true;
			log_errx("customer=%s call_id=%s object %s: %s", g->customer,
			         srv_callid_str(g->call_id, g->call_id_len, cid, sizeof(cid)),
			         p->name, sv_strerror(rc));
			sv_buf_release(&tmp);
			continue;
		}
		g->outstanding++;
		rc = sv_objstore_put(s->store, cu->bucket, (const char *)key.data, p->ctype, NULL,
		                     &tmp, put_done, p);
		sv_buf_release(&tmp);
		if (rc == 0)
			want_flush(s);
		if (rc != 0) {
			/* Refused at once (an invalid key): retrying cannot help. */
			g->outstanding--;
			s->obj_err[p->kind]++;
			p->done = true;
			sv_buf_release(&p->data);
			log_errx("customer=%s call_id=%s object %s/%s refused: %s", g->customer,
			         srv_callid_str(g->call_id, g->call_id_len, cid, sizeof(cid)),
			         cu->bucket, (const char *)key.data, sv_strerror(rc));
		}
	}
	sv_buf_release(&key);
	if (--g->outstanding == 0)
		group_done(g);
}

/*
 * Object writes are queued by the hooks and started by writer_cb a time
 * slice at a time, so that a tick completing thousands of calls does not
 * keep the loop from reading agents and answering heartbeats. Past
 * WQ_MAX_BYTES of queued objects the hooks write at once (the loop then
 * slows down the intake instead of growing memory).
 */
static void group_submit(struct srv_group *g)
{
	struct srv *s = g->s;

	if (s->writer_ev == NULL || s->wq_bytes + g->bytes > WQ_MAX_BYTES) {
		group_start(g);
		return;
	}
	g->queued = true;
	g->qnext = NULL;
	if (s->wq_tail != NULL)
		s->wq_tail->qnext = g;
	else
		s->wq_head = g;
	s->wq_tail = g;
	s->wq_bytes += g->bytes;
	event_active(s->writer_ev, EV_TIMEOUT, 0);
}

static void writer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	uint64_t t0 = realtime_ns();

	while (s->wq_head != NULL) {
		struct srv_group *g = s->wq_head;
		s->wq_head = g->qnext;
		if (s->wq_head == NULL)
			s->wq_tail = NULL;
		g->queued = false;
		s->wq_bytes -= g->bytes;
		group_start(g);
		if (s->wq_head != NULL && realtime_ns() - t0 > WRITE_SLICE_NS) {
			event_active(s->writer_ev, EV_TIMEOUT, 0);
			break;
		}
	}
}

/*
 * Group commit of the object store: the puts started during this loop
 * iteration (by writer_cb, a retry or a hook) are made durable together,
 * then their put_done callbacks run, and only those write the journal
 * markers (LOG_FLUSHED / COMPLETE). Activated after the puts, so it runs
 * after the writer in the same iteration.
 */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	int rc;

	s->flush_wanted = false;
	rc = sv_objstore_flush(s->store);
	if (rc != 0)
		log_debug("object store flush: %s (each failed put is logged and retried)",
		          sv_strerror(rc));
}

static void want_flush(struct srv *s)
{
	if (s->flush_wanted)
		return;
	s->flush_wanted = true;
	if (s->flush_ev != NULL)
		event_active(s->flush_ev, EV_TIMEOUT, 0);
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
	struct srv *s = arg;
	struct srv_group *g = group_new(s, GROUP_LOG, call);
	char name[16], cid[SRV_CALLID_STR];

	if (g == NULL || sv_callkey_log_name(chunk, name) != 0) {
		log_errx("customer=%s call_id=%s log chunk %u lost: %s", call->customer,
		         srv_callid_str(call->call_id, call->call_id_len, cid, sizeof(cid)), chunk,
		         g == NULL ? "out of memory" : "bad chunk number");
		if (g != NULL)
			group_free(g);
		s->obj_err[SRV_OBJ_LOG]++;
		return;
	}
	g->chunk = chunk;
	g->lines = lines;
	group_add(g, SRV_OBJ_LOG, name, "application/gzip", gz);
	group_submit(g);
}

static void hook_complete(void *arg, const struct sv_call_ref *call, struct sv_call_objects *o)
{
	struct srv *s = arg;
	struct srv_group *g = group_new(s, GROUP_COMPLETE, call);
	char name[16], cid[SRV_CALLID_STR];

	if (g == NULL) {
		log_errx("customer=%s call_id=%s objects lost: out of memory (the journal keeps "
		         "the call for the next start)",
		         call->customer,
		         srv_callid_str(call->call_id, call->call_id_len, cid, sizeof(cid)));
		sv_call_objects_release(o);
		return;
	}
	g->seg_plus1 = *call->user;
	*call->user = 0;
	/* quality.json last: the local store makes a batch visible in put order,
	 * so a reader that sees quality.json sees the whole call. */
	group_add(g, SRV_OBJ_SIP, "sip.pcap.gz", "application/gzip", &o->sip_pcap_gz);
	group_add(g, SRV_OBJ_RTCP, "rtcp.json.gz", "application/gzip", &o->rtcp_json_gz);
	if (o->log_chunk > 0 && sv_callkey_log_name(o->log_chunk, name) == 0)
		group_add(g, SRV_OBJ_LOG, name, "application/gzip", &o->log_gz);
	group_add(g, SRV_OBJ_QUALITY, "quality.json", "application/json", &o->quality_json);
	sv_call_objects_release(o);
	group_submit(g);
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

/* ------------------------------------------------------------ metrics */

static const char *const drop_label[SRV_DROP_N] = {
    "not_call",
    "late",
    "no_call",
    "duplicate",
    "malformed_sip",
    "malformed_rtcp",
    "malformed_frame",
    "hep_unattributed",
    "hep_malformed",
    "hep_unsupported_type",
    "unknown_frame_type",
    "auth_failed",
    "protocol_error",
    "rtcp_unknown_direction",
};

static const char *const hep_label[SRV_HEP_N] = {
    "stored", "no_call", "duplicate", "late", "malformed", "unattributed", "unsupported_type",
};

static const char *ftype_label(unsigned t)
{
	return t < SRV_FTYPES - 1 ? sv_wire_type_name((uint8_t)t) : "UNKNOWN";
}

static void add_delta(struct sv_metric *m, uint64_t *cur, uint64_t *rep, const char *l1,
                      const char *l2)
{
	if (*cur != *rep && sv_metric_add(m, (double)(*cur - *rep), l1, l2) == 0)
		*rep = *cur;
}

static int metrics_init(struct srv *s)
{
	struct sv_metrics *m;

	if (sv_metrics_new(&s->metrics) != 0)
		return -ENOMEM;
	m = s->metrics;
	s->m_frames =
	    sv_metrics_counter(m, "sipvault_frames_total",
	                       "Agent frames received, by type and customer", "type", "customer");
	s->m_bytes =
	    sv_metrics_counter(m, "sipvault_frame_bytes_total",
	                       "Agent frame bytes received (header included)", "type", "customer");
	s->m_sessions =
	    sv_metrics_gauge(m, "sipvault_sessions",
	                     "Calls by state (complete: remembered tombstones)", "state", NULL);
	s->m_completed =
	    sv_metrics_counter(m, "sipvault_calls_completed_total",
	                       "Calls whose objects were all written", "customer", NULL);
	s->m_objects = sv_metrics_counter(m, "sipvault_objects_written_total",
	                                  "Objects written to the object store", "object", NULL);
	s->m_obj_err = sv_metrics_counter(m, "sipvault_object_errors_total",
	                                  "Object writes that failed (retried)", "object", NULL);
	s->m_drops =
	    sv_metrics_counter(m, "sipvault_drops_total",
	                       "Frames, packets or reports not attached to a call", "reason", NULL);
	s->m_agents = sv_metrics_gauge(m, "sipvault_agents_connected",
	                               "Authenticated agent connections", "customer", NULL);
	s->m_conns =
	    sv_metrics_gauge(m, "sipvault_agent_connections",
	                     "Open agent TCP connections (authenticated or not)", NULL, NULL);
	s->m_jsegs =
	    sv_metrics_gauge(m, "sipvault_journal_segments", "Journal segment files", NULL, NULL);
	s->m_jbytes =
	    sv_metrics_gauge(m, "sipvault_journal_bytes", "Journal bytes on disk", NULL, NULL);
	s->m_hep = sv_metrics_counter(m, "sipvault_hep_packets_total", "HEP packets by result",
	                              "result", NULL);
	s->m_held = sv_metrics_gauge(m, "sipvault_sessions_bytes",
	                             "Approximate memory held by live calls", NULL, NULL);
	s->m_spool_objs =
	    sv_metrics_gauge(m, "sipvault_spool_objects",
	                     "Objects in the S3 spool not yet confirmed by S3", NULL, NULL);
	s->m_spool_bytes = sv_metrics_gauge(
	    m, "sipvault_spool_bytes", "Payload bytes of the objects in the S3 spool", NULL, NULL);
	s->m_spool_age =
	    sv_metrics_gauge(m, "sipvault_spool_oldest_seconds",
	                     "Age of the oldest object in the S3 spool (0: empty)", NULL, NULL);
	s->m_s3_errors =
	    sv_metrics_counter(m, "sipvault_s3_errors_total",
	                       "Failed S3 upload attempts (each is retried)", "bucket", NULL);
	s->m_s3_uploads =
	    sv_metrics_counter(m, "sipvault_s3_uploads_total",
	                       "Objects uploaded to S3 and removed from the spool", NULL, NULL);
	s->m_s3_check = sv_metrics_gauge(m, "sipvault_s3_bucket_ok",
	                                 "Start-up bucket check: 1 ok, 0 failed (see the log)",
	                                 "customer", "bucket");
	if (s->m_frames == NULL || s->m_bytes == NULL || s->m_sessions == NULL ||
	    s->m_completed == NULL || s->m_objects == NULL || s->m_obj_err == NULL ||
	    s->m_drops == NULL || s->m_agents == NULL || s->m_conns == NULL || s->m_jsegs == NULL ||
	    s->m_jbytes == NULL || s->m_hep == NULL || s->m_held == NULL ||
	    s->m_spool_objs == NULL || s->m_spool_bytes == NULL || s->m_spool_age == NULL ||
	    s->m_s3_errors == NULL || s->m_s3_uploads == NULL || s->m_s3_check == NULL)
		return -ENOMEM;
	/* Every series that has a fixed label set exists from the start. */
	for (int i = 0; i < SRV_DROP_N; i++)
		sv_metric_add(s->m_drops, 0, drop_label[i], NULL);
	for (int i = 0; i < SRV_HEP_N; i++)
		sv_metric_add(s->m_hep, 0, hep_label[i], NULL);
	for (int i = 0; i < SRV_OBJ_N; i++) {
		sv_metric_add(s->m_objects, 0, obj_label[i], NULL);
		sv_metric_add(s->m_obj_err, 0, obj_label[i], NULL);
	}
	for (int i = 0; i < SV_CALL_NSTATES; i++)
		sv_metric_set(s->m_sessions, 0, sv_call_state_name((enum sv_call_state)i), NULL);
	return 0;
}

static void metrics_update(struct srv *s)
{
	struct sv_session_stats st;
	struct sv_journal_stats js;

	sv_sessions_stats(s->sessions, &st);
	s->drops[SRV_DROP_RTCP_UNKNOWN_DIR] = st.rtcp_unknown_direction;
	for (struct srv_cstats *c = s->cstats; c != NULL; c = c->next) {
		for (unsigned t = 0; t < SRV_FTYPES; t++) {
			add_delta(s->m_frames, &c->frames[t], &c->frames_rep[t], ftype_label(t),
			          c->id);
			add_delta(s->m_bytes, &c->bytes[t], &c->bytes_rep[t], ftype_label(t),
			          c->id);
		}
		add_delta(s->m_completed, &c->completed, &c->completed_rep, c->id, NULL);
		sv_metric_set(s->m_agents, (double)c->agents, c->id, NULL);
	}
	for (int i = 0; i < SV_CALL_NSTATES; i++)
		sv_metric_set(s->m_sessions, (double)st.calls[i],
		              sv_call_state_name((enum sv_call_state)i), NULL);
	for (int i = 0; i < SRV_DROP_N; i++)
		add_delta(s->m_drops, &s->drops[i], &s->drops_rep[i], drop_label[i], NULL);
	for (int i = 0; i < SRV_HEP_N; i++)
		add_delta(s->m_hep, &s->hep[i], &s->hep_rep[i], hep_label[i], NULL);
	for (int i = 0; i < SRV_OBJ_N; i++) {
		add_delta(s->m_objects, &s->obj_ok[i], &s->obj_ok_rep[i], obj_label[i], NULL);
		add_delta(s->m_obj_err, &s->obj_err[i], &s->obj_err_rep[i], obj_label[i], NULL);
	}
	sv_journal_stats(s->journal, &js);
	sv_metric_set(s->m_jsegs, (double)js.segments, NULL, NULL);
	sv_metric_set(s->m_jbytes, (double)js.bytes, NULL, NULL);
	sv_metric_set(s->m_conns, (double)s->nconns, NULL, NULL);
	sv_metric_set(s->m_held, (double)st.bytes_held, NULL, NULL);
	if (s->s3store != NULL) {
		struct sv_s3store_stats ss;
		struct sv_s3store_bucket_stats bs;
		sv_s3store_stats(s->s3store, &ss);
		sv_metric_set(s->m_spool_objs, (double)ss.spool_objects, NULL, NULL);
		sv_metric_set(s->m_spool_bytes, (double)ss.spool_bytes, NULL, NULL);
		sv_metric_set(s->m_spool_age,
		              sv_s3store_oldest_age(s->s3store, (int64_t)realtime_ns()), NULL,
		              NULL);
		sv_metric_set(s->m_s3_uploads, (double)ss.uploads_ok, NULL, NULL);
		for (size_t i = 0; i < sv_s3store_bucket_count(s->s3store); i++)
			if (sv_s3store_bucket(s->s3store, i, &bs) == 0)
				sv_metric_set(s->m_s3_errors, (double)bs.errors, bs.bucket, NULL);
	}
}

static void http_cb(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *out;
	struct sv_buf text;

	if (uri == NULL || (strcmp(uri, "/metrics") != 0 && strncmp(uri, "/metrics?", 9) != 0)) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	metrics_update(s);
	sv_buf_init(&text);
	out = evbuffer_new();
	if (out == NULL || sv_metrics_render(s->metrics, &text) != 0 ||
	    evbuffer_add(out, text.data, text.len) != 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
	} else {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                  "text/plain; version=0.0.4; charset=utf-8");
		evhttp_send_reply(req, HTTP_OK, "OK", out);
	}
	if (out != NULL)
		evbuffer_free(out);
	sv_buf_release(&text);
}

static int metrics_listen(struct srv *s, char *err, size_t errlen)
{
	int fds[2], n;

	if (!s->conf->metrics_listen.enabled)
		return 0;
	s->http = evhttp_new(s->base);
	if (s->http == NULL) {
		snprintf(err, errlen, "cannot create the metrics HTTP server");
		return -ENOMEM;
	}
	evhttp_set_gencb(s->http, http_cb, s);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_timeout(s->http, 30);
	n = srv_open_sockets(&s->conf->metrics_listen, SOCK_STREAM, fds, err, errlen);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if (evhttp_accept_socket_with_handle(s->http, fds[i]) == NULL) {
			snprintf(err, errlen, "cannot serve metrics");
			for (int j = i; j < n; j++)
				close(fds[j]);
			return -ENOMEM;
		}
	}
	return 0;
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
	sv_metric_set(s->m_s3_check, rc == 0 ? 1 : 0, id, bucket);
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

static void srv_release(struct srv *s)
{
	srv_agent_stop_listening(s);
	srv_hep_close(s);
	if (s->http != NULL)
		evhttp_free(s->http);
	srv_agent_close_all(s);
	/* Puts already started are completed (and their journal markers
	 * written) before the journal is closed; anything a back end still
	 * holds is cancelled while the groups exist. Queued groups that were
	 * never started stay in the journal for the next start. */
	if (s->store != NULL) {
		sv_objstore_flush(s->store);
		sv_objstore_free(s->store);
		s->store = NULL;
	}
	while (s->groups != NULL)
		group_free(s->groups);
	while (s->log_groups != NULL)
		group_free(s->log_groups);
	s->wq_head = s->wq_tail = NULL;
	if (s->writer_ev != NULL)
		event_free(s->writer_ev);
	if (s->flush_ev != NULL)
		event_free(s->flush_ev);
	if (s->journal != NULL) {
		int rc = sv_journal_close(s->journal);
		if (rc != 0)
			log_errx("journal: final sync failed: %s", sv_strerror(rc));
	}
	sv_sessions_free(s->sessions);
	sv_objstore_free(s->store);
	s->s3store = NULL;
	for (size_t i = 0; i < s->s3check_n; i++)
		free(s->s3check_ids[i]);
	free(s->s3check_ids);
	sv_metrics_free(s->metrics);
	sv_customers_free(s->customers);
	replay_map_free(s->replay_map);
	while (s->cstats != NULL) {
		struct srv_cstats *c = s->cstats;
		s->cstats = c->next;
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

int sv_server_run(struct sv_server_conf *conf, const char *config_path)
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
	if (sv_sessions_new(&lim, &hooks, &s->sessions) != 0 || metrics_init(s) != 0) {
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
	s->writer_ev = event_new(s->base, -1, 0, writer_cb, s);
	s->flush_ev = event_new(s->base, -1, 0, flush_cb, s);
	s->sig_ev[0] = evsignal_new(s->base, SIGTERM, signal_cb, s);
	s->sig_ev[1] = evsignal_new(s->base, SIGINT, signal_cb, s);
	s->sig_ev[2] = evsignal_new(s->base, SIGHUP, signal_cb, s);
	if (s->tick_ev == NULL || s->sync_ev == NULL || s->writer_ev == NULL ||
	    s->flush_ev == NULL || s->sig_ev[0] == NULL || s->sig_ev[1] == NULL ||
	    s->sig_ev[2] == NULL || event_add(s->sig_ev[0], NULL) != 0 ||
	    event_add(s->sig_ev[1], NULL) != 0 || event_add(s->sig_ev[2], NULL) != 0) {
		log_errx("cannot set up the event loop");
		goto out;
	}
	if (srv_agent_listen(s, err, sizeof(err)) != 0 ||
	    srv_hep_listen(s, err, sizeof(err)) != 0 || metrics_listen(s, err, sizeof(err)) != 0) {
		log_errx("%s", err);
		goto out;
	}
	if (s->flush_wanted) { /* puts started before the event existed */
		s->flush_wanted = false;
		want_flush(s);
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
	srv_release(s);
	libevent_global_shutdown();
	return status;
}
