/*
 * schema.c - schema operations: table definitions, the operations on
 * them, the DDL each dialect needs, and running them (dal_schema_apply)
 * or listing them (dal_schema_op_sql). Also the container that
 * introspection fills (dal_schema) and its text form.
 *
 * An operation becomes a script: statements each marked to run before
 * the transaction ('B'), inside it ('T') or after it ('A', also when it
 * failed). Only a SQLite rebuild uses B and A, to switch foreign keys
 * off around its transaction.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query-int.h"
#include "schema-int.h"

typedef enum {
    OP_CREATE_TABLE = 1, OP_DROP_TABLE, OP_RENAME_TABLE, OP_ADD_COLUMN,
    OP_DROP_COLUMN, OP_RENAME_COLUMN, OP_ALTER_COLUMN, OP_CREATE_INDEX,
    OP_DROP_INDEX, OP_RAW
} op_kind;

struct dal_schema_op {
    op_kind kind;
    dal_table *table;   /* CREATE TABLE */
    char *a, *b, *c;    /* names: table, column / from, to / index */
    dal__column col;    /* ADD / ALTER COLUMN */
    int what;           /* ALTER: DAL_ALTER_* */
    dal__index index;   /* CREATE INDEX */
    char *sqlite_sql, *pg_sql;
    int err;
    char *errmsg;
};

/* ---- names and lists ------------------------------------------------ */

static char **dup_names(const char *const *v, int n, char *err, size_t len,
                        int *rc)
{
    char **out;
    int i;

    *rc = DAL_OK;
    if (n < 1 || !v) {
        snprintf(err, len, "a list of column names needs at least one");
        *rc = DAL_E_MISUSE;
        return NULL;
    }
    out = dal__calloc((size_t)n, sizeof *out);
    if (!out) {
        *rc = DAL_NOMEM;
        return NULL;
    }
    for (i = 0; i < n; i++) {
        *rc = dal__ident_check(v[i], "column name", err, len);
        if (!*rc && !(out[i] = dal__strdup(v[i])))
            *rc = DAL_NOMEM;
        if (*rc) {
            while (i >= 0)
                dal__free(out[i--]);
            dal__free(out);
            return NULL;
        }
    }
    return out;
}

static void free_names(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        dal__free(v[i]);
    dal__free(v);
}

static void free_column(dal__column *c)
{
    dal__free(c->name);
    dal_expr_free(c->def);
    dal__free(c->def_sql);
}

static void free_cons(dal__cons *c)
{
    dal__free(c->name);
    free_names(c->cols, c->ncols);
    dal_expr_free(c->check);
    dal__free(c->check_sql);
    dal__free(c->ref_table);
    free_names(c->ref_cols, c->ncols);
}

static void free_index(dal__index *x)
{
    dal__free(x->name);
    free_names(x->cols, x->ncols);
    dal_expr_free(x->where);
    dal__free(x->where_sql);
    dal__free(x->sql);
}

/* ---- table definitions ---------------------------------------------- */

dal_table *dal_table_new(const char *name)
{
    dal_table *t = dal__calloc(1, sizeof *t);
    char err[160] = "";

    if (!t)
        return NULL;
    if (dal__ident_check(name, "table name", err, sizeof err)) {
        t->err = DAL_E_MISUSE;
        t->errmsg = dal__strdup(err);
    } else if (!(t->name = dal__strdup(name))) {
        dal__free(t);
        return NULL;
    }
    return t;
}

void dal_table_free(dal_table *t)
{
    int i;

    if (!t)
        return;
    dal__free(t->name);
    for (i = 0; i < t->ncols; i++)
        free_column(&t->cols[i]);
    dal__free(t->cols);
    free_names(t->pk, t->npk);
    for (i = 0; i < t->nuniques; i++)
        free_cons(&t->uniques[i]);
    for (i = 0; i < t->nchecks; i++)
        free_cons(&t->checks[i]);
    for (i = 0; i < t->nfks; i++)
        free_cons(&t->fks[i]);
    dal__free(t->uniques);
    dal__free(t->checks);
    dal__free(t->fks);
    for (i = 0; i < t->nindexes; i++)
        free_index(&t->indexes[i]);
    dal__free(t->indexes);
    free_names(t->triggers, t->ntriggers);
    dal__free(t->errmsg);
    dal__free(t);
}

static void tfail(dal_table *t, int rc, const char *fmt, ...)
    DAL__PRINTF(3, 4);

static void tfail(dal_table *t, int rc, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (t->err)
        return;
    t->err = rc;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        t->errmsg = dal__strdup(msg);
    }
}

/* Grow *v (of *n elements of size sz) by one zeroed element. */
static void *grow(void *pv, int *n, size_t sz)
{
    void **v = pv;
    char *p = dal__realloc(*v, (size_t)(*n + 1) * sz);

    if (!p)
        return NULL;
    memset(p + (size_t)*n * sz, 0, sz);
    *v = p;
    return p + (size_t)(*n)++ * sz;
}


void dal_t_column(dal_table *t, const char *name, dal_sqltype type,
                  int flags, dal_expr *def)
{
    dal__column *c;
    char err[160] = "";

    if (!t) {
        dal_expr_free(def);
        return;
    }
    if (!t->err && dal__ident_check(name, "column name", err, sizeof err))
        tfail(t, DAL_E_MISUSE, "%s", err);
    else if (type < DAL_SQL_INT64 || type > DAL_SQL_JSON)
        tfail(t, DAL_E_MISUSE, "column %s: unknown type %d", name,
              (int)type);
    else if ((flags & DAL_COL_AUTO)
             && (!(flags & DAL_COL_PK) || type != DAL_SQL_INT64))
        tfail(t, DAL_E_MISUSE, "column %s: DAL_COL_AUTO needs DAL_COL_PK "
              "on an INT64 column", name);
    if (t->err || !(c = grow(&t->cols, &t->ncols, sizeof *c))) {
        if (!t->err)
            tfail(t, DAL_NOMEM, NULL);
        dal_expr_free(def);
        return;
    }
    c->type = type;
    c->flags = flags;
    c->def = def;
    if (!(c->name = dal__strdup(name)))
        tfail(t, DAL_NOMEM, NULL);
}

void dal_t_primary_key_n(dal_table *t, const char *const *cols, int n)
{
    char err[160] = "";
    int rc;

    if (!t || t->err)
        return;
    if (t->pk) {
        tfail(t, DAL_E_MISUSE, "primary key given twice");
        return;
    }
    t->pk = dup_names(cols, n, err, sizeof err, &rc);
    if (rc)
        tfail(t, rc, "%s", err);
    else
        t->npk = n;
}

