// providers.hpp - which mailbox provider a receiving mail server belongs to, by its MX host name: Google,
// Microsoft, Yahoo (with AOL), Apple, and the large Polish providers (WP, o2, Onet, Interia). The delivery
// metrics are broken down by it (kurier_deliveries_total); a provider's many MX hosts and customer domains
// (a company on Google Workspace) share one reputation and one set of limits, which shaping per provider
// (issue 18) is to build on.
#pragma once
#include <string_view>

namespace kurier::delivery {

/// "google", "microsoft", "yahoo", "apple", "wp", "o2", "onet", "interia"; "other" for any other host and
/// "none" for no host (kurier's own failure: no route, no answer). `mx_host` in any case, with or
/// without a trailing dot.
std::string_view ProviderOfMx(std::string_view mx_host);

}  // namespace kurier::delivery
