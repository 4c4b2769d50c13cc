/*
 * async-int.h - the seam between the async core (lib/async.c) and a
 * backend's async glue.
 *
 * The core owns the public handles (include/dal/async.h), the request
 * objects, callbacks, timeouts, the pool of connections and the close
 * protocol. A backend only runs jobs on one connection and hands each
 * one back, in submission order, on the loop thread.
 *
 * A driver that has no async glue of its own (struct dal_driver's async
 * field is NULL) is run by the core's thread glue (lib/athread.c): one
 * thread per connection owning a blocking dal_db, so that every job
 * passes the core's one execution path (hooks, metrics, guards) and
 * never parks a thread of libuv's shared pool on the database. SQLite
 * is run that way. PostgreSQL has native glue (backends/postgres/
 * async.c): non-blocking libpq in pipeline mode with a uv_poll_t.
 *
 * Threads: every function here is called on the loop thread, and every
 * dal__aconn_* / dal__ajob_done call a backend makes happens on the loop
 * thread too (a backend with worker threads wakes the loop with
 * uv_async_t first).
 */
#ifndef DAL_ASYNC_INT_H
#define DAL_ASYNC_INT_H

#include <uv.h>

#include "dal-int.h"
#include "dal/async.h"

typedef struct dal__aconn dal__aconn;

enum { DAL__ATX_BEGIN = 1, DAL__ATX_COMMIT, DAL__ATX_ROLLBACK };

/* A backend's "not now" from submit (never seen by callers). */
#define DAL__AGAIN (-100)

typedef struct dal__ajob dal__ajob;

/* What a job asks for. Transactions are plain SQL jobs (BEGIN, COMMIT,
 * ...) pinned to one connection by the core. */
typedef enum dal__ajob_kind {
    DAL__AJ_QUERY,   /* sql with params; rows into res, changes counted */
    DAL__AJ_EXEC,    /* sql without params, maybe several statements */
    DAL__AJ_NOTIFY   /* NOTIFY channel (sql), payload (params[0]) */
} dal__ajob_kind;

/*
 * One statement (or script) to run. The core allocates and frees it;
 * the backend reads the inputs and fills the outputs, then calls
 * dal__ajob_done() exactly once.
 */
struct dal__ajob {
    /* Inputs, owned by the core, valid until dal__ajob_done(). */
    dal__ajob_kind kind;
    const char *sql;          /* translated to the driver's markers */
    size_t sqllen;
    const dal_value *params;  /* deep copies (text and blobs owned) */
    int nparams;
    /*
     * Transaction control: DAL__ATX_BEGIN, _COMMIT or _ROLLBACK on the
     * EXEC jobs of dal_async_begin/commit/rollback and of the core's own
     * rollbacks (sql is then "BEGIN", "COMMIT" or "ROLLBACK"), else 0;
     * tx_flags: BEGIN's DAL_TX_* flags, checked by the core. A backend
     * honours them as the blocking dal_begin() does (the thread glue
     * runs dal_begin(), dal_commit() and dal_rollback() themselves, so
     * that what the driver sets for one transaction is undone at its
     * end).
     */
    int tx;
    int tx_flags;
    /*
     * one_shot: sql carries a comment that changes with every run (a
     * tracer's sqlcommenter option, see dal/trace.h): run it without
     * the connection's statement cache, neither looked up nor kept,
     * as the blocking core does for such statements.
     */
    int one_shot;

    /* Outputs. rc is DAL_OK or an error; on an error err carries the
     * message, SQLSTATE and the rest (set with dal__ajob_seterr). res
     * is the rows (dal__result_*), or NULL when the statement returned
     * none; the core takes it over. */
    int rc;
    struct dal__err err;
    dal_result *res;
    int64_t changes;
    /* What j did to the connection's statement cache, counted as
     * dal_stmt_cache_stats() counts: hits, misses, evictions (zeros for
     * a backend or job without a cache). The core adds them to the
     * connection's counters, which observers read (dal_metrics). */
    uint32_t cache_stat[3];

    /* The backend's own, untouched by the core. */
    dal__ajob *bnext;
    void *bdata;

    /* The core's own (lib/async.c). */
    dal__ajob *next;
    void *core;
};

/*
 * One connection, shared by the core and its backend. The backend keeps
 * its state in bdata.
 */
struct dal__aconn {
    uv_loop_t *loop;
    const struct dal_driver *drv;
    dal__url *url;            /* the parsed URL, owned by the core */
    void *bdata;              /* the backend's state */
    int inflight;             /* jobs submitted and not done (core) */
    void *core;               /* the core's own */
};

