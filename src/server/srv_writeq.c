/*
 * srv_writeq.c - the object-write queue: engine hooks -> groups of objects
 * -> sv_objstore_put() (staged) -> once per loop iteration
 * sv_objstore_flush() (group commit) -> put_done -> journal marker (log
 * chunk flushed / call complete) -> the call's journal segment unref'd.
 *
 * A group is the unit of work: a completed call's objects (sip.pcap.gz,
 * rtcp.json.gz, the last log chunk, quality.json — in that order) or one
 * periodic log chunk. Its life:
 *
 *   queued --writer_cb--> started --every put done--> finished (freed)
 *                            |  ^
 *               a put failed v  | retry time reached (srv_writeq_retry_due)
 *                          retrying
 *
 * A complete group whose call still has a log chunk waiting for its retry
 * waits ("waiting") until that chunk is durable, so COMPLETE is never
 * journaled before a LOG_FLUSHED of the same call.
 */
#include "srv.h"

#include "base/errors.h"
#include "base/log.h"
#include "call/callkey.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define NS_PER_S       1000000000ull
#define RETRY_MAX_S    60
#define WRITE_SLICE_NS (20ull * 1000000) /* object writes per loop iteration, at most */
#define WQ_MAX_BYTES   (64u << 20)       /* queued object bytes before writing at once */

enum group_type { GROUP_LOG, GROUP_COMPLETE };
enum group_where { G_STARTED, G_QUEUED, G_RETRYING };

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
	TAILQ_ENTRY(srv_group) link;  /* wq.calls or wq.logs */
	TAILQ_ENTRY(srv_group) qlink; /* wq.queue or wq.retry, as `where` says */
	enum group_where where;
	size_t bytes;
	enum group_type type;
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
	uint64_t retry_at; /* clock ns, while retrying */
};

static void group_start(struct srv_group *g);
static void want_flush(struct srv *s);

static struct srv_groupq *group_list(struct srv *s, enum group_type type)
{
	return type == GROUP_LOG ? &s->wq.logs : &s->wq.calls;
}

static const char *cid_str(const struct srv_group *g, char out[SRV_CALLID_STR])
{
	return srv_callid_str(g->call_id, g->call_id_len, out, SRV_CALLID_STR);
}

static void group_free(struct srv_group *g)
{
	struct srv *s = g->s;

	TAILQ_REMOVE(group_list(s, g->type), g, link);
	if (g->where == G_QUEUED) {
		TAILQ_REMOVE(&s->wq.queue, g, qlink);
		s->wq.queued_bytes -= g->bytes;
	} else if (g->where == G_RETRYING) {
		TAILQ_REMOVE(&s->wq.retry, g, qlink);
	}
	for (int i = 0; i < g->nobjs; i++)
		sv_buf_release(&g->objs[i].data);
	if (g->waiting)
		s->wq.nwaiting--;
	free(g->call_id);
	free(g);
}

static struct srv_group *group_new(struct srv *s, enum group_type type,
                                   const struct sv_call_ref *call)
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
	g->where = G_STARTED;
	g->first_ts_ns = call->first_ts_ns;
	TAILQ_INSERT_HEAD(group_list(s, type), g, link);
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
		         cid_str(g, cid), sv_strerror(rc));
		return;
	}
	if (g->type == GROUP_COMPLETE && g->seg_plus1 != 0)
		sv_journal_unref(s->journal, (uint32_t)(g->seg_plus1 - 1));
	srv_want_sync(s);
}

/* ------------------------------------------------------------ retries */

/* Arms the retry timer for the earliest retry time, if it is not armed for
 * that one or an earlier one already. */
static uint64_t next_retry(const struct srv *s)
{
	const struct srv_group *g;
	uint64_t next = 0;

	TAILQ_FOREACH(g, &s->wq.retry, qlink)
	{
		if (next == 0 || g->retry_at < next)
			next = g->retry_at;
	}
	return next;
}

static void arm_retry(struct srv *s, uint64_t now)
{
	uint64_t next = next_retry(s);
	struct timeval tv;

	if (next == 0 || s->wq.retry_ev == NULL) {
		if (s->wq.retry_ev != NULL)
			evtimer_del(s->wq.retry_ev);
		s->wq.retry_at = 0;
		return;
	}
	if (s->wq.retry_at != 0 && s->wq.retry_at <= next)
		return;
	next = next > now ? next - now : 0;
	tv.tv_sec = (time_t)(next / NS_PER_S);
	tv.tv_usec = (suseconds_t)((next % NS_PER_S) / 1000);
	if (evtimer_add(s->wq.retry_ev, &tv) == 0)
		s->wq.retry_at = now + next;
	else
		log_errx("cannot schedule the retry of failed object writes");
}

