/*
 * sipvault-retention - entry point: flags and configuration.
 *
 * Reads the retention policy (YAML) and the server's variables (environment,
 * then the env file). Exit status: 0 success, 2 usage or configuration
 * error, 1 runtime failure.
 */
#include "ret_conf.h"
#include "srv_conf.h"
#include "base/cli.h"
#include "base/errors.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char **environ;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sipvault-retention [--config PATH] [--env-file PATH] [--dry-run]\n"
	        "                          [--now YYYY-MM-DD] [--customer ID] [--check]\n"
	        "                          [--help] [--version]\n"
	        "\n"
	        "  -c, --config PATH    retention policy, YAML (default %s)\n"
	        "  -e, --env-file PATH  the server's variables, KEY=VALUE lines (default %s;\n"
	        "                       variables in the environment override it)\n"
	        "  -d, --dry-run        print what would be deleted, delete nothing\n"
	        "  -t, --now DATE       take DATE (UTC, YYYY-MM-DD) as today\n"
	        "  -u, --customer ID    only this customer\n"
	        "  -n, --check          validate the configuration and exit\n"
	        "  -h, --help           this text\n"
	        "  -V, --version        print the version\n"
	        "\n"
	        "policy file (the configuration guide's format):\n"
	        "  default:                days to keep each data type (1..%d or forever)\n"
	        "    sip_pcap_days: 7      sip.pcap.gz\n"
	        "    rtcp_raw_days: 7      rtcp.json.gz\n"
	        "    quality_json_days: 30 quality.json\n"
	        "    log_chunks_days: 14   log-NNNNNN.gz\n"
	        "  customers:              per-customer overrides of any of the above\n"
	        "    acme:\n"
	        "      sip_pcap_days: 30\n"
	        "  A key given nowhere takes the default shown.\n",
	        SV_RETENTION_CONF_PATH, SV_SERVER_ENV_PATH, SV_RET_MAX_DAYS);
}

/* Strict YYYY-MM-DD with a real calendar date. */
static int parse_date(const char *s, struct tm *out)
{
	struct tm tm;
	const char *end;
	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 10)
		return -1;
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	struct tm check = tm;
	time_t t = timegm(&check);
	if (t == (time_t)-1 || check.tm_mday != tm.tm_mday || check.tm_mon != tm.tm_mon)
		return -1;
	*out = tm;
	return 0;
}

/* The options of sipvault-retention's own, filled by ret_opt(). */
struct ret_opts {
	const char *env_file, *customer;
	struct tm today;
	int dry_run;
};

static int ret_opt(void *arg, int c, const char *val)
{
	struct ret_opts *o = arg;
	switch (c) {
	case 'e':
		o->env_file = val;
		break;
	case 'd':
		o->dry_run = 1;
		break;
	case 't':
		if (parse_date(val, &o->today) != 0) {
			fprintf(
			    stderr,
			    "sipvault-retention: --now: expected a date as YYYY-MM-DD, got '%s'\n",
			    val);
			return 2;
		}
		break;
	case 'u':
		o->customer = val;
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option extra[] = {
	    {"env-file", required_argument, NULL, 'e'},
	    {"dry-run", no_argument, NULL, 'd'},
	    {"now", required_argument, NULL, 't'},
	    {"customer", required_argument, NULL, 'u'},
	    {NULL, 0, NULL, 0},
	};
	struct ret_opts o;
	struct sv_cli cli = {.prog = "sipvault-retention",
	                     .usage = usage,
	                     .extra = extra,
	                     .on_opt = ret_opt,
	                     .arg = &o,
	                     .config = SV_RETENTION_CONF_PATH};
	struct sv_retention_conf policy;
	struct sv_server_conf server;
	char err[1024];
	int rc = 2;

	memset(&o, 0, sizeof(o));
	if ((rc = sv_cli_parse(&cli, argc, argv)) != SV_CLI_RUN)
		return rc;
	rc = 2;
	if (sv_retention_conf_load(&policy, cli.config, err, sizeof(err)) != 0) {
		fprintf(stderr, "sipvault-retention: %s\n", err);
		return 2;
	}
	if (sv_server_conf_load_envfile(&server, o.env_file, (const char *const *)environ, err,
	                                sizeof(err)) != 0) {
		fprintf(stderr, "sipvault-retention: %s\n", err);
		sv_retention_conf_release(&policy);
		return 2;
	}
	if (sv_retention_conf_check(&policy, server.customers, err, sizeof(err)) != 0) {
		fprintf(stderr, "sipvault-retention: %s\n", err);
		goto out;
	}
	if (o.customer != NULL && sv_customers_find_by_id(server.customers, o.customer) == NULL) {
		fprintf(stderr,
		        "sipvault-retention: --customer: '%s' is not in SIPVAULT_CUSTOMERS\n",
		        o.customer);
		goto out;
	}
	if (cli.check) {
		printf("sipvault-retention: configuration OK (%zu customers)\n",
		       server.customers->n);
		rc = 0;
		goto out;
	}
	sv_log_set_level(server.log_level);
	(void)o.dry_run;
	fprintf(stderr, "sipvault-retention: deleting objects is not implemented yet\n");
	rc = 1;
out:
	sv_server_conf_release(&server);
	sv_retention_conf_release(&policy);
	return rc;
}
