// Certificates (made, checked, described) and the server's certificate set
// (SNI lookup, replacement), plus a TLS handshake, read and write between a
// TlsServer session and an OpenSSL client over a socket pair.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <thread>

#include "control/acme_manager.h"
#include "io/out_queue.h"
#include "tls/acme.h"
#include "tls/certs.h"
#include "tls/ocsp.h"
#include "tls/server.h"

namespace hearth::tls {
namespace {

TEST(Certs, HostNamesAndWildcards) {
  for (const char* ok : {"example.com", "a-b.example.com", "*.example.com", "localhost",
                         "127.0.0.1", "::1", "x_y.test"})
    EXPECT_TRUE(IsCertHost(ok)) << ok;
  for (const char* bad :
       {"", "a..b", ".a", "a.", "*", "*.", "a.*.com", "bad host", "a/b", "*.*.com", "a,DNS:b"})
    EXPECT_FALSE(IsCertHost(bad)) << bad;
  EXPECT_TRUE(HostMatches("*.example.com", "a.example.com"));
  EXPECT_TRUE(HostMatches("*.Example.com", "A.example.COM"));
  EXPECT_FALSE(HostMatches("*.example.com", "example.com"));
  EXPECT_FALSE(HostMatches("*.example.com", "a.b.example.com"));  // one label only
  EXPECT_TRUE(HostMatches("a.test", "A.TEST"));
}

TEST(Certs, SelfSignedDescribesItself) {
  auto kp = MakeSelfSigned({"a.test", "*.b.test", "127.0.0.1"}, 30);
  ASSERT_TRUE(kp.ok()) << kp.error().message;
  EXPECT_NE(kp->key_pem.find("PRIVATE KEY"), std::string::npos);
  auto info = Inspect(kp->cert_pem, kp->key_pem);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->hosts, (std::vector<std::string>{"a.test", "*.b.test", "127.0.0.1"}));
  EXPECT_TRUE(info->self_signed);
  EXPECT_FALSE(info->is_ca);
  int64_t now = time(nullptr);
  EXPECT_NEAR(info->not_after - now, 30 * 86400, 120);
  EXPECT_LE(info->not_before, now);
  EXPECT_FALSE(MakeSelfSigned({}, 30).ok());
  EXPECT_FALSE(MakeSelfSigned({"bad host"}, 30).ok());
}

TEST(Certs, InspectNamesWhatIsWrong) {
  auto a = MakeSelfSigned({"a.test"}, 30);
  auto b = MakeSelfSigned({"b.test"}, 30);
  ASSERT_TRUE(a.ok() && b.ok());
  auto mismatch = Inspect(a->cert_pem, b->key_pem);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().message, "the key does not match the certificate");
  auto garbage = Inspect("hello", a->key_pem);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().message.rfind("the certificate is not a PEM certificate", 0), 0u);
  auto nokey = Inspect(a->cert_pem, "");
  ASSERT_FALSE(nokey.ok());
  EXPECT_EQ(nokey.error().message.rfind("the key is not an unencrypted PEM private key", 0), 0u);
  auto broken_chain = Inspect(
      a->cert_pem + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", a->key_pem);
  ASSERT_FALSE(broken_chain.ok());
  EXPECT_NE(broken_chain.error().message.find("chain"), std::string::npos);
}

TEST(Certs, LocalCaSignsLeaves) {
  auto ca = MakeLocalCa();
  ASSERT_TRUE(ca.ok()) << ca.error().message;
  auto ca_info = Inspect(ca->cert_pem, ca->key_pem);
  // A CA names no host: Inspect refuses it as a server certificate.
  EXPECT_FALSE(ca_info.ok());
  auto leaf = IssueLeaf(*ca, {"app.localhost"}, 7);
  ASSERT_TRUE(leaf.ok()) << leaf.error().message;
  auto info = Inspect(leaf->cert_pem, leaf->key_pem);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_FALSE(info->self_signed);
  EXPECT_EQ(info->issuer, "O=hearth, CN=hearth local CA");
  EXPECT_EQ(info->hosts, std::vector<std::string>{"app.localhost"});
}

