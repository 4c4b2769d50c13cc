/*
 * dal/metrics.h - metrics, statement statistics and statement-cache
 * counters, all fed by hooks on the core's one execution path
 * (dal/observe.h).
 *
 * A metrics registry (dal_metrics) counts statements by kind and
 * outcome, their latency as a histogram, rows, errors by SQLSTATE class,
 * transactions, connections and the prepared-statement cache, per
 * backend, and writes them in the Prometheus text exposition format.
 * Statement statistics (dal_stats) keep, per normalized SQL text, the
 * calls, total / mean / max / p99 time and rows, like PostgreSQL's
 * pg_stat_statements but in the client and on every backend.
 *
 * Both are added to an observer (dal_metrics_observe(),
 * dal_stats_observe()) before the observer is attached to a connection,
 * and may then be shared by connections used in several threads.
 *
 * Pool gauges (connections total, idle, in use, waiting, acquire wait)
 * come from the pools added with dal_metrics_add_pool().
 */
#ifndef DAL_METRICS_H
#define DAL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "dal/core.h"
#include "dal/observe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- metrics registry ---------------------------------------------- */

typedef struct dal_metrics dal_metrics;

/*
 * Make an empty metrics registry in *out. Free it with dal_metrics_free()
 * after every connection whose observer feeds it has been closed or
 * detached. Returns DAL_OK, DAL_E_MISUSE (out is NULL) or DAL_NOMEM.
 */
DAL_EXTERN int dal_metrics_new(dal_metrics **out);

/*
 * Free m. DAL_E_MISUSE (and nothing freed) while a connection still
 * feeds it; NULL is accepted.
 */
DAL_EXTERN int dal_metrics_free(dal_metrics *m);

/*
 * Add m's hook to obs (dal_observer_add()), so that every connection obs
 * is attached to feeds m. Each connection counts into a shard of its own
 * (no lock and no atomic read-modify-write per statement), which is
 * folded into m when the connection closes or is detached; readers add
 * up the live shards under m's mutex. One registry may be fed by several
 * observers. Returns DAL_OK, DAL_E_MISUSE (NULL argument, or obs is
 * already attached) or DAL_NOMEM.
 *
 * What is counted, per backend ("sqlite", "postgres"):
 * - statements by kind (dal_stmt_kind_name()) and outcome: "ok",
 *   "error", or "refused" (a hook's veto with DAL_E_REFUSED or
 *   DAL_E_RATE_LIMITED);
 * - the duration of statements that ran (ok or error) as a histogram;
 * - rows returned or changed, by kind;
 * - errors (outcome "error") by SQLSTATE class, the first two characters
 *   of dal_sqlstate() when the statement ended;
 * - transactions ended through dal_commit() / dal_rollback() at depth 1:
 *   "committed", "rolled_back", or "commit_failed"; savepoints (depth
 *   2 and more) separately as "released" / "rolled_back". A COMMIT
 *   written as plain SQL is counted as a "tx" statement only;
 * - connections opened, failed (dal_open_observed() failed) and closed;
 *   a connection attached with dal_observe() was not opened under m;
 * - the statement cache's hits, misses and evictions
 *   (dal_stmt_cache_stats()), copied from the connection when each of
 *   its statements ends; for an async handle, its connections' caches
 *   (see dal_async_observe() in dal/async.h).
 */
DAL_EXTERN int dal_metrics_observe(dal_metrics *m, dal_observer *obs);

/*
 * Write m in the Prometheus text exposition format, version 0.0.4, into
 * a new NUL-terminated string: *textp (free it with dal_free()), and its
 * length in *lenp when lenp is not NULL. Safe while connections in other
 * threads feed m. The families are:
 *   dal_statements_total{backend,kind,outcome}          counter
 *   dal_statement_duration_seconds{backend}             histogram
 *       (buckets 50us .. 10s, then +Inf)
 *   dal_rows_total{backend,kind}                        counter
 *   dal_errors_total{backend,class}                     counter
 *   dal_transactions_total{backend,outcome}             counter
 *   dal_savepoints_total{backend,outcome}               counter
 *   dal_connections_total{backend,event}                counter
 *       (event: opened, failed, closed)
 *   dal_connections_attached{backend}                   gauge
 *   dal_statement_cache_hits_total{backend}             counter
 *   dal_statement_cache_misses_total{backend}           counter
 *   dal_statement_cache_evictions_total{backend}        counter
 * and, for each result cache added with dal_metrics_add_rcache():
 *   dal_result_cache_hits_total{cache}                  counter
 *   dal_result_cache_misses_total{cache}                counter
 *   dal_result_cache_invalidations_total{cache}         counter
 *   dal_result_cache_evictions_total{cache}             counter
 *   dal_result_cache_expirations_total{cache}           counter
 *   dal_result_cache_entries{cache}                     gauge
 *   dal_result_cache_bytes{cache}                       gauge
 * Labelled breakdowns (statements, rows, errors) list only the label
 * sets seen. Returns DAL_OK, DAL_E_MISUSE (m or textp NULL) or DAL_NOMEM
 * (*textp is then NULL).
 */
DAL_EXTERN int dal_metrics_write_prometheus(dal_metrics *m, char **textp,
                                            size_t *lenp);

/*
 * Export the counters of result cache cache (dal/rcache.h) with m, under
 * the label cache="name" (name is copied). The cache is read each time m
 * is written, so it must stay alive until m is freed. Call it while
 * setting m up, before m is written from other threads.
 * Returns DAL_OK, DAL_E_MISUSE (a NULL argument, an empty name, a cache
 * or name added already) or DAL_NOMEM.
 */
