/*
 * metrics.c - counter and gauge families with up to two labels, rendered in
 * the Prometheus text exposition format 0.0.4.
 *
 * The families are a <sys/queue.h> list in declaration order. Each family
 * keeps its series in a list (creation order, for rendering) and in the
 * library's hash table (base/htable.h, for lookup by label values).
 */
#include "base/metrics.h"

#include "base/hash.h"
#include "base/htable.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

enum kind { KIND_COUNTER, KIND_GAUGE };

struct series {
	struct sv_hnode node;      /* sv_metric.index */
	STAILQ_ENTRY(series) link; /* sv_metric.series */
	char *lv[2];
	double value;
};

struct sv_metric {
	STAILQ_ENTRY(sv_metric) link; /* sv_metrics.families */
	char *name;
	char *help;
	char *label[2];
	int nlabels;
	enum kind kind;
	STAILQ_HEAD(, series) series;
	size_t nseries;
	struct sv_htable index;
};

struct sv_metrics {
	STAILQ_HEAD(, sv_metric) families;
};

int sv_metrics_new(struct sv_metrics **out)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return -ENOMEM;
	STAILQ_INIT(&(*out)->families);
	return 0;
}

static void series_free(struct series *se)
{
	free(se->lv[0]);
	free(se->lv[1]);
	free(se);
}

static void family_free(struct sv_metric *f)
{
	struct series *se;

	if (f == NULL)
		return;
	while ((se = STAILQ_FIRST(&f->series)) != NULL) {
		STAILQ_REMOVE_HEAD(&f->series, link);
		series_free(se);
	}
	sv_htable_release(&f->index);
	free(f->name);
	free(f->help);
	free(f->label[0]);
	free(f->label[1]);
	free(f);
}

void sv_metrics_free(struct sv_metrics *m)
{
	struct sv_metric *f;

	if (m == NULL)
		return;
	while ((f = STAILQ_FIRST(&m->families)) != NULL) {
		STAILQ_REMOVE_HEAD(&m->families, link);
		family_free(f);
	}
	free(m);
}

