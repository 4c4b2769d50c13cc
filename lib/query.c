/*
 * query.c - building the query AST. Every builder takes ownership of its
 * arguments. Errors (bad input, out of memory) become E_ERROR nodes or
 * are recorded on the query, and surface when it is compiled, so that a
 * nested construction needs no error check until the end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "query-int.h"

/* ---- expressions ---------------------------------------------------- */

static dal_expr nomem_node;

void dal_expr_free(dal_expr *e)
{
    int i;

    if (!e || e == &nomem_node)
        return;
    for (i = 0; i < e->nkids; i++)
        dal_expr_free(e->kids[i]);
    dal__free(e->kids);
    dal__free(e->s1);
    dal__free(e->s2);
    if (e->kind == E_VALUE)
        dal_value_clear(&e->v);
    for (i = 0; i < e->nvals; i++)
        dal_value_clear(&e->vals[i]);
    dal__free(e->vals);
    dal_query_free(e->q);
    dal__free(e->errmsg);
    dal__free(e);
}

static dal_expr *node(dal__ekind kind)
{
    dal_expr *e = dal__calloc(1, sizeof *e);

    if (e)
        e->kind = kind;
    return e;
}

/* An error node with a message (NULL message: out of memory). */
static dal_expr *bad(int rc, const char *fmt, ...) DAL__PRINTF(2, 3);

static dal_expr *bad(int rc, const char *fmt, ...)
{
    dal_expr *e = node(E_ERROR);
    char msg[256];
    va_list ap;

    if (!e)
        return NULL;
    e->err = rc;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        e->errmsg = dal__strdup(msg);
    }
    return e;
}

/*
 * Check a list of children before adopting them: a NULL child (out of
 * memory) or an error child makes the whole node that error. Frees the
 * other children in that case and returns the error node (or NULL).
 * Returns the sentinel 'ok' when all children are fine.
 */
static dal_expr ok_sentinel;
#define OK (&ok_sentinel)

static dal_expr *check_kids(dal_expr *const *v, int n)
{
    dal_expr *err = OK;
    int i;

    for (i = 0; i < n; i++) {
        if (!v[i]) {
            if (err != OK)
                dal_expr_free(err);
            err = NULL;
            break;
        }
        if (v[i]->kind == E_ERROR && err == OK)
            err = v[i];
    }
    if (err == OK)
        return OK;
    for (i = 0; i < n; i++)
        if (v[i] != err)
            dal_expr_free(v[i]);
    return err;
}

/* A node of kind with children v[0..n-1] (ownership taken). */
static dal_expr *with_kids(dal__ekind kind, dal_expr *const *v, int n)
{
    dal_expr *e, *err = check_kids(v, n);

    if (err != OK)
        return err;
    e = node(kind);
    if (e && n > 0)
        e->kids = dal__malloc((size_t)n * sizeof *e->kids);
    if (!e || (n > 0 && !e->kids)) {
        dal__free(e);
        for (int i = 0; i < n; i++)
            dal_expr_free(v[i]);
        return NULL;
    }
    if (n > 0)
        memcpy(e->kids, v, (size_t)n * sizeof *e->kids);
    e->nkids = n;
    return e;
}

static dal_expr *unary(dal__ekind kind, dal_expr *a)
{
    return with_kids(kind, &a, 1);
}

static dal_expr *binary(dal__ekind kind, int op, dal_expr *a, dal_expr *b)
{
    dal_expr *v[2] = {a, b};
    dal_expr *e = with_kids(kind, v, 2);

    if (e && e->kind == kind)
        e->op = op;
    return e;
}

/* Reject what cannot be an identifier; NULL when it is fine. */
static dal_expr *bad_ident(const char *s, const char *what)
{
    const unsigned char *p;

    if (!s)
        return bad(DAL_E_MISUSE, "%s is NULL", what);
    if (!*s)
        return bad(DAL_E_MISUSE, "%s is empty", what);
    for (p = (const unsigned char *)s; *p; p++)
        if (*p == '"' || *p < 0x20)
            return bad(DAL_E_MISUSE, "%s '%.64s' contains a %s", what, s,
                       *p == '"' ? "double quote" : "control character");
    if (!dal__utf8_valid(s, strlen(s)))
        return bad(DAL_E_MISUSE, "%s is not valid UTF-8", what);
    return NULL;
}

/* A node holding one or two names, checked as identifiers. */
static dal_expr *named(dal__ekind kind, const char *s1, const char *what1,
                       const char *s2, const char *what2)
{
    dal_expr *e;

    if (what1 && (e = bad_ident(s1, what1)))
        return e;
    if (what2 && (e = bad_ident(s2, what2)))
        return e;
    e = node(kind);
    if (!e)
        return NULL;
    if ((s1 && !(e->s1 = dal__strdup(s1)))
        || (s2 && !(e->s2 = dal__strdup(s2)))) {
        dal_expr_free(e);
        return NULL;
    }
    return e;
}

dal_expr *dal_col(const char *name)
{
    const char *dot = name ? strchr(name, '.') : NULL;
    char *t;
    dal_expr *e;

    if (!dot)
        return named(E_COL, NULL, NULL, name, "column name");
    t = dal__strndup(name, (size_t)(dot - name));
    if (!t)
        return NULL;
    e = named(E_COL, t, "table name", dot + 1, "column name");
    dal__free(t);
    return e;
}

dal_expr *dal_tcol(const char *t, const char *name)
{
    return named(E_COL, t, "table name", name, "column name");
}

dal_expr *dal_star(void)
{
    return node(E_STAR);
}

dal_expr *dal_tstar(const char *t)
{
    return named(E_STAR, t, "table name", NULL, NULL);
}

