/*
 * torture_callkey: every callkey corpus input as a Call-ID (encode, decode
 * back, directory, prefix, object path) and as an object key (parse, decode).
 */
#include "torture.h"

#include "base/buf.h"
#include "call/callkey.h"

static int op(const uint8_t *data, size_t len)
{
	const char *s = (const char *)data;
	const uint64_t ts = 1764151200000000000ull;
	struct sv_buf k, d;
	struct sv_callkey_path cp;

	sv_buf_init(&k);
	sv_buf_init(&d);
	if (torture_step(sv_callkey_encode(s, len, &k)) == 0) {
		torture_output(k.data, k.len);
		if (torture_step(sv_callkey_decode((const char *)k.data, k.len, &d)) == 0)
			torture_output(d.data, d.len);
	}
	sv_buf_reset(&d);
	if (torture_step(sv_callkey_decode(s, len, &d)) == 0)
		torture_output(d.data, d.len);
	sv_buf_reset(&k);
	if (torture_step(sv_callkey_dir(s, len, &k)) == 0)
		torture_output(k.data, k.len);
	sv_buf_reset(&k);
	if (torture_step(sv_callkey_prefix(&k, ts, s, len)) == 0)
		torture_output(k.data, k.len);
	sv_buf_reset(&k);
	if (torture_step(sv_callkey_object_path(&k, ts, s, len, "quality.json")) == 0) {
		torture_output(k.data, k.len);
		if (torture_step(sv_callkey_parse_path((const char *)k.data, k.len, &cp)) == 0) {
			sv_buf_reset(&d);
			if (torture_step(sv_callkey_decode(cp.call_key, cp.call_key_len, &d)) == 0)
				torture_output(d.data, d.len);
		}
	}
	if (torture_step(sv_callkey_parse_path(s, len, &cp)) == 0) {
		sv_buf_reset(&d);
		if (torture_step(sv_callkey_decode(cp.call_key, cp.call_key_len, &d)) == 0)
			torture_output(d.data, d.len);
	}
	sv_buf_release(&k);
	sv_buf_release(&d);
	return torture_rc();
}

int main(void)
{
	torture_init("callkey");
	torture_dir("tests/fuzz/corpus/callkey", op, 20, 65536);
	return torture_done();
}
