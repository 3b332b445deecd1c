// text.h: what the blog does to the text a form gives it, apart from
// Markdown (markdown.h): the slug of a title, characters counted as the
// database counts them, and the few characters XML forbids taken out.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace blog {

// The longest slug slug_of() makes, in bytes (all ASCII): the column is
// VARCHAR(100), and the "-2"s appended to a slug that is taken need room.
inline constexpr std::size_t kMaxBaseSlug = 80;

// The part of a post's URL made from its title, as blog.py makes it:
//
//   slug = unicodedata.normalize("NFKD", title)
//   slug = re.sub(r"[^\w]+", " ", slug)
//   slug = "-".join(slug.lower().strip().split())
//   slug = slug.encode("ascii", "ignore").decode("ascii")
//   if not slug: slug = "entry"
//
// "Hello, World!" gives "hello-world". Exact for ASCII and for U+0080 to
// U+017F (Latin-1 and Latin Extended-A, with blog.py's quirk: NFKD splits
// "é" into "e" and an accent that is not a word character, so "Crème
// brûlée" gives "cre-me-bru-le-e"). Past U+017F, combining accents,
// punctuation, symbols and emoji separate words, as in blog.py (text.cpp
// lists the ranges); any other character counts as a letter with no ASCII
// form, dropped as blog.py drops "日本" (a few, such as "²" or "ﬁ", have
// one in blog.py). Cut to kMaxBaseSlug bytes, at a '-' when there is one
// (blog.py does not cut, and fails on a long title).
std::string slug_of(std::string_view title);

// The characters of UTF-8 `text` (what VARCHAR(n) counts), not its bytes.
std::size_t count_characters(std::string_view text);

// `text` with what XML 1.0 forbids even as a character reference replaced:
// the control characters but tab, newline and carriage return by a space,
// U+FFFE and U+FFFF by U+FFFD. get_argument() leaves vertical tab and form
// feed, and cmark turns a reference such as &#1; into its character; a
// title or a post holding one would make the Atom feed a document no
// reader parses.
std::string xml_safe(std::string_view text);

}  // namespace blog