dal_expr *dal_value_expr(const dal_value *v)
{
    dal_expr *e;
    char *copy;

    if (!v)
        return bad(DAL_E_MISUSE, "dal_value_expr: value is NULL");
    if (v->type < DAL_TYPE_NULL || v->type > DAL_TYPE_BLOB)
        return bad(DAL_E_MISUSE, "unknown value type %d", (int)v->type);
    e = node(E_VALUE);
    if (!e)
        return NULL;
    e->v = *v;
    if (v->type == DAL_TYPE_TEXT || v->type == DAL_TYPE_BLOB) {
        size_t n = v->u.s.len;

        if (v->type == DAL_TYPE_TEXT && n == DAL_NTS)
            n = v->u.s.p ? strlen(v->u.s.p) : 0;
        if (!v->u.s.p && n) {
            dal__free(e);
            return bad(DAL_E_MISUSE, "NULL pointer with length %zu", n);
        }
        if (v->type == DAL_TYPE_TEXT
            && (memchr(v->u.s.p, 0, n) || !dal__utf8_valid(v->u.s.p, n))) {
            dal__free(e);
            return bad(DAL_E_DATA, "text value is not valid UTF-8 without "
                       "NUL bytes");
        }
        copy = dal__strndup(v->u.s.p ? v->u.s.p : "", n);
        if (!copy) {
            dal__free(e);
            return NULL;
        }
        e->v.u.s.p = copy;
        e->v.u.s.len = n;
    }
    return e;
}

dal_expr *dal_null(void)
{
    return dal_value_expr(&DAL_V_NULL);
}

dal_expr *dal_bool(int v)
{
    return dal_value_expr(&DAL_V_BOOL(v));
}

dal_expr *dal_int(int64_t v)
{
    return dal_value_expr(&DAL_V_INT64(v));
}

dal_expr *dal_double(double v)
{
    return dal_value_expr(&DAL_V_DOUBLE(v));
}

dal_expr *dal_text(const char *s)
{
    if (!s)
        return bad(DAL_E_MISUSE, "dal_text: NULL (use dal_null())");
    return dal_value_expr(&DAL_V_TEXT(s));
}

dal_expr *dal_textn(const char *s, size_t len)
{
    return dal_value_expr(&DAL_V_TEXTN(s, len));
}

dal_expr *dal_blob(const void *p, size_t len)
{
    return dal_value_expr(&DAL_V_BLOB(p, len));
}

dal_expr *dal_param(const char *name)
{
    /* ":who" and "who" name the same slot, as dal_bind_named() takes. */
    if (name && name[0] == ':')
        name++;
    return named(E_PARAM, name, "parameter name", NULL, NULL);
}

dal_expr *dal_eq(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_EQ, a, b);
}

dal_expr *dal_ne(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_NE, a, b);
}

dal_expr *dal_lt(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_LT, a, b);
}

dal_expr *dal_le(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_LE, a, b);
}

dal_expr *dal_gt(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_GT, a, b);
}

dal_expr *dal_ge(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_GE, a, b);
}

dal_expr *dal_is(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_IS, a, b);
}

dal_expr *dal_is_not(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_ISNOT, a, b);
}
dal_expr *dal_add(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_ADD, a, b);
}

dal_expr *dal_sub(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_SUB, a, b);
}

dal_expr *dal_mul(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_MUL, a, b);
}

dal_expr *dal_mod(dal_expr *a, dal_expr *b)
{
    return binary(E_MOD, 0, a, b);
}

dal_expr *dal_concat(dal_expr *a, dal_expr *b)
{
    return binary(E_BINOP, OP_CONCAT, a, b);
}
dal_expr *dal_div(dal_expr *a, dal_expr *b)
{
    return binary(E_DIV, 0, a, b);
}

dal_expr *dal_idiv(dal_expr *a, dal_expr *b)
{
    return binary(E_IDIV, 0, a, b);
}

dal_expr *dal_like(dal_expr *a, dal_expr *b)
{
    return binary(E_LIKE, 0, a, b);
}

dal_expr *dal_ilike(dal_expr *a, dal_expr *b)
{
    return binary(E_ILIKE, 0, a, b);
}

dal_expr *dal_is_null(dal_expr *a)
{
    return unary(E_ISNULL, a);
}

dal_expr *dal_is_not_null(dal_expr *a)
{
    return unary(E_ISNOTNULL, a);
}

dal_expr *dal_not(dal_expr *a)
{
    return unary(E_NOT, a);
}

dal_expr *dal_neg(dal_expr *a)
{
    return unary(E_NEG, a);
}

dal_expr *dal_lower(dal_expr *a)
{
    return unary(E_LOWER, a);
}

dal_expr *dal_upper(dal_expr *a)
{
    return unary(E_UPPER, a);
}

dal_expr *dal_length(dal_expr *a)
{
    return unary(E_LENGTH, a);
}

dal_expr *dal_abs(dal_expr *a)
{
    return unary(E_ABS, a);
}

/* A node over a list that must not be empty. */
static dal_expr *list_node(dal__ekind kind, dal_expr *const *v, int n,
                           const char *what)
{
    if (n < 1 || !v)
        return bad(DAL_E_MISUSE, "%s needs at least one operand", what);
    return with_kids(kind, v, n);
}

/*
 * Splice the children of nested nodes of e's own kind into e, so that
 * a AND (b AND c) and repeated dal_q_where() calls make one flat list:
 * SQLite's parser gives up on deep parentheses.
 */
static dal_expr *flatten(dal_expr *e)
{
    dal_expr **kids;
    int i, j, n = 0;

    if (!e || (e->kind != E_AND && e->kind != E_OR))
        return e;
    for (i = 0; i < e->nkids; i++)
        n += e->kids[i]->kind == e->kind ? e->kids[i]->nkids : 1;
    if (n == e->nkids)
        return e;
    kids = dal__malloc((size_t)n * sizeof *kids);
    if (!kids) {
        dal_expr_free(e);
        return NULL;
    }
    for (i = j = 0; i < e->nkids; i++) {
        dal_expr *k = e->kids[i];

        if (k->kind == e->kind) {
            memcpy(kids + j, k->kids, (size_t)k->nkids * sizeof *kids);
            j += k->nkids;
            k->nkids = 0;
            dal_expr_free(k);
        } else {
            kids[j++] = k;
        }
    }
    dal__free(e->kids);
    e->kids = kids;
    e->nkids = n;
    return e;
}

dal_expr *dal_and_n(dal_expr *const *v, int n)
{
    if (n == 1 && v && v[0])
        return v[0];
    return flatten(list_node(E_AND, v, n, "dal_and"));
}

