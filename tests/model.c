/*
 * tests/model.c - the model layer (include/dal/model.h): C structs
 * mapped to tables. One set of tests, with the same assertions, runs on
 * every backend:
 *   model[sqlite-mem]   sqlite::memory:
 *   model[sqlite-file]  sqlite:///tmp/... (a fresh file per test)
 *   model[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 * The doc comments of model.h are the contract checked here.
 *
 * Run:  tests/pg/with-pg.sh build/tests/model
 * CK_RUN_SUITE='model[postgres]' and CK_RUN_CASE=soft narrow a run;
 * CK_FORK=no runs in one process (for gdb).
 *
 * main() installs a counting allocator (dal_set_allocator) before any
 * other libdal call; every test's teardown checks that libdal holds as
 * many blocks after dal_close() as before dal_open().
 *
 * PostgreSQL tests share one database, so every test uses tables of its
 * own (mt_<test>), dropped at the start of the test.
 */
#include <check.h>
#include <dirent.h>
#include <float.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dal/core.h>
#include <dal/model.h>
#include <dal/observe.h>
#include <dal/query.h>

enum backend { BE_SQLITE_MEM, BE_SQLITE_FILE, BE_POSTGRES };

static const char *test_url;
static enum backend test_backend;
static dal_db *db;
static long main_pid;
static char file_path[128];
static char file_url[160];

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* "héllo ✓ 𝄞": 1-, 2-, 3- and 4-byte UTF-8. */
#define UTF8_SAMPLE "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9d\x84\x9e"

/* ---- counting allocator ---------------------------------------------- */

static long live_blocks;  /* blocks libdal holds */
static long alloc_calls;  /* allocations libdal has made */
static long base_blocks;  /* live_blocks when the test started */

/* Failure injection (the nomem tests): while fail_at is N > 0, libdal's
 * N-th allocation since nomem_arm() returns NULL. */
static long fail_at;      /* the allocation that fails; 0: none */
static long fail_seq;     /* allocations since nomem_arm() */
static int fail_hit;      /* the allocation fail_at was failed */

static int inject_failure(void)
{
    if (fail_at <= 0 || ++fail_seq != fail_at)
        return 0;
    fail_hit = 1;
    return 1;
}

static void *c_malloc(size_t n)
{
    void *p;

    alloc_calls++;
    if (inject_failure())
        return NULL;
    p = malloc(n);
    if (p)
        live_blocks++;
    return p;
}

static void *c_realloc(void *p, size_t n)
{
    void *q;

    alloc_calls++;
    if (inject_failure())
        return NULL;
    q = realloc(p, n);
    if (q && !p)
        live_blocks++;
    return q;
}

static void c_free(void *p)
{
    if (p)
        live_blocks--;
    free(p);
}

/* ---- helpers --------------------------------------------------------- */

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

#define CK_RC(expr, want) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "%s -> %d (%s), want %d (%s): [%s] %s", \
                  #expr, rc_, dal_errstr(rc_), (want), dal_errstr(want), \
                  S(dal_sqlstate(db)), S(dal_errmsg(db))); \
} while (0)
#define CK_OK(expr) CK_RC(expr, DAL_OK)

/* expr fails with code, recorded on db with SQLSTATE state (NULL: any)
 * and a message that contains needle (NULL: any real message). */
#define CK_ERR(expr, code, state, needle) \
    ck_err_at((expr), (code), (state), (needle), #expr, __LINE__)

static void ck_err_at(int rc, int code, const char *state,
                      const char *needle, const char *what, int line)
{
    const char *msg = dal_errmsg(db), *st = dal_sqlstate(db);
    int ec = dal_errcode(db);

    ck_assert_msg(rc == code && ec == code,
                  "line %d: %s -> %d (%s), errcode %d; want %d (%s): "
                  "[%s] %s", line, what, rc, dal_errstr(rc), ec, code,
                  dal_errstr(code), S(st), S(msg));
    if (state != NULL)
        ck_assert_msg(st != NULL && strcmp(st, state) == 0,
                      "line %d: %s: sqlstate %s, want %s: %s", line, what,
                      S(st), state, S(msg));
    ck_assert_msg(msg != NULL && msg[0] != '\0' &&
                  strcmp(msg, "not an error") != 0,
                  "line %d: %s: no error message", line, what);
    if (needle != NULL)
        ck_assert_msg(strstr(msg, needle) != NULL,
                      "line %d: %s: message does not name \"%s\": %s",
                      line, what, needle, msg);
}

#define EXEC(sql) CK_OK(dal_exec(db, (sql)))

static int is_pg(void)
{
    return test_backend == BE_POSTGRES;
}

static int64_t qint(const char *sql)
{
    int64_t v = -424242;
    int rc = dal_query_int64(db, sql, NULL, 0, &v);

    ck_assert_msg(rc == DAL_OK, "%s -> %d (%s): [%s] %s", sql, rc,
                  dal_errstr(rc), S(dal_sqlstate(db)), S(dal_errmsg(db)));
    return v;
}

/* Drop the test's tables (PostgreSQL keeps them between tests). */
static void drop_tables(const char *const *names, int n)
{
    char sql[256];
    int i;

    for (i = 0; i < n; i++) {
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s%s", names[i],
                 is_pg() ? " CASCADE" : "");
        EXEC(sql);
    }
}
#define DROP(...) drop_tables((const char *const[]){__VA_ARGS__}, \
    (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)))

/* Does table t exist? */
static int table_exists(const char *t)
{
    char sql[256];

    if (is_pg())
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM pg_tables WHERE tablename = '%s'", t);
    else
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master "
                 "WHERE type = 'table' AND name = '%s'", t);
    return qint(sql) > 0;
}

static int64_t rows_in(const char *t)
{
    char sql[256];

    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t);
    return qint(sql);
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* A copy of m writing to table t, so that each test has tables of its
 * own. */
static dal_model on_table(const dal_model *m, const char *t)
{
    dal_model c = *m;

    c.table = t;
    return c;
}

/* The tests' own buffers (not libdal's): a failing assertion leaves the
 * test early, so teardown frees what is still held (CK_FORK=no under
 * valgrind would report it otherwise). */
static void *test_mem[64];

static void *test_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    int i;

    ck_assert_ptr_nonnull(p);
    for (i = 0; i < NELEM(test_mem); i++)
        if (test_mem[i] == NULL) {
            test_mem[i] = p;
            return p;
        }
    ck_abort_msg("test_calloc: too many buffers");
    return NULL;
}

static void test_free(void *p)
{
    int i;

    for (i = 0; p != NULL && i < NELEM(test_mem); i++)
        if (test_mem[i] == p)
            test_mem[i] = NULL;
    free(p);
}

static void test_free_all(void)
{
    int i;

    for (i = 0; i < NELEM(test_mem); i++) {
        free(test_mem[i]);
        test_mem[i] = NULL;
    }
}

