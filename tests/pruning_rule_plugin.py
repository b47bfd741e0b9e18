"""A pruning rule of a user's, added through the interface alone (learning.plugins.pruning):
a sweep names this module in ``pruning.module`` and the rule in ``pruning.rule``; no
module of the package knows it. Deterministic, for the tests: it stops every job after
training iteration ``after_iteration``, unless fewer than ``min_peers`` other jobs
reached it."""

from __future__ import annotations

from learning.plugins.pruning import Decision, Evidence, PruningRule, RuleOption, register_rule

#: what a sweep names in pruning.module (the jobs start in the project directory)
MODULE = "tests.pruning_rule_plugin"


@register_rule
class StopAtRule(PruningRule):
    name = "stop_at"
    options = (
        RuleOption("after_iteration", int, 1, low=1, help="the iteration after which to stop"),
        RuleOption("min_peers", int, 0, low=0, help="other jobs needed at that iteration"),
    )
    after_iteration: int
    min_peers: int

    def should_stop(self, evidence: Evidence) -> Decision:
        seen = (f"stop_at: iteration {evidence.iteration} of {evidence.training_iterations},"
                f" {len(evidence.peers)} other job(s), estimates {list(evidence.history)}")
        return Decision(evidence.iteration >= self.after_iteration
                        and len(evidence.peers) >= self.min_peers, seen)
