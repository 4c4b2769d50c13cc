/*
 * dal.c - the `dal` command-line tool: migrations, a ping with latency
 * figures, the schema of a database, and ad-hoc SQL as a table.
 *
 *   dal migrate up|down|redo|status|new NAME [--dir D] [--url URL]
 *               [--dry-run] [--target V] [--steps N]
 *   dal ping [URL] [--count N]
 *   dal schema [URL]
 *   dal sql [URL] "SELECT ..."
 *   dal stats [URL] [FILE]
 *
 * The URL comes from the argument or --url, else from $DAL_URL.
 * Exit codes: 0 success, 1 a database or migration error, 2 bad usage.
 * Messages never show a password (libdal's own messages mask it).
 */
#include <dal.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_DB 1
#define EXIT_USAGE 2

static const char *prog = "dal";

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see %s --help)\n", prog);
    return EXIT_USAGE;
}

static int db_error(dal_db *db, const char *what)
{
    fprintf(stderr, "%s: %s: %s (SQLSTATE %s)\n", prog, what,
            dal_errmsg(db), dal_sqlstate(db));
    return EXIT_DB;
}

static const char main_help[] =
    "usage: dal COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  migrate up|down|redo|status|new   run or inspect migrations\n"
    "  ping [URL]                        connect; server version, latency\n"
    "  schema [URL]                      the tables of a database\n"
    "  diff URL_A URL_B [--rename H]     the SQL that takes A to B\n"
    "  sql [URL] \"SQL\"                   run SQL, print rows as a table\n"
    "  stats [URL] [FILE]                run SQL, print Prometheus metrics\n"
    "\n"
    "The URL comes from the argument or --url, else from $DAL_URL:\n"
    "  sqlite:app.db, sqlite:///abs/app.db, sqlite::memory:,\n"
    "  postgres://user@host:5432/db (any libpq URI).\n"
    "Exit codes: 0 success, 1 database or migration error, 2 bad usage.\n"
    "`dal COMMAND --help` describes a command; man 1 dal.\n";

/* Options shared by the commands. */
typedef struct opts {
    const char *url;
    const char *dir;
    int dry_run;
    long long target;
    int steps;
    int count;
    int help;
    const char *pos[4];
    int npos;
} opts;

static int parse_long(const char *s, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    return !*s || *end || errno;
}

/* Parse argv[first..]: options anywhere, the rest positional. */
static int parse(int argc, char **argv, int first, opts *o)
{
    int i;
    long long v;

    memset(o, 0, sizeof *o);
    o->dir = "migrations";
    o->count = 10;
    o->steps = -1;
    for (i = first; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            o->help = 1;
        } else if (!strcmp(a, "--dry-run")) {
            o->dry_run = 1;
        } else if (!strcmp(a, "--url") || !strcmp(a, "--dir")
                   || !strcmp(a, "--target") || !strcmp(a, "--steps")
                   || !strcmp(a, "--count")) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            if (!strcmp(a, "--url"))
                o->url = argv[++i];
            else if (!strcmp(a, "--dir"))
                o->dir = argv[++i];
            else if (parse_long(argv[++i], &v) || v < 0
                     || (strcmp(a, "--target") && v > 1000000))
                return usage_error("%s takes a number, not '%s'", a,
                                   argv[i]);
            else if (!strcmp(a, "--target"))
                o->target = v;
            else if (!strcmp(a, "--steps"))
                o->steps = (int)v;
            else
                o->count = (int)v;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (o->npos < 4) {
            o->pos[o->npos++] = a;
        } else {
            return usage_error("too many arguments");
        }
    }
    return 0;
}

/* The URL: --url, a positional argument (when url_pos), or $DAL_URL. */
static const char *pick_url(opts *o, int url_pos)
{
    if (o->url)
        return o->url;
    if (url_pos && o->npos > 0) {
        const char *u = o->pos[0];

        memmove(o->pos, o->pos + 1, sizeof o->pos - sizeof o->pos[0]);
        o->npos--;
        return u;
    }
    return getenv("DAL_URL");
}

