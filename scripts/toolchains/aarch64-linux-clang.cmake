# aarch64-linux-gnu.cmake with Clang as the compiler (Debian: clang; GCC's aarch64 cross sysroot still
# gives the headers and libraries): the nearest thing here to an Apple Silicon build, whose compiler is
# Clang (scripts/arm64-check.sh with ARM64_CHECK_CLANG=1).
include("${CMAKE_CURRENT_LIST_DIR}/aarch64-linux-gnu.cmake")
set(CMAKE_C_COMPILER clang)
set(CMAKE_CXX_COMPILER clang++)
set(CMAKE_C_COMPILER_TARGET aarch64-linux-gnu)
set(CMAKE_CXX_COMPILER_TARGET aarch64-linux-gnu)
