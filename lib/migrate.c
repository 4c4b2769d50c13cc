/*
 * migrate.c - the migration engine (dal/migrate.h): migration sets from
 * C arrays or directories of files, the dal_migrations history table with
 * SHA-256 checksums, and up / down / redo / status with locking, dry runs
 * and progress reports.
 *
 * Each step runs in its own transaction together with its history row,
 * so a failure or a crash leaves the history at the previous version.
 * Two processes that migrate one database at once must apply each
 * migration exactly once: on PostgreSQL a session advisory lock is held
 * for the whole run; on SQLite each step's transaction takes the write
 * lock up front (BEGIN IMMEDIATE). Either way the history is read again
 * once the lock is held, and the decision what to run next is made from
 * that reading only.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dal-int.h"
#include "dal/migrate.h"

/* ---- what differs between backends ---------------------------------- */

/*
 * The key of the PostgreSQL advisory lock taken while migrating: "dal_migr"
 * in ASCII, as a bigint. Advisory locks are per database, so migrations
 * of different databases on one server do not wait for each other.
 */
#define PG_LOCK_KEY "7233181633647044466"

/*
 * Locking and the catalogue are the only places where the engine needs a
 * backend's own SQL; it is all in this table. The name is dal_backend()'s
 * and also the variant in file names (NNNN_name.up.sqlite.sql).
 */
static const struct mig_backend {
    const char *name;
    const char *has_table;  /* one row: 1 when dal_migrations exists */
    const char *try_lock;   /* one row: 1 when the run's lock was taken,
                               NULL when each transaction locks instead */
    const char *unlock;     /* releases try_lock's lock */
    int tx_flags;           /* dal_begin() flags of a step's transaction */
    const char *get_busy;   /* one row: the connection's lock wait (ms) */
    const char *set_busy;   /* printf format that sets it */
} mig_backends[] = {
    {"sqlite",
     "SELECT count(*) FROM sqlite_master"
     " WHERE type = 'table' AND name = 'dal_migrations'",
     NULL, NULL, DAL_TX_IMMEDIATE,
     "PRAGMA busy_timeout", "PRAGMA busy_timeout = %d"},
    {"postgres",
     "SELECT CASE WHEN to_regclass('dal_migrations') IS NULL"
     " THEN 0 ELSE 1 END",
     "SELECT CASE WHEN pg_try_advisory_lock(" PG_LOCK_KEY ")"
     " THEN 1 ELSE 0 END",
     "SELECT pg_advisory_unlock(" PG_LOCK_KEY ")", 0, NULL, NULL},
};

#define NBACKENDS ((int)(sizeof mig_backends / sizeof mig_backends[0]))
/* Texts per direction: [0] portable, [1 + i] mig_backends[i]'s own. */
#define NVARIANTS (1 + NBACKENDS)

/* How often a PostgreSQL run asks for the lock again while it waits. */
#define LOCK_POLL_MS 50
/* How long SQLite waits between BEGIN IMMEDIATE attempts that found the
 * database locked (its busy handler has already waited before that). */
#define BUSY_RETRY_MS 10
#define DEFAULT_LOCK_TIMEOUT_MS 30000

static const char create_sql[] =
    "CREATE TABLE IF NOT EXISTS dal_migrations ("
    "version BIGINT PRIMARY KEY, name TEXT NOT NULL, "
    "checksum TEXT NOT NULL, applied_at TEXT NOT NULL, "
    "duration_ms BIGINT NOT NULL)";
static const char select_sql[] =
    "SELECT version, name, checksum, applied_at, duration_ms"
    " FROM dal_migrations ORDER BY version";
static const char insert_sql[] =
    "INSERT INTO dal_migrations (version, name, checksum, applied_at,"
    " duration_ms) VALUES ($1, $2, $3, $4, $5)";
static const char delete_sql[] =
    "DELETE FROM dal_migrations WHERE version = $1";

/* ---- the migration set ---------------------------------------------- */

enum { UP = 0, DOWN = 1 };

struct mig {
    int64_t version;
    const char *name;
    const char *sql[2][NVARIANTS];   /* [UP or DOWN][variant] */
    const char *file[2][NVARIANTS];  /* the file a text came from */
    unsigned char notx[2][NVARIANTS];
    int (*fn[2])(dal_db *db, void *arg);
    void *arg;
    int owned;  /* name, sql and file are ours (load_dir), else the caller's */
};

struct dal_migrator {
    struct mig *v;  /* sorted by version */
    int n, cap;
    int lock_timeout;
    void (*dry)(int64_t version, const char *sql, void *arg);
    void *dry_arg;
    void (*progress)(int64_t version, const char *name, int up, int done,
                     double ms, void *arg);
    void *progress_arg;
    char err[1024];
};

static void mig_clear(struct mig *g)
{
    int d, i;

    if (!g->owned)
        return;
    dal__free((char *)(uintptr_t)g->name);
    for (d = 0; d < 2; d++)
        for (i = 0; i < NVARIANTS; i++) {
            dal__free((char *)(uintptr_t)g->sql[d][i]);
            dal__free((char *)(uintptr_t)g->file[d][i]);
        }
}

/* Record a loading or option error on m; returns rc. */
static int mfail(dal_migrator *m, int rc, const char *fmt, ...)
    DAL__PRINTF(3, 4);

static int mfail(dal_migrator *m, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
    return rc;
}

int dal_migrator_new(dal_migrator **out)
{
    dal_migrator *m;

    if (!out)
        return DAL_E_MISUSE;
    *out = m = dal__calloc(1, sizeof *m);
    if (!m)
        return DAL_NOMEM;
    m->lock_timeout = DEFAULT_LOCK_TIMEOUT_MS;
    return DAL_OK;
}

void dal_migrator_free(dal_migrator *m)
{
    int i;

    if (!m)
        return;
    for (i = 0; i < m->n; i++)
        mig_clear(&m->v[i]);
    dal__free(m->v);
    dal__free(m);
}

const char *dal_migrator_errmsg(const dal_migrator *m)
{
    return m ? m->err : "";
}

void dal_migrator_set_lock_timeout(dal_migrator *m, int ms)
{
    if (!m)
        return;
    if (ms < 0) {
        mfail(m, DAL_E_MISUSE, "dal_migrator_set_lock_timeout: %d ms is "
              "negative; the timeout is unchanged (%d ms)", ms,
              m->lock_timeout);
        return;
    }
    m->lock_timeout = ms;
}

void dal_migrator_set_dry_run(dal_migrator *m,
                              void (*fn)(int64_t version, const char *sql,
                                         void *arg),
                              void *arg)
{
    if (!m)
        return;
    m->dry = fn;
    m->dry_arg = fn ? arg : NULL;
}

void dal_migrator_set_progress(dal_migrator *m,
                               void (*fn)(int64_t version, const char *name,
                                          int up, int done, double ms,
                                          void *arg),
                               void *arg)
{
    if (!m)
        return;
    m->progress = fn;
    m->progress_arg = fn ? arg : NULL;
}