struct dal_rcache;
DAL_EXTERN int dal_metrics_add_rcache(dal_metrics *m,
                                      struct dal_rcache *cache,
                                      const char *name);

/*
 * Export pool's figures (dal_pool_stats()) with m, under the label
 * pool="name" (name is copied):
 *   dal_pool_connections{pool,state}        gauge (state: idle, in_use)
 *   dal_pool_size{pool}                     gauge (idle + in use)
 *   dal_pool_waiting{pool}                  gauge
 *   dal_pool_acquire_timeouts_total{pool}   counter
 *   dal_pool_acquire_wait_seconds{pool}     summary (_sum and _count,
 *       over every successful checkout)
 *   dal_pool_connection_events_total{pool,event}  counter
 *       (event: created, destroyed, failed)
 * The pool is read each time m is written, so it must stay alive until
 * m is freed. Call it while setting m up, before m is written from other
 * threads. Returns DAL_OK, DAL_E_MISUSE (a NULL argument, an empty name,
 * a pool or name added already) or DAL_NOMEM.
 */
struct dal_pool;
DAL_EXTERN int dal_metrics_add_pool(dal_metrics *m, struct dal_pool *pool,
                                    const char *name);

/* ---- statement statistics ------------------------------------------ */

typedef struct dal_stats dal_stats;

/* Default number of entries of dal_stats_new(). */
#define DAL_STATS_DEFAULT_MAX 1000

/*
 * Make an empty statement-statistics table in *out, keeping at most
 * max_entries normalized statements (0: DAL_STATS_DEFAULT_MAX). When it
 * is full, a statement not seen yet evicts an entry with the fewest
 * calls (dal_stats_evictions() counts them; finding it scans the table,
 * which only a full table's new statements pay). Free it with
 * dal_stats_free(). Returns DAL_OK, DAL_E_MISUSE (out NULL or
 * max_entries negative) or DAL_NOMEM.
 */
DAL_EXTERN int dal_stats_new(int max_entries, dal_stats **out);

/* Free s. DAL_E_MISUSE (nothing freed) while a connection feeds it;
 * NULL is accepted. */
DAL_EXTERN int dal_stats_free(dal_stats *s);

/*
 * Add s's hook to obs, so that every statement of the connections obs
 * is attached to is counted in s under its normalized text
 * (dal_stats_normalize()) and backend. A statement refused by a hook is
 * not counted; one that failed is (calls and errors). s is locked once
 * per statement (after the statement, never while it runs).
 * Returns DAL_OK, DAL_E_MISUSE or DAL_NOMEM.
 */
DAL_EXTERN int dal_stats_observe(dal_stats *s, dal_observer *obs);

/* One normalized statement of a snapshot. Times are nanoseconds. */
typedef struct dal_stat {
    const char *query;   /* normalized SQL text */
    const char *backend; /* "sqlite", "postgres" */
    uint64_t calls;      /* executions (errors included) */
    uint64_t errors;     /* executions that failed */
    uint64_t rows;       /* rows returned or changed, in all */
    int64_t total_ns;
    int64_t mean_ns;     /* total_ns / calls */
    int64_t max_ns;
    /* The 99th percentile from a log-bucketed histogram of 8 buckets
     * per power of two: an upper bound, at most 12.5% above the exact
     * value, and never more than max_ns. */
    int64_t p99_ns;
} dal_stat;

/*
 * Copy the entries of s, sorted by total time (most first; then by
 * calls, then by text), into a new array: *out (n entries in *np). The
 * array and its query strings are one allocation: free it with
 * dal_free(*out) (backend names are static). With no entries, *out is NULL and *np 0. Safe while
 * connections in other threads feed s. Returns DAL_OK, DAL_E_MISUSE or
 * DAL_NOMEM.
 */
DAL_EXTERN int dal_stats_snapshot(dal_stats *s, dal_stat **out,
                                  size_t *np);

/* Forget every entry of s. Returns DAL_OK or DAL_E_MISUSE (s NULL). */
DAL_EXTERN int dal_stats_reset(dal_stats *s);

/* How many entries s has evicted to make room, since it was made. */
DAL_EXTERN uint64_t dal_stats_evictions(dal_stats *s);

/*
 * Normalize sql the way dal_stats keys statements, into a new string
 * *out (free it with dal_free()):
 * - string literals ('...', E'...' keeps its E, $tag$...$tag$) and
 *   numbers (12, 1.5e3, 0x1F) become ?;
 * - placeholders ?, ?N, $N, :name and @name become ? (the :: cast is
 *   kept);
 * - comments are dropped, runs of white space become one space, and
 *   leading and trailing space and semicolons go;
 * - case, quoted identifiers and everything else are kept, so
 *   "SELECT 1" and "SELECT 2" are one statement, "select 1" another.
 * Returns DAL_OK, DAL_E_MISUSE (NULL argument) or DAL_NOMEM.
 */
DAL_EXTERN int dal_stats_normalize(const char *sql, char **out);

/* ---- statement cache ------------------------------------------------ */

/*
 * The counters of db's prepared-statement cache since db was opened:
 * lookups that found a statement (hits), that prepared one (misses) and
 * statements evicted to make room (evictions). Any output pointer may be
 * NULL. A connection opened with statement_cache=0 has no cache and
 * reports zeros. Returns DAL_OK or DAL_E_MISUSE (db NULL).
 */
DAL_EXTERN int dal_stmt_cache_stats(const dal_db *db, uint64_t *hits,
                                    uint64_t *misses, uint64_t *evictions);

#ifdef __cplusplus
}
#endif

#endif /* DAL_METRICS_H */
