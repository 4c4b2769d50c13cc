/*
 * pool.c - the thread-safe connection pool (dal/pool.h).
 *
 * One mutex guards the pool's bookkeeping; connections are opened,
 * pinged, reset and closed outside it, each by the one thread that holds
 * it at that moment (a slot being opened is reserved with nopening, a
 * connection being checked or closed is no longer on any idle list).
 * Waiters sleep on one condition variable, signalled when a connection
 * is given back or a slot frees up; the deadline is on the monotonic
 * clock.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster-int.h"
#include "pool-int.h"

#define NS_PER_MS 1000000LL

#define DEF_MAX 10
#define DEF_ACQUIRE_MS 5000
#define DEF_HEALTH_MS 1000
#define DEF_REAPER_MS 1000
#define DEF_TENANTS 16

/* ---- the calling thread's last error ------------------------------- */

static _Thread_local char errbuf[512];

/* The thread's message is set by one function, which cluster.c calls
 * too; this file calls it by its short name. */
#define fail dal__pool_fail

int dal__pool_fail(int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return rc;
}

/* Keep db's message (already free of passwords) as the thread's. */
static int fail_db(dal_db *db, int rc)
{
    const char *m = db ? dal_errmsg(db) : NULL;

    return fail(rc, "%s", m && *m ? m : dal_errstr(rc));
}

const char *dal_pool_errmsg(void)
{
    return errbuf;
}

/* ---- options from the URL ------------------------------------------ */

static const struct {
    const char *key;
    size_t off;
    long min;
} url_opts[] = {
    {"pool_min", offsetof(dal_pool_config, min_size), 0},
    {"pool_max", offsetof(dal_pool_config, max_size), 1},
    {"pool_timeout", offsetof(dal_pool_config, acquire_timeout_ms), -1},
    {"pool_health_idle", offsetof(dal_pool_config, health_idle_ms), -1},
    {"pool_max_lifetime", offsetof(dal_pool_config, max_lifetime_ms), 0},
    {"pool_lifetime_jitter",
     offsetof(dal_pool_config, lifetime_jitter_ms), 0},
    {"pool_idle_timeout", offsetof(dal_pool_config, idle_timeout_ms), 0},
    {"pool_reaper_interval",
     offsetof(dal_pool_config, reaper_interval_ms), -1},
    {"pool_max_tenants", offsetof(dal_pool_config, max_tenants), 1},
};

#define NOPTS ((int)(sizeof url_opts / sizeof url_opts[0]))

/*
 * Copy url into *out without its pool_* options, setting them in cfg.
 * The rest of the query string is kept byte for byte, for the driver.
 */
static int take_options(const char *url, dal_pool_config *cfg, char **out)
{
    dal__buf b = {0};
    const char *q = strchr(url, '?'), *p;
    int kept = 0, i, rc = DAL_OK;

    *out = NULL;
    if (dal__buf_add(&b, url, q ? (size_t)(q - url) : strlen(url)))
        goto nomem;
    for (p = q ? q + 1 : NULL; p && *p && rc == DAL_OK; ) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        char *key = dal__url_decode(p, eq ? (size_t)(eq - p) : len, 0);

        if (!key)
            goto nomem;
        if (!strncmp(key, "pool_", 5)) {
            char *val = eq ? dal__url_decode(eq + 1,
                                             len - (size_t)(eq + 1 - p), 0)
                           : NULL, *end;
            long v;

            for (i = 0; i < NOPTS && strcmp(url_opts[i].key, key); i++)
                ;
            if (eq && !val) {
                dal__free(key);
                goto nomem;
            }
            errno = 0;
            v = val ? strtol(val, &end, 10) : 0;
            if (i == NOPTS)
                rc = fail(DAL_E_URL, "unknown pool option '%s' in URL",
                          key);
            else if (!val || !*val || *end || errno || v < url_opts[i].min
                     || v > INT_MAX)
                rc = fail(DAL_E_URL, "invalid value '%s' for option "
                          "'%s': expected an integer from %ld to %d",
                          val ? val : "", key, url_opts[i].min, INT_MAX);
            else
                *(int *)(void *)((char *)cfg + url_opts[i].off) = (int)v;
            dal__free(val);
        } else if (len > 0) {
            if (dal__buf_addc(&b, kept++ ? '&' : '?')
                || dal__buf_add(&b, p, len)) {
                dal__free(key);
                goto nomem;
            }
        }
        dal__free(key);
        p += len + (p[len] == '&');
    }
    if (rc != DAL_OK || dal__buf_addc(&b, '\0')) {
        dal__buf_free(&b);
        return rc != DAL_OK ? rc : DAL_NOMEM;
    }
    *out = b.p;
    return DAL_OK;
