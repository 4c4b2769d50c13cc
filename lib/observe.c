/*
 * observe.c - observers: lists of hooks called on the core's one
 * execution path (dal_step() and the statement's end), and on connect,
 * disconnect and transaction events. With no observer attached the core
 * pays one branch per step; everything here runs only when one is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dal-int.h"

struct dal_observer {
    dal_hook *hooks;
    int nhooks, cap;
    unsigned events; /* union of the hooks' masks */
    unsigned flags;  /* union of the hooks' flags */
    /* Connections it is attached to: they may open and close in several
     * threads at once. */
    atomic_int attached;
};

#define EV_BIT(k) DAL_EVENT_BIT(k)

/*
 * The clock. Every observed statement reads it twice, which with
 * clock_gettime() costs about 50 ns, a tenth of an SQLite point select
 * in memory. When the kernel itself times with the TSC (its clocksource
 * is "tsc", so it found the counter invariant and synchronized across
 * CPUs), reading the counter directly is what the vDSO does without its
 * bookkeeping, at a third of the cost; the rate is calibrated once per
 * process against CLOCK_MONOTONIC over a short spin. Elsewhere, and on
 * other CPUs, clock_gettime() it is.
 */
static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t dal__wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void dal__sleep_ms(int64_t ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <x86intrin.h>

/* 0 unknown, 1 use the TSC, 2 use clock_gettime(), 3 being calibrated
 * (by the one thread that moved it from 0). */
static atomic_int tsc_state;
static double tsc_ns_per_tick;
static uint64_t tsc_base;
static int64_t tsc_base_ns;

static int kernel_uses_tsc(void)
{
    char buf[32] = "";
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/"
                    "current_clocksource", "r");

    if (!f)
        return 0;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    return strcmp(buf, "tsc\n") == 0;
}

static void tsc_calibrate(void)
{
    uint64_t t0, t1;
    int64_t n0, n1;

    if (!kernel_uses_tsc()) {
        atomic_store(&tsc_state, 2);
        return;
    }
    n0 = mono_ns();
    t0 = __rdtsc();
    do
        n1 = mono_ns();
    while (n1 - n0 < 200000);
    t1 = __rdtsc();
    if (t1 <= t0) {
        atomic_store(&tsc_state, 2);
        return;
    }
    /* Only this thread writes these, before publishing state 1. */
    tsc_ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
    tsc_base = t1;
    tsc_base_ns = n1;
    atomic_store(&tsc_state, 1);
}

int64_t dal_clock_ns(void)
{
    int s = atomic_load_explicit(&tsc_state, memory_order_acquire);

    if (DAL__LIKELY(s == 1))
        return tsc_base_ns + (int64_t)((double)(int64_t)(__rdtsc()
                                       - tsc_base) * tsc_ns_per_tick);
    if (s == 0 && atomic_compare_exchange_strong(&tsc_state, &s, 3)) {
        tsc_calibrate();
        return dal_clock_ns();
    }
    /* Another thread calibrates meanwhile: the plain clock. */
    return mono_ns();
}
#else
int64_t dal_clock_ns(void)
{
    return mono_ns();
}
#endif

int dal_observer_new(dal_observer **out)
{
    dal_observer *o;

    if (!out)
        return DAL_E_MISUSE;
    *out = NULL;
    o = dal__calloc(1, sizeof *o);
    if (!o)
        return DAL_NOMEM;
    atomic_init(&o->attached, 0);
    *out = o;
    return DAL_OK;
}

int dal_observer_add(dal_observer *obs, const dal_hook *hook)
{
    if (!obs || !hook || !hook->fn || (hook->events & ~DAL_EVENTS_ALL)
        || (hook->flags & ~DAL_HOOK_PARAMS)
        || atomic_load(&obs->attached) > 0)
        return DAL_E_MISUSE;
    if (obs->nhooks == obs->cap) {
        int cap = obs->cap ? obs->cap * 2 : 4;
        dal_hook *h = dal__realloc(obs->hooks, (size_t)cap * sizeof *h);

        if (!h)
            return DAL_NOMEM;
        obs->hooks = h;
        obs->cap = cap;
    }
    obs->hooks[obs->nhooks++] = *hook;
    obs->events |= hook->events;
    obs->flags |= hook->flags;
    return DAL_OK;
}

int dal_observer_free(dal_observer *obs)
{
    if (!obs)
        return DAL_OK;
    if (atomic_load(&obs->attached) > 0)
        return DAL_E_MISUSE;
    dal__free(obs->hooks);
    dal__free(obs);
    return DAL_OK;
}

