/*
 * dal/async.h - libdal on a libuv loop: the only public header that
 * includes uv.h (not included by dal.h).
 *
 *   dal_async *h;
 *   dal_async_open(loop, "sqlite:app.db", 4, on_open, NULL, &h);
 *   dal_async_query(&req, h, "SELECT name FROM t WHERE id = ?", p, 1,
 *                   on_rows);
 *   uv_run(loop, UV_RUN_DEFAULT);
 *   ...
 *   dal_async_close(h, on_closed);
 *
 * The rules are libuv's:
 * - Everything here is called on the loop's thread, and every callback
 *   runs on it, never from inside the call that asked for it.
 * - When a function that takes a callback returns an error, the callback
 *   never runs. When it returns DAL_OK, the callback runs exactly once.
 * - A handle is closed with dal_async_close() and its close callback;
 *   its memory is freed after that callback returns. Every callback
 *   still pending when it is closed runs first, with DAL_E_CLOSED; none
 *   runs after the close callback.
 * - A result (dal_result, dal_rows) passed to a callback is freed when
 *   the callback returns, unless the callback keeps it with
 *   dal_async_keep() (or takes a reference with dal_result_ref()); then
 *   the caller frees it with dal_result_free() / dal_rows_free().
 * - The only public struct is the caller-allocated request,
 *   dal_async_req, with void *data first. It must stay valid, and must
 *   not be reused, until its callback has run.
 *
 * A handle is one connection or a small pool of them (nconn). A query
 * goes to the least busy connection, so queries issued together may run
 * in any order across connections; on one connection they run in the
 * order issued. A transaction (dal_async_begin) is a handle of its own,
 * pinned to one connection: its queries run there, in order, and no
 * query of the pool goes to that connection until it has ended.
 *
 * How statements run: SQLite (and any backend without native async
 * glue) runs on one thread per connection owned by libdal, which holds
 * a blocking dal_db, with at most one statement in flight per
 * connection; libuv's shared thread pool is never used, so uv_fs and
 * uv_queue_work requests are not held up by the database. PostgreSQL
 * uses non-blocking libpq in pipeline mode on the loop (many statements
 * in flight on one connection, one Sync per statement unless the URL
 * says pipeline_sync=batch). SQLite statements pass the core's
 * blocking execution path on their thread (statement cache). Hooks,
 * metrics and tracing are attached to a handle with dal_async_observe();
 * they run on the loop thread on every backend.
 *
 * Lost connections: a request that fails with DAL_E_CONNECT marks its
 * connection lost (requests in flight on it at that moment fail with a
 * connection error too when the backend cannot know whether they ran),
 * and the next request sent to it connects again first: a fresh
 * session, whose session state and open transaction are gone. When that
 * fails too, that request fails with the connection error and the next
 * one tries again. libdal never runs a statement twice by itself.
 *
 * sqlite::memory: gives each connection a database of its own: use one
 * connection (nconn 1) when the statements share tables.
 */
#ifndef DAL_ASYNC_H
#define DAL_ASYNC_H

#include <stdint.h>

#include <uv.h>

#include "dal/core.h"
#include "dal/query.h"
#include "dal/model.h"
#include "dal/observe.h"
#include "dal/rcache.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An async connection, pool of connections, or transaction. */
typedef struct dal_async dal_async;

/*
 * A request: allocated by the caller (on the stack of a function that
 * runs the loop, in a struct, ...), valid and untouched until its
 * callback ran. Set data and timeout_ms before the call that starts it;
 * the rest is libdal's.
 */
typedef struct dal_async_req {
    void *data;          /* the caller's, untouched */
    /* Milliseconds after the call before the request ends with
     * DAL_E_TIMEOUT (a running statement is interrupted); 0: none. */
    uint64_t timeout_ms;
    /* private */
    void *internal_;
} dal_async_req;

