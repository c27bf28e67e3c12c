// Configure-time check (bench/meson.build): a program using Boost.Process v2 links.
#include "bp2.hpp"

#include <boost/asio/io_context.hpp>

int main() {
  boost::asio::io_context io;
  bp2::process p(io.get_executor(), "/bin/true", std::vector<std::string>{});
  return p.wait();
}
