/*
 * async.c - the PostgreSQL driver's async glue (lib/async-int.h):
 * non-blocking libpq in pipeline mode, driven by a uv_poll_t on
 * PQsocket() on the loop thread.
 *
 * Connecting: PQconnectStartParams, then PQconnectPoll whenever the
 * socket is ready for what it asked. libpq may open another socket while
 * connecting (the next host of a multi-host URL, or the next address of
 * one host), perhaps under the same descriptor number, so the poll is
 * armed afresh (stopped and started, or a new handle for a new number)
 * after every step.
 *
 * Pipelining: every job is sent at once (PQsendQueryParams, each
 * followed by PQpipelineSync) and its results are read in order as they
 * come. One job is one pipeline segment: a Sync after each job means an
 * error aborts nothing but the job itself, and independent queries
 * issued together each get their own result. A job that is several
 * statements (a script) is one segment: a failing statement aborts
 * those after it (PGRES_PIPELINE_ABORTED), and the server runs the
 * segment as one implicit transaction, as PQexec runs a script. Jobs of
 * an explicit transaction (BEGIN ... COMMIT, each its own job) need no
 * grouping: a Sync does not end an explicit transaction, and once a
 * statement in it failed the server fails the next ones (25P02) by
 * itself, as on a blocking connection.
 *
 * Statements: a query's SQL text is prepared under a name the first time
 * it is seen on a session (PQsendPrepare in the same segment, before
 * its execution) and executed by name afterwards, as the blocking
 * driver's statement cache does; up to the URL's statement_cache texts
 * per session (0: every query is sent with its text). Until the server
 * confirmed a prepare, further jobs with the same text go unnamed, so a
 * prepare that fails is only its own job's error. A statement whose
 * plan went stale (0A000, the table changed) fails once and is
 * prepared again next time. Each job counts its lookup (a hit when it
 * runs by name, else a miss; no evictions) for the core, which shows
 * them to observers as the connection's dal_stmt_cache_stats(). A job
 * marked one_shot (its text carries a tracer's per-run comment) skips
 * the cache and is sent with its text.
 *
 * At most max_inflight jobs (URL option, default DAL__PG_MAX_INFLIGHT)
 * are in flight; submit says DAL__AGAIN beyond, and the core submits
 * again after the next job is done. While PQflush() says the socket took
 * only part of the output, the poll also waits for UV_WRITABLE.
 *
 * Cancel: PQcancel() blocks (it opens a connection to the server), so it
 * runs on libuv's thread pool (uv_queue_work); this is rare. A job is
 * cancelled only once it is the first in flight, since a cancel request
 * interrupts whatever the session runs at that moment; one that has not
 * been sent yet is simply dropped.
 *
 * Lost connections: every job in flight ends with DAL_E_CONNECT, then
 * dal__aconn_lost(); the core connects again (open) for the next job, and
 * a job submitted meanwhile starts the reconnect by itself. The channels
 * listened to are listened to again on the new session, and the next
 * notification carries missed = 1: those sent in between are lost.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <uv.h>

#include "async-int.h"
#include "pg-int.h"

enum {
    PGA_IDLE,        /* no session: never connected, failed or lost */
    PGA_CONNECTING,
    PGA_READY,
    PGA_CLOSING
};

/* A job's backend state, kept in its bdata: the statements whose
 * results have not all come, and flags. */
#define JF_SENT 0x10000u      /* its statements and Sync were sent */
#define JF_CANCEL 0x20000u    /* cancel asked */
#define JF_CANCELING 0x40000u /* the cancel request went out */
#define JF_INTERNAL 0x80000u  /* LISTEN/UNLISTEN of ours, not the core's */
#define JF_COUNT 0xffffu
/* The cache slot (1-based) a job prepares in its first statement. */
#define JF_PREP_SHIFT 20
#define JF_PREP_MASK (0xffu << JF_PREP_SHIFT)
#define PGA_CACHE_MAX 255
#define JF_LAST 0x10000000u   /* a Sync follows it: wait for that too */
/* Column name sets kept for results to share (see shape_of). */
#define PGA_SHAPES 4

/* A statement prepared on the session, by its SQL text. */
typedef struct pga_stmt {
    char *sql;
    size_t len;
    int nparams;
    int ready;           /* the server confirmed the prepare */
    char name[24];
} pga_stmt;

typedef struct pga_conn pga_conn;

typedef struct pga_cancel {
    uv_work_t work;
    PGcancel *cancel;
    pga_conn *pg;
} pga_cancel;

struct pga_conn {
    dal__aconn *c;
    PGconn *pc;
    int state;
    int open_pending;    /* the core waits for dal__aconn_ready */
    int was_ready;       /* some session was ready before */
    int missed;          /* pass missed = 1 with the next notification */
    int max_inflight;
    int njobs;           /* the core's jobs in the queue */
    int in_pump;         /* inside the poll callback: flush at its end */
    int dead;            /* freed once the handles below are closed */
    int broken;          /* sending failed: lost() from the kick */
    int sync_batch;      /* pipeline_sync=batch: a Sync per batch */
    dal__ajob *seg_last; /* the last job sent since the last Sync */
    int silent;          /* a failed open: freed without closed() */
    uv_poll_t *poll;     /* NULL when none */
    int poll_fd;
    int poll_events;
    uv_timer_t kick;     /* runs the close off the core's call */
    int nhandles;        /* uv handles not closed yet */
    int ncancel;         /* cancel requests on the thread pool */
    dal__ajob *head, *tail; /* every job not done, in order */
    char **channels;
    int nchannels;
    char *password, *secret; /* scrubbed from messages */
    char *buf;           /* decoded bytea */
    size_t cap;
    pga_stmt *stmts;     /* the statement cache, ncache slots */
    int ncache;          /* slots (the URL's statement_cache) */
    int hint;            /* the slot found last */
    dal_result *shapes[PGA_SHAPES]; /* column names results share */
    int next_shape;
    unsigned long next_name;
};

