# CMake toolchain for the bare-metal rv32 build of the ESP32 host (the ESP32-C3's instruction set,
# rv32imc, ilp32): Debian's gcc-riscv64-unknown-elf with picolibc-riscv64-unknown-elf, semihosting
# for stdio and files, run under qemu-system-riscv32 -machine virt -bios none.
#   cmake -S host-esp32 -B build/esp32-rv32 -DCMAKE_TOOLCHAIN_FILE=host-esp32/rv32/toolchain-rv32imc.cmake
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR riscv32)
set(CMAKE_C_COMPILER riscv64-unknown-elf-gcc)
set(CMAKE_AR riscv64-unknown-elf-ar CACHE FILEPATH "")
set(CMAKE_RANLIB riscv64-unknown-elf-ranlib CACHE FILEPATH "")
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_EXECUTABLE_SUFFIX ".elf")

set(LSH_RV32_ARCH_FLAGS "--specs=picolibc.specs -march=rv32imc -mabi=ilp32")
set(CMAKE_C_FLAGS_INIT "${LSH_RV32_ARCH_FLAGS} -ffunction-sections -fdata-sections")
# The compile flags (with --specs) reach the link too: only the link options here.
set(CMAKE_EXE_LINKER_FLAGS_INIT
  "--oslib=semihost --crt0=semihost -T${CMAKE_CURRENT_LIST_DIR}/esp32c3.ld -Wl,--gc-sections -Wl,--print-memory-usage")
set(LSH_BAREMETAL ON CACHE BOOL "bare-metal rv32 build" FORCE)

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
