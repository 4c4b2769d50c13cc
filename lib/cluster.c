/*
 * cluster.c - the hosts of a PostgreSQL cluster named by one URL, their
 * health and backoff, the probes that ask a server about its recovery
 * and replay, and the routing decisions the pool takes with them (which
 * replica serves a read, which candidate is the primary). See
 * cluster-int.h for the contract; the pool (pool.c) owns connections.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster-int.h"
#include "pool-int.h"

#define RETRY_MS_DEFAULT 500
#define RETRY_MAX_MS_DEFAULT 30000
#define PROBE_MS_DEFAULT 200

typedef struct chost {
    char *host;          /* "h:p" as written */
    char *url;           /* this host alone */
    int fails;           /* failures in a row; 0 when healthy */
    int64_t retry_at;    /* down until then (ns) */
    int probed;          /* probe below is valid */
    int64_t probed_at;
    dal__probe probe;
    int nout;            /* connections checked out */
} chost;

struct dal__cluster {
    pthread_mutex_t lock;
    chost *hosts[2];     /* DAL__CL_PRIMARY, DAL__CL_REPLICA */
    int nhosts[2];
    int64_t max_lag_ms;  /* -1: no budget */
    int ryw;
    int64_t ryw_ms;
    int64_t retry_ms, retry_max_ms, probe_ms;
    int primary;         /* index of the known primary, or -1 */
    unsigned epoch;
    unsigned rr;         /* turn for ties between replicas */
};

static const char *const cluster_opts[] = {
    "replicas", "max_replica_lag_ms", "read_your_writes",
    "replica_retry_ms", "replica_retry_max_ms", "replica_probe_ms", NULL
};

static int is_cluster_opt(const char *key)
{
    int i;

    for (i = 0; cluster_opts[i]; i++)
        if (!strcmp(key, cluster_opts[i]))
            return 1;
    return 0;
}

/* Split s[0..n) at commas into a new host list. */
static int split_hosts(const char *s, size_t n, chost **out, int *nout,
                       const char *what, char *err, size_t errlen)
{
    const char *p = s, *end = s + n;
    chost *h;
    int cnt = 1, i = 0;

    for (p = s; p < end; p++)
        if (*p == ',')
            cnt++;
    h = dal__calloc((size_t)cnt, sizeof *h);
    if (!h)
        return DAL_NOMEM;
    *out = h;
    *nout = cnt;
    for (p = s; i < cnt; i++) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        size_t len = c ? (size_t)(c - p) : (size_t)(end - p);

        if (len == 0) {
            dal__set_err(err, errlen, "empty host in the %s list", what);
            return DAL_E_URL;
        }
        if (memchr(p, '/', len) || memchr(p, '?', len)
            || memchr(p, '@', len)) {
            dal__set_err(err, errlen, "malformed host '%.*s' in the %s list: "
                         "expected host:port", (int)len, p, what);
            return DAL_E_URL;
        }
        if (!(h[i].host = dal__strndup(p, len)))
            return DAL_NOMEM;
        p += len + 1;
    }
    return DAL_OK;
}

static int opt_int(const char *key, const char *val, int64_t min,
                   int64_t *out, char *err, size_t errlen)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(val, &end, 10);
    if (!val[0] || *end || errno || v < min || v > INT32_MAX
        || isspace((unsigned char)val[0])) {
        dal__set_err(err, errlen, "invalid value '%s' for option '%s': "
                     "expected an integer from %" PRId64 " to %d", val, key,
                     min, INT32_MAX);
        return DAL_E_URL;
    }
    *out = v;
    return DAL_OK;
}

