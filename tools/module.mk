# tools/: small programs, one .c each, on top of librsp.
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tools/%.c=$(BIN)/%)

$(BIN)/%: $(OBJ)/tools/%.o $(RSP_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(RSP_LIBS) $(RSP_LDLIBS)

ALL_TARGETS += $(TOOL_BINS)

# rsp-operator (ES2+ client and callback listener) needs libcurl, libevent, jansson.
$(BIN)/rsp-operator: $(OBJ)/tools/rsp-operator.o $(RSP_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(RSP_LIBS) -lcurl -levent -ljansson $(RSP_LDLIBS)
