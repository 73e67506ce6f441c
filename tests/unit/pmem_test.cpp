// SPDX-License-Identifier: GPL-2.0
// The pmem flush layer (src/core/pmem*).
//
// Real instructions (native_pmem(), GenericPmem, both x86 copy paths): every
// copy must store exactly the source bytes into [dst, dst+n) and nothing
// outside it (guard bytes on both sides), at every size and alignment the
// head/tail logic distinguishes.
//
// Durability cannot be observed in userspace, so the x86 and arm64 logic is
// also run, on every host, against CacheModel: a per-byte model of what is
// dirty in the cache, written back but not yet fenced, or durable. It checks
// that memcpy+flush+commit leaves every byte durable, that flush() cleans
// exactly the lines it must, and that assign()+commit() needs no flush().
#include <wc/pmem.h>
#include <wc_abi.h>

#include "pmem/arm64.h"
#include "pmem/generic.h"
#include "pmem/x86_64.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr unsigned char kGuard = 0xA5;	// around the destination
constexpr unsigned char kStale = 0x3C;	// destination before the copy
constexpr size_t kPad = 192;		// guard bytes on each side

wc::GenericPmem g_generic;

// The core is built with -fno-rtti, so the vtable of an object it defines
// (native_pmem()) has no type_info, and UBSan's vptr check, active in this
// RTTI-enabled file, would report every virtual call on it. All calls on a
// Pmem go through Ops, which turns off that one check.
#define WC_NO_VPTR_CHECK __attribute__((no_sanitize("vptr")))

struct Ops {
	wc::Pmem *p;

	WC_NO_VPTR_CHECK void memcpy(void *d, const void *s, size_t n)
	{
		p->memcpy(d, s, n);
	}
	WC_NO_VPTR_CHECK void flush(void *d, size_t n) { p->flush(d, n); }
	WC_NO_VPTR_CHECK void commit() { p->commit(); }
	WC_NO_VPTR_CHECK void assign(uint64_t *d, uint64_t v) { p->assign(d, v); }
	WC_NO_VPTR_CHECK bool read(void *d, const void *s, size_t n)
	{
		return p->read(d, s, n);
	}
	WC_NO_VPTR_CHECK const char *name() const { return p->name(); }
};

Ops native() { return Ops{&wc::native_pmem()}; }
Ops generic() { return Ops{&g_generic}; }

// Source bytes never equal kGuard or kStale, so a stray or missing store
// of any source byte is visible.
unsigned char pattern(size_t i, unsigned seed)
{
	unsigned char v = static_cast<unsigned char>((i * 131 + seed * 17 + 1) % 251);

	if (v == kGuard || v == kStale)
		v ^= 0x0f;
	return v;
}

unsigned char *align64(unsigned char *p)
{
	uintptr_t u = reinterpret_cast<uintptr_t>(p);

	return reinterpret_cast<unsigned char *>((u + 63) & ~uintptr_t(63));
}

using CopyFn = void (*)(void *dst, const void *src, size_t n);

// Copies n bytes to a destination dst_off bytes past a 64-byte boundary
// from a source src_off bytes past one, then checks every byte of the
// buffer.
::testing::AssertionResult copy_is_exact(CopyFn copy, size_t n, size_t dst_off,
					 size_t src_off)
{
	const unsigned seed = static_cast<unsigned>(n * 7 + dst_off * 3 + src_off);
	std::vector<unsigned char> dbuf(kPad + 64 + n + kPad + 64, kGuard);
	std::vector<unsigned char> sbuf(64 + src_off + n + 1);
	unsigned char *dst = align64(dbuf.data() + kPad) + dst_off;
	unsigned char *src = align64(sbuf.data()) + src_off;

	for (size_t i = 0; i < n; i++) {
		src[i] = pattern(i, seed);
		dst[i] = kStale;
	}
	copy(dst, src, n);

	const size_t lo = static_cast<size_t>(dst - dbuf.data());
	for (size_t i = 0; i < dbuf.size(); i++) {
		const bool inside = i >= lo && i < lo + n;
		const unsigned char want = inside ? src[i - lo] : kGuard;

		if (dbuf[i] != want) {
			char msg[200];
			std::snprintf(msg, sizeof(msg),
				      "n=%zu dst_off=%zu src_off=%zu: byte %td "
				      "(relative to dst) is 0x%02x, want 0x%02x (%s)",
				      n, dst_off, src_off,
				      static_cast<ptrdiff_t>(i) -
					      static_cast<ptrdiff_t>(lo),
				      dbuf[i], want,
				      inside ? "inside" : "guard byte written");
			return ::testing::AssertionFailure() << msg;
		}
	}
	return ::testing::AssertionSuccess();
}

