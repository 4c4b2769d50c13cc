/*
 * schema.c - PostgreSQL's side of schema operations: literals in DDL and
 * reading live tables from pg_catalog (the current schema only).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pg-int.h"
#include "schema-int.h"

int dal__pg_literal(dal__cc *cc, const dal_value *v)
{
    char num[48];
    dal__buf b = {0};
    int rc;

    switch (v->type) {
    case DAL_TYPE_NULL:
        return dal__cc_str(cc, "NULL");
    case DAL_TYPE_BOOL:
        return dal__cc_str(cc, v->u.b ? "TRUE" : "FALSE");
    case DAL_TYPE_INT64:
        snprintf(num, sizeof num, "%lld", (long long)v->u.i);
        return dal__cc_str(cc, num);
    case DAL_TYPE_DOUBLE:
        if (isnan(v->u.d))
            return dal__cc_str(cc, "'NaN'::float8");
        if (isinf(v->u.d))
            return dal__cc_str(cc, v->u.d < 0 ? "'-Infinity'::float8"
                                              : "'Infinity'::float8");
        snprintf(num, sizeof num, "%.17g::float8", v->u.d);
        return dal__cc_str(cc, num);
    case DAL_TYPE_TEXT:
        /* standard_conforming_strings (on since 9.1): only ' is special. */
        rc = dal__buf_sqlstr(&b, v->u.s.p, v->u.s.len);
        break;
    default:
        rc = dal__buf_adds(&b, "'\\x");
        for (size_t i = 0; !rc && i < v->u.s.len; i++) {
            snprintf(num, sizeof num, "%02x", (unsigned char)v->u.s.p[i]);
            rc = dal__buf_adds(&b, num);
        }
        if (!rc)
            rc = dal__buf_adds(&b, "'::bytea");
        break;
    }
    if (!rc)
        rc = dal__cc_str(cc, b.p);
    else
        rc = dal__cc_fail(cc, DAL_NOMEM, "out of memory");
    dal__buf_free(&b);
    return rc;
}

static int query1(dal_db *db, const char *sql, const char *arg,
                  dal_stmt **st)
{
    int rc = dal__stmt_new(db, sql, 0, st);

    if (!rc && arg)
        rc = dal_bind_text(*st, 1, arg, DAL_NTS, DAL_STATIC);
    if (rc && *st) {
        dal__stmt_free(*st);
        *st = NULL;
    }
    return rc;
}

static char *col_dup(dal_stmt *st, int col)
{
    size_t n;
    const char *s;

    if (dal_column_is_null(st, col))
        return NULL;
    s = dal_column_text(st, col, &n);
    return s ? dal__strndup(s, n) : NULL;
}

/* Split a list joined by \x1f (column names may hold commas). */
static int split_names(const char *s, char ***v, int *n)
{
    *v = NULL;
    *n = 0;
    while (s && *s) {
        size_t len = strcspn(s, "\x1f");
        char **g = dal__realloc(*v, (size_t)(*n + 1) * sizeof *g);

        if (!g)
            return DAL_NOMEM;
        *v = g;
        if (!(g[*n] = dal__strndup(s, len)))
            return DAL_NOMEM;
        (*n)++;
        s += len + (s[len] != 0);
    }
    return DAL_OK;
}

static dal_fk_action fk_action(const char *c)
{
    switch (c ? *c : 'a') {
    case 'r': return DAL_FK_RESTRICT;
    case 'c': return DAL_FK_CASCADE;
    case 'n': return DAL_FK_SET_NULL;
    case 'd': return DAL_FK_SET_DEFAULT;
    default: return DAL_FK_NO_ACTION;
    }
}

/* The names of a relation's key columns, \x1f-joined (SQL fragment). */
#define KEY_NAMES(keys, rel) \
    "array_to_string(ARRAY(SELECT a.attname FROM unnest(" keys ") " \
    "WITH ORDINALITY AS k(n, i) JOIN pg_attribute a ON a.attrelid = " rel \
    " AND a.attnum = k.n ORDER BY k.i), E'\\x1f')"

