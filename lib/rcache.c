/*
 * rcache.c - the result cache (include/dal/rcache.h): materialized,
 * reference-counted results; the SQL scans that say which tables a query
 * reads and which a statement writes; the in-process LRU store; and the
 * observer hook that invalidates entries when libdal runs a write.
 *
 * The scans are not an SQL parser. They know the tokens (literals,
 * quoted identifiers, comments, dollar quotes) well enough never to read
 * a keyword inside a literal, and they err one way only: a query may be
 * said to read a name it does not (an alias, a CTE), and a write whose
 * target is not plain is taken to touch everything.
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "dal-int.h"
#include "result-int.h"
#include "dal/rcache.h"

#define DEFAULT_MAX_BYTES ((size_t)16 << 20)
#define NAME_MAX_LEN 255 /* longer names are "unsure" */
#define NGEN 64          /* generation buckets (table name hash % 64) */
#define MAX_DEPTH 64     /* parentheses the read scan follows */

/* ---- tokens ---------------------------------------------------------- */

enum {
    T_END, T_WORD, T_QUOTED, T_LPAREN, T_RPAREN, T_COMMA, T_DOT, T_SEMI,
    T_OTHER
};

typedef struct tok {
    int type;
    const char *s;
    size_t n;
} tok;

static int ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
           || c >= 0x80;
}

static int ident_char(unsigned char c)
{
    return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Skip a string literal starting at the quote p; esc: backslashes
 * escape (PostgreSQL E'...'). Returns the end (past the quote). */
static const char *skip_string(const char *p, int esc)
{
    for (p++; *p; p++) {
        if (esc && *p == '\\' && p[1])
            p++;
        else if (*p == '\'') {
            if (p[1] == '\'')
                p++;
            else
                return p + 1;
        }
    }
    return p;
}

/* The length of a $tag$ or $$ opener at p, or 0. */
static size_t dollar_tag(const char *p)
{
    const char *q = p + 1;

    if (*q == '$')
        return 2;
    if (!ident_start((unsigned char)*q))
        return 0;
    while (ident_char((unsigned char)*q) && *q != '$')
        q++;
    return *q == '$' ? (size_t)(q - p) + 1 : 0;
}

/*
 * The next token after *pp. Blanks and comments are skipped; block
 * comments end at the first star-slash (SQLite's rule: a PostgreSQL
 * nested comment then shows its tail as code, which can only add names).
 */
static void next_tok(const char **pp, tok *t)
{
    const char *p = *pp, *q;
    size_t tag;

    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'
               || *p == '\f' || *p == '\v')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            q = strstr(p + 2, "*/");
            p = q ? q + 2 : p + strlen(p);
        } else {
            break;
        }
    }
    t->s = p;
    t->type = T_OTHER;
    switch (*p) {
    case '\0':
        t->type = T_END;
        q = p;
        break;
    case '\'':
        q = skip_string(p, 0);
        break;
    case '"':
    case '`':
        for (q = p + 1; *q; q++)
            if (*q == *p) {
                if (q[1] == *p)
                    q++;
                else
                    break;
            }
        t->type = T_QUOTED;
        q = *q ? q + 1 : q;
        break;
    case '[':
        q = strchr(p, ']');
        q = q ? q + 1 : p + strlen(p);
        t->type = T_QUOTED;
        break;
    case '$':
        tag = dollar_tag(p);
        if (tag) {
            const char *end = p + tag;

            for (;;) {
                end = strchr(end, '$');
                if (!end || strncmp(end, p, tag) == 0)
                    break;
                end++;
            }
            q = end ? end + tag : p + strlen(p);
        } else {
            for (q = p + 1; *q >= '0' && *q <= '9'; q++)
                ;
        }
        break;
    case '(': t->type = T_LPAREN; q = p + 1; break;
    case ')': t->type = T_RPAREN; q = p + 1; break;
    case ',': t->type = T_COMMA; q = p + 1; break;
    case '.': t->type = T_DOT; q = p + 1; break;
    case ';': t->type = T_SEMI; q = p + 1; break;
    default:
        if (ident_start((unsigned char)*p)) {
            for (q = p; ident_char((unsigned char)*q); q++)
                ;
            /* E'...', N'...', X'...', B'...': one literal. */
            if (*q == '\'' && q - p == 1) {
                q = skip_string(q, *p == 'E' || *p == 'e');
                break;
            }
            t->type = T_WORD;
        } else if (*p >= '0' && *p <= '9') {
            for (q = p; ident_char((unsigned char)*q) || *q == '.'; q++)
                ;
        } else {
            q = p + 1;
        }
        break;
    }
    t->n = (size_t)(q - p);
    *pp = q;
}

/* t is the word w (upper case), compared without case. */
static int is_kw(const tok *t, const char *w)
{
    size_t i;

    if (t->type != T_WORD || strlen(w) != t->n)
        return 0;
    for (i = 0; i < t->n; i++)
        if (lower(t->s[i]) != lower(w[i]))
            return 0;
    return 1;
}

static int is_kw_of(const tok *t, const char *const *ws)
{
    for (; *ws; ws++)
        if (is_kw(t, *ws))
            return 1;
    return 0;
}

/* The name of t (a word or a quoted identifier) in buf, unquoted and in
 * ASCII lower case. Returns 0, or -1 when it is too long. */
static int tok_name(const tok *t, char *buf)
{
    size_t i, n = 0, end = t->n;
    const char *s = t->s;
    char close = 0;

    if (t->type == T_QUOTED) {
        close = s[0] == '[' ? ']' : s[0];
        s++;
        end = t->n >= 2 && t->s[t->n - 1] == close ? t->n - 2 : t->n - 1;
    }
    for (i = 0; i < end; i++) {
        if (close && close != ']' && s[i] == close && i + 1 < end
            && s[i + 1] == close)
            i++;
        if (n == NAME_MAX_LEN)
            return -1;
        buf[n++] = lower(s[i]);
    }
    buf[n] = '\0';
    return 0;
}

static int is_name(const tok *t)
{
    return t->type == T_WORD || t->type == T_QUOTED;
}

/*
 * At name token t (already read), read the rest of a qualified name
 * a.b.c and leave its last part in buf. *pp is left after the name.
 * Returns 0, or -1 when a part is too long.
 */
static int qualified_name(const char **pp, const tok *t, char *buf)
{
    const char *save;
    tok d, n;

    if (tok_name(t, buf) != 0)
        return -1;
    for (;;) {
        save = *pp;
        next_tok(pp, &d);
        if (d.type != T_DOT) {
            *pp = save;
            return 0;
        }
        save = *pp;
        next_tok(pp, &n);
        if (!is_name(&n)) {
            *pp = save;
            return 0;
        }
        if (tok_name(&n, buf) != 0)
            return -1;
    }
}

