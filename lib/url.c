/*
 * url.c - split a database URL into scheme, body and options, pick the
 * driver, and take out the options that belong to libdal itself. The
 * drivers consume the rest (backends/ * /..._open); whatever nobody
 * consumed is reported as unknown by the core.
 *
 * Every message built here names the offending part and shows the URL
 * only in its redacted form, with the password replaced by ***.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dal-int.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

char *dal__url_decode(const char *s, size_t n, int plus)
{
    char *out = dal__malloc(n + 1), *o = out;
    size_t i;

    if (!out)
        return NULL;
    for (i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n
            && hexval((unsigned char)s[i + 1]) >= 0
            && hexval((unsigned char)s[i + 2]) >= 0) {
            *o++ = (char)(hexval((unsigned char)s[i + 1]) * 16
                          + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else if (plus && s[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

const struct dal_driver *dal__driver_for(const char *scheme, size_t len)
{
    const struct dal_driver *const *d;
    const char *const *s;

    for (d = dal__drivers; *d; d++)
        for (s = (*d)->schemes; *s; s++)
            if (strlen(*s) == len && !strncasecmp(*s, scheme, len))
                return *d;
    return NULL;
}

void dal__set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "sqlite, postgres, postgresql" from the driver table. */
static void known_schemes(char *out, size_t outlen)
{
    const struct dal_driver *const *d;
    const char *const *s;
    size_t len = 0;

    out[0] = '\0';
    for (d = dal__drivers; *d; d++)
        for (s = (*d)->schemes; *s; s++) {
            int n = snprintf(out + len, outlen - len, "%s%s",
                             len ? ", " : "", *s);
            if (n < 0 || (size_t)n >= outlen - len)
                return;
            len += (size_t)n;
        }
}

/*
 * The URL with the password of "//user:password@host" and the value of
 * any password= option replaced by ***. Works on malformed URLs too,
 * since it is used to report them.
 */
static char *redact(const char *url, char **secret)
{
    dal__buf b = {0};
    const char *p = strstr(url, "://"), *auth, *end, *at, *colon, *q;

    if (p) {
        auth = p + 3;
        /* Up to the last '@' in the URL: a password may hold an
         * unencoded '/', '?' or '@', and masking too much is harmless
         * where masking too little is not. */
        end = auth + strlen(auth);
        at = NULL;
        for (q = auth; q < end; q++)
            if (*q == '@')
                at = q;
        colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            if (dal__buf_add(&b, url, (size_t)(colon + 1 - url))
                || dal__buf_adds(&b, "***"))
                goto nomem;
            if (colon + 1 < at && secret
                && !(*secret = dal__strndup(colon + 1,
                                            (size_t)(at - colon - 1))))
                goto nomem;
            p = at;
        } else {
            p = url;
        }
    } else {
        p = url;
    }
    /* Copy the rest, masking password= option values. */
    q = strchr(p, '?');
    if (!q) {
        if (dal__buf_adds(&b, p))
            goto nomem;
        return b.p ? b.p : dal__strdup("");
    }
    if (dal__buf_add(&b, p, (size_t)(q - p)))
        goto nomem;
    while (*q) {
        size_t n = strcspn(q + 1, "&") + 1;
        const char *eq = memchr(q, '=', n);
        char *key = eq ? dal__url_decode(q + 1, (size_t)(eq - q - 1), 0)
                       : NULL;
        int is_pw = key && !strcasecmp(key, "password");

        dal__free(key);
        if (eq && !key)
            goto nomem;
        if (is_pw) {
            if (dal__buf_add(&b, q, (size_t)(eq + 1 - q))
                || dal__buf_adds(&b, "***"))
                goto nomem;
        } else if (dal__buf_add(&b, q, n)) {
            goto nomem;
        }
        q += n;
    }
    return b.p;
nomem:
    dal__buf_free(&b);
    return NULL;
}

void dal__url_free(dal__url *u)
{
    int i;

    if (!u)
        return;
    for (i = 0; i < u->nopts; i++) {
        dal__free(u->opts[i].key);
        dal__free(u->opts[i].val);
    }
    dal__free(u->opts);
    dal__free(u->scheme);
    dal__free(u->body);
    dal__free(u->redacted);
    dal__free(u->secret);
    dal__free(u->auto_migrate);
    memset(u, 0, sizeof *u);
}

static int parse_query(dal__url *u, const char *q, char *err, size_t errlen)
{
    int n = 1, i;
    const char *p;

    for (p = q; *p; p++)
        if (*p == '&')
            n++;
    u->opts = dal__calloc((size_t)n, sizeof *u->opts);
    if (!u->opts)
        return DAL_NOMEM;
    for (p = q, i = 0; ; ) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);

        if (len > 0) {
            if (!eq || eq == p) {
                dal__set_err(err, errlen, "malformed option '%.*s' in URL "
                             "'%s': expected key=value", (int)len,
                             eq ? "" : p, u->redacted);
                return DAL_E_URL;
            }
            u->opts[i].key = dal__url_decode(p, (size_t)(eq - p), 0);
            u->opts[i].val = dal__url_decode(eq + 1,
                                             len - (size_t)(eq + 1 - p), 0);
            u->nopts = ++i;
            if (!u->opts[i - 1].key || !u->opts[i - 1].val)
                return DAL_NOMEM;
        }
        if (!p[len])
            break;
        p += len + 1;
    }
    return DAL_OK;
}

