/*
 * rtpstats.c - RFC 3550 loss and jitter per SSRC.
 */
#include "proto/rtpstats.h"

#include "base/errors.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_MOD      65536u
#define MAX_DROPOUT  3000u
#define MAX_MISORDER 100u
#define WIN_WORDS    (SV_RTPSTATS_WINDOW / 64)

struct stream {
	uint32_t ssrc;
	uint8_t dir;
	uint32_t clock;
	uint16_t max_seq;
	uint32_t cycles;   /* count of wraps << 16 */
	uint32_t base_ext; /* first extended sequence number */
	uint32_t bad_seq;  /* RFC 3550 A.1: a jump is accepted when repeated */
	uint64_t received; /* distinct packets since base_ext */
	uint64_t duplicates, reordered;
	/* Previous epochs (after a sequence restart) add up here. */
	uint64_t prev_expected, prev_received;
	uint64_t win[WIN_WORDS]; /* bit i: max_ext - i was received */
	/* Jitter (RTP units) per A.8, from consecutive arrivals. */
	bool have_prev;
	uint64_t prev_arrival_ns;
	uint32_t prev_ts;
	double jitter, jitter_sum, jitter_max;
	uint64_t jitter_n;
};

struct sv_rtpstats {
	struct stream st[SV_RTPSTATS_MAX_STREAMS];
	unsigned n;
	uint64_t streams_dropped;
	uint64_t packets;
};

struct sv_rtpstats *sv_rtpstats_new(void)
{
	return calloc(1, sizeof(struct sv_rtpstats));
}

void sv_rtpstats_free(struct sv_rtpstats *s)
{
	free(s);
}

int sv_rtp_parse(const uint8_t *data, size_t len, struct sv_rtp_hdr *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 12)
		return SV_E_TRUNC;
	if ((data[0] >> 6) != 2)
		return SV_E_PARSE;
	out->marker = data[1] >> 7;
	out->pt = data[1] & 0x7f;
	if (out->pt >= 72 && out->pt <= 76)
		return SV_E_PARSE;
	out->seq = sv_be16(data + 2);
	out->ts = sv_be32(data + 4);
	out->ssrc = sv_be32(data + 8);
	size_t hl = 12 + 4 * (size_t)(data[0] & 0x0f);
	if (hl > len)
		return SV_E_TRUNC;
	if (data[0] & 0x10) {
		if (hl + 4 > len)
			return SV_E_TRUNC;
		size_t ext = 4 + 4 * (size_t)sv_be16(data + hl + 2);
		if (hl + ext > len)
			return SV_E_TRUNC;
		hl += ext;
	}
	size_t pad = 0;
	if (data[0] & 0x20) {
		pad = data[len - 1];
		if (pad == 0 || hl + pad > len)
			return SV_E_PARSE;
	}
	out->header_len = hl;
	out->payload_len = len - hl - pad;
	return 0;
}

static uint32_t max_ext(const struct stream *st)
{
	return st->cycles + st->max_seq;
}

/* Marks ext seq e received; returns 1 when it already was. */
static int win_mark(struct stream *st, uint32_t behind)
{
	uint64_t bit = 1ull << (behind % 64);
	uint64_t *w = &st->win[behind / 64];
	if (*w & bit)
		return 1;
	*w |= bit;
	return 0;
}

/* Moves the window forward by d (bit i becomes bit i + d). */
static void win_advance(struct stream *st, uint32_t d)
{
	if (d >= SV_RTPSTATS_WINDOW) {
		memset(st->win, 0, sizeof(st->win));
		return;
	}
	unsigned words = d / 64, bits = d % 64;
	for (int i = WIN_WORDS - 1; i >= 0; i--) {
		uint64_t v = 0;
		int src = i - (int)words;
		if (src >= 0) {
			v = st->win[src] << bits;
			if (bits != 0 && src - 1 >= 0)
				v |= st->win[src - 1] >> (64 - bits);
		}
		st->win[i] = v;
	}
}

static void seq_init(struct stream *st, uint16_t seq)
{
	st->max_seq = seq;
	/* Start one cycle up so a late packet from before the first one
	 * still has a non-negative extended number. */
	st->cycles = SEQ_MOD;
	st->base_ext = SEQ_MOD + seq;
	st->bad_seq = SEQ_MOD + 1;
	st->received = 0;
	memset(st->win, 0, sizeof(st->win));
}

