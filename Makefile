# Makefile - libdal's hand-written build. configure writes config.mk
# (compiler, dependency flags, prefix); this file runs it when missing.
#
#   make                 libdal.a, libdal.so, examples
#   make check           everything, then every test against SQLite and a
#                        throwaway PostgreSQL (DAL_TEST_PG_URL to use yours)
#   make demo [URL=...]  the quickstart, on sqlite:demo.db by default
#   make bench           libdal vs raw sqlite3/libpq
#   make install PREFIX=/dir   (and DESTDIR=) / uninstall
#   make dist / distcheck
#   make check SANITIZE=address,undefined BUILD=build-asan
#   make check-valgrind

-include config.mk

BUILD ?= build
PREFIX ?= $(if $(prefix),$(prefix),/usr/local)
URL ?= sqlite:demo.db
SANITIZE ?=
VERSION ?= 0.1.0
SOMAJOR = 0
ABI_VERSION = $(SOMAJOR).1.0

WARN = -Wall -Wextra -Wpedantic -Werror -Wshadow -Wstrict-prototypes \
       -Wmissing-prototypes -Wvla
OPT ?= -O2 -g
SANFLAGS = $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
           -fno-sanitize-recover=all)
BASE_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(OPT) $(WARN) $(SANFLAGS)
LIB_CFLAGS = $(BASE_CFLAGS) -pthread -fPIC -fvisibility=hidden -DDAL_BUILDING \
             -Iinclude -Ilib $(SQLITE3_CFLAGS) $(LIBPQ_CFLAGS) $(LIBUV_CFLAGS)
DEP_LIBS = $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(LIBUV_LIBS) -pthread
TEST_CFLAGS = $(BASE_CFLAGS) -Iinclude -Ilib $(CHECK_CFLAGS) \
              $(SQLITE3_CFLAGS) $(LIBPQ_CFLAGS) $(LIBUV_CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) $(CONFIG_LDFLAGS)

