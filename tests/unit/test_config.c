#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent_conf.h"
#include "api_conf.h"
#include "base/config.h"
#include "base/errors.h"
#include "ret_conf.h"
#include "srv_conf.h"
#include "store/customers.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void test_help_lists_every_key(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	sv_conf_print_help(f, sv_agent_conf_keys, sv_agent_conf_nkeys);
	sv_conf_print_help(f, sv_server_conf_keys, sv_server_conf_nkeys);
	fclose(f);
	for (size_t i = 0; i < sv_agent_conf_nkeys; i++)
		assert_non_null(strstr(text, sv_agent_conf_keys[i].name));
	for (size_t i = 0; i < sv_server_conf_nkeys; i++)
		assert_non_null(strstr(text, sv_server_conf_keys[i].name));
	assert_non_null(strstr(text, "[capture]"));
	assert_non_null(strstr(text, "integer 1..65535; default 10000"));
	free(text);
}

/* ---------------------------------------------------------------- customers */

static const char *const good_customers =
    "[{\"id\":\"acme\",\"token\":\"tok-acme\",\"bucket\":\"acme-calls\","
    "\"hep_sources\":[\"10.0.0.0/8\",\"2001:db8::/32\"]},"
    " {\"id\":\"beta.co_2\",\"token\":\"tok-beta\",\"bucket\":\"beta.calls\","
    "\"hep_sources\":[\"10.1.0.0/16\",\"192.0.2.7/32\",\"::1/128\"]},"
    " {\"id\":\"all\",\"token\":\"tok-all\",\"bucket\":\"all-calls\",\"hep_sources\":[\"0.0.0.0/"
    "0\"]},"
    " {\"id\":\"nohep\",\"token\":\"tok-nohep\",\"bucket\":\"nohep\"}]";

static struct sv_customers *load_good(void)
{
	struct sv_customers *cs = NULL;
	char err[512] = "";
	int rc = sv_customers_parse(good_customers, strlen(good_customers), &cs, err, sizeof(err));
	if (rc != 0)
		fail_msg("good customers rejected: %s", err);
	return cs;
}

static void test_customers_valid_and_lookups(void **state)
{
	struct sv_customers *cs = load_good();
	const struct sv_customer *c;
	uint8_t a4[4], a6[16];

	assert_int_equal(cs->n, 4);
	assert_string_equal(cs->v[0].bucket, "acme-calls");
	assert_int_equal(cs->v[0].n_hep_sources, 2);
	assert_int_equal(cs->v[3].n_hep_sources, 0);

	assert_ptr_equal(sv_customers_find_by_id(cs, "beta.co_2"), &cs->v[1]);
	assert_null(sv_customers_find_by_id(cs, "BETA.co_2"));
	assert_null(sv_customers_find_by_id(cs, "acm"));
	assert_null(sv_customers_find_by_id(NULL, "acme"));

	assert_ptr_equal(sv_customers_find_by_token(cs, "tok-beta", 8), &cs->v[1]);
	assert_ptr_equal(sv_customers_find_by_token(cs, "tok-nohep", 9), &cs->v[3]);
	assert_null(sv_customers_find_by_token(cs, "tok-bet", 7));
	assert_null(sv_customers_find_by_token(cs, "tok-betaa", 9));
	assert_null(sv_customers_find_by_token(cs, "", 0));
	/* Lengths are explicit: an embedded NUL does not truncate the comparison. */
	assert_null(sv_customers_find_by_token(cs, "tok-beta\0x", 10));
	assert_true(sv_customer_token_ok(&cs->v[0], "tok-acme", 8));
	assert_false(sv_customer_token_ok(&cs->v[0], "tok-beta", 8));
	assert_false(sv_customer_token_ok(NULL, "tok-beta", 8));

	/* Longest prefix wins: 10.1.x is beta (/16) over acme (/8) over all (/0). */
	inet_pton(AF_INET, "10.1.2.3", a4);
	c = sv_customers_find_by_addr(cs, AF_INET, a4);
	assert_ptr_equal(c, &cs->v[1]);
	inet_pton(AF_INET, "10.2.0.1", a4);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET, a4), &cs->v[0]);
	inet_pton(AF_INET, "192.0.2.7", a4);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET, a4), &cs->v[1]);
	inet_pton(AF_INET, "192.0.2.8", a4);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET, a4), &cs->v[2]);
	inet_pton(AF_INET6, "2001:db8:1::5", a6);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET6, a6), &cs->v[0]);
	inet_pton(AF_INET6, "::1", a6);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET6, a6), &cs->v[1]);
	inet_pton(AF_INET6, "::2", a6);
	assert_null(sv_customers_find_by_addr(cs, AF_INET6, a6));
	inet_pton(AF_INET6, "::ffff:10.1.0.9", a6);
	assert_ptr_equal(sv_customers_find_by_addr(cs, AF_INET6, a6), &cs->v[1]);
	sv_customers_free(cs);
	sv_customers_free(NULL);
}

/*
 * Token lookup: a near miss (same first 119 bytes) and a far miss are both
 * refused, the exact token is found. That the comparison is constant-time is
 * a property of the code (SHA-256 digests compared with CRYPTO_memcmp over
 * every customer, no early exit), not asserted with timings here: test
 * machines are shared and noisy.
 */
static void test_token_lookup(void **state)
{
	char json[8192], tok[200];
	struct sv_customers *cs = NULL;
	char err[256];
	size_t o = 0;
	o += (size_t)snprintf(json + o, sizeof(json) - o, "[");
	for (int i = 0; i < 20; i++)
		o += (size_t)snprintf(json + o, sizeof(json) - o,
		                      "%s{\"id\":\"c%d\",\"token\":\"%0120d\",\"bucket\":\"b-%d\"}",
		                      i ? "," : "", i, i, i);
	snprintf(json + o, sizeof(json) - o, "]");
	assert_int_equal(sv_customers_parse(json, strlen(json), &cs, err, sizeof(err)), 0);

	snprintf(tok, sizeof(tok), "%0120d", 19);
	tok[119] = 'x';
	assert_null(sv_customers_find_by_token(cs, tok, 120));
	char far[200];
	memset(far, 'z', 120);
	far[120] = '\0';
	assert_null(sv_customers_find_by_token(cs, far, 120));
	assert_null(sv_customers_find_by_token(cs, far, 0));
	snprintf(tok, sizeof(tok), "%0120d", 19);
	assert_null(sv_customers_find_by_token(cs, tok, 119));
	assert_ptr_equal(sv_customers_find_by_token(cs, tok, 120), &cs->v[19]);
	snprintf(tok, sizeof(tok), "%0120d", 0);
	assert_ptr_equal(sv_customers_find_by_token(cs, tok, 120), &cs->v[0]);
	sv_customers_free(cs);
}

