/*
 * query.c - the query builder: queries built as a tree in C, compiled to
 * the SQL of whichever backend the URL names, with every value bound.
 * A shop's customers, orders and loyalty points are created and loaded,
 * then queried with a grouped aggregate, a join, an upsert with
 * RETURNING, a window function, a JSON path lookup and one query
 * compiled once and run many times. The output is the same on SQLite
 * and PostgreSQL.
 *
 *   build/examples/query                        (sqlite::memory:)
 *   build/examples/query postgres://user@localhost/db
 *   cc query.c $(pkg-config --cflags --libs dal)
 */
#include <dal.h>
#include <stdio.h>

static int fail(dal_db *db, const char *what)
{
    fprintf(stderr, "query: %s: %s (SQLSTATE %s)\n", what, dal_errmsg(db),
            dal_sqlstate(db));
    return 1;
}

/* Compile q for db and prepare it. q is freed either way: the statement
 * does not need it. */
static int prepare(dal_db *db, dal_query *q, dal_stmt **st)
{
    int rc = dal_query_prepare(db, q, st);

    dal_query_free(q);
    return rc;
}

/* Run q once, without rows, and free it. */
static int exec(dal_db *db, dal_query *q)
{
    int rc = dal_query_exec(db, q);

    dal_query_free(q);
    return rc;
}

/* Column text, or "-" for NULL. */
static const char *text_or_dash(dal_stmt *st, int col)
{
    return dal_column_is_null(st, col) ? "-" : dal_column_text(st, col, NULL);
}

static int create_schema(dal_db *db)
{
    /* DDL is plain SQL, in types both backends know; JSON is kept as text
     * and read with the builder's JSON functions. */
    if (dal_exec(db, "DROP TABLE IF EXISTS loyalty;"
                     "DROP TABLE IF EXISTS orders;"
                     "DROP TABLE IF EXISTS customers;"
                     "CREATE TABLE customers (id BIGINT PRIMARY KEY,"
                     " name TEXT NOT NULL, prefs TEXT NOT NULL);"
                     "CREATE TABLE orders (id BIGINT PRIMARY KEY,"
                     " customer_id BIGINT NOT NULL REFERENCES customers,"
                     " region TEXT NOT NULL, status TEXT NOT NULL,"
                     " amount DOUBLE PRECISION NOT NULL);"
                     "CREATE TABLE loyalty ("
                     " customer_id BIGINT PRIMARY KEY REFERENCES customers,"
                     " points BIGINT NOT NULL)") != DAL_OK)
        return fail(db, "create tables");
    return 0;
}

static int load_data(dal_db *db)
{
    static const struct { int64_t id; const char *name, *prefs; }
        customers[] = {
            {1, "Ada", "{\"newsletter\": true,"
                       " \"address\": {\"city\": \"London\"}}"},
            {2, "Bruno", "{\"newsletter\": false,"
                         " \"address\": {\"city\": \"Berlin\"}}"},
            {3, "Chen", "{\"address\": {\"city\": \"Singapore\"}}"},
            {4, "Dana", "{\"newsletter\": true}"},
        };
    static const struct {
        int64_t id, customer;
        const char *region, *status;
        double amount;
    } orders[] = {
        {1, 1, "eu", "shipped", 120.50}, {2, 1, "eu", "pending", 80.00},
        {3, 2, "eu", "shipped", 310.25}, {4, 2, "eu", "cancelled", 150.00},
        {5, 3, "apac", "shipped", 99.90}, {6, 3, "apac", "shipped", 240.00},
        {7, 1, "eu", "pending", 205.75}, {8, 2, "eu", "shipped", 42.00},
    };
    dal_query *q;
    size_t i;

    /* One INSERT per table, with a VALUES row per record. */
    q = dal_insert("customers");
    dal_q_columns(q, "id", "name", "prefs");
    for (i = 0; i < sizeof customers / sizeof customers[0]; i++)
        dal_q_values(q, dal_int(customers[i].id),
                     dal_text(customers[i].name),
                     dal_text(customers[i].prefs));
    if (exec(db, q) != DAL_OK)
        return fail(db, "insert customers");

    q = dal_insert("orders");
    dal_q_columns(q, "id", "customer_id", "region", "status", "amount");
    for (i = 0; i < sizeof orders / sizeof orders[0]; i++)
        dal_q_values(q, dal_int(orders[i].id), dal_int(orders[i].customer),
                     dal_text(orders[i].region), dal_text(orders[i].status),
                     dal_double(orders[i].amount));
    if (exec(db, q) != DAL_OK)
        return fail(db, "insert orders");

    q = dal_insert("loyalty");
    dal_q_columns(q, "customer_id", "points");
    dal_q_values(q, dal_int(1), dal_int(100));
    if (exec(db, q) != DAL_OK)
        return fail(db, "insert loyalty");
    return 0;
}

