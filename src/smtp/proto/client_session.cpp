// client_session.cpp - outbound SMTP client state machine (no I/O).
//
// SECURITY: talks to servers kurier does not control. Replies are parsed with bounds (ReplyParser);
// an unexpected or malformed reply fails the connection and defers, never guesses. The message is
// dot-stuffed and CRLF-normalised on the way out, so kurier never emits a bare LF, a bare CR or any
// SMTP-smuggling end-of-data variant.
// STANDARDS: RFC 5321 (SMTP: EHLO with HELO fall-back 4.1.1.1, transactions 3.3, dot-stuffing 4.5.2,
// reply codes 4.2), RFC 2920 (PIPELINING), RFC 3207 (STARTTLS), RFC 1870 (SIZE), RFC 6152 (8BITMIME),
// RFC 6531 (SMTPUTF8), RFC 3463 (enhanced status codes).
#include "smtp/proto/client_session.hpp"

#include <algorithm>

#include "common/encoding.hpp"

namespace kurier::smtp::proto {

Outcome OutcomeOf(const ServerReply& r) {
  if (r.code >= 200 && r.code < 300) return Outcome::kDelivered;
  if (r.code >= 500) return Outcome::kBounced;
  return Outcome::kDeferred;
}

std::string EncodeData(std::string_view data) {
  std::string out;
  out.reserve(data.size() + data.size() / 50 + 8);
  bool line_start = true;
  for (std::size_t i = 0; i < data.size(); ++i) {
    char c = data[i];
    if (line_start && c == '.') out += '.';
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < data.size() && data[i + 1] == '\n') ++i;
      line_start = true;
    } else if (c == '\n') {
      out += "\r\n";
      line_start = true;
    } else {
      out += c;
      line_start = false;
    }
  }
  if (!line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

ServerReply ClientSession::Synthetic(int code, std::string enhanced, std::string text) {
  ServerReply r;
  r.code = code;
  r.enhanced = enhanced;
  r.lines.push_back(enhanced.empty() ? text : enhanced + " " + text);
  r.local = true;
  return r;
}

ClientSession::ClientSession(ClientConfig config) : config_(std::move(config)) {
  tls_active_ = config_.implicit_tls;
  expect_.push_back(Expect::kGreeting);
}

bool ClientSession::has_extension(std::string_view name) const {
  for (const auto& e : extensions_) {
    std::string_view kw = std::string_view(e).substr(0, e.find(' '));
    if (kw == name) return true;
  }
  return false;
}

void ClientSession::Send(std::string line) {
  out_ += line;
  out_ += "\r\n";
}

void ClientSession::Feed(std::string_view bytes) {
  parser_.Feed(bytes);
  while (status_ != Status::kClosed) {
    auto r = parser_.Next();
    if (!r) {
      if (parser_.failed()) {
        OnConnectionLost("protocol error: " + parser_.error());
      }
      return;
    }
    if (expect_.empty()) {
      // A reply nobody asked for (e.g. 421 on idle): treat it as the server closing on us.
      if (r->code == 421 || r->Permanent() || r->Transient()) FailConnection(*r);
      continue;
    }
    OnReply(*r);
  }
}

void ClientSession::FailConnection(ServerReply r) {
  failure_ = std::move(r);
  if (status_ == Status::kSending) {
    // The transaction dies with the connection: recipients without a final reply get this one,
    // as a deferral (RFC 5321 3.8: 421 means try again later).
    ServerReply deferral = failure_;
    if (deferral.code >= 500 || deferral.code < 400) deferral = Synthetic(451, "4.4.2", "connection failed: " + failure_.ToString());
    for (std::size_t i = 0; i < results_.size(); ++i)
      if (results_[i].reply.code == 0) results_[i] = RecipientResult{Outcome::kDeferred, deferral, failure_.code != 421};
    status_ = Status::kMessageDone;
  } else {
    status_ = Status::kClosed;
  }
  expect_.clear();
  if (failure_.code != 421) Send("QUIT");
  closing_after_results_ = true;
}

void ClientSession::OnConnectionLost(const std::string& reason) {
  ServerReply r = Synthetic(451, "4.4.2", reason);
  if (status_ == Status::kSending) {
    for (auto& res : results_)
      if (res.reply.code == 0) res = RecipientResult{Outcome::kDeferred, r, true};
    status_ = Status::kMessageDone;
    failure_ = r;
  } else if (status_ != Status::kMessageDone) {
    failure_ = r;
    status_ = Status::kClosed;
  }
  expect_.clear();
  closing_after_results_ = true;
}

void ClientSession::OnReply(const ServerReply& r) {
  const Expect e = expect_.front();
  expect_.erase(expect_.begin());
  switch (e) {
    case Expect::kGreeting:
      if (r.code != 220) return FailConnection(r);
      Send("EHLO " + config_.helo_name);
      expect_.push_back(Expect::kEhlo);
      phase_ = Phase::kCommand;
      return;
    case Expect::kEhlo:
      if (r.code == 250) {
        esmtp_ = true;
        extensions_.clear();
        for (std::size_t i = 1; i < r.lines.size(); ++i) {
          std::string ext = r.lines[i];
          auto sp = ext.find(' ');
          for (std::size_t k = 0; k < ext.size() && k < sp; ++k)
            if (ext[k] >= 'a' && ext[k] <= 'z') ext[k] = static_cast<char>(ext[k] - 'a' + 'A');
          extensions_.push_back(ext);
          if (ext.rfind("SIZE", 0) == 0 && sp != std::string::npos) size_limit_ = std::strtoull(ext.c_str() + sp + 1, nullptr, 10);
        }
        pipelining_ = has_extension("PIPELINING");
        return AfterHello();
      }
      if (r.code >= 500 && !tls_active_) {  // RFC 5321 4.1.1.1: fall back to HELO
        Send("HELO " + config_.helo_name);
        expect_.push_back(Expect::kHelo);
        return;
      }
      return FailConnection(r);
    case Expect::kHelo:
      if (r.code != 250) return FailConnection(r);
      esmtp_ = false;
      extensions_.clear();
      pipelining_ = false;
      return AfterHello();
    case Expect::kStartTls:
      if (r.code == 220) {
        status_ = Status::kNeedTls;
        return;
      }
      if (config_.tls == TlsMode::kRequired)
        return FailConnection(Synthetic(450, "4.7.10", "TLS is required for this destination but STARTTLS was refused: " + r.ToString()));
      return AuthenticateOrReady();
    case Expect::kAuth:
      if (r.code != 235) return FailConnection(r);
      status_ = Status::kReady;
      return;
    case Expect::kMail:
      mail_ok_ = r.Positive();
      if (!mail_ok_) FinishRecipients(r, "MAIL");
      if (!pipelining_) {
        if (!mail_ok_) return CompleteTransaction();
        return SendNextSequential();
      }
      return;
    case Expect::kRcpt: {
      std::size_t i = rcpt_replies_++;
      if (mail_ok_) {
        rcpt_ok_[i] = r.Positive();
        if (!r.Positive()) results_[i] = RecipientResult{OutcomeOf(r), r, false, "RCPT"};
      }
      if (!pipelining_) {
        if (rcpt_next_ < msg_.recipients.size()) return SendNextSequential();
        if (std::none_of(rcpt_ok_.begin(), rcpt_ok_.end(), [](bool b) { return b; })) return CompleteTransaction();
        Send("DATA");
        expect_.push_back(Expect::kData);
        phase_ = Phase::kDataInit;
      }
      return;
    }
    case Expect::kData: {
      bool any = mail_ok_ && std::any_of(rcpt_ok_.begin(), rcpt_ok_.end(), [](bool b) { return b; });
      if (r.code == 354) {
        // With PIPELINING the server may still say 354 although every recipient failed: end the
        // (empty) data so the connection stays usable (RFC 2920 3.1).
        out_ += any ? EncodeData(msg_.data) : std::string(".\r\n");
        data_sent_ = any;
        expect_.push_back(Expect::kDot);
        phase_ = Phase::kDataTermination;
        return;
      }
      if (any) FinishRecipients(r, "DATA");
      return CompleteTransaction();
    }
    case Expect::kDot:
      if (data_sent_) FinishRecipients(r, "DATA");
      return CompleteTransaction();
    case Expect::kRset:
      if (!r.Positive()) return FailConnection(r);
      if (status_ != Status::kMessageDone) status_ = Status::kReady;
      return;
    case Expect::kQuit:
    case Expect::kNone:
      status_ = Status::kClosed;
      return;
  }
}

void ClientSession::AfterHello() {
  if (!tls_active_ && config_.tls != TlsMode::kNone && has_extension("STARTTLS")) {
    Send("STARTTLS");
    expect_.push_back(Expect::kStartTls);
    return;
  }
  if (!tls_active_ && config_.tls == TlsMode::kRequired)
    return FailConnection(Synthetic(450, "4.7.10", "TLS is required for this destination but the server does not offer STARTTLS"));
  AuthenticateOrReady();
}

void ClientSession::AuthenticateOrReady() {
  if (config_.auth_username.empty()) {
    status_ = Status::kReady;
    return;
  }
  // Credentials never travel in plaintext.
  if (!tls_active_)
    return FailConnection(Synthetic(450, "4.7.0", "refusing to send the relay password without TLS (the server offers no STARTTLS)"));
  if (!has_extension("AUTH")) return FailConnection(Synthetic(450, "4.7.0", "the relay does not offer AUTH"));
  Send("AUTH PLAIN " + Base64Encode(std::string(1, '\0') + config_.auth_username + std::string(1, '\0') + config_.auth_password));
  expect_.push_back(Expect::kAuth);
}

void ClientSession::OnTlsStarted() {
  tls_active_ = true;
  status_ = Status::kHandshake;
  // RFC 3207 4.2: discard what was learnt before TLS and greet again.
  extensions_.clear();
  Send("EHLO " + config_.helo_name);
  expect_.push_back(Expect::kEhlo);
  phase_ = Phase::kCommand;
}

void ClientSession::StartMessage(const OutboundMessage& message) {
  msg_ = message;
  results_.assign(msg_.recipients.size(), RecipientResult{});
  rcpt_ok_.assign(msg_.recipients.size(), false);
  rcpt_next_ = rcpt_replies_ = 0;
  mail_ok_ = data_sent_ = false;
  status_ = Status::kSending;
  phase_ = Phase::kCommand;
  if (msg_.recipients.empty()) return CompleteTransaction();
  if (msg_.smtputf8 && !has_extension("SMTPUTF8")) {
    FinishRecipients(Synthetic(553, "5.6.7",
                               "the recipient's server does not support SMTPUTF8, which this message's addresses need"));
    status_ = Status::kMessageDone;
    return;
  }
  if (size_limit_ > 0 && msg_.data.size() > size_limit_) {
    FinishRecipients(Synthetic(552, "5.3.4", "message size " + std::to_string(msg_.data.size()) +
                                                 " exceeds the recipient server's limit of " + std::to_string(size_limit_)));
    status_ = Status::kMessageDone;
    return;
  }
  std::string mail = "MAIL FROM:<" + msg_.mail_from + ">";
  if (has_extension("SIZE")) mail += " SIZE=" + std::to_string(msg_.data.size());
  if (msg_.eight_bit && has_extension("8BITMIME")) mail += " BODY=8BITMIME";
  if (msg_.smtputf8) mail += " SMTPUTF8";
  Send(mail);
  expect_.push_back(Expect::kMail);
  if (!pipelining_) return;
  // RFC 2920: MAIL, every RCPT and DATA in one write; replies are matched in order.
  for (; rcpt_next_ < msg_.recipients.size(); ++rcpt_next_) {
    Send("RCPT TO:<" + msg_.recipients[rcpt_next_] + ">");
    expect_.push_back(Expect::kRcpt);
  }
  Send("DATA");
  expect_.push_back(Expect::kData);
}

void ClientSession::SendNextSequential() {
  Send("RCPT TO:<" + msg_.recipients[rcpt_next_++] + ">");
  expect_.push_back(Expect::kRcpt);
}

void ClientSession::FinishRecipients(const ServerReply& r, std::string_view command) {
  for (std::size_t i = 0; i < results_.size(); ++i)
    if (results_[i].reply.code == 0) results_[i] = RecipientResult{OutcomeOf(r), r, false, command};
}

void ClientSession::CompleteTransaction() {
  // Anything left without a reply (e.g. RCPTs after a failed MAIL) shares the transaction's fate.
  status_ = Status::kMessageDone;
  phase_ = Phase::kCommand;
  bool clean = mail_ok_ && data_sent_;
  if (!clean && expect_.empty()) {
    Send("RSET");
    expect_.push_back(Expect::kRset);
  }
}

std::vector<RecipientResult> ClientSession::TakeResults() {
  std::vector<RecipientResult> out = std::move(results_);
  results_.clear();
  // While the RSET after a failed transaction is answered, the session is busy but has no transaction.
  if (status_ == Status::kMessageDone)
    status_ = closing_after_results_ ? Status::kClosed : (expect_.empty() ? Status::kReady : Status::kHandshake);
  return out;
}

void ClientSession::Quit() {
  if (status_ == Status::kClosed) return;
  Send("QUIT");
  expect_.assign(1, Expect::kQuit);
  status_ = Status::kClosed;
}

}  // namespace kurier::smtp::proto
