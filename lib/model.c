/*
 * model.c - C structs mapped to tables. Every operation is a query AST
 * built from the descriptor and run through the statement cache, so a
 * model's statements are prepared once per connection, and the model
 * layer has no backend cases. The one exception to the AST is the bulk
 * insert (see below); PostgreSQL's COPY is reached through the driver.
 *
 * Loaded rows go into a dal_rows set: the structs in one array, their
 * text and blobs in an arena of large chunks owned by the set, so that
 * loading does one allocation per chunk, not one per field.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query-int.h"
#include "schema-int.h"
#include "dal/model.h"
#include "dal/schema.h"
#include "acore-int.h"

#define ARENA_CHUNK 16384
#define ARENA_FIRST 256

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
} chunk;

struct dal_rows {
    const dal_model *m;
    char *items;
    int n, cap;
    chunk *arena;
    const dal_field *key;   /* relation sets: sorted by it, for _match */
    /* Room for the first row and the first arena chunk, in the set's own
     * allocation, so that a find takes one malloc, not three. */
    char *own_items;
    chunk *own_chunk;
};

/* ---- descriptor ----------------------------------------------------- */

static size_t member_size(dal_ftype t, size_t have)
{
    switch (t) {
    case DAL_F_INT64:
    case DAL_F_TIMESTAMP: return sizeof(int64_t);
    case DAL_F_INT32: return sizeof(int32_t);
    case DAL_F_BOOL: return have == sizeof(_Bool) ? have : sizeof(int);
    case DAL_F_DOUBLE: return sizeof(double);
    case DAL_F_TEXT:
    case DAL_F_JSON: return sizeof(char *);
    default: return sizeof(void *);
    }
}

/*
 * What the model layer keeps per connection for each model it has seen:
 * that the descriptor passed the check, and the find-by-key query
 * compiled once and prepared once, so that dal_model_find costs a bind
 * and a step rather than building, compiling and looking up a query.
 *
 * The prepared find is the memo's own, outside the statement cache: a
 * statement the cache holds can be evicted (and freed) by any other
 * query, so a pointer to it could not be kept. It is one statement per
 * model and connection, freed with the memo (before the connection
 * closes), and prepared anew after an error. A connection opened with
 * statement_cache=0 keeps no prepared statements, so then a find
 * prepares its statement for the one run, as other queries do.
 */
struct dal__model_memo {
    const dal_model *m;
    dal_model copy;         /* *m when checked: another model at the same */
    char *table;            /* address (one built on the stack) is new */
    dal__compiled find;     /* sql NULL until the first find */
    dal_stmt *find_st;      /* find prepared, NULL until needed */
};

static int check_descriptor(dal_db *db, const dal_model *m);

static void memo_clear(struct dal__model_memo *mm)
{
    dal__stmt_free(mm->find_st);
    mm->find_st = NULL;
    dal__compiled_free(&mm->find);
    dal__free(mm->table);
    mm->table = NULL;
}

void dal__model_memo_free(dal_db *db)
{
    for (int i = 0; i < db->nmodels; i++)
        memo_clear(&db->models[i]);
    dal__free(db->models);
    db->models = NULL;
    db->nmodels = db->capmodels = 0;
}

/* m's memo on db, made (after checking m) on first use. */
static int memo_get(dal_db *db, const dal_model *m,
                    struct dal__model_memo **out)
{
    struct dal__model_memo *mm;
    int rc, i;

    for (i = 0; i < db->nmodels; i++) {
        mm = &db->models[i];
        if (mm->m != m)
            continue;
        if (mm->copy.fields == m->fields && mm->copy.nfields == m->nfields
            && mm->copy.size == m->size && mm->copy.hooks == m->hooks
            && mm->copy.database == m->database && m->table
            && !strcmp(mm->table, m->table)) {
            /* Every model call starts here: success clears the error. */
            if (DAL__UNLIKELY(db->err.code != DAL_OK || db->err.msg))
                dal__clearerr(db);
            *out = mm;
            return DAL_OK;
        }
        /* Another model now lives at this address: forget the old. */
        memo_clear(mm);
        *mm = db->models[--db->nmodels];
        break;
    }
    if ((rc = check_descriptor(db, m)))
        return rc;
    if (db->nmodels == db->capmodels) {
        int cap = db->capmodels ? db->capmodels * 2 : 8;

        mm = dal__realloc(db->models, (size_t)cap * sizeof *mm);
        if (!mm)
            return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                               NULL);
        db->models = mm;
        db->capmodels = cap;
    }
    mm = &db->models[db->nmodels];
    memset(mm, 0, sizeof *mm);
    if (!(mm->table = dal__strdup(m->table)))
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    mm->m = m;
    mm->copy = *m;
    db->nmodels++;
    *out = mm;
    return DAL_OK;
}

int dal_model_check(dal_db *db, const dal_model *m)
{
    struct dal__model_memo *mm;

    if (!db)
        return DAL_E_MISUSE;
    return memo_get(db, m, &mm);
}

static int check_descriptor(dal_db *db, const dal_model *m)
{
    int i, pk = -1, special[3] = {-1, -1, -1};
    static const int sflags[3] = {
        DAL_F_SOFT_DELETE, DAL_F_CREATED_AT, DAL_F_UPDATED_AT
    };
    char err[256];

    if (!db)
        return DAL_E_MISUSE;
    /* Every model call starts here: a success clears the last error. */
    dal__clearerr(db);
    if (!m || !m->table || !m->fields || m->nfields < 1 || !m->size)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "model: the descriptor "
                            "is incomplete (table, fields, size)");
    if (dal__ident_check(m->table, "model table", err, sizeof err))
        return dal__seterr(db, DAL_E_MISUSE, NULL, 0, err, NULL, NULL, NULL);
    for (i = 0; i < m->nfields; i++) {
        const dal_field *f = &m->fields[i];
        const char *why = NULL;

        if (dal__ident_check(f->name, "field name", err, sizeof err))
            return dal__seterrf(db, DAL_E_MISUSE, NULL, "model %s, field %d:"
                                " %s", m->table, i, err);
        if (f->type < DAL_F_INT64 || f->type > DAL_F_JSON)
            why = "unknown type";
        else if (f->size != member_size(f->type, f->size))
            why = "the member's size does not fit its type";
        else if (f->offset + f->size > m->size)
            why = "the member lies outside the struct";
        else if (f->type == DAL_F_BLOB
                 && (f->len_offset == f->offset
                     || f->len_offset + sizeof(size_t) > m->size))
            why = "a blob needs its size_t length member (DAL_BLOB_FIELD)";
        else if ((f->flags & DAL_F_AUTO)
                 && (!(f->flags & DAL_F_PK) || f->type != DAL_F_INT64))
            why = "DAL_F_AUTO needs DAL_F_PK on an INT64 field";
        else if ((f->flags & DAL_F_DEFAULT) && !f->def)
            why = "DAL_F_DEFAULT needs the default in def";
        else if ((f->flags & DAL_F_PK) && pk >= 0)
            why = "a second primary key";
        for (int k = 0; !why && k < i; k++)
            if (!strcmp(m->fields[k].name, f->name))
                why = "a second field of that name";
        if (!why && ((f->flags & DAL_F_SOFT_DELETE) != 0)
                    + ((f->flags & DAL_F_CREATED_AT) != 0)
                    + ((f->flags & DAL_F_UPDATED_AT) != 0) > 1)
            why = "one field cannot be two of soft-delete, created_at and "
                  "updated_at";
        if (!why)
            for (int k = 0; k < 3; k++)
                if (f->flags & sflags[k]) {
                    if (f->type != DAL_F_TIMESTAMP)
                        why = "soft-delete, created_at and updated_at "
                              "fields must be DAL_F_TIMESTAMP";
                    else if (special[k] >= 0)
                        why = "a second field with the same role";
                    special[k] = i;
                }
        if (why)
            return dal__seterrf(db, DAL_E_MISUSE, NULL, "model %s, field %s:"
                                " %s", m->table, f->name, why);
        if (f->flags & DAL_F_PK)
            pk = i;
    }
    if (pk < 0)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "model %s: no primary "
                            "key field (DAL_F_PK)", m->table);
    return DAL_OK;
}

static const dal_field *find_flag(const dal_model *m, int flag)
{
    for (int i = 0; i < m->nfields; i++)
        if (m->fields[i].flags & flag)
            return &m->fields[i];
    return NULL;
}

static const dal_field *named_field(const dal_model *m, const char *name)
{
    for (int i = 0; name && i < m->nfields; i++)
        if (!strcmp(m->fields[i].name, name))
            return &m->fields[i];
    return NULL;
}

/* Every name in names[0..n-1] is a field of m; else DAL_E_RANGE. */
static int check_names(dal_db *db, const dal_model *m,
                       const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!named_field(m, names[i]))
            return dal__seterrf(db, DAL_E_RANGE, "42703", "model %s has no "
                                "field %s", m->table,
                                names[i] ? names[i] : "(null)");
    return DAL_OK;
}

static void *member(const void *obj, const dal_field *f)
{
    return (char *)(uintptr_t)obj + f->offset;
}

/* The field's value in obj as a dal_value (text and blobs borrowed). */
static dal_value field_value(const void *obj, const dal_field *f)
{
    const void *p = member(obj, f);
    int64_t i64;

    switch (f->type) {
    case DAL_F_INT64:
        memcpy(&i64, p, sizeof i64);
        return DAL_V_INT64(i64);
    case DAL_F_TIMESTAMP:
        memcpy(&i64, p, sizeof i64);
        return i64 ? DAL_V_INT64(i64) : DAL_V_NULL;
    case DAL_F_INT32: {
        int32_t v;

        memcpy(&v, p, sizeof v);
        return DAL_V_INT64(v);
    }
    case DAL_F_BOOL:
        if (f->size == sizeof(_Bool))
            return DAL_V_BOOL(*(const _Bool *)p);
        return DAL_V_BOOL(*(const int *)p);
    case DAL_F_DOUBLE: {
        double d;

        memcpy(&d, p, sizeof d);
        return DAL_V_DOUBLE(d);
    }
    case DAL_F_TEXT:
    case DAL_F_JSON: {
        const char *s = *(char *const *)p;

        return s ? DAL_V_TEXT(s) : DAL_V_NULL;
    }
    default: {
        const void *b = *(const void *const *)p;
        size_t len;

        memcpy(&len, (const char *)obj + f->len_offset, sizeof len);
        return b ? DAL_V_BLOB(b, len) : DAL_V_NULL;
    }
    }
}

