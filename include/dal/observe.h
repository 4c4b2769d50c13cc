/*
 * dal/observe.h - hooks on the core's one execution path.
 *
 * Every statement libdal runs, whichever public call started it (dal_exec,
 * a prepared dal_stmt, a query AST, the model layer, migrations,
 * transactions), passes through dal_step(). An observer is a list of
 * hooks that is called there: before a statement runs (a hook may refuse
 * it), after it has finished (with its duration, rows and error), and on
 * connect, disconnect, begin, commit and rollback. Metrics, statement
 * statistics, logging, tracing, the audit trail and the guard rails are
 * all hooks on this one path (see dal_observe(7)).
 *
 * Threads: an observer is set up (hooks added) by one thread before it is
 * attached to any connection; from then on it is read-only and may be
 * shared by connections used in several threads. A hook's function runs
 * on the thread that uses the connection; a hook that keeps state shared
 * across connections makes it thread-safe itself, or keeps it per
 * connection through the attach/detach callbacks, which is what lets the
 * metrics count without atomic read-modify-write operations.
 */
#ifndef DAL_OBSERVE_H
#define DAL_OBSERVE_H

#include "dal/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What an event reports. The DAL_EV_* bits select events in a mask. */
typedef enum dal_event_kind {
    DAL_EV_BEFORE = 0,     /* a statement is about to run (may veto) */
    DAL_EV_AFTER = 1,      /* a statement has finished (or failed) */
    DAL_EV_CONNECT = 2,    /* a connection was opened (or failed to be) */
    DAL_EV_DISCONNECT = 3, /* a connection is being closed */
    DAL_EV_BEGIN = 4,      /* a transaction or savepoint was opened */
    DAL_EV_COMMIT = 5,     /* ... committed (or released) */
    DAL_EV_ROLLBACK = 6,   /* ... rolled back */
    DAL_EV_CHECKOUT = 7,   /* a pool handed the connection out */
    DAL_EV_RETURN = 8      /* a pool took the connection back */
} dal_event_kind;

#define DAL_EVENT_BIT(k) (1u << (k))
#define DAL_EVENTS_STATEMENT \
    (DAL_EVENT_BIT(DAL_EV_BEFORE) | DAL_EVENT_BIT(DAL_EV_AFTER))
#define DAL_EVENTS_TX (DAL_EVENT_BIT(DAL_EV_BEGIN) \
    | DAL_EVENT_BIT(DAL_EV_COMMIT) | DAL_EVENT_BIT(DAL_EV_ROLLBACK))
#define DAL_EVENTS_CONNECTION (DAL_EVENT_BIT(DAL_EV_CONNECT) \
    | DAL_EVENT_BIT(DAL_EV_DISCONNECT))
#define DAL_EVENTS_POOL (DAL_EVENT_BIT(DAL_EV_CHECKOUT) \
    | DAL_EVENT_BIT(DAL_EV_RETURN))
#define DAL_EVENTS_ALL 0x1ffu

/*
 * Flag for dal_hook.flags: the hook wants the statement's parameter
 * values in dal_event.params. Off by default, because keeping them costs
 * a copy of every bound text or blob.
 */
#define DAL_HOOK_PARAMS 0x1u

/* Bits of dal_event.flags (statement events). */
#define DAL_EVF_SCRIPT 0x1u    /* one of several statements of one text
                                  run by dal_exec() */
#define DAL_EVF_AST 0x2u       /* compiled from a query AST */
#define DAL_EVF_NO_WHERE 0x4u  /* an AST UPDATE or DELETE without WHERE */
#define DAL_EVF_ALLOW_ALL 0x8u /* ... that its caller allowed to touch
                                  every row */

/* The statement kinds of dal_event.stmt_kind (from the SQL's first
 * keyword; WITH ... is classified by its main statement when it can be
 * seen, else DAL_SK_SELECT). */
