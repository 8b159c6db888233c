/*
 * s3xml.c - S3 XML documents with expat: a small element-path walker per
 * document type. Namespaces are ignored (a "prefix:" is stripped from element
 * names); a DOCTYPE is refused outright, so no entity can expand.
 */
#include "store/s3xml.h"

#include "base/errors.h"

#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum doc_kind {
	DOC_ERROR,
	DOC_LIST,
	DOC_DELETE,
};

#define MAX_DEPTH 16
#define NAME_LEN  32

struct walker {
	XML_Parser p;
	enum doc_kind kind;
	int rc;
	int depth;
	char names[MAX_DEPTH][NAME_LEN];
	struct sv_buf text;
	int text_over;
	/* outputs */
	struct sv_s3_error_doc *err;
	struct sv_s3_list *list;
	size_t cap_objects, cap_prefixes;
	struct sv_s3_delete_result *del;
	size_t cap_deleted, cap_errors;
	/* the <Contents>, <Deleted> or <Error> being read */
	int in_item;
	struct sv_s3_object obj;
	struct sv_s3_delete_error derr;
	char *dkey;
};

static void fail(struct walker *w, int rc)
{
	if (w->rc == 0)
		w->rc = rc;
	XML_StopParser(w->p, XML_FALSE);
}

static const char *local_name(const char *name)
{
	const char *c = strrchr(name, ':');
	return c != NULL ? c + 1 : name;
}

static int at(const struct walker *w, int depth, const char *name)
{
	return w->depth == depth && strcmp(w->names[depth - 1], name) == 0;
}

static int parent_is(const struct walker *w, const char *name)
{
	return w->depth >= 2 && strcmp(w->names[w->depth - 2], name) == 0;
}

static char *text_dup(struct walker *w)
{
	char *s = malloc(w->text.len + 1);
	if (s == NULL) {
		fail(w, -ENOMEM);
		return NULL;
	}
	if (w->text.len > 0)
		memcpy(s, w->text.data, w->text.len);
	s[w->text.len] = '\0';
	return s;
}

static void text_copy(const struct walker *w, char *dst, size_t cap)
{
	size_t n = w->text.len < cap - 1 ? w->text.len : cap - 1;
	if (n > 0)
		memcpy(dst, w->text.data, n);
	dst[n] = '\0';
}

/* An element the response left out reads as "": 0 or -ENOMEM. */
static int or_empty(char **s)
{
	if (*s == NULL)
		*s = strdup("");
	return *s != NULL ? 0 : -ENOMEM;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	void *na = sv_grow(*arr, n, cap, elem, 16);
	if (na == NULL)
		return -ENOMEM;
	*arr = na;
	return 0;
}

static int parse_i64(const struct sv_buf *t, int64_t *out)
{
	if (t->len == 0 || t->len > 18)
		return SV_E_PARSE;
	int64_t v = 0;
	for (size_t i = 0; i < t->len; i++) {
		if (t->data[i] < '0' || t->data[i] > '9')
			return SV_E_PARSE;
		v = v * 10 + (t->data[i] - '0');
	}
	*out = v;
	return 0;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct walker *w = ud;
	const char *ln = local_name(name);
	if (w->depth == 0) {
		static const char *const roots[] = {"Error", "ListBucketResult", "DeleteResult"};
		if (strcmp(ln, roots[w->kind]) != 0) {
			fail(w, SV_E_PARSE);
			return;
		}
	}
	if (w->depth >= MAX_DEPTH) {
		fail(w, SV_E_PARSE);
		return;
	}
	snprintf(w->names[w->depth], NAME_LEN, "%s", ln);
	w->depth++;
	sv_buf_reset(&w->text);
	w->text_over = 0;

	if (w->kind == DOC_LIST && at(w, 2, "Contents")) {
		memset(&w->obj, 0, sizeof(w->obj));
		w->obj.size = -1;
		w->in_item = 1;
	} else if (w->kind == DOC_DELETE && (at(w, 2, "Deleted") || at(w, 2, "Error"))) {
		memset(&w->derr, 0, sizeof(w->derr));
		w->dkey = NULL;
		w->in_item = 1;
	}
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	struct walker *w = ud;
	if (len <= 0 || w->text_over)
		return;
	if (w->text.len + (size_t)len > SV_S3XML_MAX_TEXT) {
		w->text_over = 1;
		return;
	}
	if (sv_buf_append(&w->text, s, (size_t)len) != 0)
		fail(w, -ENOMEM);
}

static void end_error(struct walker *w)
{
	if (w->depth != 2)
		return;
	const char *n = w->names[1];
	if (strcmp(n, "Code") == 0)
		text_copy(w, w->err->code, sizeof(w->err->code));
	else if (strcmp(n, "Message") == 0)
		text_copy(w, w->err->message, sizeof(w->err->message));
	else if (strcmp(n, "RequestId") == 0)
		text_copy(w, w->err->request_id, sizeof(w->err->request_id));
	else if (strcmp(n, "Region") == 0)
		text_copy(w, w->err->region, sizeof(w->err->region));
}

