// What the command-line tools share: their exit codes, the parsing of numbers given on a
// command line, and the running of a tool's body so that no exception escapes main().
#ifndef PIDFD_TOOLS_CLI_HPP
#define PIDFD_TOOLS_CLI_HPP

#include <pidfd/exit_status.hpp>

#include <boost/program_options/variables_map.hpp>

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pidfd_tools {

/// Exit codes shared by the tools; they follow timeout(1) where they overlap.
inline constexpr int exit_timed_out = 124;    ///< a timeout expired
inline constexpr int exit_tool_failed = 125;  ///< the tool itself failed (bad usage, ...)
inline constexpr int exit_cannot_run = 126;   ///< a command was found but could not run
inline constexpr int exit_not_found = 127;    ///< a command was not found

/// A mistake on the command line: the tool prints "<tool>: <what>" and a hint to use
/// --help, and exits with exit_tool_failed.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The exit code that mirrors a status the way a shell reports it: the exit code, or
/// 128 + N for a process killed by signal N. 0 for "no status".
int shell_code(const pidfd::exit_status& s) noexcept;

/// A duration in seconds as typed by a user: "3", "0.5", "1e-3". Not negative, finite,
/// and at most a year. `option` names the option in the error message.
std::chrono::steady_clock::duration parse_seconds(std::string_view text, std::string_view option);

/// A positive decimal integer no larger than `max`.
long parse_count(std::string_view text, std::string_view option, long max);

/// A process id: a positive decimal number within pid_t.
pid_t parse_pid(std::string_view text);

/// Seconds with millisecond precision, for reports: "1.234".
std::string format_seconds(std::chrono::steady_clock::duration d);

/// The options every tool has: prints `help` for --help or "<name> (asio-pidfd) <version>"
/// for --version on stdout and returns true if either was given.
bool answer_help_or_version(const boost::program_options::variables_map& vm, const char* name,
                            const std::string& help);

/// Runs body (the tool's main) and turns every escaping exception into a message on
/// stderr and an exit code: usage_error and Boost.Program_options errors give
/// exit_tool_failed with a hint to use --help; anything else gives exit_tool_failed too.
int run_tool(const char* name, const std::function<int()>& body) noexcept;

}  // namespace pidfd_tools

#endif  // PIDFD_TOOLS_CLI_HPP
