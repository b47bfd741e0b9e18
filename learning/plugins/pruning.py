"""Pruning rules by name: the one interface through which a job decides, after each of its
training iterations, whether to stop early (as optuna's pruners).

A sweep chooses its rule with the job setting ``pruning.rule`` (default ``"median"``, the
rule below) and sets the rule's options as ``pruning.<option>``. Behind the name is a
:class:`PruningRule` subclass, registered once with :func:`register_rule`; it declares

- ``options``: each option's name, type, range and default (:class:`RuleOption`). The
  job's settings check and the sweep's pre-flight check the given values through them
  (learning.job.pruning.read_pruning): a value of the wrong type or out of range, or an
  option the rule does not have, is a config error naming ``pruning.<option>`` and
  listing the rule's options;
- :meth:`PruningRule.should_stop`: given an :class:`Evidence` (the job's estimate after
  iteration k, those the sweep's other jobs recorded after their iteration k, the
  direction), whether to stop the job now, and why (one line for the job's log).

The job records and announces its estimate after every iteration, reads the other jobs'
records, stops its learners and reports its estimate as its metrics
(learning.job.pruning); a rule only decides.

**Where rules come from.** The shipped rules are defined here. Any other module
registers its own when imported; the job setting ``pruning.module`` names one such module
(importable in the job's interpreter: installed, on ``PYTHONPATH``, or in the project
directory, from which cluster_utils starts the jobs), which the job imports before it
looks the rule up, and so does the pre-flight (with the project directory on the path).
A setting rather than an entry-point group, because a sweep's jobs are separate
processes that cluster_utils starts from the sweep's settings: the setting travels with
the sweep, needs no installed package, and a rule in the project folder works as it is.

This module imports nothing heavy (the config checks' predicates only).
"""

from __future__ import annotations

import importlib
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from learning.config.checks import is_integer, is_number

#: the rule of a sweep whose settings name none
DEFAULT_RULE = "median"
#: the settings that are not options of the rule: pruning.<key>
GENERAL_KEYS = ("rule", "module", "metric", "minimize")
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_TYPES = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}


class PruningRuleError(ValueError):
    """A pruning setting is unusable; the message names it (``pruning.<key>``)."""


@dataclass(frozen=True)
class RuleOption:
    """One option of a rule: the job setting ``pruning.<name>``."""

    name: str
    type: type  #: float (a number; integers accepted), int, bool or str
    default: Any
    low: float | None = None  #: the smallest value (None: unbounded)
    high: float | None = None  #: the largest value (None: unbounded)
    low_open: bool = False  #: low itself excluded
    high_open: bool = False  #: high itself excluded
    choices: tuple[str, ...] = ()  #: the valid strings (str options; empty: any)
    help: str = ""

    def expected(self) -> str:
        """What a valid value is, e.g. "a number in (0, 1)", "an integer >= 1"."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = _TYPES[self.type]
        if self.type not in (int, float) or (self.low is None and self.high is None):
            return kind
        if self.high is None:
            return f"{kind} {'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{kind} {'<' if self.high_open else '<='} {self.high:g}"
        return (f"{kind} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not valid, None if it is."""
        if self.type is float:
            valid = is_number(value)
        elif self.type is int:
            valid = is_integer(value)
        else:
            valid = isinstance(value, self.type)
        if valid and self.type in (int, float):
            valid = not ((self.low is not None and (value <= self.low if self.low_open
                                                    else value < self.low))
                         or (self.high is not None and (value >= self.high if self.high_open
                                                        else value > self.high)))
        if valid and self.choices:
            valid = value in self.choices
        return None if valid else f"expected {self.expected()}, got {value!r}"


class Evidence(NamedTuple):
    """What a rule decides on, after the job's training iteration ``iteration``."""

    iteration: int  #: k: every run of the job has trained k iterations (1 <= k < total)
    training_iterations: int  #: the job's total
    value: float  #: the job's estimate of the metric after k (NaN: none of its runs scored)
    #: the finite estimates that the sweep's other jobs recorded after their iteration k
    #: (running, finished and stopped jobs alike); empty for a job run on its own
    peers: tuple[float, ...]
    minimize: bool  #: lower is better
    history: tuple[float, ...]  #: the job's estimates after iterations 1..k (value last)

    def better_peers(self) -> int:
        """How many peers did strictly better than the job (all of them if its value is
        NaN)."""
        if math.isnan(self.value):
            return len(self.peers)
        if self.minimize:
            return sum(p < self.value for p in self.peers)
        return sum(p > self.value for p in self.peers)


class Decision(NamedTuple):
    stop: bool
    reason: str  #: one line for the job's log: why it stops or goes on


class PruningRule:
    """A rule behind a name. Subclass it, set ``name`` and ``options``, implement
    :meth:`should_stop`, and register the class with :func:`register_rule` (usable as a
    class decorator) in a module that the setting ``pruning.module`` names.

    The job makes one instance with the options' checked values (every option present,
    the default where not given), as attributes named by the options; it may be asked
    after every iteration of the job (also after a restart of the job: keep no state
    that the decision needs beyond what :class:`Evidence` holds).
    """

    #: the name ``pruning.rule`` chooses it by
    name: ClassVar[str] = ""
    options: ClassVar[tuple[RuleOption, ...]] = ()
    #: an option whose value alone turns pruning on when ``pruning.rule`` is left out (the
    #: median rule's keep_fraction, as sweeps set it before rules had names); None: only
    #: naming the rule does
    switch: ClassVar[str | None] = None

    def __init__(self, **values: Any) -> None:
        for option in self.options:
            setattr(self, option.name, values.get(option.name, option.default))

    @classmethod
    def from_settings(cls, given: Mapping[str, Any]) -> PruningRule:
        """An instance from the given ``pruning.<option>`` values (null: the default);
        PruningRuleError naming the first bad one."""
        values = {}
        for option in cls.options:
            value = given.get(option.name)
            if value is None:
                continue
            problem = option.problem(value)
            if problem:
                raise PruningRuleError(f"setting pruning.{option.name}: {problem}"
                                       f" (pruning rule {cls.name!r})")
            values[option.name] = value
        return cls(**values)

    def should_stop(self, evidence: Evidence) -> Decision:
        raise NotImplementedError(f"{type(self).__name__}.should_stop")

    def __repr__(self) -> str:
        values = ", ".join(f"{o.name}={getattr(self, o.name)!r}" for o in self.options)
        return f"{type(self).__name__}({values})"


