/*
 * schemadiff.c - dal_schema_diff(): the operations that take one schema
 * to another. Built from the public operation constructors; defaults and
 * index conditions read from a database travel as dal_raw() fragments
 * of the backend's own SQL.
 *
 * Renames are never guessed: a drop and an add of the same type without
 * a hint become a note and no operation, since guessing wrong would drop
 * a column full of data.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "schema-int.h"

typedef struct diff {
    dal_schema_op **ops;
    int n;
    dal__buf notes;
    int rc;
    const char *const *hints;
    int nhints;
    int ignore_defaults; /* defaults are written differently per side */
} diff;

static void add_op(diff *d, dal_schema_op *op)
{
    dal_schema_op **v;

    if (d->rc || !op) {
        if (!op && !d->rc)
            d->rc = DAL_NOMEM;
        dal_schema_op_free(op);
        return;
    }
    v = dal__realloc(d->ops, (size_t)(d->n + 1) * sizeof *v);
    if (!v) {
        dal_schema_op_free(op);
        d->rc = DAL_NOMEM;
        return;
    }
    d->ops = v;
    v[d->n++] = op;
}

static void note(diff *d, const char *fmt, ...) DAL__PRINTF(2, 3);

static void note(diff *d, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!d->rc && (dal__buf_adds(&d->notes, line)
                   || dal__buf_addc(&d->notes, '\n')))
        d->rc = DAL_NOMEM;
}

/* The hint "prefix.old=new" or "old=new": the new name for old. */
static const char *hinted(const diff *d, const char *table, const char *old)
{
    size_t tl = table ? strlen(table) : 0, ol = strlen(old);

    for (int i = 0; i < d->nhints; i++) {
        const char *h = d->hints[i];

        if (table) {
            if (strncmp(h, table, tl) || h[tl] != '.')
                continue;
            h += tl + 1;
        } else if (strchr(h, '.') && strchr(h, '.') < strchr(h, '=')) {
            continue;
        }
        if (!strncmp(h, old, ol) && h[ol] == '=')
            return h + ol + 1;
    }
    return NULL;
}

static const dal__column *find_col(const dal_table *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (!strcmp(t->cols[i].name, name))
            return &t->cols[i];
    return NULL;
}

static const dal__index *find_index(const dal_table *t, const char *name)
{
    for (int i = 0; i < t->nindexes; i++)
        if (!strcmp(t->indexes[i].name, name))
            return &t->indexes[i];
    return NULL;
}

static dal_expr *raw_or_null(const char *sql)
{
    return sql ? dal_raw(sql, NULL, 0) : NULL;
}

static int same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Conditions compare without quotes, parentheses, blanks or case: each
 * backend prints them its own way ("x" IS NULL, (x IS NULL)). */
static int same_cond(const char *a, const char *b)
{
    if (!a || !b)
        return !a && !b;
    for (;;) {
        while (*a && strchr("\"() \t\n", *a))
            a++;
        while (*b && strchr("\"() \t\n", *b))
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        if ((*a | 0x20) != (*b | 0x20))
            return 0;
        a++;
        b++;
    }
}

static int same_names(char *const *a, int na, char *const *b, int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (strcmp(a[i], b[i]))
            return 0;
    return 1;
}

/* CREATE TABLE for a table read from a database. */
static dal_schema_op *create_from(const dal_table *t)
{
    dal_table *n = dal_table_new(t->name);
    int i;

    if (!n)
        return NULL;
    for (i = 0; i < t->ncols; i++)
        dal_t_column(n, t->cols[i].name, t->cols[i].type,
                     t->cols[i].flags, raw_or_null(t->cols[i].def_sql));
    if (t->npk)
        dal_t_primary_key_n(n, (const char *const *)t->pk, t->npk);
    for (i = 0; i < t->nuniques; i++)
        dal_t_unique_n(n, t->uniques[i].name,
                       (const char *const *)t->uniques[i].cols,
                       t->uniques[i].ncols);
    for (i = 0; i < t->nchecks; i++)
        dal_t_check(n, t->checks[i].name, t->checks[i].check
                                          ? NULL
                                          : dal_raw(t->checks[i].check_sql,
                                                    NULL, 0));
    for (i = 0; i < t->nfks; i++)
        dal_t_foreign_key_n(n, t->fks[i].name,
                            (const char *const *)t->fks[i].cols,
                            t->fks[i].ncols, t->fks[i].ref_table,
                            (const char *const *)t->fks[i].ref_cols,
                            t->fks[i].on_delete, t->fks[i].on_update);
    return dal_op_create_table(n);
}

