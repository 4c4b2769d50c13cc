/*
 * metrics.c - a metrics registry fed by an observer hook, written out in
 * the Prometheus text exposition format (version 0.0.4).
 *
 * Counting is per connection: the hook's attach gives each connection a
 * shard of counters that only the thread using the connection writes.
 * A statement costs a few relaxed atomic loads and stores on its own
 * shard (plain moves on the usual targets: no lock, no read-modify-write
 * instruction). A reader takes the registry's mutex and adds up the
 * folded totals and every live shard with relaxed loads; a shard is
 * folded into its backend's totals under the same mutex when its
 * connection closes or is detached. A reader may so see one counter of
 * a statement updated and another not yet, never a torn value.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "dal-int.h"
#include "dal/metrics.h"
#include "dal/rcache.h"
#include "dal/pool.h"

#define NKIND 7  /* dal_stmt_kind values */
#define NOUT 3   /* ok, error, refused */
#define NBUCKET 17
#define NCLASS 48 /* SQLSTATE classes kept by name; more count as other */

/* Histogram bounds, in nanoseconds and as Prometheus writes them. */
static const int64_t bucket_ns[NBUCKET] = {
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
    25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
    2500000000, 5000000000, 10000000000,
};
static const char *const bucket_le[NBUCKET] = {
    "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
    "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};
static const char *const outcome_name[NOUT] = {"ok", "error", "refused"};

/* Where each counter is in a flat array of counters. */
enum {
    I_STMT = 0,                        /* [kind][outcome] */
    I_ROWS = I_STMT + NKIND * NOUT,    /* [kind] */
    I_BUCKET = I_ROWS + NKIND,         /* [NBUCKET + 1], not cumulative */
    I_DUR_NS = I_BUCKET + NBUCKET + 1, /* sum of durations */
    I_TX = I_DUR_NS + 1,               /* committed, rolled back, failed */
    I_SP = I_TX + 3,                   /* released, rolled back */
    I_CONN = I_SP + 2,                 /* opened, failed, closed */
    I_CACHE = I_CONN + 3,              /* hits, misses, evictions */
    I_CLASS_OTHER = I_CACHE + 3,       /* errors past NCLASS classes */
    I_CLASS = I_CLASS_OTHER + 1,       /* [NCLASS], by the class table */
    NCTR = I_CLASS + NCLASS
};

/* Folded counters of one backend (also a reader's snapshot of them). */
typedef struct totals {
    const char *backend; /* the driver's static name */
    int attached;        /* live shards of this backend */
    int index;           /* in dal_metrics.be */
    int nclass;
    char cls[NCLASS][3];
    uint64_t c[NCTR];
} totals;

/* One connection's counters, written by the thread that uses it. */
typedef struct shard {
    struct shard *prev, *next;
    totals *be;
    /* The connection, whose statement cache counters are read when
     * the shard is added up (not per statement), less their values
     * when the shard was attached. */
    dal_db *db;
    uint64_t cache_base[3];
    /* Classes are appended: the name first, then nclass (release), so
     * that a reader (acquire) sees only named slots. */
    atomic_int nclass;
    char cls[NCLASS][3];
    _Atomic uint64_t c[NCTR];
} shard;

/* A result cache whose counters are exported, under its name. */
typedef struct watched_rcache {
    dal_rcache *cache;
    char *name;
} watched_rcache;

/* A pool whose gauges and counters are exported, under its name. */
typedef struct watched_pool {
    dal_pool *pool;
    char *name;
} watched_pool;

struct dal_metrics {
    pthread_mutex_t mu;
    totals **be;
    int nbe;
    shard *shards; /* live ones */
    int nshards;
    watched_rcache *rc; /* set up before use, read-only then */
    int nrc;
    watched_pool *pools; /* likewise */
    int npools;
};

static void put(_Atomic uint64_t *x, uint64_t v)
{
    atomic_store_explicit(x, v, memory_order_relaxed);
}

int dal_metrics_new(dal_metrics **out)
{
    dal_metrics *m;

    if (!out)
        return DAL_E_MISUSE;
    *out = NULL;
    m = dal__calloc(1, sizeof *m);
    if (!m)
        return DAL_NOMEM;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        dal__free(m);
        return DAL_NOMEM;
    }
    *out = m;
    return DAL_OK;
}

