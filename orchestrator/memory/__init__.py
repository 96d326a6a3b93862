"""Per-caller memory across calls: what earlier calls with the same caller said, for the next prompt.

Callers are known only by :func:`~orchestrator.memory.caller_key.caller_key`, a keyed hash of their
number (the database never holds a raw number). At call end the engine records a
:class:`~orchestrator.memory.call_memory.CallMemory` in the
:class:`~orchestrator.memory.store.CallerMemoryStore` (SQLite or PostgreSQL); at call start it loads
the caller's recent calls and :func:`~orchestrator.memory.prompt_budget.memory_brief` fits them into
a token budget for the system prompt.
"""