typedef void (*dal_async_open_cb)(dal_async *h, int status);
typedef void (*dal_async_close_cb)(dal_async *h);
/* res is never NULL when status is DAL_OK (a result without rows then
 * carries the changes); NULL on an error. */
typedef void (*dal_async_query_cb)(dal_async_req *req, int status,
                                   dal_result *res);
/* rows is never NULL when status is DAL_OK; NULL on an error. */
typedef void (*dal_async_rows_cb)(dal_async_req *req, int status,
                                  dal_rows *rows);
/* tx is the transaction handle when status is DAL_OK, else NULL. */
typedef void (*dal_async_tx_cb)(dal_async_req *req, int status,
                                dal_async *tx);
typedef void (*dal_async_done_cb)(dal_async_req *req, int status);
/* One notification; missed is nonzero when some may have been lost
 * (the connection was lost and listened again). */
typedef void (*dal_async_listen_cb)(dal_async *h, const char *channel,
                                    const char *payload, int pid,
                                    int missed);

/*
 * dal_async_open - open nconn connections (1 to 64) to url on loop
 * behind one handle, stored in *hp, and call cb(h, status) once they
 * all connected (DAL_OK) or once each tried (the first error, with its
 * message from dal_async_errmsg()). data is stored for dal_async_data().
 * Requests may be issued at once; they wait for their connection. After
 * a failed open the handle is still valid (a failed connection connects
 * again for the next request sent to it) and must be closed.
 * Returns DAL_OK, DAL_E_MISUSE (NULL loop, url, cb or hp; bad nconn),
 * DAL_E_URL (with *hp NULL: the message cannot be kept) or DAL_NOMEM.
 * On an error *hp is NULL and cb never runs.
 */
DAL_EXTERN int dal_async_open(uv_loop_t *loop, const char *url, int nconn,
                              dal_async_open_cb cb, void *data,
                              dal_async **hp);

/* The data given to dal_async_open (or set), for a pool or a tx. */
DAL_EXTERN void *dal_async_data(const dal_async *h);
DAL_EXTERN void dal_async_set_data(dal_async *h, void *data);

/* The message of the error the open callback was given, or of the last
 * call on h (or one of its transactions) that returned an error; "" if
 * none. Valid until the next such error or the handle is freed. */
DAL_EXTERN const char *dal_async_errmsg(const dal_async *h);

/* The backend's name ("sqlite", "postgres"). */
DAL_EXTERN const char *dal_async_backend(const dal_async *h);

/* Requests issued on h (and its transactions) whose callback has not
 * run yet. */
DAL_EXTERN int dal_async_pending(const dal_async *h);

/*
 * dal_async_query - run one statement sql with portable placeholders
 * (?, $N, :name; see dal_prepare) and nparams params on h (a pool or a
 * transaction), then cb(req, status, res) with its rows and changes.
 * sql and params (text and blobs too) are copied before it returns.
 * Returns DAL_OK, DAL_E_MISUSE (NULL argument, a second statement,
 * mixed placeholder styles, a transaction that is ending), DAL_E_RANGE
 * (nparams differs from the statement's), DAL_E_CLOSED (h is closing)
 * or DAL_NOMEM. Errors of the statement come to cb, with details from
 * dal_async_req_errmsg() / dal_async_req_sqlstate().
 */
DAL_EXTERN int dal_async_query(dal_async_req *req, dal_async *h,
                               const char *sql, const dal_value *params,
                               int nparams, dal_async_query_cb cb);

/*
 * dal_async_query_ast - compile q for h's dialect and run it as
 * dal_async_query() does. q stays the caller's (it may be freed as soon
 * as this returns). Compile errors are returned (DAL_E_MISUSE, ...);
 * dal_param() slots are DAL_E_MISUSE (there is nothing to bind them).
 */
DAL_EXTERN int dal_async_query_ast(dal_async_req *req, dal_async *h,
                                   const dal_query *q,
                                   dal_async_query_cb cb);

