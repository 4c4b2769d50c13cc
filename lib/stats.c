/*
 * stats.c - statement statistics: per normalized SQL text and backend,
 * calls, errors, rows, total / max time and a log-bucketed histogram of
 * durations for the p99, like pg_stat_statements but in the client.
 *
 * The table is shared by every connection that feeds it and is locked
 * once per statement, after the statement has run. The normalization
 * that makes its key runs before the lock, in a buffer that each
 * connection keeps (its hook's attach state), so that the lock covers a
 * hash lookup and a few additions only.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dal-int.h"
#include "dal/metrics.h"

/*
 * Durations below NSUB ns have a bucket each; above, every power of two
 * is cut into NSUB equal buckets, so that a bucket's upper bound is at
 * most 1/NSUB (12.5%) above any duration in it. NOCT octaves reach
 * 2^(NOCT+2) ns (about 73 minutes); longer ones share the last bucket.
 */
#define NSUB 8
#define NOCT 41
#define NHB (NSUB + NOCT * NSUB)

typedef struct entry {
    struct entry *hash_next;
    uint32_t hash;
    const char *backend; /* the driver's static name */
    uint64_t calls, errors, rows;
    int64_t total_ns, max_ns;
    /* Counts per bucket. When one would overflow, all are halved: the
     * shape, and so the percentile, stays. */
    uint32_t hist[NHB];
    size_t qlen;
    char query[]; /* normalized text, NUL-terminated */
} entry;

struct dal_stats {
    pthread_mutex_t mu;
    int max;
    int n;
    int attached; /* connections feeding it */
    size_t nbuckets; /* a power of two */
    entry **buckets;
    uint64_t evictions;
};

/* What each connection keeps: the buffer it normalizes into. */
typedef struct conn_state {
    dal__buf buf;
} conn_state;

/* ---- normalization ---------------------------------------------------- */

static int is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static int is_word_start(unsigned char c)
{
    return is_word(c) && !(c >= '0' && c <= '9');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Past a quoted run that starts at p (on the quote q): a doubled quote
 * is part of it, and so is a backslash escape when bs is set. */
static const char *skip_quoted(const char *p, char q, int bs)
{
    for (p++; *p; p++) {
        if (bs && *p == '\\' && p[1])
            p++;
        else if (*p == q) {
            if (p[1] != q)
                return p + 1;
            p++;
        }
    }
    return p;
}

/* The length of a $tag$ (or $$) opening at p, or 0. */
static size_t dollar_tag(const char *p)
{
    size_t n = 1;

    if (p[n] != '$' && !is_word_start((unsigned char)p[n]))
        return 0;
    while (p[n] != '$') {
        if (!is_word((unsigned char)p[n]))
            return 0;
        n++;
    }
    return n + 1;
}

/* A number at p: digits, a fraction, an exponent, or 0x hex digits. */
static const char *skip_number(const char *p)
{
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        p += 2;
        while (is_word((unsigned char)*p))
            p++;
        return p;
    }
    while (is_digit((unsigned char)*p) || *p == '.' || *p == '_')
        p++;
    if ((*p == 'e' || *p == 'E')
        && (is_digit((unsigned char)p[1])
            || ((p[1] == '+' || p[1] == '-')
                && is_digit((unsigned char)p[2])))) {
        p += 2;
        while (is_digit((unsigned char)*p))
            p++;
    }
    return p;
}

