// Tests of tornado/websocket.h's protocol part, without a socket: the
// handshake's keys, frames and masks, MessageReader's rules one by one,
// permessage-deflate and its negotiation, and Utf8Validator.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tornado/escape.h"
#include "tornado/websocket.h"

namespace tornado::websocket_protocol {
namespace {

using Kind = Event::Kind;

const std::array<char, 4> kMask = {'\x01', '\x02', '\x03', '\x04'};

std::string frame(Opcode opcode, std::string_view payload, bool fin = true, bool masked = true, bool rsv1 = false) {
    std::string out;
    append_frame(out, opcode, payload, fin, rsv1, masked ? &kMask : nullptr);
    return out;
}

// Feeds `bytes` to `reader` in the sizes it asks for; the events that are
// not `nothing`. Stops at a failure.
std::vector<Event> feed_all(MessageReader& reader, std::string_view bytes) {
    std::vector<Event> events;
    while (!bytes.empty() && !reader.failed()) {
        std::size_t wanted = reader.bytes_wanted();
        if (bytes.size() < wanted) throw std::runtime_error("input ends inside a frame");
        Event event = reader.feed(std::string(bytes.substr(0, wanted)));
        bytes.remove_prefix(wanted);
        if (event.kind != Kind::nothing) events.push_back(std::move(event));
    }
    return events;
}

// What a server's reader makes of `bytes`: its single event.
Event server_reads(std::string_view bytes, std::size_t max_message_size = 1 << 20) {
    MessageReader reader(/*expect_masked=*/true, max_message_size);
    std::vector<Event> events = feed_all(reader, bytes);
    if (events.size() != 1) throw std::runtime_error("expected one event, got " + std::to_string(events.size()));
    return events.front();
}

// --- keys -------------------------------------------------------------------------------------

TEST(WebSocketKeys, TheAcceptValueOfRfc6455sExample) {
    EXPECT_EQ(compute_accept_value("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketKeys, AKeyIs16BytesInBase64) {
    EXPECT_TRUE(is_valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
    EXPECT_FALSE(is_valid_key(""));
    EXPECT_FALSE(is_valid_key("c2hvcnQ="));                  // 5 bytes
    EXPECT_FALSE(is_valid_key("dGhlIHNhbXBsZSBub25jZQ"));    // unpadded
    EXPECT_FALSE(is_valid_key("dGhlIHNhbXBsZSBub25jZQ=!"));  // not base64
    std::string made = make_key();
    EXPECT_TRUE(is_valid_key(made));
    EXPECT_NE(made, make_key());
}

TEST(WebSocketKeys, CloseCodesThatMayBeSent) {
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999}) {
        EXPECT_TRUE(is_valid_close_code(code)) << code;
    }
    for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000}) EXPECT_FALSE(is_valid_close_code(code)) << code;
}

// --- frames -----------------------------------------------------------------------------------

TEST(WebSocketFrames, LengthsTakeSevenSixteenOrSixtyFourBits) {
    EXPECT_EQ(frame(Opcode::text, "", true, false), std::string("\x81\x00", 2));
    EXPECT_EQ(frame(Opcode::text, std::string(125, 'a'), true, false).substr(0, 2), "\x81\x7d");
    EXPECT_EQ(frame(Opcode::binary, std::string(126, 'a'), true, false).substr(0, 4), std::string("\x82\x7e\x00\x7e", 4));
    EXPECT_EQ(frame(Opcode::binary, std::string(65535, 'a'), true, false).substr(0, 4), "\x82\x7e\xff\xff");
    EXPECT_EQ(frame(Opcode::binary, std::string(65536, 'a'), true, false).substr(0, 10),
              std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST(WebSocketFrames, AMaskedFrameCarriesItsKeyAndTheXoredPayload) {
    std::string masked = frame(Opcode::text, "Hello");
    EXPECT_EQ(masked.substr(0, 2), "\x81\x85");
    EXPECT_EQ(masked.substr(2, 4), std::string(kMask.begin(), kMask.end()));
    std::string payload = masked.substr(6);
    apply_mask(payload, kMask);
    EXPECT_EQ(payload, "Hello");
}

TEST(WebSocketFrames, ApplyMaskAtAnOffsetContinuesTheKey) {
    std::string data(37, 'x');
    std::string whole = data;
    apply_mask(whole, kMask);
    std::string split = data;
    apply_mask(std::span<char>(split.data(), 13), kMask, 0);
    apply_mask(std::span<char>(split.data() + 13, 24), kMask, 13);
    EXPECT_EQ(split, whole);
}

TEST(WebSocketFrames, FinAndRsv1Bits) {
    EXPECT_EQ(static_cast<unsigned char>(frame(Opcode::text, "a", /*fin=*/false, false)[0]), 0x01);
    EXPECT_EQ(static_cast<unsigned char>(frame(Opcode::text, "a", true, false, /*rsv1=*/true)[0]), 0xC1);
}

// --- MessageReader: what it accepts -----------------------------------------------------------

TEST(MessageReader, ReadsTextAndBinaryMessages) {
    Event text = server_reads(frame(Opcode::text, "h\xc3\xa9llo"));
    EXPECT_EQ(text.kind, Kind::message);
    EXPECT_FALSE(text.binary);
    EXPECT_EQ(text.data, "h\xc3\xa9llo");
    Event binary = server_reads(frame(Opcode::binary, std::string("\0\xff", 2)));
    EXPECT_TRUE(binary.binary);
    EXPECT_EQ(binary.data, std::string("\0\xff", 2));
}

TEST(MessageReader, AShortFrameTakesTwoFeedsALongOneThree) {
    MessageReader reader(true, 1 << 20);
    EXPECT_EQ(reader.bytes_wanted(), 2u);
    std::string small = frame(Opcode::text, "hi");
    EXPECT_EQ(reader.feed(small.substr(0, 2)).kind, Kind::nothing);
    EXPECT_EQ(reader.bytes_wanted(), 4u + 2u);  // mask and payload together
    EXPECT_EQ(reader.feed(small.substr(2)).data, "hi");
    std::string big = frame(Opcode::binary, std::string(300, 'b'));
    reader.feed(big.substr(0, 2));
    EXPECT_EQ(reader.bytes_wanted(), 2u + 4u);  // the 16-bit length and the mask
    reader.feed(big.substr(2, 6));
    EXPECT_EQ(reader.bytes_wanted(), 300u);
    EXPECT_EQ(reader.feed(big.substr(8)).data, std::string(300, 'b'));
}

TEST(MessageReader, JoinsFragmentsAndPassesControlFramesBetweenThem) {
    MessageReader reader(true, 1 << 20);
    std::vector<Event> events = feed_all(reader, frame(Opcode::text, "frag", false) + frame(Opcode::ping, "p") +
                                                     frame(Opcode::continuation, "men", false) +
                                                     frame(Opcode::pong, "q") + frame(Opcode::continuation, "ted"));
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[0].kind, Kind::ping);
    EXPECT_EQ(events[0].data, "p");
    EXPECT_EQ(events[1].kind, Kind::pong);
    EXPECT_EQ(events[2].kind, Kind::message);
    EXPECT_EQ(events[2].data, "fragmented");
}

TEST(MessageReader, ACharacterSplitBetweenFragmentsIsFine) {
    MessageReader reader(true, 1 << 20);
    std::vector<Event> events =
        feed_all(reader, frame(Opcode::text, "\xe2\x82", false) + frame(Opcode::continuation, "\xac"));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "\xe2\x82\xac");
}

TEST(MessageReader, EmptyFramesAndEmptyMessages) {
    EXPECT_EQ(server_reads(frame(Opcode::text, "")).data, "");
    MessageReader reader(true, 1 << 20);
    std::vector<Event> events = feed_all(
        reader, frame(Opcode::binary, "", false) + frame(Opcode::continuation, "", false) + frame(Opcode::continuation, "x"));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "x");
}

