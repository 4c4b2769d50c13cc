/*
 * async.c - the async core: handles, requests, callbacks, timeouts, the
 * pool of connections, transactions pinned to one connection, and the
 * close protocol. Backends only run jobs (lib/async-int.h); a driver
 * without async glue is run by the thread glue (athread.c).
 *
 * A request (areq) lives in exactly one place at a time: the pool's
 * wait list (no connection free for it), a connection's queue (not yet
 * given to the backend), the backend (sent), or the pool's list of
 * completions to deliver later (ended from inside a caller's call, where
 * the callback must not run). Whatever ends it, finish() runs its
 * callback once and frees it; the pending count tells close when the
 * last one is gone.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "acore-int.h"

#define MAX_CONNS 64
/* Requests a pool keeps for reuse once done (see req_new): about 400
 * bytes each, so at most some 1.6 MB, kept only by a pool that had that
 * many requests alive at once; and the least room for a statement and
 * its parameters each one has. */
#define SPARE_MAX 4096
#define ROOM_MIN 128

enum { R_QUERY, R_ROWS, R_BEGIN, R_END, R_DONE, R_INTERNAL };
enum { S_NONE, S_WAIT, S_QUEUED, S_SENT, S_LATER };
/* Connection states. DEAD: no backend state (never opened, or the open
 * call itself failed); LOST: the backend has state but the session is
 * gone (failed connect, lost): close it, then open again. */
enum { C_DEAD, C_OPENING, C_READY, C_LOST, C_REOPEN, C_CLOSING, C_CLOSED };

typedef struct areq areq;
typedef struct aconn aconn;

typedef struct alist {
    areq *head, *tail;
    int n;
} alist;

struct areq {
    dal__ajob job;           /* job.core == this */
    dal_async *h;            /* the target: a pool or a transaction */
    dal_async *pool;
    dal_async_req *req;      /* NULL for internal jobs */
    int what;
    union {
        dal_async_query_cb q;
        dal_async_rows_cb rows;
        dal_async_tx_cb tx;
        dal_async_done_cb done;
    } cb;
    const dal_model *m;
    dal_async *tx;           /* R_BEGIN: the transaction it opens */
    aconn *c;
    int state;
    int stop;                /* why it must end early, or 0 */
    int keep;
    uv_timer_t *timer;
    areq *prev, *next;
    char *sql;               /* owned, unless in the room */
    dal_value *params;       /* owned (with the text after the array),
                              * unless in the room */
    int in_room;             /* sql and params are in the room */
    size_t room;             /* bytes after the struct for them */
    /* Observed (dal_async_observe): the DAL_EVF_* bits of its events,
     * whether its connection's hooks saw BEFORE (and so owe it AFTER),
     * and when (given to its connection). */
    unsigned obs_flags;
    int obs_on;
    dal_stmt_kind obs_kind;
    int64_t obs_t0;
    /* The SQL its events carry: the caller's text of dal_async_query()
     * (copied into the room only while the pool is observed), else
     * sql; set by obs_start. Each request has its own copy, so that
     * the tracer tells the spans of identical texts in flight apart
     * by the pointer. */
    const char *obs_sql;
    size_t obs_sqllen;
    /* The text sent when a tracer's comment was appended (owned). */
    char *csql;
};

/* Where an areq's room starts (aligned for a dal_value). */
#define ROOM_OFF                                                        \
    ((sizeof(areq) + alignof(max_align_t) - 1) / alignof(max_align_t)   \
     * alignof(max_align_t))

struct aconn {
    dal__aconn a;            /* a.core == this */
    dal_async *pool;
    int state;
    int opened_once;         /* the first open has been counted */
    int close_after_open;
    dal_async *pin;          /* the transaction using it, or NULL */
    alist q;
    alist sent;
    int lost;                /* dal__aconn_lost: reconnect when idle */
    struct dal__err err;     /* the last connection error */
    /* With an observer: the db that stands for this connection in its
     * events (no blocking connection; see obs_before), and whether a
     * CONNECT was reported that no DISCONNECT has matched yet. */
    dal_db *shell;
    int connected;
    /* The statement cache's hits, misses and evictions since the pool
     * opened, summed from its jobs (dal__ajob.cache_stat); a shell
     * starts from them and is kept equal to them. */
    uint64_t cache_stat[3];
};

/* A statement text as the caller wrote it and as translated for the
 * driver (query_job): programs issue the same few texts again and again,
 * and lexing each one again costs as much as the rest of a request. */
typedef struct xlate {
    char *src;
    char *out;
    size_t srclen, outlen;
    int nparams;
    unsigned used;           /* the pool's clock at the last hit */
} xlate;

#define XLATE_SLOTS 8

typedef struct listener {
    char *channel;
    dal_async_listen_cb cb;
    int on_server;
} listener;

struct dal_async {
    void *data;
    dal_async *pool;         /* itself for a pool */
    int is_tx;
    uv_loop_t *loop;

    /* A pool's own. */
    char *url;
    dal__url u;
    const struct dal_driver *drv;
    const struct dal__adriver *ad;
    aconn *conns;
    int nconn;
    alist wait;
    alist later;
    uv_idle_t idle;
    int idle_on;
    int nhandles;            /* idle and timers not closed yet */
    int pending;
    int open_left;
    int open_rc;
    int open_due;            /* open_cb must run from the idle callback */
    dal_async_open_cb open_cb;
    char *msg;
    int closing, closed_conns, final;
    dal_async_close_cb close_cb;
    listener *ls;
    int nls;
    int ls_missed;           /* reconnected: notifications may be lost */
    dal_async *txs;          /* transactions alive */
    dal_observer *obs;       /* dal_async_observe(), or NULL */
    /* dal_async_set_tenant/actor: owned here, lent to each shell. */
    char *tenant, *actor;
    xlate xl[XLATE_SLOTS];   /* translations kept, see query_job */
    unsigned xl_clock;
    areq *spare;             /* done requests kept for reuse (next) */
    int nspare;

    /* A transaction's own. */
    aconn *tc;
    int ending;
    int begun;
    dal_async *tnext, *tprev;
};

/* The request whose callback runs now, so that dal_async_req_errmsg()
 * and dal_async_keep() find it while req itself is not touched after the
 * callback (it may free req). */
static _Thread_local areq *current;

/* ---- lists ----------------------------------------------------------- */

static void l_push(alist *l, areq *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
}

static void l_remove(alist *l, areq *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
    l->n--;
}

static areq *l_pop(alist *l)
{
    areq *r = l->head;

    if (r)
        l_remove(l, r);
    return r;
}

/* ---- errors ---------------------------------------------------------- */

static void err_clear(struct dal__err *e)
{
    dal__free(e->msg);
    dal__free(e->detail);
    dal__free(e->hint);
    dal__free(e->constraint);
    memset(e, 0, sizeof *e);
}

static char *dup_or_null(const char *s)
{
    return s ? dal__strdup(s) : NULL;
}

static void err_set(struct dal__err *e, int rc, const char *sqlstate,
                    int native, const char *msg, const char *detail,
                    const char *hint, const char *constraint)
{
    /* Copy first: the new strings may point into the old error. */
    char *m = dup_or_null(msg), *d = dup_or_null(detail);
    char *h = dup_or_null(hint), *c = dup_or_null(constraint);

    err_clear(e);
    e->msg = m;
    e->detail = d;
    e->hint = h;
    e->constraint = c;
    e->code = rc;
    e->native = native;
    if (!sqlstate || strlen(sqlstate) != 5)
        sqlstate = dal__default_sqlstate(rc);
    memcpy(e->sqlstate, sqlstate, 6);
}

