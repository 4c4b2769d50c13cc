/*
 * cluster-int.h - a PostgreSQL primary (or a multi-host list of primary
 * candidates) and its streaming replicas, as the pool sees them: the hosts
 * parsed out of one URL, each host's health (taken out after a failure,
 * probed again after a backoff), the probes that ask a server whether it
 * is in recovery and how far it has replayed, and the routing decisions
 * (which replica serves a read, which host is the primary now).
 *
 * Nothing here holds a connection: the pool owns connections and calls
 * in. Every dal__cluster function is thread-safe (one mutex per cluster),
 * except dal__cluster_parse/free. Probes run on a connection the caller
 * owns and never take the cluster's lock.
 */
#ifndef DAL_CLUSTER_INT_H
#define DAL_CLUSTER_INT_H

#include <stdint.h>

#include "dal-int.h"

/* Which list a host is in. */
enum { DAL__CL_PRIMARY = 0, DAL__CL_REPLICA = 1 };

/* read_your_writes modes. */
enum { DAL__RYW_OFF = 0, DAL__RYW_LSN = 1, DAL__RYW_TIME = 2 };

typedef struct dal__cluster dal__cluster;

/*
 * Parse a URL that may name a cluster:
 *   postgres://u@h1:p1[,h2:p2...]/db?replicas=h3:p3[,h4:p4]&...
 * The authority's hosts are the primary candidates (one, or a list to
 * fail over between); replicas= lists the replicas. libdal's cluster
 * options are taken out; every other option stays in the per-host URLs
 * (dal__cluster_url):
 *   replicas=H:P,...           the replicas (none by default)
 *   max_replica_lag_ms=N       skip replicas whose replay is more than N
 *                              ms behind (the driver's replica_probe);
 *                              unset: no budget
 *   read_your_writes=off|on|N  on: after a write, a session reads from
 *                              the primary until a replica has replayed
 *                              past the write's LSN; N: for N ms
 *   replica_retry_ms=N         first backoff of a failed host (500);
 *                              doubles up to replica_retry_max_ms (30000)
 *   replica_probe_ms=N         how long a replica's probe is trusted
 *                              before the next read probes it again (200)
 * *out is NULL with DAL_OK when the URL names no cluster (one host and
 * none of the options above): the pool then opens the URL as it is. On
 * SQLite, any of these options is DAL_E_UNSUPPORTED. Errors: DAL_E_URL,
 * DAL_E_UNSUPPORTED (message in err), DAL_NOMEM.
 * Free with dal__cluster_free().
 */
int dal__cluster_parse(const char *url, dal__cluster **out, char *err,
                       size_t errlen);
void dal__cluster_free(dal__cluster *c);

/* The number of hosts in a list (DAL__CL_PRIMARY or DAL__CL_REPLICA). */
int dal__cluster_count(const dal__cluster *c, int kind);
/* Host i of a list as written in the URL ("h:p"); owned by c. */
const char *dal__cluster_host(const dal__cluster *c, int kind, int i);
/* The URL that connects to host i of a list alone; owned by c. */
const char *dal__cluster_url(const dal__cluster *c, int kind, int i);
/* The option values (see dal__cluster_parse); -1 when unset. */
int64_t dal__cluster_max_lag_ms(const dal__cluster *c);
int dal__cluster_ryw(const dal__cluster *c, int64_t *ms);

/* ---- probes (on a connection the caller owns) ---------------------- */

/* The probe (dal__probe) and the WAL position are the driver's
 * replica_probe and wal_position (lib/dal-int.h). */

/* ---- health ---------------------------------------------------------- */

/*
 * Host i failed (could not connect, or its connection was lost): it is
 * taken out until now_ns plus a backoff that starts at replica_retry_ms
 * and doubles with each failure in a row, up to replica_retry_max_ms.
 */
void dal__cluster_mark_down(dal__cluster *c, int kind, int i,
                            int64_t now_ns);
/* Host i answered: it is healthy again, and p (if not NULL) is its latest
 * probe, trusted for replica_probe_ms. */
void dal__cluster_mark_up(dal__cluster *c, int kind, int i,
                          const dal__probe *p, int64_t now_ns);
/* Nonzero when host i may be used: healthy, or its backoff has run out
 * (then the caller tries it, and marks it up or down). */
int dal__cluster_usable(dal__cluster *c, int kind, int i, int64_t now_ns);
/* Nonzero when host i's last probe is older than replica_probe_ms. */
int dal__cluster_probe_due(dal__cluster *c, int kind, int i,
                           int64_t now_ns);
/* Consecutive failures of host i (0 when healthy). */
int dal__cluster_failures(dal__cluster *c, int kind, int i);

/* ---- sessions --------------------------------------------------------- */

/*
 * A dal_pool_session (dal/pool.h): the read-your-writes mark of one
 * caller. Only the thread using the session reads or writes it (its
 * contract), so it has no lock; it never points at anything the pool
 * frees, so that it may be freed before or after its pool.
 */
struct dal_pool_session {
    const struct dal_pool *pool; /* the pool it was made for (compared
                                    only) */
    uint64_t ryw_lsn;      /* reads need a replica past this LSN */
    int64_t ryw_until_ns;  /* reads stay on the primary until then */
};

/* ---- routing --------------------------------------------------------- */

/*
 * The replica a read should use: among usable replicas not in skip (bit
 * i: replica i, for i < 64) that are not known (by a probe younger than
 * replica_probe_ms) to be over the lag budget or, when min_lsn is not 0,
 * behind min_lsn, the
 * one with the fewest checked-out connections, ties taken in turn. -1
 * when none qualifies (the read goes to the primary). The caller probes
 * a replica whose probe is due before using it.
 * dal__cluster_checkout/_checkin keep the counts.
 */
int dal__cluster_pick_replica(dal__cluster *c, uint64_t min_lsn,
                              uint64_t skip, int64_t now_ns);
void dal__cluster_checkout(dal__cluster *c, int kind, int i);
void dal__cluster_checkin(dal__cluster *c, int kind, int i);

/*
 * Find the primary: try the primary candidates, the one last known as
 * primary first, skipping hosts in backoff (unless all are), and return
 * in *dbp an open connection to the first that is not in recovery, and
 * its index in *index; it becomes the known primary
 * (dal__cluster_primary). Hosts that refuse are marked down. Returns
 * DAL_OK, or DAL_E_CONNECT with a message in err when no candidate is a
 * primary now (*dbp NULL), or DAL_NOMEM.
 */
int dal__cluster_find_primary(dal__cluster *c, dal_db **dbp, int *index,
                              char *err, size_t errlen);
/* The index of the known primary (-1 while unknown), and the failover
 * epoch: it advances each time the primary is lost, so that connections
 * made in an older epoch can be drained. */
int dal__cluster_primary(dal__cluster *c, unsigned *epoch);
/* Forget the known primary (its connection failed, or it said 25006):
 * the next dal__cluster_find_primary probes all candidates. */
void dal__cluster_primary_lost(dal__cluster *c, int64_t now_ns);

#endif /* DAL_CLUSTER_INT_H */
