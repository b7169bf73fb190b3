"""The `mtrl-judge` command line: one entry point, sub-commands.

User mistakes (a bad file, an unknown task, a wrong field) end with one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from .errors import JudgeError

logger = logging.getLogger("mtrl_judge")

EXIT_USER_ERROR = 2
EXIT_PARTIAL = 1  # some rows of a batch failed; the rest were written


def _error(message: str) -> None:
    # One plain line, never wrapped to the terminal's width, so scripts can grep it.
    print(f"mtrl-judge: error: {message}", file=sys.stderr)


def _setup_logging(verbose: bool) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=False)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", handlers=[handler])


def _quiet_transformers() -> None:
    # transformers' own bars and notices would drown ours
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _cmd_backbone_build(args: argparse.Namespace) -> int:
    from .backbone import build_backbone

    build_backbone(args.preset, args.out, seed=args.seed, overwrite=args.overwrite)
    return 0


def _cmd_tasks(args: argparse.Namespace) -> int:
    from .tasks import list_tasks

    for task in list_tasks():
        print(json.dumps(task.to_dict() | {"choices": list(task.choices)}))
    return 0


def _read_jsonl(path: Path) -> list[tuple[int, dict | JudgeError]]:
    """(line number, row or the error for that line) for each non-blank line.

    Each line is decoded and parsed on its own, so a line that is not UTF-8, not JSON, or JSON
    that Python refuses to build (a 100,000-digit number, nesting deeper than the recursion
    limit) is one bad row and the other rows are still judged."""
    if not path.is_file():
        raise JudgeError(f"{path}: input file not found")
    rows: list[tuple[int, dict | JudgeError]] = []
    try:
        f = path.open("rb")
    except OSError as e:
        raise JudgeError(f"{path}: cannot read the input file ({e.strerror or e.__class__.__name__})") from None
    with f:
        for n, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8")  # -sig: tolerate the BOM some editors write
            except UnicodeDecodeError as e:
                rows.append((n, JudgeError(f"{path}:{n}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at position {e.start})")))
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                rows.append((n, JudgeError(f"{path}:{n}: not valid JSON ({e.msg})")))
                continue
            except ValueError as e:  # e.g. an integer over sys.get_int_max_str_digits() digits
                rows.append((n, JudgeError(f"{path}:{n}: not usable JSON ({str(e).split(':')[0]})")))
                continue
            except RecursionError:
                rows.append((n, JudgeError(f"{path}:{n}: not usable JSON (nested too deeply)")))
                continue
            if not isinstance(row, dict):
                rows.append((n, JudgeError(f"{path}:{n}: expected a JSON object")))
                continue
            rows.append((n, row))
    return rows


def _add_placement_arguments(parser: argparse.ArgumentParser) -> None:
    """--device and --dtype, shared by every command that loads a model (rules: mtrl_judge/devices.py)."""
    # Free strings, not argparse choices: a bad value then ends in our one-line error, not argparse's usage text.
    parser.add_argument("--device", default="auto", metavar="{auto,cpu,cuda,cuda:N}",
                        help="where the model runs (auto: a CUDA GPU when there is one, else the CPU)")
    parser.add_argument("--dtype", default="auto", metavar="{auto,float32,bfloat16,float16}",
                        help="model precision (auto: bfloat16 on a GPU, float32 on the CPU; float16 is GPU only)")


def _placement(args: argparse.Namespace) -> tuple[str, str]:
    """(device, dtype) from --device/--dtype, checked before anything slow; errors name the option."""
    from .devices import dtype_name, resolve_device_and_dtype

    device, dtype = resolve_device_and_dtype(args.device, args.dtype, options=("--device", "--dtype"))
    return str(device), dtype_name(dtype)


def _cmd_judge(args: argparse.Namespace) -> int:
    from .io import check_output_path, write_jsonl
    from .judge import Judge, JudgeRequest
    from .tasks import get_task, register_tasks_from_yaml

    if args.tasks_file:
        register_tasks_from_yaml(args.tasks_file)
    if args.input is None and not args.image:
        raise JudgeError("give --image (one or two) for a single judgment, or --input FILE.jsonl for a batch")
    if args.input is not None and (args.image or args.text is not None):
        raise JudgeError("--input cannot be combined with --image/--text: put them in the JSONL rows")
    if args.input is not None and args.output is None:
        raise JudgeError("--input needs --output OUT.jsonl")
    if args.output is not None:
        check_output_path(args.output)  # before the model loads and the rows are judged
    if args.input is None:
        get_task(args.task)  # fail on an unknown task before loading the model
    device, dtype = _placement(args)
    judge = Judge.from_pretrained(
        args.model, device=device, dtype=dtype, style=args.style, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
        max_pixels=args.max_pixels
    )
    if args.input is None:
        verdict = judge.judge(images=args.image, text=args.text, task=args.task)
        print(json.dumps(verdict.to_dict() | {"model": judge.name}, ensure_ascii=False))
        return 0

    # Batch: bad rows are reported with their line numbers; good rows are still judged and written.
    base = args.input.parent
    good: list[tuple[int, dict, JudgeRequest]] = []
    errors: list[str] = []
    for n, row in _read_jsonl(args.input):
        if isinstance(row, JudgeError):
            errors.append(str(row))
            continue
        images = row.get("images")
        if isinstance(images, list):  # relative paths are relative to the JSONL file's folder
            images = [str(base / p) if isinstance(p, str) and not Path(p).is_absolute() else p for p in images]
        request = {"task": row.get("task", args.task), "images": images, "text": row.get("text")}
        try:
            good.append((n, row, judge.prepare(request, where=f"{args.input}:{n}")))
        except JudgeError as e:
            errors.append(str(e))
    for message in errors:
        _error(message)
    verdicts = judge.judge_many([req for _, _, req in good], progress=True)
    write_jsonl(
        args.output,
        ({"line": n, **({"id": row["id"]} if "id" in row else {}), **v.to_dict(), "model": judge.name}
         for (n, row, _), v in zip(good, verdicts, strict=True)),
    )
    logger.info("judged %d row(s) into %s; %d bad row(s) skipped", len(verdicts), args.output, len(errors))
    return EXIT_PARTIAL if errors else 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .train.config import load_recipe
    from .train.run import train

    overrides = [*args.overrides, *(["--keep_checkpoints", "true"] if args.keep_checkpoints else [])]
    _quiet_training()  # before the recipe is read: building TRL's config is what warns about its own alias
    recipe = load_recipe(args.recipe, overrides, dry_run=args.dry_run)
    if args.dry_run:
        from .train.config import check_inputs

        check_inputs(recipe)  # the model folder holds a model, the data folder every task's splits
        print(json.dumps({"method": recipe.judge.method, "judge": dataclasses.asdict(recipe.judge),
                          "trl": {k: v for k, v in recipe.trl.to_dict().items() if k in recipe.values}}, indent=2, default=str))
        return 0
    out = train(recipe, resume=args.resume, overwrite=args.overwrite)
    logger.info("done: %s", out)
    return 0


def _quiet_training() -> None:
    """The terminal of a training run shows our progress bar and log lines: no datasets bars (prompt rendering), and
    not the FutureWarning transformers gives for TRL's own default `gradient_checkpointing` (a deprecated alias that
    TRL's config sets, not the recipe; recipes use `activation_checkpointing`)."""
    import warnings

    import datasets

    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", message=r"`gradient_checkpointing` is deprecated", category=FutureWarning,
                            module=r"transformers\.training_args")
    # ...and the one TRL's GRPOTrainer triggers at every generation by reading the deprecated alias.
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning,
                            module=r"transformers\.modeling_utils")


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate.runner import RESULTS_FILE, EvalSettings, run_eval
    from .io import check_output_folder
    from .judge import Judge
    from .tasks import get_task, register_tasks_from_yaml

    if args.tasks_file:
        register_tasks_from_yaml(args.tasks_file)
    for name in args.tasks or []:
        get_task(name)  # an unknown task fails before the model loads
    check_output_folder(args.out, what="evaluation results", replaced=False)  # before hours of judging, not after
    settings = EvalSettings(tasks=args.tasks, split=args.split, max_examples=args.max_examples,
                            self_consistency=args.self_consistency, temperature=args.temperature)
    device, dtype = _placement(args)
    judge = Judge.from_pretrained(args.model, device=device, dtype=dtype, style=args.style, max_new_tokens=args.max_new_tokens,
                                  batch_size=args.batch_size)
    run_eval(judge, args.data, args.out, settings)  # logs each task's line as it finishes
    logger.info("results: %s", Path(args.out) / RESULTS_FILE)
    return 0