int dal__ajob_seterr(dal__ajob *j, int rc, const char *sqlstate, int native,
                     const char *msg, const char *detail, const char *hint,
                     const char *constraint)
{
    err_set(&j->err, rc, sqlstate, native, msg, detail, hint, constraint);
    j->rc = rc;
    return rc;
}

int dal__ajob_seterr_db(dal__ajob *j, const dal_db *db)
{
    const struct dal__err *e = &db->err;

    return dal__ajob_seterr(j, e->code ? e->code : DAL_ERROR, e->sqlstate,
                            e->native, e->msg, e->detail, e->hint,
                            e->constraint);
}

int dal__aconn_seterr(dal__aconn *a, int rc, const char *sqlstate,
                      const char *msg)
{
    aconn *c = a->core;

    err_set(&c->err, rc, sqlstate, 0, msg, NULL, NULL, NULL);
    return rc;
}

static int h_fail(dal_async *h, int rc, const char *msg)
{
    dal_async *p = h ? h->pool : NULL;

    if (p) {
        char *m = dal__strdup(msg ? msg : dal_errstr(rc));

        dal__free(p->msg);
        p->msg = m;
    }
    return rc;
}

/* ---- requests -------------------------------------------------------- */

/*
 * A request for h, with room bytes after it for its statement and
 * parameters (query_job). A pool keeps up to SPARE_MAX done requests
 * for reuse, so that a steady stream of them allocates nothing.
 */
static areq *req_new(dal_async *h, dal_async_req *req, int what,
                     size_t room)
{
    dal_async *p = h->pool;
    areq *r = p->spare;

    if (r && r->room >= room) {
        p->spare = r->next;
        p->nspare--;
        room = r->room;
    } else {
        if (room < ROOM_MIN)
            room = ROOM_MIN;
        if (room > (size_t)-1 - ROOM_OFF
            || !(r = dal__malloc(ROOM_OFF + room)))
            return NULL;
    }
    memset(r, 0, sizeof *r);
    r->room = room;
    r->job.core = r;
    r->h = h;
    r->pool = h->pool;
    r->req = req;
    r->what = what;
    return r;
}

static void req_free(areq *r)
{
    dal_async *p = r->pool;

    err_clear(&r->job.err);
    dal_result_free(r->job.res);
    dal__free(r->csql);
    if (!r->in_room) {
        dal__free(r->sql);
        dal__free(r->params);
    }
    if (p->nspare < SPARE_MAX) {
        r->next = p->spare;
        p->spare = r;
        p->nspare++;
    } else {
        dal__free(r);
    }
}

/* The bytes deep copies of params[0..n) take (the array, then the text
 * and blobs); DAL_E_MISUSE when one is not a value. */
static int params_size(const dal_value *params, int n, size_t *out)
{
    size_t size = n > 0 ? (size_t)n * sizeof(dal_value) : 0;
    int i;

    *out = 0;
    for (i = 0; i < n; i++) {
        const dal_value *x = &params[i];

        if (x->type == DAL_TYPE_TEXT || x->type == DAL_TYPE_BLOB) {
            if (!x->u.s.p && x->u.s.len)
                return DAL_E_MISUSE;
            size += (x->u.s.len == DAL_NTS ? strlen(x->u.s.p)
                                           : x->u.s.len) + 1;
        } else if (x->type < DAL_TYPE_NULL || x->type > DAL_TYPE_BLOB) {
            return DAL_E_MISUSE;
        }
    }
    *out = size;
    return DAL_OK;
}

/* Deep copies of params[0..n) into v, of params_size() bytes. */
static void params_fill(const dal_value *params, int n, dal_value *v)
{
    char *p = (char *)(v + n);
    int i;

    for (i = 0; i < n; i++) {
        v[i] = params[i];
        if (v[i].type == DAL_TYPE_TEXT || v[i].type == DAL_TYPE_BLOB) {
            size_t len = v[i].u.s.len == DAL_NTS ? strlen(v[i].u.s.p)
                                                 : v[i].u.s.len;

            if (len)
                memcpy(p, v[i].u.s.p, len);
            p[len] = '\0';
            v[i].u.s.p = p;
            v[i].u.s.len = len;
            p += len + 1;
        }
    }
}

/* Deep copies of params[0..n) in one block of their own. */
static int copy_params(const dal_value *params, int n, dal_value **out)
{
    size_t size;
    int rc;

    *out = NULL;
    if (n <= 0)
        return DAL_OK;
    if ((rc = params_size(params, n, &size)))
        return rc;
    if (!(*out = dal__malloc(size)))
        return DAL_NOMEM;
    params_fill(params, n, *out);
    return DAL_OK;
}

static void pump(aconn *c);
static void check_close(dal_async *p);
static void first_open(aconn *c);
static void open_rest(dal_async *p);
static void finish(areq *r);

static void timer_closed(uv_handle_t *t)
{
    dal_async *p = t->data;

    dal__free(t);
    p->nhandles--;
    check_close(p);
}

static void idle_cb(uv_idle_t *idle)
{
    dal_async *p = idle->data;
    areq *r;

    while ((r = l_pop(&p->later)))
        finish(r);
    if (p->open_due) {
        p->open_due = 0;
        p->open_cb(p, p->open_rc);
    }
    /* The open callback may have ended requests (a close): they are
     * delivered on the next turn. */
    if (!p->final && p->idle_on && !p->later.n) {
        p->idle_on = 0;
        uv_idle_stop(&p->idle);
    }
    check_close(p);
}

static void wake_later(dal_async *p)
{
    if (!p->idle_on && !p->final) {
        p->idle_on = 1;
        uv_idle_start(&p->idle, idle_cb);
    }
}

/* End r from inside a caller's call: its callback runs from the loop. */
static void later(areq *r, int rc)
{
    r->job.rc = rc;
    r->state = S_LATER;
    l_push(&r->pool->later, r);
    wake_later(r->pool);
}

static void unpin(aconn *c);

static void tx_free(dal_async *tx)
{
    dal_async *p = tx->pool;

    if (tx->tprev)
        tx->tprev->tnext = tx->tnext;
    else
        p->txs = tx->tnext;
    if (tx->tnext)
        tx->tnext->tprev = tx->tprev;
    dal__free(tx);
}

static int submit_rollback(dal_async *h);

/* ---- observers --------------------------------------------------------
 *
 * An async connection has no blocking dal_db of its own (PostgreSQL's
 * glue has none at all; SQLite's worker thread has one, which must not
 * be touched from the loop), so each connection of an observed pool
 * gets a "shell" db: the driver, the parsed URL, an error slot and the
 * observer, nothing else. The core reports a request's statement on it
 * from the loop thread, on every backend alike: BEFORE when the request
 * is given to its connection (where a veto keeps it from being sent),
 * AFTER just before its callback, with the request's error copied into
 * the shell first so that dal_errmsg() and dal_sqlstate() on ev->db
 * tell what the callback will be told.
 */

/* The statement events of r: not for NOTIFY jobs, whose sql is a
 * channel name (dal_async_notify is reported as no statement). */
static int observed(const aconn *c, const areq *r)
{
    return c->shell && r->job.kind != DAL__AJ_NOTIFY;
}

