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

static int pg_avg(dal__cc *cc, const dal_expr *e)
{
    /* avg() of integers is NUMERIC here and REAL in SQLite. */
    dal__cc_str(cc, "CAST(");
    dal__cc_agg(cc, e);
    return dal__cc_str(cc, " AS DOUBLE PRECISION)");
}

static int pg_round(dal__cc *cc, const dal_expr *a, int digits)
{
    /* round(x, n) exists for NUMERIC only. */
    dal__cc_str(cc, "CAST(round(CAST(");
    dal__cc_expr(cc, a);
    dal__cc_str(cc, " AS NUMERIC), CAST(");
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
        dal__cc_str(cc, " AS NUMERIC)) AS BIGINT)");
    else if (kind == 2)
        dal__cc_str(cc, " AS DOUBLE PRECISION)");
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
    .avg = pg_avg,
    .round = pg_round,
    .json_get = pg_json_get,
    .json_contains = pg_json_contains,
};
