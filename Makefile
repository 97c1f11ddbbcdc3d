# vial: static musl build, tests, install. See README.
PREFIX  ?= /usr/local
DESTDIR ?=
CONFIG  ?= config.h
CC       = musl-gcc
BUILD    = build
DEPS     = $(CURDIR)/$(BUILD)/deps
KINC     = $(BUILD)/kinc
CAPNG    = $(DEPS)/lib/libcap-ng.a
ARCH_INC = /usr/include/$(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)

CFLAGS  ?= -Os
CFLAGS  += -ffunction-sections -fdata-sections
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	   -fstack-protector-strong -fstack-clash-protection -fcf-protection \
	   -fno-strict-overflow -isystem $(KINC) -I$(DEPS)/include
LDFLAGS += -static -s -Wl,--gc-sections,-z,relro,-z,now,-z,noexecstack -L$(DEPS)/lib
DEFS     = -DCONFIG_H='"$(abspath $(CONFIG))"' \
	   -DBUILD_DATE='"$(shell date -u +%Y-%m-%d)"' \
	   -DBUILD_CC='"$(shell $(CC) -dumpversion 2>/dev/null | sed 's/^/gcc /')"' \
	   -DCAPNG_VERSION='"$(CAPNG_VER)"'
CAPNG_VER = 0.8.3
SRC      = main.c cli.c priv.c image.c sif.c protect.c loop.c linger.c ns.c etc.c init.c env.c inspect.c config.c fd.c mnt.c confine.c \
	   ldcache.c gpu.c instance.c
# Objects per site config, so `make CONFIG=site.h OUT=/path/vial` never
# mixes two policies.
OUT     ?= vial
OBJDIR   = $(BUILD)/obj$(if $(filter config.h,$(CONFIG)),,-$(subst /,_,$(abspath $(CONFIG))))
OBJ      = $(SRC:%.c=$(OBJDIR)/%.o)

# What the build, the tests and the demo need from Debian.
PKGS = musl-tools dpkg-dev make gcc squashfs-tools e2fsprogs erofs-utils \
       busybox-static siftool util-linux perl python3 strace passwd procps \
       fuse3 libfuse3-dev pkg-config bindfs
BENCH_PKGS = hyperfine bubblewrap charliecloud-runtime linux-perf
SLURM_PKGS = slurm-wlm munge openmpi-bin libopenmpi-dev
CLIENT_PKGS = snakemake cwltool toil debootstrap

all: $(OUT)

$(OUT): $(OBJ)
	$(CC) $(CFLAGS) -o $@ $(OBJ) $(LDFLAGS) -lcap-ng

$(OBJDIR)/%.o: %.c vial.h $(CONFIG) $(CAPNG) | $(KINC)
	@mkdir -p $(OBJDIR)
	$(CC) $(CFLAGS) $(DEFS) -c -o $@ $<

# musl-gcc sees no kernel headers by itself: give it links to Debian's.
$(KINC):
	mkdir -p $@
	ln -sfn /usr/include/linux $@/linux
	ln -sfn /usr/include/asm-generic $@/asm-generic
	ln -sfn $(ARCH_INC)/asm $@/asm

# libcap-ng from Debian's source package, built against musl: Debian's own
# libcap-ng.a is glibc's (__*_chk, glibc TLS) and does not link.
$(CAPNG): | $(KINC)
	@command -v musl-gcc >/dev/null || $(MAKE) pkgs
	./build-capng.sh $(DEPS) $(abspath $(KINC))

