/*
 * dal/log.h - structured logging as an observer hook: one JSON object
 * per line, with a level per category and a slow-statement threshold.
 *
 * Events and their levels:
 *   category "statement"  a statement finished: debug; slower than the
 *                         threshold: warn; failed: error
 *   category "migrate"    the same for statements the migration engine
 *                         runs (dal_event.origin "migrate"), but info
 *                         when they succeed
 *   category "tx"         begin, commit: debug; rollback: info; a
 *                         failed commit: error
 *   category "connect"    connect: info, or error when it failed;
 *                         disconnect: info
 *   category "pool"       checkout, return: debug. Nothing emits pool
 *                         events yet (the pool is to come): the
 *                         category is accepted so that configurations
 *                         need not change when it does.
 * A line is written when its level is at least its category's level
 * (by default DAL_LOG_INFO for every category).
 *
 * Fields, in this order, each only when it applies:
 *   ts           wall clock, RFC 3339 UTC with microseconds
 *                ("2026-11-21T10:17:45.123456Z")
 *   level        "debug", "info", "warn", "error"
 *   category     as above
 *   event        "statement", "begin", "commit", "rollback", "connect",
 *                "disconnect", "checkout", "return"
 *   backend      "sqlite" or "postgres"
 *   role         "primary" or "replica"
 *   url          connect events: the URL with its password as ***
 *   sql          the statement as the caller wrote it
 *   kind         the statement kind (dal_stmt_kind_name())
 *   nparams      its number of parameters
 *   params       with DAL_LOG_PARAMS only: the values, as JSON
 *                (null, true/false, numbers, strings; blobs as
 *                "\\x<hex>")
 *   duration_ms  statements, commit and rollback
 *   rows         rows returned or changed, when known
 *   tx_depth     transaction events
 *   slow         true when over the threshold
 *   rc           error code name ("DAL_E_SYNTAX"), when it failed
 *   sqlstate     when it failed
 *   message      dal_errmsg() of the connection, when it failed
 *   tenant, actor  the connection's labels, when set
 *
 * Secrets: URLs are logged redacted, and libdal scrubs the URL's
 * password from every error message. Parameter values are left out
 * (only "nparams" is written) unless the log was made with
 * DAL_LOG_PARAMS; without it the hook does not even ask the core for
 * them. A server may quote a bound value in its error message
 * (PostgreSQL: invalid input syntax for type bigint: "..."): with the
 * values masked, the double-quoted parts of a data-exception message
 * (SQLSTATE class 22) of a statement with parameters are logged as
 * "***". The error message the caller reads with dal_errmsg() is not
 * changed. SQL text is logged as written: a secret written into SQL as
 * a literal (rather than bound) is logged.
 *
 * A statement that fails while it is prepared, before it runs (SQLite
 * reports syntax errors and unknown tables then; PostgreSQL for the
 * statements libdal caches), reaches no observer hook, so no line.
 *
 * Threads: a log is set up by one thread (dal_log_new(), the setters,
 * dal_log_observe()) before its observer is attached; then it may serve
 * connections in several threads. A line is formatted in a buffer of
 * the connection's own and written with one fwrite() (stdio locks the
 * stream, so lines never interleave) or passed to the sink callback,
 * which must then be thread-safe itself.
 */
#ifndef DAL_LOG_H
#define DAL_LOG_H

#include <stdio.h>

#include "dal/core.h"
#include "dal/observe.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dal_log_level {
    DAL_LOG_DEBUG = 0,
    DAL_LOG_INFO = 1,
    DAL_LOG_WARN = 2,
    DAL_LOG_ERROR = 3,
    DAL_LOG_OFF = 4    /* as a category's level: log nothing of it */
} dal_log_level;

typedef enum dal_log_category {
    DAL_LOG_STATEMENT = 0,
    DAL_LOG_TX = 1,
    DAL_LOG_CONNECT = 2,
    DAL_LOG_MIGRATE = 3,
    DAL_LOG_POOL = 4
} dal_log_category;

#define DAL_LOG_NCATEGORIES 5

/* Flag of dal_log_new(): log parameter values (masked by default). */
#define DAL_LOG_PARAMS 0x1u

/* A sink: receives each line (without its newline, NUL-terminated). */
typedef void (*dal_log_sink_fn)(const char *line, size_t len, void *data);

typedef struct dal_log dal_log;

/*
 * Make a log in *out that writes each line plus '\n' to fp, or passes
 * it to sink with data: exactly one of fp and sink. flags: 0 or
 * DAL_LOG_PARAMS. Add it to an observer with dal_log_observe(); free it
 * with dal_log_free() (fp stays the caller's).
 * Returns DAL_OK, DAL_E_MISUSE (out NULL, both or neither sink, unknown
 * flag) or DAL_NOMEM.
 */
DAL_EXTERN int dal_log_new(FILE *fp, dal_log_sink_fn sink, void *data,
                           unsigned flags, dal_log **out);

/*
 * Log lines of category cat at level min and above (DAL_LOG_OFF: none).
 * Set before the log's observer is attached. Returns DAL_OK or
 * DAL_E_MISUSE (NULL log, unknown category or level).
 */
DAL_EXTERN int dal_log_set_level(dal_log *log, dal_log_category cat,
                                 dal_log_level min);

/*
 * A statement that takes at least ms milliseconds (and succeeds) is
 * logged at warn with "slow":true; ms < 0 turns this off (the default).
 * Set before the log's observer is attached. Returns DAL_OK or
 * DAL_E_MISUSE.
 */
DAL_EXTERN int dal_log_set_slow(dal_log *log, double ms);

/*
 * Add log's hook to obs (before obs is attached to any connection).
 * Returns what dal_observer_add() returns.
 */
DAL_EXTERN int dal_log_observe(dal_log *log, dal_observer *obs);

/* Lines lost because memory ran out while formatting them. */
DAL_EXTERN long dal_log_dropped(const dal_log *log);

/*
 * Free log. DAL_E_MISUSE (and nothing freed) while a connection still
 * has it attached; NULL is accepted (DAL_OK).
 */
DAL_EXTERN int dal_log_free(dal_log *log);

#ifdef __cplusplus
}
#endif

#endif /* DAL_LOG_H */
