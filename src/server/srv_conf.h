/*
 * srv_conf.h - sipvault-server's configuration: its key table and loaders.
 *
 * Sources, as the configuration guide says: environment variables, falling
 * back to the JSON object file /etc/sipvault/server.conf (--config names
 * another); a variable in the environment always wins and an empty one
 * counts as unset. systemd loads /etc/sipvault/server.env into the
 * environment (EnvironmentFile=); sipvault-retention reads that env file
 * itself with sv_server_conf_load_envfile(), against this same table.
 */
#ifndef SV_SRV_CONF_H
#define SV_SRV_CONF_H

#include "base/config.h"
#include "base/log.h"
#include "store/customers.h"

#include <stddef.h>

struct sv_server_conf {
	struct sv_conf_addr listen_tcp; /* SIPVAULT_LISTEN_TCP, :9060 */
	struct sv_conf_addr listen_hep; /* SIPVAULT_LISTEN_HEP, :9060 */
	char *s3_endpoint;              /* SIPVAULT_S3_ENDPOINT; NULL: local object store */
	char *s3_region;                /* SIPVAULT_S3_REGION, "auto" */
	char *s3_access_key;            /* SIPVAULT_S3_ACCESS_KEY; set when s3_endpoint is */
	char *s3_secret_key; /* SIPVAULT_S3_SECRET_KEY (secret); set when s3_endpoint is */
	struct sv_customers *customers;     /* SIPVAULT_CUSTOMERS, required */
	enum sv_log_level log_level;        /* SIPVAULT_LOG_LEVEL, info */
	char *data_dir;                     /* SIPVAULT_DATA_DIR, /var/lib/sipvault */
	long long pending_timeout;          /* SIPVAULT_PENDING_TIMEOUT, 300 s */
	long long active_timeout;           /* SIPVAULT_ACTIVE_TIMEOUT, 1800 s */
	long long closing_grace;            /* SIPVAULT_CLOSING_GRACE, 5 s */
	long long log_flush;                /* SIPVAULT_LOG_FLUSH, 60 s */
	struct sv_conf_addr metrics_listen; /* SIPVAULT_METRICS_LISTEN; enabled == false: off */
};

extern const struct sv_conf_key sv_server_conf_keys[];
extern const size_t sv_server_conf_nkeys;

#define SV_SERVER_CONF_PATH "/etc/sipvault/server.conf"
#define SV_SERVER_ENV_PATH  "/etc/sipvault/server.env"

/*
 * Loads the server configuration: env first, then the JSON file at path.
 * path NULL means the default file, which may be missing (environment only);
 * an explicitly named file must exist. Checks that S3 keys are set when an
 * endpoint is. Release with sv_server_conf_release().
 */
int sv_server_conf_load(struct sv_server_conf *c, const char *path, const char *const *env,
                        char *err, size_t errlen);
/* Same from JSON text in memory (json may be NULL). On error c is released. */
int sv_server_conf_parse(struct sv_server_conf *c, const char *json, size_t len, const char *fname,
                         const char *const *env, char *err, size_t errlen);
/*
 * The same variables from the environment first, then the env file at path
 * (NULL = SV_SERVER_ENV_PATH, which may be missing; an explicit one must
 * exist). Keys of the file must be server keys. Used by sipvault-retention.
 */
int sv_server_conf_load_envfile(struct sv_server_conf *c, const char *path, const char *const *env,
                                char *err, size_t errlen);
/* Same with env-file text in memory (text may be NULL). On error c is released. */
int sv_server_conf_parse_envfile(struct sv_server_conf *c, const char *text, size_t len,
                                 const char *fname, const char *const *env, char *err,
                                 size_t errlen);
/* Frees the fields (secrets wiped) and zeroes them. NULL ok. */
void sv_server_conf_release(struct sv_server_conf *c);

#endif
