/*
 * customers.h - the customer registry (SIPVAULT_CUSTOMERS).
 *
 * A JSON array of customers, each with an id, the token its agents present
 * and the bucket its calls are written to (optionally the HEP source
 * networks it owns), parsed into struct sv_customers with lookups by id, by
 * token (constant time) and by HEP source address. The server, the API and
 * the retention tool read the same variable; a configuration table names it
 * with type SV_CONF_CUSTOM and ops &sv_customers_conf_ops.
 *
 * Lives in the store layer because a customer's bucket follows the object
 * store's bucket-name rule (sv_objstore_bucket_ok).
 */
#ifndef SV_CUSTOMERS_H
#define SV_CUSTOMERS_H

#include "base/cidr.h"
#include "base/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sv_customer {
	char *id;     /* [A-Za-z0-9._-]+ */
	char *token;  /* secret */
	char *bucket; /* S3 bucket name rules */
	struct sv_cidr *hep_sources;
	size_t n_hep_sources;
	uint8_t token_sha256[32]; /* what token lookups compare */
};

struct sv_customers {
	struct sv_customer *v;
	size_t n;
};

/*
 * Parses and validates a SIPVAULT_CUSTOMERS JSON array:
 *   [{"id":"acme","token":"...","bucket":"acme-calls",
 *     "hep_sources":["10.0.0.0/8","2001:db8::/32"]}]
 * Rules: at least one customer; id non-empty, at most 64 chars of
 * [A-Za-z0-9._-] and not "." or ".."; ids unique; token non-empty, unique;
 * bucket 3..63 chars of [a-z0-9.-] starting and ending with a letter or digit,
 * no "..", not shaped like an IPv4 address; hep_sources optional list of
 * CIDRs (sv_cidr_parse); unknown fields rejected. On error writes e.g.
 * "customer 2 (\"acme\"): bucket: ..." into err. *out is freed with
 * sv_customers_free().
 */
int sv_customers_parse(const char *json, size_t len, struct sv_customers **out, char *err,
                       size_t errlen);
/* Frees (wiping tokens). NULL ok. */
void sv_customers_free(struct sv_customers *cs);
/* Returns the customer with this id or NULL; pointer lives as long as cs. */
const struct sv_customer *sv_customers_find_by_id(const struct sv_customers *cs, const char *id);
/*
 * Returns the customer whose token equals token[0..len) or NULL. Constant
 * time with respect to the secrets: the presented token is hashed (SHA-256)
 * and compared with every customer's token digest using CRYPTO_memcmp, with
 * no early exit, so timing reveals neither which customer matched nor how
 * many leading bytes of any token were right.
 */
const struct sv_customer *sv_customers_find_by_token(const struct sv_customers *cs,
                                                     const char *token, size_t len);
/* Constant-time check of one customer's token (same method). */
bool sv_customer_token_ok(const struct sv_customer *c, const char *token, size_t len);
/*
 * Returns the customer whose hep_sources contain the address (family AF_INET
 * with 4 bytes or AF_INET6 with 16), choosing the longest matching prefix
 * (first customer on a tie), or NULL.
 */
const struct sv_customer *sv_customers_find_by_addr(const struct sv_customers *cs, int family,
                                                    const void *addr);

/* The customer id rule: 1..64 of A-Z a-z 0-9 . _ -, not "." or "..". */
bool sv_customer_id_ok(const char *id);

/*
 * SV_CONF_CUSTOM operations for a struct sv_customers * field: parse is
 * sv_customers_parse, free is sv_customers_free, a JSON file may give the
 * array itself.
 */
extern const struct sv_conf_ops sv_customers_conf_ops;

#endif
