/*
 * dal/core.h - open a database by URL, run statements, read rows, handle
 * errors and transactions. The same calls work on SQLite and PostgreSQL.
 *
 * Conventions (see dal(7)):
 *   - Functions return int: DAL_OK (0) on success, DAL_ROW / DAL_DONE from
 *     stepping, or a DAL_E_* / DAL_NOMEM error code.
 *   - A dal_db keeps its last error; read it with dal_errcode(),
 *     dal_errmsg(), dal_sqlstate() and friends. Errors raised through a
 *     dal_stmt are recorded on the dal_db that owns it. Every call that
 *     can fail clears the error when it succeeds; the column getters and
 *     the error accessors only ever record one (dal_column_* on a bad
 *     index), so check dal_errcode() right after them if in doubt.
 *   - Parameter indexes are 1-based (as in SQLite); column indexes are
 *     0-based.
 *   - A dal_db and its statements are used by one thread at a time.
 */
#ifndef DAL_CORE_H
#define DAL_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DAL_BUILDING) && defined(__GNUC__)
#define DAL_EXTERN __attribute__((visibility("default")))
#else
#define DAL_EXTERN
#endif

#define DAL_VERSION_MAJOR 0
#define DAL_VERSION_MINOR 1
#define DAL_VERSION_PATCH 0
/* 10000 * major + 100 * minor + patch, for compile-time comparisons. */
#define DAL_VERSION_NUM \
    (DAL_VERSION_MAJOR * 10000 + DAL_VERSION_MINOR * 100 + DAL_VERSION_PATCH)
#define DAL_VERSION_STRING "0.1.0"

/* Result codes. Every code has a static description: dal_errstr(). */
enum dal_rc {
    DAL_OK = 0,            /* success */
    DAL_ERROR = 1,         /* other database error; see dal_sqlstate() */
    DAL_NOMEM = 2,         /* an allocation failed */
    DAL_E_MISUSE = 3,      /* bad argument or call out of sequence */
    DAL_E_RANGE = 4,       /* parameter or column index out of range,
                              unknown parameter name */
    DAL_E_URL = 5,         /* malformed URL, unknown scheme or option */
    DAL_E_CONNECT = 6,     /* cannot connect, or the connection was lost
                              (SQLSTATE class 08) */
    DAL_E_CONSTRAINT = 7,  /* integrity constraint violated (class 23) */
    DAL_E_SYNTAX = 8,      /* syntax error, unknown table or column,
                              access rule violation (class 42) */
    DAL_E_DATA = 9,        /* data exception: bad value for the type,
                              out of range, invalid text (class 22) */
    DAL_E_BUSY = 10,       /* lock not available, serialization failure or
                              deadlock: retry the transaction */
    DAL_E_READONLY = 11,   /* write attempted in a read-only transaction
                              or on a read-only database (25006) */
    DAL_E_TX = 12,         /* invalid transaction state (class 25) */
    DAL_E_UNSUPPORTED = 13, /* not supported by this backend (class 0A) */
    DAL_E_CANCELED = 14,   /* statement canceled (57014) */
    DAL_E_TIMEOUT = 15,    /* statement or wait timed out */
    DAL_E_CLOSED = 16,     /* the handle was closed */
    DAL_E_POOL_TIMEOUT = 17, /* no pooled connection became free in time */
    DAL_E_REFUSED = 18,    /* a hook or guard rail refused the statement
                              (dal_observe(7)); nothing was run */
    DAL_E_RATE_LIMITED = 19, /* a rate limit refused the statement (53400) */
    DAL_ROW = 100,         /* dal_step(): a row is ready */
    DAL_DONE = 101         /* dal_step(): the statement has finished */
};

/* Value types of dal_value and of dal_column_type(). */
typedef enum dal_type {
    DAL_TYPE_NULL = 0,
    DAL_TYPE_BOOL = 1,
    DAL_TYPE_INT64 = 2,
    DAL_TYPE_DOUBLE = 3,
    DAL_TYPE_TEXT = 4,
    DAL_TYPE_BLOB = 5
} dal_type;

