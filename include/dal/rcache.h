/*
 * dal/rcache.h - a result cache: opt-in per query, with a TTL, keyed by
 * the connection's URL, the SQL text and the parameter values (exact
 * bytes and types), invalidated by the writes libdal runs.
 *
 *   dal_rcache *cache;
 *   dal_rcache_new(NULL, &cache);              16 MiB, in-process
 *   dal_rcache_observe(cache, obs);            before obs is attached
 *   dal_open_observed(url, obs, &db);          every connection that
 *                                              writes the tables
 *   dal_result *r;
 *   rc = dal_rcache_query(db, cache, "SELECT name FROM users WHERE id = ?",
 *                         (dal_value[]){DAL_V_INT64(7)}, 1, 5000, &r);
 *   ... dal_result_value(r, 0, 0) ...
 *   dal_result_free(r);
 *
 * A cached query returns a dal_result: the whole result, materialized.
 * Results are immutable and reference-counted; the cache and every
 * caller hold references, so a caller's handle stays valid after its
 * entry is evicted, invalidated or expired, and after the cache is freed.
 *
 * What is cached. Only statements whose kind is SELECT (dal_sql_kind():
 * SELECT, VALUES, TABLE, WITH ... SELECT) that contain no write (no
 * INTO, INSERT, UPDATE, DELETE, ... inside a WITH) and no row lock
 * (FOR UPDATE / FOR SHARE). Anything else, and any query run while the
 * connection is inside a transaction, runs on the connection and is
 * returned materialized but is neither looked up nor stored (a
 * "bypass"): inside a transaction the cache could hand out rows the
 * transaction should not see, or store rows other sessions must not see.
 * The caller opts in: functions with side effects (nextval(), random(),
 * now()) are cached like anything else for the TTL.
 *
 * What a query reads. The names after FROM and JOIN (and in FROM lists
 * after commas), at any depth (subqueries, CTEs), quoted or not,
 * schema-qualified or not, and the name after TABLE. Names are compared
 * by their last part (the schema is ignored) and in ASCII lower case,
 * quoted or not: on PostgreSQL "Users" and users are then one name. This
 * over-approximates (a CTE name or alias counts too), which costs an
 * invalidation now and then, never a stale row.
 *
 * What a write targets. The AFTER hook (dal_rcache_observe()) sees every
 * statement run through an observed connection, whatever its outcome
 * (a failed statement may still have changed something: a COMMIT whose
 * connection dropped), and invalidates:
 *   - INSERT/REPLACE/MERGE/SELECT ... INTO t, UPDATE t, DELETE FROM t,
 *     TRUNCATE t, u, COPY t, and the same inside a WITH: the entries
 *     reading t;
 *   - CREATE/ALTER/DROP TABLE or VIEW t (DROP of several names, each),
 *     CREATE INDEX/TRIGGER ... ON t: the entries reading t;
 *   - any other DDL (schemas, functions, types, renames, CASCADE, ...),
 *     a statement whose target cannot be read, and statements of kind
 *     OTHER except SET, SHOW, RESET, EXPLAIN (without ANALYZE), PRAGMA,
 *     VACUUM, ANALYZE, LISTEN, UNLISTEN, NOTIFY, DISCARD, CHECKPOINT,
 *     DEALLOCATE, LOCK, REINDEX, FETCH, CLOSE, DECLARE: every entry.
 * A write inside a transaction invalidates when it runs and once more
 * when the transaction ends (commit or rollback), so that no session
 * caches the rows it read before the commit. A transaction that rolls
 * back still invalidated (a lost entry, not a stale one).
 *
 * Not seen (the TTL is then the only bound on staleness): writes by
 * other processes, through raw driver handles or through connections
 * the cache does not observe; writes that triggers, rules, foreign keys
 * with ON DELETE/UPDATE CASCADE or SET NULL, or functions make on
 * other tables; a view's base tables (a query on a view is invalidated
 * by writes naming the view only). Use DAL_RCACHE_COARSE when that
 * matters: every write then invalidates every entry.
 *
 * Keys contain the connection's URL (password hidden), so connections
 * to different databases share one cache safely; connections with one
 * URL are taken to see one database. Each sqlite::memory: connection is
 * a database of its own under the same URL: do not let two of them share
 * a cache.
 *
 * Memory. An entry counts its key, its list of table names, its own
 * bookkeeping and dal_result_size() of its result; the total stays at
 * or under max_bytes, the least recently used entries being evicted to
 * make room. A result bigger than the whole bound is not stored.
 *
 * Threads. A cache is shared by connections used in several threads:
 * one mutex guards it, taken for a lookup, a store and an invalidation
 * (never while a statement runs). The store's functions are called with
 * it held, so a store needs no locking of its own.
 */
#ifndef DAL_RCACHE_H
#define DAL_RCACHE_H

#include "dal/core.h"
#include "dal/observe.h"
#include "dal/query.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dal_result dal_result;
typedef struct dal_rcache dal_rcache;