static void poll_cb(uv_poll_t *h, int status, int events);
static void broke(pga_conn *pg);
static int start(pga_conn *pg);
static int sync_now(pga_conn *pg);

/* ---- job state --------------------------------------------------- */

static unsigned jstate(const dal__ajob *j)
{
    return (unsigned)(uintptr_t)j->bdata;
}

static void jset(dal__ajob *j, unsigned st)
{
    j->bdata = (void *)(uintptr_t)st;
}

static void enqueue(pga_conn *pg, dal__ajob *j)
{
    j->bnext = NULL;
    if (pg->tail)
        pg->tail->bnext = j;
    else
        pg->head = j;
    pg->tail = j;
    if (!(jstate(j) & JF_INTERNAL))
        pg->njobs++;
}

static dal__ajob *dequeue(pga_conn *pg)
{
    dal__ajob *j = pg->head;

    pg->head = j->bnext;
    if (!pg->head)
        pg->tail = NULL;
    j->bnext = NULL;
    if (!(jstate(j) & JF_INTERNAL))
        pg->njobs--;
    if (pg->seg_last == j)
        pg->seg_last = NULL;
    return j;
}

static void internal_free(dal__ajob *j)
{
    dal__free((char *)j->sql);
    dal__free(j);
}

/*
 * Hand the first job back (or free it when it is ours). The core's
 * callback may submit, cancel or close: the caller checks pg->state
 * afterwards.
 */
static void finish_head(pga_conn *pg)
{
    dal__ajob *j = dequeue(pg);

    if (jstate(j) & JF_INTERNAL) {
        internal_free(j);
        return;
    }
    jset(j, 0);
    dal__ajob_done(pg->c, j);
}

static void job_fail(dal__ajob *j, int rc, const char *sqlstate,
                     const char *msg)
{
    if (j->rc != DAL_OK && rc != DAL_E_CONNECT && rc != DAL_E_CLOSED)
        return;
    if (j->res) {
        dal_result_free(j->res);
        j->res = NULL;
    }
    dal__ajob_seterr(j, rc, sqlstate, -1, msg, NULL, NULL, NULL);
    j->rc = rc;
}

/*
 * End every job with rc, in order (close, lost connection, failed
 * connect): a job that had failed already (the statement the server
 * ended the session in, 57P01) gets rc too, since its segment never
 * ended. The queue is taken first: a callback may submit jobs for the
 * next session, which wait in a new queue.
 */
static void fail_all(pga_conn *pg, int rc, const char *sqlstate,
                     const char *msg)
{
    dal__ajob *list = pg->head;

    pg->head = pg->tail = NULL;
    pg->njobs = 0;
    pg->seg_last = NULL;
    while (list) {
        dal__ajob *j = list;

        list = j->bnext;
        j->bnext = NULL;
        if (jstate(j) & JF_INTERNAL) {
            internal_free(j);
            continue;
        }
        if (jstate(j) & JF_CANCEL && !(jstate(j) & JF_SENT))
            job_fail(j, DAL_E_CANCELED, "57014", "canceled");
        else
            job_fail(j, rc, sqlstate, msg);
        jset(j, 0);
        dal__ajob_done(pg->c, j);
    }
}

/* ---- the poll ---------------------------------------------------- */

/* The last of pg: free it, and tell the core unless open failed. */
static void release(pga_conn *pg)
{
    dal__aconn *c = pg->c;
    int silent = pg->silent;

    dal__free(pg);
    if (!silent)
        dal__aconn_closed(c);
}

static void handle_closed(uv_handle_t *h)
{
    pga_conn *pg = h->data;

    if ((uv_handle_t *)&pg->kick != h)
        dal__free(h);
    pg->nhandles--;
    if (pg->dead && pg->nhandles == 0 && pg->ncancel == 0)
        release(pg);
}

static void poll_drop(pga_conn *pg)
{
    if (!pg->poll)
        return;
    uv_poll_stop(pg->poll);
    uv_close((uv_handle_t *)pg->poll, handle_closed);
    pg->poll = NULL;
    pg->poll_fd = -1;
    pg->poll_events = 0;
}

/*
 * Watch fd for events. fresh: the descriptor may stand for a new socket
 * (connecting), so the registration is made anew even when the number
 * is the same.
 */
static int arm(pga_conn *pg, int fd, int events, int fresh)
{
    if (pg->poll && pg->poll_fd != fd)
        poll_drop(pg);
    if (!pg->poll) {
        uv_poll_t *h = dal__malloc(sizeof *h);

        if (!h)
            return DAL_NOMEM;
        if (uv_poll_init(pg->c->loop, h, fd) != 0) {
            dal__free(h);
            return DAL_E_CONNECT;
        }
        h->data = pg;
        pg->nhandles++;
        pg->poll = h;
        pg->poll_fd = fd;
        pg->poll_events = 0;
    } else if (fresh) {
        uv_poll_stop(pg->poll);
        pg->poll_events = 0;
    }
    if (pg->poll_events == events)
        return DAL_OK;
    if (uv_poll_start(pg->poll, events, poll_cb) != 0)
        return DAL_E_CONNECT;
    pg->poll_events = events;
    return DAL_OK;
}

/* ---- sending ----------------------------------------------------- */

/* The session is gone: end every job with DAL_E_CONNECT, then tell the
 * core. */
