/*
 * api_conf.h - sipvault-api's configuration: its key table and loader.
 *
 * Sources, as the configuration guide's API section says: environment
 * variables, then the env file /etc/sipvault/api.env (KEY=VALUE lines, the
 * file systemd's EnvironmentFile= reads); a variable in the environment
 * always wins and an empty one counts as unset. The guide's variables keep
 * its names and defaults; the contract adds SIPVAULT_API_LISTEN,
 * SIPVAULT_CUSTOMERS, SIPVAULT_DATA_DIR and ANTHROPIC_BASE_URL; the rest are
 * our extensions (docs/configuration.md lists the source of each).
 *
 * Customers: the API needs SIPVAULT_CUSTOMERS (id -> bucket). The guide's
 * api.env does not list it, because on the guide's install the server's
 * /etc/sipvault/server.env already holds it. So it is taken from the
 * environment, else api.env, else the server's env file named by
 * SIPVAULT_SERVER_ENV (default /etc/sipvault/server.env; only that one key is
 * read from it). Set nowhere, loading fails.
 */
#ifndef SV_API_CONF_H
#define SV_API_CONF_H

#include "base/config.h"
#include "base/log.h"
#include "store/customers.h"

#include <stddef.h>

enum sv_ai_provider {
	SV_AI_AUTO = 0, /* sippulse when SIPPULSE_API_KEY is set, else anthropic when
	                   ANTHROPIC_API_KEY is set, else none; resolved at load */
	SV_AI_SIPPULSE = 1,
	SV_AI_ANTHROPIC = 2,
	SV_AI_NONE = 3,
};

/* After a successful load every field below is set unless it says NULL. */
struct sv_api_conf {
	struct sv_conf_addr listen;     /* SIPVAULT_API_LISTEN, 127.0.0.1:8000 */
	struct sv_customers *customers; /* SIPVAULT_CUSTOMERS; id -> bucket (never NULL) */
	char *server_env;               /* SIPVAULT_SERVER_ENV: where customers may come from */
	char *data_dir;                 /* SIPVAULT_DATA_DIR, /var/lib/sipvault: the local
	                                   object store DATA_DIR/objects, used when
	                                   s3_endpoint is NULL */
	char *s3_endpoint;              /* SIPVAULT_S3_ENDPOINT; NULL: local object store */
	char *s3_region;                /* SIPVAULT_S3_REGION, "auto" */
	char *s3_access_key;            /* AWS_ACCESS_KEY_ID; set when s3_endpoint is */
	char *s3_secret_key;         /* AWS_SECRET_ACCESS_KEY (secret); set when s3_endpoint is */
	char *hmac_secret;           /* SIPVAULT_HMAC_SECRET (secret), required */
	long long hmac_max_age;      /* SIPVAULT_HMAC_MAX_AGE, seconds, 3600 */
	int ai_provider;             /* SIPVAULT_AI_PROVIDER: enum sv_ai_provider, never
	                                SV_AI_AUTO after loading; its key is set */
	char *sippulse_api_url;      /* SIPPULSE_API_URL, https://api.sippulse.ai/v1
	                                (OpenAI-compatible; append /chat/completions) */
	char *sippulse_api_key;      /* SIPPULSE_API_KEY (secret); NULL: unset */
	char *sippulse_model;        /* SIPPULSE_AI_MODEL, "glm-4.7" */
	char *anthropic_api_key;     /* ANTHROPIC_API_KEY (secret); NULL: unset */
	char *anthropic_base_url;    /* ANTHROPIC_BASE_URL, https://api.anthropic.com
	                                (append /v1/messages) */
	char *anthropic_model;       /* ANTHROPIC_MODEL; NULL: the API's built-in default */
	enum sv_log_level log_level; /* SIPVAULT_LOG_LEVEL, info */
};

extern const struct sv_conf_key sv_api_conf_keys[];
extern const size_t sv_api_conf_nkeys;

#define SV_API_CONF_PATH  "/etc/sipvault/api.env"
#define SV_API_SERVER_ENV "/etc/sipvault/server.env"

/*
 * Loads the API configuration: the environment env, then the env file at
 * path (NULL: SV_API_CONF_PATH, which may be missing; an explicitly named
 * file must exist), then SIPVAULT_CUSTOMERS from the server's env file when
 * still unset. Release with sv_api_conf_release(), also after an error.
 */
int sv_api_conf_load(struct sv_api_conf *c, const char *path, const char *const *env, char *err,
                     size_t errlen);
/*
 * The first two steps from env-file text in memory (text may be NULL:
 * environment only); customers may stay NULL. Checks the S3 keys and the AI
 * provider. On error c is released.
 */
int sv_api_conf_parse(struct sv_api_conf *c, const char *text, size_t len, const char *fname,
                      const char *const *env, char *err, size_t errlen);
/*
 * The last step: when c->customers is NULL, takes SIPVAULT_CUSTOMERS from the
 * server's env-file text (NULL: missing file; other keys are ignored), then
 * fails unless customers are set. On error c is left as it was.
 */
int sv_api_conf_server_env(struct sv_api_conf *c, const char *text, size_t len, const char *fname,
                           char *err, size_t errlen);
/* Frees the fields (secrets wiped) and zeroes them. NULL ok. */
void sv_api_conf_release(struct sv_api_conf *c);
/* "auto", "sippulse", "anthropic", "none". */
const char *sv_ai_provider_name(int p);

#endif