_RULES: dict[str, type[PruningRule]] = {}


def register_rule(rule: type[PruningRule]) -> type[PruningRule]:
    """Register ``rule`` under its name and return it. Registering the same class again
    (its module imported twice, under another name) does nothing; another class under a
    taken name is an error."""
    _check_declarations(rule)
    registered = _RULES.get(rule.name)
    if registered is not None and registered is not rule:
        if registered.__qualname__ == rule.__qualname__ and \
                registered.__module__.split(".")[-1] == rule.__module__.split(".")[-1]:
            return registered
        raise ValueError(f"pruning rule {rule.name!r} is taken by {registered.__module__}."
                         f"{registered.__qualname__}")
    _RULES[rule.name] = rule
    return rule


def _check_declarations(rule: type[PruningRule]) -> None:
    label = getattr(rule, "__name__", repr(rule))
    if not (isinstance(rule, type) and issubclass(rule, PruningRule)):
        raise ValueError(f"{label}: a pruning rule is a subclass of PruningRule")
    if not isinstance(rule.name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", rule.name):
        raise ValueError(f"{label}.name: {rule.name!r}: lower-case letters, digits and _,"
                         " e.g. 'median'")
    names = [option.name for option in rule.options]
    for option in rule.options:
        if option.name in GENERAL_KEYS or not re.fullmatch(r"[a-z][a-z0-9_]*", option.name):
            raise ValueError(f"{label}.options: {option.name!r}: lower-case letters, digits"
                             f" and _, not one of {', '.join(GENERAL_KEYS)}")
        if option.type not in _TYPES:
            raise ValueError(f"{label}.options: {option.name!r}: type {option.type!r}; valid:"
                             " float, int, bool, str")
        if option.default is not None and option.problem(option.default):
            raise ValueError(f"{label}.options: {option.name!r}: the default"
                             f" {option.default!r} is not {option.expected()}")
    if len(set(names)) != len(names):
        raise ValueError(f"{label}.options: {names} names an option twice")
    if rule.switch is not None and rule.switch not in names:
        raise ValueError(f"{label}.switch: {rule.switch!r} is not one of its options")


def import_rule_module(module: str, project_dir: Path | None = None) -> None:
    """Import the module that ``pruning.module`` names (it registers its rules);
    ``project_dir``: also look there (the pre-flight, in the launcher's process).
    PruningRuleError saying why it cannot be imported."""
    if not isinstance(module, str) or not MODULE_NAME.match(module):
        raise PruningRuleError(f"setting pruning.module: {module!r} is not a module name"
                               " (dotted Python identifiers, e.g. 'my_rules')")
    added = project_dir is not None and str(project_dir) not in sys.path
    if added:
        sys.path.insert(0, str(project_dir))
    try:
        importlib.import_module(module)
    except Exception as e:  # the module's own errors too: the job cannot start with them
        raise PruningRuleError(f"setting pruning.module: cannot import {module!r}"
                               f" ({type(e).__name__}: {e})") from e
    finally:
        if added:
            sys.path.remove(str(project_dir))


def rule_class(name: str) -> type[PruningRule]:
    """The rule registered under ``name``; PruningRuleError listing those that are."""
    if isinstance(name, str) and name in _RULES:
        return _RULES[name]
    raise PruningRuleError(f"setting pruning.rule: no pruning rule is registered under"
                           f" {name!r}; registered: {', '.join(sorted(_RULES))} (a module"
                           " of your own registers more: name it in pruning.module)")


def registered_rules() -> tuple[type[PruningRule], ...]:
    return tuple(_RULES.values())


# --------------------------------------------------------------------------- shipped rules


@register_rule
class MedianRule(PruningRule):
    """The median stopping rule, generalized to a kept share: after iteration k the job
    stops if at least ``min_jobs`` other jobs reached k and more than ``keep_fraction`` of
    them did strictly better (a NaN estimate counts as worse than any). keep_fraction 0.5
    is the median rule; 1/3 keeps the best third at every iteration, as asynchronous
    successive halving (ASHA) with reduction factor 3."""

    name = "median"
    options = (
        RuleOption("keep_fraction", float, 0.5, low=0, high=1, low_open=True, high_open=True,
                   help="the share of the jobs at an iteration that go on"),
        RuleOption("min_jobs", int, 5, low=1,
                   help="other jobs needed at an iteration before the rule stops any"),
    )
    switch = "keep_fraction"
    keep_fraction: float
    min_jobs: int

    def should_stop(self, evidence: Evidence) -> Decision:
        peers = evidence.peers
        if len(peers) < self.min_jobs:
            return Decision(False, f"{len(peers)} other job(s) reached it (pruning.min_jobs"
                                   f" {self.min_jobs})")
        better = evidence.better_peers()
        return Decision(better > self.keep_fraction * len(peers),
                        f"{better} of {len(peers)} other jobs did better (keep_fraction"
                        f" {self.keep_fraction:g})")
