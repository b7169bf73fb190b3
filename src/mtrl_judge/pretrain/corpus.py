"""The pretraining corpus: general grounded questions about JudgeWorld scenes, never the judge tasks.

The paper starts from an instruction-tuned model that has never been trained to judge. Ours learns,
from the same renderer as the world (version 2 geometry), what such a model knows: describing a
scene, counting, naming colours, shapes, every sign symbol and the sky, saying where things stand
(on the ground, on a table, in the air), verifying presence, relations and plain statements with
yes/no, noticing global quality (blur, grain, JPEG blocks, low contrast, a colour tint), and
comparing two images. It never sees a judge task's question or criterion, the safety policy, the
notion of a forbidden symbol, or the remaining defects (channel swaps, inversions, unnatural
palettes, glowing shadows, interpenetration, sinking, legless tables): what the judge tasks ask
beyond perception, and part of the perception, is left for judge training to add.

A curriculum orders the corpus: the first examples show one or two objects and no clutter, and the
share of full scenes grows linearly to all of them by `CURRICULUM_END` of the corpus.

Every answer comes in both styles the judge prompts use: direct (`<answer>two</answer>`) and
reasoning (`<think>` a description of the scene and the step that answers `</think>`, then
`<answer>`). Scenes are drawn only from the train partition of the world's claims (`split_of`), so
the validation and test content of the judge tasks is never described to the base.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..data.world.claims import NUMBER_WORDS, claim_holds, claim_text, edit_claim, relation_holds
from ..data.world.common import scene_in_split
from ..data.world.degrade import TINTS, apply, sample_tech
from ..data.world.geometry import LATEST, Geometry
from ..data.world.layout import random_distractors
from ..data.world.quality import break_rationality
from ..data.world.scene import COLOURS, SHAPES, render
from ..data.world.symbols import ALLOWED, FORBIDDEN
from ..errors import JudgeError

SYMBOL_NAMES = {"skull": "a skull", "smiley": "a smiley face", "flame": "a flame", "leaf": "a leaf", "drop": "a water drop",
                "trefoil": "a trefoil", "clover": "a clover"}
REASON = "First reason about what you see inside <think> </think>, then give your final answer{kind} inside <answer> </answer>."
DIRECT = "Give only your final answer{kind} inside <answer> </answer>."
QUESTION_KINDS = ("describe", "count", "exists", "relation", "colour", "shape", "support", "symbol", "statement", "sky",
                  "blur", "grain", "jpeg", "contrast", "tint", "float", "pair_exists", "pair_count")
YES_NO_KINDS = ("exists", "relation", "statement", "blur", "grain", "jpeg", "contrast", "tint", "float")
# Questions about a scene as drawn, which any image of it answers (blur or a tint changes the pixels, not the
# objects): those a packed example (`questions_per_image`) may add to its first question.
SAME_SCENE_KINDS = ("describe", "count", "exists", "relation", "colour", "shape", "statement", "symbol", "sky")
DEFECT_WORDS = {"blur": ("blurry", "blur", "The edges look soft and smeared."),
                "grain": ("grainy", "noise", "The picture is speckled with grain."),
                "jpeg": ("blocky from compression", "jpeg", "Square compression blocks break up the edges."),
                "contrast": ("washed out, with flat contrast", "contrast", "Darks and lights are pulled toward grey.")}
CURRICULUM_END = 0.3  # share of the corpus after which every scene is a full one
# 2: the corpus of the committed base (reasoning: the scene's description, then the answer's step).
# 3: the same questions, answers and images; count, exists and statement reason step by step (draw_example).
# 4: the same again; count, exists and statement scan the described groups in order (`scan`).
VERSIONS = (2, 3, 4)
DEFAULT_VERSION = 2
STYLES = ("reason", "direct")  # the corpus' answer styles, taken in turn cycle by cycle


@dataclass
class Example:
    """One pretraining example: an image, a question, its short answer and a reasoning text."""

    images: list[Image.Image]
    question: str
    answer: str
    reasoning: str
    choices: tuple[str, ...] | None  # ("yes", "no") or ("1", "2") for closed questions, None for open ones
    kind: str
    # Further questions about the same image, asked in turn in one conversation (`examples(questions_per_image=)`);
    # they have no images of their own.
    follow_ups: tuple[Example, ...] = ()


def nouns(shape: str) -> str:
    return shape + "es" if shape.endswith(("s", "x", "sh", "ch")) else shape + "s"


def count_word(n: int) -> str:
    return NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n)


def plural(n: int, colour: str, shape: str) -> str:
    noun = shape if n == 1 else nouns(shape)
    det = ("an" if colour[0] in "aeiou" else "a") if n == 1 else count_word(n)
    return f"{det} {colour} {noun}"


def groups(scene: dict) -> list[tuple[int, str, str]]:
    """(count, colour, shape) of each kind of object, in the order a left-to-right look first meets it: the
    groups `describe` lists, one per colour and shape."""
    counts: dict[tuple[str, str], int] = {}
    for o in sorted(scene["objects"], key=lambda o: o["x"]):
        counts[(o["colour"], o["shape"])] = counts.get((o["colour"], o["shape"]), 0) + 1
    return [(n, c, s) for (c, s), n in counts.items()]


def describe(scene: dict) -> str:
    """The scene in words, left to right: what a careful viewer would list before answering."""
    parts = [plural(n, c, s) for n, c, s in groups(scene)]
    text = "I see " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])
    if scene.get("table"):
        on_table = [o for o in scene["objects"] if o["support_y"] != scene["ground_y"]]
        if on_table:
            text += ", with " + " and ".join(sorted({f"the {o['colour']} {o['shape']}" for o in on_table})) + " on a table"
    signs = scene.get("signs") or []
    if signs:
        text += "; " + ("a sign shows " if len(signs) == 1 else "signs show ") + " and ".join(
            SYMBOL_NAMES[s["symbol"]] for s in signs
        )
    return text + f". The sky is {scene['sky']} over {scene['ground']}."


def _members(scene, colour, shape):
    return [o for o in scene["objects"] if o["colour"] == colour and o["shape"] == shape]


def of_shape(scene: dict, shape: str) -> str:
    """Every object of one shape, grouped by colour, left to right ("two green hexagons and a purple
    hexagon"), or "none": the first step of a verification in corpus version 3."""
    colours: dict[str, int] = {}
    for o in sorted(scene["objects"], key=lambda o: o["x"]):
        if o["shape"] == shape:
            colours[o["colour"]] = colours.get(o["colour"], 0) + 1
    parts = [plural(n, c, shape) for c, n in colours.items()]
    if not parts:
        return "none"
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def scan(scene: dict, colour: str, shape: str) -> tuple[str, int]:
    """Corpus version 4's check: the described groups in order, each compared with the asked colour and shape
    where it stands, up to the match ("three yellow stars, no; a red star, yes"), and the matched count (0 for
    none). Copying the description forward and comparing in place is what the base's 6-layer language model
    learns most exactly (benchmarks/chain_learnability.py: 0.97 of chains exact, against 0.87 for version 3)."""
    steps = []
    for n, c, s in groups(scene):
        hit = (c, s) == (colour, shape)
        steps.append(f"{plural(n, c, s)}, {'yes' if hit else 'no'}")
        if hit:
            return "; ".join(steps), n
    return "; ".join(steps), 0


def statement_steps(scene: dict, stated: dict, version: int = 3) -> str:
    """A statement checked part by part: each group against the objects of its shape (version 3) or against
    every described group in turn (version 4, `scan`), then, when every group is right, the relation."""
    checks, right = [], True
    for n, colour, shape in stated["groups"]:
        found = len(_members(scene, colour, shape))
        ok = found == n
        right &= ok
        if version >= 4:
            steps, _ = scan(scene, colour, shape)
            tally = "right" if ok else "none; wrong" if not found else f"{count_word(found)}, not {count_word(n)}; wrong"
            checks.append(f"It says {plural(n, colour, shape)}; checking each: {steps}; {tally}.")
        else:
            checks.append(f"It says {plural(n, colour, shape)}; the {nouns(shape)}: {of_shape(scene, shape)}; "
                          f"{'right' if ok else 'wrong'}.")
    if stated["relation"] is not None and right:
        (_, ca, sa), (_, cb, sb) = stated["groups"][:2]
        holds = relation_holds(stated["relation"], _members(scene, ca, sa), _members(scene, cb, sb))
        checks.append(f"The {ca} {sa} is {'' if holds else 'not '}{stated['relation']} the {cb} {sb}.")
    return " ".join(checks)


def draw_pair(rng: np.random.Generator, kind: str, geo: Geometry = LATEST) -> Example:
    """A two-image question (which image shows X / shows more objects): the pairwise answer format,
    on content questions, never the judge's pairwise criteria (better match, safer)."""
    (_, a), (_, b) = (scene_in_split(rng, "train", max_distractors=2, geo=geo),
                      scene_in_split(rng, "train", max_distractors=2, geo=geo))
    if kind == "pair_count":
        na, nb = len(a["objects"]), len(b["objects"])
        if na == nb:
            return draw_pair(rng, kind, geo)
        question = "Which image shows more objects?"
        answer = "1" if na > nb else "2"
        focus = f"Image {answer} has {max(na, nb)} objects and the other {min(na, nb)}."
    else:
        in_a = {(o["colour"], o["shape"]) for o in a["objects"]}
        in_b = {(o["colour"], o["shape"]) for o in b["objects"]}
        only = [(p, "1") for p in sorted(in_a - in_b)] + [(p, "2") for p in sorted(in_b - in_a)]
        if not only:
            return draw_pair(rng, kind, geo)
        (colour, shape), answer = only[int(rng.integers(len(only)))]
        question = f"Which image shows {plural(1, colour, shape)}?"
        focus = f"Only image {answer} shows {plural(1, colour, shape)}."
    reasoning = f"Image 1: {describe(a)} Image 2: {describe(b)} {focus}"
    return Example(images=[render(a), render(b)], question=question, answer=answer, reasoning=reasoning, choices=("1", "2"),
                   kind=kind)


def draw_example(rng: np.random.Generator, kind: str, geo: Geometry = LATEST, simple: bool = False,
                 version: int = DEFAULT_VERSION) -> Example:
    """One example of question `kind` on a fresh train-partition scene (two scenes for pair_* kinds).
    `simple` draws one or two objects and no clutter (the curriculum's start). `version` is the corpus
    version, which sets how count, exists and statement questions reason after the scene's description:
    2 leaps to the answer ("There is no purple hexagon."); 3 lists the objects of the asked shape, then
    the colour among them ("The hexagons: three green hexagons. None is purple, ..."); 4 scans the described
    groups in order ("Checking each: three green hexagons, no; a red star, no. So there is no purple
    hexagon."). Questions, answers and images are the same in every version: only the reasoning differs."""
    return _draw(rng, kind, geo, simple, version)[0]


def _draw(rng: np.random.Generator, kind: str, geo: Geometry, simple: bool, version: int
          ) -> tuple[Example, dict | None, dict | None]:
    """draw_example's example with the claim and scene it shows, or (example, None, None) where the image is not
    the scene as drawn (two scenes; an object lifted off its support), so that no other question may be asked of it."""
    if kind.startswith("pair_"):
        return draw_pair(rng, kind, geo), None, None
    signs = []
    if kind == "symbol":
        signs = [str(rng.choice(FORBIDDEN + ALLOWED))]
    clutter = {"max_distractors": 0, "p_relation": 0.0 if kind != "relation" else 1.0, "max_total": 2} if simple else {}
    claim, scene = scene_in_split(rng, "train", **{"max_distractors": 2, **clutter}, signs=signs, geo=geo)
    image = None
    desc = describe(scene)  # of the scene as drawn, before support and float questions lift an object
    asked_of = (claim, scene)
    if kind in SAME_SCENE_KINDS:
        asked = _ask(rng, kind, claim, scene, geo, version)
        if asked is None:
            return _draw(rng, kind, geo, simple, version)
        question, answer, focus = asked
    elif kind in ("support", "float"):  # of one object, maybe lifted off its support
        picked = _pick_target(rng, scene, geo, p_float=0.3 if kind == "support" else 0.5)
        if picked is None:
            return _draw(rng, kind, geo, simple, version)
        floating, scene, target = picked
        asked_of = (None, None)
        name = f"{target['colour']} {target['shape']}"
        if kind == "support":
            answer = "air" if floating else "ground" if target["support_y"] == scene["ground_y"] else "table"
            question = f"Where is the {name}: on the ground, on a table, or in the air?"
            focus = {"air": f"The {name} hangs in the air with nothing under it.",
                     "ground": f"The {name} stands on the ground.", "table": f"The {name} stands on a table."}[answer]
        else:
            question = f"Is the {name} floating in the air?"
            answer = "yes" if floating else "no"
            focus = f"The {name} {'hangs above its support' if floating else 'rests on its support'}."
    elif kind in DEFECT_WORDS:
        word, defect_kind, seen = DEFECT_WORDS[kind]
        defect = rng.random() < 0.5
        p = sample_tech(rng, kind=defect_kind, lo=max(0.3, geo.tech_min_severity), geo=geo) if defect else None
        image = apply(render(scene), p)
        question = f"Is the picture {word}?"
        answer = "yes" if defect else "no"
        focus = seen if defect else "The picture looks clean and sharp."
    elif kind == "tint":
        tinted = rng.random() < 0.5
        p = ({"kind": "tint", "tint": str(rng.choice(list(TINTS))), "severity": 0.6, "alpha": float(rng.uniform(0.3, 0.5))}
             if tinted else None)
        image = apply(render(scene), p)
        question = "Is the whole picture washed in one colour?"
        answer = "yes" if tinted else "no"
        focus = f"Everything has a {p['tint']} cast." if tinted else "The colours look ordinary."
    if image is None:
        image = render(scene)
    return (_example([image], kind, question, answer, desc, focus), *asked_of)


def _example(images: list[Image.Image], kind: str, question: str, answer: str, desc: str, focus: str) -> Example:
    """An example of `kind`: its reasoning the scene's description, then the step that answers."""
    return Example(images=images, question=question, answer=answer, reasoning=f"{desc} {focus}".strip(),
                   choices=("yes", "no") if kind in YES_NO_KINDS else None, kind=kind)


def _ask(rng: np.random.Generator, kind: str, claim: dict, scene: dict, geo: Geometry, version: int
         ) -> tuple[str, str, str] | None:
    """(question, answer, the reasoning's step after the description) of one SAME_SCENE_KINDS question about a
    scene as drawn for `claim`, or None where this scene offers no such question (no relation in the claim, no
    object unique in colour or shape, no sign, an edit that still holds)."""
    if kind == "describe":
        question = str(rng.choice(["What objects are in the image?", "Describe the objects in the picture.",
                                   "List what you see."]))
        return question, describe(scene).split(".")[0].removeprefix("I see "), ""
    if kind == "count":
        count, colour, shape = claim["groups"][int(rng.integers(len(claim["groups"])))]
        if rng.random() < 0.2:  # sometimes ask about something absent: the answer is zero
            colour, shape = random_distractors(rng, claim, 1)[0]
        n = len(_members(scene, colour, shape))
        question = f"How many {colour} {shape if shape != 'cross' else 'cross'}{'es' if shape == 'cross' else 's'} are there?"
        answer = count_word(n)
        focus = f"Counting the {colour} {shape}s gives {answer}."
        if version == 3:
            focus = f"The {nouns(shape)}: {of_shape(scene, shape)}. Counting the {colour} ones gives {answer}."
        elif version >= 4:
            focus = f"Checking each: {scan(scene, colour, shape)[0]}. Counting the {colour} {nouns(shape)} gives {answer}."
        return question, answer, focus
    if kind == "exists":
        present = rng.random() < 0.5
        if present:
            o = scene["objects"][int(rng.integers(len(scene["objects"])))]
            colour, shape = o["colour"], o["shape"]
        else:
            taken = {(o["colour"], o["shape"]) for o in scene["objects"]}
            # near misses: the right colour or the right shape, not both
            o = scene["objects"][int(rng.integers(len(scene["objects"])))]
            options = ([(c, o["shape"]) for c in COLOURS if (c, o["shape"]) not in taken]
                       + [(o["colour"], s) for s in SHAPES if (o["colour"], s) not in taken])
            colour, shape = options[int(rng.integers(len(options)))]
        question = f"Is there {plural(1, colour, shape)} in the image?"
        answer = "yes" if present else "no"
        focus = f"There is {plural(1, colour, shape)}." if present else f"There is no {colour} {shape}."
        if version == 3:
            seen = of_shape(scene, shape)
            if present:
                verdict = f"So there is {plural(1, colour, shape)}."
            elif seen == "none":
                verdict = f"So there is no {colour} {shape}."
            else:
                verdict = f"None is {colour}, so there is no {colour} {shape}."
            focus = f"The {nouns(shape)}: {seen}. {verdict}"
        elif version >= 4:
            verdict = f"So there is {plural(1, colour, shape)}." if present else f"So there is no {colour} {shape}."
            focus = f"Checking each: {scan(scene, colour, shape)[0]}. {verdict}"
        return question, answer, focus
    if kind == "relation":
        if claim["relation"] is None:
            return None
        (_, ca, sa), (_, cb, sb) = claim["groups"][:2]
        rel = claim["relation"] if rng.random() < 0.5 else str(rng.choice(["left of", "right of", "above", "below"]))
        holds = relation_holds(rel, _members(scene, ca, sa), _members(scene, cb, sb))
        return (f"Is the {ca} {sa} {rel} the {cb} {sb}?", "yes" if holds else "no",
                f"The {ca} {sa} is {claim['relation']} the {cb} {sb}, so it is {'' if holds else 'not '}{rel} it.")
    if kind in ("colour", "shape"):
        # Ask for one attribute of the object singled out by the other, where the other is unique.
        known = "shape" if kind == "colour" else "colour"
        values = [o[known] for o in scene["objects"]]
        unique = [v for v in values if values.count(v) == 1]
        if not unique:
            return None
        key = unique[int(rng.integers(len(unique)))]
        answer = next(o[kind] for o in scene["objects"] if o[known] == key)
        if kind == "colour":
            return f"What colour is the {key}?", answer, f"The {key} is {answer}."
        return f"What shape is the {key} object?", answer, f"The {key} object is a {answer}."
    if kind == "statement":
        true = rng.random() < 0.5
        stated = claim
        if not true:
            stated, edits = edit_claim(claim, rng, 1, max_count=geo.max_count)
            if not edits or claim_holds(scene, stated):
                return None
        sentence = claim_text(stated, rng)
        focus = f"So the statement \"{sentence}\" is {'true' if true else 'false'}."
        if version >= 3:
            focus = f"{statement_steps(scene, stated, version)} {focus}"
        return f"Is this statement true of the image? \"{sentence}\"", "yes" if true else "no", focus
    if kind == "symbol":
        if not scene.get("signs"):
            return None
        symbol = scene["signs"][0]["symbol"]
        return "What symbol is on the sign?", SYMBOL_NAMES[symbol].split(" ", 1)[1], f"The sign shows {SYMBOL_NAMES[symbol]}."
    # sky
    return "What is the sky like?", scene["sky"], f"It is a {scene['sky']} sky."


def _pick_target(rng: np.random.Generator, scene: dict, geo: Geometry, p_float: float) -> tuple[bool, dict, dict] | None:
    """(floating, scene, object asked about): with probability `p_float` the scene with one object lifted off its
    support and that object, otherwise a random object as drawn; None when this scene allows no float."""
    floating = rng.random() < p_float
    if not floating:
        return False, scene, scene["objects"][int(rng.integers(len(scene["objects"])))]
    broken = _broken(rng, scene, geo, "float")
    if broken is None:
        return None
    scene, change = broken
    return True, scene, scene["objects"][change["object"]]


def _broken(rng: np.random.Generator, scene: dict, geo: Geometry, kind: str) -> tuple[dict, dict] | None:
    """The scene with one physically impossible change of `kind`, or None after ten tries."""
    for _ in range(10):
        broken = break_rationality(rng, scene, geo)
        if broken and broken[1]["kind"] == kind:
            return broken
    return None


def to_messages(example: Example, style: str) -> tuple[list[dict], list[dict]]:
    """(prompt, completion) in TRL's conversational prompt-completion format (the first question only)."""
    content: list[dict] = [{"type": "image"}]
    if len(example.images) == 2:  # the judge prompts' pairwise layout
        content = [{"type": "text", "text": "Image 1:"}, {"type": "image"},
                   {"type": "text", "text": "Image 2:"}, {"type": "image"}]
    content.append({"type": "text", "text": _question_text(example, style)})
    return [{"role": "user", "content": content}], [{"role": "assistant", "content": _target(example, style)}]


def to_conversation(example: Example, style: str) -> list[dict]:
    """Every question of the example in one conversation: the first with its image (to_messages), each follow-up
    as a user turn of text after the answer before it, every turn in the same style and worded as when asked alone."""
    prompt, completion = to_messages(example, style)
    messages = prompt + completion
    for follow_up in example.follow_ups:
        messages += [{"role": "user", "content": [{"type": "text", "text": _question_text(follow_up, style)}]},
                     {"role": "assistant", "content": _target(follow_up, style)}]
    return messages


def _question_text(example: Example, style: str) -> str:
    kind = f", {' or '.join(example.choices)}," if example.choices else ""
    return f"Question: {example.question}\n{(REASON if style == 'reason' else DIRECT).format(kind=kind)}"


def _target(example: Example, style: str) -> str:
    return (f"<think>{example.reasoning}</think><answer>{example.answer}</answer>" if style == "reason"
            else f"<answer>{example.answer}</answer>")


def parse_kind_weights(text: str | None) -> dict[str, int] | None:
    """`symbol=4,count=3` -> {"symbol": 4, "count": 3} (kinds not named keep weight 1); None stays None.
    Errors name the --kind-weights option, for the command line."""
    if text is None or not text.strip():
        return None
    weights: dict[str, int] = {}
    for item in text.split(","):
        kind, sep, value = item.strip().partition("=")
        if not sep or kind not in QUESTION_KINDS:
            raise JudgeError(f"--kind-weights: {item.strip()!r} is not KIND=WEIGHT with KIND one of {', '.join(QUESTION_KINDS)}")
        if not value.isdigit():
            raise JudgeError(f"--kind-weights: weight of {kind} must be a whole number >= 0, got {value!r}")
        weights[kind] = int(value)
    kind_cycle(weights)  # refuses all-zero weights
    return weights


def check_version(version: int) -> None:
    """Refuses a corpus version that is not one of VERSIONS, naming the command line's option."""
    if version not in VERSIONS:
        raise JudgeError(f"--corpus-version: unknown version {version!r}; choose one of {', '.join(map(str, VERSIONS))}")


def parse_styles(text: str) -> tuple[str, ...]:
    """`--styles reason,direct` -> ("reason", "direct"), checked."""
    styles = tuple(part.strip() for part in text.split(",") if part.strip())
    check_styles(styles)
    return styles


def check_styles(styles: tuple[str, ...]) -> None:
    if not styles or any(s not in STYLES for s in styles) or len(set(styles)) != len(styles):
        raise JudgeError(f"--styles: expected one or both of {', '.join(STYLES)} separated by a comma, "
                         f"got {','.join(styles) or 'nothing'!r}")


def kind_cycle(weights: dict[str, int] | None = None) -> tuple[str, ...]:
    """The order in which the corpus asks its question kinds, repeated: each kind `weights[kind]` times
    (1 for kinds not named, 0 drops one), interleaved round by round so that the extra questions of a
    heavy kind are spread over the cycle. No weights (or all 1) gives QUESTION_KINDS itself, so the
    default corpus is the same example for example."""
    w = {k: (weights or {}).get(k, 1) for k in QUESTION_KINDS}
    if not any(w.values()):
        raise JudgeError("--kind-weights: at least one question kind needs a weight above 0")
    return tuple(k for r in range(max(w.values())) for k in QUESTION_KINDS if w[k] > r)


def examples(n: int, seed: int, *, start: int = 0, stop: int | None = None, curriculum: bool = True,
             geo: Geometry = LATEST, weights: dict[str, int] | None = None,
             version: int = DEFAULT_VERSION, styles: tuple[str, ...] = STYLES,
             questions_per_image: int = 1) -> Iterator[tuple[Example, str]]:
    """Examples start..stop of an `n`-example corpus as (example, style) pairs: question kinds in turn
    (`kind_cycle(weights)`), `styles` alternating cycle by cycle, deterministic in (`seed`, position), so
    that any slice can be drawn on its own (in parallel workers). With `curriculum`, early positions
    draw simple scenes (module docstring). `version` is the corpus version (VERSIONS).

    `questions_per_image` above 1 packs: each example whose image shows its scene as drawn (not a pair, not a lifted
    object) asks up to that many questions of it in one conversation, the first as above and the others drawn from
    the cycle's SAME_SCENE_KINDS, each question once (`follow_ups`). One image's visual tokens then serve several
    answers, which on a CPU is where most of a direct-style step goes. The first questions are those of the unpacked
    corpus of the same arguments, so 1 gives that corpus example for example."""
    check_version(version)
    check_styles(styles)
    check_questions_per_image(questions_per_image)
    cycle = kind_cycle(weights)
    follow_kinds = tuple(k for k in cycle if k in SAME_SCENE_KINDS)
    for i in range(start, n if stop is None else stop):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        kind = cycle[i % len(cycle)]
        style = styles[(i // len(cycle)) % len(styles)]
        simple = curriculum and rng.random() >= i / (CURRICULUM_END * n)
        example, claim, scene = _draw(rng, kind, geo, simple, version)
        if questions_per_image > 1 and scene is not None and follow_kinds:
            example.follow_ups = _follow_ups(rng, claim, scene, example.question, questions_per_image - 1, follow_kinds,
                                             geo, version)
        yield example, style


def _follow_ups(rng: np.random.Generator, claim: dict, scene: dict, first: str, n: int, kinds: tuple[str, ...],
                geo: Geometry, version: int) -> tuple[Example, ...]:
    """Up to `n` more questions about the scene, kinds drawn from `kinds` (weights as repeats), none asked twice."""
    asked, out = {first}, []
    desc = describe(scene)
    for _ in range(4 * n):  # bounded: some kinds have nothing to ask of some scenes (no sign, no relation)
        if len(out) == n:
            break
        kind = kinds[int(rng.integers(len(kinds)))]
        got = _ask(rng, kind, claim, scene, geo, version)
        if got is None or got[0] in asked:
            continue
        question, answer, focus = got
        asked.add(question)
        out.append(_example([], kind, question, answer, desc, focus))
    return tuple(out)


MAX_QUESTIONS_PER_IMAGE = 16


def check_questions_per_image(value: int) -> None:
    """Refuses a packing that is not a whole number in 1..MAX_QUESTIONS_PER_IMAGE, naming the option."""
    if not isinstance(value, int) or not 1 <= value <= MAX_QUESTIONS_PER_IMAGE:
        raise JudgeError(f"--questions-per-image must be a whole number from 1 to {MAX_QUESTIONS_PER_IMAGE}, got {value!r}")