/* ---- what a statement writes ------------------------------------------ */

/* Called with each table name a write targets, or NULL for "any". */
typedef void (*target_fn)(void *ctx, const char *name);

/* Read a (qualified) name at *pp, skipping the words in skip first; call
 * fn with it, or with NULL when there is none. Returns 1 if a name. */
static int target_at(const char **pp, const char *const *skip, target_fn fn,
                     void *ctx)
{
    char buf[NAME_MAX_LEN + 1];
    tok t;

    do
        next_tok(pp, &t);
    while (skip && is_kw_of(&t, skip));
    if (!is_name(&t) || qualified_name(pp, &t, buf) != 0) {
        fn(ctx, NULL);
        return 0;
    }
    fn(ctx, buf);
    return 1;
}

/* Scan the whole text for a word; returns 1 when found (outside
 * literals). */
static int has_kw(const char *p, const char *w)
{
    tok t;

    for (next_tok(&p, &t); t.type != T_END; next_tok(&p, &t))
        if (is_kw(&t, w))
            return 1;
    return 0;
}

/* A list of names after TRUNCATE / DROP TABLE: a, b, ONLY c. */
static void name_list(const char **pp, target_fn fn, void *ctx)
{
    static const char *const skip[] = {"IF", "EXISTS", "ONLY", "TABLE",
                                       NULL};
    const char *save;
    tok t;

    for (;;) {
        if (!target_at(pp, skip, fn, ctx))
            return;
        save = *pp;
        next_tok(pp, &t);
        if (t.type != T_COMMA) {
            *pp = save;
            return;
        }
    }
}

static void ddl_targets(const char *p, target_fn fn, void *ctx)
{
    static const char *const create_mods[] = {
        "OR", "REPLACE", "TEMP", "TEMPORARY", "UNLOGGED", "UNIQUE",
        "VIRTUAL", "MATERIALIZED", "GLOBAL", "LOCAL", "RECURSIVE", NULL
    };
    static const char *const if_not[] = {"IF", "NOT", "EXISTS", NULL};
    static const char *const only[] = {"ONLY", NULL};
    static const char *const tbl_view[] = {"TABLE", "VIEW", NULL};
    const char *start = p;
    tok w, t;

    next_tok(&p, &w);
    if (is_kw(&w, "CREATE")) {
        do
            next_tok(&p, &t);
        while (is_kw_of(&t, create_mods));
        if (is_kw_of(&t, tbl_view)) {
            target_at(&p, if_not, fn, ctx);
            return;
        }
        if (is_kw(&t, "INDEX") || is_kw(&t, "TRIGGER")) {
            for (next_tok(&p, &t); t.type != T_END; next_tok(&p, &t))
                if (is_kw(&t, "ON")) {
                    target_at(&p, only, fn, ctx);
                    return;
                }
        }
    } else if (is_kw(&w, "ALTER")) {
        next_tok(&p, &t);
        if (is_kw(&t, "TABLE") && !has_kw(start, "RENAME")) {
            static const char *const skip[] = {"IF", "EXISTS", "ONLY",
                                               NULL};

            target_at(&p, skip, fn, ctx);
            return;
        }
    } else if (is_kw(&w, "DROP")) {
        next_tok(&p, &t);
        if (is_kw(&t, "MATERIALIZED"))
            next_tok(&p, &t);
        if (is_kw_of(&t, tbl_view) && !has_kw(start, "CASCADE")) {
            name_list(&p, fn, ctx);
            return;
        }
    } else if (is_kw(&w, "TRUNCATE")) {
        if (!has_kw(start, "CASCADE")) {
            name_list(&p, fn, ctx);
            return;
        }
    }
    fn(ctx, NULL);
}

/* Statements of kind OTHER that change no table. */
static const char *const harmless_other[] = {
    "SET", "SHOW", "RESET", "PRAGMA", "VACUUM", "ANALYZE", "LISTEN",
    "UNLISTEN", "NOTIFY", "DISCARD", "CHECKPOINT", "DEALLOCATE", "LOCK",
    "REINDEX", "FETCH", "CLOSE", "DECLARE", NULL
};

/*
 * The tables sql (of kind k) writes, each given to fn; fn(ctx, NULL)
 * when it may write anything.
 */
static void write_targets(const char *sql, dal_stmt_kind k, target_fn fn,
                          void *ctx)
{
    static const char *const upd_skip[] = {"OR", "ROLLBACK", "ABORT",
                                           "REPLACE", "FAIL", "IGNORE",
                                           "ONLY", NULL};
    static const char *const only[] = {"ONLY", NULL};
    /* Not a statement: FOR [NO KEY] UPDATE, ON UPDATE, DO UPDATE (an
     * upsert: the INSERT names the table), MERGE's THEN UPDATE. */
    static const char *const not_upd[] = {"FOR", "KEY", "ON", "DO", "THEN",
                                          NULL};
    const char *p = sql, *save;
    tok t, prev, first;

    if (k == DAL_SK_TX)
        return;
    if (k == DAL_SK_DDL) {
        ddl_targets(sql, fn, ctx);
        return;
    }
    do
        next_tok(&p, &first);
    while (first.type == T_LPAREN);
    if (k == DAL_SK_OTHER) {
        if (is_kw_of(&first, harmless_other))
            return;
        if (is_kw(&first, "EXPLAIN")) {
            if (has_kw(p, "ANALYZE") || has_kw(p, "ANALYSE"))
                fn(ctx, NULL);
            return;
        }
        if (!is_kw(&first, "MERGE")) {
            fn(ctx, NULL);
            return;
        }
    }
    if (is_kw(&first, "COPY")) {
        target_at(&p, NULL, fn, ctx);
        return;
    }
    prev = first;
    t = first;
    for (;;) {
        if (is_kw(&t, "INTO")) {
            target_at(&p, only, fn, ctx);
        } else if (is_kw(&t, "UPDATE") && !is_kw_of(&prev, not_upd)) {
            target_at(&p, upd_skip, fn, ctx);
        } else if (is_kw(&t, "DELETE") && !is_kw(&prev, "ON")
                   && !is_kw(&prev, "THEN")) {
            save = p;
            next_tok(&p, &t);
            if (is_kw(&t, "FROM"))
                target_at(&p, only, fn, ctx);
            else {
                p = save;
                fn(ctx, NULL);
            }
        } else if (is_kw(&t, "TRUNCATE")) {
            fn(ctx, NULL);
        }
        prev = t;
        next_tok(&p, &t);
        if (t.type == T_END)
            break;
    }
}

/* ---- what a query reads ------------------------------------------------ */

typedef struct names {
    char **v;
    int n, cap;
} names;

