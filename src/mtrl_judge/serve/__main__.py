"""`python -m mtrl_judge.serve --model DIR`: the service without the CLI (benchmarks use it)."""

from __future__ import annotations

import argparse
import logging
import sys

from ..errors import JudgeError
from . import serve
from .limits import add_limit_arguments, limits_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtrl_judge.serve", description="Serve a judge over HTTP.")
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key-env", default=None, help="environment variable holding the API key")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--style", choices=["reason", "direct"], default=None,
                        help="prompt style; default: the one the checkpoint was trained with (judge_config.json)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16 (GPU only)")
    parser.add_argument("--log-level", default="info")
    add_limit_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        serve(args.model, host=args.host, port=args.port, api_key_env=args.api_key_env, style=args.style,
              max_new_tokens=args.max_new_tokens, max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
              max_text_chars=args.max_text_chars, max_text_tokens=args.max_text_tokens, limits=limits_from_args(args),
              device=args.device, dtype=args.dtype, log_level=args.log_level)
    except JudgeError as e:
        print(f"mtrl-judge serve: error: {e}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
