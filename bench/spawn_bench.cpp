// Spawn benchmark: the cost of starting a program and getting a pidfd for it.
//
// Compares, in one process and round by round in rotating order:
//   pidfd::spawn                 this library (default options: close_other_fds)
//   raw clone3                   clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_CLEAR_SIGHAND)
//                                with a child that only calls execve: the floor
//   posix_spawn + pidfd_open     glibc 2.36
//   fork + exec + pidfd_open
//   Boost.Process v2             bp2::process with its default launcher (fork + pidfd_open)
// with a parent that has 2 MiB and 1 GiB of touched memory. Reports the time of the spawn
// call (p50, p99; for the vfork-style ones it ends when execve has loaded the program)
// and the calling thread's CPU time per spawn, then the time to start 5000 children that
// stay blocked while all their pidfds are open (pidfd::spawn against the raw clone3
// baseline, which copies the whole descriptor table into every child).
//
// Run pinned:  taskset -c 0 build/bench/asio-pidfd-bench-spawn [rounds [many-only]]
// or, call by call (keep_ignored_signals against raw clone3, the default against
// posix_spawn + pidfd_open; see interleaved() below):
//              taskset -c 0 build/bench/asio-pidfd-bench-spawn interleaved [calls [blocks]]
// or, call by call, what each credential, limit and terminal option adds to a spawn
// (see option_costs() below):
//              taskset -c 0 build/bench/asio-pidfd-bench-spawn options [calls [blocks]]
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

// Boost.Process v2 is the peer where bench/meson.build found it usable
// (ASIO_PIDFD_BENCH_BP2): header-only up to Boost 1.87, the boost_process library from 1.88.
#if ASIO_PIDFD_BENCH_BP2
#include "bp2.hpp"
#include "stats.hpp"
#endif

#include <boost/asio/io_context.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

extern char** environ;

namespace {

const char* const true_path = "/bin/true";
const char* const cat_path = "/bin/cat";
char* const true_argv[] = {const_cast<char*>(true_path), nullptr};

double now_us(clockid_t clock) {
  timespec ts;
  ::clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

struct sample {
  double wall_us;
  double cpu_us;
};

template <class F>
sample measure(F&& f) {
  const double w0 = now_us(CLOCK_MONOTONIC), c0 = now_us(CLOCK_THREAD_CPUTIME_ID);
  f();
  const double c1 = now_us(CLOCK_THREAD_CPUTIME_ID), w1 = now_us(CLOCK_MONOTONIC);
  return {w1 - w0, c1 - c0};
}

[[noreturn]] void die(const char* what) {
  std::perror(what);
  (void)std::fflush(nullptr);
  std::_Exit(1);
}

int pidfd_open(pid_t pid) {
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) die("pidfd_open");
  return static_cast<int>(fd);
}

void wait_and_close(int pidfd) {
  siginfo_t si;
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED) != 0)
    if (errno != EINTR) die("waitid");
  ::close(pidfd);
}

// ---- the raw clone3 baseline: a child on its own stack that only calls execve --------

struct raw_child {
  const char* path;
  char* const* argv;
};

