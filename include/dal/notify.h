/*
 * dal/notify.h - LISTEN/NOTIFY, blocking: listen to channels on a
 * connection, wait for notifications with a timeout, send them.
 *
 * PostgreSQL only. On SQLite, which has no notifications between
 * connections, every call fails with DAL_E_UNSUPPORTED (SQLSTATE
 * 0A000): a program that needs them there must poll a table.
 *
 * Listen on a connection of its own: notifications are delivered to
 * the session that listens, and one that is also used for queries (or
 * handed out by a pool) would see them only when it waits.
 */
#ifndef DAL_NOTIFY_H
#define DAL_NOTIFY_H

#include "dal/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A notification. channel and payload are NUL-terminated and live in
 * the same allocation; free it with dal_notification_free().
 * missed is 1 for the marker dal_notify_wait() returns after it had to
 * reconnect (channel and payload are then NULL): notifications sent
 * while the connection was down are lost, and the program should
 * re-read whatever state it keeps in step with them.
 */
typedef struct dal_notification {
    char *channel;
    char *payload;  /* "" when the sender gave none */
    int pid;        /* the sending server process */
    int missed;
} dal_notification;

/*
 * dal_listen - LISTEN on channel (a non-empty UTF-8 name without
 * quotes or control characters; it is quoted, so case and spaces
 * count). Inside a transaction it
 * takes effect at commit, as in PostgreSQL. Listening twice is
 * harmless. The channel is remembered, to listen again after
 * dal_notify_wait() reconnects.
 * Returns DAL_OK, DAL_E_MISUSE (a channel name as above is not),
 * DAL_E_UNSUPPORTED (SQLite), DAL_NOMEM or the error of
 * the LISTEN.
 */
DAL_EXTERN int dal_listen(dal_db *db, const char *channel);

/* dal_unlisten - UNLISTEN channel, or every channel when it is NULL.
 * Returns as dal_listen(). */
DAL_EXTERN int dal_unlisten(dal_db *db, const char *channel);

/*
 * dal_notify - send a notification on channel with payload (NULL for
 * none; PostgreSQL limits it to 8000 bytes), through pg_notify(). In a
 * transaction it is delivered at commit, and not at all on rollback.
 * Returns DAL_OK, DAL_E_MISUSE, DAL_E_UNSUPPORTED (SQLite) or the
 * statement's error.
 */
DAL_EXTERN int dal_notify(dal_db *db, const char *channel,
                          const char *payload);

/*
 * dal_notify_wait - the next notification for the channels db listens
 * to, waiting up to timeout_ms milliseconds (0: only what has arrived;
 * negative: without end). On success *out is a new notification (free
 * it with dal_notification_free()).
 *
 * When the connection is found lost and db listens to any channel,
 * it is connected again (libpq's PQreset: same URL, the first host
 * that answers), every channel is listened to again, the statement
 * cache is emptied (the old session's prepared statements are gone),
 * and the call returns a marker with missed = 1. If connecting again
 * fails, the call returns DAL_E_CONNECT and the next call tries again.
 * Statements the caller prepared before (dal_prepare()) belong to the
 * lost session: prepare them again.
 *
 * Returns DAL_OK, DAL_E_TIMEOUT (57014; nothing arrived in time),
 * DAL_E_CONNECT, DAL_E_MISUSE (out NULL), DAL_E_UNSUPPORTED (SQLite)
 * or DAL_NOMEM. *out is NULL on every error.
 */
DAL_EXTERN int dal_notify_wait(dal_db *db, int timeout_ms,
                               dal_notification **out);

/* Free a notification; NULL is accepted. */
DAL_EXTERN void dal_notification_free(dal_notification *n);

#ifdef __cplusplus
}
#endif

#endif /* DAL_NOTIFY_H */