static int same_text(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* ---- JSON, compared parsed ------------------------------------------- */

/*
 * PostgreSQL's jsonb gives JSON back with its own spacing and key order;
 * canonical text (no spaces, object keys sorted) compares equal for
 * equal JSON. Strings and numbers are kept as written, so the test data
 * uses no escapes but \" and numbers as jsonb writes them.
 */
struct jbuf {
    char *p;
    size_t len, cap;
};

static void jb_put(struct jbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static const char *jws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

/* The end of the JSON string starting at s (on its opening quote). */
static const char *jstring_end(const char *s)
{
    s++;
    while (*s && *s != '"') {
        if (*s == '\\' && s[1])
            s++;
        s++;
    }
    return *s == '"' ? s + 1 : NULL;
}

struct jmember {
    struct jbuf key, val;
};

static int jmember_cmp(const void *a, const void *b)
{
    const struct jmember *x = a, *y = b;

    return strcmp(x->key.p, y->key.p);
}

static const char *jcanon(const char *s, struct jbuf *out);

static const char *jobject(const char *s, struct jbuf *out)
{
    struct jmember *mem = NULL;
    int n = 0, i;
    const char *e;

    s = jws(s + 1);
    while (s && *s != '}') {
        mem = realloc(mem, sizeof *mem * (size_t)(n + 1));
        ck_assert_ptr_nonnull(mem);
        memset(&mem[n], 0, sizeof mem[n]);
        if (*s != '"' || (e = jstring_end(s)) == NULL) {
            s = NULL;
            n++;
            break;
        }
        jb_put(&mem[n].key, s, (size_t)(e - s));
        s = jws(e);
        if (*s != ':') {
            s = NULL;
            n++;
            break;
        }
        s = jcanon(jws(s + 1), &mem[n].val);
        n++;
        if (s) {
            s = jws(s);
            if (*s == ',')
                s = jws(s + 1);
            else if (*s != '}')
                s = NULL;
        }
    }
    if (s) {
        qsort(mem, (size_t)n, sizeof *mem, jmember_cmp);
        jb_put(out, "{", 1);
        for (i = 0; i < n; i++) {
            if (i)
                jb_put(out, ",", 1);
            jb_put(out, mem[i].key.p, mem[i].key.len);
            jb_put(out, ":", 1);
            jb_put(out, mem[i].val.p, mem[i].val.len);
        }
        jb_put(out, "}", 1);
        s++;
    }
    for (i = 0; i < n; i++) {
        free(mem[i].key.p);
        free(mem[i].val.p);
    }
    free(mem);
    return s;
}

static const char *jcanon(const char *s, struct jbuf *out)
{
    const char *e;

    s = jws(s);
    if (*s == '{')
        return jobject(s, out);
    if (*s == '[') {
        int first = 1;

        jb_put(out, "[", 1);
        s = jws(s + 1);
        while (s && *s != ']') {
            if (!first)
                jb_put(out, ",", 1);
            first = 0;
            s = jcanon(s, out);
            if (s) {
                s = jws(s);
                if (*s == ',')
                    s = jws(s + 1);
                else if (*s != ']')
                    s = NULL;
            }
        }
        if (s) {
            jb_put(out, "]", 1);
            s++;
        }
        return s;
    }
    if (*s == '"') {
        e = jstring_end(s);
        if (e)
            jb_put(out, s, (size_t)(e - s));
        return e;
    }
    e = s;
    while (*e && strchr("-+.eE0123456789truefalsn", *e))
        e++;
    if (e == s)
        return NULL;
    jb_put(out, s, (size_t)(e - s));
    return e;
}

/* Canonical text of json (caller frees), or NULL when it is not JSON. */
static char *json_canonical(const char *json)
{
    struct jbuf b = {NULL, 0, 0};
    const char *end = jcanon(json, &b);

    if (end == NULL || *jws(end) != '\0') {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static int same_json(const char *a, const char *b)
{
    char *x, *y;
    int eq;

    if (a == NULL || b == NULL)
        return a == b;
    x = json_canonical(a);
    y = json_canonical(b);
    eq = x != NULL && y != NULL && strcmp(x, y) == 0;
    free(x);
    free(y);
    return eq;
}

/* ---- models ---------------------------------------------------------- */

/* Every field type. */
typedef struct rec {
    int64_t id;
    int64_t big;
    int32_t i32;
    int flag;
    double dbl;
    char *name;
    const void *data;
    size_t data_len;
    int64_t ts;
    char *settings;
} rec;

static const dal_field rec_fields[] = {
    DAL_FIELD(rec, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(rec, big, DAL_F_INT64, 0),
    DAL_FIELD(rec, i32, DAL_F_INT32, DAL_F_INDEXED),
    DAL_FIELD(rec, flag, DAL_F_BOOL, 0),
    DAL_FIELD(rec, dbl, DAL_F_DOUBLE, 0),
    DAL_FIELD(rec, name, DAL_F_TEXT, 0),
    DAL_BLOB_FIELD(rec, data, data_len, 0),
    DAL_FIELD(rec, ts, DAL_F_TIMESTAMP, 0),
    DAL_FIELD(rec, settings, DAL_F_JSON, 0),
};
static const dal_model rec_model = DAL_MODEL(rec, "mt_rec", rec_fields);

static const unsigned char blob_nul[] = {0x00, 0x01, 0xff, 0x00, 'z', 0x00};
static const unsigned char blob_zero[] = {0x00};
static unsigned char blob_all[256];

#define JSON_A "{\"theme\":\"dark\",\"size\":12,\"ratio\":2.5," \
    "\"tags\":[\"a\",\"b\\\"q\",\"\xc3\xa9t\xc3\xa9\"]," \
    "\"nested\":{\"x\":true,\"y\":null,\"z\":[]},\"neg\":-7}"
#define JSON_B "[1, 2.5, \"x\", {\"k\": false}]"
#define JSON_C "{\"theme\": \"light\"}"

/* Four rows that between them hold the edge values of every type. */
static rec sample(int i)
{
    rec r;

    memset(&r, 0, sizeof r);
    switch (i) {
    case 0:
        r.big = INT64_MAX;
        r.i32 = INT32_MAX;
        r.flag = 1;
        r.dbl = 0.1;
        r.name = UTF8_SAMPLE;
        r.data = blob_nul;
        r.data_len = sizeof blob_nul;
        r.ts = INT64_C(1700000000123457);
        r.settings = JSON_A;
        break;
    case 1:
        r.big = INT64_MIN;
        r.i32 = INT32_MIN;
        r.flag = 0;
        r.dbl = -2.5e-300;
        r.name = NULL;
        r.data = NULL;
        r.data_len = 0;
        r.ts = 0;
        r.settings = NULL;
        break;
    case 2:
        r.big = 0;
        r.i32 = 0;
        r.flag = 1;
        r.dbl = 1.0 / 3.0;
        r.name = "";
        r.data = blob_zero;
        r.data_len = sizeof blob_zero;
        r.ts = -1;
        r.settings = JSON_B;
        break;
    default:
        r.big = INT64_C(9007199254740993);
        r.i32 = -1;
        r.flag = 0;
        r.dbl = DBL_MAX;
        r.name = "O'Brien \"quoted\"; -- not SQL";
        r.data = blob_all;
        r.data_len = sizeof blob_all;
        r.ts = INT64_C(253402300799999999);
        r.settings = JSON_C;
        break;
    }
    return r;
}

/* got equals want field by field (got's id is id). */
static void check_rec(const rec *got, const rec *want, int64_t id)
{
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(got->id, id);
    ck_assert_msg(got->big == want->big, "row %" PRId64 ": big %" PRId64
                  ", want %" PRId64, id, got->big, want->big);
    ck_assert_int_eq(got->i32, want->i32);
    ck_assert_int_eq(got->flag, want->flag);
    ck_assert_msg(got->dbl == want->dbl, "row %" PRId64 ": dbl %.17g, "
                  "want %.17g", id, got->dbl, want->dbl);
    ck_assert_msg(same_text(got->name, want->name),
                  "row %" PRId64 ": name \"%s\", want \"%s\"", id,
                  S(got->name), S(want->name));
    ck_assert_msg(got->data_len == want->data_len,
                  "row %" PRId64 ": data_len %zu, want %zu", id,
                  got->data_len, want->data_len);
    if (want->data == NULL)
        ck_assert_msg(got->data == NULL, "row %" PRId64 ": NULL blob "
                      "loaded as a non-NULL pointer", id);
    else
        ck_assert_msg(got->data != NULL &&
                      memcmp(got->data, want->data, want->data_len) == 0,
                      "row %" PRId64 ": blob bytes differ", id);
    ck_assert_msg(got->ts == want->ts, "row %" PRId64 ": ts %" PRId64
                  ", want %" PRId64, id, got->ts, want->ts);
    ck_assert_msg(same_json(got->settings, want->settings),
                  "row %" PRId64 ": settings %s, want %s", id,
                  S(got->settings), S(want->settings));
}

/* Load row id of m into *rows and return its struct (NULL: none). */
static void *find(const dal_model *m, int64_t id, dal_rows **rows,
                  int want_rc)
{
    dal_value pk = DAL_V_INT64(id);

    *rows = NULL;
    CK_RC(dal_model_find(db, m, &pk, rows), want_rc);
    if (want_rc == DAL_OK) {
        ck_assert_ptr_nonnull(*rows);
        ck_assert_int_eq(dal_rows_count(*rows), 1);
        return dal_rows_at(*rows, 0);
    }
    ck_assert_int_eq(dal_rows_count(*rows), 0);
    ck_assert_ptr_null(dal_rows_at(*rows, 0));
    return NULL;
}

static void check_row(const dal_model *m, int64_t id, const rec *want)
{
    dal_rows *rows;
    rec *got = find(m, id, &rows, DAL_OK);

    check_rec(got, want, id);
    dal_rows_free(rows);
}

static void insert_rec(const dal_model *m, rec *r, int64_t want_id)
{
    CK_OK(dal_model_insert(db, m, r));
    ck_assert_int_eq(r->id, want_id);
}

/* Timestamps set by the library: created_at / updated_at. */
typedef struct stamped {
    int64_t id;
    char *title;
    int64_t created_at;
    int64_t updated_at;
} stamped;

static const dal_field stamped_fields[] = {
    DAL_FIELD(stamped, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(stamped, title, DAL_F_TEXT, 0),
    DAL_FIELD(stamped, created_at, DAL_F_TIMESTAMP, DAL_F_CREATED_AT),
    DAL_FIELD(stamped, updated_at, DAL_F_TIMESTAMP, DAL_F_UPDATED_AT),
};
static const dal_model stamped_model =
    DAL_MODEL(stamped, "mt_stamp", stamped_fields);

/* Database defaults (DAL_F_DEFAULT). */
typedef struct defd {
    int64_t id;
    char *status;
    int64_t qty;
    int32_t level;
    double ratio;
    char *label;
} defd;

#define DEF_FIELD(T, m, type, def) \
    {#m, (type), offsetof(T, m), sizeof(((T *)0)->m), 0, DAL_F_DEFAULT, \
     (def), 0, 0, 0, NULL}

static const dal_field defd_fields[] = {
    DAL_FIELD(defd, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DEF_FIELD(defd, status, DAL_F_TEXT, "'new'"),
    DEF_FIELD(defd, qty, DAL_F_INT64, "7"),
    DEF_FIELD(defd, level, DAL_F_INT32, "3"),
    DEF_FIELD(defd, ratio, DAL_F_DOUBLE, "0.5"),
    DAL_FIELD(defd, label, DAL_F_TEXT, 0),
};
static const dal_model defd_model = DAL_MODEL(defd, "mt_def", defd_fields);

/* Soft delete with a unique field. */
typedef struct acct {
    int64_t id;
    char *email;
    char *tier;
    int64_t score;
    int64_t deleted_at;
} acct;

static const dal_field acct_fields[] = {
    DAL_FIELD(acct, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(acct, email, DAL_F_TEXT, DAL_F_UNIQUE | DAL_F_NOT_NULL),
    DAL_FIELD(acct, tier, DAL_F_TEXT, 0),
    DAL_FIELD(acct, score, DAL_F_INT64, 0),
    DAL_FIELD(acct, deleted_at, DAL_F_TIMESTAMP, DAL_F_SOFT_DELETE),
};
static const dal_model acct_model = DAL_MODEL(acct, "mt_acct", acct_fields);

/* A unique field without soft delete. */
typedef struct tagrow {
    int64_t id;
    char *tag;
} tagrow;

static const dal_field tag_fields[] = {
    DAL_FIELD(tagrow, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(tagrow, tag, DAL_F_TEXT, DAL_F_UNIQUE | DAL_F_NOT_NULL),
};
static const dal_model tag_model = DAL_MODEL(tagrow, "mt_tag", tag_fields);

/* Validation rules. */
typedef struct valrow {
    int64_t id;
    char *name;
    int32_t age;
    double ratio;
    char *code;
    const void *pic;
    size_t pic_len;
} valrow;

static int upper_calls;

static int upper_only(const void *obj, const dal_field *f, char *msg,
                      size_t len)
{
    const char *s = *(char *const *)((const char *)obj + f->offset);

    upper_calls++;
    for (; s && *s; s++) {
        if (*s < 'A' || *s > 'Z') {
            snprintf(msg, len, "only upper-case letters allowed");
            return 1;
        }
    }
    return 0;
}

#define VAL_FIELD(T, m, type, maxlen, lo, hi, fn) \
    {#m, (type), offsetof(T, m), sizeof(((T *)0)->m), 0, 0, NULL, \
     (maxlen), (lo), (hi), (fn)}

static const dal_field val_fields[] = {
    DAL_FIELD(valrow, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    VAL_FIELD(valrow, name, DAL_F_TEXT, 8, 0, 0, NULL),
    VAL_FIELD(valrow, age, DAL_F_INT32, 0, 0, 150, NULL),
    VAL_FIELD(valrow, ratio, DAL_F_DOUBLE, 0, -1.0, 1.0, NULL),
    VAL_FIELD(valrow, code, DAL_F_TEXT, 0, 0, 0, upper_only),
    {"pic", DAL_F_BLOB, offsetof(valrow, pic), sizeof(const void *),
     offsetof(valrow, pic_len), 0, NULL, 4, 0, 0, NULL},
};
static const dal_model val_model = DAL_MODEL(valrow, "mt_val", val_fields);

/* Hooks. loaded is not a column: after_load sets it. */
typedef struct hk {
    int64_t id;
    char *name;
    int64_t n;
    int loaded;
} hk;

static const dal_field hk_fields[] = {
    DAL_FIELD(hk, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(hk, name, DAL_F_TEXT, 0),
    DAL_FIELD(hk, n, DAL_F_INT64, 0),
};

static int n_before_save, n_after_save, n_before_delete, n_after_load;
static int64_t after_save_id;

static int hk_before_save(dal_db *h, void *obj)
{
    hk *r = obj;

    (void)h;
    n_before_save++;
    if (r->name && strcmp(r->name, "refuse") == 0)
        return DAL_E_CONSTRAINT;
    r->n += 1000;
    return 0;
}

static void hk_after_save(dal_db *h, void *obj)
{
    (void)h;
    n_after_save++;
    after_save_id = ((hk *)obj)->id;
}

static int hk_before_delete(dal_db *h, const void *obj)
{
    const hk *r = obj;

    (void)h;
    n_before_delete++;
    if (r->name && strcmp(r->name, "keep") == 0)
        return DAL_E_READONLY;
    return 0;
}

static void hk_after_load(dal_db *h, void *obj)
{
    (void)h;
    n_after_load++;
    ((hk *)obj)->loaded++;
}

static const dal_model_hooks hk_hooks = {
    hk_before_save, hk_after_save, hk_before_delete, hk_after_load,
};
static const dal_model hk_model = {
    "mt_hook", sizeof(hk), hk_fields, NELEM(hk_fields), &hk_hooks, NULL,
};

/* ---- fixture --------------------------------------------------------- */

static void remove_db_files(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[200];
    int i;

    for (i = 0; i < NELEM(sfx); i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

/* A failing assertion ends the forked test before its teardown, so main()
 * sweeps the files this run left in /tmp. */
static void sweep_temp_files(void)
{
    char prefix[64], path[512];
    struct dirent *e;
    DIR *d = opendir("/tmp");

    if (d == NULL)
        return;
    snprintf(prefix, sizeof prefix, "dal-model-%ld-", main_pid);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

static void setup(void)
{
    int rc;

    base_blocks = live_blocks;
    fail_at = 0;
    if (test_backend == BE_SQLITE_FILE) {
        int fd;

        snprintf(file_path, sizeof file_path, "/tmp/dal-model-%ld-XXXXXX",
                 main_pid);
        fd = mkstemp(file_path);
        ck_assert_msg(fd >= 0, "mkstemp(%s) failed", file_path);
        close(fd);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
        test_url = file_url;
    }
    rc = dal_open(test_url, &db);
    ck_assert_msg(rc == DAL_OK && db != NULL, "dal_open(%s) -> %d: %s",
                  test_url, rc, db ? S(dal_errmsg(db)) : "(no handle)");
    /* Keep "table does not exist, skipping" notices out of the output. */
    if (is_pg())
        EXEC("SET client_min_messages = warning");
    n_before_save = n_after_save = n_before_delete = n_after_load = 0;
    after_save_id = 0;
    upper_calls = 0;
}

static void teardown(void)
{
    fail_at = 0;
    test_free_all();
    dal_close(db);
    db = NULL;
    if (test_backend == BE_SQLITE_FILE)
        remove_db_files(file_path);
    ck_assert_msg(live_blocks == base_blocks,
                  "libdal holds %ld blocks after the test, %ld before",
                  live_blocks, base_blocks);
}

/* ---- create_table ---------------------------------------------------- */

START_TEST(t_create_table)
{
    dal_model m = on_table(&rec_model, "mt_create");
    char sql[256];

    DROP("mt_create");
    CK_OK(dal_model_check(db, &m));
    ck_assert(!table_exists("mt_create"));
    CK_OK(dal_model_create_table(db, &m));
    ck_assert(table_exists("mt_create"));
    ck_assert_int_eq(rows_in("mt_create"), 0);

    /* Every member is a column of its own name. */
    CK_OK(dal_exec(db, "SELECT id, big, i32, flag, dbl, name, data, ts, "
                       "settings FROM mt_create"));

    /* Again: nothing happens, and the rows stay. */
    {
        rec r = sample(0);

        insert_rec(&m, &r, 1);
    }
    CK_OK(dal_model_create_table(db, &m));
    ck_assert(table_exists("mt_create"));
    ck_assert_int_eq(rows_in("mt_create"), 1);

    /* DAL_F_INDEXED: an index on i32. */
    if (is_pg())
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM pg_index x JOIN pg_attribute a ON "
                 "a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey) "
                 "WHERE x.indrelid = 'mt_create'::regclass "
                 "AND a.attname = 'i32'");
    else
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sqlite_master m, "
                 "pragma_index_info(m.name) i WHERE m.type = 'index' "
                 "AND m.tbl_name = 'mt_create' AND i.name = 'i32'");
    ck_assert_int_eq(qint(sql), 1);
}
END_TEST

/* ---- insert and find -------------------------------------------------- */

START_TEST(t_insert_find_types)
{
    dal_model m = on_table(&rec_model, "mt_types");
    rec r[4];
    int i;

    DROP("mt_types");
    CK_OK(dal_model_create_table(db, &m));
    for (i = 0; i < 4; i++) {
        r[i] = sample(i);
        insert_rec(&m, &r[i], i + 1);
    }
    /* The caller's members are left alone. */
    ck_assert_ptr_eq(r[0].name, sample(0).name);
    ck_assert_ptr_eq(r[0].data, blob_nul);
    ck_assert_int_eq(rows_in("mt_types"), 4);

    for (i = 0; i < 4; i++) {
        rec want = sample(i);

        check_row(&m, i + 1, &want);
    }

    /* SQL NULL where the members say so; a timestamp 0 is NULL. */
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_types WHERE id = 2 AND "
                          "name IS NULL AND data IS NULL AND ts IS NULL "
                          "AND settings IS NULL"), 1);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_types WHERE name IS "
                          "NULL OR data IS NULL OR ts IS NULL OR "
                          "settings IS NULL"), 1);
    /* Timestamps are BIGINT microseconds, as stored. */
    ck_assert_int_eq(qint("SELECT ts FROM mt_types WHERE id = 1"),
                     INT64_C(1700000000123457));
    ck_assert_int_eq(qint("SELECT ts FROM mt_types WHERE id = 3"), -1);
    ck_assert_int_eq(qint("SELECT big FROM mt_types WHERE id = 2"),
                     INT64_MIN);
    /* The blob's bytes, 0x00 included, in the database. */
    ck_assert_int_eq(qint("SELECT length(data) FROM mt_types WHERE id = 1"),
                     (int64_t)sizeof blob_nul);
    ck_assert_int_eq(qint("SELECT length(data) FROM mt_types WHERE id = 4"),
                     256);
}
END_TEST

START_TEST(t_find_missing)
{
    dal_model m = on_table(&rec_model, "mt_missing");
    dal_rows *rows;
    rec r = sample(0);

    DROP("mt_missing");
    CK_OK(dal_model_create_table(db, &m));
    find(&m, 1, &rows, DAL_DONE);
    dal_rows_free(rows);
    insert_rec(&m, &r, 1);
    find(&m, 2, &rows, DAL_DONE);
    dal_rows_free(rows);
    find(&m, -1, &rows, DAL_DONE);
    dal_rows_free(rows);
    check_row(&m, 1, &r);
}
END_TEST

/* ---- query and count ------------------------------------------------- */

static void insert_series(const dal_model *m, int n)
{
    static char names[10][16];
    static const double dbls[] = {3.5, 1.5, 5.5, 0.5, 4.5, 2.5};
    int i;

    for (i = 0; i < n; i++) {
        rec r;

        memset(&r, 0, sizeof r);
        r.i32 = (i + 1) * 10;
        r.dbl = dbls[i % 6];
        r.big = i;
        r.flag = i % 2;
        snprintf(names[i], sizeof names[i], "r%d", i + 1);
        r.name = names[i];
        insert_rec(m, &r, i + 1);
    }
}

static void ck_ids(dal_rows *rows, const int64_t *ids, int n)
{
    int i;

    ck_assert_int_eq(dal_rows_count(rows), n);
    for (i = 0; i < n; i++) {
        rec *r = dal_rows_at(rows, i);

        ck_assert_ptr_nonnull(r);
        ck_assert_msg(r->id == ids[i], "row %d: id %" PRId64 ", want %"
                      PRId64, i, r->id, ids[i]);
    }
    ck_assert_ptr_null(dal_rows_at(rows, n));
    ck_assert_ptr_null(dal_rows_at(rows, -1));
}
#define CK_IDS(rows, ...) ck_ids((rows), (const int64_t[]){__VA_ARGS__}, \
    (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

START_TEST(t_query)
{
    dal_model m = on_table(&rec_model, "mt_query");
    dal_rows *rows = NULL;
    rec *r;
    int rc;

    DROP("mt_query");
    CK_OK(dal_model_create_table(db, &m));
    insert_series(&m, 6);

    /* Condition, order and limit. i32 > 15: ids 2..6, dbl 1.5 5.5 0.5
     * 4.5 2.5; by dbl descending: 3, 5, 6, 2, 4. */
    CK_OK(dal_model_query(db, &m, dal_gt(dal_col("i32"), dal_int(15)),
                          dal_list(dal_desc(dal_col("dbl"))), 3, 0,
                          &rows));
    CK_IDS(rows, 3, 5, 6);
    r = dal_rows_at(rows, 0);
    ck_assert_str_eq(r->name, "r3");
    ck_assert_int_eq(r->i32, 30);
    ck_assert(r->dbl == 5.5);
    dal_rows_free(rows);

    /* No limit. */
    CK_OK(dal_model_query(db, &m, dal_gt(dal_col("i32"), dal_int(15)),
                          dal_list(dal_desc(dal_col("dbl"))), 0, 0,
                          &rows));
    CK_IDS(rows, 3, 5, 6, 2, 4);
    dal_rows_free(rows);

    /* Everything, by primary key. */
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    CK_IDS(rows, 1, 2, 3, 4, 5, 6);
    dal_rows_free(rows);

    /* Two order items, a compound condition. */
    CK_OK(dal_model_query(db, &m,
                          dal_and(dal_ge(dal_col("i32"), dal_int(20)),
                                  dal_le(dal_col("i32"), dal_int(50))),
                          dal_list(dal_asc(dal_col("flag")),
                                   dal_desc(dal_col("id"))),
                          0, 0, &rows));
    CK_IDS(rows, 5, 3, 4, 2);
    dal_rows_free(rows);

    /* Nothing matches: an empty set. */
    rc = dal_model_query(db, &m, dal_eq(dal_col("name"), dal_text("nope")),
                         NULL, 0, 0, &rows);
    ck_assert_msg(rc == DAL_OK || rc == DAL_DONE, "empty query -> %d: %s",
                  rc, dal_errmsg(db));
    ck_assert_int_eq(dal_rows_count(rows), 0);
    ck_assert_ptr_null(dal_rows_at(rows, 0));
    dal_rows_free(rows);

    /* An unknown column is the database's error, and no set. */
    rows = NULL;
    rc = dal_model_query(db, &m, dal_eq(dal_col("nope"), dal_int(1)), NULL,
                         0, 0, &rows);
    ck_assert_msg(rc == DAL_E_SYNTAX, "unknown column -> %d (%s)", rc,
                  dal_errstr(rc));
    ck_assert_int_eq(dal_rows_count(rows), 0);
    dal_rows_free(rows);
}
END_TEST

START_TEST(t_count)
{
    dal_model m = on_table(&rec_model, "mt_count");
    int64_t n = -1;

    DROP("mt_count");
    CK_OK(dal_model_create_table(db, &m));
    CK_OK(dal_model_count(db, &m, NULL, 0, &n));
    ck_assert_int_eq(n, 0);
    insert_series(&m, 6);
    CK_OK(dal_model_count(db, &m, NULL, 0, &n));
    ck_assert_int_eq(n, 6);
    CK_OK(dal_model_count(db, &m, dal_gt(dal_col("i32"), dal_int(15)), 0,
                          &n));
    ck_assert_int_eq(n, 5);
    CK_OK(dal_model_count(db, &m, dal_eq(dal_col("flag"), dal_bool(1)), 0,
                          &n));
    ck_assert_int_eq(n, 3);
    CK_OK(dal_model_count(db, &m, dal_eq(dal_col("name"), dal_text("x")),
                          0, &n));
    ck_assert_int_eq(n, 0);
}
END_TEST

/* ---- update, save, delete -------------------------------------------- */

START_TEST(t_update_all)
{
    dal_model m = on_table(&rec_model, "mt_upd");
    rec a = sample(0), b = sample(1), w;

    DROP("mt_upd");
    CK_OK(dal_model_create_table(db, &m));
    insert_rec(&m, &a, 1);
    insert_rec(&m, &b, 2);

    /* Every field of row 1 becomes sample 3's. */
    w = sample(3);
    w.id = 1;
    CK_OK(dal_model_update(db, &m, &w, NULL, 0));
    ck_assert_int_eq(w.id, 1);
    check_row(&m, 1, &w);
    check_row(&m, 2, &b);

    /* And then NULLs (sample 1) where there were values. */
    w = sample(1);
    w.id = 1;
    CK_OK(dal_model_update(db, &m, &w, NULL, 0));
    check_row(&m, 1, &w);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_upd WHERE name IS NULL "
                          "AND data IS NULL AND ts IS NULL AND settings "
                          "IS NULL"), 2);

    /* No such row. */
    w = sample(2);
    w.id = 99;
    CK_RC(dal_model_update(db, &m, &w, NULL, 0), DAL_DONE);
    ck_assert_int_eq(rows_in("mt_upd"), 2);
}
END_TEST

START_TEST(t_update_named)
{
    dal_model m = on_table(&rec_model, "mt_updn");
    rec a = sample(0), w, want;
    static const char *const names[] = {"name", "dbl", "data"};
    static const char *const bad[] = {"nope"};
    int rc;

    DROP("mt_updn");
    CK_OK(dal_model_create_table(db, &m));
    insert_rec(&m, &a, 1);

    /* Every member differs; only three columns are written. */
    w = sample(3);
    w.id = 1;
    CK_OK(dal_model_update(db, &m, &w, names, 3));
    want = sample(0);
    want.name = w.name;
    want.dbl = w.dbl;
    want.data = w.data;
    want.data_len = w.data_len;
    check_row(&m, 1, &want);

    /* One named field, set to NULL. */
    w = sample(1);
    w.id = 1;
    CK_OK(dal_model_update(db, &m, &w, (const char *const[]){"settings"},
                           1));
    want.settings = NULL;
    check_row(&m, 1, &want);

    /* A name that is not a field: an error, and nothing written. */
    w = sample(2);
    w.id = 1;
    rc = dal_model_update(db, &m, &w, bad, 1);
    ck_assert_msg(rc != DAL_OK && rc != DAL_DONE && rc != DAL_ROW,
                  "update of an unknown field -> %d", rc);
    check_row(&m, 1, &want);
}
END_TEST

START_TEST(t_save)
{
    dal_model m = on_table(&rec_model, "mt_save");
    rec r = sample(0), want;
    int64_t n = -1;

    DROP("mt_save");
    CK_OK(dal_model_create_table(db, &m));

    /* id 0: an insert. */
    CK_OK(dal_model_save(db, &m, &r));
    ck_assert_int_eq(r.id, 1);
    check_row(&m, 1, &r);

    /* id set: an update of that row. */
    r.name = "renamed";
    r.i32 = 5;
    CK_OK(dal_model_save(db, &m, &r));
    ck_assert_int_eq(r.id, 1);
    CK_OK(dal_model_count(db, &m, NULL, 0, &n));
    ck_assert_int_eq(n, 1);
    check_row(&m, 1, &r);

    /* A second insert gets the next id. */
    want = sample(2);
    CK_OK(dal_model_save(db, &m, &want));
    ck_assert_int_eq(want.id, 2);
    check_row(&m, 2, &want);

    /* An id with no row: the update finds none and inserts. */
    want = sample(3);
    want.id = 77;
    CK_OK(dal_model_save(db, &m, &want));
    ck_assert_int_ne(want.id, 0);
    CK_OK(dal_model_count(db, &m, NULL, 0, &n));
    ck_assert_int_eq(n, 3);
    check_row(&m, want.id, &want);
    check_row(&m, 1, &r);
}
END_TEST

START_TEST(t_delete)
{
    dal_model m = on_table(&rec_model, "mt_del");
    dal_model t = on_table(&tag_model, "mt_deltag");
    rec a = sample(0), b = sample(1);
    tagrow x = {0, "x"}, y = {0, "x"};
    dal_rows *rows;
    int64_t n = -1;

    DROP("mt_del", "mt_deltag");
    CK_OK(dal_model_create_table(db, &m));
    insert_rec(&m, &a, 1);
    insert_rec(&m, &b, 2);
    CK_OK(dal_model_delete(db, &m, &a));
    find(&m, 1, &rows, DAL_DONE);
    dal_rows_free(rows);
    ck_assert_int_eq(rows_in("mt_del"), 1);
    CK_OK(dal_model_count(db, &m, NULL, 0, &n));
    ck_assert_int_eq(n, 1);
    check_row(&m, 2, &b);
    /* Gone already. */
    CK_RC(dal_model_delete(db, &m, &a), DAL_DONE);
    ck_assert_int_eq(rows_in("mt_del"), 1);

    /* A plain unique field: refused while the row exists, free after a
     * (hard) delete. */
    CK_OK(dal_model_create_table(db, &t));
    CK_OK(dal_model_insert(db, &t, &x));
    ck_assert_int_eq(x.id, 1);
    CK_ERR(dal_model_insert(db, &t, &y), DAL_E_CONSTRAINT, "23505", NULL);
    ck_assert_int_eq(rows_in("mt_deltag"), 1);
    CK_OK(dal_model_delete(db, &t, &x));
    ck_assert_int_eq(rows_in("mt_deltag"), 0);
    y.id = 0;
    CK_OK(dal_model_insert(db, &t, &y));
    /* Not 0; SQLite may hand out 1 again (the highest rowid is gone). */
    ck_assert_int_ne(y.id, 0);
    ck_assert_int_eq(rows_in("mt_deltag"), 1);
}
END_TEST

/* ---- created_at / updated_at ------------------------------------------ */

START_TEST(t_timestamps)
{
    dal_model m = on_table(&stamped_model, "mt_stamp");
    stamped s = {0, "first", 0, 0}, fresh;
    dal_rows *rows;
    stamped *got;
    int64_t t0, t1, created, updated;

    DROP("mt_stamp");
    CK_OK(dal_model_create_table(db, &m));
    t0 = now_us();
    CK_OK(dal_model_insert(db, &m, &s));
    t1 = now_us();
    ck_assert_int_eq(s.id, 1);
    /* Set to now, in the object and in the database; allow for clock
     * granularity and a server clock a little off. */
    ck_assert_msg(s.created_at >= t0 - 2000000 && s.created_at <= t1 +
                  2000000, "created_at %" PRId64 " not within [%" PRId64
                  ", %" PRId64 "]", s.created_at, t0, t1);
    ck_assert_msg(s.updated_at >= t0 - 2000000 && s.updated_at <= t1 +
                  2000000, "updated_at %" PRId64 " not within [%" PRId64
                  ", %" PRId64 "]", s.updated_at, t0, t1);
    got = find(&m, 1, &rows, DAL_OK);
    ck_assert_int_eq(got->created_at, s.created_at);
    ck_assert_int_eq(got->updated_at, s.updated_at);
    created = got->created_at;
    updated = got->updated_at;
    dal_rows_free(rows);

    /* An update of every field keeps created_at and moves updated_at. */
    sleep_ms(20);
    s.title = "second";
    CK_OK(dal_model_update(db, &m, &s, NULL, 0));
    got = find(&m, 1, &rows, DAL_OK);
    ck_assert_str_eq(got->title, "second");
    ck_assert_int_eq(got->created_at, created);
    ck_assert_msg(got->updated_at > updated, "updated_at %" PRId64
                  " did not advance from %" PRId64, got->updated_at,
                  updated);
    updated = got->updated_at;
    dal_rows_free(rows);

    /* Also from a struct that never held created_at (built by hand). */
    sleep_ms(20);
    memset(&fresh, 0, sizeof fresh);
    fresh.id = 1;
    fresh.title = "third";
    CK_OK(dal_model_update(db, &m, &fresh, NULL, 0));
    got = find(&m, 1, &rows, DAL_OK);
    ck_assert_str_eq(got->title, "third");
    ck_assert_msg(got->created_at == created, "created_at %" PRId64
                  " changed by an update, was %" PRId64, got->created_at,
                  created);
    ck_assert_int_gt(got->updated_at, updated);
    updated = got->updated_at;
    dal_rows_free(rows);

    /* A named update sets updated_at too. */
    sleep_ms(20);
    s.title = "fourth";
    CK_OK(dal_model_update(db, &m, &s, (const char *const[]){"title"}, 1));
    got = find(&m, 1, &rows, DAL_OK);
    ck_assert_str_eq(got->title, "fourth");
    ck_assert_int_eq(got->created_at, created);
    ck_assert_int_gt(got->updated_at, updated);
    dal_rows_free(rows);
}
END_TEST

/* ---- DAL_F_DEFAULT ---------------------------------------------------- */

START_TEST(t_defaults)
{
    dal_model m = on_table(&defd_model, "mt_def");
    defd d, e;
    dal_rows *rows;
    defd *got;

    DROP("mt_def");
    CK_OK(dal_model_create_table(db, &m));

    /* Members 0 / NULL: the database's defaults, filled back. */
    memset(&d, 0, sizeof d);
    CK_OK(dal_model_insert(db, &m, &d));
    ck_assert_int_eq(d.id, 1);
    ck_assert_int_eq(d.qty, 7);
    ck_assert_int_eq(d.level, 3);
    ck_assert(d.ratio == 0.5);
    ck_assert_ptr_null(d.label);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_def WHERE id = 1 AND "
                          "status = 'new' AND qty = 7 AND level = 3 AND "
                          "ratio = 0.5 AND label IS NULL"), 1);
    got = find(&m, 1, &rows, DAL_OK);
    ck_assert_str_eq(got->status, "new");
    ck_assert_int_eq(got->qty, 7);
    ck_assert_int_eq(got->level, 3);
    ck_assert(got->ratio == 0.5);
    ck_assert_ptr_null(got->label);
    dal_rows_free(rows);

    /* Members set: their values, not the defaults. */
    memset(&e, 0, sizeof e);
    e.status = "done";
    e.qty = -9;
    e.level = 1;
    e.ratio = 2.25;
    e.label = "l";
    CK_OK(dal_model_insert(db, &m, &e));
    ck_assert_int_eq(e.id, 2);
    ck_assert_str_eq(e.status, "done");
    ck_assert_int_eq(e.qty, -9);
    got = find(&m, 2, &rows, DAL_OK);
    ck_assert_str_eq(got->status, "done");
    ck_assert_int_eq(got->qty, -9);
    ck_assert_int_eq(got->level, 1);
    ck_assert(got->ratio == 2.25);
    ck_assert_str_eq(got->label, "l");
    dal_rows_free(rows);
}
END_TEST

/* ---- soft delete ------------------------------------------------------ */

static void insert_accts(const dal_model *m, acct *a, int n)
{
    static const char *const emails[] = {
        "a@x", "b@x", "c@x", "d@x", "e@x",
    };
    static const char *const tiers[] = {"gold", "free", "gold", "free",
                                        "gold"};
    int i;

    for (i = 0; i < n; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].email = (char *)emails[i];
        a[i].tier = (char *)tiers[i];
        a[i].score = (i + 1) * 10;
        CK_OK(dal_model_insert(db, m, &a[i]));
        ck_assert_int_eq(a[i].id, i + 1);
        ck_assert_int_eq(a[i].deleted_at, 0);
    }
}

static int64_t count_flags(const dal_model *m, dal_expr *cond, int flags)
{
    int64_t n = -1;

    CK_OK(dal_model_count(db, m, cond, flags, &n));
    return n;
}

START_TEST(t_soft_delete)
{
    dal_model m = on_table(&acct_model, "mt_soft");
    acct a[3];
    dal_rows *rows;
    acct *got;
    int64_t t0, t1;

    DROP("mt_soft");
    CK_OK(dal_model_create_table(db, &m));
    insert_accts(&m, a, 3);

    t0 = now_us();
    CK_OK(dal_model_delete(db, &m, &a[1]));
    t1 = now_us();
    ck_assert_msg(a[1].deleted_at >= t0 - 2000000 &&
                  a[1].deleted_at <= t1 + 2000000,
                  "deleted_at %" PRId64 " in the object, not now",
                  a[1].deleted_at);
    /* The row stays, marked. */
    ck_assert_int_eq(rows_in("mt_soft"), 3);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_soft WHERE id = 2 AND "
                          "deleted_at IS NOT NULL"), 1);
    ck_assert_int_eq(qint("SELECT deleted_at FROM mt_soft WHERE id = 2"),
                     a[1].deleted_at);

    /* find and default queries skip it. */
    find(&m, 2, &rows, DAL_DONE);
    dal_rows_free(rows);
    got = find(&m, 1, &rows, DAL_OK);
    ck_assert_str_eq(got->email, "a@x");
    dal_rows_free(rows);
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    CK_IDS(rows, 1, 3);
    dal_rows_free(rows);
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, DAL_WITH_DELETED, &rows));
    CK_IDS(rows, 1, 2, 3);
    got = dal_rows_at(rows, 1);
    ck_assert_int_eq(got->deleted_at, a[1].deleted_at);
    ck_assert_int_eq(((acct *)dal_rows_at(rows, 0))->deleted_at, 0);
    dal_rows_free(rows);
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, DAL_ONLY_DELETED, &rows));
    CK_IDS(rows, 2);
    dal_rows_free(rows);

    /* With a condition of the caller's. */
    CK_OK(dal_model_query(db, &m, dal_gt(dal_col("score"), dal_int(15)),
                          NULL, 0, 0, &rows));
    CK_IDS(rows, 3);
    dal_rows_free(rows);
    CK_OK(dal_model_query(db, &m, dal_gt(dal_col("score"), dal_int(15)),
                          dal_list(dal_desc(dal_col("score"))), 0,
                          DAL_WITH_DELETED, &rows));
    CK_IDS(rows, 3, 2);
    dal_rows_free(rows);

    /* count respects it. */
    ck_assert_int_eq(count_flags(&m, NULL, 0), 2);
    ck_assert_int_eq(count_flags(&m, NULL, DAL_WITH_DELETED), 3);
    ck_assert_int_eq(count_flags(&m, NULL, DAL_ONLY_DELETED), 1);
    ck_assert_int_eq(count_flags(&m, dal_eq(dal_col("tier"),
                                            dal_text("free")), 0), 0);
    ck_assert_int_eq(count_flags(&m, dal_eq(dal_col("tier"),
                                            dal_text("free")),
                                 DAL_ONLY_DELETED), 1);

    /* An update of a deleted row finds none. */
    a[1].score = 999;
    CK_RC(dal_model_update(db, &m, &a[1], NULL, 0), DAL_DONE);
    ck_assert_int_eq(qint("SELECT score FROM mt_soft WHERE id = 2"), 20);

    /* restore clears the mark, in the object and in the database. */
    CK_OK(dal_model_restore(db, &m, &a[1]));
    ck_assert_int_eq(a[1].deleted_at, 0);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_soft WHERE "
                          "deleted_at IS NULL"), 3);
    got = find(&m, 2, &rows, DAL_OK);
    ck_assert_str_eq(got->email, "b@x");
    ck_assert_int_eq(got->deleted_at, 0);
    dal_rows_free(rows);
    ck_assert_int_eq(count_flags(&m, NULL, 0), 3);
    ck_assert_int_eq(count_flags(&m, NULL, DAL_ONLY_DELETED), 0);

    /* Deleting a row that does not exist. */
    {
        acct ghost = {42, "g@x", NULL, 0, 0};

        CK_RC(dal_model_delete(db, &m, &ghost), DAL_DONE);
        ck_assert_int_eq(ghost.deleted_at, 0);
    }
    ck_assert_int_eq(rows_in("mt_soft"), 3);
}
END_TEST