struct CopyImpl {
	const char *name;
	CopyFn copy;
	bool (*available)();
};

void PrintTo(const CopyImpl &impl, std::ostream *os)
{
	*os << impl.name;
}

bool always() { return true; }

void native_copy(void *d, const void *s, size_t n)
{
	native().memcpy(d, s, n);
	native().flush(d, n);
	native().commit();
}

void generic_copy(void *d, const void *s, size_t n)
{
	generic().memcpy(d, s, n);
	generic().flush(d, n);
	generic().commit();
}

#if defined(__x86_64__)
bool has_clflushopt() { return wc_plat_cpu_has_clflushopt() != 0; }
void x86_nt_copy(void *d, const void *s, size_t n)
{
	wc::X86Pmem::copy_nt(d, s, n);
}
void x86_clflushopt_copy(void *d, const void *s, size_t n)
{
	wc::X86Pmem::copy_clflushopt(d, s, n);
}
#endif

const CopyImpl kImpls[] = {
	{"native", native_copy, always},
	{"generic", generic_copy, always},
#if defined(__x86_64__)
	// Both x86 paths at every size, whatever memcpy() would pick.
	{"x86_movnti", x86_nt_copy, always},
	{"x86_clflushopt", x86_clflushopt_copy, has_clflushopt},
#endif
};

// Every residue mod 8 and mod 64 that matters to the head/tail logic.
const size_t kDstOffsets[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
			      11, 12, 13, 14, 15, 16, 24, 31, 32, 33, 36,
			      48, 56, 60, 61, 62, 63};
const size_t kSrcOffsets[] = {0, 1, 4, 7};
const size_t kLargeSizes[] = {767,  768,  769,  775,  800,  831,
			      832,  1000, 1024, 1025, 1536, 2047,
			      4096, 4133, 8192, 65536 + 3};

class PmemCopy : public ::testing::TestWithParam<CopyImpl> {
protected:
	void SetUp() override
	{
		if (!GetParam().available())
			GTEST_SKIP() << GetParam().name
				     << " not supported by this CPU";
	}
};

TEST_P(PmemCopy, EverySmallSizeAtManyAlignments)
{
	for (size_t n = 0; n <= 300; n++)
		for (size_t doff : kDstOffsets)
			for (size_t soff : kSrcOffsets)
				ASSERT_TRUE(copy_is_exact(GetParam().copy, n,
							  doff, soff));
}

TEST_P(PmemCopy, LargeSizesAtManyAlignments)
{
	for (size_t n : kLargeSizes)
		for (size_t doff : kDstOffsets)
			for (size_t soff : kSrcOffsets)
				ASSERT_TRUE(copy_is_exact(GetParam().copy, n,
							  doff, soff));
}

TEST_P(PmemCopy, EveryDestinationOffsetInALine)
{
	for (size_t n : {size_t(768), size_t(4096 + 5)})
		for (size_t doff = 0; doff < 64; doff++)
			ASSERT_TRUE(copy_is_exact(GetParam().copy, n, doff, 3));
}

TEST_P(PmemCopy, NullPointersWithZeroSize)
{
	GetParam().copy(nullptr, nullptr, 0);
}

INSTANTIATE_TEST_SUITE_P(Impls, PmemCopy, ::testing::ValuesIn(kImpls),
			 [](const ::testing::TestParamInfo<CopyImpl> &info) {
				 return std::string(info.param.name);
			 });

class PmemOps : public ::testing::TestWithParam<const char *> {
protected:
	Ops pmem()
	{
		return std::string(GetParam()) == "native" ? native() : generic();
	}
};

