/*
 * cli.h - the command line every SIP VAULT program shares.
 *
 * Every program takes -c/--config PATH, -n/--check, -h/--help and
 * -V/--version, plus options of its own. sv_cli_parse() sets up the logger,
 * reads argv with getopt_long, answers --help and --version, hands the
 * program's own options to its callback and refuses stray arguments:
 *
 *	static const struct option extra[] = {
 *	    {"read", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0},
 *	};
 *	struct sv_cli cli = {.prog = "sipvault-agent", .usage = usage,
 *	                     .extra = extra, .on_opt = on_opt, .arg = &read_file,
 *	                     .config = SV_AGENT_CONF_PATH};
 *	if ((rc = sv_cli_parse(&cli, argc, argv)) != SV_CLI_RUN)
 *		return rc;
 *
 * Exit statuses follow every program's convention: 0 success, 2 usage error.
 */
#ifndef SV_CLI_H
#define SV_CLI_H

#include <getopt.h>
#include <stdio.h>

/* sv_cli_parse(): carry on and run (any other value is the exit status). */
#define SV_CLI_RUN (-1)

/* The most options of its own a program may add. */
#define SV_CLI_MAX_EXTRA 12

struct sv_cli {
	const char *prog;       /* "sipvault-agent": log name, message prefix (borrowed) */
	void (*usage)(FILE *f); /* prints the --help text */
	/* The program's own options, {NULL, 0, NULL, 0}-terminated (NULL: none). Each
	 * val is the short option's letter. */
	const struct option *extra;
	/* Called for each extra option with its letter and argument (NULL for
	 * no_argument). Returns 0, or an exit status after printing the reason. */
	int (*on_opt)(void *arg, int c, const char *val);
	void *arg;
	/* In: the default; out: -c PATH when given (points into argv). */
	const char *config;
	int check; /* out: -n/--check was given */
};

/*
 * Calls sv_log_init(prog, SV_LOG_INFO), then reads argv. --help prints usage
 * to stdout and --version "PROG VERSION" and both return 0; an unknown option
 * prints "PROG: try --help" and an argument left over "PROG: unexpected
 * argument 'X'" to stderr and return 2; an on_opt status other than 0 is
 * returned as it is. Otherwise returns SV_CLI_RUN with config and check set.
 */
int sv_cli_parse(struct sv_cli *cli, int argc, char **argv);

#endif
