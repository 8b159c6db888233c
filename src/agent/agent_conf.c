/*
 * agent_conf.c - sipvault-agent's key table and loader (agent_conf.h).
 */
#include "agent_conf.h"

#include "base/errors.h"
#include "store/customers.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define K(...) SV_CONF_KEY(struct sv_agent_conf, __VA_ARGS__)

#define S struct sv_agent_conf
const struct sv_conf_key sv_agent_conf_keys[] = {
    K("server", "address", SV_CONF_HOSTPORT, server, 0, 0, NULL, SV_CONF_F_REQUIRED, NULL,
      "sipvault-server agent listener, host:port ([v6]:port)"),
    K("server", "customer_id", SV_CONF_STRING, customer_id, 0, 0, NULL, SV_CONF_F_REQUIRED, NULL,
      "this platform's customer id (A-Z a-z 0-9 . _ -)"),
    K("server", "token", SV_CONF_STRING, token, 0, 0, NULL, SV_CONF_F_REQUIRED | SV_CONF_F_SECRET,
      NULL, "the customer's token"),
    K("server", "tls", SV_CONF_BOOL, tls, 0, 0, "off", 0, NULL, "connect to the server over TLS"),
    K("server", "ca_file", SV_CONF_PATH, ca_file, 0, 0, NULL, 0, NULL,
      "PEM CA bundle to verify the server (tls = on); unset: the system store"),
    K("server", "heartbeat_interval", SV_CONF_SECONDS, heartbeat_interval, 1, 3600, "30", 0, NULL,
      "seconds between HEARTBEATs to the server"),
    K("server", "rx_timeout", SV_CONF_SECONDS, rx_timeout, 2, 86400, "90", 0, NULL,
      "reconnect after this long without a byte from the server (> heartbeat_interval)"),
    K("server", "handshake_timeout", SV_CONF_SECONDS, handshake_timeout, 1, 3600, "5", 0, NULL,
      "reconnect when the server does not answer the HANDSHAKE within this"),
    K("server", "stats_interval", SV_CONF_SECONDS, stats_interval, 1, 86400, "30", 0, NULL,
      "seconds between AGENT_STATS reports (when the server accepts \"stats\")"),
    K("capture", "mode", SV_CONF_ENUM, mode, 0, 0, "auto", 0, "auto|ebpf|pcap",
      "capture backend; auto: eBPF on kernels >= 4.18, else pcap"),
    K("capture", "sip_ports", SV_CONF_PORTS, sip_ports, 1, 65535, "5060", 0, NULL,
      "SIP ports to capture, comma-separated"),
    K("capture", "interface", SV_CONF_STRING, interface, 0, 0, NULL, 0, NULL,
      "interface to capture on; unset: the one carrying the default route"),
    K("capture", "log_file", SV_CONF_PATH, log_file, 0, 0, NULL, 0, NULL,
      "OpenSIPS log file to tail for per-call lines; unset: disabled"),
    K("capture", "rtp_port_min", SV_CONF_INT, rtp_port_min, 1, 65535, "10000", 0, NULL,
      "lowest RTP/RTCP port of the media relay"),
    K("capture", "rtp_port_max", SV_CONF_INT, rtp_port_max, 1, 65535, "30000", 0, NULL,
      "highest RTP/RTCP port (>= rtp_port_min)"),
    K("buffer", "path", SV_CONF_PATH, buffer_path, 0, 0, "/var/lib/sipvault/buffer.dat",
      SV_CONF_F_REQUIRED, NULL, "disk buffer used while the server is unreachable"),
    K("buffer", "max_size", SV_CONF_SIZE, buffer_max_size, 2LL << 20, 1LL << 40, "104857600", 0,
      NULL, "disk buffer size limit in bytes (K, M, G, T suffixes)"),
    K("logging", "level", SV_CONF_LOGLEVEL, log_level, 0, 0, "info", 0, NULL,
      "debug, info, warn or error"),
};
const size_t sv_agent_conf_nkeys = sizeof(sv_agent_conf_keys) / sizeof(sv_agent_conf_keys[0]);
#undef K

/* The line key name of [server] or [capture] was set on, 0 if not set. */
static int key_line(const int *lines, const char *name)
{
	const struct sv_conf_key *k =
	    sv_conf_find(sv_agent_conf_keys, sv_agent_conf_nkeys, "capture", name);
	if (k == NULL)
		k = sv_conf_find(sv_agent_conf_keys, sv_agent_conf_nkeys, "server", name);
	return k != NULL ? lines[k - sv_agent_conf_keys] : 0;
}

