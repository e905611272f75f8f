"""A tiny, randomly initialised Llama-style causal LM with its own tokenizer, built offline.

:func:`build_tiny_causal_lm` writes a model directory that ``AutoTokenizer`` and
``AutoModelForCausalLM`` load like any hub checkpoint: a byte-level BPE tokenizer trained in code
on a small English and Chinese sample (so any text tokenizes), a ChatML chat template, and a
two-layer Llama with a hidden size of 32. Nothing is downloaded; the same seed gives the same
files. Meant for tests of the local backend and of training (SFT, DPO) on CPU.

torch, transformers and tokenizers are imported inside the function, so importing this module
costs nothing.
"""

from __future__ import annotations

from pathlib import Path

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, UNK, BOS, EOS, IM_START, IM_END]

# ChatML. The assistant turn is wrapped in {% generation %} so that
# ``return_assistant_tokens_mask`` (and TRL's ``assistant_only_loss``) work.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

SAMPLE_TEXT = [
    "The quick brown fox jumps over the lazy dog.",
    "Write a short story about a lighthouse keeper who finds a letter in a bottle.",
    "Good writing is clear, concrete and honest; it shows rather than tells.",
    "Please summarise the following paragraph in one sentence.",
    "You are a helpful assistant. Answer the question as briefly as you can.",
    "Once upon a time, in a small village by the sea, there lived an old fisherman.",
    "The rain stopped, and the city smelled of wet stone and fresh bread.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 2024. Punctuation: , . ! ? ; : ' \" ( ) - --",
    'JSON: {"title": "A Letter", "score": 4, "tags": ["sea", "memory"]}',
    "你是一个乐于助人的助手。请用一句话回答问题。",
    "从前，在海边的一个小村庄里，住着一位老渔夫。",
    "好的写作清晰、具体、真诚；它展示而不是讲述。",
    "请为下面这段文字写一个简短的摘要。",
    "雨停了，城市里弥漫着湿石头和新鲜面包的气味。",
    "写一个关于灯塔看守人在瓶子里发现一封信的短篇故事。",
    "春天来了，花开了，鸟儿在树上唱歌。我们一起去公园散步吧。",
    "中文和英文混合: Hello 你好, world 世界! 谢谢 thank you.",
]


def fast_tokenizer(backend, *, model_max_length: int):
    """A ``transformers`` tokenizer around a trained ``tokenizers`` backend, with the special
    tokens named above and the ChatML template."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=IM_END,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[EOS, IM_START],
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_causal_lm(path: Path, *, seed: int = 0, vocab_size: int = 600) -> Path:
    """Build the tiny model and its tokenizer into ``path`` (created if missing); return it.

    The tokenizer has ``<s>`` as BOS, ``<|im_end|>`` as EOS (the end of a chat turn, so that
    generation stops where a turn ends, as in Qwen-style ChatML models), ``<pad>`` for padding,
    ``<unk>``, ``</s>`` and ``<|im_start|>`` as further special tokens, no BOS added
    automatically (the chat template decides), and left padding is not assumed: callers set
    ``padding_side`` themselves. The model's config and generation config carry the same BOS,
    EOS and pad ids. Deterministic for a given ``seed``.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)

    # Byte-level BPE: every byte is in the alphabet, so any string (English, Chinese, emoji)
    # tokenizes without <unk>; the merges learnt from the sample keep common words short.
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(SAMPLE_TEXT * 3, trainer=trainer, length=len(SAMPLE_TEXT) * 3)

    tokenizer = fast_tokenizer(backend, model_max_length=512)

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        bos_token_id=ids[BOS],
        eos_token_id=ids[IM_END],
        pad_token_id=ids[PAD],
        tie_word_embeddings=False,
    )
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)  # leave the caller's random stream alone
    model.generation_config = GenerationConfig(
        bos_token_id=ids[BOS], eos_token_id=ids[IM_END], pad_token_id=ids[PAD]
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
