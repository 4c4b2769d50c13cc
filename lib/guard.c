/*
 * guard.c - guard rails (refuse scripts, UPDATE/DELETE without WHERE,
 * over-long statements, too many parameters; statement timeout; rate
 * limit per tenant) and the audit trail, each as one observer hook. See
 * dal/guard.h for the contract.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dal-int.h"
#include "dal/guard.h"

/* Statements the audit trail writes carry this origin. */
static const char audit_origin[] = "audit";

static int origin_is(const dal_event *ev, const char *o)
{
    return ev->origin && !strcmp(ev->origin, o);
}

/* ---- guards ---------------------------------------------------------- */

/* One tenant's token bucket. */
typedef struct bucket {
    struct bucket *next;
    double tokens;
    int64_t last_ns;
    char tenant[];
} bucket;

struct dal_guard {
    dal_guard_opts o;
    double burst;
    pthread_mutex_t mu;   /* the buckets */
    bucket **tab;
    size_t ntab, count;
    /* The bucket of connections without a tenant. */
    double anon_tokens;
    int64_t anon_last_ns;
    int anon_used;
};

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Double the table when it is full; on no memory keep the old one. */
static void grow(dal_guard *g)
{
    size_t n = g->ntab ? g->ntab * 2 : 16, i;
    bucket **t, *b, *next;

    if (g->count < g->ntab)
        return;
    t = dal__calloc(n, sizeof *t);
    if (!t)
        return;
    for (i = 0; i < g->ntab; i++)
        for (b = g->tab[i]; b; b = next) {
            next = b->next;
            b->next = t[hash_str(b->tenant) & (n - 1)];
            t[hash_str(b->tenant) & (n - 1)] = b;
        }
    dal__free(g->tab);
    g->tab = t;
    g->ntab = n;
}

/* The bucket of tenant, made full when new; NULL when memory ran out.
 * Called under g->mu. */
static bucket *find_bucket(dal_guard *g, const char *tenant, int64_t now)
{
    bucket *b;
    size_t len;

    if (g->ntab)
        for (b = g->tab[hash_str(tenant) & (g->ntab - 1)]; b; b = b->next)
            if (!strcmp(b->tenant, tenant))
                return b;
    grow(g);
    if (!g->ntab)
        return NULL;
    len = strlen(tenant);
    b = dal__malloc(sizeof *b + len + 1);
    if (!b)
        return NULL;
    memcpy(b->tenant, tenant, len + 1);
    b->tokens = g->burst;
    b->last_ns = now;
    b->next = g->tab[hash_str(tenant) & (g->ntab - 1)];
    g->tab[hash_str(tenant) & (g->ntab - 1)] = b;
    g->count++;
    return b;
}

static int rate_check(dal_guard *g, const dal_event *ev)
{
    double *tokens;
    int64_t now, *last;
    bucket *b;
    int ok;

    pthread_mutex_lock(&g->mu);
    now = g->o.clock_ns ? g->o.clock_ns(g->o.clock_ctx) : dal_clock_ns();
    if (!ev->tenant) {
        if (!g->anon_used) {
            g->anon_used = 1;
            g->anon_tokens = g->burst;
            g->anon_last_ns = now;
        }
        tokens = &g->anon_tokens;
        last = &g->anon_last_ns;
    } else if ((b = find_bucket(g, ev->tenant, now)) != NULL) {
        tokens = &b->tokens;
        last = &b->last_ns;
    } else {
        pthread_mutex_unlock(&g->mu);
        return dal__seterr(ev->db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                           NULL);
    }
    if (now > *last) {
        *tokens += (double)(now - *last) * 1e-9 * g->o.rate;
        if (*tokens > g->burst)
            *tokens = g->burst;
        *last = now;
    }
    ok = *tokens >= 1.0;
    if (ok)
        *tokens -= 1.0;
    pthread_mutex_unlock(&g->mu);
    if (ok)
        return DAL_OK;
    return dal_event_refuse(ev, DAL_E_RATE_LIMITED, "53400", "guard "
                            "'rate_limit': tenant %s%s%s is over %g "
                            "statements per second (burst %g)",
                            ev->tenant ? "'" : "",
                            ev->tenant ? ev->tenant : "(none)",
                            ev->tenant ? "'" : "", g->o.rate, g->burst);
}

