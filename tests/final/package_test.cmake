# package_test.cmake: configures final/ on its own, installs the library the
# course's build made, then builds and runs package_consumer/ against the
# install with find_package(tornado).
#
#   cmake -DSOURCE=<final/> -DBUILT=<the course build's final/ folder>
#         -DCONSUMER=<package_consumer/> -DWORK=<scratch dir> -DCXX=<compiler>
#         [-DSANITIZE=address,undefined] -P package_test.cmake
#
# SANITIZE: the sanitizers the course's build was made with (its SANITIZE
# option); the consumer then compiles and links with them too, as a user's
# program must to link a sanitized library.
foreach(step_var SOURCE BUILT CONSUMER WORK CXX)
  if(NOT DEFINED ${step_var})
    message(FATAL_ERROR "package_test.cmake needs -D${step_var}=...")
  endif()
endforeach()

function(run_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output
                  ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${name} failed (${result}):\n${output}")
  endif()
  message(STATUS "${name}: ok")
endfunction()

# final/ is configured on its own, as a user's add_subdirectory or
# standalone build would (its find_package calls, its install rules), but
# not compiled again: the install takes the library the course's build
# compiled from the same sources with the same compiler. A second
# compilation here took two minutes of make test and checked nothing that
# the course's build does not.
file(REMOVE_RECURSE ${WORK})
run_step("configure final/ on its own" ${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/build
         -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=${CXX})
run_step("install" ${CMAKE_COMMAND} --install ${BUILT} --prefix ${WORK}/prefix)
set(consumer_flags "")
if(SANITIZE)
  set(consumer_flags -DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE}
                     -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE})
endif()
run_step("configure the consumer" ${CMAKE_COMMAND} -S ${CONSUMER} -B ${WORK}/consumer
         -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_CXX_COMPILER=${CXX} ${consumer_flags})
run_step("build the consumer" ${CMAKE_COMMAND} --build ${WORK}/consumer)
run_step("run the consumer" ${WORK}/consumer/consumer)
file(REMOVE_RECURSE ${WORK})