/*
 * A tagged value, used to pass parameters in one call (dal_exec_params(),
 * dal_bind_value()) and to return a single value (dal_query_value()).
 * TEXT and BLOB carry a length in bytes; TEXT need not be NUL-terminated
 * when passed in, and is always NUL-terminated when libdal returns one.
 */
typedef struct dal_value {
    dal_type type;
    union {
        int b;                                  /* DAL_TYPE_BOOL */
        int64_t i;                              /* DAL_TYPE_INT64 */
        double d;                               /* DAL_TYPE_DOUBLE */
        struct { const char *p; size_t len; } s; /* DAL_TYPE_TEXT, BLOB */
    } u;
} dal_value;

/* Length meaning "the text is NUL-terminated; measure it". */
#define DAL_NTS ((size_t)-1)

/*
 * Compound-literal constructors for dal_value, e.g.
 *   dal_value p[] = { DAL_V_INT64(42), DAL_V_TEXT("bob") };
 * DAL_V_TEXT measures a NUL-terminated string; DAL_V_TEXTN and
 * DAL_V_BLOB take an explicit length in bytes.
 */
#define DAL_V_NULL ((dal_value){.type = DAL_TYPE_NULL, .u = {.i = 0}})
#define DAL_V_BOOL(x) ((dal_value){.type = DAL_TYPE_BOOL, .u = {.b = !!(x)}})
#define DAL_V_INT64(x) \
    ((dal_value){.type = DAL_TYPE_INT64, .u = {.i = (int64_t)(x)}})
#define DAL_V_DOUBLE(x) \
    ((dal_value){.type = DAL_TYPE_DOUBLE, .u = {.d = (double)(x)}})
#define DAL_V_TEXT(str) ((dal_value){.type = DAL_TYPE_TEXT, \
    .u = {.s = {(str), DAL_NTS}}})
#define DAL_V_TEXTN(str, n) ((dal_value){.type = DAL_TYPE_TEXT, \
    .u = {.s = {(str), (n)}}})
#define DAL_V_BLOB(ptr, n) ((dal_value){.type = DAL_TYPE_BLOB, \
    .u = {.s = {(const char *)(ptr), (n)}}})

/* Lifetime flags for dal_bind_text() and dal_bind_blob(). */
#define DAL_STATIC 0    /* the caller keeps the bytes valid and unchanged
                           until the parameter is rebound, cleared, or
                           the statement is finalized */
#define DAL_TRANSIENT 1 /* libdal copies the bytes before returning */

/* Flags for dal_begin(). Combine one locking mode, one isolation level
 * and DAL_TX_READ_ONLY as needed; 0 means the backend's default. */
#define DAL_TX_DEFERRED 0x0001        /* SQLite: BEGIN DEFERRED */
#define DAL_TX_IMMEDIATE 0x0002       /* SQLite: BEGIN IMMEDIATE */
#define DAL_TX_EXCLUSIVE 0x0004       /* SQLite: BEGIN EXCLUSIVE */
#define DAL_TX_READ_COMMITTED 0x0010
#define DAL_TX_REPEATABLE_READ 0x0020
#define DAL_TX_SERIALIZABLE 0x0040
#define DAL_TX_READ_ONLY 0x0100

typedef struct dal_db dal_db;
typedef struct dal_stmt dal_stmt;

/* ---- library ------------------------------------------------------- */

/*
 * dal_version - the library's version as "MAJOR.MINOR.PATCH".
 * Returns a static string; never NULL.
 */
DAL_EXTERN const char *dal_version(void);

/*
 * dal_version_num - the library's DAL_VERSION_NUM, for comparing the
 * version a program was built against with the one it runs with.
 */
DAL_EXTERN int dal_version_num(void);

/*
 * dal_errstr - a static English description of result code rc.
 * Unknown codes give "unknown error". Never NULL; never freed.
 */
DAL_EXTERN const char *dal_errstr(int rc);