static void cust_bad(const char *json, const char *expect)
{
	struct sv_customers *cs = (struct sv_customers *)1;
	char err[512] = "";
	int rc = sv_customers_parse(json, strlen(json), &cs, err, sizeof(err));
	if (rc != SV_E_CONFIG)
		fail_msg("accepted: %s", json);
	assert_null(cs);
	if (strstr(err, expect) == NULL)
		fail_msg("for %s: \"%s\" lacks \"%s\"", json, err, expect);
}

static void test_customers_invalid(void **state)
{
	cust_bad("", "not valid JSON");
	cust_bad("{}", "JSON array");
	cust_bad("[]", "at least one");
	cust_bad("[1]", "customers[0]: must be a JSON object");
	cust_bad("[{\"token\":\"t\",\"bucket\":\"abc\"}]", "customers[0]: id: missing");
	cust_bad("[{\"id\":\"a\",\"bucket\":\"abc\"}]", "customers[0] (id \"a\"): token: missing");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\"}]", "bucket: missing");
	cust_bad("[{\"id\":5,\"token\":\"t\",\"bucket\":\"abc\"}]", "id: must be a string");
	cust_bad("[{\"id\":\"\",\"token\":\"t\",\"bucket\":\"abc\"}]", "id: must be 1..64");
	cust_bad("[{\"id\":\"a/b\",\"token\":\"t\",\"bucket\":\"abc\"}]", "id: must be");
	cust_bad("[{\"id\":\"..\",\"token\":\"t\",\"bucket\":\"abc\"}]", "id: must be");
	cust_bad("[{\"id\":\"a b\",\"token\":\"t\",\"bucket\":\"abc\"}]", "id: must be");
	cust_bad("[{\"id\":\"a\\u0000b\",\"token\":\"t\",\"bucket\":\"abc\"}]", "not valid JSON");
	cust_bad("[{\"id\":\"a\",\"token\":\"\",\"bucket\":\"abc\"}]", "token: must be non-empty");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"ab\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"Abc\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"-abc\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc.\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"a..bc\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"a_bc\"}]", "bucket: not a valid S3");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"192.168.1.1\"}]", "bucket");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":"
	         "\"a234567890123456789012345678901234567890123456789012345678901234\"}]",
	         "bucket");
	cust_bad(
	    "[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\",\"hep_sources\":\"10.0.0.0/8\"}]",
	    "hep_sources: must be an array");
	cust_bad(
	    "[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\",\"hep_sources\":[\"10.0.0.0/33\"]}]",
	    "hep_sources[0]: not a CIDR");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\","
	         "\"hep_sources\":[\"::/0\",\"10.0.0.1/8\"]}]",
	         "hep_sources[1]");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\",\"hep_sources\":[7]}]",
	         "hep_sources[0]");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\",\"color\":\"red\"}]",
	         "customers[0] (id \"a\"): unknown field \"color\"");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"},"
	         "{\"id\":\"a\",\"token\":\"u\",\"bucket\":\"abd\"}]",
	         "customers[1] (id \"a\"): id: duplicate of customers[0]");
	cust_bad("[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"},"
	         "{\"id\":\"b\",\"token\":\"t\",\"bucket\":\"abd\"}]",
	         "customers[1] (id \"b\"): token: same token as customers[0]");
	cust_bad("[{\"id\":\"a\",\"id\":\"b\",\"token\":\"t\",\"bucket\":\"abc\"}]",
	         "not valid JSON");
}

/* ---------------------------------------------------------------- server */

static const char *const cust_one =
    "[{\"id\":\"acme\",\"token\":\"s3cret\",\"bucket\":\"acme-calls\"}]";

static void server_bad(const char *json, const char *const *env, const char *expect)
{
	struct sv_server_conf c;
	char err[1024] = "";
	int rc = sv_server_conf_parse(&c, json, json != NULL ? strlen(json) : 0, "/etc/sv.conf",
	                              env, err, sizeof(err));
	if (rc != SV_E_CONFIG)
		fail_msg("accepted: %s", json != NULL ? json : "(env only)");
	if (strstr(err, expect) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, expect);
	assert_null(strchr(err, '\n'));
	assert_null(c.customers);
}

