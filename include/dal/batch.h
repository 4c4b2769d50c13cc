/*
 * dal/batch.h - batches of statements and bulk loads.
 *
 * A batch is a queue of statements with parameters, run in one go with
 * one result per statement. PostgreSQL sends the whole queue in
 * pipeline mode (one round trip instead of one per statement); SQLite
 * runs it in one transaction. Every statement of a batch passes the
 * core's execution path: observer hooks see one BEFORE and one AFTER
 * event per statement.
 *
 * dal_load() loads many rows into one table, all or nothing: COPY FROM
 * STDIN on PostgreSQL, prepared multi-row INSERTs on SQLite.
 */
#ifndef DAL_BATCH_H
#define DAL_BATCH_H

#include "dal/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dal_batch dal_batch;

/* dal_batch_run() modes. */
/* All or nothing: the first failure undoes the whole batch, and the
 * statements after it do not run. PostgreSQL: one sync per batch. */
#define DAL_BATCH_ATOMIC 0
/* Each statement on its own: a failure undoes that statement only, and
 * the later ones still run. PostgreSQL: one sync per statement. */
#define DAL_BATCH_EACH 1

/*
 * dal_batch_new - an empty batch of statements for db, in *out. Free it
 * with dal_batch_free(); it must be freed before db is closed, and used
 * by db's thread only. Returns DAL_OK, DAL_E_MISUSE (db or out NULL) or
 * DAL_NOMEM (*out is then NULL).
 */
DAL_EXTERN int dal_batch_new(dal_db *db, dal_batch **out);

/*
 * dal_batch_add - queue one statement: sql with portable placeholders
 * (?, $N or :name, as dal_exec_params() takes them) and its nparams
 * values params[0..nparams-1] (params may be NULL when nparams is 0).
 * The SQL text and the values (text and blobs included) are copied: the
 * caller's may go once this returns. The statement must be one
 * statement and must not begin or end a transaction (BEGIN, COMMIT,
 * SAVEPOINT...: the batch runs its own). Errors, recorded on the batch's
 * connection, and the batch left as it was: DAL_E_MISUSE (b or sql
 * NULL, several statements, a transaction statement, a value of unknown
 * type), DAL_E_RANGE (nparams does not match the placeholders),
 * DAL_E_DATA (text that is not UTF-8 or holds a NUL byte), DAL_NOMEM.
 */
DAL_EXTERN int dal_batch_add(dal_batch *b, const char *sql,
                             const dal_value *params, int nparams);

/* dal_batch_count - the number of statements queued in b (0 for NULL). */
DAL_EXTERN int dal_batch_count(const dal_batch *b);

/*
 * dal_batch_run - run every statement of b, in order, with mode
 * DAL_BATCH_ATOMIC or DAL_BATCH_EACH, and keep one result per statement
 * (dal_batch_rc() and the other getters), replacing those of an earlier
 * run: a batch may be run again.
 *
 * DAL_BATCH_ATOMIC: on the first failure, nothing the batch did stays,
 * and the statements after it are reported as not run (DAL_E_TX,
 * SQLSTATE 25P02); the results of the statements before it say what
 * they did before it was undone. Inside the caller's transaction
 * (dal_begin()), the batch is a savepoint: a failure undoes the batch
 * only and leaves the caller's transaction usable.
 * DAL_BATCH_EACH: each statement stands alone (its own savepoint, or on
 * PostgreSQL outside a transaction its own implicit transaction); a
 * failure undoes that one, and the later statements run.
 *
 * PostgreSQL sends the statements in pipeline mode and reads the
 * results in order; inside the caller's transaction, DAL_BATCH_EACH runs
 * them one at a time instead (each in a savepoint, which a pipeline
 * cannot roll back to between statements already sent). SQLite runs the
 * batch in one transaction (a savepoint inside the caller's), with a
 * savepoint per statement in DAL_BATCH_EACH mode.
 *
 * Hooks: each statement gets one BEFORE and one AFTER event (the
 * batch's own transaction statements get theirs too, as those of
 * dal_begin() do). In a pipeline, every BEFORE is delivered before the
 * first statement is sent, and every AFTER once the last result was
 * read; a BEFORE hook that refuses a statement fails it without sending
 * it (in atomic mode nothing is then sent).
 *
 * Returns DAL_OK when every statement succeeded (an empty batch
 * included); otherwise the error of the first statement that failed,
 * recorded on the connection as well (or the error that kept the batch
 * from running: DAL_E_MISUSE for a bad mode or a closed connection,
 * DAL_NOMEM, a failed BEGIN or COMMIT).
 */