static uint64_t expected_of(const struct stream *st)
{
	return (uint64_t)max_ext(st) - st->base_ext + 1;
}

/* RFC 3550 A.1 update_seq without probation, plus duplicate detection.
 * Returns 1 when the packet is new (counted), 0 when a duplicate or
 * discarded as an unconfirmed jump. */
static int seq_update(struct stream *st, uint16_t seq)
{
	uint16_t udelta = (uint16_t)(seq - st->max_seq);
	if (udelta == 0) {
		st->duplicates++;
		return 0;
	}
	if (udelta < MAX_DROPOUT) {
		/* In order, with a permissible gap. */
		if (seq < st->max_seq)
			st->cycles += SEQ_MOD;
		st->max_seq = seq;
		win_advance(st, udelta);
		win_mark(st, 0);
		st->received++;
		return 1;
	}
	if (udelta <= SEQ_MOD - MAX_MISORDER) {
		/* A very large jump: accept it when the next packet follows it
		 * (the source restarted), as A.1 does. */
		if ((uint32_t)seq == st->bad_seq) {
			st->prev_expected += expected_of(st);
			st->prev_received += st->received;
			seq_init(st, seq);
			win_mark(st, 0);
			st->received = 1;
			return 1;
		}
		st->bad_seq = (uint32_t)((seq + 1) & (SEQ_MOD - 1));
		return 0;
	}
	/* Behind max_seq by fewer than MAX_MISORDER: late or duplicate. */
	uint32_t behind = (uint16_t)(st->max_seq - seq);
	if (behind > max_ext(st) - st->base_ext) {
		/* Older than the first packet: extend the start backwards. */
		st->base_ext = max_ext(st) - behind;
	}
	if (behind < SV_RTPSTATS_WINDOW && win_mark(st, behind)) {
		st->duplicates++;
		return 0;
	}
	st->reordered++;
	st->received++;
	return 1;
}

static struct stream *find_stream(struct sv_rtpstats *s, uint32_t ssrc)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->st[i].ssrc == ssrc)
			return &s->st[i];
	return NULL;
}

int sv_rtpstats_packet(struct sv_rtpstats *s, enum sv_rtpstats_dir dir, uint32_t clock_rate,
                       uint64_t arrival_ns, const uint8_t *data, size_t len)
{
	struct sv_rtp_hdr h;
	int rc;
	if (dir != SV_RTPSTATS_UAC && dir != SV_RTPSTATS_UAS)
		return -EINVAL;
	if ((rc = sv_rtp_parse(data, len, &h)) != 0)
		return rc;
	struct stream *st = find_stream(s, h.ssrc);
	if (st == NULL) {
		if (s->n == SV_RTPSTATS_MAX_STREAMS) {
			s->streams_dropped++;
			return SV_E_TOOBIG;
		}
		st = &s->st[s->n++];
		memset(st, 0, sizeof(*st));
		st->ssrc = h.ssrc;
		st->dir = (uint8_t)dir;
		st->clock = clock_rate != 0 ? clock_rate : 8000;
		seq_init(st, h.seq);
		win_mark(st, 0);
		st->received = 1;
	} else if (!seq_update(st, h.seq)) {
		return 0;
	}
	s->packets++;
	/* A.8: D(i-1,i) = (Rj - Ri) - (Sj - Si) in RTP units, over arrivals. */
	if (st->have_prev && arrival_ns >= st->prev_arrival_ns) {
		double arr = (double)(arrival_ns - st->prev_arrival_ns) * st->clock / 1e9;
		double d = arr - (double)(int32_t)(h.ts - st->prev_ts);
		st->jitter += (fabs(d) - st->jitter) / 16.0;
		st->jitter_sum += st->jitter;
		st->jitter_n++;
		if (st->jitter > st->jitter_max)
			st->jitter_max = st->jitter;
	}
	st->have_prev = true;
	st->prev_arrival_ns = arrival_ns;
	st->prev_ts = h.ts;
	return 0;
}

uint64_t sv_rtpstats_packets(const struct sv_rtpstats *s)
{
	return s->packets;
}