/* Is the member 0 / NULL (a DAL_F_DEFAULT field left to the database)? */
static int is_unset(const void *obj, const dal_field *f)
{
    dal_value v = field_value(obj, f);

    switch (v.type) {
    case DAL_TYPE_NULL: return 1;
    case DAL_TYPE_BOOL: return !v.u.b;
    case DAL_TYPE_INT64: return !v.u.i;
    case DAL_TYPE_DOUBLE: return v.u.d == 0.0;
    default: return 0;
    }
}

static void set_i64(void *obj, const dal_field *f, int64_t v)
{
    if (f->type == DAL_F_INT32) {
        int32_t w = (int32_t)v;

        memcpy(member(obj, f), &w, sizeof w);
    } else if (f->type == DAL_F_BOOL) {
        if (f->size == sizeof(_Bool))
            *(_Bool *)member(obj, f) = v != 0;
        else
            *(int *)member(obj, f) = v != 0;
    } else {
        memcpy(member(obj, f), &v, sizeof v);
    }
}

static int64_t now_us(void)
{
    return dal__wall_ns() / 1000;
}

/*
 * AND "deleted IS [NOT] NULL" for flags into q's WHERE; nothing for a
 * model without a soft-delete field or with DAL_WITH_DELETED. A failed
 * allocation fails q (dal_q_where of NULL), rather than leaving the
 * condition out and loading deleted rows.
 */
static void where_live(dal_query *q, const dal_model *m, int flags)
{
    const dal_field *d = find_flag(m, DAL_F_SOFT_DELETE);

    if (!d || (flags & DAL_WITH_DELETED))
        return;
    dal_q_where(q, flags & DAL_ONLY_DELETED
                       ? dal_is_not_null(dal_col(d->name))
                       : dal_is_null(dal_col(d->name)));
}

/* pk = value of obj */
static dal_expr *pk_cond(const dal_model *m, const void *obj)
{
    const dal_field *pk = find_flag(m, DAL_F_PK);
    dal_value v = field_value(obj, pk);

    return dal_eq(dal_col(pk->name), dal_value_expr(&v));
}

/* ---- validation and hooks ------------------------------------------- */

static int has_name(const char *const *names, int n, const char *name);

/* Check the fields a write will send (all, or names[0..n-1]). */
static int validate(dal_db *db, const dal_model *m, const void *obj,
                    const char *const *names, int n)
{
    char msg[200];

    for (int i = 0; i < m->nfields; i++) {
        const dal_field *f = &m->fields[i];
        const char *rule = NULL;
        dal_value v;

        /* Most fields have no rule: skip them before reading the
         * value (bulk_create checks every field of every struct). */
        if (!(((f->flags & DAL_F_NOT_NULL)
               && !(f->flags & (DAL_F_DEFAULT | DAL_F_AUTO)))
              || f->max_len || f->min < f->max || f->validate))
            continue;
        if (n && !has_name(names, n, f->name))
            continue;
        v = field_value(obj, f);
        msg[0] = '\0';
        if ((f->flags & DAL_F_NOT_NULL) && v.type == DAL_TYPE_NULL
            && !(f->flags & (DAL_F_DEFAULT | DAL_F_AUTO)))
            /* What the database would say, before asking it. */
            return dal__seterrf(db, DAL_E_CONSTRAINT, "23502", "%s.%s: not "
                                "null", m->table, f->name);
        if (f->max_len && (v.type == DAL_TYPE_TEXT
                                || v.type == DAL_TYPE_BLOB)
                 && (v.type == DAL_TYPE_TEXT ? strlen(v.u.s.p) : v.u.s.len)
                    > f->max_len)
            rule = "max length";
        else if (f->min < f->max
                 && ((v.type == DAL_TYPE_INT64
                      && (v.u.i < f->min || v.u.i > f->max))
                     || (v.type == DAL_TYPE_DOUBLE
                         && (v.u.d < f->min || v.u.d > f->max))))
            rule = "range";
        else if (f->validate && f->validate(obj, f, msg, sizeof msg))
            rule = msg[0] ? msg : "custom rule";
        if (rule)
            return dal__seterrf(db, DAL_E_DATA, "22023", "%s.%s: %s",
                                m->table, f->name, rule);
    }
    return DAL_OK;
}

/* Apply op (taken), inside the caller's transaction. */
static int apply_op(dal_db *db, dal_schema_op *op)
{
    int rc;

    if (!op)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    rc = dal_schema_apply(db, op);
    dal_schema_op_free(op);
    return rc;
}

static int before_save(dal_db *db, const dal_model *m, void *obj)
{
    int rc;

    if (!m->hooks || !m->hooks->before_save)
        return DAL_OK;
    /* An error the hook records is its own; none before it counts. */
    dal__clearerr(db);
    rc = m->hooks->before_save(db, obj);
    if (rc && dal_errcode(db) == DAL_OK)
        dal__seterrf(db, rc, NULL, "%s: stopped by the before_save hook",
                     m->table);
    return rc;
}

/* ---- running -------------------------------------------------------- */

/* Run q (taken); DAL_ROW/DAL_DONE with *st from the cache, or an error. */
static int run(dal_db *db, dal_query *q, dal_stmt **st)
{
    int rc;

    *st = NULL;
    if (!q)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    rc = dal__query_run(db, q, st);
    dal_query_free(q);
    return rc;
}

/* Run q (taken) to its end; the rows changed in *changed. */
static int run_write(dal_db *db, dal_query *q, int64_t *changed)
{
    dal_stmt *st;
    int rc = run(db, q, &st);

    while (rc == DAL_ROW)
        rc = dal_step(st);
    if (st) {
        if (rc == DAL_DONE)
            dal__cache_put(db, st);
        else
            dal__cache_drop(db, st);
    }
    if (rc != DAL_DONE)
        return rc;
    if (changed)
        *changed = dal_changes(db);
    return DAL_OK;
}

/* m's table as the schema AST describes it (without its indexes). */
/* The column type of each field type (indexed by dal_ftype). */
static const dal_sqltype ftype_sql[] = {
    0, DAL_SQL_INT64, DAL_SQL_INT64, DAL_SQL_BOOL, DAL_SQL_DOUBLE,
    DAL_SQL_TEXT, DAL_SQL_BLOB, DAL_SQL_INT64, DAL_SQL_JSON
};

static dal_table *model_table(const dal_model *m)
{
    const dal_field *del = find_flag(m, DAL_F_SOFT_DELETE);
    dal_table *t = dal_table_new(m->table);
    const dal_sqltype *types = ftype_sql;
    int i;

    if (!t)
        return NULL;
    for (i = 0; i < m->nfields; i++) {
        const dal_field *f = &m->fields[i];
        int flags = 0;

        if (f->flags & DAL_F_PK)
            flags |= DAL_COL_PK;
        if (f->flags & DAL_F_AUTO)
            flags |= DAL_COL_AUTO;
        if (f->flags & DAL_F_NOT_NULL)
            flags |= DAL_COL_NOT_NULL;
        /* On a soft-delete model, uniqueness holds among live rows only:
         * a partial unique index (model_index). */
        if ((f->flags & DAL_F_UNIQUE) && !del)
            flags |= DAL_COL_UNIQUE;
        dal_t_column(t, f->name, types[f->type], flags,
                     (f->flags & DAL_F_DEFAULT) ? dal_raw(f->def, NULL, 0)
                                                : NULL);
        /* Also as text, which a diff's ADD COLUMN carries over. */
        if ((f->flags & DAL_F_DEFAULT) && !t->err && t->ncols == i + 1
            && !(t->cols[i].def_sql = dal__strdup(f->def))) {
            dal_table_free(t);
            return NULL;
        }
    }
    return t;
}

/* The index field f needs (NULL op and *none when it needs none). */
static dal_schema_op *model_index(const dal_model *m, const dal_field *f,
                                  int *none)
{
    const dal_field *del = find_flag(m, DAL_F_SOFT_DELETE);
    int unique = del && (f->flags & DAL_F_UNIQUE);
    char name[300];

    *none = !unique && !(f->flags & DAL_F_INDEXED);
    if (*none)
        return NULL;
    snprintf(name, sizeof name, "%s_%s_%s", m->table, f->name,
             unique ? "key" : "idx");
    return dal_op_create_index_n(name, m->table,
                                 (const char *const[]){f->name}, 1, unique,
                                 unique ? dal_is_null(dal_col(del->name))
                                        : NULL);
}

int dal_model_create_table(dal_db *db, const dal_model *m)
{
    dal_table *t, *live = NULL;
    int rc, i;

    if ((rc = dal_model_check(db, m)))
        return rc;
    if ((rc = db->drv->dialect->table_read(db, m->table, &live)))
        return rc;
    if (live) {
        dal_table_free(live);
        return DAL_OK;
    }
    if (!(t = model_table(m)))
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    /* The table and its indexes together, or nothing. */
    if ((rc = dal_begin(db, 0))) {
        dal_table_free(t);
        return rc;
    }
    rc = apply_op(db, dal_op_create_table(t));
    for (i = 0; !rc && i < m->nfields; i++) {
        int none;
        dal_schema_op *op = model_index(m, &m->fields[i], &none);

        if (!none)
            rc = apply_op(db, op);
    }
    if (rc) {
        dal__rollback_keep_error(db);
        return rc;
    }
    return dal_commit(db);
}

/*
 * The operations that bring db level with the models: their tables as
 * create_table would make them, compared with the live ones (defaults
 * are not compared: each backend rewrites their text).
 */