static void lost(pga_conn *pg, const char *why)
{
    char msg[1100];

    if (pg->pc) {
        dal__pg_err e;

        dal__pg_err_read(pg->pc, NULL, pg->password, pg->secret, &e);
        snprintf(msg, sizeof msg, "%s%s%s", why, e.msg[0] ? ": " : "",
                 e.msg);
    } else {
        snprintf(msg, sizeof msg, "%s", why);
    }
    poll_drop(pg);
    if (pg->pc)
        PQfinish(pg->pc);
    pg->pc = NULL;
    pg->state = PGA_IDLE;
    pg->broken = 0;
    fail_all(pg, DAL_E_CONNECT, "08006", msg);
    if (pg->state == PGA_CLOSING)
        return;
    dal__aconn_lost(pg->c, DAL_E_CONNECT);
    /* A connection that listens comes back by itself (one attempt), so
     * that notifications flow again without waiting for a query; jobs
     * and the core's own reconnect find it ready or connecting. */
    if (pg->state == PGA_IDLE && pg->nchannels && pg->c->bdata == pg)
        start(pg);
}

/* Make the output go: now when it can, else when the socket takes it. */
static int flush(pga_conn *pg)
{
    int r;

    if (pg->seg_last && sync_now(pg))
        return DAL_E_CONNECT;
    r = PQflush(pg->pc);

    if (r < 0)
        return DAL_E_CONNECT;
    return arm(pg, pg->poll_fd, UV_READABLE | (r ? UV_WRITABLE : 0), 0);
}

/* ---- the statement cache ---------------------------------------- */

static void cache_drop(pga_stmt *st)
{
    dal__free(st->sql);
    st->sql = NULL;
    st->ready = 0;
}

static void cache_clear(pga_conn *pg)
{
    int i;

    for (i = 0; i < pg->ncache; i++)
        cache_drop(&pg->stmts[i]);
}

/*
 * The slot for sql: *slot is its index, or -1 when it is not cached and
 * cannot be (cache full or off). Returns 1 when the statement is ready
 * to run by name, 0 when it must go with its text: *slot >= 0 then says
 * to prepare it into that slot now (a new entry), -1 not to.
 */
static int cache_find(pga_conn *pg, const char *sql, size_t len,
                      int nparams, int *slot)
{
    int i, free_slot = -1;

    *slot = -1;
    /* Programs run the same statement again and again: the slot found
     * last is looked at first. */
    if (pg->ncache > 0) {
        pga_stmt *st = &pg->stmts[pg->hint];

        if (st->sql && st->len == len && st->nparams == nparams
            && !memcmp(st->sql, sql, len)) {
            *slot = st->ready ? pg->hint : -1;
            return st->ready;
        }
    }
    for (i = 0; i < pg->ncache; i++) {
        pga_stmt *st = &pg->stmts[i];

        if (!st->sql) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (st->len == len && st->nparams == nparams
            && !memcmp(st->sql, sql, len)) {
            pg->hint = i;
            *slot = st->ready ? i : -1;
            return st->ready;
        }
    }
    if (free_slot >= 0) {
        pga_stmt *st = &pg->stmts[free_slot];

        if ((st->sql = dal__strndup(sql, len)) != NULL) {
            st->len = len;
            st->nparams = nparams;
            st->ready = 0;
            snprintf(st->name, sizeof st->name, "dal_a%lu",
                     ++pg->next_name);
            *slot = free_slot;
        }
    }
    return 0;
}

/* Send one statement of j; a refusal that leaves the session sound is
 * j's error. */
static int send_one(pga_conn *pg, dal__ajob *j, const char *sql,
                    size_t sqllen, const dal_value *params, int nparams,
                    int cache)
{
    const char *vals[16], **v = vals;
    int lens[16], fmts[16], *l = lens, *f = fmts, i, rc = DAL_OK, ok;
    char nums[16][32], (*num)[32] = nums;

    if (nparams > 16) {
        v = dal__malloc((size_t)nparams * sizeof *v);
        l = dal__malloc((size_t)nparams * sizeof *l);
        f = dal__malloc((size_t)nparams * sizeof *f);
        num = dal__malloc((size_t)nparams * sizeof *num);
        if (!v || !l || !f || !num) {
            rc = DAL_NOMEM;
            goto out;
        }
    }
    for (i = 0; i < nparams; i++)
        if (dal__pg_param(&params[i], num[i], &v[i], &l[i], &f[i])) {
            job_fail(j, DAL_E_DATA, "54000", "a parameter is larger than "
                     "PostgreSQL takes");
            goto out;
        }
    if (cache) {
        int slot, named = cache_find(pg, sql, sqllen, nparams, &slot);
        int failed = 0;

        /* Counted as the blocking cache counts (dal_stmt_cache_stats):
         * run by name, a hit; sent with its text, a miss. Nothing is
         * ever evicted: once the cache is full, new texts go unnamed. */
        if (pg->ncache > 0)
            j->cache_stat[named ? 0 : 1]++;
        if (!named && slot >= 0) {
            /* New: prepare it in this job's segment, then run it. */
            named = PQsendPrepare(pg->pc, pg->stmts[slot].name, sql,
                                  nparams, NULL);
            if (named)
                jset(j, (jstate(j) + 1) | ((unsigned)(slot + 1)
                                           << JF_PREP_SHIFT));
            else
                cache_drop(&pg->stmts[slot]);
            failed = !named;
        }
        if (failed)
            ok = 0;
        else if (named)
            ok = PQsendQueryPrepared(pg->pc, pg->stmts[slot].name, nparams,
                                     v, l, f, 0);
        else
            ok = PQsendQueryParams(pg->pc, sql, nparams, NULL, v, l, f, 0);
    } else {
        ok = PQsendQueryParams(pg->pc, sql, nparams, NULL, v, l, f, 0);
    }
    if (!ok) {
        dal__pg_err e;

        if (PQstatus(pg->pc) == CONNECTION_BAD) {
            rc = DAL_E_CONNECT;
            goto out;
        }
        dal__pg_err_read(pg->pc, NULL, pg->password, pg->secret, &e);
        job_fail(j, DAL_ERROR, NULL, e.msg);
        goto out;
    }
    jset(j, jstate(j) + 1);
out:
    if (v != vals) {
        dal__free(v);
        dal__free(l);
        dal__free(f);
        dal__free(num);
    }
    return rc;
}