dal_expr *dal_or_n(dal_expr *const *v, int n)
{
    if (n == 1 && v && v[0])
        return v[0];
    return flatten(list_node(E_OR, v, n, "dal_or"));
}

/*
 * dal_over() takes NULL for "no partition" or "no order", so a list that
 * ran out of memory must not be NULL: it is this error node instead,
 * which no one frees.
 */
static dal_expr nomem_node = {.kind = E_ERROR, .err = DAL_NOMEM};

dal_expr *dal_list_n(dal_expr *const *v, int n)
{
    dal_expr *e = list_node(E_LIST, v, n, "dal_list");

    return e ? e : &nomem_node;
}

dal_expr *dal_coalesce_n(dal_expr *const *v, int n)
{
    /* SQLite's coalesce() takes two or more. */
    if (n < 2) {
        for (int i = 0; i < n; i++)
            dal_expr_free(v[i]);
        return bad(DAL_E_MISUSE, "dal_coalesce needs at least two "
                   "operands");
    }
    return list_node(E_COALESCE, v, n, "dal_coalesce");
}

dal_expr *dal_json_array_n(dal_expr *const *v, int n)
{
    return list_node(E_JSON_ARR, v, n, "dal_json_array");
}

dal_expr *dal_json_object_n(dal_expr *const *v, int n)
{
    if (n % 2) {
        for (int i = 0; i < n; i++)
            dal_expr_free(v[i]);
        return bad(DAL_E_MISUSE, "dal_json_object takes key/value pairs, "
                   "got %d arguments", n);
    }
    return list_node(E_JSON_OBJ, v, n, "dal_json_object");
}

/* a followed by list v[0..n-1] as one child array. */
static dal_expr *head_and_list(dal__ekind kind, dal_expr *a,
                               dal_expr *const *v, int n, const char *what)
{
    dal_expr **all;
    dal_expr *e;

    if (n < 1 || !v) {
        dal_expr_free(a);
        return bad(DAL_E_MISUSE, "%s needs a non-empty list", what);
    }
    all = dal__malloc((size_t)(n + 1) * sizeof *all);
    if (!all) {
        dal_expr_free(a);
        for (int i = 0; i < n; i++)
            dal_expr_free(v[i]);
        return NULL;
    }
    all[0] = a;
    memcpy(all + 1, v, (size_t)n * sizeof *all);
    e = with_kids(kind, all, n + 1);
    dal__free(all);
    return e;
}

dal_expr *dal_in_n(dal_expr *a, dal_expr *const *v, int n)
{
    return head_and_list(E_IN, a, v, n, "dal_in");
}

dal_expr *dal_not_in_n(dal_expr *a, dal_expr *const *v, int n)
{
    return head_and_list(E_NOTIN, a, v, n, "dal_not_in");
}

dal_expr *dal_func_n(const char *name, dal_expr *const *v, int n)
{
    dal_expr *e, *err;
    const char *p;

    if (!name || !*name)
        err = bad(DAL_E_MISUSE, "function name is %s",
                  name ? "empty" : "NULL");
    else
        err = NULL;
    /* A plain, unquoted name: identifiers (letters, digits, '_', not
     * starting with a digit) joined by single dots (a schema). */
    for (p = name; !err && *p; p++) {
        int start = p == name || p[-1] == '.';

        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || *p == '_' || (!start && *p >= '0' && *p <= '9'))
            continue;
        if (*p == '.' && !start && p[1])
            continue;
        err = bad(DAL_E_MISUSE, "function name '%.64s' is not a plain "
                  "identifier", name);
    }
    if (!err && n < 0)
        err = bad(DAL_E_MISUSE, "dal_func_n: negative count %d", n);
    if (err || n < 0) {
        for (int i = 0; i < n; i++)
            dal_expr_free(v[i]);
        return err;
    }
    e = with_kids(E_FUNC, v, n);
    if (e && e->kind == E_FUNC && !(e->s1 = dal__strdup(name))) {
        dal_expr_free(e);
        return NULL;
    }
    return e;
}

dal_expr *dal_func0(const char *name)
{
    return dal_func_n(name, NULL, 0);
}

dal_expr *dal_between(dal_expr *a, dal_expr *lo, dal_expr *hi)
{
    dal_expr *v[3] = {a, lo, hi};

    return with_kids(E_BETWEEN, v, 3);
}

dal_expr *dal_when(dal_expr *cond, dal_expr *then)
{
    return binary(E_WHEN, 0, cond, then);
}

dal_expr *dal_else(dal_expr *v)
{
    return unary(E_ELSE, v);
}

dal_expr *dal_case_n(dal_expr *const *v, int n)
{
    dal_expr *e = list_node(E_CASE, v, n, "dal_case");
    int i;

    if (!e || e->kind != E_CASE)
        return e;
    for (i = 0; i < e->nkids; i++) {
        dal__ekind k = e->kids[i]->kind;

        if (k == E_WHEN || (k == E_ELSE && i == e->nkids - 1 && i > 0))
            continue;
        dal_expr_free(e);
        return bad(DAL_E_MISUSE, "dal_case takes dal_when() items and "
                   "optionally one dal_else() last");
    }
    return e;
}

dal_expr *dal_cast(dal_expr *a, dal_sqltype type)
{
    dal_expr *e;

    if (type < DAL_SQL_INT64 || type > DAL_SQL_JSON) {
        dal_expr_free(a);
        return bad(DAL_E_MISUSE, "dal_cast: unknown type %d", (int)type);
    }
    e = unary(E_CAST, a);
    if (e && e->kind == E_CAST)
        e->i = (int)type;
    return e;
}

dal_expr *dal_round(dal_expr *a, int digits)
{
    dal_expr *e;

    /* SQLite ignores negative digits where PostgreSQL rounds to tens. */
    if (digits < 0 || digits > 15) {
        dal_expr_free(a);
        return bad(DAL_E_MISUSE, "dal_round: %d digits (0 to 15)", digits);
    }
    e = unary(E_ROUND, a);

    if (e && e->kind == E_ROUND)
        e->i = digits;
    return e;
}

