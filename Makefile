# Top-level, non-recursive build: every folder contributes a module.mk.
# Objects go to $(BUILD) (build/ by default; `make test` uses build/asan with
# ASan+UBSan). Parallel by default.
#
#   make            build libraries and programs into build/
#   make test       ASan+UBSan build, then the CUnit runner and integration tests
#   make tsan       ThreadSanitizer build (build/tsan), then the threaded suites
#   make bench      benchmarks, one "name: value unit" line per figure
#   make demo       the main job (grows with each component)
#   make asn1       regenerate the asn1c sources
#   make deps       install missing Debian packages
#   make clean

.DEFAULT_GOAL := all
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2) --no-builtin-rules
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:

BUILD ?= build
SAN ?= 0
B := $(BUILD)
BIN := $(B)/bin
LIB := $(B)/lib
OBJ := $(B)/obj

CC ?= cc
# V=1 shows full command lines.
ifeq ($(V),1)
Q :=
else
Q = @echo "  CC      $<";
endif
AR ?= ar
OPT ?= -O2

PROJ_CFLAGS := -std=c11 -Wall -Wextra -Werror -D_DEFAULT_SOURCE -g $(OPT) -MMD -MP
GEN_CFLAGS := -w -fwrapv '-DASN_DEBUG(...)=do{}while(0)' -D_DEFAULT_SOURCE -g $(OPT) -MMD -MP
LDLIBS_CRYPTO := -lcrypto
ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
PROJ_CFLAGS += $(SAN_FLAGS)
GEN_CFLAGS += $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)
endif
ifeq ($(SAN),tsan)
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
PROJ_CFLAGS += $(SAN_FLAGS)
GEN_CFLAGS += $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)
endif

# Packages are checked (and installed when missing) once per build tree.
DEPS_STAMP := $(B)/.deps-stamp
$(DEPS_STAMP): mk/deps.sh
	@mkdir -p $(@D)
	@sh mk/deps.sh
	@touch $@

.PHONY: all deps test tsan bench demo asn1 clean
deps:
	@sh mk/deps.sh

include asn1/module.mk
include common/module.mk
include certs/module.mk
include tools/module.mk
include euicc/module.mk
include lpa/module.mk
include smdp/module.mk
include mk/bench.mk
include tests/module.mk
-include mk/local.mk

# Objects of project code: $(OBJ)/<dir>/<file>.o from <dir>/<file>.c
INCLUDES := -Icommon -isystem $(B)/asn1/gen
$(OBJ)/%.o: %.c | $(DEPS_STAMP) $(ASN1_STAMP)
	@mkdir -p $(@D)
	$(Q)$(CC) $(PROJ_CFLAGS) $(INCLUDES) $(MOD_CFLAGS) -c $< -o $@


all: $(ALL_TARGETS)

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

demo: all
	@sh mk/demo.sh

bench: all
	@$(BIN)/rsp-bench $(wildcard ../shared/ts48/TS48v2_SAIP2.3_NoBERTLV.der)
	@$(BIN)/euicc-bench ../shared/ts48/TS48v2_SAIP2.3_NoBERTLV.der
	@sh mk/bench.sh $(BIN)
