/*
 * batch.c - batches of statements (dal_batch_*) and bulk loads
 * (dal_load), include/dal/batch.h.
 *
 * A batch runs one of two ways. With the driver's pipeline glue
 * (struct dal__pipe: PostgreSQL), every statement is prepared for one
 * run and bound, its BEFORE event delivered, and then all are sent
 * before the first result is read. Without it (SQLite), each statement
 * runs through the statement cache and dal_step(), inside a
 * transaction or savepoint of dal_begin(). Either way hooks see each
 * statement: the pipeline delivers the events with dal__obs_begin() and
 * dal__obs_end(), as dal__copy_in() does for a COPY.
 */
#include <stdio.h>
#include <string.h>

#include "dal-int.h"

/* One statement and, after a run, its result. */
typedef struct batch_item {
    char *sql;          /* as the caller wrote it */
    int nparams;
    dal_value *params;  /* copies owned here */
    /* The result of the last run. */
    int rc;
    char sqlstate[6];
    char *msg;          /* NULL: dal_errstr(rc) */
    int64_t changes;
    int ncols, nrows;
    dal_value *rows;    /* nrows * ncols, text and blobs copied */
    size_t cap;         /* values rows has room for */
} batch_item;

struct dal_batch {
    dal_db *db;
    batch_item *items;
    int n, cap;
    int ran;            /* results are there */
};

#define NOT_RUN_MSG "not run: an earlier statement of the batch failed"

static int nomem(dal_db *db)
{
    return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
}

static void value_free(dal_value *v)
{
    if (v->type == DAL_TYPE_TEXT || v->type == DAL_TYPE_BLOB)
        dal__free((void *)(uintptr_t)v->u.s.p);
    v->type = DAL_TYPE_NULL;
}

/* Forget item's result. */
static void result_clear(batch_item *it)
{
    size_t i, n = (size_t)it->nrows * (size_t)it->ncols;

    for (i = 0; i < n; i++)
        value_free(&it->rows[i]);
    dal__free(it->rows);
    dal__free(it->msg);
    it->rows = NULL;
    it->cap = 0;
    it->msg = NULL;
    it->nrows = it->ncols = 0;
    it->changes = -1;
    it->rc = DAL_E_RANGE;
    memcpy(it->sqlstate, "00000", 6);
}

static void item_free(batch_item *it)
{
    int i;

    result_clear(it);
    for (i = 0; i < it->nparams; i++)
        value_free(&it->params[i]);
    dal__free(it->params);
    dal__free(it->sql);
}

int dal_batch_new(dal_db *db, dal_batch **out)
{
    dal_batch *b;

    if (out)
        *out = NULL;
    if (!db || !out)
        return db ? dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_batch_new: "
                                 "out is NULL")
                  : DAL_E_MISUSE;
    b = dal__calloc(1, sizeof *b);
    if (!b)
        return nomem(db);
    b->db = db;
    *out = b;
    return DAL_OK;
}

void dal_batch_free(dal_batch *b)
{
    int i;

    if (!b)
        return;
    for (i = 0; i < b->n; i++)
        item_free(&b->items[i]);
    dal__free(b->items);
    dal__free(b);
}

int dal_batch_count(const dal_batch *b)
{
    return b ? b->n : 0;
}

/*
 * Copy v into out, checked as dal_bind_value() would check it, so that
 * a bad value is refused when it is added rather than when it runs.
 */
