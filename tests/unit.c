/*
 * unit.c - unit tests of libdal's internal helpers (lib/dal-int.h): the
 * placeholder lexer, the URL parser and the text helpers the drivers
 * share. The dal__ names are hidden in the shared library, so this suite
 * links the static archive build/libdal.a.
 *
 * Every test runs with a counting allocator installed through
 * dal_set_allocator(), and checks that what it made is freed again.
 */
#include <check.h>
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dal-int.h"

#define ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- counting allocator -------------------------------------------- */

static long live_blocks;

static void *count_malloc(size_t n)
{
    void *p = malloc(n);

    if (p)
        live_blocks++;
    return p;
}

static void *count_realloc(void *p, size_t n)
{
    void *q = realloc(p, n);

    if (q && !p)
        live_blocks++;
    return q;
}

static void count_free(void *p)
{
    if (p)
        live_blocks--;
    free(p);
}

/* Each test notes the live count at its start and compares at its end,
 * so the suite also works with CK_FORK=no. */
#define LEAK_START() long leak_base_ = live_blocks
#define LEAK_CHECK() \
    ck_assert_msg(live_blocks == leak_base_, "%ld block(s) leaked", \
                  live_blocks - leak_base_)

/* A copy in a block of exactly strlen + 1 bytes, so that a sanitizer
 * build catches any read past the terminating NUL. */
static char *dup_exact(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    ck_assert_ptr_nonnull(p);
    memcpy(p, s, n);
    return p;
}

/* ---- dal__sql_translate: successful translations ------------------- */

struct tr_case {
    const char *in;
    const char *out_q;     /* with marker '?' */
    const char *out_d;     /* with marker '$' */
    int nparams;
    const char *names[4];  /* for :name statements, NULL-terminated */
};

