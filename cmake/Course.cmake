# Course.cmake: the three CMake functions every chapter uses.
#
#   course_library(chNN CHAPTER NN-slug SOURCES a.cpp b.cpp LINKS chMM ...)
#       The chapter's code as a static library, built three ways:
#         chNN                      from chapters/NN-slug (the reference);
#         chNN_exercise             the learner's files in exercises/NN-slug
#                                   where they exist (for `make grade`);
#         chNN_committed_exercise   the exercise files as committed in git
#                                   HEAD (for `make test`, which checks that
#                                   every task fails as handed out, whatever
#                                   the learner has typed since).
#
#   course_program(name CHAPTER NN-slug SOURCES main.cpp LINKS chNN)
#       A runnable demo, built as build/bin/name; and name_exercise, the
#       same demo on the learner's exercise (chNN_exercise in place of
#       chNN), which `make run RUN_TARGET=name EXERCISE=1` builds and
#       starts, so that the lesson's clients talk to the learner's code.
#
#   course_tests(CHAPTER NN-slug LIBRARY chNN SOURCES test_a.cpp ...
#                [LINKS lib ...] [INCLUDES dir ...])
#       chNN_tests against the reference (every test under CTest), and
#       chNN_exercise_tests / chNN_committed_exercise_tests against the
#       exercise. Test suites named TaskN_* grade task N.
#
#       And chNN_exercise_taskN_tests, one per task: the learner's variant
#       with only the test files that hold task N's suites (and the files
#       that hold no test, the helpers), which `make grade TASK=N` builds.
#
#   course_extension(CHAPTER NN-slug SOURCES extension_test.cpp ...)
#       An extension task: code the chapter does not have. Its header, with
#       the bodies to write, is in exercises/NN-slug/; the reference
#       solution, the same file written out, in exercises/NN-slug/solutions/.
#       The tests join all three test programs: chNN_tests compiles them
#       against the solution (so "the reference passes every task" covers
#       the extension too), the exercise programs against the learner's and
#       the committed file (so the extension fails as committed).

# Every program links with mold where it is installed (Debian: mold, which
# tools/install-deps.sh build brings): a third of GNU ld's time on the
# course's test programs, whose debug information is most of what a link
# copies. Not lld: LLD 14 mislinks the unwind tables of the code GCC 12
# moves to .cold sections, and an exception rethrown there ends in
# std::terminate (final.Template.HugeValuesAreRefusedNotAllocated showed it).
include(CheckLinkerFlag)
check_linker_flag(CXX -fuse-ld=mold COURSE_HAVE_MOLD)
if(COURSE_HAVE_MOLD)
  add_link_options(-fuse-ld=mold)
endif()

# GCC collects its own garbage as a file's trees grow, from a heap of a few
# MB on; most of the course's files peak at 0.5 to 1 GB, and the
# collections were a tenth of their compile time. Collecting only past
# 1 GB cut a library batch from 24 to 22 s and a test batch from 17 to
# 15.5 s, for at most about 1 GB per compiler run (two at a time on two
# cores). tests/bench/README.md, "The course's own build", has the figures.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  add_compile_options(--param=ggc-min-expand=400 --param=ggc-min-heapsize=1048576)
endif()

# Transparent huge pages for the compilers, where the kernel gives them
# only to memory that asks (its "madvise" mode): every compile starts
# under `env` with cmake/huge_pages.c preloaded (for GCC, whose memory comes
# from mmap) and glibc's malloc asking too (for clang). A build of the
# library and two test programs took 16% less CPU (tests/bench/README.md,
# "What cut it"). A launcher the configure was given (ccache, say) is kept
# instead, and nothing changes where the kernel's mode is "always" (the
# pages come anyway) or "never".
set(COURSE_THP_MODE_FILE /sys/kernel/mm/transparent_hugepage/enabled)
if(NOT CMAKE_CXX_COMPILER_LAUNCHER AND EXISTS ${COURSE_THP_MODE_FILE})
  file(READ ${COURSE_THP_MODE_FILE} COURSE_THP_MODE)
  if(COURSE_THP_MODE MATCHES "\\[madvise\\]")
    set(COURSE_HUGE_PAGES ${CMAKE_BINARY_DIR}/huge_pages.so)
    # Made again, with the configure, whenever its source changes.
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
                                           ${CMAKE_CURRENT_LIST_DIR}/huge_pages.c)
    execute_process(
      COMMAND ${CMAKE_CXX_COMPILER} -x c -O2 -shared -fPIC -o ${COURSE_HUGE_PAGES}
              ${CMAKE_CURRENT_LIST_DIR}/huge_pages.c -ldl
      RESULT_VARIABLE COURSE_HUGE_PAGES_FAILED OUTPUT_QUIET ERROR_QUIET)
    if(NOT COURSE_HUGE_PAGES_FAILED)
      set(CMAKE_CXX_COMPILER_LAUNCHER env LD_PRELOAD=${COURSE_HUGE_PAGES}
                                          GLIBC_TUNABLES=glibc.malloc.hugetlb=1)
      set(CMAKE_C_COMPILER_LAUNCHER ${CMAKE_CXX_COMPILER_LAUNCHER})
    endif()
  endif()
