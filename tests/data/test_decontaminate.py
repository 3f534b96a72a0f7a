"""8-gram decontamination: normalisation, short texts, and the real benchmark files."""

from __future__ import annotations

import pytest

from redi.data.decontaminate import NgramIndex, ngrams, read_benchmark_problems, words


def test_words_ignore_case_punctuation_and_latex():
    assert words("Find $x^2+1$, if X = 3!") == ["find", "x", "2", "1", "if", "x", "3"]
    assert words("x^2 + 1") == words("$x^{2}+1$")


def test_ngrams_count_and_short_texts():
    assert len(ngrams("one two three four five six seven eight nine ten", 8)) == 3
    assert ngrams("too short", 8) == {("too", "short")}
    assert ngrams("$$ ... $$", 8) == set()


def test_index_matches_a_shared_8gram_only():
    index = NgramIndex(["Find the number of ordered pairs of positive integers whose product is 100."], 8)
    assert index.contains("Compute: find the number of ordered pairs of positive integers, please")
    assert not index.contains(
        "Count the number of ordered pairs of positive reals with sum 2."
    )  # 7 shared words
    assert not index.contains("")


def test_a_short_benchmark_problem_matches_when_contained():
    index = NgramIndex(["Compute 7 * 8."], 8)
    assert index.contains("compute 7*8")
    assert index.contains("Please compute 7 * 8 in your head now and then stop.")
    assert not index.contains("Compute 7 * 9.")


def test_real_benchmark_problems_are_caught(shared_data):
    problems = read_benchmark_problems(shared_data / "benchmarks" / "math.json")
    assert len(problems) == 500
    index = NgramIndex(problems, 8)
    assert index.contains("Here is a problem. " + problems[17] + " Answer briefly.")
    assert not index.contains("Compute 23 + 7 * 4 - 5.")
    jsonl = read_benchmark_problems(shared_data / "benchmarks" / "math500_prm800k_split.jsonl")
    assert sorted(jsonl) == sorted(problems)


def test_bad_benchmark_file_is_named(tmp_path):
    path = tmp_path / "b.json"
    path.write_text('[{"question": "x"}]')
    with pytest.raises(ValueError, match="row 0 has no string field 'problem'"):
        read_benchmark_problems(path)
