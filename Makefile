# ztrace build. `make` builds build/ztrace; `make test` runs the whole suite.
# See README.md. Kernel objects: bpf/%.bpf.c -> build/bpf/%.bpf.o -> build/%.skel.h

CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
BUILD ?= build

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2
CFLAGS ?= -O2 -g
ZT_CFLAGS := $(WARN) -std=gnu11 -D_GNU_SOURCE -Isrc -I. -I$(BUILD)
EXT_LIBS := -lsqlite3 -ljansson -lpcap -lcurl -lzstd -lprotobuf-c -lmicrohttpd -lcapstone -lz -lm -lpthread
LDLIBS := -lbpf -lelf $(EXT_LIBS)

# Wire formats (agent protocol, OTLP): wire/**/*.proto -> protoc-c ->
# $(BUILD)/gen/**/*.pb-c.[ch], included as "<path under wire>.pb-c.h".
PROTO_SRCS := $(shell find wire -name '*.proto' 2>/dev/null | sort)
GEN_SRCS := $(patsubst wire/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTO_SRCS))
GEN_HDRS := $(GEN_SRCS:.c=.h)
GEN_OBJS := $(patsubst $(BUILD)/gen/%.c,$(BUILD)/gen-obj/%.o,$(GEN_SRCS))
ZT_CFLAGS += -I$(BUILD)/gen

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

LIB_SRCS := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(GEN_OBJS)
MAIN_OBJ := $(BUILD)/obj/cli/main.o

TEST_SRCS := $(wildcard tests/unit/test_*.c)
TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

.SECONDARY:
.PHONY: all clean test unit-tests fuzz asan asan-ztrace bench format
all: $(BUILD)/ztrace

# vmlinux.h, the kernel types the BPF programs compile against, is committed
# per architecture (bpf/vmlinux/<arch>/vmlinux.h, see bpf/README.md): the
# build does not depend on the build host's kernel, and CO-RE relocations
# adapt the object to the running kernel at load. An architecture with no
# committed header (arm64 so far) falls back to generating $(BUILD)/vmlinux.h
# from the build host's own kernel BTF.
ifneq ($(wildcard bpf/vmlinux/$(ARCH)/vmlinux.h),)
VMLINUX_INC := bpf/vmlinux
VMLINUX_H := bpf/vmlinux/vmlinux.h bpf/vmlinux/$(ARCH)/vmlinux.h
else
VMLINUX_INC := $(BUILD)
VMLINUX_H := $(BUILD)/vmlinux.h
endif

$(BUILD)/vmlinux.h:
	@mkdir -p $(@D)
	@echo "note: no bpf/vmlinux/$(ARCH)/vmlinux.h committed: generating $@ from this host's kernel BTF" >&2
	@test -r /sys/kernel/btf/vmlinux || { echo "error: /sys/kernel/btf/vmlinux missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y" >&2; exit 1; }
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c bpf/*.h $(VMLINUX_H)
	@mkdir -p $(@D)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(VMLINUX_INC) -I. -Wall -Werror -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: src/%.c $(SKELS) $(GEN_HDRS) $(wildcard src/*/*.h) bpf/events.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ZT_CFLAGS) -c $< -o $@

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: wire/%.proto $(PROTO_SRCS)
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=wire --c_out=$(BUILD)/gen $<
# generated code: compiled without the project's -Werror set
$(BUILD)/gen-obj/%.o: $(BUILD)/gen/%.c $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(BUILD)/gen -c $< -o $@
$(BUILD)/fuzz-gen-obj/%.o: $(BUILD)/gen/%.c $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -I$(BUILD)/gen -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(BUILD)/ztrace: $(MAIN_OBJ) $(LIB_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) $(wildcard tests/unit/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ZT_CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJS) $(LDLIBS) -lcmocka

unit-tests: $(TESTS) $(BUILD)/ztrace

# The same unit tests under ASan+UBSan, in their own build tree (with
# build-asan/ztrace: tests/replay/pcap_captures.sh replays captures with it).
ASAN_FLAGS := BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" LDFLAGS="-fsanitize=address,undefined"
asan:
	$(MAKE) $(ASAN_FLAGS) unit-tests
# Only build-asan/ztrace.
asan-ztrace:
	$(MAKE) $(ASAN_FLAGS) build-asan/ztrace

# libFuzzer targets (clang), one per decoder of outside input.
# The library is compiled once for all of them (fuzzer-no-link), each
# target then only compiles its own file and links.
# (uprobe.c, uprobe_tls.c, gotls.c: libbpf, as bpf_source.c, which the fuzz link lacks)
FUZZ_LIB_SRCS := $(filter-out src/cli/% src/agent/bpf_source.c src/agent/uprobe.c src/agent/uprobe_tls.c src/agent/gotls.c,$(LIB_SRCS))
FUZZ_LIB_OBJS := $(patsubst src/%.c,$(BUILD)/fuzz-obj/%.o,$(FUZZ_LIB_SRCS)) \
	$(patsubst $(BUILD)/gen/%.c,$(BUILD)/fuzz-gen-obj/%.o,$(GEN_SRCS))
FUZZ_CFLAGS := -g -O1 $(ZT_CFLAGS) -Wno-unused-function
fuzz: $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
$(BUILD)/fuzz-obj/%.o: src/%.c $(GEN_HDRS) $(wildcard src/*/*.h) bpf/events.h
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS) $(wildcard src/*/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB_OBJS) $(EXT_LIBS) -lelf

test: all
	scripts/run-tests.sh

# Benches (not part of `make test`): installs their packages when missing,
# runs them all and writes bench/RESULTS.md. See bench/README.md.
bench: all
	scripts/setup.sh --bench
	$(MAKE) -C bench BUILD=$(abspath $(BUILD))

format:
	clang-format -i $(wildcard src/*/*.c src/*/*.h bpf/*.c bpf/*.h tests/unit/*.c tests/fuzz/*.c)

clean:
	rm -rf build build-asan
