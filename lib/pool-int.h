/*
 * pool-int.h - the pool's internal structures (pool.c), shared with the
 * code that routes checkouts to replicas and fails over. Nothing here is
 * public.
 *
 * A pool is a list of connection sets. A set is the connections to one
 * database URL, with one role (primary or replica) and, for a tenant
 * template, one tenant; it has its own min/max size. Every connection is
 * opened by dal__pset_open() and closed by dal__pconn_close(); which set
 * serves a checkout is decided in one place, dal__pool_pick().
 *
 * Locking: pool->mu guards every field of the pool, its sets and their
 * connections' bookkeeping (not the dal_db, which belongs to whoever
 * holds the connection). Connections are opened, pinged, reset and
 * closed outside the lock.
 */
#ifndef DAL_POOL_INT_H
#define DAL_POOL_INT_H

#include <pthread.h>
#include <stdint.h>

#include "dal-int.h"
#include "dal/pool.h"

enum { DAL__ROLE_PRIMARY = 0, DAL__ROLE_REPLICA = 1 };

typedef struct dal__pset dal__pset;

/* One pooled connection. */
typedef struct dal__pconn {
    dal_db *db;
    dal__pset *set;
    int64_t created_ns;
    int64_t expires_ns;     /* retire after (0: never) */
    int64_t idle_since_ns;  /* when it was last given back */
    int in_use;
    uint64_t steps_out;     /* db->steps when it was handed out */
    struct dal__pconn *next; /* the set's idle stack */
    struct dal__pconn *aprev, *anext; /* every open one of the set */
    /* Cluster pools (cluster.c): checked out for writing, counted in
     * the cluster's per-host checkouts, and the session it was checked
     * out in (NULL: none), whose read-your-writes mark it moves. */
    int cl_write;
    int cl_counted;
    dal_pool_session *cl_session;
} dal__pconn;

struct dal__pset {
    dal_pool *pool;
    char *url;        /* what dal_open_observed() gets */
    int role;         /* DAL__ROLE_* */
    char *tenant;     /* the tenant of a template's set, else NULL */
    int min_size, max_size;
    /* Idle connections, most recently given back first, so that the
     * least used ones age out under idle_timeout_ms. */
    dal__pconn *idle;
    int nidle;
    dal__pconn *all;  /* idle and in use, for dal_pool_free() */
    int nopen;        /* idle + in use */
    int nopening;     /* being opened outside the lock */
    int64_t last_used_ns;
    int down;         /* out of rotation (replicas: failed probe) */
    int cl_index;     /* cluster pools: the host's index in its list */
};

struct dal_pool {
    pthread_mutex_t mu;
    pthread_cond_t freed;  /* a connection or a slot became free */
    pthread_cond_t wake;   /* wakes the reaper early (pool freed) */
    pthread_t reaper;
    int reaper_on;
    int closing;
    dal_pool_config cfg;
    const struct dal_driver *drv;
    /* With {tenant} in the URL: the template, and one set per tenant in
     * sets; otherwise sets[0] is the primary. */
    char *url_template;
    dal__pset **sets;
    int nsets, capsets;
    int waiting;
    dal_pool_counters c;   /* counters (total/idle/in_use computed) */
    uint64_t seed;         /* lifetime jitter */
    /* A URL naming replicas or several primary candidates (cluster.c):
     * sets[0..cl_nprimary) are the candidates, the replicas follow. The
     * read-your-writes mark of checkouts without a session: reads need
     * a replica past ryw_lsn, or go to the primary until ryw_until_ns
     * (a session keeps its own, in struct dal_pool_session). */
    struct dal__cluster *cluster;
    int cl_nprimary;
    uint64_t ryw_lsn;
    int64_t ryw_until_ns;
};

/* Make a set for url in pool (copied), appended to pool->sets; under
 * pool->mu or before the pool is shared. */
int dal__pset_add(dal_pool *pool, const char *url, int role,
                  const char *tenant, dal__pset **out);
/* Open one connection of set (without the lock; the caller reserved the
 * slot with set->nopening). DAL_OK with *out, or the error with its
 * message in the thread's dal_pool_errmsg(). */
int dal__pset_open(dal__pset *set, dal__pconn **out);
/* Close a connection no set counts any more (without the lock). */
void dal__pconn_close(dal__pconn *pc);
/* The set that serves a checkout with flags for tenant (NULL: none);
 * under pool->mu. NULL with *rc set when none can. */
dal__pset *dal__pool_pick(dal_pool *pool, int flags, const char *tenant,
                          int *rc);

/* The pool's own checkout (pool.c), for the cluster's wrapper. */
int dal__pool_acquire(dal_pool *pool, int flags, const char *tenant,
                      dal_db **dbp);
/* Set the calling thread's dal_pool_errmsg() and return rc (pool.c). */
int dal__pool_fail(int rc, const char *fmt, ...) DAL__PRINTF(2, 3);

/* ---- replicas and failover (cluster.c) ---- */

/* Make pool's sets for url: one plain set, or for a cluster URL one per
 * primary candidate and one per replica. Errors carry the message. */
int dal__cluster_pool_init(dal_pool *pool, const char *url);
/* dal__pool_pick() for a cluster pool (under pool->mu, no I/O). */
dal__pset *dal__cluster_pool_pick(dal_pool *pool, int flags, int *rc);
/* dal_pool_acquire() for a cluster pool: finds the primary, routes
 * reads to replicas, probes them, and falls back to the primary. With
 * session (may be NULL), reads wait for that session's writes only. */
int dal__cluster_acquire(dal_pool *pool, dal_pool_session *session,
                         int flags, const char *tenant, dal_db **dbp);
/* Before pc is reset on return: a lost primary or a 25006 starts a
 * failover, a lost replica is taken out, a write moves the
 * read-your-writes mark (its session's, or else the pool's). */
void dal__cluster_release(dal_pool *pool, dal__pconn *pc);

#endif /* DAL_POOL_INT_H */
