// records.cpp - generated DNS records for sending domains (see records.hpp for the RFCs).
#include "domains/records.hpp"

#include <algorithm>
#include <cctype>

#include "common/encoding.hpp"

namespace kurier::domains {

std::vector<std::string> SplitTxt(const std::string& value) {
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); i += 255) out.push_back(value.substr(i, 255));
  if (out.empty()) out.emplace_back();
  return out;
}

std::string QuotedStrings(const std::vector<std::string>& strings) {
  std::string out;
  for (const auto& s : strings) {
    out += out.empty() ? "\"" : " \"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out;
}

std::string QuotedTxt(const std::string& value) { return QuotedStrings(SplitTxt(value)); }

std::optional<std::string> PublicHostProblem(const std::string& name_in, bool allow_local) {
  std::string name = ToLowerAscii(name_in);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) return "is empty";
  if (name.front() == '[' || name.find(':') != std::string::npos ||
      name.find_first_not_of("0123456789.") == std::string::npos)
    return "is an IP address: MX, CNAME and SPF a: records name a host, never an address";
  auto under = [&](const std::string& suffix) {
    return name == suffix || (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                              name[name.size() - suffix.size() - 1] == '.');
  };
  if (under("localhost")) return "names whichever machine looks it up (RFC 6761 6.3), never this server";
  if (name.find('.') == std::string::npos) return "has no dot: public DNS cannot answer a bare host name";
  if (allow_local) return std::nullopt;
  static const std::pair<const char*, const char*> kKept[] = {
      {"test", "testing (RFC 6761)"},           {"example", "documentation (RFC 6761)"},
      {"invalid", "names that never resolve (RFC 6761)"}, {"local", "multicast DNS on one network (RFC 6762)"},
      {"home.arpa", "home networks (RFC 8375)"}, {"internal", "private networks (ICANN, 2024)"},
      {"localdomain", "the local machine in /etc/hosts"}, {"lan", "private networks"},
      {"example.com", "documentation (RFC 2606)"}, {"example.net", "documentation (RFC 2606)"},
      {"example.org", "documentation (RFC 2606)"}};
  for (const auto& [suffix, why] : kKept)
    if (under(suffix))
      return "is under ." + std::string(suffix) + ", kept for " + why +
             ": no receiver on the Internet can look it up (a DNS server of your own can: then give --allow-local-hostname)";
  return std::nullopt;
}

std::vector<SettingProblem> SettingProblems(const RecordInputs& in) {
  std::vector<SettingProblem> out;
  const std::string example = "mail." + in.domain;
  if (auto p = PublicHostProblem(in.hostname, in.allow_local_hostname))
    out.push_back({"server.hostname", in.hostname, *p, example});
  if (in.config.tracking_target != in.hostname)
    if (auto p = PublicHostProblem(in.config.tracking_target, in.allow_local_hostname))
      out.push_back({"domains.tracking_target", in.config.tracking_target, *p, example});
  return out;
}

std::string SettingLine(const SettingProblem& p) { return p.key + " = \"" + p.example + "\""; }

std::string DkimValue(const std::string& algorithm, const std::string& public_key) {
  return "v=DKIM1; k=" + algorithm + "; p=" + public_key;
}

std::string SpfTerms(const DomainsConfig& config, const std::string& hostname) {
  if (!config.spf_include.empty()) return "include:" + config.spf_include;
  std::string out;
  for (const auto& a : config.egress_addresses)
    out += (out.empty() ? "" : " ") + std::string(a.find(':') == std::string::npos ? "ip4:" : "ip6:") + a;
  return out.empty() ? "a:" + hostname : out;
}

std::string DmarcValue(const std::string& domain, const DomainsConfig& config, const std::string& policy) {
  std::string rua = config.dmarc_rua.empty() ? "mailto:dmarc-reports@" + domain : config.dmarc_rua;
  return "v=DMARC1; p=" + policy + "; rua=" + rua + "; adkim=r; aspf=r";
}

std::string ReturnPathDomain(const std::string& domain, const DomainsConfig& config) {
  return config.return_path_prefix + "." + domain;
}

std::string TrackingDomain(const std::string& domain, const DomainsConfig& config) {
  return config.tracking_prefix + "." + domain;
}