nomem:
    dal__buf_free(&b);
    return DAL_NOMEM;
}

/* url with every {tenant} replaced by tenant (a checked name). */
static char *expand(const char *tmpl, const char *tenant)
{
    dal__buf b = {0};
    const char *p = tmpl, *t;

    while ((t = strstr(p, "{tenant}")) != NULL) {
        if (dal__buf_add(&b, p, (size_t)(t - p))
            || dal__buf_adds(&b, tenant))
            goto nomem;
        p = t + 8;
    }
    if (dal__buf_adds(&b, p) || dal__buf_addc(&b, '\0'))
        goto nomem;
    return b.p;
nomem:
    dal__buf_free(&b);
    return NULL;
}

/* Identifier rules: safe in a schema name, a file name and a URL. */
static int tenant_ok(const char *t)
{
    size_t i;

    if (!t || !t[0] || (t[0] >= '0' && t[0] <= '9'))
        return 0;
    for (i = 0; t[i]; i++) {
        char c = t[i];

        if (i >= 63 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                         || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* ---- sets and connections ------------------------------------------ */

int dal__pset_add(dal_pool *pool, const char *url, int role,
                  const char *tenant, dal__pset **out)
{
    dal__pset *s, **grown;

    *out = NULL;
    if (pool->nsets == pool->capsets) {
        int cap = pool->capsets ? 2 * pool->capsets : 4;

        grown = dal__realloc(pool->sets, (size_t)cap * sizeof *grown);
        if (!grown)
            return DAL_NOMEM;
        pool->sets = grown;
        pool->capsets = cap;
    }
    s = dal__calloc(1, sizeof *s);
    if (!s)
        return DAL_NOMEM;
    s->pool = pool;
    s->role = role;
    s->min_size = tenant ? 0 : pool->cfg.min_size;
    s->max_size = pool->cfg.max_size;
    s->url = dal__strdup(url);
    s->tenant = tenant ? dal__strdup(tenant) : NULL;
    if (!s->url || (tenant && !s->tenant)) {
        dal__free(s->url);
        dal__free(s->tenant);
        dal__free(s);
        return DAL_NOMEM;
    }
    pool->sets[pool->nsets++] = s;
    *out = s;
    return DAL_OK;
}

static void pset_free(dal__pset *s)
{
    if (!s)
        return;
    dal__free(s->url);
    dal__free(s->tenant);
    dal__free(s);
}

/* Count pc as one of set's open connections (under the lock). */
static void link_open(dal__pset *set, dal__pconn *pc)
{
    pc->aprev = NULL;
    pc->anext = set->all;
    if (set->all)
        set->all->aprev = pc;
    set->all = pc;
    set->nopen++;
}

/* ... and no more (under the lock). */
static void unlink_open(dal__pset *set, dal__pconn *pc)
{
    if (pc->aprev)
        pc->aprev->anext = pc->anext;
    else
        set->all = pc->anext;
    if (pc->anext)
        pc->anext->aprev = pc->aprev;
    pc->aprev = pc->anext = NULL;
    set->nopen--;
}

/* A number below n + 1, different per connection and moment. */
static int64_t spread(const void *p, int64_t n)
{
    uint64_t x = (uint64_t)dal_clock_ns() ^ (uint64_t)(uintptr_t)p;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    return n > 0 ? (int64_t)(x % (uint64_t)(n + 1)) : 0;
}

int dal__pset_open(dal__pset *set, dal__pconn **out)
{
    dal_pool *pool = set->pool;
    dal__pconn *pc;
    dal_db *db = NULL;
    int rc;

    *out = NULL;
    pc = dal__calloc(1, sizeof *pc);
    if (!pc)
        return fail(DAL_NOMEM, "%s", dal_errstr(DAL_NOMEM));
    rc = dal_open_observed(set->url, pool->cfg.observer, &db);
    if (rc != DAL_OK) {
        fail_db(db, rc);
        dal_close(db);
        dal__free(pc);
        return rc;
    }
    db->role = set->role == DAL__ROLE_REPLICA ? "replica" : "primary";
    db->pooled = pc;
    pc->db = db;
    pc->set = set;
    pc->created_ns = dal_clock_ns();
    pc->idle_since_ns = pc->created_ns;
    if (pool->cfg.max_lifetime_ms > 0)
        pc->expires_ns = pc->created_ns
            + (pool->cfg.max_lifetime_ms
               - spread(pc, pool->cfg.lifetime_jitter_ms)) * NS_PER_MS;
    *out = pc;
    return DAL_OK;
}

void dal__pconn_close(dal__pconn *pc)
{
    if (!pc)
        return;
    pc->db->pooled = NULL;
    dal_close(pc->db);
    dal__free(pc);
}

/* Close a list of connections linked through next (without the lock). */
static void close_list(dal__pconn *pc)
{
    dal__pconn *next;

    for (; pc; pc = next) {
        next = pc->next;
        dal__pconn_close(pc);
    }
}

static dal__pset *find_tenant(dal_pool *pool, const char *tenant)
{
    int i;

    for (i = 0; i < pool->nsets; i++)
        if (pool->sets[i]->tenant && !strcmp(pool->sets[i]->tenant, tenant))
            return pool->sets[i];
    return NULL;
}

/*
 * Make room for one more tenant set by dropping the one unused longest
 * that has no connection out; its idle connections go on *grave.
 * Nonzero when one was dropped.
 */
static int evict_tenant(dal_pool *pool, dal__pconn **grave)
{
    dal__pset *s, *victim = NULL;
    dal__pconn *pc;
    int i, at = -1;

    for (i = 0; i < pool->nsets; i++) {
        s = pool->sets[i];
        if (s->nopen != s->nidle || s->nopening > 0)
            continue;
        if (!victim || s->last_used_ns < victim->last_used_ns) {
            victim = s;
            at = i;
        }
    }
    if (!victim)
        return 0;
    while ((pc = victim->idle) != NULL) {
        victim->idle = pc->next;
        unlink_open(victim, pc);
        pc->next = *grave;
        *grave = pc;
        pool->c.destroyed++;
    }
    pool->sets[at] = pool->sets[--pool->nsets];
    pset_free(victim);
    return 1;
}

/*
 * Which set serves a checkout: the one decision about routing. Without
 * a tenant template that is the primary set (sets[0]); replicas and
 * failover hook in here. With a template, the tenant's set, made on
 * first use within max_tenants. *rc is DAL_E_POOL_TIMEOUT when the
 * caller should wait for room, or an error.
 */
dal__pset *dal__pool_pick(dal_pool *pool, int flags, const char *tenant,
                          int *rc)
{
    dal__pset *s;
    char *url;

    *rc = DAL_OK;
    if (pool->cluster)
        return dal__cluster_pool_pick(pool, flags, rc);
    if (!pool->url_template)
        return pool->sets[0];
    if ((s = find_tenant(pool, tenant)) != NULL)
        return s;
    if (pool->nsets >= pool->cfg.max_tenants) {
        *rc = DAL_E_POOL_TIMEOUT;
        return NULL;
    }
    url = expand(pool->url_template, tenant);
    if (!url || (*rc = dal__pset_add(pool, url, DAL__ROLE_PRIMARY, tenant,
                                     &s)) != DAL_OK) {
        dal__free(url);
        *rc = DAL_NOMEM;
        return NULL;
    }
    dal__free(url);
    return s;
}

/* ---- new and free --------------------------------------------------- */

static void lock(dal_pool *p)
{
    pthread_mutex_lock(&p->mu);
}

static void unlock(dal_pool *p)
{
    pthread_mutex_unlock(&p->mu);
}

static void wake_one(dal_pool *p)
{
    /* Waiters of different tenants share the condition: each must
     * look. With one set, one waiter suffices. */
    if (p->nsets > 1)
        pthread_cond_broadcast(&p->freed);
    else
        pthread_cond_signal(&p->freed);
}

/* The absolute monotonic time now + ns, for pthread_cond_timedwait. */
static struct timespec at_ns(int64_t t)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(t / 1000000000LL);
    ts.tv_nsec = (long)(t % 1000000000LL);
    return ts;
}

/* CLOCK_MONOTONIC now, the clock both conditions wait on. */
static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *reaper_main(void *arg);

/* Open connections until each set has its min_size (without the lock). */
static int top_up(dal_pool *pool)
{
    dal__pset *s;
    dal__pconn *pc;
    int i, rc = DAL_OK;

    lock(pool);
    for (i = 0; i < pool->nsets && !pool->closing; i++) {
        s = pool->sets[i];
        while (s->nopen + s->nopening < s->min_size && !pool->closing) {
            s->nopening++;
            unlock(pool);
            rc = dal__pset_open(s, &pc);
            lock(pool);
            s->nopening--;
            if (rc != DAL_OK) {
                pool->c.failed++;
                wake_one(pool);
                unlock(pool);
                return rc;
            }
            pool->c.created++;
            link_open(s, pc);
            s->nidle++;
            pc->next = s->idle;
            s->idle = pc;
            wake_one(pool);
        }
    }
    unlock(pool);
    return rc;
}

static int config(dal_pool *pool, const dal_pool_config *cfg)
{
    dal_pool_config *c = &pool->cfg;

    if (cfg)
        *c = *cfg;
    if (c->max_size == 0)
        c->max_size = DEF_MAX;
    if (c->acquire_timeout_ms == 0)
        c->acquire_timeout_ms = DEF_ACQUIRE_MS;
    if (c->health_idle_ms == 0)
        c->health_idle_ms = DEF_HEALTH_MS;
    if (c->reaper_interval_ms == 0)
        c->reaper_interval_ms = DEF_REAPER_MS;
    if (c->max_tenants == 0)
        c->max_tenants = DEF_TENANTS;
    return DAL_OK;
}

static int check_config(const dal_pool_config *c)
{
    if (c->min_size < 0 || c->max_size < 1 || c->max_lifetime_ms < 0
        || c->lifetime_jitter_ms < 0 || c->idle_timeout_ms < 0
        || c->max_tenants < 1)
        return fail(DAL_E_MISUSE, "dal_pool_new: negative size or time "
                    "in the configuration");
    if (c->min_size > c->max_size)
        return fail(DAL_E_MISUSE, "dal_pool_new: min_size %d is above "
                    "max_size %d", c->min_size, c->max_size);
    if (c->max_lifetime_ms > 0 && c->lifetime_jitter_ms
        >= c->max_lifetime_ms)
        return fail(DAL_E_MISUSE, "dal_pool_new: lifetime_jitter_ms must "
                    "be below max_lifetime_ms");
    return DAL_OK;
}

int dal_pool_new(const char *url, const dal_pool_config *cfg,
                 dal_pool **out)
{
    pthread_condattr_t ca;
    dal_pool *pool;
    dal__url u;
    char *clean = NULL, *probe, err[512];
    int rc, inited = 0;

    errbuf[0] = '\0';
    if (!out)
        return fail(DAL_E_MISUSE, "dal_pool_new: out is NULL");
    *out = NULL;
    if (!url)
        return fail(DAL_E_MISUSE, "dal_pool_new: url is NULL");
    pool = dal__calloc(1, sizeof *pool);
    if (!pool)
        return fail(DAL_NOMEM, "%s", dal_errstr(DAL_NOMEM));
    config(pool, cfg);
    if ((rc = take_options(url, &pool->cfg, &clean)) != DAL_OK)
        goto out;
    config(pool, &pool->cfg);
    if ((rc = check_config(&pool->cfg)) != DAL_OK)
        goto out;
    /* Parse once now, so that a bad URL fails here and not at the first
     * checkout; a template is parsed with a tenant filled in. */
    probe = strstr(clean, "{tenant}") ? expand(clean, "t") : clean;
    if (!probe) {
        rc = DAL_NOMEM;
        goto out;
    }
    err[0] = '\0';
    rc = dal__url_parse(probe, &u, err, sizeof err);
    pool->drv = u.drv;
    dal__url_free(&u);
    if (probe != clean)
        dal__free(probe);
    if (rc != DAL_OK) {
        if (rc != DAL_NOMEM)
            fail(rc, "%s", err);
        goto out;
    }
    if (pthread_mutex_init(&pool->mu, NULL) != 0) {
        rc = fail(DAL_NOMEM, "dal_pool_new: no mutex");
        goto out;
    }
    inited = 1;
    if (pthread_condattr_init(&ca) != 0) {
        rc = DAL_NOMEM;
        goto out;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&pool->freed, &ca);
    if (rc == 0 && pthread_cond_init(&pool->wake, &ca) != 0) {
        pthread_cond_destroy(&pool->freed);
        rc = 1;
    }
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        rc = DAL_NOMEM;
        goto out;
    }
    inited = 2;
    if (strstr(clean, "{tenant}")) {
        pool->url_template = clean;
        clean = NULL;
    } else if ((rc = dal__cluster_pool_init(pool, clean)) != DAL_OK) {
        goto out;
    }
    if ((rc = top_up(pool)) != DAL_OK)
        goto out;
    if (pool->cfg.reaper_interval_ms > 0) {
        if (pthread_create(&pool->reaper, NULL, reaper_main, pool) != 0) {
            rc = fail(DAL_NOMEM, "dal_pool_new: cannot start the reaper "
                      "thread");
            goto out;
        }
        pool->reaper_on = 1;
    }
    dal__free(clean);
    *out = pool;
    return DAL_OK;
out:
    if (rc == DAL_NOMEM)
        fail(rc, "%s", dal_errstr(rc));
    dal__free(clean);
    if (inited == 2) {
        dal_pool_free(pool);
        return rc;
    }
    if (inited == 1)
        pthread_mutex_destroy(&pool->mu);
    dal__free(pool);
    return rc;
}

void dal_pool_free(dal_pool *pool)
{
    dal__pconn *grave = NULL, *pc;
    dal__pset *s;
    int i;

    if (!pool)
        return;
    lock(pool);
    pool->closing = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_cond_broadcast(&pool->freed);
    unlock(pool);
    if (pool->reaper_on)
        pthread_join(pool->reaper, NULL);
    /* Only this thread is left: the caller promised it. */
    for (i = 0; i < pool->nsets; i++) {
        s = pool->sets[i];
        while ((pc = s->all) != NULL) {
            unlink_open(s, pc);
            pc->next = grave;
            grave = pc;
        }
        pset_free(s);
    }
    close_list(grave);
    dal__free(pool->sets);
    dal__free(pool->url_template);
    dal__cluster_free(pool->cluster);
    pthread_cond_destroy(&pool->freed);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mu);
    dal__free(pool);
}

