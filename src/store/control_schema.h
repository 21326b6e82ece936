#pragma once
// The control plane's database, hearth.db in the data folder: its migrations
// and named statements. Every table has an explicit primary key (SQLite's
// session extension, which will carry changesets between cluster nodes,
// skips tables without one).
#include <vector>

#include "store/sqlite.h"
#include "store/store.h"

namespace hearth::store {

const std::vector<Migration>& ControlMigrations();
const std::vector<NamedStatement>& ControlStatements();
// Run on every connection before its statements are prepared.
const char* ControlConnectionSetup();

}  // namespace hearth::store
