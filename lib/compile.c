/*
 * compile.c - the query compiler: one walk of the AST that writes the SQL
 * text of one dialect and collects the values to bind. Everything that
 * differs between backends is a field or hook of struct dal_dialect;
 * nothing here asks which backend it is writing for.
 *
 * Rules kept everywhere: identifiers are quoted ("..."; names holding a
 * quote were refused by the builder), every value is a bound parameter,
 * and every operator is parenthesized, so precedence never depends on
 * the dialect.
 */
#include <stdio.h>
#include <string.h>

#include "query-int.h"

#define MAX_DEPTH 500 /* nesting beyond this is refused, not recursed */

/*
 * Where a node stands decides what it may be: '*' and aliases only as a
 * select-list item, order items only in ORDER BY, bare window functions
 * only under OVER, excluded.col only in an upsert's SET. These bits are
 * set for the node being compiled and, but for ALLOW_EXCLUDED, cleared
 * for its children.
 */
enum {
    ALLOW_STAR = 1, ALLOW_AS = 2, ALLOW_ORDER = 4, ALLOW_WINFN = 8,
    ALLOW_EXCLUDED = 16
};

/* How a value directly under the current node is bound. */
enum { VALUE_CAST = 0, VALUE_BARE, VALUE_TYPED };

struct dal__cc {
    const struct dal_dialect *d;
    int allow;      /* ALLOW_* for the next node */
    int value_mode; /* VALUE_* for the next node, if it is a value */
    int where_true; /* the next SELECT needs WHERE true (SQLite upsert) */
    int inline_values; /* DDL: values written as literals, not bound */
    dal__buf b;
    dal_value *vals;
    char **names;      /* names[i] for dal_param slots, else NULL */
    int *is_slot;
    char *shared;   /* shared[i]: value i may serve equal values */
    int nvals, cap;
    int rc;
    char *err;
    size_t errlen;
    int depth;
};

int dal__cc_fail(dal__cc *cc, int rc, const char *msg)
{
    if (cc->rc == DAL_OK) {
        cc->rc = rc;
        if (cc->err && cc->errlen)
            snprintf(cc->err, cc->errlen, "%s", msg ? msg : dal_errstr(rc));
    }
    return cc->rc;
}

static int nomem(dal__cc *cc)
{
    return dal__cc_fail(cc, DAL_NOMEM, "out of memory");
}

int dal__cc_str(dal__cc *cc, const char *s)
{
    if (cc->rc)
        return cc->rc;
    return dal__buf_adds(&cc->b, s) ? nomem(cc) : DAL_OK;
}

int dal__buf_ident(dal__buf *b, const char *name)
{
    if (dal__buf_addc(b, '"') || dal__buf_adds(b, name)
        || dal__buf_addc(b, '"'))
        return DAL_NOMEM;
    return DAL_OK;
}

static int quote(dal__cc *cc, const char *name)
{
    if (cc->rc)
        return cc->rc;
    return dal__buf_ident(&cc->b, name) ? nomem(cc) : DAL_OK;
}

int dal__cc_marker(dal__cc *cc, int idx)
{
    char m[16];

    snprintf(m, sizeof m, "%c%d", cc->d->param_marker, idx);
    return dal__cc_str(cc, m);
}

/* A new parameter slot holding a copy of v (or a dal_param slot). */
static int new_slot(dal__cc *cc, const dal_value *v, const char *name)
{
    dal_value c;

    if (cc->rc)
        return 0;
    if (cc->nvals == cc->cap) {
        int cap = cc->cap ? cc->cap * 2 : 16;
        dal_value *vals = dal__realloc(cc->vals, (size_t)cap * sizeof *vals);
        char **names;
        int *slots;
        char *shared;

        if (vals)
            cc->vals = vals;
        names = vals ? dal__realloc(cc->names, (size_t)cap * sizeof *names)
                     : NULL;
        if (names)
            cc->names = names;
        slots = names ? dal__realloc(cc->is_slot,
                                     (size_t)cap * sizeof *slots) : NULL;
        if (slots)
            cc->is_slot = slots;
        shared = slots ? dal__realloc(cc->shared, (size_t)cap) : NULL;
        if (!shared) {
            nomem(cc);
            return 0;
        }
        cc->shared = shared;
        cc->cap = cap;
    }
    c = v ? *v : DAL_V_NULL;
    if (v && (v->type == DAL_TYPE_TEXT || v->type == DAL_TYPE_BLOB)) {
        c.u.s.p = dal__strndup(v->u.s.p, v->u.s.len);
        if (!c.u.s.p) {
            nomem(cc);
            return 0;
        }
    }
    cc->names[cc->nvals] = NULL;
    if (name && !(cc->names[cc->nvals] = dal__strdup(name))) {
        dal_value_clear(&c);
        nomem(cc);
        return 0;
    }
    cc->vals[cc->nvals] = c;
    cc->is_slot[cc->nvals] = name != NULL;
    cc->shared[cc->nvals] = 0;
    return ++cc->nvals;
}

/* The slot of an equal value already bound, or 0. Equal values share
 * one parameter, so that PostgreSQL sees a GROUP BY expression and its
 * select-list copy as the same expression. Long lists (multi-row
 * inserts) are not searched: the scan would cost more than it saves. */
