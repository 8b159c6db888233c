/*
 * capture.c - packets in, frames out.
 *
 *   libpcap (live, non-blocking fd on the event loop) or a capture file
 *     -> sv_packet_decode (link types, VLANs, IPv4/IPv6)
 *     -> dedup (the same packet seen twice on one interface)
 *     -> ipfrag (IP fragments) -> sv_packet_decode_l4
 *     -> UDP on a SIP port: the tracker decides; TCP on a SIP port: tcpreasm
 *        frames the messages, then the tracker decides; UDP in the RTP range:
 *        the tracker matches RTCP to calls (and analyses RTP of calls without
 *        RTCP)
 *     -> DATA_SIP / DATA_RTCP_ADDR / DATA_QUALITY / DATA_LOG frames to emit().
 */
#include "agent.h"
#include "base/buf.h"
#include "proto/dedup.h"
#include "base/errors.h"
#include "proto/ipfrag.h"
#include "base/log.h"
#include "proto/packet.h"
#include "proto/tcpreasm.h"
#include "proto/wire.h"

#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SNAPLEN          262144
#define AGENT_PCAP_BUFSZ (32 << 20)

struct ag_capture {
	const struct sv_agent_conf *conf;
	struct ag_counters *ctr; /* borrowed from the agent */
	ag_capture_emit_fn emit;
	void *arg;
	struct sv_tracker *trk;
	struct sv_dedup *dedup;
	struct sv_ipfrag *frag;
	struct sv_tcpreasm *tcp;
	struct sv_buf fbuf; /* the frame being built */
	/* live */
	pcap_t *pcap;
	struct event *ev;
	int linktype;
	char iface[64];
	/* file */
	struct sv_packet_reader *reader;
	uint64_t last_ts;
	bool eof;
};

static bool is_sip_port(const struct ag_capture *c, uint16_t port)
{
	for (size_t i = 0; i < c->conf->sip_ports.n; i++)
		if (c->conf->sip_ports.port[i] == port)
			return true;
	return false;
}

static bool is_rtp_port(const struct ag_capture *c, uint16_t port)
{
	return port >= c->conf->rtp_port_min && port <= c->conf->rtp_port_max;
}

static void set_addr(struct sv_wire_addr *a, int family, const uint8_t *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = family == AF_INET6 ? 6 : 4;
	memcpy(a->ip, ip, family == AF_INET6 ? 16 : 4);
	a->port = port;
}

static void emit_buf(struct ag_capture *c, int rc, uint64_t *count)
{
	if (rc != 0) {
		c->ctr->encode_errors++;
		log_warnx("cannot encode a frame: %s", sv_strerror(rc));
		return;
	}
	(*count)++;
	c->emit(c->arg, c->fbuf.data, c->fbuf.len);
}

/* One SIP message (UDP payload or framed from TCP). */
static void handle_sip(struct ag_capture *c, uint64_t ts, int family, const uint8_t *src,
                       const uint8_t *dst, uint16_t sport, uint16_t dport, const uint8_t *msg,
                       size_t len)
{
	struct sv_tracker_flow fl;
	struct sv_tracker_sip_res res;
	memset(&fl, 0, sizeof(fl));
	fl.family = family;
	memcpy(fl.src, src, 16);
	memcpy(fl.dst, dst, 16);
	fl.sport = sport;
	fl.dport = dport;
	if (sv_tracker_sip(c->trk, ts, &fl, msg, len, &res) != 0 || res.drop != SV_TRACKER_KEEP)
		return;
	struct sv_wire_sip m;
	memset(&m, 0, sizeof(m));
	m.ts_ns = ts;
	m.call_id.p = (const uint8_t *)res.call_id.p;
	m.call_id.len = res.call_id.len;
	/* as seen by the proxy: from its SIP port is outbound */
	m.direction = is_sip_port(c, sport) && !is_sip_port(c, dport) ? SV_WIRE_DIR_OUTBOUND
	                                                              : SV_WIRE_DIR_INBOUND;
	set_addr(&m.src, family, src, sport);
	set_addr(&m.dst, family, dst, dport);
	m.sip.p = msg;
	m.sip.len = len;
	sv_buf_reset(&c->fbuf);
	emit_buf(c, sv_wire_encode_sip(&c->fbuf, 0, &m), &c->ctr->sip_frames);
}

