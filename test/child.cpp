// The helper child program of the test suite. It runs its arguments as a list of
// commands, left to right, then exits 0. Commands that report write one line to a file
// descriptor given as a number. No sleeps: every blocking command waits on a pipe, a
// signal, or is ended by the test.
//
//   exit N              _exit(N)
//   raise SIG           restore SIGs default action and raise it
//   core-dir DIR        chdir(DIR) and raise RLIMIT_CORE, so a crash dumps a core there
//   ignore SIG          set SIG to SIG_IGN
//   ready FD            write "R" to FD (the test waits for it)
//   wait-byte FD        block until a byte (or EOF) arrives on FD
//   pause               block until a signal ends the process
//   report FD           write "pid=P ppid=P uid=U euid=U gid=G egid=G sid=S pgid=G"
//   list-fds FD         write the open fds, sorted, space separated
//   args FD             write the argument count, then each argument as
//                       "<len>:<bytes>" (so empty and spaced ones survive)
//   env NAME FD         write the value of NAME, or "<unset>"
//   cwd FD              write the working directory
//   sigstate FD         write "blocked=<n> ignored=<n>": counts of blocked and ignored
//                       signals 1..64
//   sigwait SIG FD      block SIG, write "R" to FD, sigwaitinfo(SIG) and write
//                       "signo=S code=C pid=P uid=U value=V"
//   setuid UID          setresgid(UID) and setresuid(UID) (for example 65534)
//   unshare-uts NAME    unshare(CLONE_NEWUTS) and sethostname(NAME)
//   unshare-all NAME    unshare UTS, IPC, NET and mount namespaces, sethostname(NAME)
//   open-file PATH FD   open PATH read-only at fd number FD
//   fork-rest FD        fork: the new child runs the remaining commands; this process
//                       writes its pid to FD, reaps it, and exits 0
//   cgroup FD           write the "0::" line of /proc/self/cgroup
//   connect PATH FD     connect a new AF_UNIX stream socket to PATH (a leading '@' names
//                       an abstract address) and place it at fd FD
//   send-self-pidfd FD  send a pidfd of this process over the UNIX socket FD (SCM_RIGHTS,
//                       1-byte payload)
//   recv-fd FD OUT      receive one message from the UNIX socket FD and write
//                       "fds=<n> ino=<inode of the first fd>" (ino=0 if none) to OUT
//   block SIG           block SIG in the calling (main) thread; threads started later
//                       inherit the mask
//   thread FD           start a thread that blocks forever (its signal mask is the main
//                       thread's at that point) and write its thread id to FD
//   setpgid             setpgid(0, 0): become the leader of a new process group
//   fork-hold FD WFD    like fork-rest, but the parent waits for a byte (or EOF) on WFD
//                       before it reaps the new child
//   pidfd-id FD         write the pidfs inode number of a pidfd for this process
//   trace PID FD WFD    become PID's tracer (PTRACE_SEIZE, no options), write "R" to FD,
//                       wait for a byte (or EOF) on WFD, then wait for PID's exit
//                       (waitpid __WALL), which releases it to its real parent
//   map-memory PAGES FD map PAGES anonymous private pages, touch each, and write
//                       "addr=<hex> len=<bytes>" to FD
//   fork-detach FD      fork: the new child runs the remaining commands; this process
//                       writes the new child's pid to FD and exits 0 at once (the new child
//                       stays in our process group)
//   undumpable          prctl(PR_SET_DUMPABLE, 0)
//   cgroup-subdir       make a cgroup named "sub" below our own cgroup v2 (found through
//                       /proc/self/mountinfo and /proc/self/cgroup)
//   ptrace-hold PID OUT IN  PTRACE_SEIZE PID and write "R" to OUT; when PID has exited,
//                       write "E" to OUT while holding its zombie (its parent cannot reap
//                       it yet), block until a byte arrives on IN, then collect it as its
//                       tracer, which hands it back to its parent
//   spew FD N           write N bytes of the test pattern (byte i is (i * 131 + 7) mod 256,
//                       NUL bytes included) to FD, in 64 KiB writes
//   cat                 copy fd 0 to fd 1 until end of file
//   close FD            close FD
//   orphan-rest FD      fork: the new child writes its pid to FD, waits until this
//                       process has exited, then runs the remaining commands; this process
//                       exits 0 at once (the new child is orphaned, keeping our fds)
//   write FD TEXT       write TEXT to FD as it is (no newline), in one write()
//   creds FD            write "uid=R,E,S,F gid=R,E,S,F groups=G,G nnp=N" from
//                       /proc/self/status (groups empty when there are none)
//   rlimit RES FD       write "<cur> <max>" of resource number RES ("inf" if unlimited)
//   umask FD            write the umask in octal, 4 digits
//   tty FD              write "isatty=<0|1 for fds 0,1,2> leader=<sid == pid> ctty=<could
//                       open /dev/tty> fg=<foreground group of /dev/tty == pid>
//                       size=<rows>x<cols of /dev/tty>"
//   color FD TEXT       write TEXT and '\n' to FD, in green (ANSI) only if FD is a terminal
//   ask FD PROMPT       write PROMPT to FD, read one line from fd 0, write "got <line>"
//   burn MS             spin in user mode until this process has used MS ms of user CPU
//   touch-mib N         allocate N MiB and write to every page of it (resident memory)
//   pipe-size FD OUT    write the capacity of the pipe at FD (F_GETPIPE_SZ), or "error
//                       <errno>", to OUT
//
// Each command is one function, found by name in the table at the end (with the number of
// arguments it takes, checked before it runs).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  (void)std::fprintf(stderr, "test child: %s: %s\n", what.c_str(), std::strerror(errno));
  std::_Exit(120);
}