TEST(TlsServer, InstallPicksTheNewestCertificatePerHost) {
  auto srv = TlsServer::Create();
  ASSERT_TRUE(srv.ok());
  auto a = MakeSelfSigned({"a.test", "*.w.test"}, 30);
  auto a2 = MakeSelfSigned({"a.test"}, 30);
  ASSERT_TRUE(a.ok() && a2.ok());
  std::vector<std::string> problems;
  (*srv)->Install(
      {{2, a2->cert_pem, a2->key_pem}, {1, a->cert_pem, a->key_pem}, {3, "junk", "junk"}},
      &problems);
  EXPECT_EQ(problems.size(), 1u);
  EXPECT_EQ((*srv)->size(), 2u);
  EXPECT_TRUE((*srv)->Covers("a.test"));
  EXPECT_TRUE((*srv)->Covers("A.Test."));
  EXPECT_TRUE((*srv)->Covers("x.w.test"));
  EXPECT_FALSE((*srv)->Covers("w.test"));
  EXPECT_FALSE((*srv)->Covers("b.test"));
  (*srv)->Install({}, nullptr);
  EXPECT_FALSE((*srv)->Covers("a.test"));
}

// Drives both ends of a socket pair until `done` or a bound on steps.
template <typename F>
bool Pump(F done) {
  for (int i = 0; i < 200; ++i)
    if (done()) return true;
  return false;
}

TEST(TlsServer, HandshakeReadAndFlushOverASocketPair) {
  auto srv = TlsServer::Create();
  ASSERT_TRUE(srv.ok());
  auto kp = MakeSelfSigned({"pair.test"}, 30);
  ASSERT_TRUE(kp.ok());
  (*srv)->Install({{1, kp->cert_pem, kp->key_pem}}, nullptr);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  SSL* server = (*srv)->NewSession(fds[0]);
  ASSERT_NE(server, nullptr);
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  SSL* client = SSL_new(cctx);
  SSL_set_fd(client, fds[1]);
  SSL_set_tlsext_host_name(client, "pair.test");
  SSL_set_connect_state(client);
  bool client_done = false;
  ASSERT_TRUE(Pump([&] {
    if (!client_done) client_done = SSL_do_handshake(client) == 1;
    IoStatus s = Handshake(server);
    EXPECT_NE(s, IoStatus::kError);
    return client_done && s == IoStatus::kDone;
  }));
  ASSERT_EQ(SSL_write(client, "GET / HTTP/1.1\r\n\r\n", 18), 18);
  char buf[64];
  size_t n = 0;
  ASSERT_TRUE(Pump([&] { return Read(server, buf, sizeof buf, &n) == IoStatus::kDone; }));
  EXPECT_EQ(std::string(buf, n), "GET / HTTP/1.1\r\n\r\n");
  // A response bigger than the socket buffer: Flush stops at kBlocked and
  // sends the rest, whole and in order, once the client reads.
  OutQueue out;
  std::string body(1 << 20, 'x');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  out.Append(body);
  std::string got;
  uint64_t written = 0;
  ASSERT_TRUE(Pump([&] {
    if (!out.empty()) {
      auto r = Flush(server, out, &written);
      EXPECT_NE(r, OutQueue::FlushResult::kError);
    }
    char rb[65536];
    int k;
    while ((k = SSL_read(client, rb, sizeof rb)) > 0) got.append(rb, static_cast<size_t>(k));
    ERR_clear_error();
    return got.size() == body.size();
  }));
  EXPECT_TRUE(got == body);
  // The client ends it: the server sees the end.
  SSL_shutdown(client);
  ASSERT_TRUE(Pump([&] { return Read(server, buf, sizeof buf, &n) == IoStatus::kClosed; }));
  Close(server);
  SSL_free(client);
  SSL_CTX_free(cctx);
  close(fds[0]);
  close(fds[1]);
}

