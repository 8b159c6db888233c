/*
 * sipvault-agent - entry point: flags and configuration.
 *
 * Exit status: 0 success, 2 usage or configuration error (one line on
 * stderr naming file, line and key), 1 runtime failure.
 */
#include "config.h"
#include "errors.h"
#include "log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sipvault-agent [--config PATH] [--read FILE.pcap] [--check]\n"
	        "                      [--help] [--version]\n"
	        "\n"
	        "  -c, --config PATH   INI configuration (default %s)\n"
	        "  -r, --read FILE     capture from a pcap/pcapng file instead of the network\n"
	        "  -n, --check         validate the configuration and exit\n"
	        "  -h, --help          this text\n"
	        "  -V, --version       print the version\n"
	        "\n"
	        "configuration keys:\n",
	        SV_AGENT_CONF_PATH);
	sv_conf_print_help(f, sv_agent_conf_keys, sv_agent_conf_nkeys);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"read", required_argument, NULL, 'r'},
	    {"check", no_argument, NULL, 'n'},        {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
	};
	const char *config = SV_AGENT_CONF_PATH, *read_file = NULL;
	struct sv_agent_conf conf;
	char err[1024];
	int c, check = 0;

	sv_log_init("sipvault-agent", SV_LOG_INFO);
	while ((c = getopt_long(argc, argv, "c:r:nhV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sipvault-agent %s\n", SV_VERSION);
			return 0;
		case 'c':
			config = optarg;
			break;
		case 'r':
			read_file = optarg;
			break;
		case 'n':
			check = 1;
			break;
		default:
			fprintf(stderr, "sipvault-agent: try --help\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sipvault-agent: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (sv_agent_conf_load(&conf, config, err, sizeof(err)) != 0) {
		fprintf(stderr, "sipvault-agent: %s\n", err);
		return 2;
	}
	if (check) {
		printf("sipvault-agent: %s: configuration OK\n", config);
		sv_agent_conf_release(&conf);
		return 0;
	}
	sv_log_set_level(conf.log_level);
	(void)read_file;
	fprintf(stderr, "sipvault-agent: capture is not implemented yet\n");
	sv_agent_conf_release(&conf);
	return 1;
}
