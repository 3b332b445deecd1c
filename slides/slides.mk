# slides.mk: the decks. Run from the repository root (`make slides` does):
#
#   make -f slides/slides.mk OUT=build/slides
#
#   slides/NN-slug.md            (Marp)      -> OUT/NN-slug.html
#   slides/diagrams/NAME.dot     (Graphviz)  -> OUT/img/NAME.svg
#   chapters/*/img/NAME.png      (copied)    -> OUT/img/NAME.png
#
# A deck shows a diagram as ![w:900](img/NAME.svg), and a picture a lesson
# shows (a loop's trace, drawn by `make trace-pictures`) as
# ![w:1100](img/NAME.png). Each deck is copied next
# to its HTML before Marp converts it, so that relative path means the same
# thing to Marp and to the browser that opens OUT/NN-slug.html.
#
# Marp comes from npm, pinned in package.json and package-lock.json at the
# repository root; `npm ci` installs exactly that into node_modules/ the
# first time (and again whenever the lock file changes).

OUT       ?= build/slides
MARP      := node_modules/.bin/marp
NPM_STAMP := node_modules/.installed-by-npm-ci

DECKS := $(sort $(wildcard slides/[0-9][0-9]-*.md))
DOTS  := $(sort $(wildcard slides/diagrams/*.dot))
SVGS  := $(DOTS:slides/diagrams/%.dot=$(OUT)/img/%.svg)
# The lessons' pictures, found by name in their chapters' img/ folders.
PNGS  := $(sort $(wildcard chapters/*/img/*.png))
PNG_COPIES := $(addprefix $(OUT)/img/,$(notdir $(PNGS)))
vpath %.png $(sort $(dir $(PNGS)))
HTMLS := $(DECKS:slides/%.md=$(OUT)/%.html)

.PHONY: slides diagrams clean
# Keep the deck copies in OUT/ (make would delete them as intermediates).
.SECONDARY:

slides: $(HTMLS) $(SVGS) $(PNG_COPIES)
	@if [ -n "$(HTMLS)" ]; then echo "Decks: $(HTMLS)"; else echo "No decks yet (slides/NN-slug.md)"; fi

diagrams: $(SVGS)

$(OUT)/img/%.svg: slides/diagrams/%.dot
	@mkdir -p $(@D)
	dot -Tsvg $< -o $@

$(OUT)/img/%.png: %.png
	@mkdir -p $(@D)
	cp $< $@

$(OUT)/%.md: slides/%.md
	@mkdir -p $(@D)
	cp $< $@

# Every deck waits for every diagram and picture: a deck may show any of them.
# Marp exits 0 even when it converts nothing, so check that the deck appeared.
$(OUT)/%.html: $(OUT)/%.md $(SVGS) $(PNG_COPIES) | $(NPM_STAMP)
	@rm -f $@
	$(MARP) --html $< -o $@
	@test -s $@ || { echo "marp did not write $@" >&2; exit 1; }

# npm gives installed files old timestamps, so a stamp of our own tells make
# when node_modules/ was last installed from the lock file.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

clean:
	rm -rf $(OUT)