TEST(TlsServer, AnUnknownNameGetsAnAlertNotACertificate) {
  auto srv = TlsServer::Create();
  ASSERT_TRUE(srv.ok());
  auto kp = MakeSelfSigned({"known.test"}, 30);
  (*srv)->Install({{1, kp->cert_pem, kp->key_pem}}, nullptr);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  SSL* server = (*srv)->NewSession(fds[0]);
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  SSL* client = SSL_new(cctx);
  SSL_set_fd(client, fds[1]);
  SSL_set_tlsext_host_name(client, "unknown.test");
  SSL_set_connect_state(client);
  IoStatus s = IoStatus::kWant;
  int c = -1;
  Pump([&] {
    c = SSL_do_handshake(client);
    s = Handshake(server);
    return s == IoStatus::kError;
  });
  EXPECT_EQ(s, IoStatus::kError);
  EXPECT_NE(c, 1);
  ERR_clear_error();
  Close(server);
  SSL_free(client);
  SSL_CTX_free(cctx);
  close(fds[0]);
  close(fds[1]);
}

// A client offering "acme-tls/1" for a host with a TLS-ALPN-01 answer gets
// the challenge certificate and that protocol; one offering h2 for the same
// host gets the host's own certificate, as does any client once the answer is
// gone.
TEST(TlsServer, TlsAlpn01ChallengesGetTheirCertificateAndProtocol) {
  auto srv = TlsServer::Create();
  ASSERT_TRUE(srv.ok());
  auto own = MakeSelfSigned({"alpn.test"}, 30);
  ASSERT_TRUE(own.ok());
  (*srv)->Install({{1, own->cert_pem, own->key_pem}}, nullptr);
  AcmeChallenges challenges;
  (*srv)->SetChallenges(&challenges);
  auto answer = MakeAlpnChallenge("alpn.test", "tok.thumb");
  ASSERT_TRUE(answer.ok()) << answer.error().message;
  challenges.PutAlpn("ALPN.test", *answer);
  auto handshake = [&](const unsigned char* protos, unsigned len, std::string* subject_der,
                       std::string* alpn) -> bool {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    SSL* server = (*srv)->NewSession(fds[0]);
    SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
    SSL* client = SSL_new(cctx);
    SSL_set_fd(client, fds[1]);
    SSL_set_tlsext_host_name(client, "alpn.test");
    SSL_set_alpn_protos(client, protos, len);
    SSL_set_connect_state(client);
    bool client_done = false;
    bool ok = Pump([&] {
      if (!client_done) client_done = SSL_do_handshake(client) == 1;
      IoStatus st = Handshake(server);
      return client_done && st == IoStatus::kDone;
    });
    X509* peer = SSL_get1_peer_certificate(client);
    unsigned char* der = nullptr;
    int n = peer ? i2d_X509(peer, &der) : 0;
    subject_der->assign(reinterpret_cast<char*>(der), n > 0 ? static_cast<size_t>(n) : 0);
    OPENSSL_free(der);
    X509_free(peer);
    const unsigned char* sel = nullptr;
    unsigned sel_len = 0;
    SSL_get0_alpn_selected(client, &sel, &sel_len);
    alpn->assign(reinterpret_cast<const char*>(sel), sel_len);
    Close(server);
    SSL_free(client);
    SSL_CTX_free(cctx);
    close(fds[0]);
    close(fds[1]);
    ERR_clear_error();
    return ok;
  };
  auto der_of = [](const std::string& pem) {
    BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    unsigned char* der = nullptr;
    int n = i2d_X509(x, &der);
    std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(b);
    return out;
  };
  static const unsigned char kAcme[] = {10, 'a', 'c', 'm', 'e', '-', 't', 'l', 's', '/', '1'};
  static const unsigned char kH2[] = {2, 'h', '2'};
  static const unsigned char kBoth[] = {10,  'a', 'c', 'm', 'e', '-', 't',
                                        'l', 's', '/', '1', 2,   'h', '2'};
  std::string cert, alpn;
  EXPECT_TRUE(handshake(kAcme, sizeof kAcme, &cert, &alpn));
  EXPECT_EQ(alpn, "acme-tls/1");
  EXPECT_EQ(cert, der_of(answer->cert_pem));
  EXPECT_TRUE(handshake(kAcme, sizeof kAcme, &cert, &alpn));  // again, from the cached context
  EXPECT_EQ(cert, der_of(answer->cert_pem));
  EXPECT_TRUE(handshake(kH2, sizeof kH2, &cert, &alpn));
  EXPECT_EQ(alpn, "h2");
  EXPECT_EQ(cert, der_of(own->cert_pem));
  challenges.RemoveAlpn("alpn.test");
  // Only "acme-tls/1" and no answer: refused (no_application_protocol).
  EXPECT_FALSE(handshake(kAcme, sizeof kAcme, &cert, &alpn));
  EXPECT_EQ(cert, "");
  // Offered beside h2: the site's own certificate and h2.
  EXPECT_TRUE(handshake(kBoth, sizeof kBoth, &cert, &alpn));
  EXPECT_EQ(alpn, "h2");
  EXPECT_EQ(cert, der_of(own->cert_pem));
}

