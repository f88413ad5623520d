// MailboxView's session state: keywords announced with FLAGS/PERMANENTFLAGS before a FETCH
// shows them (RFC 3501 7.2.6) and \Recent kept as a session flag (RFC 3501 2.3.2).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "imap/view.h"

namespace kite::imap {
namespace {

mailstore::Entry E(int64_t uid, std::vector<std::string> flags, int64_t modseq = 1) {
  mailstore::Entry e;
  e.uid = uid;
  e.modseq = modseq;
  e.flags = std::move(flags);
  return e;
}

mailstore::Changes C(std::vector<mailstore::Entry> changed, int64_t highest) {
  mailstore::Changes c;
  c.changed = std::move(changed);
  c.highest_modseq = highest;
  c.uidnext = 100;
  return c;
}

TEST_CASE("FLAGS and PERMANENTFLAGS name the keywords of the mailbox", "[imap][view]") {
  MailboxView v;
  v.Reset({E(1, {"\\Seen", "$Work"}), E(2, {"$Work", "todo"})}, 5, 3);
  CHECK(v.FlagsResponses() ==
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work todo)\r\n"
        "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work todo \\*)] Flags permitted\r\n");
  MailboxView ro;
  ro.Reset({E(1, {"x"})}, 5, 2, MailboxView::Permanent::kNone);
  CHECK(ro.FlagsResponses() == "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft x)\r\n"
                               "* OK [PERMANENTFLAGS ()] Flags permitted\r\n");
}

TEST_CASE("A keyword new to the session is announced before the FETCH that shows it", "[imap][view]") {
  MailboxView v;
  v.Reset({E(1, {}), E(2, {})}, 5, 3);
  std::string out = v.Apply(C({E(2, {"newkw"}, 6)}, 6), {});
  size_t flags = out.find("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft newkw)\r\n");
  size_t permanent = out.find("* OK [PERMANENTFLAGS (");
  size_t fetch = out.find("* 2 FETCH (UID 2 FLAGS (newkw))");
  REQUIRE(flags != std::string::npos);
  REQUIRE(permanent != std::string::npos);
  REQUIRE(fetch != std::string::npos);
  CHECK(flags < fetch);
  CHECK(permanent < fetch);
  // Known now: the next change with it is a plain FETCH.
  out = v.Apply(C({E(1, {"newkw"}, 7)}, 7), {});
  CHECK(out == "* 1 FETCH (UID 1 FLAGS (newkw))\r\n");
  CHECK_FALSE(v.LearnKeywords({"newkw", "\\Seen"}));
  CHECK(v.LearnKeywords({"other"}));
  // A new message bringing a keyword: FLAGS first too.
  out = v.Apply(C({E(3, {"third"}, 8)}, 8), {});
  CHECK(out.find("third)\r\n* OK [PERMANENTFLAGS") != std::string::npos);
  CHECK(out.find("* FLAGS") < out.find("* 3 EXISTS"));
}

TEST_CASE("\\Recent is a session flag above the claimed watermark", "[imap][view]") {
  MailboxView v;
  v.Reset({E(1, {"\\Seen"}), E(2, {}), E(3, {})}, 5, 4);
  v.SetRecentWatermark(1);
  CHECK(v.recent_count() == 2);
  CHECK(v.at(0).flags == std::vector<std::string>{"\\Seen"});
  CHECK(v.at(1).flags == std::vector<std::string>{"\\Recent"});
  // The store's flags never carry \Recent: the same flags plus \Recent are no change.
  CHECK(v.Apply(C({E(2, {}, 6)}, 6), {}).empty());
  // A real change keeps \Recent.
  CHECK(v.Apply(C({E(2, {"\\Seen"}, 7)}, 7), {}) == "* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent))\r\n");
  v.Record(3, {"\\Flagged"}, 8);
  CHECK(v.at(2).flags == std::vector<std::string>{"\\Flagged", "\\Recent"});
  // New messages: another session claimed UID 4 first, this one got 5.
  v.SetRecentWatermark(4);
  std::string out = v.Apply(C({E(4, {}, 9), E(5, {}, 9)}, 9), {});
  CHECK(out == "* 5 EXISTS\r\n* 3 RECENT\r\n");
  CHECK(v.at(3).flags.empty());
  CHECK(v.at(4).flags == std::vector<std::string>{"\\Recent"});
  // Expunging a recent message lowers the count.
  v.Remove({2}, {});
  CHECK(v.recent_count() == 2);
}

TEST_CASE("Without a watermark nothing is recent", "[imap][view]") {
  MailboxView v;
  v.Reset({E(1, {})}, 1, 2);
  CHECK(v.recent_count() == 0);
  CHECK(v.Apply(C({E(2, {}, 2)}, 2), {}) == "* 2 EXISTS\r\n* 0 RECENT\r\n");
}

}  // namespace
}  // namespace kite::imap
