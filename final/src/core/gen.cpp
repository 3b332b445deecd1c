// gen.cpp: see tornado/gen.h for the contract.
#include "tornado/gen.h"

#include "tornado/log.h"

namespace tornado::detail {

void TaskPromiseBase::log_if_unobserved() noexcept {
    if (!exception_ || exception_retrieved_) return;
    exception_retrieved_ = true;
    // A coroutine cancelled by IOLoop::close() ends with CancelledError: that
    // is the expected way for it to go, not news.
    if (is_cancelled_error(exception_)) return;
    app_log.error("Task exception was never retrieved: {}", describe_exception(exception_));
}

void log_multi_exception(std::exception_ptr error) {
    app_log.error("Multiple exceptions in yield list: {}", describe_exception(error));
}

void log_exception_after_timeout(std::exception_ptr error) {
    if (is_cancelled_error(error)) return;
    app_log.error("Exception in Future after timeout: {}", describe_exception(error));
}

}  // namespace tornado::detail