static dal__cons *add_cons(dal_table *t, dal__cons **v, int *n,
                           const char *name)
{
    dal__cons *c;
    char err[160] = "";

    if (!t || t->err)
        return NULL;
    if (name && dal__ident_check(name, "constraint name", err,
                                 sizeof err)) {
        tfail(t, DAL_E_MISUSE, "%s", err);
        return NULL;
    }
    if (!(c = grow(v, n, sizeof *c))) {
        tfail(t, DAL_NOMEM, NULL);
        return NULL;
    }
    if (name && !(c->name = dal__strdup(name))) {
        tfail(t, DAL_NOMEM, NULL);
        return NULL;
    }
    return c;
}

void dal_t_unique_n(dal_table *t, const char *name, const char *const *cols,
                    int n)
{
    dal__cons *c = t ? add_cons(t, &t->uniques, &t->nuniques, name) : NULL;
    char err[160] = "";
    int rc;

    if (!c)
        return;
    c->cols = dup_names(cols, n, err, sizeof err, &rc);
    if (rc)
        tfail(t, rc, "%s", err);
    else
        c->ncols = n;
}

void dal_t_check(dal_table *t, const char *name, dal_expr *cond)
{
    dal__cons *c;

    if (!t) {
        dal_expr_free(cond);
        return;
    }
    /* Errors inside cond surface when it is compiled into DDL. */
    if (!cond) {
        tfail(t, DAL_NOMEM, NULL);
        return;
    }
    if (!(c = add_cons(t, &t->checks, &t->nchecks, name))) {
        dal_expr_free(cond);
        return;
    }
    c->check = cond;
}

void dal_t_foreign_key_n(dal_table *t, const char *name,
                         const char *const *cols, int n,
                         const char *ref_table, const char *const *ref_cols,
                         dal_fk_action on_delete, dal_fk_action on_update)
{
    dal__cons *c = t ? add_cons(t, &t->fks, &t->nfks, name) : NULL;
    char err[160] = "";
    int rc;

    if (!c)
        return;
    if ((rc = dal__ident_check(ref_table, "referenced table", err,
                               sizeof err))
        || !(c->ref_table = dal__strdup(ref_table))) {
        tfail(t, rc ? rc : DAL_NOMEM, "%s", err);
        return;
    }
    c->on_delete = on_delete;
    c->on_update = on_update;
    if (on_delete < DAL_FK_NO_ACTION || on_delete > DAL_FK_SET_DEFAULT
        || on_update < DAL_FK_NO_ACTION || on_update > DAL_FK_SET_DEFAULT) {
        tfail(t, DAL_E_MISUSE, "foreign key: unknown action");
        return;
    }
    c->cols = dup_names(cols, n, err, sizeof err, &rc);
    if (!rc) {
        c->ncols = n;
        c->ref_cols = dup_names(ref_cols, n, err, sizeof err, &rc);
    }
    if (rc)
        tfail(t, rc, "%s", err);
}

/* ---- operations ----------------------------------------------------- */

void dal_schema_op_free(dal_schema_op *op)
{
    if (!op)
        return;
    dal_table_free(op->table);
    dal__free(op->a);
    dal__free(op->b);
    dal__free(op->c);
    free_column(&op->col);
    free_index(&op->index);
    dal__free(op->sqlite_sql);
    dal__free(op->pg_sql);
    dal__free(op->errmsg);
    dal__free(op);
}

static void opfail(dal_schema_op *op, int rc, const char *msg)
{
    if (op->err)
        return;
    op->err = rc;
    if (msg)
        op->errmsg = dal__strdup(msg);
}

/* A new op with up to three checked names (what* NULL: no name). */
static dal_schema_op *new_op(op_kind kind, const char *a, const char *wa,
                             const char *b, const char *wb, const char *c,
                             const char *wc)
{
    dal_schema_op *op = dal__calloc(1, sizeof *op);
    const char *v[3] = {a, b, c}, *w[3] = {wa, wb, wc};
    char **dst[3];
    char err[160] = "";
    int i;

    if (!op)
        return NULL;
    op->kind = kind;
    dst[0] = &op->a;
    dst[1] = &op->b;
    dst[2] = &op->c;
    for (i = 0; i < 3; i++) {
        if (!w[i])
            continue;
        if (dal__ident_check(v[i], w[i], err, sizeof err)) {
            opfail(op, DAL_E_MISUSE, err);
            break;
        }
        if (!(*dst[i] = dal__strdup(v[i]))) {
            opfail(op, DAL_NOMEM, NULL);
            break;
        }
    }
    return op;
}

dal_schema_op *dal_op_create_table(dal_table *t)
{
    dal_schema_op *op;

    if (!t)
        return NULL;
    op = new_op(OP_CREATE_TABLE, NULL, NULL, NULL, NULL, NULL, NULL);
    if (!op) {
        dal_table_free(t);
        return NULL;
    }
    op->table = t;
    if (t->err)
        opfail(op, t->err, t->errmsg);
    else if (!t->ncols)
        opfail(op, DAL_E_MISUSE, "CREATE TABLE without columns");
    return op;
}

dal_schema_op *dal_op_drop_table(const char *name)
{
    return new_op(OP_DROP_TABLE, name, "table name", NULL, NULL, NULL,
                  NULL);
}

dal_schema_op *dal_op_rename_table(const char *from, const char *to)
{
    return new_op(OP_RENAME_TABLE, from, "table name", to, "new table name",
                  NULL, NULL);
}

static dal_schema_op *column_op(op_kind kind, const char *table,
                                const char *name, dal_sqltype type,
                                int flags, dal_expr *def)
{
    dal_schema_op *op = new_op(kind, table, "table name", name,
                               "column name", NULL, NULL);

    if (!op) {
        dal_expr_free(def);
        return NULL;
    }
    op->col.type = type;
    op->col.flags = flags;
    op->col.def = def;
    if (type < DAL_SQL_INT64 || type > DAL_SQL_JSON)
        opfail(op, DAL_E_MISUSE, "unknown column type");
    return op;
}

dal_schema_op *dal_op_add_column(const char *table, const char *name,
                                 dal_sqltype type, int flags, dal_expr *def)
{
    dal_schema_op *op = column_op(OP_ADD_COLUMN, table, name, type, flags,
                                  def);

    if (op && (flags & (DAL_COL_PK | DAL_COL_AUTO)))
        opfail(op, DAL_E_MISUSE, "a column added later cannot be the "
               "primary key");
    return op;
}

