"""WSGI entry point for gunicorn (`web: gunicorn wsgi:app`)."""

from bot.app import create_app_or_exit

# A missing variable or a broken knowledge file: one message and exit 3, before the port is bound
# (gunicorn.conf.py preloads the app in the master).
app = create_app_or_exit()