endif()

# Options every target of ours shares: warnings as errors, threads, sanitizers.
add_library(course_options INTERFACE)
target_compile_options(course_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow)
target_link_libraries(course_options INTERFACE Threads::Threads)
if(SANITIZE)
  target_compile_options(course_options INTERFACE -fsanitize=${SANITIZE} -fno-omit-frame-pointer
                                                  -fno-sanitize-recover=all)
  target_link_options(course_options INTERFACE -fsanitize=${SANITIZE})
  # GCC 12's instrumentation makes it lose track of std::function inside
  # <regex> and report a false "may be used uninitialized".
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(course_options INTERFACE -Wno-maybe-uninitialized)
  endif()
endif()
# Test programs: optimised for debugging (-Og), with line tables only like
# the rest (the top CMakeLists.txt says why). Compiling GoogleTest bodies at
# -O2 with full debug information was half of the build's time, and the
# build most of `make test`'s; -Og compiles them in about a quarter less
# time than -O1 and runs them as fast (tests/bench/README.md, "What cut
# it"), where -O0 was slower to compile than either: unoptimised coroutines
# are much more code. The code under test keeps the build type's -O2, which
# the benchmarks time.
add_library(course_test_options INTERFACE)
target_compile_options(course_test_options INTERFACE -Og -g1)
# In a sanitizer build the test code itself skips UBSan's null and
# alignment checks, which instrument every dereference and made compiling
# a test file three times as slow as without sanitizers. The code under
# test keeps every check; a null dereference in a test still stops it
# with ASan's report of the SEGV, and x86 reads misaligned data anyway.
if(SANITIZE MATCHES "undefined")
  target_compile_options(course_test_options INTERFACE -fno-sanitize=null,alignment)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 at -Og and -O1 reports libstdc++'s string compares inlined into
  # std::function as "may be used uninitialized": a false positive (the
  # sanitizer builds above turn it off for the same reason).
  target_compile_options(course_test_options INTERFACE -Wno-maybe-uninitialized)
  # GCC makes a coroutine's symmetric transfer a real tail call only with
  # sibling-call optimisation, which -Og and -O1 leave out; chapter 08's tests
  # instantiate Task in the test itself and check the stack does not grow
  # (chapters/08-coroutines/README.md, "Symmetric transfer and the compiler").
  target_compile_options(course_test_options INTERFACE -foptimize-sibling-calls)
endif()
# What `make grade` builds a learner's code and the tests that grade it
# with: AddressSanitizer and UndefinedBehaviorSanitizer. A lifetime
# mistake (a stream freed while its own callback runs, a callback that
# outlives its object) then fails its task with the sanitizer's report,
# instead of passing when the freed memory happens to hold the old bytes.
# Only the learner's variants take it: the chapters' code and the
# committed exercises, which make test builds, stay as they are. A build
# sanitized already (SANITIZE: make check) adds nothing, since ThreadSanitizer
# cannot join the other two. The tests' own files skip UBSan's null and
# alignment checks, as in a sanitizer build (course_test_options below).
add_library(course_grade_options INTERFACE)
add_library(course_grade_test_options INTERFACE)
target_link_libraries(course_grade_test_options INTERFACE course_grade_options)
if(NOT SANITIZE)
  # AddressSanitizer checks the heap and the stack; tools/grade.py adds
  # detect_stack_use_after_return=1, so that a callback that holds a
  # reference to a local of a function that has returned is caught too.
  target_compile_options(course_grade_options INTERFACE -fsanitize=address,undefined
                                                        -fno-omit-frame-pointer
                                                        -fno-sanitize-recover=all)
  target_link_options(course_grade_options INTERFACE -fsanitize=address,undefined)
  target_compile_options(course_grade_test_options INTERFACE -fno-sanitize=null,alignment)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(course_grade_options INTERFACE -Wno-maybe-uninitialized)
  endif()
  # The learner's code compiled as the tests are (course_test_options):
  # optimised for debugging, with line tables. A grade waits for it after
  # every change, and with the sanitizers -O2 took twice as long or more
  # (chapter 07's future_stream.cpp: 8.8 s of CPU at -O2, 3.7 s at -Og);
  # the checks are the same, and nothing of the learner's is timed.
  target_compile_options(course_grade_options INTERFACE -Og -g1)
endif()

# Our own code must build clean; a learner's work in progress only warns.
add_library(course_strict INTERFACE)
target_compile_options(course_strict INTERFACE -Werror)
# GCC 12 at -O3 (a Release build) reports std::string appends and
# concatenations as overlapping memcpy calls (-Wrestrict, GCC bug 105651,
# fixed in GCC 13): a false positive in libstdc++, so it stays a warning
# there rather than failing the build.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(course_strict INTERFACE -Wno-error=restrict)
endif()