def _cmd_rank(args: argparse.Namespace) -> int:
    from .judge import Judge
    from .requests import check_request

    # rank prints to stdout, so there is no output path to check; the task and the text are
    # checked (one request per image) before the model loads, the images by the judge.
    check_request(args.task, 1, args.text)
    device, dtype = _placement(args)
    judge = Judge.from_pretrained(args.model, device=device, dtype=dtype, style=args.style, max_new_tokens=args.max_new_tokens,
                                  batch_size=args.batch_size)
    ranking = judge.rank(args.image, args.text, args.task)
    print(json.dumps({"task": args.task, "text": args.text, "model": judge.name, "ranking": [
        {"rank": r + 1, "image": args.image[i], "score": v.score, "choice": v.choice, "reasoning": v.reasoning}
        for r, (i, v) in enumerate(ranking)]}, ensure_ascii=False, indent=2))
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce.budgets import BUDGETS
    from .reproduce.pipeline import reproduce

    device, dtype = _placement(args)
    _quiet_training()  # its training stages run in this process, like `train`
    # reproduce logs where the report is
    reproduce(args.out, BUDGETS[args.budget], seed=args.seed, device=device, dtype=dtype, base_model=args.base,
              record=args.record)
    return 0


def _cmd_world_generate(args: argparse.Namespace) -> int:
    from .data.world import generate_world
    from .io import check_output_folder

    check_output_folder(args.out, what="world", replaced=True)
    out = generate_world(args.out, size=args.size, seed=args.seed, overwrite=args.overwrite, progress=True,
                         version=args.version, balance=args.train_balance)
    logger.info("JudgeWorld v%d (%s, seed %d) written to %s", args.version, args.size, args.seed, out)
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from .pretrain import pretrain
    from .pretrain.corpus import parse_kind_weights, parse_styles

    pretrain(args.world, args.out, preset=args.preset, max_steps=args.steps, batch_size=args.batch_size,
             learning_rate=args.learning_rate, seed=args.seed, overwrite=args.overwrite, n_examples=args.examples,
             workers=args.workers, curriculum=args.curriculum, time_limit=args.time_limit, init=args.init,
             kind_weights=parse_kind_weights(args.kind_weights), corpus_version=args.corpus_version,
             freeze_tower=args.freeze_tower, styles=parse_styles(args.styles),
             questions_per_image=args.questions_per_image, lr_schedule=args.lr_schedule)
    return 0


