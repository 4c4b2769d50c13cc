/*
 * tests/metrics.c - the metrics registry, statement statistics and the
 * statement-cache counters (include/dal/metrics.h), on every backend:
 *   metrics[sqlite-mem]   sqlite::memory:
 *   metrics[sqlite-file]  sqlite:///tmp/... (a fresh file per test)
 *   metrics[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 *
 * Run:  tests/pg/with-pg.sh build/tests/metrics
 * CK_RUN_SUITE='metrics[postgres]' and CK_RUN_CASE=workload narrow a
 * run; CK_FORK=no runs in one process (for gdb and valgrind).
 *
 * A known workload is run with metrics, statement statistics and a
 * veto hook on one observer, and the values are read back from the
 * Prometheus text, parsed by a small parser that also checks the
 * format's rules (HELP and TYPE before a family's samples, names,
 * label syntax and escapes, histogram buckets). main() installs a
 * counting allocator (thread-safe: one test feeds the registry from
 * several threads); every test's teardown checks that libdal holds as
 * many blocks as before, and the nomem tests fail the N-th allocation.
 *
 * PostgreSQL tests share one database: every test uses tables of its
 * own (mt_<test>), dropped at its start.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dal.h>

enum backend { BE_SQLITE_MEM, BE_SQLITE_FILE, BE_POSTGRES };

static const char *pg_url;
static enum backend test_backend;
static char file_path[128];
static int file_seq;

/* ---- counting allocator ---------------------------------------------- */

static atomic_long live_blocks;
static long base_blocks;
static atomic_long fail_at;
static atomic_long fail_seq;
static atomic_int fail_hit;

static int inject_failure(void)
{
    if (atomic_load(&fail_at) <= 0
        || atomic_fetch_add(&fail_seq, 1) + 1 != atomic_load(&fail_at))
        return 0;
    atomic_store(&fail_hit, 1);
    return 1;
}

static void *c_malloc(size_t n)
{
    void *p;

    if (inject_failure())
        return NULL;
    p = malloc(n);
    if (p)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

static void *c_realloc(void *p, size_t n)
{
    void *q;

    if (inject_failure())
        return NULL;
    q = realloc(p, n);
    if (q && !p)
        atomic_fetch_add(&live_blocks, 1);
    return q;
}

static void c_free(void *p)
{
    if (p)
        atomic_fetch_sub(&live_blocks, 1);
    free(p);
}

static void nomem_arm(long n)
{
    atomic_store(&fail_seq, 0);
    atomic_store(&fail_hit, 0);
    atomic_store(&fail_at, n);
}

/* ---- fixture and helpers --------------------------------------------- */

static void remove_file(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    size_t i;

    if (!file_path[0])
        return;
    for (i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", file_path, suffix[i]);
        unlink(p);
    }
}

static void setup(void)
{
    file_path[0] = '\0';
    if (test_backend == BE_SQLITE_FILE) {
        snprintf(file_path, sizeof file_path, "/tmp/dal-metrics-%ld-%d.db",
                 (long)getpid(), ++file_seq);
        remove_file();
    }
    base_blocks = atomic_load(&live_blocks);
}

static void teardown(void)
{
    atomic_store(&fail_at, 0);
    remove_file();
    ck_assert_msg(atomic_load(&live_blocks) == base_blocks,
                  "libdal holds %ld blocks, %ld before the test",
                  atomic_load(&live_blocks), base_blocks);
}

/* The test URL with extra options opts ("" for none). */
static const char *url_with(const char *opts)
{
    static char buf[512];
    const char *base = test_backend == BE_SQLITE_MEM ? "sqlite::memory:"
                       : test_backend == BE_POSTGRES ? pg_url : NULL;
    char file_url[200];

    if (!base) {
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
        base = file_url;
    }
    snprintf(buf, sizeof buf, "%s%s%s", base,
             !opts[0] ? "" : strchr(base, '?') ? "&" : "?", opts);
    return buf;
}

static const char *backend_name(void)
{
    return test_backend == BE_POSTGRES ? "postgres" : "sqlite";
}

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

#define CK_DB(d, expr) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == DAL_OK, "%s -> %d (%s): [%s] %s", #expr, rc_, \
                  dal_errstr(rc_), S(dal_sqlstate(d)), S(dal_errmsg(d))); \
} while (0)

/* ---- Prometheus text: a checking parser ------------------------------ */

#define PMAX 512

typedef struct pfam {
    char name[128];
    char type[16];
    int help, typed, sampled, closed;
} pfam;

typedef struct pseries { /* one histogram's label set, le aside */
    char key[600];
    double le[64];
    double cnt[64];
    int n;
    int has_sum, has_count;
    double count;
} pseries;

typedef struct pcheck {
    pfam fam[64];
    int nfam;
    int cur; /* family of the last sample, -1 */
    pseries hs[16];
    int nhs;
    char seen[PMAX][600];
    int nseen;
} pcheck;

static int name_ok(const char *p, size_t n, int metric)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        char c = p[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                    || c == '_' || (metric && c == ':');

        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static pfam *pfam_get(pcheck *pc, const char *name, size_t n, int make)
{
    int i;

    for (i = 0; i < pc->nfam; i++)
        if (strlen(pc->fam[i].name) == n && !strncmp(pc->fam[i].name,
                                                       name, n))
            return &pc->fam[i];
    if (!make || pc->nfam == 64 || n >= sizeof pc->fam[0].name)
        return NULL;
    memset(&pc->fam[pc->nfam], 0, sizeof pc->fam[0]);
    memcpy(pc->fam[pc->nfam].name, name, n);
    return &pc->fam[pc->nfam++];
}

static int ends_with(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);

    return n > k && !strncmp(s + n - k, suf, k);
}

static int parse_value(const char *s, double *v)
{
    char *end;

    if (!strcmp(s, "+Inf")) {
        *v = INFINITY;
        return 1;
    }
    if (!strcmp(s, "-Inf")) {
        *v = -INFINITY;
        return 1;
    }
    if (!strcmp(s, "NaN")) {
        *v = NAN;
        return 1;
    }
    *v = strtod(s, &end);
    return end != s && *end == '\0';
}

