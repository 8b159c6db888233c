/*
 * evidence.c - a call's records and the objects built from them at COMPLETE
 * (see evidence.h and docs/internals/evidence.md).
 */
#include "call/evidence.h"

#include "base/gz.h"
#include "call/rtcpjson.h"
#include "proto/pcapfile.h"
#include "proto/rtcp.h"
#include "proto/sdp.h"
#include "proto/sip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ------------------------------------------------------------ records */

void sv_evidence_init(struct sv_evidence *ev)
{
	memset(ev, 0, sizeof(*ev));
	STAILQ_INIT(&ev->sip);
	SLIST_INIT(&ev->rtcp);
	STAILQ_INIT(&ev->log);
}

void sv_evidence_release(struct sv_evidence *ev)
{
	struct sv_ev_sip *s;
	struct sv_ev_rtcp *r;

	while ((s = STAILQ_FIRST(&ev->sip)) != NULL) {
		STAILQ_REMOVE_HEAD(&ev->sip, link);
		free(s);
	}
	while ((r = SLIST_FIRST(&ev->rtcp)) != NULL) {
		SLIST_REMOVE_HEAD(&ev->rtcp, link);
		free(r);
	}
	sv_evidence_drop_log(ev, ev->n_log);
	free(ev->quality);
	ev->quality = NULL;
	ev->quality_len = 0;
	ev->quality_ts = 0;
}

int sv_evidence_log_gz(const struct sv_evidence *ev, size_t n, struct sv_buf *out)
{
	const struct sv_ev_log *r;
	struct sv_buf text;
	size_t i = 0;
	int rc = 0;

	sv_buf_init(&text);
	STAILQ_FOREACH(r, &ev->log, link)
	{
		if (i++ == n)
			break;
		if ((rc = sv_buf_append(&text, r->data, r->len)) != 0 ||
		    (rc = sv_buf_append(&text, "\n", 1)) != 0)
			break;
	}
	if (rc == 0)
		rc = sv_gz_compress(text.data != NULL ? text.data : (const uint8_t *)"", text.len,
		                    out);
	sv_buf_release(&text);
	return rc;
}

size_t sv_evidence_drop_log(struct sv_evidence *ev, size_t n)
{
	struct sv_ev_log *r;
	size_t bytes = 0;

	for (size_t i = 0; i < n && (r = STAILQ_FIRST(&ev->log)) != NULL; i++) {
		STAILQ_REMOVE_HEAD(&ev->log, link);
		bytes += sv_ev_log_size(r);
		free(r);
		ev->n_log--;
	}
	return bytes;
}

void sv_call_objects_init(struct sv_call_objects *objs)
{
	memset(objs, 0, sizeof(*objs));
	sv_buf_init(&objs->sip_pcap_gz);
	sv_buf_init(&objs->rtcp_json_gz);
	sv_buf_init(&objs->quality_json);
	sv_buf_init(&objs->log_gz);
}

void sv_call_objects_release(struct sv_call_objects *objs)
{
	if (objs == NULL)
		return;
	sv_buf_release(&objs->sip_pcap_gz);
	sv_buf_release(&objs->rtcp_json_gz);
	sv_buf_release(&objs->quality_json);
	sv_buf_release(&objs->log_gz);
	objs->log_chunk = 0;
}

/* ------------------------------------------------------------ the dialog */

/* A valid UTF-8, NUL-free copy of bytes (bad sequences and NUL become U+FFFD). */
static char *utf8_copy(const void *p, size_t len)
{
	const uint8_t *b = p;
	struct sv_buf o;
	sv_buf_init(&o);
	size_t i = 0;
	while (i < len) {
		uint8_t c = b[i];
		size_t n = c < 0x80             ? 1
		           : (c & 0xe0) == 0xc0 ? 2
		           : (c & 0xf0) == 0xe0 ? 3
		           : (c & 0xf8) == 0xf0 ? 4
		                                : 0;
		int ok = n > 0 && c != 0 && i + n <= len;
		if (ok && n > 1) {
			uint32_t cp = c & (0x7f >> n);
			for (size_t k = 1; k < n; k++) {
				if ((b[i + k] & 0xc0) != 0x80) {
					ok = 0;
					break;
				}
				cp = cp << 6 | (b[i + k] & 0x3f);
			}
			if (ok && ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
			           (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
			           (cp >= 0xd800 && cp <= 0xdfff)))
				ok = 0;
		}
		if (ok) {
			if (sv_buf_append(&o, b + i, n) != 0)
				goto fail;
			i += n;
		} else {
			if (sv_buf_append(&o, "\xef\xbf\xbd", 3) != 0)
				goto fail;
			i++;
		}
	}
	if (sv_buf_append(&o, "", 1) != 0)
		goto fail;
	return (char *)o.data;
fail:
	sv_buf_release(&o);
	return NULL;
}