dal_schema_op *dal_op_drop_column(const char *table, const char *name)
{
    return new_op(OP_DROP_COLUMN, table, "table name", name, "column name",
                  NULL, NULL);
}

dal_schema_op *dal_op_rename_column(const char *table, const char *from,
                                    const char *to)
{
    return new_op(OP_RENAME_COLUMN, table, "table name", from,
                  "column name", to, "new column name");
}

dal_schema_op *dal_op_alter_column(const char *table, const char *name,
                                   int what, dal_sqltype type, int not_null,
                                   dal_expr *def)
{
    dal_schema_op *op;

    if (!(what & DAL_ALTER_TYPE))
        type = DAL_SQL_TEXT; /* unused, but valid for the check below */
    op = column_op(OP_ALTER_COLUMN, table, name, type,
                   not_null ? DAL_COL_NOT_NULL : 0, def);
    if (op) {
        op->what = what;
        if (!what || (what & ~(DAL_ALTER_TYPE | DAL_ALTER_NULL
                               | DAL_ALTER_DEFAULT)))
            opfail(op, DAL_E_MISUSE, "dal_op_alter_column: what must be "
                   "DAL_ALTER_TYPE, _NULL and/or _DEFAULT");
    }
    return op;
}

dal_schema_op *dal_op_create_index_n(const char *name, const char *table,
                                     const char *const *cols, int n,
                                     int unique, dal_expr *where)
{
    dal_schema_op *op = new_op(OP_CREATE_INDEX, table, "table name", name,
                               "index name", NULL, NULL);
    char err[160] = "";
    int rc;

    if (!op) {
        dal_expr_free(where);
        return NULL;
    }
    op->index.where = where;
    op->index.unique = unique;
    if (op->err)
        return op;
    op->index.cols = dup_names(cols, n, err, sizeof err, &rc);
    if (rc)
        opfail(op, rc, err);
    else
        op->index.ncols = n;
    return op;
}

dal_schema_op *dal_op_drop_index(const char *name)
{
    return new_op(OP_DROP_INDEX, name, "index name", NULL, NULL, NULL,
                  NULL);
}

dal_schema_op *dal_op_raw(const char *sqlite_sql, const char *postgres_sql)
{
    dal_schema_op *op = new_op(OP_RAW, NULL, NULL, NULL, NULL, NULL, NULL);

    if (!op)
        return NULL;
    if (!sqlite_sql && !postgres_sql)
        opfail(op, DAL_E_MISUSE, "dal_op_raw: no SQL for either backend");
    if ((sqlite_sql && !(op->sqlite_sql = dal__strdup(sqlite_sql)))
        || (postgres_sql && !(op->pg_sql = dal__strdup(postgres_sql))))
        opfail(op, DAL_NOMEM, NULL);
    return op;
}

/* ---- DDL ------------------------------------------------------------ */

static const char *fk_action(dal_fk_action a)
{
    static const char *const names[] = {
        "NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"
    };

    return names[a];
}

static int names_sql(dal__buf *b, char *const *v, int n)
{
    for (int i = 0; i < n; i++)
        if ((i && dal__buf_adds(b, ", ")) || dal__buf_ident(b, v[i]))
            return DAL_NOMEM;
    return DAL_OK;
}

/* An expression as DDL: literal values, or SQL text read from a db. */
static int ddl_expr(dal__buf *b, const struct dal_dialect *d,
                    const dal_expr *e, const char *sql, char *err,
                    size_t len)
{
    if (sql)
        return dal__buf_adds(b, sql);
    return dal__expr_literal_sql(e, d, b, err, len);
}

/* "name" TYPE [constraints] as in CREATE TABLE / ADD COLUMN. in_pk: the
 * column is part of a primary key (NOT NULL is then written: SQLite
 * would otherwise take NULLs in a key). */
static int column_sql(dal__buf *b, const struct dal_dialect *d,
                      const dal__column *c, int single_pk, int in_pk,
                      char *err, size_t len)
{
    const char *type = d->ddl_types[c->type];
    int rc;

    if (dal__buf_ident(b, c->name) || dal__buf_addc(b, ' '))
        return DAL_NOMEM;
    if (c->flags & DAL_COL_AUTO)
        return dal__buf_adds(b, d->auto_pk);
    /* A key that is not generated must not be SQLite's rowid alias. */
    if (((c->flags & DAL_COL_PK) || in_pk) && c->type == DAL_SQL_INT64
        && d->int64_key_type)
        type = d->int64_key_type;
    if (dal__buf_adds(b, type))
        return DAL_NOMEM;
    if (((c->flags & DAL_COL_PK) && single_pk
         && dal__buf_adds(b, " PRIMARY KEY"))
        || (((c->flags & (DAL_COL_NOT_NULL | DAL_COL_PK)) || in_pk)
            && dal__buf_adds(b, " NOT NULL"))
        || ((c->flags & DAL_COL_UNIQUE) && dal__buf_adds(b, " UNIQUE")))
        return DAL_NOMEM;
    /* json_valid(NULL) is 0, not NULL: let NULL through explicitly. */
    if (c->type == DAL_SQL_JSON && d->json_check
        && (dal__buf_adds(b, " CHECK (") || dal__buf_ident(b, c->name)
            || dal__buf_adds(b, " IS NULL OR json_valid(")
            || dal__buf_ident(b, c->name) || dal__buf_adds(b, "))")))
        return DAL_NOMEM;
    /* A NULL default is no default. */
    if (c->def && c->def->kind == E_VALUE && c->def->v.type == DAL_TYPE_NULL)
        return DAL_OK;
    if (c->def || c->def_sql) {
        /* Parenthesized: SQLite takes only literals bare. */
        if (dal__buf_adds(b, " DEFAULT ("))
            return DAL_NOMEM;
        if ((rc = ddl_expr(b, d, c->def, c->def_sql, err, len)))
            return rc;
        if (dal__buf_addc(b, ')'))
            return DAL_NOMEM;
    }
    return DAL_OK;
}

