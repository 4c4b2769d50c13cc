/*
 * dal-int.h - names shared between the core (lib/) and the backends.
 * Nothing here is public. Backends include this file and never the
 * core's .c files; the core never includes sqlite3.h or libpq-fe.h.
 *
 * The driver interface lives here rather than in a public
 * include/dal/driver.h (DESIGN §1) until a third backend needs it: while
 * it is internal it can change with the core without an ABI promise.
 */
#ifndef DAL_INT_H
#define DAL_INT_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "dal.h"
#include "dal/query.h"
#include "dal/observe.h"

#if defined(__GNUC__)
#define DAL__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define DAL__LIKELY(x) __builtin_expect(!!(x), 1)
#define DAL__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define DAL__PRINTF(f, a)
#define DAL__LIKELY(x) (x)
#define DAL__UNLIKELY(x) (x)
#endif

/* Add n to a counter that one thread writes and others may read: a
 * relaxed load and store (plain moves on the usual targets), no
 * read-modify-write instruction. */
static inline void dal__count(_Atomic uint64_t *x, uint64_t n)
{
    atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed)
                          + n, memory_order_relaxed);
}

/* ---- allocator (alloc.c) ------------------------------------------- */

void *dal__malloc(size_t n);
void *dal__calloc(size_t n, size_t size);
void *dal__realloc(void *p, size_t n);
void dal__free(void *p);
char *dal__strdup(const char *s);
char *dal__strndup(const char *s, size_t n);
/* A dal__malloc'd string built like printf; NULL when memory runs out. */
char *dal__asprintf(const char *fmt, ...) DAL__PRINTF(1, 2);

/* A growable byte buffer; every function returns DAL_OK or DAL_NOMEM. */
typedef struct dal__buf {
    char *p;
    size_t len;
    size_t cap;
} dal__buf;
int dal__buf_reserve(dal__buf *b, size_t extra);
int dal__buf_add(dal__buf *b, const void *p, size_t n);
int dal__buf_adds(dal__buf *b, const char *s);
int dal__buf_addc(dal__buf *b, char c);
void dal__buf_free(dal__buf *b);

/* ---- SQL placeholder lexer (sqllex.c) ------------------------------ */

/*
 * The result of translating one statement's portable placeholders.
 * sql is NUL-terminated and dal__malloc'd. names is NULL unless the
 * statement used :name placeholders; then names[i] is parameter i+1's
 * name without the colon.
 */
typedef struct dal__sqltext {
    char *sql;
    size_t len;
    int nparams;
    char **names;
} dal__sqltext;

/*
 * Translate ?, $N and :name placeholders of one statement to the marker
 * the backend wants: marker '?' gives ?1, ?2 ... (SQLite), marker '$'
 * gives $1, $2 ... (PostgreSQL). String literals (with '' and, after E,
 * backslash escapes), "identifiers", `identifiers`, -- and block
 * comments, $tag$ strings and :: casts are copied untouched; with marker
 * '?' (SQLite) also [identifiers], and with '$' (PostgreSQL) block
 * comments nest while [..] stays an array subscript. ?? becomes a literal
 * ?. A ';' inside a routine body (CREATE TRIGGER ... BEGIN ...; END, or
 * BEGIN ATOMIC) belongs to it. A trailing ';' and what follows it, if
 * only blanks and comments, are dropped.
 * Returns DAL_OK, DAL_NOMEM, or DAL_E_MISUSE with a message in err
 * (mixed placeholder styles, $0, a second statement).
 */
int dal__sql_translate(const char *sql, char marker, dal__sqltext *out,
                       char *err, size_t errlen);
/* The same, numbering the placeholders from base + 1 (the query compiler
 * splices raw fragments into a statement that has base parameters). */
int dal__sql_translate_at(const char *sql, char marker, int base,
                          dal__sqltext *out, char *err, size_t errlen);
void dal__sqltext_free(dal__sqltext *t);

/*
 * The length of the first statement in sql: the offset just past its
 * top-level ';', or strlen(sql) when it has none. Lets dal_exec() walk a
 * script one statement at a time.
 */
size_t dal__sql_stmt_end(const char *sql);

/* Nonzero when sql holds only blanks and comments. */
int dal__sql_is_blank(const char *sql, size_t len);

/* ---- SHA-256 (sha256.c) ------------------------------------------- */

typedef struct dal__sha256_ctx {
    uint32_t h[8];
    uint64_t len;            /* bytes hashed so far */
    unsigned char buf[64];
    size_t nbuf;
} dal__sha256_ctx;