dal_observer *dal_observer_of(const dal_db *db)
{
    return db ? db->obs : NULL;
}

/* Call detach for hooks[0..n) of db's observer and forget it. */
static void detach_hooks(dal_db *db, int n)
{
    dal_observer *o = db->obs;
    int i;

    for (i = n - 1; i >= 0; i--)
        if (o->hooks[i].detach)
            o->hooks[i].detach(db, o->hooks[i].data, db->obs_state[i]);
    dal__free(db->obs_state);
    db->obs_state = NULL;
    db->obs = NULL;
    db->obs_params = 0;
    atomic_fetch_sub(&o->attached, 1);
}

/* Attach o to db: every hook's attach, in order; all or nothing. */
int dal__obs_attach(dal_db *db, dal_observer *o)
{
    int i, rc;

    db->obs_state = dal__calloc(o->nhooks ? (size_t)o->nhooks : 1,
                                sizeof *db->obs_state);
    if (!db->obs_state)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    db->obs = o;
    atomic_fetch_add(&o->attached, 1);
    for (i = 0; i < o->nhooks; i++) {
        if (!o->hooks[i].attach)
            continue;
        rc = o->hooks[i].attach(db, o->hooks[i].data, &db->obs_state[i]);
        if (rc != DAL_OK) {
            detach_hooks(db, i);
            if (db->err.code == DAL_OK)
                dal__seterrf(db, rc, NULL, "an observer hook's attach "
                             "failed: %s", dal_errstr(rc));
            return rc;
        }
    }
    db->obs_params = (o->flags & DAL_HOOK_PARAMS) != 0;
    return DAL_OK;
}

void dal__obs_detach(dal_db *db)
{
    if (db->obs)
        detach_hooks(db, db->obs->nhooks);
}

int dal_observe(dal_db *db, dal_observer *obs)
{
    if (!db)
        return DAL_E_MISUSE;
    if (db->obs_running > 0)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_observe: a "
                            "statement is running; reset it first");
    if (db->obs == obs)
        return DAL_OK;
    dal__obs_detach(db);
    return obs ? dal__obs_attach(db, obs) : DAL_OK;
}

/* The fields of ev that describe its connection db. */
static void event_conn(dal_db *db, dal_event *ev)
{
    ev->db = db;
    ev->backend = db->drv ? db->drv->name : "";
    ev->role = db->role ? db->role : "primary";
    ev->url = db->url.redacted ? db->url.redacted : "";
    ev->origin = db->obs_origin;
    ev->tenant = db->tenant;
    ev->actor = db->actor;
}

static void event_init(dal_db *db, dal_event *ev, dal_event_kind kind)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->rows = -1;
    event_conn(db, ev);
}

static int set_label(dal_db *db, char **label, const char *s)
{
    char *copy = NULL;

    if (!db)
        return DAL_E_MISUSE;
    if (s && !(copy = dal__strdup(s)))
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    dal__free(*label);
    *label = copy;
    return DAL_OK;
}

int dal_set_tenant(dal_db *db, const char *tenant)
{
    return set_label(db, db ? &db->tenant : NULL, tenant);
}

int dal_set_actor(dal_db *db, const char *actor)
{
    return set_label(db, db ? &db->actor : NULL, actor);
}

const char *dal_tenant(const dal_db *db)
{
    return db ? db->tenant : NULL;
}

const char *dal_actor(const dal_db *db)
{
    return db ? db->actor : NULL;
}

/* Deliver ev to hooks[0..n) that ask for its kind. */
static inline void deliver(dal_db *db, dal_event *ev, int n)
{
    dal_observer *o = db->obs;
    unsigned bit = EV_BIT(ev->kind);
    int i;

    for (i = 0; i < n; i++) {
        const dal_hook *h = &o->hooks[i];

        if (h->events & bit) {
            ev->state = db->obs_state[i];
            h->fn(ev, h->data);
        }
    }
}

/*
 * The statement's event for kind. The fields that do not change between
 * executions are filled at the first one; the rest are set here, so
 * that an execution costs a few stores, not a new event.
 */
static inline dal_event *stmt_event(dal_stmt *st,
                                     dal_event_kind kind)
{
    dal_db *db = st->db;
    dal_event *ev = &st->obs_ev;

    if (DAL__UNLIKELY(!st->obs_init)) {
        event_init(db, ev, kind);
        ev->sql = dal__obs_sql(st);
        if (ev->sql != st->sql)
            st->obs_flags |= DAL_EVF_AST;
        ev->sql_len = strlen(ev->sql);
        ev->stmt_kind = dal_sql_kind(ev->sql);
        ev->nparams = st->nparams;
        st->obs_init = 1;
    }
    ev->kind = kind;
    ev->flags = st->obs_flags | db->obs_evflags;
    ev->origin = db->obs_origin;
    ev->tenant = db->tenant;
    ev->actor = db->actor;
    ev->params = db->obs_params ? st->obs_params : NULL;
    ev->start_ns = st->obs_t0;
    return ev;
}