/* Print the SQL that q compiles to for one backend. */
static int print_sql(const dal_query *q, const char *backend)
{
    char *sql, *err;
    int nparams;
    int rc = dal_query_to_sql(q, backend, &sql, &nparams, &err);

    if (rc != DAL_OK) {
        fprintf(stderr, "query: compile for %s: %s\n", backend,
                err ? err : dal_errstr(rc));
        dal_free(err);
        return 1;
    }
    printf("  %-8s (%d params) %s\n", backend, nparams, sql);
    dal_free(sql);
    return 0;
}

/*
 * SELECT status, count(*), sum(amount) AS total FROM orders
 * WHERE region = 'eu' AND amount > 100
 * GROUP BY status ORDER BY total DESC, status LIMIT 10
 */
static int totals_by_status(dal_db *db)
{
    dal_query *q = dal_select(dal_col("status"),
                              dal_as(dal_count(dal_star()), "n"),
                              dal_as(dal_sum(dal_col("amount")), "total"));
    dal_stmt *st;
    int rc;

    dal_q_from(q, "orders");
    dal_q_where(q, dal_and(dal_eq(dal_col("region"), dal_text("eu")),
                           dal_gt(dal_col("amount"), dal_int(100))));
    dal_q_group_by(q, dal_col("status"));
    dal_q_order_by(q, dal_desc(dal_col("total")), dal_col("status"));
    dal_q_limit(q, 10);

    printf("\neu orders over 100 by status; the SQL it compiles to:\n");
    if (print_sql(q, "sqlite") || print_sql(q, "postgres")) {
        dal_query_free(q);
        return 1;
    }
    if (prepare(db, q, &st) != DAL_OK)
        return fail(db, "prepare totals by status");
    while ((rc = dal_step(st)) == DAL_ROW)
        printf("  %-10s count %lld  total %7.2f\n",
               dal_column_text(st, 0, NULL),
               (long long)dal_column_int64(st, 1), dal_column_double(st, 2));
    dal_finalize(st);
    return rc == DAL_DONE ? 0 : fail(db, "totals by status");
}

/*
 * Every customer with their order count and amount, those without
 * orders too:
 * SELECT c.name, count(o.id), coalesce(sum(o.amount), 0) FROM customers c
 * LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name
 * ORDER BY c.name
 */
static int orders_per_customer(dal_db *db)
{
    dal_query *q = dal_select(
        dal_tcol("c", "name"), dal_count(dal_tcol("o", "id")),
        dal_cast(dal_coalesce(dal_sum(dal_tcol("o", "amount")), dal_int(0)),
                 DAL_SQL_DOUBLE));
    dal_stmt *st;
    int rc;

    dal_q_from_as(q, "customers", "c");
    dal_q_join(q, DAL_JOIN_LEFT, "orders", "o",
               dal_eq(dal_tcol("o", "customer_id"), dal_tcol("c", "id")));
    dal_q_group_by(q, dal_tcol("c", "id"), dal_tcol("c", "name"));
    dal_q_order_by(q, dal_tcol("c", "name"));

    printf("\norders per customer (left join):\n");
    if (prepare(db, q, &st) != DAL_OK)
        return fail(db, "prepare orders per customer");
    while ((rc = dal_step(st)) == DAL_ROW)
        printf("  %-6s count %lld  total %7.2f\n",
               dal_column_text(st, 0, NULL),
               (long long)dal_column_int64(st, 1), dal_column_double(st, 2));
    dal_finalize(st);
    return rc == DAL_DONE ? 0 : fail(db, "orders per customer");
}

/*
 * Award points: a customer's first award inserts a row, the next ones
 * add to it, and RETURNING gives the new balance in the same round trip.
 * INSERT INTO loyalty (customer_id, points) VALUES (?, ?)
 * ON CONFLICT (customer_id) DO UPDATE
 * SET points = loyalty.points + excluded.points
 * RETURNING customer_id, points
 */
static int award_points(dal_db *db, int64_t customer, int64_t points)
{
    dal_query *q = dal_insert("loyalty");
    dal_stmt *st;
    int rc;

    dal_q_columns(q, "customer_id", "points");
    dal_q_values(q, dal_int(customer), dal_int(points));
    dal_q_on_conflict_do_update(q, "customer_id");
    dal_q_set(q, "points", dal_add(dal_tcol("loyalty", "points"),
                                   dal_excluded("points")));
    dal_q_returning(q, dal_col("customer_id"), dal_col("points"));

    if (prepare(db, q, &st) != DAL_OK)
        return fail(db, "prepare upsert");
    while ((rc = dal_step(st)) == DAL_ROW)
        printf("  +%lld points: customer %lld has %lld\n", (long long)points,
               (long long)dal_column_int64(st, 0),
               (long long)dal_column_int64(st, 1));
    dal_finalize(st);
    return rc == DAL_DONE ? 0 : fail(db, "upsert");
}

/*
 * Each order with its rank and the running total within its customer:
 * SELECT customer_id, id, amount,
 *   row_number() OVER (PARTITION BY customer_id ORDER BY id),
 *   sum(amount) OVER (PARTITION BY customer_id ORDER BY id)
 * FROM orders WHERE status <> 'cancelled' ORDER BY customer_id, id
 */
