# libgmr - Guru Meditation Reports for native Linux processes.
#
#   make                  build/libgmr.so
#   make check            unit and integration tests (SANITIZE=address,undefined for sanitizers)
#   make demo             run the example daemon under libgmr and show a report
#   make install          PREFIX=/usr/local DESTDIR=
#   make deb              Debian packages (debian/), in build/
#   make format | lint    clang-format; cppcheck and clang-tidy
#
# libunwind and elfutils are needed only for their headers here: libgmr
# loads them at run time (see src/symbols/deps.h for why).

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
CC ?= cc
CXX ?= g++
PYTHON ?= python3
# The soname's number: bumped only on an incompatible change of the ABI,
# which src/libgmr.map lists (and debian/libgmr0.symbols, in the package).
SOVERSION := 0

comma := ,
ifeq ($(SANITIZE),)
BUILD ?= build
else
BUILD ?= build/san-$(subst $(comma),-,$(SANITIZE))
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
# The same for C++: -Wmissing-declarations is its -Wmissing-prototypes.
CXX_WARN := $(filter-out -Wstrict-prototypes -Wmissing-prototypes,$(WARN)) -Wmissing-declarations
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 -fPIC -fvisibility=hidden -pthread -D_GNU_SOURCE $(WARN) -Iinclude -Isrc $(DEPS_CFLAGS) \
             $(SAN_FLAGS) $(CFLAGS)
LIB_LDFLAGS = -shared -pthread -Wl,-z,defs -Wl,-z,now -Wl,--as-needed -Wl,-soname,libgmr.so.$(SOVERSION) \
              -Wl,--version-script=src/libgmr.map \
              $(SAN_FLAGS) $(LDFLAGS)

