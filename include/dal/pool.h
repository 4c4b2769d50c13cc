/*
 * dal/pool.h - a thread-safe connection pool.
 *
 * A dal_db is used by one thread at a time; a dal_pool hands connections
 * out to any number of threads and takes them back. It keeps between
 * min_size and max_size connections per database, waits a bounded time
 * for a free one (DAL_E_POOL_TIMEOUT, never a silent NULL), pings a
 * connection on checkout when it sat idle longer than a threshold,
 * retires connections after a maximum lifetime (with jitter, so that
 * they do not all reconnect at once) or after an idle timeout, and
 * resets every connection it takes back (an open transaction rolled
 * back, session settings restored), so that no checkout sees what the
 * previous one left behind.
 *
 * Tenants: a URL holding "{tenant}" is a template, and each tenant gets a
 * database (and a sub-pool of connections) of its own: one SQLite file
 * per tenant, or one PostgreSQL database per tenant. Without the
 * template, a PostgreSQL pool puts each tenant in a schema of its own
 * (SET search_path on checkout, reset on return). Tenant names follow
 * identifier rules (see dal_pool_acquire_tenant()).
 *
 * Replicas and failover (PostgreSQL): the URL may list several primary
 * candidates (postgres://u@h1:5432,h2:5432/db) and replicas
 * (?replicas=h3:5432,h4:5432). The primary is the first candidate not in
 * recovery (pg_is_in_recovery()), found at the first checkout and again
 * after a connection to it is lost or a statement on it fails with 25006
 * (read-only): connections to the former primary are then closed, idle
 * ones at once and handed-out ones on return; the statement that met
 * the failure reports it to its caller. DAL_POOL_READ checkouts go to the
 * replica with the fewest connections handed out (ties in turn), after a
 * probe when the replica's last one is older than replica_probe_ms
 * [200]; a replica that cannot be reached is taken out and tried again
 * after replica_retry_ms [500], doubling up to replica_retry_max_ms
 * [30000]; with max_replica_lag_ms=N, one whose replay is more than N ms
 * behind is skipped. Reads fall back to the primary, without an error,
 * when no replica qualifies. read_your_writes=on: after a checkout
 * without DAL_POOL_READ is given back, reads go only to replicas that
 * have replayed the primary's WAL up to that point (one extra query on
 * return); read_your_writes=N keeps reads on the primary for N ms after
 * such a checkout. Whose reads: with a session (dal_pool_session_new(),
 * dal_pool_acquire_session()), a write moves that session's mark only,
 * and the session's reads wait for its own writes only, so that other
 * callers keep reading from replicas. Without a session, a write moves
 * the pool's mark, and every checkout without a session, in any thread,
 * waits for it. On SQLite, these options are refused with
 * DAL_E_UNSUPPORTED (sessions work, and change nothing there). See
 * docs/readme-cluster.md.
 *
 * Threads: every function here may be called from any thread, except
 * dal_pool_free(), which the caller calls once no other thread uses the
 * pool. A connection handed out belongs to the thread that acquired it
 * until it gives it back with dal_pool_release().
 */
#ifndef DAL_POOL_H
#define DAL_POOL_H

#include <stdint.h>

#include "dal/core.h"
#include "dal/observe.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dal_pool dal_pool;
typedef struct dal_pool_session dal_pool_session;

/*
 * How a pool behaves. Zero fields take the defaults in brackets; a
 * negative value means "never" or "none" where that is said. The URL
 * may set the same values as query options (pool_min=, pool_max=,
 * pool_timeout=, pool_health_idle=, pool_max_lifetime=,
 * pool_lifetime_jitter=, pool_idle_timeout=, pool_reaper_interval=,
 * pool_max_tenants=), which win over the struct; libdal takes them out of
 * the URL before the driver sees the rest. Times are in milliseconds.
 */
typedef struct dal_pool_config {
    int min_size;          /* connections kept open per database [0] */
    int max_size;          /* connections per database at most [10] */
    int acquire_timeout_ms; /* wait for a free connection [5000];
                              < 0 waits without end */
    int health_idle_ms;    /* ping on checkout when idle longer [1000];
                              < 0 never pings */
    int max_lifetime_ms;   /* retire connections this old [0: never] */
    int lifetime_jitter_ms; /* ... up to this much earlier, at random
                               per connection [0] */
    int idle_timeout_ms;   /* close connections idle this long, down to
                              min_size [0: never] */
    int reaper_interval_ms; /* how often the reaper thread runs [1000];
                               < 0: no reaper thread (lifetime is then
                               checked on checkout and return only) */
    int max_tenants;       /* tenant databases with a sub-pool open at
                              once (URL template only) [16] */
    /* Attached to every connection the pool opens (dal_open_observed()):
     * its hooks see connect, checkout, return and every statement. It
     * must outlive the pool. May be NULL. */
    dal_observer *observer;
} dal_pool_config;

