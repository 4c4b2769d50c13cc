/*
 * notify.c - LISTEN/NOTIFY on a blocking connection. The statements
 * (LISTEN, UNLISTEN, pg_notify) run through the core's one execution
 * path; waiting is the driver's wait_notify hook, and a backend without
 * it (SQLite) refuses every call the same way.
 */
#include <string.h>

#include "dal-int.h"

static int usable(dal_db *db, const char *fn)
{
    if (!db)
        return DAL_E_MISUSE;
    if (db->zombie || !db->conn)
        return dal__seterrf(db, DAL_E_MISUSE, "08003", "%s: the "
                            "connection is not open", fn);
    if (!db->drv->wait_notify)
        return dal__seterrf(db, DAL_E_UNSUPPORTED, "0A000", "%s: the %s "
                            "backend has no LISTEN/NOTIFY", fn,
                            db->drv->name);
    return DAL_OK;
}

static int check_channel(dal_db *db, const char *channel, const char *fn)
{
    char err[160];

    if (dal__ident_check(channel, "the channel", err, sizeof err))
        return dal__seterrf(db, DAL_E_MISUSE, NULL, "%s: %s", fn, err);
    return DAL_OK;
}

/* Run "<verb> "channel"" (verb LISTEN or UNLISTEN). */
static int run_verb(dal_db *db, const char *verb, const char *channel)
{
    dal__buf b = {0};
    int rc;

    if (dal__buf_adds(&b, verb) || dal__buf_addc(&b, ' ')
        || dal__buf_ident(&b, channel) || dal__buf_addc(&b, '\0')) {
        dal__buf_free(&b);
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    }
    rc = dal_exec(db, b.p);
    dal__buf_free(&b);
    return rc;
}

static int find_channel(const dal_db *db, const char *channel)
{
    int i;

    for (i = 0; i < db->nchannels; i++)
        if (!strcmp(db->channels[i], channel))
            return i;
    return -1;
}

int dal_listen(dal_db *db, const char *channel)
{
    char **grown, *copy;
    int rc;

    if ((rc = usable(db, "dal_listen")) != DAL_OK
        || (rc = check_channel(db, channel, "dal_listen")) != DAL_OK)
        return rc;
    /* Remember it first, so that a failure of memory leaves nothing
     * listened to that a reconnect would not listen to again. */
    if (find_channel(db, channel) < 0) {
        grown = dal__realloc(db->channels,
                             (size_t)(db->nchannels + 1) * sizeof *grown);
        if (!grown)
            return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                               NULL);
        db->channels = grown;
        if (!(copy = dal__strdup(channel)))
            return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL,
                               NULL);
        db->channels[db->nchannels++] = copy;
    }
    rc = run_verb(db, "LISTEN", channel);
    if (rc != DAL_OK) {
        int i = find_channel(db, channel);

        dal__free(db->channels[i]);
        db->channels[i] = db->channels[--db->nchannels];
    }
    return rc;
}

int dal_unlisten(dal_db *db, const char *channel)
{
    int rc, i;

    if ((rc = usable(db, "dal_unlisten")) != DAL_OK)
        return rc;
    if (!channel) {
        rc = dal_exec(db, "UNLISTEN *");
        if (rc == DAL_OK)
            dal__notify_free(db);
        return rc;
    }
    if ((rc = check_channel(db, channel, "dal_unlisten")) != DAL_OK)
        return rc;
    rc = run_verb(db, "UNLISTEN", channel);
    if (rc == DAL_OK && (i = find_channel(db, channel)) >= 0) {
        dal__free(db->channels[i]);
        db->channels[i] = db->channels[--db->nchannels];
    }
    return rc;
}