void write_all(int fd, const char* p, std::size_t left, const char* what) {
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die(what);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void put(int fd, const std::string& line) {
  const std::string s = line + "\n";
  write_all(fd, s.data(), s.size(), ("write to fd " + std::to_string(fd)).c_str());
}

// Blocks until a byte (or EOF) arrives on fd.
void read_byte(int fd) {
  char c;
  ssize_t n;
  do n = ::read(fd, &c, 1);
  while (n < 0 && errno == EINTR);
}

void reap(pid_t pid) {
  int st;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

// Moves fd to the number `want`.
void move_fd(int fd, int want) {
  if (fd == want) return;
  if (::dup2(fd, want) < 0) die("dup2");
  ::close(fd);
}

// One command as it appears on the command line: its name, then its arguments; and the
// whole command line (for `args`).
struct invocation {
  int argc;
  char** argv;
  char** words;  // words[0] is the command's name

  const char* text(int k) const { return words[k]; }
  int num(int k) const { return static_cast<int>(number(k)); }
  long long number(int k) const {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(words[k], &end, 10);
    if (errno != 0 || end == words[k] || *end != '\0') {
      errno = EINVAL;
      die(std::string("not a number: ") + words[k]);
    }
    return v;
  }
};

// ---- exit, signals, waiting

void cmd_exit(const invocation& c) { std::_Exit(c.num(1)); }

void cmd_raise(const invocation& c) {
  const int sig = c.num(1);
  (void)::signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  (void)::raise(sig);
  die("raise returned");
}

void cmd_ignore(const invocation& c) { (void)::signal(c.num(1), SIG_IGN); }

void cmd_block(const invocation& c) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, c.num(1));
  sigprocmask(SIG_BLOCK, &set, nullptr);
}

void cmd_ready(const invocation& c) { put(c.num(1), "R"); }

void cmd_wait_byte(const invocation& c) { read_byte(c.num(1)); }

[[noreturn]] void cmd_pause(const invocation&) {
  for (;;) ::pause();
}