dal_expr *dal_now(void)
{
    return node(E_NOW);
}

dal_expr *dal_extract(dal_datepart part, dal_expr *a)
{
    dal_expr *e;

    if (part < DAL_PART_YEAR || part > DAL_PART_SECOND) {
        dal_expr_free(a);
        return bad(DAL_E_MISUSE, "dal_extract: unknown part %d", (int)part);
    }
    e = unary(E_EXTRACT, a);
    if (e && e->kind == E_EXTRACT)
        e->i = (int)part;
    return e;
}

static dal_expr *agg(dal__ekind kind, const char *fn, dal_expr *a,
                     int distinct)
{
    dal_expr *e = unary(kind, a);

    if (e && e->kind == kind) {
        e->i = distinct;
        if (!(e->s1 = dal__strdup(fn))) {
            dal_expr_free(e);
            return NULL;
        }
    }
    return e;
}

dal_expr *dal_count(dal_expr *a)
{
    if (a && a->kind == E_STAR && a->s1) {
        dal_expr_free(a);
        return bad(DAL_E_MISUSE, "COUNT(t.*) is not SQLite's: use "
                   "dal_count(dal_star())");
    }
    return agg(E_AGG, "count", a, 0);
}

dal_expr *dal_count_distinct(dal_expr *a)
{
    if (a && a->kind == E_STAR) {
        dal_expr_free(a);
        return bad(DAL_E_MISUSE, "COUNT(DISTINCT *) is not SQL");
    }
    return agg(E_AGG, "count", a, 1);
}
dal_expr *dal_sum(dal_expr *a)
{
    return agg(E_AGG, "sum", a, 0);
}

dal_expr *dal_min(dal_expr *a)
{
    return agg(E_AGG, "min", a, 0);
}

dal_expr *dal_max(dal_expr *a)
{
    return agg(E_AGG, "max", a, 0);
}

dal_expr *dal_avg(dal_expr *a)
{
    return agg(E_AVG, "avg", a, 0);
}

dal_expr *dal_filter(dal_expr *aggr, dal_expr *cond)
{
    dal_expr **kids;

    if (aggr && cond && aggr->kind != E_ERROR && cond->kind != E_ERROR
        && ((aggr->kind != E_AGG && aggr->kind != E_AVG)
            || aggr->nkids != 1)) {
        dal_expr_free(aggr);
        dal_expr_free(cond);
        return bad(DAL_E_MISUSE, "dal_filter applies to an aggregate "
                   "without a filter yet");
    }
    {
        dal_expr *v[2] = {aggr, cond}, *err = check_kids(v, 2);

        if (err != OK)
            return err;
    }
    kids = dal__realloc(aggr->kids, 2 * sizeof *kids);
    if (!kids) {
        dal_expr_free(aggr);
        dal_expr_free(cond);
        return NULL;
    }
    aggr->kids = kids;
    aggr->kids[1] = cond;
    aggr->nkids = 2;
    return aggr;
}

dal_expr *dal_row_number(void)
{
    return named(E_WINFN, "row_number", NULL, NULL, NULL);
}

dal_expr *dal_rank(void)
{
    return named(E_WINFN, "rank", NULL, NULL, NULL);
}

dal_expr *dal_over(dal_expr *fn, dal_expr *partition, dal_expr *order)
{
    dal_expr *v[3] = {fn, partition, order}, *e;
    int n = 3;

    /* partition and order are optional: a NULL there is "none", which
     * cannot be told from out of memory, so a list that failed to build
     * must be reported by the caller's own check. */
    if (fn && fn->kind != E_ERROR && fn->kind != E_AGG
        && fn->kind != E_AVG && fn->kind != E_WINFN) {
        dal_expr_free(fn);
        dal_expr_free(partition);
        dal_expr_free(order);
        return bad(DAL_E_MISUSE, "dal_over applies to an aggregate or a "
                   "window function");
    }
    if ((partition && partition->kind != E_LIST
         && partition->kind != E_ERROR)
        || (order && order->kind != E_LIST && order->kind != E_ERROR)) {
        dal_expr_free(fn);
        dal_expr_free(partition);
        dal_expr_free(order);
        return bad(DAL_E_MISUSE, "dal_over takes dal_list() for its "
                   "partition and order");
    }
    if (!fn) {
        dal_expr_free(partition);
        dal_expr_free(order);
        return NULL;
    }
    e = node(E_OVER);
    if (!e || !(e->kids = dal__calloc(3, sizeof *e->kids))) {
        dal__free(e);
        for (int i = 0; i < n; i++)
            dal_expr_free(v[i]);
        return NULL;
    }
    if ((partition && partition->kind == E_ERROR)
        || (order && order->kind == E_ERROR) || fn->kind == E_ERROR) {
        dal_expr *err = fn->kind == E_ERROR ? fn
                        : partition && partition->kind == E_ERROR
                          ? partition : order;

        dal__free(e->kids);
        dal__free(e);
        for (int i = 0; i < n; i++)
            if (v[i] != err)
                dal_expr_free(v[i]);
        return err;
    }
    memcpy(e->kids, v, sizeof v);
    e->nkids = 3;
    return e;
}

static dal_expr *with_query(dal__ekind kind, dal_query *q)
{
    dal_expr *e;

    if (!q)
        return NULL;
    e = node(kind);
    if (!e) {
        dal_query_free(q);
        return NULL;
    }
    e->q = q;
    return e;
}

dal_expr *dal_exists(dal_query *q)
{
    return with_query(E_EXISTS, q);
}

dal_expr *dal_subquery(dal_query *q)
{
    return with_query(E_SUBQ, q);
}

dal_expr *dal_in_query(dal_expr *a, dal_query *q)
{
    dal_expr *e = a ? unary(E_INQ, a) : NULL;

    if (!e || e->kind != E_INQ) {
        dal_query_free(q);
        return e;
    }
    if (!q) {
        dal_expr_free(e);
        return NULL;
    }
    e->q = q;
    return e;
}

