"""MinHash sketches find near-duplicates and nothing else."""

import numpy as np

from dask_kubeflow.demo.sketch import PERMUTATIONS, Sketches, near_duplicate_pairs, signatures, summarize_sketches

A = b"the quick brown fox jumps over the lazy dog near the river bank on a sunny afternoon in june"
B = b"a completely different sentence about distributed schedulers and worker processes in kubernetes"


def test_identical_and_one_word_edits_are_near_duplicates_unrelated_texts_are_not():
    edited = A.replace(b"sunny", b"rainy")
    matrix = signatures([A, B, A, edited, b"short"])
    assert matrix.shape == (5, PERMUTATIONS) and matrix.dtype == np.uint64
    assert (matrix[0] == matrix[2]).all()
    assert (matrix[0] == matrix[3]).mean() > 0.5  # Jaccard of the shingle sets is high
    assert (matrix[0] == matrix[1]).mean() < 0.2
    assert near_duplicate_pairs(matrix) == 3  # (A, A), (A, edited), (A copy, edited)


def test_a_document_signature_does_not_depend_on_its_neighbours():
    assert (signatures([A, B])[1] == signatures([B])[0]).all()


def test_empty_inputs():
    assert signatures([]).shape == (0, PERMUTATIONS)
    assert summarize_sketches(Sketches([])).near_duplicate_pairs == 0