/* CREATE TABLE "name" (...) for t under the name name. */
static int create_table_sql(dal__buf *b, const struct dal_dialect *d,
                            const dal_table *t, const char *name, char *err,
                            size_t len)
{
    int i, rc, npk = 0;

    for (i = 0; i < t->ncols; i++)
        npk += !!(t->cols[i].flags & DAL_COL_PK);
    if (npk > 1 || (npk && t->npk)) {
        snprintf(err, len, "table %s: more than one primary key", t->name);
        return DAL_E_MISUSE;
    }
    if (dal__buf_adds(b, "CREATE TABLE ") || dal__buf_ident(b, name)
        || dal__buf_adds(b, " ("))
        return DAL_NOMEM;
    for (i = 0; i < t->ncols; i++) {
        int in_pk = 0;

        for (int k = 0; k < t->npk; k++)
            in_pk |= !strcmp(t->pk[k], t->cols[i].name);
        if (i && dal__buf_adds(b, ", "))
            return DAL_NOMEM;
        if ((rc = column_sql(b, d, &t->cols[i], 1, in_pk, err, len)))
            return rc;
    }
    if (t->npk && (dal__buf_adds(b, ", PRIMARY KEY (")
                   || names_sql(b, t->pk, t->npk) || dal__buf_addc(b, ')')))
        return DAL_NOMEM;
    for (i = 0; i < t->nuniques; i++) {
        const dal__cons *c = &t->uniques[i];

        if (dal__buf_adds(b, ", ")
            || (c->name && (dal__buf_adds(b, "CONSTRAINT ")
                            || dal__buf_ident(b, c->name)
                            || dal__buf_addc(b, ' ')))
            || dal__buf_adds(b, "UNIQUE (") || names_sql(b, c->cols, c->ncols)
            || dal__buf_addc(b, ')'))
            return DAL_NOMEM;
    }
    for (i = 0; i < t->nchecks; i++) {
        const dal__cons *c = &t->checks[i];

        if (dal__buf_adds(b, ", ")
            || (c->name && (dal__buf_adds(b, "CONSTRAINT ")
                            || dal__buf_ident(b, c->name)
                            || dal__buf_addc(b, ' ')))
            || dal__buf_adds(b, "CHECK ("))
            return DAL_NOMEM;
        if ((rc = ddl_expr(b, d, c->check, c->check_sql, err, len)))
            return rc;
        if (dal__buf_addc(b, ')'))
            return DAL_NOMEM;
    }
    for (i = 0; i < t->nfks; i++) {
        const dal__cons *c = &t->fks[i];

        if (dal__buf_adds(b, ", ")
            || (c->name && (dal__buf_adds(b, "CONSTRAINT ")
                            || dal__buf_ident(b, c->name)
                            || dal__buf_addc(b, ' ')))
            || dal__buf_adds(b, "FOREIGN KEY (")
            || names_sql(b, c->cols, c->ncols)
            || dal__buf_adds(b, ") REFERENCES ")
            || dal__buf_ident(b, c->ref_table) || dal__buf_adds(b, " (")
            || names_sql(b, c->ref_cols, c->ncols) || dal__buf_addc(b, ')')
            || (c->on_delete && (dal__buf_adds(b, " ON DELETE ")
                                 || dal__buf_adds(b, fk_action(c->on_delete))))
            || (c->on_update && (dal__buf_adds(b, " ON UPDATE ")
                                 || dal__buf_adds(b, fk_action(c->on_update)))))
            return DAL_NOMEM;
    }
    return dal__buf_addc(b, ')');
}

int dal__table_create_sql(dal__buf *b, const struct dal_dialect *d,
                          const dal_table *t, const char *name, char *err,
                          size_t len)
{
    return create_table_sql(b, d, t, name ? name : t->name, err, len);
}

static int index_sql(dal__buf *b, const struct dal_dialect *d,
                     const dal__index *x, const char *table, char *err,
                     size_t len)
{
    int rc;

    if (x->sql)
        return dal__buf_adds(b, x->sql);
    if (dal__buf_adds(b, x->unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ")
        || dal__buf_ident(b, x->name) || dal__buf_adds(b, " ON ")
        || dal__buf_ident(b, table) || dal__buf_adds(b, " (")
        || names_sql(b, x->cols, x->ncols) || dal__buf_addc(b, ')'))
        return DAL_NOMEM;
    if (x->where || x->where_sql) {
        if (dal__buf_adds(b, " WHERE "))
            return DAL_NOMEM;
        if ((rc = ddl_expr(b, d, x->where, x->where_sql, err, len)))
            return rc;
    }
    return DAL_OK;
}

int dal__index_sql(dal__buf *b, const struct dal_dialect *d,
                   const dal__index *x, const char *table, char *err,
                   size_t len)
{
    return index_sql(b, d, x, table, err, len);
}

/* Start a script statement marked phase ('B', 'T' or 'A'). */
static int stmt_start(dal__buf *b, char phase)
{
    return dal__buf_addc(b, phase);
}

static int stmt_end(dal__buf *b)
{
    return dal__buf_addc(b, '\0');
}

static int find_col(const dal_table *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (!strcmp(t->cols[i].name, name))
            return i;
    return -1;
}

static int names_have(char *const *v, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], name))
            return 1;
    return 0;
}

/* Does sql use the identifier name (bare or "quoted") as a word? */
static int mentions(const char *sql, const char *name)
{
    size_t n = strlen(name);
    const char *p, *q;
    int quoted = 0;

    for (p = strstr(sql, name); p; p = strstr(p + 1, name)) {
        char before = p > sql ? p[-1] : ' ', after = p[n];

        /* Inside a 'string literal' a name is just text. */
        for (quoted = 0, q = sql; q < p; q++)
            if (*q == '\'')
                quoted = !quoted;
        if (quoted)
            continue;
        int word_b = before == '_' || (before >= 'a' && before <= 'z')
                     || (before >= 'A' && before <= 'Z')
                     || (before >= '0' && before <= '9');
        int word_a = after == '_' || (after >= 'a' && after <= 'z')
                     || (after >= 'A' && after <= 'Z')
                     || (after >= '0' && after <= '9');

        if (!word_b && !word_a)
            return 1;
    }
    return 0;
}

/* Add the unique index <table>_<col>_key over col to t. */
static int add_key_index(dal_table *t, const char *table, const char *col)
{
    dal__index *x = dal__realloc(t->indexes, (size_t)(t->nindexes + 1)
                                             * sizeof *x);
    char name[300];

    if (!x)
        return DAL_NOMEM;
    t->indexes = x;
    x += t->nindexes;
    memset(x, 0, sizeof *x);
    snprintf(name, sizeof name, "%s_%s_key", table, col);
    x->unique = 1;
    x->ncols = 1;
    if (!(x->name = dal__strdup(name))
        || !(x->cols = dal__calloc(1, sizeof *x->cols))
        || !(x->cols[0] = dal__strdup(col))) {
        free_index(x);
        return DAL_NOMEM;
    }
    t->nindexes++;
    return DAL_OK;
}