TEST(MessageReader, CloseFramesGiveTheirCodeAndReason) {
    Event coded = server_reads(frame(Opcode::close, "\x03\xe8" "bye"));
    EXPECT_EQ(coded.kind, Kind::close);
    EXPECT_EQ(coded.code, 1000);
    EXPECT_EQ(coded.data, "bye");
    Event empty = server_reads(frame(Opcode::close, ""));
    EXPECT_EQ(empty.code, kNoStatusReceived);
    Event application = server_reads(frame(Opcode::close, "\x0f\xa0"));  // 4000
    EXPECT_EQ(application.code, 4000);
}

TEST(MessageReader, AClientReadsUnmaskedFrames) {
    MessageReader client(/*expect_masked=*/false, 1 << 20);
    std::vector<Event> events = feed_all(client, frame(Opcode::text, "from the server", true, /*masked=*/false));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "from the server");
}

// --- MessageReader: every rule it enforces ----------------------------------------------------

struct Broken {
    const char* name;
    std::string bytes;
    int code;
    const char* reason;
};

class MessageReaderRules : public ::testing::TestWithParam<Broken> {};

TEST_P(MessageReaderRules, FailWithTheCode) {
    MessageReader reader(/*expect_masked=*/true, /*max_message_size=*/1000);
    std::vector<Event> events = feed_all(reader, GetParam().bytes);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().kind, Kind::fail);
    EXPECT_EQ(events.back().code, GetParam().code);
    EXPECT_EQ(events.back().data, GetParam().reason);
    EXPECT_TRUE(reader.failed());
}

