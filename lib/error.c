/*
 * error.c - result codes, their descriptions, and the last error a
 * connection keeps (code, message, SQLSTATE, detail, hint, constraint
 * and the backend's native code).
 */
#include <stdio.h>
#include <string.h>

#include "dal-int.h"

const char *dal_version(void)
{
    return DAL_VERSION_STRING;
}

int dal_version_num(void)
{
    return DAL_VERSION_NUM;
}

const char *dal_errstr(int rc)
{
    switch (rc) {
    case DAL_OK: return "not an error";
    case DAL_ERROR: return "database error";
    case DAL_NOMEM: return "out of memory";
    case DAL_E_MISUSE: return "bad argument or call out of sequence";
    case DAL_E_RANGE: return "index or name out of range";
    case DAL_E_URL: return "malformed database URL";
    case DAL_E_CONNECT: return "connection failed or lost";
    case DAL_E_CONSTRAINT: return "integrity constraint violated";
    case DAL_E_SYNTAX: return "syntax error or access rule violation";
    case DAL_E_DATA: return "invalid data for the type";
    case DAL_E_BUSY:
        return "lock not available or serialization failure (retryable)";
    case DAL_E_READONLY: return "write in a read-only transaction";
    case DAL_E_TX: return "invalid transaction state";
    case DAL_E_UNSUPPORTED: return "not supported by this backend";
    case DAL_E_CANCELED: return "statement canceled";
    case DAL_E_TIMEOUT: return "timed out";
    case DAL_E_CLOSED: return "handle closed";
    case DAL_E_POOL_TIMEOUT: return "no pooled connection became free";
    case DAL_E_REFUSED: return "statement refused by a guard";
    case DAL_E_RATE_LIMITED: return "rate limit exceeded";
    case DAL_ROW: return "row ready";
    case DAL_DONE: return "statement done";
    default: return "unknown error";
    }
}

int dal_is_retryable(int rc)
{
    return rc == DAL_E_BUSY;
}

/*
 * The SQLSTATE that stands for a code when the backend gave none, chosen
 * so that the class matches what dal__rc_from_sqlstate() maps back.
 */
static const char *default_sqlstate(int rc)
{
    switch (rc) {
    case DAL_OK: return "00000";
    case DAL_NOMEM: return "53200";
    case DAL_E_MISUSE: return "22023";
    case DAL_E_RANGE: return "42P02";
    case DAL_E_URL: return "08001";
    case DAL_E_CONNECT: return "08006";
    case DAL_E_CONSTRAINT: return "23000";
    case DAL_E_SYNTAX: return "42601";
    case DAL_E_DATA: return "22000";
    case DAL_E_BUSY: return "55P03";
    case DAL_E_READONLY: return "25006";
    case DAL_E_TX: return "25000";
    case DAL_E_UNSUPPORTED: return "0A000";
    case DAL_E_CANCELED: return "57014";
    case DAL_E_TIMEOUT: return "57014";
    case DAL_E_CLOSED: return "08003";
    case DAL_E_POOL_TIMEOUT: return "08004";
    case DAL_E_REFUSED: return "42501";
    case DAL_E_RATE_LIMITED: return "53400";
    default: return "HY000";
    }
}

const char *dal__default_sqlstate(int rc)
{
    return default_sqlstate(rc);
}

int dal__rc_from_sqlstate(const char *s)
{
    if (!s || strlen(s) != 5)
        return DAL_ERROR;
    if (!strcmp(s, "40001") || !strcmp(s, "40P01") || !strcmp(s, "55P03"))
        return DAL_E_BUSY;
    if (!strcmp(s, "25006"))
        return DAL_E_READONLY;
    if (!strcmp(s, "57014"))
        return DAL_E_CANCELED;
    if (!strcmp(s, "53200"))
        return DAL_ERROR; /* the server ran out of memory, not us */
    if (!strncmp(s, "08", 2))
        return DAL_E_CONNECT;
    if (!strncmp(s, "23", 2))
        return DAL_E_CONSTRAINT;
    if (!strncmp(s, "42", 2))
        return DAL_E_SYNTAX;
    if (!strncmp(s, "22", 2))
        return DAL_E_DATA;
    if (!strncmp(s, "25", 2) || !strcmp(s, "55000"))
        return DAL_E_TX;
    if (!strncmp(s, "0A", 2))
        return DAL_E_UNSUPPORTED;
    return DAL_ERROR;
}

static void err_free_strings(struct dal__err *e)
{
    dal__free(e->msg);
    dal__free(e->detail);
    dal__free(e->hint);
    dal__free(e->constraint);
    e->msg = e->detail = e->hint = e->constraint = NULL;
}

void dal__clearerr(dal_db *db)
{
    struct dal__err *e = &db->err;

    if (e->code == DAL_OK && !e->msg)
        return;
    err_free_strings(e);
    e->code = DAL_OK;
    e->native = 0;
    memcpy(e->sqlstate, "00000", 6);
}

static char *dup_or_null(const char *s)
{
    return s ? dal__strdup(s) : NULL;
}

int dal__seterr(dal_db *db, int rc, const char *sqlstate, int native,
                const char *msg, const char *detail, const char *hint,
                const char *constraint)
{
    struct dal__err *e = &db->err;
    char *m, *d, *h, *c;

    /* Copy first: msg may point into the error being replaced. */
    m = dup_or_null(msg);
    d = dup_or_null(detail);
    h = dup_or_null(hint);
    c = dup_or_null(constraint);
    err_free_strings(e);
    e->msg = m;
    e->detail = d;
    e->hint = h;
    e->constraint = c;
    e->code = rc;
    e->native = native;
    if (!sqlstate || strlen(sqlstate) != 5)
        sqlstate = default_sqlstate(rc);
    memcpy(e->sqlstate, sqlstate, 6);
    return rc;
}

int dal__seterrf(dal_db *db, int rc, const char *sqlstate, const char *fmt,
                 ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dal__seterr(db, rc, sqlstate, 0, msg, NULL, NULL, NULL);
}

int dal_errcode(const dal_db *db)
{
    return db ? db->err.code : DAL_NOMEM;
}

const char *dal_errmsg(const dal_db *db)
{
    if (!db)
        return dal_errstr(DAL_NOMEM);
    if (db->err.msg)
        return db->err.msg;
    return dal_errstr(db->err.code);
}

const char *dal_sqlstate(const dal_db *db)
{
    return db ? db->err.sqlstate : "53200";
}

const char *dal_errdetail(const dal_db *db)
{
    return db ? db->err.detail : NULL;
}

const char *dal_errhint(const dal_db *db)
{
    return db ? db->err.hint : NULL;
}

const char *dal_errconstraint(const dal_db *db)
{
    return db ? db->err.constraint : NULL;
}

int dal_errnative(const dal_db *db)
{
    return db ? db->err.native : 0;
}
