/*
 * driver.c - the table of backends the core can open. Adding a backend
 * is one folder under backends/ and one line here.
 */
#include "dal-int.h"

const struct dal_driver *const dal__drivers[] = {
    &dal__sqlite_driver,
    &dal__pg_driver,
    NULL
};
