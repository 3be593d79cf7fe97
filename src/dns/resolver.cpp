// resolver.cpp - libunbound glue: asynchronous queries answered on one polling thread.
// SECURITY: answers come from the network (or a forwarder); records are decoded with bounds by
// mx_route.cpp. DNSSEC-bogus answers are treated as temporary failures, never as data.
// STANDARDS: RFC 1035 (DNS, PTR, CNAME), RFC 5321 5.1 (MX), RFC 7505 (null MX), RFC 3596 (AAAA, ip6.arpa).
#include "dns/resolver.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <unbound.h>

#include <atomic>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

namespace kurier::dns {

namespace {
constexpr int kTypeA = 1, kTypeCname = 5, kTypePtr = 12, kTypeMx = 15, kTypeTxt = 16, kTypeAaaa = 28, kClassIn = 1;
constexpr int kRcodeServfail = 2, kRcodeNxdomain = 3;

std::string Describe(const ub_result* r, int err) {
  if (err != 0) return std::string("resolver error: ") + ub_strerror(err);
  if (r->bogus) return std::string("DNSSEC validation failed: ") + (r->why_bogus ? r->why_bogus : "bogus");
  switch (r->rcode) {
    case kRcodeServfail: return "SERVFAIL";
    case 5: return "REFUSED";
    default: return "rcode " + std::to_string(r->rcode);
  }
}

Rcode Classify(const ub_result* r, int err) {
  if (err != 0 || !r || r->bogus) return Rcode::kTempFail;
  if (r->rcode == kRcodeNxdomain || r->nxdomain) return Rcode::kNxDomain;
  if (r->rcode != 0) return Rcode::kTempFail;
  return r->havedata ? Rcode::kOk : Rcode::kNoData;
}
}  // namespace

struct Resolver::Impl {
  ub_ctx* ctx = nullptr;
  std::thread poller;
  std::atomic<bool> stop{false};
  std::mutex mu;  // serialises ub_resolve_async against ub_process

  struct Query {
    std::function<void(ub_result*, int)> done;
  };

  static void Callback(void* mydata, int err, ub_result* result) {
    std::unique_ptr<Query> q(static_cast<Query*>(mydata));
    q->done(result, err);
    if (result) ub_resolve_free(result);
  }

  void Start(const std::string& name, int type, std::function<void(ub_result*, int)> done) {
    auto* q = new Query{std::move(done)};
    int rc;
    {
      std::lock_guard lock(mu);
      rc = ub_resolve_async(ctx, name.c_str(), type, kClassIn, q, &Impl::Callback, nullptr);
    }
    if (rc != 0) Callback(q, rc, nullptr);
  }

  void Poll() {
    pollfd p{ub_fd(ctx), POLLIN, 0};
    while (!stop) {
      int n = ::poll(&p, 1, 100);
      if (n > 0) {
        std::lock_guard lock(mu);
        ub_process(ctx);
      }
    }
  }
};

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->poller = std::thread([this] { impl_->Poll(); });
}

Resolver::~Resolver() {
  impl_->stop = true;
  if (impl_->poller.joinable()) impl_->poller.join();
  ub_ctx_delete(impl_->ctx);
}