# Unity builds: course_unity_build(target batch) compiles `batch` of the
# target's files in one compiler run, so the headers they share (GoogleTest,
# nlohmann-json, tornado/) are read and their templates instantiated once
# per batch instead of once per file. The library and the framework's test
# programs use it. A batch can hide a missing #include (an earlier file of
# the batch brought the header), so make test-clang turns it off: the
# second compiler compiles every file on its own.
option(COURSE_UNITY_BUILD "compile final/ and its test programs in batches of files" ON)
function(course_unity_build target batch)
  if(NOT COURSE_UNITY_BUILD)
    return()
  endif()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${batch})
  # GCC takes a .cpp included by the batch's file for a header, and warns
  # that its types use the file's anonymous namespace, as it would rightly
  # warn in a header.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-subobject-linkage)
  endif()
endfunction()

# GoogleTest's header, precompiled once for the chapters' test programs:
# reading it was a third of compiling a chapter's test file (1 to 1.4 s of
# 3 to 4.5), and a learner who changes a header of an exercise waits for
# every test file of the chapter to compile again. The chapters' test
# targets take it with target_precompile_headers(REUSE_FROM), so they must
# share its code-generating flags (course_test_options). The framework's
# test programs do not: their files are long, code generation is most of
# their time, and a precompiled header saved them nothing.
file(WRITE ${PROJECT_BINARY_DIR}/course_gtest_pch.cpp
     "// The source CMake needs to precompile <gtest/gtest.h> (cmake/Course.cmake).\n")
add_library(course_gtest_pch OBJECT ${PROJECT_BINARY_DIR}/course_gtest_pch.cpp)
target_link_libraries(course_gtest_pch PRIVATE GTest::gtest course_options course_test_options)
target_precompile_headers(course_gtest_pch PRIVATE <gtest/gtest.h>)
# What a target that reuses it adds: through the precompiled header, GCC 12
# reports -Warray-bounds and -Wstringop-overflow inside libstdc++'s
# std::string where a test appends to one, warnings it does not give for
# the same file compiled without it (false ones: the sizes it names are
# not the string's).
# The same, for the learner's test programs, which make grade builds with
# the sanitizers (course_grade_test_options): a precompiled header is used
# only by a compilation with the same code-generating flags.
add_library(course_gtest_pch_graded OBJECT EXCLUDE_FROM_ALL ${PROJECT_BINARY_DIR}/course_gtest_pch.cpp)
target_link_libraries(course_gtest_pch_graded PRIVATE GTest::gtest course_options course_test_options
                                                      course_grade_test_options)
target_precompile_headers(course_gtest_pch_graded PRIVATE <gtest/gtest.h>)
add_library(course_gtest_pch_user INTERFACE)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(course_gtest_pch_user INTERFACE -Wno-array-bounds -Wno-stringop-overflow)
endif()

set(COURSE_COMMITTED_DIR ${PROJECT_BINARY_DIR}/committed)

# Copies exercises/ as committed in HEAD into build/committed/ (only files
# whose content changed, so nothing rebuilds needlessly). Runs every build.
# The copies are named as its byproducts so that a rule that reads one (the
# task-order checks below) knows what makes it on a fresh clone, before the
# first copy exists.
execute_process(
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/committed_exercises.py
          --source ${PROJECT_SOURCE_DIR} --list exercises
  OUTPUT_VARIABLE _course_committed_copies OUTPUT_STRIP_TRAILING_WHITESPACE)
string(REPLACE "\n" ";" _course_committed_copies "${_course_committed_copies}")
list(TRANSFORM _course_committed_copies PREPEND ${COURSE_COMMITTED_DIR}/)
add_custom_target(committed_exercises
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/committed_exercises.py
          --source ${PROJECT_SOURCE_DIR} --dest ${COURSE_COMMITTED_DIR}
  BYPRODUCTS ${_course_committed_copies}
  COMMENT "Copying the exercises as committed"
  VERBATIM)

# The files of exercises/<chapter> present in HEAD (or on disk without git).
function(_course_committed_files chapter out_var)
  execute_process(
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/committed_exercises.py
            --source ${PROJECT_SOURCE_DIR} --list exercises/${chapter}
    OUTPUT_VARIABLE files OUTPUT_STRIP_TRAILING_WHITESPACE)
  string(REPLACE "\n" ";" files "${files}")
  set(${out_var} "${files}" PARENT_SCOPE)
endfunction()

function(_course_variant name chapter_dir exercise_dir sources links)
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC ${exercise_dir} ${chapter_dir})
  target_link_libraries(${name} PUBLIC ${links} course_options)
endfunction()

