#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/config.h"
#include "base/errors.h"
#include "store/customers.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tests of the readers (base/config.h) on a demo table; the programs' tables
 * are tested in test_srv_conf.c, test_api_conf.c, test_agent_conf.c and
 * test_ret_conf.c, the customer registry in test_customers.c. */

/* ---------------------------------------------------------------- types */

struct demo {
	char *s;
	char *secret;
	char *path;
	char *url;
	long long i;
	long long secs;
	long long size;
	bool b;
	enum sv_log_level lvl;
	struct sv_conf_addr listen;
	struct sv_conf_addr hostport;
	struct sv_conf_addr metrics;
	struct sv_conf_port_range range;
	struct sv_conf_ports ports;
	int choice;
	struct sv_customers *cust;
};

#define D struct demo
static const struct sv_conf_key demo_keys[] = {
    {NULL, "S", SV_CONF_STRING, offsetof(D, s), 0, 0, "x", 0, NULL, "h", NULL},
    {NULL, "SECRET", SV_CONF_STRING, offsetof(D, secret), 0, 0, NULL, SV_CONF_F_SECRET, NULL, "h",
     NULL},
    {NULL, "PATH", SV_CONF_PATH, offsetof(D, path), 0, 0, "/var/x", 0, NULL, "h", NULL},
    {NULL, "URL", SV_CONF_URL, offsetof(D, url), 0, 0, NULL, 0, NULL, "h", NULL},
    {NULL, "I", SV_CONF_INT, offsetof(D, i), 1, 65535, "10", 0, NULL, "h", NULL},
    {NULL, "SECS", SV_CONF_SECONDS, offsetof(D, secs), 0, 86400, "300", 0, NULL, "h", NULL},
    {NULL, "SIZE", SV_CONF_SIZE, offsetof(D, size), 1 << 20, 1LL << 40, "1M", 0, NULL, "h", NULL},
    {NULL, "B", SV_CONF_BOOL, offsetof(D, b), 0, 0, "off", 0, NULL, "h", NULL},
    {NULL, "LVL", SV_CONF_LOGLEVEL, offsetof(D, lvl), 0, 0, "info", 0, NULL, "h", NULL},
    {NULL, "LISTEN", SV_CONF_LISTEN, offsetof(D, listen), 0, 0, ":9060", 0, NULL, "h", NULL},
    {NULL, "HOSTPORT", SV_CONF_HOSTPORT, offsetof(D, hostport), 0, 0, NULL, 0, NULL, "h", NULL},
    {NULL, "METRICS", SV_CONF_LISTEN, offsetof(D, metrics), 0, 0, "off", SV_CONF_F_OFF, NULL, "h",
     NULL},
    {NULL, "RANGE", SV_CONF_PORT_RANGE, offsetof(D, range), 1024, 65535, "10000-20000", 0, NULL,
     "h", NULL},
    {NULL, "PORTS", SV_CONF_PORTS, offsetof(D, ports), 1, 65535, "5060", 0, NULL, "h", NULL},
    {NULL, "CHOICE", SV_CONF_ENUM, offsetof(D, choice), 0, 0, "auto", 0, "auto|ebpf|pcap", "h",
     NULL},
    {NULL, "CUST", SV_CONF_CUSTOM, offsetof(D, cust), 0, 0, NULL, SV_CONF_F_SECRET, NULL, "h",
     &sv_customers_conf_ops},
};
#undef D
#define NDEMO (sizeof(demo_keys) / sizeof(demo_keys[0]))

static const struct sv_conf_key *dk(const char *name)
{
	const struct sv_conf_key *k = sv_conf_find(demo_keys, NDEMO, NULL, name);
	assert_non_null(k);
	return k;
}

static int set(struct demo *d, const char *name, const char *text, char *why)
{
	return sv_conf_set(dk(name), d, text, why, 256);
}

static void ok(struct demo *d, const char *name, const char *text)
{
	char why[256] = "";
	int rc = set(d, name, text, why);
	if (rc != 0)
		fail_msg("%s=%s rejected: %s", name, text, why);
}

static void bad(struct demo *d, const char *name, const char *text, const char *expect)
{
	char why[256] = "";
	int rc = set(d, name, text, why);
	if (rc != SV_E_CONFIG)
		fail_msg("%s=%s accepted", name, text);
	if (expect != NULL && strstr(why, expect) == NULL)
		fail_msg("%s=%s: reason \"%s\" lacks \"%s\"", name, text, why, expect);
}