dal_expr *dal_as(dal_expr *a, const char *alias)
{
    dal_expr *e = bad_ident(alias, "alias");

    if (e) {
        dal_expr_free(a);
        return e;
    }
    e = unary(E_AS, a);
    if (e && e->kind == E_AS && !(e->s1 = dal__strdup(alias))) {
        dal_expr_free(e);
        return NULL;
    }
    return e;
}

dal_expr *dal_raw(const char *sql, const dal_value *params, int n)
{
    dal_expr *e;
    int i;

    if (!sql || !*sql || n < 0 || (n > 0 && !params))
        return bad(DAL_E_MISUSE, "dal_raw: %s", !sql || !*sql
                   ? "empty SQL" : "bad parameter array");
    e = node(E_RAW);
    if (!e || !(e->s1 = dal__strdup(sql))
        || (n && !(e->vals = dal__calloc((size_t)n, sizeof *e->vals)))) {
        dal_expr_free(e);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        dal_expr *v = dal_value_expr(&params[i]);

        if (!v || v->kind == E_ERROR) {
            dal_expr_free(e);
            return v;
        }
        e->vals[e->nvals++] = v->v;
        v->kind = E_ERROR; /* its bytes now belong to e */
        v->err = 0;
        dal__free(v);
    }
    return e;
}

static dal_expr *order_item(dal_expr *a, int bits)
{
    dal_expr *e;

    if (a && a->kind == E_ORDER) {
        /* A direction on top of a direction, or NULLS twice. */
        if (!(bits & 6) || (a->i & 6)) {
            dal_expr_free(a);
            return bad(DAL_E_MISUSE, "an order item already has its "
                       "direction or NULLS placement");
        }
        a->i |= bits;
        return a;
    }
    e = unary(E_ORDER, a);
    if (e && e->kind == E_ORDER)
        e->i = bits;
    return e;
}

dal_expr *dal_asc(dal_expr *a)
{
    return order_item(a, 0);
}

dal_expr *dal_desc(dal_expr *a)
{
    return order_item(a, 1);
}

dal_expr *dal_nulls_first(dal_expr *a)
{
    return order_item(a, 2);
}

dal_expr *dal_nulls_last(dal_expr *a)
{
    return order_item(a, 4);
}

/*
 * Check a JSON path: $ followed by .key, ."quoted key" or [N] steps.
 * Returns NULL when fine, else an error node.
 */
static dal_expr *bad_path(const char *path)
{
    const char *p = path;

    if (!path || p[0] != '$')
        return bad(DAL_E_MISUSE, "JSON path '%.64s' must start with '$'",
                   path ? path : "(null)");
    for (p++; *p; ) {
        if (*p == '.' && p[1] == '"') {
            for (p += 2; *p && *p != '"'; p++)
                ;
            if (*p != '"')
                return bad(DAL_E_MISUSE, "JSON path '%.64s': unterminated "
                           "quoted key", path);
            p++;
        } else if (*p == '.') {
            const char *k = ++p;

            while (*p && *p != '.' && *p != '[')
                p++;
            if (p == k)
                return bad(DAL_E_MISUSE, "JSON path '%.64s': empty key",
                           path);
        } else if (*p == '[') {
            const char *d = ++p;

            while (*p >= '0' && *p <= '9')
                p++;
            if (p == d || *p != ']')
                return bad(DAL_E_MISUSE, "JSON path '%.64s': expected "
                           "[number]", path);
            p++;
        } else {
            return bad(DAL_E_MISUSE, "JSON path '%.64s': unexpected '%c'",
                       path, *p);
        }
    }
    return NULL;
}

static dal_expr *json_get(dal_expr *a, const char *path, int kind)
{
    dal_expr *e = bad_path(path);

    if (e) {
        dal_expr_free(a);
        return e;
    }
    e = unary(E_JSON_GET, a);
    if (e && e->kind == E_JSON_GET) {
        e->i = kind;
        if (!(e->s1 = dal__strdup(path))) {
            dal_expr_free(e);
            return NULL;
        }
    }
    return e;
}

dal_expr *dal_json_get(dal_expr *a, const char *path)
{
    return json_get(a, path, 0);
}

dal_expr *dal_json_get_int(dal_expr *a, const char *path)
{
    return json_get(a, path, 1);
}

dal_expr *dal_json_get_double(dal_expr *a, const char *path)
{
    return json_get(a, path, 2);
}

dal_expr *dal_json_contains(dal_expr *a, dal_expr *b)
{
    return binary(E_JSON_CONTAINS, 0, a, b);
}

static dal_expr *fts(dal__ekind kind, const char *table, const char *query)
{
    dal_expr *e = bad_ident(table, "table name");
    const char *p;

    if (e)
        return e;
    if (!query)
        return bad(DAL_E_MISUSE, "full-text query is NULL");
    for (p = query; *p == ' ' || *p == '\t' || *p == '\n'; p++)
        ;
    if (!*p || *p == '-')
        return bad(DAL_E_MISUSE, "full-text query '%.64s' has no word to "
                   "look for first", query);
    if (!dal__utf8_valid(query, strlen(query)))
        return bad(DAL_E_DATA, "full-text query is not valid UTF-8");
    e = node(kind);
    if (e && (!(e->s1 = dal__strdup(table))
              || !(e->s2 = dal__strdup(query)))) {
        dal_expr_free(e);
        return NULL;
    }
    return e;
}

dal_expr *dal_fts_match(const char *table, const char *query)
{
    return fts(E_FTS_MATCH, table, query);
}

dal_expr *dal_fts_rank(const char *table, const char *query)
{
    return fts(E_FTS_RANK, table, query);
}

dal_expr *dal_excluded(const char *column)
{
    return named(E_EXCLUDED, column, "column name", NULL, NULL);
}

/* ---- queries -------------------------------------------------------- */

static void free_exprs(dal_expr **v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        dal_expr_free(v[i]);
    dal__free(v);
}

static void free_names(char **v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        dal__free(v[i]);
    dal__free(v);
}

