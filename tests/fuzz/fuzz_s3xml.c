/*
 * fuzz_s3xml - every S3 XML parser over the same input, plus the escaper and
 * the DeleteObjects body builder over its lines. Checks the invariants the
 * client relies on: on success every object has a key, sizes are >= -1 and the
 * counts match the arrays; on failure the outputs are empty.
 */
#include "base/errors.h"
#include "store/s3xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_s3_error_doc err;
	if (sv_s3xml_parse_error(data, size, &err) == 0) {
		if (strlen(err.code) >= sizeof(err.code) ||
		    strlen(err.message) >= sizeof(err.message))
			abort();
	} else if (err.code[0] != '\0') {
		abort();
	}

	struct sv_s3_list l;
	if (sv_s3xml_parse_list(data, size, &l) == 0) {
		for (size_t i = 0; i < l.n_objects; i++)
			if (l.objects[i].key == NULL || l.objects[i].etag == NULL ||
			    l.objects[i].last_modified == NULL || l.objects[i].size < -1)
				abort();
		for (size_t i = 0; i < l.n_prefixes; i++)
			if (l.prefixes[i] == NULL)
				abort();
	} else if (l.n_objects != 0 || l.n_prefixes != 0 || l.next_token != NULL) {
		abort();
	}
	sv_s3_list_release(&l);

	struct sv_s3_delete_result d;
	if (sv_s3xml_parse_delete(data, size, &d) == 0) {
		for (size_t i = 0; i < d.n_errors; i++)
			if (d.errors[i].key == NULL || d.errors[i].code == NULL ||
			    d.errors[i].message == NULL)
				abort();
	} else if (d.n_deleted != 0 || d.n_errors != 0) {
		abort();
	}
	sv_s3_delete_result_release(&d);

	/* The input's lines as keys of a DeleteObjects body: what the builder
	 * accepts must parse back as well-formed XML with the same keys. */
	char *copy = malloc(size + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	const char *keys[8];
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(copy, "\n", &save); t != NULL && n < 8;
	     t = strtok_r(NULL, "\n", &save))
		if (strlen(t) <= 1024)
			keys[n++] = t;
	struct sv_buf b;
	sv_buf_init(&b);
	if (n > 0 && sv_s3xml_build_delete(keys, n, 0, &b) == 0) {
		/* Re-use the delete parser by renaming the elements: Delete/Object
		 * become DeleteResult/Deleted. */
		struct sv_buf r;
		sv_buf_init(&r);
		const char *s = (const char *)b.data;
		size_t len = b.len;
		for (size_t i = 0; i < len;) {
			if (len - i >= 8 && memcmp(s + i, "<Delete ", 8) == 0) {
				sv_buf_append_str(&r, "<DeleteResult ");
				i += 8;
			} else if (len - i >= 9 && memcmp(s + i, "</Delete>", 9) == 0) {
				sv_buf_append_str(&r, "</DeleteResult>");
				i += 9;
			} else if (len - i >= 8 && memcmp(s + i, "<Object>", 8) == 0) {
				sv_buf_append_str(&r, "<Deleted>");
				i += 8;
			} else if (len - i >= 9 && memcmp(s + i, "</Object>", 9) == 0) {
				sv_buf_append_str(&r, "</Deleted>");
				i += 9;
			} else {
				sv_buf_append(&r, s + i, 1);
				i++;
			}
		}
		int rc = sv_s3xml_parse_delete(r.data, r.len, &d);
		/* Invalid UTF-8 in a key is the one thing the builder lets through
		 * and expat refuses. */
		if (rc == 0) {
			if (d.n_deleted != n)
				abort();
			for (size_t i = 0; i < n; i++)
				if (strcmp(d.deleted[i], keys[i]) != 0)
					abort();
		} else if (rc != SV_E_PARSE) {
			abort();
		}
		sv_s3_delete_result_release(&d);
		sv_buf_release(&r);
	}
	sv_buf_release(&b);
	free(copy);
	return 0;
}
