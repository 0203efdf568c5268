# devcloud: `make` builds everything into build/, `make test` runs the
# tests, `make bench` the benchmarks, `make up` / `make down` run the
# suite locally, `make image`
# builds the container images (`make test-containers` tests them).

CC ?= cc
PKGS := libuv hiredis json-c libconfig libcurl libarchive
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.1.0)

CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
	-DDC_VERSION='"$(VERSION)"' -Icommon
LDLIBS += -lnng -lpthread -lm

ifneq ($(SANITIZER),)
CFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZER)
endif

# pkg-config is asked only when a compile needs it, so `make deps` works
# on a machine without it.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# A sanitizer build lives apart, so switching never mixes objects.
comma := ,
B := build$(if $(SANITIZER),/san-$(subst $(comma),-,$(SANITIZER)))
SERVICES := bus proxy autostart regulator idepool deployer
BINS := $(SERVICES:%=$(B)/bin/devcloud-%) $(B)/bin/devcloudctl

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

all: check-deps $(BINS)

# -MMD: each object also depends on every header it included.
$(B)/obj/%.o: %.c | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -I$(dir $<) -c -o $@ $<

-include $(patsubst %.c,$(B)/obj/%.d,$(wildcard common/*.c services/*/*.c \
	tools/*/*.c))

$(B)/libdccommon.a: $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

# A program is every .c file of its folder, linked with common.
define program
$(1): $$(patsubst %.c,$(B)/obj/%.o,$$(wildcard $(2)/*.c)) $(B)/libdccommon.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(PKG_LIBS) $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call program,$(B)/bin/devcloud-$(s),services/$(s))))
$(eval $(call program,$(B)/bin/devcloudctl,tools/devcloudctl))

# A unit test may test a daemon's pure parts: it links the objects named
# in its first line "// links: services/proxy/http.c ...".
$(B)/tests/%: tests/unit/%.c tests/unit/unit.h $(B)/libdccommon.a \
    $(wildcard common/*.h services/*/*.[ch])
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< \
		$$(sed -n '1s,^// links: ,,p' $<) \
		$(LDFLAGS) $(B)/libdccommon.a $(PKG_LIBS) $(LDLIBS)

unit: $(UNIT_BINS)

test: deps-auto
	@$(MAKE) --no-print-directory check-src all unit fuzz-replay
	@DEVCLOUD_BUILD=$(CURDIR)/$(B) tests/run.sh

# Every benchmark, one after the other, each printing its figures and
# ratio lines (a benchmark never fails on a time; one that cannot run
# says why and the next goes on). The reference servers (nginx, haproxy)
# and load generators (wrk, hey) come with `make deps` like the test
# tools. BENCH="proxy wake.sh" runs some; about 25 minutes for all.
BENCH ?= proxy wake.sh wake_docker.sh scale scale-apps regulator idepool \
	deploy
bench:
	@deploy/deps.sh check bench >/dev/null 2>&1 || \
		deploy/deps.sh install bench
	@$(MAKE) --no-print-directory all
	@for b in $(BENCH); do \
		[ -x bench/$$b ] || { echo "== bench/$$b: no such benchmark"; \
			continue; }; \
		echo "== bench/$$b"; \
		DEVCLOUD_BUILD=$(CURDIR)/$(B) bench/$$b || \
			echo "== bench/$$b stopped with status $$?"; \
	done

# libFuzzer targets, each with ASan; run one with build/fuzz/fuzz_msg
# -max_total_time=60 tests/fuzz/corpus/msg (fuzz_http: $(B)/fuzz/corpus/http,
# which `make fuzz-corpus` writes from tests/data/http).
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
fuzz: check-deps $(FUZZ_BINS)
$(B)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(COMMON_SRC) \
    $(wildcard common/*.h services/*/*.[ch])
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Icommon $(PKG_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -o $@ $< $(COMMON_SRC) \
		$$(sed -n '1s,^// links: ,,p' $<) $(PKG_LIBS) $(LDLIBS)

# Every fuzz target once over each input of its corpus, without fuzzing:
# seconds, so `make test` sees a target that stopped compiling or that a
# known input now crashes. A target's corpus is tests/fuzz/corpus/NAME,
# but fuzz_http's is written from the HTTP cases of tests/data/http.
fuzz-corpus: $(B)/fuzz/corpus/http
$(B)/fuzz/corpus/http: tests/http_cases.py $(wildcard tests/data/http/*)
	@rm -rf $@
	python3 tests/http_cases.py corpus $@

fuzz-replay: fuzz fuzz-corpus
	@for f in $(FUZZ_BINS); do \
		n=$${f##*/fuzz_}; \
		case $$n in http) dir=$(B)/fuzz/corpus/http ;; \
		*) dir=tests/fuzz/corpus/$$n ;; esac; \
		set -- $$dir/*; \
		[ -f "$$1" ] || { echo "fuzz_$$n: no corpus in $$dir"; exit 1; }; \
		if $$f -artifact_prefix=$(B)/fuzz/ "$$@" \
		    >$(B)/fuzz/fuzz_$$n.log 2>&1; then \
			echo "fuzz_$$n: $$# inputs of $$dir replayed"; \
		else \
			tail -n 30 $(B)/fuzz/fuzz_$$n.log; \
			echo "fuzz_$$n: failed on $$dir (log: $(B)/fuzz/fuzz_$$n.log)"; \
			exit 1; \
		fi; \
	done

check-deps:
	@deploy/deps.sh check

deps:
	@deploy/deps.sh install

deps-auto:
	@deploy/deps.sh check >/dev/null 2>&1 || deploy/deps.sh install

up: deps-auto
	@$(MAKE) --no-print-directory all
	@deploy/up.sh

down:
	@deploy/down.sh

# devcloud:VERSION, devcloud-redis and devcloud-demo on the Docker that
# DOCKER_HOST names (deploy/image.sh; no registry needed).
image:
	@deploy/image.sh

# The suite in containers, as deploy/docker-compose.yml runs it: slow
# (it builds the images), so not part of `make test`.
test-containers:
	@DEVCLOUD_BUILD=$(CURDIR)/$(B) TESTS='compose swarm' TEST_TIMEOUT=1800 \
		tests/run.sh

# Functions we do not use (unbounded or unchecked), as curl's checksrc.
BANNED := sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|gets
check-src:
	@! grep -nE '(^|[^a-z_])($(BANNED))[ ]*\(' common/*.c services/*/*.c \
		tools/*/*.c || { echo "banned functions above (use snprintf, strtol)"; exit 1; }

clean:
	rm -rf build

format:
	clang-format -i common/*.[ch] services/*/*.[ch] tools/*/*.[ch]

.PHONY: all unit test fuzz fuzz-corpus fuzz-replay check-deps deps deps-auto \
	up down image test-containers clean format check-src bench
