/*
 * callkey.h - Call-ID <-> call_key, and the object paths built from it.
 *
 * call_key (contract section 3) is the Call-ID with every byte outside
 * A-Z a-z 0-9 @ . _ - written as %XX (uppercase hex); a Call-ID made only of
 * dots is written entirely as %2E ("." -> "%2E", ".." -> "%2E%2E"). A key is
 * therefore never empty, never contains '/', and is never "." or "..".
 * The empty Call-ID has no key: functions given one return -EINVAL.
 *
 * Objects of a call live under
 *     calls/YYYY/MM/DD/{dir}/{name}
 * where the date is the UTC date of the call's first message and dir is the
 * call_key — except for a call_key longer than SV_CALLKEY_DIR_MAX bytes,
 * which would fit neither a file name (255 bytes) nor, for long Call-IDs, an
 * S3 key (1024): its dir is the call_key cut to at most SV_CALLKEY_DIR_KEEP
 * bytes (never inside a %XX escape), "-", and 32 lower-case hex digits of the
 * SHA-256 of the whole Call-ID. Still only call_key characters, stable, and
 * unique in practice (128 bits); quality.json inside names the full Call-ID.
 */
#ifndef SV_CALLKEY_H
#define SV_CALLKEY_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Appends the call_key of id[0..len) to out. Returns 0, -EINVAL (len 0) or
 * -ENOMEM; on error out is left as it was. */
int sv_callkey_encode(const char *id, size_t len, struct sv_buf *out);

/* Appends the Call-ID that key[0..len) encodes to out (it may contain any
 * byte, NUL included; out stays NUL-terminated past its length). Only the
 * canonical form sv_callkey_encode() produces is accepted, so that
 * encode(decode(k)) == k: SV_E_PARSE for an empty key, a byte outside the
 * allowed set, a bad or lowercase escape, an escape of an allowed byte (other
 * than the all-dots form), or a bare "."/"..". -ENOMEM. out unchanged on error. */
int sv_callkey_decode(const char *key, size_t len, struct sv_buf *out);

#define SV_CALLKEY_DIR_MAX  200
#define SV_CALLKEY_DIR_KEEP 160

/* Appends the directory name of a call (the call_key, or its shortened form
 * above) to out. 0, -EINVAL (len 0), -ENOMEM or -EIO; out unchanged on error. */
int sv_callkey_dir(const char *id, size_t len, struct sv_buf *out);

/* Breaks ts_ns (nanoseconds since the Unix epoch) into its UTC date. */
void sv_callkey_date(uint64_t first_ts_ns, int *year, int *month, int *day);

/* Appends "calls/YYYY/MM/DD/{dir}/" to out (dir: see sv_callkey_dir). 0, -EINVAL or -ENOMEM. */
int sv_callkey_prefix(struct sv_buf *out, uint64_t first_ts_ns, const char *callid, size_t len);

/* Appends "calls/YYYY/MM/DD/{dir}/{name}" to out. name must be non-empty
 * and contain no '/' (else -EINVAL). 0, -EINVAL or -ENOMEM; out unchanged on
 * error. */
int sv_callkey_object_path(struct sv_buf *out, uint64_t first_ts_ns, const char *callid, size_t len,
                           const char *name);

/* Writes "log-NNNNNN.gz" (chunk n, at least six digits) into buf, NUL
 * terminated. n runs from 1 to 99999999; -EINVAL otherwise (buf untouched). */
int sv_callkey_log_name(unsigned n, char buf[16]);

/* Object names a call directory holds. */
enum sv_callkey_kind {
	SV_CALLKEY_UNKNOWN = 0,
	SV_CALLKEY_SIP_PCAP, /* sip.pcap.gz */
	SV_CALLKEY_RTCP,     /* rtcp.json.gz */
	SV_CALLKEY_QUALITY,  /* quality.json */
	SV_CALLKEY_LOG,      /* log-NNNNNN.gz */
};

/* Classifies an object name. For SV_CALLKEY_LOG, *log_n (when not NULL) gets
 * the chunk number; only names sv_callkey_log_name() can produce match. */
enum sv_callkey_kind sv_callkey_kind(const char *name, size_t len, unsigned *log_n);

/* An object key split into its parts; the strings borrow from the key. */
struct sv_callkey_path {
	int year, month, day;
	const char *call_key; /* canonical call_key (decode it for the Call-ID) */
	size_t call_key_len;
	const char *name; /* object name; empty for a prefix "calls/.../{key}/" */
	size_t name_len;
};

/* Parses "calls/YYYY/MM/DD/{call_key}/{name}" (name may be empty, i.e. a
 * prefix ending in '/'). The date must be a real calendar date written with
 * exactly 4/2/2 digits, the key canonical, the name free of '/'. Returns 0
 * or SV_E_PARSE; anything else is not one of our keys and must be left alone. */
int sv_callkey_parse_path(const char *key, size_t len, struct sv_callkey_path *out);

#endif