def _cmd_pretrain_tower(args: argparse.Namespace) -> int:
    from .pretrain.tower import pretrain_tower

    pretrain_tower(args.init, args.out, max_steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                   seed=args.seed, held_out=args.held_out, time_limit=args.time_limit,
                   overwrite=args.overwrite, cells=args.cells)
    return 0


def _cmd_data_import(args: argparse.Namespace) -> int:
    from .data.adapters import import_from_args

    report = import_from_args(args)
    print(json.dumps({"out": str(report.out), "counts": report.counts, "paper": report.paper,
                      "skipped_rows": len(report.skipped), "dropped": report.dropped}, indent=2, default=str))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve
    from .serve.limits import limits_from_args

    device, dtype = _placement(args)
    serve(args.model, host=args.host, port=args.port, api_key_env=args.api_key_env, style=args.style, device=device, dtype=dtype,
          max_new_tokens=args.max_new_tokens, max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
          max_pixels=args.max_pixels, tasks_file=args.tasks_file, max_text_chars=args.max_text_chars,
          max_text_tokens=args.max_text_tokens, limits=limits_from_args(args))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .data.images import DEFAULT_MAX_PIXELS

    parser = argparse.ArgumentParser(prog="mtrl-judge", description="Train, evaluate and serve unified multimodal LLM judges.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    backbone = sub.add_parser("backbone", help="build a Qwen3-VL backbone locally").add_subparsers(dest="backbone_command",
                                                                                                required=True)
    build = backbone.add_parser("build", help="build a backbone with random weights and a trained tokenizer")
    build.add_argument("--preset", choices=["tiny", "tiny-moe", "small"], default="tiny",
                       help="model size (tiny: tests; small: demo)")
    build.add_argument("--out", type=Path, required=True, help="output folder")
    build.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    build.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    build.set_defaults(func=_cmd_backbone_build)

    world = sub.add_parser("world", help="JudgeWorld, the synthetic judging benchmark").add_subparsers(dest="world_command",
                                                                                                     required=True)
    gen = world.add_parser("generate", help="draw JudgeWorld: one dataset per task with train/validation/test splits")
    gen.add_argument("--out", type=Path, required=True, help="output folder (written atomically)")
    gen.add_argument("--size", choices=["tiny", "demo", "paper"], default="demo",
                     help="tiny: tests; demo: the main job; paper: Table 1 counts")
    gen.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    gen.add_argument("--version", type=int, choices=[1, 2], default=2,
                     help="2: objects and defects legible at the model's input (default); 1: the original world, byte for byte")
    gen.add_argument("--train-balance", choices=["paper", "even"], default="paper",
                     help="training splits' labels: the paper's Table 1 shares, or half positive "
                          "(test splits always keep the paper's)")
    gen.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    gen.set_defaults(func=_cmd_world_generate)

    from .data.adapters import add_import_arguments

    data = sub.add_parser("data", help="import the real benchmarks from the files their publishers ship").add_subparsers(
        dest="data_command", required=True)
    imp = data.add_parser("import", help="turn a publisher's files into a data folder (docs/datasets.md)")
    add_import_arguments(imp)
    imp.set_defaults(func=_cmd_data_import)

    pre = sub.add_parser("pretrain", help="pretrain the off-the-shelf base on general grounded questions (never the judge tasks)")
    pre.add_argument("--world", type=Path, default=None,
                     help="a JudgeWorld folder: measure the base's zero-shot judge macro-F1 on it")
    pre.add_argument("--out", type=Path, required=True, help="output model folder")
    pre.add_argument("--preset", choices=["tiny", "tiny-moe", "small", "small-p8"], default=None,
                     help="backbone size of a base built from scratch (default small-p8)")
    pre.add_argument("--init", type=Path, default=None,
                     help="continue from this pretrained base (its weights and tokenizer; fresh optimiser and schedule)")
    pre.add_argument("--kind-weights", default=None, metavar="KIND=W,...",
                     help="ask some question kinds more often, e.g. symbol=4,count=3 (unnamed kinds: 1; 0 drops a kind)")
    pre.add_argument("--corpus-version", type=int, default=2,
                     help="2: the committed base's corpus; 3: the same questions, with count, exists and statement "
                          "reasoned step by step; 4: the same, scanning the described groups in order (docs/base.md)")
    pre.add_argument("--styles", default="reason,direct", metavar="STYLE,...",
                     help="answer styles taken in turn: reason,direct (default), or one of them alone; "
                          "direct alone drills short answers (shorter sequences, so more examples a second)")
    pre.add_argument("--questions-per-image", type=int, default=1, metavar="K",
                     help="ask up to K questions of each image in one conversation (default 1): one image's visual "
                          "tokens serve K answers, several times the questions a second on a CPU (docs/base.md)")
    pre.add_argument("--freeze-tower", action="store_true",
                     help="with --init: train the language model alone and keep the vision tower as it is "
                          "(after `pretrain-tower`; docs/base.md)")
    pre.add_argument("--steps", type=int, default=3000, help="optimizer steps")
    pre.add_argument("--batch-size", type=int, default=32, help="examples per step")
    pre.add_argument("--examples", type=int, default=None,
                     help="corpus size, drawn once and cached "
                          "(default: steps x batch size, at most 200,000; replayed if smaller)")
    pre.add_argument("--workers", type=int, default=None, help="processes drawing the corpus (default: every CPU core)")
    pre.add_argument("--no-curriculum", dest="curriculum", action="store_false",
                     help="draw full scenes from the start instead of one or two objects first")
    pre.add_argument("--time-limit", type=float, default=None, help="minutes of training after which to stop and save")
    pre.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate")
    # pretrain.run.LR_SCHEDULES, spelled out so that building the parser does not import torch (a test keeps them equal)
    pre.add_argument("--lr-schedule", choices=["cosine", "constant"], default="cosine",
                     help="cosine (default): decay to zero at --steps; constant: keep the peak after the warm-up, for "
                          "drills whose skill comes in a late jump (docs/base.md)")
    pre.add_argument("--seed", type=int, default=0, help="seed for the corpus, the weights and the data order")
    pre.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    pre.set_defaults(func=_cmd_pretrain)

    tow = sub.add_parser("pretrain-tower", help="warm up a base's vision tower on what each visual token shows "
                                                "(then continue it with `pretrain --init`; docs/base.md)")
    tow.add_argument("--init", type=Path, required=True, help="the base whose vision tower to train")
    tow.add_argument("--out", type=Path, required=True, help="output model folder (the base with the new tower)")
    tow.add_argument("--steps", type=int, default=1000, help="optimizer steps")
    tow.add_argument("--batch-size", type=int, default=32, help="fresh scenes per step")
    tow.add_argument("--learning-rate", type=float, default=3e-4, help="peak learning rate (cosine schedule)")
    # pretrain.tower.CELLS, spelled out so that building the parser does not import torch (a test keeps them equal)
    tow.add_argument("--cells", choices=["centre", "covered", "mixed"], default="centre",
                     help="tokens that name an object's colour and shape and a sign's symbol: the one at its centre "
                          "(default); every token it covers, so that any of them says what the object is; or mixed: "
                          "every token an object covers, a sign's symbol at its plate's centre only")
    tow.add_argument("--held-out", type=int, default=256, help="scenes of another seed that score the heads at the end")
    tow.add_argument("--time-limit", type=float, default=None, help="minutes of training after which to stop and save")
    tow.add_argument("--seed", type=int, default=0, help="seed for the scenes and the heads")
    tow.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder (and go on from a "
                                                               "run stopped by --time-limit)")
    tow.set_defaults(func=_cmd_pretrain_tower)

    srv = sub.add_parser("serve", help="serve a judge over HTTP with micro-batching (OpenAPI docs at /docs)")
    srv.add_argument("--model", type=Path, required=True, help="model folder")
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    srv.add_argument("--port", type=int, default=8000, help="port to listen on")
    srv.add_argument("--api-key-env", default=None, help="environment variable holding the API key; requests without it get 401")
    srv.add_argument("--style", choices=["reason", "direct"], default=None,
                     help="prompt style (default: the one the checkpoint was trained with, from its judge_config.json; "
                          "else reason)")
    srv.add_argument("--max-new-tokens", type=int, default=128, help="generation budget per verdict")
    srv.add_argument("--max-batch-size", type=int, default=16, help="most requests per model batch")
    srv.add_argument("--max-wait-ms", type=float, default=10.0, help="wait for more requests after the first of a batch")
    srv.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse images with more pixels than this")
    srv.add_argument("--tasks-file", type=Path, default=None, help="YAML file registering extra tasks")
    _add_placement_arguments(srv)
    from .serve.limits import add_limit_arguments  # the web stack is not imported for this

    add_limit_arguments(srv)
    srv.set_defaults(func=_cmd_serve)

    tasks = sub.add_parser("tasks", help="list the registered judge tasks (JSON lines)")
    tasks.set_defaults(func=_cmd_tasks)

    judge = sub.add_parser("judge", help="judge one example, or a JSONL file of them")
    judge.add_argument("--model", type=Path, required=True, help="model folder (ours or any HF image-text-to-text checkpoint)")
    judge.add_argument("--task", default="seetrue", help="task name (see `mtrl-judge tasks`); default for JSONL rows without one")
    judge.add_argument("--image", action="append", default=[], help="image file; repeat for pairwise tasks")
    judge.add_argument("--text", default=None, help="the text to judge the image against, for tasks that use one")
    judge.add_argument("--input", type=Path, default=None,
                       help="JSONL rows {task, images: [paths], text}; relative paths are relative to the file")
    judge.add_argument("--output", type=Path, default=None, help="JSONL output for --input (written atomically)")
    judge.add_argument("--style", choices=["reason", "direct"], default=None,
                       help="prompt style (default: the one the checkpoint was trained with, from its judge_config.json; "
                            "else reason)")
    judge.add_argument("--max-new-tokens", type=int, default=128, help="generation budget per verdict")
    judge.add_argument("--batch-size", type=int, default=16, help="examples per generation batch")
    judge.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse images with more pixels than this")
    judge.add_argument("--tasks-file", type=Path, default=None, help="YAML file registering extra tasks")
    _add_placement_arguments(judge)
    judge.set_defaults(func=_cmd_judge)
    rank = sub.add_parser("rank", help="rank candidate images for one text by the judge's score (JSON out)")
    rank.add_argument("--model", type=Path, required=True, help="model folder")
    rank.add_argument("--task", default="imagereward", help="a pointwise task, e.g. imagereward or seetrue")
    rank.add_argument("--text", default=None, help="the prompt the images were made for")
    rank.add_argument("--image", action="append", required=True, help="candidate image; repeat for each")
    rank.add_argument("--style", choices=["reason", "direct"], default=None,
                      help="prompt style (default: the one the checkpoint was trained with, from its judge_config.json; "
                           "else reason)")
    rank.add_argument("--max-new-tokens", type=int, default=128, help="generation budget per verdict")
    rank.add_argument("--batch-size", type=int, default=16, help="images per generation batch")
    _add_placement_arguments(rank)
    rank.set_defaults(func=_cmd_rank)

    ev = sub.add_parser("eval", help="evaluate a judge on a data folder: macro-F1 per task, results.json, predictions.jsonl")
    ev.add_argument("--model", type=Path, required=True, help="model folder")
    ev.add_argument("--data", type=Path, required=True, help="data folder (world generate / data import output)")
    ev.add_argument("--tasks", nargs="+", default=None, help="tasks to evaluate (default: all in the data folder)")
    ev.add_argument("--split", default="test", help="split to evaluate")
    ev.add_argument("--out", type=Path, required=True, help="output folder for results.json and predictions.jsonl")
    ev.add_argument("--max-examples", type=int, default=None, help="at most this many examples per task")
    ev.add_argument("--style", choices=["reason", "direct"], default=None,
                    help="prompt style (default: the one the checkpoint was trained with, from its judge_config.json; "
                         "else reason)")
    ev.add_argument("--max-new-tokens", type=int, default=128, help="generation budget per verdict")
    ev.add_argument("--batch-size", type=int, default=32, help="examples per generation batch")
    ev.add_argument("--self-consistency", type=int, default=0,
                    help="k >= 2: also sample k verdicts per example (pointwise tasks)")
    ev.add_argument("--temperature", type=float, default=1.0, help="sampling temperature for --self-consistency")
    ev.add_argument("--tasks-file", type=Path, default=None, help="YAML file registering extra tasks")
    _add_placement_arguments(ev)
    ev.set_defaults(func=_cmd_eval)

    rep = sub.add_parser("reproduce", help="train and evaluate the paper's five judges on JudgeWorld and write a report")
    rep.add_argument("--out", type=Path, default=Path("runs/reproduce"), help="output folder (reruns skip finished stages)")
    rep.add_argument("--budget", choices=["smoke", "demo", "full"], default="demo",
                     help="smoke: CI minutes on the tiny preset; demo: the main job, the base vs SFT-Unified vs "
                          "MT-RL-Judge (about 20 minutes on 2 CPU cores); full: every judge, the long run in docs/")
    rep.add_argument("--seed", type=int, default=0, help="seed for the world and every run")
    rep.add_argument("--base", type=Path, default=None,
                     help="off-the-shelf base model folder (default: the checkout's committed models/base-<preset>)")
    rep.add_argument("--record", type=Path, default=None,
                     help="keep the run's weight-free record (results, predictions, metrics, report; a few MB) in this "
                          "folder after every stage, and continue from it on a machine whose --out lacks it")
    _add_placement_arguments(rep)
    rep.set_defaults(func=_cmd_reproduce)

    train = sub.add_parser(
        "train",
        help="train a judge from a recipe (SFT or GRPO on TRL)",
        description="Train a judge from a recipe. Any recipe field, ours or TRL's, can be overridden: "
                    "--learning_rate 1e-5 --tasks seetrue",
    )
    train.add_argument("recipe", type=Path, help="recipe YAML (see src/mtrl_judge/recipes/)")
    train.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in output_dir")
    train.add_argument("--overwrite", action="store_true", help="delete an earlier run in output_dir and start again")
    train.add_argument("--dry-run", action="store_true",
                       help="validate the recipe, its model and data folders, and print its settings; train nothing")
    train.add_argument("--keep-checkpoints", action="store_true",
                       help="keep the checkpoints' optimizer states once the run has finished "
                            "(the recipe field keep_checkpoints)")
    train.set_defaults(func=_cmd_train, takes_overrides=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "takes_overrides", False):
        args.overrides = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    _setup_logging(args.verbose)
    # `tasks` loads no model: importing transformers would cost seconds for a list of names
    if args.func is not _cmd_tasks:
        _quiet_transformers()
    try:
        return args.func(args)
    except JudgeError as e:
        _error(str(e))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
