// Registration epochs: see <pidfd/detail/registration.hpp>.
#include <pidfd/detail/registration.hpp>

#include <array>
#include <mutex>
#include <new>
#include <vector>

namespace pidfd::detail {
namespace {

// Three levels of 2^11, 2^10 and 2^10 entries cover every descriptor number (an int below
// 2^31). Pages are created with a compare-and-swap, so lookups take no lock; a page that
// loses the race is freed again. Nothing is ever freed otherwise: a counter must outlive
// every wait that may still read it.
constexpr int leaf_bits = 10;
constexpr int mid_bits = 10;
constexpr int top_bits = 31 - leaf_bits - mid_bits;

using leaf = std::array<std::atomic<std::uint64_t>, std::size_t{1} << leaf_bits>;
using mid = std::array<std::atomic<leaf*>, std::size_t{1} << mid_bits>;

std::array<std::atomic<mid*>, std::size_t{1} << top_bits> top_level{};

constexpr std::uint64_t epoch_mask = 0xffffffffU;
constexpr std::uint64_t one_pending = std::uint64_t{1} << 32;

template <class Page>
Page* get_or_create(std::atomic<Page*>& slot) noexcept {
  Page* page = slot.load(std::memory_order_acquire);
  if (page) return page;
  auto* fresh = new (std::nothrow) Page{};  // value-initialised: every entry zero/null
  if (!fresh) return nullptr;
  if (slot.compare_exchange_strong(page, fresh, std::memory_order_acq_rel,
                                   std::memory_order_acquire))
    return fresh;
  delete fresh;  // another thread created it first
  return page;
}

// Registrations that ended with descriptor waits pending, and what each left behind. Rare
// (an object closed or destroyed with a wait pending) and short-lived, so a list under one
// lock is enough. end() inserts under the lock in the same step as it moves the epoch on,
// so a wait that sees its epoch gone finds the record once it takes the lock.
struct retired_record {
  int fd;
  std::uint32_t epoch;
  std::uint32_t pending;
  retired_registration* left;
};

std::mutex& retired_mutex() noexcept {
  static std::mutex m;
  return m;
}

// Only touched under retired_mutex(). Never destroyed: a wait may settle during static
// destruction (an io_context with static storage duration).
std::vector<retired_record>& retired_records() noexcept {
  using records = std::vector<retired_record>;
  alignas(records) static unsigned char storage[sizeof(records)];
  static records* v = ::new (static_cast<void*>(storage)) records;
  return *v;
}

}  // namespace

std::atomic<std::uint64_t>* registration_epoch(int fd) noexcept {
  if (fd < 0) return nullptr;
  const auto n = static_cast<unsigned>(fd);
  mid* m = get_or_create(top_level[n >> (leaf_bits + mid_bits)]);
  if (!m) return nullptr;
  leaf* l = get_or_create((*m)[(n >> leaf_bits) & ((1U << mid_bits) - 1)]);
  if (!l) return nullptr;
  return &(*l)[n & ((1U << leaf_bits) - 1)];
}

registration_ref registration_ref::arm(int fd) noexcept {
  // The caller owns the registration of fd, so the epoch cannot move under us.
  const std::uint64_t v = registration_epoch(fd)->fetch_add(one_pending, std::memory_order_acq_rel);
  return {fd, static_cast<std::uint32_t>(v & epoch_mask)};
}

bool registration_ref::settle() noexcept {
  const int fd = fd_;
  const std::uint32_t epoch = epoch_;
  if (fd < 0) return false;
  fd_ = -1;
  std::atomic<std::uint64_t>& state = *registration_epoch(fd);
  std::uint64_t v = state.load(std::memory_order_acquire);
  while ((v & epoch_mask) == epoch) {
    if (state.compare_exchange_weak(v, v - one_pending, std::memory_order_acq_rel,
                                    std::memory_order_acquire))
      return true;
  }
  // Ended: uncount the wait from what the registration left behind, if anything.
  retired_registration* done = nullptr;
  {
    std::lock_guard<std::mutex> lock(retired_mutex());
    auto& records = retired_records();
    for (auto it = records.begin(); it != records.end(); ++it) {
      if (it->fd != fd || it->epoch != epoch) continue;
      if (--it->pending == 0) {
        done = it->left;
        records.erase(it);
      }
      break;
    }
  }
  delete done;  // outside the lock: it deregisters from the reactor
  return false;
}

bool registration_ref::end(int fd, retired_registration* left) noexcept {
  std::atomic<std::uint64_t>& state = *registration_epoch(fd);
  std::lock_guard<std::mutex> lock(retired_mutex());
  std::uint64_t v = state.load(std::memory_order_acquire);
  // The next epoch, nothing pending.
  while (!state.compare_exchange_weak(v, (v + 1) & epoch_mask, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
  }
  const auto pending = static_cast<std::uint32_t>(v >> 32);
  if (pending == 0 || !left) return false;
  try {
    retired_records().push_back(
        {fd, static_cast<std::uint32_t>(v & epoch_mask), pending, left});
  } catch (const std::bad_alloc&) {
    return false;  // the caller deregisters at once: the old behaviour
  }
  return true;
}

}  // namespace pidfd::detail
