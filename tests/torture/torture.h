/*
 * torture.h - allocation-failure runs ("torture tests", as curl has them).
 *
 * A torture program is linked with -Wl,--wrap=malloc,... (see CMakeLists.txt),
 * so every malloc/calloc/realloc/strdup/strndup/free made by libsipvault's
 * objects (and by the program itself) goes through the counter in torture.c;
 * jansson is routed there too with json_set_alloc_funcs() (json_loadb and
 * json_dumps fail as a whole: see torture.c). The counter fails exactly one
 * allocation, the Nth since it was armed, and counts live blocks.
 * docs/testing.md says what is covered and how to run one program.
 *
 * torture_input() runs an operation on one input with allocation 1, 2, ...
 * failing in turn, and stops at the first run that ends before reaching the
 * failing allocation. Each run must:
 *  - return a negative code, the same as the run without failures or
 *    -ENOMEM (never another error, e.g. a parse error), or succeed with the
 *    same output as the run without failures (see torture_output); never
 *    crash or assert;
 *  - free every block it allocated (checked by the live-block count in any
 *    build; under ASan, LeakSanitizer checks the same at exit).
 * An operation frees everything it made before it returns and is
 * deterministic: the same input takes the same allocations.
 */
#ifndef SV_TORTURE_H
#define SV_TORTURE_H

#include <stddef.h>
#include <stdint.h>

/* Runs the code under test on one input; returns 0 or a negative code.
 * What it produced on success goes to torture_output(): a run that succeeds
 * although an allocation failed must produce exactly what the run without
 * failures did (a retry or a fallback), not less. */
typedef int (*torture_fn)(const uint8_t *data, size_t len);

/* Adds bytes to the current run's output digest. */
void torture_output(const void *p, size_t len);

/* Notes the result of one step of an operation: -ENOMEM is remembered for
 * torture_rc(), any other value goes to the output (so an allocation failure
 * reported as, say, a parse error shows as a different output). Returns rc. */
int torture_step(int rc);
/* -ENOMEM when a step of this run reported it, else 0: what a driver made of
 * several steps returns. */
int torture_rc(void);

/* Marks the current run as failed (an invariant of the code under test
 * broke, whatever the allocations did); why is a static string. */
void torture_fail(const char *why);

/* Sets up the shim (jansson's allocator, quiet logging); call first. */
void torture_init(const char *target);

/* One input through fn with every allocation failing in turn. */
void torture_input(const char *name, torture_fn fn, const uint8_t *data, size_t len);

/* Every file of the directory (relative to the source tree, or absolute),
 * in name order, at most max_inputs of them and max_len bytes each (longer
 * files are skipped); returns how many ran. */
size_t torture_dir(const char *dir, torture_fn fn, size_t max_inputs, size_t max_len);

/* One file (relative to $SV_SHARED_DATA when not absolute); a missing file is
 * noted and skipped (third-party data may be absent). Returns 1 if it ran. */
size_t torture_file(const char *path, torture_fn fn, size_t max_len);

/* Prints the summary; returns the process exit status (0: all clean). */
int torture_done(void);

/* A scratch directory for the run (made by torture_init on first use, removed
 * with its files by torture_done). */
const char *torture_scratch(void);

/* Allocations made while nothing is armed never fail: a driver may call this
 * around set-up work it does not want to torture. Returns the old state. */
int torture_pause(void);
void torture_resume(int state);

#endif
