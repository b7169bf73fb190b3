"""Prompts: templates and rendering, and the one verdict parser."""

from .parse import Verdict, extract_reasoning, is_well_formed, parse_verdict
from .render import STYLES, answer_text, prompt_text, render

__all__ = ["STYLES", "Verdict", "answer_text", "extract_reasoning", "is_well_formed", "parse_verdict", "prompt_text", "render"]
