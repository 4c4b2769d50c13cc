/*
 * sqlite.c - the SQLite driver. A driver statement is the sqlite3_stmt
 * itself, so the hot path (bind, step, column) is one indirect call in
 * front of SQLite's own.
 *
 * Defaults chosen to behave like PostgreSQL out of the box: foreign keys
 * are enforced and a locked database is waited for (busy_timeout 5 s)
 * rather than failing at once. Both can be changed in the URL.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dal-int.h"

#define DEFAULT_BUSY_TIMEOUT 5000

typedef struct sq_conn {
    sqlite3 *h;
    int ro_tx; /* query_only was set for the current transaction */
    /* Statement timeout (sq_set_timeout): the deadline on the monotonic
     * clock, and whether the progress handler interrupted for it. */
    int timeout_ms;
    int timed_out;
    int64_t deadline_ns;
} sq_conn;

/* ---- errors -------------------------------------------------------- */

static const struct {
    const char *prefix;   /* start of SQLite's message */
    const char *sqlstate;
    const char *also;     /* a second part the message must contain */
} msg_states[] = {
    {"near ", "42601", NULL},
    {"incomplete input", "42601", NULL},
    {"unrecognized token", "42601", NULL},
    {"syntax error", "42601", NULL},
    {"no such table", "42P01", NULL},
    {"no such column", "42703", NULL},
    {"no such function", "42883", NULL},
    {"no such index", "42704", NULL},
    {"no such savepoint", "3B001", NULL},
    {"ambiguous column name", "42702", NULL},
    {"misuse of aggregate", "42803", NULL},
    {"wrong number of arguments", "42883", NULL},
    {"cannot start a transaction within a transaction", "25001", NULL},
    {"cannot commit - no transaction is active", "25P01", NULL},
    {"cannot rollback - no transaction is active", "25P01", NULL},
    {"integer overflow", "22003", NULL},
    {"too many SQL variables", "54023", NULL},
    {"too many columns", "54011", NULL},
    {"parser stack overflow", "54001", NULL},
    {"table ", "42P07", "already exists"},
    {"index ", "42P07", "already exists"},
    {"view ", "42P07", "already exists"},
    {"there is already another table", "42P07", NULL},
    {"duplicate column name", "42701", NULL},
    {"Cannot add a NOT NULL column", "23502", NULL},
    {"trigger ", "42710", "already exists"},
    {NULL, NULL, NULL}
};

/* The SQLSTATE an SQLite error stands for (see dal_sqlstate(3)). */
static const char *sqlstate_of(int ext, const char *msg)
{
    int i;

    switch (ext) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return "23505";
    case SQLITE_CONSTRAINT_NOTNULL:
        return "23502";
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return "23503";
    case SQLITE_CONSTRAINT_CHECK:
        return "23514";
#ifdef SQLITE_CONSTRAINT_DATATYPE
    case SQLITE_CONSTRAINT_DATATYPE:
        return "22P02";
#endif
    case SQLITE_BUSY_SNAPSHOT:
        return "40001";
    }
    switch (ext & 0xff) {
    case SQLITE_CONSTRAINT:
        /* RESTRICT actions fail through a trigger code, same message. */
        if (msg && strstr(msg, "FOREIGN KEY constraint failed"))
            return "23503";
        return "23000";
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return "55P03";
    case SQLITE_NOMEM: return "53200";
    case SQLITE_READONLY: return "25006";
    case SQLITE_INTERRUPT: return "57014";
    case SQLITE_CANTOPEN: return "08001";
    case SQLITE_IOERR: return "58030";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return "XX001";
    case SQLITE_FULL: return "53100";
    case SQLITE_TOOBIG: return "54000";
    case SQLITE_MISMATCH: return "42804";
    case SQLITE_AUTH:
    case SQLITE_PERM: return "42501";
    case SQLITE_RANGE: return "42P02";
    case SQLITE_ERROR:
        /* A RENAME reports it inside "error in table t after rename". */
        if (msg && strstr(msg, "duplicate column name"))
            return "42701";
        for (i = 0; msg && msg_states[i].prefix; i++)
            if (!strncmp(msg, msg_states[i].prefix,
                         strlen(msg_states[i].prefix))
                && (!msg_states[i].also
                    || strstr(msg, msg_states[i].also)))
                return msg_states[i].sqlstate;
        return "HY000";
    }
    return "HY000";
}

/*
 * The constraint named by a constraint error's message: a named CHECK
 * gives its name, UNIQUE / NOT NULL the "table.column" list. The result
 * points into msg; *len is its length, 0 when there is none.
 */
