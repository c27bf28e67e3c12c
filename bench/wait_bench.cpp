// Wait benchmark: the cost of being told that a child process has ended.
//
// Four implementations run in one process, round by round in rotating order:
//   raw epoll      no Asio: epoll with EPOLLONESHOT on each pidfd + waitid (the floor)
//   hand Asio      posix::stream_descriptor::async_wait(wait_read) + waitid, written by hand
//   async_pidfd    this library
//   Boost.Process  boost::process::v2::process + async_wait (its own launcher)
// All but Boost.Process start children with pidfd::spawn. The child is a static program
// that exits 0 at once (or blocks until killed).
// Workloads:
//   (a) spawn + wait throughput: N children (default 2000), 32 in flight; children per
//       second and the parent's CPU time (getrusage) per child
//   (b) exit-notification latency: 64 blocked children killed one at a time; p50/p99 from
//       the kill to the completion handler
//   (c) scale: M children (default 10000) watched at once; heap bytes (mallinfo2) and fds
//       per watched child, and the time from a mass SIGKILL to all reaped
// Every figure is the median over the rounds; "x" columns are the median of the per-round
// ratios to each baseline (paired round by round).
//
// Run pinned:  taskset -c 0 build/bench/asio-pidfd-bench-wait [rounds] [N] [M]
// System calls of one implementation: see WAIT_BENCH_ONLY in main().
#include <pidfd/async_pidfd.hpp>
#include <pidfd/spawn.hpp>

// Boost.Process v2 is the peer where bench/meson.build found it usable
// (ASIO_PIDFD_BENCH_BP2): header-only up to Boost 1.87, the boost_process library from 1.88.
#if ASIO_PIDFD_BENCH_BP2
#include "bp2.hpp"
#endif

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <dirent.h>
#include <malloc.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

std::string helper;  // path of asio-pidfd-bench-exit-helper

constexpr int in_flight = 32;
constexpr int latency_children = 64;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(2);
}

pidfd::pid_fd spawn_exit() { return pidfd::spawn({helper}); }
pidfd::pid_fd spawn_block() { return pidfd::spawn({helper, "block"}); }

