// cli_errors.cpp - how the kurier binary answers a command line it cannot parse: it says what was meant
// ("unknown command 'lst'; did you mean 'list'?", the same for options), where the help is, and exits
// with status 2 (a usage error), apart from status 1 of a command that ran and failed (Fail).
#include <iostream>
#include <string>
#include <vector>

#include "app/app.hpp"
#include "common/encoding.hpp"

namespace kurier::app {

namespace {

// The one of `candidates` that `word` is a typo of (one edit in a short word, two in a longer one), or
// the only one it begins; "" when none is.
std::string Closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best, prefixed;
  std::size_t best_d = std::string::npos, prefixes = 0;
  for (const auto& c : candidates) {
    if (std::size_t d = EditDistance(word, c); d < best_d) best_d = d, best = c;
    if (word.size() >= 2 && c.size() > word.size() && c.compare(0, word.size(), word) == 0) ++prefixes, prefixed = c;
  }
  if (best_d <= (word.size() <= 4 ? 1u : 2u)) return best;
  return prefixes == 1 ? prefixed : "";
}

// The deepest command the parser entered ("queue" for `kurier queue lst`).
CLI::App* Deepest(CLI::App& app) {
  CLI::App* cur = &app;
  for (auto subs = cur->get_subcommands(); !subs.empty(); subs = cur->get_subcommands()) cur = subs.front();
  return cur;
}

std::string PathOf(const CLI::App* app) {
  std::string path;
  for (; app->get_parent() != nullptr; app = app->get_parent()) path = " " + app->get_name() + path;
  return "kurier" + path;
}

std::vector<std::string> SubcommandNames(CLI::App* app) {
  std::vector<std::string> out;
  for (auto* sub : app->get_subcommands([](CLI::App*) { return true; })) out.push_back(sub->get_name());
  return out;
}

std::vector<std::string> OptionNames(CLI::App* app) {
  std::vector<std::string> out;
  for (const auto* opt : app->get_options()) {
    for (const auto& l : opt->get_lnames()) out.push_back("--" + l);
    for (const auto& s : opt->get_snames()) out.push_back("-" + s);
  }
  return out;
}

// What was meant, from the words the parser could not place; CLI11's own message for other errors
// (a missing argument, a value that is not valid).
std::string Explain(CLI::App& app, CLI::App* cur, const CLI::ParseError& e) {
  const std::vector<std::string> extras = app.remaining(true);
  const auto subs = SubcommandNames(cur);
  // A group whose command word was misspelt ("queue lst --config F"): the options after it were meant for
  // that command, so the word is what to name.
  if (!subs.empty() && cur->get_subcommands().empty() && !extras.empty() && !extras.front().starts_with('-')) {
    const std::string hint = Closest(extras.front(), subs);
    return "unknown command '" + extras.front() + "'" +
           (hint.empty() ? "; '" + PathOf(cur) + "' has " + Join(subs) : "; did you mean '" + hint + "'?");
  }
  for (const auto& w : extras) {  // an unknown option first: the words after it may be its value
    if (w.size() < 2 || w[0] != '-') continue;
    const std::string name = w.substr(0, w.find('='));
    const std::string hint = Closest(name, OptionNames(cur));
    return "unknown option '" + name + "' for '" + PathOf(cur) + "'" +
           (hint.empty() ? "" : "; did you mean '" + hint + "'?");
  }
  if (!subs.empty() && !extras.empty()) {
    const std::string hint = Closest(extras.front(), subs);
    return "unknown command '" + extras.front() + "'" +
           (hint.empty() ? "; '" + PathOf(cur) + "' has " + Join(subs) : "; did you mean '" + hint + "'?");
  }
  if (!subs.empty() && cur->get_subcommands().empty() && dynamic_cast<const CLI::RequiredError*>(&e))
    return "'" + PathOf(cur) + "' needs a command: " + Join(subs);
  if (!extras.empty() && dynamic_cast<const CLI::ExtrasError*>(&e))
    return "unexpected argument '" + extras.front() + "' for '" + PathOf(cur) + "'";
  return e.what();
}

}  // namespace

int RunCommandLine(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    CLI::App* cur = Deepest(app);
    std::cerr << "kurier: " << Explain(app, cur, e) << "\nSee '" << PathOf(cur) << " --help'.\n";
    return 2;
  }
  return 0;
}

}  // namespace kurier::app
