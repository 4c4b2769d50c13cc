/*
 * pg-int.h - names shared by the PostgreSQL driver's files.
 */
#ifndef DAL_PG_INT_H
#define DAL_PG_INT_H

#include <libpq-fe.h>

#include "dal-int.h"

/* Type OIDs from PostgreSQL's catalogue (pg_type.dat); stable forever. */
#define BOOLOID 16
#define BYTEAOID 17
#define INT8OID 20
#define INT2OID 21
#define INT4OID 23
#define OIDOID 26
#define FLOAT4OID 700
#define FLOAT8OID 701

/* The async glue (async.c, lib/async-int.h). */
extern const struct dal__adriver dal__pg_adriver;

/* The BEGIN statement for dal_begin()'s flags, appended to b with its
 * NUL (pg.c). DAL_OK or DAL_NOMEM. */
int dal__pg_begin_text(int flags, dal__buf *b);

/* ---- shared by the blocking driver (pg.c) and the async one (async.c) */

/* Jobs in flight on one async connection unless the URL says
 * max_inflight=N. */
#define DAL__PG_MAX_INFLIGHT 256

/*
 * What libpq is given to connect: keys/vals for PQconnectdbParams or
 * PQconnectStartParams (with expand_dbname 1), built from the URL less
 * libdal's options. uri, password and secret are dal__malloc'd (free
 * them with dal__pg_conninfo_free, or take them over); password and
 * secret are scrubbed from every message.
 */
typedef struct dal__pg_conninfo_t {
    const char *keys[4];
    const char *vals[4];
    char *uri;
    char *password;    /* the password libpq will send, or NULL */
    char *secret;      /* what the URL's redaction hid, or NULL */
    int max_inflight;  /* max_inflight=N, for the async driver */
    int sync_batch;    /* pipeline_sync=batch (else job), the same */
} dal__pg_conninfo_t;

/* DAL_OK, DAL_NOMEM, or DAL_E_URL with a message in err (no password). */
int dal__pg_conninfo(dal__url *u, dal__pg_conninfo_t *ci, char *err,
                     size_t errlen);
void dal__pg_conninfo_free(dal__pg_conninfo_t *ci);
/* The message for a connection attempt that failed, into out; returns
 * DAL_E_URL (libpq refused an option's value) or DAL_E_CONNECT. */
int dal__pg_connect_err(const dal__url *u, PGconn *pc, const char *password,
                        char *out, size_t cap);
/* A notice processor that drops notices (libpq prints them). */
void dal__pg_ignore_notice(void *arg, const char *msg);

/*
 * An error read from a result (or from the connection when res is NULL
 * or carries no SQLSTATE while the connection is bad). msg is cleaned
 * of passwords; sqlstate, detail, hint and constraint point into res
 * (or are static) and live as long as it.
 */
typedef struct dal__pg_err {
    int rc;
    int native;
    const char *sqlstate;
    char msg[1024];
    const char *detail, *hint, *constraint;
} dal__pg_err;
void dal__pg_err_read(PGconn *pc, const PGresult *res, const char *password,
                      const char *secret, dal__pg_err *e);

/* v in decimal into out (at least 21 bytes), NUL-terminated; its length. */
size_t dal__pg_fmt_int64(char *out, int64_t v);
/* v as PostgreSQL reads it back exactly (NaN, Infinity too). */
void dal__pg_fmt_double(char *out, size_t cap, double v);
/*
 * A parameter for PQsendQueryParams: *val (text in PostgreSQL's input
 * form, NUL-terminated, or a blob's bytes with *format 1; NULL for
 * NULL), *len, *format. Numbers are written into num. Text must be
 * NUL-terminated at its length. DAL_OK or DAL_E_DATA (too long).
 */
int dal__pg_param(const dal_value *v, char num[32], const char **val,
                  int *len, int *format);
/* The dal_type a column of type oid reads as. */
dal_type dal__pg_oid_type(Oid oid);
/* Decode a bytea's text form (hex or escape) into *buf (grown as
 * needed, NUL-terminated); DAL_OK or DAL_NOMEM. */
int dal__pg_unbytea(const char *v, size_t n, char **buf, size_t *cap,
                    size_t *len);
/* Row row, column col of res as a dal_value (text points into res, a
 * blob into *buf, decoded); DAL_OK or DAL_NOMEM. */
int dal__pg_value(const PGresult *res, int row, int col, Oid oid,
                  dal_value *out, char **buf, size_t *cap);

/* Schema operations (schema.c). */
int dal__pg_literal(dal__cc *cc, const dal_value *v);
int dal__pg_table_read(dal_db *db, const char *name, dal_table **t);
int dal__pg_schema_read(dal_db *db, dal_schema *s);

/* Read EXPLAIN (FORMAT JSON)'s result into plan (explain.c). */
int dal__pg_explain_read(dal_db *db, dal_stmt *st, dal_plan *plan);

/* Parse "X/Y" (pg_lsn's text form) into *lsn; DAL_E_DATA when
 * malformed (pg.c). */
int dal__pg_lsn_parse(const char *s, uint64_t *lsn);

#endif /* DAL_PG_INT_H */