/* BEFORE for r, now given to c. A veto ends r with its error. */
static int obs_before(aconn *c, areq *r)
{
    dal_event ev;
    int rc;

    memset(&ev, 0, sizeof ev);
    ev.kind = DAL_EV_BEFORE;
    ev.sql = r->obs_sql;
    ev.sql_len = r->obs_sqllen;
    ev.stmt_kind = r->obs_kind = dal_sql_kind(ev.sql);
    ev.nparams = r->job.nparams;
    ev.params = c->shell->obs_params ? r->job.params : NULL;
    ev.flags = r->obs_flags;
    ev.rows = -1;
    ev.start_ns = r->obs_t0 = dal_clock_ns();
    dal__clearerr(c->shell);
    rc = dal__obs_deliver(c->shell, &ev);
    if (rc != DAL_OK)
        return dal__ajob_seterr_db(&r->job, c->shell);
    r->obs_on = 1;
    return DAL_OK;
}

/*
 * Send r with the comment of a tracer's sqlcommenter option (dal/
 * trace.h), as the blocking core does (stmt.c, prepare_commented). The
 * tracer keeps one pending span id, chosen when it writes a comment and
 * taken by the next statement span to start: so the comment is written
 * here, right before r's own BEFORE, never when r was issued, since
 * requests issued together would each overwrite the id the one before
 * is still to take.
 */
static int add_comment(aconn *c, areq *r)
{
    dal__buf b = {0};
    int rc = dal__sql_commented(c->shell, r->job.sql, r->job.sqllen, &b);

    if (rc != DAL_OK)
        return dal__ajob_seterr(&r->job, rc, NULL, 0, NULL, NULL, NULL,
                                NULL);
    r->csql = b.p;
    r->job.sql = b.p;
    r->job.sqllen = b.len;
    r->job.one_shot = 1;
    return DAL_OK;
}

/* The events of r, now given to c: its SQL for them, its comment, then
 * BEFORE (a veto ends r with its error). */
static int obs_start(aconn *c, areq *r)
{
    int rc;

    if (!r->obs_sql) {
        r->obs_sql = r->sql;
        r->obs_sqllen = r->job.sqllen;
    }
    /* Queries only, as the blocking core comments its one-shot
     * statements: a transaction's verbs run as dal_begin() and the
     * like on SQLite's thread, from flags on PostgreSQL. */
    if (DAL__UNLIKELY(c->shell->sql_comment != NULL)
        && r->job.kind == DAL__AJ_QUERY && (rc = add_comment(c, r)))
        return rc;
    return obs_before(c, r);
}

/* Rows for r's AFTER (r saw BEFORE), read before finish() hands its
 * result on. */
static int64_t job_rows(const areq *r)
{
    dal_stmt_kind k = r->obs_kind;

    if (r->job.res && dal_result_column_count(r->job.res) > 0)
        return dal_result_row_count(r->job.res);
    return k >= DAL_SK_INSERT && k <= DAL_SK_DELETE ? r->job.changes : 0;
}

/* Put status st of r (its error, or none) into db for the hooks. */
static void shell_err(dal_db *db, const struct dal__err *e, int st)
{
    if (st == DAL_OK)
        dal__clearerr(db);
    else if (e->code == st)
        dal__seterr(db, st, e->sqlstate, e->native, e->msg, e->detail,
                    e->hint, e->constraint);
    else
        dal__seterr(db, st, NULL, 0, NULL, NULL, NULL, NULL);
}

static void obs_after(areq *r, int st, int64_t rows)
{
    dal_db *db = r->c ? r->c->shell : NULL;
    dal_event ev;

    if (!r->obs_on || !db)
        return;
    r->obs_on = 0;
    shell_err(db, &r->job.err, st);
    memset(&ev, 0, sizeof ev);
    ev.kind = DAL_EV_AFTER;
    ev.sql = r->obs_sql;
    ev.sql_len = r->obs_sqllen;
    ev.stmt_kind = r->obs_kind;
    ev.nparams = r->job.nparams;
    ev.params = db->obs_params ? r->job.params : NULL;
    ev.flags = r->obs_flags;
    ev.start_ns = r->obs_t0;
    ev.duration_ns = dal_clock_ns() - r->obs_t0;
    ev.rows = rows;
    ev.rc = st;
    dal__obs_deliver(db, &ev);
}

/* A transaction's BEGIN, COMMIT or ROLLBACK on c (the outermost level:
 * async transactions do not nest). */
static void obs_tx(aconn *c, dal_event_kind kind, int st,
                   const struct dal__err *e)
{
    if (!c || !c->shell)
        return;
    shell_err(c->shell, e, st);
    /* Hooks that ask whether the connection is in a transaction read
     * the depth of a db without a connection. */
    c->shell->tx_depth = kind == DAL_EV_BEGIN;
    dal__obs_event(c->shell, kind, st, 1);
}

/* Close a shell db, whose labels are its pool's. */
static void shell_close(dal_db *db)
{
    if (db) {
        db->tenant = NULL;
        db->actor = NULL;
    }
    dal_close(db);
}

/* A shell db for a connection of p with obs attached (every hook's
 * attach), in *out, its statement cache counters those of the
 * connection (stat), so that the hooks' attach reads them as for a
 * blocking connection; on an error nothing is left and p's message says
 * why. */
static int shell_new(dal_async *p, dal_observer *obs, const uint64_t *stat,
                     dal_db **out)
{
    dal_db *db = dal__calloc(1, sizeof *db);
    char err[256];
    int rc;

    *out = NULL;
    if (!db)
        return h_fail(p, DAL_NOMEM, NULL);
    memcpy(db->err.sqlstate, "00000", 6);
    db->async_shell = 1;
    for (int i = 0; i < 3; i++)
        atomic_init(&db->cache_stat[i], stat[i]);
    db->tenant = p->tenant;
    db->actor = p->actor;
    err[0] = '\0';
    rc = dal__url_parse(p->url, &db->url, err, sizeof err);
    if (rc == DAL_OK) {
        db->drv = db->url.drv;
        rc = dal__obs_attach(db, obs);
        if (rc != DAL_OK)
            h_fail(p, rc, dal_errmsg(db));
    } else {
        h_fail(p, rc, err[0] ? err : NULL);
    }
    if (rc != DAL_OK) {
        shell_close(db);
        return rc;
    }
    *out = db;
    return DAL_OK;
}

/* Detach p's observer from its connections (each hook's detach), with
 * the DISCONNECT its hooks are owed when disconnect is set. */
static void shells_free(dal_async *p, int disconnect)
{
    for (int i = 0; p->conns && i < p->nconn; i++) {
        aconn *c = &p->conns[i];

        if (c->shell && c->connected && disconnect) {
            dal__clearerr(c->shell);
            dal__obs_event(c->shell, DAL_EV_DISCONNECT, DAL_OK, 0);
        }
        shell_close(c->shell);
        c->shell = NULL;
    }
    p->obs = NULL;
}

