// huge_pages.c: loaded into the compilers by the build (LD_PRELOAD, set in
// cmake/Course.cmake), so that GCC's working memory comes in 2 MiB pages.
//
// GCC takes its memory 2 MiB at a time with mmap(), and one compile of the
// course's files touches 0.5 to 1 GB of it. Where the kernel gives huge
// pages only to memory that asks for them (transparent huge pages in
// "madvise" mode, as on the course's machines), every 4 KiB page of it is a
// page fault of its own, and the compiler's lookups through that memory
// miss the TLB. Asking with madvise(MADV_HUGEPAGE) on each such mapping
// makes a 2 MiB page one fault. Clang needs none of this: its memory comes
// from malloc, which glibc's tunable glibc.malloc.hugetlb=1 (set beside the
// preload) asks for in the same way. tests/bench/README.md, "The course's
// own build and tests" ("What cut it"), has the figures.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/types.h>

enum { kHugePage = 2 << 20 };

typedef void* (*MmapFunction)(void*, size_t, int, int, int, off_t);

void* mmap(void* address, size_t length, int protection, int flags, int fd, off_t offset) {
    static MmapFunction system_mmap;
    if (system_mmap == NULL) system_mmap = (MmapFunction)dlsym(RTLD_NEXT, "mmap");
    void* pages = system_mmap(address, length, protection, flags, fd, offset);
    // Only anonymous memory: a file's pages are the page cache's.
    if (pages != MAP_FAILED && (flags & MAP_ANONYMOUS) && length >= kHugePage)
        madvise(pages, length, MADV_HUGEPAGE);
    return pages;
}

// The same function under its large-file name, which 64-bit glibc exports too.
void* mmap64(void*, size_t, int, int, int, off_t) __attribute__((alias("mmap")));
