// SPDX-License-Identifier: GPL-2.0
// The core's one error convention (include/wc/result.h): Error, Result<T>
// and Status = Result<void>, and WC_TRY over both.
#include <wc/result.h>

#include <gtest/gtest.h>

#include <type_traits>

using namespace wc;

static_assert(std::is_same_v<Status, Result<void>>, "Status is Result<void>");
static_assert(std::is_copy_constructible_v<Status> && std::is_copy_assignable_v<Status>);
static_assert(!std::is_copy_constructible_v<Result<int>>, "a Result with a value moves");
static_assert(std::is_move_constructible_v<Result<int>>);

namespace {

constexpr Error kBad = {-WC_EINVAL, "bad"};

Status fails() { return kBad; }
Status succeeds() { return Status::success(); }
Result<int> value(bool ok)
{
	if (!ok)
		return Error{-WC_ENOSPC, "no space"};
	return 42;
}

Status chain(bool first, bool second)
{
	WC_TRY(first ? succeeds() : fails());
	WC_TRY(value(second));
	return Status::success();
}

Result<int> doubled(bool ok)
{
	Result<int> v = value(ok);
	WC_TRY(v);
	WC_TRY(succeeds());
	return *v * 2;
}

} // namespace

TEST(Result, StatusIsSuccessOrAnError)
{
	EXPECT_TRUE(Status().ok());
	EXPECT_TRUE(Status::success().ok());
	Status s = fails();
	ASSERT_FALSE(s.ok());
	EXPECT_EQ(s.error().code, -WC_EINVAL);
	EXPECT_STREQ(s.error().message, "bad");
	Status t = s;	// copies
	EXPECT_EQ(t.error().code, -WC_EINVAL);
	t = succeeds();
	EXPECT_TRUE(t.ok());
}

TEST(Result, ValueOrError)
{
	Result<int> r = value(true);
	ASSERT_TRUE(r.ok());
	EXPECT_EQ(*r, 42);
	EXPECT_EQ(r.value(), 42);
	Result<int> e = value(false);
	ASSERT_FALSE(e.ok());
	EXPECT_EQ(e.error().code, -WC_ENOSPC);
	Result<int> moved(static_cast<Result<int> &&>(r));
	EXPECT_EQ(*moved, 42);
}

TEST(Result, TryPropagatesEitherKind)
{
	EXPECT_TRUE(chain(true, true).ok());
	EXPECT_STREQ(chain(false, true).error().message, "bad");
	EXPECT_STREQ(chain(true, false).error().message, "no space");
	EXPECT_EQ(*doubled(true), 84);
	EXPECT_EQ(doubled(false).error().code, -WC_ENOSPC);
}

TEST(Result, MoveAssignReplacesValueOrError)
{
	Result<int> r = value(false);
	r = value(true);
	ASSERT_TRUE(r.ok());
	EXPECT_EQ(*r, 42);
	r = value(false);
	EXPECT_FALSE(r.ok());
	EXPECT_EQ(r.error().code, -WC_ENOSPC);
}
