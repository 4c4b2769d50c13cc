/*
 * schema.c - SQLite's side of schema operations: literals in DDL, reading
 * a live table (PRAGMA table_info, index_list, foreign_key_list, and the
 * CHECK constraints from the stored CREATE TABLE text), and the rebuild
 * that stands in for the ALTER TABLE forms SQLite does not have.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "schema-int.h"
#include "sqlite-int.h"

int dal__sq_literal(dal__cc *cc, const dal_value *v)
{
    char num[40];
    dal__buf b = {0};
    int rc;

    switch (v->type) {
    case DAL_TYPE_NULL:
        return dal__cc_str(cc, "NULL");
    case DAL_TYPE_BOOL:
        return dal__cc_str(cc, v->u.b ? "1" : "0");
    case DAL_TYPE_INT64:
        snprintf(num, sizeof num, "%lld", (long long)v->u.i);
        return dal__cc_str(cc, num);
    case DAL_TYPE_DOUBLE:
        if (isnan(v->u.d))
            return dal__cc_str(cc, "NULL"); /* SQLite stores NaN as NULL */
        if (isinf(v->u.d))
            return dal__cc_str(cc, v->u.d < 0 ? "-9e999" : "9e999");
        snprintf(num, sizeof num, "%.17g", v->u.d);
        /* Keep it a REAL: "1" would be an INTEGER literal. */
        if (!strpbrk(num, ".eE"))
            strcat(num, ".0");
        return dal__cc_str(cc, num);
    case DAL_TYPE_TEXT:
        rc = dal__buf_sqlstr(&b, v->u.s.p, v->u.s.len);
        break;
    default: /* BLOB: X'hex' */
        rc = dal__buf_adds(&b, "X'");
        for (size_t i = 0; !rc && i < v->u.s.len; i++) {
            snprintf(num, sizeof num, "%02x", (unsigned char)v->u.s.p[i]);
            rc = dal__buf_adds(&b, num);
        }
        if (!rc)
            rc = dal__buf_addc(&b, '\'');
        break;
    }
    if (!rc)
        rc = dal__cc_str(cc, b.p);
    else
        rc = dal__cc_fail(cc, DAL_NOMEM, "out of memory");
    dal__buf_free(&b);
    return rc;
}

/* ---- reading a table ------------------------------------------------- */

/* Run sql with one text parameter; the caller steps *st. */
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

/* Add name to a list of names. */
static int add_name(char ***v, int *n, const char *name)
{
    char **g = dal__realloc(*v, (size_t)(*n + 1) * sizeof *g);

    if (!g)
        return DAL_NOMEM;
    *v = g;
    if (!(g[*n] = dal__strdup(name ? name : "")))
        return DAL_NOMEM;
    (*n)++;
    return DAL_OK;
}

/* Skip a quoted token ('..', "..", `..`, [..]) at s[i]; its end. */
static size_t skip_quoted(const char *s, size_t i)
{
    char close = s[i] == '[' ? ']' : s[i];

    for (i++; s[i]; i++)
        if (s[i] == close) {
            if (close != ']' && s[i + 1] == close)
                i++;
            else
                return i + 1;
        }
    return i;
}

static int is_quote(char c)
{
    return c == '\'' || c == '"' || c == '`' || c == '[';
}

/* Does s (length n) start with keyword kw, as a whole word? */
static int kw_at(const char *s, size_t n, const char *kw)
{
    size_t k = strlen(kw);

    return n >= k && !strncasecmp(s, kw, k)
           && (n == k || !(s[k] == '_' || (s[k] >= 'a' && s[k] <= 'z')
                           || (s[k] >= 'A' && s[k] <= 'Z')
                           || (s[k] >= '0' && s[k] <= '9')));
}

