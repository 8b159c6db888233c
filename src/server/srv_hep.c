/*
 * srv_hep.c - HEP v3 over UDP: RTCP reports from media servers and capture
 * agents (rtpengine, rtpproxy, captagent, heplify).
 *
 * Datagrams are read in batches (recvmmsg). Only protocol type 5 (RTCP, raw
 * or JSON) is used; other types are counted and ignored. A packet is
 * attributed to a customer by, in this order: its auth-key chunk equal to a
 * customer token (constant time), its sender address inside a customer's
 * hep_sources, or its correlation id (the Call-ID) naming a live call of
 * exactly one customer. Attributed packets are journaled, then fed to the
 * call engine; everything else is counted and logged at debug.
 */
#include "srv.h"

#include "base/errors.h"
#include "proto/hep.h"
#include "base/log.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEP_BATCH   32
#define HEP_BUF_LEN 65536
#define HEP_ROUNDS  8 /* batches per callback before yielding to other events */

static void hep_drop(struct srv *s, enum srv_hep_result res, enum srv_drop reason)
{
	if (s->replaying)
		return;
	s->hep[res]++;
	s->drops[reason]++;
}

/* Feeds a parsed type-5 packet to the engine for customer. */
static void hep_feed(struct srv *s, const char *customer, const struct sv_hep *h, uint64_t recv_ns,
                     uint64_t now)
{
	struct sv_rtcp_input in;
	enum sv_ingest res = SV_INGEST_MALFORMED;
	char cid[SRV_CALLID_STR];

	memset(&in, 0, sizeof(in));
	in.ts_ns = recv_ns;
	if ((h->chunks & SV_HEP_HAS(SV_HEP_TS_SEC)) && h->ts_sec != 0)
		in.ts_ns = (uint64_t)h->ts_sec * 1000000000u + (uint64_t)h->ts_usec * 1000u;
	in.call_id = (const uint8_t *)h->correlation_id;
	in.call_id_len = h->correlation_id_len;
	in.origin = SV_RTCP_FROM_HEP;
	if (h->addr_len == 4 || h->addr_len == 16) {
		in.has_addr = true;
		in.src.family = in.dst.family = h->addr_len == 4 ? 4 : 6;
		memcpy(in.src.ip, h->src_ip, h->addr_len);
		memcpy(in.dst.ip, h->dst_ip, h->addr_len);
		in.src.port = h->src_port;
		in.dst.port = h->dst_port;
	}
	if (h->payload_len > 0 && (h->payload[0] >> 6) == 2) {
		in.raw = h->payload;
		in.raw_len = h->payload_len;
	} else if (sv_hep_rtcp(h, s->rc) == 0) {
		in.rc = s->rc;
	} else {
		if (!s->replaying) {
			s->hep[SRV_HEP_MALFORMED]++;
			s->drops[SRV_DROP_MALFORMED_RTCP]++;
			log_debug("customer=%s call_id=%s HEP RTCP payload not understood",
			          customer,
			          srv_callid_str(in.call_id, in.call_id_len, cid, sizeof(cid)));
		}
		return;
	}
	if (sv_sessions_rtcp(s->sessions, customer, now, &in, &res) != 0) {
		log_errx("customer=%s call_id=%s HEP RTCP report lost: out of memory", customer,
		         srv_callid_str(in.call_id, in.call_id_len, cid, sizeof(cid)));
		return;
	}
	if (s->replaying)
		return;
	switch (res) {
	case SV_INGEST_STORED:
	case SV_INGEST_CREATED:
		s->hep[SRV_HEP_STORED]++;
		break;
	case SV_INGEST_DUPLICATE:
		s->hep[SRV_HEP_DUPLICATE]++;
		break;
	case SV_INGEST_LATE:
		s->hep[SRV_HEP_LATE]++;
		break;
	case SV_INGEST_MALFORMED:
		s->hep[SRV_HEP_MALFORMED]++;
		break;
	default:
		s->hep[SRV_HEP_NO_CALL]++;
		break;
	}
	srv_count_outcome(s, customer, SV_WIRE_DATA_RTCP, res, in.call_id, in.call_id_len);
}

