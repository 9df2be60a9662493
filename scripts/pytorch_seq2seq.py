#!/usr/bin/env python3
"""PyTorch's side of the translation comparison (issue 29): the model of `recurrent train
translate`'s defaults, trained in PyTorch for a budget of seconds, scored by sacreBLEU.

    ~/torch/bin/pip install sacrebleu
    recurrent train translate --data ../shared/data/translation/eng-fra.txt --time-budget 900 --out runs/tr
    ~/torch/bin/python scripts/pytorch_seq2seq.py --run runs/tr --time-budget 900

It reads the split that run wrote (RUN/train.tsv, valid.tsv, test.tsv: the split by source
sentence), so both sides train and test on the same pairs, and the run's own units and
vocabularies from the metadata of RUN/best.safetensors: the same words (`tokenize` of
crates/recurrent-tasks/src/translate/parallel.rs, ported below: source lower-cased, target
case kept; training pairs with more than --max-len words left out), cut into the same BPE
pieces (the run's merges, applied below as the `tokenizers` crate applies them), mapped to
the same ids.

The model is the one of crates/recurrent/src/model/seq2seq: embeddings of --embed, a
bidirectional LSTM encoder of --hidden per direction, its final states bridged to the
decoder by tanh(W [h_fwd; h_bwd] + b) (h and c), an LSTM decoder, Luong global attention
with the `general` score and the attentional state h~ = tanh(W_c [c; h]) (with
--input-feed also fed to the next decoder step beside the embedding, as `--input-feed`
does there), dropout on both embeddings and on h~, a linear output layer. Training: Adam at
--lr annealed to 0 over the budget (cosine), clipping at global norm --clip, label smoothing
--label-smoothing, batches of --batch pairs bucketed by length; the validation loss (plain
cross-entropy per target token, EOS included) every --eval-every steps keeps the best
weights. The budget counts training steps only, as `recurrent` counts it.

At the end the best weights translate every distinct test source by beam search (--beam,
score log p / len^alpha, at most 2n + 10 tokens) and greedily, detokenised as `recurrent`
does, and sacreBLEU scores them (13a, case-sensitive, every target of a source a
reference). Prints one JSON line per evaluation and a final one.

With --ours nothing is trained: recurrent's own weights (RUN/best.safetensors) are loaded
into this model, which then measures the validation loss and decodes exactly as above. If
recurrent's decoder is right, the BLEU equals the run's results.json; a difference is a
difference between the two decoders, not between the two trainings. --write keeps the
translations for a line-by-line diff with RUN/test.greedy.txt and RUN/test.beam.txt.
"""

import argparse
import json
import math
import random
import struct
import time
import unicodedata
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="a `recurrent train translate` run directory")
    ap.add_argument("--time-budget", type=float, default=900.0, help="seconds of training")
    ap.add_argument("--embed", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--input-feed", action="store_true",
                    help="the decoder reads [embedding; h~ of the step before]")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--max-len", type=int, default=20)
    ap.add_argument("--eval-every", type=int, default=500, help="steps")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--length-alpha", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ours", action="store_true",
                    help="train nothing: load RUN/best.safetensors (recurrent's weights) into "
                    "this model, then measure the validation loss and decode as below, so the "
                    "two decoders are compared on the same weights")
    ap.add_argument("--write", help="write the greedy and beam translations to WRITE.greedy.txt "
                    "and WRITE.beam.txt, one line per distinct test source, in RUN/test.sources.txt's order")
    return ap.parse_args()


# --- text, as crates/recurrent-tasks/src/translate/parallel.rs ----------------------------

def is_alnum(c):
    return unicodedata.category(c)[0] in "LN"


def tokenize(text, lowercase):
    if lowercase:
        text = text.lower()
    out, word = [], ""
    for c in text:
        c = {"\u202f": " ", "\u00a0": " ", "\u2019": "'", "\u2018": "'"}.get(c, c)
        if is_alnum(c):
            word += c
            continue
        if c == "'" and word:
            out.append(word + c)
            word = ""
            continue
        if word:
            out.append(word)
            word = ""
        if not c.isspace():
            out.append(c)
    if word:
        out.append(word)
    return out


