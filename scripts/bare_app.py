"""The ceiling of the stack: a Flask app that only answers 200, run under the same gunicorn settings."""

from flask import Flask

app = Flask(__name__)


@app.post("/callback")
def callback() -> tuple[str, int]:
    return "OK\n", 200


@app.get("/healthz")
def healthz() -> tuple[str, int]:
    return "ok\n", 200