void cmd_sigwait(const invocation& c) {
  const int sig = c.num(1);
  const int out = c.num(2);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  put(out, "R");
  siginfo_t si{};
  int r;
  do r = ::sigwaitinfo(&set, &si);
  while (r < 0 && errno == EINTR);
  if (r < 0) die("sigwaitinfo");
  put(out, "signo=" + std::to_string(si.si_signo) + " code=" + std::to_string(si.si_code) +
               " pid=" + std::to_string(si.si_pid) + " uid=" + std::to_string(si.si_uid) +
               " value=" + std::to_string(si.si_value.sival_int));
}

// ---- reports

void cmd_report(const invocation& c) {
  put(c.num(1), "pid=" + std::to_string(::getpid()) + " ppid=" + std::to_string(::getppid()) +
                    " uid=" + std::to_string(::getuid()) + " euid=" +
                    std::to_string(::geteuid()) + " gid=" + std::to_string(::getgid()) +
                    " egid=" + std::to_string(::getegid()) + " sid=" +
                    std::to_string(::getsid(0)) + " pgid=" + std::to_string(::getpgid(0)));
}

void cmd_list_fds(const invocation& c) {
  std::vector<int> fds;
  // Listing via a directory stream opens one more fd; leave it out of the answer.
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    fds.push_back(std::stoi(e.path().filename().string()));
  std::sort(fds.begin(), fds.end());
  std::string s;
  for (int fd : fds) {
    if (::fcntl(fd, F_GETFD) < 0) continue;  // the iterator's own fd, now closed
    if (!s.empty()) s += ' ';
    s += std::to_string(fd);
  }
  put(c.num(1), s);
}

void cmd_args(const invocation& c) {
  std::string s = std::to_string(c.argc);
  for (int k = 0; k < c.argc; ++k)
    s += " " + std::to_string(std::strlen(c.argv[k])) + ":" + c.argv[k];
  put(c.num(1), s);
}

void cmd_env(const invocation& c) {
  const char* v = std::getenv(c.text(1));
  put(c.num(2), v ? v : "<unset>");
}

void cmd_cwd(const invocation& c) { put(c.num(1), std::filesystem::current_path().string()); }

void cmd_sigstate(const invocation& c) {
  sigset_t mask;
  sigprocmask(SIG_BLOCK, nullptr, &mask);
  int blocked = 0, ignored = 0;
  for (int s = 1; s <= 64; ++s) {
    if (sigismember(&mask, s) == 1) ++blocked;
    struct sigaction sa;
    if (::sigaction(s, nullptr, &sa) == 0 && sa.sa_handler == SIG_IGN) ++ignored;
  }
  put(c.num(1), "blocked=" + std::to_string(blocked) + " ignored=" + std::to_string(ignored));
}

// The "0::" line of /proc/self/cgroup, without its prefix; empty if there is none.
std::string unified_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string line, found;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) found = line.substr(3);
  return found;
}

void cmd_cgroup(const invocation& c) {
  const std::string found = unified_cgroup();
  put(c.num(1), found.empty() ? "<none>" : found);
}

void cmd_pidfd_id(const invocation& c) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0) die("pidfd-id");
  ::close(fd);
  put(c.num(1), std::to_string(st.st_ino));
}

// The whitespace-separated values of a /proc status line, comma-separated.
std::string status_values(const std::string& rest) {
  std::string out;
  std::size_t k = 0;
  for (;;) {
    while (k < rest.size() && (rest[k] == ' ' || rest[k] == '\t')) ++k;
    if (k >= rest.size()) break;
    const std::size_t e = rest.find_first_of(" \t", k);
    if (!out.empty()) out += ',';
    out += rest.substr(k, e - k);
    if (e == std::string::npos) break;
    k = e;
  }
  return out;
}

