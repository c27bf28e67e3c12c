// pidfd-run: run commands, at most N at once, each with an optional timeout; stream their
// output line by line with the command's number in front; report how each ended, what it
// cost, and what it left behind.
//
//   pidfd-run [OPTION]... -- COMMAND [ARG]...     one command, run as given
//   pidfd-run [OPTION]... [-f FILE]               one command per line (stdin without -f),
//                                                 each run through /bin/sh -c
//
// Each command is one pidfd::async_run: it streams the command's lines to us, applies the
// timeout and grace period, and contains the command (a cgroup of its own, or a process
// group) so that nothing the command started outlives it. The manual: pidfd-run(1)
// (docs/man/pidfd-run.1).
#include "cli.hpp"

#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace po = boost::program_options;
namespace asio = boost::asio;
using namespace pidfd_tools;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr const char* usage_text =
    "Usage: pidfd-run [OPTION]... -- COMMAND [ARG]...\n"
    "   or: pidfd-run [OPTION]... [-f FILE]\n"
    "Run COMMAND, or each line of FILE (standard input without -f) through /bin/sh -c, at\n"
    "most N at once, each with an optional timeout. Every line a command writes is\n"
    "printed as it comes, with the command's number in front (\"[3] ...\"); a summary of\n"
    "how each command ended follows on standard error.\n"
    "\n"
    "Options";

constexpr const char* exit_text =
    "\n"
    "A failure (non-zero exit, signal, timeout) stops the start of new commands unless\n"
    "--keep-going is given; commands already running are let finish. SIGINT, SIGTERM or\n"
    "SIGHUP stop every running command (SIGTERM, SIGKILL after the grace period); a\n"
    "second one kills them at once.\n"
    "\n"
    "Exit status: 0 if every command succeeded; else that of the first command to fail:\n"
    "its exit code, 128+N if killed by signal N, 124 if it timed out, 126 if it could not\n"
    "be run, 127 if it was not found. 125 on bad usage or another error of pidfd-run\n"
    "itself; 128+N if pidfd-run was interrupted by signal N (130 for SIGINT).\n"
    "\n"
    "The manual: man pidfd-run\n";

// A line longer than this is printed in pieces, so one endless line cannot use up memory.
constexpr std::size_t max_line = std::size_t{64} * 1024;
// After a command has ended, how long its output may stay open (a background process
// that inherited it) before the run ends and kills what is left (in cgroup scope the run
// ends as soon as nothing of the command is left).
constexpr clock_type::duration drain_time = std::chrono::seconds(1);

// Writes all of s to fd. After a write error (a closed pipe: SIGPIPE is ignored), output
// to that fd is dropped: the commands still run to the end and the exit code still tells.
void write_all(int fd, const std::string& s) {
  static bool broken[3] = {false, false, false};
  if (fd < 0 || fd > 2 || broken[fd]) return;
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      broken[fd] = true;
      return;
    }
    done += static_cast<std::size_t>(n);
  }
}

// ---- Text in JSON -----------------------------------------------------------------------
// JSON strings are Unicode; commands and their output are bytes. A text field holds the
// bytes as UTF-8 when they are valid UTF-8. Otherwise each maximal ill-formed subsequence
// (Unicode 15, section 3.9, the practice WHATWG's decoder also follows) becomes U+FFFD in
// the text field, and a sibling field "<name>_base64" holds the exact bytes, so that a
// reader who needs them (Python: base64.b64decode) gets them back, while jq and every
// other JSON reader still see readable, valid text.

// The length of the well-formed UTF-8 sequence at the start of s, or 0 if there is none;
// then `bad` is the length of the maximal ill-formed subpart to replace (at least 1).
std::size_t utf8_sequence(std::string_view s, std::size_t& bad) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  bad = 1;
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) length = 2;
  else if (lead >= 0xE0 && lead <= 0xEF) length = 3;
  else if (lead >= 0xF0 && lead <= 0xF4) length = 4;
  else return 0;  // a continuation byte, an overlong lead (C0, C1), or beyond U+10FFFF
  if (lead == 0xE0) low = 0xA0;        // overlong
  else if (lead == 0xED) high = 0x9F;  // a surrogate
  else if (lead == 0xF0) low = 0x90;   // overlong
  else if (lead == 0xF4) high = 0x8F;  // beyond U+10FFFF
  for (std::size_t i = 1; i < length; ++i) {
    const unsigned char lo = i == 1 ? low : 0x80, hi = i == 1 ? high : 0xBF;
    if (i >= s.size() || byte(i) < lo || byte(i) > hi) {
      bad = i;
      return 0;
    }
  }
  return length;
}

