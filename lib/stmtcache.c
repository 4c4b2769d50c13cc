/*
 * stmtcache.c - the per-connection statement cache: an LRU of prepared
 * statements keyed by the caller's SQL text, so that dal_exec_params()
 * and dal_query_*() prepare a repeated statement once. On PostgreSQL
 * the entries are named server-side prepared statements.
 */
#include <string.h>

#include "dal-int.h"
#include "dal/metrics.h"

struct dal__stmtcache {
    int cap;
    int size;
    size_t nbuckets; /* a power of two */
    dal_stmt **buckets;
    dal_stmt *head; /* most recently used */
    dal_stmt *tail; /* least recently used, evicted first */
};

/* FNV-1a: short SQL keys, no adversary, cheap to compute. */
/* A hash of the SQL text taken eight bytes at a time: every cached run
 * hashes its whole text, and a byte-at-a-time hash was a tenth of a
 * point lookup's cost. */
static uint32_t hash_sql(const char *s)
{
    size_t n = strlen(s);
    uint64_t h = 0x9e3779b97f4a7c15u ^ n, w;

    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
    h ^= h >> 29;
    return (uint32_t)h;
}

/* Prepare a statement for the cache (or for one use when cached is 0). */
static int prepare_one(dal_db *db, const char *key, const dal__compiled *cq,
                       int cached, dal_stmt **stp)
{
    char **names = NULL;
    int i;

    if (!cq)
        return dal__stmt_new(db, key, cached, stp);
    if (cq->names) {
        names = dal__calloc((size_t)cq->nparams, sizeof *names);
        if (!names)
            return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                               NULL);
        for (i = 0; i < cq->nparams; i++)
            if (cq->names[i] && !(names[i] = dal__strdup(cq->names[i]))) {
                while (i-- > 0)
                    dal__free(names[i]);
                dal__free(names);
                return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL,
                                   NULL, NULL);
            }
    }
    return dal__stmt_new_translated(db, key, cq->sql, cq->len, cq->nparams,
                                    names, cached, stp);
}

int dal__cache_new(int capacity, dal__stmtcache **out)
{
    dal__stmtcache *c;
    size_t n = 16;

    *out = NULL;
    while (n < (size_t)capacity * 2)
        n *= 2;
    c = dal__calloc(1, sizeof *c);
    if (!c)
        return DAL_NOMEM;
    c->buckets = dal__calloc(n, sizeof *c->buckets);
    if (!c->buckets) {
        dal__free(c);
        return DAL_NOMEM;
    }
    c->cap = capacity;
    c->nbuckets = n;
    *out = c;
    return DAL_OK;
}

static void lru_unlink(dal__stmtcache *c, dal_stmt *st)
{
    if (st->lru_prev)
        st->lru_prev->lru_next = st->lru_next;
    else
        c->head = st->lru_next;
    if (st->lru_next)
        st->lru_next->lru_prev = st->lru_prev;
    else
        c->tail = st->lru_prev;
    st->lru_prev = st->lru_next = NULL;
}

static void lru_push_front(dal__stmtcache *c, dal_stmt *st)
{
    st->lru_prev = NULL;
    st->lru_next = c->head;
    if (c->head)
        c->head->lru_prev = st;
    c->head = st;
    if (!c->tail)
        c->tail = st;
}

/* Take st out of the hash chain and the LRU list. */
static void cache_remove(dal__stmtcache *c, dal_stmt *st)
{
    dal_stmt **pp = &c->buckets[st->hash & (c->nbuckets - 1)];

    while (*pp && *pp != st)
        pp = &(*pp)->hash_next;
    if (*pp)
        *pp = st->hash_next;
    st->hash_next = NULL;
    lru_unlink(c, st);
    c->size--;
}

void dal__cache_free(dal__stmtcache *c)
{
    dal_stmt *st, *next;

    if (!c)
        return;
    for (st = c->head; st; st = next) {
        next = st->lru_next;
        dal__stmt_free(st);
    }
    dal__free(c->buckets);
    dal__free(c);
}