static int open_db(const char *url, dal_db **db)
{
    if (!url || !*url) {
        fprintf(stderr, "%s: no database URL: give one, --url, or set "
                "DAL_URL\n", prog);
        return EXIT_USAGE;
    }
    if (dal_open(url, db) != DAL_OK) {
        int rc = dal_errcode(*db) == DAL_E_URL ? EXIT_USAGE : EXIT_DB;

        fprintf(stderr, "%s: %s\n", prog, dal_errmsg(*db));
        dal_close(*db);
        *db = NULL;
        return rc;
    }
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- dal ping -------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static int cmd_ping(int argc, char **argv)
{
    const char *url;
    dal_db *db = NULL;
    dal_stmt *st = NULL;
    double *t, start;
    char *version = NULL;
    int64_t one;
    opts o;
    int rc, i;

    if ((rc = parse(argc, argv, 2, &o)))
        return rc;
    if (o.help) {
        printf("usage: dal ping [URL] [--count N]\n\n"
               "Connect, print the server's version and the round-trip "
               "time of\nN trivial queries (default 10): min, median and "
               "p99 in ms.\n");
        return 0;
    }
    url = pick_url(&o, 1);
    if (o.npos)
        return usage_error("ping takes one URL");
    if (o.count < 1)
        return usage_error("--count must be at least 1");
    start = now_ms();
    if ((rc = open_db(url, &db)))
        return rc;
    printf("connected to %s in %.2f ms\n", dal_backend(db),
           now_ms() - start);
    rc = dal_query_text(db, strcmp(dal_backend(db), "sqlite")
                            ? "SHOW server_version"
                            : "SELECT 'SQLite ' || sqlite_version()",
                        NULL, 0, &version, NULL);
    if (rc) {
        rc = db_error(db, "version");
        dal_close(db);
        return rc;
    }
    printf("server: %s\n", version);
    dal_free(version);
    t = malloc((size_t)o.count * sizeof *t);
    if (!t || dal_prepare(db, "SELECT 1", &st) != DAL_OK) {
        free(t);
        rc = db_error(db, "ping");
        dal_close(db);
        return rc;
    }
    for (i = 0; i < o.count; i++) {
        start = now_ms();
        rc = dal_step(st);
        one = dal_column_int64(st, 0);
        dal_reset(st);
        t[i] = now_ms() - start;
        if (rc != DAL_ROW || one != 1) {
            rc = db_error(db, "ping");
            free(t);
            dal_finalize(st);
            dal_close(db);
            return rc;
        }
    }
    qsort(t, (size_t)o.count, sizeof *t, cmp_double);
    printf("round trip over %d pings: min %.3f ms, median %.3f ms, "
           "p99 %.3f ms\n", o.count, t[0], t[o.count / 2],
           t[(o.count * 99 + 99) / 100 - 1]);
    free(t);
    dal_finalize(st);
    dal_close(db);
    return 0;
}

/* ---- dal schema ------------------------------------------------------ */

static int cmd_schema(int argc, char **argv)
{
    dal_schema *s;
    dal_db *db;
    char *text;
    opts o;
    int rc;

    if ((rc = parse(argc, argv, 2, &o)))
        return rc;
    if (o.help) {
        printf("usage: dal schema [URL]\n\nPrint the tables of the "
               "database: columns with their portable types,\nkeys, "
               "foreign keys and indexes, in the same form for SQLite "
               "and\nPostgreSQL.\n");
        return 0;
    }
    if ((rc = open_db(pick_url(&o, 1), &db)))
        return rc;
    if (o.npos) {
        dal_close(db);
        return usage_error("schema takes one URL");
    }
    if (dal_schema_read(db, &s) != DAL_OK) {
        rc = db_error(db, "schema");
        dal_close(db);
        return rc;
    }
    if (dal_schema_describe(s, &text) != DAL_OK) {
        dal_schema_free(s);
        dal_close(db);
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_DB;
    }
    fputs(text, stdout);
    dal_free(text);
    dal_schema_free(s);
    dal_close(db);
    return 0;
}

/* ---- dal diff -------------------------------------------------------- */

static int cmd_diff(int argc, char **argv)
{
    const char *hints[64];
    dal_schema *sa = NULL, *sb = NULL;
    dal_schema_op **ops = NULL;
    dal_db *a = NULL, *b = NULL;
    char *notes = NULL, *sql;
    int nhints = 0, nops = 0, i, rc;
    char **args;
    opts o;

    /* --rename H may repeat: take those out before the common parse. */
    args = calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return EXIT_DB;
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--rename") && i + 1 < argc && nhints < 64) {
            hints[nhints++] = argv[++i];
            continue;
        }
        args[i - 2 * nhints] = argv[i];
    }
    rc = parse(argc - 2 * nhints, args, 2, &o);
    free(args);
    if (rc)
        return rc;
    if (o.help) {
        printf("usage: dal diff URL_A URL_B [--rename table.old=new] "
               "[--rename old=new]\n\nPrint the schema operations, as "
               "SQL for A's backend, that take database A\nto the schema "
               "of database B. A rename is never guessed: a column or\n"
               "table that disappears while a like one appears is "
               "reported, not\ndropped; confirm it with --rename. Exit "
               "status 3 when something was\nreported.\n");
        return 0;
    }
    if (o.npos != 2)
        return usage_error("diff takes two URLs");
    if ((rc = open_db(o.pos[0], &a)) || (rc = open_db(o.pos[1], &b)))
        goto out;
    if (dal_schema_read(a, &sa) != DAL_OK) {
        rc = db_error(a, "schema of A");
        goto out;
    }
    if (dal_schema_read(b, &sb) != DAL_OK) {
        rc = db_error(b, "schema of B");
        goto out;
    }
    if (dal_schema_diff(sa, sb, hints, nhints, &ops, &nops, &notes)) {
        rc = usage_error("bad --rename hint (table.old=new or old=new)");
        goto out;
    }
    for (i = 0; i < nops; i++) {
        if (dal_schema_op_sql(a, ops[i], &sql) != DAL_OK) {
            rc = db_error(a, "diff");
            goto out;
        }
        fputs(sql, stdout);
        dal_free(sql);
    }
    if (!nops)
        printf("-- no differences\n");
    if (notes) {
        fprintf(stderr, "%s", notes);
        rc = 3;
    }