int dal_metrics_free(dal_metrics *m)
{
    int i, live;

    if (!m)
        return DAL_OK;
    pthread_mutex_lock(&m->mu);
    live = m->nshards;
    pthread_mutex_unlock(&m->mu);
    if (live > 0)
        return DAL_E_MISUSE;
    for (i = 0; i < m->nbe; i++)
        dal__free(m->be[i]);
    dal__free(m->be);
    for (i = 0; i < m->nrc; i++)
        dal__free(m->rc[i].name);
    dal__free(m->rc);
    for (i = 0; i < m->npools; i++)
        dal__free(m->pools[i].name);
    dal__free(m->pools);
    pthread_mutex_destroy(&m->mu);
    dal__free(m);
    return DAL_OK;
}

/* The totals of backend name, made when first seen (m->mu held). */
static totals *backend_totals(dal_metrics *m, const char *name)
{
    totals **be, *t;
    int i;

    for (i = 0; i < m->nbe; i++)
        if (!strcmp(m->be[i]->backend, name))
            return m->be[i];
    t = dal__calloc(1, sizeof *t);
    if (!t)
        return NULL;
    be = dal__realloc(m->be, (size_t)(m->nbe + 1) * sizeof *be);
    if (!be) {
        dal__free(t);
        return NULL;
    }
    t->backend = name;
    t->index = m->nbe;
    m->be = be;
    m->be[m->nbe++] = t;
    return t;
}

/* Add n errors of class cls to t's class table (or to "other"). */
static void totals_add_class(totals *t, const char *cls, uint64_t n)
{
    int i;

    for (i = 0; i < t->nclass; i++)
        if (!memcmp(t->cls[i], cls, 2)) {
            t->c[I_CLASS + i] += n;
            return;
        }
    if (t->nclass == NCLASS) {
        t->c[I_CLASS_OTHER] += n;
        return;
    }
    memcpy(t->cls[t->nclass], cls, 3);
    t->c[I_CLASS + t->nclass++] = n;
}

/* Add shard s into t (the registry's mutex held). */
static void totals_add_shard(totals *t, shard *s)
{
    int i, n;

    for (i = 0; i < I_CLASS; i++)
        t->c[i] += atomic_load_explicit(&s->c[i], memory_order_relaxed);
    for (i = 0; i < 3; i++)
        t->c[I_CACHE + i] += atomic_load_explicit(&s->db->cache_stat[i],
                                                  memory_order_relaxed)
                             - s->cache_base[i];
    n = atomic_load_explicit(&s->nclass, memory_order_acquire);
    for (i = 0; i < n; i++)
        totals_add_class(t, s->cls[i], atomic_load_explicit(
            &s->c[I_CLASS + i], memory_order_relaxed));
}

static int metrics_attach(dal_db *db, void *data, void **conn_state)
{
    dal_metrics *m = data;
    const char *name = dal_backend(db);
    shard *s;

    s = dal__calloc(1, sizeof *s);
    if (!s)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    s->db = db;
    dal_stmt_cache_stats(db, &s->cache_base[0], &s->cache_base[1],
                         &s->cache_base[2]);
    pthread_mutex_lock(&m->mu);
    s->be = backend_totals(m, name ? name : "unknown");
    if (s->be) {
        s->be->attached++;
        s->next = m->shards;
        if (m->shards)
            m->shards->prev = s;
        m->shards = s;
        m->nshards++;
    }
    pthread_mutex_unlock(&m->mu);
    if (!s->be) {
        dal__free(s);
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    }
    *conn_state = s;
    return DAL_OK;
}

static void metrics_detach(dal_db *db, void *data, void *conn_state)
{
    dal_metrics *m = data;
    shard *s = conn_state;

    (void)db;
    if (!s)
        return;
    pthread_mutex_lock(&m->mu);
    totals_add_shard(s->be, s);
    s->be->attached--;
    if (s->prev)
        s->prev->next = s->next;
    else
        m->shards = s->next;
    if (s->next)
        s->next->prev = s->prev;
    m->nshards--;
    pthread_mutex_unlock(&m->mu);
    dal__free(s);
}