int dal_notify(dal_db *db, const char *channel, const char *payload)
{
    dal_value p[2];
    int rc;

    if ((rc = usable(db, "dal_notify")) != DAL_OK
        || (rc = check_channel(db, channel, "dal_notify")) != DAL_OK)
        return rc;
    p[0] = (dal_value){DAL_TYPE_TEXT, {.s = {channel, strlen(channel)}}};
    p[1] = (dal_value){DAL_TYPE_TEXT,
                       {.s = {payload ? payload : "",
                              payload ? strlen(payload) : 0}}};
    return dal_exec_params(db, "SELECT pg_notify(?, ?)", p, 2);
}

/* One block: the struct, then channel and payload. */
static int make_notification(dal_db *db, const char *channel,
                             const char *payload, int pid, int missed,
                             dal_notification **out)
{
    size_t nc = channel ? strlen(channel) + 1 : 0;
    size_t np = payload ? strlen(payload) + 1 : 0;
    dal_notification *n = dal__malloc(sizeof *n + nc + np);
    char *p;

    if (!n)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    p = (char *)(n + 1);
    n->channel = channel ? memcpy(p, channel, nc) : NULL;
    n->payload = payload ? memcpy(p + nc, payload, np) : NULL;
    n->pid = pid;
    n->missed = missed;
    *out = n;
    return DAL_OK;
}

/*
 * The connection was lost: connect again, forget the old session's
 * prepared statements, listen to every channel again. The statement
 * cache and the model layer's memo hold statements of the old session.
 */
static int reconnect(dal_db *db)
{
    struct dal__err saved;
    int i, rc, cap;

    if (!db->drv->reconnect)
        return DAL_E_CONNECT;
    /* Statements go first, while the driver can still drop what it
     * queued for the old session (the new one has none of them). */
    cap = db->url.stmt_cache;
    dal__model_memo_free(db);
    dal__cache_free(db->cache);
    db->cache = NULL;
    saved = db->err;
    memset(&db->err, 0, sizeof db->err);
    rc = db->drv->reconnect(db, db->conn);
    dal__clearerr(db);
    db->err = saved;
    if (cap > 0 && dal__cache_new(cap, &db->cache) != DAL_OK)
        return dal__seterr(db, DAL_NOMEM, NULL, 0, NULL, NULL, NULL, NULL);
    if (rc != DAL_OK)
        return DAL_E_CONNECT;
    db->tx_depth = 0;
    for (i = 0; i < db->nchannels; i++)
        if ((rc = run_verb(db, "LISTEN", db->channels[i])) != DAL_OK)
            return rc;
    db->notify_missed = 1;
    return DAL_OK;
}

int dal_notify_wait(dal_db *db, int timeout_ms, dal_notification **out)
{
    char *channel = NULL, *payload = NULL;
    int rc, pid = 0;

    if (out)
        *out = NULL;
    if ((rc = usable(db, "dal_notify_wait")) != DAL_OK)
        return rc;
    if (!out)
        return dal__seterrf(db, DAL_E_MISUSE, NULL,
                            "dal_notify_wait: out is NULL");
    dal__clearerr(db);
    if (!db->notify_missed) {
        rc = db->drv->wait_notify(db, db->conn, timeout_ms, &channel,
                                  &payload, &pid);
        if (rc == DAL_E_CONNECT && db->nchannels > 0) {
            int rc2 = reconnect(db);

            if (rc2 != DAL_OK && rc2 != DAL_E_CONNECT)
                return rc2;
        }
        if (rc == DAL_OK) {
            rc = make_notification(db, channel, payload, pid, 0, out);
            dal__free(channel);
            dal__free(payload);
            return rc;
        }
        if (!db->notify_missed)
            return rc;
    }
    /* The marker, once, after a reconnect. */
    dal__clearerr(db);
    rc = make_notification(db, NULL, NULL, 0, 1, out);
    if (rc == DAL_OK)
        db->notify_missed = 0;
    return rc;
}

void dal_notification_free(dal_notification *n)
{
    dal__free(n);
}

void dal__notify_free(dal_db *db)
{
    int i;

    for (i = 0; i < db->nchannels; i++)
        dal__free(db->channels[i]);
    dal__free(db->channels);
    db->channels = NULL;
    db->nchannels = 0;
}
