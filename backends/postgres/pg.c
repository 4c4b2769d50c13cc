/*
 * pg.c - the PostgreSQL driver, on libpq's blocking calls.
 *
 * Parameters go as text (the server infers their types, as for a
 * hand-written query), except blobs, which go in binary as bytea. Results
 * come back as text and are converted by the getters; bytea is decoded
 * from hex into a per-column buffer owned by the statement.
 *
 * Statements kept by the core (dal_prepare, the statement cache) are
 * named server-side prepared statements; one-shot statements (dal_exec)
 * are sent with their parameters in one PQexecParams round trip.
 */
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg-int.h"


typedef struct pg_type {
    Oid oid;
    char *name;
} pg_type;

typedef struct pg_conn {
    PGconn *pc;
    unsigned long next_id; /* names prepared statements dal_1, dal_2 ... */
    int64_t changes;
    char *password;        /* scrubbed from every message, */
    char *secret;          /* as is what the URL's redaction hid */
    dal__buf dealloc;      /* pending "DEALLOCATE x;" statements */
    int ndealloc;
    pg_type *types;        /* names of OIDs looked up in the catalogue */
    int ntypes;
    int timeout_ms;        /* statement_timeout set by pg_set_timeout */
    int timeout_kept;      /* ... outside a transaction: it stays */
} pg_conn;

typedef struct pg_param {
    char num[32];   /* text of a number or bool */
    char *buf;      /* copy of transient text or blob */
    size_t cap;
} pg_param;

typedef struct pg_col {
    Oid oid;
    char *name;
    char *buf;      /* decoded bytea of the current row */
    size_t cap, len;
    int row;        /* the row buf holds, -1 for none */
} pg_col;

typedef struct pg_stmt {
    pg_conn *c;
    char name[32];  /* "" for a one-shot statement */
    char *sql;      /* one-shot statements only */
    int nparams;
    const char **values;
    int *lengths;
    int *formats;
    pg_param *params;
    PGresult *res;
    int row, nrows;
    int ncols;      /* -1 until the first execution */
    pg_col *cols;
} pg_stmt;

static const struct {
    Oid oid;
    const char *name;
} builtin_types[] = {
    {16, "bool"}, {17, "bytea"}, {18, "char"}, {19, "name"},
    {20, "int8"}, {21, "int2"}, {23, "int4"}, {25, "text"}, {26, "oid"},
    {114, "json"}, {142, "xml"}, {700, "float4"}, {701, "float8"},
    {1042, "bpchar"}, {1043, "varchar"}, {1082, "date"}, {1083, "time"},
    {1114, "timestamp"}, {1184, "timestamptz"}, {1186, "interval"},
    {1266, "timetz"}, {1700, "numeric"}, {2950, "uuid"}, {3802, "jsonb"},
    {1000, "_bool"}, {1005, "_int2"}, {1007, "_int4"}, {1016, "_int8"},
    {1009, "_text"}, {1021, "_float4"}, {1022, "_float8"},
    {705, "unknown"}, {2249, "record"}, {869, "inet"}, {650, "cidr"},
    {0, NULL}
};

/* ---- errors -------------------------------------------------------- */

/* Copy libpq's message without its trailing newline and the secrets. */
static void clean_msg_s(const char *password, const char *secret,
                        const char *in, char *out, size_t cap)
{
    size_t n;

    snprintf(out, cap, "%s", in ? in : "");
    n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    if (password)
        dal__scrub(out, cap, password);
    if (secret)
        dal__scrub(out, cap, secret);
}

static void clean_msg(pg_conn *c, const char *in, char *out, size_t cap)
{
    clean_msg_s(c ? c->password : NULL, c ? c->secret : NULL, in, out, cap);
}

void dal__pg_err_read(PGconn *pc, const PGresult *res, const char *password,
                      const char *secret, dal__pg_err *e)
{
    const char *state, *primary;

    memset(e, 0, sizeof *e);
    if (res) {
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        if (state || PQstatus(pc) != CONNECTION_BAD) {
            clean_msg_s(password, secret,
                        primary ? primary : PQresultErrorMessage(res),
                        e->msg, sizeof e->msg);
            e->rc = state ? dal__rc_from_sqlstate(state) : DAL_ERROR;
            /* 57014 is a cancel (DAL_E_CANCELED) or, with the server's
             * message saying so, statement_timeout (DAL_E_TIMEOUT). */
            if (e->rc == DAL_E_CANCELED && primary
                && strstr(primary, "statement timeout"))
                e->rc = DAL_E_TIMEOUT;
            e->sqlstate = state;
            e->native = (int)PQresultStatus(res);
            e->detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
            e->hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
            e->constraint = PQresultErrorField(res,
                                               PG_DIAG_CONSTRAINT_NAME);
            return;
        }
    }
    /* A connection-level failure: no result to read fields from. */
    clean_msg_s(password, secret, PQerrorMessage(pc), e->msg,
                sizeof e->msg);
    e->native = -1;
    if (PQstatus(pc) == CONNECTION_BAD) {
        e->rc = DAL_E_CONNECT;
        e->sqlstate = "08006";
        if (!e->msg[0])
            snprintf(e->msg, sizeof e->msg, "connection lost");
    } else {
        e->rc = DAL_NOMEM;
        e->msg[0] = '\0';
    }
}

/* Record the error a result carries (or the connection's, res NULL),
 * with every field PostgreSQL sent. */
static int result_err(dal_db *db, pg_conn *c, PGresult *res)
{
    dal__pg_err e;

    dal__pg_err_read(c->pc, res, c->password, c->secret, &e);
    return dal__seterr(db, e.rc, e.sqlstate, e.native,
                       e.msg[0] ? e.msg : NULL, e.detail, e.hint,
                       e.constraint);
}

static int conn_err(dal_db *db, pg_conn *c)
{
    return result_err(db, c, NULL);
}

static int nomem(dal_db *db)
{
    return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
}

/* ---- connect ------------------------------------------------------- */

/* Append s to b, percent-encoding all but RFC 3986's unreserved set. */
static int add_encoded(dal__buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[3];

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
            if (dal__buf_addc(b, (char)ch))
                return DAL_NOMEM;
        } else {
            e[0] = '%';
            e[1] = hex[ch >> 4];
            e[2] = hex[ch & 15];
            if (dal__buf_add(b, e, 3))
                return DAL_NOMEM;
        }
    }
    return DAL_OK;
}

/* The URI for libpq: the caller's, less the options libdal took. */
static char *libpq_uri(const dal__url *u)
{
    dal__buf b = {0};
    int i, first = 1;

    if (dal__buf_adds(&b, u->scheme) || dal__buf_addc(&b, ':')
        || dal__buf_adds(&b, u->body))
        goto nomem;
    for (i = 0; i < u->nopts; i++) {
        if (u->opts[i].used)
            continue;
        if (dal__buf_addc(&b, first ? '?' : '&')
            || add_encoded(&b, u->opts[i].key) || dal__buf_addc(&b, '=')
            || add_encoded(&b, u->opts[i].val))
            goto nomem;
        first = 0;
    }
    return b.p;
nomem:
    dal__buf_free(&b);
    return NULL;
}

