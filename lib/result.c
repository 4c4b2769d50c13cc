/*
 * result.c - building a dal_result row by row (the async glue's side of
 * lib/async-int.h), and the typed getters over any dal_result. The
 * struct and the rest of its functions (counts, names, values,
 * references) are shared with the result cache (result-int.h, rcache.c).
 *
 * A backend appends rows while the statement runs, so the parts grow on
 * their own: the names array, the cells array (doubled), and an arena
 * of chunks for names, text and blobs, so that a row costs no
 * allocation of its own. A backend that knows the whole result first
 * (PostgreSQL's PGresult) sizes it at once instead: one block, laid
 * out as the result cache's, filled by the same calls.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "acore-int.h"
#include "result-int.h"

#define CHUNK_MIN 1024
#define CHUNK_MAX (64 * 1024)

struct dal__rchunk {
    struct dal__rchunk *next;
    size_t used, cap;
    char data[];
};

/* n bytes plus a NUL from r's arena; NULL when memory ran out. */
static char *arena_copy(dal_result *r, const void *src, size_t n)
{
    struct dal__rchunk *c = r->arena;
    char *p;

    if (!c || c->cap - c->used < n + 1) {
        size_t cap = c && c->cap < CHUNK_MAX ? c->cap * 2 : CHUNK_MIN;

        if (cap < n + 1)
            cap = n + 1;
        if (!(c = dal__malloc(sizeof *c + cap)))
            return NULL;
        c->next = r->arena;
        c->used = 0;
        c->cap = cap;
        r->arena = c;
        r->size += sizeof *c + cap;
    }
    p = c->data + c->used;
    if (n)
        memcpy(p, src, n);
    p[n] = '\0';
    c->used += n + 1;
    return p;
}

dal_result *dal__result_new(int ncols)
{
    dal_result *r;

    if (ncols < 0 || !(r = dal__calloc(1, sizeof *r)))
        return NULL;
    atomic_init(&r->refs, 1);
    r->parts = RESULT_ROWS;
    r->ncols = ncols;
    r->size = sizeof *r;
    if (ncols) {
        if (!(r->names = dal__calloc((size_t)ncols, sizeof *r->names))) {
            dal__free(r);
            return NULL;
        }
        r->size += (size_t)ncols * sizeof *r->names;
        /* Until named, a column's name is empty, never NULL. */
        for (int i = 0; i < ncols; i++)
            r->names[i] = "";
    }
    return r;
}

static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* One block for a result of ncols columns and nrows rows (all NULL)
 * with bytes bytes of room; its names are like's when like is set (a
 * reference taken), else its own, empty until set. */
static dal_result *sized(int ncols, int64_t nrows, size_t bytes,
                         dal_result *like)
{
    size_t align = alignof(dal_value) > alignof(char *)
                   ? alignof(dal_value) : alignof(char *);
    size_t off_names = round_up(sizeof(dal_result), align);
    size_t off_cells, off_bytes, ncells, total, i;
    dal_result *r;
    char *base;

    if (ncols < 0 || nrows < 0)
        return NULL;
    /* A result without columns keeps only its count of rows. */
    ncells = ncols ? (size_t)nrows : 0;
    if (ncols && ncells > ((size_t)-1 / 2) / sizeof(dal_value)
                          / (size_t)ncols)
        return NULL;
    ncells *= (size_t)ncols;
    off_cells = like ? off_names
                     : round_up(off_names + (size_t)ncols * sizeof(char *),
                                align);
    off_bytes = off_cells + ncells * sizeof(dal_value);
    if (bytes > (size_t)-1 / 2 - off_bytes)
        return NULL;
    total = off_bytes + bytes;
    if (!(base = dal__malloc(total)))
        return NULL;
    r = (dal_result *)(void *)base;
    memset(r, 0, sizeof *r);
    atomic_init(&r->refs, 1);
    r->ncols = ncols;
    r->nrows = nrows;
    r->size = total;
    r->cells = (dal_value *)(void *)(base + off_cells);
    if (like) {
        r->parts = RESULT_SHARED;
        r->names_of = dal_result_ref(like);
        r->names = like->names;
    } else {
        r->names = (const char **)(void *)(base + off_names);
        for (i = 0; i < (size_t)ncols; i++)
            r->names[i] = "";
    }
    for (i = 0; i < ncells; i++)
        r->cells[i] = DAL_V_NULL;
    r->bp = base + off_bytes;
    r->bend = r->bp + bytes;
    return r;
}

dal_result *dal__result_sized(int ncols, int64_t nrows, size_t bytes)
{
    return sized(ncols, nrows, bytes, NULL);
}

dal_result *dal__result_sized_like(dal_result *like, int64_t nrows,
                                   size_t bytes)
{
    return like ? sized(like->ncols, nrows, bytes, like) : NULL;
}

/* n bytes plus a NUL into r: its arena, or the room left in a sized
 * result. NULL when memory (or that room) ran out. */
