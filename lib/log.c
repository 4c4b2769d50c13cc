/*
 * log.c - structured logging as an observer hook: JSON lines with a
 * level per category, a slow-statement threshold and parameter values
 * masked unless asked for (see dal/log.h).
 *
 * Each connection formats its lines in a buffer of its own (the hook's
 * attach state), so logging a statement takes no lock and, once the
 * buffer has grown to the longest line, no allocation.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dal-int.h"
#include "dal/log.h"

struct dal_log {
    FILE *fp;
    dal_log_sink_fn sink;
    void *data;
    unsigned flags;
    dal_log_level level[DAL_LOG_NCATEGORIES];
    int64_t slow_ns; /* < 0: off */
    atomic_long dropped;
    atomic_int attached;
};

static const char *const level_names[] = {"debug", "info", "warn",
                                          "error"};
static const char *const category_names[] = {"statement", "tx", "connect",
                                             "migrate", "pool"};

/* ---- JSON ---------------------------------------------------------- */

/* s[0..n) as a JSON string. Bytes of invalid UTF-8 are written as
 * \u00XX, so that the line stays valid JSON whatever the text. */
static int json_str(dal__buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int utf8 = dal__utf8_valid(s, n);
    size_t i;
    int rc = dal__buf_addc(b, '"');

    for (i = 0; i < n && rc == DAL_OK; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[7] = {'\\', 'u', '0', '0', 0, 0, 0};

        if (ch == '"' || ch == '\\') {
            esc[1] = (char)ch;
            rc = dal__buf_add(b, esc, 2);
        } else if (ch == '\n') {
            rc = dal__buf_add(b, "\\n", 2);
        } else if (ch == '\t') {
            rc = dal__buf_add(b, "\\t", 2);
        } else if (ch == '\r') {
            rc = dal__buf_add(b, "\\r", 2);
        } else if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && !utf8)) {
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            rc = dal__buf_add(b, esc, 6);
        } else {
            rc = dal__buf_addc(b, (char)ch);
        }
    }
    return rc == DAL_OK ? dal__buf_addc(b, '"') : rc;
}

/*
 * A data-exception message (SQLSTATE class 22) of a statement with
 * masked parameters: PostgreSQL quotes the offending input there
 * (invalid input syntax for type bigint: "..."), which may be a bound
 * value, so every double-quoted part becomes "***".
 */
static int json_str_masked(dal__buf *b, const char *s)
{
    dal__buf tmp = {0};
    const char *q;
    int rc = DAL_OK;

    while (rc == DAL_OK && (q = strchr(s, '"')) != NULL) {
        const char *end = strchr(q + 1, '"');

        rc = dal__buf_add(&tmp, s, (size_t)(q - s));
        if (rc == DAL_OK)
            rc = dal__buf_adds(&tmp, "\"***\"");
        s = end ? end + 1 : q + strlen(q);
    }
    if (rc == DAL_OK)
        rc = dal__buf_adds(&tmp, s);
    if (rc == DAL_OK)
        rc = json_str(b, tmp.p ? tmp.p : "", tmp.len);
    dal__buf_free(&tmp);
    return rc;
}

/* ,"key": */
static int json_key(dal__buf *b, const char *key)
{
    int rc = dal__buf_add(b, ",\"", 2);

    if (rc == DAL_OK)
        rc = dal__buf_adds(b, key);
    return rc == DAL_OK ? dal__buf_add(b, "\":", 2) : rc;
}

static int field_str(dal__buf *b, const char *key, const char *val)
{
    int rc;

    if (!val)
        return DAL_OK;
    rc = json_key(b, key);
    return rc == DAL_OK ? json_str(b, val, strlen(val)) : rc;
}

/* A number or literal written with printf. */
static int field_fmt(dal__buf *b, const char *key, const char *fmt, ...)
    DAL__PRINTF(3, 4);

static int field_fmt(dal__buf *b, const char *key, const char *fmt, ...)
{
    char num[64];
    va_list ap;
    int rc = json_key(b, key);

    va_start(ap, fmt);
    vsnprintf(num, sizeof num, fmt, ap);
    va_end(ap);
    return rc == DAL_OK ? dal__buf_adds(b, num) : rc;
}