extern "C" [[noreturn]] void bench_raw_child(void* arg) {
  const raw_child& c = *static_cast<const raw_child*>(arg);
  ::syscall(SYS_execve, c.path, c.argv, environ);
  ::syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

#if defined(__x86_64__)
// long bench_clone3(void* args, size_t size, void (*fn)(void*), void* arg): the child
// calls fn(arg) on the stack from args and never returns.
__asm__(R"(
  .text
  .p2align 4
  .type bench_clone3, @function
bench_clone3:
  movq %rcx, %r8
  movl $435, %eax
  syscall
  testq %rax, %rax
  jz 1f
  ret
1:
  xorl %ebp, %ebp
  andq $-16, %rsp
  movq %r8, %rdi
  call *%rdx
  hlt
  .size bench_clone3, .-bench_clone3
)");
extern "C" long bench_clone3(void* args, unsigned long size, void (*fn)(void*), void* arg);
#else
#error "the raw clone3 baseline needs x86-64"
#endif

struct clone_args_v0 {
  std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

int raw_clone3(const char* path, char* const* argv) {
  alignas(64) unsigned char stack[16 * 1024];
  raw_child child{path, argv};
  int pidfd = -1;
  clone_args_v0 args{};
  args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | 0x100000000ULL /* CLEAR_SIGHAND */;
  args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  args.stack = reinterpret_cast<std::uintptr_t>(stack);
  args.stack_size = sizeof stack;
  if (bench_clone3(&args, sizeof args, bench_raw_child, &child) < 0) die("clone3");
  return pidfd;
}

// ---- the implementations, each timed around the spawn call only ----------------------

struct impl {
  const char* name;
  std::function<sample()> run;  // spawn /bin/true, time the call, then wait (untimed)
};

// One timed spawn of /bin/true by the raw clone3 floor, then its wait.
sample one_raw_clone3() {
  int fd = -1;
  const sample s = measure([&] { fd = raw_clone3(true_path, true_argv); });
  wait_and_close(fd);
  return s;
}

// One timed pidfd::spawn of /bin/true with options, then its wait.
sample one_spawn(const pidfd::spawn_options& options) {
  pidfd::pid_fd p;
  const sample s = measure([&] { p = pidfd::spawn({true_path}, options); });
  p.wait();
  return s;
}

// One timed spawn of /bin/true through the overload that registers the pidfd, pipes and
// terminal with ctx (the only one that accepts stdio_pty), then its wait.
sample one_process_spawn(boost::asio::io_context& ctx, const pidfd::spawn_options& options) {
  std::optional<pidfd::basic_process<boost::asio::io_context::executor_type>> p;
  const sample s = measure([&] { p.emplace(pidfd::spawn(ctx, {true_path}, options)); });
  p->pidfd.core().wait();
  return s;
}

// One timed posix_spawn + pidfd_open of /bin/true, then its wait.
sample one_posix_spawn() {
  int fd = -1;
  const sample s = measure([&] {
    pid_t pid;
    if (::posix_spawn(&pid, true_path, nullptr, nullptr, true_argv, environ) != 0)
      die("posix_spawn");
    fd = pidfd_open(pid);
  });
  wait_and_close(fd);
  return s;
}

std::vector<impl> implementations(boost::asio::io_context& ctx) {
  std::vector<impl> v;
  // SPAWN_BENCH_KEEP_IGNORED=1: pidfd::spawn with spawn_options::keep_ignored_signals.
  static pidfd::spawn_options options;
  options.keep_ignored_signals = std::getenv("SPAWN_BENCH_KEEP_IGNORED") != nullptr;
  v.push_back({"pidfd::spawn", [] { return one_spawn(options); }});
  v.push_back({"raw clone3", one_raw_clone3});
  v.push_back({"posix_spawn+pidfd_open", one_posix_spawn});
  v.push_back({"fork+exec+pidfd_open", [] {
                 int fd = -1;
                 const sample s = measure([&] {
                   const pid_t pid = ::fork();
                   if (pid < 0) die("fork");
                   if (pid == 0) {
                     ::execve(true_path, true_argv, environ);
                     ::_exit(127);
                   }
                   fd = pidfd_open(pid);
                 });
                 wait_and_close(fd);
                 return s;
               }});
#if ASIO_PIDFD_BENCH_BP2
  v.push_back({"Boost.Process v2", [&ctx] {
                 std::optional<bp2::process> proc;
                 const sample s = measure([&] {
                   proc.emplace(ctx.get_executor(), true_path, std::vector<std::string>{});
                 });
                 proc->wait();
                 return s;
               }});
#else
  (void)ctx;
#endif
  return v;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

// Touched memory of the parent, beyond what the program itself uses.
struct ballast {
  void* p = MAP_FAILED;
  std::size_t size = 0;
  explicit ballast(std::size_t bytes) : size(bytes) {
    p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap");
    std::memset(p, 1, size);
  }
  ~ballast() { ::munmap(p, size); }
};

// ---- 5000 blocked children -----------------------------------------------------------

// Starts `count` cat processes reading the parent's fd 0 (a pipe nobody writes to) and
// keeps their pidfds open, so the parent's descriptor table grows to `count` + a few.
// Each child is stopped (SIGSTOP, untimed) as soon as its spawn returns, so that 5000
// program start-ups do not run on the CPU inside the timed calls. Returns the sum of the
// spawn calls in ms. Then kills and reaps them.
double many_blocked(int count, bool library) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) die("pipe2");
  const int saved_stdin = ::fcntl(0, F_DUPFD_CLOEXEC, 10);
  ::dup2(p[0], 0);
  ::close(p[0]);
  static char* const cat_argv[] = {const_cast<char*>(cat_path), nullptr};
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(count));
  std::vector<pidfd::pid_fd> owned;
  owned.reserve(static_cast<std::size_t>(count));
  double total_us = 0;
  for (int i = 0; i < count; ++i) {
    int fd = -1;
    if (library) {
      total_us += measure([&] { owned.push_back(pidfd::spawn({cat_path})); }).wall_us;
      fd = owned.back().native_handle();
    } else {
      total_us += measure([&] { fd = raw_clone3(cat_path, cat_argv); }).wall_us;
      fds.push_back(fd);
    }
    if (::syscall(SYS_pidfd_send_signal, fd, SIGSTOP, nullptr, 0) != 0) die("SIGSTOP");
  }
  ::close(p[1]);
  ::dup2(saved_stdin, 0);
  ::close(saved_stdin);
  for (auto& o : owned) o.kill();
  for (int fd : fds)
    if (::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0) != 0) die("SIGKILL");
  for (auto& o : owned) o.wait();
  for (int fd : fds) wait_and_close(fd);
  return total_us / 1e3;
}

