/*
 * schema-int.h - the schema AST's structures, shared by the core's
 * schema code (schema.c) and the backends' introspection and rebuild.
 */
#ifndef DAL_SCHEMA_INT_H
#define DAL_SCHEMA_INT_H

#include "dal-int.h"
#include "dal/schema.h"

typedef struct dal__column {
    char *name;
    dal_sqltype type;
    int flags;          /* DAL_COL_* */
    dal_expr *def;      /* a default built in C, or */
    char *def_sql;      /* one read from a database, as SQL text */
} dal__column;

typedef struct dal__cons {
    char *name;         /* may be NULL */
    char **cols;
    int ncols;
    dal_expr *check;    /* CHECK built in C, or */
    char *check_sql;    /* one read from a database */
    char *ref_table;    /* FOREIGN KEY */
    char **ref_cols;
    dal_fk_action on_delete, on_update;
} dal__cons;

typedef struct dal__index {
    char *name;
    char **cols;
    int ncols;
    int unique;
    dal_expr *where;    /* a partial index's condition, or */
    char *where_sql;    /* one read from a database */
    char *sql;          /* the CREATE INDEX statement as read (SQLite) */
} dal__index;

struct dal_table {
    char *name;
    dal__column *cols;
    int ncols;
    char **pk;          /* a primary key over several columns */
    int npk;
    dal__cons *uniques, *checks, *fks;
    int nuniques, nchecks, nfks;
    dal__index *indexes;
    int nindexes;
    char **triggers;    /* CREATE TRIGGER statements as read (SQLite) */
    int ntriggers;
    int err;            /* the first error recorded while building */
    char *errmsg;
};

struct dal_schema {
    dal_table **tables;
    int n;
};

/* CREATE TABLE for t under name (NULL: t's own), and CREATE INDEX for x
 * on table, into b; DAL_NOMEM or DAL_E_MISUSE (message in err). */
int dal__table_create_sql(dal__buf *b, const struct dal_dialect *d,
                          const dal_table *t, const char *name, char *err,
                          size_t len);
int dal__index_sql(dal__buf *b, const struct dal_dialect *d,
                   const dal__index *x, const char *table, char *err,
                   size_t len);

/* dal_schema_diff(), optionally not comparing defaults. */
int dal__schema_diff(const dal_schema *from, const dal_schema *to,
                     const char *const *renames, int nrenames,
                     int ignore_defaults, dal_schema_op ***ops, int *nops,
                     char **notes);

/* Append t to s (taking it); DAL_NOMEM on failure (t freed). */
int dal__schema_add(dal_schema *s, dal_table *t);
/* Map a backend's type name to the portable type. */
dal_sqltype dal__type_from_name(const char *name);

#endif /* DAL_SCHEMA_INT_H */
