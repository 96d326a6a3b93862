"""Server side of Client Caller: the tritonserver launcher and the engines behind our Triton models.

Each ``model_repository/*/1/model.py`` is a thin Triton shell around an engine here, so the engines are
unit-tested without a server and every model reads its settings through :mod:`serving.model_parameters`.
"""