/* A script, one statement at a time (the extended protocol takes one). */
static int send_script(pga_conn *pg, dal__ajob *j)
{
    const char *p = j->sql, *end = j->sql + j->sqllen;
    int rc = DAL_OK;

    while (p < end && rc == DAL_OK && j->rc == DAL_OK) {
        size_t n = dal__sql_stmt_end(p);
        char *one;

        if (n > (size_t)(end - p))
            n = (size_t)(end - p);
        if (n == 0)
            break;
        if (!dal__sql_is_blank(p, n)) {
            if (!(one = dal__strndup(p, n)))
                return DAL_NOMEM;
            rc = send_one(pg, j, one, n, NULL, 0, 0);
            dal__free(one);
        }
        p += n;
    }
    return rc;
}

/* End the open pipeline segment. Its last job waits for the Sync's
 * result; one that already ended leaves the Sync to nobody, and
 * read_results skips it. */
static int sync_now(pga_conn *pg)
{
    if (!PQpipelineSync(pg->pc))
        return DAL_E_CONNECT;
    if (pg->seg_last)
        jset(pg->seg_last, jstate(pg->seg_last) | JF_LAST);
    pg->seg_last = NULL;
    return DAL_OK;
}

/*
 * Send j and its Sync (pipeline_sync=batch: the Sync goes at the end of
 * the loop's turn, after every job issued in it). DAL_E_CONNECT: the
 * session broke (the caller calls lost); DAL_NOMEM: nothing of j could
 * go out (j's error, and j still gets its Sync so that it ends in
 * order).
 */
static int send_job(pga_conn *pg, dal__ajob *j)
{
    int rc = DAL_OK;

    if (jstate(j) & JF_CANCEL) {
        job_fail(j, DAL_E_CANCELED, "57014", "canceled before it was "
                 "sent");
    } else if (j->kind == DAL__AJ_NOTIFY) {
        dal_value p[2];

        p[0].type = DAL_TYPE_TEXT;
        p[0].u.s.p = j->sql;
        p[0].u.s.len = j->sqllen;
        p[1] = j->nparams > 0 ? j->params[0] : (dal_value){DAL_TYPE_NULL,
                                                           {0}};
        static const char notify[] = "SELECT pg_notify($1, $2)";

        rc = send_one(pg, j, notify, sizeof notify - 1, p, 2, 1);
    } else if (j->tx == DAL__ATX_BEGIN && j->tx_flags) {
        dal__buf b = {0};

        rc = dal__pg_begin_text(j->tx_flags, &b);
        if (rc == DAL_OK)
            rc = send_one(pg, j, b.p, strlen(b.p), NULL, 0, 0);
        dal__buf_free(&b);
    } else if (j->kind == DAL__AJ_EXEC && j->nparams == 0) {
        rc = send_script(pg, j);
    } else {
        rc = send_one(pg, j, j->sql, j->sqllen, j->params, j->nparams,
                      j->kind == DAL__AJ_QUERY && !j->one_shot);
    }
    if (rc == DAL_NOMEM) {
        job_fail(j, DAL_NOMEM, NULL, NULL);
        rc = DAL_OK;
    }
    if (rc)
        return rc;
    jset(j, jstate(j) | JF_SENT);
    pg->seg_last = j;
    return pg->sync_batch ? DAL_OK : sync_now(pg);
}

/* Send what waited for the session, then flush unless pump will. */
static int send_queued(pga_conn *pg)
{
    dal__ajob *j;

    for (j = pg->head; j; j = j->bnext)
        if (!(jstate(j) & JF_SENT) && send_job(pg, j))
            return DAL_E_CONNECT;
    if (!pg->in_pump && flush(pg))
        return DAL_E_CONNECT;
    return DAL_OK;
}

/* A LISTEN or UNLISTEN of ours, queued. */
static int listen_job(pga_conn *pg, const char *verb, const char *channel,
                      int first)
{
    dal__buf b = {0};
    dal__ajob *j;

    if (dal__buf_adds(&b, verb) || dal__buf_addc(&b, ' ')
        || dal__buf_ident(&b, channel) || dal__buf_addc(&b, '\0')) {
        dal__buf_free(&b);
        return DAL_NOMEM;
    }
    if (!(j = dal__calloc(1, sizeof *j))) {
        dal__buf_free(&b);
        return DAL_NOMEM;
    }
    j->kind = DAL__AJ_EXEC;
    j->sql = b.p;
    j->sqllen = b.len - 1;
    jset(j, JF_INTERNAL);
    if (first && pg->head) {
        j->bnext = pg->head;
        pg->head = j;
    } else {
        enqueue(pg, j);
    }
    return DAL_OK;
}

/* ---- cancel ------------------------------------------------------ */

static void cancel_work(uv_work_t *w)
{
    pga_cancel *k = w->data;
    char err[256];

    /* Whether it worked shows in the statement's result. */
    PQcancel(k->cancel, err, sizeof err);
}