static const struct tr_case tr_cases[] = {
    /* Plain ? placeholders are numbered in order. */
    {"SELECT ?, ?", "SELECT ?1, ?2", "SELECT $1, $2", 2, {NULL}},
    {"SELECT * FROM t WHERE a = ? AND b IN (?,?)",
     "SELECT * FROM t WHERE a = ?1 AND b IN (?2,?3)",
     "SELECT * FROM t WHERE a = $1 AND b IN ($2,$3)", 3, {NULL}},
    {"SELECT ?", "SELECT ?1", "SELECT $1", 1, {NULL}},
    {"?", "?1", "$1", 1, {NULL}},

    /* $N keeps its numbering; the highest N is the parameter count. */
    {"SELECT $1, $2", "SELECT ?1, ?2", "SELECT $1, $2", 2, {NULL}},
    {"SELECT $1 + $1", "SELECT ?1 + ?1", "SELECT $1 + $1", 1, {NULL}},
    {"SELECT $2, $1", "SELECT ?2, ?1", "SELECT $2, $1", 2, {NULL}},
    {"SELECT $3", "SELECT ?3", "SELECT $3", 3, {NULL}},
    {"SELECT $10, $2", "SELECT ?10, ?2", "SELECT $10, $2", 10, {NULL}},
    {"SELECT $1,$2", "SELECT ?1,?2", "SELECT $1,$2", 2, {NULL}},

    /* :name takes a slot per distinct name, in order of first use. */
    {"SELECT :a, :b", "SELECT ?1, ?2", "SELECT $1, $2", 2, {"a", "b"}},
    {"SELECT :b, :a, :b", "SELECT ?1, ?2, ?1", "SELECT $1, $2, $1", 2,
     {"b", "a"}},
    {"UPDATE t SET x = :_x1 WHERE id = :id AND y = :_x1",
     "UPDATE t SET x = ?1 WHERE id = ?2 AND y = ?1",
     "UPDATE t SET x = $1 WHERE id = $2 AND y = $1", 2, {"_x1", "id"}},
    {"SELECT :Name,:n2", "SELECT ?1,?2", "SELECT $1,$2", 2,
     {"Name", "n2"}},

    /* Placeholders inside string literals are text. */
    {"SELECT '?', ':x', '$1'", "SELECT '?', ':x', '$1'",
     "SELECT '?', ':x', '$1'", 0, {NULL}},
    {"SELECT 'it''s ?', ?", "SELECT 'it''s ?', ?1", "SELECT 'it''s ?', $1",
     1, {NULL}},
    {"SELECT '''', ?", "SELECT '''', ?1", "SELECT '''', $1", 1, {NULL}},
    /* E'' strings take backslash escapes: \' does not end the string. */
    {"SELECT E'\\'?', ?", "SELECT E'\\'?', ?1", "SELECT E'\\'?', $1", 1,
     {NULL}},
    {"SELECT e'a\\\\', ?", "SELECT e'a\\\\', ?1", "SELECT e'a\\\\', $1", 1,
     {NULL}},
    /* Without E a backslash is an ordinary character. */
    {"SELECT 'a\\', ?", "SELECT 'a\\', ?1", "SELECT 'a\\', $1", 1, {NULL}},

    /* Quoted identifiers. */
    {"SELECT \"a?b\", ?", "SELECT \"a?b\", ?1", "SELECT \"a?b\", $1", 1,
     {NULL}},
    {"SELECT \":x\" FROM t", "SELECT \":x\" FROM t", "SELECT \":x\" FROM t",
     0, {NULL}},
    {"SELECT `a?b`, ?", "SELECT `a?b`, ?1", "SELECT `a?b`, $1", 1, {NULL}},
    {"SELECT \"a\"\"?\", ?", "SELECT \"a\"\"?\", ?1",
     "SELECT \"a\"\"?\", $1", 1, {NULL}},

    /* Comments. */
    {"SELECT ? -- what? :x $1\n, ?", "SELECT ?1 -- what? :x $1\n, ?2",
     "SELECT $1 -- what? :x $1\n, $2", 2, {NULL}},
    {"SELECT /* ? */ ?", "SELECT /* ? */ ?1", "SELECT /* ? */ $1", 1,
     {NULL}},
    {"SELECT /* :a */ :b", "SELECT /* :a */ ?1", "SELECT /* :a */ $1", 1,
     {"b"}},

    /* Dollar-quoted strings. */
    {"SELECT $tag$ ? $1 :x $tag$, ?", "SELECT $tag$ ? $1 :x $tag$, ?1",
     "SELECT $tag$ ? $1 :x $tag$, $1", 1, {NULL}},
    {"SELECT $$ it's ? $1 $$, $1", "SELECT $$ it's ? $1 $$, ?1",
     "SELECT $$ it's ? $1 $$, $1", 1, {NULL}},
    {"SELECT $a$ $b$ ? $b$ $a$, ?", "SELECT $a$ $b$ ? $b$ $a$, ?1",
     "SELECT $a$ $b$ ? $b$ $a$, $1", 1, {NULL}},
    {"SELECT $_t1$ $ ? $_t1$, ?", "SELECT $_t1$ $ ? $_t1$, ?1",
     "SELECT $_t1$ $ ? $_t1$, $1", 1, {NULL}},

    /* :: is a cast, not a :name. */
    {"SELECT x::text FROM t", "SELECT x::text FROM t",
     "SELECT x::text FROM t", 0, {NULL}},
    {"SELECT a::int + :b", "SELECT a::int + ?1", "SELECT a::int + $1", 1,
     {"b"}},
    {"SELECT ?::int", "SELECT ?1::int", "SELECT $1::int", 1, {NULL}},
    {"SELECT $1::int", "SELECT ?1::int", "SELECT $1::int", 1, {NULL}},
    {"SELECT :a::int", "SELECT ?1::int", "SELECT $1::int", 1, {"a"}},

    /* A name starts with a letter or an underscore. */
    {"SELECT arr[1:2] FROM t", "SELECT arr[1:2] FROM t",
     "SELECT arr[1:2] FROM t", 0, {NULL}},
    {"SELECT 1 : 2", "SELECT 1 : 2", "SELECT 1 : 2", 0, {NULL}},

    /* $ inside an identifier is part of the identifier. */
    {"SELECT foo$1 FROM t", "SELECT foo$1 FROM t", "SELECT foo$1 FROM t",
     0, {NULL}},
    {"SELECT foo$1, ?", "SELECT foo$1, ?1", "SELECT foo$1, $1", 1, {NULL}},

    /* ?? is a literal ? (the jsonb operator). */
    {"SELECT d ?? 'k' FROM t", "SELECT d ? 'k' FROM t",
     "SELECT d ? 'k' FROM t", 0, {NULL}},
    {"SELECT d ?? ?", "SELECT d ? ?1", "SELECT d ? $1", 1, {NULL}},
    {"SELECT d ?? $1", "SELECT d ? ?1", "SELECT d ? $1", 1, {NULL}},
    {"SELECT d ?? :k", "SELECT d ? ?1", "SELECT d ? $1", 1, {"k"}},

    /* A trailing ';' and blanks or comments after it are dropped. */
    {"SELECT 1;", "SELECT 1", "SELECT 1", 0, {NULL}},
    {"SELECT ?;  -- end\n /* c */ \n", "SELECT ?1", "SELECT $1", 1, {NULL}},
    {"SELECT 'a;b';", "SELECT 'a;b'", "SELECT 'a;b'", 0, {NULL}},
    {"SELECT $$;$$;\n", "SELECT $$;$$", "SELECT $$;$$", 0, {NULL}},
    {"SELECT 1 -- c;\n;", "SELECT 1 -- c;\n", "SELECT 1 -- c;\n", 0,
     {NULL}},

    /* No placeholders at all; empty text. */
    {"SELECT 1", "SELECT 1", "SELECT 1", 0, {NULL}},
    {"", "", "", 0, {NULL}},

    /*
     * Unterminated strings, identifiers and comments go through as they
     * are: the backend reports the syntax error. The lexer must stop at
     * the NUL.
     */
    {"SELECT ?, 'abc", "SELECT ?1, 'abc", "SELECT $1, 'abc", 1, {NULL}},
    {"SELECT ?, 'abc''", "SELECT ?1, 'abc''", "SELECT $1, 'abc''", 1,
     {NULL}},
    {"SELECT ?, E'abc\\", "SELECT ?1, E'abc\\", "SELECT $1, E'abc\\", 1,
     {NULL}},
    {"SELECT ?, E'\\'", "SELECT ?1, E'\\'", "SELECT $1, E'\\'", 1, {NULL}},
    {"SELECT ?, \"abc", "SELECT ?1, \"abc", "SELECT $1, \"abc", 1, {NULL}},
    {"SELECT ?, `abc", "SELECT ?1, `abc", "SELECT $1, `abc", 1, {NULL}},
    {"SELECT ?, [abc", "SELECT ?1, [abc", "SELECT $1, [abc", 1, {NULL}},
    {"SELECT ?, /* abc", "SELECT ?1, /* abc", "SELECT $1, /* abc", 1,
     {NULL}},
    {"SELECT ?, /* /* */", "SELECT ?1, /* /* */", "SELECT $1, /* /* */", 1,
     {NULL}},
    {"SELECT ?, /*", "SELECT ?1, /*", "SELECT $1, /*", 1, {NULL}},
    {"SELECT ?, -- abc", "SELECT ?1, -- abc", "SELECT $1, -- abc", 1,
     {NULL}},
    {"SELECT ?, $x$ abc", "SELECT ?1, $x$ abc", "SELECT $1, $x$ abc", 1,
     {NULL}},
    {"SELECT ?, $x$ abc $x", "SELECT ?1, $x$ abc $x",
     "SELECT $1, $x$ abc $x", 1, {NULL}},
    {"SELECT ?, $$", "SELECT ?1, $$", "SELECT $1, $$", 1, {NULL}},
    {"SELECT ?, $", "SELECT ?1, $", "SELECT $1, $", 1, {NULL}},
    {"SELECT :", "SELECT :", "SELECT :", 0, {NULL}},
    {"SELECT ::", "SELECT ::", "SELECT ::", 0, {NULL}},
    {"SELECT 'a', :", "SELECT 'a', :", "SELECT 'a', :", 0, {NULL}},
    {"SELECT ??", "SELECT ?", "SELECT ?", 0, {NULL}},
};

/*
 * Where the two backends' grammars differ, the lexer follows the one it
 * translates for: [identifiers] are SQLite's (in PostgreSQL brackets are
 * array subscripts, which may hold parameters), and block comments nest
 * in PostgreSQL but not in SQLite.
 */
struct tr_dialect_case {
    const char *in;
    char marker;
    const char *out;
    int nparams;
};

static const struct tr_dialect_case tr_dialect_cases[] = {
    {"SELECT [a?b], ?", '?', "SELECT [a?b], ?1", 1},
    {"SELECT [:x] FROM t", '?', "SELECT [:x] FROM t", 0},
    {"SELECT arr[?], ?", '$', "SELECT arr[$1], $2", 2},
    {"SELECT arr[$2][$1]", '$', "SELECT arr[$2][$1]", 2},
    {"SELECT /* a /* ? */ ? */ ?", '$', "SELECT /* a /* ? */ ? */ $1", 1},
    {"SELECT /* a /* ? */ ? */ ?", '?', "SELECT /* a /* ? */ ?1 */ ?2", 2},
    {"SELECT /* /* */ */ ?", '$', "SELECT /* /* */ */ $1", 1},
    /* One statement, though its body has ';' (SQLite triggers). */
    {"CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
     "INSERT INTO log VALUES (new.a); END;", '?',
     "CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
     "INSERT INTO log VALUES (new.a); END", 0},
};

