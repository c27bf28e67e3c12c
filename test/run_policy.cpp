// Tests of async_run()'s policy (<pidfd/detail/run_policy.hpp>) without any process: every
// event in every phase, and the actions it must give; of the line splitter; and of the
// serial_queue its handlers run in.
#include <pidfd/detail/run_policy.hpp>
#include <pidfd/detail/serial_queue.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <future>
#include <cstddef>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using pidfd::error_code;
using pidfd::output_stream;
using pidfd::run_scope;
using pidfd::detail::line_splitter;
using pidfd::detail::run_actions;
using pidfd::detail::run_cancellation;
using pidfd::detail::run_policy;
using pidfd::detail::run_target;
using pidfd::detail::run_timer;
using phase = run_policy::phase;

const error_code timed_out(ETIMEDOUT, boost::system::system_category());
const error_code aborted(ECANCELED, boost::system::system_category());

run_policy::config make(run_scope scope = run_scope::process, bool timeout = true,
                        bool leads = false) {
  run_policy::config c;
  c.scope = scope;
  c.child_leads_group = leads;
  if (timeout) c.timeout = 10s;
  c.grace = 2s;
  c.drain = 1s;
  return c;
}

// Every field of an action set, compared at once (a difference names the field).
void expect_actions(const run_actions& a, const run_actions& e) {
  EXPECT_EQ(a.cancel_timer, e.cancel_timer);
  EXPECT_EQ(a.signal, e.signal);
  if (a.signal != 0 || e.signal != 0) {
    EXPECT_EQ(a.target, e.target);
  }
  EXPECT_EQ(a.release_memory, e.release_memory);
  EXPECT_EQ(a.close_input, e.close_input);
  EXPECT_EQ(a.arm, e.arm);
  if (e.arm != run_timer::none) {
    EXPECT_EQ(a.arm_after, e.arm_after);
  }
  EXPECT_EQ(a.start_wait, e.start_wait);
  EXPECT_EQ(a.watch_cgroup, e.watch_cgroup);
  EXPECT_EQ(a.close_streams, e.close_streams);
  EXPECT_EQ(a.truncated, e.truncated);
  EXPECT_EQ(a.kill_leftovers, e.kill_leftovers);
  EXPECT_EQ(a.remove_cgroup, e.remove_cgroup);
  EXPECT_EQ(a.complete, e.complete);
  EXPECT_EQ(a.ec, e.ec);
}

const run_actions none{};

run_actions arm(run_timer role, std::chrono::steady_clock::duration d) {
  run_actions a;
  a.arm = role;
  a.arm_after = d;
  return a;
}

run_actions sigterm(run_target t, std::chrono::steady_clock::duration grace = 2s) {
  run_actions a = arm(run_timer::grace, grace);
  a.signal = SIGTERM;
  a.target = t;
  return a;
}

run_actions sigkill(run_target t, bool cancel_timer) {
  run_actions a;
  a.cancel_timer = cancel_timer;
  a.signal = SIGKILL;
  a.target = t;
  a.release_memory = true;
  return a;
}

run_actions completion(error_code ec, bool cancel_timer, bool close_input = false) {
  run_actions a;
  a.cancel_timer = cancel_timer;
  a.close_input = close_input;
  a.close_streams = true;
  a.complete = true;
  a.ec = ec;
  return a;
}

run_actions reap_then_drain(bool timer_running = true) {
  run_actions a = arm(run_timer::drain, 1s);
  a.cancel_timer = timer_running;
  a.close_input = true;
  return a;
}

// ---------------------------------------------------------------------------------------
// Spawned, running

TEST(RunPolicy, SpawnStartsTheWaitAndTheTimeout) {
  run_policy p(make());
  run_actions e = arm(run_timer::timeout, 10s);
  e.start_wait = true;
  expect_actions(p.spawned(true, true), e);
  EXPECT_EQ(p.current(), phase::running);
  EXPECT_EQ(p.timer(), run_timer::timeout);
  expect_actions(p.spawned(true, true), none);  // only once
}