/*
 * dal_is_retryable - nonzero when rc belongs to the retryable class:
 * DAL_E_BUSY, which covers SQLITE_BUSY / SQLITE_LOCKED, serialization
 * failures (40001), deadlocks (40P01) and lock-not-available (55P03).
 * A transaction that failed with such a code may succeed if run again
 * from its start.
 */
DAL_EXTERN int dal_is_retryable(int rc);

/*
 * dal_set_allocator - replace the allocator used for every allocation
 * libdal makes itself (SQLite and libpq keep their own). Pass three NULLs
 * to restore malloc/realloc/free. malloc_fn and realloc_fn return NULL on
 * failure; libdal then fails the operation with DAL_NOMEM and frees what
 * it had allocated. Call it before any other libdal function, while no
 * handle is open: memory must be freed by the allocator that made it.
 * Returns DAL_OK, or DAL_E_MISUSE when only some of the three are NULL.
 */
DAL_EXTERN int dal_set_allocator(void *(*malloc_fn)(size_t),
                                 void *(*realloc_fn)(void *, size_t),
                                 void (*free_fn)(void *));

/*
 * dal_free - free memory that libdal returned to the caller (for example
 * the text from dal_query_text()). NULL is ignored.
 */
DAL_EXTERN void dal_free(void *p);

/* ---- connections --------------------------------------------------- */

/*
 * dal_open - connect to the database that url names, blocking until the
 * connection is ready. URL forms (dal(7) lists every option):
 *   sqlite:relative/path.db   sqlite:///abs/path.db   sqlite::memory:
 *       options ?mode=ro|rw|rwc (default rwc: create when missing)
 *       &journal=wal|delete|truncate|persist|memory|off (default: left
 *       as SQLite has it) &busy_timeout=MS (default 5000: wait for a
 *       lock that long before DAL_E_BUSY) &foreign_keys=on|off (default
 *       on, so foreign keys are enforced as on PostgreSQL)
 *   postgres://... or postgresql://...  any libpq URI, multi-host
 *       included; the query options are libpq's, checked by libpq's own
 *       parser (an unknown one is DAL_E_URL).
 * Options libdal takes for itself on every backend:
 *   statement_cache=N   prepared statements kept per connection (LRU,
 *                       default 64, 0 disables the cache)
 *   auto_migrate=NAME   run the pending migrations of the set registered
 *                       as NAME (dal_migrator_register(3)) when opening
 * Unknown or ill-typed options are errors. Messages about a URL name the
 * offending part and never contain the password.
 *
 * On return *dbp is a handle even when the connection failed: it carries
 * the error (dal_errcode(), dal_errmsg()) and must be freed with
 * dal_close(). *dbp is NULL only when memory ran out (DAL_NOMEM).
 * Returns DAL_OK, DAL_E_URL, DAL_E_CONNECT, DAL_NOMEM or DAL_E_MISUSE
 * (url or dbp NULL; *dbp is then NULL).
 */
DAL_EXTERN int dal_open(const char *url, dal_db **dbp);

/*
 * dal_close - close the connection and free the handle. Statements not
 * yet finalized keep the handle alive: the connection is closed when the
 * last of them is finalized, and db must not be used for anything else
 * after this call. NULL is ignored.
 */
DAL_EXTERN void dal_close(dal_db *db);

/*
 * dal_backend - the name of the driver behind db: "sqlite" or
 * "postgres". Static string; NULL when db is NULL.
 */
DAL_EXTERN const char *dal_backend(const dal_db *db);

/* ---- errors -------------------------------------------------------- */

/*
 * dal_errcode - the result code of the last failed call on db (or on one
 * of its statements), or DAL_OK when the last call succeeded. A NULL db
 * gives DAL_NOMEM: given a non-NULL url and dbp, dal_open() returns a
 * NULL handle only when memory ran out.
 */
DAL_EXTERN int dal_errcode(const dal_db *db);

/*
 * dal_errmsg - the last error's message, in English, "not an error" when
 * there is none. Valid until the next call on db or its statements.
 */
DAL_EXTERN const char *dal_errmsg(const dal_db *db);

