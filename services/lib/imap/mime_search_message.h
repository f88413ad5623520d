// MimeSearchMessage: the SearchMessage view (search.h) over a stored message's raw bytes and
// its parse-once structure (lib/mime), so the IMAP session supplies only the metadata it
// already has (sequence number, UID, flags, size, dates, mod-sequence).
//
// Standards: those of lib/mime (RFC 5322 headers, RFC 2045/2046 structure, RFC 2047 encoded
// words, charset conversion for SEARCH) and RFC 3501 6.4.4 (TEXT searches header and body).
//
// Untrusted input: the message bytes. Everything is computed lazily on first use and cached
// for the lifetime of the object; header values and body text are bounded by lib/mime's
// limits (1 MiB of values per field name, 4 MiB of body text).
#ifndef KITE_SERVICES_LIB_IMAP_MIME_SEARCH_MESSAGE_H_
#define KITE_SERVICES_LIB_IMAP_MIME_SEARCH_MESSAGE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/imap/search.h"
#include "lib/mime/message.h"

namespace kite::imap {

// What the session knows about a message without reading it.
struct SearchMetadata {
  uint32_t seq = 0;
  uint32_t uid = 0;
  std::vector<std::string> flags;
  uint64_t size = 0;
  int64_t internal_date = 0;  // unix seconds
  uint64_t modseq = 0;
  bool recent = false;
  std::string email_id;              // RFC 8474 EMAILID
  std::optional<int64_t> save_date;  // RFC 8514; nullopt: none stored (or not loaded)
};

class MimeSearchMessage final : public SearchMessage {
 public:
  // raw: the whole message, or just its header block (up to and including the blank line)
  // when NeedsBody() is false, or empty when NeedsHeaders() is false. parsed: raw's parse
  // (mime::Parse / DecodeStorage of the whole message), or null to parse raw on first use.
  // With parsed but no raw, the envelope still answers Date, Subject, Message-ID,
  // In-Reply-To and the addresses (SORT without References needs no bytes).
  // raw and parsed must outlive this object.
  MimeSearchMessage(SearchMetadata meta, std::string_view raw,
                    const mime::Message* parsed = nullptr);

  // Lazy form: the loader is called at most twice, on first use: with whole = false when
  // only headers are needed (the header block is enough, the whole message is fine too),
  // and with whole = true when body text is needed. It returns the bytes, which this object
  // keeps. A query decided by flags or sizes alone never calls it.
  using Loader = std::function<std::string(bool whole)>;
  MimeSearchMessage(SearchMetadata meta, Loader loader);

  uint32_t seq() const override { return meta_.seq; }
  uint32_t uid() const override { return meta_.uid; }
  const std::vector<std::string>& flags() const override { return meta_.flags; }
  uint64_t size() const override { return meta_.size; }
  int64_t internal_date() const override { return meta_.internal_date; }
  uint64_t modseq() const override { return meta_.modseq; }
  bool recent() const override { return meta_.recent; }
  std::string email_id() const override { return meta_.email_id; }
  std::optional<int64_t> save_date() const override { return meta_.save_date; }

  std::vector<std::string> Header(std::string_view name) override;
  std::string HeaderText() override;
  std::string BodyText() override;
  // From the parsed envelope (RFC 3501 7.4.2 addresses, groups skipped), the display name
  // decoded to UTF-8.
  std::optional<SearchAddress> FirstAddress(std::string_view name) override;

 private:
  const mime::Message& Parsed();
  void Load(bool whole);

  SearchMetadata meta_;
  std::string_view raw_;
  const mime::Message* parsed_ = nullptr;
  Loader loader_;
  std::string loaded_;
  bool loaded_header_ = false, loaded_whole_ = false;
  std::optional<mime::Message> own_;
  std::map<std::string, std::vector<std::string>> headers_;  // by lower-case name
  std::optional<std::string> header_text_;
  std::optional<std::string> body_text_;
};

// The values of the kStoredSearchFields of a message, as MimeSearchMessage::Header gives them
// (unfolded, encoded words decoded), in kStoredSearchFields order: stored with the message at
// delivery so SEARCH FROM/TO/CC/BCC/SUBJECT need not read it again.
using StoredSearchFields = std::vector<std::vector<std::string>>;
StoredSearchFields ComputeStoredSearchFields(std::string_view raw, const mime::Message* parsed = nullptr);

// A message as SEARCH sees it when only its stored fields are at hand (UsesOnlyStoredFields):
// Header() answers the kStoredSearchFields, nothing else is ever asked.
class StoredFieldsMessage final : public SearchMessage {
 public:
  StoredFieldsMessage(SearchMetadata meta, const StoredSearchFields& fields) : meta_(std::move(meta)), fields_(fields) {}
  uint32_t seq() const override { return meta_.seq; }
  uint32_t uid() const override { return meta_.uid; }
  const std::vector<std::string>& flags() const override { return meta_.flags; }
  uint64_t size() const override { return meta_.size; }
  int64_t internal_date() const override { return meta_.internal_date; }
  uint64_t modseq() const override { return meta_.modseq; }
  bool recent() const override { return meta_.recent; }
  std::string email_id() const override { return meta_.email_id; }
  std::optional<int64_t> save_date() const override { return meta_.save_date; }
  std::vector<std::string> Header(std::string_view name) override;
  std::string HeaderText() override { return {}; }
  std::string BodyText() override { return {}; }

 private:
  SearchMetadata meta_;
  const StoredSearchFields& fields_;
};

}  // namespace kite::imap

#endif  // KITE_SERVICES_LIB_IMAP_MIME_SEARCH_MESSAGE_H_
