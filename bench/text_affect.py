"""Benchmark of text affect (prints one JSON object).

Offline: the model shipped in semantic_affect/models (or --model, e.g. the previous
minilm-tfidf-spoken-ekman-v2 or the first, minilm-tfidf-goemotions-ekman-v1) vs the NRC-lexicon
baseline (nrclex, same label mapping) on
GoEmotions-Ekman test under both protocols (see semantic_affect.text.metrics), next to the published
BERT-base macro-F1 0.64; the same test set in spoken form (lowercase, no punctuation, fillers:
semantic_affect.text.spoken) and the hand-written conversational dev set, written and spoken; plus the
offline latency per utterance (one `analyze` call each, as the node does).
LLM: latency per utterance of a real local server, through the same client the node uses (format
negotiation, max_tokens): llama-cpp-python's server with SmolLM2-135M started here (`make
llm-server-env`; skipped with a note where absent), or any running server given with --llm-base-url.
The budget is generous so that the latency itself is measured; the share of utterances that fit the
node's default budget is reported beside it.

  .venv/bin/python bench/text_affect.py [--data DIR] [--cache runs/text_affect] [--latency-n 300] [--model NAME]
  .venv/bin/python bench/text_affect.py --llm-n 30 [--llm-base-url http://127.0.0.1:8080/v1 --llm-model M]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter

import numpy as np

# Utterances for the LLM latency where the data set is absent (short conversational lines, as spoken).
FALLBACK_TEXTS = ["I got the job, I'm so happy!", "My dog died yesterday.", "Get out of my room right now!",
                  "ugh, the bus is late again", "what time is it?", "Wait, you're moving to Japan?",
                  "That smell is disgusting.", "I'm scared of what the doctor will say.",
                  "Oh great, another meeting.", "Thanks, that's really kind of you."]


def percentiles(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {"n": len(times), "median": round(statistics.median(times), 2),
            "p95": round(times[int(0.95 * (len(times) - 1))], 2), "max": round(times[-1], 2)}


def llm_latency(texts: list[str], base_url: str | None, model: str, budget_s: float) -> dict[str, object]:
    """Per-utterance latency of an LLM server through LlmBackend (the node's client and settings)."""
    from semantic_affect.text.config import TextAffectConfig
    from semantic_affect.text.llm import LlmBackend, LlmError
    from semantic_affect.text.local_server import MISSING, LlamaServer, available, smollm2_gguf

    server = None
    if base_url is None:
        if not available():
            return {"skipped": MISSING}
        gguf = smollm2_gguf()
        assert gguf is not None
        server = LlamaServer(gguf).start()
        server.warm_up()
        base_url, model = server.base_url, gguf.name
        label = "llama-cpp-python 0.3.36 server (python -m llama_cpp.server, defaults)"
    else:
        label = base_url
    default = TextAffectConfig()
    try:
        llm = LlmBackend(model=model, base_url=base_url, timeout_s=budget_s, max_retries=0,
                         max_tokens=default.max_tokens)
        times, outcomes = [], Counter()
        for text in texts:
            t = time.perf_counter()
            try:
                llm.analyze(text)
                outcomes["llm"] += 1
            except LlmError as exc:
                outcomes[exc.kind] += 1
            times.append((time.perf_counter() - t) * 1000.0)
    finally:
        if server is not None:
            server.kill()
    fits = sum(t <= default.timeout_s * 1000 for t in times) / len(times)
    return {"server": label, "model": model, "structured_output": llm.negotiation.mode,
            "max_tokens": default.max_tokens, "latency_ms": percentiles(times),
            "within_default_budget": {"timeout_s": default.timeout_s, "share": round(fits, 3)},
            "outcomes": dict(outcomes),
            "note": "outcomes other than llm are replies the client refused (e.g. uninformative), not server errors"}


def spoken_and_conversational(backend: object, test: object, cache: str) -> dict[str, object]:
    """The offline model on test in spoken form and on the conversational dev set (written, spoken)."""
    from semantic_affect.text.cache import cached_embeddings
    from semantic_affect.text.goemotions import read_conversational
    from semantic_affect.text.metrics import evaluate
    from semantic_affect.text.train import spoken_split

    keys = ("multilabel_macro_f1", "single_label_macro_f1", "single_label_accuracy")
    test_sp = spoken_split(test)
    x = cached_embeddings(test_sp, cache, encoder=backend.encoder, key=backend.encoder_key) if cache \
        else backend.embed(test_sp.texts)
    out = {"test_spoken": {k: evaluate(backend.head.probs(x, test_sp.texts), test_sp.targets,
                                       backend.head.thresholds)[k] for k in keys}}
    conv = read_conversational()
    for name, split in (("conversational_dev", conv), ("conversational_dev_spoken", spoken_split(conv))):
        r = evaluate(backend.probs(split.texts), split.targets, backend.head.thresholds)
        out[name] = {"rows": r["rows"], "accuracy": r["single_label_accuracy"],
                     "macro_f1": r["single_label_macro_f1"], "f1_per_class": r["single_label_f1_per_class"]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="goemotions_ekman folder (default ../shared/datasets/goemotions_ekman)")
    p.add_argument("--cache", default="runs/text_affect", help="embedding cache; '' = embed the test split anew")
    p.add_argument("--latency-n", type=int, default=300, help="utterances timed one by one")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the encoder")
    p.add_argument("--model", default="", help="offline model: name of a shipped model or a stem; '' = default")
    p.add_argument("--llm-n", type=int, default=30, help="utterances sent to the LLM server (0 = no LLM part)")
    p.add_argument("--llm-base-url", default=None, help="measure this running server instead of starting one")
    p.add_argument("--llm-model", default="gpt-4o-mini", help="model name for --llm-base-url")
    p.add_argument("--llm-budget", type=float, default=30.0, help="budget per utterance while measuring (s)")
    args = p.parse_args(argv)

    from semantic_affect.text.goemotions import find_dataset, read_split
    from semantic_affect.text.metrics import BERT_BASE_MACRO_F1, evaluate, nrclex_evaluate
    from semantic_affect.text.offline import OfflineBackend

    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "load_avg_1min": round(os.getloadavg()[0], 2)}
    try:
        folder = find_dataset(args.data)
    except FileNotFoundError as exc:
        report: dict[str, object] = {"bench": "text_affect", "offline": {"skipped": str(exc)}}
        if args.llm_n > 0:
            texts = (FALLBACK_TEXTS * args.llm_n)[:args.llm_n]
            report["llm"] = llm_latency(texts, args.llm_base_url, args.llm_model, args.llm_budget)
        print(json.dumps({**report, "machine": machine}))
        return 0
    test = read_split(folder, "test")
    t0 = time.perf_counter()
    backend = OfflineBackend.load(args.model or None, threads=args.threads)
    load_s = time.perf_counter() - t0
    if args.cache:
        from semantic_affect.text.cache import cached_embeddings

        x = cached_embeddings(test, args.cache, encoder=backend.encoder, key=backend.encoder_key)
    else:
        x = backend.embed(test.texts)
    probs = backend.head.probs(x, test.texts)
    offline = evaluate(probs, test.targets, backend.head.thresholds)
    spoken_sets = spoken_and_conversational(backend, test, args.cache)
    t1 = time.perf_counter()
    nrc = nrclex_evaluate(test.texts, test.targets)
    nrc_ms = (time.perf_counter() - t1) * 1000.0 / len(test.texts)

    rng = np.random.default_rng(0)
    sample = [test.texts[i] for i in rng.choice(len(test.texts), size=min(args.latency_n, len(test.texts)),
                                                replace=False)]
    for text in sample[:10]:
        backend.analyze(text)  # warm-up
    times = []
    for text in sample:
        t = time.perf_counter()
        backend.analyze(text)
        times.append((time.perf_counter() - t) * 1000.0)
    times.sort()
    report = {
        "bench": "text_affect",
        "dataset": "goemotions_ekman/test",
        "model": backend.model,
        "offline": {k: offline[k] for k in ("multilabel_macro_f1", "single_label_macro_f1", "single_label_accuracy",
                                            "multilabel_f1_per_class")},
        **spoken_sets,
        "nrclex": {k: nrc[k] for k in ("multilabel_macro_f1", "single_label_macro_f1", "single_label_accuracy")},
        "bert_base_published_macro_f1": BERT_BASE_MACRO_F1,
        "platform_logreg_single_label_macro_f1": 0.51,
        "rows": offline["rows"],
        "single_label_rows": offline["single_label_rows"],
        "latency_ms": {**percentiles(times), "target_median": 30.0},
        "nrclex_ms_per_utterance": round(nrc_ms, 3),
        "load_s": round(load_s, 2),
        "torch_threads": args.threads,
        "embeddings": "cached" if args.cache else "computed",
    }
    if args.llm_n > 0:
        report["llm"] = llm_latency(sample[:args.llm_n], args.llm_base_url, args.llm_model, args.llm_budget)
    report["machine"] = {**machine, "load_avg_1min_end": round(os.getloadavg()[0], 2)}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