static dal_schema_op *index_from(const dal_table *t, const dal__index *x)
{
    return dal_op_create_index_n(x->name, t->name,
                                 (const char *const *)x->cols, x->ncols,
                                 x->unique, raw_or_null(x->where_sql));
}

/* Columns of one table present in both schemas. */
static void diff_table(diff *d, const dal_table *a, const dal_table *b)
{
    int i, j;
    char *matched = dal__calloc((size_t)b->ncols + 1, 1);

    if (!matched) {
        d->rc = DAL_NOMEM;
        return;
    }
    /* Renamed by hint, then kept, then dropped. */
    for (i = 0; i < a->ncols; i++) {
        const dal__column *ca = &a->cols[i], *cb;
        const char *to = hinted(d, a->name, ca->name);
        int what = 0;

        cb = find_col(b, to ? to : ca->name);
        if (!cb) {
            if (to)
                note(d, "hint %s.%s=%s: %s has no column %s", a->name,
                     ca->name, to, b->name, to);
            continue;
        }
        matched[cb - b->cols] = 1;
        if (to)
            add_op(d, dal_op_rename_column(a->name, ca->name, to));
        if (ca->type != cb->type)
            what |= DAL_ALTER_TYPE;
        if ((ca->flags & DAL_COL_NOT_NULL) != (cb->flags & DAL_COL_NOT_NULL)
            && !(cb->flags & DAL_COL_PK))
            what |= DAL_ALTER_NULL;
        if (!d->ignore_defaults && !same_text(ca->def_sql, cb->def_sql))
            what |= DAL_ALTER_DEFAULT;
        if (what)
            add_op(d, dal_op_alter_column(b->name, cb->name, what, cb->type,
                                          !!(cb->flags & DAL_COL_NOT_NULL),
                                          raw_or_null(cb->def_sql)));
        if ((ca->flags & (DAL_COL_PK | DAL_COL_UNIQUE))
            != (cb->flags & (DAL_COL_PK | DAL_COL_UNIQUE)))
            note(d, "%s.%s: primary key or unique changed; write that "
                 "migration by hand", b->name, cb->name);
    }
    for (i = 0; i < a->ncols; i++) {
        const dal__column *ca = &a->cols[i];
        const char *to = hinted(d, a->name, ca->name);
        int twin = -1;

        if ((to && find_col(b, to)) || find_col(b, ca->name))
            continue;
        for (j = 0; j < b->ncols; j++)
            if (!matched[j] && !find_col(a, b->cols[j].name)
                && b->cols[j].type == ca->type)
                twin = j;
        if (twin >= 0) {
            note(d, "%s.%s is gone and %s.%s is new, of the same type: a "
                 "rename? Give the hint \"%s.%s=%s\", or drop and add by "
                 "hand", a->name, ca->name, b->name, b->cols[twin].name,
                 a->name, ca->name, b->cols[twin].name);
            matched[twin] = 2; /* neither added nor dropped */
            continue;
        }
        add_op(d, dal_op_drop_column(a->name, ca->name));
    }
    for (j = 0; j < b->ncols; j++) {
        const dal__column *cb = &b->cols[j];

        if (matched[j])
            continue;
        add_op(d, dal_op_add_column(b->name, cb->name, cb->type,
                                    cb->flags & (DAL_COL_NOT_NULL
                                                 | DAL_COL_UNIQUE),
                                    raw_or_null(cb->def_sql)));
    }
    dal__free(matched);
    /* Indexes, by name. */
    for (i = 0; i < a->nindexes; i++) {
        const dal__index *xa = &a->indexes[i], *xb = find_index(b, xa->name);

        if (!xb || xa->unique != xb->unique
            || !same_names(xa->cols, xa->ncols, xb->cols, xb->ncols)
            || !same_cond(xa->where_sql, xb->where_sql))
            add_op(d, dal_op_drop_index(xa->name));
    }
    for (j = 0; j < b->nindexes; j++) {
        const dal__index *xb = &b->indexes[j], *xa = find_index(a, xb->name);

        if (!xa || xa->unique != xb->unique
            || !same_names(xa->cols, xa->ncols, xb->cols, xb->ncols)
            || !same_cond(xa->where_sql, xb->where_sql))
            add_op(d, index_from(b, xb));
    }
    /* Against models (ignore_defaults), CHECKs are not compared: the
     * SQLite JSON check comes with the column, not from the model. */
    if (a->nuniques != b->nuniques || a->nfks != b->nfks
        || a->npk != b->npk
        || (!d->ignore_defaults && a->nchecks != b->nchecks))
        note(d, "%s: table constraints (primary key, unique, check, foreign "
             "key) differ; write that migration by hand", b->name);
}

