"""`affect-text`: text -> emotion JSON with the LLM or the offline backend, one sentence or a batch.

  affect-text "I can't believe you did that!"             # auto: LLM if OPENAI_API_KEY/--base-url, else offline
  affect-text --backend offline "that's lovely"
  affect-text --backend llm --base-url http://127.0.0.1:11434/v1 --model llama3.2 "meh"
  affect-text --base-url http://127.0.0.1:8000/v1 --timeout-s 8 "meh"   # llama-cpp-python's server
  affect-text --batch in.tsv --out out.jsonl               # TSV: text in column --text-col; JSONL: {"text", "id"}
  affect-text --backend llm --repeat 5 "yeah right, great job"   # stability of the reading over 5 calls

Output: JSON lines with labels, weights, valence, arousal, confidence, backend, model, rationale,
latency_ms. In batch mode earlier rows serve as conversation context for the LLM (--context-turns).
The LLM options are the text_affect node's parameters (semantic_affect.text.config.TextAffectConfig).
The API key is read from OPENAI_API_KEY only.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO


def read_batch(path: str, text_col: int = 0, id_col: int | None = None) -> Iterator[tuple[str, str]]:
    """(id, text) rows from a JSONL (objects with "text" and optional "id") or TSV file ('-' = stdin)."""
    stream: TextIO = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    jsonl = path.endswith((".jsonl", ".json", ".ndjson"))
    try:
        for n, line in enumerate(stream, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if jsonl or (path == "-" and line.lstrip().startswith("{")):
                row = json.loads(line)
                yield str(row.get("id", n)), str(row.get("text", ""))
            else:
                cols = line.split("\t")
                text = cols[text_col] if text_col < len(cols) else ""
                ident = cols[id_col] if id_col is not None and id_col < len(cols) else str(n)
                yield ident, text
    finally:
        if stream is not sys.stdin:
            stream.close()


def stability(runs: list[Any]) -> dict[str, object]:
    """How consistent repeated analyses of one utterance are."""
    dominant = [r.emotion.dominant()[0] for r in runs]
    top = max(set(dominant), key=dominant.count)
    labels = sorted({k for r in runs for k in r.emotion.weights})
    spread = {k: round(statistics.pstdev([r.emotion.weights.get(k, 0.0) for r in runs]), 4) for k in labels}
    return {"runs": len(runs), "dominant": top, "dominant_agreement": round(dominant.count(top) / len(runs), 3),
            "weight_std": spread, "max_weight_std": max(spread.values(), default=0.0),
            "backends": sorted({r.backend for r in runs})}


CLI_FIELDS = ("backend", "base_url", "model", "timeout_s", "max_retries", "structured_output", "max_tokens",
              "temperature", "context_turns", "breaker_failures", "breaker_cooldown_s", "offline_model", "threads")


def main(argv: list[str] | None = None) -> int:
    from avatar_common import config as cfg
    from semantic_affect.text.config import TextAffectConfig

    p = argparse.ArgumentParser(prog="affect-text", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", nargs="?", help="the sentence to analyse")
    p.add_argument("--batch", metavar="FILE", help="TSV or JSONL input ('-' = stdin); writes JSONL")
    p.add_argument("--out", metavar="FILE", default="-", help="output JSONL ('-' = stdout)")
    cfg.add_arguments(p, TextAffectConfig, only=CLI_FIELDS)
    p.add_argument("--text-col", type=int, default=0, help="TSV column of the text (0-based)")
    p.add_argument("--id-col", type=int, default=None, help="TSV column of the id (default: line number)")
    p.add_argument("--repeat", type=int, default=1,
                   help="analyse each row N times and add a 'stability' object (dominant-label agreement, "
                        "per-label weight spread) - for checking an LLM on ambiguous or colloquial input")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if not args.text and not args.batch:
        p.error("give a sentence or --batch FILE")
    try:
        config = cfg.from_namespace(TextAffectConfig, args)
    except cfg.ConfigError as exc:
        p.error(str(exc))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="affect-text: %(levelname)s %(message)s")
    from semantic_affect.text.config import make_policy
    from semantic_affect.text.llm import SecretFilter, api_key
    from semantic_affect.text.policy import resolve_mode

    for handler in logging.getLogger().handlers:
        handler.addFilter(SecretFilter())
    mode = resolve_mode(config.backend, bool(api_key()), config.base_url.strip() or None)[0]
    offline = None
    try:
        from semantic_affect.text.offline import OfflineBackend

        offline = OfflineBackend.load(config.offline_model or None, threads=config.threads or None)
    except Exception as exc:
        if mode == "offline":
            print(f"affect-text: cannot load the offline model: {exc}", file=sys.stderr)
            return 2
        logging.getLogger("affect-text").warning("offline model not loaded (%s): no fallback", exc)
    policy, why = make_policy(config, offline)
    logging.getLogger("affect-text").info("%s", why)
    rows = list(read_batch(args.batch, args.text_col, args.id_col)) if args.batch else [("", args.text)]
    out: TextIO = sys.stdout if args.out == "-" else open(Path(args.out), "w", encoding="utf-8")  # noqa: SIM115
    try:
        if policy.mode == "offline" and offline is not None and len(rows) > 1 and args.repeat <= 1:
            results = []
            for i in range(0, len(rows), 256):
                results += offline.analyze_batch([t for _, t in rows[i:i + 256]])
            for (ident, text), result in zip(rows, results, strict=True):
                out.write(json.dumps(result.record(text, ident), ensure_ascii=False) + "\n")
        else:
            history: list[str] = []
            for ident, text in rows:
                context = history[-config.context_turns:] if config.context_turns > 0 else []
                runs = [policy.analyze(text, context, tag=ident) for _ in range(max(1, args.repeat))]
                history.append(text)
                record = runs[0].record(text, ident)
                if len(runs) > 1:
                    record["stability"] = stability(runs)
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                out.flush()
    finally:
        policy.close()
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
