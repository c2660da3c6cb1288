"""Captioning: a word-piece vocabulary learnt from the training captions (HuggingFace ``tokenizers``, stored as its
JSON) and a small transformer decoder that cross-attends to the visual tokens, with greedy and beam decoding."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import InputError

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]


class WordPieceVocab:
    """Lower-cased BERT-style word pieces; ids 0..3 are [PAD] [UNK] [BOS] [EOS]."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    @classmethod
    def train(cls, texts: Sequence[str], vocab_size: int = 2000, min_frequency: int = 2) -> WordPieceVocab:
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        if not texts:
            raise InputError("no captions to learn a vocabulary from")
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                            special_tokens=SPECIALS, show_progress=False)
        tok.train_from_iterator(list(texts), trainer)
        return cls(tok)

    @classmethod
    def from_json(cls, text: str) -> WordPieceVocab:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(text))

    def to_json(self) -> str:
        return self.tokenizer.to_str()

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, texts: Sequence[str], max_len: int) -> torch.Tensor:
        """[BOS] pieces [EOS] [PAD]..., truncated to ``max_len`` (the [EOS] is kept) -> (len(texts), max_len)."""
        out = torch.full((len(texts), max_len), PAD, dtype=torch.long)
        for i, enc in enumerate(self.tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            ids = [BOS, *enc.ids[: max_len - 2], EOS]
            out[i, : len(ids)] = torch.tensor(ids)
        return out

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids]
        if ids and ids[0] == BOS:
            ids = ids[1:]
        if EOS in ids:
            ids = ids[: ids.index(EOS)]
        return self.tokenizer.decode([i for i in ids if i > EOS])


