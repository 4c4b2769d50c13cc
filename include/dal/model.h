/*
 * dal/model.h - C structs mapped to tables: a struct and a static
 * descriptor are enough to create the table, insert, load, update and
 * delete rows, and query lists of them with the query AST, on SQLite and
 * PostgreSQL alike.
 *
 *   typedef struct { int64_t id; char *email; double balance; int active;
 *                    int64_t created_at, deleted_at; } user;
 *   static const dal_field user_fields[] = {
 *       DAL_FIELD(user, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
 *       DAL_FIELD(user, email, DAL_F_TEXT, DAL_F_UNIQUE | DAL_F_NOT_NULL),
 *       DAL_FIELD(user, balance, DAL_F_DOUBLE, 0),
 *       DAL_FIELD(user, active, DAL_F_BOOL, 0),
 *       DAL_FIELD(user, created_at, DAL_F_TIMESTAMP, DAL_F_CREATED_AT),
 *       DAL_FIELD(user, deleted_at, DAL_F_TIMESTAMP, DAL_F_SOFT_DELETE),
 *   };
 *   static const dal_model user_model =
 *       DAL_MODEL(user, "users", user_fields);
 *
 * Field types and their C members: DAL_F_INT64 int64_t, DAL_F_INT32
 * int32_t, DAL_F_BOOL int, DAL_F_DOUBLE double, DAL_F_TEXT and DAL_F_JSON
 * char * (NUL-terminated, NULL for SQL NULL), DAL_F_BLOB a const void *
 * with a size_t length member (DAL_BLOB_FIELD), DAL_F_TIMESTAMP int64_t
 * microseconds since the Unix epoch (0 for NULL). Columns are named after
 * the members. JSON is jsonb on PostgreSQL and TEXT with a json_valid()
 * CHECK on SQLite (declared JSON there: a bare-number document may come
 * back in SQLite's number form); timestamps are BIGINT microseconds on
 * both, exact. DAL_F_BOOL takes an int or a _Bool member; DAL_F_INT32 is
 * a BIGINT column (values beyond int32 are cut when loaded). A field
 * with a default or validation rules is written as a designated
 * initializer ({.name = "x", ..., .def = "'new'"}): the macros leave
 * them empty.
 *
 * A descriptor that cannot work (no or two primary keys, a member whose
 * size does not fit its type, a flag on the wrong type) is reported when
 * the model is first used, with DAL_E_MISUSE and a message naming the
 * field: never by a crash later.
 *
 * Memory: rows loaded by dal_model_find / dal_model_query live in a
 * dal_rows result set: an array of structs whose text and blob members
 * point into one arena owned by the set, all freed by dal_rows_free().
 * There is no allocation per field. dal_rows_take() copies one row out
 * with its own allocations (free it with dal_model_free_row()).
 */
#ifndef DAL_MODEL_H
#define DAL_MODEL_H

#include <stddef.h>

#include "core.h"
#include "query.h"
#include "schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dal_ftype {
    DAL_F_INT64 = 1, DAL_F_INT32, DAL_F_BOOL, DAL_F_DOUBLE, DAL_F_TEXT,
    DAL_F_BLOB, DAL_F_TIMESTAMP, DAL_F_JSON
} dal_ftype;

/* Field flags. */
#define DAL_F_PK 0x0001          /* the primary key (one field) */
#define DAL_F_AUTO 0x0002        /* with DAL_F_PK on INT64: generated id,
                                    filled in by insert */
#define DAL_F_UNIQUE 0x0004
#define DAL_F_NOT_NULL 0x0008
#define DAL_F_DEFAULT 0x0010     /* the column has the default def; insert
                                    leaves it to the database when the
                                    member is 0 / NULL */
#define DAL_F_INDEXED 0x0020     /* an index on the column */
#define DAL_F_SOFT_DELETE 0x0040 /* TIMESTAMP: delete sets it; queries
                                    skip rows where it is set */
#define DAL_F_CREATED_AT 0x0080  /* TIMESTAMP: set by insert */
#define DAL_F_UPDATED_AT 0x0100  /* TIMESTAMP: set by insert and update */

typedef struct dal_field dal_field;