const char *dal__obs_sql(const dal_stmt *st)
{
    /* The statement cache keys compiled queries apart from raw SQL
     * with a leading \1 (stmtcache.c); hooks see the SQL itself. */
    return st->sql[0] == '\1' ? st->sql + 1 : st->sql;
}

/* st no longer runs: off db's list (mostly its head). */
static void stop_running(dal_db *db, dal_stmt *st)
{
    dal_stmt **p = &db->obs_top;

    st->obs_running = 0;
    db->obs_running--;
    while (*p && *p != st)
        p = &(*p)->obs_below;
    if (*p)
        *p = st->obs_below;
}

static void finish(dal_stmt *st, int rc, int nhooks)
{
    dal_db *db = st->db;
    dal_event *ev;
    int64_t now;

    stop_running(db, st);
    if (!(db->obs->events & EV_BIT(DAL_EV_AFTER)))
        return;
    now = dal_clock_ns();
    ev = stmt_event(st, DAL_EV_AFTER);
    ev->duration_ns = now - ev->start_ns;
    ev->rc = rc == DAL_DONE || rc == DAL_ROW ? DAL_OK : rc;
    if (ev->rc != DAL_OK)
        ev->rows = -1;
    else if (st->ncols > 0)
        ev->rows = st->obs_rows;
    else
        ev->rows = ev->stmt_kind >= DAL_SK_INSERT
                   && ev->stmt_kind <= DAL_SK_DELETE
                   ? db->drv->changes(db->conn) : 0;
    deliver(db, ev, nhooks);
}

/*
 * Run db's BEFORE hooks with ev, in order, up to a veto: its code
 * (anything that is not an error code refuses as DAL_E_REFUSED),
 * recorded on db unless a hook recorded an error there already, with
 * *nsaw the number of hooks that saw ev (they are owed an AFTER).
 * DAL_OK when none refused.
 */
static int before_hooks(dal_db *db, dal_event *ev, int *nsaw)
{
    dal_observer *o = db->obs;
    int i, rc;

    *nsaw = 0;
    for (i = 0; i < o->nhooks; i++) {
        const dal_hook *h = &o->hooks[i];

        if (!(h->events & EV_BIT(DAL_EV_BEFORE)))
            continue;
        ev->state = db->obs_state[i];
        rc = h->fn(ev, h->data);
        if (rc == DAL_OK)
            continue;
        if (rc < 0 || rc == DAL_ROW || rc == DAL_DONE)
            rc = DAL_E_REFUSED;
        if (db->err.code == DAL_OK)
            dal__seterrf(db, rc, rc == DAL_E_REFUSED ? "42501" : NULL,
                         "statement refused by an observer hook");
        else
            rc = db->err.code;
        *nsaw = i + 1;
        return rc;
    }
    return DAL_OK;
}

int dal__obs_begin(dal_stmt *st)
{
    dal_db *db = st->db;
    dal_observer *o = db->obs;
    dal_event *ev;
    int i, rc;

    st->obs_t0 = dal_clock_ns();
    st->obs_rows = 0;
    st->obs_running = 1;
    st->obs_below = db->obs_top;
    db->obs_top = st;
    db->obs_running++;
    if (!(o->events & EV_BIT(DAL_EV_BEFORE)))
        return DAL_OK;
    ev = stmt_event(st, DAL_EV_BEFORE);
    ev->duration_ns = 0;
    ev->rows = -1;
    ev->rc = DAL_OK;
    rc = before_hooks(db, ev, &i);
    if (rc != DAL_OK)
        finish(st, rc, i);
    return rc;
}

void dal__obs_prepare_failed(dal_db *db, const char *sql, int nparams,
                             int rc)
{
    dal_stmt st;

    memset(&st, 0, sizeof st);
    st.db = db;
    st.sql = (char *)sql;
    st.nparams = nparams;
    st.ncols = -1;
    /* A veto here changes nothing: the statement has failed already,
     * and its error stays the one recorded (dal__obs_begin() keeps an
     * error that is there). */
    if (dal__obs_begin(&st) == DAL_OK)
        dal__obs_end(&st, rc);
}