int dal_async_observe(dal_async *h, dal_observer *obs)
{
    dal_db **shells;
    int i, rc = DAL_OK;

    if (!h || h->is_tx)
        return h_fail(h, DAL_E_MISUSE, "dal_async_observe: a pool "
                                        "handle is needed");
    if (h->closing)
        return DAL_E_CLOSED;
    if (obs == h->obs)
        return DAL_OK;
    if (h->obs && h->pending)
        return h_fail(h, DAL_E_MISUSE, "dal_async_observe: requests are "
                                       "pending; the observer cannot be "
                                       "replaced before they end");
    if (!obs) {
        shells_free(h, 0);
        return DAL_OK;
    }
    /* All or nothing: the new shells are made before the old go. */
    if (!(shells = dal__calloc((size_t)h->nconn, sizeof *shells)))
        return h_fail(h, DAL_NOMEM, NULL);
    for (i = 0; i < h->nconn && rc == DAL_OK; i++)
        rc = shell_new(h, obs, h->conns[i].cache_stat, &shells[i]);
    if (rc != DAL_OK) {
        for (i = 0; i < h->nconn; i++)
            shell_close(shells[i]);
        dal__free(shells);
        return rc;
    }
    shells_free(h, 0);
    for (i = 0; i < h->nconn; i++)
        h->conns[i].shell = shells[i];
    dal__free(shells);
    h->obs = obs;
    return DAL_OK;
}

/* Set label *slot of pool h (tenant or actor) to a copy of s, and
 * lend it to h's shells. */
static int set_label(dal_async *h, char **slot, const char *s)
{
    char *copy = NULL;
    int i;

    if (s && !(copy = dal__strdup(s)))
        return h_fail(h, DAL_NOMEM, NULL);
    dal__free(*slot);
    *slot = copy;
    for (i = 0; h->conns && i < h->nconn; i++)
        if (h->conns[i].shell) {
            h->conns[i].shell->tenant = h->tenant;
            h->conns[i].shell->actor = h->actor;
        }
    return DAL_OK;
}

int dal_async_set_tenant(dal_async *h, const char *tenant)
{
    if (!h || h->is_tx)
        return h_fail(h, DAL_E_MISUSE, "dal_async_set_tenant: a pool "
                                        "handle is needed");
    return set_label(h, &h->tenant, tenant);
}

int dal_async_set_actor(dal_async *h, const char *actor)
{
    if (!h || h->is_tx)
        return h_fail(h, DAL_E_MISUSE, "dal_async_set_actor: a pool "
                                        "handle is needed");
    return set_label(h, &h->actor, actor);
}

/* Run r's callback once and free it. */
static void finish(areq *r)
{
    dal_async *p = r->pool;
    dal_async_req *req = r->req;
    aconn *c = r->c;
    int st = r->job.rc;
    dal_result *res = NULL;
    dal_rows *rows = NULL;
    int64_t orows = r->obs_on ? job_rows(r) : -1;
    areq *prev;

    if (st == DAL_E_CANCELED && r->stop == DAL_E_TIMEOUT)
        st = DAL_E_TIMEOUT;
    if (st == DAL_OK && (r->what == R_QUERY || r->what == R_ROWS)) {
        res = r->job.res ? r->job.res : dal__result_new(0);
        r->job.res = NULL;
        if (!res)
            st = DAL_NOMEM;
        else
            dal__result_set_changes(res, r->job.changes);
        if (res && r->what == R_ROWS) {
            st = dal__model_rows(r->m, res, &rows);
            dal_result_free(res);
            res = NULL;
        }
        if (st != DAL_OK)
            dal__ajob_seterr(&r->job, st, NULL, 0, NULL, NULL, NULL, NULL);
    }
    obs_after(r, st, orows);
    if (r->timer) {
        uv_timer_stop(r->timer);
        r->timer->data = p;
        uv_close((uv_handle_t *)r->timer, timer_closed);
        r->timer = NULL;
    }
    if (req)
        req->internal_ = NULL;
    prev = current;
    current = r;
    switch (r->what) {
    case R_QUERY:
        r->cb.q(req, st, res);
        if (res && !r->keep)
            dal_result_free(res);
        break;
    case R_ROWS:
        r->cb.rows(req, st, rows);
        if (rows && !r->keep)
            dal_rows_free(rows);
        break;
    case R_BEGIN:
        if (st == DAL_OK && !p->closing) {
            r->tx->begun = 1;
            obs_tx(c, DAL_EV_BEGIN, DAL_OK, &r->job.err);
            r->cb.tx(req, DAL_OK, r->tx);
        } else {
            if (st == DAL_OK)
                st = DAL_E_CLOSED;
            if (r->tx->tc)
                unpin(r->tx->tc);
            tx_free(r->tx);
            r->cb.tx(req, st, NULL);
        }
        break;
    case R_END: {
        dal_async *tx = r->h;

        /* A failed COMMIT may leave the transaction open (SQLite's
         * busy): roll it back before others use the connection. */
        if (st != DAL_OK && r->job.tx == DAL__ATX_COMMIT && !p->closing
            && c && c->state != C_DEAD)
            submit_rollback(tx);
        obs_tx(c, r->job.tx == DAL__ATX_COMMIT ? DAL_EV_COMMIT
                                               : DAL_EV_ROLLBACK,
               st, &r->job.err);
        if (tx->tc)
            unpin(tx->tc);
        tx_free(tx);
        r->cb.done(req, st);
        break;
    }
    case R_DONE:
        r->cb.done(req, st);
        break;
    default:
        break;
    }
    current = prev;
    req_free(r);
    p->pending--;
    check_close(p);
}

/* ---- connections ----------------------------------------------------- */

/* The least busy connection of p not pinned to a transaction. */
static aconn *pick(dal_async *p)
{
    aconn *best = NULL;
    int i, load = 0;

    for (i = 0; i < p->nconn; i++) {
        aconn *c = &p->conns[i];
        int l = c->q.n + c->sent.n;

        if (c->pin || c->state == C_CLOSING || c->state == C_CLOSED)
            continue;
        if (!best || l < load) {
            best = c;
            load = l;
        }
    }
    return best;
}

static void enqueue(aconn *c, areq *r)
{
    int rc;

    r->c = c;
    if (observed(c, r) && (rc = obs_start(c, r)) != DAL_OK) {
        later(r, rc);
        return;
    }
    r->state = S_QUEUED;
    l_push(&c->q, r);
    pump(c);
}

/* Give waiting requests to connections that are free now. */
static void drain_wait(dal_async *p)
{
    areq *r;
    aconn *c;

    while ((r = p->wait.head) && (c = pick(p))) {
        l_remove(&p->wait, r);
        if (r->what == R_BEGIN) {
            c->pin = r->tx;
            r->tx->tc = c;
        }
        enqueue(c, r);
    }
}

static void unpin(aconn *c)
{
    c->pin = NULL;
    drain_wait(c->pool);
}

/* Fail everything queued on c (not yet sent) with c's error. */
static void fail_queue(aconn *c, int rc)
{
    areq *r;

    while ((r = l_pop(&c->q))) {
        dal__ajob_seterr(&r->job, rc, c->err.sqlstate, c->err.native,
                         c->err.msg, c->err.detail, NULL, NULL);
        r->state = S_LATER;
        l_push(&c->pool->later, r);
    }
    wake_later(c->pool);
}

static void start_open(aconn *c)
{
    int rc;

    c->state = C_OPENING;
    rc = c->pool->ad->open(&c->a);
    if (rc != DAL_OK) {
        c->state = C_DEAD;
        if (!c->err.code)
            err_set(&c->err, rc, NULL, 0, NULL, NULL, NULL, NULL);
        fail_queue(c, rc);
    }
}

