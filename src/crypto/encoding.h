#pragma once
// Byte encodings the parts share: base64url without padding (JWTs, JWS, API
// tokens, ACME's thumbprints), padded standard base64 (S3's Content-MD5) and lower-case hex
// (SHA-256 names of blobs). One implementation, so a token made by one part decodes in another.
#include <optional>
#include <string>
#include <string_view>

namespace hearth::crypto {

// RFC 4648 §5 alphabet, no '=' padding.
std::string Base64UrlEncode(std::string_view bytes);
// Null on a character outside the alphabet or an impossible length (4n+1);
// padding is refused, as JWTs never carry it.
std::optional<std::string> Base64UrlDecode(std::string_view text);

// RFC 4648 §4 (standard alphabet, '=' padded): what S3's Content-MD5 carries.
std::string Base64Encode(std::string_view bytes);

// Two lower-case hex digits per byte.
std::string HexEncode(std::string_view bytes);

}  // namespace hearth::crypto
