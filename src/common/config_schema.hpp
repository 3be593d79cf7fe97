// config_schema.hpp - internal to src/common: the schema of kurier.toml (every key, its type, default
// and the comment the generated file carries), read by config.cpp. One table, so that the generated
// file, the type checks and the "did you mean" suggestions cannot drift apart.
#pragma once
#include <span>
#include <string_view>

namespace kurier::config_schema {

enum class Type { kString, kInt, kBool, kStringList, kIntList };

struct Key {
  const char* name;
  Type type;
  const char* value;  // default, as a TOML literal
  const char* comment;
};

/// Every key, in the order of the generated file (tables are emitted when their prefix changes).
std::span<const Key> Schema();
/// Keys of a [delivery.domain."NAME"] table (per-destination overrides).
std::span<const Key> DomainKeys();
inline constexpr std::string_view kDomainTable = "delivery.domain";

}  // namespace kurier::config_schema
