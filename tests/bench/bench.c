/*
 * bench.c - libdal against raw sqlite3 and raw libpq, one cell per process.
 *
 * Usage: bench TARGET WORKLOAD
 *   TARGET    sqlite-mem  SQLite in memory (sqlite::memory: / ":memory:")
 *             sqlite-wal  a WAL database file in a temporary directory
 *             pg-unix     PostgreSQL over the unix socket named by
 *                         DAL_TEST_PG_SOCKET_URL (a libpq URI)
 *   WORKLOAD  point_select  SELECT a, b, c by primary key, 10k-row table
 *             insert_tx     100k single-row inserts in one transaction
 *             scan          full scan of a 100k-row table, three columns
 *             ast_point_select  point_select where both sides are
 *                         libdal: "dal" is the query built with the AST
 *                         (dal_select ... WHERE id = dal_param("id"),
 *                         dal_query_prepare() once) and "raw" is the same
 *                         query written as SQL (dal_prepare of
 *                         "... WHERE id = :id"). Both sides look up the
 *                         index of "id" once (dal_bind_param_index) and
 *                         run the same loop per op: dal_bind_int64 by
 *                         index, dal_step, read, dal_reset. The ratio is
 *                         the run-time cost of the query builder.
 *             bulk_create   a model of six fields ("users": id, name,
 *                         email, balance, active, created_at), 100k
 *                         rows into an empty table per run: "dal" is
 *                         dal_model_bulk_create(DAL_BULK_NO_IDS), "raw"
 *                         on SQLite a 500-row INSERT prepared once and
 *                         bound again per batch, in one transaction, on
 *                         PostgreSQL COPY FROM STDIN (text) in one
 *                         transaction. The line ends in ids=<rows/s>:
 *                         dal_model_bulk_create filling the ids back.
 *             naive_create  both sides libdal: "dal" is one
 *                         dal_model_insert per row in autocommit (2k rows
 *                         per run; 20k on sqlite-mem), "raw" the
 *                         bulk_create "dal" side. ratio keeps its meaning
 *                         (below 1: per-row inserts are slower), and the
 *                         line ends in speedup=<s>: bulk_create does s
 *                         times the rows per second of per-row inserts.
 *             model_find  dal_model_find by primary key (10k-row users
 *                         table, random ids) into a dal_rows set, against
 *                         a prepared SELECT of the same columns filling
 *                         the same struct, its two strings copied into
 *                         one malloc'd block (freed after each op).
 *             point_select_observed  point_select where both sides are
 *                         libdal: "dal" has metrics (dal_metrics) and
 *                         tracing (dal_tracer, a span per statement
 *                         handed to an exporter callback that counts
 *                         it) on, "raw" has no observer. The ratio is
 *                         the cost of the hooks path.
 *             batch       1000 single-row INSERTs as one dal_batch_run
 *                         (pipelined on PostgreSQL) against the same
 *                         with dal_exec_params() one after another in a
 *                         transaction; both sides libdal, the line is
 *                         batch=<stmts/s> seq=<stmts/s> speedup=<x>.
 *             async       point_select through dal/async.h on a libuv
 *                         loop: "dal" issues every op of a run at once
 *                         (dal_async_query) on a pool of 4 connections
 *                         (the thread glue: a thread per connection) and
 *                         runs the loop until each callback came; "raw"
 *                         is libdal sync, one point select after the
 *                         other on one connection. ratio is the
 *                         throughput gain. sqlite-wal only (sqlite-mem
 *                         connections do not share a database; pg-unix
 *                         has its own async workloads).
 *             async_pipeline  pg-unix only: 10,000 point selects
 *                         issued at once through dal_async_query on one
 *                         connection (pipeline mode), against "raw" =
 *                         libdal blocking, one after another.
 *             async_vs_raw_pipeline  the same async side against a raw
 *                         libpq pipeline doing the same selects (see
 *                         "pg-unix async pipelines" below;
 *                         BENCH_RAW_SYNC sets its Sync interval).
 *   Table-replacing workloads (insert_tx, bulk_create, naive_create)
 *   count an op per row. The users tables are made by libdal
 *   (dal_model_create_table; the raw side runs the SQL that
 *   dal_model_diff gives for it) and dropped and made again, untimed,
 *   before every bulk_create / naive_create run.
 *
 * Environment:
 *   BENCH_RUNS    timed runs per side (default 5)
 *   BENCH_RUN_MS  aimed length of one timed run in ms (default 400);
 *                 insert_tx always inserts 100k rows per run
 *   BENCH_BULK_ROWS   rows per bulk_create run (default 100000); also the
 *                 "raw" side of naive_create
 *   BENCH_NAIVE_ROWS  rows per naive_create "dal" run (default 2000,
 *                 20000 on sqlite-mem)
 *
 * Each side (raw and libdal) gets its own connection and its own table
 * (SQLite: its own database too) holding the same rows. After setup both
 * sides are warmed up, untimed, while the operation count per run is
 * calibrated; then BENCH_RUNS timed runs of each side alternate, in the
 * order raw-dal, dal-raw, raw-dal, ... so that drift hits both sides
 * alike. Every run checks what it read or wrote, so nothing can be
 * skipped, and any error or wrong result aborts the cell.
 *
 * stdout gets exactly one line:
 *   BENCH <target> <workload> dal=<ops/s> raw=<ops/s> ratio=<r>
 * from the median run of each side, with r = raw ns per op / libdal ns
 * per op (1.00: no overhead; below 1: libdal is slower), and for
 * bulk_create and naive_create the field described above. An op is one
 * point select or model find, one inserted row or one scanned row.
 * bulk_create's third side (ids) takes its turn in the same alternation:
 * raw-dal-ids, dal-ids-raw, ids-raw-dal, ... Details go to
 * stderr. Exit status: 0 done, 1 error or wrong result, 2 usage,
 * 77 target unavailable (no PostgreSQL URL).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <poll.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "dal.h"
#include "dal/async.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

#define POINT_ROWS 10000
#define SCAN_ROWS 100000
#define INSERT_ROWS 100000
#define INSERT_WARMUP_ROWS 10000
#define MAX_RUNS 99
#define BULK_ROWS 100000
#define NAIVE_ROWS 2000
#define NAIVE_ROWS_MEM 20000
#define NAIVE_WARMUP_ROWS 200
#define FIND_ROWS 10000
#define FIND_IDS 65536 /* random ids, looked up in turn */
#define RAW_BATCH 500 /* rows per raw multi-row INSERT */

enum target { T_SQLITE_MEM, T_SQLITE_WAL, T_PG_UNIX };
enum workload {
    W_POINT, W_INSERT, W_SCAN, W_AST_POINT, W_BULK, W_NAIVE, W_FIND,
    W_OBSERVED, W_ASYNC
};
/* How a libdal side writes users rows (raw sides have one way). */
enum mode { M_NO_IDS, M_IDS, M_NAIVE };

static const char *const target_names[] = {
    "sqlite-mem", "sqlite-wal", "pg-unix"
};
static const char *const workload_names[] = {
    "point_select", "insert_tx", "scan", "ast_point_select",
    "bulk_create", "naive_create", "model_find", "point_select_observed",
    "async"
};
#define N_WORKLOADS 9

static enum target target;
static enum workload workload;
/* The side being run, for error messages. */
static const char *cur_side = "setup";
/* sqlite-wal's temporary directory, removed at exit. */
static char tmpdir[256];

/* ---- common ---------------------------------------------------------- */

static _Noreturn void die(const char *fmt, ...) PRINTF_LIKE(1, 2);

static void die(const char *fmt, ...)
{
    char msg[1024];
    size_t n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* libpq's messages end in a newline; ours never do. */
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    fflush(stdout);
    fprintf(stderr, "bench %s %s: %s: %s\n", target_names[target],
            workload_names[workload], cur_side, msg);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);

    if (p == NULL)
        die("out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(xmalloc(n), s, n);
}

static double now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        die("clock_gettime failed");
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * The rows, the same on every side and in every table: row id holds
 * a = val_a(id), b = val_b(id) and c = "row-<id>". The SQL that loads the
 * tables (load_table) computes the same values.
 */
static int64_t val_a(int64_t id)
{
    return id * 7919 % 100003;
}

static double val_b(int64_t id)
{
    return (double)id * 0.25;
}

/* Text of c per id, made once so that no timed loop formats it. */
static const char *ctext[INSERT_ROWS + 1];
static size_t clen[INSERT_ROWS + 1];

static void make_text(void)
{
    static char pool[(INSERT_ROWS + 1) * 12];
    char *p = pool;
    int64_t id;

    for (id = 1; id <= INSERT_ROWS; id++) {
        int n = snprintf(p, 12, "row-%d", (int)id);

        ctext[id] = p;
        clen[id] = (size_t)n;
        p += n + 1;
    }
}

/* The id of the i-th point select: a walk through every id. */
static int64_t point_id(long i)
{
    return (int64_t)i * 7919 % POINT_ROWS + 1;
}

/* What a run read, to check against what it should have read. */
struct sums {
    int64_t rows;
    int64_t a;
    double b; /* exact: every b is a multiple of 0.25, sums stay < 2^53 */
    int64_t clen;
    int64_t cfirst; /* sum of the first bytes of c: the text was read */
};

static inline void sums_add(struct sums *s, int64_t a, double b,
                            const char *c, size_t len)
{
    s->rows++;
    s->a += a;
    s->b += b;
    s->clen += (int64_t)len;
    s->cfirst += (unsigned char)c[0];
}

static void sums_expect_id(struct sums *s, int64_t id)
{
    sums_add(s, val_a(id), val_b(id), ctext[id], clen[id]);
}

static void sums_check(const struct sums *got, const struct sums *want)
{
    if (got->rows != want->rows || got->a != want->a ||
        got->b != want->b || got->clen != want->clen ||
        got->cfirst != want->cfirst)
        die("wrong result: read %lld rows, sum(a) %lld, sum(b) %.2f, "
            "sum(len(c)) %lld, sum(c[0]) %lld; expected %lld, %lld, "
            "%.2f, %lld, %lld", (long long)got->rows, (long long)got->a,
            got->b, (long long)got->clen, (long long)got->cfirst,
            (long long)want->rows, (long long)want->a, want->b,
            (long long)want->clen, (long long)want->cfirst);
}

/* Writes v, NUL-terminated, at the end of buf; returns its start. */
static const char *fmt_i64(char buf[24], int64_t v)
{
    char *p = buf + 23;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    *p = '\0';
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    return p;
}

/* ---- users: the model of bulk_create, naive_create, model_find ----- */

struct user {
    int64_t id;
    char *name;
    char *email;
    double balance;
    int active;
    int64_t created_at;
};

static const dal_field user_fields[] = {
    DAL_FIELD(struct user, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(struct user, name, DAL_F_TEXT, DAL_F_NOT_NULL),
    DAL_FIELD(struct user, email, DAL_F_TEXT, DAL_F_NOT_NULL),
    DAL_FIELD(struct user, balance, DAL_F_DOUBLE, 0),
    DAL_FIELD(struct user, active, DAL_F_BOOL, 0),
    DAL_FIELD(struct user, created_at, DAL_F_TIMESTAMP, DAL_F_CREATED_AT),
};
/* One model per side's table (see main: the tables' names). */
static const dal_model user_model_raw =
    DAL_MODEL(struct user, "dal_bench_raw", user_fields);
static const dal_model user_model_dal =
    DAL_MODEL(struct user, "dal_bench_dal", user_fields);

static const dal_model *model_of(const char *table)
{
    return strcmp(table, user_model_raw.table) == 0 ? &user_model_raw
                                                    : &user_model_dal;
}

/*
 * users[i] is the row that gets id i + 1 in an empty table: name
 * "user-<id>", email "user<id>@example.com", balance id / 4, active when
 * id is not a multiple of 3. Inserts read them from here, so that no
 * timed loop formats text; libdal writes created_at (and ids) into them.
 */
static struct user *users;
static size_t *name_len, *email_len;
static long nusers;
static int64_t find_ids[FIND_IDS];

static void make_users(long n)
{
    char *pool = xmalloc((size_t)n * 48);
    long i;

    users = xmalloc((size_t)n * sizeof *users);
    name_len = xmalloc((size_t)n * sizeof *name_len);
    email_len = xmalloc((size_t)n * sizeof *email_len);
    for (i = 0; i < n; i++) {
        int64_t id = i + 1;
        int k;

        users[i].id = 0;
        users[i].name = pool;
        k = snprintf(pool, 24, "user-%lld", (long long)id);
        name_len[i] = (size_t)k;
        pool += k + 1;
        users[i].email = pool;
        k = snprintf(pool, 24, "user%lld@example.com", (long long)id);
        email_len[i] = (size_t)k;
        pool += k + 1;
        users[i].balance = (double)id * 0.25;
        users[i].active = id % 3 != 0;
        users[i].created_at = 0;
    }
    nusers = n;
}

/* The random ids that model_find looks up, the same on both sides. */
static void make_find_ids(void)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    int i;

    for (i = 0; i < FIND_IDS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        find_ids[i] = (int64_t)(x % FIND_ROWS) + 1;
    }
}