static int value_copy(dal_db *db, int idx, const dal_value *v,
                      dal_value *out)
{
    size_t len;
    char *p;

    out->type = DAL_TYPE_NULL;
    switch (v->type) {
    case DAL_TYPE_NULL: case DAL_TYPE_BOOL: case DAL_TYPE_INT64:
    case DAL_TYPE_DOUBLE:
        *out = *v;
        return DAL_OK;
    case DAL_TYPE_TEXT:
    case DAL_TYPE_BLOB:
        break;
    default:
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "parameter %d: "
                            "unknown value type %d", idx, (int)v->type);
    }
    len = v->u.s.len;
    if (v->type == DAL_TYPE_TEXT) {
        if (!v->u.s.p) {
            if (len && len != DAL_NTS)
                return dal__seterrf(db, DAL_E_MISUSE, NULL, "parameter "
                                    "%d: NULL text of length %zu", idx,
                                    len);
            return DAL_OK; /* NULL text is SQL NULL, as when bound */
        }
        if (len == DAL_NTS)
            len = strlen(v->u.s.p);
        else if (memchr(v->u.s.p, '\0', len))
            return dal__seterrf(db, DAL_E_DATA, "22021", "parameter %d: "
                                "text contains a NUL byte (bind it as a "
                                "blob)", idx);
        if (!dal__utf8_valid(v->u.s.p, len))
            return dal__seterrf(db, DAL_E_DATA, "22021", "parameter %d: "
                                "text is not valid UTF-8", idx);
    } else if (!v->u.s.p && len) {
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "parameter %d: NULL "
                            "blob of length %zu", idx, len);
    }
    p = dal__malloc(len + 1);
    if (!p)
        return nomem(db);
    if (len)
        memcpy(p, v->u.s.p, len);
    p[len] = '\0';
    out->type = v->type;
    out->u.s.p = p;
    out->u.s.len = len;
    return DAL_OK;
}

int dal_batch_add(dal_batch *b, const char *sql, const dal_value *params,
                  int nparams)
{
    dal__sqltext t;
    batch_item *it;
    dal_db *db;
    char err[256];
    int rc, i;

    if (!b)
        return DAL_E_MISUSE;
    db = b->db;
    if (!sql || nparams < 0 || (nparams > 0 && !params))
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_batch_add: %s",
                            !sql ? "sql is NULL"
                            : nparams < 0 ? "nparams is negative"
                                          : "params is NULL");
    if (dal_sql_kind(sql) == DAL_SK_TX)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_batch_add: a "
                            "batch runs its own transaction; it cannot "
                            "hold a transaction statement");
    /* Translated only to check it: one statement, and its parameter
     * count. It is translated again when it runs. */
    rc = dal__sql_translate(sql, db->drv->param_marker, &t, err,
                            sizeof err);
    if (rc != DAL_OK)
        return dal__seterr(db, rc, NULL, 0, rc == DAL_NOMEM ? NULL : err,
                           NULL, NULL, NULL);
    i = t.nparams;
    dal__sqltext_free(&t);
    if (i != nparams)
        return dal__seterrf(db, DAL_E_RANGE, "42P02", "dal_batch_add: the "
                            "statement has %d parameter%s but %d value%s "
                            "given", i, i == 1 ? "" : "s", nparams,
                            nparams == 1 ? " was" : "s were");
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 8;
        batch_item *items = dal__realloc(b->items,
                                         (size_t)cap * sizeof *items);

        if (!items)
            return nomem(db);
        b->items = items;
        b->cap = cap;
    }
    it = &b->items[b->n];
    memset(it, 0, sizeof *it);
    result_clear(it);
    it->sql = dal__strdup(sql);
    if (nparams > 0)
        it->params = dal__calloc((size_t)nparams, sizeof *it->params);
    if (!it->sql || (nparams > 0 && !it->params)) {
        item_free(it);
        return nomem(db);
    }
    for (i = 0; i < nparams; i++) {
        if ((rc = value_copy(db, i + 1, &params[i], &it->params[i]))) {
            it->nparams = i;
            item_free(it);
            return rc;
        }
    }
    it->nparams = nparams;
    b->n++;
    return DAL_OK;
}

/* ---- results ------------------------------------------------------- */

/* Keep db's current error as item's result (never fails: without
 * memory for the message, the getters give dal_errstr()). */
static void record_error(batch_item *it, dal_db *db, int rc)
{
    const char *state = dal_sqlstate(db), *msg = dal_errmsg(db);

    it->rc = rc;
    it->changes = -1;
    memcpy(it->sqlstate, state && strlen(state) == 5 ? state : "HY000", 6);
    dal__free(it->msg);
    it->msg = msg ? dal__strdup(msg) : NULL;
}