static void names_free(names *ns)
{
    int i;

    for (i = 0; i < ns->n; i++)
        dal__free(ns->v[i]);
    dal__free(ns->v);
    memset(ns, 0, sizeof *ns);
}

/* Add name unless present. DAL_OK or DAL_NOMEM. */
static int names_add(names *ns, const char *name)
{
    int i;

    for (i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i], name) == 0)
            return DAL_OK;
    if (ns->n == ns->cap) {
        int cap = ns->cap ? ns->cap * 2 : 4;
        char **v = dal__realloc(ns->v, (size_t)cap * sizeof *v);

        if (!v)
            return DAL_NOMEM;
        ns->v = v;
        ns->cap = cap;
    }
    if (!(ns->v[ns->n] = dal__strdup(name)))
        return DAL_NOMEM;
    ns->n++;
    return DAL_OK;
}

/* Counts the calls of write_targets (a query that writes is not cached). */
static void count_target(void *ctx, const char *name)
{
    (void)name;
    (*(int *)ctx)++;
}

enum { READS_OK = 0, READS_NOMEM = 1, READS_UNCACHEABLE = 2 };

/*
 * The tables a SELECT reads, into ns: the names after FROM, JOIN, TABLE
 * and after the commas of a FROM list, at any depth. READS_UNCACHEABLE
 * when sql is not a plain read (a write inside it, a row lock, deeper
 * than MAX_DEPTH, a name too long).
 */
static int read_tables(const char *sql, names *ns)
{
    static const char *const clause[] = {
        "SELECT", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET",
        "UNION", "INTERSECT", "EXCEPT", "WINDOW", "RETURNING", "SET",
        "VALUES", "FETCH", "FOR", NULL
    };
    static const char *const not_names[] = {"SELECT", "VALUES", "WITH",
                                            NULL};
    static const char *const lock[] = {"UPDATE", "SHARE", "NO", "KEY",
                                       NULL};
    unsigned char in_from[MAX_DEPTH];
    char buf[NAME_MAX_LEN + 1];
    const char *p = sql;
    int depth = 0, expect = 0, writes = 0;
    tok t, prev;

    if (dal_sql_kind(sql) != DAL_SK_SELECT)
        return READS_UNCACHEABLE;
    write_targets(sql, DAL_SK_SELECT, count_target, &writes);
    if (writes)
        return READS_UNCACHEABLE;
    memset(in_from, 0, sizeof in_from);
    prev.type = T_END;
    for (next_tok(&p, &t); t.type != T_END; prev = t, next_tok(&p, &t)) {
        if (expect) {
            if (is_kw(&t, "ONLY") || is_kw(&t, "LATERAL"))
                continue;
            if (t.type == T_LPAREN) {
                if (++depth >= MAX_DEPTH)
                    return READS_UNCACHEABLE;
                in_from[depth] = 0;
                continue;
            }
            expect = 0;
            if (is_name(&t) && !is_kw_of(&t, not_names)) {
                if (qualified_name(&p, &t, buf) != 0)
                    return READS_UNCACHEABLE;
                if (names_add(ns, buf) != DAL_OK)
                    return READS_NOMEM;
                continue;
            }
        }
        switch (t.type) {
        case T_LPAREN:
            if (++depth >= MAX_DEPTH)
                return READS_UNCACHEABLE;
            in_from[depth] = 0;
            break;
        case T_RPAREN:
            in_from[depth] = 0;
            if (depth > 0)
                depth--;
            break;
        case T_COMMA:
            if (in_from[depth])
                expect = 1;
            break;
        case T_WORD:
            if (is_kw(&t, "FROM") || is_kw(&t, "JOIN")) {
                in_from[depth] = 1;
                expect = 1;
            } else if (is_kw(&t, "TABLE")) {
                expect = 1;
            } else if (is_kw_of(&t, lock) && is_kw(&prev, "FOR")) {
                return READS_UNCACHEABLE;
            } else if (is_kw_of(&t, clause)) {
                in_from[depth] = 0;
            }
            break;
        default:
            break;
        }
    }
    return READS_OK;
}

/* ---- results ----------------------------------------------------------- */

/* A result being built: the cells (TEXT/BLOB without pointers yet) and
 * the bytes of the names and of the cells, in order, each followed by a
 * NUL. */
typedef struct rbuild {
    int ncols;
    dal__buf cells;
    dal__buf bytes;
} rbuild;

static void rb_free(rbuild *b)
{
    dal__buf_free(&b->cells);
    dal__buf_free(&b->bytes);
}

static int rb_bytes(rbuild *b, const void *p, size_t n)
{
    if (dal__buf_add(&b->bytes, p, n) != DAL_OK)
        return DAL_NOMEM;
    /* dal__buf keeps a NUL after its end; make it part of the bytes. */
    b->bytes.len++;
    return DAL_OK;
}

static int rb_value(rbuild *b, const dal_value *v)
{
    dal_value c = *v;

    if (c.type == DAL_TYPE_TEXT || c.type == DAL_TYPE_BLOB) {
        if (c.u.s.len == DAL_NTS)
            c.u.s.len = strlen(c.u.s.p);
        if (rb_bytes(b, c.u.s.p, c.u.s.len) != DAL_OK)
            return DAL_NOMEM;
        c.u.s.p = NULL;
    } else if (c.type == DAL_TYPE_BOOL) {
        c.u.b = !!c.u.b;
    }
    return dal__buf_add(&b->cells, &c, sizeof c);
}

static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* One allocation: the struct, the name pointers, the cells, the bytes. */
static int rb_finish(rbuild *b, dal_result **out)
{
    size_t ncells = b->cells.len / sizeof(dal_value);
    size_t off_names = round_up(sizeof(dal_result), alignof(max_align_t));
    size_t off_cells, off_bytes, total, pos = 0, i;
    dal_result *r;
    char *base, *bytes;

    *out = NULL;
    off_cells = round_up(off_names + (size_t)b->ncols * sizeof(char *),
                         alignof(dal_value));
    off_bytes = off_cells + b->cells.len;
    total = off_bytes + b->bytes.len;
    if (!(base = dal__malloc(total ? total : 1)))
        return DAL_NOMEM;
    r = (dal_result *)(void *)base;
    memset(r, 0, sizeof *r);
    atomic_init(&r->refs, 1);
    r->ncols = b->ncols;
    r->nrows = b->ncols ? (int64_t)(ncells / (size_t)b->ncols) : 0;
    r->size = total;
    r->names = (const char **)(void *)(base + off_names);
    r->cells = (dal_value *)(void *)(base + off_cells);
    bytes = base + off_bytes;
    if (b->bytes.len)
        memcpy(bytes, b->bytes.p, b->bytes.len);
    if (b->cells.len)
        memcpy(r->cells, b->cells.p, b->cells.len);
    for (i = 0; i < (size_t)b->ncols; i++) {
        r->names[i] = bytes + pos;
        pos += strlen(bytes + pos) + 1;
    }
    for (i = 0; i < ncells; i++) {
        dal_value *v = &r->cells[i];

        if (v->type == DAL_TYPE_TEXT || v->type == DAL_TYPE_BLOB) {
            v->u.s.p = bytes + pos;
            pos += v->u.s.len + 1;
        }
    }
    *out = r;
    return DAL_OK;
}

