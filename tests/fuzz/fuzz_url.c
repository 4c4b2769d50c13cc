/*
 * fuzz_url.c - libFuzzer target for the URL parser (lib/url.c).
 *
 * The input, cut at its first NUL, is parsed with dal__url_parse() and
 * freed with dal__url_free(), whatever the result. Besides the
 * sanitizers' checks it asserts the parser's contract: a known result
 * code, a terminated message, a complete dal__url on success, and that
 * neither the redacted URL nor a message shows the password of
 * "scheme://user:password@host".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dal-int.h"

#define ERRLEN 256

static void fail(const char *what, const char *url)
{
    fprintf(stderr, "fuzz_url: %s for URL \"%s\"\n", what, url);
    abort();
}

/*
 * The password of "scheme://user:password@host", found the way the
 * redactor defines it (the last '@' before the first '/', '?' or '#';
 * the first ':' before that), copied into pw. Returns 0 when there is
 * none, or when the check would be ambiguous: percent escapes may
 * decode to the password elsewhere, a password that appears twice may
 * be legitimately shown where it appears again, and a short or plain
 * one may be part of a message's own words.
 */
static int find_password(const char *url, char *pw, size_t cap)
{
    const char *auth = strstr(url, "://"), *end, *at = NULL, *colon, *q;
    size_t n;

    /* Only a real authority: "://" right after a scheme. */
    if (!auth || auth == url || auth != url + strcspn(url, ":")
        || strchr(url, '%'))
        return 0;
    auth += 3;
    end = auth + strcspn(auth, "/?#");
    for (q = auth; q < end; q++)
        if (*q == '@')
            at = q;
    if (!at)
        return 0;
    colon = memchr(auth, ':', (size_t)(at - auth));
    if (!colon)
        return 0;
    n = (size_t)(at - colon - 1);
    /* Short passwords ("a") are too likely to occur by chance. */
    if (n < 4 || n >= cap)
        return 0;
    memcpy(pw, colon + 1, n);
    pw[n] = '\0';
    /* A letter and a digit, so that it cannot be a word or number of a
     * message's fixed text ("known schemes are sqlite, ..."). */
    if (!strpbrk(pw, "0123456789")
        || !strpbrk(pw, "abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        return 0;
    if (strstr(strstr(url, pw) + 1, pw))
        return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1), err[ERRLEN + 1], pw[256];
    dal__url u;
    int rc, i, has_pw;

    if (!url)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    memset(err, 'x', sizeof err);
    err[0] = '\0';

    rc = dal__url_parse(url, &u, err, ERRLEN);
    if (err[ERRLEN] != 'x')
        fail("message written past errlen", url);
    if (!memchr(err, '\0', ERRLEN))
        fail("message not terminated", url);
    has_pw = find_password(url, pw, sizeof pw);

    switch (rc) {
    case DAL_OK:
        if (!u.drv || !u.scheme || !u.body || !u.redacted)
            fail("DAL_OK with a part missing", url);
        if (u.nopts < 0 || (u.nopts > 0 && !u.opts))
            fail("bad option list", url);
        for (i = 0; i < u.nopts; i++)
            if (!u.opts[i].key || !u.opts[i].val)
                fail("option without key or value", url);
        if (u.stmt_cache < 0)
            fail("negative statement_cache", url);
        if (has_pw && strstr(u.redacted, pw))
            fail("password in the redacted URL", url);
        break;
    case DAL_E_URL:
        if (!err[0])
            fail("DAL_E_URL without a message", url);
        if (has_pw && strstr(err, pw))
            fail("password in the message", url);
        break;
    case DAL_NOMEM:
        break;
    default:
        fail("unexpected result code", url);
    }
    dal__url_free(&u);
    /* A freed dal__url may be freed again. */
    dal__url_free(&u);
    free(url);
    return 0;
}
