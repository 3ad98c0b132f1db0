"""Benchmark of the offline text-affect backend on GoEmotions-Ekman test (prints one JSON object).

Offline model (the head shipped in semantic_affect/models) vs the NRC-lexicon baseline (nrclex, same
label mapping) under both protocols (see semantic_affect.text.metrics), next to the published BERT-base
macro-F1 0.64; plus the offline latency per utterance (one `analyze` call each, as the node does).

  .venv/bin/python bench/text_affect.py [--data DIR] [--cache runs/text_affect] [--latency-n 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="goemotions_ekman folder (default ../shared/datasets/goemotions_ekman)")
    p.add_argument("--cache", default="runs/text_affect", help="embedding cache; '' = embed the test split anew")
    p.add_argument("--latency-n", type=int, default=300, help="utterances timed one by one")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the encoder")
    args = p.parse_args(argv)

    from semantic_affect.text.goemotions import find_dataset, read_split
    from semantic_affect.text.metrics import BERT_BASE_MACRO_F1, evaluate, nrclex_evaluate
    from semantic_affect.text.offline import OfflineBackend

    try:
        folder = find_dataset(args.data)
    except FileNotFoundError as exc:
        print(json.dumps({"skipped": str(exc)}))
        return 0
    test = read_split(folder, "test")
    t0 = time.perf_counter()
    backend = OfflineBackend.load(threads=args.threads)
    load_s = time.perf_counter() - t0
    if args.cache:
        from semantic_affect.text.cache import cached_embeddings

        x = cached_embeddings(test, args.cache)
    else:
        x = backend.embed(test.texts)
    probs = backend.head.probs(x, test.texts)
    offline = evaluate(probs, test.targets, backend.head.thresholds)
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
        "nrclex": {k: nrc[k] for k in ("multilabel_macro_f1", "single_label_macro_f1", "single_label_accuracy")},
        "bert_base_published_macro_f1": BERT_BASE_MACRO_F1,
        "platform_logreg_single_label_macro_f1": 0.51,
        "rows": offline["rows"],
        "single_label_rows": offline["single_label_rows"],
        "latency_ms": {"n": len(times), "median": round(statistics.median(times), 2),
                       "p95": round(times[int(0.95 * (len(times) - 1))], 2), "max": round(times[-1], 2),
                       "target_median": 30.0},
        "nrclex_ms_per_utterance": round(nrc_ms, 3),
        "load_s": round(load_s, 2),
        "torch_threads": args.threads,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1min": round(os.getloadavg()[0], 2)},
        "embeddings": "cached" if args.cache else "computed",
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