/*
 * Look sql up; on a miss, make room and prepare it with the raw lexer
 * (compiled == NULL) or as the compiled query. Compiled queries are keyed
 * by their backend SQL behind a \1 byte, which no caller's text starts
 * with, so the two kinds never meet.
 */
static int cache_get(dal_db *db, const char *sql, const dal__compiled *cq,
                     dal_stmt **stp)
{
    dal__stmtcache *c = db->cache;
    dal_stmt *st;
    uint32_t h;
    int rc;

    *stp = NULL;
    /* A statement that carries a per-run comment (the tracer's
     * sqlcommenter option) is prepared for each run: a cached one would
     * have to be prepared anew each time anyway. */
    if (!c || DAL__UNLIKELY(db->sql_comment != NULL)
        || (cq && cq->one_run))
        return prepare_one(db, sql, cq, 0, stp);
    h = hash_sql(sql);
    for (st = c->buckets[h & (c->nbuckets - 1)]; st; st = st->hash_next)
        if (st->hash == h && !strcmp(st->sql, sql)) {
            if (c->head != st) {
                lru_unlink(c, st);
                lru_push_front(c, st);
            }
            dal__count(&db->cache_stat[0], 1);
            *stp = st;
            return DAL_OK;
        }
    /* Make room first: the new statement is the one about to be used. */
    dal__count(&db->cache_stat[1], 1);
    if (c->size >= c->cap && c->tail) {
        dal_stmt *old = c->tail;

        cache_remove(c, old);
        dal__stmt_free(old);
        dal__count(&db->cache_stat[2], 1);
    }
    rc = prepare_one(db, sql, cq, 1, &st);
    if (rc != DAL_OK)
        return rc;
    st->cached = 1;
    st->hash = h;
    st->hash_next = c->buckets[h & (c->nbuckets - 1)];
    c->buckets[h & (c->nbuckets - 1)] = st;
    lru_push_front(c, st);
    c->size++;
    *stp = st;
    return DAL_OK;
}

int dal__cache_get(dal_db *db, const char *sql, dal_stmt **stp)
{
    return cache_get(db, sql, NULL, stp);
}

int dal__cache_get_compiled(dal_db *db, const dal__compiled *cq,
                            dal_stmt **stp)
{
    char buf[512];
    char *key = cq->len + 2 <= sizeof buf ? buf : dal__malloc(cq->len + 2);
    int rc;

    if (!key)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    key[0] = '\1';
    memcpy(key + 1, cq->sql, cq->len + 1);
    rc = cache_get(db, key, cq, stp);
    if (key != buf)
        dal__free(key);
    return rc;
}

void dal__cache_drop(dal_db *db, dal_stmt *st)
{
    if (st->cached && db->cache)
        cache_remove(db->cache, st);
    dal__stmt_free(st);
}

void dal__cache_put(dal_db *db, dal_stmt *st)
{
    if (!st->cached) {
        dal__stmt_free(st);
        return;
    }
    /* Let go of the bound values (they may be large copies) and leave the
     * statement ready for its next use. */
    if (st->state != DAL__ST_READY) {
        db->drv->reset(st->impl);
        st->state = DAL__ST_READY;
        if (DAL__UNLIKELY(st->obs_running))
            dal__obs_end(st, DAL_OK);
    }
    if (st->nparams > 0) {
        db->drv->clear_bindings(st->impl);
        if (DAL__UNLIKELY(st->obs_params != NULL))
            dal__obs_capture_clear(st);
    }
}

int dal_stmt_cache_stats(const dal_db *db, uint64_t *hits, uint64_t *misses,
                         uint64_t *evictions)
{
    if (!db)
        return DAL_E_MISUSE;
    if (hits)
        *hits = atomic_load_explicit(&db->cache_stat[0],
                                     memory_order_relaxed);
    if (misses)
        *misses = atomic_load_explicit(&db->cache_stat[1],
                                       memory_order_relaxed);
    if (evictions)
        *evictions = atomic_load_explicit(&db->cache_stat[2],
                                          memory_order_relaxed);
    return DAL_OK;
}
