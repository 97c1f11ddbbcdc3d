# vial: static musl build, tests, install. See README ("Building").
#
# `make` builds and never installs a package: with a tool missing it stops
# with one line naming `make deps`, the one target that calls apt (check,
# demo, lint, fuzz, bench and the check-* targets call it for what they need).
PREFIX  ?= /usr/local
DESTDIR ?=
CONFIG  ?= config.h
CC       = musl-gcc
BUILD    = build
DEPS     = $(CURDIR)/$(BUILD)/deps
# libcap-ng's source: a Debian source package (libcap-ng_*.dsc and its
# files, what `apt-get source` fetches) or an upstream libcap-ng-*.tar.gz.
CAPNG_SRC = $(BUILD)/src
KINC     = $(BUILD)/kinc
CAPNG    = $(DEPS)/lib/libcap-ng.a
CAPNG_SRC_FILES = $(wildcard $(CAPNG_SRC)/libcap-ng_*.dsc $(CAPNG_SRC)/libcap-ng-*.tar.gz)
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
SRC      = main.c msg.c cli.c priv.c privop.c image.c sif.c protect.c audit.c loop.c linger.c ns.c bind.c resolve.c etc.c init.c env.c \
	   opts.c inspect.c config.c fd.c mnt.c confine.c seal.c check.c ldcache.c gpu.c instance.c record.c
# Objects per site config, so `make CONFIG=site.h OUT=/path/vial` never
# mixes two policies.
OUT     ?= vial
OBJDIR   = $(BUILD)/obj$(if $(filter $(abspath config.h),$(abspath $(CONFIG))),,-$(subst /,_,$(abspath $(CONFIG))))
OBJ      = $(SRC:%.c=$(OBJDIR)/%.o)

# Which config built $(OUT): written next to it after each link. `make
# install` installs that binary, and only that one.
BUILT_FROM = $(shell cat $(OUT).built-from 2>/dev/null)

# What the build needs from Debian (`make deps`), and what the tests and
# the demo add.
BUILD_PKGS  = musl-tools linux-libc-dev dpkg-dev make gcc
TEST_PKGS   = squashfs-tools e2fsprogs erofs-utils busybox-static siftool util-linux \
	      perl python3 strace passwd procps fuse3 libfuse3-dev pkg-config bindfs acl
DEMO_PKGS   = squashfs-tools busybox-static util-linux
LINT_PKGS   = cppcheck
FUZZ_PKGS   = clang libclang-rt-14-dev
BENCH_PKGS  = hyperfine bubblewrap charliecloud-runtime linux-perf
SLURM_PKGS  = slurm-wlm munge openmpi-bin libopenmpi-dev
CLIENT_PKGS = snakemake cwltool toil debootstrap