void dal_query_free(dal_query *q)
{
    int i;

    if (!q)
        return;
    dal__free(q->errmsg);
    free_exprs(q->cols, q->ncols);
    dal__free(q->table);
    dal__free(q->alias);
    dal_query_free(q->from_sub);
    for (i = 0; i < q->njoins; i++) {
        dal__free(q->joins[i].table);
        dal__free(q->joins[i].alias);
        dal_expr_free(q->joins[i].on);
    }
    dal__free(q->joins);
    dal_expr_free(q->where);
    dal_expr_free(q->having);
    free_exprs(q->group, q->ngroup);
    free_exprs(q->order, q->norder);
    for (i = 0; i < q->nctes; i++) {
        dal__free(q->ctes[i].name);
        free_names(q->ctes[i].cols, q->ctes[i].ncols);
        dal_query_free(q->ctes[i].sub);
    }
    dal__free(q->ctes);
    dal_query_free(q->left);
    dal_query_free(q->right);
    free_names(q->columns, q->ncolumns);
    for (i = 0; i < q->nrows; i++)
        free_exprs(q->rows[i], q->ncolumns);
    dal__free(q->rows);
    dal_query_free(q->insert_select);
    for (i = 0; i < q->nsets; i++) {
        dal__free(q->sets[i].col);
        dal_expr_free(q->sets[i].v);
    }
    dal__free(q->sets);
    free_names(q->conflict, q->nconflict);
    free_exprs(q->returning, q->nreturning);
    dal__free(q);
}

/* Record the first error on q; later ones are consequences of it. */
static void qfail(dal_query *q, int rc, const char *fmt, ...)
    DAL__PRINTF(3, 4);

static void qfail(dal_query *q, int rc, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (!q || q->err)
        return;
    q->err = rc;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        q->errmsg = dal__strdup(msg);
    }
}

/* Take an expression into q's slot: errors move onto q. */
static int adopt(dal_query *q, dal_expr *e)
{
    if (!e) {
        qfail(q, DAL_NOMEM, NULL);
        return 0;
    }
    if (e->kind == E_ERROR) {
        if (!q->err) {
            q->err = e->err;
            q->errmsg = e->errmsg; /* NULL for the shared nomem_node */
            if (e->errmsg)
                e->errmsg = NULL;
        }
        dal_expr_free(e);
        return 0;
    }
    return 1;
}

/* Move e's error onto q if it has one; free e. */
static void adopt_or_free(dal_query *q, dal_expr *e)
{
    if (adopt(q, e))
        dal_expr_free(e);
}

/* Adopt a list into *dst (appending), freeing it all on error. */
static void adopt_list(dal_query *q, dal_expr ***dst, int *dn,
                       dal_expr *const *v, int n, const char *what)
{
    dal_expr **grown;
    int i, good = 1;

    if (!q) {
        for (i = 0; i < n; i++)
            dal_expr_free(v[i]);
        return;
    }
    if (n < 1 || !v) {
        qfail(q, DAL_E_MISUSE, "%s needs at least one item", what);
        return;
    }
    for (i = 0; i < n; i++)
        if (!v[i] || v[i]->kind == E_ERROR)
            good = 0;
    if (!good || q->err) {
        for (i = 0; i < n; i++)
            if (!v[i] || v[i]->kind == E_ERROR || q->err)
                adopt_or_free(q, v[i]);
            else
                dal_expr_free(v[i]);
        return;
    }
    grown = dal__realloc(*dst, (size_t)(*dn + n) * sizeof *grown);
    if (!grown) {
        qfail(q, DAL_NOMEM, NULL);
        for (i = 0; i < n; i++)
            dal_expr_free(v[i]);
        return;
    }
    memcpy(grown + *dn, v, (size_t)n * sizeof *grown);
    *dst = grown;
    *dn += n;
}

static dal_query *new_query(dal__qkind kind)
{
    dal_query *q = dal__calloc(1, sizeof *q);

    if (q)
        q->kind = kind;
    return q;
}

dal_query *dal_select_n(dal_expr *const *cols, int n)
{
    dal_query *q = new_query(Q_SELECT);
    int i;

    if (!q) {
        for (i = 0; i < n; i++)
            dal_expr_free(cols[i]);
        return NULL;
    }
    adopt_list(q, &q->cols, &q->ncols, cols, n, "dal_select");
    return q;
}

/* Check a name for q (recording the error); copy it into *dst. */
static int set_name(dal_query *q, char **dst, const char *s,
                    const char *what)
{
    dal_expr *e = bad_ident(s, what);

    if (e) {
        adopt(q, e);
        return 0;
    }
    dal__free(*dst);
    if (!(*dst = dal__strdup(s))) {
        qfail(q, DAL_NOMEM, NULL);
        return 0;
    }
    return 1;
}

static dal_query *target_query(dal__qkind kind, const char *table)
{
    dal_query *q = new_query(kind);

    if (q)
        set_name(q, &q->table, table, "table name");
    return q;
}

dal_query *dal_insert(const char *table)
{
    return target_query(Q_INSERT, table);
}

dal_query *dal_update(const char *table)
{
    return target_query(Q_UPDATE, table);
}

dal_query *dal_delete(const char *table)
{
    return target_query(Q_DELETE, table);
}

/* q must be of one of the kinds in mask (bit per kind). */
static int kind_ok(dal_query *q, int mask, const char *what)
{
    if (!q)
        return 0;
    if (!(mask & (1 << q->kind))) {
        qfail(q, DAL_E_MISUSE, "%s does not apply to this kind of "
              "statement", what);
        return 0;
    }
    return !q->err;
}

#define K(k) (1 << (k))

void dal_q_distinct(dal_query *q)
{
    if (kind_ok(q, K(Q_SELECT), "dal_q_distinct"))
        q->distinct = 1;
}

void dal_q_from(dal_query *q, const char *table)
{
    dal_q_from_as(q, table, NULL);
}

void dal_q_from_as(dal_query *q, const char *table, const char *alias)
{
    if (!kind_ok(q, K(Q_SELECT), "dal_q_from"))
        return;
    if (q->table || q->from_sub) {
        qfail(q, DAL_E_MISUSE, "FROM given twice");
        return;
    }
    if (set_name(q, &q->table, table, "table name") && alias)
        set_name(q, &q->alias, alias, "alias");
}

