#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/notifier.h"
#include "base/strings.h"

namespace hearth {
namespace {

TEST(Strings, ParseSize) {
  uint64_t v;
  EXPECT_TRUE(ParseSize("1024", &v));
  EXPECT_EQ(v, 1024u);
  EXPECT_TRUE(ParseSize("16KiB", &v));
  EXPECT_EQ(v, 16384u);
  EXPECT_TRUE(ParseSize("1MiB", &v));
  EXPECT_EQ(v, 1u << 20);
  EXPECT_TRUE(ParseSize("5MB", &v));
  EXPECT_EQ(v, 5000000u);
  EXPECT_FALSE(ParseSize("", &v));
  EXPECT_FALSE(ParseSize("KiB", &v));
  EXPECT_FALSE(ParseSize("-1", &v));
  EXPECT_FALSE(ParseSize("99999999999999GiB", &v));
  EXPECT_FALSE(ParseSize("1 MiB", &v));
}

TEST(Strings, ParseDuration) {
  int64_t ms;
  EXPECT_TRUE(ParseDurationMillis("10", &ms));
  EXPECT_EQ(ms, 10000);
  EXPECT_TRUE(ParseDurationMillis("250ms", &ms));
  EXPECT_EQ(ms, 250);
  EXPECT_TRUE(ParseDurationMillis("1h30m", &ms));
  EXPECT_EQ(ms, 5400000);
  EXPECT_FALSE(ParseDurationMillis("soon", &ms));
  EXPECT_TRUE(ParseDurationMillis("7d", &ms));
  EXPECT_EQ(ms, 7 * 24 * 3600000);
  EXPECT_FALSE(ParseDurationMillis("5w", &ms));
  EXPECT_FALSE(ParseDurationMillis("", &ms));
  EXPECT_EQ(FormatDurationMillis(30000), "30s");
  EXPECT_EQ(FormatDurationMillis(1500), "1500ms");
}

TEST(Strings, ParseUintRefusesSignsAndOverflow) {
  uint64_t v;
  EXPECT_TRUE(ParseUint("0", &v));
  EXPECT_FALSE(ParseUint("+1", &v));
  EXPECT_FALSE(ParseUint("1 ", &v));
  EXPECT_FALSE(ParseUint("99999999999999999999", &v));
}

TEST(Strings, HeaderListHasToken) {
  EXPECT_TRUE(HeaderListHasToken("keep-alive, Close", "close"));
  EXPECT_FALSE(HeaderListHasToken("closed", "close"));
}

TEST(Clock, HttpDateRoundTrip) {
  EXPECT_EQ(FormatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_EQ(ParseHttpDate("yesterday"), -1);
  EXPECT_EQ(ParseHttpDate("Sun, 06 Foo 1994 08:49:37 GMT"), -1);
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 28:49:37 GMT"), -1);
}

}  // namespace
}  // namespace hearth

namespace hearth {
namespace {

TEST(Notifier, WakesEachListenerUntilRemoved) {
  Notifier n;
  n.Notify();  // nobody listens: nothing happens
  int a = 0, b = 0;
  uint64_t ia = n.Add([&] { ++a; });
  n.Add([&] { ++b; });
  n.Notify();
  n.Remove(ia);
  n.Notify();
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
}

TEST(Strings, Utf8IsCheckedStrictly) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x94\xA5"));  // é € 🔥
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // cut short
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("a\x80z"));            // a lone continuation byte
}

}  // namespace
}  // namespace hearth