void sv_rtpstats_summary(const struct sv_rtpstats *s, enum sv_rtpstats_dir dir,
                         struct sv_rtpstats_summary *out)
{
	memset(out, 0, sizeof(*out));
	double jsum = 0;
	uint64_t jn = 0;
	uint64_t last_packets = 0;
	for (unsigned i = 0; i < s->n; i++) {
		const struct stream *st = &s->st[i];
		if (st->dir != dir)
			continue;
		uint64_t exp = st->prev_expected + expected_of(st);
		uint64_t rec = st->prev_received + st->received;
		out->streams++;
		out->packets += rec;
		out->expected += exp;
		out->lost += exp > rec ? exp - rec : 0;
		out->duplicates += st->duplicates;
		out->reordered += st->reordered;
		double ms = 1000.0 / st->clock;
		jsum += st->jitter_sum * ms;
		jn += st->jitter_n;
		if (st->jitter_max * ms > out->jitter_max_ms)
			out->jitter_max_ms = st->jitter_max * ms;
		/* "last" of the busiest stream. */
		if (rec >= last_packets) {
			last_packets = rec;
			out->jitter_last_ms = st->jitter * ms;
		}
	}
	if (jn > 0)
		out->jitter_avg_ms = jsum / (double)jn;
	if (out->expected > 0)
		out->loss_pct = (double)out->lost * 100.0 / (double)out->expected;
	if (out->loss_pct > 100)
		out->loss_pct = 100;
}

static int json_str(struct sv_buf *b, const char *p, size_t len)
{
	int rc = sv_buf_put_u8(b, '"');
	for (size_t i = 0; rc == 0 && i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\')
			rc = sv_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			rc = sv_buf_printf(b, "\\u%04x", c < 0x7f ? c : 0xfffd);
		else
			rc = sv_buf_put_u8(b, c);
	}
	if (rc == 0)
		rc = sv_buf_put_u8(b, '"');
	return rc;
}

/* Rounds to microseconds / 1e-6 % so documents are stable and short. */
static double r6(double v)
{
	if (!isfinite(v))
		return 0;
	return round(v * 1e6) / 1e6;
}

int sv_rtpstats_json(const struct sv_rtpstats *s, const char *codec, size_t codec_len,
                     uint32_t clock_rate, struct sv_buf *out)
{
	static const char *const names[2] = {"uac", "uas"};
	size_t keep = out->len;
	int rc = sv_buf_append_str(out, "{\"source\":\"rtp\"");
	if (rc == 0 && codec != NULL) {
		rc = sv_buf_append_str(out, ",\"codec\":");
		if (rc == 0)
			rc = json_str(out, codec, codec_len);
	}
	if (rc == 0 && clock_rate != 0)
		rc = sv_buf_printf(out, ",\"clock_rate\":%u", clock_rate);
	if (rc == 0)
		rc = sv_buf_append_str(out, ",\"directions\":{");
	int first = 1;
	for (int d = 0; rc == 0 && d < 2; d++) {
		struct sv_rtpstats_summary m;
		sv_rtpstats_summary(s, (enum sv_rtpstats_dir)d, &m);
		if (m.packets == 0)
			continue;
		rc = sv_buf_printf(out,
		                   "%s\"%s\":{\"streams\":%u,\"packets\":%llu,\"expected\":%llu,"
		                   "\"lost\":%llu,\"duplicates\":%llu,\"reordered\":%llu,"
		                   "\"jitter\":{\"avg\":%.6f,\"max\":%.6f,\"last\":%.6f},"
		                   "\"loss\":{\"avg\":%.6f}}",
		                   first ? "" : ",", names[d], m.streams,
		                   (unsigned long long)m.packets, (unsigned long long)m.expected,
		                   (unsigned long long)m.lost, (unsigned long long)m.duplicates,
		                   (unsigned long long)m.reordered, r6(m.jitter_avg_ms),
		                   r6(m.jitter_max_ms), r6(m.jitter_last_ms), r6(m.loss_pct));
		first = 0;
	}
	if (rc == 0)
		rc = sv_buf_append_str(out, "}}");
	if (rc != 0)
		out->len = keep;
	return rc;
}