static void pump(aconn *c)
{
    const struct dal__adriver *ad = c->pool->ad;
    areq *r;

    switch (c->state) {
    case C_READY:
        break;
    case C_DEAD:
        /* A connection waiting for the first to open waits for it. */
        if (c->q.n && !c->pool->closing
            && (c->opened_once || c == &c->pool->conns[0]))
            start_open(c);
        return;
    case C_LOST:
        if (c->q.n && !c->sent.n && !c->pool->closing) {
            c->state = C_REOPEN;
            ad->close(&c->a);
        }
        return;
    default:
        return;
    }
    if (c->lost) {
        /* Wait for what was sent to come back, then connect again. */
        if (!c->sent.n) {
            c->lost = 0;
            c->state = C_LOST;
            pump(c);
        }
        return;
    }
    while ((r = c->q.head)) {
        int rc = ad->submit(&c->a, &r->job);

        if (rc == DAL__AGAIN)
            break;
        l_remove(&c->q, r);
        if (rc != DAL_OK) {
            if (!r->job.rc)
                dal__ajob_seterr(&r->job, rc, NULL, 0, NULL, NULL, NULL,
                                 NULL);
            later(r, rc);
            continue;
        }
        r->state = S_SENT;
        l_push(&c->sent, r);
        c->a.inflight++;
    }
}

void dal__aconn_ready(dal__aconn *a, int rc)
{
    aconn *c = a->core;
    dal_async *p = c->pool;
    int i;

    if (rc == DAL_OK) {
        c->state = C_READY;
        err_clear(&c->err);
    } else {
        c->state = C_LOST;
        if (!c->err.code)
            err_set(&c->err, rc, NULL, 0, NULL, NULL, NULL, NULL);
        fail_queue(c, rc);
    }
    if (c->shell) {
        shell_err(c->shell, &c->err, rc);
        dal__obs_event(c->shell, DAL_EV_CONNECT, rc, 0);
    }
    c->connected = rc == DAL_OK;
    if (!c->opened_once) {
        c->opened_once = 1;
        if (rc != DAL_OK && p->open_rc == DAL_OK) {
            p->open_rc = rc;
            h_fail(p, rc, c->err.msg);
        }
        if (--p->open_left == 0) {
            if (p->closing && p->open_rc == DAL_OK)
                p->open_rc = DAL_E_CLOSED;
            p->open_cb(p, p->open_rc);
        } else if (c == &p->conns[0]) {
            open_rest(p);
        }
    }
    if (c->close_after_open) {
        c->close_after_open = 0;
        c->state = C_CLOSING;
        p->ad->close(&c->a);
        return;
    }
    if (rc == DAL_OK && c == &p->conns[0])
        for (i = 0; i < p->nls; i++)
            if (!p->ls[i].on_server
                && p->ad->listen(&c->a, p->ls[i].channel, 1) == DAL_OK)
                p->ls[i].on_server = 1;
    pump(c);
}

void dal__aconn_closed(dal__aconn *a)
{
    aconn *c = a->core;
    dal_async *p = c->pool;

    if (c->state == C_REOPEN) {
        if (c->shell && c->connected) {
            dal__clearerr(c->shell);
            dal__obs_event(c->shell, DAL_EV_DISCONNECT, DAL_OK, 0);
        }
        c->connected = 0;
        if (c == &p->conns[0] && p->nls) {
            for (int i = 0; i < p->nls; i++)
                p->ls[i].on_server = 0;
            p->ls_missed = 1;
        }
        start_open(c);
        return;
    }
    c->state = C_CLOSED;
    p->closed_conns++;
    check_close(p);
}

void dal__aconn_lost(dal__aconn *a, int rc)
{
    aconn *c = a->core;

    if (!c->err.code || c->err.code != rc)
        err_set(&c->err, rc, NULL, 0, NULL, NULL, NULL, NULL);
    if (c->state == C_READY)
        c->lost = 1;
}

void dal__ajob_done(dal__aconn *a, dal__ajob *j)
{
    aconn *c = a->core;
    areq *r = j->core;

    l_remove(&c->sent, r);
    c->a.inflight--;
    r->state = S_NONE;
    if (j->cache_stat[0] | j->cache_stat[1] | j->cache_stat[2]) {
        /* A metrics scrape may read the shell's counters meanwhile. */
        for (int i = 0; i < 3; i++) {
            c->cache_stat[i] += j->cache_stat[i];
            if (c->shell)
                atomic_store_explicit(&c->shell->cache_stat[i],
                                      c->cache_stat[i],
                                      memory_order_relaxed);
        }
    }
    if (j->rc == DAL_E_CONNECT && c->state == C_READY)
        c->lost = 1;
    finish(r);
    pump(c);
}

void dal__aconn_notify(dal__aconn *a, const char *channel,
                       const char *payload, int pid, int missed)
{
    aconn *c = a->core;
    dal_async *p = c->pool;

    if (p->closing)
        return;
    for (int i = 0; i < p->nls; i++)
        if (!strcmp(p->ls[i].channel, channel)) {
            missed = missed || p->ls_missed;
            p->ls_missed = 0;
            p->ls[i].cb(p, channel, payload ? payload : "", pid, missed);
            return;
        }
}

const char *dal__aconn_rawurl(const dal__aconn *a)
{
    const aconn *c = a->core;

    return c->pool->url;
}

/* ---- open and close -------------------------------------------------- */

/* The first open of c, counted for the open callback. */
static void first_open(aconn *c)
{
    dal_async *p = c->pool;
    int rc;

    c->state = C_OPENING;
    rc = p->ad->open(&c->a);
    if (rc == DAL_OK)
        return;
    c->state = C_DEAD;
    c->opened_once = 1;
    if (!c->err.code)
        err_set(&c->err, rc, NULL, 0, NULL, NULL, NULL, NULL);
    if (p->open_rc == DAL_OK) {
        p->open_rc = rc;
        h_fail(p, rc, c->err.msg);
    }
    if (--p->open_left == 0) {
        p->open_due = 1;
        wake_later(p);
    }
}

/* Open the connections after the first, once it is done. */
static void open_rest(dal_async *p)
{
    for (int i = 1; i < p->nconn && !p->closing; i++)
        if (!p->conns[i].opened_once && p->conns[i].state == C_DEAD)
            first_open(&p->conns[i]);
}

static void pool_free(dal_async *p)
{
    int i;

    while (p->txs)
        tx_free(p->txs);
    shells_free(p, 0);
    dal__free(p->tenant);
    dal__free(p->actor);
    while (p->spare) {
        areq *r = p->spare;

        p->spare = r->next;
        dal__free(r);
    }
    for (i = 0; p->conns && i < p->nconn; i++)
        err_clear(&p->conns[i].err);
    for (i = 0; i < p->nls; i++)
        dal__free(p->ls[i].channel);
    dal__free(p->ls);
    dal__free(p->conns);
    for (i = 0; i < XLATE_SLOTS; i++) {
        dal__free(p->xl[i].src);
        dal__free(p->xl[i].out);
    }
    dal__url_free(&p->u);
    dal__free(p->url);
    dal__free(p->msg);
    dal__free(p);
}

static void idle_closed(uv_handle_t *h)
{
    dal_async *p = h->data;

    p->nhandles--;
    check_close(p);
}

static void check_close(dal_async *p)
{
    if (!p->closing || p->closed_conns < p->nconn || p->pending
        || p->later.n || p->open_due)
        return;
    if (!p->final) {
        p->final = 1;
        /* Every request has ended (each AFTER delivered): the hooks see
         * their connections go, then detach. */
        shells_free(p, 1);
        uv_close((uv_handle_t *)&p->idle, idle_closed);
        return;
    }
    if (p->nhandles == 0) {
        dal_async_close_cb cb = p->close_cb;

        if (cb)
            cb(p);
        pool_free(p);
    }
}