static int take_opt(dal__cluster *c, const char *key, const char *val,
                    char *err, size_t errlen)
{
    if (!strcmp(key, "replicas")) {
        if (c->hosts[DAL__CL_REPLICA]) {
            dal__set_err(err, errlen, "option 'replicas' given twice");
            return DAL_E_URL;
        }
        return split_hosts(val, strlen(val), &c->hosts[DAL__CL_REPLICA],
                           &c->nhosts[DAL__CL_REPLICA], "replicas", err,
                           errlen);
    }
    if (!strcmp(key, "max_replica_lag_ms"))
        return opt_int(key, val, 0, &c->max_lag_ms, err, errlen);
    if (!strcmp(key, "replica_retry_ms"))
        return opt_int(key, val, 1, &c->retry_ms, err, errlen);
    if (!strcmp(key, "replica_retry_max_ms"))
        return opt_int(key, val, 1, &c->retry_max_ms, err, errlen);
    if (!strcmp(key, "replica_probe_ms"))
        return opt_int(key, val, 0, &c->probe_ms, err, errlen);
    /* read_your_writes */
    if (!strcasecmp(val, "off") || !strcmp(val, "0")) {
        c->ryw = DAL__RYW_OFF;
    } else if (!strcasecmp(val, "on") || !strcasecmp(val, "lsn")) {
        c->ryw = DAL__RYW_LSN;
    } else {
        if (opt_int(key, val, 1, &c->ryw_ms, NULL, 0)) {
            dal__set_err(err, errlen, "invalid value '%s' for option "
                         "'read_your_writes': expected off, on or a number of "
                         "milliseconds", val);
            return DAL_E_URL;
        }
        c->ryw = DAL__RYW_TIME;
    }
    return DAL_OK;
}

void dal__cluster_free(dal__cluster *c)
{
    int k, i;

    if (!c)
        return;
    for (k = 0; k < 2; k++) {
        for (i = 0; c->hosts[k] && i < c->nhosts[k]; i++) {
            dal__free(c->hosts[k][i].host);
            dal__free(c->hosts[k][i].url);
        }
        dal__free(c->hosts[k]);
    }
    pthread_mutex_destroy(&c->lock);
    dal__free(c);
}

/* Each host's own URL: prefix, host, path, kept options. */
static int build_urls(dal__cluster *c, const char *prefix, size_t plen,
                      const char *path, size_t pathlen, const char *opts)
{
    int k, i;

    for (k = 0; k < 2; k++)
        for (i = 0; i < c->nhosts[k]; i++) {
            chost *h = &c->hosts[k][i];

            h->url = dal__asprintf("%.*s%s%.*s%s%s", (int)plen, prefix,
                                   h->host, (int)pathlen, path,
                                   opts[0] ? "?" : "", opts);
            if (!h->url)
                return DAL_NOMEM;
        }
    return DAL_OK;
}

