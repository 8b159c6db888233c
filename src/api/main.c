/*
 * sipvault-api - entry point.
 */
#include "log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: sipvault-api [--config PATH] [--check] [--help] [--version]\n");
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
	int c;
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
		case 'n':
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	fprintf(stderr, "sipvault-api: not implemented yet\n");
	return 1;
}