void dal__sha256_init(dal__sha256_ctx *c);
void dal__sha256_update(dal__sha256_ctx *c, const void *data, size_t n);
/* Finish c and write the digest as 64 lower-case hex digits and a NUL. */
void dal__sha256_hex_final(dal__sha256_ctx *c, char out[65]);
/* The digest of p[0..n) in one call. */
void dal__sha256_hex(const void *p, size_t n, char out[65]);

/* ---- URLs (url.c) -------------------------------------------------- */

typedef struct dal__kv {
    char *key;
    char *val;
    int used; /* set by whoever consumed the option */
} dal__kv;

struct dal_driver;
struct dal_dialect;
struct dal__adriver;

/*
 * A URL split into its parts. The core fills it and takes out the
 * options that belong to libdal itself; the driver consumes the rest,
 * and any option nobody marked used is reported as unknown.
 */
typedef struct dal__url {
    const struct dal_driver *drv;
    char *scheme;   /* lower case, without ':' */
    char *body;     /* between "scheme:" and '?' or '#', raw */
    dal__kv *opts;  /* query options, percent-decoded */
    int nopts;
    char *redacted; /* the whole URL with any password shown as *** */
    char *secret;   /* the raw text redacted hides, to scrub messages */
    int stmt_cache; /* statement_cache=N, default DAL__STMT_CACHE_DEFAULT */
    char *auto_migrate; /* auto_migrate=NAME, or NULL */
} dal__url;

#define DAL__STMT_CACHE_DEFAULT 64

/*
 * Parse url. On failure returns DAL_E_URL (or DAL_NOMEM) with a message
 * in err that names the offending part and never the password.
 */
int dal__url_parse(const char *url, dal__url *u, char *err, size_t errlen);
void dal__url_free(dal__url *u);
/* The driver of URL scheme scheme[0..len) (any case), or NULL. */
const struct dal_driver *dal__driver_for(const char *scheme, size_t len);
/* printf into err[errlen] (nothing when err is NULL or errlen 0). */
void dal__set_err(char *err, size_t errlen, const char *fmt, ...)
    DAL__PRINTF(3, 4);
/* Decode %XX escapes (and '+' when plus is set) into a new string. */
char *dal__url_decode(const char *s, size_t n, int plus);
/* Find option key; NULL when absent. Marks it used. */
dal__kv *dal__url_opt(dal__url *u, const char *key);
/* Parse an integer option strictly; DAL_E_URL with message otherwise. */
int dal__url_opt_int(const dal__kv *kv, long min, long max, long *out,
                     char *err, size_t errlen);
/* Parse on/off/true/false/1/0/yes/no; DAL_E_URL with message otherwise. */
int dal__url_opt_bool(const dal__kv *kv, int *out, char *err, size_t errlen);
/* Replace every occurrence of secret in msg (in place) with ***. */
void dal__scrub(char *msg, size_t cap, const char *secret);

/* ---- the driver interface ------------------------------------------ */

/* What one probe of a server says (dal_driver.replica_probe). */
typedef struct dal__probe {
    int in_recovery;      /* the server is a replica */
    uint64_t replay_lsn;  /* how far it has replayed; 0 on a primary */
    int64_t lag_ms;       /* 0 when the replica has replayed all it
                             received, else now() minus the time of the
                             last transaction it replayed; 0 on a primary */
} dal__probe;

/*
 * One backend. Every function that can fail records its error on db
 * with dal__seterr() and returns the code. Statement handles (void *) are
 * the driver's own; the core wraps them in struct dal_stmt.
 */
struct dal_driver {
    const char *name;             /* "sqlite", "postgres" */
    /* The OpenTelemetry db.system name ("sqlite", "postgresql"). */
    const char *system;
    const char *const *schemes;   /* NULL-terminated */
    char param_marker;            /* '?' or '$', see dal__sql_translate */
    const struct dal_dialect *dialect; /* how the query compiler writes */

    /* Consume the driver's URL options and connect. */
    int (*open)(dal_db *db, dal__url *u, void **conn);
    void (*close)(void *conn);

    /*
     * Prepare translated sql with nparams parameters. cached is nonzero
     * when the statement will be kept and run many times (PostgreSQL
     * prepares it on the server under a name), zero for a statement run
     * once (PostgreSQL sends it with the parameters at the first step).
     */
    int (*prepare)(dal_db *db, void *conn, const char *sql, size_t len,
                   int nparams, int cached, void **stmt);
    void (*finalize)(void *conn, void *stmt);

