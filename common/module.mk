# common/: librsp, what all three components share (buffers, errors, logging,
# hex/base64/EID/ICCID, the asn1c wrapper, the OpenSSL crypto core).
COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(OBJ)/%.o)
COMMON_LIB := $(LIB)/librsp.a

$(COMMON_LIB): $(COMMON_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

# Link line for any program using librsp (the asn1 archive comes last).
RSP_LIBS := $(COMMON_LIB) $(ASN1_LIB)
RSP_LDLIBS := -lcrypto

ALL_TARGETS += $(COMMON_LIB)