static int fail_at(const char *fname, int line, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail_at(const char *fname, int line, char *err, size_t errlen, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		sv_conf_err(err, errlen, "%s:%d: %s", fname, line, msg);
	else
		sv_conf_err(err, errlen, "%s: %s", fname, msg);
	return SV_E_CONFIG;
}

/* The rules that tie keys together, after every key is parsed. */
static int check(const struct sv_agent_conf *c, const int *lines, const char *fname, char *err,
                 size_t errlen)
{
	char q[96];
	if (!sv_customer_id_ok(c->customer_id)) {
		sv_conf_quote(c->customer_id, q, sizeof(q));
		return fail_at(
		    fname, key_line(lines, "customer_id"), err, errlen,
		    "[server] customer_id: must be 1..64 characters of A-Z a-z 0-9 . _ -, "
		    "got %s",
		    q);
	}
	if (c->rtp_port_min > c->rtp_port_max) {
		int l1 = key_line(lines, "rtp_port_min"), l2 = key_line(lines, "rtp_port_max");
		return fail_at(fname, l1 > l2 ? l1 : l2, err, errlen,
		               "[capture] rtp_port_min: must not exceed rtp_port_max (%lld), got "
		               "\"%lld\"",
		               c->rtp_port_max, c->rtp_port_min);
	}
	if (c->rx_timeout <= c->heartbeat_interval) {
		int l1 = key_line(lines, "rx_timeout"), l2 = key_line(lines, "heartbeat_interval");
		return fail_at(fname, l1 > l2 ? l1 : l2, err, errlen,
		               "[server] rx_timeout: must exceed heartbeat_interval (%lld s), got "
		               "\"%lld\"",
		               c->heartbeat_interval, c->rx_timeout);
	}
	if (c->ca_file != NULL && !c->tls)
		return fail_at(fname, key_line(lines, "ca_file"), err, errlen,
		               "[server] ca_file: set, but tls is off (set tls = on or remove it)");
	if (c->interface != NULL) {
		size_t n = strlen(c->interface);
		if (n >= IF_NAMESIZE || strchr(c->interface, '/') != NULL ||
		    strpbrk(c->interface, " \t") != NULL) {
			sv_conf_quote(c->interface, q, sizeof(q));
			return fail_at(fname, key_line(lines, "interface"), err, errlen,
			               "[capture] interface: not a network interface name (at most "
			               "%d characters, no '/' or blanks), got %s",
			               IF_NAMESIZE - 1, q);
		}
	}
	return 0;
}

int sv_agent_conf_parse(struct sv_agent_conf *c, const char *text, size_t len, const char *fname,
                        char *err, size_t errlen)
{
	int lines[sizeof(sv_agent_conf_keys) / sizeof(sv_agent_conf_keys[0])];
	int rc;

	memset(c, 0, sizeof(*c));
	if (fname == NULL)
		fname = SV_AGENT_CONF_PATH;
	rc = sv_conf_parse_ini(sv_agent_conf_keys, sv_agent_conf_nkeys, c, text, len, fname, lines,
	                       err, errlen);
	if (rc == 0)
		rc = check(c, lines, fname, err, errlen);
	if (rc != 0)
		sv_agent_conf_release(c);
	return rc;
}

static int parse_ini(void *arg, const char *text, size_t len, const char *fname, char *err,
                     size_t errlen)
{
	return sv_agent_conf_parse(arg, text, len, fname, err, errlen);
}

int sv_agent_conf_load(struct sv_agent_conf *c, const char *path, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	return sv_conf_load_file(path, SV_AGENT_CONF_PATH, 0, parse_ini, c, err, errlen);
}

void sv_agent_conf_release(struct sv_agent_conf *c)
{
	if (c == NULL)
		return;
	sv_conf_release_fields(sv_agent_conf_keys, sv_agent_conf_nkeys, c);
}

int sv_conf_default_iface(const char *route_path, const char *route6_path, char *out, size_t len)
{
	char line[512], best[IF_NAMESIZE] = "";
	long best_metric = LONG_MAX;
	FILE *f;

	f = fopen(route_path != NULL ? route_path : "/proc/net/route", "r");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			char ifname[IF_NAMESIZE + 1];
			unsigned long dst, gw, mask;
			unsigned flags;
			long refcnt, use, metric;
			if (sscanf(line, "%16s %lx %lx %x %ld %ld %ld %lx", ifname, &dst, &gw,
			           &flags, &refcnt, &use, &metric, &mask) != 8)
				continue; /* the header line, or junk */
			if (dst != 0 || mask != 0 || !(flags & 0x1) || (flags & 0x200))
				continue; /* not an up, usable default route */
			if (strlen(ifname) >= IF_NAMESIZE || strcmp(ifname, "lo") == 0)
				continue;
			if (metric < best_metric) {
				best_metric = metric;
				memcpy(best, ifname, strlen(ifname) + 1);
			}
		}
		fclose(f);
	}
	if (best[0] == '\0') {
		f = fopen(route6_path != NULL ? route6_path : "/proc/net/ipv6_route", "r");
		if (f != NULL) {
			while (fgets(line, sizeof(line), f) != NULL) {
				char dst[33], src[33], hop[33], ifname[IF_NAMESIZE + 1];
				unsigned dlen, slen, flags;
				unsigned long metric, refcnt, use;
				if (sscanf(line, "%32s %x %32s %x %32s %lx %lx %lx %x %16s", dst,
				           &dlen, src, &slen, hop, &metric, &refcnt, &use, &flags,
				           ifname) != 10)
					continue;
				if (strspn(dst, "0") != 32 || dlen != 0 || !(flags & 0x1) ||
				    (flags & 0x200))
					continue;
				if (strlen(ifname) >= IF_NAMESIZE || strcmp(ifname, "lo") == 0)
					continue;
				if ((long)metric < best_metric || best[0] == '\0') {
					best_metric = (long)metric;
					memcpy(best, ifname, strlen(ifname) + 1);
				}
			}
			fclose(f);
		}
	}
	if (best[0] == '\0')
		return SV_E_NOTFOUND;
	if (strlen(best) >= len)
		return -ENAMETOOLONG;
	memcpy(out, best, strlen(best) + 1);
	return 0;
}