static int json_value(dal__buf *b, const dal_value *v)
{
    static const char hex[] = "0123456789abcdef";
    char num[40];
    size_t i;
    int rc;

    switch (v->type) {
    case DAL_TYPE_BOOL:
        return dal__buf_adds(b, v->u.b ? "true" : "false");
    case DAL_TYPE_INT64:
        snprintf(num, sizeof num, "%" PRId64, v->u.i);
        return dal__buf_adds(b, num);
    case DAL_TYPE_DOUBLE:
        /* JSON has no NaN or infinity: those become strings. */
        if (v->u.d != v->u.d || v->u.d > 1.7976931348623157e308
            || v->u.d < -1.7976931348623157e308) {
            snprintf(num, sizeof num, "\"%g\"", v->u.d);
            return dal__buf_adds(b, num);
        }
        snprintf(num, sizeof num, "%.17g", v->u.d);
        return dal__buf_adds(b, num);
    case DAL_TYPE_TEXT:
        return json_str(b, v->u.s.p, v->u.s.len);
    case DAL_TYPE_BLOB:
        rc = dal__buf_add(b, "\"\\\\x", 4);
        for (i = 0; i < v->u.s.len && rc == DAL_OK; i++) {
            unsigned char ch = ((const unsigned char *)v->u.s.p)[i];

            rc = dal__buf_addc(b, hex[ch >> 4]);
            if (rc == DAL_OK)
                rc = dal__buf_addc(b, hex[ch & 15]);
        }
        return rc == DAL_OK ? dal__buf_addc(b, '"') : rc;
    default:
        return dal__buf_adds(b, "null");
    }
}

static const char *rc_name(int rc)
{
    static const char *const names[] = {
        "DAL_OK", "DAL_ERROR", "DAL_NOMEM", "DAL_E_MISUSE", "DAL_E_RANGE",
        "DAL_E_URL", "DAL_E_CONNECT", "DAL_E_CONSTRAINT", "DAL_E_SYNTAX",
        "DAL_E_DATA", "DAL_E_BUSY", "DAL_E_READONLY", "DAL_E_TX",
        "DAL_E_UNSUPPORTED", "DAL_E_CANCELED", "DAL_E_TIMEOUT",
        "DAL_E_CLOSED", "DAL_E_POOL_TIMEOUT", "DAL_E_REFUSED",
        "DAL_E_RATE_LIMITED",
    };

    if (rc >= 0 && rc < (int)(sizeof names / sizeof names[0]))
        return names[rc];
    return "DAL_ERROR";
}

/* "2026-11-21T10:17:45.123456Z" */
static int timestamp(dal__buf *b)
{
    struct timespec ts;
    struct tm tm;
    char out[96];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    return dal__buf_adds(b, out);
}

/* ---- the hook ------------------------------------------------------ */

typedef struct log_conn {
    dal__buf line;
} log_conn;

/* The category and level of ev, or -1 for an event not logged. */
static int classify(const dal_log *log, const dal_event *ev, int *cat,
                    int *slow)
{
    *slow = 0;
    switch (ev->kind) {
    case DAL_EV_AFTER:
        *cat = ev->origin && !strcmp(ev->origin, "migrate")
               ? DAL_LOG_MIGRATE : DAL_LOG_STATEMENT;
        if (ev->rc != DAL_OK)
            return DAL_LOG_ERROR;
        if (log->slow_ns >= 0 && ev->duration_ns >= log->slow_ns) {
            *slow = 1;
            return DAL_LOG_WARN;
        }
        return *cat == DAL_LOG_MIGRATE ? DAL_LOG_INFO : DAL_LOG_DEBUG;
    case DAL_EV_BEGIN:
    case DAL_EV_COMMIT:
        *cat = DAL_LOG_TX;
        return ev->rc != DAL_OK ? DAL_LOG_ERROR : DAL_LOG_DEBUG;
    case DAL_EV_ROLLBACK:
        *cat = DAL_LOG_TX;
        return ev->rc != DAL_OK ? DAL_LOG_ERROR : DAL_LOG_INFO;
    case DAL_EV_CONNECT:
        *cat = DAL_LOG_CONNECT;
        return ev->rc != DAL_OK ? DAL_LOG_ERROR : DAL_LOG_INFO;
    case DAL_EV_DISCONNECT:
        *cat = DAL_LOG_CONNECT;
        return DAL_LOG_INFO;
    case DAL_EV_CHECKOUT:
    case DAL_EV_RETURN:
        *cat = DAL_LOG_POOL;
        return DAL_LOG_DEBUG;
    default:
        return -1;
    }
}