static int mig_cmp(const void *a, const void *b)
{
    const struct mig *x = a, *y = b;

    return x->version < y->version ? -1 : x->version > y->version;
}

/* The index of version in the sorted v[0..n), or -1. */
static int mig_find(const struct mig *v, int n, int64_t version)
{
    int lo = 0, hi = n - 1, mid;

    while (lo <= hi) {
        mid = lo + (hi - lo) / 2;
        if (v[mid].version == version)
            return mid;
        if (v[mid].version < version)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Make room for extra more migrations in m. */
static int mig_reserve(dal_migrator *m, int extra)
{
    struct mig *p;
    int cap;

    if (extra > 0x3fffffff - m->n)
        return DAL_NOMEM;
    if (m->n + extra <= m->cap)
        return DAL_OK;
    cap = m->cap ? m->cap : 8;
    while (cap < m->n + extra)
        cap = cap > 0x1fffffff ? m->n + extra : cap * 2;
    p = dal__realloc(m->v, (size_t)cap * sizeof *p);
    if (!p)
        return DAL_NOMEM;
    m->v = p;
    m->cap = cap;
    return DAL_OK;
}

/* Nonzero when the first line of text is "-- dal: no-transaction". */
static int first_line_notx(const char *s)
{
    static const char bom[] = "\xef\xbb\xbf";

    if (!strncmp(s, bom, 3))
        s += 3;
    if (strncmp(s, "--", 2))
        return 0;
    for (s += 2; *s == ' ' || *s == '\t'; s++)
        ;
    if (strncmp(s, "dal:", 4))
        return 0;
    for (s += 4; *s == ' ' || *s == '\t'; s++)
        ;
    if (strncmp(s, "no-transaction", 14))
        return 0;
    for (s += 14; *s == ' ' || *s == '\t' || *s == '\r'; s++)
        ;
    return *s == '\0' || *s == '\n';
}

/* Check one C migration; 0 when fine, else a message in m->err. */
static int check_c_migration(dal_migrator *m, const dal_migration *g)
{
    int has_up_sql = g->up_sql || g->up_sqlite || g->up_postgres;
    int has_down_sql = g->down_sql || g->down_sqlite || g->down_postgres;

    if (g->version <= 0)
        return mfail(m, DAL_E_MISUSE, "dal_migrator_add: version %lld: "
                     "versions are positive integers",
                     (long long)g->version);
    if (!g->name || !g->name[0])
        return mfail(m, DAL_E_MISUSE, "dal_migrator_add: migration %lld "
                     "has no name", (long long)g->version);
    if (!has_up_sql && !g->up)
        return mfail(m, DAL_E_MISUSE, "dal_migrator_add: migration %lld "
                     "(%s) has no up step (SQL or function)",
                     (long long)g->version, g->name);
    if ((has_up_sql && g->up) || (has_down_sql && g->down))
        return mfail(m, DAL_E_MISUSE, "dal_migrator_add: migration %lld "
                     "(%s) gives both SQL and a function for one "
                     "direction; give one of them",
                     (long long)g->version, g->name);
    return DAL_OK;
}

int dal_migrator_add(dal_migrator *m, const dal_migration *v, int n)
{
    int i, j, d, k, rc;

    if (!m)
        return DAL_E_MISUSE;
    if (n < 0 || (n > 0 && !v))
        return mfail(m, DAL_E_MISUSE, "dal_migrator_add: %s",
                     n < 0 ? "n is negative" : "v is NULL");
    for (i = 0; i < n; i++) {
        if ((rc = check_c_migration(m, &v[i])) != DAL_OK)
            return rc;
        for (j = 0; j < i; j++)
            if (v[j].version == v[i].version)
                return mfail(m, DAL_E_MISUSE, "dal_migrator_add: version "
                             "%lld is given twice (%s and %s)",
                             (long long)v[i].version, v[j].name, v[i].name);
        j = mig_find(m->v, m->n, v[i].version);
        if (j >= 0)
            return mfail(m, DAL_E_MISUSE, "dal_migrator_add: version %lld "
                         "(%s) is already in the migration set (%s)",
                         (long long)v[i].version, v[i].name, m->v[j].name);
    }
    if (mig_reserve(m, n) != DAL_OK)
        return mfail(m, DAL_NOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        struct mig *g = &m->v[m->n + i];
        const dal_migration *c = &v[i];

        memset(g, 0, sizeof *g);
        g->version = c->version;
        g->name = c->name;
        g->sql[UP][0] = c->up_sql;
        g->sql[DOWN][0] = c->down_sql;
        g->sql[UP][1] = c->up_sqlite;
        g->sql[DOWN][1] = c->down_sqlite;
        g->sql[UP][2] = c->up_postgres;
        g->sql[DOWN][2] = c->down_postgres;
        for (d = 0; d < 2; d++)
            for (k = 0; k < NVARIANTS; k++)
                g->notx[d][k] = (unsigned char)(c->no_transaction
                    || (g->sql[d][k] && first_line_notx(g->sql[d][k])));
        g->fn[UP] = c->up;
        g->fn[DOWN] = c->down;
        g->arg = c->arg;
    }
    m->n += n;
    qsort(m->v, (size_t)m->n, sizeof *m->v, mig_cmp);
    m->err[0] = '\0';
    return DAL_OK;
}

/* ---- loading a directory -------------------------------------------- */

/* What a file name says: NNNN_name.{up,down}[.backend].sql */
struct fname {
    int64_t version;
    const char *name;   /* points into the file name */
    size_t namelen;
    int dir;            /* UP or DOWN */
    int variant;        /* 0 portable, 1 + index in mig_backends */
};

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Parse file name f (ending in ".sql"); NULL, or why it is malformed. */
static const char *parse_fname(const char *f, struct fname *out)
{
    size_t len = strlen(f) - 4, i;  /* without ".sql" */
    const char *dot = memchr(f, '.', len), *p;
    size_t baselen, restlen;
    int b;

    memset(out, 0, sizeof *out);
    if (!dot)
        return "no .up or .down before .sql";
    baselen = (size_t)(dot - f);
    restlen = len - baselen - 1;
    for (i = 0; i < baselen && f[i] >= '0' && f[i] <= '9'; i++) {
        if (out->version > (INT64_MAX - 9) / 10)
            return "the version is too large";
        out->version = out->version * 10 + (f[i] - '0');
    }
    if (i == 0)
        return "it does not start with a version number";
    if (i == baselen || f[i] != '_' || i + 1 == baselen)
        return "no _name after the version";
    if (out->version == 0)
        return "version 0 (versions start at 1)";
    out->name = f + i + 1;
    out->namelen = baselen - i - 1;
    for (p = out->name; p < dot; p++)
        if (!is_name_char(*p))
            return "the name may only hold letters, digits, '_' and '-'";
    p = dot + 1;
    if (restlen >= 2 && !strncmp(p, "up", 2)) {
        out->dir = UP;
        p += 2;
        restlen -= 2;
    } else if (restlen >= 4 && !strncmp(p, "down", 4)) {
        out->dir = DOWN;
        p += 4;
        restlen -= 4;
    } else {
        return "no .up or .down before .sql";
    }
    if (restlen == 0)
        return NULL;
    for (b = 0; b < NBACKENDS; b++) {
        size_t n = strlen(mig_backends[b].name);

        if (*p == '.' && restlen == n + 1
            && !strncmp(p + 1, mig_backends[b].name, n)) {
            out->variant = 1 + b;
            return NULL;
        }
    }
    return "unknown suffix (a backend variant is .sqlite or .postgres)";
}

/* Read the whole of path into *out (NUL-terminated). On failure *why
 * says what went wrong. */
static int read_file(const char *path, char **out, const char **why)
{
    dal__buf b = {0};
    char chunk[8192];
    size_t n;
    FILE *f;
    int rc = DAL_OK;

    *out = NULL;
    *why = NULL;
    f = fopen(path, "rb");
    if (!f) {
        *why = strerror(errno);
        return DAL_E_MISUSE;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if ((rc = dal__buf_add(&b, chunk, n)) != DAL_OK)
            break;
    if (rc == DAL_OK && ferror(f)) {
        *why = strerror(errno);
        rc = DAL_E_MISUSE;
    }
    fclose(f);
    if (rc == DAL_OK && !b.p && dal__buf_reserve(&b, 0) != DAL_OK)
        rc = DAL_NOMEM;
    if (rc == DAL_OK) {
        b.p[b.len] = '\0';
        if (memchr(b.p, '\0', b.len)) {
            *why = "it contains a NUL byte";
            rc = DAL_E_MISUSE;
        }
    }
    if (rc != DAL_OK) {
        dal__buf_free(&b);
        return rc;
    }
    *out = b.p;
    return DAL_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n > k && !strcmp(s + n - k, suffix);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.sql entries of dir, sorted, into *names (*n of them). */
static int list_dir(dal_migrator *m, const char *dir, char ***names, int *n)
{
    struct dirent *e;
    char **v = NULL, **p;
    int cap = 0, rc = DAL_OK;
    DIR *d;

    *names = NULL;
    *n = 0;
    d = opendir(dir);
    if (!d)
        return mfail(m, DAL_E_MISUSE, "%s: cannot open the migration "
                     "directory: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        /* Hidden files and anything not *.sql (README, editor backups)
         * are not migrations. */
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".sql"))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            p = cap < 0x1000000 ? dal__realloc(v, (size_t)cap * sizeof *v)
                                : NULL;
            if (!p) {
                rc = DAL_NOMEM;
                break;
            }
            v = p;
        }
        if (!(v[*n] = dal__strdup(e->d_name))) {
            rc = DAL_NOMEM;
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (rc != DAL_OK) {
        while (*n > 0)
            dal__free(v[--*n]);
        dal__free(v);
        return mfail(m, rc, "out of memory");
    }
    if (*n > 0)
        qsort(v, (size_t)*n, sizeof *v, str_cmp);
    *names = v;
    return DAL_OK;
}

/* Any file a migration came from, for messages. */
static const char *mig_some_file(const struct mig *g)
{
    int d, i;

    for (d = 0; d < 2; d++)
        for (i = 0; i < NVARIANTS; i++)
            if (g->file[d][i])
                return g->file[d][i];
    return "?";
}

/* Read file path (named f, parsed as fn) into its slot of tmp. */
static int load_one(dal_migrator *m, const char *path, const struct fname *fn,
                    struct mig **tmp, int *nt, int *ct)
{
    static const char *const dirs[] = {".up", ".down"};
    struct mig *g = NULL, *p;
    const char *why;
    char *text;
    int i, rc;

    for (i = 0; i < *nt; i++)
        if ((*tmp)[i].version == fn->version)
            g = &(*tmp)[i];
    if (g && (strlen(g->name) != fn->namelen
              || strncmp(g->name, fn->name, fn->namelen)))
        return mfail(m, DAL_E_MISUSE, "%s: version %lld is also used by "
                     "another migration (%s)", path,
                     (long long)fn->version, mig_some_file(g));
    if (g && g->sql[fn->dir][fn->variant])
        return mfail(m, DAL_E_MISUSE, "%s: a second %s%s%s file for version "
                     "%lld (the first is %s)", path, dirs[fn->dir],
                     fn->variant ? "." : "",
                     fn->variant ? mig_backends[fn->variant - 1].name : "",
                     (long long)fn->version,
                     g->file[fn->dir][fn->variant]);
    if (!g) {
        if (*nt == *ct) {
            int cap = *ct ? *ct * 2 : 16;

            p = cap < 0x1000000 ? dal__realloc(*tmp, (size_t)cap * sizeof *p)
                                : NULL;
            if (!p)
                return mfail(m, DAL_NOMEM, "out of memory");
            *tmp = p;
            *ct = cap;
        }
        g = &(*tmp)[*nt];
        memset(g, 0, sizeof *g);
        g->owned = 1;
        g->version = fn->version;
        if (!(g->name = dal__strndup(fn->name, fn->namelen)))
            return mfail(m, DAL_NOMEM, "out of memory");
        (*nt)++;
    }
    if (!(g->file[fn->dir][fn->variant] = dal__strdup(path)))
        return mfail(m, DAL_NOMEM, "out of memory");
    rc = read_file(path, &text, &why);
    if (rc == DAL_NOMEM)
        return mfail(m, rc, "out of memory");
    if (rc != DAL_OK)
        return mfail(m, rc, "%s: cannot read the migration file: %s", path,
                     why);
    g->sql[fn->dir][fn->variant] = text;
    g->notx[fn->dir][fn->variant] = (unsigned char)first_line_notx(text);
    return DAL_OK;
}

/* After every file was read: each version needs an up file, and may not
 * be in m already. */
static int check_loaded(dal_migrator *m, const struct mig *tmp, int nt)
{
    int i, k, v;

    for (i = 0; i < nt; i++) {
        const struct mig *g = &tmp[i];

        for (v = 0; v < NVARIANTS && !g->sql[UP][v]; v++)
            ;
        if (v == NVARIANTS)
            return mfail(m, DAL_E_MISUSE, "%s: a down file without an up "
                         "file (NNNN_name.up.sql) for version %lld",
                         mig_some_file(g), (long long)g->version);
        k = mig_find(m->v, m->n, g->version);
        if (k >= 0)
            return mfail(m, DAL_E_MISUSE, "%s: version %lld is already in "
                         "the migration set (%s)", mig_some_file(g),
                         (long long)g->version, m->v[k].name);
    }
    return DAL_OK;
}

int dal_migrator_load_dir(dal_migrator *m, const char *dir)
{
    struct mig *tmp = NULL;
    char **names = NULL, *path;
    struct fname fn;
    const char *why, *sep;
    int i, nn = 0, nt = 0, ct = 0, rc;

    if (!m)
        return DAL_E_MISUSE;
    if (!dir)
        return mfail(m, DAL_E_MISUSE, "dal_migrator_load_dir: dir is NULL");
    if ((rc = list_dir(m, dir, &names, &nn)) != DAL_OK)
        return rc;
    sep = dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/";
    if (nn == 0)
        rc = mfail(m, DAL_E_MISUSE, "%s: no migration files "
                   "(NNNN_name.up.sql) in the directory", dir);
    for (i = 0; rc == DAL_OK && i < nn; i++) {
        if ((why = parse_fname(names[i], &fn)) != NULL) {
            rc = mfail(m, DAL_E_MISUSE, "%s%s%s: malformed migration file "
                       "name: %s (expected NNNN_name.up.sql or "
                       "NNNN_name.down.sql, optionally with .sqlite or "
                       ".postgres before .sql)", dir, sep, names[i], why);
            break;
        }
        if (!(path = dal__asprintf("%s%s%s", dir, sep, names[i]))) {
            rc = mfail(m, DAL_NOMEM, "out of memory");
            break;
        }
        rc = load_one(m, path, &fn, &tmp, &nt, &ct);
        dal__free(path);
    }
    if (rc == DAL_OK)
        rc = check_loaded(m, tmp, nt);
    if (rc == DAL_OK && mig_reserve(m, nt) != DAL_OK)
        rc = mfail(m, DAL_NOMEM, "out of memory");
    if (rc == DAL_OK) {
        if (nt > 0)
            memcpy(m->v + m->n, tmp, (size_t)nt * sizeof *tmp);
        m->n += nt;
        qsort(m->v, (size_t)m->n, sizeof *m->v, mig_cmp);
        m->err[0] = '\0';
    } else {
        for (i = 0; i < nt; i++)
            mig_clear(&tmp[i]);
    }
    dal__free(tmp);
    for (i = 0; i < nn; i++)
        dal__free(names[i]);
    dal__free(names);
    return rc;
}

/* ---- one run: state, history, locking ------------------------------- */

struct hist {
    int64_t version;
    char *name;
    char *checksum;
    char *applied_at;
    int64_t duration_ms;
};

struct run {
    dal_db *db;
    dal_migrator *m;
    const char *fn;       /* the API function, for messages */
    const struct mig_backend *be;
    int variant;          /* 1 + index of be */
    int dry;
    int own_tx;           /* every open transaction is the run's */
    int lock;             /* locking on (lock timeout > 0) */
    int locked;           /* the run's lock (PostgreSQL) is held */
    int busy_saved;       /* SQLite: the connection's busy timeout */
    int busy_now;         /* ... and the one currently set */
    int have_table;       /* dal_migrations is known to exist */
    char (*sums)[65];     /* m->v[i]'s checksum on this backend */
    struct hist *h;       /* the history, by version */
    int nh;
    const char *origin_saved; /* db's origin label before the run */
    int origin_set;
};


static int nomem(dal_db *db)
{
    return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
}

/* Run sql ignoring its outcome, keeping the error that is on db: the
 * caller wants to see the first failure, not the clean-up's. */
static void exec_keeping_error(dal_db *db, const char *sql)
{
    struct dal__err saved = db->err;

    memset(&db->err, 0, sizeof db->err);
    memcpy(db->err.sqlstate, "00000", 6);
    dal_exec(db, sql);
    dal__clearerr(db);
    db->err = saved;
}

/* Roll back every open level, keeping the error. */
static void rollback_all(dal_db *db)
{
    int depth, last = -1;

    while ((depth = dal_tx_depth(db)) > 0 && depth != last) {
        last = depth;
        dal__rollback_keep_error(db);
    }
}

/* The text a step runs on this backend: its variant, else the portable
 * one; sets *vi to the index it came from. */
static const char *mig_text(const struct run *r, const struct mig *g,
                            int dir, int *vi)
{
    *vi = g->sql[dir][r->variant] ? r->variant : 0;
    return g->sql[dir][*vi];
}

static void mig_checksum(const struct run *r, const struct mig *g,
                         char out[65])
{
    const char *text;
    dal__sha256_ctx c;
    char buf[32];
    int vi, n;

    if (g->fn[UP]) {
        n = snprintf(buf, sizeof buf, "%lld ", (long long)g->version);
        dal__sha256_init(&c);
        dal__sha256_update(&c, buf, (size_t)n);
        dal__sha256_update(&c, g->name, strlen(g->name));
        dal__sha256_hex_final(&c, out);
        return;
    }
    text = mig_text(r, g, UP, &vi);
    if (!text) {
        /* Nothing to apply on this backend: matches no stored checksum. */
        out[0] = '\0';
        return;
    }
    dal__sha256_hex(text, strlen(text), out);
}

static void hist_free(struct run *r)
{
    int i;

    for (i = 0; i < r->nh; i++) {
        dal__free(r->h[i].name);
        dal__free(r->h[i].checksum);
        dal__free(r->h[i].applied_at);
    }
    dal__free(r->h);
    r->h = NULL;
    r->nh = 0;
}

/* The history row of version, or NULL. */
static const struct hist *hist_find(const struct run *r, int64_t version)
{
    int lo = 0, hi = r->nh - 1, mid;

    while (lo <= hi) {
        mid = lo + (hi - lo) / 2;
        if (r->h[mid].version == version)
            return &r->h[mid];
        if (r->h[mid].version < version)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

/*
 * Start a run of function fn. in_tx_ok: the caller may have a
 * transaction open (status only). Computes every checksum up front:
 * a run reads the history once per step and compares them each time.
 */
static int run_start(struct run *r, dal_db *db, dal_migrator *m,
                     const char *fn, int in_tx_ok)
{
    const char *name;
    int i;

    memset(r, 0, sizeof *r);
    r->db = db;
    r->m = m;
    r->fn = fn;
    r->busy_saved = r->busy_now = -1;
    if (!db)
        return DAL_E_MISUSE;
    if (!m)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "%s: the migrator is "
                            "NULL", fn);
    name = dal_backend(db);
    for (i = 0; i < NBACKENDS && !r->be; i++)
        if (name && !strcmp(name, mig_backends[i].name)) {
            r->be = &mig_backends[i];
            r->variant = 1 + i;
        }
    if (!r->be)
        return dal__seterrf(db, DAL_E_UNSUPPORTED, NULL, "%s: migrations "
                            "do not support the %s backend", fn,
                            name ? name : "(unknown)");
    if (!in_tx_ok && dal_tx_depth(db) > 0)
        return dal__seterrf(db, DAL_E_MISUSE, "25001", "%s: a transaction "
                            "is open; migrations run in transactions of "
                            "their own", fn);
    r->own_tx = !in_tx_ok;
    r->dry = !in_tx_ok && m->dry != NULL;
    r->lock = !r->dry && m->lock_timeout > 0;
    if (m->n > 0) {
        r->sums = dal__malloc((size_t)m->n * sizeof *r->sums);
        if (!r->sums)
            return nomem(db);
        for (i = 0; i < m->n; i++)
            mig_checksum(r, &m->v[i], r->sums[i]);
    }
    dal__clearerr(db);
    /* Hooks see the run's statements as the migration engine's. */
    r->origin_saved = db->obs_origin;
    r->origin_set = 1;
    db->obs_origin = "migrate";
    return DAL_OK;
}

static int set_busy(struct run *r, int ms)
{
    char sql[64];
    int rc;

    snprintf(sql, sizeof sql, r->be->set_busy, ms);
    rc = dal_exec(r->db, sql);
    if (rc == DAL_OK)
        r->busy_now = ms;
    return rc;
}

/* End a run: release the lock and restore what the run changed, on
 * every path, keeping the run's error. Returns rc. */
static int run_end(struct run *r, int rc)
{
    char sql[64];

    if (r->db && r->be) {
        if (r->own_tx)
            rollback_all(r->db);
        if (r->locked)
            exec_keeping_error(r->db, r->be->unlock);
        if (r->busy_now != r->busy_saved && r->busy_saved >= 0) {
            snprintf(sql, sizeof sql, r->be->set_busy, r->busy_saved);
            exec_keeping_error(r->db, sql);
        }
    }
    r->locked = 0;
    if (r->origin_set) {
        r->db->obs_origin = r->origin_saved;
        r->origin_set = 0;
    }
    hist_free(r);
    dal__free(r->sums);
    r->sums = NULL;
    return rc;
}

/*
 * Take the run's lock where the backend has one (PostgreSQL's advisory
 * lock), polling until the lock timeout. On SQLite, remember the busy
 * timeout, which each step's BEGIN IMMEDIATE shortens to what is left
 * of the lock timeout.
 */
static int run_lock(struct run *r)
{
    int64_t deadline, got, left;
    int rc;

    if (!r->lock)
        return DAL_OK;
    if (r->be->get_busy) {
        rc = dal_query_int64(r->db, r->be->get_busy, NULL, 0, &got);
        if (rc != DAL_OK)
            return rc;
        r->busy_saved = r->busy_now = got < 0 ? 0
                        : got > 0x7fffffff ? 0x7fffffff : (int)got;
    }
    if (!r->be->try_lock)
        return DAL_OK;
    deadline = dal_clock_ns() + (int64_t)r->m->lock_timeout * 1000000;
    for (;;) {
        rc = dal_query_int64(r->db, r->be->try_lock, NULL, 0, &got);
        if (rc != DAL_OK)
            return rc;
        if (got) {
            r->locked = 1;
            return DAL_OK;
        }
        left = (deadline - dal_clock_ns()) / 1000000;
        if (left <= 0)
            return dal__seterrf(r->db, DAL_E_TIMEOUT, "55P03", "%s: timed "
                                "out after %d ms waiting for the migration "
                                "lock (advisory lock %s): another session "
                                "is migrating this database", r->fn,
                                r->m->lock_timeout, PG_LOCK_KEY);
        dal__sleep_ms(left < LOCK_POLL_MS ? left : LOCK_POLL_MS);
    }
}

/*
 * Open a step's transaction. On SQLite it takes the write lock at once
 * (BEGIN IMMEDIATE), waiting for another writer at most the lock
 * timeout: the busy handler waits up to the connection's busy timeout
 * (cut to the time left), and a BEGIN that still found the database
 * locked is tried again until the time is up.
 */
static int run_begin(struct run *r)
{
    int64_t deadline, left;
    int rc, want;

    if (!r->lock || !r->be->tx_flags)
        return dal_begin(r->db, 0);
    deadline = dal_clock_ns() + (int64_t)r->m->lock_timeout * 1000000;
    for (;;) {
        left = (deadline - dal_clock_ns()) / 1000000;
        if (left <= 0)
            return dal__seterrf(r->db, DAL_E_TIMEOUT, "55P03", "%s: timed "
                                "out after %d ms waiting for the database's "
                                "write lock: another connection is "
                                "migrating or writing", r->fn,
                                r->m->lock_timeout);
        want = r->busy_saved < left ? r->busy_saved : (int)left;
        if (r->be->set_busy && want != r->busy_now
            && (rc = set_busy(r, want)) != DAL_OK)
            return rc;
        rc = dal_begin(r->db, r->be->tx_flags);
        if (rc != DAL_E_BUSY)
            break;
        dal__sleep_ms(left < BUSY_RETRY_MS ? left : BUSY_RETRY_MS);
    }
    if (rc == DAL_OK && r->be->set_busy && r->busy_now != r->busy_saved
        && (rc = set_busy(r, r->busy_saved)) != DAL_OK)
        rollback_all(r->db);
    return rc;
}

/* Copy the text of column col of st's row; DAL_NOMEM when out of memory. */
static int column_dup(dal_stmt *st, int col, char **out)
{
    const char *s;
    size_t n;

    s = dal_column_text(st, col, &n);
    *out = s ? dal__strndup(s, n) : NULL;
    return *out ? DAL_OK : DAL_NOMEM;
}

/*
 * Read the history into r->h. When the table does not exist: create it
 * when create is set (inside the step's transaction, so it commits with
 * the step's history row), else read it as empty.
 */
static int run_read(struct run *r, int create)
{
    struct hist *h;
    dal_stmt *st;
    int64_t exists;
    int rc, cap = 0;

    hist_free(r);
    if (!r->have_table) {
        rc = dal_query_int64(r->db, r->be->has_table, NULL, 0, &exists);
        if (rc != DAL_OK)
            return rc;
        if (!exists && !create)
            return DAL_OK;
        if (!exists && (rc = dal_exec(r->db, create_sql)) != DAL_OK)
            return rc;
        r->have_table = 1;
    }
    if ((rc = dal_prepare(r->db, select_sql, &st)) != DAL_OK)
        return rc;
    while ((rc = dal_step(st)) == DAL_ROW) {
        if (r->nh == cap) {
            cap = cap ? cap * 2 : 16;
            h = cap < 0x1000000 ? dal__realloc(r->h, (size_t)cap * sizeof *h)
                                : NULL;
            if (!h) {
                rc = nomem(r->db);
                break;
            }
            r->h = h;
        }
        h = &r->h[r->nh];
        memset(h, 0, sizeof *h);
        r->nh++;
        h->version = dal_column_int64(st, 0);
        h->duration_ms = dal_column_int64(st, 4);
        if (column_dup(st, 1, &h->name) != DAL_OK
            || column_dup(st, 2, &h->checksum) != DAL_OK
            || column_dup(st, 3, &h->applied_at) != DAL_OK) {
            rc = nomem(r->db);
            break;
        }
    }
    dal_finalize(st);
    return rc == DAL_DONE ? DAL_OK : rc;
}

/* Refuse to run when the history and the set disagree (drift). */
static int run_check(struct run *r)
{
    const struct hist *h;
    int i, k;

    for (i = 0; i < r->nh; i++) {
        h = &r->h[i];
        k = mig_find(r->m->v, r->m->n, h->version);
        if (k < 0)
            return dal__seterrf(r->db, DAL_E_MISUSE, NULL, "%s: migration "
                                "%lld (%s) is applied but missing from the "
                                "migration set; refusing to run", r->fn,
                                (long long)h->version, h->name);
        if (strcmp(h->checksum, r->sums[k]))
            return dal__seterrf(r->db, DAL_E_MISUSE, NULL, "%s: migration "
                                "%lld (%s) changed since it was applied "
                                "(checksum %.12s... applied, %.12s... "
                                "now); refusing to run", r->fn,
                                (long long)h->version, r->m->v[k].name,
                                h->checksum,
                                r->sums[k][0] ? r->sums[k] : "(none)");
    }
    return DAL_OK;
}

/*
 * Put the migration's version and name in front of the error on db,
 * keeping its code, SQLSTATE and details: "migration 3 (add_index): ...".
 */
static int name_error(struct run *r, const struct mig *g, const char *what)
{
    struct dal__err *e = &r->db->err;
    char state[6];
    char *msg;
    int rc = e->code != DAL_OK ? e->code : DAL_ERROR;

    memcpy(state, e->sqlstate, sizeof state);
    msg = dal__asprintf("migration %lld (%s)%s: %s", (long long)g->version,
                        g->name, what, dal_errmsg(r->db));
    if (msg) {
        dal__seterr(r->db, rc, state, e->native, msg, e->detail, e->hint,
                    e->constraint);
        dal__free(msg);
    }
    return rc;
}

/* Run a step's SQL script or function. */
static int run_body(struct run *r, const struct mig *g, int dir)
{
    int vi, rc;

    if (!g->fn[dir])
        return dal_exec(r->db, mig_text(r, g, dir, &vi));
    rc = g->fn[dir](r->db, g->arg);
    if (rc == DAL_OK)
        return DAL_OK;
    if (dal_errcode(r->db) != DAL_OK)
        return dal_errcode(r->db);
    /* A known result code keeps its meaning; anything else is an error
     * with a message, not a number no caller could look up. */
    return dal__seterrf(r->db, rc > 0 && rc <= DAL_E_RATE_LIMITED
                               ? rc : DAL_ERROR, NULL,
                        "the %s() function returned %d",
                        dir == UP ? "up" : "down", rc);
}

static void utc_now(char out[20])
{
    time_t t = time(NULL);
    struct tm tm;

    if (!gmtime_r(&t, &tm) || !strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm))
        memcpy(out, "1970-01-01 00:00:00", 20);
}

/* Write the history row of a step: insert for up, delete for down. */
static int write_history(struct run *r, int gi, int dir, int64_t ms)
{
    const struct mig *g = &r->m->v[gi];
    char at[20];

    if (dir == DOWN) {
        dal_value p[] = {DAL_V_INT64(g->version)};

        return dal_exec_params(r->db, delete_sql, p, 1);
    }
    utc_now(at);
    {
        dal_value p[] = {DAL_V_INT64(g->version), DAL_V_TEXT(g->name),
                         DAL_V_TEXT(r->sums[gi]), DAL_V_TEXT(at),
                         DAL_V_INT64(ms)};

        return dal_exec_params(r->db, insert_sql, p, 5);
    }
}

/*
 * Run step gi in direction dir, with its history row, and commit. The
 * step's transaction is open (run_begin) and the history was read in it.
 * A migration marked no-transaction ends that transaction first, runs
 * outside one, and records its history in a new transaction afterwards.
 */
static int run_step(struct run *r, int gi, int dir)
{
    const struct mig *g = &r->m->v[gi];
    const struct hist *h;
    int64_t t0, ms;
    int vi, rc, notx;

    if (!mig_text(r, g, dir, &vi) && !g->fn[dir]) {
        rc = dir == UP
             ? dal__seterrf(r->db, DAL_E_UNSUPPORTED, NULL, "%s: migration "
                            "%lld (%s) has no up step for %s", r->fn,
                            (long long)g->version, g->name, r->be->name)
             : dal__seterrf(r->db, DAL_E_UNSUPPORTED, NULL, "%s: migration "
                            "%lld (%s) has no down step", r->fn,
                            (long long)g->version, g->name);
        rollback_all(r->db);
        return rc;
    }
    notx = g->notx[dir][vi];
    if (r->m->progress)
        r->m->progress(g->version, g->name, dir == UP, 0, 0.0,
                       r->m->progress_arg);
    t0 = dal_clock_ns();
    if (notx) {
        /* Commit what the reading transaction did (creating the history
         * table), so that nothing of it is held while the step runs. */
        if ((rc = dal_commit(r->db)) != DAL_OK) {
            rollback_all(r->db);
            return rc;
        }
        if ((rc = run_body(r, g, dir)) != DAL_OK)
            return name_error(r, g, dir == UP ? ", outside a transaction"
                              : ", down, outside a transaction");
        ms = (dal_clock_ns() - t0) / 1000000;
        if ((rc = run_begin(r)) != DAL_OK)
            return name_error(r, g, dir == UP ? ", recording it"
                              : ", down, recording it");
        /* Without a lock for the whole run (SQLite), another process may
         * have run and recorded the same step meanwhile. */
        if ((rc = run_read(r, 1)) != DAL_OK) {
            rollback_all(r->db);
            return rc;
        }
        h = hist_find(r, g->version);
        rc = (dir == UP) == (h != NULL) ? DAL_OK
             : write_history(r, gi, dir, ms);
    } else {
        rc = run_body(r, g, dir);
        if (rc == DAL_OK && dal_tx_depth(r->db) != 1)
            rc = dal__seterrf(r->db, DAL_E_TX, "25000", "the step ended "
                              "the migration's transaction or left a "
                              "savepoint open");
        ms = (dal_clock_ns() - t0) / 1000000;
        if (rc == DAL_OK)
            rc = write_history(r, gi, dir, ms);
    }
    if (rc == DAL_OK)
        rc = dal_commit(r->db);
    if (rc != DAL_OK) {
        rc = name_error(r, g, dir == UP ? "" : ", down");
        rollback_all(r->db);
        return rc;
    }
    if (r->m->progress)
        r->m->progress(g->version, g->name, dir == UP, 1,
                       (double)(dal_clock_ns() - t0) / 1e6, r->m->progress_arg);
    return DAL_OK;
}

/* Start a step's transaction and read the history in it, checked. */
static int step_open(struct run *r, int create)
{
    int rc;

    if ((rc = run_begin(r)) != DAL_OK)
        return rc;
    rc = run_read(r, create);
    if (rc == DAL_OK)
        rc = run_check(r);
    if (rc != DAL_OK)
        rollback_all(r->db);
    return rc;
}

/* The next migration to apply: pending, at most target (0: any), and
 * only version when only is not 0. -1 when there is none. */
static int next_up(const struct run *r, int64_t target, int64_t only)
{
    int i;

    for (i = 0; i < r->m->n; i++) {
        int64_t v = r->m->v[i].version;

        if (target > 0 && v > target)
            break;
        if ((only == 0 || v == only) && !hist_find(r, v))
            return i;
    }
    return -1;
}

/* The next history row to undo, or NULL: the latest, while fewer than
 * steps were undone (steps > 0) or above target (steps 0). */
static const struct hist *next_down(const struct run *r, int steps,
                                    int64_t target, int done)
{
    const struct hist *h;

    if (r->nh == 0 || (steps > 0 && done >= steps))
        return NULL;
    h = &r->h[r->nh - 1];
    return steps > 0 || h->version > target ? h : NULL;
}

static int up_loop(struct run *r, int64_t target, int64_t only, int *count)
{
    int gi, rc;

    for (;;) {
        if ((rc = step_open(r, 1)) != DAL_OK)
            return rc;
        if ((gi = next_up(r, target, only)) < 0) {
            rc = dal_commit(r->db);
            return rc;
        }
        if ((rc = run_step(r, gi, UP)) != DAL_OK)
            return rc;
        (*count)++;
    }
}

static int down_loop(struct run *r, int steps, int64_t target, int *count,
                     int64_t *last)
{
    const struct hist *h;
    int rc;

    for (;;) {
        if (steps > 0 && *count >= steps)
            return DAL_OK;
        if ((rc = step_open(r, 0)) != DAL_OK)
            return rc;
        if (!(h = next_down(r, steps, target, *count))) {
            rc = dal_commit(r->db);
            return rc;
        }
        *last = h->version;
        /* run_check() found every history row in the set. */
        rc = run_step(r, mig_find(r->m->v, r->m->n, h->version), DOWN);
        if (rc != DAL_OK)
            return rc;
        (*count)++;
    }
}

/* ---- dry runs ------------------------------------------------------- */

/* Report each statement of a step, trimmed, one per call. */
static int dry_body(struct run *r, const struct mig *g, int dir)
{
    const char *p, *s, *e, *text;
    char *one;
    size_t n;
    int vi;

    if (g->fn[dir]) {
        one = dal__asprintf("-- %s() function of migration %lld (%s)",
                            dir == UP ? "up" : "down",
                            (long long)g->version, g->name);
        if (!one)
            return nomem(r->db);
        r->m->dry(g->version, one, r->m->dry_arg);
        dal__free(one);
        return DAL_OK;
    }
    text = mig_text(r, g, dir, &vi);
    for (p = text; *p; p += n) {
        n = dal__sql_stmt_end(p);
        e = p + n;
        if (e[-1] == ';')
            e--;
        if (dal__sql_is_blank(p, (size_t)(e - p)))
            continue;
        for (s = p; s < e && strchr(" \t\r\n\f\v", *s); s++)
            ;
        while (e > s && strchr(" \t\r\n\f\v;", e[-1]))
            e--;
        if (!(one = dal__strndup(s, (size_t)(e - s))))
            return nomem(r->db);
        r->m->dry(g->version, one, r->m->dry_arg);
        dal__free(one);
    }
    return DAL_OK;
}

/* s as an SQL string literal into b. */
static int add_literal(dal__buf *b, const char *s)
{
    int rc = dal__buf_addc(b, '\'');

    for (; rc == DAL_OK && *s; s++)
        rc = *s == '\'' ? dal__buf_adds(b, "''") : dal__buf_addc(b, *s);
    return rc == DAL_OK ? dal__buf_addc(b, '\'') : rc;
}

/* Report a step's history write with its values written in. */
static int dry_history(struct run *r, int gi, int dir)
{
    const struct mig *g = &r->m->v[gi];
    dal__buf b = {0};
    char num[32], at[20];
    int rc;

    snprintf(num, sizeof num, "%lld", (long long)g->version);
    if (dir == DOWN) {
        rc = dal__buf_adds(&b, "DELETE FROM dal_migrations WHERE version = ");
        if (rc == DAL_OK)
            rc = dal__buf_adds(&b, num);
    } else {
        utc_now(at);
        rc = dal__buf_adds(&b, "INSERT INTO dal_migrations (version, name, "
                           "checksum, applied_at, duration_ms) VALUES (");
        if (rc == DAL_OK)
            rc = dal__buf_adds(&b, num);
        if (rc == DAL_OK)
            rc = dal__buf_adds(&b, ", ");
        if (rc == DAL_OK)
            rc = add_literal(&b, g->name);
        if (rc == DAL_OK)
            rc = dal__buf_adds(&b, ", ");
        if (rc == DAL_OK)
            rc = add_literal(&b, r->sums[gi]);
        if (rc == DAL_OK)
            rc = dal__buf_adds(&b, ", ");
        if (rc == DAL_OK)
            rc = add_literal(&b, at);
        if (rc == DAL_OK)
            rc = dal__buf_adds(&b, ", 0)");
    }
    if (rc != DAL_OK) {
        dal__buf_free(&b);
        return nomem(r->db);
    }
    r->m->dry(g->version, b.p, r->m->dry_arg);
    dal__buf_free(&b);
    return DAL_OK;
}

static int dry_step(struct run *r, int gi, int dir)
{
    const struct mig *g = &r->m->v[gi];
    int vi, rc;

    if (!mig_text(r, g, dir, &vi) && !g->fn[dir])
        return dir == UP
               ? dal__seterrf(r->db, DAL_E_UNSUPPORTED, NULL, "%s: "
                              "migration %lld (%s) has no up step for %s",
                              r->fn, (long long)g->version, g->name,
                              r->be->name)
               : dal__seterrf(r->db, DAL_E_UNSUPPORTED, NULL, "%s: "
                              "migration %lld (%s) has no down step",
                              r->fn, (long long)g->version, g->name);
    if ((rc = dry_body(r, g, dir)) != DAL_OK)
        return rc;
    return dry_history(r, gi, dir);
}

/* Read the history as it is (nothing created, nothing locked), checked. */
static int dry_open(struct run *r)
{
    int rc = run_read(r, 0);

    return rc == DAL_OK ? run_check(r) : rc;
}

static int dry_up(struct run *r, int64_t target, int *count)
{
    int i, rc;

    if ((rc = dry_open(r)) != DAL_OK)
        return rc;
    for (i = 0; i < r->m->n; i++) {
        if (target > 0 && r->m->v[i].version > target)
            break;
        if (hist_find(r, r->m->v[i].version))
            continue;
        if ((rc = dry_step(r, i, UP)) != DAL_OK)
            return rc;
        (*count)++;
    }
    return DAL_OK;
}

static int dry_down(struct run *r, int steps, int64_t target, int *count)
{
    int i, rc;

    if ((rc = dry_open(r)) != DAL_OK)
        return rc;
    for (i = r->nh - 1; i >= 0; i--) {
        if (steps > 0 ? *count >= steps : r->h[i].version <= target)
            break;
        rc = dry_step(r, mig_find(r->m->v, r->m->n, r->h[i].version), DOWN);
        if (rc != DAL_OK)
            return rc;
        (*count)++;
    }
    return DAL_OK;
}

/* ---- the API -------------------------------------------------------- */

int dal_migrate_up(dal_db *db, dal_migrator *m, int64_t target,
                   int *applied)
{
    struct run r;
    int count = 0, rc;

    if (applied)
        *applied = 0;
    rc = run_start(&r, db, m, "dal_migrate_up", 0);
    if (rc == DAL_OK && target < 0)
        rc = dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_migrate_up: target "
                          "%lld is negative", (long long)target);
    if (rc == DAL_OK && r.dry)
        rc = dry_up(&r, target, &count);
    else if (rc == DAL_OK && (rc = run_lock(&r)) == DAL_OK)
        rc = up_loop(&r, target, 0, &count);
    if (applied)
        *applied = count;
    return run_end(&r, rc);
}

int dal_migrate_down(dal_db *db, dal_migrator *m, int steps, int64_t target,
                     int *undone)
{
    struct run r;
    int64_t last = 0;
    int count = 0, rc;

    if (undone)
        *undone = 0;
    rc = run_start(&r, db, m, "dal_migrate_down", 0);
    if (rc == DAL_OK && (steps < 0 || target < 0))
        rc = dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_migrate_down: "
                          "steps (%d) and target (%lld) may not be "
                          "negative", steps, (long long)target);
    if (rc == DAL_OK && r.dry)
        rc = dry_down(&r, steps, target, &count);
    else if (rc == DAL_OK && (rc = run_lock(&r)) == DAL_OK)
        rc = down_loop(&r, steps, target, &count, &last);
    if (undone)
        *undone = count;
    return run_end(&r, rc);
}

int dal_migrate_redo(dal_db *db, dal_migrator *m)
{
    struct run r;
    int64_t last = 0;
    int count = 0, gi, rc;

    rc = run_start(&r, db, m, "dal_migrate_redo", 0);
    if (rc == DAL_OK && r.dry) {
        if ((rc = dry_open(&r)) == DAL_OK && r.nh > 0) {
            gi = mig_find(m->v, m->n, r.h[r.nh - 1].version);
            rc = dry_step(&r, gi, DOWN);
            if (rc == DAL_OK)
                rc = dry_step(&r, gi, UP);
        }
        last = r.nh > 0 ? r.h[r.nh - 1].version : 0;
    } else if (rc == DAL_OK && (rc = run_lock(&r)) == DAL_OK) {
        rc = down_loop(&r, 1, 0, &count, &last);
        /* Apply exactly the migration undone, not others pending below
         * it. */
        if (rc == DAL_OK && count == 1)
            rc = up_loop(&r, 0, last, &count);
    }
    if (rc == DAL_OK && last == 0)
        rc = dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_migrate_redo: no "
                          "migration is applied");
    return run_end(&r, rc);
}

