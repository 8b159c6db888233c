/*
 * customers.c - the customer registry: SIPVAULT_CUSTOMERS parsed and
 * validated, and looked up by id, token (constant time) and HEP source.
 */
#include "store/customers.h"

#include "base/errors.h"
#include "store/objstore.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

bool sv_customer_id_ok(const char *s)
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
	sv_conf_free_secret(c->token);
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
		sv_conf_err(err, errlen, "%s: must be a JSON object", who);
		return SV_E_CONFIG;
	}
	v = json_object_get(o, "id");
	if (json_is_string(v)) {
		sv_conf_quote(json_string_value(v), q, sizeof(q));
		snprintf(who, sizeof(who), "customers[%zu] (id %s)", idx, q);
	}
	json_object_foreach(o, key, v)
	{
		if (strcmp(key, "id") != 0 && strcmp(key, "token") != 0 &&
		    strcmp(key, "bucket") != 0 && strcmp(key, "hep_sources") != 0) {
			sv_conf_quote(key, q, sizeof(q));
			sv_conf_err(
			    err, errlen,
			    "%s: unknown field %s (expected id, token, bucket, hep_sources)", who,
			    q);
			return SV_E_CONFIG;
		}
	}
	static const char *const req[] = {"id", "token", "bucket"};
	const char *val[3];
	for (size_t i = 0; i < 3; i++) {
		v = json_object_get(o, req[i]);
		if (v == NULL) {
			sv_conf_err(err, errlen, "%s: %s: missing", who, req[i]);
			return SV_E_CONFIG;
		}
		if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v))) {
			sv_conf_err(err, errlen, "%s: %s: must be a string", who, req[i]);
			return SV_E_CONFIG;
		}
		val[i] = json_string_value(v);
	}
	sv_conf_quote(val[0], q, sizeof(q));
	if (!sv_customer_id_ok(val[0])) {
		sv_conf_err(err, errlen,
		            "%s: id: must be 1..64 characters of A-Z a-z 0-9 . _ - (not \".\" or "
		            "\"..\"), got %s",
		            who, q);
		return SV_E_CONFIG;
	}
	if (val[1][0] == '\0' || sv_conf_has_ctl(val[1])) {
		sv_conf_err(err, errlen, "%s: token: must be non-empty, without control characters",
		            who);
		return SV_E_CONFIG;
	}
	sv_conf_quote(val[2], q, sizeof(q));
	if (!sv_objstore_bucket_ok(val[2])) {
		sv_conf_err(
		    err, errlen,
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
			sv_conf_err(err, errlen,
			            "%s: hep_sources: must be an array of CIDR strings", who);
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
					sv_conf_quote(json_string_value(e), q, sizeof(q));
				else
					snprintf(q, sizeof(q), "a non-string");
				sv_conf_err(
				    err, errlen,
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
		sv_conf_err(err, errlen, "must be a JSON array of customer objects");
		return SV_E_CONFIG;
	}
	if (json_array_size(arr) == 0) {
		sv_conf_err(err, errlen, "at least one customer is required");
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
			sv_conf_quote(cs->v[i].id, q, sizeof(q));
			if (strcmp(cs->v[j].id, cs->v[i].id) == 0) {
				sv_conf_err(
				    err, errlen,
				    "customers[%zu] (id %s): id: duplicate of customers[%zu]", i, q,
				    j);
				rc = SV_E_CONFIG;
				goto out;
			}
			if (CRYPTO_memcmp(cs->v[j].token_sha256, cs->v[i].token_sha256, 32) == 0) {
				sv_conf_err(
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
		sv_conf_err(err, errlen, "out of memory");
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
		sv_conf_err(err, errlen, "not valid JSON (column %d: %s)", jerr.column, jerr.text);
		return SV_E_CONFIG;
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
static int conf_parse(const char *text, size_t len, void **out, char *why, size_t whylen)
{
	struct sv_customers *cs = NULL;
	int rc = sv_customers_parse(text, len, &cs, why, whylen);
	*out = cs;
	return rc;
}

static void conf_free(void *v)
{
	sv_customers_free(v);
}

const struct sv_conf_ops sv_customers_conf_ops = {
    .type_name = "customers JSON",
    .parse = conf_parse,
    .free = conf_free,
    .json_array = true,
};