def detokenize(tokens):
    s, glue = "", True
    for t in tokens:
        if not (glue or t in ("-", ".", ",")):
            s += " "
        s += t
        glue = t.endswith("'") or t == "-"
    return s


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split("\t")[:2]) for line in f if "\t" in line]


UNK, BOS, EOS = "<unk>", "<s>", "</s>"


def read_best(run, with_data=False):
    """RUN/best.safetensors: its JSON header and, with `with_data`, the bytes after it."""
    with open(f"{run}/best.safetensors", "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        return header, (f.read() if with_data else None)


def run_meta(run):
    """The model description `recurrent` stores in RUN/best.safetensors (metadata `model`)."""
    return json.loads(read_best(run)[0]["__metadata__"]["model"])


def load_ours(model, run):
    """recurrent's parameters (RUN/best.safetensors, f32) into `model`: the same tensors under
    PyTorch's names (crates/recurrent/src/model/seq2seq/mod.rs lists recurrent's)."""
    header, data = read_best(run, with_data=True)
    rename = {"encoder.embed.": "src_embed.", "decoder.embed.": "tgt_embed.",
              "encoder.rnn.": "encoder.", "decoder.rnn.": "decoder.", "bridge.h.": "bridge_h.",
              "bridge.c.": "bridge_c.", "decoder.attn.key.": "key.",
              "decoder.attn.combine.": "combine.", "decoder.head.": "head."}
    state = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise SystemExit(f"{run}/best.safetensors: {name} is {t['dtype']}, expected F32")
        a, b = t["data_offsets"]
        x = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(t["shape"])
        to = next((name.replace(k, v, 1) for k, v in rename.items() if name.startswith(k)), name)
        state[to] = x
    unmatched = set(model.state_dict()) ^ set(state)
    if unmatched:
        raise SystemExit(f"{run}/best.safetensors: names do not match this model: {sorted(unmatched)}")
    model.load_state_dict(state)


class Units:
    """Words <-> the units of a vocabulary, as crates/recurrent-tasks/src/translate/subword.rs:
    words, characters or BPE pieces; a piece after a word's first starts with `##`."""

    def __init__(self, spec):
        self.unit = (spec or {}).get("unit", "word")
        self.prefix = "##"
        if self.unit == "bpe":
            m = spec["model"]
            self.prefix = m.get("continuing_subword_prefix") or ""
            self.vocab = m["vocab"]
            self.unk = m.get("unk_token") or UNK
            self.ranks = {tuple(p if isinstance(p, list) else p.split(" ", 1)): r
                          for r, p in enumerate(m["merges"])}

    def _bpe(self, w):
        """The lowest-ranked adjacent pair merges first (the leftmost of equals), until none
        is a merge; a character outside the vocabulary is the unknown unit."""
        syms = [w[0]] + [self.prefix + c for c in w[1:]]
        syms = [x if x in self.vocab else self.unk for x in syms]
        while len(syms) > 1:
            best = None
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            b = syms[i + 1]
            syms[i : i + 2] = [syms[i] + (b[len(self.prefix):] if b.startswith(self.prefix) else b)]
        return syms

    def split(self, words):
        if self.unit == "word":
            return list(words)
        if self.unit == "char":
            return [c if i == 0 else self.prefix + c for w in words for i, c in enumerate(w)]
        return [u for w in words for u in self._bpe(w)]

    def join(self, units):
        if self.unit == "word":
            return list(units)
        words = []
        for u in units:
            if u.startswith(self.prefix) and self.prefix:
                if words:
                    words[-1] += u[len(self.prefix):]
                else:
                    words.append(u[len(self.prefix):])
            else:
                words.append(u)
        return words


# --- the model ---------------------------------------------------------------------------

class Seq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, a):
        super().__init__()
        e, h = a.embed, a.hidden
        self.src_embed = nn.Embedding(src_vocab, e)
        self.encoder = nn.LSTM(e, h, bidirectional=True)
        self.bridge_h = nn.Linear(2 * h, h)
        self.bridge_c = nn.Linear(2 * h, h)
        self.tgt_embed = nn.Embedding(tgt_vocab, e)
        self.input_feed = a.input_feed
        self.decoder = nn.LSTM(e + h if a.input_feed else e, h)
        self.key = nn.Linear(2 * h, h, bias=False)
        self.combine = nn.Linear(3 * h, h, bias=False)
        self.head = nn.Linear(h, tgt_vocab)
        self.drop = nn.Dropout(a.dropout)

    def encode(self, src, lengths):
        """src [S, B] -> memory [S, B, 2H], keys [S, B, H], mask [B, S], decoder state."""
        x = self.drop(self.src_embed(src))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        out, (hn, cn) = self.encoder(packed)
        mem, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=src.shape[0])
        h0 = torch.tanh(self.bridge_h(torch.cat([hn[0], hn[1]], -1))).unsqueeze(0)
        c0 = torch.tanh(self.bridge_c(torch.cat([cn[0], cn[1]], -1))).unsqueeze(0)
        mask = torch.arange(src.shape[0])[None, :] < lengths[:, None]
        return mem, self.key(mem), mask, (h0, c0)

    def attend(self, h, mem, keys, mask):
        """h [T, B, H] -> h~ [T, B, H]."""
        scores = torch.einsum("tbh,sbh->bts", h, keys)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        a = torch.softmax(scores, -1)
        ctx = torch.einsum("bts,sbd->tbd", a, mem)
        return torch.tanh(self.combine(torch.cat([ctx, h], -1)))

    def forward(self, src, lengths, tgt_in):
        mem, keys, mask, state = self.encode(src, lengths)
        x = self.drop(self.tgt_embed(tgt_in))
        if not self.input_feed:
            y, _ = self.decoder(x, state)
            return self.head(self.drop(self.attend(y, mem, keys, mask)))
        # Input feeding: step t reads [e(y_{t-1}); h~_{t-1}], h~_{-1} = 0.
        feed, outs = x.new_zeros(x.shape[1], self.head.in_features), []
        for t in range(x.shape[0]):
            y, state = self.decoder(torch.cat([x[t], feed], -1)[None], state)
            feed = self.attend(y, mem, keys, mask)[0]
            outs.append(feed)
        return self.head(self.drop(torch.stack(outs)))

    def start(self, state, n):
        """The decoding state: the LSTM's (h, c) and, with input feeding, h~ (zeros)."""
        feed = state[0].new_zeros(n, self.head.in_features) if self.input_feed else None
        return (state[0], state[1], feed)

    def step(self, tok, state, mem, keys, mask):
        h, c, feed = state
        x = self.tgt_embed(tok)
        if feed is not None:
            x = torch.cat([x, feed], -1)
        y, (h, c) = self.decoder(x[None], (h, c))
        ht = self.attend(y, mem, keys, mask)[0]
        lp = torch.log_softmax(self.head(ht), -1)
        return lp, (h, c, ht if feed is not None else None)