static char *dup_or_null(const char *s)
{
    return s ? dal__strdup(s) : NULL;
}

void dal_migrate_status_free(dal_migration_status *list, int n)
{
    int i;

    if (!list)
        return;
    for (i = 0; i < n; i++) {
        dal__free((char *)(uintptr_t)list[i].name);
        dal__free((char *)(uintptr_t)list[i].applied_at);
    }
    dal__free(list);
}

int dal_migrate_status(dal_db *db, dal_migrator *m,
                       dal_migration_status **list, int *n)
{
    dal_migration_status *v = NULL, *s;
    const struct hist *h;
    struct run r;
    int i = 0, j = 0, k = 0, rc;

    if (list)
        *list = NULL;
    if (n)
        *n = 0;
    rc = run_start(&r, db, m, "dal_migrate_status", 1);
    if (rc == DAL_OK && (!list || !n))
        rc = dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_migrate_status: "
                          "list or n is NULL");
    if (rc == DAL_OK)
        rc = run_read(&r, 0);
    if (rc == DAL_OK && m->n + r.nh > 0
        && !(v = dal__calloc((size_t)(m->n + r.nh), sizeof *v)))
        rc = nomem(db);
    /* Merge the set and the history, both sorted by version. */
    while (rc == DAL_OK && (i < m->n || j < r.nh)) {
        const struct mig *g = i < m->n ? &m->v[i] : NULL;

        h = j < r.nh ? &r.h[j] : NULL;
        s = &v[k++];
        if (g && (!h || g->version <= h->version)) {
            s->version = g->version;
            s->name = dal__strdup(g->name);
            if (h && h->version == g->version) {
                s->state = strcmp(h->checksum, r.sums[i])
                           ? DAL_MIG_CHANGED : DAL_MIG_APPLIED;
                j++;
            } else {
                s->state = DAL_MIG_PENDING;
                h = NULL;
            }
            i++;
        } else {
            s->version = h->version;
            s->name = dal__strdup(h->name);
            s->state = DAL_MIG_MISSING;
            j++;
        }
        s->applied_at = h ? dup_or_null(h->applied_at) : NULL;
        s->duration_ms = h ? h->duration_ms : -1;
        if (!s->name || (h && !s->applied_at))
            rc = nomem(db);
    }
    if (rc != DAL_OK) {
        dal_migrate_status_free(v, k);
        return run_end(&r, rc);
    }
    *list = v;
    *n = k;
    return run_end(&r, DAL_OK);
}