static void check_translation(const struct tr_case *c, char marker,
                              const char *want)
{
    char *in = dup_exact(c->in);
    char err[256];
    dal__sqltext t;
    int rc, n;

    memset(&t, 0, sizeof t);
    err[0] = '\0';
    rc = dal__sql_translate(in, marker, &t, err, sizeof err);
    ck_assert_msg(rc == DAL_OK, "translate(\"%s\", '%c') = %d (%s)", c->in,
                  marker, rc, err);
    ck_assert_ptr_nonnull(t.sql);
    ck_assert_msg(strcmp(t.sql, want) == 0,
                  "translate(\"%s\", '%c') gave \"%s\", want \"%s\"", c->in,
                  marker, t.sql, want);
    ck_assert_msg(t.len == strlen(t.sql), "len %zu for \"%s\"", t.len,
                  t.sql);
    ck_assert_msg(t.nparams == c->nparams, "\"%s\": nparams %d, want %d",
                  c->in, t.nparams, c->nparams);
    if (!c->names[0]) {
        ck_assert_msg(t.names == NULL, "\"%s\": names set", c->in);
    } else {
        ck_assert_msg(t.names != NULL, "\"%s\": names NULL", c->in);
        for (n = 0; n < c->nparams; n++)
            ck_assert_msg(t.names[n] && strcmp(t.names[n], c->names[n]) == 0,
                          "\"%s\": names[%d] = \"%s\", want \"%s\"", c->in,
                          n, t.names[n] ? t.names[n] : "(null)",
                          c->names[n]);
    }
    dal__sqltext_free(&t);
    free(in);
}

START_TEST(test_translate_q)
{
    LEAK_START();
    check_translation(&tr_cases[_i], '?', tr_cases[_i].out_q);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_translate_d)
{
    LEAK_START();
    check_translation(&tr_cases[_i], '$', tr_cases[_i].out_d);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_translate_dialect)
{
    const struct tr_dialect_case *d = &tr_dialect_cases[_i];
    struct tr_case c;
    LEAK_START();

    memset(&c, 0, sizeof c);
    c.in = d->in;
    c.nparams = d->nparams;
    check_translation(&c, d->marker, d->out);
    LEAK_CHECK();
}
END_TEST

/* ---- dal__sql_translate: refusals ---------------------------------- */

static const char *const tr_misuse[] = {
    /* A second statement. */
    "SELECT 1; SELECT 2",
    "SELECT ?; SELECT ?",
    "SELECT 1;;",
    "SELECT 1; x",
    "SELECT 1; -- c\nSELECT 2",
    /* Mixed placeholder styles. */
    "SELECT ?, $1",
    "SELECT $1, ?",
    "SELECT ?, :a",
    "SELECT :a, ?",
    "SELECT $1, :a",
    "SELECT :a, $1",
    /* $0 does not exist. */
    "SELECT $0",
    "SELECT $1, $0",
    "SELECT $00",
    /* Beyond PostgreSQL's 65535 parameters. */
    "SELECT $65536",
    "SELECT $99999999999999999999999",
};

START_TEST(test_translate_misuse)
{
    const char *sql = tr_misuse[_i];
    char *in = dup_exact(sql);
    char err[256];
    dal__sqltext t;
    int m, rc;
    LEAK_START();

    for (m = 0; m < 2; m++) {
        char marker = m ? '$' : '?';

        memset(&t, 0, sizeof t);
        err[0] = '\0';
        rc = dal__sql_translate(in, marker, &t, err, sizeof err);
        ck_assert_msg(rc == DAL_E_MISUSE, "translate(\"%s\", '%c') = %d",
                      sql, marker, rc);
        ck_assert_msg(err[0] != '\0', "\"%s\": no message", sql);
        ck_assert_msg(strlen(err) < sizeof err, "message not terminated");
    }
    free(in);
    /* Whatever was built before the error was freed. */
    LEAK_CHECK();
}
END_TEST

/* The message is cut to errlen and always terminated. */
START_TEST(test_translate_short_err)
{
    char err[16];
    dal__sqltext t;
    int rc;
    LEAK_START();

    memset(err, 'x', sizeof err);
    memset(&t, 0, sizeof t);
    rc = dal__sql_translate("SELECT ?, $1", '?', &t, err, 8);
    ck_assert_int_eq(rc, DAL_E_MISUSE);
    ck_assert_uint_lt(strlen(err), 8);
    ck_assert_int_eq(err[8], 'x');
    ck_assert_int_eq(err[15], 'x');
    LEAK_CHECK();
}
END_TEST

/* More placeholders than a statement can have are refused, not
 * wrapped around. */
START_TEST(test_translate_too_many)
{
    enum { N = 65536 };
    char *in = malloc(7 + 2 * N + 1), *p, err[128];
    dal__sqltext t;
    int i;
    LEAK_START();

    ck_assert_ptr_nonnull(in);
    memcpy(in, "SELECT ", 7);
    for (p = in + 7, i = 0; i < N; i++) {
        *p++ = '?';
        *p++ = ',';
    }
    p[-1] = '\0';
    ck_assert_int_eq(dal__sql_translate(in, '$', &t, err, sizeof err),
                     DAL_E_MISUSE);
    /* One fewer is fine. */
    p[-3] = '\0';
    ck_assert_int_eq(dal__sql_translate(in, '$', &t, err, sizeof err),
                     DAL_OK);
    ck_assert_int_eq(t.nparams, N - 1);
    dal__sqltext_free(&t);
    free(in);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_translate_long)
{
    /* Enough placeholders to grow the output buffer several times. */
    enum { N = 1000 };
    dal__buf in = {NULL, 0, 0}, want = {NULL, 0, 0};
    char err[128], num[32];
    dal__sqltext t;
    int i, rc;

    ck_assert_int_eq(dal__buf_adds(&in, "SELECT "), DAL_OK);
    ck_assert_int_eq(dal__buf_adds(&want, "SELECT "), DAL_OK);
    for (i = 1; i <= N; i++) {
        ck_assert_int_eq(dal__buf_adds(&in, i > 1 ? ", ?" : "?"), DAL_OK);
        snprintf(num, sizeof num, "%s$%d", i > 1 ? ", " : "", i);
        ck_assert_int_eq(dal__buf_adds(&want, num), DAL_OK);
    }
    memset(&t, 0, sizeof t);
    rc = dal__sql_translate(in.p, '$', &t, err, sizeof err);
    ck_assert_int_eq(rc, DAL_OK);
    ck_assert_int_eq(t.nparams, N);
    ck_assert_str_eq(t.sql, want.p);
    ck_assert_uint_eq(t.len, want.len);
    dal__sqltext_free(&t);
    dal__buf_free(&in);
    dal__buf_free(&want);
}
END_TEST

START_TEST(test_sqltext_free_empty)
{
    dal__sqltext t;

    memset(&t, 0, sizeof t);
    dal__sqltext_free(&t);
    dal__sqltext_free(&t);
}
END_TEST

/* ---- dal__sql_stmt_end and dal__sql_is_blank ----------------------- */

struct end_case {
    const char *first; /* the first statement, with its ';' if any */
    const char *rest;
};

