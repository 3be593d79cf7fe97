// header_from.cpp - RFC 5322 address lists and the header sender check (see header_from.hpp).
// SECURITY: reads header fields of messages from any authenticated sender. The parser works on tokens
// of the unfolded value (comments skipped with a depth counter, never recursion), so the display name
// can never be taken for the address: `"a@ok.test" <x@evil.test>` and `x@evil.test (a@ok.test)` are
// both x@evil.test. Anything that does not parse is refused rather than guessed at.
// STANDARDS: RFC 5322 3.2, 3.4, 3.4.1, 3.6, 4.4; RFC 6854; RFC 2047; RFC 6532.
#include "smtp/proto/header_from.hpp"

#include <algorithm>
#include <cstddef>

#include "common/encoding.hpp"

namespace kurier::smtp::proto {

namespace {

enum class Kind { kAtom, kQuoted, kLiteral, kSpecial, kEnd };

struct Token {
  Kind kind = Kind::kEnd;
  std::string text;  ///< atom text, quoted-string content, "[literal]", or the special character
};

bool IsAtext(unsigned char c) {
  if (c >= 0x80) return true;  // RFC 6532: UTF-8 in header fields
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsWsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string Shown(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
  static const char* hex = "0123456789abcdef";
  return std::string("octet 0x") + hex[u >> 4] + hex[u & 15];
}

// Splits the value into tokens; comments and white space are dropped. False with `error` set when a
// comment, quoted string or domain literal is not closed, or a character has no place in an address.
bool Lex(std::string_view v, std::vector<Token>& out, std::string& error) {
  std::size_t i = 0;
  const std::size_t n = v.size();
  while (i < n) {
    char c = v[i];
    if (IsWsp(c)) {
      ++i;
    } else if (c == '(') {
      int depth = 0;
      for (; i < n; ++i) {
        if (v[i] == '\\') {
          ++i;
        } else if (v[i] == '(') {
          ++depth;
        } else if (v[i] == ')' && --depth == 0) {
          break;
        }
      }
      if (i >= n) {
        error = "a comment '(' is not closed with ')'";
        return false;
      }
      ++i;
    } else if (c == '"') {
      std::string text;
      for (++i; i < n && v[i] != '"'; ++i) {
        if (v[i] == '\\' && i + 1 < n) ++i;
        if (v[i] != '\r' && v[i] != '\n') text += v[i];
      }
      if (i >= n) {
        error = "a quoted string '\"' is not closed";
        return false;
      }
      ++i;
      out.push_back({Kind::kQuoted, std::move(text)});
    } else if (c == '[') {
      std::size_t end = v.find(']', i);
      if (end == std::string_view::npos) {
        error = "a domain literal '[' is not closed with ']'";
        return false;
      }
      std::string text;
      for (std::size_t k = i; k <= end; ++k)
        if (!IsWsp(v[k])) text += v[k];
      out.push_back({Kind::kLiteral, std::move(text)});
      i = end + 1;
    } else if (c == '<' || c == '>' || c == ':' || c == ';' || c == '@' || c == ',') {
      out.push_back({Kind::kSpecial, std::string(1, c)});
      ++i;
    } else if (IsAtext(static_cast<unsigned char>(c)) || c == '.') {
      if (c == '=' && i + 1 < n && v[i + 1] == '?') {
        // An RFC 2047 encoded word "=?charset?X?text?=" is one word of a phrase, whatever its text holds.
        std::size_t ws = i;
        while (ws < n && !IsWsp(v[ws])) ++ws;
        const auto npos = std::string_view::npos;
        std::size_t q1 = v.find('?', i + 2);
        std::size_t q2 = q1 < ws ? v.find('?', q1 + 1) : npos;
        std::size_t end = q2 < ws ? v.find("?=", q2 + 1) : npos;
        if (end != npos && end + 2 <= ws) {
          out.push_back({Kind::kAtom, std::string(v.substr(i, end + 2 - i))});
          i = end + 2;
          continue;
        }
      }
      std::size_t start = i;
      while (i < n && (IsAtext(static_cast<unsigned char>(v[i])) || v[i] == '.')) ++i;
      out.push_back({Kind::kAtom, std::string(v.substr(start, i - start))});
    } else {
      error = Shown(c) + " has no place in an address list";
      return false;
    }
  }
  out.push_back({Kind::kEnd, ""});
  return true;
}

bool IsWord(const Token& t) { return t.kind == Kind::kAtom || t.kind == Kind::kQuoted; }
bool IsSpecial(const Token& t, char c) { return t.kind == Kind::kSpecial && t.text[0] == c; }

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Kind::kEnd: return "the end of the field";
    case Kind::kSpecial: return "'" + t.text + "'";
    case Kind::kQuoted: return "a quoted string";
    default: return "'" + t.text.substr(0, 40) + "'";
  }
}

// A domain: a dot-atom of non-empty labels (letters, digits, '-', UTF-8), or a domain literal.
bool ValidDomain(const Token& t, std::string& domain) {
  if (t.kind == Kind::kLiteral) {
    domain = t.text;
    return t.text.size() > 2;
  }
  if (t.kind != Kind::kAtom || t.text.empty() || t.text.front() == '.' || t.text.back() == '.' ||
      t.text.find("..") != std::string::npos)
    return false;
  for (unsigned char c : t.text)
    if (!(c >= 0x80 || c == '.' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z')))
      return false;
  domain = ToLowerAscii(t.text);
  return true;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> t) : t_(std::move(t)) {}

  AddressList Run() {
    AddressList out;
    bool in_group = false;
    std::string group;
    while (!AtEnd() && out.error.empty()) {
      if (IsSpecial(Peek(), ',')) {  // RFC 5322 4.4: empty list elements
        ++i_;
        continue;
      }
      if (in_group && IsSpecial(Peek(), ';')) {
        ++i_;
        in_group = false;
        group.clear();
        continue;
      }
      // phrase (display name, group name) or the local part of a bare addr-spec
      std::vector<const Token*> words;
      while (IsWord(Peek())) words.push_back(&t_[i_++]);
      const Token& next = Peek();
      HeaderAddress a;
      a.group = group;
      if (IsSpecial(next, '<')) {
        ++i_;
        a.display = Join(words, " ");
        if (!AngleAddr(a, out.error)) break;
        out.addresses.push_back(std::move(a));
      } else if (IsSpecial(next, '@') && !words.empty()) {
        a.local = Join(words, "");
        ++i_;
        if (!Domain(a, out.error)) break;
        out.addresses.push_back(std::move(a));
      } else if (IsSpecial(next, ':') && !words.empty()) {
        if (in_group) {
          out.error = "a group cannot contain another group (RFC 5322 3.4)";
          break;
        }
        ++i_;
        in_group = true;
        group = Join(words, " ");
        ++out.groups;
        continue;
      } else {
        out.error = words.empty() ? "expected an address, found " + Describe(next)
                                  : "'" + Join(words, " ").substr(0, 60) + "' is not an address (no '@' domain)";
        break;
      }
      // after a mailbox: ',' or the end (or ';' inside a group)
      const Token& after = Peek();
      if (AtEnd() || IsSpecial(after, ',') || (in_group && IsSpecial(after, ';'))) continue;
      out.error = "expected ',' after <" + out.addresses.back().local + "@" + out.addresses.back().domain +
                  ">, found " + Describe(after);
    }
    if (out.error.empty() && in_group) out.error = "the group '" + group + "' is not closed with ';'";
    return out;
  }

 private:
  const Token& Peek() const { return t_[std::min(i_, t_.size() - 1)]; }
  bool AtEnd() const { return Peek().kind == Kind::kEnd; }

  static std::string Join(const std::vector<const Token*>& words, const char* sep) {
    std::string s;
    for (const Token* w : words) {
      if (!s.empty()) s += sep;
      s += w->kind == Kind::kQuoted && *sep == '\0' ? "\"" + w->text + "\"" : w->text;
    }
    return s;
  }

  bool Domain(HeaderAddress& a, std::string& error) {
    if (!ValidDomain(Peek(), a.domain)) {
      error = "the address '" + a.local + "@' is not followed by a domain (found " + Describe(Peek()) + ")";
      return false;
    }
    ++i_;
    return true;
  }

  // After '<': [obs-route ":"] addr-spec ">" (RFC 5322 3.4, 4.4).
  bool AngleAddr(HeaderAddress& a, std::string& error) {
    if (IsSpecial(Peek(), '@')) {  // obs-route "@a.test,@b.test:" is ignored
      while (!AtEnd() && !IsSpecial(Peek(), ':') && !IsSpecial(Peek(), '>')) ++i_;
      if (!IsSpecial(Peek(), ':')) {
        error = "a source route in '<...>' is not ended by ':'";
        return false;
      }
      ++i_;
    }
    std::vector<const Token*> local;
    while (IsWord(Peek())) local.push_back(&t_[i_++]);
    if (local.empty() || !IsSpecial(Peek(), '@')) {
      error = local.empty() ? "'<' is not followed by an address (found " + Describe(Peek()) + ")"
                            : "the address in '<...>' has no '@' domain";
      return false;
    }
    a.local = Join(local, "");
    ++i_;
    if (!Domain(a, error)) return false;
    if (!IsSpecial(Peek(), '>')) {
      error = "<" + a.local + "@" + a.domain + " is not closed with '>' (found " + Describe(Peek()) + ")";
      return false;
    }
    ++i_;
    return true;
  }

  std::vector<Token> t_;
  std::size_t i_ = 0;
};

bool ContainsDomain(const std::vector<std::string>& list, std::string_view domain) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& d) { return ToLowerAscii(d) == domain; });
}

}  // namespace

