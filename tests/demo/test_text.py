"""The tokenizer: Unicode-aware, a real stop-word list, English stemming of Latin-script words."""

import pytest

from dask_kubeflow.demo.text import script_of, stop_words, tokenize, words


def test_lowercases_drops_stop_words_and_stems():
    assert tokenize("The Runners were RUNNING, and it runs!") == ["runner", "run", "run"]
    assert tokenize("") == []


def test_the_stop_words_that_used_to_top_the_list_are_gone():
    assert tokenize("you this if you, If YOU this") == []
    assert {"you", "this", "if", "the", "don't"} <= stop_words()


@pytest.mark.parametrize(("text", "expected"), [
    ("café CAFÉ cafe\u0301", ["café", "café", "café"]),  # composed, upper-case and decomposed: one word
    ("naïve", ["naïve"]),  # not "na", "ve"
    ("Straße STRASSE", ["strasse", "strasse"]),  # case folding, not just lower()
    ("\ufb01ne \uff21\uff22\uff23", ["fine", "abc"]),  # ligature and full-width letters
    ("don\u2019t can't", ["don't", "can't"]),  # typographic apostrophe
    ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),  # combining marks stay inside the word
    ("東京は日本", ["東", "京", "は", "日", "本"]),  # no spaces: one token per ideograph/hiragana
    ("カタカナ語", ["カタカナ", "語"]),  # a katakana run is one token
    ("route 66, 2026", ["route"]),  # digits are not words
])
def test_words_in_any_script(text, expected):
    assert words(text) == expected


def test_only_latin_script_words_are_stemmed():
    assert tokenize("running naïve хорошие 東京") == ["run", "naïv", "хорошие", "東", "京"]


def test_script_of_a_term():
    assert [script_of(t) for t in ("café", "東", "хорошо", "हिन्दी", "カ", "한국")] == [
        "Latin", "Han", "Cyrillic", "Devanagari", "Katakana", "Hangul"]