static void failf(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void failf(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

#define FAIL(...) do { failf(why, whylen, __VA_ARGS__); return 0; } \
    while (0)

/* Check one sample line; 1 if good, else 0 with why. */
static int check_sample(pcheck *pc, const char *line, char *why,
                        size_t whylen)
{
    const char *p = line, *nm = line;
    char key[600] = "", lbl[600] = "", le[64] = "", val[64];
    char names[16][64];
    size_t nlen;
    int nnames = 0, i, fi;
    pfam *f;
    double v;

    while (*p && *p != '{' && *p != ' ')
        p++;
    nlen = (size_t)(p - nm);
    if (!name_ok(nm, nlen, 1))
        FAIL("bad metric name in: %s", line);
    if (*p == '{') {
        p++;
        while (*p != '}') {
            const char *ln = p;
            char lv[256];
            size_t k = 0;

            while (*p && *p != '=')
                p++;
            if (!*p || !name_ok(ln, (size_t)(p - ln), 0)
                || (size_t)(p - ln) >= 64)
                FAIL("bad label name in: %s", line);
            for (i = 0; i < nnames; i++)
                if (strlen(names[i]) == (size_t)(p - ln)
                    && !strncmp(names[i], ln, (size_t)(p - ln)))
                    FAIL("label repeated in: %s", line);
            if (nnames < 16) {
                memcpy(names[nnames], ln, (size_t)(p - ln));
                names[nnames++][p - ln] = '\0';
            }
            if (p[1] != '"')
                FAIL("label value not quoted in: %s", line);
            for (p += 2; *p && *p != '"'; p++) {
                if (*p == '\n')
                    FAIL("raw newline in a label value: %s", line);
                if (*p == '\\') {
                    if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                        FAIL("bad escape in: %s", line);
                    p++;
                }
                if (k + 1 < sizeof lv)
                    lv[k++] = *p;
            }
            lv[k] = '\0';
            if (*p != '"')
                FAIL("unterminated label value in: %s", line);
            p++;
            if (!strncmp(ln, "le=", 3))
                snprintf(le, sizeof le, "%.60s", lv);
            else
                snprintf(lbl + strlen(lbl), sizeof lbl - strlen(lbl),
                         "%.*s,", (int)(p - ln), ln);
            if (*p == ',')
                p++;
            else if (*p != '}')
                FAIL("expected , or } in: %s", line);
        }
        p++;
    }
    if (*p != ' ')
        FAIL("no space before the value in: %s", line);
    p++;
    snprintf(val, sizeof val, "%.*s", (int)strcspn(p, " "), p);
    if (!parse_value(val, &v))
        FAIL("bad value '%s' in: %s", val, line);
    p += strlen(val);
    if (*p == ' ') {
        char *end;

        strtoll(p + 1, &end, 10);
        if (end == p + 1 || *end)
            FAIL("bad timestamp in: %s", line);
    } else if (*p) {
        FAIL("junk after the value in: %s", line);
    }
    /* Its family: itself, or a histogram's _bucket / _sum / _count. */
    f = pfam_get(pc, nm, nlen, 0);
    if (!f || !f->typed) {
        static const char *const suf[] = {"_bucket", "_sum", "_count"};

        for (i = 0; i < 3 && !(f && f->typed); i++)
            if (ends_with(nm, nlen, suf[i]))
                f = pfam_get(pc, nm, nlen - strlen(suf[i]), 0);
        if (!f || !f->typed || strcmp(f->type, "histogram"))
            FAIL("sample before its TYPE line: %s", line);
    }
    if (!f->help)
        FAIL("sample before its HELP line: %s", line);
    fi = (int)(f - pc->fam);
    if (pc->cur != fi) {
        if (f->closed)
            FAIL("family %s continues after another one: %s", f->name,
                 line);
        if (pc->cur >= 0)
            pc->fam[pc->cur].closed = 1;
        pc->cur = fi;
    }
    f->sampled = 1;
    if (!strcmp(f->type, "counter")) {
        if (!ends_with(nm, nlen, "_total"))
            FAIL("counter without _total: %s", line);
        if (!(v >= 0))
            FAIL("negative counter: %s", line);
    }
    /* No sample twice. */
    if (snprintf(key, sizeof key, "%.*s{%s%s%s}", (int)nlen, nm, lbl,
                 le[0] ? "le=" : "", le) >= (int)sizeof key)
        FAIL("sample too long: %s", line);
    for (i = 0; i < pc->nseen; i++)
        if (!strcmp(pc->seen[i], key))
            FAIL("sample repeated: %s", line);
    if (pc->nseen < PMAX)
        strcpy(pc->seen[pc->nseen++], key);
    if (!strcmp(f->type, "histogram")) {
        pseries *h = NULL;

        if (snprintf(key, sizeof key, "%s{%s}", f->name, lbl)
            >= (int)sizeof key)
            FAIL("sample too long: %s", line);
        for (i = 0; i < pc->nhs; i++)
            if (!strcmp(pc->hs[i].key, key))
                h = &pc->hs[i];
        if (!h) {
            if (pc->nhs == 16)
                FAIL("too many histograms");
            h = &pc->hs[pc->nhs++];
            memset(h, 0, sizeof *h);
            strcpy(h->key, key);
        }
        if (ends_with(nm, nlen, "_bucket")) {
            double lev;

            if (!le[0] || !parse_value(le, &lev))
                FAIL("bucket without a numeric le: %s", line);
            if (h->n > 0 && !(lev > h->le[h->n - 1]))
                FAIL("le not increasing: %s", line);
            if (h->n > 0 && v < h->cnt[h->n - 1])
                FAIL("bucket counts decrease: %s", line);
            if (h->n == 64)
                FAIL("too many buckets");
            h->le[h->n] = lev;
            h->cnt[h->n++] = v;
        } else if (le[0]) {
            FAIL("le on a non-bucket sample: %s", line);
        } else if (ends_with(nm, nlen, "_sum")) {
            h->has_sum = 1;
        } else {
            h->has_count = 1;
            h->count = v;
        }
    }
    return 1;
}

/* Check text against the exposition format's rules: 1, or 0 and why. */
static int prom_check(const char *text, char *why, size_t whylen)
{
    static pcheck pc;
    const char *p = text;
    char line[1024];
    int i;

    memset(&pc, 0, sizeof pc);
    pc.cur = -1;
    if (text[0] && text[strlen(text) - 1] != '\n')
        FAIL("the text does not end with a newline");
    while (*p) {
        size_t n = strcspn(p, "\n");

        if (n >= sizeof line)
            FAIL("line too long");
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (p[n] == '\n');
        if (!line[0])
            continue;
        if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7)) {
            const char *nm = line + 7, *q;
            size_t nl = strcspn(nm, " ");
            pfam *f;

            if (!name_ok(nm, nl, 1) || nm[nl] != ' ')
                FAIL("bad name in: %s", line);
            f = pfam_get(&pc, nm, nl, 1);
            if (!f)
                FAIL("too many families");
            if (f->sampled)
                FAIL("HELP/TYPE after samples: %s", line);
            q = nm + nl + 1;
            if (line[2] == 'H') {
                if (f->help)
                    FAIL("second HELP: %s", line);
                for (; *q; q++)
                    if (*q == '\\' && q[1] != '\\' && q[1] != 'n')
                        FAIL("bad escape in HELP: %s", line);
                    else if (*q == '\\')
                        q++;
                f->help = 1;
            } else {
                if (f->typed)
                    FAIL("second TYPE: %s", line);
                if (strcmp(q, "counter") && strcmp(q, "gauge")
                    && strcmp(q, "histogram") && strcmp(q, "summary")
                    && strcmp(q, "untyped"))
                    FAIL("unknown type in: %s", line);
                snprintf(f->type, sizeof f->type, "%s", q);
                f->typed = 1;
            }
            continue;
        }
        if (line[0] == '#')
            continue;
        if (!check_sample(&pc, line, why, whylen))
            return 0;
    }
    for (i = 0; i < pc.nhs; i++) {
        pseries *h = &pc.hs[i];

        if (h->n == 0 || !isinf(h->le[h->n - 1]))
            FAIL("histogram %s has no +Inf bucket", h->key);
        if (!h->has_sum || !h->has_count)
            FAIL("histogram %s lacks _sum or _count", h->key);
        if (h->cnt[h->n - 1] != h->count)
            FAIL("histogram %s: +Inf bucket %g != _count %g", h->key,
                 h->cnt[h->n - 1], h->count);
    }
    return 1;
}
#undef FAIL

