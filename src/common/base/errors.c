#include "base/errors.h"

#include <string.h>

const char *sv_strerror(int rc)
{
	switch (rc) {
	case SV_OK:
		return "success";
	case SV_E_PARSE:
		return "malformed input";
	case SV_E_TRUNC:
		return "truncated input";
	case SV_E_TOOBIG:
		return "length exceeds limit";
	case SV_E_AGAIN:
		return "more input needed";
	case SV_E_CONFIG:
		return "invalid configuration";
	case SV_E_UNSUPP:
		return "unsupported";
	case SV_E_NOTFOUND:
		return "not found";
	case SV_E_AUTH:
		return "authentication failed";
	default:
		break;
	}
	if (rc < 0 && rc > SV_E_BASE)
		return strerror(-rc);
	return "unknown error";
}