static const char *constraint_of(int ext, const char *msg, size_t *len)
{
    const char *p;

    *len = 0;
    if ((ext & 0xff) != SQLITE_CONSTRAINT || !msg)
        return NULL;
    p = strstr(msg, "constraint failed: ");
    if (!p)
        return NULL;
    p += strlen("constraint failed: ");
    *len = strlen(p);
    return *len ? p : NULL;
}

/* Record SQLite's last error on h as the connection's error. */
static int sq_err(dal_db *db, sqlite3 *h, int rc)
{
    int ext = h ? sqlite3_extended_errcode(h) : rc;
    const char *msg = h ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
    const char *state, *cons;
    char cbuf[256];
    size_t clen;
    int code;

    /* The connection's code can lag the call's (e.g. after a reset). */
    if ((ext & 0xff) != (rc & 0xff))
        ext = rc;
    state = sqlstate_of(ext, msg);
    if ((rc & 0xff) == SQLITE_NOMEM)
        code = DAL_NOMEM;
    else if ((rc & 0xff) == SQLITE_MISUSE)
        code = DAL_E_MISUSE;
    else if (!strcmp(state, "HY000"))
        code = DAL_ERROR;
    else
        code = dal__rc_from_sqlstate(state);
    cons = constraint_of(ext, msg, &clen);
    if (cons) {
        snprintf(cbuf, sizeof cbuf, "%.*s", (int)clen, cons);
        cons = cbuf;
    }
    return dal__seterr(db, code, state, ext, msg, NULL, NULL, cons);
}

/* ---- connect ------------------------------------------------------- */

/* Format an option error into err and return DAL_E_URL. */
static int opt_err(char *err, size_t errlen, const char *fmt, ...)
    DAL__PRINTF(3, 4);

static int opt_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return DAL_E_URL;
}

static int url_err(dal_db *db, const char *msg)
{
    return dal__seterr(db, DAL_E_URL, "08001", 0, msg, NULL, NULL, NULL);
}

/* Run a setup pragma, checking the value SQLite reports back. */
static int pragma(dal_db *db, sqlite3 *h, const char *sql,
                  const char *expect)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    char got[32] = "";

    if (rc != SQLITE_OK)
        return sq_err(db, h, rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(got, sizeof got, "%s",
                 (const char *)sqlite3_column_text(st, 0));
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rc = sq_err(db, h, rc);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    if (expect && strcasecmp(got, expect))
        return dal__seterrf(db, DAL_E_URL, "08001", "%s: SQLite kept "
                            "journal mode '%s' (an in-memory database "
                            "cannot use '%s')", sql, got, expect);
    return DAL_OK;
}

