"""Main-text extraction beyond one library: text blocks of a page (blocks.py), the main
container by text and link density (density.py), and the choice between the main extractor's
text, its pruned form and the density text (choose.py). corpus/extract.py is the step."""