TEST(RunPolicy, SpawnWithoutTimeoutArmsNothing) {
  run_policy p(make(run_scope::process, false));
  run_actions e;
  e.start_wait = true;
  expect_actions(p.spawned(false, false), e);
  EXPECT_EQ(p.timer(), run_timer::none);
}

TEST(RunPolicy, SpawnInCgroupScopeWatchesTheCgroup) {
  run_policy p(make(run_scope::cgroup, false));
  run_actions e;
  e.start_wait = true;
  e.watch_cgroup = true;
  expect_actions(p.spawned(true, false), e);
}

TEST(RunPolicy, EventsBeforeTheSpawnDoNothing) {
  run_policy p(make());
  expect_actions(p.timeout_expired(), none);
  expect_actions(p.grace_expired(), none);
  expect_actions(p.drain_expired(), none);
  expect_actions(p.reaped(), none);
  expect_actions(p.wait_failed(timed_out), none);
  expect_actions(p.cancelled(run_cancellation::terminal), none);
  expect_actions(p.output_failed(), none);
  EXPECT_EQ(p.current(), phase::starting);
}

TEST(RunPolicy, ReapWithOpenStreamsDrains) {
  run_policy p(make());
  p.spawned(true, true);
  expect_actions(p.reaped(), reap_then_drain());
  EXPECT_EQ(p.current(), phase::draining);
  EXPECT_TRUE(p.child_gone());
  expect_actions(p.stream_ended(output_stream::out), none);
  expect_actions(p.stream_ended(output_stream::err), completion({}, true));
  EXPECT_EQ(p.current(), phase::done);
}

TEST(RunPolicy, StreamsEndingBeforeTheReapCompleteAtTheReap) {
  run_policy p(make());
  p.spawned(true, true);
  expect_actions(p.stream_ended(output_stream::err), none);
  expect_actions(p.stream_ended(output_stream::out), none);
  EXPECT_EQ(p.current(), phase::running);
  expect_actions(p.reaped(), completion({}, true, true));
  expect_actions(p.reaped(), none);  // only once
}

TEST(RunPolicy, NoStreamsNoTimeoutCompletesAtTheReap) {
  run_policy p(make(run_scope::process, false));
  p.spawned(false, false);
  expect_actions(p.reaped(), completion({}, false, true));
}

TEST(RunPolicy, DrainExpiryWithAStreamOpenTruncates) {
  run_policy p(make());
  p.spawned(true, false);
  p.reaped();
  run_actions e = completion({}, false);  // the drain timer has just expired
  e.truncated = true;
  expect_actions(p.drain_expired(), e);
  expect_actions(p.stream_ended(output_stream::out), none);  // after the end: nothing
}

// ---------------------------------------------------------------------------------------
// Timeout, grace

TEST(RunPolicy, TimeoutSendsSigtermAndArmsTheGrace) {
  run_policy p(make());
  p.spawned(true, true);
  expect_actions(p.timeout_expired(), sigterm(run_target::process));
  EXPECT_EQ(p.timer(), run_timer::grace);
  expect_actions(p.timeout_expired(), none);  // a stale expiry
  expect_actions(p.grace_expired(), sigkill(run_target::process, false));
  EXPECT_EQ(p.timer(), run_timer::none);
  expect_actions(p.grace_expired(), none);
  // Reaped with its output still open: drain, then timed_out.
  run_actions e = reap_then_drain();
  e.cancel_timer = false;  // no timer was running
  expect_actions(p.reaped(), e);
  expect_actions(p.stream_ended(output_stream::out), none);
  expect_actions(p.stream_ended(output_stream::err), completion(timed_out, true));
}

TEST(RunPolicy, ReapDuringTheGraceStopsItAndReportsTimedOut) {
  run_policy p(make());
  p.spawned(false, false);
  p.timeout_expired();
  expect_actions(p.reaped(), completion(timed_out, true, true));
  expect_actions(p.grace_expired(), none);  // the timer lost the race
}

