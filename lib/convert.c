/*
 * convert.c - value conversions shared by the drivers: UTF-8 checking
 * and SQLite-style text to number conversion.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dal-int.h"

int dal__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;

    while (s < end) {
        unsigned char c;
        size_t n;
        uint32_t cp;

        /* Most text is ASCII: take it eight bytes at a time. */
        while (end - s >= 8) {
            uint64_t w;

            memcpy(&w, s, 8);
            if (w & 0x8080808080808080ull)
                break;
            s += 8;
        }
        if (s == end)
            break;
        c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0; /* continuation byte, overlong lead, or > U+10FFFF */
        }
        if ((size_t)(end - s) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)
            || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return 0;
        s += n + 1;
    }
    return 1;
}

/* Copy at most 63 bytes of s into buf, NUL-terminated, for strto*. */
static const char *terminated(const char *s, size_t len, char *buf,
                              size_t cap)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return buf;
}

double dal__text_to_double(const char *s, size_t len)
{
    char buf[64];
    double d;

    if (!s || !len)
        return 0.0;
    d = strtod(terminated(s, len, buf, sizeof buf), NULL);
    return d;
}

int64_t dal__text_to_int64(const char *s, size_t len)
{
    char buf[64], *end;
    const char *t;
    long long v;
    double d;
    uint64_t u = 0;
    size_t i = 0;
    int neg;

    if (!s || !len)
        return 0;
    /* The common case, a plain decimal integer that fits, without a
     * copy; anything else takes the general path below. */
    neg = s[0] == '-';
    i = neg || s[0] == '+';
    if (i < len && len - i <= 18) {
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            u = u * 10 + (uint64_t)(s[i] - '0');
        if (i == len)
            return neg ? -(int64_t)u : (int64_t)u;
    }
    t = terminated(s, len, buf, sizeof buf);
    errno = 0;
    v = strtoll(t, &end, 10);
    if (*end == '.' || *end == 'e' || *end == 'E' || errno == ERANGE) {
        /* A real number: truncate toward zero, saturating like SQLite. */
        d = strtod(t, NULL);
        if (isnan(d))
            return 0;
        if (d >= 9223372036854775807.0)
            return INT64_MAX;
        if (d <= -9223372036854775808.0)
            return INT64_MIN;
        return (int64_t)d;
    }
    return end == t ? 0 : (int64_t)v;
}