/*
 * Scrub from msg everything of u that may be a password: the text the
 * redaction hid (raw and percent-decoded) and any password= option.
 */
static void scrub_url(const dal__url *u, char *msg, size_t cap)
{
    char *dec;
    int i;

    if (u->secret) {
        dal__scrub(msg, cap, u->secret);
        dec = dal__url_decode(u->secret, strlen(u->secret), 0);
        if (dec)
            dal__scrub(msg, cap, dec);
        else /* cannot check, so say nothing of libpq's message */
            snprintf(msg, cap, "(message withheld: out of memory)");
        dal__free(dec);
    }
    for (i = 0; i < u->nopts; i++)
        if (!strcmp(u->opts[i].key, "password"))
            dal__scrub(msg, cap, u->opts[i].val);
}

void dal__pg_ignore_notice(void *arg, const char *msg)
{
    /* Notices (e.g. "table does not exist, skipping") are not errors;
     * libpq would print them on stderr. */
    (void)arg;
    (void)msg;
}

int dal__pg_conninfo(dal__url *u, dal__pg_conninfo_t *ci, char *err,
                     size_t errlen)
{
    PQconninfoOption *opts, *o;
    char *perr = NULL, msg[1024];
    dal__kv *kv;
    long n;
    int rc;

    memset(ci, 0, sizeof *ci);
    ci->max_inflight = DAL__PG_MAX_INFLIGHT;
    /* The async driver's pipeline depth; the blocking one accepts it so
     * that one URL serves both. */
    if ((kv = dal__url_opt(u, "max_inflight")) != NULL) {
        if ((rc = dal__url_opt_int(kv, 1, 1000000, &n, err, errlen)))
            return rc;
        ci->max_inflight = (int)n;
    }
    if ((kv = dal__url_opt(u, "pipeline_sync")) != NULL) {
        if (!strcmp(kv->val, "batch")) {
            ci->sync_batch = 1;
        } else if (strcmp(kv->val, "job")) {
            snprintf(err, errlen, "pipeline_sync must be job or batch, "
                     "not '%s'", kv->val);
            return DAL_E_URL;
        }
    }
    ci->keys[0] = "client_encoding";
    ci->vals[0] = "UTF8";
    ci->keys[1] = "dbname";
    ci->keys[2] = "fallback_application_name";
    ci->vals[2] = "libdal";
    ci->uri = libpq_uri(u);
    if (!ci->uri)
        return DAL_NOMEM;
    ci->vals[1] = ci->uri;
    /* libpq's own parser is the authority on its URIs, multi-host
     * included; it also rejects options it does not know. */
    opts = PQconninfoParse(ci->uri, &perr);
    if (!opts) {
        if (!perr) {
            dal__pg_conninfo_free(ci);
            return DAL_NOMEM;
        }
        clean_msg(NULL, perr, msg, sizeof msg);
        scrub_url(u, msg, sizeof msg);
        PQfreemem(perr);
        dal__pg_conninfo_free(ci);
        snprintf(err, errlen, "invalid PostgreSQL URL '%s': %s",
                 u->redacted, msg);
        return DAL_E_URL;
    }
    rc = DAL_OK;
    if (u->secret && !(ci->secret = dal__strdup(u->secret)))
        rc = DAL_NOMEM;
    for (o = opts; rc == DAL_OK && o->keyword; o++)
        if (!strcmp(o->keyword, "password") && o->val && *o->val
            && !(ci->password = dal__strdup(o->val)))
            rc = DAL_NOMEM;
    PQconninfoFree(opts);
    if (rc)
        dal__pg_conninfo_free(ci);
    return rc;
}

void dal__pg_conninfo_free(dal__pg_conninfo_t *ci)
{
    dal__free(ci->uri);
    dal__free(ci->password);
    dal__free(ci->secret);
    ci->uri = ci->password = ci->secret = NULL;
}

int dal__pg_connect_err(const dal__url *u, PGconn *pc, const char *password,
                        char *out, size_t cap)
{
    char msg[1024];
    int bad_option;

    clean_msg_s(password, u->secret, PQerrorMessage(pc), msg, sizeof msg);
    scrub_url(u, msg, sizeof msg);
    /* libpq checks option values (port, sslmode, timeouts...) only when
     * connecting, before any network traffic; its messages for them
     * start with "invalid". Those are URL errors. */
    bad_option = !strncmp(msg, "invalid ", 8);
    snprintf(out, cap, "%s '%s': %s",
             bad_option ? "invalid PostgreSQL URL" : "cannot connect to",
             u->redacted, msg);
    return bad_option ? DAL_E_URL : DAL_E_CONNECT;
}

static int pg_open(dal_db *db, dal__url *u, void **connp)
{
    dal__pg_conninfo_t ci;
    char err[1200];
    pg_conn *c;
    int rc;

    *connp = NULL;
    rc = dal__pg_conninfo(u, &ci, err, sizeof err);
    if (rc == DAL_NOMEM)
        return nomem(db);
    if (rc)
        return dal__seterr(db, rc, "08001", -1, err, NULL, NULL, NULL);
    c = dal__calloc(1, sizeof *c);
    if (!c) {
        dal__pg_conninfo_free(&ci);
        return nomem(db);
    }
    *connp = c;
    c->password = ci.password;
    c->secret = ci.secret;
    ci.password = ci.secret = NULL;
    c->pc = PQconnectdbParams(ci.keys, ci.vals, 1);
    dal__pg_conninfo_free(&ci);
    if (!c->pc)
        return nomem(db);
    if (PQstatus(c->pc) != CONNECTION_OK) {
        rc = dal__pg_connect_err(u, c->pc, c->password, err, sizeof err);
        return dal__seterr(db, rc, "08001", -1, err, NULL, NULL, NULL);
    }
    PQsetNoticeProcessor(c->pc, dal__pg_ignore_notice, NULL);
    return DAL_OK;
}

static void pg_close(void *conn)
{
    pg_conn *c = conn;
    int i;

    if (!c)
        return;
    if (c->pc)
        PQfinish(c->pc);
    for (i = 0; i < c->ntypes; i++)
        dal__free(c->types[i].name);
    dal__free(c->types);
    dal__buf_free(&c->dealloc);
    dal__free(c->password);
    dal__free(c->secret);
    dal__free(c);
}

/*
 * Drop the prepared statements finalized since the last batch, when the
 * session can run commands (not inside a failed transaction). Failures
 * are ignored: a statement that cannot be dropped only costs memory on
 * the server until the session ends.
 */