# The learner's variant, chNN_exercise, built from one object library per
# source, chNN_exercise_<name of the source> (chNN_exercise_future_stream),
# so that a program can take the objects it needs and no others: a task's
# own program (_course_task_programs) links only the sources its test files
# need. Were it to link the whole library, a line changed in an exercise's
# header (chapter 07's future.h) would compile again, before every task's
# grade, each of the library's files that include it, the task's tests
# using them or not. chNN_exercise_headers carries what compiling against
# the learner's files takes (include folders, the chapters below) for a
# program that needs none of the sources. The sources themselves are
# kept as the property COURSE_SOURCES (the capstone builds them again on
# the learner's stack: tests/11-capstone/CMakeLists.txt).
function(_course_exercise_library name chapter_dir exercise_dir sources links)
  set(headers ${name}_exercise_headers)
  add_library(${headers} INTERFACE)
  target_include_directories(${headers} INTERFACE ${exercise_dir} ${chapter_dir})
  target_link_libraries(${headers} INTERFACE ${links} course_options)
  add_library(${name}_exercise STATIC EXCLUDE_FROM_ALL)
  foreach(source ${sources})
    get_filename_component(stem ${source} NAME_WE)
    set(part ${name}_exercise_${stem})
    add_library(${part} OBJECT EXCLUDE_FROM_ALL ${source})
    target_link_libraries(${part} PUBLIC ${headers} PRIVATE course_grade_options)
    target_sources(${name}_exercise PRIVATE $<TARGET_OBJECTS:${part}>)
  endforeach()
  # The same usage requirements as the other variants (the capstone reads
  # them from here too).
  target_include_directories(${name}_exercise PUBLIC ${exercise_dir} ${chapter_dir})
  target_link_libraries(${name}_exercise PUBLIC ${links} course_options PRIVATE course_grade_options)
  set_target_properties(${name}_exercise PROPERTIES COURSE_SOURCES "${sources}")
endfunction()

function(course_library name)
  cmake_parse_arguments(ARG "" "CHAPTER" "SOURCES;LINKS" ${ARGN})
  set(chapter_dir ${PROJECT_SOURCE_DIR}/chapters/${ARG_CHAPTER})
  set(exercise_dir ${PROJECT_SOURCE_DIR}/exercises/${ARG_CHAPTER})
  set(committed_dir ${COURSE_COMMITTED_DIR}/exercises/${ARG_CHAPTER})

  list(TRANSFORM ARG_SOURCES PREPEND ${chapter_dir}/ OUTPUT_VARIABLE reference_sources)
  add_library(${name} STATIC ${reference_sources})
  target_include_directories(${name} PUBLIC ${chapter_dir})
  target_link_libraries(${name} PUBLIC ${ARG_LINKS} course_options PRIVATE course_strict)

  _course_committed_files(${ARG_CHAPTER} committed_files)
  set(exercise_sources)
  set(committed_sources)
  foreach(source ${ARG_SOURCES})
    if(EXISTS ${exercise_dir}/${source})
      list(APPEND exercise_sources ${exercise_dir}/${source})
    else()
      list(APPEND exercise_sources ${chapter_dir}/${source})
    endif()
    if("exercises/${ARG_CHAPTER}/${source}" IN_LIST committed_files)
      list(APPEND committed_sources ${committed_dir}/${source})
      set_source_files_properties(${committed_dir}/${source} PROPERTIES GENERATED TRUE)
    else()
      list(APPEND committed_sources ${chapter_dir}/${source})
    endif()
  endforeach()
  _course_exercise_library(${name} ${chapter_dir} ${exercise_dir} "${exercise_sources}" "${ARG_LINKS}")
  _course_variant(${name}_committed_exercise ${chapter_dir} ${committed_dir}
                  "${committed_sources}" "${ARG_LINKS}")
  add_dependencies(${name}_committed_exercise committed_exercises)
  # Built only to fail its tasks' tests: compiled like the tests (-Og, line
  # tables), not like the chapter's code, which the benchmarks time.
  target_link_libraries(${name}_committed_exercise PRIVATE course_test_options)
endfunction()

function(course_program name)
  cmake_parse_arguments(ARG "" "CHAPTER" "SOURCES;LINKS" ${ARGN})
  list(TRANSFORM ARG_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/chapters/${ARG_CHAPTER}/)
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LINKS} course_options course_strict)

  # The demo on the learner's code: the chapter's library swapped for its
  # exercise variant, with the sanitizers make grade uses (a lifetime
  # mistake stops the demo with a report, not a wrong answer later).
  # Built only on demand: a learner's work in progress may not compile.
  string(SUBSTRING ${ARG_CHAPTER} 0 2 number)
  if(TARGET ch${number}_exercise AND "ch${number}" IN_LIST ARG_LINKS)
    list(TRANSFORM ARG_LINKS REPLACE "^ch${number}$" "ch${number}_exercise" OUTPUT_VARIABLE links)
    add_executable(${name}_exercise EXCLUDE_FROM_ALL ${ARG_SOURCES})
    target_link_libraries(${name}_exercise PRIVATE ${links} course_options course_grade_options)
  endif()
