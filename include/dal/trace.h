/*
 * dal/trace.h - tracing as an observer hook: a span per statement and
 * per transaction, handed to start/end callbacks that an OpenTelemetry
 * exporter (or anything else) can sit behind, and W3C traceparent
 * propagation.
 *
 * Spans:
 *   - a statement span starts when a statement is about to run (the
 *     BEFORE event) and ends when it has finished (AFTER), with its
 *     rows and outcome;
 *   - a transaction span starts when the outermost transaction is open
 *     (BEGIN at depth 1) and ends at its COMMIT or ROLLBACK; the
 *     statements run inside it are its children. The statement that
 *     opens the transaction runs before the event that starts the span,
 *     so it is not a child; the COMMIT or ROLLBACK statement is.
 *     Savepoints have no span of their own;
 *   - a span that is open when the connection closes (or the observer
 *     is detached) ends then, with status DAL_E_CLOSED.
 * Spans outside a transaction are roots of a new trace, unless a parent
 * context was set with dal_trace_set_parent(): then they join that
 * trace as children of the caller's span.
 *
 * A tracer with an end callback only (and no sqlcommenter option) does
 * not need a statement's span before it ends, so it makes the span then
 * (ids drawn, start time taken from the statement's event): the spans
 * it reports are the same, without a hook call before each statement. A
 * statement still running when the context changes (a transaction
 * starts or ends, a parent is set) or when dal_trace_current() is
 * called is given its span at that moment, so it keeps the context it
 * started in and the traceparent read while it runs is the one its
 * span ends with.
 *
 * Ids are random, from a per-connection generator seeded by getrandom()
 * (or /dev/urandom), never all zero.
 *
 * The sqlcommenter option (DAL_TRACE_SQLCOMMENT) appends
 *   /\*traceparent='00-<trace id>-<span id>-<flags>'*\/
 * to the SQL sent to the server, where <span id> is the id of the
 * statement's own span, so that server logs carry it. Hooks cannot
 * change SQL, so the core asks the tracer for the comment when it
 * prepares a statement for one run. Costs, honestly:
 *   - while the option is on, the connection's statement cache is
 *     bypassed: dal_exec_params(), dal_query_*(), the query AST and the
 *     model layer prepare their statement for every run, as dal_exec()
 *     always does (SQLite: one sqlite3_prepare per run; PostgreSQL: an
 *     unnamed statement sent with its parameters, no named server-side
 *     plan is reused). A comment that changes with every run would
 *     otherwise force a new prepare of the cached statement anyway;
 *   - statements the caller prepares with dal_prepare() and runs many
 *     times carry no comment (their text is fixed when prepared), but
 *     they still get spans;
 *   - a statement's SQL in hooks, logs and spans is the caller's text,
 *     without the comment.
 * Async queries (dal/async.h, dal_async_observe) carry the comment too:
 * it is written when a request is given to its connection, right
 * before its BEFORE event, so that each of the requests in flight on a
 * connection names its own span; they skip the statement cache as
 * above. Async BEGIN, COMMIT and ROLLBACK carry none.
 *
 * Threads: a tracer is set up by one thread and may then be observed by
 * connections used in several threads; its callbacks run on the thread
 * that uses the connection, so a callback shared by such connections
 * must be thread-safe. The per-connection state (open spans, parent
 * context, id generator) is the connection's own: no locks per span.
 */
#ifndef DAL_TRACE_H
#define DAL_TRACE_H

#include "dal/core.h"
#include "dal/observe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The length of a traceparent "00-<32 hex>-<16 hex>-<2 hex>". */
#define DAL_TRACEPARENT_LEN 55

/* Flags of dal_tracer_new(): append the trace context to the SQL sent
 * to the server as a sqlcommenter comment (see above for the cost). */
#define DAL_TRACE_SQLCOMMENT 0x1u

typedef enum dal_span_kind {
    DAL_SPAN_STATEMENT = 0,
    DAL_SPAN_TX = 1
} dal_span_kind;

/* One attribute: a key such as "db.system" and a TEXT or INT64 value. */
typedef struct dal_span_attr {
    const char *key;
    dal_value value;
} dal_span_attr;