int dal_model_diff(dal_db *db, const dal_model *const *models, int n,
                   dal_schema_op ***ops, int *nops, char **notes)
{
    dal_schema live = {0}, want = {0};
    int rc = DAL_OK, i;

    if (ops)
        *ops = NULL;
    if (nops)
        *nops = 0;
    if (notes)
        *notes = NULL;
    if (!db)
        return DAL_E_MISUSE;
    if (!ops || !nops || n < 0 || (n && !models))
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_model_diff: bad "
                            "arguments");
    for (i = 0; !rc && i < n; i++) {
        dal_table *t = NULL;

        if ((rc = dal_model_check(db, models[i])))
            break;
        rc = db->drv->dialect->table_read(db, models[i]->table, &t);
        if (!rc && t && dal__schema_add(&live, t))
            rc = DAL_NOMEM;
        if (!rc && !(t = model_table(models[i])))
            rc = DAL_NOMEM;
        if (!rc && dal__schema_add(&want, t))
            rc = DAL_NOMEM;
        /* The indexes the model asks for, as the reader would see them. */
        for (int k = 0; !rc && k < models[i]->nfields; k++) {
            const dal_field *f = &models[i]->fields[k];
            const dal_field *del = find_flag(models[i], DAL_F_SOFT_DELETE);
            int unique = del && (f->flags & DAL_F_UNIQUE);
            dal__index *x;
            char name[300];

            if (!unique && !(f->flags & DAL_F_INDEXED))
                continue;
            x = dal__realloc(t->indexes, (size_t)(t->nindexes + 1)
                                         * sizeof *x);
            if (!x) {
                rc = DAL_NOMEM;
                break;
            }
            t->indexes = x;
            x += t->nindexes;
            memset(x, 0, sizeof *x);
            snprintf(name, sizeof name, "%s_%s_%s", models[i]->table,
                     f->name, unique ? "key" : "idx");
            x->unique = unique;
            x->ncols = 1;
            if (unique) {
                /* The partial condition, as SQL text like the reader's. */
                dal_expr *w = dal_is_null(dal_col(del->name));
                dal__buf b = {0};
                char err[64];

                if (!w || dal__expr_literal_sql(w, db->drv->dialect, &b,
                                                err, sizeof err))
                    rc = DAL_NOMEM;
                dal_expr_free(w);
                x->where_sql = b.p;
            }
            if (!rc && (!(x->name = dal__strdup(name))
                        || !(x->cols = dal__calloc(1, sizeof *x->cols))
                        || !(x->cols[0] = dal__strdup(f->name))))
                rc = DAL_NOMEM;
            t->nindexes++;
        }
    }
    if (!rc)
        rc = dal__schema_diff(&live, &want, NULL, 0, 1, ops, nops, notes);
    for (i = 0; i < live.n; i++)
        dal_table_free(live.tables[i]);
    for (i = 0; i < want.n; i++)
        dal_table_free(want.tables[i]);
    dal__free(live.tables);
    dal__free(want.tables);
    if (rc == DAL_NOMEM)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    return rc;
}

/* ---- writing -------------------------------------------------------- */

/* Move the generator past ids given by hand (see dal_model_insert). */
static int sync_identity(dal_db *db, const dal_model *m, const dal_field *f)
{
    const char *fmt = db->drv->dialect->identity_sync;
    int64_t ignored;
    char *sql;
    int rc;

    if (!fmt)
        return DAL_OK;
    if (!(sql = dal__asprintf(fmt, m->table, f->name, f->name, m->table)))
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    rc = dal_query_int64(db, sql, NULL, 0, &ignored);
    dal__free(sql);
    return rc;
}

int dal_model_insert(dal_db *db, const dal_model *m, void *obj)
{
    const dal_field *ret[64];
    dal_expr *vals[64];
    const char *cols[64];
    const dal_field *explicit_id = NULL;
    int64_t now = now_us();
    int rc, i, n = 0, nret = 0;
    dal_query *q;
    dal_stmt *st;

    if ((rc = dal_model_check(db, m)))
        return rc;
    if (!obj)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "obj is NULL");
    if (m->nfields > 64)
        return dal__seterrf(db, DAL_E_UNSUPPORTED, NULL, "model %s: more "
                            "than 64 fields", m->table);
    for (i = 0; i < m->nfields; i++)
        if (m->fields[i].flags & (DAL_F_CREATED_AT | DAL_F_UPDATED_AT))
            set_i64(obj, &m->fields[i], now);
    if ((rc = before_save(db, m, obj))
        || (rc = validate(db, m, obj, NULL, 0)))
        return rc;
    for (i = 0; i < m->nfields; i++) {
        const dal_field *f = &m->fields[i];
        dal_value v = field_value(obj, f);

        if ((f->flags & DAL_F_AUTO) && !is_unset(obj, f))
            explicit_id = f;

        /* The database chooses generated ids and unset defaults; they
         * come back through RETURNING (numbers only: text the database
         * chose would need memory the caller does not own). */
        if (((f->flags & DAL_F_AUTO) && is_unset(obj, f))
            || ((f->flags & DAL_F_DEFAULT) && is_unset(obj, f))) {
            if (f->type != DAL_F_TEXT && f->type != DAL_F_JSON
                && f->type != DAL_F_BLOB)
                ret[nret++] = f;
            continue;
        }
        cols[n] = f->name;
        vals[n++] = dal_value_expr(&v);
    }
    if (!n)
        return dal__seterrf(db, DAL_E_UNSUPPORTED, NULL, "model %s: an "
                            "insert needs at least one value of its own",
                            m->table);
    q = dal_insert(m->table);
    dal_q_columns_n(q, cols, n);
    dal_q_values_n(q, vals, n);
    if (nret) {
        dal_expr *r[64];

        for (i = 0; i < nret; i++)
            r[i] = dal_col(ret[i]->name);
        dal_q_returning_n(q, r, nret);
    }
    rc = run(db, q, &st);
    if (rc == DAL_ROW) {
        for (i = 0; i < nret; i++)
            if (ret[i]->type == DAL_F_DOUBLE) {
                double d = dal_column_double(st, i);

                memcpy(member(obj, ret[i]), &d, sizeof d);
            } else {
                set_i64(obj, ret[i], dal_column_int64(st, i));
            }
        while ((rc = dal_step(st)) == DAL_ROW)
            ;
    }
    if (st) {
        if (rc == DAL_DONE)
            dal__cache_put(db, st);
        else
            dal__cache_drop(db, st);
    }
    if (rc != DAL_DONE)
        return rc;
    /* A generated id given by hand: the backend's counter must move
     * past it (PostgreSQL's identity sequence does not by itself). */
    if (explicit_id && (rc = sync_identity(db, m, explicit_id)))
        return rc;
    if (m->hooks && m->hooks->after_save)
        m->hooks->after_save(db, obj);
    return DAL_OK;
}

static int has_name(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (names[i] && !strcmp(names[i], name))
            return 1;
    return 0;
}

int dal_model_update(dal_db *db, const dal_model *m, void *obj,
                     const char *const *names, int n)
{
    int64_t changed = 0, now = now_us();
    dal_query *q;
    int rc, i, sets = 0;

    if ((rc = dal_model_check(db, m)))
        return rc;
    if (!obj || (n && !names) || n < 0)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_model_update: bad "
                            "arguments");
    if ((rc = check_names(db, m, names, n)))
        return rc;
    for (i = 0; i < m->nfields; i++)
        if (m->fields[i].flags & DAL_F_UPDATED_AT)
            set_i64(obj, &m->fields[i], now);
    if ((rc = before_save(db, m, obj))
        || (rc = validate(db, m, obj, names, n)))
        return rc;
    q = dal_update(m->table);
    for (i = 0; i < m->nfields; i++) {
        const dal_field *f = &m->fields[i];
        dal_value v;

        if (f->flags & (DAL_F_PK | DAL_F_CREATED_AT | DAL_F_SOFT_DELETE))
            continue;
        if (n && !has_name(names, n, f->name)
            && !(f->flags & DAL_F_UPDATED_AT))
            continue;
        v = field_value(obj, f);
        dal_q_set(q, f->name, dal_value_expr(&v));
        sets++;
    }
    if (!sets) {
        dal_query_free(q);
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_model_update: "
                            "nothing to update");
    }
    dal_q_where(q, pk_cond(m, obj));
    where_live(q, m, 0);
    if ((rc = run_write(db, q, &changed)))
        return rc;
    if (!changed)
        return DAL_DONE;
    if (m->hooks && m->hooks->after_save)
        m->hooks->after_save(db, obj);
    return DAL_OK;
}

int dal_model_save(dal_db *db, const dal_model *m, void *obj)
{
    const dal_field *pk;
    int rc;

    if ((rc = dal_model_check(db, m)))
        return rc;
    if (!obj)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "obj is NULL");
    pk = find_flag(m, DAL_F_PK);
    if ((pk->flags & DAL_F_AUTO) && is_unset(obj, pk))
        return dal_model_insert(db, m, obj);
    rc = dal_model_update(db, m, obj, NULL, 0);
    return rc == DAL_DONE ? dal_model_insert(db, m, obj) : rc;
}

/* Soft-delete (deleted = now) or restore (deleted = NULL) obj's row. */
static int mark_deleted(dal_db *db, const dal_model *m, void *obj,
                        const dal_field *del, int64_t when)
{
    int64_t changed = 0;
    dal_query *q = dal_update(m->table);
    int rc;

    dal_q_set(q, del->name, when ? dal_int(when) : dal_null());
    dal_q_where(q, pk_cond(m, obj));
    dal_q_where(q, when ? dal_is_null(dal_col(del->name))
                        : dal_is_not_null(dal_col(del->name)));
    if ((rc = run_write(db, q, &changed)))
        return rc;
    if (!changed)
        return DAL_DONE;
    set_i64(obj, del, when);
    return DAL_OK;
}

int dal_model_delete(dal_db *db, const dal_model *m, void *obj)
{
    const dal_field *del;
    int64_t changed = 0;
    dal_query *q;
    int rc;

    if ((rc = dal_model_check(db, m)))
        return rc;
    if (!obj)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "obj is NULL");
    dal__clearerr(db);
    if (m->hooks && m->hooks->before_delete
        && (rc = m->hooks->before_delete(db, obj))) {
        if (dal_errcode(db) == DAL_OK)
            dal__seterrf(db, rc, NULL, "%s: stopped by the before_delete "
                         "hook", m->table);
        return rc;
    }
    if ((del = find_flag(m, DAL_F_SOFT_DELETE)))
        return mark_deleted(db, m, obj, del, now_us());
    q = dal_delete(m->table);
    dal_q_where(q, pk_cond(m, obj));
    if ((rc = run_write(db, q, &changed)))
        return rc;
    return changed ? DAL_OK : DAL_DONE;
}

