#pragma once
// The control plane: what manages the server itself rather than a site's
// content. API tokens' endpoints, the console's admin users, the
// certificates hearth serves and their automatic renewal (ACME). Each piece
// receives this context, not the whole server's: the store, a thread for
// slow work, and the TLS side it changes.
#include <atomic>
#include <cstdint>
#include <functional>

#include "base/background.h"
#include "store/store.h"
#include "tls/acme.h"
#include "tls/server.h"

namespace hearth::control {

struct ControlShared {
  store::Store* store = nullptr;
  // Slow work off the workers (argon2id hashes of admin passwords).
  BackgroundQueue* background = nullptr;
  // HTTPS (null without --https): certificate changes are installed here.
  tls::TlsServer* tls = nullptr;
  // ACME's challenge answers (null: no ACME).
  tls::AcmeChallenges* acme_challenges = nullptr;
  // Bumped on the writer thread by each install of the committed
  // certificates (ObserveCerts): TlsServer::Install keeps only the newest set.
  std::atomic<uint64_t> cert_version{0};
  // After a committed change to the certificates or the local CA, once
  // installed (ObserveCerts): which hosts redirect to HTTPS may have changed
  // (sites reload their routing, ACME looks again, the console redraws).
  std::function<void()> certs_changed;
};

}  // namespace hearth::control