int dal_result_column_count(const dal_result *r)
{
    return r ? r->ncols : 0;
}

int64_t dal_result_row_count(const dal_result *r)
{
    return r ? r->nrows : 0;
}

const char *dal_result_column_name(const dal_result *r, int col)
{
    return r && col >= 0 && col < r->ncols ? r->names[col] : NULL;
}

const dal_value *dal_result_value(const dal_result *r, int64_t row, int col)
{
    if (!r || row < 0 || row >= r->nrows || col < 0 || col >= r->ncols)
        return NULL;
    return &r->cells[row * r->ncols + col];
}

size_t dal_result_size(const dal_result *r)
{
    return r ? r->size : 0;
}

dal_result *dal_result_ref(dal_result *r)
{
    if (r)
        atomic_fetch_add(&r->refs, 1);
    return r;
}

void dal_result_free(dal_result *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        if (r->parts)
            dal__result_free_parts(r);
        else
            dal__free(r);
    }
}

/* Materialize the rows of st, whose first dal_step() returned rc. */
static int materialize(dal_db *db, dal_stmt *st, int rc, dal_result **out)
{
    rbuild b;
    int i;

    *out = NULL;
    memset(&b, 0, sizeof b);
    b.ncols = dal_column_count(st);
    if (b.ncols < 0)
        b.ncols = 0;
    for (i = 0; i < b.ncols; i++) {
        const char *name = dal_column_name(st, i);

        if (!name)
            name = "";
        if (rb_bytes(&b, name, strlen(name)) != DAL_OK)
            goto nomem;
    }
    while (rc == DAL_ROW) {
        for (i = 0; i < b.ncols; i++) {
            dal_value v;

            memset(&v, 0, sizeof v);
            v.type = dal_column_type(st, i);
            switch (v.type) {
            case DAL_TYPE_BOOL:
            case DAL_TYPE_INT64:
                v.u.i = dal_column_int64(st, i);
                if (v.type == DAL_TYPE_BOOL)
                    v.u.b = v.u.i != 0;
                break;
            case DAL_TYPE_DOUBLE:
                v.u.d = dal_column_double(st, i);
                break;
            case DAL_TYPE_TEXT:
                v.u.s.p = dal_column_text(st, i, &v.u.s.len);
                break;
            case DAL_TYPE_BLOB:
                v.u.s.p = dal_column_blob(st, i, &v.u.s.len);
                break;
            default:
                v.type = DAL_TYPE_NULL;
                break;
            }
            if ((v.type == DAL_TYPE_TEXT || v.type == DAL_TYPE_BLOB)
                && !v.u.s.p) {
                /* NULL is an error recorded on db, or an empty blob. */
                if (dal_errcode(db) != DAL_OK) {
                    rb_free(&b);
                    return dal_errcode(db);
                }
                v.u.s.p = "";
                v.u.s.len = 0;
            }
            if (rb_value(&b, &v) != DAL_OK)
                goto nomem;
        }
        rc = dal_step(st);
    }
    if (rc != DAL_DONE) {
        rb_free(&b);
        return rc;
    }
    rc = rb_finish(&b, out);
    rb_free(&b);
    if (rc != DAL_OK)
        return dal__seterr(db, rc, NULL, 0, NULL, NULL, NULL, NULL);
    return DAL_OK;
nomem:
    rb_free(&b);
    return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
}

/* ---- encoding ---------------------------------------------------------- */

static const char MAGIC[5] = {'D', 'A', 'L', 'R', '1'};

