/*
 * quickstart.c - the first libdal program: open a database by URL,
 * create a table, insert with bound parameters inside a transaction,
 * and read the rows back. The same code runs on SQLite and PostgreSQL.
 *
 *   make demo                                  (sqlite:demo.db)
 *   make demo URL=postgres://user@localhost/db
 *   cc quickstart.c $(pkg-config --cflags --libs dal)
 */
#include <dal.h>
#include <stdio.h>

static int fail(dal_db *db, const char *what)
{
    fprintf(stderr, "quickstart: %s: %s (SQLSTATE %s)\n", what,
            dal_errmsg(db), dal_sqlstate(db));
    dal_close(db);
    return 1;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sqlite:demo.db";
    static const struct { const char *name; double price; int64_t qty; }
        items[] = {
            {"espresso", 2.20, 120}, {"flat white", 3.40, 64},
            {"croissant", 2.90, 35}, {"matcha latte", 4.10, 18},
        };
    dal_stmt *st;
    dal_db *db;
    double total;
    int rc;

    if (dal_open(url, &db) != DAL_OK)
        return fail(db, "open");
    printf("libdal %s on %s (%s)\n", dal_version(), url, dal_backend(db));

    if (dal_exec(db, "DROP TABLE IF EXISTS items;"
                     "CREATE TABLE items (name TEXT PRIMARY KEY,"
                     " price DOUBLE PRECISION NOT NULL,"
                     " qty BIGINT NOT NULL CHECK (qty >= 0))") != DAL_OK)
        return fail(db, "create table");

    /* One transaction, one prepared statement, rebound for each row. */
    if (dal_begin(db, 0) != DAL_OK)
        return fail(db, "begin");
    if (dal_prepare(db, "INSERT INTO items (name, price, qty) "
                        "VALUES (:name, :price, :qty)", &st) != DAL_OK)
        return fail(db, "prepare");
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        dal_bind_text(st, dal_bind_param_index(st, "name"), items[i].name,
                      DAL_NTS, DAL_STATIC);
        dal_bind_double(st, dal_bind_param_index(st, "price"),
                        items[i].price);
        dal_bind_int64(st, dal_bind_param_index(st, "qty"), items[i].qty);
        if (dal_step(st) != DAL_DONE) {
            dal_finalize(st);
            return fail(db, "insert");
        }
    }
    dal_finalize(st);
    if (dal_commit(db) != DAL_OK)
        return fail(db, "commit");

    /* The same fault gives the same error on every backend. */
    rc = dal_exec_params(db, "INSERT INTO items VALUES ($1, $2, $3)",
                         (dal_value[]){DAL_V_TEXT("espresso"),
                                       DAL_V_DOUBLE(1.0), DAL_V_INT64(1)},
                         3);
    printf("inserting espresso again: %s, SQLSTATE %s\n", dal_errstr(rc),
           dal_sqlstate(db));

    if (dal_prepare(db, "SELECT name, price, qty FROM items "
                        "WHERE qty > ? ORDER BY qty DESC", &st) != DAL_OK)
        return fail(db, "prepare select");
    dal_bind_int64(st, 1, 20);
    while ((rc = dal_step(st)) == DAL_ROW)
        printf("  %-14s %5.2f x %3lld\n", dal_column_text(st, 0, NULL),
               dal_column_double(st, 1), (long long)dal_column_int64(st, 2));
    dal_finalize(st);
    if (rc != DAL_DONE)
        return fail(db, "select");

    if (dal_query_double(db, "SELECT SUM(price * qty) FROM items", NULL, 0,
                         &total) != DAL_OK)
        return fail(db, "sum");
    printf("stock value: %.2f\n", total);
    dal_close(db);
    return 0;
}