// The challenge certificate: the host as its only name, and the critical
// acmeIdentifier extension holding the SHA-256 of the key authorization.
TEST(Certs, AlpnChallengeCarriesTheKeyAuthorizationDigest) {
  auto kp = MakeAlpnChallenge("a.test", "token.thumb");
  ASSERT_TRUE(kp.ok());
  auto info = Inspect(kp->cert_pem, kp->key_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->hosts, std::vector<std::string>{"a.test"});
  BIO* b = BIO_new_mem_buf(kp->cert_pem.data(), static_cast<int>(kp->cert_pem.size()));
  X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  ASSERT_NE(x, nullptr);
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  int at = X509_get_ext_by_OBJ(x, oid, -1);
  ASN1_OBJECT_free(oid);
  ASSERT_GE(at, 0);
  X509_EXTENSION* ext = X509_get_ext(x, at);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  const ASN1_OCTET_STRING* v = X509_EXTENSION_get_data(ext);
  unsigned char md[32];
  SHA256(reinterpret_cast<const unsigned char*>("token.thumb"), 11, md);
  std::string want = std::string("\x04\x20", 2) + std::string(reinterpret_cast<char*>(md), 32);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                        static_cast<size_t>(ASN1_STRING_length(v))),
            want);
  X509_free(x);
  EXPECT_FALSE(MakeAlpnChallenge("*.a.test", "x").ok());
  EXPECT_FALSE(MakeAlpnChallenge("127.0.0.1", "x").ok());
}

TEST(ClientHello, SniAndAlpnAreReadWithBoundsChecked) {
  auto bytes = [](std::initializer_list<int> v) {
    std::string s;
    for (int x : v) s.push_back(static_cast<char>(x));
    return s;
  };
  auto sni = [](const std::string& s) {
    return SniHost(reinterpret_cast<const unsigned char*>(s.data()), s.size());
  };
  auto alpn = [](const std::string& s, std::string_view p) {
    return AlpnOffers(reinterpret_cast<const unsigned char*>(s.data()), s.size(), p);
  };
  EXPECT_EQ(sni(bytes({0, 9, 0, 0, 6, 'A', '.', 'T', 'e', 's', 't'})), "a.test");
  EXPECT_EQ(sni(bytes({0, 10, 0, 0, 7, 'a', '.', 't', 'e', 's', 't', '.'})),
            "a.test");  // the root's dot goes
  EXPECT_EQ(sni(bytes({0, 9, 0, 0, 7, 'a', '.', 't', 'e', 's', 't'})),
            "");  // the name runs past the end
  EXPECT_EQ(sni(bytes({0, 8, 0, 0, 6, 'a', '.', 't', 'e', 's', 't'})),
            "");                                       // the list length is wrong
  EXPECT_EQ(sni(bytes({0, 5, 0, 0, 2, 'a', 0})), "");  // a NUL in the name
  EXPECT_EQ(sni(bytes({0, 3, 0, 0, 0})), "");          // empty
  EXPECT_EQ(sni(bytes({0})), "");
  EXPECT_EQ(sni(""), "");
  std::string list = bytes({0, 14, 2, 'h', '2'}) + std::string(
                                                       "\x0a"
                                                       "acme-tls/1",
                                                       11);
  list[1] = static_cast<char>(list.size() - 2);
  EXPECT_TRUE(alpn(list, "acme-tls/1"));
  EXPECT_TRUE(alpn(list, "h2"));
  EXPECT_FALSE(alpn(list, "http/1.1"));
  EXPECT_FALSE(alpn(bytes({0, 4, 5, 'a', 'c', 'm', 'e'}), "acme"));  // the name runs past the end
  EXPECT_FALSE(alpn(bytes({0, 1, 0}), ""));                          // empty names are malformed
  EXPECT_FALSE(alpn("", "h2"));
}