/*
 * dal_async_model_query - load m's rows matching cond (taken; NULL:
 * all), ordered by order (taken; NULL: by primary key), at most limit
 * (0: all), with flags (DAL_WITH_DELETED, DAL_ONLY_DELETED), as
 * dal_model_query() does, then cb(req, status, rows). after_load hooks
 * are not run (they take a dal_db). cond and order are freed on errors
 * too. Models of more than 64 fields are DAL_E_UNSUPPORTED. m must
 * outlive the rows.
 */
DAL_EXTERN int dal_async_model_query(dal_async_req *req, dal_async *h,
                                     const dal_model *m, dal_expr *cond,
                                     dal_expr *order, int64_t limit,
                                     int flags, dal_async_rows_cb cb);

/*
 * dal_async_begin - open a transaction on the least busy connection of
 * pool h not in a transaction (or on the first to become free), then
 * cb(req, status, tx). tx is a handle whose requests run on that
 * connection only; end it with dal_async_commit() or
 * dal_async_rollback(), after whose callback it is freed (or when h is
 * closed). flags are dal_begin()'s (dal/core.h): 0 for the backend's
 * default, or at most one SQLite locking mode (DAL_TX_IMMEDIATE, ...),
 * one isolation level (DAL_TX_SERIALIZABLE, ...) and DAL_TX_READ_ONLY,
 * with the same meaning on each backend as for dal_begin() (SQLite's
 * read-only transaction is undone at its end, whichever way it ends).
 * Returns DAL_OK, DAL_E_MISUSE (h is itself a transaction, NULL
 * argument, invalid flags), DAL_E_CLOSED or DAL_NOMEM.
 */
DAL_EXTERN int dal_async_begin(dal_async_req *req, dal_async *h, int flags,
                               dal_async_tx_cb cb);

/*
 * dal_async_commit / dal_async_rollback - end transaction tx after the
 * requests issued on it before, then cb(req, status). Further requests
 * on tx are DAL_E_MISUSE. tx is freed after cb returns, whatever the
 * status; when COMMIT failed, libdal rolls back before the connection
 * goes back to the pool.
 */
DAL_EXTERN int dal_async_commit(dal_async_req *req, dal_async *tx,
                                dal_async_done_cb cb);
DAL_EXTERN int dal_async_rollback(dal_async_req *req, dal_async *tx,
                                  dal_async_done_cb cb);

/*
 * dal_async_notify - send a notification (PostgreSQL NOTIFY channel,
 * payload; payload may be NULL) on h, then cb(req, status).
 * DAL_E_UNSUPPORTED (returned, cb never runs) on a backend without
 * notifications (SQLite).
 */
DAL_EXTERN int dal_async_notify(dal_async_req *req, dal_async *h,
                                const char *channel, const char *payload,
                                dal_async_done_cb cb);

/*
 * dal_async_listen - deliver notifications on channel to cb until
 * dal_async_unlisten() or close; listened to again by itself after a
 * reconnect (missed set on the next one). Only one callback per
 * channel (a second listen replaces it). Returns DAL_OK,
 * DAL_E_UNSUPPORTED when the backend's async glue has no notifications
 * (SQLite), DAL_E_MISUSE, DAL_E_CLOSED or DAL_NOMEM.
 */
DAL_EXTERN int dal_async_listen(dal_async *h, const char *channel,
                                dal_async_listen_cb cb);
DAL_EXTERN int dal_async_unlisten(dal_async *h, const char *channel);

/*
 * dal_async_cancel - end req, issued and not called back yet, with
 * DAL_E_CANCELED: dropped when it has not started, interrupted when it
 * runs (sqlite3_interrupt, PQcancel). The callback still runs once,
 * later; if the statement finished first, with its own result. On
 * PostgreSQL a request may already be on its way to the server in the
 * pipeline while earlier ones run: it is interrupted once it runs, and
 * a short one may finish with its own result first. Returns
 * DAL_OK, or DAL_E_MISUSE when req is not pending.
 */
DAL_EXTERN int dal_async_cancel(dal_async_req *req);