endfunction()

# True when every header of exercises/<chapter> as committed is byte for
# byte the chapter's (then code compiled against either is the same).
function(_course_headers_match_chapter chapter out_var)
  _course_committed_files(${chapter} committed_files)
  set(match TRUE)
  foreach(path ${committed_files})
    get_filename_component(name ${path} NAME)
    # An extension's header has no twin in the chapter: its tests are
    # compiled into each test program on their own (course_extension).
    if(path MATCHES "\\.h$" AND NOT path MATCHES "/solutions/"
       AND EXISTS ${PROJECT_SOURCE_DIR}/chapters/${chapter}/${name})
      execute_process(
        COMMAND git -C ${PROJECT_SOURCE_DIR} show HEAD:${path}
        OUTPUT_VARIABLE committed RESULT_VARIABLE failed)
      if(failed)  # not committed yet (or no git): the working tree copy
        file(READ ${PROJECT_SOURCE_DIR}/${path} committed)
      endif()
      file(READ ${PROJECT_SOURCE_DIR}/chapters/${chapter}/${name} reference)
      if(NOT committed STREQUAL reference)
        set(match FALSE)
      endif()
    endif()
  endforeach()
  set(${out_var} ${match} PARENT_SCOPE)
endfunction()

# Tests of one chapter. Every GoogleTest test becomes its own CTest test
# ("ch01.Task1_WriteAll.SurvivesPartialWrites"); then, per exercise task,
# a CTest check that the committed exercise fails it, and one check that the
# reference passes every task.
# FIXTURE: a CTest fixture every test of the chapter needs (chapter 09's
# PostgreSQL cluster); ENVIRONMENT: a variable they all run with.
function(course_tests)
  cmake_parse_arguments(ARG "" "CHAPTER;LIBRARY;FIXTURE;ENVIRONMENT" "SOURCES;LINKS;INCLUDES" ${ARGN})
  string(SUBSTRING ${ARG_CHAPTER} 0 2 number)
  set(prefix ch${number})
  set(grade ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/grade.py --chapter ${number})
  set(test_links test_support GTest::gtest_main course_options course_test_options
                 course_gtest_pch_user ${ARG_LINKS})

  # The learner's variant compiles the tests against the learner's headers,
  # with the sanitizers (course_grade_options).
  add_executable(${prefix}_exercise_tests EXCLUDE_FROM_ALL ${ARG_SOURCES})
  target_include_directories(${prefix}_exercise_tests PRIVATE ${ARG_INCLUDES})
  target_precompile_headers(${prefix}_exercise_tests REUSE_FROM course_gtest_pch_graded)
  target_link_libraries(${prefix}_exercise_tests PRIVATE ${ARG_LIBRARY}_exercise ${test_links}
                                                         course_grade_test_options)
  # What the per-task programs are made of (_course_task_programs).
  set_target_properties(${prefix}_exercise_tests PROPERTIES
                        COURSE_TASK_LIBRARY ${ARG_LIBRARY}
                        COURSE_TASK_LINKS "${ARG_LIBRARY}_exercise_headers;${test_links};course_grade_test_options"
                        COURSE_TASK_INCLUDES "${ARG_INCLUDES}")
  _course_task_programs(${prefix} "${ARG_SOURCES}")

  # The reference and the committed exercise share one compilation of the
  # tests when the committed exercise's headers are the chapter's (most
  # chapters cut only .cpp files): that halves the tests' build time.
  add_library(${prefix}_test_objects OBJECT ${ARG_SOURCES})
  target_include_directories(${prefix}_test_objects PRIVATE ${ARG_INCLUDES})
  target_precompile_headers(${prefix}_test_objects REUSE_FROM course_gtest_pch)
  course_unity_build(${prefix}_test_objects 3)
  target_link_libraries(${prefix}_test_objects PRIVATE ${ARG_LIBRARY} ${test_links} course_strict)
  add_executable(${prefix}_tests $<TARGET_OBJECTS:${prefix}_test_objects>)
  target_link_libraries(${prefix}_tests PRIVATE ${ARG_LIBRARY} ${test_links})

  _course_headers_match_chapter(${ARG_CHAPTER} headers_match)
  if(headers_match)
    add_executable(${prefix}_committed_exercise_tests $<TARGET_OBJECTS:${prefix}_test_objects>)
  else()
    add_executable(${prefix}_committed_exercise_tests ${ARG_SOURCES})
    target_include_directories(${prefix}_committed_exercise_tests PRIVATE ${ARG_INCLUDES})
    target_precompile_headers(${prefix}_committed_exercise_tests REUSE_FROM course_gtest_pch)
    course_unity_build(${prefix}_committed_exercise_tests 3)
  endif()
  target_link_libraries(${prefix}_committed_exercise_tests PRIVATE
                        ${ARG_LIBRARY}_committed_exercise ${test_links})

  set(needs "")
  if(ARG_FIXTURE)
    list(APPEND needs FIXTURES_REQUIRED ${ARG_FIXTURE})
  endif()
  if(ARG_ENVIRONMENT)
    list(APPEND needs ENVIRONMENT ${ARG_ENVIRONMENT})
  endif()
  gtest_discover_tests(${prefix}_tests TEST_PREFIX "${prefix}." DISCOVERY_TIMEOUT 30
                       PROPERTIES TIMEOUT 120 LABELS chapter ${needs})

  set(tasks_file ${PROJECT_SOURCE_DIR}/exercises/${ARG_CHAPTER}/tasks.txt)
  if(NOT EXISTS ${tasks_file})
    return()
  endif()
  _course_task_order_checks(${prefix} ${ARG_CHAPTER} ${ARG_LIBRARY} ${tasks_file}
                            "${test_links}" ${headers_match} "${ARG_SOURCES}" "${ARG_INCLUDES}")
  add_test(NAME ${prefix}.exercise.reference_passes_every_task
           COMMAND ${grade} --binary $<TARGET_FILE:${prefix}_tests>)
  file(STRINGS ${tasks_file} task_lines REGEX "^[0-9]+ ")
  foreach(line ${task_lines})
    string(REGEX MATCH "^[0-9]+" task ${line})
    add_test(NAME ${prefix}.exercise.task${task}_fails_as_committed
             COMMAND ${grade} --task ${task} --expect-fail
                     --binary $<TARGET_FILE:${prefix}_committed_exercise_tests>)
    # COST: started before the unit tests (tests/bench/CMakeLists.txt says why).
    set_tests_properties(${prefix}.exercise.task${task}_fails_as_committed PROPERTIES COST 3)
  endforeach()
  set_tests_properties(${prefix}.exercise.reference_passes_every_task PROPERTIES
                       LABELS exercise COST 5)
  if(needs)
    get_property(chapter_tests DIRECTORY PROPERTY TESTS)
    foreach(test ${chapter_tests})
      if(test MATCHES "^${prefix}\\.exercise\\.")
        set_tests_properties(${test} PROPERTIES ${needs})
      endif()
    endforeach()
  endif()