static void test_defaults_and_strings(void **state)
{
	struct demo d;
	char why[256];
	memset(&d, 0, sizeof(d));
	assert_int_equal(sv_conf_defaults(demo_keys, NDEMO, &d), 0);
	assert_string_equal(d.s, "x");
	assert_null(d.secret);
	assert_string_equal(d.path, "/var/x");
	assert_int_equal(d.i, 10);
	assert_int_equal(d.secs, 300);
	assert_int_equal(d.size, 1 << 20);
	assert_false(d.b);
	assert_int_equal(d.lvl, SV_LOG_INFO);
	assert_true(d.listen.enabled);
	assert_string_equal(d.listen.host, "");
	assert_int_equal(d.listen.port, 9060);
	assert_false(d.metrics.enabled);
	assert_int_equal(d.range.lo, 10000);
	assert_int_equal(d.range.hi, 20000);
	assert_int_equal(d.ports.n, 1);
	assert_int_equal(d.ports.port[0], 5060);
	assert_int_equal(d.choice, 0);

	ok(&d, "S", "hello world");
	assert_string_equal(d.s, "hello world");
	ok(&d, "S", "");
	assert_null(d.s);
	bad(&d, "S", "a\nb", "control characters");
	ok(&d, "SECRET", "hunter2");
	assert_string_equal(d.secret, "hunter2");
	/* A secret never appears in a message. */
	assert_int_equal(set(&d, "SECRET", "bad\x01secret", why), SV_E_CONFIG);
	assert_null(strstr(why, "secret\""));
	assert_non_null(strstr(why, "not shown"));
	ok(&d, "PATH", "relative/dir");
	ok(&d, "URL", "https://s3.example.com");
	assert_string_equal(d.url, "https://s3.example.com");
	ok(&d, "URL", "http://127.0.0.1:9000/bucket");
	bad(&d, "URL", "ftp://x", "http:// or https://");
	bad(&d, "URL", "https://", "URL");
	bad(&d, "URL", "https:///path", "URL");
	bad(&d, "URL", "https://a b", "URL");
	sv_conf_release_fields(demo_keys, NDEMO, &d);
	assert_null(d.path);
	assert_null(d.url);
	sv_conf_release_fields(demo_keys, NDEMO, NULL);
}

static void test_numbers(void **state)
{
	struct demo d;
	memset(&d, 0, sizeof(d));
	ok(&d, "I", "1");
	assert_int_equal(d.i, 1);
	ok(&d, "I", "65535");
	assert_int_equal(d.i, 65535);
	ok(&d, "I", "+42");
	assert_int_equal(d.i, 42);
	bad(&d, "I", "0", "must be 1..65535, got \"0\"");
	bad(&d, "I", "65536", "must be 1..65535, got \"65536\"");
	bad(&d, "I", "-1", "1..65535");
	bad(&d, "I", "", "1..65535");
	bad(&d, "I", "12abc", "1..65535");
	bad(&d, "I", " 12", "1..65535");
	bad(&d, "I", "99999999999999999999999", "1..65535");
	assert_int_equal(d.i, 42); /* unchanged by failures */

	ok(&d, "SECS", "0");
	assert_int_equal(d.secs, 0);
	ok(&d, "SECS", "90s");
	assert_int_equal(d.secs, 90);
	ok(&d, "SECS", "15m");
	assert_int_equal(d.secs, 900);
	ok(&d, "SECS", "2h");
	assert_int_equal(d.secs, 7200);
	ok(&d, "SECS", "1d");
	assert_int_equal(d.secs, 86400);
	bad(&d, "SECS", "2d", "0..86400 seconds");
	bad(&d, "SECS", "5x", "seconds");
	bad(&d, "SECS", "m", "seconds");
	bad(&d, "SECS", "-5", "seconds");
	bad(&d, "SECS", "1.5", "seconds");

	ok(&d, "SIZE", "104857600");
	assert_int_equal(d.size, 104857600);
	ok(&d, "SIZE", "2048K");
	assert_int_equal(d.size, 2048 * 1024);
	bad(&d, "SIZE", "1023K", "bytes");
	ok(&d, "SIZE", "100M");
	assert_int_equal(d.size, 100LL << 20);
	ok(&d, "SIZE", "2g");
	assert_int_equal(d.size, 2LL << 30);
	ok(&d, "SIZE", "1T");
	assert_int_equal(d.size, 1LL << 40);
	bad(&d, "SIZE", "2T", "1048576..1099511627776 bytes");
	bad(&d, "SIZE", "9999999999999T", "bytes");
	bad(&d, "SIZE", "10Q", "bytes");
}