static void free_object(struct sv_s3_object *o)
{
	free(o->key);
	free(o->etag);
	free(o->last_modified);
	memset(o, 0, sizeof(*o));
}

static void end_list(struct walker *w)
{
	struct sv_s3_list *l = w->list;
	if (w->depth == 3 && w->in_item && parent_is(w, "Contents")) {
		const char *n = w->names[2];
		char **dst = NULL;
		if (strcmp(n, "Key") == 0)
			dst = &w->obj.key;
		else if (strcmp(n, "ETag") == 0)
			dst = &w->obj.etag;
		else if (strcmp(n, "LastModified") == 0)
			dst = &w->obj.last_modified;
		else if (strcmp(n, "Size") == 0 && parse_i64(&w->text, &w->obj.size) != 0)
			fail(w, SV_E_PARSE);
		if (dst != NULL) {
			if (w->text_over) {
				fail(w, SV_E_TOOBIG);
				return;
			}
			free(*dst);
			*dst = text_dup(w);
		}
	} else if (w->depth == 3 && parent_is(w, "CommonPrefixes") &&
	           strcmp(w->names[2], "Prefix") == 0) {
		if (w->text_over) {
			fail(w, SV_E_TOOBIG);
			return;
		}
		if (grow((void **)&l->prefixes, &w->cap_prefixes, l->n_prefixes, sizeof(char *)) !=
		    0) {
			fail(w, -ENOMEM);
			return;
		}
		char *s = text_dup(w);
		if (s != NULL)
			l->prefixes[l->n_prefixes++] = s;
	} else if (at(w, 2, "Contents")) {
		w->in_item = 0;
		if (w->obj.key == NULL) {
			free_object(&w->obj);
			fail(w, SV_E_PARSE);
			return;
		}
		if (or_empty(&w->obj.etag) != 0 || or_empty(&w->obj.last_modified) != 0 ||
		    grow((void **)&l->objects, &w->cap_objects, l->n_objects,
		         sizeof(struct sv_s3_object)) != 0) {
			free_object(&w->obj);
			fail(w, -ENOMEM);
			return;
		}
		l->objects[l->n_objects++] = w->obj;
		memset(&w->obj, 0, sizeof(w->obj));
	} else if (at(w, 2, "IsTruncated")) {
		l->truncated = w->text.len == 4 && memcmp(w->text.data, "true", 4) == 0;
	} else if (at(w, 2, "NextContinuationToken")) {
		if (w->text_over) {
			fail(w, SV_E_TOOBIG);
			return;
		}
		free(l->next_token);
		l->next_token = text_dup(w);
	} else if (at(w, 2, "KeyCount")) {
		int64_t v;
		if (parse_i64(&w->text, &v) != 0) {
			fail(w, SV_E_PARSE);
			return;
		}
		l->key_count = (long)v;
	}
}

static void free_derr(struct sv_s3_delete_error *e)
{
	free(e->key);
	free(e->code);
	free(e->message);
	memset(e, 0, sizeof(*e));
}

static void end_delete(struct walker *w)
{
	struct sv_s3_delete_result *d = w->del;
	if (w->depth == 3 && w->in_item) {
		const char *n = w->names[2];
		char **dst = NULL;
		if (parent_is(w, "Deleted") && strcmp(n, "Key") == 0)
			dst = &w->dkey;
		else if (parent_is(w, "Error") && strcmp(n, "Key") == 0)
			dst = &w->derr.key;
		else if (parent_is(w, "Error") && strcmp(n, "Code") == 0)
			dst = &w->derr.code;
		else if (parent_is(w, "Error") && strcmp(n, "Message") == 0)
			dst = &w->derr.message;
		if (dst != NULL) {
			if (w->text_over) {
				fail(w, SV_E_TOOBIG);
				return;
			}
			free(*dst);
			*dst = text_dup(w);
		}
	} else if (at(w, 2, "Deleted")) {
		w->in_item = 0;
		if (w->dkey == NULL) {
			fail(w, SV_E_PARSE);
			return;
		}
		if (grow((void **)&d->deleted, &w->cap_deleted, d->n_deleted, sizeof(char *)) !=
		    0) {
			free(w->dkey);
			w->dkey = NULL;
			fail(w, -ENOMEM);
			return;
		}
		d->deleted[d->n_deleted++] = w->dkey;
		w->dkey = NULL;
	} else if (at(w, 2, "Error")) {
		w->in_item = 0;
		if (w->derr.key == NULL) {
			free_derr(&w->derr);
			fail(w, SV_E_PARSE);
			return;
		}
		if (or_empty(&w->derr.code) != 0 || or_empty(&w->derr.message) != 0 ||
		    grow((void **)&d->errors, &w->cap_errors, d->n_errors,
		         sizeof(struct sv_s3_delete_error)) != 0) {
			free_derr(&w->derr);
			fail(w, -ENOMEM);
			return;
		}
		d->errors[d->n_errors++] = w->derr;
		memset(&w->derr, 0, sizeof(w->derr));
	}
}