static const struct end_case end_cases[] = {
    {"SELECT 1;", " SELECT 2"},
    {"SELECT 1;", ""},
    {";", "SELECT 1"},
    {"SELECT ';';", " SELECT 2"},
    {"SELECT 'it''s;';", " x"},
    {"SELECT E'\\';';", " x"},
    {"SELECT 'a\\';", "'; x"},
    {"SELECT \"a;b\";", " x"},
    {"SELECT `a;b`;", " x"},
    {"SELECT [a;b];", " x"},
    {"SELECT 1 -- ;\n;", " x"},
    {"SELECT /* ; */ 1;", " x"},
    {"SELECT /* /* ; */ ; */ 1;", " x"},
    {"SELECT $$;$$;", " x"},
    {"SELECT $t$ ; $x$ ; $t$;", " x"},
    {"SELECT foo$1;", "$; x"},
    {"SELECT x::text;", " x"},
    /* A trigger's body holds statements of its own: the trigger ends at
     * END (sqlite3_complete() agrees). BEGIN alone is a transaction. */
    {"CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
     "INSERT INTO log VALUES (new.a); END;", " INSERT INTO t VALUES (1);"},
    {"create temp trigger tr after delete on t begin "
     "delete from log; delete from log2; end;", " x"},
    {"BEGIN;", " SELECT 1; END;"},
    /* No top-level ';': the whole text. */
    {"SELECT 1", ""},
    {"", ""},
    {"SELECT 'abc;", ""},
    {"SELECT /* ;", ""},
    {"SELECT -- ;", ""},
    {"SELECT $q$ ;", ""},
    {"SELECT \"a;", ""},
    {"SELECT E'\\", ""},
};

START_TEST(test_stmt_end)
{
    const struct end_case *c = &end_cases[_i];
    size_t n1 = strlen(c->first), n2 = strlen(c->rest);
    char *sql = malloc(n1 + n2 + 1);
    size_t got;

    ck_assert_ptr_nonnull(sql);
    memcpy(sql, c->first, n1);
    memcpy(sql + n1, c->rest, n2 + 1);
    got = dal__sql_stmt_end(sql);
    ck_assert_msg(got == n1, "stmt_end(\"%s\") = %zu, want %zu", sql, got,
                  n1);
    free(sql);
}
END_TEST

START_TEST(test_stmt_walk)
{
    static const char script[] =
        "CREATE TABLE a(x TEXT);\n"
        "INSERT INTO a VALUES ('a;b'), ($$c;d$$); /* ; */\n"
        "INSERT INTO a VALUES (E'\\';');\n"
        "-- done;\n";
    static const char *const want[] = {
        "CREATE TABLE a(x TEXT);",
        "\nINSERT INTO a VALUES ('a;b'), ($$c;d$$);",
        " /* ; */\nINSERT INTO a VALUES (E'\\';');",
        "\n-- done;\n",
    };
    static const int blank[] = {0, 0, 0, 1};
    const char *p = script;
    int i = 0;

    while (*p) {
        size_t n = dal__sql_stmt_end(p);

        ck_assert_int_lt(i, ARRAY_LEN(want));
        ck_assert_uint_gt(n, 0);
        ck_assert_msg(n == strlen(want[i]) && !memcmp(p, want[i], n),
                      "statement %d: \"%.*s\"", i, (int)n, p);
        ck_assert_int_eq(!!dal__sql_is_blank(p, n), blank[i]);
        p += n;
        i++;
    }
    ck_assert_int_eq(i, ARRAY_LEN(want));
}
END_TEST

struct blank_case {
    const char *sql;
    int len; /* -1: strlen */
    int blank;
};

static const struct blank_case blank_cases[] = {
    {"", -1, 1},
    {"  \t\r\n", -1, 1},
    {"-- x\n", -1, 1},
    {"-- x", -1, 1},
    {"/* x */", -1, 1},
    {"/* x */ -- y\n  ", -1, 1},
    {"/* a /* b */ c */", -1, 1},
    {"/* a /* b */ c */ d", -1, 0},
    {"x", -1, 0},
    {" x ", -1, 0},
    {"-- x\nSELECT 1", -1, 0},
    {"''", -1, 0},
    {"$$ $$", -1, 0},
    {"   SELECT", 3, 1},
    {"-- x\nSELECT", 5, 1},
    {"SELECT", 0, 1},
};

START_TEST(test_is_blank)
{
    const struct blank_case *c = &blank_cases[_i];
    char *sql = dup_exact(c->sql);
    size_t len = c->len < 0 ? strlen(sql) : (size_t)c->len;

    ck_assert_msg(!!dal__sql_is_blank(sql, len) == c->blank,
                  "is_blank(\"%s\", %zu) != %d", c->sql, len, c->blank);
    free(sql);
}
END_TEST

/* Unterminated comments must not make is_blank read past len. */
START_TEST(test_is_blank_unterminated)
{
    static const char *const cases[] = {"/*", "/* x", "/* /* */", "--",
                                        "-", "/"};
    int i;

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        char *sql = dup_exact(cases[i]);

        (void)dal__sql_is_blank(sql, strlen(sql));
        free(sql);
    }
    /* A length that stops inside a comment. */
    (void)dal__sql_is_blank("/* abc */", 4);
}
END_TEST

/* ---- dal__url_parse ------------------------------------------------ */

static const dal__kv *find_opt(const dal__url *u, const char *key)
{
    int i;

    for (i = 0; i < u->nopts; i++)
        if (strcmp(u->opts[i].key, key) == 0)
            return &u->opts[i];
    return NULL;
}

/* The option key=val is present and not marked used. */
static void want_opt(const dal__url *u, const char *key, const char *val)
{
    const dal__kv *kv = find_opt(u, key);

    ck_assert_msg(kv != NULL, "option %s missing", key);
    ck_assert_str_eq(kv->val, val);
    ck_assert_int_eq(kv->used, 0);
}

/* statement_cache, when present in opts at all, is consumed already. */
static void want_no_stmt_cache_opt(const dal__url *u)
{
    int i;

    for (i = 0; i < u->nopts; i++)
        if (strcmp(u->opts[i].key, "statement_cache") == 0)
            ck_assert_msg(u->opts[i].used,
                          "statement_cache left for the driver");
}

static int parse(const char *url, dal__url *u, char *err, size_t errlen)
{
    char *copy = dup_exact(url);
    int rc;

    memset(u, 0, sizeof *u);
    err[0] = '\0';
    rc = dal__url_parse(copy, u, err, errlen);
    free(copy);
    return rc;
}

