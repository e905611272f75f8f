"""The LLM gateway: one way for every job to call language models.

``from weaver_site.llm.gateway import LLMRequest, complete, batch`` is the whole interface:
messages and parameters (and optionally a JSON schema) in; text, validated JSON, tokens, cost,
latency, request hash and endpoint out. Endpoints are admin-managed records with concurrency,
rate limits, prices, a timeout and a daily budget.
"""
