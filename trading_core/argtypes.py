"""Command-line plumbing every entry point shares (stdlib only: parsers are built before any
heavy import): a parser whose usage error is one line and exit code 2, and value types that
name what is wrong with a value."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .errors import LINE_BREAKS, one_line

__all__ = [
    "LINE_BREAKS",
    "OneLineParser",
    "non_negative_number",
    "number",
    "one_line",
    "port",
    "positive_int",
]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem, and exit code 2."""

    def error(self, message: str) -> NoReturn:
        # argparse quotes some values (repr) but not all: "unrecognized arguments: a\nb"
        self.exit(2, f"{one_line(self.prog)}: error: {one_line(message)}\n")


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive_number(text: str) -> float:
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive (got {text})")
    return value


def non_negative_number(text: str) -> float:
    value = number(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number, 0 or more (got {text})")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text}")
    return value
