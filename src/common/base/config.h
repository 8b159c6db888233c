/*
 * config.h - configuration of the four programs, driven by directive tables.
 *
 * Each program has one table of struct sv_conf_key (name, type, where the
 * value lands in the program's config struct, bounds, default, help). The same
 * table parses and validates the input, fills in defaults, prints --help and
 * is what docs/configuration.md describes. Sources:
 *
 *   server, api   environment variables, then a JSON object file
 *                 (sv_server_conf_load / sv_api_conf_load); a variable in the
 *                 environment always wins; an empty variable counts as unset
 *   agent         an INI file (inih) with [server] [capture] [buffer] [logging]
 *   retention     a YAML file (libyaml) of days to keep per data type, plus the
 *                 server's variables from the environment and an env file
 *
 * Every loader returns 0 or SV_E_CONFIG (or -ENOMEM) and on error writes one
 * line, without a trailing newline, into err: the file, the line, the key and
 * what is wrong, e.g.
 *   /etc/sipvault/agent.conf:12: [capture] rtp_port_min: must be 1..65535, got "70000"
 * A loaded config owns its strings; release it with the matching _release(),
 * which wipes secrets (tokens, secret keys) before freeing. _release() of a
 * zeroed or half-loaded struct is fine.
 *
 * Customers (SIPVAULT_CUSTOMERS) are parsed into struct sv_customers with
 * lookups by id, by token (constant time) and by HEP source address.
 */
#ifndef SV_CONFIG_H
#define SV_CONFIG_H

#include "base/cidr.h"
#include "base/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* ------------------------------------------------------------ generic table */

enum sv_conf_type {
	SV_CONF_STRING,     /* char *, any text without control characters */
	SV_CONF_INT,        /* long long, decimal, within [min, max] */
	SV_CONF_BOOL,       /* bool: on/off, true/false, yes/no, 1/0 */
	SV_CONF_LOGLEVEL,   /* enum sv_log_level: debug, info, warn, error */
	SV_CONF_LISTEN,     /* struct sv_conf_addr: "[host]:port", ":port", "[::1]:port" */
	SV_CONF_HOSTPORT,   /* struct sv_conf_addr with a host required: "host:port" */
	SV_CONF_URL,        /* char *, http:// or https:// with a host */
	SV_CONF_PATH,       /* char *, a non-empty file system path */
	SV_CONF_PORT_RANGE, /* struct sv_conf_port_range: "LO-HI", LO <= HI */
	SV_CONF_PORTS,      /* struct sv_conf_ports: "5060,5080" */
	SV_CONF_SECONDS,    /* long long seconds: "90", "90s", "15m", "2h", "1d" */
	SV_CONF_SIZE,       /* long long bytes: "1048576", "512K", "100M", "2G", "1T" (binary) */
	SV_CONF_ENUM,       /* int: index of the value in choices ("auto|ebpf|pcap") */
	SV_CONF_CUSTOMERS,  /* struct sv_customers *: JSON array (see below) */
};

enum {
	SV_CONF_F_REQUIRED = 1 << 0, /* no default: loading fails when it is not set */
	SV_CONF_F_SECRET = 1 << 1,   /* wiped before free, never printed */
	SV_CONF_F_OFF = 1 << 2,      /* LISTEN: "off" or "" disables it */
};

struct sv_conf_key {
	const char *section; /* INI section ("capture"); NULL for env/JSON keys */
	const char *name;
	enum sv_conf_type type;
	size_t offset; /* of the field in the program's config struct */
	long long min, max;
	const char *def; /* default as text; NULL = unset (empty) */
	unsigned flags;
	const char *choices; /* SV_CONF_ENUM: "a|b|c" */
	const char *help;
};

#define SV_CONF_HOST_MAX  256
#define SV_CONF_MAX_PORTS 32

struct sv_conf_addr {
	bool enabled;                /* false: "off" (SV_CONF_F_OFF keys only) */
	char host[SV_CONF_HOST_MAX]; /* without brackets; "" = every address */
	uint16_t port;
};

struct sv_conf_port_range {
	uint16_t lo, hi;
};

struct sv_conf_ports {
	size_t n;
	uint16_t port[SV_CONF_MAX_PORTS];
};