static char *copy_in(dal_result *r, const void *src, size_t n)
{
    char *p;

    if (r->parts == RESULT_ROWS)
        return arena_copy(r, src, n);
    if ((size_t)(r->bend - r->bp) < n + 1)
        return NULL;
    p = r->bp;
    if (n)
        memcpy(p, src, n);
    p[n] = '\0';
    r->bp += n + 1;
    return p;
}

/* A result the dal__result_* calls may fill. */
static int fillable(const dal_result *r)
{
    return r && (r->parts == RESULT_ROWS || r->bend);
}

int dal__result_colname(dal_result *r, int col, const char *name,
                        size_t len)
{
    char *p;

    if (!fillable(r) || r->names_of || col < 0 || col >= r->ncols || !name)
        return DAL_E_RANGE;
    if (!(p = copy_in(r, name, len)))
        return r->parts == RESULT_ROWS ? DAL_NOMEM : DAL_E_RANGE;
    r->names[col] = p;
    return DAL_OK;
}

dal_value *dal__result_row(dal_result *r)
{
    dal_value *row;
    int i;

    if (r->parts != RESULT_ROWS)
        return NULL;
    if (r->nrows == r->caprows) {
        int64_t cap = r->caprows ? r->caprows * 2 : 8;

        /* A result without columns keeps only its count of rows. */
        if (r->ncols) {
            size_t bytes = (size_t)cap * (size_t)r->ncols * sizeof *row;
            dal_value *v = dal__realloc(r->cells, bytes);

            if (!v)
                return NULL;
            r->size += bytes - (size_t)r->caprows * (size_t)r->ncols
                                   * sizeof *row;
            r->cells = v;
        }
        r->caprows = cap;
    }
    row = r->cells + (size_t)r->nrows * (size_t)r->ncols;
    for (i = 0; i < r->ncols; i++)
        row[i] = DAL_V_NULL;
    r->nrows++;
    return row;
}

int dal__result_set(dal_result *r, int row, int col, const dal_value *v)
{
    dal_value *dst;

    if (!fillable(r) || row < 0 || row >= r->nrows || col < 0
        || col >= r->ncols || !v)
        return DAL_E_RANGE;
    dst = &r->cells[(size_t)row * (size_t)r->ncols + (size_t)col];
    if (v->type == DAL_TYPE_TEXT || v->type == DAL_TYPE_BLOB) {
        size_t len = v->u.s.len == DAL_NTS ? strlen(v->u.s.p) : v->u.s.len;
        char *p = copy_in(r, v->u.s.p, len);

        if (!p)
            return r->parts == RESULT_ROWS ? DAL_NOMEM : DAL_E_RANGE;
        dst->type = v->type;
        dst->u.s.p = p;
        dst->u.s.len = len;
        return DAL_OK;
    }
    *dst = *v;
    if (dst->type == DAL_TYPE_BOOL)
        dst->u.b = !!dst->u.b;
    return DAL_OK;
}

void dal__result_set_changes(dal_result *r, int64_t n)
{
    r->changes = n;
}

void dal__result_free_parts(dal_result *r)
{
    struct dal__rchunk *c, *next;

    if (r->parts == RESULT_SHARED) {
        dal_result_free(r->names_of);
        dal__free(r);
        return;
    }
    for (c = r->arena; c; c = next) {
        next = c->next;
        dal__free(c);
    }
    dal__free(r->names);
    dal__free(r->cells);
    dal__free(r);
}

/* ---- typed getters ---------------------------------------------------- */

int dal_result_is_null(const dal_result *r, int64_t row, int col)
{
    const dal_value *v = dal_result_value(r, row, col);

    return !v || v->type == DAL_TYPE_NULL;
}

int64_t dal_result_int64(const dal_result *r, int64_t row, int col)
{
    const dal_value *v = dal_result_value(r, row, col);

    if (!v)
        return 0;
    switch (v->type) {
    case DAL_TYPE_BOOL: return v->u.b;
    case DAL_TYPE_INT64: return v->u.i;
    case DAL_TYPE_DOUBLE: return (int64_t)v->u.d;
    case DAL_TYPE_TEXT: return dal__text_to_int64(v->u.s.p, v->u.s.len);
    default: return 0;
    }
}

double dal_result_double(const dal_result *r, int64_t row, int col)
{
    const dal_value *v = dal_result_value(r, row, col);

    if (!v)
        return 0;
    switch (v->type) {
    case DAL_TYPE_BOOL: return v->u.b;
    case DAL_TYPE_INT64: return (double)v->u.i;
    case DAL_TYPE_DOUBLE: return v->u.d;
    case DAL_TYPE_TEXT: return dal__text_to_double(v->u.s.p, v->u.s.len);
    default: return 0;
    }
}

const char *dal_result_text(const dal_result *r, int64_t row, int col,
                            size_t *len)
{
    const dal_value *v = dal_result_value(r, row, col);

    if (!v || (v->type != DAL_TYPE_TEXT && v->type != DAL_TYPE_BLOB)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = v->u.s.len;
    return v->u.s.p;
}

int64_t dal_result_changes(const dal_result *r)
{
    return r ? r->changes : 0;
}
