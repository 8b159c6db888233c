/*
 * torture_b64: base64 encode and decode of every b64 corpus input, and the
 * input decoded as base64 text, with each allocation failing in turn.
 */
#include "torture.h"

#include "base/b64.h"
#include "base/buf.h"

static int op(const uint8_t *data, size_t len)
{
	struct sv_buf e, d;
	sv_buf_init(&e);
	sv_buf_init(&d);
	if (torture_step(sv_b64_encode(data, len, &e)) == 0) {
		torture_output(e.data, e.len);
		if (torture_step(sv_b64_decode((const char *)e.data, e.len, &d)) == 0)
			torture_output(d.data, d.len);
	}
	sv_buf_reset(&d);
	if (torture_step(sv_b64_decode((const char *)data, len, &d)) == 0)
		torture_output(d.data, d.len);
	sv_buf_release(&e);
	sv_buf_release(&d);
	return torture_rc();
}

int main(void)
{
	torture_init("b64");
	torture_dir("tests/fuzz/corpus/b64", op, 20, 65536);
	return torture_done();
}