START_TEST(t_soft_or)
{
    dal_model m = on_table(&acct_model, "mt_softor");
    acct a[3];
    dal_rows *rows;

    DROP("mt_softor");
    CK_OK(dal_model_create_table(db, &m));
    insert_accts(&m, a, 3);
    CK_OK(dal_model_delete(db, &m, &a[1]));

    /* cond OR cond: the deleted row must stay out (wrapped in
     * parentheses before the model's own condition is ANDed). */
    CK_OK(dal_model_query(db, &m,
                          dal_or(dal_eq(dal_col("email"), dal_text("a@x")),
                                 dal_eq(dal_col("email"), dal_text("b@x"))),
                          NULL, 0, 0, &rows));
    CK_IDS(rows, 1);
    dal_rows_free(rows);
    ck_assert_int_eq(count_flags(&m,
        dal_or(dal_eq(dal_col("email"), dal_text("a@x")),
               dal_eq(dal_col("email"), dal_text("b@x"))), 0), 1);
    /* Only b matches either arm; it is deleted: an empty set. */
    CK_RC(dal_model_query(db, &m,
                          dal_or(dal_eq(dal_col("tier"), dal_text("free")),
                                 dal_eq(dal_col("score"), dal_int(20))),
                          NULL, 0, 0, &rows), DAL_DONE);
    ck_assert_int_eq(dal_rows_count(rows), 0);
    dal_rows_free(rows);
    ck_assert_int_eq(count_flags(&m,
        dal_or(dal_eq(dal_col("tier"), dal_text("free")),
               dal_eq(dal_col("score"), dal_int(20))), 0), 0);

    /* The flags with an OR: each set as asked. */
    CK_OK(dal_model_query(db, &m,
                          dal_or(dal_eq(dal_col("email"), dal_text("a@x")),
                                 dal_eq(dal_col("email"), dal_text("b@x"))),
                          NULL, 0, DAL_WITH_DELETED, &rows));
    CK_IDS(rows, 1, 2);
    dal_rows_free(rows);
    CK_OK(dal_model_query(db, &m,
                          dal_or(dal_eq(dal_col("email"), dal_text("a@x")),
                                 dal_eq(dal_col("email"), dal_text("b@x"))),
                          NULL, 0, DAL_ONLY_DELETED, &rows));
    CK_IDS(rows, 2);
    dal_rows_free(rows);
    ck_assert_int_eq(count_flags(&m,
        dal_or(dal_eq(dal_col("email"), dal_text("a@x")),
               dal_eq(dal_col("email"), dal_text("c@x"))),
        DAL_ONLY_DELETED), 0);
}
END_TEST

START_TEST(t_soft_unique)
{
    dal_model m = on_table(&acct_model, "mt_softuniq");
    acct a[2], again, twice, nul;
    int64_t n;

    DROP("mt_softuniq");
    CK_OK(dal_model_create_table(db, &m));
    insert_accts(&m, a, 2);

    /* While a@x is live its email cannot be used again. */
    memset(&again, 0, sizeof again);
    again.email = "a@x";
    CK_ERR(dal_model_insert(db, &m, &again), DAL_E_CONSTRAINT, "23505",
           NULL);
    ck_assert_int_eq(rows_in("mt_softuniq"), 2);

    /* Once deleted, it can (the unique index is partial). */
    CK_OK(dal_model_delete(db, &m, &a[0]));
    memset(&again, 0, sizeof again);
    again.email = "a@x";
    again.tier = "new";
    CK_OK(dal_model_insert(db, &m, &again));
    /* PostgreSQL's sequence spent an id on the failed insert. */
    ck_assert_int_gt(again.id, 2);
    ck_assert_int_eq(rows_in("mt_softuniq"), 3);

    /* But not twice among live rows. */
    memset(&twice, 0, sizeof twice);
    twice.email = "a@x";
    CK_ERR(dal_model_insert(db, &m, &twice), DAL_E_CONSTRAINT, "23505",
           NULL);
    ck_assert_int_eq(rows_in("mt_softuniq"), 3);

    /* Restoring the old a@x would make two live ones. */
    CK_ERR(dal_model_restore(db, &m, &a[0]), DAL_E_CONSTRAINT, "23505",
           NULL);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_softuniq WHERE id = 1 "
                          "AND deleted_at IS NOT NULL"), 1);

    /* Two deleted rows may share a value. */
    CK_OK(dal_model_delete(db, &m, &again));
    memset(&twice, 0, sizeof twice);
    twice.email = "a@x";
    CK_OK(dal_model_insert(db, &m, &twice));
    ck_assert_int_gt(twice.id, again.id);
    n = count_flags(&m, dal_eq(dal_col("email"), dal_text("a@x")),
                    DAL_ONLY_DELETED);
    ck_assert_int_eq(n, 2);

    /* NOT NULL still holds. */
    memset(&nul, 0, sizeof nul);
    CK_ERR(dal_model_insert(db, &m, &nul), DAL_E_CONSTRAINT, "23502",
           NULL);
    ck_assert_int_eq(rows_in("mt_softuniq"), 4);
}
END_TEST

/* ---- JSON ------------------------------------------------------------- */

START_TEST(t_json_path)
{
    dal_model m = on_table(&rec_model, "mt_json");
    static const char *const docs[] = {
        "{\"theme\":\"dark\",\"size\":1}", "{\"theme\":\"light\"}",
        "{\"theme\":\"dark\",\"size\":3,\"deep\":{\"k\":\"v\"}}", NULL,
        "[\"dark\"]",
    };
    dal_rows *rows;
    int i;

    DROP("mt_json");
    CK_OK(dal_model_create_table(db, &m));
    for (i = 0; i < NELEM(docs); i++) {
        rec r;

        memset(&r, 0, sizeof r);
        r.settings = (char *)docs[i];
        insert_rec(&m, &r, i + 1);
    }
    CK_OK(dal_model_query(db, &m,
                          dal_eq(dal_json_get(dal_col("settings"),
                                              "$.theme"),
                                 dal_text("dark")),
                          NULL, 0, 0, &rows));
    CK_IDS(rows, 1, 3);
    ck_assert(same_json(((rec *)dal_rows_at(rows, 1))->settings, docs[2]));
    dal_rows_free(rows);
    ck_assert_int_eq(count_flags(&m, dal_eq(dal_json_get(dal_col("settings"),
                                                         "$.theme"),
                                            dal_text("dark")), 0), 2);
    CK_OK(dal_model_query(db, &m,
                          dal_gt(dal_json_get_int(dal_col("settings"),
                                                  "$.size"),
                                 dal_int(1)),
                          NULL, 0, 0, &rows));
    CK_IDS(rows, 3);
    dal_rows_free(rows);
    CK_OK(dal_model_query(db, &m,
                          dal_eq(dal_json_get(dal_col("settings"),
                                              "$.deep.k"),
                                 dal_text("v")),
                          NULL, 0, 0, &rows));
    CK_IDS(rows, 3);
    dal_rows_free(rows);
}
END_TEST

START_TEST(t_json_invalid)
{
    dal_model m = on_table(&rec_model, "mt_jsonbad");
    rec ok, bad;
    int rc;

    DROP("mt_jsonbad");
    CK_OK(dal_model_create_table(db, &m));
    memset(&ok, 0, sizeof ok);
    ok.settings = "{\"a\":1}";
    insert_rec(&m, &ok, 1);

    memset(&bad, 0, sizeof bad);
    bad.settings = "{not json";
    bad.name = "bad";
    rc = dal_model_insert(db, &m, &bad);
    ck_assert_msg(rc != DAL_OK && rc != DAL_DONE && rc != DAL_ROW,
                  "invalid JSON inserted (rc %d)", rc);
    if (is_pg())
        CK_ERR(rc, DAL_E_DATA, "22P02", NULL);
    else
        CK_ERR(rc, DAL_E_CONSTRAINT, "23514", NULL);
    ck_assert_int_eq(rows_in("mt_jsonbad"), 1);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_jsonbad WHERE name = "
                          "'bad'"), 0);

    /* Nor by update. */
    bad.id = 1;
    rc = dal_model_update(db, &m, &bad, NULL, 0);
    ck_assert_msg(rc != DAL_OK && rc != DAL_DONE && rc != DAL_ROW,
                  "invalid JSON written by update (rc %d)", rc);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_jsonbad WHERE name IS "
                          "NULL"), 1);
    check_row(&m, 1, &ok);
}
END_TEST

/* ---- validation ------------------------------------------------------- */

static valrow good_val(void)
{
    valrow v;

    memset(&v, 0, sizeof v);
    v.name = "12345678";     /* max_len 8, exactly */
    v.age = 150;             /* the range's ends are allowed */
    v.ratio = -1.0;
    v.code = "ABC";
    v.pic = "\x00\x01\x02\x03";
    v.pic_len = 4;
    return v;
}

/* The last error's message contains why (NULL: anything). */
static void ck_says(const char *why)
{
    const char *msg = dal_errmsg(db);

    if (why != NULL)
        ck_assert_msg(msg != NULL && strstr(msg, why) != NULL,
                      "\"%s\" is not in: %s", why, S(msg));
}

/* insert of v fails validation naming field (and saying why, when why is
 * not NULL); nothing is written. */
#define CK_INVALID_WHY(v, field, why) do { \
    valrow v_ = (v); \
    CK_ERR(dal_model_insert(db, &m, &v_), DAL_E_DATA, "22023", (field)); \
    ck_says(why); \
    ck_assert_int_eq(v_.id, 0); \
    ck_assert_int_eq(rows_in("mt_val"), nrows); \
} while (0)
#define CK_INVALID(v, field) CK_INVALID_WHY(v, field, (const char *)NULL)