dal__kv *dal__url_opt(dal__url *u, const char *key)
{
    int i;

    /* The last occurrence wins, as in libpq; earlier ones are consumed. */
    dal__kv *found = NULL;
    for (i = 0; i < u->nopts; i++)
        if (!strcmp(u->opts[i].key, key)) {
            u->opts[i].used = 1;
            found = &u->opts[i];
        }
    return found;
}

int dal__url_opt_int(const dal__kv *kv, long min, long max, long *out,
                     char *err, size_t errlen)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(kv->val, &end, 10);
    if (!kv->val[0] || *end || errno || v < min || v > max
        || isspace((unsigned char)kv->val[0])) {
        dal__set_err(err, errlen, "invalid value '%s' for option '%s': "
                     "expected an integer from %ld to %ld", kv->val, kv->key,
                     min, max);
        return DAL_E_URL;
    }
    *out = v;
    return DAL_OK;
}

int dal__url_opt_bool(const dal__kv *kv, int *out, char *err,
                      size_t errlen)
{
    static const char *const yes[] = {"on", "true", "1", "yes", NULL};
    static const char *const no[] = {"off", "false", "0", "no", NULL};
    int i;

    for (i = 0; yes[i]; i++)
        if (!strcasecmp(kv->val, yes[i])) {
            *out = 1;
            return DAL_OK;
        }
    for (i = 0; no[i]; i++)
        if (!strcasecmp(kv->val, no[i])) {
            *out = 0;
            return DAL_OK;
        }
    dal__set_err(err, errlen, "invalid value '%s' for option '%s': expected "
                 "on or off", kv->val, kv->key);
    return DAL_E_URL;
}

int dal__url_parse(const char *url, dal__url *u, char *err, size_t errlen)
{
    const char *p, *q;
    char known[128];
    size_t slen;
    long v;
    dal__kv *kv;
    int rc;

    memset(u, 0, sizeof *u);
    u->stmt_cache = DAL__STMT_CACHE_DEFAULT;
    u->redacted = redact(url, &u->secret);
    if (!u->redacted)
        return DAL_NOMEM;
    known_schemes(known, sizeof known);

    p = url;
    if (isalpha((unsigned char)*p))
        while (isalnum((unsigned char)*p) || *p == '+' || *p == '-'
               || *p == '.')
            p++;
    if (p == url || *p != ':') {
        dal__set_err(err, errlen, "URL '%s' has no scheme: expected "
                     "scheme:..., with a scheme among %s", u->redacted, known);
        return DAL_E_URL;
    }
    slen = (size_t)(p - url);
    u->scheme = dal__strndup(url, slen);
    if (!u->scheme)
        return DAL_NOMEM;
    for (char *c = u->scheme; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (!(u->drv = dal__driver_for(u->scheme, slen))) {
        dal__set_err(err, errlen, "unknown URL scheme '%s' in '%s': known "
                     "schemes are %s", u->scheme, u->redacted, known);
        return DAL_E_URL;
    }

    p++; /* past ':' */
    if (strchr(p, '#')) {
        dal__set_err(err, errlen, "URL '%s' has a '#' fragment, which means "
                     "nothing here (percent-encode a literal '#' as %%23)",
                     u->redacted);
        return DAL_E_URL;
    }
    q = strchr(p, '?');
    u->body = q ? dal__strndup(p, (size_t)(q - p)) : dal__strdup(p);
    if (!u->body)
        return DAL_NOMEM;
    if (q && (rc = parse_query(u, q + 1, err, errlen)) != DAL_OK)
        return rc;

    /* libdal's own options, common to every backend. */
    kv = dal__url_opt(u, "statement_cache");
    if (kv) {
        if ((rc = dal__url_opt_int(kv, 0, 100000, &v, err, errlen)))
            return rc;
        u->stmt_cache = (int)v;
    }
    kv = dal__url_opt(u, "auto_migrate");
    if (kv) {
        if (!kv->val[0]) {
            dal__set_err(err, errlen, "option 'auto_migrate' needs the name of "
                         "a migration set registered with "
                         "dal_migrator_register()");
            return DAL_E_URL;
        }
        if (!(u->auto_migrate = dal__strdup(kv->val)))
            return DAL_NOMEM;
    }
    return DAL_OK;
}

void dal__scrub(char *msg, size_t cap, const char *secret)
{
    size_t slen, mask;
    char *p;

    (void)cap; /* the message only ever shrinks */
    if (!msg || !secret || !*secret)
        return;
    slen = strlen(secret);
    /* A secret becomes "***"; one shorter than that becomes as many '*'
     * as it has characters, so the message never has to grow. */
    mask = slen < 3 ? slen : 3;
    while ((p = strstr(msg, secret)) != NULL) {
        memset(p, '*', mask);
        memmove(p + mask, p + slen, strlen(p + slen) + 1);
        msg = p + mask;
    }
}