static void record_not_run(batch_item *it)
{
    it->rc = DAL_E_TX;
    it->changes = -1;
    memcpy(it->sqlstate, "25P02", 6);
    dal__free(it->msg);
    it->msg = NULL; /* NOT_RUN_MSG, static */
}

/* Append the current row of st to item's rows. */
static int collect_row(batch_item *it, dal_stmt *st)
{
    dal_db *db = st->db;
    int c, ncols = dal_column_count(st);
    size_t need = (size_t)(it->nrows + 1) * (size_t)ncols;
    dal_value *row;

    if (it->nrows == 0)
        it->ncols = ncols;
    if (need > it->cap) {
        size_t cap = it->cap ? it->cap * 2 : (size_t)ncols * 4;
        dal_value *rows;

        if (cap < need)
            cap = need;
        rows = dal__realloc(it->rows, cap * sizeof *rows);
        if (!rows)
            return nomem(db);
        it->rows = rows;
        it->cap = cap;
    }
    row = it->rows + (size_t)it->nrows * (size_t)ncols;
    for (c = 0; c < ncols; c++) {
        dal_value *v = &row[c];
        const char *s;
        size_t n;
        char *copy;

        memset(v, 0, sizeof *v);
        v->type = dal_column_type(st, c);
        switch (v->type) {
        case DAL_TYPE_BOOL:
            v->u.b = dal_column_int64(st, c) != 0;
            break;
        case DAL_TYPE_INT64:
            v->u.i = dal_column_int64(st, c);
            break;
        case DAL_TYPE_DOUBLE:
            v->u.d = dal_column_double(st, c);
            break;
        case DAL_TYPE_TEXT:
        case DAL_TYPE_BLOB:
            s = v->type == DAL_TYPE_TEXT ? dal_column_text(st, c, &n)
                                         : dal_column_blob(st, c, &n);
            copy = s ? dal__malloc(n + 1) : NULL;
            if (!copy) {
                /* Values of this row so far go; the row is not counted. */
                v->type = DAL_TYPE_NULL;
                while (c-- > 0)
                    value_free(&row[c]);
                return nomem(db);
            }
            memcpy(copy, s, n);
            copy[n] = '\0';
            v->u.s.p = copy;
            v->u.s.len = n;
            break;
        default:
            v->type = DAL_TYPE_NULL;
            break;
        }
    }
    it->nrows++;
    return DAL_OK;
}

/* The changes a statement of kind k reports. */
static int64_t changes_of(dal_db *db, const char *sql)
{
    dal_stmt_kind k = dal_sql_kind(sql);

    return k >= DAL_SK_INSERT && k <= DAL_SK_DELETE ? dal_changes(db) : 0;
}

/* ---- one statement at a time (no pipeline) ------------------------- */

/* Run item i through the statement cache and dal_step(); its result. */
static int run_one(dal_batch *b, int i)
{
    batch_item *it = &b->items[i];
    dal_db *db = b->db;
    dal_stmt *st;
    int rc;

    rc = dal__run_cached(db, it->sql, NULL, it->params, it->nparams, &st);
    while (rc == DAL_ROW) {
        if ((rc = collect_row(it, st)) != DAL_OK)
            break;
        rc = dal_step(st);
    }
    if (rc == DAL_DONE) {
        if (it->nrows == 0)
            it->ncols = dal_column_count(st);
        it->changes = changes_of(db, it->sql);
        it->rc = DAL_OK;
        dal__cache_put(db, st);
        return DAL_OK;
    }
    if (st)
        dal__cache_drop(db, st);
    record_error(it, db, rc);
    return rc;
}

/* Give every statement still without a result the error rc. */
static void record_rest(dal_batch *b, int rc)
{
    int i;

    for (i = 0; i < b->n; i++)
        if (b->items[i].rc == DAL_E_RANGE)
            record_error(&b->items[i], b->db, rc);
}