typedef enum dal_stmt_kind {
    DAL_SK_OTHER = 0,
    DAL_SK_SELECT = 1,
    DAL_SK_INSERT = 2,
    DAL_SK_UPDATE = 3,
    DAL_SK_DELETE = 4,
    DAL_SK_DDL = 5,     /* CREATE, ALTER, DROP, TRUNCATE, COMMENT */
    DAL_SK_TX = 6       /* BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE */
} dal_stmt_kind;

/*
 * One event, passed to each hook whose mask selects its kind. Everything
 * it points to belongs to libdal and stays valid only while the hook
 * runs; copy what you keep.
 */
typedef struct dal_event {
    dal_event_kind kind;
    dal_db *db;
    const char *backend;    /* "sqlite" or "postgres" */
    const char *role;       /* "primary" or "replica" */
    const char *url;        /* the URL with any password shown as *** */
    /* Statements: the SQL as the caller wrote it (a compiled query's
     * SQL in the backend's placeholder form; the same for async
     * handles), its kind and its number of parameters. NULL / 0 for
     * the other events. */
    const char *sql;
    dal_stmt_kind stmt_kind;
    int nparams;
    /* With DAL_HOOK_PARAMS: the nparams bound values (unbound ones are
     * NULL values); otherwise NULL. */
    const dal_value *params;
    /* Monotonic clock, nanoseconds, at the start of the statement (or
     * of the transaction for COMMIT/ROLLBACK). */
    int64_t start_ns;
    /* AFTER, COMMIT, ROLLBACK: how long it took. */
    int64_t duration_ns;
    /* AFTER: rows returned (a statement with result columns) or changed
     * (INSERT, UPDATE, DELETE); -1 when unknown. */
    int64_t rows;
    /* AFTER and CONNECT: DAL_OK or the error code; the message and
     * SQLSTATE are read from db (dal_errmsg(), dal_sqlstate()). */
    int rc;
    /* BEGIN, COMMIT, ROLLBACK: the nesting level the event applies to
     * (1 is the outermost transaction, more is a savepoint). */
    int tx_depth;
    /* The per-connection state this hook's attach stored for db (NULL
     * when the hook has no attach). Set anew for each hook called. */
    void *state;
    /* Statements: DAL_EVF_* bits. */
    unsigned flags;
    /* Which part of libdal ran the statement: "migrate" for the
     * migration engine, NULL for the caller's own statements. */
    const char *origin;
    /* The connection's labels (dal_set_tenant(), dal_set_actor()), or
     * NULL when unset. */
    const char *tenant;
    const char *actor;
    /* Statements: strlen(sql), counted once per prepared statement. */
    size_t sql_len;
} dal_event;

/*
 * A hook: fn is called with every event whose DAL_EVENT_BIT is in
 * events. For DAL_EV_BEFORE, fn may refuse the statement by returning an
 * error code (DAL_E_REFUSED, DAL_E_RATE_LIMITED, ...), ideally after
 * recording a message with dal_event_refuse(); the statement is then not
 * run, dal_step() returns that code, and the hooks after it are not
 * called (but every hook that saw BEFORE sees a matching AFTER with the
 * code). For every other event the return value is ignored.
 *
 * attach, when not NULL, is called once per connection the observer is
 * attached to, before any event of that connection; what it stores in
 * *conn_state is passed back in dal_event.state while events of that
 * connection run, and given to detach when the connection closes (after
 * its DISCONNECT event) or the observer is detached from it. attach
 * returns DAL_OK or an error (DAL_NOMEM), which fails the attach.
 * A veto by hook i is seen as AFTER (with the veto's code) by hooks 0..i
 * that ask for AFTER; hooks after i see neither.
 */
typedef struct dal_hook {
    unsigned events;
    unsigned flags; /* DAL_HOOK_PARAMS */
    int (*fn)(const dal_event *ev, void *data);
    void *data;
    int (*attach)(dal_db *db, void *data, void **conn_state);
    void (*detach)(dal_db *db, void *data, void *conn_state);
} dal_hook;