// ---- interleaved: the spawn call, call by call --------------------------------------

// `calls` spawns of each of pidfd::spawn (default options), pidfd::spawn with
// keep_ignored_signals, raw clone3 and posix_spawn + pidfd_open, in turn within each
// iteration (order rotated every iteration), parent with 2 MiB touched: on a machine whose
// load changes from second to second, neighbouring calls see the same load, which rounds
// of 100 calls do not. Prints each one's p50 and the ratios of the p50s, per block of
// `calls / blocks` iterations and over all.
void interleaved(int calls, int blocks) {
  pidfd::spawn_options keep;
  keep.keep_ignored_signals = true;
  const std::function<sample()> run[4] = {[] { return one_spawn({}); },
                                          [&keep] { return one_spawn(keep); }, one_raw_clone3,
                                          one_posix_spawn};
  ballast b(std::size_t{2} << 20);
  std::vector<double> all[4], block[4], cpu[4];
  std::vector<double> keep_q, def_q;
  const int per_block = std::max(1, calls / std::max(1, blocks));
  std::printf("Interleaved, %d calls each, /bin/true, 2 MiB parent; p50 us: default, "
              "keep_ignored, raw clone3, posix_spawn+pidfd_open; ratios of p50s\n", calls);
  for (int i = 0; i < calls; ++i) {
    for (int k = 0; k < 4; ++k) {
      const int m = (k + i) % 4;
      const sample x = run[m]();
      all[m].push_back(x.wall_us);
      block[m].push_back(x.wall_us);
      cpu[m].push_back(x.cpu_us);
    }
    if ((i + 1) % per_block == 0 || i + 1 == calls) {
      double p[4];
      for (int m = 0; m < 4; ++m) p[m] = percentile(block[m], 0.5), block[m].clear();
      keep_q.push_back(p[1] / p[2]);
      def_q.push_back(p[3] / p[0]);
      std::printf("block %2zu: %6.1f %6.1f %6.1f %6.1f   keep/raw %.3f  posix/default %.3f\n",
                  keep_q.size(), p[0], p[1], p[2], p[3], p[1] / p[2], p[3] / p[0]);
    }
  }
  double p[4];
  for (int m = 0; m < 4; ++m) p[m] = percentile(all[m], 0.5);
  std::printf("all:      %6.1f %6.1f %6.1f %6.1f   keep/raw %.3f  posix/default %.3f\n", p[0],
              p[1], p[2], p[3], p[1] / p[2], p[3] / p[0]);
  for (int m = 0; m < 4; ++m) p[m] = percentile(cpu[m], 0.5);
  std::printf("CPU p50:  %6.1f %6.1f %6.1f %6.1f   (the calling thread's)\n", p[0], p[1], p[2],
              p[3]);
  std::printf("median of the block ratios: keep_ignored / raw clone3 %.3f (target <= 1.05), "
              "posix_spawn+pidfd_open / default %.3f (target >= 1.3)\n",
              percentile(keep_q, 0.5), percentile(def_q, 0.5));
}

// ---- options: what each credential, limit and terminal option adds -----------------