static bool name_ok(const char *s, bool colon)
{
	if (s == NULL || s[0] == '\0')
		return false;
	for (size_t i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		             (colon && c == ':');
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

static bool label_ok(const char *s)
{
	return name_ok(s, false) && strncmp(s, "__", 2) != 0;
}

struct sv_metric *sv_metrics_find(const struct sv_metrics *m, const char *name)
{
	struct sv_metric *f;

	if (m == NULL || name == NULL)
		return NULL;
	STAILQ_FOREACH(f, &m->families, link)
	{
		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

static struct sv_metric *declare(struct sv_metrics *m, enum kind kind, const char *name,
                                 const char *help, const char *l1, const char *l2)
{
	if (m == NULL || !name_ok(name, true))
		return NULL;
	if ((l1 != NULL && !label_ok(l1)) || (l2 != NULL && (l1 == NULL || !label_ok(l2))) ||
	    (l1 != NULL && l2 != NULL && strcmp(l1, l2) == 0))
		return NULL;
	if (sv_metrics_find(m, name) != NULL)
		return NULL;
	struct sv_metric *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	STAILQ_INIT(&f->series);
	f->kind = kind;
	f->nlabels = l2 != NULL ? 2 : l1 != NULL ? 1 : 0;
	f->name = strdup(name);
	f->help = strdup(help != NULL ? help : "");
	if (l1 != NULL)
		f->label[0] = strdup(l1);
	if (l2 != NULL)
		f->label[1] = strdup(l2);
	if (f->name == NULL || f->help == NULL || (l1 != NULL && f->label[0] == NULL) ||
	    (l2 != NULL && f->label[1] == NULL)) {
		family_free(f);
		return NULL;
	}
	STAILQ_INSERT_TAIL(&m->families, f, link);
	return f;
}

struct sv_metric *sv_metrics_counter(struct sv_metrics *m, const char *name, const char *help,
                                     const char *label1, const char *label2)
{
	return declare(m, KIND_COUNTER, name, help, label1, label2);
}

struct sv_metric *sv_metrics_gauge(struct sv_metrics *m, const char *name, const char *help,
                                   const char *label1, const char *label2)
{
	return declare(m, KIND_GAUGE, name, help, label1, label2);
}

/* Hash of the label values, each with its terminating NUL, so that
 * ("a","bc") differs from ("ab","c"). */
static uint64_t hash_values(const char *lv[2], int n)
{
	uint64_t h = 0;
	for (int i = 0; i < n; i++)
		h = sv_hash_bytes(h, lv[i], strlen(lv[i]) + 1);
	return h;
}

/* Normalises the caller's values: as many as the family has, NULL as "". */
static void values(const struct sv_metric *f, const char *lv1, const char *lv2, const char *lv[2])
{
	lv[0] = f->nlabels >= 1 && lv1 != NULL ? lv1 : "";
	lv[1] = f->nlabels >= 2 && lv2 != NULL ? lv2 : "";
}

static struct series *lookup(const struct sv_metric *f, const char *lv[2], uint64_t h)
{
	for (struct sv_hnode *n = sv_htable_first(&f->index, h); n != NULL;
	     n = sv_htable_next(n, h)) {
		struct series *se = sv_container_of(n, struct series, node);
		if ((f->nlabels < 1 || strcmp(se->lv[0], lv[0]) == 0) &&
		    (f->nlabels < 2 || strcmp(se->lv[1], lv[1]) == 0))
			return se;
	}
	return NULL;
}

static struct series *find_or_add(struct sv_metric *f, const char *lv1, const char *lv2)
{
	const char *lv[2];
	values(f, lv1, lv2, lv);
	uint64_t h = hash_values(lv, f->nlabels);
	struct series *se = lookup(f, lv, h);
	if (se != NULL)
		return se;
	se = calloc(1, sizeof(*se));
	if (se == NULL)
		return NULL;
	for (int i = 0; i < f->nlabels; i++) {
		se->lv[i] = strdup(lv[i]);
		if (se->lv[i] == NULL) {
			series_free(se);
			return NULL;
		}
	}
	if (sv_htable_insert(&f->index, &se->node, h) != 0) {
		series_free(se);
		return NULL;
	}
	STAILQ_INSERT_TAIL(&f->series, se, link);
	f->nseries++;
	return se;
}

int sv_metric_add(struct sv_metric *f, double v, const char *lv1, const char *lv2)
{
	if (f == NULL || (f->kind == KIND_COUNTER && !(v >= 0)))
		return -EINVAL;
	struct series *se = find_or_add(f, lv1, lv2);
	if (se == NULL)
		return -ENOMEM;
	se->value += v;
	return 0;
}

int sv_metric_set(struct sv_metric *f, double v, const char *lv1, const char *lv2)
{
	if (f == NULL)
		return -EINVAL;
	struct series *se = find_or_add(f, lv1, lv2);
	if (se == NULL)
		return -ENOMEM;
	se->value = v;
	return 0;
}

double sv_metric_get(const struct sv_metric *f, const char *lv1, const char *lv2)
{
	if (f == NULL)
		return 0;
	const char *lv[2];
	values(f, lv1, lv2, lv);
	const struct series *se = lookup(f, lv, hash_values(lv, f->nlabels));
	return se != NULL ? se->value : 0;
}

/* ---- rendering ---- */

static int put_escaped(struct sv_buf *out, const char *s, bool quote)
{
	const char *run = s;
	for (const char *p = s;; p++) {
		const char *rep = NULL;
		if (*p == '\\')
			rep = "\\\\";
		else if (*p == '\n')
			rep = "\\n";
		else if (quote && *p == '"')
			rep = "\\\"";
		else if (*p != '\0')
			continue;
		if (p > run && sv_buf_append(out, run, (size_t)(p - run)) != 0)
			return -ENOMEM;
		if (rep == NULL)
			return 0;
		if (sv_buf_append_str(out, rep) != 0)
			return -ENOMEM;
		run = p + 1;
	}
}

static int put_value(struct sv_buf *out, double v)
{
	if (isnan(v))
		return sv_buf_append_str(out, "NaN");
	if (isinf(v))
		return sv_buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
	/* 2^63 = 9223372036854775808 exactly; integral values below it print
	 * as integers (no exponent), -0 as 0. */
	if (v == floor(v) && fabs(v) < 9223372036854775808.0)
		return sv_buf_printf(out, "%" PRId64, (int64_t)v);
	return sv_buf_printf(out, "%.17g", v);
}

static int render_series(const struct sv_metric *f, const struct series *se, struct sv_buf *out)
{
	if (sv_buf_append_str(out, f->name) != 0)
		return -ENOMEM;
	for (int i = 0; i < f->nlabels; i++) {
		if (sv_buf_printf(out, "%s%s=\"", i == 0 ? "{" : ",", f->label[i]) != 0 ||
		    put_escaped(out, se->lv[i], true) != 0 || sv_buf_append_str(out, "\"") != 0)
			return -ENOMEM;
	}
	if (sv_buf_append_str(out, f->nlabels > 0 ? "} " : " ") != 0 ||
	    put_value(out, se->value) != 0 || sv_buf_append_str(out, "\n") != 0)
		return -ENOMEM;
	return 0;
}

int sv_metrics_render(const struct sv_metrics *m, struct sv_buf *out)
{
	const struct sv_metric *f;
	const struct series *se;

	if (m == NULL || out == NULL)
		return -EINVAL;
	STAILQ_FOREACH(f, &m->families, link)
	{
		if (sv_buf_printf(out, "# HELP %s ", f->name) != 0 ||
		    put_escaped(out, f->help, false) != 0 ||
		    sv_buf_printf(out, "\n# TYPE %s %s\n", f->name,
		                  f->kind == KIND_COUNTER ? "counter" : "gauge") != 0)
			return -ENOMEM;
		if (f->nlabels == 0 && f->nseries == 0) {
			struct series zero = {.value = 0};
			if (render_series(f, &zero, out) != 0)
				return -ENOMEM;
		}
		STAILQ_FOREACH(se, &f->series, link)
		{
			if (render_series(f, se, out) != 0)
				return -ENOMEM;
		}
	}
	return 0;
}