struct endpoint {
	int family;
	uint8_t addr[16];
	uint16_t port;
	uint8_t side; /* enum sv_quality_dir */
};

struct ssrc_side {
	uint32_t ssrc;
	uint8_t side;
};

/* What the dialog's messages say, worked out at COMPLETE. */
struct dialog {
	char *from, *to;
	char codec[32];
	unsigned clock_rate;
	struct endpoint *ep;
	size_t n_ep, cap_ep;
	struct ssrc_side *ss;
	size_t n_ss, cap_ss;
};

static void dialog_release(struct dialog *d)
{
	free(d->from);
	free(d->to);
	free(d->ep);
	free(d->ss);
}

static int add_ep(struct dialog *d, const struct sv_sdp_addr *a, uint16_t port, int side)
{
	if (a == NULL || (a->family != AF_INET && a->family != AF_INET6))
		return 0;
	for (size_t i = 0; i < d->n_ep; i++)
		if (d->ep[i].family == a->family && d->ep[i].port == port &&
		    d->ep[i].side == side && memcmp(d->ep[i].addr, a->addr, 16) == 0)
			return 0;
	struct endpoint *e = sv_grow(d->ep, d->n_ep, &d->cap_ep, sizeof(*e), 8);
	if (e == NULL)
		return -ENOMEM;
	d->ep = e;
	e = &d->ep[d->n_ep++];
	e->family = a->family;
	memcpy(e->addr, a->addr, 16);
	e->port = port;
	e->side = (uint8_t)side;
	return 0;
}

static int add_ssrc(struct dialog *d, uint32_t ssrc, int side)
{
	for (size_t i = 0; i < d->n_ss; i++)
		if (d->ss[i].ssrc == ssrc)
			return 0; /* first attribution wins */
	struct ssrc_side *e = sv_grow(d->ss, d->n_ss, &d->cap_ss, sizeof(*e), 8);
	if (e == NULL)
		return -ENOMEM;
	d->ss = e;
	d->ss[d->n_ss].ssrc = ssrc;
	d->ss[d->n_ss].side = (uint8_t)side;
	d->n_ss++;
	return 0;
}