/* Can SQLite's ADD COLUMN add c? Not with NOT NULL and no default, nor
 * with a default that is not a constant (CURRENT_TIMESTAMP). */
static int add_column_native(const dal__column *c)
{
    if ((c->flags & DAL_COL_NOT_NULL) && !c->def)
        return 0;
    return !c->def || c->def->kind == E_VALUE;
}

/*
 * The script for a SQLite rebuild: read the live table, change its
 * definition as op says, and let the dialect write the statements.
 */
static int rebuild_script(dal_db *db, const dal_schema_op *op,
                          dal__buf *script)
{
    const struct dal_dialect *d = db->drv->dialect;
    const char **keep = NULL;
    dal_table *t = NULL;
    int rc, i, j, c, nkeep = 0;

    if ((rc = d->table_read(db, op->a, &t)))
        return rc;
    if (!t)
        return dal__seterrf(db, DAL_E_SYNTAX, "42P01", "no such table: %s",
                            op->a);
    if (t->err == DAL_E_UNSUPPORTED) {
        /* The reader found what a rebuild would lose. */
        rc = dal__seterr(db, t->err, "0A000", 0, t->errmsg, NULL, NULL,
                         NULL);
        dal_table_free(t);
        return rc;
    }
    c = find_col(t, op->b);
    if (op->kind == OP_ADD_COLUMN) {
        dal__column *nc;
        dal__buf b = {0};
        char err[256] = "";

        if (c >= 0) {
            dal_table_free(t);
            return dal__seterrf(db, DAL_E_SYNTAX, "42701", "column %s.%s "
                                "already exists", op->a, op->b);
        }
        /* Rows are copied for the existing columns only: the new one
         * gets its default, or fails NOT NULL (23502) if rows exist. */
        for (j = 0; j < t->ncols; j++)
            nkeep++;
        nc = dal__realloc(t->cols, (size_t)(t->ncols + 1) * sizeof *nc);
        if (!nc) {
            dal_table_free(t);
            return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                               NULL);
        }
        t->cols = nc;
        nc += t->ncols++;
        memset(nc, 0, sizeof *nc);
        nc->type = op->col.type;
        /* UNIQUE becomes the same named index as a native ADD COLUMN
         * gives (<table>_<column>_key). */
        nc->flags = op->col.flags & ~DAL_COL_UNIQUE;
        if ((op->col.flags & DAL_COL_UNIQUE)
            && (rc = add_key_index(t, op->a, op->b))) {
            dal_table_free(t);
            return dal__seterr(db, rc, NULL, 0, NULL, NULL, NULL, NULL);
        }
        if (!(nc->name = dal__strdup(op->b))) {
            dal_table_free(t);
            return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                               NULL);
        }
        if (op->col.def) {
            if ((rc = dal__expr_literal_sql(op->col.def, d, &b, err,
                                            sizeof err))) {
                dal__buf_free(&b);
                dal_table_free(t);
                return dal__seterr(db, rc, NULL, 0, err, NULL, NULL, NULL);
            }
            nc->def_sql = b.p;
        }
        goto script;
    }
    if (c < 0) {
        dal_table_free(t);
        return dal__seterrf(db, DAL_E_SYNTAX, "42703", "no such column: "
                            "%s.%s", op->a, op->b);
    }
    if (op->kind == OP_DROP_COLUMN) {
        if ((t->cols[c].flags & DAL_COL_PK) || names_have(t->pk, t->npk,
                                                          op->b)) {
            dal_table_free(t);
            return dal__seterrf(db, DAL_E_MISUSE, NULL, "cannot drop "
                                "%s.%s: it is in the primary key", op->a,
                                op->b);
        }
        /* Constraints and indexes over the column go with it. */
        for (i = 0; i < t->nuniques; i++)
            if (names_have(t->uniques[i].cols, t->uniques[i].ncols, op->b)) {
                free_cons(&t->uniques[i]);
                t->uniques[i--] = t->uniques[--t->nuniques];
            }
        for (i = 0; i < t->nfks; i++)
            if (names_have(t->fks[i].cols, t->fks[i].ncols, op->b)) {
                free_cons(&t->fks[i]);
                t->fks[i--] = t->fks[--t->nfks];
            }
        /* As PostgreSQL does: the CHECKs that use the column go too. */
        for (i = 0; i < t->nchecks; i++)
            if (t->checks[i].check_sql
                && mentions(t->checks[i].check_sql, op->b)) {
                free_cons(&t->checks[i]);
                t->checks[i--] = t->checks[--t->nchecks];
            }
        for (i = 0; i < t->nindexes; i++)
            if (names_have(t->indexes[i].cols, t->indexes[i].ncols, op->b)) {
                free_index(&t->indexes[i]);
                t->indexes[i--] = t->indexes[--t->nindexes];
            }
        free_column(&t->cols[c]);
        memmove(&t->cols[c], &t->cols[c + 1],
                (size_t)(t->ncols - c - 1) * sizeof *t->cols);
        t->ncols--;
    } else {
        dal__column *col = &t->cols[c];
        dal__buf b = {0};
        char err[256] = "";

        if (op->what & DAL_ALTER_TYPE)
            col->type = op->col.type;
        if (op->what & DAL_ALTER_NULL)
            col->flags = (col->flags & ~DAL_COL_NOT_NULL)
                         | (op->col.flags & DAL_COL_NOT_NULL);
        if (op->what & DAL_ALTER_DEFAULT) {
            dal__free(col->def_sql);
            col->def_sql = NULL;
            if (op->col.def) {
                if ((rc = dal__expr_literal_sql(op->col.def, d, &b, err,
                                                sizeof err))) {
                    dal__buf_free(&b);
                    dal_table_free(t);
                    return dal__seterr(db, rc, NULL, 0, err, NULL, NULL,
                                       NULL);
                }
                col->def_sql = b.p;
            }
        }
    }
    nkeep = t->ncols;
script:
    keep = dal__calloc((size_t)t->ncols + 1, sizeof *keep);
    if (!keep) {
        dal_table_free(t);
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    }
    for (j = 0; j < nkeep; j++)
        keep[j] = t->cols[j].name;
    rc = d->rebuild(db, t, keep, nkeep, script);
    dal__free(keep);
    dal_table_free(t);
    return rc;
}