int dal__cluster_parse(const char *url, dal__cluster **out, char *err,
                       size_t errlen)
{
    const char *auth, *hosts, *hend, *q, *p, *at;
    dal__cluster *c;
    dal__buf kept = {0};
    const struct dal_driver *drv;
    int rc, any_opt = 0;
    size_t slen;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    p = strchr(url, ':');
    slen = p ? (size_t)(p - url) : 0;
    drv = p ? dal__driver_for(url, slen) : NULL;
    q = strchr(url, '?');
    if (!drv || !drv->replica_probe) {
        /* A cluster option on a backend without streaming replicas is
         * refused rather than ignored. */
        for (p = q; p && *p; p = strchr(p + 1, '&')) {
            size_t n = strcspn(p + 1, "=&");
            char *key = dal__url_decode(p + 1, n, 0);
            int hit;

            if (!key)
                return DAL_NOMEM;
            hit = is_cluster_opt(key);
            if (hit)
                dal__set_err(err, errlen, "option '%s' needs a PostgreSQL "
                             "primary with streaming replicas; the %.*s "
                             "backend has none", key, (int)slen, url);
            dal__free(key);
            if (hit)
                return DAL_E_UNSUPPORTED;
        }
        return DAL_OK;
    }
    if (strncmp(p, "://", 3))
        return DAL_OK; /* a keyword form: not a cluster URL */
    auth = p + 3;
    hend = auth + strcspn(auth, "/?");
    at = NULL;
    for (p = auth; p < hend; p++)
        if (*p == '@')
            at = p;
    hosts = at ? at + 1 : auth;

    c = dal__calloc(1, sizeof *c);
    if (!c)
        return DAL_NOMEM;
    if (pthread_mutex_init(&c->lock, NULL)) {
        dal__free(c);
        return DAL_NOMEM;
    }
    c->max_lag_ms = -1;
    c->retry_ms = RETRY_MS_DEFAULT;
    c->retry_max_ms = RETRY_MAX_MS_DEFAULT;
    c->probe_ms = PROBE_MS_DEFAULT;
    c->primary = -1;
    rc = split_hosts(hosts, (size_t)(hend - hosts), &c->hosts[0],
                     &c->nhosts[0], "primary", err, errlen);
    if (rc == DAL_E_URL && hosts == hend) {
        /* postgres:///db: libpq's default host, one candidate. */
        dal__free(c->hosts[0]);
        c->hosts[0] = dal__calloc(1, sizeof *c->hosts[0]);
        c->nhosts[0] = 1;
        rc = c->hosts[0] && (c->hosts[0][0].host = dal__strdup(""))
             ? DAL_OK : DAL_NOMEM;
        if (err && errlen)
            err[0] = '\0';
    }
    if (rc)
        goto fail;

    /* Options: ours are taken out, the rest kept in order, as written. */
    for (p = q; p && *p; ) {
        const char *s = p + 1;
        size_t n = strcspn(s, "&");
        const char *eq = memchr(s, '=', n);
        char *key = NULL, *val = NULL;

        if (n && eq) {
            key = dal__url_decode(s, (size_t)(eq - s), 0);
            val = dal__url_decode(eq + 1, n - (size_t)(eq + 1 - s), 0);
            if (!key || !val) {
                dal__free(key);
                dal__free(val);
                rc = DAL_NOMEM;
                goto fail;
            }
        }
        if (key && is_cluster_opt(key)) {
            any_opt = 1;
            rc = take_opt(c, key, val, err, errlen);
        } else if (n) {
            rc = (kept.len ? dal__buf_addc(&kept, '&') : DAL_OK)
                 || dal__buf_add(&kept, s, n) ? DAL_NOMEM : DAL_OK;
        }
        dal__free(key);
        dal__free(val);
        if (rc)
            goto fail;
        p = s + n;
        if (!*p)
            break;
    }
    if (c->retry_max_ms < c->retry_ms)
        c->retry_max_ms = c->retry_ms;
    if (!any_opt && c->nhosts[0] == 1) {
        /* One host and no cluster option: a plain URL. */
        dal__buf_free(&kept);
        dal__cluster_free(c);
        return DAL_OK;
    }
    if (dal__buf_addc(&kept, '\0')) {
        rc = DAL_NOMEM;
        goto fail;
    }
    rc = build_urls(c, url, (size_t)(hosts - url), hend,
                    q ? (size_t)(q - hend) : strlen(hend), kept.p);
    if (rc)
        goto fail;
    dal__buf_free(&kept);
    *out = c;
    return DAL_OK;
fail:
    dal__buf_free(&kept);
    dal__cluster_free(c);
    if (rc == DAL_NOMEM && err && errlen)
        err[0] = '\0';
    return rc;
}

int dal__cluster_count(const dal__cluster *c, int kind)
{
    return c->nhosts[kind];
}

const char *dal__cluster_host(const dal__cluster *c, int kind, int i)
{
    return c->hosts[kind][i].host;
}

const char *dal__cluster_url(const dal__cluster *c, int kind, int i)
{
    return c->hosts[kind][i].url;
}

int64_t dal__cluster_max_lag_ms(const dal__cluster *c)
{
    return c->max_lag_ms;
}