/* ---- the reaper ----------------------------------------------------- */

/*
 * Take off the idle lists the connections past their lifetime, and
 * those idle longer than idle_timeout_ms beyond each set's min_size.
 * Under the lock; the caller closes what lands on *grave.
 */
static void reap(dal_pool *pool, int64_t now, dal__pconn **grave)
{
    int64_t idle_ns = (int64_t)pool->cfg.idle_timeout_ms * NS_PER_MS;
    dal__pconn **link, *pc;
    dal__pset *s;
    int i, old;

    for (i = 0; i < pool->nsets; i++) {
        s = pool->sets[i];
        for (link = &s->idle; (pc = *link) != NULL; ) {
            old = idle_ns > 0 && now - pc->idle_since_ns >= idle_ns
                  && s->nopen > s->min_size;
            if (old || (pc->expires_ns && now >= pc->expires_ns)) {
                *link = pc->next;
                unlink_open(s, pc);
                pc->next = *grave;
                *grave = pc;
                s->nidle--;
                pool->c.destroyed++;
            } else {
                link = &pc->next;
            }
        }
    }
}

static void *reaper_main(void *arg)
{
    dal_pool *pool = arg;
    dal__pconn *grave;
    struct timespec ts;

    lock(pool);
    while (!pool->closing) {
        ts = at_ns(mono_ns()
                   + (int64_t)pool->cfg.reaper_interval_ms * NS_PER_MS);
        pthread_cond_timedwait(&pool->wake, &pool->mu, &ts);
        if (pool->closing)
            break;
        grave = NULL;
        reap(pool, dal_clock_ns(), &grave);
        if (grave)
            wake_one(pool);
        unlock(pool);
        close_list(grave);
        /* A failure is counted in the stats; the next round retries. */
        top_up(pool);
        lock(pool);
    }
    unlock(pool);
    return NULL;
}