/* The value of series (name{labels} exactly as written) in text, or
 * -1 when it is absent. */
static double pv(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *p = text;

    while (p && *p) {
        if (!strncmp(p, series, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

/* pv() with an absent series as 0 (listed only once seen). */
static double pv0(const char *text, const char *series)
{
    double v = pv(text, series);

    return v < 0 ? 0 : v;
}

/* A series of this backend: name{backend="x"[,rest]}. */
static const char *ser(const char *name, const char *rest)
{
    static char buf[8][256];
    static int k;
    char *b = buf[k++ % 8];

    snprintf(b, 256, "%s{backend=\"%s\"%s%s}", name, backend_name(),
             rest[0] ? "," : "", rest);
    return b;
}

static char *prom(dal_metrics *m)
{
    char *text = NULL, why[300];
    size_t len = 0;
    int rc = dal_metrics_write_prometheus(m, &text, &len);

    ck_assert_int_eq(rc, DAL_OK);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_msg(prom_check(text, why, sizeof why), "format: %s\n%s", why,
                  text);
    return text;
}

/* ---- observers ------------------------------------------------------- */

/* A veto hook: refuses SQL that mentions mt_refuse. */
static int veto_hook(const dal_event *ev, void *data)
{
    (void)data;
    if (ev->kind == DAL_EV_BEFORE && ev->sql && strstr(ev->sql, "mt_refuse"))
        return dal_event_refuse(ev, DAL_E_REFUSED, NULL, "refused");
    return DAL_OK;
}

typedef struct kit {
    dal_metrics *m;
    dal_stats *s;
    dal_observer *obs;
} kit;

static void kit_make(kit *k, int max_stats)
{
    dal_hook h;

    memset(k, 0, sizeof *k);
    ck_assert_int_eq(dal_metrics_new(&k->m), DAL_OK);
    ck_assert_int_eq(dal_stats_new(max_stats, &k->s), DAL_OK);
    ck_assert_int_eq(dal_observer_new(&k->obs), DAL_OK);
    ck_assert_int_eq(dal_metrics_observe(k->m, k->obs), DAL_OK);
    ck_assert_int_eq(dal_stats_observe(k->s, k->obs), DAL_OK);
    memset(&h, 0, sizeof h);
    h.events = DAL_EVENT_BIT(DAL_EV_BEFORE);
    h.fn = veto_hook;
    ck_assert_int_eq(dal_observer_add(k->obs, &h), DAL_OK);
}

static void kit_free(kit *k)
{
    ck_assert_int_eq(dal_observer_free(k->obs), DAL_OK);
    ck_assert_int_eq(dal_stats_free(k->s), DAL_OK);
    ck_assert_int_eq(dal_metrics_free(k->m), DAL_OK);
}

static dal_db *open_kit(kit *k, const char *opts)
{
    dal_db *d = NULL;
    int rc = dal_open_observed(url_with(opts), k->obs, &d);

    ck_assert_msg(rc == DAL_OK, "open: %d %s", rc, S(dal_errmsg(d)));
    return d;
}

static const dal_stat *find_stat(const dal_stat *st, size_t n,
                                 const char *query)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!strcmp(st[i].query, query)
            && !strcmp(st[i].backend, backend_name()))
            return &st[i];
    return NULL;
}

/* ---- the known workload ---------------------------------------------- */

static void ins(dal_db *d, int64_t id)
{
    dal_value p[2];

    p[0] = DAL_V_INT64(id);
    p[1] = DAL_V_TEXT("v");
    CK_DB(d, dal_exec_params(d, "INSERT INTO mt_w (id, v) VALUES (?, ?)",
                             p, 2));
}

static void workload(dal_db *d)
{
    dal_value p[2];
    dal_stmt *st;
    int64_t n;
    int rc, rows = 0;

    /* ddl 2 */
    CK_DB(d, dal_exec(d, "DROP TABLE IF EXISTS mt_w"));
    CK_DB(d, dal_exec(d, "CREATE TABLE mt_w (id BIGINT PRIMARY KEY, "
                      "v TEXT)"));
    /* insert 6; committed 2, rolled back 1; savepoints 1 + 1 */
    CK_DB(d, dal_begin(d, 0));
    ins(d, 1);
    ins(d, 2);
    CK_DB(d, dal_begin(d, 0));
    ins(d, 3);
    CK_DB(d, dal_commit(d));
    CK_DB(d, dal_begin(d, 0));
    ins(d, 4);
    CK_DB(d, dal_rollback(d));
    CK_DB(d, dal_commit(d));
    CK_DB(d, dal_begin(d, 0));
    ins(d, 5);
    CK_DB(d, dal_commit(d));
    CK_DB(d, dal_begin(d, 0));
    ins(d, 6);
    CK_DB(d, dal_rollback(d));
    /* One error: a unique violation, class 23. Rows: 1, 2, 3, 5. */
    p[0] = DAL_V_INT64(1);
    p[1] = DAL_V_TEXT("dup");
    rc = dal_exec_params(d, "INSERT INTO mt_w (id, v) VALUES (?, ?)", p, 2);
    ck_assert_int_eq(rc, DAL_E_CONSTRAINT);
    ck_assert_str_eq(dal_sqlstate(d), "23505");
    /* update 1 (2 rows), delete 1 (1 row). Rows: 1, 2, 3. */
    CK_DB(d, dal_exec(d, "UPDATE mt_w SET v = 'x' WHERE id <= 2"));
    ck_assert_int_eq(dal_changes(d), 2);
    CK_DB(d, dal_exec(d, "DELETE FROM mt_w WHERE id = 5"));
    /* select 6: five counts (one normalized text, literals and a
     * placeholder), 5 rows; one listing, 3 rows. */
    CK_DB(d, dal_query_int64(d, "SELECT count(*) FROM mt_w WHERE id > 0",
                             NULL, 0, &n));
    ck_assert_int_eq(n, 3);
    CK_DB(d, dal_query_int64(d, "SELECT count(*) FROM mt_w WHERE id > 1",
                             NULL, 0, &n));
    CK_DB(d, dal_query_int64(d, "SELECT count(*)  FROM mt_w\n WHERE id > 2",
                             NULL, 0, &n));
    p[0] = DAL_V_INT64(0);
    CK_DB(d, dal_query_int64(d, "SELECT count(*) FROM mt_w WHERE id > ?",
                             p, 1, &n));
    CK_DB(d, dal_query_int64(d, "SELECT count(*) FROM mt_w WHERE id > ?",
                             p, 1, &n));
    CK_DB(d, dal_prepare(d, "SELECT id FROM mt_w ORDER BY id", &st));
    while ((rc = dal_step(st)) == DAL_ROW)
        rows++;
    ck_assert_int_eq(rc, DAL_DONE);
    ck_assert_int_eq(rows, 3);
    dal_finalize(st);
    /* refused 1 (select) */
    ck_assert_int_eq(dal_exec(d, "SELECT 1 AS mt_refuse"), DAL_E_REFUSED);
}

/* Statements by kind and outcome, summed over outcomes ok and error. */
static double ran(const char *t)
{
    static const char *const kinds[] = {
        "select", "insert", "update", "delete", "ddl", "tx", "other"};
    char rest[96];
    double sum = 0;
    size_t i;
    int o;

    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        for (o = 0; o < 2; o++) {
            snprintf(rest, sizeof rest, "kind=\"%s\",outcome=\"%s\"",
                     kinds[i], o ? "error" : "ok");
            sum += pv0(t, ser("dal_statements_total", rest));
        }
    return sum;
}

static void check_workload_metrics(const char *t0, const char *t)
{
#define D(name, rest) (pv0(t, ser(name, rest)) - pv0(t0, ser(name, rest)))
    ck_assert_double_eq(D("dal_statements_total",
                          "kind=\"ddl\",outcome=\"ok\""), 2);
    ck_assert_double_eq(D("dal_statements_total",
                          "kind=\"insert\",outcome=\"ok\""), 6);
    ck_assert_double_eq(D("dal_statements_total",
                          "kind=\"insert\",outcome=\"error\""), 1);
    ck_assert_double_eq(D("dal_statements_total",
                          "kind=\"update\",outcome=\"ok\""), 1);
    ck_assert_double_eq(D("dal_statements_total",
                          "kind=\"delete\",outcome=\"ok\""), 1);
    ck_assert_double_eq(D("dal_statements_total",
                          "kind=\"select\",outcome=\"ok\""), 6);
    ck_assert_double_eq(D("dal_statements_total",
                          "kind=\"select\",outcome=\"refused\""), 1);
    ck_assert_double_eq(D("dal_statements_total",
                          "kind=\"select\",outcome=\"error\""), 0);
    ck_assert_double_eq(D("dal_rows_total", "kind=\"insert\""), 6);
    ck_assert_double_eq(D("dal_rows_total", "kind=\"update\""), 2);
    ck_assert_double_eq(D("dal_rows_total", "kind=\"delete\""), 1);
    ck_assert_double_eq(D("dal_rows_total", "kind=\"select\""), 8);
    ck_assert_double_eq(D("dal_errors_total", "class=\"23\""), 1);
    ck_assert_double_eq(D("dal_transactions_total",
                          "outcome=\"committed\""), 2);
    ck_assert_double_eq(D("dal_transactions_total",
                          "outcome=\"rolled_back\""), 1);
    ck_assert_double_eq(D("dal_transactions_total",
                          "outcome=\"commit_failed\""), 0);
    ck_assert_double_eq(D("dal_savepoints_total",
                          "outcome=\"released\""), 1);
    ck_assert_double_eq(D("dal_savepoints_total",
                          "outcome=\"rolled_back\""), 1);
    /* Every statement that ran is in the histogram, the refused not. */
    ck_assert_double_eq(D("dal_statement_duration_seconds_count", ""),
                        ran(t) - ran(t0));
    ck_assert(D("dal_statement_duration_seconds_sum", "") > 0);
#undef D
}

START_TEST(t_workload)
{
    char *t0, *t1, *t2;
    kit k;
    dal_db *d;

    kit_make(&k, 0);
    d = open_kit(&k, "");
    t0 = prom(k.m);
    ck_assert_double_eq(pv(t0, ser("dal_connections_total",
                                   "event=\"opened\"")), 1);
    ck_assert_double_eq(pv(t0, ser("dal_connections_attached", "")), 1);
    workload(d);
    t1 = prom(k.m);
    check_workload_metrics(t0, t1);
    ck_assert_double_eq(pv(t1, ser("dal_connections_total",
                                   "event=\"closed\"")), 0);
    /* Registry busy: not freed. */
    ck_assert_int_eq(dal_metrics_free(k.m), DAL_E_MISUSE);
    ck_assert_int_eq(dal_stats_free(k.s), DAL_E_MISUSE);
    dal_close(d);
    /* Folded on close: the same values, the connection closed. */
    t2 = prom(k.m);
    check_workload_metrics(t0, t2);
    ck_assert_double_eq(pv(t2, ser("dal_connections_total",
                                   "event=\"closed\"")), 1);
    ck_assert_double_eq(pv(t2, ser("dal_connections_total",
                                   "event=\"failed\"")), 0);
    ck_assert_double_eq(pv(t2, ser("dal_connections_attached", "")), 0);
    dal_free(t0);
    dal_free(t1);
    dal_free(t2);
    kit_free(&k);
}
END_TEST

START_TEST(t_stats)
{
    dal_stat *st;
    const dal_stat *e;
    size_t n, i;
    kit k;
    dal_db *d;

    kit_make(&k, 0);
    d = open_kit(&k, "");
    workload(d);
    ck_assert_int_eq(dal_stats_snapshot(k.s, &st, &n), DAL_OK);
    ck_assert_uint_gt(n, 5);
    e = find_stat(st, n, "SELECT count(*) FROM mt_w WHERE id > ?");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->calls, 5);
    ck_assert_uint_eq(e->rows, 5);
    ck_assert_uint_eq(e->errors, 0);
    e = find_stat(st, n, "INSERT INTO mt_w (id, v) VALUES (?, ?)");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->calls, 7);
    ck_assert_uint_eq(e->errors, 1);
    ck_assert_uint_eq(e->rows, 6);
    e = find_stat(st, n, "SELECT id FROM mt_w ORDER BY id");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->calls, 1);
    ck_assert_uint_eq(e->rows, 3);
    e = find_stat(st, n, "UPDATE mt_w SET v = ? WHERE id <= ?");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->rows, 2);
    for (i = 0; i < n; i++) {
        ck_assert_msg(!strstr(st[i].query, "mt_refuse"), "refused "
                      "statement counted: %s", st[i].query);
        ck_assert_uint_ge(st[i].calls, 1);
        ck_assert_int_ge(st[i].max_ns, st[i].mean_ns);
        ck_assert_int_le(st[i].p99_ns, st[i].max_ns);
        ck_assert_int_ge(st[i].total_ns, st[i].max_ns);
        ck_assert_int_eq(st[i].mean_ns,
                         st[i].total_ns / (int64_t)st[i].calls);
        /* The p99 bucket's bound is at most 12.5% above a real value,
         * so never below the smallest duration / far above the max. */
        if (i > 0)
            ck_assert_int_le(st[i].total_ns, st[i - 1].total_ns);
    }
    dal_free(st);
    ck_assert_int_eq(dal_stats_reset(k.s), DAL_OK);
    ck_assert_int_eq(dal_stats_snapshot(k.s, &st, &n), DAL_OK);
    ck_assert_ptr_null(st);
    ck_assert_uint_eq(n, 0);
    dal_close(d);
    kit_free(&k);
}
END_TEST