/*
 * dal_sqlstate - the last error's five-character SQLSTATE ("00000" when
 * none). PostgreSQL reports its own; SQLite errors are mapped to the state
 * they mean: 23505 unique, 23502 not null, 23503 foreign key, 23514
 * check, 22P02 wrong type in a STRICT table, 55P03 busy or locked, 40001
 * busy snapshot, 42601 syntax error, 42P01 unknown table, 42703 unknown
 * column, 25006 read-only, 57014 interrupted, 08001 cannot open. Errors
 * that libdal raises itself use 08001 (connect), 22023 (bad argument) and
 * 42P02 (unknown parameter). Valid until the next call on db.
 */
DAL_EXTERN const char *dal_sqlstate(const dal_db *db);

/*
 * dal_errdetail, dal_errhint - PostgreSQL's DETAIL and HINT of the last
 * error; NULL when the backend gave none (SQLite never does).
 * dal_errconstraint - the name of the violated constraint: PostgreSQL
 * gives the constraint's name; SQLite gives the named CHECK constraint
 * or, for UNIQUE / NOT NULL, the "table.column" list from its message.
 * NULL when unknown. All three stay valid until the next call on db.
 */
DAL_EXTERN const char *dal_errdetail(const dal_db *db);
DAL_EXTERN const char *dal_errhint(const dal_db *db);
DAL_EXTERN const char *dal_errconstraint(const dal_db *db);

/*
 * dal_errnative - the backend's own code for the last error: SQLite's
 * extended result code (e.g. 2067 for SQLITE_CONSTRAINT_UNIQUE). On
 * PostgreSQL, whose native code is the SQLSTATE, the libpq result status
 * (PGRES_FATAL_ERROR is 7) or -1 for a connection-level failure. 0 when
 * there is no error.
 */
DAL_EXTERN int dal_errnative(const dal_db *db);

/* ---- one-shot execution -------------------------------------------- */

/*
 * dal_exec - run one or more SQL statements separated by ';', with no
 * parameters, discarding any rows. Stops at the first failing statement;
 * the ones before it stay executed (inside a transaction, roll back to
 * undo them). Returns DAL_OK or an error code.
 */
DAL_EXTERN int dal_exec(dal_db *db, const char *sql);

/*
 * dal_exec_params - run one statement with nparams parameters taken from
 * params[0..nparams-1] in placeholder order ($N takes params[N-1]; each
 * distinct :name takes the next slot in order of first appearance), and
 * discard any rows. params may be NULL when nparams is 0; text values
 * follow dal_bind_text()'s rules. The prepared statement is kept in the
 * connection's statement cache, so running the same SQL text again is
 * not prepared again. Returns DAL_OK, DAL_E_RANGE when nparams does not
 * match the placeholders, or an error code. dal_changes() then gives
 * the number of rows changed.
 */
DAL_EXTERN int dal_exec_params(dal_db *db, const char *sql,
                               const dal_value *params, int nparams);

/*
 * dal_query_int64, dal_query_double - run one statement (parameters as in
 * dal_exec_params(), through the statement cache) and store the first
 * column of its first row in *out. A NULL value stores 0.
 * Returns DAL_OK, DAL_DONE when the statement returned no row (*out is
 * left untouched), or an error code.
 */
DAL_EXTERN int dal_query_int64(dal_db *db, const char *sql,
                               const dal_value *params, int nparams,
                               int64_t *out);
DAL_EXTERN int dal_query_double(dal_db *db, const char *sql,
                                const dal_value *params, int nparams,
                                double *out);

/*
 * dal_query_text - like dal_query_int64(), storing in *out a
 * NUL-terminated copy of the first column's text (NULL for SQL NULL) and
 * its length in *len when len is not NULL. The caller frees *out with
 * dal_free(). Returns DAL_OK, DAL_DONE (no row; *out set to NULL),
 * DAL_NOMEM or an error code.
 */
DAL_EXTERN int dal_query_text(dal_db *db, const char *sql,
                              const dal_value *params, int nparams,
                              char **out, size_t *len);