/*
 * A custom validation rule: return 0 when obj's field is acceptable,
 * else write why into msg (len bytes) and return nonzero.
 */
typedef int (*dal_validate_fn)(const void *obj, const dal_field *f,
                               char *msg, size_t len);

struct dal_field {
    const char *name;       /* the column's name (the member's, by the
                               macros) */
    dal_ftype type;
    size_t offset;          /* offsetof the member */
    size_t size;            /* sizeof the member, checked against type */
    size_t len_offset;      /* DAL_F_BLOB: offsetof the size_t length */
    int flags;
    const char *def;        /* DAL_F_DEFAULT: the default, as an SQL
                               literal ("0", "'new'") */
    /* Validation before a write, checked in this order (0 = no rule). */
    size_t max_len;         /* TEXT/JSON/BLOB: longest, in bytes */
    double min, max;        /* numbers: range, when min < max */
    dal_validate_fn validate;
};

#define DAL_FIELD(T, m, type, flags) \
    {#m, (type), offsetof(T, m), sizeof(((T *)0)->m), 0, (flags), NULL, \
     0, 0, 0, NULL}
#define DAL_BLOB_FIELD(T, m, lenm, flags) \
    {#m, DAL_F_BLOB, offsetof(T, m), sizeof(((T *)0)->m), offsetof(T, lenm), \
     (flags), NULL, 0, 0, 0, NULL}

/*
 * Lifecycle hooks, called with the object; a nonzero return from a
 * before_ hook stops the operation with that code (its message set with
 * the hook's own dal_ calls or "stopped by a hook"). NULL: none.
 * Order on insert: timestamps set, before_save, validation, the write,
 * after_save. dal_model_save may call before_save twice (its update
 * found no row, so it inserts).
 */
typedef struct dal_model_hooks {
    int (*before_save)(dal_db *db, void *obj);   /* insert and update */
    void (*after_save)(dal_db *db, void *obj);
    int (*before_delete)(dal_db *db, const void *obj);
    void (*after_load)(dal_db *db, void *obj);
} dal_model_hooks;

typedef struct dal_model {
    const char *table;
    size_t size;                 /* sizeof the struct */
    const dal_field *fields;
    int nfields;
    const dal_model_hooks *hooks; /* or NULL */
    /* The registry name of the model's database (dal_registry_model_db),
     * NULL for "main". */
    const char *database;
} dal_model;

#define DAL_MODEL(T, table, fields) \
    {(table), sizeof(T), (fields), \
     (int)(sizeof(fields) / sizeof((fields)[0])), NULL, NULL}
/* A model that lives in the registry's database db ("archive"). */
#define DAL_MODEL_IN(db, T, table, fields) \
    {(table), sizeof(T), (fields), \
     (int)(sizeof(fields) / sizeof((fields)[0])), NULL, (db)}

/* ---- table ---------------------------------------------------------- */

/*
 * dal_model_create_table - create m's table (through the schema-op AST),
 * with its UNIQUE and NOT NULL constraints, defaults, and an index per
 * DAL_F_INDEXED field; a unique field of a soft-delete model becomes a
 * partial unique index WHERE deleted IS NULL, so that a deleted row's
 * value can be used again. Nothing happens when the table exists.
 */
DAL_EXTERN int dal_model_create_table(dal_db *db, const dal_model *m);

/*
 * dal_model_diff - the schema operations that bring db level with the
 * models (their tables as dal_model_create_table() would make them:
 * tables created, columns added, dropped or altered, indexes), as
 * dal_schema_diff() gives them: *ops (*nops of them; free each with
 * dal_schema_op_free() and the array with dal_free()) and *notes for
 * what it left to a hand-written migration (a likely rename, changed
 * constraints); print them with dal_schema_op_sql(). Only the models'
 * tables are compared, and not their defaults (each backend rewrites a
 * default's text).
 */
DAL_EXTERN int dal_model_diff(dal_db *db, const dal_model *const *models,
                              int n, dal_schema_op ***ops, int *nops,
                              char **notes);

/* dal_model_check - validate the descriptor itself (done by every call
 * on first use); DAL_OK or DAL_E_MISUSE recorded on db. */