static int format(const dal_log *log, const dal_event *ev, int level,
                  int cat, int slow, dal__buf *b)
{
    int stmt = ev->kind == DAL_EV_AFTER;
    int tx = ev->kind >= DAL_EV_BEGIN && ev->kind <= DAL_EV_ROLLBACK;
    const char *sql = ev->sql;
    int rc, i;

    b->len = 0;
    rc = dal__buf_adds(b, "{\"ts\":\"");
    if (rc == DAL_OK)
        rc = timestamp(b);
    if (rc == DAL_OK)
        rc = dal__buf_addc(b, '"');
    if (rc == DAL_OK)
        rc = field_str(b, "level", level_names[level]);
    if (rc == DAL_OK)
        rc = field_str(b, "category", category_names[cat]);
    if (rc == DAL_OK)
        rc = field_str(b, "event", stmt ? "statement"
                                        : dal_event_kind_name(ev->kind));
    if (rc == DAL_OK)
        rc = field_str(b, "backend", ev->backend);
    if (rc == DAL_OK)
        rc = field_str(b, "role", ev->role);
    if (rc == DAL_OK && ev->kind == DAL_EV_CONNECT)
        rc = field_str(b, "url", ev->url);
    if (stmt) {
        /* Compiled queries are keyed behind a \1 byte in the cache. */
        if (sql && sql[0] == '\1')
            sql++;
        if (rc == DAL_OK)
            rc = field_str(b, "sql", sql);
        if (rc == DAL_OK)
            rc = field_str(b, "kind", dal_stmt_kind_name(ev->stmt_kind));
        if (rc == DAL_OK)
            rc = field_fmt(b, "nparams", "%d", ev->nparams);
        if (rc == DAL_OK && ev->params && (log->flags & DAL_LOG_PARAMS)) {
            rc = json_key(b, "params");
            if (rc == DAL_OK)
                rc = dal__buf_addc(b, '[');
            for (i = 0; i < ev->nparams && rc == DAL_OK; i++) {
                if (i > 0)
                    rc = dal__buf_addc(b, ',');
                if (rc == DAL_OK)
                    rc = json_value(b, &ev->params[i]);
            }
            if (rc == DAL_OK)
                rc = dal__buf_addc(b, ']');
        }
    }
    if (rc == DAL_OK && (stmt || ev->kind == DAL_EV_COMMIT
                         || ev->kind == DAL_EV_ROLLBACK))
        rc = field_fmt(b, "duration_ms", "%.3f",
                       (double)ev->duration_ns / 1e6);
    if (rc == DAL_OK && stmt && ev->rows >= 0)
        rc = field_fmt(b, "rows", "%" PRId64, ev->rows);
    if (rc == DAL_OK && tx)
        rc = field_fmt(b, "tx_depth", "%d", ev->tx_depth);
    if (rc == DAL_OK && slow)
        rc = field_fmt(b, "slow", "true");
    if (rc == DAL_OK && ev->rc != DAL_OK) {
        rc = field_str(b, "rc", rc_name(ev->rc));
        if (rc == DAL_OK)
            rc = field_str(b, "sqlstate", dal_sqlstate(ev->db));
        if (rc == DAL_OK && stmt && ev->nparams > 0
            && !(log->flags & DAL_LOG_PARAMS)
            && !strncmp(dal_sqlstate(ev->db), "22", 2)) {
            rc = json_key(b, "message");
            if (rc == DAL_OK)
                rc = json_str_masked(b, dal_errmsg(ev->db));
        } else if (rc == DAL_OK) {
            rc = field_str(b, "message", dal_errmsg(ev->db));
        }
    }
    if (rc == DAL_OK)
        rc = field_str(b, "tenant", ev->tenant);
    if (rc == DAL_OK)
        rc = field_str(b, "actor", ev->actor);
    if (rc == DAL_OK)
        rc = dal__buf_add(b, "}\n", 3); /* with the NUL */
    return rc;
}