static void flush_dealloc(pg_conn *c)
{
    PGTransactionStatusType ts = PQtransactionStatus(c->pc);
    PGresult *res;

    if (!c->ndealloc || (ts != PQTRANS_IDLE && ts != PQTRANS_INTRANS))
        return;
    res = PQexec(c->pc, c->dealloc.p);
    PQclear(res);
    c->dealloc.len = 0;
    c->ndealloc = 0;
}

/* ---- statements ---------------------------------------------------- */

static void stmt_free(pg_stmt *s)
{
    int i;

    if (s->cols)
        for (i = 0; i < s->ncols; i++) {
            dal__free(s->cols[i].name);
            dal__free(s->cols[i].buf);
        }
    dal__free(s->cols);
    if (s->params)
        for (i = 0; i < s->nparams; i++)
            dal__free(s->params[i].buf);
    dal__free(s->params);
    dal__free(s->values);
    dal__free(s->lengths);
    dal__free(s->formats);
    dal__free(s->sql);
    PQclear(s->res);
    dal__free(s);
}

static int pg_prepare(dal_db *db, void *conn, const char *sql, size_t len,
                      int nparams, int cached, void **stmt)
{
    pg_conn *c = conn;
    pg_stmt *s;
    PGresult *res;
    int n = nparams ? nparams : 1;

    *stmt = NULL;
    s = dal__calloc(1, sizeof *s);
    if (!s)
        return nomem(db);
    s->c = c;
    s->nparams = nparams;
    s->ncols = -1;
    s->row = -1;
    s->values = dal__calloc((size_t)n, sizeof *s->values);
    s->lengths = dal__calloc((size_t)n, sizeof *s->lengths);
    s->formats = dal__calloc((size_t)n, sizeof *s->formats);
    s->params = dal__calloc((size_t)n, sizeof *s->params);
    if (!s->values || !s->lengths || !s->formats || !s->params) {
        stmt_free(s);
        return nomem(db);
    }
    if (!cached) {
        if (!(s->sql = dal__strndup(sql, len))) {
            stmt_free(s);
            return nomem(db);
        }
        *stmt = s;
        return DAL_OK;
    }
    /* Statements evicted from the cache or finalized are dropped here,
     * in one round trip, so the server never holds more than the caller
     * keeps plus what was finalized since the last prepare. */
    flush_dealloc(c);
    snprintf(s->name, sizeof s->name, "dal_%lu", ++c->next_id);
    res = PQprepare(c->pc, s->name, sql, nparams, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        int rc = result_err(db, c, res);

        PQclear(res);
        stmt_free(s);
        return rc;
    }
    PQclear(res);
    *stmt = s;
    return DAL_OK;
}

static void pg_finalize(void *conn, void *stmt)
{
    pg_conn *c = conn;
    pg_stmt *s = stmt;
    char sql[64];

    if (!s)
        return;
    if (s->name[0] && PQstatus(c->pc) == CONNECTION_OK) {
        /* Queued rather than sent: finalizing must not cost a round trip,
         * and cannot run inside a failed transaction anyway. */
        snprintf(sql, sizeof sql, "DEALLOCATE %s;", s->name);
        if (dal__buf_adds(&c->dealloc, sql) == DAL_OK)
            c->ndealloc++;
    }
    stmt_free(s);
}

static int pg_bind_null(dal_db *db, void *stmt, int idx)
{
    pg_stmt *s = stmt;

    (void)db;
    s->values[idx - 1] = NULL;
    s->lengths[idx - 1] = 0;
    s->formats[idx - 1] = 0;
    return DAL_OK;
}

static int bind_num(pg_stmt *s, int idx, const char *fmt, ...)
    DAL__PRINTF(3, 4);

static int bind_num(pg_stmt *s, int idx, const char *fmt, ...)
{
    pg_param *p = &s->params[idx - 1];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->num, sizeof p->num, fmt, ap);
    va_end(ap);
    s->values[idx - 1] = p->num;
    s->formats[idx - 1] = 0;
    return DAL_OK;
}

/* v in decimal into out (at least 21 bytes), NUL-terminated; its length.
 * Formatted by hand: this is on every insert's and lookup's path, and
 * vsnprintf costs twenty times as much. */
size_t dal__pg_fmt_int64(char *out, int64_t v)
{
    char tmp[24], *t = tmp + sizeof tmp;
    /* Through unsigned, so that INT64_MIN negates without overflow. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n;

    do {
        *--t = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--t = '-';
    n = (size_t)(tmp + sizeof tmp - t);
    memcpy(out, t, n);
    out[n] = '\0';
    return n;
}

static int pg_bind_int64(dal_db *db, void *stmt, int idx, int64_t v)
{
    pg_stmt *s = stmt;
    pg_param *p = &s->params[idx - 1];

    (void)db;
    dal__pg_fmt_int64(p->num, v);
    s->values[idx - 1] = p->num;
    s->formats[idx - 1] = 0;
    return DAL_OK;
}

void dal__pg_fmt_double(char *out, size_t cap, double v)
{
    if (isnan(v))
        snprintf(out, cap, "NaN");
    else if (isinf(v))
        snprintf(out, cap, "%sInfinity", v < 0 ? "-" : "");
    else /* 17 significant digits always read back as the same double */
        snprintf(out, cap, "%.17g", v);
}

static int pg_bind_double(dal_db *db, void *stmt, int idx, double v)
{
    pg_stmt *s = stmt;
    pg_param *p = &s->params[idx - 1];

    (void)db;
    dal__pg_fmt_double(p->num, sizeof p->num, v);
    s->values[idx - 1] = p->num;
    s->formats[idx - 1] = 0;
    return DAL_OK;
}

int dal__pg_param(const dal_value *v, char num[32], const char **val,
                  int *len, int *format)
{
    size_t n;

    *len = 0;
    *format = 0;
    switch (v->type) {
    case DAL_TYPE_NULL:
        *val = NULL;
        return DAL_OK;
    case DAL_TYPE_BOOL:
        /* 1/0, not t/f: valid boolean input, and readable as numbers
         * when the query casts the value (PostgreSQL has no bool ->
         * numeric). */
        *val = v->u.b ? "1" : "0";
        return DAL_OK;
    case DAL_TYPE_INT64:
        dal__pg_fmt_int64(num, v->u.i);
        *val = num;
        return DAL_OK;
    case DAL_TYPE_DOUBLE:
        dal__pg_fmt_double(num, 32, v->u.d);
        *val = num;
        return DAL_OK;
    default:
        n = v->u.s.len;
        if (v->type == DAL_TYPE_TEXT && n == DAL_NTS)
            n = strlen(v->u.s.p);
        if (n > 0x3fffffff)
            return DAL_E_DATA;
        *val = v->u.s.p;
        *len = (int)n;
        *format = v->type == DAL_TYPE_BLOB; /* bytea's raw bytes */
        return DAL_OK;
    }
}