static int64_t find_id(long i)
{
    return find_ids[i % FIND_IDS];
}

/* Before each insert run: the structs as a program fills them. */
static void users_clear(long n)
{
    long i;

    for (i = 0; i < n; i++) {
        users[i].id = 0;
        users[i].created_at = 0;
    }
}

/* CLOCK_REALTIME in microseconds, as libdal stamps created_at. */
static int64_t now_us(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        die("clock_gettime failed");
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* What a model_find run read. */
struct usums {
    int64_t rows, id, active, stamped, tlen, tfirst;
    double balance; /* exact: multiples of 0.25 */
};

static inline void usums_add(struct usums *s, const struct user *u)
{
    size_t nl = strlen(u->name), el = strlen(u->email);

    /* The last digit of the name, the first of the email. */
    s->rows++;
    s->id += u->id;
    s->active += u->active != 0;
    s->stamped += u->created_at > 0;
    s->tlen += (int64_t)(nl + el);
    s->tfirst += (unsigned char)u->name[nl - 1] +
                 (unsigned char)u->email[4];
    s->balance += u->balance;
}

static void usums_check(const struct usums *got, const struct usums *want)
{
    if (memcmp(got, want, sizeof *got) != 0)
        die("wrong result: read %lld rows, sum(id) %lld, %lld active, "
            "%lld stamped, sum(len) %lld, sum(first) %lld, sum(balance) "
            "%.2f; expected %lld, %lld, %lld, %lld, %lld, %lld, %.2f",
            (long long)got->rows, (long long)got->id,
            (long long)got->active, (long long)got->stamped,
            (long long)got->tlen, (long long)got->tfirst, got->balance,
            (long long)want->rows, (long long)want->id,
            (long long)want->active, (long long)want->stamped,
            (long long)want->tlen, (long long)want->tfirst, want->balance);
}

/*
 * The SQL that makes the raw side's users table: what dal_model_diff
 * gives for user_model_raw on ddl_db (the libdal side's connection), made
 * once, so that both sides insert into the same kind of table.
 */
static dal_db *ddl_db;
static char *users_ddl;

static const char *raw_users_ddl(void)
{
    const dal_model *const models[1] = {&user_model_raw};
    dal_schema_op **ops = NULL;
    char *notes = NULL, *sql;
    size_t len = 0;
    int nops = 0, i, rc;

    if (users_ddl != NULL)
        return users_ddl;
    rc = dal_model_diff(ddl_db, models, 1, &ops, &nops, &notes);
    if (rc != DAL_OK)
        die("libdal: dal_model_diff: %s", dal_errmsg(ddl_db));
    if (nops == 0)
        die("libdal: dal_model_diff: no operation for table %s",
            user_model_raw.table);
    users_ddl = xstrdup("");
    for (i = 0; i < nops; i++) {
        char *next;
        size_t n;

        rc = dal_schema_op_sql(ddl_db, ops[i], &sql);
        if (rc != DAL_OK)
            die("libdal: dal_schema_op_sql: %s", dal_errmsg(ddl_db));
        n = strlen(sql);
        while (n > 0 && (sql[n - 1] == ';' || sql[n - 1] == '\n' ||
                         sql[n - 1] == ' '))
            n--;
        next = xmalloc(len + n + 3);
        memcpy(next, users_ddl, len);
        memcpy(next + len, sql, n);
        memcpy(next + len + n, ";\n", 3);
        free(users_ddl);
        users_ddl = next;
        len += n + 2;
        dal_free(sql);
        dal_schema_op_free(ops[i]);
    }
    dal_free(ops);
    dal_free(notes);
    fprintf(stderr, "  raw users table: %s", users_ddl);
    return users_ddl;
}

/*
 * One side of the comparison. The timed loops live behind these
 * pointers, so each side's per-op work is direct calls to its own API.
 */
struct side {
    const char *name;  /* "raw" or "dal" */
    const char *table; /* its own table */
    int dollar;        /* placeholders are $1.. (else ?) */
    void *h;
    void (*exec)(void *h, const char *sql);
    /* The first column of the first row as a malloc'd string ("" for
     * NULL), or NULL when there is no row. */
    char *(*query_text)(void *h, const char *sql);
    /* Prepare the workload's statement, kept until close. */
    void (*prepare)(void *h, const char *sql, int nparams);
    /* ast_point_select's statement, built with the query AST (libdal
     * sides only; NULL on the raw ones). */
    void (*prepare_ast)(void *h, const char *table);
    void (*point)(void *h, long n, struct sums *s);
    /* BEGIN, insert rows 1..n, COMMIT. */
    void (*insert)(void *h, long n);
    void (*scan)(void *h, long passes, struct sums *s);
    /* Drop and make again the users table named table, empty. */
    void (*users_reset)(void *h, const char *table);
    /* Insert users[0..n) into it (mode: libdal sides only). */
    void (*bulk)(void *h, const char *table, long n, enum mode mode);
    /* n finds of users by find_id(0..n-1), prepared by prepare. */
    void (*find)(void *h, const char *table, long n, struct usums *s);
    void (*close)(void *h);
    enum mode mode; /* bulk's mode */
    long rows;      /* rows per run of a table-replacing workload */
};

static _Noreturn void no_row(int64_t id)
{
    die("point select of id %lld returned no row", (long long)id);
}

/* ---- raw sqlite3 ----------------------------------------------------- */

struct rs {
    sqlite3 *db;
    sqlite3_stmt *st;
};

static _Noreturn void rs_fail(struct rs *r, int rc, const char *what)
{
    die("sqlite3: %s: %s (%s)", what, sqlite3_errmsg(r->db),
        sqlite3_errstr(rc));
}

static void rs_exec(void *h, const char *sql)
{
    struct rs *r = h;
    char *err = NULL;

    if (sqlite3_exec(r->db, sql, NULL, NULL, &err) != SQLITE_OK)
        die("sqlite3: %s: %s", sql, err ? err : sqlite3_errmsg(r->db));
}

static char *rs_query_text(void *h, const char *sql)
{
    struct rs *r = h;
    sqlite3_stmt *st;
    char *out = NULL;
    int rc;

    rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        rs_fail(r, rc, sql);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);

        out = xstrdup(t ? (const char *)t : "");
    } else if (rc != SQLITE_DONE) {
        rs_fail(r, rc, sql);
    }
    sqlite3_finalize(st);
    return out;
}

static void rs_prepare(void *h, const char *sql, int nparams)
{
    struct rs *r = h;
    int rc;

    (void)nparams;
    rc = sqlite3_prepare_v2(r->db, sql, -1, &r->st, NULL);
    if (rc != SQLITE_OK)
        rs_fail(r, rc, "sqlite3_prepare_v2");
}

static void rs_point(void *h, long n, struct sums *s)
{
    struct rs *r = h;
    sqlite3_stmt *st = r->st;
    long i;

    for (i = 0; i < n; i++) {
        int64_t id = point_id(i);
        const unsigned char *c;
        int rc;

        rc = sqlite3_bind_int64(st, 1, id);
        if (rc != SQLITE_OK)
            rs_fail(r, rc, "sqlite3_bind_int64");
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            if (rc == SQLITE_DONE)
                no_row(id);
            rs_fail(r, rc, "sqlite3_step");
        }
        c = sqlite3_column_text(st, 2);
        if (c == NULL)
            rs_fail(r, SQLITE_NOMEM, "sqlite3_column_text");
        sums_add(s, sqlite3_column_int64(st, 0),
                 sqlite3_column_double(st, 1), (const char *)c,
                 (size_t)sqlite3_column_bytes(st, 2));
        sqlite3_reset(st);
    }
}

static void rs_insert(void *h, long n)
{
    struct rs *r = h;
    sqlite3_stmt *st = r->st;
    int64_t id;

    rs_exec(r, "BEGIN");
    for (id = 1; id <= n; id++) {
        int rc;

        if ((rc = sqlite3_bind_int64(st, 1, id)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(st, 2, val_a(id))) != SQLITE_OK ||
            (rc = sqlite3_bind_double(st, 3, val_b(id))) != SQLITE_OK ||
            (rc = sqlite3_bind_text(st, 4, ctext[id], (int)clen[id],
                                    SQLITE_STATIC)) != SQLITE_OK)
            rs_fail(r, rc, "sqlite3_bind");
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            rs_fail(r, rc, "sqlite3_step");
        sqlite3_reset(st);
    }
    rs_exec(r, "COMMIT");
}

static void rs_scan(void *h, long passes, struct sums *s)
{
    struct rs *r = h;
    sqlite3_stmt *st = r->st;
    long p;

    for (p = 0; p < passes; p++) {
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *c = sqlite3_column_text(st, 2);

            if (c == NULL)
                rs_fail(r, SQLITE_NOMEM, "sqlite3_column_text");
            sums_add(s, sqlite3_column_int64(st, 0),
                     sqlite3_column_double(st, 1), (const char *)c,
                     (size_t)sqlite3_column_bytes(st, 2));
        }
        if (rc != SQLITE_DONE)
            rs_fail(r, rc, "sqlite3_step");
        sqlite3_reset(st);
    }
}

static void rs_users_reset(void *h, const char *table)
{
    char sql[128];

    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
    rs_exec(h, sql);
    rs_exec(h, raw_users_ddl());
}

/* INSERT INTO table (...) VALUES (?, ?, ?, ?, ?), ... for k rows. */
static sqlite3_stmt *rs_prepare_batch(struct rs *r, const char *table,
                                      long k)
{
    static const char row[] = "(?, ?, ?, ?, ?)";
    char *sql = xmalloc(128 + (size_t)k * (sizeof row + 2)), *p;
    sqlite3_stmt *st;
    long i;
    int rc;

    p = sql + sprintf(sql, "INSERT INTO %s (name, email, balance, active, "
                      "created_at) VALUES ", table);
    for (i = 0; i < k; i++) {
        if (i > 0) {
            *p++ = ',';
            *p++ = ' ';
        }
        memcpy(p, row, sizeof row - 1);
        p += sizeof row - 1;
    }
    *p = '\0';
    rc = sqlite3_prepare_v2(r->db, sql, (int)(p - sql), &st, NULL);
    free(sql);
    if (rc != SQLITE_OK)
        rs_fail(r, rc, "sqlite3_prepare_v2 (batch)");
    return st;
}

/*
 * What a careful sqlite3 program does for a bulk load: one transaction,
 * one 500-row INSERT prepared once and bound again per batch (a second
 * statement for the last, shorter batch), created_at stamped with the
 * time the load began.
 */
static void rs_bulk(void *h, const char *table, long n, enum mode mode)
{
    struct rs *r = h;
    sqlite3_stmt *full = NULL, *st;
    int64_t stamp = now_us();
    long i = 0;

    (void)mode;
    rs_exec(r, "BEGIN");
    while (i < n) {
        long k = n - i < RAW_BATCH ? n - i : RAW_BATCH, j;
        int rc, col = 1;

        if (k == RAW_BATCH) {
            if (full == NULL)
                full = rs_prepare_batch(r, table, k);
            st = full;
        } else {
            st = rs_prepare_batch(r, table, k);
        }
        for (j = 0; j < k; j++) {
            const struct user *u = &users[i + j];

            if ((rc = sqlite3_bind_text(st, col, u->name,
                                        (int)name_len[i + j],
                                        SQLITE_STATIC)) != SQLITE_OK ||
                (rc = sqlite3_bind_text(st, col + 1, u->email,
                                        (int)email_len[i + j],
                                        SQLITE_STATIC)) != SQLITE_OK ||
                (rc = sqlite3_bind_double(st, col + 2,
                                          u->balance)) != SQLITE_OK ||
                (rc = sqlite3_bind_int(st, col + 3,
                                       u->active != 0)) != SQLITE_OK ||
                (rc = sqlite3_bind_int64(st, col + 4, stamp)) != SQLITE_OK)
                rs_fail(r, rc, "sqlite3_bind");
            col += 5;
        }
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            rs_fail(r, rc, "sqlite3_step (batch)");
        sqlite3_reset(st);
        if (st != full)
            sqlite3_finalize(st);
        i += k;
    }
    sqlite3_finalize(full);
    rs_exec(r, "COMMIT");
}

