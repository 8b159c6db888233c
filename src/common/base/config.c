#include "base/config.h"
#include "store/objstore.h"

#include "base/buf.h"
#include "base/errors.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define FIELD(base, k, type) ((type *)((char *)(base) + (k)->offset))

/* ------------------------------------------------------------ small helpers */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* One line, whatever the input held. */
	for (char *p = err; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

static void wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* Writes a quoted, escaped, shortened copy of s for error messages. */
static void quote(const char *s, char *out, size_t len)
{
	size_t o = 0, i;
	if (len < 8) {
		if (len > 0)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (i = 0; s[i] != '\0' && o + 6 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= 64) {
			break;
		} else if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	if (s[i] != '\0' && o + 4 < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
}

static bool has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static const char *env_get(const char *const *env, const char *name)
{
	size_t n = strlen(name);
	if (env == NULL)
		return NULL;
	for (; *env != NULL; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return (*env)[n + 1] != '\0' ? *env + n + 1 : NULL;
	return NULL;
}

/* Strict decimal parse of the whole string; 0 or -EINVAL / -ERANGE. */
static int parse_ll(const char *s, long long *out)
{
	char *end;
	long long v;
	if (*s == '\0' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (end == s || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

/* A number followed by an optional one-letter unit from units/mults. */
static int parse_scaled(const char *s, const char *units, const long long *mults, long long *out)
{
	char num[32];
	size_t n = strlen(s);
	long long v, m = 1;
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	if (isalpha((unsigned char)num[n - 1])) {
		const char *u = strchr(units, tolower((unsigned char)num[n - 1]));
		if (u == NULL)
			return -EINVAL;
		m = mults[u - units];
		num[--n] = '\0';
	}
	int rc = parse_ll(num, &v);
	if (rc != 0)
		return rc;
	if (v < 0)
		return -EINVAL;
	if (v > LLONG_MAX / m)
		return -ERANGE;
	*out = v * m;
	return 0;
}

static bool valid_hostname(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > 253)
		return false;
	for (const char *p = h; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
			return false;
	return h[0] != '.' && h[0] != '-';
}

/* "[v6]:port", "host:port", ":port". 0 or -EINVAL with a reason in why. */
static int parse_addr(const char *s, bool need_host, struct sv_conf_addr *a, const char **why)
{
	const char *colon;
	char host[SV_CONF_HOST_MAX];
	size_t hlen;
	long long port;
	struct in6_addr a6;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL) {
			*why = "missing ']' after an IPv6 address";
			return -EINVAL;
		}
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(host)) {
			*why = "empty or overlong address in brackets";
			return -EINVAL;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			*why = "not an IPv6 address in brackets";
			return -EINVAL;
		}
		if (close[1] != ':') {
			*why = "expected ':port' after ']'";
			return -EINVAL;
		}
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			*why = "expected host:port";
			return -EINVAL;
		}
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL) {
			*why = "an IPv6 address must be written in brackets, as [::1]:9060";
			return -EINVAL;
		}
		if (hlen >= sizeof(host)) {
			*why = "host name too long";
			return -EINVAL;
		}
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (hlen > 0 && !valid_hostname(host)) {
			*why = "not a valid host name or address";
			return -EINVAL;
		}
	}
	if (need_host && host[0] == '\0') {
		*why = "a host is required (host:port)";
		return -EINVAL;
	}
	if (parse_ll(colon + 1, &port) != 0 || port < 1 || port > 65535) {
		*why = "port must be 1..65535";
		return -EINVAL;
	}
	a->enabled = true;
	memcpy(a->host, host, hlen + 1);
	a->port = (uint16_t)port;
	return 0;
}

static bool valid_url(const char *s)
{
	const char *host;
	if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return false;
	if (*host == '\0' || *host == '/' || *host == ':' || *host == '?' || *host == '#')
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int enum_index(const char *choices, const char *s)
{
	size_t n = strlen(s);
	int idx = 0;
	const char *p = choices;
	while (p != NULL && *p != '\0') {
		const char *bar = strchr(p, '|');
		size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncasecmp(p, s, n) == 0)
			return idx;
		idx++;
		p = bar != NULL ? bar + 1 : NULL;
	}
	return -1;
}

/* ------------------------------------------------------------ generic table */

const char *sv_conf_type_name(enum sv_conf_type t)
{
	switch (t) {
	case SV_CONF_STRING:
		return "string";
	case SV_CONF_INT:
		return "integer";
	case SV_CONF_BOOL:
		return "boolean";
	case SV_CONF_LOGLEVEL:
		return "log level";
	case SV_CONF_LISTEN:
		return "listen address";
	case SV_CONF_HOSTPORT:
		return "host:port";
	case SV_CONF_URL:
		return "URL";
	case SV_CONF_PATH:
		return "path";
	case SV_CONF_PORT_RANGE:
		return "port range";
	case SV_CONF_PORTS:
		return "port list";
	case SV_CONF_SECONDS:
		return "seconds";
	case SV_CONF_SIZE:
		return "size";
	case SV_CONF_ENUM:
		return "choice";
	case SV_CONF_CUSTOMERS:
		return "customers JSON";
	}
	return "?";
}

static bool is_string_type(enum sv_conf_type t)
{
	return t == SV_CONF_STRING || t == SV_CONF_URL || t == SV_CONF_PATH;
}

static int set_value(const struct sv_conf_key *k, void *base, const char *text, char *why,
                     size_t whylen)
{
	char got[96];
	const char *reason = NULL;
	long long v;
	int rc;

	if (k->flags & SV_CONF_F_SECRET)
		snprintf(got, sizeof(got), "(secret value not shown)");
	else
		quote(text, got, sizeof(got));

	switch (k->type) {
	case SV_CONF_STRING:
	case SV_CONF_PATH:
	case SV_CONF_URL: {
		char **f = FIELD(base, k, char *);
		char *dup = NULL;
		if (has_ctl(text)) {
			set_err(why, whylen, "must not contain control characters, got %s", got);
			return SV_E_CONFIG;
		}
		if (k->type == SV_CONF_PATH && strlen(text) >= PATH_MAX) {
			set_err(why, whylen, "path longer than %d bytes", PATH_MAX - 1);
			return SV_E_CONFIG;
		}
		if (k->type == SV_CONF_URL && *text != '\0' && !valid_url(text)) {
			set_err(why, whylen,
			        "must be an http:// or https:// URL with a host, got %s", got);
			return SV_E_CONFIG;
		}
		if (*text != '\0' && (dup = strdup(text)) == NULL) {
			set_err(why, whylen, "out of memory");
			return -ENOMEM;
		}
		if (k->flags & SV_CONF_F_SECRET)
			wipe_free(*f);
		else
			free(*f);
		*f = dup;
		return 0;
	}
	case SV_CONF_INT:
		rc = parse_ll(text, &v);
		if (rc != 0 || v < k->min || v > k->max) {
			set_err(why, whylen, "must be %lld..%lld, got %s", k->min, k->max, got);
			return SV_E_CONFIG;
		}
		*FIELD(base, k, long long) = v;
		return 0;
	case SV_CONF_SECONDS: {
		static const long long mult[] = {1, 60, 3600, 86400};
		rc = parse_scaled(text, "smhd", mult, &v);
		if (rc != 0 || v < k->min || v > k->max) {
			set_err(why, whylen,
			        "must be %lld..%lld seconds (suffix s, m, h or d allowed), got %s",
			        k->min, k->max, got);
			return SV_E_CONFIG;
		}
		*FIELD(base, k, long long) = v;
		return 0;
	}
	case SV_CONF_SIZE: {
		static const long long mult[] = {1LL << 10, 1LL << 20, 1LL << 30, 1LL << 40};
		rc = parse_scaled(text, "kmgt", mult, &v);
		if (rc != 0 || v < k->min || v > k->max) {
			set_err(why, whylen,
			        "must be %lld..%lld bytes (suffix K, M, G or T allowed), got %s",
			        k->min, k->max, got);
			return SV_E_CONFIG;
		}
		*FIELD(base, k, long long) = v;
		return 0;
	}
	case SV_CONF_BOOL: {
		static const char *const yes[] = {"on", "true", "yes", "1"};
		static const char *const no[] = {"off", "false", "no", "0"};
		for (size_t i = 0; i < 4; i++) {
			if (strcasecmp(text, yes[i]) == 0) {
				*FIELD(base, k, bool) = true;
				return 0;
			}
			if (strcasecmp(text, no[i]) == 0) {
				*FIELD(base, k, bool) = false;
				return 0;
			}
		}
		set_err(why, whylen, "must be on/off, true/false, yes/no or 1/0, got %s", got);
		return SV_E_CONFIG;
	}
	case SV_CONF_LOGLEVEL: {
		enum sv_log_level l;
		if (sv_log_level_parse(text, &l) != 0) {
			set_err(why, whylen, "must be debug, info, warn or error, got %s", got);
			return SV_E_CONFIG;
		}
		*FIELD(base, k, enum sv_log_level) = l;
		return 0;
	}
	case SV_CONF_LISTEN:
	case SV_CONF_HOSTPORT: {
		struct sv_conf_addr a;
		if ((k->flags & SV_CONF_F_OFF) && (*text == '\0' || strcasecmp(text, "off") == 0)) {
			memset(&a, 0, sizeof(a));
			*FIELD(base, k, struct sv_conf_addr) = a;
			return 0;
		}
		if (parse_addr(text, k->type == SV_CONF_HOSTPORT, &a, &reason) != 0) {
			set_err(why, whylen, "%s, got %s", reason, got);
			return SV_E_CONFIG;
		}
		*FIELD(base, k, struct sv_conf_addr) = a;
		return 0;
	}
	case SV_CONF_PORT_RANGE: {
		const char *dash = strchr(text, '-');
		char lo[16];
		long long a, b;
		size_t n = dash != NULL ? (size_t)(dash - text) : 0;
		if (dash == NULL || n == 0 || n >= sizeof(lo))
			goto bad_range;
		memcpy(lo, text, n);
		lo[n] = '\0';
		if (parse_ll(lo, &a) != 0 || parse_ll(dash + 1, &b) != 0)
			goto bad_range;
		if (a < k->min || b > k->max || a > b)
			goto bad_range;
		FIELD(base, k, struct sv_conf_port_range)->lo = (uint16_t)a;
		FIELD(base, k, struct sv_conf_port_range)->hi = (uint16_t)b;
		return 0;
	bad_range:
		set_err(why, whylen, "must be LO-HI with %lld <= LO <= HI <= %lld, got %s", k->min,
		        k->max, got);
		return SV_E_CONFIG;
	}
	case SV_CONF_PORTS: {
		struct sv_conf_ports ps;
		const char *p = text;
		memset(&ps, 0, sizeof(ps));
		for (;;) {
			char one[16];
			size_t n;
			while (*p == ' ' || *p == '\t')
				p++;
			n = strcspn(p, ", \t");
			if (n > 0 && n < sizeof(one)) {
				memcpy(one, p, n);
				one[n] = '\0';
			}
			if (n == 0 || n >= sizeof(one) || parse_ll(one, &v) != 0 || v < k->min ||
			    v > k->max) {
				set_err(
				    why, whylen,
				    "must be a comma-separated list of ports %lld..%lld, got %s",
				    k->min, k->max, got);
				return SV_E_CONFIG;
			}
			for (size_t i = 0; i < ps.n; i++) {
				if (ps.port[i] == v) {
					set_err(why, whylen, "port %lld listed twice in %s", v,
					        got);
					return SV_E_CONFIG;
				}
			}
			if (ps.n == SV_CONF_MAX_PORTS) {
				set_err(why, whylen, "at most %d ports, got %s", SV_CONF_MAX_PORTS,
				        got);
				return SV_E_CONFIG;
			}
			ps.port[ps.n++] = (uint16_t)v;
			p += n;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '\0')
				break;
			if (*p != ',') {
				set_err(
				    why, whylen,
				    "must be a comma-separated list of ports %lld..%lld, got %s",
				    k->min, k->max, got);
				return SV_E_CONFIG;
			}
			p++;
		}
		*FIELD(base, k, struct sv_conf_ports) = ps;
		return 0;
	}
	case SV_CONF_ENUM: {
		int idx = enum_index(k->choices, text);
		if (idx < 0) {
			set_err(why, whylen, "must be one of %s, got %s", k->choices, got);
			return SV_E_CONFIG;
		}
		*FIELD(base, k, int) = idx;
		return 0;
	}
	case SV_CONF_CUSTOMERS: {
		struct sv_customers *cs = NULL;
		struct sv_customers **f = FIELD(base, k, struct sv_customers *);
		rc = sv_customers_parse(text, strlen(text), &cs, why, whylen);
		if (rc != 0)
			return rc;
		sv_customers_free(*f);
		*f = cs;
		return 0;
	}
	}
	set_err(why, whylen, "unknown key type");
	return SV_E_CONFIG;
}

int sv_conf_set(const struct sv_conf_key *k, void *base, const char *text, char *why, size_t whylen)
{
	if (k == NULL || base == NULL || text == NULL) {
		set_err(why, whylen, "missing value");
		return SV_E_CONFIG;
	}
	return set_value(k, base, text, why, whylen);
}

void sv_conf_release_fields(const struct sv_conf_key *keys, size_t n, void *base)
{
	if (base == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct sv_conf_key *k = &keys[i];
		if (is_string_type(k->type)) {
			char **f = FIELD(base, k, char *);
			if (k->flags & SV_CONF_F_SECRET)
				wipe_free(*f);
			else
				free(*f);
			*f = NULL;
		} else if (k->type == SV_CONF_CUSTOMERS) {
			struct sv_customers **f = FIELD(base, k, struct sv_customers *);
			sv_customers_free(*f);
			*f = NULL;
		}
	}
}

int sv_conf_defaults(const struct sv_conf_key *keys, size_t n, void *base)
{
	char why[256];
	for (size_t i = 0; i < n; i++) {
		if (keys[i].def == NULL)
			continue;
		int rc = set_value(&keys[i], base, keys[i].def, why, sizeof(why));
		if (rc != 0)
			return rc; /* a broken table: caught by the unit tests */
	}
	return 0;
}

const struct sv_conf_key *sv_conf_find(const struct sv_conf_key *keys, size_t n,
                                       const char *section, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i].name, name) != 0)
			continue;
		if (section == NULL && keys[i].section == NULL)
			return &keys[i];
		if (section != NULL && keys[i].section != NULL &&
		    strcmp(section, keys[i].section) == 0)
			return &keys[i];
	}
	return NULL;
}

