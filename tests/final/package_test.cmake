# package_test.cmake: builds final/ on its own, installs it, then builds and
# runs package_consumer/ against the install with find_package(tornado).
#
#   cmake -DSOURCE=<final/> -DCONSUMER=<package_consumer/> -DWORK=<scratch dir>
#         -DCXX=<compiler> -P package_test.cmake
foreach(step_var SOURCE CONSUMER WORK CXX)
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

# Only what is installed (the library), unoptimised and without debug
# information: this checks the packaging, and a Release build of final/
# with its examples took three to five minutes of CI's time.
file(REMOVE_RECURSE ${WORK})
run_step("configure final/" ${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/build
         -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DCMAKE_CXX_COMPILER=${CXX})
run_step("build final/" ${CMAKE_COMMAND} --build ${WORK}/build -j 2 --target tornado)
run_step("install" ${CMAKE_COMMAND} --install ${WORK}/build --prefix ${WORK}/prefix)
run_step("configure the consumer" ${CMAKE_COMMAND} -S ${CONSUMER} -B ${WORK}/consumer
         -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_CXX_COMPILER=${CXX})
run_step("build the consumer" ${CMAKE_COMMAND} --build ${WORK}/consumer)
run_step("run the consumer" ${WORK}/consumer/consumer)
file(REMOVE_RECURSE ${WORK})
