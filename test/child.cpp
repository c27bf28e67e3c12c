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
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "test child: %s: %s\n", what.c_str(), std::strerror(errno));
  std::_Exit(120);
}

void put(int fd, const std::string& line) {
  std::string s = line + "\n";
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("write to fd " + std::to_string(fd));
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

int num(const char* s) { return std::atoi(s); }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& cmd = args[i];
    auto arg = [&](std::size_t k) -> const char* {
      if (i + k >= args.size()) {
        errno = EINVAL;
        die("missing argument to " + cmd);
      }
      return args[i + k].c_str();
    };
    if (cmd == "exit") {
      std::_Exit(num(arg(1)));
    } else if (cmd == "raise") {
      const int sig = num(arg(1));
      ::signal(sig, SIG_DFL);
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, sig);
      sigprocmask(SIG_UNBLOCK, &set, nullptr);
      ::raise(sig);
      die("raise returned");
    } else if (cmd == "core-dir") {
      if (::chdir(arg(1)) != 0) die("chdir");
      rlimit rl{RLIM_INFINITY, RLIM_INFINITY};
      if (::setrlimit(RLIMIT_CORE, &rl) != 0) die("setrlimit");
      i += 1;
    } else if (cmd == "ignore") {
      ::signal(num(arg(1)), SIG_IGN);
      i += 1;
    } else if (cmd == "ready") {
      put(num(arg(1)), "R");
      i += 1;
    } else if (cmd == "wait-byte") {
      char c;
      ssize_t n;
      do n = ::read(num(arg(1)), &c, 1);
      while (n < 0 && errno == EINTR);
      i += 1;
    } else if (cmd == "pause") {
      for (;;) ::pause();
    } else if (cmd == "report") {
      put(num(arg(1)), "pid=" + std::to_string(::getpid()) + " ppid=" +
                           std::to_string(::getppid()) + " uid=" + std::to_string(::getuid()) +
                           " euid=" + std::to_string(::geteuid()) +
                           " gid=" + std::to_string(::getgid()) +
                           " egid=" + std::to_string(::getegid()) +
                           " sid=" + std::to_string(::getsid(0)) +
                           " pgid=" + std::to_string(::getpgid(0)));
      i += 1;
    } else if (cmd == "list-fds") {
      const int out = num(arg(1));
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
      put(out, s);
      i += 1;
    } else if (cmd == "args") {
      std::string s = std::to_string(argc);
      for (int k = 0; k < argc; ++k)
        s += " " + std::to_string(std::strlen(argv[k])) + ":" + argv[k];
      put(num(arg(1)), s);
      i += 1;
    } else if (cmd == "env") {
      const char* v = std::getenv(arg(1));
      put(num(arg(2)), v ? v : "<unset>");
      i += 2;
    } else if (cmd == "cwd") {
      put(num(arg(1)), std::filesystem::current_path().string());
      i += 1;
    } else if (cmd == "sigstate") {
      sigset_t mask;
      sigprocmask(SIG_BLOCK, nullptr, &mask);
      int blocked = 0, ignored = 0;
      for (int s = 1; s <= 64; ++s) {
        if (sigismember(&mask, s) == 1) ++blocked;
        struct sigaction sa;
        if (::sigaction(s, nullptr, &sa) == 0 && sa.sa_handler == SIG_IGN) ++ignored;
      }
      put(num(arg(1)), "blocked=" + std::to_string(blocked) + " ignored=" + std::to_string(ignored));
      i += 1;
    } else if (cmd == "sigwait") {
      const int sig = num(arg(1));
      const int out = num(arg(2));
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
      i += 2;
    } else if (cmd == "setuid") {
      const int id = num(arg(1));
      if (::setresgid(id, id, id) != 0) die("setresgid");
      if (::setresuid(id, id, id) != 0) die("setresuid");
      i += 1;
    } else if (cmd == "unshare-uts" || cmd == "unshare-all") {
      int flags = CLONE_NEWUTS;
      if (cmd == "unshare-all") flags |= CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWNS;
      if (::unshare(flags) != 0) die("unshare");
      const char* name = arg(1);
      if (::sethostname(name, std::strlen(name)) != 0) die("sethostname");
      i += 1;
    } else if (cmd == "open-file") {
      const int fd = ::open(arg(1), O_RDONLY);
      if (fd < 0) die("open");
      const int want = num(arg(2));
      if (fd != want) {
        if (::dup2(fd, want) < 0) die("dup2");
        ::close(fd);
      }
      i += 2;
    } else if (cmd == "fork-rest" || cmd == "fork-detach") {
      const int out = num(arg(1));
      const pid_t pid = ::fork();
      if (pid < 0) die("fork");
      if (pid == 0) {
        i += 1;
        continue;
      }
      put(out, std::to_string(pid));
      int st;
      while (cmd == "fork-rest" && ::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      std::_Exit(0);
    } else if (cmd == "map-memory") {
      const long page = ::sysconf(_SC_PAGESIZE);
      const std::size_t len = static_cast<std::size_t>(num(arg(1))) * static_cast<std::size_t>(page);
      void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) die("mmap");
      for (std::size_t k = 0; k < len; k += static_cast<std::size_t>(page))
        static_cast<volatile char*>(p)[k] = 1;
      char line[80];
      std::snprintf(line, sizeof line, "addr=%lx len=%zu",
                    static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(p)), len);
      put(num(arg(2)), line);
      i += 2;
    } else if (cmd == "undumpable") {
      if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die("prctl");
    } else if (cmd == "cgroup") {
      std::ifstream in("/proc/self/cgroup");
      std::string line, found = "<none>";
      while (std::getline(in, line))
        if (line.rfind("0::", 0) == 0) found = line.substr(3);
      put(num(arg(1)), found);
      i += 1;
    } else if (cmd == "cgroup-subdir") {
      std::string own, mount, line;
      std::ifstream cg("/proc/self/cgroup");
      while (std::getline(cg, line))
        if (line.rfind("0::", 0) == 0) own = line.substr(3);
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
    } else if (cmd == "connect") {
      std::string path = arg(1);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      if (path.size() >= sizeof(addr.sun_path)) die("connect: path too long");
      if (!path.empty() && path[0] == '@') path[0] = '\0';
      std::memcpy(addr.sun_path, path.data(), path.size());
      const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
      if (s < 0) die("socket");
      const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
      if (::connect(s, reinterpret_cast<const sockaddr*>(&addr), len) != 0) die("connect");
      const int want = num(arg(2));
      if (s != want) {
        if (::dup2(s, want) < 0) die("dup2");
        ::close(s);
      }
      i += 2;
    } else if (cmd == "send-self-pidfd") {
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
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      const int fd = static_cast<int>(pidfd);
      std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
      if (::sendmsg(num(arg(1)), &msg, MSG_NOSIGNAL) != 1) die("sendmsg");
      ::close(fd);
      i += 1;
    } else if (cmd == "recv-fd") {
      char payload;
      iovec iov{&payload, 1};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n;
      do n = ::recvmsg(num(arg(1)), &msg, MSG_CMSG_CLOEXEC);
      while (n < 0 && errno == EINTR);
      if (n < 0) die("recvmsg");
      std::vector<int> fds;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        for (std::size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++k) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
          fds.push_back(fd);
        }
      }
      unsigned long long ino = 0;
      struct stat st;
      if (!fds.empty() && ::fstat(fds[0], &st) == 0) ino = st.st_ino;
      for (int fd : fds) ::close(fd);
      put(num(arg(2)), "fds=" + std::to_string(fds.size()) + " ino=" + std::to_string(ino));
      i += 2;
    } else if (cmd == "block") {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, num(arg(1)));
      sigprocmask(SIG_BLOCK, &set, nullptr);
      i += 1;
    } else if (cmd == "thread") {
      const int out = num(arg(1));
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
      put(out, std::to_string(tid));
      i += 1;
    } else if (cmd == "setpgid") {
      if (::setpgid(0, 0) != 0) die("setpgid");
    } else if (cmd == "fork-hold") {
      const int out = num(arg(1));
      const int hold = num(arg(2));
      const pid_t pid = ::fork();
      if (pid < 0) die("fork");
      if (pid == 0) {
        i += 2;
        continue;
      }
      put(out, std::to_string(pid));
      char c;
      ssize_t n;
      do n = ::read(hold, &c, 1);
      while (n < 0 && errno == EINTR);
      int st;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      std::_Exit(0);
    } else if (cmd == "spew") {
      const int out = num(arg(1));
      const long long total = std::atoll(arg(2));
      std::vector<char> block(64 * 1024);
      long long done = 0;
      while (done < total) {
        const std::size_t n = static_cast<std::size_t>(
            std::min<long long>(total - done, static_cast<long long>(block.size())));
        for (std::size_t k = 0; k < n; ++k)
          block[k] = static_cast<char>(((done + static_cast<long long>(k)) * 131 + 7) & 0xff);
        std::size_t off = 0;
        while (off < n) {
          const ssize_t w = ::write(out, block.data() + off, n - off);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) die("spew");
          off += static_cast<std::size_t>(w);
        }
        done += static_cast<long long>(n);
      }
      i += 2;
    } else if (cmd == "cat") {
      std::vector<char> block(64 * 1024);
      for (;;) {
        const ssize_t n = ::read(0, block.data(), block.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("cat: read");
        if (n == 0) break;
        ssize_t off = 0;
        while (off < n) {
          const ssize_t w = ::write(1, block.data() + off, static_cast<std::size_t>(n - off));
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) die("cat: write");
          off += w;
        }
      }
    } else if (cmd == "close") {
      ::close(num(arg(1)));
      i += 1;
    } else if (cmd == "orphan-rest") {
      const int out = num(arg(1));
      int link[2];
      if (::pipe(link) != 0) die("pipe");
      const pid_t pid = ::fork();
      if (pid < 0) die("fork");
      if (pid > 0) std::_Exit(0);  // our end of link closes with us
      ::close(link[1]);
      put(out, std::to_string(::getpid()));
      char c;
      ssize_t n;
      do n = ::read(link[0], &c, 1);
      while (n < 0 && errno == EINTR);
      ::close(link[0]);
      i += 1;
    } else if (cmd == "pidfd-id") {
      const int fd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
      struct stat st;
      if (fd < 0 || ::fstat(fd, &st) != 0) die("pidfd-id");
      ::close(fd);
      put(num(arg(1)), std::to_string(st.st_ino));
      i += 1;
    } else if (cmd == "trace") {
      const pid_t pid = num(arg(1));
      if (::ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) != 0) die("PTRACE_SEIZE");
      put(num(arg(2)), "R");
      char c;
      ssize_t n;
      do n = ::read(num(arg(3)), &c, 1);
      while (n < 0 && errno == EINTR);
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
      i += 3;
    } else if (cmd == "ptrace-hold") {
      const pid_t target = num(arg(1));
      const int out = num(arg(2));
      const int in = num(arg(3));
      if (::ptrace(PTRACE_SEIZE, target, nullptr, nullptr) != 0) die("PTRACE_SEIZE");
      put(out, "R");
      for (;;) {
        siginfo_t si{};
        if (::waitid(P_PID, target, &si, WEXITED | WSTOPPED | WNOWAIT | __WALL) != 0) {
          if (errno == EINTR) continue;
          die("waitid");
        }
        if (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)
          break;
        int st;  // a signal-delivery stop: consume it and deliver the signal
        if (::waitpid(target, &st, __WALL) < 0) die("waitpid");
        ::ptrace(PTRACE_CONT, target, nullptr, WIFSTOPPED(st) ? WSTOPSIG(st) : 0);
      }
      put(out, "E");
      char c;
      ssize_t n;
      do n = ::read(in, &c, 1);
      while (n < 0 && errno == EINTR);
      int st;
      while (::waitpid(target, &st, __WALL) < 0 && errno == EINTR) {
      }
      i += 3;
    } else if (cmd == "write") {
      const std::string text = arg(2);
      if (::write(num(arg(1)), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        die("write");
      i += 2;
    } else if (cmd == "creds") {
      std::ifstream in("/proc/self/status");
      std::string line, uid, gid, groups, nnp;
      auto values = [](const std::string& rest) {
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
      };
      while (std::getline(in, line)) {
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::string key = line.substr(0, colon), rest = line.substr(colon + 1);
        if (key == "Uid") uid = values(rest);
        if (key == "Gid") gid = values(rest);
        if (key == "Groups") groups = values(rest);
        if (key == "NoNewPrivs") nnp = values(rest);
      }
      put(num(arg(1)), "uid=" + uid + " gid=" + gid + " groups=" + groups + " nnp=" + nnp);
      i += 1;
    } else if (cmd == "rlimit") {
      rlimit l{};
      if (::getrlimit(static_cast<__rlimit_resource>(num(arg(1))), &l) != 0) die("getrlimit");
      auto show = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("inf") : std::to_string(v); };
      put(num(arg(2)), show(l.rlim_cur) + " " + show(l.rlim_max));
      i += 2;
    } else if (cmd == "umask") {
      const mode_t m = ::umask(0);
      char text[8];
      std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(m));
      put(num(arg(1)), text);
      i += 1;
    } else if (cmd == "tty") {
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
      put(num(arg(1)), line);
      i += 1;
    } else if (cmd == "color") {
      const int out = num(arg(1));
      put(out, ::isatty(out) ? "\033[32m" + std::string(arg(2)) + "\033[0m" : std::string(arg(2)));
      i += 2;
    } else if (cmd == "ask") {
      const int out = num(arg(1));
      const std::string prompt = arg(2);
      if (::write(out, prompt.data(), prompt.size()) != static_cast<ssize_t>(prompt.size()))
        die("ask: write");
      std::string answer;
      char c;
      for (;;) {
        const ssize_t n = ::read(0, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("ask: read");
        if (n == 0 || c == '\n') break;
        answer += c;
      }
      put(out, "got " + answer);
      i += 2;
    } else if (cmd == "burn") {
      const long want_us = static_cast<long>(num(arg(1))) * 1000;
      volatile unsigned long spin = 0;
      for (;;) {
        for (int k = 0; k < 1000000; ++k) spin = spin + 1;
        rusage ru{};
        ::getrusage(RUSAGE_SELF, &ru);
        if (ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec >= want_us) break;
      }
      i += 1;
    } else if (cmd == "touch-mib") {
      const std::size_t size = static_cast<std::size_t>(num(arg(1))) << 20;
      void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) die("mmap");
      for (std::size_t off = 0; off < size; off += 4096) static_cast<volatile char*>(p)[off] = 1;
      i += 1;
    } else {
      errno = EINVAL;
      die("unknown command " + cmd);
    }
  }
  return 0;
}