INSTANTIATE_TEST_SUITE_P(
    EveryRule, MessageReaderRules,
    ::testing::Values(
        Broken{"Unmasked", frame(Opcode::text, "x", true, false), 1002, "client frame not masked"},
        Broken{"Rsv1WithoutDeflate", frame(Opcode::text, "x", true, true, true), 1002, "reserved bits set"},
        Broken{"Rsv2", std::string("\xa1\x80\0\0\0\0", 6), 1002, "reserved bits set"},
        Broken{"Rsv3", std::string("\x91\x80\0\0\0\0", 6), 1002, "reserved bits set"},
        Broken{"Opcode3", std::string("\x83\x80\0\0\0\0", 6), 1002, "unknown opcode 3"},
        Broken{"Opcode11", std::string("\x8b\x80\0\0\0\0", 6), 1002, "unknown opcode 11"},
        Broken{"PingOver125", frame(Opcode::ping, std::string(126, 'p')), 1002, "control frame over 125 bytes"},
        Broken{"FragmentedPing", frame(Opcode::ping, "p", false), 1002, "fragmented control frame"},
        Broken{"FragmentedClose", frame(Opcode::close, "", false), 1002, "fragmented control frame"},
        Broken{"LoneContinuation", frame(Opcode::continuation, "x"), 1002,
               "continuation frame with nothing to continue"},
        Broken{"DataInsideFragments", frame(Opcode::text, "a", false) + frame(Opcode::binary, "b"), 1002,
               "new data frame inside a fragmented message"},
        Broken{"LengthTopBit", std::string("\x82\xff\x80\0\0\0\0\0\0\0", 10) + std::string(4, '\0'), 1002,
               "frame length with its top bit set"},
        Broken{"CloseOfOneByte", frame(Opcode::close, "\x03"), 1002, "close frame of one byte"},
        Broken{"CloseCode1005", frame(Opcode::close, "\x03\xed"), 1002, "invalid close code 1005"},
        Broken{"CloseCode999", frame(Opcode::close, "\x03\xe7"), 1002, "invalid close code 999"},
        Broken{"CloseReasonNotUtf8", frame(Opcode::close, "\x03\xe8\xff"), 1007, "close reason is not UTF-8"},
        Broken{"TextNotUtf8", frame(Opcode::text, "\xc0\xaf"), 1007, "text message is not UTF-8"},
        Broken{"TextSurrogate", frame(Opcode::text, "\xed\xa0\x80"), 1007, "text message is not UTF-8"},
        Broken{"TextEndsMidCharacter", frame(Opcode::text, "\xe2\x82"), 1007, "text message is not UTF-8"},
        Broken{"TextBadInASecondFragment", frame(Opcode::text, "ok", false) + frame(Opcode::continuation, "\xff", false),
               1007, "text message is not UTF-8"},
        Broken{"OverTheLimitInOneFrame", frame(Opcode::binary, std::string(1001, 'x')), 1009, "message too big"},
        Broken{"OverTheLimitInFragments",
               frame(Opcode::binary, std::string(600, 'x'), false) + frame(Opcode::continuation, std::string(401, 'x')),
               1009, "message too big"}),
    [](const ::testing::TestParamInfo<Broken>& rule) { return std::string(rule.param.name); });

TEST(MessageReader, BinaryMessagesAreNotCheckedForUtf8) {
    EXPECT_EQ(server_reads(frame(Opcode::binary, "\xff\xfe")).kind, Kind::message);
}

TEST(MessageReader, TheLimitIsInclusive) {
    EXPECT_EQ(server_reads(frame(Opcode::binary, std::string(1000, 'x')), 1000).kind, Kind::message);
}