START_TEST(t_validate)
{
    dal_model m = on_table(&val_model, "mt_val");
    valrow v, w;
    int64_t nrows = 0;
    dal_rows *rows;
    valrow *got;

    DROP("mt_val");
    CK_OK(dal_model_create_table(db, &m));
    v = good_val();
    CK_OK(dal_model_insert(db, &m, &v));
    ck_assert_int_eq(v.id, 1);
    ck_assert_int_gt(upper_calls, 0);
    nrows = 1;
    v = good_val();
    v.age = 0;
    v.ratio = 1.0;
    v.name = NULL;   /* NULL is no length */
    v.code = NULL;
    CK_OK(dal_model_insert(db, &m, &v));
    nrows = 2;

    /* max_len counts bytes: 9 bytes, and 5 characters in 10 bytes. */
    w = good_val();
    w.name = "123456789";
    CK_INVALID(w, "name");
    w = good_val();
    w.name = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    CK_INVALID(w, "name");
    /* Blob length too. */
    w = good_val();
    w.pic = "\x00\x01\x02\x03\x04";
    w.pic_len = 5;
    CK_INVALID(w, "pic");
    /* Range, on both sides, integer and double. */
    w = good_val();
    w.age = 151;
    CK_INVALID(w, "age");
    w = good_val();
    w.age = -1;
    CK_INVALID(w, "age");
    w = good_val();
    w.ratio = 1.0000001;
    CK_INVALID(w, "ratio");
    w = good_val();
    w.ratio = -1.5;
    CK_INVALID(w, "ratio");
    /* The custom rule, with its message. */
    w = good_val();
    w.code = "abc";
    CK_INVALID_WHY(w, "code", "only upper-case letters allowed");

    /* update validates too, and leaves the row as it was. */
    w = good_val();
    w.id = 1;
    w.age = 200;
    w.name = "changed";
    CK_ERR(dal_model_update(db, &m, &w, NULL, 0), DAL_E_DATA, "22023",
           "age");
    w = good_val();
    w.id = 1;
    w.code = "lower";
    CK_ERR(dal_model_save(db, &m, &w), DAL_E_DATA, "22023", "code");
    got = find(&m, 1, &rows, DAL_OK);
    ck_assert_str_eq(got->name, "12345678");
    ck_assert_int_eq(got->age, 150);
    ck_assert_str_eq(got->code, "ABC");
    ck_assert_int_eq(got->pic_len, 4);
    ck_assert(memcmp(got->pic, "\x00\x01\x02\x03", 4) == 0);
    dal_rows_free(rows);
    ck_assert_int_eq(rows_in("mt_val"), 2);
}
END_TEST

/* ---- hooks ------------------------------------------------------------ */

START_TEST(t_hooks_save)
{
    dal_model m = on_table(&hk_model, "mt_hooks");
    hk a = {0, "alpha", 1, 0}, r = {0, "refuse", 2, 0};
    dal_rows *rows;
    hk *got;

    DROP("mt_hooks");
    CK_OK(dal_model_create_table(db, &m));

    /* before_save changes a field; what it wrote is what is stored. */
    CK_OK(dal_model_insert(db, &m, &a));
    ck_assert_int_eq(a.id, 1);
    ck_assert_int_eq(a.n, 1001);
    ck_assert_int_eq(n_before_save, 1);
    ck_assert_int_eq(n_after_save, 1);
    ck_assert_int_eq(after_save_id, 1);
    ck_assert_int_eq(qint("SELECT n FROM mt_hooks WHERE id = 1"), 1001);

    /* before_save refusing: its code, and no row. */
    CK_ERR(dal_model_insert(db, &m, &r), DAL_E_CONSTRAINT, NULL, NULL);
    ck_assert_int_eq(r.id, 0);
    ck_assert_int_eq(rows_in("mt_hooks"), 1);
    ck_assert_int_eq(n_before_save, 2);
    ck_assert_int_eq(n_after_save, 1);

    /* On update too. */
    a.name = "beta";
    CK_OK(dal_model_update(db, &m, &a, NULL, 0));
    ck_assert_int_eq(n_before_save, 3);
    ck_assert_int_eq(n_after_save, 2);
    ck_assert_int_eq(qint("SELECT n FROM mt_hooks WHERE id = 1"), 2001);
    a.name = "refuse";
    CK_ERR(dal_model_update(db, &m, &a, NULL, 0), DAL_E_CONSTRAINT, NULL,
           NULL);
    ck_assert_int_eq(n_after_save, 2);
    got = find(&m, 1, &rows, DAL_OK);
    ck_assert_str_eq(got->name, "beta");
    dal_rows_free(rows);

    /* save runs them as well. */
    a.name = "gamma";
    CK_OK(dal_model_save(db, &m, &a));
    ck_assert_int_eq(n_after_save, 3);
    ck_assert_int_eq(after_save_id, 1);
    r.id = 0;
    CK_ERR(dal_model_save(db, &m, &r), DAL_E_CONSTRAINT, NULL, NULL);
    ck_assert_int_eq(rows_in("mt_hooks"), 1);
}
END_TEST

START_TEST(t_hooks_delete_load)
{
    dal_model m = on_table(&hk_model, "mt_hookdel");
    hk rows3[3] = {{0, "keep", 0, 0}, {0, "go", 0, 0}, {0, "x", 0, 0}};
    dal_rows *rows;
    int i;

    DROP("mt_hookdel");
    CK_OK(dal_model_create_table(db, &m));
    for (i = 0; i < 3; i++) {
        CK_OK(dal_model_insert(db, &m, &rows3[i]));
        ck_assert_int_eq(rows3[i].id, i + 1);
    }

    /* after_load: once per row loaded, on each row. */
    n_after_load = 0;
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    ck_assert_int_eq(dal_rows_count(rows), 3);
    ck_assert_int_eq(n_after_load, 3);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(((hk *)dal_rows_at(rows, i))->loaded, 1);
    dal_rows_free(rows);
    n_after_load = 0;
    CK_OK(dal_model_query(db, &m, NULL, NULL, 2, 0, &rows));
    ck_assert_int_eq(n_after_load, 2);
    dal_rows_free(rows);
    n_after_load = 0;
    ck_assert_ptr_nonnull(find(&m, 2, &rows, DAL_OK));
    ck_assert_int_eq(n_after_load, 1);
    ck_assert_int_eq(((hk *)dal_rows_at(rows, 0))->loaded, 1);
    dal_rows_free(rows);

    /* before_delete refusing: its code, and the row stays. */
    CK_ERR(dal_model_delete(db, &m, &rows3[0]), DAL_E_READONLY, NULL,
           NULL);
    ck_assert_int_eq(n_before_delete, 1);
    ck_assert_int_eq(rows_in("mt_hookdel"), 3);
    CK_OK(dal_model_delete(db, &m, &rows3[1]));
    ck_assert_int_eq(n_before_delete, 2);
    ck_assert_int_eq(rows_in("mt_hookdel"), 2);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_hookdel WHERE id = 2"),
                     0);
}
END_TEST

/* ---- descriptors that cannot work ------------------------------------- */

typedef struct odd {
    int64_t key_one;
    int64_t key_two;
    char *code_txt;
    int label_int;
    int64_t gone_num;
    char *gone_txt;
    int64_t plain;
    int32_t small_int;
} odd;

static const dal_field nopk_fields[] = {
    DAL_FIELD(odd, plain, DAL_F_INT64, 0),
    DAL_FIELD(odd, code_txt, DAL_F_TEXT, 0),
};
static const dal_field twopk_fields[] = {
    DAL_FIELD(odd, key_one, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(odd, key_two, DAL_F_INT64, DAL_F_PK),
    DAL_FIELD(odd, code_txt, DAL_F_TEXT, 0),
};
static const dal_field autotext_fields[] = {
    DAL_FIELD(odd, code_txt, DAL_F_TEXT, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(odd, plain, DAL_F_INT64, 0),
};
static const dal_field sizetext_fields[] = {
    DAL_FIELD(odd, key_one, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(odd, label_int, DAL_F_TEXT, 0),
};
static const dal_field sizeint32_fields[] = {
    DAL_FIELD(odd, key_one, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(odd, plain, DAL_F_INT32, 0),
};
static const dal_field softnum_fields[] = {
    DAL_FIELD(odd, key_one, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(odd, gone_num, DAL_F_INT64, DAL_F_SOFT_DELETE),
};
static const dal_field softtxt_fields[] = {
    DAL_FIELD(odd, key_one, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(odd, gone_txt, DAL_F_TEXT, DAL_F_SOFT_DELETE),
};

static const struct bad_case {
    const char *what;
    dal_model m;
    const char *field; /* the name the message must contain, or NULL */
} bad_cases[] = {
    {"no primary key", DAL_MODEL(odd, "mt_bad_nopk", nopk_fields), NULL},
    {"two primary keys", DAL_MODEL(odd, "mt_bad_twopk", twopk_fields),
     "key_two"},
    {"DAL_F_AUTO on TEXT",
     DAL_MODEL(odd, "mt_bad_autotext", autotext_fields), "code_txt"},
    {"TEXT on an int member",
     DAL_MODEL(odd, "mt_bad_sizetext", sizetext_fields), "label_int"},
    {"INT32 on an int64_t member",
     DAL_MODEL(odd, "mt_bad_sizeint32", sizeint32_fields), "plain"},
    {"DAL_F_SOFT_DELETE on INT64",
     DAL_MODEL(odd, "mt_bad_softnum", softnum_fields), "gone_num"},
    {"DAL_F_SOFT_DELETE on TEXT",
     DAL_MODEL(odd, "mt_bad_softtxt", softtxt_fields), "gone_txt"},
};

/* Every call on a bad model is DAL_E_MISUSE naming the field, before
 * anything reaches the database. */
START_TEST(t_bad_descriptor)
{
    const struct bad_case *c = &bad_cases[_i];
    const dal_model *m = &c->m;
    const char *alt = NULL;
    dal_rows *rows;
    dal_value pk = DAL_V_INT64(1);
    int64_t n = -5;
    odd o;
    const char *msg;

    /* Two primary keys: either may be the one named. */
    if (_i == 1)
        alt = "key_one";
    drop_tables(&m->table, 1);
    memset(&o, 0, sizeof o);
    o.key_one = 1;
    o.code_txt = "x";

#define CK_MISUSE(expr) do { \
        int rc_ = (expr); \
        ck_assert_msg(rc_ == DAL_E_MISUSE && \
                      dal_errcode(db) == DAL_E_MISUSE, \
                      "%s: %s -> %d (%s): %s", c->what, #expr, rc_, \
                      dal_errstr(rc_), S(dal_errmsg(db))); \
        msg = dal_errmsg(db); \
        ck_assert_msg(msg != NULL && msg[0] != '\0' && \
                      strcmp(msg, "not an error") != 0, \
                      "%s: %s: no message", c->what, #expr); \
        ck_assert_msg(c->field == NULL || strstr(msg, c->field) || \
                      (alt && strstr(msg, alt)), \
                      "%s: %s: message does not name %s: %s", c->what, \
                      #expr, S(c->field), msg); \
    } while (0)

    CK_MISUSE(dal_model_check(db, m));
    CK_MISUSE(dal_model_create_table(db, m));
    ck_assert_msg(!table_exists(m->table), "%s: table created", c->what);
    CK_MISUSE(dal_model_insert(db, m, &o));
    CK_MISUSE(dal_model_update(db, m, &o, NULL, 0));
    CK_MISUSE(dal_model_save(db, m, &o));
    CK_MISUSE(dal_model_delete(db, m, &o));
    CK_MISUSE(dal_model_restore(db, m, &o));
    rows = NULL;
    CK_MISUSE(dal_model_find(db, m, &pk, &rows));
    ck_assert_int_eq(dal_rows_count(rows), 0);
    dal_rows_free(rows);
    rows = NULL;
    CK_MISUSE(dal_model_query(db, m, dal_eq(dal_col("plain"), dal_int(1)),
                              dal_list(dal_asc(dal_col("plain"))), 0, 0,
                              &rows));
    ck_assert_int_eq(dal_rows_count(rows), 0);
    dal_rows_free(rows);
    CK_MISUSE(dal_model_count(db, m, dal_eq(dal_col("plain"), dal_int(1)),
                              0, &n));
    CK_MISUSE(dal_model_bulk_create(db, m, &o, 1, 0));
    CK_MISUSE(dal_model_bulk_update(db, m, &o, 1, NULL, 0, &n));
    CK_MISUSE(dal_model_bulk_delete(db, m, dal_eq(dal_col("plain"),
                                                  dal_int(1)), 0, &n));
    /* Asking again gives the same answer. */
    CK_MISUSE(dal_model_check(db, m));
    ck_assert_msg(!table_exists(m->table), "%s: table created", c->what);
#undef CK_MISUSE
}
END_TEST

/* A good model passes; the handle is not left with an error. */
START_TEST(t_good_descriptors)
{
    CK_OK(dal_model_check(db, &rec_model));
    ck_assert_int_eq(dal_errcode(db), DAL_OK);
    CK_OK(dal_model_check(db, &stamped_model));
    CK_OK(dal_model_check(db, &defd_model));
    CK_OK(dal_model_check(db, &acct_model));
    CK_OK(dal_model_check(db, &tag_model));
    CK_OK(dal_model_check(db, &val_model));
    CK_OK(dal_model_check(db, &hk_model));
    /* After a failure, a good model still passes. */
    ck_assert_int_eq(dal_model_check(db, &bad_cases[0].m), DAL_E_MISUSE);
    CK_OK(dal_model_check(db, &rec_model));
    ck_assert_int_eq(dal_errcode(db), DAL_OK);
}
END_TEST

/* ---- memory ----------------------------------------------------------- */

START_TEST(t_rows_take)
{
    dal_model m = on_table(&rec_model, "mt_take");
    rec r[4], kept, kept2, *in_set;
    dal_rows *rows;
    int i;

    DROP("mt_take");
    CK_OK(dal_model_create_table(db, &m));
    for (i = 0; i < 4; i++) {
        r[i] = sample(i);
        insert_rec(&m, &r[i], i + 1);
    }
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    ck_assert_int_eq(dal_rows_count(rows), 4);
    memset(&kept, 0x5a, sizeof kept);
    memset(&kept2, 0x5a, sizeof kept2);
    CK_OK(dal_rows_take(rows, 0, &kept));
    CK_OK(dal_rows_take(rows, 1, &kept2));
    in_set = dal_rows_at(rows, 0);
    /* Its own copies, not pointers into the set. */
    ck_assert_ptr_ne(kept.name, in_set->name);
    ck_assert_ptr_ne(kept.data, in_set->data);
    ck_assert_ptr_ne(kept.settings, in_set->settings);
    ck_assert_int_eq(dal_rows_take(rows, 4, &kept2), DAL_E_RANGE);
    ck_assert_int_eq(dal_rows_take(rows, -1, &kept2), DAL_E_RANGE);
    /* Scribble over the set's memory before it goes, to catch sharing. */
    memset(in_set->name, 'X', strlen(in_set->name));
    dal_rows_free(rows);

    {
        rec want0 = sample(0), want1 = sample(1);

        check_rec(&kept, &want0, 1);
        check_rec(&kept2, &want1, 2);
    }
    /* The copy can be written back. */
    kept.i32 = 11;
    CK_OK(dal_model_update(db, &m, &kept, NULL, 0));
    dal_model_free_row(&m, &kept);
    dal_model_free_row(&m, &kept2);
    ck_assert_int_eq(qint("SELECT i32 FROM mt_take WHERE id = 1"), 11);
}
END_TEST

#define ARENA_ROWS 1000

START_TEST(t_arena)
{
    dal_model m = on_table(&rec_model, "mt_arena");
    char name[32], json[48];
    unsigned char bytes[3];
    dal_rows *rows;
    long blocks, calls;
    int i;

    DROP("mt_arena");
    CK_OK(dal_model_create_table(db, &m));
    CK_OK(dal_begin(db, 0));
    for (i = 0; i < ARENA_ROWS; i++) {
        rec r;

        memset(&r, 0, sizeof r);
        snprintf(name, sizeof name, "row %d \xc3\xa9", i);
        snprintf(json, sizeof json, "{\"i\":%d}", i);
        bytes[0] = 0;
        bytes[1] = (unsigned char)i;
        bytes[2] = (unsigned char)(i >> 8);
        r.name = name;
        r.settings = json;
        r.data = bytes;
        r.data_len = 3;
        r.big = (int64_t)i * 1000000007;
        r.ts = INT64_C(1700000000000000) + i;
        CK_OK(dal_model_insert(db, &m, &r));
        ck_assert_int_eq(r.id, i + 1);
    }
    CK_OK(dal_commit(db));

    /* A first run prepares the statement, which the connection's
     * statement cache then keeps: measure the second. */
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    ck_assert_int_eq(dal_rows_count(rows), ARENA_ROWS);
    dal_rows_free(rows);
    blocks = live_blocks;
    calls = alloc_calls;
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    calls = alloc_calls - calls;
    ck_assert_int_eq(dal_rows_count(rows), ARENA_ROWS);
    for (i = 0; i < ARENA_ROWS; i++) {
        rec *r = dal_rows_at(rows, i);
        const unsigned char *b;

        snprintf(name, sizeof name, "row %d \xc3\xa9", i);
        snprintf(json, sizeof json, "{\"i\":%d}", i);
        ck_assert_int_eq(r->id, i + 1);
        ck_assert_str_eq(r->name, name);
        ck_assert(same_json(r->settings, json));
        ck_assert_int_eq(r->data_len, 3);
        b = r->data;
        ck_assert(b[0] == 0 && b[1] == (unsigned char)i &&
                  b[2] == (unsigned char)(i >> 8));
        ck_assert_int_eq(r->big, (int64_t)i * 1000000007);
        ck_assert_int_eq(r->ts, INT64_C(1700000000000000) + i);
    }
    /* Text, JSON and blob of 1000 rows take no allocation each. */
    ck_assert_msg(calls < ARENA_ROWS, "loading %d rows made %ld "
                  "allocations", ARENA_ROWS, calls);
    dal_rows_free(rows);
    ck_assert_msg(live_blocks == blocks, "libdal holds %ld blocks after "
                  "dal_rows_free, %ld before the query", live_blocks,
                  blocks);

    /* Once more, with a condition, a limit and a take. */
    {
        rec kept;

        CK_OK(dal_model_query(db, &m, dal_ge(dal_col("id"), dal_int(500)),
                              dal_list(dal_desc(dal_col("id"))), 300, 0,
                              &rows));
        ck_assert_int_eq(dal_rows_count(rows), 300);
        ck_assert_int_eq(((rec *)dal_rows_at(rows, 0))->id, ARENA_ROWS);
        CK_OK(dal_rows_take(rows, 299, &kept));
        dal_rows_free(rows);
        ck_assert_int_eq(kept.id, ARENA_ROWS - 299);
        snprintf(name, sizeof name, "row %d \xc3\xa9", ARENA_ROWS - 300);
        ck_assert_str_eq(kept.name, name);
        dal_model_free_row(&m, &kept);
    }
}
END_TEST

/* ---- edges found along the way --------------------------------------- */

/* A text default the database chose comes back like the numbers do
 * (model.h: insert fills "the other values the database chose" back
 * into obj). dal_model_free_row() is the one function that frees a
 * struct's text, so it is used for it here. */
START_TEST(t_defaults_text)
{
    dal_model m = on_table(&defd_model, "mt_deftext");
    defd d;

    DROP("mt_deftext");
    CK_OK(dal_model_create_table(db, &m));
    memset(&d, 0, sizeof d);
    CK_OK(dal_model_insert(db, &m, &d));
    ck_assert_int_eq(d.id, 1);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_deftext WHERE status = "
                          "'new'"), 1);
    /* model.h: a text default the database chose is not filled back
     * (the caller owns obj's text); the row has it. */
    ck_assert_ptr_null(d.status);
    dal_model_free_row(&m, &d);
}
END_TEST

/* Every column left to the database: refused (model.h), as no portable
 * INSERT names no column; nothing is written. */
typedef struct counter {
    int64_t id;
    int64_t hits;
    double weight;
} counter;

static const dal_field counter_fields[] = {
    DAL_FIELD(counter, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DEF_FIELD(counter, hits, DAL_F_INT64, "5"),
    DEF_FIELD(counter, weight, DAL_F_DOUBLE, "1.5"),
};
static const dal_model counter_model =
    DAL_MODEL(counter, "mt_counter", counter_fields);

START_TEST(t_defaults_only)
{
    dal_model m = on_table(&counter_model, "mt_counter");
    counter c;

    DROP("mt_counter");
    CK_OK(dal_model_create_table(db, &m));
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(dal_model_insert(db, &m, &c), DAL_E_UNSUPPORTED);
    ck_assert_int_eq(rows_in("mt_counter"), 0);
    /* One value of its own is enough; the defaults come back. */
    c.hits = 7;
    CK_OK(dal_model_insert(db, &m, &c));
    ck_assert_int_eq(c.id, 1);
    ck_assert_int_eq(c.hits, 7);
    ck_assert(c.weight == 1.5);
    ck_assert_int_eq(rows_in("mt_counter"), 1);
}
END_TEST

/* An empty blob is not NULL: zero bytes at a non-NULL pointer. */
START_TEST(t_empty_blob)
{
    dal_model m = on_table(&rec_model, "mt_emptyblob");
    rec r;
    dal_rows *rows;
    rec *got;

    DROP("mt_emptyblob");
    CK_OK(dal_model_create_table(db, &m));
    memset(&r, 0, sizeof r);
    r.data = "";
    r.data_len = 0;
    r.name = "";
    insert_rec(&m, &r, 1);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_emptyblob WHERE data IS "
                          "NOT NULL AND length(data) = 0 AND name = ''"), 1);
    got = find(&m, 1, &rows, DAL_OK);
    ck_assert_int_eq(got->data_len, 0);
    ck_assert_ptr_nonnull(got->data);
    ck_assert_ptr_nonnull(got->name);
    ck_assert_str_eq(got->name, "");
    dal_rows_free(rows);
}
END_TEST

/* An update of named fields writes only those, so only those are
 * checked: a struct that holds just the id and the new value works. */
START_TEST(t_update_named_partial)
{
    dal_model m = on_table(&acct_model, "mt_updpart");
    dal_model v = on_table(&val_model, "mt_updpartv");
    acct a[1], part;
    valrow ok, vpart;

    DROP("mt_updpart", "mt_updpartv");
    CK_OK(dal_model_create_table(db, &m));
    insert_accts(&m, a, 1);
    memset(&part, 0, sizeof part);
    part.id = a[0].id;
    part.score = 77;
    /* email is NOT NULL, and NULL in part: not written, not checked. */
    CK_OK(dal_model_update(db, &m, &part, (const char *const[]){"score"},
                           1));
    ck_assert_int_eq(qint("SELECT score FROM mt_updpart WHERE id = 1"), 77);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_updpart WHERE email = "
                          "'a@x'"), 1);

    CK_OK(dal_model_create_table(db, &v));
    ok = good_val();
    CK_OK(dal_model_insert(db, &v, &ok));
    memset(&vpart, 0, sizeof vpart);
    vpart.id = ok.id;
    vpart.age = 40;
    vpart.name = "much longer than eight bytes";
    vpart.code = "lower";
    CK_OK(dal_model_update(db, &v, &vpart, (const char *const[]){"age"},
                           1));
    ck_assert_int_eq(qint("SELECT age FROM mt_updpartv WHERE id = 1"), 40);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_updpartv WHERE name = "
                          "'12345678' AND code = 'ABC'"), 1);
    /* A named field is still checked. */
    vpart.age = 400;
    CK_ERR(dal_model_update(db, &v, &vpart, (const char *const[]){"age"},
                            1), DAL_E_DATA, "22023", "age");
    ck_assert_int_eq(qint("SELECT age FROM mt_updpartv WHERE id = 1"), 40);
}
END_TEST

