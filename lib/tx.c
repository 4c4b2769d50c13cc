/*
 * tx.c - transactions and savepoints. dal_begin() opens a transaction,
 * or a savepoint when one is open, so that code which needs atomicity
 * can nest without knowing whether its caller already began one. The
 * statements run through dal_exec_params(), so they are prepared once
 * per connection and pass the core's one execution path.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dal-int.h"

#define TX_LOCKING (DAL_TX_DEFERRED | DAL_TX_IMMEDIATE | DAL_TX_EXCLUSIVE)
#define TX_ISOLATION (DAL_TX_READ_COMMITTED | DAL_TX_REPEATABLE_READ \
                      | DAL_TX_SERIALIZABLE)
#define TX_ALL (TX_LOCKING | TX_ISOLATION | DAL_TX_READ_ONLY)

/* More than one bit of mask set in flags. */
static int several(int flags, int mask)
{
    int f = flags & mask;

    return f & (f - 1);
}

int dal__tx_flags_ok(int flags)
{
    return !(flags & ~TX_ALL) && !several(flags, TX_LOCKING)
           && !several(flags, TX_ISOLATION);
}

/*
 * Bring the depth in line with the backend: a COMMIT or ROLLBACK run as
 * plain SQL, or a failure that ended the transaction, leaves none open.
 */
static void sync_depth(dal_db *db)
{
    if (db->tx_depth > 0 && !db->drv->in_tx(db->conn))
        db->tx_depth = 0;
}

static int tx_ended(dal_db *db, int rc);

static int usable(dal_db *db)
{
    if (!db)
        return DAL_E_MISUSE;
    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, "08003",
                            "the connection is not open");
    return DAL_OK;
}

/*
 * Run sql (a ROLLBACK or a clean-up) while keeping the error that made it
 * necessary: the caller wants to see the first failure, not this one.
 */
static void run_keeping_error(dal_db *db, const char *sql)
{
    struct dal__err saved = db->err;

    memset(&db->err, 0, sizeof db->err);
    dal_exec_params(db, sql, NULL, 0);
    dal__clearerr(db);
    db->err = saved;
}

void dal__rollback_keep_error(dal_db *db)
{
    char sql[96];

    sync_depth(db);
    if (db->tx_depth == 0)
        return;
    if (db->tx_depth == 1) {
        run_keeping_error(db, "ROLLBACK");
        if (DAL__UNLIKELY(db->obs != NULL))
            dal__obs_event(db, DAL_EV_ROLLBACK, DAL_OK, 1);
        db->tx_depth = 0;
        tx_ended(db, db->err.code ? db->err.code : DAL_ERROR);
        return;
    }
    snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT dal_sp_%d",
             db->tx_depth - 1);
    run_keeping_error(db, sql);
    snprintf(sql, sizeof sql, "RELEASE SAVEPOINT dal_sp_%d",
             db->tx_depth - 1);
    run_keeping_error(db, sql);
    if (DAL__UNLIKELY(db->obs != NULL))
        dal__obs_event(db, DAL_EV_ROLLBACK, DAL_OK, db->tx_depth);
    db->tx_depth--;
    sync_depth(db);
}

/* After the outermost level ended, let the driver undo its settings. */
static int tx_ended(dal_db *db, int rc)
{
    const char *sql;
    int rc2;

    sync_depth(db);
    if (db->tx_depth > 0 || !db->drv->end_sql)
        return rc;
    sql = db->drv->end_sql(db->conn);
    if (!sql)
        return rc;
    if (rc != DAL_OK) {
        /* Keep the transaction's error, not the clean-up's. */
        run_keeping_error(db, sql);
        return rc;
    }
    rc2 = dal_exec_params(db, sql, NULL, 0);
    return rc2;
}

int dal_begin(dal_db *db, int flags)
{
    char sql[64];
    dal__buf b = {0};
    const char *p;
    int rc;

    if ((rc = usable(db)) != DAL_OK)
        return rc;
    sync_depth(db);
    if (db->tx_depth > 0) {
        if (flags)
            return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_begin: flags "
                                "apply to the outermost transaction only; "
                                "a nested level is a savepoint");
        snprintf(sql, sizeof sql, "SAVEPOINT dal_sp_%d", db->tx_depth);
        rc = dal_exec_params(db, sql, NULL, 0);
        if (rc == DAL_OK) {
            db->tx_depth++;
            if (DAL__UNLIKELY(db->obs != NULL))
                dal__obs_event(db, DAL_EV_BEGIN, DAL_OK, db->tx_depth);
        }
        return rc;
    }
    if (!dal__tx_flags_ok(flags))
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_begin: invalid "
                            "flags 0x%x (at most one locking mode and one "
                            "isolation level)", (unsigned)flags);
    rc = db->drv->begin_sql(db, db->conn, flags, &b);
    if (rc != DAL_OK) {
        dal__buf_free(&b);
        return rc;
    }
    for (p = b.p; rc == DAL_OK && p && p < b.p + b.len; p += strlen(p) + 1)
        rc = dal_exec_params(db, p, NULL, 0);
    dal__buf_free(&b);
    if (rc == DAL_OK) {
        db->tx_depth = 1;
        if (DAL__UNLIKELY(db->obs != NULL))
            dal__obs_event(db, DAL_EV_BEGIN, DAL_OK, 1);
        return DAL_OK;
    }
    /* A failure after BEGIN (e.g. the read-only pragma) must not leave a
     * transaction open that the caller does not know about. */
    if (db->drv->in_tx(db->conn))
        run_keeping_error(db, "ROLLBACK");
    return tx_ended(db, rc);
}

