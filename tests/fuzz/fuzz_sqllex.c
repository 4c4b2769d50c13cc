/*
 * fuzz_sqllex.c - libFuzzer target for the placeholder lexer
 * (lib/sqllex.c).
 *
 * The input, cut at its first NUL, is translated with both markers
 * ('?' for SQLite, '$' for PostgreSQL), then walked statement by
 * statement with dal__sql_stmt_end() as dal_exec() does, asking
 * dal__sql_is_blank() about each piece. The input sits in a block of
 * exactly its size, so the sanitizer catches any read past the NUL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dal-int.h"

#define ERRLEN 256

static void fail(const char *what, const char *sql, char marker)
{
    fprintf(stderr, "fuzz_sqllex: %s (marker '%c') for \"%s\"\n", what,
            marker, sql);
    abort();
}

static void translate(const char *sql, char marker)
{
    char err[ERRLEN + 1];
    dal__sqltext t;
    int rc, i;

    memset(err, 'x', sizeof err);
    rc = dal__sql_translate(sql, marker, &t, err, ERRLEN);
    if (err[ERRLEN] != 'x')
        fail("message written past errlen", sql, marker);
    switch (rc) {
    case DAL_OK:
        if (!t.sql || strlen(t.sql) != t.len)
            fail("bad output text or length", sql, marker);
        if (t.nparams < 0 || t.nparams > 65535)
            fail("bad parameter count", sql, marker);
        if (t.names)
            for (i = 0; i < t.nparams; i++)
                if (!t.names[i] || !t.names[i][0])
                    fail("missing parameter name", sql, marker);
        /*
         * With no placeholder and no '?' at all, nothing is rewritten:
         * the output is the input, less a trailing ';' and the blanks
         * and comments after it.
         */
        if (t.nparams == 0 && !strchr(sql, '?')) {
            if (strncmp(t.sql, sql, t.len) != 0)
                fail("text changed without placeholders", sql, marker);
            if (sql[t.len] && (sql[t.len] != ';'
                               || !dal__sql_is_blank(sql + t.len + 1,
                                                     strlen(sql + t.len
                                                            + 1))))
                fail("dropped more than a trailing ';'", sql, marker);
        }
        break;
    case DAL_E_MISUSE:
        if (!memchr(err, '\0', ERRLEN) || !err[0])
            fail("DAL_E_MISUSE without a terminated message", sql, marker);
        break;
    case DAL_NOMEM:
        break;
    default:
        fail("unexpected result code", sql, marker);
    }
    dal__sqltext_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sql = malloc(size + 1);
    const char *p;
    size_t n, left;

    if (!sql)
        return 0;
    memcpy(sql, data, size);
    sql[size] = '\0';

    translate(sql, '?');
    translate(sql, '$');

    for (p = sql; *p; p += n) {
        left = strlen(p);
        n = dal__sql_stmt_end(p);
        if (n == 0 || n > left)
            fail("stmt_end out of range", sql, ' ');
        if (n < left && p[n - 1] != ';')
            fail("stmt_end not just past a ';'", sql, ' ');
        (void)dal__sql_is_blank(p, n);
        (void)dal__sql_is_blank(p, n - 1);
    }
    (void)dal__sql_is_blank(sql, strlen(sql));
    free(sql);
    return 0;
}
