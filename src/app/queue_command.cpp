// queue_command.cpp - `kurier queue`: list and show spooled messages (from the spool files), and retry,
// delete, suspend and resume through the running server's control socket, or on the files when none runs.
#include <boost/json.hpp>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>

#include "app/admin_commands.hpp"
#include "app/control.hpp"
#include "app/progress.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "events/event_json.hpp"
#include "spool/message_state.hpp"

namespace kurier::app {

namespace {

std::string id, target, status_filter;
bool json = false, raw = false, count_only = false, delete_all = false;
std::size_t limit = 1000;

// A recipient's state and its message's, in the names the HTTP API uses (spool/message_state.hpp).
std::string_view StateOf(const spool::SpoolMessage& m, const spool::RecipientState& st, int64_t now) {
  return spool::RecipientStatus(st.status, st.attempts, m.not_before, now);
}

std::string_view MessageStateOf(const spool::SpoolMessage& m, int64_t now) {
  std::vector<std::string_view> states;
  for (const auto& st : m.states) states.push_back(StateOf(m, st, now));
  return spool::MessageStatus(states);
}

boost::json::object MessageJson(const spool::SpoolMessage& m, int64_t now) {
  boost::json::array rcpts, states;
  for (const auto& r : m.recipients) rcpts.emplace_back(r);
  for (const auto& st : m.states)
    states.push_back(boost::json::object{{"recipient", st.address},
                                         {"status", StateOf(m, st, now)},
                                         {"attempts", st.attempts},
                                         {"next_attempt", st.status == "queued" ? FormatTimeUtc(st.next_attempt) : ""},
                                         {"last_reply", st.last_reply}});
  boost::json::object o{{"id", m.id},
                        {"received_at", FormatTimeUtc(m.received_at)},
                        {"status", MessageStateOf(m, now)},
                        {"account", m.account},
                        {"mail_from", m.mail_from},
                        {"recipients", std::move(rcpts)},
                        {"delivery", std::move(states)},
                        {"size", m.size}};
  if (m.not_before > m.received_at) o["send_at"] = FormatTimeUtc(m.not_before);
  return o;
}

std::string Sanitize(std::string_view s) {
  // Valid JSON strings need UTF-8; bytes that are not are shown as U+FFFD.
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (size_t len = Utf8SequenceLength(s, i)) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// --status STATE: one of the message states, or an argument error that lists them.
CLI::Validator MessageStateValidator() {
  return CLI::Validator(
      [](std::string& v) {
        return spool::IsMessageState(v) ? std::string() : "unknown state '" + v + "'; use one of " + spool::MessageStatesText();
      },
      "STATE");
}

// `queue list --count`: the number of messages in each state (with --status: in that state only),
// counted by the spool's storage.
void PrintCounts(spool::Spool& sp, int64_t now) {
  spool::QueueCounts q = OrFail(sp.CountByState(now));
  if (!status_filter.empty()) {
    if (json) std::cout << boost::json::serialize(boost::json::object{{status_filter, q.by_state[status_filter]}}) << "\n";
    else std::cout << q.by_state[status_filter] << "\n";
    return;
  }
  boost::json::object o;
  if (!json) std::cout << std::left << std::setw(12) << "STATUS" << "MESSAGES\n";
  for (const auto& state : spool::MessageStates()) {
    if (json) o[state] = q.by_state[state];
    else std::cout << std::setw(12) << state << q.by_state[state] << "\n";
  }
  if (json) {
    o["total"] = q.total;
    std::cout << boost::json::serialize(o) << "\n";
  } else {
    std::cout << std::setw(12) << "total" << q.total << "\n";
  }
}

void PrintMessageLine(const spool::SpoolMessage& m, int64_t now) {
  std::cout << std::setw(22) << m.id << std::setw(22) << FormatTimeUtc(m.received_at) << std::setw(11)
            << MessageStateOf(m, now) << std::setw(10) << m.size << "<" << m.mail_from << "> ->";
  for (const auto& r : m.recipients) std::cout << " <" << r << ">";
  std::cout << "\n";
  if (m.not_before > now) std::cout << "    scheduled for " << FormatTimeUtc(m.not_before) << "\n";
  for (const auto& st : m.states)
    if (st.attempts > 0)
      std::cout << "    <" << st.address << "> " << StateOf(m, st, now) << " after " << st.attempts << " attempt(s)"
                << (st.status == "queued" ? ", next " + FormatTimeUtc(st.next_attempt) : std::string()) << ": "
                << st.last_reply << "\n";
}

void AddQueueList(CLI::App* queue, std::string& config_path) {
  auto* q_list = queue->add_subcommand("list", "List queued messages, oldest first, with their states (as the API names them)");
  q_list->add_option("--status", status_filter, "Only messages in this state: " + spool::MessageStatesText())
      ->check(MessageStateValidator());
  q_list->add_option("--limit", limit, "Show at most N messages (0: all)")->check(LimitValidator())->capture_default_str();
  q_list->add_flag("--count", count_only, "Print only the number of messages in each state (or in --status)");
  q_list->add_flag("--json", json, "JSON output");
  AddConfigOption(q_list, config_path);
  q_list->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto sp = OpenSpoolOrExit(c);
    const int64_t now = NowMicros();
    if (count_only) return PrintCounts(*sp, now);
    // The page the storage selects (oldest first, in the state asked for); the number it was cut from
    // is counted only when the page is full.
    auto page = OrFail(sp->ListPage(spool::QueuePage{status_filter, limit, now}));
    std::size_t total = page.size();
    if (limit != 0 && page.size() == limit)
      total = static_cast<std::size_t>(status_filter.empty() ? OrFail(sp->Count())
                                                             : OrFail(sp->CountByState(now)).by_state[status_filter]);
    const std::size_t shown = page.size();
    const std::string what = status_filter.empty() ? "messages" : status_filter + " messages";
    const std::string cut = shown < total ? "showing " + std::to_string(shown) + " of " + std::to_string(total) + " " +
                                                         what + " (oldest first); use --limit N (0: all), --status or --count"
                                                   : "";
    if (json) {
      boost::json::array arr;
      for (std::size_t i = 0; i < shown; ++i) arr.push_back(MessageJson(page[i], now));
      std::cout << boost::json::serialize(arr) << "\n";
      if (!cut.empty()) std::cerr << "kurier: " << cut << "\n";
      return;
    }
    std::cout << std::left << std::setw(22) << "ID" << std::setw(22) << "RECEIVED" << std::setw(11) << "STATUS"
              << std::setw(10) << "SIZE" << "FROM -> RECIPIENTS\n";
    for (std::size_t i = 0; i < shown; ++i) PrintMessageLine(page[i], now);
    if (!cut.empty()) std::cout << cut << "\n";
    else std::cout << total << " " << (status_filter.empty() ? "" : status_filter + " ") << "message(s)\n";
  });
}

void AddQueueShow(CLI::App* queue, std::string& config_path) {
  auto* q_show = queue->add_subcommand("show", "Show one message: envelope, states, events and content");
  q_show->add_option("id", id, "Queue id")->required();
  q_show->add_flag("--json", json, "JSON output");
  q_show->add_flag("--raw", raw, "Print the stored message exactly as spooled");
  AddConfigOption(q_show, config_path);
  q_show->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto sp = OpenSpoolOrExit(c);
    auto m = OrFail(sp->Get(id));
    if (!m) Fail("no message with id " + id + " in the queue; see 'kurier queue list'");
    if (raw) {
      std::fwrite(m->data.data(), 1, m->data.size(), stdout);
      return;
    }
    auto s = OpenStoreOrExit(c);
    store::EventFilter f;
    f.message_id = id;
    auto events = OrFail(s->ListEvents(f));
    const int64_t now = NowMicros();
    if (json) {
      boost::json::object o = MessageJson(*m, now);
      o["credential"] = m->credential;
      o["client_ip"] = m->client_ip;
      o["helo"] = m->helo;
      o["body_type"] = m->body_type;
      o["smtputf8"] = m->smtputf8;
      boost::json::array evs;
      for (const auto& e : events) evs.push_back(events::EventObject(e, events::EventShape::kNested));
      o["events"] = std::move(evs);
      o["message"] = Sanitize(m->data);
      std::cout << boost::json::serialize(o) << "\n";
      return;
    }
    std::cout << "id:          " << m->id << "\nreceived:    " << FormatTimeUtc(m->received_at)
              << "\nstatus:      " << MessageStateOf(*m, now)
              << (m->not_before > m->received_at ? "\nsend at:     " + FormatTimeUtc(m->not_before) : std::string())
              << "\naccount:     " << m->account << "\ncredential:  " << m->credential << "\nclient:      "
              << m->client_ip << " (" << m->helo << ")\nTLS:         "
              << (m->tls_version.empty() ? "none" : m->tls_version + " " + m->tls_cipher) << "\nfrom:        <"
              << m->mail_from << ">\n";
    for (const auto& st : m->states)
      std::cout << "to:          <" << st.address << "> " << StateOf(*m, st, now)
                << (st.attempts ? " (" + std::to_string(st.attempts) + " attempt(s), next " + FormatTimeUtc(st.next_attempt) +
                                      ", last reply: " + st.last_reply + ")"
                                : std::string())
                << "\n";
    std::cout << "size:        " << m->size << "\nevents:\n";
    for (const auto& e : events) std::cout << "  " << FormatTimeUtc(e.time) << " " << e.type << " " << e.data << "\n";
  });
}

