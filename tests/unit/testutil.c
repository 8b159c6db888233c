#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env_path(const char *var, const char *rel)
{
	static char path[4096];
	const char *base = getenv(var);
	if (base == NULL || *base == '\0')
		fail_msg("%s is not set (run the tests through ctest)", var);
	snprintf(path, sizeof(path), "%s/%s", base, rel);
	return path;
}

const char *tu_shared(const char *rel)
{
	return env_path("SV_SHARED_DATA", rel);
}

const char *tu_source(const char *rel)
{
	return env_path("SV_SOURCE_DIR", rel);
}

void tu_read_file(const char *path, struct sv_buf *out)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(sv_buf_append(out, tmp, n), 0);
	fclose(f);
}

int tu_run(const char *cmd, struct sv_buf *out)
{
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		fail_msg("cannot run %s", cmd);
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), p)) > 0)
		if (out != NULL)
			assert_int_equal(sv_buf_append(out, tmp, n), 0);
	int st = pclose(p);
	return st == -1 ? -1 : (st >> 8) & 0xff;
}

int tu_have_tshark(void)
{
	return system("command -v tshark >/dev/null 2>&1") == 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int tu_unhex(const char *hex, struct sv_buf *out)
{
	int hi = -1;
	for (const char *p = hex; *p != '\0'; p++) {
		if (*p == ':' || isspace((unsigned char)*p))
			continue;
		int v = hexval((unsigned char)*p);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
		} else {
			if (sv_buf_put_u8(out, (uint8_t)(hi << 4 | v)) != 0)
				return -1;
			hi = -1;
		}
	}
	return hi < 0 ? 0 : -1;
}

char *tu_tmpdir(void)
{
	char tmpl[] = "/tmp/svtest.XXXXXX";
	char *d = mkdtemp(tmpl);
	if (d == NULL)
		fail_msg("mkdtemp failed");
	return strdup(d);
}

void tu_rmrf(const char *path)
{
	char cmd[4200];
	if (path == NULL || strncmp(path, "/tmp/svtest.", 12) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", path);
}