int dal_async_open(uv_loop_t *loop, const char *url, int nconn,
                   dal_async_open_cb cb, void *data, dal_async **hp)
{
    char err[256];
    dal_async *p;
    int i, rc;

    if (hp)
        *hp = NULL;
    if (!loop || !url || !cb || !hp || nconn < 1 || nconn > MAX_CONNS)
        return DAL_E_MISUSE;
    if (!(p = dal__calloc(1, sizeof *p)))
        return DAL_NOMEM;
    p->pool = p;
    p->loop = loop;
    p->data = data;
    p->open_cb = cb;
    p->nconn = nconn;
    p->open_left = nconn;
    rc = dal__url_parse(url, &p->u, err, sizeof err);
    if (rc != DAL_OK) {
        pool_free(p);
        return rc;
    }
    p->drv = p->u.drv;
    p->ad = p->drv->async ? p->drv->async : &dal__athread;
    if (!(p->url = dal__strdup(url))
        || !(p->conns = dal__calloc((size_t)nconn, sizeof *p->conns))) {
        pool_free(p);
        return DAL_NOMEM;
    }
    for (i = 0; i < nconn; i++) {
        aconn *c = &p->conns[i];

        c->a.loop = loop;
        c->a.drv = p->drv;
        c->a.url = &p->u;
        c->a.core = c;
        c->pool = p;
        c->state = C_DEAD;
    }
    /* From here on the pool is live: failures are reported through the
     * open callback, and the caller closes the handle. The first
     * connection opens alone: a new database is made (an SQLite file
     * and its journal mode) by one connection, not by several racing
     * for its lock. */
    uv_idle_init(loop, &p->idle);
    p->idle.data = p;
    p->nhandles = 1;
    first_open(&p->conns[0]);
    if (p->conns[0].state == C_DEAD)
        open_rest(p);
    *hp = p;
    return DAL_OK;
}

int dal_async_close(dal_async *h, dal_async_close_cb cb)
{
    areq *r;
    int i;

    if (!h || h->is_tx || h->closing)
        return DAL_E_MISUSE;
    h->closing = 1;
    h->close_cb = cb;
    while ((r = l_pop(&h->wait)))
        later(r, DAL_E_CLOSED);
    for (i = 0; i < h->nconn; i++) {
        aconn *c = &h->conns[i];

        while ((r = l_pop(&c->q)))
            later(r, DAL_E_CLOSED);
        switch (c->state) {
        case C_READY:
        case C_LOST:
            c->state = C_CLOSING;
            h->ad->close(&c->a);
            break;
        case C_OPENING:
            c->close_after_open = 1;
            break;
        case C_REOPEN:
            c->state = C_CLOSING;
            break;
        case C_DEAD:
            c->state = C_CLOSED;
            h->closed_conns++;
            if (!c->opened_once) {
                /* Never started (it waited for the first): it counts
                 * as done for the open callback. */
                c->opened_once = 1;
                if (--h->open_left == 0)
                    h->open_due = 1;
            }
            break;
        default:
            break;
        }
    }
    if (h->open_due && h->open_rc == DAL_OK)
        h->open_rc = DAL_E_CLOSED;
    wake_later(h);
    check_close(h);
    return DAL_OK;
}

void *dal_async_data(const dal_async *h)
{
    return h ? h->data : NULL;
}

void dal_async_set_data(dal_async *h, void *data)
{
    if (h)
        h->data = data;
}

const char *dal_async_errmsg(const dal_async *h)
{
    return h && h->pool->msg ? h->pool->msg : "";
}

const char *dal_async_backend(const dal_async *h)
{
    return h ? h->pool->drv->name : NULL;
}

int dal_async_pending(const dal_async *h)
{
    return h ? h->pool->pending : 0;
}

/* ---- issuing requests ------------------------------------------------ */

static void on_timeout(uv_timer_t *t);

/* Check the target h (pool or transaction) can take a request. */
static int usable(dal_async *h)
{
    if (h->pool->closing)
        return DAL_E_CLOSED;
    if (h->is_tx && (h->ending || !h->begun))
        return h_fail(h, DAL_E_MISUSE, "the transaction is ending");
    return DAL_OK;
}

/* Start r (built, inputs set): route it and arm its timer. */
static int start(areq *r)
{
    dal_async *h = r->h, *p = r->pool;
    aconn *c;

    if (r->req && r->req->timeout_ms) {
        uv_timer_t *t = dal__malloc(sizeof *t);

        if (!t) {
            req_free(r);
            return h_fail(h, DAL_NOMEM, NULL);
        }
        uv_timer_init(p->loop, t);
        t->data = r;
        uv_timer_start(t, on_timeout, r->req->timeout_ms, 0);
        r->timer = t;
        p->nhandles++;
    }
    if (r->req)
        r->req->internal_ = r;
    p->pending++;
    if (h->is_tx) {
        enqueue(h->tc, r);
        return DAL_OK;
    }
    if (!(c = pick(p))) {
        r->state = S_WAIT;
        l_push(&p->wait, r);
        return DAL_OK;
    }
    if (r->what == R_BEGIN) {
        c->pin = r->tx;
        r->tx->tc = c;
    }
    enqueue(c, r);
    return DAL_OK;
}

/* Make r the transaction verb's job (DAL__ATX_*). */
static int tx_job(areq *r, int verb)
{
    static const char *const sql[] = {
        [DAL__ATX_BEGIN] = "BEGIN", [DAL__ATX_COMMIT] = "COMMIT",
        [DAL__ATX_ROLLBACK] = "ROLLBACK",
    };

    if (!(r->sql = dal__strdup(sql[verb])))
        return DAL_NOMEM;
    r->job.kind = DAL__AJ_EXEC;
    r->job.sql = r->sql;
    r->job.sqllen = strlen(r->sql);
    r->job.tx = verb;
    return DAL_OK;
}

/* Roll back transaction h's connection (the core's own request). */
static int submit_rollback(dal_async *h)
{
    areq *r = req_new(h, NULL, R_INTERNAL, 0);

    if (!r || tx_job(r, DAL__ATX_ROLLBACK)) {
        if (r)
            req_free(r);
        return DAL_NOMEM;
    }
    /* The pin is gone once the transaction is freed: the job goes to the
     * connection directly, ahead of any request issued later. */
    r->pool->pending++;
    enqueue(h->tc, r);
    return DAL_OK;
}

/* The kept translation of sql (srclen bytes), or NULL. */
static xlate *xlate_find(dal_async *p, const char *sql, size_t srclen)
{
    for (int i = 0; i < XLATE_SLOTS; i++) {
        xlate *x = &p->xl[i];

        if (x->src && x->srclen == srclen && !memcmp(x->src, sql, srclen)) {
            x->used = ++p->xl_clock;
            return x;
        }
    }
    return NULL;
}

/* Keep t as the translation of sql in the slot used longest ago. Out of
 * memory, nothing is kept: the cache only saves work. */
static void xlate_keep(dal_async *p, const char *sql, size_t srclen,
                       const dal__sqltext *t)
{
    xlate *x = &p->xl[0];
    char *src = dal__malloc(srclen + 1), *out = dal__malloc(t->len + 1);

    if (!src || !out) {
        dal__free(src);
        dal__free(out);
        return;
    }
    for (int i = 1; i < XLATE_SLOTS; i++)
        if (p->xl[i].used < x->used)
            x = &p->xl[i];
    dal__free(x->src);
    dal__free(x->out);
    memcpy(src, sql, srclen + 1);
    memcpy(out, t->sql, t->len + 1);
    x->src = src;
    x->out = out;
    x->srclen = srclen;
    x->outlen = t->len;
    x->nparams = t->nparams;
    x->used = ++p->xl_clock;
}