void cmd_creds(const invocation& c) {
  std::ifstream in("/proc/self/status");
  std::string line, uid, gid, groups, nnp;
  while (std::getline(in, line)) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon), rest = line.substr(colon + 1);
    if (key == "Uid") uid = status_values(rest);
    if (key == "Gid") gid = status_values(rest);
    if (key == "Groups") groups = status_values(rest);
    if (key == "NoNewPrivs") nnp = status_values(rest);
  }
  put(c.num(1), "uid=" + uid + " gid=" + gid + " groups=" + groups + " nnp=" + nnp);
}

void cmd_rlimit(const invocation& c) {
  rlimit l{};
  if (::getrlimit(static_cast<__rlimit_resource>(c.num(1)), &l) != 0) die("getrlimit");
  auto show = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("inf") : std::to_string(v); };
  put(c.num(2), show(l.rlim_cur) + " " + show(l.rlim_max));
}

void cmd_umask(const invocation& c) {
  const mode_t m = ::umask(0);
  char text[8];
  (void)std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(m));
  put(c.num(1), text);
}

void cmd_pipe_size(const invocation& c) {
  const int size = ::fcntl(c.num(1), F_GETPIPE_SZ);
  put(c.num(2), size >= 0 ? std::to_string(size) : "error " + std::to_string(errno));
}

void cmd_tty(const invocation& c) {
  std::string line = "isatty=";
  for (int fd = 0; fd < 3; ++fd) line += ::isatty(fd) ? '1' : '0';
  line += " leader=" + std::to_string(::getsid(0) == ::getpid() ? 1 : 0);
  const int tty = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  line += " ctty=" + std::to_string(tty >= 0 ? 1 : 0);
  winsize ws{};
  if (tty >= 0) {
    line += " fg=" + std::to_string(::tcgetpgrp(tty) == ::getpid() ? 1 : 0);
    if (::ioctl(tty, TIOCGWINSZ, &ws) != 0) die("TIOCGWINSZ");
    ::close(tty);
  }
  line += " size=" + std::to_string(ws.ws_row) + "x" + std::to_string(ws.ws_col);
  put(c.num(1), line);
}

// ---- process attributes

void cmd_core_dir(const invocation& c) {
  if (::chdir(c.text(1)) != 0) die("chdir");
  rlimit rl{RLIM_INFINITY, RLIM_INFINITY};
  if (::setrlimit(RLIMIT_CORE, &rl) != 0) die("setrlimit");
}

void cmd_setuid(const invocation& c) {
  const int id = c.num(1);
  if (::setresgid(id, id, id) != 0) die("setresgid");
  if (::setresuid(id, id, id) != 0) die("setresuid");
}

void unshare_and_name(int flags, const char* name) {
  if (::unshare(flags) != 0) die("unshare");
  if (::sethostname(name, std::strlen(name)) != 0) die("sethostname");
}

void cmd_unshare_uts(const invocation& c) { unshare_and_name(CLONE_NEWUTS, c.text(1)); }

void cmd_unshare_all(const invocation& c) {
  unshare_and_name(CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWNS, c.text(1));
}

void cmd_undumpable(const invocation&) {
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die("prctl");
}

void cmd_setpgid(const invocation&) {
  if (::setpgid(0, 0) != 0) die("setpgid");
}

void cmd_cgroup_subdir(const invocation&) {
  const std::string own = unified_cgroup();
  std::string mount, line;
  std::ifstream mi("/proc/self/mountinfo");
  while (mount.empty() && std::getline(mi, line)) {
    const std::size_t dash = line.find(" - cgroup2 ");
    if (dash == std::string::npos) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string f;
    for (int k = 0; k < 5 && fields >> f; ++k) {
    }
    mount = f;  // field 5: the mount point (of the whole hierarchy here)
  }
  if (own.empty() || mount.empty()) die("no cgroup v2");
  if (::mkdir((mount + own + "/sub").c_str(), 0755) != 0) die("mkdir");
}

// ---- memory and CPU