int dal_model_restore(dal_db *db, const dal_model *m, void *obj)
{
    const dal_field *del;
    int rc;

    if ((rc = dal_model_check(db, m)))
        return rc;
    if (!obj)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "obj is NULL");
    if (!(del = find_flag(m, DAL_F_SOFT_DELETE)))
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "model %s has no "
                            "soft-delete field", m->table);
    return mark_deleted(db, m, obj, del, 0);
}

/* ---- reading -------------------------------------------------------- */

/* n bytes (plus a NUL) from the set's arena; NULL when memory ran out. */
static char *arena_copy(dal_rows *r, const void *src, size_t n)
{
    chunk *c = r->arena;
    char *p;

    if (!c || c->cap - c->used < n + 1) {
        /* Small sets (a find) take a small first chunk; the chunks
         * double up to ARENA_CHUNK. */
        size_t cap = c ? (c->cap * 2 < ARENA_CHUNK ? c->cap * 2
                                                   : ARENA_CHUNK)
                       : ARENA_FIRST;

        if (cap < n + 1)
            cap = n + 1;

        c = dal__malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = r->arena;
        c->used = 0;
        c->cap = cap;
        r->arena = c;
    }
    p = c->data + c->used;
    if (n)
        memcpy(p, src, n);
    p[n] = '\0';
    c->used += n + 1;
    return p;
}

void dal_rows_free(dal_rows *r)
{
    chunk *c, *next;

    if (!r)
        return;
    for (c = r->arena; c; c = next) {
        next = c->next;
        if (c != r->own_chunk)
            dal__free(c);
    }
    if (r->items != r->own_items)
        dal__free(r->items);
    dal__free(r);
}

int dal_rows_count(const dal_rows *r)
{
    return r ? r->n : 0;
}

void *dal_rows_at(const dal_rows *r, int i)
{
    return r && i >= 0 && i < r->n ? r->items + (size_t)i * r->m->size
                                   : NULL;
}

/* Read the statement's current row into a new struct of r. */
static int load_row(dal_rows *r, dal_stmt *st)
{
    const dal_model *m = r->m;
    const struct dal_driver *drv = st->db->drv;
    void *impl = st->impl;
    char *obj;
    int i;

    if (r->n == r->cap) {
        int cap = r->cap < 4 ? 8 : r->cap * 2;
        char *items;

        if (r->items == r->own_items) {
            if ((items = dal__malloc((size_t)cap * m->size)))
                memcpy(items, r->items, (size_t)r->n * m->size);
        } else {
            items = dal__realloc(r->items, (size_t)cap * m->size);
        }
        if (!items)
            return DAL_NOMEM;
        r->items = items;
        r->cap = cap;
    }
    obj = r->items + (size_t)r->n * m->size;
    memset(obj, 0, m->size);
    /* The statement is on a row of the model's own SELECT, whose columns
     * are the fields in order: the driver is read directly, without the
     * per-call checks of dal_column_*(). */
    for (i = 0; i < m->nfields; i++) {
        const dal_field *f = &m->fields[i];

        /* A NULL number reads as 0, as the zeroed member already is;
         * only text and blobs must tell NULL from empty. */
        switch (f->type) {
        case DAL_F_DOUBLE: {
            double d = drv->column_double(impl, i);

            memcpy(obj + f->offset, &d, sizeof d);
            break;
        }
        case DAL_F_TEXT:
        case DAL_F_JSON:
        case DAL_F_BLOB: {
            size_t len = 0;
            const void *src;
            char *copy;

            /* Both drivers read NULL as empty: only an empty value needs
             * the type asked. */
            src = f->type == DAL_F_BLOB
                      ? drv->column_blob(st->db, impl, i, &len)
                      : drv->column_text(st->db, impl, i, &len);
            if (src && !len
                && drv->column_type(impl, i) == DAL_TYPE_NULL)
                break;
            copy = src ? arena_copy(r, src, len) : NULL;

            if (!copy)
                return DAL_NOMEM;
            memcpy(obj + f->offset, &copy, sizeof copy);
            if (f->type == DAL_F_BLOB)
                memcpy(obj + f->len_offset, &len, sizeof len);
            break;
        }
        case DAL_F_INT64:
        case DAL_F_TIMESTAMP: {
            int64_t v = drv->column_int64(impl, i);

            memcpy(obj + f->offset, &v, sizeof v);
            break;
        }
        default:
            set_i64(obj, f, drv->column_int64(impl, i));
        }
    }
    r->n++;
    return DAL_OK;
}

/* Run q (taken) and append its rows to r. */
static int load_into(dal_db *db, dal_query *q, dal_rows *r)
{
    dal_stmt *st;
    int rc = run(db, q, &st);

    while (rc == DAL_ROW) {
        if (load_row(r, st)) {
            rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
            break;
        }
        rc = dal_step(st);
    }
    if (st) {
        if (rc == DAL_DONE)
            dal__cache_put(db, st);
        else
            dal__cache_drop(db, st);
    }
    return rc == DAL_DONE ? DAL_OK : rc;
}

/* SELECT m's columns FROM its table WHERE (cond) AND live, with order
 * (taken) or by primary key (limit -1: no order), and limit. */
static dal_query *select_query(const dal_model *m, dal_expr *cond,
                               dal_expr *order, int64_t limit, int flags)
{
    dal_expr *cols[64];
    dal_query *q;
    int i;

    for (i = 0; i < m->nfields; i++)
        cols[i] = dal_col(m->fields[i].name);
    q = dal_select_n(cols, m->nfields);
    dal_q_from(q, m->table);
    /* The user's condition goes in as one node: the compiler writes it
     * in parentheses before the AND with the deleted condition. */
    if (cond)
        dal_q_where(q, cond);
    where_live(q, m, flags);
    if (order && order->kind == E_LIST) {
        dal_q_order_by_n(q, order->kids, order->nkids);
        order->nkids = 0; /* the items now belong to q */
        dal_expr_free(order);
    } else if (order) {
        dal_q_order_by(q, order);
    } else if (limit >= 0) {
        dal_q_order_by(q, dal_col(find_flag(m, DAL_F_PK)->name));
    }
    if (limit > 0)
        dal_q_limit(q, limit);
    return q;
}

/* The checks every loading call makes; frees cond and order on error. */
static int load_args(dal_db *db, const dal_model *m, dal_expr *cond,
                     dal_expr *order, int flags, dal_rows **rows)
{
    int rc;

    if (rows)
        *rows = NULL;
    if (db && !(rc = dal_model_check(db, m)) && rows && m->nfields <= 64
        && !((flags & DAL_ONLY_DELETED)
             && !find_flag(m, DAL_F_SOFT_DELETE)))
        return DAL_OK;
    dal_expr_free(cond);
    dal_expr_free(order);
    if (!db)
        return DAL_E_MISUSE;
    if (rc)
        return rc;
    if (!rows)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "rows is NULL");
    if (m->nfields > 64)
        return dal__seterrf(db, DAL_E_UNSUPPORTED, NULL, "model %s: "
                            "more than 64 fields", m->table);
    return dal__seterrf(db, DAL_E_MISUSE, NULL, "model %s has no "
                        "soft-delete field for DAL_ONLY_DELETED", m->table);
}

#define ROUND_UP(n, a) (((n) + (a) - 1) / (a) * (a))

static dal_rows *new_rows(dal_db *db, const dal_model *m)
{
    size_t align = _Alignof(max_align_t);
    size_t items = ROUND_UP(sizeof(dal_rows), align);
    size_t arena = ROUND_UP(items + m->size, align);
    char *base = dal__malloc(arena + sizeof(chunk) + ARENA_FIRST);
    dal_rows *r = (dal_rows *)(void *)base;

    if (!r) {
        dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
        return NULL;
    }
    memset(r, 0, sizeof *r);
    r->m = m;
    r->items = r->own_items = base + items;
    r->cap = 1;
    r->arena = r->own_chunk = (chunk *)(void *)(base + arena);
    r->arena->next = NULL;
    r->arena->used = 0;
    r->arena->cap = ARENA_FIRST;
    return r;
}

static void after_load(dal_db *db, dal_rows *r)
{
    if (r->m->hooks && r->m->hooks->after_load)
        for (int i = 0; i < r->n; i++)
            r->m->hooks->after_load(db, dal_rows_at(r, i));
}

int dal_model_query(dal_db *db, const dal_model *m, dal_expr *cond,
                    dal_expr *order, int64_t limit, int flags,
                    dal_rows **rows)
{
    dal_rows *r;
    int rc;

    if ((rc = load_args(db, m, cond, order, flags, rows)))
        return rc;
    if (!(r = new_rows(db, m))) {
        dal_expr_free(cond);
        dal_expr_free(order);
        return DAL_NOMEM;
    }
    if ((rc = load_into(db, select_query(m, cond, order, limit, flags),
                        r))) {
        dal_rows_free(r);
        return rc;
    }
    after_load(db, r);
    *rows = r;
    return r->n ? DAL_OK : DAL_DONE;
}

/*
 * The async core's model loads (async.c): the checks and the SELECT of
 * dal_model_query(), without a connection (the error goes to err), and
 * the rows of its result decoded into a set by the same field rules as
 * load_row().
 */
int dal__model_select(const dal_model *m, dal_expr *cond, dal_expr *order,
                      int64_t limit, int flags, dal_query **q, char *err,
                      size_t errlen)
{
    dal_db scratch;
    dal_rows *unused;
    int rc;

    memset(&scratch, 0, sizeof scratch);
    *q = NULL;
    rc = load_args(&scratch, m, cond, order, flags, &unused);
    if (rc)
        snprintf(err, errlen, "%s", scratch.err.msg ? scratch.err.msg
                                                    : dal_errstr(rc));
    dal__model_memo_free(&scratch);
    dal__clearerr(&scratch);
    if (rc)
        return rc;
    if (!(*q = select_query(m, cond, order, limit, flags))) {
        snprintf(err, errlen, "%s", dal_errstr(DAL_NOMEM));
        return DAL_NOMEM;
    }
    return DAL_OK;
}

