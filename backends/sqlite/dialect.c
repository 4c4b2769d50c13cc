/*
 * dialect.c - how the query compiler writes SQL for SQLite.
 */
#include <stdio.h>
#include <string.h>

#include "dal-int.h"
#include "sqlite-int.h"

static int sq_now(dal__cc *cc)
{
    return dal__cc_str(cc, "strftime('%Y-%m-%d %H:%M:%S', 'now')");
}

static int sq_extract(dal__cc *cc, dal_datepart part, const dal_expr *a)
{
    static const char *const fmt[] = {
        "", "'%Y'", "'%m'", "'%d'", "'%H'", "'%M'", "'%S'"
    };

    dal__cc_str(cc, "CAST(strftime(");
    dal__cc_str(cc, fmt[part]);
    dal__cc_str(cc, ", ");
    dal__cc_expr(cc, a);
    return dal__cc_str(cc, ") AS INTEGER)");
}

static int sq_to_int(dal__cc *cc, const dal_expr *a)
{
    /* SQLite's CAST to INTEGER truncates toward zero. */
    dal__cc_str(cc, "CAST(");
    dal__cc_expr(cc, a);
    return dal__cc_str(cc, " AS INTEGER)");
}

static int sq_to_bool(dal__cc *cc, const dal_expr *a)
{
    /* 0 or 1 (NULL stays NULL), as PostgreSQL's boolean reads back. */
    dal__cc_str(cc, "(CAST(");
    dal__cc_expr(cc, a);
    return dal__cc_str(cc, " AS INTEGER) <> 0)");
}

static int sq_round(dal__cc *cc, const dal_expr *a, int digits)
{
    dal__cc_str(cc, "round(");
    dal__cc_expr(cc, a);
    dal__cc_str(cc, ", CAST(");
    dal__cc_value(cc, &DAL_V_INT64(digits));
    return dal__cc_str(cc, " AS INTEGER))");
}

/*
 * The text form: strings without quotes (json_extract), JSON null as SQL
 * NULL, and everything else as its JSON text through ->, which keeps a
 * number's own digits (99.90 stays 99.90, as PostgreSQL's #>> gives it;
 * json_extract would make it the REAL 99.9) and true/false as words.
 */
static int sq_json_get(dal__cc *cc, const dal_expr *a, const char *path,
                       int kind)
{
    int idx;

    if (dal__cc_text_param(cc, path, &idx))
        return dal__cc_fail(cc, DAL_NOMEM, "out of memory");
    if (kind == 0) {
        dal__cc_str(cc, "CASE json_type(");
        dal__cc_expr(cc, a);
        dal__cc_str(cc, ", ");
        dal__cc_marker(cc, idx);
        dal__cc_str(cc, ") WHEN 'text' THEN json_extract(");
        dal__cc_expr(cc, a);
        dal__cc_str(cc, ", ");
        dal__cc_marker(cc, idx);
        dal__cc_str(cc, ") WHEN 'null' THEN NULL ELSE (");
        dal__cc_expr(cc, a);
        dal__cc_str(cc, " -> ");
        dal__cc_marker(cc, idx);
        return dal__cc_str(cc, ") END");
    }
    /* A number only; anything else is NULL, as on PostgreSQL. */
    dal__cc_str(cc, "CASE WHEN json_type(");
    dal__cc_expr(cc, a);
    dal__cc_str(cc, ", ");
    dal__cc_marker(cc, idx);
    dal__cc_str(cc, ") IN ('integer', 'real') THEN CAST(json_extract(");
    dal__cc_expr(cc, a);
    dal__cc_str(cc, ", ");
    dal__cc_marker(cc, idx);
    return dal__cc_str(cc, kind == 1 ? ") AS INTEGER) END"
                                     : ") AS REAL) END");
}

/* ---- full-text search ---------------------------------------------- */

/* Append the FTS5 string "text" (n bytes), doubling quotes. */
static int fts5_string(dal__buf *b, const char *text, size_t n)
{
    size_t i;

    if (dal__buf_addc(b, '"'))
        return DAL_NOMEM;
    for (i = 0; i < n; i++)
        if ((text[i] == '"' && dal__buf_addc(b, '"'))
            || dal__buf_addc(b, text[i]))
            return DAL_NOMEM;
    return dal__buf_addc(b, '"');
}