/*
 * A find as a sqlite3 program writes it: the prepared SELECT of every
 * column by id, the struct filled from the row with its two strings
 * copied into one malloc'd block, used, and freed.
 */
static void rs_find(void *h, const char *table, long n, struct usums *s)
{
    struct rs *r = h;
    sqlite3_stmt *st = r->st;
    long i;

    (void)table;
    for (i = 0; i < n; i++) {
        int64_t id = find_id(i);
        const unsigned char *nm, *em;
        struct user u;
        size_t nl, el;
        char *buf;
        int rc;

        rc = sqlite3_bind_int64(st, 1, id);
        if (rc != SQLITE_OK)
            rs_fail(r, rc, "sqlite3_bind_int64");
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            if (rc == SQLITE_DONE)
                no_row(id);
            rs_fail(r, rc, "sqlite3_step");
        }
        nm = sqlite3_column_text(st, 1);
        nl = (size_t)sqlite3_column_bytes(st, 1);
        em = sqlite3_column_text(st, 2);
        el = (size_t)sqlite3_column_bytes(st, 2);
        if (nm == NULL || em == NULL)
            rs_fail(r, SQLITE_NOMEM, "sqlite3_column_text");
        buf = xmalloc(nl + el + 2);
        memcpy(buf, nm, nl + 1);
        memcpy(buf + nl + 1, em, el + 1);
        u.id = sqlite3_column_int64(st, 0);
        u.name = buf;
        u.email = buf + nl + 1;
        u.balance = sqlite3_column_double(st, 3);
        u.active = sqlite3_column_int(st, 4) != 0;
        u.created_at = sqlite3_column_int64(st, 5);
        sqlite3_reset(st);
        usums_add(s, &u);
        free(buf);
    }
}

static void rs_close(void *h)
{
    struct rs *r = h;

    sqlite3_finalize(r->st);
    sqlite3_close(r->db);
    free(r);
}

/*
 * Open path with the settings libdal's SQLite driver uses by default:
 * no per-connection mutex (a connection is used by one thread at a
 * time), foreign keys on, a 5 s busy timeout. mirror_pragmas() later
 * checks every other setting against the libdal side.
 */
static void rs_open(struct side *s, const char *path, int wal)
{
    struct rs *r = xmalloc(sizeof *r);
    int rc;

    r->db = NULL;
    r->st = NULL;
    rc = sqlite3_open_v2(path, &r->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                         SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        rs_fail(r, rc, path);
    rc = sqlite3_busy_timeout(r->db, 5000);
    if (rc != SQLITE_OK)
        rs_fail(r, rc, "sqlite3_busy_timeout");
    rs_exec(r, "PRAGMA foreign_keys = ON");
    if (wal) {
        char *mode = rs_query_text(r, "PRAGMA journal_mode = WAL");

        if (mode == NULL || strcmp(mode, "wal") != 0)
            die("sqlite3: cannot switch %s to WAL (journal_mode %s)", path,
                mode ? mode : "?");
        free(mode);
    }
    s->name = "raw";
    s->dollar = 0;
    s->h = r;
    s->exec = rs_exec;
    s->query_text = rs_query_text;
    s->prepare = rs_prepare;
    s->prepare_ast = NULL;
    s->point = rs_point;
    s->insert = rs_insert;
    s->scan = rs_scan;
    s->users_reset = rs_users_reset;
    s->bulk = rs_bulk;
    s->find = rs_find;
    s->close = rs_close;
}

/* ---- raw libpq ------------------------------------------------------- */

/*
 * What a careful libpq program does: the statement is prepared once
 * with PQprepare, every op is a PQexecPrepared with text parameters, and
 * values are read with PQgetvalue and converted with strtoll / strtod.
 */
struct rp {
    PGconn *c;
};

static _Noreturn void rp_fail(struct rp *p, const PGresult *res,
                              const char *what)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";

    if (*msg == '\0')
        msg = PQerrorMessage(p->c);
    if (*msg == '\0' && res != NULL)
        msg = PQresStatus(PQresultStatus(res));
    die("libpq: %s: %s", what, msg);
}

static void rp_exec(void *h, const char *sql)
{
    struct rp *p = h;
    PGresult *res = PQexec(p->c, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rp_fail(p, res, sql);
    PQclear(res);
}

static char *rp_query_text(void *h, const char *sql)
{
    struct rp *p = h;
    PGresult *res = PQexec(p->c, sql);
    char *out = NULL;

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rp_fail(p, res, sql);
    if (PQntuples(res) > 0)
        out = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return out;
}

static void rp_prepare(void *h, const char *sql, int nparams)
{
    struct rp *p = h;
    PGresult *res = PQprepare(p->c, "bench", sql, nparams, NULL);

    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rp_fail(p, res, "PQprepare");
    PQclear(res);
}

static void rp_point(void *h, long n, struct sums *s)
{
    struct rp *p = h;
    char idbuf[24];
    long i;

    for (i = 0; i < n; i++) {
        int64_t id = point_id(i);
        const char *vals[1];
        PGresult *res;

        vals[0] = fmt_i64(idbuf, id);
        res = PQexecPrepared(p->c, "bench", 1, vals, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            rp_fail(p, res, "PQexecPrepared");
        if (PQntuples(res) != 1)
            no_row(id);
        sums_add(s, strtoll(PQgetvalue(res, 0, 0), NULL, 10),
                 strtod(PQgetvalue(res, 0, 1), NULL),
                 PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2));
        PQclear(res);
    }
}

static void rp_insert(void *h, long n)
{
    struct rp *p = h;
    char ibuf[24], abuf[24], bbuf[32];
    int64_t id;

    rp_exec(p, "BEGIN");
    for (id = 1; id <= n; id++) {
        const char *vals[4];
        PGresult *res;

        vals[0] = fmt_i64(ibuf, id);
        vals[1] = fmt_i64(abuf, val_a(id));
        snprintf(bbuf, sizeof bbuf, "%.17g", val_b(id));
        vals[2] = bbuf;
        vals[3] = ctext[id];
        res = PQexecPrepared(p->c, "bench", 4, vals, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rp_fail(p, res, "PQexecPrepared");
        PQclear(res);
    }
    rp_exec(p, "COMMIT");
}

static void rp_scan(void *h, long passes, struct sums *s)
{
    struct rp *p = h;
    long pass;

    for (pass = 0; pass < passes; pass++) {
        PGresult *res = PQexecPrepared(p->c, "bench", 0, NULL, NULL, NULL,
                                       0);
        int i, n;

        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            rp_fail(p, res, "PQexecPrepared");
        n = PQntuples(res);
        for (i = 0; i < n; i++)
            sums_add(s, strtoll(PQgetvalue(res, i, 0), NULL, 10),
                     strtod(PQgetvalue(res, i, 1), NULL),
                     PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2));
        PQclear(res);
    }
}

static void rp_users_reset(void *h, const char *table)
{
    char sql[128];

    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
    rp_exec(h, sql);
    rp_exec(h, raw_users_ddl());
}

/* Append s to a COPY text-format buffer, escaped. */
static char *copy_text(char *p, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char c = s[i];

        switch (c) {
        case '\\': *p++ = '\\'; *p++ = '\\'; break;
        case '\t': *p++ = '\\'; *p++ = 't'; break;
        case '\n': *p++ = '\\'; *p++ = 'n'; break;
        case '\r': *p++ = '\\'; *p++ = 'r'; break;
        default: *p++ = c;
        }
    }
    return p;
}

static void rp_put(struct rp *p, const char *buf, size_t n)
{
    if (PQputCopyData(p->c, buf, (int)n) != 1)
        rp_fail(p, NULL, "PQputCopyData");
}

/*
 * What a careful libpq program does for a bulk load: COPY FROM STDIN in
 * text format, in one transaction, rows written into a 64 KiB buffer
 * that is sent whenever it is nearly full, created_at stamped with the
 * time the load began.
 */
static void rp_bulk(void *h, const char *table, long n, enum mode mode)
{
    enum { CAP = 65536 };
    struct rp *p = h;
    static char buf[CAP];
    char sql[160], nbuf[24];
    const char *stamp;
    char *w = buf;
    PGresult *res;
    size_t slen;
    long i;

    (void)mode;
    stamp = fmt_i64(nbuf, now_us());
    slen = strlen(stamp);
    rp_exec(p, "BEGIN");
    snprintf(sql, sizeof sql, "COPY %s (name, email, balance, active, "
             "created_at) FROM STDIN", table);
    res = PQexec(p->c, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN)
        rp_fail(p, res, sql);
    PQclear(res);
    for (i = 0; i < n; i++) {
        const struct user *u = &users[i];

        /* A row is at most twice its text plus 64 bytes. */
        if ((size_t)(buf + CAP - w) <
            2 * (name_len[i] + email_len[i]) + slen + 64) {
            rp_put(p, buf, (size_t)(w - buf));
            w = buf;
        }
        w = copy_text(w, u->name, name_len[i]);
        *w++ = '\t';
        w = copy_text(w, u->email, email_len[i]);
        *w++ = '\t';
        w += snprintf(w, 32, "%.17g", u->balance);
        *w++ = '\t';
        *w++ = u->active ? 't' : 'f';
        *w++ = '\t';
        memcpy(w, stamp, slen);
        w += slen;
        *w++ = '\n';
    }
    if (w > buf)
        rp_put(p, buf, (size_t)(w - buf));
    if (PQputCopyEnd(p->c, NULL) != 1)
        rp_fail(p, NULL, "PQputCopyEnd");
    res = PQgetResult(p->c);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rp_fail(p, res, "COPY");
    PQclear(res);
    while ((res = PQgetResult(p->c)) != NULL)
        PQclear(res);
    rp_exec(p, "COMMIT");
}

/*
 * A find as a libpq program writes it: PQexecPrepared of the SELECT of
 * every column by id (text format, as rp_point), values converted with
 * strtoll / strtod, the two strings copied into one malloc'd block.
 */
