/*
 * alloc.c - the replaceable allocator (dal_set_allocator) and the small
 * string and buffer helpers built on it. Every allocation libdal makes
 * goes through here, so a test can fail the Nth one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dal-int.h"

static void *(*alloc_malloc)(size_t) = malloc;
static void *(*alloc_realloc)(void *, size_t) = realloc;
static void (*alloc_free)(void *) = free;

int dal_set_allocator(void *(*malloc_fn)(size_t),
                      void *(*realloc_fn)(void *, size_t),
                      void (*free_fn)(void *))
{
    if (!malloc_fn && !realloc_fn && !free_fn) {
        alloc_malloc = malloc;
        alloc_realloc = realloc;
        alloc_free = free;
        return DAL_OK;
    }
    if (!malloc_fn || !realloc_fn || !free_fn)
        return DAL_E_MISUSE;
    alloc_malloc = malloc_fn;
    alloc_realloc = realloc_fn;
    alloc_free = free_fn;
    return DAL_OK;
}

void *dal__malloc(size_t n)
{
    /* malloc(0) may return NULL, which callers would read as failure. */
    return alloc_malloc(n ? n : 1);
}

void *dal__calloc(size_t n, size_t size)
{
    void *p;

    if (size && n > (size_t)-1 / size)
        return NULL;
    p = dal__malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *dal__realloc(void *p, size_t n)
{
    return alloc_realloc(p, n ? n : 1);
}

void dal__free(void *p)
{
    if (p)
        alloc_free(p);
}

void dal_free(void *p)
{
    dal__free(p);
}

char *dal__strndup(const char *s, size_t n)
{
    char *p = dal__malloc(n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *dal__strdup(const char *s)
{
    return dal__strndup(s, strlen(s));
}

char *dal__asprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    p = dal__malloc((size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int dal__buf_reserve(dal__buf *b, size_t extra)
{
    size_t cap;
    char *p;

    /* One byte more than asked, so the text can always be terminated. */
    if (b->len + extra < b->cap)
        return DAL_OK;
    cap = b->cap ? b->cap : 64;
    while (cap <= b->len + extra) {
        if (cap > (size_t)-1 / 2)
            return DAL_NOMEM;
        cap *= 2;
    }
    p = dal__realloc(b->p, cap);
    if (!p)
        return DAL_NOMEM;
    b->p = p;
    b->cap = cap;
    return DAL_OK;
}

int dal__buf_add(dal__buf *b, const void *p, size_t n)
{
    if (dal__buf_reserve(b, n) != DAL_OK)
        return DAL_NOMEM;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return DAL_OK;
}

int dal__buf_adds(dal__buf *b, const char *s)
{
    return dal__buf_add(b, s, strlen(s));
}

int dal__buf_addc(dal__buf *b, char c)
{
    return dal__buf_add(b, &c, 1);
}

void dal__buf_free(dal__buf *b)
{
    dal__free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