/* Write the normalized form of sql into b (see dal_stats_normalize()). */
static int normalize(dal__buf *b, const char *sql)
{
    const char *p = sql, *q;
    int space = 0, rc = DAL_OK;

    b->len = 0;
    if (dal__buf_reserve(b, strlen(sql)) != DAL_OK)
        return DAL_NOMEM;
    b->p[0] = '\0';
    while (*p && rc == DAL_OK) {
        unsigned char c = (unsigned char)*p;

        /* Control bytes count as space: a compiled query's text reaches
         * the hooks behind a \1 byte (its statement-cache key). */
        if (c == ' ' || c < 0x20 || c == 0x7f) {
            space = 1;
            p++;
            continue;
        }
        if (c == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
            space = 1;
            continue;
        }
        if (c == '/' && p[1] == '*') {
            q = strstr(p + 2, "*/");
            p = q ? q + 2 : p + strlen(p);
            space = 1;
            continue;
        }
        if (space && b->len > 0)
            rc = dal__buf_addc(b, ' ');
        space = 0;
        if (rc != DAL_OK)
            break;
        if (c == '\'') {
            /* E'...' takes backslash escapes; its E stays. */
            int bs = p > sql && (p[-1] == 'E' || p[-1] == 'e')
                     && (p - 1 == sql || !is_word((unsigned char)p[-2]));

            p = skip_quoted(p, '\'', bs);
            rc = dal__buf_addc(b, '?');
        } else if (c == '"' || c == '`') {
            q = skip_quoted(p, (char)c, 0);
            rc = dal__buf_add(b, p, (size_t)(q - p));
            p = q;
        } else if (c == '$' && is_digit((unsigned char)p[1])) {
            for (p++; is_digit((unsigned char)*p); p++)
                ;
            rc = dal__buf_addc(b, '?');
        } else if (c == '$' && dollar_tag(p) > 0) {
            size_t n = dollar_tag(p);
            const char *end = p + n;

            /* The body ends at the same tag. */
            while (*end && strncmp(end, p, n) != 0)
                end++;
            p = *end ? end + n : end;
            rc = dal__buf_addc(b, '?');
        } else if (c == '?') {
            for (p++; is_digit((unsigned char)*p); p++)
                ;
            rc = dal__buf_addc(b, '?');
        } else if (c == ':' && p[1] == ':') {
            rc = dal__buf_add(b, p, 2);
            p += 2;
        } else if ((c == ':' || c == '@')
                   && is_word_start((unsigned char)p[1])) {
            for (p++; is_word((unsigned char)*p); p++)
                ;
            rc = dal__buf_addc(b, '?');
        } else if (is_digit(c) || (c == '.' && is_digit((unsigned char)p[1])))
        {
            p = skip_number(p);
            rc = dal__buf_addc(b, '?');
        } else if (is_word(c)) {
            /* Identifiers and keywords, digits and $ inside included. */
            for (q = p; is_word((unsigned char)*q) || *q == '$'; q++)
                ;
            rc = dal__buf_add(b, p, (size_t)(q - p));
            p = q;
        } else {
            rc = dal__buf_addc(b, (char)c);
            p++;
        }
    }
    if (rc != DAL_OK)
        return rc;
    while (b->len > 0 && (b->p[b->len - 1] == ';' || b->p[b->len - 1] == ' '))
        b->len--;
    b->p[b->len] = '\0';
    return DAL_OK;
}

int dal_stats_normalize(const char *sql, char **out)
{
    dal__buf b = {0};
    int rc;

    if (out)
        *out = NULL;
    if (!sql || !out)
        return DAL_E_MISUSE;
    rc = normalize(&b, sql);
    if (rc != DAL_OK) {
        dal__buf_free(&b);
        return rc;
    }
    *out = b.p;
    return DAL_OK;
}

/* ---- the table -------------------------------------------------------- */