TEST(RunPolicy, GroupLeaderInProcessScopeSignalsTheGroup) {
  run_policy p(make(run_scope::process, true, true));
  p.spawned(false, false);
  expect_actions(p.timeout_expired(), sigterm(run_target::group));
  expect_actions(p.grace_expired(), sigkill(run_target::group, false));
  expect_actions(p.reaped(), completion(timed_out, false, true));  // nothing left to kill
}

TEST(RunPolicy, TimeoutAfterTheReapIsStale) {
  run_policy p(make());
  p.spawned(true, false);
  p.reaped();
  expect_actions(p.timeout_expired(), none);
  expect_actions(p.grace_expired(), none);
}

// ---------------------------------------------------------------------------------------
// Cancellation

TEST(RunPolicy, TerminalCancellationKillsAtOnceAndCompletesAtTheReap) {
  run_policy p(make());
  p.spawned(true, true);
  expect_actions(p.cancelled(run_cancellation::terminal), sigkill(run_target::process, true));
  expect_actions(p.cancelled(run_cancellation::terminal), none);  // a second one
  expect_actions(p.reaped(), completion(aborted, false, true));   // streams open: no drain
}

TEST(RunPolicy, PartialAndTotalCancellationTerminateGracefully) {
  for (run_cancellation type : {run_cancellation::partial, run_cancellation::total}) {
    run_policy p(make(run_scope::process, false));
    p.spawned(true, false);
    expect_actions(p.cancelled(type), sigterm(run_target::process));
    expect_actions(p.cancelled(type), none);  // SIGTERM only once
    // A terminal one during the grace escalates at once.
    expect_actions(p.cancelled(run_cancellation::terminal), sigkill(run_target::process, true));
    expect_actions(p.reaped(), completion(aborted, false, true));
  }
}

TEST(RunPolicy, CancellationAfterATimeoutKeepsTimedOut) {
  run_policy p(make());
  p.spawned(false, false);
  p.timeout_expired();
  expect_actions(p.cancelled(run_cancellation::partial), none);  // SIGTERM already sent
  expect_actions(p.reaped(), completion(timed_out, true, true));
}

TEST(RunPolicy, CancellationDuringTheDrainCompletesAtOnce) {
  run_policy p(make());
  p.spawned(true, true);
  p.reaped();
  expect_actions(p.cancelled(run_cancellation::total), completion(aborted, true));
  expect_actions(p.cancelled(run_cancellation::terminal), none);
  EXPECT_EQ(p.current(), phase::done);
}

TEST(RunPolicy, OutputFailureEndsTheRunLikeATerminalCancellation) {
  run_policy p(make());
  p.spawned(true, false);
  expect_actions(p.output_failed(), sigkill(run_target::process, true));
  expect_actions(p.reaped(), completion(aborted, false, true));

  run_policy q(make());
  q.spawned(true, false);
  q.reaped();
  expect_actions(q.output_failed(), completion(aborted, true));
}

// ---------------------------------------------------------------------------------------
// A failed wait: SIGKILL and another asynchronous wait, never a blocking one

TEST(RunPolicy, FailedWaitKillsAndWaitsAgain) {
  const error_code failed(EBADF, boost::system::system_category());
  run_policy p(make());
  p.spawned(true, false);
  run_actions e = sigkill(run_target::process, true);
  e.start_wait = true;
  expect_actions(p.wait_failed(failed), e);
  EXPECT_EQ(p.current(), phase::running);
  // The second wait reaps it; the streams are drained as after any reap.
  run_actions r = reap_then_drain();
  r.cancel_timer = false;  // the SIGKILL stopped the timeout
  expect_actions(p.reaped(), r);
}

TEST(RunPolicy, FailedWaitThenReapReportsTheWaitError) {
  const error_code failed(EBADF, boost::system::system_category());
  run_policy p(make(run_scope::process, false));
  p.spawned(false, false);
  p.wait_failed(failed);
  expect_actions(p.reaped(), completion(failed, false, true));
}