/* An identifier token at s, unquoted, into a new string; *len its size. */
static char *ident_at(const char *s, size_t *len)
{
    size_t i;

    if (is_quote(*s)) {
        dal__buf b = {0};
        char close = *s == '[' ? ']' : *s;

        for (i = 1; s[i]; i++) {
            if (s[i] == close) {
                if (close != ']' && s[i + 1] == close)
                    i++;
                else
                    break;
            }
            if (dal__buf_addc(&b, s[i])) {
                dal__buf_free(&b);
                return NULL;
            }
        }
        *len = i + (s[i] != 0);
        return b.p ? b.p : dal__strdup("");
    }
    for (i = 0; s[i] && (s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z')
                         || (s[i] >= 'A' && s[i] <= 'Z')
                         || (s[i] >= '0' && s[i] <= '9')
                         || (unsigned char)s[i] >= 0x80); i++)
        ;
    *len = i;
    return dal__strndup(s, i);
}

/*
 * The CHECK constraints of a CREATE TABLE statement: table-level ones
 * ([CONSTRAINT name] CHECK (...)) and those inside column definitions,
 * kept as table-level checks (the same meaning).
 */
static int read_checks(dal_table *t, const char *sql)
{
    const char *p = strchr(sql, '('), *item;
    int depth;

    if (!p)
        return DAL_OK;
    for (item = ++p, depth = 0; *p; ) {
        if (is_quote(*p)) {
            p = sql + skip_quoted(sql, (size_t)(p - sql));
            continue;
        }
        if (*p == '(')
            depth++;
        else if (*p == ')' && depth-- == 0)
            break;
        if (depth == 0 && (kw_at(p, strlen(p), "CHECK")
                           || kw_at(p, strlen(p), "CONSTRAINT"))
            && (p == item || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z')
                               || (p[-1] >= 'A' && p[-1] <= 'Z')
                               || (p[-1] >= '0' && p[-1] <= '9')))) {
            char *name = NULL;
            const char *q = p;
            size_t n;

            if (kw_at(q, strlen(q), "CONSTRAINT")) {
                q += 10;
                while (*q == ' ' || *q == '\n' || *q == '\t')
                    q++;
                name = ident_at(q, &n);
                if (!name)
                    return DAL_NOMEM;
                q += n;
                while (*q == ' ' || *q == '\n' || *q == '\t')
                    q++;
                if (!kw_at(q, strlen(q), "CHECK")) {
                    dal__free(name);
                    p = q;
                    continue;
                }
            }
            q += 5;
            while (*q == ' ' || *q == '\n' || *q == '\t')
                q++;
            if (*q == '(') {
                const char *start = ++q;
                int d = 0;
                dal__cons *c;

                while (*q && !(*q == ')' && d == 0)) {
                    if (is_quote(*q)) {
                        q = sql + skip_quoted(sql, (size_t)(q - sql));
                        continue;
                    }
                    d += *q == '(' ? 1 : *q == ')' ? -1 : 0;
                    q++;
                }
                c = dal__realloc(t->checks, (size_t)(t->nchecks + 1)
                                            * sizeof *c);
                if (!c) {
                    dal__free(name);
                    return DAL_NOMEM;
                }
                t->checks = c;
                c += t->nchecks++;
                memset(c, 0, sizeof *c);
                c->name = name;
                if (!(c->check_sql = dal__strndup(start,
                                                  (size_t)(q - start))))
                    return DAL_NOMEM;
                p = *q ? q + 1 : q;
                continue;
            }
            dal__free(name);
            p = q;
            continue;
        }
        if (*p == ',' && depth == 0)
            item = p + 1;
        p++;
    }
    return DAL_OK;
}

static dal_fk_action fk_action(const char *s)
{
    if (!s)
        return DAL_FK_NO_ACTION;
    if (!strcasecmp(s, "CASCADE"))
        return DAL_FK_CASCADE;
    if (!strcasecmp(s, "SET NULL"))
        return DAL_FK_SET_NULL;
    if (!strcasecmp(s, "SET DEFAULT"))
        return DAL_FK_SET_DEFAULT;
    if (!strcasecmp(s, "RESTRICT"))
        return DAL_FK_RESTRICT;
    return DAL_FK_NO_ACTION;
}