void dal_q_from_query(dal_query *q, dal_query *sub, const char *alias)
{
    if (!sub) {
        qfail(q, DAL_NOMEM, NULL);
        return;
    }
    if (!kind_ok(q, K(Q_SELECT), "dal_q_from_query")
        || (q->table || q->from_sub)) {
        if (q && !q->err)
            qfail(q, DAL_E_MISUSE, "FROM given twice");
        dal_query_free(sub);
        return;
    }
    q->from_sub = sub;
    set_name(q, &q->alias, alias, "subquery alias");
}

void dal_q_join(dal_query *q, dal_join kind, const char *table,
                const char *alias, dal_expr *on)
{
    dal__join *j;

    if (!kind_ok(q, K(Q_SELECT), "dal_q_join")) {
        dal_expr_free(on);
        return;
    }
    if (!q->table && !q->from_sub) {
        dal_expr_free(on);
        qfail(q, DAL_E_MISUSE, "dal_q_join before dal_q_from");
        return;
    }
    if (kind < DAL_JOIN_INNER || kind > DAL_JOIN_CROSS
        || (kind == DAL_JOIN_CROSS) != (on == NULL)) {
        dal_expr_free(on);
        qfail(q, DAL_E_MISUSE, "dal_q_join: %s", kind == DAL_JOIN_CROSS
              ? "a cross join takes no ON condition"
              : "an inner or left join needs an ON condition (or out of "
                "memory building it)");
        return;
    }
    if (on && !adopt(q, on))
        return;
    j = dal__realloc(q->joins, (size_t)(q->njoins + 1) * sizeof *j);
    if (!j) {
        dal_expr_free(on);
        qfail(q, DAL_NOMEM, NULL);
        return;
    }
    q->joins = j;
    j += q->njoins++;
    memset(j, 0, sizeof *j);
    j->kind = kind;
    j->on = on;
    if (set_name(q, &j->table, table, "table name") && alias)
        set_name(q, &j->alias, alias, "alias");
}

/* AND cond into *slot. */
static void and_into(dal_query *q, dal_expr **slot, dal_expr *cond)
{
    if (!adopt(q, cond))
        return;
    if (*slot) {
        dal_expr *both = dal_and(*slot, cond);

        *slot = NULL;
        if (adopt(q, both))
            *slot = both;
    } else {
        *slot = cond;
    }
}

void dal_q_where(dal_query *q, dal_expr *cond)
{
    if (!kind_ok(q, K(Q_SELECT) | K(Q_UPDATE) | K(Q_DELETE),
                 "dal_q_where")) {
        dal_expr_free(cond);
        return;
    }
    and_into(q, &q->where, cond);
}

void dal_q_having(dal_query *q, dal_expr *cond)
{
    if (!kind_ok(q, K(Q_SELECT), "dal_q_having")) {
        dal_expr_free(cond);
        return;
    }
    and_into(q, &q->having, cond);
}

static void free_list(dal_expr *const *v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        dal_expr_free(v[i]);
}

void dal_q_group_by_n(dal_query *q, dal_expr *const *v, int n)
{
    if (!kind_ok(q, K(Q_SELECT), "dal_q_group_by")) {
        free_list(v, n);
        return;
    }
    adopt_list(q, &q->group, &q->ngroup, v, n, "dal_q_group_by");
}

void dal_q_order_by_n(dal_query *q, dal_expr *const *v, int n)
{
    if (!kind_ok(q, K(Q_SELECT) | K(Q_SETOP), "dal_q_order_by")) {
        free_list(v, n);
        return;
    }
    adopt_list(q, &q->order, &q->norder, v, n, "dal_q_order_by");
}

void dal_q_limit(dal_query *q, int64_t n)
{
    if (!kind_ok(q, K(Q_SELECT) | K(Q_SETOP), "dal_q_limit"))
        return;
    if (n < 0) {
        qfail(q, DAL_E_MISUSE, "LIMIT %lld is negative", (long long)n);
        return;
    }
    q->limit = n;
    q->has_limit = 1;
}

void dal_q_offset(dal_query *q, int64_t n)
{
    if (!kind_ok(q, K(Q_SELECT) | K(Q_SETOP), "dal_q_offset"))
        return;
    if (n < 0) {
        qfail(q, DAL_E_MISUSE, "OFFSET %lld is negative", (long long)n);
        return;
    }
    q->offset = n;
    q->has_offset = 1;
}

/* Copy names[0..n-1] after checking each; NULL and an error on q else. */
static char **copy_names(dal_query *q, const char *const *names, int n,
                         const char *what)
{
    char **v;
    int i;

    if (n < 1 || !names) {
        qfail(q, DAL_E_MISUSE, "%s needs at least one name", what);
        return NULL;
    }
    v = dal__calloc((size_t)n, sizeof *v);
    if (!v) {
        qfail(q, DAL_NOMEM, NULL);
        return NULL;
    }
    for (i = 0; i < n; i++)
        if (!set_name(q, &v[i], names[i], what)) {
            free_names(v, n);
            return NULL;
        }
    return v;
}

void dal_q_with(dal_query *q, const char *name, const char *const *cols,
                int ncols, dal_query *sub, int recursive)
{
    dal__cte *c;

    if (!sub) {
        qfail(q, DAL_NOMEM, NULL);
        return;
    }
    if (!kind_ok(q, K(Q_SELECT) | K(Q_SETOP) | K(Q_INSERT) | K(Q_UPDATE)
                 | K(Q_DELETE), "dal_q_with")) {
        dal_query_free(sub);
        return;
    }
    c = dal__realloc(q->ctes, (size_t)(q->nctes + 1) * sizeof *c);
    if (!c) {
        dal_query_free(sub);
        qfail(q, DAL_NOMEM, NULL);
        return;
    }
    q->ctes = c;
    c += q->nctes++;
    memset(c, 0, sizeof *c);
    c->sub = sub;
    if (recursive)
        q->recursive = 1;
    if (!set_name(q, &c->name, name, "CTE name"))
        return;
    if (cols && (c->cols = copy_names(q, cols, ncols, "CTE column")))
        c->ncols = ncols;
}