// OCSP answers are checked before they are stapled: about this certificate,
// signed by its issuer, within their validity.
TEST(Ocsp, AnswersAreCheckedAgainstTheIssuer) {
  auto ca = MakeLocalCa();
  ASSERT_TRUE(ca.ok());
  auto leaf = IssueLeaf(*ca, {"ocsp.test"}, 30);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(OcspUrl(leaf->cert_pem), "");  // hearth's own leaves name no responder
  auto req = MakeOcspRequest(leaf->cert_pem);
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_FALSE(req->empty());
  int64_t now = static_cast<int64_t>(time(nullptr));

  auto good = MakeOcspResponse(leaf->cert_pem, ca->key_pem, true, 3600);
  ASSERT_TRUE(good.ok()) << good.error().message;
  auto a = CheckOcspResponse(*good, leaf->cert_pem, now);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_TRUE(a->good);
  EXPECT_NEAR(static_cast<double>(a->next_update - now), 3600, 5);
  // Past its nextUpdate (with five minutes of slack): refused.
  auto late = CheckOcspResponse(*good, leaf->cert_pem, now + 3600 + 400);
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().message.find("validity"), std::string::npos);

  // No nextUpdate: good for a day from its thisUpdate, not forever.
  auto open_ended = MakeOcspResponse(leaf->cert_pem, ca->key_pem, true, 0);
  ASSERT_TRUE(open_ended.ok()) << open_ended.error().message;
  auto o = CheckOcspResponse(*open_ended, leaf->cert_pem, now);
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->next_update, o->this_update + 86400);
  EXPECT_FALSE(CheckOcspResponse(*open_ended, leaf->cert_pem, now + 2 * 86400).ok());

  auto revoked = MakeOcspResponse(leaf->cert_pem, ca->key_pem, false, 3600);
  ASSERT_TRUE(revoked.ok());
  auto r = CheckOcspResponse(*revoked, leaf->cert_pem, now);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->good);

  // Signed by some other CA: refused.
  auto other = MakeLocalCa();
  auto forged_chain = IssueLeaf(*other, {"ocsp.test"}, 30);
  std::string mixed =
      leaf->cert_pem.substr(0, leaf->cert_pem.find("-----END CERTIFICATE-----") + 26) +
      forged_chain->cert_pem.substr(forged_chain->cert_pem.find("-----END CERTIFICATE-----") + 26);
  auto forged = MakeOcspResponse(mixed, other->key_pem, true, 3600);
  ASSERT_TRUE(forged.ok()) << forged.error().message;
  auto f = CheckOcspResponse(*forged, leaf->cert_pem, now);
  ASSERT_FALSE(f.ok());
  // About another certificate (same issuer): refused.
  auto sibling = IssueLeaf(*ca, {"other.test"}, 30);
  auto theirs = MakeOcspResponse(sibling->cert_pem, ca->key_pem, true, 3600);
  EXPECT_FALSE(CheckOcspResponse(*theirs, leaf->cert_pem, now).ok());
  // Not OCSP at all, or trailing bytes, or a chain without its issuer.
  EXPECT_FALSE(CheckOcspResponse("garbage", leaf->cert_pem, now).ok());
  EXPECT_FALSE(CheckOcspResponse(*good + "x", leaf->cert_pem, now).ok());
  auto self = MakeSelfSigned({"ocsp.test"}, 30);
  EXPECT_FALSE(MakeOcspRequest(self->cert_pem).ok());
  EXPECT_FALSE(CheckOcspResponse(*good, self->cert_pem, now).ok());
}

