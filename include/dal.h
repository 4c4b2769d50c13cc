/*
 * dal.h - libdal, one C API for SQLite and PostgreSQL.
 *
 * Include this header and link with `pkg-config --libs dal`. It includes
 * every public header except dal/async.h, the only one that needs uv.h.
 * Overview: man 7 dal.
 */
#ifndef DAL_H
#define DAL_H

#include "dal/core.h"
#include "dal/query.h"
#include "dal/schema.h"
#include "dal/migrate.h"
#include "dal/model.h"
#include "dal/observe.h"
#include "dal/guard.h"
#include "dal/notify.h"
#include "dal/log.h"
#include "dal/trace.h"
#include "dal/rcache.h"
#include "dal/metrics.h"
#include "dal/pool.h"

#endif /* DAL_H */
