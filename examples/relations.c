/*
 * relations.c - bulk operations, relations and named databases of the
 * model layer: authors and their books are bulk-loaded into the main
 * database, every author's books are eager-loaded in one query (and
 * every book's author in one more), prices are bulk-updated, old books
 * bulk-deleted, and an audit event for each step goes to a second
 * database, "archive", found by name through a registry. The output is
 * the same on every backend.
 *
 *   build/examples/relations                     (main: sqlite::memory:)
 *   build/examples/relations postgres://user@localhost/db
 *   cc relations.c $(pkg-config --cflags --libs dal)
 */
#include <dal.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int64_t id;
    char *name;
} author;

typedef struct {
    int64_t id;
    int64_t author_id;
    char *title;
    int32_t year;
    double price;
} book;

typedef struct {
    int64_t id;
    char *what;
    int64_t at;
} event;

static const dal_field author_fields[] = {
    DAL_FIELD(author, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(author, name, DAL_F_TEXT, DAL_F_UNIQUE | DAL_F_NOT_NULL),
};
static const dal_field book_fields[] = {
    DAL_FIELD(book, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(book, author_id, DAL_F_INT64, DAL_F_INDEXED),
    DAL_FIELD(book, title, DAL_F_TEXT, DAL_F_NOT_NULL),
    DAL_FIELD(book, year, DAL_F_INT32, 0),
    DAL_FIELD(book, price, DAL_F_DOUBLE, 0),
};
static const dal_field event_fields[] = {
    DAL_FIELD(event, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(event, what, DAL_F_TEXT, 0),
    DAL_FIELD(event, at, DAL_F_TIMESTAMP, DAL_F_CREATED_AT),
};
static const dal_model author_model =
    DAL_MODEL(author, "ex_authors", author_fields);
static const dal_model book_model = DAL_MODEL(book, "ex_books", book_fields);
/* Events live in the database the registry calls "archive". */
static const dal_model event_model =
    DAL_MODEL_IN("archive", event, "ex_events", event_fields);

#define NBOOKS 3000

static int fail(dal_db *db, const char *what)
{
    fprintf(stderr, "relations: %s: %s (SQLSTATE %s)\n", what,
            dal_errmsg(db), dal_sqlstate(db));
    return 1;
}

/* A loading call found rows (DAL_OK) or none (DAL_DONE). */
#define LOADED(rc) ((rc) == DAL_OK || (rc) == DAL_DONE)

/* The connection registered as name; NULL (and why) if it fails. */
static dal_db *open_db(dal_registry *reg, const char *name)
{
    dal_db *db;

    if (dal_registry_db(reg, name, &db) == DAL_OK)
        return db;
    /* A failed open hands over its handle, with the error on it. */
    fprintf(stderr, "relations: %s: %s\n", name,
            db ? dal_errmsg(db) : "not registered");
    dal_close(db);
    return NULL;
}

/* Record what happened in the archive database, found by the model. */
static int audit(dal_registry *reg, char *what)
{
    event e = {.what = what};
    dal_db *db;

    if (dal_registry_model_db(reg, &event_model, &db)) {
        dal_close(db);
        return 1;
    }
    return dal_model_insert(db, &event_model, &e) ? fail(db, "audit") : 0;
}

static int run(dal_registry *reg)
{
    static char *names[] = {"Le Guin", "Lem", "Tiptree"};
    static char titles[NBOOKS][24];
    author authors[3];
    dal_rows *as = NULL, *bs = NULL, *owners = NULL;
    dal_db *db, *archive;
    book *books = NULL;
    int64_t n;
    int i, rc = 1;

    if (!(db = open_db(reg, "main"))
        || !(archive = open_db(reg, event_model.database)))
        return 1;
    if (dal_exec(db, "DROP TABLE IF EXISTS ex_books")
        || dal_exec(db, "DROP TABLE IF EXISTS ex_authors")
        || dal_exec(archive, "DROP TABLE IF EXISTS ex_events"))
        return fail(db, "drop");
    if (dal_model_create_table(db, &author_model)
        || dal_model_create_table(db, &book_model))
        return fail(db, "create");
    if (dal_model_create_table(archive, &event_model))
        return fail(archive, "create");

    /* Bulk create: the ids come back into the structs. */
    for (i = 0; i < 3; i++)
        authors[i] = (author){.name = names[i]};
    if (dal_model_bulk_create(db, &author_model, authors, 3, 0))
        return fail(db, "bulk_create authors");
    if (!(books = calloc(NBOOKS, sizeof *books)))
        return 1;
    for (i = 0; i < NBOOKS; i++) {
        snprintf(titles[i], sizeof titles[i], "Book %04d", i);
        books[i] = (book){.author_id = authors[i % 3].id,
                          .title = titles[i], .year = 1950 + i % 50,
                          .price = 10.0};
    }
    /* No ids needed: PostgreSQL loads them with COPY. */
    if (dal_model_bulk_create(db, &book_model, books, NBOOKS,
                              DAL_BULK_NO_IDS)) {
        rc = fail(db, "bulk_create books");
        goto out;
    }
    if (audit(reg, "books loaded"))
        goto out;

    /* Eager loading: every author's books in one query. */
    if (!LOADED(dal_model_query(db, &author_model, NULL, NULL, 0, 0, &as))
        || !LOADED(dal_model_has_many(db, as, &book_model, "author_id", 0,
                                      &bs))) {
        rc = fail(db, "has_many");
        goto out;
    }
    for (i = 0; i < dal_rows_count(as); i++) {
        const author *a = dal_rows_at(as, i);
        dal_value key = DAL_V_INT64(a->id);
        int first, count = dal_rows_match(bs, &key, &first);
        const book *b = dal_rows_at(bs, first);

        printf("%-8s %d books, first %s (%d)\n", a->name, count, b->title,
               (int)b->year);
    }

    /* And the other way: each book's author, one query for all. */
    if (!LOADED(dal_model_belongs_to(db, bs, "author_id", &author_model,
                                     0, &owners))) {
        rc = fail(db, "belongs_to");
        goto out;
    }
    {
        const book *b = dal_rows_at(bs, 0);
        dal_value key = DAL_V_INT64(b->author_id);
        int at;

        dal_rows_match(owners, &key, &at);
        printf("%s is by %s\n", b->title,
               ((const author *)dal_rows_at(owners, at))->name);
    }

    /* Bulk update: a 10% discount on the first author's books. */
    {
        int64_t changed;
        static const char *const price[] = {"price"};
        dal_value key = DAL_V_INT64(authors[0].id);
        int first, count = dal_rows_match(bs, &key, &first);

        for (i = 0; i < count; i++)
            ((book *)dal_rows_at(bs, first + i))->price = 9.0;
        if (dal_model_bulk_update(db, &book_model, dal_rows_at(bs, first),
                                  count, price, 1, &changed)) {
            rc = fail(db, "bulk_update");
            goto out;
        }
        printf("discounted %lld books\n", (long long)changed);
    }

    /* Bulk delete by a condition, in one statement. */
    if (dal_model_bulk_delete(db, &book_model,
                              dal_lt(dal_col("year"), dal_int(1960)), 0,
                              &n)) {
        rc = fail(db, "bulk_delete");
        goto out;
    }
    printf("deleted %lld books before 1960\n", (long long)n);
    if (dal_model_count(db, &book_model, NULL, 0, &n))
        goto out;
    printf("%lld books left\n", (long long)n);
    if (audit(reg, "old books deleted"))
        goto out;
    if (dal_model_count(archive, &event_model, NULL, 0, &n))
        goto out;
    printf("%lld events in the archive\n", (long long)n);
    rc = 0;
out:
    dal_rows_free(owners);
    dal_rows_free(bs);
    dal_rows_free(as);
    free(books);
    return rc;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sqlite::memory:";
    dal_registry *reg;
    char *msg;
    int rc;

    if (dal_registry_new(&reg))
        return 1;
    if (dal_registry_add(reg, "main", url, &msg)
        || dal_registry_add(reg, "archive", "sqlite::memory:", &msg)) {
        fprintf(stderr, "relations: %s\n", msg ? msg : "out of memory");
        dal_free(msg);
        dal_registry_free(reg);
        return 1;
    }
    rc = run(reg);
    dal_registry_free(reg);
    return rc;
}
