/*
 * acore-int.h - names shared by the async core's own files (async.c,
 * athread.c, result.c) and nobody else. Backends use async-int.h only.
 */
#ifndef DAL_ACORE_INT_H
#define DAL_ACORE_INT_H

#include "async-int.h"

/* The thread glue (athread.c): the async driver the core uses for a
 * driver whose async field is NULL. */
extern const struct dal__adriver dal__athread;

/* The URL c was opened with, as the caller wrote it (async.c). */
const char *dal__aconn_rawurl(const dal__aconn *c);

/* result.c */
void dal__result_set_changes(dal_result *r, int64_t n);

/* model.c: the checks and SELECT of a model load, without a
 * connection (the message in err); and a result's rows decoded into a
 * set (DAL_NOMEM, DAL_E_RANGE when the result has too few columns). */
int dal__model_select(const dal_model *m, dal_expr *cond, dal_expr *order,
                      int64_t limit, int flags, dal_query **q, char *err,
                      size_t errlen);
int dal__model_rows(const dal_model *m, const dal_result *res,
                    dal_rows **out);

#endif /* DAL_ACORE_INT_H */