/* Build op's script for db (statements marked B/T/A, NUL-separated). */
static int op_script(dal_db *db, const dal_schema_op *op, dal__buf *s)
{
    const struct dal_dialect *d = db->drv->dialect;
    char err[256] = "";
    int rc = DAL_OK;

    if (op->err)
        return dal__seterr(db, op->err, NULL, 0, op->errmsg, NULL, NULL,
                           NULL);
    if (d->alter_by_rebuild
        && (op->kind == OP_ALTER_COLUMN || op->kind == OP_DROP_COLUMN
            || (op->kind == OP_ADD_COLUMN && !add_column_native(&op->col))))
        return rebuild_script(db, op, s);
    if (stmt_start(s, 'T'))
        goto nomem;
    switch (op->kind) {
    case OP_CREATE_TABLE:
        rc = create_table_sql(s, d, op->table, op->table->name, err,
                              sizeof err);
        break;
    case OP_DROP_TABLE:
        rc = dal__buf_adds(s, "DROP TABLE ") || dal__buf_ident(s, op->a);
        break;
    case OP_RENAME_TABLE:
        rc = dal__buf_adds(s, "ALTER TABLE ") || dal__buf_ident(s, op->a)
             || dal__buf_adds(s, " RENAME TO ") || dal__buf_ident(s, op->b);
        break;
    case OP_ADD_COLUMN: {
        dal__column c = op->col;

        /* UNIQUE is an index SQLite cannot add with ADD COLUMN. */
        c.name = op->b;
        c.flags &= ~DAL_COL_UNIQUE;
        if (dal__buf_adds(s, "ALTER TABLE ") || dal__buf_ident(s, op->a)
            || dal__buf_adds(s, " ADD COLUMN "))
            goto nomem;
        rc = column_sql(s, d, &c, 0, 0, err, sizeof err);
        if (!rc && (op->col.flags & DAL_COL_UNIQUE)) {
            char name[300];

            snprintf(name, sizeof name, "%s_%s_key", op->a, op->b);
            rc = stmt_end(s) || stmt_start(s, 'T')
                 || dal__buf_adds(s, "CREATE UNIQUE INDEX ")
                 || dal__buf_ident(s, name) || dal__buf_adds(s, " ON ")
                 || dal__buf_ident(s, op->a) || dal__buf_adds(s, " (")
                 || dal__buf_ident(s, op->b) || dal__buf_addc(s, ')');
        }
        break;
    }
    case OP_DROP_COLUMN:
        rc = dal__buf_adds(s, "ALTER TABLE ") || dal__buf_ident(s, op->a)
             || dal__buf_adds(s, " DROP COLUMN ") || dal__buf_ident(s, op->b);
        break;
    case OP_RENAME_COLUMN:
        rc = dal__buf_adds(s, "ALTER TABLE ") || dal__buf_ident(s, op->a)
             || dal__buf_adds(s, " RENAME COLUMN ") || dal__buf_ident(s, op->b)
             || dal__buf_adds(s, " TO ") || dal__buf_ident(s, op->c);
        break;
    case OP_ALTER_COLUMN:
        /* PostgreSQL: one ALTER TABLE with an action per change. */
        if (dal__buf_adds(s, "ALTER TABLE ") || dal__buf_ident(s, op->a))
            goto nomem;
        if (op->what & DAL_ALTER_TYPE) {
            /* USING converts the rows as dal_cast() does (there is no
             * bigint -> boolean cast, for one). */
            dal_expr *conv = dal_cast(dal_col(op->b), op->col.type);

            rc = !conv || dal__buf_adds(s, " ALTER COLUMN ")
                 || dal__buf_ident(s, op->b) || dal__buf_adds(s, " TYPE ")
                 || dal__buf_adds(s, d->ddl_types[op->col.type])
                 || dal__buf_adds(s, " USING ");
            if (!rc)
                rc = dal__expr_literal_sql(conv, d, s, err, sizeof err);
            dal_expr_free(conv);
            if (rc)
                goto nomem;
        }
        if ((op->what & DAL_ALTER_NULL)
            && ((op->what & DAL_ALTER_TYPE) && dal__buf_addc(s, ',')))
            goto nomem;
        if ((op->what & DAL_ALTER_NULL)
            && (dal__buf_adds(s, " ALTER COLUMN ") || dal__buf_ident(s, op->b)
                || dal__buf_adds(s, (op->col.flags & DAL_COL_NOT_NULL)
                                    ? " SET NOT NULL" : " DROP NOT NULL")))
            goto nomem;
        if (op->what & DAL_ALTER_DEFAULT) {
            if ((op->what & (DAL_ALTER_TYPE | DAL_ALTER_NULL))
                && dal__buf_addc(s, ','))
                goto nomem;
            if (dal__buf_adds(s, " ALTER COLUMN ") || dal__buf_ident(s, op->b))
                goto nomem;
            if (!op->col.def) {
                rc = dal__buf_adds(s, " DROP DEFAULT");
            } else {
                if (dal__buf_adds(s, " SET DEFAULT ("))
                    goto nomem;
                rc = dal__expr_literal_sql(op->col.def, d, s, err,
                                           sizeof err);
                if (!rc)
                    rc = dal__buf_addc(s, ')');
            }
        }
        break;
    case OP_CREATE_INDEX: {
        dal__index x = op->index;

        x.name = op->b;
        rc = index_sql(s, d, &x, op->a, err, sizeof err);
        break;
    }
    case OP_DROP_INDEX:
        rc = dal__buf_adds(s, "DROP INDEX ") || dal__buf_ident(s, op->a);
        break;
    case OP_RAW: {
        const char *sql = d->alter_by_rebuild ? op->sqlite_sql : op->pg_sql;

        if (!sql)
            return dal__seterrf(db, DAL_E_UNSUPPORTED, "0A000", "this raw "
                                "schema operation has no SQL for %s",
                                d->name);
        rc = dal__buf_adds(s, sql);
        break;
    }
    }
    if (rc == DAL_NOMEM || (rc == 1 && !err[0]))
        goto nomem;
    if (rc)
        return dal__seterr(db, rc, NULL, 0, err[0] ? err : NULL, NULL, NULL,
                           NULL);
    if (stmt_end(s))
        goto nomem;
    return DAL_OK;
nomem:
    return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
}

