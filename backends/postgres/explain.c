/*
 * explain.c - read PostgreSQL's EXPLAIN (FORMAT JSON) into plan steps.
 *
 * The JSON is the server's own, so this reader is small: it walks values
 * generically and picks, in each plan node, the node type, relation and
 * index names, total cost, row estimate and the child "Plans". It never
 * reads past the text's end, whatever the text holds.
 */
#include <stdlib.h>
#include <string.h>

#include "dal-int.h"
#include "pg-int.h"

typedef struct jp {
    const char *p, *end;
    int bad;
} jp;

static void ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t'
                             || *j->p == '\r'))
        j->p++;
}

/* Read a JSON string into b (escapes decoded; \u as '?' unless ASCII). */
static int jstring(jp *j, dal__buf *b)
{
    if (j->p >= j->end || *j->p != '"')
        return j->bad = 1, 0;
    for (j->p++; j->p < j->end && *j->p != '"'; j->p++) {
        char c = *j->p;

        if (c == '\\' && j->p + 1 < j->end) {
            c = *++j->p;
            if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
            else if (c == 'u') {
                long v = 0;

                if (j->end - j->p < 5)
                    return j->bad = 1, 0;
                v = strtol((char[5]){j->p[1], j->p[2], j->p[3], j->p[4],
                                     0}, NULL, 16);
                c = v > 0 && v < 0x80 ? (char)v : '?';
                j->p += 4;
            }
        }
        if (b && dal__buf_addc(b, c))
            return -1;
    }
    if (j->p >= j->end)
        return j->bad = 1, 0;
    j->p++;
    return 1;
}

static int skip_value(jp *j, int depth);

/* Skip an object or array body (after its opener) up to its closer. */
static int skip_container(jp *j, char close, int depth)
{
    for (;;) {
        ws(j);
        if (j->p >= j->end)
            return j->bad = 1, 0;
        if (*j->p == close) {
            j->p++;
            return 1;
        }
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (close == '}') {
            if (jstring(j, NULL) <= 0)
                return j->bad = 1, 0;
            ws(j);
            if (j->p >= j->end || *j->p != ':')
                return j->bad = 1, 0;
            j->p++;
        }
        if (!skip_value(j, depth + 1))
            return 0;
    }
}

static int skip_value(jp *j, int depth)
{
    ws(j);
    if (j->p >= j->end || depth > 200)
        return j->bad = 1, 0;
    if (*j->p == '"')
        return jstring(j, NULL) > 0;
    if (*j->p == '{' || *j->p == '[') {
        char close = *j->p == '{' ? '}' : ']';

        j->p++;
        return skip_container(j, close, depth);
    }
    while (j->p < j->end && !strchr(",}] \n\t\r", *j->p))
        j->p++;
    return 1;
}

static int plan_node(jp *j, dal_plan *plan, int parent, int depth);

/* The "Plans" array: each element a child of parent. */
static int plan_children(jp *j, dal_plan *plan, int parent, int depth)
{
    ws(j);
    if (j->p >= j->end || *j->p != '[')
        return j->bad = 1, 0;
    for (j->p++;;) {
        ws(j);
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return 1;
        }
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (plan_node(j, plan, parent, depth + 1) <= 0)
            return 0;
    }
}

/*
 * One plan node: an object. Its scalars come before "Plans" in
 * PostgreSQL's output, but the step is added once the whole object is
 * read, so the children are read in a second pass from where "Plans"
 * began.
 */