static int log_hook(const dal_event *ev, void *data)
{
    dal_log *log = data;
    log_conn *c = ev->state;
    int cat, slow, level = classify(log, ev, &cat, &slow);

    if (level < 0 || level < (int)log->level[cat] || !c)
        return DAL_OK;
    if (format(log, ev, level, cat, slow, &c->line) != DAL_OK) {
        atomic_fetch_add(&log->dropped, 1);
        return DAL_OK;
    }
    /* The line ends with "\n\0": the file gets the newline, the sink a
     * NUL-terminated line without it. */
    if (log->fp) {
        fwrite(c->line.p, 1, c->line.len - 1, log->fp);
    } else {
        c->line.p[c->line.len - 2] = '\0';
        log->sink(c->line.p, c->line.len - 2, log->data);
    }
    return DAL_OK;
}

static int log_attach(dal_db *db, void *data, void **state)
{
    dal_log *log = data;
    log_conn *c = dal__calloc(1, sizeof *c);

    if (!c)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    atomic_fetch_add(&log->attached, 1);
    *state = c;
    return DAL_OK;
}

static void log_detach(dal_db *db, void *data, void *state)
{
    dal_log *log = data;
    log_conn *c = state;

    (void)db;
    dal__buf_free(&c->line);
    dal__free(c);
    atomic_fetch_sub(&log->attached, 1);
}

/* ---- public API ---------------------------------------------------- */

int dal_log_new(FILE *fp, dal_log_sink_fn sink, void *data, unsigned flags,
                dal_log **out)
{
    dal_log *log;
    int i;

    if (!out)
        return DAL_E_MISUSE;
    *out = NULL;
    if (!fp == !sink || (flags & ~DAL_LOG_PARAMS))
        return DAL_E_MISUSE;
    log = dal__calloc(1, sizeof *log);
    if (!log)
        return DAL_NOMEM;
    log->fp = fp;
    log->sink = sink;
    log->data = data;
    log->flags = flags;
    for (i = 0; i < DAL_LOG_NCATEGORIES; i++)
        log->level[i] = DAL_LOG_INFO;
    log->slow_ns = -1;
    atomic_init(&log->dropped, 0);
    atomic_init(&log->attached, 0);
    *out = log;
    return DAL_OK;
}

int dal_log_set_level(dal_log *log, dal_log_category cat,
                      dal_log_level min)
{
    if (!log || (int)cat < 0 || (int)cat >= DAL_LOG_NCATEGORIES
        || (int)min < DAL_LOG_DEBUG || (int)min > DAL_LOG_OFF)
        return DAL_E_MISUSE;
    log->level[cat] = min;
    return DAL_OK;
}

int dal_log_set_slow(dal_log *log, double ms)
{
    if (!log || ms != ms || ms > 9.2e12)
        return DAL_E_MISUSE;
    log->slow_ns = ms < 0 ? -1 : (int64_t)(ms * 1e6);
    return DAL_OK;
}

int dal_log_observe(dal_log *log, dal_observer *obs)
{
    dal_hook h;

    if (!log || !obs)
        return DAL_E_MISUSE;
    memset(&h, 0, sizeof h);
    h.events = DAL_EVENT_BIT(DAL_EV_AFTER) | DAL_EVENTS_TX
               | DAL_EVENTS_CONNECTION | DAL_EVENTS_POOL;
    /* Parameter values are asked for only when they are to be shown:
     * masked, they are never copied at all. */
    h.flags = (log->flags & DAL_LOG_PARAMS) ? DAL_HOOK_PARAMS : 0;
    h.fn = log_hook;
    h.data = log;
    h.attach = log_attach;
    h.detach = log_detach;
    return dal_observer_add(obs, &h);
}

long dal_log_dropped(const dal_log *log)
{
    return log ? atomic_load(&((dal_log *)(uintptr_t)log)->dropped) : 0;
}

int dal_log_free(dal_log *log)
{
    if (!log)
        return DAL_OK;
    if (atomic_load(&log->attached) > 0)
        return DAL_E_MISUSE;
    dal__free(log);
    return DAL_OK;
}