/* ---- checkout ------------------------------------------------------- */

/* Take pc (no longer on any list) out of its set and close it. */
static void retire(dal_pool *pool, dal__pconn *pc)
{
    lock(pool);
    unlink_open(pc->set, pc);
    pool->c.destroyed++;
    wake_one(pool);
    unlock(pool);
    dal__pconn_close(pc);
}

/* Nonzero when db answers a trivial query. */
static int alive(dal_db *db)
{
    int64_t one = 0;

    return dal_query_int64(db, "SELECT 1", NULL, 0, &one) == DAL_OK
           && one == 1;
}

/* Point db at tenant: its label, and its schema when the pool keeps
 * tenants in schemas. */
static int enter_tenant(dal_pool *pool, dal_db *db, const char *tenant)
{
    dal__buf b = {0};
    int rc;

    if ((rc = dal_set_tenant(db, tenant)) != DAL_OK)
        return fail(rc, "%s", dal_errstr(rc));
    if (pool->url_template)
        return DAL_OK;
    if (dal__buf_adds(&b, db->drv->schema_set_sql)
        || dal__buf_ident(&b, tenant) || dal__buf_addc(&b, '\0')) {
        dal__buf_free(&b);
        return fail(DAL_NOMEM, "%s", dal_errstr(DAL_NOMEM));
    }
    rc = dal_exec(db, b.p);
    dal__buf_free(&b);
    return rc == DAL_OK ? DAL_OK : fail_db(db, rc);
}

