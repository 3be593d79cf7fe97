// check.cpp - `kurier domain check` record by record (see check.hpp for the RFCs).
#include "domains/check.hpp"

#include <algorithm>

#include "common/cidr.hpp"
#include "common/encoding.hpp"
#include "dkim/signer.hpp"

namespace kurier::domains {

CheckDns ResolverDns(dns::Resolver& r) {
  CheckDns d;
  d.lookups.txt = [&r](const std::string& n) { return r.ResolveTxtSync(n); };
  d.lookups.addresses = [&r](const std::string& n) { return r.ResolveAddressesSync(n); };
  d.lookups.mx = [&r](const std::string& n) { return r.ResolveMxSync(n); };
  d.ptr = [&r](const std::string& a) { return r.ResolvePtrSync(a); };
  d.cname = [&r](const std::string& n) { return r.ResolveCnameSync(n); };
  return d;
}

bool CheckReport::ok() const {
  return std::none_of(findings.begin(), findings.end(), [](const Finding& f) { return f.hurts; });
}

void CheckReport::Add(Finding f) {
  findings.push_back(std::move(f));
  if (on_finding) on_finding(findings.back());
}

namespace {

std::string LookupError(const std::string& error) {
  return "the DNS lookup failed (" + error + "); check dns.forward and try again";
}

std::string Lower(std::string s) { return ToLowerAscii(s); }

void CheckDkim(const RecordInputs& in, const CheckDns& dns, CheckReport& rep) {
  for (const auto& k : in.dkim) {
    Finding f{"DKIM " + k.algorithm, k.selector + "._domainkey." + in.domain};
    if (k.public_key.empty()) {
      f.status = "error", f.hurts = k.state == "active";
      f.fix = "the private key of selector " + k.selector + " is unreadable; restore it from backup or rotate with "
              "'kurier domain rotate-dkim " + in.domain + "'";
      rep.Add(f);
      continue;
    }
    f.expected = DkimValue(k.algorithm, k.public_key);
    auto a = dns.lookups.txt(f.name);
    const std::string* found = nullptr;
    for (const auto& r : a.records)
      if (!TagValue(r, "p").empty() || r.find("DKIM1") != std::string::npos) found = &r;
    bool live = false;
    if (a.rcode == dns::Rcode::kTempFail) {
      f.status = "error", f.fix = LookupError(a.error);
    } else if (!found) {
      f.status = "missing";
      f.fix = "publish " + f.name + " TXT " + QuotedTxt(f.expected);
    } else {
      f.published = *found;
      std::string got_k = TagValue(*found, "k");
      if (got_k.empty()) got_k = "rsa";  // RFC 6376 3.6.1: k= defaults to rsa
      if (TagValue(*found, "p") != k.public_key)
        f.status = "wrong", f.fix = "the published key is not the one kurier signs with: replace the record with " + QuotedTxt(f.expected);
      else if (Lower(got_k) != k.algorithm)
        f.status = "wrong", f.fix = "k=" + got_k + " should be k=" + k.algorithm + ": replace the record with " + QuotedTxt(f.expected);
      else
        f.status = "ok", live = true;
    }
    rep.dkim_live[k.selector] = live;
    if (k.state == "active") {
      f.hurts = !live;
    } else if (k.state == "pending") {
      if (live) f.fix = "the new key is live: kurier signs with it from now on";
      else f.fix = (f.fix.empty() ? "" : f.fix + "; ") + std::string("rotation waits for this record");
      if (!live && f.status != "error") f.status = "warning";
    } else if (k.state == "retiring") {
      if (!live) f.status = "warning", f.fix = "this replaced key must stay published until its grace period ends: " + f.fix;
      else f.fix = "replaced key: keep the record until its grace period ends";
    } else {  // retired
      if (!found) continue;
      f.status = "info", f.fix = "this key is retired: you may remove the record";
    }
    f.record += " (" + k.state + ")";
    rep.Add(f);
  }
  rep.verified = std::all_of(in.dkim.begin(), in.dkim.end(), [&](const DkimPublic& k) {
    return k.state != "active" || rep.dkim_live[k.selector];
  }) && std::any_of(in.dkim.begin(), in.dkim.end(), [](const DkimPublic& k) { return k.state == "active"; });
}

// Returns the SPF records at `name` (empty on failure, with `f` filled).
bool SpfRecords(const CheckDns& dns, const std::string& name, Finding& f, std::vector<std::string>& spf) {
  auto a = dns.lookups.txt(name);
  if (a.rcode == dns::Rcode::kTempFail) {
    f.status = "error", f.fix = LookupError(a.error), f.hurts = true;
    return false;
  }
  for (const auto& r : a.records) {
    std::string l = Lower(r);
    if (l == "v=spf1" || l.rfind("v=spf1 ", 0) == 0) spf.push_back(r);
  }
  return true;
}

void CheckSpfFor(const RecordInputs& in, const CheckDns& dns, const std::string& name, const std::string& purpose,
                 bool coverage_hurts, CheckReport& rep) {
  const std::string terms = SpfTerms(in.config, in.hostname);
  Finding f{purpose, name};
  f.expected = "v=spf1 " + terms + (purpose == "SPF" ? " ~all" : " -all");
  std::vector<std::string> spf;
  if (!SpfRecords(dns, name, f, spf)) {
    rep.Add(f);
    return;
  }
  if (spf.empty()) {
    f.status = "missing";
    f.fix = "publish " + name + " TXT " + QuotedTxt(f.expected);
    rep.Add(f);
    return;
  }
  f.published = spf[0];
  if (spf.size() > 1) {
    f.status = "wrong", f.hurts = true;
    f.fix = "there are " + std::to_string(spf.size()) + " SPF records, which is a permanent error (RFC 7208 3.2): merge them into one";
    rep.Add(f);
    return;
  }
  auto count = dns::CountLookups(name, dns.lookups);
  if (count.result == dns::SpfResult::kPermError) {
    f.status = "wrong", f.hurts = true;
    f.fix = count.explanation;
    rep.Add(f);
    return;
  }
  if (count.result == dns::SpfResult::kTempError) {
    f.status = "error", f.hurts = true, f.fix = count.explanation;
    rep.Add(f);
    return;
  }
  if (in.config.egress_addresses.empty()) {
    f.status = "warning";
    f.fix = "domains.egress_addresses is empty, so kurier cannot check that this record covers the addresses it sends "
            "from: set it in kurier.toml (" + std::to_string(count.lookups) + " of 10 DNS lookups used)";
    rep.Add(f);
    return;
  }
  std::vector<std::string> uncovered, soft;
  for (const auto& ip : in.config.egress_addresses) {
    auto e = dns::CheckHost(ip, name, "postmaster@" + name, in.hostname, dns.lookups);
    if (e.result == dns::SpfResult::kPass) continue;
    if (e.result == dns::SpfResult::kFail || e.result == dns::SpfResult::kPermError) uncovered.push_back(ip);
    else soft.push_back(ip + " (" + dns::SpfResultName(e.result) + ")");
  }
  if (uncovered.empty() && soft.empty()) {
    f.status = "ok";
    f.fix = "covers " + std::to_string(in.config.egress_addresses.size()) + " egress address(es); " +
            std::to_string(count.lookups) + " of 10 DNS lookups used";
    if (count.lookups >= 8) f.status = "warning", f.fix += ": close to the limit, flatten includes before adding more";
  } else {
    std::string list;
    for (const auto& s : uncovered) list += (list.empty() ? "" : ", ") + s;
    for (const auto& s : soft) list += (list.empty() ? "" : ", ") + s;
    f.status = uncovered.empty() ? "warning" : "wrong";
    f.hurts = !uncovered.empty() && coverage_hurts;
    f.fix = "SPF does not pass for " + list + ": add \"" + terms + "\" before the all term";
  }
  rep.Add(f);
}

std::string CheckDmarc(const RecordInputs& in, const CheckDns& dns, CheckReport& rep) {
  const std::string d = in.domain;
  Finding f{"DMARC", "_dmarc." + d};
  f.expected = DmarcValue(d, in.config, "none");
  auto a = dns.lookups.txt(f.name);
  std::vector<std::string> dmarc;
  for (const auto& r : a.records)
    if (r.rfind("v=DMARC1", 0) == 0) dmarc.push_back(r);
  std::string policy;
  if (a.rcode == dns::Rcode::kTempFail) {
    f.status = "error", f.fix = LookupError(a.error);
  } else if (dmarc.empty()) {
    f.status = "missing";
    f.fix = "publish " + f.name + " TXT " + QuotedTxt(f.expected) +
            " (start at p=none and read the reports; large mailbox providers require a DMARC record for bulk mail)";
  } else if (dmarc.size() > 1) {
    f.status = "wrong", f.published = dmarc[0];
    f.fix = "there are " + std::to_string(dmarc.size()) + " DMARC records; receivers then ignore all of them: keep one";
  } else {
    f.published = dmarc[0];
    Dmarc parsed = ParseDmarc(dmarc[0]);
    if (!parsed.problems.empty()) {
      f.status = "wrong";
      for (const auto& p : parsed.problems) f.fix += (f.fix.empty() ? "" : "; ") + p;
    } else {
      f.status = "ok";
      policy = Lower(parsed.tags["p"]);
      if (policy == "none") f.fix = "p=none monitors only; move to p=quarantine once the rua reports show your mail passing";
      // Alignment (RFC 7489 3.1): kurier signs with d= the From: domain, so DKIM aligns in both modes; the
      // return-path domain is a subdomain, so SPF aligns only in relaxed mode.
      Finding al{"DMARC alignment", f.name, "ok"};
      std::string aspf = Lower(parsed.tags.count("aspf") ? parsed.tags["aspf"] : "r");
      std::string rp = ReturnPathDomain(d, in.config);
      if (aspf == "s") {
        al.status = "warning";
        al.fix = "aspf=s: SPF of the return-path domain " + rp + " does not align with " + d +
                 "; DMARC passes on DKIM alone (d=" + d + "). Use aspf=r for both to count";
      } else {
        al.fix = "DKIM d=" + d + " aligns with From: " + d + "; SPF of " + rp + " aligns under aspf=r";
      }
      rep.Add(f);
      rep.Add(al);
      return policy;
    }
  }
  f.hurts = f.status != "ok";
  rep.Add(f);
  return policy;
}

// A record not compared because it would name a setting that cannot be right (reported first).
void Skip(CheckReport& rep, std::string record, std::string name, const SettingProblem& p) {
  Finding f{std::move(record), std::move(name), "skipped"};
  f.fix = "not checked: the record would name " + p.key + " \"" + p.value + "\"; set " + p.key + " first (see above)";
  rep.Add(f);
}

// The setting problems of `in` (server.hostname, domains.tracking_target), each a finding of its own.
struct Blockers {
  const SettingProblem *host = nullptr, *spf = nullptr, *target = nullptr;
};
Blockers ReportSettings(const RecordInputs& in, const std::vector<SettingProblem>& problems, CheckReport& rep) {
  Blockers b;
  for (const auto& p : problems) {
    Finding f{p.key, p.value, "wrong"};
    f.hurts = p.key == "server.hostname";  // kurier greets with it and bounces come back to it
    f.fix = "\"" + p.value + "\" " + p.problem + ". Set " + SettingLine(p) +
            " (the name receivers reach this server by) in kurier.toml, then run this check again";
    rep.Add(f);
    (p.key == "server.hostname" ? b.host : b.target) = &p;
  }
  if (in.config.tracking_target == in.hostname) b.target = b.host;
  if (in.config.spf_include.empty() && in.config.egress_addresses.empty()) b.spf = b.host;  // SPF says a:HOSTNAME
  return b;
}

void CheckReturnPath(const RecordInputs& in, const CheckDns& dns, const Blockers& b, CheckReport& rep) {
  const std::string rp = ReturnPathDomain(in.domain, in.config);
  if (b.host) {
    Skip(rep, "Return-Path MX", rp, *b.host);
    if (b.spf) return Skip(rep, "Return-Path SPF", rp, *b.spf);
    return CheckSpfFor(in, dns, rp, "Return-Path SPF", false, rep);
  }
  Finding f{"Return-Path MX", rp};
  f.expected = "10 " + in.hostname + ".";
  auto mx = dns.lookups.mx(rp);
  bool ours = false;
  for (const auto& r : mx.records) {
    f.published += (f.published.empty() ? "" : ", ") + std::to_string(r.preference) + " " + r.exchange;
    ours = ours || Lower(r.exchange) == Lower(in.hostname);
  }
  if (mx.rcode == dns::Rcode::kTempFail) f.status = "error", f.fix = LookupError(mx.error);
  else if (ours) f.status = "ok";
  else if (mx.records.empty())
    f.status = "missing", f.fix = "publish " + rp + " MX " + f.expected + " so that bounces come back to kurier";
  else
    f.status = "wrong", f.fix = "the MX points elsewhere, so bounces do not reach kurier: use " + rp + " MX " + f.expected;
  rep.Add(f);
  CheckSpfFor(in, dns, rp, "Return-Path SPF", false, rep);
}

void CheckTracking(const RecordInputs& in, const CheckDns& dns, CheckReport& rep) {
  Finding f{"Tracking", TrackingDomain(in.domain, in.config)};
  f.expected = in.config.tracking_target + ".";
  auto c = dns.cname(f.name);
  for (const auto& n : c.names) f.published += (f.published.empty() ? "" : ", ") + n;
  bool ok = std::any_of(c.names.begin(), c.names.end(), [&](const std::string& n) { return Lower(n) == Lower(in.config.tracking_target); });
  if (c.rcode == dns::Rcode::kTempFail) f.status = "error", f.fix = LookupError(c.error);
  else if (ok) f.status = "ok";
  else if (c.names.empty())
    f.status = "missing", f.fix = "publish " + f.name + " CNAME " + f.expected + " (tracked links then use your domain)";
  else
    f.status = "wrong", f.fix = "the CNAME points elsewhere: use " + f.name + " CNAME " + f.expected;
  rep.Add(f);
}

void CheckBimi(const RecordInputs& in, const CheckDns& dns, const std::string& policy, CheckReport& rep) {
  Finding f{"BIMI", "default._bimi." + in.domain, "info"};
  if (policy != "quarantine" && policy != "reject") {
    f.fix = "BIMI logos are shown only when DMARC is at p=quarantine or p=reject; not applicable yet";
    rep.Add(f);
    return;
  }
  auto a = dns.lookups.txt(f.name);
  for (const auto& r : a.records)
    if (r.rfind("v=BIMI1", 0) == 0) f.published = r;
  if (f.published.empty()) f.fix = "optional: publish " + f.name + " TXT \"v=BIMI1; l=https://.../logo.svg;\" to show your logo";
  else if (TagValue(f.published, "l").rfind("https://", 0) != 0)
    f.status = "wrong", f.fix = "l= must be an https:// URL of an SVG Tiny PS logo";
  else f.status = "ok";
  rep.Add(f);
}

void CheckPtr(const RecordInputs& in, const CheckDns& dns, const Blockers& b, CheckReport& rep) {
  for (const auto& ip : in.config.egress_addresses) {
    if (b.host) {
      Skip(rep, "PTR", ip, *b.host);
      continue;
    }
    Finding f{"PTR", ip};
    f.expected = in.hostname;
    auto p = dns.ptr(ip);
    for (const auto& n : p.names) f.published += (f.published.empty() ? "" : ", ") + n;
    if (p.rcode == dns::Rcode::kTempFail) {
      f.status = "error", f.fix = LookupError(p.error), f.hurts = true;
    } else if (p.names.empty()) {
      f.status = "missing", f.hurts = true;
      f.fix = "receivers distrust addresses without reverse DNS: ask whoever runs " + ip + "'s network to set its PTR to " +
              in.hostname + " (with an A/AAAA record of " + in.hostname + " back to " + ip + ")";
    } else {
      bool confirmed = false;
      for (const auto& n : p.names) {
        auto fwd = dns.lookups.addresses(n);
        for (const auto& a : fwd.addresses)
          if (auto net = Cidr::Parse(a); net && net->Contains(ip)) confirmed = true;
      }
      if (!confirmed) {
        f.status = "wrong", f.hurts = true;
        f.fix = "the PTR name " + p.names[0] + " does not resolve back to " + ip + ": add an A/AAAA record " + p.names[0] +
                " -> " + ip + " (forward-confirmed reverse DNS)";
      } else if (std::none_of(p.names.begin(), p.names.end(), [&](const std::string& n) { return Lower(n) == Lower(in.hostname); })) {
        f.status = "warning";
        f.fix = "forward-confirmed, but kurier greets as " + in.hostname + " (server.hostname): make them the same name";
      } else {
        f.status = "ok";
      }
    }
    rep.Add(f);
  }
}

}  // namespace

std::vector<DkimPublic> PublicKeys(const std::vector<store::DkimKey>& keys) {
  std::vector<DkimPublic> out;
  for (const auto& k : keys) {
    auto key = dkim::PrivateKey::FromPemFile(k.key_path);
    out.push_back(DkimPublic{k.selector, k.algorithm, key ? key->PublicKeyForDns() : "", k.state});
  }
  return out;
}

std::vector<StateChange> RefreshDomain(const Config& config, store::Store& store, const CheckDns& dns,
                                       const std::string& domain, CheckReport& report, int64_t now,
                                       bool allow_local_hostname) {
  auto keys = store.ListDkimKeys(domain);
  if (!keys) {
    report.Add(Finding{"DKIM", domain, "error", "", "", keys.error().message, true});
    return {};
  }
  RecordInputs in;
  in.domain = domain;
  in.config = config.domains;
  in.hostname = config.hostname;
  in.dkim = PublicKeys(keys.value());
  in.allow_local_hostname = allow_local_hostname;
  CheckDomainRecords(in, dns, report);
  std::vector<KeyState> states;
  for (const auto& k : keys.value())
    states.push_back(KeyState{k.id, k.algorithm, k.state, k.retire_at, report.dkim_live[k.selector]});
  auto changes = PlanRotation(states, now, config.domains.dkim_grace * 1'000'000);
  for (const auto& c : changes) {
    if (auto r = store.SetDkimKeyState(c.id, c.state, c.retire_at); !r)
      report.Add(Finding{"DKIM rotation", domain, "error", "", "", r.error().message, true});
    for (auto& s : states)
      if (s.id == c.id) s.state = c.state;
  }
  // The sending gate: every key that signs now is live in DNS.
  bool any_active = false, all_live = true;
  for (const auto& s : states)
    if (s.state == "active") any_active = true, all_live = all_live && s.published_ok;
  report.verified = any_active && all_live;
  if (auto r = store.SetDomainVerified(domain, report.verified); !r)
    report.Add(Finding{"verification", domain, "error", "", "", r.error().message, true});
  return changes;
}

void CheckDomainRecords(const RecordInputs& in, const CheckDns& dns, CheckReport& rep) {
  const auto problems = SettingProblems(in);
  const Blockers b = ReportSettings(in, problems, rep);
  CheckDkim(in, dns, rep);
  if (b.spf) Skip(rep, "SPF", in.domain, *b.spf);
  else CheckSpfFor(in, dns, in.domain, "SPF", true, rep);
  std::string policy = CheckDmarc(in, dns, rep);
  CheckReturnPath(in, dns, b, rep);
  if (b.target) Skip(rep, "Tracking", TrackingDomain(in.domain, in.config), *b.target);
  else CheckTracking(in, dns, rep);
  CheckBimi(in, dns, policy, rep);
  CheckPtr(in, dns, b, rep);
}

CheckReport CheckDomainRecords(const RecordInputs& in, const CheckDns& dns) {
  CheckReport rep;
  CheckDomainRecords(in, dns, rep);
  return rep;
}

}  // namespace kurier::domains