static int guard_before(dal_guard *g, const dal_event *ev)
{
    const dal_guard_opts *o = &g->o;
    dal_db *db = ev->db;
    size_t len;
    int rc;

    if (!origin_is(ev, audit_origin)) {
        if (o->refuse_scripts && (ev->flags & DAL_EVF_SCRIPT)
            && (o->scripts_in_migrations || !origin_is(ev, "migrate")))
            return dal_event_refuse(ev, DAL_E_REFUSED, NULL, "guard "
                                    "'scripts': dal_exec() was given "
                                    "several statements in one text; run "
                                    "them one at a time (nothing was run)");
        if (o->require_where && (ev->flags & DAL_EVF_NO_WHERE)
            && !(ev->flags & DAL_EVF_ALLOW_ALL))
            return dal_event_refuse(ev, DAL_E_REFUSED, NULL, "guard "
                                    "'require_where': %s without WHERE "
                                    "would touch every row; add "
                                    "dal_q_where() or say "
                                    "dal_q_allow_all()",
                                    ev->stmt_kind == DAL_SK_DELETE
                                    ? "DELETE" : "UPDATE");
        if (o->max_sql_len > 0 && ev->sql
            && (len = strlen(ev->sql)) > o->max_sql_len)
            return dal_event_refuse(ev, DAL_E_REFUSED, "54000", "guard "
                                    "'max_sql_len': the statement is %zu "
                                    "bytes long, over the limit of %zu",
                                    len, o->max_sql_len);
        if (o->max_params > 0 && ev->nparams > o->max_params)
            return dal_event_refuse(ev, DAL_E_REFUSED, "54000", "guard "
                                    "'max_params': the statement has %d "
                                    "parameters, over the limit of %d",
                                    ev->nparams, o->max_params);
        if (o->rate > 0 && ev->stmt_kind != DAL_SK_TX
            && (rc = rate_check(g, ev)) != DAL_OK)
            return rc;
    }
    if (o->timeout_ms > 0 && db->conn && db->drv->set_timeout
        && (rc = db->drv->set_timeout(db, db->conn, o->timeout_ms))
           != DAL_OK)
        return rc;
    return DAL_OK;
}

/* A timed-out statement's message names the guard. */
static void guard_after(dal_guard *g, const dal_event *ev)
{
    char msg[400];

    if (ev->rc != DAL_E_TIMEOUT || g->o.timeout_ms <= 0
        || dal_errcode(ev->db) != DAL_E_TIMEOUT)
        return;
    snprintf(msg, sizeof msg, "guard 'timeout': statement canceled after "
             "%d ms (%s)", g->o.timeout_ms, dal_errmsg(ev->db));
    dal__seterr(ev->db, DAL_E_TIMEOUT, "57014", dal_errnative(ev->db), msg,
                NULL, NULL, NULL);
}

static int guard_fn(const dal_event *ev, void *data)
{
    if (ev->kind == DAL_EV_BEFORE)
        return guard_before(data, ev);
    if (ev->kind == DAL_EV_AFTER)
        guard_after(data, ev);
    return DAL_OK;
}

/* The timeout is set on the connection before each statement: an async
 * handle's connections have none the hook could reach (dal-int.h). */
static int guard_attach(dal_db *db, void *data, void **state)
{
    (void)data;
    *state = NULL;
    if (db->async_shell)
        return dal__seterrf(db, DAL_E_UNSUPPORTED, NULL, "guard 'timeout' "
                            "cannot be attached to an async handle: use "
                            "dal_async_req.timeout_ms");
    return DAL_OK;
}

/* Lift the timeout when the observer leaves the connection. */
static void guard_detach(dal_db *db, void *data, void *state)
{
    dal_guard *g = data;

    (void)state;
    if (g->o.timeout_ms > 0 && db->conn && db->drv->set_timeout
        && db->drv->set_timeout(db, db->conn, 0) != DAL_OK)
        dal__clearerr(db);
}