/*
 * Parses text into the field k describes inside base (replacing and freeing
 * what was there). On error returns SV_E_CONFIG and writes the reason
 * ("must be 1..65535, got \"70000\"") into why; the field is unchanged.
 */
int sv_conf_set(const struct sv_conf_key *k, void *base, const char *text, char *why,
                size_t whylen);
/* Sets every key of the table to its default (keys without one are zeroed). */
int sv_conf_defaults(const struct sv_conf_key *keys, size_t n, void *base);
/* Frees every field the table owns (secrets wiped) and zeroes them. NULL ok. */
void sv_conf_release_fields(const struct sv_conf_key *keys, size_t n, void *base);
/* Looks a key up by name (and section, NULL for section-less tables). */
const struct sv_conf_key *sv_conf_find(const struct sv_conf_key *keys, size_t n,
                                       const char *section, const char *name);
/* Prints the table for --help: one key per line with type, default, bounds. */
void sv_conf_print_help(FILE *f, const struct sv_conf_key *keys, size_t n);
/* A short name of the type ("seconds", "listen address"...), static. */
const char *sv_conf_type_name(enum sv_conf_type t);
/* Formats an address back to text ("[::1]:9060", ":9060", "off"). */
void sv_conf_addr_format(const struct sv_conf_addr *a, char *out, size_t len);

/* ---------------------------------------------------------------- customers */

struct sv_customer {
	char *id;     /* [A-Za-z0-9._-]+ */
	char *token;  /* secret */
	char *bucket; /* S3 bucket name rules */
	struct sv_cidr *hep_sources;
	size_t n_hep_sources;
	uint8_t token_sha256[32]; /* what token lookups compare */
};

struct sv_customers {
	struct sv_customer *v;
	size_t n;
};

/*
 * Parses and validates a SIPVAULT_CUSTOMERS JSON array:
 *   [{"id":"acme","token":"...","bucket":"acme-calls",
 *     "hep_sources":["10.0.0.0/8","2001:db8::/32"]}]
 * Rules: at least one customer; id non-empty, at most 64 chars of
 * [A-Za-z0-9._-] and not "." or ".."; ids unique; token non-empty, unique;
 * bucket 3..63 chars of [a-z0-9.-] starting and ending with a letter or digit,
 * no "..", not shaped like an IPv4 address; hep_sources optional list of
 * CIDRs (sv_cidr_parse); unknown fields rejected. On error writes e.g.
 * "customer 2 (\"acme\"): bucket: ..." into err. *out is freed with
 * sv_customers_free().
 */
int sv_customers_parse(const char *json, size_t len, struct sv_customers **out, char *err,
                       size_t errlen);
/* Frees (wiping tokens). NULL ok. */
void sv_customers_free(struct sv_customers *cs);
/* Returns the customer with this id or NULL; pointer lives as long as cs. */
const struct sv_customer *sv_customers_find_by_id(const struct sv_customers *cs, const char *id);
/*
 * Returns the customer whose token equals token[0..len) or NULL. Constant
 * time with respect to the secrets: the presented token is hashed (SHA-256)
 * and compared with every customer's token digest using CRYPTO_memcmp, with
 * no early exit, so timing reveals neither which customer matched nor how
 * many leading bytes of any token were right.
 */
const struct sv_customer *sv_customers_find_by_token(const struct sv_customers *cs,
                                                     const char *token, size_t len);
/* Constant-time check of one customer's token (same method). */
bool sv_customer_token_ok(const struct sv_customer *c, const char *token, size_t len);
/*
 * Returns the customer whose hep_sources contain the address (family AF_INET
 * with 4 bytes or AF_INET6 with 16), choosing the longest matching prefix
 * (first customer on a tie), or NULL.
 */
const struct sv_customer *sv_customers_find_by_addr(const struct sv_customers *cs, int family,
                                                    const void *addr);

/* ---------------------------------------------------------- env and JSON */

/*
 * Loads a section-less table from the environment env (NULL-terminated
 * "KEY=VALUE" strings, like environ; NULL = none) and then the JSON object
 * text (may be NULL: environment only). fname names the text in errors.
 * Unknown keys in the JSON are errors naming key and line; JSON values may be
 * strings, integers or booleans (SV_CONF_CUSTOMERS: an array or a string).
 * Required keys not set anywhere are errors. Fields not set get defaults.
 */