static void test_server_defaults_env_only(void **state)
{
	char env_c[256];
	snprintf(env_c, sizeof(env_c), "SIPVAULT_CUSTOMERS=%s", cust_one);
	const char *env[] = {"PATH=/bin", env_c, NULL};
	struct sv_server_conf c;
	char err[512] = "";
	int rc = sv_server_conf_parse(&c, NULL, 0, NULL, env, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_true(c.listen_tcp.enabled);
	assert_string_equal(c.listen_tcp.host, "");
	assert_int_equal(c.listen_tcp.port, 9060);
	assert_int_equal(c.listen_hep.port, 9060);
	assert_null(c.s3_endpoint);
	assert_string_equal(c.s3_region, "auto");
	assert_int_equal(c.customers->n, 1);
	assert_int_equal(c.log_level, SV_LOG_INFO);
	assert_string_equal(c.data_dir, "/var/lib/sipvault");
	assert_int_equal(c.pending_timeout, 300);
	assert_int_equal(c.active_timeout, 1800);
	assert_int_equal(c.closing_grace, 5);
	assert_int_equal(c.log_flush, 60);
	assert_false(c.metrics_listen.enabled);
	sv_server_conf_release(&c);
	sv_server_conf_release(&c); /* idempotent */

	server_bad(NULL, NULL, "SIPVAULT_CUSTOMERS: required");
	const char *e2[] = {env_c, "SIPVAULT_PENDING_TIMEOUT=0", NULL};
	server_bad(NULL, e2,
	           "environment variable SIPVAULT_PENDING_TIMEOUT: must be 1..86400 seconds");
	const char *e3[] = {env_c, "SIPVAULT_S3_ENDPOINT=https://r2.example.com",
	                    "SIPVAULT_S3_ACCESS_KEY=AK", NULL};
	server_bad(NULL, e3, "SIPVAULT_S3_SECRET_KEY: required when SIPVAULT_S3_ENDPOINT is set");
	const char *e4[] = {env_c, "SIPVAULT_S3_ENDPOINT=https://r2.example.com", NULL};
	server_bad(NULL, e4, "SIPVAULT_S3_ACCESS_KEY: required when");
	const char *e5[] = {"SIPVAULT_CUSTOMERS=[]", NULL};
	server_bad(NULL, e5, "environment variable SIPVAULT_CUSTOMERS: at least one customer");
}

static void test_server_file_and_precedence(void **state)
{
	const char *json = "{\n"
	                   "  \"SIPVAULT_LISTEN_TCP\": \"[::1]:9061\",\n"
	                   "  \"SIPVAULT_PENDING_TIMEOUT\": 120,\n"
	                   "  \"SIPVAULT_LOG_LEVEL\": \"debug\",\n"
	                   "  \"SIPVAULT_METRICS_LISTEN\": \"127.0.0.1:9100\",\n"
	                   "  \"SIPVAULT_S3_ENDPOINT\": \"https://s3.example.com\",\n"
	                   "  \"SIPVAULT_S3_ACCESS_KEY\": \"AK\",\n"
	                   "  \"SIPVAULT_S3_SECRET_KEY\": \"SK\",\n"
	                   "  \"SIPVAULT_CUSTOMERS\": [{\"id\": \"acme\", \"token\": \"t\",\n"
	                   "                          \"bucket\": \"acme-calls\"}]\n"
	                   "}\n";
	const char *env[] = {"SIPVAULT_PENDING_TIMEOUT=45", "SIPVAULT_LOG_LEVEL=", NULL};
	struct sv_server_conf c;
	char err[512] = "";
	int rc =
	    sv_server_conf_parse(&c, json, strlen(json), "/etc/sv.conf", env, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c.listen_tcp.host, "::1");
	assert_int_equal(c.listen_tcp.port, 9061);
	assert_int_equal(c.pending_timeout, 45);     /* the environment wins */
	assert_int_equal(c.log_level, SV_LOG_DEBUG); /* empty variable = unset */
	assert_true(c.metrics_listen.enabled);
	assert_int_equal(c.metrics_listen.port, 9100);
	assert_string_equal(c.s3_secret_key, "SK");
	assert_string_equal(c.customers->v[0].id, "acme");
	sv_server_conf_release(&c);

	/* Customers as a string in the file, and a customer error names the key's line. */
	const char *j2 =
	    "{\"SIPVAULT_CUSTOMERS\": \"[{\\\"id\\\":\\\"x\\\",\\\"token\\\":\\\"t\\\","
	    "\\\"bucket\\\":\\\"xyz\\\"}]\"}";
	rc = sv_server_conf_parse(&c, j2, strlen(j2), "f", NULL, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c.customers->v[0].bucket, "xyz");
	sv_server_conf_release(&c);
	/* An env customers list replaces a broken file one without even reading it. */
	const char *env2[] = {
	    "SIPVAULT_CUSTOMERS=[{\"id\":\"e\",\"token\":\"t\",\"bucket\":\"eee\"}]", NULL};
	rc = sv_server_conf_parse(&c, "{\"SIPVAULT_CUSTOMERS\": 5}", 25, "f", env2, err,
	                          sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c.customers->v[0].id, "e");
	sv_server_conf_release(&c);
}

static void test_server_file_errors(void **state)
{
	char env_c[256];
	snprintf(env_c, sizeof(env_c), "SIPVAULT_CUSTOMERS=%s", cust_one);
	const char *env[] = {env_c, NULL};
	server_bad("{\n  \"SIPVAULT_LOG_LEVEL\": \"info\",\n\n  \"SIPVAULT_LISTEN_TPC\": \":1\"\n}",
	           env, "/etc/sv.conf:4: \"SIPVAULT_LISTEN_TPC\": unknown key");
	server_bad("{\n\"SIPVAULT_LOG_LEVEL\": \"info\",\n\"SIPVAULT_ACTIVE_TIMEOUT\": 0\n}", env,
	           "/etc/sv.conf:3: SIPVAULT_ACTIVE_TIMEOUT: must be 1..604800 seconds");
	server_bad("{\"SIPVAULT_ACTIVE_TIMEOUT\": 1.5}", env,
	           "/etc/sv.conf:1: SIPVAULT_ACTIVE_TIMEOUT");
	server_bad("{\"SIPVAULT_LISTEN_HEP\": null}", env, "SIPVAULT_LISTEN_HEP: must be a string");
	server_bad("{\"SIPVAULT_LISTEN_HEP\": [1]}", env, "SIPVAULT_LISTEN_HEP: must be a string");
	server_bad("{\n\"SIPVAULT_LOG_LEVEL\": \"loud\"\n}", env,
	           "/etc/sv.conf:2: SIPVAULT_LOG_LEVEL: must be debug, info, warn or error, got "
	           "\"loud\"");
	server_bad("{\n\"SIPVAULT_LOG_LEVEL\": \"info\",\n\"SIPVAULT_LOG_LEVEL\": \"debug\"}", env,
	           "/etc/sv.conf:3: invalid JSON");
	server_bad("{\n\"SIPVAULT_LOG_LEVEL\": \"info\"\n\"x\": 1}", env,
	           "/etc/sv.conf:3: invalid JSON");
	server_bad("[1, 2]", env, "/etc/sv.conf:1: the file must hold one JSON object");
	server_bad("{\"SIPVAULT_DATA_DIR\": \"\"}", env, "SIPVAULT_DATA_DIR: required");
	/* A key text inside a string value does not confuse the line finder. */
	server_bad("{\"SIPVAULT_S3_REGION\": \"\\\"SIPVAULT_LOG_LEVEL\\\": x\",\n"
	           "\"SIPVAULT_LOG_LEVEL\": \"x\"}",
	           env, "/etc/sv.conf:2: SIPVAULT_LOG_LEVEL");
	server_bad(
	    "{\n\"SIPVAULT_CUSTOMERS\": [{\"id\": \"a\", \"token\": \"t\", \"bucket\": \"B\"}]}",
	    NULL, "/etc/sv.conf:2: SIPVAULT_CUSTOMERS: customers[0] (id \"a\"): bucket");
}

static void test_server_load_files(void **state)
{
	char *dir = tu_tmpdir();
	char path[512], err[1024];
	struct sv_server_conf c;
	char env_c[256];
	snprintf(env_c, sizeof(env_c), "SIPVAULT_CUSTOMERS=%s", cust_one);
	const char *env[] = {env_c, NULL};

	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	assert_int_equal(sv_server_conf_load(&c, path, env, err, sizeof(err)), SV_E_CONFIG);
	assert_non_null(strstr(err, "missing.conf: cannot read"));
	snprintf(path, sizeof(path), "%s/server.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"SIPVAULT_DATA_DIR\": \"/srv/sv\"}\n", f);
	fclose(f);
	assert_int_equal(sv_server_conf_load(&c, path, env, err, sizeof(err)), 0);
	assert_string_equal(c.data_dir, "/srv/sv");
	sv_server_conf_release(&c);
	tu_rmrf(dir);
	free(dir);
}

/* ---------------------------------------------------------------- api */

static void test_api(void **state)
{
	char env_c[256];
	struct sv_api_conf c;
	char err[512] = "";
	snprintf(env_c, sizeof(env_c), "SIPVAULT_CUSTOMERS=%s", cust_one);
	const char *env[] = {env_c, "SIPVAULT_HMAC_SECRET=k", NULL};
	int rc = sv_api_conf_parse(&c, NULL, 0, NULL, env, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c.listen.host, "127.0.0.1");
	assert_int_equal(c.listen.port, 8000);
	assert_int_equal(c.hmac_max_age, 3600); /* the guide's default */
	assert_int_equal(c.ai_provider, SV_AI_NONE);
	assert_string_equal(c.anthropic_base_url, "https://api.anthropic.com");
	assert_string_equal(c.sippulse_api_url, "https://api.sippulse.ai/v1");
	assert_string_equal(c.sippulse_model, "glm-4.7");
	assert_string_equal(c.s3_region, "auto");
	assert_null(c.anthropic_model);
	sv_api_conf_release(&c);

	const char *env2[] = {env_c, "SIPVAULT_HMAC_SECRET=k", "ANTHROPIC_API_KEY=ak", NULL};
	assert_int_equal(sv_api_conf_parse(&c, NULL, 0, NULL, env2, err, sizeof(err)), 0);
	assert_int_equal(c.ai_provider, SV_AI_ANTHROPIC);
	sv_api_conf_release(&c);
	const char *env3[] = {env_c, "SIPVAULT_HMAC_SECRET=k", "ANTHROPIC_API_KEY=ak",
	                      "SIPPULSE_API_KEY=sk", NULL};
	assert_int_equal(sv_api_conf_parse(&c, NULL, 0, NULL, env3, err, sizeof(err)), 0);
	assert_int_equal(c.ai_provider, SV_AI_SIPPULSE);
	sv_api_conf_release(&c);
	const char *j = "SIPVAULT_AI_PROVIDER=anthropic\nSIPVAULT_HMAC_MAX_AGE=7d\n";
	assert_int_equal(sv_api_conf_parse(&c, j, strlen(j), "api.env", env3, err, sizeof(err)), 0);
	assert_int_equal(c.ai_provider, SV_AI_ANTHROPIC);
	assert_int_equal(c.hmac_max_age, 7 * 86400);
	sv_api_conf_release(&c);

	const char *env4[] = {env_c, "SIPVAULT_HMAC_SECRET=k", "SIPVAULT_AI_PROVIDER=sippulse",
	                      NULL};
	assert_int_equal(sv_api_conf_parse(&c, NULL, 0, "api.env", env4, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(
	    strstr(err, "SIPPULSE_API_KEY: required when SIPVAULT_AI_PROVIDER is sippulse"));
	const char *env5[] = {env_c, NULL};
	assert_int_equal(sv_api_conf_parse(&c, NULL, 0, "api.env", env5, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "SIPVAULT_HMAC_SECRET: required"));
	const char *j2 = "# api\nANTHROPIC_BASE_URL=api.anthropic.com\n";
	assert_int_equal(sv_api_conf_parse(&c, j2, strlen(j2), "api.env", env, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "api.env:2: ANTHROPIC_BASE_URL: must be an http"));
	const char *j3 = "SIPVAULT_LISTEN_TCP=:1\n"; /* a server key */
	assert_int_equal(sv_api_conf_parse(&c, j3, strlen(j3), "api.env", env, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "api.env:1: SIPVAULT_LISTEN_TCP: unknown key"));
	/* An endpoint needs the guide's AWS_* keys. */
	const char *j4 = "SIPVAULT_S3_ENDPOINT=https://x.r2.cloudflarestorage.com\n"
	                 "AWS_ACCESS_KEY_ID=a\n";
	assert_int_equal(sv_api_conf_parse(&c, j4, strlen(j4), "api.env", env, err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "AWS_SECRET_ACCESS_KEY: required when SIPVAULT_S3_ENDPOINT"));
}

/* The configuration guide's example api.env, verbatim. */
static const char *const guide_api_env =
    "SIPVAULT_S3_ENDPOINT=https://abcdef1234567890.r2.cloudflarestorage.com\n"
    "SIPVAULT_S3_REGION=auto\n"
    "SIPVAULT_HMAC_SECRET=YOUR_HMAC_SECRET_HERE\n"
    "SIPVAULT_HMAC_MAX_AGE=3600\n"
    "SIPPULSE_API_URL=https://api.sippulse.ai/v1\n"
    "SIPPULSE_API_KEY=your_sippulse_ai_key\n"
    "SIPPULSE_AI_MODEL=glm-4.7\n"
    "ANTHROPIC_API_KEY=your_anthropic_key\n"
    "AWS_ACCESS_KEY_ID=your_r2_read_access_key\n"
    "AWS_SECRET_ACCESS_KEY=your_r2_read_secret_key\n";

static void test_api_guide_and_customers(void **state)
{
	struct sv_api_conf c;
	char err[512] = "";
	const char *env[] = {"SIPVAULT_HMAC_MAX_AGE=60", "SIPPULSE_AI_MODEL=other", NULL};
	int rc = sv_api_conf_parse(&c, guide_api_env, strlen(guide_api_env), "api.env", env, err,
	                           sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(c.hmac_max_age, 60);           /* the environment wins */
	assert_string_equal(c.sippulse_model, "other"); /* the environment wins */
	assert_string_equal(c.hmac_secret, "YOUR_HMAC_SECRET_HERE");
	assert_string_equal(c.s3_access_key, "your_r2_read_access_key");
	assert_string_equal(c.s3_secret_key, "your_r2_read_secret_key");
	assert_string_equal(c.s3_endpoint, "https://abcdef1234567890.r2.cloudflarestorage.com");
	assert_int_equal(c.ai_provider, SV_AI_SIPPULSE);
	assert_null(c.customers); /* not in the guide's api.env */

	/* Customers from the server's env file; its other keys are not looked at. */
	const char *srv = "SIPVAULT_LISTEN_TCP=:9060\n"
	                  "SIPVAULT_CUSTOMERS=[{\"id\":\"acme\",\"token\":\"securetoken123\","
	                  "\"bucket\":\"sipvault-acme-us\"}]\n";
	assert_int_equal(sv_api_conf_server_env(&c, srv, strlen(srv), "s.env", err, sizeof(err)),
	                 0);
	assert_string_equal(c.customers->v[0].bucket, "sipvault-acme-us");
	assert_int_equal(sv_api_conf_server_env(&c, NULL, 0, "s.env", err, sizeof(err)), 0);
	sv_api_conf_release(&c);

	assert_int_equal(sv_api_conf_parse(&c, guide_api_env, strlen(guide_api_env), "api.env",
	                                   NULL, err, sizeof(err)),
	                 0);
	assert_int_equal(sv_api_conf_server_env(&c, NULL, 0, "s.env", err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "SIPVAULT_CUSTOMERS: required"));
	const char *srv2 = "SIPVAULT_LOG_LEVEL=info\n\nSIPVAULT_CUSTOMERS=[]\n";
	assert_int_equal(sv_api_conf_server_env(&c, srv2, strlen(srv2), "s.env", err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "s.env:3: SIPVAULT_CUSTOMERS: at least one"));
	sv_api_conf_release(&c);
}

/* ---------------------------------------------------------------- agent */

static const char *const agent_ok = "; sipvault agent\n"
                                    "[server]\n"
                                    "address = sv.example.com:9060\n"
                                    "customer_id = acme\n"
                                    "token = t0ken;with;semicolons\n"
                                    "\n"
                                    "[capture]\n"
                                    "  mode = pcap\n"
                                    "  sip_ports = 5060,5080\n"
                                    "  interface = eth1\n"
                                    "  rtp_port_min = 20000\n"
                                    "  rtp_port_max = 20000\n"
                                    "# comment\n"
                                    "[buffer]\n"
                                    "max_size = 10M\n"
                                    "[logging]\n"
                                    "level = warn\n";

static void test_agent_ok(void **state)
{
	struct sv_agent_conf c;
	char err[512] = "";
	int rc = sv_agent_conf_parse(&c, agent_ok, strlen(agent_ok), "a.conf", err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c.server.host, "sv.example.com");
	assert_int_equal(c.server.port, 9060);
	assert_string_equal(c.customer_id, "acme");
	assert_string_equal(c.token, "t0ken;with;semicolons");
	assert_false(c.tls);
	assert_null(c.ca_file);
	assert_int_equal(c.mode, SV_CAPTURE_PCAP);
	assert_int_equal(c.sip_ports.n, 2);
	assert_string_equal(c.interface, "eth1");
	assert_null(c.log_file);
	assert_int_equal(c.rtp_port_min, 20000);
	assert_string_equal(c.buffer_path, "/var/lib/sipvault/buffer.dat");
	assert_int_equal(c.buffer_max_size, 10 << 20);
	assert_int_equal(c.log_level, SV_LOG_WARN);
	sv_agent_conf_release(&c);

	const char *min = "[server]\naddress=[::1]:9060\ncustomer_id=a\ntoken=t\n"
	                  "tls=on\nca_file=/etc/ssl/ca.pem\n";
	rc = sv_agent_conf_parse(&c, min, strlen(min), "a.conf", err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(c.mode, SV_CAPTURE_AUTO);
	assert_int_equal(c.sip_ports.n, 1);
	assert_int_equal(c.sip_ports.port[0], 5060);
	assert_null(c.interface);
	assert_int_equal(c.rtp_port_min, 10000);
	assert_int_equal(c.rtp_port_max, 30000);
	assert_int_equal(c.buffer_max_size, 104857600);
	assert_int_equal(c.log_level, SV_LOG_INFO);
	assert_true(c.tls);
	assert_string_equal(c.ca_file, "/etc/ssl/ca.pem");
	/* connection timers: today's values by default */
	assert_int_equal(c.heartbeat_interval, 30);
	assert_int_equal(c.rx_timeout, 90);
	assert_int_equal(c.handshake_timeout, 5);
	assert_int_equal(c.stats_interval, 30);
	sv_agent_conf_release(&c);

	const char *timers = "[server]\naddress=h:1\ncustomer_id=a\ntoken=t\n"
	                     "heartbeat_interval = 1\nrx_timeout = 3s\nhandshake_timeout = 2\n"
	                     "stats_interval = 2m\n";
	rc = sv_agent_conf_parse(&c, timers, strlen(timers), "a.conf", err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(c.heartbeat_interval, 1);
	assert_int_equal(c.rx_timeout, 3);
	assert_int_equal(c.handshake_timeout, 2);
	assert_int_equal(c.stats_interval, 120);
	sv_agent_conf_release(&c);
}

static void agent_bad(const char *text, const char *expect)
{
	struct sv_agent_conf c;
	char err[1024] = "";
	int rc = sv_agent_conf_parse(&c, text, strlen(text), "/etc/sipvault/agent.conf", err,
	                             sizeof(err));
	if (rc != SV_E_CONFIG)
		fail_msg("accepted: %s", text);
	if (strstr(err, expect) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, expect);
	assert_null(c.token);
	assert_null(c.buffer_path);
}

#define AGENT_HEAD "[server]\naddress = h:1\ncustomer_id = a\ntoken = t\n"

static void test_agent_errors(void **state)
{
	agent_bad(AGENT_HEAD "[capture]\n\n\n\n\n\n\nrtp_port_min = 70000\n",
	          "/etc/sipvault/agent.conf:12: [capture] rtp_port_min: must be 1..65535, got "
	          "\"70000\"");
	agent_bad(AGENT_HEAD "[capture]\nsnaplen = 9\n",
	          "/etc/sipvault/agent.conf:6: [capture] snaplen: unknown key");
	agent_bad(AGENT_HEAD "[extras]\n",
	          "/etc/sipvault/agent.conf:5: unknown section \"extras\"");
	agent_bad(AGENT_HEAD "[extras]\nfoo = 1\n", "agent.conf:5: unknown section");
	agent_bad("port = 1\n" AGENT_HEAD, "agent.conf:1: port: key outside any section");
	agent_bad(AGENT_HEAD "[capture]\nthis line has no equals sign\n",
	          "agent.conf:6: syntax error");
	agent_bad(AGENT_HEAD "token = again\n", "agent.conf:5: [server] token: set twice (first on "
	                                        "line 4)");
	agent_bad("[server]\naddress = h:1\ntoken = t\n", "agent.conf: [server] customer_id: "
	                                                  "required, but not set");
	agent_bad("[server]\naddress = h:1\ncustomer_id =\ntoken = t\n",
	          "agent.conf:3: [server] customer_id: required, but empty");
	agent_bad("[server]\ncustomer_id = a\ntoken = t\n", "[server] address: required");
	agent_bad("[server]\naddress = :9060\ncustomer_id = a\ntoken = t\n",
	          "agent.conf:2: [server] address: a host is required");
	agent_bad(AGENT_HEAD "[capture]\nrtp_port_max = 5000\n",
	          "agent.conf:6: [capture] rtp_port_min: must not exceed rtp_port_max (5000), got "
	          "\"10000\"");
	agent_bad(AGENT_HEAD "[capture]\nrtp_port_min = 40000\nrtp_port_max = 35000\n",
	          "agent.conf:7: [capture] rtp_port_min: must not exceed");
	agent_bad(AGENT_HEAD "ca_file = /x.pem\n", "agent.conf:5: [server] ca_file: set, but tls");
	agent_bad("[server]\naddress = h:1\ncustomer_id = ac/me\ntoken = t\n",
	          "agent.conf:3: [server] customer_id: must be");
	agent_bad(AGENT_HEAD "[capture]\ninterface = averyveryverylongname\n",
	          "agent.conf:6: [capture] interface: not a network interface name");
	agent_bad(AGENT_HEAD "[capture]\nmode = xdp\n",
	          "agent.conf:6: [capture] mode: must be one of auto|ebpf|pcap, got \"xdp\"");
	agent_bad(AGENT_HEAD "[capture]\nsip_ports = 5060 # 5080\n", "sip_ports");
	agent_bad(AGENT_HEAD "[buffer]\nmax_size = 1000\n",
	          "agent.conf:6: [buffer] max_size: must be 2097152..1099511627776 bytes");
	agent_bad(AGENT_HEAD "[logging]\nlevel = chatty\n", "agent.conf:6: [logging] level");
	agent_bad(AGENT_HEAD "heartbeat_interval = 0\n",
	          "agent.conf:5: [server] heartbeat_interval: must be 1..3600 seconds");
	agent_bad(AGENT_HEAD "rx_timeout = 1\n",
	          "agent.conf:5: [server] rx_timeout: must be 2..86400 seconds");
	agent_bad(AGENT_HEAD "handshake_timeout = soon\n",
	          "agent.conf:5: [server] handshake_timeout: must be 1..3600 seconds");
	agent_bad(AGENT_HEAD "stats_interval = -5\n", "agent.conf:5: [server] stats_interval");
	agent_bad(AGENT_HEAD "rx_timeout = 30\n",
	          "agent.conf:5: [server] rx_timeout: must exceed heartbeat_interval (30 s), got "
	          "\"30\"");
	agent_bad(AGENT_HEAD "rx_timeout = 10\nheartbeat_interval = 20\n",
	          "agent.conf:6: [server] rx_timeout: must exceed heartbeat_interval (20 s)");
	agent_bad(AGENT_HEAD "[server]\ntls = perhaps\n",
	          "agent.conf:6: [server] tls: must be on/off");

	char longline[600];
	snprintf(longline, sizeof(longline), AGENT_HEAD "[capture]\nlog_file = /%0400d\n", 0);
	agent_bad(longline, "agent.conf:6: line longer than");
	const char nul[] = AGENT_HEAD "[capture]\nmode = a\0uto\n";
	struct sv_agent_conf c;
	char err[512];
	assert_int_equal(sv_agent_conf_parse(&c, nul, sizeof(nul) - 1, "x", err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "x:6: NUL byte"));
	assert_int_equal(sv_agent_conf_load(&c, "/nonexistent/agent.conf", err, sizeof(err)),
	                 SV_E_CONFIG);
	assert_non_null(strstr(err, "/nonexistent/agent.conf: cannot read"));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_default_iface(void **state)
{
	char *dir = tu_tmpdir();
	char r4[512], r6[512], none[512], out[32];
	snprintf(r4, sizeof(r4), "%s/route", dir);
	snprintf(r6, sizeof(r6), "%s/ipv6_route", dir);
	snprintf(none, sizeof(none), "%s/none", dir);
	write_file(r4, "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\t"
	               "Window\tIRTT\n"
	               "eth9\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	               "wlan0\t00000000\t0100A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
	               "eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
	               "down0\t00000000\t0100A8C0\t0002\t0\t0\t1\t00000000\t0\t0\t0\n");
	write_file(r6, "00000000000000000000000000000000 40 00000000000000000000000000000000 00 "
	               "00000000000000000000000000000000 00000100 00000001 00000000 00000001 "
	               "eth7\n"
	               "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
	               "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 "
	               "ens3\n"
	               "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
	               "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 "
	               "lo\n");
	assert_int_equal(sv_conf_default_iface(r4, r6, out, sizeof(out)), 0);
	assert_string_equal(out, "eth0");
	assert_int_equal(sv_conf_default_iface(none, r6, out, sizeof(out)), 0);
	assert_string_equal(out, "ens3");
	assert_int_equal(sv_conf_default_iface(none, none, out, sizeof(out)), SV_E_NOTFOUND);
	assert_int_equal(sv_conf_default_iface(r4, r6, out, 3), -ENAMETOOLONG);
	tu_rmrf(dir);
	free(dir);
}

/* ---------------------------------------------------------------- retention */

static void test_retention_ok(void **state)
{
	const char *y = "# retention\n"
	                "default:\n"
	                "  sip_pcap_days: 90\n"
	                "  rtcp_raw_days: 90\n"
	                "  quality_json_days: 365\n"
	                "  log_chunks_days: 30\n"
	                "customers:\n"
	                "  acme:\n"
	                "    sip_pcap_days: 30\n"
	                "    log_chunks_days: forever\n"
	                "  beta: {quality_json_days: 7}\n"
	                "  gamma:\n";
	struct sv_retention_conf c;
	char err[512] = "";
	int rc = sv_retention_conf_parse(&c, y, strlen(y), "r.yml", err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(sv_retention_days(&c, NULL, SV_RET_SIP), 90);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_SIP), 30);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_RTCP), 90);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_LOGS), SV_RET_FOREVER);
	assert_int_equal(sv_retention_days(&c, "beta", SV_RET_QUALITY), 7);
	assert_int_equal(sv_retention_days(&c, "gamma", SV_RET_QUALITY), 365);
	assert_int_equal(sv_retention_days(&c, "zeta", SV_RET_LOGS), 30);
	assert_int_equal(c.n_customers, 3);
	assert_int_equal(c.customers[1].line, 11);
	assert_string_equal(sv_ret_type_name(SV_RET_QUALITY), "quality");
	assert_string_equal(sv_ret_type_key(SV_RET_QUALITY), "quality_json_days");

	struct sv_customers *cs = load_good(); /* acme, beta.co_2, all, nohep */
	assert_int_equal(sv_retention_conf_check(&c, cs, err, sizeof(err)), SV_E_CONFIG);
	assert_string_equal(err, "r.yml:11: customers: beta: not in SIPVAULT_CUSTOMERS");
	sv_customers_free(cs);
	sv_retention_conf_release(&c);

	/* Empty file and keys left out: the guide's defaults 7, 7, 30, 14. */
	rc = sv_retention_conf_parse(&c, "", 0, "r.yml", err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_SIP), 7);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_RTCP), 7);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_QUALITY), 30);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_LOGS), 14);
	sv_retention_conf_release(&c);
	const char *y2 = "default:\n  log_chunks_days: 1\n";
	rc = sv_retention_conf_parse(&c, y2, strlen(y2), "r.yml", err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_LOGS), 1);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_SIP), 7);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_QUALITY), 30);
	sv_retention_conf_release(&c);
	const char *y3 = "default:\ncustomers:\n  acme:\n    rtcp_raw_days: 3\n";
	rc = sv_retention_conf_parse(&c, y3, strlen(y3), "r.yml", err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_RTCP), 3);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_LOGS), 14);
	sv_retention_conf_release(&c);
}

