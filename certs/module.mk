# certs/: librsppki, the private test PKI generator (rsp_pki.c; test tooling,
# never linked into the stack), and rsp-pki, its thin CLI (main.c).
PKI_LIB := $(LIB)/librsppki.a
PKI_LIB_OBJS := $(OBJ)/certs/rsp_pki.o
PKI_MAIN_OBJ := $(OBJ)/certs/main.o

$(PKI_LIB): $(PKI_LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/rsp-pki: $(PKI_MAIN_OBJ) $(PKI_LIB) $(RSP_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(PKI_MAIN_OBJ) $(PKI_LIB) $(RSP_LIBS) $(RSP_LDLIBS)

# tests/test_pki.c includes rsp_pki.h
$(OBJ)/tests/test_pki.o: MOD_CFLAGS += -Icerts

ALL_TARGETS += $(PKI_LIB) $(BIN)/rsp-pki
