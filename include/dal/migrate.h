/*
 * dal/migrate.h - the migration engine: versioned schema changes with
 * history, checksums, locking and rollback, on SQLite and PostgreSQL.
 *
 * A migration set comes from C (an array of dal_migration) or from a
 * directory of files:
 *   NNNN_name.up.sql          the change (portable SQL, a script)
 *   NNNN_name.down.sql        how to undo it (optional: without it, the
 *                             migration cannot go down)
 *   NNNN_name.up.sqlite.sql   per-backend variants, used instead of the
 *   NNNN_name.up.postgres.sql portable file on that backend (also .down)
 * NNNN is the version, a positive integer (leading zeros allowed); the
 * first line "-- dal: no-transaction" marks a migration that must run
 * outside a transaction (CREATE INDEX CONCURRENTLY).
 *
 * History lives in the table dal_migrations (version, name, checksum,
 * applied_at, duration_ms). A migration is applied in its own
 * transaction together with its history row, so a failure or a crash
 * leaves the history exactly at the previous version. Applying is locked
 * by default: a PostgreSQL advisory lock held by the migrating session,
 * or SQLite's write lock (BEGIN IMMEDIATE with a busy timeout); the
 * history is read again once the lock is held, so two processes that
 * migrate at once apply each migration exactly once.
 *
 * On PostgreSQL the lock is the session advisory lock
 * DAL_MIGRATE_PG_LOCK_KEY (per database), polled every 50 ms; on SQLite
 * each step's BEGIN IMMEDIATE waits at most the lock timeout. A
 * no-transaction migration runs between two transactions; on SQLite
 * nothing stops two processes from running such a step at once.
 */
#ifndef DAL_MIGRATE_H
#define DAL_MIGRATE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DAL_MIGRATE_PG_LOCK_KEY INT64_C(7233181633647044466)

/*
 * One migration defined in C. Give SQL (up_sql/down_sql, portable, or
 * the per-backend *_sqlite / *_postgres variants, which win on their
 * backend) or functions (up/down, called with db inside the migration's
 * transaction and arg). down_* NULL: the migration cannot go down.
 * A function may apply schema operations (dal_schema_apply); one that
 * SQLite runs as a table rebuild (alter or drop a column) switches
 * foreign keys outside any transaction, so mark such a migration
 * no_transaction: dal_schema_apply() then makes its own.
 * The checksum is the SHA-256 of the up text used on the backend
 * (editing a down text is not drift); a function migration's is that of
 * "<version> <name>".
 */
typedef struct dal_migration {
    int64_t version;
    const char *name;
    const char *up_sql;
    const char *down_sql;
    const char *up_sqlite, *down_sqlite;
    const char *up_postgres, *down_postgres;
    int (*up)(dal_db *db, void *arg);
    int (*down)(dal_db *db, void *arg);
    void *arg;
    int no_transaction;
} dal_migration;

typedef struct dal_migrator dal_migrator;

/* dal_migrator_new - an empty migration set; free it with
 * dal_migrator_free(). Returns DAL_OK or DAL_NOMEM. */
DAL_EXTERN int dal_migrator_new(dal_migrator **out);
DAL_EXTERN void dal_migrator_free(dal_migrator *m);

/* Add migrations defined in C (the structs and their strings must stay
 * valid while m is used). Duplicate versions are DAL_E_MISUSE. */
DAL_EXTERN int dal_migrator_add(dal_migrator *m, const dal_migration *v,
                                int n);

/*
 * Load every migration file of dir. Files not ending in .sql and hidden
 * files are ignored; a name is letters, digits, '_' and '-'. Malformed
 * names, duplicate versions, a .down without its .up, unreadable files
 * and an empty directory are errors (DAL_E_MISUSE with a message naming
 * the file, read with dal_migrator_errmsg()); nothing is loaded then.
 */
DAL_EXTERN int dal_migrator_load_dir(dal_migrator *m, const char *dir);

/* The message of m's last error (loading, options), or "". */
DAL_EXTERN const char *dal_migrator_errmsg(const dal_migrator *m);

