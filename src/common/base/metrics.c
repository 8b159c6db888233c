/*
 * metrics.c - counter and gauge families with up to two labels, rendered in
 * the Prometheus text exposition format 0.0.4.
 *
 * Each family keeps its series in an array (creation order, for rendering)
 * and a small open hash table of indexes into it (for lookup).
 */
#include "base/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum kind { KIND_COUNTER, KIND_GAUGE };

struct series {
	char *lv[2];
	uint64_t hash;
	double value;
};

struct sv_metric {
	struct sv_metric *next;
	char *name;
	char *help;
	char *label[2];
	int nlabels;
	enum kind kind;
	struct series *series;
	size_t nseries, capseries;
	size_t *slots; /* index + 1, 0 = empty; nslots is a power of two */
	size_t nslots;
};

struct sv_metrics {
	struct sv_metric *first, *last;
};

int sv_metrics_new(struct sv_metrics **out)
{
	*out = calloc(1, sizeof(**out));
	return *out == NULL ? -ENOMEM : 0;
}

static void family_free(struct sv_metric *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->nseries; i++) {
		free(f->series[i].lv[0]);
		free(f->series[i].lv[1]);
	}
	free(f->series);
	free(f->slots);
	free(f->name);
	free(f->help);
	free(f->label[0]);
	free(f->label[1]);
	free(f);
}

void sv_metrics_free(struct sv_metrics *m)
{
	if (m == NULL)
		return;
	struct sv_metric *f = m->first;
	while (f != NULL) {
		struct sv_metric *next = f->next;
		family_free(f);
		f = next;
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

static struct sv_metric *declare(struct sv_metrics *m, enum kind kind, const char *name,
                                 const char *help, const char *l1, const char *l2)
{
	if (m == NULL || !name_ok(name, true))
		return NULL;
	if ((l1 != NULL && !label_ok(l1)) || (l2 != NULL && (l1 == NULL || !label_ok(l2))) ||
	    (l1 != NULL && l2 != NULL && strcmp(l1, l2) == 0))
		return NULL;
	for (struct sv_metric *g = m->first; g != NULL; g = g->next)
		if (strcmp(g->name, name) == 0)
			return NULL;
	struct sv_metric *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
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
	if (m->last != NULL)
		m->last->next = f;
	else
		m->first = f;
	m->last = f;
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

/* FNV-1a over the label values, each followed by a 0 byte. */
static uint64_t hash_values(const char *lv[2], int n)
{
	uint64_t h = 14695981039346656037ULL;
	for (int i = 0; i < n; i++) {
		for (const unsigned char *p = (const unsigned char *)lv[i]; *p != '\0'; p++) {
			h ^= *p;
			h *= 1099511628211ULL;
		}
		h ^= 0xff; /* separator: ("a","bc") differs from ("ab","c") */
		h *= 1099511628211ULL;
	}
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
	if (f->nslots == 0)
		return NULL;
	size_t mask = f->nslots - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		size_t s = f->slots[i];
		if (s == 0)
			return NULL;
		struct series *se = &f->series[s - 1];
		if (se->hash == h && (f->nlabels < 1 || strcmp(se->lv[0], lv[0]) == 0) &&
		    (f->nlabels < 2 || strcmp(se->lv[1], lv[1]) == 0))
			return se;
	}
}

static void slot_insert(size_t *slots, size_t nslots, uint64_t h, size_t idx1)
{
	size_t mask = nslots - 1;
	size_t i = (size_t)h & mask;
	while (slots[i] != 0)
		i = (i + 1) & mask;
	slots[i] = idx1;
}

static struct series *find_or_add(struct sv_metric *f, const char *lv1, const char *lv2)
{
	const char *lv[2];
	values(f, lv1, lv2, lv);
	uint64_t h = hash_values(lv, f->nlabels);
	struct series *se = lookup(f, lv, h);
	if (se != NULL)
		return se;
	/* Keep the table at most half full. */
	if ((f->nseries + 1) * 2 > f->nslots) {
		size_t n = f->nslots ? f->nslots * 2 : 16;
		size_t *slots = calloc(n, sizeof(*slots));
		if (slots == NULL)
			return NULL;
		for (size_t i = 0; i < f->nseries; i++)
			slot_insert(slots, n, f->series[i].hash, i + 1);
		free(f->slots);
		f->slots = slots;
		f->nslots = n;
	}
	if (f->nseries == f->capseries) {
		size_t n = f->capseries ? f->capseries * 2 : 8;
		struct series *p = realloc(f->series, n * sizeof(*p));
		if (p == NULL)
			return NULL;
		f->series = p;
		f->capseries = n;
	}
	struct series nse = {.hash = h, .value = 0};
	for (int i = 0; i < f->nlabels; i++) {
		nse.lv[i] = strdup(lv[i]);
		if (nse.lv[i] == NULL) {
			free(nse.lv[0]);
			return NULL;
		}
	}
	f->series[f->nseries] = nse;
	f->nseries++;
	slot_insert(f->slots, f->nslots, h, f->nseries);
	return &f->series[f->nseries - 1];
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
	if (m == NULL || out == NULL)
		return -EINVAL;
	for (const struct sv_metric *f = m->first; f != NULL; f = f->next) {
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
		for (size_t i = 0; i < f->nseries; i++)
			if (render_series(f, &f->series[i], out) != 0)
				return -ENOMEM;
	}
	return 0;
}