static int same_value(const dal__cc *cc, const dal_value *v)
{
    int i;

    if (cc->nvals > 256 || v->type == DAL_TYPE_NULL
        || cc->value_mode != VALUE_CAST)
        return 0;
    for (i = 0; i < cc->nvals; i++) {
        const dal_value *w = &cc->vals[i];

        if (!cc->shared[i] || w->type != v->type)
            continue;
        switch (v->type) {
        case DAL_TYPE_BOOL:
            if (!w->u.b == !v->u.b)
                return i + 1;
            break;
        case DAL_TYPE_INT64:
            if (w->u.i == v->u.i)
                return i + 1;
            break;
        case DAL_TYPE_DOUBLE:
            if (!memcmp(&w->u.d, &v->u.d, sizeof v->u.d))
                return i + 1;
            break;
        default:
            if (w->u.s.len == v->u.s.len
                && !memcmp(w->u.s.p, v->u.s.p, v->u.s.len))
                return i + 1;
            break;
        }
    }
    return 0;
}

int dal__cc_value(dal__cc *cc, const dal_value *v)
{
    const char *cast = cc->d->value_cast[v->type];
    int idx;

    if (cc->inline_values)
        return cc->rc ? cc->rc : cc->d->literal(cc, v);
    idx = same_value(cc, v);
    if (!idx && (idx = new_slot(cc, v, NULL)))
        cc->shared[idx - 1] = cc->value_mode == VALUE_CAST;

    if (cc->value_mode == VALUE_BARE)
        cast = NULL; /* a function's signature gives the type */
    else if (cc->value_mode == VALUE_TYPED
             && (v->type == DAL_TYPE_TEXT || v->type == DAL_TYPE_NULL))
        cast = cc->d->text_cast;

    if (!idx)
        return cc->rc;
    dal__cc_marker(cc, idx);
    return cast ? dal__cc_str(cc, cast) : cc->rc;
}

int dal__cc_text_param(dal__cc *cc, const char *s, int *idx)
{
    *idx = new_slot(cc, &DAL_V_TEXTN(s, strlen(s)), NULL);
    return cc->rc;
}

/* A dal_param slot: one index per distinct name. */
static int param(dal__cc *cc, const char *name)
{
    int i, idx = 0;

    for (i = 0; i < cc->nvals; i++)
        if (cc->is_slot[i] && !strcmp(cc->names[i], name))
            idx = i + 1;
    if (!idx && !(idx = new_slot(cc, NULL, name)))
        return cc->rc;
    return dal__cc_marker(cc, idx);
}

static int emit_query(dal__cc *cc, const dal_query *q);

/* e compiled with the given permissions and value mode. */
static int expr_as(dal__cc *cc, const dal_expr *e, int allow, int mode)
{
    cc->allow = allow | (cc->allow & ALLOW_EXCLUDED);
    cc->value_mode = mode;
    return dal__cc_expr(cc, e);
}

/* An ORDER BY list: plain expressions are ascending order items, and
 * get the dialect's NULLS placement like dal_asc() ones. */
static int order_list(dal__cc *cc, dal_expr *const *e, int n);

/* e[0], e[1], ... separated by sep, each with allow and mode. */
static int list_as(dal__cc *cc, dal_expr *const *e, int n, const char *sep,
                   int allow, int mode)
{
    int i, keep = cc->allow & ALLOW_EXCLUDED;

    for (i = 0; i < n && !cc->rc; i++) {
        if (i)
            dal__cc_str(cc, sep);
        cc->allow = allow | keep;
        cc->value_mode = mode;
        dal__cc_expr(cc, e[i]);
    }
    return cc->rc;
}

static int list(dal__cc *cc, dal_expr *const *e, int n, const char *sep)
{
    return list_as(cc, e, n, sep, 0, VALUE_CAST);
}

static int order_list(dal__cc *cc, dal_expr *const *e, int n)
{
    int i, keep = cc->allow & ALLOW_EXCLUDED;

    for (i = 0; i < n && !cc->rc; i++) {
        if (i)
            dal__cc_str(cc, ", ");
        cc->allow = ALLOW_ORDER | keep;
        cc->value_mode = VALUE_CAST;
        dal__cc_expr(cc, e[i]);
        if (e[i]->kind != E_ORDER && cc->d->asc_nulls)
            dal__cc_str(cc, cc->d->asc_nulls);
    }
    return cc->rc;
}

int dal__cc_agg(dal__cc *cc, const dal_expr *e)
{
    dal__cc_str(cc, e->s1);
    dal__cc_str(cc, e->i ? "(DISTINCT " : "(");
    /* COUNT(*) is the one place for a star inside an expression. */
    expr_as(cc, e->kids[0], e->kids[0]->kind == E_STAR
                            && !strcmp(e->s1, "count") ? ALLOW_STAR : 0,
            VALUE_CAST);
    dal__cc_str(cc, ")");
    if (e->nkids > 1) {
        dal__cc_str(cc, " FILTER (WHERE ");
        dal__cc_expr(cc, e->kids[1]);
        dal__cc_str(cc, ")");
    }
    return cc->rc;
}

static const char *binop_text(const dal__cc *cc, int op)
{
    switch (op) {
    case OP_EQ: return " = ";
    case OP_NE: return " <> ";
    case OP_LT: return " < ";
    case OP_LE: return " <= ";
    case OP_GT: return " > ";
    case OP_GE: return " >= ";
    case OP_IS: return cc->d->is_not_distinct;
    case OP_ISNOT: return cc->d->is_distinct;
    case OP_ADD: return " + ";
    case OP_SUB: return " - ";
    case OP_MUL: return " * ";
    case OP_MOD: return " % ";
    default: return " || ";
    }
}

