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
