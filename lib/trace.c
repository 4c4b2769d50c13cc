/*
 * trace.c - tracing as an observer hook: statement and transaction
 * spans, W3C traceparent parsing and formatting, and the sqlcommenter
 * comment the core appends to one-shot statements (see dal/trace.h).
 *
 * Everything per connection lives in the hook's attach state (open
 * spans, parent context, the id generator), so a span costs no lock.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

#include "dal-int.h"
#include "dal/trace.h"

struct dal_tracer {
    dal_span_fn on_start, on_end;
    void *data;
    unsigned flags;
    /* No start callback and no comment: a statement's span can be made
     * at its end (AFTER), so the tracer does not ask for BEFORE. */
    int at_end;
    atomic_int attached; /* connections it is attached to */
};

/* A span between its start and its end. */
typedef struct open_span {
    const char *key; /* statements: the dal_stmt's SQL pointer */
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];
    uint8_t flags;
    int64_t start_unix_ns;
} open_span;

typedef struct trace_conn {
    dal_tracer *t;
    int at_end;          /* t->at_end */
    uint64_t rng;        /* splitmix64 state */
    const char *system;   /* db.system: "sqlite" or "postgresql" */
    ptrdiff_t system_len;
    /* Wall clock = the core's monotonic clock + offset, measured again
     * every WALL_EVERY spans, and only while no span is open, so that a
     * child never ends after its parent: reading the wall clock for
     * each span would cost as much as the rest. */
    int64_t wall_offset;
    int wall_age;
    int has_parent;
    open_span parent;  /* trace_id, span_id and flags of the caller's */
    int in_tx;
    open_span tx;
    open_span *stmts;  /* running statements, in start order */
    int nstmts, cap;
    /* The span id written into a statement's comment before it runs,
     * taken by the next statement span that starts in the same trace. */
    int has_pending;
    uint8_t pending_trace[16];
    uint8_t pending_span[8];
} trace_conn;

/* ---- ids ----------------------------------------------------------- */

/*
 * splitmix64: one 64-bit word of state (xoshiro256** kept four, loaded
 * and stored per draw), stepped by a constant and mixed by a bijection,
 * so a connection never draws the same id twice in 2^64 draws. Ids need
 * to be unique and not to collide across processes (the seed is the
 * kernel's), not to be secret.
 */
static uint64_t next_rand(trace_conn *c)
{
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int read_urandom(void *buf, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY);
    ssize_t got;

    if (fd < 0)
        return -1;
    got = read(fd, buf, n);
    close(fd);
    return got == (ssize_t)n ? 0 : -1;
}

static void seed(trace_conn *c)
{
    struct timespec ts;

#if defined(__linux__)
    if (getrandom(&c->rng, sizeof c->rng, 0) == (ssize_t)sizeof c->rng)
        return;
#endif
    if (read_urandom(&c->rng, sizeof c->rng) == 0)
        return;
    /* No kernel randomness: ids then only need to differ, which the
     * clock and the state's address give. */
    clock_gettime(CLOCK_REALTIME, &ts);
    c->rng = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec)
             ^ (uint64_t)(uintptr_t)c;
}

static int is_zero(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* 8 random bytes at out, never all zero: a span id, or half a trace id
 * (whose other half is then never zero either). */
static void random8(trace_conn *c, uint8_t *out)
{
    uint64_t r;

    do
        r = next_rand(c);
    while (!r);
    memcpy(out, &r, 8);
}

/* ---- traceparent --------------------------------------------------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1; /* upper case is invalid in a traceparent */
}