DAL_EXTERN int dal_model_check(dal_db *db, const dal_model *m);

/* ---- writing -------------------------------------------------------- */

/*
 * dal_model_insert - insert obj: validates the fields, runs before_save,
 * sets created_at / updated_at to now, leaves DAL_F_DEFAULT columns whose
 * member is 0/NULL to the database, and fills the generated id (and the
 * numeric values the database chose) back into obj via RETURNING (a
 * text default the database chose is not filled back: the caller owns
 * obj's text). An id given by hand on a DAL_F_AUTO key is inserted as
 * it is, and the generator moves past it. Validation runs before
 * anything is sent: a NULL DAL_F_NOT_NULL field is DAL_E_CONSTRAINT
 * (23502), as the database would say; the other rules DAL_E_DATA
 * (22023); each message names the field and the rule. A model whose
 * every value is left to the database (all 0/NULL defaults) cannot be
 * inserted portably: DAL_E_UNSUPPORTED.
 */
DAL_EXTERN int dal_model_insert(dal_db *db, const dal_model *m, void *obj);

/*
 * dal_model_update - update the row with obj's primary key: every field
 * (names NULL / n 0) or only the named ones (only they are validated);
 * updated_at is set to now. DAL_DONE when no such row (or it is
 * soft-deleted: restore it first; a dal_model_save of a soft-deleted
 * row tries an insert and fails on the key, 23505).
 */
DAL_EXTERN int dal_model_update(dal_db *db, const dal_model *m, void *obj,
                                const char *const *names, int n);

/* dal_model_save - insert when the generated id is 0, else update (an
 * update that finds no row inserts). */
DAL_EXTERN int dal_model_save(dal_db *db, const dal_model *m, void *obj);

/*
 * dal_model_delete - delete the row with obj's primary key: on a
 * soft-delete model set its deleted column to now (and in obj), else
 * DELETE it. DAL_DONE when no such row. dal_model_restore clears the
 * deleted column again.
 */
DAL_EXTERN int dal_model_delete(dal_db *db, const dal_model *m, void *obj);
DAL_EXTERN int dal_model_restore(dal_db *db, const dal_model *m, void *obj);

/* ---- bulk operations ------------------------------------------------ */

/* dal_model_bulk_create flag: do not fill generated ids back. */
#define DAL_BULK_NO_IDS 1
/* dal_model_bulk_delete flag: DELETE rows even on a soft-delete model. */
#define DAL_HARD_DELETE 4

/*
 * dal_model_bulk_create - insert the n structs of the array objs (each
 * m->size bytes) in one transaction (a savepoint inside the caller's):
 * either every row is inserted or, on any error, none is, and the ids
 * filled so far are set back to 0. Consecutive rows that leave the same
 * DAL_F_AUTO / DAL_F_DEFAULT fields to the database go in one run. When
 * no ids are to be returned (DAL_BULK_NO_IDS, or no DAL_F_AUTO key left
 * to the database), each run is loaded with dal_load() (dal/batch.h:
 * one COPY FROM STDIN on PostgreSQL, chunked multi-row INSERTs on
 * SQLite). Otherwise a run goes in multi-row INSERT
 * statements of up to 500 rows (fewer when the backend's parameter
 * limit needs it), prepared once and bound again for each batch, and
 * generated ids are filled back into each struct through RETURNING, in
 * the order of the rows (as both backends return them for a VALUES
 * list); other values the database chose are not filled back. Every
 * struct is validated and gets its created_at / updated_at before
 * anything is sent, so that a validation error writes nothing; no hook
 * runs (before_save, after_save: use dal_model_insert per row for
 * them). n 0 is DAL_OK.
 * Errors: DAL_E_MISUSE (objs NULL with n > 0, n < 0), the validation
 * errors of dal_model_insert, and the database's own (a duplicate key
 * is DAL_E_CONSTRAINT / 23505 on both).
 */
DAL_EXTERN int dal_model_bulk_create(dal_db *db, const dal_model *m,
                                     void *objs, int n, int flags);