enum { TOK_WORD, TOK_OR, TOK_NOT };

typedef struct fts_tok {
    const char *t;
    size_t n;
    int kind;
} fts_tok;

/*
 * Translate a web-search query (words, "phrases", or, -word) into FTS5's
 * syntax with PostgreSQL's websearch_to_tsquery() meaning: words are
 * ANDed, OR binds tighter than that AND (a b or c = a AND (b OR c)), and
 * -x excludes. Every word goes quoted, so FTS5's own operators and
 * punctuation in the text mean nothing.
 */
static char *fts5_query(const char *q)
{
    fts_tok *tok = dal__calloc(strlen(q) + 1, sizeof *tok);
    dal__buf b = {0};
    int n = 0, i, words = 0;

    if (!tok)
        return NULL;
    while (*q) {
        int minus = 0;
        const char *t;
        size_t len;

        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
            q++;
        if (!*q)
            break;
        if (*q == '-' && q[1] && q[1] != ' ') {
            minus = 1;
            q++;
        }
        if (*q == '"') {
            t = ++q;
            len = strcspn(t, "\"");
            q = t + len + (t[len] == '"');
        } else {
            t = q;
            len = strcspn(t, " \t\n\r\"");
            q = t + len;
        }
        tok[n].t = t;
        tok[n].n = len;
        tok[n].kind = minus ? TOK_NOT
                      : len == 2 && (t[0] == 'o' || t[0] == 'O')
                        && (t[1] == 'r' || t[1] == 'R') && t[-1] != '"'
                      ? TOK_OR : TOK_WORD;
        n++;
    }
    /* Words, with ORs joining neighbours into parenthesized groups. */
    for (i = 0; i < n; i++) {
        int j = i, k;

        if (tok[i].kind != TOK_WORD)
            continue;
        /* The group: word (OR word)* */
        while (j + 2 < n && tok[j + 1].kind == TOK_OR
               && tok[j + 2].kind == TOK_WORD)
            j += 2;
        if ((words++ && dal__buf_addc(&b, ' '))
            || (j > i && dal__buf_addc(&b, '(')))
            goto nomem;
        for (k = i; k <= j; k += 2)
            if ((k > i && dal__buf_adds(&b, " OR "))
                || fts5_string(&b, tok[k].t, tok[k].n))
                goto nomem;
        if (j > i && dal__buf_addc(&b, ')'))
            goto nomem;
        i = j;
    }
    for (i = 0; i < n; i++)
        if (tok[i].kind == TOK_NOT
            && (dal__buf_adds(&b, " NOT ")
                || fts5_string(&b, tok[i].t, tok[i].n)))
            goto nomem;
    if (!words) {
        /* Nothing to look for (the builder refuses such a query; this
         * is only reached through odd spacing): match nothing. */
        dal__buf_free(&b);
        if (dal__buf_adds(&b, "\"\""))
            goto nomem;
    }
    dal__free(tok);
    return b.p;
nomem:
    dal__free(tok);
    dal__buf_free(&b);
    return NULL;
}

/* Bind the translated query; its parameter index in *idx. */
static int fts_param(dal__cc *cc, const char *query, int *idx)
{
    char *q = fts5_query(query);
    int rc;

    if (!q)
        return dal__cc_fail(cc, DAL_NOMEM, "out of memory");
    rc = dal__cc_text_param(cc, q, idx);
    dal__free(q);
    return rc;
}

static int sq_fts_match(dal__cc *cc, const char *table, const char *query)
{
    char name[300];
    int idx;

    if (fts_param(cc, query, &idx))
        return dal__cc_fail(cc, DAL_NOMEM, "out of memory");
    snprintf(name, sizeof name, "\"%s_fts\"", table);
    dal__cc_str(cc, "(\"");
    dal__cc_str(cc, table);
    dal__cc_str(cc, "\".rowid IN (SELECT rowid FROM ");
    dal__cc_str(cc, name);
    dal__cc_str(cc, " WHERE ");
    dal__cc_str(cc, name);
    dal__cc_str(cc, " MATCH ");
    dal__cc_marker(cc, idx);
    return dal__cc_str(cc, "))");
}