/* save() of an id with no row inserts it; the ids generated afterwards
 * must not collide with it, on either backend. */
START_TEST(t_save_missing_id)
{
    dal_model m = on_table(&rec_model, "mt_saveid");
    rec a = sample(0), b = sample(1), c = sample(2);

    DROP("mt_saveid");
    CK_OK(dal_model_create_table(db, &m));
    insert_rec(&m, &a, 1);
    b.id = 2;
    CK_OK(dal_model_save(db, &m, &b));
    check_row(&m, b.id, &b);
    ck_assert_int_eq(rows_in("mt_saveid"), 2);
    CK_OK(dal_model_insert(db, &m, &c));
    ck_assert_int_ne(c.id, 0);
    ck_assert_int_ne(c.id, a.id);
    ck_assert_int_ne(c.id, b.id);
    ck_assert_int_eq(rows_in("mt_saveid"), 3);
    check_row(&m, c.id, &c);
}
END_TEST

/* A hook's refusal is the error on the handle, whatever error an
 * earlier call left there. */
START_TEST(t_hooks_after_error)
{
    dal_model m = on_table(&hk_model, "mt_hookerr");
    hk keep = {0, "keep", 0, 0}, r = {0, "refuse", 0, 0};
    const char *msg;

    DROP("mt_hookerr");
    CK_OK(dal_model_create_table(db, &m));
    CK_OK(dal_model_insert(db, &m, &keep));

    ck_assert_int_eq(dal_exec(db, "SELECT * FROM mt_no_such_table"),
                     DAL_E_SYNTAX);
    CK_ERR(dal_model_insert(db, &m, &r), DAL_E_CONSTRAINT, NULL, NULL);
    msg = dal_errmsg(db);
    ck_assert_msg(strstr(msg, "mt_no_such_table") == NULL,
                  "the message is the earlier error's: %s", msg);
    ck_assert_int_eq(rows_in("mt_hookerr"), 1);

    ck_assert_int_eq(dal_exec(db, "SELECT * FROM mt_no_such_table"),
                     DAL_E_SYNTAX);
    CK_ERR(dal_model_delete(db, &m, &keep), DAL_E_READONLY, NULL, NULL);
    msg = dal_errmsg(db);
    ck_assert_msg(strstr(msg, "mt_no_such_table") == NULL,
                  "the message is the earlier error's: %s", msg);
    ck_assert_int_eq(rows_in("mt_hookerr"), 1);
}
END_TEST

/* Names that must be quoted: an SQL keyword as a member, a table name
 * with a space and a hyphen. */
typedef struct kw {
    int64_t id;
    char *order;
    int64_t group;
    int64_t when;
} kw;

static const dal_field kw_fields[] = {
    DAL_FIELD(kw, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(kw, order, DAL_F_TEXT, DAL_F_UNIQUE),
    DAL_FIELD(kw, group, DAL_F_INT64, DAL_F_INDEXED),
    DAL_FIELD(kw, when, DAL_F_TIMESTAMP, DAL_F_SOFT_DELETE),
};
static const dal_model kw_model = DAL_MODEL(kw, "mt order-by", kw_fields);

START_TEST(t_quoted_names)
{
    const dal_model *m = &kw_model;
    kw a = {0, "first", 2, 0}, b = {0, "second", 1, 0}, c;
    dal_rows *rows;
    kw *got;

    DROP("\"mt order-by\"");
    CK_OK(dal_model_create_table(db, m));
    CK_OK(dal_model_create_table(db, m));
    CK_OK(dal_model_insert(db, m, &a));
    CK_OK(dal_model_insert(db, m, &b));
    ck_assert_int_eq(a.id, 1);
    ck_assert_int_eq(b.id, 2);
    got = find(m, 2, &rows, DAL_OK);
    ck_assert_str_eq(got->order, "second");
    ck_assert_int_eq(got->group, 1);
    dal_rows_free(rows);
    CK_OK(dal_model_query(db, m, dal_like(dal_col("order"), dal_text("%s%")),
                          dal_list(dal_asc(dal_col("group"))), 0, 0,
                          &rows));
    CK_IDS(rows, 2, 1);
    dal_rows_free(rows);
    ck_assert_int_eq(count_flags(m, dal_gt(dal_col("group"), dal_int(1)),
                                 0), 1);
    a.group = 9;
    CK_OK(dal_model_update(db, m, &a, (const char *const[]){"group"}, 1));
    ck_assert_int_eq(qint("SELECT \"group\" FROM \"mt order-by\" "
                          "WHERE id = 1"), 9);
    CK_OK(dal_model_delete(db, m, &a));
    ck_assert_int_ne(a.when, 0);
    ck_assert_int_eq(count_flags(m, NULL, 0), 1);
    memset(&c, 0, sizeof c);
    c.order = "first";
    CK_OK(dal_model_insert(db, m, &c));
    CK_ERR(dal_model_restore(db, m, &a), DAL_E_CONSTRAINT, "23505", NULL);
    CK_OK(dal_model_delete(db, m, &c));
    CK_OK(dal_model_restore(db, m, &a));
    ck_assert_int_eq(count_flags(m, NULL, DAL_WITH_DELETED), 3);
    ck_assert_int_eq(count_flags(m, NULL, 0), 2);
}
END_TEST

/* NULL arguments are DAL_E_MISUSE, not a crash; taken expressions are
 * freed all the same (the teardown's leak check). */
START_TEST(t_bad_args)
{
    dal_model m = on_table(&acct_model, "mt_badargs");
    dal_model plain = on_table(&rec_model, "mt_badargs2");
    dal_value pk = DAL_V_INT64(1);
    dal_rows *rows;
    int64_t n = -3;
    acct a;
    rec r;

    DROP("mt_badargs", "mt_badargs2");
    CK_OK(dal_model_create_table(db, &m));
    CK_OK(dal_model_create_table(db, &plain));
    memset(&a, 0, sizeof a);
    memset(&r, 0, sizeof r);
    a.id = 1;
    r.id = 1;

    CK_ERR(dal_model_check(db, NULL), DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_create_table(db, NULL), DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_insert(db, NULL, &a), DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_insert(db, &m, NULL), DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_update(db, &m, NULL, NULL, 0), DAL_E_MISUSE, NULL,
           NULL);
    CK_ERR(dal_model_update(db, &m, &a, NULL, 1), DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_update(db, &m, &a, NULL, -1), DAL_E_MISUSE, NULL,
           NULL);
    CK_ERR(dal_model_save(db, &m, NULL), DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_delete(db, &m, NULL), DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_restore(db, &m, NULL), DAL_E_MISUSE, NULL, NULL);
    /* restore needs a soft-delete model. */
    CK_ERR(dal_model_restore(db, &plain, &r), DAL_E_MISUSE, NULL, NULL);
    rows = NULL;
    CK_ERR(dal_model_find(db, &m, NULL, &rows), DAL_E_MISUSE, NULL, NULL);
    ck_assert_ptr_null(rows);
    CK_ERR(dal_model_find(db, &m, &pk, NULL), DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_query(db, &m, dal_eq(dal_col("id"), dal_int(1)),
                           dal_list(dal_asc(dal_col("id"))), 0, 0, NULL),
           DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_query(db, NULL, dal_eq(dal_col("id"), dal_int(1)),
                           dal_list(dal_asc(dal_col("id"))), 0, 0, &rows),
           DAL_E_MISUSE, NULL, NULL);
    ck_assert_ptr_null(rows);
    CK_ERR(dal_model_count(db, &m, dal_eq(dal_col("id"), dal_int(1)), 0,
                           NULL), DAL_E_MISUSE, NULL, NULL);
    ck_assert_int_eq(n, -3);

    /* No handle at all. */
    ck_assert_int_eq(dal_model_check(NULL, &m), DAL_E_MISUSE);
    ck_assert_int_eq(dal_model_create_table(NULL, &m), DAL_E_MISUSE);
    ck_assert_int_eq(dal_model_insert(NULL, &m, &a), DAL_E_MISUSE);
    ck_assert_int_eq(dal_model_update(NULL, &m, &a, NULL, 0),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_model_save(NULL, &m, &a), DAL_E_MISUSE);
    ck_assert_int_eq(dal_model_delete(NULL, &m, &a), DAL_E_MISUSE);
    ck_assert_int_eq(dal_model_restore(NULL, &m, &a), DAL_E_MISUSE);
    ck_assert_int_eq(dal_model_find(NULL, &m, &pk, &rows), DAL_E_MISUSE);
    ck_assert_int_eq(dal_model_query(NULL, &m,
                                     dal_eq(dal_col("id"), dal_int(1)),
                                     dal_list(dal_asc(dal_col("id"))), 0,
                                     0, &rows), DAL_E_MISUSE);
    ck_assert_int_eq(dal_model_count(NULL, &m,
                                     dal_eq(dal_col("id"), dal_int(1)), 0,
                                     &n), DAL_E_MISUSE);

    /* The set functions take NULL. */
    ck_assert_int_eq(dal_rows_count(NULL), 0);
    ck_assert_ptr_null(dal_rows_at(NULL, 0));
    ck_assert_int_eq(dal_rows_take(NULL, 0, &a), DAL_E_RANGE);
    dal_rows_free(NULL);
    dal_model_free_row(&m, NULL);
    dal_model_free_row(NULL, &a);
    ck_assert_int_eq(rows_in("mt_badargs"), 0);
}
END_TEST

/* ---- suite ------------------------------------------------------------ */

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return tc;
}

/* dal_model_diff: nothing to do after create_table; an extra column
 * gives the operation that removes it, and applying it levels again. */
typedef struct diffed {
    int64_t id;
    char *name;
    double score;
    int64_t deleted_at;
} diffed;

static const dal_field diffed_fields[] = {
    DAL_FIELD(diffed, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(diffed, name, DAL_F_TEXT, DAL_F_UNIQUE | DAL_F_NOT_NULL),
    DAL_FIELD(diffed, score, DAL_F_DOUBLE, DAL_F_INDEXED),
    DAL_FIELD(diffed, deleted_at, DAL_F_TIMESTAMP, DAL_F_SOFT_DELETE),
};
static const dal_model diffed_model =
    DAL_MODEL(diffed, "mt_diffed", diffed_fields);

static int diff_ops(const dal_model *m, int apply)
{
    const dal_model *ms[1] = {m};
    dal_schema_op **ops = NULL;
    char *notes = NULL;
    int n = -1, i;

    CK_OK(dal_model_diff(db, ms, 1, &ops, &n, &notes));
    ck_assert_msg(notes == NULL, "notes: %s", notes);
    for (i = 0; i < n; i++) {
        if (apply)
            CK_OK(dal_schema_apply(db, ops[i]));
        dal_schema_op_free(ops[i]);
    }
    dal_free(ops);
    return n;
}

START_TEST(t_model_diff)
{
    DROP("mt_diffed");
    /* A missing table: create table and its two indexes. */
    ck_assert_int_eq(diff_ops(&diffed_model, 0), 3);
    CK_OK(dal_model_create_table(db, &diffed_model));
    ck_assert_int_eq(diff_ops(&diffed_model, 0), 0);
    CK_OK(dal_exec(db, "ALTER TABLE mt_diffed ADD COLUMN extra TEXT"));
    ck_assert_int_eq(diff_ops(&diffed_model, 1), 1);
    ck_assert_int_eq(diff_ops(&diffed_model, 0), 0);
    DROP("mt_diffed");
    ck_assert_int_eq(diff_ops(&diffed_model, 1), 3);
    ck_assert_int_eq(diff_ops(&diffed_model, 0), 0);
}
END_TEST

/* ---- bulk operations --------------------------------------------------- */

/* A unique NOT NULL field, a max_len rule and both timestamps. */
typedef struct item {
    int64_t id;
    char *sku;
    int64_t qty;
    double price;
    char *note;
    int64_t created_at;
    int64_t updated_at;
} item;

#define NOTE_MAX 40

static const dal_field item_fields[] = {
    DAL_FIELD(item, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(item, sku, DAL_F_TEXT, DAL_F_UNIQUE | DAL_F_NOT_NULL),
    DAL_FIELD(item, qty, DAL_F_INT64, 0),
    DAL_FIELD(item, price, DAL_F_DOUBLE, 0),
    VAL_FIELD(item, note, DAL_F_TEXT, NOTE_MAX, 0, 0, NULL),
    DAL_FIELD(item, created_at, DAL_F_TIMESTAMP, DAL_F_CREATED_AT),
    DAL_FIELD(item, updated_at, DAL_F_TIMESTAMP, DAL_F_UPDATED_AT),
};
static const dal_model item_model = DAL_MODEL(item, "mt_item", item_fields);

/* 41 bytes: one more than the note's max_len. */
#define NOTE_TOO_LONG "12345678901234567890123456789012345678901"

/* An array of n items and the text they point to (plain malloc: the
 * caller's memory, not libdal's). */
typedef struct item_set {
    int n;
    item *v;
    char (*sku)[32];
    char (*note)[48];
} item_set;

static void items_make(item_set *s, int n, const char *prefix)
{
    size_t k = n > 0 ? (size_t)n : 1;
    int i;

    s->n = n;
    s->v = test_calloc(k, sizeof *s->v);
    s->sku = test_calloc(k, sizeof *s->sku);
    s->note = test_calloc(k, sizeof *s->note);
    for (i = 0; i < n; i++) {
        snprintf(s->sku[i], sizeof s->sku[i], "%s-%05d", prefix, i);
        s->v[i].sku = s->sku[i];
        s->v[i].qty = (int64_t)i * 3 - 7;
        s->v[i].price = i + 0.25;
        if (i % 7) {
            snprintf(s->note[i], sizeof s->note[i], "note %d \xc3\xa9", i);
            s->v[i].note = s->note[i];
        }
    }
}

static void items_free(item_set *s)
{
    test_free(s->v);
    test_free(s->sku);
    test_free(s->note);
    memset(s, 0, sizeof *s);
}

/* t's ids and text, with the ids (and stamps) of from. */
static void items_take_ids(item_set *t, const item_set *from)
{
    int i;

    ck_assert_int_eq(t->n, from->n);
    for (i = 0; i < t->n; i++) {
        t->v[i].id = from->v[i].id;
        t->v[i].created_at = from->v[i].created_at;
        t->v[i].updated_at = from->v[i].updated_at;
    }
}

static void ck_item(const item *got, const item *want, int k)
{
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(got->id == want->id, "item %d: id %" PRId64 ", want %"
                  PRId64, k, got->id, want->id);
    ck_assert_msg(same_text(got->sku, want->sku), "item %d: sku %s, want "
                  "%s", k, S(got->sku), S(want->sku));
    ck_assert_msg(got->qty == want->qty, "item %d: qty %" PRId64 ", want %"
                  PRId64, k, got->qty, want->qty);
    ck_assert_msg(got->price == want->price, "item %d: price %.17g, want "
                  "%.17g", k, got->price, want->price);
    ck_assert_msg(same_text(got->note, want->note), "item %d: note %s, "
                  "want %s", k, S(got->note), S(want->note));
    ck_assert_msg(got->created_at == want->created_at, "item %d: "
                  "created_at %" PRId64 ", want %" PRId64, k,
                  got->created_at, want->created_at);
    ck_assert_msg(got->updated_at == want->updated_at, "item %d: "
                  "updated_at %" PRId64 ", want %" PRId64, k,
                  got->updated_at, want->updated_at);
}

/* Every id set, in the order of the array (as bulk_create fills them). */
static void ck_ids_ascending(const item_set *s)
{
    int i;

    for (i = 0; i < s->n; i++)
        ck_assert_msg(s->v[i].id > 0 && (i == 0 ||
                                         s->v[i].id > s->v[i - 1].id),
                      "item %d: id %" PRId64 " after %" PRId64, i,
                      s->v[i].id, i ? s->v[i - 1].id : 0);
}

/* Every id 0: nothing filled in, or set back after an error. */
static void ck_ids_zero(const item_set *s)
{
    int i;

    for (i = 0; i < s->n; i++)
        ck_assert_msg(s->v[i].id == 0, "item %d: id %" PRId64 " after a "
                      "failed bulk_create, want 0", i, s->v[i].id);
}

/* m's table holds exactly s's rows (ids ascending in s), field for
 * field. */
static void ck_items_db(const dal_model *m, const item_set *s)
{
    dal_rows *rows = NULL;
    int k;

    CK_RC(dal_model_query(db, m, NULL, NULL, 0, 0, &rows),
          s->n ? DAL_OK : DAL_DONE);
    ck_assert_int_eq(dal_rows_count(rows), s->n);
    for (k = 0; k < s->n; k++)
        ck_item(dal_rows_at(rows, k), &s->v[k], k);
    dal_rows_free(rows);
}

/* A timestamp the library set "now", between t0 and t1 (with slack for
 * clock granularity). */
#define CK_NOW(v, t0, t1, what, k) \
    ck_assert_msg((v) >= (t0) - 2000000 && (v) <= (t1) + 2000000, \
                  "%s of item %d: %" PRId64 " not within [%" PRId64 \
                  ", %" PRId64 "]", (what), (k), (int64_t)(v), \
                  (int64_t)(t0), (int64_t)(t1))

#define BULK_N 1234

START_TEST(t_bulk_create)
{
    dal_model m = on_table(&item_model, "mt_bulk");
    static const int probe[] = {0, 1, 498, 499, 500, 501, 999, 1000, 1001,
                                1232, 1233};
    item_set s;
    dal_rows *rows;
    int64_t t0, t1, n = -1, nulls = 0;
    int i;

    DROP("mt_bulk");
    CK_OK(dal_model_create_table(db, &m));
    items_make(&s, BULK_N, "sku");
    t0 = now_us();
    CK_OK(dal_model_bulk_create(db, &m, s.v, s.n, 0));
    t1 = now_us();
    ck_assert_int_eq(dal_tx_depth(db), 0);

    /* Every row, once: three statements' worth (500 + 500 + 234). */
    ck_assert_int_eq(rows_in("mt_bulk"), BULK_N);
    CK_OK(dal_model_count(db, &m, NULL, 0, &n));
    ck_assert_int_eq(n, BULK_N);
    ck_assert_int_eq(qint("SELECT count(DISTINCT sku) FROM mt_bulk"),
                     BULK_N);

    /* Ids filled back in the order of the rows: a fresh table's ids. */
    ck_ids_ascending(&s);
    for (i = 0; i < BULK_N; i++) {
        ck_assert_msg(s.v[i].id == i + 1, "item %d: id %" PRId64
                      ", want %d", i, s.v[i].id, i + 1);
        CK_NOW(s.v[i].created_at, t0, t1, "created_at", i);
        CK_NOW(s.v[i].updated_at, t0, t1, "updated_at", i);
        if (s.v[i].note == NULL)
            nulls++;
    }
    /* The caller's text is left alone. */
    ck_assert_ptr_eq(s.v[7].sku, s.sku[7]);
    ck_assert_ptr_null(s.v[7].note);

    /* Each id is its row's, with the values sent and the stamps. */
    ck_items_db(&m, &s);
    for (i = 0; i < NELEM(probe); i++) {
        item *got = find(&m, s.v[probe[i]].id, &rows, DAL_OK);

        ck_item(got, &s.v[probe[i]], probe[i]);
        dal_rows_free(rows);
    }
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulk WHERE note IS "
                          "NULL"), nulls);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulk WHERE created_at "
                          "IS NULL OR updated_at IS NULL"), 0);
    ck_assert_int_eq(qint("SELECT qty FROM mt_bulk WHERE sku = "
                          "'sku-01000'"), 2993);

    /* n 0: DAL_OK and nothing written, objs NULL or not. */
    CK_OK(dal_model_bulk_create(db, &m, s.v, 0, 0));
    CK_OK(dal_model_bulk_create(db, &m, NULL, 0, 0));
    CK_OK(dal_model_bulk_create(db, &m, NULL, 0, DAL_BULK_NO_IDS));
    ck_assert_int_eq(rows_in("mt_bulk"), BULK_N);

    /* Misuse, and nothing written. */
    CK_ERR(dal_model_bulk_create(db, &m, NULL, 3, 0), DAL_E_MISUSE, NULL,
           NULL);
    CK_ERR(dal_model_bulk_create(db, &m, s.v, -1, 0), DAL_E_MISUSE, NULL,
           NULL);
    CK_ERR(dal_model_bulk_create(db, NULL, s.v, 1, 0), DAL_E_MISUSE, NULL,
           NULL);
    ck_assert_int_eq(dal_model_bulk_create(NULL, &m, s.v, 1, 0),
                     DAL_E_MISUSE);
    ck_assert_int_eq(rows_in("mt_bulk"), BULK_N);
    ck_assert_int_eq(s.v[0].id, 1);

    /* The generator moved past the rows: a later insert is new. */
    {
        item one;

        memset(&one, 0, sizeof one);
        one.sku = "after";
        CK_OK(dal_model_insert(db, &m, &one));
        ck_assert_int_eq(one.id, BULK_N + 1);
    }
    items_free(&s);
}
END_TEST