TEST_P(PmemOps, AssignStoresExactlyEightBytes)
{
	std::vector<unsigned char> buf(64 + 256 + 64);
	unsigned char *base = align64(buf.data()) + 64;

	for (size_t off = 0; off + 8 <= 256; off += 8) {
		const uint64_t v = 0x0123456789abcdefull ^ (off * 0x1111);

		std::memset(buf.data(), kGuard, buf.size());
		pmem().assign(reinterpret_cast<uint64_t *>(base + off), v);
		pmem().commit();

		uint64_t got;
		std::memcpy(&got, base + off, 8);
		ASSERT_EQ(got, v) << "off=" << off;
		for (size_t i = 0; i < buf.size(); i++) {
			const size_t rel = static_cast<size_t>(base - buf.data()) + off;
			if (i >= rel && i < rel + 8)
				continue;
			ASSERT_EQ(buf[i], kGuard)
				<< "off=" << off << ": byte " << i
				<< " outside the 8 assigned bytes changed";
		}
	}
}

TEST_P(PmemOps, AssignOverwritesPreviousValue)
{
	alignas(64) uint64_t words[8] = {};

	for (uint64_t v : {~0ull, 0ull, 0x8000000000000001ull}) {
		pmem().assign(&words[3], v);
		pmem().commit();
		EXPECT_EQ(words[3], v);
	}
	for (int i = 0; i < 8; i++) {
		if (i != 3) {
			EXPECT_EQ(words[i], 0u) << i;
		}
	}
}

TEST_P(PmemOps, ReadReturnsTheBytes)
{
	for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(63),
			 size_t(64), size_t(65), size_t(4096), size_t(4099)}) {
		std::vector<unsigned char> src(n + 1), dst(n + 2, kGuard);

		for (size_t i = 0; i < n; i++)
			src[i + 1] = pattern(i, 5);
		ASSERT_TRUE(pmem().read(dst.data() + 1, src.data() + 1, n))
			<< "n=" << n;
		EXPECT_EQ(dst[0], kGuard);
		EXPECT_EQ(dst[n + 1], kGuard);
		EXPECT_EQ(0, std::memcmp(dst.data() + 1, src.data() + 1, n))
			<< "n=" << n;
	}
}

TEST_P(PmemOps, FlushAndCommitOnAnyRange)
{
	const size_t size = 1 << 20;
	std::vector<unsigned char> buf(size + 64);
	unsigned char *p = align64(buf.data());

	for (size_t i = 0; i < buf.size(); i++)
		buf[i] = pattern(i, 9);
	const std::vector<unsigned char> before = buf;

	pmem().flush(p, 0);
	pmem().flush(nullptr, 0);
	pmem().commit();
	for (size_t off : {size_t(0), size_t(1), size_t(31), size_t(63)})
		for (size_t n : {size_t(1), size_t(2), size_t(64), size_t(65),
				 size_t(127), size_t(4096), size_t(4097)})
			pmem().flush(p + off, n);
	pmem().flush(p, size);		// many lines, one commit
	pmem().flush(p + size - 1, 1);	// the last byte only
	pmem().commit();
	pmem().commit();		// an empty commit is fine too
	EXPECT_TRUE(buf == before) << "flush() changed memory";
}

// The full sequence the core will use for one block plus its metadata.
TEST_P(PmemOps, CopyFlushAssignCommitSequence)
{
	std::vector<unsigned char> src(4096), dst(4096 + 64, kStale);
	alignas(64) uint64_t meta[2] = {};
	unsigned char *d = align64(dst.data());

	for (size_t i = 0; i < src.size(); i++)
		src[i] = pattern(i, 11);
	pmem().memcpy(d, src.data(), src.size());
	pmem().flush(d, src.size());
	pmem().assign(&meta[1], 42);
	pmem().commit();
	EXPECT_EQ(0, std::memcmp(d, src.data(), src.size()));
	EXPECT_EQ(meta[1], 42u);
	EXPECT_EQ(meta[0], 0u);
}

INSTANTIATE_TEST_SUITE_P(Impls, PmemOps, ::testing::Values("native", "generic"),
			 [](const ::testing::TestParamInfo<const char *> &info) {
				 return std::string(info.param);
			 });

TEST(PmemNative, IsTheBuildArchitecture)
{
#if defined(__x86_64__)
	EXPECT_STREQ(native().name(), "x86_64");
#elif defined(__aarch64__)
	EXPECT_STREQ(native().name(), "arm64");
#else
	EXPECT_STREQ(native().name(), "generic");
#endif
	EXPECT_EQ(&wc::native_pmem(), &wc::native_pmem());
	EXPECT_STREQ(generic().name(), "generic");
}

