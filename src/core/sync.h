// SPDX-License-Identifier: GPL-2.0
// Locks for the core: a platform lock (spinlock in the kernel, a mutex in
// userspace) with an RAII guard. Critical sections are index updates only;
// data copies run outside them.
#pragma once

#include <wc_abi.h>

namespace wc {

class Lock {
public:
	Lock() = default;
	Lock(const Lock &) = delete;
	Lock &operator=(const Lock &) = delete;
	~Lock() { wc_plat_lock_destroy(l_); }

	bool init()
	{
		l_ = wc_plat_lock_create();
		return l_ != nullptr;
	}
	void lock() { wc_plat_lock(l_); }
	void unlock() { wc_plat_unlock(l_); }

private:
	wc_lock *l_ = nullptr;
};

class Guard {
public:
	explicit Guard(Lock &l) : l_(l) { l_.lock(); }
	~Guard() { l_.unlock(); }
	Guard(const Guard &) = delete;
	Guard &operator=(const Guard &) = delete;

private:
	Lock &l_;
};

// Releases the lock for a scope inside a Guard (e.g. around a data copy).
class Unguard {
public:
	explicit Unguard(Lock &l) : l_(l) { l_.unlock(); }
	~Unguard() { l_.lock(); }
	Unguard(const Unguard &) = delete;
	Unguard &operator=(const Unguard &) = delete;

private:
	Lock &l_;
};

// Bounds the work done per hold of a lock in a long loop (a scan of
// millions of blocks): every `every` ticks it drops the lock and lets the
// scheduler in. Whatever the loop holds across a tick must stay valid
// with the lock dropped; each caller says why it does.
class LockBreaker {
public:
	explicit LockBreaker(Lock &l, uint32_t every = 4096) : l_(l), every_(every) {}
	LockBreaker(const LockBreaker &) = delete;
	LockBreaker &operator=(const LockBreaker &) = delete;

	void tick()
	{
		if (++n_ < every_)
			return;
		n_ = 0;
		l_.unlock();
		wc_plat_cond_resched();
		l_.lock();
	}

private:
	Lock &l_;
	uint32_t every_;
	uint32_t n_ = 0;
};

// The commit gate: shared for data copies, exclusive for commits and frees.
class Gate {
public:
	Gate() = default;
	Gate(const Gate &) = delete;
	Gate &operator=(const Gate &) = delete;
	~Gate() { wc_plat_rwsem_destroy(s_); }

	bool init()
	{
		s_ = wc_plat_rwsem_create();
		return s_ != nullptr;
	}
	void enter_shared() { wc_plat_down_read(s_); }
	void exit_shared() { wc_plat_up_read(s_); }
	void enter_exclusive() { wc_plat_down_write(s_); }
	void exit_exclusive() { wc_plat_up_write(s_); }

private:
	wc_rwsem *s_ = nullptr;
};

class SharedGuard {
public:
	// `take` = false: not held until take() (a path that learns only
	// under another lock whether it needs the gate).
	explicit SharedGuard(Gate &g, bool take = true) : g_(g), held_(take)
	{
		if (held_)
			g_.enter_shared();
	}
	~SharedGuard()
	{
		if (held_)
			g_.exit_shared();
	}
	SharedGuard(const SharedGuard &) = delete;
	SharedGuard &operator=(const SharedGuard &) = delete;

	bool held() const { return held_; }
	void take()
	{
		g_.enter_shared();
		held_ = true;
	}
	void release()
	{
		if (held_)
			g_.exit_shared();
		held_ = false;
	}

private:
	Gate &g_;
	bool held_;
};

class ExclusiveGuard {
public:
	// `take` = false: a no-op guard, for paths that need the gate only in
	// one mode.
	explicit ExclusiveGuard(Gate &g, bool take = true) : g_(g), held_(take)
	{
		if (held_)
			g_.enter_exclusive();
	}
	~ExclusiveGuard()
	{
		if (held_)
			g_.exit_exclusive();
	}
	ExclusiveGuard(const ExclusiveGuard &) = delete;
	ExclusiveGuard &operator=(const ExclusiveGuard &) = delete;

private:
	Gate &g_;
	bool held_;
};

} // namespace wc