static dal_query *setop(int op, dal_query *a, dal_query *b)
{
    dal_query *q;

    if (!a || !b) {
        dal_query_free(a);
        dal_query_free(b);
        return NULL;
    }
    q = new_query(Q_SETOP);
    if (!q) {
        dal_query_free(a);
        dal_query_free(b);
        return NULL;
    }
    q->setop = op;
    q->left = a;
    q->right = b;
    if ((a->kind != Q_SELECT && a->kind != Q_SETOP)
        || (b->kind != Q_SELECT && b->kind != Q_SETOP))
        qfail(q, DAL_E_MISUSE, "set operations combine SELECTs");
    return q;
}

dal_query *dal_union(dal_query *a, dal_query *b)
{
    return setop(SET_UNION, a, b);
}

dal_query *dal_union_all(dal_query *a, dal_query *b)
{
    return setop(SET_UNION_ALL, a, b);
}
dal_query *dal_intersect(dal_query *a, dal_query *b)
{
    return setop(SET_INTERSECT, a, b);
}
dal_query *dal_except(dal_query *a, dal_query *b)
{
    return setop(SET_EXCEPT, a, b);
}

void dal_q_columns_n(dal_query *q, const char *const *names, int n)
{
    if (!kind_ok(q, K(Q_INSERT), "dal_q_columns"))
        return;
    if (q->columns || q->nrows) {
        qfail(q, DAL_E_MISUSE, "dal_q_columns must come once, before "
              "the values");
        return;
    }
    if ((q->columns = copy_names(q, names, n, "column name")))
        q->ncolumns = n;
}

void dal_q_values_n(dal_query *q, dal_expr *const *v, int n)
{
    dal_expr ***rows, **row = NULL;
    int i, ok = 1;

    if (!kind_ok(q, K(Q_INSERT), "dal_q_values")) {
        free_list(v, n);
        return;
    }
    if (!q->columns || n != q->ncolumns || q->insert_select) {
        free_list(v, n);
        qfail(q, DAL_E_MISUSE, !q->columns
              ? "dal_q_values before dal_q_columns"
              : q->insert_select ? "dal_q_values with dal_q_insert_select"
              : "a row has %d values for %d columns", n, q->ncolumns);
        return;
    }
    for (i = 0; i < n; i++)
        if (!v[i] || v[i]->kind == E_ERROR)
            ok = 0;
    if (!ok) {
        /* Move the first error onto q, free everything else. */
        for (i = 0; i < n; i++)
            if (!v[i] || v[i]->kind == E_ERROR)
                adopt(q, v[i]);
            else
                dal_expr_free(v[i]);
        return;
    }
    {
        row = dal__malloc((size_t)n * sizeof *row);
        rows = row ? dal__realloc(q->rows, (size_t)(q->nrows + 1)
                                  * sizeof *rows) : NULL;
        if (rows) {
            q->rows = rows;
            memcpy(row, v, (size_t)n * sizeof *row);
            q->rows[q->nrows++] = row;
            return;
        }
        dal__free(row);
        qfail(q, DAL_NOMEM, NULL);
    }
    free_list(v, n);
}

void dal_q_insert_select(dal_query *q, dal_query *sub)
{
    if (!sub) {
        qfail(q, DAL_NOMEM, NULL);
        return;
    }
    if (!kind_ok(q, K(Q_INSERT), "dal_q_insert_select") || q->nrows
        || q->insert_select) {
        if (q && !q->err)
            qfail(q, DAL_E_MISUSE, "an INSERT takes either rows or one "
                  "SELECT");
        dal_query_free(sub);
        return;
    }
    q->insert_select = sub;
}

void dal_q_set(dal_query *q, const char *column, dal_expr *v)
{
    dal__set *s;

    if (!q) {
        dal_expr_free(v);
        return;
    }
    if (!(q->kind == Q_UPDATE || (q->kind == Q_INSERT && q->has_conflict
                                  && !q->do_nothing))) {
        dal_expr_free(v);
        qfail(q, DAL_E_MISUSE, "dal_q_set applies to UPDATE, or to an "
              "INSERT after dal_q_on_conflict_do_update()");
        return;
    }
    if (!adopt(q, v))
        return;
    s = dal__realloc(q->sets, (size_t)(q->nsets + 1) * sizeof *s);
    if (!s) {
        dal_expr_free(v);
        qfail(q, DAL_NOMEM, NULL);
        return;
    }
    q->sets = s;
    s += q->nsets++;
    s->col = NULL;
    s->v = v;
    set_name(q, &s->col, column, "column name");
}

void dal_q_on_conflict_n(dal_query *q, const char *const *cols, int n,
                         int do_nothing)
{
    if (!kind_ok(q, K(Q_INSERT), "dal_q_on_conflict"))
        return;
    if (q->has_conflict) {
        qfail(q, DAL_E_MISUSE, "ON CONFLICT given twice");
        return;
    }
    if ((q->conflict = copy_names(q, cols, n, "conflict column"))) {
        q->nconflict = n;
        q->has_conflict = 1;
        q->do_nothing = do_nothing;
    }
}

void dal_q_returning_n(dal_query *q, dal_expr *const *v, int n)
{
    if (!kind_ok(q, K(Q_INSERT) | K(Q_UPDATE) | K(Q_DELETE),
                 "dal_q_returning")) {
        free_list(v, n);
        return;
    }
    adopt_list(q, &q->returning, &q->nreturning, v, n, "dal_q_returning");
}

void dal_q_allow_all(dal_query *q)
{
    if (!kind_ok(q, K(Q_UPDATE) | K(Q_DELETE), "dal_q_allow_all"))
        return;
    q->allow_all = 1;
}

void dal_q_for_update(dal_query *q, int flags)
{
    if (!kind_ok(q, K(Q_SELECT), "dal_q_for_update"))
        return;
    if (flags & ~(DAL_LOCK_NOWAIT | DAL_LOCK_SKIP_LOCKED)
        || flags == (DAL_LOCK_NOWAIT | DAL_LOCK_SKIP_LOCKED)) {
        qfail(q, DAL_E_MISUSE, "dal_q_for_update: invalid flags %d", flags);
        return;
    }
    q->for_update = 1;
    q->lock_flags = flags;
}