static int run_sequential(dal_batch *b, int mode)
{
    dal_db *db = b->db;
    int level, rc, fatal = DAL_OK, first = DAL_OK, i, j;

    if ((rc = dal_begin(db, 0)) != DAL_OK) {
        record_rest(b, rc);
        return rc;
    }
    level = dal_tx_depth(db);
    for (i = 0; i < b->n; i++) {
        if (mode == DAL_BATCH_ATOMIC) {
            if ((rc = run_one(b, i)) == DAL_OK)
                continue;
            for (j = i + 1; j < b->n; j++)
                record_not_run(&b->items[j]);
            first = rc;
            break;
        }
        if ((fatal = dal_begin(db, 0)) != DAL_OK)
            break;
        if ((rc = run_one(b, i)) == DAL_OK) {
            if ((fatal = dal_commit(db)) != DAL_OK)
                break;
            continue;
        }
        if (first == DAL_OK)
            first = rc;
        dal__rollback_keep_error(db);
        if (dal_tx_depth(db) != level) {
            /* The savepoint could not be undone: nothing more can run
             * in this transaction. */
            fatal = rc;
            break;
        }
    }
    if (fatal == DAL_OK && (first == DAL_OK || mode == DAL_BATCH_EACH))
        fatal = dal_commit(db);
    if ((fatal != DAL_OK || (first != DAL_OK && mode == DAL_BATCH_ATOMIC))
        && dal_tx_depth(db) >= level)
        dal__rollback_keep_error(db);
    if (fatal != DAL_OK) {
        record_rest(b, fatal);
        return fatal;
    }
    return first;
}

/* ---- pipeline ------------------------------------------------------ */

/*
 * Statement handles of a pipelined run: prepared for one run each (the
 * driver sends the SQL with its parameters), NULL for a statement that
 * failed before it could be sent.
 */
