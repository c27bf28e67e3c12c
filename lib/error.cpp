#include <pidfd/error.hpp>

#include <string>

namespace pidfd {
namespace {

class pidfd_category final : public boost::system::error_category {
public:
  // A fixed id keeps the category comparable across shared-library boundaries.
  constexpr pidfd_category() noexcept : error_category(0x70696466645f6572ULL) {}
  const char* name() const noexcept override { return "pidfd"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::status_unavailable:
        return "the process has exited but its exit status is unavailable";
      case errc::not_a_pidfd:
        return "the file descriptor is not a pidfd";
    }
    return "unknown pidfd error " + std::to_string(ev);
  }
};

}  // namespace

const boost::system::error_category& category() noexcept {
  static const pidfd_category instance;
  return instance;
}

error_code make_error_code(errc e) noexcept {
  return error_code(static_cast<int>(e), category());
}

}  // namespace pidfd