/*
 * A span as the callbacks see it. Everything it points to belongs to
 * libdal and is valid only while the callback runs; copy what you keep.
 *
 * Attributes: "db.system" ("sqlite" or "postgresql"); statements:
 * "db.statement" (the caller's SQL), "db.operation" (the statement kind,
 * dal_stmt_kind_name()), and at the end "db.rows" (rows returned or
 * changed, when known) and "db.sqlstate" (on error); transactions:
 * "db.operation" = "transaction" and at the end "db.tx.outcome"
 * ("commit", "rollback" or "closed"); any span: "dal.tenant",
 * "dal.actor" and "dal.origin" when set.
 */
typedef struct dal_span {
    dal_span_kind kind;
    dal_db *db;
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];     /* all zero for a root span */
    uint8_t trace_flags;      /* the parent's, or 01 (sampled) */
    const char *name;         /* "SELECT", "INSERT", ..., "TRANSACTION" */
    int64_t start_unix_ns;    /* wall clock, nanoseconds since 1970 */
    int64_t end_unix_ns;      /* 0 at the start */
    int status;               /* DAL_OK, or the error code at the end */
    const char *status_message; /* dal_errmsg() on error, else NULL */
    const dal_span_attr *attrs;
    int nattrs;
} dal_span;

/* A start or end callback. */
typedef void (*dal_span_fn)(const dal_span *span, void *data);

typedef struct dal_tracer dal_tracer;

/*
 * Make a tracer in *out that calls on_start when a span starts and
 * on_end when it ends (either may be NULL, not both), with data.
 * flags: 0 or DAL_TRACE_SQLCOMMENT. Add it to an observer with
 * dal_tracer_observe(); free it with dal_tracer_free().
 * Returns DAL_OK, DAL_E_MISUSE (out NULL, no callback, unknown flag) or
 * DAL_NOMEM.
 */
DAL_EXTERN int dal_tracer_new(dal_span_fn on_start, dal_span_fn on_end,
                              void *data, unsigned flags,
                              dal_tracer **out);

/*
 * Add t's hook to obs (before obs is attached to any connection). A
 * connection can have one tracer: attaching an observer with a second
 * one to it fails with DAL_E_MISUSE. Returns what dal_observer_add()
 * returns.
 */
DAL_EXTERN int dal_tracer_observe(dal_tracer *t, dal_observer *obs);

/*
 * Free t. DAL_E_MISUSE (and nothing freed) while a connection still has
 * it attached; NULL is accepted (DAL_OK).
 */
DAL_EXTERN int dal_tracer_free(dal_tracer *t);

/*
 * Make the spans db starts from now on outside a transaction children
 * of the span traceparent names (W3C, "00-<trace>-<span>-<flags>"), in
 * its trace, with its flags; NULL clears it (new root traces). Returns
 * DAL_OK, DAL_E_MISUSE (db NULL, or no tracer attached to db) or
 * DAL_E_DATA (malformed traceparent; the parent is then unchanged),
 * recorded on db.
 */
DAL_EXTERN int dal_trace_set_parent(dal_db *db, const char *traceparent);

/*
 * Write into out (DAL_TRACEPARENT_LEN + 1 bytes) the traceparent of the
 * innermost current span of db: a running statement's, else the open
 * transaction's, else the parent set with dal_trace_set_parent(); out
 * is "" when there is none. Returns DAL_OK or DAL_E_MISUSE (NULL
 * argument, or no tracer attached to db).
 */
DAL_EXTERN int dal_trace_current(dal_db *db, char *out);

/*
 * Parse a W3C traceparent into its trace id, parent span id and flags
 * (any output may be NULL). Accepts lower-case hex only, version 00 with
 * exactly 55 characters, or a later version (not ff) with 55 characters
 * possibly followed by '-' and more; rejects all-zero ids. Returns
 * DAL_OK or DAL_E_DATA (DAL_E_MISUSE when s is NULL).
 */
DAL_EXTERN int dal_traceparent_parse(const char *s, uint8_t trace_id[16],
                                     uint8_t span_id[8], uint8_t *flags);

/*
 * Write "00-<trace id>-<span id>-<flags>" (lower-case hex) and a NUL
 * into out (DAL_TRACEPARENT_LEN + 1 bytes). Returns DAL_OK, DAL_E_DATA
 * (an all-zero id; out is then "") or DAL_E_MISUSE (NULL argument).
 */
DAL_EXTERN int dal_traceparent_format(const uint8_t trace_id[16],
                                      const uint8_t span_id[8],
                                      uint8_t flags, char *out);

#ifdef __cplusplus
}
#endif

#endif /* DAL_TRACE_H */