int dal_schema_op_sql(dal_db *db, const dal_schema_op *op, char **sql)
{
    dal__buf s = {0}, out = {0};
    const char *p;
    int rc;

    if (sql)
        *sql = NULL;
    if (!db)
        return DAL_E_MISUSE;
    if (!op || !sql)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_schema_op_sql: %s "
                            "is NULL", op ? "sql" : "op");
    dal__clearerr(db);
    if ((rc = op_script(db, op, &s)) == DAL_OK) {
        for (p = s.p; p < s.p + s.len; p += strlen(p) + 1)
            if (dal__buf_adds(&out, p + 1) || dal__buf_adds(&out, ";\n")) {
                rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                                 NULL);
                break;
            }
        if (!rc)
            *sql = out.p ? out.p : dal__strdup("");
        else
            dal__buf_free(&out);
        if (!rc && !*sql)
            rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    }
    dal__buf_free(&s);
    return rc;
}

/* A check that must return no rows (PRAGMA foreign_key_check). */
static int expect_no_rows(dal_db *db, const char *sql)
{
    dal_stmt *st;
    int rc = dal__stmt_new(db, sql, 0, &st);

    if (rc)
        return rc;
    rc = dal_step(st);
    if (rc == DAL_ROW)
        rc = dal__seterrf(db, DAL_E_CONSTRAINT, "23503", "the rebuilt "
                          "table breaks a foreign key (table %s, row %lld)",
                          dal_column_text(st, 0, NULL),
                          (long long)dal_column_int64(st, 1));
    else if (rc == DAL_DONE)
        rc = DAL_OK;
    dal__stmt_free(st);
    return rc;
}

int dal_schema_apply(dal_db *db, const dal_schema_op *op)
{
    dal__buf s = {0};
    const char *p;
    int rc, began = 0, phase_b = 0;

    if (!db)
        return DAL_E_MISUSE;
    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, "08003", "the connection is "
                            "not open");
    if (!op)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "the operation is NULL "
                            "(out of memory while building it?)");
    dal__clearerr(db);
    if ((rc = op_script(db, op, &s)))
        goto done;
    for (p = s.p; p < s.p + s.len; p += strlen(p) + 1)
        phase_b |= *p == 'B';
    if (phase_b && dal_tx_depth(db) > 0) {
        rc = dal__seterrf(db, DAL_E_TX, "25001", "this schema change "
                          "rebuilds a SQLite table, which must switch "
                          "foreign keys off outside a transaction: run it "
                          "outside one");
        goto done;
    }
    for (p = s.p; !rc && p < s.p + s.len; p += strlen(p) + 1)
        if (*p == 'B')
            rc = dal_exec(db, p + 1);
    if (!rc && !(rc = dal_begin(db, 0)))
        began = 1;
    for (p = s.p; !rc && p < s.p + s.len; p += strlen(p) + 1)
        if (*p == 'T')
            rc = dal_exec(db, p + 1);
        else if (*p == 'C')
            rc = expect_no_rows(db, p + 1);
    if (began) {
        if (!rc)
            rc = dal_commit(db);
        /* A failed COMMIT (a deferred check, a busy database) can leave
         * the transaction open on SQLite: end it, keeping the error. */
        if (rc && dal_tx_depth(db) > 0)
            dal__rollback_keep_error(db);
    }
    /* 'A' statements undo what 'B' did: they run whatever happened,
     * keeping the first error. */
    for (p = s.p; phase_b && p < s.p + s.len; p += strlen(p) + 1)
        if (*p == 'A') {
            struct dal__err saved = db->err;
            int rc2;

            memset(&db->err, 0, sizeof db->err);
            /* Restoring matters more than failing fast: a statement
             * that ran out of memory gets two more tries. */
            for (int tries = 0; tries < 3; tries++)
                if ((rc2 = dal_exec(db, p + 1)) != DAL_NOMEM)
                    break;
            if (rc) {
                dal__clearerr(db);
                db->err = saved;
            } else {
                rc = rc2;
                if (!rc) /* the zeroed error must read as none */
                    memcpy(db->err.sqlstate, "00000", 6);
            }
        }
done:
    dal__buf_free(&s);
    return rc;
}

/* ---- schemas (introspection results) -------------------------------- */

int dal__schema_add(dal_schema *s, dal_table *t)
{
    dal_table **v = dal__realloc(s->tables, (size_t)(s->n + 1) * sizeof *v);

    if (!v) {
        dal_table_free(t);
        return DAL_NOMEM;
    }
    s->tables = v;
    v[s->n++] = t;
    return DAL_OK;
}

dal_sqltype dal__type_from_name(const char *name)
{
    char up[64];
    size_t i;

    for (i = 0; name && name[i] && i < sizeof up - 1; i++)
        up[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32
                                                        : name[i]);
    up[i] = '\0';
    if (!i)
        return DAL_SQL_BLOB;
    if (strstr(up, "BOOL"))
        return DAL_SQL_BOOL;
    if (strstr(up, "INT") || !strcmp(up, "OID"))
        return DAL_SQL_INT64;
    if (strstr(up, "TIMESTAMP") || strstr(up, "DATETIME"))
        return DAL_SQL_TIMESTAMP;
    if (!strcmp(up, "DATE"))
        return DAL_SQL_DATE;
    if (strstr(up, "JSON"))
        return DAL_SQL_JSON;
    if (strstr(up, "CHAR") || strstr(up, "CLOB") || strstr(up, "TEXT")
        || strstr(up, "UUID"))
        return DAL_SQL_TEXT;
    if (strstr(up, "BLOB") || strstr(up, "BYTEA"))
        return DAL_SQL_BLOB;
    if (strstr(up, "REAL") || strstr(up, "FLOA") || strstr(up, "DOUB"))
        return DAL_SQL_DOUBLE;
    return DAL_SQL_NUMERIC;
}

static int cmp_tables(const void *a, const void *b)
{
    return strcmp((*(dal_table *const *)a)->name,
                  (*(dal_table *const *)b)->name);
}

int dal_schema_read(dal_db *db, dal_schema **out)
{
    dal_schema *s;
    int rc;

    if (out)
        *out = NULL;
    if (!db)
        return DAL_E_MISUSE;
    if (!out)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "out is NULL");
    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, "08003", "the connection is "
                            "not open");
    dal__clearerr(db);
    s = dal__calloc(1, sizeof *s);
    if (!s)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    rc = db->drv->dialect->schema_read(db, s);
    if (rc) {
        dal_schema_free(s);
        return rc;
    }
    if (s->n > 1)
        qsort(s->tables, (size_t)s->n, sizeof *s->tables, cmp_tables);
    *out = s;
    return DAL_OK;
}

void dal_schema_free(dal_schema *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        dal_table_free(s->tables[i]);
    dal__free(s->tables);
    dal__free(s);
}

