# euicc/: libeuicc (the simulated card) and its programs euiccd, euicc-tool.
# Files named *-main.c are programs; everything else goes into the library.
EUICC_MAINS := $(wildcard euicc/*-main.c)
EUICC_SRCS := $(filter-out $(EUICC_MAINS),$(wildcard euicc/*.c))
EUICC_OBJS := $(EUICC_SRCS:%.c=$(OBJ)/%.o)
EUICC_LIB := $(LIB)/libeuicc.a
EUICC_LDLIBS := -ljansson

$(EUICC_LIB): $(EUICC_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/%: $(OBJ)/euicc/%-main.o $(EUICC_LIB) $(RSP_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(EUICC_LIB) $(RSP_LIBS) $(EUICC_LDLIBS) $(RSP_LDLIBS)

ALL_TARGETS += $(EUICC_LIB) $(EUICC_MAINS:euicc/%-main.c=$(BIN)/%)

# The test suites of the card (tests/test_euicc_*.c, tests/euicc_fixture.c)
# see euicc.h / euicc.private.h and the PKI generator.
$(OBJ)/tests/%.o: MOD_CFLAGS += -Ieuicc -Icerts

# euicc-bench (make bench) also generates its PKI: librsppki, certs/.
$(OBJ)/euicc/euicc-bench-main.o: MOD_CFLAGS += -Icerts
$(BIN)/euicc-bench: $(OBJ)/euicc/euicc-bench-main.o $(EUICC_LIB) $(PKI_LIB) $(RSP_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(EUICC_LIB) $(PKI_LIB) $(RSP_LIBS) $(EUICC_LDLIBS) $(RSP_LDLIBS)