static int decode_row(dal_rows *r, const dal_result *res, int64_t row)
{
    const dal_model *m = r->m;
    char *obj;
    int i;

    if (r->n == r->cap) {
        int cap = r->cap < 4 ? 8 : r->cap * 2;
        char *items;

        if (r->items == r->own_items) {
            if ((items = dal__malloc((size_t)cap * m->size)))
                memcpy(items, r->items, (size_t)r->n * m->size);
        } else {
            items = dal__realloc(r->items, (size_t)cap * m->size);
        }
        if (!items)
            return DAL_NOMEM;
        r->items = items;
        r->cap = cap;
    }
    obj = r->items + (size_t)r->n * m->size;
    memset(obj, 0, m->size);
    for (i = 0; i < m->nfields; i++) {
        const dal_field *f = &m->fields[i];

        switch (f->type) {
        case DAL_F_DOUBLE: {
            double d = dal_result_double(res, row, i);

            memcpy(obj + f->offset, &d, sizeof d);
            break;
        }
        case DAL_F_TEXT:
        case DAL_F_JSON:
        case DAL_F_BLOB: {
            size_t len = 0;
            const char *src = dal_result_text(res, row, i, &len);
            char *copy;

            if (!src)
                break;
            if (!(copy = arena_copy(r, src, len)))
                return DAL_NOMEM;
            memcpy(obj + f->offset, &copy, sizeof copy);
            if (f->type == DAL_F_BLOB)
                memcpy(obj + f->len_offset, &len, sizeof len);
            break;
        }
        case DAL_F_INT64:
        case DAL_F_TIMESTAMP: {
            int64_t v = dal_result_int64(res, row, i);

            memcpy(obj + f->offset, &v, sizeof v);
            break;
        }
        default:
            set_i64(obj, f, dal_result_int64(res, row, i));
        }
    }
    r->n++;
    return DAL_OK;
}

int dal__model_rows(const dal_model *m, const dal_result *res,
                    dal_rows **out)
{
    dal_db scratch;
    dal_rows *r;
    int64_t i, n = dal_result_row_count(res);

    *out = NULL;
    if (dal_result_column_count(res) < m->nfields)
        return DAL_E_RANGE;
    memset(&scratch, 0, sizeof scratch);
    r = new_rows(&scratch, m);
    dal__clearerr(&scratch);
    if (!r)
        return DAL_NOMEM;
    for (i = 0; i < n; i++)
        if (decode_row(r, res, i)) {
            dal_rows_free(r);
            return DAL_NOMEM;
        }
    *out = r;
    return DAL_OK;
}

/* A find on a connection without a statement cache: the statement is
 * prepared for this run and freed after it. DAL_DONE or an error. */
static int find_run_once(dal_db *db, struct dal__model_memo *mm,
                         const dal_value *pk, dal_rows *r)
{
    dal_stmt *st;
    int rc = dal__run_cached(db, NULL, &mm->find, pk, 1, &st);

    /* A key matches one row at most: no step to the end, the statement
     * is reset when it goes back to the cache. */
    if (rc == DAL_ROW)
        rc = load_row(r, st) ? dal__seterr(db, DAL_NOMEM, NULL, 0, NULL,
                                           NULL, NULL, NULL)
                             : DAL_DONE;
    if (st) {
        if (rc == DAL_DONE)
            dal__cache_put(db, st);
        else
            dal__cache_drop(db, st);
    }
    return rc;
}

/*
 * A find on the memo's own statement, as dal__run_cached() runs a cached
 * one: a plan that went stale (PostgreSQL, after the table changed) is
 * prepared anew and run once more when no transaction is open; any other
 * error drops the statement, so the next find prepares it again.
 * DAL_DONE (row or not, in r) or an error.
 */
static int find_run(dal_db *db, struct dal__model_memo *mm,
                    const dal_value *pk, dal_rows *r)
{
    dal_stmt *st;
    int rc;

    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "the connection is "
                            "%s", db->zombie ? "closed" : "not open");
    for (int attempt = 0; ; attempt++) {
        if (!mm->find_st
            && (rc = dal__stmt_new_translated(db, NULL, mm->find.sql,
                                              mm->find.len,
                                              mm->find.nparams, NULL, 1,
                                              &mm->find_st)))
            return rc;
        st = mm->find_st;
        /* An integer key on a ready statement, with no observer keeping
         * parameters: straight to the driver (what dal_bind_int64 would
         * do after its checks, which hold here by construction). */
        if (pk->type == DAL_TYPE_INT64 && st->state == DAL__ST_READY
            && !db->obs_params && st->nparams == 1)
            rc = db->drv->bind_int64(db, st->impl, 1, pk->u.i);
        else
            rc = dal_bind_value(st, 1, pk);
        if (rc == DAL_OK)
            rc = dal_step(st);
        /* A key matches one row at most: no step to the end. */
        if (rc == DAL_ROW)
            rc = load_row(r, st) ? dal__seterr(db, DAL_NOMEM, NULL, 0, NULL,
                                               NULL, NULL, NULL)
                                 : DAL_DONE;
        if (rc == DAL_DONE) {
            /* Text and blob keys are bound as copies: let them go. A
             * number is left bound; the next find binds over it. */
            if (pk->type == DAL_TYPE_TEXT || pk->type == DAL_TYPE_BLOB)
                dal_clear_bindings(st);
            else
                dal_reset(st);
            return rc;
        }
        dal__stmt_free(st);
        mm->find_st = NULL;
        if (attempt > 0 || !db->drv->stale_plan || !db->drv->stale_plan(db)
            || db->drv->in_tx(db->conn))
            return rc;
    }
}

int dal_model_find(dal_db *db, const dal_model *m, const dal_value *pk,
                   dal_rows **rows)
{
    struct dal__model_memo *mm;
    dal_rows *r;
    int rc;

    if (rows)
        *rows = NULL;
    if (!db)
        return DAL_E_MISUSE;
    if ((rc = memo_get(db, m, &mm)))
        return rc;
    if (!pk || !rows)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "%s is NULL",
                            pk ? "rows" : "pk");
    if (m->nfields > 64)
        return dal__seterrf(db, DAL_E_UNSUPPORTED, NULL, "model %s: more "
                            "than 64 fields", m->table);
    if (!mm->find.sql) {
        /* SELECT ... WHERE pk = :pk [AND live], compiled once. */
        dal_expr *key = dal_eq(dal_col(find_flag(m, DAL_F_PK)->name),
                               dal_param("pk"));
        dal_query *q = key ? select_query(m, key, NULL, -1, 0) : NULL;
        char err[256];

        if (!q)
            return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                               NULL);
        rc = dal__compile(q, db->drv->dialect, &mm->find, err, sizeof err);
        dal_query_free(q);
        if (rc) {
            memset(&mm->find, 0, sizeof mm->find);
            return dal__seterr(db, rc, NULL, 0, err[0] ? err : NULL, NULL,
                               NULL, NULL);
        }
    }
    if (!(r = new_rows(db, m)))
        return DAL_NOMEM;
    rc = db->cache ? find_run(db, mm, pk, r)
                   : find_run_once(db, mm, pk, r);
    if (rc != DAL_DONE) {
        dal_rows_free(r);
        return rc;
    }
    after_load(db, r);
    *rows = r;
    return r->n ? DAL_OK : DAL_DONE;
}

int dal_model_count(dal_db *db, const dal_model *m, dal_expr *cond,
                    int flags, int64_t *n)
{
    dal_stmt *st;
    dal_query *q;
    int rc;

    if (!db || (rc = dal_model_check(db, m)) || !n
        || ((flags & DAL_ONLY_DELETED)
            && !find_flag(m, DAL_F_SOFT_DELETE))) {
        dal_expr_free(cond);
        if (!db)
            return DAL_E_MISUSE;
        if (rc)
            return rc;
        return dal__seterrf(db, DAL_E_MISUSE, NULL, n ? "model has no "
                            "soft-delete field for DAL_ONLY_DELETED"
                            : "n is NULL");
    }
    q = dal_select(dal_count(dal_star()));
    dal_q_from(q, m->table);
    if (cond)
        dal_q_where(q, cond);
    where_live(q, m, flags);
    rc = run(db, q, &st);
    if (rc == DAL_ROW) {
        *n = dal_column_int64(st, 0);
        rc = DAL_OK;
    }
    if (st)
        dal__cache_put(db, st);
    return rc;
}

int dal_rows_take(const dal_rows *r, int i, void *obj)
{
    const dal_model *m;
    const char *src = dal_rows_at(r, i);

    if (!src || !obj)
        return DAL_E_RANGE;
    m = r->m;
    memcpy(obj, src, m->size);
    for (int k = 0; k < m->nfields; k++) {
        const dal_field *f = &m->fields[k];
        char *p, *copy;
        size_t len;

        if (f->type != DAL_F_TEXT && f->type != DAL_F_JSON
            && f->type != DAL_F_BLOB)
            continue;
        memcpy(&p, (char *)obj + f->offset, sizeof p);
        if (!p)
            continue;
        if (f->type == DAL_F_BLOB)
            memcpy(&len, (char *)obj + f->len_offset, sizeof len);
        else
            len = strlen(p);
        copy = dal__strndup(p, len);
        memcpy((char *)obj + f->offset, &copy, sizeof copy);
        if (!copy) {
            /* Free the copies made so far; the later members still point
             * into the set's arena: clear them, they are not ours. */
            for (int j = 0; j < m->nfields; j++) {
                const dal_field *g = &m->fields[j];
                char *q = NULL;

                if (g->type != DAL_F_TEXT && g->type != DAL_F_JSON
                    && g->type != DAL_F_BLOB)
                    continue;
                if (j < k)
                    memcpy(&q, (char *)obj + g->offset, sizeof q);
                dal__free(q);
                q = NULL;
                memcpy((char *)obj + g->offset, &q, sizeof q);
            }
            return DAL_NOMEM;
        }
    }
    return DAL_OK;
}

