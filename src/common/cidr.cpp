// cidr.cpp - CIDR parsing and matching on inet_pton.
#include "common/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace kurier {

namespace {
// Fills `out` with the address bytes; returns 4 or 16, or 0 when not an address.
int ParseAddress(std::string_view text, std::array<unsigned char, 16>& out) {
  std::string s(text);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  out.fill(0);
  if (inet_pton(AF_INET, s.c_str(), out.data()) == 1) return 4;
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out.data(), kMapped, 12) == 0) {
      std::memmove(out.data(), out.data() + 12, 4);
      std::memset(out.data() + 4, 0, 12);
      return 4;
    }
    return 16;
  }
  return 0;
}
}  // namespace

std::optional<Cidr> Cidr::Parse(std::string_view text) {
  Cidr c;
  c.text_ = std::string(text);
  auto slash = text.find('/');
  int kind = ParseAddress(text.substr(0, slash), c.net_);
  if (kind == 0) return std::nullopt;
  c.v6_ = kind == 16;
  int max = c.v6_ ? 128 : 32;
  c.prefix_ = max;
  if (slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), c.prefix_);
    if (ec != std::errc() || ptr != p.data() + p.size() || p.empty() || c.prefix_ < 0 || c.prefix_ > max)
      return std::nullopt;
  }
  // Clear host bits so that 127.0.0.1/8 means 127.0.0.0/8.
  for (int bit = c.prefix_; bit < max; ++bit) c.net_[bit / 8] &= static_cast<unsigned char>(~(0x80 >> (bit % 8)));
  return c;
}

bool Cidr::Contains(std::string_view address) const {
  std::array<unsigned char, 16> a{};
  int kind = ParseAddress(address, a);
  if (kind == 0 || (kind == 16) != v6_) return false;
  int full = prefix_ / 8, rest = prefix_ % 8;
  if (std::memcmp(a.data(), net_.data(), full) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == net_[full];
}

bool AnyContains(const std::vector<Cidr>& nets, std::string_view address) {
  for (const auto& n : nets)
    if (n.Contains(address)) return true;
  return false;
}

}  // namespace kurier