/* ---- results --------------------------------------------------------- */

/*
 * dal_result_column_count, dal_result_row_count - the result's number of
 * columns and rows (0 for NULL).
 * dal_result_column_name - column col's name, NULL when col is out of
 * range. Valid while the caller holds its reference.
 */
DAL_EXTERN int dal_result_column_count(const dal_result *r);
DAL_EXTERN int64_t dal_result_row_count(const dal_result *r);
DAL_EXTERN const char *dal_result_column_name(const dal_result *r, int col);

/*
 * dal_result_value - the value in row (0-based) and column col (0-based),
 * of the type the column getters gave (see dal_column_type()); TEXT is
 * NUL-terminated. NULL when row or col is out of range. The value and its
 * bytes are the result's: valid while the caller holds its reference.
 */
DAL_EXTERN const dal_value *dal_result_value(const dal_result *r,
                                             int64_t row, int col);

/*
 * dal_result_size - the bytes the result holds in one allocation (what
 * a cache entry counts for it).
 */
DAL_EXTERN size_t dal_result_size(const dal_result *r);

/*
 * dal_result_ref - take one more reference to r (for a store that keeps
 * it); returns r. Each reference is given back with dal_result_free().
 * dal_result_free - give back one reference; the last one frees the
 * result. NULL is ignored. Both are safe from several threads.
 */
DAL_EXTERN dal_result *dal_result_ref(dal_result *r);
DAL_EXTERN void dal_result_free(dal_result *r);

/*
 * dal_result_encode - the result as bytes, for an external store. The
 * encoding ("DALR1"): the 5 magic bytes, then u32 column count, u64 row
 * count, each column name as u32 length + bytes, then each cell row by
 * row as one type byte (dal_type) followed by nothing (NULL), one byte
 * 0/1 (BOOL), eight bytes (INT64, DOUBLE as its IEEE-754 bits), or u64
 * length + bytes (TEXT without its NUL, BLOB). Integers little-endian.
 * *buf is freed by the caller with dal_free(). Returns DAL_OK,
 * DAL_E_MISUSE (an argument is NULL) or DAL_NOMEM.
 *
 * dal_result_decode - a new result (one reference) from len bytes made
 * by dal_result_encode(). Returns DAL_OK, DAL_E_DATA (not such bytes:
 * bad magic, truncated, trailing bytes, unknown type), DAL_E_MISUSE or
 * DAL_NOMEM; *out is NULL on error.
 */
DAL_EXTERN int dal_result_encode(const dal_result *r, void **buf,
                                 size_t *len);
DAL_EXTERN int dal_result_decode(const void *buf, size_t len,
                                 dal_result **out);

/* ---- the cache ------------------------------------------------------- */

/*
 * dal_rcache_counters - counters and usage (dal_rcache_stats()). Counters
 * only grow.
 *   hits, misses    lookups that found an entry / did not (expired
 *                   entries are misses)
 *   bypasses        queries run without the cache: not cacheable, in a
 *                   transaction, or ttl_ms 0
 *   stores          results stored
 *   skipped         results not stored: a write to one of their tables
 *                   ran while the query did, the result was bigger than
 *                   max_bytes, or the store failed
 *   writes          write statements the hook saw (those that
 *                   invalidate; invalidations of everything included)
 *   invalidations   entries dropped by writes
 *   evictions       entries dropped to keep within max_bytes
 *   expirations     entries found past their TTL and dropped
 *   entries, bytes  what the store holds now; max_bytes its bound
 * A store other than the in-process one fills the last six itself (0
 * when it cannot tell).
 */
typedef struct dal_rcache_counters {
    uint64_t hits, misses, bypasses, stores, skipped, writes;
    uint64_t invalidations, evictions, expirations;
    uint64_t entries, bytes, max_bytes;
} dal_rcache_counters;

/*
 * A store: where entries live. The in-process one (the default) is an
 * LRU hash table; another (Redis, memcached) plugs in here. The cache
 * calls these with its mutex held. key is an opaque byte string (the
 * URL, SQL and encoded parameters); tables are the lower-case names the
 * entry's query reads (the store must drop the entry when invalidate()
 * names one of them). Times are the cache's clock, in milliseconds.
 *   get         DAL_OK with a new reference in *out (hit), DAL_DONE
 *               (miss or expired: the store may drop it then), or an
 *               error (taken as a miss).
 *   put         keep res until expires_ms (take a reference with
 *               dal_result_ref(), or encode it with dal_result_encode()
 *               and drop it); replace any entry with the same key.
 *               DAL_OK, or an error (the result is then not stored).
 *   invalidate  drop the entries that read table, or all of them when
 *               table is NULL.
 *   stats       fill invalidations, evictions, expirations, entries,
 *               bytes and max_bytes of *st (may be NULL).
 *   destroy     free the store (dal_rcache_free()); may be NULL.
 */
