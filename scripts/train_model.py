#!/usr/bin/python3
"""Trains kvlite's own small Llama-architecture model on the King James Bible
and exports it to GGUF (F32 and Q8_0) with scripts/gguf_writer.py.

Run with Debian's python3 (python3-torch, python3-sentencepiece, python3-numpy,
bible-kjv for the text):

  scripts/train_model.py prepare --work build/kjv        # corpus, split, tokenizer
  scripts/train_model.py train   --work build/kjv --steps 1500 --threads 1
  scripts/train_model.py export  --work build/kjv --out web/public/models

`train` resumes from the newest checkpoint in the work folder and saves one
every --save-every steps; `export` works from any checkpoint, so a model exists
even when a run is cut short. Every step is deterministic given --seed.
"""

import argparse
import glob
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPT_DIR)
import gguf_writer as gw  # noqa: E402

PREFIX_CHUNKS = 4  # perplexity chunks in the held-out prefix the test checks
HELDOUT_EVERY = 25  # every 25th chapter (counted over the whole Bible) is held out
MODEL_NAME = "kvlite-kjv"
CORPUS_NOTE = "King James Version of the Bible (1611), from Debian's bible-kjv-text package"
CORPUS_LICENSE = "public domain (KJV text; copyright expired)"


# ---- Corpus -----------------------------------------------------------------

def read_chapters():
    """Every chapter as a list of verse texts, in canonical order. The `bible`
    program (package bible-kjv) decodes bible-kjv-text's compressed data and
    prints one verse a line, as "Ge1:1 In the beginning ..."."""
    out = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True).stdout
    chapters, current = [], None
    for line in out.splitlines():
        m = VERSE_LINE.match(line)
        if not m:
            raise SystemExit(f"unexpected line from bible: {line!r}")
        if m.group(1) != current:
            current = m.group(1)
            chapters.append([])
        chapters[-1].append(" ".join(m.group(2).split()))
    if len(chapters) != 1189:
        raise SystemExit(f"expected 1189 chapters, read {len(chapters)}")
    return chapters


VERSE_LINE = re.compile(r"^([1-3]?[A-Za-z]+\d+):\d+ (.*)$")


def chapter_text(verses):
    # One chapter is one paragraph of running prose: verse numbers dropped, so
    # the model writes text rather than references.
    return " ".join(verses)


