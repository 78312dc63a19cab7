/*
 * timefmt.c - civil date from a Unix time.
 *
 * Days since 1970-01-01 become a proleptic Gregorian date with the usual
 * era arithmetic (eras of 146097 days, March-based years).
 */
#include "timefmt.h"

struct civil {
    long year;
    int month, day, hour, min, sec;
};

static void civil_from_time(time_t t, struct civil *c)
{
    long long secs = (long long)t, days = secs / 86400, rem = secs % 86400, era, doe, yoe, doy, mp;

    if (rem < 0) {
        rem += 86400;
        days--;
    }
    c->hour = (int)(rem / 3600);
    c->min = (int)(rem % 3600 / 60);
    c->sec = (int)(rem % 60);
    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c->month = (int)(mp < 10 ? mp + 3 : mp - 9);
    c->year = (long)(yoe + era * 400 + (c->month <= 2));
}

static char *digits(char *p, long v, int width)
{
    int i;

    for (i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

void time_stamp(time_t t, char out[15])
{
    struct civil c;
    char *p = out;

    civil_from_time(t, &c);
    p = digits(p, c.year, 4);
    p = digits(p, c.month, 2);
    p = digits(p, c.day, 2);
    p = digits(p, c.hour, 2);
    p = digits(p, c.min, 2);
    p = digits(p, c.sec, 2);
    *p = '\0';
}

void time_iso8601(time_t t, char out[21])
{
    struct civil c;
    char *p = out;

    civil_from_time(t, &c);
    p = digits(p, c.year, 4);
    *p++ = '-';
    p = digits(p, c.month, 2);
    *p++ = '-';
    p = digits(p, c.day, 2);
    *p++ = 'T';
    p = digits(p, c.hour, 2);
    *p++ = ':';
    p = digits(p, c.min, 2);
    *p++ = ':';
    p = digits(p, c.sec, 2);
    *p++ = 'Z';
    *p = '\0';
}