// Each sets one option of spawn_options to a value that leaves the child as the caller
// would have made it (the caller's own IDs, groups and limits), so that only the cost of
// applying it is measured.
void set_own_ids(pidfd::spawn_options& o) {
  o.uid = ::getuid();
  o.gid = ::getgid();  // groups unset: cleared in the child
}

void set_own_groups(pidfd::spawn_options& o) {
  const int n = ::getgroups(0, nullptr);
  if (n < 0) die("getgroups");
  std::vector<gid_t> groups(static_cast<std::size_t>(n));
  if (::getgroups(n, groups.data()) != n) die("getgroups");
  o.groups = std::move(groups);
}

void set_two_rlimits(pidfd::spawn_options& o) {
  for (const int resource : {RLIMIT_NOFILE, RLIMIT_CORE}) {
    rlimit rl{};
    if (::getrlimit(resource, &rl) != 0) die("getrlimit");
    o.rlimits.emplace_back(resource, rl);
  }
}

void set_umask(pidfd::spawn_options& o) {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  o.umask = mask;
}

void set_no_new_privs(pidfd::spawn_options& o) { o.no_new_privs = true; }

void set_all_credentials_and_limits(pidfd::spawn_options& o) {
  set_own_ids(o);
  set_own_groups(o);
  set_two_rlimits(o);
  set_umask(o);
  set_no_new_privs(o);
}

void set_stderr_to_stdout(pidfd::spawn_options& o) { o.stderr_fd = pidfd::stdio_stdout; }

// setsid() alone, which stdio_pty implies: with autogroup scheduling
// (/proc/sys/kernel/sched_autogroup_enabled) a new session is also a new scheduling group,
// so on a busy CPU the child may wait for its turn before it reaches execve.
void set_new_session(pidfd::spawn_options& o) { o.new_session = true; }

void set_pty_for_all_streams(pidfd::spawn_options& o) {
  o.stdin_fd = o.stdout_fd = o.stderr_fd = pidfd::stdio_pty;
}

struct option_variant {
  const char* name;
  void (*set)(pidfd::spawn_options&);  // nullptr: the default options
  bool through_context;                // spawn(ctx, ...) instead of the plain spawn()
  std::size_t baseline;                // index of the variant it is compared with
};

// `calls` spawns of /bin/true with each variant below, in turn within each iteration
// (in a new random order every iteration, so that no variant always follows the same
// other one; 2 MiB parent, as interleaved()). For each: the p50 of
// the call and of the calling thread's CPU, the ratio of its p50 to its baseline's over
// all calls and per block of `calls / blocks` iterations (median, min, max), and the
// microseconds it adds to the baseline's p50.
void option_costs(int calls, int blocks) {
  static const option_variant variants[] = {
      {"default", nullptr, false, 0},
      {"uid+gid (own, groups cleared)", set_own_ids, false, 0},
      {"groups (own)", set_own_groups, false, 0},
      {"2 rlimits (NOFILE, CORE)", set_two_rlimits, false, 0},
      {"umask", set_umask, false, 0},
      {"no_new_privs", set_no_new_privs, false, 0},
      {"all five above", set_all_credentials_and_limits, false, 0},
      {"stderr = stdio_stdout", set_stderr_to_stdout, false, 0},
      {"new_session (setsid)", set_new_session, false, 0},
      {"default via io_context", nullptr, true, 0},
      {"stdio_pty on 0-2 via io_context", set_pty_for_all_streams, true, 9},
  };
  constexpr std::size_t n = std::size(variants);
  boost::asio::io_context ctx;
  std::vector<pidfd::spawn_options> opts(n);
  for (std::size_t v = 0; v < n; ++v)
    if (variants[v].set) variants[v].set(opts[v]);
  ballast b(std::size_t{2} << 20);
  std::vector<double> wall[n], cpu[n], block[n], block_ratios[n];
  const int per_block = std::max(1, calls / std::max(1, blocks));
  std::size_t order[n];
  std::iota(std::begin(order), std::end(order), std::size_t{0});
  // The same orders in every run.
  std::mt19937 shuffle_bits(1);  // NOLINT(cert-msc32-c,cert-msc51-cpp)
  for (int i = 0; i < calls; ++i) {
    std::shuffle(std::begin(order), std::end(order), shuffle_bits);
    for (const std::size_t v : order) {
      const sample s = variants[v].through_context ? one_process_spawn(ctx, opts[v])
                                                   : one_spawn(opts[v]);
      wall[v].push_back(s.wall_us);
      cpu[v].push_back(s.cpu_us);
      block[v].push_back(s.wall_us);
    }
    if ((i + 1) % per_block == 0 || i + 1 == calls) {
      double p[n];
      for (std::size_t v = 0; v < n; ++v) p[v] = percentile(block[v], 0.5), block[v].clear();
      for (std::size_t v = 0; v < n; ++v) block_ratios[v].push_back(p[v] / p[variants[v].baseline]);
    }
  }
  std::printf("Spawn options, call by call, %d calls each, /bin/true, 2 MiB parent; ratio and "
              "added us against the baseline's p50; block ratios: median [min, max] of %zu "
              "blocks\n",
              calls, block_ratios[0].size());
  std::printf("%-30s %8s %8s %7s %20s %9s %9s  %s\n", "variant", "p50 us", "CPU us", "ratio",
              "block ratios", "added us", "added CPU", "baseline");
  for (std::size_t v = 0; v < n; ++v) {
    const std::size_t base = variants[v].baseline;
    const double w = percentile(wall[v], 0.5), wb = percentile(wall[base], 0.5);
    const double c = percentile(cpu[v], 0.5), cb = percentile(cpu[base], 0.5);
    const auto [lo, hi] = std::minmax_element(block_ratios[v].begin(), block_ratios[v].end());
    std::printf("%-30s %8.1f %8.1f %7.3f %6.3f [%.3f, %.3f] %9.1f %9.1f  %s\n",
                variants[v].name, w, c, w / wb, percentile(block_ratios[v], 0.5), *lo, *hi,
                w - wb, c - cb, variants[base].name);
  }
}

}  // namespace

