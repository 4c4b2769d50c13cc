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
    /* Nonzero for a result the async core's dal__result_* built, freed
     * by dal__result_free_parts() (dal_result_free calls it):
     * RESULT_ROWS: built row by row, names, cells and the arena of text
     * allocations of their own; RESULT_SHARED: one block (as below)
     * whose names belong to names_of, a reference it holds. rcache's
     * results, and sized ones with their own names, are one block with
     * this zero. */
    int parts;
    int64_t caprows;
    struct dal__rchunk *arena;
    int64_t changes;         /* rows changed (async statements) */
    /* Set only for a result sized at once (dal__result_sized): one
     * block like rcache's, whose text bytes not used yet run from bp to
     * bend. */
    char *bp, *bend;
    struct dal_result *names_of;
};

#define RESULT_ROWS 1
#define RESULT_SHARED 2

/* Free a result whose parts is nonzero (its last reference is gone). */
void dal__result_free_parts(struct dal_result *r);

#endif /* DAL_RESULT_INT_H */
