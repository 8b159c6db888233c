/*
 * sipvault-api - entry point: flags and configuration.
 *
 * Configuration comes from the environment, then the env file (default
 * /etc/sipvault/api.env, which may be missing), then SIPVAULT_CUSTOMERS from
 * the server's env file (api_conf.h). Exit status: 0 success, 2 usage or
 * configuration error, 1 runtime failure.
 */
#include "api_conf.h"
#include "base/errors.h"
#include "base/log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

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
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	struct sv_api_conf conf;
	char err[1024];
	int c, check = 0;

	sv_log_init("sipvault-api", SV_LOG_INFO);
	while ((c = getopt_long(argc, argv, "c:nhV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sipvault-api %s\n", SV_VERSION);
			return 0;
		case 'c':
			config = optarg;
			break;
		case 'n':
			check = 1;
			break;
		default:
			fprintf(stderr, "sipvault-api: try --help\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sipvault-api: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (sv_api_conf_load(&conf, config, (const char *const *)environ, err, sizeof(err)) != 0) {
		fprintf(stderr, "sipvault-api: %s\n", err);
		return 2;
	}
	if (check) {
		printf("sipvault-api: configuration OK (%zu customers, AI provider %s)\n",
		       conf.customers->n, sv_ai_provider_name(conf.ai_provider));
		sv_api_conf_release(&conf);
		return 0;
	}
	sv_log_set_level(conf.log_level);
	fprintf(stderr, "sipvault-api: the HTTP API is not implemented yet\n");
	sv_api_conf_release(&conf);
	return 1;
}