static void schedule_retry(struct srv_group *g)
{
	struct srv *s = g->s;
	unsigned delay = g->attempts < 6 ? 1u << g->attempts : RETRY_MAX_S;
	uint64_t now = srv_now(s);
	char cid[SRV_CALLID_STR];

	if (delay > RETRY_MAX_S)
		delay = RETRY_MAX_S;
	g->attempts++;
	g->retry_at = now + (uint64_t)delay * NS_PER_S;
	g->where = G_RETRYING;
	TAILQ_INSERT_TAIL(&s->wq.retry, g, qlink);
	arm_retry(s, now);
	log_warnx("customer=%s call_id=%s retrying the failed write(s) in %u s", g->customer,
	          cid_str(g, cid), delay);
}

uint64_t srv_writeq_retry_due(struct srv *s, uint64_t now)
{
	struct srv_groupq due = TAILQ_HEAD_INITIALIZER(due);
	struct srv_group *g, *next;

	for (g = TAILQ_FIRST(&s->wq.retry); g != NULL; g = next) {
		next = TAILQ_NEXT(g, qlink);
		if (g->retry_at <= now) {
			TAILQ_REMOVE(&s->wq.retry, g, qlink);
			TAILQ_INSERT_TAIL(&due, g, qlink);
		}
	}
	/* Started after the walk: a start may fail at once and come back. */
	while ((g = TAILQ_FIRST(&due)) != NULL) {
		TAILQ_REMOVE(&due, g, qlink);
		g->where = G_STARTED;
		group_start(g);
	}
	s->wq.retry_at = 0;
	arm_retry(s, now);
	return next_retry(s);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;

	s->wq.retry_at = 0;
	(void)srv_writeq_retry_due(s, srv_now(s));
}

/* ------------------------------------------------------------ completion */

static void group_done(struct srv_group *g)
{
	struct srv *s = g->s;
	char cid[SRV_CALLID_STR];

	if (g->failed) {
		schedule_retry(g);
		return;
	}
	if (g->type == GROUP_COMPLETE) {
		/* A log chunk of this call still waiting for its retry must be
		 * durable before the call is marked complete. */
		struct srv_group *o;
		TAILQ_FOREACH(o, &s->wq.logs, link)
		{
			if (same_call(o, g)) {
				g->waiting = true;
				s->wq.nwaiting++;
				return;
			}
		}
		journal_marker(s, g);
		struct srv_cstats *cs = srv_cstats_get(s, g->customer);
		if (cs != NULL)
			cs->completed++;
		log_info("customer=%s call_id=%s complete: %d objects written", g->customer,
		         cid_str(g, cid), g->nobjs);
		group_free(g);
		return;
	}
	journal_marker(s, g);
	log_debug("customer=%s call_id=%s log chunk %u written (%zu lines)", g->customer,
	          cid_str(g, cid), g->chunk, g->lines);
	if (s->wq.nwaiting > 0) {
		struct srv_group *w = NULL, *o;
		bool more = false;
		TAILQ_FOREACH(o, &s->wq.calls, link)
		{
			if (o->waiting && same_call(o, g)) {
				w = o;
				break;
			}
		}
		TAILQ_FOREACH(o, &s->wq.logs, link)
		{
			if (o != g && same_call(o, g))
				more = true;
		}
		group_free(g);
		if (w != NULL && !more) {
			w->waiting = false;
			s->wq.nwaiting--;
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
		          cid_str(g, cid), p->name, sv_strerror(rc));
	}
	if (--g->outstanding == 0)
		group_done(g);
}

/* Starts the put of every object of g not written yet. */
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
		         g->customer, cid_str(g, cid));
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
			         cid_str(g, cid), p->name, sv_strerror(rc));
			sv_buf_release(&tmp);
			continue;
		}
		g->outstanding++;
		rc = sv_objstore_put(s->store, cu->bucket, (const char *)key.data, p->ctype, NULL,
		                     &tmp, put_done, p);
		sv_buf_release(&tmp);
		if (rc == 0) {
			want_flush(s);
			continue;
		}
		/* Refused at once (an invalid key): retrying cannot help. */
		g->outstanding--;
		s->obj_err[p->kind]++;
		p->done = true;
		sv_buf_release(&p->data);
		log_errx("customer=%s call_id=%s object %s/%s refused: %s", g->customer,
		         cid_str(g, cid), cu->bucket, (const char *)key.data, sv_strerror(rc));
	}
	sv_buf_release(&key);
	if (--g->outstanding == 0)
		group_done(g);
}

