# mk/bench.mk: smdp-bench (make bench), the SM-DP+ load generator. It needs
# more than the tools/ rule gives: libsmdp (bulk import through the store),
# liblpa + libeuicc (euiccInfo1/2 of a real card), libcurl and libssl.
$(OBJ)/tools/smdp-bench.o: MOD_CFLAGS += -Ismdp -Ilpa -Ieuicc -Icerts
$(BIN)/smdp-bench: $(OBJ)/tools/smdp-bench.o $(LPA_DRV_LIB) $(LPA_LIB) $(EUICC_LIB) $(SMDP_LIB) $(RSP_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LPA_DRV_LIB) $(LPA_LIB) $(EUICC_LIB) $(SMDP_LIB) $(RSP_LIBS) \
	    $(LPA_DRV_LDLIBS) $(LPA_LDLIBS) $(EUICC_LDLIBS) $(SMDP_LDLIBS) $(RSP_LDLIBS)
