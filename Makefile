# SPDX-License-Identifier: GPL-2.0
#
# dm-writecache-cxx: top-level targets.
#   make                 build dm-writecache-cxx.ko for KDIR (default: the
#                        running kernel's headers, else the newest Debian 6.1)
#   make check-build     build for the installed 6.1 and 6.12 headers, fail
#                        on any compiler/objtool/modpost warning
#   make unit            userspace unit tests (CMake + GoogleTest, ASan+UBSan)
#   make check           every test (what CI runs); ends "N passed, M failed"
#   make check-long      the long forms make check bounds: the 4M+-block
#                        lockup test, long model-checker and stress runs
#   make demo            boot an emulated-pmem guest and use a writecache
#   make bench           benchmarks against stock: the path-length run
#                        (instructions per I/O under -icount, both kernels,
#                        docs/bench/pathlen/) and the TCG wall-clock run
#                        (docs/bench/report.md); make check runs the first
#                        in its quick form
#   make fuzz-long       the long table fuzz: 10,000 lines per kernel,
#                        differential against stock (about 3.5 hours)
#   make deps            install build/test dependencies (Debian 12, root)

ifneq ($(KERNELRELEASE),)
include $(src)/Kbuild
else

RUNNING_KDIR := /lib/modules/$(shell uname -r)/build
ifneq ($(wildcard $(RUNNING_KDIR)/Makefile),)
KDIR ?= $(RUNNING_KDIR)
else
KDIR ?= /usr/src/linux-headers-$(shell scripts/kernels.sh 6.1)
endif

.PHONY: all modules clean check-build unit check check-long demo deps bench fuzz-long
all modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf build

check-build:
	@set -e; vers=$$(scripts/kernels.sh | awk '{print $$2}'); \
	[ -n "$$vers" ] || { echo "no 6.1/6.12 headers installed (make deps)"; exit 1; }; \
	for v in $$vers; do scripts/kbuild.sh $$v >/dev/null || { cat build/kbuild/$$v/build.log; exit 1; }; \
		echo "check-build: $$v: no warnings"; done

unit:
	scripts/unit.sh

check:
	scripts/check.sh

check-long:
	$(deps_if_root)
	scripts/check-long.sh

demo:
	scripts/demo.sh

# The long runs install what is missing first, like check and demo.
define deps_if_root
	@if [ "$$(id -u)" = 0 ]; then scripts/install-deps.sh; fi
endef

bench:
	$(deps_if_root)
	scripts/pathlen.sh
	scripts/bench.sh

fuzz-long:
	$(deps_if_root)
	scripts/fuzz-table-long.sh

deps:
	scripts/install-deps.sh
endif