typedef struct dal_observer dal_observer;

/*
 * Make an empty observer in *out. Free it with dal_observer_free() after
 * every connection it is attached to has been closed or detached.
 * Returns DAL_OK, DAL_E_MISUSE (out is NULL) or DAL_NOMEM.
 */
DAL_EXTERN int dal_observer_new(dal_observer **out);

/*
 * Add a hook (copied) at the end of obs's list: hooks run in the order
 * they were added, for BEFORE as for every other event. Hooks are added
 * before the observer is attached to a connection; DAL_E_MISUSE after.
 * Returns DAL_OK, DAL_E_MISUSE (NULL argument, no fn, an unknown event
 * bit or flag) or DAL_NOMEM.
 */
DAL_EXTERN int dal_observer_add(dal_observer *obs, const dal_hook *hook);

/* Free obs. DAL_E_MISUSE (and nothing freed) while it is still attached
 * to a connection; NULL is accepted. */
DAL_EXTERN int dal_observer_free(dal_observer *obs);

/*
 * Open url as dal_open() does, with obs attached from the start, so that
 * its hooks see the connect event (with its outcome in rc) and every
 * statement run while opening (auto_migrate, PostgreSQL session set-up).
 * obs may be NULL (then this is dal_open()). Returns what dal_open()
 * returns, or the error of a hook's attach.
 */
DAL_EXTERN int dal_open_observed(const char *url, dal_observer *obs,
                                 dal_db **dbp);

/*
 * Attach obs to an open connection (replacing none: a connection has at
 * most one observer), or detach the current one with obs NULL (each
 * hook's detach runs). No connect event is emitted. Not while a
 * statement of db is between its first dal_step() and its end
 * (DAL_E_MISUSE). Returns DAL_OK, DAL_E_MISUSE or an attach error.
 */
DAL_EXTERN int dal_observe(dal_db *db, dal_observer *obs);

/* The observer attached to db, or NULL. */
DAL_EXTERN dal_observer *dal_observer_of(const dal_db *db);

/*
 * In a BEFORE hook: record on the event's connection why the statement
 * is refused (printf-style message; sqlstate may be NULL) and return rc,
 * so that a hook can `return dal_event_refuse(ev, DAL_E_REFUSED, NULL,
 * "...")`. rc must be an error code (not DAL_OK).
 */
DAL_EXTERN int dal_event_refuse(const dal_event *ev, int rc,
                                const char *sqlstate, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/*
 * Label db with the tenant it works for and the actor (user, service)
 * on whose behalf it runs; hooks see them in every event (the audit
 * trail records them, rate limits count per tenant). The strings are
 * copied; NULL clears a label. Returns DAL_OK, DAL_E_MISUSE (db NULL)
 * or DAL_NOMEM (the label is then unchanged).
 */
DAL_EXTERN int dal_set_tenant(dal_db *db, const char *tenant);
DAL_EXTERN int dal_set_actor(dal_db *db, const char *actor);
/* The labels of db, or NULL. Valid until they are set again or db is
 * closed. */
DAL_EXTERN const char *dal_tenant(const dal_db *db);
DAL_EXTERN const char *dal_actor(const dal_db *db);

/* The kind of a statement from its SQL text (see dal_stmt_kind). */
DAL_EXTERN dal_stmt_kind dal_sql_kind(const char *sql);

/* A static name per kind: "select", "insert", "update", "delete",
 * "ddl", "tx", "other". */
DAL_EXTERN const char *dal_stmt_kind_name(dal_stmt_kind k);

/* A static name per event kind: "before", "after", "connect", ... */
DAL_EXTERN const char *dal_event_kind_name(dal_event_kind k);

/* The monotonic clock libdal times statements with, in nanoseconds. */
DAL_EXTERN int64_t dal_clock_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* DAL_OBSERVE_H */