LIB_SRCS := $(wildcard src/*.c src/*/*.c src/report/sections/*.c)
PRELOAD_SRCS := $(wildcard preload/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
PRELOAD_OBJS := $(PRELOAD_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/*/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TARGET_SRCS := $(wildcard tests/targets/*.c)
TARGET_CXX_SRCS := $(wildcard tests/targets/*.cc)
TARGET_BINS := $(TARGET_SRCS:tests/targets/%.c=$(BUILD)/targets/%) \
               $(TARGET_CXX_SRCS:tests/targets/%.cc=$(BUILD)/targets/%) $(BUILD)/targets/cxxapp-static
EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLE_BINS := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)
TOOL_LIB_SRCS := tools/channel.c tools/proctree.c
TOOL_SRCS := $(filter-out $(TOOL_LIB_SRCS),$(wildcard tools/*.c))
TOOL_BINS := $(TOOL_SRCS:tools/%.c=$(BUILD)/%)

.PHONY: all check unit integration fuzz-smoke fuzz stress bench demo install deb format lint clean

all: $(BUILD)/libgmr.so $(TOOL_BINS)

# Dependencies: install what pkg-config cannot find, then record flags.
# make re-reads this file once it is built, so a fresh machine needs no
# separate set-up step.
ifeq ($(filter clean format,$(MAKECMDGOALS)),)
include $(BUILD)/config.mk
endif

$(BUILD)/config.mk: scripts/install-deps Makefile
	@mkdir -p $(BUILD)
	@pkg-config --exists libunwind-generic libdw libelf check 2>/dev/null || scripts/install-deps
	@printf 'DEPS_CFLAGS := %s\nCHECK_CFLAGS := %s\nCHECK_LIBS := %s\n' \
	    "$$(pkg-config --cflags libunwind-generic libdw)" \
	    "$$(pkg-config --cflags check)" "$$(pkg-config --libs check)" > $@

$(BUILD)/obj/%.o: %.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# What a process's start runs, linked first: its code then lies in the
# first 64 KiB of the library's text, which one page fault maps (the
# kernel's fault-around). src/base/startup.h says why that matters.
STARTUP_OBJS := $(PRELOAD_OBJS) $(addprefix $(BUILD)/obj/src/,base/config.o signal/sigchain.o \
                trigger/signals.o base/signames.o signal/altstack.o watcher.o signal/handlers.o base/log.o \
                signal/crash_handler.o)

# The file keeps its name (tests and tools preload build/libgmr.so); the
# soname's link beside it is what programs linked with -lgmr load.
$(BUILD)/libgmr.so: $(STARTUP_OBJS) $(filter-out $(STARTUP_OBJS),$(LIB_OBJS)) src/libgmr.map
	@echo "  LD      $@"
	@$(CC) $(LIB_LDFLAGS) -o $@ $(filter %.o,$^) -ldl
	@ln -sf libgmr.so $(BUILD)/libgmr.so.$(SOVERSION)

# The engine without the constructor, for unit tests.
$(BUILD)/libgmr-test.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libgmr-test.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -o $@ $< $(BUILD)/libgmr-test.a $(CHECK_LIBS) -ldl \
	    $(SAN_FLAGS)

# Test targets: realistic programs, optimised, with debug info.
$(BUILD)/targets/%: tests/targets/%.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -pthread -D_GNU_SOURCE $(WARN) -Iinclude $(SAN_FLAGS) $(TARGET_FLAGS) \
	    -o $@ $<

$(BUILD)/targets/%: tests/targets/%.cc $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CXX) -std=gnu++17 -O2 -g -pthread -D_GNU_SOURCE $(CXX_WARN) -Iinclude $(SAN_FLAGS) -o $@ $<

# The crash and hostile targets die of the faults they are asked for, as
# plain programs would: a sanitizer in them would catch those first and exit
# its own way. (libgmr in them is still the sanitized one.)
$(BUILD)/targets/crash: SAN_FLAGS :=
$(BUILD)/targets/hostile: SAN_FLAGS :=
$(BUILD)/targets/sleepers: SAN_FLAGS :=
# The fake interpreter's symbols are found as CPython's are: dynamic ones.
$(BUILD)/targets/fakepython: TARGET_FLAGS := -rdynamic
# The module it loads to have greenlets: data only, no sanitizer.
$(BUILD)/targets/_greenlet.fake.so: tests/targets/greenlet/_greenlet.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -shared -fPIC $(WARN) -o $@ $<

# cxxapp with libstdc++ linked in, for a process where libstdc++.so.6
# cannot be loaded. No sanitizer: UBSan's runtime needs libstdc++.so.6.
$(BUILD)/targets/cxxapp-static: tests/targets/cxxapp.cc $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CXX) -std=gnu++17 -O2 -g -pthread -D_GNU_SOURCE $(CXX_WARN) -Iinclude -static-libstdc++ \
	    -static-libgcc -o $@ $<

# Linked against libgmr on purpose, found through an absolute run path.
$(BUILD)/targets/linked: tests/targets/linked.c $(BUILD)/libgmr.so
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g $(WARN) $(SAN_FLAGS) -o $@ $< -L$(BUILD) -Wl,--no-as-needed -lgmr \
	    -Wl,-rpath,$(abspath $(BUILD))

$(BUILD)/examples/%: examples/%.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -pthread -D_GNU_SOURCE $(WARN) -Iinclude $(SAN_FLAGS) -o $@ $< -ldl

# The command-line tools (gmr-report): plain programs, no libgmr inside.
$(BUILD)/%: tools/%.c $(TOOL_LIB_SRCS) $(wildcard tools/*.h) src/trigger/control.h $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -D_GNU_SOURCE $(WARN) $(SAN_FLAGS) -Isrc \
	    -DGMR_LIBDIR='"$(LIBDIR)"' -o $@ $< $(TOOL_LIB_SRCS)

check: unit fuzz-smoke integration

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; CK_VERBOSITY=normal $$t; done

integration: $(BUILD)/libgmr.so $(TARGET_BINS) $(BUILD)/targets/_greenlet.fake.so $(EXAMPLE_BINS) \
             $(TOOL_BINS)
	GMR_TEST_BUILD=$(BUILD) GMR_TEST_SANITIZE=$(SANITIZE) \
	    $(PYTHON) -m unittest discover -s tests/integration -t tests/integration -v

# Fuzzing (tests/fuzz/README.md): the configuration parser, and the
# unwinder with the symbolizer. Without clang's libFuzzer, fuzz-smoke says
# so and make check goes on.
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc -Iinclude $(DEPS_CFLAGS) \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_config_SRCS := src/base/config.c src/base/ini.c src/base/signames.c
FUZZ_unwind_SRCS := $(addprefix src/symbols/,unwind.c symbolize.c symcache.c deps.c vdso.c perfmap.c \
    elf_image.c) $(addprefix src/base/,memread.c maps.c safecopy.c procfs.c fdtable.c tasks.c log.c buf.c) \
    $(wildcard src/arch/*.c)
FUZZERS := config unwind

$(BUILD)/fuzz/fuzz_config: tests/fuzz/fuzz_config.c $(FUZZ_config_SRCS) $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_config_SRCS)

$(BUILD)/fuzz/fuzz_unwind: tests/fuzz/fuzz_unwind.c $(FUZZ_unwind_SRCS) $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_unwind_SRCS) -ldl -pthread

fuzz-smoke:
	@if ! command -v $(FUZZ_CC) >/dev/null 2>&1; then \
	    echo "fuzz-smoke: skipped, $(FUZZ_CC) is not installed (scripts/install-deps)"; exit 0; fi; \
	set -e; for f in $(FUZZERS); do $(MAKE) -s $(BUILD)/fuzz/fuzz_$$f; \
	    tests/fuzz/run $(BUILD)/fuzz/fuzz_$$f $$f $(FUZZ_SMOKE_SECONDS) $(BUILD); done

fuzz: $(FUZZERS:%=$(BUILD)/fuzz/fuzz_%)
	@set -e; for f in $(FUZZERS); do \
	    tests/fuzz/run $(BUILD)/fuzz/fuzz_$$f $$f $(FUZZ_SECONDS) $(BUILD); done

# Benchmarks against eu-stack and gdb (bench/run.py; bench/RESULTS.md).
$(BUILD)/bench/%: bench/%.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -pthread -D_GNU_SOURCE $(WARN) -o $@ $<

bench: $(BUILD)/libgmr.so $(BUILD)/bench/target $(BUILD)/bench/true $(BUILD)/bench/ptrace_floor \
       $(BUILD)/targets/waits $(TOOL_BINS)
	@command -v eu-stack >/dev/null && command -v gdb >/dev/null && \
	    command -v hyperfine >/dev/null || scripts/install-deps --tools
	BUILD=$(BUILD) $(PYTHON) bench/run.py $(BENCH_ARGS)
	BUILD=$(BUILD) $(PYTHON) bench/processes.py
	BUILD=$(BUILD) $(PYTHON) bench/python.py
	BUILD=$(BUILD) $(PYTHON) bench/waits.py

# The stress tests at full size: 1000 reports in a row, and the rest.
stress: $(BUILD)/libgmr.so $(TARGET_BINS)
	GMR_TEST_BUILD=$(BUILD) GMR_STRESS=full $(PYTHON) -m unittest discover -v \
	    -s tests/integration -t tests/integration -p test_stress.py

demo: $(BUILD)/libgmr.so $(BUILD)/examples/demo
	@BUILD=$(BUILD) sh scripts/demo.sh

install: $(BUILD)/libgmr.so $(TOOL_BINS)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7 \
	    $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 0755 $(BUILD)/libgmr.so $(DESTDIR)$(LIBDIR)/libgmr.so.$(SOVERSION)
	ln -sf libgmr.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libgmr.so
	install -m 0755 $(BUILD)/gmr-run $(BUILD)/gmr-report $(DESTDIR)$(BINDIR)/
	install -m 0644 man/gmr-run.1 man/gmr-report.1 $(DESTDIR)$(MANDIR)/man1/
	sed 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    scripts/gmr.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/gmr.pc
	install -m 0644 include/gmr.h $(DESTDIR)$(INCLUDEDIR)/gmr.h
	install -m 0644 man/gmr.h.3 $(DESTDIR)$(MANDIR)/man3/gmr.h.3
	install -m 0644 man/gmr.7 $(DESTDIR)$(MANDIR)/man7/gmr.7

# Debian packages: dpkg-buildpackage in a copy of the tree, whose clean
# step (make clean) then leaves this build/ alone, and without this make's
# variables (SANITIZE, BUILD). The .deb files end in build/.
DEB_VERSION := $(shell sed -n 's/^libgmr (\(.*\)) .*/\1/p;q' debian/changelog)
DEB_TREE := build/deb/libgmr-$(DEB_VERSION)

deb:
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null || \
	    scripts/install-deps --package
	rm -rf build/deb && mkdir -p $(DEB_TREE)
	tar -c --exclude-vcs --exclude-vcs-ignores --exclude=./build . | tar -x -C $(DEB_TREE)
	cd $(DEB_TREE) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -us -uc -b
	rm -f build/libgmr*_$(DEB_VERSION)_* build/gmr-tools*_$(DEB_VERSION)_*
	mv build/deb/*.deb build/deb/*.buildinfo build/deb/*.changes build/
	rm -rf build/deb
	@ls -1 build/*_$(DEB_VERSION)_*.deb

FORMAT_FILES = $(wildcard src/*.[ch] src/*/*.[ch] src/report/sections/*.[ch] preload/*.c include/*.h tests/unit/*/*.[ch] \
               tests/targets/*.c tests/targets/*.cc examples/*.c bench/*.c tools/*.c)

format:
	clang-format -i $(FORMAT_FILES)

lint: $(BUILD)/config.mk
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem -Iinclude -D__x86_64__ \
	    src preload tools
	clang-tidy --quiet $(LIB_SRCS) $(PRELOAD_SRCS) $(TOOL_SRCS) $(TOOL_LIB_SRCS) -- $(ALL_CFLAGS)

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(PRELOAD_OBJS:.o=.d)