static int pg_bind_bool(dal_db *db, void *stmt, int idx, int v)
{
    (void)db;
    /* 1/0, not t/f: valid boolean input, and readable as numbers when
     * the query casts the value (PostgreSQL has no bool -> numeric). */
    return bind_num(stmt, idx, "%s", v ? "1" : "0");
}

/* Copy n bytes (plus a NUL) into the parameter's own buffer. */
static const char *param_copy(pg_param *p, const void *src, size_t n)
{
    if (n + 1 > p->cap) {
        char *buf = dal__realloc(p->buf, n + 1);

        if (!buf)
            return NULL;
        p->buf = buf;
        p->cap = n + 1;
    }
    memcpy(p->buf, src, n);
    p->buf[n] = '\0';
    return p->buf;
}

static int pg_bind_text(dal_db *db, void *stmt, int idx, const char *str,
                        size_t len, int flags)
{
    pg_stmt *s = stmt;
    const char *v = str;

    if (len > 0x3fffffff)
        return dal__seterrf(db, DAL_E_DATA, "54000", "parameter %d: text "
                            "of %zu bytes is larger than PostgreSQL takes",
                            idx, len);
    /* Text parameters travel NUL-terminated; copy unless the caller's
     * string is terminated and will stay put. */
    if ((flags & DAL_TRANSIENT) || !(flags & DAL__NTS))
        v = param_copy(&s->params[idx - 1], str, len);
    if (!v)
        return nomem(db);
    s->values[idx - 1] = v;
    s->lengths[idx - 1] = (int)len;
    s->formats[idx - 1] = 0;
    return DAL_OK;
}

static int pg_bind_blob(dal_db *db, void *stmt, int idx, const void *p,
                        size_t len, int flags)
{
    pg_stmt *s = stmt;
    const char *v = p;

    if (len > 0x3fffffff)
        return dal__seterrf(db, DAL_E_DATA, "54000", "parameter %d: blob "
                            "of %zu bytes is larger than PostgreSQL takes",
                            idx, len);
    if (flags & DAL_TRANSIENT)
        v = param_copy(&s->params[idx - 1], p, len);
    if (!v)
        return nomem(db);
    s->values[idx - 1] = v;
    s->lengths[idx - 1] = (int)len;
    s->formats[idx - 1] = 1; /* binary: bytea's raw bytes */
    return DAL_OK;
}

static int pg_clear_bindings(void *stmt)
{
    pg_stmt *s = stmt;
    int i;

    for (i = 0; i < s->nparams; i++) {
        s->values[i] = NULL;
        s->formats[i] = 0;
    }
    return DAL_OK;
}

/* Remember the result's column names and types, which outlive it. */
static int describe(dal_db *db, pg_stmt *s, PGresult *res)
{
    int i, n = PQnfields(res);

    if (s->ncols >= 0 && s->ncols == n)
        return DAL_OK;
    if (s->cols)
        for (i = 0; i < s->ncols; i++) {
            dal__free(s->cols[i].name);
            dal__free(s->cols[i].buf);
        }
    dal__free(s->cols);
    s->cols = NULL;
    s->ncols = 0;
    if (n == 0)
        return DAL_OK;
    s->cols = dal__calloc((size_t)n, sizeof *s->cols);
    if (!s->cols)
        return nomem(db);
    s->ncols = n;
    for (i = 0; i < n; i++) {
        s->cols[i].oid = PQftype(res, i);
        s->cols[i].row = -1;
        if (!(s->cols[i].name = dal__strdup(PQfname(res, i))))
            return nomem(db);
    }
    return DAL_OK;
}

/* Number of rows a command status like "UPDATE 3" reports, if DML. */
static void note_changes(pg_conn *c, PGresult *res)
{
    const char *st;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQnfields(res) > 0
        && PQcmdStatus(res)[0] == 'S')
        return; /* a SELECT: the common case, settled cheaply */
    st = PQcmdStatus(res);
    if (!strncmp(st, "INSERT", 6) || !strncmp(st, "UPDATE", 6)
        || !strncmp(st, "DELETE", 6) || !strncmp(st, "MERGE", 5)
        || !strncmp(st, "COPY", 4))
        c->changes = strtoll(PQcmdTuples(res), NULL, 10);
}

/* A COPY started by a plain statement: end it and say how to do it. */
static int refuse_copy(dal_db *db, pg_conn *c, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    PGresult *r;

    PQclear(res);
    if (st == PGRES_COPY_IN)
        PQputCopyEnd(c->pc, "COPY FROM STDIN is not run through dal_step");
    else if (st == PGRES_COPY_BOTH)
        return conn_err(db, c);
    if (st == PGRES_COPY_OUT) {
        char *buf;

        while (PQgetCopyData(c->pc, &buf, 0) > 0)
            PQfreemem(buf);
    }
    while ((r = PQgetResult(c->pc)) != NULL)
        PQclear(r);
    return dal__seterrf(db, DAL_E_UNSUPPORTED, "0A000", "COPY ... STDIN / "
                        "STDOUT cannot be stepped as a statement");
}

static int pg_step(dal_db *db, void *conn, void *stmt)
{
    pg_conn *c = conn;
    pg_stmt *s = stmt;
    PGresult *res;
    int rc;

    if (DAL__LIKELY(s->res != NULL))
        return ++s->row < s->nrows ? DAL_ROW : DAL_DONE;

    if (s->name[0])
        res = PQexecPrepared(c->pc, s->name, s->nparams, s->values,
                             s->lengths, s->formats, 0);
    else
        res = PQexecParams(c->pc, s->sql, s->nparams, NULL, s->values,
                           s->lengths, s->formats, 0);
    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        break;
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        return refuse_copy(db, c, res);
    default:
        rc = result_err(db, c, res);
        PQclear(res);
        return rc;
    }
    if ((rc = describe(db, s, res)) != DAL_OK) {
        PQclear(res);
        return rc;
    }
    note_changes(c, res);
    s->res = res;
    s->nrows = PQntuples(res);
    s->row = 0;
    return s->nrows > 0 ? DAL_ROW : DAL_DONE;
}

static void pg_reset(void *stmt)
{
    pg_stmt *s = stmt;
    int i;

    PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    s->nrows = 0;
    /* The next execution's row 0 is another row: forget decoded bytea. */
    for (i = 0; i < s->ncols; i++)
        s->cols[i].row = -1;
}

static int pg_column_count(void *stmt)
{
    pg_stmt *s = stmt;

    return s->ncols < 0 ? 0 : s->ncols;
}

static const char *pg_column_name(void *stmt, int col)
{
    return ((pg_stmt *)stmt)->cols[col].name;
}

