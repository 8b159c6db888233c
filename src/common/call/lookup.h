/*
 * lookup.h - in which day folders to look for a call, and in which order.
 *
 * A call's objects live under calls/YYYY/MM/DD/{dir}/ where the date is the
 * UTC day of its first message (callkey.h). A deep link gives ts (usually the
 * CDR's time, near the call's start, at most a call's length after it) and
 * maybe a date hint. The plan: the hint's day (when given), then the UTC day
 * of ts, the day before, the day after, then one day further back at a time,
 * max_days back from ts. Each day is one object-store lookup, so a call that
 * started within a day of ts is found in at most 3 (1 with a right hint).
 * Pure: no I/O, no clock.
 */
#ifndef SV_LOOKUP_H
#define SV_LOOKUP_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t sv_lookup_days_from_civil(int year, int month, int day);
void sv_lookup_civil_from_days(int64_t days, int *year, int *month, int *day);

/*
 * Writes the days to try (days since the epoch, no duplicates, none before
 * 1970) into days[0..n) and returns how many: the hint (year != 0; month and
 * day must then form a real date), the UTC day of ts, the day before, the day
 * after, then ts's day - 2, - 3, ... down to - max_days (max_days < 1 reads
 * as 1).
 */
size_t sv_lookup_plan(int64_t ts, int year, int month, int day, int max_days, int64_t *days,
                      size_t n);

/* Appends "calls/YYYY/MM/DD/{dir}/" for a day since the epoch. 0 or -ENOMEM. */
int sv_lookup_prefix(int64_t days, const char *dir, struct sv_buf *out);

#endif
