// fuzz_replay_main.cpp: main() for a libFuzzer target built without
// libFuzzer (by g++, in the ordinary build): runs LLVMFuzzerTestOneInput on
// every file of the folders (or the files) named on the command line, so
// that CTest replays a target's corpus and its past crashes on every run.
// A target's check() aborts on a broken promise, which fails the test.
//
//   build/bin/fuzz_websocket_frames_replay tests/final/fuzz_corpus/websocket_frames
//   build/bin/fuzz_h2_connection_replay tests/10-http2/fuzz_corpus
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

int replay(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    int replayed = 0;
    for (int i = 1; i < argc; ++i) {
        std::filesystem::path path(argv[i]);
        if (std::filesystem::is_directory(path)) {
            for (const auto& entry : std::filesystem::directory_iterator(path)) {
                if (entry.is_regular_file()) replayed += replay(entry.path());
            }
        } else {
            replayed += replay(path);
        }
    }
    std::printf("replayed %d inputs\n", replayed);
    return replayed > 0 ? 0 : 1;  // an empty corpus is a mistake, not a pass
}