    int (*bind_null)(dal_db *db, void *stmt, int idx);
    int (*bind_int64)(dal_db *db, void *stmt, int idx, int64_t v);
    int (*bind_double)(dal_db *db, void *stmt, int idx, double v);
    int (*bind_bool)(dal_db *db, void *stmt, int idx, int v);
    /* flags may carry DAL__NTS: s[len] is a NUL the driver may use. */
    int (*bind_text)(dal_db *db, void *stmt, int idx, const char *s,
                     size_t len, int flags);
    int (*bind_blob)(dal_db *db, void *stmt, int idx, const void *p,
                     size_t len, int flags);
    int (*clear_bindings)(void *stmt);

    /* DAL_ROW, DAL_DONE or an error recorded on db. */
    int (*step)(dal_db *db, void *conn, void *stmt);
    void (*reset)(void *stmt);

    int (*column_count)(void *stmt);
    const char *(*column_name)(void *stmt, int col);
    /* May run a catalogue lookup (PostgreSQL); NULL when unknown. */
    const char *(*column_decltype)(dal_db *db, void *conn, void *stmt,
                                   int col);
    dal_type (*column_type)(void *stmt, int col);
    int64_t (*column_int64)(void *stmt, int col);
    double (*column_double)(void *stmt, int col);
    /* NULL only when memory ran out (then DAL_NOMEM is recorded). */
    const char *(*column_text)(dal_db *db, void *stmt, int col,
                               size_t *len);
    const void *(*column_blob)(dal_db *db, void *stmt, int col,
                               size_t *len);

    /* Rows changed by the last INSERT/UPDATE/DELETE on conn. */
    int64_t (*changes)(void *conn);
    /* A query returning the last generated id (run through the core). */
    const char *last_id_sql;
    /* Nonzero when the session is inside a transaction. */
    int (*in_tx)(void *conn);
    /*
     * Write into b the statements that open the outermost transaction
     * for flags (already checked by the core), each followed by a NUL
     * byte. The core runs them through its one execution path.
     */
    int (*begin_sql)(dal_db *db, void *conn, int flags, dal__buf *b);
    /* A statement to run once the outermost transaction has ended (SQLite
     * lifts query_only there), or NULL. May be NULL. */
    const char *(*end_sql)(void *conn);
    /* Nonzero when the last error says a cached plan is stale and the
     * statement should be prepared anew and run again. May be NULL. */
    int (*stale_plan)(const dal_db *db);
    /*
     * Bulk load through the backend's own path (PostgreSQL's COPY FROM
     * STDIN): nrows rows of ncols values into table (cols), row r's
     * values written into vals by row(ctx, r, vals), which returns
     * DAL_OK or an error it recorded. One statement: on an error no row
     * is loaded. NULL when the backend has none (the caller then uses
     * multi-row INSERTs).
     */
    int (*copy_in)(dal_db *db, void *conn, const char *table,
                   const char *const *cols, int ncols, int nrows,
                   int (*row)(void *ctx, int r, dal_value *vals),
                   void *ctx);
    /*
     * Statement timeout (the timeout guard, guard.c): the statement about
     * to run, and those after it, fail with DAL_E_TIMEOUT (SQLSTATE
     * 57014) once they have run ms milliseconds; 0 lifts the limit.
     * Called before each statement: SQLite counts from this call (a
     * progress handler), PostgreSQL sets statement_timeout when it
     * changed. Runs nothing through the core. May be NULL.
     */
    int (*set_timeout)(dal_db *db, void *conn, int ms);
    /*
     * Wait up to timeout_ms (< 0: without end) for a notification
     * (LISTEN/NOTIFY) on conn, taking first one that already arrived.
     * DAL_OK with *channel and *payload dal__malloc'd and *pid the
     * sender's process; DAL_E_TIMEOUT; DAL_E_CONNECT when the
     * connection is lost. NULL when the backend has no notifications.
     */
    int (*wait_notify)(dal_db *db, void *conn, int timeout_ms,
                       char **channel, char **payload, int *pid);
    /* Connect conn again to the same server after it was lost (the
     * session's state is gone). NULL when the backend cannot. */
    int (*reconnect)(dal_db *db, void *conn);
    /*
     * Write into b the statements that bring a session back to how it
     * was opened (a pool runs them on a connection given back, after any
     * transaction was rolled back), each followed by a NUL byte; the
     * driver forgets the session settings it remembers. Statements of
     * the statement cache must stay valid. NULL when there is nothing to
     * reset.
     */
    int (*reset_sql)(dal_db *db, void *conn, dal__buf *b);
    /* The start of the statement that makes a schema the only one
     * unqualified names resolve to (a quoted identifier follows), for
     * schema-per-tenant pools; NULL when the backend has no schemas. */
    const char *schema_set_sql;
    /* The async glue (lib/async-int.h), or NULL: the core then runs the
     * blocking driver on a thread per connection (lib/athread.c). */
    const struct dal__adriver *async;
    /* Pipelined batches (struct dal__pipe below), or NULL: the core then
     * runs a batch's statements one at a time (batch.c). */
    const struct dal__pipe *pipe;
    /* Streaming replication, asked by the cluster (cluster.c); both
     * NULL when the backend has no primaries with replicas. One round
     * trip each on db, errors recorded there. replica_probe: whether
     * the server is a replica, how far it has replayed and how far
     * behind it is (dal__probe). wal_position: on a primary, the
     * position past everything committed so far (commits not yet
     * flushed included); on a replica, its replay position. */
    int (*replica_probe)(dal_db *db, struct dal__probe *p);
    int (*wal_position)(dal_db *db, uint64_t *pos);
    /* Make the statement running on conn stop soon with an error, from
     * any thread (sqlite3_interrupt, PQcancel); a no-op when none runs.
     * May be NULL. */
    void (*interrupt)(void *conn);
};