/* The configuration guide's retention.yml, verbatim. */
static const char *const guide_retention =
    "# /etc/sipvault/retention.yml\n"
    "# Run nightly via cron: 0 3 * * * /usr/local/bin/sipvault-retention\n"
    "\n"
    "default:\n"
    "  sip_pcap_days: 7\n"
    "  rtcp_raw_days: 7\n"
    "  quality_json_days: 30\n"
    "  log_chunks_days: 14\n"
    "\n"
    "customers:\n"
    "  # Per-customer overrides using the customer ID as key\n"
    "  acme:\n"
    "    sip_pcap_days: 30\n"
    "    rtcp_raw_days: 30\n"
    "    quality_json_days: 365\n"
    "    log_chunks_days: 90\n";

static void test_retention_guide(void **state)
{
	struct sv_retention_conf c;
	char err[512] = "";
	int rc = sv_retention_conf_parse(&c, guide_retention, strlen(guide_retention), "r.yml", err,
	                                 sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(sv_retention_days(&c, "other", SV_RET_SIP), 7);
	assert_int_equal(sv_retention_days(&c, "other", SV_RET_RTCP), 7);
	assert_int_equal(sv_retention_days(&c, "other", SV_RET_QUALITY), 30);
	assert_int_equal(sv_retention_days(&c, "other", SV_RET_LOGS), 14);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_SIP), 30);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_RTCP), 30);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_QUALITY), 365);
	assert_int_equal(sv_retention_days(&c, "acme", SV_RET_LOGS), 90);
	assert_int_equal(c.customers[0].line, 12);
	sv_retention_conf_release(&c);
}