def prepare(args):
    os.makedirs(args.work, exist_ok=True)
    chapters = [chapter_text(v) for v in read_chapters()]
    train = [c for i, c in enumerate(chapters) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    heldout = [c for i, c in enumerate(chapters) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    write_text(os.path.join(args.work, "train.txt"), "\n".join(train) + "\n")
    write_text(os.path.join(args.work, "heldout.txt"), "\n".join(heldout) + "\n")
    print(f"chapters: {len(train)} train, {len(heldout)} held out "
          f"({sum(map(len, train))} / {sum(map(len, heldout))} characters)")
    train_tokenizer(args, train)


def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def train_tokenizer(args, train_chapters):
    import sentencepiece as spm

    # The trainer sees one sentence per line; verses are short enough, chapters
    # are not. Settings follow what llama-style GGUF tokenizers expect: BPE
    # (whose merge-by-score order the GGUF SentencePiece tokenizer reproduces
    # exactly, unlike unigram's Viterbi), raw text (identity normalization, no
    # whitespace cleanup), unknown characters as <0xXX> byte tokens, and the
    # ids <unk>=0, <s>=1, </s>=2.
    sentences = os.path.join(args.work, "tokenizer-train.txt")
    with open(sentences, "w", encoding="utf-8") as f:
        for chapter in train_chapters:
            for sentence in re.split(r"(?<=[.;:?!]) ", chapter):
                f.write(sentence + "\n")
    spm.SentencePieceTrainer.train(
        input=sentences, model_prefix=os.path.join(args.work, "tokenizer"), model_type="bpe",
        vocab_size=args.vocab, character_coverage=1.0, byte_fallback=True, split_digits=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2)
    print(f"tokenizer: {args.vocab} pieces -> {args.work}/tokenizer.model")


def load_tokenizer(work):
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_file=os.path.join(work, "tokenizer.model"))


def encode_file(sp, path):
    """As kvlite and llama.cpp read a text: its single trailing newline dropped,
    BOS first."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.endswith("\n"):
        text = text[:-1]
    return np.array([sp.bos_id()] + sp.encode(text), dtype=np.int64)


# ---- Model ------------------------------------------------------------------

def build_model(cfg):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class RMSNorm(nn.Module):
        def __init__(self, dim, eps):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    def rope_tables(head_dim, n_ctx, base):
        # GGUF llama rotates adjacent pairs (x[2i], x[2i+1]) by pos * base^(-2i/d);
        # doing the same here lets q/k weights export without any permutation.
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        angles = torch.arange(n_ctx, dtype=torch.float64)[:, None] * inv_freq[None, :]
        return angles.cos().float(), angles.sin().float()

    def apply_rope(x, cos, sin):
        # x: [batch, heads, seq, head_dim]
        t = x.shape[2]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        c, s = cos[:t], sin[:t]
        return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            d, hd = cfg["dim"], cfg["head_dim"]
            self.attn_norm = RMSNorm(d, cfg["norm_eps"])
            self.wq = nn.Linear(d, cfg["n_head"] * hd, bias=False)
            self.wk = nn.Linear(d, cfg["n_head_kv"] * hd, bias=False)
            self.wv = nn.Linear(d, cfg["n_head_kv"] * hd, bias=False)
            self.wo = nn.Linear(cfg["n_head"] * hd, d, bias=False)
            self.ffn_norm = RMSNorm(d, cfg["norm_eps"])
            self.w_gate = nn.Linear(d, cfg["ffn"], bias=False)
            self.w_up = nn.Linear(d, cfg["ffn"], bias=False)
            self.w_down = nn.Linear(cfg["ffn"], d, bias=False)

        def forward(self, x, cos, sin, mask):
            b, t, _ = x.shape
            nh, nkv, hd = cfg["n_head"], cfg["n_head_kv"], cfg["head_dim"]
            h = self.attn_norm(x)
            q = self.wq(h).view(b, t, nh, hd).transpose(1, 2)
            k = self.wk(h).view(b, t, nkv, hd).transpose(1, 2)
            v = self.wv(h).view(b, t, nkv, hd).transpose(1, 2)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            # Query head i reads KV head i // (nh / nkv), as ggml broadcasts.
            k = k.repeat_interleave(nh // nkv, dim=1)
            v = v.repeat_interleave(nh // nkv, dim=1)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hd) + mask[:t, :t]
            y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, nh * hd)
            x = x + self.wo(y)
            h = self.ffn_norm(x)
            return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_embeddings = nn.Embedding(cfg["vocab"], cfg["dim"])
            self.layers = nn.ModuleList(Block() for _ in range(cfg["n_layer"]))
            self.norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
            self.output = nn.Linear(cfg["dim"], cfg["vocab"], bias=False)
            cos, sin = rope_tables(cfg["head_dim"], cfg["n_ctx"], cfg["rope_base"])
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)
            mask = torch.full((cfg["n_ctx"], cfg["n_ctx"]), float("-inf")).triu(1)
            self.register_buffer("mask", mask, persistent=False)
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    # Residual-branch outputs scaled down with depth (GPT-2's init).
                    scale = 1 / math.sqrt(2 * cfg["n_layer"]) if name.endswith(("wo.weight", "w_down.weight")) else 1
                    nn.init.normal_(p, std=0.02 * scale)

        def forward(self, tokens):
            x = self.tok_embeddings(tokens)
            for layer in self.layers:
                x = layer(x, self.cos, self.sin, self.mask)
            return self.output(self.norm(x))

    return Llama()


def count_params(model):
    return sum(p.numel() for p in model.parameters())


# ---- Training ---------------------------------------------------------------

def make_config(args, sp):
    if args.dim % args.n_head:
        raise SystemExit("--dim must be a multiple of --n-head")
    if args.n_head % args.n_head_kv:
        raise SystemExit("--n-head must be a multiple of --n-head-kv")
    return {
        "vocab": sp.get_piece_size(), "dim": args.dim, "n_layer": args.n_layer, "n_head": args.n_head,
        "n_head_kv": args.n_head_kv, "head_dim": args.dim // args.n_head, "ffn": args.ffn,
        "n_ctx": args.ctx, "norm_eps": 1e-5, "rope_base": 10000.0,
    }


def lr_at(step, progress, peak, warmup):
    # Linear warm-up over the first steps, then cosine decay to a tenth of the
    # peak as progress (the share of the run done) goes from 0 to 1.
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def run_progress(step, seconds, args):
    """The share of the run done: by steps, or by time when --minutes is set and
    that is further along. A time budget makes the run end on time on a shared
    machine whose speed nobody can predict; the steps it reached are recorded."""
    by_steps = step / args.steps
    by_time = seconds / (args.minutes * 60) if args.minutes > 0 else 0.0
    return max(by_steps, by_time)


def sample_batch(stream, rng, batch, ctx, bos):
    # Random windows of ctx+1 tokens whose first token is replaced by BOS: the
    # same shape of input as llama-perplexity's chunks and as a prompt.
    starts = rng.integers(0, len(stream) - ctx - 1, size=batch)
    windows = np.stack([stream[s:s + ctx + 1] for s in starts])
    windows[:, 0] = bos
    return windows[:, :-1], windows[:, 1:]


def perplexity_chunks(model, tokens, n_ctx, bos, max_chunks=None):
    """Mean NLL over llama-perplexity's scored positions: chunks of n_ctx tokens,
    the first replaced by BOS, positions n_ctx/2 .. n_ctx-2 predicting the next."""
    import torch
    n_chunks = len(tokens) // n_ctx
    if max_chunks:
        n_chunks = min(n_chunks, max_chunks)
    nll, count = 0.0, 0
    with torch.no_grad():
        for i in range(n_chunks):
            chunk = torch.tensor(tokens[i * n_ctx:(i + 1) * n_ctx]).clone()
            chunk[0] = bos
            logp = model(chunk[None])[0].double().log_softmax(-1)
            first = n_ctx // 2
            pos = torch.arange(first, n_ctx - 1)
            nll -= logp[pos, chunk[pos + 1]].sum().item()
            count += len(pos)
    return nll / count, n_chunks


def checkpoint_paths(work):
    return sorted(glob.glob(os.path.join(work, "ckpt-*.pt")))


def train(args):
    import torch
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    sp = load_tokenizer(args.work)
    stream = encode_file(sp, os.path.join(args.work, "train.txt"))
    heldout = encode_file(sp, os.path.join(args.work, "heldout.txt"))
    cfg = make_config(args, sp)
    model = build_model(cfg)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    settings = {k: v for k, v in vars(args).items() if k not in ("func", "work")}
    step, log, tokens_seen, seconds = 0, [], 0, 0.0
    existing = checkpoint_paths(args.work)
    if existing and not args.fresh:
        state = torch.load(existing[-1])
        if state["config"] != cfg:
            raise SystemExit(f"{existing[-1]} has a different model shape; pass --fresh or another --work")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, log, tokens_seen, seconds = state["step"], state["log"], state["tokens_seen"], state["seconds"]
        print(f"resumed from {existing[-1]} at step {step}")
    # One generator per step keeps batches the same whether or not a run resumed.
    print(f"model: {count_params(model):,} parameters, config {json.dumps(cfg)}")
    print(f"train tokens: {len(stream):,}, held-out tokens: {len(heldout):,}")

    def save(final=False):
        path = os.path.join(args.work, f"ckpt-{step:06d}.pt")
        torch.save({"config": cfg, "settings": settings, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "step": step, "log": log, "tokens_seen": tokens_seen, "seconds": seconds}, path)
        for old in checkpoint_paths(args.work)[:-2]:
            os.remove(old)
        print(f"saved {path}{' (final)' if final else ''}", flush=True)

    model.train()
    window_loss, window_start = [], time.time()
    while run_progress(step, seconds, args) < 1:
        t0 = time.time()
        rng = np.random.default_rng([args.seed, step])
        x, y = sample_batch(stream, rng, args.batch, args.ctx, sp.bos_id())
        lr = lr_at(step, run_progress(step, seconds, args), args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        logits = model(torch.from_numpy(x))
        loss = torch.nn.functional.cross_entropy(logits.view(-1, cfg["vocab"]), torch.from_numpy(y).reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens_seen += x.size
        window_loss.append(loss.item())
        last = run_progress(step, seconds + time.time() - t0, args) >= 1
        if step % args.log_every == 0 or last:
            elapsed = time.time() - window_start
            entry = {"step": step, "lr": lr, "train_loss": float(np.mean(window_loss)),
                     "tokens_per_s": len(window_loss) * x.size / elapsed}
            if step % args.eval_every == 0 or last:
                model.eval()
                entry["heldout_loss"], _ = perplexity_chunks(model, heldout, args.ctx, sp.bos_id(), args.eval_chunks)
                model.train()
            log.append(entry)
            print(json.dumps(entry), flush=True)
            window_loss, window_start = [], time.time()
        if step % args.save_every == 0 or last:
            save(final=last)
        seconds += time.time() - t0  # wall time of the whole step, evaluation and saving included
    if not checkpoint_paths(args.work)[-1].endswith(f"ckpt-{step:06d}.pt"):
        save(final=True)  # the time ran out during a step's evaluation or saving


# ---- Export -----------------------------------------------------------------

def gguf_tensors(model, cfg):
    """(GGUF name, array) in llama GGUF naming; PyTorch [out, in] weights are
    written as they are (the writer turns the shape into ne = [in, out])."""
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    yield "token_embd.weight", sd["tok_embeddings.weight"]
    for i in range(cfg["n_layer"]):
        p = f"layers.{i}."
        for gguf, torch_name in (("attn_norm", "attn_norm"), ("attn_q", "wq"), ("attn_k", "wk"), ("attn_v", "wv"),
                                 ("attn_output", "wo"), ("ffn_norm", "ffn_norm"), ("ffn_gate", "w_gate"),
                                 ("ffn_up", "w_up"), ("ffn_down", "w_down")):
            yield f"blk.{i}.{gguf}.weight", sd[p + torch_name + ".weight"]
    yield "output_norm.weight", sd["norm.weight"]
    yield "output.weight", sd["output.weight"]


def write_gguf(path, model, cfg, sp, weight_type, training):
    w = gw.GGUFWriter()
    w.add_string("general.architecture", "llama")
    w.add_string("general.name", MODEL_NAME)
    w.add_string("general.license", "public domain (weights: trained by the kvlite project, CC0-1.0)")
    w.add_string("general.description", "A small Llama-architecture model trained from scratch on the KJV Bible")
    w.add_uint32("general.file_type", {"F32": 0, "Q8_0": 7}[weight_type])
    w.add_uint32("general.quantization_version", 2)
    w.add_uint32("llama.context_length", cfg["n_ctx"])
    w.add_uint32("llama.embedding_length", cfg["dim"])
    w.add_uint32("llama.block_count", cfg["n_layer"])
    w.add_uint32("llama.feed_forward_length", cfg["ffn"])
    w.add_uint32("llama.attention.head_count", cfg["n_head"])
    w.add_uint32("llama.attention.head_count_kv", cfg["n_head_kv"])
    w.add_float32("llama.attention.layer_norm_rms_epsilon", cfg["norm_eps"])
    w.add_float32("llama.rope.freq_base", cfg["rope_base"])
    w.add_uint32("llama.rope.dimension_count", cfg["head_dim"])
    w.add_uint32("llama.vocab_size", cfg["vocab"])

    n = sp.get_piece_size()
    pieces = [sp.id_to_piece(i) for i in range(n)]
    # GGUF token types: 1 normal, 2 unknown, 3 control, 6 byte.
    types = [2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i) else 1 for i in range(n)]
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_array("tokenizer.ggml.tokens", gw.STRING, pieces)
    w.add_array("tokenizer.ggml.scores", gw.FLOAT32, [sp.get_score(i) for i in range(n)])
    w.add_array("tokenizer.ggml.token_type", gw.INT32, types)
    w.add_uint32("tokenizer.ggml.bos_token_id", sp.bos_id())
    w.add_uint32("tokenizer.ggml.eos_token_id", sp.eos_id())
    w.add_uint32("tokenizer.ggml.unknown_token_id", sp.unk_id())
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_bool("tokenizer.ggml.add_eos_token", False)

    for key, value in training.items():
        full = "kvlite.training." + key
        if isinstance(value, bool):
            w.add_bool(full, value)
        elif isinstance(value, int):
            w.add_uint64(full, value)
        elif isinstance(value, float):
            w.add_float32(full, value)
        else:
            w.add_string(full, str(value))

    for name, array in gguf_tensors(model, cfg):
        quantize = weight_type == "Q8_0" and array.ndim == 2 and array.shape[-1] % 32 == 0
        w.add_tensor(name, array, gw.Q8_0 if quantize else gw.F32)
    w.write(path)


def heldout_prefix(sp, path, n_ctx, chunks=PREFIX_CHUNKS):
    """The fewest whole lines (chapters) of the held-out text that make `chunks`
    perplexity chunks, and their tokens: a quick check whose figure the test
    (tests/integration/test_own_model.cpp) reproduces from the GGUF metadata."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for n in range(1, len(lines) + 1):
        tokens = np.array([sp.bos_id()] + sp.encode("\n".join(lines[:n])), dtype=np.int64)
        if len(tokens) >= chunks * n_ctx:
            return n, tokens
    raise SystemExit(f"the held-out text has fewer than {chunks} chunks of {n_ctx} tokens")


def greedy_ids(model, sp, prompt, n):
    import torch
    ids = [sp.bos_id()] + sp.encode(prompt)
    with torch.no_grad():
        for _ in range(n):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return ids[len(ids) - n:]


def export(args):
    import torch
    torch.set_num_threads(args.threads)
    path = args.checkpoint or (checkpoint_paths(args.work) or [None])[-1]
    if not path:
        raise SystemExit(f"no checkpoint in {args.work}")
    state = torch.load(path)
    cfg, settings = state["config"], state["settings"]
    model = build_model(cfg)
    model.load_state_dict(state["model"])
    model.eval()
    sp = load_tokenizer(args.work)
    heldout = encode_file(sp, os.path.join(args.work, "heldout.txt"))
    heldout_nll, n_chunks = perplexity_chunks(model, heldout, cfg["n_ctx"], sp.bos_id())
    prefix_lines, prefix_tokens = heldout_prefix(sp, os.path.join(args.work, "heldout.txt"), cfg["n_ctx"])
    prefix_nll, prefix_chunks = perplexity_chunks(model, prefix_tokens, cfg["n_ctx"], sp.bos_id())
    recent = [e["train_loss"] for e in state["log"][-5:]]
    training = {
        "corpus": CORPUS_NOTE,
        "corpus_license": CORPUS_LICENSE,
        "heldout": f"every {HELDOUT_EVERY}th chapter (chapters 25, 50, ... of 1189), never trained on",
        "seed": settings["seed"],
        "steps": state["step"],
        "steps_planned": settings["steps"],
        "minutes_budget": float(settings.get("minutes", 0)),
        "batch_size": settings["batch"],
        "sequence_length": settings["ctx"],
        "learning_rate": float(settings["lr"]),
        "warmup_steps": settings["warmup"],
        "weight_decay": float(settings["weight_decay"]),
        "tokens_seen": state["tokens_seen"],
        "train_seconds": float(state["seconds"]),
        "threads": settings["threads"],
        "parameters": count_params(model),
        "train_loss": float(np.mean(recent)) if recent else float("nan"),
        "heldout_loss": float(heldout_nll),
        "heldout_ppl": float(math.exp(heldout_nll)),
        "heldout_ppl_chunks": n_chunks,
        "heldout_prefix_lines": prefix_lines,
        "heldout_prefix_ppl": float(math.exp(prefix_nll)),
        "heldout_prefix_chunks": prefix_chunks,
        "tokenizer": f"SentencePiece BPE, {cfg['vocab']} pieces, byte fallback, trained on the training chapters",
        "torch_version": torch.__version__,
    }
    os.makedirs(args.out, exist_ok=True)
    for weight_type in ("F32", "Q8_0"):
        out = os.path.join(args.out, f"{MODEL_NAME}-{weight_type.lower()}.gguf")
        write_gguf(out, model, cfg, sp, weight_type, training)
        print(f"wrote {out} ({os.path.getsize(out):,} bytes)")
    with open(os.path.join(args.work, "heldout.txt"), encoding="utf-8") as f:
        write_text(os.path.join(args.out, f"{MODEL_NAME}-heldout.txt"), f.read())
    sample_prompt = "And it came to pass"
    sample = greedy_ids(model, sp, sample_prompt, 100)
    summary = dict(training, checkpoint=os.path.basename(path), config=cfg, sample_prompt=sample_prompt,
                   train_command_options=train_options(settings),
                   greedy_ids=sample, greedy_sample=sp.decode(sample),
                   tokenize_check={s: sp.encode(s) for s in TOKENIZE_CHECKS})
    if args.kvlite:
        summary["kvlite"] = measure_with_kvlite(args.kvlite, args.out, sample_prompt)
        write_model_card(os.path.join(args.out, "README.md"), summary)
    with open(os.path.join(args.work, "export.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))


def train_options(settings):
    """The `train` options a checkpoint was made with, as a command line."""
    skip = {"log_every", "eval_every", "eval_chunks", "save_every", "fresh"}
    return " ".join(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')} {v}"
                    for k, v in settings.items() if k not in skip)


def measure_with_kvlite(kvlite, out_dir, prompt):
    """kvlite's own held-out perplexity (FP32 KV, llama-perplexity's method) and
    greedy sample for both files, so the model card's figures come from the
    engine that ships the model."""
    heldout = os.path.join(out_dir, f"{MODEL_NAME}-heldout.txt")
    results = {}
    for weight_type in ("f32", "q8_0"):
        model = os.path.join(out_dir, f"{MODEL_NAME}-{weight_type}.gguf")
        ppl = subprocess.run([kvlite, "perplexity", "-m", model, "-f", heldout, "-c", "512"],
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        sample = subprocess.run([kvlite, "generate", "-m", model, "-p", prompt, "-n", "100", "--temp", "0"],
                                capture_output=True, text=True, check=True).stdout
        results[weight_type] = {"ppl_line": ppl, "sample": sample, "file_bytes": os.path.getsize(model)}
        if weight_type == "f32":
            # Greedy decoding of a model this small falls into loops; a mild
            # repetition penalty shows what it has learned past the first one.
            results[weight_type]["sample_penalty"] = subprocess.run(
                [kvlite, "generate", "-m", model, "-p", prompt, "-n", "100", "--temp", "0", "--repeat-penalty", "1.3"],
                capture_output=True, text=True, check=True).stdout
        print(f"kvlite {weight_type}: {ppl}", flush=True)
    return results


def write_model_card(path, s):
    k = s["kvlite"]
    cfg = s["config"]
    same = "the same text" if k["f32"]["sample"] == k["q8_0"]["sample"] else "a different text from token one on"
    if k["f32"]["sample"] != k["q8_0"]["sample"]:
        a, b = k["f32"]["sample"], k["q8_0"]["sample"]
        n = next(i for i in range(min(len(a), len(b)) + 1) if i == min(len(a), len(b)) or a[i] != b[i])
        same = f"the same text for its first {n} characters"
    card = f"""# kvlite-kjv: the project's own small model

A {s['parameters'] / 1e6:.2f}M-parameter Llama-architecture model trained from scratch on a CPU by
`scripts/train_model.py`, so the demo has a default model that ships with the project and the
KV-compression work has a test subject with 32-wide attention heads. It writes King James English;
it knows nothing else. Everything on this page is written by `scripts/train_model.py export --kvlite`,
so rerunning the script regenerates it.

| file | weights | bytes |
|---|---|---|
| `{MODEL_NAME}-f32.gguf` | F32 | {k['f32']['file_bytes']:,} |
| `{MODEL_NAME}-q8_0.gguf` | Q8_0 matrices, F32 norms | {k['q8_0']['file_bytes']:,} |
| `{MODEL_NAME}-heldout.txt` | the held-out text (plain UTF-8) | {os.path.getsize(os.path.join(os.path.dirname(path), MODEL_NAME + '-heldout.txt')):,} |

## Corpus and licence

- Text: {s['corpus']},
  decoded with the `bible` program of package bible-kjv. Verse numbers are dropped; each chapter
  is one line of running prose.
- Licence of the text: {s['corpus_license']}. The Debian packaging (bible-kjv,
  GPL-2+) is only used to read it; none of its code is in this repository.
- Weights and tokenizer: trained by the kvlite project, dedicated to the public domain (CC0-1.0).
- Held out: {s['heldout']}: {s['heldout_ppl_chunks']} perplexity chunks of
  512 tokens.

## Architecture

| | |
|---|---|
| layers | {cfg['n_layer']} |
| embedding | {cfg['dim']} |
| attention heads | {cfg['n_head']} query, {cfg['n_head_kv']} key/value (grouped-query), head dimension {cfg['head_dim']} |
| feed-forward | SwiGLU, {cfg['ffn']} |
| normalisation | RMSNorm, eps {cfg['norm_eps']} |
| positions | RoPE, base {cfg['rope_base']:g}, adjacent pairs (GGUF llama's convention) |
| context | {cfg['n_ctx']} |
| vocabulary | {s['tokenizer']}; `<unk>`=0, `<s>`=1, `</s>`=2 |
| output | separate (untied) output matrix |

## Training

| setting | value |
|---|---|
| seed | {s['seed']} |
| steps | {s['steps']} (time budget {s['minutes_budget']:g} minutes; batch {s['batch_size']} x {s['sequence_length']} tokens) |
| tokens seen | {s['tokens_seen']:,} |
| optimiser | AdamW, peak learning rate {s['learning_rate']:g}, {s['warmup_steps']} warm-up steps, cosine to a tenth, weight decay {s['weight_decay']:g}, gradient clip 1 |
| time | {s['train_seconds'] / 60:.1f} minutes on {s['threads']} CPU thread (PyTorch {s['torch_version']}), on a machine shared with other work |
| final training loss | {s['train_loss']:.4f} (mean of the last 100 steps) |
| held-out loss | {s['heldout_loss']:.4f} (PyTorch, over the scored positions below) |

## Held-out perplexity

Measured as llama.cpp's `llama-perplexity` does (chunks of 512 tokens, BOS first, the second half of
each chunk scored), FP32 KV cache:

```sh
kvlite perplexity -m web/public/models/{MODEL_NAME}-f32.gguf -f web/public/models/{MODEL_NAME}-heldout.txt -c 512
```

| | perplexity |
|---|---|
| PyTorch, the same chunks | {s['heldout_ppl']:.4f} |
| kvlite, F32 file | {k['f32']['ppl_line'].removeprefix('PPL = ')} |
| kvlite, Q8_0 file | {k['q8_0']['ppl_line'].removeprefix('PPL = ')} |

## Greedy sample

`kvlite generate -m web/public/models/{MODEL_NAME}-f32.gguf -p "{s['sample_prompt']}" -n 100 --temp 0`
(the prompt, then what it printed, line breaks as printed):

```text
{s['sample_prompt']}{k['f32']['sample'].rstrip()}
```

The Q8_0 file writes {same}. Greedy decoding of so small a model falls into loops; with
`--repeat-penalty 1.3` (still greedy) it writes:

```text
{s['sample_prompt']}{k['f32']['sample_penalty'].rstrip()}
```

## Reproduce

```sh
apt-get install -y python3-torch python3-sentencepiece python3-numpy bible-kjv libopenblas0
/usr/bin/python3 scripts/train_model.py prepare --work build/kjv
/usr/bin/python3 scripts/train_model.py train --work build/kjv {s['train_command_options']}
/usr/bin/python3 scripts/train_model.py export --work build/kjv --out web/public/models --kvlite build/native/bin/kvlite
```

With `--minutes` the schedule follows the clock, so a rerun on a machine of another speed stops at
another step; without it (`--steps N`) a run is the same every time for a given seed.
`tests/integration/test_own_model.cpp` checks the shipped files against the figures recorded in
their metadata (`kvlite.training.*`).
"""
    write_text(path, card)


TOKENIZE_CHECKS = [
    "And God said, Let there be light: and there was light.",
    "Blessed are the meek: for they shall inherit the earth.",
    "kvlite runs 2 models in 1 browser \u00e9t\u00e9 \u2014 ok",
]


# ---- Command line -----------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("prepare", help="extract the corpus, split it, train the tokenizer")
    p.add_argument("--work", required=True)
    p.add_argument("--vocab", type=int, default=2048)
    p.set_defaults(func=prepare)

    p = sub.add_parser("train", help="train (resuming from the newest checkpoint in --work)")
    p.add_argument("--work", required=True)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--n-layer", type=int, default=6)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-head-kv", type=int, default=2)
    p.add_argument("--ffn", type=int, default=384)
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=1000, help="the most steps; the schedule's length without --minutes")
    p.add_argument("--minutes", type=float, default=0, help="time budget: the schedule ends when it is spent")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1611)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--eval-chunks", type=int, default=8)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--fresh", action="store_true", help="ignore existing checkpoints")
    p.set_defaults(func=train)

    p = sub.add_parser("export", help="write F32 and Q8_0 GGUF files from a checkpoint")
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--checkpoint", help="default: the newest in --work")
    p.add_argument("--kvlite", help="a kvlite binary: measure both files with it and write the model card")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=export)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
