"""The table benchmark's expected held-out score (benchmarks/tables.py): the score a model is expected to
get on rows whose labels are coin flips with the generator's own probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.tables import expected_score


def test_expected_accuracy_counts_each_row_by_the_probability_of_its_label():
    oracle = np.array([0.9, 0.2, 0.6, 0.5])
    says_one = np.array([[0.1, 0.9], [0.3, 0.7], [0.4, 0.6], [0.8, 0.2]])  # labels 1, 1, 1, 0
    assert expected_score("accuracy", says_one, oracle, positive=1) == pytest.approx((0.9 + 0.2 + 0.6 + 0.5) / 4)
    # The generator's own choice is the best any model can expect: E[max(p, 1 - p)].
    bayes = np.column_stack([1 - oracle, oracle])
    assert expected_score("accuracy", bayes, oracle, 1) == pytest.approx(np.maximum(oracle, 1 - oracle).mean())
    # Its mean over many draws of the labels is the expected score.
    rng = np.random.default_rng(0)
    draws = rng.random((4000, len(oracle))) < oracle
    observed = (draws == (says_one.argmax(axis=1) == 1)).mean()
    assert observed == pytest.approx(expected_score("accuracy", says_one, oracle, 1), abs=0.01)


def test_expected_auc_of_the_generators_ranking_beats_a_reversed_one_and_a_constant_is_a_half():
    rng = np.random.default_rng(1)
    oracle = rng.random(500)
    as_probs = np.column_stack([1 - oracle, oracle])
    best = expected_score("auc", as_probs, oracle, 1)
    assert best > 0.7 and expected_score("auc", as_probs[:, ::-1], oracle, 1) == pytest.approx(1 - best)
    assert expected_score("auc", np.full((500, 2), 0.5), oracle, 1) == pytest.approx(0.5)