TEST(MessageReader, ABadTextByteFailsBeforeTheMessageEnds) {
    // Fail fast: the first fragment is enough.
    MessageReader reader(true, 1 << 20);
    std::vector<Event> events = feed_all(reader, frame(Opcode::text, "\xff", /*fin=*/false));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, Kind::fail);
}

// --- permessage-deflate -----------------------------------------------------------------------

TEST(PerMessageDeflate, RoundTripsWithContextTakeover) {
    PerMessageDeflate server(true, {}, {});
    PerMessageDeflate client(false, {}, {});
    std::vector<std::string> sizes;
    for (int i = 0; i < 3; ++i) {
        std::string message = "the same words again and again, the same words again and again";
        std::string packed = server.compress(message);
        sizes.push_back(packed);
        EXPECT_EQ(client.decompress(packed, 1 << 20), message);
    }
    // With the window carried over, a repeated message costs almost nothing.
    EXPECT_LT(sizes[1].size(), sizes[0].size());
}

TEST(PerMessageDeflate, NoContextTakeoverStartsEachMessageAfresh) {
    PerMessageDeflate::Agreement agreement;
    agreement.server_no_context_takeover = true;
    PerMessageDeflate server(true, agreement, {});
    PerMessageDeflate client(false, agreement, {});
    std::string message(200, 'q');
    std::string first = server.compress(message);
    std::string second = server.compress(message);
    EXPECT_EQ(first, second);
    EXPECT_EQ(client.decompress(first, 1 << 20), message);
    EXPECT_EQ(client.decompress(second, 1 << 20), message);
}

// RFC 7692 section 7.2.3.4: a sender may end a message's deflate stream
// with a final block (zlib's Z_FINISH). The payload then ends with the
// first byte of an empty stored block (the RFC's own example is
// f3 48 cd c9 c9 07 00 00, "Hello"), or without it; either way the next
// message starts a new stream. Payloads made with Python's zlib.
TEST(PerMessageDeflate, AMessageEndedWithAFinalBlock) {
    using namespace std::string_view_literals;  // the payloads hold NUL bytes
    PerMessageDeflate receiver(false, {}, {});
    EXPECT_EQ(receiver.decompress("\xf3\x48\xcd\xc9\xc9\x07\x00\x00"sv, 100), "Hello");
    EXPECT_EQ(receiver.decompress("\xf3\x48\xcd\xc9\xc9\x07\x00"sv, 100), "Hello");
    // A sync-flushed message after them: a fresh stream, inflated whole.
    EXPECT_EQ(receiver.decompress("\xf2\x48\xcd\xc9\xc9\x07\x00"sv, 100), "Hello");
    EXPECT_THROW(receiver.decompress("\xf3\x48\xcd\xc9\xc9\x07\x00zz"sv, 100),
                 std::invalid_argument);
}

TEST(PerMessageDeflate, TheInflatedSizeIsLimited) {
    PerMessageDeflate sender(true, {}, {});
    PerMessageDeflate receiver(false, {}, {});
    std::string bomb = sender.compress(std::string(1 << 20, '\0'));  // a megabyte in about a kilobyte
    EXPECT_LT(bomb.size(), 2000u);
    EXPECT_THROW(receiver.decompress(bomb, 64 * 1024), PerMessageDeflate::MessageTooBig);
}

TEST(PerMessageDeflate, GarbageIsRefused) {
    PerMessageDeflate receiver(false, {}, {});
    EXPECT_THROW(receiver.decompress("\xff\xff\xff\xff garbage", 1 << 20), std::invalid_argument);
}

TEST(PerMessageDeflate, AnEmptyMessage) {
    PerMessageDeflate sender(true, {}, {});
    PerMessageDeflate receiver(false, {}, {});
    EXPECT_EQ(receiver.decompress(sender.compress(""), 100), "");
}

TEST(PerMessageDeflate, ACompressedMessageThroughTheReader) {
    PerMessageDeflate client(false, {}, {});
    PerMessageDeflate server(true, {}, {});
    MessageReader reader(true, 1 << 20, &server);
    std::string packed = client.compress("compressed text");
    std::vector<Event> events =
        feed_all(reader, frame(Opcode::text, packed.substr(0, 3), false, true, true) +
                             frame(Opcode::continuation, packed.substr(3)));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "compressed text");
    // RSV1 only on the first frame of a message.
    MessageReader strict(true, 1 << 20, &server);
    std::vector<Event> failed =
        feed_all(strict, frame(Opcode::text, "a", false, true, true) + frame(Opcode::continuation, "b", true, true, true));
    EXPECT_EQ(failed.back().kind, Kind::fail);
    EXPECT_EQ(failed.back().code, 1002);
}

