// SPDX-License-Identifier: GPL-2.0
// The flush layer as the core's I/O paths call it. The layer of the
// architecture being built is called directly (wc::native_*, pmem.cpp):
// no virtual dispatch, no retpoline. Test doubles (crash simulators,
// fault injectors) go through the Pmem interface; the kernel has only
// the native layer, so the test is compiled out there.
//
// The native class stays inside pmem.cpp: were its inline methods visible
// here, every file would emit its own copies (speculative
// devirtualisation), and the module link rejects their duplicate
// __mcount_loc entries.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <wc/pmem.h>

namespace wc {

void native_memcpy(void *dst, const void *src, size_t n);
void native_flush(void *dst, size_t n);
void native_commit();
void native_assign(uint64_t *dst, uint64_t v);
bool native_read(void *dst, const void *src, size_t n);

class FlushLayer {
public:
	explicit FlushLayer(Pmem *p) : p_(p)
	{
#ifndef WC_KERNEL
		native_ = p == &native_pmem();
#endif
	}

	void memcpy(void *dst, const void *src, size_t n)
	{
		if (is_native())
			native_memcpy(dst, src, n);
		else
			p_->memcpy(dst, src, n);
	}
	void flush(void *dst, size_t n)
	{
		if (is_native())
			native_flush(dst, n);
		else
			p_->flush(dst, n);
	}
	void commit()
	{
		if (is_native())
			native_commit();
		else
			p_->commit();
	}
	void assign(uint64_t *dst, uint64_t v)
	{
		if (is_native())
			native_assign(dst, v);
		else
			p_->assign(dst, v);
	}
	bool read(void *dst, const void *src, size_t n)
	{
		if (is_native())
			return native_read(dst, src, n);
		return p_->read(dst, src, n);
	}

private:
#ifdef WC_KERNEL
	static constexpr bool is_native() { return true; }
#else
	bool is_native() const { return native_; }
	bool native_;
#endif
	Pmem *p_;
};

} // namespace wc
