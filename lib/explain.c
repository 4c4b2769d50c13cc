/*
 * explain.c - dal_explain(): compile a query, ask the backend for its
 * plan (the dialect's EXPLAIN prefix), and keep the steps its reader
 * finds, in one structure for both backends.
 */
#include <string.h>

#include "dal-int.h"

typedef struct plan_step {
    int parent;
    char *detail;
    double cost, rows;
} plan_step;

struct dal_plan {
    int n, cap;
    plan_step *steps;
};

int dal__plan_add(dal_plan *p, int parent, const char *detail, size_t len,
                  double cost, double rows)
{
    plan_step *s;

    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 8;

        s = dal__realloc(p->steps, (size_t)cap * sizeof *s);
        if (!s)
            return DAL_NOMEM;
        p->steps = s;
        p->cap = cap;
    }
    s = &p->steps[p->n];
    if (!(s->detail = dal__strndup(detail, len)))
        return DAL_NOMEM;
    s->parent = parent;
    s->cost = cost;
    s->rows = rows;
    p->n++;
    return DAL_OK;
}

void dal_plan_free(dal_plan *p)
{
    int i;

    if (!p)
        return;
    for (i = 0; i < p->n; i++)
        dal__free(p->steps[i].detail);
    dal__free(p->steps);
    dal__free(p);
}

int dal_plan_count(const dal_plan *p)
{
    return p ? p->n : 0;
}

static const plan_step *step(const dal_plan *p, int i)
{
    return p && i >= 0 && i < p->n ? &p->steps[i] : NULL;
}

int dal_plan_parent(const dal_plan *p, int i)
{
    return step(p, i) ? step(p, i)->parent : -1;
}

const char *dal_plan_detail(const dal_plan *p, int i)
{
    return step(p, i) ? step(p, i)->detail : NULL;
}

double dal_plan_cost(const dal_plan *p, int i)
{
    return step(p, i) ? step(p, i)->cost : -1.0;
}

double dal_plan_rows(const dal_plan *p, int i)
{
    return step(p, i) ? step(p, i)->rows : -1.0;
}

int dal_explain(dal_db *db, const dal_query *q, dal_plan **out)
{
    const struct dal_dialect *d;
    dal__compiled c;
    dal__buf b = {0};
    dal_stmt *st = NULL;
    dal_plan *plan;
    char err[256];
    int rc, i;

    if (out)
        *out = NULL;
    if (!db)
        return DAL_E_MISUSE;
    if (!out)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "plan is NULL");
    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, "08003", "the connection is "
                            "not open");
    d = db->drv->dialect;
    dal__clearerr(db);
    rc = dal__compile(q, d, &c, err, sizeof err);
    if (rc != DAL_OK)
        return dal__seterr(db, rc, NULL, 0, err[0] ? err : NULL, NULL, NULL,
                           NULL);
    if (dal__buf_adds(&b, d->explain_prefix)
        || dal__buf_add(&b, c.sql, c.len)) {
        rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
        goto done;
    }
    rc = dal__stmt_new_translated(db, NULL, b.p, b.len, c.nparams, NULL, 0,
                                  &st);
    for (i = 0; rc == DAL_OK && i < c.nparams; i++)
        if (!c.is_slot[i])
            rc = dal_bind_value(st, i + 1, &c.values[i]);
    if (rc != DAL_OK)
        goto done;
    plan = dal__calloc(1, sizeof *plan);
    if (!plan) {
        rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
        goto done;
    }
    rc = d->explain_read(db, st, plan);
    if (rc == DAL_OK)
        *out = plan;
    else
        dal_plan_free(plan);
done:
    if (st)
        dal__stmt_free(st);
    dal__buf_free(&b);
    dal__compiled_free(&c);
    return rc;
}