/*
 * dal_async_keep - called from req's callback: the result or rows it
 * was given are not freed when the callback returns; the caller frees
 * them (dal_result_free, dal_rows_free).
 */
DAL_EXTERN void dal_async_keep(dal_async_req *req);

/*
 * Details of the error req's callback was given, valid during the
 * callback only: message, SQLSTATE (five characters), detail and
 * constraint (NULL when none), the backend's native code.
 */
DAL_EXTERN const char *dal_async_req_errmsg(const dal_async_req *req);
DAL_EXTERN const char *dal_async_req_sqlstate(const dal_async_req *req);
DAL_EXTERN const char *dal_async_req_errdetail(const dal_async_req *req);
DAL_EXTERN const char *dal_async_req_errconstraint(
    const dal_async_req *req);

/*
 * dal_async_close - close h (a pool from dal_async_open): every request
 * pending on it and its transactions ends with DAL_E_CLOSED (running
 * statements are interrupted), each callback once, then the open
 * callback if it has not run, then cb(h) (may be NULL); h is freed
 * after cb returns. Returns DAL_OK, or DAL_E_MISUSE (NULL h, a
 * transaction, closed twice) with cb never run.
 */
DAL_EXTERN int dal_async_close(dal_async *h, dal_async_close_cb cb);

/*
 * dal_async_observe - attach obs (dal/observe.h: hooks, and what is
 * built on them: dal_metrics_observe, dal_tracer_observe, logging,
 * statement statistics, guards) to every connection of pool h, or
 * detach the current observer with obs NULL. A pool has at most one
 * observer; each hook's attach runs once per connection, all or
 * nothing: on an error no hook stays attached to h (an observer h had
 * before stays attached) and dal_async_errmsg() says why.
 *
 * Call it right after dal_async_open(), before running the loop, for
 * the hooks to see every CONNECT (attaching later emits none for the
 * connections already open, as dal_observe() does). Replacing or
 * detaching an observer needs no request pending (DAL_E_MISUSE). obs
 * must outlive h (or its detach): each hook's detach runs when h is
 * closed, before the close callback, after every request's AFTER.
 *
 * Threads: hooks run on the loop thread, on every backend, never on
 * libdal's worker threads; a hook may read state the loop's callbacks
 * write without locking. Each connection of h is its own connection
 * for the hooks (its own attach state; ev->db is a db that stands for
 * it, valid during the hook: dal_errmsg(), dal_sqlstate(),
 * dal_backend() and the like read it, but it runs no statements).
 *
 * Events, for each connection:
 * - CONNECT when it connected (rc the outcome), again after each
 *   reconnect; DISCONNECT when a connected session goes (lost and
 *   reopened, or h closed).
 * - BEFORE when a request (query, AST, model load, and BEGIN, COMMIT
 *   and ROLLBACK, which are statements too) is given to its connection:
 *   ev->sql is the SQL as the caller wrote it, as for a blocking
 *   statement (dal_async_query's text with its own placeholders; a
 *   compiled query's SQL; never a tracer's comment), and so is what
 *   spans, logs, statement statistics and the audit trail record. A
 *   veto keeps it from being sent: its callback gets the veto's code
 *   and message (dal_async_req_errmsg) once, later, as for any error.
 * - AFTER just before the request's callback, with the status it gets
 *   (DAL_E_CANCELED, DAL_E_TIMEOUT, DAL_E_CLOSED too);
 *   dal_sqlstate(ev->db) and dal_errmsg(ev->db) are the request's.
 *   duration_ns runs from BEFORE (time spent queued behind other
 *   requests of the connection, or in the pipeline, included); rows
 *   are the rows returned, or those changed by INSERT, UPDATE, DELETE.
 *   Every request that saw BEFORE sees AFTER; requests still waiting
 *   for a connection when h closes see neither.
 * - BEGIN after a transaction's BEGIN succeeded, COMMIT or ROLLBACK
 *   (rc its outcome) after it ended, before the callback.
 * dal_async_notify() is reported as no statement.
 *
 * Hooks that need to run SQL on the connection refuse an async handle
 * at attach time with DAL_E_UNSUPPORTED: dal_guard_add() with a
 * timeout_ms (use dal_async_req.timeout_ms) and dal_audit_add() with a
 * table (a sink callback works).
 *
 * A tracer's sqlcommenter option (DAL_TRACE_SQLCOMMENT, dal/trace.h)
 * applies to async queries (dal_async_query, _query_ast, _model_query)
 * as to blocking one-shot statements: the comment naming the request's
 * own span is appended when the request is given to its connection,
 * just before its BEFORE, so requests in flight together each carry
 * their own span's id; such queries skip the connection's statement
 * cache. BEGIN, COMMIT and ROLLBACK of async transactions carry none.
 *
 * Statement cache counters: dal_stmt_cache_stats(ev->db) and
 * dal_metrics read the counters of the connection's cache, updated
 * before each AFTER, counted since h was opened (an observer attached
 * later starts from them). SQLite's connections count as a blocking
 * connection does (their thread's dal_db has the cache: BEGIN and
 * COMMIT count too). PostgreSQL's pipelined connections count each
 * query: a hit when it runs a statement prepared on the session, else
 * a miss; their cache never evicts (once statement_cache texts are
 * prepared, new texts are sent with their text), so evictions stay 0.
 *
 * Returns DAL_OK, DAL_E_MISUSE (h NULL or a transaction; requests
 * pending), DAL_E_CLOSED (h is closing), DAL_E_UNSUPPORTED (a hook
 * refused) or DAL_NOMEM, or another error of a hook's attach.
 */
