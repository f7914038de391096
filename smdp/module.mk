# smdp/: libsmdp (the SM-DP+: storage, the ES9+/ES2+ functions, the HTTPS
# front end) and its programs (smdpd, smdp-admin). Files named *-main.c are
# programs; everything else goes into the library.
SMDP_MAINS := $(wildcard smdp/*-main.c)
SMDP_SRCS := $(filter-out $(SMDP_MAINS),$(wildcard smdp/*.c))
SMDP_OBJS := $(SMDP_SRCS:%.c=$(OBJ)/%.o)
SMDP_LIB := $(LIB)/libsmdp.a
SMDP_LDLIBS := -linih -levent_openssl -levent_pthreads -levent -lcurl -ljansson -lsqlite3 -lssl -lpthread

$(SMDP_LIB): $(SMDP_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

# smdpd may generate its default PKI with the Foundation generator (librsppki).
$(BIN)/%: $(OBJ)/smdp/%-main.o $(SMDP_LIB) $(PKI_LIB) $(RSP_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(SMDP_LIB) $(PKI_LIB) $(RSP_LIBS) $(SMDP_LDLIBS) $(RSP_LDLIBS)

ALL_TARGETS += $(SMDP_LIB) $(SMDP_MAINS:smdp/%-main.c=$(BIN)/%)

$(OBJ)/smdp/%.o: MOD_CFLAGS += -Ismdp -Icerts
$(OBJ)/tests/%.o: MOD_CFLAGS += -Ismdp
