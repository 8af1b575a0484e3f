"""Batched greedy and beam search over any step function, in keras.ops (`ops.while_loop`), so decoding
runs inside a compiled predict function on every backend instead of a Python loop per token.

A step function maps (previous tokens (n,), state tuple, *context) to (log-probabilities (n, vocab),
new state, attention weights (n, source_time)). State tensors are per hypothesis and get reordered as
beams are pruned; context tensors (encoder states, their keys, the source mask) are per sentence.

Beam search follows fairseq's rules: each step ranks 2k candidates; those ending in EOS among the top k
are finished (scored with the GNMT length penalty ((5 + length) / 6) ** alpha), the best k others stay
alive; a sentence is done once it has k finished hypotheses. With k = 1 this is exactly greedy search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import layers, ops

from nlp_lstm.models.layers import lengths_from_mask

StepFn = Callable[..., tuple]
NEG_INF = -1e9


def length_penalty(length, alpha: float):
    """GNMT length normaliser (Wu et al. 2016); 1 when alpha is 0."""
    return ops.power((5.0 + ops.cast(length, "float32")) / 6.0, alpha)


def _set_column(history, t, values):
    """history[..., t] = values, for history (..., L) (done with `where` so shapes stay fixed)."""
    at_t = ops.equal(ops.arange(ops.shape(history)[-1]), t)
    return ops.where(at_t, ops.expand_dims(values, -1), history)


def _set_step(history, t, values):
    """history[..., t, :] = values, for history (..., L, S)."""
    at_t = ops.expand_dims(ops.equal(ops.arange(ops.shape(history)[-2]), t), -1)
    return ops.where(at_t, ops.expand_dims(values, -2), history)


def _gather(x, indices):
    """x (batch, m, ...) and indices (batch, k) -> x[b, indices[b, j], ...] of shape (batch, k, ...)."""
    shape = ops.shape(x)
    flat = ops.reshape(x, (-1, *shape[2:]))
    offsets = ops.expand_dims(ops.arange(shape[0]) * shape[1], -1)
    picked = ops.take(flat, ops.reshape(ops.cast(indices, "int32") + offsets, (-1,)), axis=0)
    return ops.reshape(picked, (shape[0], ops.shape(indices)[1], *shape[2:]))  # k stays static on TensorFlow


def _force_eos(log_probs, must_end, eos_id: int):
    """Where `must_end`, only EOS may follow (the hypothesis reached its length limit); it keeps its
    log-probability, so forced endings are scored like any other."""
    is_eos = ops.equal(ops.arange(ops.shape(log_probs)[-1]), eos_id)
    blocked = ops.logical_and(ops.expand_dims(must_end, -1), ops.logical_not(is_eos))
    return ops.where(blocked, NEG_INF, log_probs)


def greedy_search(
    step_fn: StepFn,
    state: tuple,
    context: Sequence,
    *,
    bos_id: int,
    eos_id: int,
    max_steps,
    limits,
    return_attention: bool = False,
):
    """Most probable next token at each step, for a batch.

    Returns token ids (batch, max_steps) ending with EOS then 0s, the log-probability of each output,
    and (with `return_attention`) the attention weights (batch, max_steps, source_time).
    """
    batch = ops.shape(limits)[0]
    tokens = ops.full((batch,), bos_id, dtype="int32")
    output = ops.zeros((batch, max_steps), dtype="int32")
    finished = ops.zeros((batch,), dtype="bool")
    scores = ops.zeros((batch,), dtype="float32")
    # Loop variables cannot be None on TensorFlow: a scalar stands in when attention is not collected.
    attention = (
        ops.zeros((batch, max_steps, ops.shape(context[0])[1]), dtype="float32") if return_attention else ops.zeros(())
    )

    def cond(t, tokens, state, output, finished, scores, attention):
        return ops.logical_and(t < max_steps, ops.logical_not(ops.all(finished)))

    def body(t, tokens, state, output, finished, scores, attention):
        log_probs, state, weights = step_fn(tokens, state, *context)
        log_probs = _force_eos(log_probs, t >= limits - 1, eos_id)
        best = ops.cast(ops.argmax(log_probs, axis=-1), "int32")
        gained = ops.squeeze(ops.take_along_axis(log_probs, ops.expand_dims(best, -1), axis=-1), -1)
        best = ops.where(finished, 0, best)
        scores = scores + ops.where(finished, 0.0, gained)
        output = _set_column(output, t, best)
        if return_attention:
            attention = _set_step(attention, t, ops.where(ops.expand_dims(finished, -1), 0.0, weights))
        finished = ops.logical_or(finished, ops.equal(best, eos_id))
        return t + 1, best, state, output, finished, scores, attention

    loop = (ops.convert_to_tensor(0, "int32"), tokens, tuple(state), output, finished, scores, attention)
    _, _, _, output, _, scores, attention = ops.while_loop(cond, body, loop)
    return (output, scores, attention) if return_attention else (output, scores)


def beam_search(
    step_fn: StepFn,
    state: tuple,
    context: Sequence,
    *,
    bos_id: int,
    eos_id: int,
    max_steps,
    limits,
    beam_size: int,
    alpha: float = 0.0,
    return_attention: bool = False,
):
    """The best of `beam_size` finished hypotheses per sentence, by length-normalised log-probability.

    Returns token ids (batch, max_steps) ending with EOS then 0s, the normalised scores, and (with
    `return_attention`) the attention weights (batch, max_steps, source_time) of the chosen hypothesis.
    """
    k = beam_size
    batch = ops.shape(limits)[0]
    source_time = ops.shape(context[0])[1]
    # Every sentence's state and context, repeated for its k hypotheses (row b * k + j).
    state = tuple(ops.repeat(s, k, axis=0) for s in state)
    context = [ops.repeat(c, k, axis=0) for c in context]
    beam_limits = ops.expand_dims(limits, -1)
    first_only = ops.where(ops.equal(ops.arange(k), 0), 0.0, NEG_INF)
    alive_scores = ops.broadcast_to(ops.expand_dims(first_only, 0), (batch, k))  # only one live start
    alive_tokens = ops.full((batch, k), bos_id, dtype="int32")
    alive_seqs = ops.zeros((batch, k, max_steps), dtype="int32")
    done_seqs = ops.zeros((batch, k, max_steps), dtype="int32")
    done_scores = ops.full((batch, k), NEG_INF, dtype="float32")
    done_count = ops.zeros((batch,), dtype="int32")
    if return_attention:
        alive_attention = ops.zeros((batch, k, max_steps, source_time), dtype="float32")
        done_attention = ops.zeros((batch, k, max_steps, source_time), dtype="float32")
    else:
        alive_attention = done_attention = ops.zeros(())
    ranks = ops.arange(2 * k)

    def cond(t, *rest):
        done_count = rest[6]
        return ops.logical_and(t < max_steps, ops.any(done_count < k))

    def body(
        t,
        alive_tokens,
        state,
        alive_scores,
        alive_seqs,
        done_seqs,
        done_scores,
        done_count,
        alive_attention,
        done_attention,
    ):
        log_probs, new_state, weights = step_fn(ops.reshape(alive_tokens, (-1,)), state, *context)
        vocab = ops.shape(log_probs)[-1]
        log_probs = ops.reshape(log_probs, (batch, k, vocab))
        log_probs = _force_eos(log_probs, t >= beam_limits - 1, eos_id)
        candidates = ops.reshape(ops.expand_dims(alive_scores, -1) + log_probs, (batch, k * vocab))
        top_scores, top_index = ops.top_k(candidates, 2 * k)
        top_index = ops.cast(top_index, "int32")
        parents, tokens = top_index // vocab, top_index % vocab
        live = top_scores > NEG_INF / 2
        ends = ops.logical_and(ops.equal(tokens, eos_id), live)
        top_seqs = _set_column(_gather(alive_seqs, parents), t, tokens)
        if return_attention:
            weights = ops.reshape(weights, (batch, k, -1))
            top_attention = _set_step(_gather(alive_attention, parents), t, _gather(weights, parents))

        # Finish EOS candidates ranked in the top k, first come first kept, up to k per sentence.
        finishing = ops.logical_and(ops.logical_and(ends, ranks < k), ops.expand_dims(done_count < k, -1))
        normalised = top_scores / length_penalty(t + 1, alpha)
        held = ops.arange(k) < ops.expand_dims(done_count, -1)
        order = ops.concatenate(
            [
                ops.where(held, ops.arange(k), 4 * k),
                ops.where(finishing, k + ranks, 4 * k),
            ],
            axis=-1,
        )
        keep = ops.argsort(order, axis=-1)[:, :k]
        done_seqs = _gather(ops.concatenate([done_seqs, top_seqs], axis=1), keep)
        pooled_scores = ops.concatenate(
            [ops.where(held, done_scores, NEG_INF), ops.where(finishing, normalised, NEG_INF)], axis=-1
        )
        done_scores = ops.squeeze(_gather(ops.expand_dims(pooled_scores, -1), keep), -1)
        done_count = ops.minimum(done_count + ops.sum(ops.cast(finishing, "int32"), axis=-1), k)
        if return_attention:
            done_attention = _gather(ops.concatenate([done_attention, top_attention], axis=1), keep)

        # The best k candidates not ending here stay alive.
        chosen = ops.argsort(ops.where(ends, 2 * k + ranks, ranks), axis=-1)[:, :k]
        alive_scores = ops.squeeze(_gather(ops.expand_dims(ops.where(ends, NEG_INF, top_scores), -1), chosen), -1)
        alive_tokens = ops.squeeze(_gather(ops.expand_dims(tokens, -1), chosen), -1)
        alive_seqs = _gather(top_seqs, chosen)
        if return_attention:
            alive_attention = _gather(top_attention, chosen)
        parent_rows = ops.squeeze(_gather(ops.expand_dims(parents, -1), chosen), -1)
        state = tuple(
            ops.reshape(_gather(ops.reshape(s, (batch, k, -1)), parent_rows), ops.shape(s)) for s in new_state
        )
        return (
            t + 1,
            alive_tokens,
            state,
            alive_scores,
            alive_seqs,
            done_seqs,
            done_scores,
            done_count,
            alive_attention,
            done_attention,
        )

    loop = (
        ops.convert_to_tensor(0, "int32"),
        alive_tokens,
        state,
        alive_scores,
        alive_seqs,
        done_seqs,
        done_scores,
        done_count,
        alive_attention,
        done_attention,
    )
    (_, _, _, alive_scores, alive_seqs, done_seqs, done_scores, done_count, alive_attention, done_attention) = (
        ops.while_loop(cond, body, loop)
    )
    # A sentence with no finished hypothesis (only possible when max_steps cuts it) keeps its best alive one.
    has_done = ops.expand_dims(done_count > 0, -1)
    final_scores = ops.where(has_done, done_scores, alive_scores / length_penalty(max_steps, alpha))
    best = ops.expand_dims(ops.cast(ops.argmax(final_scores, axis=-1), "int32"), -1)
    seqs = ops.where(ops.expand_dims(has_done, -1), done_seqs, alive_seqs)
    output = ops.squeeze(_gather(seqs, best), 1)
    scores = ops.squeeze(ops.take_along_axis(final_scores, best, axis=-1), -1)
    if not return_attention:
        return output, scores
    attention = ops.where(ops.expand_dims(ops.expand_dims(has_done, -1), -1), done_attention, alive_attention)
    return output, scores, ops.squeeze(_gather(attention, best), 1)


def decoding_limits(source_lengths, source_time, *, max_length: int, ratio: float, offset: int):
    """(steps to run for the batch, per-sentence limit): min(max_length, ratio x source length + offset)."""
    if isinstance(source_time, int):
        max_steps = min(max_length, int(ratio * source_time) + offset)
    else:
        max_steps = ops.minimum(max_length, ops.cast(ratio * ops.cast(source_time, "float32"), "int32") + offset)
    limits = ops.cast(ratio * ops.cast(source_lengths, "float32"), "int32") + offset
    return max_steps, ops.maximum(ops.minimum(limits, max_steps), 1)


@keras.saving.register_keras_serializable(package="nlp_lstm")
class TranslationSearch(layers.Layer):
    """Encoder states -> translations, by greedy (beam_size 1) or beam search with the given decoder.

    Used only in inference models built from a trained translator; it holds the trained decoder layer.
    Outputs: token ids (batch, steps), scores (batch,), and attention (batch, steps, source_time) when asked.
    """

    def __init__(
        self,
        decoder,
        bos_id: int,
        eos_id: int,
        beam_size: int = 1,
        length_penalty: float = 0.0,
        max_length: int = 100,
        max_length_ratio: float = 2.0,
        max_length_offset: int = 10,
        return_attention: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.decoder = decoder
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.beam_size = beam_size
        self.alpha = length_penalty
        self.max_length = max_length
        self.ratio = max_length_ratio
        self.offset = max_length_offset
        self.return_attention = return_attention
        self.supports_masking = True  # the encoder states arrive masked; the mask is rebuilt from source_ids

    def compute_mask(self, *args, **kwargs):
        return None

    def call(self, memory, final_state, source_ids):
        source_mask = ops.not_equal(source_ids, 0)
        max_steps, limits = decoding_limits(
            lengths_from_mask(source_mask),
            ops.shape(source_ids)[1],
            max_length=self.max_length,
            ratio=self.ratio,
            offset=self.offset,
        )
        decoder = self.decoder
        state = decoder.initial_state(final_state)
        context = (decoder.attention.keys(memory), memory, source_mask)
        common = dict(
            bos_id=self.bos_id,
            eos_id=self.eos_id,
            max_steps=max_steps,
            limits=limits,
            return_attention=self.return_attention,
        )
        if self.beam_size == 1:
            return greedy_search(decoder.step, state, context, **common)
        return beam_search(decoder.step, state, context, beam_size=self.beam_size, alpha=self.alpha, **common)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "bos_id": self.bos_id,
            "eos_id": self.eos_id,
            "beam_size": self.beam_size,
            "length_penalty": self.alpha,
            "max_length": self.max_length,
            "max_length_ratio": self.ratio,
            "max_length_offset": self.offset,
            "return_attention": self.return_attention,
        }

    @classmethod
    def from_config(cls, config: dict) -> TranslationSearch:
        config = dict(config)
        return cls(keras.saving.deserialize_keras_object(config.pop("decoder")), **config)

    def compute_output_spec(self, memory, final_state, source_ids):
        batch = memory.shape[0]
        outputs = [keras.KerasTensor((batch, None), dtype="int32"), keras.KerasTensor((batch,), dtype="float32")]
        if self.return_attention:
            outputs.append(keras.KerasTensor((batch, None, source_ids.shape[1]), dtype="float32"))
        return tuple(outputs)


def build_search_model(
    model: keras.Model,
    *,
    bos_id: int,
    eos_id: int,
    beam_size: int,
    length_penalty: float,
    max_length: int,
    max_length_ratio: float,
    max_length_offset: int,
    return_attention: bool = False,
) -> keras.Model:
    """source_ids -> (token ids, scores[, attention]) with the trained model's encoder and decoder."""
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    source_ids = keras.Input((None,), dtype="int32", name="source_ids")
    memory, final = encoder(source_ids)
    outputs = TranslationSearch(
        decoder,
        bos_id,
        eos_id,
        beam_size=beam_size,
        length_penalty=length_penalty,
        max_length=max_length,
        max_length_ratio=max_length_ratio,
        max_length_offset=max_length_offset,
        return_attention=return_attention,
        name="search",
    )(memory, final, source_ids)
    return keras.Model(source_ids, list(outputs), name=f"translator_beam{beam_size}")