// An exception (a filesystem error finding the helper, say) ends the benchmark with
// std::terminate's message, which is all a benchmark needs.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  const bool interleaved_only = argc > 1 && std::string(argv[1]) == "interleaved";
  const bool options_only = argc > 1 && std::string(argv[1]) == "options";
  const int rounds = !interleaved_only && !options_only
                         ? static_cast<int>(bench::number_arg(argc, argv, 1, 7))
                         : 7;
  const bool many_only = argc > 2 && std::string(argv[2]) == "many-only";
  const int fast_n = 100, slow_n_big = 15;
  const int many = 5000;

  // Favour the spawning thread over its children and over other work on the CPU: nice
  // -20 for us, reset to 0 in every child (SCHED_RESET_ON_FORK), so the children's start
  // (ld.so) mostly runs after the timed calls instead of inside them. Needs root; without
  // it the figures are noisier but still paired.
  if (::setpriority(PRIO_PROCESS, 0, -20) == 0) {
    sched_param sp{};
    if (::sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &sp) != 0)
      std::perror("sched_setscheduler");
  } else {
    std::perror("setpriority (running at normal priority)");
  }

  if (interleaved_only) {
    interleaved(static_cast<int>(bench::number_arg(argc, argv, 2, 2000)),
                static_cast<int>(bench::number_arg(argc, argv, 3, 10)));
    return 0;
  }
  if (options_only) {
    option_costs(static_cast<int>(bench::number_arg(argc, argv, 2, 2000)),
                 static_cast<int>(bench::number_arg(argc, argv, 3, 10)));
    return 0;
  }

  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);

  boost::asio::io_context ctx;
  std::vector<impl> impls = implementations(ctx);
  const std::size_t n_impl = impls.size();
  const std::size_t sizes[2] = {std::size_t{2} << 20, std::size_t{1} << 30};
  const char* size_names[2] = {"2 MiB", "1 GiB"};

  // samples[size][impl]: all calls; round_median[size][impl][round]
  std::vector<std::vector<std::vector<sample>>> samples(2, std::vector<std::vector<sample>>(n_impl));
  std::vector<std::vector<std::vector<double>>> round_median(
      2, std::vector<std::vector<double>>(n_impl));

  for (int r = 0; r < rounds && !many_only; ++r) {
    for (int si = 0; si < 2; ++si) {
      ballast b(sizes[si]);
      for (std::size_t k = 0; k < n_impl; ++k) {
        const std::size_t i = (k + static_cast<std::size_t>(r)) % n_impl;  // rotate the order
        const bool slow = i >= 3;  // fork-based
        const int n = (slow && si == 1) ? slow_n_big : fast_n;
        std::vector<double> walls;
        for (int j = 0; j < n; ++j) {
          const sample s = impls[i].run();
          samples[si][i].push_back(s);
          walls.push_back(s.wall_us);
        }
        round_median[si][i].push_back(percentile(walls, 0.5));
      }
    }
    (void)std::fprintf(stderr, "round %d/%d done\n", r + 1, rounds);
  }

  if (!many_only) {
    std::printf("Spawn call (wall) and calling thread CPU per spawn, %d rounds, /bin/true\n", rounds);
    std::printf("%-24s %-6s %10s %10s %12s %8s\n", "implementation", "parent", "p50 us", "p99 us",
                "CPU p50 us", "samples");
    for (int si = 0; si < 2; ++si)
      for (std::size_t i = 0; i < n_impl; ++i) {
        std::vector<double> w, c;
        for (const sample& s : samples[si][i]) {
          w.push_back(s.wall_us);
          c.push_back(s.cpu_us);
        }
        std::printf("%-24s %-6s %10.1f %10.1f %12.1f %8zu\n", impls[i].name, size_names[si],
                    percentile(w, 0.5), percentile(w, 0.99), percentile(c, 0.5), w.size());
      }

    // Paired ratios: per round, the ratio of the two round medians; the median over rounds.
    auto ratio = [&](int sa, std::size_t a, int sb, std::size_t b) {
      std::vector<double> q;
      q.reserve(static_cast<std::size_t>(rounds));
      for (int r = 0; r < rounds; ++r)
        q.push_back(round_median[sa][a][static_cast<std::size_t>(r)] /
                    round_median[sb][b][static_cast<std::size_t>(r)]);
      return percentile(q, 0.5);
    };
    std::printf("\nPaired ratios (median over rounds of the per-round median ratio)\n");
    for (int si = 0; si < 2; ++si) {
      std::printf("[%s] pidfd::spawn / raw clone3:                 %.3f  (target <= 1.05)\n",
                  size_names[si], ratio(si, 0, si, 1));
      std::printf("[%s] posix_spawn+pidfd_open / pidfd::spawn:     %.3f  (target >= 1.3)\n",
                  size_names[si], ratio(si, 2, si, 0));
      std::printf("[%s] fork+exec+pidfd_open / pidfd::spawn:       %.1f\n", size_names[si],
                  ratio(si, 3, si, 0));
      if (n_impl > 4)
        std::printf("[%s] Boost.Process v2 / pidfd::spawn:           %.1f\n", size_names[si],
                    ratio(si, 4, si, 0));
      else
        std::printf("[%s] Boost.Process v2: not built (see meson's summary)\n", size_names[si]);
    }
    std::printf("pidfd::spawn 1 GiB / 2 MiB:                        %.3f  (target <= 1.1)\n",
                ratio(1, 0, 0, 0));
    std::printf("raw clone3   1 GiB / 2 MiB:                        %.3f\n", ratio(1, 1, 0, 1));
  }

  // 5000 blocked children with their pidfds open.
  const int many_rounds = 3;
  std::vector<double> lib_ms, raw_ms, q;
  for (int r = 0; r < many_rounds; ++r) {
    double a, b;
    if (r % 2 == 0) {
      a = many_blocked(many, true);
      b = many_blocked(many, false);
    } else {
      b = many_blocked(many, false);
      a = many_blocked(many, true);
    }
    lib_ms.push_back(a);
    raw_ms.push_back(b);
    q.push_back(a / b);
    (void)std::fprintf(stderr,
                       "5000 children round %d: pidfd::spawn %.0f ms, raw clone3 %.0f ms\n",
                       r + 1, a, b);
  }
  std::printf("\n%d blocked children, pidfds kept open: sum of the spawn calls (%d rounds, median)\n",
              many, many_rounds);
  std::printf("pidfd::spawn (CLONE_FILES + close_range UNSHARE): %8.0f ms\n",
              percentile(lib_ms, 0.5));
  std::printf("raw clone3 (copies the fd table):                 %8.0f ms\n",
              percentile(raw_ms, 0.5));
  std::printf("ratio pidfd::spawn / raw clone3:                  %8.3f  (target <= 0.6)\n",
              percentile(q, 0.5));
  return 0;
}
