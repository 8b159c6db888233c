#include "call/callkey.h"

#include <openssl/evp.h>

#include "base/errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char hexdig[] = "0123456789ABCDEF";

static int allowed(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '@' || c == '.' || c == '_' || c == '-';
}

static int all_dots(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != '.')
			return 0;
	return 1;
}

static void restore(struct sv_buf *out, size_t len)
{
	if (out->data != NULL) {
		out->len = len;
		out->data[len] = '\0';
	}
}

int sv_callkey_encode(const char *id, size_t len, struct sv_buf *out)
{
	int rc;
	if (len == 0 || id == NULL)
		return -EINVAL;
	int dots = all_dots(id, len);
	size_t need = 0;
	for (size_t i = 0; i < len; i++)
		need += (!dots && allowed((unsigned char)id[i])) ? 1 : 3;
	if ((rc = sv_buf_reserve(out, need)) != 0)
		return rc;
	uint8_t *w = out->data + out->len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];
		if (!dots && allowed(c)) {
			*w++ = c;
		} else {
			*w++ = '%';
			*w++ = (uint8_t)hexdig[c >> 4];
			*w++ = (uint8_t)hexdig[c & 15];
		}
	}
	out->len += need;
	out->data[out->len] = '\0';
	return 0;
}

static int uhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Checks that k[0..n) is a canonical call_key; *dots tells whether it is the
 * all-dots form ("%2E" repeated). 0 or SV_E_PARSE. */
static int check_key(const char *k, size_t n, int *dots)
{
	*dots = n > 0 && n % 3 == 0;
	for (size_t i = 0; *dots && i < n; i += 3)
		*dots = memcmp(k + i, "%2E", 3) == 0;
	if (*dots)
		return 0;
	if (n == 0 || all_dots(k, n))
		return SV_E_PARSE; /* empty, or "." / ".." left unescaped */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];
		if (allowed(c))
			continue;
		if (c != '%' || n - i < 3)
			return SV_E_PARSE;
		int hi = uhex(k[i + 1]), lo = uhex(k[i + 2]);
		if (hi < 0 || lo < 0 || allowed((unsigned char)(hi << 4 | lo)))
			return SV_E_PARSE; /* bad, lowercase or needless escape */
		i += 2;
	}
	return 0;
}

