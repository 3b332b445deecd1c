// stream_buffer.cpp: see stream_buffer.h for the picture.
#include "stream_buffer.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace course {

void StreamBuffer::append(std::string_view data) {
    if (data.empty()) return;
    std::memcpy(prepare(data.size()), data.data(), data.size());
    commit(data.size());
}

char* StreamBuffer::prepare(std::size_t n) {
    if (storage_.size() - write_pos_ < n) make_room(n);
    return storage_.data() + write_pos_;
}

void StreamBuffer::commit(std::size_t n) {
    assert(write_pos_ + n <= storage_.size());
    write_pos_ += n;
}

void StreamBuffer::consume(std::size_t n) {
    assert(n <= size());
    read_pos_ += n;
    if (read_pos_ == write_pos_) {
        // Empty: start again at the front, for free.
        read_pos_ = 0;
        write_pos_ = 0;
    }
}

std::string StreamBuffer::take(std::size_t n) {
    std::string bytes(view().substr(0, n));
    consume(n);
    return bytes;
}

void StreamBuffer::make_room(std::size_t n) {
    std::size_t readable = size();
    // Move the readable bytes to the front only when the dead prefix is at
    // least as big as they are: then the copy is paid for by the bytes
    // already consumed, and a big buffer read a little at a time is not
    // copied over and over.
    if (read_pos_ > 0 && read_pos_ >= readable) {
        std::memmove(storage_.data(), storage_.data() + read_pos_, readable);
        read_pos_ = 0;
        write_pos_ = readable;
    }
    if (storage_.size() - write_pos_ < n) {
        // Doubling keeps the number of reallocations (and their copies)
        // logarithmic in the final size.
        storage_.resize(std::max(storage_.size() * 2, write_pos_ + n));
    }
}

}  // namespace course