/* The type's name, from the table above or the catalogue (cached). */
static const char *pg_column_decltype(dal_db *db, void *conn, void *stmt,
                                      int col)
{
    pg_conn *c = conn;
    Oid oid = ((pg_stmt *)stmt)->cols[col].oid;
    const char *vals[1];
    char num[16];
    PGresult *res;
    pg_type *t;
    int i;

    for (i = 0; builtin_types[i].name; i++)
        if (builtin_types[i].oid == oid)
            return builtin_types[i].name;
    for (i = 0; i < c->ntypes; i++)
        if (c->types[i].oid == oid)
            return c->types[i].name;
    snprintf(num, sizeof num, "%u", (unsigned)oid);
    vals[0] = num;
    res = PQexecParams(c->pc, "SELECT format_type($1::oid, NULL)", 1, NULL,
                       vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        result_err(db, c, res);
        PQclear(res);
        return NULL;
    }
    t = dal__realloc(c->types, (size_t)(c->ntypes + 1) * sizeof *t);
    if (!t) {
        PQclear(res);
        nomem(db);
        return NULL;
    }
    c->types = t;
    t[c->ntypes].oid = oid;
    t[c->ntypes].name = dal__strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!t[c->ntypes].name) {
        nomem(db);
        return NULL;
    }
    return t[c->ntypes++].name;
}

dal_type dal__pg_oid_type(Oid oid)
{
    switch (oid) {
    case INT2OID: case INT4OID: case INT8OID: case OIDOID:
        return DAL_TYPE_INT64;
    case FLOAT4OID: case FLOAT8OID:
        return DAL_TYPE_DOUBLE;
    case BOOLOID:
        return DAL_TYPE_BOOL;
    case BYTEAOID:
        return DAL_TYPE_BLOB;
    default:
        return DAL_TYPE_TEXT;
    }
}

static dal_type pg_column_type(void *stmt, int col)
{
    pg_stmt *s = stmt;

    if (PQgetisnull(s->res, s->row, col))
        return DAL_TYPE_NULL;
    return dal__pg_oid_type(s->cols[col].oid);
}

static int64_t pg_column_int64(void *stmt, int col)
{
    pg_stmt *s = stmt;
    const char *v = PQgetvalue(s->res, s->row, col);

    if (s->cols[col].oid == BOOLOID)
        return v[0] == 't';
    return dal__text_to_int64(v, (size_t)PQgetlength(s->res, s->row, col));
}

static double pg_column_double(void *stmt, int col)
{
    pg_stmt *s = stmt;
    const char *v = PQgetvalue(s->res, s->row, col);

    if (s->cols[col].oid == BOOLOID)
        return v[0] == 't';
    return dal__text_to_double(v, (size_t)PQgetlength(s->res, s->row, col));
}