TEST(RunPolicy, SecondFailedWaitGivesTheChildUp) {
  const error_code failed(EBADF, boost::system::system_category());
  run_policy p(make(run_scope::process, false));
  p.spawned(true, false);
  p.wait_failed(failed);
  run_actions e = arm(run_timer::drain, 1s);
  e.close_input = true;
  expect_actions(p.wait_failed(failed), e);
  EXPECT_TRUE(p.child_gone());
  expect_actions(p.stream_ended(output_stream::out), completion(failed, true));
}

TEST(RunPolicy, FailedWaitInCgroupScopeKillsTheCgroup) {
  run_policy p(make(run_scope::cgroup, false));
  p.spawned(false, false);
  run_actions e = sigkill(run_target::cgroup, false);
  e.start_wait = true;
  expect_actions(p.wait_failed(aborted), e);
}

TEST(RunPolicy, FailedWaitInGroupScopeKillsTheChild) {
  run_policy p(make(run_scope::process_group, false));
  p.spawned(false, false);
  run_actions e = sigkill(run_target::process, false);
  e.start_wait = true;
  expect_actions(p.wait_failed(aborted), e);
}

// ---------------------------------------------------------------------------------------
// Process-group scope

TEST(RunPolicy, GroupScopeSignalsTheGroupAndKillsLeftoversAtTheEnd) {
  run_policy p(make(run_scope::process_group));
  p.spawned(true, false);
  expect_actions(p.timeout_expired(), sigterm(run_target::group));
  expect_actions(p.grace_expired(), sigkill(run_target::group, false));
  run_actions e = reap_then_drain();
  e.cancel_timer = false;
  expect_actions(p.reaped(), e);
  run_actions end = completion(timed_out, true);
  end.kill_leftovers = true;
  expect_actions(p.stream_ended(output_stream::out), end);
}

TEST(RunPolicy, GroupScopeKillsLeftoversAfterAPlainExit) {
  run_policy p(make(run_scope::process_group, false));
  p.spawned(false, false);
  run_actions end = completion({}, false, true);
  end.kill_leftovers = true;
  expect_actions(p.reaped(), end);
}

TEST(RunPolicy, GroupScopeDrainExpiryKillsLeftovers) {
  run_policy p(make(run_scope::process_group, false));
  p.spawned(true, false);
  p.reaped();
  run_actions end = completion({}, false);
  end.truncated = true;
  end.kill_leftovers = true;
  expect_actions(p.drain_expired(), end);
}

TEST(RunPolicy, GroupScopeCancellationSignalsTheGroup) {
  run_policy p(make(run_scope::process_group, false));
  p.spawned(false, false);
  expect_actions(p.cancelled(run_cancellation::terminal), sigkill(run_target::group, false));
  run_actions end = completion(aborted, false, true);
  end.kill_leftovers = true;
  expect_actions(p.reaped(), end);
}

// ---------------------------------------------------------------------------------------
// Cgroup scope

TEST(RunPolicy, CgroupScopeSignalsTheCgroup) {
  run_policy p(make(run_scope::cgroup));
  p.spawned(true, false);
  expect_actions(p.timeout_expired(), sigterm(run_target::cgroup));
  expect_actions(p.grace_expired(), sigkill(run_target::cgroup, false));
}

TEST(RunPolicy, CgroupScopeDrainWaitsForTheCgroupToEmpty) {
  run_policy p(make(run_scope::cgroup, false));
  p.spawned(true, false);
  expect_actions(p.reaped(), reap_then_drain(false));
  expect_actions(p.stream_ended(output_stream::out), none);  // a member still runs
  run_actions end = completion({}, true);
  end.remove_cgroup = true;
  expect_actions(p.cgroup_emptied(), end);
}

TEST(RunPolicy, CgroupEmptyBeforeTheReap) {
  run_policy p(make(run_scope::cgroup, false));
  p.spawned(false, false);
  expect_actions(p.cgroup_emptied(), none);
  run_actions end = completion({}, false, true);
  end.remove_cgroup = true;
  expect_actions(p.reaped(), end);
}

