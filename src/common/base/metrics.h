/*
 * metrics.h - counters and gauges rendered in the Prometheus text format
 * (version 0.0.4), for SIPVAULT_METRICS_LISTEN.
 *
 * A family has a name, help text, a type and up to two label names; its
 * series are created on first use of a label-value combination. Label values
 * are escaped on output. Everything is single-threaded (the event loop).
 *
 *   struct sv_metrics *m; sv_metrics_new(&m);
 *   struct sv_metric *frames = sv_metrics_counter(m, "sipvault_frames_total",
 *                                  "Frames received", "type", "customer");
 *   sv_metric_add(frames, 1, "DATA_SIP", "acme");
 *   sv_metrics_render(m, &buf);
 */
#ifndef SV_METRICS_H
#define SV_METRICS_H

#include "base/buf.h"

#include <stdint.h>

struct sv_metrics;
struct sv_metric;

/* 0 or -ENOMEM; *out is freed with sv_metrics_free. */
int sv_metrics_new(struct sv_metrics **out);
/* Frees every family and series. Accepts NULL. */
void sv_metrics_free(struct sv_metrics *m);

/* Declares a family; label1/label2 may be NULL (fewer labels; label2 needs
 * label1). The returned pointer lives as long as m. NULL on -ENOMEM, an
 * invalid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), an invalid or reserved
 * label name ([a-zA-Z_][a-zA-Z0-9_]*, not "__..."), two equal label names,
 * or a name already declared in m. help is copied (NULL reads as ""). A
 * family without labels always renders its one series (0 until changed). */
struct sv_metric *sv_metrics_counter(struct sv_metrics *m, const char *name, const char *help,
                                     const char *label1, const char *label2);
struct sv_metric *sv_metrics_gauge(struct sv_metrics *m, const char *name, const char *help,
                                   const char *label1, const char *label2);

/* The family declared under name, or NULL (also for a NULL m or name). The
 * pointer lives as long as m. */
struct sv_metric *sv_metrics_find(const struct sv_metrics *m, const char *name);

/* Adds to (counter, gauge) or sets the series for the label values (as many
 * as the family has labels; extra ones ignored, NULL reads as ""). Values
 * are copied. Returns 0, -ENOMEM, or -EINVAL for a NULL family, a negative
 * or NaN add to a counter. set also works on a counter, to mirror a count
 * kept elsewhere (e.g. sv_objstore_stats); the caller keeps it monotonic. */
int sv_metric_add(struct sv_metric *f, double v, const char *lv1, const char *lv2);
int sv_metric_set(struct sv_metric *f, double v, const char *lv1, const char *lv2);
/* Current value of a series (0 when absent). */
double sv_metric_get(const struct sv_metric *f, const char *lv1, const char *lv2);

/* Appends the text exposition of every family, in declaration order, its
 * series in creation order. Integral values below 2^63 in magnitude print as
 * integers, others with %.17g (NaN, +Inf, -Inf as Prometheus spells them).
 * 0 or -ENOMEM (out may then hold part of the text). */
int sv_metrics_render(const struct sv_metrics *m, struct sv_buf *out);

#endif
