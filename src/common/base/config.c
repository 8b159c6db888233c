/*
 * config.c - the directive-table machinery and the configuration readers
 * (env + JSON, env file, INI, YAML) shared by the four programs. The tables
 * themselves live with their programs (src/PROGRAM/PROGRAM_conf.c).
 */
#include "base/config.h"

#include "base/buf.h"
#include "base/errors.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define FIELD(base, k, type) ((type *)((char *)(base) + (k)->offset))

/* ------------------------------------------------------------ small helpers */

void sv_conf_err(char *err, size_t errlen, const char *fmt, ...)
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

void sv_conf_free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void sv_conf_quote(const char *s, char *out, size_t len)
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

bool sv_conf_has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

const char *sv_conf_getenv(const char *const *env, const char *name)
{
	size_t n = strlen(name);
	if (env == NULL)
		return NULL;
	for (; *env != NULL; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return (*env)[n + 1] != '\0' ? *env + n + 1 : NULL;
	return NULL;
}

int sv_conf_parse_ll(const char *s, long long *out)
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
	int rc = sv_conf_parse_ll(num, &v);
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
	if (sv_conf_parse_ll(colon + 1, &port) != 0 || port < 1 || port > 65535) {
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
	case SV_CONF_CUSTOM:
		return "value";
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
		sv_conf_quote(text, got, sizeof(got));

	switch (k->type) {
	case SV_CONF_STRING:
	case SV_CONF_PATH:
	case SV_CONF_URL: {
		char **f = FIELD(base, k, char *);
		char *dup = NULL;
		if (sv_conf_has_ctl(text)) {
			sv_conf_err(why, whylen, "must not contain control characters, got %s",
			            got);
			return SV_E_CONFIG;
		}
		if (k->type == SV_CONF_PATH && strlen(text) >= PATH_MAX) {
			sv_conf_err(why, whylen, "path longer than %d bytes", PATH_MAX - 1);
			return SV_E_CONFIG;
		}
		if (k->type == SV_CONF_URL && *text != '\0' && !valid_url(text)) {
			sv_conf_err(why, whylen,
			            "must be an http:// or https:// URL with a host, got %s", got);
			return SV_E_CONFIG;
		}
		if (*text != '\0' && (dup = strdup(text)) == NULL)
			return -ENOMEM;
		if (k->flags & SV_CONF_F_SECRET)
			sv_conf_free_secret(*f);
		else
			free(*f);
		*f = dup;
		return 0;
	}
	case SV_CONF_INT:
		rc = sv_conf_parse_ll(text, &v);
		if (rc != 0 || v < k->min || v > k->max) {
			sv_conf_err(why, whylen, "must be %lld..%lld, got %s", k->min, k->max, got);
			return SV_E_CONFIG;
		}
		*FIELD(base, k, long long) = v;
		return 0;
	case SV_CONF_SECONDS: {
		static const long long mult[] = {1, 60, 3600, 86400};
		rc = parse_scaled(text, "smhd", mult, &v);
		if (rc != 0 || v < k->min || v > k->max) {
			sv_conf_err(
			    why, whylen,
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
			sv_conf_err(
			    why, whylen,
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
		sv_conf_err(why, whylen, "must be on/off, true/false, yes/no or 1/0, got %s", got);
		return SV_E_CONFIG;
	}
	case SV_CONF_LOGLEVEL: {
		enum sv_log_level l;
		if (sv_log_level_parse(text, &l) != 0) {
			sv_conf_err(why, whylen, "must be debug, info, warn or error, got %s", got);
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
			sv_conf_err(why, whylen, "%s, got %s", reason, got);
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
		if (sv_conf_parse_ll(lo, &a) != 0 || sv_conf_parse_ll(dash + 1, &b) != 0)
			goto bad_range;
		if (a < k->min || b > k->max || a > b)
			goto bad_range;
		FIELD(base, k, struct sv_conf_port_range)->lo = (uint16_t)a;
		FIELD(base, k, struct sv_conf_port_range)->hi = (uint16_t)b;
		return 0;
	bad_range:
		sv_conf_err(why, whylen, "must be LO-HI with %lld <= LO <= HI <= %lld, got %s",
		            k->min, k->max, got);
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
			if (n == 0 || n >= sizeof(one) || sv_conf_parse_ll(one, &v) != 0 ||
			    v < k->min || v > k->max) {
				sv_conf_err(
				    why, whylen,
				    "must be a comma-separated list of ports %lld..%lld, got %s",
				    k->min, k->max, got);
				return SV_E_CONFIG;
			}
			for (size_t i = 0; i < ps.n; i++) {
				if (ps.port[i] == v) {
					sv_conf_err(why, whylen, "port %lld listed twice in %s", v,
					            got);
					return SV_E_CONFIG;
				}
			}
			if (ps.n == SV_CONF_MAX_PORTS) {
				sv_conf_err(why, whylen, "at most %d ports, got %s",
				            SV_CONF_MAX_PORTS, got);
				return SV_E_CONFIG;
			}
			ps.port[ps.n++] = (uint16_t)v;
			p += n;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '\0')
				break;
			if (*p != ',') {
				sv_conf_err(
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
			sv_conf_err(why, whylen, "must be one of %s, got %s", k->choices, got);
			return SV_E_CONFIG;
		}
		*FIELD(base, k, int) = idx;
		return 0;
	}
	case SV_CONF_CUSTOM: {
		void *nv = NULL;
		void **f = FIELD(base, k, void *);
		if (k->ops == NULL)
			break;
		rc = k->ops->parse(text, strlen(text), &nv, why, whylen);
		if (rc != 0)
			return rc;
		k->ops->free(*f);
		*f = nv;
		return 0;
	}
	}
	sv_conf_err(why, whylen, "unknown key type");
	return SV_E_CONFIG;
}

int sv_conf_set(const struct sv_conf_key *k, void *base, const char *text, char *why, size_t whylen)
{
	if (k == NULL || base == NULL || text == NULL) {
		sv_conf_err(why, whylen, "missing value");
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
				sv_conf_free_secret(*f);
			else
				free(*f);
			*f = NULL;
		} else if (k->type == SV_CONF_CUSTOM && k->ops != NULL) {
			void **f = FIELD(base, k, void *);
			k->ops->free(*f);
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
		case SV_CONF_CUSTOM:
			snprintf(kind, sizeof(kind), "%s",
			         k->ops != NULL ? k->ops->type_name : "value");
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
			sv_conf_err(why, whylen, "must not contain NUL characters");
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
		if (k->type == SV_CONF_CUSTOM && k->ops != NULL && k->ops->json_array)
			return json_dumps(v, JSON_COMPACT);
		break;
	default:
		break;
	}
	sv_conf_err(why, whylen, "must be a string%s",
	            k->type == SV_CONF_CUSTOM && k->ops != NULL && k->ops->json_array
	                ? " or an array"
	                : ", number or boolean");
	return NULL;
}

static bool field_is_set(const struct sv_conf_key *k, void *base)
{
	if (is_string_type(k->type))
		return *FIELD(base, k, char *) != NULL;
	if (k->type == SV_CONF_CUSTOM)
		return *FIELD(base, k, void *) != NULL;
	return true;
}

static int load_env_src(const struct sv_conf_key *keys, size_t n, void *base,
                        const char *const *env, const struct src *s, char *err, size_t errlen)
{
	char why[1024], where[PATH_MAX + 32];
	int rc;

	if ((rc = sv_conf_defaults(keys, n, base)) != 0) {
		sv_conf_err(err, errlen, "out of memory");
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
				sv_conf_quote(key, q, sizeof(q));
				src_where(s, key, where, sizeof(where));
				sv_conf_err(err, errlen, "%s: %s: unknown key", where, q);
				return SV_E_CONFIG;
			}
		}
	}
	if (s->ef != NULL) {
		for (size_t i = 0; i < s->ef->n; i++) {
			if (sv_conf_find(keys, n, NULL, s->ef->v[i].key) == NULL) {
				sv_conf_err(err, errlen, "%s:%d: %s: unknown key", s->fname,
				            s->ef->v[i].line, s->ef->v[i].key);
				return SV_E_CONFIG;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct sv_conf_key *k = &keys[i];
		const char *v = sv_conf_getenv(env, k->name);
		if (v != NULL) {
			rc = set_value(k, base, v, why, sizeof(why));
			if (rc != 0) {
				sv_conf_err(err, errlen, "environment variable %s: %s", k->name,
				            why);
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
			text = json_text(k, jv, why, sizeof(why));
			if (text == NULL) {
				src_where(s, k->name, where, sizeof(where));
				sv_conf_err(err, errlen, "%s: %s: %s", where, k->name, why);
				return SV_E_CONFIG;
			}
			ftext = text;
		} else if (s->ef != NULL) {
			ftext = sv_envfile_get(s->ef, k->name, NULL);
		}
		if (ftext == NULL)
			continue;
		rc = set_value(k, base, ftext, why, sizeof(why));
		sv_conf_free_secret(text);
		if (rc != 0) {
			src_where(s, k->name, where, sizeof(where));
			sv_conf_err(err, errlen, "%s: %s: %s", where, k->name, why);
			return rc;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct sv_conf_key *k = &keys[i];
		if ((k->flags & SV_CONF_F_REQUIRED) && !field_is_set(k, base)) {
			sv_conf_err(err, errlen, "%s: %s: required, set it in the environment%s%s",
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
			sv_conf_err(err, errlen, "%s:%d: invalid JSON: %s", fname, jerr.line,
			            jerr.text);
			return SV_E_CONFIG;
		}
		if (!json_is_object(s.root)) {
			sv_conf_err(err, errlen, "%s:1: the file must hold one JSON object", fname);
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

int sv_conf_load_file(const char *path, const char *default_path, unsigned flags,
                      sv_conf_parse_fn parse, void *arg, char *err, size_t errlen)
{
	const char *fname = path != NULL ? path : default_path;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = sv_conf_read_file(fname, &text, &len);
	if (rc == -ENOENT && path == NULL && (flags & SV_CONF_LOAD_OPTIONAL))
		return parse(arg, NULL, 0, fname, err, errlen);
	if (rc != 0) {
		sv_conf_err(err, errlen, "%s: cannot read: %s", fname, sv_strerror(rc));
		return SV_E_CONFIG;
	}
	rc = parse(arg, text, len, fname, err, errlen);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ INI */

struct ini_ctx {
	const char *p, *end; /* remaining text */
	int line;            /* of the line last handed to inih */
	const char *fname;
	const struct sv_conf_key *keys;
	size_t n;
	void *base;
	int *lines; /* per key: line it was set on */
	bool failed;
	char *err;
	size_t errlen;
};

static bool known_section(const struct ini_ctx *x, const char *name, size_t len)
{
	for (size_t i = 0; i < x->n; i++)
		if (strlen(x->keys[i].section) == len &&
		    strncmp(x->keys[i].section, name, len) == 0)
			return true;
	return false;
}

/* "server, capture, buffer, logging": the table's sections in order. */
static void section_list(const struct ini_ctx *x, char *out, size_t len)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < x->n && o < len; i++) {
		if (i > 0 && strcmp(x->keys[i - 1].section, x->keys[i].section) == 0)
			continue;
		o += (size_t)snprintf(out + o, len - o, "%s%s", o > 0 ? ", " : "",
		                      x->keys[i].section);
	}
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
	sv_conf_err(x->err, x->errlen, "%s:%d: %s", x->fname, x->line, msg);
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
		if (close != NULL && !known_section(x, s + 1, (size_t)(close - s - 1))) {
			char name[64], q[96], list[256];
			size_t l = (size_t)(close - s - 1);
			if (l >= sizeof(name))
				l = sizeof(name) - 1;
			memcpy(name, s + 1, l);
			name[l] = '\0';
			sv_conf_quote(name, q, sizeof(q));
			section_list(x, list, sizeof(list));
			ini_fail(x, "unknown section %s (expected %s)", q, list);
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
	k = sv_conf_find(x->keys, x->n, section, name);
	if (k == NULL) {
		if (!known_section(x, section, strlen(section)))
			ini_fail(x, "unknown section [%s]", section);
		else
			ini_fail(x, "[%s] %s: unknown key", section, name);
		return 0;
	}
	idx = (size_t)(k - x->keys);
	if (x->lines[idx] != 0) {
		ini_fail(x, "[%s] %s: set twice (first on line %d)", section, name, x->lines[idx]);
		return 0;
	}
	x->lines[idx] = x->line;
	if (set_value(k, x->base, value, why, sizeof(why)) != 0) {
		ini_fail(x, "[%s] %s: %s", section, name, why);
		return 0;
	}
	return 1;
}

int sv_conf_parse_ini(const struct sv_conf_key *keys, size_t n, void *base, const char *text,
                      size_t len, const char *fname, int *lines, char *err, size_t errlen)
{
	struct ini_ctx x;
	int rc;

	memset(&x, 0, sizeof(x));
	x.p = text;
	x.end = text + len;
	x.fname = fname != NULL ? fname : "config";
	x.keys = keys;
	x.n = n;
	x.base = base;
	x.err = err;
	x.errlen = errlen;
	x.lines = calloc(n > 0 ? n : 1, sizeof(int));
	if (x.lines == NULL) {
		sv_conf_err(err, errlen, "%s: out of memory", x.fname);
		return -ENOMEM;
	}
	if ((rc = sv_conf_defaults(keys, n, base)) != 0) {
		sv_conf_err(err, errlen, "%s: out of memory", x.fname);
		goto out;
	}
	rc = ini_parse_stream(ini_read_line, &x, ini_handler_cb, &x);
	if (x.failed) {
		rc = SV_E_CONFIG;
		goto out;
	}
	if (rc == -2) {
		sv_conf_err(err, errlen, "%s: out of memory", x.fname);
		rc = -ENOMEM;
		goto out;
	}
	if (rc != 0) {
		sv_conf_err(err, errlen,
		            "%s:%d: syntax error: expected [section], key = value or a comment",
		            x.fname, rc);
		rc = SV_E_CONFIG;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct sv_conf_key *k = &keys[i];
		bool unset = (k->flags & SV_CONF_F_REQUIRED) && !field_is_set(k, base);
		if (k->type == SV_CONF_HOSTPORT && !FIELD(base, k, struct sv_conf_addr)->enabled)
			unset = true;
		if (!unset)
			continue;
		if (x.lines[i] > 0)
			sv_conf_err(err, errlen, "%s:%d: [%s] %s: required, but empty", x.fname,
			            x.lines[i], k->section, k->name);
		else
			sv_conf_err(err, errlen, "%s: [%s] %s: required, but not set", x.fname,
			            k->section, k->name);
		rc = SV_E_CONFIG;
		goto out;
	}
	rc = 0;
out:
	if (lines != NULL)
		memcpy(lines, x.lines, n * sizeof(int));
	free(x.lines);
	return rc;
}

/* ------------------------------------------------------------------ YAML */

struct yctx {
	yaml_document_t *doc;
	const char *fname;
	sv_conf_yaml_leaf_fn leaf;
	void *arg;
	const char *path[SV_CONF_YAML_DEPTH];
	int lines[SV_CONF_YAML_DEPTH];
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
	sv_conf_err(y->err, y->errlen, "%s:%zu: %s", y->fname, n->start_mark.line + 1, msg);
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

/* "customers: acme" for messages about the mapping at path[0..depth). */
static void ypath(const struct yctx *y, size_t depth, char *out, size_t len)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < depth && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i > 0 ? ": " : "", y->path[i]);
}

/* Walks the value node v found at path[0..depth). */
static int ywalk(struct yctx *y, const yaml_node_t *v, size_t depth)
{
	char why[1024], where[256];
	yaml_node_pair_t *p, *q;
	int rc;

	ypath(y, depth, where, sizeof(where));
	if (v != NULL && v->type == YAML_SEQUENCE_NODE && depth == 0)
		return yfail(y, v, "the file must be a mapping");
	if (v != NULL && v->type == YAML_SEQUENCE_NODE)
		return yfail(y, v, "%s: must be a value or a mapping, not a list", where);
	if (v == NULL || v->type != YAML_MAPPING_NODE || ynull(v) ||
	    v->data.mapping.pairs.start == v->data.mapping.pairs.top) {
		const char *val =
		    ynull(v) || v == NULL || v->type == YAML_MAPPING_NODE ? NULL : yscalar(v);
		if (v != NULL && v->type == YAML_SCALAR_NODE && val == NULL && !ynull(v))
			return yfail(y, v, "%s: NUL byte in value", where);
		if (depth == 0)
			return val == NULL ? 0 : yfail(y, v, "the file must be a mapping");
		size_t at = depth - 1;
		why[0] = '\0';
		rc = y->leaf(y->arg, y->path, y->lines, depth, val, &at, why, sizeof(why));
		if (at >= depth)
			at = depth - 1;
		if (rc == SV_E_CONFIG)
			sv_conf_err(y->err, y->errlen, "%s:%d: %s", y->fname, y->lines[at], why);
		return rc;
	}
	if (depth == SV_CONF_YAML_DEPTH)
		return yfail(y, v, "%s: nested too deeply", where);
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
		const char *ks = yscalar(k);
		if (ks == NULL)
			return yfail(y, k != NULL ? k : v, "%s%skeys must be plain names", where,
			             depth > 0 ? ": " : "");
		for (q = v->data.mapping.pairs.start; q < p; q++) {
			const char *qs = yscalar(yaml_document_get_node(y->doc, q->key));
			if (qs != NULL && strcmp(qs, ks) == 0)
				return yfail(y, k, "%s%s%s: duplicate key", where,
				             depth > 0 ? ": " : "", ks);
		}
		y->path[depth] = ks;
		y->lines[depth] = (int)k->start_mark.line + 1;
		if ((rc = ywalk(y, yaml_document_get_node(y->doc, p->value), depth + 1)) != 0)
			return rc;
	}
	return 0;
}

int sv_conf_parse_yaml(const char *text, size_t len, const char *fname, sv_conf_yaml_leaf_fn leaf,
                       void *arg, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	struct yctx y;
	int rc = 0;
	bool have_doc = false;

	memset(&y, 0, sizeof(y));
	y.doc = &doc;
	y.fname = fname != NULL ? fname : "config";
	y.leaf = leaf;
	y.arg = arg;
	y.err = err;
	y.errlen = errlen;
	if (memchr(text, '\0', len) != NULL) {
		sv_conf_err(err, errlen, "%s: NUL byte in the file", y.fname);
		return SV_E_CONFIG;
	}
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		sv_conf_err(err, errlen, "%s:%zu: YAML syntax error: %s", y.fname,
		            parser.problem_mark.line + 1,
		            parser.problem != NULL ? parser.problem : "unknown");
		rc = SV_E_CONFIG;
		goto out;
	}
	have_doc = true;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL || ynull(root))
		goto out; /* an empty file */
	if (!yaml_parser_load(&parser, &extra)) {
		sv_conf_err(err, errlen, "%s:%zu: YAML syntax error: %s", y.fname,
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
	rc = ywalk(&y, root, 0);
out:
	if (rc == -ENOMEM)
		sv_conf_err(err, errlen, "%s: out of memory", y.fname);
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

/* --------------------------------------------------------------- env file */

void sv_envfile_release(struct sv_envfile *ef)
{
	if (ef == NULL)
		return;
	for (size_t i = 0; i < ef->n; i++) {
		free(ef->v[i].key);
		sv_conf_free_secret(ef->v[i].value);
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
		fname = "env file";
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
			sv_conf_err(err, errlen, "%s:%d: NUL byte in line", fname, line);
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
			sv_conf_err(err, errlen, "%s:%d: expected KEY=VALUE", fname, line);
			rc = SV_E_CONFIG;
			goto out;
		}
		s++;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		for (size_t i = 0; i < ef->n; i++) {
			if (strlen(ef->v[i].key) == klen && memcmp(ef->v[i].key, ks, klen) == 0) {
				sv_conf_err(err, errlen,
				            "%s:%d: %.*s: set twice (first on line %d)", fname,
				            line, (int)klen, ks, ef->v[i].line);
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
			sv_conf_err(err, errlen, "%s:%d: %.*s: %s", fname, line, (int)klen, ks,
			            reason);
			rc = SV_E_CONFIG;
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
			sv_conf_free_secret(ent->value);
			rc = -ENOMEM;
			goto out;
		}
		ef->n++;
	}
out:
	if (rc == -ENOMEM)
		sv_conf_err(err, errlen, "%s: out of memory", fname);
	if (rc != 0)
		sv_envfile_release(ef);
	return rc;
}

int sv_conf_load_env_file(const struct sv_conf_key *keys, size_t n, void *base,
                          const char *const *env, const char *text, size_t len, const char *fname,
                          char *err, size_t errlen)
{
	struct sv_envfile ef;
	struct src s = {.fname = fname != NULL ? fname : "env file"};
	int rc;

	memset(&ef, 0, sizeof(ef));
	if (text != NULL) {
		rc = sv_envfile_parse(&ef, text, len, s.fname, err, errlen);
		if (rc != 0)
			return rc;
		s.ef = &ef;
	}
	rc = load_env_src(keys, n, base, env, &s, err, errlen);
	sv_envfile_release(&ef);
	return rc;
}
