/*
 * errors.h - one error convention for libsipvault.
 *
 * Every fallible function returns 0 on success or a negative code: either
 * -errno (e.g. -ENOMEM, -EINVAL, -EIO) or one of the project codes below.
 * sv_strerror() turns any of them into a short lower-case phrase.
 */
#ifndef SV_ERRORS_H
#define SV_ERRORS_H

enum sv_err {
	SV_OK = 0,
	SV_E_BASE = -4096,   /* below every -errno value */
	SV_E_PARSE = -4096,  /* malformed input */
	SV_E_TRUNC = -4097,  /* input ends before the structure does */
	SV_E_TOOBIG = -4098, /* a length beyond its limit */
	SV_E_AGAIN = -4099,  /* a streaming decoder needs more bytes */
	SV_E_CONFIG = -4100, /* invalid configuration */
	SV_E_UNSUPP = -4101, /* valid but unsupported (version, type, link) */
	SV_E_NOTFOUND = -4102,
	SV_E_AUTH = -4103,
	SV_E_LAST = -4103,
};

/* Returns a static string describing rc (0, -errno or SV_E_*); never NULL. */
const char *sv_strerror(int rc);

#endif
