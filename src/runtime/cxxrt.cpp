// SPDX-License-Identifier: GPL-2.0
// The C++ runtime the kernel build needs, and nothing more: the operator
// new/delete family over the shim's allocator, std::nothrow and
// __cxa_pure_virtual. Kernel build only; userspace uses libstdc++'s.
//
// Plain operator new allocates with the setup context. The I/O path must
// not use it: it allocates explicitly with WC_ALLOC_NOIO and placement new.
#include <new>

#include <wc_abi.h>

namespace std {
const nothrow_t nothrow{};
} // namespace std

namespace {

void *alloc(size_t size)
{
	return wc_plat_alloc(size ? size : 1, WC_ALLOC_SETUP);
}

// kmalloc of a power-of-two size is naturally aligned to that size, so an
// over-aligned object gets at least max(size, align) rounded up to a power
// of two.
void *alloc_aligned(size_t size, std::align_val_t align)
{
	size_t want = size > static_cast<size_t>(align) ?
			      size : static_cast<size_t>(align);
	size_t p2 = 1;

	while (p2 < want) {
		if (p2 > (~static_cast<size_t>(0) >> 1))
			return nullptr;
		p2 <<= 1;
	}
	return wc_plat_alloc(p2, WC_ALLOC_SETUP);
}

} // namespace

void *operator new(size_t size) { return alloc(size); }
void *operator new[](size_t size) { return alloc(size); }
void *operator new(size_t size, const std::nothrow_t &) noexcept
{
	return alloc(size);
}
void *operator new[](size_t size, const std::nothrow_t &) noexcept
{
	return alloc(size);
}
void *operator new(size_t size, std::align_val_t al)
{
	return alloc_aligned(size, al);
}
void *operator new[](size_t size, std::align_val_t al)
{
	return alloc_aligned(size, al);
}
void *operator new(size_t size, std::align_val_t al,
		   const std::nothrow_t &) noexcept
{
	return alloc_aligned(size, al);
}
void *operator new[](size_t size, std::align_val_t al,
		     const std::nothrow_t &) noexcept
{
	return alloc_aligned(size, al);
}

void operator delete(void *p) noexcept { wc_plat_free(p); }
void operator delete[](void *p) noexcept { wc_plat_free(p); }
void operator delete(void *p, size_t) noexcept { wc_plat_free(p); }
void operator delete[](void *p, size_t) noexcept { wc_plat_free(p); }
void operator delete(void *p, std::align_val_t) noexcept { wc_plat_free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { wc_plat_free(p); }
void operator delete(void *p, size_t, std::align_val_t) noexcept
{
	wc_plat_free(p);
}
void operator delete[](void *p, size_t, std::align_val_t) noexcept
{
	wc_plat_free(p);
}
void operator delete(void *p, const std::nothrow_t &) noexcept
{
	wc_plat_free(p);
}
void operator delete[](void *p, const std::nothrow_t &) noexcept
{
	wc_plat_free(p);
}

extern "C" void __cxa_pure_virtual();
extern "C" void __cxa_pure_virtual()
{
	wc_plat_panic("dm-writecache-cxx: pure virtual call");
	__builtin_trap();
}