/*
 * dal_model_bulk_update - update, by primary key, the rows of the n
 * structs of objs: every field (names NULL / nnames 0) or only the named
 * ones, with updated_at set to now, in one transaction (all rows or, on
 * an error, none). PostgreSQL gets batches of up to 500 structs, one
 * UPDATE ... FROM (VALUES ...) each; SQLite one prepared UPDATE per
 * struct. With two structs of the same key, which one the row ends
 * with is unspecified. Soft-deleted rows are not updated. *changed (may be NULL) receives the
 * number of rows updated; structs whose row does not exist are skipped,
 * not an error. Every struct is validated before anything is sent; no
 * hook runs. Errors as dal_model_update.
 */
DAL_EXTERN int dal_model_bulk_update(dal_db *db, const dal_model *m,
                                     void *objs, int n,
                                     const char *const *names, int nnames,
                                     int64_t *changed);

/*
 * dal_model_bulk_delete - delete the rows matching cond (taken, must not
 * be NULL: to delete every row pass a condition that always holds) in
 * one statement, so all or none. On a soft-delete model the live rows
 * matching cond get deleted = now (an UPDATE); with DAL_HARD_DELETE in
 * flags they are removed (and with DAL_WITH_DELETED / DAL_ONLY_DELETED
 * also, or only, the soft-deleted ones). *deleted (may be NULL) receives
 * the number of rows. before_delete does not run.
 */
DAL_EXTERN int dal_model_bulk_delete(dal_db *db, const dal_model *m,
                                     dal_expr *cond, int flags,
                                     int64_t *deleted);

/* ---- reading -------------------------------------------------------- */

typedef struct dal_rows dal_rows;

/* Query flags: soft-deleted rows are left out unless asked for. */
#define DAL_WITH_DELETED 1
#define DAL_ONLY_DELETED 2

/*
 * dal_model_find - load the row whose primary key is pk into *rows (one
 * row, or none: dal_rows_count 0 and DAL_DONE).
 */
DAL_EXTERN int dal_model_find(dal_db *db, const dal_model *m,
                              const dal_value *pk, dal_rows **rows);

/*
 * dal_model_query - load the rows matching cond (NULL: all), ordered by
 * order (a dal_list of order items, or NULL: by primary key), at most
 * limit (0: no limit), into *rows. flags: DAL_WITH_DELETED,
 * DAL_ONLY_DELETED. cond and order are taken (freed), as builders do;
 * the model's own condition on deleted rows is ANDed with cond in
 * parentheses. after_load runs for each row. DAL_DONE (and an empty
 * set) when nothing matched. The set refers to m, which must outlive it.
 * Models of more than 64 fields are DAL_E_UNSUPPORTED.
 */
DAL_EXTERN int dal_model_query(dal_db *db, const dal_model *m,
                               dal_expr *cond, dal_expr *order,
                               int64_t limit, int flags, dal_rows **rows);

/* The number of rows matching cond (taken; NULL: all), with flags. */
DAL_EXTERN int dal_model_count(dal_db *db, const dal_model *m,
                               dal_expr *cond, int flags, int64_t *n);

/* The rows in a set, the i-th struct (NULL out of range), and the set's
 * end: every struct and all their text and blobs. */
DAL_EXTERN int dal_rows_count(const dal_rows *rows);
DAL_EXTERN void *dal_rows_at(const dal_rows *rows, int i);
DAL_EXTERN void dal_rows_free(dal_rows *rows);

/*
 * dal_rows_take - copy row i into *obj (m->size bytes) with its own
 * allocations for text and blobs, so that it outlives the set; free them
 * with dal_model_free_row(). DAL_E_RANGE for a bad i.
 */
DAL_EXTERN int dal_rows_take(const dal_rows *rows, int i, void *obj);
DAL_EXTERN void dal_model_free_row(const dal_model *m, void *obj);

/* ---- relations ------------------------------------------------------ */

/*
 * dal_model_has_many - eager-load the children of every row of parents:
 * the rows of child whose field fk (an integer or text field) equals a
 * parent's primary key, in one query for the whole set (one per about
 * 30000 distinct parents, the backends' parameter limit), never one per
 * parent. *children is a new set (free it with dal_rows_free()), sorted
 * by fk and, for one parent, by the child's primary key; find a
 * parent's children in it with dal_rows_match(). flags as for
 * dal_model_query (soft-deleted children are left out by default);
 * after_load runs for each child. DAL_DONE (and an empty set) when no
 * parent has children. Errors: DAL_E_RANGE (42703) when child has no
 * field fk, DAL_E_MISUSE when fk and the parent's key are not both
 * integers or both text, the set or db is NULL, or a descriptor is bad.
 */