/* Count an error of the SQLSTATE class of sqlstate in s. */
static void shard_error(shard *s, const char *sqlstate)
{
    char cls[3] = "??";
    int i, n = atomic_load_explicit(&s->nclass, memory_order_relaxed);

    if (sqlstate && sqlstate[0] && sqlstate[1]) {
        cls[0] = sqlstate[0];
        cls[1] = sqlstate[1];
    }
    for (i = 0; i < n; i++)
        if (s->cls[i][0] == cls[0] && s->cls[i][1] == cls[1]) {
            dal__count(&s->c[I_CLASS + i], 1);
            return;
        }
    if (n == NCLASS) {
        dal__count(&s->c[I_CLASS_OTHER], 1);
        return;
    }
    memcpy(s->cls[n], cls, 3);
    put(&s->c[I_CLASS + n], 1);
    atomic_store_explicit(&s->nclass, n + 1, memory_order_release);
}

static void shard_after(shard *s, const dal_event *ev)
{
    int kind = (int)ev->stmt_kind, out, b;

    if (kind < 0 || kind >= NKIND)
        kind = DAL_SK_OTHER;
    if (ev->rc == DAL_OK)
        out = 0;
    else if (ev->rc == DAL_E_REFUSED || ev->rc == DAL_E_RATE_LIMITED)
        out = 2;
    else
        out = 1;
    dal__count(&s->c[I_STMT + kind * NOUT + out], 1);
    if (ev->rows > 0)
        dal__count(&s->c[I_ROWS + kind], (uint64_t)ev->rows);
    if (out != 2) {
        int64_t d = ev->duration_ns > 0 ? ev->duration_ns : 0;

        for (b = 0; b < NBUCKET && d > bucket_ns[b]; b++)
            ;
        dal__count(&s->c[I_BUCKET + b], 1);
        dal__count(&s->c[I_DUR_NS], (uint64_t)d);
    }
    if (out == 1)
        shard_error(s, dal_sqlstate(ev->db));
}

static int metrics_hook(const dal_event *ev, void *data)
{
    shard *s = ev->state;

    (void)data;
    if (!s)
        return DAL_OK;
    switch (ev->kind) {
    case DAL_EV_AFTER:
        shard_after(s, ev);
        break;
    case DAL_EV_CONNECT:
        dal__count(&s->c[I_CONN + (ev->rc == DAL_OK ? 0 : 1)], 1);
        break;
    case DAL_EV_DISCONNECT:
        dal__count(&s->c[I_CONN + 2], 1);
        break;
    case DAL_EV_COMMIT:
        if (ev->tx_depth == 1)
            dal__count(&s->c[I_TX + (ev->rc == DAL_OK ? 0 : 2)], 1);
        else if (ev->rc == DAL_OK)
            dal__count(&s->c[I_SP + 0], 1);
        break;
    case DAL_EV_ROLLBACK:
        dal__count(&s->c[ev->tx_depth == 1 ? I_TX + 1 : I_SP + 1], 1);
        break;
    default:
        break;
    }
    return DAL_OK;
}

int dal_metrics_observe(dal_metrics *m, dal_observer *obs)
{
    dal_hook h;

    if (!m || !obs)
        return DAL_E_MISUSE;
    memset(&h, 0, sizeof h);
    h.events = DAL_EVENT_BIT(DAL_EV_AFTER) | DAL_EVENTS_CONNECTION
               | DAL_EVENT_BIT(DAL_EV_COMMIT)
               | DAL_EVENT_BIT(DAL_EV_ROLLBACK);
    h.fn = metrics_hook;
    h.data = m;
    h.attach = metrics_attach;
    h.detach = metrics_detach;
    return dal_observer_add(obs, &h);
}

/* ---- Prometheus text format ------------------------------------------ */