void reap_raw(int fd) {
  siginfo_t si{};
  if (::syscall(SYS_waitid, P_PIDFD, fd, &si, WEXITED, nullptr) != 0) die("waitid");
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Bytes in use from malloc, including large blocks it mmaps (such as a vector of 10000
// objects; whether those are mmapped depends on glibc's moving threshold).
long heap_bytes() {
  const struct mallinfo2 mi = ::mallinfo2();
  return static_cast<long>(mi.uordblks + mi.hblkhd);
}

long open_fd_count() {
  long n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the directory stream's own fd
}

double elapsed_us(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// ---------------------------------------------------------------------------------------
// (a) throughput. Each returns {wall seconds, parent CPU seconds}.

struct throughput {
  double wall, cpu;
};

template <class Body>
throughput measure(Body body) {
  const double c0 = cpu_seconds();
  const auto t0 = clock_type::now();
  body();
  return {std::chrono::duration<double>(clock_type::now() - t0).count(), cpu_seconds() - c0};
}

throughput a_raw(int n) {
  return measure([n] {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    int started = 0, done = 0;
    auto start_one = [&] {
      const int fd = spawn_exit().release();
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLONESHOT;
      ev.data.fd = fd;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
      ++started;
    };
    while (started < std::min(n, in_flight)) start_one();
    epoll_event evs[in_flight];
    while (done < n) {
      const int k = ::epoll_wait(ep, evs, in_flight, -1);
      for (int i = 0; i < k; ++i) {
        reap_raw(evs[i].data.fd);
        ::close(evs[i].data.fd);
        ++done;
        if (started < n) start_one();
      }
    }
    ::close(ep);
  });
}

throughput a_hand(int n) {
  return measure([n] {
    asio::io_context io;
    int started = 0;
    std::vector<std::unique_ptr<asio::posix::stream_descriptor>> slots;
    std::function<void(asio::posix::stream_descriptor&)> arm =
        [&](asio::posix::stream_descriptor& d) {
          d.async_wait(asio::posix::descriptor_base::wait_read,
                       [&d, &arm, &started, n](boost::system::error_code ec) {
                         if (ec) die("async_wait");
                         reap_raw(d.native_handle());
                         d.close();
                         if (started < n) {
                           d.assign(spawn_exit().release());
                           ++started;
                           arm(d);
                         }
                       });
        };
    for (int i = 0; i < std::min(n, in_flight); ++i) {
      slots.push_back(std::make_unique<asio::posix::stream_descriptor>(io, spawn_exit().release()));
      ++started;
      arm(*slots.back());
    }
    io.run();
  });
}

throughput a_lib(int n) {
  return measure([n] {
    asio::io_context io;
    int started = 0;
    std::vector<std::unique_ptr<pidfd::async_pidfd>> slots;
    std::function<void(pidfd::async_pidfd&)> arm = [&](pidfd::async_pidfd& p) {
      p.async_wait([&p, &arm, &started, n](pidfd::error_code ec, pidfd::exit_status) {
        if (ec) die("async_wait");
        p.close();
        if (started < n) {
          p.assign(spawn_exit());
          ++started;
          arm(p);
        }
      });
    };
    for (int i = 0; i < std::min(n, in_flight); ++i) {
      slots.push_back(std::make_unique<pidfd::async_pidfd>(io, spawn_exit()));
      ++started;
      arm(*slots.back());
    }
    io.run();
  });
}

#if ASIO_PIDFD_BENCH_BP2
throughput a_bp2(int n) {
  return measure([n] {
    asio::io_context io;
    int started = 0;
    std::vector<std::optional<bp2::process>> slots(
        static_cast<std::size_t>(std::min(n, in_flight)));
    std::function<void(std::size_t)> start = [&](std::size_t i) {
      slots[i].emplace(io.get_executor(), helper, std::vector<std::string>{});
      ++started;
      slots[i]->async_wait([&, i](boost::system::error_code ec, int) {
        if (ec) die("bp2 async_wait");
        if (started < n) start(i);
      });
    };
    for (std::size_t i = 0; i < slots.size(); ++i) start(i);
    io.run();
  });
}
constexpr bool have_bp2 = true;
#else
constexpr bool have_bp2 = false;
throughput a_bp2(int) { die("Boost.Process v2 is not built in (see meson's summary)"); }
#endif

// ---------------------------------------------------------------------------------------
// (b) latency: microseconds from the kill to the handler, for each child.

std::vector<double> b_raw() {
  std::vector<int> fds;
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < latency_children; ++i) {
    fds.push_back(spawn_block().release());
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.fd = fds.back();
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fds.back(), &ev);
  }
  std::vector<double> out;
  for (int fd : fds) {
    const auto t0 = clock_type::now();
    if (::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0) != 0) die("kill");
    epoll_event ev;
    while (::epoll_wait(ep, &ev, 1, -1) != 1) {
    }
    reap_raw(ev.data.fd);
    out.push_back(elapsed_us(t0, clock_type::now()));
    ::close(ev.data.fd);
  }
  ::close(ep);
  return out;
}

std::vector<double> b_hand() {
  asio::io_context io;
  std::vector<std::unique_ptr<asio::posix::stream_descriptor>> ds;
  clock_type::time_point t0;
  std::vector<double> out;
  for (int i = 0; i < latency_children; ++i) {
    ds.push_back(std::make_unique<asio::posix::stream_descriptor>(io, spawn_block().release()));
    auto& d = *ds.back();
    d.async_wait(asio::posix::descriptor_base::wait_read, [&](boost::system::error_code) {
      reap_raw(d.native_handle());
      out.push_back(elapsed_us(t0, clock_type::now()));
    });
  }
  for (auto& d : ds) {
    t0 = clock_type::now();
    if (::syscall(SYS_pidfd_send_signal, d->native_handle(), SIGKILL, nullptr, 0) != 0)
      die("kill");
    const std::size_t before = out.size();
    while (out.size() == before) io.run_one();
  }
  return out;
}

