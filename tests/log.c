/*
 * tests/log.c - structured logging (include/dal/log.h): JSON lines,
 * levels per category, the slow-statement threshold, parameter masking
 * and the password test of issue 8. One set of tests runs on every
 * backend:
 *   log[sqlite-mem]   sqlite::memory:
 *   log[sqlite-file]  sqlite:///tmp/... (a fresh file per test)
 *   log[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 *
 * Every line the log writes is checked by a small JSON parser below
 * (balanced structure, string escapes, no raw control characters, valid
 * numbers and literals, one object per line) and its top-level fields
 * are read back from the parse, not with strstr.
 *
 * The password test (PostgreSQL) opens the server with a URL holding a
 * distinctive password (the throwaway cluster trusts local users, so it
 * connects anyway), logs everything at debug, runs statements, a failing
 * one and a connection to a wrong port, and asserts the password is in
 * no log line, no error message and not in the output of `dal ping`.
 * On SQLite, where there is no password, a secret bound as a parameter
 * must not reach the log unless DAL_LOG_PARAMS is on.
 *
 * Run:  tests/pg/with-pg.sh build/tests/log
 * CK_FORK=no runs in one process (valgrind).
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dal.h>

#include "dal-int.h"

enum backend { BE_SQLITE_MEM, BE_SQLITE_FILE, BE_POSTGRES };

static const char *test_url;
static const char *pg_url;
static enum backend test_backend;
static long main_pid;
static char file_path[128];
static char file_url[160];

#define PASSWORD "Zq9xPw-hunter2-7731"
#define SECRET_PARAM "s3cr3t-Param-Value-9931"

/* ---- counting allocator (harness.h) --------------------------------- */

#include "harness.h"

/* ---- captured lines -------------------------------------------------- */

#define MAX_LINES 512

static char *lines[MAX_LINES];
static int nlines;

static void sink(const char *line, size_t len, void *data)
{
    ck_assert_ptr_eq(data, &nlines);
    ck_assert_uint_eq(strlen(line), len);
    ck_assert_msg(memchr(line, '\n', len) == NULL, "newline in a line");
    if (nlines < MAX_LINES)
        lines[nlines++] = strdup(line);
}

static void clear_lines(void)
{
    int i;

    for (i = 0; i < nlines; i++)
        free(lines[i]);
    nlines = 0;
}

/* ---- a JSON checker -------------------------------------------------- */

/* The top-level fields of one line: the key, and the value as text
 * (strings unescaped, other values as written). */
#define MAX_FIELDS 32

typedef struct field {
    char key[32];
    char val[4096];
    int is_str;
} field;

typedef struct parsed {
    field f[MAX_FIELDS];
    int n;
} parsed;

typedef struct jp {
    const char *p;
    const char *err;
} jp;

