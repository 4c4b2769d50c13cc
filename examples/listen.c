/*
 * listen.c - LISTEN/NOTIFY on a libuv loop: one process listens to a
 * channel asynchronously and sends itself notifications, two through
 * the async handle (dal_async_notify) and one from a blocking
 * connection (dal_notify), then stops listening and closes.
 *
 *   build/examples/listen postgres://localhost/app
 *   build/examples/listen sqlite::memory:    (says LISTEN is unsupported)
 *
 * Notifications come whenever the connection's socket is readable,
 * between query results too. After a lost connection libdal connects
 * again, listens again, and flags the next notification as "missed":
 * those sent in between are gone, so a program re-reads its state then.
 */
#include <stdio.h>
#include <string.h>

#include <dal.h>
#include <dal/async.h>

#define CHANNEL "orders"
#define EXPECTED 3

struct app {
    uv_loop_t *loop;
    const char *url;
    dal_async *h;
    dal_async_req req[2];
    int received;
    int rc;          /* the exit status */
};

static void closed(dal_async *h)
{
    (void)h;
    printf("closed\n");
}

static void finish(struct app *a, int rc)
{
    a->rc = rc;
    dal_async_close(a->h, closed);
}

static void on_notification(dal_async *h, const char *channel,
                            const char *payload, int pid, int missed)
{
    struct app *a = dal_async_data(h);

    (void)pid;
    printf("notification on %s: %s%s\n", channel, payload,
           missed ? " (some may have been missed)" : "");
    if (++a->received == EXPECTED) {
        dal_async_unlisten(h, CHANNEL);
        finish(a, 0);
    }
}

/* The third notification, from a blocking connection: any session's
 * NOTIFY reaches every session listening. */
static int notify_sync(const char *url)
{
    dal_db *db = NULL;
    int rc = dal_open(url, &db);

    if (rc == DAL_OK)
        rc = dal_notify(db, CHANNEL, "order 3 shipped (sync)");
    if (rc != DAL_OK)
        fprintf(stderr, "listen: dal_notify: %s\n",
                db ? dal_errmsg(db) : dal_errstr(rc));
    dal_close(db);
    return rc;
}

static void sent(dal_async_req *req, int status)
{
    struct app *a = req->data;

    if (status != DAL_OK) {
        fprintf(stderr, "listen: NOTIFY: %s\n", dal_async_req_errmsg(req));
        finish(a, 1);
        return;
    }
    /* The LISTEN ran before this NOTIFY (one connection runs them in
     * order), so another session's NOTIFY is heard now. */
    if (req == &a->req[1] && notify_sync(a->url) != DAL_OK)
        finish(a, 1);
}

static void opened(dal_async *h, int status)
{
    struct app *a = dal_async_data(h);
    int rc;

    if (status != DAL_OK) {
        fprintf(stderr, "listen: open: %s\n", dal_async_errmsg(h));
        finish(a, 1);
        return;
    }
    rc = dal_async_listen(h, CHANNEL, on_notification);
    if (rc == DAL_E_UNSUPPORTED) {
        printf("LISTEN/NOTIFY is unsupported on %s: nothing to do\n",
               dal_async_backend(h));
        finish(a, 0);
        return;
    }
    if (rc != DAL_OK) {
        fprintf(stderr, "listen: dal_async_listen: %s\n", dal_errstr(rc));
        finish(a, 1);
        return;
    }
    printf("listening on %s\n", CHANNEL);
    /* Sent after the LISTEN on the same connection, so heard. */
    a->req[0].data = a->req[1].data = a;
    if (dal_async_notify(&a->req[0], h, CHANNEL, "order 1 paid", sent)
        || dal_async_notify(&a->req[1], h, CHANNEL, "order 2 packed",
                            sent))
        finish(a, 1);
}

int main(int argc, char **argv)
{
    struct app a;
    uv_loop_t loop;
    int rc;

    memset(&a, 0, sizeof a);
    a.url = argc > 1 ? argv[1] : "sqlite::memory:";
    a.loop = &loop;
    a.rc = 1;
    if (uv_loop_init(&loop) != 0)
        return 1;
    rc = dal_async_open(&loop, a.url, 1, opened, &a, &a.h);
    if (rc != DAL_OK) {
        fprintf(stderr, "listen: dal_async_open: %s\n", dal_errstr(rc));
        uv_loop_close(&loop);
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "listen: handles left open on the loop\n");
        return 1;
    }
    return a.rc;
}