TEST(PerMessageDeflate, AMessageThatInflatesPastTheLimitIs1009) {
    PerMessageDeflate client(false, {}, {});
    PerMessageDeflate server(true, {}, {});
    MessageReader reader(true, 1000, &server);
    std::vector<Event> events = feed_all(reader, frame(Opcode::binary, client.compress(std::string(5000, 'z')),
                                                       true, true, true));
    EXPECT_EQ(events.back().kind, Kind::fail);
    EXPECT_EQ(events.back().code, 1009);
}

// --- negotiating it ---------------------------------------------------------------------------

TEST(DeflateNegotiation, TheServerAnswersWithTheOffersParameters) {
    auto plain = accept_deflate_offer("permessage-deflate");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->response_header, "permessage-deflate");
    // Tornado's client offer: the bare client_max_window_bits is dropped.
    auto tornado = accept_deflate_offer("permessage-deflate; client_max_window_bits");
    ASSERT_TRUE(tornado);
    EXPECT_EQ(tornado->response_header, "permessage-deflate");
    auto chrome = accept_deflate_offer("permessage-deflate; client_max_window_bits=10; server_no_context_takeover");
    ASSERT_TRUE(chrome);
    EXPECT_EQ(chrome->response_header, "permessage-deflate; client_max_window_bits=10; server_no_context_takeover");
    EXPECT_TRUE(chrome->agreement.server_no_context_takeover);
    EXPECT_EQ(chrome->agreement.client_max_window_bits, 10);
}

TEST(DeflateNegotiation, AnOfferItCannotMeetIsDeclinedForTheNext) {
    auto next = accept_deflate_offer(
        "permessage-deflate; unknown_param, permessage-deflate; server_max_window_bits=8, "
        "permessage-deflate; server_max_window_bits=12");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->response_header, "permessage-deflate; server_max_window_bits=12");
    EXPECT_FALSE(accept_deflate_offer("x-webkit-deflate-frame"));
    EXPECT_FALSE(accept_deflate_offer("permessage-deflate; server_no_context_takeover=1"));
    EXPECT_FALSE(accept_deflate_offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover"));
    EXPECT_FALSE(accept_deflate_offer(""));
}

TEST(DeflateNegotiation, TheClientChecksTheAnswer) {
    EXPECT_FALSE(parse_deflate_answer(""));
    auto agreed = parse_deflate_answer("permessage-deflate; server_no_context_takeover; client_max_window_bits=9");
    ASSERT_TRUE(agreed);
    EXPECT_TRUE(agreed->server_no_context_takeover);
    EXPECT_EQ(agreed->client_max_window_bits, 9);
    EXPECT_THROW(parse_deflate_answer("x-other"), WebSocketError);
    EXPECT_THROW(parse_deflate_answer("permessage-deflate; client_max_window_bits"), WebSocketError);
    EXPECT_THROW(parse_deflate_answer("permessage-deflate; client_max_window_bits=8"), WebSocketError);
}

// --- Utf8Validator ----------------------------------------------------------------------------

TEST(Utf8Validator, AcceptsWhatIsValidInAnyPieces) {
    std::string text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 plain ASCII that is longer than eight bytes";
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
        Utf8Validator validator;
        EXPECT_TRUE(validator.feed(std::string_view(text).substr(0, cut)));
        EXPECT_TRUE(validator.feed(std::string_view(text).substr(cut)));
        EXPECT_TRUE(validator.complete()) << cut;
    }
}

TEST(Utf8Validator, RefusesWhatPythonRefuses) {
    for (std::string_view bad : {"\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                                 "\xff", "abc\xc3(", "12345678\xfe"}) {
        Utf8Validator validator;
        EXPECT_FALSE(validator.feed(bad) && validator.complete()) << ::testing::PrintToString(std::string(bad));
        EXPECT_FALSE(is_valid_utf8(bad));
    }
    Utf8Validator unfinished;
    EXPECT_TRUE(unfinished.feed("\xf0\x9f"));
    EXPECT_FALSE(unfinished.complete());
}

}  // namespace
}  // namespace tornado::websocket_protocol