// Optional expectations from the runner (scripts/unit-arm64.sh runs qemu
// with -cpu max, which has DC CVAP): fail if detection disagrees.
void expect_feature(const char *env, int got, const char *what)
{
	const char *want = std::getenv(env);

	if (want && *want) {
		EXPECT_EQ(got, std::atoi(want)) << what << " detection ("
						<< env << "=" << want << ")";
	}
}

TEST(PmemNative, CpuFeatures)
{
	const int clflushopt = wc_plat_cpu_has_clflushopt();
	const int dcpop = wc_plat_cpu_has_dcpop();

	std::printf("[ pmem     ] native=%s clflushopt=%d dcpop=%d\n",
		    native().name(), clflushopt, dcpop);
	EXPECT_TRUE(clflushopt == 0 || clflushopt == 1);
	EXPECT_TRUE(dcpop == 0 || dcpop == 1);
#if !defined(__x86_64__)
	EXPECT_EQ(clflushopt, 0);
#endif
#if !defined(__aarch64__)
	EXPECT_EQ(dcpop, 0);
#endif
	expect_feature("WC_EXPECT_CLFLUSHOPT", clflushopt, "CLFLUSHOPT");
	expect_feature("WC_EXPECT_DCPOP", dcpop, "DCPOP");
}

#if defined(__x86_64__)
TEST(PmemX86, LargeCopyPath)
{
	const bool opt = wc_plat_cpu_has_clflushopt() != 0;

	std::printf("[ pmem     ] x86_64: copies >= %zu bytes use %s\n",
		    wc::X86Pmem::kClflushoptMin,
		    opt ? "cached copy + clflushopt per 64-byte line" :
			  "movnti (no CLFLUSHOPT)");
	RecordProperty("large_copy_path", opt ? "clflushopt" : "movnti");
	EXPECT_FALSE(wc::X86Pmem::uses_clflushopt(0));
	EXPECT_FALSE(wc::X86Pmem::uses_clflushopt(wc::X86Pmem::kClflushoptMin - 1));
	EXPECT_EQ(wc::X86Pmem::uses_clflushopt(wc::X86Pmem::kClflushoptMin), opt);
	EXPECT_EQ(wc::X86Pmem::uses_clflushopt(1 << 20), opt);
	// And native memcpy() takes it: the PmemCopy/native cases above
	// cover these sizes, this one is here to say so in the output.
	EXPECT_TRUE(copy_is_exact(native_copy, 4096, 0, 0));
}
#endif

#if defined(__aarch64__)
TEST(PmemArm64, CacheLineSize)
{
	const uintptr_t line = wc::Arm64Pmem::dcache_line_size();

	std::printf("[ pmem     ] arm64: D-cache line %zu bytes, flush uses %s\n",
		    static_cast<size_t>(line),
		    wc_plat_cpu_has_dcpop() ? "DC CVAP" : "DC CVAC");
	EXPECT_GE(line, 16u);
	EXPECT_LE(line, 2048u);
	EXPECT_EQ(line & (line - 1), 0u) << "not a power of two";
}

// The clean instruction this CPU claims to have really executes (a CPU or
// emulator that advertises FEAT_DPB without implementing DC CVAP dies here
// with SIGILL).
TEST(PmemArm64, FlushInstructionExecutes)
{
	alignas(64) static unsigned char line[64];

	line[0] = 1;
	native().flush(line, sizeof(line));
	native().assign(reinterpret_cast<uint64_t *>(line + 8), 2);
	native().commit();
	EXPECT_EQ(line[0], 1);
	EXPECT_EQ(line[8], 2);
}
#endif

// ---- The cache model ---------------------------------------------------

enum ByteState : uint8_t {
	kUntouched,	// never stored to
	kDirty,		// stored, only in the cache
	kPending,	// written back or non-temporal, not yet fenced
	kDurable,	// fenced after being written back
};

const char *state_name(uint8_t st)
{
	static const char *const names[] = {"untouched", "dirty", "pending",
					    "durable"};
	return names[st];
}