endfunction()

# Each task passes with only the tasks before it done: for every task but
# the last (which is the reference whole) and the extensions (whose tests
# build on the solution), the committed exercise with the cuts of tasks 1
# to N put back from the chapter (tools/tasks_done_upto.py) must pass task
# N's tests, chNN.exercise.taskN_needs_only_the_tasks_before_it. A learner
# who works in order, as the exercises say, can then pass each task as it
# comes. Where the exercise cuts .cpp files alone (headers_match), the
# chapter's compiled tests are linked against each task's library; where
# it cuts headers too (chapters 07 and 08), task N's test files alone are
# compiled against task N's headers.
function(_course_task_order_checks prefix chapter library tasks_file test_links headers_match
                                   test_sources includes)
  file(STRINGS ${tasks_file} task_lines REGEX "^[0-9]+ ")
  set(tasks "")
  foreach(line ${task_lines})
    if(NOT line MATCHES "^[0-9]+ +extension")
      string(REGEX MATCH "^[0-9]+" task ${line})
      list(APPEND tasks ${task})
    endif()
  endforeach()
  list(POP_BACK tasks)  # the last: every cut put back, the reference itself
  get_target_property(sources ${library}_committed_exercise SOURCES)
  get_target_property(links ${library}_committed_exercise LINK_LIBRARIES)
  set(chapter_dir ${PROJECT_SOURCE_DIR}/chapters/${chapter})
  string(REPLACE "ch" "" number ${prefix})
  # The files the exercise cuts: its .cpp files among the library's
  # sources, and where headers are cut, its headers with a twin in the
  # chapter. The library's other files are compiled once when nothing they
  # include changes from task to task.
  set(cut_files "")
  set(whole_sources "")
  foreach(source ${sources})
    if(source MATCHES "^${COURSE_COMMITTED_DIR}/")
      list(APPEND cut_files ${source})
    else()
      list(APPEND whole_sources ${source})
    endif()
  endforeach()
  if(NOT headers_match)
    _course_committed_files(${chapter} committed)
    foreach(path ${committed})
      get_filename_component(file ${path} NAME)
      if(path STREQUAL "exercises/${chapter}/${file}" AND file MATCHES "\\.h$"
         AND EXISTS ${chapter_dir}/${file})
        list(APPEND cut_files ${COURSE_COMMITTED_DIR}/${path})
      endif()
    endforeach()
  endif()
  set(whole_objects "")
  if(whole_sources AND headers_match)
    set(whole ${prefix}_upto_task_whole_files)
    add_library(${whole} OBJECT ${whole_sources})
    target_include_directories(${whole} PUBLIC ${chapter_dir})
    target_link_libraries(${whole} PUBLIC ${links})
    set(whole_objects $<TARGET_OBJECTS:${whole}>)
  endif()
  foreach(task ${tasks})
    set(name ${prefix}_upto_task${task})
    set(task_files "")
    foreach(source ${cut_files})
      get_filename_component(file ${source} NAME)
      set(spliced ${CMAKE_CURRENT_BINARY_DIR}/${name}/${file})
      add_custom_command(
        OUTPUT ${spliced}
        COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/tasks_done_upto.py
                --exercise ${source} --reference ${chapter_dir}/${file} --task ${task}
                --out ${spliced}
        DEPENDS ${source} ${chapter_dir}/${file} ${PROJECT_SOURCE_DIR}/tools/tasks_done_upto.py
        COMMENT "Exercise ${number} with tasks 1 to ${task} done: ${file}"
        VERBATIM)
      list(APPEND task_files ${spliced})
    endforeach()
    if(headers_match)
      add_library(${name} STATIC ${task_files} ${whole_objects})
      target_include_directories(${name} PUBLIC ${chapter_dir})
      add_executable(${name}_tests $<TARGET_OBJECTS:${prefix}_test_objects>)
    else()
      add_library(${name} STATIC ${task_files} ${whole_sources})
      target_include_directories(${name} BEFORE PUBLIC ${CMAKE_CURRENT_BINARY_DIR}/${name})
      target_include_directories(${name} PUBLIC ${chapter_dir})
      set(task_tests "")
      foreach(source ${test_sources})
        _course_tasks_of(${CMAKE_CURRENT_SOURCE_DIR}/${source} of)
        if(of STREQUAL "helper" OR task IN_LIST of)
          list(APPEND task_tests ${CMAKE_CURRENT_SOURCE_DIR}/${source})
        endif()
      endforeach()
      # The spliced headers are listed too, so that they are made before
      # the test files that include them are compiled.
      set(task_headers ${task_files})
      list(FILTER task_headers INCLUDE REGEX "\\.h$")
      add_executable(${name}_tests ${task_tests} ${task_headers})
      target_include_directories(${name}_tests PRIVATE ${includes})
      target_precompile_headers(${name}_tests REUSE_FROM course_gtest_pch)
    endif()
    add_dependencies(${name} committed_exercises)
    target_link_libraries(${name} PUBLIC ${links})
    target_link_libraries(${name}_tests PRIVATE ${name} ${test_links})
    add_test(NAME ${prefix}.exercise.task${task}_needs_only_the_tasks_before_it
             COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/grade.py --chapter ${number}
                     --task ${task} --binary $<TARGET_FILE:${name}_tests>)
    set_tests_properties(${prefix}.exercise.task${task}_needs_only_the_tasks_before_it PROPERTIES
                         LABELS exercise COST 3)
  endforeach()
