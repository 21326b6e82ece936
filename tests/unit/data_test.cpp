// The data API's pure parts: the filter language and collection/record checks.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "base/strings.h"
#include "data/filter.h"
#include "data/realtime.h"
#include "data/schema.h"

namespace hearth::data {
namespace {

using nlohmann::json;

// Fields: title (text), views (number), tags (multi), author.name through a relation.
FilterContext TestContext() {
  FilterContext ctx;
  ctx.now = "2026-01-01 00:00:00.000Z";
  ctx.field = [](std::string_view path, bool* multi,
                 std::vector<SqlValue>*) -> Result<std::string> {
    if (path == "title" || path == "views" || path == "id")
      return "r.\"" + std::string(path) + "\"";
    if (path == "tags") {
      *multi = true;
      return std::string("r.\"tags\"");
    }
    if (path == "author.name") return std::string("(SELECT name FROM authors WHERE id = r.author)");
    return Error{"filter: unknown field \"" + std::string(path) + "\""};
  };
  ctx.auth = [](std::string_view name) -> SqlValue {
    if (name == "id") return std::string("user1");
    return nullptr;
  };
  ctx.body = [](std::string_view) -> SqlValue { return int64_t{5}; };
  return ctx;
}

struct Sql {
  std::string sql;
  std::vector<SqlValue> params;
  std::string error;
};
Sql ToSql(std::string_view filter) {
  Sql out;
  auto parsed = ParseFilter(filter);
  if (!parsed.ok()) {
    out.error = parsed.error().message;
    return out;
  }
  auto sql = FilterToSql(**parsed, TestContext(), &out.params);
  if (!sql.ok())
    out.error = sql.error().message;
  else
    out.sql = *sql;
  return out;
}

TEST(Filter, ComparisonsBecomeBoundParameters) {
  Sql s = ToSql("title = 'a' && views > 3");
  ASSERT_EQ(s.error, "");
  EXPECT_EQ(s.sql, "(r.\"title\" IS ?1 AND r.\"views\" > ?2)");
  ASSERT_EQ(s.params.size(), 2u);
  EXPECT_EQ(std::get<std::string>(s.params[0]), "a");
  EXPECT_EQ(std::get<int64_t>(s.params[1]), 3);
}

TEST(Filter, PrecedenceAndParentheses) {
  EXPECT_EQ(ToSql("views = 1 || views = 2 && title != \"x\"").sql,
            "(r.\"views\" IS ?1 OR (r.\"views\" IS ?2 AND r.\"title\" IS NOT ?3))");
  EXPECT_EQ(ToSql("(views = 1 || views = 2) && title ~ 'x'").sql,
            "((r.\"views\" IS ?1 OR r.\"views\" IS ?2) AND r.\"title\" LIKE ?3 ESCAPE '\\')");
  // A path on the right of ~ is wrapped in SQL, not escaped.
  EXPECT_EQ(ToSql("title ~ id").sql, "r.\"title\" LIKE ('%' || r.\"id\" || '%') ESCAPE '\\'");
}

// "" is like null: a guest's empty @request.auth.id is not != "" (the usual
// "signed in" rule), and a NULL column equals "".
TEST(Filter, AnEmptyStringIsLikeNull) {
  Sql s = ToSql("title != \"\" && views = ''");
  ASSERT_EQ(s.error, "");
  EXPECT_EQ(s.sql, "(coalesce(r.\"title\", '') != '' AND coalesce(r.\"views\", '') = '')");
  EXPECT_TRUE(s.params.empty());
  Sql a = ToSql("@request.auth.id != '' && title = 'x'");
  ASSERT_EQ(a.error, "");
  ASSERT_EQ(a.params.size(), 2u);  // the auth value and 'x': nothing left over from ''
  EXPECT_EQ(std::get<std::string>(a.params[1]), "x");
  // Only = and != treat "" as null: "contains nothing" stays a bound LIKE.
  Sql like = ToSql("title ~ ''");
  ASSERT_EQ(like.error, "");
  ASSERT_EQ(like.params.size(), 1u);
  EXPECT_NE(like.sql.find("LIKE"), std::string::npos);
}

// ~ as PocketBase: a value without an unescaped % means "contains", with
// %, _ and \ taken literally; with one, it is the caller's own pattern.
TEST(Filter, LikeEscapesAsPocketBase) {
  struct Case {
    const char* in;
    const char* pattern;
  };
  for (const Case& c :
       std::initializer_list<Case>{{"abc", "%abc%"},
                                   {"a_c", "%a\\_c%"},
                                   {"100\\%", "%100\\%%"},  // an escaped % is literal
                                   {"a\\_c", "%a\\_c%"},    // already escaped: kept
                                   {"a\\b", "%a\\\\b%"},    // a lone \ is literal
                                   {"", "%%"},
                                   {"a%c", "a%c"},  // the caller's own pattern
                                   {"%_", "%_"}})
    EXPECT_EQ(LikePattern(c.in), c.pattern) << c.in;
  Sql s = ToSql("title ~ 'a_c' && views !~ 5");
  ASSERT_EQ(s.error, "");
  EXPECT_EQ(std::get<std::string>(s.params[0]), "%a\\_c%");
  EXPECT_EQ(std::get<std::string>(s.params[1]), "%5%");
  EXPECT_EQ(s.sql, "(r.\"title\" LIKE ?1 ESCAPE '\\' AND r.\"views\" NOT LIKE ?2 ESCAPE '\\')");
}

TEST(Filter, LiteralsMacrosAndComments) {
  Sql s = ToSql(
      "views >= -2.5 && title != null && id = @request.auth.id && views = @request.body.n // "
      "note\n && title < @now");
  ASSERT_EQ(s.error, "");
  EXPECT_DOUBLE_EQ(std::get<double>(s.params[0]), -2.5);
  EXPECT_EQ(std::get<std::string>(s.params[1]), "user1");
  EXPECT_EQ(std::get<int64_t>(s.params[2]), 5);
  EXPECT_EQ(std::get<std::string>(s.params[3]), "2026-01-01 00:00:00.000Z");
  EXPECT_NE(s.sql.find("coalesce(r.\"title\", '') != ''"), std::string::npos) << s.sql;
  EXPECT_EQ(ToSql("title = true").params.size(), 1u);
}

TEST(Filter, StringsKeepQuotesAsData) {
  Sql s = ToSql(R"(title = "it's \"quoted\"" || title = 'x\' OR 1=1 --')");
  ASSERT_EQ(s.error, "");
  EXPECT_EQ(std::get<std::string>(s.params[0]), "it's \"quoted\"");
  EXPECT_EQ(std::get<std::string>(s.params[1]), "x' OR 1=1 --");
  EXPECT_EQ(s.sql.find('\''), s.sql.find("'\\'"))
      << "no literal text in the SQL but the LIKE escape: " << s.sql;
}

TEST(Filter, MultiValuedFieldsAnyAndAll) {
  EXPECT_EQ(ToSql("tags ?= 'a'").sql,
            "EXISTS (SELECT 1 FROM json_each(r.\"tags\") AS je WHERE je.value IS ?1)");
  EXPECT_NE(ToSql("tags = 'a'").sql.find("NOT EXISTS"), std::string::npos);
  EXPECT_NE(ToSql("tags = null").sql.find("json_array_length"), std::string::npos);
  EXPECT_NE(ToSql("'a' = tags").error, "");
}

TEST(Filter, RelationPathsResolveThroughTheContext) {
  EXPECT_EQ(ToSql("author.name = 'Ann'").sql,
            "(SELECT name FROM authors WHERE id = r.author) IS ?1");
}

TEST(Filter, RefusesWhatDoesNotParseWithAPosition) {
  for (const char* bad : {"", "title", "title =", "title = 'x", "(title = 'a'", "title = 'a')",
                          "title == 'a'", "title = 'a' OR 1=1", "title = 1; DROP TABLE x",
                          "@request.user.id = 1", "a..b = 1", "title = 1.", "@request.auth. = 1",
                          "a@request.auth.id = 1", "title = 'a' &&", "&& title = 'a'"}) {
    Sql s = ToSql(bad);
    EXPECT_NE(s.error, "") << bad;
    EXPECT_EQ(s.error.rfind("filter: ", 0), 0u) << s.error;
  }
  EXPECT_NE(ToSql("nope = 1").error.find("unknown field"), std::string::npos);
}

TEST(Filter, BoundsNestingLengthAndComparisons) {
  std::string deep(100, '(');
  deep += "title = 1" + std::string(100, ')');
  EXPECT_NE(ToSql(deep).error.find("deeply"), std::string::npos);
  std::string many = "title = 1";
  for (int i = 0; i < 300; ++i) many += " || title = 1";
  EXPECT_NE(ToSql(many).error, "");
  EXPECT_NE(ToSql(std::string(5000, ' ') + "title = 1").error.find("4 KiB"), std::string::npos);
}

Schema EmptySchema() {
  return Schema{};
}

TEST(Collections, ValidDefinitionRoundTrips) {
  Schema schema;
  json def = {{"name", "posts"},
              {"fields",
               {{{"name", "title"}, {"type", "text"}, {"required", true}, {"max", 10}},
                {{"name", "tags"}, {"type", "select"}, {"values", {"a", "b"}}, {"maxSelect", 2}},
                {{"name", "parent"}, {"type", "relation"}, {"collection", "posts"}}}},
              {"listRule", ""},
              {"viewRule", "title != ''"}};
  auto c = ParseCollection(def, schema, nullptr);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->fields.size(), 3u);
  EXPECT_TRUE(c->fields[1].Multi());
  EXPECT_EQ(c->list_rule, std::optional<std::string>(""));
  EXPECT_EQ(c->create_rule, std::nullopt);
  // What the API shows parses back to the same collection.
  Collection shell;
  shell.id = c->id;
  shell.name = c->name;
  schema.collections["posts"] = shell;
  auto again = ParseCollection(CollectionJson(*c), schema, &shell);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(CollectionJson(*again), CollectionJson(*c));
  EXPECT_NE(CreateTableSql(*c).find("\"tags\" JSON NOT NULL DEFAULT '[]'"), std::string::npos);
}

TEST(Collections, RefusesBadDefinitions) {
  Schema schema = EmptySchema();
  for (const char* bad :
       {R"({"fields":[]})", R"({"name":"1a"})", R"({"name":"a-b"})", R"({"name":"_x"})",
        R"({"name":"sqlite_x"})", R"({"name":"a","type":"view"})", R"({"name":"a","extra":1})",
        R"({"name":"a","fields":[{"name":"x"}]})",
        R"({"name":"a","fields":[{"name":"x","type":"blob"}]})",
        R"({"name":"a","fields":[{"name":"x","type":"text"},{"name":"X","type":"text"}]})",
        R"({"name":"a","fields":[{"name":"x","type":"select"}]})",
        R"({"name":"a","fields":[{"name":"x","type":"relation","collection":"nope"}]})",
        R"({"name":"a","fields":[{"name":"x","type":"text","min":5,"max":2}]})",
        R"({"name":"a","listRule":"x = "})", R"({"name":"a","listRule":5})",
        R"({"name":"a\"; DROP TABLE x; --"})"}) {
    auto c = ParseCollection(json::parse(bad), schema, nullptr);
    EXPECT_FALSE(c.ok()) << bad;
  }
}