namespace {
DnsRecord Txt(std::string purpose, std::string name, std::string value, std::string note) {
  DnsRecord r{std::move(purpose), std::move(name), "TXT", std::move(value), {}, std::move(note), true};
  r.strings = SplitTxt(r.value);
  return r;
}

// A record left out because it would name `p`'s value: what is wrong and the line that fixes it.
DnsRecord Withheld(std::string purpose, std::string name, std::string type, const SettingProblem& p, const std::string& also) {
  std::string note = "not printed while " + p.key + " is \"" + p.value + "\", a name no receiver can reach: set " +
                     SettingLine(p) + " (the name receivers reach this server by) in kurier.toml" + also;
  return DnsRecord{std::move(purpose), std::move(name), std::move(type), "", {}, std::move(note), false, p.key};
}

const SettingProblem* ProblemOf(const std::vector<SettingProblem>& problems, const std::string& key) {
  for (const auto& p : problems)
    if (p.key == key) return &p;
  return nullptr;
}
}  // namespace

std::vector<DnsRecord> GenerateRecords(const RecordInputs& in) {
  const std::string& d = in.domain;
  std::vector<DnsRecord> out;
  for (const auto& k : in.dkim) {
    if (k.state == "retired") continue;
    std::string note = k.state == "pending"    ? "new key of a rotation: publish it; kurier switches to it once it is seen in DNS"
                       : k.state == "retiring" ? "replaced key: keep it published until its grace period ends"
                                               : "kurier signs every message from " + d + " with this key";
    out.push_back(Txt("DKIM " + k.algorithm, k.selector + "._domainkey." + d, DkimValue(k.algorithm, k.public_key), note));
  }
  const auto problems = SettingProblems(in);
  const SettingProblem* host = ProblemOf(problems, "server.hostname");
  const SettingProblem* target = in.config.tracking_target == in.hostname ? host : ProblemOf(problems, "domains.tracking_target");
  // SPF names the host only when neither domains.spf_include nor domains.egress_addresses is set.
  const SettingProblem* spf_host = in.config.spf_include.empty() && in.config.egress_addresses.empty() ? host : nullptr;
  const std::string spf_also = " (or list the addresses this server sends from in domains.egress_addresses)";
  const std::string terms = SpfTerms(in.config, in.hostname);
  std::string spf_note = "one SPF record per name (RFC 7208 3.2): if " + d + " already has one, add \"" + terms +
                         "\" to it before its all term";
  if (in.config.spf_include.empty() && in.config.egress_addresses.empty())
    spf_note += "; set domains.egress_addresses to the addresses this node sends from for an exact record";
  out.push_back(spf_host ? Withheld("SPF", d, "TXT", *spf_host, spf_also) : Txt("SPF", d, "v=spf1 " + terms + " ~all", spf_note));
  out.push_back(Txt("DMARC", "_dmarc." + d, DmarcValue(d, in.config, in.dmarc_policy),
                    in.dmarc_policy == "none"
                        ? "p=none only monitors: receivers deliver as before and send daily aggregate reports to rua. "
                          "When the reports show all your mail passing DKIM, move to p=quarantine, then p=reject"
                        : "p=" + in.dmarc_policy + " asks receivers to " +
                              (in.dmarc_policy == "reject" ? "refuse" : "put in spam") + " mail that fails DKIM and SPF"));
  const std::string rp = ReturnPathDomain(d, in.config);
  if (host)
    out.push_back(Withheld("Return-Path MX", rp, "MX", *host, ""));
  else
    out.push_back(DnsRecord{"Return-Path MX", rp, "MX", "10 " + in.hostname + ".", {},
                            "bounces come back to kurier at bounces+TOKEN@" + rp + " and are matched to the message", true});
  out.push_back(spf_host ? Withheld("Return-Path SPF", rp, "TXT", *spf_host, spf_also)
                         : Txt("Return-Path SPF", rp, "v=spf1 " + terms + " -all",
                               "receivers check SPF against the return-path domain; it aligns with " + d + " under relaxed DMARC"));
  if (target)
    out.push_back(Withheld("Tracking", TrackingDomain(d, in.config), "CNAME", *target, ""));
  else
    out.push_back(DnsRecord{"Tracking", TrackingDomain(d, in.config), "CNAME", in.config.tracking_target + ".", {},
                            "open and click tracking links use this name, so they carry your domain", true});
  DnsRecord bimi{"BIMI", "default._bimi." + d, "TXT", "", {}, "", false};
  if (in.dmarc_policy != "quarantine" && in.dmarc_policy != "reject") {
    bimi.type = "";
    bimi.note = "not yet: BIMI logos are shown only for domains whose DMARC policy is p=quarantine or p=reject; "
                "publish BIMI after moving DMARC there";
  } else if (in.bimi_logo.empty()) {
    bimi.type = "";
    bimi.note = "DMARC enforces, so BIMI is possible: give --bimi-logo https://.../logo.svg (SVG Tiny PS)";
  } else {
    bimi = Txt("BIMI", bimi.name, "v=BIMI1; l=" + in.bimi_logo + ";",
               "mailbox providers that support BIMI show this logo; some also require a VMC certificate (a=)");
  }
  out.push_back(bimi);
  return out;
}