AddressList ParseAddressList(std::string_view value) {
  std::vector<Token> tokens;
  AddressList out;
  if (!Lex(value, tokens, out.error)) return out;
  return Parser(std::move(tokens)).Run();
}

std::string SenderDomainProblem(const SenderRules& r, std::string_view domain_in, std::string_view what,
                                std::string_view address) {
  const std::string domain = ToLowerAscii(domain_in);
  if (!ContainsDomain(r.sender_domains, domain)) {
    std::string list;
    for (const auto& d : r.sender_domains) list += (list.empty() ? "" : ", ") + d;
    return std::string(what) + " <" + std::string(address) + "> is at " + domain +
           ", which is not a sender domain of account '" + r.account + "' (it may send from: " +
           (list.empty() ? "no domain yet" : list) + "); write an address at one of those domains, or add the "
           "domain with 'kurier account add-domain " + r.account + " " + domain + "'";
  }
  if (!r.sandbox && !ContainsDomain(r.verified_domains, domain))
    return std::string(what) + " <" + std::string(address) + ">: sender domain " + domain +
           " is not verified for account '" + r.account + "'; publish its DNS records and run 'kurier domain check " +
           domain + "'";
  return "";
}

std::string EnvelopeSenderProblem(const SenderRules& r, std::string_view address, std::string_view domain_in) {
  const std::string domain = ToLowerAscii(domain_in);
  if (!ContainsDomain(r.sender_domains, domain)) {
    std::string list;
    for (const auto& d : r.sender_domains) list += (list.empty() ? "" : ", ") + d;
    return "Sender <" + std::string(address) + "> is not allowed for account '" + r.account + "' (it may send from: " +
           (list.empty() ? "no domain yet" : list) + "); add the domain with 'kurier account add-domain " + r.account +
           " " + std::string(domain_in) + "'";
  }
  // Outside sandbox mode a sender domain must also be verified (its DKIM records published).
  if (!r.sandbox && !ContainsDomain(r.verified_domains, domain))
    return "Sender domain " + domain + " is not verified for account '" + r.account +
           "': publish its DNS records and run 'kurier domain check " + domain + "'";
  return "";
}