START_TEST(t_bulk_no_ids)
{
    dal_model m = on_table(&item_model, "mt_bulknoid");
    item_set s;
    dal_rows *rows = NULL;
    char *seen;
    int64_t t0, t1;
    int i;

    DROP("mt_bulknoid");
    CK_OK(dal_model_create_table(db, &m));
    items_make(&s, 777, "nid");
    t0 = now_us();
    CK_OK(dal_model_bulk_create(db, &m, s.v, s.n, DAL_BULK_NO_IDS));
    t1 = now_us();
    ck_assert_int_eq(rows_in("mt_bulknoid"), 777);
    /* Ids stay 0; the stamps are set all the same. */
    ck_ids_zero(&s);
    for (i = 0; i < s.n; i++) {
        CK_NOW(s.v[i].created_at, t0, t1, "created_at", i);
        CK_NOW(s.v[i].updated_at, t0, t1, "updated_at", i);
    }

    /* Every row is there once, with its values (matched by sku). */
    seen = test_calloc((size_t)s.n, 1);
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    ck_assert_int_eq(dal_rows_count(rows), s.n);
    for (i = 0; i < s.n; i++) {
        item *got = dal_rows_at(rows, i), want;
        int k = -1;

        ck_assert_msg(got->sku && sscanf(got->sku, "nid-%d", &k) == 1 &&
                      k >= 0 && k < s.n && !seen[k], "row %d: sku %s",
                      i, S(got->sku));
        seen[k] = 1;
        ck_assert_int_gt(got->id, 0);
        want = s.v[k];
        want.id = got->id;
        ck_item(got, &want, k);
    }
    dal_rows_free(rows);
    test_free(seen);
    items_free(&s);
}
END_TEST

/* Every field type, NULLs and edge values, through the bulk path. */
START_TEST(t_bulk_types)
{
    dal_model m = on_table(&rec_model, "mt_bulktypes");
    enum { N = 1001 };
    rec *r = test_calloc(N, sizeof *r);
    dal_rows *rows;
    int i;

    DROP("mt_bulktypes");
    CK_OK(dal_model_create_table(db, &m));
    for (i = 0; i < N; i++)
        r[i] = sample(i % 4);
    CK_OK(dal_model_bulk_create(db, &m, r, N, 0));
    ck_assert_int_eq(rows_in("mt_bulktypes"), N);
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    ck_assert_int_eq(dal_rows_count(rows), N);
    for (i = 0; i < N; i++) {
        rec want = sample(i % 4);

        ck_assert_int_eq(r[i].id, i + 1);
        check_rec(dal_rows_at(rows, i), &want, i + 1);
    }
    dal_rows_free(rows);
    /* NULLs went as NULLs: sample 1, every fourth row. */
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulktypes WHERE name "
                          "IS NULL AND data IS NULL AND ts IS NULL AND "
                          "settings IS NULL"), (N + 2) / 4);
    test_free(r);
}
END_TEST

/* Rows that leave different DAL_F_DEFAULT fields to the database, in
 * runs and interleaved: different statements, one order of ids. */
START_TEST(t_bulk_defaults)
{
    dal_model m = on_table(&defd_model, "mt_bulkdef");
    enum { N = 700 };
    static char status[N][16], label[N][16];
    defd *d = test_calloc(N, sizeof *d);
    dal_rows *rows;
    int i;

    DROP("mt_bulkdef");
    CK_OK(dal_model_create_table(db, &m));
    for (i = 0; i < N; i++) {
        int kind = i < 400 ? i % 4 : i < 600 ? 1 : 0;

        snprintf(label[i], sizeof label[i], "l%d", i);
        d[i].label = label[i];
        if (kind == 1 || kind == 3) {
            snprintf(status[i], sizeof status[i], "s%d", i);
            d[i].status = status[i];
        }
        if (kind == 1 || kind == 2)
            d[i].qty = i + 1;
        if (kind == 1) {
            d[i].level = 2;
            d[i].ratio = 0.25;
        }
    }
    CK_OK(dal_model_bulk_create(db, &m, d, N, 0));
    ck_assert_int_eq(rows_in("mt_bulkdef"), N);
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    ck_assert_int_eq(dal_rows_count(rows), N);
    for (i = 0; i < N; i++) {
        defd *got = dal_rows_at(rows, i);
        int kind = i < 400 ? i % 4 : i < 600 ? 1 : 0;

        ck_assert_msg(d[i].id == i + 1, "row %d: id %" PRId64, i, d[i].id);
        ck_assert_int_eq(got->id, d[i].id);
        ck_assert_str_eq(got->label, label[i]);
        ck_assert_str_eq(got->status, kind == 1 || kind == 3 ? status[i]
                                                             : "new");
        ck_assert_int_eq(got->qty, kind == 1 || kind == 2 ? i + 1 : 7);
        ck_assert_int_eq(got->level, kind == 1 ? 2 : 3);
        ck_assert(got->ratio == (kind == 1 ? 0.25 : 0.5));
    }
    dal_rows_free(rows);
    test_free(d);
}
END_TEST

/* Explicit ids on a DAL_F_AUTO key among generated ones, in one call:
 * all inserted, and no generated id, in the call or after it, takes an
 * explicit one (SQLite takes max + 1; PostgreSQL's sequence has to be
 * moved past them, as dal_model_insert does). */
START_TEST(t_bulk_mixed_ids)
{
    dal_model m = on_table(&item_model, "mt_bulkmix");
    static const int64_t given[] = {0, 0, 3, 4, 0, 0, 100, 0, 200};
    item_set s, more;
    dal_rows *rows;
    item one;
    int i, k;

    DROP("mt_bulkmix");
    CK_OK(dal_model_create_table(db, &m));
    items_make(&s, NELEM(given), "mix");
    for (i = 0; i < s.n; i++)
        s.v[i].id = given[i];
    CK_OK(dal_model_bulk_create(db, &m, s.v, s.n, 0));
    ck_assert_int_eq(rows_in("mt_bulkmix"), s.n);
    for (i = 0; i < s.n; i++) {
        item *got;

        if (given[i])
            ck_assert_int_eq(s.v[i].id, given[i]);
        ck_assert_int_gt(s.v[i].id, 0);
        for (k = 0; k < i; k++)
            ck_assert_msg(s.v[k].id != s.v[i].id, "items %d and %d: id %"
                          PRId64, k, i, s.v[i].id);
        got = find(&m, s.v[i].id, &rows, DAL_OK);
        ck_item(got, &s.v[i], i);
        dal_rows_free(rows);
    }

    /* Later generated ids do not collide either. */
    memset(&one, 0, sizeof one);
    one.sku = "one more";
    CK_OK(dal_model_insert(db, &m, &one));
    for (i = 0; i < s.n; i++)
        ck_assert_int_ne(one.id, s.v[i].id);
    items_make(&more, 3, "more");
    CK_OK(dal_model_bulk_create(db, &m, more.v, more.n, 0));
    for (k = 0; k < more.n; k++) {
        ck_assert_int_gt(more.v[k].id, 0);
        ck_assert_int_ne(more.v[k].id, one.id);
        for (i = 0; i < s.n; i++)
            ck_assert_int_ne(more.v[k].id, s.v[i].id);
    }
    ck_assert_int_eq(rows_in("mt_bulkmix"), s.n + 1 + more.n);
    items_free(&more);
    items_free(&s);
}
END_TEST

/* All or nothing: an error at row 700 (of 1000: the second statement)
 * leaves no row of the call, and every id 0 again. */
START_TEST(t_bulk_create_atomic)
{
    dal_model m = on_table(&item_model, "mt_bulkatom");
    item_set s;
    item pre;
    dal_rows *rows;
    int i;

    DROP("mt_bulkatom");
    CK_OK(dal_model_create_table(db, &m));
    memset(&pre, 0, sizeof pre);
    pre.sku = "taken";
    CK_OK(dal_model_insert(db, &m, &pre));
    items_make(&s, 1000, "at");

    /* A duplicate of a row already in the table. */
    s.v[700].sku = "taken";
    CK_ERR(dal_model_bulk_create(db, &m, s.v, s.n, 0), DAL_E_CONSTRAINT,
           "23505", NULL);
    ck_assert_int_eq(rows_in("mt_bulkatom"), 1);
    ck_ids_zero(&s);
    ck_assert_int_eq(dal_tx_depth(db), 0);

    /* A duplicate within the call: row 700 repeats row 10, whose
     * statement (the first 500 rows) had gone through. */
    s.v[700].sku = s.sku[10];
    CK_ERR(dal_model_bulk_create(db, &m, s.v, s.n, 0), DAL_E_CONSTRAINT,
           "23505", NULL);
    ck_assert_int_eq(rows_in("mt_bulkatom"), 1);
    ck_ids_zero(&s);
    s.v[700].sku = s.sku[700];

    /* Also with DAL_BULK_NO_IDS. */
    s.v[900].sku = s.sku[20];
    CK_ERR(dal_model_bulk_create(db, &m, s.v, s.n, DAL_BULK_NO_IDS),
           DAL_E_CONSTRAINT, "23505", NULL);
    ck_assert_int_eq(rows_in("mt_bulkatom"), 1);
    s.v[900].sku = s.sku[900];

    /* An explicit id that is taken: the primary key, 23505 too. */
    s.v[650].id = pre.id;
    CK_ERR(dal_model_bulk_create(db, &m, s.v, s.n, 0), DAL_E_CONSTRAINT,
           "23505", NULL);
    ck_assert_int_eq(rows_in("mt_bulkatom"), 1);
    for (i = 0; i < s.n; i++)
        if (i != 650)
            ck_assert_msg(s.v[i].id == 0, "item %d: id %" PRId64, i,
                          s.v[i].id);
    s.v[650].id = 0;

    /* Validation, before anything is sent: NOT NULL (what the database
     * would say) and max_len, each naming the field. */
    s.v[700].sku = NULL;
    CK_ERR(dal_model_bulk_create(db, &m, s.v, s.n, 0), DAL_E_CONSTRAINT,
           "23502", "sku");
    ck_assert_int_eq(rows_in("mt_bulkatom"), 1);
    ck_ids_zero(&s);
    s.v[700].sku = s.sku[700];
    s.v[999].note = NOTE_TOO_LONG;
    CK_ERR(dal_model_bulk_create(db, &m, s.v, s.n, 0), DAL_E_DATA,
           "22023", "note");
    ck_assert_int_eq(rows_in("mt_bulkatom"), 1);
    ck_ids_zero(&s);
    s.v[999].note = NULL;
    ck_assert_int_eq(dal_tx_depth(db), 0);

    /* The handle is fine: the same rows, fixed, go in. */
    CK_OK(dal_model_bulk_create(db, &m, s.v, s.n, 0));
    ck_assert_int_eq(rows_in("mt_bulkatom"), 1001);
    ck_ids_ascending(&s);
    for (i = 0; i < s.n; i++)
        ck_assert_int_ne(s.v[i].id, pre.id);
    for (i = 0; i < s.n; i += 111) {
        item *got = find(&m, s.v[i].id, &rows, DAL_OK);

        ck_item(got, &s.v[i], i);
        dal_rows_free(rows);
    }
    items_free(&s);
}
END_TEST

/* Inside the caller's transaction: a savepoint. A failure undoes the
 * call only (the caller's transaction goes on, on PostgreSQL too); a
 * success is undone by the caller's rollback. */
START_TEST(t_bulk_create_tx)
{
    dal_model m = on_table(&item_model, "mt_bulktx");
    item_set s, r;
    item first, second;

    DROP("mt_bulktx");
    CK_OK(dal_model_create_table(db, &m));
    items_make(&s, 600, "tx");

    CK_OK(dal_begin(db, 0));
    memset(&first, 0, sizeof first);
    first.sku = "first";
    CK_OK(dal_model_insert(db, &m, &first));
    s.v[550].sku = "first";
    CK_ERR(dal_model_bulk_create(db, &m, s.v, s.n, 0), DAL_E_CONSTRAINT,
           "23505", NULL);
    ck_ids_zero(&s);
    ck_assert_int_eq(dal_tx_depth(db), 1);
    /* The caller's insert is still there, and the transaction works. */
    ck_assert_int_eq(rows_in("mt_bulktx"), 1);
    memset(&second, 0, sizeof second);
    second.sku = "second";
    CK_OK(dal_model_insert(db, &m, &second));
    /* A validation failure, the same. */
    s.v[550].sku = NULL;
    CK_ERR(dal_model_bulk_create(db, &m, s.v, s.n, 0), DAL_E_CONSTRAINT,
           "23502", "sku");
    ck_assert_int_eq(dal_tx_depth(db), 1);
    ck_assert_int_eq(rows_in("mt_bulktx"), 2);
    /* And a success inside the transaction. */
    s.v[550].sku = s.sku[550];
    CK_OK(dal_model_bulk_create(db, &m, s.v, s.n, 0));
    ck_ids_ascending(&s);
    ck_assert_int_eq(dal_tx_depth(db), 1);
    ck_assert_int_eq(rows_in("mt_bulktx"), 602);
    CK_OK(dal_commit(db));
    ck_assert_int_eq(dal_tx_depth(db), 0);
    ck_assert_int_eq(rows_in("mt_bulktx"), 602);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulktx WHERE sku IN "
                          "('first', 'second')"), 2);

    /* The call does not commit the caller's transaction. */
    items_make(&r, 5, "rolled");
    CK_OK(dal_begin(db, 0));
    CK_OK(dal_model_bulk_create(db, &m, r.v, r.n, 0));
    ck_assert_int_eq(dal_tx_depth(db), 1);
    ck_assert_int_eq(rows_in("mt_bulktx"), 607);
    CK_OK(dal_rollback(db));
    ck_assert_int_eq(rows_in("mt_bulktx"), 602);
    items_free(&r);
    items_free(&s);
}
END_TEST

/* No hook runs in a bulk operation. */
START_TEST(t_bulk_hooks)
{
    dal_model m = on_table(&hk_model, "mt_bulkhook");
    hk h[3] = {{0, "keep", 1, 0}, {0, "refuse", 2, 0}, {0, "x", 3, 0}};
    int64_t n = -1;

    DROP("mt_bulkhook");
    CK_OK(dal_model_create_table(db, &m));
    CK_OK(dal_model_bulk_create(db, &m, h, 3, 0));
    ck_assert_int_eq(n_before_save, 0);
    ck_assert_int_eq(n_after_save, 0);
    ck_assert_int_eq(h[1].n, 2);
    ck_assert_int_eq(qint("SELECT sum(n) FROM mt_bulkhook"), 6);
    h[0].n = 10;
    h[1].n = 20;
    h[2].n = 30;
    CK_OK(dal_model_bulk_update(db, &m, h, 3, NULL, 0, &n));
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(n_before_save, 0);
    ck_assert_int_eq(n_after_save, 0);
    ck_assert_int_eq(qint("SELECT sum(n) FROM mt_bulkhook"), 60);
    /* before_delete would refuse "keep". */
    n = -1;
    CK_OK(dal_model_bulk_delete(db, &m, dal_gt(dal_col("n"), dal_int(0)),
                                0, &n));
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(n_before_delete, 0);
    ck_assert_int_eq(rows_in("mt_bulkhook"), 0);
}
END_TEST

static int n_updates;

static int count_updates(const dal_event *ev, void *data)
{
    (void)data;
    n_updates += ev->stmt_kind == DAL_SK_UPDATE;
    return DAL_OK;
}