static int put_u(dal__buf *b, uint64_t v, int n)
{
    unsigned char x[8];
    int i;

    for (i = 0; i < n; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    return dal__buf_add(b, x, (size_t)n);
}

int dal_result_encode(const dal_result *r, void **buf, size_t *len)
{
    dal__buf b;
    int64_t i, ncells;
    int c, rc;

    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    if (!r || !buf || !len)
        return DAL_E_MISUSE;
    memset(&b, 0, sizeof b);
    rc = dal__buf_add(&b, MAGIC, sizeof MAGIC);
    rc |= put_u(&b, (uint64_t)r->ncols, 4);
    rc |= put_u(&b, (uint64_t)r->nrows, 8);
    for (c = 0; c < r->ncols && rc == DAL_OK; c++) {
        size_t n = strlen(r->names[c]);

        rc = put_u(&b, n, 4);
        rc |= dal__buf_add(&b, r->names[c], n);
    }
    ncells = r->nrows * r->ncols;
    for (i = 0; i < ncells && rc == DAL_OK; i++) {
        const dal_value *v = &r->cells[i];
        uint64_t bits;

        rc = dal__buf_addc(&b, (char)v->type);
        switch (v->type) {
        case DAL_TYPE_BOOL:
            rc |= dal__buf_addc(&b, (char)(v->u.b != 0));
            break;
        case DAL_TYPE_INT64:
            rc |= put_u(&b, (uint64_t)v->u.i, 8);
            break;
        case DAL_TYPE_DOUBLE:
            memcpy(&bits, &v->u.d, sizeof bits);
            rc |= put_u(&b, bits, 8);
            break;
        case DAL_TYPE_TEXT:
        case DAL_TYPE_BLOB:
            rc |= put_u(&b, v->u.s.len, 8);
            rc |= dal__buf_add(&b, v->u.s.p, v->u.s.len);
            break;
        default:
            break;
        }
    }
    if (rc != DAL_OK) {
        dal__buf_free(&b);
        return DAL_NOMEM;
    }
    if (!b.p && !(b.p = dal__malloc(1)))
        return DAL_NOMEM;
    *buf = b.p;
    *len = b.len;
    return DAL_OK;
}

typedef struct reader {
    const unsigned char *p;
    size_t left;
} reader;

static int get_u(reader *rd, int n, uint64_t *v)
{
    int i;

    if (rd->left < (size_t)n)
        return DAL_E_DATA;
    *v = 0;
    for (i = 0; i < n; i++)
        *v |= (uint64_t)rd->p[i] << (8 * i);
    rd->p += n;
    rd->left -= (size_t)n;
    return DAL_OK;
}

static int get_bytes(reader *rd, uint64_t n, const char **p)
{
    if (rd->left < n)
        return DAL_E_DATA;
    *p = (const char *)rd->p;
    rd->p += n;
    rd->left -= (size_t)n;
    return DAL_OK;
}

static int decode(reader *rd, rbuild *b)
{
    uint64_t ncols, nrows, n, i, ncells;
    const char *s;
    int rc;

    if (rd->left < sizeof MAGIC || memcmp(rd->p, MAGIC, sizeof MAGIC))
        return DAL_E_DATA;
    rd->p += sizeof MAGIC;
    rd->left -= sizeof MAGIC;
    if (get_u(rd, 4, &ncols) || get_u(rd, 8, &nrows) || ncols > 65535)
        return DAL_E_DATA;
    /* Each cell takes one byte at least: bound nrows before multiplying. */
    if (ncols && nrows > rd->left / ncols)
        return DAL_E_DATA;
    if (!ncols && nrows)
        return DAL_E_DATA;
    b->ncols = (int)ncols;
    for (i = 0; i < ncols; i++) {
        if (get_u(rd, 4, &n) || get_bytes(rd, n, &s)
            || memchr(s, '\0', (size_t)n))
            return DAL_E_DATA;
        if (rb_bytes(b, s, (size_t)n) != DAL_OK)
            return DAL_NOMEM;
    }
    ncells = ncols * nrows;
    for (i = 0; i < ncells; i++) {
        dal_value v;
        uint64_t x;

        memset(&v, 0, sizeof v);
        if (get_u(rd, 1, &x))
            return DAL_E_DATA;
        v.type = (dal_type)x;
        switch (x) {
        case DAL_TYPE_NULL:
            break;
        case DAL_TYPE_BOOL:
            if (get_u(rd, 1, &x) || x > 1)
                return DAL_E_DATA;
            v.u.b = (int)x;
            break;
        case DAL_TYPE_INT64:
            if (get_u(rd, 8, &x))
                return DAL_E_DATA;
            v.u.i = (int64_t)x;
            break;
        case DAL_TYPE_DOUBLE:
            if (get_u(rd, 8, &x))
                return DAL_E_DATA;
            memcpy(&v.u.d, &x, sizeof x);
            break;
        case DAL_TYPE_TEXT:
        case DAL_TYPE_BLOB:
            if (get_u(rd, 8, &n) || get_bytes(rd, n, &v.u.s.p))
                return DAL_E_DATA;
            v.u.s.len = (size_t)n;
            break;
        default:
            return DAL_E_DATA;
        }
        if ((rc = rb_value(b, &v)) != DAL_OK)
            return rc;
    }
    return rd->left ? DAL_E_DATA : DAL_OK;
}

int dal_result_decode(const void *buf, size_t len, dal_result **out)
{
    reader rd;
    rbuild b;
    int rc;

    if (out)
        *out = NULL;
    if (!out || (!buf && len))
        return DAL_E_MISUSE;
    rd.p = buf;
    rd.left = len;
    memset(&b, 0, sizeof b);
    rc = buf ? decode(&rd, &b) : DAL_E_DATA;
    if (rc == DAL_OK)
        rc = rb_finish(&b, out);
    rb_free(&b);
    return rc;
}

/* ---- hashing ----------------------------------------------------------- */

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603u;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211u;
    }
    return h;
}

static unsigned name_bucket(const char *name)
{
    return (unsigned)(fnv(name, strlen(name)) % NGEN);
}

/* ---- the in-process store ----------------------------------------------- */

typedef struct entry {
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* LRU list, head most recent */
    uint64_t hash;
    uint64_t mask;             /* name_bucket() bits of its tables */
    const void *key;
    size_t keylen;
    char **tables;
    int ntables;
    dal_result *res;
    int64_t expires;
    size_t cost;
} entry;

typedef struct mstore {
    entry **buckets;
    size_t nbuckets, count;
    entry *head, *tail;
    size_t bytes, max;
    uint32_t bitcount[NGEN];   /* entries whose mask has each bit */
    uint64_t evictions, invalidations, expirations;
} mstore;

static void ms_remove(mstore *s, entry *e)
{
    entry **pp = &s->buckets[e->hash & (s->nbuckets - 1)];
    int i;

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    for (i = 0; i < NGEN; i++)
        if (e->mask & ((uint64_t)1 << i))
            s->bitcount[i]--;
    s->count--;
    s->bytes -= e->cost;
    dal_result_free(e->res);
    dal__free(e);
}

static entry *ms_find(mstore *s, const void *key, size_t keylen,
                      uint64_t h)
{
    entry *e;

    for (e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && e->keylen == keylen
            && memcmp(e->key, key, keylen) == 0)
            return e;
    return NULL;
}

static void ms_to_head(mstore *s, entry *e)
{
    if (s->head == e)
        return;
    e->prev->next = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = NULL;
    e->next = s->head;
    s->head->prev = e;
    s->head = e;
}

static int ms_get(void *self, const void *key, size_t keylen, int64_t now,
                  dal_result **out)
{
    mstore *s = self;
    entry *e = ms_find(s, key, keylen, fnv(key, keylen));

    if (!e)
        return DAL_DONE;
    if (now >= e->expires) {
        s->expirations++;
        ms_remove(s, e);
        return DAL_DONE;
    }
    ms_to_head(s, e);
    *out = dal_result_ref(e->res);
    return DAL_OK;
}

/* Double the hash table when it is full; keep it as is when memory is
 * short (chains grow longer, nothing else). */