int srv_hep_replay(struct srv *s, const char *customer, uint64_t recv_ns, const uint8_t *pkt,
                   size_t len)
{
	struct sv_hep h;

	if (sv_hep_parse(pkt, len, &h, &s->hep_scratch) != 0 || h.proto_type != SV_HEP_PROTO_RTCP)
		return 0;
	hep_feed(s, customer, &h, recv_ns, srv_now(s));
	return 0;
}

/* Family and address bytes of a datagram's sender (IPv4-mapped IPv6
 * addresses of a dual-stack socket are reported as IPv4). */
static int sender_addr(const struct sockaddr_storage *ss, const uint8_t **addr)
{
	if (ss->ss_family == AF_INET) {
		*addr = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
		return AF_INET;
	}
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			*addr = a->s6_addr + 12;
			return AF_INET;
		}
		*addr = a->s6_addr;
		return AF_INET6;
	}
	return -1;
}

static void hep_packet(struct srv *s, const uint8_t *pkt, size_t len,
                       const struct sockaddr_storage *from, uint64_t now)
{
	struct sv_hep h;
	const struct sv_customer *cu = NULL;
	const char *customer = NULL;
	const uint8_t *addr = NULL;
	char peer[64], cid[SRV_CALLID_STR];
	uint8_t pre[2 + 72 + 8];
	struct iovec iov[2];
	size_t clen;
	int rc, fam;

	rc = sv_hep_parse(pkt, len, &h, &s->hep_scratch);
	if (rc != 0) {
		hep_drop(s, SRV_HEP_MALFORMED, SRV_DROP_HEP_MALFORMED);
		if (SV_LOG_DEBUG >= sv_log_threshold) {
			srv_addr_str((const struct sockaddr *)from, peer, sizeof(peer));
			log_debug("HEP packet from %s dropped: %s", peer, sv_strerror(rc));
		}
		return;
	}
	if (h.proto_type != SV_HEP_PROTO_RTCP) {
		hep_drop(s, SRV_HEP_UNSUPPORTED, SRV_DROP_HEP_UNSUPPORTED);
		if (SV_LOG_DEBUG >= sv_log_threshold) {
			srv_addr_str((const struct sockaddr *)from, peer, sizeof(peer));
			log_debug(
			    "HEP packet from %s of type %u ignored (only RTCP, type 5, is used)",
			    peer, h.proto_type);
		}
		return;
	}
	if (h.correlation_id_len == 0) {
		hep_drop(s, SRV_HEP_UNATTRIBUTED, SRV_DROP_HEP_UNATTRIBUTED);
		if (SV_LOG_DEBUG >= sv_log_threshold) {
			srv_addr_str((const struct sockaddr *)from, peer, sizeof(peer));
			log_debug("HEP RTCP from %s dropped: no correlation id (Call-ID)", peer);
		}
		return;
	}
	if (h.auth_key != NULL && h.auth_key_len > 0)
		cu = sv_customers_find_by_token(s->customers, h.auth_key, h.auth_key_len);
	if (cu == NULL && (fam = sender_addr(from, &addr)) > 0)
		cu = sv_customers_find_by_addr(s->customers, fam, addr);
	if (cu != NULL)
		customer = cu->id;
	else if (sv_sessions_customers_of(s->sessions, (const uint8_t *)h.correlation_id,
	                                  h.correlation_id_len, &customer) != 1)
		customer = NULL;
	if (customer == NULL) {
		hep_drop(s, SRV_HEP_UNATTRIBUTED, SRV_DROP_HEP_UNATTRIBUTED);
		if (SV_LOG_DEBUG >= sv_log_threshold) {
			srv_addr_str((const struct sockaddr *)from, peer, sizeof(peer));
			log_debug("call_id=%s HEP RTCP from %s not attributed to any customer",
			          srv_callid_str((const uint8_t *)h.correlation_id,
			                         h.correlation_id_len, cid, sizeof(cid)),
			          peer);
		}
		return;
	}
	/* Journal first: u16 + customer id, u64 receive time, the datagram. */
	clen = strlen(customer);
	if (clen > 72)
		clen = 72;
	sv_put_be16(pre, (uint16_t)clen);
	memcpy(pre + 2, customer, clen);
	sv_put_be32(pre + 2 + clen, (uint32_t)(now >> 32));
	sv_put_be32(pre + 6 + clen, (uint32_t)now);
	iov[0].iov_base = pre;
	iov[0].iov_len = 10 + clen;
	iov[1].iov_base = (void *)pkt;
	iov[1].iov_len = h.total_len <= len ? h.total_len : len;
	rc = sv_journal_appendv(s->journal, SRV_J_HEP_PACKET, iov, 2, &s->cur_segment);
	if (rc != 0) {
		log_errx("customer=%s HEP packet not journaled: %s", customer, sv_strerror(rc));
		return;
	}
	hep_feed(s, customer, &h, now, now);
}