/*
 * Pipeline mode, for dal_batch_run() (batch.c). The core prepares each
 * statement for one run (cached 0), binds it, delivers its BEFORE event,
 * then calls enter, send for each statement (sync after each, or after
 * the last), recv for each sent statement and sync_recv for each sync,
 * in that order, and leave; then, per statement, note and its AFTER
 * event. Nothing runs through the core between enter and leave.
 */
struct dal__pipe {
    /* Enter pipeline mode. */
    int (*enter)(dal_db *db, void *conn);
    /* Queue stmt with its bound parameters. */
    int (*send)(dal_db *db, void *conn, void *stmt);
    /* Queue a synchronization point and send everything queued. */
    int (*sync)(dal_db *db, void *conn);
    /* Read the next statement's result into stmt, whose rows step() then
     * returns: DAL_OK, its error (recorded), or DAL_E_TX / 25P02 when an
     * earlier failure since the last sync kept it from running. */
    int (*recv)(dal_db *db, void *conn, void *stmt);
    /* Read the next synchronization point. */
    int (*sync_recv)(dal_db *db, void *conn);
    /* Leave pipeline mode (after every result was read). */
    int (*leave)(dal_db *db, void *conn);
    /* Make stmt's result (read by recv) the one changes() reports. */
    void (*note)(void *conn, void *stmt);
};

/* Internal bind flag: the text is followed by a NUL byte. */
#define DAL__NTS 0x100

extern const struct dal_driver dal__sqlite_driver;
extern const struct dal_driver dal__pg_driver;

/* The drivers the core knows, NULL-terminated (driver.c). */
extern const struct dal_driver *const dal__drivers[];

/* ---- query compiler (compile.c) ------------------------------------ */

typedef struct dal__cc dal__cc;

/*
 * The SQL dialect of a backend: everything the compiler writes
 * differently for it. Hooks write through the dal__cc_* functions.
 */
struct dal_dialect {
    const char *name;
    char param_marker;        /* '?' gives ?N, '$' gives $N */
    int max_params;           /* bind parameters one statement may have */
    const char *type_names[DAL_SQL_JSON + 1]; /* CAST target per type */
    /* Text after a bound value of each dal_type (e.g. "::int8") so the
     * server knows its type without context; NULL for none. */
    const char *value_cast[DAL_TYPE_BLOB + 1];
    const char *is_distinct;      /* a IS DISTINCT FROM b */
    const char *is_not_distinct;  /* a IS NOT DISTINCT FROM b */
    int has_ilike;                /* else lower(a) LIKE lower(b) */
    int has_for_update;           /* else the clause is left out */
    int offset_needs_limit;       /* OFFSET only after a LIMIT */
    const char *json_object_fn;
    const char *json_array_fn;
    int (*now)(dal__cc *cc);
    int (*extract)(dal__cc *cc, dal_datepart part, const dal_expr *a);
    /* Around avg(...) [OVER (...)], to make it a double on both. */
    const char *avg_prefix, *avg_suffix;
    /* a as an integer, truncated toward zero (CAST, dal_idiv, dal_mod). */
    int (*to_int)(dal__cc *cc, const dal_expr *a);
    /* a as a boolean (CAST to DAL_SQL_BOOL). */
    int (*to_bool)(dal__cc *cc, const dal_expr *a);
    /* Cast for a text value where the server cannot infer a type (the
     * arguments of JSON builders); NULL for none. */
    const char *text_cast;
    /* What an order item without NULLS FIRST/LAST gets, so that NULLs
     * sort as the largest value on every backend (PostgreSQL's rule). */
    const char *asc_nulls, *desc_nulls;
    /* A function that casts to a type instead of CAST (SQLite's date()
     * and datetime() normalize the text); NULL entries use CAST. */
    const char *cast_fn[DAL_SQL_JSON + 1];
    /* INSERT ... SELECT ... ON CONFLICT needs a WHERE in the SELECT. */
    int upsert_select_needs_where;
    int (*round)(dal__cc *cc, const dal_expr *a, int digits);
    /* kind: 0 text, 1 int, 2 double; path already checked. */
    int (*json_get)(dal__cc *cc, const dal_expr *a, const char *path,
                    int kind);
    /* NULL when the backend cannot. */
    int (*json_contains)(dal__cc *cc, const dal_expr *a, const dal_expr *b);
    /* Full-text search over table (names checked, query not empty). */
    int (*fts_match)(dal__cc *cc, const char *table, const char *query);
    int (*fts_rank)(dal__cc *cc, const char *table, const char *query);
    /* The statements that make table's cols searchable, each followed
     * by a NUL byte (names checked). */
    int (*fts_create_sql)(dal__buf *b, const char *table,
                          const char *const *cols, int ncols);
    /* EXPLAIN: the prefix that asks for a plan, and the reader of the
     * rows it returns (explain.c keeps the steps). */
    const char *explain_prefix;
    int (*explain_read)(dal_db *db, dal_stmt *st, dal_plan *plan);

