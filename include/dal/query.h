/*
 * dal/query.h - build queries as a tree in C, compile them to each
 * backend's SQL dialect, and run them with every value bound.
 *
 *   dal_query *q = dal_select(dal_col("status"),
 *                             dal_as(dal_sum(dal_col("amount")), "total"));
 *   dal_q_from(q, "orders");
 *   dal_q_where(q, dal_and(dal_eq(dal_col("region"), dal_text("eu")),
 *                          dal_gt(dal_col("amount"), dal_int(100))));
 *   dal_q_group_by(q, dal_col("status"));
 *   dal_q_order_by(q, dal_desc(dal_col("total")));
 *   dal_q_limit(q, 10);
 *   rc = dal_query_prepare(db, q, &st);      then dal_step() as usual
 *   dal_query_free(q);
 *
 * Ownership: every function that takes a dal_expr * or dal_query * as an
 * argument takes ownership of it, on success and on failure alike, so
 * calls nest without temporaries. A constructor returns NULL only when
 * memory ran out; a NULL argument makes the enclosing node NULL too, and
 * a query given a NULL part records DAL_NOMEM, reported when it is
 * compiled. Bad input (an empty identifier, a node of the wrong kind, a
 * step out of order) is recorded the same way, with a message, and
 * reported by dal_query_prepare() / dal_query_to_sql(): no malformed SQL
 * ever reaches a server.
 *
 * Variadic builders (dal_and, dal_select, dal_q_group_by, ...) are macros
 * over a *_n function taking an array and a count, so a NULL argument
 * (out of memory) is seen, not mistaken for the end of the list. They need
 * at least one argument, and C (compound literals): from C++, call the
 * *_n functions.
 *
 * Identifiers are always quoted and escaped; values are always bound
 * parameters, never interpolated into the SQL text (equal values share
 * one parameter). Numbers go typed (PostgreSQL: $1::int8), text goes
 * untyped so that a column of any type can receive it.
 *
 * Where the backends differ, the compiler makes them agree (division,
 * casts, LIKE, NULL ordering: NULLs sort as the largest value on both,
 * so ORDER BY x puts them last and x DESC first), or refuses the query.
 * What remains is SQL itself, and is the caller's to avoid:
 *   - a value with no type from its context: SELECT of a bare
 *     dal_param() or text value, count(text), text IS NULL, abs(NULL),
 *     $1 + $1 of one dal_param() fail on PostgreSQL (42P18/42725) or come
 *     back as text: give it a type with dal_cast();
 *   - integer overflow is an error on PostgreSQL (22003) and a REAL on
 *     SQLite; a scalar subquery returning several rows is an error on
 *     PostgreSQL (21000) and its first row on SQLite;
 *   - booleans are 0/1 integers on SQLite: min/sum of a boolean column
 *     work there and fail on PostgreSQL (42883); a boolean cast to text
 *     is '1' on SQLite and 'true' on PostgreSQL;
 *   - text cast to DAL_SQL_BLOB is its bytes on SQLite and bytea input
 *     syntax ('\x41' is one byte) on PostgreSQL;
 *   - SQLite may return a REAL column's whole value as an INTEGER from
 *     RETURNING (read it with dal_column_double);
 *   - text comparison and lower()/upper() beyond ASCII follow the
 *     PostgreSQL database's collation (libdal's tests use "C").
 */
#ifndef DAL_QUERY_H
#define DAL_QUERY_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dal_expr dal_expr;
typedef struct dal_query dal_query;

#define DAL__NARGS(T, ...) (sizeof((T[]){__VA_ARGS__}) / sizeof(T))
#define DAL__EXPRS(...) \
    (dal_expr *[]){__VA_ARGS__}, (int)DAL__NARGS(dal_expr *, __VA_ARGS__)
#define DAL__NAMES(...) \
    (const char *[]){__VA_ARGS__}, \
    (int)DAL__NARGS(const char *, __VA_ARGS__)