static void test_bool_level_enum(void **state)
{
	struct demo d;
	static const char *const yes[] = {"on", "ON", "true", "True", "yes", "1"};
	static const char *const no[] = {"off", "false", "NO", "0"};
	memset(&d, 0, sizeof(d));
	for (size_t i = 0; i < 6; i++) {
		d.b = false;
		ok(&d, "B", yes[i]);
		assert_true(d.b);
	}
	for (size_t i = 0; i < 4; i++) {
		d.b = true;
		ok(&d, "B", no[i]);
		assert_false(d.b);
	}
	bad(&d, "B", "maybe", "on/off");
	bad(&d, "B", "", "on/off");
	bad(&d, "B", "2", "on/off");

	ok(&d, "LVL", "debug");
	assert_int_equal(d.lvl, SV_LOG_DEBUG);
	ok(&d, "LVL", "WARN");
	assert_int_equal(d.lvl, SV_LOG_WARN);
	ok(&d, "LVL", "error");
	assert_int_equal(d.lvl, SV_LOG_ERROR);
	bad(&d, "LVL", "verbose", "debug, info, warn or error");

	ok(&d, "CHOICE", "pcap");
	assert_int_equal(d.choice, 2);
	ok(&d, "CHOICE", "EBPF");
	assert_int_equal(d.choice, 1);
	bad(&d, "CHOICE", "af_packet", "one of auto|ebpf|pcap");
	bad(&d, "CHOICE", "", "one of");
	bad(&d, "CHOICE", "pca", "one of");
}

static void test_addresses(void **state)
{
	struct demo d;
	char out[300];
	memset(&d, 0, sizeof(d));
	ok(&d, "LISTEN", ":9060");
	assert_string_equal(d.listen.host, "");
	assert_int_equal(d.listen.port, 9060);
	ok(&d, "LISTEN", "0.0.0.0:1");
	assert_string_equal(d.listen.host, "0.0.0.0");
	assert_int_equal(d.listen.port, 1);
	ok(&d, "LISTEN", "[::1]:9060");
	assert_string_equal(d.listen.host, "::1");
	sv_conf_addr_format(&d.listen, out, sizeof(out));
	assert_string_equal(out, "[::1]:9060");
	ok(&d, "LISTEN", "[::]:65535");
	assert_int_equal(d.listen.port, 65535);
	ok(&d, "LISTEN", "localhost:8000");
	assert_string_equal(d.listen.host, "localhost");
	bad(&d, "LISTEN", "::1:9060", "brackets");
	bad(&d, "LISTEN", "[::1]9060", "':port'");
	bad(&d, "LISTEN", "[::1:9060", "']'");
	bad(&d, "LISTEN", "[zz]:9060", "IPv6");
	bad(&d, "LISTEN", "9060", "host:port");
	bad(&d, "LISTEN", ":0", "1..65535");
	bad(&d, "LISTEN", ":65536", "1..65535");
	bad(&d, "LISTEN", ":", "1..65535");
	bad(&d, "LISTEN", "bad host:80", "host name");
	bad(&d, "LISTEN", "off", NULL); /* only keys flagged SV_CONF_F_OFF take "off" */
	ok(&d, "METRICS", "127.0.0.1:9100");
	assert_true(d.metrics.enabled);
	ok(&d, "METRICS", "off");
	assert_false(d.metrics.enabled);
	sv_conf_addr_format(&d.metrics, out, sizeof(out));
	assert_string_equal(out, "off");
	ok(&d, "HOSTPORT", "sv.example.com:9060");
	assert_string_equal(d.hostport.host, "sv.example.com");
	ok(&d, "HOSTPORT", "[2001:db8::1]:9061");
	assert_int_equal(d.hostport.port, 9061);
	bad(&d, "HOSTPORT", ":9060", "host is required");
	bad(&d, "HOSTPORT", "sv.example.com", "host:port");
}

