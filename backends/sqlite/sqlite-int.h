/*
 * sqlite-int.h - names shared by the SQLite driver's files.
 */
#ifndef DAL_SQLITE_INT_H
#define DAL_SQLITE_INT_H

#include "dal-int.h"

/* Schema operations (schema.c). */
int dal__sq_literal(dal__cc *cc, const dal_value *v);
int dal__sq_table_read(dal_db *db, const char *name, dal_table **t);
int dal__sq_schema_read(dal_db *db, dal_schema *s);
int dal__sq_rebuild(dal_db *db, const dal_table *t, const char *const *keep,
                    int nkeep, dal__buf *script);

#endif /* DAL_SQLITE_INT_H */
