"""PyTorch modules written from the lectures' equations; import submodules (``seqcourse.nn.attention``).

Conventions shared by every module of the package:

* **Batch-first.** Sequences are ``(B, T, d)`` tensors (token ids ``(B, T)``); recurrent layers default to
  ``batch_first=True``, states keep torch's ``(num_layers * D, B, n)`` layout. Lecture 004 writes the
  columns ``X = [x_1, ..., x_n]`` of a ``d x n`` matrix; our ``x[b]`` is that matrix transposed.
* **Masks: True = may attend** (a real position), as in ``F.scaled_dot_product_attention`` and the opposite
  of ``nn.MultiheadAttention``'s ``key_padding_mask``. A query whose every key is masked gets zero weights.
* **Special token ids**: ``PAD = 0``, ``BOS = 1``, ``EOS = 2``, ``UNK = 3``
  (:mod:`seqcourse.data.text`; the synthetic tasks use no UNK and start their symbols at 3).
  Positions holding PAD are masked as keys and ignored by the losses.
* **Device-agnostic.** Every tensor a module creates is created on its input's device (``x.new_zeros``,
  ``device=x.device``); ``tests/test_devices.py`` runs every module on the ``meta`` device to prove it.
* **Configuration by keyword.** Sizes that define the model come first, everything else is keyword-only;
  models with many hyper-parameters take a frozen config dataclass (:class:`~seqcourse.nn.transformer.
  TransformerConfig`, :class:`~seqcourse.nn.nat.NATConfig`), as nanoGPT does.

One protocol for the sequence models (:class:`~seqcourse.nn.language_model.RNNLanguageModel`,
:class:`~seqcourse.nn.seq2seq.Seq2Seq`, :class:`~seqcourse.nn.transformer.Transformer`,
:class:`~seqcourse.nn.nat.NATransformer`)::

    loss = model.loss(batch)              # scalar training loss of one batch (a tuple of tensors)
    step, state = model.decoder(src)      # a next-token function and its start state for seqcourse.decoding
    history = fit(model, batches)         # seqcourse.train.fit uses model.loss unless given loss=
"""