/* A raw fragment: its ? placeholders renumbered after ours. */
static int raw(dal__cc *cc, const dal_expr *e)
{
    dal__sqltext t;
    char err[256];
    int rc, i, base = cc->nvals;

    rc = dal__sql_translate_at(e->s1, cc->d->param_marker, base, &t, err,
                               sizeof err);
    if (rc)
        return dal__cc_fail(cc, rc, err);
    if (t.nparams != e->nvals || t.names) {
        snprintf(err, sizeof err, "dal_raw: the fragment has %d "
                 "placeholders but %d values were given%s", t.nparams,
                 e->nvals, t.names ? " (use ?, not :name)" : "");
        dal__sqltext_free(&t);
        return dal__cc_fail(cc, DAL_E_MISUSE, err);
    }
    for (i = 0; i < e->nvals; i++)
        if (!new_slot(cc, &e->vals[i], NULL))
            break;
    dal__cc_str(cc, "(");
    dal__cc_str(cc, t.sql);
    /* A fragment ending in a -- comment must not swallow the ')'. */
    dal__cc_str(cc, strstr(t.sql, "--") ? "\n)" : ")");
    dal__sqltext_free(&t);
    return cc->rc;
}

/* The body of a binary operator, without its parentheses: a chain of the
 * same left-associative operator stays flat (a + b + c), which SQLite's
 * parser needs for long chains and which means the same. */
static int binop_body(dal__cc *cc, const dal_expr *e)
{
    const dal_expr *l = e->kids[0];

    if (l->kind == E_BINOP && l->op == e->op && e->op >= OP_ADD) {
        if (++cc->depth > MAX_DEPTH)
            return dal__cc_fail(cc, DAL_E_MISUSE, "expression nested too "
                                "deeply");
        binop_body(cc, l);
        cc->depth--;
    } else {
        expr_as(cc, l, 0, VALUE_CAST);
    }
    dal__cc_str(cc, binop_text(cc, e->op));
    return expr_as(cc, e->kids[1], 0, VALUE_CAST);
}

