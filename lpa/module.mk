# lpa/: liblpa, the embeddable LPA core (APDU driver model, ES10 transport and
# helpers, Activation Code parsing, ES9+ client and the download of SGP.22
# §3.1 over caller-supplied drivers) - it links only librsp, jansson and
# OpenSSL. The concrete drivers (drv_*.c: in-process eUICC, euiccd TCP,
# PC/SC, libcurl HTTPS) go into liblpa-drivers, so an embedder takes only
# what its platform has. Files named *-main.c are programs (lpa).
LPA_MAINS := $(wildcard lpa/*-main.c)
LPA_DRV_SRCS := $(wildcard lpa/drv_*.c)
LPA_SRCS := $(filter-out $(LPA_MAINS) $(LPA_DRV_SRCS),$(wildcard lpa/*.c))
LPA_OBJS := $(LPA_SRCS:%.c=$(OBJ)/%.o)
LPA_DRV_OBJS := $(LPA_DRV_SRCS:%.c=$(OBJ)/%.o)
LPA_LIB := $(LIB)/liblpa.a
LPA_DRV_LIB := $(LIB)/liblpa-drivers.a
PCSC_CFLAGS := $(shell pkg-config --cflags libpcsclite 2>/dev/null || echo -I/usr/include/PCSC)
LPA_LDLIBS := -ljansson
LPA_DRV_LDLIBS := -lcurl -lpcsclite -lpthread

$(LPA_LIB): $(LPA_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(LPA_DRV_LIB): $(LPA_DRV_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

# Programs: the drivers library brings libeuicc (inproc driver) along.
$(BIN)/%: $(OBJ)/lpa/%-main.o $(LPA_DRV_LIB) $(LPA_LIB) $(EUICC_LIB) $(RSP_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LPA_DRV_LIB) $(LPA_LIB) $(EUICC_LIB) $(RSP_LIBS) $(LPA_DRV_LDLIBS) $(LPA_LDLIBS) $(EUICC_LDLIBS) $(RSP_LDLIBS)

ALL_TARGETS += $(LPA_LIB) $(LPA_DRV_LIB) $(LPA_MAINS:lpa/%-main.c=$(BIN)/%)

$(OBJ)/lpa/%.o: MOD_CFLAGS += -Ilpa -Ieuicc $(PCSC_CFLAGS)
$(OBJ)/tests/%.o: MOD_CFLAGS += -Ilpa $(PCSC_CFLAGS)