void dal_model_free_row(const dal_model *m, void *obj)
{
    if (!m || !obj)
        return;
    for (int k = 0; k < m->nfields; k++) {
        const dal_field *f = &m->fields[k];
        char *p;

        if (f->type != DAL_F_TEXT && f->type != DAL_F_JSON
            && f->type != DAL_F_BLOB)
            continue;
        memcpy(&p, (char *)obj + f->offset, sizeof p);
        dal__free(p);
        p = NULL;
        memcpy((char *)obj + f->offset, &p, sizeof p);
    }
}

/* ---- bulk operations ------------------------------------------------ */

/*
 * bulk_create writes its multi-row INSERT directly rather than through
 * the AST: one statement of placeholders, prepared once and bound again
 * for every batch, costs nothing per row to compile, where an AST of 500
 * rows of values would be built and compiled for each batch.
 */
#define BULK_ROWS 500

/* The fields obj sends on insert: bit i for field i (as insert does). */
static uint64_t send_mask(const dal_model *m, const void *obj)
{
    uint64_t mask = 0;

    for (int i = 0; i < m->nfields; i++) {
        const dal_field *f = &m->fields[i];

        if (!((f->flags & (DAL_F_AUTO | DAL_F_DEFAULT)) && is_unset(obj, f)))
            mask |= (uint64_t)1 << i;
    }
    return mask;
}

static int popcount64(uint64_t v)
{
    int n = 0;

    for (; v; v &= v - 1)
        n++;
    return n;
}

/* INSERT INTO t (cols of mask) VALUES (?, ...) x rows [RETURNING pk],
 * written by dal__insert_sql(). */
static int insert_sql(dal__buf *b, const dal_model *m, char marker,
                      uint64_t mask, int rows, const dal_field *ret)
{
    const char *cols[64];
    int i, n = 0;

    for (i = 0; i < m->nfields; i++)
        if (mask & ((uint64_t)1 << i))
            cols[n++] = m->fields[i].name;
    return dal__insert_sql(b, m->table, cols, n, rows, marker,
                           ret ? ret->name : NULL);
}

/*
 * Bind field f of obj to parameter k straight through the driver: what
 * dal_bind_*() do after their checks, which hold here by construction
 * (k is in range, the statement is ready, text members are
 * NUL-terminated). Text is still checked for UTF-8, as dal_bind_text
 * does, so that both backends give the same error.
 */
static int bind_field(dal_db *db, void *impl, int k, const char *obj,
                      const dal_field *f)
{
    const struct dal_driver *drv = db->drv;
    const char *p = obj + f->offset;
    int64_t i64;

    switch (f->type) {
    case DAL_F_INT64:
        memcpy(&i64, p, sizeof i64);
        return drv->bind_int64(db, impl, k, i64);
    case DAL_F_TIMESTAMP:
        memcpy(&i64, p, sizeof i64);
        return i64 ? drv->bind_int64(db, impl, k, i64)
                   : drv->bind_null(db, impl, k);
    case DAL_F_INT32: {
        int32_t v;

        memcpy(&v, p, sizeof v);
        return drv->bind_int64(db, impl, k, v);
    }
    case DAL_F_BOOL:
        return drv->bind_bool(db, impl, k,
                              f->size == sizeof(_Bool)
                                  ? *(const _Bool *)p != 0
                                  : *(const int *)p != 0);
    case DAL_F_DOUBLE: {
        double d;

        memcpy(&d, p, sizeof d);
        return drv->bind_double(db, impl, k, d);
    }
    case DAL_F_TEXT:
    case DAL_F_JSON: {
        const char *t = *(char *const *)p;
        size_t len;

        if (!t)
            return drv->bind_null(db, impl, k);
        len = strlen(t);
        if (!dal__utf8_valid(t, len))
            return dal__seterrf(db, DAL_E_DATA, "22021", "parameter %d: "
                                "text is not valid UTF-8", k);
        return drv->bind_text(db, impl, k, t, len, DAL_STATIC | DAL__NTS);
    }
    default: {
        const void *b = *(const void *const *)p;
        size_t len;

        if (!b)
            return drv->bind_null(db, impl, k);
        memcpy(&len, obj + f->len_offset, sizeof len);
        return drv->bind_blob(db, impl, k, b, len, DAL_STATIC);
    }
    }
}

/* Bind rows objs[0..rows-1]'s fields of mask to st from parameter 1. */
static int bind_rows(dal_stmt *st, const dal_model *m, const char *objs,
                     int rows, uint64_t mask)
{
    dal_db *db = st->db;
    int k = 1, rc;

    /* Without an observer that keeps parameters, the public binding
     * calls' checks are known to pass: bind through the driver. */
    if (!db->obs_params && st->nparams >= k) {
        int fields[64], n = 0;

        if (st->state != DAL__ST_READY)
            dal_reset(st);
        for (int i = 0; i < m->nfields; i++)
            if (mask & ((uint64_t)1 << i))
                fields[n++] = i;
        if (st->nparams != n * rows)
            return dal__seterrf(db, DAL_E_MISUSE, NULL, "bulk insert: %d "
                                "parameters for %d values", st->nparams,
                                n * rows);
        for (int r = 0; r < rows; r++) {
            const char *obj = objs + (size_t)r * m->size;

            for (int i = 0; i < n; i++)
                if ((rc = bind_field(db, st->impl, k++, obj,
                                     &m->fields[fields[i]])))
                    return rc;
        }
        return DAL_OK;
    }
    for (int r = 0; r < rows; r++) {
        const char *obj = objs + (size_t)r * m->size;

        for (int i = 0; i < m->nfields; i++) {
            dal_value v;

            if (!(mask & ((uint64_t)1 << i)))
                continue;
            v = field_value(obj, &m->fields[i]);
            /* The structs outlive the statement's run: no copies. */
            if (v.type == DAL_TYPE_TEXT)
                rc = dal_bind_text(st, k++, v.u.s.p, v.u.s.len, DAL_STATIC);
            else if (v.type == DAL_TYPE_BLOB)
                rc = dal_bind_blob(st, k++, v.u.s.p, v.u.s.len, DAL_STATIC);
            else
                rc = dal_bind_value(st, k++, &v);
            if (rc)
                return rc;
        }
    }
    return DAL_OK;
}

/* Stamp and validate every struct before anything is sent. */
static int bulk_prepare_objs(dal_db *db, const dal_model *m, char *objs,
                             int n, const char *const *names, int nnames,
                             int stamp)
{
    int64_t now = now_us();
    int stamped[64], nstamped = 0, rc;

    for (int i = 0; i < m->nfields; i++)
        if (m->fields[i].flags & stamp)
            stamped[nstamped++] = i;
    for (int r = 0; r < n; r++) {
        char *obj = objs + (size_t)r * m->size;

        for (int i = 0; i < nstamped; i++)
            set_i64(obj, &m->fields[stamped[i]], now);
        if ((rc = validate(db, m, obj, names, nnames)))
            return rc;
    }
    return DAL_OK;
}

static int bulk_args(dal_db *db, const dal_model *m, const void *objs,
                     int n, const char *fn)
{
    int rc;

    if ((rc = dal_model_check(db, m)))
        return rc;
    if (n < 0 || (n > 0 && !objs))
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "%s: objs is NULL or "
                            "n is negative", fn);
    if (m->nfields > 64)
        return dal__seterrf(db, DAL_E_UNSUPPORTED, NULL, "model %s: more "
                            "than 64 fields", m->table);
    return DAL_OK;
}

typedef struct copy_ctx {
    const dal_model *m;
    const char *objs;
    const int *fields;  /* the mask's field indexes */
    int ncols;
} copy_ctx;

static int copy_row(void *ctx, int r, dal_value *vals)
{
    const copy_ctx *cc = ctx;
    const char *obj = cc->objs + (size_t)r * cc->m->size;

    for (int i = 0; i < cc->ncols; i++)
        vals[i] = field_value(obj, &cc->m->fields[cc->fields[i]]);
    return DAL_OK;
}

/* Load rows structs from objs, all sending mask, with dal_load(). */
static int copy_run(dal_db *db, const dal_model *m, const char *objs,
                    int rows, uint64_t mask)
{
    const char *cols[64];
    int fields[64], n = 0;
    copy_ctx cc;

    for (int i = 0; i < m->nfields; i++)
        if (mask & ((uint64_t)1 << i)) {
            fields[n] = i;
            cols[n++] = m->fields[i].name;
        }
    cc.m = m;
    cc.objs = objs;
    cc.fields = fields;
    cc.ncols = n;
    /* The structs outlive the load: their values are bound uncopied. */
    return dal__load(db, m->table, cols, n, rows, copy_row, &cc, 1);
}

/* Run the batches of bulk_create; *filled: structs whose id was set;
 * *explicit_ids: ids given by hand since the generator last moved. */
static int bulk_insert(dal_db *db, const dal_model *m, char *objs, int n,
                       int flags, int *filled, int *explicit_ids)
{
    const dal_field *pk = find_flag(m, DAL_F_PK);
    uint64_t pkbit = (uint64_t)1 << (pk - m->fields), st_mask = 0;
    int max = db->drv->dialect->max_params, st_rows = 0, rc = DAL_OK;
    dal__buf sql = {0};
    dal_stmt *st = NULL;

    for (int start = 0; start < n && rc == DAL_OK;) {
        char *first = objs + (size_t)start * m->size;
        uint64_t mask = send_mask(m, first);
        int ncols = popcount64(mask), rows = 1, per, got = 0;
        const dal_field *ret = NULL;

        if (!ncols) {
            rc = dal__seterrf(db, DAL_E_UNSUPPORTED, NULL, "model %s: an "
                              "insert needs at least one value of its own",
                              m->table);
            break;
        }
        if ((pk->flags & DAL_F_AUTO) && (mask & pkbit)) {
            *explicit_ids = 1;
        } else if (pk->flags & DAL_F_AUTO) {
            /* Ids given by hand in an earlier run: the generator must
             * move past them before it makes more. */
            if (*explicit_ids && (rc = sync_identity(db, m, pk)))
                break;
            *explicit_ids = 0;
            if (!(flags & DAL_BULK_NO_IDS))
                ret = pk;
        }
        /* No ids to return: the bulk load (dal_load: COPY, or chunked
         * multi-row INSERTs) takes the whole run of rows. */
        per = !ret ? n
              : max / ncols < BULK_ROWS ? max / ncols : BULK_ROWS;
        while (start + rows < n && rows < per
               && send_mask(m, first + (size_t)rows * m->size) == mask)
            rows++;
        if (!ret) {
            rc = copy_run(db, m, first, rows, mask);
            start += rows;
            continue;
        }
        /* The RETURNING column is part of the mask's key: pk is either
         * sent (no RETURNING) or not, and the flag is fixed per call. */
        if (!st || mask != st_mask || rows != st_rows) {
            dal__stmt_free(st);
            st = NULL;
            if ((rc = insert_sql(&sql, m, db->drv->param_marker, mask,
                                 rows, ret))) {
                rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                                 NULL);
                break;
            }
            if ((rc = dal__stmt_new_translated(db, NULL, sql.p,
                                               sql.len - 1, ncols * rows,
                                               NULL, 0, &st)))
                break;
            st_mask = mask;
            st_rows = rows;
        }
        if ((rc = bind_rows(st, m, first, rows, mask)))
            break;
        while ((rc = dal_step(st)) == DAL_ROW) {
            if (ret && got < rows) {
                set_i64(first + (size_t)got * m->size, pk,
                        dal_column_int64(st, 0));
                *filled = start + ++got;
            }
        }
        if (rc != DAL_DONE)
            break;
        rc = dal_reset(st);
        start += rows;
    }
    dal__stmt_free(st);
    dal__buf_free(&sql);
    return rc;
}