# --- data --------------------------------------------------------------------------------

def encode(words, stoi):
    return [stoi.get(w, 0) for w in words]


def batch_of(pairs):
    s = max(len(p[0]) for p in pairs)
    t = max(len(p[1]) for p in pairs)
    b = len(pairs)
    src = torch.zeros(s, b, dtype=torch.long)
    tgt = torch.full((t, b), 2, dtype=torch.long)
    mask = torch.zeros(t, b, dtype=torch.bool)
    for i, (x, y) in enumerate(pairs):
        src[: len(x), i] = torch.tensor(x)
        tgt[: len(y), i] = torch.tensor(y)
        mask[: len(y), i] = True
    tgt_in = torch.cat([torch.ones(1, b, dtype=torch.long), tgt[:-1]], 0)
    lengths = torch.tensor([len(x) for x, _ in pairs])
    return src, lengths, tgt_in, tgt, mask


def bucketed(pairs, batch, rng):
    """Batches of pairs of about the same lengths, in a random order (one epoch)."""
    order = sorted(range(len(pairs)), key=lambda i: (len(pairs[i][0]), len(pairs[i][1]), rng.random()))
    batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    rng.shuffle(batches)
    return batches


def val_loss(model, pairs):
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
        for k in range(0, len(order), 128):
            src, lengths, tgt_in, tgt, mask = batch_of([pairs[i] for i in order[k : k + 128]])
            logits = model(src, lengths, tgt_in)
            l = F.cross_entropy(logits[mask], tgt[mask], reduction="sum")
            total += l.item()
            count += int(mask.sum())
    model.train()
    return total / max(count, 1)


