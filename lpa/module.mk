# lpa/: liblpa (the LPA core: APDU driver model, ES10 transport and helpers,
# Activation Code parsing). Files named *-main.c are programs (none yet);
# everything else goes into the library.
LPA_MAINS := $(wildcard lpa/*-main.c)
LPA_SRCS := $(filter-out $(LPA_MAINS),$(wildcard lpa/*.c))
LPA_OBJS := $(LPA_SRCS:%.c=$(OBJ)/%.o)
LPA_LIB := $(LIB)/liblpa.a

$(LPA_LIB): $(LPA_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

ALL_TARGETS += $(LPA_LIB)
$(OBJ)/tests/test_lpa.o: MOD_CFLAGS += -Ilpa
