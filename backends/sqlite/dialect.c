/*
 * dialect.c - how the query compiler writes SQL for SQLite.
 */
#include "dal-int.h"

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

static int sq_avg(dal__cc *cc, const dal_expr *e)
{
    return dal__cc_agg(cc, e);
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
 * json_extract() gives SQL values: JSON true/false come back as 1/0, so
 * the text form asks json_type() first, to read "true"/"false" as
 * PostgreSQL's #>> does.
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
        dal__cc_str(cc, ") WHEN 'true' THEN 'true' WHEN 'false' THEN "
                        "'false' ELSE CAST(json_extract(");
        dal__cc_expr(cc, a);
        dal__cc_str(cc, ", ");
        dal__cc_marker(cc, idx);
        return dal__cc_str(cc, ") AS TEXT) END");
    }
    dal__cc_str(cc, "CAST(json_extract(");
    dal__cc_expr(cc, a);
    dal__cc_str(cc, ", ");
    dal__cc_marker(cc, idx);
    return dal__cc_str(cc, kind == 1 ? ") AS INTEGER)" : ") AS REAL)");
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
    .avg = sq_avg,
    .round = sq_round,
    .json_get = sq_json_get,
    .json_contains = NULL,
};