# Each a whole line, for $(error): make prints it as one line and stops.
NO_CC    = $(CC) not found: run `make deps` as root (it installs Debian's musl-tools), \
	   or see README, "Building"
NO_KHDR  = no kernel headers in /usr/include/linux: run `make deps` as root (linux-libc-dev)
NO_CAPNG = libcap-ng is not built and its source is not in $(CAPNG_SRC): run `make deps` \
	   as root (it fetches the source with apt), or see README, "Building" (without network)
need_cc  = $(if $(shell command -v $(CC)),,$(error $(NO_CC)))

all: $(OUT)

# A link whose record names another config (or none) is redone: objects of
# a config built before may be older than the binary.
$(OUT): $(OBJ) $(if $(filter $(abspath $(CONFIG)),$(BUILT_FROM)),,FORCE)
	$(CC) $(CFLAGS) -o $@ $(OBJ) $(LDFLAGS) -lcap-ng
	echo '$(abspath $(CONFIG))' > $@.built-from

$(OBJDIR)/%.o: %.c vial.h $(CONFIG) $(CAPNG) | $(KINC)
	$(need_cc)
	@mkdir -p $(OBJDIR)
	$(CC) $(CFLAGS) $(DEFS) -c -o $@ $<

# musl-gcc sees no kernel headers by itself: give it links to Debian's.
$(KINC):
	$(if $(wildcard /usr/include/linux/types.h),,$(error $(NO_KHDR)))
	mkdir -p $@
	ln -sfn /usr/include/linux $@/linux
	ln -sfn /usr/include/asm-generic $@/asm-generic
	ln -sfn $(ARCH_INC)/asm $@/asm

# libcap-ng from its source, built against musl: Debian's own libcap-ng.a
# is glibc's (__*_chk, glibc TLS) and does not link. No network here.
$(CAPNG): | $(KINC)
	$(need_cc)
	$(if $(CAPNG_SRC_FILES),,$(error $(NO_CAPNG)))
	./build-capng.sh build $(CAPNG_SRC) $(DEPS) $(abspath $(KINC))

# The only target that installs anything on this machine: Debian packages
# (BUILD_PKGS and EXTRA_PKGS) and libcap-ng's source, fetched with apt-get
# source into $(CAPNG_SRC) (adding a deb-src entry for the archive
# already configured when there is none), then built.
deps:
	@missing=; for p in $(BUILD_PKGS) $(EXTRA_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || \
			missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
	@if [ ! -f $(CAPNG) ] && [ -z "$(CAPNG_SRC_FILES)" ]; then ./build-capng.sh fetch $(CAPNG_SRC); fi
	$(MAKE) $(CAPNG)

# LINKS=1: also singularity, apptainer and run-singularity, links to vial
# that answer as Apptainer does (off by default: they would shadow a real
# Singularity or Apptainer installed on the same PATH).
LINKS   ?= 0
ALIASES  = singularity apptainer run-singularity
BIN_D    = $(PREFIX)/bin
MAN_D    = $(PREFIX)/share/man/man1
DOC_D    = $(PREFIX)/share/doc/vial
# What install put, for uninstall: "dir|file|link PATH" lines, the
# directories being those install had to make.
MANIFEST = $(DOC_D)/installed
# After installing, the installed binary prints its policy; run on this
# machine (no DESTDIR) it also checks this node, as root (INSTALL_CHECK=0: not).
INSTALL_CHECK   ?= $(if $(DESTDIR),0,1)

NOT_BUILT   = make install: $(OUT) is not built: run `make CONFIG=$(CONFIG)` first \
	      (install never builds)
OTHER_BUILT = make install: $(OUT) was built from $(BUILT_FROM), not $(abspath $(CONFIG)): \
	      run `make CONFIG=$(CONFIG)` first (install never builds)
STALE       = make install: $(BUILT_FROM) or a source changed since $(OUT) was built: \
	      run `make CONFIG=$(BUILT_FROM)` first (install never builds)
NOT_INSTALLED = make uninstall: no $(DESTDIR)$(MANIFEST): make install put nothing in \
	      $(DESTDIR)$(PREFIX)

# Installs $(OUT) as it was built, from whichever config its record names
# (a CONFIG given here must be that one), or refuses in one line.
install:
	$(if $(and $(BUILT_FROM),$(wildcard $(OUT))),,$(error $(NOT_BUILT)))
	$(if $(filter file,$(origin CONFIG)),,\
	  $(if $(filter $(abspath $(CONFIG)),$(BUILT_FROM)),,$(error $(OTHER_BUILT))))
	$(if $(shell find $(SRC) vial.h $(BUILT_FROM) -newer $(OUT) 2>/dev/null),$(error $(STALE)))
	@set -e; d='$(DESTDIR)'; m="$$d$(MANIFEST)"; \
	if [ "$(LINKS)" = 1 ]; then for n in $(ALIASES); do \
		f="$$d$(BIN_D)/$$n"; \
		if [ -e "$$f" ] && [ ! -L "$$f" ]; then \
			echo "make install: $$f exists and is not a link: not replaced (LINKS=1)" >&2; exit 1; \
		fi; \
	done; fi; \
	old=$$( [ -f "$$m" ] && grep -E '^(dir|link) /' "$$m" || true); \
	dirs=$$( { echo "$$old" | sed -n 's/^dir //p'; \
		for p in $(BIN_D) $(MAN_D) $(DOC_D); do \
			while [ -n "$$p" ] && [ ! -e "$$d$$p" ]; do echo "$$p"; p=$${p%/*}; done; \
		done; } | sort -u); \
	install -d "$$d$(BIN_D)" "$$d$(MAN_D)" "$$d$(DOC_D)"; \
	install -o root -g root -m 4755 $(OUT) "$$d$(BIN_D)/vial"; \
	install -o root -g root -m 0644 vial.1 "$$d$(MAN_D)/vial.1"; \
	install -o root -g root -m 0644 README "$$d$(DOC_D)/README"; \
	links=$$(echo "$$old" | sed -n 's/^link //p'); \
	if [ "$(LINKS)" = 1 ]; then for n in $(ALIASES); do \
		ln -sfn vial "$$d$(BIN_D)/$$n"; links="$$links $(BIN_D)/$$n"; \
	done; fi; \
	{ for p in $$dirs; do echo "dir $$p"; done; \
	  echo "file $(BIN_D)/vial"; echo "file $(MAN_D)/vial.1"; echo "file $(DOC_D)/README"; \
	  for p in $$links; do echo "link $$p"; done | sort -u; } > "$$m.new"; \
	chmod 0644 "$$m.new"; mv "$$m.new" "$$m"; \
	echo "installed $$d$(BIN_D)/vial (4755 root), built from $(BUILT_FROM):"
	@if [ "$(INSTALL_CHECK)" = 1 ]; then \
		$(DESTDIR)$(BIN_D)/vial config || \
			echo "make install: installed; vial config reports the problems above on this machine"; \
	else \
		$(DESTDIR)$(BIN_D)/vial config 2>/dev/null || [ $$? = 1 ]; \
		if [ -n "$(DESTDIR)" ]; then echo "make install: on a node, \`vial config\` as root" \
			"also checks it (one line a problem, exit 1)"; fi; \
	fi

# Removes what install put under $(DESTDIR)$(PREFIX), as its record says,
# and the directories it made (when empty).
uninstall:
	$(if $(wildcard $(DESTDIR)$(MANIFEST)),,$(error $(NOT_INSTALLED)))
	@set -e; d='$(DESTDIR)'; m="$$d$(MANIFEST)"; \
	if grep -vE '^((file|link) $(PREFIX)/|dir /)[^ ]+$$' "$$m" | grep -q . || \
	   grep -q '/\.\.\(/\|$$\)' "$$m"; then \
		echo "make uninstall: $$m is not install's record: nothing removed" >&2; exit 1; \
	fi; \
	grep '^file ' "$$m" | cut -c6- | while read -r p; do rm -f "$$d$$p"; done; \
	grep '^link ' "$$m" | cut -c6- | while read -r p; do \
		if [ -L "$$d$$p" ]; then rm -f "$$d$$p"; fi; done; \
	dirs=$$(grep '^dir ' "$$m" | cut -c5- | sort -r); \
	rm -f "$$m"; \
	for p in $$dirs; do \
		rmdir "$$d$$p" 2>/dev/null || echo "make uninstall: kept $$d$$p (not empty)"; \
	done; \
	echo "removed vial from $$d$(PREFIX)"

# The main job: build, install setuid in a local prefix, make a busybox
# image, and run a command in it as an unprivileged user.
DEMO = /var/tmp/vial-demo
demo:
	$(MAKE) deps EXTRA_PKGS="$(DEMO_PKGS)"
	$(MAKE) $(OUT)
	$(MAKE) install PREFIX=$(DEMO) DESTDIR= INSTALL_CHECK=0
	./t/mkimage.sh $(DEMO)/busybox.sqfs
	@echo "\$$ setpriv --reuid=nobody --regid=nogroup --clear-groups \\"
	@echo "    $(DEMO)/bin/vial exec $(DEMO)/busybox.sqfs sh -c 'cat /etc/os-release; id; ls /'"
	@cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups \
		$(DEMO)/bin/vial exec $(DEMO)/busybox.sqfs sh -c 'cat /etc/os-release; id; ls /'
	@echo "make demo: the setuid-root $(DEMO)/bin/vial stays installed;" \
		"remove it all with: rm -rf $(DEMO)"

# Test tools: t/NAME.c -> t/NAME, static musl, except those needing glibc libraries.
TOOLS = $(patsubst %.c,%,$(wildcard t/*.c))

check:
	$(MAKE) deps EXTRA_PKGS="$(TEST_PKGS)"
	$(MAKE) $(OUT) $(TOOLS)
	prove t/

t/%: t/%.c | $(KINC)
	$(need_cc)
	$(CC) -O2 -static -Wall -Wextra -Werror -isystem $(KINC) -o $@ $<

t/fuse-squash: t/fuse-squash.c
	gcc -O2 -Wall -Wextra -Werror -o $@ $< $$(pkg-config --cflags --libs fuse3)

# Static analysis, as auditors will run it: cppcheck, and gcc's analyzer
# over every file with the build's own flags (-Wall -Wextra -Werror).
lint:
	$(MAKE) deps EXTRA_PKGS="$(LINT_PKGS)"
	$(MAKE) $(KINC)
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
fuzz:
	$(MAKE) deps EXTRA_PKGS="$(FUZZ_PKGS)"
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./fuzz/run.sh

# Benchmarks: vial against the kernel-call floor and the peers (bench/README).
bench:
	$(MAKE) deps EXTRA_PKGS="$(BENCH_PKGS) $(DEMO_PKGS)"
	$(MAKE) $(OUT) $(KINC)
	VIAL=$(abspath $(OUT)) ./bench/run.sh

# 1,000 SIGKILLs at random points of setup: nothing may be left behind.
stress:
	$(MAKE) deps EXTRA_PKGS="$(TEST_PKGS)"
	$(MAKE) $(OUT) $(TOOLS)
	STRESS_KILLS=1000 prove -v t/70-scale.t

# A real single-node Slurm (and mpirun) running vial.
check-slurm:
	$(MAKE) deps EXTRA_PKGS="$(TEST_PKGS) $(SLURM_PKGS)"
	$(MAKE) $(OUT) $(TOOLS)
	./t/slurm.sh

# The workflow engines that call `singularity` (Snakemake, cwltool, Toil;
# Nextflow, miniwdl and Cromwell replayed) with vial in its place, on a
# Debian 12 image built once into build/clients/ (CLIENTS_TRACE=1 logs
# every call to build/clients/trace.log).
check-clients:
	$(MAKE) deps EXTRA_PKGS="$(TEST_PKGS) $(CLIENT_PKGS)"
	$(MAKE) $(OUT) $(TOOLS)
	./t/clients.sh

clean:
	rm -rf $(OUT) $(OUT).built-from $(TOOLS) $(BUILD)/obj*

distclean: clean
	rm -rf $(BUILD)

FORCE:

.PHONY: all deps install uninstall demo check lint fuzz bench stress check-slurm \
	check-clients clean distclean FORCE