static int unhex(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int dal__pg_unbytea(const char *v, size_t n, char **buf, size_t *cap,
                    size_t *len)
{
    size_t i, out;
    unsigned char *raw = NULL;
    const char *src;

    if (n >= 2 && v[0] == '\\' && v[1] == 'x') {
        out = (n - 2) / 2;
        src = v + 2;
    } else {
        /* The old "escape" output format, if the server is set to it. */
        raw = PQunescapeBytea((const unsigned char *)v, &out);
        if (!raw)
            return DAL_NOMEM;
        src = (const char *)raw;
    }
    if (out + 1 > *cap) {
        char *grown = dal__realloc(*buf, out + 1);

        if (!grown) {
            PQfreemem(raw);
            return DAL_NOMEM;
        }
        *buf = grown;
        *cap = out + 1;
    }
    if (raw) {
        memcpy(*buf, raw, out);
        PQfreemem(raw);
    } else {
        for (i = 0; i < out; i++)
            (*buf)[i] = (char)(unhex((unsigned char)src[2 * i]) * 16
                               + unhex((unsigned char)src[2 * i + 1]));
    }
    (*buf)[out] = '\0';
    *len = out;
    return DAL_OK;
}

int dal__pg_value(const PGresult *res, int row, int col, Oid oid,
                  dal_value *out, char **buf, size_t *cap)
{
    const char *v;
    size_t n;

    if (PQgetisnull(res, row, col)) {
        out->type = DAL_TYPE_NULL;
        return DAL_OK;
    }
    v = PQgetvalue(res, row, col);
    n = (size_t)PQgetlength(res, row, col);
    out->type = dal__pg_oid_type(oid);
    switch (out->type) {
    case DAL_TYPE_INT64:
        out->u.i = dal__text_to_int64(v, n);
        return DAL_OK;
    case DAL_TYPE_DOUBLE:
        out->u.d = dal__text_to_double(v, n);
        return DAL_OK;
    case DAL_TYPE_BOOL:
        out->u.b = v[0] == 't';
        return DAL_OK;
    case DAL_TYPE_BLOB:
        if (dal__pg_unbytea(v, n, buf, cap, &n))
            return DAL_NOMEM;
        out->u.s.p = *buf;
        out->u.s.len = n;
        return DAL_OK;
    default:
        out->u.s.p = v;
        out->u.s.len = n;
        return DAL_OK;
    }
}

/* Decode the current row's bytea in column col into the column buffer. */
static const char *bytea(dal_db *db, pg_stmt *s, int col, size_t *len)
{
    pg_col *pc = &s->cols[col];

    if (pc->row != s->row) {
        if (dal__pg_unbytea(PQgetvalue(s->res, s->row, col),
                            (size_t)PQgetlength(s->res, s->row, col),
                            &pc->buf, &pc->cap, &pc->len)) {
            nomem(db);
            return NULL;
        }
        pc->row = s->row;
    }
    if (len)
        *len = pc->len;
    return pc->buf;
}

static const char *pg_column_text(dal_db *db, void *stmt, int col,
                                  size_t *len)
{
    pg_stmt *s = stmt;

    if (s->cols[col].oid == BYTEAOID
        && !PQgetisnull(s->res, s->row, col))
        return bytea(db, s, col, len);
    if (len)
        *len = (size_t)PQgetlength(s->res, s->row, col);
    return PQgetvalue(s->res, s->row, col);
}

static const void *pg_column_blob(dal_db *db, void *stmt, int col,
                                  size_t *len)
{
    return pg_column_text(db, stmt, col, len);
}

/* ---- connection state and transactions ----------------------------- */

static int64_t pg_changes(void *conn)
{
    return ((pg_conn *)conn)->changes;
}

static int pg_in_tx(void *conn)
{
    PGTransactionStatusType ts = PQtransactionStatus(((pg_conn *)conn)->pc);

    return ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR
           || ts == PQTRANS_ACTIVE;
}

/*
 * SET statement_timeout when it differs from what was set. A SET inside a
 * transaction is undone by its rollback, so it is repeated until one is
 * made outside. In a failed transaction nothing can run: the statement
 * about to run fails anyway, so this does nothing.
 */
static int pg_set_timeout(dal_db *db, void *conn, int ms)
{
    pg_conn *c = conn;
    PGTransactionStatusType ts = c->pc ? PQtransactionStatus(c->pc)
                                       : PQTRANS_UNKNOWN;
    PGresult *res;
    char sql[64];
    int rc = DAL_OK;

    if (ms < 0)
        ms = 0;
    if (!c->pc || (c->timeout_kept && c->timeout_ms == ms)
        || (ms == 0 && c->timeout_ms == 0)
        || (ts != PQTRANS_IDLE && ts != PQTRANS_INTRANS))
        return DAL_OK;
    if (ms > 0)
        snprintf(sql, sizeof sql, "SET statement_timeout = %d", ms);
    else
        snprintf(sql, sizeof sql, "RESET statement_timeout");
    res = PQexec(c->pc, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = result_err(db, c, res);
    } else {
        c->timeout_ms = ms;
        c->timeout_kept = ts == PQTRANS_IDLE;
    }
    PQclear(res);
    return rc;
}

int dal__pg_begin_text(int flags, dal__buf *b)
{
    int rc;

    /* The SQLite locking modes have no meaning here: PostgreSQL locks
     * rows as statements touch them. */
    rc = dal__buf_adds(b, "BEGIN");
    if (!rc && (flags & DAL_TX_READ_COMMITTED))
        rc = dal__buf_adds(b, " ISOLATION LEVEL READ COMMITTED");
    if (!rc && (flags & DAL_TX_REPEATABLE_READ))
        rc = dal__buf_adds(b, " ISOLATION LEVEL REPEATABLE READ");
    if (!rc && (flags & DAL_TX_SERIALIZABLE))
        rc = dal__buf_adds(b, " ISOLATION LEVEL SERIALIZABLE");
    if (!rc && (flags & DAL_TX_READ_ONLY))
        rc = dal__buf_adds(b, " READ ONLY");
    if (!rc)
        rc = dal__buf_addc(b, '\0');
    return rc ? DAL_NOMEM : DAL_OK;
}

static int pg_begin_sql(dal_db *db, void *conn, int flags, dal__buf *b)
{
    (void)conn;
    return dal__pg_begin_text(flags, b) ? nomem(db) : DAL_OK;
}

/* Ask the server to cancel what conn runs (PQcancel is thread-safe; a
 * cancel object is made for the call). */
static void pg_interrupt(void *conn)
{
    PGcancel *k = PQgetCancel(((pg_conn *)conn)->pc);
    char err[256];

    if (k) {
        PQcancel(k, err, sizeof err);
        PQfreeCancel(k);
    }
}

static int pg_stale_plan(const dal_db *db)
{
    return !strcmp(dal_sqlstate(db), "0A000")
           && strstr(dal_errmsg(db), "cached plan must not change result");
}

/* ---- COPY FROM STDIN ------------------------------------------------ */

#define COPY_FLUSH 65536

/* v in COPY's text format (a NUL-free run; \N for NULL). */
static int copy_value(dal__buf *b, const dal_value *v)
{
    static const char hex[] = "0123456789abcdef";
    char num[40];
    size_t i, n;

    switch (v->type) {
    case DAL_TYPE_NULL:
        return dal__buf_adds(b, "\\N");
    case DAL_TYPE_BOOL:
        return dal__buf_addc(b, v->u.b ? 't' : 'f');
    case DAL_TYPE_INT64:
        return dal__buf_add(b, num, dal__pg_fmt_int64(num, v->u.i));
    case DAL_TYPE_DOUBLE:
        if (isnan(v->u.d))
            return dal__buf_adds(b, "NaN");
        if (isinf(v->u.d))
            return dal__buf_adds(b, v->u.d < 0 ? "-Infinity" : "Infinity");
        snprintf(num, sizeof num, "%.17g", v->u.d);
        return dal__buf_adds(b, num);
    case DAL_TYPE_TEXT:
        n = v->u.s.len == DAL_NTS ? strlen(v->u.s.p) : v->u.s.len;
        if (dal__buf_reserve(b, 2 * n))
            return DAL_NOMEM;
        for (i = 0; i < n; i++) {
            char ch = v->u.s.p[i];
            const char *esc = ch == '\\' ? "\\\\" : ch == '\t' ? "\\t"
                              : ch == '\n' ? "\\n" : ch == '\r' ? "\\r"
                              : NULL;

            if (esc) {
                b->p[b->len++] = esc[0];
                b->p[b->len++] = esc[1];
            } else {
                b->p[b->len++] = ch;
            }
        }
        return DAL_OK;
    default: /* bytea's hex form, its backslash escaped for COPY */
        n = v->u.s.len;
        if (dal__buf_reserve(b, 3 + 2 * n) || dal__buf_adds(b, "\\\\x"))
            return DAL_NOMEM;
        for (i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)v->u.s.p[i];

            b->p[b->len++] = hex[ch >> 4];
            b->p[b->len++] = hex[ch & 15];
        }
        return DAL_OK;
    }
}

/* End a COPY (with errmsg: abort it) and read its result. */
static int copy_end(dal_db *db, pg_conn *c, const char *errmsg, int rc)
{
    PGresult *res;
    int end = PQputCopyEnd(c->pc, errmsg);

    while ((res = PQgetResult(c->pc)) != NULL) {
        if (rc == DAL_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = result_err(db, c, res);
        else if (rc == DAL_OK)
            note_changes(c, res);
        PQclear(res);
    }
    if (rc == DAL_OK && end != 1)
        rc = conn_err(db, c);
    return rc;
}

static int pg_copy_in(dal_db *db, void *conn, const char *table,
                      const char *const *cols, int ncols, int nrows,
                      int (*row)(void *ctx, int r, dal_value *vals),
                      void *ctx)
{
    pg_conn *c = conn;
    dal__buf b = {0};
    dal_value vals[64];
    PGresult *res;
    int rc = DAL_OK, i, r;

    if (ncols < 1 || ncols > 64)
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "COPY of %d columns",
                            ncols);
    if (dal__buf_adds(&b, "COPY ") || dal__buf_ident(&b, table)
        || dal__buf_adds(&b, " ("))
        goto oom;
    for (i = 0; i < ncols; i++)
        if ((i && dal__buf_adds(&b, ", ")) || dal__buf_ident(&b, cols[i]))
            goto oom;
    if (dal__buf_adds(&b, ") FROM STDIN") || dal__buf_addc(&b, '\0'))
        goto oom;
    res = PQexec(c->pc, b.p);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = result_err(db, c, res);
        PQclear(res);
        dal__buf_free(&b);
        return rc;
    }
    PQclear(res);
    b.len = 0;
    for (r = 0; r < nrows && rc == DAL_OK; r++) {
        if ((rc = row(ctx, r, vals)))
            break;
        for (i = 0; i < ncols && rc == DAL_OK; i++)
            rc = (i && dal__buf_addc(&b, '\t'))
                 || copy_value(&b, &vals[i]) ? nomem(db) : DAL_OK;
        if (rc == DAL_OK && dal__buf_addc(&b, '\n'))
            rc = nomem(db);
        if (rc == DAL_OK && (b.len >= COPY_FLUSH || r == nrows - 1)) {
            if (PQputCopyData(c->pc, b.p, (int)b.len) != 1)
                rc = conn_err(db, c);
            b.len = 0;
        }
    }
    dal__buf_free(&b);
    return copy_end(db, c, rc ? "libdal: COPY stopped by an error" : NULL,
                    rc);
