#pragma once
// New databases in the change stream. A database a running server makes (an
// app's first use) is migrated by code whose first migrations make random
// secrets, so a copy cannot replay them: its first entry (kind
// create-database) carries the freshly migrated file whole instead
// (Store::Options::announce; Store::Announce in image.cpp), and applying it
// writes that file before anything opens it.
#include <string>

#include "base/result.h"
#include "store/entry.h"

namespace hearth::store {

// Writes the database a create-database entry carries to `path`, durably,
// recording the entry's index in it, so that opening it finds the database
// as the origin had it right after that entry. Refuses when `path` exists.
Status WriteDatabaseImage(const std::string& path, const EntryView& entry);

}  // namespace hearth::store
