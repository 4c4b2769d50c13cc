/*
 * async.c - libdal on a libuv loop: a pool of connections behind one
 * handle, a table filled in a transaction, queries issued together and
 * answered by callbacks (in any order across connections), a model
 * load, and a close that waits for everything. Each step starts from
 * the callback of the one before (a chain); nothing blocks the loop.
 * A hook (dal_async_observe) counts the statements on the loop thread.
 * The output is the same on SQLite and PostgreSQL.
 *
 *   build/examples/async                        (sqlite::memory:)
 *   build/examples/async sqlite:app.db
 *   build/examples/async postgres://user@localhost/db
 *   cc async.c $(pkg-config --cflags --libs dal libuv)
 */
#include <dal.h>
#include <dal/async.h>
#include <stdio.h>
#include <string.h>

#define NQUERIES 5

typedef struct item {
    int64_t id;
    char *name;
    double price;
} item;

static const dal_field item_fields[] = {
    DAL_FIELD(item, id, DAL_F_INT64, DAL_F_PK),
    DAL_FIELD(item, name, DAL_F_TEXT, DAL_F_NOT_NULL),
    DAL_FIELD(item, price, DAL_F_DOUBLE, 0),
};
static const dal_model item_model = DAL_MODEL(item, "ex_async_items",
                                              item_fields);

static const char *const names[] = {"apple", "bread", "cheese"};

static dal_async *pool;
static dal_async *tx;
static dal_async_req req, loads;
static dal_async_req lookups[NQUERIES];
static int64_t found[NQUERIES];
static int answered, failed;
static int nstatements;
static int64_t nrows;

static void step_load(void);

static int check(dal_async_req *r, int status, const char *what)
{
    if (status == DAL_OK)
        return 0;
    fprintf(stderr, "async: %s: %s (SQLSTATE %s)\n", what,
            dal_async_req_errmsg(r), dal_async_req_sqlstate(r));
    failed = 1;
    dal_async_close(pool, NULL);
    return 1;
}

/* A call that takes a callback and failed: its callback will not run. */
static void started(int rc, const char *what)
{
    if (rc == DAL_OK)
        return;
    fprintf(stderr, "async: %s: %s: %s\n", what, dal_errstr(rc),
            dal_async_errmsg(pool));
    failed = 1;
    dal_async_close(pool, NULL);
}

/* Called after each statement of the pool, before its callback. */
static int count_hook(const dal_event *ev, void *data)
{
    (void)data;
    nstatements++;
    if (ev->rows > 0)
        nrows += ev->rows;
    return DAL_OK;
}

static void on_closed(dal_async *h)
{
    (void)h;
    printf("closed after %d statements, %lld rows\n", nstatements,
           (long long)nrows);
}

static void on_loaded(dal_async_req *r, int status, dal_rows *rows)
{
    if (check(r, status, "load"))
        return;
    for (int i = 0; i < dal_rows_count(rows); i++) {
        item *it = dal_rows_at(rows, i);

        printf("item %lld: %s at %.2f\n", (long long)it->id, it->name,
               it->price);
    }
    /* rows is freed when this returns (no dal_async_keep). */
    started(dal_async_close(pool, on_closed), "close");
}

/* The answers come in any order; they are printed once all are in. */
static void on_lookup(dal_async_req *r, int status, dal_result *res)
{
    int i = (int)(r - lookups);

    if (check(r, status, "lookup"))
        return;
    found[i] = dal_result_int64(res, 0, 0);
    if (++answered < NQUERIES)
        return;
    for (i = 0; i < NQUERIES; i++)
        printf("items over %d: %lld\n", i, (long long)found[i]);
    step_load();
}

static void on_committed(dal_async_req *r, int status)
{
    if (check(r, status, "commit"))
        return;
    /* Issued together: the pool spreads them over its connections. */
    for (int i = 0; i < NQUERIES && !failed; i++)
        started(dal_async_query(&lookups[i], pool, "SELECT count(*) FROM "
                                "ex_async_items WHERE price > ?",
                                (dal_value[]){DAL_V_DOUBLE(i)}, 1,
                                on_lookup), "lookup");
}

static void on_inserted(dal_async_req *r, int status, dal_result *res)
{
    (void)res;
    if (check(r, status, "insert"))
        return;
    started(dal_async_commit(&req, tx, on_committed), "commit");
}

static void on_begun(dal_async_req *r, int status, dal_async *t)
{
    if (check(r, status, "begin"))
        return;
    tx = t;
    /* One statement, three rows, on the transaction's connection. */
    started(dal_async_query(&req, tx, "INSERT INTO ex_async_items (id, name, "
                            "price) VALUES (1, ?, 0.5), (2, ?, 2.25), "
                            "(3, ?, 4.75)",
                            (dal_value[]){DAL_V_TEXT(names[0]),
                                          DAL_V_TEXT(names[1]),
                                          DAL_V_TEXT(names[2])},
                            3, on_inserted), "insert");
}

static void on_created(dal_async_req *r, int status, dal_result *res)
{
    (void)res;
    if (check(r, status, "create"))
        return;
    started(dal_async_begin(&req, pool, 0, on_begun), "begin");
}

static void on_dropped(dal_async_req *r, int status, dal_result *res)
{
    (void)res;
    if (check(r, status, "drop"))
        return;
    started(dal_async_query(&req, pool, "CREATE TABLE ex_async_items (id "
                            "BIGINT PRIMARY KEY, name TEXT NOT NULL, price "
                            "DOUBLE PRECISION)", NULL, 0, on_created),
            "create");
}

static void step_load(void)
{
    started(dal_async_model_query(&loads, pool, &item_model,
                                  dal_gt(dal_col("price"), dal_double(1.0)),
                                  NULL, 0, 0, on_loaded), "load");
}

static void on_open(dal_async *h, int status)
{
    if (status != DAL_OK) {
        fprintf(stderr, "async: open: %s\n", dal_async_errmsg(h));
        failed = 1;
        dal_async_close(h, NULL);
        return;
    }
    printf("open (%s)\n", dal_async_backend(h));
    started(dal_async_query(&req, h, "DROP TABLE IF EXISTS ex_async_items",
                            NULL, 0, on_dropped), "drop");
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sqlite::memory:";
    /* Every sqlite::memory: connection is a database of its own. */
    int nconn = strcmp(url, "sqlite::memory:") ? 4 : 1;
    dal_hook hook = {.events = DAL_EVENT_BIT(DAL_EV_AFTER),
                     .fn = count_hook};
    dal_observer *obs;
    uv_loop_t loop;
    int rc;

    uv_loop_init(&loop);
    if ((rc = dal_observer_new(&obs)) != DAL_OK
        || (rc = dal_observer_add(obs, &hook)) != DAL_OK
        || (rc = dal_async_open(&loop, url, nconn, on_open, NULL, &pool))
           != DAL_OK) {
        fprintf(stderr, "async: %s\n", dal_errstr(rc));
        dal_observer_free(obs);
        return 1;
    }
    /* Before the loop runs: the hook sees every statement. */
    if ((rc = dal_async_observe(pool, obs)) != DAL_OK)
        fprintf(stderr, "async: observe: %s\n", dal_async_errmsg(pool));
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    dal_observer_free(obs);
    return failed;
}
