#!/bin/sh
# tool.sh - the dal command-line tool, end to end, on an SQLite file and
# (when DAL_TEST_PG_URL is set) PostgreSQL: every subcommand, --help, the
# documented exit codes, and a migration session (new, up, status, down,
# redo, dry run, drift) whose up / down / up gives the same schema.
set -u
BUILD=${BUILD:-build}
DAL="$BUILD/dal"
fails=0
checks=0
work=$(mktemp -d /tmp/dal-tool.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

check() {   # check NAME EXPECTED_EXIT CMD...
    name=$1 want=$2
    shift 2
    checks=$((checks + 1))
    "$@" >"$work/out" 2>"$work/err"
    got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: $name: exit $got, want $want"
        sed 's/^/  | /' "$work/out" "$work/err"
        fails=$((fails + 1))
        return 1
    fi
    return 0
}

contains() {   # contains NAME FILE TEXT
    checks=$((checks + 1))
    if ! grep -qF -- "$3" "$2"; then
        echo "FAIL: $1: no '$3' in:"
        sed 's/^/  | /' "$2"
        fails=$((fails + 1))
    fi
}

# Usage and help, backend independent.
check "no command" 2 "$DAL"
check "--help" 0 "$DAL" --help
contains "--help" "$work/out" "migrate up|down|redo|status|new"
check "--version" 0 "$DAL" --version
check "unknown command" 2 "$DAL" frobnicate
for c in migrate ping schema sql diff stats; do
    check "$c --help" 0 "$DAL" "$c" --help
    contains "$c --help" "$work/out" "usage: dal $c"
done
check "unknown option" 2 "$DAL" ping --bogus
check "bad URL" 2 "$DAL" ping "nosuch://x"
contains "bad URL" "$work/err" "known schemes"
check "no URL" 2 env -u DAL_URL "$DAL" schema
check "password masked" 1 "$DAL" ping "postgres://u:topsecret@127.0.0.1:1/x"
checks=$((checks + 1))
if grep -q topsecret "$work/out" "$work/err"; then
    echo "FAIL: a password reached the output"
    fails=$((fails + 1))
fi

session() {   # session LABEL URL
    label=$1 url=$2
    dir="$work/$label/migrations"
    mkdir -p "$work/$label"
    check "$label: sql drop" 0 "$DAL" sql "$url" \
        "DROP TABLE IF EXISTS tool_users"
    "$DAL" sql "$url" "DROP TABLE IF EXISTS dal_migrations" >/dev/null 2>&1
    check "$label: ping" 0 "$DAL" ping "$url" --count 20
    contains "$label: ping" "$work/out" "median"
    check "$label: new 1" 0 "$DAL" migrate new create_users --dir "$dir"
    contains "$label: new 1" "$work/out" "0001_create_users.up.sql"
    printf 'CREATE TABLE tool_users (id BIGINT PRIMARY KEY, email TEXT);\n'\
'INSERT INTO tool_users VALUES (1, '"'"'a@x'"'"');\n' \
        > "$dir/0001_create_users.up.sql"
    echo "DROP TABLE tool_users;" > "$dir/0001_create_users.down.sql"
    check "$label: new 2" 0 "$DAL" migrate new add_name --dir "$dir"
    echo "ALTER TABLE tool_users ADD COLUMN name TEXT;" \
        > "$dir/0002_add_name.up.sql"
    echo "ALTER TABLE tool_users DROP COLUMN name;" \
        > "$dir/0002_add_name.down.sql"
    check "$label: status pending" 0 "$DAL" migrate status --dir "$dir" \
        --url "$url"
    contains "$label: status pending" "$work/out" "pending"
    check "$label: dry run" 0 "$DAL" migrate up --dry-run --dir "$dir" \
        --url "$url"
    contains "$label: dry run" "$work/out" "ADD COLUMN name"
    check "$label: still pending" 0 "$DAL" migrate status --dir "$dir" \
        --url "$url"
    contains "$label: still pending" "$work/out" "0001  pending"
    check "$label: up" 0 "$DAL" migrate up --dir "$dir" --url "$url"
    contains "$label: up" "$work/out" "2 migrations applied"
    check "$label: schema" 0 "$DAL" schema "$url"
    cp "$work/out" "$work/schema1"
    contains "$label: schema" "$work/schema1" "column name TEXT"
    check "$label: sql" 0 "$DAL" sql "$url" \
        "SELECT id, email FROM tool_users"
    contains "$label: sql" "$work/out" "(1 row)"
    check "$label: down all" 0 "$DAL" migrate down --target 0 --steps 0 \
        --dir "$dir" --url "$url"
    check "$label: up again" 0 "$DAL" migrate up --dir "$dir" --url "$url"
    check "$label: schema again" 0 "$DAL" schema "$url"
    checks=$((checks + 1))
    if ! cmp -s "$work/schema1" "$work/out"; then
        echo "FAIL: $label: up/down/up changed the schema"
        diff "$work/schema1" "$work/out" | sed 's/^/  | /'
        fails=$((fails + 1))
    fi
    check "$label: redo" 0 "$DAL" migrate redo --dir "$dir" --url "$url"
    echo "-- edited" >> "$dir/0001_create_users.up.sql"
    check "$label: drift" 1 "$DAL" migrate up --dir "$dir" --url "$url"
    contains "$label: drift" "$work/err" "changed since it was applied"
    check "$label: status drift" 0 "$DAL" migrate status --dir "$dir" \
        --url "$url"
    contains "$label: status drift" "$work/out" "CHANGED"
    check "$label: bad sql" 1 "$DAL" sql "$url" "SELEC 1"
    contains "$label: bad sql" "$work/err" "42601"
    check "$label: bad dir" 2 "$DAL" migrate up --dir "$work/nosuch" \
        --url "$url"
    check "$label: diff same" 0 "$DAL" diff "$url" "$url"
    contains "$label: diff same" "$work/out" "no differences"
    "$DAL" sql "$url" "DROP TABLE tool_users" >/dev/null 2>&1
    "$DAL" sql "$url" "DROP TABLE dal_migrations" >/dev/null 2>&1
}

session sqlite "sqlite:$work/app.db"
if [ -n "${DAL_TEST_PG_URL:-}" ]; then
    session postgres "$DAL_TEST_PG_URL"
fi

# dal stats: a workload's metrics, in the Prometheus text format.
stats_check() {   # stats_check LABEL URL BACKEND
    label=$1 url=$2 be=$3
    "$DAL" sql "$url" "DROP TABLE IF EXISTS tool_stats" >/dev/null 2>&1
    printf '%s\n' "CREATE TABLE tool_stats (id INT PRIMARY KEY, v TEXT);" \
        "INSERT INTO tool_stats VALUES (1, 'a');" \
        "INSERT INTO tool_stats VALUES (2, 'b');" \
        "SELECT * FROM tool_stats WHERE id = 1;" \
        "SELECT * FROM tool_stats WHERE id = 2;" > "$work/stats.sql"
    check "$label: stats" 0 "$DAL" stats "$url" "$work/stats.sql"
    contains "$label: stats" "$work/out" \
        "dal_statements_total{backend=\"$be\",kind=\"insert\",outcome=\"ok\"} 2"
    contains "$label: stats" "$work/out" \
        "dal_rows_total{backend=\"$be\",kind=\"select\"} 2"
    contains "$label: stats" "$work/out" \
        "dal_statement_duration_seconds_count{backend=\"$be\"} 5"
    contains "$label: stats" "$work/out" "# TYPE dal_statements_total counter"
    contains "$label: stats table" "$work/out" \
        "SELECT * FROM tool_stats WHERE id = ?"
    # Every line is a comment, a sample or blank (one valid scrape).
    checks=$((checks + 1))
    if grep -vE '^(#.*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eInfNa]+|)$' \
        "$work/out" >"$work/bad"; then
        echo "FAIL: $label: stats: lines that are not exposition text:"
        sed 's/^/  | /' "$work/bad"
        fails=$((fails + 1))
    fi
    # From standard input; a failing statement: exit 1, metrics printed.
    echo "INSERT INTO tool_stats VALUES (1, 'dup');" > "$work/dup.sql"
    check "$label: stats error" 1 "$DAL" stats "$url" - < "$work/dup.sql"
    contains "$label: stats error" "$work/out" \
        "dal_errors_total{backend=\"$be\",class=\"23\"} 1"
    contains "$label: stats error" "$work/err" "23505"
    "$DAL" sql "$url" "DROP TABLE tool_stats" >/dev/null 2>&1
}
stats_check sqlite "sqlite:$work/stats.db" sqlite
if [ -n "${DAL_TEST_PG_URL:-}" ]; then
    stats_check postgres "$DAL_TEST_PG_URL" postgres
fi
check "stats no file" 2 "$DAL" stats "sqlite:$work/stats.db" "$work/nosuch.sql"
check "stats password masked" 1 "$DAL" stats \
    "postgres://u:topsecret@127.0.0.1:1/x" "$work/stats.sql"
checks=$((checks + 1))
if grep -q topsecret "$work/out" "$work/err"; then
    echo "FAIL: dal stats: a password reached the output"
    fails=$((fails + 1))
fi

# diff between two SQLite files, with and without a rename hint.
"$DAL" sql "sqlite:$work/a.db" "CREATE TABLE t (id INTEGER PRIMARY KEY, old TEXT)" >/dev/null
"$DAL" sql "sqlite:$work/b.db" "CREATE TABLE t (id INTEGER PRIMARY KEY, new TEXT)" >/dev/null
check "diff rename unconfirmed" 3 "$DAL" diff "sqlite:$work/a.db" "sqlite:$work/b.db"
contains "diff rename unconfirmed" "$work/err" "t.old=new"
check "diff rename hint" 0 "$DAL" diff "sqlite:$work/a.db" "sqlite:$work/b.db" --rename t.old=new
contains "diff rename hint" "$work/out" 'RENAME COLUMN "old" TO "new"'

echo "tool: $((checks - fails)) passed, $fails failed"
[ "$fails" = 0 ]