out:
    for (i = 0; i < nops; i++)
        dal_schema_op_free(ops[i]);
    dal_free(ops);
    dal_free(notes);
    dal_schema_free(sa);
    dal_schema_free(sb);
    dal_close(a);
    dal_close(b);
    return rc;
}

/* ---- dal sql --------------------------------------------------------- */

static int cmd_sql(int argc, char **argv)
{
    char ***cells = NULL;
    size_t *width = NULL;
    int rows = 0, ncols, rc, r, c;
    const char *sql;
    dal_stmt *st;
    dal_db *db;
    opts o;

    if ((rc = parse(argc, argv, 2, &o)))
        return rc;
    if (o.help) {
        printf("usage: dal sql [URL] \"SQL\"\n\nRun one statement and "
               "print its rows as an aligned table (NULL as\n'NULL'), "
               "or the number of rows it changed.\n");
        return 0;
    }
    if ((rc = open_db(pick_url(&o, o.npos > 1), &db)))
        return rc;
    if (o.npos != 1) {
        dal_close(db);
        return usage_error("sql takes one statement");
    }
    sql = o.pos[0];
    if (dal_prepare(db, sql, &st) != DAL_OK) {
        rc = db_error(db, "sql");
        dal_close(db);
        return rc;
    }
    while ((rc = dal_step(st)) == DAL_ROW) {
        ncols = dal_column_count(st);
        cells = realloc(cells, (size_t)(rows + 1) * sizeof *cells);
        if (!width)
            width = calloc((size_t)ncols, sizeof *width);
        if (!cells || !width || !(cells[rows] = calloc((size_t)ncols,
                                                       sizeof **cells))) {
            fprintf(stderr, "%s: out of memory\n", prog);
            exit(EXIT_DB);
        }
        for (c = 0; c < ncols; c++) {
            const char *v = dal_column_is_null(st, c)
                            ? "NULL" : dal_column_text(st, c, NULL);

            cells[rows][c] = strdup(v ? v : "");
            if (strlen(cells[rows][c]) > width[c])
                width[c] = strlen(cells[rows][c]);
        }
        rows++;
    }
    if (rc != DAL_DONE) {
        rc = db_error(db, "sql");
    } else {
        ncols = dal_column_count(st);
        if (ncols > 0) {
            if (!width && !(width = calloc((size_t)ncols, sizeof *width)))
                exit(EXIT_DB);
            for (c = 0; c < ncols; c++)
                if (strlen(dal_column_name(st, c)) > width[c])
                    width[c] = strlen(dal_column_name(st, c));
            for (c = 0; c < ncols; c++)
                printf("%s%-*s", c ? " | " : "", (int)width[c],
                       dal_column_name(st, c));
            printf("\n");
            for (c = 0; c < ncols; c++) {
                printf("%s", c ? "-+-" : "");
                for (size_t k = 0; k < width[c]; k++)
                    putchar('-');
            }
            printf("\n");
            for (r = 0; r < rows; r++) {
                for (c = 0; c < ncols; c++)
                    printf("%s%-*s", c ? " | " : "", (int)width[c],
                           cells[r][c]);
                printf("\n");
            }
            printf("(%d row%s)\n", rows, rows == 1 ? "" : "s");
        } else {
            printf("%lld row%s changed\n", (long long)dal_changes(db),
                   dal_changes(db) == 1 ? "" : "s");
        }
        rc = 0;
    }
    for (r = 0; r < rows; r++) {
        for (c = 0; c < dal_column_count(st); c++)
            free(cells[r][c]);
        free(cells[r]);
    }
    free(cells);
    free(width);
    dal_finalize(st);
    dal_close(db);
    return rc;
}