/*
 * A query request from sql with portable placeholders: the translation
 * (kept, see xlate_keep) and deep copies of the parameters go into the
 * request's own room, so that the request is one allocation (none when
 * a spare one is reused). An observed pool's request also keeps the
 * caller's text there, for its events (obs_sql): hooks see the SQL as
 * written, as for a blocking statement; an unobserved one copies no
 * more than before.
 */
static int query_req(dal_async *h, dal_async_req *req, const char *sql,
                     const dal_value *params, int nparams, areq **out)
{
    dal_async *p = h->pool;
    size_t srclen = strlen(sql), outlen, off, psize, keep;
    xlate *x = xlate_find(p, sql, srclen);
    dal__sqltext t = {0};
    const char *text;
    char err[256];
    areq *r;
    int rc;

    *out = NULL;
    if (x) {
        if (x->nparams != nparams)
            return h_fail(h, DAL_E_RANGE, "the number of parameters "
                                          "differs from the statement's");
        text = x->out;
        outlen = x->outlen;
    } else {
        err[0] = '\0';
        rc = dal__sql_translate(sql, p->drv->param_marker, &t, err,
                                sizeof err);
        if (rc != DAL_OK)
            return h_fail(h, rc, err[0] ? err : NULL);
        if (t.nparams != nparams) {
            dal__sqltext_free(&t);
            return h_fail(h, DAL_E_RANGE, "the number of parameters "
                                          "differs from the statement's");
        }
        xlate_keep(p, sql, srclen, &t);
        text = t.sql;
        outlen = t.len;
    }
    rc = params_size(params, nparams, &psize);
    off = (outlen + 1 + alignof(dal_value) - 1) / alignof(dal_value)
          * alignof(dal_value);
    keep = DAL__UNLIKELY(p->obs != NULL) ? srclen + 1 : 0;
    if (rc == DAL_OK
        && !(r = req_new(h, req, R_QUERY, off + psize + keep)))
        rc = DAL_NOMEM;
    if (rc != DAL_OK) {
        dal__sqltext_free(&t);
        return h_fail(h, rc, NULL);
    }
    r->in_room = 1;
    r->sql = (char *)r + ROOM_OFF;
    memcpy(r->sql, text, outlen + 1);
    dal__sqltext_free(&t);
    if (nparams > 0) {
        r->params = (dal_value *)(void *)(r->sql + off);
        params_fill(params, nparams, r->params);
    }
    if (keep) {
        char *src = r->sql + off + psize;

        memcpy(src, sql, keep);
        r->obs_sql = src;
        r->obs_sqllen = srclen;
    }
    r->job.kind = DAL__AJ_QUERY;
    r->job.sql = r->sql;
    r->job.sqllen = outlen;
    r->job.params = r->params;
    r->job.nparams = nparams;
    *out = r;
    return DAL_OK;
}

int dal_async_query(dal_async_req *req, dal_async *h, const char *sql,
                    const dal_value *params, int nparams,
                    dal_async_query_cb cb)
{
    areq *r;
    int rc;

    if (!req || !h || !sql || !cb || nparams < 0 || (nparams && !params))
        return h_fail(h, DAL_E_MISUSE, NULL);
    if ((rc = usable(h)))
        return rc;
    if ((rc = query_req(h, req, sql, params, nparams, &r)))
        return rc;
    r->cb.q = cb;
    return start(r);
}

/* A query job from q compiled for h's dialect. */
static int ast_job(dal_async *h, areq *r, const dal_query *q)
{
    dal__compiled c;
    char err[256];
    int rc, i;

    err[0] = '\0';
    rc = dal__compile(q, h->pool->drv->dialect, &c, err, sizeof err);
    if (rc != DAL_OK)
        return h_fail(h, rc, err[0] ? err : NULL);
    for (i = 0; i < c.nparams; i++)
        if (c.is_slot[i]) {
            dal__compiled_free(&c);
            return h_fail(h, DAL_E_MISUSE, "dal_param() slots cannot be "
                                           "bound in async queries");
        }
    rc = copy_params(c.values, c.nparams, &r->params);
    if (rc == DAL_OK) {
        r->sql = c.sql;
        c.sql = NULL;
        r->job.kind = DAL__AJ_QUERY;
        r->job.sql = r->sql;
        r->job.sqllen = c.len;
        r->job.params = r->params;
        r->job.nparams = c.nparams;
        r->obs_flags = c.obs_flags | DAL_EVF_AST;
    }
    dal__compiled_free(&c);
    return rc ? h_fail(h, rc, NULL) : DAL_OK;
}

int dal_async_query_ast(dal_async_req *req, dal_async *h, const dal_query *q,
                        dal_async_query_cb cb)
{
    areq *r;
    int rc;

    if (!req || !h || !q || !cb)
        return h_fail(h, DAL_E_MISUSE, NULL);
    if ((rc = usable(h)))
        return rc;
    if (!(r = req_new(h, req, R_QUERY, 0)))
        return h_fail(h, DAL_NOMEM, NULL);
    r->cb.q = cb;
    if ((rc = ast_job(h, r, q))) {
        req_free(r);
        return rc;
    }
    return start(r);
}

int dal_async_model_query(dal_async_req *req, dal_async *h,
                          const dal_model *m, dal_expr *cond,
                          dal_expr *order, int64_t limit, int flags,
                          dal_async_rows_cb cb)
{
    dal_query *q;
    char err[256];
    areq *r;
    int rc = DAL_OK;

    if (!req || !h || !m || !cb || (rc = usable(h))) {
        dal_expr_free(cond);
        dal_expr_free(order);
        return h ? (req && m && cb ? rc : h_fail(h, DAL_E_MISUSE, NULL))
                 : DAL_E_MISUSE;
    }
    rc = dal__model_select(m, cond, order, limit, flags, &q, err,
                           sizeof err);
    if (rc != DAL_OK)
        return h_fail(h, rc, err);
    if (!(r = req_new(h, req, R_ROWS, 0))) {
        dal_query_free(q);
        return h_fail(h, DAL_NOMEM, NULL);
    }
    r->cb.rows = cb;
    r->m = m;
    rc = ast_job(h, r, q);
    dal_query_free(q);
    if (rc) {
        req_free(r);
        return rc;
    }
    return start(r);
}

int dal_async_begin(dal_async_req *req, dal_async *h, int flags,
                    dal_async_tx_cb cb)
{
    dal_async *tx;
    areq *r;
    int rc;

    if (!req || !h || !cb || h->is_tx)
        return h_fail(h, DAL_E_MISUSE, NULL);
    if (!dal__tx_flags_ok(flags))
        return h_fail(h, DAL_E_MISUSE, "dal_async_begin: invalid flags "
                                       "(at most one locking mode and one "
                                       "isolation level)");
    if ((rc = usable(h)))
        return rc;
    if (!(r = req_new(h, req, R_BEGIN, 0)))
        return h_fail(h, DAL_NOMEM, NULL);
    if (!(tx = dal__calloc(1, sizeof *tx)) || tx_job(r, DAL__ATX_BEGIN)) {
        dal__free(tx);
        req_free(r);
        return h_fail(h, DAL_NOMEM, NULL);
    }
    r->job.tx_flags = flags;
    tx->pool = h;
    tx->is_tx = 1;
    tx->loop = h->loop;
    tx->data = req->data;
    tx->tnext = h->txs;
    if (h->txs)
        h->txs->tprev = tx;
    h->txs = tx;
    r->cb.tx = cb;
    r->tx = tx;
    return start(r);
}