static int parse_hex(const char *s, uint8_t *out, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);

        if (lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int dal_traceparent_parse(const char *s, uint8_t trace_id[16],
                          uint8_t span_id[8], uint8_t *flags)
{
    uint8_t ver, tid[16], sid[8], fl;
    size_t len;

    if (!s)
        return DAL_E_MISUSE;
    len = strnlen(s, DAL_TRACEPARENT_LEN + 1);
    if (len < DAL_TRACEPARENT_LEN || s[2] != '-' || s[35] != '-'
        || s[52] != '-' || parse_hex(s, &ver, 1) || ver == 0xff
        || parse_hex(s + 3, tid, 16) || parse_hex(s + 36, sid, 8)
        || parse_hex(s + 53, &fl, 1))
        return DAL_E_DATA;
    /* Version 00 has exactly these fields; a later version may append
     * more after a '-', which this parser does not know and skips. */
    if (len > DAL_TRACEPARENT_LEN && (ver == 0 || s[55] != '-'))
        return DAL_E_DATA;
    if (is_zero(tid, 16) || is_zero(sid, 8))
        return DAL_E_DATA;
    if (trace_id)
        memcpy(trace_id, tid, 16);
    if (span_id)
        memcpy(span_id, sid, 8);
    if (flags)
        *flags = fl;
    return DAL_OK;
}

static void put_hex(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
}

int dal_traceparent_format(const uint8_t trace_id[16],
                           const uint8_t span_id[8], uint8_t flags,
                           char *out)
{
    if (!trace_id || !span_id || !out)
        return DAL_E_MISUSE;
    if (is_zero(trace_id, 16) || is_zero(span_id, 8)) {
        out[0] = '\0';
        return DAL_E_DATA;
    }
    memcpy(out, "00-", 3);
    put_hex(out + 3, trace_id, 16);
    out[35] = '-';
    put_hex(out + 36, span_id, 8);
    out[52] = '-';
    put_hex(out + 53, &flags, 1);
    out[55] = '\0';
    return DAL_OK;
}

/* ---- spans --------------------------------------------------------- */


#define WALL_EVERY 1024

/* Measure the offset again when it is due and no span is open. */
static void wall_refresh(trace_conn *c)
{
    if (c->wall_age-- <= 0 && c->nstmts == 0 && !c->in_tx) {
        c->wall_offset = dal__wall_ns() - dal_clock_ns();
        c->wall_age = WALL_EVERY;
    }
}

/* The wall-clock time of the core's monotonic time mono. */
static int64_t wall_of(const trace_conn *c, int64_t mono)
{
    return mono + c->wall_offset;
}

/* The context a new span descends from: the open transaction, else the
 * caller's parent, else none (a new trace). */
static inline void context_of(trace_conn *c, uint8_t trace_id[16],
                              uint8_t parent_id[8], uint8_t *flags)
{
    const open_span *p = c->in_tx ? &c->tx
                         : c->has_parent ? &c->parent : NULL;

    if (p) {
        memcpy(trace_id, p->trace_id, 16);
        memcpy(parent_id, p->span_id, 8);
        *flags = p->flags;
    } else {
        random8(c, trace_id);
        random8(c, trace_id + 8);
        memset(parent_id, 0, 8);
        *flags = 1;
    }
}

static void new_context(trace_conn *c, open_span *s)
{
    context_of(c, s->trace_id, s->parent_id, &s->flags);
}

/* Per statement kind: the span's name and its db.operation attribute
 * (dal_stmt_kind_name()), with that attribute's length. */
static const struct {
    const char *name, *op;
    size_t oplen;
} kinds[] = {
    [DAL_SK_OTHER] = {"OTHER", "other", 5},
    [DAL_SK_SELECT] = {"SELECT", "select", 6},
    [DAL_SK_INSERT] = {"INSERT", "insert", 6},
    [DAL_SK_UPDATE] = {"UPDATE", "update", 6},
    [DAL_SK_DELETE] = {"DELETE", "delete", 6},
    [DAL_SK_DDL] = {"DDL", "ddl", 3},
    [DAL_SK_TX] = {"TX", "tx", 2},
};

#define MAX_ATTRS 10

/* Append a text attribute when val is set; len < 0: strlen(val). */
static dal_span_attr *attr_text(dal_span_attr *a, const char *key,
                                const char *val, ptrdiff_t len)
{
    if (!val)
        return a;
    a->key = key;
    a->value.type = DAL_TYPE_TEXT;
    a->value.u.s.p = val;
    a->value.u.s.len = len < 0 ? strlen(val) : (size_t)len;
    return a + 1;
}

/*
 * Report span sp of event ev, whose ids, flags and start are set
 * (BEFORE/BEGIN: start; AFTER and the end of a transaction: end, with
 * rc). outcome is the transaction's.
 *
 * This runs for every traced statement, so it is written for an
 * in-memory SQLite point select, which takes about half a microsecond:
 * the attributes are stored straight into an array on the stack (at
 * most MAX_ATTRS: 3 + 3 labels + rows, outcome and sqlstate never all
 * at once), with the SQL's length counted once per prepared statement.
 */
static void report(trace_conn *c, const dal_event *ev, dal_span *sp,
                   dal_span_kind kind, int end, int rc, const char *outcome)
{
    dal_span_attr attrs[MAX_ATTRS], *a = attrs;
    dal_span_fn fn = end ? c->t->on_end : c->t->on_start;

    if (!fn)
        return;
    sp->kind = kind;
    sp->db = ev->db;
    sp->end_unix_ns = 0;
    sp->status = DAL_OK;
    sp->status_message = NULL;
    a = attr_text(a, "db.system", c->system, c->system_len);
    if (kind == DAL_SPAN_STATEMENT) {
        unsigned k = (unsigned)ev->stmt_kind;

        if (k >= sizeof kinds / sizeof kinds[0])
            k = DAL_SK_OTHER;
        sp->name = kinds[k].name;
        a = attr_text(a, "db.statement", ev->sql,
                      ev->sql_len || !ev->sql ? (ptrdiff_t)ev->sql_len
                                              : -1);
        a = attr_text(a, "db.operation", kinds[k].op,
                      (ptrdiff_t)kinds[k].oplen);
    } else {
        sp->name = "TRANSACTION";
        a = attr_text(a, "db.operation", "transaction", 11);
    }
    if (DAL__UNLIKELY(ev->tenant || ev->actor || ev->origin)) {
        a = attr_text(a, "dal.tenant", ev->tenant, -1);
        a = attr_text(a, "dal.actor", ev->actor, -1);
        a = attr_text(a, "dal.origin", ev->origin, -1);
    }
    if (end) {
        sp->end_unix_ns = kind == DAL_SPAN_STATEMENT
                          ? sp->start_unix_ns + ev->duration_ns
                          : wall_of(c, dal_clock_ns());
        sp->status = rc;
        if (kind == DAL_SPAN_STATEMENT && ev->rows >= 0) {
            a->key = "db.rows";
            a->value.type = DAL_TYPE_INT64;
            a->value.u.i = ev->rows;
            a++;
        }
        if (outcome)
            a = attr_text(a, "db.tx.outcome", outcome, -1);
        if (rc != DAL_OK && ev->db && rc != DAL_E_CLOSED) {
            sp->status_message = dal_errmsg(ev->db);
            a = attr_text(a, "db.sqlstate", dal_sqlstate(ev->db), -1);
        }
    }
    sp->attrs = attrs;
    sp->nattrs = (int)(a - attrs);
    fn(sp, c->t->data);
}

/* Report open span s (see report()). */
static void emit(trace_conn *c, const dal_event *ev, const open_span *s,
                 dal_span_kind kind, int end, int rc, const char *outcome)
{
    dal_span sp;

    memcpy(sp.trace_id, s->trace_id, 16);
    memcpy(sp.span_id, s->span_id, 8);
    memcpy(sp.parent_id, s->parent_id, 8);
    sp.trace_flags = s->flags;
    sp.start_unix_ns = s->start_unix_ns;
    report(c, ev, &sp, kind, end, rc, outcome);
}

/* A new open statement span on top of c's, or NULL (out of memory). */
static open_span *push_stmt(trace_conn *c)
{
    if (c->nstmts == c->cap) {
        int cap = c->cap ? c->cap * 2 : 4;
        open_span *p = dal__realloc(c->stmts, (size_t)cap * sizeof *p);

        if (!p)
            return NULL;
        c->stmts = p;
        c->cap = cap;
    }
    return &c->stmts[c->nstmts++];
}

static void stmt_start(trace_conn *c, const dal_event *ev)
{
    open_span *s = push_stmt(c);

    /* Out of memory: this statement goes without a span. */
    if (!s)
        return;
    s->key = ev->sql;
    new_context(c, s);
    if (c->has_pending && (c->in_tx || c->has_parent))
        c->has_pending = memcmp(c->pending_trace, s->trace_id, 16) == 0;
    if (c->has_pending) {
        memcpy(s->trace_id, c->pending_trace, 16);
        memcpy(s->span_id, c->pending_span, 8);
        c->has_pending = 0;
    } else {
        random8(c, s->span_id);
    }
    s->start_unix_ns = wall_of(c, ev->start_ns);
    if (c->t->on_start)
        emit(c, ev, s, DAL_SPAN_STATEMENT, 0, DAL_OK, NULL);
}

/* The open statement span whose key is sql (the latest), or -1. */
static int find_stmt(const trace_conn *c, const char *sql)
{
    int i;

    for (i = c->nstmts - 1; i >= 0; i--)
        if (c->stmts[i].key == sql)
            break;
    return i;
}

/*
 * A tracer that makes statement spans at their end (at_end) gives
 * spans to the statements db is running now, as BEFORE would have
 * given them: called before anything that changes the context of new
 * spans (a transaction's start or end, a new parent) and when the
 * current span is asked for. Out of memory, a statement goes without
 * its early span and gets one at its end.
 */
static void open_running(trace_conn *c, dal_db *db)
{
    const dal_stmt *st;

    for (st = db->obs_top; st; st = st->obs_below) {
        const char *sql = dal__obs_sql(st);
        open_span *s;

        if (find_stmt(c, sql) >= 0 || !(s = push_stmt(c)))
            continue;
        s->key = sql;
        new_context(c, s);
        random8(c, s->span_id);
        s->start_unix_ns = wall_of(c, st->obs_t0);
    }
}

static void stmt_end(trace_conn *c, const dal_event *ev)
{
    int i = find_stmt(c, ev->sql);

    if (i < 0)
        return;
    emit(c, ev, &c->stmts[i], DAL_SPAN_STATEMENT, 1, ev->rc, NULL);
    /* Statements mostly end in the reverse order of their start. */
    if (i < c->nstmts - 1)
        memmove(&c->stmts[i], &c->stmts[i + 1],
                (size_t)(c->nstmts - i - 1) * sizeof *c->stmts);
    c->nstmts--;
}

/*
 * A statement's span made at its end (at_end): its context is the one
 * in force now, which is the one at its start unless open_running()
 * gave it a span earlier. This is the path of every traced statement
 * of such a tracer, hence the one event and no stack.
 */
static void stmt_end_only(trace_conn *c, const dal_event *ev)
{
    dal_span sp;

    if (DAL__UNLIKELY(c->nstmts > 0) && find_stmt(c, ev->sql) >= 0) {
        stmt_end(c, ev);
        return;
    }
    wall_refresh(c);
    context_of(c, sp.trace_id, sp.parent_id, &sp.trace_flags);
    random8(c, sp.span_id);
    sp.start_unix_ns = wall_of(c, ev->start_ns);
    report(c, ev, &sp, DAL_SPAN_STATEMENT, 1, ev->rc, NULL);
}

static int trace_hook(const dal_event *ev, void *data)
{
    trace_conn *c = ev->state;

    (void)data;
    if (!c)
        return DAL_OK;
    switch (ev->kind) {
    case DAL_EV_BEFORE:
        wall_refresh(c);
        stmt_start(c, ev);
        break;
    case DAL_EV_AFTER:
        if (c->at_end)
            stmt_end_only(c, ev);
        else
            stmt_end(c, ev);
        break;
    case DAL_EV_BEGIN:
        if (ev->tx_depth != 1 || c->in_tx)
            break;
        if (c->at_end)
            open_running(c, ev->db);
        wall_refresh(c);
        new_context(c, &c->tx);
        random8(c, c->tx.span_id);
        c->tx.start_unix_ns = wall_of(c, ev->start_ns);
        c->in_tx = 1;
        emit(c, ev, &c->tx, DAL_SPAN_TX, 0, DAL_OK, NULL);
        break;
    case DAL_EV_COMMIT:
    case DAL_EV_ROLLBACK:
        if (ev->tx_depth != 1 || !c->in_tx)
            break;
        if (c->at_end)
            open_running(c, ev->db);
        c->in_tx = 0;
        emit(c, ev, &c->tx, DAL_SPAN_TX, 1, ev->rc,
             ev->kind == DAL_EV_COMMIT ? "commit" : "rollback");
        break;
    default:
        break;
    }
    return DAL_OK;
}

/* Write the comment of the statement about to be prepared: its span's
 * id is chosen now and taken by its BEFORE event. */
static int write_comment(dal_db *db, dal__buf *b)
{
    trace_conn *c = db->trace;
    open_span s;
    char tp[DAL_TRACEPARENT_LEN + 1];
    int rc;

    new_context(c, &s);
    random8(c, s.span_id);
    memcpy(c->pending_trace, s.trace_id, 16);
    memcpy(c->pending_span, s.span_id, 8);
    c->has_pending = 1;
    dal_traceparent_format(s.trace_id, s.span_id, s.flags, tp);
    rc = dal__buf_adds(b, "/*traceparent='");
    if (rc == DAL_OK)
        rc = dal__buf_adds(b, tp);
    if (rc == DAL_OK)
        rc = dal__buf_adds(b, "'*/");
    return rc;
}

static int trace_attach(dal_db *db, void *data, void **state)
{
    dal_tracer *t = data;
    trace_conn *c;

    if (db->trace)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "a connection can "
                            "have one tracer; this one already has");
    c = dal__calloc(1, sizeof *c);
    if (!c)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    c->t = t;
    c->at_end = t->at_end;
    seed(c);
    wall_refresh(c);
    c->system = db->drv ? db->drv->system : "";
    c->system_len = (ptrdiff_t)strlen(c->system);
    db->trace = c;
    if (t->flags & DAL_TRACE_SQLCOMMENT)
        db->sql_comment = write_comment;
    atomic_fetch_add(&t->attached, 1);
    *state = c;
    return DAL_OK;
}

