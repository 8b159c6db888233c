/*
 * config.h - the configuration readers, driven by directive tables.
 *
 * A program describes its configuration with one table of struct
 * sv_conf_key (name, type, where the value lands in the program's config
 * struct, bounds, default, help), kept in the program's own folder
 * (src/server/srv_conf.c, src/agent/agent_conf.c, src/api/api_conf.c,
 * src/retention/ret_conf.c), as nginx keeps directives with their module.
 * The same table parses and validates the input, fills in defaults, prints
 * --help and is what docs/configuration.md describes.
 *
 * This module holds what every table shares: the value types and their
 * parsers, and the readers of the four formats the programs use:
 *
 *   env + JSON     sv_conf_load_env_json(): each key from the environment,
 *                  else a JSON object, else its default (server)
 *   env + env file sv_conf_load_env_file(): the same with KEY=VALUE lines,
 *                  as systemd's EnvironmentFile= reads them (API, retention)
 *   INI            sv_conf_parse_ini() with [section] key = value (agent)
 *   YAML           sv_conf_parse_yaml(): nested mappings flattened into
 *                  (path, value, line) leaves for the caller (retention)
 *
 * and one file loader, sv_conf_load_file(), which reads a file, hands the
 * text to a parse callback and wipes the text before freeing it.
 *
 * Every reader returns 0 or SV_E_CONFIG (or -ENOMEM) and on error writes one
 * line, without a trailing newline, into err: the file, the line, the key and
 * what is wrong, e.g.
 *   /etc/sipvault/agent.conf:12: [capture] rtp_port_min: must be 1..65535, got "70000"
 * A loaded struct owns its strings; sv_conf_release_fields() frees them and
 * wipes secrets (tokens, secret keys) first.
 */
#ifndef SV_CONFIG_H
#define SV_CONFIG_H

#include "base/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
	SV_CONF_CUSTOM,     /* a pointer parsed and freed by k->ops (e.g. the customers) */
};

enum {
	SV_CONF_F_REQUIRED = 1 << 0, /* no default: loading fails when it is not set */
	SV_CONF_F_SECRET = 1 << 1,   /* wiped before free, never printed */
	SV_CONF_F_OFF = 1 << 2,      /* LISTEN: "off" or "" disables it */
};

/*
 * A value type the readers do not know, supplied by a higher layer or a
 * program (the customer registry, store/customers.h). The field is a pointer
 * owned by the config struct.
 */
struct sv_conf_ops {
	const char *type_name; /* for --help ("customers JSON") */
	/* Parses text[0..len) into a new value in *out; SV_E_CONFIG with why. */
	int (*parse)(const char *text, size_t len, void **out, char *why, size_t whylen);
	void (*free)(void *value); /* NULL ok; wipes secrets */
	bool json_array;           /* a JSON file may give it as an array */
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
	const struct sv_conf_ops *ops; /* SV_CONF_CUSTOM only */
};

/* A row of a program's key table for field fld of its config struct S
 * (section sec is NULL for env/JSON keys). Programs wrap it:
 * #define K(...) SV_CONF_KEY(struct sv_agent_conf, __VA_ARGS__) */
#define SV_CONF_KEY(S, sec, nm, ty, fld, mn, mx, df, fl, ch, hl)            \
	{                                                                   \
		sec, nm, ty, offsetof(S, fld), mn, mx, df, fl, ch, hl, NULL \
	}

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

/* ---------------------------------------------------------------- helpers */

/* printf into err as one line (newlines become blanks); err may be NULL. */
void sv_conf_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A quoted, escaped copy of s cut at 64 characters, for messages: "a\x01b...". */
void sv_conf_quote(const char *s, char *out, size_t len);
/* True when s holds a control character (below 0x20, or 0x7f). */
bool sv_conf_has_ctl(const char *s);
/* Wipes a NUL-terminated secret and frees it. NULL ok. */
void sv_conf_free_secret(char *s);
/* Strict decimal integer of the whole string: 0, -EINVAL or -ERANGE. */
int sv_conf_parse_ll(const char *s, long long *out);
/* Value of name in env (NULL-terminated "KEY=VALUE" strings); "" counts as unset. */
const char *sv_conf_getenv(const char *const *env, const char *name);

/* ------------------------------------------------------------------ files */

/* Reads a whole file (at most 64 MiB) into a NUL-terminated malloc'ed block; 0 or -errno. */
int sv_conf_read_file(const char *path, char **out, size_t *len);

/*
 * Called by sv_conf_load_file() with the file's text (NUL-terminated at
 * text[len]), or with text NULL when an optional default file is missing.
 * fname is the file's name for messages. Returns 0 or an error with err set.
 */