void sv_conf_print_help(FILE *f, const struct sv_conf_key *keys, size_t n)
{
	const char *section = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct sv_conf_key *k = &keys[i];
		char name[96], kind[128];
		if (k->section != NULL && (section == NULL || strcmp(section, k->section) != 0)) {
			fprintf(f, "  [%s]\n", k->section);
			section = k->section;
		}
		snprintf(name, sizeof(name), "%s%s", k->section != NULL ? "  " : "", k->name);
		switch (k->type) {
		case SV_CONF_INT:
		case SV_CONF_SECONDS:
		case SV_CONF_SIZE:
		case SV_CONF_PORTS:
		case SV_CONF_PORT_RANGE:
			snprintf(kind, sizeof(kind), "%s %lld..%lld", sv_conf_type_name(k->type),
			         k->min, k->max);
			break;
		case SV_CONF_ENUM:
			snprintf(kind, sizeof(kind), "%s", k->choices);
			break;
		default:
			snprintf(kind, sizeof(kind), "%s", sv_conf_type_name(k->type));
			break;
		}
		fprintf(f, "  %-26s %s; %s%s%s\n", name, kind,
		        (k->flags & SV_CONF_F_REQUIRED) && k->def == NULL ? "required" : "default ",
		        (k->flags & SV_CONF_F_REQUIRED) && k->def == NULL ? ""
		        : k->def != NULL                                  ? k->def
		                                                          : "(none)",
		        "");
		fprintf(f, "  %-26s   %s\n", "", k->help);
	}
}

void sv_conf_addr_format(const struct sv_conf_addr *a, char *out, size_t len)
{
	if (len == 0)
		return;
	if (a == NULL || !a->enabled)
		snprintf(out, len, "off");
	else if (strchr(a->host, ':') != NULL)
		snprintf(out, len, "[%s]:%u", a->host, a->port);
	else
		snprintf(out, len, "%s:%u", a->host, a->port);
}

/* ---------------------------------------------------------------- customers */

static bool valid_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return false;
	return true;
}

static void customer_clear(struct sv_customer *c)
{
	free(c->id);
	wipe_free(c->token);
	free(c->bucket);
	free(c->hep_sources);
	explicit_bzero(c, sizeof(*c));
}

void sv_customers_free(struct sv_customers *cs)
{
	if (cs == NULL)
		return;
	for (size_t i = 0; i < cs->n; i++)
		customer_clear(&cs->v[i]);
	free(cs->v);
	free(cs);
}

static int customer_from_json(json_t *o, size_t idx, struct sv_customer *c, char *err,
                              size_t errlen)
{
	const char *key;
	json_t *v;
	char who[160], q[96];

	snprintf(who, sizeof(who), "customers[%zu]", idx);
	if (!json_is_object(o)) {
		set_err(err, errlen, "%s: must be a JSON object", who);
		return SV_E_CONFIG;
	}
	v = json_object_get(o, "id");
	if (json_is_string(v)) {
		quote(json_string_value(v), q, sizeof(q));
		snprintf(who, sizeof(who), "customers[%zu] (id %s)", idx, q);
	}
	json_object_foreach(o, key, v)
	{
		if (strcmp(key, "id") != 0 && strcmp(key, "token") != 0 &&
		    strcmp(key, "bucket") != 0 && strcmp(key, "hep_sources") != 0) {
			quote(key, q, sizeof(q));
			set_err(err, errlen,
			        "%s: unknown field %s (expected id, token, bucket, hep_sources)",
			        who, q);
			return SV_E_CONFIG;
		}
	}
	static const char *const req[] = {"id", "token", "bucket"};
	const char *val[3];
	for (size_t i = 0; i < 3; i++) {
		v = json_object_get(o, req[i]);
		if (v == NULL) {
			set_err(err, errlen, "%s: %s: missing", who, req[i]);
			return SV_E_CONFIG;
		}
		if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v))) {
			set_err(err, errlen, "%s: %s: must be a string", who, req[i]);
			return SV_E_CONFIG;
		}
		val[i] = json_string_value(v);
	}
	quote(val[0], q, sizeof(q));
	if (!valid_id(val[0])) {
		set_err(err, errlen,
		        "%s: id: must be 1..64 characters of A-Z a-z 0-9 . _ - (not \".\" or "
		        "\"..\"), got %s",
		        who, q);
		return SV_E_CONFIG;
	}
	if (val[1][0] == '\0' || has_ctl(val[1])) {
		set_err(err, errlen, "%s: token: must be non-empty, without control characters",
		        who);
		return SV_E_CONFIG;
	}
	quote(val[2], q, sizeof(q));
	if (!sv_objstore_bucket_ok(val[2])) {
		set_err(err, errlen,
		        "%s: bucket: not a valid S3 bucket name (3..63 of a-z 0-9 . -, starting "
		        "and ending with a letter or digit), got %s",
		        who, q);
		return SV_E_CONFIG;
	}
	c->id = strdup(val[0]);
	c->token = strdup(val[1]);
	c->bucket = strdup(val[2]);
	if (c->id == NULL || c->token == NULL || c->bucket == NULL)
		return -ENOMEM;
	SHA256((const unsigned char *)c->token, strlen(c->token), c->token_sha256);

	v = json_object_get(o, "hep_sources");
	if (v != NULL && !json_is_null(v)) {
		size_t i;
		json_t *e;
		if (!json_is_array(v)) {
			set_err(err, errlen, "%s: hep_sources: must be an array of CIDR strings",
			        who);
			return SV_E_CONFIG;
		}
		if (json_array_size(v) > 0) {
			c->hep_sources = calloc(json_array_size(v), sizeof(*c->hep_sources));
			if (c->hep_sources == NULL)
				return -ENOMEM;
		}
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e) ||
			    sv_cidr_parse(json_string_value(e), &c->hep_sources[i]) != 0) {
				if (json_is_string(e))
					quote(json_string_value(e), q, sizeof(q));
				else
					snprintf(q, sizeof(q), "a non-string");
				set_err(err, errlen,
				        "%s: hep_sources[%zu]: not a CIDR such as 10.0.0.0/8 or "
				        "2001:db8::/32 (host bits must be zero), got %s",
				        who, i, q);
				return SV_E_CONFIG;
			}
			c->n_hep_sources++;
		}
	}
	return 0;
}

