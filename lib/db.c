/*
 * db.c - connections: open by URL, close, and the one-shot ways to run
 * SQL (dal_exec, dal_exec_params, dal_query_*). They all run statements
 * through dal_step(), the core's single execution path.
 */
#include <string.h>

#include "dal-int.h"

#define CLEAR(db) \
    do { if (DAL__UNLIKELY((db)->err.code != DAL_OK)) \
        dal__clearerr(db); } while (0)

int dal_open(const char *url, dal_db **dbp)
{
    return dal_open_observed(url, NULL, dbp);
}

/*
 * With an observer, the hooks attach before the connection is made, so
 * that they see the statements run while opening and the connect event
 * with its outcome.
 */
int dal_open_observed(const char *url, dal_observer *obs, dal_db **dbp)
{
    char err[512];
    dal_db *db;
    int rc;

    if (!dbp)
        return DAL_E_MISUSE;
    *dbp = NULL;
    if (!url)
        return DAL_E_MISUSE;
    db = dal__calloc(1, sizeof *db);
    if (!db)
        return DAL_NOMEM;
    memcpy(db->err.sqlstate, "00000", 6);
    *dbp = db;

    err[0] = '\0';
    rc = dal__url_parse(url, &db->url, err, sizeof err);
    if (rc != DAL_OK)
        return dal__seterr(db, rc, NULL, 0, rc == DAL_NOMEM ? NULL : err,
                           NULL, NULL, NULL);
    db->drv = db->url.drv;
    if (obs && (rc = dal__obs_attach(db, obs)) != DAL_OK)
        return rc;
    if (db->url.stmt_cache > 0) {
        rc = dal__cache_new(db->url.stmt_cache, &db->cache);
        if (rc != DAL_OK)
            return dal__seterr(db, rc, NULL, 0, NULL, NULL, NULL, NULL);
    }
    rc = db->drv->open(db, &db->url, &db->conn);
    if (rc == DAL_OK && db->url.auto_migrate)
        rc = dal__auto_migrate(db, db->url.auto_migrate);
    if (rc != DAL_OK && db->conn) {
        db->drv->close(db->conn);
        db->conn = NULL;
    }
    if (DAL__UNLIKELY(db->obs != NULL))
        dal__obs_event(db, DAL_EV_CONNECT, rc, 0);
    return rc;
}

void dal_close(dal_db *db)
{
    if (!db || db->zombie)
        return;
    /* Cached statements go now, while the connection is still there. */
    dal__cache_free(db->cache);
    db->cache = NULL;
    dal__model_memo_free(db);
    if (db->nstmts > 0) {
        db->zombie = 1;
        return;
    }
    if (DAL__UNLIKELY(db->obs != NULL)) {
        if (db->conn)
            dal__obs_event(db, DAL_EV_DISCONNECT, DAL_OK, 0);
        dal__obs_detach(db);
    }
    if (db->conn)
        db->drv->close(db->conn);
    dal__url_free(&db->url);
    dal__free(db->tenant);
    dal__free(db->actor);
    dal__notify_free(db);
    dal__clearerr(db);
    dal__free(db);
}

const char *dal_backend(const dal_db *db)
{
    return db && db->drv ? db->drv->name : NULL;
}

/* Refuse calls on a handle whose connection never opened or was closed. */
static int usable(dal_db *db)
{
    if (!db)
        return DAL_E_MISUSE;
    if (db->zombie)
        return dal__seterrf(db, DAL_E_MISUSE, NULL,
                            "the connection was closed with dal_close()");
    if (!db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, "08003", "the connection "
                            "is not open (dal_open() failed: see its "
                            "error)");
    return DAL_OK;
}

static int exec_script(dal_db *db, const char *sql);

/* Count the statements of a script (blank ones aside), up to 2. */
static int script_size(const char *sql)
{
    const char *p;
    size_t n;
    int count = 0;

    for (p = sql; *p && count < 2; p += n) {
        n = dal__sql_stmt_end(p);
        if (!dal__sql_is_blank(p, n - (p[n - 1] == ';')))
            count++;
    }
    return count;
}

/*
 * dal_exec() with an observer: hooks are told when a statement is one of
 * several in one text, so that a guard can refuse the script before its
 * first statement runs.
 */
static int exec_observed(dal_db *db, const char *sql)
{
    unsigned saved = db->obs_evflags;
    int rc;

    if (script_size(sql) > 1)
        db->obs_evflags |= DAL_EVF_SCRIPT;
    rc = exec_script(db, sql);
    db->obs_evflags = saved;
    return rc;
}

