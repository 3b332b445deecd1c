// markdown.h: a post's Markdown made HTML, by cmark (the CommonMark
// reference library, Debian's libcmark), where blog.py calls
// Python-Markdown's markdown.markdown(text).
#pragma once

#include <string>
#include <string_view>

namespace blog {

// The HTML of `markdown`, safe to put into a page as it is: raw HTML the
// author typed (a <script>) is shown as text, escaped, where it stood, and
// links whose scheme could run code (javascript:) lose their target.
// Python-Markdown, as blog.py calls it, passes raw HTML through.
std::string markdown_to_html(std::string_view markdown);

}  // namespace blog