/* Flags of dal_pool_acquire(). */
#define DAL_POOL_READ 0x1 /* the caller only reads: a replica may serve
                             (the primary when none is configured) */

/*
 * Make a pool for url (see dal_open() for URLs) with cfg (NULL: every
 * default) in *out. Opens min_size connections before returning (for a
 * tenant template, none until a tenant is asked for) and starts the
 * reaper thread. Free it with dal_pool_free().
 * Returns DAL_OK; DAL_E_URL (malformed URL or pool option, bad config:
 * the message is in dal_pool_errmsg()); DAL_E_CONNECT (one of the first
 * min_size connections failed; nothing is kept); DAL_E_MISUSE (NULL
 * argument, min_size > max_size); DAL_NOMEM. *out is NULL on error.
 */
DAL_EXTERN int dal_pool_new(const char *url, const dal_pool_config *cfg,
                            dal_pool **out);

/*
 * Stop the reaper thread (and wait for it), close every connection, and
 * free pool. Every connection must have been released first: those
 * still handed out are closed as well, and must not be used after.
 * NULL is accepted.
 */
DAL_EXTERN void dal_pool_free(dal_pool *pool);

/*
 * Hand a connection out in *dbp: an idle one (pinged first when it sat
 * idle longer than health_idle_ms; a dead one is closed and replaced),
 * or a new one while fewer than max_size are open, or the first one
 * released within acquire_timeout_ms. flags: 0 or DAL_POOL_READ. The
 * connection is the caller's until dal_pool_release(); never dal_close()
 * it. The observer's hooks see DAL_EV_CHECKOUT.
 * Returns DAL_OK; DAL_E_POOL_TIMEOUT (none became free in time);
 * DAL_E_CONNECT (a new connection failed; message in dal_pool_errmsg());
 * DAL_E_MISUSE (NULL argument, unknown flag, a tenant template pool
 * asked without a tenant, the pool is being freed); DAL_NOMEM.
 * *dbp is NULL on error.
 */
DAL_EXTERN int dal_pool_acquire(dal_pool *pool, int flags, dal_db **dbp);

/*
 * dal_pool_acquire() for tenant: with a URL template, a connection to
 * the tenant's own database (its sub-pool is made on first use; when
 * max_tenants sub-pools exist, the one unused longest with no connection
 * handed out is closed, or the call waits as for a connection); without
 * one, on PostgreSQL, a connection whose search_path is the tenant's
 * schema only ("tenant", which the caller creates), reset on return.
 * The connection carries tenant as its label (dal_tenant()).
 * tenant must be 1 to 63 characters: ASCII letters, digits and '_', not
 * starting with a digit; anything else is DAL_E_MISUSE.
 * Schema per tenant isolates unqualified names; a statement that names
 * another schema explicitly still reaches it (use a database per tenant,
 * or PostgreSQL privileges, where that matters).
 * Returns what dal_pool_acquire() returns, and DAL_E_UNSUPPORTED for a
 * backend without schemas (SQLite) when the URL is not a template.
 */
DAL_EXTERN int dal_pool_acquire_tenant(dal_pool *pool, const char *tenant,
                                       int flags, dal_db **dbp);

/*
 * Make a session of pool in *out: the read-your-writes scope of one
 * caller (one request, one user, one thread), passed to
 * dal_pool_acquire_session(). After a checkout without DAL_POOL_READ in
 * the session is given back, the session's DAL_POOL_READ checkouts go
 * to a replica that has replayed past that write (the primary's WAL
 * insert position when it was given back), else to the primary
 * (read_your_writes=on), or stay on the primary for N ms
 * (read_your_writes=N). Other sessions, and checkouts without a
 * session, are not held back by it. With read_your_writes off, on a pool
 * without replicas, and on SQLite (one database: every read sees every
 * write), a session changes nothing, so that code written with sessions
 * runs on every URL. A new session has no mark: its reads go to any
 * replica that qualifies.
 * A session is used by one thread at a time, like a dal_db (including
 * the releases of connections acquired with it). Free it with
 * dal_pool_session_free() once every connection acquired with it has
 * been released; it may be freed before or after its pool.
 * Returns DAL_OK; DAL_E_MISUSE (NULL argument); DAL_NOMEM. *out is NULL
 * on error.
 */