int dal_guard_add(dal_observer *obs, const dal_guard_opts *opts,
                  dal_guard **out)
{
    dal_hook h;
    dal_guard *g;
    int rc;

    if (out)
        *out = NULL;
    if (!obs || !opts || !out || opts->max_params < 0
        || opts->timeout_ms < 0 || !(opts->rate >= 0)
        || !(opts->burst >= 0) || isinf(opts->rate) || isinf(opts->burst)
        || (opts->burst > 0 && opts->burst < 1))
        return DAL_E_MISUSE;
    if (!opts->refuse_scripts && !opts->require_where && !opts->max_sql_len
        && !opts->max_params && !opts->timeout_ms && !(opts->rate > 0))
        return DAL_E_MISUSE;
    g = dal__calloc(1, sizeof *g);
    if (!g)
        return DAL_NOMEM;
    g->o = *opts;
    g->burst = opts->burst > 0 ? opts->burst
               : opts->rate > 1 ? opts->rate : 1;
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        dal__free(g);
        return DAL_NOMEM;
    }
    memset(&h, 0, sizeof h);
    h.events = DAL_EVENT_BIT(DAL_EV_BEFORE)
               | (opts->timeout_ms > 0 ? DAL_EVENT_BIT(DAL_EV_AFTER) : 0u);
    h.fn = guard_fn;
    h.data = g;
    if (opts->timeout_ms > 0) {
        h.attach = guard_attach;
        h.detach = guard_detach;
    }
    rc = dal_observer_add(obs, &h);
    if (rc != DAL_OK) {
        dal_guard_free(g);
        return rc;
    }
    *out = g;
    return DAL_OK;
}

void dal_guard_free(dal_guard *g)
{
    size_t i;
    bucket *b, *next;

    if (!g)
        return;
    for (i = 0; i < g->ntab; i++)
        for (b = g->tab[i]; b; b = next) {
            next = b->next;
            dal__free(b);
        }
    dal__free(g->tab);
    pthread_mutex_destroy(&g->mu);
    dal__free(g);
}

/* ---- audit trail ----------------------------------------------------- */

struct dal_audit {
    dal_audit_opts o;
    char *table;
    char *insert_sql;
    char *create_sql;
    atomic_llong failures;
    atomic_ullong seq;     /* makes row ids unique */
};

/* Per connection, with a table sink. */
typedef struct audit_conn {
    dal_stmt *ins;  /* the INSERT, kept while the table is known there */
    int ready;      /* the table is known to exist outside a transaction */
} audit_conn;

static const char audit_cols[] =
    "id TEXT PRIMARY KEY, at_us BIGINT NOT NULL, actor TEXT, tenant TEXT, "
    "origin TEXT, kind TEXT NOT NULL, sql_text TEXT NOT NULL, "
    "nparams INTEGER NOT NULL, params_sha256 TEXT NOT NULL, "
    "row_count BIGINT NOT NULL, duration_us BIGINT NOT NULL";

#define AUDIT_NCOLS 11