static int plan_node(jp *j, dal_plan *plan, int parent, int depth)
{
    dal__buf key = {0}, type = {0}, rel = {0}, idx = {0}, detail = {0};
    const char *children = NULL, *after;
    double cost = -1, rows = -1;
    int rc = 0, me;

    ws(j);
    if (depth > 100 || j->p >= j->end || *j->p != '{')
        return j->bad = 1, 0;
    for (j->p++;;) {
        ws(j);
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            break;
        }
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        key.len = 0;
        if (jstring(j, &key) <= 0 || dal__buf_addc(&key, 0))
            goto out;
        ws(j);
        if (j->p >= j->end || *j->p != ':') {
            j->bad = 1;
            goto out;
        }
        j->p++;
        ws(j);
        if (!strcmp(key.p, "Node Type") || !strcmp(key.p, "Relation Name")
            || !strcmp(key.p, "Index Name")) {
            dal__buf *dst = key.p[0] == 'N' ? &type
                            : key.p[0] == 'R' ? &rel : &idx;

            if (jstring(j, dst) <= 0)
                goto out;
        } else if (!strcmp(key.p, "Total Cost")
                   || !strcmp(key.p, "Plan Rows")) {
            double v = strtod(j->p, NULL);

            if (key.p[0] == 'T')
                cost = v;
            else
                rows = v;
            if (!skip_value(j, depth))
                goto out;
        } else {
            if (!strcmp(key.p, "Plans"))
                children = j->p;
            if (!skip_value(j, depth))
                goto out;
        }
    }
    after = j->p;
    /* "Seq Scan on t", "Index Scan using t_pkey on t", "Hash Join". */
    if (dal__buf_add(&detail, type.p ? type.p : "?", type.p ? type.len : 1)
        || (idx.len && (dal__buf_adds(&detail, " using ")
                        || dal__buf_add(&detail, idx.p, idx.len)))
        || (rel.len && (dal__buf_adds(&detail, " on ")
                        || dal__buf_add(&detail, rel.p, rel.len)))) {
        rc = -1;
        goto out;
    }
    me = dal_plan_count(plan);
    if (dal__plan_add(plan, parent, detail.p, detail.len, cost, rows)) {
        rc = -1;
        goto out;
    }
    rc = 1;
    if (children) {
        j->p = children;
        rc = plan_children(j, plan, me, depth);
        j->p = after;
    }
out:
    dal__buf_free(&key);
    dal__buf_free(&type);
    dal__buf_free(&rel);
    dal__buf_free(&idx);
    dal__buf_free(&detail);
    return rc;
}

/* [ { "Plan": {...}, ... } ] */
int dal__pg_explain_read(dal_db *db, dal_stmt *st, dal_plan *plan)
{
    dal__buf key = {0};
    const char *text;
    size_t len;
    jp j;
    int rc = dal_step(st), r = 1;

    if (rc != DAL_ROW)
        return rc == DAL_DONE ? dal__seterrf(db, DAL_ERROR, NULL,
                                             "EXPLAIN returned no plan")
                              : rc;
    text = dal_column_text(st, 0, &len);
    if (!text)
        return DAL_NOMEM;
    j.p = text;
    j.end = text + len;
    j.bad = 0;
    ws(&j);
    if (j.p < j.end && *j.p == '[')
        j.p++;
    ws(&j);
    if (j.p >= j.end || *j.p != '{')
        j.bad = 1;
    else
        j.p++;
    while (!j.bad && r > 0) {
        ws(&j);
        if (j.p >= j.end || *j.p == '}')
            break;
        if (*j.p == ',') {
            j.p++;
            continue;
        }
        key.len = 0;
        if (jstring(&j, &key) <= 0 || dal__buf_addc(&key, 0)) {
            r = -1;
            break;
        }
        ws(&j);
        if (j.p >= j.end || *j.p != ':') {
            j.bad = 1;
            break;
        }
        j.p++;
        if (!strcmp(key.p, "Plan"))
            r = plan_node(&j, plan, -1, 0);
        else if (!skip_value(&j, 0))
            break;
    }
    dal__buf_free(&key);
    if (r < 0)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    if (j.bad || dal_plan_count(plan) == 0)
        return dal__seterrf(db, DAL_ERROR, NULL, "could not read the plan "
                            "PostgreSQL returned");
    return DAL_OK;
}
