#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent_conf.h"
#include "base/errors.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_help_lists_every_key(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	sv_conf_print_help(f, sv_agent_conf_keys, sv_agent_conf_nkeys);
	fclose(f);
	for (size_t i = 0; i < sv_agent_conf_nkeys; i++)
		assert_non_null(strstr(text, sv_agent_conf_keys[i].name));
	assert_non_null(strstr(text, "[capture]"));
	assert_non_null(strstr(text, "integer 1..65535; default 10000"));
	free(text);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_help_lists_every_key),
	    cmocka_unit_test(test_agent_ok),
	    cmocka_unit_test(test_agent_errors),
	    cmocka_unit_test(test_default_iface),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
