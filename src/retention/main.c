/*
 * sipvault-retention - entry point: flags and configuration.
 *
 * Reads the retention policy (YAML) and the server's variables (environment,
 * then the env file). Exit status: 0 success, 2 usage or configuration
 * error, 1 runtime failure.
 */
#include "ret_conf.h"
#include "srv_conf.h"
#include "base/errors.h"
#include "base/log.h"

#include <getopt.h>
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"env-file", required_argument, NULL, 'e'},
	    {"dry-run", no_argument, NULL, 'd'},
	    {"now", required_argument, NULL, 't'},
	    {"customer", required_argument, NULL, 'u'},
	    {"check", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = SV_RETENTION_CONF_PATH, *env_file = NULL, *customer = NULL;
	struct sv_retention_conf policy;
	struct sv_server_conf server;
	struct tm today;
	char err[1024];
	int c, check = 0, dry_run = 0, rc = 2;

	memset(&today, 0, sizeof(today));
	sv_log_init("sipvault-retention", SV_LOG_INFO);
	while ((c = getopt_long(argc, argv, "c:e:dt:u:nhV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sipvault-retention %s\n", SV_VERSION);
			return 0;
		case 'c':
			config = optarg;
			break;
		case 'e':
			env_file = optarg;
			break;
		case 'd':
			dry_run = 1;
			break;
		case 't':
			if (parse_date(optarg, &today) != 0) {
				fprintf(
				    stderr,
				    "sipvault-retention: --now: expected a date as YYYY-MM-DD, got "
				    "'%s'\n",
				    optarg);
				return 2;
			}
			break;
		case 'u':
			customer = optarg;
			break;
		case 'n':
			check = 1;
			break;
		default:
			fprintf(stderr, "sipvault-retention: try --help\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sipvault-retention: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (sv_retention_conf_load(&policy, config, err, sizeof(err)) != 0) {
		fprintf(stderr, "sipvault-retention: %s\n", err);
		return 2;
	}
	if (sv_server_conf_load_envfile(&server, env_file, (const char *const *)environ, err,
	                                sizeof(err)) != 0) {
		fprintf(stderr, "sipvault-retention: %s\n", err);
		sv_retention_conf_release(&policy);
		return 2;
	}
	if (sv_retention_conf_check(&policy, server.customers, err, sizeof(err)) != 0) {
		fprintf(stderr, "sipvault-retention: %s\n", err);
		goto out;
	}
	if (customer != NULL && sv_customers_find_by_id(server.customers, customer) == NULL) {
		fprintf(stderr,
		        "sipvault-retention: --customer: '%s' is not in SIPVAULT_CUSTOMERS\n",
		        customer);
		goto out;
	}
	if (check) {
		printf("sipvault-retention: configuration OK (%zu customers)\n",
		       server.customers->n);
		rc = 0;
		goto out;
	}
	sv_log_set_level(server.log_level);
	(void)dry_run;
	fprintf(stderr, "sipvault-retention: deleting objects is not implemented yet\n");
	rc = 1;
out:
	sv_server_conf_release(&server);
	sv_retention_conf_release(&policy);
	return rc;
}
