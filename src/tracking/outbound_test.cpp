// Tests of outbound tracking (tracking/outbound.hpp) from its narrow inputs alone: no API context, no
// store; the account defaults and the mailto: address are plain functions here.
#include "tracking/outbound.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "mime/parse.hpp"
#include "spool/spool.hpp"
#include "tracking/token.hpp"

namespace kurier::tracking {
namespace {

const char* const kHtmlMessage =
    "From: a@send.example\r\nTo: r@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><a href=\"https://shop.example/x\">x</a></body></html>\r\n";

Outbound Make(AccountDefaults::Values defaults, bool with_key = true) {
  Outbound out;
  out.link_base = "https://t.{domain}";
  if (with_key) out.key = std::make_shared<const Key>(Key::FromSecret("0123456789abcdef0123456789abcdef").value());
  out.unsubscribe_address = [](const std::string& id, const std::string& from_domain) {
    return "unsubscribe+" + id + "@bounces." + from_domain;
  };
  out.account_defaults = [defaults](const std::string&) { return defaults; };
  return out;
}

spool::SpoolMessage Message(std::string credential, std::string data, spool::SendOptions options = {},
                            bool fields_in_data = false) {
  spool::SpoolMessage m;
  m.options = options;
  m.option_fields_in_data = fields_in_data;
  m.id = "MSG1";
  m.account = "acme";
  m.credential = std::move(credential);
  m.mail_from = "a@Send.Example";
  m.data = std::move(data);
  return m;
}

TEST(TrackingOutbound, LinkBaseTakesTheSendersDomain) {
  EXPECT_EQ(TrackingBase(Make({}), "send.example"), "https://t.send.example");
  Outbound plain;
  plain.link_base = "http://127.0.0.1:8025";
  EXPECT_EQ(TrackingBase(plain, "send.example"), "http://127.0.0.1:8025");
}

TEST(TrackingOutbound, TrackSubmittedFollowsDefaultsAndFields) {
  struct Row {
    const char* name;
    std::string credential;
    std::string data;
    AccountDefaults::Values defaults;
    spool::SendOptions options;
    bool fields_in_data;  // spooled by a version that kept the X-Kurier-* fields in the text
    bool with_key;
    bool changed, click, pixel, list_unsubscribe, per_recipient;
  };
  const std::string html = kHtmlMessage;
  const Row rows[] = {
      {"relayed mail is never touched", "", html, {true, true, true}, {true, true, true}, false, true, false, false, false, false, false},
      {"submission, no defaults", "smtp-user", html, {}, {}, false, true, false, false, false, false, false},
      {"submission, account tracks clicks", "smtp-user", html, {false, true, false}, {}, false, true, true, true, false, false, true},
      {"submission, account tracks opens", "smtp-user", html, {true, false, false}, {}, false, true, true, false, true, false, true},
      {"submission, list-unsubscribe", "smtp-user", html, {false, false, true}, {}, false, true, true, false, false, true, true},
      {"without a key nothing is tracked", "smtp-user", html, {true, true, true}, {true, true, true}, false, false, false, false,
       false, false, false},
      {"API send without options: no copy", "api:1", html, {true, true, true}, {}, false, true, false, false, false, false, false},
      {"API send with options", "api:1", html, {}, {std::nullopt, true, std::nullopt}, false, true, true, true, false, false, true},
      {"API send, options say no", "api:1", html, {true, true, true}, {false, false, false}, false, true, false, false, false,
       false, false},
      {"options over the defaults", "smtp-user", html, {false, true, false}, {std::nullopt, false, std::nullopt}, false, true,
       false, false, false, false, false},
      {"options over the defaults, turning on", "smtp-user", html, {false, false, false}, {true, std::nullopt, true}, false,
       true, true, false, true, true, true},
      // Spooled by an older version: the fields in the text decide, and leave with the message.
      {"old spool: fields decide", "smtp-user", "X-Kurier-Track-Clicks: yes\r\n" + html, {}, {}, true, true, true, true, false,
       false, true},
      {"old spool: fields removed though nothing is tracked", "smtp-user", "X-Kurier-Track-Clicks: no\r\n" + html,
       {false, true, false}, {}, true, true, true, false, false, false, false},
      {"old spool, no fields", "api:1", html, {}, {}, true, true, false, false, false, false, false},
      // A text spooled now is never read for fields: an X-Kurier-* field in it is the sender's text.
      {"new spool: fields in the text are not options", "smtp-user", "X-Kurier-Track-Clicks: yes\r\n" + html, {}, {},
       false, true, false, false, false, false, false},
  };
  for (const auto& r : rows) {
    bool per_recipient = true;
    const std::string out = TrackSubmitted(Make(r.defaults, r.with_key),
                                           Message(r.credential, r.data, r.options, r.fields_in_data), 3, &per_recipient);
    EXPECT_EQ(!out.empty(), r.changed) << r.name << "\n" << out;
    // The rewritten HTML part is re-encoded as quoted-printable (soft line breaks): read it decoded.
    const std::string html_part = mime::DecodeQuotedPrintable(mime::SplitHeaderBody(out).second);
    EXPECT_EQ(html_part.find("https://t.send.example/t/c/") != std::string::npos, r.click) << r.name;
    EXPECT_EQ(html_part.find("https://t.send.example/t/o/") != std::string::npos, r.pixel) << r.name;
    EXPECT_EQ(out.find("List-Unsubscribe: <https://t.send.example/t/u/") != std::string::npos, r.list_unsubscribe) << r.name;
    if (r.fields_in_data) {
      EXPECT_EQ(out.find("X-Kurier-"), std::string::npos) << r.name;
    }
    EXPECT_EQ(per_recipient, r.per_recipient) << r.name;
  }
}

TEST(TrackingOutbound, TokensNameTheRecipientAndListUnsubscribeCarriesTheMailto) {
  const Outbound out = Make({});
  const std::string value = ListUnsubscribeValue(out, "MSG1", "send.example", ", ", 7);
  ASSERT_EQ(value.rfind("<https://t.send.example/t/u/", 0), 0u) << value;
  EXPECT_NE(value.find(">, <mailto:unsubscribe+MSG1@bounces.send.example?subject=unsubscribe>"), std::string::npos) << value;
  const std::string token = value.substr(28, value.find('>') - 28);
  auto payload = OpenToken(*out.key, token);
  ASSERT_TRUE(payload);
  EXPECT_EQ(payload->kind, TokenKind::kUnsubscribe);
  EXPECT_EQ(payload->message_id, "MSG1");
  EXPECT_EQ(payload->recipient_index, 7u);

  Outbound no_mailto = out;
  no_mailto.unsubscribe_address = nullptr;
  EXPECT_EQ(ListUnsubscribeValue(no_mailto, "MSG1", "send.example").find("mailto:"), std::string::npos);
}

TEST(TrackingOutbound, TrackHtmlRewritesLinksAndAddsThePixel) {
  const Outbound out = Make({});
  const std::string html = "<p><a href=\"https://shop.example/a?b=1&amp;c=2\">a</a></p></body>";
  EXPECT_EQ(TrackHtml(out, "MSG1", "send.example", html, false, false), html);
  const std::string both = TrackHtml(out, "MSG1", "send.example", html, true, true, 2);
  EXPECT_EQ(both.find("shop.example"), std::string::npos) << both;
  const auto at = both.find("https://t.send.example/t/c/");
  ASSERT_NE(at, std::string::npos) << both;
  const auto end = both.find('"', at);
  auto click = OpenToken(*out.key, both.substr(at + 27, end - at - 27));
  ASSERT_TRUE(click);
  EXPECT_EQ(click->kind, TokenKind::kClick);
  EXPECT_EQ(click->recipient_index, 2u);
  EXPECT_EQ(click->url, "https://shop.example/a?b=1&c=2");
  EXPECT_NE(both.find("<img src=\"https://t.send.example/t/o/"), std::string::npos) << both;
  EXPECT_LT(both.find("<img"), both.find("</body>"));
}

}  // namespace
}  // namespace kurier::tracking