int dal_model_bulk_create(dal_db *db, const dal_model *m, void *objs, int n,
                          int flags)
{
    const dal_field *pk;
    int rc, depth, filled = 0, explicit_ids = 0;

    if ((rc = bulk_args(db, m, objs, n, "dal_model_bulk_create")))
        return rc;
    if (!n)
        return DAL_OK;
    if ((rc = bulk_prepare_objs(db, m, objs, n, NULL, 0,
                                DAL_F_CREATED_AT | DAL_F_UPDATED_AT)))
        return rc;
    if ((rc = dal_begin(db, 0)))
        return rc;
    depth = dal_tx_depth(db);
    pk = find_flag(m, DAL_F_PK);
    rc = bulk_insert(db, m, objs, n, flags, &filled, &explicit_ids);
    if (rc == DAL_OK && explicit_ids)
        rc = sync_identity(db, m, pk);
    if (rc == DAL_OK)
        rc = dal_commit(db);
    if (rc != DAL_OK) {
        /* Only our own level: the caller's stays open. */
        if (dal_tx_depth(db) >= depth)
            dal__rollback_keep_error(db);
        for (int r = 0; r < filled; r++)
            set_i64((char *)objs + (size_t)r * m->size, pk, 0);
    }
    return rc;
}

/* The fields a bulk update sends: the key and what it sets. */
static uint64_t update_mask(const dal_model *m, const char *const *names,
                            int nnames, int *sets)
{
    uint64_t mask = 0;

    *sets = 0;
    for (int i = 0; i < m->nfields; i++) {
        const dal_field *f = &m->fields[i];

        if (f->flags & DAL_F_PK) {
            mask |= (uint64_t)1 << i;
            continue;
        }
        if (f->flags & (DAL_F_CREATED_AT | DAL_F_SOFT_DELETE))
            continue;
        if (nnames && !has_name(names, nnames, f->name)
            && !(f->flags & DAL_F_UPDATED_AT))
            continue;
        mask |= (uint64_t)1 << i;
        ++*sets;
    }
    return mask;
}

/* UPDATE t SET f = :f, ... WHERE pk = :pk [AND live]; *sets: how many. */
static dal_query *update_query(const dal_model *m, const char *const *names,
                               int nnames, int *sets)
{
    const dal_field *pk = find_flag(m, DAL_F_PK);
    uint64_t mask = update_mask(m, names, nnames, sets);
    dal_query *q = dal_update(m->table);

    for (int i = 0; i < m->nfields; i++)
        if ((mask & ((uint64_t)1 << i)) && &m->fields[i] != pk)
            dal_q_set(q, m->fields[i].name, dal_param(m->fields[i].name));
    dal_q_where(q, dal_eq(dal_col(pk->name), dal_param(pk->name)));
    where_live(q, m, 0);
    return q;
}

/*
 * UPDATE "t" AS dal_t SET "a" = dal_v."a", ... FROM (VALUES ($1::T,
 * ...), ...) AS dal_v ("k", "a", ...) WHERE dal_t."k" = dal_v."k"
 * [AND dal_t."deleted" IS NULL], the values of the fields of mask in
 * field order, each cast to its column type (a VALUES list gives its
 * parameters no type of their own).
 */
static int update_values_sql(dal__buf *b, const dal_model *m,
                             const struct dal_dialect *d, uint64_t mask,
                             int rows)
{
    const dal_field *pk = find_flag(m, DAL_F_PK);
    const dal_field *del = find_flag(m, DAL_F_SOFT_DELETE);
    int i, r, first = 1, rc, k = 0;
    char num[32];

    b->len = 0;
    rc = dal__buf_adds(b, "UPDATE ") || dal__buf_ident(b, m->table)
         || dal__buf_adds(b, " AS dal_t SET ");
    for (i = 0; i < m->nfields && !rc; i++) {
        if (!(mask & ((uint64_t)1 << i)) || &m->fields[i] == pk)
            continue;
        rc = (!first && dal__buf_adds(b, ", "))
             || dal__buf_ident(b, m->fields[i].name)
             || dal__buf_adds(b, " = dal_v.")
             || dal__buf_ident(b, m->fields[i].name);
        first = 0;
    }
    rc = rc || dal__buf_adds(b, " FROM (VALUES ");
    for (r = 0; r < rows && !rc; r++) {
        rc = dal__buf_adds(b, r ? ", (" : "(");
        first = 1;
        for (i = 0; i < m->nfields && !rc; i++) {
            if (!(mask & ((uint64_t)1 << i)))
                continue;
            snprintf(num, sizeof num, "%s%c%d::", first ? "" : ", ",
                     d->param_marker, ++k);
            rc = dal__buf_adds(b, num)
                 || dal__buf_adds(b, d->ddl_types[ftype_sql[
                                         m->fields[i].type]]);
            first = 0;
        }
        rc = rc || dal__buf_addc(b, ')');
    }
    rc = rc || dal__buf_adds(b, ") AS dal_v (");
    first = 1;
    for (i = 0; i < m->nfields && !rc; i++) {
        if (!(mask & ((uint64_t)1 << i)))
            continue;
        rc = (!first && dal__buf_adds(b, ", "))
             || dal__buf_ident(b, m->fields[i].name);
        first = 0;
    }
    rc = rc || dal__buf_adds(b, ") WHERE dal_t.")
         || dal__buf_ident(b, pk->name) || dal__buf_adds(b, " = dal_v.")
         || dal__buf_ident(b, pk->name);
    if (del)
        rc = rc || dal__buf_adds(b, " AND dal_t.")
             || dal__buf_ident(b, del->name)
             || dal__buf_adds(b, " IS NULL");
    return rc || dal__buf_addc(b, '\0') ? DAL_NOMEM : DAL_OK;
}

/* The rows of objs in batches of UPDATE ... FROM (VALUES ...). */
static int bulk_update_values(dal_db *db, const dal_model *m, char *objs,
                              int n, uint64_t mask, int64_t *total)
{
    const struct dal_dialect *d = db->drv->dialect;
    int ncols = popcount64(mask), rc = DAL_OK, st_rows = 0, per;
    dal__buf sql = {0};
    dal_stmt *st = NULL;

    per = d->max_params / ncols < BULK_ROWS ? d->max_params / ncols
                                            : BULK_ROWS;
    for (int start = 0; start < n && rc == DAL_OK;) {
        int rows = n - start < per ? n - start : per;

        if (!st || rows != st_rows) {
            dal__stmt_free(st);
            st = NULL;
            if (update_values_sql(&sql, m, d, mask, rows)) {
                rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                                 NULL);
                break;
            }
            if ((rc = dal__stmt_new_translated(db, NULL, sql.p,
                                               sql.len - 1, ncols * rows,
                                               NULL, 0, &st)))
                break;
            st_rows = rows;
        }
        if ((rc = bind_rows(st, m, objs + (size_t)start * m->size, rows,
                            mask)))
            break;
        while ((rc = dal_step(st)) == DAL_ROW)
            ;
        if (rc != DAL_DONE)
            break;
        *total += dal_changes(db);
        rc = dal_reset(st);
        start += rows;
    }
    dal__stmt_free(st);
    dal__buf_free(&sql);
    return rc;
}

/* Bind obj's values to the slots of update_query and run it once. */
static int update_one(dal_stmt *st, const dal_model *m, const char *obj,
                      const int *slot, int64_t *changed)
{
    int rc;

    for (int i = 0; i < m->nfields; i++) {
        dal_value v;

        if (!slot[i])
            continue;
        v = field_value(obj, &m->fields[i]);
        if ((rc = dal_bind_value(st, slot[i], &v)))
            return rc;
    }
    while ((rc = dal_step(st)) == DAL_ROW)
        ;
    if (rc != DAL_DONE)
        return rc;
    *changed += dal_changes(dal_stmt_db(st));
    return dal_reset(st);
}

