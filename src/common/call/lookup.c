/*
 * lookup.c - the order in which the day folders of a call are searched.
 */
#include "call/lookup.h"

#include <stdint.h>

/* Howard Hinnant's days_from_civil / civil_from_days, in 64 bits. */
int64_t sv_lookup_days_from_civil(int year, int month, int day)
{
	int64_t y = (int64_t)year - (month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

void sv_lookup_civil_from_days(int64_t z, int *year, int *month, int *day)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = (int)(yoe + era * 400 + (*month <= 2));
}

size_t sv_lookup_plan(int64_t ts, int year, int month, int day, int max_days, int64_t *days,
                      size_t n)
{
	int64_t d0 = ts >= 0 ? ts / 86400 : (ts - 86399) / 86400, hint = INT64_MIN, cand;
	size_t k = 0;
	int i;

	if (max_days < 1)
		max_days = 1;
	if (year != 0) {
		hint = sv_lookup_days_from_civil(year, month, day);
		if (hint >= 0 && k < n)
			days[k++] = hint;
	}
	/* i = 0: ts's day, 1: the day before, 2: the day after, i > 2: ts's day - (i - 1) */
	for (i = 0; i <= max_days + 1 && k < n; i++) {
		if (i == 0)
			cand = d0;
		else if (i == 1)
			cand = d0 - 1;
		else if (i == 2)
			cand = d0 + 1;
		else
			cand = d0 - (i - 1);
		if (cand != hint && cand >= 0)
			days[k++] = cand;
	}
	return k;
}

int sv_lookup_prefix(int64_t days, const char *dir, struct sv_buf *out)
{
	int y, m, d;

	sv_lookup_civil_from_days(days, &y, &m, &d);
	return sv_buf_printf(out, "calls/%04d/%02d/%02d/%s/", y, m, d, dir);
}