TEST(RunPolicy, CgroupEmptyButAStreamOpenKeepsDraining) {
  run_policy p(make(run_scope::cgroup, false));
  p.spawned(true, true);
  p.reaped();
  expect_actions(p.cgroup_emptied(), none);
  expect_actions(p.stream_ended(output_stream::err), none);
  run_actions end = completion({}, true);
  end.remove_cgroup = true;
  expect_actions(p.stream_ended(output_stream::out), end);
}

TEST(RunPolicy, CgroupDrainExpiryKillsWaitsForEmptyThenRemoves) {
  run_policy p(make(run_scope::cgroup, false));
  p.spawned(false, false);
  p.reaped();  // a member still runs: drain
  run_actions kill;
  kill.close_streams = true;
  kill.kill_leftovers = true;
  expect_actions(p.drain_expired(), kill);  // streams ended: not truncated
  EXPECT_EQ(p.current(), phase::ending);
  expect_actions(p.cancelled(run_cancellation::terminal), none);
  expect_actions(p.drain_expired(), none);
  run_actions end;
  end.remove_cgroup = true;
  end.complete = true;
  expect_actions(p.cgroup_emptied(), end);
  EXPECT_EQ(p.current(), phase::done);
}

TEST(RunPolicy, CgroupCancellationDuringTheDrainKillsFirst) {
  run_policy p(make(run_scope::cgroup, false));
  p.spawned(true, false);
  p.reaped();
  run_actions kill;
  kill.cancel_timer = true;
  kill.close_streams = true;
  kill.kill_leftovers = true;
  expect_actions(p.cancelled(run_cancellation::partial), kill);
  run_actions end;
  end.remove_cgroup = true;
  end.complete = true;
  end.ec = aborted;
  expect_actions(p.cgroup_emptied(), end);
}

// ---------------------------------------------------------------------------------------
// line_splitter

std::vector<std::string> split(std::size_t max, const std::vector<std::string_view>& chunks,
                               bool finish = true) {
  line_splitter s(max);
  std::vector<std::string> pieces;
  auto emit = [&](std::string_view piece) { pieces.emplace_back(piece); };
  for (auto c : chunks) s.feed(c, emit);
  if (finish) s.finish(emit);
  return pieces;
}

using lines = std::vector<std::string>;

TEST(LineSplitter, WholeLinesAcrossChunks) {
  EXPECT_EQ(split(100, {"ab", "c\nde", "f\n\ng"}), (lines{"abc\n", "def\n", "\n", "g"}));
  EXPECT_EQ(split(100, {"ab", "c\nde"}, false), (lines{"abc\n"}));
}

TEST(LineSplitter, LongLinesComeInPiecesOfMaxLine) {
  EXPECT_EQ(split(4, {"abcd\n"}), (lines{"abcd\n"}));  // max_line bytes plus its '\n'
  EXPECT_EQ(split(4, {"abcdefghij\nxy"}), (lines{"abcd", "efgh", "ij\n", "xy"}));
  EXPECT_EQ(split(4, {"ab", "cd", "\n"}), (lines{"abcd\n"}));
  EXPECT_EQ(split(4, {"ab", "cd", "e\n"}), (lines{"abcd", "e\n"}));
  EXPECT_EQ(split(4, {"abcd"}), (lines{"abcd"}));
}

TEST(LineSplitter, MaxLineZeroIsOne) {
  EXPECT_EQ(split(0, {"ab\n"}), (lines{"a", "b\n"}));
}

TEST(LineSplitter, FinishWithNothingKeptEmitsNothing) {
  EXPECT_EQ(split(10, {"a\n"}), (lines{"a\n"}));
  EXPECT_EQ(split(10, {}), lines{});
}