static int acquire(dal_pool *pool, int flags, const char *tenant,
                   dal_db **dbp)
{
    int64_t t0 = dal_clock_ns(), now, wait_ns;
    int64_t deadline = pool->cfg.acquire_timeout_ms < 0 ? 0
        : mono_ns() + (int64_t)pool->cfg.acquire_timeout_ms * NS_PER_MS;
    dal__pconn *pc = NULL, *grave = NULL;
    dal__pset *set;
    struct timespec ts;
    int rc, waited = 0, timed_out = 0;

    lock(pool);
    for (;;) {
        if (pool->closing) {
            unlock(pool);
            return fail(DAL_E_MISUSE, "dal_pool_acquire: the pool is "
                        "being freed");
        }
        set = dal__pool_pick(pool, flags, tenant, &rc);
        if (!set && rc == DAL_E_POOL_TIMEOUT && evict_tenant(pool, &grave))
            set = dal__pool_pick(pool, flags, tenant, &rc);
        if (grave) {
            unlock(pool);
            close_list(grave);
            grave = NULL;
            lock(pool);
            continue;
        }
        if (!set && rc != DAL_E_POOL_TIMEOUT) {
            unlock(pool);
            return fail(rc, "%s", dal_errstr(rc));
        }
        if (set && set->idle) {
            pc = set->idle;
            set->idle = pc->next;
            set->nidle--;
            pc->next = NULL;
            pc->in_use = 1;
            set->last_used_ns = t0;
            unlock(pool);
            now = dal_clock_ns();
            if (pc->expires_ns && now >= pc->expires_ns) {
                retire(pool, pc);
                lock(pool);
                continue;
            }
            if (pool->cfg.health_idle_ms >= 0
                && now - pc->idle_since_ns
                   > (int64_t)pool->cfg.health_idle_ms * NS_PER_MS) {
                int ok = alive(pc->db);

                lock(pool);
                pool->c.health_checks++;
                if (!ok) {
                    pool->c.health_failures++;
                    unlock(pool);
                    retire(pool, pc);
                    lock(pool);
                    continue;
                }
                unlock(pool);
            }
            break;
        }
        if (set && set->nopen + set->nopening < set->max_size) {
            set->nopening++;
            set->last_used_ns = t0;
            unlock(pool);
            rc = dal__pset_open(set, &pc);
            lock(pool);
            set->nopening--;
            if (rc != DAL_OK) {
                pool->c.failed++;
                wake_one(pool);
                unlock(pool);
                return rc;
            }
            pool->c.created++;
            link_open(set, pc);
            pc->in_use = 1;
            unlock(pool);
            break;
        }
        if (timed_out || pool->cfg.acquire_timeout_ms == 0) {
            pool->c.acquire_timeouts++;
            unlock(pool);
            return fail(DAL_E_POOL_TIMEOUT, "no pooled connection became "
                        "free within %d ms (max_size %d)",
                        pool->cfg.acquire_timeout_ms, pool->cfg.max_size);
        }
        pool->waiting++;
        waited = 1;
        if (deadline == 0) {
            pthread_cond_wait(&pool->freed, &pool->mu);
        } else {
            ts = at_ns(deadline);
            if (pthread_cond_timedwait(&pool->freed, &pool->mu, &ts)
                == ETIMEDOUT)
                timed_out = 1; /* one more look, then give up */
        }
        pool->waiting--;
    }
    pc->steps_out = pc->db->steps;
    if (tenant && (rc = enter_tenant(pool, pc->db, tenant)) != DAL_OK) {
        dal_pool_release(pool, pc->db);
        return rc;
    }
    wait_ns = dal_clock_ns() - t0;
    lock(pool);
    pool->c.acquires++;
    pool->c.acquire_waits += (uint64_t)waited;
    pool->c.acquire_wait_ns += wait_ns;
    if (wait_ns > pool->c.acquire_wait_max_ns)
        pool->c.acquire_wait_max_ns = wait_ns;
    unlock(pool);
    if (DAL__UNLIKELY(pc->db->obs != NULL))
        dal__obs_event(pc->db, DAL_EV_CHECKOUT, DAL_OK, 0);
    *dbp = pc->db;
    return DAL_OK;
}

