// SPDX-License-Identifier: GPL-2.0
// Errors as values, the core's one convention. An Error is a negative
// errno (WC_E*) plus a static message for the user (ti->error or DMERR);
// Result<T> holds a T or an Error, and Status is Result<void>: success or
// an Error. WC_TRY() propagates an error to the caller.
#pragma once

#include <new>
#include <stdint.h>
#include <type_traits>
#include <utility>

#include <wc_abi.h>

namespace wc {

struct [[nodiscard]] Error {
	int code;		// negative WC_E* value
	const char *message;	// static string
};

template <typename T>
class [[nodiscard]] Result {
	static_assert(!std::is_reference<T>::value, "Result holds values");

public:
	Result(const T &v) : ok_(true) { new (&storage_) T(v); }
	Result(T &&v) : ok_(true) { new (&storage_) T(static_cast<T &&>(v)); }
	Result(Error e) : ok_(false), error_(e) {}
	Result(const Result &) = delete;
	Result &operator=(const Result &) = delete;
	Result(Result &&o) : ok_(o.ok_), error_(o.error_)
	{
		if (ok_)
			new (&storage_) T(static_cast<T &&>(o.value()));
	}
	Result &operator=(Result &&o)
	{
		if (this != &o) {
			this->~Result();
			new (this) Result(static_cast<Result &&>(o));
		}
		return *this;
	}
	~Result()
	{
		if (ok_)
			value().~T();
	}

	bool ok() const { return ok_; }
	const Error &error() const { return error_; }
	T &value() { return *reinterpret_cast<T *>(&storage_); }
	const T &value() const { return *reinterpret_cast<const T *>(&storage_); }
	T &operator*() { return value(); }
	const T &operator*() const { return value(); }
	T *operator->() { return &value(); }
	const T *operator->() const { return &value(); }

private:
	bool ok_;
	Error error_ = {0, nullptr};
	alignas(T) unsigned char storage_[sizeof(T)];
};

// Result<void>: no value, so it copies freely. ok() means no error
// (code 0).
template <>
class [[nodiscard]] Result<void> {
public:
	Result() : error_{0, nullptr} {}
	Result(Error e) : error_(e) {}
	static Result success() { return Result(); }
	bool ok() const { return error_.code == 0; }
	const Error &error() const { return error_; }

private:
	Error error_;
};

using Status = Result<void>;

namespace detail {
template <typename T>
inline Error error_of(const Result<T> &r) { return r.error(); }
} // namespace detail

} // namespace wc

// TRY(expr): evaluate a Status or Result; on error return it from the
// enclosing function (whose return type must accept an Error).
#define WC_TRY(expr)                                                   \
	do {                                                           \
		auto &&wc_try_r_ = (expr);                             \
		if (!wc_try_r_.ok())                                   \
			return ::wc::detail::error_of(wc_try_r_);      \
	} while (0)