TEST(LineSplitter, KeptStartCompletedOverSeveralChunks) {
  EXPECT_EQ(split(4, {"a", "b", "c", "d", "e", "\n"}), (lines{"abcd", "e\n"}));
  EXPECT_EQ(split(4, {"abcd", "\n"}), (lines{"abcd\n"}));  // kept max_line, then its '\n'
  EXPECT_EQ(split(3, {"a", "bcdefgh\nij"}), (lines{"abc", "def", "gh\n", "ij"}));
  EXPECT_EQ(split(10, {"ab", "c\n", "d\ne\n"}), (lines{"abc\n", "d\n", "e\n"}));
}

TEST(LineSplitter, EmptyChunksChangeNothing) {
  EXPECT_EQ(split(4, {"", "ab", "", "\n", ""}), (lines{"ab\n"}));
  EXPECT_EQ(split(4, {""}), lines{});
}

TEST(LineSplitter, LinesOfExactlyMaxLineInOneChunk) {
  EXPECT_EQ(split(2, {"ab\ncd\ne"}), (lines{"ab\n", "cd\n", "e"}));
  EXPECT_EQ(split(2, {"ab\ncd\n"}, false), (lines{"ab\n", "cd\n"}));
  EXPECT_EQ(split(1, {"\n\n\n"}), (lines{"\n", "\n", "\n"}));
}

// What the splitter must do, byte by byte: a '\n' ends the line; a byte that would make
// the line longer than max first sends out the max bytes before it.
std::vector<std::string> reference_split(std::size_t max, std::string_view text) {
  std::vector<std::string> out;
  std::string line;
  for (const char c : text) {
    if (c == '\n') {
      out.push_back(line + '\n');
      line.clear();
      continue;
    }
    if (line.size() == max) {
      out.push_back(line);
      line.clear();
    }
    line += c;
  }
  if (!line.empty()) out.push_back(line);
  return out;
}

TEST(LineSplitter, AgreesWithByteByByteSplittingForAnyChunking) {
  // A fixed seed on purpose: the same cases every run.
  std::mt19937 random(12345);  // NOLINT(cert-msc32-c,cert-msc51-cpp)
  for (int round = 0; round < 2000; ++round) {
    const std::size_t max = 1 + random() % 9;
    std::string text(random() % 60, 'x');
    for (char& c : text) c = random() % 4 == 0 ? '\n' : static_cast<char>('a' + random() % 3);
    std::vector<std::string_view> chunks;
    for (std::size_t at = 0; at < text.size();) {
      const std::size_t n = std::min<std::size_t>(text.size() - at, random() % 12);
      chunks.emplace_back(text.data() + at, n);
      at += n;
    }
    ASSERT_EQ(split(max, chunks), reference_split(max, text))
        << "max " << max << ", text \"" << text << "\", " << chunks.size() << " chunks";
  }
}