/* Copy the totals of every backend, live shards added (m->mu held). */
static int snapshot(dal_metrics *m, totals **out)
{
    totals *t;
    shard *s;
    int i;

    *out = NULL;
    if (m->nbe == 0)
        return DAL_OK;
    t = dal__malloc((size_t)m->nbe * sizeof *t);
    if (!t)
        return DAL_NOMEM;
    for (i = 0; i < m->nbe; i++)
        t[i] = *m->be[i];
    for (s = m->shards; s; s = s->next)
        totals_add_shard(&t[s->be->index], s);
    *out = t;
    return DAL_OK;
}

static int addf(dal__buf *b, const char *fmt, ...) DAL__PRINTF(2, 3);

static int addf(dal__buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || dal__buf_reserve(b, (size_t)n) != DAL_OK)
        return DAL_NOMEM;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return DAL_OK;
}

/* A label value, escaped as the format wants: \\, \" and \n. */
static int add_value(dal__buf *b, const char *v)
{
    int rc = DAL_OK;

    for (; *v && rc == DAL_OK; v++) {
        if (*v == '\\')
            rc = dal__buf_adds(b, "\\\\");
        else if (*v == '"')
            rc = dal__buf_adds(b, "\\\"");
        else if (*v == '\n')
            rc = dal__buf_adds(b, "\\n");
        else
            rc = dal__buf_addc(b, *v);
    }
    return rc;
}