START_TEST(test_url_sqlite_rel)
{
    char err[256];
    dal__url u;
    LEAK_START();

    ck_assert_int_eq(parse("sqlite:rel.db", &u, err, sizeof err), DAL_OK);
    ck_assert_str_eq(u.scheme, "sqlite");
    ck_assert_str_eq(u.body, "rel.db");
    ck_assert_int_eq(u.nopts, 0);
    ck_assert_int_eq(u.stmt_cache, DAL__STMT_CACHE_DEFAULT);
    ck_assert_int_eq(DAL__STMT_CACHE_DEFAULT, 64);
    ck_assert_str_eq(u.redacted, "sqlite:rel.db");
    ck_assert_ptr_eq(u.drv, &dal__sqlite_driver);
    dal__url_free(&u);

    ck_assert_int_eq(parse("sqlite:dir/sub/app.db", &u, err, sizeof err),
                     DAL_OK);
    ck_assert_str_eq(u.body, "dir/sub/app.db");
    dal__url_free(&u);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_url_sqlite_abs)
{
    char err[256];
    dal__url u;
    LEAK_START();

    ck_assert_int_eq(parse("sqlite:///abs/x.db", &u, err, sizeof err),
                     DAL_OK);
    ck_assert_str_eq(u.scheme, "sqlite");
    ck_assert_str_eq(u.body, "///abs/x.db");
    ck_assert_int_eq(u.nopts, 0);
    ck_assert_str_eq(u.redacted, "sqlite:///abs/x.db");
    dal__url_free(&u);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_url_sqlite_memory)
{
    char err[256];
    dal__url u;
    LEAK_START();

    ck_assert_int_eq(parse("sqlite::memory:", &u, err, sizeof err), DAL_OK);
    ck_assert_str_eq(u.scheme, "sqlite");
    ck_assert_str_eq(u.body, ":memory:");
    ck_assert_int_eq(u.nopts, 0);
    ck_assert_ptr_eq(u.drv, &dal__sqlite_driver);
    dal__url_free(&u);

    /* The scheme is matched without regard to case. */
    ck_assert_int_eq(parse("SQLite::memory:", &u, err, sizeof err), DAL_OK);
    ck_assert_str_eq(u.scheme, "sqlite");
    ck_assert_ptr_eq(u.drv, &dal__sqlite_driver);
    dal__url_free(&u);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_url_options)
{
    char err[256];
    dal__url u;
    int rc;
    LEAK_START();

    ck_assert_int_eq(parse("sqlite:app.db?mode=ro&journal=wal"
                           "&busy_timeout=5000&foreign_keys=on",
                           &u, err, sizeof err),
                     DAL_OK);
    ck_assert_str_eq(u.body, "app.db");
    ck_assert_int_eq(u.nopts, 4);
    /* In the order written. */
    ck_assert_str_eq(u.opts[0].key, "mode");
    ck_assert_str_eq(u.opts[1].key, "journal");
    ck_assert_str_eq(u.opts[2].key, "busy_timeout");
    ck_assert_str_eq(u.opts[3].key, "foreign_keys");
    want_opt(&u, "mode", "ro");
    want_opt(&u, "journal", "wal");
    want_opt(&u, "busy_timeout", "5000");
    want_opt(&u, "foreign_keys", "on");
    ck_assert_int_eq(u.stmt_cache, DAL__STMT_CACHE_DEFAULT);
    dal__url_free(&u);

    /* Keys and values are percent-decoded. */
    ck_assert_int_eq(parse("sqlite:a%20b.db?ap%70name=x%20y%26z%3D1"
                           "&e=%C3%A9",
                           &u, err, sizeof err),
                     DAL_OK);
    ck_assert_str_eq(u.body, "a%20b.db");
    want_opt(&u, "appname", "x y&z=1");
    want_opt(&u, "e", "\xc3\xa9");
    dal__url_free(&u);

    /* An empty value. */
    ck_assert_int_eq(parse("sqlite:x.db?a=&b=2", &u, err, sizeof err),
                     DAL_OK);
    want_opt(&u, "a", "");
    want_opt(&u, "b", "2");
    dal__url_free(&u);

    /* A fragment is never part of the body or the options (libdal may
     * refuse it outright). */
    rc = parse("sqlite:x.db#frag", &u, err, sizeof err);
    ck_assert(rc == DAL_OK || rc == DAL_E_URL);
    if (rc == DAL_OK) {
        ck_assert_str_eq(u.body, "x.db");
        ck_assert_int_eq(u.nopts, 0);
    }
    dal__url_free(&u);

    /* A repeated option: the last one wins, as in libpq. */
    ck_assert_int_eq(parse("sqlite:x.db?mode=ro&mode=rw", &u, err,
                           sizeof err),
                     DAL_OK);
    ck_assert_str_eq(dal__url_opt(&u, "mode")->val, "rw");
    ck_assert_int_ne(u.opts[0].used, 0);
    ck_assert_int_ne(u.opts[1].used, 0);
    dal__url_free(&u);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_url_stmt_cache)
{
    static const char *const bad[] = {
        "sqlite:x.db?statement_cache=abc",
        "sqlite:x.db?statement_cache=-1",
        "sqlite:x.db?statement_cache=",
        "sqlite:x.db?statement_cache=12x",
        "sqlite:x.db?statement_cache=99999999999999999999",
    };
    char err[256];
    dal__url u;
    int i, rc;
    LEAK_START();

    ck_assert_int_eq(parse("sqlite:x.db?statement_cache=16&mode=rw", &u,
                           err, sizeof err),
                     DAL_OK);
    ck_assert_int_eq(u.stmt_cache, 16);
    want_no_stmt_cache_opt(&u);
    want_opt(&u, "mode", "rw");
    dal__url_free(&u);

    ck_assert_int_eq(parse("sqlite:x.db?statement_cache=0", &u, err,
                           sizeof err),
                     DAL_OK);
    ck_assert_int_eq(u.stmt_cache, 0);
    want_no_stmt_cache_opt(&u);
    dal__url_free(&u);

    ck_assert_int_eq(parse("postgres://u@h/db?sslmode=disable"
                           "&statement_cache=8",
                           &u, err, sizeof err),
                     DAL_OK);
    ck_assert_int_eq(u.stmt_cache, 8);
    want_no_stmt_cache_opt(&u);
    want_opt(&u, "sslmode", "disable");
    dal__url_free(&u);

    for (i = 0; i < ARRAY_LEN(bad); i++) {
        rc = parse(bad[i], &u, err, sizeof err);
        ck_assert_msg(rc == DAL_E_URL, "%s: rc %d", bad[i], rc);
        ck_assert_msg(strstr(err, "statement_cache") != NULL,
                      "%s: message \"%s\" does not name the option", bad[i],
                      err);
        dal__url_free(&u);
    }
    LEAK_CHECK();
}
END_TEST

