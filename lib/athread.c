/*
 * athread.c - the async glue for a driver that has none of its own
 * (SQLite): one thread per connection, owning a blocking dal_db opened
 * with dal_open(), so that every job passes the core's one execution
 * path (hooks, metrics, guards, statement cache) exactly as a blocking
 * call would.
 *
 * The loop thread queues jobs (FIFO, under a mutex, with a condition
 * variable to wake the worker); the worker runs one at a time and puts
 * each finished job on a done list, then wakes the loop with a
 * uv_async_t, whose callback hands the jobs back in order. libuv's
 * shared thread pool is never used: a long SQLite statement parks only
 * its own connection's thread, never a worker that uv_fs or
 * uv_queue_work requests need.
 *
 * Each job carries back what it did to the worker's statement cache
 * (dal__ajob.cache_stat), which the core shows observers; a one_shot
 * job (its text carries a tracer's per-run comment) is prepared for its
 * run only and never enters the cache.
 *
 * Cancel and close interrupt the running statement through the
 * driver's thread-safe interrupt hook, under the mutex, so the dal_db
 * cannot be swapped or closed meanwhile.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "acore-int.h"

/* Jobs a worker holds (queued and running) before submit says "not
 * now": the rest wait in the core, where the pool can still route new
 * requests to a less busy connection, and close ends them at once. A
 * few queued jobs let a worker go on without waiting for the loop. */
#define WINDOW 64

typedef struct athr {
    dal__aconn *c;
    uv_async_t wake;
    /* Interrupts again while a stopped job still runs: one that arrives
     * before the statement started is forgotten by SQLite when the
     * statement starts (and by PostgreSQL's server, likewise). */
    uv_timer_t kick;
    int kicking;
    int handles;             /* wake and kick, until closed */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    dal__ajob *qh, *qt;      /* to run, linked by bnext */
    dal__ajob *dh, *dt;      /* done, to hand back */
    dal__ajob *running;
    int held;                /* queued and running, not yet done */
    int run_stop;            /* the running job must end: its rc, or 0 */
    dal_db *db;              /* the worker's; swapped under mu */
    int opened;              /* the first open finished */
    int open_reported;
    int open_rc;
    char *open_msg;
    char open_state[6];
    int stop;                /* close asked */
    int exited;              /* the worker has returned */
    int joined;
    int lost;                /* reconnect before the next job */
} athr;

/* A job's stop reason lives in bdata as an int cast; 0 = none. */
#define JOB_STOP(j) ((int)(intptr_t)(j)->bdata)
#define JOB_SET_STOP(j, rc) ((j)->bdata = (void *)(intptr_t)(rc))

static void q_push(dal__ajob **h, dal__ajob **t, dal__ajob *j)
{
    j->bnext = NULL;
    if (*t)
        (*t)->bnext = j;
    else
        *h = j;
    *t = j;
}

static dal__ajob *q_pop(dal__ajob **h, dal__ajob **t)
{
    dal__ajob *j = *h;

    if (j) {
        *h = j->bnext;
        if (!*h)
            *t = NULL;
        j->bnext = NULL;
    }
    return j;
}

void dal__interrupt(dal_db *db)
{
    if (db && db->conn && db->drv->interrupt)
        db->drv->interrupt(db->conn);
}

/* ---- the worker -------------------------------------------------------- */