oom:
    dal__buf_free(&b);
    return nomem(db);
}

/* ---- pipelined batches (lib/batch.c) -------------------------------- */

/*
 * A batch's statements go out in pipeline mode, all before the first
 * result is read. While sending, the connection is non-blocking and the
 * server's results are read into libpq's buffer whenever the socket is
 * full: with both sides writing and neither reading, a large batch (or
 * a large result) would otherwise deadlock.
 */
static int pipe_flush(dal_db *db, pg_conn *c)
{
    struct pollfd pfd;
    int r;

    while ((r = PQflush(c->pc)) != 0) {
        if (r < 0)
            return conn_err(db, c);
        pfd.fd = PQsocket(c->pc);
        pfd.events = POLLIN | POLLOUT;
        pfd.revents = 0;
        if (pfd.fd < 0)
            return conn_err(db, c);
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            return dal__seterrf(db, DAL_E_CONNECT, "08006", "poll: %s",
                                strerror(errno));
        if ((pfd.revents & (POLLIN | POLLERR | POLLHUP))
            && !PQconsumeInput(c->pc))
            return conn_err(db, c);
    }
    return DAL_OK;
}

static int pg_pipe_enter(dal_db *db, void *conn)
{
    pg_conn *c = conn;

    /* Queued DEALLOCATEs are a plain query, which pipeline mode would
     * refuse: they go first. */
    flush_dealloc(c);
    if (PQsetnonblocking(c->pc, 1) != 0)
        return conn_err(db, c);
    if (PQenterPipelineMode(c->pc) != 1) {
        PQsetnonblocking(c->pc, 0);
        return conn_err(db, c);
    }
    return DAL_OK;
}

static int pg_pipe_send(dal_db *db, void *conn, void *stmt)
{
    pg_conn *c = conn;
    pg_stmt *s = stmt;
    int ok;

    if (s->name[0])
        ok = PQsendQueryPrepared(c->pc, s->name, s->nparams, s->values,
                                 s->lengths, s->formats, 0);
    else
        ok = PQsendQueryParams(c->pc, s->sql, s->nparams, NULL, s->values,
                               s->lengths, s->formats, 0);
    if (ok != 1)
        return conn_err(db, c);
    return pipe_flush(db, c);
}

static int pg_pipe_sync(dal_db *db, void *conn)
{
    pg_conn *c = conn;

    if (PQpipelineSync(c->pc) != 1)
        return conn_err(db, c);
    return pipe_flush(db, c);
}

/* The NULL that ends one statement's results in pipeline mode. */
static void pipe_end_of_stmt(pg_conn *c)
{
    PGresult *extra;

    while ((extra = PQgetResult(c->pc)) != NULL)
        PQclear(extra);
}

static int pg_pipe_recv(dal_db *db, void *conn, void *stmt)
{
    pg_conn *c = conn;
    pg_stmt *s = stmt;
    PGresult *res;
    int rc;

    /* Results are read blocking: everything was sent. */
    if (PQisnonblocking(c->pc))
        PQsetnonblocking(c->pc, 0);
    PQclear(s->res);
    s->res = NULL;
    res = PQgetResult(c->pc);
    if (!res)
        return conn_err(db, c);
    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        break;
    case PGRES_PIPELINE_ABORTED:
        PQclear(res);
        pipe_end_of_stmt(c);
        return dal__seterrf(db, DAL_E_TX, "25P02", "not run: an earlier "
                            "statement of the batch failed");
    default:
        rc = result_err(db, c, res);
        PQclear(res);
        pipe_end_of_stmt(c);
        return rc;
    }
    pipe_end_of_stmt(c);
    if ((rc = describe(db, s, res)) != DAL_OK) {
        PQclear(res);
        return rc;
    }
    note_changes(c, res);
    s->res = res;
    s->nrows = PQntuples(res);
    s->row = -1; /* the first step() gives row 0 */
    return DAL_OK;
}

static int pg_pipe_sync_recv(dal_db *db, void *conn)
{
    pg_conn *c = conn;
    PGresult *res = PQgetResult(c->pc);
    int ok = res && PQresultStatus(res) == PGRES_PIPELINE_SYNC;

    PQclear(res);
    return ok ? DAL_OK : conn_err(db, c);
}

static int pg_pipe_leave(dal_db *db, void *conn)
{
    pg_conn *c = conn;
    int rc = DAL_OK;

    if (PQisnonblocking(c->pc))
        PQsetnonblocking(c->pc, 0);
    if (PQexitPipelineMode(c->pc) != 1) {
        /* Only a broken connection leaves results unread here. */
        rc = conn_err(db, c);
    }
    return rc;
}

static void pg_pipe_note(void *conn, void *stmt)
{
    pg_stmt *s = stmt;

    if (s->res)
        note_changes(conn, s->res);
}

static const struct dal__pipe pg_pipe = {
    .enter = pg_pipe_enter,
    .send = pg_pipe_send,
    .sync = pg_pipe_sync,
    .recv = pg_pipe_recv,
    .sync_recv = pg_pipe_sync_recv,
    .leave = pg_pipe_leave,
    .note = pg_pipe_note,
};

/* ---- notifications ------------------------------------------------- */

static int pg_wait_notify(dal_db *db, void *conn, int timeout_ms,
                          char **channel, char **payload, int *pid)
{
    pg_conn *c = conn;
    int64_t deadline = timeout_ms >= 0
                       ? dal_clock_ns() / 1000000 + timeout_ms : -1;
    struct pollfd pfd;
    PGnotify *n;
    int wait;

    for (;;) {
        if (!PQconsumeInput(c->pc) || PQstatus(c->pc) == CONNECTION_BAD)
            return dal__seterrf(db, DAL_E_CONNECT, "08006", "the "
                                "connection was lost while waiting for "
                                "notifications");
        n = PQnotifies(c->pc);
        if (n) {
            *channel = dal__strdup(n->relname);
            *payload = dal__strdup(n->extra ? n->extra : "");
            *pid = n->be_pid;
            PQfreemem(n);
            if (!*channel || !*payload) {
                dal__free(*channel);
                dal__free(*payload);
                *channel = *payload = NULL;
                return nomem(db);
            }
            return DAL_OK;
        }
        if (deadline < 0) {
            wait = -1;
        } else {
            int64_t left = deadline - dal_clock_ns() / 1000000;

            if (left <= 0)
                return dal__seterrf(db, DAL_E_TIMEOUT, "57014", "no "
                                    "notification within %d ms",
                                    timeout_ms);
            wait = left > 60000 ? 60000 : (int)left;
        }
        pfd.fd = PQsocket(c->pc);
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (pfd.fd < 0)
            return dal__seterrf(db, DAL_E_CONNECT, "08006", "the "
                                "connection has no socket");
        if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
            return dal__seterrf(db, DAL_E_CONNECT, "08006", "poll: %s",
                                strerror(errno));
    }
}

