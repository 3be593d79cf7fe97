// ingress.cpp - see ingress.hpp. STANDARDS: RFC 5321 4.4, RFC 6409 8, RFC 5321 3.3.
#include "ingress/ingress.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <mutex>

#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "ingress/prepare.hpp"
#include "mime/header_fields.hpp"
#include "mime/parse.hpp"
#include "mime/rewrite.hpp"
#include "smtp/proto/header_from.hpp"
#include "store/store.hpp"

namespace kurier::ingress {

namespace {
// The Subject of a message for its `accepted` event, as the API's sends carry it: unfolded, RFC 2047
// words decoded, at most 998 octets; left out when it is not UTF-8 (it goes into JSON).
std::string SubjectOf(std::string_view message) {
  std::string subject;
  mime::ForEachField(message, [&](std::string_view name, std::size_t start, std::size_t end) {
    if (!IEquals(name, "Subject")) return true;
    subject = mime::DecodeEncodedWords(mime::FieldValue(message, start, end));
    return false;
  });
  if (subject.size() > 998) {
    std::size_t cut = 998;
    while (cut > 0 && (static_cast<unsigned char>(subject[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
    subject.resize(cut);
  }
  return IsValidUtf8(subject) ? subject : std::string();
}
}  // namespace

Prepared Prepare(const Origin& o, Envelope env, std::string_view raw, const std::string& hostname, bool read_options,
                 int64_t now, std::string id) {
  Prepared p;
  spool::SpoolMessage& m = p.message;
  m.id = id.empty() ? NewQueueId() : std::move(id);
  m.received_at = now;
  m.account = o.account;
  m.credential = o.credential;
  m.client_ip = o.client_ip;
  m.helo = o.helo;
  m.tls_version = o.tls_version;
  m.tls_cipher = o.tls_cipher;
  m.mail_from = std::move(env.mail_from);
  m.recipients = std::move(env.recipients);
  m.body_type = std::move(env.body_type);
  m.smtputf8 = env.smtputf8;
  m.options.test = o.test_mode;
  std::string without_fields;  // the text without the X-Kurier-* fields read (they become the message's own)
  if (read_options) {
    auto options = ReadSubmissionOptions(raw);
    if (!options.error.empty()) {
      p.error = "header field " + options.error + "; fix that header field and send the message again";
      return p;
    }
    m.tags = std::move(options.tags);
    m.metadata = std::move(options.metadata);
    m.options.SetTracking(options);
    if (options.present) raw = without_fields = RemoveSubmissionOptionFields(raw);
  }
  // Mail leaves within RFC 5322's line limit: long header lines folded, long body lines re-encoded, here
  // once (so delivery, DKIM and any DSN quoting the message work on text that keeps it); what cannot be
  // fitted refuses the message, for SMTP and HTTP alike.
  std::string fitted;
  if (auto fit = mime::FitLineLength(raw); !fit.error.empty()) {
    p.error = fit.error;
    return p;
  } else if (fit.text) {
    fitted = std::move(*fit.text);
    raw = fitted;
  }
  m.subject = SubjectOf(raw);
  TraceInfo t;
  static_cast<Peer&>(t) = o;
  t.hostname = hostname;
  t.queue_id = m.id;
  t.smtputf8 = env.smtputf8;
  if (m.recipients.size() == 1) t.recipients = m.recipients;  // the Received: line names a lone recipient
  t.time = now;
  m.data = PrepareMessage(raw, t);
  m.size = m.data.size();
  return p;
}

std::optional<smtp::proto::SenderRules> Ingress::RulesOf(const std::string& account) {
  auto acc = store_.FindAccount(account);
  if (!acc || !acc.value()) return std::nullopt;
  const auto& a = **acc;
  return smtp::proto::SenderRules{account, a.sender_domains, a.sandbox, a.verified_domains};
}

std::optional<std::string> Ingress::SenderProblem(const std::optional<smtp::proto::SenderRules>& rules,
                                                  const std::string& account, const std::string& from) {
  if (!rules) return "account '" + account + "' no longer exists";
  std::string problem = smtp::proto::EnvelopeSenderProblem(*rules, from, from.substr(from.rfind('@') + 1));
  if (problem.empty()) return std::nullopt;
  return problem;
}

std::optional<std::string> Ingress::RecipientRefusal(const std::string& account, const std::string& recipient) const {
  auto found = store_.FindSuppressions(account, {recipient});
  if (!found || found->empty()) return std::nullopt;  // unreadable: accepted here, checked again at DATA
  const store::Suppression& s = found->front();
  return "<" + recipient + "> is on " + (s.account.empty() ? "the global" : "this account's") + " suppression list (" +
         s.reason + " since " + FormatTimeUtc(s.created_at) + "); kurier sends nothing to it. If it should receive "
         "mail again, remove it: DELETE /v1/suppressions/" + ToLowerAscii(recipient);
}

Result<std::vector<std::vector<Suppressed>>> Ingress::DropSuppressed(std::vector<spool::SpoolMessage>& messages) {
  std::vector<std::vector<Suppressed>> dropped(messages.size());
  std::map<std::string, std::vector<std::string>> by_account;  // a batch is one account's; SMTP one message
  for (const auto& m : messages) {
    auto& all = by_account[m.account];
    all.insert(all.end(), m.recipients.begin(), m.recipients.end());
  }
  std::map<std::pair<std::string, std::string>, store::Suppression> found;  // (account, lower-case address)
  for (const auto& [account, addresses] : by_account) {
    auto list = store_.FindSuppressions(account, addresses);
    if (!list) return list.error();
    for (auto& s : list.value()) found.emplace(std::pair{account, s.address}, std::move(s));
  }
  if (found.empty()) return dropped;
  std::vector<store::Event> events;
  const int64_t now = NowMicros();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    auto& m = messages[i];
    std::vector<std::string> left;
    for (const auto& a : m.recipients) {
      auto it = found.find(std::pair{m.account, ToLowerAscii(a)});
      if (it == found.end()) {
        left.push_back(a);
        continue;
      }
      const auto& s = it->second;
      dropped[i].push_back(Suppressed{a, s.reason});
      boost::json::object data{{"recipient", a}, {"reason", s.reason}, {"suppressed_at", FormatTimeUtc(s.created_at)},
                               {"scope", s.account.empty() ? "global" : "account"}, {"mail_from", m.mail_from}};
      if (m.tags != "[]") data["tags"] = boost::json::parse(m.tags);
      if (m.metadata != "{}") data["metadata"] = boost::json::parse(m.metadata);
      events.push_back(store::Event{0, now, "suppressed", m.id, m.account, boost::json::serialize(data)});
    }
    if (!dropped[i].empty()) m.recipients = std::move(left);
  }
  if (auto r = store_.AppendEvents(events); !r) spdlog::error("ingress: cannot record suppressed events: {}", r.error().message);
  return dropped;
}

void Ingress::Submit(spool::SpoolMessage message, std::function<void(Result<std::string>)> done) {
  if (message.recipients.empty()) return done(message.id);  // every recipient suppressed: nothing to send
  spool_.Submit(std::move(message), std::move(done));
}

void Ingress::Submit(std::vector<spool::SpoolMessage> messages, std::function<void(bool, std::string)> done) {
  std::erase_if(messages, [](const spool::SpoolMessage& m) { return m.recipients.empty(); });
  if (messages.empty()) return done(true, "");
  struct State {
    std::mutex mu;
    std::size_t remaining;
    std::string error;
    std::function<void(bool, std::string)> done;
  };
  auto st = std::make_shared<State>();
  st->remaining = messages.size();
  st->done = std::move(done);
  for (auto& m : messages) {
    // Runs on the spool's committer thread: an exception must not escape into it (it would end the
    // process). It is logged; the caller's reply, dropped with `st`, then answers 500 (Router::Handle).
    spool_.Submit(std::move(m), [st](Result<std::string> r) {
      try {
        std::unique_lock lock(st->mu);
        if (!r && st->error.empty()) st->error = r.error().message;
        if (--st->remaining > 0) return;
        lock.unlock();
        st->done(st->error.empty(), st->error);
      } catch (const std::exception& e) {
        spdlog::error("ingress: completing a submission failed with an exception: {}", e.what());
      } catch (...) {
        spdlog::error("ingress: completing a submission failed with an exception");
      }
    });
  }
}

}  // namespace kurier::ingress