/*
 * dal_query_value - like dal_query_int64(), storing the first column of
 * the first row as a dal_value of its own type. TEXT and BLOB bytes are
 * copied; release them with dal_value_clear(). Returns DAL_OK, DAL_DONE
 * (no row; *out set to NULL type), DAL_NOMEM or an error code.
 */
DAL_EXTERN int dal_query_value(dal_db *db, const char *sql,
                               const dal_value *params, int nparams,
                               dal_value *out);

/*
 * dal_value_clear - free the bytes of a TEXT or BLOB value returned by
 * dal_query_value() and set it to NULL type. NULL is ignored.
 */
DAL_EXTERN void dal_value_clear(dal_value *v);

/*
 * dal_changes - rows inserted, updated or deleted by the most recent
 * INSERT, UPDATE or DELETE on db (MERGE too on PostgreSQL). Other
 * statements leave it unchanged, on both backends. 0 for a NULL db.
 */
DAL_EXTERN int64_t dal_changes(dal_db *db);

/*
 * dal_last_insert_id - the id generated by the most recent INSERT on db:
 * SQLite's last rowid; on PostgreSQL lastval(), the latest value handed
 * out by a sequence (serial or identity column) in this session.
 * Returns DAL_OK, or an error when no id has been generated yet (DAL_E_TX
 * / 55000 on PostgreSQL; on SQLite *out is 0 and DAL_OK, as SQLite
 * reports). Prefer INSERT ... RETURNING id where it matters.
 */
DAL_EXTERN int dal_last_insert_id(dal_db *db, int64_t *out);

/* ---- prepared statements ------------------------------------------- */

/*
 * dal_prepare - compile one SQL statement into *stp. Placeholders may be
 * written ?, $1..$N or :name (one style per statement); they are
 * translated for the backend by a lexer that skips string literals,
 * quoted identifiers, comments, dollar-quoted strings and :: casts. Write
 * ?? for a literal ? (PostgreSQL's jsonb ? operator). A trailing ';' is
 * allowed; a second statement is DAL_E_MISUSE. On PostgreSQL the
 * statement is prepared on the server (a named prepared statement), so
 * syntax errors appear here on both backends.
 * The caller frees *stp with dal_finalize(). On error *stp is NULL.
 */
DAL_EXTERN int dal_prepare(dal_db *db, const char *sql, dal_stmt **stp);

/*
 * dal_finalize - free a statement. NULL is ignored. If its dal_db was
 * closed with dal_close() and this is its last statement, the
 * connection is closed too.
 */
DAL_EXTERN void dal_finalize(dal_stmt *st);

/* dal_stmt_db - the connection a statement belongs to. */
DAL_EXTERN dal_db *dal_stmt_db(const dal_stmt *st);

/* dal_stmt_sql - the statement's SQL as given to dal_prepare(). Valid
 * until dal_finalize(). */
DAL_EXTERN const char *dal_stmt_sql(const dal_stmt *st);

/*
 * dal_bind_param_count - the number of parameter slots (the highest $N,
 * the number of ?, or the number of distinct :names).
 */
DAL_EXTERN int dal_bind_param_count(const dal_stmt *st);

/*
 * dal_bind_param_index - the 1-based index of the parameter called name
 * (with or without its leading ':'), or 0 when there is none.
 */
DAL_EXTERN int dal_bind_param_index(const dal_stmt *st, const char *name);

/*
 * dal_bind_* - set parameter idx (1-based) for the next execution.
 * Bindings survive dal_reset(); dal_clear_bindings() sets all to NULL.
 * Binding while rows are being read resets the statement first.
 * Text must be valid UTF-8 without NUL bytes, on both backends (DAL_E_DATA,
 * SQLSTATE 22021, otherwise); len may be DAL_NTS for a NUL-terminated
 * string. Blobs take any bytes; p may be NULL when len is 0. flags is
 * DAL_STATIC or DAL_TRANSIENT; a NULL s binds SQL NULL. dal_bind_bool()
 * takes any nonzero v as true. dal_bind_named() binds by :name, given
 * with or without the colon, copying text and blobs as dal_bind_value()
 * does.
 * Returns DAL_OK, DAL_E_RANGE (idx out of range, unknown name),
 * DAL_E_DATA, DAL_E_MISUSE (bad type tag or flags) or DAL_NOMEM.
 */