int dal_model_bulk_update(dal_db *db, const dal_model *m, void *objs, int n,
                          const char *const *names, int nnames,
                          int64_t *changed)
{
    int64_t total = 0;
    int slot[64] = {0};
    int rc, depth, sets;
    dal_stmt *st = NULL;
    dal_query *q;

    if (changed)
        *changed = 0;
    if ((rc = bulk_args(db, m, objs, n, "dal_model_bulk_update")))
        return rc;
    if (nnames < 0 || (nnames && !names))
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_model_bulk_update: "
                            "bad names");
    if ((rc = check_names(db, m, names, nnames)))
        return rc;
    if (!n)
        return DAL_OK;
    if ((rc = bulk_prepare_objs(db, m, objs, n, names, nnames,
                                DAL_F_UPDATED_AT)))
        return rc;
    if (db->drv->dialect->update_from_values) {
        uint64_t mask = update_mask(m, names, nnames, &sets);

        if (!sets)
            return dal__seterrf(db, DAL_E_MISUSE, NULL,
                                "dal_model_bulk_update: nothing to update");
        if ((rc = dal_begin(db, 0)))
            return rc;
        depth = dal_tx_depth(db);
        rc = bulk_update_values(db, m, objs, n, mask, &total);
        if (rc == DAL_OK)
            rc = dal_commit(db);
        if (rc != DAL_OK) {
            if (dal_tx_depth(db) >= depth)
                dal__rollback_keep_error(db);
            return rc;
        }
        if (changed)
            *changed = total;
        return DAL_OK;
    }
    if (!(q = update_query(m, names, nnames, &sets)))
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    if (!sets) {
        dal_query_free(q);
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_model_bulk_update: "
                            "nothing to update");
    }
    rc = dal_query_prepare(db, q, &st);
    dal_query_free(q);
    if (rc)
        return rc;
    for (int i = 0; i < m->nfields; i++) {
        int k = dal_bind_param_index(st, m->fields[i].name);

        slot[i] = k > 0 ? k : 0;
    }
    if ((rc = dal_begin(db, 0))) {
        dal_finalize(st);
        return rc;
    }
    depth = dal_tx_depth(db);
    for (int r = 0; r < n && rc == DAL_OK; r++)
        rc = update_one(st, m, (char *)objs + (size_t)r * m->size, slot,
                        &total);
    dal_finalize(st);
    if (rc == DAL_OK)
        rc = dal_commit(db);
    if (rc != DAL_OK) {
        if (dal_tx_depth(db) >= depth)
            dal__rollback_keep_error(db);
        return rc;
    }
    if (changed)
        *changed = total;
    return DAL_OK;
}

int dal_model_bulk_delete(dal_db *db, const dal_model *m, dal_expr *cond,
                          int flags, int64_t *deleted)
{
    const dal_field *del;
    dal_query *q;
    int rc;

    if (deleted)
        *deleted = 0;
    if ((rc = dal_model_check(db, m)) || !cond) {
        dal_expr_free(cond);
        return rc ? rc : dal__seterrf(db, DAL_E_MISUSE, NULL,
                                      "dal_model_bulk_delete: cond is NULL "
                                      "(pass one that always holds to "
                                      "delete every row)");
    }
    del = find_flag(m, DAL_F_SOFT_DELETE);
    if (del && !(flags & DAL_HARD_DELETE)) {
        q = dal_update(m->table);
        dal_q_set(q, del->name, dal_int(now_us()));
        dal_q_where(q, cond);
        dal_q_where(q, dal_is_null(dal_col(del->name)));
    } else {
        q = dal_delete(m->table);
        dal_q_where(q, cond);
        where_live(q, m, flags);
    }
    return run_write(db, q, deleted);
}

/* ---- relations ------------------------------------------------------ */

static int is_key_type(const dal_field *f)
{
    return f->type == DAL_F_INT64 || f->type == DAL_F_INT32
           || f->type == DAL_F_TEXT;
}

/* Order of two keys of one field (both INT64 or both TEXT; NULL first). */
static int key_cmp(const dal_value *a, const dal_value *b)
{
    if (a->type != b->type)
        return a->type == DAL_TYPE_NULL ? -1
               : b->type == DAL_TYPE_NULL ? 1 : (int)a->type - (int)b->type;
    if (a->type == DAL_TYPE_INT64)
        return (a->u.i > b->u.i) - (a->u.i < b->u.i);
    if (a->type == DAL_TYPE_TEXT)
        return strcmp(a->u.s.p, b->u.s.p);
    return 0;
}

static int value_qcmp(const void *a, const void *b)
{
    return key_cmp(a, b);
}

typedef struct keyed {
    dal_value key;
    int idx;
} keyed;

static int keyed_qcmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = key_cmp(&x->key, &y->key);

    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* The distinct non-NULL values of f over src's rows, sorted. */
static int distinct_keys(dal_db *db, const dal_rows *src, const dal_field *f,
                         dal_value **keys, int *nkeys)
{
    dal_value *k = NULL;
    int i, n = 0;

    *keys = NULL;
    *nkeys = 0;
    if (!src->n)
        return DAL_OK;
    if (!(k = dal__malloc((size_t)src->n * sizeof *k)))
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    for (i = 0; i < src->n; i++) {
        dal_value v = field_value(src->items + (size_t)i * src->m->size, f);

        if (v.type != DAL_TYPE_NULL)
            k[n++] = v;
    }
    qsort(k, (size_t)n, sizeof *k, value_qcmp);
    for (i = 1, *nkeys = n ? 1 : 0; i < n; i++)
        if (key_cmp(&k[i], &k[*nkeys - 1]))
            k[(*nkeys)++] = k[i];
    *keys = k;
    return DAL_OK;
}

/* Sort r's structs by their key field (stable), for dal_rows_match. */
static int sort_by_key(dal_db *db, dal_rows *r, const dal_field *f)
{
    size_t size = r->m->size;
    keyed *order;
    char *items;
    int i;

    r->key = f;
    if (r->n < 2)
        return DAL_OK;
    order = dal__malloc((size_t)r->n * sizeof *order);
    items = dal__malloc((size_t)r->n * size);
    if (!order || !items) {
        dal__free(order);
        dal__free(items);
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    }
    for (i = 0; i < r->n; i++) {
        order[i].key = field_value(r->items + (size_t)i * size, f);
        order[i].idx = i;
    }
    qsort(order, (size_t)r->n, sizeof *order, keyed_qcmp);
    for (i = 0; i < r->n; i++)
        memcpy(items + (size_t)i * size,
               r->items + (size_t)order[i].idx * size, size);
    dal__free(order);
    if (r->items != r->own_items)
        dal__free(r->items);
    r->items = items;
    r->cap = r->n;
    return DAL_OK;
}

/*
 * Load target's rows whose field tf is one of the values of field sf over
 * src's rows: one query (one per max_params keys), the set sorted by tf.
 */
static int related(dal_db *db, const dal_rows *src, const dal_field *sf,
                   const dal_model *target, const dal_field *tf, int flags,
                   dal_rows **out)
{
    int per = db->drv->dialect->max_params - 16, rc = DAL_OK, nkeys, i;
    dal_value *keys;
    dal_rows *r;

    if ((rc = distinct_keys(db, src, sf, &keys, &nkeys)))
        return rc;
    if (!(r = new_rows(db, target))) {
        dal__free(keys);
        return DAL_NOMEM;
    }
    for (i = 0; i < nkeys && rc == DAL_OK; i += per) {
        int n = nkeys - i < per ? nkeys - i : per;
        dal_expr **in = dal__malloc((size_t)n * sizeof *in);

        if (!in) {
            rc = dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
            break;
        }
        dal_expr *cond;

        for (int k = 0; k < n; k++)
            in[k] = dal_value_expr(&keys[i + k]);
        cond = dal_in_n(dal_col(tf->name), in, n);
        dal__free(in);
        /* NULL is "no condition" to select_query: never let a failed
         * allocation load the whole table. */
        rc = cond ? load_into(db, select_query(target, cond, NULL, 0,
                                               flags), r)
                  : dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                                NULL);
    }
    dal__free(keys);
    if (rc == DAL_OK)
        rc = sort_by_key(db, r, tf);
    if (rc != DAL_OK) {
        dal_rows_free(r);
        return rc;
    }
    after_load(db, r);
    *out = r;
    return r->n ? DAL_OK : DAL_DONE;
}

/* The checks of has_many and belongs_to: sf of src's model, tf of
 * target, of one key type. */
static int relation_args(dal_db *db, const dal_rows *src,
                         const dal_model *target, const dal_field *sf,
                         const dal_field *tf, const char *fk, int flags,
                         dal_rows **out)
{
    int rc;

    if ((rc = load_args(db, target, NULL, NULL, flags, out)))
        return rc;
    if (!src)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "the row set is NULL");
    if (!sf || !tf)
        return dal__seterrf(db, DAL_E_RANGE, "42703", "no field %s in "
                            "model %s", fk ? fk : "(null)",
                            sf ? target->table : src->m->table);
    if (!is_key_type(sf) || !is_key_type(tf)
        || (sf->type == DAL_F_TEXT) != (tf->type == DAL_F_TEXT))
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "%s.%s and %s.%s "
                            "cannot be joined: keys must be both integers "
                            "or both text", src->m->table, sf->name,
                            target->table, tf->name);
    return DAL_OK;
}

int dal_model_has_many(dal_db *db, const dal_rows *parents,
                       const dal_model *child, const char *fk, int flags,
                       dal_rows **children)
{
    const dal_field *pk = parents ? find_flag(parents->m, DAL_F_PK) : NULL;
    const dal_field *f;
    int rc;

    if (db && child && dal_model_check(db, child) == DAL_OK)
        f = named_field(child, fk);
    else
        f = NULL;
    if ((rc = relation_args(db, parents, child, pk, f, fk, flags,
                            children)))
        return rc;
    return related(db, parents, pk, child, f, flags, children);
}

int dal_model_belongs_to(dal_db *db, const dal_rows *children,
                         const char *fk, const dal_model *parent, int flags,
                         dal_rows **parents)
{
    const dal_field *f = children ? named_field(children->m, fk) : NULL;
    const dal_field *pk;
    int rc;

    if (db && parent && dal_model_check(db, parent) == DAL_OK)
        pk = find_flag(parent, DAL_F_PK);
    else
        pk = NULL;
    if ((rc = relation_args(db, children, parent, f, pk, fk, flags,
                            parents)))
        return rc;
    return related(db, children, f, parent, pk, flags, parents);
}

int dal_rows_match(const dal_rows *r, const dal_value *key, int *first)
{
    int lo = 0, hi, n;
    dal_value k;

    if (first)
        *first = 0;
    if (!r || !r->key || !key)
        return -1;
    k = *key;
    if (k.type == DAL_TYPE_TEXT && !k.u.s.p)
        return 0;
    hi = r->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        dal_value v = field_value(r->items + (size_t)mid * r->m->size,
                                  r->key);

        if (key_cmp(&v, &k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (n = 0; lo + n < r->n; n++) {
        dal_value v = field_value(r->items + (size_t)(lo + n) * r->m->size,
                                  r->key);

        if (key_cmp(&v, &k))
            break;
    }
    if (first)
        *first = lo;
    return n;
}