pkgs:
	@missing=; for p in $(PKGS) $(EXTRA_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

deps: pkgs $(CAPNG)

# LINKS=1: also singularity, apptainer and run-singularity, links to vial
# that answer as Apptainer does (off by default: they would shadow a real
# Singularity or Apptainer installed on the same PATH).
LINKS   ?= 0
ALIASES  = singularity apptainer run-singularity

install: vial
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -o root -g root -m 4755 vial $(DESTDIR)$(PREFIX)/bin/vial
	install -o root -g root -m 0644 vial.1 $(DESTDIR)$(PREFIX)/share/man/man1/vial.1
	if [ "$(LINKS)" = 1 ]; then \
		for n in $(ALIASES); do ln -sfn vial $(DESTDIR)$(PREFIX)/bin/$$n || exit 1; done; \
	fi
	@# PROTECTED_GROUP, on this machine (a package made with DESTDIR adds it itself)
	g=$$(sed -n 's/^#define PROTECTED_GROUP "\(.*\)"/\1/p' $(CONFIG)); \
	if [ -z "$(DESTDIR)" ] && [ -n "$$g" ] && ! getent group "$$g" >/dev/null; then \
		groupadd -r "$$g"; \
	fi

# The main job: build, install setuid in a local prefix, make a busybox
# image, and run a command in it as an unprivileged user.
DEMO = /var/tmp/vial-demo
demo: deps vial
	$(MAKE) install PREFIX=$(DEMO)
	./t/mkimage.sh $(DEMO)/busybox.sqfs
	@echo "\$$ setpriv --reuid=nobody --regid=nogroup --clear-groups \\"
	@echo "    $(DEMO)/bin/vial exec $(DEMO)/busybox.sqfs sh -c 'cat /etc/os-release; id; ls /'"
	@cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups \
		$(DEMO)/bin/vial exec $(DEMO)/busybox.sqfs sh -c 'cat /etc/os-release; id; ls /'

# Test tools: t/NAME.c -> t/NAME, static musl, except those needing glibc libraries.
TOOLS = $(patsubst %.c,%,$(wildcard t/*.c))

check: deps vial $(TOOLS)
	prove t/

t/%: t/%.c | $(KINC)
	$(CC) -O2 -static -Wall -Wextra -Werror -isystem $(KINC) -o $@ $<

t/fuse-squash: t/fuse-squash.c
	gcc -O2 -Wall -Wextra -Werror -o $@ $< $$(pkg-config --cflags --libs fuse3)

# Static analysis, as auditors will run it: cppcheck, and gcc's analyzer
# over every file with the build's own flags (-Wall -Wextra -Werror).
lint: $(CAPNG) | $(KINC)
	$(MAKE) pkgs EXTRA_PKGS=cppcheck
	cppcheck --error-exitcode=1 --enable=warning,portability,performance \
		--std=c11 -D_GNU_SOURCE -D__linux__ -D__$(shell uname -m)__ -DCONFIG_H='"config.h"' \
		-DBUILD_DATE='""' -DBUILD_CC='""' -DCAPNG_VERSION='""' -I. \
		--suppress=missingIncludeSystem --quiet $(SRC)
	for f in $(SRC); do \
		$(CC) $(CFLAGS) $(DEFS) -fanalyzer -c -o /dev/null $$f || exit 1; \
	done
	@echo "lint: clean"

# libFuzzer harnesses for every byte parser, time-bounded (FUZZ_SECONDS each).
FUZZ_SECONDS ?= 60
fuzz: | $(KINC)
	$(MAKE) pkgs EXTRA_PKGS="clang libclang-rt-14-dev"
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./fuzz/run.sh

# Benchmarks: vial against the kernel-call floor and the peers (README).
bench: $(OUT)
	$(MAKE) pkgs EXTRA_PKGS="$(BENCH_PKGS)"
	VIAL=$(abspath $(OUT)) ./bench/run.sh

# 1,000 SIGKILLs at random points of setup: nothing may be left behind.
stress: deps vial $(TOOLS)
	STRESS_KILLS=1000 prove -v t/70-scale.t

# A real single-node Slurm (and mpirun) running vial.
check-slurm: deps vial $(TOOLS)
	$(MAKE) pkgs EXTRA_PKGS="$(SLURM_PKGS)"
	./t/slurm.sh

# The workflow engines that call `singularity` (Snakemake, cwltool, Toil;
# Nextflow, miniwdl and Cromwell replayed) with vial in its place, on a
# Debian 12 image built once into build/clients/ (CLIENTS_TRACE=1 logs
# every call to build/clients/trace.log).
check-clients: deps vial $(TOOLS)
	$(MAKE) pkgs EXTRA_PKGS="$(CLIENT_PKGS)"
	./t/clients.sh

clean:
	rm -rf vial $(TOOLS) $(BUILD)/obj*

distclean: clean
	rm -rf $(BUILD)

.PHONY: all pkgs deps install demo check lint fuzz bench stress check-slurm check-clients clean distclean