static int str_eq(struct sv_str a, struct sv_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* The SDP's codec, when it names one rtcp.json can carry: a printable name
 * and a clock rate the reader accepts (1..SV_RTCPJSON_CLOCK_MAX). */
static int set_codec(char *dst, size_t cap, unsigned *rate, const struct sv_sdp *sdp)
{
	struct sv_str name;
	uint32_t cr;
	if (sv_sdp_codec(sdp, &name, &cr) != 0 || cr == 0 || cr > SV_RTCPJSON_CLOCK_MAX ||
	    name.len == 0 || name.len >= cap)
		return 0;
	for (size_t i = 0; i < name.len; i++)
		if ((unsigned char)name.p[i] < 0x20 || (unsigned char)name.p[i] >= 0x7f)
			return 0;
	memcpy(dst, name.p, name.len);
	dst[name.len] = '\0';
	*rate = cr;
	return 1;
}

static int analyse_dialog(const struct sv_evidence *ev, struct dialog *d)
{
	struct sv_sip_msg m;
	struct sv_str caller = {NULL, 0};
	int have_offer = 0, have_answer = 0, offer_side = -1;
	char answer_codec[32] = "";
	unsigned answer_rate = 0;
	const struct sv_ev_sip *r, *inv = NULL, *any_inv = NULL;

	memset(d, 0, sizeof(*d));
	/* The caller's tag: From-tag of the initial INVITE, else of the first
	 * message of the INVITE transaction. */
	STAILQ_FOREACH(r, &ev->sip, link)
	{
		if (sv_sip_parse(r->data, r->len, &m) != 0 || m.cseq_method != SV_SIP_INVITE)
			continue;
		if (m.is_request && m.method == SV_SIP_INVITE && m.to.tag.len == 0) {
			caller = m.from.tag;
			inv = r;
			break;
		}
		if (any_inv == NULL) {
			any_inv = r;
			caller = m.from.tag;
		}
	}
	if (inv == NULL)
		inv = any_inv;
	if (inv != NULL && sv_sip_parse(inv->data, inv->len, &m) == 0) {
		d->from = utf8_copy(m.from.uri.p, m.from.uri.len);
		d->to = utf8_copy(m.to.uri.p, m.to.uri.len);
	} else {
		d->from = utf8_copy("", 0);
		d->to = utf8_copy("", 0);
	}
	if (d->from == NULL || d->to == NULL)
		return -ENOMEM;
	strcpy(d->codec, "PCMU");
	d->clock_rate = 8000;
	STAILQ_FOREACH(r, &ev->sip, link)
	{
		struct sv_str body;
		struct sv_sdp sdp;
		if (sv_sip_parse(r->data, r->len, &m) != 0 || sv_sip_sdp_body(&m, &body) != 0 ||
		    sv_sdp_parse((const uint8_t *)body.p, body.len, &sdp) != 0)
			continue;
		int from_caller = str_eq(m.from.tag, caller);
		int side =
		    (m.is_request ? from_caller : !from_caller) ? SV_QUALITY_UAC : SV_QUALITY_UAS;
		for (unsigned i = 0; i < sdp.n_media; i++) {
			struct sv_sdp_endpoint ep;
			const struct sv_sdp_media *md = &sdp.media[i];
			if (sv_sdp_rtcp(&sdp, md, &ep) == 0 &&
			    add_ep(d, ep.addr, ep.port, side) != 0)
				return -ENOMEM;
			for (unsigned k = 0; k < md->n_ssrc; k++)
				if (add_ssrc(d, md->ssrc[k], side) != 0)
					return -ENOMEM;
		}
		if (!have_offer) {
			have_offer = set_codec(d->codec, sizeof(d->codec), &d->clock_rate, &sdp);
			if (have_offer)
				offer_side = side;
		} else if (!have_answer && side != offer_side) {
			have_answer =
			    set_codec(answer_codec, sizeof(answer_codec), &answer_rate, &sdp);
		}
	}
	if (have_answer) {
		memcpy(d->codec, answer_codec, sizeof(d->codec));
		d->clock_rate = answer_rate;
	}
	return 0;
}

/* Which side an address belongs to: 0 uac, 1 uas, -1 none or both. */
static int ep_side(const struct dialog *d, const struct sv_wire_addr *a, int with_port)
{
	int family = a->family == 4 ? AF_INET : a->family == 6 ? AF_INET6 : 0;
	int found = -1;
	for (size_t i = 0; i < d->n_ep; i++) {
		const struct endpoint *e = &d->ep[i];
		if (e->family != family ||
		    memcmp(e->addr, a->ip, family == AF_INET ? 4 : 16) != 0 ||
		    (with_port && e->port != a->port))
			continue;
		if (found >= 0 && found != e->side)
			return -1;
		found = e->side;
	}
	return found;
}

static int report_side(struct dialog *d, const struct sv_ev_rtcp *r)
{
	if (r->has_addr) {
		int x;
		if ((x = ep_side(d, &r->src, 1)) >= 0)
			return x;
		if ((x = ep_side(d, &r->dst, 1)) >= 0)
			return !x;
		if ((x = ep_side(d, &r->src, 0)) >= 0)
			return x;
		if ((x = ep_side(d, &r->dst, 0)) >= 0)
			return !x;
	}
	for (size_t i = 0; i < d->n_ss; i++)
		if (d->ss[i].ssrc == r->ssrc)
			return d->ss[i].side;
	return -1;
}

static void addr_text(const struct sv_wire_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	if (inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->ip, ip, sizeof(ip)) == NULL)
		strcpy(ip, "?");
	if (a->family == 6)
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, len, "%s:%u", ip, a->port);
}

static const char *pt_name(uint8_t pt)
{
	return pt == SV_RTCP_SR ? "sr" : pt == SV_RTCP_RR ? "rr" : "xr";
}