// A fake on-demand issuer: says "coming" until told otherwise.
class FakeIssuer : public OnDemandIssuer {
 public:
  bool Wanted(std::string_view host) override {
    asked.emplace_back(host);
    return coming;
  }
  bool coming = true;
  std::vector<std::string> asked;
};

// A handshake for a name with no certificate pauses while the issuer says
// one is coming, and completes with it once it is installed; a refused name
// ends with an alert, and so does one whose wait runs out.
TEST(TlsServer, OnDemandHandshakesPauseUntilTheCertificateComes) {
  auto srv = TlsServer::Create();
  ASSERT_TRUE(srv.ok());
  FakeIssuer issuer;
  (*srv)->SetOnDemand(&issuer, 60000);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  SSL* server = (*srv)->NewSession(fds[0]);
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  SSL* client = SSL_new(cctx);
  SSL_set_fd(client, fds[1]);
  SSL_set_tlsext_host_name(client, "Later.test");
  SSL_set_connect_state(client);
  bool client_done = false;
  IoStatus s = IoStatus::kWant;
  Pump([&] {
    if (!client_done) client_done = SSL_do_handshake(client) == 1;
    s = Handshake(server);
    return s == IoStatus::kPaused;
  });
  ASSERT_EQ(s, IoStatus::kPaused);
  ASSERT_FALSE(issuer.asked.empty());
  EXPECT_EQ(issuer.asked.back(), "later.test");
  EXPECT_EQ(Handshake(server), IoStatus::kPaused);  // still coming
  auto kp = MakeSelfSigned({"later.test"}, 30);
  (*srv)->Install({{1, kp->cert_pem, kp->key_pem}}, nullptr);
  size_t asked = issuer.asked.size();
  ASSERT_TRUE(Pump([&] {
    if (!client_done) client_done = SSL_do_handshake(client) == 1;
    IoStatus st = Handshake(server);
    return client_done && st == IoStatus::kDone;
  }));
  EXPECT_EQ(issuer.asked.size(), asked);  // covered now: not asked again
  Close(server);
  SSL_free(client);
  close(fds[0]);
  close(fds[1]);

  // Refused: an alert, at once.
  issuer.coming = false;
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  server = (*srv)->NewSession(fds[0]);
  client = SSL_new(cctx);
  SSL_set_fd(client, fds[1]);
  SSL_set_tlsext_host_name(client, "never.test");
  SSL_set_connect_state(client);
  Pump([&] {
    SSL_do_handshake(client);
    s = Handshake(server);
    return s == IoStatus::kError;
  });
  EXPECT_EQ(s, IoStatus::kError);
  ERR_clear_error();
  Close(server);
  SSL_free(client);
  close(fds[0]);
  close(fds[1]);

  // Still "coming" after the wait: an alert too.
  issuer.coming = true;
  (*srv)->SetOnDemand(&issuer, 1);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  server = (*srv)->NewSession(fds[0]);
  client = SSL_new(cctx);
  SSL_set_fd(client, fds[1]);
  SSL_set_tlsext_host_name(client, "slow.test");
  SSL_set_connect_state(client);
  int paused = 0;
  Pump([&] {
    SSL_do_handshake(client);
    s = Handshake(server);
    if (s == IoStatus::kPaused) {
      ++paused;
      usleep(5000);
    }
    return s == IoStatus::kError;
  });
  EXPECT_EQ(s, IoStatus::kError);
  EXPECT_GE(paused, 1);
  ERR_clear_error();
  Close(server);
  SSL_free(client);
  SSL_CTX_free(cctx);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace hearth::tls

namespace hearth::tls {
namespace {

TEST(Acme, AnAccountKeyIsKeptAndItsThumbprintIsStable) {
  AcmeChallenges challenges;
  auto a = AcmeClient::Create({}, &challenges, "");
  ASSERT_TRUE(a.ok()) << a.error().message;
  std::string pem = (*a)->account_key_pem();
  EXPECT_NE(pem.find("PRIVATE KEY"), std::string::npos);
  auto again = AcmeClient::Create({}, &challenges, pem);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Thumbprint(), (*a)->Thumbprint());
  EXPECT_EQ((*a)->Thumbprint().size(), 43u);  // SHA-256, base64url, no padding
  auto other = AcmeClient::Create({}, &challenges, "");
  EXPECT_NE((*other)->Thumbprint(), (*a)->Thumbprint());
  EXPECT_FALSE(AcmeClient::Create({}, &challenges, "not a key").ok());
}

TEST(Acme, ChallengesAnswerOnlyTheirTokens) {
  AcmeChallenges c;
  c.Put("tok1", "tok1.thumb");
  EXPECT_EQ(c.Get("tok1"), std::optional<std::string>("tok1.thumb"));
  EXPECT_FALSE(c.Get("tok2").has_value());
  EXPECT_FALSE(c.Get("").has_value());
  c.Remove("tok1");
  EXPECT_FALSE(c.Get("tok1").has_value());
}

TEST(Acme, AnUnreachableDirectoryIsAClearError) {
  AcmeChallenges challenges;
  AcmeOptions o;
  o.directory = "http://127.0.0.1:1/dir";
  auto c = AcmeClient::Create(o, &challenges, "");
  ASSERT_TRUE(c.ok());
  auto got = (*c)->Obtain({"a.test"});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().message.rfind("ACME: http://127.0.0.1:1/dir: ", 0), 0u)
      << got.error().message;
}

}  // namespace
}  // namespace hearth::tls