static void rp_find(void *h, const char *table, long n, struct usums *s)
{
    struct rp *p = h;
    char idbuf[24];
    long i;

    (void)table;
    for (i = 0; i < n; i++) {
        int64_t id = find_id(i);
        const char *vals[1];
        struct user u;
        size_t nl, el;
        PGresult *res;
        char *buf;

        vals[0] = fmt_i64(idbuf, id);
        res = PQexecPrepared(p->c, "bench", 1, vals, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            rp_fail(p, res, "PQexecPrepared");
        if (PQntuples(res) != 1)
            no_row(id);
        nl = (size_t)PQgetlength(res, 0, 1);
        el = (size_t)PQgetlength(res, 0, 2);
        buf = xmalloc(nl + el + 2);
        memcpy(buf, PQgetvalue(res, 0, 1), nl + 1);
        memcpy(buf + nl + 1, PQgetvalue(res, 0, 2), el + 1);
        u.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        u.name = buf;
        u.email = buf + nl + 1;
        u.balance = strtod(PQgetvalue(res, 0, 3), NULL);
        u.active = PQgetvalue(res, 0, 4)[0] == 't';
        u.created_at = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
        PQclear(res);
        usums_add(s, &u);
        free(buf);
    }
}

static void rp_close(void *h)
{
    struct rp *p = h;

    PQfinish(p->c);
    free(p);
}

static void rp_open(struct side *s, const char *url)
{
    struct rp *p = xmalloc(sizeof *p);

    p->c = PQconnectdb(url);
    if (p->c == NULL)
        die("libpq: PQconnectdb: out of memory");
    if (PQstatus(p->c) != CONNECTION_OK)
        rp_fail(p, NULL, "PQconnectdb");
    s->name = "raw";
    s->dollar = 1;
    s->h = p;
    s->exec = rp_exec;
    s->query_text = rp_query_text;
    s->prepare = rp_prepare;
    s->prepare_ast = NULL;
    s->point = rp_point;
    s->insert = rp_insert;
    s->scan = rp_scan;
    s->users_reset = rp_users_reset;
    s->bulk = rp_bulk;
    s->find = rp_find;
    s->close = rp_close;
}

/* ---- libdal ---------------------------------------------------------- */

struct ld {
    dal_db *db;
    dal_stmt *st;
    int idx; /* the index of the point select's id parameter */
};

static _Noreturn void ld_fail(struct ld *d, int rc, const char *what)
{
    die("libdal: %s: %s (%s, SQLSTATE %s)", what, dal_errmsg(d->db),
        dal_errstr(rc), dal_sqlstate(d->db));
}

static void ld_exec(void *h, const char *sql)
{
    struct ld *d = h;
    int rc = dal_exec(d->db, sql);

    if (rc != DAL_OK)
        ld_fail(d, rc, sql);
}

static char *ld_query_text(void *h, const char *sql)
{
    struct ld *d = h;
    char *t = NULL, *out;
    int rc = dal_query_text(d->db, sql, NULL, 0, &t, NULL);

    if (rc == DAL_DONE)
        return NULL;
    if (rc != DAL_OK)
        ld_fail(d, rc, sql);
    out = xstrdup(t ? t : "");
    dal_free(t);
    return out;
}

static void ld_prepare(void *h, const char *sql, int nparams)
{
    struct ld *d = h;
    int rc = dal_prepare(d->db, sql, &d->st);

    if (rc != DAL_OK)
        ld_fail(d, rc, "dal_prepare");
    if (dal_bind_param_count(d->st) != nparams)
        die("libdal: dal_bind_param_count gives %d for %d parameters",
            dal_bind_param_count(d->st), nparams);
    /* A point select's id is :id in ast_point_select, else ?1 / $1. */
    d->idx = dal_bind_param_index(d->st, "id");
    if (d->idx == 0)
        d->idx = 1;
}

/*
 * SELECT a, b, c FROM table WHERE id = dal_param("id"), compiled once.
 * The id's index is looked up here, once, as for the SQL text.
 */
static void ld_prepare_ast(void *h, const char *table)
{
    struct ld *d = h;
    dal_query *q = dal_select(dal_col("a"), dal_col("b"), dal_col("c"));
    int rc;

    dal_q_from(q, table);
    dal_q_where(q, dal_eq(dal_col("id"), dal_param("id")));
    rc = dal_query_prepare(d->db, q, &d->st);
    dal_query_free(q);
    if (rc != DAL_OK)
        ld_fail(d, rc, "dal_query_prepare");
    if (dal_bind_param_count(d->st) != 1)
        die("libdal: dal_bind_param_count gives %d for 1 parameter",
            dal_bind_param_count(d->st));
    d->idx = dal_bind_param_index(d->st, "id");
    if (d->idx != 1)
        die("libdal: dal_bind_param_index(\"id\") gives %d, not 1",
            d->idx);
    fprintf(stderr, "  dal: %s\n", dal_stmt_sql(d->st));
}

static void ld_point(void *h, long n, struct sums *s)
{
    struct ld *d = h;
    dal_stmt *st = d->st;
    int idx = d->idx;
    long i;

    for (i = 0; i < n; i++) {
        int64_t id = point_id(i);
        const char *c;
        size_t len;
        int rc;

        rc = dal_bind_int64(st, idx, id);
        if (rc != DAL_OK)
            ld_fail(d, rc, "dal_bind_int64");
        rc = dal_step(st);
        if (rc != DAL_ROW) {
            if (rc == DAL_DONE)
                no_row(id);
            ld_fail(d, rc, "dal_step");
        }
        c = dal_column_text(st, 2, &len);
        if (c == NULL)
            ld_fail(d, dal_errcode(d->db), "dal_column_text");
        sums_add(s, dal_column_int64(st, 0), dal_column_double(st, 1), c,
                 len);
        dal_reset(st);
    }
}

static void ld_insert(void *h, long n)
{
    struct ld *d = h;
    dal_stmt *st = d->st;
    int64_t id;
    int rc;

    rc = dal_begin(d->db, 0);
    if (rc != DAL_OK)
        ld_fail(d, rc, "dal_begin");
    for (id = 1; id <= n; id++) {
        if ((rc = dal_bind_int64(st, 1, id)) != DAL_OK ||
            (rc = dal_bind_int64(st, 2, val_a(id))) != DAL_OK ||
            (rc = dal_bind_double(st, 3, val_b(id))) != DAL_OK ||
            (rc = dal_bind_text(st, 4, ctext[id], clen[id],
                                DAL_STATIC)) != DAL_OK)
            ld_fail(d, rc, "dal_bind");
        rc = dal_step(st);
        if (rc != DAL_DONE)
            ld_fail(d, rc, "dal_step");
        dal_reset(st);
    }
    rc = dal_commit(d->db);
    if (rc != DAL_OK)
        ld_fail(d, rc, "dal_commit");
}

static void ld_scan(void *h, long passes, struct sums *s)
{
    struct ld *d = h;
    dal_stmt *st = d->st;
    long p;

    for (p = 0; p < passes; p++) {
        int rc;

        while ((rc = dal_step(st)) == DAL_ROW) {
            size_t len;
            const char *c = dal_column_text(st, 2, &len);

            if (c == NULL)
                ld_fail(d, dal_errcode(d->db), "dal_column_text");
            sums_add(s, dal_column_int64(st, 0), dal_column_double(st, 1),
                     c, len);
        }
        if (rc != DAL_DONE)
            ld_fail(d, rc, "dal_step");
        dal_reset(st);
    }
}

static void ld_users_reset(void *h, const char *table)
{
    struct ld *d = h;
    char sql[128];
    int rc;

    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
    ld_exec(d, sql);
    rc = dal_model_create_table(d->db, model_of(table));
    if (rc != DAL_OK)
        ld_fail(d, rc, "dal_model_create_table");
}

/* M_NO_IDS / M_IDS: one dal_model_bulk_create; M_NAIVE: one
 * dal_model_insert per row, each in its own (autocommit) transaction. */
static void ld_bulk(void *h, const char *table, long n, enum mode mode)
{
    struct ld *d = h;
    const dal_model *m = model_of(table);
    long i;
    int rc;

    if (mode == M_NAIVE) {
        for (i = 0; i < n; i++) {
            rc = dal_model_insert(d->db, m, &users[i]);
            if (rc != DAL_OK)
                ld_fail(d, rc, "dal_model_insert");
        }
        return;
    }
    rc = dal_model_bulk_create(d->db, m, users, (int)n,
                               mode == M_IDS ? 0 : DAL_BULK_NO_IDS);
    if (rc != DAL_OK)
        ld_fail(d, rc, "dal_model_bulk_create");
}

static void ld_find(void *h, const char *table, long n, struct usums *s)
{
    struct ld *d = h;
    const dal_model *m = model_of(table);
    long i;

    for (i = 0; i < n; i++) {
        int64_t id = find_id(i);
        dal_value pk = DAL_V_INT64(id);
        dal_rows *rows;
        int rc = dal_model_find(d->db, m, &pk, &rows);

        if (rc != DAL_OK) {
            if (rc == DAL_DONE)
                no_row(id);
            ld_fail(d, rc, "dal_model_find");
        }
        usums_add(s, dal_rows_at(rows, 0));
        dal_rows_free(rows);
    }
}

static void ld_close(void *h)
{
    struct ld *d = h;

    dal_finalize(d->st);
    dal_close(d->db);
    free(d);
}

/* name: "dal", or "raw" for the SQL-text side of ast_point_select. */
static void ld_open(struct side *s, const char *url, const char *name)
{
    struct ld *d = xmalloc(sizeof *d);
    int rc;

    d->st = NULL;
    d->idx = 1;
    rc = dal_open(url, &d->db);
    if (d->db == NULL)
        die("libdal: dal_open: out of memory");
    if (rc != DAL_OK)
        ld_fail(d, rc, "dal_open");
    s->name = name;
    s->dollar = 0;
    s->h = d;
    s->exec = ld_exec;
    s->query_text = ld_query_text;
    s->prepare = ld_prepare;
    s->prepare_ast = ld_prepare_ast;
    s->point = ld_point;
    s->insert = ld_insert;
    s->scan = ld_scan;
    s->users_reset = ld_users_reset;
    s->bulk = ld_bulk;
    s->find = ld_find;
    s->close = ld_close;
}

/* ---- point_select_observed ------------------------------------------- */

static dal_observer *obs;
static dal_metrics *obs_metrics;
static dal_tracer *obs_tracer;
static long observed_spans;

/* The exporter's share of the work: look at the span, count it. */
static void span_end(const dal_span *span, void *data)
{
    (void)data;
    observed_spans += span->end_unix_ns >= span->start_unix_ns;
}

/* The "dal" side of point_select_observed: libdal with metrics and
 * tracing on (an observer holding both hooks). */
static void observe_side(struct side *s)
{
    struct ld *d = s->h;
    int rc;

    if (dal_observer_new(&obs) != DAL_OK
        || dal_metrics_new(&obs_metrics) != DAL_OK
        || dal_metrics_observe(obs_metrics, obs) != DAL_OK
        || dal_tracer_new(NULL, span_end, NULL, 0, &obs_tracer) != DAL_OK
        || dal_tracer_observe(obs_tracer, obs) != DAL_OK)
        die("libdal: metrics and tracing: out of memory");
    if ((rc = dal_observe(d->db, obs)) != DAL_OK)
        ld_fail(d, rc, "dal_observe");
}

static void observed_free(void)
{
    if (!obs)
        return;
    if (dal_tracer_free(obs_tracer) != DAL_OK
        || dal_metrics_free(obs_metrics) != DAL_OK
        || dal_observer_free(obs) != DAL_OK)
        die("libdal: freeing the observer failed");
    obs = NULL;
    if (observed_spans == 0)
        die("point_select_observed: no span ended");
}

/* ---- setup ----------------------------------------------------------- */

static void sql_exec(struct side *s, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void sql_exec(struct side *s, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    s->exec(s->h, sql);
}

static int64_t query_int(struct side *s, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

static int64_t query_int(struct side *s, const char *fmt, ...)
{
    char sql[1024];
    char *t;
    int64_t v;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    t = s->query_text(s->h, sql);
    if (t == NULL)
        die("%s: no row", sql);
    v = strtoll(t, NULL, 10);
    free(t);
    return v;
}

static int is_pg(void)
{
    return target == T_PG_UNIX;
}

/* Create the side's table, empty, replacing any left from a crash. */
static void create_table(struct side *s)
{
    sql_exec(s, "DROP TABLE IF EXISTS %s", s->table);
    /* INTEGER PRIMARY KEY is SQLite's 64-bit rowid key. */
    if (is_pg())
        sql_exec(s, "CREATE TABLE %s (id BIGINT PRIMARY KEY, "
                 "a BIGINT NOT NULL, b DOUBLE PRECISION NOT NULL, "
                 "c TEXT NOT NULL)", s->table);
    else
        sql_exec(s, "CREATE TABLE %s (id INTEGER PRIMARY KEY, "
                 "a INTEGER NOT NULL, b REAL NOT NULL, c TEXT NOT NULL)",
                 s->table);
}

/* Fill the side's table with rows 1..n in one statement (SQL valid on
 * both backends), and check it. */
static void load_table(struct side *s, int n)
{
    int64_t id, sum = 0;

    sql_exec(s, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL "
             "SELECT i + 1 FROM s WHERE i < %d) "
             "INSERT INTO %s (id, a, b, c) "
             "SELECT i, i * 7919 %% 100003, i * 0.25, 'row-' || i FROM s",
             n, s->table);
    if (is_pg())
        sql_exec(s, "ANALYZE %s", s->table);
    for (id = 1; id <= n; id++)
        sum += val_a(id);
    if (query_int(s, "SELECT count(*) FROM %s", s->table) != n ||
        query_int(s, "SELECT sum(a) FROM %s", s->table) != sum)
        die("table %s did not load as expected", s->table);
}

static int is_users(void)
{
    return workload == W_BULK || workload == W_NAIVE || workload == W_FIND;
}

/*
 * Check the users table after users[0..n) went in: every row, with ids
 * 1..n (a new table) and the values of users[]; and the ids in users[]
 * when the side fills them back.
 */
static void check_users(struct side *s, long n)
{
    int64_t want_id = 0, want_q = 0, want_act = 0, want_len = 0, got;
    long i;

    for (i = 0; i < n; i++) {
        want_id += i + 1;
        want_q += (int64_t)(users[i].balance * 4);
        want_act += users[i].active != 0;
        want_len += (int64_t)(name_len[i] + email_len[i]);
    }
    if ((got = query_int(s, "SELECT count(*) FROM %s", s->table)) != n)
        die("inserted %ld rows, but count(*) gives %lld", n,
            (long long)got);
    if (query_int(s, "SELECT sum(id) FROM %s", s->table) != want_id ||
        query_int(s, "SELECT CAST(sum(balance * 4) AS BIGINT) FROM %s",
                  s->table) != want_q ||
        query_int(s, "SELECT sum(CASE WHEN active THEN 1 ELSE 0 END) "
                  "FROM %s", s->table) != want_act ||
        query_int(s, "SELECT sum(length(name) + length(email)) FROM %s",
                  s->table) != want_len ||
        query_int(s, "SELECT count(*) FROM %s WHERE created_at > 0",
                  s->table) != n)
        die("table %s does not hold the rows inserted", s->table);
    if (s->mode != M_NO_IDS)
        for (i = 0; i < n; i++)
            if (users[i].id != i + 1)
                die("users[%ld].id is %lld after the insert, not %ld", i,
                    (long long)users[i].id, i + 1);
}

/* An empty users table, then users[0..n) through the side's bulk path. */
static void load_users(struct side *s, long n)
{
    users_clear(n);
    s->users_reset(s->h, s->table);
    s->bulk(s->h, s->table, n, M_NO_IDS);
    check_users(s, n);
    if (is_pg())
        sql_exec(s, "ANALYZE %s", s->table);
}

static void empty_table(struct side *s)
{
    sql_exec(s, is_pg() ? "TRUNCATE %s" : "DELETE FROM %s", s->table);
}

static void setup(struct side *s)
{
    const char *p1 = s->dollar ? "$1" : "?", *p2 = s->dollar ? "$2" : "?";
    const char *p3 = s->dollar ? "$3" : "?", *p4 = s->dollar ? "$4" : "?";
    char sql[256];

    cur_side = s->name;
    /* Keep DROP TABLE IF EXISTS from chattering on stderr. */
    if (is_pg())
        s->exec(s->h, "SET client_min_messages TO warning");
    if (!is_users())
        create_table(s);
    switch (workload) {
    case W_POINT:
    case W_OBSERVED:
        load_table(s, POINT_ROWS);
        snprintf(sql, sizeof sql, "SELECT a, b, c FROM %s WHERE id = %s",
                 s->table, p1);
        s->prepare(s->h, sql, 1);
        break;
    case W_INSERT:
        snprintf(sql, sizeof sql, "INSERT INTO %s (id, a, b, c) "
                 "VALUES (%s, %s, %s, %s)", s->table, p1, p2, p3, p4);
        s->prepare(s->h, sql, 4);
        break;
    case W_SCAN:
        load_table(s, SCAN_ROWS);
        snprintf(sql, sizeof sql, "SELECT a, b, c FROM %s", s->table);
        s->prepare(s->h, sql, 0);
        break;
    case W_AST_POINT:
        /* Both sides are libdal: the AST on "dal", SQL text on "raw". */
        load_table(s, POINT_ROWS);
        if (strcmp(s->name, "dal") == 0) {
            s->prepare_ast(s->h, s->table);
        } else {
            snprintf(sql, sizeof sql, "SELECT a, b, c FROM %s "
                     "WHERE id = :id", s->table);
            fprintf(stderr, "  raw: %s\n", sql);
            s->prepare(s->h, sql, 1);
        }
        break;
    case W_BULK:
    case W_NAIVE:
        /* Every run makes the table again: this checks it can. */
        s->users_reset(s->h, s->table);
        break;
    case W_FIND:
        load_users(s, FIND_ROWS);
        /* libdal's side is dal_model_find: nothing to prepare. */
        if (strcmp(s->name, "raw") == 0) {
            snprintf(sql, sizeof sql, "SELECT id, name, email, balance, "
                     "active, created_at FROM %s WHERE id = %s", s->table,
                     p1);
            s->prepare(s->h, sql, 1);
        }
        break;
    case W_ASYNC:
        break; /* async_main() has its own setup */
    }
}

/*
 * Give the raw SQLite connection every setting the libdal one has, so
 * that the comparison measures libdal and not a PRAGMA. Prints them.
 */
static void mirror_pragmas(struct side *raw, struct side *dal)
{
    static const char *const names[] = {
        "journal_mode", "synchronous", "foreign_keys", "busy_timeout",
        "locking_mode", "cache_size", "cache_spill", "temp_store",
        "mmap_size", "wal_autocheckpoint", "secure_delete",
        "automatic_index", "recursive_triggers", "query_only"
    };
    size_t i;

    fprintf(stderr, "  sqlite %s settings:", sqlite3_libversion());
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        char sql[64], *dv, *rv;
        int changed = 0;

        snprintf(sql, sizeof sql, "PRAGMA %s", names[i]);
        cur_side = dal->name;
        dv = dal->query_text(dal->h, sql);
        cur_side = raw->name;
        rv = raw->query_text(raw->h, sql);
        if (dv == NULL)
            dv = xstrdup("");
        if (rv == NULL)
            rv = xstrdup("");
        if (strcmp(dv, rv) != 0) {
            snprintf(sql, sizeof sql, "PRAGMA %s = %s", names[i], dv);
            raw->exec(raw->h, sql);
            free(rv);
            snprintf(sql, sizeof sql, "PRAGMA %s", names[i]);
            rv = raw->query_text(raw->h, sql);
            if (rv == NULL || strcmp(dv, rv) != 0)
                die("cannot give raw sqlite3 libdal's %s (%s)", names[i],
                    dv);
            changed = 1;
        }
        fprintf(stderr, " %s=%s%s", names[i], dv, changed ? "(set)" : "");
        free(dv);
        free(rv);
    }
    fprintf(stderr, "\n");
    cur_side = "setup";
}

static void remove_tmpdir(void)
{
    static const char *const files[] = {
        "raw.db", "raw.db-wal", "raw.db-shm", "raw.db-journal",
        "dal.db", "dal.db-wal", "dal.db-shm", "dal.db-journal"
    };
    char path[300];
    size_t i;

    if (tmpdir[0] == '\0')
        return;
    for (i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    tmpdir[0] = '\0';
}

/* ---- runs ------------------------------------------------------------ */

/*
 * One run of n ops (point_select, model_find: lookups; insert_tx,
 * bulk_create, naive_create: rows; scan: passes over the table),
 * checked. Returns the seconds of the timed part; emptying or making the
 * table again before inserts and checking results are untimed.
 */
static double run_once(struct side *s, long n)
{
    struct sums got = {0, 0, 0.0, 0, 0}, want = {0, 0, 0.0, 0, 0};
    double t0, t1;
    int64_t id, count;
    long i;

    cur_side = s->name;
    switch (workload) {
    case W_POINT:
    case W_AST_POINT:
    case W_OBSERVED:
        t0 = now();
        s->point(s->h, n, &got);
        t1 = now();
        for (i = 0; i < n; i++)
            sums_expect_id(&want, point_id(i));
        sums_check(&got, &want);
        break;
    case W_FIND: {
        struct usums ugot = {0, 0, 0, 0, 0, 0, 0.0};
        struct usums uwant = {0, 0, 0, 0, 0, 0, 0.0};

        t0 = now();
        s->find(s->h, s->table, n, &ugot);
        t1 = now();
        for (i = 0; i < n; i++) {
            struct user u = users[find_id(i) - 1];

            u.id = find_id(i);
            u.created_at = 1;
            usums_add(&uwant, &u);
        }
        usums_check(&ugot, &uwant);
        break;
    }
    case W_BULK:
    case W_NAIVE:
        users_clear(n);
        s->users_reset(s->h, s->table);
        t0 = now();
        s->bulk(s->h, s->table, n, s->mode);
        t1 = now();
        check_users(s, n);
        break;
    case W_INSERT:
        empty_table(s);
        t0 = now();
        s->insert(s->h, n);
        t1 = now();
        count = query_int(s, "SELECT count(*) FROM %s", s->table);
        if (count != n)
            die("inserted %ld rows, but count(*) gives %lld", n,
                (long long)count);
        break;
    case W_SCAN:
    default:
        t0 = now();
        s->scan(s->h, n, &got);
        t1 = now();
        for (id = 1; id <= SCAN_ROWS; id++)
            sums_expect_id(&want, id);
        want.rows *= n;
        want.a *= n;
        want.b *= (double)n;
        want.clen *= n;
        want.cfirst *= n;
        sums_check(&got, &want);
        break;
    }
    return t1 - t0;
}

/* Ops that one run of n does. */
static double ops_of(long n)
{
    return workload == W_SCAN ? (double)n * SCAN_ROWS : (double)n;
}

/* Does every run write a fixed number of rows (the side's rows)? */
static int fixed_rows(void)
{
    return workload == W_INSERT || workload == W_BULK ||
           workload == W_NAIVE;
}

/*
 * Warm both sides up, untimed, and find the n that makes one run of the
 * slower side last about aim seconds. Workloads of fixed_rows() warm
 * every side up with a short run and return 0: each run of a side
 * writes its rows.
 */
static long warm_up(struct side **sides, int nsides, double aim)
{
    struct side *raw = sides[0], *dal = sides[1];
    long n;
    int round, i;

    if (fixed_rows()) {
        for (i = 0; i < nsides; i++) {
            long warm = sides[i]->mode == M_NAIVE ? NAIVE_WARMUP_ROWS
                                                  : INSERT_WARMUP_ROWS;

            run_once(sides[i], warm < sides[i]->rows ? warm
                                                     : sides[i]->rows);
        }
        return 0;
    }
    n = workload == W_SCAN ? 1 : 1000;
    for (round = 0;; round++) {
        double tr = run_once(raw, n), td = run_once(dal, n);
        double t = tr > td ? tr : td, k;

        if (t < 1e-6)
            t = 1e-6;
        fprintf(stderr, "  warm-up: %ld x %s: raw %.3f s, dal %.3f s\n", n,
                workload == W_SCAN ? "pass" : "op", tr, td);
        if (t >= aim / 4 || round == 10) {
            k = (double)n * aim / t;
            return k < 1 ? 1 : (long)(k + 0.5);
        }
        k = aim / 2 / t;
        n = (long)((double)n * (k > 100 ? 100 : k)) + 1;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long env_long(const char *name, long def, long min, long max)
{
    const char *v = getenv(name);
    char *end;
    long x;

    if (v == NULL || *v == '\0')
        return def;
    x = strtol(v, &end, 10);
    if (*end != '\0' || x < min || x > max) {
        fprintf(stderr, "bench: %s must be an integer in [%ld, %ld]\n", name,
                min, max);
        exit(2);
    }
    return x;
}

static int lookup(const char *s, const char *const *names, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* ---- async ---------------------------------------------------------- */

#define ASYNC_CONNS 4

struct abench {
    uv_loop_t loop;
    dal_async *h;
    dal_async_req *reqs;
    long left;
    int opened, closed;
    struct sums got;
};

static void ab_open_cb(dal_async *h, int status)
{
    struct abench *b = dal_async_data(h);

    if (status != DAL_OK)
        die("dal_async_open: %s", dal_async_errmsg(h));
    b->opened = 1;
}

static void ab_close_cb(dal_async *h)
{
    struct abench *b = dal_async_data(h);

    b->closed = 1;
}

static void ab_query_cb(dal_async_req *req, int status, dal_result *res)
{
    struct abench *b = req->data;
    size_t len;
    const char *c;

    if (status != DAL_OK)
        die("async point select: %s", dal_async_req_errmsg(req));
    if (dal_result_row_count(res) != 1)
        die("async point select returned %lld rows",
            (long long)dal_result_row_count(res));
    c = dal_result_text(res, 0, 2, &len);
    sums_add(&b->got, dal_result_int64(res, 0, 0),
             dal_result_double(res, 0, 1), c, len);
    b->left--;
}

/* n point selects in flight at once; the seconds until the last one. */
static double ab_run(struct abench *b, long n)
{
    struct sums want = {0, 0, 0.0, 0, 0};
    double t0, t1;
    long i;

    memset(&b->got, 0, sizeof b->got);
    b->left = n;
    t0 = now();
    for (i = 0; i < n; i++) {
        dal_value p = DAL_V_INT64(point_id(i));

        b->reqs[i].data = b;
        if (dal_async_query(&b->reqs[i], b->h, "SELECT a, b, c FROM pt "
                            "WHERE id = ?", &p, 1, ab_query_cb) != DAL_OK)
            die("dal_async_query: %s", dal_async_errmsg(b->h));
    }
    while (b->left > 0)
        uv_run(&b->loop, UV_RUN_ONCE);
    t1 = now();
    for (i = 0; i < n; i++)
        sums_expect_id(&want, point_id(i));
    sums_check(&b->got, &want);
    return t1 - t0;
}

/* n point selects, libdal sync, one after the other. */
static double sync_run(dal_db *db, dal_stmt *st, long n)
{
    struct sums got = {0, 0, 0.0, 0, 0}, want = {0, 0, 0.0, 0, 0};
    double t0, t1;
    long i;

    t0 = now();
    for (i = 0; i < n; i++) {
        const char *c;
        size_t len;

        if (dal_bind_int64(st, 1, point_id(i)) != DAL_OK
            || dal_step(st) != DAL_ROW)
            die("sync point select: %s", dal_errmsg(db));
        c = dal_column_text(st, 2, &len);
        sums_add(&got, dal_column_int64(st, 0), dal_column_double(st, 1),
                 c, len);
        dal_reset(st);
    }
    t1 = now();
    for (i = 0; i < n; i++)
        sums_expect_id(&want, point_id(i));
    sums_check(&got, &want);
    return t1 - t0;
}

static int async_main(const char *tname, long runs)
{
    struct abench b;
    double ns_a[MAX_RUNS], ns_s[MAX_RUNS], med_a, med_s, run_s;
    const char *base = getenv("TMPDIR");
    char url[320];
    dal_db *db = NULL;
    dal_stmt *st = NULL;
    long n, i;

    if (target != T_SQLITE_WAL) {
        fprintf(stderr, "bench: async runs on sqlite-wal only\n"
                "BENCH %s async skipped\n", tname);
        return 77;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s/dal-bench.XXXXXX",
             base && *base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        tmpdir[0] = '\0';
        die("mkdtemp failed");
    }
    atexit(remove_tmpdir);
    snprintf(url, sizeof url, "sqlite://%s/async.db?journal=wal", tmpdir);
    cur_side = "setup";
    make_text();
    if (dal_open(url, &db) != DAL_OK)
        die("dal_open: %s", db ? dal_errmsg(db) : "out of memory");
    if (dal_exec(db, "CREATE TABLE pt (id BIGINT PRIMARY KEY, a BIGINT, "
                 "b DOUBLE PRECISION, c TEXT)") != DAL_OK
        || dal_begin(db, 0) != DAL_OK
        || dal_prepare(db, "INSERT INTO pt VALUES (?, ?, ?, ?)", &st)
               != DAL_OK)
        die("setup: %s", dal_errmsg(db));
    for (i = 1; i <= POINT_ROWS; i++)
        if (dal_bind_int64(st, 1, i) || dal_bind_int64(st, 2, val_a(i))
            || dal_bind_double(st, 3, val_b(i))
            || dal_bind_text(st, 4, ctext[i], clen[i], DAL_STATIC)
            || dal_step(st) != DAL_DONE || dal_reset(st))
            die("setup insert: %s", dal_errmsg(db));
    dal_finalize(st);
    if (dal_commit(db) != DAL_OK
        || dal_prepare(db, "SELECT a, b, c FROM pt WHERE id = ?", &st)
               != DAL_OK)
        die("setup: %s", dal_errmsg(db));

    memset(&b, 0, sizeof b);
    uv_loop_init(&b.loop);
    if (dal_async_open(&b.loop, url, ASYNC_CONNS, ab_open_cb, &b, &b.h)
        != DAL_OK)
        die("dal_async_open failed");
    while (!b.opened)
        uv_run(&b.loop, UV_RUN_ONCE);

    /* Calibrate on the sync side: the op count of one run. */
    cur_side = "raw";
    n = 1000;
    for (;;) {
        run_s = sync_run(db, st, n);
        if (run_s * 1000 >= (double)env_long("BENCH_RUN_MS", 400, 1, 60000)
            || n >= 10000000)
            break;
        n *= 2;
    }
    b.reqs = xmalloc((size_t)n * sizeof *b.reqs);
    cur_side = "dal";
    ab_run(&b, n); /* warm-up */
    fprintf(stderr, "  %ld timed runs per side of %ld ops each, "
            "%d connections\n", runs, n, ASYNC_CONNS);
    for (i = 0; i < runs; i++) {
        if (i % 2) {
            cur_side = "dal";
            ns_a[i] = ab_run(&b, n) * 1e9 / (double)n;
            cur_side = "raw";
            ns_s[i] = sync_run(db, st, n) * 1e9 / (double)n;
        } else {
            cur_side = "raw";
            ns_s[i] = sync_run(db, st, n) * 1e9 / (double)n;
            cur_side = "dal";
            ns_a[i] = ab_run(&b, n) * 1e9 / (double)n;
        }
        fprintf(stderr, "  run %ld: raw %.1f ns/op, dal %.1f ns/op\n",
                i + 1, ns_s[i], ns_a[i]);
    }
    med_a = median(ns_a, (int)runs);
    med_s = median(ns_s, (int)runs);
    cur_side = "cleanup";
    dal_async_close(b.h, ab_close_cb);
    while (!b.closed)
        uv_run(&b.loop, UV_RUN_ONCE);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    free(b.reqs);
    dal_finalize(st);
    dal_close(db);
    remove_tmpdir();
    printf("BENCH %s async dal=%.0f raw=%.0f ratio=%.2f\n", tname,
           1e9 / med_a, 1e9 / med_s, med_s / med_a);
    return fflush(stdout) == 0 ? 0 : 1;
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: bench sqlite-mem|sqlite-wal|pg-unix "
            "point_select|insert_tx|scan|ast_point_select|\n"
            "             bulk_create|naive_create|model_find|"
            "point_select_observed|batch|async|\n"
            "             async_pipeline|async_vs_raw_pipeline\n"
            "       bench pool checkout\n"
            "       bench pg-cluster failover_ms\n");
    exit(2);
}

/*
 * The batch workload (`bench TARGET batch`), apart from the raw-vs-dal
 * cells: 1000 single-row INSERTs as one pipelined dal_batch_run
 * (DAL_BATCH_ATOMIC) against the same 1000 run one after another with
 * dal_exec_params() inside dal_begin()/dal_commit(). Both sides are
 * libdal; the line is
 *   BENCH <target> batch batch=<stmts/s> seq=<stmts/s> speedup=<x>
 * where x is seq ns per statement / batch ns per statement.
 */
#define BATCH_STMTS 1000

static void batch_die(dal_db *d, const char *what)
{
    fprintf(stderr, "bench batch: %s: %s\n", what, d ? dal_errmsg(d)
                                                     : "no handle");
    exit(1);
}

static double batch_side(dal_db *d, int pipelined)
{
    static const char *ins = "INSERT INTO bench_batch (id, name, n) "
                             "VALUES (?, ?, ?)";
    dal_batch *b = NULL;
    int64_t t0;
    int i;

    if (dal_exec(d, "DELETE FROM bench_batch") != DAL_OK)
        batch_die(d, "DELETE");
    if (pipelined && dal_batch_new(d, &b) != DAL_OK)
        batch_die(d, "dal_batch_new");
    t0 = dal_clock_ns();
    if (!pipelined && dal_begin(d, 0) != DAL_OK)
        batch_die(d, "BEGIN");
    for (i = 0; i < BATCH_STMTS; i++) {
        dal_value p[3] = {DAL_V_INT64(i), DAL_V_TEXT("a batch row"),
                          DAL_V_INT64(i * 7)};

        if (pipelined ? dal_batch_add(b, ins, p, 3)
                      : dal_exec_params(d, ins, p, 3))
            batch_die(d, "insert");
    }
    if (pipelined ? dal_batch_run(b, DAL_BATCH_ATOMIC) : dal_commit(d))
        batch_die(d, pipelined ? "dal_batch_run" : "COMMIT");
    t0 = dal_clock_ns() - t0;
    dal_batch_free(b);
    return (double)t0 / BATCH_STMTS;
}

static int bench_batch(const char *tname)
{
    const char *url = NULL;
    double ns[2][MAX_RUNS];
    long runs = env_long("BENCH_RUNS", 5, 1, MAX_RUNS), i;
    dal_db *d = NULL;
    int k;

    if (!strcmp(tname, "sqlite-mem")) {
        url = "sqlite::memory:";
    } else if (!strcmp(tname, "sqlite-wal")) {
        url = "sqlite:///tmp/dal-bench-batch.db?journal=wal";
        unlink("/tmp/dal-bench-batch.db");
    } else if (!strcmp(tname, "pg-unix")) {
        url = getenv("DAL_TEST_PG_SOCKET_URL");
        if (url == NULL || *url == '\0') {
            fprintf(stderr, "bench: DAL_TEST_PG_SOCKET_URL is not set\n"
                    "BENCH pg-unix batch skipped\n");
            return 77;
        }
    } else {
        usage();
    }
    if (dal_open(url, &d) != DAL_OK)
        batch_die(d, "dal_open");
    if (dal_exec(d, "DROP TABLE IF EXISTS bench_batch") != DAL_OK
        || dal_exec(d, "CREATE TABLE bench_batch (id BIGINT PRIMARY KEY, "
                    "name TEXT, n BIGINT)") != DAL_OK)
        batch_die(d, "CREATE TABLE");
    batch_side(d, 0); /* warm-up: statement cache, server plans */
    batch_side(d, 1);
    for (i = 0; i < runs; i++)
        for (k = 0; k < 2; k++) {
            int side = (int)((i + k) % 2);

            ns[side][i] = batch_side(d, side);
        }
    dal_exec(d, "DROP TABLE bench_batch");
    dal_close(d);
    if (!strcmp(tname, "sqlite-wal"))
        unlink("/tmp/dal-bench-batch.db");
    ns[0][0] = median(ns[0], (int)runs);
    ns[1][0] = median(ns[1], (int)runs);
    fprintf(stderr, "  median: batch %.1f ns/stmt, seq %.1f ns/stmt\n",
            ns[1][0], ns[0][0]);
    printf("BENCH %s batch batch=%.0f seq=%.0f speedup=%.2f\n", tname,
           1e9 / ns[1][0], 1e9 / ns[0][0], ns[0][0] / ns[1][0]);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- pool checkout (bench pool checkout) --------------------------- */

/*
 * dal_pool_acquire + dal_pool_release of a connection to sqlite::memory:
 * (max_size 4, so that 8 and 16 threads contend for connections), by 1,
 * 2, 4, 8 and 16 threads, against "raw": what a program without a pool
 * does per unit of work, dal_open + dal_close of sqlite::memory:, by as
 * many threads. An op is one checkout and return (or one open and
 * close); ops/s count every thread's ops over the run's wall time.
 * One line per thread count:
 *   BENCH pool checkout dal=<ops/s> raw=<ops/s> ratio=<r> threads=<n>
 * with r = raw ns per op / pool ns per op (above 1: the pool is faster).
 */
#include <pthread.h>

struct pool_worker {
    dal_pool *pool; /* NULL: the raw side */
    long ops;
    pthread_barrier_t *start;
};

static void *pool_work(void *arg)
{
    struct pool_worker *w = arg;
    dal_db *db;
    long i;

    pthread_barrier_wait(w->start);
    for (i = 0; i < w->ops; i++) {
        if (w->pool) {
            if (dal_pool_acquire(w->pool, 0, &db) != DAL_OK)
                die("dal_pool_acquire: %s", dal_pool_errmsg());
            if (dal_pool_release(w->pool, db) != DAL_OK)
                die("dal_pool_release: %s", dal_pool_errmsg());
        } else {
            if (dal_open("sqlite::memory:", &db) != DAL_OK)
                die("dal_open: %s", dal_errmsg(db));
            dal_close(db);
        }
    }
    return NULL;
}

/* Wall seconds for nthreads threads doing ops each on pool (or raw). */
static double pool_run(dal_pool *pool, int nthreads, long ops)
{
    struct pool_worker w[16];
    pthread_t t[16];
    pthread_barrier_t start;
    double t0;
    int i;

    if (pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1) != 0)
        die("pthread_barrier_init failed");
    for (i = 0; i < nthreads; i++) {
        w[i].pool = pool;
        w[i].ops = ops;
        w[i].start = &start;
        if (pthread_create(&t[i], NULL, pool_work, &w[i]) != 0)
            die("pthread_create failed");
    }
    pthread_barrier_wait(&start);
    t0 = now();
    for (i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    t0 = now() - t0;
    pthread_barrier_destroy(&start);
    return t0;
}

static int pool_bench(const char *workload_name)
{
    static const int threads[] = {1, 2, 4, 8, 16};
    double ns[2][MAX_RUNS], med[2], secs;
    long runs, run_ms, ops[2];
    dal_pool_config cfg;
    dal_pool *pool;
    int k, i, j, side;

    if (strcmp(workload_name, "checkout") != 0)
        usage();
    runs = env_long("BENCH_RUNS", 5, 1, MAX_RUNS);
    run_ms = env_long("BENCH_RUN_MS", 400, 1, 60000);
    memset(&cfg, 0, sizeof cfg);
    cfg.max_size = 4;
    cfg.acquire_timeout_ms = -1;
    for (k = 0; k < (int)(sizeof threads / sizeof threads[0]); k++) {
        cur_side = "dal";
        if (dal_pool_new("sqlite::memory:", &cfg, &pool) != DAL_OK)
            die("dal_pool_new: %s", dal_pool_errmsg());
        /* Calibrate each side's ops per thread to about run_ms. */
        for (side = 0; side < 2; side++) {
            ops[side] = 100;
            while ((secs = pool_run(side ? pool : NULL, threads[k],
                                    ops[side])) < 0.05)
                ops[side] *= 4;
            ops[side] = (long)((double)ops[side] * run_ms / 1000 / secs)
                        + 1;
        }
        for (i = 0; i < runs; i++)
            for (j = 0; j < 2; j++) {
                side = (i + j) % 2;
                cur_side = side ? "dal" : "raw";
                ns[side][i] = pool_run(side ? pool : NULL, threads[k],
                                       ops[side]) * 1e9
                              / ((double)ops[side] * threads[k]);
            }
        dal_pool_free(pool);
        for (side = 0; side < 2; side++)
            med[side] = median(ns[side], (int)runs);
        fprintf(stderr, "  threads %d: median raw %.1f ns/op, pool %.1f "
                "ns/op\n", threads[k], med[0], med[1]);
        printf("BENCH pool checkout dal=%.0f raw=%.0f ratio=%.2f "
               "threads=%d\n", 1e9 / med[1], 1e9 / med[0],
               med[0] / med[1], threads[k]);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- pg-cluster failover_ms ----------------------------------------- */

/*
 * `bench pg-cluster failover_ms`, under tests/pg/with-cluster.sh (which
 * it uses up: the primary is killed and the standby promoted). A pool on
 * both hosts as primary candidates, with the standby as a replica, writes
 * rows and keeps an idle connection to the primary; then the primary is
 * stopped with -m immediate and the standby promoted (pg_ctl promote -w).
 * value is the time from promote's return to the first INSERT that
 * succeeds through the pool, retrying at once after each failure; the
 * line also tells how many checkouts that took.
 */
static void cl_pg_ctl(const char *data, const char *args)
{
    const char *ctl = getenv("DAL_TEST_PG_CTL");
    char cmd[2048];

    if (!ctl || !data)
        die("pg-cluster: DAL_TEST_PG_CTL and the data dirs are unset");
    snprintf(cmd, sizeof cmd, "\"%s\" -D \"%s\" %s >/dev/null 2>&1", ctl,
             data, args);
    if (system(cmd) != 0)
        die("pg-cluster: %s failed", cmd);
}

static int bench_failover(void)
{
    const char *multi = getenv("DAL_TEST_PG_MULTIHOST_URL");
    const char *standby = getenv("DAL_TEST_PG_STANDBY_URL");
    char url[1024];
    dal_pool *pool = NULL;
    dal_db *db;
    dal_value v;
    struct timespec t0, t1;
    int rc, i, attempts = 0;
    double ms;

    if (!multi || !*multi || !standby || !*standby) {
        fprintf(stderr, "BENCH pg-cluster failover_ms skipped "
                "(DAL_TEST_PG_MULTIHOST_URL unset: run under "
                "tests/pg/with-cluster.sh)\n");
        return 77;
    }
    standby = strchr(standby, '@') ? strchr(standby, '@') + 1 : standby;
    snprintf(url, sizeof url, "%s?replicas=%.*s", multi,
             (int)strcspn(standby, "/"), standby);
    if (dal_pool_new(url, NULL, &pool) != DAL_OK)
        die("pg-cluster: dal_pool_new: %s", dal_pool_errmsg());
    if (dal_pool_acquire(pool, 0, &db) != DAL_OK)
        die("pg-cluster: acquire: %s", dal_pool_errmsg());
    if (dal_exec(db, "DROP TABLE IF EXISTS bench_fo; CREATE TABLE bench_fo "
                 "(id bigint PRIMARY KEY)") != DAL_OK)
        die("pg-cluster: %s", dal_errmsg(db));
    for (i = 1; i <= 100; i++) {
        v = DAL_V_INT64(i);
        if (dal_exec_params(db, "INSERT INTO bench_fo VALUES ($1)", &v, 1)
            != DAL_OK)
            die("pg-cluster: %s", dal_errmsg(db));
    }
    dal_pool_release(pool, db);

    cl_pg_ctl(getenv("DAL_TEST_PG_PRIMARY_DATA"), "stop -m immediate -w");
    cl_pg_ctl(getenv("DAL_TEST_PG_STANDBY_DATA"), "promote -w");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        attempts++;
        v = DAL_V_INT64(1000 + attempts);
        rc = dal_pool_acquire(pool, 0, &db);
        if (rc == DAL_OK) {
            rc = dal_exec_params(db, "INSERT INTO bench_fo VALUES ($1)",
                                 &v, 1);
            dal_pool_release(pool, db);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3
             + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (rc == DAL_OK)
            break;
        if (ms > 30000)
            die("pg-cluster: no write within 30 s of the promotion: %s",
                dal_pool_errmsg());
    }
    dal_pool_free(pool);
    printf("BENCH pg-cluster failover_ms value=%.1f attempts=%d\n", ms,
           attempts);
    return 0;
}


/* ---- pg-unix async pipelines ---------------------------------------- */

/*
 * async_pipeline and async_vs_raw_pipeline (pg-unix only): APIPE_OPS
 * point selects per run, by the same ids as point_select, checked by
 * their sums. Three sides, two per line:
 *   dal   libdal async (dal_async_query on one connection, PostgreSQL's
 *         pipeline mode): every query issued at once, the loop run until
 *         the last callback;
 *   sync  libdal blocking, one after another (a prepared statement, as
 *         point_select's dal side): async_pipeline's raw;
 *   pipe  raw libpq in pipeline mode on a non-blocking connection: the
 *         statement prepared once, PQsendQueryPrepared per query with a
 *         Sync after every BENCH_RAW_SYNC queries (see below), at most
 *         APIPE_WINDOW queries in flight (libdal's default
 *         max_inflight), reading while writing: async_vs_raw_pipeline's
 *         raw.
 * By default (BENCH_PIPELINE_SYNC=batch) libdal runs with
 * pipeline_sync=batch (one segment per turn of the loop) and the raw
 * pipeline with a Sync per APIPE_WINDOW queries; BENCH_PIPELINE_SYNC=job
 * gives both a Sync per query (libdal's default). BENCH_RAW_SYNC sets
 * the raw Sync interval by itself.
 */
#define APIPE_OPS 10000
#define APIPE_WINDOW 256

struct apipe {
    uv_loop_t loop;
    dal_async *h;
    dal_async_req req[APIPE_OPS];
    struct sums *sums;
    long done;
    int failed;
    char sql[160];
    PGconn *raw;
    long raw_sync;
};

static int apipe_open_done;

static void apipe_opened(dal_async *h, int status)
{
    if (status != DAL_OK)
        die("libdal: dal_async_open: %s (%s)", dal_async_errmsg(h),
            dal_errstr(status));
    apipe_open_done = 1;
}

static void apipe_row(dal_async_req *req, int status, dal_result *res)
{
    struct apipe *a = req->data;
    const char *c;
    size_t len;

    if (status != DAL_OK)
        die("libdal: dal_async_query: %s (%s, SQLSTATE %s)",
            dal_async_req_errmsg(req), dal_errstr(status),
            dal_async_req_sqlstate(req));
    if ((int)dal_result_row_count(res) != 1)
        no_row(point_id(req - a->req));
    c = dal_result_text(res, 0, 2, &len);
    if (c == NULL)
        die("libdal: dal_result_text gives NULL");
    sums_add(a->sums, dal_result_int64(res, 0, 0),
             dal_result_double(res, 0, 1), c, len);
    a->done++;
}

/* n point selects issued at once on the async handle; the loop runs
 * until their callbacks have. Callbacks run in order, so sums are those
 * of ids 0..n-1. */
static void apipe_dal(struct apipe *a, long n, struct sums *s)
{
    long i;

    a->sums = s;
    a->done = 0;
    for (i = 0; i < n; i++) {
        dal_value p = DAL_V_INT64(point_id(i));
        int rc;

        a->req[i].data = a;
        a->req[i].timeout_ms = 0;
        rc = dal_async_query(&a->req[i], a->h, a->sql, &p, 1, apipe_row);
        if (rc != DAL_OK)
            die("libdal: dal_async_query: %s", dal_errstr(rc));
    }
    while (a->done < n)
        if (uv_run(&a->loop, UV_RUN_ONCE) == 0)
            break;
    if (a->done != n)
        die("libdal: %ld of %ld callbacks ran", a->done, n);
}

static _Noreturn void apipe_rawfail(struct apipe *a, const PGresult *res,
                                    const char *what)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";

    die("libpq: %s: %s", what, *msg ? msg : PQerrorMessage(a->raw));
}

/* n point selects through a raw libpq pipeline (see above). */
static void apipe_raw(struct apipe *a, long n, struct sums *s)
{
    PGconn *c = a->raw;
    long sent = 0, got = 0, unsynced = 0, syncs = 0, synced = 0;
    char idbuf[24];

    while (got < n || synced < syncs) {
        struct pollfd pfd;
        int busy;

        while (sent < n && sent - got < APIPE_WINDOW) {
            const char *vals[1];

            vals[0] = fmt_i64(idbuf, point_id(sent));
            if (!PQsendQueryPrepared(c, "apipe", 1, vals, NULL, NULL, 0))
                apipe_rawfail(a, NULL, "PQsendQueryPrepared");
            sent++;
            if (++unsynced == a->raw_sync || sent == n) {
                if (!PQpipelineSync(c))
                    apipe_rawfail(a, NULL, "PQpipelineSync");
                unsynced = 0;
                syncs++;
            }
        }
        busy = PQflush(c);
        if (busy < 0)
            apipe_rawfail(a, NULL, "PQflush");
        pfd.fd = PQsocket(c);
        pfd.events = POLLIN | (busy ? POLLOUT : 0);
        pfd.revents = 0;
        if (poll(&pfd, 1, -1) < 0)
            die("poll failed");
        if (!PQconsumeInput(c))
            apipe_rawfail(a, NULL, "PQconsumeInput");
        /* A query's results end with NULL; a Sync gives
         * PGRES_PIPELINE_SYNC. */
        while ((got < sent || synced < syncs) && !PQisBusy(c)) {
            PGresult *res = PQgetResult(c);

            if (res == NULL)
                continue;
            switch (PQresultStatus(res)) {
            case PGRES_TUPLES_OK:
                if (PQntuples(res) != 1)
                    no_row(point_id(got));
                sums_add(s, strtoll(PQgetvalue(res, 0, 0), NULL, 10),
                         strtod(PQgetvalue(res, 0, 1), NULL),
                         PQgetvalue(res, 0, 2),
                         (size_t)PQgetlength(res, 0, 2));
                got++;
                break;
            case PGRES_PIPELINE_SYNC:
                synced++;
                break;
            default:
                apipe_rawfail(a, res, "PQgetResult");
            }
            PQclear(res);
        }
    }
}

/* Run one side's n selects, checked; seconds taken. */
static double apipe_once(struct apipe *a, struct side *sync, int side,
                         long n)
{
    struct sums got = {0, 0, 0.0, 0, 0}, want = {0, 0, 0.0, 0, 0};
    double t0, t1;
    long i;

    t0 = now();
    if (side == 0)
        apipe_dal(a, n, &got);
    else if (side == 1)
        sync->point(sync->h, n, &got);
    else
        apipe_raw(a, n, &got);
    t1 = now();
    for (i = 0; i < n; i++)
        sums_expect_id(&want, point_id(i));
    sums_check(&got, &want);
    return t1 - t0;
}

static int pg_async_main(const char *wname, long runs)
{
    static struct apipe a;
    const char *url = getenv("DAL_TEST_PG_SOCKET_URL");
    int vs_raw = strcmp(wname, "async_vs_raw_pipeline") == 0;
    int other = vs_raw ? 2 : 1, i, k;
    double ns[2][MAX_RUNS], med[2];
    struct side sync;
    PGresult *res;
    char sql[160], aurl[1024];
    int batch;

    if (url == NULL || *url == '\0') {
        fprintf(stderr, "bench: DAL_TEST_PG_SOCKET_URL is not set\n"
                "BENCH pg-unix %s skipped\n", wname);
        return 77;
    }
    target = T_PG_UNIX;
    make_text();
    a.raw_sync = env_long("BENCH_RAW_SYNC", 1, 1, APIPE_WINDOW);
    cur_side = "setup";
    ld_open(&sync, url, "sync");
    sync.table = "bench_apipe";
    sync.exec(sync.h, "SET client_min_messages TO warning");
    create_table(&sync);
    load_table(&sync, POINT_ROWS);
    snprintf(sql, sizeof sql, "SELECT a, b, c FROM %s WHERE id = $1",
             sync.table);
    sync.prepare(sync.h, sql, 1);
    snprintf(a.sql, sizeof a.sql, "%s", sql);

    if (uv_loop_init(&a.loop) != 0)
        die("uv_loop_init failed");
    /* By default libdal's pipeline_sync=batch against a raw pipeline
     * with a Sync per window (segments of the same kind);
     * BENCH_PIPELINE_SYNC=job: a Sync per query on both sides. */
    batch = getenv("BENCH_PIPELINE_SYNC") == NULL
            || strcmp(getenv("BENCH_PIPELINE_SYNC"), "job") != 0;
    if (batch && getenv("BENCH_RAW_SYNC") == NULL)
        a.raw_sync = APIPE_WINDOW;
    snprintf(aurl, sizeof aurl, "%s%s%s", url,
             strchr(url, '?') ? "&" : "?",
             batch ? "pipeline_sync=batch" : "pipeline_sync=job");
    fprintf(stderr, "  dal: pipeline_sync=%s\n", batch ? "batch" : "job");
    if (dal_async_open(&a.loop, aurl, 1, apipe_opened, NULL, &a.h)
        != DAL_OK)
        die("libdal: dal_async_open failed");
    /* The connection's poll keeps the loop alive: run it until. */
    while (!apipe_open_done)
        uv_run(&a.loop, UV_RUN_ONCE);
    if (vs_raw) {
        a.raw = PQconnectdb(url);
        if (a.raw == NULL || PQstatus(a.raw) != CONNECTION_OK)
            apipe_rawfail(&a, NULL, "PQconnectdb");
        res = PQprepare(a.raw, "apipe", sql, 1, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            apipe_rawfail(&a, res, "PQprepare");
        PQclear(res);
        if (PQsetnonblocking(a.raw, 1) != 0 || !PQenterPipelineMode(a.raw))
            apipe_rawfail(&a, NULL, "pipeline mode");
        fprintf(stderr, "  raw: libpq pipeline, a Sync every %ld "
                "queries, %d in flight\n", a.raw_sync, APIPE_WINDOW);
    }
    /* Warm up both sides, untimed. */
    cur_side = "warm-up";
    apipe_once(&a, &sync, 0, APIPE_OPS);
    apipe_once(&a, &sync, other, APIPE_OPS);
    for (i = 0; i < runs; i++) {
        for (k = 0; k < 2; k++) {
            int side = (i + k) % 2;

            cur_side = side ? (vs_raw ? "raw pipeline" : "sync") : "dal";
            ns[side][i] = apipe_once(&a, &sync, side ? other : 0,
                                     APIPE_OPS) * 1e9 / APIPE_OPS;
        }
        fprintf(stderr, "  run %d: dal async %.1f ns/op, %s %.1f ns/op\n",
                i + 1, ns[0][i], vs_raw ? "raw pipeline" : "dal sync",
                ns[1][i]);
    }
    med[0] = median(ns[0], (int)runs);
    med[1] = median(ns[1], (int)runs);

    cur_side = "cleanup";
    dal_async_close(a.h, NULL);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&a.loop) != 0)
        die("uv_loop_close: handles left open");
    if (a.raw)
        PQfinish(a.raw);
    sql_exec(&sync, "DROP TABLE %s", sync.table);
    sync.close(sync.h);
    printf("BENCH pg-unix %s dal=%.0f raw=%.0f ratio=%.2f\n", wname,
           1e9 / med[0], 1e9 / med[1], med[1] / med[0]);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    /* sides[0] is raw, sides[1] dal, sides[2] bulk_create's dal+ids. */
    struct side raw, dal, ids, *sides[3];
    double ns[3][MAX_RUNS], med[3];
    long runs, run_ms, n, bulk_rows, naive_rows, sn[3];
    int t, w, i, k, ast, nsides = 2;

    if (argc == 3 && !strcmp(argv[1], "pg-cluster")
        && !strcmp(argv[2], "failover_ms"))
        return bench_failover();
    if (argc != 3)
        usage();
    if (!strcmp(argv[2], "batch"))
        return bench_batch(argv[1]);
    if (!strcmp(argv[1], "pool"))
        return pool_bench(argv[2]);
    if (strcmp(argv[2], "async_pipeline") == 0
        || strcmp(argv[2], "async_vs_raw_pipeline") == 0) {
        if (lookup(argv[1], target_names, 3) < 0)
            usage();
        if (strcmp(argv[1], "pg-unix") != 0) {
            fprintf(stderr, "BENCH %s %s skipped (PostgreSQL only)\n",
                    argv[1], argv[2]);
            return 77;
        }
        return pg_async_main(argv[2], env_long("BENCH_RUNS", 5, 1,
                                                MAX_RUNS));
    }
    t = lookup(argv[1], target_names, 3);
    w = lookup(argv[2], workload_names, N_WORKLOADS);
    if (t < 0 || w < 0)
        usage();
    target = (enum target)t;
    workload = (enum workload)w;
    runs = env_long("BENCH_RUNS", 5, 1, MAX_RUNS);
    run_ms = env_long("BENCH_RUN_MS", 400, 1, 60000);
    if (workload == W_ASYNC)
        return async_main(argv[1], runs);
    bulk_rows = env_long("BENCH_BULK_ROWS", BULK_ROWS, 1, 10000000);
    naive_rows = env_long("BENCH_NAIVE_ROWS", target == T_SQLITE_MEM
                          ? NAIVE_ROWS_MEM : NAIVE_ROWS, 1, 10000000);
    make_text();
    if (is_users()) {
        long most = bulk_rows > naive_rows ? bulk_rows : naive_rows;

        make_users(most > FIND_ROWS ? most : FIND_ROWS);
        make_find_ids();
    }
    /* ast_point_select and naive_create compare libdal with itself:
     * "raw" is libdal too. */
    ast = workload == W_AST_POINT || workload == W_NAIVE
          || workload == W_OBSERVED;

    switch (target) {
    case T_SQLITE_MEM:
        if (ast)
            ld_open(&raw, "sqlite::memory:", "raw");
        else
            rs_open(&raw, ":memory:", 0);
        cur_side = "dal";
        ld_open(&dal, "sqlite::memory:", "dal");
        break;
    case T_SQLITE_WAL: {
        const char *base = getenv("TMPDIR");
        char path[300], url[320];

        snprintf(tmpdir, sizeof tmpdir, "%s/dal-bench.XXXXXX",
                 base && *base ? base : "/tmp");
        if (mkdtemp(tmpdir) == NULL) {
            tmpdir[0] = '\0';
            die("mkdtemp failed");
        }
        atexit(remove_tmpdir);
        cur_side = "raw";
        if (ast) {
            snprintf(url, sizeof url, "sqlite://%s/raw.db?journal=wal",
                     tmpdir);
            ld_open(&raw, url, "raw");
        } else {
            snprintf(path, sizeof path, "%s/raw.db", tmpdir);
            rs_open(&raw, path, 1);
        }
        cur_side = "dal";
        snprintf(url, sizeof url, "sqlite://%s/dal.db?journal=wal",
                 tmpdir);
        ld_open(&dal, url, "dal");
        break;
    }
    case T_PG_UNIX:
    default: {
        const char *url = getenv("DAL_TEST_PG_SOCKET_URL");

        if (url == NULL || *url == '\0') {
            fprintf(stderr, "bench: DAL_TEST_PG_SOCKET_URL is not set\n"
                    "BENCH pg-unix %s skipped\n", argv[2]);
            return 77;
        }
        cur_side = "raw";
        if (ast)
            ld_open(&raw, url, "raw");
        else
            rp_open(&raw, url);
        cur_side = "dal";
        ld_open(&dal, url, "dal");
        break;
    }
    }
    /* On PostgreSQL both sides share a database, so the tables differ
     * (the users models are named after them). */
    raw.table = user_model_raw.table;
    dal.table = user_model_dal.table;
    raw.mode = M_NO_IDS;
    dal.mode = workload == W_NAIVE ? M_NAIVE : M_NO_IDS;
    raw.rows = dal.rows = workload == W_INSERT ? INSERT_ROWS : bulk_rows;
    if (workload == W_NAIVE)
        dal.rows = naive_rows;
    ddl_db = ((struct ld *)dal.h)->db;
    if (target != T_PG_UNIX)
        mirror_pragmas(&raw, &dal);
    if (workload == W_OBSERVED)
        observe_side(&dal);
    setup(&raw);
    setup(&dal);
    sides[0] = &raw;
    sides[1] = &dal;
    if (workload == W_BULK) {
        /* The dal side again, filling the ids back. */
        ids = dal;
        ids.name = "dal+ids";
        ids.mode = M_IDS;
        sides[2] = &ids;
        nsides = 3;
    }

    n = warm_up(sides, nsides, (double)run_ms / 1000);
    for (k = 0; k < nsides; k++)
        sn[k] = fixed_rows() ? sides[k]->rows : n;
    fprintf(stderr, "  %ld timed runs per side of %.0f ops each", runs,
            ops_of(sn[0]));
    if (sn[1] != sn[0])
        fprintf(stderr, " (%s: %.0f)", dal.name, ops_of(sn[1]));
    fprintf(stderr, "\n");
    for (i = 0; i < runs; i++) {
        int j;

        /* Each run starts with the next side: drift hits all alike. */
        for (j = 0; j < nsides; j++) {
            k = (i + j) % nsides;
            ns[k][i] = run_once(sides[k], sn[k]) * 1e9 / ops_of(sn[k]);
        }
        fprintf(stderr, "  run %d:", i + 1);
        for (k = 0; k < nsides; k++)
            fprintf(stderr, "%s %s %.1f ns/op", k ? "," : "",
                    sides[k]->name, ns[k][i]);
        fprintf(stderr, "\n");
    }
    for (k = 0; k < nsides; k++)
        med[k] = median(ns[k], (int)runs);
    fprintf(stderr, "  median: raw %.1f ns/op, dal %.1f ns/op (%+.1f ns)",
            med[0], med[1], med[1] - med[0]);
    if (nsides == 3)
        fprintf(stderr, ", dal+ids %.1f ns/op", med[2]);
    fprintf(stderr, "\n");

    cur_side = "cleanup";
    if (target == T_PG_UNIX) {
        sql_exec(&raw, "DROP TABLE %s", raw.table);
        sql_exec(&dal, "DROP TABLE %s", dal.table);
    }
    raw.close(raw.h);
    dal.close(dal.h);
    observed_free();
    remove_tmpdir();
    free(users_ddl);

    /* Two decimals, or four for a ratio far below 1 (naive_create). */
    printf(med[0] / med[1] < 0.1 ? "BENCH %s %s dal=%.0f raw=%.0f "
           "ratio=%.4f" : "BENCH %s %s dal=%.0f raw=%.0f ratio=%.2f",
           argv[1], argv[2], 1e9 / med[1], 1e9 / med[0], med[0] / med[1]);
    if (workload == W_BULK)
        printf(" ids=%.0f", 1e9 / med[2]);
    else if (workload == W_NAIVE)
        printf(" speedup=%.1f", med[1] / med[0]);
    printf("\n");
    return fflush(stdout) == 0 ? 0 : 1;
}
