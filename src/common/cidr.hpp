// cidr.hpp - IPv4/IPv6 networks in CIDR notation (RFC 4632, RFC 4291) for allow-lists.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kurier {

class Cidr {
 public:
  /// Parses "127.0.0.0/8", "::1/128" or a bare address (a host network). nullopt when malformed.
  static std::optional<Cidr> Parse(std::string_view text);
  /// True when `address` (textual IPv4 or IPv6; IPv4-mapped IPv6 is treated as IPv4) is inside.
  bool Contains(std::string_view address) const;
  std::string ToString() const { return text_; }

 private:
  bool v6_ = false;
  std::array<unsigned char, 16> net_{};
  int prefix_ = 0;
  std::string text_;
};

bool AnyContains(const std::vector<Cidr>& nets, std::string_view address);

}  // namespace kurier