static void ws(jp *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

static int hexdig(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}

/* A string; its unescaped text (ASCII escapes only) into out. */
static int jstring(jp *j, char *out, size_t cap)
{
    size_t n = 0;

    if (*j->p != '"')
        return j->err = "expected a string", 0;
    j->p++;
    for (;;) {
        unsigned char c = (unsigned char)*j->p;
        char ch;

        if (c == 0)
            return j->err = "unterminated string", 0;
        if (c < 0x20)
            return j->err = "raw control character in a string", 0;
        j->p++;
        if (c == '"')
            break;
        ch = (char)c;
        if (c == '\\') {
            c = (unsigned char)*j->p++;
            switch (c) {
            case '"': ch = '"'; break;
            case '\\': ch = '\\'; break;
            case '/': ch = '/'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'u':
                if (!hexdig(j->p[0]) || !hexdig(j->p[1]) || !hexdig(j->p[2])
                    || !hexdig(j->p[3]))
                    return j->err = "bad \\u escape", 0;
                {
                    char h[5] = {j->p[0], j->p[1], j->p[2], j->p[3], 0};

                    ch = (char)strtol(h, NULL, 16);
                }
                j->p += 4;
                break;
            default:
                return j->err = "bad escape", 0;
            }
        }
        if (out && n + 1 < cap)
            out[n++] = ch;
    }
    if (out)
        out[n] = '\0';
    return 1;
}

static int jvalue(jp *j, int depth);

static int jnumber(jp *j)
{
    const char *s = j->p;

    if (*j->p == '-')
        j->p++;
    if (*j->p == '0')
        j->p++;
    else if (*j->p >= '1' && *j->p <= '9')
        while (*j->p >= '0' && *j->p <= '9')
            j->p++;
    else
        return j->err = "bad number", 0;
    if (*j->p == '.') {
        j->p++;
        if (!(*j->p >= '0' && *j->p <= '9'))
            return j->err = "bad fraction", 0;
        while (*j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (*j->p == 'e' || *j->p == 'E') {
        j->p++;
        if (*j->p == '+' || *j->p == '-')
            j->p++;
        if (!(*j->p >= '0' && *j->p <= '9'))
            return j->err = "bad exponent", 0;
        while (*j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    return j->p > s;
}

static int jvalue(jp *j, int depth)
{
    ws(j);
    if (depth > 16)
        return j->err = "too deep", 0;
    switch (*j->p) {
    case '"':
        return jstring(j, NULL, 0);
    case '{':
        j->p++;
        ws(j);
        if (*j->p == '}')
            return j->p++, 1;
        for (;;) {
            ws(j);
            if (!jstring(j, NULL, 0))
                return 0;
            ws(j);
            if (*j->p++ != ':')
                return j->err = "expected ':'", 0;
            if (!jvalue(j, depth + 1))
                return 0;
            ws(j);
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p++ == '}')
                return 1;
            return j->err = "expected ',' or '}'", 0;
        }
    case '[':
        j->p++;
        ws(j);
        if (*j->p == ']')
            return j->p++, 1;
        for (;;) {
            if (!jvalue(j, depth + 1))
                return 0;
            ws(j);
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p++ == ']')
                return 1;
            return j->err = "expected ',' or ']'", 0;
        }
    case 't':
        if (strncmp(j->p, "true", 4))
            return j->err = "bad literal", 0;
        return j->p += 4, 1;
    case 'f':
        if (strncmp(j->p, "false", 5))
            return j->err = "bad literal", 0;
        return j->p += 5, 1;
    case 'n':
        if (strncmp(j->p, "null", 4))
            return j->err = "bad literal", 0;
        return j->p += 4, 1;
    default:
        return jnumber(j);
    }
}

/* Parse line as one JSON object with nothing after it; fill out with its
 * top-level fields. Fails the test with the reason otherwise. */
static void parse_line(const char *line, parsed *out)
{
    jp j = {line, NULL};

    out->n = 0;
    ws(&j);
    ck_assert_msg(*j.p == '{', "not an object: %s", line);
    j.p++;
    for (;;) {
        field *f;
        const char *v;

        ws(&j);
        ck_assert_msg(out->n < MAX_FIELDS, "too many fields: %s", line);
        f = &out->f[out->n++];
        ck_assert_msg(jstring(&j, f->key, sizeof f->key), "%s in %s",
                      j.err, line);
        ws(&j);
        ck_assert_msg(*j.p++ == ':', "expected ':' in %s", line);
        ws(&j);
        v = j.p;
        f->is_str = *v == '"';
        if (f->is_str) {
            ck_assert_msg(jstring(&j, f->val, sizeof f->val), "%s in %s",
                          j.err, line);
        } else {
            ck_assert_msg(jvalue(&j, 0), "%s in %s", j.err ? j.err : "?",
                          line);
            ck_assert_msg((size_t)(j.p - v) < sizeof f->val, "long value");
            memcpy(f->val, v, (size_t)(j.p - v));
            f->val[j.p - v] = '\0';
        }
        ws(&j);
        if (*j.p == ',') {
            j.p++;
            continue;
        }
        ck_assert_msg(*j.p == '}', "expected ',' or '}' in %s", line);
        j.p++;
        break;
    }
    ws(&j);
    ck_assert_msg(*j.p == '\0', "text after the object: %s", line);
}

static const field *get(const parsed *p, const char *key)
{
    int i;

    for (i = 0; i < p->n; i++)
        if (!strcmp(p->f[i].key, key))
            return &p->f[i];
    return NULL;
}

static const char *sget(const parsed *p, const char *key)
{
    const field *f = get(p, key);

    return f ? f->val : NULL;
}

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

/* "2026-11-21T10:17:45.123456Z" */
static void ck_ts(const char *ts)
{
    int i;

    ck_assert_msg(ts && strlen(ts) == 27, "ts %s", S(ts));
    for (i = 0; i < 27; i++) {
        char c = ts[i];

        if (i == 4 || i == 7)
            ck_assert_int_eq(c, '-');
        else if (i == 10)
            ck_assert_int_eq(c, 'T');
        else if (i == 13 || i == 16)
            ck_assert_int_eq(c, ':');
        else if (i == 19)
            ck_assert_int_eq(c, '.');
        else if (i == 26)
            ck_assert_int_eq(c, 'Z');
        else
            ck_assert_msg(c >= '0' && c <= '9', "ts %s", ts);
    }
}

/* Every line is valid, with the fields every line has. */
static void ck_all_lines(void)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    static const char *const cats[] = {"statement", "tx", "connect",
                                       "migrate", "pool"};
    parsed p;
    int i, k, ok;

    for (i = 0; i < nlines; i++) {
        parse_line(lines[i], &p);
        ck_assert_msg(p.n > 0 && !strcmp(p.f[0].key, "ts"), "%s", lines[i]);
        ck_ts(sget(&p, "ts"));
        for (ok = 0, k = 0; k < 4; k++)
            ok |= sget(&p, "level") && !strcmp(sget(&p, "level"), levels[k]);
        ck_assert_msg(ok, "level in %s", lines[i]);
        for (ok = 0, k = 0; k < 5; k++)
            ok |= sget(&p, "category")
                  && !strcmp(sget(&p, "category"), cats[k]);
        ck_assert_msg(ok, "category in %s", lines[i]);
        ck_assert_ptr_nonnull(sget(&p, "event"));
        ck_assert_str_eq(S(sget(&p, "backend")),
                         test_backend == BE_POSTGRES ? "postgres" : "sqlite");
        ck_assert_str_eq(S(sget(&p, "role")), "primary");
    }
}

/* The index of the first line from `from` whose field key is val. */
static int find_line(int from, const char *key, const char *val,
                     parsed *p)
{
    int i;

    for (i = from; i < nlines; i++) {
        parse_line(lines[i], p);
        if (sget(p, key) && !strcmp(sget(p, key), val))
            return i;
    }
    return -1;
}

static int count_lines(const char *key, const char *val)
{
    parsed p;
    int i, n = 0;

    for (i = 0; i < nlines; i++) {
        parse_line(lines[i], &p);
        n += sget(&p, key) && !strcmp(sget(&p, key), val);
    }
    return n;
}

/* ---- fixture --------------------------------------------------------- */

static dal_db *db;
static dal_observer *obs;
static dal_log *lg;

#define CK_RC(expr, want) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "%s -> %d (%s), want %d: %s", #expr, \
                  rc_, dal_errstr(rc_), (want), \
                  db ? S(dal_errmsg(db)) : "(no db)"); \
} while (0)
#define CK_OK(expr) CK_RC(expr, DAL_OK)
#define EXEC(sql) CK_OK(dal_exec(db, (sql)))