/* A bounded table evicts the least-called entry. */
START_TEST(t_stats_evict)
{
    dal_stat *st;
    size_t n;
    int64_t v;
    int i;
    kit k;
    dal_db *d;

    kit_make(&k, 2);
    d = open_kit(&k, "");
    for (i = 0; i < 3; i++)
        CK_DB(d, dal_query_int64(d, "SELECT 1", NULL, 0, &v));
    for (i = 0; i < 2; i++)
        CK_DB(d, dal_query_int64(d, "SELECT 2 + 2", NULL, 0, &v));
    CK_DB(d, dal_query_int64(d, "SELECT 3 * 3", NULL, 0, &v));
    ck_assert_int_eq(dal_stats_snapshot(k.s, &st, &n), DAL_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(dal_stats_evictions(k.s), 1);
    ck_assert_ptr_nonnull(find_stat(st, n, "SELECT ?"));
    ck_assert_uint_eq(find_stat(st, n, "SELECT ?")->calls, 3);
    ck_assert_ptr_nonnull(find_stat(st, n, "SELECT ? * ?"));
    ck_assert_ptr_null(find_stat(st, n, "SELECT ? + ?"));
    dal_free(st);
    dal_close(d);
    kit_free(&k);
}
END_TEST

START_TEST(t_normalize)
{
    static const char *const cases[][2] = {
        {"SELECT 1", "SELECT ?"},
        {"  SELECT   2 ;  ", "SELECT ?"},
        {"select 1", "select ?"},
        {"SELECT * FROM t WHERE a = 'it''s' AND b = $1 AND c = :name",
         "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?"},
        {"SELECT ?1, ?, @p, x::int, 1.5e-3, .5, 0x1F FROM t9",
         "SELECT ?, ?, ?, x::int, ?, ?, ? FROM t9"},
        {"SELECT E'a\\'b', $$ x ' y $$, $tag$ z $tag$ -- note\n FROM t",
         "SELECT E?, ?, ? FROM t"},
        {"SELECT /* c */ \"Col 1\", `x y` FROM \"T\"\tWHERE id IN (1, 2)",
         "SELECT \"Col 1\", `x y` FROM \"T\" WHERE id IN (?, ?)"},
        {"INSERT INTO t (a) VALUES (-42)", "INSERT INTO t (a) VALUES (-?)"},
        {"", ""},
    };
    size_t i;
    char *out;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(dal_stats_normalize(cases[i][0], &out), DAL_OK);
        ck_assert_msg(!strcmp(out, cases[i][1]), "normalize(%s) = [%s], "
                      "want [%s]", cases[i][0], out, cases[i][1]);
        dal_free(out);
    }
    ck_assert_int_eq(dal_stats_normalize(NULL, &out), DAL_E_MISUSE);
    ck_assert_int_eq(dal_stats_normalize("x", NULL), DAL_E_MISUSE);
}
END_TEST

