"""The NLP workload gives exactly what a plain-Python loop over the same documents gives."""

from collections import Counter

import pytest
from distributed import Client

from dask_kubeflow.demo.corpus import write_synthetic_corpus
from dask_kubeflow.demo.nlp import Counts, merge_counts, summarize, tokenize
from dask_kubeflow.demo.run import run_distributed, run_local_scheduler, run_serial


def test_tokenize_lowercases_drops_stopwords_and_stems():
    assert tokenize("The Runners were RUNNING, and it runs!") == ["runner", "run", "run"]
    assert tokenize("Don't stop") == ["don't", "stop"]
    assert tokenize("") == []


def reference(paths):
    """Plain Python, no Dask, no sharding: one loop over every document."""
    terms, bigrams, documents = Counter(), Counter(), 0
    for path in paths:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                tokens = tokenize(line)
                terms.update(tokens)
                bigrams.update(" ".join(pair) for pair in zip(tokens, tokens[1:]))
                documents += 1
    return terms, bigrams, documents


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_synthetic_corpus(tmp_path_factory.mktemp("corpus"), seed=11, shards=6, documents_per_shard=40)


def test_merge_is_associative_and_summary_breaks_ties_by_term():
    a, b, c = Counts(), Counts(), Counts()
    a.add("alpha beta gamma")
    b.add("beta gamma alpha")
    c.add("gamma delta")
    assert merge_counts(merge_counts(a, b), c) == merge_counts(a, merge_counts(b, c))
    s = summarize(merge_counts(a, b, c), top=3)
    assert s.top_terms == [("gamma", 3), ("alpha", 2), ("beta", 2)]
    assert (s.documents, s.tokens, s.vocabulary) == (3, 8, 4)


def test_serial_and_local_schedulers_match_the_reference(corpus):
    terms, bigrams, documents = reference(corpus)
    serial = run_serial(corpus, keep_counts=True, top=5)
    assert serial.counts.terms == terms and serial.counts.bigrams == bigrams
    assert serial.summary.documents == documents == 240
    assert serial.summary.vocabulary == len(terms)
    assert serial.summary.top_terms == sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert {"the", "and", "of"}.isdisjoint(terms)  # the corpus has them; they are dropped before stemming
    assert run_local_scheduler(corpus, "threads", 2, top=5).summary == serial.summary


def test_distributed_matches_the_reference(corpus):
    terms, bigrams, documents = reference(corpus)
    done = []
    with Client(n_workers=2, threads_per_worker=1, dashboard_address=":0", processes=True) as client:
        result = run_distributed(client, corpus, keep_counts=True, progress=done.append, fan_in=2)
    assert result.counts.terms == terms
    assert result.counts.bigrams == bigrams
    assert result.summary.documents == documents
    assert sum(done) == len(corpus)  # the progress bar saw every shard
    assert result.documents_per_second > 0