static int running_totals(dal_db *db)
{
    dal_query *q = dal_select(
        dal_col("customer_id"), dal_col("id"), dal_col("amount"),
        dal_over(dal_row_number(), dal_list(dal_col("customer_id")),
                 dal_list(dal_col("id"))),
        dal_over(dal_sum(dal_col("amount")),
                 dal_list(dal_col("customer_id")),
                 dal_list(dal_col("id"))));
    dal_stmt *st;
    int rc;

    dal_q_from(q, "orders");
    dal_q_where(q, dal_ne(dal_col("status"), dal_text("cancelled")));
    dal_q_order_by(q, dal_col("customer_id"), dal_col("id"));

    printf("\nrunning total per customer (window):\n");
    if (prepare(db, q, &st) != DAL_OK)
        return fail(db, "prepare running totals");
    while ((rc = dal_step(st)) == DAL_ROW)
        printf("  customer %lld order %lld %8.2f  #%lld  total %8.2f\n",
               (long long)dal_column_int64(st, 0),
               (long long)dal_column_int64(st, 1), dal_column_double(st, 2),
               (long long)dal_column_int64(st, 3), dal_column_double(st, 4));
    dal_finalize(st);
    return rc == DAL_DONE ? 0 : fail(db, "running totals");
}

/*
 * Values read out of the JSON in prefs; a missing path is NULL.
 * SELECT name, prefs->'$.address.city', prefs->'$.newsletter'
 * FROM customers ORDER BY name
 */
static int customer_prefs(dal_db *db)
{
    dal_query *q = dal_select(dal_col("name"),
                              dal_json_get(dal_col("prefs"),
                                           "$.address.city"),
                              dal_json_get(dal_col("prefs"),
                                           "$.newsletter"));
    dal_stmt *st;
    int rc;

    dal_q_from(q, "customers");
    dal_q_order_by(q, dal_col("name"));

    printf("\ncity and newsletter from the JSON prefs:\n");
    if (prepare(db, q, &st) != DAL_OK)
        return fail(db, "prepare prefs");
    while ((rc = dal_step(st)) == DAL_ROW)
        printf("  %-6s city %-10s newsletter %s\n",
               dal_column_text(st, 0, NULL), text_or_dash(st, 1),
               text_or_dash(st, 2));
    dal_finalize(st);
    return rc == DAL_DONE ? 0 : fail(db, "prefs");
}

/*
 * One statement compiled once with two dal_param() slots, then bound by
 * name and run for each customer:
 * SELECT id, status, amount FROM orders
 * WHERE customer_id = :customer AND amount >= :min ORDER BY id
 */
static int big_orders(dal_db *db)
{
    dal_query *q = dal_select(dal_col("id"), dal_col("status"),
                              dal_col("amount"));
    dal_stmt *st;
    int64_t customer;
    int rc = DAL_DONE;

    dal_q_from(q, "orders");
    dal_q_where(q, dal_eq(dal_col("customer_id"), dal_param("customer")));
    dal_q_where(q, dal_ge(dal_col("amount"), dal_param("min")));
    dal_q_order_by(q, dal_col("id"));

    printf("\norders of 100 or more, per customer (compiled once):\n");
    if (prepare(db, q, &st) != DAL_OK)
        return fail(db, "prepare big orders");
    if (dal_bind_named(st, "min", &DAL_V_DOUBLE(100)) != DAL_OK) {
        dal_finalize(st);
        return fail(db, "bind :min");
    }
    /* Bindings survive each run; only :customer changes. */
    for (customer = 1; customer <= 4 && rc == DAL_DONE; customer++) {
        if (dal_bind_named(st, "customer", &DAL_V_INT64(customer))
            != DAL_OK) {
            dal_finalize(st);
            return fail(db, "bind :customer");
        }
        printf("  customer %lld:", (long long)customer);
        while ((rc = dal_step(st)) == DAL_ROW)
            printf(" #%lld %s %.2f;", (long long)dal_column_int64(st, 0),
                   dal_column_text(st, 1, NULL), dal_column_double(st, 2));
        printf("\n");
    }
    dal_finalize(st);
    return rc == DAL_DONE ? 0 : fail(db, "big orders");
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sqlite::memory:";
    dal_db *db;
    int failed;

    if (dal_open(url, &db) != DAL_OK) {
        failed = fail(db, "open");
        dal_close(db);
        return failed;
    }
    printf("libdal %s query builder\n", dal_version());

    failed = create_schema(db) || load_data(db) || totals_by_status(db)
             || orders_per_customer(db);
    if (!failed) {
        printf("\nloyalty points (upsert ... returning):\n");
        failed = award_points(db, 1, 25) || award_points(db, 4, 10)
                 || award_points(db, 4, 5);
    }
    failed = failed || running_totals(db) || customer_prefs(db)
             || big_orders(db);

    /* Leave no tables behind on a shared server. */
    if (!failed && dal_exec(db, "DROP TABLE loyalty; DROP TABLE orders;"
                                "DROP TABLE customers") != DAL_OK)
        failed = fail(db, "drop tables");
    dal_close(db);
    return failed ? 1 : 0;
}