bool valid_utf8(std::string_view s) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s.substr(i), bad);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// s with every maximal ill-formed subpart replaced by U+FFFD.
std::string replace_invalid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s.substr(i), bad);
    if (n > 0) out.append(s.substr(i, n));
    else out += "\xEF\xBF\xBD";
    i += n > 0 ? n : bad;
  }
  return out;
}

// Standard base64 (RFC 4648, section 4) with padding.
std::string base64(std::string_view s) {
  static constexpr char digits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((s.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < s.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, s.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k)
      v = (v << 8) | (k < n ? static_cast<unsigned char>(s[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k)
      out += k <= n ? digits[(v >> (18 - 6 * k)) & 0x3F] : '=';
  }
  return out;
}

// Sets o[key] to the bytes as text and, when they are not valid UTF-8, o[key + "_base64"].
void put_text(boost::json::object& o, const std::string& key, std::string_view bytes) {
  if (valid_utf8(bytes)) {
    o[key] = bytes;
    return;
  }
  o[key] = replace_invalid_utf8(bytes);
  o[key + "_base64"] = base64(bytes);
}

// o["argv"], and o["argv_base64"] (every element) when an element is not valid UTF-8.
void put_argv(boost::json::object& o, const std::vector<std::string>& argv) {
  boost::json::array text, bytes;
  bool valid = true;
  for (const auto& a : argv) {
    valid = valid && valid_utf8(a);
    text.emplace_back(replace_invalid_utf8(a));
    bytes.emplace_back(base64(a));
  }
  o["argv"] = std::move(text);
  if (!valid) o["argv_base64"] = std::move(bytes);
}

// At most `limit` bytes of s, cut back to the start of a UTF-8 sequence that the cut
// would split, so that a bound never turns valid text into invalid text.
std::string_view cut_utf8(std::string_view s, std::size_t limit) {
  if (s.size() <= limit) return s;
  // The lead byte of the sequence the cut may split is at most three bytes back.
  std::size_t start = limit;
  while (start > 0 && limit - start < 3 && (static_cast<unsigned char>(s[start - 1]) & 0xC0) == 0x80)
    --start;
  if (start > 0) {
    --start;
    std::size_t bad = 0;
    const std::size_t whole = utf8_sequence(s.substr(start), bad);
    if (whole > 1 && start + whole > limit) return s.substr(0, start);
  }
  return s.substr(0, limit);
}

struct settings {
  std::size_t jobs = 1;
  std::optional<clock_type::duration> timeout;
  clock_type::duration grace = std::chrono::seconds(5);
  bool keep_going = false;
  bool json = false;
  bool quiet = false;
  bool prefix = true;                        // "[N] " in front of each output line
  std::optional<std::size_t> json_output;    // keep this many bytes per stream for the JSON
  bool progress = false;                     // a status line on standard error (a terminal)
  pidfd::run_scope scope = pidfd::run_scope::process_group;
};

// One command and, once it has ended, how.
struct command {
  std::size_t number = 0;              // 1-based, in input order
  std::string text;                    // as shown in reports
  std::vector<std::string> argv;
  bool inherit_stdin = false;

  enum class state { pending, running, ended, spawn_failed, not_started } st = state::pending;
  pidfd::exit_status status;
  pidfd::error_code error;             // the spawn's error, or another error of the run
  bool timed_out = false;
  bool truncated = false;
  clock_type::duration elapsed{};
  std::size_t out_bytes = 0, err_bytes = 0;
  std::string out_kept, err_kept;      // the first bytes of each stream, for --json-output
  std::optional<pidfd::resource_usage> usage;
  std::size_t killed_leftovers = 0;

  bool succeeded() const { return st == state::ended && !timed_out && !error && status.success(); }
  bool failed() const {
    return st == state::spawn_failed || (st == state::ended && !succeeded());
  }
  int exit_code() const {
    if (st == state::spawn_failed)
      return error == boost::system::errc::no_such_file_or_directory ? exit_not_found
                                                                      : exit_cannot_run;
    if (timed_out) return exit_timed_out;
    if (error) return exit_tool_failed;
    return shell_code(status);
  }
  std::string describe() const {
    switch (st) {
      case state::pending:
      case state::not_started: return "not started";
      case state::running: return "running";
      case state::spawn_failed: return "cannot run: " + error.message();
      case state::ended: break;
    }
    std::string text = error ? "unknown: " + error.message()
                             : timed_out ? "timed out, " + status.to_string() : status.to_string();
    if (killed_leftovers == 1) text += ", 1 leftover process killed";
    else if (killed_leftovers > 1)
      text += ", " + std::to_string(killed_leftovers) + " leftover processes killed";
    return text;
  }
};

// Peak memory for the table: "512K", "12.3M", "1.5G" (powers of 1024).
std::string format_bytes(std::uint64_t bytes) {
  char buf[32];
  const double kib = static_cast<double>(bytes) / 1024;
  if (kib < 1024) (void)std::snprintf(buf, sizeof buf, "%.0fK", kib);
  else if (kib < 1024 * 1024) (void)std::snprintf(buf, sizeof buf, "%.1fM", kib / 1024);
  else (void)std::snprintf(buf, sizeof buf, "%.1fG", kib / (1024 * 1024));
  return buf;
}

// Whether a command can run in a cgroup of its own here (a writable cgroup v2 hierarchy,
// CLONE_INTO_CGROUP, cgroup.kill), found out the only sure way, once: by running a shell
// that does nothing in one.
pidfd::error_code try_cgroup_scope() {
  pidfd::run_options o;
  o.spawn.stdin_fd = o.spawn.stdout_fd = o.spawn.stderr_fd = -1;  // /dev/null
  o.capture_stdout = o.capture_stderr = false;
  o.scope = pidfd::run_scope::cgroup;
  pidfd::error_code ec;
  (void)pidfd::run({"/bin/sh", "-c", ":"}, o, ec);
  return ec;
}

// Minutes and seconds ("4:05"), or hours too ("1:02:03"), for the status line.
std::string format_clock(clock_type::duration d) {
  const auto total = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  char buf[48];
  if (total >= 3600)
    (void)std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                        static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  else
    (void)std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(total / 60),
                        static_cast<long long>(total % 60));
  return buf;
}

// The status line of --progress: drawn on standard error (a terminal) by a timer a few
// times a second, erased before any output line is printed and at the end. It is one
// short line, rewritten in place with a carriage return and "erase line" (ESC [ K).
class progress_line {
public:
  explicit progress_line(asio::io_context& io) : timer_(io) {}

  // Draws text() now and again every `period` until stop().
  void start(std::function<std::string()> text) {
    text_ = std::move(text);
    active_ = true;
    tick();
  }

  // Erases the line, if shown, so that an output line can take its place; the next tick
  // draws it again.
  void erase() {
    if (!shown_) return;
    write_all(2, "\r\x1b[K");
    shown_ = false;
  }

  void stop() {
    active_ = false;
    timer_.cancel();
    erase();
  }

private:
  static constexpr auto period = std::chrono::milliseconds(250);

  void tick() {
    if (!active_) return;
    std::string text = text_();
    // A line that wrapped could not be redrawn in place: cut to the terminal's width.
    winsize size{};
    if (::ioctl(2, TIOCGWINSZ, &size) == 0 && size.ws_col > 0 && text.size() >= size.ws_col)
      text.resize(size.ws_col - 1u);
    write_all(2, "\r\x1b[K" + text);
    shown_ = true;
    timer_.expires_after(period);
    timer_.async_wait([this](pidfd::error_code ec) {
      if (!ec) tick();
    });
  }

  asio::steady_timer timer_;
  std::function<std::string()> text_;
  bool active_ = false, shown_ = false;
};

class runner {
public:
  runner(settings s, std::vector<command> cmds)
      : settings_(s),
        commands_(std::move(cmds)),
        cancel_(commands_.size()),
        signals_(io_, SIGINT, SIGTERM, SIGHUP) {}

  int run() {
    wait_for_signal();
    started_ = clock_type::now();
    start_more();
    if (settings_.progress && active_ > 0) progress_.start([this] { return progress_text(); });
    io_.run();
    for (auto& c : commands_)
      if (c.st == command::state::pending) c.st = command::state::not_started;
    report();
    return result();
  }

private:
  int result() const {
    if (interrupted_) return 128 + interrupted_;
    return first_failure_ ? commands_[*first_failure_].exit_code() : 0;
  }

  // Until the last command has ended (start_more() cancels the wait then).
  void wait_for_signal() {
    signals_.async_wait([this](pidfd::error_code ec, int sig) {
      if (ec) return;
      interrupt(sig);
      wait_for_signal();
    });
  }

  // SIGINT, SIGTERM or SIGHUP: nothing more is started, and every running command is
  // cancelled: SIGTERM to all of it, SIGKILL after the grace period, and whatever of it is
  // left when it ends is killed (async_run's partial cancellation, in the command's scope).
  // A second signal does not wait for the grace period: SIGKILL to all of it at once (a
  // terminal cancellation). The exit status names the first signal.
  void interrupt(int sig) {
    const bool again = interrupted_ != 0;
    if (!again) interrupted_ = sig;
    stopping_ = true;
    for (const auto& c : commands_)
      if (c.st == command::state::running)
        cancel_[c.number - 1].emit(again ? asio::cancellation_type::terminal
                                         : asio::cancellation_type::partial);
  }

  void start_more() {
    while (!stopping_ && active_ < settings_.jobs && next_ < commands_.size())
      start(commands_[next_++]);
    if (active_ == 0 && (stopping_ || next_ == commands_.size())) {
      pidfd::error_code ignored;
      signals_.cancel(ignored);
      progress_.stop();
    }
  }

  void start(command& c) {
    c.st = command::state::running;
    ++active_;
    pidfd::async_run(io_.get_executor(), c.argv, run_options_for(c),
                     asio::bind_cancellation_slot(
                         cancel_[c.number - 1].slot(),
                         [this, &c](pidfd::error_code ec, const pidfd::run_result& r) {
                           finished(c, ec, r);
                         }));
  }

  pidfd::run_options run_options_for(command& c) {
    pidfd::run_options o;
    o.spawn.stdin_fd = c.inherit_stdin ? 0 : -1;  // -1: /dev/null
    // A group of its own in every scope: a Ctrl-C at the terminal reaches only pidfd-run,
    // which stops each command in order (SIGTERM, grace, SIGKILL).
    o.spawn.process_group = 0;
    // Streamed, not captured: print() shows each line and keeps what --json-output needs.
    o.capture_stdout = o.capture_stderr = false;
    o.on_output = [this, &c](pidfd::output_stream s, std::string_view piece) {
      print(c, s == pidfd::output_stream::err, piece);
    };
    o.whole_lines = true;
    o.max_line = max_line;
    o.timeout = settings_.timeout;
    o.grace = settings_.grace;
    o.drain = drain_time;
    o.scope = settings_.scope;  // a cgroup: made under our own
    return o;
  }

  void finished(command& c, pidfd::error_code ec, const pidfd::run_result& r) {
    --active_;
    c.status = r.status;
    c.elapsed = r.elapsed;
    c.truncated = r.truncated;
    c.usage = r.usage;
    c.killed_leftovers = r.killed_leftovers;
    if (!r.status.exited() && !r.status.signaled()) {  // nothing ran
      c.st = command::state::spawn_failed;
      c.error = ec;
      progress_.erase();
      write_all(2, "[" + std::to_string(c.number) + "] pidfd-run: cannot run " +
                       (c.inherit_stdin ? c.argv[0] : std::string("/bin/sh")) + ": " +
                       ec.message() + "\n");
    } else {
      c.st = command::state::ended;
      c.timed_out = ec == asio::error::timed_out;
      // Cancelled: by our own interrupt(), which the summary reports.
      if (ec && !c.timed_out && ec != asio::error::operation_aborted) c.error = ec;
    }
    if (c.failed()) {
      if (!first_failure_) first_failure_ = c.number - 1;
      if (!settings_.keep_going) stopping_ = true;
    }
    start_more();
  }

  // One piece of a command's output (a line with its '\n', or a part of a long line):
  // printed whole with one write, after the status line is erased; kept for the JSON.
  void print(command& c, bool from_stderr, std::string_view piece) {
    (from_stderr ? c.err_bytes : c.out_bytes) += piece.size();
    if (settings_.json_output) {
      // Three bytes more than the bound: enough to see whether the bound splits a UTF-8
      // sequence, which the JSON then leaves out whole (cut_utf8).
      const std::size_t keep = *settings_.json_output + 3;
      std::string& kept = from_stderr ? c.err_kept : c.out_kept;
      kept.append(piece.substr(0, keep - std::min(kept.size(), keep)));
    }
    std::string line;
    if (settings_.prefix) line = "[" + std::to_string(c.number) + "] ";
    line += piece;
    if (line.empty() || line.back() != '\n') line += '\n';
    progress_.erase();
    write_all(from_stderr || settings_.json ? 2 : 1, line);
  }

  std::string progress_text() const {
    std::size_t done = 0, failed = 0;
    for (const auto& c : commands_) {
      if (c.st == command::state::ended || c.st == command::state::spawn_failed) ++done;
      if (c.failed()) ++failed;
    }
    const clock_type::duration elapsed = clock_type::now() - started_;
    std::string text = "pidfd-run: " + std::to_string(done) + "/" +
                       std::to_string(commands_.size()) + " done, " + std::to_string(failed) +
                       " failed, " + std::to_string(active_) + " running, " +
                       format_clock(elapsed) + " elapsed";
    if (done > 0 && done < commands_.size())
      text += ", ~" + format_clock(elapsed * static_cast<long>(commands_.size() - done) /
                                        static_cast<long>(done)) + " left";
    return text;
  }

  void report() const {
    if (settings_.json) {
      write_all(1, boost::json::serialize(json_report()) + "\n");
      return;
    }
    if (settings_.quiet) return;
    const tally t = count();
    std::ostringstream os;
    os << "pidfd-run: " << commands_.size() << (commands_.size() == 1 ? " command: " : " commands: ")
       << t.succeeded << " succeeded, " << t.failed << " failed";
    if (t.not_started) os << ", " << t.not_started << " not started";
    if (interrupted_) os << " (interrupted by signal " << interrupted_ << ")";
    os << "\n";
    table(os);
    write_all(2, os.str());
  }

  void table(std::ostream& os) const {
    std::size_t width = 6;
    for (const auto& c : commands_) width = std::max(width, c.describe().size());
    const int w = static_cast<int>(width);
    os << std::right << std::setw(4) << "#" << "  " << std::left << std::setw(w) << "status"
       << std::right << std::setw(10) << "seconds" << std::setw(9) << "cpu" << std::setw(9)
       << "max RSS" << std::setw(12) << "bytes out" << "  command\n";
    for (const auto& c : commands_) {
      const bool ran = c.st == command::state::ended;
      os << std::right << std::setw(4) << c.number << "  " << std::left << std::setw(w)
         << c.describe() << std::right << std::setw(10) << (ran ? format_seconds(c.elapsed) : "-")
         << std::setw(9)
         << (c.usage ? format_seconds(c.usage->user_cpu + c.usage->system_cpu) : "-")
         << std::setw(9) << (c.usage ? format_bytes(c.usage->max_rss_bytes) : "-")
         << std::setw(12) << (std::to_string(c.out_bytes + c.err_bytes) + (c.truncated ? "+" : ""))
         << "  " << c.text << "\n";
    }
  }

  struct tally {
    std::size_t succeeded = 0, failed = 0, not_started = 0;
  };
  tally count() const {
    tally t;
    for (const auto& c : commands_) {
      if (c.succeeded()) ++t.succeeded;
      else if (c.failed()) ++t.failed;
      else ++t.not_started;
    }
    return t;
  }

  boost::json::object json_report() const {
    boost::json::array list;
    for (const auto& c : commands_) list.emplace_back(command_json(c));
    const tally t = count();
    boost::json::object top;
    top["commands"] = std::move(list);
    top["succeeded"] = t.succeeded;
    top["failed"] = t.failed;
    top["not_started"] = t.not_started;
    top["interrupted_by_signal"] =
        interrupted_ ? boost::json::value(interrupted_) : boost::json::value(nullptr);
    top["exit_code"] = result();
    return top;
  }

  boost::json::object command_json(const command& c) const {
    namespace json = boost::json;
    json::object o;
    o["number"] = c.number;
    put_text(o, "command", c.text);
    put_argv(o, c.argv);
    switch (c.st) {
      case command::state::ended:
        o["state"] = c.error ? "unknown" : c.status.signaled() ? "killed" : "exited";
        break;
      case command::state::spawn_failed: o["state"] = "cannot run"; break;
      default: o["state"] = "not started"; break;
    }
    o["exit_code"] = c.status.code() ? json::value(*c.status.code()) : json::value(nullptr);
    o["signal"] = c.status.signal() ? json::value(*c.status.signal()) : json::value(nullptr);
    o["core_dumped"] = c.status.core_dumped();
    o["timed_out"] = c.timed_out;
    o["status"] = c.describe();
    o["error"] = c.error ? json::value(c.error.message()) : json::value(nullptr);
    o["seconds"] = c.st == command::state::ended
                       ? json::value(std::chrono::duration<double>(c.elapsed).count())
                       : json::value(nullptr);
    o["stdout_bytes"] = c.out_bytes;
    o["stderr_bytes"] = c.err_bytes;
    o["output_truncated"] = c.truncated;
    if (c.usage) {
      o["user_cpu_seconds"] = std::chrono::duration<double>(c.usage->user_cpu).count();
      o["system_cpu_seconds"] = std::chrono::duration<double>(c.usage->system_cpu).count();
      o["max_rss_bytes"] = c.usage->max_rss_bytes;
    } else {
      o["user_cpu_seconds"] = o["system_cpu_seconds"] = o["max_rss_bytes"] = nullptr;
    }
    o["killed_leftovers"] = c.killed_leftovers;
    if (settings_.json_output) {
      const std::string_view out = cut_utf8(c.out_kept, *settings_.json_output);
      const std::string_view err = cut_utf8(c.err_kept, *settings_.json_output);
      put_text(o, "stdout", out);
      o["stdout_omitted_bytes"] = c.out_bytes - out.size();
      put_text(o, "stderr", err);
      o["stderr_omitted_bytes"] = c.err_bytes - err.size();
    }
    o["succeeded"] = c.succeeded();
    return o;
  }

  settings settings_;
  std::vector<command> commands_;
  std::vector<asio::cancellation_signal> cancel_;  // by command number - 1
  asio::io_context io_;
  asio::signal_set signals_;
  progress_line progress_{io_};
  clock_type::time_point started_;
  std::size_t next_ = 0, active_ = 0;
  bool stopping_ = false;
  int interrupted_ = 0;
  std::optional<std::size_t> first_failure_;
};

std::vector<command> read_lines(std::istream& in) {
  std::vector<command> cmds;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    command c;
    c.number = cmds.size() + 1;
    c.text = line;
    c.argv = {"/bin/sh", "-c", line};
    cmds.push_back(std::move(c));
  }
  if (in.bad()) throw std::runtime_error("cannot read the command list");
  return cmds;
}