std::vector<double> b_lib() {
  asio::io_context io;
  std::vector<std::unique_ptr<pidfd::async_pidfd>> ps;
  clock_type::time_point t0;
  std::vector<double> out;
  for (int i = 0; i < latency_children; ++i) {
    ps.push_back(std::make_unique<pidfd::async_pidfd>(io, spawn_block()));
    ps.back()->async_wait([&](pidfd::error_code, pidfd::exit_status) {
      out.push_back(elapsed_us(t0, clock_type::now()));
    });
  }
  for (auto& p : ps) {
    t0 = clock_type::now();
    p->kill();
    const std::size_t before = out.size();
    while (out.size() == before) io.run_one();
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// (c) scale: heap and fds per watched child, and the time from mass SIGKILL to all reaped.

struct scale {
  double heap_per_child, fds_per_child, reap_all_ms;
};

scale c_raw(int m) {
  std::vector<pidfd::pid_fd> kids;
  kids.reserve(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) kids.push_back(spawn_block());
  const long h0 = heap_bytes();
  const long f0 = open_fd_count();
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> fds(static_cast<std::size_t>(m));  // what the loop keeps per child
  for (int i = 0; i < m; ++i) {
    fds[static_cast<std::size_t>(i)] = kids[static_cast<std::size_t>(i)].native_handle();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.fd = fds[static_cast<std::size_t>(i)];
    ::epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
  }
  scale s{};
  s.heap_per_child = static_cast<double>(heap_bytes() - h0) / m;
  // The pidfds were opened before f0, so count them in: 1 each, plus the epoll fd.
  s.fds_per_child = static_cast<double>(open_fd_count() - f0 + m) / m;
  const auto t0 = clock_type::now();
  for (auto& k : kids) k.kill();
  std::vector<epoll_event> evs(1024);
  int done = 0;
  while (done < m) {
    const int k = ::epoll_wait(ep, evs.data(), 1024, -1);
    for (int i = 0; i < k; ++i) reap_raw(evs[static_cast<std::size_t>(i)].data.fd);
    done += std::max(k, 0);
  }
  s.reap_all_ms = elapsed_us(t0, clock_type::now()) / 1000;
  ::close(ep);
  return s;
}

template <class Object, class MakeObject, class Arm>
scale c_asio(int m, MakeObject make, Arm arm) {
  std::vector<pidfd::pid_fd> kids;
  kids.reserve(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) kids.push_back(spawn_block());
  asio::io_context io;
  {  // warm up the reactor's registration pool and the thread's allocation cache
    Object warm = make(io, spawn_exit());
    int done = 0;
    arm(warm, done);
    io.run();
    io.restart();
  }
  const long h0 = heap_bytes();
  const long f0 = open_fd_count();
  std::vector<Object> objs;
  objs.reserve(static_cast<std::size_t>(m));
  int done = 0;
  for (auto& k : kids) {
    objs.push_back(make(io, std::move(k)));
    arm(objs.back(), done);
  }
  scale s{};
  s.heap_per_child = static_cast<double>(heap_bytes() - h0) / m;
  s.fds_per_child = static_cast<double>(open_fd_count() - f0 + m) / m;
  const auto t0 = clock_type::now();
  for (auto& o : objs) {
    if (::syscall(SYS_pidfd_send_signal, o.native_handle(), SIGKILL, nullptr, 0) != 0)
      die("kill");
  }
  while (done < m) io.run_one();
  s.reap_all_ms = elapsed_us(t0, clock_type::now()) / 1000;
  return s;
}

scale c_hand(int m) {
  using sd = asio::posix::stream_descriptor;
  return c_asio<sd>(
      m, [](asio::io_context& io, pidfd::pid_fd fd) { return sd(io, fd.release()); },
      [](sd& d, int& done) {
        d.async_wait(asio::posix::descriptor_base::wait_read,
                     [&d, &done](boost::system::error_code) {
                       reap_raw(d.native_handle());
                       ++done;
                     });
      });
}

scale c_lib(int m) {
  using ap = pidfd::async_pidfd;
  return c_asio<ap>(
      m, [](asio::io_context& io, pidfd::pid_fd fd) { return ap(io, std::move(fd)); },
      [](ap& p, int& done) {
        p.async_wait([&done](pidfd::error_code, pidfd::exit_status) { ++done; });
      });
}

// ---------------------------------------------------------------------------------------

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

// Per-round values of each implementation, and the median of per-round ratios.
struct series {
  std::vector<double> v;
  double med() const { return median(v); }
};
double paired(const series& a, const series& b) {
  std::vector<double> r;
  for (std::size_t i = 0; i < a.v.size() && i < b.v.size(); ++i) r.push_back(a.v[i] / b.v[i]);
  return median(r);
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 7;
  const int n = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int m = argc > 3 ? std::atoi(argv[3]) : 10000;
  helper = (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
            "asio-pidfd-bench-exit-helper")
               .string();
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);

  // WAIT_BENCH_ONLY=raw|hand|lib|bp2: run workload (a) once for one implementation, for
  // counting its system calls:  strace -c -f build/bench/asio-pidfd-bench-wait 1 2000
  if (const char* only = std::getenv("WAIT_BENCH_ONLY")) {
    const std::string o = only;
    const throughput t = o == "raw" ? a_raw(n) : o == "hand" ? a_hand(n) : o == "lib" ? a_lib(n)
                                                                                  : a_bp2(n);
    std::printf("%s: %d children in %.3f s\n", only, n, t.wall);
    return 0;
  }

  std::printf("wait benchmark: %d rounds, (a) %d children %d in flight, (b) %d children, "
              "(c) %d children\n",
              rounds, n, in_flight, latency_children, m);

  // WAIT_BENCH_PARTS: the workloads to run, default "abc".
  const std::string parts = std::getenv("WAIT_BENCH_PARTS") ? std::getenv("WAIT_BENCH_PARTS")
                                                            : "abc";
  const char* names[4] = {"raw epoll", "hand Asio", "async_pidfd", "Boost.Process v2"};

  // (a)
  if (parts.find('a') != std::string::npos) {
  throughput (*a_fns[4])(int) = {a_raw, a_hand, a_lib, a_bp2};
  const int a_n = have_bp2 ? 4 : 3;  // Boost.Process v2 last, where it is built
  series a_wall[4], a_cpu[4];
  for (int r = 0; r < rounds; ++r)
    for (int k = 0; k < a_n; ++k) {
      const int i = (k + r) % a_n;  // rotate the order round by round
      const throughput t = a_fns[i](n);
      a_wall[i].v.push_back(t.wall / n * 1e6);
      a_cpu[i].v.push_back(t.cpu / n * 1e6);
    }
  std::printf("\n(a) spawn + wait, per child (median of %d rounds)\n", rounds);
  std::printf("%-18s %10s %10s %12s %9s %9s %9s\n", "", "children/s", "wall us", "parent CPU us",
              "x raw", "x hand", "x bp2");
  // Without Boost.Process v2 its column shows 0.
  auto x_bp2 = [&](const series* v, int i) { return have_bp2 ? paired(v[i], v[3]) : 0.0; };
  for (int i = 0; i < a_n; ++i)
    std::printf("%-18s %10.0f %10.1f %12.1f %9.3f %9.3f %9.3f\n", names[i], 1e6 / a_wall[i].med(),
                a_wall[i].med(), a_cpu[i].med(), paired(a_wall[i], a_wall[0]),
                paired(a_wall[i], a_wall[1]), x_bp2(a_wall, i));
  std::printf("%-18s %10s %10s %12s %9.3f %9.3f %9.3f   (parent CPU ratios)\n", "async_pidfd", "",
              "", "", paired(a_cpu[2], a_cpu[0]), paired(a_cpu[2], a_cpu[1]), x_bp2(a_cpu, 2));
  if (!have_bp2) std::printf("Boost.Process v2: not built (see meson's summary)\n");
  }

  // (b)
  if (parts.find('b') != std::string::npos) {
  std::vector<double> (*b_fns[3])() = {b_raw, b_hand, b_lib};
  series b50[3], b99[3];
  for (int r = 0; r < rounds; ++r)
    for (int k = 0; k < 3; ++k) {
      const int i = (k + r) % 3;
      const auto v = b_fns[i]();
      b50[i].v.push_back(pct(v, 0.5));
      b99[i].v.push_back(pct(v, 0.99));
    }
  std::printf("\n(b) kill -> handler latency, us (median over rounds of per-round p50/p99)\n");
  std::printf("%-18s %9s %9s %11s %11s\n", "", "p50", "p99", "p50 x raw", "p50 x hand");
  for (int i = 0; i < 3; ++i)
    std::printf("%-18s %9.1f %9.1f %11.3f %11.3f\n", names[i], b50[i].med(), b99[i].med(),
                paired(b50[i], b50[0]), paired(b50[i], b50[1]));
  }

  // (c)
  if (parts.find('c') != std::string::npos) {
  const int c_rounds = std::max(1, std::min(rounds, 3));
  scale (*c_fns[3])(int) = {c_raw, c_hand, c_lib};
  series heap[3], fds[3], reap[3];
  for (int r = 0; r < c_rounds; ++r)
    for (int k = 0; k < 3; ++k) {
      const int i = (k + r) % 3;
      const scale s = c_fns[i](m);
      heap[i].v.push_back(s.heap_per_child);
      fds[i].v.push_back(s.fds_per_child);
      reap[i].v.push_back(s.reap_all_ms);
    }
  std::printf("\n(c) %d children watched at once (median of %d rounds)\n", m, c_rounds);
  std::printf("%-18s %14s %10s %13s %9s %9s\n", "", "heap B/child", "fds/child", "reap-all ms",
              "x raw", "x hand");
  for (int i = 0; i < 3; ++i)
    std::printf("%-18s %14.0f %10.2f %13.1f %9.3f %9.3f\n", names[i], heap[i].med(), fds[i].med(),
                reap[i].med(), paired(reap[i], reap[0]), paired(reap[i], reap[1]));
  std::printf("sizeof: async_pidfd %zu B, stream_descriptor %zu B\n", sizeof(pidfd::async_pidfd),
              sizeof(asio::posix::stream_descriptor));
  }
  return 0;
}