static int run_pipelined(dal_batch *b, int mode)
{
    const struct dal__pipe *pp = b->db->drv->pipe;
    dal_db *db = b->db;
    dal_stmt **sts;
    int i, rc = DAL_OK, first = DAL_OK, sent = 0;
    int level = 0, nsync = 0;

    sts = dal__calloc((size_t)b->n, sizeof *sts);
    if (!sts)
        return nomem(db);
    if (mode == DAL_BATCH_ATOMIC && db->drv->in_tx(db->conn)) {
        /* The pipeline's implicit transaction does not exist inside the
         * caller's: a savepoint makes the batch all or nothing. */
        if ((rc = dal_begin(db, 0)) != DAL_OK) {
            dal__free(sts);
            return rc;
        }
        level = dal_tx_depth(db);
    }
    /* Prepare, bind and announce every statement before anything is
     * sent: hooks may run statements of their own (a timeout guard
     * sets one), which pipeline mode would refuse. */
    for (i = 0; i < b->n; i++) {
        batch_item *it = &b->items[i];

        rc = dal__stmt_new(db, it->sql, 0, &sts[i]);
        if (rc == DAL_OK)
            rc = dal__stmt_bind_all(sts[i], it->params, it->nparams);
        if (rc == DAL_OK && DAL__UNLIKELY(db->obs != NULL)) {
            db->changes_pinned = 0;
            rc = dal__obs_begin(sts[i]);
        }
        if (rc == DAL_OK)
            continue;
        record_error(it, db, rc);
        dal__stmt_free(sts[i]);
        sts[i] = NULL;
        if (first == DAL_OK)
            first = rc;
        if (mode == DAL_BATCH_ATOMIC)
            break;
    }
    if (first != DAL_OK && mode == DAL_BATCH_ATOMIC)
        goto finish;
    if ((rc = pp->enter(db, db->conn)) != DAL_OK) {
        first = rc;
        record_rest(b, rc);
        goto finish;
    }
    for (i = 0; i < b->n && rc == DAL_OK; i++) {
        if (!sts[i])
            continue;
        rc = pp->send(db, db->conn, sts[i]->impl);
        if (rc == DAL_OK)
            sts[i]->state = DAL__ST_DONE; /* sent: not to be sent again */
        if (rc == DAL_OK && mode == DAL_BATCH_EACH
            && (rc = pp->sync(db, db->conn)) == DAL_OK)
            nsync++;
        sent = i + 1;
    }
    if (rc == DAL_OK && mode == DAL_BATCH_ATOMIC
        && (rc = pp->sync(db, db->conn)) == DAL_OK)
        nsync++;
    if (rc != DAL_OK) {
        /* A send failed (the connection is lost): what was queued is
         * read anyway below, and fails the same way. */
        first = first ? first : rc;
    }
    /* Read every result, in order, whatever happened: the connection
     * leaves pipeline mode only once they are all consumed. */
    for (i = 0; i < sent; i++) {
        batch_item *it = &b->items[i];
        int r;

        if (!sts[i] || sts[i]->state != DAL__ST_DONE)
            continue;
        r = pp->recv(db, db->conn, sts[i]->impl);
        if (r == DAL_OK) {
            it->rc = DAL_OK;
            it->changes = changes_of(db, it->sql);
        } else if (r == DAL_E_TX && !strcmp(dal_sqlstate(db), "25P02")
                   && first != DAL_OK && mode == DAL_BATCH_ATOMIC) {
            record_not_run(it);
        } else {
            record_error(it, db, r);
            if (first == DAL_OK)
                first = r;
        }
        if (mode == DAL_BATCH_EACH && nsync > 0) {
            pp->sync_recv(db, db->conn);
            nsync--;
        }
    }
    while (nsync-- > 0)
        pp->sync_recv(db, db->conn);
    rc = pp->leave(db, db->conn);
    if (rc != DAL_OK && first == DAL_OK)
        first = rc;
finish:
    /* Rows, and each statement's AFTER event, now that statements may
     * run again (an AFTER hook may write an audit row). */
    for (i = 0; i < b->n; i++) {
        batch_item *it = &b->items[i];
        dal_stmt *st = sts[i];
        int r = it->rc;

        if (!st) {
            if (it->rc == DAL_E_RANGE)
                record_not_run(it);
            continue;
        }
        if (r == DAL_OK) {
            /* The statement has run: its rows are in the result the
             * pipeline returned, stepped through without the server. */
            while ((r = db->drv->step(db, db->conn, st->impl)) == DAL_ROW) {
                st->state = DAL__ST_ROW;
                st->ncols = db->drv->column_count(st->impl);
                st->obs_rows++;
                if ((r = collect_row(it, st)) != DAL_OK)
                    break;
            }
            st->state = DAL__ST_DONE;
            if (r == DAL_DONE) {
                r = DAL_OK;
                st->ncols = db->drv->column_count(st->impl);
                if (it->nrows == 0)
                    it->ncols = st->ncols;
            } else {
                record_error(it, db, r);
                if (first == DAL_OK)
                    first = r;
            }
        } else if (it->rc == DAL_E_RANGE) {
            /* Never sent (atomic mode, an earlier one failed first). */
            record_not_run(it);
            r = DAL_E_TX;
        }
        if (st->obs_running) {
            pp->note(db->conn, st->impl);
            dal__obs_end(st, r == DAL_OK ? DAL_DONE : r);
        }
        dal__stmt_free(st);
    }
    dal__free(sts);
    if (level > 0) {
        if (first == DAL_OK)
            first = dal_commit(db);
        if (first != DAL_OK && dal_tx_depth(db) >= level)
            dal__rollback_keep_error(db);
    }
    return first;
}

int dal_batch_run(dal_batch *b, int mode)
{
    dal_db *db;
    int i, rc;

    if (!b)
        return DAL_E_MISUSE;
    db = b->db;
    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, "08003", "dal_batch_run: "
                            "the connection is not open");
    if (mode != DAL_BATCH_ATOMIC && mode != DAL_BATCH_EACH)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_batch_run: mode "
                            "%d is neither DAL_BATCH_ATOMIC nor "
                            "DAL_BATCH_EACH", mode);
    if (db->err.code != DAL_OK)
        dal__clearerr(db);
    for (i = 0; i < b->n; i++)
        result_clear(&b->items[i]);
    b->ran = 1;
    if (b->n == 0)
        return DAL_OK;
    /* Inside a transaction, a statement that fails in a pipeline aborts
     * it for the statements already queued behind: EACH mode needs a
     * savepoint around each, which only a sequential run can give. */
    if (db->drv->pipe
        && !(mode == DAL_BATCH_EACH && db->drv->in_tx(db->conn)))
        rc = run_pipelined(b, mode);
    else
        rc = run_sequential(b, mode);
    if (rc != DAL_OK) {
        /* What kept statements from running is their result. */
        record_rest(b, rc);
        /* The connection's error is the first failed statement's. */
        for (i = 0; i < b->n; i++) {
            batch_item *it = &b->items[i];

            if (it->rc != DAL_OK && it->rc != DAL_E_TX) {
                dal__seterr(db, it->rc, it->sqlstate, 0,
                            it->msg ? it->msg : dal_errstr(it->rc), NULL,
                            NULL, NULL);
                return it->rc;
            }
        }
    }
    return rc;
}