void dal__obs_end(dal_stmt *st, int rc)
{
    if (st->obs_running && st->db->obs)
        finish(st, rc, st->db->obs->nhooks);
    else if (st->obs_running)
        stop_running(st->db, st);
}

void dal__obs_event(dal_db *db, dal_event_kind kind, int rc, int depth)
{
    dal_event ev;
    int64_t now;

    if (!db->obs || !(db->obs->events & EV_BIT(kind)))
        return;
    event_init(db, &ev, kind);
    ev.rc = rc;
    ev.tx_depth = depth;
    now = dal_clock_ns();
    ev.start_ns = now;
    if (depth >= 1 && depth <= DAL__TX_TIMED) {
        if (kind == DAL_EV_BEGIN)
            db->tx_start_ns[depth - 1] = now;
        else if (kind == DAL_EV_COMMIT || kind == DAL_EV_ROLLBACK) {
            ev.start_ns = db->tx_start_ns[depth - 1];
            ev.duration_ns = now - ev.start_ns;
        }
    }
    deliver(db, &ev, db->obs->nhooks);
}

int dal_event_refuse(const dal_event *ev, int rc, const char *sqlstate,
                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!ev || !ev->db)
        return DAL_E_MISUSE;
    if (rc == DAL_OK || rc == DAL_ROW || rc == DAL_DONE)
        rc = DAL_E_REFUSED;
    if (!sqlstate && rc == DAL_E_REFUSED)
        sqlstate = "42501";
    msg[0] = '\0';
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    return dal__seterr(ev->db, rc, sqlstate, 0,
                       msg[0] ? msg : dal_errstr(rc), NULL, NULL, NULL);
}

/* ---- parameters kept for hooks ------------------------------------- */

static void value_release(dal_value *v)
{
    if (v->type == DAL_TYPE_TEXT || v->type == DAL_TYPE_BLOB)
        dal__free((void *)v->u.s.p);
    memset(v, 0, sizeof *v);
}

int dal__obs_capture(dal_stmt *st, int idx, const dal_value *v)
{
    dal_value *slot;

    if (!st->obs_params) {
        st->obs_params = dal__calloc((size_t)st->nparams,
                                     sizeof *st->obs_params);
        if (!st->obs_params)
            return dal__seterr(st->db, DAL_NOMEM, NULL, 0, NULL, NULL,
                               NULL, NULL);
    }
    slot = &st->obs_params[idx - 1];
    value_release(slot);
    if (v->type == DAL_TYPE_TEXT || v->type == DAL_TYPE_BLOB) {
        /* One byte more, so that text stays NUL-terminated. */
        char *p = dal__malloc(v->u.s.len + 1);

        if (!p)
            return dal__seterr(st->db, DAL_NOMEM, NULL, 0, NULL, NULL,
                               NULL, NULL);
        memcpy(p, v->u.s.p, v->u.s.len);
        p[v->u.s.len] = '\0';
        slot->type = v->type;
        slot->u.s.p = p;
        slot->u.s.len = v->u.s.len;
        return DAL_OK;
    }
    *slot = *v;
    return DAL_OK;
}

void dal__obs_capture_clear(dal_stmt *st)
{
    int i;

    if (!st->obs_params)
        return;
    for (i = 0; i < st->nparams; i++)
        value_release(&st->obs_params[i]);
}

void dal__obs_stmt_free(dal_stmt *st)
{
    if (st->obs_running)
        dal__obs_end(st, DAL_OK);
    dal__obs_capture_clear(st);
    dal__free(st->obs_params);
    st->obs_params = NULL;
}

/* ---- statement kinds ----------------------------------------------- */

/* Skip blanks and comments. */
static const char *skip_space(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'
               || *p == '\f' || *p == '\v')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");

            p = e ? e + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

static int word_is(const char *p, size_t n, const char *w)
{
    size_t i;

    if (strlen(w) != n)
        return 0;
    for (i = 0; i < n; i++) {
        char c = p[i];

        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c != w[i])
            return 0;
    }
    return 1;
}

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_';
}

