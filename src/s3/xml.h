#pragma once
// The few S3 answers hearth reads, from a small bounded XML scanner: not a
// general XML parser (no DTDs, no namespaces beyond ignoring xmlns, no
// attributes kept), but enough for S3's flat documents, and safe on any bytes
// a server (or a man in the middle over http) sends: input size, nesting
// depth and element count are bounded, entities are the five predefined ones
// and numeric references, nothing is expanded recursively.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hearth::s3 {

inline constexpr size_t kMaxXmlBytes = 16u << 20;
inline constexpr int kMaxXmlDepth = 16;
inline constexpr size_t kMaxXmlElements = 200000;

// One element: its local name (prefix dropped), its text (entities decoded,
// CDATA kept), and its children in order.
struct XmlNode {
  std::string name;
  std::string text;
  std::vector<XmlNode> children;

  const XmlNode* Child(std::string_view name) const;   // the first one so named
  std::string ChildText(std::string_view name) const;  // "" when absent
};

// The document's root element, or an error saying what is wrong and where.
Result<XmlNode> ParseXml(std::string_view xml);

// Text for an XML body we send (Complete, Delete): & < > " ' escaped.
std::string XmlEscape(std::string_view text);

struct ListedObject {
  std::string key;
  uint64_t size = 0;
  std::string last_modified;  // as S3 gives it: 2026-12-07T10:00:00.000Z
};

// ListObjectsV2's answer (ListBucketResult).
struct ListPage {
  std::vector<ListedObject> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_token;  // NextContinuationToken
};
Result<ListPage> ParseListPage(std::string_view xml);

// InitiateMultipartUploadResult's UploadId.
Result<std::string> ParseUploadId(std::string_view xml);

// An <Error> document: S3's code and message (both may be empty).
struct S3ErrorBody {
  std::string code;
  std::string message;
};
// Null when `xml` is not an <Error> document (CompleteMultipartUpload may
// answer 200 with one: the caller checks every 200 body of it).
std::optional<S3ErrorBody> ParseErrorBody(std::string_view xml);

// CompleteMultipartUploadResult's ETag (an error if the root is another element).
Result<std::string> ParseCompleteResult(std::string_view xml);

// DeleteResult's per-key failures (<Error><Key/><Code/><Message/></Error>).
struct DeleteFailure {
  std::string key, code, message;
};
Result<std::vector<DeleteFailure>> ParseDeleteResult(std::string_view xml);

}  // namespace hearth::s3
