"""WSGI entry point for gunicorn (`web: gunicorn wsgi:app`)."""

import gc

# Python's recipe for a server that forks without exec (the gc module's docs): gc.disable() early,
# gc.freeze() right before fork(), collector back on. Loading makes ~200k objects that live as long as
# the process (the SDK's ~1,600 pydantic models, the knowledge base and its index); the automatic full
# passes over them while they were being made, and a last gc.collect() before the freeze, found ~3,400
# objects (classes and functions left from imports, ~1 MB, none with a finaliser) and took ~0.4 s of
# every start. Frozen, the collector never walks these objects again: no ~90 ms pass in the middle of
# some webhook, and the workers keep sharing their pages instead of copying them as it marks them.
gc.disable()

from bot.app import create_app_or_exit  # noqa: E402 - after gc.disable(), on purpose

# A missing variable or a broken knowledge file: one message and exit 3, before the port is bound
# (gunicorn.conf.py preloads the app in the master), and before the SDK and the dictionary are loaded.
app = create_app_or_exit()

from bot.analyze import release_dictionary_pages  # noqa: E402 - loaded by now: the app's matcher uses it

gc.freeze()
gc.enable()

# Loading the Sudachi dictionary walks 72 MB of it once (and indexing the knowledge base touches more):
# clean file pages the master never reads again. Unmapped here and dropped from the page cache, the
# master and each worker map again only about the pages their questions read (see the function).
release_dictionary_pages()
