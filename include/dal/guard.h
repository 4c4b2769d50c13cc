/*
 * dal/guard.h - guard rails and the audit trail, as observer hooks.
 *
 * A guard is a hook (see dal/observe.h) that looks at each statement
 * before it runs and refuses it when it breaks a rule: the statement is
 * then not run at all (not prepared on the server beyond what preparing
 * already did, not stepped), dal_step() returns the guard's code, and the
 * connection's error names the guard ("guard 'scripts': ..."). Every
 * rule is off until its option is set:
 *
 *   refuse_scripts  a dal_exec() text holding several statements is
 *                   refused before its first statement runs (so none of
 *                   it runs). Statements run by the migration engine
 *                   (dal_event.origin "migrate") are exempt, since
 *                   migrations are scripts, unless scripts_in_migrations
 *                   is also set. DAL_E_REFUSED, SQLSTATE 42501.
 *   require_where   an UPDATE or DELETE built with the query AST
 *                   (dal_update(), dal_delete(), and the model layer)
 *                   without dal_q_where() is refused unless the query
 *                   says dal_q_allow_all(). Raw SQL (dal_exec(),
 *                   dal_prepare()) is not looked at: libdal does not parse
 *                   SQL, and "UPDATE t SET x = 1" in raw SQL is taken as
 *                   written. DAL_E_REFUSED, SQLSTATE 42501.
 *   max_sql_len,    a statement whose SQL (as the caller wrote it; for
 *   max_params      a query AST, the compiled SQL) is longer than
 *                   max_sql_len bytes, or that has more than max_params
 *                   parameters, is refused with DAL_E_REFUSED and
 *                   SQLSTATE 54000 (program_limit_exceeded).
 *   timeout_ms      statements fail with DAL_E_TIMEOUT, SQLSTATE 57014,
 *                   once they have run timeout_ms milliseconds. PostgreSQL
 *                   enforces it (the guard sets the session's
 *                   statement_timeout before the first statement, without
 *                   going through hooks); SQLite through a progress
 *                   handler whose deadline is set as each statement
 *                   starts. On SQLite the time counts from the statement's
 *                   first dal_step() to its last, including the time the
 *                   caller spends between steps of a SELECT; on
 *                   PostgreSQL it is the server's time. PostgreSQL also
 *                   reports 57014 for a cancel: libdal tells them apart by
 *                   the server's message ("... due to statement timeout"
 *                   is DAL_E_TIMEOUT, "... due to user request" is
 *                   DAL_E_CANCELED). The message then says "guard
 *                   'timeout'". A timed-out statement inside a
 *                   transaction fails the transaction on PostgreSQL and,
 *                   for a write, rolls it back on SQLite: roll back.
 *                   Detaching the observer lifts the limit.
 *   rate            a token bucket per tenant (dal_set_tenant();
 *                   connections without a tenant share one bucket):
 *                   it holds up to burst statements and refills at rate
 *                   statements per second; a statement that finds it
 *                   empty is refused with DAL_E_RATE_LIMITED, SQLSTATE
 *                   53400. Transaction control (BEGIN, COMMIT, ROLLBACK,
 *                   SAVEPOINT) is not counted, so that a transaction can
 *                   always end. The buckets are shared by every
 *                   connection the guard watches, in any thread (a mutex),
 *                   and kept until dal_guard_free().
 *
 * Statements that the audit trail writes (origin "audit") pass every
 * guard but the timeout, which gives them a fresh deadline.
 *
 * A guard object is one hook: the rules it enables run in the order
 * above. Add the guard before hooks that should not see refused
 * statements, and after those that should (see dal_observer_add()).
 */
#ifndef DAL_GUARD_H
#define DAL_GUARD_H

#include "dal/core.h"
#include "dal/observe.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dal_guard dal_guard;

/* The rules of a guard; zero (or NULL) leaves a rule off. Initialise the
 * whole struct ({0} or a designated initializer). */
typedef struct dal_guard_opts {
    int refuse_scripts;
    int scripts_in_migrations; /* refuse migration scripts too */
    int require_where;
    size_t max_sql_len;        /* bytes; 0: no limit */
    int max_params;            /* 0: no limit */
    int timeout_ms;            /* 0: no timeout */
    double rate;               /* statements per second per tenant */
    double burst;              /* bucket size, 0 or at least 1; 0
                                  means max(rate, 1) */
    /* The rate limiter's clock, in nanoseconds on any monotonic scale;
     * NULL uses dal_clock_ns(). Lets tests move time by hand. Called
     * with clock_ctx, under the guard's mutex. */
    int64_t (*clock_ns)(void *clock_ctx);
    void *clock_ctx;
} dal_guard_opts;

/*
 * dal_guard_add - make a guard with the rules of opts (copied) and add it
 * to obs as one hook (obs not yet attached to any connection). *out
 * receives the guard; free it with dal_guard_free() after obs has been
 * freed (or at least detached from every connection).
 * Returns DAL_OK, DAL_E_MISUSE (NULL argument, obs already attached,
 * a negative limit, rate or burst, a burst below 1, or no rule enabled)
 * or DAL_NOMEM;
 * on failure *out is NULL and obs is unchanged.
 */
DAL_EXTERN int dal_guard_add(dal_observer *obs, const dal_guard_opts *opts,
                             dal_guard **out);

