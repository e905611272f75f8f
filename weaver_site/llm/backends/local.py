"""A model on this machine, run with Hugging Face transformers, batching concurrent requests.

The gateway calls :meth:`TransformersBackend.chat` once per request, up to
``endpoint.max_concurrency`` at a time. Requests that arrive within a few milliseconds of each
other and ask for the same generation parameters are padded on the left and generated together
in one ``model.generate`` call, on a single worker thread owned by the backend, so the event loop
never blocks and two generate calls never run at once. Requests that arrive while a batch is
generating wait and go together into the next one.

torch and transformers are imported inside methods only: the web studio imports this package
without them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from . import Completion, PermanentError, RetryableError

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 256
MAX_BATCH_CAP = 32
BATCH_WINDOW_SECONDS = 0.010

_instances: dict[tuple[Any, str, Any], TransformersBackend] = {}
_instances_lock = threading.Lock()


@dataclass(frozen=True)
class GenerationSettings:
    """The generation parameters of one request; only equal settings share a batch."""

    max_new_tokens: int = DEFAULT_MAX_TOKENS
    do_sample: bool = False
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None

    @classmethod
    def from_params(cls, params: dict) -> GenerationSettings:
        """Read the OpenAI-style parameters this backend understands; ignore the rest."""
        try:
            max_tokens = params.get("max_tokens") or params.get("max_completion_tokens")
            max_new_tokens = int(max_tokens) if max_tokens else DEFAULT_MAX_TOKENS
            temperature = params.get("temperature")
            temperature = float(temperature) if temperature is not None else 0.0
            top_p = params.get("top_p")
            top_p = float(top_p) if top_p is not None else None
            seed = params.get("seed")
            seed = int(seed) if seed is not None else None
        except (TypeError, ValueError) as exc:
            raise PermanentError(f"bad generation parameter: {exc}") from None
        if max_new_tokens < 1:
            raise PermanentError(f"max_tokens must be at least 1, not {max_new_tokens}")
        if temperature < 0:
            raise PermanentError(f"temperature must not be negative, not {temperature:g}")
        if top_p is not None and not 0 < top_p <= 1:
            raise PermanentError(f"top_p must be in (0, 1], not {top_p:g}")
        if temperature == 0:  # greedy: temperature, top_p and seed change nothing; dropping
            return cls(max_new_tokens=max_new_tokens)  # them lets more requests share a batch
        return cls(
            max_new_tokens=max_new_tokens,
            do_sample=True,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )


@dataclass
class _Request:
    messages: list[dict]
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


@dataclass
class _Group:
    """Requests waiting for a batch, all with the same :class:`GenerationSettings`."""

    requests: list[_Request] = field(default_factory=list)
    submitted: bool = False  # a batch job that will take these is queued on the executor
    # Event loops with a batch window running for this group. A loop that ends before its
    # timer fires (its requests were taken by a batch another trigger started) drops out.
    timer_loops: weakref.WeakSet = field(default_factory=weakref.WeakSet)


class TransformersBackend:
    """Runs chat requests on a local transformers model, batching concurrent ones.

    One instance per endpoint version per process (see :meth:`for_endpoint`): the model loads
    on the first request and stays loaded for the life of the process.

    ``schema`` and ``json_mode`` are accepted and ignored: there is no constrained decoding here;
    the gateway parses and validates JSON answers (and asks once for a repair).
    """

    def __init__(self, endpoint: Any, *, batch_window: float = BATCH_WINDOW_SECONDS):
        self.endpoint_name = str(endpoint.name)
        self.model_path = str(endpoint.model)
        self.max_batch = max(1, min(int(endpoint.max_concurrency or 1), MAX_BATCH_CAP))
        self.batch_window = batch_window
        self.generate_calls = 0  # model.generate calls made, for tests and monitoring
        self.requests_generated = 0  # requests answered by those calls
        self._tokenizer: Any = None
        self._model: Any = None
        self._device: Any = None
        self._lock = threading.Lock()  # guards _groups
        self._groups: dict[GenerationSettings, _Group] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"llm-local-{self.endpoint_name}"
        )

    @classmethod
    def for_endpoint(cls, endpoint: Any) -> TransformersBackend:
        """The process's instance for this endpoint as it is now.

        Keyed by (pk, model, updated_at): editing the endpoint gives a fresh instance (which
        loads the model again) and forgets the old one, so that its model is freed once the
        runs still using it end.
        """
        key = (endpoint.pk, str(endpoint.model), endpoint.updated_at)
        with _instances_lock:
            backend = _instances.get(key)
            if backend is None:
                for old in [k for k in _instances if k[0] == endpoint.pk]:
                    del _instances[old]
                backend = _instances[key] = cls(endpoint)
            return backend

    async def aclose(self) -> None:
        """Nothing to free: the model stays loaded for the next batch of requests."""

    async def chat(
        self, messages: list[dict], params: dict, *, json_mode: str, schema: dict | None
    ) -> Completion:
        """Answer one chat request, in a batch with whatever arrives at about the same time.

        ``params``: ``max_tokens`` (default 256), ``temperature`` (0 or absent: greedy),
        ``top_p``, ``seed``; others are ignored. With a ``seed``, ``torch.manual_seed(seed)`` is
        called before the batch's ``generate``: a batch shares one seed and one random stream, so
        a sampled answer depends on the other requests in its batch.
        """
        settings = GenerationSettings.from_params(params)
        request = _Request(messages=list(messages))
        loop = asyncio.get_running_loop()
        with self._lock:
            group = self._groups.setdefault(settings, _Group())
            group.requests.append(request)
            if not group.submitted:
                if len(group.requests) >= self.max_batch:
                    self._submit(settings, group)
                elif loop not in group.timer_loops:
                    group.timer_loops.add(loop)
                    loop.call_later(self.batch_window, self._window_closed, settings, loop)
        return await asyncio.wrap_future(request.future)

    # --- batching ------------------------------------------------------------------------

    def _submit(self, settings: GenerationSettings, group: _Group) -> None:
        """Queue a batch job for ``group`` (call with ``_lock`` held)."""
        group.submitted = True
        self._executor.submit(self._run_group, settings)

    def _window_closed(self, settings: GenerationSettings, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            group = self._groups.get(settings)
            if group is None:  # a batch already took everything
                return
            group.timer_loops.discard(loop)
            if group.requests and not group.submitted:
                self._submit(settings, group)

    def _run_group(self, settings: GenerationSettings) -> None:
        """On the worker thread: take up to ``max_batch`` waiting requests and answer them."""
        # Load first, so that requests arriving while a model loads join the first batch.
        load_error: BaseException | None = None
        try:
            self._load()
        except Exception as exc:
            load_error = exc
        with self._lock:
            group = self._groups.get(settings)
            if group is None:
                return
            taken = group.requests[: self.max_batch]
            group.requests = group.requests[self.max_batch :]
            group.submitted = False
            if group.requests:  # they waited for this batch to start: no further window
                self._submit(settings, group)
            else:  # a window still running finds no group and does nothing
                del self._groups[settings]
        # A request whose caller gave up (cancelled) is dropped here, before any work.
        taken = [r for r in taken if r.future.set_running_or_notify_cancel()]
        if not taken:
            return
        try:
            if load_error is not None:
                raise load_error
            self._answer(taken, settings)
        except (PermanentError, RetryableError) as exc:
            self._fail(taken, exc)
        except Exception as exc:  # a bug here must not hang callers or kill the whole run
            logger.exception("endpoint %s: the local backend failed", self.endpoint_name)
            self._fail(taken, PermanentError(f"local backend failed: {type(exc).__name__}: {exc}"))
        except BaseException as exc:
            self._fail(taken, exc)
            raise

    @staticmethod
    def _fail(requests: list[_Request], exc: BaseException) -> None:
        for request in requests:
            if not request.future.done():
                request.future.set_exception(exc)

    # --- the model (worker thread only) --------------------------------------------------

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if torch.cuda.is_available():
            device = torch.device("cuda")
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            device, dtype = torch.device("cpu"), torch.float32
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_path)
            if device.type == "cuda":  # straight onto the GPU, without a copy in host memory
                model = AutoModelForCausalLM.from_pretrained(
                    self.model_path, dtype=dtype, device_map="cuda"
                )
            else:
                model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=dtype)
        except torch.cuda.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            raise RetryableError(f"out of GPU memory loading {self.model_path!r}: {exc}") from None
        except Exception as exc:
            raise PermanentError(
                f"cannot load the model at {self.model_path!r}: {type(exc).__name__}: {exc}"
            ) from None
        model.eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token_id is None:
                raise PermanentError(
                    f"the tokenizer of {self.model_path!r} has neither a pad nor an EOS token"
                )
            tokenizer.pad_token = tokenizer.eos_token
        logger.info(
            "endpoint %s: loaded %s on %s (%s)", self.endpoint_name, self.model_path, device, dtype
        )
        self._tokenizer, self._model, self._device = tokenizer, model, device

    def _eos_ids(self) -> set[int]:
        eos = self._model.generation_config.eos_token_id
        if eos is None:
            eos = self._tokenizer.eos_token_id
        if eos is None:
            return set()
        return {int(e) for e in eos} if isinstance(eos, list | tuple) else {int(eos)}

    def _prompt(self, messages: list[dict]) -> str:
        if not getattr(self._tokenizer, "chat_template", None):
            raise PermanentError(
                f"the tokenizer of {self.model_path!r} has no chat template; "
                "use an instruction-tuned model or add a chat_template to its tokenizer"
            )
        try:
            return self._tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        except Exception as exc:  # e.g. a template that raises on an unexpected role
            raise PermanentError(f"the chat template failed: {exc}") from None

    def _answer(self, requests: list[_Request], settings: GenerationSettings) -> None:
        """Generate for ``requests`` in one call and resolve each one's future."""
        self._load()
        prompts: list[str] = []
        ready: list[_Request] = []
        limit = getattr(self._model.config, "max_position_embeddings", None)
        for request in requests:
            try:
                prompt = self._prompt(request.messages)
                if limit:
                    length = len(self._tokenizer(prompt, add_special_tokens=False).input_ids)
                    if length >= limit:
                        raise PermanentError(
                            f"context too long: the prompt has {length} tokens and the model "
                            f"takes at most {limit}"
                        )
            except PermanentError as exc:
                request.future.set_exception(exc)
                continue
            prompts.append(prompt)
            ready.append(request)
        if not ready:
            return
        completions = self._generate(prompts, settings)
        for request, completion in zip(ready, completions, strict=True):
            request.future.set_result(completion)

    def _generate(self, prompts: list[str], settings: GenerationSettings) -> list[Completion]:
        import torch

        tokenizer, model = self._tokenizer, self._model
        # The chat template already holds any BOS the model wants: add no special tokens.
        encoded = tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self._device)
        config = model.generation_config.to_dict()
        config.update(
            max_new_tokens=settings.max_new_tokens,
            do_sample=settings.do_sample,
            pad_token_id=tokenizer.pad_token_id,
        )
        if settings.do_sample:
            config["temperature"] = settings.temperature
            if settings.top_p is not None:
                config["top_p"] = settings.top_p
        else:  # keep sampling defaults of the model from warning in greedy mode
            config.update(temperature=None, top_p=None, top_k=None, min_p=None, typical_p=None)
        if config.get("eos_token_id") is None and tokenizer.eos_token_id is not None:
            config["eos_token_id"] = tokenizer.eos_token_id
        generation_config = type(model.generation_config).from_dict(config)
        try:
            with torch.inference_mode():
                if settings.seed is not None:
                    torch.manual_seed(settings.seed)
                output = model.generate(**encoded, generation_config=generation_config)
        except torch.cuda.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            raise RetryableError(
                f"out of GPU memory generating a batch of {len(prompts)}: {exc}"
            ) from None
        except Exception as exc:
            raise PermanentError(f"generation failed: {type(exc).__name__}: {exc}") from None
        self.generate_calls += 1
        self.requests_generated += len(prompts)

        eos_ids = self._eos_ids()
        prompt_length = encoded["input_ids"].shape[1]
        input_tokens = encoded["attention_mask"].sum(dim=1).tolist()
        completions = []
        for row, n_in in zip(output[:, prompt_length:].tolist(), input_tokens, strict=True):
            # Rows that finished early are padded after their EOS: count up to the first EOS.
            end = next((i + 1 for i, token in enumerate(row) if token in eos_ids), None)
            tokens = row if end is None else row[:end]
            completions.append(
                Completion(
                    text=tokenizer.decode(tokens, skip_special_tokens=True),
                    input_tokens=int(n_in),
                    output_tokens=len(tokens),
                    finish_reason="length" if end is None else "stop",
                )
            )
        return completions


def _forget_all() -> None:
    """Forget every instance (for tests): the next request loads its model again."""
    with _instances_lock:
        _instances.clear()


def release(endpoint_pk: Any) -> bool:
    """Forget this process's instances of an endpoint and free their model's memory (a ``gpu``
    worker does this after a checkpoint's answers, so the next training run gets the whole GPU).
    Returns whether one was loaded."""
    import gc
    import sys

    with _instances_lock:
        gone = [_instances.pop(k) for k in [k for k in _instances if k[0] == endpoint_pk]]
    loaded = any(backend._model is not None for backend in gone)
    for backend in gone:
        backend._model = backend._tokenizer = None
        backend._executor.shutdown(wait=False)
    del gone
    gc.collect()
    torch = sys.modules.get("torch")
    if loaded and torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    return loaded