static int cmp_sip(const void *a, const void *b)
{
	const struct sv_ev_sip *x = *(const struct sv_ev_sip *const *)a;
	const struct sv_ev_sip *y = *(const struct sv_ev_sip *const *)b;
	if (x->ts_ns != y->ts_ns)
		return x->ts_ns < y->ts_ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int build_pcap(const struct sv_evidence *ev, struct sv_buf *out)
{
	struct sv_pcapw w;
	const struct sv_ev_sip **v = NULL, *r;
	size_t n = 0;
	int rc = 0;
	STAILQ_FOREACH(r, &ev->sip, link)
	n++;
	if (n > 0 && (v = malloc(n * sizeof(*v))) == NULL)
		return -ENOMEM;
	n = 0;
	STAILQ_FOREACH(r, &ev->sip, link)
	v[n++] = r;
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_sip);
	sv_pcapw_init(&w);
	for (size_t i = 0; i < n; i++) {
		struct sv_pcap_rec pr = {
		    .ts_ns = v[i]->ts_ns,
		    .family = v[i]->family == 6 ? AF_INET6 : AF_INET,
		    .sport = v[i]->sport,
		    .dport = v[i]->dport,
		    .transport = (enum sv_pcap_transport)v[i]->transport,
		    .payload = v[i]->data,
		    .len = v[i]->len,
		};
		memcpy(pr.src, v[i]->src, 16);
		memcpy(pr.dst, v[i]->dst, 16);
		rc = sv_pcapw_add(&w, &pr);
		if (rc == -ENOMEM)
			break;
		rc = 0; /* a message too big for one datagram is left out */
	}
	if (rc == 0)
		rc = sv_pcapw_finish_gz(&w, out);
	sv_pcapw_release(&w);
	free(v);
	return rc;
}

/* Samples from an agent's DATA_QUALITY document (RTP statistics); SIZE_MAX
 * when out of memory. */
static size_t rtp_samples(const struct sv_evidence *ev, struct sv_quality_sample out[2])
{
	static const char *const dirs[2] = {"uac", "uas"};
	size_t n = 0;
	if (ev->quality == NULL)
		return 0;
	json_error_t jerr;
	json_t *root = json_loadb((const char *)ev->quality, ev->quality_len, 0, &jerr);
	if (root == NULL && json_error_code(&jerr) == json_error_out_of_memory)
		return SIZE_MAX;
	json_t *ds = json_object_get(root, "directions");
	for (int d = 0; d < 2 && json_is_object(ds); d++) {
		json_t *o = json_object_get(ds, dirs[d]);
		json_t *j = json_object_get(json_object_get(o, "jitter"), "avg");
		json_t *l = json_object_get(json_object_get(o, "loss"), "avg");
		json_t *t = json_object_get(json_object_get(o, "rtt"), "avg");
		if (!json_is_number(j) || !json_is_number(l))
			continue;
		double jv = json_number_value(j), lv = json_number_value(l);
		double tv = json_is_number(t) ? json_number_value(t) : 0;
		if (!isfinite(jv) || jv < 0 || jv > 1e7 || !isfinite(lv) || lv < 0 || lv > 100 ||
		    !isfinite(tv) || tv < 0 || tv > 1e7)
			continue;
		out[n].ts_ns = ev->quality_ts;
		out[n].dir = (enum sv_quality_dir)d;
		out[n].jitter_ms = jv;
		out[n].loss_pct = lv;
		out[n].rtt_ms = tv;
		n++;
	}
	json_decref(root);
	return n;
}

int sv_evidence_build(const struct sv_evidence *ev, const struct sv_evidence_call *call,
                      struct sv_call_objects *o, size_t *unknown_dir)
{
	struct dialog d;
	struct sv_quality_call qc;
	struct sv_rtcpjson_report *reps = NULL;
	struct sv_rtcpjson_block *blks = NULL;
	const struct sv_ev_rtcp **order = NULL;
	char(*addrs)[2][64] = NULL;
	struct sv_buf json;
	struct sv_rtcpjson doc;
	json_t *q = NULL;
	char *cid = NULL;
	int rc;

	*unknown_dir = 0;
	sv_buf_init(&json);
	memset(&doc, 0, sizeof(doc));
	if ((rc = analyse_dialog(ev, &d)) != 0)
		goto out;
	rc = -ENOMEM;
	if ((cid = utf8_copy(call->call_id, call->call_id_len)) == NULL)
		goto out;
	sv_quality_call_init(&qc);
	qc.call_id = cid;
	qc.customer = call->customer;
	qc.codec = d.codec;
	qc.clock_rate = d.clock_rate;
	qc.answered = call->answered != 0;
	qc.started_ns = call->started_ns;
	qc.answered_ns = qc.answered ? call->answered_ns : 0;
	qc.ended_ns = call->ended_ns;
	qc.final_status = call->final_status;
	qc.end_reason = call->end_reason;
	qc.from = d.from;
	qc.to = d.to;