LIB_SRCS = $(wildcard lib/*.c) $(wildcard backends/sqlite/*.c) \
           $(wildcard backends/postgres/*.c)
LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/%.o)
HEADERS = include/dal.h $(wildcard include/dal/*.h)
INT_HEADERS = $(wildcard lib/*.h backends/*/*.h)
EXAMPLES = $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
TESTS = $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/*.c))

TOOL = $(BUILD)/dal
STATIC_LIB = $(BUILD)/libdal.a
SHARED_LIB = $(BUILD)/libdal.so.$(ABI_VERSION)

.PHONY: all check check-build check-exports check-man demo bench install \
        uninstall installcheck dist distcheck clean distclean deps \
        check-valgrind

all: $(STATIC_LIB) $(SHARED_LIB) $(EXAMPLES) $(TOOL)

# configure is generated (build-aux/bootstrap.sh) and then run when
# config.mk is missing, so that a fresh clone builds with plain `make`.
config.mk: configure.ac config.mk.in dal.pc.in
	@bash build-aux/install-deps.sh
	sh build-aux/bootstrap.sh
	./configure --prefix=$(PREFIX) -q

deps:
	@bash build-aux/install-deps.sh

$(BUILD)/%.o: %.c $(HEADERS) $(INT_HEADERS) config.mk
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -c $< -o $@

$(STATIC_LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $(LIB_OBJS)

$(SHARED_LIB): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libdal.so.$(SOMAJOR) -Wl,--no-undefined \
	    -o $@ $(LIB_OBJS) $(LDFLAGS_ALL) $(DEP_LIBS)
	ln -sf libdal.so.$(ABI_VERSION) $(BUILD)/libdal.so.$(SOMAJOR)
	ln -sf libdal.so.$(ABI_VERSION) $(BUILD)/libdal.so

$(BUILD)/examples/%: examples/%.c $(STATIC_LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Iinclude $< -o $@ $(STATIC_LIB) $(LDFLAGS_ALL) \
	    $(DEP_LIBS)

$(TOOL): tools/dal.c $(STATIC_LIB) $(HEADERS)
	$(CC) $(BASE_CFLAGS) -Iinclude tools/dal.c -o $@ $(STATIC_LIB) \
	    $(LDFLAGS_ALL) $(DEP_LIBS)

$(BUILD)/tests/%: tests/%.c $(STATIC_LIB) $(HEADERS) lib/dal-int.h \
                 $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< -o $@ $(STATIC_LIB) $(LDFLAGS_ALL) \
	    $(CHECK_LIBS) $(DEP_LIBS)

# The exported symbols must be exactly the committed list (libpq's
# exports.txt): a symbol that leaks or vanishes changes the ABI.
check-exports: $(SHARED_LIB)
	@nm -D --defined-only $(SHARED_LIB) | awk '$$2 == "T" { print $$3 }' \
	    | sort > $(BUILD)/exports.actual
	@grep -v '^#' lib/exports.txt | sed '/^$$/d' | sort \
	    | diff -u - $(BUILD)/exports.actual \
	    || { echo "exported symbols differ from lib/exports.txt" >&2; \
	         exit 1; }
	@echo "check-exports: $$(wc -l < $(BUILD)/exports.actual) symbols match"
	@! nm $(LIB_OBJS) | grep -E ' U (exit|abort|_exit)$$' \
	    || { echo "the library must not call exit() or abort()" >&2; \
	         exit 1; }

check-man:
	@sh build-aux/check-man.sh lib/exports.txt man

check-build: deps all $(TESTS) check-exports check-man

# One throwaway PostgreSQL serves the whole run and is stopped at the end,
# failures included (tests/pg/with-pg.sh).
check: check-build
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) \
	    bash tests/pg/with-pg.sh sh tests/run-all.sh

check-valgrind: check-build
	@BUILD=$(BUILD) VALGRIND=1 bash tests/pg/with-pg.sh sh tests/run-all.sh

installcheck:
	@BUILD=$(BUILD) sh tests/installcheck.sh

demo: deps $(BUILD)/examples/quickstart
	$(BUILD)/examples/quickstart '$(URL)'

bench: deps $(STATIC_LIB)
	@mkdir -p $(BUILD)/bench
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -Iinclude \
	    $(SQLITE3_CFLAGS) $(LIBPQ_CFLAGS) tests/bench/bench.c \
	    -o $(BUILD)/bench/bench $(STATIC_LIB) $(DEP_LIBS) -lpthread -lm
	sh tests/bench/run.sh $(BUILD)/bench/bench

install: $(STATIC_LIB) $(SHARED_LIB) $(TOOL)
	install -d $(DESTDIR)$(PREFIX)/include/dal $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man3 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOL) $(DESTDIR)$(PREFIX)/bin/dal
	install -m 644 include/dal.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(filter-out include/dal.h,$(HEADERS)) \
	    $(DESTDIR)$(PREFIX)/include/dal/
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libdal.so.$(ABI_VERSION) \
	    $(DESTDIR)$(PREFIX)/lib/libdal.so.$(SOMAJOR)
	ln -sf libdal.so.$(ABI_VERSION) $(DESTDIR)$(PREFIX)/lib/libdal.so
	sed 's|^prefix=.*|prefix=$(PREFIX)|' dal.pc \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/dal.pc
	install -m 644 man/man3/*.3 $(DESTDIR)$(PREFIX)/share/man/man3/
	install -m 644 man/man7/*.7 $(DESTDIR)$(PREFIX)/share/man/man7/
	install -m 644 man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/dal.h
	rm -rf $(DESTDIR)$(PREFIX)/include/dal
	rm -f $(DESTDIR)$(PREFIX)/lib/libdal.a \
	    $(DESTDIR)$(PREFIX)/lib/libdal.so* \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/dal.pc
	for f in man/man3/*.3; do \
	    rm -f $(DESTDIR)$(PREFIX)/share/man/man3/$${f##*/}; done
	rm -f $(DESTDIR)$(PREFIX)/share/man/man7/dal.7 \
	    $(DESTDIR)$(PREFIX)/share/man/man1/dal.1 $(DESTDIR)$(PREFIX)/bin/dal

DISTNAME = libdal-$(VERSION)
dist:
	rm -rf $(BUILD)/$(DISTNAME) && mkdir -p $(BUILD)/$(DISTNAME)
	git ls-files | tar -cf - -T - | tar -xf - -C $(BUILD)/$(DISTNAME)
	cd $(BUILD)/$(DISTNAME) && sh build-aux/bootstrap.sh \
	    && rm -rf autom4te.cache
	tar -C $(BUILD) -czf $(DISTNAME).tar.gz $(DISTNAME)
	@echo "dist: $(DISTNAME).tar.gz"

distcheck: dist
	rm -rf $(BUILD)/distcheck && mkdir -p $(BUILD)/distcheck
	tar -C $(BUILD)/distcheck -xzf $(DISTNAME).tar.gz
	$(MAKE) -C $(BUILD)/distcheck/$(DISTNAME) check

clean:
	rm -rf $(BUILD) build-* demo.db demo.db-*

distclean: clean
	rm -rf config.mk config.h config.h.in config.log config.status \
	    configure aclocal.m4 autom4te.cache dal.pc $(DISTNAME).tar.gz
