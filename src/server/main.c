/*
 * sipvault-server - entry point: flags and configuration.
 *
 * Configuration comes from the environment, then the JSON file (default
 * /etc/sipvault/server.conf, which may be missing). Without --check or
 * --analyze the collector runs (srv_core.c) until SIGTERM. Exit status: 0
 * success, 2 usage or configuration error, 1 runtime failure.
 */
#include "srv_conf.h"
#include "base/cli.h"
#include "base/errors.h"
#include "base/log.h"
#include "server.h"

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

static int server_opt(void *arg, int c, const char *val)
{
	const char **analyze = arg;
	if (c == 'a')
		*analyze = val;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option extra[] = {
	    {"analyze", required_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	const char *analyze = NULL;
	struct sv_cli cli = {.prog = "sipvault-server",
	                     .usage = usage,
	                     .extra = extra,
	                     .on_opt = server_opt,
	                     .arg = &analyze};
	struct sv_server_conf conf;
	char err[1024];
	int c;

	if ((c = sv_cli_parse(&cli, argc, argv)) != SV_CLI_RUN)
		return c;
	/* --analyze needs no configuration: nothing is listened on. */
	if (analyze != NULL)
		return srv_analyze(analyze, stdout);
	if (sv_server_conf_load(&conf, cli.config, (const char *const *)environ, err,
	                        sizeof(err)) != 0) {
		fprintf(stderr, "sipvault-server: %s\n", err);
		return 2;
	}
	if (cli.check) {
		printf("sipvault-server: configuration OK (%zu customers)\n", conf.customers->n);
		sv_server_conf_release(&conf);
		return 0;
	}
	sv_log_set_level(conf.log_level);
	c = srv_run(&conf, cli.config);
	sv_server_conf_release(&conf);
	return c;
}