TEST(Collections, AlterAddsDropsAndRefusesTypeChanges) {
  Schema schema;
  auto a = ParseCollection(
      json::parse(
          R"({"name":"t","fields":[{"name":"x","type":"text"},{"name":"y","type":"number"}]})"),
      schema, nullptr);
  ASSERT_TRUE(a.ok());
  auto b = ParseCollection(
      json::parse(R"({"fields":[{"name":"y","type":"number"},{"name":"z","type":"bool"}]})"),
      schema, &*a);
  ASSERT_TRUE(b.ok()) << b.error().message;
  auto sql = AlterTableSql(*a, *b);
  ASSERT_TRUE(sql.ok());
  ASSERT_EQ(sql->size(), 2u);
  EXPECT_NE((*sql)[0].find("DROP COLUMN \"x\""), std::string::npos);
  EXPECT_NE((*sql)[1].find("ADD COLUMN \"z\""), std::string::npos);
  auto c = ParseCollection(json::parse(R"({"fields":[{"name":"y","type":"text"}]})"), schema, &*a);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(AlterTableSql(*a, *c).ok());
}

TEST(Records, CheckedAgainstTheirFields) {
  Schema schema;
  auto c = ParseCollection(json::parse(R"({"name":"t","fields":[
      {"name":"title","type":"text","required":true,"max":5},
      {"name":"n","type":"number","onlyInt":true,"min":0},
      {"name":"ok","type":"bool"},
      {"name":"mail","type":"email"},
      {"name":"site","type":"url"},
      {"name":"when","type":"date"},
      {"name":"tags","type":"select","values":["a","b"],"maxSelect":2},
      {"name":"data","type":"json"}]})"),
                           schema, nullptr);
  ASSERT_TRUE(c.ok()) << c.error().message;
  json errors = json::object();
  auto good = CheckRecord(
      *c, json::parse(R"({"title":"héllo","n":3,"ok":true,"mail":"a@b.co","site":"https://x.y/z",
      "when":"2024-05-01T10:20:30.5Z","tags":["b","a"],"data":{"k":[1]},"collectionName":"t","created":"x"})"),
      true, &errors);
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(errors.empty()) << errors.dump();
  for (const auto& [k, v] : *good) {
    if (k == "when") {
      EXPECT_EQ(std::get<std::string>(v), "2024-05-01 10:20:30.500Z");
    }
  }
  errors = json::object();
  auto bad = CheckRecord(
      *c, json::parse(R"({"title":"toolong","n":1.5,"ok":"yes","mail":"nope","site":"ftp://x",
      "when":"yesterday","tags":["c"],"other":1})"),
      true, &errors);
  ASSERT_TRUE(bad.ok());
  for (const char* f : {"title", "n", "ok", "mail", "site", "when", "tags", "other"})
    EXPECT_TRUE(errors.contains(f)) << f;
  errors = json::object();
  (void)CheckRecord(*c, json::object(), true, &errors);
  EXPECT_EQ(errors["title"]["code"], "validation_required");
  errors = json::object();
  (void)CheckRecord(*c, json::object(), false, &errors);
  EXPECT_TRUE(errors.empty()) << "an update need not repeat required fields";
  errors = json::object();
  (void)CheckRecord(*c, json::parse(R"({"tags":["a","a"]})"), false, &errors);
  EXPECT_TRUE(errors.contains("tags"));
}

