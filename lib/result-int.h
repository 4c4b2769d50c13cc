/*
 * result-int.h - the layout of a dal_result, shared by the result cache
 * (rcache.c: one block, built at once) and the async core (result.c:
 * built row by row by a backend, in separate parts).
 */
#ifndef DAL_RESULT_INT_H
#define DAL_RESULT_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "dal-int.h"

struct dal__rchunk;

struct dal_result {
    atomic_long refs;
    int ncols;
    int64_t nrows;
    size_t size;
    const char **names;
    dal_value *cells;
    /* Set only for a result built row by row (dal__result_*): names,
     * cells and the arena of text are then allocations of their own,
     * freed by dal__result_free_parts(). rcache's results are one block
     * with these zero. */
    int parts;
    int64_t caprows;
    struct dal__rchunk *arena;
    int64_t changes;         /* rows changed (async statements) */
    /* Set only for a result sized at once (dal__result_sized): one
     * block like rcache's (parts zero), whose text bytes not used yet
     * run from bp to bend. */
    char *bp, *bend;
};

/* Free a result built row by row (its last reference is gone). */
void dal__result_free_parts(struct dal_result *r);

#endif /* DAL_RESULT_INT_H */