/* ---- dal migrate ----------------------------------------------------- */

static void print_dry(int64_t version, const char *sql, void *arg)
{
    (void)arg;
    printf("-- %lld\n%s;\n", (long long)version, sql);
}

static void print_progress(int64_t version, const char *name, int up,
                           int done, double ms, void *arg)
{
    (void)arg;
    if (!done)
        fprintf(stderr, "%s %04lld %s ... ", up ? "applying" : "reverting",
                (long long)version, name);
    else
        fprintf(stderr, "done (%.0f ms)\n", ms);
}

static const char *state_name(dal_migration_state s)
{
    switch (s) {
    case DAL_MIG_PENDING: return "pending";
    case DAL_MIG_APPLIED: return "applied";
    case DAL_MIG_CHANGED: return "CHANGED";
    default: return "MISSING";
    }
}

/* dal migrate new NAME: the next NNNN_name.up.sql / .down.sql pair. */
static int migrate_new(const opts *o)
{
    char path[4096];
    long long max = 0;
    FILE *f;
    const char *name = o->pos[1], *p;
    struct dirent *e;
    DIR *dir;

    for (p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '_'))
            return usage_error("a migration name takes a-z, 0-9 and _, "
                               "not '%s'", name);
    if (mkdir(o->dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prog, o->dir,
                strerror(errno));
        return EXIT_DB;
    }
    /* The next version after the highest in dir's file names. */
    if ((dir = opendir(o->dir)) != NULL) {
        while ((e = readdir(dir)) != NULL) {
            long long v = strtoll(e->d_name, NULL, 10);

            if (v > max)
                max = v;
        }
        closedir(dir);
    }
    for (int up = 1; up >= 0; up--) {
        snprintf(path, sizeof path, "%s/%04lld_%s.%s.sql", o->dir, max + 1,
                 name, up ? "up" : "down");
        f = fopen(path, "wx");
        if (!f) {
            fprintf(stderr, "%s: cannot create %s: %s\n", prog, path,
                    strerror(errno));
            return EXIT_DB;
        }
        fprintf(f, "-- %s: %s\n", up ? "apply" : "undo", name);
        fclose(f);
        printf("created %s\n", path);
    }
    return 0;
}

