# smdp/: libsmdp (the SM-DP+: storage, later ES2+/ES9+ handlers) and its
# programs (smdp-admin). Files named *-main.c are programs; everything else
# goes into the library.
SMDP_MAINS := $(wildcard smdp/*-main.c)
SMDP_SRCS := $(filter-out $(SMDP_MAINS),$(wildcard smdp/*.c))
SMDP_OBJS := $(SMDP_SRCS:%.c=$(OBJ)/%.o)
SMDP_LIB := $(LIB)/libsmdp.a
SMDP_LDLIBS := -lsqlite3 -lpthread

$(SMDP_LIB): $(SMDP_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/%: $(OBJ)/smdp/%-main.o $(SMDP_LIB) $(RSP_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(SMDP_LIB) $(RSP_LIBS) $(SMDP_LDLIBS) $(RSP_LDLIBS)

ALL_TARGETS += $(SMDP_LIB) $(SMDP_MAINS:smdp/%-main.c=$(BIN)/%)

$(OBJ)/smdp/%.o: MOD_CFLAGS += -Ismdp
$(OBJ)/tests/test_smdp_store.o: MOD_CFLAGS += -Ismdp