/* Portable types for dal_cast() (and, later, schemas). */
typedef enum dal_sqltype {
    DAL_SQL_INT64 = 1,  /* SQLite INTEGER, PostgreSQL BIGINT */
    DAL_SQL_DOUBLE,     /* REAL / DOUBLE PRECISION */
    DAL_SQL_TEXT,       /* TEXT / TEXT */
    DAL_SQL_BLOB,       /* BLOB / BYTEA */
    DAL_SQL_BOOL,       /* INTEGER 0/1 / BOOLEAN */
    DAL_SQL_NUMERIC,    /* NUMERIC / NUMERIC */
    DAL_SQL_TIMESTAMP,  /* TEXT 'YYYY-MM-DD HH:MM:SS' / TIMESTAMP */
    DAL_SQL_DATE,       /* TEXT 'YYYY-MM-DD' / DATE */
    DAL_SQL_JSON        /* TEXT / JSONB */
} dal_sqltype;

/* Parts for dal_extract(). */
typedef enum dal_datepart {
    DAL_PART_YEAR = 1, DAL_PART_MONTH, DAL_PART_DAY,
    DAL_PART_HOUR, DAL_PART_MINUTE, DAL_PART_SECOND
} dal_datepart;

/* ---- expressions: columns and values -------------------------------- */

/*
 * dal_col - a column: "name", or "table.name" (split at the first dot).
 * dal_tcol - a column of table (or alias) t; neither name is split.
 * dal_star - *, and dal_tstar - t.*, for select lists and dal_count().
 */
DAL_EXTERN dal_expr *dal_col(const char *name);
DAL_EXTERN dal_expr *dal_tcol(const char *t, const char *name);
DAL_EXTERN dal_expr *dal_star(void);
DAL_EXTERN dal_expr *dal_tstar(const char *t);

/*
 * Bound values. Text and blob bytes are copied. dal_value_expr() takes
 * any dal_value (copied likewise).
 */
DAL_EXTERN dal_expr *dal_null(void);
DAL_EXTERN dal_expr *dal_bool(int v);
DAL_EXTERN dal_expr *dal_int(int64_t v);
DAL_EXTERN dal_expr *dal_double(double v);
DAL_EXTERN dal_expr *dal_text(const char *s);
DAL_EXTERN dal_expr *dal_textn(const char *s, size_t len);
DAL_EXTERN dal_expr *dal_blob(const void *p, size_t len);
DAL_EXTERN dal_expr *dal_value_expr(const dal_value *v);

/*
 * dal_param - a parameter slot named name (a leading ':' is ignored),
 * left unbound in the compiled statement: bind it with dal_bind_named(st,
 * name, ...) before each run, so that one compiled query serves many
 * values. A slot left unbound reads as NULL. The tree's own values are
 * bound by dal_query_prepare(); dal_clear_bindings() clears them too, so
 * rebind slots with dal_bind_named() rather than clearing.
 */
DAL_EXTERN dal_expr *dal_param(const char *name);

/* ---- operators ------------------------------------------------------ */

