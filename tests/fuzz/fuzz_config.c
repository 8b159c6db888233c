/*
 * Fuzzes the configuration parsers. The first byte picks the parser, the
 * rest is the document: 'i' agent INI, 'j' server JSON, 'a' API env file,
 * 'y' retention YAML, 'e' env file, 'c' customers JSON; anything else runs
 * the rest through every parser.
 */
#include "agent_conf.h"
#include "api_conf.h"
#include "ret_conf.h"
#include "srv_conf.h"
#include "store/customers.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const env[] = {
    "SIPVAULT_HMAC_SECRET=k",
    NULL,
};

static void run(char sel, const char *text, size_t len)
{
	char err[512];
	if (sel == 'i' || sel == 0) {
		struct sv_agent_conf c;
		if (sv_agent_conf_parse(&c, text, len, "f", err, sizeof(err)) == 0)
			sv_agent_conf_release(&c);
	}
	if (sel == 'j' || sel == 0) {
		struct sv_server_conf c;
		if (sv_server_conf_parse(&c, text, len, "f", NULL, err, sizeof(err)) == 0)
			sv_server_conf_release(&c);
	}
	if (sel == 'a' || sel == 0) {
		struct sv_api_conf c;
		if (sv_api_conf_parse(&c, text, len, "f", env, err, sizeof(err)) == 0)
			sv_api_conf_release(&c);
	}
	if (sel == 'y' || sel == 0) {
		struct sv_retention_conf c;
		if (sv_retention_conf_parse(&c, text, len, "f", err, sizeof(err)) == 0) {
			for (int t = 0; t < SV_RET_NTYPES; t++)
				(void)sv_retention_days(&c, "acme", (enum sv_ret_type)t);
			sv_retention_conf_release(&c);
		}
	}
	if (sel == 'e' || sel == 0) {
		struct sv_server_conf c;
		if (sv_server_conf_parse_envfile(&c, text, len, "f", NULL, err, sizeof(err)) == 0)
			sv_server_conf_release(&c);
	}
	if (sel == 'c' || sel == 0) {
		struct sv_customers *cs = NULL;
		if (sv_customers_parse(text, len, &cs, err, sizeof(err)) == 0) {
			uint8_t a[16] = {0};
			(void)sv_customers_find_by_token(cs, text, len);
			(void)sv_customers_find_by_addr(cs, 2 /* AF_INET */, a);
			(void)sv_customers_find_by_id(cs, cs->v[0].id);
			sv_customers_free(cs);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	char sel = (char)data[0];
	if (strchr("ijayec", sel) == NULL || sel == '\0')
		sel = 0;
	/* An exact-size copy: the parsers get (pointer, length), never a NUL. */
	char *text = malloc(size - 1 ? size - 1 : 1);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	run(sel, text, size - 1);
	free(text);
	return 0;
}