/* The parser catches what breaks the format: it can fail. */
START_TEST(t_parser)
{
    static const char *const bad[] = {
        "x_total 1\n",
        "# HELP x_total h\nx_total 1\n",
        "# TYPE x_total counter\nx_total 1\n",
        "# HELP 1x h\n# TYPE 1x counter\n",
        "# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"\\x\"} 1\n",
        "# HELP x_total h\n# TYPE x_total counter\nx_total{a=b} 1\n",
        "# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"b\"} one\n",
        "# HELP x h\n# TYPE x counter\nx 1\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
        "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
        "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
        "h_sum 1\nh_count 1\n",
        "# HELP a_total h\n# TYPE a_total counter\n# HELP b h\n"
        "# TYPE b gauge\na_total 1\nb 1\na_total{x=\"y\"} 1\n",
        "# HELP a_total h\n# TYPE a_total counter\na_total 1\na_total 2\n",
    };
    static const char good[] =
        "# HELP a_total h \\\\ \\n\n# TYPE a_total counter\n"
        "a_total{x=\"q\\\"\\\\\\n\",y=\"\"} 1\n\n# a comment\n"
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\n"
        "h_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n";
    char why[300];
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!prom_check(bad[i], why, sizeof why),
                      "accepted bad text %zu:\n%s", i, bad[i]);
    ck_assert_msg(prom_check(good, why, sizeof why), "rejected: %s", why);
}
END_TEST

