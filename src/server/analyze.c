#include "server.h"

int sv_server_analyze(const char *path, FILE *out)
{
	fprintf(stderr, "sipvault-server: --analyze %s: not implemented yet\n", path);
	return 1;
}