static void ms_grow(mstore *s)
{
    size_t n = s->nbuckets * 2, i;
    entry **b, *e, *next;

    if (s->count < s->nbuckets || !(b = dal__calloc(n, sizeof *b)))
        return;
    for (i = 0; i < s->nbuckets; i++)
        for (e = s->buckets[i]; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    dal__free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

static int ms_put(void *self, const void *key, size_t keylen,
                  const char *const *tables, int ntables, dal_result *res,
                  int64_t expires)
{
    mstore *s = self;
    uint64_t h = fnv(key, keylen);
    size_t size, off, cost;
    entry *e;
    char *p;
    int i;

    /* One block: the entry, the table pointers, the key, the names. */
    size = round_up(sizeof *e, alignof(char *));
    off = size;
    size += (size_t)ntables * sizeof(char *) + keylen;
    for (i = 0; i < ntables; i++)
        size += strlen(tables[i]) + 1;
    cost = size + dal_result_size(res);
    if (cost > s->max)
        return DAL_E_RANGE;
    if ((e = ms_find(s, key, keylen, h)) != NULL)
        ms_remove(s, e);
    while (s->bytes + cost > s->max && s->tail) {
        s->evictions++;
        ms_remove(s, s->tail);
    }
    if (!(p = dal__malloc(size)))
        return DAL_NOMEM;
    e = (entry *)(void *)p;
    memset(e, 0, sizeof *e);
    e->tables = (char **)(void *)(p + off);
    p += off + (size_t)ntables * sizeof(char *);
    memcpy(p, key, keylen);
    e->key = p;
    e->keylen = keylen;
    p += keylen;
    for (i = 0; i < ntables; i++) {
        size_t n = strlen(tables[i]) + 1;

        memcpy(p, tables[i], n);
        e->tables[i] = p;
        p += n;
        e->mask |= (uint64_t)1 << name_bucket(tables[i]);
    }
    e->ntables = ntables;
    e->hash = h;
    e->res = dal_result_ref(res);
    e->expires = expires;
    e->cost = cost;
    for (i = 0; i < NGEN; i++)
        if (e->mask & ((uint64_t)1 << i))
            s->bitcount[i]++;
    e->hnext = s->buckets[h & (s->nbuckets - 1)];
    s->buckets[h & (s->nbuckets - 1)] = e;
    e->next = s->head;
    if (s->head)
        s->head->prev = e;
    else
        s->tail = e;
    s->head = e;
    s->count++;
    s->bytes += cost;
    ms_grow(s);
    return DAL_OK;
}

static void ms_invalidate(void *self, const char *table)
{
    mstore *s = self;
    entry *e, *next;
    uint64_t bit;
    int i;

    if (!table) {
        s->invalidations += s->count;
        while (s->head)
            ms_remove(s, s->head);
        return;
    }
    bit = (uint64_t)1 << name_bucket(table);
    if (!s->bitcount[name_bucket(table)])
        return;
    for (e = s->head; e; e = next) {
        next = e->next;
        if (!(e->mask & bit))
            continue;
        for (i = 0; i < e->ntables; i++)
            if (strcmp(e->tables[i], table) == 0) {
                s->invalidations++;
                ms_remove(s, e);
                break;
            }
    }
}

static void ms_stats(void *self, dal_rcache_counters *st)
{
    mstore *s = self;

    st->invalidations = s->invalidations;
    st->evictions = s->evictions;
    st->expirations = s->expirations;
    st->entries = s->count;
    st->bytes = s->bytes;
    st->max_bytes = s->max;
}

static void ms_destroy(void *self)
{
    mstore *s = self;

    if (!s)
        return;
    while (s->head)
        ms_remove(s, s->head);
    dal__free(s->buckets);
    dal__free(s);
}

static int ms_new(size_t max, mstore **out)
{
    mstore *s = dal__calloc(1, sizeof *s);

    *out = NULL;
    if (!s)
        return DAL_NOMEM;
    s->nbuckets = 16;
    if (!(s->buckets = dal__calloc(s->nbuckets, sizeof *s->buckets))) {
        dal__free(s);
        return DAL_NOMEM;
    }
    s->max = max;
    *out = s;
    return DAL_OK;
}

/* ---- the cache ---------------------------------------------------------- */

struct dal_rcache {
    pthread_mutex_t mu;
    dal_rcache_store store;
    unsigned flags;
    int64_t (*clock_ms)(void *);
    void *clock_data;
    /* Bumped by every invalidation of a name in the bucket, and by
     * invalidations of everything: a query that missed stores its
     * result only if the sum over its tables did not move meanwhile. */
    uint64_t gen[NGEN];
    uint64_t gen_all;
    dal_observer **obs; /* observers holding the hook */
    int nobs;
    long attached;      /* connections with the hook's state */
    dal_rcache_counters st;
};

/* Per connection: the tables its open transaction wrote. */
typedef struct conn_state {
    names pending;
    int pending_all;
} conn_state;

static int64_t default_clock(void *data)
{
    (void)data;
    return dal_clock_ns() / 1000000;
}

int dal_rcache_new(const dal_rcache_opts *opts, dal_rcache **out)
{
    static const dal_rcache_opts defaults;
    dal_rcache *c;
    mstore *ms;

    if (!out)
        return DAL_E_MISUSE;
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if ((opts->flags & ~DAL_RCACHE_COARSE)
        || (opts->store && (!opts->store->get || !opts->store->put
                            || !opts->store->invalidate)))
        return DAL_E_MISUSE;
    c = dal__calloc(1, sizeof *c);
    if (!c || pthread_mutex_init(&c->mu, NULL) != 0) {
        dal__free(c);
        if (opts->store && opts->store->destroy)
            opts->store->destroy(opts->store->self);
        return DAL_NOMEM;
    }
    c->flags = opts->flags;
    c->clock_ms = opts->clock_ms ? opts->clock_ms : default_clock;
    c->clock_data = opts->clock_data;
    if (opts->store) {
        c->store = *opts->store;
    } else {
        if (ms_new(opts->max_bytes ? opts->max_bytes : DEFAULT_MAX_BYTES,
                   &ms) != DAL_OK) {
            pthread_mutex_destroy(&c->mu);
            dal__free(c);
            return DAL_NOMEM;
        }
        c->store.self = ms;
        c->store.get = ms_get;
        c->store.put = ms_put;
        c->store.invalidate = ms_invalidate;
        c->store.stats = ms_stats;
        c->store.destroy = ms_destroy;
    }
    *out = c;
    return DAL_OK;
}

int dal_rcache_free(dal_rcache *c)
{
    long attached;

    if (!c)
        return DAL_OK;
    pthread_mutex_lock(&c->mu);
    attached = c->attached;
    pthread_mutex_unlock(&c->mu);
    if (attached > 0)
        return DAL_E_MISUSE;
    if (c->store.destroy)
        c->store.destroy(c->store.self);
    dal__free(c->obs);
    pthread_mutex_destroy(&c->mu);
    dal__free(c);
    return DAL_OK;
}

/* With c->mu held: drop the entries reading name (NULL: all). */
static void invalidate_locked(dal_rcache *c, const char *name)
{
    if (c->flags & DAL_RCACHE_COARSE)
        name = NULL;
    if (name)
        c->gen[name_bucket(name)]++;
    else
        c->gen_all++;
    c->store.invalidate(c->store.self, name);
}

void dal_rcache_invalidate(dal_rcache *c, const char *table)
{
    char buf[NAME_MAX_LEN + 1];
    const char *p = table;
    const char *name = NULL;
    tok t;

    if (!c)
        return;
    if (table) {
        next_tok(&p, &t);
        if (is_name(&t) && qualified_name(&p, &t, buf) == 0)
            name = buf;
    }
    pthread_mutex_lock(&c->mu);
    c->st.writes++;
    invalidate_locked(c, name);
    pthread_mutex_unlock(&c->mu);
}

void dal_rcache_stats(dal_rcache *c, dal_rcache_counters *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    if (c->store.stats)
        c->store.stats(c->store.self, out);
    pthread_mutex_unlock(&c->mu);
}

/* ---- the hook ----------------------------------------------------------- */

#define MAX_TARGETS 16

/* The targets of one statement, before the lock is taken. */
typedef struct targets {
    char name[MAX_TARGETS][NAME_MAX_LEN + 1];
    int n;
    int all;
} targets;

static void add_target(void *ctx, const char *name)
{
    targets *ts = ctx;
    int i;

    if (!name || ts->n == MAX_TARGETS) {
        ts->all = 1;
        return;
    }
    for (i = 0; i < ts->n; i++)
        if (strcmp(ts->name[i], name) == 0)
            return;
    memcpy(ts->name[ts->n++], name, strlen(name) + 1);
}

/* Whether a SELECT may write: it starts with WITH (a data-modifying CTE)
 * or has the letters INTO (SELECT ... INTO t). A cheap test first; the
 * scan then decides. */
static int select_may_write(const char *sql)
{
    const char *p;

    for (p = sql; *p == ' ' || *p == '\n' || *p == '\t' || *p == '('
         || *p == '\r'; p++)
        ;
    if (lower(p[0]) == 'w' && lower(p[1]) == 'i' && lower(p[2]) == 't'
        && lower(p[3]) == 'h')
        return 1;
    for (; *p; p++)
        if (lower(p[0]) == 'i' && lower(p[1]) == 'n' && lower(p[2]) == 't'
            && lower(p[3]) == 'o')
            return 1;
    return 0;
}

static void flush_pending(dal_rcache *c, conn_state *cs)
{
    int i;

    pthread_mutex_lock(&c->mu);
    if (cs->pending_all)
        invalidate_locked(c, NULL);
    else
        for (i = 0; i < cs->pending.n; i++)
            invalidate_locked(c, cs->pending.v[i]);
    pthread_mutex_unlock(&c->mu);
    names_free(&cs->pending);
    cs->pending_all = 0;
}

static int in_tx(dal_db *db)
{
    /* An async connection's events come on a db without a connection,
     * which keeps the depth of its transaction (async.c). */
    if (db->async_shell)
        return db->tx_depth > 0;
    return db->conn && db->drv && db->drv->in_tx(db->conn);
}

static int hook_fn(const dal_event *ev, void *data)
{
    dal_rcache *c = data;
    conn_state *cs = ev->state;
    const char *sql = ev->sql;
    dal_stmt_kind kind = ev->stmt_kind;
    targets ts;
    int i, tx;

    if (ev->kind == DAL_EV_AFTER && sql && kind != DAL_SK_TX
        && (kind != DAL_SK_SELECT || select_may_write(sql))) {
        ts.n = 0;
        ts.all = 0;
        write_targets(sql, kind, add_target, &ts);
        if (ts.n || ts.all) {
            pthread_mutex_lock(&c->mu);
            c->st.writes++;
            if (ts.all)
                invalidate_locked(c, NULL);
            else
                for (i = 0; i < ts.n; i++)
                    invalidate_locked(c, ts.name[i]);
            pthread_mutex_unlock(&c->mu);
            if (in_tx(ev->db)) {
                /* Again at the end of the transaction: until then other
                 * sessions may read (and cache) the rows from before. */
                if (ts.all)
                    cs->pending_all = 1;
                for (i = 0; i < ts.n && !cs->pending_all; i++)
                    if (names_add(&cs->pending, ts.name[i]) != DAL_OK)
                        cs->pending_all = 1;
                return DAL_OK;
            }
        }
    }
    if (cs->pending.n || cs->pending_all) {
        tx = in_tx(ev->db);
        if (!tx)
            flush_pending(c, cs);
    }
    return DAL_OK;
}

static int hook_attach(dal_db *db, void *data, void **state)
{
    dal_rcache *c = data;
    conn_state *cs = dal__calloc(1, sizeof *cs);

    (void)db;
    if (!cs)
        return DAL_NOMEM;
    pthread_mutex_lock(&c->mu);
    c->attached++;
    pthread_mutex_unlock(&c->mu);
    *state = cs;
    return DAL_OK;
}

static void hook_detach(dal_db *db, void *data, void *state)
{
    dal_rcache *c = data;
    conn_state *cs = state;

    (void)db;
    if (cs->pending.n || cs->pending_all)
        flush_pending(c, cs);
    dal__free(cs);
    pthread_mutex_lock(&c->mu);
    c->attached--;
    pthread_mutex_unlock(&c->mu);
}

int dal_rcache_observe(dal_rcache *c, dal_observer *obs)
{
    dal_hook h;
    dal_observer **v;
    int i, rc;

    if (!c || !obs)
        return DAL_E_MISUSE;
    for (i = 0; i < c->nobs; i++)
        if (c->obs[i] == obs)
            return DAL_E_MISUSE;
    pthread_mutex_lock(&c->mu);
    v = dal__realloc(c->obs, (size_t)(c->nobs + 1) * sizeof *v);
    if (v)
        c->obs = v;
    pthread_mutex_unlock(&c->mu);
    if (!v)
        return DAL_NOMEM;
    memset(&h, 0, sizeof h);
    h.events = DAL_EVENT_BIT(DAL_EV_AFTER) | DAL_EVENT_BIT(DAL_EV_COMMIT)
               | DAL_EVENT_BIT(DAL_EV_ROLLBACK);
    h.fn = hook_fn;
    h.data = c;
    h.attach = hook_attach;
    h.detach = hook_detach;
    if ((rc = dal_observer_add(obs, &h)) != DAL_OK)
        return rc;
    pthread_mutex_lock(&c->mu);
    c->obs[c->nobs++] = obs;
    pthread_mutex_unlock(&c->mu);
    return DAL_OK;
}

/* ---- queries ------------------------------------------------------------ */

/* The key: URL, SQL, then each parameter as a type byte and its bytes
 * (integers little-endian, text and blobs after a u64 length). */
static int make_key(dal_db *db, const char *sql, const dal_value *params,
                    int nparams, dal__buf *k)
{
    const char *url = db->url.redacted ? db->url.redacted : "";
    int i, rc;

    rc = dal__buf_add(k, url, strlen(url) + 1);
    rc |= dal__buf_add(k, sql, strlen(sql) + 1);
    for (i = 0; i < nparams && rc == DAL_OK; i++) {
        const dal_value *v = &params[i];
        uint64_t bits;
        size_t n;

        rc = dal__buf_addc(k, (char)v->type);
        switch (v->type) {
        case DAL_TYPE_BOOL:
            rc |= dal__buf_addc(k, (char)(v->u.b != 0));
            break;
        case DAL_TYPE_INT64:
            rc |= put_u(k, (uint64_t)v->u.i, 8);
            break;
        case DAL_TYPE_DOUBLE:
            memcpy(&bits, &v->u.d, sizeof bits);
            rc |= put_u(k, bits, 8);
            break;
        case DAL_TYPE_TEXT:
        case DAL_TYPE_BLOB:
            n = v->u.s.len;
            if (n == DAL_NTS)
                n = v->u.s.p ? strlen(v->u.s.p) : 0;
            rc |= put_u(k, n, 8);
            rc |= dal__buf_add(k, v->u.s.p, n);
            break;
        default:
            break;
        }
    }
    return rc == DAL_OK ? DAL_OK : DAL_NOMEM;
}

static uint64_t gen_sum(const dal_rcache *c, const names *ns)
{
    uint64_t s = c->gen_all;
    int i;

    for (i = 0; i < ns->n; i++)
        s += c->gen[name_bucket(ns->v[i])];
    return s;
}

/* Whether db's observer holds c's hook. */
static int observed_by(dal_rcache *c, dal_db *db)
{
    dal_observer *o = dal_observer_of(db);
    int i;

    if (!o)
        return 0;
    for (i = 0; i < c->nobs; i++)
        if (c->obs[i] == o)
            return 1;
    return 0;
}

/* Run sql (or cq) on db and materialize its rows. */
static int run(dal_db *db, const char *sql, const dal__compiled *cq,
               const dal_value *params, int nparams, dal_result **out)
{
    dal_stmt *st;
    int rc = dal__run_cached(db, sql, cq, params, nparams, &st);

    if (!st)
        return rc;
    rc = materialize(db, st, rc, out);
    if (rc == DAL_OK || rc == DAL_NOMEM)
        dal__cache_put(db, st);
    else
        dal__cache_drop(db, st);
    return rc;
}

static int cached_query(dal_db *db, dal_rcache *c, const char *sql,
                        const dal__compiled *cq, const dal_value *params,
                        int nparams, int64_t ttl_ms, dal_result **out)
{
    const char *text = cq ? cq->sql : sql;
    names ns;
    dal__buf key;
    int64_t now = 0;
    uint64_t gen = 0;
    int rc, cacheable, ok;

    memset(&ns, 0, sizeof ns);
    memset(&key, 0, sizeof key);
    if (c && ttl_ms == 0) {
        pthread_mutex_lock(&c->mu);
        c->st.bypasses++;
        pthread_mutex_unlock(&c->mu);
    }
    if (!c || ttl_ms == 0 || !text || !db->conn || db->zombie)
        return run(db, sql, cq, params, nparams, out);
    pthread_mutex_lock(&c->mu);
    ok = observed_by(c, db);
    pthread_mutex_unlock(&c->mu);
    if (!ok)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_rcache_query: "
                            "the connection is not observed by an observer "
                            "holding the cache's hook "
                            "(dal_rcache_observe)");
    cacheable = !in_tx(db) && (params || nparams == 0);
    if (cacheable) {
        rc = read_tables(text, &ns);
        if (rc == READS_NOMEM)
            goto nomem;
        cacheable = rc == READS_OK;
    }
    if (!cacheable) {
        names_free(&ns);
        pthread_mutex_lock(&c->mu);
        c->st.bypasses++;
        pthread_mutex_unlock(&c->mu);
        return run(db, sql, cq, params, nparams, out);
    }
    if (make_key(db, text, params, nparams, &key) != DAL_OK)
        goto nomem;
    pthread_mutex_lock(&c->mu);
    now = c->clock_ms(c->clock_data);
    rc = c->store.get(c->store.self, key.p, key.len, now, out);
    if (rc == DAL_OK && *out) {
        c->st.hits++;
        pthread_mutex_unlock(&c->mu);
        names_free(&ns);
        dal__buf_free(&key);
        dal__clearerr(db);
        return DAL_OK;
    }
    *out = NULL;
    c->st.misses++;
    gen = gen_sum(c, &ns);
    pthread_mutex_unlock(&c->mu);

    rc = run(db, sql, cq, params, nparams, out);
    if (rc == DAL_OK) {
        pthread_mutex_lock(&c->mu);
        if (gen_sum(c, &ns) != gen
            || c->store.put(c->store.self, key.p, key.len,
                            (const char *const *)ns.v, ns.n, *out,
                            ttl_ms > INT64_MAX - now ? INT64_MAX
                                                     : now + ttl_ms)
               != DAL_OK)
            c->st.skipped++;
        else
            c->st.stores++;
        pthread_mutex_unlock(&c->mu);
    }
    names_free(&ns);
    dal__buf_free(&key);
    return rc;
nomem:
    names_free(&ns);
    dal__buf_free(&key);
    return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
}

int dal_rcache_query(dal_db *db, dal_rcache *cache, const char *sql,
                     const dal_value *params, int nparams, int64_t ttl_ms,
                     dal_result **out)
{
    if (out)
        *out = NULL;
    if (!db)
        return DAL_E_MISUSE;
    if (!out || ttl_ms < 0 || nparams < 0 || (nparams > 0 && !params))
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_rcache_query: %s",
                            !out ? "out is NULL"
                            : ttl_ms < 0 ? "ttl_ms is negative"
                            : "params is NULL");
    if (!sql)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "sql is NULL");
    return cached_query(db, cache, sql, NULL, params, nparams, ttl_ms, out);
}