po::options_description option_list() {
  po::options_description options;
  options.add_options()
      ("jobs,j", po::value<std::string>()->value_name("N"),
       "run at most N commands at once (default: the number of CPUs)")
      ("timeout,t", po::value<std::string>()->value_name("SECONDS"),
       "stop a command that runs longer than SECONDS: SIGTERM to all of it, SIGKILL after "
       "the grace period")
      ("kill-after,k", po::value<std::string>()->value_name("GRACE"),
       "the grace period between SIGTERM and SIGKILL (default 5 seconds)")
      ("scope", po::value<std::string>()->value_name("SCOPE"),
       "what one command is, to be stopped and cleaned up whole: 'cgroup' (a cgroup of its "
       "own; the default where one can be made) or 'process-group' (the default elsewhere)")
      ("file,f", po::value<std::string>()->value_name("FILE"),
       "read the commands from FILE, one per line, instead of standard input")
      ("keep-going", "start the remaining commands even after one has failed")
      ("json", "print the summary as JSON on standard output (the commands' output then "
               "goes to standard error)")
      ("json-output", po::value<std::string>()->implicit_value("65536")->value_name("BYTES"),
       "with --json (implied): include each command's output, at most BYTES per stream "
       "(default 65536)")
      ("no-prefix", "print the commands' output lines without the \"[N] \" in front")
      ("progress", "show a status line on standard error while the commands run (only "
                   "when it is a terminal)")
      ("quiet,q", "print no summary table")
      ("help,h", "print this help and exit")
      ("version", "print the version and exit");
  return options;
}

