// coredump_server: receives core dumps from the kernel over a UNIX socket (Linux 6.16).
//
// With kernel.core_pattern set to "@/run/coredump.socket" the kernel connects to that
// socket for every crashing process and writes the core dump into the connection. The
// server knows who crashed without trusting a PID: SO_PEERPIDFD on the accepted connection
// is a pidfd of the crashing task itself, so its pid, credentials, cgroup and coredump
// state (PIDFD_INFO_COREDUMP) are read from the right process even if it is gone and its
// PID reused by the time the dump is complete.
//
//   coredump_server SOCKET DIR     serve forever: each dump goes to DIR/core.<pid>
//   coredump_server --client SOCKET BYTES
//                                  stand in for the kernel's side: connect, write BYTES
//                                  bytes of a recognisable pattern, exit
//   coredump_server --self-test    serve one --client of this program in a temporary
//                                  directory, check the file and what the server logged
//
// The self-test covers everything but the kernel's own connection, which needs the
// machine-wide core_pattern changed (a global sysctl, not something a test may touch).
// To try it for real, as root on 6.16 or later:
//   coredump_server /run/coredump.socket /var/tmp &
//   sysctl kernel.core_pattern=@/run/coredump.socket
//   sh -c 'kill -SEGV $$'
#include <pidfd/kernel.hpp>
#include <pidfd/local_socket.hpp>
#include <pidfd/pid_fd.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace {

// The byte at offset i of a test dump.
char pattern_byte(std::size_t i) { return static_cast<char>('a' + i % 26); }

// What the server saw, in order (the self-test checks it).
struct event_log {
  std::vector<std::string> events;
  void add(const std::string& e) {
    std::cout << "coredump_server: " << e << std::endl;
    events.push_back(e);
  }
};

// Who is dumping, from the pidfd the kernel recorded for the connection.
std::string describe(const pidfd::pid_fd& task, pid_t& pid) {
  pidfd::error_code ec;
  const pidfd::process_info info = task.info(ec);
  if (ec) return "pid unknown (" + ec.message() + ")";
  pid = info.pid;
  std::string s = "pid=" + std::to_string(info.pid) + " uid=" + std::to_string(info.creds.euid) +
                  " cgroup=" + std::to_string(info.cgroup_id);
  if (info.coredump_mask) s += " coredump_mask=" + std::to_string(*info.coredump_mask);
  if (info.coredump_signal) s += " signal=" + std::to_string(*info.coredump_signal);
  return s;
}

asio::awaitable<void> receive_dump(stream_protocol::socket conn, std::filesystem::path dir,
                                   event_log& log, int serial) {
  pid_t pid = 0;
  std::string who;
  pidfd::error_code ec;
  pidfd::pid_fd task = pidfd::peer_pidfd(conn, ec);
  if (ec)
    who = "pid unknown (" + ec.message() + ")";  // before Linux 6.5; no dump socket either
  else
    who = describe(task, pid);
  const std::filesystem::path file =
      dir / ("core." + (pid > 0 ? std::to_string(pid) : "unknown-" + std::to_string(serial)));
  log.add("dump from " + who);

  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  std::vector<char> buffer(65536);
  std::size_t total = 0;
  for (;;) {
    auto [rec, n] = co_await conn.async_read_some(asio::buffer(buffer),
                                                  asio::as_tuple(asio::use_awaitable));
    out.write(buffer.data(), static_cast<std::streamsize>(n));
    total += n;
    if (rec) {
      if (rec != asio::error::eof) log.add("read error: " + rec.message());
      break;
    }
  }
  out.close();
  log.add("wrote " + std::to_string(total) + " bytes to " + file.string());
}

asio::awaitable<void> serve(stream_protocol::acceptor& acceptor, std::filesystem::path dir,
                            event_log& log, int connections) {
  for (int served = 0; connections < 0 || served < connections; ++served) {
    stream_protocol::socket conn = co_await acceptor.async_accept(asio::use_awaitable);
    if (connections < 0)
      asio::co_spawn(acceptor.get_executor(), receive_dump(std::move(conn), dir, log, served),
                     asio::detached);
    else
      co_await receive_dump(std::move(conn), dir, log, served);
  }
}

int run_client(const std::string& socket, std::size_t bytes) {
  asio::io_context io;
  stream_protocol::socket conn(io);
  conn.connect(stream_protocol::endpoint(socket));
  std::string data(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) data[i] = pattern_byte(i);
  asio::write(conn, asio::buffer(data));
  return 0;
}

bool file_has_pattern(const std::filesystem::path& file, std::size_t bytes) {
  std::ifstream in(file, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() != bytes) return false;
  for (std::size_t i = 0; i < bytes; ++i)
    if (data[i] != pattern_byte(i)) return false;
  return true;
}

int self_test(const char* argv0) {
  char dir_template[] = "/tmp/asio-pidfd-coredump-XXXXXX";
  if (!::mkdtemp(dir_template)) return 1;
  const std::filesystem::path dir = dir_template;
  const std::string socket = (dir / "coredump.socket").string();
  constexpr std::size_t bytes = 1 << 20;  // several reads' worth

  asio::io_context io;
  stream_protocol::acceptor acceptor(io, stream_protocol::endpoint(socket));
  event_log log;
  const pid_t client = ::fork();
  if (client < 0) return 1;
  if (client == 0) {
    const std::string n = std::to_string(bytes);
    ::execl("/proc/self/exe", argv0, "--client", socket.c_str(), n.c_str(), nullptr);
    ::_exit(127);
  }
  bool done = false;
  asio::co_spawn(io, serve(acceptor, dir, log, 1), [&](const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
    done = true;
  });
  io.run_for(std::chrono::seconds(30));
  int status = 0;
  const bool client_ok = ::waitpid(client, &status, 0) == client && WIFEXITED(status) &&
                         WEXITSTATUS(status) == 0;

  // With SO_PEERPIDFD the dump is named after the client's pid and the log names it (and
  // its coredump state where the kernel reports one); without it, a serial number.
  const pidfd::kernel_features& k = pidfd::kernel_support();
  const std::string c = std::to_string(client);
  const std::filesystem::path file = dir / (k.peer_pidfd ? "core." + c : "core.unknown-0");
  bool ok = done && client_ok && log.events.size() == 2 && file_has_pattern(file, bytes) &&
            log.events[1] == "wrote " + std::to_string(bytes) + " bytes to " + file.string();
  if (ok && k.peer_pidfd) {
    ok = log.events[0].rfind("dump from pid=" + c + " uid=", 0) == 0 &&
         (log.events[0].find(" coredump_mask=") != std::string::npos) == k.info_coredump;
  } else if (ok) {
    ok = log.events[0].rfind("dump from pid unknown (", 0) == 0;
  }
  std::filesystem::remove_all(dir);
  std::cout << "self-test " << (ok ? "passed" : "FAILED") << std::endl;
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 1 && args[0] == "--self-test") return self_test(argv[0]);
    if (args.size() == 3 && args[0] == "--client")
      return run_client(args[1], std::stoul(args[2]));
    if (args.size() != 2) {
      std::cerr << "usage: coredump_server SOCKET DIR | --client SOCKET BYTES | --self-test\n";
      return 2;
    }
    asio::io_context io;
    std::filesystem::remove(args[0]);
    stream_protocol::acceptor acceptor(io, stream_protocol::endpoint(args[0]));
    event_log log;
    asio::co_spawn(io, serve(acceptor, args[1], log, -1), asio::detached);
    io.run();
  } catch (const std::exception& e) {
    std::cerr << "coredump_server: " << e.what() << "\n";
    return 1;
  }
}
