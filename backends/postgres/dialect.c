/*
 * dialect.c - how the query compiler writes SQL for PostgreSQL.
 *
 * Bound numbers carry a cast (::int8, ::float8, ...) so that the server
 * knows their type where the context does not say (SELECT $1 + $2);
 * text goes without one, so that it can still become a timestamp, json
 * or uuid where a column of that type receives it.
 */
#include <stdio.h>
#include <string.h>

#include "dal-int.h"
#include "pg-int.h"

static int pg_now(dal__cc *cc)
{
    return dal__cc_str(cc, "to_char(now() AT TIME ZONE 'UTC', "
                           "'YYYY-MM-DD HH24:MI:SS')");
}

static int pg_extract(dal__cc *cc, dal_datepart part, const dal_expr *a)
{
    static const char *const names[] = {
        "", "YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"
    };

    /* floor: EXTRACT(SECOND) has a fraction, SQLite's %S does not. */
    dal__cc_str(cc, "CAST(floor(EXTRACT(");
    dal__cc_str(cc, names[part]);
    dal__cc_str(cc, " FROM CAST(");
    dal__cc_expr(cc, a);
    return dal__cc_str(cc, " AS TIMESTAMP))) AS BIGINT)");
}

/*
 * a as an exact NUMERIC: through its text, which PostgreSQL (12 and
 * later) writes exactly for every number type, where a direct double to
 * NUMERIC cast keeps only 15 digits (0.57 * 100 would become 57).
 */
static int exact_numeric(dal__cc *cc, const dal_expr *a)
{
    dal__cc_str(cc, "CAST(CAST(");
    dal__cc_expr(cc, a);
    return dal__cc_str(cc, " AS TEXT) AS NUMERIC)");
}

static int pg_to_int(dal__cc *cc, const dal_expr *a)
{
    /* CAST(x AS BIGINT) rounds a fraction here; truncate first. */
    dal__cc_str(cc, "CAST(trunc(");
    exact_numeric(cc, a);
    return dal__cc_str(cc, ") AS BIGINT)");
}

static int pg_to_bool(dal__cc *cc, const dal_expr *a)
{
    /* Booleans stay; numbers are true when not 0, as on SQLite. There is
     * no cast from BIGINT to BOOLEAN, so numbers go through NUMERIC. */
    dal__cc_str(cc, "(CASE CAST(");
    dal__cc_expr(cc, a);
    dal__cc_str(cc, " AS TEXT) WHEN 'true' THEN TRUE WHEN 'false' THEN "
                    "FALSE ELSE ");
    exact_numeric(cc, a);
    return dal__cc_str(cc, " <> 0 END)");
}

static int pg_round(dal__cc *cc, const dal_expr *a, int digits)
{
    /* round(x, n) exists for NUMERIC only. */
    dal__cc_str(cc, "CAST(round(");
    exact_numeric(cc, a);
    dal__cc_str(cc, ", CAST(");
    dal__cc_value(cc, &DAL_V_INT64(digits));
    return dal__cc_str(cc, " AS INTEGER)) AS DOUBLE PRECISION)");
}

/* "$.a[0].\"b c\"" as the text[] literal {"a","0","b c"} for #>>. */
static char *path_array(const char *path)
{
    dal__buf b = {0};
    const char *p = path + 1;
    int first = 1;

    if (dal__buf_addc(&b, '{'))
        goto nomem;
    while (*p) {
        const char *k;
        size_t n;

        if (p[0] == '.' && p[1] == '"') {
            k = p + 2;
            n = strcspn(k, "\"");
            p = k + n + 1;
        } else if (p[0] == '.') {
            k = p + 1;
            n = strcspn(k, ".[");
            p = k + n;
        } else {
            k = p + 1;
            n = strcspn(k, "]");
            p = k + n + 1;
        }
        if ((!first && dal__buf_addc(&b, ',')) || dal__buf_addc(&b, '"'))
            goto nomem;
        for (size_t i = 0; i < n; i++)
            if (((k[i] == '"' || k[i] == '\\') && dal__buf_addc(&b, '\\'))
                || dal__buf_addc(&b, k[i]))
                goto nomem;
        if (dal__buf_addc(&b, '"'))
            goto nomem;
        first = 0;
    }
    if (dal__buf_addc(&b, '}'))
        goto nomem;
    return b.p;
nomem:
    dal__buf_free(&b);
    return NULL;
}

