#pragma once
// A database's logical digest: what "the same database" means for the change
// stream. Two databases with equal digests hold the same tables (by their
// CREATE statements), the same rows and the same stream position, whatever
// their pages, free lists or hidden rowids look like (a copy made by
// applying entries lays its pages out differently, and a TEXT-keyed rowid
// table's hidden rowids are not in any changeset). Used by the apply tests,
// restore's final check and the debug endpoint.
#include <string>

#include "base/result.h"
#include "store/sqlite.h"

namespace hearth::store {

// SHA-256 (hex) over every table of `c`'s main database in name order
// (sqlite_stat* left out: statistics, not data): its SQL, then its rows
// ordered by primary key (by every column for a table without one), each
// value tagged with its type.
Result<std::string> Digest(Connection& c);

// SHA-256 (hex) over the files under `root` (a site's record files), in
// path order: each one's path relative to `root`, size and SHA-256. Equal
// digests: the same files with the same bytes. A missing folder holds no
// files; names starting with "." (a write in progress) are left out.
Result<std::string> DigestFiles(const std::string& root);

}  // namespace hearth::store