int dal_schema_diff(const dal_schema *from, const dal_schema *to,
                    const char *const *renames, int nrenames,
                    dal_schema_op ***ops, int *nops, char **notes)
{
    return dal__schema_diff(from, to, renames, nrenames, 0, ops, nops,
                            notes);
}

int dal__schema_diff(const dal_schema *from, const dal_schema *to,
                     const char *const *renames, int nrenames,
                     int ignore_defaults, dal_schema_op ***ops, int *nops,
                     char **notes)
{
    diff d;
    int i, j;

    if (ops)
        *ops = NULL;
    if (nops)
        *nops = 0;
    if (notes)
        *notes = NULL;
    if (!from || !to || !ops || !nops || (nrenames && !renames)
        || nrenames < 0)
        return DAL_E_MISUSE;
    for (i = 0; i < nrenames; i++)
        if (!renames[i] || !strchr(renames[i], '='))
            return DAL_E_MISUSE;
    memset(&d, 0, sizeof d);
    d.hints = renames;
    d.nhints = nrenames;
    d.ignore_defaults = ignore_defaults;

    for (i = 0; i < from->n && !d.rc; i++) {
        const dal_table *a = from->tables[i], *b;
        const char *new_name = hinted(&d, NULL, a->name);

        b = dal_schema_find(to, new_name ? new_name : a->name);
        if (b && new_name)
            add_op(&d, dal_op_rename_table(a->name, new_name));
        if (b) {
            diff_table(&d, a, b);
            continue;
        }
        /* Gone: a rename without a hint when a new table has the same
         * columns; else dropped. */
        for (j = 0; j < to->n; j++) {
            const dal_table *c = to->tables[j];
            int k, same = c->ncols == a->ncols
                          && !dal_schema_find(from, c->name);

            for (k = 0; same && k < c->ncols; k++)
                same = !strcmp(c->cols[k].name, a->cols[k].name)
                       && c->cols[k].type == a->cols[k].type;
            if (same)
                break;
        }
        if (j < to->n)
            note(&d, "table %s is gone and %s is new, with the same "
                 "columns: a rename? Give the hint \"%s=%s\", or drop and "
                 "create by hand", a->name, to->tables[j]->name, a->name,
                 to->tables[j]->name);
        else
            add_op(&d, dal_op_drop_table(a->name));
    }
    for (j = 0; j < to->n && !d.rc; j++) {
        const dal_table *b = to->tables[j];
        int known = dal_schema_find(from, b->name) != NULL;

        for (i = 0; !known && i < from->n; i++) {
            const char *h = hinted(&d, NULL, from->tables[i]->name);

            known = h && !strcmp(h, b->name);
        }
        /* A new table that matched a gone one without a hint was noted
         * above; it is not created either. */
        for (i = 0; !known && i < from->n; i++) {
            const dal_table *a = from->tables[i];
            int k, same = a->ncols == b->ncols && !dal_schema_find(to,
                                                                   a->name)
                          && !hinted(&d, NULL, a->name);

            for (k = 0; same && k < a->ncols; k++)
                same = !strcmp(a->cols[k].name, b->cols[k].name)
                       && a->cols[k].type == b->cols[k].type;
            known = same;
        }
        if (known)
            continue;
        add_op(&d, create_from(b));
        for (i = 0; i < b->nindexes; i++)
            add_op(&d, index_from(b, &b->indexes[i]));
    }
    if (d.rc) {
        for (i = 0; i < d.n; i++)
            dal_schema_op_free(d.ops[i]);
        dal__free(d.ops);
        dal__buf_free(&d.notes);
        return d.rc;
    }
    *ops = d.ops;
    *nops = d.n;
    if (notes)
        *notes = d.notes.p;
    else
        dal__buf_free(&d.notes);
    return DAL_OK;
}