/* The columns of index name, in order, into *cols / *n. */
static int index_cols(dal_db *db, const char *name, char ***cols, int *n)
{
    dal_stmt *st;
    int rc = query1(db, "SELECT name FROM pragma_index_info(?) ORDER BY "
                        "seqno", name, &st);

    while ((!rc || rc == DAL_ROW) && (rc = dal_step(st)) == DAL_ROW) {
        const char *c = dal_column_is_null(st, 0) ? "<expr>"
                        : dal_column_text(st, 0, NULL);

        if (!c || add_name(cols, n, c))
            rc = DAL_NOMEM;
    }
    if (st)
        dal__stmt_free(st);
    return rc == DAL_DONE ? DAL_OK : rc;
}

/* Does sql use keyword kw as a word, outside quotes? */
static int uses_keyword(const char *sql, const char *kw)
{
    size_t i = 0;

    while (sql[i]) {
        if (is_quote(sql[i])) {
            i = skip_quoted(sql, i);
            continue;
        }
        if ((i == 0 || !(sql[i - 1] == '_' || (sql[i - 1] >= 'a'
                                                && sql[i - 1] <= 'z')
                         || (sql[i - 1] >= 'A' && sql[i - 1] <= 'Z')
                         || (sql[i - 1] >= '0' && sql[i - 1] <= '9')))
            && kw_at(sql + i, strlen(sql + i), kw))
            return 1;
        i++;
    }
    return 0;
}