/* End tx with verb (DAL__ATX_COMMIT or DAL__ATX_ROLLBACK). */
static int end_tx(dal_async_req *req, dal_async *tx, int verb,
                  dal_async_done_cb cb)
{
    areq *r;
    int rc;

    if (!req || !tx || !cb || !tx->is_tx)
        return h_fail(tx, DAL_E_MISUSE, NULL);
    if ((rc = usable(tx)))
        return rc;
    if (!(r = req_new(tx, req, R_END, 0)) || tx_job(r, verb)) {
        if (r)
            req_free(r);
        return h_fail(tx, DAL_NOMEM, NULL);
    }
    r->cb.done = cb;
    rc = start(r);
    if (rc == DAL_OK)
        tx->ending = 1;
    return rc;
}

int dal_async_commit(dal_async_req *req, dal_async *tx, dal_async_done_cb cb)
{
    return end_tx(req, tx, DAL__ATX_COMMIT, cb);
}

int dal_async_rollback(dal_async_req *req, dal_async *tx,
                       dal_async_done_cb cb)
{
    return end_tx(req, tx, DAL__ATX_ROLLBACK, cb);
}

int dal_async_notify(dal_async_req *req, dal_async *h, const char *channel,
                     const char *payload, dal_async_done_cb cb)
{
    char err[256];
    areq *r;
    int rc;

    if (!req || !h || !channel || !cb)
        return h_fail(h, DAL_E_MISUSE, NULL);
    if (!h->pool->drv->wait_notify)
        return h_fail(h, DAL_E_UNSUPPORTED, "this backend has no "
                                            "notifications");
    if (dal__ident_check(channel, "channel", err, sizeof err))
        return h_fail(h, DAL_E_MISUSE, err);
    if ((rc = usable(h)))
        return rc;
    if (!(r = req_new(h, req, R_DONE, 0)))
        return h_fail(h, DAL_NOMEM, NULL);
    r->cb.done = cb;
    r->job.kind = DAL__AJ_NOTIFY;
    rc = (r->sql = dal__strdup(channel)) ? DAL_OK : DAL_NOMEM;
    if (!rc) {
        dal_value v = payload ? DAL_V_TEXT(payload) : DAL_V_NULL;

        rc = copy_params(&v, 1, &r->params);
    }
    if (rc) {
        req_free(r);
        return h_fail(h, rc, NULL);
    }
    r->job.sql = r->sql;
    r->job.sqllen = strlen(r->sql);
    r->job.params = r->params;
    r->job.nparams = 1;
    return start(r);
}

int dal_async_listen(dal_async *h, const char *channel,
                     dal_async_listen_cb cb)
{
    char err[256];
    dal_async *p;
    listener *ls;
    aconn *c;
    int i;

    if (!h || !channel || !cb || h->is_tx)
        return h_fail(h, DAL_E_MISUSE, NULL);
    p = h->pool;
    if (!p->ad->listen)
        return h_fail(h, DAL_E_UNSUPPORTED, "this backend's async glue has "
                                            "no notifications");
    if (dal__ident_check(channel, "channel", err, sizeof err))
        return h_fail(h, DAL_E_MISUSE, err);
    if (p->closing)
        return DAL_E_CLOSED;
    for (i = 0; i < p->nls; i++)
        if (!strcmp(p->ls[i].channel, channel)) {
            p->ls[i].cb = cb;
            return DAL_OK;
        }
    if (!(ls = dal__realloc(p->ls, (size_t)(p->nls + 1) * sizeof *ls)))
        return h_fail(h, DAL_NOMEM, NULL);
    p->ls = ls;
    if (!(ls[p->nls].channel = dal__strdup(channel)))
        return h_fail(h, DAL_NOMEM, NULL);
    ls[p->nls].cb = cb;
    ls[p->nls].on_server = 0;
    /* Notifications arrive on the first connection, which listens as
     * soon as it is ready (and again after each reconnect). */
    c = &p->conns[0];
    if (c->state == C_READY) {
        int rc = p->ad->listen(&c->a, channel, 1);

        if (rc != DAL_OK) {
            dal__free(ls[p->nls].channel);
            return h_fail(h, rc, NULL);
        }
        ls[p->nls].on_server = 1;
    }
    p->nls++;
    return DAL_OK;
}

int dal_async_unlisten(dal_async *h, const char *channel)
{
    dal_async *p;
    int i;

    if (!h || !channel || h->is_tx)
        return h_fail(h, DAL_E_MISUSE, NULL);
    p = h->pool;
    if (!p->ad->listen)
        return h_fail(h, DAL_E_UNSUPPORTED, NULL);
    for (i = 0; i < p->nls; i++)
        if (!strcmp(p->ls[i].channel, channel)) {
            if (p->ls[i].on_server && p->conns[0].state == C_READY)
                p->ad->listen(&p->conns[0].a, channel, 0);
            dal__free(p->ls[i].channel);
            p->ls[i] = p->ls[--p->nls];
            return DAL_OK;
        }
    return h_fail(h, DAL_E_MISUSE, "not listening on that channel");
}

/* ---- cancel, timeouts ------------------------------------------------ */

static void stop_req(areq *r, int why)
{
    if (r->stop)
        return;
    r->stop = why;
    switch (r->state) {
    case S_WAIT:
        l_remove(&r->pool->wait, r);
        later(r, why);
        break;
    case S_QUEUED:
        l_remove(&r->c->q, r);
        later(r, why);
        break;
    case S_SENT:
        if (r->pool->ad->cancel)
            r->pool->ad->cancel(&r->c->a, &r->job);
        break;
    default:
        break;
    }
}

static void on_timeout(uv_timer_t *t)
{
    stop_req(t->data, DAL_E_TIMEOUT);
}

int dal_async_cancel(dal_async_req *req)
{
    areq *r;

    if (!req || !(r = req->internal_) || r->req != req)
        return DAL_E_MISUSE;
    stop_req(r, DAL_E_CANCELED);
    return DAL_OK;
}

void dal_async_keep(dal_async_req *req)
{
    if (current && current->req == req)
        current->keep = 1;
}

static const struct dal__err *req_err(const dal_async_req *req)
{
    return current && current->req == req ? &current->job.err : NULL;
}

const char *dal_async_req_errmsg(const dal_async_req *req)
{
    const struct dal__err *e = req_err(req);

    if (!e)
        return "";
    if (e->msg)
        return e->msg;
    return e->code ? dal_errstr(e->code) : "";
}

const char *dal_async_req_sqlstate(const dal_async_req *req)
{
    const struct dal__err *e = req_err(req);

    if (!e || !e->code)
        return e && current->job.rc ? dal__default_sqlstate(current->job.rc)
                                    : "00000";
    return e->sqlstate;
}

const char *dal_async_req_errdetail(const dal_async_req *req)
{
    const struct dal__err *e = req_err(req);

    return e ? e->detail : NULL;
}

const char *dal_async_req_errconstraint(const dal_async_req *req)
{
    const struct dal__err *e = req_err(req);

    return e ? e->constraint : NULL;
}