static int pg_json_get(dal__cc *cc, const dal_expr *a, const char *path,
                       int kind)
{
    char *arr = path_array(path);
    int idx, rc;

    if (!arr)
        return dal__cc_fail(cc, DAL_NOMEM, "out of memory");
    rc = dal__cc_text_param(cc, arr, &idx);
    dal__free(arr);
    if (rc)
        return rc;
    if (kind) {
        /* A number only; anything else is NULL (a cast would fail). */
        dal__cc_str(cc, "CASE jsonb_typeof(CAST(");
        dal__cc_expr(cc, a);
        dal__cc_str(cc, " AS JSONB) #> CAST(");
        dal__cc_marker(cc, idx);
        dal__cc_str(cc, " AS TEXT[])) WHEN 'number' THEN ");
    }
    if (kind == 1)
        dal__cc_str(cc, "CAST(trunc(CAST(");
    else if (kind == 2)
        dal__cc_str(cc, "CAST(");
    dal__cc_str(cc, "(CAST(");
    dal__cc_expr(cc, a);
    dal__cc_str(cc, " AS JSONB) #>> CAST(");
    dal__cc_marker(cc, idx);
    dal__cc_str(cc, " AS TEXT[]))");
    if (kind == 1)
        dal__cc_str(cc, " AS NUMERIC)) AS BIGINT) END");
    else if (kind == 2)
        dal__cc_str(cc, " AS DOUBLE PRECISION) END");
    return dal__cc_str(cc, "");
}

static int pg_json_contains(dal__cc *cc, const dal_expr *a,
                            const dal_expr *b)
{
    dal__cc_str(cc, "(CAST(");
    dal__cc_expr(cc, a);
    dal__cc_str(cc, " AS JSONB) @> CAST(");
    dal__cc_expr(cc, b);
    return dal__cc_str(cc, " AS JSONB))");
}

/* websearch_to_tsquery('simple', $n) */
static int tsquery(dal__cc *cc, const char *query)
{
    int idx;

    if (dal__cc_text_param(cc, query, &idx))
        return dal__cc_fail(cc, DAL_NOMEM, "out of memory");
    dal__cc_str(cc, "websearch_to_tsquery('simple', ");
    dal__cc_marker(cc, idx);
    return dal__cc_str(cc, ")");
}

/* "table"."table_fts" */
static int fts_column(dal__cc *cc, const char *table)
{
    dal__cc_str(cc, "\"");
    dal__cc_str(cc, table);
    dal__cc_str(cc, "\".\"");
    dal__cc_str(cc, table);
    return dal__cc_str(cc, "_fts\"");
}

static int pg_fts_match(dal__cc *cc, const char *table, const char *query)
{
    dal__cc_str(cc, "(");
    fts_column(cc, table);
    dal__cc_str(cc, " @@ ");
    tsquery(cc, query);
    return dal__cc_str(cc, ")");
}

/* The query without its -excluded words, quotes kept balanced. */
static char *wanted_words(const char *q)
{
    char *out = dal__malloc(strlen(q) + 1), *o = out;
    int quoted = 0;

    if (!out)
        return NULL;
    while (*q) {
        if (!quoted && *q == '-' && (o == out || o[-1] == ' ')
            && q[1] && q[1] != ' ') {
            /* Skip the excluded word or "phrase". */
            if (*++q == '"') {
                q++;
                while (*q && *q != '"')
                    q++;
                if (*q)
                    q++;
            } else {
                while (*q && *q != ' ')
                    q++;
            }
            continue;
        }
        if (*q == '"')
            quoted = !quoted;
        *o++ = *q++;
    }
    *o = '\0';
    return out;
}

static int pg_fts_rank(dal__cc *cc, const char *table, const char *query)
{
    /* ts_rank of a query with a negation is near zero for every row, so
     * rank by the wanted words only (the match filters the rest).
     * Normalization 1: divided by 1 + log(document length), as bm25
     * weighs long documents down. */
    char *wanted = wanted_words(query);

    if (!wanted)
        return dal__cc_fail(cc, DAL_NOMEM, "out of memory");
    dal__cc_str(cc, "CAST(ts_rank(");
    fts_column(cc, table);
    dal__cc_str(cc, ", ");
    tsquery(cc, wanted);
    dal__free(wanted);
    return dal__cc_str(cc, ", 1) AS DOUBLE PRECISION)");
}

