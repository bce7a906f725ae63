"""Every knob of the labeler, with defaults that work without per-feature tuning."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

METHODS = ("discrete", "soft", "hybrid")
READOUTS = ("auto", "yes_no", "full_vocab", "answer", "cause")
VOCABS = ("auto", "words", "dictionary", "all")  # see sae_gd_labeler.readout.vocab.candidate_token_ids
DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class LabelerConfig:
    """Settings of `label_examples` / `label_features`.

    Search (`method`):
      "discrete" - gradient-guided token search (as in GCG): from a hard label, the gradient w.r.t. its
                   one-hot vector proposes `discrete_topk` replacement tokens, all are scored exactly in
                   one batch, the best is kept; repeat while the exact loss falls.
      "soft"     - the seed paper's relaxation: p = softmax(v), gradient descent on v, then the top
                   tokens of p are re-ranked by exact loss.
      "hybrid"   - the soft phase proposes, the discrete phase refines its best candidates.

    K-token labels (`label_tokens` = K): the discrete search proposes single-position swaps at each of the K
    positions (as GCG over a suffix), the soft search optimises K distributions, the hybrid refines from the
    soft candidates and from the discrete starts (2 x `restarts`); the "answer" readout scores every first
    token exhaustively and grows the best `answer_beam` labels a token at a time. `label_tokens="auto"`
    labels with every K up to `max_label_tokens` and keeps the shortest label that is not meaningfully worse
    on held-out examples (see sae_gd_labeler.search.label_length).
    """

    # -- search --------------------------------------------------------------------------------------
    method: str = "discrete"
    restarts: int = 4  # independent starts per feature, all in the same batch
    label_tokens: int | str = 1  # K tokens per label (>= 1); "auto": the shortest of 1..max_label_tokens that is
    #                              not meaningfully worse on held-out examples than a longer one (label_length)
    max_label_tokens: int = 2  # the longest label "auto" tries
    # -- soft phase (method "soft" / "hybrid") ----------------------------------------------------------
    soft_steps: int = 150
    lr: float = 0.1  # AdamW on the label logits v
    weight_decay: float = 0.01
    entropy_weight: float = 0.2  # weight of H(p) in nats, reached after the warm-up
    entropy_warmup_steps: int = 50  # linear warm-up from 0 so p can explore before it is forced sharp
    soft_candidates: int = 8  # top tokens of p (per restart, at a few checkpoints) sent to re-ranking
    # -- discrete phase (method "discrete" / "hybrid") ------------------------------------------------
    discrete_topk: int = 8  # replacement tokens proposed by the gradient per iteration
    discrete_confirm: int = 2  # of those, the best on half the eval examples that are scored on all of them
    discrete_max_iters: int = 20
    start_probes: int = 32  # random tokens ranked by separation to pick the restarts' starting tokens
    start_guided: int = 32  # and the tokens the gradient at the uniform soft label and the prior contrast
    #                         together favour most (>= restarts; see discrete_search.guide). 32: in the
    #                         large-vocabulary stress test 203 of 204 runs (16: 201; 64: no better), on
    #                         the toy world without compounds
    start_prior: int = 16  # and the tokens the discriminator expects in the label slot after positive
    #                        examples more than after negative ones
    start_scan: int = 4096  # K-token labels: restarts // 2 of the starts are tuples of the best one-token
    #                         labels by exact loss among every candidate, or among this many random ones of a
    #                         larger vocabulary (see discrete_search.starts)
    # -- objective ------------------------------------------------------------------------------------
    # "auto": what the discriminator's template asks for ("answer" for an AnswerTemplate, else "yes_no");
    # "yes_no": BCE on logit(yes) - logit(no); "full_vocab": the paper's CE over the whole vocabulary;
    # "answer": label-as-answer, every one-token candidate scored exactly and calibrated (no search: `method`
    # and the search settings do not apply); "cause": label-as-cause (a CauseTemplate: how much the label, put
    # before the example, raises the example's word), searched by `method` with calibrated scores, one-token
    # labels only (see search.cause_batch)
    readout: str = "auto"
    answer_beam: int = 8  # "answer" readout with label_tokens > 1: labels kept while a label grows a token at
    #                       a time (every extension of a kept label is scored exactly; see answer_beam)
    own_token_candidates: int = 3  # "answer" readout, one-token labels: the tokens a feature's training
    #   positives fire on most often (those one token in the label slot) challenge the vocabulary's label on
    #   fit alone and replace it when they fit better (see search.own_tokens); 0: the vocabulary only
    kl_weight: float = 0.05  # KL(p || q): q is the discriminator's own next-token guess at the slot
    activation_threshold: float = 0.0  # an example is positive when its activation is above this
    soft_targets: bool = False  # targets activation / max activation instead of 0 / 1
    # -- data -----------------------------------------------------------------------------------------
    examples_per_feature: int = 128  # at most this many are used (balanced subsample)
    heldout_fraction: float = 0.25  # of each class, kept out of training for the metrics
    min_examples_per_class: int = 4  # fewer positives or negatives: status "too_few_examples"
    batch_examples: int = 16  # examples per feature per gradient step, half positive, half negative
    eval_examples: int = 32  # training examples on which discrete proposals are scored exactly
    # -- trust ----------------------------------------------------------------------------------------
    # A label gets status "weak" (kept, not to be believed) when its held-out balanced accuracy is below
    # weak_threshold (or undefined), or when its held-out AUROC is not above the uninformative label's (0.5:
    # a score that does not depend on the example) by more than weak_auroc_margin. The rule and the
    # measurements behind the defaults: sae_gd_labeler.scoring.weak.
    weak_threshold: float = 0.75
    weak_auroc_margin: float = 0.1
    # -- vocabulary -----------------------------------------------------------------------------------
    # "words": word tokens that round-trip in the label slot (on a subword tokenizer, word pieces such as
    # " desp" too); "dictionary": of those, English words (WordNet list) and words of non-Latin scripts;
    # "auto": "dictionary" for tokenizers of >= 10,000 tokens (real subword vocabularies), else "words"
    # (word-level toy tokenizers, whose words need not be English); "all": every non-special token;
    # or an explicit sequence of words / token ids (see sae_gd_labeler.readout.vocab.candidate_token_ids)
    candidate_vocab: Any = "auto"
    # -- hardware -------------------------------------------------------------------------------------
    feature_batch_size: int | str = "auto"  # features optimised together; "auto": as many as half the
    # free memory holds (see memory_budget), at most 64
    max_rows_per_forward: int = 1024  # prompts (or prompt x label pairs) per forward pass; bounds peak memory
    seed: int = 0
    device: str | None = None  # None: the discriminator's device; else it must be there (checked)
    dtype: str | None = None  # None: the discriminator's dtype; else its weights must be this (checked)

    def __post_init__(self):
        _choice("method", self.method, METHODS)
        _choice("readout", self.readout, READOUTS)
        if self.dtype is not None:
            _choice("dtype", self.dtype, DTYPES)
        for name in ("restarts", "max_label_tokens", "answer_beam", "soft_steps", "soft_candidates", "discrete_topk",
                     "discrete_confirm", "discrete_max_iters", "start_probes", "start_scan", "examples_per_feature",
                     "min_examples_per_class", "eval_examples", "max_rows_per_forward"):
            _at_least(name, getattr(self, name), 1)
        if self.feature_batch_size != "auto" and not (isinstance(self.feature_batch_size, int)
                                                      and self.feature_batch_size >= 1):
            raise ValueError("LabelerConfig.feature_batch_size must be 'auto' or an integer >= 1, got "
                             f"{self.feature_batch_size!r}")
        for name in ("entropy_warmup_steps", "start_guided", "start_prior", "own_token_candidates"):
            _at_least(name, getattr(self, name), 0)
        _at_least("batch_examples", self.batch_examples, 2)
        if self.batch_examples % 2:
            raise ValueError(f"LabelerConfig.batch_examples must be even (half positive, half negative), "
                             f"got {self.batch_examples}")
        k = self.label_tokens
        if k != "auto" and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"LabelerConfig.label_tokens must be an integer >= 1 (tokens per label) or 'auto', got "
                             f"{self.label_tokens!r}")
        for name in ("lr", "weight_decay", "entropy_weight", "kl_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"LabelerConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"LabelerConfig.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.weak_threshold <= 1.0:
            raise ValueError(f"LabelerConfig.weak_threshold must be in [0, 1] (a balanced accuracy), got "
                             f"{self.weak_threshold}")
        if not 0.0 <= self.weak_auroc_margin <= 0.5:
            raise ValueError(f"LabelerConfig.weak_auroc_margin must be in [0, 0.5] (an AUROC difference), got "
                             f"{self.weak_auroc_margin}")
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ValueError(f"LabelerConfig.heldout_fraction must be in (0, 1), got {self.heldout_fraction}")
        vocab = self.candidate_vocab
        if isinstance(vocab, str):
            _choice("candidate_vocab", vocab, VOCABS)
        elif not isinstance(vocab, Sequence) or len(vocab) == 0:
            raise ValueError(f"LabelerConfig.candidate_vocab must be one of {list(VOCABS)} or a non-empty "
                             f"sequence of words / token ids, got {vocab!r}")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if not isinstance(self.candidate_vocab, str):
            out["candidate_vocab"] = list(self.candidate_vocab)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelerConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown LabelerConfig fields {unknown}; valid fields are {sorted(known)}")
        return cls(**data)

    def replace(self, **changes) -> LabelerConfig:
        return dataclasses.replace(self, **changes)


def _choice(name: str, value, options) -> None:
    if value not in options:
        raise ValueError(f"LabelerConfig.{name} must be one of {list(options)}, got {value!r}")


def _at_least(name: str, value, low: int) -> None:
    if not isinstance(value, int) or value < low:
        raise ValueError(f"LabelerConfig.{name} must be an integer >= {low}, got {value!r}")
