// stream_buffer.h: the byte buffer under IOStream, one for each direction.
//
// A stream reads from the socket in chunks of whatever size the kernel has
// ready, and hands bytes out in the sizes the application asked for (a line,
// 17 bytes, a header block). The buffer sits between the two. What it must
// not do is copy everything it holds every time a few bytes are taken from
// the front: a 1 MB buffer read line by line would cost O(n^2) copies.
//
// So the buffer is one contiguous block with two positions:
//
//   +------------------+--------------------+-------------------+
//   | consumed (dead)  |  readable bytes    |  writable space   |
//   +------------------+--------------------+-------------------+
//   0      <=      read_pos_     <=     write_pos_   <=   storage_.size()
//
//   consume(n):  read_pos_ += n            (no copy; bytes become dead)
//   prepare(n):  room for n more bytes after write_pos_ (may move or grow)
//   commit(n):   write_pos_ += n           (bytes the socket just wrote there)
//
// Dead bytes are reclaimed lazily. When consume() empties the buffer both
// positions jump back to 0, which costs nothing and is the common case (a
// request read whole). Otherwise prepare() moves the readable bytes to the
// front only when the dead prefix is at least as large as they are, so each
// byte is moved at most about once for every byte consumed before it:
// amortised O(1) per byte. Only when that is not enough does it grow.
//
// The readable bytes are contiguous, so searching them for a delimiter or
// running a regex over them needs no copying either (view()).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace course {

class StreamBuffer {
public:
    // Bytes that can be read (written but not yet consumed).
    std::size_t size() const { return write_pos_ - read_pos_; }
    bool empty() const { return size() == 0; }
    // The readable bytes, valid until the next non-const call.
    std::string_view view() const {
        return {storage_.data() + read_pos_, size()};
    }

    // Copies `data` in after the readable bytes.
    void append(std::string_view data);

    // Returns space for at least n bytes after the readable ones. Write into
    // it (for example with read()), then commit() what was really written.
    char* prepare(std::size_t n);
    void commit(std::size_t n);

    // Drops the first n readable bytes (n <= size()).
    void consume(std::size_t n);
    // Returns the first n readable bytes and consumes them (n <= size()).
    std::string take(std::size_t n);

    // Bytes allocated, readable or not (for tests and curiosity).
    std::size_t capacity() const { return storage_.size(); }

private:
    void make_room(std::size_t n);

    std::vector<char> storage_;
    std::size_t read_pos_ = 0;
    std::size_t write_pos_ = 0;
};

}  // namespace course