/* Refuse a node that may not stand where it is. */
static int misplaced(dal__cc *cc, const dal_expr *e, int allow)
{
    static const struct { int kind, need; const char *msg; } rules[] = {
        {E_STAR, ALLOW_STAR, "'*' stands only in a select list or in "
                             "dal_count()"},
        {E_AS, ALLOW_AS, "an alias (dal_as) stands only in a select list "
                         "or RETURNING"},
        {E_ORDER, ALLOW_ORDER, "an order item (dal_asc/dal_desc/NULLS) "
                               "stands only in ORDER BY or OVER"},
        {E_WINFN, ALLOW_WINFN, "a window function needs dal_over()"},
        {E_EXCLUDED, ALLOW_EXCLUDED, "dal_excluded() stands only in the "
                                     "SET of an upsert"},
        {E_LIST, -1, "dal_list() stands only in dal_over()"},
        {E_WHEN, -1, "dal_when/dal_else stand only in dal_case"},
        {E_ELSE, -1, "dal_when/dal_else stand only in dal_case"},
    };
    size_t i;

    for (i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (rules[i].kind == (int)e->kind
            && (rules[i].need < 0 || !(allow & rules[i].need)))
            return dal__cc_fail(cc, DAL_E_MISUSE, rules[i].msg);
    return DAL_OK;
}

int dal__cc_expr(dal__cc *cc, const dal_expr *e)
{
    const struct dal_dialect *d = cc->d;
    int i, allow = cc->allow, mode = cc->value_mode;

    if (cc->rc)
        return cc->rc;
    if (++cc->depth > MAX_DEPTH) {
        cc->depth--;
        return dal__cc_fail(cc, DAL_E_MISUSE, "expression nested too "
                            "deeply");
    }
    /* Children get no permissions but the inherited one, and typed
     * values, unless a case below says otherwise. */
    cc->allow = allow & ALLOW_EXCLUDED;
    cc->value_mode = VALUE_CAST;
    if (misplaced(cc, e, allow)) {
        cc->depth--;
        return cc->rc;
    }
    switch (e->kind) {
    case E_ERROR:
        dal__cc_fail(cc, e->err, e->errmsg);
        break;
    case E_COL:
    case E_STAR:
        if (e->s1) {
            quote(cc, e->s1);
            dal__cc_str(cc, ".");
        }
        if (e->kind == E_COL)
            quote(cc, e->s2);
        else
            dal__cc_str(cc, "*");
        break;
    case E_VALUE:
        cc->value_mode = mode;
        dal__cc_value(cc, &e->v);
        cc->value_mode = VALUE_CAST;
        break;
    case E_PARAM:
        if (cc->inline_values)
            dal__cc_fail(cc, DAL_E_MISUSE, "dal_param() cannot stand in a "
                         "default or CHECK (DDL takes no parameters)");
        else
            param(cc, e->s1);
        break;
    case E_BINOP:
        dal__cc_str(cc, "(");
        binop_body(cc, e);
        dal__cc_str(cc, ")");
        break;
    /* ESCAPE is spelled out: PostgreSQL escapes with a backslash by
     * default, SQLite has no escape unless told. */
    case E_LIKE:
        dal__cc_str(cc, "(");
        dal__cc_expr(cc, e->kids[0]);
        dal__cc_str(cc, " LIKE ");
        dal__cc_expr(cc, e->kids[1]);
        dal__cc_str(cc, " ESCAPE '\\')");
        break;
    case E_ILIKE:
        if (d->has_ilike) {
            dal__cc_str(cc, "(");
            dal__cc_expr(cc, e->kids[0]);
            dal__cc_str(cc, " ILIKE ");
            dal__cc_expr(cc, e->kids[1]);
            dal__cc_str(cc, " ESCAPE '\\')");
        } else {
            dal__cc_str(cc, "(lower(");
            dal__cc_expr(cc, e->kids[0]);
            dal__cc_str(cc, ") LIKE lower(");
            dal__cc_expr(cc, e->kids[1]);
            dal__cc_str(cc, ") ESCAPE '\\')");
        }
        break;
    case E_AND:
    case E_OR:
        dal__cc_str(cc, "(");
        list(cc, e->kids, e->nkids, e->kind == E_AND ? " AND " : " OR ");
        dal__cc_str(cc, ")");
        break;
    case E_NOT:
    case E_NEG:
        dal__cc_str(cc, e->kind == E_NOT ? "(NOT " : "(- ");
        dal__cc_expr(cc, e->kids[0]);
        dal__cc_str(cc, ")");
        break;
    case E_ISNULL:
    case E_ISNOTNULL:
        dal__cc_str(cc, "(");
        dal__cc_expr(cc, e->kids[0]);
        dal__cc_str(cc, e->kind == E_ISNULL ? " IS NULL)" : " IS NOT NULL)");
        break;
    case E_IN:
    case E_NOTIN:
        dal__cc_str(cc, "(");
        dal__cc_expr(cc, e->kids[0]);
        dal__cc_str(cc, e->kind == E_IN ? " IN (" : " NOT IN (");
        list(cc, e->kids + 1, e->nkids - 1, ", ");
        dal__cc_str(cc, "))");
        break;
    case E_INQ:
        dal__cc_str(cc, "(");
        dal__cc_expr(cc, e->kids[0]);
        dal__cc_str(cc, " IN (");
        emit_query(cc, e->q);
        dal__cc_str(cc, "))");
        break;
    case E_BETWEEN:
        dal__cc_str(cc, "(");
        dal__cc_expr(cc, e->kids[0]);
        dal__cc_str(cc, " BETWEEN ");
        dal__cc_expr(cc, e->kids[1]);
        dal__cc_str(cc, " AND ");
        dal__cc_expr(cc, e->kids[2]);
        dal__cc_str(cc, ")");
        break;
    case E_DIV:
        /* Both operands are cast, so division means the same on both
         * backends; NULLIF makes a zero divisor NULL. */
        dal__cc_str(cc, "(CAST(");
        dal__cc_expr(cc, e->kids[0]);
        dal__cc_str(cc, " AS ");
        dal__cc_str(cc, d->type_names[DAL_SQL_DOUBLE]);
        dal__cc_str(cc, ") / NULLIF(CAST(");
        dal__cc_expr(cc, e->kids[1]);
        dal__cc_str(cc, " AS ");
        dal__cc_str(cc, d->type_names[DAL_SQL_DOUBLE]);
        dal__cc_str(cc, "), 0))");
        break;
    case E_IDIV:
    case E_MOD:
        /* Integer operands truncated toward zero, as SQLite does for %. */
        dal__cc_str(cc, "(");
        d->to_int(cc, e->kids[0]);
        dal__cc_str(cc, e->kind == E_IDIV ? " / NULLIF(" : " % NULLIF(");
        d->to_int(cc, e->kids[1]);
        dal__cc_str(cc, ", 0))");
        break;
    case E_CASE:
        dal__cc_str(cc, "CASE");
        for (i = 0; i < e->nkids; i++) {
            const dal_expr *k = e->kids[i];

            if (k->kind == E_WHEN) {
                dal__cc_str(cc, " WHEN ");
                dal__cc_expr(cc, k->kids[0]);
                dal__cc_str(cc, " THEN ");
                dal__cc_expr(cc, k->kids[1]);
            } else {
                dal__cc_str(cc, " ELSE ");
                dal__cc_expr(cc, k->kids[0]);
            }
        }
        dal__cc_str(cc, " END");
        break;
    case E_WHEN:
    case E_ELSE:
    case E_LIST:
        break; /* refused by misplaced() */
    case E_CAST:
        if (e->i == DAL_SQL_INT64) {
            d->to_int(cc, e->kids[0]);
        } else if (e->i == DAL_SQL_BOOL) {
            d->to_bool(cc, e->kids[0]);
        } else if (d->cast_fn[e->i]) {
            dal__cc_str(cc, d->cast_fn[e->i]);
            dal__cc_str(cc, "(");
            dal__cc_expr(cc, e->kids[0]);
            dal__cc_str(cc, ")");
        } else {
            dal__cc_str(cc, "CAST(");
            dal__cc_expr(cc, e->kids[0]);
            dal__cc_str(cc, " AS ");
            dal__cc_str(cc, d->type_names[e->i]);
            dal__cc_str(cc, ")");
        }
        break;
    case E_FUNC:
    case E_LENGTH:
    case E_ABS:
    case E_LOWER:
    case E_UPPER:
    case E_COALESCE:
    case E_JSON_OBJ:
    case E_JSON_ARR:
        dal__cc_str(cc, e->kind == E_FUNC ? e->s1
                        : e->kind == E_LENGTH ? "length"
                        : e->kind == E_ABS ? "abs"
                        : e->kind == E_LOWER ? "lower"
                        : e->kind == E_UPPER ? "upper"
                        : e->kind == E_COALESCE ? "COALESCE"
                        : e->kind == E_JSON_OBJ ? d->json_object_fn
                        : d->json_array_fn);
        dal__cc_str(cc, "(");
        /* Any function: values go untyped, so that its signature says
         * what they are (substr(s, 2, 3) needs integers, not bigints).
         * JSON builders take anything, so their text must be typed. */
        list_as(cc, e->kids, e->nkids, ", ", 0,
                e->kind == E_FUNC ? VALUE_BARE
                : e->kind == E_JSON_OBJ || e->kind == E_JSON_ARR
                ? VALUE_TYPED : VALUE_CAST);
        dal__cc_str(cc, ")");
        break;
    case E_ROUND:
        d->round(cc, e->kids[0], e->i);
        break;
    case E_NOW:
        if (cc->inline_values)
            dal__cc_str(cc, d->now_default);
        else
            d->now(cc);
        break;
    case E_EXTRACT:
        d->extract(cc, (dal_datepart)e->i, e->kids[0]);
        break;
    case E_AGG:
        dal__cc_agg(cc, e);
        break;
    case E_AVG:
        dal__cc_str(cc, d->avg_prefix);
        dal__cc_agg(cc, e);
        dal__cc_str(cc, d->avg_suffix);
        break;
    case E_WINFN:
        dal__cc_str(cc, e->s1);
        dal__cc_str(cc, "()");
        break;
    case E_OVER:
        /* avg's cast wraps the whole window expression. */
        if (e->kids[0]->kind == E_AVG) {
            dal__cc_str(cc, d->avg_prefix);
            dal__cc_agg(cc, e->kids[0]);
        } else {
            expr_as(cc, e->kids[0], ALLOW_WINFN, VALUE_CAST);
        }
        dal__cc_str(cc, " OVER (");
        if (e->kids[1]) {
            dal__cc_str(cc, "PARTITION BY ");
            list(cc, e->kids[1]->kids, e->kids[1]->nkids, ", ");
        }
        if (e->kids[2]) {
            dal__cc_str(cc, e->kids[1] ? " ORDER BY " : "ORDER BY ");
            order_list(cc, e->kids[2]->kids, e->kids[2]->nkids);
        }
        dal__cc_str(cc, ")");
        if (e->kids[0]->kind == E_AVG)
            dal__cc_str(cc, d->avg_suffix);
        break;
    case E_EXISTS:
    case E_SUBQ:
        dal__cc_str(cc, e->kind == E_EXISTS ? "EXISTS (" : "(");
        emit_query(cc, e->q);
        dal__cc_str(cc, ")");
        break;
    case E_AS:
        expr_as(cc, e->kids[0], 0, VALUE_CAST);
        dal__cc_str(cc, " AS ");
        quote(cc, e->s1);
        break;
    case E_RAW:
        raw(cc, e);
        break;
    case E_ORDER:
        expr_as(cc, e->kids[0], 0, VALUE_CAST);
        if (e->i & 1)
            dal__cc_str(cc, " DESC");
        if (e->i & 2)
            dal__cc_str(cc, " NULLS FIRST");
        else if (e->i & 4)
            dal__cc_str(cc, " NULLS LAST");
        else if ((e->i & 1) ? d->desc_nulls : d->asc_nulls)
            dal__cc_str(cc, (e->i & 1) ? d->desc_nulls : d->asc_nulls);
        break;
    case E_JSON_GET:
        d->json_get(cc, e->kids[0], e->s1, e->i);
        break;
    case E_JSON_CONTAINS:
        if (!d->json_contains) {
            char msg[128];

            snprintf(msg, sizeof msg, "JSON containment (dal_json_contains)"
                     " is not available on %s", d->name);
            dal__cc_fail(cc, DAL_E_UNSUPPORTED, msg);
        } else {
            d->json_contains(cc, e->kids[0], e->kids[1]);
        }
        break;
    case E_EXCLUDED:
        dal__cc_str(cc, "excluded.");
        quote(cc, e->s1);
        break;
    case E_FTS_MATCH:
        d->fts_match(cc, e->s1, e->s2);
        break;
    case E_FTS_RANK:
        d->fts_rank(cc, e->s1, e->s2);
        break;
    }
    cc->depth--;
    return cc->rc;
}

static int names_list(dal__cc *cc, char *const *names, int n)
{
    int i;

    for (i = 0; i < n && !cc->rc; i++) {
        if (i)
            dal__cc_str(cc, ", ");
        quote(cc, names[i]);
    }
    return cc->rc;
}

static int int_value(dal__cc *cc, int64_t v)
{
    return dal__cc_value(cc, &DAL_V_INT64(v));
}

/* An operand of a set operation. Nested set operations become
 * SELECT * FROM (...) AS "dal_sN", which both dialects read the same way
 * (SQLite has no parenthesized compound members, and the precedence of
 * INTERSECT differs). */
static int setop_operand(dal__cc *cc, const dal_query *q, int n)
{
    char alias[32];

    if (q->kind == Q_SELECT && q->for_update)
        return dal__cc_fail(cc, DAL_E_MISUSE, "FOR UPDATE on a member of "
                            "a set operation");
    if (q->kind == Q_SELECT && !q->nctes) {
        if (q->norder || q->has_limit || q->has_offset)
            return dal__cc_fail(cc, DAL_E_MISUSE, "ORDER BY, LIMIT or "
                                "OFFSET on a member of a set operation: "
                                "give them to the combined query");
        return emit_query(cc, q);
    }
    snprintf(alias, sizeof alias, "dal_s%d", n);
    dal__cc_str(cc, "SELECT * FROM (");
    emit_query(cc, q);
    dal__cc_str(cc, ") AS ");
    return quote(cc, alias);
}

static int tail_clauses(dal__cc *cc, const dal_query *q)
{
    if (q->norder) {
        dal__cc_str(cc, " ORDER BY ");
        order_list(cc, q->order, q->norder);
    }
    if (q->has_limit) {
        dal__cc_str(cc, " LIMIT ");
        int_value(cc, q->limit);
    } else if (q->has_offset && cc->d->offset_needs_limit) {
        dal__cc_str(cc, " LIMIT -1");
    }
    if (q->has_offset) {
        dal__cc_str(cc, " OFFSET ");
        int_value(cc, q->offset);
    }
    return cc->rc;
}

static int emit_select(dal__cc *cc, const dal_query *q)
{
    int i;
    static const char *const joins[] = {
        "", " JOIN ", " LEFT JOIN ", " CROSS JOIN "
    };

    int where_true = cc->where_true;

    cc->where_true = 0;
    if (q->for_update && (q->distinct || q->ngroup || q->having))
        return dal__cc_fail(cc, DAL_E_MISUSE, "FOR UPDATE with DISTINCT, "
                            "GROUP BY or HAVING: PostgreSQL cannot lock "
                            "grouped rows");
    dal__cc_str(cc, q->distinct ? "SELECT DISTINCT " : "SELECT ");
    list_as(cc, q->cols, q->ncols, ", ", ALLOW_STAR | ALLOW_AS, VALUE_CAST);
    if (q->table || q->from_sub) {
        dal__cc_str(cc, " FROM ");
        if (q->from_sub) {
            dal__cc_str(cc, "(");
            emit_query(cc, q->from_sub);
            dal__cc_str(cc, ")");
        } else {
            quote(cc, q->table);
        }
        if (q->alias) {
            dal__cc_str(cc, " AS ");
            quote(cc, q->alias);
        }
    }
    for (i = 0; i < q->njoins; i++) {
        dal__cc_str(cc, joins[q->joins[i].kind]);
        quote(cc, q->joins[i].table);
        if (q->joins[i].alias) {
            dal__cc_str(cc, " AS ");
            quote(cc, q->joins[i].alias);
        }
        if (q->joins[i].on) {
            dal__cc_str(cc, " ON ");
            dal__cc_expr(cc, q->joins[i].on);
        }
    }
    if (q->where) {
        dal__cc_str(cc, " WHERE ");
        dal__cc_expr(cc, q->where);
    } else if (where_true) {
        dal__cc_str(cc, " WHERE true");
    }
    if (q->ngroup) {
        dal__cc_str(cc, " GROUP BY ");
        list(cc, q->group, q->ngroup, ", ");
    }
    if (q->having) {
        if (!q->ngroup)
            return dal__cc_fail(cc, DAL_E_MISUSE, "HAVING without GROUP BY");
        dal__cc_str(cc, " HAVING ");
        dal__cc_expr(cc, q->having);
    }
    tail_clauses(cc, q);
    if (q->for_update && cc->d->has_for_update) {
        dal__cc_str(cc, " FOR UPDATE");
        if (q->lock_flags & DAL_LOCK_NOWAIT)
            dal__cc_str(cc, " NOWAIT");
        if (q->lock_flags & DAL_LOCK_SKIP_LOCKED)
            dal__cc_str(cc, " SKIP LOCKED");
    }
    return cc->rc;
}

static int returning(dal__cc *cc, const dal_query *q)
{
    if (q->nreturning) {
        dal__cc_str(cc, " RETURNING ");
        list_as(cc, q->returning, q->nreturning, ", ",
                ALLOW_STAR | ALLOW_AS, VALUE_CAST);
    }
    return cc->rc;
}

static int sets(dal__cc *cc, const dal_query *q, int upsert)
{
    int i;

    for (i = 0; i < q->nsets && !cc->rc; i++) {
        if (i)
            dal__cc_str(cc, ", ");
        quote(cc, q->sets[i].col);
        dal__cc_str(cc, " = ");
        expr_as(cc, q->sets[i].v, upsert ? ALLOW_EXCLUDED : 0, VALUE_CAST);
    }
    cc->allow = 0;
    return cc->rc;
}

static int emit_insert(dal__cc *cc, const dal_query *q)
{
    int i;

    if (!q->nrows && !q->insert_select)
        return dal__cc_fail(cc, DAL_E_MISUSE, "INSERT without values: call "
                            "dal_q_values() or dal_q_insert_select()");
    dal__cc_str(cc, "INSERT INTO ");
    quote(cc, q->table);
    if (q->ncolumns) {
        dal__cc_str(cc, " (");
        names_list(cc, q->columns, q->ncolumns);
        dal__cc_str(cc, ")");
    }
    if (q->insert_select) {
        dal__cc_str(cc, " ");
        cc->where_true = q->has_conflict && cc->d->upsert_select_needs_where
                         && q->insert_select->kind == Q_SELECT;
        emit_query(cc, q->insert_select);
        cc->where_true = 0;
    } else {
        dal__cc_str(cc, " VALUES ");
        for (i = 0; i < q->nrows && !cc->rc; i++) {
            dal__cc_str(cc, i ? ", (" : "(");
            list(cc, q->rows[i], q->ncolumns, ", ");
            dal__cc_str(cc, ")");
        }
    }
    if (q->has_conflict) {
        dal__cc_str(cc, " ON CONFLICT (");
        names_list(cc, q->conflict, q->nconflict);
        if (q->do_nothing) {
            dal__cc_str(cc, ") DO NOTHING");
        } else {
            if (!q->nsets)
                return dal__cc_fail(cc, DAL_E_MISUSE, "DO UPDATE without "
                                    "dal_q_set()");
            dal__cc_str(cc, ") DO UPDATE SET ");
            sets(cc, q, 1);
        }
    }
    return returning(cc, q);
}

static int emit_query(dal__cc *cc, const dal_query *q)
{
    int i;

    if (cc->rc)
        return cc->rc;
    if (q->err)
        return dal__cc_fail(cc, q->err, q->errmsg);
    if (++cc->depth > MAX_DEPTH) {
        cc->depth--;
        return dal__cc_fail(cc, DAL_E_MISUSE, "query nested too deeply");
    }
    if (q->nctes) {
        /* WHERE true is for the main SELECT, not the CTEs'. */
        int where_true = cc->where_true;

        cc->where_true = 0;
        dal__cc_str(cc, q->recursive ? "WITH RECURSIVE " : "WITH ");
        for (i = 0; i < q->nctes && !cc->rc; i++) {
            if (i)
                dal__cc_str(cc, ", ");
            quote(cc, q->ctes[i].name);
            if (q->ctes[i].ncols) {
                dal__cc_str(cc, " (");
                names_list(cc, q->ctes[i].cols, q->ctes[i].ncols);
                dal__cc_str(cc, ")");
            }
            dal__cc_str(cc, " AS (");
            emit_query(cc, q->ctes[i].sub);
            dal__cc_str(cc, ")");
        }
        dal__cc_str(cc, " ");
        cc->where_true = where_true;
    }
    switch (q->kind) {
    case Q_SELECT:
        emit_select(cc, q);
        break;
    case Q_SETOP:
        setop_operand(cc, q->left, cc->depth * 2);
        dal__cc_str(cc, q->setop == SET_UNION ? " UNION "
                        : q->setop == SET_UNION_ALL ? " UNION ALL "
                        : q->setop == SET_INTERSECT ? " INTERSECT "
                        : " EXCEPT ");
        setop_operand(cc, q->right, cc->depth * 2 + 1);
        tail_clauses(cc, q);
        break;
    case Q_INSERT:
        emit_insert(cc, q);
        break;
    case Q_UPDATE:
        if (!q->nsets) {
            dal__cc_fail(cc, DAL_E_MISUSE, "UPDATE without dal_q_set()");
            break;
        }
        dal__cc_str(cc, "UPDATE ");
        quote(cc, q->table);
        dal__cc_str(cc, " SET ");
        sets(cc, q, 0);
        if (q->where) {
            dal__cc_str(cc, " WHERE ");
            dal__cc_expr(cc, q->where);
        }
        returning(cc, q);
        break;
    case Q_DELETE:
        dal__cc_str(cc, "DELETE FROM ");
        quote(cc, q->table);
        if (q->where) {
            dal__cc_str(cc, " WHERE ");
            dal__cc_expr(cc, q->where);
        }
        returning(cc, q);
        break;
    }
    cc->depth--;
    return cc->rc;
}

int dal__buf_sqlstr(dal__buf *b, const char *s, size_t n)
{
    size_t i;

    if (dal__buf_addc(b, '\''))
        return DAL_NOMEM;
    for (i = 0; i < n; i++)
        if ((s[i] == '\'' && dal__buf_addc(b, '\''))
            || dal__buf_addc(b, s[i]))
            return DAL_NOMEM;
    return dal__buf_addc(b, '\'');
}

int dal__expr_literal_sql(const dal_expr *e, const struct dal_dialect *d,
                          dal__buf *b, char *err, size_t errlen)
{
    dal__cc cc;
    int rc;

    memset(&cc, 0, sizeof cc);
    cc.d = d;
    cc.err = err;
    cc.errlen = errlen;
    cc.inline_values = 1;
    dal__cc_expr(&cc, e);
    rc = cc.rc;
    if (!rc && cc.b.len && dal__buf_add(b, cc.b.p, cc.b.len))
        rc = DAL_NOMEM;
    dal__buf_free(&cc.b);
    /* Literal mode binds nothing, but a raw fragment may have tried. */
    for (int i = 0; i < cc.nvals; i++) {
        dal_value_clear(&cc.vals[i]);
        dal__free(cc.names[i]);
    }
    if (!rc && cc.nvals) {
        snprintf(err, errlen, "a raw fragment with parameters cannot stand "
                 "in a default or CHECK");
        rc = DAL_E_MISUSE;
    }
    dal__free(cc.vals);
    dal__free(cc.names);
    dal__free(cc.is_slot);
    dal__free(cc.shared);
    return rc;
}

void dal__compiled_free(dal__compiled *c)
{
    int i;

    if (!c)
        return;
    for (i = 0; i < c->nparams; i++) {
        dal_value_clear(&c->values[i]);
        if (c->names)
            dal__free(c->names[i]);
    }
    dal__free(c->values);
    dal__free(c->names);
    dal__free(c->is_slot);
    dal__free(c->sql);
    memset(c, 0, sizeof *c);
}

int dal__compile(const dal_query *q, const struct dal_dialect *d,
                 dal__compiled *out, char *err, size_t errlen)
{
    dal__cc cc;
    int i, slots = 0;

    memset(out, 0, sizeof *out);
    memset(&cc, 0, sizeof cc);
    cc.d = d;
    cc.err = err;
    cc.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    if (!q)
        return dal__cc_fail(&cc, DAL_E_MISUSE, "the query is NULL (out of "
                            "memory while building it?)");
    emit_query(&cc, q);
    if (!cc.rc && cc.nvals > d->max_params) {
        char msg[160];

        snprintf(msg, sizeof msg, "the query needs %d parameters and %s "
                 "takes at most %d: split it (fewer rows per INSERT)",
                 cc.nvals, d->name, d->max_params);
        dal__cc_fail(&cc, DAL_E_RANGE, msg);
    }
    if (!cc.rc && !cc.b.p && dal__buf_adds(&cc.b, ""))
        nomem(&cc);
    dal__free(cc.shared);
    out->values = cc.vals;
    out->names = cc.names;
    out->is_slot = cc.is_slot;
    out->nparams = cc.nvals;
    out->sql = cc.b.p;
    out->len = cc.b.len;
    /* For the observer's hooks (the require-WHERE guard). */
    out->obs_flags = DAL_EVF_AST;
    if ((q->kind == Q_UPDATE || q->kind == Q_DELETE) && !q->where)
        out->obs_flags |= DAL_EVF_NO_WHERE
                          | (q->allow_all ? DAL_EVF_ALLOW_ALL : 0u);
    for (i = 0; i < cc.nvals; i++)
        slots += cc.is_slot[i];
    if (!slots) {
        /* No dal_param: the names array is all NULL; drop it. */
        dal__free(out->names);
        out->names = NULL;
    }
    if (cc.rc) {
        dal__compiled_free(out);
        return cc.rc;
    }
    return DAL_OK;
}

/* ---- public entry points -------------------------------------------- */

int dal_query_to_sql(const dal_query *q, const char *backend, char **sql,
                     int *nparams, char **errmsg)
{
    const struct dal_driver *const *dr;
    const struct dal_dialect *d = NULL;
    dal__compiled c;
    char err[256];
    int rc;

    if (errmsg)
        *errmsg = NULL;
    if (nparams)
        *nparams = 0;
    if (!sql)
        return DAL_E_MISUSE;
    *sql = NULL;
    for (dr = dal__drivers; backend && *dr && !d; dr++)
        if (!strcmp((*dr)->name, backend))
            d = (*dr)->dialect;
    if (!d) {
        snprintf(err, sizeof err, "unknown backend '%s': use \"sqlite\" or "
                 "\"postgres\"", backend ? backend : "(null)");
        rc = DAL_E_MISUSE;
    } else {
        rc = dal__compile(q, d, &c, err, sizeof err);
    }
    if (rc != DAL_OK) {
        if (errmsg && err[0])
            *errmsg = dal__strdup(err);
        return rc;
    }
    *sql = c.sql;
    c.sql = NULL;
    if (nparams)
        *nparams = c.nparams;
    dal__compiled_free(&c);
    return DAL_OK;
}

int dal_query_prepare(dal_db *db, const dal_query *q, dal_stmt **stp)
{
    dal__compiled c;
    dal_stmt *st;
    char err[256];
    int rc, i;

    if (stp)
        *stp = NULL;
    if (!db)
        return DAL_E_MISUSE;
    if (!stp)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "stp is NULL");
    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, "08003", "the connection is "
                            "not open");
    dal__clearerr(db);
    rc = dal__compile(q, db->drv->dialect, &c, err, sizeof err);
    if (rc != DAL_OK)
        return dal__seterr(db, rc, NULL, 0, err[0] ? err : NULL, NULL, NULL,
                           NULL);
    rc = dal__stmt_new_translated(db, NULL, c.sql, c.len, c.nparams,
                                  c.names, 1, &st);
    c.names = NULL; /* taken by the statement, on failure too */
    if (rc == DAL_OK)
        st->obs_flags = c.obs_flags;
    for (i = 0; rc == DAL_OK && i < c.nparams; i++)
        if (!c.is_slot[i])
            rc = dal_bind_value(st, i + 1, &c.values[i]);
    if (rc != DAL_OK && st) {
        dal__stmt_free(st);
        st = NULL;
    }
    if (rc == DAL_OK) {
        db->nstmts++;
        *stp = st;
    }
    /* names went to the statement; free the rest. */
    for (i = 0; i < c.nparams; i++)
        dal_value_clear(&c.values[i]);
    dal__free(c.values);
    dal__free(c.is_slot);
    dal__free(c.sql);
    return rc;
}