DAL_EXTERN int dal_async_observe(dal_async *h, dal_observer *obs);

/*
 * dal_async_set_tenant, dal_async_set_actor - label the events of pool
 * h's connections with tenant (or actor), as dal_set_tenant() and
 * dal_set_actor() do for a blocking connection: hooks read them as
 * ev->tenant and ev->actor (the rate-limit guard keeps a bucket per
 * tenant, the audit trail records both, spans carry dal.tenant and
 * dal.actor). The string is copied; NULL clears the label. Events from
 * then on carry it, including the AFTER of requests already running.
 * A transaction handle shares its pool's labels.
 *
 * Returns DAL_OK, DAL_E_MISUSE (h NULL or a transaction handle) or
 * DAL_NOMEM (the label unchanged).
 */
DAL_EXTERN int dal_async_set_tenant(dal_async *h, const char *tenant);
DAL_EXTERN int dal_async_set_actor(dal_async *h, const char *actor);

/* ---- results ----------------------------------------------------------
 *
 * A statement's rows come as a dal_result (dal/rcache.h: counts, names,
 * dal_result_value, dal_result_ref, dal_result_free). The getters below
 * read any dal_result, from the cache too.
 */

/*
 * Row row's value in column col: whether it is NULL (out of range too);
 * as an integer or a double, converted as dal_column_int64() does (0
 * for NULL, blobs and out of range); as text or blob bytes with their
 * length in *len (len may be NULL), pointing into r (text
 * NUL-terminated), NULL for other types and out of range.
 */
DAL_EXTERN int dal_result_is_null(const dal_result *r, int64_t row, int col);
DAL_EXTERN int64_t dal_result_int64(const dal_result *r, int64_t row,
                                    int col);
DAL_EXTERN double dal_result_double(const dal_result *r, int64_t row,
                                    int col);
DAL_EXTERN const char *dal_result_text(const dal_result *r, int64_t row,
                                       int col, size_t *len);

/* Rows changed by the async statement that made r (INSERT, UPDATE,
 * DELETE), else 0 (and 0 for results of the cache). */
DAL_EXTERN int64_t dal_result_changes(const dal_result *r);

#ifdef __cplusplus
}
#endif

#endif /* DAL_ASYNC_H */