void cmd_map_memory(const invocation& c) {
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::size_t len = static_cast<std::size_t>(c.num(1)) * static_cast<std::size_t>(page);
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap");
  for (std::size_t k = 0; k < len; k += static_cast<std::size_t>(page))
    static_cast<volatile char*>(p)[k] = 1;
  char line[80];
  (void)std::snprintf(line, sizeof line, "addr=%lx len=%zu",
                      static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(p)), len);
  put(c.num(2), line);
}

void cmd_touch_mib(const invocation& c) {
  const std::size_t size = static_cast<std::size_t>(c.num(1)) << 20;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap");
  for (std::size_t off = 0; off < size; off += 4096) static_cast<volatile char*>(p)[off] = 1;
}

void cmd_burn(const invocation& c) {
  const long want_us = static_cast<long>(c.num(1)) * 1000;
  volatile unsigned long spin = 0;
  for (;;) {
    for (int k = 0; k < 1000000; ++k) spin = spin + 1;
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    if (ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec >= want_us) break;
  }
}

// ---- processes and threads

// fork: the new child returns (and runs the remaining commands); this process writes the
// new child's pid to out, reaps it if `wait_for_it`, and exits 0.
void fork_rest(int out, bool wait_for_it) {
  const pid_t pid = ::fork();
  if (pid < 0) die("fork");
  if (pid == 0) return;
  put(out, std::to_string(pid));
  if (wait_for_it) reap(pid);
  std::_Exit(0);
}

void cmd_fork_rest(const invocation& c) { fork_rest(c.num(1), true); }

void cmd_fork_detach(const invocation& c) { fork_rest(c.num(1), false); }

void cmd_fork_hold(const invocation& c) {
  const int out = c.num(1);
  const int hold = c.num(2);
  const pid_t pid = ::fork();
  if (pid < 0) die("fork");
  if (pid == 0) return;
  put(out, std::to_string(pid));
  read_byte(hold);
  reap(pid);
  std::_Exit(0);
}

void cmd_orphan_rest(const invocation& c) {
  int link[2];
  if (::pipe(link) != 0) die("pipe");
  const pid_t pid = ::fork();
  if (pid < 0) die("fork");
  if (pid > 0) std::_Exit(0);  // our end of link closes with us
  ::close(link[1]);
  put(c.num(1), std::to_string(::getpid()));
  read_byte(link[0]);
  ::close(link[0]);
}

void cmd_thread(const invocation& c) {
  int tid_pipe[2];
  if (::pipe(tid_pipe) != 0) die("pipe");
  // Detached: the thread ends with the process (exit_group).
  std::thread([fd = tid_pipe[1]] {
    const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
    if (::write(fd, &tid, sizeof tid) != static_cast<ssize_t>(sizeof tid)) die("write tid");
    for (;;) ::pause();
  }).detach();
  pid_t tid = 0;
  ssize_t n;
  do n = ::read(tid_pipe[0], &tid, sizeof tid);
  while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof tid)) die("read tid");
  ::close(tid_pipe[0]);
  ::close(tid_pipe[1]);
  put(c.num(1), std::to_string(tid));
}

void cmd_trace(const invocation& c) {
  const pid_t pid = c.num(1);
  if (::ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) != 0) die("PTRACE_SEIZE");
  put(c.num(2), "R");
  read_byte(c.num(3));
  for (;;) {
    int st = 0;
    const pid_t w = ::waitpid(pid, &st, __WALL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die("waitpid traced");
    if (WIFEXITED(st) || WIFSIGNALED(st)) break;
    // A stop: let it go on (passing the signal, if any, through).
    const int sig = WIFSTOPPED(st) && (st >> 16) == 0 ? WSTOPSIG(st) : 0;
    ::ptrace(PTRACE_CONT, pid, nullptr, sig == SIGTRAP ? 0 : sig);
  }
}

