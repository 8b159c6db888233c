/*
 * torture_s3xml: every s3xml corpus document through the Error, ListObjectsV2
 * and DeleteObjects result parsers, and its lines as keys of a DeleteObjects
 * body. expat's own allocations are not seen (it is a shared library); the
 * parsers' copies of names, keys and arrays are.
 */
#include "torture.h"

#include "base/buf.h"
#include "store/s3xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void str_out(const char *s)
{
	if (s != NULL)
		torture_output(s, strlen(s) + 1);
}

static int op(const uint8_t *data, size_t len)
{
	struct sv_s3_error_doc e;
	if (torture_step(sv_s3xml_parse_error(data, len, &e)) == 0) {
		str_out(e.code);
		str_out(e.message);
	}
	struct sv_s3_list l;
	if (torture_step(sv_s3xml_parse_list(data, len, &l)) == 0) {
		for (size_t i = 0; i < l.n_objects; i++) {
			str_out(l.objects[i].key);
			str_out(l.objects[i].etag);
			torture_output(&l.objects[i].size, sizeof(l.objects[i].size));
		}
		for (size_t i = 0; i < l.n_prefixes; i++)
			str_out(l.prefixes[i]);
		str_out(l.next_token);
	}
	sv_s3_list_release(&l);
	struct sv_s3_delete_result d;
	if (torture_step(sv_s3xml_parse_delete(data, len, &d)) == 0) {
		for (size_t i = 0; i < d.n_deleted; i++)
			str_out(d.deleted[i]);
		for (size_t i = 0; i < d.n_errors; i++)
			str_out(d.errors[i].key);
	}
	sv_s3_delete_result_release(&d);

	/* The input's lines as keys (the copy is set-up, not tortured). */
	int st = torture_pause();
	char *copy = malloc(len + 1);
	torture_resume(st);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, data, len);
	copy[len] = '\0';
	const char *keys[8];
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(copy, "\n", &save); t != NULL && n < 8;
	     t = strtok_r(NULL, "\n", &save))
		keys[n++] = t;
	struct sv_buf b;
	sv_buf_init(&b);
	if (n > 0 && torture_step(sv_s3xml_build_delete(keys, n, 0, &b)) == 0)
		torture_output(b.data, b.len);
	sv_buf_release(&b);
	free(copy);
	return torture_rc();
}

int main(void)
{
	torture_init("s3xml");
	torture_dir("tests/fuzz/corpus/s3xml", op, 25, 65536);
	return torture_done();
}
