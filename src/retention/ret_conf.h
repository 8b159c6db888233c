/*
 * ret_conf.h - sipvault-retention's policy: the YAML file of the
 * configuration guide, /etc/sipvault/retention.yml:
 *
 *   default:
 *     sip_pcap_days: 7         sip.pcap.gz
 *     rtcp_raw_days: 7         rtcp.json.gz
 *     quality_json_days: 30    quality.json
 *     log_chunks_days: 14      log-NNNNNN.gz
 *   customers:
 *     acme:                    per-customer overrides, by customer id
 *       sip_pcap_days: 30
 *
 * A key missing from default: takes the guide's default (7, 7, 30, 14); a
 * key missing from a customer takes the value of default:. Days are integers
 * 1..36500, or "forever" (our extension: never delete). Unknown keys,
 * duplicate keys and wrong shapes are errors naming the key and the line.
 * The server's variables (customers, store) come from srv_conf.h.
 */
#ifndef SV_RET_CONF_H
#define SV_RET_CONF_H

#include "store/customers.h"

#include <stddef.h>

enum sv_ret_type {
	SV_RET_SIP = 0, /* sip.pcap.gz, sip_pcap_days */
	SV_RET_RTCP,    /* rtcp.json.gz, rtcp_raw_days */
	SV_RET_QUALITY, /* quality.json, quality_json_days */
	SV_RET_LOGS,    /* log-NNNNNN.gz, log_chunks_days */
	SV_RET_NTYPES,
};

#define SV_RET_FOREVER  (-1) /* never delete */
#define SV_RET_INHERIT  (-2) /* per-customer: use the default */
#define SV_RET_MAX_DAYS 36500

struct sv_ret_override {
	char *customer;
	int line; /* of the customer's key in the file */
	int days[SV_RET_NTYPES];
};

struct sv_retention_conf {
	int days[SV_RET_NTYPES]; /* default: (7, 7, 30, 14 when not given) */
	struct sv_ret_override *customers;
	size_t n_customers;
	char *fname; /* for errors naming the file later */
};

#define SV_RETENTION_CONF_PATH "/etc/sipvault/retention.yml"

/* Parses the YAML text; fname names it in errors. On error c is released. */
int sv_retention_conf_parse(struct sv_retention_conf *c, const char *text, size_t len,
                            const char *fname, char *err, size_t errlen);
/* Loads the file at path (NULL: the default, which must exist). */
int sv_retention_conf_load(struct sv_retention_conf *c, const char *path, char *err, size_t errlen);
/* Frees the overrides and zeroes c. NULL ok. */
void sv_retention_conf_release(struct sv_retention_conf *c);
/* Every customer override must name a customer of cs; else SV_E_CONFIG + err. */
int sv_retention_conf_check(const struct sv_retention_conf *c, const struct sv_customers *cs,
                            char *err, size_t errlen);
/* Days to keep type t for customer id (override, else default); SV_RET_FOREVER = keep. */
int sv_retention_days(const struct sv_retention_conf *c, const char *customer, enum sv_ret_type t);
/* Short name for summaries: "sip", "rtcp", "quality", "logs". */
const char *sv_ret_type_name(enum sv_ret_type t);
/* The YAML key: "sip_pcap_days", "rtcp_raw_days", "quality_json_days", "log_chunks_days". */
const char *sv_ret_type_key(enum sv_ret_type t);

#endif