    /* ---- schema operations (schema.c) ---- */
    /* Column type names in CREATE TABLE, per dal_sqltype. */
    const char *ddl_types[DAL_SQL_JSON + 1];
    /* After a generated id was inserted by hand: a query (printf format
     * taking table, column, column, table) that moves the backend's
     * counter past it; NULL when the backend needs none. */
    const char *identity_sync;
    /* JSON columns get CHECK (json_valid(col)) (SQLite, where JSON is
     * text; PostgreSQL's jsonb checks by itself). */
    int json_check;
    /* Bulk updates by key go in one UPDATE ... FROM (VALUES ...) per
     * batch, each value cast to its column's ddl_types name; otherwise
     * one prepared UPDATE runs per row. */
    int update_from_values;
    /* A generated id column: "INTEGER PRIMARY KEY" or "BIGINT GENERATED
     * BY DEFAULT AS IDENTITY PRIMARY KEY". */
    const char *auto_pk;
    /* The type of an INT64 key column that is not generated (SQLite:
     * BIGINT, so that it is not the rowid alias); NULL for ddl_types. */
    const char *int64_key_type;
    /* A value written into DDL as a literal (defaults, CHECKs). */
    int (*literal)(dal__cc *cc, const dal_value *v);
    /* dal_now() as a column default. */
    const char *now_default;
    /* The dialect cannot ALTER a column's type, nullability or default,
     * nor drop a column: such operations are a table rebuild. */
    int alter_by_rebuild;
    /* Write the statements that rebuild table as t describes (the new
     * definition; the live one is read from db). Each statement is
     * prefixed by 'B' (run before the transaction), 'T' (inside it) or
     * 'A' (after it, also on failure) and followed by a NUL. */
    int (*rebuild)(dal_db *db, const struct dal_table *t,
                   const char *const *keep_cols, int nkeep,
                   dal__buf *script);
    /* Read db's tables into s (introspect). */
    int (*schema_read)(dal_db *db, struct dal_schema *s);
    /* Read one table's live definition (NULL *t when there is none). */
    int (*table_read)(dal_db *db, const char *name, struct dal_table **t);
};

/* Append a step to plan; DAL_NOMEM when memory runs out (explain.c). */
int dal__plan_add(dal_plan *plan, int parent, const char *detail,
                  size_t len, double cost, double rows);
/* A quoted identifier "name" into b (names were checked: no quote). */
int dal__buf_ident(dal__buf *b, const char *name);

extern const struct dal_dialect dal__sqlite_dialect;
extern const struct dal_dialect dal__pg_dialect;

int dal__cc_str(dal__cc *cc, const char *s);
int dal__cc_expr(dal__cc *cc, const dal_expr *e);
/* A bound value, with the dialect's type cast. */
int dal__cc_value(dal__cc *cc, const dal_value *v);
/* The index of a text parameter holding s (copied into the compile). */
int dal__cc_text_param(dal__cc *cc, const char *s, int *idx);
int dal__cc_marker(dal__cc *cc, int idx);
int dal__cc_fail(dal__cc *cc, int rc, const char *msg);
/* Compile e into b with every value written as a literal (DDL: defaults
 * and CHECK conditions), for dialect d. */