DAL_EXTERN int dal_pool_session_new(dal_pool *pool, dal_pool_session **out);

/*
 * Free a session made by dal_pool_session_new(). Every connection
 * acquired with it must have been released (or its pool freed). It
 * touches no pool, so it may run after dal_pool_free(). NULL is
 * accepted.
 */
DAL_EXTERN void dal_pool_session_free(dal_pool_session *session);

/*
 * dal_pool_acquire() (tenant NULL) or dal_pool_acquire_tenant() (tenant
 * named) in session: a DAL_POOL_READ checkout waits for the session's
 * own writes only (see dal_pool_session_new()), and a checkout without
 * DAL_POOL_READ moves the session's mark, not the pool's, when it is
 * given back. session NULL is a checkout without a session (the pool's
 * mark). session must come from dal_pool_session_new() for this pool.
 * Returns what dal_pool_acquire() / dal_pool_acquire_tenant() return;
 * DAL_E_MISUSE also for a session of another pool. *dbp is NULL on
 * error.
 */
DAL_EXTERN int dal_pool_acquire_session(dal_pool *pool,
                                        dal_pool_session *session,
                                        const char *tenant, int flags,
                                        dal_db **dbp);

/*
 * Give db back to pool. An open transaction is rolled back, session
 * settings are restored to what the connection was opened with
 * (PostgreSQL: RESET ALL, CLOSE ALL, UNLISTEN *, advisory locks released,
 * temporary tables dropped; prepared statements of the statement cache
 * are kept. SQLite: the pragmas libdal set on open), the tenant and
 * actor labels are cleared, and the observer's hooks see DAL_EV_RETURN.
 * A connection whose reset fails, whose last error says it was lost, or
 * that outlived max_lifetime_ms, is closed instead.
 * db must come from pool and not be released twice (DAL_E_MISUSE);
 * every statement of db that the caller prepared must have been
 * finalized. Returns DAL_OK or DAL_E_MISUSE; db NULL is accepted.
 */
DAL_EXTERN int dal_pool_release(dal_pool *pool, dal_db *db);

/* A pool's figures, from dal_pool_stats(). Counters run since the pool
 * was made; times are nanoseconds. */
typedef struct dal_pool_counters {
    int total;      /* connections open (idle + in use) */
    int idle;       /* open and free */
    int in_use;     /* handed out */
    int waiting;    /* callers waiting for a free connection now */
    uint64_t acquires;         /* successful checkouts */
    uint64_t acquire_waits;    /* ... of which had to wait */
    uint64_t acquire_timeouts; /* DAL_E_POOL_TIMEOUT returned */
    int64_t acquire_wait_ns;   /* time spent in acquire, in all */
    int64_t acquire_wait_max_ns; /* the longest single acquire */
    uint64_t created;    /* connections opened */
    uint64_t destroyed;  /* connections closed */
    uint64_t failed;     /* connection attempts that failed */
    uint64_t health_checks;   /* pings on checkout */
    uint64_t health_failures; /* ... that found a dead connection */
} dal_pool_counters;

/*
 * Copy pool's figures into *out (over every database of the pool:
 * primary, replicas, tenants). Safe while other threads use the pool.
 * Returns DAL_OK or DAL_E_MISUSE (NULL argument).
 */
DAL_EXTERN int dal_pool_stats(dal_pool *pool, dal_pool_counters *out);

/*
 * Run fn(db, data) in a transaction (dal_tx_run() with flags and policy)
 * on a connection of pool, acquired with acquire_flags and released
 * after. Besides dal_tx_run()'s retryable errors, a connection found
 * lost when the transaction began (DAL_E_CONNECT at BEGIN: nothing of
 * the transaction reached the server) is closed and the attempt made
 * again on another connection, within the policy's attempts and time.
 * policy NULL runs it once. Returns fn's or the transaction's code, or
 * dal_pool_acquire()'s; the message is in dal_pool_errmsg().
 */
DAL_EXTERN int dal_pool_tx_run(dal_pool *pool, int acquire_flags,
                               int flags,
                               int (*fn)(dal_db *db, void *data),
                               void *data,
                               const dal_retry_policy *policy);

/*
 * The message of the calling thread's last failed pool call (the
 * connection's error for DAL_E_CONNECT, the option for DAL_E_URL), or ""
 * when there is none. Valid until the thread's next pool call; passwords
 * never appear in it.
 */
DAL_EXTERN const char *dal_pool_errmsg(void);

#ifdef __cplusplus
}
#endif

#endif /* DAL_POOL_H */
