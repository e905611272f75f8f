"""The baseline of benchmarks/llm_gateway.py: one Celery task per call, with a plain ``openai``
client and default settings. Loaded into a worker with ``--include llm_gateway_tasks``."""

import openai
from celery import shared_task


@shared_task(name="bench.plain_openai_call", ignore_result=True)
def plain_openai_call(base_url: str, prompt: str) -> None:
    client = openai.OpenAI(base_url=base_url, api_key="sk-bench")
    client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": prompt}]
    )