int dal__expr_literal_sql(const dal_expr *e, const struct dal_dialect *d,
                          dal__buf *b, char *err, size_t errlen);
/* Quote s as an SQL string literal ('it''s') into b. */
int dal__buf_sqlstr(dal__buf *b, const char *s, size_t n);

/* A compiled query: SQL in the backend's placeholder form, and the
 * values to bind (NULL entries are dal_param slots, named in names). */
typedef struct dal__compiled {
    char *sql;
    size_t len;
    int nparams;
    dal_value *values; /* nparams entries, copies owned here */
    char **names;      /* nparams entries or NULL when no dal_param */
    int *is_slot;      /* nparams flags: 1 for a dal_param slot */
    unsigned obs_flags; /* DAL_EVF_AST, _NO_WHERE, _ALLOW_ALL */
    /* sql carries a comment that changes with every run (a tracer's
     * sqlcommenter option): prepare it for this run only, neither
     * looked up in the statement cache nor kept there. */
    int one_run;
} dal__compiled;

int dal__compile(const dal_query *q, const struct dal_dialect *d,
                 dal__compiled *out, char *err, size_t errlen);
void dal__compiled_free(dal__compiled *c);
/* Write an aggregate node: fn([DISTINCT ]a)[ FILTER (WHERE c)]. */
int dal__cc_agg(dal__cc *cc, const dal_expr *e);
/*
 * Bulk load through the driver's copy_in hook (see struct dal_driver),
 * as one statement of the core's path: an observer sees it as
 * COPY "table" (cols) FROM STDIN, may refuse it, and is told its rows
 * (db.c).
 */
/* Write the multi-row INSERT of rows rows of cols into b (batch.c). */
int dal__insert_sql(dal__buf *b, const char *table, const char *const *cols,
                    int ncols, int rows, char marker, const char *returning);
/*
 * dal_load() (batch.c); with stable set, the values row() writes stay
 * valid until the load returns (the model's structs), and the SQLite
 * path binds them without copies.
 */
int dal__load(dal_db *db, const char *table, const char *const *cols,
              int ncols, int nrows, dal_load_fn row, void *ctx, int stable);
int dal__copy_in(dal_db *db, const char *table, const char *const *cols,
                 int ncols, int nrows,
                 int (*row)(void *ctx, int r, dal_value *vals), void *ctx);
/* Run a compiled query once through the statement cache (db.c). */
int dal__exec_compiled(dal_db *db, const dal__compiled *c);
/* Run sql or cq with params from the statement cache, positioned on its
 * first row: DAL_ROW / DAL_DONE with *stp (give it back with
 * dal__cache_put()), or an error with *stp NULL (db.c). */
int dal__run_cached(dal_db *db, const char *sql, const dal__compiled *cq,
                    const dal_value *params, int nparams, dal_stmt **stp);
/* Compile q for db and run it as dal__run_cached() does (compile.c). */
int dal__query_run(dal_db *db, const dal_query *q, dal_stmt **stp);

/* ---- errors (error.c) ---------------------------------------------- */

/*
 * Record an error on db. sqlstate may be NULL (then one is derived from
 * rc); detail, hint and constraint may be NULL. msg is copied. When
 * memory runs out while copying, the code is still recorded and the
 * message falls back to dal_errstr(rc).
 */
int dal__seterr(dal_db *db, int rc, const char *sqlstate, int native,
                const char *msg, const char *detail, const char *hint,
                const char *constraint);
/* printf-style message, no detail. */
int dal__seterrf(dal_db *db, int rc, const char *sqlstate, const char *fmt,
                 ...) DAL__PRINTF(4, 5);
/* Forget the last error. */
void dal__clearerr(dal_db *db);
/* The SQLSTATE an error code stands for when the backend gave none. */
const char *dal__default_sqlstate(int rc);
/* The dal rc that a SQLSTATE stands for. */
int dal__rc_from_sqlstate(const char *sqlstate);

/* ---- connection and statement state -------------------------------- */

struct dal__err {
    int code;
    int native;
    char sqlstate[6];
    char *msg;
    char *detail;
    char *hint;
    char *constraint;
};

typedef struct dal__stmtcache dal__stmtcache;

/* Transaction levels whose start time is kept for event durations. */
#define DAL__TX_TIMED 8