// `queue delete --all [--status S]`: through the running server in batches ("delete-many"), or on the
// spool files when none runs; a progress line on a terminal.
void DeleteAll(const Config& c) {
  std::vector<std::string> ids, accounts;
  {
    auto sp = OpenSpoolOrExit(c);
    for (const auto& m : OrFail(sp->ListPage(spool::QueuePage{status_filter, 0, NowMicros(), false})))
      ids.push_back(m.id), accounts.push_back(m.account);
    sp->Stop();
  }
  const std::string what = status_filter.empty() ? "message(s)" : status_filter + " message(s)";
  Progress progress("deleting " + what, ids.size());
  std::size_t done = 0, deleted = 0;
  bool through_server = !ids.empty();
  while (through_server && done < ids.size()) {
    boost::json::array chunk;
    for (std::size_t i = done; i < ids.size() && chunk.size() < kDeleteManyBatch; ++i) chunk.emplace_back(ids[i]);
    auto answer = SendControl(c.control_socket, "delete-many", boost::json::serialize(chunk));
    if (!answer) {  // no server, or one with delivery off: the files
      through_server = done > 0;
      break;
    }
    if (!answer->ok) Fail(answer->detail);
    deleted += std::strtoull(answer->detail.c_str(), nullptr, 10);
    done += chunk.size();
    progress.Update(done);
  }
  if (!through_server && done < ids.size()) {
    auto store = OpenStoreOrExit(c);
    auto sp = OpenConfiguredSpool(c, store.get());
    if (!sp) Fail(sp.error().message);
    for (; done < ids.size(); ++done, ++deleted) {
      sp.value()->Delete(ids[done], {store::Event{0, NowMicros(), "deleted", ids[done], accounts[done], "{}"}});
      progress.Update(done + 1);
    }
    sp.value()->Stop();
  }
  std::cout << deleted << " " << what << " deleted"
            << (through_server || ids.empty() ? "" : " (in the spool files: no server with delivery running)") << "\n";
}

