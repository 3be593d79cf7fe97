// credentials.hpp - issuing API keys and SMTP credentials (the secret is returned once; only its hash is
// stored), scope lists, and the rules for the names they hang on. Shared by the CLI (app/commands.cpp,
// app/init.cpp) and the HTTP API (api/admin_api.cpp), so both refuse and create exactly the same things.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "store/store.hpp"

namespace kurier::store {

/// The API key scopes, in their canonical order.
inline constexpr const char* kScopes[] = {"send", "read", "admin"};

/// True for "send", "read" and "admin".
bool IsScope(std::string_view scope);
/// Space-separated scopes in canonical order without repeats ("read send read" -> "send read");
/// kInvalidArgument naming the first unknown scope, or when there is none at all.
Result<std::string> NormalizeScopes(std::string_view space_separated);
/// The scopes of a space-separated list, in canonical order.
std::vector<std::string> SplitScopes(std::string_view space_separated);

/// What is wrong with an account name (1-64 characters: letters, digits, '.', '_', '-', '@', '+'), if anything.
std::optional<std::string> AccountNameProblem(std::string_view name);
/// What is wrong with an SMTP username (1-128 characters, no space or control character), if anything.
std::optional<std::string> SmtpUsernameProblem(std::string_view username);
/// What is wrong with an API key's label (1-64 characters, no control character), if anything.
std::optional<std::string> ApiKeyNameProblem(std::string_view name);

struct IssuedApiKey {
  ApiKey key;          ///< as stored (key_hash set, secret not)
  std::string secret;  ///< "kr_..." — shown once, never stored
};
/// Creates an API key for `account` with `scopes` (normalised) and stores its BLAKE2b-256 hash.
Result<IssuedApiKey> IssueApiKey(Store& store, const std::string& account, const std::string& name,
                                 const std::string& scopes);

struct IssuedSmtpCredential {
  SmtpCredential credential;  ///< as stored (Argon2id hash)
  std::string password;       ///< generated; shown once, never stored
};
/// A new SMTP password: 144 random bits, base64url (24 characters), never starting with '-' (a password
/// such as "-1PPh..." is taken for an option by command-line clients: `swaks -ap -1PPh...` fails).
std::string GenerateSmtpPassword();
/// Adds an SMTP credential with a generated password; an empty `username` becomes ACCOUNT-xxxxxx.
/// kAlreadyExists when the username is taken (usernames are unique across accounts).
Result<IssuedSmtpCredential> IssueSmtpCredential(Store& store, const std::string& account, const std::string& username);

}  // namespace kurier::store