/*
 * A backend's async glue (struct dal_driver's async field). Every
 * callback into the core below happens later, on the loop thread, never
 * from inside the call that caused it.
 */
struct dal__adriver {
    /*
     * Start connecting c with c->url (take the driver's options out of
     * it as the blocking open does). DAL_OK: dal__aconn_ready(c, rc)
     * follows once, with DAL_OK or the error (then recorded with
     * dal__aconn_seterr). An error returned here means no callback.
     */
    int (*open)(dal__aconn *c);
    /*
     * Queue j. Jobs on one connection run (or are pipelined) in the
     * order submitted and come back through dal__ajob_done() in that
     * order. A backend may refuse with DAL__AGAIN (too many in flight;
     * the core keeps it queued and submits it again after the next
     * done) or an error; then nothing is called for j.
     */
    int (*submit)(dal__aconn *c, dal__ajob *j);
    /*
     * Make j end with DAL_E_CANCELED (rc set by the backend) as soon as
     * it can: drop it when it has not been sent, interrupt it when it
     * runs (sqlite3_interrupt, PQcancel). j still comes back through
     * dal__ajob_done(), maybe with another result if it had finished.
     */
    void (*cancel)(dal__aconn *c, dal__ajob *j);
    /*
     * End c: every job not yet done comes back through dal__ajob_done()
     * with DAL_E_CLOSED, then the backend frees its state and calls
     * dal__aconn_closed(c). Called once; no submit follows.
     */
    void (*close)(dal__aconn *c);
    /*
     * LISTEN (on nonzero) or UNLISTEN channel on c; notifications come
     * through dal__aconn_notify(). After the backend reconnected it
     * listens again by itself and passes missed = 1 with the next one.
     * NULL when the backend has no notifications (DAL_E_UNSUPPORTED).
     */
    int (*listen)(dal__aconn *c, const char *channel, int on);
};

/* Calls from a backend into the core (lib/async.c), loop thread only. */
void dal__aconn_ready(dal__aconn *c, int rc);
void dal__aconn_closed(dal__aconn *c);
/*
 * The connection was lost (rc DAL_E_CONNECT). The backend hands back
 * every job it holds through dal__ajob_done(), each with a connection
 * error, and the core submits nothing more to c. Once nothing is in
 * flight the core calls close(c) and, when the next job for c comes,
 * open(c) again; on that ready it listens again on the channels (and
 * passes missed = 1 with the next notification). A job that comes back
 * with DAL_E_CONNECT marks c lost the same way, so a backend need not
 * reconnect by itself.
 */
void dal__aconn_lost(dal__aconn *c, int rc);
void dal__ajob_done(dal__aconn *c, dal__ajob *j);
void dal__aconn_notify(dal__aconn *c, const char *channel,
                       const char *payload, int pid, int missed);
/* Record an error on c (for dal__aconn_ready) or on j. */
int dal__aconn_seterr(dal__aconn *c, int rc, const char *sqlstate,
                      const char *msg);
int dal__ajob_seterr(dal__ajob *j, int rc, const char *sqlstate,
                     int native, const char *msg, const char *detail,
                     const char *hint, const char *constraint);
/* Copy db's last error into j (the thread glue). */
int dal__ajob_seterr_db(dal__ajob *j, const dal_db *db);

/*
 * Building a result (lib/result.c). A result owns copies of everything.
 * dal__result_new: ncols columns, named later; NULL when out of memory.
 * dal__result_row: append a row and return its ncols value slots (all
 * DAL_TYPE_NULL), or NULL when out of memory. dal__result_set copies
 * v (text and blobs too) into row r's column c.
 * dal__result_sized: a result whose size is known first, in one block:
 * nrows rows of ncols NULL values (dal__result_row is not used on it)
 * and room for bytes bytes of names, text and blobs, each counted with
 * a NUL after it (len + 1); colname and set copy into that room and say
 * DAL_E_RANGE when it would overflow. NULL when out of memory.
 * dal__result_sized_like: the same with like's columns, whose names it
 * shares (not copied: it holds a reference to like until it is freed;
 * like is best a result of no rows, made to hold names); bytes then
 * counts no names, and colname is refused.
 */
dal_result *dal__result_new(int ncols);
dal_result *dal__result_sized(int ncols, int64_t nrows, size_t bytes);
dal_result *dal__result_sized_like(dal_result *like, int64_t nrows,
                                   size_t bytes);
int dal__result_colname(dal_result *r, int col, const char *name,
                        size_t len);
dal_value *dal__result_row(dal_result *r);
int dal__result_set(dal_result *r, int row, int col, const dal_value *v);

#endif /* DAL_ASYNC_INT_H */