static int customers_from_json(json_t *arr, struct sv_customers **out, char *err, size_t errlen)
{
	struct sv_customers *cs;
	size_t i, j;
	json_t *o;
	int rc = 0;

	*out = NULL;
	if (!json_is_array(arr)) {
		set_err(err, errlen, "must be a JSON array of customer objects");
		return SV_E_CONFIG;
	}
	if (json_array_size(arr) == 0) {
		set_err(err, errlen, "at least one customer is required");
		return SV_E_CONFIG;
	}
	cs = calloc(1, sizeof(*cs));
	if (cs == NULL)
		return -ENOMEM;
	cs->v = calloc(json_array_size(arr), sizeof(*cs->v));
	if (cs->v == NULL) {
		free(cs);
		return -ENOMEM;
	}
	json_array_foreach(arr, i, o)
	{
		cs->n = i + 1;
		if ((rc = customer_from_json(o, i, &cs->v[i], err, errlen)) != 0)
			goto out;
		for (j = 0; j < i; j++) {
			char q[96];
			quote(cs->v[i].id, q, sizeof(q));
			if (strcmp(cs->v[j].id, cs->v[i].id) == 0) {
				set_err(err, errlen,
				        "customers[%zu] (id %s): id: duplicate of customers[%zu]",
				        i, q, j);
				rc = SV_E_CONFIG;
				goto out;
			}
			if (CRYPTO_memcmp(cs->v[j].token_sha256, cs->v[i].token_sha256, 32) == 0) {
				set_err(
				    err, errlen,
				    "customers[%zu] (id %s): token: same token as customers[%zu]; "
				    "every customer needs its own",
				    i, q, j);
				rc = SV_E_CONFIG;
				goto out;
			}
		}
	}
	*out = cs;
	cs = NULL; /* transferred */
out:
	if (rc == -ENOMEM)
		set_err(err, errlen, "out of memory");
	sv_customers_free(cs);
	return rc;
}

int sv_customers_parse(const char *json, size_t len, struct sv_customers **out, char *err,
                       size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	*out = NULL;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		set_err(err, errlen, "not valid JSON (column %d: %s)", jerr.column, jerr.text);
		return json_error_code(&jerr) == json_error_out_of_memory ? -ENOMEM : SV_E_CONFIG;
	}
	rc = customers_from_json(root, out, err, errlen);
	json_decref(root);
	return rc;
}

const struct sv_customer *sv_customers_find_by_id(const struct sv_customers *cs, const char *id)
{
	if (cs == NULL || id == NULL)
		return NULL;
	for (size_t i = 0; i < cs->n; i++)
		if (strcmp(cs->v[i].id, id) == 0)
			return &cs->v[i];
	return NULL;
}

const struct sv_customer *sv_customers_find_by_token(const struct sv_customers *cs,
                                                     const char *token, size_t len)
{
	uint8_t d[32];
	const struct sv_customer *found = NULL;

	if (cs == NULL || token == NULL)
		return NULL;
	SHA256((const unsigned char *)token, len, d);
	/* Visit every customer whatever matched; tokens are unique. */
	for (size_t i = 0; i < cs->n; i++) {
		int diff = CRYPTO_memcmp(d, cs->v[i].token_sha256, sizeof(d));
		if (diff == 0)
			found = &cs->v[i];
	}
	explicit_bzero(d, sizeof(d));
	return found;
}

bool sv_customer_token_ok(const struct sv_customer *c, const char *token, size_t len)
{
	uint8_t d[32];
	bool ok;
	if (c == NULL || token == NULL)
		return false;
	SHA256((const unsigned char *)token, len, d);
	ok = CRYPTO_memcmp(d, c->token_sha256, sizeof(d)) == 0;
	explicit_bzero(d, sizeof(d));
	return ok;
}

const struct sv_customer *sv_customers_find_by_addr(const struct sv_customers *cs, int family,
                                                    const void *addr)
{
	const struct sv_customer *best = NULL;
	int best_prefix = -1;
	if (cs == NULL || addr == NULL)
		return NULL;
	for (size_t i = 0; i < cs->n; i++) {
		for (size_t j = 0; j < cs->v[i].n_hep_sources; j++) {
			const struct sv_cidr *c = &cs->v[i].hep_sources[j];
			/* Compare v4 prefixes inside the v6 space so /8 v4 ranks as /104. */
			int rank = (int)c->prefix + (c->family == AF_INET ? 96 : 0);
			if (rank > best_prefix && sv_cidr_contains(c, family, addr)) {
				best = &cs->v[i];
				best_prefix = rank;
			}
		}
	}
	return best;
}

/* ------------------------------------------------ env + file (JSON or env) */

struct src {
	const char *fname;
	const char *text; /* JSON text, for key lines */
	size_t len;
	json_t *root;                /* JSON object, or NULL */
	const struct sv_envfile *ef; /* env file, or NULL */
};

/* Line of the first top-level key `name` in a JSON object text, or 0. */
static int json_key_line(const char *t, size_t len, const char *name)
{
	size_t n = strlen(name);
	int line = 1, depth = 0;
	for (size_t i = 0; i < len; i++) {
		char c = t[i];
		if (c == '\n') {
			line++;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == '"') {
			size_t start = i + 1, j = start;
			int sline = line;
			while (j < len && t[j] != '"') {
				if (t[j] == '\\')
					j++;
				else if (t[j] == '\n')
					line++;
				j++;
			}
			if (j >= len)
				return 0;
			i = j;
			if (depth != 1 || j - start != n || memcmp(t + start, name, n) != 0)
				continue;
			for (j = i + 1; j < len && isspace((unsigned char)t[j]); j++)
				;
			if (j < len && t[j] == ':')
				return sline;
		}
	}
	return 0;
}

static void src_where(const struct src *s, const char *name, char *out, size_t len)
{
	int line = 0;
	if (s->root != NULL)
		line = json_key_line(s->text, s->len, name);
	else if (s->ef != NULL)
		sv_envfile_get(s->ef, name, &line);
	if (line > 0)
		snprintf(out, len, "%s:%d", s->fname, line);
	else
		snprintf(out, len, "%s", s->fname);
}

/* Text form of a JSON value for the setter; malloc'ed or NULL with why set. */
static char *json_text(const struct sv_conf_key *k, json_t *v, char *why, size_t whylen)
{
	char tmp[64];
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (json_string_length(v) != strlen(json_string_value(v))) {
			set_err(why, whylen, "must not contain NUL characters");
			return NULL;
		}
		return strdup(json_string_value(v));
	case JSON_INTEGER:
		snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return strdup(tmp);
	case JSON_REAL:
		snprintf(tmp, sizeof(tmp), "%.17g", json_real_value(v));
		return strdup(tmp);
	case JSON_TRUE:
		return strdup("true");
	case JSON_FALSE:
		return strdup("false");
	case JSON_ARRAY:
		if (k->type == SV_CONF_CUSTOMERS)
			return json_dumps(v, JSON_COMPACT);
		break;
	default:
		break;
	}
	set_err(why, whylen, "must be a string%s",
	        k->type == SV_CONF_CUSTOMERS ? " or an array" : ", number or boolean");
	return NULL;
}

static bool field_is_set(const struct sv_conf_key *k, void *base)
{
	if (is_string_type(k->type))
		return *FIELD(base, k, char *) != NULL;
	if (k->type == SV_CONF_CUSTOMERS)
		return *FIELD(base, k, struct sv_customers *) != NULL;
	return true;
}