# --- decoding ----------------------------------------------------------------------------

def greedy(model, src_ids, max_len):
    src = torch.tensor(src_ids)[:, None]
    mem, keys, mask, state = model.encode(src, torch.tensor([len(src_ids)]))
    state = model.start(state, 1)
    tok, out = torch.tensor([1]), []
    for _ in range(max_len):
        lp, state = model.step(tok, state, mem, keys, mask)
        tok = lp.argmax(-1)
        if tok.item() == 2:
            break
        out.append(tok.item())
    return out


def beam_search(model, src_ids, beam, max_len, alpha):
    """The best hypothesis by the rules of recurrent's beam search (seq2seq/decode.rs): the
    `beam` best continuations go on; an EOS among the `beam` best candidates ends a
    hypothesis, scored log p / len^alpha with len counting EOS; the search stops when
    `beam` have ended and no live one, scored at its next length, beats the worst of them;
    out of steps, the live hypotheses count as they are."""
    def norm(lp, n):
        return lp / max(n, 1) ** alpha if alpha > 0 else lp

    src = torch.tensor(src_ids)[:, None]
    mem, keys, mask, state = model.encode(src, torch.tensor([len(src_ids)]))
    live = [(0.0, [])]
    states = model.start(state, 1)
    done = []
    for _ in range(max_len):
        n = len(live)
        toks = torch.tensor([t[-1] if t else 1 for _, t in live])
        lp, (hn, cn, fn) = model.step(
            toks, states, mem.expand(-1, n, -1), keys.expand(-1, n, -1), mask.expand(n, -1)
        )
        top = torch.topk(lp, beam, -1)
        cand = []
        for i, (score, _) in enumerate(live):
            for v, w in zip(top.values[i].tolist(), top.indices[i].tolist()):
                cand.append((score + v, i, w))
        cand.sort(key=lambda c: (-c[0], c[1], c[2]))
        nxt, parents = [], []
        for rank, (score, i, w) in enumerate(cand):
            if len(nxt) >= beam:
                break
            if w == 2:
                if rank < beam:
                    done.append((norm(score, len(live[i][1]) + 1), live[i][1]))
            else:
                nxt.append((score, live[i][1] + [w]))
                parents.append(i)
        if not nxt:
            live = []
            break
        if len(done) >= beam:
            worst = sorted((d[0] for d in done), reverse=True)[beam - 1]
            if all(norm(lp_, len(t) + 1) <= worst for lp_, t in nxt):
                live = []
                break
        idx = torch.tensor(parents)
        states = (hn[:, idx], cn[:, idx], None if fn is None else fn[idx])
        live = nxt
    if len(done) < beam:
        done.extend((norm(lp_, len(t)), t) for lp_, t in live)
    done.sort(key=lambda d: -d[0])
    return done[0][1] if done else []


def translate_all(model, sources, src_stoi, itos, units, beam, alpha):
    """Greedy and beam translations of `sources` (plain text)."""
    src_units, tgt_units = units
    model.eval()
    greedy_out, beam_out = [], []
    with torch.no_grad():
        for text in sources:
            ids = encode(src_units.split(tokenize(text, True)), src_stoi) or [0]
            max_len = 2 * len(ids) + 10
            for out, hyp in [
                (greedy_out, greedy(model, ids, max_len)),
                (beam_out, beam_search(model, ids, beam, max_len, alpha)),
            ]:
                out.append(detokenize(tgt_units.join([itos[i] for i in hyp])))
    return greedy_out, beam_out


def bleu(hyps, refs):
    import sacrebleu

    k = max(map(len, refs))
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(k)]
    return sacrebleu.corpus_bleu(hyps, streams).score


# --- the run -----------------------------------------------------------------------------