/* The event for the end of a level; a failed COMMIT reports its code. */
static void tx_event(dal_db *db, int commit, int rc, int depth)
{
    if (DAL__LIKELY(db->obs == NULL))
        return;
    dal__obs_event(db, commit ? DAL_EV_COMMIT : DAL_EV_ROLLBACK, rc,
                   depth);
}

static int end_level(dal_db *db, int commit)
{
    char sql[96];
    int rc;

    if ((rc = usable(db)) != DAL_OK)
        return rc;
    sync_depth(db);
    if (db->tx_depth == 0)
        return dal__seterrf(db, DAL_E_MISUSE, "25P01", "dal_%s: no "
                            "transaction is open",
                            commit ? "commit" : "rollback");
    if (db->tx_depth == 1) {
        rc = dal_exec_params(db, commit ? "COMMIT" : "ROLLBACK", NULL, 0);
        tx_event(db, commit, rc, 1);
        if (rc == DAL_OK)
            db->tx_depth = 0;
        return tx_ended(db, rc);
    }
    if (commit) {
        snprintf(sql, sizeof sql, "RELEASE SAVEPOINT dal_sp_%d",
                 db->tx_depth - 1);
        rc = dal_exec_params(db, sql, NULL, 0);
    } else {
        /* ROLLBACK TO keeps the savepoint; release it so that the level
         * is gone, as after a commit. */
        snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT dal_sp_%d",
                 db->tx_depth - 1);
        rc = dal_exec_params(db, sql, NULL, 0);
        if (rc == DAL_OK) {
            snprintf(sql, sizeof sql, "RELEASE SAVEPOINT dal_sp_%d",
                     db->tx_depth - 1);
            rc = dal_exec_params(db, sql, NULL, 0);
        }
    }
    tx_event(db, commit, rc, db->tx_depth);
    if (rc == DAL_OK)
        db->tx_depth--;
    sync_depth(db);
    return rc;
}

int dal_commit(dal_db *db)
{
    return end_level(db, 1);
}

int dal_rollback(dal_db *db)
{
    return end_level(db, 0);
}

int dal_tx_depth(const dal_db *db)
{
    if (!db || !db->conn || db->zombie)
        return 0;
    if (db->tx_depth > 0 && !db->drv->in_tx(db->conn))
        return 0;
    return db->tx_depth;
}

/* ---- dal_tx_run ---------------------------------------------------- */

/* Close every level from level up, keeping the error that is there. */
static void unwind_to(dal_db *db, int level)
{
    int depth;

    while ((depth = dal_tx_depth(db)) >= level && depth > 0) {
        dal__rollback_keep_error(db);
        if (dal_tx_depth(db) == depth)
            break; /* the connection refuses: nothing more to do */
    }
}

/* One attempt: begin, fn, commit or roll back. *at_begin says whether
 * it failed in dal_begin(), before fn ran. */
static int run_once(dal_db *db, int flags, int (*fn)(dal_db *, void *),
                    void *data, int *at_begin)
{
    int level = dal_tx_depth(db) + 1;
    int rc;

    *at_begin = 0;
    if ((rc = dal_begin(db, flags)) != DAL_OK) {
        *at_begin = 1;
        return rc;
    }
    rc = fn(db, data);
    if (rc == DAL_OK && dal_tx_depth(db) != level)
        rc = dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_tx_run: the "
                          "function %s the transaction it was given",
                          dal_tx_depth(db) < level ? "ended" : "left "
                          "nested levels open in");
    if (rc == DAL_OK) {
        rc = dal_commit(db);
        if (rc != DAL_OK)
            unwind_to(db, level);
        return rc;
    }
    /* An error of fn's own that it did not record gets a message. */
    if (dal_errcode(db) == DAL_OK)
        dal__seterrf(db, rc > 0 && rc <= DAL_E_RATE_LIMITED ? rc
                     : DAL_ERROR, NULL, "the transaction function "
                     "returned %d", rc);
    unwind_to(db, level);
    return rc;
}

