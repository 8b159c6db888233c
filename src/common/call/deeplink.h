/*
 * deeplink.h - the CDR viewer's signed deep links (contract section 7): the
 * request target of a call endpoint parsed, and its signature checked.
 *
 * A link is
 *     /calls/{url-encoded Call-ID}[/sip|/logs|/chat|/artifacts/{name}]
 *         ?customer={id}&ts={unix seconds}&sig={hex}[&date=YYYY-MM-DD]
 * with sig = hex HMAC-SHA256(secret, customer "\n" call_id "\n" ts). Because a
 * proxy in front (nginx) decodes %2F before proxying, the Call-ID may instead
 * travel in the query as call_id={url-encoded Call-ID}; the path then names
 * only the endpoint: /calls, /calls/sip, /calls/logs, /calls/chat,
 * /calls/artifacts/{name}.
 *
 * Decoding: every path segment and query value is URL-decoded exactly once
 * (%XX; '+' is a space in query values only). A %00 (NUL), a bad escape, a
 * raw "." or ".." path segment, a Call-ID that is "." or ".." or holds a
 * "/../"-style segment, a repeated parameter, a bad date or an over-long
 * field is SV_E_PARSE (HTTP 400). Pure: no I/O, no clock.
 */
#ifndef SV_DEEPLINK_H
#define SV_DEEPLINK_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Longest decoded Call-ID, customer, artifact name accepted. */
#define SV_DL_MAX_CALLID   8192
#define SV_DL_MAX_CUSTOMER 64
#define SV_DL_MAX_NAME     64
/* ts more than this many seconds ahead of the clock is refused. */
#define SV_DL_MAX_FUTURE 60

enum sv_dl_endpoint {
	SV_DL_SUMMARY = 0, /* GET /calls/{id} */
	SV_DL_SIP,         /* GET /calls/{id}/sip */
	SV_DL_LOGS,        /* GET /calls/{id}/logs */
	SV_DL_CHAT,        /* POST /calls/{id}/chat */
	SV_DL_ARTIFACT,    /* GET /calls/{id}/artifacts/{name} */
};

/* A parsed call request. Every string is decoded, NUL-terminated and owned
 * (free with sv_dl_request_release); absent parameters are NULL. */
struct sv_dl_request {
	enum sv_dl_endpoint endpoint;
	char *call_id; /* never NULL after a successful parse; may hold no NUL */
	size_t call_id_len;
	char *artifact; /* SV_DL_ARTIFACT only */
	char *customer;
	char *ts;
	char *sig;
	char *date;           /* the unsigned hint, checked: a real YYYY-MM-DD date */
	int year, month, day; /* of date, 0 when absent */
	int call_id_in_query; /* the Call-ID came as call_id= */
};

/* Appends the URL-decoding of s[0..len) to out (%XX once; '+' becomes ' '
 * when plus_is_space). 0; SV_E_PARSE for a bad escape or a NUL (raw or %00),
 * out then unchanged; -ENOMEM. */
int sv_dl_url_decode(const char *s, size_t len, int plus_is_space, struct sv_buf *out);

/*
 * Parses a request target (path and query, as in the HTTP request line).
 * Returns 0 with *out filled; SV_E_NOTFOUND when the path is not under /calls
 * (another endpoint, or a /calls path naming no endpoint we have);
 * SV_E_PARSE for malformed input (see above); -ENOMEM. *out is always
 * initialised, and released again on error.
 */
int sv_dl_parse(const char *target, size_t len, struct sv_dl_request *out);
void sv_dl_request_release(struct sv_dl_request *r);

/* Why a link was refused, for metrics; the client is never told. */
enum sv_dl_verdict {
	SV_DL_OK = 0,
	SV_DL_MISSING,   /* customer, ts or sig absent */
	SV_DL_MALFORMED, /* ts not 1..19 digits, sig not 64 hex digits */
	SV_DL_UNKNOWN_CUSTOMER,
	SV_DL_BAD_SIGNATURE,
	SV_DL_EXPIRED, /* now - ts > max_age */
	SV_DL_FUTURE,  /* ts - now > SV_DL_MAX_FUTURE */
	SV_DL_NVERDICTS
};
/* "ok", "missing", "malformed", "unknown_customer", "bad_signature",
 * "expired", "future": a static string. */
const char *sv_dl_verdict_name(int v);

/*
 * Checks a link's signature. customer_known says whether the customer exists
 * (the HMAC is computed anyway, so timing does not tell). The signature is
 * compared in constant time (CRYPTO_memcmp on the 32 bytes); time rules are
 * checked after the signature, so a forged link is counted as bad_signature
 * whatever its ts. Any of customer/ts/sig may be NULL (missing).
 */
enum sv_dl_verdict sv_dl_verify(const void *secret, size_t secret_len, const char *customer,
                                int customer_known, const char *call_id, size_t call_id_len,
                                const char *ts, const char *sig, int64_t now, int64_t max_age);

/* Writes the lowercase hex signature of a link into hex[65]. 0 or -EINVAL
 * (NULL argument, secret or message the HMAC cannot take). */
int sv_dl_sign(const void *secret, size_t secret_len, const char *customer, const char *call_id,
               size_t call_id_len, const char *ts, char hex[65]);

#endif
