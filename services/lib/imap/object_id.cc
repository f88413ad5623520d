#include "lib/imap/object_id.h"

#include "absl/strings/str_cat.h"

namespace kite::imap {

std::string MailboxObjectId(int64_t mailbox_id) { return absl::StrCat("M", mailbox_id); }

std::string EmailObjectId(int64_t message_id) { return absl::StrCat("E", message_id); }

bool IsValidObjectId(std::string_view id) {
  if (id.empty() || id.size() > 255) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace kite::imap
