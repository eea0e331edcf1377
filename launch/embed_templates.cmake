# Writes OUT: a C++ file that holds each template of DIR (slurm, lsf, local) as a raw string, so
# the binary needs no source tree at run time. Run by launch/CMakeLists.txt at build time.
set(body "// Generated from launch/templates/*.sh.in by launch/embed_templates.cmake. Do not edit.\n")
string(APPEND body "#include <string>\n\nnamespace ns::launch::embedded {\n")
foreach(name slurm lsf local)
  file(READ "${DIR}/${name}.sh.in" text)
  string(FIND "${text}" ")ns_template\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${DIR}/${name}.sh.in contains the raw-string delimiter )ns_template\"")
  endif()
  string(APPEND body "extern const char* const k_${name} = R\"ns_template(${text})ns_template\";\n")
endforeach()
string(APPEND body "}  // namespace ns::launch::embedded\n")
file(WRITE "${OUT}.tmp" "${body}")
configure_file("${OUT}.tmp" "${OUT}" COPYONLY)  # rewrites only on change