static void test_ports(void **state)
{
	struct demo d;
	char list[400];
	memset(&d, 0, sizeof(d));
	ok(&d, "RANGE", "1024-65535");
	assert_int_equal(d.range.lo, 1024);
	assert_int_equal(d.range.hi, 65535);
	ok(&d, "RANGE", "5000-5000");
	bad(&d, "RANGE", "6000-5000", "LO <= HI");
	bad(&d, "RANGE", "1023-5000", "1024 <= LO");
	bad(&d, "RANGE", "5000", "LO-HI");
	bad(&d, "RANGE", "-5000", "LO-HI");
	bad(&d, "RANGE", "5000-", "LO-HI");

	ok(&d, "PORTS", "5060,5080");
	assert_int_equal(d.ports.n, 2);
	assert_int_equal(d.ports.port[1], 5080);
	ok(&d, "PORTS", " 5060 , 5061 ,5062");
	assert_int_equal(d.ports.n, 3);
	assert_int_equal(d.ports.port[2], 5062);
	bad(&d, "PORTS", "5060,,5080", "comma-separated");
	bad(&d, "PORTS", "5060,", "comma-separated");
	bad(&d, "PORTS", "", "comma-separated");
	bad(&d, "PORTS", "0", "comma-separated");
	bad(&d, "PORTS", "70000", "1..65535");
	bad(&d, "PORTS", "5060 5080", "comma-separated");
	bad(&d, "PORTS", "5060,5060", "twice");
	list[0] = '\0';
	for (int i = 0; i < SV_CONF_MAX_PORTS + 1; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d", i ? "," : "",
		         6000 + i);
	bad(&d, "PORTS", list, "at most");
	assert_int_equal(d.ports.n, 3);
}

/* ---------------------------------------------------------------- env file */

static void test_envfile(void **state)
{
	const char *text =
	    "# server.env\n"
	    "\n"
	    "SIPVAULT_LOG_LEVEL=debug\n"
	    "  export SIPVAULT_DATA_DIR = /srv/sv  \n"
	    "SIPVAULT_S3_REGION=\"eu west \\\"1\\\" \\\\ \\$x\"\r\n"
	    "SIPVAULT_CUSTOMERS='[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"}]'\n"
	    "EMPTY=\n"
	    "SIPVAULT_S3_ACCESS_KEY=\"\" # comment after quotes\n";
	struct sv_envfile ef;
	char err[512] = "";
	int line;
	int rc = sv_envfile_parse(&ef, text, strlen(text), "s.env", err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(ef.n, 6);
	assert_string_equal(sv_envfile_get(&ef, "SIPVAULT_LOG_LEVEL", &line), "debug");
	assert_int_equal(line, 3);
	assert_string_equal(sv_envfile_get(&ef, "SIPVAULT_DATA_DIR", &line), "/srv/sv");
	assert_int_equal(line, 4);
	assert_string_equal(sv_envfile_get(&ef, "SIPVAULT_S3_REGION", NULL), "eu west \"1\" \\ $x");
	assert_string_equal(sv_envfile_get(&ef, "SIPVAULT_CUSTOMERS", NULL),
	                    "[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"}]");
	assert_string_equal(sv_envfile_get(&ef, "EMPTY", NULL), "");
	assert_string_equal(sv_envfile_get(&ef, "SIPVAULT_S3_ACCESS_KEY", NULL), "");
	assert_null(sv_envfile_get(&ef, "NOPE", &line));
	assert_int_equal(line, 0);
	sv_envfile_release(&ef);

	static const struct {
		const char *text, *expect;
	} bad[] = {
	    {"A=1\nnot a pair\n", "e.env:2: expected KEY=VALUE"},
	    {"A=1\n1A=2\n", "e.env:2: expected KEY=VALUE"},
	    {"A=1\n\nB=\"open\n", "e.env:3: B: unterminated quote"},
	    {"A='x' y\n", "e.env:1: A: text after the closing quote"},
	    {"A=1\nA=2\n", "e.env:2: A: set twice (first on line 1)"},
	    {"=1\n", "e.env:1: expected KEY=VALUE"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = sv_envfile_parse(&ef, bad[i].text, strlen(bad[i].text), "e.env", err,
		                      sizeof(err));
		assert_int_equal(rc, SV_E_CONFIG);
		if (strstr(err, bad[i].expect) == NULL)
			fail_msg("\"%s\" lacks \"%s\"", err, bad[i].expect);
		assert_int_equal(ef.n, 0);
	}
}

