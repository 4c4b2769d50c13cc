/*
 * models.c - the model layer: a C struct and a static descriptor map a
 * table, and libdal creates it, inserts, updates, queries, soft-deletes
 * and restores rows of it, on SQLite and PostgreSQL alike. The users
 * have a generated id, a unique email, JSON settings, timestamps kept
 * by the library and a soft-delete column. The output is the same on
 * every backend.
 *
 *   build/examples/models                        (sqlite::memory:)
 *   build/examples/models postgres://user@localhost/db
 *   cc models.c $(pkg-config --cflags --libs dal)
 */
#include <dal.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int64_t id;
    char *email;
    char *name;
    char *settings;     /* JSON */
    int64_t created_at; /* microseconds since the epoch, set by libdal */
    int64_t updated_at;
    int64_t deleted_at; /* 0 while the user is not deleted */
} user;

/* A custom rule, run before every write. */
static int email_rule(const void *obj, const dal_field *f, char *msg,
                      size_t len)
{
    const char *email = ((const user *)obj)->email;

    (void)f;
    if (email && !strchr(email, '@')) {
        snprintf(msg, len, "\"%s\" has no @", email);
        return 1;
    }
    return 0;
}

static const dal_field user_fields[] = {
    DAL_FIELD(user, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    /* DAL_FIELD leaves out the validation rules: write them by name. */
    {.name = "email", .type = DAL_F_TEXT, .offset = offsetof(user, email),
     .size = sizeof(char *), .flags = DAL_F_UNIQUE | DAL_F_NOT_NULL,
     .max_len = 254, .validate = email_rule},
    DAL_FIELD(user, name, DAL_F_TEXT, DAL_F_NOT_NULL),
    DAL_FIELD(user, settings, DAL_F_JSON, 0),
    DAL_FIELD(user, created_at, DAL_F_TIMESTAMP, DAL_F_CREATED_AT),
    DAL_FIELD(user, updated_at, DAL_F_TIMESTAMP, DAL_F_UPDATED_AT),
    DAL_FIELD(user, deleted_at, DAL_F_TIMESTAMP, DAL_F_SOFT_DELETE),
};
static const dal_model user_model = DAL_MODEL(user, "users", user_fields);

static int fail(dal_db *db, const char *what)
{
    fprintf(stderr, "models: %s: %s (SQLSTATE %s)\n", what, dal_errmsg(db),
            dal_sqlstate(db));
    return 1;
}

/* Print a set of users, one per line. */
static void print_users(const char *title, const dal_rows *rows)
{
    printf("%s:\n", title);
    for (int i = 0; i < dal_rows_count(rows); i++) {
        const user *u = dal_rows_at(rows, i);

        printf("  %lld %-6s %s%s\n", (long long)u->id, u->name,
               u->email, u->deleted_at ? " (deleted)" : "");
    }
}

/* Load the users matching cond (taken) into *rows and print them. */
static int list(dal_db *db, const char *title, dal_expr *cond,
                dal_expr *order, int64_t limit, int flags, dal_rows **rows)
{
    int rc = dal_model_query(db, &user_model, cond, order, limit, flags,
                             rows);

    if (rc != DAL_OK && rc != DAL_DONE) /* DAL_DONE: none, an empty set */
        return fail(db, title);
    print_users(title, *rows);
    dal_rows_free(*rows);
    *rows = NULL;
    return 0;
}

static int run(dal_db *db)
{
    user users[] = {
        {.email = "ada@example.org", .name = "ada",
         .settings = "{\"theme\": \"dark\", \"level\": 3}"},
        {.email = "brian@example.org", .name = "brian",
         .settings = "{\"theme\": \"light\", \"level\": 2}"},
        {.email = "chen@example.org", .name = "chen",
         .settings = "{\"theme\": \"dark\", \"level\": 5}"},
    };
    user bad = {.email = "nobody", .name = "nobody"}, copy;
    user *ada = &users[0], *brian = &users[1];
    dal_rows *rows = NULL;
    int64_t n;
    int rc;

    /* A fresh table on every run, also on a shared server. */
    if (dal_exec(db, "DROP TABLE IF EXISTS users") != DAL_OK)
        return fail(db, "drop table");
    if (dal_model_create_table(db, &user_model) != DAL_OK)
        return fail(db, "create table");

    /* Insert fills in the generated id and the timestamps. */
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        if (dal_model_insert(db, &user_model, &users[i]) != DAL_OK)
            return fail(db, "insert");
        printf("inserted %s with id %lld\n", users[i].name,
               (long long)users[i].id);
    }

    /* The rules run before anything is sent: nothing is written. */
    rc = dal_model_insert(db, &user_model, &bad);
    if (rc != DAL_E_DATA)
        return fail(db, "insert of a bad email");
    printf("refused: %s\n", dal_errmsg(db));

    /* Update one field; updated_at moves with it. */
    brian->settings = "{\"theme\": \"dark\", \"level\": 2}";
    if (dal_model_update(db, &user_model, brian,
                         (const char *const[]){"settings"}, 1) != DAL_OK)
        return fail(db, "update");
    printf("updated %s's settings; updated_at %s created_at\n",
           brian->name,
           brian->updated_at >= brian->created_at ? ">=" : "<");

    /* A condition on a JSON path, an order and a limit. */
    if (list(db, "dark theme, highest level first, at most 2",
             dal_eq(dal_json_get(dal_col("settings"), "$.theme"),
                    dal_text("dark")),
             dal_list(dal_desc(dal_json_get_int(dal_col("settings"),
                                                "$.level"))),
             2, 0, &rows))
        return 1;

    /* Soft delete: the row stays, and queries skip it by default. */
    if (dal_model_delete(db, &user_model, ada) != DAL_OK)
        return fail(db, "delete");
    printf("deleted %s (deleted_at %s)\n", ada->name,
           ada->deleted_at ? "set" : "not set");
    if (list(db, "all users", NULL, NULL, 0, 0, &rows)
        || list(db, "all users, DAL_WITH_DELETED", NULL, NULL, 0,
                DAL_WITH_DELETED, &rows)
        || list(db, "DAL_ONLY_DELETED", NULL, NULL, 0, DAL_ONLY_DELETED,
                &rows))
        return 1;
    rc = dal_model_find(db, &user_model, &DAL_V_INT64(ada->id), &rows);
    if (rc != DAL_DONE) {
        dal_rows_free(rows);
        return fail(db, "find of a deleted user");
    }
    printf("find %lld: %d rows\n", (long long)ada->id,
           dal_rows_count(rows));
    dal_rows_free(rows);
    rows = NULL;

    if (dal_model_restore(db, &user_model, ada) != DAL_OK)
        return fail(db, "restore");
    printf("restored %s (deleted_at %s)\n", ada->name,
           ada->deleted_at ? "set" : "not set");

    if (dal_model_count(db, &user_model, NULL, 0, &n) != DAL_OK)
        return fail(db, "count");
    printf("count: %lld users\n", (long long)n);
    if (dal_model_count(db, &user_model,
                        dal_eq(dal_json_get(dal_col("settings"), "$.theme"),
                               dal_text("dark")), 0, &n) != DAL_OK)
        return fail(db, "count dark");
    printf("count: %lld with the dark theme\n", (long long)n);

    /* A loaded row lives in its set; dal_rows_take copies it out. */
    if (dal_model_find(db, &user_model, &DAL_V_INT64(ada->id), &rows)
        != DAL_OK) {
        dal_rows_free(rows); /* an empty set for DAL_DONE */
        return fail(db, "find");
    }
    rc = dal_rows_take(rows, 0, &copy);
    dal_rows_free(rows);
    if (rc != DAL_OK) {
        fprintf(stderr, "models: take: %s\n", dal_errstr(rc));
        return 1;
    }
    printf("found %lld: %s <%s>\n", (long long)copy.id, copy.name,
           copy.email);
    dal_model_free_row(&user_model, &copy);
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sqlite::memory:";
    dal_db *db;
    int rc;

    rc = dal_open(url, &db);
    if (!db) {
        fprintf(stderr, "models: %s: %s\n", url, dal_errstr(rc));
        return 1;
    }
    if (rc != DAL_OK) {
        rc = fail(db, url);
        dal_close(db);
        return rc;
    }
    rc = run(db);
    dal_close(db);
    return rc;
}