class CaptionDecoder(nn.Module):
    """Pre-norm transformer decoder; the output layer shares the token embedding."""

    def __init__(self, vocab_size: int, d_model: int = 256, layers: int = 2, heads: int = 4, max_len: int = 32,
                 dropout: float = 0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=PAD)
        # shared with the output layer: N(0, 1/d) keeps the first logits O(1) (nn.Embedding's N(0, 1) makes them
        # O(sqrt(d)) and the first epochs are spent undoing that); inputs are scaled back up by sqrt(d)
        nn.init.normal_(self.embed.weight, std=d_model**-0.5)
        with torch.no_grad():
            self.embed.weight[PAD].zero_()
        self.pos = nn.Parameter(torch.randn(1, max_len, d_model) * 0.02)
        layer = nn.TransformerDecoderLayer(d_model, heads, 4 * d_model, dropout, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, vocab_size, bias=False)
        self.out.weight = self.embed.weight
        self.max_len = max_len
        self.scale = math.sqrt(d_model)

    def forward(self, tokens: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: tokens (B, L) -> next-token logits (B, L, vocab); memory (B, M, d_model)."""
        length = tokens.shape[1]
        if length > self.max_len:
            raise InputError(f"caption of {length} tokens, the decoder was built for at most {self.max_len}")
        x = self.embed(tokens) * self.scale + self.pos[:, :length]
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=tokens.device, dtype=x.dtype)
        h = self.decoder(x, memory, tgt_mask=causal, tgt_is_causal=True)
        return self.out(self.norm(h))

    def decode(self, memory: torch.Tensor, beam_size: int = 1) -> list[list[int]]:
        """Greedy decoding for ``beam_size`` 1, beam search otherwise."""
        return self.greedy(memory) if beam_size == 1 else self.beam(memory, beam_size)

    @torch.no_grad()
    def greedy(self, memory: torch.Tensor, max_len: int | None = None) -> list[list[int]]:
        """Most likely next piece ([PAD] and [BOS] excluded) at each step until [EOS]; returns the pieces without
        [BOS]/[EOS]."""
        max_len = min(max_len or self.max_len, self.max_len)
        b = memory.shape[0]
        seqs = torch.full((b, 1), BOS, dtype=torch.long, device=memory.device)
        done = torch.zeros(b, dtype=torch.bool, device=memory.device)
        for _ in range(max_len - 1):
            logits = self.forward(seqs, memory)[:, -1]
            logits[:, [PAD, BOS]] = float("-inf")  # never generated, as in the beam
            nxt = logits.argmax(-1)
            nxt = nxt.masked_fill(done, PAD)
            seqs = torch.cat([seqs, nxt[:, None]], 1)
            done |= nxt == EOS
            if bool(done.all()):
                break
        return [_strip(row) for row in seqs.tolist()]

    @torch.no_grad()
    def beam(self, memory: torch.Tensor, beam_size: int = 3, max_len: int | None = None,
             length_penalty: float = 0.7) -> list[list[int]]:
        """Beam search; a hypothesis scores sum(log p) / (its pieces, [EOS] included) ** length_penalty.

        Every step extends each live beam by every piece and keeps the ``beam_size`` best live continuations per
        item; a continuation ending in [EOS] is set aside as finished. Decoding of an item stops once it has
        ``beam_size`` finished hypotheses; at ``max_len`` the live beams count as finished."""
        if beam_size < 1:
            raise InputError(f"beam size must be >= 1, got {beam_size}")
        max_len = min(max_len or self.max_len, self.max_len)
        b, k = memory.shape[0], beam_size
        mem = memory.repeat_interleave(k, 0)
        seqs = torch.full((b * k, 1), BOS, dtype=torch.long, device=memory.device)
        scores = torch.full((b, k), float("-inf"), device=memory.device)
        scores[:, 0] = 0.0  # all beams start identical: keep one
        finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
        for step in range(1, max_len):
            logp = torch.log_softmax(self.forward(seqs, mem)[:, -1].float(), -1)
            vocab = logp.shape[-1]
            logp[:, PAD] = float("-inf")
            logp[:, BOS] = float("-inf")
            cand = (scores.reshape(-1, 1) + logp).reshape(b, k * vocab)
            top, idx = cand.topk(min(2 * k, k * vocab), dim=1)
            new_rows, new_scores = [], torch.full((b, k), float("-inf"), device=memory.device)
            for i in range(b):
                kept = []
                for s, j in zip(top[i].tolist(), idx[i].tolist(), strict=True):
                    if s == float("-inf") or len(kept) == k:
                        break
                    parent, piece = divmod(j, vocab)
                    prefix = seqs[i * k + parent].tolist()
                    if piece == EOS:
                        if len(finished[i]) < k:
                            finished[i].append((s / step ** length_penalty, prefix[1:]))
                    else:
                        kept.append((s, prefix + [piece]))
                if len(finished[i]) >= k:
                    kept = []
                for slot in range(k):
                    if slot < len(kept):
                        new_scores[i, slot] = kept[slot][0]
                        new_rows.append(kept[slot][1])
                    else:
                        new_rows.append(prefix_pad(seqs[i * k], step + 1))
            scores = new_scores
            seqs = torch.tensor(new_rows, dtype=torch.long, device=memory.device)
            if bool(torch.isinf(scores).all()):
                break
        out = []
        for i in range(b):
            pool = list(finished[i])
            for slot in range(k):
                if torch.isfinite(scores[i, slot]):
                    row = seqs[i * k + slot].tolist()[1:]
                    pool.append((float(scores[i, slot]) / max(1, len(row)) ** length_penalty, row))
            out.append(max(pool, key=lambda p: p[0])[1] if pool else [])
        return out


def prefix_pad(row: torch.Tensor, length: int) -> list[int]:
    """A dead beam's placeholder row of the right length (its score is -inf, it is never extended)."""
    vals = row.tolist()
    return (vals + [PAD] * length)[:length]


def _strip(row: list[int]) -> list[int]:
    row = row[1:]
    return row[: row.index(EOS)] if EOS in row else [t for t in row if t != PAD]
