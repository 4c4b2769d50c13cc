/*
 * migrate.c - schema migrations defined in C: three versions (create a
 * table, add a column with an index, insert data), applied, one undone,
 * and applied again, with the status printed after each step. The
 * output is the same on SQLite and PostgreSQL.
 *
 *   build/examples/migrate                        (sqlite::memory:)
 *   build/examples/migrate postgres://user@localhost/db
 *
 * Migrations can also live in a directory of NNNN_name.up.sql /
 * NNNN_name.down.sql files: dal_migrator_load_dir().
 */
#include <dal.h>
#include <dal/migrate.h>
#include <stdio.h>

static const dal_migration migrations[] = {
    {.version = 1, .name = "create_notes",
     .up_sql = "CREATE TABLE ex_notes (id BIGINT PRIMARY KEY,"
               " body TEXT NOT NULL)",
     .down_sql = "DROP TABLE ex_notes"},
    {.version = 2, .name = "add_priority",
     .up_sql = "ALTER TABLE ex_notes"
               " ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;"
               "CREATE INDEX ex_notes_priority ON ex_notes (priority)",
     .down_sql = "DROP INDEX ex_notes_priority;"
                 "ALTER TABLE ex_notes DROP COLUMN priority"},
    {.version = 3, .name = "seed_notes",
     .up_sql = "INSERT INTO ex_notes (id, body, priority) VALUES"
               " (1, 'write the docs', 2), (2, 'buy milk', 1),"
               " (3, 'fix the build', 3)",
     .down_sql = "DELETE FROM ex_notes WHERE id IN (1, 2, 3)"},
};

static int fail(dal_db *db, dal_migrator *m, const char *what)
{
    fprintf(stderr, "migrate: %s: %s (SQLSTATE %s)\n", what,
            dal_errmsg(db), dal_sqlstate(db));
    dal_migrator_free(m);
    dal_close(db);
    return 1;
}

/* Called before and after each step; the duration is left out so that
 * the output does not change from run to run. */
static void progress(int64_t version, const char *name, int up, int done,
                     double ms, void *arg)
{
    (void)ms;
    (void)arg;
    if (done)
        printf("  %s %lld %s\n", up ? "applied" : "undone",
               (long long)version, name);
}

static int print_status(dal_db *db, dal_migrator *m)
{
    static const char *const states[] = {
        "?", "pending", "applied", "changed", "missing",
    };
    dal_migration_status *list;
    int i, n;

    if (dal_migrate_status(db, m, &list, &n) != DAL_OK)
        return -1;
    printf("status:\n");
    for (i = 0; i < n; i++)
        printf("  %04lld %-14s %s\n", (long long)list[i].version,
               list[i].name, states[list[i].state]);
    dal_migrate_status_free(list, n);
    return 0;
}

static int print_notes(dal_db *db)
{
    dal_stmt *st;
    int rc;

    if (dal_prepare(db, "SELECT priority, body FROM ex_notes"
                        " ORDER BY priority DESC", &st) != DAL_OK)
        return -1;
    printf("notes:\n");
    while ((rc = dal_step(st)) == DAL_ROW)
        printf("  %lld %s\n", (long long)dal_column_int64(st, 0),
               dal_column_text(st, 1, NULL));
    dal_finalize(st);
    return rc == DAL_DONE ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sqlite::memory:";
    dal_migrator *m = NULL;
    dal_db *db;
    int n;

    if (dal_open(url, &db) != DAL_OK)
        return fail(db, m, "open");
    /* Start from scratch, so that the example can run again on the same
     * database: its table and the migration history go first. */
    if (dal_exec(db, "DROP TABLE IF EXISTS ex_notes;"
                     "DROP TABLE IF EXISTS dal_migrations") != DAL_OK)
        return fail(db, m, "clean up");

    if (dal_migrator_new(&m) != DAL_OK) {
        fprintf(stderr, "migrate: out of memory\n");
        dal_close(db);
        return 1;
    }
    if (dal_migrator_add(m, migrations, 3) != DAL_OK) {
        fprintf(stderr, "migrate: %s\n", dal_migrator_errmsg(m));
        dal_migrator_free(m);
        dal_close(db);
        return 1;
    }
    dal_migrator_set_progress(m, progress, NULL);

    printf("up:\n");
    if (dal_migrate_up(db, m, 0, &n) != DAL_OK)
        return fail(db, m, "up");
    printf("%d applied\n", n);
    if (print_status(db, m) != 0 || print_notes(db) != 0)
        return fail(db, m, "status");

    printf("down 1:\n");
    if (dal_migrate_down(db, m, 1, 0, &n) != DAL_OK)
        return fail(db, m, "down");
    printf("%d undone\n", n);
    if (print_status(db, m) != 0 || print_notes(db) != 0)
        return fail(db, m, "status");

    printf("up again:\n");
    if (dal_migrate_up(db, m, 0, &n) != DAL_OK)
        return fail(db, m, "up");
    printf("%d applied\n", n);
    if (print_status(db, m) != 0 || print_notes(db) != 0)
        return fail(db, m, "status");

    dal_migrator_free(m);
    dal_close(db);
    return 0;
}
