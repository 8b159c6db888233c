/*
 * testutil.h - helpers shared by the cmocka unit tests.
 *
 * Include after <cmocka.h>'s prerequisites (stdarg, stddef, setjmp, stdint).
 * Paths come from the environment ctest sets: SV_SOURCE_DIR, SV_SHARED_DATA,
 * SV_BIN_DIR. A missing variable or file fails the test; nothing is skipped.
 */
#ifndef SV_TESTUTIL_H
#define SV_TESTUTIL_H

#include "base/buf.h"

#include <stddef.h>

/* Returns "$SV_SHARED_DATA/rel" in a static buffer; fails the test when unset. */
const char *tu_shared(const char *rel);
/* Returns "$SV_SOURCE_DIR/rel" in a static buffer. */
const char *tu_source(const char *rel);
/* Reads a whole file into out (appended); fails the test on error. */
void tu_read_file(const char *path, struct sv_buf *out);
/* Runs a shell command, appends its stdout to out; returns its exit status. */
int tu_run(const char *cmd, struct sv_buf *out);
/* True when tshark is on PATH. Tests that need the oracle fail without it. */
int tu_have_tshark(void);
/* Decodes hex ("0a1b..." with optional ':' separators) into out. 0 or -1. */
int tu_unhex(const char *hex, struct sv_buf *out);
/* A fresh temporary directory (removed by tu_rmrf). */
char *tu_tmpdir(void);
void tu_rmrf(const char *path);

#endif