static void cancel_after(uv_work_t *w, int status)
{
    pga_cancel *k = w->data;
    pga_conn *pg = k->pg;

    (void)status;
    PQfreeCancel(k->cancel);
    dal__free(k);
    pg->ncancel--;
    if (pg->dead && pg->nhandles == 0 && pg->ncancel == 0)
        release(pg);
}

/* Send a cancel request for whatever the session runs now, off the
 * loop; it holds its own copy of what it needs, so the session may end
 * meanwhile. */
static void cancel_session(pga_conn *pg)
{
    pga_cancel *k;

    if (!(k = dal__malloc(sizeof *k)))
        return;
    k->pg = pg;
    k->work.data = k;
    if (!(k->cancel = PQgetCancel(pg->pc))) {
        dal__free(k);
        return;
    }
    if (uv_queue_work(pg->c->loop, &k->work, cancel_work, cancel_after)) {
        PQfreeCancel(k->cancel);
        dal__free(k);
        return;
    }
    pg->ncancel++;
}

/* Interrupt the first job when its cancel was asked. */
static void cancel_head(pga_conn *pg)
{
    dal__ajob *j = pg->head;

    if (!j || !pg->pc || (jstate(j) & (JF_CANCEL | JF_SENT | JF_CANCELING))
                             != (JF_CANCEL | JF_SENT))
        return;
    jset(j, jstate(j) | JF_CANCELING);
    cancel_session(pg);
}

/* ---- results ----------------------------------------------------- */

/* Columns whose type rows_of keeps at hand; more are looked up again. */
#define PGA_COLS 32

/*
 * A result of no rows holding res's column names, for res's result to
 * share (dal__result_sized_like) rather than copy them: one kept from an
 * earlier result when it has the same names, else a new one kept in
 * place of the one made longest ago. Each result holds a reference to
 * its names, so one kept by the caller outlives the set here. NULL when
 * out of memory.
 */
static dal_result *shape_of(pga_conn *pg, const PGresult *res, int ncols)
{
    dal_result *sh;
    size_t bytes = 0;
    int k, col;

    for (k = 0; k < PGA_SHAPES; k++) {
        sh = pg->shapes[k];
        if (!sh || dal_result_column_count(sh) != ncols)
            continue;
        for (col = 0; col < ncols; col++)
            if (strcmp(dal_result_column_name(sh, col), PQfname(res, col)))
                break;
        if (col == ncols)
            return sh;
    }
    for (col = 0; col < ncols; col++)
        bytes += strlen(PQfname(res, col)) + 1;
    if (!(sh = dal__result_sized(ncols, 0, bytes)))
        return NULL;
    for (col = 0; col < ncols; col++) {
        const char *name = PQfname(res, col);

        /* Cannot fail: the room was counted above. */
        (void)dal__result_colname(sh, col, name, strlen(name));
    }
    k = pg->next_shape;
    pg->next_shape = (k + 1) % PGA_SHAPES;
    dal_result_free(pg->shapes[k]);
    pg->shapes[k] = sh;
    return sh;
}

/*
 * res's rows as j's result, in one block sized first: the values, and
 * the text and blobs (a bytea decodes shorter than its text form, so its
 * text length bounds it); the column names are shared (shape_of).
 */
static void rows_of(pga_conn *pg, dal__ajob *j, const PGresult *res)
{
    int ncols = PQnfields(res), nrows = PQntuples(res), r, col;
    Oid oids[PGA_COLS];
    dal_result *out = NULL, *shape;
    size_t bytes = 0;
    dal_value v;

    if (j->res) {
        dal_result_free(j->res);
        j->res = NULL;
    }
    if (ncols == 0 || j->kind == DAL__AJ_NOTIFY)
        return;
    for (col = 0; col < ncols; col++) {
        Oid oid = PQftype(res, col);
        dal_type t = dal__pg_oid_type(oid);

        if (col < PGA_COLS)
            oids[col] = oid;
        if (t == DAL_TYPE_TEXT || t == DAL_TYPE_BLOB)
            for (r = 0; r < nrows; r++)
                bytes += (size_t)PQgetlength(res, r, col) + 1;
    }
    if (!(shape = shape_of(pg, res, ncols))
        || !(out = dal__result_sized_like(shape, nrows, bytes)))
        goto nomem;
    for (r = 0; r < nrows; r++)
        for (col = 0; col < ncols; col++) {
            Oid oid = col < PGA_COLS ? oids[col] : PQftype(res, col);

            if (dal__pg_value(res, r, col, oid, &v, &pg->buf, &pg->cap))
                goto nomem;
            /* The slots start NULL. */
            if (v.type != DAL_TYPE_NULL && dal__result_set(out, r, col, &v))
                goto nomem;
        }
    j->res = out;
    return;
nomem:
    dal_result_free(out);
    job_fail(j, DAL_NOMEM, NULL, NULL);
}

static void changes_of(dal__ajob *j, const PGresult *res)
{
    const char *st = PQcmdStatus((PGresult *)res);

    /* SELECT changes nothing: no four comparisons for the most common
     * statement. */
    if (st[0] == 'S')
        return;
    if (!strncmp(st, "INSERT", 6) || !strncmp(st, "UPDATE", 6)
        || !strncmp(st, "DELETE", 6) || !strncmp(st, "MERGE", 5))
        j->changes = strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
}

/* j's statement was prepared before a table it reads changed: prepare
 * it again next time. */
static void stale(pga_conn *pg, const dal__ajob *j)
{
    int i;

    for (i = 0; i < pg->ncache; i++)
        if (pg->stmts[i].sql && pg->stmts[i].len == j->sqllen
            && !memcmp(pg->stmts[i].sql, j->sql, j->sqllen))
            cache_drop(&pg->stmts[i]);
}