START_TEST(test_url_postgres)
{
    char err[256];
    dal__url u;
    LEAK_START();

    ck_assert_int_eq(parse("postgres://app@db.example.com:5433/shop"
                           "?sslmode=disable&application_name=a%20b",
                           &u, err, sizeof err),
                     DAL_OK);
    ck_assert_str_eq(u.scheme, "postgres");
    ck_assert_str_eq(u.body, "//app@db.example.com:5433/shop");
    ck_assert_ptr_eq(u.drv, &dal__pg_driver);
    ck_assert_int_eq(u.nopts, 2);
    want_opt(&u, "sslmode", "disable");
    want_opt(&u, "application_name", "a b");
    ck_assert_str_eq(u.redacted, "postgres://app@db.example.com:5433/shop"
                                 "?sslmode=disable&application_name=a%20b");
    ck_assert_int_eq(u.stmt_cache, DAL__STMT_CACHE_DEFAULT);
    dal__url_free(&u);

    ck_assert_int_eq(parse("postgresql://localhost/db", &u, err, sizeof err),
                     DAL_OK);
    ck_assert_str_eq(u.scheme, "postgresql");
    ck_assert_str_eq(u.body, "//localhost/db");
    ck_assert_ptr_eq(u.drv, &dal__pg_driver);
    dal__url_free(&u);

    ck_assert_int_eq(parse("postgresql:///db?host=/tmp", &u, err,
                           sizeof err),
                     DAL_OK);
    ck_assert_str_eq(u.body, "///db");
    want_opt(&u, "host", "/tmp");
    dal__url_free(&u);

    ck_assert_int_eq(parse("postgres://", &u, err, sizeof err), DAL_OK);
    ck_assert_str_eq(u.body, "//");
    dal__url_free(&u);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_url_multihost)
{
    char err[256];
    dal__url u;
    LEAK_START();

    ck_assert_int_eq(parse("postgres://u@h1:5432,h2:5433/db"
                           "?target_session_attrs=read-write",
                           &u, err, sizeof err),
                     DAL_OK);
    ck_assert_str_eq(u.scheme, "postgres");
    ck_assert_str_eq(u.body, "//u@h1:5432,h2:5433/db");
    ck_assert_int_eq(u.nopts, 1);
    want_opt(&u, "target_session_attrs", "read-write");
    ck_assert_str_eq(u.redacted, "postgres://u@h1:5432,h2:5433/db"
                                 "?target_session_attrs=read-write");
    dal__url_free(&u);

    ck_assert_int_eq(parse("postgresql://u:pw@[::1]:5432,h2/db", &u, err,
                           sizeof err),
                     DAL_OK);
    ck_assert_str_eq(u.body, "//u:pw@[::1]:5432,h2/db");
    ck_assert_str_eq(u.redacted, "postgresql://u:***@[::1]:5432,h2/db");
    dal__url_free(&u);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_url_redacted)
{
    char err[256];
    dal__url u;
    LEAK_START();

    ck_assert_int_eq(parse("postgres://bob:s3cr3t@h/db", &u, err,
                           sizeof err),
                     DAL_OK);
    /* The body keeps the password: the driver needs it. */
    ck_assert_str_eq(u.body, "//bob:s3cr3t@h/db");
    ck_assert_str_eq(u.redacted, "postgres://bob:***@h/db");
    dal__url_free(&u);

    ck_assert_int_eq(parse("postgres://bob@h/db?password=s3cr3t"
                           "&sslmode=disable",
                           &u, err, sizeof err),
                     DAL_OK);
    want_opt(&u, "password", "s3cr3t");
    ck_assert_str_eq(u.redacted,
                     "postgres://bob@h/db?password=***&sslmode=disable");
    dal__url_free(&u);

    ck_assert_int_eq(parse("postgres://bob:p%40ss@h/db?sslmode=disable"
                           "&password=s3cr3t",
                           &u, err, sizeof err),
                     DAL_OK);
    ck_assert_ptr_null(strstr(u.redacted, "p%40ss"));
    ck_assert_ptr_null(strstr(u.redacted, "s3cr3t"));
    ck_assert_str_eq(u.redacted, "postgres://bob:***@h/db?sslmode=disable"
                                 "&password=***");
    dal__url_free(&u);

    /* An empty password. */
    ck_assert_int_eq(parse("postgres://bob:@h/db", &u, err, sizeof err),
                     DAL_OK);
    ck_assert_ptr_null(strstr(u.redacted, "bob:@"));
    dal__url_free(&u);

    /* However the key of password= is spelled, its value is hidden. */
    ck_assert_int_eq(parse("postgres://bob@h/db?pass%77ord=s3cr3t", &u, err,
                           sizeof err),
                     DAL_OK);
    want_opt(&u, "password", "s3cr3t");
    ck_assert_msg(strstr(u.redacted, "s3cr3t") == NULL, "redacted \"%s\"",
                  u.redacted);
    dal__url_free(&u);

    /* No password: nothing to hide. */
    ck_assert_int_eq(parse("postgres://bob@h/db", &u, err, sizeof err),
                     DAL_OK);
    ck_assert_str_eq(u.redacted, "postgres://bob@h/db");
    dal__url_free(&u);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_url_unknown_scheme)
{
    static const char *const bad[] = {
        "mysql://u@h/db", "http://x", "sqlite3:x.db", "pg://h/db",
    };
    char err[256];
    dal__url u;
    int i, rc;
    LEAK_START();

    for (i = 0; i < ARRAY_LEN(bad); i++) {
        rc = parse(bad[i], &u, err, sizeof err);
        ck_assert_msg(rc == DAL_E_URL, "%s: rc %d", bad[i], rc);
        ck_assert_msg(strstr(err, "sqlite") && strstr(err, "postgres") &&
                          strstr(err, "postgresql"),
                      "%s: message \"%s\" does not list the schemes",
                      bad[i], err);
        dal__url_free(&u);
    }

    rc = parse("mysql://u@h/db", &u, err, sizeof err);
    ck_assert_msg(strstr(err, "mysql") != NULL,
                  "message \"%s\" does not name the scheme", err);
    dal__url_free(&u);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_url_malformed)
{
    static const char *const bad[] = {
        "", "x.db", ":memory:", "/abs/x.db", "://h", "sqlite", "1sqlite:x",
    };
    char err[256];
    dal__url u;
    int i, rc;
    LEAK_START();

    for (i = 0; i < ARRAY_LEN(bad); i++) {
        rc = parse(bad[i], &u, err, sizeof err);
        ck_assert_msg(rc == DAL_E_URL, "\"%s\": rc %d", bad[i], rc);
        ck_assert_msg(err[0] != '\0', "\"%s\": no message", bad[i]);
        dal__url_free(&u);
    }
    LEAK_CHECK();
}
END_TEST