/* Spans still open when the connection goes end now, as closed. */
static void trace_detach(dal_db *db, void *data, void *state)
{
    trace_conn *c = state;
    dal_event ev;

    (void)data;
    memset(&ev, 0, sizeof ev);
    ev.db = db;
    ev.backend = db->drv ? db->drv->name : "";
    ev.rows = -1;
    ev.tenant = db->tenant;
    ev.actor = db->actor;
    while (c->nstmts > 0) {
        open_span *s = &c->stmts[--c->nstmts];

        ev.sql = s->key;
        ev.stmt_kind = dal_sql_kind(s->key);
        ev.duration_ns = wall_of(c, dal_clock_ns()) - s->start_unix_ns;
        emit(c, &ev, s, DAL_SPAN_STATEMENT, 1, DAL_E_CLOSED, NULL);
    }
    if (c->in_tx) {
        c->in_tx = 0;
        emit(c, &ev, &c->tx, DAL_SPAN_TX, 1, DAL_E_CLOSED, "closed");
    }
    if (db->trace == c) {
        db->trace = NULL;
        db->sql_comment = NULL;
    }
    atomic_fetch_sub(&c->t->attached, 1);
    dal__free(c->stmts);
    dal__free(c);
}

/* ---- public API ---------------------------------------------------- */