DAL_EXTERN int dal_bind_null(dal_stmt *st, int idx);
DAL_EXTERN int dal_bind_bool(dal_stmt *st, int idx, int v);
DAL_EXTERN int dal_bind_int64(dal_stmt *st, int idx, int64_t v);
DAL_EXTERN int dal_bind_double(dal_stmt *st, int idx, double v);
DAL_EXTERN int dal_bind_text(dal_stmt *st, int idx, const char *s,
                             size_t len, int flags);
DAL_EXTERN int dal_bind_blob(dal_stmt *st, int idx, const void *p,
                             size_t len, int flags);
/* Text and blob values are bound DAL_TRANSIENT. */
DAL_EXTERN int dal_bind_value(dal_stmt *st, int idx, const dal_value *v);
DAL_EXTERN int dal_bind_named(dal_stmt *st, const char *name,
                              const dal_value *v);

/* dal_clear_bindings - set every parameter to NULL. Returns DAL_OK. */
DAL_EXTERN int dal_clear_bindings(dal_stmt *st);

/*
 * dal_step - execute the statement, or advance to its next row.
 * Returns DAL_ROW when a row is ready for the column getters, DAL_DONE
 * when the statement has finished, or an error code. Stepping a finished
 * (or failed) statement runs it anew with the same bindings, as if
 * dal_reset() had been called. On PostgreSQL the first step runs the
 * statement and receives its whole result.
 */
DAL_EXTERN int dal_step(dal_stmt *st);

/*
 * dal_reset - make the statement ready to run again, keeping its
 * bindings. Returns DAL_OK.
 */
DAL_EXTERN int dal_reset(dal_stmt *st);

/*
 * Column information. dal_column_count, dal_column_name and
 * dal_column_decltype are valid after the first dal_step() (SQLite also
 * knows them right after dal_prepare()). The name is the result column's
 * name; the declared type is the table column's declared type on SQLite
 * (NULL for expressions) and the type's name on PostgreSQL ("int8",
 * "text", ...). Strings stay valid until dal_finalize().
 * Out-of-range indexes give NULL and record DAL_E_RANGE.
 */
DAL_EXTERN int dal_column_count(dal_stmt *st);
DAL_EXTERN const char *dal_column_name(dal_stmt *st, int col);
DAL_EXTERN const char *dal_column_decltype(dal_stmt *st, int col);

/*
 * Column getters for the current row (after dal_step() returned DAL_ROW).
 * dal_column_type gives the value's type: INT64 for integer types, DOUBLE
 * for floating point, BOOL for PostgreSQL booleans, BLOB for bytea and
 * SQLite blobs, TEXT for the rest (numeric, dates, json... as text), or
 * NULL. Getters convert like SQLite: a number from text is parsed, text
 * of a number is formatted, NULL reads as 0 / "" / empty blob.
 * dal_column_text and dal_column_blob return a pointer owned by the
 * statement and valid until the next dal_step(), dal_reset() or
 * dal_finalize() on it, and store the length in bytes in *len when len
 * is not NULL. Text is always NUL-terminated. With no current row, or an
 * out-of-range column, they return 0 / NULL and record DAL_E_MISUSE or
 * DAL_E_RANGE on the dal_db.
 */
DAL_EXTERN dal_type dal_column_type(dal_stmt *st, int col);
DAL_EXTERN int dal_column_is_null(dal_stmt *st, int col);
DAL_EXTERN int64_t dal_column_int64(dal_stmt *st, int col);
DAL_EXTERN double dal_column_double(dal_stmt *st, int col);
DAL_EXTERN const char *dal_column_text(dal_stmt *st, int col, size_t *len);
DAL_EXTERN const void *dal_column_blob(dal_stmt *st, int col, size_t *len);

