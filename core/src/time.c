/*
 * time.c - event time parsing and formatting.
 *
 * Event time is what windows and ids are built on, so parsing is strict about digits and lax
 * about separators: the formats seen in real producers are ISO 8601 with 'T' or ' ', with or
 * without fractions (up to 7 digits in Windows' SystemTime) and with 'Z', an offset, or nothing
 * (taken as UTC, which is what Sysmon's UtcTime means).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "xf/core.h"

static int digits(const char *s, size_t len, size_t *pos, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (*pos >= len || !isdigit((unsigned char)s[*pos]))
            return XF_EPARSE;
        v = v * 10 + (s[*pos] - '0');
        (*pos)++;
    }
    *out = v;
    return 0;
}

int xf_time_parse(const char *s, size_t len, xf_time_t *out)
{
    size_t pos = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    int64_t offset_min = 0;

    while (pos < len && isspace((unsigned char)s[pos]))
        pos++;
    if (digits(s, len, &pos, 4, &y) || pos >= len || s[pos++] != '-' ||
        digits(s, len, &pos, 2, &mo) || pos >= len || s[pos++] != '-' ||
        digits(s, len, &pos, 2, &d))
        return XF_EPARSE;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
        return XF_EPARSE;
    if (pos < len && (s[pos] == 'T' || s[pos] == ' ' || s[pos] == 't')) {
        pos++;
        if (digits(s, len, &pos, 2, &h) || pos >= len || s[pos++] != ':' ||
            digits(s, len, &pos, 2, &mi))
            return XF_EPARSE;
        if (pos < len && s[pos] == ':') {
            pos++;
            if (digits(s, len, &pos, 2, &sec))
                return XF_EPARSE;
        }
        if (pos < len && (s[pos] == '.' || s[pos] == ',')) {
            int nd = 0;
            pos++;
            while (pos < len && isdigit((unsigned char)s[pos])) {
                if (nd < 3)
                    ms = ms * 10 + (s[pos] - '0');
                nd++;
                pos++;
            }
            if (nd == 0)
                return XF_EPARSE;
            for (; nd < 3; nd++)
                ms *= 10;
        }
        if (h > 23 || mi > 59 || sec > 60)
            return XF_EPARSE;
        if (pos < len && (s[pos] == 'Z' || s[pos] == 'z')) {
            pos++;
        } else if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
            int sign = s[pos++] == '-' ? -1 : 1;
            int oh, om = 0;
            if (digits(s, len, &pos, 2, &oh))
                return XF_EPARSE;
            if (pos < len && s[pos] == ':')
                pos++;
            if (pos < len && isdigit((unsigned char)s[pos]) && digits(s, len, &pos, 2, &om))
                return XF_EPARSE;
            if (oh > 14 || om > 59)
                return XF_EPARSE;
            offset_min = sign * (oh * 60 + om);
        }
    }
    while (pos < len && isspace((unsigned char)s[pos]))
        pos++;
    if (pos != len)
        return XF_EPARSE;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
    int64_t secs = (int64_t)timegm(&tm) + h * 3600 + mi * 60 + sec - offset_min * 60;
    *out = secs * 1000 + ms;
    return 0;
}

static void split(xf_time_t t, struct tm *tm, int *ms)
{
    int64_t secs = t / 1000;
    int64_t rem = t % 1000;

    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    time_t tt = (time_t)secs;
    gmtime_r(&tt, tm);
    *ms = (int)rem;
}

char *xf_time_format(xf_time_t t, char *buf)
{
    struct tm tm;
    int ms;

    split(t, &tm, &ms);
    /* the modulos tell the compiler the fields are small, so it can prove no truncation */
    snprintf(buf, XF_TIME_BUFSZ, "%04u-%02u-%02uT%02u:%02u:%02uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u);
    return buf;
}

char *xf_time_format_ms(xf_time_t t, char *buf)
{
    struct tm tm;
    int ms;

    split(t, &tm, &ms);
    snprintf(buf, XF_TIME_BUFSZ, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)ms % 1000u);
    return buf;
}

int xf_duration_parse(const char *s, int64_t *out_ms)
{
    int64_t v = 0;
    const char *p = s;
    int64_t mult;

    if (!s || !isdigit((unsigned char)*p))
        return XF_EPARSE;
    while (isdigit((unsigned char)*p)) {
        if (v > (INT64_MAX / 10) - 10)
            return XF_EPARSE;
        v = v * 10 + (*p++ - '0');
    }
    if (!strcmp(p, "ms"))
        mult = 1;
    else if (!strcmp(p, "s") || !*p)
        mult = 1000;
    else if (!strcmp(p, "m"))
        mult = 60 * 1000;
    else if (!strcmp(p, "h"))
        mult = 3600 * 1000;
    else if (!strcmp(p, "d"))
        mult = 86400 * 1000;
    else
        return XF_EPARSE;
    if (v > INT64_MAX / mult)
        return XF_EPARSE;
    *out_ms = v * mult;
    return 0;
}
