/*
 * sqllex.c - the placeholder lexer. It finds the portable placeholders
 * (?, $N, :name) in one SQL statement and rewrites them in the form the
 * backend wants (?N for SQLite, $N for PostgreSQL), while copying
 * everything that merely looks like one untouched: string literals,
 * quoted identifiers, comments, dollar-quoted strings and :: casts.
 *
 * It is not an SQL parser: it knows just enough tokens to never mistake
 * the inside of a literal for code. Unterminated literals run to the end
 * of the text, and the backend then reports the syntax error.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dal-int.h"

#define MAX_PARAMS 65535 /* PostgreSQL's limit on bind parameters */

enum { STYLE_NONE, STYLE_QMARK, STYLE_DOLLAR, STYLE_NAMED };

static int is_ident(int c)
{
    return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

static int is_ident_start(int c)
{
    return isalpha(c) || c == '_' || c >= 0x80;
}

/*
 * If s[i] starts a dollar-quote opener ($$ or $tag$), return the
 * opener's length, else 0.
 */
static size_t dollar_tag(const char *s, size_t i, size_t n)
{
    size_t j = i + 1;

    if (j < n && s[j] == '$')
        return 2;
    if (j >= n || !is_ident_start((unsigned char)s[j]))
        return 0;
    while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '_'
                     || (unsigned char)s[j] >= 0x80))
        j++;
    return j < n && s[j] == '$' ? j - i + 1 : 0;
}

/*
 * If s[i] starts a literal, quoted identifier, comment or dollar-quoted
 * string, return the index just past it (or n when unterminated); else
 * return i. sqlite selects SQLite's rules: [identifiers] and
 * non-nesting block comments; otherwise PostgreSQL's nesting comments.
 */
static size_t skip_token(const char *s, size_t i, size_t n, int sqlite)
{
    size_t j, tag;
    int depth, esc;
    char q;

    switch (s[i]) {
    case '\'':
        /* E'...' strings take backslash escapes (PostgreSQL). */
        esc = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e')
              && (i < 2 || !is_ident((unsigned char)s[i - 2]));
        for (j = i + 1; j < n; j++) {
            if (esc && s[j] == '\\' && j + 1 < n)
                j++;
            else if (s[j] == '\'') {
                if (j + 1 < n && s[j + 1] == '\'')
                    j++;
                else
                    return j + 1;
            }
        }
        return n;
    case '"':
    case '`':
        q = s[i];
        for (j = i + 1; j < n; j++)
            if (s[j] == q) {
                if (j + 1 < n && s[j + 1] == q)
                    j++;
                else
                    return j + 1;
            }
        return n;
    case '[':
        if (!sqlite)
            return i;
        for (j = i + 1; j < n; j++)
            if (s[j] == ']')
                return j + 1;
        return n;
    case '-':
        if (i + 1 < n && s[i + 1] == '-') {
            for (j = i + 2; j < n && s[j] != '\n'; j++)
                ;
            return j;
        }
        return i;
    case '/':
        if (i + 1 >= n || s[i + 1] != '*')
            return i;
        depth = 1;
        for (j = i + 2; j < n; j++) {
            if (s[j] == '*' && j + 1 < n && s[j + 1] == '/') {
                j++;
                if (--depth == 0 || sqlite)
                    return j + 1;
            } else if (!sqlite && s[j] == '/' && j + 1 < n
                       && s[j + 1] == '*') {
                j++;
                depth++;
            }
        }
        return n;
    case '$':
        if (i > 0 && is_ident((unsigned char)s[i - 1]))
            return i;
        tag = dollar_tag(s, i, n);
        if (!tag)
            return i;
        for (j = i + tag; j + tag <= n; j++)
            if (s[j] == '$' && !memcmp(s + j, s + i, tag))
                return j + tag;
        return n;
    default:
        return i;
    }
}

/*
 * What the lexer must know to tell a ';' inside a routine body from one
 * that ends the statement: SQLite's CREATE TRIGGER ... BEGIN ...; END and
 * PostgreSQL's CREATE FUNCTION ... BEGIN ATOMIC ...; END. As in
 * sqlite3_complete(), a body ends at the first "END ;" (so a CASE ... END
 * that closes a statement inside a body ends it early, as in SQLite).
 */
typedef struct body_scan {
    int nwords;   /* words seen in the statement */
    int create;   /* it starts with CREATE */
    int routine;  /* TRIGGER, FUNCTION or PROCEDURE among its first words */
    int body;     /* inside BEGIN ... */
    int last_end; /* the last token was the word END */
} body_scan;