/* Errors about a URL never show its password, whatever went wrong. */
START_TEST(test_url_err_no_password)
{
    static const char *const urls[] = {
        "mysql://bob:hunter2@h/db",
        "postgres://bob:hunter2@h/db?statement_cache=x",
        "postgres://bob@h/db?password=hunter2&statement_cache=-5",
        "postgres://bob:hunter2@h/db?x=%zz",
        "postgres://bob:hunter2@h/db?%zz=1",
        "postgres://bob:hunter2@h/db?=1",
        "postgres://bob:hunter2@h/db?statement_cache",
        "postgres://bob:hunter2@h/db%",
        "postgres://bob:hunter2%@h/db?statement_cache=q",
        "postgres://bob:hunter2%4@h/db?statement_cache=q",
        "hunter2://bob:hunter2@h/db",
        /* A password with an unencoded '/', '?' or '#' is a mistake
         * users make, and just when the error must not show it. */
        "postgres://bob:hunter2/x@h/db",
        "postgres://bob:x/hunter2@h/db",
        "postgres://bob:hunter2?x@h/db",
        "postgres://bob:hunter2#x@h/db",
    };
    char err[256];
    dal__url u;
    int i, rc;
    LEAK_START();

    for (i = 0; i < ARRAY_LEN(urls); i++) {
        const char *pw = "hunter2";

        rc = parse(urls[i], &u, err, sizeof err);
        if (rc == DAL_OK) {
            ck_assert_msg(strstr(u.redacted, pw) == NULL,
                          "%s: redacted \"%s\"", urls[i], u.redacted);
        } else {
            ck_assert_msg(rc == DAL_E_URL, "%s: rc %d", urls[i], rc);
            /* The last case's scheme happens to be the password. */
            if (strncmp(urls[i], "hunter2", 7) != 0)
                ck_assert_msg(strstr(err, pw) == NULL, "%s: message \"%s\"",
                              urls[i], err);
        }
        dal__url_free(&u);
    }
    LEAK_CHECK();
}
END_TEST

START_TEST(test_url_free_empty)
{
    dal__url u;

    memset(&u, 0, sizeof u);
    dal__url_free(&u);
    dal__url_free(&u);
}
END_TEST

START_TEST(test_url_helpers)
{
    dal__kv kv = {NULL, NULL, 0};
    char err[128], *s;
    dal__url u;
    dal__kv *p;
    long n;
    int b;
    LEAK_START();

    s = dal__url_decode("a%20b+c%2Bd", 11, 1);
    ck_assert_str_eq(s, "a b c+d");
    dal__free(s);
    s = dal__url_decode("a%20b+c", 7, 0);
    ck_assert_str_eq(s, "a b+c");
    dal__free(s);
    s = dal__url_decode("abc%41zzz", 6, 0);
    ck_assert_str_eq(s, "abcA");
    dal__free(s);

    ck_assert_int_eq(parse("sqlite:x.db?busy_timeout=250&fk=off", &u, err,
                           sizeof err),
                     DAL_OK);
    ck_assert_ptr_null(dal__url_opt(&u, "nope"));
    p = dal__url_opt(&u, "busy_timeout");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_ne(p->used, 0);
    ck_assert_int_eq(dal__url_opt_int(p, 0, 1000, &n, err, sizeof err),
                     DAL_OK);
    ck_assert_int_eq(n, 250);
    ck_assert_int_eq(dal__url_opt_int(p, 0, 100, &n, err, sizeof err),
                     DAL_E_URL);
    ck_assert_ptr_nonnull(strstr(err, "busy_timeout"));
    p = dal__url_opt(&u, "fk");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(dal__url_opt_bool(p, &b, err, sizeof err), DAL_OK);
    ck_assert_int_eq(b, 0);
    dal__url_free(&u);

    kv.key = "k";
    kv.val = "yes";
    ck_assert_int_eq(dal__url_opt_bool(&kv, &b, err, sizeof err), DAL_OK);
    ck_assert_int_eq(b, 1);
    kv.val = "maybe";
    ck_assert_int_eq(dal__url_opt_bool(&kv, &b, err, sizeof err),
                     DAL_E_URL);
    kv.val = "12abc";
    ck_assert_int_eq(dal__url_opt_int(&kv, 0, 100, &n, err, sizeof err),
                     DAL_E_URL);
    LEAK_CHECK();
}
END_TEST

START_TEST(test_scrub)
{
    char msg[64];

    strcpy(msg, "password pw123 wrong for pw123@h");
    dal__scrub(msg, sizeof msg, "pw123");
    ck_assert_str_eq(msg, "password *** wrong for ***@h");

    /* Nothing to hide. */
    strcpy(msg, "no secret here");
    dal__scrub(msg, sizeof msg, "");
    ck_assert_str_eq(msg, "no secret here");
    dal__scrub(msg, sizeof msg, NULL);
    ck_assert_str_eq(msg, "no secret here");

    /* A secret shorter than *** still fits within cap. */
    memset(msg, 0, sizeof msg);
    strcpy(msg, "ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab");
    dal__scrub(msg, sizeof msg, "ab");
    ck_assert_uint_lt(strlen(msg), sizeof msg);
    ck_assert_ptr_null(strstr(msg, "ab"));
}
END_TEST

/* ---- UTF-8 and number helpers -------------------------------------- */

struct utf8_case {
    const char *s;
    size_t len;
    int valid;
};

#define U8(lit, v) {lit, sizeof(lit) - 1, v}

static const struct utf8_case utf8_cases[] = {
    U8("", 1),
    U8("plain ascii", 1),
    U8("caf\xc3\xa9", 1),               /* U+00E9 */
    U8("\xc2\x80", 1),                  /* U+0080, smallest 2-byte */
    U8("\xdf\xbf", 1),                  /* U+07FF */
    U8("\xe0\xa0\x80", 1),              /* U+0800, smallest 3-byte */
    U8("\xe2\x82\xac", 1),              /* U+20AC euro */
    U8("\xed\x9f\xbf", 1),              /* U+D7FF, below surrogates */
    U8("\xee\x80\x80", 1),              /* U+E000, above surrogates */
    U8("\xef\xbf\xbf", 1),              /* U+FFFF */
    U8("\xf0\x90\x80\x80", 1),          /* U+10000, smallest 4-byte */
    U8("\xf0\x9f\x98\x80", 1),          /* U+1F600 */
    U8("\xf4\x8f\xbf\xbf", 1),          /* U+10FFFF, the last */
    U8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", 1),
    /* Overlong forms. */
    U8("\xc0\x80", 0),
    U8("\xc0\xaf", 0),
    U8("\xc1\xbf", 0),
    U8("\xe0\x80\x80", 0),
    U8("\xe0\x9f\xbf", 0),
    U8("\xf0\x80\x80\x80", 0),
    U8("\xf0\x8f\xbf\xbf", 0),
    /* UTF-16 surrogates. */
    U8("\xed\xa0\x80", 0),              /* U+D800 */
    U8("\xed\xbf\xbf", 0),              /* U+DFFF */
    U8("\xed\xa0\xbd\xed\xb8\x80", 0),  /* CESU-8 pair */
    /* Beyond U+10FFFF. */
    U8("\xf4\x90\x80\x80", 0),
    U8("\xf5\x80\x80\x80", 0),
    U8("\xf7\xbf\xbf\xbf", 0),
    U8("\xf8\x88\x80\x80\x80", 0),
    U8("\xfc\x84\x80\x80\x80\x80", 0),
    U8("\xfe", 0),
    U8("\xff", 0),
    /* Truncated sequences. */
    U8("\xc3", 0),
    U8("abc\xc3", 0),
    U8("\xe2\x82", 0),
    U8("\xe2", 0),
    U8("\xf0\x9f\x98", 0),
    U8("\xf0\x9f", 0),
    U8("\xe2\x82z", 0),
    U8("\xf0\x9f\x98z", 0),
    /* Stray continuation bytes. */
    U8("\x80", 0),
    U8("a\xbf", 0),
    U8("\xc3\xa9\xa9", 0),
};

