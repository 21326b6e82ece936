# The layer check: a library may include only its own headers and those of the
# libraries it declares (directly or through them). CMakeLists.txt writes the
# table (one line per library: "folder:dep-folder,dep-folder") from the
# hearth_library() calls themselves, so the rule and the link lines cannot
# drift apart. Without this, every library sees all of src/ and an upward
# include builds; with it, the build fails and names the line.
#
#   cmake -DTABLE=<layers.txt> -DSRC=<src dir> [-DPLANT=<file> -DPLANT_AS=<folder>] -P check_layers.cmake
#
# PLANT scans one more file as if it sat in src/<PLANT_AS>/: the check's own
# test plants an upward include that way and expects this script to fail.
cmake_minimum_required(VERSION 3.25)
if(NOT TABLE OR NOT SRC)
  message(FATAL_ERROR "check_layers: give -DTABLE= and -DSRC=")
endif()

file(STRINGS "${TABLE}" rows)
set(folders "")
foreach(row IN LISTS rows)
  string(REPLACE ":" ";" parts "${row}")
  list(GET parts 0 folder)
  list(LENGTH parts n)
  set(deps "")
  if(n GREATER 1)
    list(GET parts 1 deps)
    string(REPLACE "," ";" deps "${deps}")
  endif()
  list(APPEND folders ${folder})
  set(allowed_${folder} ${folder} ${deps})
endforeach()

# Transitive closure: what a library's dependencies may include, it may too
# (their headers include their own dependencies' headers).
set(changed TRUE)
while(changed)
  set(changed FALSE)
  foreach(f IN LISTS folders)
    set(before ${allowed_${f}})
    foreach(d IN LISTS before)
      if(DEFINED allowed_${d})
        list(APPEND allowed_${f} ${allowed_${d}})
      endif()
    endforeach()
    list(REMOVE_DUPLICATES allowed_${f})
    list(LENGTH before nb)
    list(LENGTH allowed_${f} na)
    if(NOT nb EQUAL na)
      set(changed TRUE)
    endif()
  endforeach()
endwhile()

set(errors "")
function(check_file path folder shown)
  # Both spellings: "x/y.h" and <x/y.h> find the same header (every library's
  # include root is src/), so an upward include in angle brackets is one too.
  file(STRINGS "${path}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<][^\">]+[\">]")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*([\"<])([^\">]+)([\">]).*" "\\1\\2\\3"
                         spelled "${line}")
    string(REGEX REPLACE "^.(.*).$" "\\1" inc "${spelled}")
    # A '..' or '.' step would hide the folder the compiler really opens
    # ("base/../server/server.h" is server's header): refuse the spelling.
    if(inc MATCHES "(^|/)\\.\\.?/")
      list(APPEND errors "${shown} includes ${spelled}: spell an include from src/ without '.' or '..' steps (the layer check reads its first folder)")
      continue()
    endif()
    string(FIND "${inc}" "/" slash)
    if(slash LESS 0)
      continue()  # a header beside the file, found by its own folder (or a standard one)
    endif()
    string(SUBSTRING "${inc}" 0 ${slash} top)
    list(FIND folders "${top}" known)
    if(known LESS 0 AND NOT IS_DIRECTORY "${SRC}/${top}")
      continue()  # not one of hearth's libraries (generated, third party, the system's)
    endif()
    list(FIND allowed_${folder} "${top}" ok)
    if(ok LESS 0)
      string(REPLACE ";" ", " may "${allowed_${folder}}")
      list(APPEND errors "${shown} includes ${spelled}: ${folder} may use only ${may} (declare the dependency in CMakeLists.txt, or move the code down a layer)")
    endif()
  endforeach()
  set(errors "${errors}" PARENT_SCOPE)
endfunction()

file(GLOB entries RELATIVE "${SRC}" "${SRC}/*")
foreach(entry IN LISTS entries)
  if(NOT IS_DIRECTORY "${SRC}/${entry}")
    continue()
  endif()
  if(NOT DEFINED allowed_${entry})
    list(APPEND errors "src/${entry}/ is no library: add it with hearth_library() in CMakeLists.txt")
    continue()
  endif()
  file(GLOB_RECURSE files "${SRC}/${entry}/*.h" "${SRC}/${entry}/*.cpp")
  foreach(f IN LISTS files)
    file(RELATIVE_PATH rel "${SRC}/.." "${f}")
    check_file("${f}" "${entry}" "${rel}")
  endforeach()
endforeach()
if(PLANT)
  check_file("${PLANT}" "${PLANT_AS}" "${PLANT} (as src/${PLANT_AS}/)")
endif()

if(errors)
  list(LENGTH errors n)
  string(REPLACE ";" "\n  " text "${errors}")
  message(FATAL_ERROR "layer check: ${n} include(s) point the wrong way:\n  ${text}")
endif()
