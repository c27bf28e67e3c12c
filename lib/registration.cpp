// Registration epochs: see <pidfd/detail/registration.hpp>.
#include <pidfd/detail/registration.hpp>

#include <array>
#include <new>

namespace pidfd::detail {
namespace {

// Three levels of 2^11, 2^10 and 2^10 entries cover every descriptor number (an int below
// 2^31). Pages are created with a compare-and-swap, so lookups take no lock; a page that
// loses the race is freed again. Nothing is ever freed otherwise: a counter must outlive
// every wait that may still read it.
constexpr int leaf_bits = 10;
constexpr int mid_bits = 10;
constexpr int top_bits = 31 - leaf_bits - mid_bits;

using leaf = std::array<std::atomic<std::uint32_t>, std::size_t{1} << leaf_bits>;
using mid = std::array<std::atomic<leaf*>, std::size_t{1} << mid_bits>;

std::array<std::atomic<mid*>, std::size_t{1} << top_bits> top_level{};

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

}  // namespace

std::atomic<std::uint32_t>* registration_epoch(int fd) noexcept {
  if (fd < 0) return nullptr;
  const auto n = static_cast<unsigned>(fd);
  mid* m = get_or_create(top_level[n >> (leaf_bits + mid_bits)]);
  if (!m) return nullptr;
  leaf* l = get_or_create((*m)[(n >> leaf_bits) & ((1U << mid_bits) - 1)]);
  if (!l) return nullptr;
  return &(*l)[n & ((1U << leaf_bits) - 1)];
}

}  // namespace pidfd::detail