// One tracked buffer. The model Isas below store for real (so the bytes
// can be checked too) and update the per-byte state.
struct CacheModel {
	unsigned char *lo = nullptr;
	size_t size = 0;
	uintptr_t line = 64;
	bool clflushopt = true;	// x86: the CPU has CLFLUSHOPT
	bool dcpop = true;	// arm64: the CPU has DC CVAP
	std::vector<uint8_t> st;
	std::string error;	// first misuse seen
	size_t nt_stores = 0, cached_copies = 0, full_line_copies = 0;
	size_t cleans = 0, fences = 0;

	void reset(unsigned char *base, size_t n)
	{
		lo = base;
		size = n;
		st.assign(n, kUntouched);
		error.clear();
		nt_stores = cached_copies = full_line_copies = cleans = fences = 0;
	}

	void fail(const std::string &e)
	{
		if (error.empty())
			error = e;
	}

	bool store(void *d, const void *src, size_t n, uint8_t state)
	{
		auto *p = static_cast<unsigned char *>(d);

		if (!n)
			return true;
		if (p < lo || p + n > lo + size) {
			fail("store outside the tracked buffer");
			return false;
		}
		std::memcpy(p, src, n);
		std::memset(&st[static_cast<size_t>(p - lo)], state, n);
		return true;
	}

	// Write back the line holding addr: its dirty bytes start on their
	// way to media.
	void clean(uintptr_t addr)
	{
		const uintptr_t first = addr & ~(line - 1);
		const uintptr_t base = reinterpret_cast<uintptr_t>(lo);

		cleans++;
		for (uintptr_t a = first; a < first + line; a++)
			if (a >= base && a < base + size && st[a - base] == kDirty)
				st[a - base] = kPending;
	}

	void fence()
	{
		fences++;
		for (uint8_t &b : st)
			if (b == kPending)
				b = kDurable;
	}
};

CacheModel g_model;

struct ModelX86Isa {
	static void nt8(void *d, uint64_t v)
	{
		g_model.nt_stores++;
		g_model.store(d, &v, 8, kPending);
	}
	static void nt4(void *d, uint32_t v)
	{
		g_model.nt_stores++;
		g_model.store(d, &v, 4, kPending);
	}
	static void copy_cached(void *d, const void *s, size_t n)
	{
		g_model.cached_copies++;
		if (n == 64)
			g_model.full_line_copies++;
		g_model.store(d, s, n, kDirty);
	}
	static void clflushopt(const void *p)
	{
		if (!g_model.clflushopt)
			g_model.fail("clflushopt on a CPU without it (#UD)");
		g_model.clean(reinterpret_cast<uintptr_t>(p));
	}
	static void clflush(const void *p)
	{
		g_model.clean(reinterpret_cast<uintptr_t>(p));
	}
	static void sfence() { g_model.fence(); }
	static bool has_clflushopt() { return g_model.clflushopt; }
};

struct ModelArm64Isa {
	static void copy_cached(void *d, const void *s, size_t n)
	{
		g_model.cached_copies++;
		g_model.store(d, s, n, kDirty);
	}
	static void store8(uint64_t *d, uint64_t v)
	{
		if (reinterpret_cast<uintptr_t>(d) & 7)
			g_model.fail("unaligned 8-byte store is not atomic");
		g_model.store(d, &v, 8, kDirty);
	}
	static void dc_cvap(uintptr_t p)
	{
		if (!g_model.dcpop)
			g_model.fail("DC CVAP without FEAT_DPB (UNDEFINED)");
		g_model.clean(p);
	}
	static void dc_cvac(uintptr_t p)
	{
		// With FEAT_DPB the PoC may be short of the PoP.
		if (g_model.dcpop)
			g_model.fail("DC CVAC used although DC CVAP exists");
		g_model.clean(p);
	}
	static void dsb_sy() { g_model.fence(); }
	// CTR_EL0 with DminLine for g_model.line and different values in
	// the other fields (IminLine 32 bytes, ERG/CWG 4, RES1 bit 31).
	static uint64_t ctr_el0()
	{
		uint64_t dmin = 0;

		while ((uint64_t(4) << dmin) < g_model.line)
			dmin++;
		return (uint64_t(1) << 31) | (uint64_t(4) << 24) |
		       (uint64_t(4) << 20) | (dmin << 16) | (uint64_t(3) << 14) | 3;
	}
	static bool has_dcpop() { return g_model.dcpop; }
};