START_TEST(test_utf8)
{
    const struct utf8_case *c = &utf8_cases[_i];
    /* An exact-size copy, no terminator: the length is the limit. */
    char *s = malloc(c->len ? c->len : 1);

    ck_assert_ptr_nonnull(s);
    memcpy(s, c->s, c->len);
    ck_assert_msg(!!dal__utf8_valid(s, c->len) == c->valid,
                  "case %d: utf8_valid != %d", _i, c->valid);
    free(s);
}
END_TEST

/* A length that cuts a valid sequence short makes it invalid. */
START_TEST(test_utf8_len_cut)
{
    static const char s[] = "\xe2\x82\xac\xf0\x9f\x98\x80";

    ck_assert_int_ne(dal__utf8_valid(s, 7), 0);
    ck_assert_int_ne(dal__utf8_valid(s, 3), 0);
    ck_assert_int_eq(dal__utf8_valid(s, 2), 0);
    ck_assert_int_eq(dal__utf8_valid(s, 5), 0);
    ck_assert_int_eq(dal__utf8_valid(s, 6), 0);
    ck_assert_int_ne(dal__utf8_valid(s, 0), 0);
}
END_TEST

START_TEST(test_text_to_int64)
{
    ck_assert_int_eq(dal__text_to_int64("0", 1), 0);
    ck_assert_int_eq(dal__text_to_int64("42", 2), 42);
    ck_assert_int_eq(dal__text_to_int64("-17", 3), -17);
    ck_assert_int_eq(dal__text_to_int64("+5", 2), 5);
    ck_assert_int_eq(dal__text_to_int64("007", 3), 7);
    ck_assert_int_eq(dal__text_to_int64("9223372036854775807", 19),
                     INT64_MAX);
    ck_assert_int_eq(dal__text_to_int64("-9223372036854775808", 20),
                     INT64_MIN);
    /* As SQLite converts: leading blanks skipped, trailing text ignored,
     * reals truncated toward zero, out of range saturated. */
    ck_assert_int_eq(dal__text_to_int64(" 42", 3), 42);
    ck_assert_int_eq(dal__text_to_int64("12abc", 5), 12);
    ck_assert_int_eq(dal__text_to_int64("3.7", 3), 3);
    ck_assert_int_eq(dal__text_to_int64("-3.7", 4), -3);
    ck_assert_int_eq(dal__text_to_int64("99999999999999999999", 20),
                     INT64_MAX);
    ck_assert_int_eq(dal__text_to_int64("-99999999999999999999", 21),
                     INT64_MIN);
    /* The length is the limit, not the NUL. */
    ck_assert_int_eq(dal__text_to_int64("1234", 2), 12);
    ck_assert_int_eq(dal__text_to_int64("", 0), 0);
    ck_assert_int_eq(dal__text_to_int64("abc", 3), 0);
}
END_TEST

START_TEST(test_text_to_double)
{
    ck_assert_double_eq(dal__text_to_double("0", 1), 0.0);
    ck_assert_double_eq(dal__text_to_double("1.5", 3), 1.5);
    ck_assert_double_eq(dal__text_to_double("-2.25e2", 7), -225.0);
    ck_assert_double_eq(dal__text_to_double("42", 2), 42.0);
    ck_assert_double_eq(dal__text_to_double(".5", 2), 0.5);
    ck_assert_double_eq_tol(dal__text_to_double("1e-3", 4), 0.001, 1e-15);
    ck_assert_double_eq(dal__text_to_double(" 1.5", 4), 1.5);
    ck_assert_double_eq(dal__text_to_double("1.25xyz", 7), 1.25);
    ck_assert_double_eq(dal__text_to_double("1.25xyz", 4), 1.25);
    ck_assert_double_eq_tol(dal__text_to_double("3.75", 3), 3.7, 1e-12);
    ck_assert_double_eq(dal__text_to_double("", 0), 0.0);
    ck_assert_double_eq(dal__text_to_double("abc", 3), 0.0);
}
END_TEST

/* ---- suite --------------------------------------------------------- */

static Suite *unit_suite(void)
{
    Suite *s = suite_create("unit");
    TCase *tc;

    tc = tcase_create("sql_translate");
    tcase_add_loop_test(tc, test_translate_q, 0, ARRAY_LEN(tr_cases));
    tcase_add_loop_test(tc, test_translate_d, 0, ARRAY_LEN(tr_cases));
    tcase_add_loop_test(tc, test_translate_dialect, 0,
                        ARRAY_LEN(tr_dialect_cases));
    tcase_add_loop_test(tc, test_translate_misuse, 0, ARRAY_LEN(tr_misuse));
    tcase_add_test(tc, test_translate_too_many);
    tcase_add_test(tc, test_translate_short_err);
    tcase_add_test(tc, test_translate_long);
    tcase_add_test(tc, test_sqltext_free_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("sql_split");
    tcase_add_loop_test(tc, test_stmt_end, 0, ARRAY_LEN(end_cases));
    tcase_add_test(tc, test_stmt_walk);
    tcase_add_loop_test(tc, test_is_blank, 0, ARRAY_LEN(blank_cases));
    tcase_add_test(tc, test_is_blank_unterminated);
    suite_add_tcase(s, tc);

    tc = tcase_create("url");
    tcase_add_test(tc, test_url_sqlite_rel);
    tcase_add_test(tc, test_url_sqlite_abs);
    tcase_add_test(tc, test_url_sqlite_memory);
    tcase_add_test(tc, test_url_options);
    tcase_add_test(tc, test_url_stmt_cache);
    tcase_add_test(tc, test_url_postgres);
    tcase_add_test(tc, test_url_multihost);
    tcase_add_test(tc, test_url_redacted);
    tcase_add_test(tc, test_url_unknown_scheme);
    tcase_add_test(tc, test_url_malformed);
    tcase_add_test(tc, test_url_err_no_password);
    tcase_add_test(tc, test_url_free_empty);
    tcase_add_test(tc, test_url_helpers);
    tcase_add_test(tc, test_scrub);
    suite_add_tcase(s, tc);

    tc = tcase_create("text");
    tcase_add_loop_test(tc, test_utf8, 0, ARRAY_LEN(utf8_cases));
    tcase_add_test(tc, test_utf8_len_cut);
    tcase_add_test(tc, test_text_to_int64);
    tcase_add_test(tc, test_text_to_double);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    if (dal_set_allocator(count_malloc, count_realloc, count_free)
        != DAL_OK) {
        fprintf(stderr, "unit: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    sr = srunner_create(unit_suite());
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