DAL_EXTERN dal_expr *dal_eq(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_ne(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_lt(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_le(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_gt(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_ge(dal_expr *a, dal_expr *b);
/* IS NOT DISTINCT FROM / IS DISTINCT FROM: comparisons where NULL equals
 * NULL (SQLite: IS / IS NOT). */
DAL_EXTERN dal_expr *dal_is(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_is_not(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_is_null(dal_expr *a);
DAL_EXTERN dal_expr *dal_is_not_null(dal_expr *a);

/* AND / OR of one or more conditions; NOT. */
DAL_EXTERN dal_expr *dal_and_n(dal_expr *const *v, int n);
DAL_EXTERN dal_expr *dal_or_n(dal_expr *const *v, int n);
#define dal_and(...) dal_and_n(DAL__EXPRS(__VA_ARGS__))
#define dal_or(...) dal_or_n(DAL__EXPRS(__VA_ARGS__))
DAL_EXTERN dal_expr *dal_not(dal_expr *a);

/* a IN (list...) / a NOT IN (list...), a IN (subquery). */
DAL_EXTERN dal_expr *dal_in_n(dal_expr *a, dal_expr *const *v, int n);
DAL_EXTERN dal_expr *dal_not_in_n(dal_expr *a, dal_expr *const *v, int n);
#define dal_in(a, ...) dal_in_n((a), DAL__EXPRS(__VA_ARGS__))
#define dal_not_in(a, ...) dal_not_in_n((a), DAL__EXPRS(__VA_ARGS__))
DAL_EXTERN dal_expr *dal_in_query(dal_expr *a, dal_query *q);

DAL_EXTERN dal_expr *dal_between(dal_expr *a, dal_expr *lo, dal_expr *hi);

/*
 * LIKE is case-sensitive on both backends (libdal's SQLite connections
 * run with PRAGMA case_sensitive_like=ON, as PostgreSQL's LIKE is), and
 * a backslash escapes % and _ in the pattern on both (ESCAPE '\').
 * ILIKE is case-insensitive: PostgreSQL's ILIKE; on SQLite the rule is
 * lower(a) LIKE lower(pattern), which folds ASCII letters only.
 */
DAL_EXTERN dal_expr *dal_like(dal_expr *a, dal_expr *pattern);
DAL_EXTERN dal_expr *dal_ilike(dal_expr *a, dal_expr *pattern);

/*
 * Arithmetic. dal_div is true division on both backends (7 / 2 = 3.5,
 * computed in double precision), and a zero divisor gives NULL on both
 * (PostgreSQL would raise 22012; the operand goes through NULLIF).
 * dal_idiv is integer division truncating toward zero, also NULL for 0.
 */
DAL_EXTERN dal_expr *dal_add(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_sub(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_mul(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_div(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_idiv(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_mod(dal_expr *a, dal_expr *b);
DAL_EXTERN dal_expr *dal_neg(dal_expr *a);
/* String concatenation (||). */
DAL_EXTERN dal_expr *dal_concat(dal_expr *a, dal_expr *b);

/*
 * CASE: dal_case(dal_when(c1, v1), dal_when(c2, v2), dal_else(v3)).
 * dal_else is optional and must come last.
 */
DAL_EXTERN dal_expr *dal_when(dal_expr *cond, dal_expr *then);
DAL_EXTERN dal_expr *dal_else(dal_expr *v);
DAL_EXTERN dal_expr *dal_case_n(dal_expr *const *v, int n);
#define dal_case(...) dal_case_n(DAL__EXPRS(__VA_ARGS__))

/*
 * CAST(a AS the backend's name for type). DAL_SQL_INT64 truncates toward
 * zero on both backends (exactly: PostgreSQL goes through the number's
 * text); DAL_SQL_BOOL takes numbers (0 false, else true) and booleans;
 * DAL_SQL_DATE and DAL_SQL_TIMESTAMP give 'YYYY-MM-DD' and 'YYYY-MM-DD
 * HH:MM:SS' on SQLite (date() / datetime()). Text that does not read as
 * the type is 0 / false / NULL on SQLite and an error (22P02) on
 * PostgreSQL: cast text you trust.
 */
DAL_EXTERN dal_expr *dal_cast(dal_expr *a, dal_sqltype type);

/* ---- functions ------------------------------------------------------ */

DAL_EXTERN dal_expr *dal_lower(dal_expr *a);
DAL_EXTERN dal_expr *dal_upper(dal_expr *a);
/* Length in characters. */
DAL_EXTERN dal_expr *dal_length(dal_expr *a);
DAL_EXTERN dal_expr *dal_abs(dal_expr *a);
/* Round to digits (0 to 15) decimal places, a double on both. */
DAL_EXTERN dal_expr *dal_round(dal_expr *a, int digits);
DAL_EXTERN dal_expr *dal_coalesce_n(dal_expr *const *v, int n);
#define dal_coalesce(...) dal_coalesce_n(DAL__EXPRS(__VA_ARGS__))
/* The current time as UTC text 'YYYY-MM-DD HH:MM:SS' on both backends. */
DAL_EXTERN dal_expr *dal_now(void);
/* A date part of a timestamp or date (text 'YYYY-MM-DD[ HH:MM:SS]' on
 * SQLite), as an integer. */
DAL_EXTERN dal_expr *dal_extract(dal_datepart part, dal_expr *a);
/*
 * A call of any function by name (a plain identifier, optionally with a
 * schema: "pg_catalog.lower"; not quoted). Its values are bound without
 * a type, so that the function's own signature types them on
 * PostgreSQL; cast an argument (dal_cast) where the function takes
 * any type.
 */
DAL_EXTERN dal_expr *dal_func_n(const char *name, dal_expr *const *v,
                                int n);
#define dal_func(name, ...) dal_func_n((name), DAL__EXPRS(__VA_ARGS__))
DAL_EXTERN dal_expr *dal_func0(const char *name);

/* ---- aggregates and windows ----------------------------------------- */

/* COUNT(a), COUNT(*) with dal_star() (COUNT(t.*) is refused: SQLite has
 * no such form), COUNT(DISTINCT a). SUM of integers is an integer on
 * SQLite and NUMERIC (read as TEXT by dal_column_type; dal_column_int64
 * reads it) on PostgreSQL. */
DAL_EXTERN dal_expr *dal_count(dal_expr *a);
DAL_EXTERN dal_expr *dal_count_distinct(dal_expr *a);
DAL_EXTERN dal_expr *dal_sum(dal_expr *a);
/* AVG, as a double on both backends. */
DAL_EXTERN dal_expr *dal_avg(dal_expr *a);
DAL_EXTERN dal_expr *dal_min(dal_expr *a);
DAL_EXTERN dal_expr *dal_max(dal_expr *a);
/* agg FILTER (WHERE cond); agg must be an aggregate. */
DAL_EXTERN dal_expr *dal_filter(dal_expr *agg, dal_expr *cond);

DAL_EXTERN dal_expr *dal_row_number(void);
DAL_EXTERN dal_expr *dal_rank(void);
/*
 * fn OVER (PARTITION BY partition ORDER BY order): fn is an aggregate or
 * a window function; partition and order are lists (dal_list(...)) or
 * NULL. Order items are expressions or dal_asc()/dal_desc().
 */
DAL_EXTERN dal_expr *dal_over(dal_expr *fn, dal_expr *partition,
                              dal_expr *order);
DAL_EXTERN dal_expr *dal_list_n(dal_expr *const *v, int n);
#define dal_list(...) dal_list_n(DAL__EXPRS(__VA_ARGS__))

/* ---- subqueries, aliases, raw SQL ----------------------------------- */

DAL_EXTERN dal_expr *dal_exists(dal_query *q);
/* A scalar subquery: q must return one column. */
DAL_EXTERN dal_expr *dal_subquery(dal_query *q);
/* a AS alias, in a select list or RETURNING. */
DAL_EXTERN dal_expr *dal_as(dal_expr *a, const char *alias);
/*
 * A raw SQL fragment, copied as it is, with ? placeholders bound to
 * params[0..n-1] (copied). The fragment must be one expression; it is
 * the caller's SQL, so it is the one place where dialect and quoting
 * are up to the caller.
 */
DAL_EXTERN dal_expr *dal_raw(const char *sql, const dal_value *params,
                             int n);

/* ---- ordering ------------------------------------------------------- */

DAL_EXTERN dal_expr *dal_asc(dal_expr *a);
DAL_EXTERN dal_expr *dal_desc(dal_expr *a);
/* NULLS FIRST / NULLS LAST on an order item (dal_asc, dal_desc or a
 * plain expression). */
DAL_EXTERN dal_expr *dal_nulls_first(dal_expr *item);
DAL_EXTERN dal_expr *dal_nulls_last(dal_expr *item);

/* ---- JSON ----------------------------------------------------------- */

/*
 * dal_json_get - the value at path ("$.a.b", "$.items[0].id") of the
 * JSON in a, as text: a JSON string without its quotes; a number or
 * true/false as written in the JSON; objects and arrays as JSON text;
 * NULL when the path is missing or holds null. PostgreSQL: a::jsonb #>>
 * path-array; SQLite: json_extract() for strings, -> for the rest. Two
 * differences remain: PostgreSQL writes objects and arrays with a space
 * after ',' and ':' (SQLite without), and normalizes number notation
 * (1e2 reads 100 there, 1e2 on SQLite). Compare numbers through
 * dal_json_get_int / _double, and objects parsed.
 * dal_json_get_int / _double: the number at path (truncated toward zero
 * for _int), or NULL when the value there is not a JSON number (a
 * string "42" included), on both backends.
 */
DAL_EXTERN dal_expr *dal_json_get(dal_expr *a, const char *path);
DAL_EXTERN dal_expr *dal_json_get_int(dal_expr *a, const char *path);
DAL_EXTERN dal_expr *dal_json_get_double(dal_expr *a, const char *path);
/*
 * JSON built from key/value pairs (keys are dal_text) or from values.
 * The text differs between backends: PostgreSQL (jsonb) adds spaces,
 * orders keys by length and keeps the last of duplicate keys; booleans
 * bound with dal_bool are true/false there and 1/0 on SQLite.
 */
DAL_EXTERN dal_expr *dal_json_object_n(dal_expr *const *v, int n);
#define dal_json_object(...) dal_json_object_n(DAL__EXPRS(__VA_ARGS__))
DAL_EXTERN dal_expr *dal_json_array_n(dal_expr *const *v, int n);
#define dal_json_array(...) dal_json_array_n(DAL__EXPRS(__VA_ARGS__))
/*
 * dal_json_contains - a @> b on PostgreSQL (jsonb containment). SQLite
 * has no such operator: compiling it for SQLite fails with
 * DAL_E_UNSUPPORTED.
 */
DAL_EXTERN dal_expr *dal_json_contains(dal_expr *a, dal_expr *b);

/* ---- full-text search ---------------------------------------------- */

/*
 * dal_fts_create - make the text columns cols[0..ncols-1] of table
 * searchable with dal_fts_match() and dal_fts_rank(), and index the rows
 * already there. Words are lower-cased and matched exactly (no stemming,
 * no stop words) on both backends:
 *   SQLite: an FTS5 table "<table>_fts" (tokenizer unicode61, diacritics
 *     kept) over the table's rowid, kept in sync by AFTER INSERT, UPDATE
 *     and DELETE triggers; table must be a rowid table (an INTEGER
 *     PRIMARY KEY is its rowid).
 *   PostgreSQL: a generated column "<table>_fts" of type tsvector
 *     (configuration 'simple') with a GIN index "<table>_fts_idx".
 * Run it once, like a migration. Returns DAL_OK or an error recorded on
 * db (DAL_E_MISUSE for bad names).
 */
DAL_EXTERN int dal_fts_create(dal_db *db, const char *table,
                              const char *const *cols, int ncols);

/*
 * dal_fts_match - true for the rows of table (as named in FROM; no alias)
 * that match query, written as web search engines take it: words (all
 * must occur), "quoted phrases", OR between alternatives, and -word to
 * exclude (after at least one wanted word). PostgreSQL runs it through
 * websearch_to_tsquery('simple', ...); SQLite through an FTS5 MATCH of
 * the same query translated to FTS5's syntax.
 * dal_fts_rank - how well each row matches query, higher is better:
 * PostgreSQL ts_rank(..., 1) (normalized by document length), SQLite the
 * negated bm25(). The scales differ, and so do the weights: bm25 ranks
 * words that few rows contain higher (and gives ~0 to a word most rows
 * contain), ts_rank counts occurrences. For one word, rows that use it
 * more often, in shorter text, rank higher on both.
 */
DAL_EXTERN dal_expr *dal_fts_match(const char *table, const char *query);
DAL_EXTERN dal_expr *dal_fts_rank(const char *table, const char *query);

/* dal_expr_free - free an expression not handed to a builder. */
DAL_EXTERN void dal_expr_free(dal_expr *e);

/* ---- statements ----------------------------------------------------- */

DAL_EXTERN dal_query *dal_select_n(dal_expr *const *cols, int n);
#define dal_select(...) dal_select_n(DAL__EXPRS(__VA_ARGS__))
DAL_EXTERN dal_query *dal_insert(const char *table);
DAL_EXTERN dal_query *dal_update(const char *table);
DAL_EXTERN dal_query *dal_delete(const char *table);

/* SELECT DISTINCT. */
DAL_EXTERN void dal_q_distinct(dal_query *q);
/* FROM table [AS alias]; FROM (sub) AS alias. */
DAL_EXTERN void dal_q_from(dal_query *q, const char *table);
DAL_EXTERN void dal_q_from_as(dal_query *q, const char *table,
                              const char *alias);
DAL_EXTERN void dal_q_from_query(dal_query *q, dal_query *sub,
                                 const char *alias);

typedef enum dal_join {
    DAL_JOIN_INNER = 1, DAL_JOIN_LEFT, DAL_JOIN_CROSS
} dal_join;
/* JOIN table [AS alias] ON on (on is NULL, and required NULL, for
 * DAL_JOIN_CROSS). alias may be NULL. */
DAL_EXTERN void dal_q_join(dal_query *q, dal_join kind, const char *table,
                           const char *alias, dal_expr *on);

/* WHERE; several calls are ANDed. SELECT, UPDATE and DELETE. HAVING
 * needs a GROUP BY. */
DAL_EXTERN void dal_q_where(dal_query *q, dal_expr *cond);
DAL_EXTERN void dal_q_group_by_n(dal_query *q, dal_expr *const *v, int n);
#define dal_q_group_by(q, ...) dal_q_group_by_n((q), DAL__EXPRS(__VA_ARGS__))
DAL_EXTERN void dal_q_having(dal_query *q, dal_expr *cond);
DAL_EXTERN void dal_q_order_by_n(dal_query *q, dal_expr *const *v, int n);
#define dal_q_order_by(q, ...) dal_q_order_by_n((q), DAL__EXPRS(__VA_ARGS__))
/* LIMIT and OFFSET (either alone); negative values are an error. */
DAL_EXTERN void dal_q_limit(dal_query *q, int64_t n);
DAL_EXTERN void dal_q_offset(dal_query *q, int64_t n);

/*
 * WITH name AS (sub); recursive makes it WITH RECURSIVE (sub is then
 * usually a dal_union_all of a base case and a step that reads name).
 * cols, when not NULL, names the CTE's columns (ncols of them).
 */
DAL_EXTERN void dal_q_with(dal_query *q, const char *name,
                           const char *const *cols, int ncols,
                           dal_query *sub, int recursive);

/* Set operations of two SELECTs; the result takes ORDER BY and LIMIT. */
DAL_EXTERN dal_query *dal_union(dal_query *a, dal_query *b);
DAL_EXTERN dal_query *dal_union_all(dal_query *a, dal_query *b);
DAL_EXTERN dal_query *dal_intersect(dal_query *a, dal_query *b);
DAL_EXTERN dal_query *dal_except(dal_query *a, dal_query *b);

/* INSERT: the column names, then one dal_q_values() per row (each with
 * as many values as columns), or one dal_q_insert_select(). */
DAL_EXTERN void dal_q_columns_n(dal_query *q, const char *const *names,
                                int n);
#define dal_q_columns(q, ...) dal_q_columns_n((q), DAL__NAMES(__VA_ARGS__))
DAL_EXTERN void dal_q_values_n(dal_query *q, dal_expr *const *v, int n);
#define dal_q_values(q, ...) dal_q_values_n((q), DAL__EXPRS(__VA_ARGS__))
DAL_EXTERN void dal_q_insert_select(dal_query *q, dal_query *sub);

/* UPDATE ... SET column = value; also the SET of an upsert's DO UPDATE. */
DAL_EXTERN void dal_q_set(dal_query *q, const char *column, dal_expr *v);

/*
 * Upsert: ON CONFLICT (cols) DO NOTHING, or DO UPDATE SET the columns
 * given to dal_q_set() after this call. dal_excluded(col) is the value
 * the conflicting row would have had.
 */
DAL_EXTERN void dal_q_on_conflict_n(dal_query *q, const char *const *cols,
                                    int n, int do_nothing);
#define dal_q_on_conflict_do_nothing(q, ...) \
    dal_q_on_conflict_n((q), DAL__NAMES(__VA_ARGS__), 1)
#define dal_q_on_conflict_do_update(q, ...) \
    dal_q_on_conflict_n((q), DAL__NAMES(__VA_ARGS__), 0)
DAL_EXTERN dal_expr *dal_excluded(const char *column);

/* RETURNING, on INSERT, UPDATE and DELETE. */
DAL_EXTERN void dal_q_returning_n(dal_query *q, dal_expr *const *v, int n);
#define dal_q_returning(q, ...) \
    dal_q_returning_n((q), DAL__EXPRS(__VA_ARGS__))

/*
 * FOR UPDATE [NOWAIT | SKIP LOCKED] on a SELECT. PostgreSQL locks the
 * rows. SQLite has no row locks: the clause is left out, and the rows
 * are protected only inside a transaction that writes (begin it with
 * DAL_TX_IMMEDIATE to take SQLite's write lock before reading).
 */
#define DAL_LOCK_NOWAIT 1
#define DAL_LOCK_SKIP_LOCKED 2
DAL_EXTERN void dal_q_for_update(dal_query *q, int flags);

/*
 * dal_q_allow_all - say that an UPDATE or DELETE without dal_q_where() is
 * meant to touch every row of its table. It changes nothing in the SQL:
 * it lets the statement through the require-WHERE guard (dal_guard_add()
 * with require_where), which refuses AST UPDATEs and DELETEs without a
 * WHERE otherwise. Hooks see it as DAL_EVF_ALLOW_ALL. On a query of
 * another kind it records DAL_E_MISUSE, reported when q is compiled.
 */
DAL_EXTERN void dal_q_allow_all(dal_query *q);

/* dal_query_free - free a query and everything it owns. NULL is ignored. */
DAL_EXTERN void dal_query_free(dal_query *q);

/* ---- compiling and running ------------------------------------------ */

/*
 * dal_query_to_sql - compile q for backend ("sqlite" or "postgres")
 * without a connection: *sql receives the SQL text (free with dal_free())
 * and *nparams, when not NULL, the number of parameters. Returns DAL_OK,
 * the error recorded while building (DAL_NOMEM, DAL_E_MISUSE with a
 * message in *errmsg when errmsg is not NULL, freed with dal_free()),
 * DAL_E_UNSUPPORTED, or DAL_E_RANGE when the query needs more parameters
 * than the backend takes.
 */
DAL_EXTERN int dal_query_to_sql(const dal_query *q, const char *backend,
                                char **sql, int *nparams, char **errmsg);

/*
 * dal_query_prepare - compile q for db's backend and prepare it, with
 * every value of the tree bound. dal_param() slots are left for
 * dal_bind_named(). The statement does not depend on q afterwards: free
 * q whenever convenient. The caller frees *stp with dal_finalize().
 * Errors as dal_query_to_sql() and dal_prepare(), recorded on db.
 */
DAL_EXTERN int dal_query_prepare(dal_db *db, const dal_query *q,
                                 dal_stmt **stp);

/*
 * dal_query_exec - compile and run q once, discarding rows (through the
 * statement cache, like dal_exec_params()). q must have no dal_param().
 * dal_changes() gives the rows changed.
 */
DAL_EXTERN int dal_query_exec(dal_db *db, const dal_query *q);

/* ---- EXPLAIN -------------------------------------------------------- */

typedef struct dal_plan dal_plan;

/*
 * dal_explain - the plan the backend would use for q (compiled and bound
 * as dal_query_prepare() would), as a list of steps in the backend's
 * order, each with its parent: SQLite's EXPLAIN QUERY PLAN rows, or the
 * nodes of PostgreSQL's EXPLAIN (FORMAT JSON). The statement is not run.
 * dal_param() slots are planned as NULL. The caller frees *plan with
 * dal_plan_free(). Returns DAL_OK or an error recorded on db.
 */
DAL_EXTERN int dal_explain(dal_db *db, const dal_query *q, dal_plan **plan);

/* The number of steps. */
DAL_EXTERN int dal_plan_count(const dal_plan *p);
/* The index of step i's parent, or -1 for a top-level step. */
DAL_EXTERN int dal_plan_parent(const dal_plan *p, int i);
/* What step i does, as the backend says it: "SCAN t", "SEARCH t USING
 * INTEGER PRIMARY KEY (rowid=?)", "Seq Scan on t", "Index Scan using
 * t_pkey on t"... Valid until dal_plan_free(); NULL for a bad index. */
DAL_EXTERN const char *dal_plan_detail(const dal_plan *p, int i);
/* Step i's estimated total cost and rows, where the backend gives them
 * (PostgreSQL); a negative value where it does not (SQLite). */
DAL_EXTERN double dal_plan_cost(const dal_plan *p, int i);
DAL_EXTERN double dal_plan_rows(const dal_plan *p, int i);
/* Free a plan. NULL is ignored. */
DAL_EXTERN void dal_plan_free(dal_plan *p);

#ifdef __cplusplus
}
#endif
#endif /* DAL_QUERY_H */