/* ------------------------------------------------------------ the writer */

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

	if (s->wq.writer_ev == NULL || s->wq.queued_bytes + g->bytes > WQ_MAX_BYTES) {
		group_start(g);
		return;
	}
	g->where = G_QUEUED;
	TAILQ_INSERT_TAIL(&s->wq.queue, g, qlink);
	s->wq.queued_bytes += g->bytes;
	event_active(s->wq.writer_ev, EV_TIMEOUT, 0);
}

static void writer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	uint64_t t0 = srv_now(s);
	struct srv_group *g;

	while ((g = TAILQ_FIRST(&s->wq.queue)) != NULL) {
		TAILQ_REMOVE(&s->wq.queue, g, qlink);
		g->where = G_STARTED;
		s->wq.queued_bytes -= g->bytes;
		group_start(g);
		if (!TAILQ_EMPTY(&s->wq.queue) && srv_now(s) - t0 > WRITE_SLICE_NS) {
			event_active(s->wq.writer_ev, EV_TIMEOUT, 0);
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

	s->wq.flush_wanted = false;
	rc = sv_objstore_flush(s->store);
	if (rc != 0)
		log_debug("object store flush: %s (each failed put is logged and retried)",
		          sv_strerror(rc));
}

static void want_flush(struct srv *s)
{
	if (s->wq.flush_wanted)
		return;
	s->wq.flush_wanted = true;
	if (s->wq.flush_ev != NULL)
		event_active(s->wq.flush_ev, EV_TIMEOUT, 0);
}

/* ------------------------------------------------------------ API */

void srv_writeq_init(struct srv *s)
{
	memset(&s->wq, 0, sizeof(s->wq));
	TAILQ_INIT(&s->wq.calls);
	TAILQ_INIT(&s->wq.logs);
	TAILQ_INIT(&s->wq.queue);
	TAILQ_INIT(&s->wq.retry);
}

int srv_writeq_start(struct srv *s)
{
	s->wq.writer_ev = event_new(s->base, -1, 0, writer_cb, s);
	s->wq.flush_ev = event_new(s->base, -1, 0, flush_cb, s);
	s->wq.retry_ev = evtimer_new(s->base, retry_cb, s);
	if (s->wq.writer_ev == NULL || s->wq.flush_ev == NULL || s->wq.retry_ev == NULL)
		return -ENOMEM;
	if (s->wq.flush_wanted) { /* puts started before the event existed */
		s->wq.flush_wanted = false;
		want_flush(s);
	}
	s->wq.retry_at = 0;
	arm_retry(s, srv_now(s));
	return 0;
}

void srv_writeq_log_chunk(struct srv *s, const struct sv_call_ref *call, unsigned chunk,
                          size_t lines, struct sv_buf *gz)
{
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

void srv_writeq_complete(struct srv *s, const struct sv_call_ref *call, uint64_t seg_plus1,
                         struct sv_call_objects *o)
{
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
	g->seg_plus1 = seg_plus1;
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

void srv_writeq_counts(const struct srv *s, size_t *queued, size_t *retrying, size_t *unfinished)
{
	const struct srv_group *g;
	size_t q = 0, r = 0, u = 0;

	TAILQ_FOREACH(g, &s->wq.queue, qlink)
	{
		q++;
	}
	TAILQ_FOREACH(g, &s->wq.retry, qlink)
	{
		r++;
	}
	TAILQ_FOREACH(g, &s->wq.calls, link)
	{
		u++;
	}
	TAILQ_FOREACH(g, &s->wq.logs, link)
	{
		u++;
	}
	*queued = q;
	*retrying = r;
	*unfinished = u;
}

void srv_writeq_shutdown(struct srv *s)
{
	struct srv_group *g;

	/* Puts already started are completed (and their journal markers
	 * written) before the journal is closed; anything a back end still
	 * holds is cancelled while the groups exist. Queued groups that were
	 * never started stay in the journal for the next start. */
	if (s->store != NULL) {
		sv_objstore_flush(s->store);
		sv_objstore_free(s->store);
		s->store = NULL;
	}
	while ((g = TAILQ_FIRST(&s->wq.calls)) != NULL)
		group_free(g);
	while ((g = TAILQ_FIRST(&s->wq.logs)) != NULL)
		group_free(g);
	if (s->wq.writer_ev != NULL)
		event_free(s->wq.writer_ev);
	if (s->wq.flush_ev != NULL)
		event_free(s->wq.flush_ev);
	if (s->wq.retry_ev != NULL)
		event_free(s->wq.retry_ev);
	s->wq.writer_ev = s->wq.flush_ev = s->wq.retry_ev = NULL;
}
