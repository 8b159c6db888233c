#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/cli.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>

struct seen {
	const char *read;
	int flag;
	int fail;
};

static int on_opt(void *arg, int c, const char *val)
{
	struct seen *s = arg;
	if (c == 'r')
		s->read = val;
	else if (c == 'x')
		s->flag++;
	return c == 'r' && strcmp(val, "bad") == 0 ? 7 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: test\n");
}

static int run(struct sv_cli *cli, struct seen *s, int argc, char **argv)
{
	static const struct option extra[] = {
	    {"read", required_argument, NULL, 'r'},
	    {"flag", no_argument, NULL, 'x'},
	    {NULL, 0, NULL, 0},
	};
	memset(s, 0, sizeof(*s));
	memset(cli, 0, sizeof(*cli));
	cli->prog = "sipvault-test";
	cli->usage = usage;
	cli->extra = extra;
	cli->on_opt = on_opt;
	cli->arg = s;
	cli->config = "/etc/default.conf";
	optind = 0; /* glibc: start over */
	return sv_cli_parse(cli, argc, argv);
}

static void test_defaults(void **state)
{
	(void)state;
	struct sv_cli cli;
	struct seen s;
	char *argv[] = {"prog", NULL};
	assert_int_equal(run(&cli, &s, 1, argv), SV_CLI_RUN);
	assert_string_equal(cli.config, "/etc/default.conf");
	assert_int_equal(cli.check, 0);
	assert_null(s.read);
	assert_int_equal(s.flag, 0);
}

static void test_common_and_extra(void **state)
{
	(void)state;
	struct sv_cli cli;
	struct seen s;
	char *argv[] = {"prog",   "-n",     "--config", "/tmp/x.conf", "-r",
	                "f.pcap", "--flag", "-x",       NULL};
	assert_int_equal(run(&cli, &s, 8, argv), SV_CLI_RUN);
	assert_string_equal(cli.config, "/tmp/x.conf");
	assert_int_equal(cli.check, 1);
	assert_string_equal(s.read, "f.pcap");
	assert_int_equal(s.flag, 2);

	char *argv2[] = {"prog", "-c", "a.conf", "--check", "--read=g.pcap", NULL};
	assert_int_equal(run(&cli, &s, 5, argv2), SV_CLI_RUN);
	assert_string_equal(cli.config, "a.conf");
	assert_int_equal(cli.check, 1);
	assert_string_equal(s.read, "g.pcap");
}

static void test_exits(void **state)
{
	(void)state;
	struct sv_cli cli;
	struct seen s;
	char *help[] = {"prog", "--help", NULL};
	assert_int_equal(run(&cli, &s, 2, help), 0);
	char *version[] = {"prog", "-V", NULL};
	assert_int_equal(run(&cli, &s, 2, version), 0);
	char *unknown[] = {"prog", "--nope", NULL};
	assert_int_equal(run(&cli, &s, 2, unknown), 2);
	char *missing[] = {"prog", "--config", NULL};
	assert_int_equal(run(&cli, &s, 2, missing), 2);
	char *stray[] = {"prog", "-n", "extra", NULL};
	assert_int_equal(run(&cli, &s, 3, stray), 2);
	char *refused[] = {"prog", "-r", "bad", NULL};
	assert_int_equal(run(&cli, &s, 3, refused), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_common_and_extra),
	    cmocka_unit_test(test_exits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
