/*
 * stmt.c - prepared statements: prepare, bind, step, read columns.
 * These are thin checks in front of the driver's calls; the checks are
 * what make a bad index or a call out of sequence an error instead of a
 * crash, on both backends alike.
 */
#include <string.h>

#include "dal-int.h"

/* Successful calls clear the connection's last error, as in SQLite. */
#define CLEAR(db) \
    do { if (DAL__UNLIKELY((db)->err.code != DAL_OK)) \
        dal__clearerr(db); } while (0)

/* Make st ready to run again (SQLite refuses binds while it is not). */
static void rewind_stmt(dal_stmt *st)
{
    if (st->state != DAL__ST_READY) {
        st->db->drv->reset(st->impl);
        st->state = DAL__ST_READY;
        if (DAL__UNLIKELY(st->obs_running))
            dal__obs_end(st, DAL_OK);
    }
}

/* Keep a bound value for the hooks that want parameters. */
static inline int captured(dal_stmt *st, int idx, int rc, dal_value v)
{
    if (DAL__LIKELY(!st->db->obs_params) || rc != DAL_OK)
        return rc;
    return dal__obs_capture(st, idx, &v);
}

/* The comment goes on a line of its own when the text may end inside a
 * -- comment. */
int dal__sql_commented(dal_db *db, const char *sql, size_t len,
                       dal__buf *b)
{
    int rc = dal__buf_reserve(b, len + 64);

    if (rc == DAL_OK)
        rc = dal__buf_add(b, sql, len);
    if (rc == DAL_OK)
        rc = dal__buf_addc(b, memchr(sql, '-', len) ? '\n' : ' ');
    if (rc == DAL_OK)
        rc = db->sql_comment(db, b);
    if (rc == DAL_OK)
        rc = dal__buf_addc(b, '\0');
    if (rc != DAL_OK) {
        dal__buf_free(b);
        return rc;
    }
    b->len--;
    return DAL_OK;
}

/* Prepare sql for one run with the tracer's comment appended. */
static int prepare_commented(dal_db *db, const char *sql, size_t len,
                             int nparams, void **impl)
{
    dal__buf b = {0};
    int rc = dal__sql_commented(db, sql, len, &b);

    if (rc != DAL_OK)
        return dal__seterr(db, rc, NULL, 0, NULL, NULL, NULL, NULL);
    rc = db->drv->prepare(db, db->conn, b.p, b.len, nparams, 0, impl);
    dal__buf_free(&b);
    return rc;
}

int dal__stmt_new_translated(dal_db *db, const char *key, const char *sql,
                             size_t len, int nparams, char **names,
                             int cached, dal_stmt **stp)
{
    dal_stmt *st;
    int rc, i;

    *stp = NULL;
    st = dal__calloc(1, sizeof *st);
    if (!st || !(st->sql = dal__strdup(key ? key : sql))) {
        dal__free(st);
        rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
        goto fail;
    }
    st->db = db;
    st->ncols = -1;
    st->nparams = nparams;
    if (DAL__UNLIKELY(db->sql_comment != NULL) && !cached)
        rc = prepare_commented(db, sql, len, nparams, &st->impl);
    else
        rc = db->drv->prepare(db, db->conn, sql, len, nparams, cached,
                              &st->impl);
    if (rc != DAL_OK) {
        if (DAL__UNLIKELY(db->obs != NULL))
            dal__obs_prepare_failed(db, st->sql, nparams, rc);
        dal__free(st->sql);
        dal__free(st);
        goto fail;
    }
    st->names = names;
    *stp = st;
    return DAL_OK;
fail:
    if (names) {
        for (i = 0; i < nparams; i++)
            dal__free(names[i]);
        dal__free(names);
    }
    return rc;
}

int dal__stmt_new(dal_db *db, const char *sql, int cached, dal_stmt **stp)
{
    dal__sqltext t;
    char err[256];
    int rc;

    *stp = NULL;
    rc = dal__sql_translate(sql, db->drv->param_marker, &t, err,
                            sizeof err);
    if (rc != DAL_OK)
        return dal__seterr(db, rc, NULL, 0,
                           rc == DAL_NOMEM ? NULL : err, NULL, NULL, NULL);
    rc = dal__stmt_new_translated(db, sql, t.sql, t.len, t.nparams, t.names,
                                  cached, stp);
    t.names = NULL;
    t.nparams = 0;
    dal__sqltext_free(&t);
    return rc;
}

void dal__stmt_free(dal_stmt *st)
{
    int i;

    if (!st)
        return;
    if (DAL__UNLIKELY(st->obs_running || st->obs_params))
        dal__obs_stmt_free(st);
    st->db->drv->finalize(st->db->conn, st->impl);
    if (st->names) {
        for (i = 0; i < st->nparams; i++)
            dal__free(st->names[i]);
        dal__free(st->names);
    }
    dal__free(st->sql);
    dal__free(st);
}