// The scope: as asked, or the one that never leaves anything behind here: a cgroup where
// one can be made (probed once), else the process group.
void choose_scope(settings& s, const po::variables_map& vm) {
  const std::string asked = vm.count("scope") ? vm["scope"].as<std::string>() : "";
  if (!asked.empty() && asked != "cgroup" && asked != "process-group")
    throw usage_error("invalid --scope: '" + asked + "' (expected cgroup or process-group)");
  if (asked == "process-group") return;
  const pidfd::error_code ec = try_cgroup_scope();
  if (!ec) s.scope = pidfd::run_scope::cgroup;
  else if (asked == "cgroup")
    throw std::runtime_error("--scope cgroup: cannot run a command in a cgroup of its own: " +
                             ec.message());
}

settings parse_settings(const po::variables_map& vm) {
  settings s;
  const unsigned cpus = std::thread::hardware_concurrency();
  s.jobs = cpus ? cpus : 1;
  if (vm.count("jobs"))
    s.jobs = static_cast<std::size_t>(parse_count(vm["jobs"].as<std::string>(), "--jobs", 4096));
  if (vm.count("timeout")) s.timeout = parse_seconds(vm["timeout"].as<std::string>(), "--timeout");
  if (vm.count("kill-after"))
    s.grace = parse_seconds(vm["kill-after"].as<std::string>(), "--kill-after");
  s.keep_going = vm.count("keep-going") != 0;
  s.json = vm.count("json") != 0;
  s.quiet = vm.count("quiet") != 0;
  s.prefix = vm.count("no-prefix") == 0;
  if (vm.count("json-output")) {
    s.json = true;
    s.json_output = static_cast<std::size_t>(
        parse_count(vm["json-output"].as<std::string>(), "--json-output", long{1} << 30));
  }
  // Only a terminal shows the status line; anywhere else its redraws would be garbage.
  s.progress = vm.count("progress") != 0 && ::isatty(2) == 1;
  choose_scope(s, vm);
  return s;
}