struct dal_db {
    const struct dal_driver *drv;
    void *conn;
    struct dal__err err;
    dal__url url;
    dal__stmtcache *cache;
    /* The statement cache's hits, misses and evictions (stmtcache.c),
     * kept here so that the metrics hook reads them without a call. */
    /* Statement cache hits, misses and evictions: written by the
     * thread using db (dal__count()), read by a metrics scrape in
     * another thread. */
    _Atomic uint64_t cache_stat[3];
    int tx_depth;
    int nstmts;      /* statements handed to the caller, not finalized */
    int zombie;      /* dal_close() called while statements remained */
    struct dal__model_memo *models; /* models seen on db (model.c) */
    int nmodels, capmodels;
    /* The attached observer (observe.c): NULL on the fast path. */
    dal_observer *obs;
    void **obs_state;      /* one attach state per hook */
    int obs_params;        /* some hook wants parameter values */
    int obs_running;       /* statements between first step and end */
    /* Those statements, the latest started first (linked through
     * dal_stmt.obs_below): what a tracer that makes its statement spans
     * at their end looks at when it must know them earlier. */
    struct dal_stmt *obs_top;
    unsigned obs_evflags;  /* DAL_EVF_* for the statements run now */
    const char *obs_origin; /* static: who runs them ("migrate") */
    char *tenant, *actor;  /* labels, dal__malloc'd */
    /* LISTEN/NOTIFY (notify.c): the channels listened to, to listen
     * again after a reconnect, which sets notify_missed. */
    char **channels;
    int nchannels;
    int notify_missed;
    int64_t tx_start_ns[DAL__TX_TIMED]; /* start of each tx level */
    /* dal_changes() answers changes_pin while changes_pinned is set: a
     * hook that ran its own statement after the caller's (the audit
     * trail) keeps the caller's count; the next statement unpins. */
    int changes_pinned;
    int64_t changes_pin;
    /* The attached tracer's state for this connection (trace.c), and,
     * while its sqlcommenter option is on, the function that writes the
     * comment appended to statements prepared for one run (stmt.c);
     * with it set, the statement cache is bypassed (stmtcache.c). */
    void *trace;
    int (*sql_comment)(dal_db *db, dal__buf *b);
    /* Set by a pool (pool.c): the connection's role for hooks (static
     * "primary" or "replica"; NULL means "primary"), and the pool's
     * record of it while the pool owns it. */
    const char *role;
    struct dal__pconn *pooled;
    /* dal_step() calls on db: a pool skips the reset of a connection
     * that ran nothing while it was handed out. */
    uint64_t steps;
    /* An async connection's event handle (async.c): it carries the
     * observer of dal_async_observe() and the last error for hooks, and
     * has no blocking connection, so hooks that need one refuse it. */
    int async_shell;
};

/* ---- observer (observe.c) ------------------------------------------ */

/*
 * Statement events. dal__obs_begin() runs the BEFORE hooks when st is
 * about to run for the first time since it was ready; a nonzero return
 * is a veto (recorded on db, AFTER already delivered). dal__obs_end()
 * delivers AFTER with rc (DAL_DONE counts as DAL_OK) when st finishes,
 * fails, or is reset or freed while it still had rows.
 */
int dal__obs_begin(dal_stmt *st);
void dal__obs_end(dal_stmt *st, int rc);
/* A statement that failed to prepare with rc: BEFORE and AFTER, so
 * that hooks see every statement that failed, on both backends alike
 * (SQLite reports an unknown table when preparing, PostgreSQL when a
 * one-shot statement runs). */
void dal__obs_prepare_failed(dal_db *db, const char *sql, int nparams,
                             int rc);
/* The SQL a running statement's events carry (its ev->sql). */
const char *dal__obs_sql(const dal_stmt *st);
/* Keep bound value idx of st for hooks that want parameters. */
int dal__obs_capture(dal_stmt *st, int idx, const dal_value *v);
void dal__obs_capture_clear(dal_stmt *st);
/* A connection, transaction or pool event on db. */
void dal__obs_event(dal_db *db, dal_event_kind kind, int rc, int depth);
/* The wall clock (CLOCK_REALTIME) in nanoseconds since 1970. */
int64_t dal__wall_ns(void);
/* Sleep ms milliseconds, resumed after signals. */
void dal__sleep_ms(int64_t ms);
/* Attach o to db (each hook's attach, all or nothing). */
int dal__obs_attach(dal_db *db, dal_observer *o);
/* Detach db's observer (each hook's detach) when db closes. */
void dal__obs_detach(dal_db *db);
/* Free what a statement kept for hooks. */
void dal__obs_stmt_free(dal_stmt *st);
/*
 * A statement event of an async connection (async.c), whose "shell" db
 * (no blocking connection) carries the observer: the caller fills ev's
 * kind and statement fields, this fills the connection's and runs the
 * hooks. BEFORE returns a veto's code (recorded on db, AFTER already
 * delivered to the hooks that saw BEFORE), else DAL_OK.
 */
int dal__obs_deliver(dal_db *db, dal_event *ev);