static dal_stmt_kind kind_of_word(const char *p, size_t n)
{
    static const struct { const char *w; dal_stmt_kind k; } words[] = {
        {"SELECT", DAL_SK_SELECT}, {"VALUES", DAL_SK_SELECT},
        {"TABLE", DAL_SK_SELECT}, {"INSERT", DAL_SK_INSERT},
        {"REPLACE", DAL_SK_INSERT}, {"COPY", DAL_SK_INSERT},
        {"UPDATE", DAL_SK_UPDATE}, {"DELETE", DAL_SK_DELETE},
        {"CREATE", DAL_SK_DDL}, {"ALTER", DAL_SK_DDL},
        {"DROP", DAL_SK_DDL}, {"TRUNCATE", DAL_SK_DDL},
        {"COMMENT", DAL_SK_DDL}, {"BEGIN", DAL_SK_TX},
        {"START", DAL_SK_TX}, {"COMMIT", DAL_SK_TX}, {"END", DAL_SK_TX},
        {"ROLLBACK", DAL_SK_TX}, {"SAVEPOINT", DAL_SK_TX},
        {"RELEASE", DAL_SK_TX},
    };
    size_t i;

    for (i = 0; i < sizeof words / sizeof words[0]; i++)
        if (word_is(p, n, words[i].w))
            return words[i].k;
    return DAL_SK_OTHER;
}

/* After WITH: the first top-level SELECT/INSERT/UPDATE/DELETE. */
static dal_stmt_kind kind_after_with(const char *p)
{
    int depth = 0;

    while (*p) {
        p = skip_space(p);
        if (*p == '(') {
            depth++;
            p++;
        } else if (*p == ')') {
            depth--;
            p++;
        } else if (*p == '\'' || *p == '"') {
            char q = *p++;

            while (*p && *p != q)
                p++;
            if (*p)
                p++;
        } else if (is_word_char(*p)) {
            const char *w = p;
            dal_stmt_kind k;

            while (is_word_char(*p))
                p++;
            k = kind_of_word(w, (size_t)(p - w));
            if (depth == 0 && k >= DAL_SK_SELECT && k <= DAL_SK_DELETE)
                return k;
        } else if (*p) {
            p++;
        }
    }
    return DAL_SK_SELECT;
}

dal_stmt_kind dal_sql_kind(const char *sql)
{
    const char *p, *w;

    if (!sql)
        return DAL_SK_OTHER;
    p = skip_space(sql);
    while (*p == '(')
        p = skip_space(p + 1);
    w = p;
    while (is_word_char(*p))
        p++;
    if (word_is(w, (size_t)(p - w), "WITH"))
        return kind_after_with(p);
    return kind_of_word(w, (size_t)(p - w));
}

const char *dal_stmt_kind_name(dal_stmt_kind k)
{
    switch (k) {
    case DAL_SK_SELECT: return "select";
    case DAL_SK_INSERT: return "insert";
    case DAL_SK_UPDATE: return "update";
    case DAL_SK_DELETE: return "delete";
    case DAL_SK_DDL: return "ddl";
    case DAL_SK_TX: return "tx";
    default: return "other";
    }
}

const char *dal_event_kind_name(dal_event_kind k)
{
    switch (k) {
    case DAL_EV_BEFORE: return "before";
    case DAL_EV_AFTER: return "after";
    case DAL_EV_CONNECT: return "connect";
    case DAL_EV_DISCONNECT: return "disconnect";
    case DAL_EV_BEGIN: return "begin";
    case DAL_EV_COMMIT: return "commit";
    case DAL_EV_ROLLBACK: return "rollback";
    case DAL_EV_CHECKOUT: return "checkout";
    case DAL_EV_RETURN: return "return";
    default: return "unknown";
    }
}

/* ---- events of async statements (async.c) -------------------------- */

/*
 * An async connection has no dal_stmt: the async core fills ev's
 * statement fields (kind, sql, stmt_kind, nparams, params, start_ns,
 * duration_ns, rows, rc, flags) and its "shell" db (no blocking
 * connection) stands for the connection. The connection's fields are
 * set here as event_init() sets them, and the hooks run exactly as for
 * a blocking statement: BEFORE in order, stopping at a veto, whose
 * AFTER goes to the hooks that saw BEFORE.
 */
int dal__obs_deliver(dal_db *db, dal_event *ev)
{
    dal_observer *o = db->obs;
    int i, rc;

    if (!o || !(o->events & EV_BIT(ev->kind)))
        return DAL_OK;
    event_conn(db, ev);
    if (ev->kind != DAL_EV_BEFORE) {
        if (ev->kind == DAL_EV_AFTER && ev->rc != DAL_OK)
            ev->rows = -1;
        deliver(db, ev, o->nhooks);
        return DAL_OK;
    }
    rc = before_hooks(db, ev, &i);
    if (rc != DAL_OK && (o->events & EV_BIT(DAL_EV_AFTER))) {
        ev->kind = DAL_EV_AFTER;
        ev->duration_ns = dal_clock_ns() - ev->start_ns;
        ev->rows = -1;
        ev->rc = rc;
        deliver(db, ev, i);
    }
    return rc;
}