static int audited_kind(dal_stmt_kind k)
{
    return k == DAL_SK_INSERT || k == DAL_SK_UPDATE || k == DAL_SK_DELETE
           || k == DAL_SK_DDL;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* The digest dal/guard.h describes. */
static void params_digest(const dal_event *ev, char out[65])
{
    dal__sha256_ctx c;
    unsigned char b[9];
    int i;

    dal__sha256_init(&c);
    put_be64(b, (uint64_t)(ev->nparams > 0 ? ev->nparams : 0));
    dal__sha256_update(&c, b, 8);
    for (i = 0; i < ev->nparams; i++) {
        const dal_value *v = ev->params ? &ev->params[i] : NULL;
        uint64_t bits;

        switch (v ? v->type : DAL_TYPE_NULL) {
        case DAL_TYPE_BOOL:
            b[0] = 'B';
            b[1] = v->u.b ? 1 : 0;
            dal__sha256_update(&c, b, 2);
            break;
        case DAL_TYPE_INT64:
            b[0] = 'I';
            put_be64(b + 1, (uint64_t)v->u.i);
            dal__sha256_update(&c, b, 9);
            break;
        case DAL_TYPE_DOUBLE:
            b[0] = 'D';
            memcpy(&bits, &v->u.d, 8);
            put_be64(b + 1, bits);
            dal__sha256_update(&c, b, 9);
            break;
        case DAL_TYPE_TEXT:
        case DAL_TYPE_BLOB:
            b[0] = v->type == DAL_TYPE_TEXT ? 'T' : 'X';
            put_be64(b + 1, (uint64_t)v->u.s.len);
            dal__sha256_update(&c, b, 9);
            if (v->u.s.len)
                dal__sha256_update(&c, v->u.s.p, v->u.s.len);
            break;
        default:
            b[0] = 'N';
            dal__sha256_update(&c, b, 1);
            break;
        }
    }
    dal__sha256_hex_final(&c, out);
}

static dal_value text_or_null(const char *s)
{
    dal_value v;

    memset(&v, 0, sizeof v);
    if (!s) {
        v.type = DAL_TYPE_NULL;
    } else {
        v.type = DAL_TYPE_TEXT;
        v.u.s.p = s;
        v.u.s.len = strlen(s);
    }
    return v;
}

static dal_value int_value(int64_t i)
{
    dal_value v;

    memset(&v, 0, sizeof v);
    v.type = DAL_TYPE_INT64;
    v.u.i = i;
    return v;
}

/* Write rec's row on db; DAL_OK or the error, recorded on db. */
static int write_row(dal_audit *a, dal_db *db, audit_conn *cs,
                     const dal_audit_record *rec, int64_t now_ns)
{
    dal_value vals[AUDIT_NCOLS];
    char id[64];
    int rc;

    if (!cs->ready && a->o.create_table) {
        rc = dal_exec(db, a->create_sql);
        if (rc != DAL_OK)
            return rc;
    }
    if (!cs->ready) {
        /* Outside a transaction the table cannot vanish by a rollback:
         * keep the INSERT prepared from now on. */
        cs->ready = !db->drv->in_tx(db->conn);
    }
    if (!cs->ins && (rc = dal__stmt_new(db, a->insert_sql, cs->ready,
                                        &cs->ins)) != DAL_OK)
        return rc;
    snprintf(id, sizeof id, "%016llx-%08lx-%016llx",
             (unsigned long long)now_ns,
             (unsigned long)((unsigned long)getpid() & 0xffffffffUL),
             (unsigned long long)atomic_fetch_add(&a->seq, 1));
    vals[0] = text_or_null(id);
    vals[1] = int_value(rec->at_us);
    vals[2] = text_or_null(rec->actor);
    vals[3] = text_or_null(rec->tenant);
    vals[4] = text_or_null(rec->origin);
    vals[5] = text_or_null(dal_stmt_kind_name(rec->kind));
    vals[6] = text_or_null(rec->sql);
    vals[7] = int_value(rec->nparams);
    vals[8] = text_or_null(rec->params_sha256);
    vals[9] = int_value(rec->rows);
    vals[10] = int_value(rec->duration_ns / 1000);
    rc = dal__stmt_bind_all(cs->ins, vals, AUDIT_NCOLS);
    if (rc == DAL_OK) {
        rc = dal_step(cs->ins);
        if (rc == DAL_DONE || rc == DAL_ROW)
            rc = DAL_OK;
    }
    if (rc == DAL_OK) {
        dal_reset(cs->ins);
        dal_clear_bindings(cs->ins);
        if (!cs->ready) {
            dal__stmt_free(cs->ins);
            cs->ins = NULL;
        }
    }
    return rc;
}

static void audit_write(dal_audit *a, const dal_event *ev, audit_conn *cs,
                        const dal_audit_record *rec, int64_t now_ns)
{
    dal_db *db = ev->db;
    const char *origin = db->obs_origin;
    unsigned evflags = db->obs_evflags;
    int64_t changes = dal_changes(db);
    int rc;

    /* The audit's statements are its own: not part of the caller's
     * script, and marked for the other hooks. */
    db->obs_origin = audit_origin;
    db->obs_evflags = 0;
    rc = write_row(a, db, cs, rec, now_ns);
    db->obs_origin = origin;
    db->obs_evflags = evflags;
    if (rc != DAL_OK) {
        atomic_fetch_add(&a->failures, 1);
        if (cs->ins) {
            dal__stmt_free(cs->ins);
            cs->ins = NULL;
        }
        cs->ready = 0;
    }
    db->changes_pin = changes;
    db->changes_pinned = 1;
}

static int audit_fn(const dal_event *ev, void *data)
{
    dal_audit *a = data;
    dal_audit_record rec;
    int64_t now;

    if (ev->kind != DAL_EV_AFTER || !audited_kind(ev->stmt_kind)
        || origin_is(ev, audit_origin))
        return DAL_OK;
    now = dal__wall_ns();
    memset(&rec, 0, sizeof rec);
    rec.actor = ev->actor;
    rec.tenant = ev->tenant;
    rec.origin = ev->origin;
    rec.backend = ev->backend;
    rec.kind = ev->stmt_kind;
    rec.sql = ev->sql ? ev->sql : "";
    rec.nparams = ev->nparams;
    params_digest(ev, rec.params_sha256);
    rec.rc = ev->rc;
    rec.rows = ev->rows;
    rec.duration_ns = ev->duration_ns;
    rec.at_us = (now - ev->duration_ns) / 1000;
    if (a->o.sink)
        a->o.sink(&rec, a->o.ctx);
    if (a->table && ev->rc == DAL_OK && ev->state)
        audit_write(a, ev, ev->state, &rec, now);
    return DAL_OK;
}

static int audit_attach(dal_db *db, void *data, void **state)
{
    (void)data;
    *state = NULL;
    /* The table is written on the connection that ran the statement,
     * which an async handle's hooks cannot reach (dal-int.h). */
    if (db->async_shell)
        return dal__seterrf(db, DAL_E_UNSUPPORTED, NULL, "the audit "
                            "trail's table cannot be written from an "
                            "async handle: use a sink callback");
    *state = dal__calloc(1, sizeof(audit_conn));
    return *state ? DAL_OK : DAL_NOMEM;
}

static void audit_detach(dal_db *db, void *data, void *state)
{
    audit_conn *cs = state;

    (void)data;
    if (cs && cs->ins)
        dal__stmt_free(cs->ins);
    dal__free(cs);
    db->changes_pinned = 0;
}

/* A plain identifier: a letter or _, then letters, digits, _. */
static int plain_ident(const char *s)
{
    size_t i;

    if (!s || !*s || strlen(s) > 63 || (*s >= '0' && *s <= '9'))
        return 0;
    for (i = 0; s[i]; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

int dal_audit_add(dal_observer *obs, const dal_audit_opts *opts,
                  dal_audit **out)
{
    dal_hook h;
    dal_audit *a;
    int rc;

    if (out)
        *out = NULL;
    if (!obs || !opts || !out || (!opts->sink && !opts->table)
        || (opts->table && !plain_ident(opts->table)))
        return DAL_E_MISUSE;
    a = dal__calloc(1, sizeof *a);
    if (!a)
        return DAL_NOMEM;
    a->o = *opts;
    a->o.table = NULL;
    atomic_init(&a->failures, 0);
    atomic_init(&a->seq, 0);
    if (opts->table) {
        a->table = dal__strdup(opts->table);
        a->insert_sql = dal__asprintf("INSERT INTO \"%s\" (id, at_us, "
                                      "actor, tenant, origin, kind, "
                                      "sql_text, nparams, params_sha256, "
                                      "row_count, duration_us) VALUES (?, "
                                      "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                      opts->table);
        a->create_sql = dal__asprintf("CREATE TABLE IF NOT EXISTS "
                                      "\"%s\" (%s)", opts->table,
                                      audit_cols);
        if (!a->table || !a->insert_sql || !a->create_sql) {
            dal_audit_free(a);
            return DAL_NOMEM;
        }
    }
    memset(&h, 0, sizeof h);
    h.events = DAL_EVENT_BIT(DAL_EV_AFTER);
    h.flags = DAL_HOOK_PARAMS;
    h.fn = audit_fn;
    h.data = a;
    if (a->table) {
        h.attach = audit_attach;
        h.detach = audit_detach;
    }
    rc = dal_observer_add(obs, &h);
    if (rc != DAL_OK) {
        dal_audit_free(a);
        return rc;
    }
    *out = a;
    return DAL_OK;
}

int64_t dal_audit_failures(const dal_audit *a)
{
    return a ? (int64_t)atomic_load(&((dal_audit *)a)->failures) : 0;
}

void dal_audit_free(dal_audit *a)
{
    if (!a)
        return;
    dal__free(a->table);
    dal__free(a->insert_sql);
    dal__free(a->create_sql);
    dal__free(a);
}