typedef int (*sv_conf_parse_fn)(void *arg, const char *text, size_t len, const char *fname,
                                char *err, size_t errlen);

enum {
	/* path NULL and default_path missing: parse(text NULL) instead of an error */
	SV_CONF_LOAD_OPTIONAL = 1 << 0,
};

/*
 * Reads path (default_path when path is NULL), calls parse and then wipes and
 * frees the text. A file that cannot be read is SV_E_CONFIG with
 * "FILE: cannot read: REASON" in err, except a missing default with
 * SV_CONF_LOAD_OPTIONAL. Returns what parse returns.
 */
int sv_conf_load_file(const char *path, const char *default_path, unsigned flags,
                      sv_conf_parse_fn parse, void *arg, char *err, size_t errlen);

/* ---------------------------------------------------------- env and JSON */

/*
 * Loads a section-less table from the environment env (NULL-terminated
 * "KEY=VALUE" strings, like environ; NULL = none) and then the JSON object
 * text (may be NULL: environment only). fname names the text in errors.
 * Unknown keys in the JSON are errors naming key and line; JSON values may be
 * strings, integers or booleans (SV_CONF_CUSTOM with ops->json_array: also an
 * array). Required keys not set anywhere are errors. Fields not set get
 * defaults. On error the fields may be half set: release them.
 */
int sv_conf_load_env_json(const struct sv_conf_key *keys, size_t n, void *base,
                          const char *const *env, const char *json, size_t json_len,
                          const char *fname, char *err, size_t errlen);

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
 * Parses KEY=VALUE lines, as systemd's EnvironmentFile= and a shell read
 * them: blank lines and lines starting with '#' are skipped; "export " before
 * the key is allowed; the value may be in double quotes (\" \\ \$ \` \n
 * escapes) or single quotes (literal); unquoted values have surrounding
 * blanks trimmed. Keys are [A-Za-z_][A-Za-z0-9_]*. A key given twice is an
 * error. Errors name fname and the line.
 */
int sv_envfile_parse(struct sv_envfile *ef, const char *text, size_t len, const char *fname,
                     char *err, size_t errlen);
void sv_envfile_release(struct sv_envfile *ef);
/* Value of key or NULL (pointer lives as long as ef); *line its line when found. */
const char *sv_envfile_get(const struct sv_envfile *ef, const char *key, int *line);

/*
 * As sv_conf_load_env_json() with an env file (text may be NULL: environment
 * only): each key from env, else the file, else its default. Keys of the
 * file must be keys of the table.
 */
int sv_conf_load_env_file(const struct sv_conf_key *keys, size_t n, void *base,
                          const char *const *env, const char *text, size_t len, const char *fname,
                          char *err, size_t errlen);

/* ------------------------------------------------------------------ INI */

/*
 * Parses INI text ([section], key = value, ';' and '#' comment lines) into a
 * table whose keys all have a section: defaults first, then each key; unknown
 * sections and keys, keys outside a section and keys given twice are errors
 * naming the line. Then required keys (and HOSTPORT keys, which have no
 * default) must be set. lines (n entries, may be NULL) receives the line each
 * key was set on, 0 when not set, for the caller's cross-checks.
 */
int sv_conf_parse_ini(const struct sv_conf_key *keys, size_t n, void *base, const char *text,
                      size_t len, const char *fname, int *lines, char *err, size_t errlen);

/* ------------------------------------------------------------------ YAML */

#define SV_CONF_YAML_DEPTH 8

/*
 * One leaf of a YAML document of nested mappings: path[0..depth) are the
 * keys from the top, lines[] the line of each key; value is the scalar, or
 * NULL for an empty or null mapping value ("customers:" with nothing under
 * it). Returns 0 or SV_E_CONFIG with a reason in why (no file or line: the
 * reader adds "fname:line: " of path[*at], the last key unless the callback
 * sets *at to the index of the key at fault), or -ENOMEM.
 */
typedef int (*sv_conf_yaml_leaf_fn)(void *arg, const char *const *path, const int *lines,
                                    size_t depth, const char *value, size_t *at, char *why,
                                    size_t whylen);

/*
 * Parses one YAML document (libyaml) whose nodes are mappings and scalars
 * and calls leaf for every scalar value and every empty mapping value, in
 * document order. Sequences, non-scalar keys, duplicate keys, more than one
 * document and nesting deeper than SV_CONF_YAML_DEPTH are errors naming the
 * line. An empty document calls nothing.
 */
int sv_conf_parse_yaml(const char *text, size_t len, const char *fname, sv_conf_yaml_leaf_fn leaf,
                       void *arg, char *err, size_t errlen);

#endif