static int pg_reconnect(dal_db *db, void *conn)
{
    pg_conn *c = conn;

    PQreset(c->pc);
    if (PQstatus(c->pc) != CONNECTION_OK)
        return conn_err(db, c);
    /* The new session has none of the old one's prepared statements:
     * nothing is left to deallocate, and type names stay valid. */
    c->dealloc.len = 0;
    c->ndealloc = 0;
    /* Nor its statement_timeout: the guard sets it again. */
    c->timeout_ms = 0;
    c->timeout_kept = 0;
    PQsetNoticeProcessor(c->pc, dal__pg_ignore_notice, NULL);
    return DAL_OK;
}

/*
 * What DISCARD ALL does, except DEALLOCATE ALL and DISCARD PLANS: the
 * statement cache keeps its server-side prepared statements across
 * checkouts. The statement_timeout that RESET ALL lifts is forgotten,
 * so that the guard sets it again.
 */
static int pg_reset_sql(dal_db *db, void *conn, dal__buf *b)
{
    static const char sql[] = "CLOSE ALL\0SET SESSION AUTHORIZATION "
                              "DEFAULT\0RESET ALL\0UNLISTEN *\0SELECT "
                              "pg_advisory_unlock_all()\0DISCARD TEMP";
    pg_conn *c = conn;

    c->timeout_ms = 0;
    c->timeout_kept = 0;
    if (dal__buf_add(b, sql, sizeof sql))
        return nomem(db);
    return DAL_OK;
}

static const char *const pg_schemes[] = {"postgres", "postgresql", NULL};

/* ---- streaming replication (the cluster's probes) ------------------ */

int dal__pg_lsn_parse(const char *s, uint64_t *lsn)
{
    unsigned long long hi, lo;
    char *end;

    if (!s || !isxdigit((unsigned char)s[0]))
        return DAL_E_DATA;
    errno = 0;
    hi = strtoull(s, &end, 16);
    if (*end != '/' || errno || hi > UINT32_MAX
        || !isxdigit((unsigned char)end[1]))
        return DAL_E_DATA;
    lo = strtoull(end + 1, &end, 16);
    if (*end || errno || lo > UINT32_MAX)
        return DAL_E_DATA;
    *lsn = (uint64_t)hi << 32 | (uint64_t)lo;
    return DAL_OK;
}

/*
 * The lag is 0 when everything received has been replayed: otherwise an
 * idle primary would make a caught-up replica look ever further behind,
 * since pg_last_xact_replay_timestamp() is the time of the last commit.
 */
static const char probe_sql[] =
    "SELECT pg_is_in_recovery(), "
    "COALESCE(pg_last_wal_replay_lsn()::text, ''), "
    "CASE WHEN NOT pg_is_in_recovery() "
    "OR pg_last_wal_receive_lsn() IS NULL "
    "OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE((1000 * extract(epoch FROM now() "
    "- pg_last_xact_replay_timestamp()))::int8, 0) END";

/* The driver's replica_probe: one round trip. */
static int pg_replica_probe(dal_db *db, dal__probe *p)
{
    dal_stmt *st;
    const char *lsn;
    int rc;

    memset(p, 0, sizeof *p);
    rc = dal_prepare(db, probe_sql, &st);
    if (rc)
        return rc;
    rc = dal_step(st);
    if (rc == DAL_ROW) {
        p->in_recovery = dal_column_int64(st, 0) != 0;
        lsn = dal_column_text(st, 1, NULL);
        p->lag_ms = dal_column_int64(st, 2);
        if (p->lag_ms < 0)
            p->lag_ms = 0;
        rc = DAL_OK;
        if (p->in_recovery && lsn && lsn[0]
            && dal__pg_lsn_parse(lsn, &p->replay_lsn))
            rc = dal__seterrf(db, DAL_E_DATA, NULL, "unexpected replay "
                              "LSN '%s' from the server", lsn);
    } else if (rc == DAL_DONE) {
        rc = dal__seterrf(db, DAL_ERROR, NULL, "the probe returned no "
                          "row");
    }
    dal_finalize(st);
    return rc;
}

/* The driver's wal_position. */
static int pg_wal_position(dal_db *db, uint64_t *lsn)
{
    char *s = NULL;
    int rc;

    /* The insert position, not pg_current_wal_lsn() (the write
     * position): under synchronous_commit=off a commit record may still
     * sit in the WAL buffers, before the write position, and a replica
     * that replayed up to that would not yet have the commit. */
    rc = dal_query_text(db, "SELECT CASE WHEN pg_is_in_recovery() THEN "
                        "pg_last_wal_replay_lsn() "
                        "ELSE pg_current_wal_insert_lsn() END::text",
                        NULL, 0, &s, NULL);
    if (rc == DAL_DONE || (rc == DAL_OK && !s))
        rc = dal__seterrf(db, DAL_ERROR, NULL, "the server knows no WAL "
                          "position");
    else if (rc == DAL_OK && dal__pg_lsn_parse(s, lsn))
        rc = dal__seterrf(db, DAL_E_DATA, NULL, "unexpected LSN '%s' from "
                          "the server", s);
    dal_free(s);
    return rc;
}

const struct dal_driver dal__pg_driver = {
    .name = "postgres",
    .system = "postgresql",
    .schemes = pg_schemes,
    .param_marker = '$',
    .dialect = &dal__pg_dialect,
    .open = pg_open,
    .close = pg_close,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .bind_null = pg_bind_null,
    .bind_int64 = pg_bind_int64,
    .bind_double = pg_bind_double,
    .bind_bool = pg_bind_bool,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .clear_bindings = pg_clear_bindings,
    .step = pg_step,
    .reset = pg_reset,
    .column_count = pg_column_count,
    .column_name = pg_column_name,
    .column_decltype = pg_column_decltype,
    .column_type = pg_column_type,
    .column_int64 = pg_column_int64,
    .column_double = pg_column_double,
    .column_text = pg_column_text,
    .column_blob = pg_column_blob,
    .changes = pg_changes,
    .last_id_sql = "SELECT lastval()",
    .in_tx = pg_in_tx,
    .set_timeout = pg_set_timeout,
    .begin_sql = pg_begin_sql,
    .end_sql = NULL,
    .stale_plan = pg_stale_plan,
    .copy_in = pg_copy_in,
    .wait_notify = pg_wait_notify,
    .reconnect = pg_reconnect,
    .pipe = &pg_pipe,
    .replica_probe = pg_replica_probe,
    .wal_position = pg_wal_position,
    .reset_sql = pg_reset_sql,
    .schema_set_sql = "SET search_path TO ",
    .async = &dal__pg_adriver,
    .interrupt = pg_interrupt,
};