DAL_EXTERN int dal_model_has_many(dal_db *db, const dal_rows *parents,
                                  const dal_model *child, const char *fk,
                                  int flags, dal_rows **children);

/*
 * dal_model_belongs_to - eager-load the parents of every row of
 * children: the rows of parent whose primary key is the value of the
 * children's field fk (NULLs skipped), in one query as for
 * dal_model_has_many, into a new set *parents sorted by primary key;
 * find a child's parent with dal_rows_match() on its fk value. For one
 * struct, dal_model_find() on its fk does the same. Errors as
 * dal_model_has_many.
 */
DAL_EXTERN int dal_model_belongs_to(dal_db *db, const dal_rows *children,
                                    const char *fk, const dal_model *parent,
                                    int flags, dal_rows **parents);

/*
 * dal_rows_match - in a set from dal_model_has_many (keyed by fk) or
 * dal_model_belongs_to (keyed by primary key), the number of rows whose
 * key equals key (DAL_V_INT64 for an integer key, DAL_V_TEXT for
 * text), found by binary search; they are rows *first (may be NULL) to
 * *first + count - 1. -1 when rows is not such a set or key is NULL.
 */
DAL_EXTERN int dal_rows_match(const dal_rows *rows, const dal_value *key,
                              int *first);

/* ---- named databases ------------------------------------------------ */

typedef struct dal_registry dal_registry;

/*
 * A registry maps names to URLs and opens each database on first use,
 * so that a program keeps its users in "main" and its events in
 * "archive", and each model (DAL_MODEL_IN, or the database member of
 * dal_model) finds its connection by name:
 *
 *   dal_registry_add(reg, "main", "postgres://app@/shop", NULL);
 *   dal_registry_add(reg, "archive", "sqlite:archive.db", NULL);
 *   dal_registry_model_db(reg, &event_model, &db);  // the archive
 *
 * The connections belong to the registry: do not dal_close() them;
 * dal_registry_free() closes them all. Like a dal_db, a registry is used
 * by one thread at a time (one registry per thread, or a lock of the
 * program's own).
 *
 * dal_registry_new - a new, empty registry in *reg (DAL_NOMEM, or
 * DAL_E_MISUSE for a NULL reg).
 */
DAL_EXTERN int dal_registry_new(dal_registry **reg);

/*
 * dal_registry_add - register url under name (both copied). The URL's
 * form, scheme and libdal's own options are checked now: a malformed
 * one is DAL_E_URL with the parser's message (never the password) in
 * *errmsg; the backend's options are checked when the database is first
 * opened (dal_registry_db). A name registered already, or a NULL
 * or empty argument, is DAL_E_MISUSE. errmsg may be NULL; else *errmsg
 * is NULL on success or a message to free with dal_free().
 */
DAL_EXTERN int dal_registry_add(dal_registry *reg, const char *name,
                                const char *url, char **errmsg);

/*
 * dal_registry_db - the connection registered as name (NULL: "main"),
 * opened on the first call and the same handle afterwards. DAL_E_RANGE
 * (*db NULL) for a name never registered. When the connection fails,
 * *db is the failed handle as dal_open() gives it: read its error and
 * dal_close() it; the registry keeps nothing and tries again next call.
 */
DAL_EXTERN int dal_registry_db(dal_registry *reg, const char *name,
                               dal_db **db);

/* dal_registry_model_db - dal_registry_db() for m's database name. */
DAL_EXTERN int dal_registry_model_db(dal_registry *reg, const dal_model *m,
                                     dal_db **db);

/* dal_registry_free - close every connection the registry opened and
 * free it. NULL is ignored. */
DAL_EXTERN void dal_registry_free(dal_registry *reg);

#ifdef __cplusplus
}
#endif
#endif /* DAL_MODEL_H */