/* Hits, misses and evictions with a two-statement cache. */
START_TEST(t_cache)
{
    static const char *const seq[] = {
        "SELECT 1", "SELECT 1", "SELECT 2", "SELECT 3", "SELECT 1",
        "SELECT 3",
    };
    uint64_t h0, m0, e0, h, m, e;
    int64_t v;
    size_t i;
    char *t;
    kit k;
    dal_db *d;

    kit_make(&k, 0);
    d = open_kit(&k, "statement_cache=2");
    CK_DB(d, dal_stmt_cache_stats(d, &h0, &m0, &e0));
    for (i = 0; i < sizeof seq / sizeof seq[0]; i++)
        CK_DB(d, dal_query_int64(d, seq[i], NULL, 0, &v));
    CK_DB(d, dal_stmt_cache_stats(d, &h, &m, &e));
    /* 1 miss, 1 hit, 2 miss, 3 miss (evicts 1), 1 miss (evicts 2),
     * 3 hit. */
    ck_assert_uint_eq(h - h0, 2);
    ck_assert_uint_eq(m - m0, 4);
    ck_assert_uint_eq(e - e0, 2);
    t = prom(k.m);
    ck_assert_double_eq(pv(t, ser("dal_statement_cache_hits_total", "")),
                        (double)h);
    ck_assert_double_eq(pv(t, ser("dal_statement_cache_misses_total", "")),
                        (double)m);
    ck_assert_double_eq(pv(t, ser("dal_statement_cache_evictions_total",
                                  "")), (double)e);
    dal_free(t);
    CK_DB(d, dal_stmt_cache_stats(d, NULL, NULL, NULL));
    ck_assert_int_eq(dal_stmt_cache_stats(NULL, &h, &m, &e),
                     DAL_E_MISUSE);
    dal_close(d);
    /* Still there after the fold. */
    t = prom(k.m);
    ck_assert_double_eq(pv(t, ser("dal_statement_cache_evictions_total",
                                  "")), (double)e);
    dal_free(t);
    /* No cache: zeros. */
    d = open_kit(&k, "statement_cache=0");
    CK_DB(d, dal_query_int64(d, "SELECT 1", NULL, 0, &v));
    CK_DB(d, dal_stmt_cache_stats(d, &h, &m, &e));
    ck_assert_uint_eq(h + m + e, 0);
    dal_close(d);
    kit_free(&k);
}
END_TEST

/* ---- result caches in the exposition ------------------------------- */

START_TEST(t_rcache)
{
    dal_rcache *c = NULL, *c2 = NULL;
    dal_result *r = NULL;
    char *t;
    kit k;
    dal_db *d;
    int i;

    kit_make(&k, 0);
    ck_assert_int_eq(dal_rcache_new(NULL, &c), DAL_OK);
    ck_assert_int_eq(dal_rcache_new(NULL, &c2), DAL_OK);
    ck_assert_int_eq(dal_rcache_observe(c, k.obs), DAL_OK);
    ck_assert_int_eq(dal_metrics_add_rcache(k.m, c, "main"), DAL_OK);
    ck_assert_int_eq(dal_metrics_add_rcache(k.m, c2, "odd \"name\"\\"),
                     DAL_OK);
    ck_assert_int_eq(dal_metrics_add_rcache(k.m, c, "other"),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_metrics_add_rcache(k.m, c2, "main"),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_metrics_add_rcache(k.m, c, ""), DAL_E_MISUSE);
    ck_assert_int_eq(dal_metrics_add_rcache(NULL, c, "x"), DAL_E_MISUSE);
    d = open_kit(&k, "");
    CK_DB(d, dal_exec(d, "DROP TABLE IF EXISTS mt_rc"));
    CK_DB(d, dal_exec(d, "CREATE TABLE mt_rc (a INTEGER)"));
    /* miss, hit, write (invalidates), miss. */
    for (i = 0; i < 2; i++) {
        CK_DB(d, dal_rcache_query(d, c, "SELECT count(*) FROM mt_rc", NULL,
                                  0, 60000, &r));
        dal_result_free(r);
    }
    CK_DB(d, dal_exec(d, "INSERT INTO mt_rc VALUES (1)"));
    CK_DB(d, dal_rcache_query(d, c, "SELECT count(*) FROM mt_rc", NULL, 0,
                              60000, &r));
    dal_result_free(r);
    t = prom(k.m);
    ck_assert_double_eq(pv(t, "dal_result_cache_hits_total{cache=\"main\"}"),
                        1);
    ck_assert_double_eq(pv(t, "dal_result_cache_misses_total"
                              "{cache=\"main\"}"), 2);
    ck_assert_double_eq(pv(t, "dal_result_cache_invalidations_total"
                              "{cache=\"main\"}"), 1);
    ck_assert_double_eq(pv(t, "dal_result_cache_entries{cache=\"main\"}"),
                        1);
    ck_assert_double_gt(pv(t, "dal_result_cache_bytes{cache=\"main\"}"),
                        0);
    /* The label value is escaped. */
    ck_assert_double_eq(pv(t, "dal_result_cache_hits_total"
                              "{cache=\"odd \\\"name\\\"\\\\\"}"), 0);
    dal_free(t);
    CK_DB(d, dal_exec(d, "DROP TABLE mt_rc"));
    dal_close(d);
    kit_free(&k);
    ck_assert_int_eq(dal_rcache_free(c), DAL_OK);
    ck_assert_int_eq(dal_rcache_free(c2), DAL_OK);
}
END_TEST