Result<std::unique_ptr<Resolver>> Resolver::Create(const ResolverConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->ctx = ub_ctx_create();
  if (!impl->ctx) return MakeError(ErrorCode::kInternal, "libunbound could not create a resolver context");
  auto fail = [&](const std::string& what, int rc) -> Error {
    ub_ctx_delete(impl->ctx);
    impl->ctx = nullptr;
    return MakeError(ErrorCode::kConfig, what + ": " + ub_strerror(rc));
  };
  int rc = ub_ctx_async(impl->ctx, 1);
  if (rc != 0) return fail("libunbound async mode", rc);
  // Tests and many deployments forward to a resolver on the loopback interface.
  ub_ctx_set_option(impl->ctx, "do-not-query-localhost:", "no");
  // unbound answers the RFC 6761 name "test." itself (NXDOMAIN) unless told not to; mail systems on
  // private or test networks use it, so let such queries go to the configured servers.
  ub_ctx_set_option(impl->ctx, "local-zone:", "test. transparent");
  if (!config.forward.empty()) {
    // unbound answers reverse queries for private and documentation networks itself (RFC 6303);
    // with an upstream configured, that upstream is the authority for them (local networks, tests).
    ub_ctx_set_option(impl->ctx, "unblock-lan-zones:", "yes");
    ub_ctx_set_option(impl->ctx, "insecure-lan-zones:", "yes");
    for (const char* z : {"2.0.192.in-addr.arpa. nodefault", "100.51.198.in-addr.arpa. nodefault",
                          "113.0.203.in-addr.arpa. nodefault", "8.b.d.0.1.0.0.2.ip6.arpa. nodefault"})
      ub_ctx_set_option(impl->ctx, "local-zone:", z);
  }
  if (config.forward.empty()) {
    rc = ub_ctx_resolvconf(impl->ctx, nullptr);
    if (rc != 0) return fail("cannot read /etc/resolv.conf (set dns.forward)", rc);
  } else {
    std::stringstream ss(config.forward);
    for (std::string fwd; std::getline(ss, fwd, ',');) {
      rc = ub_ctx_set_fwd(impl->ctx, fwd.c_str());
      if (rc != 0) return fail("dns.forward: \"" + fwd + "\" is not an address (write \"127.0.0.1@5353\")", rc);
    }
  }
  return std::unique_ptr<Resolver>(new Resolver(std::move(impl)));
}

void Resolver::ResolveMx(const std::string& domain, std::function<void(MxAnswer)> done) {
  impl_->Start(domain, kTypeMx, [done = std::move(done)](ub_result* r, int err) {
    MxAnswer a;
    a.rcode = Classify(r, err);
    if (a.rcode == Rcode::kTempFail) a.error = Describe(r, err);
    if (a.rcode == Rcode::kOk) {
      for (int i = 0; r->data[i]; ++i) {
        auto mx = DecodeMxRdata(reinterpret_cast<const unsigned char*>(r->data[i]), static_cast<std::size_t>(r->len[i]));
        if (mx) a.records.push_back(std::move(*mx));
      }
      if (a.records.empty()) {
        a.rcode = Rcode::kTempFail;
        a.error = "malformed MX records";
      }
    }
    done(std::move(a));
  });
}

void Resolver::ResolveAddresses(const std::string& host, std::function<void(AddressAnswer)> done) {
  // Two queries; the second to finish combines them.
  struct Pair {
    std::mutex mu;
    int remaining = 2;
    AddressAnswer v6, v4;
    std::function<void(AddressAnswer)> done;
  };
  auto pair = std::make_shared<Pair>();
  pair->done = std::move(done);
  auto handle = [pair](bool v6, ub_result* r, int err) {
    AddressAnswer a;
    a.rcode = Classify(r, err);
    if (a.rcode == Rcode::kTempFail) a.error = Describe(r, err);
    if (a.rcode == Rcode::kOk) {
      for (int i = 0; r->data[i]; ++i) {
        char buf[INET6_ADDRSTRLEN];
        if ((v6 && r->len[i] == 16) || (!v6 && r->len[i] == 4))
          if (inet_ntop(v6 ? AF_INET6 : AF_INET, r->data[i], buf, sizeof buf)) a.addresses.push_back(buf);
      }
    }
    std::unique_lock lock(pair->mu);
    (v6 ? pair->v6 : pair->v4) = std::move(a);
    if (--pair->remaining > 0) return;
    lock.unlock();
    AddressAnswer out;
    const AddressAnswer &x = pair->v6, &y = pair->v4;
    out.addresses = x.addresses;
    out.addresses.insert(out.addresses.end(), y.addresses.begin(), y.addresses.end());
    if (!out.addresses.empty())
      out.rcode = Rcode::kOk;
    else if (x.rcode == Rcode::kTempFail || y.rcode == Rcode::kTempFail) {
      out.rcode = Rcode::kTempFail;
      out.error = x.rcode == Rcode::kTempFail ? x.error : y.error;
    } else if (x.rcode == Rcode::kNxDomain && y.rcode == Rcode::kNxDomain)
      out.rcode = Rcode::kNxDomain;
    else
      out.rcode = Rcode::kNoData;
    pair->done(std::move(out));
  };
  impl_->Start(host, kTypeAaaa, [handle](ub_result* r, int err) { handle(true, r, err); });
  impl_->Start(host, kTypeA, [handle](ub_result* r, int err) { handle(false, r, err); });
}

