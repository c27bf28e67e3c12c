#include "cli.hpp"

#include <pidfd/version.hpp>

#include <boost/program_options/errors.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <iostream>
#include <limits>
#include <system_error>

namespace pidfd_tools {

int shell_code(const pidfd::exit_status& s) noexcept {
  if (auto code = s.code()) return *code;
  if (auto sig = s.signal()) return 128 + *sig;
  return 0;
}

std::chrono::steady_clock::duration parse_seconds(std::string_view text, std::string_view option) {
  double value = 0;
  const char* first = text.data();
  const char* last = first + text.size();
  const auto [end, err] = std::from_chars(first, last, value);
  constexpr double year = 365.0 * 24 * 3600;
  if (text.empty() || err != std::errc() || end != last || !std::isfinite(value) || value < 0 ||
      value > year)
    throw usage_error("invalid number of seconds for " + std::string(option) + ": '" +
                      std::string(text) + "' (expected a number from 0 to " +
                      std::to_string(static_cast<long>(year)) + ", such as 2 or 0.5)");
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(value));
}

long parse_count(std::string_view text, std::string_view option, long max) {
  long value = 0;
  const char* last = text.data() + text.size();
  const auto [end, err] = std::from_chars(text.data(), last, value);
  if (text.empty() || err != std::errc() || end != last || value < 1 || value > max)
    throw usage_error("invalid count for " + std::string(option) + ": '" + std::string(text) +
                      "' (expected a whole number from 1 to " + std::to_string(max) + ")");
  return value;
}

pid_t parse_pid(std::string_view text) {
  long value = 0;
  const char* last = text.data() + text.size();
  const auto [end, err] = std::from_chars(text.data(), last, value);
  if (text.empty() || err != std::errc() || end != last || value < 1 ||
      value > std::numeric_limits<pid_t>::max())
    throw usage_error("not a process id: '" + std::string(text) + "'");
  return static_cast<pid_t>(value);
}

std::string format_seconds(std::chrono::steady_clock::duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  char buf[32];
  // At most 26 bytes with the nul (a 64-bit count): it cannot be truncated.
  (void)std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(ms / 1000),
                      static_cast<long long>(ms % 1000));
  return buf;
}

bool answer_help_or_version(const boost::program_options::variables_map& vm, const char* name,
                            const std::string& help) {
  if (vm.count("help")) {
    std::cout << help;
    return true;
  }
  if (vm.count("version")) {
    std::cout << name << " (asio-pidfd) " << PIDFD_VERSION_STRING << "\n";
    return true;
  }
  return false;
}

int run_tool(const char* name, const std::function<int()>& body) noexcept {
  try {
    try {
      return body();
    } catch (const usage_error& e) {
      std::cerr << name << ": " << e.what() << "\nTry '" << name << " --help'.\n";
    } catch (const boost::program_options::error& e) {
      std::cerr << name << ": " << e.what() << "\nTry '" << name << " --help'.\n";
    } catch (const std::exception& e) {
      std::cerr << name << ": " << e.what() << "\n";
    } catch (...) {
      std::cerr << name << ": unexpected error\n";
    }
  } catch (...) {
    // Even the message could not be written (bad_alloc while formatting it): the exit
    // code still tells.
  }
  return exit_tool_failed;
}

}  // namespace pidfd_tools