/* ---- several connections, several threads ------------------------- */

#define NTHREADS 4
#define NQUERIES 200

typedef struct worker {
    kit *k;
    char url[512];
    int failures;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    dal_db *d = NULL;
    dal_value p[1];
    int64_t v;
    int i;

    if (dal_open_observed(w->url, w->k->obs, &d) != DAL_OK) {
        w->failures++;
        dal_close(d);
        return NULL;
    }
    for (i = 0; i < NQUERIES; i++) {
        p[0] = DAL_V_INT64(i);
        if (dal_query_int64(d, "SELECT 1 + ?", p, 1, &v) != DAL_OK
            || v != i + 1)
            w->failures++;
    }
    dal_close(d);
    return NULL;
}

START_TEST(t_threads)
{
    pthread_t th[NTHREADS];
    worker w[NTHREADS];
    dal_stat *st;
    const dal_stat *e;
    size_t n;
    char *t;
    int i, j;
    kit k;
    dal_db *d;

    kit_make(&k, 0);
    /* The file must exist before readers open it. */
    d = open_kit(&k, "");
    CK_DB(d, dal_exec(d, "CREATE TABLE IF NOT EXISTS mt_thr (x INT)"));
    dal_close(d);
    for (i = 0; i < NTHREADS; i++) {
        w[i].k = &k;
        w[i].failures = 0;
        snprintf(w[i].url, sizeof w[i].url, "%s", url_with(""));
        ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    /* Read while they count. */
    for (j = 0; j < 20; j++) {
        t = prom(k.m);
        dal_free(t);
        ck_assert_int_eq(dal_stats_snapshot(k.s, &st, &n), DAL_OK);
        dal_free(st);
    }
    for (i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_int_eq(w[i].failures, 0);
    }
    t = prom(k.m);
    ck_assert_double_eq(pv(t, ser("dal_statements_total",
                                  "kind=\"select\",outcome=\"ok\"")),
                        NTHREADS * NQUERIES);
    ck_assert_double_eq(pv(t, ser("dal_rows_total", "kind=\"select\"")),
                        NTHREADS * NQUERIES);
    ck_assert_double_eq(pv(t, ser("dal_connections_total",
                                  "event=\"opened\"")), NTHREADS + 1);
    ck_assert_double_eq(pv(t, ser("dal_connections_total",
                                  "event=\"closed\"")), NTHREADS + 1);
    ck_assert_double_eq(pv(t, ser("dal_connections_attached", "")), 0);
    dal_free(t);
    ck_assert_int_eq(dal_stats_snapshot(k.s, &st, &n), DAL_OK);
    e = find_stat(st, n, "SELECT ? + ?");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->calls, NTHREADS * NQUERIES);
    ck_assert_uint_eq(e->rows, NTHREADS * NQUERIES);
    dal_free(st);
    if (test_backend == BE_POSTGRES) {
        d = open_kit(&k, "");
        CK_DB(d, dal_exec(d, "DROP TABLE mt_thr"));
        dal_close(d);
    }
    kit_free(&k);
}
END_TEST

/* A failed open is counted as failed, and its shard folded. */
START_TEST(t_connect_failed)
{
    dal_db *d = NULL;
    char *t;
    kit k;

    kit_make(&k, 0);
    ck_assert_int_ne(dal_open_observed(test_backend == BE_POSTGRES
                                       ? "postgres://u:pw@127.0.0.1:1/x"
                                       : "sqlite:///nonexistent-dir/x/y.db"
                                         "?mode=rw", k.obs, &d), DAL_OK);
    dal_close(d);
    t = prom(k.m);
    ck_assert_double_eq(pv(t, ser("dal_connections_total",
                                  "event=\"failed\"")), 1);
    ck_assert_double_eq(pv(t, ser("dal_connections_total",
                                  "event=\"opened\"")), 0);
    ck_assert_double_eq(pv(t, ser("dal_connections_attached", "")), 0);
    dal_free(t);
    ck_assert_int_eq(dal_metrics_new(NULL), DAL_E_MISUSE);
    ck_assert_int_eq(dal_metrics_observe(NULL, k.obs), DAL_E_MISUSE);
    ck_assert_int_eq(dal_metrics_write_prometheus(k.m, NULL, NULL),
                     DAL_E_MISUSE);
    {
        dal_stats *s2 = (dal_stats *)1;

        ck_assert_int_eq(dal_stats_new(-1, &s2), DAL_E_MISUSE);
        ck_assert_ptr_null(s2);
    }
    ck_assert_int_eq(dal_metrics_free(NULL), DAL_OK);
    ck_assert_int_eq(dal_stats_free(NULL), DAL_OK);
    kit_free(&k);
}
END_TEST

/* ---- allocation failures --------------------------------------------- */

/* Fail each allocation of a call in turn: it reports DAL_NOMEM and
 * leaves nothing behind, until it succeeds. */
