"""Server side of Client Caller: the tritonserver launcher and the engines behind our Triton models.

Each ``model_repository/*/1/model.py`` is a thin Triton shell around an engine here, so the engines are
unit-tested without a server and every model reads its settings through :mod:`serving.model_parameters`.
"""

import locale as _locale

# Triton's Python-backend stub starts its interpreter in an isolated configuration that never adopts the
# environment's locale, so text files opened without an encoding decode as ASCII (torch fails on its own
# UTF-8 templates). Every model.py imports this package, so adopt the locale here (the launcher sets a
# UTF-8 one); a no-op in ordinary Python processes, which have done this at start-up.
if _locale.getpreferredencoding(False).lower() in {"ascii", "ansi_x3.4-1968"}:
    try:
        _locale.setlocale(_locale.LC_ALL, "")
    except _locale.Error:
        _locale.setlocale(_locale.LC_ALL, "C.UTF-8")