static int read_table(dal_db *db, const char *name, dal_table **out)
{
    dal_table *t = NULL;
    dal_stmt *st = NULL;
    char *sql = NULL;
    int rc, npk = 0, pkcol = -1, i;

    *out = NULL;
    rc = query1(db, "SELECT sql FROM sqlite_master WHERE type = 'table' "
                    "AND name = ?", name, &st);
    if (!rc && (rc = dal_step(st)) == DAL_ROW)
        sql = col_dup(st, 0);
    if (st)
        dal__stmt_free(st);
    if (rc == DAL_DONE)
        return DAL_OK; /* no such table */
    if (rc != DAL_ROW)
        return rc;
    if (!sql || !(t = dal_table_new(name)))
        goto nomem;

    /* Generated and hidden columns, COLLATE, AUTOINCREMENT and WITHOUT
     * ROWID: a rebuild from what the pragmas tell would lose them, so the
     * table is marked for dal_schema_apply() to refuse one. */
    {
        int64_t hidden = 0;
        const char *lost = uses_keyword(sql, "COLLATE") ? "COLLATE"
                           : uses_keyword(sql, "AUTOINCREMENT")
                           ? "AUTOINCREMENT"
                           : uses_keyword(sql, "WITHOUT") ? "WITHOUT ROWID"
                           : NULL;

        if (lost) {
            t->err = DAL_E_UNSUPPORTED;
            if (!(t->errmsg = dal__asprintf("table %s uses %s, which a "
                                            "rebuild would lose: change it "
                                            "with raw SQL", name, lost)))
                goto nomem;
        }

        rc = dal_query_int64(db, "SELECT count(*) FROM pragma_table_xinfo(?) "
                                 "WHERE hidden <> 0", &DAL_V_TEXT(name), 1,
                             &hidden);
        if (rc)
            goto fail;
        if (hidden && !t->err) {
            t->err = DAL_E_UNSUPPORTED;
            if (!(t->errmsg = dal__asprintf("table %s has generated or "
                                            "hidden columns, which a "
                                            "rebuild would lose: change it "
                                            "with raw SQL", name)))
                goto nomem;
        }
    }

    /* Columns. */
    rc = query1(db, "SELECT name, type, \"notnull\", dflt_value, pk "
                    "FROM pragma_table_info(?) ORDER BY cid", name, &st);
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
        c->def_sql = col_dup(st, 3);
        if (!c->name)
            goto nomem_st;
        if (dal_column_int64(st, 4) > 0) {
            npk++;
            pkcol = t->ncols - 1;
        }
    }
    if (st)
        dal__stmt_free(st);
    st = NULL;
    if (rc != DAL_DONE)
        goto fail;
    if (npk == 1) {
        const char *decl = NULL;
        dal_stmt *s2;

        t->cols[pkcol].flags |= DAL_COL_PK | DAL_COL_NOT_NULL;
        /* Only a column declared exactly INTEGER is the rowid. */
        rc = query1(db, "SELECT type FROM pragma_table_info(?) WHERE pk = 1",
                    name, &s2);
        if (!rc && dal_step(s2) == DAL_ROW)
            decl = dal_column_text(s2, 0, NULL);
        if (decl && !strcasecmp(decl, "INTEGER"))
            t->cols[pkcol].flags |= DAL_COL_AUTO;
        if (s2)
            dal__stmt_free(s2);
    } else if (npk > 1) {
        rc = query1(db, "SELECT name FROM pragma_table_info(?) WHERE pk > 0 "
                        "ORDER BY pk", name, &st);
        while ((!rc || rc == DAL_ROW) && (rc = dal_step(st)) == DAL_ROW)
            if (add_name(&t->pk, &t->npk, dal_column_text(st, 0, NULL)))
                goto nomem_st;
        if (st)
            dal__stmt_free(st);
        st = NULL;
        if (rc != DAL_DONE)
            goto fail;
    }

    /* Indexes: 'u' backs a UNIQUE constraint, 'c' is CREATE INDEX. */
    rc = query1(db, "SELECT l.name, l.\"unique\", l.origin, l.partial, m.sql "
                    "FROM pragma_index_list(?) AS l LEFT JOIN sqlite_master "
                    "AS m ON m.type = 'index' AND m.name = l.name "
                    "ORDER BY l.name", name, &st);
    while ((!rc || rc == DAL_ROW) && (rc = dal_step(st)) == DAL_ROW) {
        const char *origin = dal_column_text(st, 2, NULL);
        char **cols = NULL;
        int ncols = 0;

        if (!origin || !strcmp(origin, "pk"))
            continue;
        if ((rc = index_cols(db, dal_column_text(st, 0, NULL), &cols,
                             &ncols))) {
            for (i = 0; i < ncols; i++)
                dal__free(cols[i]);
            dal__free(cols);
            goto fail_st;
        }
        if (!strcmp(origin, "u")) {
            int c = -1;

            for (i = 0; ncols == 1 && i < t->ncols; i++)
                if (!strcmp(t->cols[i].name, cols[0]))
                    c = i;
            if (c >= 0) {
                t->cols[c].flags |= DAL_COL_UNIQUE;
                dal__free(cols[0]);
                dal__free(cols);
            } else {
                dal__cons *u = dal__realloc(t->uniques,
                                            (size_t)(t->nuniques + 1)
                                            * sizeof *u);
                if (!u) {
                    for (i = 0; i < ncols; i++)
                        dal__free(cols[i]);
                    dal__free(cols);
                    goto nomem_st;
                }
                t->uniques = u;
                u += t->nuniques++;
                memset(u, 0, sizeof *u);
                u->cols = cols;
                u->ncols = ncols;
            }
        } else {
            dal__index *x = dal__realloc(t->indexes,
                                         (size_t)(t->nindexes + 1)
                                         * sizeof *x);
            const char *isql;

            if (!x) {
                for (i = 0; i < ncols; i++)
                    dal__free(cols[i]);
                dal__free(cols);
                goto nomem_st;
            }
            t->indexes = x;
            x += t->nindexes++;
            memset(x, 0, sizeof *x);
            x->cols = cols;
            x->ncols = ncols;
            x->unique = (int)dal_column_int64(st, 1);
            x->name = col_dup(st, 0);
            x->sql = col_dup(st, 4);
            if (!x->name || !x->sql)
                goto nomem_st;
            isql = x->sql;
            if (dal_column_int64(st, 3)) {
                /* Partial: keep the condition's text for describe. */
                const char *w = NULL, *p;

                for (p = isql; *p; p++)
                    if (kw_at(p, strlen(p), "WHERE") && p > isql
                        && (p[-1] == ' ' || p[-1] == ')' || p[-1] == '\n'))
                        w = p + 5;
                if (!(x->where_sql = dal__strdup(w ? w : "")))
                    goto nomem_st;
            }
        }
    }
    if (st)
        dal__stmt_free(st);
    st = NULL;
    if (rc != DAL_DONE)
        goto fail;

    /* Foreign keys, one row per column, grouped by id. */
    rc = query1(db, "SELECT id, \"table\", \"from\", \"to\", on_update, "
                    "on_delete FROM pragma_foreign_key_list(?) "
                    "ORDER BY id, seq", name, &st);
    {
        int64_t last = -1;

        while ((!rc || rc == DAL_ROW) && (rc = dal_step(st)) == DAL_ROW) {
            dal__cons *f;

            if (dal_column_int64(st, 0) != last) {
                f = dal__realloc(t->fks, (size_t)(t->nfks + 1) * sizeof *f);
                if (!f)
                    goto nomem_st;
                t->fks = f;
                f += t->nfks++;
                memset(f, 0, sizeof *f);
                last = dal_column_int64(st, 0);
                f->ref_table = col_dup(st, 1);
                f->on_update = fk_action(dal_column_text(st, 4, NULL));
                f->on_delete = fk_action(dal_column_text(st, 5, NULL));
                if (!f->ref_table)
                    goto nomem_st;
            }
            f = &t->fks[t->nfks - 1];
            {
                int n = f->ncols, m = f->ncols;

                /* Both lists keep f->ncols entries, or the second name's
                 * failure would leave the first counted nowhere. */
                if (add_name(&f->cols, &n, dal_column_text(st, 2, NULL)))
                    goto nomem_st;
                if (add_name(&f->ref_cols, &m,
                             dal_column_text(st, 3, NULL))) {
                    dal__free(f->cols[--n]);
                    goto nomem_st;
                }
                f->ncols = n;
            }
        }
    }
    if (st)
        dal__stmt_free(st);
    st = NULL;
    if (rc != DAL_DONE)
        goto fail;

    if ((rc = read_checks(t, sql)))
        goto fail;

    /* Triggers, to recreate after a rebuild. */
    rc = query1(db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                    "AND tbl_name = ? ORDER BY name", name, &st);
    while ((!rc || rc == DAL_ROW) && (rc = dal_step(st)) == DAL_ROW)
        if (add_name(&t->triggers, &t->ntriggers,
                     dal_column_text(st, 0, NULL)))
            goto nomem_st;
    if (st)
        dal__stmt_free(st);
    st = NULL;
    if (rc != DAL_DONE)
        goto fail;
    dal__free(sql);
    *out = t;
    return DAL_OK;

