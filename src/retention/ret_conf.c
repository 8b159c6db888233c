/*
 * ret_conf.c - sipvault-retention's policy file (ret_conf.h), read with the
 * library's YAML reader (sv_conf_parse_yaml).
 */
#include "ret_conf.h"

#include "base/config.h"
#include "base/errors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const ret_names[SV_RET_NTYPES] = {"sip", "rtcp", "quality", "logs"};
static const char *const ret_keys[SV_RET_NTYPES] = {"sip_pcap_days", "rtcp_raw_days",
                                                    "quality_json_days", "log_chunks_days"};
/* The configuration guide's defaults. */
static const int ret_defaults[SV_RET_NTYPES] = {7, 7, 30, 14};

#define KEY_LIST "sip_pcap_days, rtcp_raw_days, quality_json_days, log_chunks_days"

const char *sv_ret_type_name(enum sv_ret_type t)
{
	return (unsigned)t < SV_RET_NTYPES ? ret_names[t] : "?";
}

const char *sv_ret_type_key(enum sv_ret_type t)
{
	return (unsigned)t < SV_RET_NTYPES ? ret_keys[t] : "?";
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

/* Sets days[t] from "key: value" (what names the mapping for messages). */
static int set_days(const char *what, const char *key, const char *value, size_t extra_depth,
                    int *days, char *why, size_t whylen)
{
	char q[96];
	long long d;
	size_t t;

	for (t = 0; t < SV_RET_NTYPES; t++)
		if (strcmp(key, ret_keys[t]) == 0)
			break;
	if (t == SV_RET_NTYPES) {
		sv_conf_quote(key, q, sizeof(q));
		sv_conf_err(why, whylen, "%s: %s: unknown key (expected %s)", what, q, KEY_LIST);
		return SV_E_CONFIG;
	}
	if (extra_depth == 0 && value != NULL && strcmp(value, "forever") == 0) {
		days[t] = SV_RET_FOREVER;
		return 0;
	}
	if (extra_depth > 0 || value == NULL || sv_conf_parse_ll(value, &d) != 0 || d < 1 ||
	    d > SV_RET_MAX_DAYS) {
		if (extra_depth == 0 && value != NULL)
			sv_conf_quote(value, q, sizeof(q));
		else
			snprintf(q, sizeof(q), "%s", extra_depth > 0 ? "a mapping" : "nothing");
		sv_conf_err(why, whylen, "%s: %s: must be 1..%d days or \"forever\", got %s", what,
		            key, SV_RET_MAX_DAYS, q);
		return SV_E_CONFIG;
	}
	days[t] = (int)d;
	return 0;
}

/* The override of customer id, added when it is the first leaf under it. */
static int override_for(struct sv_retention_conf *c, const char *id, int line,
                        struct sv_ret_override **out, char *why, size_t whylen)
{
	struct sv_ret_override *o;
	char q[96];

	/* The reader rejects duplicate keys, so one customer's leaves are adjacent. */
	if (c->n_customers > 0 && strcmp(c->customers[c->n_customers - 1].customer, id) == 0) {
		*out = &c->customers[c->n_customers - 1];
		return 0;
	}
	if (!sv_customer_id_ok(id)) {
		sv_conf_quote(id, q, sizeof(q));
		sv_conf_err(why, whylen,
		            "customers: %s: not a customer id (1..64 of A-Z a-z 0-9 . _ -)", q);
		return SV_E_CONFIG;
	}
	o = realloc(c->customers, (c->n_customers + 1) * sizeof(*o));
	if (o == NULL)
		return -ENOMEM;
	c->customers = o;
	o = &c->customers[c->n_customers];
	memset(o, 0, sizeof(*o));
	o->customer = strdup(id);
	if (o->customer == NULL)
		return -ENOMEM;
	o->line = line;
	for (size_t t = 0; t < SV_RET_NTYPES; t++)
		o->days[t] = SV_RET_INHERIT;
	c->n_customers++;
	*out = o;
	return 0;
}

static int leaf(void *arg, const char *const *path, const int *lines, size_t depth,
                const char *value, size_t *at, char *why, size_t whylen)
{
	struct sv_retention_conf *c = arg;
	struct sv_ret_override *o;
	char what[160], q[96];
	int rc;

	if (strcmp(path[0], "default") == 0) {
		if (depth == 1) {
			if (value == NULL)
				return 0;
			sv_conf_err(why, whylen, "default: must be a mapping of %s to days",
			            KEY_LIST);
			return SV_E_CONFIG;
		}
		return set_days("default", path[1], value, depth - 2, c->days, why, whylen);
	}
	if (strcmp(path[0], "customers") == 0) {
		if (depth == 1) {
			if (value == NULL)
				return 0;
			sv_conf_err(why, whylen,
			            "customers: must be a mapping of customer id to days");
			return SV_E_CONFIG;
		}
		*at = 1;
		if ((rc = override_for(c, path[1], lines[1], &o, why, whylen)) != 0)
			return rc;
		*at = depth - 1;
		if (depth == 2) {
			if (value == NULL)
				return 0; /* "acme:" alone: everything from default: */
			sv_conf_err(why, whylen, "customers: %s: must be a mapping of %s to days",
			            path[1], KEY_LIST);
			return SV_E_CONFIG;
		}
		snprintf(what, sizeof(what), "customers: %s", path[1]);
		return set_days(what, path[2], value, depth - 3, o->days, why, whylen);
	}
	*at = 0;
	sv_conf_quote(path[0], q, sizeof(q));
	sv_conf_err(why, whylen, "%s: unknown key (expected default, customers)", q);
	return SV_E_CONFIG;
}

int sv_retention_conf_parse(struct sv_retention_conf *c, const char *text, size_t len,
                            const char *fname, char *err, size_t errlen)
{
	int rc;

	memset(c, 0, sizeof(*c));
	memcpy(c->days, ret_defaults, sizeof(c->days));
	if (fname == NULL)
		fname = SV_RETENTION_CONF_PATH;
	c->fname = strdup(fname);
	if (c->fname == NULL)
		rc = -ENOMEM;
	else
		rc = sv_conf_parse_yaml(text, len, fname, leaf, c, err, errlen);
	if (rc == -ENOMEM)
		sv_conf_err(err, errlen, "%s: out of memory", fname);
	if (rc != 0)
		sv_retention_conf_release(c);
	return rc;
}

static int parse_yaml(void *arg, const char *text, size_t len, const char *fname, char *err,
                      size_t errlen)
{
	return sv_retention_conf_parse(arg, text, len, fname, err, errlen);
}

int sv_retention_conf_load(struct sv_retention_conf *c, const char *path, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	return sv_conf_load_file(path, SV_RETENTION_CONF_PATH, 0, parse_yaml, c, err, errlen);
}

int sv_retention_conf_check(const struct sv_retention_conf *c, const struct sv_customers *cs,
                            char *err, size_t errlen)
{
	for (size_t i = 0; i < c->n_customers; i++) {
		if (sv_customers_find_by_id(cs, c->customers[i].customer) == NULL) {
			sv_conf_err(err, errlen, "%s:%d: customers: %s: not in SIPVAULT_CUSTOMERS",
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