// The commands: the one after "--" (argv[split] is the "--"), or the lines of -f FILE or
// of standard input.
std::vector<command> read_commands(const po::variables_map& vm, int argc, char** argv,
                                   int split) {
  if (split < argc) {
    if (vm.count("file")) throw usage_error("give either a command after '--' or -f FILE, not both");
    if (split + 1 == argc) throw usage_error("no command after '--'");
    command c;
    c.number = 1;
    c.argv.assign(argv + split + 1, argv + argc);
    c.inherit_stdin = true;
    for (const auto& a : c.argv) c.text += (c.text.empty() ? "" : " ") + a;
    return {std::move(c)};
  }
  if (!vm.count("file")) return read_lines(std::cin);
  const std::string path = vm["file"].as<std::string>();
  std::ifstream in(path);
  if (!in) {
    // errno before the strings below are built; strerror is not thread-safe.
    const int err = errno;
    throw std::runtime_error("cannot open " + path + ": " + std::generic_category().message(err));
  }
  return read_lines(in);
}

int run_main(int argc, char** argv) {
  // Everything after "--" is the command, never options of ours.
  int split = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--") {
      split = i;
      break;
    }
  const po::options_description options = option_list();
  po::variables_map vm;
  po::store(po::command_line_parser(split, argv).options(options).run(), vm);
  po::notify(vm);
  std::ostringstream help;
  help << usage_text << ":\n" << options << exit_text;
  if (answer_help_or_version(vm, "pidfd-run", help.str())) return 0;

  settings s = parse_settings(vm);
  std::vector<command> cmds = read_commands(vm, argc, argv, split);
  // A closed output pipe must not kill pidfd-run while its commands run on.
  (void)::signal(SIGPIPE, SIG_IGN);  // fails only for an invalid signal number
  runner r(s, std::move(cmds));
  return r.run();
}

}  // namespace

int main(int argc, char** argv) {
  return run_tool("pidfd-run", [&] { return run_main(argc, argv); });
}