/* ---- auto-migrate (dal_open's auto_migrate=NAME) --------------------- */

#define MAX_REGISTERED 16

static struct {
    char *name;
    dal_migrator *m;
} registry[MAX_REGISTERED];

int dal_migrator_register(const char *name, dal_migrator *m)
{
    int i, free_slot = -1;

    if (!name || !*name)
        return DAL_E_MISUSE;
    for (i = 0; i < MAX_REGISTERED; i++) {
        if (registry[i].name && !strcmp(registry[i].name, name)) {
            if (m) {
                registry[i].m = m;
            } else {
                dal__free(registry[i].name);
                registry[i].name = NULL;
                registry[i].m = NULL;
            }
            return DAL_OK;
        }
        if (!registry[i].name && free_slot < 0)
            free_slot = i;
    }
    if (!m)
        return DAL_OK;
    if (free_slot < 0)
        return DAL_E_MISUSE;
    if (!(registry[free_slot].name = dal__strdup(name)))
        return DAL_NOMEM;
    registry[free_slot].m = m;
    return DAL_OK;
}

int dal__auto_migrate(dal_db *db, const char *name)
{
    for (int i = 0; i < MAX_REGISTERED; i++) {
        dal_migrator *m = registry[i].m;
        void (*dry)(int64_t, const char *, void *);
        int rc;

        if (!registry[i].name || strcmp(registry[i].name, name))
            continue;
        /* A dry run set on the shared set must not turn the open's
         * migration into a mere listing. */
        dry = m->dry;
        m->dry = NULL;
        rc = dal_migrate_up(db, m, 0, NULL);
        m->dry = dry;
        return rc;
    }
    return dal__seterrf(db, DAL_E_URL, "08001", "auto_migrate=%s: no "
                        "migration set is registered under that name "
                        "(dal_migrator_register)", name);
}
