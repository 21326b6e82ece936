#include "crypto/random.h"

#include <sodium.h>

namespace hearth::crypto {

bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

void RandomBytes(void* out, size_t n) {
  (void)SodiumReady();
  randombytes_buf(out, n);
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  RandomBytes(out.data(), n);
  return out;
}

std::string RandomChars(size_t n) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  // OpenSSL's RAND_bytes takes a lock and a getpid() (its fork check) per
  // call; a pool per thread makes an id cost a few byte reads.
  thread_local unsigned char pool[4096];
  thread_local size_t used = sizeof pool;
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    if (used == sizeof pool) {
      RandomBytes(pool, sizeof pool);
      used = 0;
    }
    unsigned char b = pool[used];
    pool[used++] = 0;        // a byte is used once, and not kept once used
    if (b >= 252) continue;  // 252 = 7 * 36: no modulo bias
    out.push_back(kAlphabet[b % 36]);
  }
  return out;
}

}  // namespace hearth::crypto