static const batch_item *item_at(const dal_batch *b, int i)
{
    if (!b || !b->ran || i < 0 || i >= b->n)
        return NULL;
    return &b->items[i];
}

int dal_batch_rc(const dal_batch *b, int i)
{
    const batch_item *it = item_at(b, i);

    return it ? it->rc : DAL_E_RANGE;
}

const char *dal_batch_sqlstate(const dal_batch *b, int i)
{
    const batch_item *it = item_at(b, i);

    return it ? it->sqlstate : NULL;
}

const char *dal_batch_errmsg(const dal_batch *b, int i)
{
    const batch_item *it = item_at(b, i);

    if (!it)
        return NULL;
    if (it->msg)
        return it->msg;
    if (it->rc == DAL_E_TX && !strcmp(it->sqlstate, "25P02"))
        return NOT_RUN_MSG;
    return dal_errstr(it->rc);
}

int64_t dal_batch_changes(const dal_batch *b, int i)
{
    const batch_item *it = item_at(b, i);

    return it ? it->changes : -1;
}

int dal_batch_nrows(const dal_batch *b, int i)
{
    const batch_item *it = item_at(b, i);

    return it && it->rc == DAL_OK ? it->nrows : 0;
}

int dal_batch_ncols(const dal_batch *b, int i)
{
    const batch_item *it = item_at(b, i);

    return it && it->rc == DAL_OK ? it->ncols : 0;
}

const dal_value *dal_batch_value(const dal_batch *b, int i, int row,
                                 int col)
{
    const batch_item *it = item_at(b, i);

    if (!it || it->rc != DAL_OK || row < 0 || row >= it->nrows || col < 0
        || col >= it->ncols)
        return NULL;
    return &it->rows[(size_t)row * (size_t)it->ncols + (size_t)col];
}

/* ---- bulk load ----------------------------------------------------- */

typedef struct load_ctx {
    dal_db *db;
    int ncols;
    dal_load_fn row;
    void *ctx;
    int stable; /* values stay valid until the load returns */
} load_ctx;

/* The caller's row function, and its values checked: COPY's text form
 * cannot carry what a bound parameter would refuse either. */
static int checked_row(void *arg, int r, dal_value *vals)
{
    load_ctx *lc = arg;
    dal_db *db = lc->db;
    int rc, c;

    for (c = 0; c < lc->ncols; c++) {
        memset(&vals[c], 0, sizeof vals[c]);
        vals[c].type = DAL_TYPE_NULL;
    }
    rc = lc->row(lc->ctx, r, vals);
    if (rc != DAL_OK) {
        if (db->err.code == DAL_OK)
            dal__seterrf(db, rc > 0 && rc <= DAL_E_RATE_LIMITED ? rc
                         : DAL_ERROR, NULL, "dal_load: the row function "
                         "returned %d for row %d", rc, r);
        return rc > 0 && rc <= DAL_E_RATE_LIMITED ? rc : DAL_ERROR;
    }
    for (c = 0; c < lc->ncols; c++) {
        dal_value *v = &vals[c];

        switch (v->type) {
        case DAL_TYPE_NULL: case DAL_TYPE_BOOL: case DAL_TYPE_INT64:
        case DAL_TYPE_DOUBLE:
            break;
        case DAL_TYPE_TEXT:
            if (!v->u.s.p) {
                if (v->u.s.len && v->u.s.len != DAL_NTS)
                    goto null_ptr;
                v->type = DAL_TYPE_NULL;
                break;
            }
            if (v->u.s.len == DAL_NTS)
                v->u.s.len = strlen(v->u.s.p);
            else if (memchr(v->u.s.p, '\0', v->u.s.len))
                return dal__seterrf(db, DAL_E_DATA, "22021", "dal_load: "
                                    "row %d, column %d: text contains a "
                                    "NUL byte", r, c + 1);
            if (!dal__utf8_valid(v->u.s.p, v->u.s.len))
                return dal__seterrf(db, DAL_E_DATA, "22021", "dal_load: "
                                    "row %d, column %d: text is not valid "
                                    "UTF-8", r, c + 1);
            break;
        case DAL_TYPE_BLOB:
            if (!v->u.s.p && v->u.s.len)
                goto null_ptr;
            if (!v->u.s.p)
                v->u.s.p = "";
            break;
        default:
            return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_load: row %d, "
                                "column %d: unknown value type %d", r,
                                c + 1, (int)v->type);
        }
        continue;
null_ptr:
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_load: row %d, "
                            "column %d: NULL pointer of length %zu", r,
                            c + 1, v->u.s.len);
    }
    return DAL_OK;
}