START_TEST(t_bulk_update)
{
    dal_model m = on_table(&item_model, "mt_bulkupd");
    static const char *const named[] = {"qty", "note"};
    static const char *const bad[] = {"qty", "nope"};
    item_set orig, upd, upd2, ghost;
    int64_t changed = -1, t0, t1, *stamp;
    dal_rows *rows;
    int i;

    DROP("mt_bulkupd");
    CK_OK(dal_model_create_table(db, &m));
    items_make(&orig, 1000, "u");
    CK_OK(dal_model_bulk_create(db, &m, orig.v, orig.n, 0));
    ck_ids_ascending(&orig);

    /* Every field of every row. */
    items_make(&upd, 1000, "new");
    items_take_ids(&upd, &orig);
    for (i = 0; i < upd.n; i++) {
        upd.v[i].qty = 10000 + i;
        upd.v[i].price = -i - 0.5;
        upd.v[i].note = i % 5 ? upd.note[i] : NULL;
    }
    sleep_ms(20);
    t0 = now_us();
    {
        /* Count the UPDATE statements: PostgreSQL sends a batch of
         * rows per UPDATE ... FROM (VALUES ...), SQLite one per row. */
        dal_observer *obs = NULL;
        dal_hook h;

        memset(&h, 0, sizeof h);
        h.events = DAL_EVENT_BIT(DAL_EV_AFTER);
        h.fn = count_updates;
        n_updates = 0;
        CK_OK(dal_observer_new(&obs));
        CK_OK(dal_observer_add(obs, &h));
        CK_OK(dal_observe(db, obs));
        CK_OK(dal_model_bulk_update(db, &m, upd.v, upd.n, NULL, 0,
                                    &changed));
        CK_OK(dal_observe(db, NULL));
        CK_OK(dal_observer_free(obs));
        ck_assert_int_eq(n_updates, is_pg() ? 2 : 1000);
    }
    t1 = now_us();
    ck_assert_int_eq(changed, 1000);
    ck_assert_int_eq(dal_tx_depth(db), 0);
    stamp = test_calloc((size_t)upd.n, sizeof *stamp);
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    ck_assert_int_eq(dal_rows_count(rows), 1000);
    for (i = 0; i < upd.n; i++) {
        item *got = dal_rows_at(rows, i), want = upd.v[i];

        /* created_at kept; updated_at now, later than before. */
        CK_NOW(got->updated_at, t0, t1, "updated_at", i);
        ck_assert_int_gt(got->updated_at, orig.v[i].updated_at);
        want.created_at = orig.v[i].created_at;
        want.updated_at = got->updated_at;
        ck_item(got, &want, i);
        stamp[i] = got->updated_at;
    }
    dal_rows_free(rows);

    /* Named fields only: the others are not written (nor validated: a
     * NULL sku is fine). */
    items_make(&upd2, 1000, "zzz");
    items_take_ids(&upd2, &orig);
    for (i = 0; i < upd2.n; i++) {
        upd2.v[i].qty = 20000 + i;
        upd2.v[i].price = 12345.5;
        snprintf(upd2.note[i], sizeof upd2.note[i], "named %d", i);
        upd2.v[i].note = upd2.note[i];
    }
    upd2.v[3].sku = NULL;
    sleep_ms(20);
    changed = -1;
    CK_OK(dal_model_bulk_update(db, &m, upd2.v, upd2.n, named, 2,
                                &changed));
    ck_assert_int_eq(changed, 1000);
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    ck_assert_int_eq(dal_rows_count(rows), 1000);
    for (i = 0; i < upd2.n; i++) {
        item *got = dal_rows_at(rows, i), want = upd.v[i];

        want.qty = 20000 + i;
        want.note = upd2.note[i];
        want.created_at = orig.v[i].created_at;
        ck_assert_int_gt(got->updated_at, stamp[i]);
        want.updated_at = got->updated_at;
        ck_item(got, &want, i);
    }
    dal_rows_free(rows);

    /* Structs built by hand (created_at 0): created_at stays, as with
     * dal_model_update. */
    {
        item hand[3];

        memset(hand, 0, sizeof hand);
        for (i = 0; i < 3; i++) {
            hand[i].id = orig.v[i].id;
            hand[i].sku = orig.sku[i];
            hand[i].qty = -1;
        }
        changed = -1;
        CK_OK(dal_model_bulk_update(db, &m, hand, 3, NULL, 0, &changed));
        ck_assert_int_eq(changed, 3);
        for (i = 0; i < 3; i++) {
            item *got = find(&m, orig.v[i].id, &rows, DAL_OK);

            ck_assert_int_eq(got->qty, -1);
            ck_assert_str_eq(got->sku, orig.sku[i]);
            ck_assert_int_eq(got->created_at, orig.v[i].created_at);
            dal_rows_free(rows);
        }
    }

    /* A struct whose row does not exist is skipped, not an error. */
    items_make(&ghost, 5, "ghost");
    for (i = 0; i < 5; i++)
        ghost.v[i].id = orig.v[10 + i].id;
    ghost.v[2].id = orig.v[999].id + 100000;
    changed = -1;
    CK_OK(dal_model_bulk_update(db, &m, ghost.v, ghost.n, NULL, 0,
                                &changed));
    ck_assert_int_eq(changed, 4);
    ck_assert_int_eq(rows_in("mt_bulkupd"), 1000);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkupd WHERE sku LIKE "
                          "'ghost-%'"), 4);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkupd WHERE sku = "
                          "'ghost-00002'"), 0);
    /* changed may be NULL. */
    ghost.v[0].qty = 4242;
    CK_OK(dal_model_bulk_update(db, &m, ghost.v, 1, NULL, 0, NULL));
    ck_assert_int_eq(qint("SELECT qty FROM mt_bulkupd WHERE sku = "
                          "'ghost-00000'"), 4242);

    /* Misuse; a name that is not a field: an error, nothing written. */
    CK_ERR(dal_model_bulk_update(db, &m, NULL, 2, NULL, 0, &changed),
           DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_bulk_update(db, &m, ghost.v, -1, NULL, 0, &changed),
           DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_bulk_update(db, &m, ghost.v, 1, NULL, 1, &changed),
           DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_bulk_update(db, &m, ghost.v, 1, named, -1, &changed),
           DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_bulk_update(db, NULL, ghost.v, 1, NULL, 0, &changed),
           DAL_E_MISUSE, NULL, NULL);
    ck_assert_int_eq(dal_model_bulk_update(NULL, &m, ghost.v, 1, NULL, 0,
                                           &changed), DAL_E_MISUSE);
    ghost.v[0].qty = 1;
    {
        int rc = dal_model_bulk_update(db, &m, ghost.v, 1, bad, 2,
                                       &changed);

        ck_assert_msg(rc != DAL_OK && rc != DAL_DONE && rc != DAL_ROW,
                      "bulk_update of an unknown field -> %d", rc);
    }
    ck_assert_int_eq(qint("SELECT qty FROM mt_bulkupd WHERE sku = "
                          "'ghost-00000'"), 4242);
    test_free(stamp);
    items_free(&ghost);
    items_free(&upd2);
    items_free(&upd);
    items_free(&orig);
}
END_TEST

/* Soft-deleted rows are not updated (restore them first). */
START_TEST(t_bulk_update_soft)
{
    dal_model m = on_table(&acct_model, "mt_bulkupdsoft");
    enum { N = 10 };
    static const char *const score_only[] = {"score"};
    static char email[N][16];
    acct a[N];
    int64_t changed = -1;
    int i;

    DROP("mt_bulkupdsoft");
    CK_OK(dal_model_create_table(db, &m));
    memset(a, 0, sizeof a);
    for (i = 0; i < N; i++) {
        snprintf(email[i], sizeof email[i], "a%d@x", i);
        a[i].email = email[i];
        a[i].tier = "t";
        a[i].score = i;
    }
    CK_OK(dal_model_bulk_create(db, &m, a, N, 0));
    CK_OK(dal_model_delete(db, &m, &a[2]));
    CK_OK(dal_model_delete(db, &m, &a[5]));
    for (i = 0; i < N; i++)
        a[i].score = 1000 + i;
    CK_OK(dal_model_bulk_update(db, &m, a, N, NULL, 0, &changed));
    ck_assert_int_eq(changed, N - 2);
    ck_assert_int_eq(qint("SELECT score FROM mt_bulkupdsoft WHERE email = "
                          "'a2@x'"), 2);
    ck_assert_int_eq(qint("SELECT score FROM mt_bulkupdsoft WHERE email = "
                          "'a5@x'"), 5);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkupdsoft WHERE "
                          "score >= 1000"), N - 2);
    /* Still deleted. */
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkupdsoft WHERE "
                          "deleted_at IS NOT NULL"), 2);
    for (i = 0; i < N; i++)
        a[i].score = 2000 + i;
    changed = -1;
    CK_OK(dal_model_bulk_update(db, &m, a, N, score_only, 1, &changed));
    ck_assert_int_eq(changed, N - 2);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkupdsoft WHERE "
                          "score >= 2000"), N - 2);
    ck_assert_int_eq(qint("SELECT score FROM mt_bulkupdsoft WHERE email = "
                          "'a5@x'"), 5);
}
END_TEST

/* All or nothing: an error at struct 500 (of 1000) leaves every row as
 * it was, updated_at included. */
START_TEST(t_bulk_update_atomic)
{
    dal_model m = on_table(&item_model, "mt_bulkupdat");
    static const char *const qty_only[] = {"qty"};
    item_set orig, upd;
    item extra;
    int64_t changed;
    int i;

    DROP("mt_bulkupdat");
    CK_OK(dal_model_create_table(db, &m));
    items_make(&orig, 1000, "a");
    CK_OK(dal_model_bulk_create(db, &m, orig.v, orig.n, 0));
    items_make(&upd, 1000, "new");
    items_take_ids(&upd, &orig);
    for (i = 0; i < upd.n; i++)
        upd.v[i].qty = 50000 + i;
    sleep_ms(5);

    /* Struct 499 takes the sku struct 0 has just been given. */
    upd.v[499].sku = upd.sku[0];
    changed = -1;
    CK_ERR(dal_model_bulk_update(db, &m, upd.v, upd.n, NULL, 0, &changed),
           DAL_E_CONSTRAINT, "23505", NULL);
    ck_assert_int_eq(dal_tx_depth(db), 0);
    ck_items_db(&m, &orig);
    upd.v[499].sku = upd.sku[499];

    /* Validation: nothing is sent. */
    upd.v[800].note = NOTE_TOO_LONG;
    CK_ERR(dal_model_bulk_update(db, &m, upd.v, upd.n, NULL, 0, &changed),
           DAL_E_DATA, "22023", "note");
    ck_items_db(&m, &orig);
    upd.v[300].sku = NULL;
    upd.v[800].note = NULL;
    CK_ERR(dal_model_bulk_update(db, &m, upd.v, upd.n, NULL, 0, &changed),
           DAL_E_CONSTRAINT, "23502", "sku");
    ck_items_db(&m, &orig);

    /* Only the named fields are validated. */
    upd.v[800].note = NOTE_TOO_LONG;
    changed = -1;
    CK_OK(dal_model_bulk_update(db, &m, upd.v, upd.n, qty_only, 1,
                                &changed));
    ck_assert_int_eq(changed, 1000);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkupdat WHERE qty >= "
                          "50000 AND sku LIKE 'a-%'"), 1000);
    upd.v[300].sku = upd.sku[300];
    upd.v[800].note = upd.note[800];

    /* In the caller's transaction: the transaction goes on. */
    CK_OK(dal_begin(db, 0));
    memset(&extra, 0, sizeof extra);
    extra.sku = "extra";
    CK_OK(dal_model_insert(db, &m, &extra));
    upd.v[499].sku = upd.sku[0];
    CK_ERR(dal_model_bulk_update(db, &m, upd.v, upd.n, NULL, 0, &changed),
           DAL_E_CONSTRAINT, "23505", NULL);
    ck_assert_int_eq(dal_tx_depth(db), 1);
    ck_assert_int_eq(rows_in("mt_bulkupdat"), 1001);
    memset(&extra, 0, sizeof extra);
    extra.sku = "extra2";
    CK_OK(dal_model_insert(db, &m, &extra));
    CK_OK(dal_commit(db));
    ck_assert_int_eq(rows_in("mt_bulkupdat"), 1002);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkupdat WHERE sku "
                          "LIKE 'new-%'"), 0);
    items_free(&upd);
    items_free(&orig);
}
END_TEST

START_TEST(t_bulk_delete)
{
    dal_model m = on_table(&item_model, "mt_bulkdel");
    item_set s;
    int64_t n;
    int rc;

    DROP("mt_bulkdel");
    CK_OK(dal_model_create_table(db, &m));
    items_make(&s, 1000, "d");
    CK_OK(dal_model_bulk_create(db, &m, s.v, s.n, 0));

    /* qty = 3i - 7 < 500: i 0..168. */
    n = -1;
    CK_OK(dal_model_bulk_delete(db, &m, dal_lt(dal_col("qty"),
                                               dal_int(500)), 0, &n));
    ck_assert_int_eq(n, 169);
    ck_assert_int_eq(rows_in("mt_bulkdel"), 831);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkdel WHERE qty < "
                          "500"), 0);
    ck_assert_int_eq(qint("SELECT min(qty) FROM mt_bulkdel"), 500);

    /* Nothing matches: 0 rows. */
    n = -1;
    rc = dal_model_bulk_delete(db, &m, dal_eq(dal_col("sku"),
                                              dal_text("none")), 0, &n);
    ck_assert_msg(rc == DAL_OK || rc == DAL_DONE, "bulk_delete of no row "
                  "-> %d (%s): %s", rc, dal_errstr(rc), S(dal_errmsg(db)));
    ck_assert_int_eq(n, 0);

    /* deleted may be NULL. */
    CK_OK(dal_model_bulk_delete(db, &m, dal_eq(dal_col("id"),
                                               dal_int(s.v[999].id)), 0,
                                NULL));
    ck_assert_int_eq(rows_in("mt_bulkdel"), 830);

    /* DAL_HARD_DELETE on a plain model: the same DELETE. 3i - 7 >= 2900:
     * i 969..998. */
    n = -1;
    CK_OK(dal_model_bulk_delete(db, &m, dal_ge(dal_col("qty"),
                                               dal_int(2900)),
                                DAL_HARD_DELETE, &n));
    ck_assert_int_eq(n, 30);
    ck_assert_int_eq(rows_in("mt_bulkdel"), 800);

    /* NULL cond is misuse, not "every row". */
    CK_ERR(dal_model_bulk_delete(db, &m, NULL, 0, &n), DAL_E_MISUSE, NULL,
           NULL);
    CK_ERR(dal_model_bulk_delete(db, &m, NULL, DAL_HARD_DELETE, &n),
           DAL_E_MISUSE, NULL, NULL);
    /* Taken on misuse too (the teardown's leak check). */
    CK_ERR(dal_model_bulk_delete(db, NULL, dal_gt(dal_col("id"),
                                                  dal_int(0)), 0, &n),
           DAL_E_MISUSE, NULL, NULL);
    ck_assert_int_eq(dal_model_bulk_delete(NULL, &m,
                                           dal_gt(dal_col("id"),
                                                  dal_int(0)), 0, &n),
                     DAL_E_MISUSE);
    ck_assert_int_eq(rows_in("mt_bulkdel"), 800);
    /* The database's error, and nothing deleted. */
    CK_RC(dal_model_bulk_delete(db, &m, dal_gt(dal_col("nope"), dal_int(0)),
                                0, &n), DAL_E_SYNTAX);
    ck_assert_int_eq(rows_in("mt_bulkdel"), 800);

    /* A condition that always holds: every row. */
    n = -1;
    CK_OK(dal_model_bulk_delete(db, &m, dal_is_not_null(dal_col("id")), 0,
                                &n));
    ck_assert_int_eq(n, 800);
    ck_assert_int_eq(rows_in("mt_bulkdel"), 0);
    items_free(&s);
}
END_TEST

/* A soft-delete model: deleted_at set on live rows; DAL_HARD_DELETE
 * removes live rows, with DAL_ONLY_DELETED only the deleted ones, with
 * DAL_WITH_DELETED both. */
START_TEST(t_bulk_delete_soft)
{
    dal_model m = on_table(&acct_model, "mt_bulkdelsoft");
    enum { N = 600 };
    static char email[N][16];
    acct *a = test_calloc(N, sizeof *a);
    dal_rows *rows;
    int64_t n, t0, t1, stamp;
    int i, rc;

    DROP("mt_bulkdelsoft");
    CK_OK(dal_model_create_table(db, &m));
    /* i even: free, score odd; i odd: gold, score even. */
    for (i = 0; i < N; i++) {
        snprintf(email[i], sizeof email[i], "e%d@x", i);
        a[i].email = email[i];
        a[i].tier = i % 2 ? "gold" : "free";
        a[i].score = i + 1;
    }
    CK_OK(dal_model_bulk_create(db, &m, a, N, 0));

    n = -1;
    t0 = now_us();
    CK_OK(dal_model_bulk_delete(db, &m, dal_eq(dal_col("tier"),
                                               dal_text("free")), 0, &n));
    t1 = now_us();
    ck_assert_int_eq(n, 300);
    /* The rows stay, marked. */
    ck_assert_int_eq(rows_in("mt_bulkdelsoft"), N);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkdelsoft WHERE "
                          "deleted_at IS NOT NULL AND tier = 'free'"), 300);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkdelsoft WHERE "
                          "deleted_at IS NOT NULL"), 300);
    stamp = qint("SELECT min(deleted_at) FROM mt_bulkdelsoft");
    CK_NOW(stamp, t0, t1, "deleted_at", 0);
    stamp = qint("SELECT max(deleted_at) FROM mt_bulkdelsoft");
    CK_NOW(stamp, t0, t1, "deleted_at", 0);
    /* Hidden from queries, there with DAL_WITH_DELETED. */
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, 0, &rows));
    ck_assert_int_eq(dal_rows_count(rows), 300);
    for (i = 0; i < 300; i++) {
        acct *got = dal_rows_at(rows, i);

        ck_assert_str_eq(got->tier, "gold");
        ck_assert_int_eq(got->deleted_at, 0);
    }
    dal_rows_free(rows);
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, DAL_WITH_DELETED, &rows));
    ck_assert_int_eq(dal_rows_count(rows), N);
    dal_rows_free(rows);
    CK_OK(dal_model_query(db, &m, NULL, NULL, 0, DAL_ONLY_DELETED, &rows));
    ck_assert_int_eq(dal_rows_count(rows), 300);
    for (i = 0; i < 300; i++) {
        acct *got = dal_rows_at(rows, i);

        ck_assert_str_eq(got->tier, "free");
        CK_NOW(got->deleted_at, t0, t1, "deleted_at", i);
    }
    dal_rows_free(rows);
    ck_assert_int_eq(count_flags(&m, NULL, 0), 300);

    /* Deleted rows are not deleted again (deleted_at stays). */
    n = -1;
    sleep_ms(5);
    rc = dal_model_bulk_delete(db, &m, dal_eq(dal_col("tier"),
                                              dal_text("free")), 0, &n);
    ck_assert_msg(rc == DAL_OK || rc == DAL_DONE, "bulk_delete of deleted "
                  "rows -> %d (%s): %s", rc, dal_errstr(rc),
                  S(dal_errmsg(db)));
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(qint("SELECT max(deleted_at) FROM mt_bulkdelsoft"),
                     stamp);

    /* DAL_HARD_DELETE: the live rows matching (gold, scores 2..100). */
    n = -1;
    CK_OK(dal_model_bulk_delete(db, &m, dal_le(dal_col("score"),
                                               dal_int(100)),
                                DAL_HARD_DELETE, &n));
    ck_assert_int_eq(n, 50);
    ck_assert_int_eq(rows_in("mt_bulkdelsoft"), 550);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkdelsoft WHERE score "
                          "<= 100 AND deleted_at IS NOT NULL"), 50);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkdelsoft WHERE score "
                          "<= 100"), 50);
    /* With DAL_ONLY_DELETED: only the deleted ones (free, 1..199). */
    n = -1;
    CK_OK(dal_model_bulk_delete(db, &m, dal_le(dal_col("score"),
                                               dal_int(200)),
                                DAL_HARD_DELETE | DAL_ONLY_DELETED, &n));
    ck_assert_int_eq(n, 100);
    ck_assert_int_eq(rows_in("mt_bulkdelsoft"), 450);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkdelsoft WHERE score "
                          "<= 200 AND deleted_at IS NULL"), 50);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkdelsoft WHERE score "
                          "<= 200"), 50);
    /* With DAL_WITH_DELETED: both (gold 102..300, free 201..299). */
    n = -1;
    CK_OK(dal_model_bulk_delete(db, &m, dal_le(dal_col("score"),
                                               dal_int(300)),
                                DAL_HARD_DELETE | DAL_WITH_DELETED, &n));
    ck_assert_int_eq(n, 150);
    ck_assert_int_eq(rows_in("mt_bulkdelsoft"), 300);
    ck_assert_int_eq(qint("SELECT count(*) FROM mt_bulkdelsoft WHERE score "
                          "<= 300"), 0);
    ck_assert_int_eq(count_flags(&m, NULL, 0), 150);
    ck_assert_int_eq(count_flags(&m, NULL, DAL_ONLY_DELETED), 150);

    CK_ERR(dal_model_bulk_delete(db, &m, NULL, DAL_HARD_DELETE, &n),
           DAL_E_MISUSE, NULL, NULL);
    ck_assert_int_eq(rows_in("mt_bulkdelsoft"), 300);
    test_free(a);
}
END_TEST

