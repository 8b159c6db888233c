/*
 * cli.c - the command line every SIP VAULT program shares (cli.h).
 */
#include "base/cli.h"

#include "base/log.h"

#include <string.h>

static const struct option common_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"check", no_argument, NULL, 'n'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
};

#define NCOMMON (sizeof(common_opts) / sizeof(common_opts[0]))

int sv_cli_parse(struct sv_cli *cli, int argc, char **argv)
{
	struct option opts[NCOMMON + SV_CLI_MAX_EXTRA + 1];
	char shortopts[3 * (NCOMMON + SV_CLI_MAX_EXTRA) + 1];
	size_t n = 0, s = 0;
	int c, rc;

	sv_log_init(cli->prog, SV_LOG_INFO);
	for (size_t i = 0; i < NCOMMON; i++)
		opts[n++] = common_opts[i];
	for (size_t i = 0; cli->extra != NULL && cli->extra[i].name != NULL; i++) {
		if (i == SV_CLI_MAX_EXTRA) {
			fprintf(stderr, "%s: too many options\n", cli->prog);
			return 2;
		}
		opts[n++] = cli->extra[i];
	}
	memset(&opts[n], 0, sizeof(opts[n]));
	for (size_t i = 0; i < n; i++) {
		shortopts[s++] = (char)opts[i].val;
		if (opts[i].has_arg == required_argument)
			shortopts[s++] = ':';
	}
	shortopts[s] = '\0';

	cli->check = 0;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cli->usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", cli->prog, SV_VERSION);
			return 0;
		case 'c':
			cli->config = optarg;
			break;
		case 'n':
			cli->check = 1;
			break;
		case '?':
		case ':':
			fprintf(stderr, "%s: try --help\n", cli->prog);
			return 2;
		default:
			if ((rc = cli->on_opt(cli->arg, c, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", cli->prog, argv[optind]);
		return 2;
	}
	return SV_CLI_RUN;
}