/* Interrupt the statement db runs, from another thread (the driver's
 * interrupt hook; athread.c). */
void dal__interrupt(dal_db *db);

/* Forget the channels listened to (notify.c). */
void dal__notify_free(dal_db *db);

/* Free what the model layer keeps per connection (model.c). */
void dal__model_memo_free(dal_db *db);

struct dal_stmt {
    dal_db *db;
    void *impl;
    char *sql;       /* as the caller wrote it */
    int nparams;
    char **names;    /* parameter names for :name statements, or NULL */
    int ncols;       /* -1 until known */
    int state;       /* DAL__ST_* */
    int cached;      /* owned by the statement cache */
    /* LRU links while in the cache. */
    struct dal_stmt *lru_prev, *lru_next, *hash_next;
    uint32_t hash;
    /* For the observer: whether an execution is running, rows so far,
     * captured parameters, and the event its hooks are given, whose
     * fixed fields are filled once (obs_init). */
    int obs_running;
    int obs_init;
    struct dal_stmt *obs_below; /* next in db->obs_top while running */
    unsigned obs_flags; /* DAL_EVF_* of the statement itself */
    int64_t obs_t0;
    int64_t obs_rows;
    dal_value *obs_params;
    dal_event obs_ev;
};

enum { DAL__ST_READY = 0, DAL__ST_ROW = 1, DAL__ST_DONE = 2 };

/* Run the migrations registered as name on db (migrate.c). */
int dal__auto_migrate(dal_db *db, const char *name);

/* dal_tx_run() with a connection from get() per attempt, given back to
 * put() with the attempt's code; a connection lost at BEGIN is retried
 * on the next one (tx.c, for pool.c). DAL_E_MISUSE for a bad policy. */
int dal__tx_run_with(int flags, int (*fn)(dal_db *db, void *data),
                     void *data, const dal_retry_policy *policy,
                     int (*get)(void *ctx, dal_db **db),
                     void (*put)(void *ctx, dal_db *db, int rc), void *ctx);
/* Whether flags are valid for dal_begin(): known DAL_TX_* bits, at most
 * one locking mode and one isolation level (tx.c). */
int dal__tx_flags_ok(int flags);
/* Roll back the innermost transaction level, keeping the current error
 * (tx.c). */
void dal__rollback_keep_error(dal_db *db);
/* Check a name for use as an identifier; DAL_E_MISUSE with a message. */
int dal__ident_check(const char *s, const char *what, char *err,
                     size_t errlen);

/* Write sql (len bytes) into the empty buffer b with the comment
 * db->sql_comment writes (the tracer's sqlcommenter option) appended
 * and a NUL after it (not counted in b->len). An error (DAL_NOMEM)
 * leaves b freed. */
int dal__sql_commented(dal_db *db, const char *sql, size_t len,
                       dal__buf *b);

/* Prepare without handing the statement to the caller (stmt.c). */
int dal__stmt_new(dal_db *db, const char *sql, int cached, dal_stmt **stp);
/* The same for SQL already in the backend's placeholder form; takes
 * ownership of names (nparams entries, or NULL). */
int dal__stmt_new_translated(dal_db *db, const char *key, const char *sql,
                             size_t len, int nparams, char **names,
                             int cached, dal_stmt **stp);
void dal__stmt_free(dal_stmt *st);
/* Bind params[0..n-1] to st; DAL_E_RANGE when n != st->nparams. */
int dal__stmt_bind_all(dal_stmt *st, const dal_value *params, int n);

/* ---- statement cache (stmtcache.c) --------------------------------- */

int dal__cache_new(int capacity, dal__stmtcache **out);
void dal__cache_free(dal__stmtcache *c);
/* A ready statement for sql, from the cache or newly prepared. */
int dal__cache_get(dal_db *db, const char *sql, dal_stmt **stp);
/* The same for a compiled query, keyed apart from raw SQL texts. */
int dal__cache_get_compiled(dal_db *db, const dal__compiled *c,
                            dal_stmt **stp);
/* Drop st from the cache and free it (after an error). */
void dal__cache_drop(dal_db *db, dal_stmt *st);
/* Return st to the cache after use (reset, bindings cleared). */
void dal__cache_put(dal_db *db, dal_stmt *st);

/* ---- helpers shared by the drivers --------------------------------- */

/* Nonzero when s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
int dal__utf8_valid(const char *s, size_t len);
/* Parse a whole decimal integer or number, like SQLite's conversions. */
int64_t dal__text_to_int64(const char *s, size_t len);
double dal__text_to_double(const char *s, size_t len);

#endif /* DAL_INT_H */