/*
 * dal_migrator_register - make m the migration set called name, for the
 * URL option auto_migrate=name: dal_open() then runs dal_migrate_up() on
 * the new connection before returning, and fails with its error (the
 * connection closed) when that fails. m must stay valid while it is
 * registered; NULL m unregisters name. Register at start-up, before
 * connections are opened from other threads (the registry has no lock).
 * Returns DAL_OK, DAL_NOMEM, or DAL_E_MISUSE (bad name, or 16 sets).
 */
DAL_EXTERN int dal_migrator_register(const char *name, dal_migrator *m);

/* How long to wait for another migrating process's lock, in ms (default
 * 30000); when it runs out, the run fails with DAL_E_TIMEOUT. 0 means do
 * not lock (not recommended). */
DAL_EXTERN void dal_migrator_set_lock_timeout(dal_migrator *m, int ms);

/*
 * Dry run: instead of running anything, call fn with each statement each
 * step would run on db's backend (history writes included), in order,
 * with the migration's version. NULL fn turns dry run off. Nothing is
 * locked or created; a function step is reported as a comment; the
 * history INSERT shows the current time and duration_ms 0; *applied and
 * *undone receive the number of steps that would run.
 */
DAL_EXTERN void dal_migrator_set_dry_run(dal_migrator *m,
                                         void (*fn)(int64_t version,
                                                    const char *sql,
                                                    void *arg),
                                         void *arg);

/*
 * Progress: fn is called before (done 0) and after (done 1) each step
 * with its version, name and the step's duration in ms.
 */
DAL_EXTERN void dal_migrator_set_progress(dal_migrator *m,
                                          void (*fn)(int64_t version,
                                                     const char *name,
                                                     int up, int done,
                                                     double ms,
                                                     void *arg),
                                          void *arg);

/*
 * dal_migrate_up - apply pending migrations in version order, up to and
 * including target (0: all). Stops at the first failure, which rolls
 * that migration back. Refuses to run (DAL_E_MISUSE, message naming the
 * migration) when an applied migration's text changed (drift) or is
 * missing from the set, or when a transaction is open on db; fails with
 * DAL_E_TIMEOUT (55P03) when the lock was not had in time. A failing
 * step's error keeps its code and SQLSTATE, its message starting
 * "migration N (name): ". *applied, when not NULL, receives the number
 * of migrations applied. Errors are recorded on db.
 */
DAL_EXTERN int dal_migrate_up(dal_db *db, dal_migrator *m, int64_t target,
                              int *applied);

/*
 * dal_migrate_down - undo the last steps applied migrations (steps > 0),
 * or every applied migration above target (steps 0; target 0 undoes
 * all). Refuses on drift as dal_migrate_up() does. A migration without
 * a down step stops the run there (DAL_E_UNSUPPORTED); those above it
 * stay undone.
 */
DAL_EXTERN int dal_migrate_down(dal_db *db, dal_migrator *m, int steps,
                                int64_t target, int *undone);

/* dal_migrate_redo - undo the last applied migration and apply it again;
 * DAL_E_MISUSE when none is applied. */
DAL_EXTERN int dal_migrate_redo(dal_db *db, dal_migrator *m);

/* The state of one migration, from dal_migrate_status(). */
typedef enum dal_migration_state {
    DAL_MIG_PENDING = 1, /* in the set, not applied */
    DAL_MIG_APPLIED,     /* applied, text unchanged */
    DAL_MIG_CHANGED,     /* applied, but its text changed since (drift) */
    DAL_MIG_MISSING      /* applied, but no longer in the set */
} dal_migration_state;

typedef struct dal_migration_status {
    int64_t version;
    const char *name;
    dal_migration_state state;
    const char *applied_at;  /* 'YYYY-MM-DD HH:MM:SS' UTC, or NULL */
    int64_t duration_ms;     /* -1 when not applied */
} dal_migration_status;

/*
 * dal_migrate_status - every migration of the set and of the history,
 * in version order, into *list (*n entries). Free it with
 * dal_migrate_status_free(). Does not lock and changes nothing (the
 * history table is not created by a status call).
 */
DAL_EXTERN int dal_migrate_status(dal_db *db, dal_migrator *m,
                                  dal_migration_status **list, int *n);
DAL_EXTERN void dal_migrate_status_free(dal_migration_status *list, int n);

#ifdef __cplusplus
}
#endif
#endif /* DAL_MIGRATE_H */