static int cmd_migrate(int argc, char **argv)
{
    dal_migration_status *list = NULL;
    dal_migrator *m = NULL;
    dal_db *db = NULL;
    const char *verb;
    int rc, n = 0, i, count = 0;
    opts o;

    if ((rc = parse(argc, argv, 2, &o)))
        return rc;
    if (o.help || !o.npos) {
        printf("usage: dal migrate up|down|redo|status|new NAME [--dir D]"
               " [--url URL]\n                   [--dry-run] [--target V]"
               " [--steps N]\n\n"
               "  up      apply pending migrations (up to --target)\n"
               "  down    undo the last one (--steps N, or down to "
               "--target)\n"
               "  redo    undo the last one and apply it again\n"
               "  status  list applied, pending and changed migrations\n"
               "  new     create NNNN_NAME.up.sql and .down.sql in the "
               "directory\n\n"
               "The directory defaults to ./migrations. --dry-run prints "
               "the SQL each\nstep would run and changes nothing.\n");
        return o.help ? 0 : EXIT_USAGE;
    }
    verb = o.pos[0];
    if (!strcmp(verb, "new")) {
        if (o.npos != 2)
            return usage_error("migrate new takes a NAME");
        return migrate_new(&o);
    }
    if (strcmp(verb, "up") && strcmp(verb, "down") && strcmp(verb, "redo")
        && strcmp(verb, "status"))
        return usage_error("unknown migrate command '%s'", verb);
    if (o.npos != 1)
        return usage_error("migrate %s takes no more arguments", verb);
    if (dal_migrator_new(&m) != DAL_OK) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_DB;
    }
    if (dal_migrator_load_dir(m, o.dir) != DAL_OK) {
        fprintf(stderr, "%s: %s\n", prog, dal_migrator_errmsg(m));
        dal_migrator_free(m);
        return EXIT_USAGE;
    }
    if ((rc = open_db(pick_url(&o, 0), &db))) {
        dal_migrator_free(m);
        return rc;
    }
    if (o.dry_run)
        dal_migrator_set_dry_run(m, print_dry, NULL);
    else if (isatty(STDERR_FILENO))
        dal_migrator_set_progress(m, print_progress, NULL);
    if (!strcmp(verb, "up")) {
        rc = dal_migrate_up(db, m, o.target, &count);
        if (!rc && !o.dry_run)
            printf("%d migration%s applied\n", count, count == 1 ? "" : "s");
    } else if (!strcmp(verb, "down")) {
        rc = dal_migrate_down(db, m, o.steps < 0 && !o.target ? 1
                                     : o.steps < 0 ? 0 : o.steps,
                              o.target, &count);
        if (!rc && !o.dry_run)
            printf("%d migration%s undone\n", count, count == 1 ? "" : "s");
    } else if (!strcmp(verb, "redo")) {
        rc = dal_migrate_redo(db, m);
    } else {
        rc = dal_migrate_status(db, m, &list, &n);
        for (i = 0; !rc && i < n; i++)
            printf("%04lld  %-8s  %-30s %s\n", (long long)list[i].version,
                   state_name(list[i].state), list[i].name,
                   list[i].applied_at ? list[i].applied_at : "");
        dal_migrate_status_free(list, n);
    }
    if (rc)
        rc = db_error(db, verb);
    dal_close(db);
    dal_migrator_free(m);
    return rc;
}

/* ---- dal stats ------------------------------------------------------- */

