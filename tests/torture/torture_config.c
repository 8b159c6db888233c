/*
 * torture_config: every config corpus document through the parser its first
 * byte names ('i' agent INI, 'j' server JSON, 'a' API JSON, 'y' retention
 * YAML, 'e' server env file, 'c' customers JSON; anything else: all of them).
 * inih's and libyaml's own allocations are not seen (shared libraries); the
 * readers' copies of values, lists and tables are, and jansson's.
 */
#include "torture.h"

#include "agent_conf.h"
#include "api_conf.h"
#include "base/config.h"
#include "ret_conf.h"
#include "srv_conf.h"
#include "store/customers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const env[] = {
    "SIPVAULT_HMAC_SECRET=k",
    NULL,
};

/* A failed parse's message is output too: an allocation failure must not
 * pass for an error in the document. */
static void result(int rc, const char *err)
{
	if (torture_step(rc) != 0 && rc != -ENOMEM)
		torture_output(err, strlen(err));
}

static void run(char sel, const char *text, size_t len)
{
	char err[512] = "";
	int rc;
	if (sel == 'i' || sel == 0) {
		struct sv_agent_conf c;
		result(rc = sv_agent_conf_parse(&c, text, len, "f", err, sizeof(err)), err);
		if (rc == 0)
			sv_agent_conf_release(&c);
	}
	if (sel == 'j' || sel == 0) {
		struct sv_server_conf c;
		result(rc = sv_server_conf_parse(&c, text, len, "f", NULL, err, sizeof(err)), err);
		if (rc == 0)
			sv_server_conf_release(&c);
	}
	if (sel == 'a' || sel == 0) {
		struct sv_api_conf c;
		result(rc = sv_api_conf_parse(&c, text, len, "f", env, err, sizeof(err)), err);
		if (rc == 0)
			sv_api_conf_release(&c);
	}
	if (sel == 'y' || sel == 0) {
		struct sv_retention_conf c;
		result(rc = sv_retention_conf_parse(&c, text, len, "f", err, sizeof(err)), err);
		if (rc == 0) {
			for (int t = 0; t < SV_RET_NTYPES; t++) {
				int days = sv_retention_days(&c, "acme", (enum sv_ret_type)t);
				torture_output(&days, sizeof(days));
			}
			sv_retention_conf_release(&c);
		}
	}
	if (sel == 'e' || sel == 0) {
		struct sv_server_conf c;
		result(rc =
		           sv_server_conf_parse_envfile(&c, text, len, "f", NULL, err, sizeof(err)),
		       err);
		if (rc == 0)
			sv_server_conf_release(&c);
	}
	if (sel == 'c' || sel == 0) {
		struct sv_customers *cs = NULL;
		result(rc = sv_customers_parse(text, len, &cs, err, sizeof(err)), err);
		if (rc == 0) {
			torture_output(&cs->n, sizeof(cs->n));
			sv_customers_free(cs);
		}
	}
}

static int op(const uint8_t *data, size_t len)
{
	if (len == 0)
		return 0;
	char sel = (char)data[0];
	if (sel == '\0' || strchr("ijayec", sel) == NULL)
		sel = 0;
	run(sel, (const char *)data + 1, len - 1);
	return torture_rc();
}

int main(void)
{
	torture_init("config");
	torture_dir("tests/fuzz/corpus/config", op, 20, 65536);
	return torture_done();
}