// As target's tracer, lets it run until it has exited, leaving its zombie in place.
void trace_until_exit(pid_t target) {
  for (;;) {
    siginfo_t si{};
    if (::waitid(P_PID, target, &si, WEXITED | WSTOPPED | WNOWAIT | __WALL) != 0) {
      if (errno == EINTR) continue;
      die("waitid");
    }
    if (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)
      return;
    int st;  // a signal-delivery stop: consume it and deliver the signal
    if (::waitpid(target, &st, __WALL) < 0) die("waitpid");
    ::ptrace(PTRACE_CONT, target, nullptr, WIFSTOPPED(st) ? WSTOPSIG(st) : 0);
  }
}

void cmd_ptrace_hold(const invocation& c) {
  const pid_t target = c.num(1);
  const int out = c.num(2);
  if (::ptrace(PTRACE_SEIZE, target, nullptr, nullptr) != 0) die("PTRACE_SEIZE");
  put(out, "R");
  trace_until_exit(target);
  put(out, "E");
  read_byte(c.num(3));
  int st;
  while (::waitpid(target, &st, __WALL) < 0 && errno == EINTR) {
  }
}

// ---- files, sockets, terminals

void cmd_open_file(const invocation& c) {
  const int fd = ::open(c.text(1), O_RDONLY);
  if (fd < 0) die("open");
  move_fd(fd, c.num(2));
}

void cmd_close(const invocation& c) { ::close(c.num(1)); }

void cmd_write(const invocation& c) {
  const std::string text = c.text(2);
  if (::write(c.num(1), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    die("write");
}

void cmd_spew(const invocation& c) {
  const int out = c.num(1);
  const long long total = c.number(2);
  std::vector<char> block(std::size_t{64} * 1024);
  long long done = 0;
  while (done < total) {
    const std::size_t n = static_cast<std::size_t>(
        std::min<long long>(total - done, static_cast<long long>(block.size())));
    for (std::size_t k = 0; k < n; ++k)
      block[k] = static_cast<char>(((done + static_cast<long long>(k)) * 131 + 7) & 0xff);
    write_all(out, block.data(), n, "spew");
    done += static_cast<long long>(n);
  }
}

void cmd_cat(const invocation&) {
  std::vector<char> block(std::size_t{64} * 1024);
  for (;;) {
    const ssize_t n = ::read(0, block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("cat: read");
    if (n == 0) break;
    write_all(1, block.data(), static_cast<std::size_t>(n), "cat: write");
  }
}

void cmd_connect(const invocation& c) {
  std::string path = c.text(1);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) die("connect: path too long");
  if (!path.empty() && path[0] == '@') path[0] = '\0';
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0) die("socket");
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (::connect(s, reinterpret_cast<const sockaddr*>(&addr), len) != 0) die("connect");
  move_fd(s, c.num(2));
}

void cmd_send_self_pidfd(const invocation& c) {
  const long pidfd = ::syscall(SYS_pidfd_open, ::getpid(), 0);
  if (pidfd < 0) die("pidfd_open");
  char payload = 0;
  iovec iov{&payload, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  const int fd = static_cast<int>(pidfd);
  std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  if (::sendmsg(c.num(1), &msg, MSG_NOSIGNAL) != 1) die("sendmsg");
  ::close(fd);
}

// The fds of the SCM_RIGHTS messages in msg.
std::vector<int> received_fds(msghdr& msg) {
  std::vector<int> fds;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    for (std::size_t k = 0; k < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++k) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
      fds.push_back(fd);
    }
  }
  return fds;
}