int dal_schema_table_count(const dal_schema *s)
{
    return s ? s->n : 0;
}

const dal_table *dal_schema_table(const dal_schema *s, int i)
{
    return s && i >= 0 && i < s->n ? s->tables[i] : NULL;
}

const dal_table *dal_schema_find(const dal_schema *s, const char *name)
{
    for (int i = 0; s && name && i < s->n; i++)
        if (!strcmp(s->tables[i]->name, name))
            return s->tables[i];
    return NULL;
}

const char *dal_table_name(const dal_table *t)
{
    return t ? t->name : NULL;
}

int dal_table_column_count(const dal_table *t)
{
    return t ? t->ncols : 0;
}

const char *dal_table_column_name(const dal_table *t, int i)
{
    return t && i >= 0 && i < t->ncols ? t->cols[i].name : NULL;
}

dal_sqltype dal_table_column_type(const dal_table *t, int i)
{
    return t && i >= 0 && i < t->ncols ? t->cols[i].type : DAL_SQL_TEXT;
}

int dal_table_column_flags(const dal_table *t, int i)
{
    return t && i >= 0 && i < t->ncols ? t->cols[i].flags : 0;
}

int dal_table_index_count(const dal_table *t)
{
    return t ? t->nindexes : 0;
}

const char *dal_table_index_name(const dal_table *t, int i)
{
    return t && i >= 0 && i < t->nindexes ? t->indexes[i].name : NULL;
}

static const char *type_name(dal_sqltype t)
{
    static const char *const names[] = {
        "?", "INT64", "DOUBLE", "TEXT", "BLOB", "BOOL", "NUMERIC",
        "TIMESTAMP", "DATE", "JSON"
    };

    return t >= DAL_SQL_INT64 && t <= DAL_SQL_JSON ? names[t] : "?";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of a list, sorted into one "(a, b)" string. */
static int list_text(dal__buf *b, char *const *v, int n)
{
    for (int i = 0; i < n; i++)
        if (dal__buf_adds(b, i ? ", " : "") || dal__buf_adds(b, v[i]))
            return DAL_NOMEM;
    return DAL_OK;
}

int dal_schema_describe(const dal_schema *s, char **text)
{
    dal__buf b = {0};
    char **lines = NULL;
    int i, j, n = 0, cap = 0, rc = DAL_OK;

    if (!text)
        return DAL_E_MISUSE;
    *text = NULL;
    if (!s)
        return DAL_E_MISUSE;
    for (i = 0; i < s->n && !rc; i++) {
        const dal_table *t = s->tables[i];

        rc = dal__buf_adds(&b, "table ") || dal__buf_adds(&b, t->name)
             || dal__buf_addc(&b, '\n');
        for (j = 0; j < t->ncols && !rc; j++) {
            const dal__column *c = &t->cols[j];

            rc = dal__buf_adds(&b, "  column ") || dal__buf_adds(&b, c->name)
                 || dal__buf_addc(&b, ' ')
                 || dal__buf_adds(&b, type_name(c->type))
                 || ((c->flags & DAL_COL_PK) && dal__buf_adds(&b, " pk"))
                 || ((c->flags & DAL_COL_AUTO) && dal__buf_adds(&b, " auto"))
                 || ((c->flags & DAL_COL_NOT_NULL)
                     && !(c->flags & DAL_COL_PK)
                     && dal__buf_adds(&b, " not-null"))
                 || ((c->flags & DAL_COL_UNIQUE)
                     && dal__buf_adds(&b, " unique"))
                 || ((c->def || c->def_sql) && dal__buf_adds(&b, " default"))
                 || dal__buf_addc(&b, '\n');
        }
        if (!rc && t->npk)
            rc = dal__buf_adds(&b, "  primary key (")
                 || list_text(&b, t->pk, t->npk) || dal__buf_adds(&b, ")\n");
        /* Constraints and indexes in a stable order: sorted lines. */
        for (j = 0; j < t->nuniques + t->nfks + t->nindexes && !rc; j++) {
            dal__buf l = {0};

            if (j < t->nuniques) {
                rc = dal__buf_adds(&l, "  unique (")
                     || list_text(&l, t->uniques[j].cols,
                                  t->uniques[j].ncols)
                     || dal__buf_addc(&l, ')');
            } else if (j < t->nuniques + t->nfks) {
                const dal__cons *f = &t->fks[j - t->nuniques];

                rc = dal__buf_adds(&l, "  foreign key (")
                     || list_text(&l, f->cols, f->ncols)
                     || dal__buf_adds(&l, ") references ")
                     || dal__buf_adds(&l, f->ref_table)
                     || dal__buf_adds(&l, " (")
                     || list_text(&l, f->ref_cols, f->ncols)
                     || dal__buf_addc(&l, ')')
                     || (f->on_delete && (dal__buf_adds(&l, " on delete ")
                                          || dal__buf_adds(&l,
                                              fk_action(f->on_delete))))
                     || (f->on_update && (dal__buf_adds(&l, " on update ")
                                          || dal__buf_adds(&l,
                                              fk_action(f->on_update))));
            } else {
                const dal__index *x = &t->indexes[j - t->nuniques - t->nfks];

                rc = dal__buf_adds(&l, x->unique ? "  unique index "
                                                 : "  index ")
                     || dal__buf_adds(&l, x->name) || dal__buf_adds(&l, " (")
                     || list_text(&l, x->cols, x->ncols)
                     || dal__buf_addc(&l, ')')
                     || ((x->where || x->where_sql)
                         && dal__buf_adds(&l, " partial"));
            }
            if (!rc && n == cap) {
                char **g = dal__realloc(lines, (size_t)(cap = cap ? cap * 2
                                                               : 8)
                                               * sizeof *g);
                if (!g)
                    rc = DAL_NOMEM;
                else
                    lines = g;
            }
            if (rc)
                dal__buf_free(&l);
            else
                lines[n++] = l.p;
        }
        if (!rc && n)
            qsort(lines, (size_t)n, sizeof *lines, cmp_str);
        for (j = 0; j < n; j++) {
            if (!rc)
                rc = dal__buf_adds(&b, lines[j]) || dal__buf_addc(&b, '\n');
            dal__free(lines[j]);
        }
        n = 0;
    }
    dal__free(lines);
    if (rc) {
        dal__buf_free(&b);
        return DAL_NOMEM;
    }
    *text = b.p ? b.p : dal__strdup("");
    return *text ? DAL_OK : DAL_NOMEM;
}
