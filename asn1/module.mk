# asn1/: the committed modules, compiled by Debian's asn1c 0.9.28 into
# $(B)/asn1/gen and built once into librspasn1.a behind a stamp.
# -fcompound-names: without it the output does not compile (name clashes).
# -findirect-choice: CHOICE members by pointer (ProfileElement shrinks from
# ~1.7 KB to 40 bytes).
ASN1_MODULES := asn1/PKIXMinimal.asn asn1/RSPDefinitions.asn asn1/PEDefinitions.asn
ASN1_GEN := $(B)/asn1/gen
ASN1_STAMP := $(B)/asn1/gen.stamp
ASN1_LIB := $(LIB)/librspasn1.a
ASN1C_FLAGS := -fcompound-names -findirect-choice -fno-include-deps -pdu=auto

$(ASN1_STAMP): $(ASN1_MODULES) asn1/module.mk asn1/fix-inherit.sh | $(DEPS_STAMP)
	@rm -rf $(ASN1_GEN) && mkdir -p $(ASN1_GEN)
	@cd $(ASN1_GEN) && asn1c $(ASN1C_FLAGS) $(addprefix $(CURDIR)/,$(ASN1_MODULES)) > asn1c.log 2>&1 \
		|| { cat asn1c.log; exit 1; }
	@rm -f $(ASN1_GEN)/converter-sample.c $(ASN1_GEN)/Makefile.am.sample
	@sh asn1/fix-inherit.sh $(ASN1_GEN)
	@touch $@
	@echo "asn1c: generated $$(ls $(ASN1_GEN)/*.c | wc -l) sources"

# The generated file list is known only after generation: a sub-make
# compiles it (in parallel) into the archive.
# The objects depend on GEN_CFLAGS through a file rewritten only when the
# flags change (the sub-make cannot see a change of its command line).
.PHONY: FORCE
FORCE:
ASN1_FLAGS := $(B)/asn1/cflags
$(ASN1_FLAGS): FORCE
	@mkdir -p $(@D)
	@echo '$(subst ','\'',$(GEN_CFLAGS))' | cmp -s - $@ || { echo '$(subst ','\'',$(GEN_CFLAGS))' > $@; rm -rf $(B)/asn1/obj; }

$(ASN1_LIB): $(ASN1_STAMP) asn1/gen.mk $(ASN1_FLAGS)
	@mkdir -p $(LIB)
	@$(MAKE) --no-print-directory -f asn1/gen.mk GEN=$(ASN1_GEN) OUT=$@ \
		OBJDIR=$(B)/asn1/obj CC="$(CC)" AR="$(AR)" CFLAGS="$(GEN_CFLAGS)"

asn1:
	@rm -f $(ASN1_STAMP)
	@$(MAKE) --no-print-directory $(ASN1_LIB)

ALL_TARGETS += $(ASN1_LIB)
