"""Question answering about real images for the vision-language teachers and students: ETH-80 views, questions
and answers built from the true categories and from measurements of each view, and a single-stream transformer
over question tokens and image feature-map tokens.

Questions per view (every answer comes from the category label or is measured on the real pixels):

    what is this object ?                     -> its category (8 answers)
    is it a fruit / an animal / a man-made object ?   -> yes / no from the category (one fact drawn per view)
    is it <colour> ?                          -> yes when the colour is one of the object's colour attributes
                                                 (``fusion.eth80``: >= 15% of the object's masked pixels over all
                                                 views); the colour is drawn from them or from the others with
                                                 probability 1/2 each
    what colour is it mostly ?                -> the most frequent colour name among this view's masked pixels
    is it taller than it is wide ?            -> yes / no from this view's mask (bounding-box height / width above
                                                 1.15 or below 1 / 1.15; views in between get no such question)

Model: [CLS] question [SEP] (word-piece embeddings, token type 0) followed by the image tokens: the frozen
EfficientNet-Lite0 feature map (1280 x 7 x 7 at 224 px) average-pooled to ``grid x grid``, each cell projected to
the encoder's width plus a learnt position (token type 1). The encoder adds its positions and layer norm, as BERT;
the answer comes from a linear head on [CLS].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..fusion.eth80 import ASPECT, COLOURS, FACTS, ObjectLabels, colour_names, mask_aspect
from .text import encode_texts, pad_batch
from .transformer import Encoder

QUESTION_TYPES = ("category", "fact", "colour-yes-no", "colour", "shape")
_FACT_PHRASE = {"fruit": "a fruit", "animal": "an animal", "man-made": "a man-made object"}


@dataclass
class QASet:
    view: np.ndarray  # (n,) view index into the ETH-80 arrays
    question: list[str]
    answer: np.ndarray  # (n,) index into answers
    qtype: np.ndarray  # (n,) index into QUESTION_TYPES
    answers: list[str]

    def subset(self, keep: np.ndarray) -> QASet:
        idx = np.flatnonzero(keep)
        return QASet(self.view[idx], [self.question[i] for i in idx], self.answer[idx], self.qtype[idx],
                     self.answers)


def view_measurements(images: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dominant colour index, mask bounding-box height / width) of every view."""
    colour = np.zeros(len(images), dtype=np.int64)
    aspect = np.zeros(len(images))
    for i, (im, m) in enumerate(zip(images, masks, strict=True)):
        m = m.astype(bool)
        names = colour_names(im[m]) if m.any() else np.zeros(0, dtype=np.int64)
        colour[i] = int(np.bincount(names, minlength=len(COLOURS)).argmax()) if names.size else COLOURS.index("black")
        aspect[i] = mask_aspect(m)
    return colour, aspect


def build_questions(eth, labels: ObjectLabels, seed: int = 0) -> QASet:
    """Every question of every view (see the module docstring); the drawn fact / colour are seeded."""
    rng = np.random.default_rng(seed)
    cats = list(eth.category_names)
    answers = cats + ["yes", "no"] + list(COLOURS)
    ans = {a: i for i, a in enumerate(answers)}
    colour, aspect = view_measurements(eth.images, eth.masks)
    view, question, answer, qtype = [], [], [], []

    def add(v, q, a, t):
        view.append(v), question.append(q), answer.append(ans[a]), qtype.append(QUESTION_TYPES.index(t))

    for v in range(len(eth.images)):
        obj = int(eth.object_id[v])
        cname = cats[int(labels.category[obj])]
        add(v, "what is this object ?", cname, "category")
        fact = list(FACTS)[rng.integers(len(FACTS))]
        add(v, f"is it {_FACT_PHRASE[fact]} ?", "yes" if cname in FACTS[fact] else "no", "fact")
        has = labels.attributes[obj, : len(COLOURS)]
        pool = np.flatnonzero(has) if rng.random() < 0.5 and has.any() else np.flatnonzero(~has)
        c = int(rng.choice(pool))
        add(v, f"is it {COLOURS[c]} ?", "yes" if has[c] else "no", "colour-yes-no")
        add(v, "what colour is it mostly ?", COLOURS[colour[v]], "colour")
        if aspect[v] > ASPECT or aspect[v] < 1 / ASPECT:
            add(v, "is it taller than it is wide ?", "yes" if aspect[v] > ASPECT else "no", "shape")
    return QASet(np.array(view), question, np.array(answer), np.array(qtype), answers)


def pooled_tokens(feature_maps: np.ndarray | torch.Tensor, grid: int = 4) -> torch.Tensor:
    """(N, C, H, W) feature maps -> (N, grid*grid, C) tokens (adaptive average pooling, row-major)."""
    x = feature_maps if torch.is_tensor(feature_maps) else torch.from_numpy(np.array(feature_maps, dtype=np.float32))
    x = x.float()
    return torch.nn.functional.adaptive_avg_pool2d(x, grid).flatten(2).transpose(1, 2).contiguous()


def qa_batches(qa: QASet, tokenizer, tokens: torch.Tensor, batch_size: int = 64, seed: int = 0,
               max_len: int = 16) -> list[dict]:
    """Fixed, seeded batches: question ids, the attention mask over question + image tokens, the image tokens
    (float16, cast by the model), labels."""
    ids = encode_texts(qa.question, tokenizer, max_len)
    order = np.random.default_rng(seed).permutation(len(ids))
    out = []
    for start in range(0, len(order), batch_size):
        sel = order[start: start + batch_size]
        b = pad_batch([ids[i] for i in sel], qa.answer[sel])
        img = tokens[torch.as_tensor(qa.view[sel])]
        b["attention_mask"] = torch.cat([b["attention_mask"], torch.ones(len(sel), img.shape[1],
                                                                         dtype=torch.long)], 1)
        b["image"] = img.half()
        out.append(b)
    return out


class VQAModel(nn.Module):
    """Single-stream question answering: an :class:`Encoder` over question tokens then image tokens."""

    def __init__(self, encoder: Encoder, answers: int, image_dim: int = 1280, image_tokens: int = 16,
                 dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        d = encoder.config.hidden
        self.image_proj = nn.Linear(image_dim, d)
        self.image_pos = nn.Parameter(torch.randn(image_tokens, d) * 0.02)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d, answers)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, image: torch.Tensor,
                collect: bool = False):
        if image.dim() != 3 or image.shape[1] != self.image_pos.shape[0]:
            raise InputError(f"image tokens must be (batch, {self.image_pos.shape[0]}, dim), got {tuple(image.shape)}")
        text = self.encoder.embeddings.word_embeddings(input_ids)
        img = self.image_proj(image.to(text.dtype)) + self.image_pos
        x = torch.cat([text, img], 1)
        types = torch.cat([torch.zeros_like(input_ids), torch.ones(img.shape[:2], dtype=torch.long,
                                                                   device=img.device)], 1)
        out = self.encoder(attention_mask=attention_mask, inputs_embeds=x, token_type_ids=types, collect=collect)
        return self.head(self.dropout(out.last[:, 0])), out