def main():
    a = parse()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    train_pairs = read_tsv(f"{a.run}/train.tsv")
    valid_pairs = read_tsv(f"{a.run}/valid.tsv")
    test_pairs = read_tsv(f"{a.run}/test.tsv")
    meta = run_meta(a.run)
    units = (Units(meta.get("src_units")), Units(meta.get("tgt_units")))
    # The run's architecture: a run trained with input feeding is compared with it on.
    a.input_feed = a.input_feed or bool(meta.get("model", {}).get("input_feed", False))
    src_itos, tgt_itos = meta["src_vocab"]["tokens"], meta["tgt_vocab"]["tokens"]
    src_stoi = {w: i for i, w in enumerate(src_itos)}
    tgt_stoi = {w: i for i, w in enumerate(tgt_itos)}
    tok = lambda p: (tokenize(p[0], True), tokenize(p[1], False))
    train_tok = [tok(p) for p in train_pairs]
    train_tok = [
        (s, t) for s, t in train_tok if s and t and len(s) <= a.max_len and len(t) <= a.max_len
    ]
    enc = lambda s, t: (encode(units[0].split(s), src_stoi) or [0],
                        encode(units[1].split(t), tgt_stoi) + [2])
    train = [enc(s, t) for s, t in train_tok]
    valid = [enc(*tok(p)) for p in valid_pairs]
    valid = [p for p in valid if max(len(p[0]), len(p[1])) <= 100]
    model = Seq2Seq(len(src_itos), len(tgt_itos), a)
    if a.ours:
        a.time_budget = 0.0
        load_ours(model, a.run)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    print(json.dumps({"event": "start", "train_pairs": len(train), "valid_pairs": len(valid),
                      "src_vocab": len(src_itos), "tgt_vocab": len(tgt_itos),
                      "params": sum(p.numel() for p in model.parameters())}), flush=True)
    best, best_state = math.inf, None
    step, trained, tokens, epoch = 0, 0.0, 0, 0
    while trained < a.time_budget:
        for idx in bucketed(train, a.batch, rng):
            if trained >= a.time_budget:
                break
            t0 = time.perf_counter()
            lr = a.lr * 0.5 * (1 + math.cos(math.pi * min(trained / a.time_budget, 1.0)))
            for g in opt.param_groups:
                g["lr"] = lr
            src, lengths, tgt_in, tgt, mask = batch_of([train[i] for i in idx])
            logits = model(src, lengths, tgt_in)
            loss = F.cross_entropy(logits[mask], tgt[mask], label_smoothing=a.label_smoothing)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            trained += time.perf_counter() - t0
            tokens += int(mask.sum())
            step += 1
            if step % a.eval_every == 0:
                v = val_loss(model, valid)
                if v < best:
                    best, best_state = v, {k: t.clone() for k, t in model.state_dict().items()}
                print(json.dumps({"event": "eval", "step": step, "train_s": round(trained, 1),
                                  "val_loss": v, "train_loss": loss.item()}), flush=True)
        epoch += 1
    v = val_loss(model, valid)
    if v < best:
        best, best_state = v, {k: t.clone() for k, t in model.state_dict().items()}
    print(json.dumps({"event": "eval", "step": step, "train_s": round(trained, 1),
                      "val_loss": v}), flush=True)
    model.load_state_dict(best_state)
    groups = OrderedDict()
    for src, tgt in test_pairs:
        groups.setdefault(src, []).append(tgt)
    t0 = time.perf_counter()
    g, b = translate_all(model, list(groups), src_stoi, tgt_itos, units, a.beam, a.length_alpha)
    decode_s = time.perf_counter() - t0
    if a.write:
        order = {src: i for i, src in enumerate(groups)}
        with open(f"{a.run}/test.sources.txt", encoding="utf-8") as f:
            listed = [line.rstrip("\n") for line in f]
        for kind, hyps in (("greedy", g), ("beam", b)):
            with open(f"{a.write}.{kind}.txt", "w", encoding="utf-8") as f:
                f.writelines(hyps[order[src]] + "\n" for src in listed if src in order)
    refs = list(groups.values())
    print(json.dumps({"event": "final", "steps": step, "epochs": epoch, "train_s": round(trained, 1),
                      "tokens_per_s": tokens / max(trained, 1e-9), "best_val_loss": best,
                      "test_sentences": len(refs), "bleu_greedy": bleu(g, refs),
                      "bleu_beam": bleu(b, refs), "decode_s": round(decode_s, 1)}), flush=True)


if __name__ == "__main__":
    main()