/*
 * INSERT INTO "t" ("a", ...) VALUES (?, ...) x rows [RETURNING "r"], in
 * the backend's own placeholders (SQLite's bare ?, numbered $N for
 * PostgreSQL), prepared as it is: ?N, which the lexer would write, makes
 * SQLite look every number up in a list while preparing, quadratic in a
 * statement of thousands of parameters.
 */
int dal__insert_sql(dal__buf *b, const char *table, const char *const *cols,
                    int ncols, int rows, char marker, const char *returning)
{
    char num[16];
    int r, c, k = 0, rc;

    b->len = 0;
    rc = dal__buf_adds(b, "INSERT INTO ") || dal__buf_ident(b, table)
         || dal__buf_adds(b, " (");
    for (c = 0; c < ncols && !rc; c++)
        rc = (c && dal__buf_adds(b, ", ")) || dal__buf_ident(b, cols[c]);
    rc = rc || dal__buf_adds(b, ") VALUES ");
    for (r = 0; r < rows && !rc; r++) {
        rc = dal__buf_adds(b, r ? ", (" : "(");
        for (c = 0; c < ncols && !rc; c++) {
            if (marker == '?') {
                rc = dal__buf_adds(b, c ? ", ?" : "?");
                continue;
            }
            snprintf(num, sizeof num, "%s%c%d", c ? ", " : "", marker, ++k);
            rc = dal__buf_adds(b, num);
        }
        rc = rc || dal__buf_addc(b, ')');
    }
    if (returning && !rc)
        rc = dal__buf_adds(b, " RETURNING ") || dal__buf_ident(b, returning);
    return rc || dal__buf_addc(b, '\0') ? DAL_NOMEM : DAL_OK;
}

#define LOAD_ROWS 500

/* Bind v (already checked) as parameter k of impl, bytes not copied. */
static int bind_direct(dal_db *db, void *impl, int k, const dal_value *v)
{
    const struct dal_driver *drv = db->drv;

    switch (v->type) {
    case DAL_TYPE_BOOL: return drv->bind_bool(db, impl, k, v->u.b);
    case DAL_TYPE_INT64: return drv->bind_int64(db, impl, k, v->u.i);
    case DAL_TYPE_DOUBLE: return drv->bind_double(db, impl, k, v->u.d);
    case DAL_TYPE_TEXT:
        return drv->bind_text(db, impl, k, v->u.s.p, v->u.s.len,
                              DAL_STATIC);
    case DAL_TYPE_BLOB:
        return drv->bind_blob(db, impl, k, v->u.s.p, v->u.s.len,
                              DAL_STATIC);
    default: return drv->bind_null(db, impl, k);
    }
}

/* The load as multi-row INSERTs: one statement per chunk of rows,
 * prepared once per chunk size and run through dal_step(). */
