/*
 * sipvault-api - entry point: flags and configuration.
 *
 * Configuration comes from the environment, then the env file (default
 * /etc/sipvault/api.env, which may be missing), then SIPVAULT_CUSTOMERS from
 * the server's env file (api_conf.h). Exit status: 0 success, 2 usage or
 * configuration error, 1 runtime failure.
 */
#include "api.h"
#include "api_conf.h"
#include "chat.h"
#include "ret_conf.h"
#include "vault.h"

#include "base/cli.h"
#include "base/errors.h"
#include "base/log.h"
#include "store/s3.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern char **environ;

/* The guide's longest default retention (quality.json, 30 days). */
#define API_DEFAULT_LOOKBACK_DAYS 30

/* How far back from a link's ts a call is searched: the longest retention
 * configured in the retention file when there is one, else 30 days. */
static int lookback_days(const struct sv_api_conf *conf)
{
	struct sv_retention_conf rc;
	struct stat sb;
	char err[256];
	int best = 0;

	if (stat(SV_RETENTION_CONF_PATH, &sb) != 0 ||
	    sv_retention_conf_load(&rc, SV_RETENTION_CONF_PATH, err, sizeof(err)) != 0)
		return API_DEFAULT_LOOKBACK_DAYS;
	for (size_t i = 0; i < conf->customers->n; i++)
		for (int t = 0; t < SV_RET_NTYPES; t++) {
			int d =
			    sv_retention_days(&rc, conf->customers->v[i].id, (enum sv_ret_type)t);
			if (d == SV_RET_FOREVER)
				d = 366;
			if (d > best)
				best = d;
		}
	sv_retention_conf_release(&rc);
	if (best > 366)
		best = 366;
	return best > 0 ? best : API_DEFAULT_LOOKBACK_DAYS;
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	log_info("signal received, stopping");
	event_base_loopexit(arg, NULL);
}

/* Serves until SIGTERM/SIGINT. 0 or 1. */
static int run(const struct sv_api_conf *conf)
{
	struct event_base *base = NULL;
	struct event *sig_term = NULL, *sig_int = NULL;
	struct sv_s3 *s3 = NULL;
	struct vault *vault = NULL;
	struct chat_engine *chat = NULL;
	struct api *api = NULL;
	struct api_settings set;
	struct chat_conf cc;
	int rc = 1;

	sv_log_route_libs();
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL) {
		log_errx("cannot create the event loop");
		goto out;
	}
	if (conf->s3_endpoint != NULL && conf->s3_endpoint[0] != 0) {
		struct sv_s3_config sc;
		memset(&sc, 0, sizeof(sc));
		sc.endpoint = conf->s3_endpoint;
		sc.region = conf->s3_region;
		sc.access_key = conf->s3_access_key;
		sc.secret_key = conf->s3_secret_key;
		sc.max_attempts = 2;
		sc.timeout_ms = 10000;
		sc.max_response = API_MAX_PCAP_BYTES;
		if (sv_s3_new(base, &sc, &s3) != 0) {
			log_errx("cannot create the S3 client for %s", conf->s3_endpoint);
			goto out;
		}
	}
	if (vault_new(conf->data_dir, s3, API_CACHE_BYTES, &vault) != 0)
		goto out;
	memset(&cc, 0, sizeof(cc));
	cc.sippulse_url = conf->sippulse_api_url;
	cc.sippulse_key = conf->ai_provider == SV_AI_SIPPULSE ? conf->sippulse_api_key : NULL;
	cc.sippulse_model = conf->sippulse_model;
	cc.anthropic_key = conf->ai_provider == SV_AI_ANTHROPIC ? conf->anthropic_api_key : NULL;
	cc.anthropic_url = conf->anthropic_base_url;
	cc.anthropic_model = conf->anthropic_model;
	cc.first_byte_timeout_ms = 30000;
	cc.idle_timeout_ms = 60000;
	if ((chat = chat_engine_new(base, &cc)) == NULL) {
		log_errx("cannot create the chat engine");
		goto out;
	}
	memset(&set, 0, sizeof(set));
	set.listen_host = conf->listen.host[0] != 0 ? conf->listen.host : NULL;
	set.listen_port = conf->listen.port;
	set.customers = conf->customers;
	set.hmac_secret = conf->hmac_secret;
	set.hmac_max_age = conf->hmac_max_age;
	set.lookback_days = lookback_days(conf);
	set.vault = vault;
	set.s3 = s3;
	set.chat = chat;
	if (api_new(base, &set, &api) != 0)
		goto out;
	sig_term = evsignal_new(base, SIGTERM, on_signal, base);
	sig_int = evsignal_new(base, SIGINT, on_signal, base);
	if (sig_term == NULL || sig_int == NULL || event_add(sig_term, NULL) != 0 ||
	    event_add(sig_int, NULL) != 0) {
		log_errx("cannot install signal handlers");
		goto out;
	}
	log_info("listening on %s:%d (%s store, calls searched %d days back)",
	         set.listen_host != NULL ? set.listen_host : "*", api_port(api),
	         s3 != NULL ? "S3" : "local", set.lookback_days);
	if (event_base_dispatch(base) < 0)
		log_errx("event loop failed");
	else
		rc = 0;
out:
	if (sig_term != NULL)
		event_free(sig_term);
	if (sig_int != NULL)
		event_free(sig_int);
	/* S3 first: its pending requests complete (cancelled) while the API can still answer */
	sv_s3_free(s3);
	chat_engine_free(chat);
	api_free(api);
	vault_free(vault);
	if (base != NULL)
		event_base_free(base);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sipvault-api [--config PATH] [--check] [--help] [--version]\n"
	        "\n"
	        "  -c, --config PATH   KEY=VALUE env file (default %s; environment\n"
	        "                      variables override it)\n"
	        "  -n, --check         validate the configuration and exit\n"
	        "  -h, --help          this text\n"
	        "  -V, --version       print the version\n"
	        "\n"
	        "SIPVAULT_CUSTOMERS, when set neither in the environment nor in the env file,\n"
	        "is read from the server's env file SIPVAULT_SERVER_ENV (default %s).\n"
	        "\n"
	        "configuration variables:\n",
	        SV_API_CONF_PATH, SV_API_SERVER_ENV);
	sv_conf_print_help(f, sv_api_conf_keys, sv_api_conf_nkeys);
}

int main(int argc, char **argv)
{
	struct sv_cli cli = {.prog = "sipvault-api", .usage = usage};
	struct sv_api_conf conf;
	char err[1024];
	int rc;

	if ((rc = sv_cli_parse(&cli, argc, argv)) != SV_CLI_RUN)
		return rc;
	if (sv_api_conf_load(&conf, cli.config, (const char *const *)environ, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "sipvault-api: %s\n", err);
		return 2;
	}
	if (cli.check) {
		printf("sipvault-api: configuration OK (%zu customers, AI provider %s)\n",
		       conf.customers->n, sv_ai_provider_name(conf.ai_provider));
		sv_api_conf_release(&conf);
		return 0;
	}
	sv_log_set_level(conf.log_level);
	rc = run(&conf);
	sv_api_conf_release(&conf);
	return rc;
}