static int sq_fts_rank(dal__cc *cc, const char *table, const char *query)
{
    char name[300];
    int idx;

    if (fts_param(cc, query, &idx))
        return dal__cc_fail(cc, DAL_NOMEM, "out of memory");
    snprintf(name, sizeof name, "\"%s_fts\"", table);
    /* bm25() is lower for better matches, and negative. */
    dal__cc_str(cc, "(SELECT -bm25(");
    dal__cc_str(cc, name);
    dal__cc_str(cc, ") FROM ");
    dal__cc_str(cc, name);
    dal__cc_str(cc, " WHERE ");
    dal__cc_str(cc, name);
    dal__cc_str(cc, " MATCH ");
    dal__cc_marker(cc, idx);
    dal__cc_str(cc, " AND rowid = \"");
    dal__cc_str(cc, table);
    return dal__cc_str(cc, "\".rowid)");
}

/* "prefix"."c1", "prefix"."c2" ... (or bare "c1", ... with no prefix). */
static int col_list(dal__buf *b, const char *prefix,
                    const char *const *cols, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if ((i && dal__buf_adds(b, ", "))
            || (prefix && (dal__buf_adds(b, prefix)
                           || dal__buf_addc(b, '.')))
            || dal__buf_ident(b, cols[i]))
            return DAL_NOMEM;
    return DAL_OK;
}

/* INSERT INTO fts(["fts",] rowid, cols) VALUES ([cmd,] who.rowid, ...) */
static int fts_row(dal__buf *b, const char *fts, const char *cmd,
                   const char *who, const char *const *cols, int n)
{
    return dal__buf_adds(b, "INSERT INTO ") || dal__buf_adds(b, fts)
           || dal__buf_adds(b, "(")
           || (cmd && (dal__buf_adds(b, fts) || dal__buf_adds(b, ", ")))
           || dal__buf_adds(b, "rowid, ") || col_list(b, NULL, cols, n)
           || dal__buf_adds(b, ") VALUES (")
           || (cmd && (dal__buf_adds(b, cmd) || dal__buf_adds(b, ", ")))
           || dal__buf_adds(b, who) || dal__buf_adds(b, ".rowid, ")
           || col_list(b, who, cols, n) || dal__buf_adds(b, "); ");
}

static int sq_fts_create_sql(dal__buf *b, const char *table,
                             const char *const *cols, int n)
{
    char fts[300], tbl[300], trg[320];
    static const char *const suffix[] = {"ai", "ad", "au"};
    static const char *const event[] = {"INSERT", "DELETE", "UPDATE"};
    int i;

    snprintf(fts, sizeof fts, "\"%s_fts\"", table);
    snprintf(tbl, sizeof tbl, "\"%s\"", table);
    /* External content: the text stays in the table, FTS5 keeps the
     * index. Names hold no quotes (checked), so 'table' is safe. */
    if (dal__buf_adds(b, "CREATE VIRTUAL TABLE ") || dal__buf_adds(b, fts)
        || dal__buf_adds(b, " USING fts5(") || col_list(b, NULL, cols, n)
        || dal__buf_adds(b, ", content='") || dal__buf_adds(b, table)
        || dal__buf_adds(b, "', tokenize='unicode61 remove_diacritics 0')")
        || dal__buf_addc(b, '\0'))
        return DAL_NOMEM;
    for (i = 0; i < 3; i++) {
        snprintf(trg, sizeof trg, "\"%s_fts_%s\"", table, suffix[i]);
        if (dal__buf_adds(b, "CREATE TRIGGER ") || dal__buf_adds(b, trg)
            || dal__buf_adds(b, " AFTER ") || dal__buf_adds(b, event[i])
            || dal__buf_adds(b, " ON ") || dal__buf_adds(b, tbl)
            || dal__buf_adds(b, " BEGIN ")
            || (i > 0 && fts_row(b, fts, "'delete'", "old", cols, n))
            || (i != 1 && fts_row(b, fts, NULL, "new", cols, n))
            || dal__buf_adds(b, "END") || dal__buf_addc(b, '\0'))
            return DAL_NOMEM;
    }
    if (dal__buf_adds(b, "INSERT INTO ") || dal__buf_adds(b, fts)
        || dal__buf_addc(b, '(') || dal__buf_adds(b, fts)
        || dal__buf_adds(b, ") VALUES ('rebuild')") || dal__buf_addc(b, '\0'))
        return DAL_NOMEM;
    return DAL_OK;
}