/*
 * The checks and routing of every public checkout: fn names the caller
 * in messages; named says a tenant was asked for (tenant then must be a
 * valid name); session may be NULL.
 */
static int checkout(dal_pool *pool, dal_pool_session *session,
                    const char *tenant, int named, int flags, dal_db **dbp,
                    const char *fn)
{
    errbuf[0] = '\0';
    if (dbp)
        *dbp = NULL;
    if (!pool || !dbp || (flags & ~DAL_POOL_READ))
        return fail(DAL_E_MISUSE, "%s: NULL argument or unknown flag", fn);
    if (session && session->pool != pool)
        return fail(DAL_E_MISUSE, "%s: the session belongs to another "
                    "pool", fn);
    if (!named) {
        if (pool->url_template)
            return fail(DAL_E_MISUSE, "%s: the pool's URL is a tenant "
                        "template; name a tenant (dal_pool_acquire_tenant())",
                        fn);
        tenant = NULL;
    } else {
        if (!tenant_ok(tenant))
            return fail(DAL_E_MISUSE, "%s: invalid tenant name (1 to 63 "
                        "ASCII letters, digits and '_', not starting with "
                        "a digit)", fn);
        if (!pool->url_template && !pool->drv->schema_set_sql)
            return fail(DAL_E_UNSUPPORTED, "%s: %s has no schemas; give "
                        "the pool a URL template with {tenant} (one "
                        "database per tenant)", fn, pool->drv->name);
    }
    if (pool->cluster)
        return dal__cluster_acquire(pool, session, flags, tenant, dbp);
    /* One database (or one per tenant): every read sees every write,
     * so a session has nothing to do. */
    return acquire(pool, flags, tenant, dbp);
}

