/*
 * agent_conf.h - sipvault-agent's configuration: its key table and loader.
 *
 * The INI file of the configuration guide, /etc/sipvault/agent.conf, with
 * the sections [server] [capture] [buffer] [logging] and the guide's keys and
 * defaults; [server] tls, ca_file and the timers are our extensions
 * (docs/configuration.md).
 */
#ifndef SV_AGENT_CONF_H
#define SV_AGENT_CONF_H

#include "base/config.h"
#include "base/log.h"

#include <stdbool.h>
#include <stddef.h>

enum sv_capture_mode {
	SV_CAPTURE_AUTO = 0,
	SV_CAPTURE_EBPF = 1,
	SV_CAPTURE_PCAP = 2,
};

struct sv_agent_conf {
	/* [server] */
	struct sv_conf_addr server;
	char *customer_id;
	char *token; /* secret */
	bool tls;
	char *ca_file;                /* NULL: the system trust store */
	long long heartbeat_interval; /* seconds between HEARTBEATs (default 30) */
	long long rx_timeout;         /* seconds without a byte from the server (default 90) */
	long long handshake_timeout;  /* seconds to wait for HANDSHAKE_ACK (default 5) */
	long long stats_interval;     /* seconds between AGENT_STATS (default 30) */
	/* [capture] */
	int mode; /* enum sv_capture_mode */
	struct sv_conf_ports sip_ports;
	char *interface; /* NULL: the default-route interface, see sv_conf_default_iface() */
	char *log_file;  /* NULL: no proxy log tailing */
	long long rtp_port_min;
	long long rtp_port_max;
	/* [buffer] */
	char *buffer_path;
	long long buffer_max_size;
	/* [logging] */
	enum sv_log_level log_level;
};

extern const struct sv_conf_key sv_agent_conf_keys[];
extern const size_t sv_agent_conf_nkeys;

#define SV_AGENT_CONF_PATH "/etc/sipvault/agent.conf"

/* Loads the agent's INI file (which must exist). On error c is released. */
int sv_agent_conf_load(struct sv_agent_conf *c, const char *path, char *err, size_t errlen);
/* Same from INI text in memory; fname names it in errors. */
int sv_agent_conf_parse(struct sv_agent_conf *c, const char *text, size_t len, const char *fname,
                        char *err, size_t errlen);
/* Frees the fields (the token wiped) and zeroes them. NULL ok. */
void sv_agent_conf_release(struct sv_agent_conf *c);

/*
 * Finds the interface of the default route: the IPv4 default route with the
 * lowest metric in route_path (/proc/net/route format), else the IPv6 one in
 * route6_path (/proc/net/ipv6_route format). NULL paths mean the /proc files.
 * Writes the name into out. Returns 0, SV_E_NOTFOUND, or -errno.
 */
int sv_conf_default_iface(const char *route_path, const char *route6_path, char *out, size_t len);

#endif
