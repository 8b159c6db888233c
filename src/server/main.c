/*
 * sipvault-server - entry point.
 */
#include "log.h"
#include "server.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: sipvault-server [--config PATH] [--check] [--analyze FILE]\n"
	           "                       [--help] [--version]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},  {"check", no_argument, NULL, 'n'},
	    {"analyze", required_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
	};
	const char *analyze = NULL;
	int c;
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
		case 'n':
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sipvault-server: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (analyze != NULL)
		return sv_server_analyze(analyze, stdout);
	fprintf(stderr, "sipvault-server: not implemented yet\n");
	return 1;
}