int sv_callkey_decode(const char *key, size_t len, struct sv_buf *out)
{
	int rc, dots;
	if (key == NULL || (rc = check_key(key, len, &dots)) != 0)
		return SV_E_PARSE;
	if ((rc = sv_buf_reserve(out, len)) != 0)
		return rc;
	uint8_t *w = out->data + out->len;
	for (size_t i = 0; i < len; i++) {
		if (key[i] == '%') {
			*w++ = (uint8_t)(uhex(key[i + 1]) << 4 | uhex(key[i + 2]));
			i += 2;
		} else {
			*w++ = (uint8_t)key[i];
		}
	}
	out->len = (size_t)(w - out->data);
	out->data[out->len] = '\0';
	return 0;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (civil calendar
 * arithmetic on 400-year eras of 146097 days). */
static void civil_from_days(uint64_t days, int *year, int *month, int *day)
{
	uint64_t z = days + 719468; /* days since 0000-03-01 */
	uint64_t era = z / 146097;
	uint64_t doe = z - era * 146097;                                      /* [0, 146096] */
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
	uint64_t mp = (5 * doy + 2) / 153; /* [0, 11], March = 0 */
	uint64_t y = yoe + era * 400;
	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = (int)(y + (*month <= 2 ? 1 : 0));
}

int sv_callkey_dir(const char *id, size_t len, struct sv_buf *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t start = out->len;
	int rc;

	if ((rc = sv_callkey_encode(id, len, out)) != 0)
		return rc;
	if (out->len - start <= SV_CALLKEY_DIR_MAX)
		return 0;
	size_t cut = SV_CALLKEY_DIR_KEEP;
	const uint8_t *k = out->data + start;
	if (k[cut - 1] == '%')
		cut -= 1;
	else if (k[cut - 2] == '%')
		cut -= 2;
	if (EVP_Digest(id, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16) {
		restore(out, start);
		return -EIO;
	}
	out->len = start + cut;
	rc = sv_buf_put_u8(out, '-');
	for (unsigned i = 0; rc == 0 && i < 16; i++)
		rc = sv_buf_printf(out, "%02x", md[i]);
	if (rc != 0)
		restore(out, start);
	return rc;
}

void sv_callkey_date(uint64_t first_ts_ns, int *year, int *month, int *day)
{
	civil_from_days(first_ts_ns / 1000000000u / 86400u, year, month, day);
}

int sv_callkey_prefix(struct sv_buf *out, uint64_t first_ts_ns, const char *callid, size_t len)
{
	int y, m, d, rc;
	if (len == 0 || callid == NULL)
		return -EINVAL;
	size_t start = out->len;
	sv_callkey_date(first_ts_ns, &y, &m, &d);
	if ((rc = sv_buf_printf(out, "calls/%04d/%02d/%02d/", y, m, d)) != 0 ||
	    (rc = sv_callkey_dir(callid, len, out)) != 0 || (rc = sv_buf_put_u8(out, '/')) != 0) {
		restore(out, start);
		return rc;
	}
	return 0;
}

int sv_callkey_object_path(struct sv_buf *out, uint64_t first_ts_ns, const char *callid, size_t len,
                           const char *name)
{
	int rc;
	if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL)
		return -EINVAL;
	size_t start = out->len;
	if ((rc = sv_callkey_prefix(out, first_ts_ns, callid, len)) != 0)
		return rc;
	if ((rc = sv_buf_append_str(out, name)) != 0) {
		restore(out, start);
		return rc;
	}
	return 0;
}

int sv_callkey_log_name(unsigned n, char buf[16])
{
	if (n == 0 || n > 99999999u)
		return -EINVAL;
	snprintf(buf, 16, "log-%06u.gz", n);
	return 0;
}

enum sv_callkey_kind sv_callkey_kind(const char *name, size_t len, unsigned *log_n)
{
	static const struct {
		const char *name;
		enum sv_callkey_kind kind;
	} fixed[] = {
	    {"sip.pcap.gz", SV_CALLKEY_SIP_PCAP},
	    {"rtcp.json.gz", SV_CALLKEY_RTCP},
	    {"quality.json", SV_CALLKEY_QUALITY},
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (len == strlen(fixed[i].name) && memcmp(name, fixed[i].name, len) == 0)
			return fixed[i].kind;
	/* log-NNNNNN.gz: 6 to 8 digits, no leading zero beyond the padding. */
	if (len < 13 || len > 15 || memcmp(name, "log-", 4) != 0 ||
	    memcmp(name + len - 3, ".gz", 3) != 0)
		return SV_CALLKEY_UNKNOWN;
	size_t nd = len - 7;
	unsigned n = 0;
	for (size_t i = 0; i < nd; i++) {
		char c = name[4 + i];
		if (c < '0' || c > '9')
			return SV_CALLKEY_UNKNOWN;
		n = n * 10 + (unsigned)(c - '0');
	}
	if (n == 0 || (nd > 6 && name[4] == '0'))
		return SV_CALLKEY_UNKNOWN;
	if (log_n != NULL)
		*log_n = n;
	return SV_CALLKEY_LOG;
}

static int digits(const char *p, size_t n, int *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*v = *v * 10 + (p[i] - '0');
	}
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dim[m - 1];
}

int sv_callkey_parse_path(const char *key, size_t len, struct sv_callkey_path *out)
{
	/* "calls/" YYYY "/" MM "/" DD "/" = 17 bytes */
	static const size_t fixed = 17;
	if (key == NULL || len < fixed + 2 || memcmp(key, "calls/", 6) != 0 || key[10] != '/' ||
	    key[13] != '/' || key[16] != '/')
		return SV_E_PARSE;
	if (digits(key + 6, 4, &out->year) != 0 || digits(key + 11, 2, &out->month) != 0 ||
	    digits(key + 14, 2, &out->day) != 0)
		return SV_E_PARSE;
	if (out->year < 1970 || out->month < 1 || out->month > 12 || out->day < 1 ||
	    out->day > days_in_month(out->year, out->month))
		return SV_E_PARSE;
	const char *k = key + fixed;
	const char *end = key + len;
	const char *slash = memchr(k, '/', (size_t)(end - k));
	if (slash == NULL || slash == k)
		return SV_E_PARSE;
	out->call_key = k;
	out->call_key_len = (size_t)(slash - k);
	out->name = slash + 1;
	out->name_len = (size_t)(end - out->name);
	if (memchr(out->name, '/', out->name_len) != NULL)
		return SV_E_PARSE;
	int dots;
	return check_key(k, out->call_key_len, &dots);
}