static void on_tcp_msg(void *arg, const struct sv_tcpreasm_msg *m)
{
	struct ag_capture *c = arg;
	handle_sip(c, m->ts_ns, m->family, m->src, m->dst, m->sport, m->dport, m->data, m->len);
}

static void handle_media(struct ag_capture *c, uint64_t ts, const struct sv_packet *p)
{
	struct sv_tracker_flow fl;
	struct sv_tracker_media_res res;
	sv_tracker_flow_from_packet(p, &fl);
	if (sv_tracker_media(c->trk, ts, &fl, p->payload, p->payload_len, &res) != 0 ||
	    res.kind != SV_TRACKER_MEDIA_RTCP)
		return;
	struct sv_wire_rtcp m;
	memset(&m, 0, sizeof(m));
	m.ts_ns = ts;
	m.call_id.p = (const uint8_t *)res.call_id.p;
	m.call_id.len = res.call_id.len;
	m.has_addr = 1;
	set_addr(&m.src, p->family, p->src, p->sport);
	set_addr(&m.dst, p->family, p->dst, p->dport);
	m.ssrc = res.ssrc;
	m.rtcp.p = p->payload;
	m.rtcp.len = p->payload_len;
	sv_buf_reset(&c->fbuf);
	emit_buf(c, sv_wire_encode_rtcp(&c->fbuf, 0, &m), &c->ctr->rtcp_frames);
}

static void handle_l4(struct ag_capture *c, uint64_t ts, const struct sv_packet *p)
{
	if (p->proto == SV_PACKET_PROTO_UDP) {
		if (is_sip_port(c, p->sport) || is_sip_port(c, p->dport)) {
			if (p->payload_len > 0)
				handle_sip(c, ts, p->family, p->src, p->dst, p->sport, p->dport,
				           p->payload, p->payload_len);
		} else if (is_rtp_port(c, p->sport) || is_rtp_port(c, p->dport)) {
			handle_media(c, ts, p);
		}
	} else if (p->proto == SV_PACKET_PROTO_TCP) {
		if (is_sip_port(c, p->sport) || is_sip_port(c, p->dport))
			sv_tcpreasm_add(c->tcp, p, ts);
	} else {
		c->ctr->not_udp_tcp++;
	}
}

static void handle_packet(struct ag_capture *c, uint64_t ts, const struct sv_packet *p)
{
	c->ctr->packets++;
	if (p->decode_rc != 0) {
		c->ctr->decode_errors++;
		return;
	}
	if (sv_dedup_check(c->dedup, p, ts) == 1) {
		c->ctr->duplicates++;
		return;
	}
	if (p->flags & SV_PACKET_F_FRAG) {
		const uint8_t *data;
		size_t len;
		if (sv_ipfrag_add(c->frag, p, ts, &data, &len) != 1)
			return;
		struct sv_packet whole = *p;
		if (sv_packet_decode_l4(&whole, p->proto, data, len) != 0) {
			c->ctr->decode_errors++;
			return;
		}
		whole.flags &= ~(unsigned)SV_PACKET_F_FRAG;
		handle_l4(c, ts, &whole);
		return;
	}
	handle_l4(c, ts, p);
}

static void poll_tracker(struct ag_capture *c, uint64_t now)
{
	struct sv_tracker_event ev;
	while (sv_tracker_poll(c->trk, now, &ev) == 1) {
		if (ev.kind != SV_TRACKER_EV_QUALITY)
			continue;
		struct sv_wire_quality m;
		m.ts_ns = ev.end_ns ? ev.end_ns : now;
		m.call_id.p = (const uint8_t *)ev.call_id.p;
		m.call_id.len = ev.call_id.len;
		m.json.p = ev.json;
		m.json.len = ev.json_len;
		sv_buf_reset(&c->fbuf);
		emit_buf(c, sv_wire_encode_quality(&c->fbuf, 0, &m), &c->ctr->quality_frames);
	}
}