endfunction()

# The tasks whose suites (TEST(TaskN_..., TEST_F(TaskN_...) the test file
# `source` holds; "helper" for a file that holds no test at all.
function(_course_tasks_of source out_var)
  file(READ ${source} text)
  string(REGEX MATCHALL "TEST(_F|_P)?\\(Task[0-9]+_" suites "${text}")
  set(tasks "")
  foreach(suite ${suites})
    string(REGEX MATCH "[0-9]+" task ${suite})
    list(APPEND tasks ${task})
  endforeach()
  list(REMOVE_DUPLICATES tasks)
  if(NOT tasks AND NOT text MATCHES "TEST(_F|_P)?\\(")
    set(tasks helper)
  endif()
  set(${out_var} "${tasks}" PARENT_SCOPE)
endfunction()

# chNN_exercise_taskN_tests for every task of `sources` (creating it, or
# adding to it): `make grade CH=NN TASK=N` compiles only the test files of
# task N, so that a change to an exercise's header is graded in seconds,
# not after every test file of the chapter has compiled again. Every
# helper file joins every task's program.
function(_course_task_programs prefix sources)
  set(main ${prefix}_exercise_tests)
  get_target_property(links ${main} COURSE_TASK_LINKS)
  get_target_property(includes ${main} COURSE_TASK_INCLUDES)
  get_target_property(helpers ${main} COURSE_TASK_HELPERS)
  if(NOT helpers)
    set(helpers "")
  endif()
  foreach(source ${sources})
    _course_tasks_of(${CMAKE_CURRENT_SOURCE_DIR}/${source} tasks)
    if(tasks STREQUAL "helper")
      list(APPEND helpers ${CMAKE_CURRENT_SOURCE_DIR}/${source})
      continue()
    endif()
    foreach(task ${tasks})
      set(program ${prefix}_exercise_task${task}_tests)
      if(NOT TARGET ${program})
        add_executable(${program} EXCLUDE_FROM_ALL ${helpers})
        target_include_directories(${program} PRIVATE ${includes})
        target_precompile_headers(${program} REUSE_FROM course_gtest_pch_graded)
        target_link_libraries(${program} PRIVATE ${links})
        set_property(TARGET ${main} APPEND PROPERTY COURSE_TASK_PROGRAMS ${program})
      endif()
      target_sources(${program} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/${source})
    endforeach()
  endforeach()
  set_target_properties(${main} PROPERTIES COURSE_TASK_HELPERS "${helpers}")
  _course_link_needed_parts(${prefix})