int dal_rcache_query_ast(dal_db *db, dal_rcache *cache, const dal_query *q,
                         int64_t ttl_ms, dal_result **out)
{
    dal__compiled cq;
    char err[256];
    int rc, i;

    if (out)
        *out = NULL;
    if (!db)
        return DAL_E_MISUSE;
    if (!out || ttl_ms < 0 || !q)
        return dal__seterrf(db, DAL_E_MISUSE, NULL,
                            "dal_rcache_query_ast: %s",
                            !out ? "out is NULL"
                            : !q ? "q is NULL" : "ttl_ms is negative");
    if (!db->conn || db->zombie)
        return dal__seterrf(db, DAL_E_MISUSE, "08003", "the connection is "
                            "not open");
    err[0] = '\0';
    rc = dal__compile(q, db->drv->dialect, &cq, err, sizeof err);
    if (rc != DAL_OK)
        return dal__seterr(db, rc, NULL, 0, err[0] ? err : NULL, NULL, NULL,
                           NULL);
    for (i = 0; i < cq.nparams; i++)
        if (cq.is_slot[i]) {
            rc = dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_rcache_query_ast:"
                              " the query has a dal_param(\"%s\") slot",
                              cq.names[i]);
            dal__compiled_free(&cq);
            return rc;
        }
    rc = cached_query(db, cache, NULL, &cq, cq.values, cq.nparams, ttl_ms,
                      out);
    dal__compiled_free(&cq);
    return rc;
}