void cmd_recv_fd(const invocation& c) {
  char payload;
  iovec iov{&payload, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do n = ::recvmsg(c.num(1), &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) die("recvmsg");
  const std::vector<int> fds = received_fds(msg);
  unsigned long long ino = 0;
  struct stat st;
  if (!fds.empty() && ::fstat(fds[0], &st) == 0) ino = st.st_ino;
  for (int fd : fds) ::close(fd);
  put(c.num(2), "fds=" + std::to_string(fds.size()) + " ino=" + std::to_string(ino));
}

void cmd_color(const invocation& c) {
  const int out = c.num(1);
  const std::string text = c.text(2);
  put(out, ::isatty(out) ? "\033[32m" + text + "\033[0m" : text);
}

void cmd_ask(const invocation& c) {
  const int out = c.num(1);
  const std::string prompt = c.text(2);
  if (::write(out, prompt.data(), prompt.size()) != static_cast<ssize_t>(prompt.size()))
    die("ask: write");
  std::string answer;
  char ch;
  for (;;) {
    const ssize_t n = ::read(0, &ch, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("ask: read");
    if (n == 0 || ch == '\n') break;
    answer += ch;
  }
  put(out, "got " + answer);
}

// ---- the table

struct command {
  std::string_view name;
  int arity;  // arguments after the name
  void (*run)(const invocation&);
};

constexpr std::array<command, 48> commands{{
    {"exit", 1, cmd_exit},
    {"raise", 1, cmd_raise},
    {"core-dir", 1, cmd_core_dir},
    {"ignore", 1, cmd_ignore},
    {"ready", 1, cmd_ready},
    {"wait-byte", 1, cmd_wait_byte},
    {"pause", 0, cmd_pause},
    {"report", 1, cmd_report},
    {"list-fds", 1, cmd_list_fds},
    {"args", 1, cmd_args},
    {"env", 2, cmd_env},
    {"cwd", 1, cmd_cwd},
    {"sigstate", 1, cmd_sigstate},
    {"sigwait", 2, cmd_sigwait},
    {"setuid", 1, cmd_setuid},
    {"unshare-uts", 1, cmd_unshare_uts},
    {"unshare-all", 1, cmd_unshare_all},
    {"open-file", 2, cmd_open_file},
    {"fork-rest", 1, cmd_fork_rest},
    {"fork-detach", 1, cmd_fork_detach},
    {"map-memory", 2, cmd_map_memory},
    {"undumpable", 0, cmd_undumpable},
    {"cgroup", 1, cmd_cgroup},
    {"cgroup-subdir", 0, cmd_cgroup_subdir},
    {"connect", 2, cmd_connect},
    {"send-self-pidfd", 1, cmd_send_self_pidfd},
    {"recv-fd", 2, cmd_recv_fd},
    {"block", 1, cmd_block},
    {"thread", 1, cmd_thread},
    {"setpgid", 0, cmd_setpgid},
    {"fork-hold", 2, cmd_fork_hold},
    {"spew", 2, cmd_spew},
    {"cat", 0, cmd_cat},
    {"close", 1, cmd_close},
    {"orphan-rest", 1, cmd_orphan_rest},
    {"pidfd-id", 1, cmd_pidfd_id},
    {"trace", 3, cmd_trace},
    {"ptrace-hold", 3, cmd_ptrace_hold},
    {"write", 2, cmd_write},
    {"creds", 1, cmd_creds},
    {"rlimit", 2, cmd_rlimit},
    {"umask", 1, cmd_umask},
    {"tty", 1, cmd_tty},
    {"color", 2, cmd_color},
    {"ask", 2, cmd_ask},
    {"burn", 1, cmd_burn},
    {"touch-mib", 1, cmd_touch_mib},
    {"pipe-size", 2, cmd_pipe_size},
}};

const command& find_command(std::string_view name) {
  for (const command& c : commands)
    if (c.name == name) return c;
  errno = EINVAL;
  die("unknown command " + std::string(name));
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc;) {
    const command& c = find_command(argv[i]);
    if (i + c.arity >= argc) {
      errno = EINVAL;
      die("missing argument to " + std::string(c.name));
    }
    c.run(invocation{argc, argv, argv + i});
    i += 1 + c.arity;
  }
  return 0;
}