static int read_table(dal_db *db, const char *name, dal_table **out)
{
    dal_table *t = NULL;
    dal_stmt *st = NULL;
    int64_t exists = 0;
    int rc;

    *out = NULL;
    rc = dal_query_int64(db, "SELECT count(*) FROM pg_class c JOIN "
                             "pg_namespace n ON n.oid = c.relnamespace "
                             "WHERE c.relname = $1 AND n.nspname = "
                             "current_schema() AND c.relkind IN ('r', 'p')",
                         &DAL_V_TEXT(name), 1, &exists);
    if (rc || !exists)
        return rc;
    if (!(t = dal_table_new(name)))
        goto nomem;

    rc = query1(db, "SELECT a.attname, format_type(a.atttypid, "
                    "a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, "
                    "d.adrelid), a.attidentity <> '' OR coalesce(pg_get_expr("
                    "d.adbin, d.adrelid) LIKE 'nextval(%', false) "
                    "FROM pg_attribute a LEFT JOIN pg_attrdef d ON "
                    "d.adrelid = a.attrelid AND d.adnum = a.attnum "
                    "WHERE a.attrelid = to_regclass(quote_ident($1)) AND "
                    "a.attnum > 0 AND NOT a.attisdropped "
                    /* dal_fts_create's column is libdal's, not the
                     * schema's: leave it out, as SQLite's FTS table. */
                    "AND NOT (a.attname = $1 || '_fts' AND a.atttypid = "
                    "'tsvector'::regtype) ORDER BY a.attnum",
                name, &st);
    while ((!rc || rc == DAL_ROW) && (rc = dal_step(st)) == DAL_ROW) {
        dal__column *c = dal__realloc(t->cols, (size_t)(t->ncols + 1)
                                               * sizeof *c);

        if (!c)
            goto nomem_st;
        t->cols = c;
        c += t->ncols++;
        memset(c, 0, sizeof *c);
        c->name = col_dup(st, 0);
        c->type = dal__type_from_name(dal_column_text(st, 1, NULL));
        c->flags = dal_column_int64(st, 2) ? DAL_COL_NOT_NULL : 0;
        if (dal_column_int64(st, 4))
            c->flags |= DAL_COL_AUTO;
        else
            c->def_sql = col_dup(st, 3);
        if (!c->name)
            goto nomem_st;
    }
    dal__stmt_free(st);
    st = NULL;
    if (rc != DAL_DONE)
        goto fail;

    /* Constraints: p(rimary), u(nique), c(heck), f(oreign). */
    rc = query1(db, "SELECT c.conname, c.contype, "
                    KEY_NAMES("c.conkey", "c.conrelid") ", "
                    "(SELECT relname FROM pg_class WHERE oid = c.confrelid), "
                    KEY_NAMES("c.confkey", "c.confrelid") ", "
                    "c.confdeltype, c.confupdtype, pg_get_constraintdef(c.oid) "
                    "FROM pg_constraint c WHERE c.conrelid = "
                    "to_regclass(quote_ident($1)) ORDER BY c.conname",
                name, &st);
    while ((!rc || rc == DAL_ROW) && (rc = dal_step(st)) == DAL_ROW) {
        const char *type = dal_column_text(st, 1, NULL);
        char **cols = NULL;
        int ncols = 0, i;
        dal__cons *c;

        if (!type || split_names(dal_column_text(st, 2, NULL), &cols,
                                 &ncols))
            goto nomem_cols;
        if ((*type == 'p' || *type == 'u') && ncols == 1) {
            for (i = 0; i < t->ncols; i++)
                if (!strcmp(t->cols[i].name, cols[0]))
                    t->cols[i].flags |= *type == 'p'
                                        ? DAL_COL_PK | DAL_COL_NOT_NULL
                                        : DAL_COL_UNIQUE;
            goto free_cols;
        }
        if (*type == 'p') {
            t->pk = cols;
            t->npk = ncols;
            continue;
        }
        if (*type != 'u' && *type != 'c' && *type != 'f')
            goto free_cols;
        {
            dal__cons **v = *type == 'u' ? &t->uniques
                            : *type == 'c' ? &t->checks : &t->fks;
            int *n = *type == 'u' ? &t->nuniques
                     : *type == 'c' ? &t->nchecks : &t->nfks;

            c = dal__realloc(*v, (size_t)(*n + 1) * sizeof *c);
            if (!c)
                goto nomem_cols;
            *v = c;
            c += (*n)++;
        }
        memset(c, 0, sizeof *c);
        c->name = col_dup(st, 0);
        c->cols = cols;
        c->ncols = ncols;
        if (*type == 'c') {
            /* "CHECK ((x > 0))": keep what is inside CHECK (...). */
            const char *def = dal_column_text(st, 7, NULL);
            size_t n = def ? strlen(def) : 0;

            if (n > 8 && !strncmp(def, "CHECK (", 7))
                c->check_sql = dal__strndup(def + 7, n - 8);
            else
                c->check_sql = dal__strdup(def ? def : "true");
            if (!c->check_sql)
                goto nomem_st;
        } else if (*type == 'f') {
            int m = 0;

            c->ref_table = col_dup(st, 3);
            c->on_delete = fk_action(dal_column_text(st, 5, NULL));
            c->on_update = fk_action(dal_column_text(st, 6, NULL));
            if (!c->ref_table
                || split_names(dal_column_text(st, 4, NULL), &c->ref_cols,
                               &m))
                goto nomem_st;
        }
        continue;
nomem_cols:
        for (i = 0; i < ncols; i++)
            dal__free(cols[i]);
        dal__free(cols);
        goto nomem_st;
free_cols:
        for (i = 0; i < ncols; i++)
            dal__free(cols[i]);
        dal__free(cols);
    }
    dal__stmt_free(st);
    st = NULL;
    if (rc != DAL_DONE)
        goto fail;

    /* Indexes not backing a constraint. */
    rc = query1(db, "SELECT i.relname, x.indisunique, pg_get_expr(x.indpred, "
                    "x.indrelid), " KEY_NAMES("x.indkey::int2[]", "x.indrelid")
                    " FROM pg_index x JOIN pg_class i ON i.oid = "
                    "x.indexrelid WHERE x.indrelid = to_regclass(quote_ident("
                    "$1)) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                    "WHERE c.conindid = x.indexrelid) AND i.relname <> "
                    "$1 || '_fts_idx' ORDER BY i.relname",
                name, &st);
    while ((!rc || rc == DAL_ROW) && (rc = dal_step(st)) == DAL_ROW) {
        dal__index *x = dal__realloc(t->indexes, (size_t)(t->nindexes + 1)
                                                 * sizeof *x);

        if (!x)
            goto nomem_st;
        t->indexes = x;
        x += t->nindexes++;
        memset(x, 0, sizeof *x);
        x->name = col_dup(st, 0);
        x->unique = (int)dal_column_int64(st, 1);
        x->where_sql = col_dup(st, 2);
        if (!x->name || split_names(dal_column_text(st, 3, NULL), &x->cols,
                                    &x->ncols))
            goto nomem_st;
    }
    dal__stmt_free(st);
    st = NULL;
    if (rc != DAL_DONE)
        goto fail;
    *out = t;
    return DAL_OK;

nomem_st:
    if (st)
        dal__stmt_free(st);
nomem:
    rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
fail:
    dal_table_free(t);
    return rc;
}

int dal__pg_table_read(dal_db *db, const char *name, dal_table **t)
{
    return read_table(db, name, t);
}

int dal__pg_schema_read(dal_db *db, dal_schema *s)
{
    dal_stmt *st;
    int rc;

    rc = query1(db, "SELECT c.relname FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', "
                    "'p') AND n.nspname = current_schema() AND c.relname "
                    "<> 'dal_migrations' ORDER BY 1", NULL, &st);
    while ((!rc || rc == DAL_ROW) && (rc = dal_step(st)) == DAL_ROW) {
        dal_table *t = NULL;
        char *name = col_dup(st, 0);

        if (!name) {
            rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
            break;
        }
        rc = read_table(db, name, &t);
        dal__free(name);
        if (!rc && t && dal__schema_add(s, t))
            rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    }
    if (st)
        dal__stmt_free(st);
    return rc == DAL_DONE ? DAL_OK : rc;
}