static int family(dal__buf *b, const char *name, const char *type,
                  const char *help)
{
    return addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{backend="...",label="value"} n (label may be NULL). */
static int sample(dal__buf *b, const char *name, const totals *t,
                  const char *label, const char *value, const char *label2,
                  const char *value2, uint64_t n)
{
    int rc = addf(b, "%s{backend=\"", name);

    if (rc == DAL_OK)
        rc = add_value(b, t->backend);
    if (rc == DAL_OK && label) {
        rc = addf(b, "\",%s=\"", label);
        if (rc == DAL_OK)
            rc = add_value(b, value);
    }
    if (rc == DAL_OK && label2) {
        rc = addf(b, "\",%s=\"", label2);
        if (rc == DAL_OK)
            rc = add_value(b, value2);
    }
    if (rc == DAL_OK)
        rc = addf(b, "\"} %" PRIu64 "\n", n);
    return rc;
}

#define HIST "dal_statement_duration_seconds"

static int write_histogram(dal__buf *b, const totals *t)
{
    uint64_t cum = 0, ns = t->c[I_DUR_NS];
    int i, rc = DAL_OK;

    for (i = 0; i < NBUCKET && rc == DAL_OK; i++) {
        cum += t->c[I_BUCKET + i];
        rc = sample(b, HIST "_bucket", t, "le", bucket_le[i], NULL, NULL,
                    cum);
    }
    cum += t->c[I_BUCKET + NBUCKET];
    if (rc == DAL_OK)
        rc = sample(b, HIST "_bucket", t, "le", "+Inf", NULL, NULL, cum);
    if (rc == DAL_OK)
        rc = addf(b, HIST "_sum{backend=\"");
    if (rc == DAL_OK)
        rc = add_value(b, t->backend);
    if (rc == DAL_OK)
        rc = addf(b, "\"} %" PRIu64 ".%09" PRIu64 "\n", ns / 1000000000u,
                  ns % 1000000000u);
    if (rc == DAL_OK)
        rc = sample(b, HIST "_count", t, NULL, NULL, NULL, NULL, cum);
    return rc;
}

static int write_text(dal__buf *b, const totals *t, int nbe)
{
    static const char *const tx_name[] = {
        "committed", "rolled_back", "commit_failed"};
    static const char *const sp_name[] = {"released", "rolled_back"};
    static const char *const conn_name[] = {"opened", "failed", "closed"};
    static const struct { const char *name, *help; } cache[] = {
        {"dal_statement_cache_hits_total",
         "Statement cache lookups that found a prepared statement."},
        {"dal_statement_cache_misses_total",
         "Statement cache lookups that prepared a statement."},
        {"dal_statement_cache_evictions_total",
         "Prepared statements evicted from the statement cache."},
    };
    int i, k, o, rc;

#define TRY(x) do { if ((rc = (x)) != DAL_OK) return rc; } while (0)
    TRY(family(b, "dal_statements_total", "counter",
               "Statements run, by kind and outcome."));
    for (i = 0; i < nbe; i++)
        for (k = 0; k < NKIND; k++)
            for (o = 0; o < NOUT; o++)
                if (t[i].c[I_STMT + k * NOUT + o])
                    TRY(sample(b, "dal_statements_total", &t[i], "kind",
                               dal_stmt_kind_name((dal_stmt_kind)k),
                               "outcome", outcome_name[o],
                               t[i].c[I_STMT + k * NOUT + o]));
    TRY(family(b, "dal_statement_duration_seconds", "histogram",
               "Statement duration in seconds (refused ones aside)."));
    for (i = 0; i < nbe; i++)
        TRY(write_histogram(b, &t[i]));
    TRY(family(b, "dal_rows_total", "counter",
               "Rows returned or changed by statements, by kind."));
    for (i = 0; i < nbe; i++)
        for (k = 0; k < NKIND; k++)
            if (t[i].c[I_ROWS + k])
                TRY(sample(b, "dal_rows_total", &t[i], "kind",
                           dal_stmt_kind_name((dal_stmt_kind)k), NULL,
                           NULL, t[i].c[I_ROWS + k]));
    TRY(family(b, "dal_errors_total", "counter",
               "Statements that failed, by SQLSTATE class."));
    for (i = 0; i < nbe; i++) {
        for (k = 0; k < t[i].nclass; k++)
            TRY(sample(b, "dal_errors_total", &t[i], "class",
                       t[i].cls[k], NULL, NULL, t[i].c[I_CLASS + k]));
        if (t[i].c[I_CLASS_OTHER])
            TRY(sample(b, "dal_errors_total", &t[i], "class", "other",
                       NULL, NULL, t[i].c[I_CLASS_OTHER]));
    }
    TRY(family(b, "dal_transactions_total", "counter",
               "Transactions ended by dal_commit() or dal_rollback()."));
    for (i = 0; i < nbe; i++)
        for (k = 0; k < 3; k++)
            TRY(sample(b, "dal_transactions_total", &t[i], "outcome",
                       tx_name[k], NULL, NULL, t[i].c[I_TX + k]));
    TRY(family(b, "dal_savepoints_total", "counter",
               "Nested transaction levels (savepoints) ended."));
    for (i = 0; i < nbe; i++)
        for (k = 0; k < 2; k++)
            TRY(sample(b, "dal_savepoints_total", &t[i], "outcome",
                       sp_name[k], NULL, NULL, t[i].c[I_SP + k]));
    TRY(family(b, "dal_connections_total", "counter",
               "Connections opened, failed to open, and closed."));
    for (i = 0; i < nbe; i++)
        for (k = 0; k < 3; k++)
            TRY(sample(b, "dal_connections_total", &t[i], "event",
                       conn_name[k], NULL, NULL, t[i].c[I_CONN + k]));
    TRY(family(b, "dal_connections_attached", "gauge",
               "Connections feeding these metrics now."));
    for (i = 0; i < nbe; i++)
        TRY(sample(b, "dal_connections_attached", &t[i], NULL, NULL, NULL,
                   NULL, (uint64_t)t[i].attached));
    for (k = 0; k < 3; k++) {
        TRY(family(b, cache[k].name, "counter", cache[k].help));
        for (i = 0; i < nbe; i++)
            TRY(sample(b, cache[k].name, &t[i], NULL, NULL, NULL, NULL,
                       t[i].c[I_CACHE + k]));
    }
#undef TRY
    return DAL_OK;
}

int dal_metrics_add_rcache(dal_metrics *m, dal_rcache *cache,
                           const char *name)
{
    watched_rcache *grown;
    char *copy;
    int i;

    if (!m || !cache || !name || !*name)
        return DAL_E_MISUSE;
    for (i = 0; i < m->nrc; i++)
        if (m->rc[i].cache == cache || !strcmp(m->rc[i].name, name))
            return DAL_E_MISUSE;
    if (!(copy = dal__strdup(name)))
        return DAL_NOMEM;
    grown = dal__realloc(m->rc, (size_t)(m->nrc + 1) * sizeof *grown);
    if (!grown) {
        dal__free(copy);
        return DAL_NOMEM;
    }
    m->rc = grown;
    m->rc[m->nrc].cache = cache;
    m->rc[m->nrc].name = copy;
    m->nrc++;
    return DAL_OK;
}

/* The result caches' families: each read once, then written. */
static int write_rcaches(dal__buf *b, const dal_metrics *m)
{
    static const struct { const char *name, *type, *help; } fam[] = {
        {"dal_result_cache_hits_total", "counter",
         "Result cache lookups that found a live entry."},
        {"dal_result_cache_misses_total", "counter",
         "Result cache lookups that ran the query."},
        {"dal_result_cache_invalidations_total", "counter",
         "Result cache entries dropped by writes to their tables."},
        {"dal_result_cache_evictions_total", "counter",
         "Result cache entries dropped to stay within the memory bound."},
        {"dal_result_cache_expirations_total", "counter",
         "Result cache entries found past their TTL."},
        {"dal_result_cache_entries", "gauge",
         "Entries in the result cache now."},
        {"dal_result_cache_bytes", "gauge",
         "Bytes the result cache holds now."},
    };
    dal_rcache_counters *c;
    int i, k, rc = DAL_OK;

    if (m->nrc == 0)
        return DAL_OK;
    c = dal__calloc((size_t)m->nrc, sizeof *c);
    if (!c)
        return DAL_NOMEM;
    for (i = 0; i < m->nrc; i++)
        dal_rcache_stats(m->rc[i].cache, &c[i]);
    for (k = 0; k < 7 && rc == DAL_OK; k++) {
        rc = family(b, fam[k].name, fam[k].type, fam[k].help);
        for (i = 0; i < m->nrc && rc == DAL_OK; i++) {
            const uint64_t v[7] = {c[i].hits, c[i].misses,
                                   c[i].invalidations, c[i].evictions,
                                   c[i].expirations, c[i].entries,
                                   c[i].bytes};

            rc = addf(b, "%s{cache=\"", fam[k].name);
            if (rc == DAL_OK)
                rc = add_value(b, m->rc[i].name);
            if (rc == DAL_OK)
                rc = addf(b, "\"} %" PRIu64 "\n", v[k]);
        }
    }
    dal__free(c);
    return rc;
}

int dal_metrics_add_pool(dal_metrics *m, dal_pool *pool, const char *name)
{
    watched_pool *grown;
    char *copy;
    int i;

    if (!m || !pool || !name || !*name)
        return DAL_E_MISUSE;
    for (i = 0; i < m->npools; i++)
        if (m->pools[i].pool == pool || !strcmp(m->pools[i].name, name))
            return DAL_E_MISUSE;
    if (!(copy = dal__strdup(name)))
        return DAL_NOMEM;
    grown = dal__realloc(m->pools, (size_t)(m->npools + 1) * sizeof *grown);
    if (!grown) {
        dal__free(copy);
        return DAL_NOMEM;
    }
    m->pools = grown;
    m->pools[m->npools].pool = pool;
    m->pools[m->npools].name = copy;
    m->npools++;
    return DAL_OK;
}

/* One sample of a pool family: name{pool="...",label="value"} v, where
 * v is written by the format (an integer, or seconds with a fraction). */
static int pool_sample(dal__buf *b, const char *name, const char *pool,
                       const char *label, const char *value, int64_t v,
                       int seconds)
{
    int rc = addf(b, "%s{pool=\"", name);

    if (rc == DAL_OK)
        rc = add_value(b, pool);
    if (rc == DAL_OK && label)
        rc = addf(b, "\",%s=\"%s", label, value);
    if (rc == DAL_OK && seconds)
        rc = addf(b, "\"} %" PRId64 ".%09" PRId64 "\n", v / 1000000000,
                  v % 1000000000);
    else if (rc == DAL_OK)
        rc = addf(b, "\"} %" PRId64 "\n", v);
    return rc;
}

/* The pools' families: each pool read once, then written. */
static int write_pools(dal__buf *b, const dal_metrics *m)
{
    static const char *const ev[] = {"created", "destroyed", "failed"};
    dal_pool_counters *c;
    int i, k, rc = DAL_OK;

    if (m->npools == 0)
        return DAL_OK;
    c = dal__calloc((size_t)m->npools, sizeof *c);
    if (!c)
        return DAL_NOMEM;
    for (i = 0; i < m->npools; i++)
        dal_pool_stats(m->pools[i].pool, &c[i]);
#define TRY(x) do { if (rc == DAL_OK) rc = (x); } while (0)
    TRY(family(b, "dal_pool_connections", "gauge",
               "Pooled connections open now, by state."));
    for (i = 0; i < m->npools; i++) {
        TRY(pool_sample(b, "dal_pool_connections", m->pools[i].name,
                        "state", "idle", c[i].idle, 0));
        TRY(pool_sample(b, "dal_pool_connections", m->pools[i].name,
                        "state", "in_use", c[i].in_use, 0));
    }
    TRY(family(b, "dal_pool_size", "gauge",
               "Pooled connections open now (idle and in use)."));
    for (i = 0; i < m->npools; i++)
        TRY(pool_sample(b, "dal_pool_size", m->pools[i].name, NULL, NULL,
                        c[i].total, 0));
    TRY(family(b, "dal_pool_waiting", "gauge",
               "Callers waiting for a pooled connection now."));
    for (i = 0; i < m->npools; i++)
        TRY(pool_sample(b, "dal_pool_waiting", m->pools[i].name, NULL,
                        NULL, c[i].waiting, 0));
    TRY(family(b, "dal_pool_acquire_timeouts_total", "counter",
               "Checkouts that gave up waiting (DAL_E_POOL_TIMEOUT)."));
    for (i = 0; i < m->npools; i++)
        TRY(pool_sample(b, "dal_pool_acquire_timeouts_total",
                        m->pools[i].name, NULL, NULL,
                        (int64_t)c[i].acquire_timeouts, 0));
    TRY(family(b, "dal_pool_acquire_wait_seconds", "summary",
               "Time spent getting a pooled connection, per checkout."));
    for (i = 0; i < m->npools; i++) {
        TRY(pool_sample(b, "dal_pool_acquire_wait_seconds_sum",
                        m->pools[i].name, NULL, NULL,
                        c[i].acquire_wait_ns, 1));
        TRY(pool_sample(b, "dal_pool_acquire_wait_seconds_count",
                        m->pools[i].name, NULL, NULL,
                        (int64_t)c[i].acquires, 0));
    }
    TRY(family(b, "dal_pool_connection_events_total", "counter",
               "Pooled connections created, destroyed, and failed to "
               "open."));
    for (i = 0; i < m->npools; i++)
        for (k = 0; k < 3; k++) {
            const uint64_t v[3] = {c[i].created, c[i].destroyed,
                                   c[i].failed};

            TRY(pool_sample(b, "dal_pool_connection_events_total",
                            m->pools[i].name, "event", ev[k],
                            (int64_t)v[k], 0));
        }
#undef TRY
    dal__free(c);
    return rc;
}

int dal_metrics_write_prometheus(dal_metrics *m, char **textp,
                                 size_t *lenp)
{
    dal__buf b = {0};
    totals *t;
    int nbe, rc;

    if (textp)
        *textp = NULL;
    if (lenp)
        *lenp = 0;
    if (!m || !textp)
        return DAL_E_MISUSE;
    pthread_mutex_lock(&m->mu);
    rc = snapshot(m, &t);
    nbe = m->nbe;
    pthread_mutex_unlock(&m->mu);
    if (rc != DAL_OK)
        return rc;
    rc = dal__buf_reserve(&b, 4096);
    if (rc == DAL_OK)
        rc = write_text(&b, t, nbe);
    dal__free(t);
    if (rc == DAL_OK)
        rc = write_rcaches(&b, m);
    if (rc == DAL_OK)
        rc = write_pools(&b, m);
    if (rc != DAL_OK) {
        dal__buf_free(&b);
        return rc;
    }
    *textp = b.p;
    if (lenp)
        *lenp = b.len;
    return DAL_OK;
}