/* ---- transactions -------------------------------------------------- */

/*
 * dal_begin - open a transaction, or, inside one, a savepoint: nesting
 * goes to any depth, and dal_commit() / dal_rollback() close the
 * innermost level. flags (only on the outermost level; DAL_E_MISUSE
 * otherwise):
 *   DAL_TX_DEFERRED, DAL_TX_IMMEDIATE, DAL_TX_EXCLUSIVE - SQLite's locking
 *     mode; PostgreSQL locks rows as statements run and ignores them.
 *   DAL_TX_READ_COMMITTED, DAL_TX_REPEATABLE_READ, DAL_TX_SERIALIZABLE -
 *     PostgreSQL's isolation level; SQLite transactions are always
 *     serializable, which satisfies every level.
 *   DAL_TX_READ_ONLY - writes fail with DAL_E_READONLY (SQLite through
 *     PRAGMA query_only for the transaction's length).
 * Note: on PostgreSQL a failed statement aborts the transaction (DAL_E_TX,
 * 25P02, until rolled back); on SQLite it does not. Wrap a statement that
 * may fail in a nested dal_begin() to recover on both.
 */
DAL_EXTERN int dal_begin(dal_db *db, int flags);

/* dal_commit - commit the innermost level (RELEASE for a savepoint).
 * DAL_E_MISUSE when no transaction is open. */
DAL_EXTERN int dal_commit(dal_db *db);

/* dal_rollback - roll back the innermost level (ROLLBACK TO and RELEASE
 * for a savepoint). DAL_E_MISUSE when no transaction is open. */
DAL_EXTERN int dal_rollback(dal_db *db);

/* dal_tx_depth - 0 outside a transaction, 1 in a transaction, 2 and more
 * inside nested savepoints. */
DAL_EXTERN int dal_tx_depth(const dal_db *db);

/*
 * How dal_tx_run() retries. Zero fields take the defaults in brackets.
 *   max_attempts   runs of the whole transaction, the first included [3]
 *   base_delay_ms  the first wait's ceiling, doubled at each retry [10]
 *   max_delay_ms   the ceiling no wait goes beyond [1000]
 *   max_total_ms   no retry starts once this long has passed since the
 *                  first attempt began (0: no limit) [0]
 *   no_jitter      wait exactly the ceiling instead of a random time
 *                  between 0 and it ("full jitter", which keeps
 *                  retrying clients from colliding again) [0]
 */
typedef struct dal_retry_policy {
    int max_attempts;
    int base_delay_ms;
    int max_delay_ms;
    int max_total_ms;
    int no_jitter;
} dal_retry_policy;

/*
 * dal_tx_run - run fn(db, data) in a transaction opened with flags (as
 * dal_begin()), commit when fn returns DAL_OK, roll back otherwise, and
 * with a policy, run the whole transaction again when it failed with a
 * retryable error (dal_is_retryable(): SQLite's busy and locked,
 * PostgreSQL's 40001 serialization failure, 40P01 deadlock and 55P03
 * lock not available), whether fn or the COMMIT met it, waiting between
 * attempts with exponential backoff. policy NULL runs it once: retrying
 * is off unless asked for.
 *
 * fn must be safe to run more than once: everything it did in the
 * database is rolled back before a retry, but not what it did outside.
 * fn returns DAL_OK, or an error code (usually what a libdal call
 * returned; the error recorded on db is kept).
 *
 * Inside an open transaction, fn runs once in a savepoint (dal_begin's
 * nesting) and is not retried: the retryable errors abort the whole
 * transaction, which only its owner can run again.
 *
 * Returns DAL_OK; the error of the last attempt (from fn, or from the
 * COMMIT), with its message on db; DAL_E_MISUSE (db or fn NULL, bad
 * policy values, flags inside a transaction).
 */
DAL_EXTERN int dal_tx_run(dal_db *db, int flags,
                          int (*fn)(dal_db *db, void *data), void *data,
                          const dal_retry_policy *policy);

#ifdef __cplusplus
}
#endif
#endif /* DAL_CORE_H */