/* dal_guard_free - free g and its rate buckets. NULL is ignored. */
DAL_EXTERN void dal_guard_free(dal_guard *g);

/* ---- audit trail ---------------------------------------------------- */

/*
 * The audit trail records every statement that changes data or schema:
 * kinds INSERT, UPDATE, DELETE and DDL (dal_sql_kind(); SELECT, BEGIN /
 * COMMIT and the like are not recorded), with who ran it, its SQL, a
 * SHA-256 digest of its parameter values (never the values), the rows it
 * changed, when it ran and how long it took.
 *
 * Parameter digest: SHA-256, as 64 lower-case hex digits, over
 *   the number of parameters as 8 bytes big-endian, then for each value
 *   one tag byte and its bytes: 'N' (NULL, nothing more), 'B' and one
 *   byte 0/1 (bool), 'I' and 8 bytes big-endian two's complement
 *   (int64), 'D' and the 8 bytes of the IEEE 754 double big-endian,
 *   'T' or 'X' (text, blob), 8 bytes big-endian length and the bytes.
 * A statement without parameters hashes just the count 0.
 *
 * Sinks (one or both):
 *   sink    a callback, given every recorded statement when it ends,
 *           whether it succeeded or not (rc), including statements
 *           refused by a guard that comes after the audit hook in the
 *           observer's list.
 *   table   a table the trail writes one row into for each recorded
 *           statement that succeeded, on the statement's own
 *           connection, right after it (from the hook's AFTER event):
 *           inside the caller's transaction, so that the audit row
 *           commits or rolls back with the change; in autocommit, as a
 *           statement of its own just after it. Failed statements are
 *           not written (they changed nothing, and on PostgreSQL the
 *           failed transaction could not take the row). The writes run
 *           with dal_event.origin "audit": the trail does not record
 *           them, guards let them through, other hooks see them.
 *           dal_changes() still gives the caller's statement's count;
 *           the table has no generated key, so dal_last_insert_id() is
 *           not disturbed either.
 *
 * The table (created on demand with create_table, as CREATE TABLE IF
 * NOT EXISTS before a connection's first write, else by you) is, on
 * both backends:
 *
 *   CREATE TABLE dal_audit (
 *       id TEXT PRIMARY KEY,       -- unique; sorts in time order
 *       at_us BIGINT NOT NULL,     -- wall clock, microseconds since
 *                                  -- 1970-01-01 UTC, at the start
 *       actor TEXT,                -- dal_set_actor(), or NULL
 *       tenant TEXT,               -- dal_set_tenant(), or NULL
 *       origin TEXT,               -- "migrate", or NULL
 *       kind TEXT NOT NULL,        -- insert, update, delete, ddl
 *       sql_text TEXT NOT NULL,
 *       nparams INTEGER NOT NULL,
 *       params_sha256 TEXT NOT NULL,
 *       row_count BIGINT NOT NULL, -- rows changed (returned, with
 *                                  -- RETURNING); -1 unknown
 *       duration_us BIGINT NOT NULL
 *   )
 *
 * A write that fails (table missing, disk full) leaves its error on the
 * connection (on PostgreSQL it also fails the open transaction, so the
 * change cannot commit without its row) and is counted by
 * dal_audit_failures(); the caller's statement still reports success.
 */
typedef struct dal_audit dal_audit;

typedef struct dal_audit_record {
    const char *actor, *tenant; /* NULL when unset */
    const char *origin;         /* "migrate" or NULL */
    const char *backend;        /* "sqlite" or "postgres" */
    dal_stmt_kind kind;         /* INSERT, UPDATE, DELETE or DDL */
    const char *sql;
    int nparams;
    char params_sha256[65];
    int rc;                     /* DAL_OK or the statement's error */
    int64_t rows;               /* as dal_event.rows */
    int64_t at_us;              /* wall clock, microseconds since 1970 */
    int64_t duration_ns;
} dal_audit_record;

typedef struct dal_audit_opts {
    /* Called on the statement's thread (so possibly from several
     * threads at once, when connections of several threads share the
     * observer); the record and its strings are valid during the call
     * only. */
    void (*sink)(const dal_audit_record *rec, void *ctx);
    void *ctx;
    const char *table;  /* a table name (copied), or NULL */
    int create_table;   /* create it when missing */
} dal_audit_opts;

/*
 * dal_audit_add - make an audit trail with opts and add it to obs (not
 * yet attached) as one hook that asks for parameter values
 * (DAL_HOOK_PARAMS). Free *out with dal_audit_free() after obs.
 * Returns DAL_OK, DAL_E_MISUSE (NULL argument, obs attached, neither sink
 * nor table, a table name that is not a plain identifier) or DAL_NOMEM;
 * on failure *out is NULL and obs is unchanged.
 */
DAL_EXTERN int dal_audit_add(dal_observer *obs, const dal_audit_opts *opts,
                             dal_audit **out);

/* dal_audit_failures - how many table writes of a have failed. */
DAL_EXTERN int64_t dal_audit_failures(const dal_audit *a);

/* dal_audit_free - free a. NULL is ignored. */
DAL_EXTERN void dal_audit_free(dal_audit *a);

#ifdef __cplusplus
}
#endif

#endif /* DAL_GUARD_H */
