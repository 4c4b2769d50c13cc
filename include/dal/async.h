/*
 * dal/async.h - libdal on a libuv loop: the only public header that
 * includes uv.h (not included by dal.h).
 *
 * (Being written: the async core's API lands here with issue 6.)
 */
#ifndef DAL_ASYNC_H
#define DAL_ASYNC_H

#include <uv.h>

#include "dal/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows of a statement run asynchronously, owned by whoever holds them. */
typedef struct dal_result dal_result;

#ifdef __cplusplus
}
#endif

#endif /* DAL_ASYNC_H */