/* One result of j's current statement. */
static void take(pga_conn *pg, dal__ajob *j, PGresult *res)
{
    dal__pg_err e;

    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
        if (j->rc == DAL_OK) {
            rows_of(pg, j, res);
            changes_of(j, res);
        }
        break;
    case PGRES_COMMAND_OK:
        if (j->rc == DAL_OK) {
            if (j->res) {
                dal_result_free(j->res);
                j->res = NULL;
            }
            changes_of(j, res);
        }
        break;
    case PGRES_EMPTY_QUERY:
        break;
    case PGRES_PIPELINE_ABORTED:
        job_fail(j, DAL_E_TX, "25P02", "not run: an earlier statement of "
                 "its pipeline segment failed");
        break;
    default:
        if (j->rc != DAL_OK)
            break;
        dal__pg_err_read(pg->pc, res, pg->password, pg->secret, &e);
        if (e.sqlstate && !strcmp(e.sqlstate, "0A000")
            && strstr(e.msg, "cached plan must not change result"))
            stale(pg, j);
        if (j->res) {
            dal_result_free(j->res);
            j->res = NULL;
        }
        dal__ajob_seterr(j, e.rc, e.sqlstate, e.native,
                         e.msg[0] ? e.msg : NULL, e.detail, e.hint,
                         e.constraint);
        j->rc = e.rc;
        break;
    }
}

/*
 * Read every result that has come, handing jobs back in order. Returns
 * nonzero when the session broke; stops when a callback closed us.
 */
static int read_results(pga_conn *pg)
{
    while (pg->head && pg->state == PGA_READY) {
        dal__ajob *j = pg->head;
        unsigned st = jstate(j);
        PGresult *res;

        if (!(st & JF_SENT))
            break;
        if (!(st & (JF_COUNT | JF_LAST))) {
            /* Within a segment (or at the end of one whose Sync is yet
             * to go): done at its last statement's end. */
            finish_head(pg);
            if (pg->state == PGA_READY)
                cancel_head(pg);
            continue;
        }
        if (PQisBusy(pg->pc))
            break;
        res = PQgetResult(pg->pc);
        if (st & JF_COUNT) {
            if (res && PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
                /* The Sync of a segment whose jobs all ended. */
                PQclear(res);
                continue;
            }
            if (!res) {
                /* The end of one statement's results. */
                jset(j, st - 1);
                continue;
            }
            if (st & JF_PREP_MASK) {
                /* The prepare this job sent before its query. */
                pga_stmt *ps = &pg->stmts[((st & JF_PREP_MASK)
                                           >> JF_PREP_SHIFT) - 1];

                jset(j, st & ~JF_PREP_MASK);
                if (PQresultStatus(res) == PGRES_COMMAND_OK) {
                    ps->ready = 1;
                    PQclear(res);
                    continue;
                }
                cache_drop(ps);
            }
            take(pg, j, res);
            PQclear(res);
            continue;
        }
        if (!res) {
            if (PQstatus(pg->pc) == CONNECTION_BAD)
                return 1;
            break;
        }
        if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
            /* Nothing else can come between the last statement's end
             * and its Sync; a session that says otherwise is broken. */
            PQclear(res);
            return 1;
        }
        PQclear(res);
        finish_head(pg);
        if (pg->state == PGA_READY)
            cancel_head(pg);
    }
    return 0;
}

static void notifications(pga_conn *pg)
{
    PGnotify *n;

    while (pg->state == PGA_READY && (n = PQnotifies(pg->pc)) != NULL) {
        int missed = pg->missed;

        pg->missed = 0;
        dal__aconn_notify(pg->c, n->relname, n->extra ? n->extra : "",
                          n->be_pid, missed);
        PQfreemem(n);
    }
}

/* ---- connecting -------------------------------------------------- */

static void ready_cb(pga_conn *pg, int rc)
{
    if (pg->open_pending) {
        pg->open_pending = 0;
        dal__aconn_ready(pg->c, rc);
    }
}

static void connect_failed(pga_conn *pg, int rc, const char *msg)
{
    poll_drop(pg);
    if (pg->pc)
        PQfinish(pg->pc);
    pg->pc = NULL;
    pg->state = PGA_IDLE;
    dal__aconn_seterr(pg->c, rc, "08001", msg);
    /* Jobs that waited for this session fail with its error. */
    fail_all(pg, DAL_E_CONNECT, "08001", msg);
    if (pg->state != PGA_CLOSING)
        ready_cb(pg, rc);
}

static void connected(pga_conn *pg)
{
    int i;

    if (PQsetnonblocking(pg->pc, 1) || !PQenterPipelineMode(pg->pc)) {
        connect_failed(pg, DAL_E_CONNECT, "cannot enter pipeline mode");
        return;
    }
    PQsetNoticeProcessor(pg->pc, dal__pg_ignore_notice, NULL);
    pg->state = PGA_READY;
    if (pg->was_ready && pg->nchannels)
        pg->missed = 1;
    pg->was_ready = 1;
    /* Listen again before anything waiting runs. */
    for (i = pg->nchannels - 1; i >= 0; i--)
        if (listen_job(pg, "LISTEN", pg->channels[i], 1)) {
            connect_failed(pg, DAL_NOMEM, "out of memory");
            return;
        }
    if (arm(pg, PQsocket(pg->pc), UV_READABLE, 1) || send_queued(pg))
        broke(pg);
    ready_cb(pg, DAL_OK);
}