int dal__query_run(dal_db *db, const dal_query *q, dal_stmt **stp)
{
    dal__compiled c;
    char err[256];
    int rc;

    *stp = NULL;
    rc = dal__compile(q, db->drv->dialect, &c, err, sizeof err);
    if (rc != DAL_OK)
        return dal__seterr(db, rc, NULL, 0, err[0] ? err : NULL, NULL, NULL,
                           NULL);
    rc = dal__run_cached(db, NULL, &c, c.values, c.nparams, stp);
    dal__compiled_free(&c);
    return rc;
}

int dal_query_exec(dal_db *db, const dal_query *q)
{
    dal__compiled c;
    char err[256];
    int rc, i;

    if (!db)
        return DAL_E_MISUSE;
    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, "08003", "the connection is "
                            "not open");
    rc = dal__compile(q, db->drv->dialect, &c, err, sizeof err);
    if (rc != DAL_OK)
        return dal__seterr(db, rc, NULL, 0, err[0] ? err : NULL, NULL, NULL,
                           NULL);
    for (i = 0; i < c.nparams; i++)
        if (c.is_slot[i]) {
            rc = dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_query_exec: the "
                              "query has a dal_param(\"%s\") slot; use "
                              "dal_query_prepare()", c.names[i]);
            dal__compiled_free(&c);
            return rc;
        }
    rc = dal__exec_compiled(db, &c);
    dal__compiled_free(&c);
    return rc;
}
