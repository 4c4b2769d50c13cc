/*
 * query-int.h - the query AST's nodes, shared by the builder (query.c)
 * and the compiler (compile.c). Dialects see dal_expr only as opaque.
 */
#ifndef DAL_QUERY_INT_H
#define DAL_QUERY_INT_H

#include "dal-int.h"

typedef enum dal__ekind {
    E_ERROR = 1,  /* a bad-input or out-of-memory marker, bubbling up */
    E_COL,        /* s1 table or NULL, s2 column */
    E_STAR,       /* s1 table or NULL */
    E_VALUE,      /* v */
    E_PARAM,      /* s1 name */
    E_BINOP,      /* op, kids[0..1] */
    E_AND, E_OR,  /* kids */
    E_NOT,        /* kids[0] */
    E_ISNULL, E_ISNOTNULL,
    E_IN, E_NOTIN, /* kids[0] operand, kids[1..] list */
    E_INQ,        /* kids[0] IN (q) */
    E_BETWEEN,    /* kids[0..2] */
    E_LIKE, E_ILIKE,
    E_NEG,
    E_DIV, E_IDIV, E_MOD, /* kids[0..1], with NULLIF on the divisor */
    E_WHEN, E_ELSE, E_CASE,
    E_CAST,       /* kids[0], i = dal_sqltype */
    E_FUNC,       /* s1 name, kids args (possibly 0) */
    E_LENGTH, E_ABS, E_LOWER, E_UPPER, E_COALESCE,
    E_ROUND,      /* kids[0], i digits */
    E_NOW,
    E_EXTRACT,    /* kids[0], i part */
    E_AGG,        /* s1 function name, kids[0], i: 1 DISTINCT; kids[1]
                     FILTER condition or absent */
    E_AVG,        /* like E_AGG, through the dialect */
    E_WINFN,      /* s1 name: row_number, rank */
    E_OVER,       /* kids[0] fn, kids[1] partition list or NULL, kids[2]
                     order list or NULL */
    E_LIST,       /* kids */
    E_EXISTS, E_SUBQ, /* q */
    E_AS,         /* kids[0], s1 alias */
    E_RAW,        /* s1 sql, vals[nvals] */
    E_ORDER,      /* kids[0], i: bit 1 DESC, bit 2 NULLS FIRST,
                     bit 4 NULLS LAST */
    E_JSON_GET,   /* kids[0], s1 path, i kind (0 text, 1 int, 2 double) */
    E_JSON_OBJ, E_JSON_ARR,
    E_JSON_CONTAINS,
    E_EXCLUDED,   /* s1 column */
    E_FTS_MATCH, E_FTS_RANK /* s1 table, s2 query */
} dal__ekind;

enum { OP_EQ = 1, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IS, OP_ISNOT,
       OP_ADD, OP_SUB, OP_MUL, OP_MOD, OP_CONCAT };

struct dal_expr {
    dal__ekind kind;
    int op;
    int i;
    int nkids;
    dal_expr **kids;
    char *s1, *s2;
    dal_value v;        /* E_VALUE; text and blob bytes owned */
    dal_value *vals;    /* E_RAW */
    int nvals;
    dal_query *q;
    int err;            /* E_ERROR */
    char *errmsg;       /* E_ERROR, NULL for out of memory */
};

typedef enum { Q_SELECT = 1, Q_INSERT, Q_UPDATE, Q_DELETE, Q_SETOP } dal__qkind;
enum { SET_UNION = 1, SET_UNION_ALL, SET_INTERSECT, SET_EXCEPT };

typedef struct dal__join {
    dal_join kind;
    char *table, *alias;
    dal_expr *on;
} dal__join;

typedef struct dal__cte {
    char *name;
    char **cols;
    int ncols;
    dal_query *sub;
} dal__cte;

typedef struct dal__set {
    char *col;
    dal_expr *v;
} dal__set;

struct dal_query {
    dal__qkind kind;
    int err;             /* the first error recorded while building */
    char *errmsg;
    int distinct;
    dal_expr **cols;     /* select list */
    int ncols;
    char *table, *alias; /* FROM, or the target of INSERT/UPDATE/DELETE */
    dal_query *from_sub;
    dal__join *joins;
    int njoins;
    dal_expr *where, *having;
    dal_expr **group;
    int ngroup;
    dal_expr **order;
    int norder;
    int64_t limit, offset;
    int has_limit, has_offset;
    dal__cte *ctes;
    int nctes;
    int recursive;
    int setop;           /* Q_SETOP */
    dal_query *left, *right;
    char **columns;      /* INSERT */
    int ncolumns;
    dal_expr ***rows;
    int nrows;
    dal_query *insert_select;
    dal__set *sets;      /* UPDATE SET, or DO UPDATE SET of an upsert */
    int nsets;
    int has_conflict, do_nothing;
    char **conflict;
    int nconflict;
    dal_expr **returning;
    int nreturning;
    int for_update, lock_flags;
    int allow_all;       /* dal_q_allow_all(): UPDATE/DELETE every row */
};

#endif /* DAL_QUERY_INT_H */
