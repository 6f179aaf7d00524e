"""WSGI entry point for gunicorn (`web: gunicorn wsgi:app`)."""

from bot.app import create_app, preflight

preflight()  # a missing variable or a broken knowledge file: message and exit 3, nothing served
app = create_app()
