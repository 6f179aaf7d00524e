"""WSGI entry point for gunicorn (`web: gunicorn wsgi:app`)."""

import gc

# Loading builds ~200k long-lived objects (the SDK's ~1,600 pydantic models, the knowledge base and its
# index): the collector's automatic full passes over them while they are being made found almost
# nothing and took ~0.2 s of every start. One explicit pass below, after the load, is enough.
gc.disable()

from bot.analyze import release_dictionary_pages  # noqa: E402 - after gc.disable(), on purpose
from bot.app import create_app_or_exit  # noqa: E402

# A missing variable or a broken knowledge file: one message and exit 3, before the port is bound
# (gunicorn.conf.py preloads the app in the master).
app = create_app_or_exit()

# The SDK's models and the knowledge base are ~160k objects that live as long as the process: a full
# collection walking them takes ~90 ms, in the middle of some webhook. Frozen, the collector skips
# them (and the forked workers keep sharing their pages instead of copying them as it marks them).
gc.collect()
gc.freeze()
gc.enable()

# Loading the Sudachi dictionary walks 72 MB of it once (and indexing the knowledge base touches more):
# clean file pages the master never reads again. Unmapped here, they stay in the page cache; the master
# and each worker map again only the pages their questions touch (master RSS 258 -> ~115 MB).
release_dictionary_pages()