using ModelX86 = wc::X86PmemT<ModelX86Isa>;
using ModelArm64 = wc::Arm64PmemT<ModelArm64Isa>;

// Every byte of [dst, dst+n) is `want` and holds the source, every other
// byte of the tracked buffer is untouched.
::testing::AssertionResult model_state_is(const unsigned char *dst,
					  const unsigned char *src, size_t n,
					  uint8_t want, const char *what)
{
	if (!g_model.error.empty())
		return ::testing::AssertionFailure() << what << ": " << g_model.error;
	const size_t lo = static_cast<size_t>(dst - g_model.lo);
	for (size_t i = 0; i < g_model.size; i++) {
		const bool inside = i >= lo && i < lo + n;
		const uint8_t exp = inside ? want : uint8_t(kUntouched);

		if (g_model.st[i] != exp)
			return ::testing::AssertionFailure()
			       << what << ": byte " << static_cast<ptrdiff_t>(i) -
							  static_cast<ptrdiff_t>(lo)
			       << " (relative to dst, n=" << n << ") is "
			       << state_name(g_model.st[i]) << ", want "
			       << state_name(exp);
		if (inside && g_model.lo[i] != src[i - lo])
			return ::testing::AssertionFailure()
			       << what << ": byte " << i - lo << " (n=" << n
			       << ") has the wrong value";
	}
	return ::testing::AssertionSuccess();
}

// A tracked destination buffer and a source, as in copy_is_exact().
struct ModelBuffers {
	std::vector<unsigned char> dbuf, sbuf;
	unsigned char *dst, *src;

	ModelBuffers(size_t n, size_t dst_off, size_t src_off)
		: dbuf(kPad + 64 + n + kPad + 64, kGuard),
		  sbuf(64 + src_off + n + 1)
	{
		dst = align64(dbuf.data() + kPad) + dst_off;
		src = align64(sbuf.data()) + src_off;
		for (size_t i = 0; i < n; i++)
			src[i] = pattern(i, static_cast<unsigned>(n + dst_off));
		g_model.reset(dbuf.data(), dbuf.size());
	}
};

std::vector<size_t> model_sizes()
{
	std::vector<size_t> v;

	for (size_t n = 0; n <= 300; n++)
		v.push_back(n);
	for (size_t n : kLargeSizes)
		v.push_back(n);
	return v;
}

class PmemModelX86 : public ::testing::TestWithParam<bool> {};

// x86: the copy alone puts every byte on its way; flush() does nothing;
// the sfence makes it durable.
TEST_P(PmemModelX86, CopyIsDurableAfterCommitWithoutFlush)
{
	ModelX86 pmem;

	for (size_t n : model_sizes()) {
		for (size_t doff : kDstOffsets) {
			ModelBuffers b(n, doff, doff % 3);

			g_model.clflushopt = GetParam();
			pmem.memcpy(b.dst, b.src, n);
			ASSERT_TRUE(model_state_is(b.dst, b.src, n, kPending,
						   "after memcpy"));
			const size_t cleans = g_model.cleans;
			pmem.flush(b.dst, n);
			ASSERT_EQ(g_model.cleans, cleans) << "flush() is not empty";
			pmem.commit();
			ASSERT_TRUE(model_state_is(b.dst, b.src, n, kDurable,
						   "after commit"));
			// The large path runs exactly when it should.
			const bool large = GetParam() && n >= ModelX86::kClflushoptMin;
			ASSERT_EQ(g_model.full_line_copies > 0, large)
				<< "n=" << n << " doff=" << doff;
			if (n >= 64 && !large) {
				ASSERT_GT(g_model.nt_stores, 0u);
			}
		}
	}
}

TEST_P(PmemModelX86, AssignIsDurableAfterCommit)
{
	ModelX86 pmem;
	alignas(64) unsigned char buf[256];

	g_model.clflushopt = GetParam();
	for (size_t off = 0; off < sizeof(buf); off += 8) {
		const uint64_t v = 0xfeedface00000000ull | off;

		std::memset(buf, kGuard, sizeof(buf));
		g_model.reset(buf, sizeof(buf));
		pmem.assign(reinterpret_cast<uint64_t *>(buf + off), v);
		pmem.commit();
		ASSERT_TRUE(model_state_is(buf + off,
					   reinterpret_cast<const unsigned char *>(&v),
					   8, kDurable, "assign"));
	}
}

