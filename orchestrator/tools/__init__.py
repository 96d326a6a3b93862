"""The tools a persona's agent may call during a call: the catalog read from the persona's tools file
(:mod:`~orchestrator.tools.catalog`) and the business's HTTP webhooks that run them
(:mod:`~orchestrator.tools.webhook`). Knows no engine, no edge, no settings: its callers pass the
allowed hosts and the HTTP client in."""
