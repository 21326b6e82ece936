#pragma once
// Random bytes and identifiers from the kernel's CSPRNG (libsodium's
// randombytes_buf, getrandom underneath). libsodium is initialised here and
// nowhere else: every part that needs randomness or a password hash comes
// through this library.
#include <cstddef>
#include <string>

namespace hearth::crypto {

// Whether libsodium is ready (sodium_init, run once per process). False only
// if the kernel gives no randomness at all.
bool SodiumReady();

// `n` random bytes into `out`. Never fails once SodiumReady().
void RandomBytes(void* out, size_t n);
std::string RandomBytes(size_t n);

// `n` characters of [a-z0-9], uniformly drawn (no modulo bias): record ids,
// token keys, file name suffixes. Drawn from a per-thread pool refilled 4 KiB
// at a time, because a call per id costs more than the id.
std::string RandomChars(size_t n);

}  // namespace hearth::crypto
