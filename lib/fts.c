/*
 * fts.c - full-text search set-up (dal_fts_create). What it creates is
 * the dialect's; this file checks the names and runs the statements in
 * one transaction, so that a failure leaves nothing half made.
 */
#include <stdio.h>
#include <string.h>

#include "dal-int.h"

int dal__ident_check(const char *s, const char *what, char *err,
                     size_t errlen)
{
    const unsigned char *p;

    if (!s || !*s) {
        snprintf(err, errlen, "%s is %s", what, s ? "empty" : "NULL");
        return DAL_E_MISUSE;
    }
    for (p = (const unsigned char *)s; *p; p++)
        if (*p == '"' || *p == '\'' || *p < 0x20) {
            snprintf(err, errlen, "%s '%.64s' contains a quote or a "
                     "control character", what, s);
            return DAL_E_MISUSE;
        }
    if (!dal__utf8_valid(s, strlen(s))) {
        snprintf(err, errlen, "%s is not valid UTF-8", what);
        return DAL_E_MISUSE;
    }
    return DAL_OK;
}

int dal_fts_create(dal_db *db, const char *table, const char *const *cols,
                   int ncols)
{
    dal__buf b = {0};
    const char *p;
    char err[160];
    int rc, i;

    if (!db)
        return DAL_E_MISUSE;
    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, "08003", "the connection is "
                            "not open");
    rc = dal__ident_check(table, "table name", err, sizeof err);
    if (!rc && (ncols < 1 || !cols)) {
        snprintf(err, sizeof err, "dal_fts_create needs at least one "
                 "column");
        rc = DAL_E_MISUSE;
    }
    for (i = 0; !rc && i < ncols; i++)
        rc = dal__ident_check(cols[i], "column name", err, sizeof err);
    if (rc)
        return dal__seterr(db, rc, NULL, 0, err, NULL, NULL, NULL);
    if (db->drv->dialect->fts_create_sql(&b, table, cols, ncols)) {
        dal__buf_free(&b);
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    }
    rc = dal_begin(db, 0);
    for (p = b.p; rc == DAL_OK && p < b.p + b.len; p += strlen(p) + 1)
        rc = dal_exec(db, p);
    dal__buf_free(&b);
    if (rc == DAL_OK)
        return dal_commit(db);
    dal__rollback_keep_error(db);
    return rc;
}