/* A random number below n + 1 from *seed (xorshift64). */
static int64_t jitter(uint64_t *seed, int64_t n)
{
    uint64_t x = *seed;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *seed = x;
    return n > 0 ? (int64_t)(x % (uint64_t)(n + 1)) : 0;
}

int dal_tx_run(dal_db *db, int flags, int (*fn)(dal_db *db, void *data),
               void *data, const dal_retry_policy *policy)
{
    int attempts = 1, base = 10, most = 1000, total = 0, i, rc, at_begin;
    uint64_t seed;
    int64_t t0, ceiling, wait;

    if ((rc = usable(db)) != DAL_OK)
        return rc;
    if (!fn)
        return dal__seterrf(db, DAL_E_MISUSE, NULL,
                            "dal_tx_run: fn is NULL");
    if (policy) {
        if (policy->max_attempts < 0 || policy->base_delay_ms < 0
            || policy->max_delay_ms < 0 || policy->max_total_ms < 0)
            return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_tx_run: "
                                "negative value in the retry policy");
        attempts = policy->max_attempts ? policy->max_attempts : 3;
        base = policy->base_delay_ms ? policy->base_delay_ms : base;
        most = policy->max_delay_ms ? policy->max_delay_ms : most;
        total = policy->max_total_ms;
    }
    /* Inside a transaction: once, in a savepoint (see core.h). */
    if (dal_tx_depth(db) > 0)
        return run_once(db, flags, fn, data, &at_begin);
    t0 = dal_clock_ns();
    seed = (uint64_t)t0 ^ (uint64_t)(uintptr_t)&seed;
    seed = seed ? seed : 0x9e3779b97f4a7c15u;
    for (i = 1;; i++) {
        rc = run_once(db, flags, fn, data, &at_begin);
        if (rc == DAL_OK || !dal_is_retryable(rc) || i >= attempts)
            return rc;
        ceiling = i - 1 < 30 ? (int64_t)base << (i - 1) : most;
        if (ceiling > most)
            ceiling = most;
        wait = policy->no_jitter ? ceiling : jitter(&seed, ceiling);
        if (total > 0
            && (dal_clock_ns() - t0) / 1000000 + wait >= total)
            return rc;
        dal__sleep_ms(wait);
    }
}

/*
 * dal_tx_run() on a connection taken from get() for each attempt and
 * given back to put() after it (with the attempt's code). Besides the
 * retryable class, an attempt whose BEGIN found the connection lost is
 * made again at once on the next connection: nothing of the transaction
 * reached the server, and the pool closes the lost one.
 */
int dal__tx_run_with(int flags, int (*fn)(dal_db *db, void *data),
                     void *data, const dal_retry_policy *policy,
                     int (*get)(void *ctx, dal_db **db),
                     void (*put)(void *ctx, dal_db *db, int rc), void *ctx)
{
    int attempts = 1, base = 10, most = 1000, total = 0, i, rc, at_begin;
    uint64_t seed;
    int64_t t0, ceiling, wait;
    dal_db *db;

    if (policy) {
        if (policy->max_attempts < 0 || policy->base_delay_ms < 0
            || policy->max_delay_ms < 0 || policy->max_total_ms < 0)
            return DAL_E_MISUSE;
        attempts = policy->max_attempts ? policy->max_attempts : 3;
        base = policy->base_delay_ms ? policy->base_delay_ms : base;
        most = policy->max_delay_ms ? policy->max_delay_ms : most;
        total = policy->max_total_ms;
    }
    t0 = dal_clock_ns();
    seed = (uint64_t)t0 ^ (uint64_t)(uintptr_t)&seed;
    seed = seed ? seed : 0x9e3779b97f4a7c15u;
    for (i = 1;; i++) {
        if ((rc = get(ctx, &db)) != DAL_OK)
            return rc;
        rc = run_once(db, flags, fn, data, &at_begin);
        put(ctx, db, rc);
        if (rc == DAL_OK || i >= attempts)
            return rc;
        if (rc == DAL_E_CONNECT && at_begin) {
            if (total > 0 && (dal_clock_ns() - t0) / 1000000 >= total)
                return rc;
            continue;
        }
        if (!dal_is_retryable(rc))
            return rc;
        ceiling = i - 1 < 30 ? (int64_t)base << (i - 1) : most;
        if (ceiling > most)
            ceiling = most;
        wait = policy->no_jitter ? ceiling : jitter(&seed, ceiling);
        if (total > 0
            && (dal_clock_ns() - t0) / 1000000 + wait >= total)
            return rc;
        dal__sleep_ms(wait);
    }
}