int dal_prepare(dal_db *db, const char *sql, dal_stmt **stp)
{
    int rc;

    if (stp)
        *stp = NULL;
    if (!db)
        return DAL_E_MISUSE;
    if (!sql || !stp)
        return dal__seterrf(db, DAL_E_MISUSE, NULL,
                            "dal_prepare: %s is NULL", sql ? "stp" : "sql");
    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, NULL,
                            "dal_prepare: the connection is %s",
                            db->zombie ? "closed" : "not open");
    CLEAR(db);
    rc = dal__stmt_new(db, sql, 1, stp);
    if (rc == DAL_OK)
        db->nstmts++;
    return rc;
}

void dal_finalize(dal_stmt *st)
{
    dal_db *db;

    if (!st)
        return;
    db = st->db;
    dal__stmt_free(st);
    db->nstmts--;
    if (db->zombie && db->nstmts == 0) {
        db->zombie = 0;
        dal_close(db);
    }
}

dal_db *dal_stmt_db(const dal_stmt *st)
{
    return st ? st->db : NULL;
}

const char *dal_stmt_sql(const dal_stmt *st)
{
    return st ? st->sql : NULL;
}

int dal_bind_param_count(const dal_stmt *st)
{
    return st ? st->nparams : 0;
}

int dal_bind_param_index(const dal_stmt *st, const char *name)
{
    int i;

    if (!st || !name || !st->names)
        return 0;
    if (*name == ':')
        name++;
    for (i = 0; i < st->nparams; i++)
        if (st->names[i] && !strcmp(st->names[i], name))
            return i + 1;
    return 0;
}

/*
 * Common checks before binding: a valid index, and a statement not in
 * the middle of returning rows (binding then resets it, as SQLite would
 * otherwise refuse).
 */
static int bind_check(dal_stmt *st, int idx)
{
    dal_db *db;

    if (!st)
        return DAL_E_MISUSE;
    db = st->db;
    if (DAL__UNLIKELY(idx < 1 || idx > st->nparams))
        return dal__seterrf(db, DAL_E_RANGE, "42P02",
                            "parameter index %d out of range: the "
                            "statement has %d parameter%s", idx,
                            st->nparams, st->nparams == 1 ? "" : "s");
    CLEAR(db);
    rewind_stmt(st);
    return DAL_OK;
}

int dal_bind_null(dal_stmt *st, int idx)
{
    int rc = bind_check(st, idx);
    dal_value v = {0};

    if (rc)
        return rc;
    rc = st->db->drv->bind_null(st->db, st->impl, idx);
    return captured(st, idx, rc, v);
}

int dal_bind_bool(dal_stmt *st, int idx, int v)
{
    int rc = bind_check(st, idx);
    dal_value val = {0};

    if (rc)
        return rc;
    rc = st->db->drv->bind_bool(st->db, st->impl, idx, !!v);
    val.type = DAL_TYPE_BOOL;
    val.u.b = !!v;
    return captured(st, idx, rc, val);
}

int dal_bind_int64(dal_stmt *st, int idx, int64_t v)
{
    int rc = bind_check(st, idx);
    dal_value val = {0};

    if (rc)
        return rc;
    rc = st->db->drv->bind_int64(st->db, st->impl, idx, v);
    val.type = DAL_TYPE_INT64;
    val.u.i = v;
    return captured(st, idx, rc, val);
}

int dal_bind_double(dal_stmt *st, int idx, double v)
{
    int rc = bind_check(st, idx);
    dal_value val = {0};

    if (rc)
        return rc;
    rc = st->db->drv->bind_double(st->db, st->impl, idx, v);
    val.type = DAL_TYPE_DOUBLE;
    val.u.d = v;
    return captured(st, idx, rc, val);
}

static int check_flags(dal_stmt *st, int flags)
{
    if (flags != DAL_STATIC && flags != DAL_TRANSIENT)
        return dal__seterrf(st->db, DAL_E_MISUSE, NULL, "bind flags must "
                            "be DAL_STATIC or DAL_TRANSIENT, not %d", flags);
    return DAL_OK;
}