	/* RTCP reports, oldest first. */
	size_t nb = 0, n = 0;
	const struct sv_ev_rtcp *rr;
	SLIST_FOREACH(rr, &ev->rtcp, link)
	n++;
	if (n > 0) {
		if ((order = malloc(n * sizeof(*order))) == NULL ||
		    (reps = calloc(n, sizeof(*reps))) == NULL ||
		    (addrs = malloc(n * sizeof(*addrs))) == NULL)
			goto out;
		size_t i = n;
		SLIST_FOREACH(rr, &ev->rtcp, link)
		{
			order[--i] = rr;
			nb += rr->n_blocks;
		}
		if (nb > 0 && (blks = calloc(nb, sizeof(*blks))) == NULL)
			goto out;
	}
	/* Directions: addressed reports teach the sender SSRCs, then the rest. */
	int *side = n > 0 ? malloc(n * sizeof(int)) : NULL;
	if (n > 0 && side == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		side[i] = order[i]->has_addr ? report_side(&d, order[i]) : -1;
		if (side[i] >= 0 && add_ssrc(&d, order[i]->ssrc, side[i]) != 0) {
			free(side);
			goto out;
		}
	}
	size_t bi = 0;
	for (size_t i = 0; i < n; i++) {
		const struct sv_ev_rtcp *r = order[i];
		if (side[i] < 0)
			side[i] = report_side(&d, r);
		if (side[i] < 0)
			(*unknown_dir)++;
		struct sv_rtcpjson_report *p = &reps[i];
		p->ts_ns = r->ts_ns;
		p->source = r->origin == SV_RTCP_FROM_HEP ? "hep" : "agent";
		p->direction = side[i] == SV_QUALITY_UAC   ? "uac"
		               : side[i] == SV_QUALITY_UAS ? "uas"
		                                           : "unknown";
		if (r->has_addr) {
			addr_text(&r->src, addrs[i][0], sizeof(addrs[i][0]));
			addr_text(&r->dst, addrs[i][1], sizeof(addrs[i][1]));
			p->src = addrs[i][0];
			p->dst = addrs[i][1];
		}
		p->ssrc = r->ssrc;
		p->packet_type = pt_name(r->pt);
		p->blocks = blks != NULL ? &blks[bi] : NULL;
		p->n_blocks = r->n_blocks;
		for (size_t k = 0; k < r->n_blocks; k++, bi++) {
			const struct sv_ev_block *b = &r->blocks[k];
			blks[bi] = (struct sv_rtcpjson_block){
			    .ssrc = b->ssrc,
			    .fraction_lost = b->fraction_lost,
			    .cumulative_lost = b->cumulative_lost,
			    .highest_seq = b->highest_seq,
			    .jitter = b->jitter,
			    .lsr = b->lsr,
			    .dlsr = b->dlsr,
			    .rtt_ms =
			        b->rtt_ms >= 0 ? round((double)b->rtt_ms * 1000.0) / 1000.0 : -1,
			};
		}
		if (r->raw_len > 0) {
			p->raw = sv_ev_rtcp_raw(r);
			p->raw_len = r->raw_len;
		}
	}
	free(side);
	if ((rc = sv_rtcpjson_dump(&qc, reps, n, 1, &json)) != 0 ||
	    (rc = sv_gz_compress(json.data, json.len, &o->rtcp_json_gz)) != 0)
		goto out;
	/* quality.json is what --analyze makes of that rtcp.json: the reader's
	 * view of the same reports, from rtcpjson, without parsing the text. */
	if ((rc = sv_rtcpjson_load_reports(&qc, reps, n, &doc)) != 0)
		goto out;
	if (doc.n_samples > 0) {
		rc = sv_quality_build(&doc.call, doc.samples, doc.n_samples, SV_QUALITY_SRC_RTCP,
		                      &q);
	} else {
		struct sv_quality_sample rs[2];
		size_t k = rtp_samples(ev, rs);
		rc = k == SIZE_MAX ? -ENOMEM
		                   : sv_quality_build(&doc.call, rs, k, SV_QUALITY_SRC_RTP, &q);
	}
	if (rc != 0 || (rc = sv_quality_dump(q, &o->quality_json)) != 0)
		goto out;
	if ((rc = build_pcap(ev, &o->sip_pcap_gz)) != 0)
		goto out;
	if (ev->n_log > 0) {
		if ((rc = sv_evidence_log_gz(ev, ev->n_log, &o->log_gz)) != 0)
			goto out;
		o->log_chunk = call->log_chunk;
	}
out:
	json_decref(q);
	sv_rtcpjson_release(&doc);
	sv_buf_release(&json);
	free(order);
	free(reps);
	free(blks);
	free(addrs);
	free(cid);
	dialog_release(&d);
	return rc;
}