static int sq_open(dal_db *db, dal__url *u, void **connp)
{
    static const char *const journals[] = {
        "delete", "truncate", "persist", "memory", "wal", "off", NULL
    };
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    const char *journal = NULL;
    long busy = DEFAULT_BUSY_TIMEOUT;
    int fk = 1, rc, i;
    char err[512], sql[64];
    char *path = NULL;
    sq_conn *c;
    dal__kv *kv;

    *connp = NULL;
    /* sqlite::memory:, sqlite:///abs/path, sqlite:rel/path */
    if (!strncmp(u->body, "//", 2)) {
        if (u->body[2] != '/') {
            snprintf(err, sizeof err, "SQLite URL '%s' names a host "
                     "('%.*s'): write sqlite:relative/path.db or "
                     "sqlite:///absolute/path.db", u->redacted,
                     (int)strcspn(u->body + 2, "/"), u->body + 2);
            return url_err(db, err);
        }
        path = dal__url_decode(u->body + 2, strlen(u->body + 2), 0);
    } else {
        path = dal__url_decode(u->body, strlen(u->body), 0);
    }
    if (!path)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    if (!*path) {
        dal__free(path);
        snprintf(err, sizeof err, "SQLite URL '%s' has no database path: "
                 "write sqlite:file.db, sqlite:///abs/file.db or "
                 "sqlite::memory:", u->redacted);
        return url_err(db, err);
    }

    rc = DAL_OK;
    if ((kv = dal__url_opt(u, "mode"))) {
        if (!strcmp(kv->val, "ro"))
            flags = SQLITE_OPEN_READONLY;
        else if (!strcmp(kv->val, "rw"))
            flags = SQLITE_OPEN_READWRITE;
        else if (strcmp(kv->val, "rwc"))
            rc = opt_err(err, sizeof err, "invalid value '%s' for option "
                          "'mode': expected ro, rw or rwc", kv->val);
        flags |= SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    }
    if (!rc && (kv = dal__url_opt(u, "journal"))) {
        for (i = 0; journals[i] && strcasecmp(kv->val, journals[i]); i++)
            ;
        if (journals[i])
            journal = journals[i];
        else
            rc = opt_err(err, sizeof err, "invalid value '%s' for option "
                          "'journal': expected wal, delete, truncate, "
                          "persist, memory or off", kv->val);
    }
    if (!rc && (kv = dal__url_opt(u, "busy_timeout")))
        rc = dal__url_opt_int(kv, 0, 2147483647L, &busy, err, sizeof err);
    if (!rc && (kv = dal__url_opt(u, "foreign_keys")))
        rc = dal__url_opt_bool(kv, &fk, err, sizeof err);
    for (i = 0; !rc && i < u->nopts; i++)
        if (!u->opts[i].used)
            rc = opt_err(err, sizeof err, "unknown option '%s' in URL "
                          "'%s': SQLite URLs take mode, journal, "
                          "busy_timeout, foreign_keys and statement_cache",
                          u->opts[i].key, u->redacted);
    if (rc) {
        dal__free(path);
        return url_err(db, err);
    }

    c = dal__calloc(1, sizeof *c);
    if (!c) {
        dal__free(path);
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    }
    rc = sqlite3_open_v2(path, &c->h, flags, NULL);
    dal__free(path);
    *connp = c;
    if (rc != SQLITE_OK) {
        if (!c->h || (rc & 0xff) == SQLITE_NOMEM)
            return dal__seterr(db, DAL_NOMEM, NULL, rc, NULL, NULL, NULL,
                               NULL);
        rc = sq_err(db, c->h, rc);
        if (rc != DAL_NOMEM) {
            /* Say which file could not be opened. */
            char msg[600];

            snprintf(msg, sizeof msg, "cannot open '%s': %s", u->redacted,
                     sqlite3_errmsg(c->h));
            dal__seterr(db, DAL_E_CONNECT, "08001", db->err.native, msg,
                        NULL, NULL, NULL);
            rc = DAL_E_CONNECT;
        }
        return rc;
    }
    sqlite3_busy_timeout(c->h, (int)busy);
    /* A "name" that is no column must be an error, as on PostgreSQL,
     * not the string 'name' (SQLite's old leniency). */
    sqlite3_db_config(c->h, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
    sqlite3_db_config(c->h, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
    snprintf(sql, sizeof sql, "PRAGMA foreign_keys=%s", fk ? "ON" : "OFF");
    if ((rc = pragma(db, c->h, sql, NULL)) != DAL_OK)
        return rc;
    /* LIKE matches case-sensitively, as on PostgreSQL (dal_like(3)). */
    if ((rc = pragma(db, c->h, "PRAGMA case_sensitive_like=ON", NULL)))
        return rc;
    if (journal) {
        snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s", journal);
        if ((rc = pragma(db, c->h, sql, journal)) != DAL_OK)
            return rc;
    }
    return DAL_OK;
}

static void sq_close(void *conn)
{
    sq_conn *c = conn;

    if (!c)
        return;
    sqlite3_close_v2(c->h);
    dal__free(c);
}

/* ---- statements ---------------------------------------------------- */

static int sq_prepare(dal_db *db, void *conn, const char *sql, size_t len,
                      int nparams, int cached, void **stmt)
{
    sq_conn *c = conn;
    sqlite3_stmt *st = NULL;
    int rc;

    *stmt = NULL;
    if (len > 0x7ffffffe)
        return dal__seterrf(db, DAL_E_DATA, "54000", "SQL text too long");
    /* nByte includes the NUL, which spares SQLite a copy. */
    rc = sqlite3_prepare_v3(c->h, sql, (int)len + 1,
                            cached ? SQLITE_PREPARE_PERSISTENT : 0, &st,
                            NULL);
    if (rc != SQLITE_OK)
        return sq_err(db, c->h, rc);
    if (!st)
        return dal__seterrf(db, DAL_E_MISUSE, "42601",
                            "the SQL text holds no statement");
    if (sqlite3_bind_parameter_count(st) != nparams) {
        sqlite3_finalize(st);
        return dal__seterrf(db, DAL_E_MISUSE, "42601", "the statement "
                            "uses placeholders libdal does not translate "
                            "(@name or $name): write ?, $N or :name");
    }
    *stmt = st;
    return DAL_OK;
}

static void sq_finalize(void *conn, void *stmt)
{
    (void)conn;
    sqlite3_finalize(stmt);
}

static int bind_rc(dal_db *db, sqlite3_stmt *st, int rc)
{
    return rc == SQLITE_OK ? DAL_OK : sq_err(db, sqlite3_db_handle(st), rc);
}

static int sq_bind_null(dal_db *db, void *stmt, int idx)
{
    return bind_rc(db, stmt, sqlite3_bind_null(stmt, idx));
}

static int sq_bind_int64(dal_db *db, void *stmt, int idx, int64_t v)
{
    int rc = sqlite3_bind_int64(stmt, idx, v);

    return DAL__LIKELY(rc == SQLITE_OK) ? DAL_OK : bind_rc(db, stmt, rc);
}

static int sq_bind_double(dal_db *db, void *stmt, int idx, double v)
{
    return bind_rc(db, stmt, sqlite3_bind_double(stmt, idx, v));
}

static int sq_bind_bool(dal_db *db, void *stmt, int idx, int v)
{
    return bind_rc(db, stmt, sqlite3_bind_int64(stmt, idx, v));
}

static int sq_bind_text(dal_db *db, void *stmt, int idx, const char *s,
                        size_t len, int flags)
{
    int rc = sqlite3_bind_text64(stmt, idx, s, len,
                                 (flags & DAL_TRANSIENT) ? SQLITE_TRANSIENT
                                                         : SQLITE_STATIC,
                                 SQLITE_UTF8);

    return DAL__LIKELY(rc == SQLITE_OK) ? DAL_OK : bind_rc(db, stmt, rc);
}

static int sq_bind_blob(dal_db *db, void *stmt, int idx, const void *p,
                        size_t len, int flags)
{
    return bind_rc(db, stmt, sqlite3_bind_blob64(stmt, idx, p, len,
                   (flags & DAL_TRANSIENT) ? SQLITE_TRANSIENT
                                           : SQLITE_STATIC));
}

static int sq_clear_bindings(void *stmt)
{
    sqlite3_clear_bindings(stmt);
    return DAL_OK;
}

static int sq_step(dal_db *db, void *conn, void *stmt)
{
    int rc = sqlite3_step(stmt);

    if (DAL__LIKELY(rc == SQLITE_ROW))
        return DAL_ROW;
    if (rc == SQLITE_DONE)
        return DAL_DONE;
    if (rc == SQLITE_INTERRUPT && ((sq_conn *)conn)->timed_out)
        return dal__seterrf(db, DAL_E_TIMEOUT, "57014", "canceling "
                            "statement due to statement timeout (%d ms)",
                            ((sq_conn *)conn)->timeout_ms);
    return sq_err(db, sqlite3_db_handle(stmt), rc);
}

/* ---- statement timeout ---------------------------------------------- */

static int timeout_progress(void *arg)
{
    sq_conn *c = arg;

    if (dal_clock_ns() < c->deadline_ns)
        return 0;
    c->timed_out = 1;
    return 1;
}

/* The progress handler checks the clock every this many VM steps. */
#define TIMEOUT_STEPS 1000

static int sq_set_timeout(dal_db *db, void *conn, int ms)
{
    sq_conn *c = conn;

    (void)db;
    c->timed_out = 0;
    if (ms <= 0) {
        if (c->timeout_ms > 0)
            sqlite3_progress_handler(c->h, 0, NULL, NULL);
        c->timeout_ms = 0;
        return DAL_OK;
    }
    c->deadline_ns = dal_clock_ns() + (int64_t)ms * 1000000;
    if (c->timeout_ms <= 0)
        sqlite3_progress_handler(c->h, TIMEOUT_STEPS, timeout_progress, c);
    c->timeout_ms = ms;
    return DAL_OK;
}

static void sq_reset(void *stmt)
{
    sqlite3_reset(stmt);
}

static int sq_column_count(void *stmt)
{
    return sqlite3_column_count(stmt);
}

static const char *sq_column_name(void *stmt, int col)
{
    return sqlite3_column_name(stmt, col);
}

static const char *sq_column_decltype(dal_db *db, void *conn, void *stmt,
                                      int col)
{
    (void)db;
    (void)conn;
    return sqlite3_column_decltype(stmt, col);
}

static dal_type sq_column_type(void *stmt, int col)
{
    switch (sqlite3_column_type(stmt, col)) {
    case SQLITE_INTEGER: return DAL_TYPE_INT64;
    case SQLITE_FLOAT: return DAL_TYPE_DOUBLE;
    case SQLITE_TEXT: return DAL_TYPE_TEXT;
    case SQLITE_BLOB: return DAL_TYPE_BLOB;
    default: return DAL_TYPE_NULL;
    }
}

static int64_t sq_column_int64(void *stmt, int col)
{
    return sqlite3_column_int64(stmt, col);
}

static double sq_column_double(void *stmt, int col)
{
    return sqlite3_column_double(stmt, col);
}

static const char *sq_column_text(dal_db *db, void *stmt, int col,
                                  size_t *len)
{
    const char *p = (const char *)sqlite3_column_text(stmt, col);

    if (DAL__UNLIKELY(!p)) {
        if (sqlite3_column_type(stmt, col) == SQLITE_NULL) {
            if (len)
                *len = 0;
            return "";
        }
        dal__seterr(db, DAL_NOMEM, NULL, SQLITE_NOMEM, NULL, NULL, NULL,
                    NULL);
        return NULL;
    }
    if (len)
        *len = (size_t)sqlite3_column_bytes(stmt, col);
    return p;
}

static const void *sq_column_blob(dal_db *db, void *stmt, int col,
                                  size_t *len)
{
    const void *p = sqlite3_column_blob(stmt, col);
    int n = sqlite3_column_bytes(stmt, col);

    if (!p) {
        /* An empty blob or NULL has no pointer; running out of memory
         * while converting text has none either, but a length. */
        if (n > 0 || sqlite3_errcode(sqlite3_db_handle(stmt))
                         == SQLITE_NOMEM) {
            dal__seterr(db, DAL_NOMEM, NULL, SQLITE_NOMEM, NULL, NULL, NULL,
                        NULL);
            return NULL;
        }
        p = "";
        n = 0;
    }
    if (len)
        *len = (size_t)n;
    return p;
}

/* ---- connection state and transactions ----------------------------- */

static int64_t sq_changes(void *conn)
{
    return sqlite3_changes64(((sq_conn *)conn)->h);
}

static int sq_in_tx(void *conn)
{
    return !sqlite3_get_autocommit(((sq_conn *)conn)->h);
}

static int sq_begin_sql(dal_db *db, void *conn, int flags, dal__buf *b)
{
    sq_conn *c = conn;
    const char *begin = "BEGIN";

    if (flags & DAL_TX_IMMEDIATE)
        begin = "BEGIN IMMEDIATE";
    else if (flags & DAL_TX_EXCLUSIVE)
        begin = "BEGIN EXCLUSIVE";
    else if (flags & DAL_TX_DEFERRED)
        begin = "BEGIN DEFERRED";
    /* SQLite transactions are serializable, which satisfies every
     * isolation level asked for; read-only is query_only for the
     * transaction's length. */
    if (dal__buf_add(b, begin, strlen(begin) + 1))
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    if (flags & DAL_TX_READ_ONLY) {
        static const char ro[] = "PRAGMA query_only=1";

        if (dal__buf_add(b, ro, sizeof ro))
            return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                               NULL);
        c->ro_tx = 1;
    }
    return DAL_OK;
}

/* Thread-safe by SQLite's contract: the async core cancels from the
 * loop thread while a worker thread steps. */
static void sq_interrupt(void *conn)
{
    sqlite3_interrupt(((sq_conn *)conn)->h);
}

static const char *sq_end_sql(void *conn)
{
    sq_conn *c = conn;

    if (!c->ro_tx)
        return NULL;
    c->ro_tx = 0;
    return "PRAGMA query_only=0";
}

static const char *const sq_schemes[] = {"sqlite", NULL};

const struct dal_driver dal__sqlite_driver = {
    .name = "sqlite",
    .system = "sqlite",
    .schemes = sq_schemes,
    .param_marker = '?',
    .dialect = &dal__sqlite_dialect,
    .open = sq_open,
    .close = sq_close,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .bind_null = sq_bind_null,
    .bind_int64 = sq_bind_int64,
    .bind_double = sq_bind_double,
    .bind_bool = sq_bind_bool,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .clear_bindings = sq_clear_bindings,
    .step = sq_step,
    .reset = sq_reset,
    .column_count = sq_column_count,
    .column_name = sq_column_name,
    .column_decltype = sq_column_decltype,
    .column_type = sq_column_type,
    .column_int64 = sq_column_int64,
    .column_double = sq_column_double,
    .column_text = sq_column_text,
    .column_blob = sq_column_blob,
    .changes = sq_changes,
    .last_id_sql = "SELECT last_insert_rowid()",
    .in_tx = sq_in_tx,
    .begin_sql = sq_begin_sql,
    .end_sql = sq_end_sql,
    .stale_plan = NULL,
    .set_timeout = sq_set_timeout,
    .interrupt = sq_interrupt,
};
