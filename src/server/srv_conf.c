/*
 * srv_conf.c - sipvault-server's key table and loaders (srv_conf.h).
 */
#include "srv_conf.h"

#include "base/errors.h"

#include <string.h>

#define K(...) SV_CONF_KEY(struct sv_server_conf, NULL, __VA_ARGS__)

const struct sv_conf_key sv_server_conf_keys[] = {
    K("SIPVAULT_LISTEN_TCP", SV_CONF_LISTEN, listen_tcp, 0, 0, ":9060", 0, NULL,
      "agent listener (TCP), [host]:port; IPv6 as [::1]:9060"),
    K("SIPVAULT_LISTEN_HEP", SV_CONF_LISTEN, listen_hep, 0, 0, ":9060", 0, NULL,
      "HEP v3 listener (UDP), [host]:port"),
    K("SIPVAULT_S3_ENDPOINT", SV_CONF_URL, s3_endpoint, 0, 0, NULL, 0, NULL,
      "S3/R2 endpoint URL; unset: local object store under SIPVAULT_DATA_DIR/objects"),
    K("SIPVAULT_S3_REGION", SV_CONF_STRING, s3_region, 0, 0, "auto", 0, NULL, "SigV4 region"),
    K("SIPVAULT_S3_ACCESS_KEY", SV_CONF_STRING, s3_access_key, 0, 0, NULL, 0, NULL,
      "S3 access key id (required with an endpoint)"),
    K("SIPVAULT_S3_SECRET_KEY", SV_CONF_STRING, s3_secret_key, 0, 0, NULL, SV_CONF_F_SECRET, NULL,
      "S3 secret key (required with an endpoint)"),
    {NULL, "SIPVAULT_CUSTOMERS", SV_CONF_CUSTOM, offsetof(struct sv_server_conf, customers), 0, 0,
     NULL, SV_CONF_F_REQUIRED | SV_CONF_F_SECRET, NULL,
     "JSON array of {\"id\",\"token\",\"bucket\",\"hep_sources\":[CIDR...]}",
     &sv_customers_conf_ops},
    K("SIPVAULT_LOG_LEVEL", SV_CONF_LOGLEVEL, log_level, 0, 0, "info", 0, NULL,
      "debug, info, warn or error"),
    K("SIPVAULT_DATA_DIR", SV_CONF_PATH, data_dir, 0, 0, "/var/lib/sipvault", SV_CONF_F_REQUIRED,
      NULL, "local object store (objects/) and durable spool (spool/)"),
    K("SIPVAULT_PENDING_TIMEOUT", SV_CONF_SECONDS, pending_timeout, 1, 86400, "300", 0, NULL,
      "seconds a PENDING session waits for its INVITE to be answered"),
    K("SIPVAULT_ACTIVE_TIMEOUT", SV_CONF_SECONDS, active_timeout, 1, 604800, "1800", 0, NULL,
      "seconds of inactivity after which an ACTIVE session ends"),
    K("SIPVAULT_CLOSING_GRACE", SV_CONF_SECONDS, closing_grace, 0, 3600, "5", 0, NULL,
      "seconds in CLOSING after BYE, CANCEL or a final failure"),
    K("SIPVAULT_LOG_FLUSH", SV_CONF_SECONDS, log_flush, 1, 3600, "60", 0, NULL,
      "seconds between log chunk flushes of an ACTIVE call"),
    K("SIPVAULT_METRICS_LISTEN", SV_CONF_LISTEN, metrics_listen, 0, 0, "off", SV_CONF_F_OFF, NULL,
      "host:port serving Prometheus metrics at /metrics, or off"),
};
const size_t sv_server_conf_nkeys = sizeof(sv_server_conf_keys) / sizeof(sv_server_conf_keys[0]);
#undef K

static int check_s3(const struct sv_server_conf *c, const char *fname, char *err, size_t errlen)
{
	const char *missing = NULL;
	if (c->s3_endpoint == NULL)
		return 0;
	if (c->s3_access_key == NULL)
		missing = "SIPVAULT_S3_ACCESS_KEY";
	else if (c->s3_secret_key == NULL)
		missing = "SIPVAULT_S3_SECRET_KEY";
	if (missing == NULL)
		return 0;
	sv_conf_err(err, errlen, "%s: %s: required when SIPVAULT_S3_ENDPOINT is set", fname,
	            missing);
	return SV_E_CONFIG;
}

/* sv_conf_load_env_json or sv_conf_load_env_file: the environment, then a file's text. */
typedef int (*env_loader_fn)(const struct sv_conf_key *keys, size_t n, void *base,
                             const char *const *env, const char *text, size_t len,
                             const char *fname, char *err, size_t errlen);

static int parse_with(env_loader_fn load, const char *default_path, struct sv_server_conf *c,
                      const char *text, size_t len, const char *fname, const char *const *env,
                      char *err, size_t errlen)
{
	int rc;
	memset(c, 0, sizeof(*c));
	if (fname == NULL)
		fname = default_path;
	rc = load(sv_server_conf_keys, sv_server_conf_nkeys, c, env, text, len, fname, err, errlen);
	if (rc == 0)
		rc = check_s3(c, fname, err, errlen);
	if (rc != 0)
		sv_server_conf_release(c);
	return rc;
}

int sv_server_conf_parse(struct sv_server_conf *c, const char *json, size_t len, const char *fname,
                         const char *const *env, char *err, size_t errlen)
{
	return parse_with(sv_conf_load_env_json, SV_SERVER_CONF_PATH, c, json, len, fname, env, err,
	                  errlen);
}

int sv_server_conf_parse_envfile(struct sv_server_conf *c, const char *text, size_t len,
                                 const char *fname, const char *const *env, char *err,
                                 size_t errlen)
{
	return parse_with(sv_conf_load_env_file, SV_SERVER_ENV_PATH, c, text, len, fname, env, err,
	                  errlen);
}

struct load_arg {
	struct sv_server_conf *c;
	const char *const *env;
	env_loader_fn load;
	const char *default_path;
};

static int parse_file(void *arg, const char *text, size_t len, const char *fname, char *err,
                      size_t errlen)
{
	struct load_arg *a = arg;
	return parse_with(a->load, a->default_path, a->c, text, len, fname, a->env, err, errlen);
}

static int load_with(env_loader_fn load, const char *default_path, struct sv_server_conf *c,
                     const char *path, const char *const *env, char *err, size_t errlen)
{
	struct load_arg a = {c, env, load, default_path};
	memset(c, 0, sizeof(*c));
	return sv_conf_load_file(path, default_path, SV_CONF_LOAD_OPTIONAL, parse_file, &a, err,
	                         errlen);
}

int sv_server_conf_load(struct sv_server_conf *c, const char *path, const char *const *env,
                        char *err, size_t errlen)
{
	return load_with(sv_conf_load_env_json, SV_SERVER_CONF_PATH, c, path, env, err, errlen);
}

int sv_server_conf_load_envfile(struct sv_server_conf *c, const char *path, const char *const *env,
                                char *err, size_t errlen)
{
	return load_with(sv_conf_load_env_file, SV_SERVER_ENV_PATH, c, path, env, err, errlen);
}

void sv_server_conf_release(struct sv_server_conf *c)
{
	if (c == NULL)
		return;
	sv_conf_release_fields(sv_server_conf_keys, sv_server_conf_nkeys, c);
}
