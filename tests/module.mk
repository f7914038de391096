# tests/: one CUnit runner (tests/runner.c holds the suite table).
# `make test` re-runs make with BUILD=build/asan SAN=1 and runs it there.
TEST_SRCS := $(wildcard tests/*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(OBJ)/%.o)
TEST_BIN := $(BIN)/rsp-tests
# tests/torture.c: allocation failure injection (curl's torture mode).
TEST_LDFLAGS := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

$(TEST_BIN): $(TEST_OBJS) $(LPA_DRV_LIB) $(LPA_LIB) $(EUICC_LIB) $(SMDP_LIB) $(PKI_LIB) $(RSP_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(TEST_LDFLAGS) -o $@ $(TEST_OBJS) $(LPA_DRV_LIB) $(LPA_LIB) $(EUICC_LIB) $(SMDP_LIB) $(PKI_LIB) $(RSP_LIBS) $(LPA_DRV_LDLIBS) $(LPA_LDLIBS) $(EUICC_LDLIBS) $(SMDP_LDLIBS) $(RSP_LDLIBS) -lcunit

ALL_TARGETS += $(TEST_BIN)

# ASAN_BUILD: where the sanitizer tree goes (parallel workers use their own).
ASAN_BUILD ?= build/asan

ifeq ($(SAN),1)
test: $(ALL_TARGETS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	RSP_SHARED=$(CURDIR)/../shared RSP_BUILD=$(CURDIR)/$(B) $(TEST_BIN)
else
test:
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) SAN=1 OPT=-O1 test
endif

# `make tsan`: the suites that run threads (smdpd's loops, the store's
# shared connection and group commit, euiccd's card threads) in a
# ThreadSanitizer build; any report fails the run (TSan's exit code 66).
# tests/tsan.supp: reports inside libraries we do not build.
TSAN_BUILD ?= build/tsan
TSAN_SUITES := smdp_store smdp_es9 smdpd euiccd x509 lpa_e2e integration
ifeq ($(SAN),tsan)
tsan: $(ALL_TARGETS)
	@for s in $(TSAN_SUITES); do \
	    TSAN_OPTIONS="halt_on_error=0 report_signal_unsafe=0 suppressions=$(CURDIR)/tests/tsan.supp" \
	    RSP_SHARED=$(CURDIR)/../shared RSP_BUILD=$(CURDIR)/$(B) $(TEST_BIN) $$s || exit 1; \
	done
else
tsan:
	@$(MAKE) --no-print-directory BUILD=$(TSAN_BUILD) SAN=tsan OPT=-O1 tsan
endif