int dal_tracer_new(dal_span_fn on_start, dal_span_fn on_end, void *data,
                   unsigned flags, dal_tracer **out)
{
    dal_tracer *t;

    if (!out)
        return DAL_E_MISUSE;
    *out = NULL;
    if ((!on_start && !on_end) || (flags & ~DAL_TRACE_SQLCOMMENT))
        return DAL_E_MISUSE;
    t = dal__calloc(1, sizeof *t);
    if (!t)
        return DAL_NOMEM;
    t->on_start = on_start;
    t->on_end = on_end;
    t->data = data;
    t->flags = flags;
    t->at_end = !on_start && !(flags & DAL_TRACE_SQLCOMMENT);
    atomic_init(&t->attached, 0);
    *out = t;
    return DAL_OK;
}

int dal_tracer_observe(dal_tracer *t, dal_observer *obs)
{
    dal_hook h;

    if (!t || !obs)
        return DAL_E_MISUSE;
    memset(&h, 0, sizeof h);
    h.events = (t->at_end ? DAL_EVENT_BIT(DAL_EV_AFTER)
                          : DAL_EVENTS_STATEMENT) | DAL_EVENTS_TX;
    h.fn = trace_hook;
    h.data = t;
    h.attach = trace_attach;
    h.detach = trace_detach;
    return dal_observer_add(obs, &h);
}