namespace hearth::control {
namespace {

// Without an ask URL, only a site's own host makes a handshake wait; any
// other name (one under a site's wildcard too) is refused at once.
TEST(AcmeManager, OnDemandWithoutAskWaitsForSiteHostsOnly) {
  ControlShared shared;
  AcmeManager m(&shared, tls::AcmeOptions{});
  m.SetSiteHosts({"shop.test", "*.apps.example.com"});
  EXPECT_TRUE(m.Wanted("shop.test"));
  EXPECT_TRUE(m.Wanted("shop.test"));  // still on its way
  EXPECT_FALSE(m.Wanted("a.apps.example.com"));
  EXPECT_FALSE(m.Wanted("other.test"));
  EXPECT_FALSE(m.Wanted("localhost"));
  // A routing change makes a new name a site's.
  m.SetSiteHosts({"shop.test", "other.test"});
  EXPECT_TRUE(m.Wanted("other.test"));
}

// With an ask URL, other names wait for its answer; nothing answers here (no
// thread started), so they are given up after twice the handshake's wait
// and then refused for a while.
TEST(AcmeManager, OnDemandNamesNobodyServesAreGivenUp) {
  ControlShared shared;
  AcmeManager m(&shared, tls::AcmeOptions{}, "http://127.0.0.1:9/ask", /*wait_ms=*/20);
  EXPECT_TRUE(m.Wanted("a.apps.example.com"));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_FALSE(m.Wanted("a.apps.example.com"));
  EXPECT_FALSE(m.Wanted("a.apps.example.com"));  // refused for a minute
}

// At most kMaxDemand names wait at once; refusals do not block new names.
TEST(AcmeManager, OnDemandWaitingNamesAreBounded) {
  ControlShared shared;
  AcmeManager m(&shared, tls::AcmeOptions{}, "http://127.0.0.1:9/ask", /*wait_ms=*/60000);
  for (size_t i = 0; i < AcmeManager::kMaxDemand; ++i)
    EXPECT_TRUE(m.Wanted("n" + std::to_string(i) + ".example.com")) << i;
  EXPECT_FALSE(m.Wanted("one-more.example.com"));
  EXPECT_TRUE(m.Wanted("n0.example.com"));  // those waiting still wait
}

TEST(AcmeManager, OrdersOnlyForNamesHttp01CanProve) {
  for (const char* yes : {"shop.example.com", "a.b.test", "x-y.example"})
    EXPECT_TRUE(AcmeManager::Eligible(yes)) << yes;
  for (const char* no : {"", "*.example.com", "localhost", "app.localhost", "intranet", "127.0.0.1",
                         "::1", "bad host.com"})
    EXPECT_FALSE(AcmeManager::Eligible(no)) << no;
}

}  // namespace
}  // namespace hearth::control
