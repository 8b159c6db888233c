/*
 * server.h - pieces of sipvault-server shared between its source files.
 */
#ifndef SV_SERVER_H
#define SV_SERVER_H

#include <stdio.h>

/*
 * `sipvault-server --analyze FILE`: reads one rtcp.json or rtcp.json.gz,
 * writes the quality.json it yields to out and returns the process exit
 * status: 0 on success, 2 when the file is missing or malformed (one line on
 * stderr naming the file and what is wrong), 1 on a runtime failure.
 */
int srv_analyze(const char *path, FILE *out);

struct sv_server_conf;

/*
 * Runs the collector (agent TCP listener, HEP UDP listener, metrics, call
 * engine, journal, object store) until SIGTERM or SIGINT. conf is borrowed
 * for the whole run, except its customer registry, which is taken over
 * (conf->customers is NULL afterwards) because SIGHUP replaces it; SIGHUP
 * re-reads config_path (NULL: the default file) and the environment.
 * Returns the process exit status: 0 after a clean shutdown, 1 on a runtime
 * failure (logged, e.g. a port that cannot be bound).
 */
int srv_run(struct sv_server_conf *conf, const char *config_path);

#endif
