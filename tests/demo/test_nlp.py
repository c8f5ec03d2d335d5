"""Both workloads give exactly what a plain-Python loop over the same documents gives, on every runner."""

from collections import Counter

import numpy as np
import pytest
from distributed import Client

from dask_kubeflow.demo.corpus import write_synthetic_corpus
from dask_kubeflow.demo.nlp import Counts, merge_counts, summarize
from dask_kubeflow.demo.run import run_distributed, run_local_scheduler, run_serial, run_serial_isolated
from dask_kubeflow.demo.sketch import near_duplicate_pairs, signatures
from dask_kubeflow.demo.text import tokenize
from dask_kubeflow.demo.workloads import SKETCH, TERMS


def reference(paths):
    """Plain Python, no Dask, no sharding: one loop over every document."""
    terms, bigrams, documents, raw = Counter(), Counter(), 0, []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                tokens = tokenize(line)
                terms.update(tokens)
                bigrams.update(" ".join(pair) for pair in zip(tokens, tokens[1:]))
                documents += 1
                raw.append(line.rstrip("\n").encode("utf-8"))
    return terms, bigrams, documents, raw


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
    assert s.scripts == [("Latin", 1.0)]


def test_serial_and_local_schedulers_match_the_reference(corpus):
    terms, bigrams, documents, raw = reference(corpus)
    serial = run_serial(corpus, TERMS, keep=True, top=5)
    assert serial.total.terms == terms and serial.total.bigrams == bigrams
    assert serial.summary.documents == documents == 240
    assert serial.summary.top_terms == sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert {"the", "and", "of", "you"}.isdisjoint(terms)  # the corpus has them; they are dropped
    assert run_local_scheduler(corpus, "threads", 2, TERMS, top=5).summary == serial.summary
    sketched = run_serial(corpus, SKETCH, keep=True)
    assert np.array_equal(np.concatenate(sketched.total.rows), signatures(raw))
    assert sketched.summary.near_duplicate_pairs == near_duplicate_pairs(signatures(raw)) > 0  # the reposts
    assert run_local_scheduler(corpus, "threads", 2, SKETCH).summary == sketched.summary


def test_isolated_serial_run_reports_progress_from_its_own_process(corpus):
    done = []
    result = run_serial_isolated(corpus[:2], TERMS, top=3, progress=done.append)
    assert sum(done) == 2
    assert result.summary == run_serial(corpus[:2], TERMS, top=3).summary


def test_distributed_running_totals_match_the_reference(corpus):
    terms, bigrams, documents, raw = reference(corpus)
    done = []
    with Client(n_workers=2, threads_per_worker=1, dashboard_address=":0", processes=True) as client:
        result = run_distributed(client, corpus, TERMS, keep=True, progress=done.append)
        sketched = run_distributed(client, corpus, SKETCH, keep=True)
        assert client.run(lambda: __import__("dask_kubeflow.demo.workloads").demo.workloads._totals) == {
            addr: {} for addr in client.scheduler_info(n_workers=-1)["workers"]}  # nothing left behind
    assert result.total.terms == terms
    assert result.total.bigrams == bigrams
    assert result.summary.documents == documents
    assert sum(done) == len(corpus)  # the progress display saw every shard
    assert sorted(map(bytes, np.concatenate(sketched.total.rows))) == sorted(map(bytes, signatures(raw)))
    assert sketched.summary.near_duplicate_pairs == near_duplicate_pairs(signatures(raw))


def test_merging_totals_recounts_shards_whose_worker_left_and_refuses_double_counts(corpus):
    import dask_kubeflow.demo.workloads as w

    w.add_to_total(corpus[0], "run", TERMS)
    w.add_to_total(corpus[1], "run", TERMS)
    taken = w.take_total("run")
    assert taken[1] == corpus[:2] and w.take_total("run") is None
    total = w.merge_totals(TERMS, corpus[:3], taken, None)  # corpus[2]'s worker left with its total
    assert total == run_serial(corpus[:3], TERMS, keep=True).total
    with pytest.raises(w.CountedTwice, match="counted on two workers"):
        w.merge_totals(TERMS, corpus[:2], (Counts(), [corpus[0]]), (Counts(), [corpus[0]]))
