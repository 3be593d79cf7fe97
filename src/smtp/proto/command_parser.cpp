// command_parser.cpp - parsing of SMTP command lines, reverse-/forward-paths and ESMTP parameters.
//
// SECURITY: reads bytes straight from the network. Everything here is bounded by the caller's line
// limit, allocates at most the size of its input, and is fuzzed (fuzz/command_parser_fuzz.cpp).
// STANDARDS: RFC 5321 4.1.1-4.1.3 (commands, paths, address literals), RFC 6531 3.3 (UTF-8 mailboxes),
// RFC 1870 / 6152 / 6531 parameters are interpreted by the session, not here.
#include "smtp/proto/command_parser.hpp"

#include <arpa/inet.h>

#include "common/encoding.hpp"

namespace kurier::smtp::proto {

namespace {

struct VerbName {
  std::string_view name;
  Verb verb;
};
constexpr VerbName kVerbs[] = {
    {"HELO", Verb::kHelo}, {"EHLO", Verb::kEhlo}, {"MAIL", Verb::kMail},     {"RCPT", Verb::kRcpt},
    {"DATA", Verb::kData}, {"BDAT", Verb::kBdat}, {"RSET", Verb::kRset},     {"NOOP", Verb::kNoop},
    {"QUIT", Verb::kQuit}, {"VRFY", Verb::kVrfy}, {"EXPN", Verb::kExpn},     {"HELP", Verb::kHelp},
    {"AUTH", Verb::kAuth}, {"STARTTLS", Verb::kStartTls},
};

bool IsAtext(unsigned char c) {
  if (c >= 0x80) return true;  // UTF-8 (RFC 6531); validity of the sequence is not our concern here
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsLetDig(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

bool ValidDotString(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (unsigned char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!IsAtext(c)) {
      return false;
    }
    prev = static_cast<char>(c);
  }
  return true;
}

bool ValidQuotedString(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      if (i + 2 >= s.size()) return false;
      unsigned char n = static_cast<unsigned char>(s[++i]);
      if (n < 32 || n > 126) return false;
    } else if (c == '"' || (c < 32 && c != ' ') || c == 127) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool Mailbox::IsAscii() const { return kurier::IsAscii(local_part) && kurier::IsAscii(domain); }

Command ParseCommand(std::string_view line) {
  Command cmd;
  auto sp = line.find(' ');
  cmd.verb_text = line.substr(0, sp);
  cmd.args = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  for (const auto& v : kVerbs) {
    if (IEquals(cmd.verb_text, v.name)) {
      cmd.verb = v.verb;
      break;
    }
  }
  return cmd;
}

bool IsValidDomain(std::string_view d) {
  if (d.empty() || d.size() > 255) return false;
  if (d.front() == '[') {
    if (d.back() != ']' || d.size() < 3) return false;
    std::string inner(d.substr(1, d.size() - 2));
    unsigned char buf[16];
    if (IStartsWith(inner, "IPv6:")) return inet_pton(AF_INET6, inner.c_str() + 5, buf) == 1;
    return inet_pton(AF_INET, inner.c_str(), buf) == 1;
  }
  size_t start = 0;
  while (start <= d.size()) {
    size_t dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (!IsLetDig(static_cast<unsigned char>(label.front())) || !IsLetDig(static_cast<unsigned char>(label.back())))
      return false;
    for (unsigned char c : label)
      if (!IsLetDig(c) && c != '-') return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

std::optional<Mailbox> ParseMailbox(std::string_view text, std::string& error) {
  // The local part may be a quoted string containing '@', so split at the last '@'.
  auto at = text.rfind('@');
  if (at == std::string_view::npos) {
    error = "missing '@domain'";
    return std::nullopt;
  }
  std::string_view local = text.substr(0, at), domain = text.substr(at + 1);
  if (local.empty() || local.size() > 64) {
    error = local.empty() ? "empty local part" : "local part longer than 64 octets";
    return std::nullopt;
  }
  if (!ValidDotString(local) && !ValidQuotedString(local)) {
    error = "invalid local part";
    return std::nullopt;
  }
  if (!IsValidDomain(domain)) {
    error = "invalid domain";
    return std::nullopt;
  }
  return Mailbox{std::string(local), std::string(domain)};
}

std::optional<PathArgument> ParsePathArgument(std::string_view args, std::string_view keyword, bool allow_null,
                                              std::string& error) {
  if (!IStartsWith(args, keyword)) {
    error = std::string("expected ") + std::string(keyword) + "<address>";
    return std::nullopt;
  }
  args.remove_prefix(keyword.size());
  if (!args.empty() && args.front() == ' ') args.remove_prefix(1);  // tolerated, common in the wild
  if (args.empty() || args.front() != '<') {
    error = "the address must be enclosed in <>";
    return std::nullopt;
  }
  // Find the closing '>' outside a quoted local part.
  size_t close = std::string_view::npos;
  bool quoted = false;
  for (size_t i = 1; i < args.size(); ++i) {
    char c = args[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '>' && !quoted) {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos) {
    error = "missing '>'";
    return std::nullopt;
  }
  std::string_view path = args.substr(1, close - 1);
  if (path.size() > 256) {
    error = "path longer than 256 octets";
    return std::nullopt;
  }
  PathArgument out;
  if (path.empty()) {
    if (!allow_null) {
      error = "empty address";
      return std::nullopt;
    }
  } else {
    // Source routes ("@a,@b:user@domain") are accepted and ignored (RFC 5321 4.1.2, C.).
    if (path.front() == '@') {
      auto colon = path.find(':');
      if (colon == std::string_view::npos) {
        error = "malformed source route";
        return std::nullopt;
      }
      path.remove_prefix(colon + 1);
    }
    if (keyword == "TO:" && IEquals(path, "postmaster")) {
      out.mailbox = Mailbox{std::string(path), ""};
    } else {
      auto mb = ParseMailbox(path, error);
      if (!mb) return std::nullopt;
      out.mailbox = std::move(*mb);
    }
  }
  std::string_view rest = args.substr(close + 1);
  while (!rest.empty()) {
    if (rest.front() != ' ') {
      error = "parameters must be separated by spaces";
      return std::nullopt;
    }
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    auto end = rest.find(' ');
    std::string_view p = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    EsmtpParam param;
    auto eq = p.find('=');
    std::string_view kw = p.substr(0, eq);
    if (kw.empty()) {
      error = "empty parameter keyword";
      return std::nullopt;
    }
    for (unsigned char c : kw) {
      if (!IsLetDig(c) && c != '-') {
        error = "invalid parameter keyword";
        return std::nullopt;
      }
    }
    std::string upper(kw);
    for (char& c : upper)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    param.keyword = upper;
    if (eq != std::string_view::npos) param.value = std::string(p.substr(eq + 1));
    for (const auto& seen : out.params) {
      if (seen.keyword == param.keyword) {
        error = "parameter " + param.keyword + " given twice";
        return std::nullopt;
      }
    }
    out.params.push_back(std::move(param));
  }
  return out;
}

}  // namespace kurier::smtp::proto
