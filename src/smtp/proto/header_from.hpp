// header_from.hpp - who a submitted message says it is from: an RFC 5322 address-list parser and the
// check of its From: and Sender: fields against the account's sender domains (the rule the envelope
// sender obeys). No I/O; used by the SMTP session core (submission) and POST /v1/messages/raw.
// STANDARDS: RFC 5322 3.2.2 (comments, folding white space), 3.2.3-3.2.5 (atoms, quoted strings,
// phrases), 3.4 (address-list, group, angle-addr), 3.4.1 (addr-spec, domain-literal), 3.6 (exactly one
// From, at most one Sender), 4.4 (obs-route, obs-phrase, empty list elements); RFC 6854 (group syntax in
// From); RFC 2047 (encoded words in display names); RFC 6532 (UTF-8 in header fields).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace kurier::smtp::proto {

/// One mailbox of an address list.
struct HeaderAddress {
  std::string display;  ///< the display name as written (quotes removed, encoded words kept); may be ""
  std::string local;    ///< local part as written (a quoted local part keeps its quotes)
  std::string domain;   ///< lower-cased (ASCII letters); a domain literal keeps its brackets
  std::string group;    ///< name of the group it belongs to, "" outside a group
};

struct AddressList {
  std::vector<HeaderAddress> addresses;  ///< every mailbox, those inside groups included
  std::size_t groups = 0;                ///< groups seen (an empty group adds no address)
  std::string error;                     ///< "" when the value parsed; else what is wrong and where
};

/// Parses the value of an address field (From, Sender, To, ...); folded values are accepted. Never
/// throws; bounded by the input's size (comments may nest, without recursion).
AddressList ParseAddressList(std::string_view value);

/// What an account may put in a sender field: its sender domains and, outside sandbox mode, only those
/// verified by `kurier domain check`.
struct SenderRules {
  std::string account;
  std::vector<std::string> sender_domains;
  bool sandbox = true;
  std::vector<std::string> verified_domains;
};

/// Why `domain` may not be used by the account ("" when it may). `what` names the field, e.g. "From:".
std::string SenderDomainProblem(const SenderRules& rules, std::string_view domain, std::string_view what,
                                std::string_view address);

/// The envelope sender's rule (SMTP MAIL FROM, the API's "from"): why `address`, at `domain`, may not be
/// used by the account ("" when it may): its domain must be one of the account's sender domains and,
/// outside sandbox mode, verified. The one rule for SMTP and HTTP (ServerSession, ingress::Ingress).
std::string EnvelopeSenderProblem(const SenderRules& rules, std::string_view address, std::string_view domain);

struct HeaderSenderCheck {
  enum class Verdict {
    kOk,
    kMalformed,   ///< no From, two From or Sender fields, or one that does not parse: 550 5.6.0 / 422
    kNotAllowed,  ///< an address at a domain the account may not use: 550 5.7.1 / 403
  } verdict = Verdict::kOk;
  std::string field;   ///< "From" or "Sender"
  std::string reason;  ///< what is wrong and what to do, naming the field (and the domain)
};

/// Checks the header of `message` (header, empty line, body; CRLF or LF): exactly one From field and at
/// most one Sender field (RFC 5322 3.6), each a parsable address list naming at least one mailbox, and
/// every address in them at a domain `rules` allows.
HeaderSenderCheck CheckHeaderSenders(std::string_view message, const SenderRules& rules);

}  // namespace kurier::smtp::proto