int ag_capture_new(const struct sv_agent_conf *conf, struct ag_counters *ctr,
                   ag_capture_emit_fn emit, void *arg, struct ag_capture **out)
{
	struct ag_capture *c = calloc(1, sizeof(*c));
	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->conf = conf;
	c->ctr = ctr;
	c->emit = emit;
	c->arg = arg;
	sv_buf_init(&c->fbuf);
	if (sv_tracker_new(NULL, &c->trk) != 0 || !(c->dedup = sv_dedup_new(NULL)) ||
	    !(c->frag = sv_ipfrag_new(NULL)) || !(c->tcp = sv_tcpreasm_new(NULL, on_tcp_msg, c))) {
		ag_capture_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void ag_capture_stop(struct ag_capture *c)
{
	if (c->ev) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->pcap) {
		pcap_close(c->pcap);
		c->pcap = NULL;
	}
}

void ag_capture_free(struct ag_capture *c)
{
	if (!c)
		return;
	ag_capture_stop(c);
	sv_packet_reader_close(c->reader);
	sv_tracker_free(c->trk);
	sv_dedup_free(c->dedup);
	sv_ipfrag_free(c->frag);
	sv_tcpreasm_free(c->tcp);
	sv_buf_release(&c->fbuf);
	free(c);
}

void ag_capture_filter(const struct sv_agent_conf *conf, char *out, size_t len)
{
	struct sv_buf b;
	sv_buf_init(&b);
	sv_buf_append_str(&b, "(");
	for (size_t i = 0; i < conf->sip_ports.n; i++)
		sv_buf_printf(&b, "%sport %u", i ? " or " : "", conf->sip_ports.port[i]);
	if (conf->sip_ports.n == 0)
		sv_buf_append_str(&b, "port 5060");
	sv_buf_printf(&b, ") or (udp portrange %lld-%lld)", conf->rtp_port_min, conf->rtp_port_max);
	/* IPv4 fragments (offset or MF set) and IPv6 with a fragment header */
	sv_buf_append_str(&b, " or (ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)");
	snprintf(out, len, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
	sv_buf_release(&b);
}

static void on_pcap_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct ag_capture *c = (struct ag_capture *)user;
	struct sv_packet p;
	uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec;
	p.decode_rc = sv_packet_decode(c->linktype, bytes, h->caplen, &p);
	p.wirelen = h->len;
	handle_packet(c, ts, &p);
}

static void on_pcap_readable(evutil_socket_t fd, short what, void *arg)
{
	struct ag_capture *c = arg;
	(void)fd;
	(void)what;
	for (int i = 0; i < 64 && c->pcap; i++) {
		int n = pcap_dispatch(c->pcap, 1024, on_pcap_packet, (u_char *)c);
		if (n <= 0) {
			if (n == PCAP_ERROR)
				log_errx("pcap on %s: %s", c->iface, pcap_geterr(c->pcap));
			break;
		}
	}
}

int ag_capture_open_live(struct ag_capture *c, struct event_base *base, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "", filter[2048];
	struct bpf_program prog;
	if (c->conf->interface) {
		snprintf(c->iface, sizeof(c->iface), "%s", c->conf->interface);
	} else {
		int rc = sv_conf_default_iface(NULL, NULL, c->iface, sizeof(c->iface));
		if (rc != 0) {
			snprintf(err, errlen,
			         "[capture] interface: not set and no default route found (%s)",
			         sv_strerror(rc));
			return rc;
		}
	}
	c->pcap = pcap_create(c->iface, ebuf);
	if (!c->pcap) {
		snprintf(err, errlen, "pcap on %s: %s", c->iface, ebuf);
		return -ENODEV;
	}
	pcap_set_snaplen(c->pcap, SNAPLEN);
	pcap_set_promisc(c->pcap, 0);
	pcap_set_timeout(c->pcap, 20);
	pcap_set_buffer_size(c->pcap, AGENT_PCAP_BUFSZ);
	pcap_set_tstamp_precision(c->pcap, PCAP_TSTAMP_PRECISION_NANO);
	int rc = pcap_activate(c->pcap);
	if (rc < 0) {
		snprintf(err, errlen, "pcap on %s: %s", c->iface, pcap_geterr(c->pcap));
		ag_capture_stop(c);
		return -EIO;
	}
	c->linktype = pcap_datalink(c->pcap);
	ag_capture_filter(c->conf, filter, sizeof(filter));
	if (pcap_compile(c->pcap, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
	    pcap_setfilter(c->pcap, &prog) != 0) {
		snprintf(err, errlen, "pcap filter \"%s\" on %s: %s", filter, c->iface,
		         pcap_geterr(c->pcap));
		ag_capture_stop(c);
		return -EINVAL;
	}
	pcap_freecode(&prog);
	if (pcap_setnonblock(c->pcap, 1, ebuf) != 0) {
		snprintf(err, errlen, "pcap on %s: %s", c->iface, ebuf);
		ag_capture_stop(c);
		return -EIO;
	}
	int fd = pcap_get_selectable_fd(c->pcap);
	if (fd < 0) {
		snprintf(err, errlen, "pcap on %s: no selectable descriptor", c->iface);
		ag_capture_stop(c);
		return -EIO;
	}
	c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_pcap_readable, c);
	if (!c->ev || event_add(c->ev, NULL) != 0) {
		snprintf(err, errlen, "pcap on %s: cannot watch its descriptor", c->iface);
		ag_capture_stop(c);
		return -ENOMEM;
	}
	log_info("capturing on %s (link type %d), filter: %s", c->iface, c->linktype, filter);
	return 0;
}

int ag_capture_open_file(struct ag_capture *c, const char *path, char *err, size_t errlen)
{
	return sv_packet_reader_open(path, &c->reader, err, errlen);
}

/*
 * --read with log_file set: once the capture is read, every line of the log
 * file is sliced against the calls the capture left live or in their grace
 * (capture time = the last packet's), as if it had been tailed then. Lines of
 * calls whose grace ended earlier in the capture are not matched (counted as
 * unmatched).
 */
static void slice_log_file(struct ag_capture *c)
{
	FILE *f = fopen(c->conf->log_file, "r");
	if (f == NULL) {
		log_warn("--read: cannot open log_file %s", c->conf->log_file);
		return;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n > 0)
			ag_capture_log_line(c, c->last_ts, line, (size_t)n);
	}
	free(line);
	fclose(f);
}

