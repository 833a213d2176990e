"""Plausible wrong answers to a05_language_model (n-grams, perplexity, LM batches, training, sampling)."""

from seqcourse.grading.mutants import Mutant

MUTANTS = [
    # (a) n-gram counts and add-k smoothing
    Mutant("vocab_without_end_symbol", breaks={"a"},
           edits={"a_ngram_answer": [("| {EOS, UNK}", "| {UNK}")]}),
    Mutant("k_not_times_vocab_size", breaks={"a"},
           edits={"a_ngram_answer": [("+ self.k * len(self.vocab)", "+ self.k")]}),
    Mutant("one_start_symbol_too_many", breaks={"a"},
           edits={"a_ngram_answer": [("padded = [BOS] * (self.n - 1)", "padded = [BOS] * self.n")]}),
    # (b) perplexity
    Mutant("N_without_end_symbols", breaks={"b"},
           edits={"b_perplexity_answer": [("N += len(s) + 1", "N += len(s)")]}),
    Mutant("end_symbol_not_scored", breaks={"b"},
           edits={"b_perplexity_answer": [("range(model.n - 1, len(padded))",
                                            "range(model.n - 1, len(padded) - 1)")]}),
    Mutant("log2_with_exp", breaks={"b"},
           edits={"b_perplexity_answer": [("math.log(p)", "math.log2(p)")]}),
    # (c) language-model batches
    Mutant("targets_not_shifted", breaks={"c"},
           edits={"c_batches_answer": [("data[1 : per_row * batch_size + 1]",
                                         "data[: per_row * batch_size]")]}),
    Mutant("rows_not_contiguous", breaks={"c"},
           edits={"c_batches_answer": [("view(batch_size, per_row)  # (B, N): row b",
                                         "view(per_row, batch_size).t()  # (B, N): row b")]}),
    # (d) training loop
    Mutant("targets_are_inputs", breaks={"d"},
           edits={"d_train_answer": [("y.flatten())", "x.flatten())")]}),
    Mutant("class_axis_not_flattened", breaks={"d"},
           edits={"d_train_answer": [("F.cross_entropy(logits.flatten(0, 1), y.flatten())",
                                      "F.cross_entropy(logits, y)")]}),
    # (e) sampling with temperature
    Mutant("temperature_multiplies", breaks={"e"},
           edits={"e_sample_answer": [("last / temperature", "last * temperature")]}),
    Mutant("state_not_carried", breaks={"e"},
           edits={"e_sample_answer": [("model(torch.tensor([[token]]), state)",
                                        "model(torch.tensor([[token]]))")]}),
    Mutant("prompt_fed_again", breaks={"e"},
           edits={"e_sample_answer": [("model(torch.tensor([[token]]), state)", "model(x, state)")]}),
]