int dal_bind_text(dal_stmt *st, int idx, const char *s, size_t len,
                  int flags)
{
    int rc = bind_check(st, idx);

    if (rc || (rc = check_flags(st, flags)))
        return rc;
    if (!s) {
        if (len && len != DAL_NTS)
            return dal__seterrf(st->db, DAL_E_MISUSE, NULL,
                                "dal_bind_text: NULL text of length %zu",
                                len);
        return dal_bind_null(st, idx);
    }
    if (len == DAL_NTS) {
        len = strlen(s);
        flags |= DAL__NTS;
    } else if (memchr(s, '\0', len)) {
        return dal__seterrf(st->db, DAL_E_DATA, "22021", "parameter %d: "
                            "text contains a NUL byte (bind it as a blob)",
                            idx);
    }
    /* PostgreSQL rejects invalid UTF-8 and SQLite would store it; check
     * here so that both backends give the same error. */
    if (!dal__utf8_valid(s, len))
        return dal__seterrf(st->db, DAL_E_DATA, "22021", "parameter %d: "
                            "text is not valid UTF-8", idx);
    rc = st->db->drv->bind_text(st->db, st->impl, idx, s, len, flags);
    if (DAL__UNLIKELY(st->db->obs_params) && rc == DAL_OK) {
        dal_value v = {0};

        v.type = DAL_TYPE_TEXT;
        v.u.s.p = s;
        v.u.s.len = len;
        return dal__obs_capture(st, idx, &v);
    }
    return rc;
}

int dal_bind_blob(dal_stmt *st, int idx, const void *p, size_t len,
                  int flags)
{
    int rc = bind_check(st, idx);

    if (rc || (rc = check_flags(st, flags)))
        return rc;
    if (!p && len)
        return dal__seterrf(st->db, DAL_E_MISUSE, NULL,
                            "dal_bind_blob: NULL pointer of length %zu",
                            len);
    rc = st->db->drv->bind_blob(st->db, st->impl, idx, p ? p : "", len,
                                flags);
    if (DAL__UNLIKELY(st->db->obs_params) && rc == DAL_OK) {
        dal_value v = {0};

        v.type = DAL_TYPE_BLOB;
        v.u.s.p = p ? p : "";
        v.u.s.len = len;
        return dal__obs_capture(st, idx, &v);
    }
    return rc;
}

int dal_bind_value(dal_stmt *st, int idx, const dal_value *v)
{
    if (!st)
        return DAL_E_MISUSE;
    if (!v)
        return dal__seterrf(st->db, DAL_E_MISUSE, NULL,
                            "dal_bind_value: value is NULL");
    switch (v->type) {
    case DAL_TYPE_NULL: return dal_bind_null(st, idx);
    case DAL_TYPE_BOOL: return dal_bind_bool(st, idx, v->u.b);
    case DAL_TYPE_INT64: return dal_bind_int64(st, idx, v->u.i);
    case DAL_TYPE_DOUBLE: return dal_bind_double(st, idx, v->u.d);
    case DAL_TYPE_TEXT:
        return dal_bind_text(st, idx, v->u.s.p, v->u.s.len, DAL_TRANSIENT);
    case DAL_TYPE_BLOB:
        return dal_bind_blob(st, idx, v->u.s.p, v->u.s.len, DAL_TRANSIENT);
    default:
        return dal__seterrf(st->db, DAL_E_MISUSE, NULL, "parameter %d: "
                            "unknown value type %d", idx, (int)v->type);
    }
}

int dal_bind_named(dal_stmt *st, const char *name, const dal_value *v)
{
    int idx;

    if (!st)
        return DAL_E_MISUSE;
    if (!name)
        return dal__seterrf(st->db, DAL_E_MISUSE, NULL,
                            "dal_bind_named: name is NULL");
    idx = dal_bind_param_index(st, name);
    if (!idx)
        return dal__seterrf(st->db, DAL_E_RANGE, "42P02", "no parameter "
                            "named ':%s' in the statement",
                            *name == ':' ? name + 1 : name);
    return dal_bind_value(st, idx, v);
}

int dal__stmt_bind_all(dal_stmt *st, const dal_value *params, int n)
{
    int i, rc;

    if (n != st->nparams || (n > 0 && !params))
        return dal__seterrf(st->db, DAL_E_RANGE, "42P02", "the statement "
                            "has %d parameter%s but %d value%s given",
                            st->nparams, st->nparams == 1 ? "" : "s", n,
                            n == 1 ? " was" : "s were");
    for (i = 0; i < n; i++)
        if ((rc = dal_bind_value(st, i + 1, &params[i])) != DAL_OK)
            return rc;
    return DAL_OK;
}

int dal_clear_bindings(dal_stmt *st)
{
    if (!st)
        return DAL_E_MISUSE;
    CLEAR(st->db);
    rewind_stmt(st);
    if (DAL__UNLIKELY(st->obs_params != NULL))
        dal__obs_capture_clear(st);
    return st->db->drv->clear_bindings(st->impl);
}