int sv_conf_load_env_json(const struct sv_conf_key *keys, size_t n, void *base,
                          const char *const *env, const char *json, size_t json_len,
                          const char *fname, char *err, size_t errlen);

/* Reads a whole file into a NUL-terminated malloc'ed block; 0 or -errno. */
int sv_conf_read_file(const char *path, char **out, size_t *len);

/* ----------------------------------------------------------- server */

struct sv_server_conf {
	struct sv_conf_addr listen_tcp;
	struct sv_conf_addr listen_hep;
	char *s3_endpoint; /* NULL: local object store */
	char *s3_region;
	char *s3_access_key;
	char *s3_secret_key;
	struct sv_customers *customers;
	enum sv_log_level log_level;
	char *data_dir;
	long long pending_timeout;
	long long active_timeout;
	long long closing_grace;
	long long log_flush;
	struct sv_conf_addr metrics_listen; /* enabled == false: off */
};

extern const struct sv_conf_key sv_server_conf_keys[];
extern const size_t sv_server_conf_nkeys;

#define SV_SERVER_CONF_PATH "/etc/sipvault/server.conf"

/*
 * Loads the server configuration: env first, then the JSON file at path.
 * path NULL means the default file, which may be missing (environment only);
 * an explicitly named file must exist. Checks that S3 keys are set when an
 * endpoint is. Release with sv_server_conf_release().
 */
int sv_server_conf_load(struct sv_server_conf *c, const char *path, const char *const *env,
                        char *err, size_t errlen);
/* Same from JSON text in memory (json may be NULL). */
int sv_server_conf_parse(struct sv_server_conf *c, const char *json, size_t len, const char *fname,
                         const char *const *env, char *err, size_t errlen);
void sv_server_conf_release(struct sv_server_conf *c);

/* ------------------------------------------------------------- api */

enum sv_ai_provider {
	SV_AI_AUTO = 0, /* sippulse when SIPPULSE_API_KEY is set, else anthropic when
	                   ANTHROPIC_API_KEY is set, else none; resolved at load */
	SV_AI_SIPPULSE = 1,
	SV_AI_ANTHROPIC = 2,
	SV_AI_NONE = 3,
};

struct sv_api_conf {
	struct sv_conf_addr listen;
	struct sv_customers *customers;
	char *data_dir;
	char *s3_endpoint;
	char *s3_region;
	char *s3_access_key;
	char *s3_secret_key;
	char *hmac_secret;
	long long hmac_max_age;
	int ai_provider; /* enum sv_ai_provider, never SV_AI_AUTO after loading */
	char *ai_model;  /* NULL: the provider's default model */
	char *sippulse_api_key;
	char *sippulse_base_url;
	char *anthropic_api_key;
	char *anthropic_base_url;
	enum sv_log_level log_level;
};

extern const struct sv_conf_key sv_api_conf_keys[];
extern const size_t sv_api_conf_nkeys;

#define SV_API_CONF_PATH "/etc/sipvault/api.conf"

/* As sv_server_conf_load() for the API (default file /etc/sipvault/api.conf). */
int sv_api_conf_load(struct sv_api_conf *c, const char *path, const char *const *env, char *err,
                     size_t errlen);
int sv_api_conf_parse(struct sv_api_conf *c, const char *json, size_t len, const char *fname,
                      const char *const *env, char *err, size_t errlen);
void sv_api_conf_release(struct sv_api_conf *c);
const char *sv_ai_provider_name(int p);

/* ----------------------------------------------------------- agent */

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

/* Loads the agent's INI file (which must exist). */
int sv_agent_conf_load(struct sv_agent_conf *c, const char *path, char *err, size_t errlen);
/* Same from INI text in memory; fname names it in errors. */
int sv_agent_conf_parse(struct sv_agent_conf *c, const char *text, size_t len, const char *fname,
                        char *err, size_t errlen);
void sv_agent_conf_release(struct sv_agent_conf *c);

