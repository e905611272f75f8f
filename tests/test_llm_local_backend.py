"""The transformers backend, end to end through the public gateway, on a tiny model on CPU.

The references are computed here with transformers directly (float32, greedy, one prompt at a
time, no padding), so the backend's chat templating, left-padded batching and token counting
are checked against the library itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402  (the train extra, which make test installs)
import transformers  # noqa: E402

from weaver_site.llm.backends import local  # noqa: E402
from weaver_site.llm.gateway import LLMRequest, batch, complete  # noqa: E402
from weaver_site.llm.models import Endpoint  # noqa: E402

from .tiny_model import build_tiny_causal_lm  # noqa: E402

pytestmark = pytest.mark.training

ROOT = Path(__file__).resolve().parent.parent
MAX_TOKENS = 12
GREEDY = {"temperature": 0, "max_tokens": MAX_TOKENS}
PROMPTS = [
    "Tell me a story about the sea.",
    "写一个关于灯塔的故事。",
    "Summarise: the rain stopped and the city smelled of bread.",
    "hi",
    'Reply in JSON: {"title": "A Letter"}',
    "你好 world, a longer prompt that goes on for a while, so that left padding matters a lot.",
]


def chat(text: str, system: str | None = None) -> list[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": text}]


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), seed=0)


@pytest.fixture(scope="module")
def reference(tiny_path: Path):
    """The tokenizer and the float32 model, loaded by the test itself."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_path)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32)
    return tokenizer, model.eval()


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    return list(ids["input_ids"] if isinstance(ids, Mapping) else ids)


def generate_directly(reference, messages: list[dict], max_new_tokens: int) -> tuple[str, int]:
    """Greedy text and output token count for one prompt, without the backend."""
    tokenizer, model = reference
    ids = torch.tensor([prompt_ids(tokenizer, messages)])
    with torch.inference_mode():
        output = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = output[0, ids.shape[1] :].tolist()
    if tokenizer.eos_token_id in new:
        new = new[: new.index(tokenizer.eos_token_id) + 1]
    return tokenizer.decode(new, skip_special_tokens=True), len(new)


@pytest.fixture(scope="module")
def eos_model(tiny_path: Path, reference, tmp_path_factory: pytest.TempPathFactory):
    """The tiny model made to end its answer where it would have said a chosen token: the
    EOS row of the output layer becomes a slightly longer copy of that token's row, so greedy
    answers stop after different numbers of tokens. Yields (path, (tokenizer, model))."""
    tokenizer, _ = reference
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32)
    ids = torch.tensor([prompt_ids(tokenizer, chat(PROMPTS[0]))])
    with torch.inference_mode():
        answer = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False
        )[0, ids.shape[1] :]
        weight = model.get_output_embeddings().weight
        weight[tokenizer.eos_token_id] = weight[int(answer[2])] * 1.05
    path = tmp_path_factory.mktemp("tiny-eos")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path, (tokenizer, model.eval())


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend's CPU float32 path, even on a machine with a GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def make_endpoint(transactional_db, cpu_only) -> Iterator:
    """Endpoints that the gateway's own threads can see: they commit, hence
    ``transactional_db`` (with ``db`` the test's open transaction holds SQLite's write lock and
    the gateway's database threads would wait for it)."""

    def make(model: str | Path, **fields) -> Endpoint:
        fields = {"name": "tiny", "backend": "transformers", "max_concurrency": 4, **fields}
        return Endpoint.objects.create(model=str(model), **fields)

    yield make
    local._forget_all()


@pytest.fixture
def endpoint(make_endpoint, tiny_path: Path) -> Endpoint:
    return make_endpoint(tiny_path)


def test_complete_counts_tokens_and_matches_transformers(endpoint, reference) -> None:
    messages = chat("写一个故事 about a lighthouse.", system="You are terse.")

    result = complete(endpoint, LLMRequest(messages=messages, params=GREEDY))

    assert result.status == "ok", result.error
    assert result.cached is False
    assert result.attempts == 1
    assert result.input_tokens == len(prompt_ids(reference[0], messages))
    assert 1 <= result.output_tokens <= MAX_TOKENS
    text, output_tokens = generate_directly(reference, messages, MAX_TOKENS)
    assert result.text == text
    assert result.output_tokens == output_tokens


def test_greedy_is_deterministic(endpoint, reference) -> None:
    messages = chat("The quick brown fox")
    first = complete(endpoint, LLMRequest(messages=messages, params=GREEDY, sample_index=0))
    second = complete(endpoint, LLMRequest(messages=messages, params=GREEDY, sample_index=1))

    assert first.status == second.status == "ok"
    assert second.cached is False  # another sample index: generated again
    assert first.text == second.text == generate_directly(reference, messages, MAX_TOKENS)[0]