/* ---------------------------------------------------------------- readers */

static void test_env_file_reader(void **state)
{
	struct demo d;
	char err[512] = "";
	const char *text = "I=20\nS=file\nSECS=1m\n";
	const char *env[] = {"S=env", "I=", NULL}; /* empty counts as unset */
	memset(&d, 0, sizeof(d));
	assert_int_equal(sv_conf_load_env_file(demo_keys, NDEMO, &d, env, text, strlen(text),
	                                       "d.env", err, sizeof(err)),
	                 0);
	assert_string_equal(d.s, "env");
	assert_int_equal(d.i, 20);
	assert_int_equal(d.secs, 60);
	assert_string_equal(d.path, "/var/x");
	sv_conf_release_fields(demo_keys, NDEMO, &d);
	const char *bad = "I=20\nNOPE=1\n";
	assert_int_equal(sv_conf_load_env_file(demo_keys, NDEMO, &d, NULL, bad, strlen(bad),
	                                       "d.env", err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_string_equal(err, "d.env:2: NOPE: unknown key");
	sv_conf_release_fields(demo_keys, NDEMO, &d);
	const char *bad2 = "\nI=0\n";
	assert_int_equal(sv_conf_load_env_file(demo_keys, NDEMO, &d, NULL, bad2, strlen(bad2),
	                                       "d.env", err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "d.env:2: I: must be 1..65535"));
	sv_conf_release_fields(demo_keys, NDEMO, &d);
}

struct ini_demo {
	struct sv_conf_addr addr;
	char *name;
	long long n;
};

#define D struct ini_demo
static const struct sv_conf_key ini_keys[] = {
    {"a", "addr", SV_CONF_HOSTPORT, offsetof(D, addr), 0, 0, NULL, SV_CONF_F_REQUIRED, NULL, "h",
     NULL},
    {"a", "name", SV_CONF_STRING, offsetof(D, name), 0, 0, NULL, SV_CONF_F_REQUIRED, NULL, "h",
     NULL},
    {"b", "n", SV_CONF_INT, offsetof(D, n), 1, 9, "3", 0, NULL, "h", NULL},
};
#undef D
#define NINI (sizeof(ini_keys) / sizeof(ini_keys[0]))

static void ini_bad(const char *text, const char *expect)
{
	struct ini_demo d;
	char err[512] = "";
	memset(&d, 0, sizeof(d));
	int rc = sv_conf_parse_ini(ini_keys, NINI, &d, text, strlen(text), "x.ini", NULL, err,
	                           sizeof(err));
	sv_conf_release_fields(ini_keys, NINI, &d);
	if (rc != SV_E_CONFIG)
		fail_msg("accepted: %s", text);
	if (strstr(err, expect) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, expect);
}

static void test_ini_reader(void **state)
{
	struct ini_demo d;
	int lines[NINI];
	char err[512] = "";
	const char *text = "# x\n[a]\n  addr = h:1\nname = n\n";
	memset(&d, 0, sizeof(d));
	assert_int_equal(sv_conf_parse_ini(ini_keys, NINI, &d, text, strlen(text), "x.ini", lines,
	                                   err, sizeof(err)),
	                 0);
	assert_string_equal(d.addr.host, "h");
	assert_int_equal(d.n, 3);
	assert_int_equal(lines[0], 3);
	assert_int_equal(lines[1], 4);
	assert_int_equal(lines[2], 0);
	sv_conf_release_fields(ini_keys, NINI, &d);
	ini_bad("[c]\n", "x.ini:1: unknown section \"c\" (expected a, b)");
	ini_bad("[a]\naddr = h:1\n", "x.ini: [a] name: required, but not set");
	ini_bad("[a]\nname = n\n", "x.ini: [a] addr: required, but not set");
	ini_bad("[a]\naddr = h:1\nname =\n", "x.ini:3: [a] name: required, but empty");
	ini_bad("[a]\naddr = h:1\nname = n\n[b]\nn = 10\n", "x.ini:5: [b] n: must be 1..9");
	ini_bad("n = 1\n", "x.ini:1: n: key outside any section");
	ini_bad("[a]\nname = n\nname = m\n", "x.ini:3: [a] name: set twice (first on line 2)");
}

struct yleaf {
	char seen[512];
	int fail_on_line;
};

static int yleaf(void *arg, const char *const *path, const int *lines, size_t depth,
                 const char *value, size_t *at, char *why, size_t whylen)
{
	struct yleaf *y = arg;
	size_t o = strlen(y->seen);
	for (size_t i = 0; i < depth; i++)
		o += (size_t)snprintf(y->seen + o, sizeof(y->seen) - o, "%s%s@%d", i ? "/" : "",
		                      path[i], lines[i]);
	snprintf(y->seen + o, sizeof(y->seen) - o, "=%s;", value != NULL ? value : "(null)");
	if (lines[depth - 1] == y->fail_on_line) {
		*at = 0;
		snprintf(why, whylen, "%s: no", path[0]);
		return SV_E_CONFIG;
	}
	return 0;
}

static void test_yaml_reader(void **state)
{
	struct yleaf y;
	char err[512] = "";
	const char *text = "a:\n  b: 1\n  c: {d: x}\ne:\nf: {}\n";
	memset(&y, 0, sizeof(y));
	assert_int_equal(
	    sv_conf_parse_yaml(text, strlen(text), "y.yml", yleaf, &y, err, sizeof(err)), 0);
	assert_string_equal(y.seen, "a@1/b@2=1;a@1/c@3/d@3=x;e@4=(null);f@5=(null);");
	memset(&y, 0, sizeof(y));
	y.fail_on_line = 3;
	assert_int_equal(
	    sv_conf_parse_yaml(text, strlen(text), "y.yml", yleaf, &y, err, sizeof(err)),
	    SV_E_CONFIG);
	assert_string_equal(err, "y.yml:1: a: no"); /* the line of path[*at] */
	memset(&y, 0, sizeof(y));
	assert_int_equal(sv_conf_parse_yaml("", 0, "y.yml", yleaf, &y, err, sizeof(err)), 0);
	assert_string_equal(y.seen, "");
	assert_int_equal(sv_conf_parse_yaml("a: [1]\n", 7, "y.yml", yleaf, &y, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_string_equal(err, "y.yml:1: a: must be a value or a mapping, not a list");
	const char *deep = "a: {b: {c: {d: {e: {f: {g: {h: {i: 1}}}}}}}}\n";
	assert_int_equal(
	    sv_conf_parse_yaml(deep, strlen(deep), "y.yml", yleaf, &y, err, sizeof(err)),
	    SV_E_CONFIG);
	assert_non_null(strstr(err, "nested too deeply"));
}

static int load_cb(void *arg, const char *text, size_t len, const char *fname, char *err,
                   size_t errlen)
{
	snprintf(arg, 256, "%s|%s|%zu", fname, text != NULL ? text : "(null)", len);
	return 0;
}

static void test_load_file(void **state)
{
	char *dir = tu_tmpdir(), path[512], missing[512], got[256], err[512] = "";
	FILE *f;
	snprintf(path, sizeof(path), "%s/c.txt", dir);
	snprintf(missing, sizeof(missing), "%s/none.txt", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("k=v\n", f);
	fclose(f);
	assert_int_equal(sv_conf_load_file(path, "/nonexistent", 0, load_cb, got, err, sizeof(err)),
	                 0);
	assert_non_null(strstr(got, "/c.txt|k=v\n|4"));
	assert_int_equal(
	    sv_conf_load_file(NULL, missing, SV_CONF_LOAD_OPTIONAL, load_cb, got, err, sizeof(err)),
	    0);
	assert_non_null(strstr(got, "/none.txt|(null)|0"));
	assert_int_equal(sv_conf_load_file(NULL, missing, 0, load_cb, got, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "/none.txt: cannot read"));
	assert_int_equal(
	    sv_conf_load_file(missing, path, SV_CONF_LOAD_OPTIONAL, load_cb, got, err, sizeof(err)),
	    SV_E_CONFIG);
	tu_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_and_strings),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_bool_level_enum),
	    cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_ports),
	    cmocka_unit_test(test_envfile),
	    cmocka_unit_test(test_env_file_reader),
	    cmocka_unit_test(test_ini_reader),
	    cmocka_unit_test(test_yaml_reader),
	    cmocka_unit_test(test_load_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