static void hep_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	struct mmsghdr msgs[HEP_BATCH];
	struct iovec iov[HEP_BATCH];
	struct sockaddr_storage from[HEP_BATCH];
	uint64_t now = srv_now(s);
	bool any = false;

	for (int round = 0; round < HEP_ROUNDS; round++) {
		int n;
		memset(msgs, 0, sizeof(msgs));
		for (int i = 0; i < HEP_BATCH; i++) {
			iov[i].iov_base = s->hep_bufs + (size_t)i * HEP_BUF_LEN;
			iov[i].iov_len = HEP_BUF_LEN;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(fd, msgs, HEP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("HEP socket: receive failed");
			break;
		}
		for (int i = 0; i < n; i++) {
			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
				hep_drop(s, SRV_HEP_MALFORMED, SRV_DROP_HEP_MALFORMED);
				continue;
			}
			hep_packet(s, iov[i].iov_base, msgs[i].msg_len, &from[i], now);
			any = true;
		}
		if (n < HEP_BATCH)
			break;
	}
	if (any) {
		srv_want_sync(s);
		srv_kick_timer(s, now);
	}
}

int srv_hep_listen(struct srv *s, char *err, size_t errlen)
{
	int fds[2], n;

	if (s->hep_bufs == NULL)
		s->hep_bufs = malloc((size_t)HEP_BATCH * HEP_BUF_LEN);
	if (s->hep_bufs == NULL || s->rc == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = srv_open_sockets(&s->conf->listen_hep, SOCK_DGRAM, fds, err, errlen);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		int sz = 8 << 20;
		(void)setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		s->hep_fd[s->nhep] = fds[i];
		s->hep_ev[s->nhep] =
		    event_new(s->base, fds[i], EV_READ | EV_PERSIST, hep_read_cb, s);
		if (s->hep_ev[s->nhep] == NULL || event_add(s->hep_ev[s->nhep], NULL) != 0) {
			snprintf(err, errlen, "cannot watch the HEP socket");
			s->nhep++;
			for (int j = i + 1; j < n; j++)
				close(fds[j]);
			return -ENOMEM;
		}
		s->nhep++;
	}
	return 0;
}

void srv_hep_close(struct srv *s)
{
	for (int i = 0; i < s->nhep; i++) {
		if (s->hep_ev[i] != NULL)
			event_free(s->hep_ev[i]);
		close(s->hep_fd[i]);
	}
	s->nhep = 0;
	free(s->hep_bufs);
	s->hep_bufs = NULL;
	free(s->rc);
	s->rc = NULL;
}
