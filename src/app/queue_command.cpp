// queue_command.cpp - `kurier queue`: list and show spooled messages (from the spool files), and retry,
// delete, suspend and resume through the running server's control socket, or on the files when none runs.
#include <boost/json.hpp>
#include <cstdio>
#include <iomanip>
#include <iostream>

#include "app/admin_commands.hpp"
#include "app/control.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "events/event_json.hpp"

namespace kurier::app {

namespace {

std::string id, target;
bool json = false, raw = false;

boost::json::object MessageJson(const spool::SpoolMessage& m) {
  boost::json::array rcpts, states;
  for (const auto& r : m.recipients) rcpts.emplace_back(r);
  for (const auto& st : m.states)
    states.push_back(boost::json::object{{"recipient", st.address},
                                         {"status", st.status},
                                         {"attempts", st.attempts},
                                         {"next_attempt", st.status == "queued" ? FormatTimeUtc(st.next_attempt) : ""},
                                         {"last_reply", st.last_reply}});
  return boost::json::object{{"id", m.id},
                             {"received_at", FormatTimeUtc(m.received_at)},
                             {"account", m.account},
                             {"mail_from", m.mail_from},
                             {"recipients", std::move(rcpts)},
                             {"delivery", std::move(states)},
                             {"size", m.size}};
}

std::string Sanitize(std::string_view s) {
  // Valid JSON strings need UTF-8; bytes that are not are shown as U+FFFD.
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

void AddQueueList(CLI::App* queue, std::string& config_path) {
  auto* q_list = queue->add_subcommand("list", "List queued messages");
  q_list->add_flag("--json", json, "JSON output");
  AddConfigOption(q_list, config_path);
  q_list->callback([&] {
    Config c = LoadConfigOrExit(config_path);
    auto sp = OpenSpoolOrExit(c);
    auto list = OrFail(sp->List());
    if (json) {
      boost::json::array arr;
      for (const auto& m : list) arr.push_back(MessageJson(m));
      std::cout << boost::json::serialize(arr) << "\n";
      return;
    }
    std::cout << std::left << std::setw(22) << "ID" << std::setw(22) << "RECEIVED" << std::setw(10) << "SIZE"
              << "FROM -> RECIPIENTS\n";
    for (const auto& m : list) {
      std::cout << std::setw(22) << m.id << std::setw(22) << FormatTimeUtc(m.received_at) << std::setw(10) << m.size
                << "<" << m.mail_from << "> ->";
      for (const auto& r : m.recipients) std::cout << " <" << r << ">";
      std::cout << "\n";
      for (const auto& st : m.states)
        if (st.attempts > 0)
          std::cout << "    <" << st.address << "> " << st.status << " after " << st.attempts << " attempt(s), next "
                    << FormatTimeUtc(st.next_attempt) << ": " << st.last_reply << "\n";
    }
    std::cout << list.size() << " message(s)\n";
  });
}

void AddQueueShow(CLI::App* queue, std::string& config_path) {
  auto* q_show = queue->add_subcommand("show", "Show one message: envelope, events and content");
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
    if (json) {
      boost::json::object o = MessageJson(*m);
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
              << "\naccount:     " << m->account << "\ncredential:  " << m->credential << "\nclient:      "
              << m->client_ip << " (" << m->helo << ")\nTLS:         "
              << (m->tls_version.empty() ? "none" : m->tls_version + " " + m->tls_cipher) << "\nfrom:        <"
              << m->mail_from << ">\n";
    for (const auto& st : m->states)
      std::cout << "to:          <" << st.address << "> " << st.status
                << (st.attempts ? " (" + std::to_string(st.attempts) + " attempt(s), next " + FormatTimeUtc(st.next_attempt) +
                                      ", last reply: " + st.last_reply + ")"
                                : std::string())
                << "\n";
    std::cout << "size:        " << m->size << "\nevents:\n";
    for (const auto& e : events) std::cout << "  " << FormatTimeUtc(e.time) << " " << e.type << " " << e.data << "\n";
  });
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
    cmd->add_option(a.name == std::string("retry") || a.name == std::string("delete") ? "id" : "domain", target, a.arg_help)
        ->required();
    AddConfigOption(cmd, config_path);
    std::string action = a.name;
    cmd->callback([&, action] {
      Config c = LoadConfigOrExit(config_path);
      std::string arg = action == "suspend" || action == "resume" ? ToLowerAscii(target) : target;
      if (auto answer = SendControl(c.control_socket, action, arg)) {
        std::cout << answer->detail << "\n";
        if (!answer->ok) std::exit(1);
        return;
      }
      // No server is running: change the spool; the next `kurier serve` acts on it.
      auto store = OpenStoreOrExit(c);
      auto sp = spool::Spool::Open(c.spool_path, spool::SpoolOptions{c.spool_fsync, c.spool_max_batch}, store.get());
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