START_TEST(t_nomem_objects)
{
    long i, base = atomic_load(&live_blocks);
    dal_metrics *m;
    dal_stats *s;
    dal_observer *o;
    char *out;
    int rc;

    for (i = 1;; i++) {
        nomem_arm(i);
        rc = dal_metrics_new(&m);
        atomic_store(&fail_at, 0);
        if (!atomic_load(&fail_hit))
            break;
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_ptr_null(m);
        ck_assert_int_eq(atomic_load(&live_blocks), base);
    }
    ck_assert_int_eq(rc, DAL_OK);
    ck_assert_int_eq(dal_metrics_free(m), DAL_OK);
    for (i = 1;; i++) {
        nomem_arm(i);
        rc = dal_stats_new(10, &s);
        atomic_store(&fail_at, 0);
        if (!atomic_load(&fail_hit))
            break;
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_ptr_null(s);
        ck_assert_int_eq(atomic_load(&live_blocks), base);
    }
    ck_assert_int_eq(dal_stats_free(s), DAL_OK);
    for (i = 1;; i++) {
        nomem_arm(i);
        rc = dal_stats_normalize("SELECT 'a', 1 FROM t", &out);
        atomic_store(&fail_at, 0);
        if (!atomic_load(&fail_hit))
            break;
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_ptr_null(out);
        ck_assert_int_eq(atomic_load(&live_blocks), base);
    }
    ck_assert_str_eq(out, "SELECT ?, ? FROM t");
    dal_free(out);
    /* Adding the hooks grows the observer's list. */
    ck_assert_int_eq(dal_metrics_new(&m), DAL_OK);
    ck_assert_int_eq(dal_stats_new(0, &s), DAL_OK);
    for (i = 1;; i++) {
        ck_assert_int_eq(dal_observer_new(&o), DAL_OK);
        nomem_arm(i);
        rc = dal_metrics_observe(m, o);
        if (rc == DAL_OK)
            rc = dal_stats_observe(s, o);
        atomic_store(&fail_at, 0);
        ck_assert_int_eq(dal_observer_free(o), DAL_OK);
        if (!atomic_load(&fail_hit))
            break;
        ck_assert_int_eq(rc, DAL_NOMEM);
    }
    ck_assert_int_eq(rc, DAL_OK);
    ck_assert_int_eq(dal_stats_free(s), DAL_OK);
    ck_assert_int_eq(dal_metrics_free(m), DAL_OK);
    ck_assert_int_eq(atomic_load(&live_blocks), base);
}
END_TEST

/* Opening under failures: every failure is DAL_NOMEM (or a handle that
 * carries it), the registry is left with no connection attached and
 * with nothing counted as opened, and nothing leaks. */
START_TEST(t_nomem_attach)
{
    long i;
    dal_db *d;
    char *t;
    kit k;
    int rc;

    kit_make(&k, 0);
    for (i = 1; i < 10000; i++) {
        d = NULL;
        nomem_arm(i);
        rc = dal_open_observed(url_with(""), k.obs, &d);
        atomic_store(&fail_at, 0);
        if (!atomic_load(&fail_hit)) {
            ck_assert_int_eq(rc, DAL_OK);
            dal_close(d);
            break;
        }
        ck_assert_msg(rc == DAL_NOMEM, "allocation %ld: rc %d (%s) %s", i,
                      rc, dal_errstr(rc), S(dal_errmsg(d)));
        dal_close(d);
        t = prom(k.m);
        ck_assert_double_eq(pv0(t, ser("dal_connections_attached", "")),
                            0);
        ck_assert_double_eq(pv0(t, ser("dal_connections_total",
                                       "event=\"opened\"")), 0);
        dal_free(t);
    }
    ck_assert_msg(i > 2 && i < 10000, "%ld rounds", i);
    kit_free(&k);
}
END_TEST

/* Reading under failures: DAL_NOMEM, nothing returned, nothing lost. */
START_TEST(t_nomem_read)
{
    dal_stat *st;
    size_t n, len;
    char *t, *t0;
    long i;
    kit k;
    dal_db *d;
    int rc;

    kit_make(&k, 0);
    d = open_kit(&k, "");
    workload(d);
    t0 = prom(k.m);
    for (i = 1;; i++) {
        nomem_arm(i);
        rc = dal_metrics_write_prometheus(k.m, &t, &len);
        atomic_store(&fail_at, 0);
        if (!atomic_load(&fail_hit))
            break;
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_ptr_null(t);
    }
    ck_assert_int_eq(rc, DAL_OK);
    ck_assert_str_eq(t, t0);
    dal_free(t);
    dal_free(t0);
    for (i = 1;; i++) {
        nomem_arm(i);
        rc = dal_stats_snapshot(k.s, &st, &n);
        atomic_store(&fail_at, 0);
        if (!atomic_load(&fail_hit))
            break;
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_ptr_null(st);
        ck_assert_uint_eq(n, 0);
    }
    ck_assert_int_eq(rc, DAL_OK);
    ck_assert_uint_gt(n, 5);
    dal_free(st);
    dal_close(d);
    kit_free(&k);
}
END_TEST

/* ---- suite ------------------------------------------------------------ */

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *metrics_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "workload");
    tcase_add_test(tc, t_workload);
    tcase_add_test(tc, t_connect_failed);
    tc = tcase(s, "prometheus");
    tcase_add_test(tc, t_parser);
    tc = tcase(s, "stats");
    tcase_add_test(tc, t_stats);
    tcase_add_test(tc, t_stats_evict);
    tcase_add_test(tc, t_normalize);
    tc = tcase(s, "cache");
    tcase_add_test(tc, t_cache);
    tcase_add_test(tc, t_rcache);
    tc = tcase(s, "threads");
    tcase_add_test(tc, t_threads);
    tc = tcase(s, "nomem");
    tcase_add_test(tc, t_nomem_objects);
    tcase_add_test(tc, t_nomem_attach);
    tcase_add_test(tc, t_nomem_read);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "metrics[sqlite-mem]", "metrics[sqlite-file]", "metrics[postgres]",
    };
    int kind, failed = 0;

    /* Before any other libdal call. */
    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "metrics: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    pg_url = getenv("DAL_TEST_PG_URL");
    if (pg_url == NULL || pg_url[0] == '\0') {
        printf("metrics: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
        pg_url = NULL;
    }
    for (kind = BE_SQLITE_MEM; kind <= BE_POSTGRES; kind++) {
        SRunner *sr;

        if (kind == BE_POSTGRES && pg_url == NULL)
            break;
        test_backend = (enum backend)kind;
        fflush(stdout);
        sr = srunner_create(metrics_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    if (atomic_load(&live_blocks) != 0) {
        printf("metrics: libdal holds %ld blocks at exit\n",
               atomic_load(&live_blocks));
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
