/*
 * registry.c - named databases: a registry maps names to URLs and opens
 * each on first use, so that a model bound to a name ("archive") finds
 * its connection without the program passing handles around.
 */
#include <string.h>

#include "dal-int.h"
#include "dal/model.h"

typedef struct entry {
    char *name;
    char *url;
    dal_db *db;     /* opened on first use, NULL until then */
} entry;

struct dal_registry {
    entry *e;
    int n, cap;
};

static void set_msg(char **errmsg, const char *msg)
{
    if (errmsg)
        *errmsg = dal__strdup(msg);
}

static entry *lookup(const dal_registry *reg, const char *name)
{
    for (int i = 0; i < reg->n; i++)
        if (!strcmp(reg->e[i].name, name))
            return &reg->e[i];
    return NULL;
}

int dal_registry_new(dal_registry **regp)
{
    if (!regp)
        return DAL_E_MISUSE;
    *regp = dal__calloc(1, sizeof **regp);
    return *regp ? DAL_OK : DAL_NOMEM;
}

int dal_registry_add(dal_registry *reg, const char *name, const char *url,
                     char **errmsg)
{
    char err[256];
    dal__url u;
    entry *e;
    int rc;

    if (errmsg)
        *errmsg = NULL;
    if (!reg || !name || !*name || !url) {
        set_msg(errmsg, "dal_registry_add: a registry, a name and a URL "
                        "are needed");
        return DAL_E_MISUSE;
    }
    if (lookup(reg, name)) {
        char *m = dal__asprintf("dal_registry_add: %s is already "
                                "registered", name);

        if (errmsg)
            *errmsg = m;
        else
            dal__free(m);
        return DAL_E_MISUSE;
    }
    /* A malformed URL is reported here, not at the first query. */
    rc = dal__url_parse(url, &u, err, sizeof err);
    dal__url_free(&u);
    if (rc) {
        if (rc != DAL_NOMEM)
            set_msg(errmsg, err);
        return rc;
    }
    if (reg->n == reg->cap) {
        int cap = reg->cap ? reg->cap * 2 : 4;
        entry *ne = dal__realloc(reg->e, (size_t)cap * sizeof *ne);

        if (!ne)
            return DAL_NOMEM;
        reg->e = ne;
        reg->cap = cap;
    }
    e = &reg->e[reg->n];
    e->db = NULL;
    e->name = dal__strdup(name);
    e->url = dal__strdup(url);
    if (!e->name || !e->url) {
        dal__free(e->name);
        dal__free(e->url);
        return DAL_NOMEM;
    }
    reg->n++;
    return DAL_OK;
}

int dal_registry_db(dal_registry *reg, const char *name, dal_db **dbp)
{
    entry *e;
    int rc;

    if (dbp)
        *dbp = NULL;
    if (!reg || !dbp)
        return DAL_E_MISUSE;
    if (!(e = lookup(reg, name ? name : "main")))
        return DAL_E_RANGE;
    if (!e->db) {
        dal_db *db;

        if ((rc = dal_open(e->url, &db))) {
            /* The caller reads the failed handle's error and closes it;
             * the next call tries again. */
            *dbp = db;
            return rc;
        }
        e->db = db;
    }
    *dbp = e->db;
    return DAL_OK;
}

int dal_registry_model_db(dal_registry *reg, const dal_model *m,
                          dal_db **dbp)
{
    if (dbp)
        *dbp = NULL;
    if (!m)
        return DAL_E_MISUSE;
    return dal_registry_db(reg, m->database, dbp);
}

void dal_registry_free(dal_registry *reg)
{
    if (!reg)
        return;
    for (int i = 0; i < reg->n; i++) {
        dal_close(reg->e[i].db);
        dal__free(reg->e[i].name);
        dal__free(reg->e[i].url);
    }
    dal__free(reg->e);
    dal__free(reg);
}
