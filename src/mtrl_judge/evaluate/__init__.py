"""Evaluation: pure metric functions and (later) the runner that generates, parses and reports."""
