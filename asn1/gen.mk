# Sub-make for the generated asn1c sources (see asn1/module.mk).
SRCS := $(wildcard $(GEN)/*.c)
OBJS := $(patsubst $(GEN)/%.c,$(OBJDIR)/%.o,$(SRCS))

$(OUT): $(OBJS)
	@rm -f $@
	@$(AR) rcs $@ $(OBJS)
	@echo "AR $@ ($(words $(OBJS)) objects)"

$(OBJDIR)/%.o: $(GEN)/%.c
	@mkdir -p $(@D)
	@$(CC) $(CFLAGS) -I$(GEN) -c $< -o $@

-include $(OBJS:.o=.d)