int dal_pool_acquire(dal_pool *pool, int flags, dal_db **dbp)
{
    return checkout(pool, NULL, NULL, 0, flags, dbp, "dal_pool_acquire");
}

int dal__pool_acquire(dal_pool *pool, int flags, const char *tenant,
                      dal_db **dbp)
{
    return acquire(pool, flags, tenant, dbp);
}

int dal_pool_acquire_tenant(dal_pool *pool, const char *tenant, int flags,
                            dal_db **dbp)
{
    return checkout(pool, NULL, tenant, 1, flags, dbp,
                    "dal_pool_acquire_tenant");
}

int dal_pool_acquire_session(dal_pool *pool, dal_pool_session *session,
                             const char *tenant, int flags, dal_db **dbp)
{
    return checkout(pool, session, tenant, tenant != NULL, flags, dbp,
                    "dal_pool_acquire_session");
}

/* ---- return --------------------------------------------------------- */

/*
 * Bring db back to how it was opened. Nonzero when it may be handed out
 * again; zero when it failed (lost, or the server refused). A connection
 * that ran no statement since it was handed out has nothing to undo.
 */
static int reset(dal_db *db, uint64_t steps_out)
{
    dal__buf b = {0};
    const char *p;
    int rc = DAL_OK;

    if (!db->conn)
        return 0;
    dal__clearerr(db);
    if (db->steps == steps_out) {
        dal_set_tenant(db, NULL);
        dal_set_actor(db, NULL);
        return 1;
    }
    if (db->drv->in_tx(db->conn)) {
        rc = dal_exec_params(db, "ROLLBACK", NULL, 0);
        if (db->tx_depth > 0 && DAL__UNLIKELY(db->obs != NULL))
            dal__obs_event(db, DAL_EV_ROLLBACK, rc, 1);
        db->tx_depth = 0;
    }
    if (rc == DAL_OK && db->drv->reset_sql) {
        rc = db->drv->reset_sql(db, db->conn, &b);
        for (p = b.p; rc == DAL_OK && p && p < b.p + b.len;
             p += strlen(p) + 1)
            rc = dal_exec_params(db, p, NULL, 0);
        dal__buf_free(&b);
    }
    db->tx_depth = 0;
    dal__notify_free(db);
    dal__free(db->tenant);
    dal__free(db->actor);
    db->tenant = db->actor = NULL;
    dal__clearerr(db);
    return rc == DAL_OK;
}