static uint32_t hash_text(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int bucket_of(int64_t ns)
{
    int e = 0;
    uint64_t v;

    if (ns < NSUB)
        return ns < 0 ? 0 : (int)ns;
    for (v = (uint64_t)ns; v > 1; v >>= 1)
        e++;
    /* e >= 3: the top four bits give the sub-bucket. */
    if (e - 2 > NOCT)
        return NHB - 1;
    return (e - 2) * NSUB + (int)(((uint64_t)ns >> (e - 3)) & (NSUB - 1));
}

/* The largest duration bucket i holds. */
static int64_t bucket_upper(int i)
{
    int e, sub;

    if (i < NSUB)
        return i;
    e = i / NSUB + 2;
    sub = i % NSUB;
    return ((int64_t)(NSUB + sub) << (e - 3)) + ((int64_t)1 << (e - 3)) - 1;
}

static int64_t entry_p99(const entry *e)
{
    uint64_t total = 0, rank, cum = 0;
    int i;

    for (i = 0; i < NHB; i++)
        total += e->hist[i];
    if (total == 0)
        return 0;
    rank = total - total / 100; /* ceil(0.99 * total) */
    for (i = 0; i < NHB; i++) {
        cum += e->hist[i];
        if (cum >= rank)
            break;
    }
    if (i == NHB)
        i = NHB - 1;
    return bucket_upper(i) < e->max_ns ? bucket_upper(i) : e->max_ns;
}

int dal_stats_new(int max_entries, dal_stats **out)
{
    dal_stats *s;
    size_t n = 16;

    if (!out)
        return DAL_E_MISUSE;
    *out = NULL;
    if (max_entries < 0)
        return DAL_E_MISUSE;
    if (max_entries == 0)
        max_entries = DAL_STATS_DEFAULT_MAX;
    while (n < (size_t)max_entries * 2)
        n *= 2;
    s = dal__calloc(1, sizeof *s);
    if (!s)
        return DAL_NOMEM;
    s->buckets = dal__calloc(n, sizeof *s->buckets);
    if (!s->buckets || pthread_mutex_init(&s->mu, NULL) != 0) {
        dal__free(s->buckets);
        dal__free(s);
        return DAL_NOMEM;
    }
    s->nbuckets = n;
    s->max = max_entries;
    *out = s;
    return DAL_OK;
}

/* Free every entry (s->mu held, or s private). */
static void clear(dal_stats *s)
{
    entry *e, *next;
    size_t i;

    for (i = 0; i < s->nbuckets; i++) {
        for (e = s->buckets[i]; e; e = next) {
            next = e->hash_next;
            dal__free(e);
        }
        s->buckets[i] = NULL;
    }
    s->n = 0;
}

int dal_stats_free(dal_stats *s)
{
    int live;

    if (!s)
        return DAL_OK;
    pthread_mutex_lock(&s->mu);
    live = s->attached;
    pthread_mutex_unlock(&s->mu);
    if (live > 0)
        return DAL_E_MISUSE;
    clear(s);
    dal__free(s->buckets);
    pthread_mutex_destroy(&s->mu);
    dal__free(s);
    return DAL_OK;
}

int dal_stats_reset(dal_stats *s)
{
    if (!s)
        return DAL_E_MISUSE;
    pthread_mutex_lock(&s->mu);
    clear(s);
    pthread_mutex_unlock(&s->mu);
    return DAL_OK;
}

uint64_t dal_stats_evictions(dal_stats *s)
{
    uint64_t n;

    if (!s)
        return 0;
    pthread_mutex_lock(&s->mu);
    n = s->evictions;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Drop the entry with the fewest calls (s->mu held). */
static void evict_one(dal_stats *s)
{
    entry **victim = NULL, **pp;
    size_t i;

    for (i = 0; i < s->nbuckets; i++)
        for (pp = &s->buckets[i]; *pp; pp = &(*pp)->hash_next)
            if (!victim || (*pp)->calls < (*victim)->calls)
                victim = pp;
    if (victim) {
        entry *e = *victim;

        *victim = e->hash_next;
        dal__free(e);
        s->n--;
        s->evictions++;
    }
}

/* Count one execution of text (len n) on backend (s->mu held). */
static void record(dal_stats *s, const char *backend, const char *text,
                   size_t n, const dal_event *ev)
{
    uint32_t h = hash_text(text, n);
    entry *e, **head = &s->buckets[h & (s->nbuckets - 1)];
    int64_t d = ev->duration_ns > 0 ? ev->duration_ns : 0;
    int b, i;

    for (e = *head; e; e = e->hash_next)
        if (e->hash == h && e->backend == backend && e->qlen == n
            && !memcmp(e->query, text, n))
            break;
    if (!e) {
        e = dal__calloc(1, sizeof *e + n + 1);
        /* Out of memory: this execution goes uncounted, nothing else
         * changes (an AFTER hook has no one to report to). */
        if (!e)
            return;
        if (s->n >= s->max)
            evict_one(s);
        e->hash = h;
        e->backend = backend;
        e->qlen = n;
        memcpy(e->query, text, n + 1);
        e->hash_next = *head;
        *head = e;
        s->n++;
    }
    e->calls++;
    if (ev->rc != DAL_OK)
        e->errors++;
    if (ev->rows > 0)
        e->rows += (uint64_t)ev->rows;
    e->total_ns += d;
    if (d > e->max_ns)
        e->max_ns = d;
    b = bucket_of(d);
    if (e->hist[b] == UINT32_MAX)
        for (i = 0; i < NHB; i++)
            e->hist[i] /= 2;
    e->hist[b]++;
}

static int stats_hook(const dal_event *ev, void *data)
{
    dal_stats *s = data;
    conn_state *cs = ev->state;

    if (!cs || !ev->sql || ev->rc == DAL_E_REFUSED
        || ev->rc == DAL_E_RATE_LIMITED)
        return DAL_OK;
    if (normalize(&cs->buf, ev->sql) != DAL_OK)
        return DAL_OK;
    pthread_mutex_lock(&s->mu);
    record(s, ev->backend, cs->buf.p, cs->buf.len, ev);
    pthread_mutex_unlock(&s->mu);
    return DAL_OK;
}

static int stats_attach(dal_db *db, void *data, void **state)
{
    dal_stats *s = data;
    conn_state *cs = dal__calloc(1, sizeof *cs);

    if (!cs)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    pthread_mutex_lock(&s->mu);
    s->attached++;
    pthread_mutex_unlock(&s->mu);
    *state = cs;
    return DAL_OK;
}

static void stats_detach(dal_db *db, void *data, void *state)
{
    dal_stats *s = data;
    conn_state *cs = state;

    (void)db;
    if (!cs)
        return;
    pthread_mutex_lock(&s->mu);
    s->attached--;
    pthread_mutex_unlock(&s->mu);
    dal__buf_free(&cs->buf);
    dal__free(cs);
}

int dal_stats_observe(dal_stats *s, dal_observer *obs)
{
    dal_hook h;

    if (!s || !obs)
        return DAL_E_MISUSE;
    memset(&h, 0, sizeof h);
    h.events = DAL_EVENT_BIT(DAL_EV_AFTER);
    h.fn = stats_hook;
    h.data = s;
    h.attach = stats_attach;
    h.detach = stats_detach;
    return dal_observer_add(obs, &h);
}

static int by_total(const void *a, const void *b)
{
    const dal_stat *x = a, *y = b;
    int c;

    if (x->total_ns != y->total_ns)
        return x->total_ns > y->total_ns ? -1 : 1;
    if (x->calls != y->calls)
        return x->calls > y->calls ? -1 : 1;
    c = strcmp(x->query, y->query);
    return c ? c : strcmp(x->backend, y->backend);
}

int dal_stats_snapshot(dal_stats *s, dal_stat **out, size_t *np)
{
    size_t i, k = 0, text = 0, n;
    dal_stat *arr;
    char *p;
    entry *e;

    if (out)
        *out = NULL;
    if (np)
        *np = 0;
    if (!s || !out || !np)
        return DAL_E_MISUSE;
    pthread_mutex_lock(&s->mu);
    n = (size_t)s->n;
    for (i = 0; i < s->nbuckets; i++)
        for (e = s->buckets[i]; e; e = e->hash_next)
            text += e->qlen + 1;
    if (n == 0) {
        pthread_mutex_unlock(&s->mu);
        return DAL_OK;
    }
    arr = dal__malloc(n * sizeof *arr + text);
    if (!arr) {
        pthread_mutex_unlock(&s->mu);
        return DAL_NOMEM;
    }
    p = (char *)(arr + n);
    for (i = 0; i < s->nbuckets; i++)
        for (e = s->buckets[i]; e; e = e->hash_next) {
            dal_stat *st = &arr[k++];

            memcpy(p, e->query, e->qlen + 1);
            st->query = p;
            p += e->qlen + 1;
            st->backend = e->backend;
            st->calls = e->calls;
            st->errors = e->errors;
            st->rows = e->rows;
            st->total_ns = e->total_ns;
            st->mean_ns = e->calls ? e->total_ns / (int64_t)e->calls : 0;
            st->max_ns = e->max_ns;
            st->p99_ns = entry_p99(e);
        }
    pthread_mutex_unlock(&s->mu);
    qsort(arr, n, sizeof *arr, by_total);
    *out = arr;
    *np = n;
    return DAL_OK;
}
