// contacts_command.cpp - `kurier contacts import|list` and `kurier lists add|list|remove`: an account's
// audience from the command line. `contacts import FILE` streams a CSV file of any size into the store
// (audience/importer.hpp: charset given or detected, columns by their English or Polish names or --map,
// broken rows reported with their line numbers, batches of one transaction each) with a progress bar on a
// terminal; the server may run meanwhile (the store takes concurrent writers).
#include <boost/json.hpp>
#include <fstream>
#include <iostream>

#include "app/admin_commands.hpp"
#include "app/progress.hpp"
#include "audience/importer.hpp"
#include "common/ids.hpp"

namespace kurier::app {

namespace {

struct ContactsArgs {
  std::string account = "default";
  std::string file, list, encoding = "auto", mode = "upsert", search, status, name, description;
  std::vector<std::string> maps;
  bool create_list = false, double_opt_in = false, json = false;
  std::size_t limit = 100;
};

ContactsArgs args;

std::string ListIdOrFail(store::Store& s, const std::string& account, const std::string& list, bool create) {
  auto l = OrFail(s.FindList(account, list));
  if (l) return l->id;
  if (!create)
    Fail("account " + account + " has no list '" + list + "': create it with `kurier lists add " + list +
         " --account " + account + "`, or add --create-list");
  store::ContactList n;
  n.account = account;
  n.name = list;
  return OrFail(s.CreateList(n)).id;
}

void RunImport(const std::string& config_path) {
  auto s = OpenStoreFor(config_path);
  if (!OrFail(s->FindAccount(args.account))) Fail("no account '" + args.account + "'; see `kurier account list`");
  std::ifstream in(args.file, std::ios::binary);
  if (!in) Fail("cannot read " + args.file + ": check the path and its permissions");
  audience::ImportOptions opt;
  opt.account = args.account;
  opt.mode = args.mode == "skip" ? store::ContactSaveOptions::Mode::kSkip : store::ContactSaveOptions::Mode::kMerge;
  if (args.encoding != "auto") opt.charset = OrFail(audience::ParseCharset(args.encoding));
  opt.maps = args.maps;
  if (!args.list.empty()) opt.list_id = ListIdOrFail(*s, args.account, args.list, args.create_list);
  opt.consent = boost::json::serialize(boost::json::object{
      {"source", "import:" + std::filesystem::path(args.file).filename().string()}, {"time", FormatTimeUtc(NowMicros())}});
  std::error_code ec;
  const auto size = std::filesystem::file_size(args.file, ec);
  audience::ContactImporter importer(*s, opt);
  Progress bar("importing " + args.file + " (bytes)", ec ? 0 : static_cast<std::size_t>(size));
  std::string chunk(256 * 1024, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    OrFail(importer.Feed(std::string_view(chunk.data(), n)));
    bar.Update(static_cast<std::size_t>(importer.bytes()));
  }
  if (in.bad()) Fail("reading " + args.file + " failed; check the disk");
  auto report = OrFail(importer.Finish());
  std::cout << args.file << " (" << report.charset << ", delimiter '"
            << (report.delimiter == '\t' ? std::string("tab") : std::string(1, report.delimiter)) << "'): " << report.rows
            << " rows; " << report.saved.created << " created, " << report.saved.updated << " updated, "
            << report.saved.skipped << " skipped, " << report.rejected_count << " rejected";
  if (!opt.list_id.empty()) std::cout << "; " << report.saved.added_to_list << " added to list " << args.list;
  std::cout << "\n";
  for (const auto& r : report.rejected) std::cout << "  " << r << "\n";
  if (report.rejected_count > static_cast<int64_t>(report.rejected.size()))
    std::cout << "  ... and " << report.rejected_count - static_cast<int64_t>(report.rejected.size()) << " more\n";
}

void RunList(const std::string& config_path) {
  auto s = OpenStoreFor(config_path);
  store::ContactQuery q;
  q.account = args.account;
  q.search = args.search;
  q.status = args.status;
  q.limit = args.limit == 0 ? 1000 : args.limit;
  if (!args.list.empty()) q.list_id = ListIdOrFail(*s, args.account, args.list, false);
  boost::json::array out;
  std::size_t shown = 0;
  for (;;) {
    auto page = OrFail(s->ListContacts(q));
    for (const auto& c : page) {
      if (args.json)
        out.push_back(boost::json::object{{"id", c.id}, {"address", c.address}, {"name", c.name}, {"status", c.status},
                                          {"attributes", boost::json::parse(c.attributes)}});
      else
        std::cout << c.id << "  " << c.address << "  " << c.status << (c.name.empty() ? "" : "  " + c.name) << "\n";
      ++shown;
    }
    if (page.size() < q.limit || (args.limit != 0 && shown >= args.limit)) break;
    q.after_id = page.back().id;
  }
  if (args.json) std::cout << boost::json::serialize(out) << "\n";
}

}  // namespace

void AddContactsCommand(CLI::App& app, std::string& config_path) {
  auto* contacts = app.add_subcommand("contacts", "An account's contacts: import a CSV file, list them");
  contacts->require_subcommand(1);
  auto* import = contacts->add_subcommand("import", "Import contacts from a CSV file of any size (a header line names the columns)");
  import->add_option("file", args.file, "The CSV file")->required();
  import->add_option("--account", args.account, "The account (default: default)");
  import->add_option("--list", args.list, "Put every imported contact on this list (id or name)");
  import->add_flag("--create-list", args.create_list, "Create the --list when the account has none of that name");
  import->add_option("--encoding", args.encoding, "auto (detected), utf-8, windows-1250 or iso-8859-2");
  import->add_option("--map", args.maps,
                     "COLUMN=FIELD, repeatable: FIELD is address, name, attributes.KEY or - (skip the column); "
                     "columns named email/e-mail/adres e-mail, name/imię i nazwisko, first name/imię, last name/nazwisko are "
                     "recognised without it, other columns become attributes");
  import->add_option("--mode", args.mode, "upsert: change existing contacts (default); skip: leave them as they are")
      ->check(CLI::IsMember({"upsert", "skip"}));
  AddConfigOption(import, config_path);
  import->callback([&] { RunImport(config_path); });

  auto* list = contacts->add_subcommand("list", "List an account's contacts");
  list->add_option("--account", args.account, "The account (default: default)");
  list->add_option("--list", args.list, "Only the contacts on this list (id or name)");
  list->add_option("--search", args.search, "Only contacts whose address or name contains this text");
  list->add_option("--status", args.status, "active, unsubscribed, complained, bounced or suppressed")
      ->check(CLI::IsMember({"active", "unsubscribed", "complained", "bounced", "suppressed"}));
  list->add_option("--limit", args.limit, "At most N contacts (0: all; default 100)")->check(LimitValidator());
  list->add_flag("--json", args.json, "Print JSON");
  AddConfigOption(list, config_path);
  list->callback([&] { RunList(config_path); });

  auto* lists = app.add_subcommand("lists", "An account's contact lists");
  lists->require_subcommand(1);
  auto* add = lists->add_subcommand("add", "Create a list");
  add->add_option("name", args.name, "The list's name")->required();
  add->add_option("--account", args.account, "The account (default: default)");
  add->add_option("--description", args.description, "What the list is for");
  add->add_flag("--double-opt-in", args.double_opt_in, "New subscribers confirm by a link before they get mail");
  AddConfigOption(add, config_path);
  add->callback([&] {
    auto s = OpenStoreFor(config_path);
    store::ContactList l;
    l.account = args.account;
    l.name = args.name;
    l.description = args.description;
    l.double_opt_in = args.double_opt_in;
    auto created = OrFail(s->CreateList(l));
    std::cout << created.id << "  " << created.name << "\n";
  });
  auto* ls = lists->add_subcommand("list", "List an account's lists with their member counts");
  ls->add_option("--account", args.account, "The account (default: default)");
  AddConfigOption(ls, config_path);
  ls->callback([&] {
    auto s = OpenStoreFor(config_path);
    for (const auto& l : OrFail(s->ListLists(args.account)))
      std::cout << l.id << "  " << l.name << "  " << l.subscribed << " subscribed, " << l.unconfirmed << " unconfirmed, "
                << l.unsubscribed << " unsubscribed" << (l.double_opt_in ? "  (double opt-in)" : "") << "\n";
  });
}

}  // namespace kurier::app
