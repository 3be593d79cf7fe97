// check.hpp - `kurier domain check`: looks up a sending domain's records (DNS injected, normally
// kurier's own resolver) and reports, record by record, what is right, missing or wrong, with the
// published value, the expected one and the fix. DKIM (RFC 6376 3.6), SPF coverage of the egress
// addresses and the 10-lookup limit (RFC 7208), DMARC syntax and alignment (RFC 7489 3.1, 6.3),
// forward-confirmed reverse DNS of the egress addresses (RFC 1912 2.1), return-path and tracking names.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "dns/spf.hpp"
#include "domains/records.hpp"
#include "store/store.hpp"

namespace kurier::domains {

struct CheckDns {
  dns::SpfLookups lookups;  ///< TXT, A/AAAA, MX
  std::function<dns::NameAnswer(const std::string&)> ptr, cname;
};
CheckDns ResolverDns(dns::Resolver& resolver);

struct Finding {
  std::string record, name;
  std::string status;  ///< ok | missing | wrong | error | warning | info | skipped (names a setting that is wrong)
  std::string published, expected, fix;
  bool hurts = false;  ///< would hurt delivery: the check exits non-zero
};

struct CheckReport {
  std::vector<Finding> findings;
  std::map<std::string, bool> dkim_live;  ///< selector -> its record is published and right
  bool verified = false;                  ///< every active DKIM key checks out (the sending gate)
  /// Called with each finding as it is made, before the next lookup (`kurier domain check` prints it).
  std::function<void(const Finding&)> on_finding;
  bool ok() const;
  void Add(Finding f);
};

/// `in.dkim` lists the domain's keys with their states; `in.dmarc_policy` is ignored (the published
/// policy is what counts). A setting the records would name that cannot be right publicly
/// (SettingProblems: server.hostname "localhost") is a finding of its own, and the records that name it
/// are "skipped", never compared with a value no one should publish.
void CheckDomainRecords(const RecordInputs& in, const CheckDns& dns, CheckReport& report);
CheckReport CheckDomainRecords(const RecordInputs& in, const CheckDns& dns);

/// The public records of stored keys (public_key empty when a private key file is unreadable).
std::vector<DkimPublic> PublicKeys(const std::vector<store::DkimKey>& keys);

/// Checks `domain` with its keys from `store`, then advances its DKIM rotation (PlanRotation) and
/// records whether it is verified. Returns the key state changes made. Used by `kurier domain check`
/// and by `serve`'s periodic rotation check.
/// `report.on_finding` is called as findings are made.
std::vector<StateChange> RefreshDomain(const Config& config, store::Store& store, const CheckDns& dns,
                                       const std::string& domain, CheckReport& report, int64_t now,
                                       bool allow_local_hostname = false);

}  // namespace kurier::domains
