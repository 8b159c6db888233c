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
int sv_server_analyze(const char *path, FILE *out);

#endif
