/*
 * sipvault-server - entry point: flags and configuration.
 *
 * Configuration comes from the environment, then the JSON file (default
 * /etc/sipvault/server.conf, which may be missing). Without --check or
 * --analyze the collector runs (srv_core.c) until SIGTERM. Exit status: 0
 * success, 2 usage or configuration error, 1 runtime failure.
 */
#include "srv_conf.h"
#include "base/errors.h"
#include "base/log.h"
#include "server.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sipvault-server [--config PATH] [--check] [--analyze FILE]\n"
	        "                       [--help] [--version]\n"
	        "\n"
	        "  -c, --config PATH   JSON configuration file (default %s; environment\n"
	        "                      variables override it)\n"
	        "  -n, --check         validate the configuration and exit\n"
	        "  -a, --analyze FILE  write the quality.json of an rtcp.json[.gz] to stdout\n"
	        "  -h, --help          this text\n"
	        "  -V, --version       print the version\n"
	        "\n"
	        "configuration variables:\n",
	        SV_SERVER_CONF_PATH);
	sv_conf_print_help(f, sv_server_conf_keys, sv_server_conf_nkeys);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},  {"check", no_argument, NULL, 'n'},
	    {"analyze", required_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
	};
	const char *analyze = NULL, *config = NULL;
	struct sv_server_conf conf;
	char err[1024];
	int c, check = 0;

	sv_log_init("sipvault-server", SV_LOG_INFO);
	while ((c = getopt_long(argc, argv, "c:nha:V", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sipvault-server %s\n", SV_VERSION);
			return 0;
		case 'a':
			analyze = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'n':
			check = 1;
			break;
		default:
			fprintf(stderr, "sipvault-server: try --help\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sipvault-server: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	/* --analyze needs no configuration: nothing is listened on. */
	if (analyze != NULL)
		return sv_server_analyze(analyze, stdout);
	if (sv_server_conf_load(&conf, config, (const char *const *)environ, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "sipvault-server: %s\n", err);
		return 2;
	}
	if (check) {
		printf("sipvault-server: configuration OK (%zu customers)\n", conf.customers->n);
		sv_server_conf_release(&conf);
		return 0;
	}
	sv_log_set_level(conf.log_level);
	c = sv_server_run(&conf, config);
	sv_server_conf_release(&conf);
	return c;
}
