// Keeps the addon loadable on glibc 2.34 (Ubuntu 22.04, RHEL 9, Amazon Linux 2023) when it is
// built on a newer one (the prebuild is made on Debian 12, glibc 2.36). The addon links
// libstdc++ statically; GCC 12's libstdc++.a calls arc4random (glibc 2.36) from
// std::random_device, which std::runtime_error's copy-on-write strings drag in although no
// code of ours makes a random_device. A hidden definition here binds that call inside the
// addon, so no GLIBC_2.36 symbol version is needed. (The other one, _dl_find_object of
// glibc 2.35, came from a static libgcc's unwinder: the addon links libgcc_s instead.)
// tests/foundation/backend.test.mjs checks the symbol versions the addon needs.
#include <cstdint>  // defines __GLIBC__ (through features.h) on glibc systems
#if defined(__linux__) && defined(__GLIBC__)
#include <sys/random.h>

#include <cerrno>

extern "C" __attribute__((visibility("hidden"))) uint32_t arc4random(void) {
  uint32_t v = 0;
  // getrandom (glibc 2.25) blocks only until the kernel's pool is first seeded.
  while (getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v) && errno == EINTR) {
  }
  return v;
}
#endif
