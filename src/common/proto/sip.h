/*
 * sip.h - a zero-copy SIP message parser and stream framer (RFC 3261).
 *
 * sv_sip_parse() fills a caller-owned struct sv_sip_msg whose string fields
 * are slices (struct sv_str) pointing INTO the input bytes: they are borrowed
 * and stay valid exactly as long as the input does. Nothing is allocated and
 * nothing needs freeing. Slices are not NUL-terminated and may contain any
 * byte (including NUL); an absent field is {NULL, 0}.
 *
 * Accepted: CRLF or bare LF line endings, folded header lines (continuations
 * starting with SP/HT; a folded value's slice contains the line break, and
 * the parsers here treat it as white space), case-insensitive header names
 * and their compact forms (i f t v m c l k s e o r b u x y a j d), several
 * values in one header line (comma separated; all Via values are counted).
 * For single-valued headers the first occurrence wins.
 *
 * sv_sip_frame() splits a byte stream (SIP over TCP/TLS/WebSocket-reassembled)
 * into messages; sv_sip_resync() finds the next plausible start line after
 * garbage.
 */
#ifndef SV_SIP_H
#define SV_SIP_H

#include <stddef.h>
#include <stdint.h>

/* A borrowed byte slice. */
struct sv_str {
	const char *p;
	size_t len;
};

/* The slice [p, e). Empty slices are {NULL, 0}, so "absent" and "empty" read
 * the same. */
static inline struct sv_str sv_str_span(const char *p, const char *e)
{
	struct sv_str s = {NULL, 0};
	if (p != NULL && e > p) {
		s.p = p;
		s.len = (size_t)(e - p);
	}
	return s;
}

/* Limits for stream framing (sv_sip_frame): header block and body. */
#define SV_SIP_MAX_HEADERS (64 * 1024)
#define SV_SIP_MAX_BODY    (1024 * 1024)

enum sv_sip_method {
	SV_SIP_NONE = 0, /* no method (e.g. CSeq absent) */
	SV_SIP_INVITE,
	SV_SIP_ACK,
	SV_SIP_BYE,
	SV_SIP_CANCEL,
	SV_SIP_PRACK,
	SV_SIP_UPDATE,
	SV_SIP_INFO,
	SV_SIP_REFER,
	SV_SIP_NOTIFY,
	SV_SIP_SUBSCRIBE,
	SV_SIP_OPTIONS,
	SV_SIP_REGISTER,
	SV_SIP_MESSAGE,
	SV_SIP_PUBLISH,
	SV_SIP_OTHER, /* a syntactically valid method not listed above */
};

/* Flags in struct sv_sip_msg.flags. */
enum {
	/* Content-Length is larger than the bytes present: body holds what is
	 * there (a datagram cut short, or a stream message handed over early). */
	SV_SIP_F_BODY_TRUNC = 1 << 0,
	/* Bytes follow the Content-Length body; they are not part of the
	 * message (ignored, as RFC 3261 18.3 says for datagrams). */
	SV_SIP_F_TRAILING = 1 << 1,
	/* A header line without a colon (or with an empty name) was skipped. */
	SV_SIP_F_BAD_HEADER = 1 << 2,
	/* Content-Length was present but not a number; treated as absent. */
	SV_SIP_F_BAD_CLEN = 1 << 3,
};

/* From, To or Contact: "display" <uri>;params  or  uri;params. */
struct sv_sip_addr {
	struct sv_str display; /* without the quotes (escapes left as is) */
	struct sv_str uri;     /* without the angle brackets */
	struct sv_str tag;     /* value of the tag parameter */
	struct sv_str params;  /* header parameters after the address, without the first ';' */
};

/* The topmost Via value. */
struct sv_sip_via {
	struct sv_str transport; /* "UDP", "TCP", "TLS", "WS", "SCTP", ... */
	struct sv_str host;      /* sent-by host; IPv6 without the brackets */
	uint16_t port;           /* 0 when absent */
	struct sv_str branch;
	struct sv_str params; /* all parameters, without the first ';' */
};

struct sv_sip_msg {
	int is_request;
	/* Request line (requests). */
	enum sv_sip_method method;
	struct sv_str method_name;
	struct sv_str ruri;
	/* Status line (responses). */
	int status;
	struct sv_str reason;

