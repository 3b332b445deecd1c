// markdown.cpp: see markdown.h.
#include "markdown.h"

#include <cmark.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "tornado/escape.h"

namespace blog {
namespace {

// cmark is a C library: each thing it allocates has its own way to go.
struct FreeNode {
    void operator()(cmark_node* node) const { cmark_node_free(node); }
};
struct FreeIterator {
    void operator()(cmark_iter* iterator) const { cmark_iter_free(iterator); }
};
struct FreeText {
    void operator()(char* text) const { std::free(text); }
};
using Node = std::unique_ptr<cmark_node, FreeNode>;

bool is_raw_html(cmark_node* node) {
    cmark_node_type type = cmark_node_get_type(node);
    return type == CMARK_NODE_HTML_BLOCK || type == CMARK_NODE_HTML_INLINE;
}

// The raw HTML of the document, which cmark's safe mode would replace by
// "<!-- raw HTML omitted -->", becomes text, which the renderer escapes:
// the author sees what they typed, and the browser runs none of it. A
// block becomes a code block (its lines kept), inline HTML text in its
// paragraph.
void show_raw_html_as_text(cmark_node* document) {
    std::vector<cmark_node*> raw;
    std::unique_ptr<cmark_iter, FreeIterator> walk(cmark_iter_new(document));
    while (cmark_iter_next(walk.get()) != CMARK_EVENT_DONE) {
        cmark_node* node = cmark_iter_get_node(walk.get());
        if (is_raw_html(node)) raw.push_back(node);
    }
    walk.reset();  // replaced only after the walk: it must not step from a freed node
    for (cmark_node* node : raw) {
        bool block = cmark_node_get_type(node) == CMARK_NODE_HTML_BLOCK;
        Node text(cmark_node_new(block ? CMARK_NODE_CODE_BLOCK : CMARK_NODE_TEXT));
        cmark_node_set_literal(text.get(), cmark_node_get_literal(node));
        cmark_node_replace(node, text.release());  // the document owns the text now,
        Node unlinked(node);                       // and we the node it replaced
    }
}

}  // namespace

std::string markdown_to_html(std::string_view markdown) {
    Node document(cmark_parse_document(markdown.data(), markdown.size(), CMARK_OPT_DEFAULT));
    show_raw_html_as_text(document.get());
    // Without CMARK_OPT_UNSAFE: javascript:, vbscript:, file: and most
    // data: links are emptied (and raw HTML would be dropped, were any left).
    std::unique_ptr<char, FreeText> html(cmark_render_html(document.get(), CMARK_OPT_DEFAULT));
    // cmark 0.30 writes the references &#xFFFE; and &#xFFFF; as the lone
    // bytes 0xFE and 0xFF (its UTF-8 encoder keeps those two values for
    // itself), which are not UTF-8: PostgreSQL would refuse the post.
    return tornado::replace_invalid_utf8(html.get());
}

}  // namespace blog