static int word_is(const char *s, size_t len, const char *w)
{
    return strlen(w) == len && !strncasecmp(s, w, len);
}

/* Note the word s[0..len) in the scan. */
static void scan_word(body_scan *b, const char *s, size_t len)
{
    b->nwords++;
    b->last_end = b->body && word_is(s, len, "END");
    if (b->nwords == 1) {
        b->create = word_is(s, len, "CREATE");
        return;
    }
    if (!b->create)
        return;
    if (b->nwords <= 6 && (word_is(s, len, "TRIGGER")
                           || word_is(s, len, "FUNCTION")
                           || word_is(s, len, "PROCEDURE")))
        b->routine = 1;
    else if (b->routine && word_is(s, len, "BEGIN"))
        b->body = 1;
}

/* Does a top-level ';' here end the statement? */
static int semicolon_ends(const body_scan *b)
{
    return !b->body || b->last_end;
}

/* If s[i] starts a word, note it and return its end; else return i. */
static size_t word_at(const char *s, size_t i, size_t n, body_scan *b)
{
    size_t j;

    if (!is_ident_start((unsigned char)s[i])
        || (i > 0 && is_ident((unsigned char)s[i - 1])))
        return i;
    for (j = i + 1; j < n && is_ident((unsigned char)s[j]); j++)
        ;
    scan_word(b, s + i, j - i);
    return j;
}

int dal__sql_is_blank(const char *sql, size_t len)
{
    size_t i = 0, j;

    while (i < len) {
        if (isspace((unsigned char)sql[i])) {
            i++;
            continue;
        }
        if (sql[i] != '-' && sql[i] != '/')
            return 0;
        j = skip_token(sql, i, len, 0);
        if (j == i)
            return 0;
        i = j;
    }
    return 1;
}

size_t dal__sql_stmt_end(const char *sql)
{
    size_t n = strlen(sql), i = 0, j;
    body_scan b = {0};

    /* Brackets are skipped as in SQLite: in PostgreSQL they hold array
     * subscripts, which never contain a ';'. */
    while (i < n) {
        if (sql[i] == ';') {
            if (semicolon_ends(&b))
                return i + 1;
            b.last_end = 0;
            i++;
            continue;
        }
        j = skip_token(sql, i, n, 0);
        if (j == i && sql[i] == '[')
            j = skip_token(sql, i, n, 1);
        if (j == i)
            j = word_at(sql, i, n, &b);
        if (j == i && !isspace((unsigned char)sql[i]))
            b.last_end = 0;
        i = j > i ? j : i + 1;
    }
    return n;
}

static int set_style(int *style, int want, char *err, size_t errlen)
{
    static const char *const names[] = {"", "?", "$N", ":name"};

    if (*style == STYLE_NONE || *style == want) {
        *style = want;
        return DAL_OK;
    }
    snprintf(err, errlen, "placeholders of two styles (%s and %s) in one "
             "statement: use only one of ?, $N and :name",
             names[*style], names[want]);
    return DAL_E_MISUSE;
}

static int add_marker(dal__buf *b, char marker, long idx)
{
    char num[24];
    int len = snprintf(num, sizeof num, "%c%ld", marker, idx);

    return dal__buf_add(b, num, (size_t)len);
}

/* The 1-based slot of name, adding it when new; 0 when out of memory. */
static int name_slot(dal__sqltext *out, const char *name, size_t len)
{
    char **names;
    int i;

    for (i = 0; i < out->nparams; i++)
        if (strlen(out->names[i]) == len
            && !memcmp(out->names[i], name, len))
            return i + 1;
    names = dal__realloc(out->names,
                         (size_t)(out->nparams + 1) * sizeof *names);
    if (!names)
        return 0;
    out->names = names;
    names[out->nparams] = dal__strndup(name, len);
    if (!names[out->nparams])
        return 0;
    return ++out->nparams;
}

void dal__sqltext_free(dal__sqltext *t)
{
    int i;

    if (!t)
        return;
    if (t->names)
        for (i = 0; i < t->nparams; i++)
            dal__free(t->names[i]);
    dal__free(t->names);
    dal__free(t->sql);
    memset(t, 0, sizeof *t);
}

int dal__sql_translate(const char *sql, char marker, dal__sqltext *out,
                       char *err, size_t errlen)
{
    return dal__sql_translate_at(sql, marker, 0, out, err, errlen);
}