/* Read st's rows into a new result for j. rc is DAL_ROW or DAL_DONE. */
static int read_rows(athr *t, dal__ajob *j, dal_stmt *st, int rc)
{
    dal_db *db = t->db;
    int ncols = dal_column_count(st), i;
    dal_result *res = dal__result_new(ncols < 0 ? 0 : ncols);

    if (!res)
        goto nomem;
    for (i = 0; i < ncols; i++) {
        const char *name = dal_column_name(st, i);

        if (!name)
            name = "";
        if (dal__result_colname(res, i, name, strlen(name)))
            goto nomem;
    }
    for (int row = 0; rc == DAL_ROW; row++) {
        if (!dal__result_row(res))
            goto nomem;
        for (i = 0; i < ncols; i++) {
            dal_value v = DAL_V_NULL;
            size_t len = 0;

            switch (dal_column_type(st, i)) {
            case DAL_TYPE_BOOL:
                v = DAL_V_BOOL(dal_column_int64(st, i));
                break;
            case DAL_TYPE_INT64:
                v = DAL_V_INT64(dal_column_int64(st, i));
                break;
            case DAL_TYPE_DOUBLE:
                v = DAL_V_DOUBLE(dal_column_double(st, i));
                break;
            case DAL_TYPE_TEXT:
                v.type = DAL_TYPE_TEXT;
                if (!(v.u.s.p = dal_column_text(st, i, &len)))
                    goto nomem;
                v.u.s.len = len;
                break;
            case DAL_TYPE_BLOB:
                v.type = DAL_TYPE_BLOB;
                if (!(v.u.s.p = dal_column_blob(st, i, &len)))
                    v.u.s.p = "";
                v.u.s.len = len;
                break;
            default:
                break;
            }
            if (dal__result_set(res, row, i, &v))
                goto nomem;
        }
        rc = dal_step(st);
    }
    if (rc != DAL_DONE) {
        dal__ajob_seterr_db(j, db);
        dal__cache_drop(db, st);
        dal_result_free(res);
        return j->rc;
    }
    j->changes = dal_changes(db);
    dal__cache_put(db, st);
    j->res = res;
    return DAL_OK;

nomem:
    dal__cache_drop(db, st);
    dal_result_free(res);
    return dal__ajob_seterr(j, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
}

static int run_query(athr *t, dal__ajob *j)
{
    dal__compiled cq;
    dal_stmt *st;
    int rc;

    memset(&cq, 0, sizeof cq);
    cq.sql = (char *)j->sql;
    cq.len = j->sqllen;
    cq.nparams = j->nparams;
    cq.one_run = j->one_shot;
    rc = dal__run_cached(t->db, NULL, &cq, j->params, j->nparams, &st);
    if (rc != DAL_ROW && rc != DAL_DONE)
        return dal__ajob_seterr_db(j, t->db);
    return read_rows(t, j, st, rc);
}

/* Open (or open again) the worker's connection. The error goes to j,
 * or, for the first open (j NULL), to t for the core. */
static int connect_db(athr *t, dal__ajob *j)
{
    dal_db *db = NULL, *old;
    int rc;

    pthread_mutex_lock(&t->mu);
    old = t->db;
    t->db = NULL;
    pthread_mutex_unlock(&t->mu);
    dal_close(old);
    rc = dal_open(dal__aconn_rawurl(t->c), &db);
    if (rc != DAL_OK) {
        if (j && db)
            dal__ajob_seterr_db(j, db);
        else if (j)
            dal__ajob_seterr(j, rc, NULL, 0, NULL, NULL, NULL, NULL);
        else if (db) {
            t->open_msg = dal__strdup(dal_errmsg(db));
            memcpy(t->open_state, dal_sqlstate(db), 6);
        }
        dal_close(db);
        return rc;
    }
    pthread_mutex_lock(&t->mu);
    t->db = db;
    t->lost = 0;
    pthread_mutex_unlock(&t->mu);
    return DAL_OK;
}

static void run_stmt(athr *t, dal__ajob *j)
{
    int rc;

    switch (j->kind) {
    case DAL__AJ_QUERY:
        rc = run_query(t, j);
        break;
    case DAL__AJ_EXEC:
        /* A transaction's own verbs, so that the driver undoes at its
         * end what it set for it (SQLite's query_only for READ_ONLY). */
        if (j->tx == DAL__ATX_BEGIN)
            rc = dal_begin(t->db, j->tx_flags);
        else if (j->tx == DAL__ATX_COMMIT)
            rc = dal_commit(t->db);
        else if (j->tx == DAL__ATX_ROLLBACK)
            rc = dal_rollback(t->db);
        else
            rc = dal_exec(t->db, j->sql);
        if (rc)
            dal__ajob_seterr_db(j, t->db);
        else
            j->changes = dal_changes(t->db);
        break;
    default: {
        const dal_value *p = j->nparams ? &j->params[0] : NULL;

        rc = dal_notify(t->db, j->sql, p && p->type == DAL_TYPE_TEXT
                                           ? p->u.s.p : NULL);
        if (rc)
            dal__ajob_seterr_db(j, t->db);
        break;
    }
    }
    if (rc == DAL_E_CONNECT)
        t->lost = 1;
}

static void run_job(athr *t, dal__ajob *j)
{
    uint64_t before[3], after[3];
    int rc, i;

    if ((!t->db || t->lost) && (rc = connect_db(t, j))) {
        t->lost = 1;
        return;
    }
    /* The job's use of the statement cache, for the core to show to
     * observers (the worker's db is not theirs to read). */
    dal_stmt_cache_stats(t->db, &before[0], &before[1], &before[2]);
    run_stmt(t, j);
    dal_stmt_cache_stats(t->db, &after[0], &after[1], &after[2]);
    for (i = 0; i < 3; i++)
        j->cache_stat[i] = (uint32_t)(after[i] - before[i]);
}

/* End j with rc (canceled, closed) in place of what it did. */
static void stop_job(dal__ajob *j, int rc)
{
    dal_result_free(j->res);
    j->res = NULL;
    j->changes = 0;
    dal__ajob_seterr(j, rc, NULL, 0, NULL, NULL, NULL, NULL);
}

static void *worker(void *arg)
{
    athr *t = arg;
    dal__ajob *j;
    dal_db *db;
    int rc;

    rc = connect_db(t, NULL);
    pthread_mutex_lock(&t->mu);
    t->lost = rc != DAL_OK;
    t->opened = 1;
    t->open_rc = rc;
    pthread_mutex_unlock(&t->mu);
    uv_async_send(&t->wake);
    for (;;) {
        pthread_mutex_lock(&t->mu);
        while (!t->qh && !t->stop)
            pthread_cond_wait(&t->cv, &t->mu);
        if (!(j = q_pop(&t->qh, &t->qt))) {
            pthread_mutex_unlock(&t->mu);
            break;
        }
        t->running = j;
        t->run_stop = JOB_STOP(j);
        pthread_mutex_unlock(&t->mu);

        if (!JOB_STOP(j))
            run_job(t, j);

        pthread_mutex_lock(&t->mu);
        t->running = NULL;
        if (t->run_stop && (j->rc != DAL_OK || t->run_stop == DAL_E_CLOSED))
            stop_job(j, t->run_stop);
        t->run_stop = 0;
        q_push(&t->dh, &t->dt, j);
        pthread_mutex_unlock(&t->mu);
        uv_async_send(&t->wake);
    }
    pthread_mutex_lock(&t->mu);
    db = t->db;
    t->db = NULL;
    pthread_mutex_unlock(&t->mu);
    dal_close(db);
    pthread_mutex_lock(&t->mu);
    t->exited = 1;
    pthread_mutex_unlock(&t->mu);
    uv_async_send(&t->wake);
    return NULL;
}

/* ---- the loop side ----------------------------------------------------- */

#define KICK_MS 50

static void kick_cb(uv_timer_t *k)
{
    athr *t = k->data;
    int again;

    pthread_mutex_lock(&t->mu);
    again = t->running && t->run_stop;
    if (again)
        dal__interrupt(t->db);
    pthread_mutex_unlock(&t->mu);
    if (!again) {
        t->kicking = 0;
        uv_timer_stop(k);
    }
}

/* Interrupt the running job now and until it ends (mu held). */
static void interrupt_running(athr *t)
{
    dal__interrupt(t->db);
    if (!t->kicking) {
        t->kicking = 1;
        uv_timer_start(&t->kick, kick_cb, KICK_MS, KICK_MS);
    }
}

static void athr_free(athr *t)
{
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    dal__free(t->open_msg);
    dal__free(t);
}

static void wake_freed(uv_handle_t *h)
{
    athr *t = h->data;

    if (--t->handles == 0)
        athr_free(t);
}

static void wake_closed(uv_handle_t *h)
{
    athr *t = h->data;
    dal__aconn *c = t->c;

    if (--t->handles > 0)
        return;
    athr_free(t);
    c->bdata = NULL;
    dal__aconn_closed(c);
}

static void wake_cb(uv_async_t *w)
{
    athr *t = w->data;
    dal__aconn *c = t->c;
    dal__ajob *done, *j;
    int report = 0, exited;

    pthread_mutex_lock(&t->mu);
    if (t->opened && !t->open_reported) {
        t->open_reported = 1;
        report = 1;
    }
    pthread_mutex_unlock(&t->mu);
    if (report) {
        if (t->open_rc != DAL_OK)
            dal__aconn_seterr(c, t->open_rc,
                              t->open_state[0] ? t->open_state : NULL,
                              t->open_msg);
        dal__aconn_ready(c, t->open_rc);
    }
    for (;;) {
        pthread_mutex_lock(&t->mu);
        done = t->dh;
        t->dh = t->dt = NULL;
        exited = t->exited;
        pthread_mutex_unlock(&t->mu);
        if (!done)
            break;
        /* A callback may queue more, cancel, or close: each job is
         * unlinked before it is handed back. */
        while ((j = done)) {
            done = j->bnext;
            j->bnext = NULL;
            pthread_mutex_lock(&t->mu);
            t->held--;
            pthread_mutex_unlock(&t->mu);
            dal__ajob_done(c, j);
        }
    }
    if (exited && !t->joined) {
        t->joined = 1;
        pthread_join(t->th, NULL);
        uv_close((uv_handle_t *)&t->kick, wake_closed);
        uv_close((uv_handle_t *)&t->wake, wake_closed);
    }
}

static int athr_open(dal__aconn *c)
{
    athr *t = dal__calloc(1, sizeof *t);
    int rc;

    if (!t)
        return dal__aconn_seterr(c, DAL_NOMEM, NULL, NULL);
    t->c = c;
    if (pthread_mutex_init(&t->mu, NULL)) {
        dal__free(t);
        return dal__aconn_seterr(c, DAL_ERROR, NULL, "pthread_mutex_init");
    }
    if (pthread_cond_init(&t->cv, NULL)) {
        pthread_mutex_destroy(&t->mu);
        dal__free(t);
        return dal__aconn_seterr(c, DAL_ERROR, NULL, "pthread_cond_init");
    }
    if ((rc = uv_async_init(c->loop, &t->wake, wake_cb))) {
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
        dal__free(t);
        return dal__aconn_seterr(c, DAL_ERROR, NULL, uv_strerror(rc));
    }
    t->wake.data = t;
    uv_timer_init(c->loop, &t->kick);
    t->kick.data = t;
    t->handles = 2;
    c->bdata = t;
    if (pthread_create(&t->th, NULL, worker, t)) {
        /* No thread: the handles go, and with them t; nothing reaches
         * the core (wake_closed is not used). */
        c->bdata = NULL;
        uv_close((uv_handle_t *)&t->kick, wake_freed);
        uv_close((uv_handle_t *)&t->wake, wake_freed);
        return dal__aconn_seterr(c, DAL_ERROR, NULL,
                                 "cannot start a thread");
    }
    return DAL_OK;
}

static int athr_submit(dal__aconn *c, dal__ajob *j)
{
    athr *t = c->bdata;

    JOB_SET_STOP(j, 0);
    pthread_mutex_lock(&t->mu);
    if (t->held >= WINDOW) {
        pthread_mutex_unlock(&t->mu);
        return DAL__AGAIN;
    }
    t->held++;
    q_push(&t->qh, &t->qt, j);
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return DAL_OK;
}

static void athr_cancel(dal__aconn *c, dal__ajob *j)
{
    athr *t = c->bdata;

    pthread_mutex_lock(&t->mu);
    if (t->running == j) {
        if (!t->run_stop) {
            t->run_stop = DAL_E_CANCELED;
            interrupt_running(t);
        }
    } else if (!JOB_STOP(j)) {
        /* Still queued: the worker hands it back without running it. */
        JOB_SET_STOP(j, DAL_E_CANCELED);
        j->rc = DAL_E_CANCELED;
        dal__ajob_seterr(j, DAL_E_CANCELED, NULL, 0, NULL, NULL, NULL,
                         NULL);
    }
    pthread_mutex_unlock(&t->mu);
}

static void athr_close(dal__aconn *c)
{
    athr *t = c->bdata;
    dal__ajob *j;

    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    while ((j = q_pop(&t->qh, &t->qt))) {
        stop_job(j, DAL_E_CLOSED);
        q_push(&t->dh, &t->dt, j);
    }
    if (t->running) {
        t->run_stop = DAL_E_CLOSED;
        interrupt_running(t);
    }
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    uv_async_send(&t->wake);
}

const struct dal__adriver dal__athread = {
    .open = athr_open,
    .submit = athr_submit,
    .cancel = athr_cancel,
    .close = athr_close,
    .listen = NULL,
};
