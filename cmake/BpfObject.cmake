# bpf_skeleton(<name> SOURCE <file.bpf.c>): compiles a CO-RE BPF object with clang -target bpf and
# generates <name>.skel.h with bpftool gen skeleton. The kernel types come from the checked-in
# bpf/vmlinux.h (bpf/gen-vmlinux-h.py): the build never reads the build machine's BTF, and CO-RE
# relocations make the object portable across kernels.
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64")
  set(SW_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64")
  set(SW_BPF_ARCH arm64)
else()
  set(SW_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

function(bpf_skeleton name)
  cmake_parse_arguments(B "" "SOURCE" "DEPENDS" ${ARGN})
  set(obj ${CMAKE_BINARY_DIR}/bpf/${name}.bpf.o)
  set(skel ${CMAKE_BINARY_DIR}/bpf/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${SW_BPF_ARCH}
            -I${PROJECT_SOURCE_DIR}/bpf -I${CMAKE_CURRENT_SOURCE_DIR} -I${PROJECT_SOURCE_DIR}
            -Wall -Werror -c ${B_SOURCE} -o ${obj}
    DEPENDS ${B_SOURCE} ${PROJECT_SOURCE_DIR}/bpf/vmlinux.h ${B_DEPENDS}
    COMMENT "BPF object ${name}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel DEPENDS ${skel})
endfunction()
