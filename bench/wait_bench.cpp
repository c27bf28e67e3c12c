// Wait benchmark: the cost of being told that a child process has ended.
//
// The implementations run in one process, round by round in rotating order:
//   raw epoll      no Asio: epoll with EPOLLONESHOT on each pidfd + waitid (the floor)
//   hand Asio      posix::stream_descriptor::async_wait(wait_read) + waitid, written by hand
//   async_pidfd    this library (pidfd::async_pidfd: the default any_io_executor)
//   ... io_ctx     the same two with a concrete executor: basic_stream_descriptor and
//                  basic_async_pidfd of io_context::executor_type (like for like)
//   Boost.Process  boost::process::v2::process + async_wait (its own launcher)
// All but Boost.Process start children with pidfd::spawn. The child is a static program
// that exits 0 at once (or blocks until killed).
// Workloads:
//   (a) spawn + wait throughput: N children (default 2000), 32 in flight; children per
//       second and the parent's CPU time (getrusage) per child
//   (b) exit-notification latency: 64 blocked children killed one at a time; p50/p99 from
//       the kill to the completion handler
//   (c) scale: M children (default 10000) watched at once; heap bytes (mallinfo2) and fds
//       per watched child, and the time from a mass SIGKILL to all reaped; then the heap
//       per child broken down by phase (objects created empty, assign, async_wait started);
//       also for async_pidfd watched with async_wait_for and async_terminate (1 h bound),
//       and their baseline: M steady_timers each with a pending wait, no process
//   (d) threads (not run by default): the M watched children of (c) with io_context::run()
//       on T threads (default 4) against 1 thread, in the same run, paired per round:
//       spawn-all ms (spawn + assign + async_wait of every child), reap-all ms (mass
//       SIGKILL -> every handler has run), heap per child, and the time spent in assign +
//       async_wait alone (the shared-state part of spawn-all). The children are spawned
//       either from the main thread while the io threads run the context ("main"), or by
//       T tasks posted to the context, one per io thread, each its share ("split").
// Every figure is the median over the rounds; "x" columns are the median of the per-round
// ratios to each baseline (paired round by round).
//
// Run pinned:  taskset -c 0 build/bench/asio-pidfd-bench-wait [rounds] [N] [M]
// Threads:     WAIT_BENCH_PARTS=d taskset -c 0,1 build/bench/asio-pidfd-bench-wait 3 0 10000
// Environment: WAIT_BENCH_PARTS (default "abc"), WAIT_BENCH_THREADS (default 4),
//              WAIT_BENCH_SPAWN=main|split|both (default both), WAIT_BENCH_SCALE_ROUNDS
//              (rounds of (c) and (d); default min(rounds, 3)), WAIT_BENCH_ONLY (see main()).
// Heap is counted two ways: mallinfo2 (bytes in use from malloc, chunk headers included,
// every arena) and this program's replacement of operator new/delete, which adds up
// malloc_usable_size() of each live block (per-thread counters, no shared cache line).
#include <pidfd/async_pidfd.hpp>
#include <pidfd/spawn.hpp>

#include "stats.hpp"

// Boost.Process v2 is the peer where bench/meson.build found it usable
// (ASIO_PIDFD_BENCH_BP2): header-only up to Boost 1.87, the boost_process library from 1.88.
#if ASIO_PIDFD_BENCH_BP2
#include "bp2.hpp"
#endif

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// ---------------------------------------------------------------------------------------
// Counting operator new/delete: live bytes (malloc_usable_size) and live blocks, in
// per-thread slots so that counting adds no shared cache line between io threads.

namespace counting {
struct alignas(64) slot {
  std::atomic<long> bytes{0};
  std::atomic<long> blocks{0};
};
constexpr unsigned n_slots = 64;
slot slots[n_slots];
std::atomic<unsigned> next_slot{0};
thread_local slot* mine = nullptr;

inline void note(void* p, long sign) noexcept {
  if (!p) return;
  if (!mine) mine = &slots[next_slot.fetch_add(1, std::memory_order_relaxed) % n_slots];
  mine->bytes.fetch_add(sign * static_cast<long>(::malloc_usable_size(p)),
                        std::memory_order_relaxed);
  mine->blocks.fetch_add(sign, std::memory_order_relaxed);
}
struct totals {
  long bytes = 0, blocks = 0;
};
totals now() noexcept {
  totals t;
  for (const slot& s : slots) {
    t.bytes += s.bytes.load(std::memory_order_relaxed);
    t.blocks += s.blocks.load(std::memory_order_relaxed);
  }
  return t;
}
void* alloc(std::size_t n) noexcept {
  void* p = std::malloc(n ? n : 1);
  note(p, 1);
  return p;
}
void* alloc(std::size_t n, std::align_val_t a) noexcept {
  void* p = nullptr;
  const std::size_t al = std::max(static_cast<std::size_t>(a), sizeof(void*));
  if (::posix_memalign(&p, al, n ? n : 1) != 0) return nullptr;
  note(p, 1);
  return p;
}
// Not inlined: inlined into the replaced operator delete, GCC at -O3 sees free() of what
// operator new returned and warns (-Wmismatched-new-delete), not knowing both are ours.
[[gnu::noinline]] void release(void* p) noexcept {
  note(p, -1);
  std::free(p);
}
}  // namespace counting