TEST(LineSplitter, AThrowingEmitLeavesNothingKeptTwice) {
  line_splitter s(10);
  std::vector<std::string> pieces;
  auto emit = [&](std::string_view piece) { pieces.emplace_back(piece); };
  auto fail = [](std::string_view) { throw std::runtime_error("no"); };
  s.feed("ab", emit);
  EXPECT_EQ(s.kept(), 2u);
  EXPECT_THROW(s.feed("c\nd\n", fail), std::runtime_error);
  EXPECT_EQ(s.kept(), 0u);  // "abc\n" was handed on, if not taken
  s.feed("e\nf", emit);
  s.finish(emit);
  EXPECT_EQ(pieces, (lines{"e\n", "f"}));
  EXPECT_EQ(s.kept(), 0u);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// serial_queue: async_run()'s handlers one at a time, in order of arrival.

using pidfd::detail::serial_queue;

struct no_resume {
  int* calls;
  void operator()() const { ++*calls; }
};

TEST(SerialQueue, RunsAtOnceWhenNothingRuns) {
  serial_queue q;
  int resumes = 0;
  std::vector<int> ran;
  q.run([&] { ran.push_back(1); }, no_resume{&resumes});
  EXPECT_EQ(ran, std::vector<int>{1});
  q.run([&] { ran.push_back(2); }, no_resume{&resumes});
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  EXPECT_EQ(resumes, 0);
}

TEST(SerialQueue, AFunctionThatComesWhileOneRunsRunsNextInOrder) {
  serial_queue q;
  int resumes = 0;
  std::vector<int> ran;
  q.run(
      [&] {
        ran.push_back(1);
        q.run([&] { ran.push_back(3); }, no_resume{&resumes});
        q.run([&] { ran.push_back(4); }, no_resume{&resumes});
        ran.push_back(2);  // neither ran within this function
      },
      no_resume{&resumes});
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(resumes, 0);
}

// The thread whose function runs also runs what another thread brought meanwhile; the
// other thread does not wait.
TEST(SerialQueue, AnotherThreadsFunctionIsRunByTheRunningThread) {
  serial_queue q;
  int resumes = 0;
  std::vector<int> ran;
  std::thread::id ran_on;
  std::promise<void> queued;
  std::future<void> queued_f = queued.get_future();
  std::thread other;
  const std::thread::id here = std::this_thread::get_id();
  q.run(
      [&] {
        ran.push_back(1);
        other = std::thread([&] {
          q.run(
              [&] {
                ran.push_back(2);
                ran_on = std::this_thread::get_id();
              },
              no_resume{&resumes});
          queued.set_value();  // run() returned without running it
        });
        ASSERT_EQ(queued_f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
        EXPECT_EQ(ran, std::vector<int>{1});
      },
      no_resume{&resumes});
  other.join();
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  EXPECT_EQ(ran_on, here);
  EXPECT_EQ(resumes, 0);
}

// A function that throws: the exception leaves run(); what was queued behind it is handed
// to resume, and runs by resume_queued(); meanwhile nothing else starts.
TEST(SerialQueue, AThrowHandsTheQueuedFunctionsToResume) {
  serial_queue q;
  int resumes = 0;
  std::vector<int> ran;
  EXPECT_THROW(q.run(
                   [&] {
                     q.run([&] { ran.push_back(2); }, no_resume{&resumes});
                     throw std::runtime_error("handler");
                   },
                   no_resume{&resumes}),
               std::runtime_error);
  EXPECT_EQ(resumes, 1);
  EXPECT_TRUE(ran.empty());
  q.run([&] { ran.push_back(3); }, no_resume{&resumes});  // queued behind 2
  EXPECT_TRUE(ran.empty());
  q.resume_queued(no_resume{&resumes});
  EXPECT_EQ(ran, (std::vector<int>{2, 3}));
  q.run([&] { ran.push_back(4); }, no_resume{&resumes});  // idle again: at once
  EXPECT_EQ(ran, (std::vector<int>{2, 3, 4}));
  EXPECT_EQ(resumes, 1);
}

TEST(SerialQueue, AThrowWithNothingQueuedLeavesItIdle) {
  serial_queue q;
  int resumes = 0;
  EXPECT_THROW(q.run([] { throw std::runtime_error("handler"); }, no_resume{&resumes}),
               std::runtime_error);
  EXPECT_EQ(resumes, 0);
  bool ran = false;
  q.run([&] { ran = true; }, no_resume{&resumes});
  EXPECT_TRUE(ran);
}

// A queued function that throws: the rest again goes to resume.
TEST(SerialQueue, AQueuedFunctionThatThrowsHandsOnTheRest) {
  serial_queue q;
  int resumes = 0;
  std::vector<int> ran;
  EXPECT_THROW(q.run(
                   [&] {
                     q.run([] { throw std::runtime_error("queued"); }, no_resume{&resumes});
                     q.run([&] { ran.push_back(2); }, no_resume{&resumes});
                     ran.push_back(1);
                   },
                   no_resume{&resumes}),
               std::runtime_error);
  EXPECT_EQ(ran, std::vector<int>{1});
  EXPECT_EQ(resumes, 1);
  q.resume_queued(no_resume{&resumes});
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  EXPECT_EQ(resumes, 1);
}
