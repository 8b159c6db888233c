/*
 * api_conf.c - sipvault-api's key table and loader (api_conf.h).
 */
#include "api_conf.h"

#include "base/errors.h"

#include <errno.h>
#include <string.h>

#define K(...) SV_CONF_KEY(struct sv_api_conf, NULL, __VA_ARGS__)

const struct sv_conf_key sv_api_conf_keys[] = {
    K("SIPVAULT_API_LISTEN", SV_CONF_LISTEN, listen, 0, 0, "127.0.0.1:8000", 0, NULL,
      "HTTP listener (behind nginx), [host]:port"),
    {NULL, "SIPVAULT_CUSTOMERS", SV_CONF_CUSTOM, offsetof(struct sv_api_conf, customers), 0, 0,
     NULL, SV_CONF_F_SECRET, NULL,
     "same JSON as the server's (id -> bucket); unset: read from SIPVAULT_SERVER_ENV",
     &sv_customers_conf_ops},
    K("SIPVAULT_SERVER_ENV", SV_CONF_PATH, server_env, 0, 0, SV_API_SERVER_ENV, 0, NULL,
      "the server's env file, read for SIPVAULT_CUSTOMERS only when it is unset here"),
    K("SIPVAULT_DATA_DIR", SV_CONF_PATH, data_dir, 0, 0, "/var/lib/sipvault", SV_CONF_F_REQUIRED,
      NULL, "local object store (DATA_DIR/objects), used when no S3 endpoint is set"),
    K("SIPVAULT_S3_ENDPOINT", SV_CONF_URL, s3_endpoint, 0, 0, NULL, 0, NULL,
      "R2/S3 endpoint URL, https://<ACCOUNT_ID>.r2.cloudflarestorage.com; unset: local store"),
    K("SIPVAULT_S3_REGION", SV_CONF_STRING, s3_region, 0, 0, "auto", 0, NULL,
      "S3 region (R2: auto)"),
    K("SIPVAULT_HMAC_SECRET", SV_CONF_STRING, hmac_secret, 0, 0, NULL,
      SV_CONF_F_REQUIRED | SV_CONF_F_SECRET, NULL,
      "HMAC-SHA256 secret of the CDR Viewer deep links (openssl rand -hex 32)"),
    K("SIPVAULT_HMAC_MAX_AGE", SV_CONF_SECONDS, hmac_max_age, 1, 31536000, "3600", 0, NULL,
      "maximum token age in seconds"),
    K("SIPPULSE_API_URL", SV_CONF_URL, sippulse_api_url, 0, 0, "https://api.sippulse.ai/v1", 0,
      NULL, "SipPulse AI API endpoint (OpenAI-compatible) for the chat"),
    K("SIPPULSE_API_KEY", SV_CONF_STRING, sippulse_api_key, 0, 0, NULL, SV_CONF_F_SECRET, NULL,
      "SipPulse AI API key"),
    K("SIPPULSE_AI_MODEL", SV_CONF_STRING, sippulse_model, 0, 0, "glm-4.7", 0, NULL,
      "AI model for the chat analysis (SipPulse)"),
    K("ANTHROPIC_API_KEY", SV_CONF_STRING, anthropic_api_key, 0, 0, NULL, SV_CONF_F_SECRET, NULL,
      "Anthropic API key (alternative AI provider)"),
    K("ANTHROPIC_BASE_URL", SV_CONF_URL, anthropic_base_url, 0, 0, "https://api.anthropic.com", 0,
      NULL, "Anthropic base URL; /v1/messages is appended"),
    K("ANTHROPIC_MODEL", SV_CONF_STRING, anthropic_model, 0, 0, NULL, 0, NULL,
      "Anthropic model; unset: the API's built-in default"),
    K("SIPVAULT_AI_PROVIDER", SV_CONF_ENUM, ai_provider, 0, 0, "auto", 0,
      "auto|sippulse|anthropic|none",
      "chat provider; auto: sippulse if SIPPULSE_API_KEY, else anthropic if ANTHROPIC_API_KEY"),
    K("AWS_ACCESS_KEY_ID", SV_CONF_STRING, s3_access_key, 0, 0, NULL, 0, NULL,
      "R2 access key for reads and pre-signed URLs (required with an endpoint)"),
    K("AWS_SECRET_ACCESS_KEY", SV_CONF_STRING, s3_secret_key, 0, 0, NULL, SV_CONF_F_SECRET, NULL,
      "R2 secret key for reads and pre-signed URLs (required with an endpoint)"),
    K("SIPVAULT_LOG_LEVEL", SV_CONF_LOGLEVEL, log_level, 0, 0, "info", 0, NULL,
      "debug, info, warn or error"),
};
const size_t sv_api_conf_nkeys = sizeof(sv_api_conf_keys) / sizeof(sv_api_conf_keys[0]);
#undef K

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