int dal__cluster_ryw(const dal__cluster *c, int64_t *ms)
{
    if (ms)
        *ms = c->ryw_ms;
    return c->ryw;
}

/* ---- probes ---------------------------------------------------------- */

/* ---- health ---------------------------------------------------------- */

void dal__cluster_mark_down(dal__cluster *c, int kind, int i,
                            int64_t now_ns)
{
    chost *h = &c->hosts[kind][i];
    int64_t ms;
    int n;

    pthread_mutex_lock(&c->lock);
    h->fails++;
    ms = c->retry_ms;
    for (n = 1; n < h->fails && ms < c->retry_max_ms; n++)
        ms *= 2;
    if (ms > c->retry_max_ms)
        ms = c->retry_max_ms;
    h->retry_at = now_ns + ms * 1000000;
    h->probed = 0;
    if (kind == DAL__CL_PRIMARY && c->primary == i) {
        c->primary = -1;
        c->epoch++;
    }
    pthread_mutex_unlock(&c->lock);
}

void dal__cluster_mark_up(dal__cluster *c, int kind, int i,
                          const dal__probe *p, int64_t now_ns)
{
    chost *h = &c->hosts[kind][i];

    pthread_mutex_lock(&c->lock);
    h->fails = 0;
    h->retry_at = 0;
    if (p) {
        h->probe = *p;
        h->probed = 1;
        h->probed_at = now_ns;
    }
    pthread_mutex_unlock(&c->lock);
}

int dal__cluster_usable(dal__cluster *c, int kind, int i, int64_t now_ns)
{
    int ok;

    pthread_mutex_lock(&c->lock);
    ok = !c->hosts[kind][i].fails || now_ns >= c->hosts[kind][i].retry_at;
    pthread_mutex_unlock(&c->lock);
    return ok;
}

int dal__cluster_probe_due(dal__cluster *c, int kind, int i,
                           int64_t now_ns)
{
    chost *h = &c->hosts[kind][i];
    int due;

    pthread_mutex_lock(&c->lock);
    due = !h->probed || now_ns - h->probed_at >= c->probe_ms * 1000000;
    pthread_mutex_unlock(&c->lock);
    return due;
}