std::string TagValue(const std::string& record, const std::string& tag) {
  size_t pos = 0;
  while (pos <= record.size()) {
    size_t semi = record.find(';', pos);
    std::string part = record.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos);
    auto eq = part.find('=');
    if (eq != std::string::npos) {
      std::string k = part.substr(0, eq), v = part.substr(eq + 1);
      k.erase(std::remove_if(k.begin(), k.end(), ::isspace), k.end());
      if (ToLowerAscii(k) == tag) {
        v.erase(std::remove_if(v.begin(), v.end(), ::isspace), v.end());
        return v;
      }
    }
    if (semi == std::string::npos) break;
    pos = semi + 1;
  }
  return "";
}

Dmarc ParseDmarc(const std::string& record) {
  Dmarc d;
  size_t pos = 0;
  bool first = true;
  while (pos < record.size()) {
    size_t semi = record.find(';', pos);
    std::string part = record.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos);
    pos = semi == std::string::npos ? record.size() : semi + 1;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t") + 1);
      return s;
    };
    part = trim(part);
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string::npos) {
      d.problems.push_back("'" + part + "' is not a tag=value pair: remove it");
      continue;
    }
    std::string k = ToLowerAscii(trim(part.substr(0, eq))), v = trim(part.substr(eq + 1));
    if (first && (k != "v" || v != "DMARC1")) d.problems.push_back("the record must start with v=DMARC1");
    first = false;
    d.tags[k] = v;
  }
  auto one_of = [&](const char* tag, std::initializer_list<const char*> allowed, bool required) {
    auto it = d.tags.find(tag);
    if (it == d.tags.end()) {
      if (required) d.problems.push_back(std::string(tag) + "= is missing: add p=none (monitor) to start");
      return;
    }
    std::string v = ToLowerAscii(it->second);
    for (const char* a : allowed)
      if (v == a) return;
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    d.problems.push_back(std::string(tag) + "=" + it->second + " is not valid: use one of " + list);
  };
  one_of("p", {"none", "quarantine", "reject"}, true);
  one_of("sp", {"none", "quarantine", "reject"}, false);
  one_of("adkim", {"r", "s"}, false);
  one_of("aspf", {"r", "s"}, false);
  if (auto it = d.tags.find("pct"); it != d.tags.end()) {
    const std::string& v = it->second;
    if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos || std::stoi(v) > 100)
      d.problems.push_back("pct=" + v + " is not a percentage from 0 to 100");
  }
  for (const char* uri_tag : {"rua", "ruf"}) {
    auto it = d.tags.find(uri_tag);
    if (it == d.tags.end()) continue;
    size_t p = 0;
    const std::string& v = it->second;
    while (p <= v.size()) {
      size_t comma = v.find(',', p);
      std::string uri = v.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
      uri.erase(0, uri.find_first_not_of(' '));
      bool ok = (IStartsWith(uri, "mailto:") && uri.find('@') != std::string::npos) || IStartsWith(uri, "https:");
      if (!ok)
        d.problems.push_back(std::string(uri_tag) + "=" + uri + " is not a report address: write mailto:reports@example.com");
      if (comma == std::string::npos) break;
      p = comma + 1;
    }
  }
  return d;
}

std::vector<StateChange> PlanRotation(const std::vector<KeyState>& keys, int64_t now, int64_t grace_us) {
  std::vector<StateChange> out;
  for (const auto& k : keys) {
    if (k.state == "pending" && k.published_ok) {
      out.push_back({k.id, "active", 0});
      for (const auto& old : keys)
        if (old.id != k.id && old.algorithm == k.algorithm && old.state == "active")
          out.push_back({old.id, "retiring", now + grace_us});
    } else if (k.state == "retiring" && k.retire_at <= now) {
      out.push_back({k.id, "retired", k.retire_at});
    }
  }
  return out;
}

}  // namespace kurier::domains