static int pg_fts_create_sql(dal__buf *b, const char *table,
                             const char *const *cols, int n)
{
    char name[300];
    int i;

    snprintf(name, sizeof name, "%s_fts", table);
    if (dal__buf_adds(b, "ALTER TABLE ") || dal__buf_ident(b, table)
        || dal__buf_adds(b, " ADD COLUMN ") || dal__buf_ident(b, name)
        || dal__buf_adds(b, " tsvector GENERATED ALWAYS AS "
                            "(to_tsvector('simple', "))
        return DAL_NOMEM;
    for (i = 0; i < n; i++)
        if ((i && dal__buf_adds(b, " || ' ' || "))
            || dal__buf_adds(b, "coalesce(") || dal__buf_ident(b, cols[i])
            || dal__buf_adds(b, ", '')"))
            return DAL_NOMEM;
    if (dal__buf_adds(b, ")) STORED") || dal__buf_addc(b, '\0'))
        return DAL_NOMEM;
    snprintf(name, sizeof name, "%s_fts_idx", table);
    if (dal__buf_adds(b, "CREATE INDEX ") || dal__buf_ident(b, name)
        || dal__buf_adds(b, " ON ") || dal__buf_ident(b, table)
        || dal__buf_adds(b, " USING GIN (")
        || dal__buf_addc(b, '"') || dal__buf_adds(b, table)
        || dal__buf_adds(b, "_fts\")") || dal__buf_addc(b, '\0'))
        return DAL_NOMEM;
    return DAL_OK;
}

const struct dal_dialect dal__pg_dialect = {
    .name = "postgres",
    .param_marker = '$',
    .max_params = 65535,
    .type_names = {
        [DAL_SQL_INT64] = "BIGINT", [DAL_SQL_DOUBLE] = "DOUBLE PRECISION",
        [DAL_SQL_TEXT] = "TEXT", [DAL_SQL_BLOB] = "BYTEA",
        [DAL_SQL_BOOL] = "BOOLEAN", [DAL_SQL_NUMERIC] = "NUMERIC",
        [DAL_SQL_TIMESTAMP] = "TIMESTAMP", [DAL_SQL_DATE] = "DATE",
        [DAL_SQL_JSON] = "JSONB",
    },
    .value_cast = {
        [DAL_TYPE_BOOL] = "::boolean", [DAL_TYPE_INT64] = "::int8",
        [DAL_TYPE_DOUBLE] = "::float8", [DAL_TYPE_BLOB] = "::bytea",
    },
    .is_distinct = " IS DISTINCT FROM ",
    .is_not_distinct = " IS NOT DISTINCT FROM ",
    .has_ilike = 1,
    .has_for_update = 1,
    .offset_needs_limit = 0,
    .json_object_fn = "jsonb_build_object",
    .json_array_fn = "jsonb_build_array",
    .now = pg_now,
    .extract = pg_extract,
    /* avg() of integers is NUMERIC here and REAL in SQLite. */
    .avg_prefix = "CAST(",
    .avg_suffix = " AS DOUBLE PRECISION)",
    .to_int = pg_to_int,
    .to_bool = pg_to_bool,
    .text_cast = "::text",
    .asc_nulls = NULL,
    .desc_nulls = NULL,
    .upsert_select_needs_where = 0,
    .round = pg_round,
    .json_get = pg_json_get,
    .json_contains = pg_json_contains,
    .fts_match = pg_fts_match,
    .fts_rank = pg_fts_rank,
    .fts_create_sql = pg_fts_create_sql,
    .explain_prefix = "EXPLAIN (FORMAT JSON) ",
    .explain_read = dal__pg_explain_read,
    .ddl_types = {
        [DAL_SQL_INT64] = "BIGINT", [DAL_SQL_DOUBLE] = "DOUBLE PRECISION",
        [DAL_SQL_TEXT] = "TEXT", [DAL_SQL_BLOB] = "BYTEA",
        [DAL_SQL_BOOL] = "BOOLEAN", [DAL_SQL_NUMERIC] = "NUMERIC",
        [DAL_SQL_TIMESTAMP] = "TIMESTAMP", [DAL_SQL_DATE] = "DATE",
        [DAL_SQL_JSON] = "JSONB",
    },
    .auto_pk = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    .update_from_values = 1,
    .identity_sync = "SELECT setval(pg_get_serial_sequence('\"%s\"', "
                     "'%s'), (SELECT max(\"%s\") FROM \"%s\"))",
    .literal = dal__pg_literal,
    /* UTC, as SQLite's CURRENT_TIMESTAMP. */
    .now_default = "date_trunc('second', now() AT TIME ZONE 'UTC')",
    .alter_by_rebuild = 0,
    .rebuild = NULL,
    .schema_read = dal__pg_schema_read,
    .table_read = dal__pg_table_read,
};
