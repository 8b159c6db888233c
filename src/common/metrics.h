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

#include "buf.h"

#include <stdint.h>

struct sv_metrics;
struct sv_metric;

int sv_metrics_new(struct sv_metrics **out);
void sv_metrics_free(struct sv_metrics *m);

/* Declares a family; label1/label2 may be NULL (fewer labels). The returned
 * pointer lives as long as m. NULL on -ENOMEM or an invalid name. */
struct sv_metric *sv_metrics_counter(struct sv_metrics *m, const char *name, const char *help,
                                     const char *label1, const char *label2);
struct sv_metric *sv_metrics_gauge(struct sv_metrics *m, const char *name, const char *help,
                                   const char *label1, const char *label2);

/* Adds to (counter, gauge) or sets (gauge) the series for the label values
 * (as many as the family has labels; extra ones ignored, NULL reads as "").
 * Returns 0 or -ENOMEM. */
int sv_metric_add(struct sv_metric *f, double v, const char *lv1, const char *lv2);
int sv_metric_set(struct sv_metric *f, double v, const char *lv1, const char *lv2);
/* Current value of a series (0 when absent). */
double sv_metric_get(const struct sv_metric *f, const char *lv1, const char *lv2);

/* Appends the text exposition of every family, in declaration order. */
int sv_metrics_render(const struct sv_metrics *m, struct sv_buf *out);

#endif
