// records.hpp - the DNS records a sending domain publishes for kurier, generated (no I/O): DKIM
// (RFC 6376 3.6.1, RFC 8463), SPF (RFC 7208), DMARC (RFC 7489), the return-path (bounce) domain,
// the tracking CNAME, and BIMI (draft-brand-indicators-for-message-identification) only when DMARC
// enforces. Also the DMARC tag parser and the DKIM rotation planner used by `kurier domain check`.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"

namespace kurier::domains {

struct DkimPublic {
  std::string selector, algorithm;  ///< "rsa" | "ed25519"
  std::string public_key;           ///< p= value
  std::string state = "active";     ///< pending | active | retiring | retired
};

struct DnsRecord {
  std::string purpose;               ///< "DKIM rsa", "SPF", "DMARC", "Return-Path MX", ...
  std::string name, type, value;     ///< type "" for advice that is not a record
  std::vector<std::string> strings;  ///< TXT value split into <= 255-octet character-strings
  std::string note;                  ///< why, and what to do
  bool publish = true;               ///< false: nothing to publish yet (see note)
  std::string withheld_by;           ///< the setting whose value cannot be right publicly (publish false)
};

struct RecordInputs {
  std::string domain;
  std::vector<DkimPublic> dkim;
  DomainsConfig config;
  std::string hostname;              ///< server.hostname (MX of the return-path domain)
  std::string dmarc_policy = "none";  ///< none | quarantine | reject
  std::string bimi_logo;             ///< https URL of an SVG Tiny PS logo; empty: none yet
  bool allow_local_hostname = false;  ///< names only a DNS of one's own answers (see PublicHostProblem)
};

/// Why `name` cannot be the host that published records point at (an MX or CNAME target, an SPF
/// a: term, a PTR name), or nullopt when it can. Always refused: an empty name, an IP address, a name
/// without a dot (localhost, a bare host name), *.localhost. Refused unless `allow_local`: names under
/// the top-level domains kept for testing and private networks (RFC 6761: test, example, invalid;
/// RFC 6762: local; RFC 8375: home.arpa; ICANN 2024: internal; and localdomain, lan) and the
/// documentation names example.com/.net/.org (RFC 2606), which only a DNS server of one's own
/// (dns.forward) can answer.
std::optional<std::string> PublicHostProblem(const std::string& name, bool allow_local);

/// A setting whose value the records would name but which cannot be right publicly.
struct SettingProblem {
  std::string key;      ///< "server.hostname" | "domains.tracking_target"
  std::string value;    ///< its value now
  std::string problem;  ///< from PublicHostProblem
  std::string example;  ///< a value to suggest, e.g. "mail.shop.example.com"
};
/// The settings behind `in`'s records that cannot be right publicly, server.hostname first.
std::vector<SettingProblem> SettingProblems(const RecordInputs& in);
/// "server.hostname = \"mail.shop.pl\"": the line to write in kurier.toml.
std::string SettingLine(const SettingProblem& p);

std::vector<std::string> SplitTxt(const std::string& value);
/// Character-strings as a zone file writes them: "a" "b" (quotes and backslashes escaped).
std::string QuotedStrings(const std::vector<std::string>& strings);
/// A TXT value split by SplitTxt and quoted: what to publish, in fix texts and printed records.
std::string QuotedTxt(const std::string& value);
std::string DkimValue(const std::string& algorithm, const std::string& public_key);
/// The SPF terms that authorise kurier: "include:X" or "ip4:A ip6:B", "a:HOSTNAME" when nothing is set.
std::string SpfTerms(const DomainsConfig& config, const std::string& hostname);
std::string DmarcValue(const std::string& domain, const DomainsConfig& config, const std::string& policy);
std::string ReturnPathDomain(const std::string& domain, const DomainsConfig& config);
std::string TrackingDomain(const std::string& domain, const DomainsConfig& config);

std::vector<DnsRecord> GenerateRecords(const RecordInputs& in);

/// RFC 7489 6.3: a DMARC record's tags, lower-cased names, or the first syntax problem.
struct Dmarc {
  std::map<std::string, std::string> tags;
  std::vector<std::string> problems;  ///< each with its fix
};
Dmarc ParseDmarc(const std::string& record);

/// RFC 6376 3.2 tag-lists: the value of `tag` with whitespace removed, "" when absent.
std::string TagValue(const std::string& record, const std::string& tag);

/// DKIM rotation (`kurier domain rotate-dkim`): given each key's state and whether its record was
/// just seen correctly in DNS, the state changes to make at `now` (microseconds): a pending key whose
/// record is live becomes active and the active key of the same algorithm starts retiring for
/// `grace_us`; a retiring key past its time becomes retired.
struct KeyState {
  int64_t id = 0;
  std::string algorithm, state;
  int64_t retire_at = 0;
  bool published_ok = false;
};
struct StateChange {
  int64_t id = 0;
  std::string state;
  int64_t retire_at = 0;
};
std::vector<StateChange> PlanRotation(const std::vector<KeyState>& keys, int64_t now, int64_t grace_us);

}  // namespace kurier::domains