/*
 * Finds the interface of the default route: the IPv4 default route with the
 * lowest metric in route_path (/proc/net/route format), else the IPv6 one in
 * route6_path (/proc/net/ipv6_route format). NULL paths mean the /proc files.
 * Writes the name into out. Returns 0, SV_E_NOTFOUND, or -errno.
 */
int sv_conf_default_iface(const char *route_path, const char *route6_path, char *out, size_t len);

/* ------------------------------------------------------- retention */

enum sv_ret_type {
	SV_RET_SIP = 0, /* sip.pcap.gz */
	SV_RET_RTCP,    /* rtcp.json.gz */
	SV_RET_QUALITY, /* quality.json */
	SV_RET_LOGS,    /* log-NNNNNN.gz */
	SV_RET_NTYPES,
};

#define SV_RET_FOREVER  (-1) /* never delete */
#define SV_RET_INHERIT  (-2) /* per-customer: use the default */
#define SV_RET_MAX_DAYS 36500

struct sv_ret_override {
	char *customer;
	int line; /* of the customer's key in the file */
	int days[SV_RET_NTYPES];
};

struct sv_retention_conf {
	int days[SV_RET_NTYPES]; /* defaults; SV_RET_FOREVER when not configured */
	struct sv_ret_override *customers;
	size_t n_customers;
	char *fname; /* for errors naming the file later */
};

#define SV_RETENTION_CONF_PATH "/etc/sipvault/retention.yml"
#define SV_RETENTION_ENV_PATH  "/etc/sipvault/server.env"

/*
 * Parses the retention YAML:
 *   defaults:        { sip: 90, rtcp: 90, quality: 365, logs: 30 }
 *   customers:
 *     acme:          { sip: 30, logs: forever }
 * Days are integers 1..36500 or "forever". Unknown keys, duplicate keys and
 * wrong shapes are errors naming key and line.
 */
int sv_retention_conf_parse(struct sv_retention_conf *c, const char *text, size_t len,
                            const char *fname, char *err, size_t errlen);
int sv_retention_conf_load(struct sv_retention_conf *c, const char *path, char *err, size_t errlen);
void sv_retention_conf_release(struct sv_retention_conf *c);
/* Every customer override must name a customer of cs; else SV_E_CONFIG + err. */
int sv_retention_conf_check(const struct sv_retention_conf *c, const struct sv_customers *cs,
                            char *err, size_t errlen);
/* Days to keep type t for customer id (override, else default); SV_RET_FOREVER = keep. */
int sv_retention_days(const struct sv_retention_conf *c, const char *customer, enum sv_ret_type t);
/* "sip", "rtcp", "quality", "logs". */
const char *sv_ret_type_name(enum sv_ret_type t);

/* ------------------------------------------------------------ env file */

struct sv_envfile_entry {
	char *key;
	char *value; /* wiped before free */
	int line;
};

struct sv_envfile {
	struct sv_envfile_entry *v;
	size_t n;
};

/*
 * Parses KEY=VALUE lines: blank lines and lines starting with '#' are
 * skipped; "export " before the key is allowed; the value may be in double
 * quotes (\" \\ \$ \` \n escapes) or single quotes (literal); unquoted values
 * have surrounding blanks trimmed. Keys are [A-Za-z_][A-Za-z0-9_]*. A key given
 * twice is an error. Errors name fname and the line.
 */
int sv_envfile_parse(struct sv_envfile *ef, const char *text, size_t len, const char *fname,
                     char *err, size_t errlen);
void sv_envfile_release(struct sv_envfile *ef);
/* Value of key or NULL (pointer lives as long as ef). */
const char *sv_envfile_get(const struct sv_envfile *ef, const char *key, int *line);

/*
 * The retention tool's view of the server variables: the environment first,
 * then the env file at path (NULL = the default file, which may be missing;
 * an explicit one must exist). Keys of the file must be server keys.
 */
int sv_server_conf_load_envfile(struct sv_server_conf *c, const char *path, const char *const *env,
                                char *err, size_t errlen);
/* Same with env-file text in memory (text may be NULL). */
int sv_server_conf_parse_envfile(struct sv_server_conf *c, const char *text, size_t len,
                                 const char *fname, const char *const *env, char *err,
                                 size_t errlen);

#endif
