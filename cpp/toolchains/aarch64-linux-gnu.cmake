# Cross-build for 64-bit ARM Linux boards with Debian's g++-aarch64-linux-gnu:
#   cmake -S cpp -B build/cpp-aarch64 \
#         -DCMAKE_TOOLCHAIN_FILE=cpp/toolchains/aarch64-linux-gnu.cmake \
#         -DHOURGLASS_MNN=OFF -DLITERT_LIBRARY=<aarch64 libLiteRt.so>
# Run on the board, or here under qemu with the -L folder docs/cpp.md describes.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
# stb and nlohmann-json are header-only: the host's headers serve the target.
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
