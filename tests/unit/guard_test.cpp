// The guard's parts that decide: CIDR lists, token buckets, per-address
// connection counts, admission at accept, and whose address a request is.
#include "guard/guard.h"

#include <gtest/gtest.h>

namespace hearth::guard {
namespace {

CidrList List(std::string_view text) {
  auto l = CidrList::Parse(text);
  EXPECT_TRUE(l.ok()) << text;
  return l.ok() ? std::move(l).value() : CidrList();
}

TEST(Cidr, MatchesV4V6AndMappedAddresses) {
  CidrList l = List("10.0.0.0/8, 192.168.1.7 2001:db8::/32");
  EXPECT_TRUE(l.Contains("10.1.2.3"));
  EXPECT_TRUE(l.Contains("::ffff:10.200.0.1"));  // how a dual-stack listener sees IPv4
  EXPECT_FALSE(l.Contains("11.0.0.1"));
  EXPECT_TRUE(l.Contains("192.168.1.7"));
  EXPECT_FALSE(l.Contains("192.168.1.8"));
  EXPECT_TRUE(l.Contains("2001:db8:1::5"));
  EXPECT_FALSE(l.Contains("2001:db9::1"));
  EXPECT_FALSE(l.Contains("not an address"));
  CidrList odd = List("172.16.0.0/12");
  EXPECT_TRUE(odd.Contains("172.31.255.255"));
  EXPECT_FALSE(odd.Contains("172.32.0.0"));
  EXPECT_TRUE(List("0.0.0.0/0").Contains("8.8.8.8"));
  EXPECT_FALSE(List("0.0.0.0/0").Contains("2001:db8::1"));
  EXPECT_TRUE(List("::/0").Contains("2001:db8::1"));
  EXPECT_TRUE(List("").empty());
}

TEST(Cidr, RefusesWhatIsNotARange) {
  for (const char* bad :
       {"10.0.0.0/33", "::1/129", "10.0.0/8", "example.com", "10.0.0.0/x", "1.2.3.4:80"}) {
    auto l = CidrList::Parse(bad);
    EXPECT_FALSE(l.ok()) << bad;
  }
}

TEST(RateLimiter, BurstThenRateWithRetryAfter) {
  RateLimiter rl;
  int64_t retry = 0;
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(rl.Take("a", 2, 4, 1000, &retry)) << i;
  EXPECT_FALSE(rl.Take("a", 2, 4, 1000, &retry));
  EXPECT_EQ(retry, 1);
  EXPECT_TRUE(rl.Take("b", 2, 4, 1000, &retry));  // another client has its own bucket
  EXPECT_TRUE(rl.Take("a", 2, 4, 1500, &retry));  // half a second refills one at 2/s
  EXPECT_FALSE(rl.Take("a", 2, 4, 1500, &retry));
  EXPECT_FALSE(rl.Take("slow", 0.1, 1, 0, &retry) && rl.Take("slow", 0.1, 1, 0, &retry));
  EXPECT_EQ(retry, 10);  // one token every 10 s
}

TEST(RateLimiter, StaysBoundedUnderManyAddresses) {
  RateLimiter rl;
  int64_t retry = 0;
  for (int i = 0; i < 300000; ++i) rl.Take("10." + std::to_string(i), 1, 2, i / 100, &retry);
  EXPECT_LE(rl.size(), 16u * 8192u);
}

TEST(ConnectionTable, CountsPerAddress) {
  ConnectionTable t;
  EXPECT_TRUE(t.Acquire("1.1.1.1", 2));
  EXPECT_TRUE(t.Acquire("1.1.1.1", 2));
  EXPECT_FALSE(t.Acquire("1.1.1.1", 2));
  EXPECT_TRUE(t.Acquire("2.2.2.2", 2));
  t.Release("1.1.1.1");
  EXPECT_EQ(t.Count("1.1.1.1"), 1);
  EXPECT_TRUE(t.Acquire("1.1.1.1", 2));
  t.Release("1.1.1.1");
  t.Release("1.1.1.1");
  EXPECT_EQ(t.Count("1.1.1.1"), 0);
}

TEST(Guard, AdmitsByListsAndPerAddressCap) {
  Guard g;
  Policy p;
  p.deny = List("203.0.113.0/24");
  p.allow = List("10.0.0.0/8, 203.0.113.0/24");
  p.trusted = List("192.0.2.1");
  p.max_conns_per_ip = 1;
  g.SetPolicy(p);
  bool counted = false;
  EXPECT_FALSE(g.Admit("203.0.113.5", &counted));  // deny wins over allow
  EXPECT_FALSE(g.Admit("8.8.8.8", &counted));      // not on the allow list
  EXPECT_TRUE(g.Admit("10.0.0.1", &counted));
  EXPECT_TRUE(counted);
  EXPECT_FALSE(g.Admit("10.0.0.1", &counted));
  g.Release("10.0.0.1");
  EXPECT_TRUE(g.Admit("10.0.0.1", &counted));
  EXPECT_TRUE(g.Admit("192.0.2.1", &counted));  // a trusted proxy: allowed, not capped
  EXPECT_FALSE(counted);
  EXPECT_TRUE(g.Admit("192.0.2.1", &counted));
  EXPECT_EQ(g.refusals(Reason::kDenied), 1u);
  EXPECT_EQ(g.refusals(Reason::kNotAllowed), 1u);
  EXPECT_EQ(g.refusals(Reason::kPerIpConnections), 1u);
}

Request WithHeaders(std::string_view peer, std::vector<HeaderField> headers) {
  Request r;
  r.peer_ip = peer;
  r.headers = std::move(headers);
  return r;
}

TEST(Guard, ClientAddressOnlyThroughTrustedProxies) {
  Guard g;
  Policy p;
  p.trusted = List("10.0.0.0/8");
  g.SetPolicy(p);
  // Untrusted peer: its forwarded fields are ignored.
  Request a = WithHeaders("198.51.100.1", {{"X-Forwarded-For", "1.2.3.4"}});
  g.ResolveClient(a);
  EXPECT_EQ(a.ClientIp(), "198.51.100.1");
  // Trusted chain: the rightmost address we do not trust is the client; what
  // the client wrote on the left cannot win.
  Request b = WithHeaders("10.0.0.2", {{"X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.0.0.7"}});
  g.ResolveClient(b);
  EXPECT_EQ(b.ClientIp(), "203.0.113.9");
  // A Forwarded field is not read unless the proxies are said to write it.
  Request c = WithHeaders("10.0.0.2", {{"Forwarded", "for=\"[2001:db8::1]:4711\";proto=https"}});
  g.ResolveClient(c);
  EXPECT_EQ(c.ClientIp(), "10.0.0.2");
  // Every line counts: a client's own line first, the proxy's appended last.
  Request lines =
      WithHeaders("10.0.0.2", {{"X-Forwarded-For", "8.8.8.8"}, {"X-Forwarded-For", "203.0.113.7"}});
  g.ResolveClient(lines);
  EXPECT_EQ(lines.ClientIp(), "203.0.113.7");
  Request d = WithHeaders("10.0.0.2", {{"X-Forwarded-For", "garbage"}});
  g.ResolveClient(d);
  EXPECT_EQ(d.ClientIp(), "10.0.0.2");
  Request e = WithHeaders("10.0.0.2", {{"X-Forwarded-For", "203.0.113.9:5555"}});
  g.ResolveClient(e);
  EXPECT_EQ(e.ClientIp(), "203.0.113.9");
}

TEST(Guard, ForwardedChainsWhenTheProxiesWriteForwarded) {
  Guard g;
  Policy p;
  p.trusted = List("10.0.0.0/8");
  p.forwarded_header = true;
  g.SetPolicy(p);
  Request a = WithHeaders(
      "10.0.0.2",
      {{"Forwarded", "for=6.6.6.6, For=\"[2001:db8::1]:4711\";proto=https, for=10.0.0.9"}});
  g.ResolveClient(a);
  EXPECT_EQ(a.ClientIp(), "2001:db8::1");
  Request b = WithHeaders("10.0.0.2", {{"X-Forwarded-For", "6.6.6.6"}});  // a client's own field
  g.ResolveClient(b);
  EXPECT_EQ(b.ClientIp(), "10.0.0.2");
}

TEST(Guard, ListsApplyToClientsBehindTrustedProxies) {
  Guard g;
  Policy p;
  p.trusted = List("10.0.0.0/8");
  p.deny = List("203.0.113.0/24");
  g.SetPolicy(p);
  Request r = WithHeaders("10.0.0.2", {{"X-Forwarded-For", "203.0.113.9"}});
  g.ResolveClient(r);
  EXPECT_FALSE(g.AdmitClient(r));
  Request ok = WithHeaders("10.0.0.2", {{"X-Forwarded-For", "198.51.100.9"}});
  g.ResolveClient(ok);
  EXPECT_TRUE(g.AdmitClient(ok));
}

TEST(Guard, AnIpv6SubscriberIsOneClient) {
  EXPECT_EQ(ClientKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientKey("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(ClientKey("192.0.2.1"), "192.0.2.1");
  Guard g;
  Policy p;
  p.rate = 1;
  p.burst = 1;
  g.SetPolicy(p);
  int64_t retry = 0;
  EXPECT_TRUE(g.TakeToken(WithHeaders("2001:db8:1:2::1", {}), 0, &retry));
  EXPECT_FALSE(g.TakeToken(WithHeaders("2001:db8:1:2::ffff", {}), 0, &retry));  // same /64
  EXPECT_TRUE(g.TakeToken(WithHeaders("2001:db8:1:3::1", {}), 0, &retry));
}

TEST(Guard, RateLimitsPerClientAndSite) {
  Guard g;
  Policy p;
  p.rate = 1;
  p.burst = 2;
  g.SetPolicy(p);
  Request r = WithHeaders("198.51.100.1", {});
  int64_t retry = 0;
  EXPECT_TRUE(g.TakeToken(r, 0, &retry));
  EXPECT_TRUE(g.TakeToken(r, 0, &retry));
  EXPECT_FALSE(g.TakeToken(r, 0, &retry));
  EXPECT_GE(retry, 1);
  EXPECT_TRUE(g.TakeSiteToken(r, "a.test", 1, 1, 0, &retry));
  EXPECT_FALSE(g.TakeSiteToken(r, "a.test", 1, 1, 0, &retry));
  EXPECT_TRUE(g.TakeSiteToken(r, "b.test", 1, 1, 0, &retry));  // each site its own bucket
  EXPECT_EQ(g.refusals(Reason::kRateLimit), 1u);
  EXPECT_EQ(g.refusals(Reason::kSiteRateLimit), 1u);
}

}  // namespace
}  // namespace hearth::guard