int dal__sql_translate_at(const char *sql, char marker, int base,
                          dal__sqltext *out, char *err, size_t errlen)
{
    size_t n = strlen(sql), i = 0, j, start = 0;
    int sqlite = marker == '?', style = STYLE_NONE, rc = DAL_OK;
    long nq = 0, maxn = 0, v;
    dal__buf b = {0};
    body_scan scan = {0};

    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    if (dal__buf_reserve(&b, n + 16))
        return DAL_NOMEM;

    /* Copy runs of ordinary text in one go; stop at anything special. */
#define FLUSH(upto) \
    do { if (dal__buf_add(&b, sql + start, (upto) - start)) goto nomem; \
    } while (0)

    while (i < n) {
        unsigned char c = (unsigned char)sql[i];
        unsigned char prev = i ? (unsigned char)sql[i - 1] : ' ';

        j = skip_token(sql, i, n, sqlite);
        if (j > i) {
            i = j;
            continue;
        }
        if (c == '?') {
            FLUSH(i);
            if (i + 1 < n && sql[i + 1] == '?') {
                if (dal__buf_addc(&b, '?'))
                    goto nomem;
                i += 2;
            } else {
                if ((rc = set_style(&style, STYLE_QMARK, err, errlen)))
                    goto fail;
                if (++nq > MAX_PARAMS)
                    goto toomany;
                if (add_marker(&b, marker, nq + base))
                    goto nomem;
                i++;
            }
            start = i;
        } else if (c == '$' && i + 1 < n
                   && isdigit((unsigned char)sql[i + 1])
                   && !is_ident(prev)) {
            FLUSH(i);
            for (j = i + 1, v = 0; j < n && isdigit((unsigned char)sql[j]);
                 j++)
                if ((v = v * 10 + (sql[j] - '0')) > MAX_PARAMS)
                    goto toomany;
            if (v == 0) {
                snprintf(err, errlen, "placeholder '%.*s' is out of range: "
                         "numbering starts at $1", (int)(j - i), sql + i);
                rc = DAL_E_MISUSE;
                goto fail;
            }
            if ((rc = set_style(&style, STYLE_DOLLAR, err, errlen)))
                goto fail;
            if (v > maxn)
                maxn = v;
            if (add_marker(&b, marker, v + base))
                goto nomem;
            i = start = j;
        } else if (c == ':' && i + 1 < n && sql[i + 1] == ':') {
            i += 2; /* a cast, copied as it is */
        } else if (c == ':' && i + 1 < n
                   && is_ident_start((unsigned char)sql[i + 1])
                   && !is_ident(prev)) {
            int slot;

            FLUSH(i);
            for (j = i + 1; j < n && (isalnum((unsigned char)sql[j])
                                      || sql[j] == '_'
                                      || (unsigned char)sql[j] >= 0x80);
                 j++)
                ;
            if ((rc = set_style(&style, STYLE_NAMED, err, errlen)))
                goto fail;
            if (out->nparams >= MAX_PARAMS)
                goto toomany;
            slot = name_slot(out, sql + i + 1, j - i - 1);
            if (!slot || add_marker(&b, marker, slot + base))
                goto nomem;
            i = start = j;
        } else if (c == ';' && !semicolon_ends(&scan)) {
            scan.last_end = 0;
            i++;
        } else if (c == ';') {
            FLUSH(i);
            if (!dal__sql_is_blank(sql + i + 1, n - i - 1)) {
                snprintf(err, errlen, "more than one statement: text "
                         "follows the ';' at offset %zu (run scripts with "
                         "dal_exec())", i);
                rc = DAL_E_MISUSE;
                goto fail;
            }
            start = i = n;
        } else if ((j = word_at(sql, i, n, &scan)) > i) {
            i = j;
        } else {
            if (!isspace(c))
                scan.last_end = 0;
            i++;
        }
    }
    FLUSH(n);
#undef FLUSH

    if (style == STYLE_QMARK)
        out->nparams = (int)nq;
    else if (style == STYLE_DOLLAR)
        out->nparams = (int)maxn;
    out->sql = b.p;
    out->len = b.len;
    return DAL_OK;

toomany:
    snprintf(err, errlen, "more than %d parameters", MAX_PARAMS);
    rc = DAL_E_MISUSE;
    goto fail;
nomem:
    rc = DAL_NOMEM;
    if (err && errlen)
        snprintf(err, errlen, "out of memory");
fail:
    dal__buf_free(&b);
    dal__sqltext_free(out);
    return rc;
}
