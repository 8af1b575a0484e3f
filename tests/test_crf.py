"""The CRF against brute-force enumeration of every tag sequence, on small random cases with masks."""

import itertools

import keras
import numpy as np
import pytest

from nlp_lstm.models.crf import CRF

pytestmark = pytest.mark.backends  # CI runs these under JAX too


def brute_force(emissions, transitions, start, end, length, forbidden=None):
    """log Z, best path and best score by enumerating all tag sequences of one row."""
    num_tags = emissions.shape[1]
    scores = {}
    for path in itertools.product(range(num_tags), repeat=length):
        s = start[path[0]] + end[path[-1]] + sum(emissions[t, y] for t, y in enumerate(path))
        s += sum(transitions[a, b] for a, b in zip(path, path[1:]))
        if forbidden and any((a, b) in forbidden for a, b in zip(path, path[1:])):
            continue
        scores[path] = s
    values = np.array(list(scores.values()))
    log_z = values.max() + np.log(np.exp(values - values.max()).sum())
    best = max(scores, key=scores.get)
    return log_z, list(best), scores[best], scores


def make_crf(num_tags, seed, **kwargs):
    crf = CRF(num_tags, **kwargs)
    crf.build((None, None, num_tags))
    rng = np.random.default_rng(seed)
    crf.transitions.assign(rng.normal(size=(num_tags, num_tags)).astype("float32"))
    crf.start_scores.assign(rng.normal(size=(num_tags,)).astype("float32"))
    crf.end_scores.assign(rng.normal(size=(num_tags,)).astype("float32"))
    return crf, rng


@pytest.mark.parametrize("seed", range(4))
def test_partition_likelihood_and_viterbi_match_brute_force_with_masks(seed):
    num_tags, lengths = 3, [4, 1, 3, 2]
    crf, rng = make_crf(num_tags, seed)
    emissions = rng.normal(size=(len(lengths), max(lengths), num_tags)).astype("float32")
    mask = np.arange(max(lengths))[None, :] < np.array(lengths)[:, None]
    emissions[~mask] = 50.0  # padding must not matter
    tags = rng.integers(0, num_tags, size=mask.shape).astype("int32")
    log_z = keras.ops.convert_to_numpy(crf.log_partition(emissions, mask))
    log_lik = keras.ops.convert_to_numpy(crf.log_likelihood(emissions, tags, mask))
    path, best = (keras.ops.convert_to_numpy(t) for t in crf.decode(emissions, mask))
    T, S, E = (keras.ops.convert_to_numpy(v) for v in (crf.transitions, crf.start_scores, crf.end_scores))
    for i, n in enumerate(lengths):
        ref_z, ref_path, ref_best, scores = brute_force(emissions[i, :n], T, S, E, n)
        np.testing.assert_allclose(log_z[i], ref_z, rtol=1e-5)
        np.testing.assert_allclose(log_lik[i], scores[tuple(tags[i, :n])] - ref_z, rtol=1e-4, atol=1e-4)
        assert path[i, :n].tolist() == ref_path and (path[i, n:] == 0).all()
        np.testing.assert_allclose(best[i], ref_best, rtol=1e-5)


def test_constraints_forbid_transitions_in_decoding_and_partition():
    num_tags = 3
    allowed = [(a, b) for a in range(3) for b in range(3) if not (a == 0 and b == 2)]
    crf, rng = make_crf(num_tags, 7, allowed_transitions=allowed)
    emissions = rng.normal(size=(1, 4, num_tags)).astype("float32")
    emissions[0, :, 2] += 3.0  # tempt the decoder towards tag 2
    emissions[0, 0, 0] += 6.0
    T, S, E = (keras.ops.convert_to_numpy(v) for v in (crf.transitions, crf.start_scores, crf.end_scores))
    ref_z, ref_path, _, _ = brute_force(emissions[0], T, S, E, 4, forbidden={(0, 2)})
    path, _ = crf.decode(emissions)
    assert keras.ops.convert_to_numpy(path)[0].tolist() == ref_path
    assert all((a, b) != (0, 2) for a, b in zip(ref_path, ref_path[1:]))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(crf.log_partition(emissions))[0], ref_z, rtol=1e-4)


def test_crf_serialises_with_a_model(tmp_path):
    inputs = keras.Input((None, 4))
    crf = CRF(4, allowed_transitions=[(0, 1), (1, 2), (2, 3), (3, 0)], allowed_start=[0], name="crf")
    model = keras.Model(inputs, crf(keras.layers.Dense(4)(inputs)))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    a, b = crf.decode(model(x)), again.get_layer("crf").decode(again(x))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a[0]), keras.ops.convert_to_numpy(b[0]))
    assert again.get_layer("crf").allowed_start == [0]


def test_single_step_batch():
    crf, rng = make_crf(3, 11)
    emissions = rng.normal(size=(2, 1, 3)).astype("float32")
    S, E = (keras.ops.convert_to_numpy(v) for v in (crf.start_scores, crf.end_scores))
    direct = S + E + emissions[:, 0]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(crf.log_partition(emissions)), np.log(np.exp(direct).sum(axis=1)), rtol=1e-5
    )
    path, _ = crf.decode(emissions)
    assert keras.ops.convert_to_numpy(path)[:, 0].tolist() == direct.argmax(axis=1).tolist()