static void remove_db_files(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[200];
    int i;

    for (i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static void sweep_temp_files(void)
{
    char prefix[64], path[512];
    struct dirent *e;
    DIR *d = opendir("/tmp");

    if (d == NULL)
        return;
    snprintf(prefix, sizeof prefix, "dal-log-%ld-", main_pid);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            unlink(path);
        }
    closedir(d);
}

static void setup(void)
{
    base_blocks = live_blocks;
    fail_at = 0;
    nlines = 0;
    db = NULL;
    obs = NULL;
    lg = NULL;
    if (test_backend == BE_SQLITE_FILE) {
        int fd;

        snprintf(file_path, sizeof file_path, "/tmp/dal-log-%ld-XXXXXX",
                 main_pid);
        fd = mkstemp(file_path);
        ck_assert_int_ge(fd, 0);
        close(fd);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
        test_url = file_url;
    }
}

/* A log to the capturing sink with flags, every category at level, on
 * a fresh connection. */
static void open_logged(unsigned flags, dal_log_level level)
{
    int i, rc;

    CK_OK(dal_observer_new(&obs));
    CK_OK(dal_log_new(NULL, sink, &nlines, flags, &lg));
    for (i = 0; i < DAL_LOG_NCATEGORIES; i++)
        CK_OK(dal_log_set_level(lg, (dal_log_category)i, level));
    CK_OK(dal_log_observe(lg, obs));
    rc = dal_open_observed(test_url, obs, &db);
    ck_assert_msg(rc == DAL_OK, "open %s: %s", test_url,
                  db ? S(dal_errmsg(db)) : "?");
    if (test_backend == BE_POSTGRES)
        EXEC("SET client_min_messages = warning");
}

static void close_all(void)
{
    dal_close(db);
    db = NULL;
    if (obs)
        CK_OK(dal_observer_free(obs));
    obs = NULL;
    if (lg)
        CK_OK(dal_log_free(lg));
    lg = NULL;
}

static void teardown(void)
{
    close_all();
    clear_lines();
    if (test_backend == BE_SQLITE_FILE)
        remove_db_files(file_path);
    ck_assert_msg(live_blocks == base_blocks,
                  "libdal holds %ld blocks after the test, %ld before",
                  live_blocks, base_blocks);
}

static void drop(const char *t)
{
    char sql[128];

    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", t);
    EXEC(sql);
}

/*
 * A statement that fails while it runs, on both backends. (A statement
 * that fails while being prepared, such as a syntax error on SQLite,
 * never reaches the observer: see dal/log.h.)
 */
static void make_dup(void)
{
    drop("lg_dup");
    EXEC("CREATE TABLE lg_dup (id INTEGER PRIMARY KEY)");
    EXEC("INSERT INTO lg_dup VALUES (1)");
}

static void fail_dup(void)
{
    CK_RC(dal_exec(db, "INSERT INTO lg_dup VALUES (1)"), DAL_E_CONSTRAINT);
}

/* ---- tests ----------------------------------------------------------- */

START_TEST(t_statement_fields)
{
    dal_value v[2] = {DAL_V_INT64(7), DAL_V_TEXT("x")};
    parsed p;
    int i;

    open_logged(0, DAL_LOG_DEBUG);
    drop("lg_fields");
    EXEC("CREATE TABLE lg_fields (id INTEGER, name TEXT)");
    clear_lines();
    CK_OK(dal_exec_params(db, "INSERT INTO lg_fields VALUES (?, ?)", v, 2));
    v[0].u.i = 8;
    CK_OK(dal_exec_params(db, "INSERT INTO lg_fields VALUES (?, ?)", v, 2));
    {
        int64_t n = 0;

        CK_OK(dal_query_int64(db, "SELECT count(*) FROM lg_fields", NULL, 0,
                              &n));
        ck_assert_int_eq(n, 2);
    }
    EXEC("UPDATE lg_fields SET name = 'y'");
    ck_all_lines();
    ck_assert_int_eq(nlines, 4);
    for (i = 0; i < 2; i++) {
        parse_line(lines[i], &p);
        ck_assert_str_eq(S(sget(&p, "level")), "debug");
        ck_assert_str_eq(S(sget(&p, "category")), "statement");
        ck_assert_str_eq(S(sget(&p, "event")), "statement");
        ck_assert_str_eq(S(sget(&p, "sql")),
                         "INSERT INTO lg_fields VALUES (?, ?)");
        ck_assert_str_eq(S(sget(&p, "kind")), "insert");
        ck_assert_str_eq(S(sget(&p, "nparams")), "2");
        ck_assert_str_eq(S(sget(&p, "rows")), "1");
        ck_assert_ptr_nonnull(get(&p, "duration_ms"));
        ck_assert(!get(&p, "duration_ms")->is_str);
        ck_assert_ptr_null(get(&p, "params"));
        ck_assert_ptr_null(get(&p, "rc"));
        ck_assert_ptr_null(get(&p, "message"));
        ck_assert_ptr_null(get(&p, "tenant"));
    }
    parse_line(lines[2], &p);
    ck_assert_str_eq(S(sget(&p, "kind")), "select");
    ck_assert_str_eq(S(sget(&p, "rows")), "1");
    parse_line(lines[3], &p);
    ck_assert_str_eq(S(sget(&p, "kind")), "update");
    ck_assert_str_eq(S(sget(&p, "rows")), "2");
    drop("lg_fields");
}
END_TEST

START_TEST(t_error_line)
{
    parsed p;
    int i;

    open_logged(0, DAL_LOG_INFO);
    clear_lines();
    make_dup();
    ck_assert_int_eq(nlines, 0); /* debug, not logged at info */
    fail_dup();
    ck_all_lines();
    ck_assert_int_eq(nlines, 1);
    parse_line(lines[0], &p);
    ck_assert_str_eq(S(sget(&p, "level")), "error");
    ck_assert_str_eq(S(sget(&p, "category")), "statement");
    ck_assert_str_eq(S(sget(&p, "sql")), "INSERT INTO lg_dup VALUES (1)");
    ck_assert_str_eq(S(sget(&p, "rc")), "DAL_E_CONSTRAINT");
    ck_assert_str_eq(S(sget(&p, "sqlstate")), "23505");
    ck_assert_str_eq(S(sget(&p, "message")), dal_errmsg(db));
    ck_assert_ptr_null(get(&p, "rows"));
    /* Field order: the promised one. */
    {
        static const char *const order[] = {
            "ts", "level", "category", "event", "backend", "role", "sql",
            "kind", "nparams", "duration_ms", "rc", "sqlstate", "message",
        };

        ck_assert_int_eq(p.n, 13);
        for (i = 0; i < 13; i++)
            ck_assert_str_eq(p.f[i].key, order[i]);
    }
    /* An unknown table: SQLite fails it when preparing, PostgreSQL when
     * running it; one error line on both. */
    clear_lines();
    CK_RC(dal_exec(db, "SELECT * FROM lg_no_such_table"), DAL_E_SYNTAX);
    ck_all_lines();
    ck_assert_int_eq(nlines, 1);
    parse_line(lines[0], &p);
    ck_assert_str_eq(S(sget(&p, "level")), "error");
    ck_assert_str_eq(S(sget(&p, "sql")), "SELECT * FROM lg_no_such_table");
    ck_assert_str_eq(S(sget(&p, "sqlstate")), "42P01");
}
END_TEST

START_TEST(t_categories)
{
    parsed p;
    int i;

    open_logged(0, DAL_LOG_DEBUG);
    /* The connect line came at open. */
    ck_assert_int_ge(nlines, 1);
    i = find_line(0, "event", "connect", &p);
    ck_assert_int_ge(i, 0);
    ck_assert_str_eq(S(sget(&p, "level")), "info");
    ck_assert_str_eq(S(sget(&p, "category")), "connect");
    ck_assert_ptr_nonnull(sget(&p, "url"));
    ck_assert_ptr_nonnull(strstr(sget(&p, "url"),
                                 test_backend == BE_POSTGRES ? "postgres"
                                                             : "sqlite:"));
    clear_lines();
    CK_OK(dal_begin(db, 0));
    EXEC("SELECT 1");
    CK_OK(dal_commit(db));
    CK_OK(dal_begin(db, 0));
    CK_OK(dal_rollback(db));
    ck_all_lines();
    ck_assert_int_eq(count_lines("category", "tx"), 4);
    i = find_line(0, "event", "begin", &p);
    ck_assert_int_ge(i, 0);
    ck_assert_str_eq(S(sget(&p, "level")), "debug");
    ck_assert_str_eq(S(sget(&p, "tx_depth")), "1");
    i = find_line(0, "event", "commit", &p);
    ck_assert_int_ge(i, 0);
    ck_assert_str_eq(S(sget(&p, "level")), "debug");
    ck_assert_ptr_nonnull(get(&p, "duration_ms"));
    i = find_line(0, "event", "rollback", &p);
    ck_assert_int_ge(i, 0);
    ck_assert_str_eq(S(sget(&p, "level")), "info");
    close_all();
    clear_lines();

    /* tx off, statements at warn, connect at info: only connect and
     * disconnect lines for the same work. */
    CK_OK(dal_observer_new(&obs));
    CK_OK(dal_log_new(NULL, sink, &nlines, 0, &lg));
    CK_OK(dal_log_set_level(lg, DAL_LOG_TX, DAL_LOG_OFF));
    CK_OK(dal_log_set_level(lg, DAL_LOG_STATEMENT, DAL_LOG_WARN));
    CK_OK(dal_log_set_level(lg, DAL_LOG_POOL, DAL_LOG_DEBUG));
    CK_OK(dal_log_observe(lg, obs));
    CK_OK(dal_open_observed(test_url, obs, &db));
    CK_OK(dal_begin(db, 0));
    EXEC("SELECT 1");
    CK_OK(dal_commit(db));
    CK_OK(dal_begin(db, 0));
    CK_OK(dal_rollback(db));
    dal_close(db);
    db = NULL;
    ck_all_lines();
    ck_assert_int_eq(nlines, 2);
    ck_assert_int_eq(count_lines("event", "connect"), 1);
    ck_assert_int_eq(count_lines("event", "disconnect"), 1);
    close_all();
    clear_lines();

    /* Connect off: a failed statement is still an error line. */
    CK_OK(dal_observer_new(&obs));
    CK_OK(dal_log_new(NULL, sink, &nlines, 0, &lg));
    CK_OK(dal_log_set_level(lg, DAL_LOG_CONNECT, DAL_LOG_OFF));
    CK_OK(dal_log_observe(lg, obs));
    CK_OK(dal_open_observed(test_url, obs, &db));
    make_dup();
    fail_dup();
    ck_assert_int_eq(nlines, 1);
    ck_all_lines();
    ck_assert_int_eq(count_lines("level", "error"), 1);
}
END_TEST

START_TEST(t_migrate_category)
{
    parsed p;

    open_logged(0, DAL_LOG_INFO);
    make_dup();
    clear_lines();
    /* What the migration engine does around its statements
     * (lib/migrate.c): the origin label. */
    db->obs_origin = "migrate";
    EXEC("SELECT 1");
    fail_dup();
    db->obs_origin = NULL;
    EXEC("SELECT 2");
    ck_all_lines();
    ck_assert_int_eq(nlines, 2);
    parse_line(lines[0], &p);
    ck_assert_str_eq(S(sget(&p, "category")), "migrate");
    ck_assert_str_eq(S(sget(&p, "level")), "info");
    ck_assert_str_eq(S(sget(&p, "sql")), "SELECT 1");
    parse_line(lines[1], &p);
    ck_assert_str_eq(S(sget(&p, "category")), "migrate");
    ck_assert_str_eq(S(sget(&p, "level")), "error");
    close_all();
    clear_lines();

    /* migrate off, statements at debug. */
    CK_OK(dal_observer_new(&obs));
    CK_OK(dal_log_new(NULL, sink, &nlines, 0, &lg));
    CK_OK(dal_log_set_level(lg, DAL_LOG_MIGRATE, DAL_LOG_OFF));
    CK_OK(dal_log_set_level(lg, DAL_LOG_STATEMENT, DAL_LOG_DEBUG));
    CK_OK(dal_log_set_level(lg, DAL_LOG_CONNECT, DAL_LOG_OFF));
    CK_OK(dal_log_observe(lg, obs));
    CK_OK(dal_open_observed(test_url, obs, &db));
    db->obs_origin = "migrate";
    EXEC("SELECT 1");
    db->obs_origin = NULL;
    EXEC("SELECT 2");
    ck_all_lines();
    ck_assert_int_eq(nlines, 1);
    parse_line(lines[0], &p);
    ck_assert_str_eq(S(sget(&p, "sql")), "SELECT 2");
}
END_TEST

START_TEST(t_slow)
{
    parsed p;

    /* Threshold 0: every statement is "slow" (no timing is assumed). */
    CK_OK(dal_observer_new(&obs));
    CK_OK(dal_log_new(NULL, sink, &nlines, 0, &lg));
    CK_OK(dal_log_set_level(lg, DAL_LOG_CONNECT, DAL_LOG_OFF));
    CK_OK(dal_log_set_slow(lg, 0));
    CK_OK(dal_log_observe(lg, obs));
    CK_OK(dal_open_observed(test_url, obs, &db));
    make_dup();
    clear_lines();
    EXEC("SELECT 1");
    fail_dup();
    ck_all_lines();
    ck_assert_int_eq(nlines, 2);
    parse_line(lines[0], &p);
    ck_assert_str_eq(S(sget(&p, "level")), "warn");
    ck_assert_str_eq(S(sget(&p, "slow")), "true");
    ck_assert(!get(&p, "slow")->is_str);
    /* A failure is an error, slow or not. */
    parse_line(lines[1], &p);
    ck_assert_str_eq(S(sget(&p, "level")), "error");
    close_all();
    clear_lines();

    /* A threshold no statement reaches: nothing at info. */
    CK_OK(dal_observer_new(&obs));
    CK_OK(dal_log_new(NULL, sink, &nlines, 0, &lg));
    CK_OK(dal_log_set_level(lg, DAL_LOG_CONNECT, DAL_LOG_OFF));
    CK_OK(dal_log_set_slow(lg, 1e9));
    CK_OK(dal_log_observe(lg, obs));
    CK_OK(dal_open_observed(test_url, obs, &db));
    EXEC("SELECT 1");
    ck_assert_int_eq(nlines, 0);
    /* Off again. */
    CK_RC(dal_log_set_slow(NULL, 1), DAL_E_MISUSE);
}
END_TEST

START_TEST(t_params_masked)
{
    dal_value v[4] = {DAL_V_TEXT(SECRET_PARAM), DAL_V_INT64(42),
                      DAL_V_NULL, DAL_V_DOUBLE(1.5)};
    parsed p;
    int i;

    open_logged(0, DAL_LOG_DEBUG);
    /* Masked: the hook does not even ask for the values. */
    ck_assert_int_eq(db->obs_params, 0);
    drop("lg_params");
    EXEC("CREATE TABLE lg_params (s TEXT, i BIGINT, n TEXT, d DOUBLE "
         "PRECISION)");
    CK_OK(dal_exec_params(db, "INSERT INTO lg_params VALUES (?, ?, ?, ?)",
                          v, 4));
    CK_RC(dal_exec_params(db, "INSERT INTO lg_params VALUES (?, ?, ?, ?) "
                          "ON CONFLICT (s) DO NOTHING", v, 4),
          test_backend == BE_POSTGRES ? DAL_E_SYNTAX : DAL_ERROR);
    {
        dal_stmt *st;

        CK_OK(dal_prepare(db, "SELECT count(*) FROM lg_params WHERE s = ?",
                          &st));
        CK_OK(dal_bind_text(st, 1, SECRET_PARAM, DAL_NTS, DAL_STATIC));
        CK_RC(dal_step(st), DAL_ROW);
        ck_assert_int_eq(dal_column_int64(st, 0), 1);
        dal_finalize(st);
    }
    dal_close(db);
    db = NULL;
    ck_all_lines();
    ck_assert_int_ge(nlines, 4);
    for (i = 0; i < nlines; i++) {
        ck_assert_msg(strstr(lines[i], SECRET_PARAM) == NULL,
                      "the secret parameter is in the log: %s", lines[i]);
        parse_line(lines[i], &p);
        ck_assert_ptr_null(get(&p, "params"));
    }
    i = find_line(0, "sql", "INSERT INTO lg_params VALUES (?, ?, ?, ?)", &p);
    ck_assert_int_ge(i, 0);
    ck_assert_str_eq(S(sget(&p, "nparams")), "4");
    if (test_backend == BE_POSTGRES) {
        /* The server quotes the bad value in its message; the log does
         * not, while the caller's dal_errmsg() still does. */
        dal_value bad = DAL_V_TEXT(SECRET_PARAM);

        clear_lines();
        CK_OK(dal_open_observed(test_url, obs, &db));
        CK_RC(dal_exec_params(db, "SELECT CAST(? AS bigint)", &bad, 1),
              DAL_E_DATA);
        ck_assert_ptr_nonnull(strstr(dal_errmsg(db), SECRET_PARAM));
        dal_close(db);
        db = NULL;
        ck_all_lines();
        i = find_line(0, "level", "error", &p);
        ck_assert_int_ge(i, 0);
        ck_assert_str_eq(S(sget(&p, "sqlstate")), "22P02");
        ck_assert_str_eq(S(sget(&p, "message")),
                         "invalid input syntax for type bigint: \"***\"");
        for (i = 0; i < nlines; i++)
            ck_assert_msg(strstr(lines[i], SECRET_PARAM) == NULL,
                          "the secret is in the log: %s", lines[i]);
    }
    close_all();
    clear_lines();

    /* Opted in: the values are there, as JSON. */
    open_logged(DAL_LOG_PARAMS, DAL_LOG_DEBUG);
    ck_assert_int_eq(db->obs_params, 1);
    drop("lg_params");
    EXEC("CREATE TABLE lg_params (s TEXT, i BIGINT, n TEXT, d DOUBLE "
         "PRECISION)");
    CK_OK(dal_exec_params(db, "INSERT INTO lg_params VALUES (?, ?, ?, ?)",
                          v, 4));
    ck_all_lines();
    i = find_line(0, "sql", "INSERT INTO lg_params VALUES (?, ?, ?, ?)", &p);
    ck_assert_int_ge(i, 0);
    ck_assert_str_eq(S(sget(&p, "params")),
                     "[\"" SECRET_PARAM "\",42,null,1.5]");
    ck_assert_ptr_nonnull(strstr(lines[i], SECRET_PARAM));
    drop("lg_params");
}
END_TEST

START_TEST(t_escaping)
{
    /* Quotes, backslashes, newline, tab, a control character and
     * UTF-8, in the SQL text and in a parameter. */
    static const char sql[] =
        "SELECT 'a\"b\\c\nd\te\001f é' AS x, ? AS y";
    dal_value v = DAL_V_TEXT("q\"\\\n\r\001ü");
    dal_value blob;
    static const unsigned char bytes[] = {0x00, 0xff, 0x10};
    parsed p;
    int i;

    open_logged(DAL_LOG_PARAMS, DAL_LOG_DEBUG);
    clear_lines();
    CK_OK(dal_exec_params(db, sql, &v, 1));
    memset(&blob, 0, sizeof blob);
    blob.type = DAL_TYPE_BLOB;
    blob.u.s.p = (const char *)bytes;
    blob.u.s.len = sizeof bytes;
    CK_OK(dal_exec_params(db, test_backend == BE_POSTGRES
                              ? "SELECT CAST(? AS bytea)" : "SELECT ?",
                          &blob, 1));
    ck_all_lines();
    ck_assert_int_eq(nlines, 2);
    i = find_line(0, "kind", "select", &p);
    ck_assert_int_eq(i, 0);
    ck_assert_str_eq(S(sget(&p, "sql")), sql);
    ck_assert_ptr_nonnull(strstr(lines[0], "\\u0001"));
    ck_assert_ptr_nonnull(strstr(lines[0], "é"));
    ck_assert_ptr_nonnull(strstr(lines[0],
                                 "\"params\":[\"q\\\"\\\\\\n\\r\\u0001ü\"]"));
    ck_assert_ptr_nonnull(strstr(lines[1], "\"params\":[\"\\\\x00ff10\"]"));
}
END_TEST

START_TEST(t_labels_and_file)
{
    FILE *fp = tmpfile();
    char buf[4096];
    parsed p;
    int n = 0;

    ck_assert_ptr_nonnull(fp);
    CK_OK(dal_observer_new(&obs));
    CK_OK(dal_log_new(fp, NULL, NULL, 0, &lg));
    CK_OK(dal_log_set_level(lg, DAL_LOG_STATEMENT, DAL_LOG_DEBUG));
    CK_OK(dal_log_observe(lg, obs));
    CK_OK(dal_open_observed(test_url, obs, &db));
    CK_OK(dal_set_tenant(db, "acme"));
    CK_OK(dal_set_actor(db, "ann \"the\" admin"));
    EXEC("SELECT 1");
    dal_close(db);
    db = NULL;
    rewind(fp);
    while (fgets(buf, sizeof buf, fp)) {
        size_t len = strlen(buf);

        ck_assert_msg(len > 0 && buf[len - 1] == '\n', "no newline");
        buf[len - 1] = '\0';
        parse_line(buf, &p);
        if (sget(&p, "sql")) {
            ck_assert_str_eq(S(sget(&p, "tenant")), "acme");
            ck_assert_str_eq(S(sget(&p, "actor")), "ann \"the\" admin");
        }
        n++;
    }
    fclose(fp);
    /* connect, SELECT 1, disconnect */
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(dal_log_dropped(lg), 0);
}
END_TEST

START_TEST(t_misuse)
{
    FILE *fp = stderr;

    CK_RC(dal_log_new(NULL, NULL, NULL, 0, &lg), DAL_E_MISUSE);
    ck_assert_ptr_null(lg);
    CK_RC(dal_log_new(fp, sink, NULL, 0, &lg), DAL_E_MISUSE);
    CK_RC(dal_log_new(fp, NULL, NULL, 0x80, &lg), DAL_E_MISUSE);
    CK_RC(dal_log_new(fp, NULL, NULL, 0, NULL), DAL_E_MISUSE);
    CK_OK(dal_log_new(NULL, sink, &nlines, 0, &lg));
    CK_RC(dal_log_set_level(lg, (dal_log_category)5, DAL_LOG_INFO),
          DAL_E_MISUSE);
    CK_RC(dal_log_set_level(lg, DAL_LOG_TX, (dal_log_level)5),
          DAL_E_MISUSE);
    CK_RC(dal_log_set_level(NULL, DAL_LOG_TX, DAL_LOG_INFO), DAL_E_MISUSE);
    CK_RC(dal_log_observe(lg, NULL), DAL_E_MISUSE);
    CK_OK(dal_observer_new(&obs));
    CK_OK(dal_log_observe(lg, obs));
    CK_OK(dal_open_observed(test_url, obs, &db));
    /* Still attached: neither can go. */
    CK_RC(dal_log_free(lg), DAL_E_MISUSE);
    CK_RC(dal_observer_free(obs), DAL_E_MISUSE);
    CK_OK(dal_log_free(NULL));
    ck_assert_int_eq(dal_log_dropped(NULL), 0);
}
END_TEST

/* The URL with password PASSWORD, and port (when not NULL) instead of
 * the URL's own. */
static void password_url(const char *url, const char *port, char *out,
                         size_t cap)
{
    const char *scheme_end = strstr(url, "://"), *at, *host, *colon, *end;

    ck_assert_ptr_nonnull(scheme_end);
    at = strchr(scheme_end + 3, '@');
    ck_assert_msg(at != NULL, "DAL_TEST_PG_URL has no user: %s", url);
    ck_assert_msg(memchr(scheme_end + 3, ':', (size_t)(at - scheme_end - 3))
                  == NULL, "DAL_TEST_PG_URL has a password already");
    host = at + 1;
    end = host + strcspn(host, "/?");
    colon = memchr(host, ':', (size_t)(end - host));
    if (!port)
        snprintf(out, cap, "%.*s:%s%s", (int)(at - url), url, PASSWORD, at);
    else
        snprintf(out, cap, "%.*s:%s@%.*s:%s%s", (int)(at - url), url,
                 PASSWORD, (int)((colon ? colon : end) - host), host, port,
                 end);
}

/* `dal ping url` (stdout and stderr) does not show the password. */
static void ck_ping(const char *url, int want_ok)
{
    const char *build = getenv("BUILD");
    char cmd[1024], out[8192];
    size_t n = 0;
    FILE *p;
    int st;

    snprintf(cmd, sizeof cmd, "%s/dal ping '%s' --count 2 2>&1",
             build && *build ? build : "build", url);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    while (n + 1 < sizeof out && fgets(out + n, (int)(sizeof out - n), p))
        n += strlen(out + n);
    out[n] = '\0';
    st = pclose(p);
    ck_assert_msg(strstr(out, PASSWORD) == NULL,
                  "dal ping prints the password: %s", out);
    ck_assert_msg(want_ok ? st == 0 : st != 0, "dal ping exit %d: %s", st,
                  out);
    ck_assert_msg(n > 0, "dal ping printed nothing");
    if (want_ok)
        ck_assert_ptr_nonnull(strstr(out, "connected to postgres"));
}

START_TEST(t_password)
{
    char url[512], bad[512];
    dal_db *bad_db = NULL;
    int i, rc;

    if (test_backend != BE_POSTGRES)
        return; /* SQLite URLs have no password: t_params_masked */
    password_url(pg_url, NULL, url, sizeof url);
    password_url(pg_url, "1", bad, sizeof bad);
    test_url = url;
    open_logged(0, DAL_LOG_DEBUG);
    ck_assert_ptr_null(strstr(S(dal_errmsg(db)), PASSWORD));
    drop("lg_pw");
    EXEC("CREATE TABLE lg_pw (id BIGINT)");
    EXEC("INSERT INTO lg_pw VALUES (1)");
    CK_OK(dal_begin(db, 0));
    EXEC("INSERT INTO lg_pw VALUES (2)");
    CK_RC(dal_exec(db, "INSERT INTO lg_pw VALUES ('not a number')"),
          DAL_E_DATA);
    ck_assert_ptr_null(strstr(S(dal_errmsg(db)), PASSWORD));
    CK_OK(dal_rollback(db));
    CK_RC(dal_exec(db, "SELECT * FROM lg_no_such"), DAL_E_SYNTAX);
    ck_assert_ptr_null(strstr(S(dal_errmsg(db)), PASSWORD));
    drop("lg_pw");
    /* A connection that fails, on the same log. */
    rc = dal_open_observed(bad, obs, &bad_db);
    ck_assert_int_eq(rc, DAL_E_CONNECT);
    ck_assert_ptr_nonnull(bad_db);
    ck_assert_msg(strstr(S(dal_errmsg(bad_db)), PASSWORD) == NULL,
                  "error message shows the password: %s",
                  dal_errmsg(bad_db));
    dal_close(bad_db);
    /* The password as a password= option, on a connection that fails
     * and on one that works. */
    {
        char opt[600];
        const char *at = strchr(bad, '@');

        snprintf(opt, sizeof opt, "%.*s%s%spassword=%s",
                 (int)(strstr(bad, ":" PASSWORD) - bad), bad, at,
                 strchr(bad, '?') ? "&" : "?", PASSWORD);
        bad_db = NULL;
        ck_assert_int_eq(dal_open_observed(opt, obs, &bad_db),
                         DAL_E_CONNECT);
        ck_assert_msg(strstr(S(dal_errmsg(bad_db)), PASSWORD) == NULL,
                      "error message shows the password: %s",
                      dal_errmsg(bad_db));
        dal_close(bad_db);
        ck_ping(opt, 0);
    }
    dal_close(db);
    db = NULL;
    test_url = pg_url;
    ck_all_lines();
    ck_assert_int_ge(count_lines("level", "error"), 3);
    ck_assert_int_eq(count_lines("event", "connect"), 3);
    for (i = 0; i < nlines; i++)
        ck_assert_msg(strstr(lines[i], PASSWORD) == NULL,
                      "line %d shows the password: %s", i, lines[i]);
    /* The redacted URL is what the connect lines carry. */
    {
        parsed p;

        ck_assert_int_ge(find_line(0, "event", "connect", &p), 0);
        ck_assert_ptr_nonnull(strstr(S(sget(&p, "url")), ":***@"));
    }
    ck_ping(url, 1);
    ck_ping(bad, 0);
}
END_TEST

/* Fail each allocation in turn: every call returns DAL_OK or DAL_NOMEM,
 * and nothing leaks. A line that cannot be formatted is dropped and
 * counted. */
START_TEST(t_nomem)
{
    dal_value v = DAL_V_TEXT("abc");
    long n;
    int rc, done = 0, dropped = 0;

    for (n = 1; !done && n < 400; n++) {
        dal_observer *o = NULL;
        dal_log *l = NULL;
        dal_db *d = NULL;

        nomem_arm(n);
        rc = dal_observer_new(&o);
        if (rc == DAL_OK)
            rc = dal_log_new(NULL, sink, &nlines, DAL_LOG_PARAMS, &l);
        if (rc == DAL_OK)
            rc = dal_log_set_level(l, DAL_LOG_STATEMENT, DAL_LOG_DEBUG);
        if (rc == DAL_OK)
            rc = dal_log_observe(l, o);
        if (rc == DAL_OK)
            rc = dal_open_observed(test_url, o, &d);
        if (rc == DAL_OK)
            rc = dal_exec_params(d, "SELECT ?", &v, 1);
        if (rc == DAL_OK)
            rc = dal_exec(d, "SELECT 'a longer statement, so that the "
                          "line buffer has to grow: "
                          "0123456789012345678901234567890123456789'");
        ck_assert_msg(rc == DAL_OK || rc == DAL_NOMEM,
                      "allocation %ld: rc %d (%s)", n, rc, dal_errstr(rc));
        if (l)
            dropped += dal_log_dropped(l) > 0;
        fail_at = 0;
        done = !fail_hit;
        dal_close(d);
        ck_assert_int_eq(dal_observer_free(o), DAL_OK);
        ck_assert_int_eq(dal_log_free(l), DAL_OK);
        clear_lines();
        ck_assert_msg(live_blocks == base_blocks, "allocation %ld: %ld "
                      "blocks leaked", n, live_blocks - base_blocks);
    }
    ck_assert_msg(done, "still failing after %ld allocations", n);
    ck_assert_msg(dropped > 0, "no line was ever dropped");
}
END_TEST

/* ---- suite ----------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *log_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "lines");
    tcase_add_test(tc, t_statement_fields);
    tcase_add_test(tc, t_error_line);
    tcase_add_test(tc, t_escaping);
    tcase_add_test(tc, t_labels_and_file);
    tc = tcase(s, "levels");
    tcase_add_test(tc, t_categories);
    tcase_add_test(tc, t_migrate_category);
    tcase_add_test(tc, t_slow);
    tc = tcase(s, "masking");
    tcase_add_test(tc, t_params_masked);
    tcase_add_test(tc, t_password);
    tc = tcase(s, "api");
    tcase_add_test(tc, t_misuse);
    tcase_add_test(tc, t_nomem);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "log[sqlite-mem]", "log[sqlite-file]", "log[postgres]",
    };
    int kind, failed = 0;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "log: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    main_pid = (long)getpid();
    pg_url = getenv("DAL_TEST_PG_URL");
    if (pg_url == NULL || pg_url[0] == '\0') {
        printf("log: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
        pg_url = NULL;
    }
    for (kind = BE_SQLITE_MEM; kind <= BE_POSTGRES; kind++) {
        SRunner *sr;

        if (kind == BE_POSTGRES && pg_url == NULL)
            break;
        test_backend = (enum backend)kind;
        test_url = kind == BE_SQLITE_MEM ? "sqlite::memory:"
                   : kind == BE_SQLITE_FILE ? "sqlite:///tmp/(per test)"
                   : pg_url;
        fflush(stdout);
        sr = srunner_create(log_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_temp_files();
    }
    if (live_blocks != 0) {
        printf("log: libdal holds %ld blocks at exit\n", live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