static void ret_bad(const char *y, const char *expect)
{
	struct sv_retention_conf c;
	char err[512] = "";
	int rc = sv_retention_conf_parse(&c, y, strlen(y), "/etc/sipvault/retention.yml", err,
	                                 sizeof(err));
	if (rc != SV_E_CONFIG)
		fail_msg("accepted: %s", y);
	if (strstr(err, expect) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, expect);
	assert_null(c.customers);
}

static void test_retention_errors(void **state)
{
	ret_bad("default:\n  sip_pcap_days: 90\n  rtcp_raw_days: 0\n",
	        "retention.yml:3: default: rtcp_raw_days: must be 1..36500 days or \"forever\", "
	        "got \"0\"");
	ret_bad("default:\n  sip_pcap_days: 90\n  video: 3\n",
	        "retention.yml:3: default: \"video\": unknown key");
	ret_bad("default:\n  sip_pcap_days: 9\nkeep: 1\n",
	        "retention.yml:3: \"keep\": unknown key");
	ret_bad("defaults:\n  sip: 9\n", "retention.yml:1: \"defaults\": unknown key (expected "
	                                 "default, customers)");
	ret_bad("default:\n  sip_pcap_days: 9\n  sip_pcap_days: 10\n",
	        "retention.yml:3: default: sip_pcap_days: duplicate key");
	ret_bad("default:\n  sip_pcap_days: [1, 2]\n",
	        "retention.yml:2: default: sip_pcap_days: must be a value or a mapping");
	ret_bad("default:\n  sip_pcap_days: 36501\n", "retention.yml:2:");
	ret_bad("default:\n  sip_pcap_days: 9.5\n", "retention.yml:2:");
	ret_bad("default:\n  sip_pcap_days: {a: 1}\n",
	        "retention.yml:2: default: sip_pcap_days: must be 1..36500 days or \"forever\", "
	        "got a mapping");
	ret_bad("default: 90\n", "retention.yml:1: default: must be a mapping");
	ret_bad("- sip\n", "retention.yml:1: the file must be a mapping");
	ret_bad("7\n", "retention.yml:1: the file must be a mapping");
	ret_bad("default:\n  sip_pcap_days: 9\n customers: {\n",
	        "retention.yml:3: YAML syntax error");
	ret_bad("default: {sip_pcap_days: 1\n", "YAML syntax error");
	ret_bad("customers:\n  acme:\n    sip_pcap_days: 1\n  \"a/b\":\n    sip_pcap_days: 2\n",
	        "retention.yml:4: customers: \"a/b\": not a customer id");
	ret_bad("customers:\n  acme:\n    sip_pcap_days: 1\n    log_chunks_days: never\n",
	        "retention.yml:4: customers: acme: log_chunks_days: must be");
	ret_bad("customers:\n  acme: 5\n", "retention.yml:2: customers: acme: must be a mapping");
	ret_bad("customers: [a]\n", "retention.yml:1: customers: must be a value or a mapping");
	ret_bad("customers: 5\n", "retention.yml:1: customers: must be a mapping");
	ret_bad("customers:\n  acme: {}\n  acme: {}\n",
	        "retention.yml:3: customers: acme: duplicate");
	ret_bad("? [a]\n: 1\n", "keys must be plain names");
	ret_bad("default: {}\n---\ndefault: {}\n", "retention.yml:3: only one YAML document");
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

static void test_server_envfile(void **state)
{
	const char *text =
	    "SIPVAULT_CUSTOMERS='[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"}]'\n"
	    "SIPVAULT_DATA_DIR=/srv/file\n"
	    "SIPVAULT_LOG_FLUSH=30\n";
	const char *env[] = {"SIPVAULT_DATA_DIR=/srv/env", NULL};
	struct sv_server_conf c;
	char err[512] = "";
	int rc =
	    sv_server_conf_parse_envfile(&c, text, strlen(text), "s.env", env, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c.data_dir, "/srv/env"); /* the environment wins */
	assert_int_equal(c.log_flush, 30);
	assert_string_equal(c.customers->v[0].id, "a");
	sv_server_conf_release(&c);

	const char *t2 =
	    "SIPVAULT_CUSTOMERS='[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"}]'\n"
	    "\n"
	    "SIPVAULT_LOG_FLUSH=0\n";
	assert_int_equal(
	    sv_server_conf_parse_envfile(&c, t2, strlen(t2), "s.env", NULL, err, sizeof(err)),
	    SV_E_CONFIG);
	assert_non_null(strstr(err, "s.env:3: SIPVAULT_LOG_FLUSH: must be 1..3600 seconds"));
	const char *t3 =
	    "SIPVAULT_CUSTOMERS='[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"}]'\n"
	    "SIPVAULT_HMAC_SECRET=x\n";
	assert_int_equal(
	    sv_server_conf_parse_envfile(&c, t3, strlen(t3), "s.env", NULL, err, sizeof(err)),
	    SV_E_CONFIG);
	assert_non_null(strstr(err, "s.env:2: SIPVAULT_HMAC_SECRET: unknown key"));
	/* The default file may be missing; an explicit one may not. */
	const char *env2[] = {
	    "SIPVAULT_CUSTOMERS=[{\"id\":\"a\",\"token\":\"t\",\"bucket\":\"abc\"}]", NULL};
	assert_int_equal(
	    sv_server_conf_load_envfile(&c, "/nonexistent/server.env", env2, err, sizeof(err)),
	    SV_E_CONFIG);
	assert_non_null(strstr(err, "/nonexistent/server.env: cannot read"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_and_strings),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_bool_level_enum),
	    cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_ports),
	    cmocka_unit_test(test_help_lists_every_key),
	    cmocka_unit_test(test_customers_valid_and_lookups),
	    cmocka_unit_test(test_token_lookup),
	    cmocka_unit_test(test_customers_invalid),
	    cmocka_unit_test(test_server_defaults_env_only),
	    cmocka_unit_test(test_server_file_and_precedence),
	    cmocka_unit_test(test_server_file_errors),
	    cmocka_unit_test(test_server_load_files),
	    cmocka_unit_test(test_api),
	    cmocka_unit_test(test_api_guide_and_customers),
	    cmocka_unit_test(test_agent_ok),
	    cmocka_unit_test(test_agent_errors),
	    cmocka_unit_test(test_default_iface),
	    cmocka_unit_test(test_retention_ok),
	    cmocka_unit_test(test_retention_guide),
	    cmocka_unit_test(test_retention_errors),
	    cmocka_unit_test(test_envfile),
	    cmocka_unit_test(test_server_envfile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