int dal_tracer_free(dal_tracer *t)
{
    if (!t)
        return DAL_OK;
    if (atomic_load(&t->attached) > 0)
        return DAL_E_MISUSE;
    dal__free(t);
    return DAL_OK;
}

int dal_trace_set_parent(dal_db *db, const char *traceparent)
{
    trace_conn *c;
    open_span p;

    if (!db)
        return DAL_E_MISUSE;
    c = db->trace;
    if (!c)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_trace_set_parent: "
                            "no tracer is attached to the connection");
    memset(&p, 0, sizeof p);
    if (traceparent && dal_traceparent_parse(traceparent, p.trace_id,
                                             p.span_id, &p.flags) != DAL_OK)
        return dal__seterrf(db, DAL_E_DATA, "22023", "dal_trace_set_parent: "
                            "not a valid W3C traceparent");
    /* Statements running now keep the parent they started with. */
    if (c->at_end)
        open_running(c, db);
    c->parent = p;
    c->has_parent = traceparent != NULL;
    return DAL_OK;
}

int dal_trace_current(dal_db *db, char *out)
{
    trace_conn *c;
    const open_span *s = NULL;
    int i;

    if (!db || !out)
        return DAL_E_MISUSE;
    out[0] = '\0';
    c = db->trace;
    if (!c)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "dal_trace_current: "
                            "no tracer is attached to the connection");
    if (c->at_end && db->obs_top) {
        /* The latest statement started is the innermost span. */
        open_running(c, db);
        if ((i = find_stmt(c, dal__obs_sql(db->obs_top))) >= 0)
            s = &c->stmts[i];
    } else if (c->nstmts > 0) {
        s = &c->stmts[c->nstmts - 1];
    }
    if (!s && c->in_tx)
        s = &c->tx;
    else if (!s && c->has_parent)
        s = &c->parent;
    if (s)
        dal_traceparent_format(s->trace_id, s->span_id, s->flags, out);
    return DAL_OK;
}