INSTANTIATE_TEST_SUITE_P(Clflushopt, PmemModelX86, ::testing::Bool(),
			 [](const ::testing::TestParamInfo<bool> &info) {
				 return std::string(info.param ? "with" : "without");
			 });

struct Arm64ModelParam {
	uintptr_t line;
	bool dcpop;
};

void PrintTo(const Arm64ModelParam &p, std::ostream *os)
{
	*os << "line " << p.line << (p.dcpop ? " DC CVAP" : " DC CVAC");
}

class PmemModelArm64 : public ::testing::TestWithParam<Arm64ModelParam> {
protected:
	void SetUp() override
	{
		g_model.line = GetParam().line;
		g_model.dcpop = GetParam().dcpop;
	}
	void TearDown() override { g_model.line = 64; }
};

// arm64: the copy stays in the cache until flush(); flush() cleans each
// line of the range exactly once; the DSB makes it durable.
TEST_P(PmemModelArm64, CopyFlushCommit)
{
	ModelArm64 pmem;

	ASSERT_EQ(ModelArm64::dcache_line_size(), GetParam().line);
	for (size_t n : model_sizes()) {
		for (size_t doff : kDstOffsets) {
			ModelBuffers b(n, doff, doff % 3);

			g_model.line = GetParam().line;
			g_model.dcpop = GetParam().dcpop;
			pmem.memcpy(b.dst, b.src, n);
			pmem.commit();
			ASSERT_TRUE(model_state_is(b.dst, b.src, n, kDirty,
						   "commit without flush"));
			pmem.flush(b.dst, n);
			const uintptr_t a = reinterpret_cast<uintptr_t>(b.dst);
			const uintptr_t line = GetParam().line;
			const size_t lines = n ? (a + n - 1) / line - a / line + 1 : 0;
			ASSERT_EQ(g_model.cleans, lines)
				<< "n=" << n << " doff=" << doff
				<< ": one clean per line of the range";
			pmem.commit();
			ASSERT_TRUE(model_state_is(b.dst, b.src, n, kDurable,
						   "after flush+commit"));
		}
	}
}

TEST_P(PmemModelArm64, AssignNeedsNoFlush)
{
	ModelArm64 pmem;
	alignas(128) unsigned char buf[512];

	for (size_t off = 0; off < sizeof(buf); off += 8) {
		const uint64_t v = 0x0badc0de00000000ull | off;

		std::memset(buf, kGuard, sizeof(buf));
		g_model.reset(buf, sizeof(buf));
		pmem.assign(reinterpret_cast<uint64_t *>(buf + off), v);
		pmem.commit();
		ASSERT_TRUE(model_state_is(buf + off,
					   reinterpret_cast<const unsigned char *>(&v),
					   8, kDurable, "assign+commit"));
		ASSERT_EQ(g_model.cleans, 1u);
	}
}

INSTANTIATE_TEST_SUITE_P(
	Lines, PmemModelArm64,
	::testing::Values(Arm64ModelParam{32, true}, Arm64ModelParam{64, true},
			  Arm64ModelParam{128, true}, Arm64ModelParam{64, false}),
	[](const ::testing::TestParamInfo<Arm64ModelParam> &info) {
		return std::string(info.param.dcpop ? "cvap_" : "cvac_") +
		       std::to_string(info.param.line);
	});

// The model itself must be able to tell: a flush that stops one byte short
// (the last byte opens a new line) leaves that byte dirty.
TEST(PmemModel, DetectsAMissingClean)
{
	ModelArm64 pmem;
	ModelBuffers b(124, 5, 0);	// bytes 5..128 of 64-byte lines

	g_model.line = 64;
	g_model.dcpop = true;
	pmem.memcpy(b.dst, b.src, 124);
	pmem.flush(b.dst, 123);
	pmem.commit();
	EXPECT_EQ(g_model.st[static_cast<size_t>(b.dst - g_model.lo) + 123],
		  kDirty);
	EXPECT_FALSE(model_state_is(b.dst, b.src, 124, kDurable, "short flush"));
}

} // namespace