int dal__cluster_failures(dal__cluster *c, int kind, int i)
{
    int n;

    pthread_mutex_lock(&c->lock);
    n = c->hosts[kind][i].fails;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* ---- routing --------------------------------------------------------- */

int dal__cluster_pick_replica(dal__cluster *c, uint64_t min_lsn,
                              uint64_t skip, int64_t now_ns)
{
    int n = c->nhosts[DAL__CL_REPLICA], best = -1, k, i, fresh;

    pthread_mutex_lock(&c->lock);
    for (k = 0; k < n; k++) {
        chost *h;

        /* Start the scan at the turn's replica, so that ties rotate. */
        i = (int)((c->rr + (unsigned)k) % (unsigned)n);
        h = &c->hosts[DAL__CL_REPLICA][i];
        if ((i < 64 && (skip >> i & 1)) || (h->fails && now_ns < h->retry_at))
            continue;
        /* A replica is judged by its probe while the probe is fresh; an
         * unprobed one, or one whose probe is stale, is taken, and the
         * caller probes it before use (and skips it when it fails). */
        fresh = h->probed && now_ns - h->probed_at < c->probe_ms * 1000000;
        if (fresh && c->max_lag_ms >= 0 && h->probe.lag_ms > c->max_lag_ms)
            continue;
        /* Read-your-writes: not before it replayed the write. */
        if (fresh && min_lsn && h->probe.in_recovery
            && h->probe.replay_lsn < min_lsn)
            continue;
        if (best < 0 || h->nout < c->hosts[DAL__CL_REPLICA][best].nout)
            best = i;
    }
    c->rr++;
    pthread_mutex_unlock(&c->lock);
    return best;
}

void dal__cluster_checkout(dal__cluster *c, int kind, int i)
{
    pthread_mutex_lock(&c->lock);
    c->hosts[kind][i].nout++;
    pthread_mutex_unlock(&c->lock);
}

void dal__cluster_checkin(dal__cluster *c, int kind, int i)
{
    pthread_mutex_lock(&c->lock);
    if (c->hosts[kind][i].nout > 0)
        c->hosts[kind][i].nout--;
    pthread_mutex_unlock(&c->lock);
}

int dal__cluster_primary(dal__cluster *c, unsigned *epoch)
{
    int i;

    pthread_mutex_lock(&c->lock);
    i = c->primary;
    if (epoch)
        *epoch = c->epoch;
    pthread_mutex_unlock(&c->lock);
    return i;
}

void dal__cluster_primary_lost(dal__cluster *c, int64_t now_ns)
{
    (void)now_ns;
    pthread_mutex_lock(&c->lock);
    if (c->primary >= 0) {
        c->primary = -1;
        c->epoch++;
    }
    pthread_mutex_unlock(&c->lock);
}

/* Open host i and ask whether it is the primary: DAL_OK with *dbp when
 * it is, DAL_DONE when it is up but in recovery, else an error. */
static int try_primary(dal__cluster *c, int i, dal_db **dbp, char *err,
                       size_t errlen, int64_t now_ns)
{
    dal__probe p;
    dal_db *db = NULL;
    int rc;

    rc = dal_open(c->hosts[0][i].url, &db);
    if (!db)
        return DAL_NOMEM;
    if (rc == DAL_OK)
        rc = db->drv->replica_probe(db, &p);
    if (rc == DAL_NOMEM) {
        dal_close(db);
        return rc;
    }
    if (rc) {
        dal__set_err(err, errlen, "%s", dal_errmsg(db));
        dal_close(db);
        dal__cluster_mark_down(c, DAL__CL_PRIMARY, i, now_ns);
        return rc;
    }
    dal__cluster_mark_up(c, DAL__CL_PRIMARY, i, &p, now_ns);
    if (p.in_recovery) {
        dal__set_err(err, errlen, "%s is in recovery (a standby)",
                     c->hosts[0][i].host);
        dal_close(db);
        return DAL_DONE;
    }
    *dbp = db;
    return DAL_OK;
}

int dal__cluster_find_primary(dal__cluster *c, dal_db **dbp, int *index,
                              char *err, size_t errlen)
{
    int n = c->nhosts[DAL__CL_PRIMARY], start, pass, k, i, rc, tried = 0;
    int64_t now = dal_clock_ns();
    char last[256] = "";

    *dbp = NULL;
    start = dal__cluster_primary(c, NULL);
    if (start < 0)
        start = 0;
    /* The first pass skips hosts in backoff; when it found nothing and
     * skipped some, the second tries those too, since a failover must
     * not wait out a backoff. */
    for (pass = 0; pass < 2; pass++) {
        int skipped = 0;

        for (k = 0; k < n; k++) {
            i = (start + k) % n;
            if ((!dal__cluster_usable(c, DAL__CL_PRIMARY, i, now)) != pass) {
                skipped += !pass;
                continue;
            }
            tried++;
            rc = try_primary(c, i, dbp, last, sizeof last, now);
            if (rc == DAL_NOMEM)
                return rc;
            if (rc == DAL_OK) {
                pthread_mutex_lock(&c->lock);
                c->primary = i;
                pthread_mutex_unlock(&c->lock);
                if (index)
                    *index = i;
                return DAL_OK;
            }
        }
        if (!skipped)
            break;
    }
    dal__set_err(err, errlen, "no primary among the %d candidate host%s%s%s",
                 n, n == 1 ? "" : "s", tried && last[0] ? "; last: " : "",
                 tried ? last : "");
    return DAL_E_CONNECT;
}

/* ---- the pool's side ---------------------------------------------- */

/*
 * What the cluster's acquire wants from the pool's pick, which runs
 * inside the pool's own checkout loop under its lock: per thread, since
 * each thread runs its own checkout.
 */
static _Thread_local struct {
    uint64_t min_lsn;     /* read-your-writes: replay needed */
    uint64_t skip;        /* replicas this checkout found unfit */
    int force_primary;    /* read-your-writes by time */
    dal__pset *picked;    /* the set the last pick chose */
} want;

int dal__cluster_pool_init(dal_pool *pool, const char *url)
{
    dal__cluster *c = NULL;
    dal__pset *set;
    char err[512];
    int rc, k, i;

    rc = dal__cluster_parse(url, &c, err, sizeof err);
    if (rc == DAL_NOMEM)
        return dal__pool_fail(rc, "%s", dal_errstr(rc));
    if (rc)
        return dal__pool_fail(rc, "%s", err);
    if (!c)
        return dal__pset_add(pool, url, DAL__ROLE_PRIMARY, NULL, &set);
    pool->cluster = c;
    pool->cl_nprimary = c->nhosts[DAL__CL_PRIMARY];
    for (k = 0; k < 2; k++)
        for (i = 0; i < c->nhosts[k]; i++) {
            rc = dal__pset_add(pool, c->hosts[k][i].url,
                               k == DAL__CL_PRIMARY ? DAL__ROLE_PRIMARY
                                                    : DAL__ROLE_REPLICA,
                               NULL, &set);
            if (rc)
                return dal__pool_fail(rc, "%s", dal_errstr(rc));
            set->cl_index = i;
            /* Which candidate is the primary is found at the first
             * checkout; keeping connections open to all of them would
             * keep some to standbys. */
            if (k == DAL__CL_PRIMARY && c->nhosts[k] > 1)
                set->min_size = 0;
        }
    return DAL_OK;
}

static int set_kind(const dal__pset *s)
{
    return s->role == DAL__ROLE_REPLICA ? DAL__CL_REPLICA : DAL__CL_PRIMARY;
}

dal__pset *dal__cluster_pool_pick(dal_pool *pool, int flags, int *rc)
{
    dal__cluster *c = pool->cluster;
    int r, p;

    want.picked = NULL;
    if ((flags & DAL_POOL_READ) && !want.force_primary) {
        r = dal__cluster_pick_replica(c, want.min_lsn, want.skip,
                                      dal_clock_ns());
        if (r >= 0)
            return want.picked = pool->sets[pool->cl_nprimary + r];
    }
    p = dal__cluster_primary(c, NULL);
    if (p < 0) {
        *rc = DAL_E_CONNECT;
        return NULL;
    }
    return want.picked = pool->sets[p];
}

/* Close the idle connections of every primary candidate but keep (the
 * old primary's, after a failover), so that none is handed out again. */
static void drain(dal_pool *pool, int keep)
{
    dal__pconn *grave = NULL, *pc, *next;
    dal__pset *s;
    int i;

    pthread_mutex_lock(&pool->mu);
    for (i = 0; i < pool->cl_nprimary; i++) {
        s = pool->sets[i];
        if (i == keep)
            continue;
        while ((pc = s->idle) != NULL) {
            s->idle = pc->next;
            s->nidle--;
            s->nopen--;
            pool->c.destroyed++;
            pc->next = grave;
            grave = pc;
        }
    }
    pthread_cond_broadcast(&pool->freed);
    pthread_mutex_unlock(&pool->mu);
    for (pc = grave; pc; pc = next) {
        next = pc->next;
        dal__pconn_close(pc);
    }
}

/* Find the primary when it is unknown, and drain the others' idle
 * connections when it moved. */
static int ensure_primary(dal_pool *pool)
{
    dal__cluster *c = pool->cluster;
    dal_db *db = NULL;
    char err[512];
    int rc, idx = -1;

    if (dal__cluster_primary(c, NULL) >= 0)
        return DAL_OK;
    rc = dal__cluster_find_primary(c, &db, &idx, err, sizeof err);
    /* The probe's connection is not kept: a pooled one is opened by the
     * pool's own path, with the pool's observer. */
    dal_close(db);
    if (rc == DAL_NOMEM)
        return dal__pool_fail(rc, "%s", dal_errstr(rc));
    if (rc)
        return dal__pool_fail(rc, "%s", err);
    drain(pool, idx);
    return DAL_OK;
}

/* Give back a connection the cluster's acquire does not hand out. */
static void put_back(dal_pool *pool, dal_db *db, int retire)
{
    dal__pconn *pc = db->pooled;

    if (retire)
        pc->expires_ns = 1; /* past its lifetime: closed on return */
    dal_pool_release(pool, db);
}

int dal__cluster_acquire(dal_pool *pool, dal_pool_session *session,
                         int flags, const char *tenant, dal_db **dbp)
{
    dal__cluster *c = pool->cluster;
    int nhosts = c->nhosts[0] + c->nhosts[1];
    int read = (flags & DAL_POOL_READ) != 0, attempt, rc, kind, i;
    int64_t now = dal_clock_ns();
    uint64_t min_lsn = 0;
    int force_primary = 0;
    dal__pconn *pc;
    dal__pset *set;
    dal__probe p;

    if (read && c->ryw != DAL__RYW_OFF && session) {
        /* The session's own writes only: the pool's mark is for
         * checkouts without a session. */
        min_lsn = c->ryw == DAL__RYW_LSN ? session->ryw_lsn : 0;
        force_primary = c->ryw == DAL__RYW_TIME
                        && now < session->ryw_until_ns;
    } else if (read && c->ryw != DAL__RYW_OFF) {
        pthread_mutex_lock(&pool->mu);
        min_lsn = c->ryw == DAL__RYW_LSN ? pool->ryw_lsn : 0;
        force_primary = c->ryw == DAL__RYW_TIME && now < pool->ryw_until_ns;
        pthread_mutex_unlock(&pool->mu);
    }
    /* Each failed host is marked down and each unfit replica skipped,
     * so each is tried about once. */
    want.skip = 0;
    for (attempt = 0; attempt < 2 * nhosts + 2; attempt++) {
        if (!read || force_primary || c->nhosts[DAL__CL_REPLICA] == 0
            || dal__cluster_pick_replica(c, min_lsn, want.skip,
                                         dal_clock_ns()) < 0)
            if ((rc = ensure_primary(pool)) != DAL_OK)
                return rc;
        want.min_lsn = min_lsn;
        want.force_primary = force_primary;
        rc = dal__pool_acquire(pool, flags, tenant, dbp);
        set = want.picked;
        if (rc == DAL_E_CONNECT) {
            if (set)
                dal__cluster_mark_down(c, set_kind(set), set->cl_index,
                                       dal_clock_ns());
            continue;
        }
        if (rc)
            return rc;
        pc = (*dbp)->pooled;
        set = pc->set;
        kind = set_kind(set);
        i = set->cl_index;
        if (kind == DAL__CL_PRIMARY
            && i != dal__cluster_primary(c, NULL)) {
            /* A connection to a former primary. */
            put_back(pool, *dbp, 1);
            continue;
        }
        if (kind == DAL__CL_REPLICA
            && (min_lsn || dal__cluster_probe_due(c, kind, i,
                                                  dal_clock_ns()))) {
            rc = (*dbp)->drv->replica_probe(*dbp, &p);
            if (rc == DAL_NOMEM) {
                put_back(pool, *dbp, 0);
                *dbp = NULL;
                return dal__pool_fail(rc, "%s", dal_errstr(rc));
            }
            if (rc) {
                dal__cluster_mark_down(c, kind, i, dal_clock_ns());
                put_back(pool, *dbp, 1);
                continue;
            }
            dal__cluster_mark_up(c, kind, i, &p, dal_clock_ns());
            if ((c->max_lag_ms >= 0 && p.lag_ms > c->max_lag_ms)
                || (min_lsn && p.in_recovery && p.replay_lsn < min_lsn)) {
                if (i < 64)
                    want.skip |= UINT64_C(1) << i;
                else
                    want.force_primary = force_primary = 1;
                put_back(pool, *dbp, 0);
                continue;
            }
        }
        pc->cl_write = !read;
        pc->cl_session = session;
        pc->cl_counted = 1;
        dal__cluster_checkout(c, kind, i);
        return DAL_OK;
    }
    *dbp = NULL;
    return dal__pool_fail(DAL_E_CONNECT, "no host of the cluster could "
                          "serve the checkout after %d attempts", attempt);
}

void dal__cluster_release(dal_pool *pool, dal__pconn *pc)
{
    dal__cluster *c = pool->cluster;
    dal_db *db = pc->db;
    int kind = set_kind(pc->set), i = pc->set->cl_index;
    int lost = db->err.code == DAL_E_CONNECT;
    int ro = !strcmp(db->err.sqlstate, "25006");
    int64_t now = dal_clock_ns();
    dal_pool_session *s = pc->cl_session;
    uint64_t lsn;

    pc->cl_session = NULL;
    if (pc->cl_counted) {
        dal__cluster_checkin(c, kind, i);
        pc->cl_counted = 0;
    }
    if (kind == DAL__CL_REPLICA) {
        if (lost)
            dal__cluster_mark_down(c, kind, i, now);
        return;
    }
    if (lost) {
        dal__cluster_mark_down(c, kind, i, now);
    } else if (ro) {
        /* The primary has become a standby: find the new one, and do not
         * keep this connection. */
        dal__cluster_primary_lost(c, now);
        pc->expires_ns = 1;
    } else if (i != dal__cluster_primary(c, NULL)) {
        pc->expires_ns = 1; /* drained: the primary moved meanwhile */
    } else if (pc->cl_write && c->ryw == DAL__RYW_LSN
               && !db->drv->in_tx(db->conn)
               && db->drv->wal_position(db, &lsn) == DAL_OK) {
        if (s) {
            /* The session's thread is the one giving the connection
             * back (the session's contract): no lock. */
            if (lsn > s->ryw_lsn)
                s->ryw_lsn = lsn;
        } else {
            pthread_mutex_lock(&pool->mu);
            if (lsn > pool->ryw_lsn)
                pool->ryw_lsn = lsn;
            pthread_mutex_unlock(&pool->mu);
        }
    } else if (pc->cl_write && c->ryw == DAL__RYW_TIME) {
        int64_t until = now + c->ryw_ms * 1000000;

        if (s) {
            if (until > s->ryw_until_ns)
                s->ryw_until_ns = until;
        } else {
            pthread_mutex_lock(&pool->mu);
            if (until > pool->ryw_until_ns)
                pool->ryw_until_ns = until;
            pthread_mutex_unlock(&pool->mu);
        }
    }
    pc->cl_write = 0;
}

/* ---- sessions ------------------------------------------------------ */

int dal_pool_session_new(dal_pool *pool, dal_pool_session **out)
{
    dal_pool_session *s;

    dal__pool_fail(DAL_OK, "%s", "");
    if (out)
        *out = NULL;
    if (!pool || !out)
        return dal__pool_fail(DAL_E_MISUSE, "dal_pool_session_new: NULL "
                              "argument");
    s = dal__calloc(1, sizeof *s);
    if (!s)
        return dal__pool_fail(DAL_NOMEM, "%s", dal_errstr(DAL_NOMEM));
    s->pool = pool;
    *out = s;
    return DAL_OK;
}

void dal_pool_session_free(dal_pool_session *session)
{
    dal__free(session);
}