void AddQueueActions(CLI::App* queue, std::string& config_path) {
  // queue retry|delete|suspend|resume: through the running server, or on the files when none runs
  struct QueueAction {
    const char* name;
    const char* help;
    const char* arg_help;
  };
  for (QueueAction a : {QueueAction{"retry", "Try a message's deferred recipients now", "Queue id"},
                        QueueAction{"delete", "Remove a message from the queue; its undelivered recipients are dropped", "Queue id"},
                        QueueAction{"suspend", "Hold delivery to a recipient domain (kept across restarts)", "Domain"},
                        QueueAction{"resume", "Resume delivery to a suspended domain", "Domain"}}) {
    auto* cmd = queue->add_subcommand(a.name, a.help);
    std::string action = a.name;
    auto* arg_option = cmd->add_option(action == "retry" || action == "delete" ? "id" : "domain", target, a.arg_help);
    if (action == "delete") {  // one message, or --all (of a --status)
      cmd->add_flag("--all", delete_all, "Remove every message (with --status: every message in that state)")->excludes(arg_option);
      cmd->add_option("--status", status_filter, "With --all: only messages in this state")->check(MessageStateValidator());
    } else {
      arg_option->required();
    }
    AddConfigOption(cmd, config_path);
    cmd->callback([&, action] {
      if (action == "delete" && delete_all) return DeleteAll(LoadConfigOrExit(config_path));
      if (target.empty()) throw CLI::RequiredError("id (or --all)");
      if (!status_filter.empty()) throw CLI::ValidationError("--status", "goes with --all only");
      Config c = LoadConfigOrExit(config_path);
      std::string arg = action == "suspend" || action == "resume" ? ToLowerAscii(target) : target;
      if (auto answer = SendControl(c.control_socket, action, arg)) {
        std::cout << answer->detail << "\n";
        if (!answer->ok) std::exit(1);
        return;
      }
      // No server is running: change the spool; the next `kurier serve` acts on it.
      auto store = OpenStoreOrExit(c);
      auto sp = OpenConfiguredSpool(c, store.get());
      if (!sp) Fail(sp.error().message);
      std::string detail;
      if (action == "suspend" || action == "resume") {
        sp.value()->SetSuspended(arg, action == "suspend");
        detail = "delivery to " + arg + (action == "suspend" ? " suspended" : " resumed") + " (kurier is not running)";
      } else {
        auto m = OrFail(sp.value()->Get(arg));
        if (!m) Fail("no message with id " + arg + " in the queue; see 'kurier queue list'");
        if (action == "delete") {
          sp.value()->Delete(arg, {store::Event{0, NowMicros(), "deleted", arg, m->account, "{}"}});
          detail = "message " + arg + " deleted";
        } else {
          std::vector<spool::RecipientUpdate> ups;
          for (const auto& st : m->states)
            if (st.status == "queued") ups.push_back({arg, st.idx, "queued", st.attempts, NowMicros(), st.last_reply});
          if (ups.empty()) Fail("no deferred recipient of " + arg + " is waiting");
          detail = std::to_string(ups.size()) + " recipient(s) of " + arg + " will be tried when kurier starts";
          sp.value()->Update(std::move(ups), {});
        }
      }
      sp.value()->Stop();
      std::cout << detail << "\n";
    });
  }
}

}  // namespace

void AddQueueCommand(CLI::App& app, std::string& config_path) {
  auto* queue = app.add_subcommand("queue", "Inspect the message queue");
  queue->require_subcommand(1);
  AddQueueList(queue, config_path);
  AddQueueShow(queue, config_path);
  AddQueueActions(queue, config_path);
}

}  // namespace kurier::app
