# certs/: rsp-pki, the test PKI generator.
PKI_SRCS := $(wildcard certs/*.c)
PKI_OBJS := $(PKI_SRCS:%.c=$(OBJ)/%.o)

$(BIN)/rsp-pki: $(PKI_OBJS) $(RSP_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(PKI_OBJS) $(RSP_LIBS) $(RSP_LDLIBS)

ALL_TARGETS += $(BIN)/rsp-pki