int dal__copy_in(dal_db *db, const char *table, const char *const *cols,
                 int ncols, int nrows,
                 int (*row)(void *ctx, int r, dal_value *vals), void *ctx)
{
    dal__buf sql = {0};
    dal_stmt st;
    int rc, i;

    if (DAL__LIKELY(db->obs == NULL))
        return db->drv->copy_in(db, db->conn, table, cols, ncols, nrows,
                                row, ctx);
    /* The statement the hooks see: what the driver sends. */
    rc = dal__buf_adds(&sql, "COPY ") || dal__buf_ident(&sql, table)
         || dal__buf_adds(&sql, " (");
    for (i = 0; i < ncols && !rc; i++)
        rc = (i && dal__buf_adds(&sql, ", "))
             || dal__buf_ident(&sql, cols[i]);
    if (rc || dal__buf_adds(&sql, ") FROM STDIN")
        || dal__buf_addc(&sql, '\0')) {
        dal__buf_free(&sql);
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    }
    memset(&st, 0, sizeof st);
    st.db = db;
    st.sql = sql.p;
    st.ncols = -1;
    rc = dal__obs_begin(&st);
    if (rc == DAL_OK) {
        rc = db->drv->copy_in(db, db->conn, table, cols, ncols, nrows, row,
                              ctx);
        dal__obs_end(&st, rc == DAL_OK ? DAL_DONE : rc);
    }
    dal__buf_free(&sql);
    return rc;
}

int dal_exec(dal_db *db, const char *sql)
{
    int rc;

    if ((rc = usable(db)) != DAL_OK)
        return rc;
    if (!sql)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_exec: sql is NULL");
    CLEAR(db);
    if (DAL__UNLIKELY(db->obs != NULL))
        return exec_observed(db, sql);
    return exec_script(db, sql);
}

/* Run each statement of sql in turn, stopping at the first error. */
static int exec_script(dal_db *db, const char *sql)
{
    const char *p;
    dal_stmt *st;
    char *one;
    size_t n;
    int rc;

    for (p = sql; *p; p += n) {
        n = dal__sql_stmt_end(p);
        if (dal__sql_is_blank(p, n - (p[n - 1] == ';')))
            continue;
        one = dal__strndup(p, n);
        if (!one)
            return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                               NULL);
        rc = dal__stmt_new(db, one, 0, &st);
        dal__free(one);
        if (rc != DAL_OK)
            return rc;
        if (st->nparams > 0) {
            rc = dal__seterrf(db, DAL_E_RANGE, "42P02", "dal_exec: the "
                              "statement has parameters; use "
                              "dal_exec_params()");
        } else {
            while ((rc = dal_step(st)) == DAL_ROW)
                ;
        }
        dal__stmt_free(st);
        if (rc != DAL_DONE)
            return rc;
    }
    return DAL_OK;
}

/*
 * Run sql (or the compiled cq) with params on a cached statement and
 * leave it positioned on its first row. Returns DAL_ROW or DAL_DONE with
 * *stp set (give it back with dal__cache_put()), or an error with *stp
 * NULL. A statement whose
 * cached plan went stale is prepared anew and run once more, when no
 * transaction is open (inside one, the failure has aborted it).
 */
int dal__run_cached(dal_db *db, const char *sql, const dal__compiled *cq,
                    const dal_value *params, int nparams, dal_stmt **stp)
{
    dal_stmt *st;
    int rc, attempt;

    *stp = NULL;
    if ((rc = usable(db)) != DAL_OK)
        return rc;
    if (!sql && !cq)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "sql is NULL");
    CLEAR(db);
    for (attempt = 0; ; attempt++) {
        rc = cq ? dal__cache_get_compiled(db, cq, &st)
                : dal__cache_get(db, sql, &st);
        if (rc != DAL_OK)
            return rc;
        /* A cached statement may be shared by queries with and without
         * dal_q_allow_all(): the flags are the current run's. */
        st->obs_flags = cq ? cq->obs_flags : 0;
        rc = dal__stmt_bind_all(st, params, nparams);
        if (rc == DAL_OK)
            rc = dal_step(st);
        if (rc == DAL_ROW || rc == DAL_DONE) {
            *stp = st;
            return rc;
        }
        dal__cache_drop(db, st);
        if (attempt > 0 || !db->drv->stale_plan || !db->drv->stale_plan(db)
            || db->drv->in_tx(db->conn))
            return rc;
    }
}

/* Run a statement from the cache to its end, discarding rows. */
static int exec_cached(dal_db *db, const char *sql, const dal__compiled *cq,
                       const dal_value *params, int nparams)
{
    dal_stmt *st;
    int rc = dal__run_cached(db, sql, cq, params, nparams, &st);

    while (rc == DAL_ROW)
        rc = dal_step(st);
    if (!st)
        return rc;
    if (rc != DAL_DONE) {
        dal__cache_drop(db, st);
        return rc;
    }
    dal__cache_put(db, st);
    return DAL_OK;
}

