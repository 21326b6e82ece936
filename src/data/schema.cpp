// Collections' common ground: lookups, record ids and dates. The rest of
// data/schema.h is one file per concept: schema_collection.cpp (a definition
// parsed and rendered), schema_json.cpp (JSON Schema), schema_ddl.cpp (the
// table's SQL), schema_check.cpp (a record checked before it is written).
#include "data/schema.h"

#include <sys/time.h>

#include <cstdio>
#include <ctime>

#include "data/schema_internal.h"

namespace hearth::data {

using schema_internal::RandomChars;

bool IsRecordId(std::string_view s) {
  if (s.size() != 15) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

const Field* Collection::Find(std::string_view field_name) const {
  for (const auto& f : fields)
    if (f.name == field_name) return &f;
  return nullptr;
}

const Collection* Schema::Find(std::string_view name) const {
  auto it = collections.find(name);
  return it == collections.end() ? nullptr : &it->second;
}

std::string NewRecordId() {
  return RandomChars(15);
}

std::string NowDate() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  // The date and time part changes once a second: kept per thread, so a
  // create formats only its milliseconds.
  thread_local time_t last = -1;
  thread_local char head[64];  // "2006-01-02 15:04:05"
  if (tv.tv_sec != last) {
    tm g;
    gmtime_r(&tv.tv_sec, &g);
    snprintf(head, sizeof head, "%04d-%02d-%02d %02d:%02d:%02d", (g.tm_year + 1900) % 10000,
             g.tm_mon + 1, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec);
    last = tv.tv_sec;
  }
  int ms = static_cast<int>(tv.tv_usec / 1000);
  std::string out(head, 19);
  out.push_back('.');
  out.push_back(static_cast<char>('0' + ms / 100));
  out.push_back(static_cast<char>('0' + ms / 10 % 10));
  out.push_back(static_cast<char>('0' + ms % 10));
  out.push_back('Z');
  return out;
}

}  // namespace hearth::data