std::optional<std::string> DecodeTxtRdata(const unsigned char* data, std::size_t len) {
  std::string out;
  std::size_t i = 0;
  while (i < len) {
    std::size_t n = data[i++];
    if (i + n > len) return std::nullopt;
    out.append(reinterpret_cast<const char*>(data + i), n);
    i += n;
  }
  return out;
}

void Resolver::ResolveTxt(const std::string& name, std::function<void(TxtAnswer)> done) {
  impl_->Start(name, kTypeTxt, [done = std::move(done)](ub_result* r, int err) {
    TxtAnswer a;
    a.rcode = Classify(r, err);
    if (a.rcode == Rcode::kTempFail) a.error = Describe(r, err);
    if (a.rcode == Rcode::kOk)
      for (int i = 0; r->data[i]; ++i)
        if (auto txt = DecodeTxtRdata(reinterpret_cast<const unsigned char*>(r->data[i]), static_cast<std::size_t>(r->len[i])))
          a.records.push_back(std::move(*txt));
    done(std::move(a));
  });
}

TxtAnswer Resolver::ResolveTxtSync(const std::string& name) {
  std::promise<TxtAnswer> p;
  auto f = p.get_future();
  ResolveTxt(name, [&p](TxtAnswer a) { p.set_value(std::move(a)); });
  return f.get();
}

MxAnswer Resolver::ResolveMxSync(const std::string& domain) {
  std::promise<MxAnswer> p;
  auto f = p.get_future();
  ResolveMx(domain, [&p](MxAnswer a) { p.set_value(std::move(a)); });
  return f.get();
}

std::optional<std::string> ReverseName(const std::string& address) {
  unsigned char buf[16];
  static const char* kHex = "0123456789abcdef";
  std::string out;
  if (inet_pton(AF_INET, address.c_str(), buf) == 1) {
    for (int i = 3; i >= 0; --i) out += std::to_string(buf[i]) + ".";
    return out + "in-addr.arpa";
  }
  if (inet_pton(AF_INET6, address.c_str(), buf) == 1) {
    for (int i = 15; i >= 0; --i) {
      out += kHex[buf[i] & 0xf];
      out += '.';
      out += kHex[buf[i] >> 4];
      out += '.';
    }
    return out + "ip6.arpa";
  }
  return std::nullopt;
}

void Resolver::ResolveNames(const std::string& name, int type, std::function<void(NameAnswer)> done) {
  impl_->Start(name, type, [done = std::move(done)](ub_result* r, int err) {
    NameAnswer a;
    a.rcode = Classify(r, err);
    if (a.rcode == Rcode::kTempFail) a.error = Describe(r, err);
    if (a.rcode == Rcode::kOk)
      for (int i = 0; r->data[i]; ++i)
        if (auto n = DecodeWireName(reinterpret_cast<const unsigned char*>(r->data[i]), static_cast<std::size_t>(r->len[i])))
          a.names.push_back(std::move(*n));
    done(std::move(a));
  });
}

namespace {
template <class Answer, class Start>
Answer Wait(Start start) {
  std::promise<Answer> p;
  auto f = p.get_future();
  start([&p](Answer a) { p.set_value(std::move(a)); });
  return f.get();
}
}  // namespace

void Resolver::ResolvePtr(const std::string& address, std::function<void(NameAnswer)> done) {
  auto name = ReverseName(address);
  if (!name) {
    NameAnswer a;
    a.error = "'" + address + "' is not an IP address";
    done(std::move(a));
    return;
  }
  ResolveNames(*name, kTypePtr, std::move(done));
}

void Resolver::ResolveCname(const std::string& name, std::function<void(NameAnswer)> done) {
  ResolveNames(name, kTypeCname, std::move(done));
}

NameAnswer Resolver::ResolvePtrSync(const std::string& address) {
  return Wait<NameAnswer>([&](auto cb) { ResolvePtr(address, std::move(cb)); });
}

NameAnswer Resolver::ResolveCnameSync(const std::string& name) {
  return Wait<NameAnswer>([&](auto cb) { ResolveCname(name, std::move(cb)); });
}

AddressAnswer Resolver::ResolveAddressesSync(const std::string& host) {
  std::promise<AddressAnswer> p;
  auto f = p.get_future();
  ResolveAddresses(host, [&p](AddressAnswer a) { p.set_value(std::move(a)); });
  return f.get();
}

}  // namespace kurier::dns
