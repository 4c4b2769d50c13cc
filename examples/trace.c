/*
 * trace.c - print libdal's spans as JSON lines: a few statements and one
 * transaction, whose statements are children of its span.
 *
 *   build/examples/trace sqlite::memory:
 *   build/examples/trace postgres://localhost/app
 *
 * An OpenTelemetry exporter would sit where print_span() is: the span
 * carries the W3C trace and span ids, the parent's id, wall-clock start
 * and end, a status and db.* attributes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <dal.h>

static void print_hex(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        printf("%02x", p[i]);
}

/* s as a JSON string. */
static void print_str(const char *s, size_t n)
{
    size_t i;

    putchar('"');
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void print_span(const dal_span *sp, void *data)
{
    int i;

    (void)data;
    printf("{\"name\":\"%s\",\"trace_id\":\"", sp->name);
    print_hex(sp->trace_id, 16);
    printf("\",\"span_id\":\"");
    print_hex(sp->span_id, 8);
    printf("\",\"parent_id\":\"");
    print_hex(sp->parent_id, 8);
    printf("\",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64
           ",\"status\":\"%s\",\"attributes\":{", sp->start_unix_ns,
           sp->end_unix_ns, sp->status == DAL_OK ? "ok" : "error");
    for (i = 0; i < sp->nattrs; i++) {
        const dal_value *v = &sp->attrs[i].value;

        printf("%s\"%s\":", i ? "," : "", sp->attrs[i].key);
        if (v->type == DAL_TYPE_INT64)
            printf("%" PRId64, v->u.i);
        else
            print_str(v->u.s.p, v->u.s.len);
    }
    printf("}}\n");
}

static int fail(dal_db *db, const char *what)
{
    fprintf(stderr, "trace: %s: %s\n", what,
            db ? dal_errmsg(db) : "out of memory");
    return 1;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sqlite::memory:";
    dal_observer *obs = NULL;
    dal_tracer *tracer = NULL;
    dal_db *db = NULL;
    dal_value v[2];
    char tp[DAL_TRACEPARENT_LEN + 1];
    int64_t n = 0;
    int rc = 1;

    if (dal_observer_new(&obs) != DAL_OK
        || dal_tracer_new(NULL, print_span, NULL, 0, &tracer) != DAL_OK
        || dal_tracer_observe(tracer, obs) != DAL_OK) {
        fprintf(stderr, "trace: out of memory\n");
        goto out;
    }
    if (dal_open_observed(url, obs, &db) != DAL_OK) {
        fail(db, "open");
        goto out;
    }
    /* Join the caller's trace, as a server would from its request's
     * traceparent header. */
    if (dal_trace_set_parent(db, "00-4bf92f3577b34da6a3ce929d0e0e4736-"
                             "00f067aa0ba902b7-01") != DAL_OK) {
        fail(db, "set parent");
        goto out;
    }
    if (dal_exec(db, "DROP TABLE IF EXISTS trace_demo") != DAL_OK
        || dal_exec(db, "CREATE TABLE trace_demo (id INTEGER PRIMARY KEY, "
                    "name TEXT)") != DAL_OK) {
        fail(db, "create");
        goto out;
    }
    if (dal_begin(db, 0) != DAL_OK) {
        fail(db, "begin");
        goto out;
    }
    v[0] = DAL_V_INT64(1);
    v[1] = DAL_V_TEXT("ada");
    if (dal_exec_params(db, "INSERT INTO trace_demo VALUES (?, ?)", v, 2)
        != DAL_OK) {
        fail(db, "insert");
        goto out;
    }
    v[0] = DAL_V_INT64(2);
    v[1] = DAL_V_TEXT("grace");
    if (dal_exec_params(db, "INSERT INTO trace_demo VALUES (?, ?)", v, 2)
        != DAL_OK || dal_trace_current(db, tp) != DAL_OK) {
        fail(db, "insert");
        goto out;
    }
    fprintf(stderr, "trace: inside the transaction: traceparent %s\n", tp);
    if (dal_commit(db) != DAL_OK) {
        fail(db, "commit");
        goto out;
    }
    if (dal_query_int64(db, "SELECT count(*) FROM trace_demo", NULL, 0, &n)
        != DAL_OK || n != 2) {
        fail(db, "count");
        goto out;
    }
    if (dal_exec(db, "DROP TABLE trace_demo") != DAL_OK) {
        fail(db, "drop");
        goto out;
    }
    rc = 0;
out:
    dal_close(db);
    dal_observer_free(obs);
    dal_tracer_free(tracer);
    return rc;
}
