// mime_dump FILE: parses FILE with kite_mime and prints the part tree as JSON (type, subtype,
// params, encoded body, transfer-decoded size, children) for mime_crosscheck.py.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "lib/mime/message.h"

namespace {

std::string Json(std::string_view s) {
  std::string r = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      r.push_back('\\');
      r.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);  // bytes as code points 0..255
      r += buf;
    } else {
      r.push_back(static_cast<char>(c));
    }
  }
  return r + "\"";
}

void Dump(std::string_view raw, const kite::mime::Part& p, std::string& out) {
  out += "{\"type\":" + Json(p.type) + ",\"subtype\":" + Json(p.subtype) + ",\"params\":{";
  for (size_t i = 0; i < p.params.size(); ++i) {
    if (i) out += ",";
    out += Json(p.params[i].name) + ":" + Json(p.params[i].value);
  }
  out += "},\"body\":" + Json(raw.substr(p.body_offset, p.body_size));
  out += ",\"lines\":" + std::to_string(p.body_lines);
  if (p.children.empty()) {
    out += ",\"decoded_size\":" + std::to_string(kite::mime::TransferDecode(raw, p).size());
  }
  out += ",\"children\":[";
  for (size_t i = 0; i < p.children.size(); ++i) {
    if (i) out += ",";
    Dump(raw, p.children[i], out);
  }
  out += "]}";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: mime_dump FILE\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string raw = ss.str();
  auto msg = kite::mime::Parse(raw);
  std::string out = "{\"size\":" + std::to_string(msg.size) +
                    ",\"bodystructure\":" + Json(kite::mime::ImapBody(msg.root, true)) +
                    ",\"envelope\":" + Json(kite::mime::ImapEnvelope(msg.envelope)) + ",\"root\":";
  Dump(raw, msg.root, out);
  std::cout << out << "}\n";
  return 0;
}