nomem_st:
    rc = DAL_NOMEM;
fail_st:
    if (st)
        dal__stmt_free(st);
    goto fail;
nomem:
    rc = DAL_NOMEM;
fail:
    dal__free(sql);
    dal_table_free(t);
    if (rc == DAL_NOMEM)
        dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    return rc;
}

int dal__sq_table_read(dal_db *db, const char *name, dal_table **t)
{
    return read_table(db, name, t);
}

int dal__sq_schema_read(dal_db *db, dal_schema *s)
{
    dal_stmt *st;
    int rc;

    /* Ordinary tables only: not views, virtual tables or their shadow
     * tables, nor SQLite's and libdal's own. */
    rc = query1(db, "SELECT name FROM pragma_table_list WHERE schema = "
                    "'main' AND type = 'table' AND name NOT LIKE "
                    "'sqlite\\_%' ESCAPE '\\' AND name <> 'dal_migrations' "
                    "ORDER BY name", NULL, &st);
    while ((!rc || rc == DAL_ROW) && (rc = dal_step(st)) == DAL_ROW) {
        dal_table *t = NULL;
        char *name = col_dup(st, 0);

        if (!name) {
            rc = DAL_NOMEM;
            break;
        }
        rc = read_table(db, name, &t);
        dal__free(name);
        if (!rc && t && dal__schema_add(s, t))
            rc = DAL_NOMEM;
    }
    if (st)
        dal__stmt_free(st);
    if (rc == DAL_NOMEM)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    return rc == DAL_DONE ? DAL_OK : rc;
}