/* ---- allocation failures ---------------------------------------------- */

/*
 * A call under test runs with libdal's first, second, ... allocation
 * failing, until it completes without a failure. Each run starts on a
 * fresh handle: the one before is closed, and libdal must then hold no
 * more memory than before the test (so a failed run leaked nothing, the
 * statement cache aside). prepare() sets the tables up as the call
 * expects them. A run whose allocation failed must return DAL_NOMEM
 * (and leave it as dal_errcode), leave no transaction open, change
 * nothing, and leave the handle usable: check(c, 1) verifies that, then
 * does without failures what a successful run does. Or, where libdal
 * could carry on without that memory (a void cleanup such as
 * dal_finalize), it may return DAL_OK, and then its result must be
 * exactly right: check(c, 0), which verifies a successful run, with
 * c->ctx saying which run it was. Every round runs twice: cold (the call
 * prepares its statements) and warm (after one clean call, from the
 * statement cache).
 */
typedef struct nomem_case {
    const dal_model *m;
    void (*prepare)(struct nomem_case *c);
    int (*call)(struct nomem_case *c, long fail);
    void (*check)(struct nomem_case *c, int failed);
    dal_rows *rows;
    item_set items;
    int flags;
    int64_t n;
    char ctx[96];   /* which run check() is looking at */
} nomem_case;

static void nomem_arm(long n)
{
    fail_seq = 0;
    fail_hit = 0;
    fail_at = n;
}

/* Close the handle (libdal must hold what it held before the test) and
 * open a new one on the test's database. */
static void nomem_reopen(const char *when)
{
    int rc;

    dal_close(db);
    db = NULL;
    ck_assert_msg(live_blocks == base_blocks, "%s: libdal holds %ld "
                  "blocks with no handle open, %ld before the test", when,
                  live_blocks, base_blocks);
    rc = dal_open(test_url, &db);
    ck_assert_msg(rc == DAL_OK && db != NULL, "dal_open(%s) -> %d",
                  test_url, rc);
    if (is_pg())
        EXEC("SET client_min_messages = warning");
}

static void nomem_run(nomem_case *c, long min_runs)
{
    char when[64];
    long n = 0;
    int rc, warm;

    for (warm = 0; warm < 2; warm++) {
        for (n = 1; n < 100000; n++) {
            snprintf(when, sizeof when, "after failing allocation %ld%s",
                     n - 1, warm ? " (warm)" : "");
            nomem_reopen(when);
            c->prepare(c);
            if (warm) {
                snprintf(c->ctx, sizeof c->ctx, "the warm-up call");
                CK_OK(c->call(c, 0));
                c->check(c, 0);
            }
            rc = c->call(c, n);
            if (!fail_hit) {
                snprintf(c->ctx, sizeof c->ctx, "the run without a "
                         "failure");
                CK_OK(rc);
                c->check(c, 0);
                break;
            }
            snprintf(c->ctx, sizeof c->ctx, "allocation %ld%s failed, "
                     "and the call returned %d", n, warm ? " (warm)" : "",
                     rc);
            if (rc == DAL_OK) {
                c->check(c, 0);
                continue;
            }
            ck_assert_msg(rc == DAL_NOMEM && dal_errcode(db) == DAL_NOMEM,
                          "allocation %ld%s failed: rc %d (%s), errcode "
                          "%d: %s", n, warm ? " (warm)" : "", rc,
                          dal_errstr(rc), dal_errcode(db),
                          S(dal_errmsg(db)));
            ck_assert_msg(dal_tx_depth(db) == 0, "allocation %ld failed: "
                          "transaction depth %d", n, dal_tx_depth(db));
            c->check(c, 1);
        }
        ck_assert_msg(n < 100000, "never completed");
        ck_assert_msg(n >= min_runs, "only %ld runs: were allocations "
                      "made?", n);
    }
    nomem_reopen("after the last run");
}

static void nomem_table(const dal_model *m)
{
    drop_tables(&m->table, 1);
    CK_OK(dal_model_create_table(db, m));
}

/* A load of 80 rows: every type, several arena chunks, a grown array. */
#define NOMEM_ROWS 80

static void nomem_query_prepare(nomem_case *c)
{
    int i;

    nomem_table(c->m);
    CK_OK(dal_begin(db, 0));
    for (i = 0; i < NOMEM_ROWS; i++) {
        rec r = sample(i % 4);

        insert_rec(c->m, &r, i + 1);
    }
    CK_OK(dal_commit(db));
}

static int nomem_query_call(nomem_case *c, long fail)
{
    /* The arguments are built before failures start: a NULL condition
     * would mean "all rows". */
    dal_expr *cond = dal_gt(dal_col("id"), dal_int(0));
    dal_expr *order = dal_list(dal_asc(dal_col("id")));
    int rc;

    ck_assert(cond != NULL && order != NULL);
    c->rows = NULL;
    nomem_arm(fail);
    rc = dal_model_query(db, c->m, cond, order, 0, 0, &c->rows);
    fail_at = 0;
    return rc;
}

static void nomem_query_check(nomem_case *c, int failed)
{
    int i;

    if (failed) {
        ck_assert_int_eq(dal_rows_count(c->rows), 0);
        dal_rows_free(c->rows);
        CK_OK(nomem_query_call(c, 0));
    }
    ck_assert_msg(dal_rows_count(c->rows) == NOMEM_ROWS, "%s: %d rows",
                  c->ctx, dal_rows_count(c->rows));
    for (i = 0; i < NOMEM_ROWS; i++) {
        rec want = sample(i % 4);

        check_rec(dal_rows_at(c->rows, i), &want, i + 1);
    }
    dal_rows_free(c->rows);
    c->rows = NULL;
}

START_TEST(t_nomem_query)
{
    dal_model m = on_table(&rec_model, "mt_nomemq");
    nomem_case c;

    memset(&c, 0, sizeof c);
    c.m = &m;
    c.prepare = nomem_query_prepare;
    c.call = nomem_query_call;
    c.check = nomem_query_check;
    nomem_run(&c, 5);
}
END_TEST

/* The same on a soft-delete model: a failure must not lose the
 * condition that leaves deleted rows out. 5 rows, 2 deleted. */
static void nomem_soft_prepare(nomem_case *c)
{
    acct a[5];

    nomem_table(c->m);
    insert_accts(c->m, a, 5);
    CK_OK(dal_model_delete(db, c->m, &a[1]));
    CK_OK(dal_model_delete(db, c->m, &a[3]));
}

static int nomem_soft_call(nomem_case *c, long fail)
{
    dal_expr *cond = dal_gt(dal_col("score"), dal_int(0));
    int rc;

    ck_assert_ptr_nonnull(cond);
    c->rows = NULL;
    nomem_arm(fail);
    rc = dal_model_query(db, c->m, cond, NULL, 0, 0, &c->rows);
    fail_at = 0;
    return rc;
}

static void nomem_soft_check(nomem_case *c, int failed)
{
    int i;

    if (failed) {
        ck_assert_int_eq(dal_rows_count(c->rows), 0);
        dal_rows_free(c->rows);
        CK_OK(nomem_soft_call(c, 0));
    }
    for (i = 0; i < dal_rows_count(c->rows); i++)
        ck_assert_msg(((acct *)dal_rows_at(c->rows, i))->deleted_at == 0,
                      "%s: a soft-deleted row (id %" PRId64 ") was "
                      "loaded", c->ctx,
                      ((acct *)dal_rows_at(c->rows, i))->id);
    CK_IDS(c->rows, 1, 3, 5);
    dal_rows_free(c->rows);
    c->rows = NULL;
}

START_TEST(t_nomem_query_soft)
{
    dal_model m = on_table(&acct_model, "mt_nomemqs");
    nomem_case c;

    memset(&c, 0, sizeof c);
    c.m = &m;
    c.prepare = nomem_soft_prepare;
    c.call = nomem_soft_call;
    c.check = nomem_soft_check;
    nomem_run(&c, 5);
}
END_TEST

static void items_reset_ids(item_set *s)
{
    int i;

    for (i = 0; i < s->n; i++)
        s->v[i].id = 0;
}

static void nomem_create_prepare(nomem_case *c)
{
    nomem_table(c->m);
}

static int nomem_create_call(nomem_case *c, long fail)
{
    int rc;

    items_reset_ids(&c->items);
    nomem_arm(fail);
    rc = dal_model_bulk_create(db, c->m, c->items.v, c->items.n, 0);
    fail_at = 0;
    return rc;
}

static void nomem_create_check(nomem_case *c, int failed)
{
    char sql[128];

    if (failed) {
        ck_ids_zero(&c->items);
        ck_assert_int_eq(rows_in(c->m->table), 0);
        CK_OK(nomem_create_call(c, 0));
    }
    ck_assert_msg(rows_in(c->m->table) == c->items.n, "%s: %" PRId64
                  " rows", c->ctx, rows_in(c->m->table));
    ck_ids_ascending(&c->items);
    ck_items_db(c->m, &c->items);
    snprintf(sql, sizeof sql, "DELETE FROM %s", c->m->table);
    EXEC(sql);
}

START_TEST(t_nomem_bulk_create)
{
    dal_model m = on_table(&item_model, "mt_nomemb");
    nomem_case c;

    memset(&c, 0, sizeof c);
    c.m = &m;
    c.prepare = nomem_create_prepare;
    c.call = nomem_create_call;
    c.check = nomem_create_check;
    items_make(&c.items, 6, "nm");
    nomem_run(&c, 3);
    items_free(&c.items);
}
END_TEST

/* bulk_update of 4 rows: qty 1000 + i (and back to 0 after). */
static void nomem_update_prepare(nomem_case *c)
{
    char sql[128];

    nomem_table(c->m);
    items_reset_ids(&c->items);
    CK_OK(dal_model_bulk_create(db, c->m, c->items.v, c->items.n, 0));
    snprintf(sql, sizeof sql, "UPDATE %s SET qty = 0", c->m->table);
    EXEC(sql);
}

static int nomem_update_call(nomem_case *c, long fail)
{
    int rc, i;

    for (i = 0; i < c->items.n; i++)
        c->items.v[i].qty = 1000 + i;
    c->n = -1;
    nomem_arm(fail);
    rc = dal_model_bulk_update(db, c->m, c->items.v, c->items.n, NULL, 0,
                               &c->n);
    fail_at = 0;
    return rc;
}

static void nomem_update_check(nomem_case *c, int failed)
{
    char sql[128];

    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE qty >= 1000",
             c->m->table);
    if (failed) {
        ck_assert_int_eq(qint(sql), 0);
        CK_OK(nomem_update_call(c, 0));
    }
    ck_assert_msg(c->n == c->items.n && qint(sql) == c->items.n, "%s: %"
                  PRId64 " changed, %" PRId64 " rows updated", c->ctx, c->n,
                  qint(sql));
    snprintf(sql, sizeof sql, "UPDATE %s SET qty = 0", c->m->table);
    EXEC(sql);
}

START_TEST(t_nomem_bulk_update)
{
    dal_model m = on_table(&item_model, "mt_nomemu");
    nomem_case c;

    memset(&c, 0, sizeof c);
    c.m = &m;
    c.prepare = nomem_update_prepare;
    c.call = nomem_update_call;
    c.check = nomem_update_check;
    items_make(&c.items, 4, "nu");
    nomem_run(&c, 3);
    items_free(&c.items);
}
END_TEST

/* bulk_delete on a soft-delete model of 5 rows, c@x deleted already,
 * with c->flags: soft (the 4 live rows get deleted_at) or
 * DAL_HARD_DELETE (the 4 live rows go; the deleted one stays). */
#define NOMEM_DELETED_AT INT64_C(1700000000000000)

static void nomem_delete_rows(nomem_case *c)
{
    char sql[400];

    snprintf(sql, sizeof sql, "DELETE FROM %s", c->m->table);
    EXEC(sql);
    snprintf(sql, sizeof sql, "INSERT INTO %s (email, tier, score, "
             "deleted_at) VALUES ('a@x', 'gold', 10, NULL), "
             "('b@x', 'free', 20, NULL), ('c@x', 'gold', 30, %" PRId64 "), "
             "('d@x', 'free', 40, NULL), ('e@x', 'gold', 50, NULL)",
             c->m->table, NOMEM_DELETED_AT);
    EXEC(sql);
}

static void nomem_delete_prepare(nomem_case *c)
{
    nomem_table(c->m);
    nomem_delete_rows(c);
}

static int nomem_delete_call(nomem_case *c, long fail)
{
    dal_expr *cond = dal_gt(dal_col("score"), dal_int(0));
    int rc;

    ck_assert_ptr_nonnull(cond);
    c->n = -1;
    nomem_arm(fail);
    rc = dal_model_bulk_delete(db, c->m, cond, c->flags, &c->n);
    fail_at = 0;
    return rc;
}

static void nomem_delete_check(nomem_case *c, int failed)
{
    char live[160], kept[200];

    snprintf(live, sizeof live, "SELECT count(*) FROM %s WHERE deleted_at "
             "IS NULL", c->m->table);
    snprintf(kept, sizeof kept, "SELECT count(*) FROM %s WHERE email = "
             "'c@x' AND deleted_at = %" PRId64, c->m->table,
             NOMEM_DELETED_AT);
    if (failed) {
        ck_assert_int_eq(rows_in(c->m->table), 5);
        ck_assert_int_eq(qint(live), 4);
        CK_OK(nomem_delete_call(c, 0));
    }
    ck_assert_msg(c->n == 4, "%s: %" PRId64 " rows deleted, want 4",
                  c->ctx, c->n);
    ck_assert_msg(qint(live) == 0, "%s: %" PRId64 " live rows left",
                  c->ctx, qint(live));
    ck_assert_msg(rows_in(c->m->table) == (c->flags & DAL_HARD_DELETE ? 1
                                                                      : 5),
                  "%s: %" PRId64 " rows left", c->ctx,
                  rows_in(c->m->table));
    /* The row deleted before stays, as it was: not stamped again, not
     * removed by a hard delete of live rows. */
    ck_assert_msg(qint(kept) == 1, "%s: the row deleted before was "
                  "changed or removed", c->ctx);
    nomem_delete_rows(c);
}

START_TEST(t_nomem_bulk_delete)
{
    dal_model m = on_table(&acct_model, "mt_nomemd");
    nomem_case c;

    memset(&c, 0, sizeof c);
    c.m = &m;
    c.prepare = nomem_delete_prepare;
    c.call = nomem_delete_call;
    c.check = nomem_delete_check;
    c.flags = 0;
    nomem_run(&c, 3);
    c.flags = DAL_HARD_DELETE;
    nomem_run(&c, 3);
}
END_TEST

static Suite *model_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "table");
    tcase_add_test(tc, t_create_table);
    tc = tcase(s, "find");
    tcase_add_test(tc, t_insert_find_types);
    tcase_add_test(tc, t_find_missing);
    tc = tcase(s, "query");
    tcase_add_test(tc, t_query);
    tcase_add_test(tc, t_count);
    tc = tcase(s, "write");
    tcase_add_test(tc, t_update_all);
    tcase_add_test(tc, t_update_named);
    tcase_add_test(tc, t_save);
    tcase_add_test(tc, t_delete);
    tc = tcase(s, "stamps");
    tcase_add_test(tc, t_timestamps);
    tc = tcase(s, "default");
    tcase_add_test(tc, t_defaults);
    tc = tcase(s, "soft");
    tcase_add_test(tc, t_soft_delete);
    tcase_add_test(tc, t_soft_or);
    tcase_add_test(tc, t_soft_unique);
    tc = tcase(s, "json");
    tcase_add_test(tc, t_json_path);
    tcase_add_test(tc, t_json_invalid);
    tc = tcase(s, "validate");
    tcase_add_test(tc, t_validate);
    tc = tcase(s, "hooks");
    tcase_add_test(tc, t_hooks_save);
    tcase_add_test(tc, t_hooks_delete_load);
    tc = tcase(s, "descriptor");
    tcase_add_loop_test(tc, t_bad_descriptor, 0, NELEM(bad_cases));
    tcase_add_test(tc, t_good_descriptors);
    tc = tcase(s, "memory");
    tcase_add_test(tc, t_rows_take);
    tcase_add_test(tc, t_arena);
    tc = tcase(s, "edges");
    tcase_add_test(tc, t_defaults_text);
    tcase_add_test(tc, t_defaults_only);
    tcase_add_test(tc, t_empty_blob);
    tcase_add_test(tc, t_update_named_partial);
    tcase_add_test(tc, t_save_missing_id);
    tcase_add_test(tc, t_hooks_after_error);
    tcase_add_test(tc, t_quoted_names);
    tcase_add_test(tc, t_bad_args);
    tcase_add_test(tc, t_model_diff);
    tc = tcase(s, "bulk");
    tcase_add_test(tc, t_bulk_create);
    tcase_add_test(tc, t_bulk_no_ids);
    tcase_add_test(tc, t_bulk_types);
    tcase_add_test(tc, t_bulk_defaults);
    tcase_add_test(tc, t_bulk_mixed_ids);
    tcase_add_test(tc, t_bulk_create_atomic);
    tcase_add_test(tc, t_bulk_create_tx);
    tcase_add_test(tc, t_bulk_hooks);
    tcase_add_test(tc, t_bulk_update);
    tcase_add_test(tc, t_bulk_update_soft);
    tcase_add_test(tc, t_bulk_update_atomic);
    tcase_add_test(tc, t_bulk_delete);
    tcase_add_test(tc, t_bulk_delete_soft);
    tc = tcase(s, "nomem");
    tcase_add_test(tc, t_nomem_query);
    tcase_add_test(tc, t_nomem_query_soft);
    tcase_add_test(tc, t_nomem_bulk_create);
    tcase_add_test(tc, t_nomem_bulk_update);
    tcase_add_test(tc, t_nomem_bulk_delete);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "model[sqlite-mem]", "model[sqlite-file]", "model[postgres]",
    };
    const char *pg;
    int kind, failed = 0, i;

    /* Before any other libdal call. */
    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "model: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    for (i = 0; i < NELEM(blob_all); i++)
        blob_all[i] = (unsigned char)(255 - i);
    main_pid = (long)getpid();
    pg = getenv("DAL_TEST_PG_URL");
    if (pg == NULL || pg[0] == '\0') {
        printf("model: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
        pg = NULL;
    }
    for (kind = BE_SQLITE_MEM; kind <= BE_POSTGRES; kind++) {
        SRunner *sr;

        if (kind == BE_POSTGRES && pg == NULL)
            break;
        test_backend = (enum backend)kind;
        test_url = kind == BE_SQLITE_MEM ? "sqlite::memory:"
                   : kind == BE_SQLITE_FILE ? "sqlite:///tmp/(per test)"
                   : pg;
        fflush(stdout);
        sr = srunner_create(model_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_temp_files();
    }
    if (live_blocks != 0) {
        printf("model: libdal holds %ld blocks at exit\n", live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