/* The cross-key rules: S3 keys with an endpoint, the provider's key. */
static int check(struct sv_api_conf *c, const char *fname, char *err, size_t errlen)
{
	const char *missing = NULL;
	if (c->s3_endpoint != NULL && c->s3_access_key == NULL)
		missing = "AWS_ACCESS_KEY_ID";
	else if (c->s3_endpoint != NULL && c->s3_secret_key == NULL)
		missing = "AWS_SECRET_ACCESS_KEY";
	if (missing != NULL) {
		sv_conf_err(err, errlen, "%s: %s: required when SIPVAULT_S3_ENDPOINT is set", fname,
		            missing);
		return SV_E_CONFIG;
	}
	if (c->ai_provider == SV_AI_AUTO)
		c->ai_provider = c->sippulse_api_key != NULL    ? SV_AI_SIPPULSE
		                 : c->anthropic_api_key != NULL ? SV_AI_ANTHROPIC
		                                                : SV_AI_NONE;
	else if (c->ai_provider == SV_AI_SIPPULSE && c->sippulse_api_key == NULL)
		missing = "SIPPULSE_API_KEY";
	else if (c->ai_provider == SV_AI_ANTHROPIC && c->anthropic_api_key == NULL)
		missing = "ANTHROPIC_API_KEY";
	if (missing != NULL) {
		sv_conf_err(err, errlen, "%s: %s: required when SIPVAULT_AI_PROVIDER is %s", fname,
		            missing, sv_ai_provider_name(c->ai_provider));
		return SV_E_CONFIG;
	}
	return 0;
}

int sv_api_conf_parse(struct sv_api_conf *c, const char *text, size_t len, const char *fname,
                      const char *const *env, char *err, size_t errlen)
{
	int rc;
	memset(c, 0, sizeof(*c));
	if (fname == NULL)
		fname = SV_API_CONF_PATH;
	rc = sv_conf_load_env_file(sv_api_conf_keys, sv_api_conf_nkeys, c, env, text, len, fname,
	                           err, errlen);
	if (rc == 0)
		rc = check(c, fname, err, errlen);
	if (rc != 0)
		sv_api_conf_release(c);
	return rc;
}

int sv_api_conf_server_env(struct sv_api_conf *c, const char *text, size_t len, const char *fname,
                           char *err, size_t errlen)
{
	const struct sv_conf_key *k =
	    sv_conf_find(sv_api_conf_keys, sv_api_conf_nkeys, NULL, "SIPVAULT_CUSTOMERS");
	struct sv_envfile ef;
	const char *v = NULL;
	char why[1024];
	int rc, line = 0;

	if (c->customers != NULL)
		return 0;
	if (fname == NULL)
		fname = SV_API_SERVER_ENV;
	memset(&ef, 0, sizeof(ef));
	if (text != NULL) {
		rc = sv_envfile_parse(&ef, text, len, fname, err, errlen);
		if (rc != 0)
			return rc;
		v = sv_envfile_get(&ef, "SIPVAULT_CUSTOMERS", &line);
	}
	if (v == NULL || *v == '\0') {
		sv_conf_err(err, errlen,
		            "SIPVAULT_CUSTOMERS: required, set it in the environment, in the API's "
		            "env file or in the server's %s",
		            fname);
		rc = SV_E_CONFIG;
	} else if ((rc = sv_conf_set(k, c, v, why, sizeof(why))) != 0) {
		sv_conf_err(err, errlen, "%s:%d: SIPVAULT_CUSTOMERS: %s", fname, line, why);
	}
	sv_envfile_release(&ef);
	return rc;
}

struct load_arg {
	struct sv_api_conf *c;
	const char *const *env;
};

static int parse_api_env(void *arg, const char *text, size_t len, const char *fname, char *err,
                         size_t errlen)
{
	struct load_arg *a = arg;
	return sv_api_conf_parse(a->c, text, len, fname, a->env, err, errlen);
}

static int parse_server_env(void *arg, const char *text, size_t len, const char *fname, char *err,
                            size_t errlen)
{
	return sv_api_conf_server_env(arg, text, len, fname, err, errlen);
}

int sv_api_conf_load(struct sv_api_conf *c, const char *path, const char *const *env, char *err,
                     size_t errlen)
{
	struct load_arg a = {c, env};
	int rc;

	memset(c, 0, sizeof(*c));
	rc = sv_conf_load_file(path, SV_API_CONF_PATH, SV_CONF_LOAD_OPTIONAL, parse_api_env, &a,
	                       err, errlen);
	if (rc == 0 && c->customers == NULL) {
		/* An explicitly named server env file (SIPVAULT_SERVER_ENV) must exist too,
		 * unless it is the default one. */
		const char *sp =
		    c->server_env != NULL && strcmp(c->server_env, SV_API_SERVER_ENV) != 0
		        ? c->server_env
		        : NULL;
		rc = sv_conf_load_file(sp, SV_API_SERVER_ENV, SV_CONF_LOAD_OPTIONAL,
		                       parse_server_env, c, err, errlen);
	}
	if (rc != 0)
		sv_api_conf_release(c);
	return rc;
}

void sv_api_conf_release(struct sv_api_conf *c)
{
	if (c == NULL)
		return;
	sv_conf_release_fields(sv_api_conf_keys, sv_api_conf_nkeys, c);
}