int dal_exec_params(dal_db *db, const char *sql, const dal_value *params,
                    int nparams)
{
    return exec_cached(db, sql, NULL, params, nparams);
}

int dal__exec_compiled(dal_db *db, const dal__compiled *c)
{
    return exec_cached(db, NULL, c, c->values, c->nparams);
}

/* The first column of the first row, as an integer or a double. */
static int query_number(dal_db *db, const char *sql,
                        const dal_value *params, int nparams, int64_t *i,
                        double *d)
{
    dal_stmt *st;
    int rc;

    if (!i && !d)
        return db ? dal__seterrf(db, DAL_E_MISUSE, NULL, "out is NULL")
                  : DAL_E_MISUSE;
    rc = dal__run_cached(db, sql, NULL, params, nparams, &st);
    if (rc == DAL_ROW) {
        if (i)
            *i = dal_column_int64(st, 0);
        else
            *d = dal_column_double(st, 0);
        rc = DAL_OK;
    }
    if (st)
        dal__cache_put(db, st);
    return rc;
}

int dal_query_int64(dal_db *db, const char *sql, const dal_value *params,
                    int nparams, int64_t *out)
{
    return query_number(db, sql, params, nparams, out, NULL);
}

int dal_query_double(dal_db *db, const char *sql, const dal_value *params,
                     int nparams, double *out)
{
    return query_number(db, sql, params, nparams, NULL, out);
}

int dal_query_text(dal_db *db, const char *sql, const dal_value *params,
                   int nparams, char **out, size_t *len)
{
    const char *s;
    dal_stmt *st;
    size_t n;
    int rc;

    if (len)
        *len = 0;
    if (!out)
        return db ? dal__seterrf(db, DAL_E_MISUSE, NULL, "out is NULL")
                  : DAL_E_MISUSE;
    *out = NULL;
    rc = dal__run_cached(db, sql, NULL, params, nparams, &st);
    if (rc == DAL_ROW) {
        rc = DAL_OK;
        if (!dal_column_is_null(st, 0)) {
            s = dal_column_text(st, 0, &n);
            if (!s || !(*out = dal__strndup(s, n)))
                rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                                 NULL);
            else if (len)
                *len = n;
        }
    }
    if (st)
        dal__cache_put(db, st);
    return rc;
}

int dal_query_value(dal_db *db, const char *sql, const dal_value *params,
                    int nparams, dal_value *out)
{
    const char *s;
    dal_stmt *st;
    size_t n;
    char *copy;
    int rc;

    if (!out)
        return db ? dal__seterrf(db, DAL_E_MISUSE, NULL, "out is NULL")
                  : DAL_E_MISUSE;
    memset(out, 0, sizeof *out);
    out->type = DAL_TYPE_NULL;
    rc = dal__run_cached(db, sql, NULL, params, nparams, &st);
    if (rc == DAL_ROW) {
        rc = DAL_OK;
        out->type = dal_column_type(st, 0);
        switch (out->type) {
        case DAL_TYPE_NULL:
            break;
        case DAL_TYPE_BOOL:
            out->u.b = dal_column_int64(st, 0) != 0;
            break;
        case DAL_TYPE_INT64:
            out->u.i = dal_column_int64(st, 0);
            break;
        case DAL_TYPE_DOUBLE:
            out->u.d = dal_column_double(st, 0);
            break;
        case DAL_TYPE_TEXT:
        case DAL_TYPE_BLOB:
            s = out->type == DAL_TYPE_TEXT ? dal_column_text(st, 0, &n)
                                           : dal_column_blob(st, 0, &n);
            copy = s ? dal__strndup(s, n) : NULL;
            if (!copy) {
                out->type = DAL_TYPE_NULL;
                rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                                 NULL);
                break;
            }
            out->u.s.p = copy;
            out->u.s.len = n;
            break;
        }
    }
    if (st)
        dal__cache_put(db, st);
    return rc;
}

void dal_value_clear(dal_value *v)
{
    if (!v)
        return;
    if (v->type == DAL_TYPE_TEXT || v->type == DAL_TYPE_BLOB)
        dal__free((void *)(uintptr_t)v->u.s.p);
    memset(v, 0, sizeof *v);
    v->type = DAL_TYPE_NULL;
}

int64_t dal_changes(dal_db *db)
{
    if (!db || !db->conn)
        return 0;
    if (DAL__UNLIKELY(db->changes_pinned))
        return db->changes_pin;
    return db->drv->changes(db->conn);
}

int dal_last_insert_id(dal_db *db, int64_t *out)
{
    int rc;

    if ((rc = usable(db)) != DAL_OK)
        return rc;
    if (!out)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "out is NULL");
    return dal_query_int64(db, db->drv->last_id_sql, NULL, 0, out);
}