/* The whole of f in a malloc'd string, or NULL when memory runs out. */
static char *read_all(FILE *f)
{
    size_t len = 0, cap = 4096, n;
    char *buf = malloc(cap), *p;

    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* The statement statistics as comment lines, so that the output stays
 * one valid exposition. */
static void print_stats(dal_stats *s)
{
    dal_stat *st;
    size_t n, i;
    const char *q;

    if (dal_stats_snapshot(s, &st, &n) != DAL_OK) {
        fprintf(stderr, "%s: stats: out of memory\n", prog);
        return;
    }
    printf("\n# statement statistics, by total time (ms)\n"
           "# %7s %7s %8s %10s %9s %9s %9s  %s\n", "calls", "errors",
           "rows", "total", "mean", "max", "p99", "query");
    for (i = 0; i < n; i++) {
        printf("# %7llu %7llu %8llu %10.3f %9.3f %9.3f %9.3f  ",
               (unsigned long long)st[i].calls,
               (unsigned long long)st[i].errors,
               (unsigned long long)st[i].rows, st[i].total_ns / 1e6,
               st[i].mean_ns / 1e6, st[i].max_ns / 1e6,
               st[i].p99_ns / 1e6);
        for (q = st[i].query; *q; q++)
            putchar(*q == '\n' || *q == '\r' ? ' ' : *q);
        putchar('\n');
    }
    dal_free(st);
}

static int cmd_stats(int argc, char **argv)
{
    dal_observer *obs = NULL;
    dal_metrics *m = NULL;
    dal_stats *s = NULL;
    const char *url, *file;
    char *sql, *text = NULL;
    dal_db *db = NULL;
    FILE *f = stdin;
    opts o;
    int rc;

    if ((rc = parse(argc, argv, 2, &o)))
        return rc;
    if (o.help) {
        printf("usage: dal stats [URL] [FILE]\n\n"
               "Run the SQL statements of FILE (or of standard input, or "
               "of FILE -)\nonce each, in order, stopping at the first "
               "error, with metrics and\nstatement statistics attached; "
               "then print the metrics in the\nPrometheus text format, "
               "and after a blank line the statement\nstatistics as "
               "'#' comment lines (the output is one valid scrape).\n"
               "Exit 1 when a statement failed (the metrics are still "
               "printed).\nA single argument is the URL when it has a "
               "':', else FILE (the URL\nthen comes from --url or "
               "$DAL_URL).\n");
        return 0;
    }
    /* One argument is the URL when it looks like one (every URL has a
     * scheme and a colon), else the FILE, the URL coming from $DAL_URL. */
    url = pick_url(&o, o.npos > 1 || (o.npos == 1 && !o.url
                                      && strchr(o.pos[0], ':')));
    if (o.npos > 1)
        return usage_error("stats takes a URL and one FILE");
    file = o.npos ? o.pos[0] : "-";
    if (!url || !*url)
        return open_db(url, &db);
    if (strcmp(file, "-") && !(f = fopen(file, "r"))) {
        fprintf(stderr, "%s: stats: %s: %s\n", prog, file, strerror(errno));
        return EXIT_USAGE;
    }
    sql = read_all(f);
    if (f != stdin)
        fclose(f);
    if (!sql || dal_metrics_new(&m) || dal_stats_new(0, &s)
        || dal_observer_new(&obs) || dal_metrics_observe(m, obs)
        || dal_stats_observe(s, obs)) {
        fprintf(stderr, "%s: stats: out of memory\n", prog);
        rc = EXIT_DB;
        goto out;
    }
    if (dal_open_observed(url, obs, &db) != DAL_OK) {
        rc = dal_errcode(db) == DAL_E_URL ? EXIT_USAGE : EXIT_DB;
        fprintf(stderr, "%s: %s\n", prog, db ? dal_errmsg(db)
                : "out of memory");
        goto out;
    }
    rc = dal_exec(db, sql) == DAL_OK ? 0 : db_error(db, "stats");
    dal_close(db);
    db = NULL;
    if (dal_metrics_write_prometheus(m, &text, NULL) != DAL_OK) {
        fprintf(stderr, "%s: stats: out of memory\n", prog);
        rc = EXIT_DB;
        goto out;
    }
    fputs(text, stdout);
    dal_free(text);
    print_stats(s);
out:
    dal_close(db);
    dal_observer_free(obs);
    dal_stats_free(s);
    dal_metrics_free(m);
    free(sql);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(main_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("dal %s\n", dal_version());
        return 0;
    }
    if (!strcmp(argv[1], "migrate"))
        return cmd_migrate(argc, argv);
    if (!strcmp(argv[1], "ping"))
        return cmd_ping(argc, argv);
    if (!strcmp(argv[1], "schema"))
        return cmd_schema(argc, argv);
    if (!strcmp(argv[1], "sql"))
        return cmd_sql(argc, argv);
    if (!strcmp(argv[1], "diff"))
        return cmd_diff(argc, argv);
    if (!strcmp(argv[1], "stats"))
        return cmd_stats(argc, argv);
    return usage_error("unknown command '%s'", argv[1]);
}