int dal_pool_release(dal_pool *pool, dal_db *db)
{
    dal__pconn *pc;
    dal__pset *set;
    int ok, out;

    if (!db)
        return DAL_OK;
    if (!pool)
        return fail(DAL_E_MISUSE, "dal_pool_release: pool is NULL");
    pc = db->pooled;
    lock(pool);
    out = pc && pc->set->pool == pool && pc->in_use;
    unlock(pool);
    if (!out)
        return fail(DAL_E_MISUSE, "dal_pool_release: the connection is "
                    "not one this pool handed out");
    if (db->nstmts > 0)
        return fail(DAL_E_MISUSE, "dal_pool_release: %d statement(s) of "
                    "the connection are not finalized", db->nstmts);
    if (pool->cluster)
        dal__cluster_release(pool, pc);
    ok = reset(db, pc->steps_out);
    if (DAL__UNLIKELY(db->obs != NULL))
        dal__obs_event(db, DAL_EV_RETURN, ok ? DAL_OK : DAL_E_CONNECT, 0);
    set = pc->set;
    lock(pool);
    pc->in_use = 0;
    pc->idle_since_ns = dal_clock_ns();
    if (!ok || pool->closing
        || (pc->expires_ns && pc->idle_since_ns >= pc->expires_ns)) {
        unlock(pool);
        retire(pool, pc);
        return DAL_OK;
    }
    pc->next = set->idle;
    set->idle = pc;
    set->nidle++;
    wake_one(pool);
    unlock(pool);
    return DAL_OK;
}

/* ---- stats ---------------------------------------------------------- */

int dal_pool_stats(dal_pool *pool, dal_pool_counters *out)
{
    int i;

    if (!pool || !out)
        return DAL_E_MISUSE;
    lock(pool);
    *out = pool->c;
    out->total = out->idle = 0;
    for (i = 0; i < pool->nsets; i++) {
        out->total += pool->sets[i]->nopen;
        out->idle += pool->sets[i]->nidle;
    }
    out->in_use = out->total - out->idle;
    out->waiting = pool->waiting;
    unlock(pool);
    return DAL_OK;
}

/* ---- transactions through the pool --------------------------------- */

typedef struct pool_tx {
    dal_pool *pool;
    int flags;
} pool_tx;

static int tx_get(void *ctx, dal_db **db)
{
    pool_tx *t = ctx;

    return dal_pool_acquire(t->pool, t->flags, db);
}

static void tx_put(void *ctx, dal_db *db, int rc)
{
    pool_tx *t = ctx;

    if (rc != DAL_OK)
        fail_db(db, rc);
    dal_pool_release(t->pool, db);
}

int dal_pool_tx_run(dal_pool *pool, int acquire_flags, int flags,
                    int (*fn)(dal_db *db, void *data), void *data,
                    const dal_retry_policy *policy)
{
    pool_tx t;
    int rc;

    errbuf[0] = '\0';
    if (!pool || !fn)
        return fail(DAL_E_MISUSE, "dal_pool_tx_run: NULL argument");
    t.pool = pool;
    t.flags = acquire_flags;
    rc = dal__tx_run_with(flags, fn, data, policy, tx_get, tx_put, &t);
    if (rc == DAL_E_MISUSE && !errbuf[0])
        fail(rc, "dal_pool_tx_run: negative value in the retry policy");
    return rc;
}