DAL_EXTERN int dal_batch_run(dal_batch *b, int mode);

/*
 * Results of the last dal_batch_run(), for statement i (0-based, in the
 * order added). For an i out of range, or before the first run,
 * dal_batch_rc() is DAL_E_RANGE and the others give -1, NULL or 0 as
 * listed.
 *
 * dal_batch_rc - DAL_OK, the statement's error code, or DAL_E_TX for a
 *     statement not run because an earlier one failed (atomic mode).
 * dal_batch_sqlstate - its SQLSTATE ("00000" on success); NULL out of
 *     range.
 * dal_batch_errmsg - its error message ("not an error" on success);
 *     NULL out of range.
 * dal_batch_changes - rows changed by an INSERT, UPDATE or DELETE (as
 *     dal_changes() would have said), 0 for other statements, -1 when
 *     the statement failed or did not run.
 * dal_batch_nrows / dal_batch_ncols - rows and columns it returned (a
 *     SELECT, or RETURNING); 0 when it returned none or failed.
 * dal_batch_value - the value at row, col of what it returned; NULL out
 *     of range. Text and blobs are copies owned by the batch (text is
 *     NUL-terminated); all stay valid until the batch runs again or is
 *     freed.
 */
DAL_EXTERN int dal_batch_rc(const dal_batch *b, int i);
DAL_EXTERN const char *dal_batch_sqlstate(const dal_batch *b, int i);
DAL_EXTERN const char *dal_batch_errmsg(const dal_batch *b, int i);
DAL_EXTERN int64_t dal_batch_changes(const dal_batch *b, int i);
DAL_EXTERN int dal_batch_nrows(const dal_batch *b, int i);
DAL_EXTERN int dal_batch_ncols(const dal_batch *b, int i);
DAL_EXTERN const dal_value *dal_batch_value(const dal_batch *b, int i,
                                            int row, int col);

/* dal_batch_free - free b, its statements and results. NULL is fine. */
DAL_EXTERN void dal_batch_free(dal_batch *b);

/* The most columns dal_load() takes. */
#define DAL_LOAD_MAX_COLS 64

/*
 * The row function of dal_load(): write row r's values (one per column,
 * in the order of cols) into vals[0..ncols-1] and return DAL_OK, or
 * return an error code to stop the load (nothing is then loaded).
 * Text and blob pointers written into vals must stay valid until the
 * function is called again or dal_load() returns. Rows are asked for in
 * order, each once.
 */
typedef int (*dal_load_fn)(void *ctx, int r, dal_value *vals);

/*
 * dal_load - load nrows rows into table's columns cols[0..ncols-1], the
 * values of row r written by row(ctx, r, vals), all or nothing: on any
 * error no row of the load stays. PostgreSQL streams the rows with one
 * COPY table (cols) FROM STDIN; SQLite runs one prepared multi-row
 * INSERT per chunk of rows (as many as its parameter limit lets, at
 * most 500), in one transaction. Inside the caller's transaction the
 * load is a savepoint: a failure undoes the load only. Hooks see the
 * COPY (PostgreSQL) or each INSERT (SQLite) as a statement. table and
 * the column names are quoted as identifiers ("name"), taken as they
 * are written (case included). nrows 0 is DAL_OK and does nothing.
 * Errors: DAL_E_MISUSE (db NULL or closed, table or a column name NULL,
 * empty, or holding a quote or control character, ncols outside 1 ..
 * DAL_LOAD_MAX_COLS, nrows < 0, row NULL, a value of unknown type),
 * DAL_E_DATA / 22021 (text that is not UTF-8 or holds a NUL byte),
 * DAL_NOMEM, an error the row function returned (recorded with a
 * message if it recorded none), and the database's (unknown table,
 * constraint violations: DAL_E_CONSTRAINT / 23505 for a duplicate key).
 */
DAL_EXTERN int dal_load(dal_db *db, const char *table,
                        const char *const *cols, int ncols, int nrows,
                        dal_load_fn row, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* DAL_BATCH_H */