TEST(Records, IdsAreFifteenLowerCaseCharacters) {
  for (int i = 0; i < 100; ++i) {
    std::string id = NewRecordId();
    ASSERT_EQ(id.size(), 15u);
    for (char c : id) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
  }
  EXPECT_NE(NewRecordId(), NewRecordId());
}

}  // namespace
}  // namespace hearth::data

namespace hearth::data {
namespace {

// Realtime: who gets which rendering is the Judge's; caps refuse visibly.
TEST(Realtime, EachIdentityGetsItsOwnRenderingOffThePublishingThread) {
  Realtime rt;
  std::atomic<int> judged{0};
  std::thread::id publisher = std::this_thread::get_id(), judge_thread;
  rt.SetJudge([&](const Realtime::Event& e, const std::vector<Realtime::Viewer>& viewers) {
    judge_thread = std::this_thread::get_id();
    Realtime::Verdict v;
    for (const auto& who : viewers) {
      v.data[who.key] = "{\"for\":\"" + who.key + "\",\"id\":\"" + e.record.value("id", "") + "\"}";
      for (const auto& f : who.filters)
        v.visibility[Realtime::VisibilityKey(who.key, f)] = {true, f.empty()};
    }
    ++judged;
    return v;
  });
  auto guest = rt.Connect([] {});
  auto ann = rt.Connect([] {});
  auto su = rt.Connect([] {});
  int status = 0;
  ASSERT_EQ(rt.Subscribe(guest->id, {"posts/*"}, {}, &status), "");
  Realtime::Who as_ann{
      false, {{"collectionId", "users"}, {"id", "ann"}}, "k1", "192.0.2.1", "token"};
  ASSERT_EQ(rt.Subscribe(ann->id,
                         {"posts/*",
                          "posts/r1?options=%7B%22query%22%3A%7B%22filter%22%3A%22x%3D1%22%7D%7D"},
                         as_ann, &status),
            "");
  ASSERT_EQ(rt.Subscribe(su->id, {"posts/r1"}, Realtime::Who{true, nullptr, "", "", "t"}, &status),
            "");
  guest->pending.clear();
  ann->pending.clear();
  su->pending.clear();
  rt.Publish({{"posts", "update", {{"id", "r1"}}}});
  rt.Drain();
  EXPECT_EQ(judged.load(), 1);
  EXPECT_NE(judge_thread, publisher);
  EXPECT_NE(guest->pending.find("\"for\":\"\""), std::string::npos) << guest->pending;
  EXPECT_NE(ann->pending.find("\"for\":\"users/ann/k1\""), std::string::npos) << ann->pending;
  EXPECT_EQ(ann->pending.find("posts/r1?options"), std::string::npos)
      << "its filtered view topic was refused";
  EXPECT_NE(su->pending.find("\"for\":\"@superuser\""), std::string::npos) << su->pending;
  // Nobody subscribed to another collection: nothing to judge.
  rt.Publish({{"notes", "create", {{"id", "n1"}}}});
  rt.Drain();
  EXPECT_EQ(judged.load(), 1);
}

TEST(Realtime, CapsAreRefusedVisiblyAndPerIdentity) {
  Realtime rt;
  auto filtered = [](size_t from, size_t n) {
    std::vector<std::string> out;
    for (size_t i = from; i < from + n; ++i)
      out.push_back("posts/*?options=" +
                    PercentEncode("{\"query\":{\"filter\":\"n=" + std::to_string(i) + "\"}}"));
    return out;
  };
  auto guest_at = [](const char* network) {
    return Realtime::Who{false, nullptr, "", network, ""};
  };
  auto user = [](const char* id) {
    return Realtime::Who{false, {{"collectionId", "u"}, {"id", id}}, "k", "n1", "t"};
  };
  int status = 0;
  auto a = rt.Connect([] {});
  // Topics are bounded in bytes.
  EXPECT_NE(rt.Subscribe(a->id, std::vector<std::string>(30, "posts/*?" + std::string(2500, 'x')),
                         guest_at("n1"), &status),
            "");
  EXPECT_EQ(status, 400);
  // A signed-in record: kMaxFilters distinct filters across all its clients.
  const size_t k = Realtime::kMaxFilters;
  ASSERT_EQ(rt.Subscribe(a->id, filtered(0, k / 2 + 1), user("ann"), &status), "");
  auto b = rt.Connect([] {});
  EXPECT_NE(rt.Subscribe(b->id, filtered(100, k / 2), user("ann"), &status), "")
      << "a second connection buys no more";
  EXPECT_EQ(status, 429);
  EXPECT_EQ(rt.Subscribe(b->id, filtered(100, k / 2 - 1), user("ann"), &status), "");
  // Nobody else's budget is spent: another account, guests, a superuser.
  auto c = rt.Connect([] {});
  EXPECT_EQ(rt.Subscribe(c->id, filtered(0, k), user("bob"), &status), "");
  auto d = rt.Connect([] {});
  EXPECT_EQ(
      rt.Subscribe(d->id, filtered(0, k + 1), Realtime::Who{true, nullptr, "", "n1", "t"}, &status),
      "");
  // Guests share a network's budget, a larger one (many people behind one NAT).
  const size_t g = Realtime::kMaxGuestFilters;
  auto e = rt.Connect([] {});
  EXPECT_EQ(rt.Subscribe(e->id, filtered(0, g / 2), guest_at("n1"), &status), "");
  auto f = rt.Connect([] {});
  EXPECT_NE(rt.Subscribe(f->id, filtered(1000, g / 2 + 1), guest_at("n1"), &status), "");
  EXPECT_EQ(status, 429);
  EXPECT_EQ(rt.Subscribe(f->id, filtered(1000, g / 2 + 1), guest_at("n2"), &status), "");
  // A client that leaves gives its filters back.
  rt.Disconnect(e->id);
  auto h = rt.Connect([] {});
  EXPECT_EQ(rt.Subscribe(h->id, filtered(1000, g), guest_at("n1"), &status), "");
}

}  // namespace
}  // namespace hearth::data