static void connect_step(pga_conn *pg)
{
    char msg[1200];
    int rc;

    switch (PQconnectPoll(pg->pc)) {
    case PGRES_POLLING_OK:
        connected(pg);
        return;
    case PGRES_POLLING_READING:
        if (arm(pg, PQsocket(pg->pc), UV_READABLE, 1) == DAL_OK)
            return;
        break;
    case PGRES_POLLING_WRITING:
        if (arm(pg, PQsocket(pg->pc), UV_WRITABLE, 1) == DAL_OK)
            return;
        break;
    default:
        break;
    }
    rc = dal__pg_connect_err(pg->c->url, pg->pc, pg->password, msg,
                             sizeof msg);
    connect_failed(pg, rc, msg);
}

/* Start a session; DAL_OK, or the error recorded on c. */
static int start(pga_conn *pg)
{
    dal__pg_conninfo_t ci;
    char err[1200];
    int rc;

    rc = dal__pg_conninfo(pg->c->url, &ci, err, sizeof err);
    if (rc == DAL_NOMEM)
        return dal__aconn_seterr(pg->c, DAL_NOMEM, NULL, NULL);
    if (rc)
        return dal__aconn_seterr(pg->c, rc, "08001", err);
    pg->max_inflight = ci.max_inflight;
    pg->sync_batch = ci.sync_batch;
    pg->seg_last = NULL;
    /* A new session has none of the old one's statements. */
    cache_clear(pg);
    if (!pg->stmts && pg->c->url->stmt_cache > 0) {
        int n = pg->c->url->stmt_cache < PGA_CACHE_MAX
                ? pg->c->url->stmt_cache : PGA_CACHE_MAX;

        if ((pg->stmts = dal__calloc((size_t)n, sizeof *pg->stmts)))
            pg->ncache = n;
    }
    dal__free(pg->password);
    dal__free(pg->secret);
    pg->password = ci.password;
    pg->secret = ci.secret;
    ci.password = ci.secret = NULL;
    pg->pc = PQconnectStartParams(ci.keys, ci.vals, 1);
    dal__pg_conninfo_free(&ci);
    if (!pg->pc)
        return dal__aconn_seterr(pg->c, DAL_NOMEM, NULL, NULL);
    if (PQstatus(pg->pc) == CONNECTION_BAD || PQsocket(pg->pc) < 0) {
        rc = dal__pg_connect_err(pg->c->url, pg->pc, pg->password, err,
                                 sizeof err);
        PQfinish(pg->pc);
        pg->pc = NULL;
        return dal__aconn_seterr(pg->c, rc, "08001", err);
    }
    /* PQconnectPoll starts as if it had asked for the socket to be
     * writable. */
    if ((rc = arm(pg, PQsocket(pg->pc), UV_WRITABLE, 1)) != DAL_OK) {
        PQfinish(pg->pc);
        pg->pc = NULL;
        return dal__aconn_seterr(pg->c, rc, "08001", "cannot watch the "
                                 "socket");
    }
    pg->state = PGA_CONNECTING;
    return DAL_OK;
}

/* ---- the loop's side --------------------------------------------- */

static void pump(pga_conn *pg, int events)
{
    if (events & UV_WRITABLE) {
        if (PQflush(pg->pc) < 0)
            goto broken;
    }
    if (events & UV_READABLE) {
        if (!PQconsumeInput(pg->pc))
            goto broken;
    }
    pg->in_pump = 1;
    if (read_results(pg)) {
        pg->in_pump = 0;
        if (pg->state == PGA_READY)
            goto broken;
        return;
    }
    notifications(pg);
    pg->in_pump = 0;
    if (pg->state != PGA_READY)
        return;
    if (PQstatus(pg->pc) == CONNECTION_BAD || flush(pg))
        goto broken;
    return;
broken:
    lost(pg, "the connection was lost");
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    pga_conn *pg = h->data;

    if (pg->poll != h)
        return;
    if (pg->state == PGA_CONNECTING) {
        /* libuv reports a socket error (a refused connect) as UV_EBADF
         * and stops watching; PQconnectPoll reads the error itself and
         * moves on to the next address or host. */
        (void)status;
        connect_step(pg);
        return;
    }
    if (pg->state != PGA_READY)
        return;
    if (status < 0) {
        lost(pg, uv_strerror(status));
        return;
    }
    pump(pg, events);
}

static void free_state(pga_conn *pg)
{
    int i;

    for (i = 0; i < pg->nchannels; i++)
        dal__free(pg->channels[i]);
    dal__free(pg->channels);
    dal__free(pg->password);
    dal__free(pg->secret);
    dal__free(pg->buf);
    cache_clear(pg);
    for (i = 0; i < PGA_SHAPES; i++) {
        dal_result_free(pg->shapes[i]);
        pg->shapes[i] = NULL;
    }
    dal__free(pg->stmts);
    pg->stmts = NULL;
    pg->ncache = 0;
    pg->channels = NULL;
    pg->nchannels = 0;
}

/* Work that must not run inside the core's call that caused it. */
static void kick_cb(uv_timer_t *t)
{
    pga_conn *pg = t->data;

    if (pg->state == PGA_READY && pg->broken) {
        lost(pg, "the connection was lost");
        return;
    }
    if (pg->state == PGA_READY) {
        /* pipeline_sync=batch: the Sync after this turn's jobs. */
        if (pg->seg_last && flush(pg)) {
            lost(pg, "the connection was lost");
            return;
        }
        ready_cb(pg, DAL_OK);
        return;
    }
    if (pg->state != PGA_CLOSING)
        return;
    /* A statement still running would go on after the session ended
     * (the server reads the Terminate message only between statements,
     * and holds its locks and snapshot till then): interrupt it. */
    if (pg->pc && pg->head && (jstate(pg->head) & JF_SENT))
        cancel_session(pg);
    /* Every job is handed back before the session ends. */
    fail_all(pg, DAL_E_CLOSED, "08003", "the connection was closed");
    poll_drop(pg);
    if (pg->pc)
        PQfinish(pg->pc);
    pg->pc = NULL;
    free_state(pg);
    pg->dead = 1;
    uv_close((uv_handle_t *)&pg->kick, handle_closed);
}

