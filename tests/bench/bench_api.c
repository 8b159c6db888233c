/*
 * bench_api - sipvault-api's benchmark (not a test: `make bench`).
 *
 * A thin launcher: runs tests/bench/bench_api.py (found next to this source
 * file) with python3, pointing it at the programs of this build (../bin next
 * to this executable) through SV_BIN_DIR. The script measures the first
 * request for a call from the local store, then GET /calls/{id} served from
 * the cache against nginx serving the same JSON as a static file, with wrk at
 * 200 connections. Needs nginx and wrk. Arguments are passed on to the script.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char exe[PATH_MAX], src[PATH_MAX], bindir[PATH_MAX + 8], script[PATH_MAX + 32],
	    top[PATH_MAX + 8];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "bench_api: /proc/self/exe: %s\n", strerror(errno));
		return 1;
	}
	exe[n] = '\0';
	snprintf(bindir, sizeof(bindir), "%s/../bin", dirname(exe));
	snprintf(src, sizeof(src), "%s", __FILE__);
	const char *dir = dirname(src);
	snprintf(script, sizeof(script), "%s/bench_api.py", dir);
	snprintf(top, sizeof(top), "%s/../..", dir);
	if (access(script, R_OK) != 0) {
		fprintf(stderr, "bench_api: %s: %s\n", script, strerror(errno));
		return 1;
	}
	setenv("SV_BIN_DIR", bindir, 1);
	setenv("SV_SOURCE_DIR", top, 1);
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	if (!args)
		return 1;
	args[0] = "python3";
	args[1] = script;
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	execvp("python3", args);
	fprintf(stderr, "bench_api: python3: %s\n", strerror(errno));
	return 1;
}