HeaderSenderCheck CheckHeaderSenders(std::string_view message, const SenderRules& rules) {
  using Verdict = HeaderSenderCheck::Verdict;
  // The header block: up to the first empty line. Continuation lines (starting with SP or HT) belong to
  // the field before them (RFC 5322 2.2.3).
  std::vector<std::string> from, sender;
  std::vector<std::string>* current = nullptr;
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t eol = message.find('\n', pos);
    std::string_view line = message.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? message.size() : eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of the header
    if (line.front() == ' ' || line.front() == '\t') {
      if (current) current->back() += std::string(" ") + std::string(line);
      continue;
    }
    current = nullptr;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);  // obs-optional
    if (IEquals(name, "From"))
      current = &from;
    else if (IEquals(name, "Sender"))
      current = &sender;
    if (current) current->push_back(std::string(line.substr(colon + 1)));
  }
  HeaderSenderCheck c;
  auto malformed = [&](std::string field, std::string reason) {
    c.verdict = Verdict::kMalformed;
    c.field = std::move(field);
    c.reason = std::move(reason);
    return c;
  };
  if (from.empty())
    return malformed("From", "it has no From: header field; RFC 5322 3.6 requires exactly one (From: you@" +
                                 (rules.sender_domains.empty() ? std::string("your-domain") : rules.sender_domains[0]) + ")");
  if (from.size() > 1)
    return malformed("From", "it has " + std::to_string(from.size()) +
                                 " From: header fields; RFC 5322 3.6 allows exactly one: remove the others");
  if (sender.size() > 1)
    return malformed("Sender", "it has " + std::to_string(sender.size()) +
                                   " Sender: header fields; RFC 5322 3.6 allows at most one: remove the others");
  struct Field {
    const char* name;
    const std::vector<std::string>& values;
  };
  for (const Field& f : {Field{"From", from}, Field{"Sender", sender}}) {
    if (f.values.empty()) continue;
    AddressList list = ParseAddressList(f.values[0]);
    std::string field = f.name;
    if (!list.error.empty())
      return malformed(field, "the " + field + ": header field is not an RFC 5322 address list (" + list.error +
                                  "); write it as " + field + ": Name <you@domain>");
    if (list.addresses.empty())
      return malformed(field, "the " + field + ": header field names no mailbox; write it as " + field +
                                  ": Name <you@domain>");
    if (field == "Sender" && (list.addresses.size() > 1 || list.groups > 0))
      return malformed(field, "the Sender: header field must name exactly one mailbox (RFC 5322 3.6.2)");
    for (const auto& a : list.addresses) {
      std::string problem = SenderDomainProblem(rules, a.domain, field + ":", a.local + "@" + a.domain);
      if (!problem.empty()) {
        c.verdict = Verdict::kNotAllowed;
        c.field = field;
        c.reason = std::move(problem);
        return c;
      }
    }
  }
  return c;
}

}  // namespace kurier::smtp::proto