/* The session broke inside a call of the core's: end it from the loop. */
static void broke(pga_conn *pg)
{
    pg->broken = 1;
    uv_timer_start(&pg->kick, kick_cb, 0, 0);
}

/* ---- the seam ---------------------------------------------------- */

static int pga_open(dal__aconn *c)
{
    pga_conn *pg = c->bdata;
    int rc;

    if (pg) {
        /* Again after a lost session (or one a job started). */
        if (pg->state == PGA_CONNECTING) {
            pg->open_pending = 1;
            return DAL_OK;
        }
        if (pg->state == PGA_READY) {
            pg->open_pending = 1;
            return uv_timer_start(&pg->kick, kick_cb, 0, 0) ? DAL_NOMEM
                                                             : DAL_OK;
        }
        if ((rc = start(pg)) != DAL_OK)
            return rc;
        pg->open_pending = 1;
        return DAL_OK;
    }
    if (!(pg = dal__calloc(1, sizeof *pg)))
        return dal__aconn_seterr(c, DAL_NOMEM, NULL, NULL);
    pg->c = c;
    pg->poll_fd = -1;
    pg->state = PGA_IDLE;
    pg->max_inflight = DAL__PG_MAX_INFLIGHT;
    if ((rc = start(pg)) != DAL_OK) {
        poll_drop(pg);
        free_state(pg);
        if (pg->nhandles == 0) {
            dal__free(pg);
        } else {
            pg->dead = 1; /* freed by the poll's close callback */
            pg->silent = 1;
        }
        return rc;
    }
    uv_timer_init(c->loop, &pg->kick);
    pg->kick.data = pg;
    pg->nhandles++;
    pg->open_pending = 1;
    c->bdata = pg;
    return DAL_OK;
}

static int pga_submit(dal__aconn *c, dal__ajob *j)
{
    pga_conn *pg = c->bdata;

    if (pg->state == PGA_CLOSING)
        return DAL_E_CLOSED;
    if (pg->njobs >= pg->max_inflight)
        return DAL__AGAIN;
    jset(j, 0);
    j->rc = DAL_OK;
    j->res = NULL;
    j->changes = 0;
    if (pg->state == PGA_IDLE) {
        /* No session (lost): this job starts the next one. */
        int rc = start(pg);

        if (rc)
            return rc;
    }
    enqueue(pg, j);
    if (pg->state != PGA_READY)
        return DAL_OK;
    /* Broken while sending: j ends with the others, later. A batch
     * goes (with its Sync) at the end of the loop's turn. */
    if (send_job(pg, j))
        broke(pg);
    else if (pg->sync_batch && !pg->in_pump)
        uv_timer_start(&pg->kick, kick_cb, 0, 0);
    else if (!pg->in_pump && flush(pg))
        broke(pg);
    return DAL_OK;
}

static void pga_cancel_job(dal__aconn *c, dal__ajob *j)
{
    pga_conn *pg = c->bdata;
    dal__ajob *k;

    if (!pg || pg->state == PGA_CLOSING)
        return;
    for (k = pg->head; k && k != j; k = k->bnext)
        ;
    if (!k)
        return;
    jset(j, jstate(j) | JF_CANCEL);
    if (pg->state == PGA_READY && pg->head == j)
        cancel_head(pg);
}

static void pga_close(dal__aconn *c)
{
    pga_conn *pg = c->bdata;

    if (!pg) {
        dal__aconn_closed(c);
        return;
    }
    c->bdata = NULL;
    pg->state = PGA_CLOSING;
    poll_drop(pg);
    uv_timer_start(&pg->kick, kick_cb, 0, 0);
}

static int pga_listen(dal__aconn *c, const char *channel, int on)
{
    pga_conn *pg = c->bdata;
    char err[160], **grown, *copy;
    int i, rc;

    if (dal__ident_check(channel, "the channel", err, sizeof err))
        return dal__aconn_seterr(c, DAL_E_MISUSE, NULL, err);
    if (!pg || pg->state == PGA_CLOSING)
        return DAL_E_CLOSED;
    for (i = 0; i < pg->nchannels; i++)
        if (!strcmp(pg->channels[i], channel))
            break;
    if (on && i == pg->nchannels) {
        grown = dal__realloc(pg->channels,
                             (size_t)(pg->nchannels + 1) * sizeof *grown);
        if (!grown)
            return DAL_NOMEM;
        pg->channels = grown;
        if (!(copy = dal__strdup(channel)))
            return DAL_NOMEM;
        pg->channels[pg->nchannels++] = copy;
    } else if (!on && i < pg->nchannels) {
        dal__free(pg->channels[i]);
        pg->channels[i] = pg->channels[--pg->nchannels];
    } else if (!on || pg->state != PGA_READY) {
        return DAL_OK;
    }
    /* Not connected: the session to come listens to every channel. */
    if (pg->state != PGA_READY)
        return DAL_OK;
    if ((rc = listen_job(pg, on ? "LISTEN" : "UNLISTEN", channel, 0)))
        return rc;
    if (send_job(pg, pg->tail) || (!pg->in_pump && flush(pg)))
        broke(pg);
    return DAL_OK;
}

const struct dal__adriver dal__pg_adriver = {
    .open = pga_open,
    .submit = pga_submit,
    .cancel = pga_cancel_job,
    .close = pga_close,
    .listen = pga_listen,
};
