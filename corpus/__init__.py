"""xiulian's data engine: read crawls, extract and filter text, write Parquet shards.

The library entry point is `corpus.clean.clean`; the CLI (`xiulian clean`) is a thin shell over it.
"""
