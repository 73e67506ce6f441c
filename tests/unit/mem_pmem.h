// SPDX-License-Identifier: GPL-2.0
// Pmem over ordinary memory: every store is at once "durable", and reads
// never meet a machine check. Stateless, so safe from any thread. Crash
// behaviour is the simulator's (sim/sim_pmem.h).
#pragma once

#include <wc/pmem.h>

#include <cstring>

namespace wc::test {

class MemPmem : public Pmem {
public:
	void memcpy(void *d, const void *s, size_t n) override { std::memcpy(d, s, n); }
	void flush(void *, size_t) override {}
	void commit() override {}
	void assign(uint64_t *d, uint64_t v) override { *d = v; }
	bool read(void *d, const void *s, size_t n) override
	{
		std::memcpy(d, s, n);
		return true;
	}
	const char *name() const override { return "mem"; }
};

} // namespace wc::test