endfunction()

# Links each task program of `prefix` to the objects of the learner's
# library (_course_exercise_library) that its files need, each once.
function(_course_link_needed_parts prefix)
  set(main ${prefix}_exercise_tests)
  get_target_property(library ${main} COURSE_TASK_LIBRARY)
  get_target_property(programs ${main} COURSE_TASK_PROGRAMS)
  get_target_property(includes ${main} COURSE_TASK_INCLUDES)
  get_target_property(library_sources ${library}_exercise COURSE_SOURCES)
  get_target_property(library_dirs ${library}_exercise_headers INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT programs)
    return()
  endif()
  foreach(program ${programs})
    get_target_property(files ${program} SOURCES)
    _course_needed_sources("${files}" "${library_sources}"
                           "${library_dirs};${CMAKE_CURRENT_SOURCE_DIR};${includes}" needed)
    get_target_property(linked ${program} COURSE_LINKED_SOURCES)
    foreach(source ${needed})
      if(NOT source IN_LIST linked)
        get_filename_component(stem ${source} NAME_WE)
        target_link_libraries(${program} PRIVATE ${library}_exercise_${stem})
        set_property(TARGET ${program} APPEND PROPERTY COURSE_LINKED_SOURCES ${source})
      endif()
    endforeach()
  endforeach()
endfunction()

# The sources among `library_sources` that code made of `files` needs,
# told by their names: a file that includes "x.h" (or <x.h>) needs the
# library's x.cpp, and then what x.h and x.cpp include in turn. A source
# with no header of its own name is always needed, since no include names
# it. Headers are looked for in `dirs` (those of other chapters are not:
# their code is in the libraries linked whole). Read when CMake configures,
# as the task suites are (_course_tasks_of): the test files' includes and
# the chapters' do not change under a learner, and an exercise file's are
# the chapter's.
function(_course_needed_sources files library_sources dirs out_var)
  set(needed "")
  set(to_read ${files})
  foreach(source ${library_sources})
    get_filename_component(stem ${source} NAME_WE)
    set(named FALSE)
    foreach(dir ${dirs})
      if(EXISTS ${dir}/${stem}.h)
        set(named TRUE)
      endif()
    endforeach()
    if(NOT named)
      list(APPEND needed ${source})
      list(APPEND to_read ${source})
    endif()
  endforeach()
  set(read "")
  while(to_read)
    list(POP_FRONT to_read file)
    if(file IN_LIST read OR NOT EXISTS ${file})
      continue()
    endif()
    list(APPEND read ${file})
    file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"][^>\"]+[>\"]")
    foreach(line ${lines})
      string(REGEX REPLACE "^[^<\"]*[<\"]([^>\"]+)[>\"].*$" "\\1" header "${line}")
      foreach(dir ${dirs})
        if(EXISTS ${dir}/${header})
          list(APPEND to_read ${dir}/${header})
        endif()
      endforeach()
      get_filename_component(stem ${header} NAME_WE)
      foreach(source ${library_sources})
        get_filename_component(source_stem ${source} NAME_WE)
        if(source_stem STREQUAL stem AND NOT source IN_LIST needed)
          list(APPEND needed ${source})
          list(APPEND to_read ${source})
        endif()
      endforeach()
    endforeach()
  endwhile()
  set(${out_var} "${needed}" PARENT_SCOPE)
endfunction()

function(course_extension)
  cmake_parse_arguments(ARG "" "CHAPTER" "SOURCES" ${ARGN})
  string(SUBSTRING ${ARG_CHAPTER} 0 2 number)
  set(prefix ch${number})
  get_target_property(includes ${prefix}_exercise_tests COURSE_TASK_INCLUDES)
  target_sources(${prefix}_tests PRIVATE ${ARG_SOURCES})
  target_include_directories(${prefix}_tests BEFORE PRIVATE
                             ${PROJECT_SOURCE_DIR}/exercises/${ARG_CHAPTER}/solutions)
  if(includes)
    target_include_directories(${prefix}_tests PRIVATE ${includes})
    target_include_directories(${prefix}_committed_exercise_tests PRIVATE ${includes})
  endif()
  target_link_libraries(${prefix}_tests PRIVATE course_strict)
  target_sources(${prefix}_exercise_tests PRIVATE ${ARG_SOURCES})
  target_sources(${prefix}_committed_exercise_tests PRIVATE ${ARG_SOURCES})
  _course_task_programs(${prefix} "${ARG_SOURCES}")
endfunction()