static int load_env_src(const struct sv_conf_key *keys, size_t n, void *base,
                        const char *const *env, const struct src *s, char *err, size_t errlen)
{
	char why[1024], where[PATH_MAX + 32];
	int rc;

	if ((rc = sv_conf_defaults(keys, n, base)) != 0) {
		set_err(err, errlen, "out of memory");
		return rc;
	}
	/* Unknown keys in the file first: they are usually typos of a key below. */
	if (s->root != NULL) {
		const char *key;
		json_t *v;
		json_object_foreach(s->root, key, v)
		{
			if (sv_conf_find(keys, n, NULL, key) == NULL) {
				char q[96];
				quote(key, q, sizeof(q));
				src_where(s, key, where, sizeof(where));
				set_err(err, errlen, "%s: %s: unknown key", where, q);
				return SV_E_CONFIG;
			}
		}
	}
	if (s->ef != NULL) {
		for (size_t i = 0; i < s->ef->n; i++) {
			if (sv_conf_find(keys, n, NULL, s->ef->v[i].key) == NULL) {
				set_err(err, errlen, "%s:%d: %s: unknown key", s->fname,
				        s->ef->v[i].line, s->ef->v[i].key);
				return SV_E_CONFIG;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct sv_conf_key *k = &keys[i];
		const char *v = env_get(env, k->name);
		if (v != NULL) {
			rc = set_value(k, base, v, why, sizeof(why));
			if (rc != 0) {
				set_err(err, errlen, "environment variable %s: %s", k->name, why);
				return rc;
			}
			continue;
		}
		char *text = NULL;
		const char *ftext = NULL;
		if (s->root != NULL) {
			json_t *jv = json_object_get(s->root, k->name);
			if (jv == NULL)
				continue;
			why[0] = '\0';
			text = json_text(k, jv, why, sizeof(why));
			if (text == NULL && why[0] == '\0') {
				set_err(err, errlen, "out of memory");
				return -ENOMEM;
			}
			if (text == NULL) {
				src_where(s, k->name, where, sizeof(where));
				set_err(err, errlen, "%s: %s: %s", where, k->name, why);
				return SV_E_CONFIG;
			}
			ftext = text;
		} else if (s->ef != NULL) {
			ftext = sv_envfile_get(s->ef, k->name, NULL);
		}
		if (ftext == NULL)
			continue;
		rc = set_value(k, base, ftext, why, sizeof(why));
		wipe_free(text);
		if (rc != 0) {
			src_where(s, k->name, where, sizeof(where));
			set_err(err, errlen, "%s: %s: %s", where, k->name, why);
			return rc;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct sv_conf_key *k = &keys[i];
		if ((k->flags & SV_CONF_F_REQUIRED) && !field_is_set(k, base)) {
			set_err(err, errlen, "%s: %s: required, set it in the environment%s%s",
			        s->fname != NULL ? s->fname : "environment", k->name,
			        s->fname != NULL ? " or in " : "",
			        s->fname != NULL ? s->fname : "");
			return SV_E_CONFIG;
		}
	}
	return 0;
}

static int load_env_json(const struct sv_conf_key *keys, size_t n, void *base,
                         const char *const *env, const char *json, size_t len, const char *fname,
                         char *err, size_t errlen)
{
	struct src s = {.fname = fname, .text = json, .len = len};
	int rc;

	if (json != NULL) {
		json_error_t jerr;
		s.root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
		if (s.root == NULL) {
			set_err(err, errlen, "%s:%d: invalid JSON: %s", fname, jerr.line,
			        jerr.text);
			return json_error_code(&jerr) == json_error_out_of_memory ? -ENOMEM
			                                                          : SV_E_CONFIG;
		}
		if (!json_is_object(s.root)) {
			set_err(err, errlen, "%s:1: the file must hold one JSON object", fname);
			json_decref(s.root);
			return SV_E_CONFIG;
		}
	}
	rc = load_env_src(keys, n, base, env, &s, err, errlen);
	json_decref(s.root);
	return rc;
}

int sv_conf_load_env_json(const struct sv_conf_key *keys, size_t n, void *base,
                          const char *const *env, const char *json, size_t json_len,
                          const char *fname, char *err, size_t errlen)
{
	return load_env_json(keys, n, base, env, json, json_len, fname != NULL ? fname : "config",
	                     err, errlen);
}

int sv_conf_read_file(const char *path, char **out, size_t *len)
{
	FILE *f;
	char *data = NULL;
	size_t cap = 0, n = 0;

	*out = NULL;
	*len = 0;
	f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	for (;;) {
		if (cap - n < 4097) {
			size_t ncap = cap == 0 ? 8192 : cap * 2;
			char *nd;
			if (ncap > (64u << 20)) {
				fclose(f);
				free(data);
				return -EFBIG;
			}
			nd = realloc(data, ncap);
			if (nd == NULL) {
				fclose(f);
				free(data);
				return -ENOMEM;
			}
			data = nd;
			cap = ncap;
		}
		size_t r = fread(data + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno != 0 ? errno : EIO;
		fclose(f);
		free(data);
		return -e;
	}
	fclose(f);
	data[n] = '\0';
	*out = data;
	*len = n;
	return 0;
}

/* Reads path (default_path when NULL; a missing default is not an error). */
static int read_conf_file(const char *path, const char *default_path, char **text, size_t *len,
                          const char **fname, char *err, size_t errlen)
{
	int rc;
	*fname = path != NULL ? path : default_path;
	rc = sv_conf_read_file(*fname, text, len);
	if (rc == -ENOENT && path == NULL)
		return 0; /* *text stays NULL */
	if (rc != 0) {
		set_err(err, errlen, "%s: cannot read: %s", *fname, sv_strerror(rc));
		return SV_E_CONFIG;
	}
	return 0;
}

/* ------------------------------------------------------------ program tables */

#define K(sec, nm, ty, st, fld, mn, mx, df, fl, ch, hl)                \
	{                                                              \
		sec, nm, ty, offsetof(st, fld), mn, mx, df, fl, ch, hl \
	}

#define S struct sv_server_conf
const struct sv_conf_key sv_server_conf_keys[] = {
    K(NULL, "SIPVAULT_LISTEN_TCP", SV_CONF_LISTEN, S, listen_tcp, 0, 0, ":9060", 0, NULL,
      "agent listener (TCP), [host]:port; IPv6 as [::1]:9060"),
    K(NULL, "SIPVAULT_LISTEN_HEP", SV_CONF_LISTEN, S, listen_hep, 0, 0, ":9060", 0, NULL,
      "HEP v3 listener (UDP), [host]:port"),
    K(NULL, "SIPVAULT_S3_ENDPOINT", SV_CONF_URL, S, s3_endpoint, 0, 0, NULL, 0, NULL,
      "S3/R2 endpoint URL; unset: local object store under SIPVAULT_DATA_DIR/objects"),
    K(NULL, "SIPVAULT_S3_REGION", SV_CONF_STRING, S, s3_region, 0, 0, "auto", 0, NULL,
      "SigV4 region"),
    K(NULL, "SIPVAULT_S3_ACCESS_KEY", SV_CONF_STRING, S, s3_access_key, 0, 0, NULL, 0, NULL,
      "S3 access key id (required with an endpoint)"),
    K(NULL, "SIPVAULT_S3_SECRET_KEY", SV_CONF_STRING, S, s3_secret_key, 0, 0, NULL,
      SV_CONF_F_SECRET, NULL, "S3 secret key (required with an endpoint)"),
    K(NULL, "SIPVAULT_CUSTOMERS", SV_CONF_CUSTOMERS, S, customers, 0, 0, NULL,
      SV_CONF_F_REQUIRED | SV_CONF_F_SECRET, NULL,
      "JSON array of {\"id\",\"token\",\"bucket\",\"hep_sources\":[CIDR...]}"),
    K(NULL, "SIPVAULT_LOG_LEVEL", SV_CONF_LOGLEVEL, S, log_level, 0, 0, "info", 0, NULL,
      "debug, info, warn or error"),
    K(NULL, "SIPVAULT_DATA_DIR", SV_CONF_PATH, S, data_dir, 0, 0, "/var/lib/sipvault",
      SV_CONF_F_REQUIRED, NULL, "local object store (objects/) and durable spool (spool/)"),
    K(NULL, "SIPVAULT_PENDING_TIMEOUT", SV_CONF_SECONDS, S, pending_timeout, 1, 86400, "300", 0,
      NULL, "seconds a PENDING session waits for its INVITE to be answered"),
    K(NULL, "SIPVAULT_ACTIVE_TIMEOUT", SV_CONF_SECONDS, S, active_timeout, 1, 604800, "1800", 0,
      NULL, "seconds of inactivity after which an ACTIVE session ends"),
    K(NULL, "SIPVAULT_CLOSING_GRACE", SV_CONF_SECONDS, S, closing_grace, 0, 3600, "5", 0, NULL,
      "seconds in CLOSING after BYE, CANCEL or a final failure"),
    K(NULL, "SIPVAULT_LOG_FLUSH", SV_CONF_SECONDS, S, log_flush, 1, 3600, "60", 0, NULL,
      "seconds between log chunk flushes of an ACTIVE call"),
    K(NULL, "SIPVAULT_METRICS_LISTEN", SV_CONF_LISTEN, S, metrics_listen, 0, 0, "off",
      SV_CONF_F_OFF, NULL, "host:port serving Prometheus metrics at /metrics, or off"),
};
const size_t sv_server_conf_nkeys = sizeof(sv_server_conf_keys) / sizeof(sv_server_conf_keys[0]);
#undef S

#define S struct sv_api_conf
const struct sv_conf_key sv_api_conf_keys[] = {
    K(NULL, "SIPVAULT_API_LISTEN", SV_CONF_LISTEN, S, listen, 0, 0, "127.0.0.1:8000", 0, NULL,
      "HTTP listener (behind nginx), [host]:port"),
    K(NULL, "SIPVAULT_CUSTOMERS", SV_CONF_CUSTOMERS, S, customers, 0, 0, NULL,
      SV_CONF_F_REQUIRED | SV_CONF_F_SECRET, NULL, "same JSON as the server's; id -> bucket"),
    K(NULL, "SIPVAULT_DATA_DIR", SV_CONF_PATH, S, data_dir, 0, 0, "/var/lib/sipvault",
      SV_CONF_F_REQUIRED, NULL, "local object store, used when no S3 endpoint is set"),
    K(NULL, "SIPVAULT_S3_ENDPOINT", SV_CONF_URL, S, s3_endpoint, 0, 0, NULL, 0, NULL,
      "S3/R2 endpoint URL; unset: local object store"),
    K(NULL, "SIPVAULT_S3_REGION", SV_CONF_STRING, S, s3_region, 0, 0, "auto", 0, NULL,
      "SigV4 region"),
    K(NULL, "SIPVAULT_S3_ACCESS_KEY", SV_CONF_STRING, S, s3_access_key, 0, 0, NULL, 0, NULL,
      "S3 access key id (required with an endpoint)"),
    K(NULL, "SIPVAULT_S3_SECRET_KEY", SV_CONF_STRING, S, s3_secret_key, 0, 0, NULL,
      SV_CONF_F_SECRET, NULL, "S3 secret key (required with an endpoint)"),
    K(NULL, "SIPVAULT_HMAC_SECRET", SV_CONF_STRING, S, hmac_secret, 0, 0, NULL,
      SV_CONF_F_REQUIRED | SV_CONF_F_SECRET, NULL, "key of the deep-link HMAC-SHA256"),
    K(NULL, "SIPVAULT_HMAC_MAX_AGE", SV_CONF_SECONDS, S, hmac_max_age, 1, 31536000, "86400", 0,
      NULL, "seconds a signed link stays valid after its ts"),
    K(NULL, "SIPVAULT_AI_PROVIDER", SV_CONF_ENUM, S, ai_provider, 0, 0, "auto", 0,
      "auto|sippulse|anthropic|none",
      "chat provider; auto: sippulse if SIPPULSE_API_KEY, else anthropic if ANTHROPIC_API_KEY"),
    K(NULL, "SIPVAULT_AI_MODEL", SV_CONF_STRING, S, ai_model, 0, 0, NULL, 0, NULL,
      "model name sent to the provider; unset: the API's built-in default for it"),
    K(NULL, "SIPPULSE_API_KEY", SV_CONF_STRING, S, sippulse_api_key, 0, 0, NULL, SV_CONF_F_SECRET,
      NULL, "SipPulse key (Authorization: Bearer)"),
    K(NULL, "SIPPULSE_BASE_URL", SV_CONF_URL, S, sippulse_base_url, 0, 0,
      "https://api.sippulse.ai/v1", 0, NULL,
      "OpenAI-compatible base URL; /chat/completions is appended"),
    K(NULL, "ANTHROPIC_API_KEY", SV_CONF_STRING, S, anthropic_api_key, 0, 0, NULL, SV_CONF_F_SECRET,
      NULL, "Anthropic key (x-api-key)"),
    K(NULL, "ANTHROPIC_BASE_URL", SV_CONF_URL, S, anthropic_base_url, 0, 0,
      "https://api.anthropic.com", 0, NULL, "Anthropic base URL; /v1/messages is appended"),
    K(NULL, "SIPVAULT_LOG_LEVEL", SV_CONF_LOGLEVEL, S, log_level, 0, 0, "info", 0, NULL,
      "debug, info, warn or error"),
};
const size_t sv_api_conf_nkeys = sizeof(sv_api_conf_keys) / sizeof(sv_api_conf_keys[0]);
#undef S

#define S struct sv_agent_conf
const struct sv_conf_key sv_agent_conf_keys[] = {
    K("server", "address", SV_CONF_HOSTPORT, S, server, 0, 0, NULL, SV_CONF_F_REQUIRED, NULL,
      "sipvault-server agent listener, host:port ([v6]:port)"),
    K("server", "customer_id", SV_CONF_STRING, S, customer_id, 0, 0, NULL, SV_CONF_F_REQUIRED, NULL,
      "this platform's customer id (A-Z a-z 0-9 . _ -)"),
    K("server", "token", SV_CONF_STRING, S, token, 0, 0, NULL,
      SV_CONF_F_REQUIRED | SV_CONF_F_SECRET, NULL, "the customer's token"),
    K("server", "tls", SV_CONF_BOOL, S, tls, 0, 0, "off", 0, NULL,
      "connect to the server over TLS"),
    K("server", "ca_file", SV_CONF_PATH, S, ca_file, 0, 0, NULL, 0, NULL,
      "PEM CA bundle to verify the server (tls = on); unset: the system store"),
    K("server", "heartbeat_interval", SV_CONF_SECONDS, S, heartbeat_interval, 1, 3600, "30", 0,
      NULL, "seconds between HEARTBEATs to the server"),
    K("server", "rx_timeout", SV_CONF_SECONDS, S, rx_timeout, 2, 86400, "90", 0, NULL,
      "reconnect after this long without a byte from the server (> heartbeat_interval)"),
    K("server", "handshake_timeout", SV_CONF_SECONDS, S, handshake_timeout, 1, 3600, "5", 0, NULL,
      "reconnect when the server does not answer the HANDSHAKE within this"),
    K("server", "stats_interval", SV_CONF_SECONDS, S, stats_interval, 1, 86400, "30", 0, NULL,
      "seconds between AGENT_STATS reports (when the server accepts \"stats\")"),
    K("capture", "mode", SV_CONF_ENUM, S, mode, 0, 0, "auto", 0, "auto|ebpf|pcap",
      "capture backend; auto tries eBPF, then pcap"),
    K("capture", "sip_ports", SV_CONF_PORTS, S, sip_ports, 1, 65535, "5060", 0, NULL,
      "SIP ports to capture, comma-separated"),
    K("capture", "interface", SV_CONF_STRING, S, interface, 0, 0, NULL, 0, NULL,
      "interface to capture on; unset: the one carrying the default route"),
    K("capture", "log_file", SV_CONF_PATH, S, log_file, 0, 0, NULL, 0, NULL,
      "OpenSIPS log file to tail for per-call lines; unset: disabled"),
    K("capture", "rtp_port_min", SV_CONF_INT, S, rtp_port_min, 1, 65535, "10000", 0, NULL,
      "lowest RTP/RTCP port of the media relay"),
    K("capture", "rtp_port_max", SV_CONF_INT, S, rtp_port_max, 1, 65535, "30000", 0, NULL,
      "highest RTP/RTCP port (>= rtp_port_min)"),
    K("buffer", "path", SV_CONF_PATH, S, buffer_path, 0, 0, "/var/lib/sipvault/buffer.dat",
      SV_CONF_F_REQUIRED, NULL, "disk buffer used while the server is unreachable"),
    K("buffer", "max_size", SV_CONF_SIZE, S, buffer_max_size, 2LL << 20, 1LL << 40, "104857600", 0,
      NULL, "disk buffer size limit in bytes (K, M, G, T suffixes)"),
    K("logging", "level", SV_CONF_LOGLEVEL, S, log_level, 0, 0, "info", 0, NULL,
      "debug, info, warn or error"),
};
const size_t sv_agent_conf_nkeys = sizeof(sv_agent_conf_keys) / sizeof(sv_agent_conf_keys[0]);
#undef S
#undef K

/* ------------------------------------------------------------ server, api */

static int check_s3(const char *endpoint, const char *access, const char *secret, const char *fname,
                    char *err, size_t errlen)
{
	const char *missing = NULL;
	if (endpoint == NULL)
		return 0;
	if (access == NULL)
		missing = "SIPVAULT_S3_ACCESS_KEY";
	else if (secret == NULL)
		missing = "SIPVAULT_S3_SECRET_KEY";
	if (missing == NULL)
		return 0;
	set_err(err, errlen, "%s: %s: required when SIPVAULT_S3_ENDPOINT is set",
	        fname != NULL ? fname : "environment", missing);
	return SV_E_CONFIG;
}

int sv_server_conf_parse(struct sv_server_conf *c, const char *json, size_t len, const char *fname,
                         const char *const *env, char *err, size_t errlen)
{
	int rc;
	memset(c, 0, sizeof(*c));
	if (fname == NULL)
		fname = SV_SERVER_CONF_PATH;
	rc = load_env_json(sv_server_conf_keys, sv_server_conf_nkeys, c, env, json, len, fname, err,
	                   errlen);
	if (rc == 0)
		rc = check_s3(c->s3_endpoint, c->s3_access_key, c->s3_secret_key, fname, err,
		              errlen);
	if (rc != 0)
		sv_server_conf_release(c);
	return rc;
}

int sv_server_conf_load(struct sv_server_conf *c, const char *path, const char *const *env,
                        char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	const char *fname;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = read_conf_file(path, SV_SERVER_CONF_PATH, &text, &len, &fname, err, errlen);
	if (rc != 0)
		return rc;
	rc = sv_server_conf_parse(c, text, len, fname, env, err, errlen);
	if (text != NULL)
		explicit_bzero(text, len);
	free(text);
	return rc;
}

void sv_server_conf_release(struct sv_server_conf *c)
{
	if (c == NULL)
		return;
	sv_conf_release_fields(sv_server_conf_keys, sv_server_conf_nkeys, c);
}

const char *sv_ai_provider_name(int p)
{
	switch (p) {
	case SV_AI_AUTO:
		return "auto";
	case SV_AI_SIPPULSE:
		return "sippulse";
	case SV_AI_ANTHROPIC:
		return "anthropic";
	case SV_AI_NONE:
		return "none";
	}
	return "?";
}

int sv_api_conf_parse(struct sv_api_conf *c, const char *json, size_t len, const char *fname,
                      const char *const *env, char *err, size_t errlen)
{
	int rc;
	memset(c, 0, sizeof(*c));
	if (fname == NULL)
		fname = SV_API_CONF_PATH;
	rc = load_env_json(sv_api_conf_keys, sv_api_conf_nkeys, c, env, json, len, fname, err,
	                   errlen);
	if (rc == 0)
		rc = check_s3(c->s3_endpoint, c->s3_access_key, c->s3_secret_key, fname, err,
		              errlen);
	if (rc == 0) {
		if (c->ai_provider == SV_AI_AUTO)
			c->ai_provider = c->sippulse_api_key != NULL    ? SV_AI_SIPPULSE
			                 : c->anthropic_api_key != NULL ? SV_AI_ANTHROPIC
			                                                : SV_AI_NONE;
		else if (c->ai_provider == SV_AI_SIPPULSE && c->sippulse_api_key == NULL)
			rc = SV_E_CONFIG;
		else if (c->ai_provider == SV_AI_ANTHROPIC && c->anthropic_api_key == NULL)
			rc = SV_E_CONFIG;
		if (rc != 0)
			set_err(err, errlen, "%s: %s: required when SIPVAULT_AI_PROVIDER is %s",
			        fname,
			        c->ai_provider == SV_AI_SIPPULSE ? "SIPPULSE_API_KEY"
			                                         : "ANTHROPIC_API_KEY",
			        sv_ai_provider_name(c->ai_provider));
	}
	if (rc != 0)
		sv_api_conf_release(c);
	return rc;
}

int sv_api_conf_load(struct sv_api_conf *c, const char *path, const char *const *env, char *err,
                     size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	const char *fname;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = read_conf_file(path, SV_API_CONF_PATH, &text, &len, &fname, err, errlen);
	if (rc != 0)
		return rc;
	rc = sv_api_conf_parse(c, text, len, fname, env, err, errlen);
	if (text != NULL)
		explicit_bzero(text, len);
	free(text);
	return rc;
}

void sv_api_conf_release(struct sv_api_conf *c)
{
	if (c == NULL)
		return;
	sv_conf_release_fields(sv_api_conf_keys, sv_api_conf_nkeys, c);
}

/* ------------------------------------------------------------------ agent */

struct ini_ctx {
	const char *p, *end; /* remaining text */
	int line;            /* of the line last handed to inih */
	const char *fname;
	void *base;
	int lines[32]; /* per key of the agent table: line it was set on */
	bool failed;
	bool nomem; /* failed for want of memory */
	char *err;
	size_t errlen;
};

static bool known_section(const char *name, size_t len)
{
	for (size_t i = 0; i < sv_agent_conf_nkeys; i++)
		if (strlen(sv_agent_conf_keys[i].section) == len &&
		    strncmp(sv_agent_conf_keys[i].section, name, len) == 0)
			return true;
	return false;
}

static void ini_fail(struct ini_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ini_fail(struct ini_ctx *x, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (x->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(x->err, x->errlen, "%s:%d: %s", x->fname, x->line, msg);
	x->failed = true;
}

/*
 * inih's reader: hands over one line at a time so that x->line is the line
 * the handler is called for. Leading blanks are dropped (so an indented key
 * is never taken for a continuation line); section headers are checked here
 * because inih does not report sections without keys.
 */
static char *ini_read_line(char *str, int num, void *stream)
{
	struct ini_ctx *x = stream;
	const char *nl, *s;
	size_t n;

	if (x->p >= x->end || num < 2)
		return NULL;
	nl = memchr(x->p, '\n', (size_t)(x->end - x->p));
	n = nl != NULL ? (size_t)(nl - x->p) + 1 : (size_t)(x->end - x->p);
	s = x->p;
	x->p += n;
	x->line++;
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	if (memchr(s, '\0', n) != NULL) {
		ini_fail(x, "NUL byte in line");
		n = 0;
	}
	if (n > (size_t)num - 1) {
		ini_fail(x, "line longer than %d characters", num - 3);
		n = 0;
	}
	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close != NULL && !known_section(s + 1, (size_t)(close - s - 1))) {
			char name[64];
			size_t l = (size_t)(close - s - 1);
			if (l >= sizeof(name))
				l = sizeof(name) - 1;
			memcpy(name, s + 1, l);
			name[l] = '\0';
			char q[96];
			quote(name, q, sizeof(q));
			ini_fail(
			    x, "unknown section %s (expected server, capture, buffer, logging)", q);
		}
	}
	memcpy(str, s, n);
	str[n] = '\0';
	return str;
}

static int ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *x = user;
	const struct sv_conf_key *k;
	char why[1024];
	size_t idx;

	if (x->failed)
		return 1;
	if (section[0] == '\0') {
		ini_fail(x, "%s: key outside any section", name);
		return 0;
	}
	k = sv_conf_find(sv_agent_conf_keys, sv_agent_conf_nkeys, section, name);
	if (k == NULL) {
		if (!known_section(section, strlen(section)))
			ini_fail(x, "unknown section [%s]", section);
		else
			ini_fail(x, "[%s] %s: unknown key", section, name);
		return 0;
	}
	idx = (size_t)(k - sv_agent_conf_keys);
	if (x->lines[idx] != 0) {
		ini_fail(x, "[%s] %s: set twice (first on line %d)", section, name, x->lines[idx]);
		return 0;
	}
	x->lines[idx] = x->line;
	int rc = set_value(k, x->base, value, why, sizeof(why));
	if (rc != 0) {
		x->nomem = rc == -ENOMEM;
		ini_fail(x, "[%s] %s: %s", section, name, x->nomem ? "out of memory" : why);
		return 0;
	}
	return 1;
}

static int agent_line(const struct ini_ctx *x, const char *name)
{
	const struct sv_conf_key *k =
	    sv_conf_find(sv_agent_conf_keys, sv_agent_conf_nkeys, "capture", name);
	if (k == NULL)
		k = sv_conf_find(sv_agent_conf_keys, sv_agent_conf_nkeys, "server", name);
	return k != NULL ? x->lines[k - sv_agent_conf_keys] : 0;
}

static void agent_fail_at(struct ini_ctx *x, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void agent_fail_at(struct ini_ctx *x, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		set_err(x->err, x->errlen, "%s:%d: %s", x->fname, line, msg);
	else
		set_err(x->err, x->errlen, "%s: %s", x->fname, msg);
	x->failed = true;
}

int sv_agent_conf_parse(struct sv_agent_conf *c, const char *text, size_t len, const char *fname,
                        char *err, size_t errlen)
{
	struct ini_ctx x;
	int rc;

	_Static_assert(sizeof(sv_agent_conf_keys) / sizeof(sv_agent_conf_keys[0]) <= 32,
	               "ini_ctx.lines too small");
	memset(c, 0, sizeof(*c));
	memset(&x, 0, sizeof(x));
	x.p = text;
	x.end = text + len;
	x.fname = fname != NULL ? fname : SV_AGENT_CONF_PATH;
	x.base = c;
	x.err = err;
	x.errlen = errlen;
	if ((rc = sv_conf_defaults(sv_agent_conf_keys, sv_agent_conf_nkeys, c)) != 0) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	rc = ini_parse_stream(ini_read_line, &x, ini_handler_cb, &x);
	if (x.failed) {
		rc = x.nomem ? -ENOMEM : SV_E_CONFIG;
		goto out;
	}
	if (rc == -2) {
		set_err(err, errlen, "%s: out of memory", x.fname);
		rc = -ENOMEM;
		goto out;
	}
	if (rc != 0) {
		set_err(err, errlen,
		        "%s:%d: syntax error: expected [section], key = value or a comment",
		        x.fname, rc);
		rc = SV_E_CONFIG;
		goto out;
	}
	for (size_t i = 0; i < sv_agent_conf_nkeys; i++) {
		const struct sv_conf_key *k = &sv_agent_conf_keys[i];
		if ((k->flags & SV_CONF_F_REQUIRED) && !field_is_set(k, c)) {
			agent_fail_at(&x, x.lines[i], "[%s] %s: required, but %s", k->section,
			              k->name, x.lines[i] ? "empty" : "not set");
			rc = SV_E_CONFIG;
			goto out;
		}
		if (k->type == SV_CONF_HOSTPORT && !FIELD(c, k, struct sv_conf_addr)->enabled) {
			agent_fail_at(&x, x.lines[i], "[%s] %s: required, but not set", k->section,
			              k->name);
			rc = SV_E_CONFIG;
			goto out;
		}
	}
	rc = SV_E_CONFIG;
	if (!valid_id(c->customer_id)) {
		char q[96];
		quote(c->customer_id, q, sizeof(q));
		agent_fail_at(
		    &x, agent_line(&x, "customer_id"),
		    "[server] customer_id: must be 1..64 characters of A-Z a-z 0-9 . _ -, "
		    "got %s",
		    q);
		goto out;
	}
	if (c->rtp_port_min > c->rtp_port_max) {
		int l1 = agent_line(&x, "rtp_port_min"), l2 = agent_line(&x, "rtp_port_max");
		agent_fail_at(&x, l1 > l2 ? l1 : l2,
		              "[capture] rtp_port_min: must not exceed rtp_port_max (%lld), got "
		              "\"%lld\"",
		              c->rtp_port_max, c->rtp_port_min);
		goto out;
	}
	if (c->rx_timeout <= c->heartbeat_interval) {
		int l1 = agent_line(&x, "rx_timeout"), l2 = agent_line(&x, "heartbeat_interval");
		agent_fail_at(&x, l1 > l2 ? l1 : l2,
		              "[server] rx_timeout: must exceed heartbeat_interval (%lld s), got "
		              "\"%lld\"",
		              c->heartbeat_interval, c->rx_timeout);
		goto out;
	}
	if (c->ca_file != NULL && !c->tls) {
		agent_fail_at(&x, agent_line(&x, "ca_file"),
		              "[server] ca_file: set, but tls is off (set tls = on or remove it)");
		goto out;
	}
	if (c->interface != NULL) {
		size_t n = strlen(c->interface);
		if (n >= IF_NAMESIZE || strchr(c->interface, '/') != NULL ||
		    strpbrk(c->interface, " \t") != NULL) {
			char q[96];
			quote(c->interface, q, sizeof(q));
			agent_fail_at(
			    &x, agent_line(&x, "interface"),
			    "[capture] interface: not a network interface name (at most %d "
			    "characters, no '/' or blanks), got %s",
			    IF_NAMESIZE - 1, q);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0)
		sv_agent_conf_release(c);
	return rc;
}

int sv_agent_conf_load(struct sv_agent_conf *c, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	if (path == NULL)
		path = SV_AGENT_CONF_PATH;
	rc = sv_conf_read_file(path, &text, &len);
	if (rc != 0) {
		set_err(err, errlen, "%s: cannot read: %s", path, sv_strerror(rc));
		return SV_E_CONFIG;
	}
	rc = sv_agent_conf_parse(c, text, len, path, err, errlen);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

void sv_agent_conf_release(struct sv_agent_conf *c)
{
	if (c == NULL)
		return;
	sv_conf_release_fields(sv_agent_conf_keys, sv_agent_conf_nkeys, c);
}

int sv_conf_default_iface(const char *route_path, const char *route6_path, char *out, size_t len)
{
	char line[512], best[IF_NAMESIZE] = "";
	long best_metric = LONG_MAX;
	FILE *f;

	f = fopen(route_path != NULL ? route_path : "/proc/net/route", "r");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			char ifname[IF_NAMESIZE + 1];
			unsigned long dst, gw, mask;
			unsigned flags;
			long refcnt, use, metric;
			if (sscanf(line, "%16s %lx %lx %x %ld %ld %ld %lx", ifname, &dst, &gw,
			           &flags, &refcnt, &use, &metric, &mask) != 8)
				continue; /* the header line, or junk */
			if (dst != 0 || mask != 0 || !(flags & 0x1) || (flags & 0x200))
				continue; /* not an up, usable default route */
			if (strlen(ifname) >= IF_NAMESIZE || strcmp(ifname, "lo") == 0)
				continue;
			if (metric < best_metric) {
				best_metric = metric;
				memcpy(best, ifname, strlen(ifname) + 1);
			}
		}
		fclose(f);
	}
	if (best[0] == '\0') {
		f = fopen(route6_path != NULL ? route6_path : "/proc/net/ipv6_route", "r");
		if (f != NULL) {
			while (fgets(line, sizeof(line), f) != NULL) {
				char dst[33], src[33], hop[33], ifname[IF_NAMESIZE + 1];
				unsigned dlen, slen, flags;
				unsigned long metric, refcnt, use;
				if (sscanf(line, "%32s %x %32s %x %32s %lx %lx %lx %x %16s", dst,
				           &dlen, src, &slen, hop, &metric, &refcnt, &use, &flags,
				           ifname) != 10)
					continue;
				if (strspn(dst, "0") != 32 || dlen != 0 || !(flags & 0x1) ||
				    (flags & 0x200))
					continue;
				if (strlen(ifname) >= IF_NAMESIZE || strcmp(ifname, "lo") == 0)
					continue;
				if ((long)metric < best_metric || best[0] == '\0') {
					best_metric = (long)metric;
					memcpy(best, ifname, strlen(ifname) + 1);
				}
			}
			fclose(f);
		}
	}
	if (best[0] == '\0')
		return SV_E_NOTFOUND;
	if (strlen(best) >= len)
		return -ENAMETOOLONG;
	memcpy(out, best, strlen(best) + 1);
	return 0;
}

/* ------------------------------------------------------------- retention */

static const char *const ret_names[SV_RET_NTYPES] = {"sip", "rtcp", "quality", "logs"};

const char *sv_ret_type_name(enum sv_ret_type t)
{
	return (unsigned)t < SV_RET_NTYPES ? ret_names[t] : "?";
}

struct yctx {
	yaml_document_t *doc;
	const char *fname;
	char *err;
	size_t errlen;
};

static int yfail(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int yfail(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(y->err, y->errlen, "%s:%zu: %s", y->fname, n->start_mark.line + 1, msg);
	return SV_E_CONFIG;
}

static const char *yscalar(const yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return NULL;
	/* libyaml NUL-terminates scalars; one with an embedded NUL is cut short. */
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return NULL;
	return (const char *)n->data.scalar.value;
}

static bool ynull(const yaml_node_t *n)
{
	const char *s = yscalar(n);
	return s != NULL && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

/* Checks the keys of a mapping are scalars and unique. */
static int ymap_check(struct yctx *y, const yaml_node_t *map, const char *what)
{
	yaml_node_pair_t *p, *q;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
		const char *ks = yscalar(k);
		if (ks == NULL)
			return yfail(y, k != NULL ? k : map, "%s: keys must be plain names", what);
		for (q = map->data.mapping.pairs.start; q < p; q++) {
			const char *qs = yscalar(yaml_document_get_node(y->doc, q->key));
			if (qs != NULL && strcmp(qs, ks) == 0)
				return yfail(y, k, "%s: %s: duplicate key", what, ks);
		}
	}
	return 0;
}

/* A mapping of type -> days into days[] (entries not given are left alone). */
static int ydays(struct yctx *y, const yaml_node_t *map, const char *what, int *days)
{
	yaml_node_pair_t *p;
	int rc;
	if (map == NULL || ynull(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return yfail(y, map, "%s: must be a mapping of sip, rtcp, quality, logs to days",
		             what);
	if ((rc = ymap_check(y, map, what)) != 0)
		return rc;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
		const char *ks = yscalar(k), *vs = yscalar(v);
		size_t t;
		long long d;
		char q[96];
		for (t = 0; t < SV_RET_NTYPES; t++)
			if (strcmp(ks, ret_names[t]) == 0)
				break;
		if (t == SV_RET_NTYPES) {
			quote(ks, q, sizeof(q));
			return yfail(
			    y, k, "%s: %s: unknown data type (expected sip, rtcp, quality, logs)",
			    what, q);
		}
		if (vs != NULL && strcmp(vs, "forever") == 0) {
			days[t] = SV_RET_FOREVER;
			continue;
		}
		if (vs == NULL || parse_ll(vs, &d) != 0 || d < 1 || d > SV_RET_MAX_DAYS) {
			if (vs != NULL)
				quote(vs, q, sizeof(q));
			else
				snprintf(q, sizeof(q), "a %s",
				         v != NULL && v->type == YAML_MAPPING_NODE ? "mapping"
				                                                   : "sequence");
			return yfail(y, v != NULL ? v : k,
			             "%s: %s: must be 1..%d days or \"forever\", got %s", what, ks,
			             SV_RET_MAX_DAYS, q);
		}
		days[t] = (int)d;
	}
	return 0;
}

void sv_retention_conf_release(struct sv_retention_conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_customers; i++)
		free(c->customers[i].customer);
	free(c->customers);
	free(c->fname);
	memset(c, 0, sizeof(*c));
}

static int ret_customers(struct yctx *y, const yaml_node_t *map, struct sv_retention_conf *c)
{
	yaml_node_pair_t *p;
	size_t n;
	int rc;
	if (map == NULL || ynull(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return yfail(y, map, "customers: must be a mapping of customer id to days");
	if ((rc = ymap_check(y, map, "customers")) != 0)
		return rc;
	n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	if (n == 0)
		return 0;
	c->customers = calloc(n, sizeof(*c->customers));
	if (c->customers == NULL)
		return -ENOMEM;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
		const char *id = yscalar(k);
		struct sv_ret_override *o = &c->customers[c->n_customers];
		char what[160], q[96];
		quote(id, q, sizeof(q));
		if (!valid_id(id))
			return yfail(
			    y, k, "customers: %s: not a customer id (1..64 of A-Z a-z 0-9 . _ -)",
			    q);
		o->customer = strdup(id);
		if (o->customer == NULL)
			return -ENOMEM;
		o->line = (int)k->start_mark.line + 1;
		for (size_t t = 0; t < SV_RET_NTYPES; t++)
			o->days[t] = SV_RET_INHERIT;
		c->n_customers++;
		snprintf(what, sizeof(what), "customers: %s", id);
		if ((rc = ydays(y, v, what, o->days)) != 0)
			return rc;
	}
	return 0;
}

int sv_retention_conf_parse(struct sv_retention_conf *c, const char *text, size_t len,
                            const char *fname, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	struct yctx y;
	int rc = 0;
	bool have_doc = false;

	memset(c, 0, sizeof(*c));
	for (size_t t = 0; t < SV_RET_NTYPES; t++)
		c->days[t] = SV_RET_FOREVER;
	if (fname == NULL)
		fname = SV_RETENTION_CONF_PATH;
	c->fname = strdup(fname);
	if (c->fname == NULL)
		return -ENOMEM;
	y.doc = &doc;
	y.fname = fname;
	y.err = err;
	y.errlen = errlen;
	if (memchr(text, '\0', len) != NULL) {
		set_err(err, errlen, "%s: NUL byte in the file", fname);
		sv_retention_conf_release(c);
		return SV_E_CONFIG;
	}
	if (!yaml_parser_initialize(&parser)) {
		sv_retention_conf_release(c);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		set_err(err, errlen, "%s:%zu: YAML syntax error: %s", fname,
		        parser.problem_mark.line + 1,
		        parser.problem != NULL ? parser.problem : "unknown");
		rc = SV_E_CONFIG;
		goto out;
	}
	have_doc = true;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL || ynull(root))
		goto out; /* an empty file: keep everything */
	if (!yaml_parser_load(&parser, &extra)) {
		set_err(err, errlen, "%s:%zu: YAML syntax error: %s", fname,
		        parser.problem_mark.line + 1,
		        parser.problem != NULL ? parser.problem : "unknown");
		rc = SV_E_CONFIG;
		goto out;
	}
	if (yaml_document_get_root_node(&extra) != NULL) {
		rc = yfail(&y, yaml_document_get_root_node(&extra),
		           "only one YAML document allowed");
		yaml_document_delete(&extra);
		goto out;
	}
	yaml_document_delete(&extra);
	if (root->type != YAML_MAPPING_NODE) {
		rc = yfail(&y, root, "the file must be a mapping with defaults: and customers:");
		goto out;
	}
	if ((rc = ymap_check(&y, root, "top level")) != 0)
		goto out;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&doc, p->value);
		const char *ks = yscalar(k);
		if (strcmp(ks, "defaults") == 0) {
			rc = ydays(&y, v, "defaults", c->days);
		} else if (strcmp(ks, "customers") == 0) {
			rc = ret_customers(&y, v, c);
		} else {
			char q[96];
			quote(ks, q, sizeof(q));
			rc = yfail(&y, k, "%s: unknown key (expected defaults, customers)", q);
		}
		if (rc != 0)
			goto out;
	}
out:
	if (rc == -ENOMEM)
		set_err(err, errlen, "%s: out of memory", fname);
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc != 0)
		sv_retention_conf_release(c);
	return rc;
}

int sv_retention_conf_load(struct sv_retention_conf *c, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	if (path == NULL)
		path = SV_RETENTION_CONF_PATH;
	rc = sv_conf_read_file(path, &text, &len);
	if (rc != 0) {
		set_err(err, errlen, "%s: cannot read: %s", path, sv_strerror(rc));
		return SV_E_CONFIG;
	}
	rc = sv_retention_conf_parse(c, text, len, path, err, errlen);
	free(text);
	return rc;
}

int sv_retention_conf_check(const struct sv_retention_conf *c, const struct sv_customers *cs,
                            char *err, size_t errlen)
{
	for (size_t i = 0; i < c->n_customers; i++) {
		if (sv_customers_find_by_id(cs, c->customers[i].customer) == NULL) {
			set_err(err, errlen, "%s:%d: customers: %s: not in SIPVAULT_CUSTOMERS",
			        c->fname != NULL ? c->fname : "retention", c->customers[i].line,
			        c->customers[i].customer);
			return SV_E_CONFIG;
		}
	}
	return 0;
}

int sv_retention_days(const struct sv_retention_conf *c, const char *customer, enum sv_ret_type t)
{
	if (c == NULL || (unsigned)t >= SV_RET_NTYPES)
		return SV_RET_FOREVER;
	for (size_t i = 0; customer != NULL && i < c->n_customers; i++)
		if (strcmp(c->customers[i].customer, customer) == 0 &&
		    c->customers[i].days[t] != SV_RET_INHERIT)
			return c->customers[i].days[t];
	return c->days[t];
}

/* --------------------------------------------------------------- env file */

void sv_envfile_release(struct sv_envfile *ef)
{
	if (ef == NULL)
		return;
	for (size_t i = 0; i < ef->n; i++) {
		free(ef->v[i].key);
		wipe_free(ef->v[i].value);
	}
	free(ef->v);
	ef->v = NULL;
	ef->n = 0;
}

const char *sv_envfile_get(const struct sv_envfile *ef, const char *key, int *line)
{
	if (line != NULL)
		*line = 0;
	if (ef == NULL)
		return NULL;
	for (size_t i = 0; i < ef->n; i++) {
		if (strcmp(ef->v[i].key, key) == 0) {
			if (line != NULL)
				*line = ef->v[i].line;
			return ef->v[i].value;
		}
	}
	return NULL;
}

/* Parses one value (s..e) into out; NULL reason on success. */
static const char *env_value(const char *s, const char *e, struct sv_buf *out)
{
	if (s < e && (*s == '"' || *s == '\'')) {
		char qc = *s++;
		for (;;) {
			if (s >= e)
				return "unterminated quote";
			if (*s == qc) {
				s++;
				break;
			}
			if (qc == '"' && *s == '\\' && s + 1 < e) {
				char n = s[1];
				if (n == 'n') {
					n = '\n';
				} else if (n != '"' && n != '\\' && n != '$' && n != '`') {
					if (sv_buf_put_u8(out, '\\') != 0)
						return "out of memory";
				}
				if (sv_buf_put_u8(out, (uint8_t)n) != 0)
					return "out of memory";
				s += 2;
				continue;
			}
			if (sv_buf_put_u8(out, (uint8_t)*s) != 0)
				return "out of memory";
			s++;
		}
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		if (s < e && *s != '#')
			return "text after the closing quote";
		return NULL;
	}
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (sv_buf_append(out, s, (size_t)(e - s)) != 0)
		return "out of memory";
	return NULL;
}

int sv_envfile_parse(struct sv_envfile *ef, const char *text, size_t len, const char *fname,
                     char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	int line = 0, rc = 0;
	size_t cap = 0;

	memset(ef, 0, sizeof(*ef));
	if (fname == NULL)
		fname = SV_RETENTION_ENV_PATH;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl != NULL ? nl : end, *s = p, *ks, *reason = NULL;
		size_t klen;
		struct sv_buf val;

		size_t llen = (size_t)(e - s);
		p = nl != NULL ? nl + 1 : end;
		line++;
		if (llen > 0 && s[llen - 1] == '\r')
			e = s + --llen;
		if (memchr(s, '\0', llen) != NULL) {
			set_err(err, errlen, "%s:%d: NUL byte in line", fname, line);
			rc = SV_E_CONFIG;
			goto out;
		}
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		if (s == e || *s == '#')
			continue;
		if (e - s > 7 && strncmp(s, "export", 6) == 0 && (s[6] == ' ' || s[6] == '\t')) {
			s += 7;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
		}
		ks = s;
		while (s < e && (isalnum((unsigned char)*s) || *s == '_'))
			s++;
		klen = (size_t)(s - ks);
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		if (klen == 0 || isdigit((unsigned char)*ks) || s >= e || *s != '=' || klen > 128) {
			set_err(err, errlen, "%s:%d: expected KEY=VALUE", fname, line);
			rc = SV_E_CONFIG;
			goto out;
		}
		s++;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		for (size_t i = 0; i < ef->n; i++) {
			if (strlen(ef->v[i].key) == klen && memcmp(ef->v[i].key, ks, klen) == 0) {
				set_err(err, errlen, "%s:%d: %.*s: set twice (first on line %d)",
				        fname, line, (int)klen, ks, ef->v[i].line);
				rc = SV_E_CONFIG;
				goto out;
			}
		}
		sv_buf_init(&val);
		reason = env_value(s, e, &val);
		if (reason == NULL && sv_buf_put_u8(&val, 0) != 0)
			reason = "out of memory";
		if (reason != NULL) {
			if (val.data != NULL)
				explicit_bzero(val.data, val.len);
			sv_buf_release(&val);
			set_err(err, errlen, "%s:%d: %.*s: %s", fname, line, (int)klen, ks, reason);
			rc = strcmp(reason, "out of memory") == 0 ? -ENOMEM : SV_E_CONFIG;
			goto out;
		}
		if (ef->n == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct sv_envfile_entry *nv = realloc(ef->v, ncap * sizeof(*nv));
			if (nv == NULL) {
				explicit_bzero(val.data, val.len);
				sv_buf_release(&val);
				rc = -ENOMEM;
				goto out;
			}
			ef->v = nv;
			cap = ncap;
		}
		struct sv_envfile_entry *ent = &ef->v[ef->n];
		ent->key = strndup(ks, klen);
		ent->value = (char *)val.data; /* transferred */
		ent->line = line;
		if (ent->key == NULL) {
			wipe_free(ent->value);
			rc = -ENOMEM;
			goto out;
		}
		ef->n++;
	}
out:
	if (rc == -ENOMEM)
		set_err(err, errlen, "%s: out of memory", fname);
	if (rc != 0)
		sv_envfile_release(ef);
	return rc;
}

int sv_server_conf_parse_envfile(struct sv_server_conf *c, const char *text, size_t len,
                                 const char *fname, const char *const *env, char *err,
                                 size_t errlen)
{
	struct sv_envfile ef;
	struct src s = {0};
	int rc;

	memset(c, 0, sizeof(*c));
	memset(&ef, 0, sizeof(ef));
	if (fname == NULL)
		fname = SV_RETENTION_ENV_PATH;
	s.fname = fname;
	if (text != NULL) {
		rc = sv_envfile_parse(&ef, text, len, fname, err, errlen);
		if (rc != 0)
			return rc;
		s.ef = &ef;
	}
	rc = load_env_src(sv_server_conf_keys, sv_server_conf_nkeys, c, env, &s, err, errlen);
	if (rc == 0)
		rc = check_s3(c->s3_endpoint, c->s3_access_key, c->s3_secret_key, fname, err,
		              errlen);
	sv_envfile_release(&ef);
	if (rc != 0)
		sv_server_conf_release(c);
	return rc;
}

int sv_server_conf_load_envfile(struct sv_server_conf *c, const char *path, const char *const *env,
                                char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	const char *fname;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = read_conf_file(path, SV_RETENTION_ENV_PATH, &text, &len, &fname, err, errlen);
	if (rc != 0)
		return rc;
	rc = sv_server_conf_parse_envfile(c, text, len, fname, env, err, errlen);
	if (text != NULL)
		explicit_bzero(text, len);
	free(text);
	return rc;
}