typedef struct dal_rcache_store {
    void *self;
    int (*get)(void *self, const void *key, size_t keylen, int64_t now_ms,
               dal_result **out);
    int (*put)(void *self, const void *key, size_t keylen,
               const char *const *tables, int ntables, dal_result *res,
               int64_t expires_ms);
    void (*invalidate)(void *self, const char *table);
    void (*stats)(void *self, dal_rcache_counters *st);
    void (*destroy)(void *self);
} dal_rcache_store;

/* dal_rcache_opts.flags: every write invalidates every entry. */
#define DAL_RCACHE_COARSE 0x1u

/*
 * Options of dal_rcache_new(); zero (or a NULL pointer) is the default.
 *   max_bytes   the in-process store's bound (default 16 MiB)
 *   flags       DAL_RCACHE_COARSE
 *   clock_ms    the clock TTLs are measured with, in milliseconds
 *               (default: dal_clock_ns() / 1000000); tests inject one.
 *               Called with the cache's mutex held, from any thread.
 *   clock_data  passed to clock_ms
 *   store       another store (copied); NULL for the in-process one.
 *               Its destroy runs in dal_rcache_free(), and also when
 *               dal_rcache_new() fails.
 */
typedef struct dal_rcache_opts {
    size_t max_bytes;
    unsigned flags;
    int64_t (*clock_ms)(void *clock_data);
    void *clock_data;
    const dal_rcache_store *store;
} dal_rcache_opts;

/*
 * dal_rcache_new - make a cache in *out with opts (NULL for defaults).
 * Free it with dal_rcache_free(). Returns DAL_OK, DAL_E_MISUSE (out
 * NULL, an unknown flag, a store without get, put or invalidate), or
 * DAL_NOMEM; *out is NULL on error.
 */
DAL_EXTERN int dal_rcache_new(const dal_rcache_opts *opts,
                              dal_rcache **out);

/*
 * dal_rcache_free - free the cache, its entries and its store. Results
 * handed out stay valid. Call it after every connection whose observer
 * holds the cache's hook has been closed or detached: DAL_E_MISUSE (and
 * nothing freed) while one still is. The hook stays in those observers:
 * do not attach them to a connection again. NULL is accepted (DAL_OK).
 */
DAL_EXTERN int dal_rcache_free(dal_rcache *cache);

/*
 * dal_rcache_observe - add the cache's invalidation hook to obs (before
 * obs is attached to a connection, as dal_observer_add() requires). A
 * connection must be observed by such an observer to use the cache with
 * dal_rcache_query(), and every connection that writes the cached
 * tables should be. The hook keeps per-connection state (the tables its
 * open transaction wrote). One cache can be added to several observers,
 * each at most once. Returns DAL_OK, DAL_E_MISUSE (NULL argument, obs
 * already attached, the cache already added to obs) or DAL_NOMEM.
 */
DAL_EXTERN int dal_rcache_observe(dal_rcache *cache, dal_observer *obs);

/*
 * dal_rcache_query - run one statement (parameters as dal_exec_params())
 * through the cache: return the cached result when an entry for db's
 * URL, sql and params exists and has not expired; otherwise run it on
 * db, materialize the result and, when it is cacheable (see above),
 * store it for ttl_ms milliseconds. ttl_ms 0, or cache NULL, runs and
 * materializes without the cache. *out receives one reference, freed
 * with dal_result_free(); NULL on error. A failing statement (bad SQL,
 * a constraint) is never cached and returns its error, recorded on db.
 * Returns DAL_OK, DAL_E_MISUSE (db or out NULL, ttl_ms negative, db not
 * observed by an observer holding the cache's hook), DAL_NOMEM or the
 * statement's error.
 */
DAL_EXTERN int dal_rcache_query(dal_db *db, dal_rcache *cache,
                                const char *sql, const dal_value *params,
                                int nparams, int64_t ttl_ms,
                                dal_result **out);

/*
 * dal_rcache_query_ast - dal_rcache_query() for a query AST, compiled for
 * db's backend: the key is the compiled SQL and the values it binds. A
 * query with dal_param() slots is DAL_E_MISUSE (nothing binds them).
 * q stays the caller's. Returns as dal_rcache_query(), or the compile
 * error.
 */
DAL_EXTERN int dal_rcache_query_ast(dal_db *db, dal_rcache *cache,
                                    const dal_query *q, int64_t ttl_ms,
                                    dal_result **out);

/*
 * dal_rcache_invalidate - drop the entries that read table (compared as
 * described above), or every entry when table is NULL or not a name:
 * for writes the hook cannot see. Counted in writes. NULL cache is
 * ignored.
 */
DAL_EXTERN void dal_rcache_invalidate(dal_rcache *cache, const char *table);

/*
 * dal_rcache_stats - copy the counters and usage into *out (zeros for a
 * NULL cache). Safe from any thread; metrics read it at scrape time.
 */
DAL_EXTERN void dal_rcache_stats(dal_rcache *cache,
                                 dal_rcache_counters *out);

#ifdef __cplusplus
}
#endif

#endif /* DAL_RCACHE_H */