/* ---- rebuild --------------------------------------------------------- */

static int stmt(dal__buf *b, char phase, const char *a, const char *c)
{
    return dal__buf_addc(b, phase) || dal__buf_adds(b, a)
           || (c && dal__buf_adds(b, c)) || dal__buf_addc(b, '\0');
}

int dal__sq_rebuild(dal_db *db, const dal_table *t, const char *const *keep,
                    int nkeep, dal__buf *s)
{
    const struct dal_dialect *d = db->drv->dialect;
    char tmp[300], err[256];
    int64_t fk = 0;
    int i, rc;

    snprintf(tmp, sizeof tmp, "dal_new_%s", t->name);
    /* foreign_keys cannot change inside a transaction: switch it off
     * before, and back on after, whatever happened in between. */
    if ((rc = dal_query_int64(db, "PRAGMA foreign_keys", NULL, 0, &fk)))
        return rc;
    if (fk && (stmt(s, 'B', "PRAGMA foreign_keys=OFF", NULL)))
        goto nomem;
    /* Views and other tables' triggers that name the table would stop
     * the RENAME (SQLite checks the whole schema since 3.26); the
     * legacy rule renames without looking at them, and they find the
     * new table by its name. */
    if (stmt(s, 'B', "PRAGMA legacy_alter_table=ON", NULL))
        goto nomem;
    if (dal__buf_addc(s, 'T'))
        goto nomem;
    if ((rc = dal__table_create_sql(s, d, t, tmp, err, sizeof err)))
        return rc == DAL_NOMEM ? DAL_NOMEM
                               : dal__seterr(db, rc, NULL, 0, err, NULL,
                                             NULL, NULL);
    if (dal__buf_addc(s, '\0'))
        goto nomem;
    /* Copy the rows of the columns that stay. */
    if (dal__buf_adds(s, "TINSERT INTO ") || dal__buf_ident(s, tmp)
        || dal__buf_adds(s, " ("))
        goto nomem;
    for (i = 0; i < nkeep; i++)
        if ((i && dal__buf_adds(s, ", ")) || dal__buf_ident(s, keep[i]))
            goto nomem;
    if (dal__buf_adds(s, ") SELECT "))
        goto nomem;
    for (i = 0; i < nkeep; i++)
        if ((i && dal__buf_adds(s, ", ")) || dal__buf_ident(s, keep[i]))
            goto nomem;
    if (dal__buf_adds(s, " FROM ") || dal__buf_ident(s, t->name)
        || dal__buf_addc(s, '\0'))
        goto nomem;
    if (dal__buf_adds(s, "TDROP TABLE ") || dal__buf_ident(s, t->name)
        || dal__buf_addc(s, '\0'))
        goto nomem;
    if (dal__buf_adds(s, "TALTER TABLE ") || dal__buf_ident(s, tmp)
        || dal__buf_adds(s, " RENAME TO ") || dal__buf_ident(s, t->name)
        || dal__buf_addc(s, '\0'))
        goto nomem;
    /* The indexes and triggers went with the old table. */
    for (i = 0; i < t->nindexes; i++) {
        if (dal__buf_addc(s, 'T'))
            goto nomem;
        if ((rc = dal__index_sql(s, d, &t->indexes[i], t->name, err,
                                 sizeof err)))
            return rc == DAL_NOMEM ? DAL_NOMEM
                                   : dal__seterr(db, rc, NULL, 0, err, NULL,
                                                 NULL, NULL);
        if (dal__buf_addc(s, '\0'))
            goto nomem;
    }
    for (i = 0; i < t->ntriggers; i++)
        if (stmt(s, 'T', t->triggers[i], NULL))
            goto nomem;
    if (fk && stmt(s, 'C', "PRAGMA foreign_key_check", NULL))
        goto nomem;
    if (fk && stmt(s, 'A', "PRAGMA foreign_keys=ON", NULL))
        goto nomem;
    if (stmt(s, 'A', "PRAGMA legacy_alter_table=OFF", NULL))
        goto nomem;
    return DAL_OK;
nomem:
    return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
}