def test_batch_generates_together_and_matches_one_at_a_time(endpoint, reference) -> None:
    backend = local.TransformersBackend.for_endpoint(endpoint)
    requests = [LLMRequest(messages=chat(p), params=GREEDY, key=i) for i, p in enumerate(PROMPTS)]

    results = sorted(batch(endpoint, requests), key=lambda r: r.request.key)

    assert [r.status for r in results] == ["ok"] * len(PROMPTS), [r.error for r in results]
    for result in results:
        messages = result.request.messages
        text, output_tokens = generate_directly(reference, messages, MAX_TOKENS)
        assert (result.text, result.output_tokens) == (text, output_tokens), messages
        assert result.input_tokens == len(prompt_ids(reference[0], messages))
    assert backend.requests_generated == len(PROMPTS)
    assert 1 <= backend.generate_calls < len(PROMPTS)  # padded together, not one by one
    assert len({r.input_tokens for r in results}) > 1  # so some rows really were padded


def test_answers_that_stop_early_count_up_to_their_eos(make_endpoint, eos_model) -> None:
    path, eos_reference = eos_model
    endpoint = make_endpoint(path, name="stops")
    backend = local.TransformersBackend.for_endpoint(endpoint)
    requests = [LLMRequest(messages=chat(p), params=GREEDY, key=i) for i, p in enumerate(PROMPTS)]

    results = sorted(batch(endpoint, requests), key=lambda r: r.request.key)

    assert [r.status for r in results] == ["ok"] * len(PROMPTS), [r.error for r in results]
    for result in results:
        expected = generate_directly(eos_reference, result.request.messages, MAX_TOKENS)
        assert (result.text, result.output_tokens) == expected
    lengths = [r.output_tokens for r in results]
    assert results[0].output_tokens == 3  # two tokens, then the EOS, which counts
    assert max(lengths) == MAX_TOKENS  # the others ran on: the EOS padding is not counted
    assert backend.generate_calls < len(PROMPTS)


def test_a_repeated_request_comes_from_the_cache(endpoint) -> None:
    backend = local.TransformersBackend.for_endpoint(endpoint)
    request = LLMRequest(messages=chat("Once upon a time"), params=GREEDY)

    first = complete(endpoint, request)
    calls = backend.generate_calls
    second = complete(endpoint, request)

    assert first.status == "ok" and first.cached is False
    assert second.status == "cached" and second.cached is True
    assert (second.text, second.output_tokens) == (first.text, first.output_tokens)
    assert backend.generate_calls == calls == 1


def test_release_frees_the_model_and_the_next_request_loads_it_again(endpoint) -> None:
    messages = chat("A river at dawn")
    first = complete(endpoint, LLMRequest(messages=messages, params=GREEDY))
    backend = local.TransformersBackend.for_endpoint(endpoint)
    assert first.status == "ok" and backend._model is not None

    assert local.release(endpoint.pk) is True
    assert backend._model is None
    assert local.release(endpoint.pk) is False  # nothing loaded any more
    again = local.TransformersBackend.for_endpoint(endpoint)
    assert again is not backend and again._model is None
    second = complete(endpoint, LLMRequest(messages=messages, params=GREEDY, sample_index=1))
    assert second.status == "ok" and second.text == first.text


def test_sampling_with_a_seed_repeats(endpoint) -> None:
    params = {"temperature": 1.0, "top_p": 0.9, "seed": 7, "max_tokens": MAX_TOKENS}
    messages = chat("Write a poem about rain.")

    first = complete(endpoint, LLMRequest(messages=messages, params=params, sample_index=0))
    second = complete(endpoint, LLMRequest(messages=messages, params=params, sample_index=1))

    assert first.status == second.status == "ok"
    assert first.text == second.text


def test_a_model_that_cannot_load_fails_permanently(make_endpoint, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    endpoint = make_endpoint(missing, name="missing")

    result = complete(endpoint, LLMRequest(messages=chat("hi"), params=GREEDY))

    assert result.status == "failed"
    assert result.attempts == 1  # permanent: not retried
    assert str(missing) in result.error


def test_a_tokenizer_without_chat_template_fails_permanently(
    make_endpoint, tiny_path: Path, tmp_path: Path
) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_path)
    tokenizer.chat_template = None
    plain = tmp_path / "plain"
    tokenizer.save_pretrained(plain)
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        (plain / name).symlink_to(tiny_path / name)
    endpoint = make_endpoint(plain, name="plain")

    result = complete(endpoint, LLMRequest(messages=chat("hi"), params=GREEDY))

    assert result.status == "failed"
    assert result.attempts == 1
    assert "chat template" in result.error


def test_settings_from_params() -> None:
    settings = local.GenerationSettings.from_params
    assert settings({}) == local.GenerationSettings(max_new_tokens=256, do_sample=False)
    assert settings({"temperature": 0, "top_p": 0.5, "seed": 1, "max_tokens": 8, "stop": "x"}) == (
        local.GenerationSettings(max_new_tokens=8)
    )
    assert settings({"temperature": 0.7, "top_p": 0.9, "seed": 3}) == local.GenerationSettings(
        do_sample=True, temperature=0.7, top_p=0.9, seed=3
    )
    with pytest.raises(local.PermanentError):
        settings({"temperature": -1})


def test_the_backend_module_imports_without_torch() -> None:
    code = (
        "import sys; import weaver_site.llm.backends.local; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
