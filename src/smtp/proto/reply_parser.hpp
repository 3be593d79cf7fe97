// reply_parser.hpp - parses SMTP server replies (RFC 5321 4.2), including multi-line replies and
// enhanced status codes (RFC 3463), from a byte stream; no I/O.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kurier::smtp::proto {

struct ServerReply {
  int code = 0;               ///< 200..599
  std::string enhanced;       ///< "2.1.5" when the reply carries one, else empty
  std::vector<std::string> lines;  ///< text of each line, without code and separator
  bool local = false;         ///< kurier made this reply itself (proto::LocalReply); no server sent it
  std::string Text() const;   ///< the lines joined with spaces, enhanced code removed
  std::string ToString() const;  ///< "250 2.1.5 text" for logs and events
  bool Positive() const { return code >= 200 && code < 400; }
  bool Transient() const { return code >= 400 && code < 500; }
  bool Permanent() const { return code >= 500; }
};

class ReplyParser {
 public:
  /// Appends bytes from the server.
  void Feed(std::string_view bytes) { buf_.append(bytes); }
  /// The next complete reply, nullopt when more bytes are needed. A malformed or over-long reply
  /// sets error() and returns nullopt for good.
  std::optional<ServerReply> Next();
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  /// Bytes received but not consumed (after a reply that was not expected yet).
  bool HasBufferedInput() const { return pos_ < buf_.size(); }

  static constexpr std::size_t kMaxLine = 4096;
  static constexpr std::size_t kMaxLines = 200;

 private:
  std::string buf_;
  std::size_t pos_ = 0;
  ServerReply partial_;
  std::string error_;
};

}  // namespace kurier::smtp::proto