/* dal_step() with an observer attached: the same, between the hooks. */
static int step_observed(dal_stmt *st)
{
    dal_db *db = st->db;
    int rc;

    if (st->state == DAL__ST_READY && !st->obs_running) {
        db->changes_pinned = 0;
        if ((rc = dal__obs_begin(st)) != DAL_OK)
            return rc;
    }
    rc = db->drv->step(db, db->conn, st->impl);
    if (rc == DAL_ROW) {
        st->state = DAL__ST_ROW;
        if (st->ncols < 0)
            st->ncols = db->drv->column_count(st->impl);
        st->obs_rows++;
        return rc;
    }
    st->state = DAL__ST_DONE;
    if (rc == DAL_DONE && st->ncols < 0)
        st->ncols = db->drv->column_count(st->impl);
    dal__obs_end(st, rc);
    return rc;
}

/*
 * The one place where statements run: every public way of executing SQL
 * (dal_exec, dal_exec_params, dal_query_*, transactions) ends up here.
 */
int dal_step(dal_stmt *st)
{
    dal_db *db;
    int rc;

    if (!st)
        return DAL_E_MISUSE;
    db = st->db;
    CLEAR(db);
    db->steps++;
    if (st->state == DAL__ST_DONE) {
        /* Stepping a finished statement runs it anew, as in SQLite. */
        db->drv->reset(st->impl);
        st->state = DAL__ST_READY;
    }
    if (DAL__UNLIKELY(db->obs != NULL))
        return step_observed(st);
    rc = db->drv->step(db, db->conn, st->impl);
    if (DAL__LIKELY(rc == DAL_ROW)) {
        st->state = DAL__ST_ROW;
        if (DAL__UNLIKELY(st->ncols < 0))
            st->ncols = db->drv->column_count(st->impl);
        return rc;
    }
    st->state = DAL__ST_DONE;
    if (rc == DAL_DONE && st->ncols < 0)
        st->ncols = db->drv->column_count(st->impl);
    return rc;
}

int dal_reset(dal_stmt *st)
{
    if (!st)
        return DAL_E_MISUSE;
    CLEAR(st->db);
    rewind_stmt(st);
    return DAL_OK;
}

int dal_column_count(dal_stmt *st)
{
    if (!st)
        return 0;
    if (st->ncols >= 0)
        return st->ncols;
    return st->db->drv->column_count(st->impl);
}

/* Checks for metadata calls: any time the column count is known. */
static int meta_check(dal_stmt *st, int col)
{
    int n;

    if (!st)
        return 0;
    n = dal_column_count(st);
    if (col < 0 || col >= n) {
        dal__seterrf(st->db, DAL_E_RANGE, "42P02", "column %d out of "
                     "range: the result has %d column%s", col, n,
                     n == 1 ? "" : "s");
        return 0;
    }
    return 1;
}

const char *dal_column_name(dal_stmt *st, int col)
{
    return meta_check(st, col) ? st->db->drv->column_name(st->impl, col)
                               : NULL;
}

const char *dal_column_decltype(dal_stmt *st, int col)
{
    if (!meta_check(st, col))
        return NULL;
    return st->db->drv->column_decltype(st->db, st->db->conn, st->impl,
                                        col);
}

/* Checks for value getters: a current row and a valid column. */
static int row_check_slow(dal_stmt *st, int col)
{
    if (st->state != DAL__ST_ROW) {
        dal__seterrf(st->db, DAL_E_MISUSE, NULL, "column %d read with no "
                     "current row: dal_step() must return DAL_ROW first",
                     col);
        return 0;
    }
    return meta_check(st, col);
}

#define ROW_CHECK(st, col) \
    ((st) && (DAL__LIKELY((st)->state == DAL__ST_ROW && (col) >= 0 \
                          && (col) < (st)->ncols) \
              || row_check_slow((st), (col))))

dal_type dal_column_type(dal_stmt *st, int col)
{
    return ROW_CHECK(st, col) ? st->db->drv->column_type(st->impl, col)
                              : DAL_TYPE_NULL;
}

int dal_column_is_null(dal_stmt *st, int col)
{
    if (!ROW_CHECK(st, col))
        return 1;
    return st->db->drv->column_type(st->impl, col) == DAL_TYPE_NULL;
}

int64_t dal_column_int64(dal_stmt *st, int col)
{
    return ROW_CHECK(st, col) ? st->db->drv->column_int64(st->impl, col)
                              : 0;
}

double dal_column_double(dal_stmt *st, int col)
{
    return ROW_CHECK(st, col) ? st->db->drv->column_double(st->impl, col)
                              : 0.0;
}

const char *dal_column_text(dal_stmt *st, int col, size_t *len)
{
    if (len)
        *len = 0;
    if (!ROW_CHECK(st, col))
        return NULL;
    return st->db->drv->column_text(st->db, st->impl, col, len);
}

const void *dal_column_blob(dal_stmt *st, int col, size_t *len)
{
    if (len)
        *len = 0;
    if (!ROW_CHECK(st, col))
        return NULL;
    return st->db->drv->column_blob(st->db, st->impl, col, len);
}