void* operator new(std::size_t n) {
  if (void* p = counting::alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counting::alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counting::alloc(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = counting::alloc(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counting::alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counting::alloc(n); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counting::alloc(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counting::alloc(n, a);
}
void operator delete(void* p) noexcept { counting::release(p); }
void operator delete[](void* p) noexcept { counting::release(p); }
void operator delete(void* p, std::size_t) noexcept { counting::release(p); }
void operator delete[](void* p, std::size_t) noexcept { counting::release(p); }
void operator delete(void* p, std::align_val_t) noexcept { counting::release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counting::release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counting::release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counting::release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counting::release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counting::release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  counting::release(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  counting::release(p);
}

namespace {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;
using bench::cpu_seconds;
using bench::open_fd_count;
using bench::paired;
using bench::percentile;
using bench::series;

// The Asio implementations, one I/O object type each: the pidfd as a plain descriptor
// (by hand) or as this library's object, with the default any_io_executor or with the
// io_context's own executor type (like for like).
using hand_asio = asio::posix::stream_descriptor;
using hand_asio_ctx = asio::posix::basic_stream_descriptor<asio::io_context::executor_type>;
using lib_pidfd = pidfd::async_pidfd;
using lib_pidfd_ctx = pidfd::basic_async_pidfd<asio::io_context::executor_type>;

std::string helper;  // path of asio-pidfd-bench-exit-helper

constexpr int in_flight = 32;
constexpr int latency_children = 64;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(2);  // NOLINT(concurrency-mt-unsafe): the benchmark gives up as a whole
}

// A count from the command line or the environment; `fallback` when absent.
pidfd::pid_fd spawn_exit() { return pidfd::spawn({helper}); }
pidfd::pid_fd spawn_block() { return pidfd::spawn({helper, "block"}); }

void reap_raw(int fd) {
  siginfo_t si{};
  if (::syscall(SYS_waitid, P_PIDFD, fd, &si, WEXITED, nullptr) != 0) die("waitid");
}

void kill_raw(int fd) {
  if (::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0) != 0) die("kill");
}

// Bytes in use from malloc, including large blocks it mmaps (such as a vector of 10000
// objects; whether those are mmapped depends on glibc's moving threshold).
long heap_bytes() {
  const struct mallinfo2 mi = ::mallinfo2();
  return static_cast<long>(mi.uordblks + mi.hblkhd);
}

double elapsed_us(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// How an Asio implementation watches a child: assign() hands the object the child's pidfd;
// async_reap() waits until the child has ended, has it reaped, then calls on_reaped().
template <class Object>
struct watch;

// By hand: the pidfd becomes readable when the child ends; the handler reaps it (waitid).
template <class Executor>
struct watch<asio::posix::basic_stream_descriptor<Executor>> {
  using object = asio::posix::basic_stream_descriptor<Executor>;
  static void assign(object& d, pidfd::pid_fd fd) { d.assign(fd.release()); }
  template <class OnReaped>
  static void async_reap(object& d, OnReaped on_reaped) {
    d.async_wait(asio::posix::descriptor_base::wait_read,
                 [&d, on_reaped](boost::system::error_code ec) mutable {
                   if (ec) die("async_wait");
                   reap_raw(d.native_handle());
                   on_reaped();
                 });
  }
};

// The library: async_wait completes with the child reaped.
template <class Executor>
struct watch<pidfd::basic_async_pidfd<Executor>> {
  using object = pidfd::basic_async_pidfd<Executor>;
  static void assign(object& p, pidfd::pid_fd fd) { p.assign(std::move(fd)); }
  template <class OnReaped>
  static void async_reap(object& p, OnReaped on_reaped) {
    p.async_wait([on_reaped](pidfd::error_code ec, pidfd::exit_status) mutable {
      if (ec) die("async_wait");
      on_reaped();
    });
  }
};

// The library's timed waits, for the heap and CPU of (c): the same object type, watched
// with async_wait_for(1 h) or async_terminate(1 h grace) instead of async_wait. The timeout
// never elapses: the mass SIGKILL ends every child first. (async_terminate's SIGTERM has
// already ended the blocked child when the kills are sent: they signal a zombie, which
// succeeds, and the pending wait reaps it.)
struct lib_pidfd_wait_for : lib_pidfd {
  using lib_pidfd::lib_pidfd;
};
struct lib_pidfd_terminate : lib_pidfd {
  using lib_pidfd::lib_pidfd;
};

template <>
struct watch<lib_pidfd_wait_for> {
  static void assign(lib_pidfd& p, pidfd::pid_fd fd) { p.assign(std::move(fd)); }
  template <class OnReaped>
  static void async_reap(lib_pidfd& p, OnReaped on_reaped) {
    p.async_wait_for(std::chrono::hours(1),
                     [on_reaped](pidfd::error_code ec, pidfd::exit_status) mutable {
                       if (ec) die("async_wait_for");
                       on_reaped();
                     });
  }
};

template <>
struct watch<lib_pidfd_terminate> {
  static void assign(lib_pidfd& p, pidfd::pid_fd fd) { p.assign(std::move(fd)); }
  template <class OnReaped>
  static void async_reap(lib_pidfd& p, OnReaped on_reaped) {
    p.async_terminate(std::chrono::hours(1),
                      [on_reaped](pidfd::error_code ec, pidfd::exit_status) mutable {
                        if (ec) die("async_terminate");
                        on_reaped();
                      });
  }
};

// ---------------------------------------------------------------------------------------
// (a) spawn + wait throughput. Each returns {wall seconds, parent CPU seconds}.

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

throughput spawn_wait_epoll(int n) {
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

// `in_flight` objects, each starting its next child as soon as the last one is reaped.
template <class Object>
throughput spawn_wait_asio(int n) {
  return measure([n] {
    asio::io_context io;
    int started = 0;
    std::vector<std::unique_ptr<Object>> slots;
    std::function<void(Object&)> watch_next = [&](Object& o) {
      watch<Object>::async_reap(o, [&o, &watch_next, &started, n] {
        o.close();
        if (started < n) {
          watch<Object>::assign(o, spawn_exit());
          ++started;
          watch_next(o);
        }
      });
    };
    for (int i = 0; i < std::min(n, in_flight); ++i) {
      slots.push_back(std::make_unique<Object>(io));
      watch<Object>::assign(*slots.back(), spawn_exit());
      ++started;
      watch_next(*slots.back());
    }
    io.run();
  });
}

#if ASIO_PIDFD_BENCH_BP2
throughput spawn_wait_bp2(int n) {
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
throughput spawn_wait_bp2(int) { die("Boost.Process v2 is not built in (see meson's summary)"); }
#endif

// ---------------------------------------------------------------------------------------
// (b) latency: microseconds from the kill to the handler, for each child.

std::vector<double> kill_latency_epoll() {
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
    kill_raw(fd);
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

template <class Object>
std::vector<double> kill_latency_asio() {
  asio::io_context io;
  std::vector<std::unique_ptr<Object>> objs;
  clock_type::time_point t0;
  std::vector<double> out;
  for (int i = 0; i < latency_children; ++i) {
    objs.push_back(std::make_unique<Object>(io));
    watch<Object>::assign(*objs.back(), spawn_block());
    watch<Object>::async_reap(*objs.back(),
                              [&] { out.push_back(elapsed_us(t0, clock_type::now())); });
  }
  for (auto& o : objs) {
    t0 = clock_type::now();
    kill_raw(o->native_handle());
    const std::size_t before = out.size();
    while (out.size() == before) io.run_one();
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// (c) scale: heap and fds per watched child, and the time from mass SIGKILL to all reaped.

// One heap snapshot: mallinfo2 in-use bytes and the operator new counters.
struct heap_snap {
  long malloc_bytes, new_bytes, new_blocks;
};
heap_snap heap_now() {
  const counting::totals t = counting::now();
  return {heap_bytes(), t.bytes, t.blocks};
}
// Per child, from a to b.
struct heap_delta {
  double malloc_b = 0, new_b = 0, new_blocks = 0;
};
heap_delta per_child(const heap_snap& a, const heap_snap& b, int m) {
  return {static_cast<double>(b.malloc_bytes - a.malloc_bytes) / m,
          static_cast<double>(b.new_bytes - a.new_bytes) / m,
          static_cast<double>(b.new_blocks - a.new_blocks) / m};
}

struct scale {
  double heap_per_child, fds_per_child, reap_all_ms;
  // The breakdown (Asio variants only): the objects created empty in a reserved vector,
  // then assign() of each pidfd, then async_wait() on each.
  heap_delta objects, assign, wait;
  // Parent CPU per child, us: registering (assign; raw epoll: EPOLL_CTL_ADD), starting the
  // waits (Asio variants), and from the mass SIGKILL to all reaped (the kills included).
  double cpu_assign_us, cpu_arm_us, cpu_reap_us;
};

scale watch_many_epoll(int m) {
  std::vector<pidfd::pid_fd> kids;
  kids.reserve(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) kids.push_back(spawn_block());
  const long h0 = heap_bytes();
  const long f0 = open_fd_count();
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> fds(static_cast<std::size_t>(m));  // what the loop keeps per child
  const double c0 = cpu_seconds();
  for (int i = 0; i < m; ++i) {
    fds[static_cast<std::size_t>(i)] = kids[static_cast<std::size_t>(i)].native_handle();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.fd = fds[static_cast<std::size_t>(i)];
    ::epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
  }
  scale s{};
  s.cpu_assign_us = (cpu_seconds() - c0) / m * 1e6;
  s.heap_per_child = static_cast<double>(heap_bytes() - h0) / m;
  // The pidfds were opened before f0, so count them in: 1 each, plus the epoll fd.
  s.fds_per_child = static_cast<double>(open_fd_count() - f0 + m) / m;
  const double c1 = cpu_seconds();
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
  s.cpu_reap_us = (cpu_seconds() - c1) / m * 1e6;
  ::close(ep);
  return s;
}

// Warms up the reactor's registration pool and the thread's allocation cache with one
// child, so that the first watched child of a measurement pays no more than the others.
template <class Object>
void warm_up(asio::io_context& io) {
  Object warm(io);
  watch<Object>::assign(warm, spawn_exit());
  watch<Object>::async_reap(warm, [] {});
  io.run();
  io.restart();
}

template <class Object>
scale watch_many_asio(int m) {
  std::vector<pidfd::pid_fd> kids;
  kids.reserve(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) kids.push_back(spawn_block());
  asio::io_context io;
  warm_up<Object>(io);
  const heap_snap h0 = heap_now();
  const long f0 = open_fd_count();
  std::vector<Object> objs;
  objs.reserve(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) objs.emplace_back(io);
  const heap_snap h1 = heap_now();
  const double c0 = cpu_seconds();
  for (std::size_t i = 0; i < objs.size(); ++i) watch<Object>::assign(objs[i], std::move(kids[i]));
  const double c1 = cpu_seconds();
  const heap_snap h2 = heap_now();
  int done = 0;
  const double c2 = cpu_seconds();
  for (auto& o : objs) watch<Object>::async_reap(o, [&done] { ++done; });
  const double c3 = cpu_seconds();
  const heap_snap h3 = heap_now();
  scale s{};
  s.cpu_assign_us = (c1 - c0) / m * 1e6;
  s.cpu_arm_us = (c3 - c2) / m * 1e6;
  s.heap_per_child = static_cast<double>(h3.malloc_bytes - h0.malloc_bytes) / m;
  s.objects = per_child(h0, h1, m);
  s.assign = per_child(h1, h2, m);
  s.wait = per_child(h2, h3, m);
  s.fds_per_child = static_cast<double>(open_fd_count() - f0 + m) / m;
  const double c4 = cpu_seconds();
  const auto t0 = clock_type::now();
  for (auto& o : objs) kill_raw(o.native_handle());
  while (done < m) io.run_one();
  s.reap_all_ms = elapsed_us(t0, clock_type::now()) / 1000;
  s.cpu_reap_us = (cpu_seconds() - c4) / m * 1e6;
  return s;
}

// The baseline of the timed waits: what one timer's wait costs a hand-written timeout, M
// steady_timers (the default any_io_executor, as async_pidfd) each with a pending
// async_wait of 1 h and no process. Phases as above: objects = the timers created in a
// reserved vector, assign = expires_after (nothing), wait = async_wait. "Reap" is
// cancelling every timer until all handlers have run.
scale watch_many_timers(int m) {
  asio::io_context io;
  {
    asio::steady_timer warm(io, std::chrono::milliseconds(0));
    warm.async_wait([](boost::system::error_code) {});
    io.run();
    io.restart();
  }
  const heap_snap h0 = heap_now();
  std::vector<asio::steady_timer> timers;
  timers.reserve(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) timers.emplace_back(io);
  const heap_snap h1 = heap_now();
  const double c0 = cpu_seconds();
  for (auto& t : timers) t.expires_after(std::chrono::hours(1));
  const double c1 = cpu_seconds();
  const heap_snap h2 = heap_now();
  int done = 0;
  const double c2 = cpu_seconds();
  for (auto& t : timers)
    t.async_wait([&done](boost::system::error_code ec) {
      if (ec != asio::error::operation_aborted) die("steady_timer async_wait");
      ++done;
    });
  const double c3 = cpu_seconds();
  const heap_snap h3 = heap_now();
  scale s{};
  s.cpu_assign_us = (c1 - c0) / m * 1e6;
  s.cpu_arm_us = (c3 - c2) / m * 1e6;
  s.heap_per_child = static_cast<double>(h3.malloc_bytes - h0.malloc_bytes) / m;
  s.objects = per_child(h0, h1, m);
  s.assign = per_child(h1, h2, m);
  s.wait = per_child(h2, h3, m);
  const double c4 = cpu_seconds();
  const auto t0 = clock_type::now();
  for (auto& t : timers) t.cancel();
  while (done < m) io.run_one();
  s.reap_all_ms = elapsed_us(t0, clock_type::now()) / 1000;
  s.cpu_reap_us = (cpu_seconds() - c4) / m * 1e6;
  return s;
}

// ---------------------------------------------------------------------------------------
// (d) threads: the M watched children with io_context::run() on `threads` threads.

struct threaded_scale {
  double spawn_all_ms, reap_all_ms, heap_per_child, new_per_child;
  // Wall time inside assign() + async_wait(), summed over the spawning threads, per child:
  // the part of spawn-all that touches shared state (the reactor, the scheduler), without
  // the spawn itself, whose latency hides it.
  double register_us;
};

// Counts to a target; only the increment that reaches it takes the mutex (no lock on the
// handlers' path otherwise). Every wait is bounded.
class countdown {
public:
  explicit countdown(int target) : target_(target) {}
  void operator++() {
    if (n_.fetch_add(1, std::memory_order_acq_rel) + 1 == target_) {
      std::lock_guard<std::mutex> lock(m_);
      cv_.notify_all();
    }
  }
  void wait(const char* what) {
    std::unique_lock<std::mutex> lock(m_);
    if (!cv_.wait_for(lock, std::chrono::seconds(300),
                      [&] { return n_.load(std::memory_order_acquire) >= target_; })) {
      (void)std::fprintf(stderr, "%s: timed out after 300 s\n", what);
      std::exit(2);  // NOLINT(concurrency-mt-unsafe): the benchmark gives up as a whole
    }
  }

private:
  const int target_;
  std::atomic<int> n_{0};
  std::mutex m_;
  std::condition_variable cv_;
};

template <class Object>
threaded_scale watch_many_threaded(int m, int threads, bool split) {
  asio::io_context io;
  warm_up<Object>(io);  // on this thread, before the io threads start
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  threaded_scale r{};
  {
    const heap_snap h0 = heap_now();
    std::vector<Object> objs;
    objs.reserve(static_cast<std::size_t>(m));
    for (int i = 0; i < m; ++i) objs.emplace_back(io);
    countdown done(m);
    const auto t0 = clock_type::now();
    std::atomic<long> register_ns{0};
    auto spawn_range = [&](int from, int to) {
      clock_type::duration spent{};
      for (int i = from; i < to; ++i) {
        Object& o = objs[static_cast<std::size_t>(i)];
        pidfd::pid_fd fd = spawn_block();
        const auto r0 = clock_type::now();
        watch<Object>::assign(o, std::move(fd));
        watch<Object>::async_reap(o, [&done] { ++done; });
        spent += clock_type::now() - r0;
      }
      register_ns.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(spent).count(),
                            std::memory_order_relaxed);
    };
    if (split) {
      // One task per io thread: each holds its thread at the latch until all have started,
      // so that no thread runs two shares.
      countdown spawned(threads);
      std::latch all_running(threads);
      for (int k = 0; k < threads; ++k)
        asio::post(io, [&, k] {
          all_running.arrive_and_wait();
          spawn_range(static_cast<int>(static_cast<long>(m) * k / threads),
                      static_cast<int>(static_cast<long>(m) * (k + 1) / threads));
          ++spawned;
        });
      spawned.wait("spawn-all");
    } else {
      spawn_range(0, m);
    }
    r.spawn_all_ms = elapsed_us(t0, clock_type::now()) / 1000;
    r.register_us = static_cast<double>(register_ns.load()) / 1000 / m;
    const heap_snap h1 = heap_now();
    r.heap_per_child = static_cast<double>(h1.malloc_bytes - h0.malloc_bytes) / m;
    r.new_per_child = static_cast<double>(h1.new_bytes - h0.new_bytes) / m;
    const auto t1 = clock_type::now();
    for (auto& o : objs) kill_raw(o.native_handle());
    done.wait("reap-all");
    r.reap_all_ms = elapsed_us(t1, clock_type::now()) / 1000;
    guard.reset();
    for (auto& t : pool) t.join();
  }
  return r;
}

// ---------------------------------------------------------------------------------------

// "lo-hi" of the per-round ratios, for judging the noise.
std::string ratio_range(const series& a, const series& b) {
  const std::vector<double> r = bench::ratios(a, b);
  if (r.empty()) return "-";
  char buf[40];
  (void)std::snprintf(buf, sizeof buf, "%.2f-%.2f", *std::min_element(r.begin(), r.end()),
                *std::max_element(r.begin(), r.end()));
  return buf;
}

// CPUs this process may run on (what taskset gave it).
int allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  return CPU_COUNT(&set);
}

}  // namespace

// An exception (a filesystem error finding the helper, say) ends the benchmark with
// std::terminate's message, which is all a benchmark needs.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  const auto rounds = static_cast<int>(bench::number_arg(argc, argv, 1, 7));
  const auto n = static_cast<int>(bench::number_arg(argc, argv, 2, 2000));
  const auto m = static_cast<int>(bench::number_arg(argc, argv, 3, 10000));
  helper = (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
            "asio-pidfd-bench-exit-helper")
               .string();
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);

  // WAIT_BENCH_ONLY=raw|hand|lib|hand_ctx|lib_ctx|bp2: run workload (a) once for one
  // implementation, for counting its system calls:
  //   strace -c -f build/bench/asio-pidfd-bench-wait 1 2000
  if (const char* only = std::getenv("WAIT_BENCH_ONLY")) {
    const std::string o = only;
    const throughput t = o == "raw"        ? spawn_wait_epoll(n)
                         : o == "hand"     ? spawn_wait_asio<hand_asio>(n)
                         : o == "lib"      ? spawn_wait_asio<lib_pidfd>(n)
                         : o == "hand_ctx" ? spawn_wait_asio<hand_asio_ctx>(n)
                         : o == "lib_ctx"  ? spawn_wait_asio<lib_pidfd_ctx>(n)
                                           : spawn_wait_bp2(n);
    std::printf("%s: %d children in %.3f s\n", only, n, t.wall);
    return 0;
  }

  std::printf("wait benchmark: %d rounds, (a) %d children %d in flight, (b) %d children, "
              "(c) %d children\n",
              rounds, n, in_flight, latency_children, m);

  // WAIT_BENCH_PARTS: the workloads to run, default "abc" ("d": the threads mode).
  const std::string parts = std::getenv("WAIT_BENCH_PARTS") ? std::getenv("WAIT_BENCH_PARTS")
                                                            : "abc";
  // Rounds of (c) and (d), which take long: min(rounds, 3), or WAIT_BENCH_SCALE_ROUNDS.
  const int scale_rounds = std::max(
      1, static_cast<int>(bench::number_or(std::getenv("WAIT_BENCH_SCALE_ROUNDS"),
                                           std::min(rounds, 3))));
  // Indices 0-2 as before; the concrete-executor variants 3 and 4; Boost.Process v2 last.
  constexpr int n_names = 6;
  const char* names[n_names] = {"raw epoll",       "hand Asio",          "async_pidfd",
                                "hand Asio io_ctx", "async_pidfd io_ctx", "Boost.Process v2"};
  constexpr int bp2_index = 5;

  // (a)
  if (parts.find('a') != std::string::npos) {
  throughput (*a_fns[n_names])(int) = {spawn_wait_epoll,
                                       spawn_wait_asio<hand_asio>,
                                       spawn_wait_asio<lib_pidfd>,
                                       spawn_wait_asio<hand_asio_ctx>,
                                       spawn_wait_asio<lib_pidfd_ctx>,
                                       spawn_wait_bp2};
  const int a_n = have_bp2 ? 6 : 5;  // Boost.Process v2 last, where it is built
  series a_wall[n_names], a_cpu[n_names];
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
  auto x_bp2 = [&](const series* v, int i) {
    return have_bp2 ? paired(v[i], v[bp2_index]) : 0.0;
  };
  for (int i = 0; i < a_n; ++i)
    std::printf("%-18s %10.0f %10.1f %12.1f %9.3f %9.3f %9.3f\n", names[i], 1e6 / a_wall[i].med(),
                a_wall[i].med(), a_cpu[i].med(), paired(a_wall[i], a_wall[0]),
                paired(a_wall[i], a_wall[1]), x_bp2(a_wall, i));
  std::printf("%-18s %10s %10s %12s %9.3f %9.3f %9.3f   (parent CPU ratios)\n", "async_pidfd", "",
              "", "", paired(a_cpu[2], a_cpu[0]), paired(a_cpu[2], a_cpu[1]), x_bp2(a_cpu, 2));
  std::printf("%-18s %10s %10s %12s %9.3f %9.3f %9.3f   (parent CPU ratios)\n",
              "async_pidfd io_ctx", "", "", "", paired(a_cpu[4], a_cpu[0]),
              paired(a_cpu[4], a_cpu[1]), x_bp2(a_cpu, 4));
  std::printf("parent CPU per child, paired per round: async_pidfd / hand Asio %.3f; "
              "async_pidfd io_ctx / hand Asio io_ctx %.3f; async_pidfd io_ctx / hand Asio %.3f\n",
              paired(a_cpu[2], a_cpu[1]), paired(a_cpu[4], a_cpu[3]), paired(a_cpu[4], a_cpu[1]));
  if (!have_bp2) std::printf("Boost.Process v2: not built (see meson's summary)\n");
  }

  // (b)
  if (parts.find('b') != std::string::npos) {
  std::vector<double> (*b_fns[3])() = {kill_latency_epoll, kill_latency_asio<hand_asio>,
                                       kill_latency_asio<lib_pidfd>};
  series b50[3], b99[3];
  for (int r = 0; r < rounds; ++r)
    for (int k = 0; k < 3; ++k) {
      const int i = (k + r) % 3;
      const auto v = b_fns[i]();
      b50[i].v.push_back(percentile(v, 0.5));
      b99[i].v.push_back(percentile(v, 0.99));
    }
  std::printf("\n(b) kill -> handler latency, us (median over rounds of per-round p50/p99)\n");
  std::printf("%-18s %9s %9s %11s %11s\n", "", "p50", "p99", "p50 x raw", "p50 x hand");
  for (int i = 0; i < 3; ++i)
    std::printf("%-18s %9.1f %9.1f %11.3f %11.3f\n", names[i], b50[i].med(), b99[i].med(),
                paired(b50[i], b50[0]), paired(b50[i], b50[1]));
  }

  // (c)
  if (parts.find('c') != std::string::npos) {
  const int c_rounds = scale_rounds;
  // The variants of (a), without Boost.Process v2, then async_pidfd's timed waits.
  // Last, the timer-only baseline of the timed waits (no process).
  constexpr int c_n = 8;
  constexpr int timer_index = 7;
  scale (*c_fns[c_n])(int) = {watch_many_epoll,
                               watch_many_asio<hand_asio>,
                               watch_many_asio<lib_pidfd>,
                               watch_many_asio<hand_asio_ctx>,
                               watch_many_asio<lib_pidfd_ctx>,
                               watch_many_asio<lib_pidfd_wait_for>,
                               watch_many_asio<lib_pidfd_terminate>,
                               watch_many_timers};
  const char* c_names[c_n] = {names[0], names[1], names[2], names[3], names[4],
                              "async_wait_for", "async_terminate", "timer wait only"};
  series heap[c_n], fds[c_n], reap[c_n], cpu_assign[c_n], cpu_arm[c_n], cpu_reap[c_n];
  // The breakdown: [variant][objects, assign, wait][malloc, new, new blocks]
  series part[c_n][3][3];
  for (int r = 0; r < c_rounds; ++r)
    for (int k = 0; k < c_n; ++k) {
      const int i = (k + r) % c_n;
      const scale s = c_fns[i](m);
      heap[i].v.push_back(s.heap_per_child);
      fds[i].v.push_back(s.fds_per_child);
      reap[i].v.push_back(s.reap_all_ms);
      cpu_assign[i].v.push_back(s.cpu_assign_us);
      cpu_arm[i].v.push_back(s.cpu_arm_us);
      cpu_reap[i].v.push_back(s.cpu_reap_us);
      const heap_delta* d[3] = {&s.objects, &s.assign, &s.wait};
      for (int j = 0; j < 3; ++j) {
        part[i][j][0].v.push_back(d[j]->malloc_b);
        part[i][j][1].v.push_back(d[j]->new_b);
        part[i][j][2].v.push_back(d[j]->new_blocks);
      }
    }
  std::printf("\n(c) %d children watched at once (median of %d rounds)\n", m, c_rounds);
  std::printf("%-18s %14s %10s %13s %9s %9s\n", "", "heap B/child", "fds/child", "reap-all ms",
              "x raw", "x hand");
  for (int i = 0; i < c_n; ++i)
    std::printf("%-18s %14.0f %10.2f %13.1f %9.3f %9.3f\n", c_names[i], heap[i].med(), fds[i].med(),
                reap[i].med(), paired(reap[i], reap[0]), paired(reap[i], reap[1]));
  std::printf("sizeof: async_pidfd %zu B, stream_descriptor %zu B, async_pidfd io_ctx %zu B, "
              "stream_descriptor io_ctx %zu B\n",
              sizeof(lib_pidfd), sizeof(hand_asio), sizeof(lib_pidfd_ctx), sizeof(hand_asio_ctx));
  std::printf("heap B/child, paired per round: async_pidfd / hand Asio %.3f; "
              "async_pidfd io_ctx / hand Asio io_ctx %.3f; async_pidfd io_ctx / hand Asio %.3f\n",
              paired(heap[2], heap[1]), paired(heap[4], heap[3]), paired(heap[4], heap[1]));
  std::printf("\n(c) heap per watched child by phase, B (median of %d rounds): objects = the "
              "I/O objects\ncreated empty in a reserved std::vector (the object itself, "
              "sizeof); assign = registration\nwith the reactor; wait = one pending "
              "async_wait (async_wait_for, async_terminate: that one). malloc: mallinfo2 in-use bytes (chunk\nheaders included); new: "
              "usable bytes of live operator new blocks, and their count\n",
              c_rounds);
  std::printf("%-18s %-7s %7s %9s %9s %9s %9s %14s\n", "", "", "sizeof", "objects", "assign",
              "wait", "total", "blocks a+w");
  const std::size_t sizes[c_n] = {0,
                                  sizeof(hand_asio),
                                  sizeof(lib_pidfd),
                                  sizeof(hand_asio_ctx),
                                  sizeof(lib_pidfd_ctx),
                                  sizeof(lib_pidfd),
                                  sizeof(lib_pidfd),
                                  sizeof(asio::steady_timer)};
  for (int i = 1; i < c_n; ++i)
    for (int src = 0; src < 2; ++src) {
      const double o = part[i][0][src].med(), a = part[i][1][src].med(),
                   w = part[i][2][src].med();
      char blocks[32] = "";
      if (src == 1)
        (void)std::snprintf(blocks, sizeof blocks, "%.2f + %.2f", part[i][1][2].med(),
                      part[i][2][2].med());
      std::printf("%-18s %-7s %7zu %9.1f %9.1f %9.1f %9.1f %14s\n", src == 0 ? c_names[i] : "",
                  src == 0 ? "malloc" : "new", sizes[i], o, a, w, o + a + w, blocks);
    }
  std::printf("(raw epoll keeps an int per child in a vector, and the epoll registration in "
              "the kernel. timer wait only:\na steady_timer per child, no process; its "
              "\"reap\" below is cancelling every timer.)\n");
  // A timed wait against doing it by hand: async_wait's total plus a timer of one's own
  // and its wait (malloc, medians).
  const double timer_total = part[timer_index][0][0].med() + part[timer_index][1][0].med() +
                             part[timer_index][2][0].med();
  std::printf("timed waits, heap B/child (malloc): async_wait %.0f + timer wait only %.0f "
              "(timer %.0f + its wait %.0f) = %.0f; async_wait_for %.0f, async_terminate %.0f\n",
              heap[2].med(), timer_total, part[timer_index][0][0].med(),
              part[timer_index][2][0].med(), heap[2].med() + timer_total, heap[5].med(),
              heap[6].med());
  std::printf("\n(c) parent CPU per watched child, us (median of %d rounds): assign; start "
              "the wait;\nkill -> reaped (the %d kills included); x hand = paired ratio of "
              "the total\n(assign + wait + reap) to hand Asio with the same executor type; "
              "reap x the same for reap\n",
              c_rounds, m);
  std::printf("%-18s %9s %9s %9s %9s %9s %9s\n", "", "assign", "wait", "reap", "total", "x hand",
              "reap x");
  for (int i = 0; i < c_n; ++i) {
    series tot;
    for (std::size_t r = 0; r < cpu_reap[i].v.size(); ++r)
      tot.v.push_back(cpu_assign[i].v[r] + cpu_arm[i].v[r] + cpu_reap[i].v[r]);
    const int base = i == 2 || i == 5 || i == 6 ? 1 : i == 4 ? 3 : -1;
    series base_tot;
    if (base >= 0)
      for (std::size_t r = 0; r < cpu_reap[base].v.size(); ++r)
        base_tot.v.push_back(cpu_assign[base].v[r] + cpu_arm[base].v[r] + cpu_reap[base].v[r]);
    std::printf("%-18s %9.2f %9.2f %9.2f %9.2f", c_names[i], cpu_assign[i].med(), cpu_arm[i].med(),
                cpu_reap[i].med(), tot.med());
    if (base >= 0)
      std::printf(" %9.3f %9.3f\n", paired(tot, base_tot), paired(cpu_reap[i], cpu_reap[base]));
    else
      std::printf("\n");
  }
  }

  // (d)
  if (parts.find('d') != std::string::npos) {
  const int threads =
      std::max(1, static_cast<int>(bench::number_or(std::getenv("WAIT_BENCH_THREADS"), 4)));
  const std::string spawn_mode = std::getenv("WAIT_BENCH_SPAWN") ? std::getenv("WAIT_BENCH_SPAWN")
                                                                 : "both";
  const int d_rounds = scale_rounds;
  struct d_case {
    const char* name;
    bool split;
    threaded_scale (*fn)(int, int, bool);
  };
  std::vector<d_case> cases;
  for (const bool split : {false, true}) {
    if (spawn_mode != "both" && (spawn_mode == "split") != split) continue;
    cases.push_back({names[1], split, watch_many_threaded<hand_asio>});
    cases.push_back({names[2], split, watch_many_threaded<lib_pidfd>});
    cases.push_back({names[4], split, watch_many_threaded<lib_pidfd_ctx>});
  }
  const std::size_t d_n = cases.size();
  // [case][1 thread, T threads]
  std::vector<std::array<series, 2>> spawn_ms(d_n), reap_ms(d_n), heap_b(d_n), new_b(d_n),
      reg_us(d_n);
  for (int r = 0; r < d_rounds; ++r)
    for (std::size_t k = 0; k < d_n; ++k) {
      const std::size_t c = (k + static_cast<std::size_t>(r)) % d_n;
      for (int j = 0; j < 2; ++j) {
        const int t = (j + r) % 2;  // alternate which thread count goes first
        const threaded_scale x = cases[c].fn(m, t == 0 ? 1 : threads, cases[c].split);
        spawn_ms[c][static_cast<std::size_t>(t)].v.push_back(x.spawn_all_ms);
        reap_ms[c][static_cast<std::size_t>(t)].v.push_back(x.reap_all_ms);
        heap_b[c][static_cast<std::size_t>(t)].v.push_back(x.heap_per_child);
        new_b[c][static_cast<std::size_t>(t)].v.push_back(x.new_per_child);
        reg_us[c][static_cast<std::size_t>(t)].v.push_back(x.register_us);
      }
    }
  std::printf("\n(d) %d children watched at once, io_context::run() on 1 thread and on %d "
              "threads, %d CPUs allowed\n(median of %d rounds; x = %d threads / 1 thread, "
              "paired per round). spawn-all: spawn + assign\n+ async_wait of every child, from "
              "the main thread (main) or from one task per io thread (split)\n",
              m, threads, allowed_cpus(), d_rounds, threads);
  std::printf("%-18s %-6s %-9s %10s %10s %10s %10s %10s\n", "", "spawn", "threads", "spawn ms",
              "reap ms", "heap B", "new B", "reg us");
  for (std::size_t c = 0; c < d_n; ++c) {
    for (std::size_t t = 0; t < 2; ++t)
      std::printf("%-18s %-6s %-9d %10.1f %10.1f %10.0f %10.0f %10.2f\n",
                  t == 0 ? cases[c].name : "", t == 0 ? (cases[c].split ? "split" : "main") : "",
                  t == 0 ? 1 : threads, spawn_ms[c][t].med(), reap_ms[c][t].med(),
                  heap_b[c][t].med(), new_b[c][t].med(), reg_us[c][t].med());
    std::printf("%-18s %-6s %-9s %10.3f %10.3f %10.3f %10.3f %10.3f\n", "", "", "x",
                paired(spawn_ms[c][1], spawn_ms[c][0]), paired(reap_ms[c][1], reap_ms[c][0]),
                paired(heap_b[c][1], heap_b[c][0]), paired(new_b[c][1], new_b[c][0]),
                paired(reg_us[c][1], reg_us[c][0]));
    std::printf("%-18s %-6s %-9s %10s %10s %10s %10s %10s\n", "", "", "x range",
                ratio_range(spawn_ms[c][1], spawn_ms[c][0]).c_str(),
                ratio_range(reap_ms[c][1], reap_ms[c][0]).c_str(),
                ratio_range(heap_b[c][1], heap_b[c][0]).c_str(),
                ratio_range(new_b[c][1], new_b[c][0]).c_str(),
                ratio_range(reg_us[c][1], reg_us[c][0]).c_str());
  }
  std::printf("reg us: wall time in assign() + async_wait() per child, summed over the "
              "spawning threads\n(the spawn excluded)\n");
  }
  return 0;
}