static void on_end(void *ud, const XML_Char *name)
{
	struct walker *w = ud;
	if (w->rc != 0)
		return;
	switch (w->kind) {
	case DOC_ERROR:
		end_error(w);
		break;
	case DOC_LIST:
		end_list(w);
		break;
	case DOC_DELETE:
		end_delete(w);
		break;
	}
	w->depth--;
	sv_buf_reset(&w->text);
	w->text_over = 0;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal_subset)
{
	fail(ud, SV_E_PARSE);
}

static int walk(struct walker *w, const void *xml, size_t len)
{
	if (xml == NULL && len > 0)
		return -EINVAL;
	if (len > SV_S3XML_MAX_DOC)
		return SV_E_TOOBIG;
	sv_buf_init(&w->text);
	w->p = XML_ParserCreate("UTF-8");
	if (w->p == NULL)
		return -ENOMEM;
	XML_SetUserData(w->p, w);
	XML_SetElementHandler(w->p, on_start, on_end);
	XML_SetCharacterDataHandler(w->p, on_text);
	XML_SetStartDoctypeDeclHandler(w->p, on_doctype);
	enum XML_Status st = XML_Parse(w->p, xml != NULL ? xml : "", (int)len, XML_TRUE);
	if (st != XML_STATUS_OK && w->rc == 0)
		w->rc = XML_GetErrorCode(w->p) == XML_ERROR_NO_MEMORY ? -ENOMEM : SV_E_PARSE;
	XML_ParserFree(w->p);
	w->p = NULL;
	sv_buf_release(&w->text);
	free_object(&w->obj);
	free_derr(&w->derr);
	free(w->dkey);
	w->dkey = NULL;
	return w->rc;
}

int sv_s3xml_parse_error(const void *xml, size_t len, struct sv_s3_error_doc *out)
{
	memset(out, 0, sizeof(*out));
	struct walker w;
	memset(&w, 0, sizeof(w));
	w.kind = DOC_ERROR;
	w.err = out;
	int rc = walk(&w, xml, len);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

void sv_s3_list_init(struct sv_s3_list *l)
{
	memset(l, 0, sizeof(*l));
	l->key_count = -1;
}

void sv_s3_list_release(struct sv_s3_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n_objects; i++)
		free_object(&l->objects[i]);
	free(l->objects);
	for (size_t i = 0; i < l->n_prefixes; i++)
		free(l->prefixes[i]);
	free(l->prefixes);
	free(l->next_token);
	sv_s3_list_init(l);
}

int sv_s3xml_parse_list(const void *xml, size_t len, struct sv_s3_list *out)
{
	sv_s3_list_init(out);
	struct walker w;
	memset(&w, 0, sizeof(w));
	w.kind = DOC_LIST;
	w.list = out;
	int rc = walk(&w, xml, len);
	if (rc != 0)
		sv_s3_list_release(out);
	return rc;
}

void sv_s3_delete_result_init(struct sv_s3_delete_result *d)
{
	memset(d, 0, sizeof(*d));
}

void sv_s3_delete_result_release(struct sv_s3_delete_result *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n_deleted; i++)
		free(d->deleted[i]);
	free(d->deleted);
	for (size_t i = 0; i < d->n_errors; i++)
		free_derr(&d->errors[i]);
	free(d->errors);
	sv_s3_delete_result_init(d);
}

int sv_s3xml_parse_delete(const void *xml, size_t len, struct sv_s3_delete_result *out)
{
	sv_s3_delete_result_init(out);
	struct walker w;
	memset(&w, 0, sizeof(w));
	w.kind = DOC_DELETE;
	w.del = out;
	int rc = walk(&w, xml, len);
	if (rc != 0)
		sv_s3_delete_result_release(out);
	return rc;
}

int sv_s3xml_escape(const char *s, size_t len, struct sv_buf *out)
{
	size_t start = out->len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep = NULL;
		switch (c) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		case '\t':
			rep = "&#9;";
			break;
		case '\n':
			rep = "&#10;";
			break;
		case '\r':
			rep = "&#13;";
			break;
		default:
			if (c < 0x20) {
				out->len = start;
				return -EINVAL;
			}
		}
		int rc = rep != NULL ? sv_buf_append_str(out, rep) : sv_buf_append(out, &s[i], 1);
		if (rc != 0) {
			out->len = start;
			return rc;
		}
	}
	return 0;
}

int sv_s3xml_build_delete(const char *const *keys, size_t n, int quiet, struct sv_buf *out)
{
	if (keys == NULL || n == 0 || n > 1000)
		return -EINVAL;
	size_t start = out->len;
	int rc =
	    sv_buf_append_str(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                           "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	if (rc == 0 && quiet)
		rc = sv_buf_append_str(out, "<Quiet>true</Quiet>");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (keys[i] == NULL || keys[i][0] == '\0') {
			rc = -EINVAL;
			break;
		}
		rc = sv_buf_append_str(out, "<Object><Key>");
		if (rc == 0)
			rc = sv_s3xml_escape(keys[i], strlen(keys[i]), out);
		if (rc == 0)
			rc = sv_buf_append_str(out, "</Key></Object>");
	}
	if (rc == 0)
		rc = sv_buf_append_str(out, "</Delete>");
	if (rc != 0)
		out->len = start;
	return rc;
}
