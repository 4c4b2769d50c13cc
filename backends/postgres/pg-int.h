/*
 * pg-int.h - names shared by the PostgreSQL driver's files.
 */
#ifndef DAL_PG_INT_H
#define DAL_PG_INT_H

#include "dal-int.h"

/* Schema operations (schema.c). */
int dal__pg_literal(dal__cc *cc, const dal_value *v);
int dal__pg_table_read(dal_db *db, const char *name, dal_table **t);
int dal__pg_schema_read(dal_db *db, dal_schema *s);

/* Read EXPLAIN (FORMAT JSON)'s result into plan (explain.c). */
int dal__pg_explain_read(dal_db *db, dal_stmt *st, dal_plan *plan);

#endif /* DAL_PG_INT_H */
