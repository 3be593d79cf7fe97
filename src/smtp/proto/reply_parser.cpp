// reply_parser.cpp - SMTP reply parsing for the outbound client.
// SECURITY: reads bytes from remote servers on the Internet: line length and line count are bounded,
// and anything that is not "DDD[ -]text" fails the connection rather than being guessed at.
// STANDARDS: RFC 5321 4.2 (reply syntax, multi-line replies), RFC 3463 / RFC 2034 (enhanced codes).
#include "smtp/proto/reply_parser.hpp"

namespace kurier::smtp::proto {

namespace {
bool IsEnhanced(std::string_view s, int code) {
  // class "." subject "." detail, the class matching the reply's first digit
  if (s.size() < 5 || s[0] != static_cast<char>('0' + code / 100) || s[1] != '.') return false;
  size_t i = 2, digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 3) ++i, ++digits;
  if (digits == 0 || i >= s.size() || s[i] != '.') return false;
  ++i;
  digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 3) ++i, ++digits;
  return digits > 0 && i == s.size();
}
}  // namespace

std::string ServerReply::Text() const {
  std::string out;
  for (const auto& l : lines) {
    std::string_view t = l;
    if (!enhanced.empty() && t.substr(0, enhanced.size()) == enhanced) {
      t.remove_prefix(enhanced.size());
      if (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    }
    if (!out.empty()) out += ' ';
    out += t;
  }
  return out;
}

std::string ServerReply::ToString() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) out += " " + enhanced;
  std::string t = Text();
  if (!t.empty()) out += " " + t;
  return out;
}

std::optional<ServerReply> ReplyParser::Next() {
  while (error_.empty()) {
    auto lf = buf_.find('\n', pos_);
    if (lf == std::string::npos) {
      if (buf_.size() - pos_ > kMaxLine) error_ = "reply line longer than " + std::to_string(kMaxLine) + " octets";
      return std::nullopt;
    }
    std::string_view line(buf_.data() + pos_, lf - pos_);
    pos_ = lf + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' ||
        line[2] > '9' || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      std::string shown(line.substr(0, 80));
      for (char& c : shown)
        if (static_cast<unsigned char>(c) < 32) c = '?';
      error_ = "malformed reply line: \"" + shown + "\"";
      return std::nullopt;
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (!partial_.lines.empty() && code != partial_.code) {
      error_ = "multi-line reply changes its code";
      return std::nullopt;
    }
    if (partial_.lines.size() >= kMaxLines) {
      error_ = "reply has more than " + std::to_string(kMaxLines) + " lines";
      return std::nullopt;
    }
    partial_.code = code;
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
    if (partial_.lines.empty()) {
      auto sp = text.find(' ');
      std::string_view first = text.substr(0, sp);
      if (IsEnhanced(first, code)) partial_.enhanced = std::string(first);
    }
    partial_.lines.emplace_back(text);
    bool last = line.size() == 3 || line[3] == ' ';
    if (pos_ > 65536) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    if (last) return std::exchange(partial_, ServerReply{});
  }
  return std::nullopt;
}

}  // namespace kurier::smtp::proto