	struct sv_str call_id;
	uint32_t cseq;
	enum sv_sip_method cseq_method;
	struct sv_str cseq_method_name;
	struct sv_sip_addr from;
	struct sv_sip_addr to;
	struct sv_sip_via via;      /* the first Via value */
	unsigned via_count;         /* Via values in all Via headers */
	struct sv_sip_addr contact; /* the first Contact value ("*" gives uri "*") */
	struct sv_str content_type;
	int64_t content_length; /* -1 when absent */
	int max_forwards;       /* -1 when absent or invalid */
	struct sv_str user_agent;
	struct sv_str server;

	struct sv_str headers; /* all header lines (after the start line, before the blank line) */
	struct sv_str body;
	size_t header_len; /* start line + headers + blank line */
	size_t msg_len;    /* header_len + body.len */
	unsigned flags;    /* SV_SIP_F_* */
};

/*
 * Parses one SIP message (a UDP datagram, an SCTP message, or one message
 * delimited by sv_sip_frame()). The body is Content-Length bytes after the
 * blank line; without Content-Length it is the rest of the input (datagram
 * rule). With Content-Length beyond the input, body is what is there and
 * SV_SIP_F_BODY_TRUNC is set.
 *
 * Returns 0; SV_E_TRUNC when the input ends before the blank line ending the
 * headers; SV_E_PARSE for a bad start line or a message missing Call-ID,
 * CSeq, From or To (it could not be attributed to a dialog) or with a bad
 * CSeq. *out is always overwritten; after an error its contents are
 * unspecified. Slices point into data.
 */
int sv_sip_parse(const uint8_t *data, size_t len, struct sv_sip_msg *out);

/*
 * Stream framing. Leading CR/LF bytes (RFC 5626 keep-alives) are counted in
 * *skip; the first message is then data[*skip, *skip + *msg_len). Its length
 * is the header block (ending at CRLFCRLF or LFLF) plus Content-Length (0 when
 * absent).
 *
 * Returns 0 with both set; SV_E_AGAIN when more bytes are needed (*skip is
 * still valid and those bytes may be dropped); SV_E_PARSE when the bytes after
 * the keep-alives cannot start a SIP message or the Content-Length is
 * malformed (call sv_sip_resync()); SV_E_TOOBIG when the header block exceeds
 * SV_SIP_MAX_HEADERS or the body SV_SIP_MAX_BODY.
 */
int sv_sip_frame(const uint8_t *data, size_t len, size_t *msg_len, size_t *skip);

/*
 * After SV_E_PARSE from sv_sip_frame(): returns how many bytes to drop so the
 * data starts at the next line (after offset 0) that is a plausible SIP start
 * line. When no complete plausible line is found it returns the offset of the
 * last, incomplete line (keep it: it may become one), or len when that line is
 * already longer than any start line could be. Returns 0 only when len is 0.
 */
size_t sv_sip_resync(const uint8_t *data, size_t len);

/* Returns the method for a name (case-sensitive, as RFC 3261 says):
 * SV_SIP_OTHER for an unknown token, SV_SIP_NONE for an empty slice. */
enum sv_sip_method sv_sip_method_parse(const char *p, size_t len);

/* Returns the upper-case name of a method ("INVITE"), "OTHER" or "NONE";
 * a static string. */
const char *sv_sip_method_name(enum sv_sip_method m);

/* True for methods that create a dialog (INVITE, SUBSCRIBE, REFER). */
int sv_sip_is_dialog_creating(enum sv_sip_method m);

/*
 * Finds the first header named name (case-insensitive; its compact form
 * matches too, and a one-letter name matches its long form) in a parsed
 * message and points *value at its trimmed value (borrowed from the input).
 * Returns 0 or SV_E_NOTFOUND.
 */
int sv_sip_header(const struct sv_sip_msg *m, const char *name, struct sv_str *value);

/*
 * Finds the SDP in a parsed message: the body when Content-Type is
 * application/sdp, or the first application/sdp part of a multipart body
 * (SIP-I/SIP-T). Returns 0 with *sdp borrowed from the input, or
 * SV_E_NOTFOUND.
 */
int sv_sip_sdp_body(const struct sv_sip_msg *m, struct sv_str *sdp);

/* True when the slice equals the NUL-terminated s, ignoring ASCII case. */
int sv_sip_str_ieq(struct sv_str a, const char *s);

#endif