/* EXPLAIN QUERY PLAN rows: id, parent, notused, detail. */
static int sq_explain_read(dal_db *db, dal_stmt *st, dal_plan *plan)
{
    int64_t *ids = NULL, *grown;
    int n = 0, rc, i, parent;

    while ((rc = dal_step(st)) == DAL_ROW) {
        int64_t id = dal_column_int64(st, 0), pid = dal_column_int64(st, 1);
        size_t len;
        const char *detail = dal_column_text(st, 3, &len);

        grown = dal__realloc(ids, (size_t)(n + 1) * sizeof *ids);
        if (!grown || !detail) {
            rc = DAL_NOMEM;
            break;
        }
        ids = grown;
        ids[n++] = id;
        for (parent = -1, i = 0; i < n - 1; i++)
            if (ids[i] == pid)
                parent = i;
        if ((rc = dal__plan_add(plan, parent, detail, len, -1.0, -1.0)))
            break;
    }
    dal__free(ids);
    if (rc == DAL_NOMEM)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    return rc == DAL_DONE ? DAL_OK : rc;
}

const struct dal_dialect dal__sqlite_dialect = {
    .name = "sqlite",
    .param_marker = '?',
    .max_params = 32766,
    .type_names = {
        [DAL_SQL_INT64] = "INTEGER", [DAL_SQL_DOUBLE] = "REAL",
        [DAL_SQL_TEXT] = "TEXT", [DAL_SQL_BLOB] = "BLOB",
        [DAL_SQL_BOOL] = "INTEGER", [DAL_SQL_NUMERIC] = "NUMERIC",
        [DAL_SQL_TIMESTAMP] = "TEXT", [DAL_SQL_DATE] = "TEXT",
        [DAL_SQL_JSON] = "TEXT",
    },
    .value_cast = {NULL},
    .is_distinct = " IS NOT ",
    .is_not_distinct = " IS ",
    .has_ilike = 0,
    .has_for_update = 0,
    .offset_needs_limit = 1,
    .json_object_fn = "json_object",
    .json_array_fn = "json_array",
    .now = sq_now,
    .extract = sq_extract,
    .avg_prefix = "",
    .avg_suffix = "",
    .to_int = sq_to_int,
    .to_bool = sq_to_bool,
    .text_cast = NULL,
    .asc_nulls = " NULLS LAST",
    .desc_nulls = " NULLS FIRST",
    .cast_fn = {[DAL_SQL_DATE] = "date", [DAL_SQL_TIMESTAMP] = "datetime"},
    .upsert_select_needs_where = 1,
    .round = sq_round,
    .json_get = sq_json_get,
    .json_contains = NULL,
    .fts_match = sq_fts_match,
    .fts_rank = sq_fts_rank,
    .fts_create_sql = sq_fts_create_sql,
    .explain_prefix = "EXPLAIN QUERY PLAN ",
    .explain_read = sq_explain_read,
    .ddl_types = {
        [DAL_SQL_INT64] = "INTEGER", [DAL_SQL_DOUBLE] = "REAL",
        [DAL_SQL_TEXT] = "TEXT", [DAL_SQL_BLOB] = "BLOB",
        [DAL_SQL_BOOL] = "BOOLEAN", [DAL_SQL_NUMERIC] = "NUMERIC",
        [DAL_SQL_TIMESTAMP] = "TIMESTAMP", [DAL_SQL_DATE] = "DATE",
        [DAL_SQL_JSON] = "JSON",
    },
    .json_check = 1,
    .auto_pk = "INTEGER PRIMARY KEY",
    .int64_key_type = "BIGINT",
    .literal = dal__sq_literal,
    .now_default = "CURRENT_TIMESTAMP",
    .alter_by_rebuild = 1,
    .rebuild = dal__sq_rebuild,
    .schema_read = dal__sq_schema_read,
    .table_read = dal__sq_table_read,
};
