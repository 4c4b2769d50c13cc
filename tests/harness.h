/*
 * tests/harness.h - the counting allocator the Check suites install with
 * dal_set_allocator() before any other libdal call: it counts the blocks
 * libdal holds (live_blocks; a test compares it with base_blocks, taken
 * when it started, to prove nothing leaked) and can fail libdal's N-th
 * allocation (nomem_arm(N); fail_hit says whether it did), for the
 * allocation-failure tests. The counters are atomic, so libdal's own
 * threads (the async thread glue) may allocate too; included by one .c
 * file per test binary, so its definitions are static.
 */
#ifndef DAL_TESTS_HARNESS_H
#define DAL_TESTS_HARNESS_H

#include <stdlib.h>

static _Atomic long live_blocks;  /* blocks libdal holds */
static long base_blocks;  /* live_blocks when the test started */

/* Failure injection: while fail_at is N > 0, libdal's N-th allocation
 * since nomem_arm() returns NULL. */
static _Atomic long fail_at;
static _Atomic long fail_seq;
static _Atomic int fail_hit;

static int inject_failure(void)
{
    if (fail_at <= 0 || ++fail_seq != fail_at)
        return 0;
    fail_hit = 1;
    return 1;
}

static void *c_malloc(size_t n)
{
    void *p;

    if (inject_failure())
        return NULL;
    p = malloc(n);
    if (p)
        live_blocks++;
    return p;
}

static void *c_realloc(void *p, size_t n)
{
    void *q;

    if (inject_failure())
        return NULL;
    q = realloc(p, n);
    if (q && !p)
        live_blocks++;
    return q;
}

static void c_free(void *p)
{
    if (p)
        live_blocks--;
    free(p);
}

static void nomem_arm(long n)
{
    fail_seq = 0;
    fail_hit = 0;
    fail_at = n;
}

#endif /* DAL_TESTS_HARNESS_H */