int ag_capture_read_some(struct ag_capture *c, unsigned max, char *err, size_t errlen)
{
	if (c->eof)
		return 0;
	for (unsigned i = 0; i < max; i++) {
		struct sv_packet p;
		uint64_t ts;
		int rc = sv_packet_reader_next(c->reader, &p, &ts);
		if (rc < 0) {
			snprintf(err, errlen, "%s", sv_packet_reader_error(c->reader));
			return rc;
		}
		if (rc == 0) {
			/* the end: slice the log file, give up TCP holes, end every
			 * call (quality) */
			if (c->conf->log_file != NULL && c->conf->log_file[0] != '\0')
				slice_log_file(c);
			uint64_t end = c->last_ts + 7200ull * 1000000000u;
			sv_tcpreasm_expire(c->tcp, end);
			poll_tracker(c, end);
			c->eof = true;
			return 0;
		}
		if (ts > c->last_ts)
			c->last_ts = ts;
		handle_packet(c, ts, &p);
	}
	poll_tracker(c, c->last_ts);
	return 1;
}

void ag_capture_tick(struct ag_capture *c, uint64_t now_ns)
{
	if (c->pcap) {
		/* TPACKET_V3 may hold a partly filled block: read it now */
		on_pcap_readable(-1, 0, c);
		struct pcap_stat st;
		if (pcap_stats(c->pcap, &st) == 0) {
			if (st.ps_drop > c->ctr->pcap_drops)
				log_warnx("capture on %s: %" PRIu64
				          " packets dropped by the kernel",
				          c->iface, (uint64_t)st.ps_drop - c->ctr->pcap_drops);
			c->ctr->pcap_drops = st.ps_drop;
			c->ctr->pcap_ifdrops = st.ps_ifdrop;
		}
	}
	if (c->reader)
		return;
	sv_tcpreasm_expire(c->tcp, now_ns);
	sv_ipfrag_expire(c->frag, now_ns);
	poll_tracker(c, now_ns);
}

void ag_capture_log_line(struct ag_capture *c, uint64_t now_ns, const char *line, size_t len)
{
	struct sv_str cid;
	c->ctr->log_lines++;
	if (sv_tracker_log(c->trk, now_ns, line, len, &cid) != 1) {
		c->ctr->log_unmatched++;
		return;
	}
	struct sv_wire_log m;
	m.ts_ns = now_ns;
	m.call_id.p = (const uint8_t *)cid.p;
	m.call_id.len = cid.len;
	m.line.p = (const uint8_t *)line;
	m.line.len = len;
	sv_buf_reset(&c->fbuf);
	emit_buf(c, sv_wire_encode_log(&c->fbuf, 0, &m), &c->ctr->log_frames);
}

void ag_capture_tracker_stats(const struct ag_capture *c, struct sv_tracker_stats *out)
{
	sv_tracker_stats(c->trk, out);
}