static int load_inserts(load_ctx *lc, const char *table,
                        const char *const *cols, int nrows)
{
    dal_db *db = lc->db;
    int ncols = lc->ncols, max = db->drv->dialect->max_params;
    int per = max / ncols < LOAD_ROWS ? max / ncols : LOAD_ROWS;
    dal_value vals[DAL_LOAD_MAX_COLS];
    dal__buf sql = {0};
    dal_stmt *st = NULL;
    int start, rows, st_rows = 0, r, c, k, rc = DAL_OK;

    /* Values that stay put until the load returns (the model's structs),
     * checked by checked_row() and not wanted by any hook: bound through
     * the driver without copies, as the model's own INSERTs are. */
    int direct = lc->stable && !db->obs_params;

    for (start = 0; start < nrows && rc == DAL_OK; start += rows) {
        rows = nrows - start < per ? nrows - start : per;
        if (!st || rows != st_rows) {
            dal__stmt_free(st);
            st = NULL;
            if (dal__insert_sql(&sql, table, cols, ncols, rows,
                                db->drv->param_marker, NULL)) {
                rc = nomem(db);
                break;
            }
            rc = dal__stmt_new_translated(db, NULL, sql.p, sql.len - 1,
                                          ncols * rows, NULL, 0, &st);
            if (rc != DAL_OK)
                break;
            st_rows = rows;
        }
        for (r = 0, k = 1; r < rows && rc == DAL_OK; r++) {
            rc = checked_row(lc, start + r, vals);
            for (c = 0; c < ncols && rc == DAL_OK; c++, k++)
                rc = direct ? bind_direct(db, st->impl, k, &vals[c])
                            : dal_bind_value(st, k, &vals[c]);
        }
        if (rc == DAL_OK && (rc = dal_step(st)) == DAL_DONE)
            rc = dal_reset(st);
        else if (rc == DAL_ROW)
            rc = dal__seterrf(db, DAL_ERROR, NULL, "dal_load: the INSERT "
                              "returned rows");
    }
    dal__stmt_free(st);
    dal__buf_free(&sql);
    return rc;
}

int dal_load(dal_db *db, const char *table, const char *const *cols,
             int ncols, int nrows, dal_load_fn row, void *ctx)
{
    return dal__load(db, table, cols, ncols, nrows, row, ctx, 0);
}

int dal__load(dal_db *db, const char *table, const char *const *cols,
              int ncols, int nrows, dal_load_fn row, void *ctx, int stable)
{
    char err[160], what[32];
    load_ctx lc;
    int rc, c, level;

    if (!db)
        return DAL_E_MISUSE;
    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, "08003", "dal_load: the "
                            "connection is not open");
    if (dal__ident_check(table, "table", err, sizeof err))
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_load: %s", err);
    if (!cols || ncols < 1 || ncols > DAL_LOAD_MAX_COLS || nrows < 0
        || !row)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_load: %s",
                            !cols ? "cols is NULL"
                            : ncols < 1 || ncols > DAL_LOAD_MAX_COLS
                            ? "ncols is outside 1 .. DAL_LOAD_MAX_COLS"
                            : nrows < 0 ? "nrows is negative"
                                        : "row is NULL");
    for (c = 0; c < ncols; c++) {
        snprintf(what, sizeof what, "column %d", c + 1);
        if (dal__ident_check(cols[c], what, err, sizeof err))
            return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_load: %s",
                                err);
    }
    if (db->err.code != DAL_OK)
        dal__clearerr(db);
    if (nrows == 0)
        return DAL_OK;
    lc.db = db;
    lc.ncols = ncols;
    lc.row = row;
    lc.ctx = ctx;
    lc.stable = stable;
    /* A transaction, or a savepoint in the caller's: a COPY is one
     * statement, but a failed one must not take the caller's
     * transaction down with it; the INSERTs are many. */
    if ((rc = dal_begin(db, 0)) != DAL_OK)
        return rc;
    level = dal_tx_depth(db);
    if (db->drv->copy_in)
        rc = dal__copy_in(db, table, cols, ncols, nrows, checked_row, &lc);
    else
        rc = load_inserts(&lc, table, cols, nrows);
    if (rc == DAL_OK)
        rc = dal_commit(db);
    if (rc != DAL_OK && dal_tx_depth(db) >= level)
        dal__rollback_keep_error(db);
    return rc;
}
